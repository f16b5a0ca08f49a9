/*
 * quantize.c - `desk quantize` as a library call: plan the types with the
 * recipe, convert the tensors that change, copy the rest, write atomically.
 */
#include "convert/quantize.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "gguf/gguf.h"
#include "desk/lora.h"
#include "tensor/types.h"

#define GGML_QNT_VERSION 2 /* general.quantization_version llama.cpp writes */

typedef struct rows_job {
    uint32_t st, dt;
    const unsigned char *src;
    unsigned char *dst;
    int64_t ne0, nrows;
    size_t src_row, dst_row;
    float *scratch; /* nth * ne0 floats */
    const char *name;  /* the tensor, for adapters */
    const desk_lora_use *loras;
    int n_loras;
} rows_job;

static desk_status convert_rows_merged(desk_threadpool *tp, uint32_t st, const void *src, uint32_t dt, void *dst,
                                       int64_t ne0, int64_t nrows, const char *name, const desk_lora_use *loras,
                                       int n_loras, desk_err *err);

static void rows_task(void *ctx, int ith, int nth) {
    rows_job *j = ctx;
    int64_t per = (j->nrows + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per < j->nrows ? r0 + per : j->nrows;
    float *f = j->scratch + (size_t)ith * (size_t)j->ne0;
    const desk_type_info *si = desk_type_get(j->st), *di = desk_type_get(j->dt);
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *s = j->src + (size_t)r * j->src_row;
        const float *row = (const float *)(const void *)s;
        if (j->st != DESK_TYPE_F32) {
            si->dequant(s, f, j->ne0);
            row = f;
        }
        if (j->n_loras > 0) {
            if (row != f) memcpy(f, row, (size_t)j->ne0 * sizeof *f);
            row = f;
            for (int k = 0; k < j->n_loras; k++) desk_lora_merge_rows(&j->loras[k], j->name, r, 1, j->ne0, f);
        }
        di->quant(row, j->dst + (size_t)r * j->dst_row, j->ne0);
    }
}

desk_status desk_convert_rows(desk_threadpool *tp, uint32_t st, const void *src, uint32_t dt, void *dst,
                              int64_t ne0, int64_t nrows, desk_err *err) {
    return convert_rows_merged(tp, st, src, dt, dst, ne0, nrows, NULL, NULL, 0, err);
}

/* desk_convert_rows, with the adapters' updates for tensor NAME added to
 * each row before it is quantized. */
static desk_status convert_rows_merged(desk_threadpool *tp, uint32_t st, const void *src, uint32_t dt, void *dst,
                                       int64_t ne0, int64_t nrows, const char *name, const desk_lora_use *loras,
                                       int n_loras, desk_err *err) {
    const desk_type_info *si = desk_type_get(st), *di = desk_type_get(dt);
    if (!si || !si->dequant)
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk cannot dequantize type %s", desk_type_name(st));
    if (!di || !di->quant)
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk cannot quantize to type %s", desk_type_name(dt));
    if (ne0 <= 0 || nrows < 0 || !desk_type_row_ok(st, ne0) || !desk_type_row_ok(dt, ne0))
        return desk_errf(err, DESK_E_ARG, "row of %lld elements does not fit %s -> %s blocks", (long long)ne0,
                         si->name, di->name);
    int nth = tp ? desk_threadpool_size(tp) : 1;
    rows_job j = {st, dt, src, dst, ne0, nrows, desk_type_row_size(st, ne0), desk_type_row_size(dt, ne0),
                  malloc((size_t)nth * (size_t)ne0 * sizeof(float)), name, loras, n_loras};
    if (!j.scratch) return desk_errf(err, DESK_E_NOMEM, "no memory for %d rows of %lld floats", nth, (long long)ne0);
    desk_threadpool_run(tp, rows_task, &j);
    free(j.scratch);
    return DESK_OK;
}

desk_status desk_convert_set_alloc(desk_convert_set *s, int64_t n, desk_err *err) {
    size_t k = (size_t)(n > 0 ? n : 1);
    s->n = n;
    s->qt = calloc(k, sizeof *s->qt);
    s->types = calloc(k, sizeof *s->types);
    s->order = calloc(k, sizeof *s->order);
    s->bufs = calloc(k, sizeof *s->bufs);
    if (!s->qt || !s->types || !s->order || !s->bufs)
        return desk_errf(err, DESK_E_NOMEM, "no memory for %lld tensors", (long long)n);
    return DESK_OK;
}

void desk_convert_set_free(desk_convert_set *s) {
    for (int64_t i = 0; s->bufs && i < s->n; i++) free(s->bufs[i]);
    free(s->bufs);
    free(s->qt);
    free(s->types);
    free(s->order);
}

