/*
 * kernels.c - dispatch and work splitting of the matrix product (see
 * kernels.h).
 *
 * A product runs as two thread-pool jobs.  First the activations are
 * converted to the weight type's vec_dot_type (the threads split the
 * blocks of all rows evenly).  Then the threads take chunks of weight rows
 * from a shared counter, so a thread slowed by another process on its core
 * takes fewer; rows of one weight need no synchronisation.  Inside a chunk
 * every group of up to 4 activation rows passes over each weight row, so
 * a weight row is read once per 4 outputs and a chunk of rows stays in
 * cache while all groups pass.
 *
 * The table choice is the only process-wide state (made once, read-only
 * after): see desk_kernels_init.
 */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"

extern const desk_kernel_table desk_kernels_scalar;
#if defined(__x86_64__)
extern const desk_kernel_table desk_kernels_avx2;
extern const desk_kernel_table desk_kernels_avx512;
#endif

/* Weight rows per chunk for prefill: 16 rows of a 2048-wide Q4 matrix are
 * 18 KiB, which stays in L1/L2 while every activation group passes. */
#define CHUNK_ROWS_BATCH 16
#define TILE_ACT 4 /* activation rows per tile */

const desk_kernel_table *desk_kernels_get(desk_isa isa) {
    desk_cpu cpu;
    desk_cpu_detect(&cpu);
    switch (isa) {
    case DESK_ISA_SCALAR: return &desk_kernels_scalar;
#if defined(__x86_64__)
    case DESK_ISA_AVX2: return desk_cpu_has_avx2(&cpu) ? &desk_kernels_avx2 : NULL;
    case DESK_ISA_AVX512: return desk_cpu_has_avx512(&cpu) ? &desk_kernels_avx512 : NULL;
#endif
    default: return NULL;
    }
}

/* The process's choice, written once under pthread_once. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const desk_kernel_table *g_table;
static char g_error[192];

static void choose_table(void) {
    static const char *const names[DESK_ISA_COUNT] = {"scalar", "avx2", "avx512"};
    const char *want = getenv("DESK_ISA");
    if (want && *want) {
        for (int i = 0; i < DESK_ISA_COUNT; i++) {
            if (strcmp(want, names[i]) != 0) continue;
            g_table = desk_kernels_get((desk_isa)i);
            if (!g_table)
                snprintf(g_error, sizeof g_error, "DESK_ISA=%s: this CPU or build cannot run %s kernels",
                         want, names[i]);
            return;
        }
        snprintf(g_error, sizeof g_error, "DESK_ISA=%.40s: unknown instruction set (scalar, avx2, avx512)",
                 want);
        return;
    }
    for (int i = DESK_ISA_COUNT - 1; i >= 0 && !g_table; i--) g_table = desk_kernels_get((desk_isa)i);
}

desk_status desk_kernels_init(desk_err *err) {
    pthread_once(&g_once, choose_table);
    if (!g_table) return desk_errf(err, DESK_E_UNSUPPORTED, "%s", g_error);
    return DESK_OK;
}

const char *desk_kernels_isa(void) {
    pthread_once(&g_once, choose_table);
    return g_table ? g_table->name : "none";
}

/* ---- activations ------------------------------------------------------ */

static desk_quant_fn act_quant_of(const desk_kernel_table *kt, const desk_type_info *wt) {
    if (kt->act_quant[wt->vec_dot_type]) return kt->act_quant[wt->vec_dot_type];
    return desk_type_get(wt->vec_dot_type)->act_quant;
}

desk_status desk_kernels_quantize_acts(const desk_kernel_table *kt, uint32_t wtype, const float *src,
                                       void *dst, int64_t n, desk_err *err) {
    const desk_type_info *wt = desk_type_get(wtype);
    if (!wt || !wt->vec_dot || !act_quant_of(kt, wt))
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk has no dot product for type %s", desk_type_name(wtype));
    if (n < 0 || !desk_type_row_ok(wt->vec_dot_type, n) || !desk_type_row_ok(wtype, n))
        return desk_errf(err, DESK_E_ARG, "row of %lld elements is not a whole number of %s blocks",
                         (long long)n, wt->name);
    act_quant_of(kt, wt)(src, dst, n);
    return DESK_OK;
}

/* ---- the product ------------------------------------------------------ */

typedef struct mm_job {
    const desk_mat *w;
    desk_vec_dot_fn vec_dot;
    desk_dot_tile_fn dot_tile; /* NULL: vec_dot per pair */
    desk_quant_fn act_quant;   /* NULL: activations used as they are (F32) */
    int64_t act_blck;          /* elements per activation block */
    const float *x;
    int64_t n;
    float *y;
    const unsigned char *act; /* n rows of act_row bytes */
    unsigned char *act_out;
    size_t act_row;
    int64_t chunk;     /* weight rows per chunk */
    atomic_llong next; /* the next chunk's first row */
} mm_job;

static void quantize_task(void *p, int ith, int nth) {
    mm_job *j = p;
    const int64_t nb = j->w->cols / j->act_blck, total = nb * j->n;
    const int64_t u0 = total * ith / nth, u1 = total * (ith + 1) / nth;
    const size_t bbytes = j->act_row / (size_t)nb;
    for (int64_t u = u0; u < u1;) {
        const int64_t row = u / nb, b = u % nb;
        const int64_t cnt = (nb - b < u1 - u) ? nb - b : u1 - u;
        j->act_quant(j->x + row * j->w->cols + b * j->act_blck, j->act_out + (size_t)row * j->act_row + (size_t)b * bbytes,
                     cnt * j->act_blck);
        u += cnt;
    }
}

