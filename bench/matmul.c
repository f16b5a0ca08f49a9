/*
 * bench/matmul.c - throughput of desk_matmul per weight type at llama-1b
 * shapes: the matrix-vector product of decoding (n = 1; GB/s of weights
 * read) and the batch product of prompt processing (n = 512; GFLOP/s), on
 * 1 and 2 threads, with the kernels DESK_ISA selects (default: the best).
 *
 * Usage: bench_matmul [--quick] [--repack] [--copies N] [TYPE...]
 *        (e.g. bench_matmul --repack --copies 16 q4_0 q4_k)
 * Weights are random rows made with the reference quantizer, repeated to
 * fill the matrix (the kernels read every byte either way), on transparent
 * huge pages as a model's are.  Each number is the median of repeated
 * calls.  --repack: the weights the kernels
 * read repacked (Q4_0, Q4_K) are repacked first, as a model load does.
 * --copies N: N copies of each matrix, used in turn, so that their total
 * (N x 9 MiB for Q4_0 8192x2048) exceeds the last-level cache and decode
 * streams from memory as a model's does (default 1: cache-resident).
 */
#define _GNU_SOURCE /* madvise, MAP_ANONYMOUS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "tensor/types.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Weights on transparent huge pages where the system has them, as a
 * model load places them (src/model/model.c). */
static unsigned char *huge_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    (void)madvise(p, n, MADV_HUGEPAGE);
    return p;
}

static void huge_free(unsigned char *p, size_t n) {
    if (p) munmap(p, n);
}

static uint64_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 - 0.5);
}

#define DISTINCT_ROWS 64

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define MAX_SAMPLES 4096

/* Seconds of the median call of desk_matmul over at least MIN_S seconds
 * (each call reads the next copy).  The median, not the fastest call: on
 * this shared machine the fastest matrix-vector calls read DRAM at up to
 * 1.7x the typical rate (another tenant idle for a moment, part of a
 * copy still in a cache), which no model's decode sees. */
static double time_matmul(desk_threadpool *tp, const desk_mat *w, int copies, const float *x, int64_t n, float *y,
                          void *scratch, double min_s) {
    desk_err err = {0};
    if (desk_matmul(tp, w, x, n, y, scratch, &err) != DESK_OK) {
        fprintf(stderr, "bench_matmul: %s\n", err.msg);
        exit(1);
    }
    static double samples[MAX_SAMPLES];
    const double t0 = now();
    int reps = 0;
    do {
        const double t1 = now();
        desk_matmul(tp, &w[reps % copies], x, n, y, scratch, &err);
        samples[reps % MAX_SAMPLES] = now() - t1;
        reps++;
    } while (now() - t0 < min_s || reps < 3);
    const int m = reps < MAX_SAMPLES ? reps : MAX_SAMPLES;
    qsort(samples, (size_t)m, sizeof samples[0], cmp_double);
    return samples[m / 2];
}

