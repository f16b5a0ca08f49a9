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
        for (int g = 0; g < QKK / 16; g++) b[i].bsums[g] = (int16_t)desk_q_sum_i8(b[i].qs + 16 * g, 16);
        b[i].d = 1 / iscale;
    }
}

float desk_ref_vec_dot_q8_k(int64_t n, const void *w, const void *act) {
    const desk_block_q8_K *x = w;
    const desk_block_q8_K *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) sum += x[i].d * y[i].d * (float)desk_q_dot_i8(x[i].qs, y[i].qs, QKK);
    return sum;
}

/* ---- sub-block fitting ------------------------------------------------ */

/* The fits below take per-element weights so that an importance matrix
 * can be passed one day.  Without one desk weights every element equally,
 * minimising the plain squared error: on Gaussian and heavy-tailed data
 * that beats ggml's magnitude weightings on RMS error for every K-quant
 * (docs/QUANTIZATION.md has the numbers). */
static const float ONES[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                               1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* Least-squares fit of x ~ s * l + m (weights W) for fixed levels L; false
 * when the levels do not determine both.  A positive m is not allowed (the
 * formats store -m as an unsigned min): then m = 0 and s is refit alone. */
static bool lsq_affine(const float *x, const float *w, const uint8_t *L, int n, float *s, float *m) {
    float sw = 0, sx = 0, sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; i++) {
        const float l = (float)L[i];
        sw += w[i];
        sx += w[i] * x[i];
        sl += w[i] * l;
        sl2 += w[i] * l * l;
        sxl += w[i] * l * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (!(det > 0)) return false;
    *s = (sw * sxl - sx * sl) / det;
    *m = (sl2 * sx - sl * sxl) / det;
    if (*m > 0) {
        *m = 0;
        *s = sxl / sl2;
    }
    return true;
}

static float affine_err(const float *x, const float *w, const uint8_t *L, int n, float s, float m) {
    float e = 0;
    for (int i = 0; i < n; i++) {
        const float diff = s * (float)L[i] + m - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

static void affine_levels(const float *x, int n, int nmax, float iscale, float lo, uint8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (uint8_t)desk_q_round(iscale * (x[i] - lo), 0, nmax);
}

/* Fits x[0..N) ~ scale * L + min with L in 0..NMAX and min <= 0, for the
 * formats with a per-sub-block min (Q2_K, Q4_K, Q5_K).  The plain mapping
 * of [min(x, 0), max(x)] onto the levels is the starting point (and all
 * that NSTEP < 0 does); then NSTEP + 1 candidate level spacings
 * (NMAX + RMIN + RDELTA * k levels across the range) are tried, each with
 * its least-squares scale and min, keeping the one with the least weighted
 * squared error; finally levels and fit are
 * alternated while the error drops.  Returns the scale; *NEG_MIN gets -min. */
static float fit_affine(const float *x, const float *w, int n, int nmax, uint8_t *L, float *neg_min,
                        float rmin, float rdelta, int nstep) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    lo = fminf(lo, 0.0f);
    if (!(hi > lo)) { /* constant (or NaN) sub-block: the min says it all */
        memset(L, 0, (size_t)n);
        *neg_min = isfinite(lo) ? -lo : 0.0f;
        return 0.0f;
    }
    float scale = (hi - lo) / (float)nmax, min = lo;
    affine_levels(x, n, nmax, (float)nmax / (hi - lo), lo, L);
    if (nstep < 0) {
        *neg_min = -min;
        return scale;
    }
    float best = affine_err(x, w, L, n, scale, min);
    uint8_t cand[32];
    for (int k = 0; k <= nstep; k++) {
        const float iscale = ((float)nmax + rmin + rdelta * (float)k) / (hi - lo);
        affine_levels(x, n, nmax, iscale, lo, cand);
        float s, m;
        if (!lsq_affine(x, w, cand, n, &s, &m)) continue;
        const float e = affine_err(x, w, cand, n, s, m);
        if (e < best) {
            best = e;
            scale = s;
            min = m;
            memcpy(L, cand, (size_t)n);
        }
    }
    for (int iter = 0; iter < 4 && scale > 0; iter++) {
        affine_levels(x, n, nmax, 1.0f / scale, min, cand);
        float s, m;
        if (!lsq_affine(x, w, cand, n, &s, &m)) break;
        const float e = affine_err(x, w, cand, n, s, m);
        if (!(e < best)) break;
        best = e;
        scale = s;
        min = m;
        memcpy(L, cand, (size_t)n);
    }
    *neg_min = -min;
    return scale;
}

/* Fits x[0..N) ~ scale * l with l in -NMAX..NMAX-1, for the symmetric
 * formats (Q3_K, Q6_K).  The plain mapping puts the value of largest
 * magnitude on -NMAX (all that NSTEP < 0 does); the search tries the
 * spacings NMAX + k/10 (k = -NSTEP..NSTEP) with their least-squares
 * scales, then moves single levels while that lowers the error.  L gets
 * l + NMAX; returns the scale. */
static float fit_symmetric(const float *x, const float *w, int n, int nmax, uint8_t *L, int nstep) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (!(amax > 1e-15f)) {
        memset(L, nmax, (size_t)n); /* level 0 */
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    int lv[32], cand[32];
    for (int i = 0; i < n; i++) lv[i] = desk_q_round(iscale * x[i], -nmax, nmax - 1);
    float scale = 1.0f / iscale;
    if (nstep >= 0) {
        /* With the least-squares scale sxl/sl2 the error is
         * sum(w x^2) - sxl^2/sl2: maximise sxl^2/sl2. */
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            sxl += w[i] * x[i] * (float)lv[i];
            sl2 += w[i] * (float)(lv[i] * lv[i]);
        }
        for (int k = -nstep; k <= nstep; k++) {
            if (k == 0) continue;
            const float is = -((float)nmax + 0.1f * (float)k) / max;
            float cx = 0, c2 = 0;
            for (int i = 0; i < n; i++) {
                cand[i] = desk_q_round(is * x[i], -nmax, nmax - 1);
                cx += w[i] * x[i] * (float)cand[i];
                c2 += w[i] * (float)(cand[i] * cand[i]);
            }
            if (c2 > 0 && (sl2 == 0 || cx * cx * sl2 > sxl * sxl * c2)) {
                sxl = cx;
                sl2 = c2;
                memcpy(lv, cand, sizeof(int) * (size_t)n);
            }
        }
        /* Coordinate descent: move one level to the value that is best
         * for the current fit, keep it if the whole fit improves. */
        for (int pass = 0; pass < 3 && sl2 > 0; pass++) {
            int changed = 0;
            for (int i = 0; i < n; i++) {
                const float s = sxl / sl2;
                const int nl = desk_q_round(x[i] / s, -nmax, nmax - 1);
                if (nl == lv[i]) continue;
                const float nx = sxl + w[i] * x[i] * (float)(nl - lv[i]);
                const float n2 = sl2 + w[i] * (float)(nl * nl - lv[i] * lv[i]);
                if (n2 > 0 && nx * nx * sl2 > sxl * sxl * n2) {
                    lv[i] = nl;
                    sxl = nx;
                    sl2 = n2;
                    changed++;
                }
            }
            if (!changed) break;
        }
        if (sl2 > 0) scale = sxl / sl2;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(lv[i] + nmax);
    return scale;
}

/* The entry of largest magnitude, with its sign. */
static float signed_max(const float *v, int n) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(v[i]) > amax) {
            amax = fabsf(v[i]);
            max = v[i];
        }
    }
    return max;
}

