/*
 * ref_legacy.c - reference routines of the 32-element block types: Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 and IQ4_NL.
 *
 * Dequantizers are bit-exact with ggml's.  The Q4/Q5/Q8 quantizers produce
 * the same bytes as ggml's reference quantizers (which is what makes model
 * files written by desk and by llama-quantize comparable); IQ4_NL searches
 * its block scale.  Q8_0 and Q8_1 are also the activation formats the
 * legacy types are dotted with.
 *
 * Block layout reminder: element j of a block (j < 16) sits in the low
 * nibble of qs[j], element j + 16 in the high nibble; 5-bit types keep the
 * fifth bit of element j in bit j of the little-endian word qh.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/ref.h"
#include "tensor/ref_util.h"

#define QK DESK_QK

const int8_t desk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

/* ---- Q4_0: x = d * (q - 8) ------------------------------------------- */

void desk_ref_dequant_q4_0(const void *src, float *dst, int64_t n) {
    const desk_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        const float d = desk_f16_to_f32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
            dst[j + QK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* The value of largest magnitude, with its sign (first one on ties). */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

void desk_ref_quant_q4_0(const float *src, void *dst, int64_t n) {
    desk_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        /* The extreme value maps to -8 exactly, so the full 16 levels are
         * used on the side where the largest magnitude lies. */
        const float d = desk_q_sat(signed_absmax(src, QK, NULL) / -8);
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = desk_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            const int lo = desk_q_trunc(src[j] * id + 8.5f, 15);
            const int hi = desk_q_trunc(src[j + QK / 2] * id + 8.5f, 15);
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

float desk_ref_vec_dot_q4_0(int64_t n, const void *w, const void *act) {
    const desk_block_q4_0 *x = w;
    const desk_block_q8_0 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK / 2];
        }
        sum += (float)isum * desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d);
    }
    return sum;
}

/* ---- Q4_1: x = d * q + m --------------------------------------------- */

void desk_ref_dequant_q4_1(const void *src, float *dst, int64_t n) {
    const desk_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        const float d = desk_f16_to_f32(b[i].d);
        const float m = desk_f16_to_f32(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0x0F) * d + m;
            dst[j + QK / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void minmax(const float *x, int n, float *lo, float *hi) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    *lo = mn;
    *hi = mx;
}

void desk_ref_quant_q4_1(const float *src, void *dst, int64_t n) {
    desk_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        float lo, hi;
        minmax(src, QK, &lo, &hi);
        lo = desk_q_sat(lo);
        const float d = desk_q_sat((hi - lo) / 15);
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = desk_f32_to_f16(d);
        b[i].m = desk_f32_to_f16(lo);
        for (int j = 0; j < QK / 2; j++) {
            const int l0 = desk_q_trunc((src[j] - lo) * id + 0.5f, 15);
            const int l1 = desk_q_trunc((src[j + QK / 2] - lo) * id + 0.5f, 15);
            b[i].qs[j] = (uint8_t)(l0 | l1 << 4);
        }
    }
}

/* Q8_1's s field holds d * sum(qs), so the min term of a Q4_1/Q5_1 block
 * costs one multiply per block instead of a sum over the activations. */
float desk_ref_vec_dot_q4_1(int64_t n, const void *w, const void *act) {
    const desk_block_q4_1 *x = w;
    const desk_block_q8_1 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + QK / 2];
        }
        sum += desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d) * (float)isum +
               desk_f16_to_f32(x[i].m) * desk_f16_to_f32(y[i].s);
    }
    return sum;
}

/* ---- Q5_0: x = d * (q - 16), q has 5 bits ---------------------------- */

/* The 5-bit values of a Q5 block (0..31). */
static void unpack_q5(const uint8_t qh4[4], const uint8_t qs[QK / 2], int q[QK]) {
    const uint32_t qh = desk_q_load_u32(qh4);
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
        q[j + QK / 2] = (qs[j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
    }
}

static void pack_q5(const int q[QK], uint8_t qh4[4], uint8_t qs[QK / 2]) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + QK / 2] & 0x0F) << 4);
        qh |= (uint32_t)(q[j] >> 4) << j;
        qh |= (uint32_t)(q[j + QK / 2] >> 4) << (j + QK / 2);
    }
    desk_q_store_u32(qh4, qh);
}

void desk_ref_dequant_q5_0(const void *src, float *dst, int64_t n) {
    const desk_block_q5_0 *b = src;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        const float d = desk_f16_to_f32(b[i].d);
        unpack_q5(b[i].qh, b[i].qs, q);
        for (int j = 0; j < QK; j++) dst[j] = (float)(q[j] - 16) * d;
    }
}

void desk_ref_quant_q5_0(const float *src, void *dst, int64_t n) {
    desk_block_q5_0 *b = dst;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        const float d = desk_q_sat(signed_absmax(src, QK, NULL) / -16);
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = desk_f32_to_f16(d);
        for (int j = 0; j < QK; j++) q[j] = desk_q_trunc(src[j] * id + 16.5f, 31);
        pack_q5(q, b[i].qh, b[i].qs);
    }
}