static void dot_chunk(const mm_job *j, int64_t r0, int64_t r1) {
    const desk_mat *w = j->w;
    const unsigned char *wd = w->data;
    float out[16];
    for (int64_t c = 0; c < j->n; c += TILE_ACT) {
        const int nc = (int)(j->n - c < TILE_ACT ? j->n - c : TILE_ACT);
        const unsigned char *a = j->act + (size_t)c * j->act_row;
        float *yc = j->y + c * w->rows;
        if (!j->dot_tile) {
            for (int64_t r = r0; r < r1; r++)
                for (int i = 0; i < nc; i++)
                    yc[i * w->rows + r] = j->vec_dot(w->cols, wd + (size_t)r * w->row_bytes, a + (size_t)i * j->act_row);
            continue;
        }
        /* A matrix-vector product takes 4 weight rows at a time (independent
         * sums in flight); a batch 2 weight rows x 4 activation rows. */
        const int64_t step = nc == 1 ? 4 : 2;
        for (int64_t r = r0; r < r1; r += step) {
            const int nr = (int)(r1 - r < step ? r1 - r : step);
            j->dot_tile(w->cols, wd + (size_t)r * w->row_bytes, w->row_bytes, nr, a, j->act_row, nc, out);
            for (int ri = 0; ri < nr; ri++)
                for (int ci = 0; ci < nc; ci++) yc[ci * w->rows + r + ri] = out[ri * nc + ci];
        }
    }
}

static void dot_task(void *p, int ith, int nth) {
    mm_job *j = p;
    (void)ith;
    (void)nth;
    for (;;) {
        const int64_t r0 = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
        if (r0 >= j->w->rows) return;
        dot_chunk(j, r0, r0 + j->chunk < j->w->rows ? r0 + j->chunk : j->w->rows);
    }
}

static size_t act_row_bytes(const desk_mat *w) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti) return 0;
    return desk_type_row_size(ti->vec_dot_type, w->cols);
}

size_t desk_matmul_scratch_size(const desk_mat *w, int64_t n) {
    return act_row_bytes(w) * (size_t)(n > 0 ? n : 0) + 64;
}

desk_status desk_matmul_with(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *w,
                             const float *x, int64_t n, float *y, void *scratch, desk_err *err) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || !ti->vec_dot)
        return desk_errf(err, DESK_E_UNSUPPORTED, "no matrix kernel for tensor type %s", desk_type_name(w->type));
    const desk_type_info *at = desk_type_get(ti->vec_dot_type);
    if (!desk_type_row_ok(w->type, w->cols) || !desk_type_row_ok(ti->vec_dot_type, w->cols))
        return desk_errf(err, DESK_E_ARG, "matmul: %lld columns are not whole %s blocks", (long long)w->cols,
                         ti->name);
    if (n < 0 || w->rows < 0)
        return desk_errf(err, DESK_E_ARG, "matmul: negative size (%lld inputs, %lld rows)", (long long)n,
                         (long long)w->rows);
    if (n == 0 || w->rows == 0) return DESK_OK;
    mm_job j = {.w = w,
                .vec_dot = kt->vec_dot[w->type] ? kt->vec_dot[w->type] : ti->vec_dot,
                .dot_tile = kt->dot_tile[w->type],
                .act_blck = at->blck,
                .x = x,
                .n = n,
                .y = y,
                .act_row = act_row_bytes(w)};
    const int nth = desk_threadpool_size(tp);
    if (n == 1) {
        /* Several chunks per thread so a busy core does not hold up the rest. */
        j.chunk = (w->rows + 4 * nth - 1) / (4 * nth);
        if (j.chunk < 8) j.chunk = 8;
    } else {
        j.chunk = CHUNK_ROWS_BATCH;
    }
    atomic_init(&j.next, 0);
    if (ti->vec_dot_type == DESK_TYPE_F32) {
        j.act = (const unsigned char *)x;
    } else {
        j.act_quant = act_quant_of(kt, ti);
        if (!j.act_quant)
            return desk_errf(err, DESK_E_UNSUPPORTED, "cannot convert activations to %s", at->name);
        j.act_out = scratch;
        j.act = scratch;
        desk_threadpool_run(tp, quantize_task, &j);
    }
    desk_threadpool_run(tp, dot_task, &j);
    return DESK_OK;
}

desk_status desk_matmul(desk_threadpool *tp, const desk_mat *w, const float *x, int64_t n, float *y,
                        void *scratch, desk_err *err) {
    desk_status s = desk_kernels_init(err);
    if (s) return s;
    return desk_matmul_with(g_table, tp, w, x, n, y, scratch, err);
}

desk_status desk_get_row(const desk_mat *w, int64_t r, float *dst, desk_err *err) {
    if (r < 0 || r >= w->rows)
        return desk_errf(err, DESK_E_RANGE, "row %lld is out of range [0, %lld)", (long long)r, (long long)w->rows);
    return desk_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)r * w->row_bytes, dst, w->cols,
                               err);
}
