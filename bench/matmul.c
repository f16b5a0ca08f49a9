/*
 * bench/matmul.c - throughput of the matrix kernels per weight type at
 * llama-1b shapes: the matrix-vector product of decoding (n = 1; GB/s of
 * weights read) and the batch product of prompt processing (n = 512;
 * GFLOP/s), on 1 and 2 threads, with the kernels DESK_ISA selects
 * (default: the best).  Each figure is the median call (desk_bench_kernel).
 *
 * Usage: bench_matmul [--quick] [--repack] [--copies N] [TYPE...]
 *        (e.g. bench_matmul --repack --copies 16 q4_0 q4_k)
 * --repack: the weights the kernels read repacked (Q4_0, Q4_K) are
 * repacked first, as a model load does.  --copies N: N copies of each
 * matrix, used in turn, so that their total (N x 9 MiB for Q4_0
 * 8192x2048) exceeds the last-level cache and decode streams from memory
 * as a model's does (default 1: cache-resident).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "desk/bench.h"

static double timed(desk_kernel_bench k, int threads, int64_t n) {
    k.threads = threads;
    k.n = n;
    double s = 0;
    desk_err err = {0};
    if (desk_bench_kernel(&k, &s, &err) != DESK_OK) {
        fprintf(stderr, "bench_matmul: %s\n", err.msg);
        exit(err.status == DESK_E_UNSUPPORTED || err.status == DESK_E_ARG ? 2 : 1);
    }
    return s;
}

int main(int argc, char **argv) {
    bool quick = false, repack = false;
    int types[64], n_types = 0, copies = 1;
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
            if (t < 0 || n_types == 64) {
                fprintf(stderr, "bench_matmul: unknown type '%s'\n", argv[i]);
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
    const char *isa = desk_isa_current(&err);
    if (strcmp(isa, "none") == 0) {
        fprintf(stderr, "bench_matmul: %s\n", err.msg);
        return 2;
    }
    const int64_t shapes[2][2] = {{2048, 2048}, {8192, 2048}}; /* rows x cols */
    const int64_t batch = quick ? 64 : 512;
    printf("isa %s%s, %d cop%s; matvec: GB/s of weights (GFLOP/s); matmul n=%lld: GFLOP/s\n", isa,
           repack ? ", repacked" : "", copies, copies == 1 ? "y" : "ies", (long long)batch);
    printf("%-5s %-10s %7s %18s %18s %10s %10s\n", "type", "shape", "MiB", "matvec 1t", "matvec 2t", "mm 1t",
           "mm 2t");
    for (int ti = 0; ti < n_types; ti++) {
        for (int s = 0; s < 2; s++) {
            const desk_kernel_bench k = {.type = (uint32_t)types[ti], .rows = shapes[s][0], .cols = shapes[s][1],
                                         .copies = copies, .repack = repack, .min_s = quick ? 0.05 : 0.3};
            double mv[2], mm[2];
            for (int t = 0; t < 2; t++) {
                mv[t] = timed(k, t + 1, 1);
                mm[t] = timed(k, t + 1, batch);
            }
            const double bytes = (double)desk_type_row_size(k.type, k.cols) * (double)k.rows;
            const double flop1 = 2.0 * (double)k.rows * (double)k.cols;
            char shape[32];
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)k.rows, (long long)k.cols);
            printf("%-5s %-10s %7.1f %8.1f (%6.1f) %8.1f (%6.1f) %10.1f %10.1f\n", desk_type_name(k.type), shape,
                   bytes / 1048576.0, bytes / mv[0] * 1e-9, flop1 / mv[0] * 1e-9, bytes / mv[1] * 1e-9,
                   flop1 / mv[1] * 1e-9, flop1 * (double)batch / mm[0] * 1e-9, flop1 * (double)batch / mm[1] * 1e-9);
            fflush(stdout);
        }
    }
    return 0;
}
