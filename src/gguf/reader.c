/*
 * reader.c - parsing and validating a GGUF image (see gguf.h for limits).
 *
 * Every read goes through a bounds-checked cursor, and every count is
 * checked against the bytes left before anything is allocated for it, so
 * a hostile file yields an error message and never a read outside the
 * image or an allocation sized by an unchecked field.  Parsed metadata
 * lives in the handle's arena; tensor data stays in the image.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/mfile.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

/* Smallest encodings, for bounding counts by the bytes that remain. */
#define MIN_KV_BYTES 14     /* key length 8 + 1 byte key + type 4 + 1 byte value */
#define MIN_TENSOR_BYTES 33 /* name length 8 + 1 + n_dims 4 + one dim 8 + type 4 + offset 8 */
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES 12 /* element type 4 + length 8 */

/* Open-addressing index from a name to position + 1 (0 = empty slot). */
typedef struct name_index {
    uint32_t *slots;
    uint64_t mask;
} name_index;

struct desk_gguf {
    desk_mfile mf; /* owned mapping when opened from a path */
    const unsigned char *data;
    size_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    desk_gguf_kv *kv;
    int64_t n_tensors;
    desk_gguf_tensor *tensors;
    name_index kv_index;
    name_index tensor_index;
    desk_arena arena;
};

typedef struct cursor {
    const unsigned char *p;
    size_t size;
    size_t pos;
} cursor;

static const char *const VTYPE_NAMES[DESK_GGUF_VTYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

static const unsigned char VTYPE_SIZES[DESK_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *desk_gguf_vtype_name(desk_gguf_vtype t) {
    return (unsigned)t < DESK_GGUF_VTYPE_COUNT ? VTYPE_NAMES[t] : "unknown";
}

size_t desk_gguf_vtype_size(desk_gguf_vtype t) {
    return (unsigned)t < DESK_GGUF_VTYPE_COUNT ? VTYPE_SIZES[t] : 0;
}

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static desk_status need(const cursor *c, uint64_t n, const char *what, desk_err *err) {
    if (n > remaining(c))
        return desk_errf(err, DESK_E_FORMAT,
                         "%s at offset %llu needs %llu bytes, but only %llu are left (file size %llu)",
                         what, ull(c->pos), ull(n), ull(remaining(c)), ull(c->size));
    return DESK_OK;
}

static desk_status rd(cursor *c, void *dst, size_t n, const char *what, desk_err *err) {
    desk_status st = need(c, n, what, err);
    if (st != DESK_OK) return st;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return DESK_OK;
}

static desk_status rd_u32(cursor *c, uint32_t *v, const char *what, desk_err *err) {
    return rd(c, v, sizeof *v, what, err);
}

static desk_status rd_u64(cursor *c, uint64_t *v, const char *what, desk_err *err) {
    return rd(c, v, sizeof *v, what, err);
}

/* Copies NAME (up to 60 bytes, non-printables as '?') into BUF for use in
 * messages: file strings may hold anything. */
static const char *printable(const char *s, uint64_t len, char *buf, size_t cap) {
    size_t n = len < cap - 4 ? (size_t)len : cap - 4, i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (n < len) buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = '\0';
    return buf;
}

/* A string: u64 length then bytes, copied NUL-terminated into the arena. */
static desk_status rd_str(cursor *c, desk_arena *a, uint64_t max_len, const char *what,
                          desk_gguf_str *out, desk_err *err) {
    uint64_t at = c->pos, len;
    desk_status st = rd_u64(c, &len, what, err);
    if (st != DESK_OK) return st;
    if (len > max_len)
        return desk_errf(err, DESK_E_FORMAT, "%s at offset %llu: length %llu exceeds the limit of %llu",
                         what, ull(at), ull(len), ull(max_len));
    if (len > remaining(c))
        return desk_errf(err, DESK_E_FORMAT,
                         "%s at offset %llu: length %llu is past the end of the file (%llu bytes left, file size %llu)",
                         what, ull(at), ull(len), ull(remaining(c)), ull(c->size));
    char *s = desk_arena_strndup(a, (const char *)c->p + c->pos, (size_t)len);
    if (!s) return desk_errf(err, DESK_E_NOMEM, "out of memory reading %s at offset %llu", what, ull(at));
    c->pos += (size_t)len;
    out->s = s;
    out->len = len;
    return DESK_OK;
}

static desk_status rd_value(cursor *c, desk_arena *a, desk_gguf_vtype type, int depth,
                            desk_gguf_value *out, desk_err *err);

/* One scalar of a fixed-size TYPE from P into the value union. */
static void scalar_from_bytes(desk_gguf_vtype type, const unsigned char *p, desk_gguf_value *out) {
    out->type = type;
    switch (type) {
    case DESK_GGUF_UINT8: out->v.u64 = p[0]; break;
    case DESK_GGUF_INT8: out->v.i64 = (int8_t)p[0]; break;
    case DESK_GGUF_BOOL: out->v.b = p[0] != 0; break;
    case DESK_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); out->v.u64 = x; break; }
    case DESK_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); out->v.i64 = x; break; }
    case DESK_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); out->v.u64 = x; break; }
    case DESK_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); out->v.i64 = x; break; }
    case DESK_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); out->v.f64 = x; break; }
    case DESK_GGUF_UINT64: memcpy(&out->v.u64, p, 8); break;
    case DESK_GGUF_INT64: memcpy(&out->v.i64, p, 8); break;
    case DESK_GGUF_FLOAT64: memcpy(&out->v.f64, p, 8); break;
    default: break;
    }
}

