/*
 * kernel.c - timing one matrix product of the kernels, for bench_matmul:
 * a weight matrix of random rows (made with the reference quantizer,
 * repeated to fill it: the kernels read every byte either way) on
 * transparent huge pages as a model's are, optionally repacked as a model
 * load repacks it, in several copies used in turn so that decode can be
 * made to stream from memory rather than from the cache.
 */
#define _GNU_SOURCE /* madvise, MAP_ANONYMOUS */
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "bench/env.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "tensor/types.h"

#define DISTINCT_ROWS 64
#define MAX_SAMPLES 4096
#define MAX_COPIES 256

static unsigned char *huge_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    (void)madvise(p, n, MADV_HUGEPAGE);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 11) / 9007199254740992.0 - 0.5);
}

/* The median, not the fastest call: on a shared machine the fastest
 * matrix-vector calls read DRAM far faster than any model's decode sees
 * (another tenant idle for a moment, part of a copy still in a cache). */
static desk_status run_timed(desk_threadpool *tp, const desk_mat *w, int copies, const float *x, int64_t n, float *y,
                             void *scratch, double min_s, double *seconds, desk_err *err) {
    desk_status st = desk_matmul(tp, w, x, n, y, scratch, err);
    if (st) return st;
    double *samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!samples) return desk_errf(err, DESK_E_NOMEM, "out of memory for timings");
    const double t0 = desk_now();
    int reps = 0;
    do {
        const double t1 = desk_now();
        if ((st = desk_matmul(tp, &w[reps % copies], x, n, y, scratch, err))) break;
        samples[reps % MAX_SAMPLES] = desk_now() - t1;
        reps++;
    } while (desk_now() - t0 < min_s || reps < 3);
    if (!st) {
        const int m = reps < MAX_SAMPLES ? reps : MAX_SAMPLES;
        qsort(samples, (size_t)m, sizeof samples[0], cmp_double);
        *seconds = samples[m / 2];
    }
    free(samples);
    return st;
}

desk_status desk_bench_kernel(const desk_kernel_bench *p, double *seconds, desk_err *err) {
    const desk_type_info *ti = desk_type_get(p->type);
    if (!ti || !ti->vec_dot) return desk_errf(err, DESK_E_UNSUPPORTED, "no matrix kernel for type %s", desk_type_name(p->type));
    if (p->rows < 1 || p->cols < 1 || p->n < 1 || p->threads < 1 || p->copies < 1 || p->copies > MAX_COPIES ||
        !desk_type_row_ok(p->type, p->cols))
        return desk_errf(err, DESK_E_ARG, "kernel benchmark: bad shape %lldx%lld, n %lld, %d threads, %d copies",
                         (long long)p->rows, (long long)p->cols, (long long)p->n, p->threads, p->copies);
    desk_status st = desk_kernels_init(err);
    if (st) return st;
    const size_t rb = desk_type_row_size(p->type, p->cols);
    const size_t mb = (rb * (size_t)p->rows + 63) / 64 * 64;
    const desk_mat shape = {.type = p->type, .rows = p->rows, .cols = p->cols, .row_bytes = rb};
    const size_t pbytes = (desk_repack_size(&shape) + 63) / 64 * 64;
    unsigned char *data = huge_alloc(mb * (size_t)p->copies);
    unsigned char *packed = p->repack && pbytes ? huge_alloc(pbytes * (size_t)p->copies) : NULL;
    float *x = malloc((size_t)(p->n * p->cols) * sizeof(float));
    /* y is also the scratch row the weights are made from */
    const int64_t ny = p->n * p->rows > p->cols ? p->n * p->rows : p->cols;
    float *y = malloc((size_t)ny * sizeof(float));
    desk_mat *w = calloc((size_t)p->copies, sizeof *w);
    void *scratch = aligned_alloc(64, (desk_matmul_scratch_size(&shape, p->n) + 63) / 64 * 64);
    desk_threadpool *tp = NULL;
    if (!data || (p->repack && pbytes && !packed) || !x || !y || !w || !scratch) {
        st = desk_errf(err, DESK_E_NOMEM, "out of memory for a %lldx%lld kernel benchmark", (long long)p->rows,
                       (long long)p->cols);
        goto done;
    }
    if ((st = desk_threadpool_new(p->threads, &tp, err))) goto done;
    uint64_t rng = 12345;
    for (int64_t i = 0; i < p->n * p->cols; i++) x[i] = frand(&rng);
    for (int r = 0; r < DISTINCT_ROWS && r < p->rows; r++) {
        for (int64_t k = 0; k < p->cols; k++) y[k] = frand(&rng) * 0.1f;
        if ((st = desk_quantize_row(p->type, y, data + (size_t)r * rb, p->cols, err))) goto done;
    }
    for (int64_t r = DISTINCT_ROWS; r < p->rows; r++)
        memcpy(data + (size_t)r * rb, data + (size_t)(r % DISTINCT_ROWS) * rb, rb);
    for (int c = 1; c < p->copies; c++) memcpy(data + (size_t)c * mb, data, mb);
    for (int c = 0; c < p->copies; c++) {
        w[c] = shape;
        w[c].data = data + (size_t)c * mb;
        desk_err ignored = {0};
        if (packed && desk_repack(&w[c], packed + (size_t)c * pbytes, &ignored) == DESK_OK)
            w[c].packed = packed + (size_t)c * pbytes;
    }
    st = run_timed(tp, w, p->copies, x, p->n, y, scratch, p->min_s, seconds, err);
done:
    desk_threadpool_free(tp);
    free(scratch);
    free(w);
    free(x);
    free(y);
    if (packed) munmap(packed, pbytes * (size_t)p->copies);
    if (data) munmap(data, mb * (size_t)p->copies);
    return st;
}