static float max_of(const float *v, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, v[i]);
    return m;
}

/* Levels of one sub-block for a stored scale and min: x ~ dl * l - ml. */
static void requant_affine(const float *x, int n, int nmax, float dl, float ml, uint8_t *L) {
    if (dl == 0) {
        memset(L, 0, (size_t)n);
        return;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)desk_q_round((x[i] + ml) / dl, 0, nmax);
}

/* Levels of one symmetric sub-block for a stored scale: x ~ dl * (l - off). */
static void requant_symmetric(const float *x, int n, int off, float dl, uint8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)(dl == 0 ? off : desk_q_round(x[i] / dl, -off, off - 1) + off);
}

/* The sub-block scale nearest V on the grid of step D (0 when D is 0). */
static int scale_level(float v, float d, int lo, int hi) { return d == 0 ? 0 : desk_q_round(v / d, lo, hi); }

/* Rounding a sub-block's fitted scale and min to their stored grids
 * independently is not optimal: with the search on, the neighbours (+-1
 * step of each) are tried too, re-picking the levels for each, and the
 * pair with the least squared error is kept.  Returns the scale level;
 * *LM gets the min level and L the levels. */
static int choose_affine(const float *x, int n, int nmax, float sc, float mn, float d, float dmin,
                         int lmax, bool search, int *lm, uint8_t *L) {
    const int ls0 = scale_level(sc, d, 0, lmax), lm0 = scale_level(mn, dmin, 0, lmax);
    requant_affine(x, n, nmax, d * (float)ls0, dmin * (float)lm0, L);
    int bs = ls0, bm = lm0;
    if (search && d != 0) {
        float best = affine_err(x, ONES, L, n, d * (float)ls0, -(dmin * (float)lm0));
        uint8_t cand[32];
        for (int ds = -1; ds <= 1; ds++)
            for (int dm = -1; dm <= 1; dm++) {
                const int ls = ls0 + ds, m = lm0 + dm;
                if ((ds == 0 && dm == 0) || ls < 0 || ls > lmax || m < 0 || m > lmax) continue;
                requant_affine(x, n, nmax, d * (float)ls, dmin * (float)m, cand);
                const float e = affine_err(x, ONES, cand, n, d * (float)ls, -(dmin * (float)m));
                if (e < best) {
                    best = e;
                    bs = ls;
                    bm = m;
                    memcpy(L, cand, (size_t)n);
                }
            }
    }
    *lm = bm;
    return bs;
}