desk_gguf_value desk_gguf_arr_elem(const desk_gguf_value *arr, uint64_t i) {
    desk_gguf_value e = {.type = arr->v.arr.type};
    size_t sz = desk_gguf_vtype_size(e.type);
    if (sz) scalar_from_bytes(e.type, (const unsigned char *)arr->v.arr.data + i * sz, &e);
    else if (e.type == DESK_GGUF_STRING) e.v.str = ((const desk_gguf_str *)arr->v.arr.data)[i];
    else if (e.type == DESK_GGUF_ARRAY) e = ((const desk_gguf_value *)arr->v.arr.data)[i];
    return e;
}

static desk_status rd_array(cursor *c, desk_arena *a, int depth, desk_gguf_value *out, desk_err *err) {
    uint64_t at = c->pos, n;
    uint32_t et;
    desk_status st = rd_u32(c, &et, "array element type", err);
    if (st == DESK_OK) st = rd_u64(c, &n, "array length", err);
    if (st != DESK_OK) return st;
    if (et >= DESK_GGUF_VTYPE_COUNT)
        return desk_errf(err, DESK_E_FORMAT, "array at offset %llu: unknown element type %u", ull(at), et);
    if (et == DESK_GGUF_ARRAY && depth + 1 >= DESK_GGUF_MAX_DEPTH)
        return desk_errf(err, DESK_E_FORMAT, "array at offset %llu: arrays nest deeper than %d levels",
                         ull(at), DESK_GGUF_MAX_DEPTH);
    size_t fsize = VTYPE_SIZES[et];
    size_t min = fsize ? fsize : et == DESK_GGUF_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > DESK_GGUF_MAX_ARRAY)
        return desk_errf(err, DESK_E_FORMAT, "array at offset %llu: length %llu exceeds the limit of %llu",
                         ull(at), ull(n), ull(DESK_GGUF_MAX_ARRAY));
    if (n > remaining(c) / min)
        return desk_errf(err, DESK_E_FORMAT,
                         "array at offset %llu: %llu elements of type %s cannot fit in the %llu bytes left (file size %llu)",
                         ull(at), ull(n), VTYPE_NAMES[et], ull(remaining(c)), ull(c->size));
    out->type = DESK_GGUF_ARRAY;
    out->v.arr.type = (desk_gguf_vtype)et;
    out->v.arr.n = n;
    out->v.arr.data = NULL;
    if (n == 0) return DESK_OK;
    size_t csize = fsize ? fsize : et == DESK_GGUF_STRING ? sizeof(desk_gguf_str) : sizeof(desk_gguf_value);
    size_t calign = fsize ? fsize : alignof(desk_gguf_value);
    void *data = desk_arena_alloc(a, (size_t)n * csize, calign);
    if (!data)
        return desk_errf(err, DESK_E_NOMEM, "out of memory for the %llu-element array at offset %llu",
                         ull(n), ull(at));
    out->v.arr.data = data;
    if (fsize) {
        /* Fixed-size elements are checked in one go and copied (the image
         * need not be aligned for their C type).  A BOOL byte other than
         * 0 or 1 is refused: the copy is read as C bool, for which any
         * other byte is undefined, and a writer that puts one there is
         * not writing what it means. */
        if (et == DESK_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (c->p[c->pos + i] > 1)
                    return desk_errf(err, DESK_E_FORMAT, "array at offset %llu: BOOL element %llu (at offset %llu) is %u, not 0 or 1",
                                     ull(at), ull(i), ull(c->pos + i), c->p[c->pos + i]);
        memcpy(data, c->p + c->pos, (size_t)n * fsize);
        c->pos += (size_t)n * fsize;
        return DESK_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (et == DESK_GGUF_STRING)
            st = rd_str(c, a, DESK_GGUF_MAX_STRING, "string", (desk_gguf_str *)data + i, err);
        else
            st = rd_value(c, a, DESK_GGUF_ARRAY, depth + 1, (desk_gguf_value *)data + i, err);
        if (st != DESK_OK) return desk_err_prefix(err, "element %llu", ull(i));
    }
    return DESK_OK;
}

