/*
 * neon.c - the aarch64 kernel table: Advanced SIMD with the ARMv8.2 dot
 * product (SDOT), compiled with -march=armv8.2-a+dotprod only and chosen at
 * run time when the kernel lists ASIMDDP in AT_HWCAP (src/core/cpu.c).
 * The same entry points as the x86 tables (x86_body.inc): vec_dot and dot
 * tiles for F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and
 * Q6_K, and the Q8_0 / Q8_1 / Q8_K activation quantizers.  The interleaved
 * batch path is left out (NULL: batches take the 2 x 4 tiles): whether it
 * pays on ARM cannot be measured here, where this code only runs under
 * emulation.
 *
 * SDOT multiplies signed bytes by signed bytes, so weight levels are made
 * signed before the dot (Q4_0 less 8, Q5_0 less 16, Q6_K less 32; Q4_1,
 * Q5_1, Q4_K and Q5_K levels are small and positive) and no offset
 * correction is needed.
 *
 * Numerics (the contract of x86_body.inc, in its strictest form): every
 * block's integer dot is exact, and the quantized types then follow the
 * scalar reference's float steps one for one - per block (per super-block
 * for the K quants, whose sub-block scales and mins are applied in
 * integers first) the reference formula of the type, evaluated in its
 * order, added to one float in block order.  Vectors hold up to 4
 * activation rows of a tile (one output per lane), never parts of one
 * sum, so vec_dot and every tile shape give the reference's value bit for
 * bit.  That needs multiplies and adds kept apart: this file is built with
 * -ffp-contract=off (and the pragma below for clang).  Float weights (F32,
 * F16, BF16) are summed in 2 x 4 float lanes (8 elements a step, fused
 * multiply-adds), then the lanes, then the tail (n % 8) in element order:
 * the reference sums in double, which no vector order reproduces.
 * The activation quantizers give the reference's bytes exactly.  (Summing
 * in lanes, as x86_body.inc does, is as accurate, but 8-bit activations
 * amplify any change of order over 30 layers: one lane order moved a
 * near-tie logit of SmolLM2 by 0.26; the reference's order makes the ARM
 * path give the scalar path's tokens.  The float chain costs one add per
 * block and output, well under the bandwidth bound of decode.)
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define DESK_INLINE static inline __attribute__((always_inline))
/* Tile loops must unroll fully so that the accumulator arrays live in
 * registers (NR and NC are constants after inlining). */
#define DESK_UNROLL _Pragma("GCC unroll 16")

DESK_INLINE float h2f(desk_f16 h) {
    __fp16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}

/* Pointer to block I of row R of a weight or activation tile. */
DESK_INLINE const unsigned char *blk(const void *base, size_t stride, int r, int64_t i, size_t size) {
    return (const unsigned char *)base + (size_t)r * stride + (size_t)i * size;
}

/* Exact dot of 32 signed bytes with 32 signed bytes, in 4 lanes. */
DESK_INLINE int32x4_t dot32(int8x16_t a0, int8x16_t a1, const int8_t *y) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, vld1q_s8(y)), a1, vld1q_s8(y + 16));
}

/* ---- legacy 32-element blocks -------------------------------------- */

typedef struct wblk {
    int8x16_t lo, hi; /* signed levels of elements 0..15 and 16..31 */
    float d, m;
} wblk;

DESK_INLINE size_t legacy_size(int t) {
    switch (t) {
    case DESK_TYPE_Q4_0: return sizeof(desk_block_q4_0);
    case DESK_TYPE_Q4_1: return sizeof(desk_block_q4_1);
    case DESK_TYPE_Q5_0: return sizeof(desk_block_q5_0);
    case DESK_TYPE_Q5_1: return sizeof(desk_block_q5_1);
    default: return sizeof(desk_block_q8_0);
    }
}

static const uint8_t bit_of_byte[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};

/* Byte j is 0x10 where bit j of the 16 bits BITS is set, else 0. */
DESK_INLINE uint8x16_t bit4_of(uint32_t bits) {
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(b, vld1q_u8(bit_of_byte)), vdupq_n_u8(0x10));
}