static float symmetric_err(const float *x, int n, int off, float dl, const uint8_t *L) {
    float e = 0;
    for (int i = 0; i < n; i++) {
        const float diff = dl * (float)(L[i] - off) - x[i];
        e += diff * diff;
    }
    return e;
}

/* The same for a symmetric sub-block (levels L - OFF, scale level in
 * LO..HI). */
static int choose_symmetric(const float *x, int n, int off, float sc, float d, int lo, int hi, bool search,
                            uint8_t *L) {
    const int ls0 = scale_level(sc, d, lo, hi);
    requant_symmetric(x, n, off, d * (float)ls0, L);
    int bs = ls0;
    if (search && d != 0) {
        float best = symmetric_err(x, n, off, d * (float)ls0, L);
        uint8_t cand[32];
        for (int ls = ls0 - 1; ls <= ls0 + 1; ls += 2) {
            if (ls < lo || ls > hi) continue;
            requant_symmetric(x, n, off, d * (float)ls, cand);
            const float e = symmetric_err(x, n, off, d * (float)ls, cand);
            if (e < best) {
                best = e;
                bs = ls;
                memcpy(L, cand, (size_t)n);
            }
        }
    }
    return bs;
}

/* ---- Q2_K: x = d * sc * q - dmin * m, q 2 bits, sc/m 4 bits per 16 ---- */

/* Levels in element order and the 16 scales and mins of a Q2_K block. */
static void unpack_q2_k(const desk_block_q2_K *b, uint8_t q[QKK]) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * s + l] = (b->qs[32 * h + l] >> (2 * s)) & 3;
}

/* Packs 2-bit levels: qs[32h + l] holds elements 128h + l + 32s at bits 2s. */
static void pack_2bit(const uint8_t L[QKK], uint8_t qs[QKK / 4]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *e = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)((e[0] & 3) | (e[32] & 3) << 2 | (e[64] & 3) << 4 | (e[96] & 3) << 6);
        }
}