static desk_status rd_value(cursor *c, desk_arena *a, desk_gguf_vtype type, int depth,
                            desk_gguf_value *out, desk_err *err) {
    if (type == DESK_GGUF_STRING) {
        out->type = type;
        return rd_str(c, a, DESK_GGUF_MAX_STRING, "string", &out->v.str, err);
    }
    if (type == DESK_GGUF_ARRAY) return rd_array(c, a, depth, out, err);
    size_t n = VTYPE_SIZES[type];
    desk_status st = need(c, n, VTYPE_NAMES[type], err);
    if (st != DESK_OK) return st;
    if (type == DESK_GGUF_BOOL && c->p[c->pos] > 1) /* as for arrays of BOOL */
        return desk_errf(err, DESK_E_FORMAT, "BOOL at offset %llu is %u, not 0 or 1", ull(c->pos), c->p[c->pos]);
    scalar_from_bytes(type, c->p + c->pos, out);
    c->pos += n;
    return DESK_OK;
}

/* ---- name index ----------------------------------------------------- */

static uint64_t hash_bytes(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static desk_status index_init(name_index *ix, desk_arena *a, int64_t n, desk_err *err) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->slots = desk_arena_alloc(a, cap * sizeof(uint32_t), alignof(uint32_t));
    if (!ix->slots) return desk_errf(err, DESK_E_NOMEM, "out of memory for a %llu-slot name index", ull(cap));
    ix->mask = cap - 1;
    return DESK_OK;
}

/* Returns the slot for NAME: either holding it or the empty one where it
 * would go.  NAME_AT gives the stored name of position i. */
static uint32_t *index_slot(const name_index *ix, const char *name, uint64_t len,
                            const desk_gguf_str *(*name_at)(const desk_gguf *, uint32_t),
                            const desk_gguf *g) {
    uint64_t i = hash_bytes(name, len) & ix->mask;
    for (;;) {
        uint32_t *slot = &ix->slots[i];
        if (*slot == 0) return slot;
        const desk_gguf_str *s = name_at(g, *slot - 1);
        if (s->len == len && memcmp(s->s, name, (size_t)len) == 0) return slot;
        i = (i + 1) & ix->mask;
    }
}

static const desk_gguf_str *kv_name(const desk_gguf *g, uint32_t i) { return &g->kv[i].key; }
static const desk_gguf_str *tensor_name(const desk_gguf *g, uint32_t i) { return &g->tensors[i].name; }

/* ---- header --------------------------------------------------------- */

