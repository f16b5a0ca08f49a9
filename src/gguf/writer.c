/*
 * writer.c - building a version-3 GGUF file and writing it atomically.
 *
 * Values are deep-copied into the writer's arena when set, so callers may
 * free theirs at once; tensor data is borrowed until the write.  The file
 * layout is the one the reader expects: header, keys in the order first
 * added, tensor infos, padding to the alignment, then each tensor's bytes
 * at an aligned offset.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/mfile.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

typedef struct wkv {
    desk_gguf_str key;
    desk_gguf_value value;
} wkv;

typedef struct wtensor {
    desk_gguf_str name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes;
    const void *data;
} wtensor;

struct desk_gguf_writer {
    desk_arena arena;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

desk_status desk_gguf_writer_new(desk_gguf_writer **out, desk_err *err) {
    if (!out) return desk_errf(err, DESK_E_ARG, "desk_gguf_writer_new: no output handle");
    *out = calloc(1, sizeof **out);
    if (!*out) return desk_errf(err, DESK_E_NOMEM, "out of memory for a GGUF writer");
    desk_arena_init(&(*out)->arena, 64 << 10);
    return DESK_OK;
}

void desk_gguf_writer_free(desk_gguf_writer *w) {
    if (!w) return;
    desk_arena_free(&w->arena);
    free(w->kv);
    free(w->tensors);
    free(w);
}

/* Grows a realloc'd array to hold one more element. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

static desk_status copy_str(desk_arena *a, const desk_gguf_str *src, desk_gguf_str *dst, desk_err *err) {
    if (src->len > DESK_GGUF_MAX_STRING)
        return desk_errf(err, DESK_E_RANGE, "string of %llu bytes exceeds the limit", (unsigned long long)src->len);
    if (src->len && !src->s) return desk_errf(err, DESK_E_ARG, "string with no bytes");
    char *s = desk_arena_strndup(a, src->len ? src->s : "", (size_t)src->len);
    if (!s) return desk_errf(err, DESK_E_NOMEM, "out of memory copying a string");
    dst->s = s;
    dst->len = src->len;
    return DESK_OK;
}

/* Deep copy of SRC (checked: known types, nesting depth) into the arena. */
static desk_status copy_value(desk_arena *a, const desk_gguf_value *src, int depth, desk_gguf_value *dst,
                              desk_err *err) {
    if ((unsigned)src->type >= DESK_GGUF_VTYPE_COUNT)
        return desk_errf(err, DESK_E_ARG, "unknown value type %d", (int)src->type);
    *dst = *src;
    if (src->type == DESK_GGUF_STRING) return copy_str(a, &src->v.str, &dst->v.str, err);
    if (src->type != DESK_GGUF_ARRAY) return DESK_OK;
    desk_gguf_vtype et = src->v.arr.type;
    uint64_t n = src->v.arr.n;
    if ((unsigned)et >= DESK_GGUF_VTYPE_COUNT)
        return desk_errf(err, DESK_E_ARG, "unknown array element type %d", (int)et);
    if (et == DESK_GGUF_ARRAY && depth + 1 >= DESK_GGUF_MAX_DEPTH)
        return desk_errf(err, DESK_E_RANGE, "arrays nest deeper than %d levels", DESK_GGUF_MAX_DEPTH);
    if (n > DESK_GGUF_MAX_ARRAY)
        return desk_errf(err, DESK_E_RANGE, "array of %llu elements exceeds the limit", (unsigned long long)n);
    dst->v.arr.data = NULL;
    if (n == 0) return DESK_OK;
    if (!src->v.arr.data) return desk_errf(err, DESK_E_ARG, "array of %llu elements with no data", (unsigned long long)n);
    size_t fsize = desk_gguf_vtype_size(et);
    size_t csize = fsize ? fsize : et == DESK_GGUF_STRING ? sizeof(desk_gguf_str) : sizeof(desk_gguf_value);
    void *data = desk_arena_alloc(a, (size_t)n * csize, fsize ? fsize : alignof(desk_gguf_value));
    if (!data) return desk_errf(err, DESK_E_NOMEM, "out of memory copying an array of %llu elements", (unsigned long long)n);
    dst->v.arr.data = data;
    if (fsize) {
        memcpy(data, src->v.arr.data, (size_t)n * fsize);
        return DESK_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        desk_status st = et == DESK_GGUF_STRING
                             ? copy_str(a, (const desk_gguf_str *)src->v.arr.data + i, (desk_gguf_str *)data + i, err)
                             : copy_value(a, (const desk_gguf_value *)src->v.arr.data + i, depth + 1,
                                          (desk_gguf_value *)data + i, err);
        if (st != DESK_OK) return desk_err_prefix(err, "element %llu", (unsigned long long)i);
    }
    return DESK_OK;
}