DESK_INLINE wblk legacy_load(int t, const unsigned char *p) {
    wblk r = {.m = 0};
    uint32_t qh;
    uint8x16_t v, lo, hi;
    int off = 0;
    switch (t) {
    case DESK_TYPE_Q8_0: {
        const desk_block_q8_0 *b = (const void *)p;
        r.lo = vld1q_s8(b->qs);
        r.hi = vld1q_s8(b->qs + 16);
        r.d = h2f(b->d);
        return r;
    }
    case DESK_TYPE_Q4_0:
    case DESK_TYPE_Q4_1: {
        const desk_block_q4_0 *b0 = (const void *)p;
        const desk_block_q4_1 *b1 = (const void *)p;
        v = vld1q_u8(t == DESK_TYPE_Q4_0 ? b0->qs : b1->qs);
        lo = vandq_u8(v, vdupq_n_u8(0x0F));
        hi = vshrq_n_u8(v, 4);
        r.d = h2f(t == DESK_TYPE_Q4_0 ? b0->d : b1->d);
        if (t == DESK_TYPE_Q4_1) r.m = h2f(b1->m);
        off = t == DESK_TYPE_Q4_0 ? 8 : 0;
        break;
    }
    default: {
        const desk_block_q5_0 *b0 = (const void *)p;
        const desk_block_q5_1 *b1 = (const void *)p;
        memcpy(&qh, t == DESK_TYPE_Q5_0 ? b0->qh : b1->qh, 4);
        v = vld1q_u8(t == DESK_TYPE_Q5_0 ? b0->qs : b1->qs);
        lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0F)), bit4_of(qh & 0xFFFF));
        hi = vorrq_u8(vshrq_n_u8(v, 4), bit4_of(qh >> 16));
        r.d = h2f(t == DESK_TYPE_Q5_0 ? b0->d : b1->d);
        if (t == DESK_TYPE_Q5_1) r.m = h2f(b1->m);
        off = t == DESK_TYPE_Q5_0 ? 16 : 0;
        break;
    }
    }
    r.lo = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8((int8_t)off));
    r.hi = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8((int8_t)off));
    return r;
}

/* Lane c of the result: the sum of the 4 lanes of P[c], for c < NC (lanes
 * from NC on are unspecified).  Integer adds: exact in any order. */
DESK_INLINE int32x4_t lane_sums(const int32x4_t p[4], int nc) {
    if (nc == 1) return vdupq_n_s32(vaddvq_s32(p[0]));
    const int32x4_t a = vpaddq_s32(p[0], p[1]);
    if (nc == 2) return vpaddq_s32(a, a);
    return vpaddq_s32(a, vpaddq_s32(p[2], nc == 4 ? p[3] : p[2]));
}

/* OUT[r * NC + c] = lane c of SUM[r]. */
DESK_INLINE void store_tile(const float32x4_t sum[4], int nr, int nc, float *out) {
    DESK_UNROLL
    for (int r = 0; r < nr; r++) {
        float o[4];
        vst1q_f32(o, sum[r]);
        DESK_UNROLL
        for (int c = 0; c < nc; c++) out[r * nc + c] = o[c];
    }
}

/* Each output is the reference's sum: block by block, the exact integer
 * dot scaled by the reference formula of its type, added in block order
 * to one float.  The NC activation rows of a weight row are the lanes of
 * one vector, so up to 4 outputs advance per vector operation. */
DESK_INLINE void dot_legacy(int t, int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                            float *out) {
    const bool has_min = t == DESK_TYPE_Q4_1 || t == DESK_TYPE_Q5_1;
    const size_t asz = has_min ? sizeof(desk_block_q8_1) : sizeof(desk_block_q8_0);
    const int64_t nb = n / DESK_QK;
    float32x4_t sum[4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++) sum[r] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t y0[4], y1[4];
        float dyv[4] = {0}, syv[4] = {0};
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const unsigned char *ab = blk(act, as, c, i, asz);
            const int8_t *y;
            if (has_min) {
                const desk_block_q8_1 *b = (const void *)ab;
                dyv[c] = h2f(b->d);
                syv[c] = h2f(b->s);
                y = b->qs;
            } else {
                const desk_block_q8_0 *b = (const void *)ab;
                dyv[c] = h2f(b->d);
                y = b->qs;
            }
            y0[c] = vld1q_s8(y);
            y1[c] = vld1q_s8(y + 16);
        }
        const float32x4_t dy = vld1q_f32(dyv), sy = vld1q_f32(syv);
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const wblk x = legacy_load(t, blk(w, ws, r, i, legacy_size(t)));
            int32x4_t p[4];
            DESK_UNROLL
            for (int c = 0; c < nc; c++) p[c] = vdotq_s32(vdotq_s32(vdupq_n_s32(0), x.lo, y0[c]), x.hi, y1[c]);
            const float32x4_t f = vcvtq_f32_s32(lane_sums(p, nc));
            float32x4_t term;
            switch (t) {
            case DESK_TYPE_Q4_0: term = vmulq_f32(vmulq_n_f32(f, x.d), dy); break;        /* isum * dx * dy */
            case DESK_TYPE_Q8_0: term = vmulq_f32(f, vmulq_n_f32(dy, x.d)); break;        /* isum * (dx * dy) */
            case DESK_TYPE_Q5_0: term = vmulq_f32(vmulq_n_f32(dy, x.d), f); break;        /* dx * dy * isum */
            default:                                                                     /* dx * dy * isum + mx * sy */
                term = vaddq_f32(vmulq_f32(vmulq_n_f32(dy, x.d), f), vmulq_n_f32(sy, x.m));
                break;
            }
            sum[r] = vaddq_f32(sum[r], term);
        }
    }
    store_tile(sum, nr, nc, out);
}

