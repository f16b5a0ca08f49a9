/*
 * ops.c - the element-wise and attention operations of the forward pass,
 * computed with the numerics of llama.cpp's CPU backend (x86, AVX-512
 * build) so that desk's logits equal its bit for bit.
 *
 * Why each detail is as it is (all measured against tensors dumped from
 * llama.cpp; see tests/data/model/README.md):
 *  - ggml is compiled with floating-point contraction, so "a*b + c" in its
 *    scalar code is one fused multiply-add; the same expressions here use
 *    fmaf explicitly (desk itself compiles without contraction).
 *  - Its SIMD exp (ggml_v_expf, used by SiLU and the tiled softmax) is a
 *    polynomial, not libm's expf; desk_op_vexpf evaluates the same
 *    polynomial lane by lane with the same fused steps.
 *  - Vector sums are reduced in the tree order of the 512-bit reduction
 *    (hsum16).
 *  - Attention is flash attention: for batches of fewer than 64 queries
 *    (and every single-token decode), q rounded to F16 meets the F16 cache
 *    in F16 dot products, the softmax is online and the weighted V sum is
 *    kept in F16; for 64 or more queries, q stays F32, K and V are
 *    widened to F32, scores are taken in tiles of 64 cache positions and
 *    V is accumulated in F32.
 *  - A quantized cache is rotated as llama.cpp rotates it (since its
 *    PR 21038): q and k by an orthonormal Hadamard transform of the
 *    largest power-of-two size dividing the head, v by one of size 64 and
 *    the attention output back by the same, so that outliers spread over
 *    the block before Q8_0 rounding (desk_op_fwht; forward.c applies it).
 *  - A Q8_0 cache (llama.cpp's -ctk q8_0 / -ctv q8_0 with flash attention)
 *    always takes the first path, whatever the batch (llama.cpp tiles only
 *    F16 or F32 caches with K and V of one type): with Q8_0 K, q is
 *    quantized as llama.cpp quantizes activations (quantize_row_q8_0) and
 *    scores are its x86 Q8_0 dot; with Q8_0 V, each V row is dequantized
 *    to floats (exactly: level * scale) and the weighted sum kept in F32.
 * These functions are pure: no allocation, no shared state.
 */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"
#include "tensor/blocks.h"
#include "tensor/ref.h"
#include "tensor/types.h"

/* The loops below use fmaf for every fused step.  On x86 that is an
 * instruction only where the CPU has FMA, so the hot functions are also
 * built for it and chosen at load time (the results are the same either
 * way: fmaf is exact by definition). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang_analyzer__)
#define DESK_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define DESK_FMA_CLONES
#endif

/* F32 -> F16 -> F32: the rounding of a value stored in F16. */
static inline float f16_round(float x) { return desk_f16_to_f32(desk_f32_to_f16(x)); }

/* The sum of 16 lanes in the order of a 512-bit horizontal add: halves,
 * quarters, then pairs. */
static inline float hsum16(const float v[16]) {
    float b[8], c[4];
    for (int i = 0; i < 8; i++) b[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; i++) c[i] = b[i + 4] + b[i];
    return (c[0] + c[2]) + (c[1] + c[3]);
}

static inline float vexpf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    /* Beyond +-192 the polynomial's scaling would overflow: the SIMD code
     * returns 0 or infinity there (and -inf lands here). */
    if (fabsf(n) > 192.0f || isnan(n)) return n <= 0 ? 0.0f : INFINITY;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float p = fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
    const float j = fmaf(p, u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

float desk_op_vexpf(float x) { return vexpf(x); }

void desk_op_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

static DESK_FMA_CLONES void rope_impl(float *x, int n_rot, int pos, float base, float freq_scale, bool neox,
                                      const float *factors) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float ff = factors ? factors[i] : 1.0f;
        const float t = freq_scale * (theta / ff);
        const float cs = cosf(t), sn = sinf(t);
        const int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        const float x0 = x[a], x1 = x[b];
        x[a] = fmaf(x0, cs, -(x1 * sn));
        x[b] = fmaf(x0, sn, x1 * cs);
        theta *= theta_scale;
    }
}

void desk_op_rope(float *x, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors) {
    rope_impl(x, n_rot, pos, base, freq_scale, neox, factors);
}

