/*
 * kernels.h - the compute kernels the model calls, dispatched at run time
 * to the best instruction set this CPU has (scalar, AVX2, AVX-VNNI,
 * AVX-512, NEON).
 *
 * The model sees only these entry points; each ISA file implements them and
 * every implementation is tested against the scalar references in
 * src/tensor.  DESK_ISA=scalar|avx2|avxvnni|avx512|neon forces a path.
 */
#ifndef DESK_KERNELS_H
#define DESK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/fp16.h"
#include "core/threadpool.h"
#include "desk.h"
#include "tensor/types.h"

/* A weight matrix: ROWS rows of COLS elements of TYPE, used in place. */
typedef struct desk_mat {
    uint32_t type;     /* desk_type */
    int64_t rows;
    int64_t cols;
    size_t row_bytes;  /* desk_type_row_size(type, cols) */
    const void *data;  /* row-major blocks (a model's: its mapped file); always valid */
    /* NULL, or the same weights in desk_repack's layout (see below), which
     * desk_matmul then reads instead of DATA with a table that has
     * repacked kernels.  Borrowed: owned by whoever repacked (a model
     * frees it with itself, desk_model_free). */
    const void *packed;
} desk_mat;

/* Bytes of scratch desk_matmul needs for N input rows against W. */
size_t desk_matmul_scratch_size(const desk_mat *w, int64_t n);

/* Y[i][r] = sum_k X[i][k] * W[r][k] for i < N, r < W->rows.
 * X is N x W->cols floats (row stride W->cols); Y is N x W->rows floats
 * (row stride W->rows).  SCRATCH holds desk_matmul_scratch_size bytes
 * (caller-owned, 64-byte aligned).  Threads split the work on TP.  Returns
 * DESK_E_UNSUPPORTED naming the type when W's type has no kernel. */
desk_status desk_matmul(desk_threadpool *tp, const desk_mat *w, const float *x, int64_t n,
                        float *y, void *scratch, desk_err *err);

/* Copies row R of W into DST as floats (embedding lookup). */
desk_status desk_get_row(const desk_mat *w, int64_t r, float *dst, desk_err *err);

/* The instruction set in use (a desk_isa name: "avx512", "avxvnni", "avx2",
 * "neon", "scalar"), or "none" when
 * DESK_ISA names one that cannot be used (see desk_kernels_init). */
const char *desk_kernels_isa(void);

/* ---- dispatch --------------------------------------------------------
 * Each instruction set has a constant table of kernels; an entry left NULL
 * means "use the scalar reference of src/tensor".  The table in use is
 * chosen once per process (pthread_once) from DESK_ISA or, unset, the best
 * the CPU has: that choice is the one process-wide state of the kernels,
 * read-only once made.  Tests reach every table with desk_kernels_get. */

/* In order of preference within an architecture (the last one the CPU
 * has wins); the other architecture's entries are never available.
 * AVX-VNNI ranks below AVX-512, whose CPUs (Sapphire Rapids, Zen 5) also
 * have it: the same kernels, and the AVX-512 table adds mask registers,
 * 32 vector registers and the 512-bit batch tiles (avx512.c). */
typedef enum desk_isa {
    DESK_ISA_SCALAR = 0,
    DESK_ISA_AVX2,
    DESK_ISA_AVXVNNI,
    DESK_ISA_AVX512,
    DESK_ISA_NEON,
    DESK_ISA_COUNT
} desk_isa;

/* The DESK_ISA name of ISA ("scalar", "avx2", "avxvnni", "avx512",
 * "neon"; also the name of its table), or NULL past the last. */
const char *desk_isa_name(desk_isa isa);

/* OUT[r * NC + c] = dot(W + r * W_STRIDE, ACT + c * ACT_STRIDE) for r < NR
 * (1..8), c < NC (1..4): a tile of weight rows of N elements against
 * activation rows in the weight type's vec_dot_type, each weight block
 * unpacked once for all activation rows.  Every output is summed in the
 * same order as vec_dot gives it. */
typedef void (*desk_dot_tile_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *act,
                                 size_t act_stride, int nc, float *out);

/* ---- expanded batch rows ------------------------------------------------
 * A type whose 32-element blocks are slow to unpack (Q5_0: nibbles plus a
 * 32-bit mask of fifth bits) can have its batch rows expanded once per
 * chunk of rows: EXPAND writes NR rows of W (N elements each, stride WS
 * bytes) to DST, each block as Q8_0's block layout (its f16 scale, then
 * 32 bytes) holding the type's unsigned levels (Q5_0: 0..31, 16 above
 * the signed level), N / 32 * sizeof(desk_block_q8_0) bytes a row.  XTILE
 * is then dot_tile over that layout for 8 rows x 2..4 activation rows,
 * each output summed exactly as dot_tile sums it from the type's blocks. */
typedef void (*desk_expand_fn)(int64_t n, const void *w, size_t ws, int nr, void *dst);