static desk_status set_n(desk_gguf_writer *w, const char *key, uint64_t klen, const desk_gguf_value *value,
                         desk_err *err) {
    if (!w || !key || !value) return desk_errf(err, DESK_E_ARG, "desk_gguf_writer_set: missing argument");
    if (klen == 0 || klen > DESK_GGUF_MAX_NAME)
        return desk_errf(err, DESK_E_ARG, "key length %llu is not in 1..%d", (unsigned long long)klen, DESK_GGUF_MAX_NAME);
    desk_gguf_value copy;
    desk_status st = copy_value(&w->arena, value, 0, &copy, err);
    if (st != DESK_OK) return desk_err_prefix(err, "key '%.*s'", (int)(klen > 200 ? 200 : klen), key);
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key.len == klen && memcmp(w->kv[i].key.s, key, (size_t)klen) == 0) {
            w->kv[i].value = copy;
            return DESK_OK;
        }
    if (w->n_kv >= DESK_GGUF_MAX_KV) return desk_errf(err, DESK_E_RANGE, "more than %d keys", DESK_GGUF_MAX_KV);
    if (!grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv))
        return desk_errf(err, DESK_E_NOMEM, "out of memory adding a key");
    desk_gguf_str k = {key, klen};
    wkv *e = &w->kv[w->n_kv];
    if ((st = copy_str(&w->arena, &k, &e->key, err)) != DESK_OK) return st;
    e->value = copy;
    w->n_kv++;
    return DESK_OK;
}

desk_status desk_gguf_writer_set(desk_gguf_writer *w, const char *key, const desk_gguf_value *value, desk_err *err) {
    return set_n(w, key, key ? strlen(key) : 0, value, err);
}

desk_status desk_gguf_writer_set_u32(desk_gguf_writer *w, const char *key, uint32_t v, desk_err *err) {
    desk_gguf_value val = {.type = DESK_GGUF_UINT32, .v.u64 = v};
    return desk_gguf_writer_set(w, key, &val, err);
}

desk_status desk_gguf_writer_set_f32(desk_gguf_writer *w, const char *key, float v, desk_err *err) {
    desk_gguf_value val = {.type = DESK_GGUF_FLOAT32, .v.f64 = v};
    return desk_gguf_writer_set(w, key, &val, err);
}

desk_status desk_gguf_writer_set_bool(desk_gguf_writer *w, const char *key, bool v, desk_err *err) {
    desk_gguf_value val = {.type = DESK_GGUF_BOOL, .v.b = v};
    return desk_gguf_writer_set(w, key, &val, err);
}

desk_status desk_gguf_writer_set_str(desk_gguf_writer *w, const char *key, const char *v, desk_err *err) {
    if (!v) return desk_errf(err, DESK_E_ARG, "key '%s': no string", key ? key : "(null)");
    desk_gguf_value val = {.type = DESK_GGUF_STRING, .v.str = {v, strlen(v)}};
    return desk_gguf_writer_set(w, key, &val, err);
}

desk_status desk_gguf_writer_copy_kv(desk_gguf_writer *w, const desk_gguf *src, desk_err *err) {
    for (int64_t i = 0; i < desk_gguf_n_kv(src); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(src, i);
        desk_status st = set_n(w, kv->key.s, kv->key.len, &kv->value, err);
        if (st != DESK_OK) return st;
    }
    return DESK_OK;
}