static DESK_FMA_CLONES void swiglu_impl(float *y, const float *g, const float *u, size_t n) {
    /* Vector lanes take the polynomial exp; a tail shorter than 16 lanes
     * takes libm's, as ggml's scalar remainder loop does. */
    const size_t nv = n - n % 16;
    for (size_t i = 0; i < nv; i++) {
        const float x = g[i];
        y[i] = (x / (1.0f + vexpf(0.0f - x))) * u[i];
    }
    for (size_t i = nv; i < n; i++) {
        const float x = g[i];
        y[i] = (x / (1.0f + expf(-x))) * u[i];
    }
}

void desk_op_swiglu(float *y, const float *g, const float *u, size_t n) {
    swiglu_impl(y, g, u, n);
}

/* GELU (tanh form) evaluated as ggml's table: on the F16 rounding of the
 * input, the result rounded to F16, with its contracted polynomial. */
static float gelu_f16(float x) {
    const float h = f16_round(x);
    const float c = 0.797884560802865355879892119868763737f; /* sqrt(2/pi) */
    const float inner = c * h * fmaf(0.044715f * h, h, 1.0f);
    return f16_round(0.5f * h * (1.0f + tanhf(inner)));
}

void desk_op_geglu(float *y, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = g[i];
        if (x <= -10.0f)
            y[i] = 0.0f;
        else if (x >= 10.0f)
            y[i] = x * u[i];
        else
            y[i] = gelu_f16(x) * u[i];
    }
}

/* ---- attention -------------------------------------------------------- */

/* The orthonormal Walsh-Hadamard transform of N (a power of two) values in
 * place, as ggml's fwht computes llama.cpp's rotation of a quantized KV
 * cache: scaled by 1/sqrt(N) first, then butterflies (u + v, u - v) of
 * span 1, 2, 4, ...; every step is one rounding, in any vector width. */
void desk_op_fwht(float *x, int n) {
    const float scale = 1.0f / sqrtf((float)n);
    for (int j = 0; j < n; j++) x[j] *= scale;
    for (int len = 1; len < n; len <<= 1)
        for (int i = 0; i < n; i += 2 * len)
            for (int j = i; j < i + len; j++) {
                const float u = x[j], v = x[j + len];
                x[j] = u + v;
                x[j + len] = u - v;
            }
}

/* Dot product of two F16 rows as ggml_vec_dot_f16 sums it: 4 x 16 lanes
 * over steps of 64, the four vectors added pairwise, a 16-lane tree, the
 * remainder in double. */
static float dot_f16(int n, const float *q, const desk_f16 *k) {
    float acc[4][16] = {{0}};
    const int np = n - n % 64;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] = fmaf(q[i + 16 * j + l], desk_f16_to_f32(k[i + 16 * j + l]), acc[j][l]);
    for (int l = 0; l < 16; l++) {
        acc[0][l] += acc[2][l];
        acc[1][l] += acc[3][l];
        acc[0][l] += acc[1][l];
    }
    double s = (double)hsum16(acc[0]);
    for (int i = np; i < n; i++) s += (double)(q[i] * desk_f16_to_f32(k[i]));
    return (float)s;
}

/* Row S of a cache of STRIDE bytes per position. */
static inline const void *cache_row(const void *base, size_t stride, int s) {
    return (const unsigned char *)base + (size_t)s * stride;
}

/* ggml_vec_dot_q8_0_q8_0 as llama.cpp's x86 build sums it: per block, 8
 * lanes each take the integer dot of 4 consecutive levels, converted to
 * float and added by one fused multiply-add with the product of the two
 * scales; then hsum_float_8's tree over the lanes. */