/* ---- the 8-row path: weights repacked 8 rows at a time ------------------
 * Q4_0 and Q4_K matrices with rows a multiple of 8 (the ones llama.cpp
 * repacks at load) can be repacked into 8-row groups, so that one vector
 * holds the same 4 elements of 8 rows: one byte dot product advances 8
 * outputs, each block's scales form a vector, and a product streams one
 * interleaved block after another.  A model repacks them once at load
 * (desk_mat.packed), and then every product reads that, a matrix-vector
 * product too; otherwise a batch of BATCH_MIN (kernels.c) or more rows
 * repacks each group per call, and smaller products take the tiles. */
#define DESK_PACK_ROWS 8

/* Per activation block: its scale D, Q8_1's S (d * sum), and the exact sum
 * of its levels (Q4_0's offset comes off through it).  Filled by kernels.c. */
typedef struct desk_act_meta {
    float d, s;
    int32_t sum, pad;
} desk_act_meta;

/* OUT[c * 8 + r] = dot(row r of one repacked 8-row group at PACKED (N
 * columns), activation row c) for c < NC (1..4), activation rows at ACT
 * (stride ACT_STRIDE) with their block metadata at META (stride
 * META_STRIDE blocks; Q4_0 only). */
typedef void (*desk_packed_dot_fn)(int64_t n, const void *packed, const void *act, size_t act_stride,
                                   const desk_act_meta *meta, size_t meta_stride, int nc, float *out);

/* The same over two groups, the second GAP bytes after the first: OUT[c *
 * 16 + r] for rows r < 8 of the first and 8 + r of the second. */
typedef void (*desk_packed_dot2_fn)(int64_t n, const void *packed, size_t gap, const void *act, size_t act_stride,
                                    const desk_act_meta *meta, size_t meta_stride, int nc, float *out);

/* The layout: the same size as the rows (Q4_0) or 2.8 % more (Q4_K: its
 * 6-bit scales unpacked; nibbles stay packed).  Group g (rows 8g..8g+7) starts
 * at g * (cols / block) * DESK_RP_*_BYTES; inside it, one entry per block
 * of columns:
 *   Q4_0, 144 bytes per 32 columns: d[8] (f16, row r's scale), then
 *     qs[4][8][4]: qs[v][r][e] = byte 4v+e of row r's qs (low nibble:
 *     element 4v+e, high nibble: element 16+4v+e).
 *   Q4_K, 1184 bytes per 256 columns: qs[4][8][8][4]: qs[k][v][r][e] =
 *     byte 32k+4v+e of row r's qs (low nibble: element 64k+4v+e, in
 *     sub-block 2k; high: 64k+32+4v+e, sub-block 2k+1); sc[8][8] and
 *     m[8][8] (sub-block j, row r: 6-bit scale and min, one byte each);
 *     d[8] and dmin[8] (f16).
 * The layout is the same for every table; a table reads it when it has
 * rp_dot for the type (desk_kernels_repacks). */
#define DESK_RP_Q4_0_BYTES 144
#define DESK_RP_Q4_K_BYTES 1184

/* Bytes of W in the repacked layout; 0 when W is not repacked (another
 * type, or rows not a multiple of 8). */
size_t desk_repack_size(const desk_mat *w);
/* Writes W (its DATA) in the repacked layout to DST (desk_repack_size
 * bytes, caller-owned).  DESK_E_ARG when W is not repacked. */
desk_status desk_repack(const desk_mat *w, void *dst, desk_err *err);

/* ---- the model's operations -------------------------------------------
 * Vector versions of operations of src/model/ops.c, which holds the scalar
 * reference (llama.cpp's CPU numerics); each returns the reference's bits
 * exactly (tests/test_ops.c).  NULL, or an attention kernel returning
 * false (head sizes not a multiple of 8), means "use the reference". */

/* One query row against the cache positions LO..HI (inclusive).  The
 * cache holds K and V as F16 or Q8_0 rows (each type on its own, as
 * llama.cpp's -ctk / -ctv); a head's row of a Q8_0 cache is head_k / 32
 * whole blocks. */
typedef struct desk_attn_row {
    const float *q;            /* head_k floats */
    const void *k, *v;         /* position 0 of this head's K and V */
    size_t k_stride, v_stride; /* bytes from one position to the next */
    uint32_t k_type, v_type;   /* DESK_TYPE_F16 or DESK_TYPE_Q8_0 */
    int head_k, head_v, lo, hi;
    float scale;               /* applied to q.k */
    float softcap;             /* 0, or scores become softcap * tanh(q.k * scale) (gemma2) */
} desk_attn_row;

/* OUT = softmax(q.K * scale) V for one row; ACC: head_v + head_k floats. */
typedef bool (*desk_attn_fn)(const desk_attn_row *r, float *out, float *acc);
/* The same for NR rows (1..DESK_ATTN_GROUP) that share k, v, their
 * strides and types, the head sizes and scale, each with its own q, lo and
 * hi (the query heads of one KV head at a run of positions), row i written
 * to OUT[i] (head_v floats each, not overlapping any q): each K and V tile
 * is read and widened once for all of them. */
