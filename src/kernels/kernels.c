/*
 * kernels.c - matrix multiplication over weights used in place, for every
 * type with a dot product in the type table.
 *
 * Activations are first converted to the weight type's vec_dot_type
 * (bit-exact with llama.cpp's CPU backend: desk_quantize_acts), then each
 * thread takes a contiguous range of weight rows and dots every activation
 * row with them, a block of weight rows at a time so that a block stays in
 * cache while all activation rows pass over it.
 */
#include "kernels/kernels.h"

#include <string.h>

#include "core/error.h"
#include "tensor/types.h"

#define ROW_BLOCK 16

typedef struct mm_job {
    const desk_mat *w;
    const desk_type_info *ti;
    const float *x;
    int64_t n;
    float *y;
    const unsigned char *act; /* converted activations, n rows */
    size_t act_row;           /* bytes per converted row */
    unsigned char *act_out;
    desk_status st;
} mm_job;

static size_t act_row_bytes(const desk_mat *w) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti) return 0;
    return desk_type_row_size(ti->vec_dot_type, w->cols);
}

size_t desk_matmul_scratch_size(const desk_mat *w, int64_t n) {
    return act_row_bytes(w) * (size_t)(n > 0 ? n : 0) + 64;
}

static void quantize_task(void *p, int ith, int nth) {
    mm_job *j = p;
    for (int64_t i = ith; i < j->n; i += nth) {
        if (desk_quantize_acts(j->w->type, j->x + i * j->w->cols, j->act_out + (size_t)i * j->act_row,
                               j->w->cols, NULL) != DESK_OK)
            j->st = DESK_E_UNSUPPORTED;
    }
}

static void dot_task(void *p, int ith, int nth) {
    mm_job *j = p;
    const desk_mat *w = j->w;
    int64_t per = (w->rows + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per;
    if (r1 > w->rows) r1 = w->rows;
    desk_vec_dot_fn dot = j->ti->vec_dot;
    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
        int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;
        for (int64_t i = 0; i < j->n; i++) {
            const void *a = j->act + (size_t)i * j->act_row;
            float *yi = j->y + i * w->rows;
            for (int64_t r = rb; r < re; r++)
                yi[r] = dot(w->cols, (const unsigned char *)w->data + (size_t)r * w->row_bytes, a);
        }
    }
}

desk_status desk_matmul(desk_threadpool *tp, const desk_mat *w, const float *x, int64_t n,
                        float *y, void *scratch, desk_err *err) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || !ti->vec_dot)
        return desk_errf(err, DESK_E_UNSUPPORTED, "no matrix kernel for tensor type %s",
                         desk_type_name(w->type));
    if (!desk_type_row_ok(w->type, w->cols))
        return desk_errf(err, DESK_E_ARG, "matmul: %lld columns are not whole %s blocks",
                         (long long)w->cols, ti->name);
    mm_job j = {.w = w, .ti = ti, .x = x, .n = n, .y = y, .act_row = act_row_bytes(w), .st = DESK_OK};
    if (ti->vec_dot_type == DESK_TYPE_F32) {
        j.act = (const unsigned char *)x;
    } else {
        j.act_out = scratch;
        j.act = scratch;
        desk_threadpool_run(tp, quantize_task, &j);
        if (j.st != DESK_OK)
            return desk_errf(err, DESK_E_UNSUPPORTED, "cannot convert activations for %s", ti->name);
    }
    desk_threadpool_run(tp, dot_task, &j);
    return DESK_OK;
}

desk_status desk_get_row(const desk_mat *w, int64_t r, float *dst, desk_err *err) {
    if (r < 0 || r >= w->rows)
        return desk_errf(err, DESK_E_RANGE, "row %lld is out of range [0, %lld)", (long long)r,
                         (long long)w->rows);
    return desk_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)r * w->row_bytes,
                               dst, w->cols, err);
}

const char *desk_kernels_isa(void) { return "scalar"; }
