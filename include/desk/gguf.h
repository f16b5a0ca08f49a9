/*
 * gguf.h - reading and writing GGUF files (versions 2 and 3).
 *
 * A desk_gguf is a validated, read-only view of a mapped file.  Opening it
 * checks everything before anything is used: magic, version, counts against
 * the bytes that remain, string and array lengths, tensor dims, types,
 * offsets, alignment and overlap.  Tensor data is used in place (zero copy).
 * Metadata keys, strings and arrays are parsed into the handle's arena, so
 * every pointer returned here lives exactly as long as the desk_gguf.
 *
 * Limits (a file past one is refused with a message naming the field and
 * its byte offset; each count is also checked against the bytes left in the
 * file, at the smallest encoding of one item, before anything is allocated):
 *   keys        <= DESK_GGUF_MAX_KV (65536), each 1..DESK_GGUF_MAX_NAME bytes
 *   tensors     <= DESK_GGUF_MAX_TENSORS (1 << 20), names 1..DESK_GGUF_MAX_NAME
 *   strings     <= DESK_GGUF_MAX_STRING bytes (256 MiB)
 *   arrays      <= DESK_GGUF_MAX_ARRAY elements (1 << 30); arrays of arrays
 *               nest at most DESK_GGUF_MAX_DEPTH (4) levels deep
 *   tensor dims n_dims 1..4, each dim 1..INT64_MAX, element count and byte
 *               size must fit in int64; ne[0] a whole number of blocks
 *   alignment   general.alignment (any unsigned integer type) a power of two
 *               in 1..DESK_GGUF_MAX_ALIGNMENT (1 << 24); default 32
 * Also refused: version 1 (and big-endian files), duplicate keys or tensor
 * names, unknown tensor types, tensor offsets not aligned, data past the end
 * of the file, overlapping tensors, BOOL values (alone or in arrays) other
 * than 0 and 1, and tensor data not aligned for its type wherever it lands
 * in the file: 8 bytes for F64/I64, 4 for F32/I32/Q8_K, 1 for I8/MXFP4 and
 * 2 for every other type (F16, BF16, I16, blocks holding f16 scales or
 * u16 fields), since desk reads tensors in place through pointers of those
 * types (general.alignment = 1 would otherwise allow an F32 tensor at an
 * odd offset).  A file with no tensors (a vocab-only file) is valid.
 */
#ifndef DESK_GGUF_H
#define DESK_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_GGUF_MAX_KV 65536
#define DESK_GGUF_MAX_TENSORS (1 << 20)
#define DESK_GGUF_MAX_NAME 4096
#define DESK_GGUF_MAX_STRING ((uint64_t)256 << 20)
#define DESK_GGUF_MAX_ARRAY ((uint64_t)1 << 30)
#define DESK_GGUF_MAX_DEPTH 4
#define DESK_GGUF_MAX_ALIGNMENT ((uint64_t)1 << 24)
#define DESK_GGUF_DEFAULT_ALIGNMENT 32

typedef enum desk_gguf_vtype {
    DESK_GGUF_UINT8 = 0,
    DESK_GGUF_INT8 = 1,
    DESK_GGUF_UINT16 = 2,
    DESK_GGUF_INT16 = 3,
    DESK_GGUF_UINT32 = 4,
    DESK_GGUF_INT32 = 5,
    DESK_GGUF_FLOAT32 = 6,
    DESK_GGUF_BOOL = 7,
    DESK_GGUF_STRING = 8,
    DESK_GGUF_ARRAY = 9,
    DESK_GGUF_UINT64 = 10,
    DESK_GGUF_INT64 = 11,
    DESK_GGUF_FLOAT64 = 12,
    DESK_GGUF_VTYPE_COUNT
} desk_gguf_vtype;

/* A string from the file: NUL-terminated copy in the arena, plus its length
 * (GGUF strings may contain NUL bytes; len is authoritative). */
typedef struct desk_gguf_str {
    const char *s;
    uint64_t len;
} desk_gguf_str;

typedef struct desk_gguf_value desk_gguf_value;

/* One metadata value.  For arrays, `arr.data` points to N elements laid out
 * contiguously and aligned for their C type: uint8_t..double for numbers,
 * bool (one byte each) for BOOL, desk_gguf_str for STRING, desk_gguf_value
 * for nested ARRAY. */
