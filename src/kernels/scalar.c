/*
 * scalar.c - the portable kernel table: plain C dot products that sum in
 * the same order as llama.cpp's x86 build (and so as desk's AVX2/AVX-512
 * tables), so that a model's logits on any CPU equal the SIMD paths' bit
 * for bit.  Each weight block's integer dot is split into the 8 lanes a
 * 256-bit vector holds (lane l: bytes 4l..4l+3 of the unpacked block),
 * each lane scaled into its own float sum with a fused multiply-add, and
 * the lanes added in the tree of a horizontal add.  Q4_K follows
 * llama.cpp's repacked kernels (see dot_q45k in x86_body.inc).
 *
 * Types without an entry here use the scalar references of src/tensor
 * (the ground truth every table is tested against).  Only x86 builds take
 * these orders: llama.cpp's x86 build is the oracle desk reproduces there;
 * on other architectures the table is the references, which the NEON
 * table equals bit for bit.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "tensor/blocks.h"

#if defined(__x86_64__)

#define H2F desk_f16_to_f32

/* The sum of 8 lanes as a 256-bit horizontal add does it. */
static float tree8(const float a[8]) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

/* Lane L's integer dot of 32 weight levels with 32 activation levels. */
static int32_t lane4(const int8_t *w, const int8_t *a, int l) {
    int32_t s = 0;
    for (int e = 4 * l; e < 4 * l + 4; e++) s += (int32_t)w[e] * a[e];
    return s;
}

/* ---- legacy 32-element blocks ---------------------------------------- */

/* Signed levels of one weight block in element order, its scale and min. */
static void legacy_levels(uint32_t t, const unsigned char *p, int8_t q[32], float *d, float *m) {
    *m = 0;
    uint32_t qh = 0;
    switch (t) {
    case DESK_TYPE_Q4_0:
    case DESK_TYPE_Q4_1: {
        const uint8_t *qs = t == DESK_TYPE_Q4_0 ? ((const desk_block_q4_0 *)p)->qs : ((const desk_block_q4_1 *)p)->qs;
        const int off = t == DESK_TYPE_Q4_0 ? 8 : 0;
        for (int j = 0; j < 16; j++) {
            q[j] = (int8_t)((qs[j] & 15) - off);
            q[j + 16] = (int8_t)((qs[j] >> 4) - off);
        }
        if (t == DESK_TYPE_Q4_1) *m = H2F(((const desk_block_q4_1 *)p)->m);
        *d = H2F(((const desk_block_q4_0 *)p)->d);
        return;
    }
    case DESK_TYPE_Q5_0:
    case DESK_TYPE_Q5_1: {
        const bool one = t == DESK_TYPE_Q5_1;
        const desk_block_q5_0 *b0 = (const void *)p;
        const desk_block_q5_1 *b1 = (const void *)p;
        memcpy(&qh, one ? b1->qh : b0->qh, 4);
        const uint8_t *qs = one ? b1->qs : b0->qs;
        const int off = one ? 0 : 16;
        for (int j = 0; j < 16; j++) {
            q[j] = (int8_t)(((qs[j] & 15) | ((qh >> j) & 1) << 4) - off);
            q[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - off);
        }
        *d = H2F(one ? b1->d : b0->d);
        if (one) *m = H2F(b1->m);
        return;
    }
    default: {
        const desk_block_q8_0 *b = (const void *)p;
        memcpy(q, b->qs, 32);
        *d = H2F(b->d);
        return;
    }
    }
}

static float dot_legacy(uint32_t t, int64_t n, const void *w, const void *act) {
    const bool has_min = t == DESK_TYPE_Q4_1 || t == DESK_TYPE_Q5_1;
    const size_t wsz = desk_type_get(t)->type_size;
    const size_t asz = has_min ? sizeof(desk_block_q8_1) : sizeof(desk_block_q8_0);
    float acc[8] = {0}, summ = 0;
    for (int64_t i = 0; i < n / DESK_QK; i++) {
        int8_t q[32];
        float d, m;
        legacy_levels(t, (const unsigned char *)w + (size_t)i * wsz, q, &d, &m);
        const unsigned char *ap = (const unsigned char *)act + (size_t)i * asz;
        const float ad = H2F(has_min ? ((const desk_block_q8_1 *)ap)->d : ((const desk_block_q8_0 *)ap)->d);
        const int8_t *aq = has_min ? ((const desk_block_q8_1 *)ap)->qs : ((const desk_block_q8_0 *)ap)->qs;
        if (has_min) summ = fmaf(m, H2F(((const desk_block_q8_1 *)ap)->s), summ);
        const float dd = d * ad;
        for (int l = 0; l < 8; l++) acc[l] = fmaf(dd, (float)lane4(q, aq, l), acc[l]);
    }
    return tree8(acc) + summ;
}

