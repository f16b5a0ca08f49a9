/*
 * ref_util.h - small helpers the reference quantizers share (private to
 * src/tensor).
 *
 * Every float-to-int conversion in the quantizers goes through these: they
 * clamp first, so out-of-range or NaN input can never reach a C cast (which
 * would be undefined behaviour) and the result is always in range.
 */
#ifndef DESK_TENSOR_REF_UTIL_H
#define DESK_TENSOR_REF_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The reference quantizers must not fuse a*b+c into one rounding: the
 * dequantizers are bit-exact with ggml's, which round twice.  GCC in ISO C
 * mode already keeps them apart; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
/* IQ4_NL / IQ4_XS level search (ref_legacy.c).  desk_iq4_fit picks the
 * scale D for which X[0..N) ~ D * desk_iq4nl_values[L] has the least
 * W-weighted squared error, trying 2 * (2 * NTRY + 1) candidate scales
 * (either end of the grid on the largest value, nudged by -NTRY..NTRY
 * levels) and refitting D by least squares for each; fills L and returns
 * D (0 for an all-zero block).  desk_iq4_assign re-picks L as the nearest
 * level to each X / D. */
float desk_iq4_fit(const float *x, int n, const float *w, uint8_t *L, int ntry);
void desk_iq4_assign(const float *x, int n, float d, uint8_t *L);

#endif

/* V clamped to [LO, HI], then rounded to nearest, ties to even (ggml's
 * nearest_int).  NaN gives LO. */
static inline int desk_q_round(float v, int lo, int hi) {
    v = fmaxf(v, (float)lo); /* fmaxf(NaN, lo) is lo */
    v = fminf(v, (float)hi);
    /* Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa
     * bits (exact for |v| < 2^22, which the clamp guarantees). */
    float t = v + 12582912.0f;
    uint32_t u;
    memcpy(&u, &t, 4);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

/* V clamped to [LO, HI], then rounded half away from zero (C's roundf, as
 * ggml's Q8_0/Q8_1 reference quantizers round). */
static inline int desk_q_roundf(float v, int lo, int hi) {
    v = fmaxf(v, (float)lo);
    v = fminf(v, (float)hi);
    return (int)roundf(v);
}

/* V clamped to [0, HI], then truncated (ggml's legacy "(int)(x + 0.5f)"). */
static inline int desk_q_trunc(float v, int hi) {
    v = fmaxf(v, 0.0f);
    v = fminf(v, (float)hi);
    return (int)v;
}

/* V clamped to the finite f16 range, so that a scale stored as f16 never
 * becomes inf (ggml's quantizers overflow there; desk saturates instead,
 * clipping the few values beyond 65504 times the largest level). */
static inline float desk_q_sat(float v) { return fminf(fmaxf(v, -65504.0f), 65504.0f); }

/* Exact integer dot of N int8 levels. */
static inline int desk_q_dot_i8(const int8_t *a, const int8_t *b, int n) {
    int s = 0;
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* Sum of N int8 levels. */
static inline int desk_q_sum_i8(const int8_t *a, int n) {
    int s = 0;
    for (int j = 0; j < n; j++) s += a[j];
    return s;
}

/* Unaligned little-endian reads and writes of packed fields. */
static inline uint32_t desk_q_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void desk_q_store_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* IQ4_NL / IQ4_XS level search (ref_legacy.c).  desk_iq4_fit picks the
 * scale D for which X[0..N) ~ D * desk_iq4nl_values[L] has the least
 * W-weighted squared error, trying 2 * (2 * NTRY + 1) candidate scales
 * (either end of the grid on the largest value, nudged by -NTRY..NTRY
 * levels) and refitting D by least squares for each; fills L and returns
 * D (0 for an all-zero block).  desk_iq4_assign re-picks L as the nearest
 * level to each X / D. */
float desk_iq4_fit(const float *x, int n, const float *w, uint8_t *L, int ntry);
void desk_iq4_assign(const float *x, int n, float d, uint8_t *L);

#endif