static desk_status parse_kvs(desk_gguf *g, cursor *c, desk_err *err) {
    char nb[72];
    if ((g->kv = desk_arena_alloc(&g->arena, (size_t)(g->n_kv ? g->n_kv : 1) * sizeof(desk_gguf_kv),
                                  alignof(desk_gguf_kv))) == NULL)
        return desk_errf(err, DESK_E_NOMEM, "out of memory for %lld keys", (long long)g->n_kv);
    desk_status st = index_init(&g->kv_index, &g->arena, g->n_kv, err);
    if (st != DESK_OK) return st;
    for (int64_t i = 0; i < g->n_kv; i++) {
        desk_gguf_kv *kv = &g->kv[i];
        kv->offset = c->pos;
        st = rd_str(c, &g->arena, DESK_GGUF_MAX_NAME, "key", &kv->key, err);
        if (st != DESK_OK) return desk_err_prefix(err, "key %lld of %lld", (long long)i, (long long)g->n_kv);
        if (kv->key.len == 0)
            return desk_errf(err, DESK_E_FORMAT, "key %lld (at offset %llu) is empty", (long long)i, ull(kv->offset));
        const char *kn = printable(kv->key.s, kv->key.len, nb, sizeof nb);
        uint32_t *slot = index_slot(&g->kv_index, kv->key.s, kv->key.len, kv_name, g);
        if (*slot)
            return desk_errf(err, DESK_E_FORMAT, "key '%s' (at offset %llu) is a duplicate of the key at offset %llu",
                             kn, ull(kv->offset), ull(g->kv[*slot - 1].offset));
        uint64_t tat = c->pos;
        uint32_t type;
        st = rd_u32(c, &type, "value type", err);
        if (st == DESK_OK && type >= DESK_GGUF_VTYPE_COUNT)
            st = desk_errf(err, DESK_E_FORMAT, "unknown value type %u at offset %llu", type, ull(tat));
        if (st == DESK_OK) st = rd_value(c, &g->arena, (desk_gguf_vtype)type, 0, &kv->value, err);
        if (st != DESK_OK) return desk_err_prefix(err, "key '%s' (at offset %llu)", kn, ull(kv->offset));
        *slot = (uint32_t)i + 1;
    }
    return DESK_OK;
}

static desk_status parse_alignment(desk_gguf *g, desk_err *err) {
    g->alignment = DESK_GGUF_DEFAULT_ALIGNMENT;
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, "general.alignment");
    if (!kv) return DESK_OK;
    const desk_gguf_value *v = &kv->value;
    uint64_t al;
    if (v->type == DESK_GGUF_UINT8 || v->type == DESK_GGUF_UINT16 || v->type == DESK_GGUF_UINT32 ||
        v->type == DESK_GGUF_UINT64)
        al = v->v.u64;
    else
        return desk_errf(err, DESK_E_FORMAT, "key 'general.alignment' (at offset %llu): type %s, expected an unsigned integer",
                         ull(kv->offset), desk_gguf_vtype_name(v->type));
    if (al == 0 || (al & (al - 1)) != 0 || al > DESK_GGUF_MAX_ALIGNMENT)
        return desk_errf(err, DESK_E_FORMAT,
                         "key 'general.alignment' (at offset %llu): %llu is not a power of two in 1..%llu",
                         ull(kv->offset), ull(al), ull(DESK_GGUF_MAX_ALIGNMENT));
    g->alignment = al;
    return DESK_OK;
}