static float vd_q4_0(int64_t n, const void *w, const void *a) { return dot_legacy(DESK_TYPE_Q4_0, n, w, a); }
static float vd_q4_1(int64_t n, const void *w, const void *a) { return dot_legacy(DESK_TYPE_Q4_1, n, w, a); }
static float vd_q5_0(int64_t n, const void *w, const void *a) { return dot_legacy(DESK_TYPE_Q5_0, n, w, a); }
static float vd_q5_1(int64_t n, const void *w, const void *a) { return dot_legacy(DESK_TYPE_Q5_1, n, w, a); }
static float vd_q8_0(int64_t n, const void *w, const void *a) { return dot_legacy(DESK_TYPE_Q8_0, n, w, a); }

/* ---- K-quants ---------------------------------------------------------- */

/* Unsigned levels of a Q4_K / Q5_K super-block in element order. */
static void k45_levels(bool five, const void *p, uint8_t q[256]) {
    const desk_block_q4_K *b4 = p;
    const desk_block_q5_K *b5 = p;
    const uint8_t *qs = five ? b5->qs : b4->qs;
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < 32; b++) {
            q[64 * k + b] = qs[32 * k + b] & 15;
            q[64 * k + 32 + b] = qs[32 * k + b] >> 4;
            if (five) {
                q[64 * k + b] |= (uint8_t)(((b5->qh[b] >> (2 * k)) & 1) << 4);
                q[64 * k + 32 + b] |= (uint8_t)(((b5->qh[b] >> (2 * k + 1)) & 1) << 4);
            }
        }
}

/* Sub-block J's (32 elements) integer dot, in lanes added up. */
static int32_t sub_dot(const uint8_t *q, const int8_t *a) {
    int32_t s = 0;
    for (int e = 0; e < 32; e++) s += (int32_t)q[e] * a[e];
    return s;
}

/* Q5_K: 8 lanes over the super-block (lane l: elements 4l..4l+3 of each
 * 32-element sub-block, times its scale), one float sum of the mins. */
static float vd_q5_k(int64_t n, const void *w, const void *act) {
    float acc[8] = {0}, summ = 0;
    for (int64_t i = 0; i < n / DESK_QK_K; i++) {
        const desk_block_q5_K *b = (const desk_block_q5_K *)w + i;
        const desk_block_q8_K *y = (const desk_block_q8_K *)act + i;
        uint8_t q[256], sc[8], m[8];
        k45_levels(true, b, q);
        desk_k4_scales(b->scales, sc, m);
        int32_t lane[8] = {0}, mins = 0;
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 8; l++) {
                int32_t s = 0;
                for (int e = 4 * l; e < 4 * l + 4; e++) s += (int32_t)q[32 * j + e] * y->qs[32 * j + e];
                lane[l] += sc[j] * s;
            }
            mins += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
        }
        const float d = y->d * H2F(b->d), dmin = -y->d * H2F(b->dmin);
        summ = fmaf(dmin, (float)mins, summ);
        for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)lane[l], acc[l]);
    }
    return tree8(acc) + summ;
}

/* Q4_K as llama.cpp's repacked kernels: GEMM (groups of 4 activation
 * rows) adds each pair of sub-blocks into the float sums, GEMV each
 * super-block. */
