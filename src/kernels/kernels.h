/*
 * kernels.h - the compute kernels the model calls, dispatched at run time
 * to the best instruction set this CPU has (scalar, AVX2, AVX-512, NEON).
 *
 * The model sees only these entry points; each ISA file implements them and
 * every implementation is tested against the scalar references in
 * src/tensor.  DESK_ISA=scalar|avx2|avx512|neon forces a path.
 */
#ifndef DESK_KERNELS_H
#define DESK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "desk.h"

/* A weight matrix used in place: ROWS rows of COLS elements of TYPE. */
typedef struct desk_mat {
    uint32_t type;     /* desk_type */
    int64_t rows;
    int64_t cols;
    size_t row_bytes;  /* desk_type_row_size(type, cols) */
    const void *data;
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

/* The instruction set in use ("avx512", "avx2", "scalar", "neon"). */
const char *desk_kernels_isa(void);

#endif