static float dot_q8_0(int n, const desk_block_q8_0 *k, const desk_block_q8_0 *q) {
    float acc[8] = {0};
    for (int b = 0; b < n / DESK_QK; b++) {
        const float d = desk_f16_to_f32(k[b].d) * desk_f16_to_f32(q[b].d);
        for (int l = 0; l < 8; l++) {
            int32_t dot = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++) dot += (int32_t)k[b].qs[e] * q[b].qs[e];
            acc[l] = fmaf(d, (float)dot, acc[l]);
        }
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static DESK_FMA_CLONES void attn_vec_impl(const desk_attn_row *r, float *out, float *acc) {
    const int hk = r->head_k, hv = r->head_v;
    const bool kq8 = r->k_type == DESK_TYPE_Q8_0, vq8 = r->v_type == DESK_TYPE_Q8_0;
    /* q in K's dot type, after the accumulator: F16-rounded floats, or
     * Q8_0 blocks (hk / 32 * 34 bytes, less than hk floats). */
    float *qh = acc + hv;
    desk_block_q8_0 *qq = (desk_block_q8_0 *)(void *)qh;
    if (kq8)
        desk_ref_quant_act_q8_0(r->q, qq, hk);
    else
        for (int d = 0; d < hk; d++) qh[d] = f16_round(r->q[d]);
    for (int d = 0; d < hv; d++) acc[d] = 0.0f;
    float M = -INFINITY, S = 0.0f;
    for (int s = r->lo; s <= r->hi; s++) {
        const void *kr = cache_row(r->k, r->k_stride, s), *vr = cache_row(r->v, r->v_stride, s);
        float sc = (kq8 ? dot_q8_0(hk, kr, qq) : dot_f16(hk, qh, kr)) * r->scale;
        if (r->softcap != 0.0f) sc = r->softcap * tanhf(sc); /* ggml: libm tanhf per score */
        float ms = 1.0f, vs = 1.0f;
        if (sc > M) {
            const float old = M;
            M = sc;
            ms = expf(old - M);
            /* An F16 accumulator is rounded after every step; an F32 one
             * (Q8_0 V) is not. */
            for (int d = 0; d < hv; d++) acc[d] = vq8 ? acc[d] * ms : f16_round(acc[d] * ms);
        } else {
            vs = expf(sc - M);
        }
        if (vq8) {
            const desk_block_q8_0 *vb = vr;
            for (int d = 0; d < hv; d++) {
                const float x = (float)vb[d / DESK_QK].qs[d % DESK_QK] * desk_f16_to_f32(vb[d / DESK_QK].d);
                acc[d] = fmaf(x, vs, acc[d]);
            }
        } else {
            const desk_f16 *v = vr;
            for (int d = 0; d < hv; d++) acc[d] = f16_round(fmaf(desk_f16_to_f32(v[d]), vs, acc[d]));
        }
        S = fmaf(S, ms, vs);
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int d = 0; d < hv; d++) out[d] = acc[d] * inv;
}

void desk_op_attn_vec(const desk_attn_row *r, float *out, float *acc) {
    attn_vec_impl(r, out, acc);
}

#define TILE_KV 64

/* F16 K and V only (the caller's choice, as llama.cpp's). */
static DESK_FMA_CLONES void attn_tiled_impl(const desk_attn_row *r, float *out, float *acc) {
    const int hk = r->head_k, hv = r->head_v;
    float kq[TILE_KV];
    for (int d = 0; d < hv; d++) acc[d] = 0.0f;
    float M = -INFINITY, S = 0.0f;
    /* Tiles start at multiples of 64 cache positions; a tile with no
     * visible position contributes nothing. */
    for (int t0 = r->lo - r->lo % TILE_KV; t0 <= r->hi; t0 += TILE_KV) {
        float tmax = -INFINITY;
        for (int e = 0; e < TILE_KV; e++) {
            const int s = t0 + e;
            if (s < r->lo || s > r->hi) {
                kq[e] = -INFINITY;
                continue;
            }
            const desk_f16 *k = cache_row(r->k, r->k_stride, s);
            float dot = 0.0f;
            for (int d = 0; d < hk; d++) dot = fmaf(r->q[d], desk_f16_to_f32(k[d]), dot);
            kq[e] = dot * r->scale;
            if (r->softcap != 0.0f) kq[e] = tanhf(kq[e]) * r->softcap;
            if (kq[e] > tmax) tmax = kq[e];
        }
        const float Mnew = fmaxf(M, tmax);
        if (Mnew > M) {
            const float ms = expf(M - Mnew);
            for (int d = 0; d < hv; d++) acc[d] *= ms;
            S *= ms;
        }
        M = Mnew;
        double sum = 0.0;
        for (int c = 0; c < TILE_KV; c += 16) {
            for (int l = 0; l < 16; l++) kq[c + l] = vexpf(kq[c + l] - Mnew);
            sum += (double)hsum16(kq + c);
        }
        S = (float)((double)S + sum);
        for (int e = 0; e < TILE_KV; e++) {
            /* A zero weight leaves every sum as it is. */
            if (kq[e] == 0.0f) continue;
            const desk_f16 *v = cache_row(r->v, r->v_stride, t0 + e);
            for (int d = 0; d < hv; d++) acc[d] = fmaf(kq[e], desk_f16_to_f32(v[d]), acc[d]);
        }
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int d = 0; d < hv; d++) out[d] = acc[d] * inv;
}

void desk_op_attn_tiled(const desk_attn_row *r, float *out, float *acc) {
    attn_tiled_impl(r, out, acc);
}