static float dot_q4_k(bool gemm, int64_t n, const void *w, const void *act) {
    float acc = 0, accm = 0;
    for (int64_t i = 0; i < n / DESK_QK_K; i++) {
        const desk_block_q4_K *b = (const desk_block_q4_K *)w + i;
        const desk_block_q8_K *y = (const desk_block_q8_K *)act + i;
        uint8_t q[256], sc[8], m[8];
        k45_levels(false, b, q);
        desk_k4_scales(b->scales, sc, m);
        const float dd = H2F(b->d) * y->d, dm = H2F(b->dmin) * y->d;
        int32_t isum = 0, imin = 0;
        for (int k = 0; k < 4; k++) {
            const int32_t t = sc[2 * k] * sub_dot(q + 64 * k, y->qs + 64 * k) +
                              sc[2 * k + 1] * sub_dot(q + 64 * k + 32, y->qs + 64 * k + 32);
            const int32_t mk = m[2 * k] * (y->bsums[4 * k] + y->bsums[4 * k + 1]) +
                               m[2 * k + 1] * (y->bsums[4 * k + 2] + y->bsums[4 * k + 3]);
            if (gemm) {
                acc = fmaf((float)t, dd, acc);
                accm = fmaf((float)mk, dm, accm);
            } else {
                isum += t;
                imin += mk;
            }
        }
        if (!gemm) {
            acc = fmaf((float)isum, dd, acc);
            accm = fmaf((float)imin, dm, accm);
        }
    }
    return acc - accm;
}

static float vd_q4_k(int64_t n, const void *w, const void *a) { return dot_q4_k(false, n, w, a); }

static void tile_q4_k(int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc, float *out) {
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            out[r * nc + c] = dot_q4_k(nc == 4, n, (const unsigned char *)w + (size_t)r * ws,
                                       (const unsigned char *)act + (size_t)c * as);
}

/* Q6_K: levels stored as q + 32; lane l of each 32-byte group (scale per
 * 16 bytes), less 32 * scale * (activation group sums) in the lanes of
 * the 16 group sums paired. */
static float vd_q6_k(int64_t n, const void *w, const void *act) {
    float acc[8] = {0};
    for (int64_t i = 0; i < n / DESK_QK_K; i++) {
        const desk_block_q6_K *b = (const desk_block_q6_K *)w + i;
        const desk_block_q8_K *y = (const desk_block_q8_K *)act + i;
        int32_t lane[8] = {0};
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql0 = b->ql + 64 * h, *ql1 = ql0 + 32, *qh = b->qh + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int8_t *a = y->qs + 128 * h + 32 * j;
                for (int l = 0; l < 8; l++) {
                    int32_t s = 0;
                    for (int e = 4 * l; e < 4 * l + 4; e++) {
                        int q;
                        switch (j) {
                        case 0: q = (ql0[e] & 15) | ((qh[e] << 4) & 0x30); break;
                        case 1: q = (ql1[e] & 15) | ((qh[e] << 2) & 0x30); break;
                        case 2: q = (ql0[e] >> 4) | (qh[e] & 0x30); break;
                        default: q = (ql1[e] >> 4) | ((qh[e] >> 2) & 0x30); break;
                        }
                        s += q * a[e];
                    }
                    lane[l] += b->scales[8 * h + 2 * j + (l >= 4)] * s;
                }
            }
        }
        const float d = y->d * H2F(b->d);
        for (int l = 0; l < 8; l++) {
            const int32_t corr = y->bsums[2 * l] * b->scales[2 * l] + y->bsums[2 * l + 1] * b->scales[2 * l + 1];
            acc[l] = fmaf(d, (float)(lane[l] - 32 * corr), acc[l]);
        }
    }
    return tree8(acc);
}

#endif /* __x86_64__ */

const desk_kernel_table desk_kernels_scalar = {
    .name = "scalar",
#if defined(__x86_64__)
    .vec_dot =
        {
            [DESK_TYPE_Q4_0] = vd_q4_0,
            [DESK_TYPE_Q4_1] = vd_q4_1,
            [DESK_TYPE_Q5_0] = vd_q5_0,
            [DESK_TYPE_Q5_1] = vd_q5_1,
            [DESK_TYPE_Q8_0] = vd_q8_0,
            [DESK_TYPE_Q4_K] = vd_q4_k,
            [DESK_TYPE_Q5_K] = vd_q5_k,
            [DESK_TYPE_Q6_K] = vd_q6_k,
        },
    .dot_tile = {[DESK_TYPE_Q4_K] = tile_q4_k},
#endif
};