struct desk_gguf_value {
    desk_gguf_vtype type;
    union {
        uint64_t u64; /* UINT8..UINT64 */
        int64_t i64;  /* INT8..INT64 */
        double f64;   /* FLOAT32, FLOAT64 */
        bool b;
        desk_gguf_str str;
        struct {
            desk_gguf_vtype type;
            uint64_t n;
            const void *data;
        } arr;
    } v;
};

typedef struct desk_gguf_kv {
    desk_gguf_str key;
    desk_gguf_value value;
    uint64_t offset; /* byte offset of the key in the file, for messages */
} desk_gguf_kv;

typedef struct desk_gguf_tensor {
    desk_gguf_str name;
    uint32_t type;      /* desk_type id */
    uint32_t n_dims;    /* 1..4 */
    int64_t ne[4];      /* elements per dim, ne[0] innermost; unused dims = 1 */
    uint64_t offset;    /* from the start of the data section */
    uint64_t nbytes;
    const void *data;   /* into the mapping (inside the file: checked at open) */
    uint64_t info_offset; /* byte offset of its info in the file, for messages */
} desk_gguf_tensor;

/* ---- tensor types ---------------------------------------------------- */

/* A tensor's element type: the ids GGUF files use (ggml's type ids). */
typedef enum desk_type {
    DESK_TYPE_F32 = 0,
    DESK_TYPE_F16 = 1,
    DESK_TYPE_Q4_0 = 2,
    DESK_TYPE_Q4_1 = 3,
    DESK_TYPE_Q5_0 = 6,
    DESK_TYPE_Q5_1 = 7,
    DESK_TYPE_Q8_0 = 8,
    DESK_TYPE_Q8_1 = 9,
    DESK_TYPE_Q2_K = 10,
    DESK_TYPE_Q3_K = 11,
    DESK_TYPE_Q4_K = 12,
    DESK_TYPE_Q5_K = 13,
    DESK_TYPE_Q6_K = 14,
    DESK_TYPE_Q8_K = 15,
    DESK_TYPE_IQ2_XXS = 16,
    DESK_TYPE_IQ2_XS = 17,
    DESK_TYPE_IQ3_XXS = 18,
    DESK_TYPE_IQ1_S = 19,
    DESK_TYPE_IQ4_NL = 20,
    DESK_TYPE_IQ3_S = 21,
    DESK_TYPE_IQ2_S = 22,
    DESK_TYPE_IQ4_XS = 23,
    DESK_TYPE_I8 = 24,
    DESK_TYPE_I16 = 25,
    DESK_TYPE_I32 = 26,
    DESK_TYPE_I64 = 27,
    DESK_TYPE_F64 = 28,
    DESK_TYPE_IQ1_M = 29,
    DESK_TYPE_BF16 = 30,
    DESK_TYPE_TQ1_0 = 34,
    DESK_TYPE_TQ2_0 = 35,
    DESK_TYPE_MXFP4 = 39,
    DESK_TYPE_COUNT = 40 /* one past the largest id */
} desk_type;

/* Name of TYPE, or "unknown" for an id that names no type. */
const char *desk_type_name(uint32_t type);
/* Looks a type up by name, case-insensitively ("q4_k"); -1 if none. */
int desk_type_from_name(const char *name);
/* True when N elements of TYPE fill whole blocks. */
bool desk_type_row_ok(uint32_t type, int64_t n);
/* Bytes taken by N elements of TYPE (N a multiple of the block size). */
size_t desk_type_row_size(uint32_t type, int64_t n);

/* ---- reading ------------------------------------------------------- */

typedef struct desk_gguf desk_gguf;

/* Maps PATH read-only and validates the whole header and tensor table.
 * On success *out owns the mapping; release it with desk_gguf_close. */
desk_status desk_gguf_open(const char *path, desk_gguf **out, desk_err *err);
void desk_gguf_close(desk_gguf *g);

/* Parses a GGUF image held in memory (not copied: DATA must outlive the
 * handle; it should be 8-byte aligned, as a mapping or malloc's memory is,
 * else a tensor may land misaligned for its type and is refused).
 * desk_gguf_open maps a file and calls this. */
desk_status desk_gguf_open_memory(const void *data, size_t size, desk_gguf **out,
                                  desk_err *err);

uint32_t desk_gguf_version(const desk_gguf *g);
uint64_t desk_gguf_alignment(const desk_gguf *g);
uint64_t desk_gguf_data_offset(const desk_gguf *g); /* start of tensor data */
uint64_t desk_gguf_file_size(const desk_gguf *g);