static desk_status parse_tensor_info(desk_gguf *g, cursor *c, int64_t i, desk_err *err) {
    char nb[72];
    desk_gguf_tensor *t = &g->tensors[i];
    uint64_t at = t->info_offset = c->pos;
    desk_status st = rd_str(c, &g->arena, DESK_GGUF_MAX_NAME, "name", &t->name, err);
    if (st != DESK_OK) return desk_err_prefix(err, "tensor %lld of %lld", (long long)i, (long long)g->n_tensors);
    if (t->name.len == 0)
        return desk_errf(err, DESK_E_FORMAT, "tensor %lld (info at offset %llu) has an empty name", (long long)i, ull(at));
    const char *tn = printable(t->name.s, t->name.len, nb, sizeof nb);
    uint32_t *slot = index_slot(&g->tensor_index, t->name.s, t->name.len, tensor_name, g);
    if (*slot)
        return desk_errf(err, DESK_E_FORMAT, "tensor '%s' (info at offset %llu): duplicate name (first at tensor %u)",
                         tn, ull(at), *slot - 1);
    uint64_t fat = c->pos;
    uint32_t nd;
    if ((st = rd_u32(c, &nd, "n_dims", err)) != DESK_OK) goto fail;
    if (nd < 1 || nd > 4) {
        st = desk_errf(err, DESK_E_FORMAT, "n_dims %u at offset %llu is not in 1..4", nd, ull(fat));
        goto fail;
    }
    t->n_dims = nd;
    int64_t nel = 1;
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t dim = 1;
        fat = c->pos;
        if (d < nd && (st = rd_u64(c, &dim, "dim", err)) != DESK_OK) goto fail;
        if (dim == 0 || dim > INT64_MAX) {
            st = desk_errf(err, DESK_E_FORMAT, "dim %u at offset %llu is %llu, not in 1..2^63-1", d, ull(fat), ull(dim));
            goto fail;
        }
        t->ne[d] = (int64_t)dim;
        if (__builtin_mul_overflow(nel, t->ne[d], &nel)) {
            st = desk_errf(err, DESK_E_FORMAT, "dim %u at offset %llu: the element count overflows 64 bits", d, ull(fat));
            goto fail;
        }
    }
    fat = c->pos;
    if ((st = rd_u32(c, &t->type, "type", err)) != DESK_OK) goto fail;
    const desk_type_info *ti = desk_type_get(t->type);
    if (!ti) {
        st = desk_errf(err, DESK_E_FORMAT, "unknown tensor type %u at offset %llu", t->type, ull(fat));
        goto fail;
    }
    if (t->ne[0] % ti->blck != 0) {
        st = desk_errf(err, DESK_E_FORMAT, "row of %lld elements is not a whole number of %s blocks of %d",
                       (long long)t->ne[0], ti->name, (int)ti->blck);
        goto fail;
    }
    uint64_t rows = (uint64_t)(nel / t->ne[0]), row_bytes = (uint64_t)(t->ne[0] / ti->blck) * (uint64_t)ti->type_size;
    if (__builtin_mul_overflow(rows, row_bytes, &t->nbytes) || t->nbytes > INT64_MAX) {
        st = desk_errf(err, DESK_E_FORMAT, "byte size of %lld %s elements overflows 64 bits", (long long)nel, ti->name);
        goto fail;
    }
    fat = c->pos;
    if ((st = rd_u64(c, &t->offset, "offset", err)) != DESK_OK) goto fail;
    if (t->offset % g->alignment != 0) {
        st = desk_errf(err, DESK_E_FORMAT, "data offset %llu (field at offset %llu) is not a multiple of the alignment %llu",
                       ull(t->offset), ull(fat), ull(g->alignment));
        goto fail;
    }
    *slot = (uint32_t)i + 1;
    return DESK_OK;
fail:
    return desk_err_prefix(err, "tensor '%s' (info at offset %llu)", tn, ull(at));
}

/* The alignment a tensor's data needs so that desk can read it in place:
 * its widest scalar.  Every byte of a tensor is read through a C pointer of
 * that scalar's type (a norm as const float *, a Q4_K block's d as
 * desk_f16), and a misaligned one is undefined behaviour, so a file that
 * places one there is refused rather than copied.  A block's size is a
 * multiple of its alignment, so every row and block stays aligned when
 * the first is. */
static uint64_t type_alignment(uint32_t type) {
    switch (type) {
    case DESK_TYPE_F64:
    case DESK_TYPE_I64: return 8;
    case DESK_TYPE_F32:
    case DESK_TYPE_I32:
    case DESK_TYPE_Q8_K: return 4; /* its d is a float */
    case DESK_TYPE_I8:
    case DESK_TYPE_MXFP4: return 1; /* bytes only */
    default: return 2; /* F16, BF16, I16, and blocks of f16 scales and u16 fields */
    }
}