desk_status desk_gguf_writer_add_tensor(desk_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                        const int64_t *ne, const void *data, desk_err *err) {
    if (!w || !name || !ne) return desk_errf(err, DESK_E_ARG, "desk_gguf_writer_add_tensor: missing argument");
    size_t len = strlen(name);
    if (len == 0 || len > DESK_GGUF_MAX_NAME)
        return desk_errf(err, DESK_E_ARG, "tensor name length %zu is not in 1..%d", len, DESK_GGUF_MAX_NAME);
    const desk_type_info *ti = desk_type_get(type);
    if (!ti) return desk_errf(err, DESK_E_ARG, "tensor '%s': unknown type %u", name, type);
    if (n_dims < 1 || n_dims > 4) return desk_errf(err, DESK_E_ARG, "tensor '%s': n_dims %u is not in 1..4", name, n_dims);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .data = data};
    int64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1) return desk_errf(err, DESK_E_ARG, "tensor '%s': dim %u is %lld", name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
        if (__builtin_mul_overflow(nel, ne[d], &nel))
            return desk_errf(err, DESK_E_RANGE, "tensor '%s': element count overflows", name);
    }
    if (ne[0] % ti->blck != 0)
        return desk_errf(err, DESK_E_ARG, "tensor '%s': row of %lld is not a whole number of %s blocks", name,
                         (long long)ne[0], ti->name);
    uint64_t row = (uint64_t)(ne[0] / ti->blck) * (uint64_t)ti->type_size;
    if (__builtin_mul_overflow(row, (uint64_t)(nel / ne[0]), &t.nbytes) || t.nbytes > INT64_MAX)
        return desk_errf(err, DESK_E_RANGE, "tensor '%s': byte size overflows", name);
    if (!data) return desk_errf(err, DESK_E_ARG, "tensor '%s': no data", name);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].name.len == len && memcmp(w->tensors[i].name.s, name, len) == 0)
            return desk_errf(err, DESK_E_ARG, "tensor '%s' added twice", name);
    if (w->n_tensors >= DESK_GGUF_MAX_TENSORS) return desk_errf(err, DESK_E_RANGE, "more than %d tensors", DESK_GGUF_MAX_TENSORS);
    if (!grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors))
        return desk_errf(err, DESK_E_NOMEM, "out of memory adding a tensor");
    desk_gguf_str n = {name, len};
    desk_status st = copy_str(&w->arena, &n, &t.name, err);
    if (st != DESK_OK) return st;
    w->tensors[w->n_tensors++] = t;
    return DESK_OK;
}

/* ---- serialisation -------------------------------------------------- */

typedef struct out {
    FILE *fp;
    uint64_t pos;
    bool failed;
} out;

static void put(out *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->fp) != n) o->failed = true;
    o->pos += n;
}

static void put_u32(out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(out *o, uint64_t v) { put(o, &v, 8); }

static void put_str(out *o, const desk_gguf_str *s) {
    put_u64(o, s->len);
    put(o, s->s, (size_t)s->len);
}

static void put_pad(out *o, uint64_t alignment) {
    static const unsigned char zeros[256];
    uint64_t pad = (alignment - o->pos % alignment) % alignment;
    while (pad) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        put(o, zeros, n);
        pad -= n;
    }
}

/* Writes the element bytes of a fixed-size scalar as the file stores it. */
static void put_scalar(out *o, const desk_gguf_value *v) {
    switch (v->type) {
    case DESK_GGUF_UINT8: { uint8_t x = (uint8_t)v->v.u64; put(o, &x, 1); break; }
    case DESK_GGUF_INT8: { int8_t x = (int8_t)v->v.i64; put(o, &x, 1); break; }
    case DESK_GGUF_BOOL: { uint8_t x = v->v.b; put(o, &x, 1); break; }
    case DESK_GGUF_UINT16: { uint16_t x = (uint16_t)v->v.u64; put(o, &x, 2); break; }
    case DESK_GGUF_INT16: { int16_t x = (int16_t)v->v.i64; put(o, &x, 2); break; }
    case DESK_GGUF_UINT32: { uint32_t x = (uint32_t)v->v.u64; put(o, &x, 4); break; }
    case DESK_GGUF_INT32: { int32_t x = (int32_t)v->v.i64; put(o, &x, 4); break; }
    case DESK_GGUF_FLOAT32: { float x = (float)v->v.f64; put(o, &x, 4); break; }
    case DESK_GGUF_UINT64: put(o, &v->v.u64, 8); break;
    case DESK_GGUF_INT64: put(o, &v->v.i64, 8); break;
    case DESK_GGUF_FLOAT64: put(o, &v->v.f64, 8); break;
    default: break;
    }
}

