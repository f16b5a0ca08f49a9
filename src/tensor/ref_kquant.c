/*
 * ref_kquant.c - reference routines of the 256-element super-block types:
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K and IQ4_XS.
 *
 * Dequantizers are bit-exact with ggml's.  Weight quantizers fit each
 * 16- or 32-element sub-block's scale (and min) by a weighted least-squares
 * search over candidate scales, then quantize the sub-block scales against
 * one f16 super-block scale and re-pick every level with the scales as
 * stored (docs/QUANTIZATION.md).  Q8_K is the activation format all of them
 * are dotted with: a float scale, int8 levels and sums of each 16 levels,
 * which fold the mins of Q2_K/Q4_K/Q5_K into one product per sub-block.
 */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/ref.h"
#include "tensor/ref_util.h"
#include "tensor/types.h"

#define QKK DESK_QK_K

/* ---- Q8_K: x = d * q, d a float --------------------------------------- */

void desk_ref_dequant_q8_k(const void *src, float *dst, int64_t n) {
    const desk_block_q8_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK)
        for (int j = 0; j < QKK; j++) dst[j] = b[i].d * (float)b[i].qs[j];
}

void desk_ref_quant_q8_k(const float *src, void *dst, int64_t n) {
    desk_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QKK; j++) {
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0) continue;
        /* The extreme value maps to -127 (not -128), so every level is
         * symmetric and kernels may negate freely. */
        const float iscale = -127.0f / max;
        for (int j = 0; j < QKK; j++) b[i].qs[j] = (int8_t)desk_q_round(iscale * src[j], -128, 127);
        for (int g = 0; g < QKK / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)s;
        }
        b[i].d = 1 / iscale;
    }
}

float desk_ref_vec_dot_q8_k(int64_t n, const void *w, const void *act) {
    const desk_block_q8_K *x = w;
    const desk_block_q8_K *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        int isum = 0;
        for (int j = 0; j < QKK; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += x[i].d * y[i].d * (float)isum;
    }
    return sum;
}