/* ---- K-quants (256-element super-blocks, Q8_K activations) ---------- */

/* Bit B of every byte of HB, moved to bit 4 (B = 0..7). */
DESK_INLINE uint8x16_t bit_to_16(uint8x16_t hb, int b) {
    return vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(4 - b))), vdupq_n_u8(0x10));
}

/* The d_a of the NC activation super-blocks I, one per lane. */
DESK_INLINE float32x4_t act_k_scales(const void *act, size_t as, int nc, int64_t i) {
    float v[4] = {0};
    DESK_UNROLL
    for (int c = 0; c < nc; c++) v[c] = ((const desk_block_q8_K *)blk(act, as, c, i, sizeof(desk_block_q8_K)))->d;
    return vld1q_f32(v);
}

/* Q4_K / Q5_K: per super-block, each sub-block's exact dot times its
 * integer scale and the mins term, summed in integers (as the reference);
 * then d * d_a * isum - dmin * d_a * msum added to the output's float. */
DESK_INLINE void dot_q45k(bool five, int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                          float *out) {
    const int64_t nb = n / DESK_QK_K;
    const size_t wsz = five ? sizeof(desk_block_q5_K) : sizeof(desk_block_q4_K);
    const size_t asz = sizeof(desk_block_q8_K);
    float32x4_t sum[4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++) sum[r] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        const float32x4_t yd = act_k_scales(act, as, nc, i);
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const unsigned char *bp = blk(w, ws, r, i, wsz);
            const desk_block_q4_K *b4 = (const void *)bp;
            const desk_block_q5_K *b5 = (const void *)bp;
            const uint8_t *qs = five ? b5->qs : b4->qs;
            uint8_t sc[8], m[8];
            desk_k4_scales(five ? b5->scales : b4->scales, sc, m);
            const int16x8_t m16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
            uint8x16_t hb0 = vdupq_n_u8(0), hb1 = vdupq_n_u8(0);
            if (five) {
                hb0 = vld1q_u8(b5->qh);
                hb1 = vld1q_u8(b5->qh + 16);
            }
            int32x4_t isum[4];
            DESK_UNROLL
            for (int c = 0; c < nc; c++) isum[c] = vdupq_n_s32(0);
            DESK_UNROLL
            for (int k = 0; k < 4; k++) {
                /* 32 bytes: low nibbles are sub-block 2k, high ones 2k + 1. */
                const uint8x16_t v0 = vld1q_u8(qs + 32 * k), v1 = vld1q_u8(qs + 32 * k + 16);
                uint8x16_t lo0 = vandq_u8(v0, vdupq_n_u8(0x0F)), lo1 = vandq_u8(v1, vdupq_n_u8(0x0F));
                uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
                if (five) {
                    lo0 = vorrq_u8(lo0, bit_to_16(hb0, 2 * k));
                    lo1 = vorrq_u8(lo1, bit_to_16(hb1, 2 * k));
                    hi0 = vorrq_u8(hi0, bit_to_16(hb0, 2 * k + 1));
                    hi1 = vorrq_u8(hi1, bit_to_16(hb1, 2 * k + 1));
                }
                DESK_UNROLL
                for (int c = 0; c < nc; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    const int32x4_t d0 = dot32(vreinterpretq_s8_u8(lo0), vreinterpretq_s8_u8(lo1), y->qs + 64 * k);
                    const int32x4_t d1 =
                        dot32(vreinterpretq_s8_u8(hi0), vreinterpretq_s8_u8(hi1), y->qs + 64 * k + 32);
                    isum[c] = vmlaq_n_s32(isum[c], d0, sc[2 * k]);
                    isum[c] = vmlaq_n_s32(isum[c], d1, sc[2 * k + 1]);
                }
            }
            int32x4_t prod[4];
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                /* Sub-block j's activation sum is bsums[2j] + bsums[2j+1]. */
                const int16x8_t pairs = vpaddq_s16(vld1q_s16(y->bsums), vld1q_s16(y->bsums + 8));
                prod[c] = vaddq_s32(vmull_s16(vget_low_s16(m16), vget_low_s16(pairs)), vmull_high_s16(m16, pairs));
            }
            const float xd = h2f(five ? b5->d : b4->d), xdmin = h2f(five ? b5->dmin : b4->dmin);
            const float32x4_t a = vmulq_f32(vmulq_n_f32(yd, xd), vcvtq_f32_s32(lane_sums(isum, nc)));
            const float32x4_t b = vmulq_f32(vmulq_n_f32(yd, xdmin), vcvtq_f32_s32(lane_sums(prod, nc)));
            sum[r] = vaddq_f32(sum[r], vsubq_f32(a, b));
        }
    }
    store_tile(sum, nr, nc, out);
}