typedef struct qstate {
    desk_gguf *in;
    desk_gguf_writer *w;
    desk_threadpool *tp;
    desk_convert_set c;
} qstate;

static void qstate_free(qstate *s) {
    desk_convert_set_free(&s->c);
    desk_gguf_writer_free(s->w);
    desk_threadpool_free(s->tp);
    if (s->in) desk_gguf_close(s->in);
}

static desk_status convert_all(qstate *s, const desk_convert_opts *o, const desk_lora_use *loras, int n_loras,
                               desk_err *err) {
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < s->c.n; i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(s->in, i);
        total += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    for (int64_t k = 0; k < s->c.n; k++) {
        int64_t i = s->c.order[k];
        const desk_gguf_tensor *t = desk_gguf_tensor_at(s->in, i);
        uint32_t dt = s->c.types[i];
        int64_t nel = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        const void *data = t->data;
        bool adapted = false;
        for (int a = 0; a < n_loras && !adapted; a++) adapted = desk_lora_adapts(loras[a].lora, t->name.s);
        if (dt != t->type || adapted) {
            int64_t nrows = nel / t->ne[0];
            size_t bytes = desk_type_row_size(dt, t->ne[0]) * (size_t)nrows;
            s->c.bufs[i] = malloc(bytes ? bytes : 1);
            if (!s->c.bufs[i])
                return desk_errf(err, DESK_E_NOMEM, "no memory for tensor %s (%zu bytes)", t->name.s, bytes);
            desk_status st = convert_rows_merged(s->tp, t->type, t->data, dt, s->c.bufs[i], t->ne[0], nrows, t->name.s,
                                                 adapted ? loras : NULL, adapted ? n_loras : 0, err);
            if (st != DESK_OK) return desk_err_prefix(err, "tensor %s", t->name.s);
            data = s->c.bufs[i];
        }
        desk_status st = desk_gguf_writer_add_tensor(s->w, t->name.s, dt, t->n_dims, t->ne, data, err);
        if (st != DESK_OK) return st;
        done += (uint64_t)nel;
        if (o->progress) o->progress(o->progress_user, done, total, t->name.s);
    }
    return DESK_OK;
}

desk_status desk_quantize_file(const char *in, const char *out, const desk_qrecipe *r,
                               const desk_convert_opts *o, desk_err *err) {
    return desk_quantize_file_merged(in, out, r, o, NULL, 0, err);
}

desk_status desk_quantize_file_merged(const char *in, const char *out, const desk_qrecipe *r,
                                      const desk_convert_opts *o, const desk_lora_use *loras, int n_loras,
                                      desk_err *err) {
    qstate s = {0};
    desk_status st = desk_gguf_open(in, &s.in, err);
    if (st != DESK_OK) return st;
    if ((st = desk_convert_set_alloc(&s.c, desk_gguf_n_tensors(s.in), err)) != DESK_OK) goto done;
    for (int64_t i = 0; i < s.c.n; i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(s.in, i);
        s.c.qt[i] = (desk_qtensor){t->name.s, t->n_dims, t->ne[0], t->type};
    }
    if ((st = desk_qrecipe_plan(r, s.c.qt, s.c.n, s.c.types, s.c.order, err)) != DESK_OK) goto done;
    /* refuse before any work: every tensor that changes type must dequantize */
    for (int64_t i = 0; i < s.c.n; i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(s.in, i);
        if (s.c.types[i] != t->type && !desk_type_get(t->type)->dequant) {
            st = desk_errf(err, DESK_E_UNSUPPORTED, "%s: tensor %s has type %s, which desk cannot dequantize", in,
                           t->name.s, desk_type_name(t->type));
            goto done;
        }
    }
    if ((st = desk_threadpool_new(o->n_threads, &s.tp, err)) != DESK_OK) goto done;
    if ((st = desk_gguf_writer_new(&s.w, err)) != DESK_OK) goto done;
    if ((st = desk_gguf_writer_copy_kv(s.w, s.in, err)) != DESK_OK) goto done;
    if ((st = desk_gguf_writer_set_u32(s.w, "general.quantization_version", GGML_QNT_VERSION, err)) != DESK_OK ||
        (st = desk_gguf_writer_set_u32(s.w, "general.file_type", r->ftype, err)) != DESK_OK)
        goto done;
    if ((st = convert_all(&s, o, loras, n_loras, err)) != DESK_OK) goto done;
    st = desk_gguf_writer_write(s.w, out, err);
done:
    qstate_free(&s);
    return st;
}