void desk_ref_dequant_q2_k(const void *src, float *dst, int64_t n) {
    const desk_block_q2_K *b = src;
    uint8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        const float d = desk_f16_to_f32(b[i].d), dmin = desk_f16_to_f32(b[i].dmin);
        unpack_q2_k(&b[i], q);
        for (int g = 0; g < 16; g++) {
            const float dl = d * (float)(b[i].scales[g] & 0xF);
            const float ml = dmin * (float)(b[i].scales[g] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * g + l] = dl * (float)q[16 * g + l] - ml;
        }
    }
}

static void quant_q2_k(const float *src, void *dst, int64_t n, bool search) {
    desk_block_q2_K *b = dst;
    uint8_t L[QKK];
    float sc[16], mn[16];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        for (int g = 0; g < 16; g++)
            sc[g] = fit_affine(src + 16 * g, ONES, 16, 3, L + 16 * g, &mn[g], -0.5f, 0.1f, search ? 15 : -1);
        b[i].d = desk_f32_to_f16(desk_q_sat(max_of(sc, 16) / 15));
        b[i].dmin = desk_f32_to_f16(desk_q_sat(max_of(mn, 16) / 15));
        const float d = desk_f16_to_f32(b[i].d), dmin = desk_f16_to_f32(b[i].dmin);
        for (int g = 0; g < 16; g++) {
            int lm;
            const int ls = choose_affine(src + 16 * g, 16, 3, sc[g], mn[g], d, dmin, 15, search, &lm, L + 16 * g);
            b[i].scales[g] = (uint8_t)(ls | lm << 4);
        }
        pack_2bit(L, b[i].qs);
    }
}

void desk_ref_quant_q2_k(const float *src, void *dst, int64_t n) { quant_q2_k(src, dst, n, true); }

float desk_ref_vec_dot_q2_k(int64_t n, const void *w, const void *act) {
    const desk_block_q2_K *x = w;
    const desk_block_q8_K *y = act;
    uint8_t q[QKK];
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        unpack_q2_k(&x[i], q);
        int isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int gs = 0;
            for (int l = 0; l < 16; l++) gs += q[16 * g + l] * y[i].qs[16 * g + l];
            isum += (x[i].scales[g] & 0xF) * gs;
            msum += (x[i].scales[g] >> 4) * y[i].bsums[g];
        }
        const float dall = y[i].d * desk_f16_to_f32(x[i].d);
        const float dmin = y[i].d * desk_f16_to_f32(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)msum;
    }
    return sum;
}

/* ---- Q3_K: x = d * (sc - 32) * q, q in -4..3, sc 6 bits per 16 ------- */

/* Element e's high bit is bit e / 32 of hmask[e % 32]; with it clear the
 * level is 4 lower. */
static void unpack_q3_k(const desk_block_q3_K *b, int8_t q[QKK], int sc[16]) {
    uint8_t lo[QKK];
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) lo[128 * h + 32 * s + l] = (b->qs[32 * h + l] >> (2 * s)) & 3;
    for (int e = 0; e < QKK; e++) q[e] = (int8_t)(lo[e] - ((b->hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4));
    for (int j = 0; j < 16; j++) {
        const int low = j < 8 ? b->scales[j] & 0xF : b->scales[j - 8] >> 4;
        const int high = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (low | high << 4) - 32;
    }
}

void desk_ref_dequant_q3_k(const void *src, float *dst, int64_t n) {
    const desk_block_q3_K *b = src;
    int8_t q[QKK];
    int sc[16];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        const float d = desk_f16_to_f32(b[i].d);
        unpack_q3_k(&b[i], q, sc);
        for (int g = 0; g < 16; g++) {
            const float dl = d * (float)sc[g];
            for (int l = 0; l < 16; l++) dst[16 * g + l] = dl * (float)q[16 * g + l];
        }
    }
}