static int cmp_by_offset(const void *a, const void *b) {
    const desk_gguf_tensor *x = *(desk_gguf_tensor *const *)a, *y = *(desk_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Checks every tensor's bytes lie in the file and no two overlap. */
static desk_status place_tensors(desk_gguf *g, desk_err *err) {
    char nb[72], nb2[72];
    if (g->n_tensors == 0) return DESK_OK;
    if (g->data_offset > g->size)
        return desk_errf(err, DESK_E_FORMAT, "the tensor data section would start at offset %llu, past the end of the file (size %llu)",
                         ull(g->data_offset), ull(g->size));
    uint64_t room = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        desk_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->nbytes > room - t->offset)
            return desk_errf(err, DESK_E_FORMAT,
                             "tensor '%s' (info at offset %llu): data offset %llu + %llu bytes is past the end of the file (data starts at %llu, file size %llu)",
                             printable(t->name.s, t->name.len, nb, sizeof nb), ull(t->info_offset), ull(t->offset), ull(t->nbytes),
                             ull(g->data_offset), ull(g->size));
        t->data = g->data + g->data_offset + t->offset;
        /* general.alignment may be 1, and then neither the data section
         * nor a tensor's offset in it need be aligned for its type. */
        const uint64_t need_al = type_alignment(t->type);
        if ((g->data_offset + t->offset) % need_al != 0 || (uintptr_t)t->data % need_al != 0)
            return desk_errf(err, DESK_E_FORMAT,
                             "tensor '%s' (info at offset %llu): its %s data at file offset %llu (data offset %llu) is not aligned to %llu bytes",
                             printable(t->name.s, t->name.len, nb, sizeof nb), ull(t->info_offset),
                             desk_type_name(t->type), ull(g->data_offset + t->offset), ull(t->offset), ull(need_al));
    }
    desk_gguf_tensor **order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return desk_errf(err, DESK_E_NOMEM, "out of memory sorting %lld tensors", (long long)g->n_tensors);
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset);
    desk_status st = DESK_OK;
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const desk_gguf_tensor *p = order[i - 1], *t = order[i];
        if (t->offset < p->offset + p->nbytes) {
            st = desk_errf(err, DESK_E_FORMAT,
                           "tensor '%s' (info at offset %llu): data offset %llu overlaps tensor '%s' (info at offset %llu, data offset %llu, %llu bytes)",
                           printable(t->name.s, t->name.len, nb, sizeof nb), ull(t->info_offset), ull(t->offset),
                           printable(p->name.s, p->name.len, nb2, sizeof nb2), ull(p->info_offset), ull(p->offset),
                           ull(p->nbytes));
            break;
        }
    }
    free(order);
    return st;
}

static desk_status parse(desk_gguf *g, desk_err *err) {
    cursor c = {g->data, g->size, 0};
    unsigned char magic[4];
    desk_status st = rd(&c, magic, 4, "magic", err);
    if (st != DESK_OK) return desk_err_prefix(err, "not a GGUF file");
    if (memcmp(magic, "GGUF", 4) != 0)
        return desk_errf(err, DESK_E_FORMAT, "not a GGUF file: magic at offset 0 is %02x %02x %02x %02x, expected 'GGUF'",
                         magic[0], magic[1], magic[2], magic[3]);
    if ((st = rd_u32(&c, &g->version, "version", err)) != DESK_OK) return st;
    if (g->version == 1)
        return desk_errf(err, DESK_E_UNSUPPORTED, "GGUF version 1 (at offset 4) is not supported; only versions 2 and 3 are");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version != 0)
            return desk_errf(err, DESK_E_UNSUPPORTED, "version field at offset 4 is 0x%08x: a big-endian GGUF file, which desk does not read",
                             g->version);
        return desk_errf(err, DESK_E_UNSUPPORTED, "GGUF version %u (at offset 4) is not supported; only versions 2 and 3 are",
                         g->version);
    }
    uint64_t nt, nkv;
    if ((st = rd_u64(&c, &nt, "tensor count", err)) != DESK_OK) return st;
    if ((st = rd_u64(&c, &nkv, "key count", err)) != DESK_OK) return st;
    if (nkv > DESK_GGUF_MAX_KV)
        return desk_errf(err, DESK_E_FORMAT, "key count %llu (at offset 16) exceeds the limit of %d", ull(nkv), DESK_GGUF_MAX_KV);
    if (nkv > remaining(&c) / MIN_KV_BYTES)
        return desk_errf(err, DESK_E_FORMAT, "key count %llu (at offset 16) cannot fit in the %llu bytes left (file size %llu)",
                         ull(nkv), ull(remaining(&c)), ull(g->size));
    if (nt > DESK_GGUF_MAX_TENSORS)
        return desk_errf(err, DESK_E_FORMAT, "tensor count %llu (at offset 8) exceeds the limit of %d", ull(nt), DESK_GGUF_MAX_TENSORS);
    if (nt > remaining(&c) / MIN_TENSOR_BYTES)
        return desk_errf(err, DESK_E_FORMAT, "tensor count %llu (at offset 8) cannot fit in the %llu bytes left (file size %llu)",
                         ull(nt), ull(remaining(&c)), ull(g->size));
    g->n_kv = (int64_t)nkv;
    if ((st = parse_kvs(g, &c, err)) != DESK_OK) return st;
    if ((st = parse_alignment(g, err)) != DESK_OK) return st;
    if (nt > remaining(&c) / MIN_TENSOR_BYTES)
        return desk_errf(err, DESK_E_FORMAT, "tensor count %llu (at offset 8) cannot fit in the %llu bytes left after the metadata (at offset %llu)",
                         ull(nt), ull(remaining(&c)), ull(c.pos));
    g->n_tensors = (int64_t)nt;
    g->tensors = desk_arena_alloc(&g->arena, (size_t)(nt ? nt : 1) * sizeof(desk_gguf_tensor), alignof(desk_gguf_tensor));
    if (!g->tensors) return desk_errf(err, DESK_E_NOMEM, "out of memory for %llu tensors", ull(nt));
    if ((st = index_init(&g->tensor_index, &g->arena, g->n_tensors, err)) != DESK_OK) return st;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((st = parse_tensor_info(g, &c, i, err)) != DESK_OK) return st;
    /* c.pos <= size, alignment <= 2^24: no overflow. */
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    return place_tensors(g, err);
}