/* A nested array element is stored as element type + length + elements,
 * the same encoding as a top-level array value. */
static void put_value(out *o, const desk_gguf_value *v) {
    if (v->type == DESK_GGUF_STRING) {
        put_str(o, &v->v.str);
    } else if (v->type == DESK_GGUF_ARRAY) {
        desk_gguf_vtype et = v->v.arr.type;
        put_u32(o, (uint32_t)et);
        put_u64(o, v->v.arr.n);
        size_t fsize = desk_gguf_vtype_size(et);
        if (fsize) {
            put(o, v->v.arr.data, (size_t)v->v.arr.n * fsize);
        } else {
            for (uint64_t i = 0; i < v->v.arr.n; i++) {
                if (et == DESK_GGUF_STRING) put_str(o, (const desk_gguf_str *)v->v.arr.data + i);
                else put_value(o, (const desk_gguf_value *)v->v.arr.data + i);
            }
        }
    } else {
        put_scalar(o, v);
    }
}

static desk_status writer_alignment(const desk_gguf_writer *w, uint64_t *al, desk_err *err) {
    *al = DESK_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (w->kv[i].key.len != 17 || memcmp(w->kv[i].key.s, "general.alignment", 17) != 0) continue;
        const desk_gguf_value *v = &w->kv[i].value;
        if (v->type != DESK_GGUF_UINT8 && v->type != DESK_GGUF_UINT16 && v->type != DESK_GGUF_UINT32 &&
            v->type != DESK_GGUF_UINT64)
            return desk_errf(err, DESK_E_ARG, "general.alignment must be an unsigned integer");
        uint64_t a = v->v.u64;
        if (a == 0 || (a & (a - 1)) || a > DESK_GGUF_MAX_ALIGNMENT)
            return desk_errf(err, DESK_E_ARG, "general.alignment %llu is not a power of two in 1..%llu",
                             (unsigned long long)a, (unsigned long long)DESK_GGUF_MAX_ALIGNMENT);
        *al = a;
    }
    return DESK_OK;
}

desk_status desk_gguf_writer_write(desk_gguf_writer *w, const char *path, desk_err *err) {
    if (!w) return desk_errf(err, DESK_E_ARG, "desk_gguf_writer_write: no writer");
    uint64_t al;
    desk_status st = writer_alignment(w, &al, err);
    if (st != DESK_OK) return st;
    desk_afile af;
    if ((st = desk_afile_open(path, &af, err)) != DESK_OK) return st;
    out o = {af.fp, 0, false};
    put(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, w->n_tensors);
    put_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&o, &w->kv[i].key);
        put_u32(&o, (uint32_t)w->kv[i].value.type);
        put_value(&o, &w->kv[i].value);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(&o, &t->name);
        put_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, t->type);
        put_u64(&o, off);
        off += (t->nbytes + al - 1) / al * al;
    }
    if (w->n_tensors) put_pad(&o, al);
    for (size_t i = 0; i < w->n_tensors; i++) {
        put(&o, w->tensors[i].data, (size_t)w->tensors[i].nbytes);
        put_pad(&o, al);
    }
    if (o.failed) {
        desk_afile_abort(&af);
        return desk_errf(err, DESK_E_IO, "%s: write failed at offset %llu", path, (unsigned long long)o.pos);
    }
    return desk_afile_commit(&af, err);
}