static void quant_q3_k(const float *src, void *dst, int64_t n, bool search) {
    desk_block_q3_K *b = dst;
    uint8_t L[QKK];
    float sc[16];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        for (int g = 0; g < 16; g++) sc[g] = fit_symmetric(src + 16 * g, ONES, 16, 4, L + 16 * g, search ? 9 : -1);
        memset(b[i].scales, 0, sizeof b[i].scales);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        /* The largest scale lands on -32, the end of the signed 6 bits. */
        b[i].d = desk_f32_to_f16(desk_q_sat(signed_max(sc, 16) / -32));
        const float d = desk_f16_to_f32(b[i].d);
        for (int g = 0; g < 16; g++) {
            const int ls = choose_symmetric(src + 16 * g, 16, 4, sc[g], d, -32, 31, search, L + 16 * g);
            const int u = ls + 32;
            if (g < 8) b[i].scales[g] |= (uint8_t)(u & 0xF);
            else b[i].scales[g - 8] |= (uint8_t)((u & 0xF) << 4);
            b[i].scales[8 + g % 4] |= (uint8_t)((u >> 4) << (2 * (g / 4)));
        }
        for (int e = 0; e < QKK; e++) {
            if (L[e] > 3) {
                b[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                L[e] -= 4;
            }
        }
        pack_2bit(L, b[i].qs);
    }
}

void desk_ref_quant_q3_k(const float *src, void *dst, int64_t n) { quant_q3_k(src, dst, n, true); }

float desk_ref_vec_dot_q3_k(int64_t n, const void *w, const void *act) {
    const desk_block_q3_K *x = w;
    const desk_block_q8_K *y = act;
    int8_t q[QKK];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        unpack_q3_k(&x[i], q, sc);
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            isum += sc[g] * desk_q_dot_i8(q + 16 * g, y[i].qs + 16 * g, 16);
        }
        sum += desk_f16_to_f32(x[i].d) * y[i].d * (float)isum;
    }
    return sum;
}

/* ---- Q4_K / Q5_K: x = d * sc * q - dmin * m, sc/m 6 bits per 32 ------ */

/* The inverse of desk_k4_scales (blocks.h): packs 6-bit SC and M into S. */
static void k4_put(uint8_t s[12], const int sc[8], const int m[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
}

/* Fits a Q4_K / Q5_K super-block (NMAX 15 or 31): fills D/DMIN (stored),
 * the packed scales and the levels L. */
static void quant_k4_block(const float *x, int nmax, bool search, desk_f16 *dd, desk_f16 *dmn,
                           uint8_t scales[12], uint8_t L[QKK]) {
    float sc[8], mn[8];
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++)
        sc[j] = fit_affine(x + 32 * j, ONES, 32, nmax, L + 32 * j, &mn[j], nmax == 15 ? -1.0f : -0.5f, 0.1f,
                           search ? (nmax == 15 ? 20 : 15) : -1);
    *dd = desk_f32_to_f16(desk_q_sat(max_of(sc, 8) / 63));
    *dmn = desk_f32_to_f16(desk_q_sat(max_of(mn, 8) / 63));
    const float d = desk_f16_to_f32(*dd), dmin = desk_f16_to_f32(*dmn);
    for (int j = 0; j < 8; j++) {
        ls[j] = choose_affine(x + 32 * j, 32, nmax, sc[j], mn[j], d, dmin, 63, search, &lm[j], L + 32 * j);
    }
    k4_put(scales, ls, lm);
}

/* Levels of a Q4_K / Q5_K block in element order: qs[32c + l] holds
 * elements 64c + l (low nibble) and 64c + 32 + l (high); Q5_K's fifth bits
 * are bits 2c and 2c + 1 of qh[l]. */
static void unpack_k4(const uint8_t qs[QKK / 2], const uint8_t *qh, uint8_t q[QKK]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = qs[32 * c + l] & 0xF;
            q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
            if (qh) {
                q[64 * c + l] |= (uint8_t)(((qh[l] >> (2 * c)) & 1) << 4);
                q[64 * c + 32 + l] |= (uint8_t)(((qh[l] >> (2 * c + 1)) & 1) << 4);
            }
        }
}