desk_status desk_gguf_open_memory(const void *data, size_t size, desk_gguf **out, desk_err *err) {
    desk_err no_err; /* desk_err_prefix returns the status it finds in an err */
    if (!err) err = &no_err;
    if (!out) return desk_errf(err, DESK_E_ARG, "desk_gguf_open_memory: no output handle");
    *out = NULL;
    if (!data && size) return desk_errf(err, DESK_E_ARG, "desk_gguf_open_memory: no data");
    desk_gguf *g = calloc(1, sizeof *g);
    if (!g) return desk_errf(err, DESK_E_NOMEM, "out of memory opening a GGUF image");
    desk_arena_init(&g->arena, 64 << 10);
    g->data = data;
    g->size = size;
    desk_status st = parse(g, err);
    if (st != DESK_OK) {
        desk_gguf_close(g);
        return st;
    }
    *out = g;
    return DESK_OK;
}

desk_status desk_gguf_open(const char *path, desk_gguf **out, desk_err *err) {
    desk_err no_err; /* desk_err_prefix returns the status it finds in an err */
    if (!err) err = &no_err;
    if (!out) return desk_errf(err, DESK_E_ARG, "desk_gguf_open: no output handle");
    *out = NULL;
    desk_mfile mf;
    desk_status st = desk_mfile_open(path, &mf, err);
    if (st != DESK_OK) return st;
    st = desk_gguf_open_memory(mf.data, mf.size, out, err);
    if (st != DESK_OK) {
        desk_mfile_close(&mf);
        return desk_err_prefix(err, "%s", path);
    }
    (*out)->mf = mf;
    return DESK_OK;
}

void desk_gguf_close(desk_gguf *g) {
    if (!g) return;
    desk_arena_free(&g->arena);
    desk_mfile_close(&g->mf);
    free(g);
}

/* ---- accessors ------------------------------------------------------ */

uint32_t desk_gguf_version(const desk_gguf *g) { return g->version; }
uint64_t desk_gguf_alignment(const desk_gguf *g) { return g->alignment; }
uint64_t desk_gguf_data_offset(const desk_gguf *g) { return g->data_offset; }
uint64_t desk_gguf_file_size(const desk_gguf *g) { return g->size; }
int64_t desk_gguf_n_kv(const desk_gguf *g) { return g->n_kv; }
int64_t desk_gguf_n_tensors(const desk_gguf *g) { return g->n_tensors; }