float desk_ref_vec_dot_q5_0(int64_t n, const void *w, const void *act) {
    const desk_block_q5_0 *x = w;
    const desk_block_q8_0 *y = act;
    int q[QK];
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        unpack_q5(x[i].qh, x[i].qs, q);
        int isum = 0;
        for (int j = 0; j < QK; j++) isum += (q[j] - 16) * y[i].qs[j];
        sum += desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d) * (float)isum;
    }
    return sum;
}

/* ---- Q5_1: x = d * q + m, q has 5 bits ------------------------------- */

void desk_ref_dequant_q5_1(const void *src, float *dst, int64_t n) {
    const desk_block_q5_1 *b = src;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        const float d = desk_f16_to_f32(b[i].d);
        const float m = desk_f16_to_f32(b[i].m);
        unpack_q5(b[i].qh, b[i].qs, q);
        for (int j = 0; j < QK; j++) dst[j] = (float)q[j] * d + m;
    }
}

void desk_ref_quant_q5_1(const float *src, void *dst, int64_t n) {
    desk_block_q5_1 *b = dst;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        float lo, hi;
        minmax(src, QK, &lo, &hi);
        lo = desk_q_sat(lo);
        const float d = desk_q_sat((hi - lo) / 31);
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = desk_f32_to_f16(d);
        b[i].m = desk_f32_to_f16(lo);
        for (int j = 0; j < QK; j++) q[j] = desk_q_trunc((src[j] - lo) * id + 0.5f, 31);
        pack_q5(q, b[i].qh, b[i].qs);
    }
}

float desk_ref_vec_dot_q5_1(int64_t n, const void *w, const void *act) {
    const desk_block_q5_1 *x = w;
    const desk_block_q8_1 *y = act;
    int q[QK];
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        unpack_q5(x[i].qh, x[i].qs, q);
        int isum = 0;
        for (int j = 0; j < QK; j++) isum += q[j] * y[i].qs[j];
        sum += desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d) * (float)isum +
               desk_f16_to_f32(x[i].m) * desk_f16_to_f32(y[i].s);
    }
    return sum;
}

/* ---- Q8_0 / Q8_1: x = d * q, q in -127..127 -------------------------- */

/* Q8_0 and Q8_1 share their levels' layout; Q8_1 adds s = d * sum(q). */
static void dequant_q8_levels(const int8_t qs[QK], float d, float *dst) {
    for (int j = 0; j < QK; j++) dst[j] = (float)qs[j] * d;
}

void desk_ref_dequant_q8_0(const void *src, float *dst, int64_t n) {
    const desk_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++) dequant_q8_levels(b[i].qs, desk_f16_to_f32(b[i].d), dst + QK * i);
}

/* Shared by Q8_0 and Q8_1: writes QS and returns the (unrounded) scale. */
static float quant_q8_block(const float *x, int8_t qs[QK]) {
    float amax;
    signed_absmax(x, QK, &amax);
    const float d = desk_q_sat(amax / 127);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) qs[j] = (int8_t)desk_q_roundf(x[j] * id, -127, 127);
    return d;
}

void desk_ref_quant_q8_0(const float *src, void *dst, int64_t n) {
    desk_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) b[i].d = desk_f32_to_f16(quant_q8_block(src, b[i].qs));
}

float desk_ref_vec_dot_q8_0(int64_t n, const void *w, const void *act) {
    const desk_block_q8_0 *x = w;
    const desk_block_q8_0 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++)
        sum += (float)desk_q_dot_i8(x[i].qs, y[i].qs, QK) * (desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d));
    return sum;
}

void desk_ref_dequant_q8_1(const void *src, float *dst, int64_t n) {
    const desk_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++) dequant_q8_levels(b[i].qs, desk_f16_to_f32(b[i].d), dst + QK * i);
}

void desk_ref_quant_q8_1(const float *src, void *dst, int64_t n) {
    desk_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        const float d = quant_q8_block(src, b[i].qs);
        b[i].d = desk_f32_to_f16(d);
        b[i].s = desk_f32_to_f16(desk_q_sat((float)desk_q_sum_i8(b[i].qs, QK) * d));
    }
}

/* Activations: llama.cpp's CPU backend (ggml-cpu's AVX/AVX2/NEON paths)
 * quantizes them differently from its reference quantizer - the inverse
 * scale is 127/amax rather than 1/d, and ties round to even - so these
 * reproduce that, bit for bit. */
static float quant_q8_block_act(const float *x, int8_t qs[QK]) {
    float amax;
    signed_absmax(x, QK, &amax);
    const float d = desk_q_sat(amax / 127);
    const float id = amax == 0 ? 0.0f : d == amax / 127 ? 127.0f / amax : 1.0f / d;
    for (int j = 0; j < QK; j++) qs[j] = (int8_t)desk_q_round(x[j] * id, -127, 127);
    return d;
}