#define DESK_ATTN_GROUP 32
typedef bool (*desk_attn_group_fn)(const desk_attn_row *r, int nr, float *const *out);
/* Y = act(G) * U over N values (Y may be G). */
typedef void (*desk_glu_fn)(float *y, const float *g, const float *u, size_t n);

typedef struct desk_kernel_table {
    const char *name;
    desk_vec_dot_fn vec_dot[DESK_TYPE_COUNT];    /* by weight type */
    desk_dot_tile_fn dot_tile[DESK_TYPE_COUNT];  /* by weight type */
    desk_quant_fn act_quant[DESK_TYPE_COUNT];    /* by activation type: Q8_0, Q8_1, Q8_K */
    /* by weight type (Q4_0, Q4_K): the 8-row path over desk_repack's
     * layout.  NULL: this table does not read it (products take the
     * tiles over the rows in place). */
    desk_packed_dot_fn rp_dot[DESK_TYPE_COUNT];
    /* by weight type, or NULL: the same over two groups (16 rows, OUT[c *
     * 16 + r]), each output's sums in rp_dot's order: a batch takes two
     * adjacent groups, and where rp_dot16_gemv is set a matrix-vector
     * product takes one group from each half of its chunk (two streams
     * per core: measured to pay for Q4_0, not for Q4_K). */
    desk_packed_dot2_fn rp_dot16[DESK_TYPE_COUNT];
    bool rp_dot16_gemv[DESK_TYPE_COUNT];
    /* by weight type, or NULL: the expanded batch rows (see above). */
    desk_expand_fn expand[DESK_TYPE_COUNT];
    desk_dot_tile_fn xtile[DESK_TYPE_COUNT];
    desk_attn_fn attn_vec;                       /* desk_op_attn_vec */
    desk_attn_group_fn attn_tiled;               /* desk_op_attn_tiled, per row */
    desk_glu_fn swiglu;                          /* desk_op_swiglu */
    desk_glu_fn geglu;                           /* desk_op_geglu */
} desk_kernel_table;

/* Whether table KT multiplies weights of type TYPE in desk_repack's layout
 * (a model repacks only then). */
bool desk_kernels_repacks(const desk_kernel_table *kt, uint32_t type);

/* The table of ISA, or NULL when this build or this CPU lacks it. */
const desk_kernel_table *desk_kernels_get(desk_isa isa);

/* Chooses the process's table (first call; later calls return the same
 * result).  DESK_ISA=scalar|avx2|avxvnni|avx512|neon forces one; an unknown name or one
 * this CPU cannot run is DESK_E_UNSUPPORTED naming it, and then every
 * desk_matmul fails with the same message (nothing falls back silently). */
desk_status desk_kernels_init(desk_err *err);

/* The process's table (desk_kernels_init's choice) in *KT. */
desk_status desk_kernels_current(const desk_kernel_table **kt, desk_err *err);

/* desk_matmul with the kernels of table KT (tests compare ISAs with it). */
desk_status desk_matmul_with(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *w,
                             const float *x, int64_t n, float *y, void *scratch, desk_err *err);

/* The most matrices one desk_matmul_many_with call takes. */
#define DESK_MATMUL_MAX 4

/* Y[i] = W[i] X for the K (1..DESK_MATMUL_MAX) matrices W[0..K), which all
 * have X's width (W[0]->cols): the same outputs as K desk_matmul_with
 * calls, but neighbours of one type (both repacked at load, or neither)
 * share one conversion of X and one pool job, whose threads run from one
 * matrix's rows into the next without waiting for each other (a model's
 * Q, K and V, or its gate and up).  SCRATCH as desk_matmul's, for the
 * largest desk_matmul_scratch_size of the K. */
desk_status desk_matmul_many_with(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *const *w,
                                  float *const *y, int k, const float *x, int64_t n, void *scratch, desk_err *err);

/* Flags of desk_matmul_many_ex. */
enum {
    /* Every output summed as it is when its activation row is alone (a
     * matrix-vector product), whatever N: the batch-invariant mode
     * (desk_ctx_params.deterministic).  Costs only Q4_K (3 activation
     * rows per kernel call instead of 4) and weights not repacked at
     * load (no repacking per call). */
    DESK_MM_ROW_ORDER = 1u << 0,
};

/* desk_matmul_many_with with FLAGS (DESK_MM_*). */
desk_status desk_matmul_many_ex(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *const *w,
                                float *const *y, int k, const float *x, int64_t n, void *scratch, unsigned flags,
                                desk_err *err);

/* Quantizes N activations for weights of type WTYPE with table KT (the
 * SIMD version of desk_quantize_acts; the same bytes). */
desk_status desk_kernels_quantize_acts(const desk_kernel_table *kt, uint32_t wtype, const float *src,
                                       void *dst, int64_t n, desk_err *err);

#endif