static void pack_k4(const uint8_t L[QKK], uint8_t qs[QKK / 2], uint8_t *qh) {
    if (qh) memset(qh, 0, QKK / 8);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            const int a = L[64 * c + l], b = L[64 * c + 32 + l];
            qs[32 * c + l] = (uint8_t)((a & 0xF) | (b & 0xF) << 4);
            if (qh) qh[l] |= (uint8_t)((a >> 4) << (2 * c) | (b >> 4) << (2 * c + 1));
        }
}

static void dequant_k4(float d, float dmin, const uint8_t scales[12], const uint8_t q[QKK], float *dst) {
    uint8_t sc[8], m[8];
    desk_k4_scales(scales, sc, m);
    for (int j = 0; j < 8; j++) {
        const float d1 = d * (float)sc[j], m1 = dmin * (float)m[j];
        for (int l = 0; l < 32; l++) dst[32 * j + l] = d1 * (float)q[32 * j + l] - m1;
    }
}

static float dot_k4(float d, float dmin, const uint8_t scales[12], const uint8_t q[QKK],
                    const desk_block_q8_K *y) {
    uint8_t sc[8], m[8];
    desk_k4_scales(scales, sc, m);
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; j++) {
        int s = 0;
        for (int l = 0; l < 32; l++) s += q[32 * j + l] * y->qs[32 * j + l];
        isum += sc[j] * s;
        msum += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return d * y->d * (float)isum - dmin * y->d * (float)msum;
}

void desk_ref_dequant_q4_k(const void *src, float *dst, int64_t n) {
    const desk_block_q4_K *b = src;
    uint8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        unpack_k4(b[i].qs, NULL, q);
        dequant_k4(desk_f16_to_f32(b[i].d), desk_f16_to_f32(b[i].dmin), b[i].scales, q, dst);
    }
}

static void quant_q4_k(const float *src, void *dst, int64_t n, bool search) {
    desk_block_q4_K *b = dst;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        quant_k4_block(src, 15, search, &b[i].d, &b[i].dmin, b[i].scales, L);
        pack_k4(L, b[i].qs, NULL);
    }
}

void desk_ref_quant_q4_k(const float *src, void *dst, int64_t n) { quant_q4_k(src, dst, n, true); }

float desk_ref_vec_dot_q4_k(int64_t n, const void *w, const void *act) {
    const desk_block_q4_K *x = w;
    const desk_block_q8_K *y = act;
    uint8_t q[QKK];
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        unpack_k4(x[i].qs, NULL, q);
        sum += dot_k4(desk_f16_to_f32(x[i].d), desk_f16_to_f32(x[i].dmin), x[i].scales, q, &y[i]);
    }
    return sum;
}

void desk_ref_dequant_q5_k(const void *src, float *dst, int64_t n) {
    const desk_block_q5_K *b = src;
    uint8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        unpack_k4(b[i].qs, b[i].qh, q);
        dequant_k4(desk_f16_to_f32(b[i].d), desk_f16_to_f32(b[i].dmin), b[i].scales, q, dst);
    }
}

static void quant_q5_k(const float *src, void *dst, int64_t n, bool search) {
    desk_block_q5_K *b = dst;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        quant_k4_block(src, 31, search, &b[i].d, &b[i].dmin, b[i].scales, L);
        pack_k4(L, b[i].qs, b[i].qh);
    }
}

void desk_ref_quant_q5_k(const float *src, void *dst, int64_t n) { quant_q5_k(src, dst, n, true); }

float desk_ref_vec_dot_q5_k(int64_t n, const void *w, const void *act) {
    const desk_block_q5_K *x = w;
    const desk_block_q8_K *y = act;
    uint8_t q[QKK];
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        unpack_k4(x[i].qs, x[i].qh, q);
        sum += dot_k4(desk_f16_to_f32(x[i].d), desk_f16_to_f32(x[i].dmin), x[i].scales, q, &y[i]);
    }
    return sum;
}

/* ---- Q6_K: x = d * sc * (q - 32), q 6 bits, sc int8 per 16 ----------- */