const desk_gguf_kv *desk_gguf_kv_at(const desk_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const desk_gguf_tensor *desk_gguf_tensor_at(const desk_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const desk_gguf_kv *desk_gguf_find_kv(const desk_gguf *g, const char *key) {
    if (!key || !g->kv_index.slots) return NULL;
    uint32_t *slot = index_slot(&g->kv_index, key, strlen(key), kv_name, g);
    return *slot ? &g->kv[*slot - 1] : NULL;
}

const desk_gguf_tensor *desk_gguf_find_tensor(const desk_gguf *g, const char *name) {
    if (!name || !g->tensor_index.slots) return NULL;
    uint32_t *slot = index_slot(&g->tensor_index, name, strlen(name), tensor_name, g);
    return *slot ? &g->tensors[*slot - 1] : NULL;
}

static bool is_unsigned(desk_gguf_vtype t) {
    return t == DESK_GGUF_UINT8 || t == DESK_GGUF_UINT16 || t == DESK_GGUF_UINT32 || t == DESK_GGUF_UINT64;
}

static bool is_signed(desk_gguf_vtype t) {
    return t == DESK_GGUF_INT8 || t == DESK_GGUF_INT16 || t == DESK_GGUF_INT32 || t == DESK_GGUF_INT64;
}

static desk_status find(const desk_gguf *g, const char *key, const desk_gguf_value **v, desk_err *err) {
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, key);
    if (!kv) return desk_errf(err, DESK_E_NOTFOUND, "key '%s' is missing", key ? key : "(null)");
    *v = &kv->value;
    return DESK_OK;
}

static desk_status wrong_type(const desk_gguf *g, const char *key, const char *want, desk_err *err) {
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, key);
    return desk_errf(err, DESK_E_FORMAT, "key '%s' (at offset %llu) is %s, expected %s", key, ull(kv->offset),
                     desk_gguf_vtype_name(kv->value.type), want);
}

desk_status desk_gguf_get_i64(const desk_gguf *g, const char *key, int64_t *out, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (is_signed(v->type)) *out = v->v.i64;
    else if (is_unsigned(v->type) && v->v.u64 <= INT64_MAX) *out = (int64_t)v->v.u64;
    else return wrong_type(g, key, "an integer that fits in int64", err);
    return DESK_OK;
}

desk_status desk_gguf_get_u32(const desk_gguf *g, const char *key, uint32_t *out, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (is_unsigned(v->type) && v->v.u64 <= UINT32_MAX) *out = (uint32_t)v->v.u64;
    else if (is_signed(v->type) && v->v.i64 >= 0 && v->v.i64 <= UINT32_MAX) *out = (uint32_t)v->v.i64;
    else return wrong_type(g, key, "an integer in 0..4294967295", err);
    return DESK_OK;
}

desk_status desk_gguf_get_f32(const desk_gguf *g, const char *key, float *out, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (v->type == DESK_GGUF_FLOAT32 || v->type == DESK_GGUF_FLOAT64) *out = (float)v->v.f64;
    else if (is_unsigned(v->type)) *out = (float)v->v.u64;
    else if (is_signed(v->type)) *out = (float)v->v.i64;
    else return wrong_type(g, key, "a number", err);
    return DESK_OK;
}

desk_status desk_gguf_get_bool(const desk_gguf *g, const char *key, bool *out, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (v->type != DESK_GGUF_BOOL) return wrong_type(g, key, "BOOL", err);
    *out = v->v.b;
    return DESK_OK;
}

desk_status desk_gguf_get_str(const desk_gguf *g, const char *key, const char **out, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (v->type != DESK_GGUF_STRING) return wrong_type(g, key, "STRING", err);
    /* The caller gets a C string: one with a NUL inside would be read as
     * its prefix ("llama\0x" as "llama"), so it is refused here, for
     * every key read this way.  desk_gguf_find_kv gives the whole value. */
    const char *nul = memchr(v->v.str.s, '\0', (size_t)v->v.str.len);
    if (nul)
        return desk_errf(err, DESK_E_FORMAT, "key '%s' (at offset %llu): the string has a NUL byte at position %llu of %llu",
                         key, ull(desk_gguf_find_kv(g, key)->offset), ull((uint64_t)(nul - v->v.str.s)), ull(v->v.str.len));
    *out = v->v.str.s;
    return DESK_OK;
}

desk_status desk_gguf_get_arr(const desk_gguf *g, const char *key, desk_gguf_vtype *type, uint64_t *n,
                              const void **data, desk_err *err) {
    const desk_gguf_value *v = NULL;
    desk_status st = find(g, key, &v, err);
    if (st != DESK_OK) return st;
    if (v->type != DESK_GGUF_ARRAY) return wrong_type(g, key, "ARRAY", err);
    if (type) *type = v->v.arr.type;
    if (n) *n = v->v.arr.n;
    if (data) *data = v->v.arr.data;
    return DESK_OK;
}