/* Q6_K: levels made signed (less 32), each group of 16's exact dot times
 * its int8 scale, summed in integers; then d * d_a * isum added to the
 * output's float (as the reference). */
DESK_INLINE void dot_q6k(int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc, float *out) {
    const int64_t nb = n / DESK_QK_K;
    const size_t wsz = sizeof(desk_block_q6_K), asz = sizeof(desk_block_q8_K);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t k32 = vdupq_n_s8(32);
    float32x4_t sum[4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++) sum[r] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        const float32x4_t yd = act_k_scales(act, as, nc, i);
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const desk_block_q6_K *b = (const void *)blk(w, ws, r, i, wsz);
            int32x4_t isum[4];
            DESK_UNROLL
            for (int c = 0; c < nc; c++) isum[c] = vdupq_n_s32(0);
            DESK_UNROLL
            for (int h = 0; h < 2; h++) {
                DESK_UNROLL
                for (int half = 0; half < 2; half++) {
                    /* Elements 128h + 32j + 16 half + (0..15), j = 0..3. */
                    const uint8x16_t ql0 = vld1q_u8(b->ql + 64 * h + 16 * half);
                    const uint8x16_t ql1 = vld1q_u8(b->ql + 64 * h + 32 + 16 * half);
                    const uint8x16_t qh = vld1q_u8(b->qh + 32 * h + 16 * half);
                    uint8x16_t q[4];
                    q[0] = vorrq_u8(vandq_u8(ql0, m4), vandq_u8(vshlq_n_u8(qh, 4), m30));
                    q[1] = vorrq_u8(vandq_u8(ql1, m4), vandq_u8(vshlq_n_u8(qh, 2), m30));
                    q[2] = vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(qh, m30));
                    q[3] = vorrq_u8(vshrq_n_u8(ql1, 4), vandq_u8(vshrq_n_u8(qh, 2), m30));
                    DESK_UNROLL
                    for (int j = 0; j < 4; j++) {
                        const int8x16_t qs = vsubq_s8(vreinterpretq_s8_u8(q[j]), k32);
                        const int g = 8 * h + 2 * j + half;
                        DESK_UNROLL
                        for (int c = 0; c < nc; c++) {
                            const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                            const int32x4_t p = vdotq_s32(vdupq_n_s32(0), qs, vld1q_s8(y->qs + 16 * g));
                            isum[c] = vmlaq_n_s32(isum[c], p, b->scales[g]);
                        }
                    }
                }
            }
            sum[r] = vaddq_f32(sum[r], vmulq_f32(vmulq_n_f32(yd, h2f(b->d)), vcvtq_f32_s32(lane_sums(isum, nc))));
        }
    }
    store_tile(sum, nr, nc, out);
}

/* ---- float weights, F32 activations ---------------------------------- */

DESK_INLINE float32x4_t load_w4(int t, const unsigned char *p) {
    if (t == DESK_TYPE_F32) return vld1q_f32((const float *)p);
    uint16x4_t h;
    memcpy(&h, p, 8);
    if (t == DESK_TYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

DESK_INLINE float to_f32(int t, const unsigned char *p) {
    uint16_t h;
    if (t == DESK_TYPE_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&h, p, 2);
    return t == DESK_TYPE_F16 ? h2f(h) : desk_bf16_to_f32(h);
}

DESK_INLINE void dot_float(int t, int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                           float *out) {
    const size_t es = t == DESK_TYPE_F32 ? 4 : 2;
    float32x4_t acc0[4][4], acc1[4][4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) acc0[r][c] = acc1[r][c] = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        float32x4_t w0[4], w1[4];
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            w0[r] = load_w4(t, blk(w, ws, r, k, es));
            w1[r] = load_w4(t, blk(w, ws, r, k + 4, es));
        }
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const float32x4_t a0 = vld1q_f32((const float *)blk(act, as, c, k, 4));
            const float32x4_t a1 = vld1q_f32((const float *)blk(act, as, c, k + 4, 4));
            DESK_UNROLL
            for (int r = 0; r < nr; r++) {
                acc0[r][c] = vfmaq_f32(acc0[r][c], w0[r], a0);
                acc1[r][c] = vfmaq_f32(acc1[r][c], w1[r], a1);
            }
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const float *a = (const float *)blk(act, as, c, 0, 4);
            float s = vaddvq_f32(vaddq_f32(acc0[r][c], acc1[r][c]));
            for (int64_t e = k; e < n; e++) s += to_f32(t, blk(w, ws, r, e, es)) * a[e];
            out[r * nc + c] = s;
        }
}