/* In each 128-element half h: ql[64h + l] holds elements l (low nibble)
 * and l + 64 (high), ql[64h + 32 + l] elements l + 32 and l + 96; qh[32h + l]
 * holds the top 2 bits of elements l, l + 32, l + 64, l + 96 in that order. */
static void unpack_q6_k(const desk_block_q6_K *b, int8_t q[QKK]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *ql = b->ql + 64 * h, hb = b->qh[32 * h + l];
            int8_t *e = q + 128 * h + l;
            e[0] = (int8_t)(((ql[l] & 0xF) | ((hb >> 0) & 3) << 4) - 32);
            e[32] = (int8_t)(((ql[l + 32] & 0xF) | ((hb >> 2) & 3) << 4) - 32);
            e[64] = (int8_t)(((ql[l] >> 4) | ((hb >> 4) & 3) << 4) - 32);
            e[96] = (int8_t)(((ql[l + 32] >> 4) | ((hb >> 6) & 3) << 4) - 32);
        }
}

void desk_ref_dequant_q6_k(const void *src, float *dst, int64_t n) {
    const desk_block_q6_K *b = src;
    int8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        const float d = desk_f16_to_f32(b[i].d);
        unpack_q6_k(&b[i], q);
        for (int e = 0; e < QKK; e++) dst[e] = d * (float)b[i].scales[e / 16] * (float)q[e];
    }
}

static void quant_q6_k(const float *src, void *dst, int64_t n, bool search) {
    desk_block_q6_K *b = dst;
    uint8_t L[QKK];
    float sc[16];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        for (int g = 0; g < 16; g++) sc[g] = fit_symmetric(src + 16 * g, ONES, 16, 32, L + 16 * g, search ? 9 : -1);
        /* The largest scale lands on -128, the end of int8. */
        b[i].d = desk_f32_to_f16(desk_q_sat(signed_max(sc, 16) / -128));
        const float d = desk_f16_to_f32(b[i].d);
        for (int g = 0; g < 16; g++) {
            b[i].scales[g] = (int8_t)choose_symmetric(src + 16 * g, 16, 32, sc[g], d, -128, 127, search, L + 16 * g);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *e = L + 128 * h + l;
                b[i].ql[64 * h + l] = (uint8_t)((e[0] & 0xF) | (e[64] & 0xF) << 4);
                b[i].ql[64 * h + 32 + l] = (uint8_t)((e[32] & 0xF) | (e[96] & 0xF) << 4);
                b[i].qh[32 * h + l] = (uint8_t)((e[0] >> 4) | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 |
                                                (e[96] >> 4) << 6);
            }
    }
}

void desk_ref_quant_q6_k(const float *src, void *dst, int64_t n) { quant_q6_k(src, dst, n, true); }

float desk_ref_vec_dot_q6_k(int64_t n, const void *w, const void *act) {
    const desk_block_q6_K *x = w;
    const desk_block_q8_K *y = act;
    int8_t q[QKK];
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        unpack_q6_k(&x[i], q);
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            isum += x[i].scales[g] * desk_q_dot_i8(q + 16 * g, y[i].qs + 16 * g, 16);
        }
        sum += desk_f16_to_f32(x[i].d) * y[i].d * (float)isum;
    }
    return sum;
}

/* ---- IQ4_XS: x = d * (ls - 32) * values[q], ls 6 bits per 32 --------- */

static int iq4xs_scale(const desk_block_iq4_xs *b, int j) {
    const int low = (b->scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
    const int high = (b->scales_h >> (2 * j)) & 3;
    return (low | high << 4) - 32;
}

void desk_ref_dequant_iq4_xs(const void *src, float *dst, int64_t n) {
    const desk_block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        const float d = desk_f16_to_f32(b[i].d);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)iq4xs_scale(&b[i], j);
            const uint8_t *qs = b[i].qs + 16 * j;
            for (int l = 0; l < 16; l++) {
                dst[32 * j + l] = dl * (float)desk_iq4nl_values[qs[l] & 0xF];
                dst[32 * j + 16 + l] = dl * (float)desk_iq4nl_values[qs[l] >> 4];
            }
        }
    }
}

