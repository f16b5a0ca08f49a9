/*
 * ref_float.c - reference routines of the float types F32, F16 and BF16.
 *
 * Float rows are dotted with plain F32 activations (not activations rounded
 * to F16/BF16 as ggml does): desk keeps activations at full precision for
 * float weights, and the reference accumulates in double so that kernels are
 * judged against the most accurate value.
 */
#include <string.h>

#include "core/fp16.h"
#include "tensor/ref.h"

void desk_ref_dequant_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void desk_ref_quant_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

float desk_ref_vec_dot_f32(int64_t n, const void *w, const void *act) {
    const float *x = w, *y = act;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return (float)s;
}

/* Rows may sit at any byte offset in a file; read halves with memcpy. */
static inline uint16_t load_u16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* F16 and BF16 differ only in the conversion of one element. */
typedef float (*half_to_f32)(uint16_t);
typedef uint16_t (*f32_to_half)(float);

static void dequant_half(const void *src, float *dst, int64_t n, half_to_f32 cvt) {
    const unsigned char *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = cvt(load_u16(p + 2 * i));
}

static void quant_half(const float *src, void *dst, int64_t n, f32_to_half cvt) {
    unsigned char *p = dst;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = cvt(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static float dot_half(int64_t n, const void *w, const float *y, half_to_f32 cvt) {
    const unsigned char *p = w;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)cvt(load_u16(p + 2 * i)) * (double)y[i];
    return (float)s;
}

void desk_ref_dequant_f16(const void *src, float *dst, int64_t n) { dequant_half(src, dst, n, desk_f16_to_f32); }
void desk_ref_quant_f16(const float *src, void *dst, int64_t n) { quant_half(src, dst, n, desk_f32_to_f16); }
float desk_ref_vec_dot_f16(int64_t n, const void *w, const void *act) {
    return dot_half(n, w, act, desk_f16_to_f32);
}

void desk_ref_dequant_bf16(const void *src, float *dst, int64_t n) { dequant_half(src, dst, n, desk_bf16_to_f32); }
void desk_ref_quant_bf16(const float *src, void *dst, int64_t n) { quant_half(src, dst, n, desk_f32_to_bf16); }
float desk_ref_vec_dot_bf16(int64_t n, const void *w, const void *act) {
    return dot_half(n, w, act, desk_bf16_to_f32);
}