int main(int argc, char **argv) {
    bool quick = false, repack = false;
    int types[DESK_TYPE_COUNT], n_types = 0, copies = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--repack") == 0) {
            repack = true;
        } else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc) {
            copies = atoi(argv[++i]);
            if (copies < 1 || copies > 256) {
                fprintf(stderr, "bench_matmul: --copies takes 1..256\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_matmul [--quick] [--repack] [--copies N] [TYPE...]\n");
            return 0;
        } else {
            const int t = desk_type_from_name(argv[i]);
            if (t < 0 || !desk_type_get((uint32_t)t)->vec_dot) {
                fprintf(stderr, "bench_matmul: no matrix kernel for type '%s'\n", argv[i]);
                return 2;
            }
            types[n_types++] = t;
        }
    }
    if (n_types == 0) {
        const int def[] = {DESK_TYPE_Q4_0, DESK_TYPE_Q4_1, DESK_TYPE_Q5_0, DESK_TYPE_Q8_0, DESK_TYPE_Q4_K,
                           DESK_TYPE_Q5_K, DESK_TYPE_Q6_K, DESK_TYPE_F16,  DESK_TYPE_BF16, DESK_TYPE_F32};
        for (size_t i = 0; i < sizeof def / sizeof def[0]; i++) types[n_types++] = def[i];
    }
    desk_err err = {0};
    if (desk_kernels_init(&err) != DESK_OK) {
        fprintf(stderr, "bench_matmul: %s\n", err.msg);
        return 2;
    }
    const int64_t shapes[2][2] = {{2048, 2048}, {8192, 2048}}; /* rows x cols */
    const int64_t batch = quick ? 64 : 512;
    const double min_s = quick ? 0.05 : 0.3;
    printf("isa %s%s, %d cop%s; matvec: GB/s of weights (GFLOP/s); matmul n=%lld: GFLOP/s\n", desk_kernels_isa(),
           repack ? ", repacked" : "", copies, copies == 1 ? "y" : "ies", (long long)batch);
    printf("%-5s %-10s %7s %18s %18s %10s %10s\n", "type", "shape", "MiB", "matvec 1t", "matvec 2t", "mm 1t",
           "mm 2t");
    float *x = malloc((size_t)batch * 2048 * sizeof(float));
    float *y = malloc((size_t)batch * 8192 * sizeof(float));
    for (int64_t i = 0; i < batch * 2048; i++) x[i] = frand();
    desk_threadpool *tp[2];
    for (int i = 0; i < 2; i++)
        if (desk_threadpool_new(i + 1, &tp[i], &err) != DESK_OK) {
            fprintf(stderr, "bench_matmul: %s\n", err.msg);
            return 1;
        }
    for (int ti = 0; ti < n_types; ti++) {
        const int type = types[ti];
        for (int s = 0; s < 2; s++) {
            const int64_t rows = shapes[s][0], cols = shapes[s][1];
            const size_t rb = desk_type_row_size((uint32_t)type, cols);
            const size_t mb = (rb * (size_t)rows + 63) / 64 * 64;
            unsigned char *data = huge_alloc(mb * (size_t)copies);
            float *tmp = malloc((size_t)cols * sizeof(float));
            for (int r = 0; r < DISTINCT_ROWS; r++) {
                for (int64_t k = 0; k < cols; k++) tmp[k] = frand() * 0.1f;
                desk_quantize_row((uint32_t)type, tmp, data + (size_t)r * rb, cols, &err);
            }
            for (int64_t r = DISTINCT_ROWS; r < rows; r++)
                memcpy(data + (size_t)r * rb, data + (size_t)(r % DISTINCT_ROWS) * rb, rb);
            for (int c = 1; c < copies; c++) memcpy(data + (size_t)c * mb, data, mb);
            free(tmp);
            desk_mat w[256];
            const size_t pbytes = (desk_repack_size(&(desk_mat){.type = (uint32_t)type, .rows = rows, .cols = cols}) + 63) / 64 * 64;
            unsigned char *packed = repack && pbytes ? huge_alloc(pbytes * (size_t)copies) : NULL;
            for (int c = 0; c < copies; c++) {
                w[c] = (desk_mat){.type = (uint32_t)type, .rows = rows, .cols = cols, .row_bytes = rb, .data = data + (size_t)c * mb};
                if (packed && desk_repack(&w[c], packed + (size_t)c * pbytes, &err) == DESK_OK) w[c].packed = packed + (size_t)c * pbytes;
            }
            void *scratch = aligned_alloc(64, (desk_matmul_scratch_size(&w[0], batch) + 63) / 64 * 64);
            double mv[2], mm[2];
            for (int t = 0; t < 2; t++) {
                mv[t] = time_matmul(tp[t], w, copies, x, 1, y, scratch, min_s);
                mm[t] = time_matmul(tp[t], w, copies, x, batch, y, scratch, min_s);
            }
            const double bytes = (double)rb * (double)rows, flop1 = 2.0 * (double)rows * (double)cols;
            char shape[32];
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)cols);
            printf("%-5s %-10s %7.1f %8.1f (%6.1f) %8.1f (%6.1f) %10.1f %10.1f\n", desk_type_name((uint32_t)type), shape,
                   bytes / 1048576.0, bytes / mv[0] * 1e-9, flop1 / mv[0] * 1e-9, bytes / mv[1] * 1e-9,
                   flop1 / mv[1] * 1e-9, flop1 * (double)batch / mm[0] * 1e-9, flop1 * (double)batch / mm[1] * 1e-9);
            fflush(stdout);
            free(scratch);
            huge_free(packed, pbytes * (size_t)copies);
            huge_free(data, mb * (size_t)copies);
        }
    }
    for (int i = 0; i < 2; i++) desk_threadpool_free(tp[i]);
    free(x);
    free(y);
    return 0;
}