static float iq4_err(const float *x, float dl, const uint8_t L[32]) {
    float e = 0;
    for (int i = 0; i < 32; i++) {
        const float diff = dl * (float)desk_iq4nl_values[L[i]] - x[i];
        e += diff * diff;
    }
    return e;
}

/* As choose_symmetric, on the IQ4 grid. */
static int choose_iq4(const float *x, float sc, float d, bool search, uint8_t L[32]) {
    const int ls0 = scale_level(sc, d, -32, 31);
    desk_iq4_assign(x, 32, d * (float)ls0, L);
    int bs = ls0;
    if (search && d != 0) {
        float best = iq4_err(x, d * (float)ls0, L);
        uint8_t cand[32];
        for (int ls = ls0 - 1; ls <= ls0 + 1; ls += 2) {
            if (ls < -32 || ls > 31) continue;
            desk_iq4_assign(x, 32, d * (float)ls, cand);
            const float e = iq4_err(x, d * (float)ls, cand);
            if (e < best) {
                best = e;
                bs = ls;
                memcpy(L, cand, 32);
            }
        }
    }
    return bs;
}

static void quant_iq4_xs(const float *src, void *dst, int64_t n, bool search) {
    desk_block_iq4_xs *b = dst;
    uint8_t L[32];
    float sc[8];
    for (int64_t i = 0; i < n / QKK; i++, src += QKK) {
        for (int j = 0; j < 8; j++) sc[j] = desk_iq4_fit(src + 32 * j, 32, ONES, L, search ? 7 : -1);
        b[i].d = desk_f32_to_f16(desk_q_sat(signed_max(sc, 8) / -32));
        const float d = desk_f16_to_f32(b[i].d);
        b[i].scales_h = 0;
        memset(b[i].scales_l, 0, sizeof b[i].scales_l);
        for (int j = 0; j < 8; j++) {
            const int u = choose_iq4(src + 32 * j, sc[j], d, search, L) + 32;
            b[i].scales_l[j / 2] |= (uint8_t)((u & 0xF) << (4 * (j % 2)));
            b[i].scales_h |= (uint16_t)((u >> 4) << (2 * j));
            for (int l = 0; l < 16; l++) b[i].qs[16 * j + l] = (uint8_t)(L[l] | L[l + 16] << 4);
        }
    }
}

void desk_ref_quant_iq4_xs(const float *src, void *dst, int64_t n) { quant_iq4_xs(src, dst, n, true); }

float desk_ref_vec_dot_iq4_xs(int64_t n, const void *w, const void *act) {
    const desk_block_iq4_xs *x = w;
    const desk_block_q8_K *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        int isum = 0;
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = x[i].qs + 16 * j;
            const int8_t *a = y[i].qs + 32 * j;
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += desk_iq4nl_values[qs[l] & 0xF] * a[l] + desk_iq4nl_values[qs[l] >> 4] * a[l + 16];
            isum += iq4xs_scale(&x[i], j) * s;
        }
        sum += desk_f16_to_f32(x[i].d) * y[i].d * (float)isum;
    }
    return sum;
}

/* ---- naive quantizers, for comparisons -------------------------------- */

int desk_ref_quant_naive(uint32_t type, const float *src, void *dst, int64_t n) {
    switch (type) {
    case DESK_TYPE_Q2_K: quant_q2_k(src, dst, n, false); return 0;
    case DESK_TYPE_Q3_K: quant_q3_k(src, dst, n, false); return 0;
    case DESK_TYPE_Q4_K: quant_q4_k(src, dst, n, false); return 0;
    case DESK_TYPE_Q5_K: quant_q5_k(src, dst, n, false); return 0;
    case DESK_TYPE_Q6_K: quant_q6_k(src, dst, n, false); return 0;
    case DESK_TYPE_IQ4_XS: quant_iq4_xs(src, dst, n, false); return 0;
    default: return -1;
    }
}