int64_t desk_gguf_n_kv(const desk_gguf *g);
const desk_gguf_kv *desk_gguf_kv_at(const desk_gguf *g, int64_t i);
/* NULL when KEY is absent. */
const desk_gguf_kv *desk_gguf_find_kv(const desk_gguf *g, const char *key);

int64_t desk_gguf_n_tensors(const desk_gguf *g);
const desk_gguf_tensor *desk_gguf_tensor_at(const desk_gguf *g, int64_t i);
/* NULL when no tensor has that name. */
const desk_gguf_tensor *desk_gguf_find_tensor(const desk_gguf *g, const char *name);

/* Typed getters.  Each returns DESK_E_NOTFOUND (with a message naming the
 * key) when KEY is absent, and DESK_E_FORMAT when its type does not fit:
 * integer getters accept any integer type whose value fits; get_f32 accepts
 * FLOAT32/FLOAT64 and integers; get_str returns a borrowed string, and
 * refuses (DESK_E_FORMAT) one with a NUL byte inside, which as a C string
 * would silently read as its prefix. */
desk_status desk_gguf_get_u32(const desk_gguf *g, const char *key, uint32_t *out, desk_err *err);
desk_status desk_gguf_get_i64(const desk_gguf *g, const char *key, int64_t *out, desk_err *err);
desk_status desk_gguf_get_f32(const desk_gguf *g, const char *key, float *out, desk_err *err);
desk_status desk_gguf_get_bool(const desk_gguf *g, const char *key, bool *out, desk_err *err);
desk_status desk_gguf_get_str(const desk_gguf *g, const char *key, const char **out, desk_err *err);
/* An array's element type, length and element data (see desk_gguf_value). */
desk_status desk_gguf_get_arr(const desk_gguf *g, const char *key, desk_gguf_vtype *type,
                              uint64_t *n, const void **data, desk_err *err);

/* "UINT32", "STRING", ...; "unknown" for an id outside the enum. */
const char *desk_gguf_vtype_name(desk_gguf_vtype t);
/* Element I (< n) of the array value ARR as a value of its own (strings and
 * nested arrays borrowed from ARR). */
desk_gguf_value desk_gguf_arr_elem(const desk_gguf_value *arr, uint64_t i);
/* Bytes one element of a fixed-size type takes in the file (and in C);
 * 0 for STRING, ARRAY and unknown ids. */
size_t desk_gguf_vtype_size(desk_gguf_vtype t);

/* ---- writing ------------------------------------------------------- */

typedef struct desk_gguf_writer desk_gguf_writer;

/* A writer for a version-3 file.  Keys and tensors keep the order added.
 * Values are copied; tensor DATA pointers are borrowed until write. */
desk_status desk_gguf_writer_new(desk_gguf_writer **out, desk_err *err);
void desk_gguf_writer_free(desk_gguf_writer *w);

/* Adds or replaces KEY.  A value of type ARRAY copies its elements
 * (strings and nested arrays deeply). */
desk_status desk_gguf_writer_set(desk_gguf_writer *w, const char *key,
                                 const desk_gguf_value *value, desk_err *err);
desk_status desk_gguf_writer_set_u32(desk_gguf_writer *w, const char *key, uint32_t v, desk_err *err);
desk_status desk_gguf_writer_set_f32(desk_gguf_writer *w, const char *key, float v, desk_err *err);
desk_status desk_gguf_writer_set_bool(desk_gguf_writer *w, const char *key, bool v, desk_err *err);
desk_status desk_gguf_writer_set_str(desk_gguf_writer *w, const char *key, const char *v, desk_err *err);
/* Copies every key of SRC (for rewriting a model with new tensors). */
desk_status desk_gguf_writer_copy_kv(desk_gguf_writer *w, const desk_gguf *src, desk_err *err);

/* Adds a tensor; NE has N_DIMS entries; DATA holds its bytes (row-major,
 * desk_type_row_size(type, ne[0]) * rows) and must stay valid until
 * desk_gguf_writer_write returns. */
desk_status desk_gguf_writer_add_tensor(desk_gguf_writer *w, const char *name, uint32_t type,
                                        uint32_t n_dims, const int64_t *ne, const void *data,
                                        desk_err *err);

/* Writes the file atomically (temp file, fsync, rename). */
desk_status desk_gguf_writer_write(desk_gguf_writer *w, const char *path, desk_err *err);

#ifdef __cplusplus
}
#endif

#endif