void desk_ref_quant_act_q8_0(const float *src, void *dst, int64_t n) {
    desk_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) b[i].d = desk_f32_to_f16(quant_q8_block_act(src, b[i].qs));
}

void desk_ref_quant_act_q8_1(const float *src, void *dst, int64_t n) {
    desk_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        const float d = quant_q8_block_act(src, b[i].qs);
        b[i].d = desk_f32_to_f16(d);
        b[i].s = desk_f32_to_f16(desk_q_sat((float)desk_q_sum_i8(b[i].qs, QK) * d));
    }
}

/* Q8_1 is an activation format; this dot (Q8_1 with Q8_1) exists for
 * completeness and ignores the s fields. */
float desk_ref_vec_dot_q8_1(int64_t n, const void *w, const void *act) {
    const desk_block_q8_1 *x = w;
    const desk_block_q8_1 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++)
        sum += (float)desk_q_dot_i8(x[i].qs, y[i].qs, QK) * (desk_f16_to_f32(x[i].d) * desk_f16_to_f32(y[i].d));
    return sum;
}

/* ---- IQ4_NL: x = d * values[q], a non-uniform 4-bit grid ------------- */

void desk_ref_dequant_iq4_nl(const void *src, float *dst, int64_t n) {
    const desk_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        const float d = desk_f16_to_f32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = d * (float)desk_iq4nl_values[b[i].qs[j] & 0x0F];
            dst[j + QK / 2] = d * (float)desk_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

void desk_ref_quant_iq4_nl(const float *src, void *dst, int64_t n) {
    desk_block_iq4_nl *b = dst;
    static const float ones[QK] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        /* Unweighted, as the K-quants (ref_kquant.c). */
        const float d = desk_q_sat(desk_iq4_fit(src, QK, ones, L, 7));
        b[i].d = desk_f32_to_f16(d);
        /* Re-pick the levels for the scale as stored (rounded to f16). */
        desk_iq4_assign(src, QK, desk_f16_to_f32(b[i].d), L);
        for (int j = 0; j < QK / 2; j++) b[i].qs[j] = (uint8_t)(L[j] | L[j + QK / 2] << 4);
    }
}

float desk_ref_vec_dot_iq4_nl(int64_t n, const void *w, const void *act) {
    const desk_block_iq4_nl *x = w;
    const desk_block_q8_0 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += desk_iq4nl_values[x[i].qs[j] & 0x0F] * y[i].qs[j];
            isum += desk_iq4nl_values[x[i].qs[j] >> 4] * y[i].qs[j + QK / 2];
        }
        sum += desk_f16_to_f32(y[i].d) * desk_f16_to_f32(x[i].d) * (float)isum;
    }
    return sum;
}

/* ---- IQ4 level search, shared with IQ4_XS ---------------------------- */

/* Index of the grid level nearest V (the grid is sorted). */
static int iq4_nearest(float v) {
    int lo = 0, hi = 15;
    while (hi - lo > 1) { /* invariant: the answer is lo or hi */
        const int mid = (lo + hi) / 2;
        if (v < (float)desk_iq4nl_values[mid]) hi = mid;
        else lo = mid;
    }
    return v - (float)desk_iq4nl_values[lo] <= (float)desk_iq4nl_values[hi] - v ? lo : hi;
}

void desk_iq4_assign(const float *x, int n, float d, uint8_t *L) {
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++) L[j] = (uint8_t)iq4_nearest(x[j] * id);
}

float desk_iq4_fit(const float *x, int n, const float *w, uint8_t *L, int ntry) {
    float amax;
    const float max = signed_absmax(x, n, &amax);
    if (!(amax > 1e-15f)) {
        memset(L, 8, (size_t)n); /* level +1: times d = 0 gives +0 */
        return 0.0f;
    }
    float best_d = 0, best = -1;
    uint8_t cand[DESK_QK_K];
    const int ends[2] = {desk_iq4nl_values[0], desk_iq4nl_values[15]};
    for (int e = 0; e < 2; e++) {
        for (int t = -ntry; t <= ntry; t++) {
            const float id = ((float)ends[e] + (float)t) / max;
            float sqx = 0, sq2 = 0;
            for (int j = 0; j < n; j++) {
                cand[j] = (uint8_t)iq4_nearest(x[j] * id);
                const float q = (float)desk_iq4nl_values[cand[j]];
                sqx += w[j] * q * x[j];
                sq2 += w[j] * q * q;
            }
            /* The least-squares scale sqx/sq2 leaves an error of
             * sum(w x^2) - sqx^2/sq2: maximise sqx^2/sq2. */
            if (sq2 > 0 && (best < 0 || sqx * sqx > best * sq2)) {
                best = sqx * sqx / sq2;
                best_d = sqx / sq2;
                memcpy(L, cand, (size_t)n);
            }
        }
    }
    if (best < 0) { /* every weight zero: plain mapping of the max */
        best_d = max / (float)desk_iq4nl_values[0];
        desk_iq4_assign(x, n, best_d, L);
    }
    return best_d;
}