/* ---- activation quantizers (the reference's bytes) --------------------- */

/* Largest |x| over 32 floats.  FMAXNM ignores a NaN operand, as the
 * reference's compare does. */
DESK_INLINE float amax32(const float *x) {
    float32x4_t m = vdupq_n_f32(0);
    DESK_UNROLL
    for (int j = 0; j < 32; j += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxnmvq_f32(m);
}

/* 16 floats times ID, clamped to [LO, HI] (NaN gives LO, as fmaxf) and
 * rounded to nearest even (FCVTNS), as int8 in element order. */
DESK_INLINE int8x16_t round16(const float *x, float id, float lo, float hi) {
    const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
    int32x4_t q[4];
    DESK_UNROLL
    for (int j = 0; j < 4; j++) {
        float32x4_t v = vmulq_n_f32(vld1q_f32(x + 4 * j), id);
        v = vminnmq_f32(vmaxnmq_f32(v, vlo), vhi);
        q[j] = vcvtnq_s32_f32(v);
    }
    const int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
    const int16x8_t b = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
    return vcombine_s8(vmovn_s16(a), vmovn_s16(b));
}

/* The Q8_0 / Q8_1 activation scale and its inverse, as the reference. */
DESK_INLINE float act_scale(float amax, float *id) {
    const float d = fminf(fmaxf(amax / 127, -65504.0f), 65504.0f);
    *id = amax == 0 ? 0.0f : d == amax / 127 ? 127.0f / amax : 1.0f / d;
    return d;
}

static void act_q8_0(const float *src, void *dst, int64_t n) {
    desk_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / DESK_QK; i++, src += DESK_QK) {
        float id;
        const float d = act_scale(amax32(src), &id);
        vst1q_s8(b[i].qs, round16(src, id, -127, 127));
        vst1q_s8(b[i].qs + 16, round16(src + 16, id, -127, 127));
        b[i].d = desk_f32_to_f16(d);
    }
}

static void act_q8_1(const float *src, void *dst, int64_t n) {
    desk_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / DESK_QK; i++, src += DESK_QK) {
        float id;
        const float d = act_scale(amax32(src), &id);
        const int8x16_t q0 = round16(src, id, -127, 127), q1 = round16(src + 16, id, -127, 127);
        vst1q_s8(b[i].qs, q0);
        vst1q_s8(b[i].qs + 16, q1);
        const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        b[i].d = desk_f32_to_f16(d);
        b[i].s = desk_f32_to_f16(fminf(fmaxf((float)sum * d, -65504.0f), 65504.0f));
    }
}

static void act_q8_k(const float *src, void *dst, int64_t n) {
    desk_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / DESK_QK_K; i++, src += DESK_QK_K) {
        float amax = 0;
        for (int j = 0; j < DESK_QK_K; j += 32) amax = fmaxf(amax32(src + j), amax);
        memset(&b[i], 0, sizeof b[i]);
        if (!(amax > 0)) continue;
        float max = 0; /* the first value of largest magnitude, with its sign */
        for (int j = 0; j < DESK_QK_K; j++)
            if (fabsf(src[j]) == amax) {
                max = src[j];
                break;
            }
        const float iscale = -127.0f / max;
        for (int j = 0; j < DESK_QK_K; j += 16) {
            const int8x16_t q = round16(src + j, iscale, -128, 127);
            vst1q_s8(b[i].qs + j, q);
            b[i].bsums[j / 16] = vaddlvq_s8(q);
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- per-type entry points -------------------------------------------- */

#include "kernels/tile_entry.inc"

const desk_kernel_table desk_kernels_neon = {
    .name = "neon",
    .vec_dot = DESK_ENTRY_VEC_DOT,
    .dot_tile = DESK_ENTRY_DOT_TILE,
    .act_quant =
        {
            [DESK_TYPE_Q8_0] = act_q8_0,
            [DESK_TYPE_Q8_1] = act_q8_1,
            [DESK_TYPE_Q8_K] = act_q8_k,
        },
};
