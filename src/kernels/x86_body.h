/*
 * x86_body.h - the x86 kernels, written once over 256-bit vectors and
 * compiled three times: by avx2.c, avxvnni.c and avx512.c, each with its
 * own instruction set flags.  Not a header to include anywhere else.
 *
 * The includer first defines three primitives (the only place the two
 * instruction sets differ):
 *   dot_u8s8(acc, u, s)          acc + sums of 4 adjacent u8*s8 products
 *   dot_u8s8_scaled(acc, u, s, k) acc + sums of 2 adjacent (u8*s8 pair sums
 *                                 times the int16 lanes of k)
 *   bits_to_bytes(bits, v)       byte j = v where bit j of BITS is set, else 0
 * and DESK_X86_TABLE, the name of the table to define.
 *
 * Numerics: every block's integer dot is exact and equal to the scalar
 * reference's; the float scaling per block is the reference's formula; only
 * the order in which block results are summed differs (vector lanes, two
 * accumulators).  Each dot takes 1..4 activation rows (NC) so that a weight
 * row is unpacked once for all of them; the functions are always inlined
 * into per-type wrappers, where the type and NC switches fold away.
 */
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/blocks.h"

#define DESK_INLINE static inline __attribute__((always_inline))
/* Tile loops must unroll fully so that the accumulator arrays live in
 * registers (NR and NC are constants after inlining). */
#define DESK_UNROLL _Pragma("GCC unroll 16")

DESK_INLINE float h2f(desk_f16 h) { return _cvtsh_ss(h); }

DESK_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

DESK_INLINE int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Low nibbles of 16 bytes in bytes 0..15, high nibbles in 16..31. */
DESK_INLINE __m256i nibbles(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

DESK_INLINE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* ---- legacy 32-element blocks -------------------------------------- */

typedef struct wblk {
    __m256i q; /* levels: unsigned, less legacy_offset; Q8_0 signed */
    float d, m;
} wblk;

/* What the unsigned levels of legacy_load stand above zero. */
DESK_INLINE int legacy_offset(int t) { return t == DESK_TYPE_Q4_0 ? 8 : t == DESK_TYPE_Q5_0 ? 16 : 0; }

DESK_INLINE size_t legacy_size(int t) {
    switch (t) {
    case DESK_TYPE_Q4_0: return sizeof(desk_block_q4_0);
    case DESK_TYPE_Q4_1: return sizeof(desk_block_q4_1);
    case DESK_TYPE_Q5_0: return sizeof(desk_block_q5_0);
    case DESK_TYPE_Q5_1: return sizeof(desk_block_q5_1);
    default: return sizeof(desk_block_q8_0);
    }
}

DESK_INLINE wblk legacy_load(int t, const unsigned char *p) {
    wblk r = {.m = 0};
    uint32_t qh;
    switch (t) {
    case DESK_TYPE_Q4_0: {
        const desk_block_q4_0 *b = (const void *)p;
        r.q = nibbles(b->qs);
        r.d = h2f(b->d);
        break;
    }
    case DESK_TYPE_Q4_1: {
        const desk_block_q4_1 *b = (const void *)p;
        r.q = nibbles(b->qs);
        r.d = h2f(b->d);
        r.m = h2f(b->m);
        break;
    }
    case DESK_TYPE_Q5_0: {
        const desk_block_q5_0 *b = (const void *)p;
        memcpy(&qh, b->qh, 4);
        r.q = _mm256_or_si256(nibbles(b->qs), bits_to_bytes(qh, 0x10));
        r.d = h2f(b->d);
        break;
    }
    case DESK_TYPE_Q5_1: {
        const desk_block_q5_1 *b = (const void *)p;
        memcpy(&qh, b->qh, 4);
        r.q = _mm256_or_si256(nibbles(b->qs), bits_to_bytes(qh, 0x10));
        r.d = h2f(b->d);
        r.m = h2f(b->m);
        break;
    }
    default: {
        const desk_block_q8_0 *b = (const void *)p;
        r.q = load32(b->qs);
        r.d = h2f(b->d);
        break;
    }
    }
    return r;
}

/* Lanes of -OFF * (sum of 4 activation levels): the offset's share of a
 * block's dot, so that dot_u8s8(corr, q, y) = sum((q - OFF) * y) per lane
 * (the same lanes as llama.cpp's signed products). */
DESK_INLINE __m256i offset_corr(int off, __m256i y) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), dot_u8s8(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), y));
}

/* Integer dot of a weight block with 32 activation levels, in 8 lanes;
 * CORR from offset_corr (Q4_0, Q5_0; Q8_0 with VNNI), else zero. */
DESK_INLINE __m256i legacy_idot(int t, __m256i corr, __m256i q, __m256i y) {
    if (t == DESK_TYPE_Q8_0) {
        if (DESK_X86_VNNI) return dot_u8s8(corr, _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), y);
        return dot_u8s8(_mm256_setzero_si256(), _mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
    }
    return dot_u8s8(corr, q, y);
}

/* Q8_0 and Q8_1 activation blocks: the levels sit after 2 or 4 bytes. */
DESK_INLINE void act_block(int t, const unsigned char *p, __m256i *y, float *d, float *s) {
    if (t == DESK_TYPE_Q4_1 || t == DESK_TYPE_Q5_1) {
        const desk_block_q8_1 *b = (const void *)p;
        *y = load32(b->qs);
        *d = h2f(b->d);
        *s = h2f(b->s);
    } else {
        const desk_block_q8_0 *b = (const void *)p;
        *y = load32(b->qs);
        *d = h2f(b->d);
        *s = 0;
    }
}

/* Pointer to block I of row R of a weight or activation tile. */
DESK_INLINE const unsigned char *blk(const void *base, size_t stride, int r, int64_t i, size_t size) {
    return (const unsigned char *)base + (size_t)r * stride + (size_t)i * size;
}

/* A matrix-vector product reads each of its two row streams one row
 * after another (kernels.c: dot_chunk), so a stream's next bytes are
 * ROW_AHEAD past the block in hand: the per-row kernels prefetch one line
 * there per 64 bytes or so each row reads (bench_matmul --copies 16,
 * 8192x2048, two threads, one stream: Q8_0 46 -> 54 GB/s, Q6_K 48 -> 56;
 * 4096 bytes ahead gained less). */
#define ROW_AHEAD 8192
/* One accumulator per output, fed block by block, then hsum: the order of
 * llama.cpp's AVX2 kernels, so results match its bit for bit. */
DESK_INLINE void dot_legacy(int t, int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                            float *out) {
    const size_t wsz = legacy_size(t);
    const bool has_min = t == DESK_TYPE_Q4_1 || t == DESK_TYPE_Q5_1;
    const size_t asz = has_min ? sizeof(desk_block_q8_1) : sizeof(desk_block_q8_0);
    const int64_t nb = n / DESK_QK;
    __m256 acc[4][4];
    float summ[4][4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) {
            acc[r][c] = _mm256_setzero_ps();
            summ[r][c] = 0;
        }
    for (int64_t i = 0; i < nb; i++) {
        wblk x[4];
        if (nc == 1) {
            DESK_UNROLL
            for (int r = 0; r < nr; r++) _mm_prefetch((const char *)blk(w, ws, r, i, wsz) + ROW_AHEAD, _MM_HINT_T0);
        }
        DESK_UNROLL
        for (int r = 0; r < nr; r++) x[r] = legacy_load(t, blk(w, ws, r, i, wsz));
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            __m256i y;
            float da, sa;
            act_block(t, blk(act, as, c, i, asz), &y, &da, &sa);
            const int off = t == DESK_TYPE_Q8_0 ? (DESK_X86_VNNI ? 128 : 0) : legacy_offset(t);
            const __m256i corr = off ? offset_corr(off, y) : _mm256_setzero_si256();
            DESK_UNROLL
            for (int r = 0; r < nr; r++) {
                if (has_min) summ[r][c] = fmaf(x[r].m, sa, summ[r][c]); /* llama.cpp: contracted */
                const __m256 p = _mm256_cvtepi32_ps(legacy_idot(t, corr, x[r].q, y));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(x[r].d * da), p, acc[r][c]);
            }
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) out[r * nc + c] = hsum_ps(acc[r][c]) + summ[r][c];
}

/* ---- K-quants (256-element super-blocks, Q8_K activations) ---------- */

/* Bit K of every byte of HB, moved to bit 4. */
DESK_INLINE __m256i bit_to_16(__m256i hb, int k) {
    const __m256i v = k <= 4 ? _mm256_sll_epi16(hb, _mm_cvtsi32_si128(4 - k)) : _mm256_srl_epi16(hb, _mm_cvtsi32_si128(k - 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* The mins term of Q4_K / Q5_K in 4 lanes: lane j holds
 * M[2j] * (bsums[4j] + bsums[4j+1]) + M[2j+1] * (bsums[4j+2] + bsums[4j+3]). */
DESK_INLINE __m128i k4_mins(__m128i m16, const int16_t bsums[16]) {
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(m16, pairs);
}

DESK_INLINE int hsum4_epi32(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1)));
}

DESK_INLINE float hsum4_ps(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

/* Q4_K / Q5_K.  As llama.cpp: Q5_K's scaled integer sums of a super-block
 * in 8 lanes, times d, into one float accumulator, the mins in one float
 * sum; Q4_K as its repacked kernel (see below). */
DESK_INLINE void dot_q45k(bool five, int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                          float *out) {
    const int64_t nb = n / DESK_QK_K;
    const size_t wsz = five ? sizeof(desk_block_q5_K) : sizeof(desk_block_q4_K);
    const size_t asz = sizeof(desk_block_q8_K);
    __m256 acc[4][4];
    float summ[4][4], q4k[4][4], q4km[4][4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) {
            acc[r][c] = _mm256_setzero_ps();
            summ[r][c] = q4k[r][c] = q4km[r][c] = 0;
        }
    for (int64_t i = 0; i < nb; i++) {
        __m256i isum[4][4];
        __m128i m16[4];
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const unsigned char *bp = blk(w, ws, r, i, wsz);
            const desk_block_q4_K *b4 = (const void *)bp;
            const desk_block_q5_K *b5 = (const void *)bp;
            const uint8_t *qs = five ? b5->qs : b4->qs;
            uint8_t sc[8], m[8];
            desk_k4_scales(five ? b5->scales : b4->scales, sc, m);
            m16[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m));
            const __m256i hb = five ? load32(b5->qh) : _mm256_setzero_si256();
            DESK_UNROLL
            for (int c = 0; c < nc; c++) isum[r][c] = _mm256_setzero_si256();
            DESK_UNROLL
            for (int k = 0; k < 4; k++) {
                const __m256i v = load32(qs + 32 * k);
                __m256i lo = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
                if (five) {
                    lo = _mm256_or_si256(lo, bit_to_16(hb, 2 * k));
                    hi = _mm256_or_si256(hi, bit_to_16(hb, 2 * k + 1));
                }
                const __m256i s0 = _mm256_set1_epi16(sc[2 * k]), s1 = _mm256_set1_epi16(sc[2 * k + 1]);
                DESK_UNROLL
                for (int c = 0; c < nc; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    if (!five && nc == 4) {
                        /* Groups of 4 activation rows: the repacked gemm
                         * scales every pair of sub-blocks on its own. */
                        __m256i t = dot_u8s8_scaled(_mm256_setzero_si256(), lo, load32(y->qs + 64 * k), s0);
                        t = dot_u8s8_scaled(t, hi, load32(y->qs + 64 * k + 32), s1);
                        const int mk = m[2 * k] * (y->bsums[4 * k] + y->bsums[4 * k + 1]) +
                                       m[2 * k + 1] * (y->bsums[4 * k + 2] + y->bsums[4 * k + 3]);
                        const float yd = y->d;
                        q4k[r][c] = fmaf((float)hsum_epi32(t), h2f(b4->d) * yd, q4k[r][c]);
                        q4km[r][c] = fmaf((float)mk, h2f(b4->dmin) * yd, q4km[r][c]);
                        continue;
                    }
                    isum[r][c] = dot_u8s8_scaled(isum[r][c], lo, load32(y->qs + 64 * k), s0);
                    isum[r][c] = dot_u8s8_scaled(isum[r][c], hi, load32(y->qs + 64 * k + 32), s1);
                }
            }
        }
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const desk_block_q4_K *b4 = (const void *)blk(w, ws, r, i, wsz);
            const desk_block_q5_K *b5 = (const void *)b4;
            const float xd = h2f(five ? b5->d : b4->d), xdmin = h2f(five ? b5->dmin : b4->dmin);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                const float d = y->d * xd, dmin = -y->d * xdmin;
                const __m128i prod = k4_mins(m16[r], y->bsums);
                if (five) {
                    summ[r][c] = fmaf(dmin, (float)hsum4_epi32(prod), summ[r][c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum[r][c]), acc[r][c]);
                } else if (nc < 4) {
                    /* llama.cpp on x86 multiplies Q4_K weights repacked 8
                     * rows at a time (q4_K_8x8): its gemv keeps one float
                     * sum of the super-blocks' integer dots, one of their
                     * mins (a group of 4 activation rows: see above). */
                    q4k[r][c] = fmaf((float)hsum_epi32(isum[r][c]), xd * y->d, q4k[r][c]);
                    q4km[r][c] = fmaf((float)hsum4_epi32(prod), xdmin * y->d, q4km[r][c]);
                }
            }
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++)
            out[r * nc + c] = five ? hsum_ps(acc[r][c]) + summ[r][c] : q4k[r][c] - q4km[r][c];
}

DESK_INLINE void dot_q6k(int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc, float *out) {
    const int64_t nb = n / DESK_QK_K;
    const size_t wsz = sizeof(desk_block_q6_K), asz = sizeof(desk_block_q8_K);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4][4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const desk_block_q6_K *b = (const void *)blk(w, ws, r, i, wsz);
            /* Levels are stored as q + 32 (0..63); the 32 * scale * sum(y)
             * part comes from the activation's group sums. */
            const __m128i sc8 = _mm_loadu_si128((const __m128i *)b->scales);
            const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
            __m256i isum[4];
            DESK_UNROLL
            for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
            DESK_UNROLL
            for (int h = 0; h < 2; h++) {
                if (nc == 1) {
                    _mm_prefetch((const char *)b + ROW_AHEAD + 128 * h, _MM_HINT_T0);
                    _mm_prefetch((const char *)b + ROW_AHEAD + 128 * h + 64, _MM_HINT_T0);
                }
                const __m256i ql0 = load32(b->ql + 64 * h), ql1 = load32(b->ql + 64 * h + 32);
                const __m256i qh = load32(b->qh + 32 * h);
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
                q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
                DESK_UNROLL
                for (int j = 0; j < 4; j++) {
                    /* Scale g in the low lane, g + 1 in the high: one
                     * byte shuffle and a widening, not two scalar loads
                     * and broadcasts (the shuffle port bounded the gemv). */
                    const char g = (char)(8 * h + 2 * j), g1 = (char)(g + 1);
                    const __m256i s = _mm256_cvtepi8_epi16(
                        _mm_shuffle_epi8(sc8, _mm_set_epi8(g1, g1, g1, g1, g1, g1, g1, g1, g, g, g, g, g, g, g, g)));
                    DESK_UNROLL
                    for (int c = 0; c < nc; c++) {
                        const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                        isum[c] = dot_u8s8_scaled(isum[c], q[j], load32(y->qs + 128 * h + 32 * j), s);
                    }
                }
            }
            const float xd = h2f(b->d);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), sc16);
                const __m256i tot = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr, 5));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(tot), acc[r][c]);
            }
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) out[r * nc + c] = hsum_ps(acc[r][c]);
}

/* ---- float weights, F32 activations ---------------------------------- */

DESK_INLINE __m256 load_w8(int t, const unsigned char *p) {
    if (t == DESK_TYPE_F32) return _mm256_loadu_ps((const float *)p);
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (t == DESK_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
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
    __m256 acc[4][4];
    DESK_UNROLL
    for (int r = 0; r < 4; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[4];
        DESK_UNROLL
        for (int r = 0; r < nr; r++) wv[r] = load_w8(t, blk(w, ws, r, k, es));
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const __m256 a = _mm256_loadu_ps((const float *)blk(act, as, c, k, 4));
            DESK_UNROLL
            for (int r = 0; r < nr; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], a, acc[r][c]);
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const float *a = (const float *)blk(act, as, c, 0, 4);
            float s = hsum_ps(acc[r][c]);
            for (int64_t e = k; e < n; e++) s += to_f32(t, blk(w, ws, r, e, es)) * a[e];
            out[r * nc + c] = s;
        }
}

/* ---- activation quantizers -------------------------------------------- */

/* Largest |x| over 32 floats (NaN ignored, as the reference's compare). */
DESK_INLINE float amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 32; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 floats times ID, clamped to [LO, HI] and rounded to nearest even
 * (NaN gives LO), as int8 in element order. */
DESK_INLINE __m256i round32(const float *x, float id, float lo, float hi) {
    const __m256 vid = _mm256_set1_ps(id), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    __m256i q[4];
    DESK_UNROLL
    for (int j = 0; j < 4; j++) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), vid);
        v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
        q[j] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    const __m256i a = _mm256_packs_epi32(q[0], q[1]), b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p = _mm256_packs_epi16(a, b); /* lanes interleaved: fix the dword order */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
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
        _mm256_storeu_si256((__m256i *)b[i].qs, round32(src, id, -127, 127));
        b[i].d = (desk_f16)_cvtss_sh(d, 0);
    }
}

static void act_q8_1(const float *src, void *dst, int64_t n) {
    desk_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / DESK_QK; i++, src += DESK_QK) {
        float id;
        const float d = act_scale(amax32(src), &id);
        const __m256i q = round32(src, id, -127, 127);
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
        const int sum = hsum_epi32(dot_u8s8(_mm256_setzero_si256(), _mm256_set1_epi8(1), q));
        b[i].d = (desk_f16)_cvtss_sh(d, 0);
        b[i].s = (desk_f16)_cvtss_sh(fminf(fmaxf((float)sum * d, -65504.0f), 65504.0f), 0);
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
        for (int j = 0; j < DESK_QK_K; j += 32) {
            const __m256i q = round32(src + j, iscale, -128, 127);
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* Sums of each 16: pairs of bytes, then pairs of pairs... */
            const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
            const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); /* sums of 4 */
            int32_t t[8];
            _mm256_storeu_si256((__m256i *)t, s32);
            b[i].bsums[j / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
            b[i].bsums[j / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- the 8-row path over desk_repack's layout (Q4_0, Q4_K) ----------------
 * Lanes are the 8 rows of a group (kernels.h gives the layout).  Nibbles
 * are unpacked here, not at repacking, so the layout is no larger than
 * the rows it came from and a matrix-vector product streams it at the
 * rate of the original.  The float steps are llama.cpp's repacked gemm
 * and gemv (kernels.c: packed_order_exact); integer sums are exact, so
 * their order inside a block does not matter.  The kernels prefetch a
 * few KiB ahead of the block they read: groups follow each other in
 * memory, and a decode streams them from DRAM faster so (measured with
 * bench_matmul --repack --copies 64: about +15 % on one core).  Q4_K's
 * 1184-byte groups take their 19 prefetches five per sub-block pair, not
 * in one burst at the group's start: the burst filled the core's miss
 * buffers while the loads behind it waited (bench_matmul --repack
 * --copies 16 q4_k, 8192x2048: 37 -> 44 GB/s on one core, 49 -> 54 on
 * two). */
#define RP_AHEAD_Q4_0 4096
#define RP_AHEAD_Q4_K 8192

/* Broadcast of the 4 bytes at P. */
DESK_INLINE __m256i bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Q4_0: per output one float, block after block: acc = fma(float(exact
 * block dot), d_w * d_a, acc), the same for 1..4 activation rows.  Levels
 * are used unsigned (0..15) and the offset 8 comes off through the
 * activation block's level sum (META). */
DESK_INLINE void rp_q4_0_nc(int64_t n, const void *packed, const void *act, size_t as, const desk_act_meta *meta,
                            size_t ms, int nc, float *out) {
    const int64_t nb = n / DESK_QK;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4];
    DESK_UNROLL
    for (int c = 0; c < 4; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const unsigned char *pb = (const unsigned char *)packed + (size_t)i * DESK_RP_Q4_0_BYTES;
        const unsigned char *ab = (const unsigned char *)act + (size_t)i * sizeof(desk_block_q8_0) + 2;
        DESK_UNROLL
        for (int q = 0; q < DESK_RP_Q4_0_BYTES; q += 64) _mm_prefetch((const char *)pb + RP_AHEAD_Q4_0 + q, _MM_HINT_T0);
        /* Two sums per activation row (low and high nibbles) keep more
         * byte dot products in flight. */
        __m256i lo_sum[4], hi_sum[4];
        DESK_UNROLL
        for (int c = 0; c < 4; c++) lo_sum[c] = hi_sum[c] = _mm256_setzero_si256();
        DESK_UNROLL
        for (int v = 0; v < 4; v++) {
            const __m256i raw = load32(pb + 16 + 32 * v);
            const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const unsigned char *y = ab + (size_t)c * as;
                lo_sum[c] = dot_u8s8(lo_sum[c], lo, bcast4(y + 4 * v));
                hi_sum[c] = dot_u8s8(hi_sum[c], hi, bcast4(y + 16 + 4 * v));
            }
        }
        const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pb));
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const desk_act_meta *am = meta + (size_t)c * ms + i;
            const __m256i v = _mm256_sub_epi32(_mm256_add_epi32(lo_sum[c], hi_sum[c]), _mm256_set1_epi32(8 * am->sum));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(d8, _mm256_set1_ps(am->d)), acc[c]);
        }
    }
    DESK_UNROLL
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

static void rp_q4_0(int64_t n, const void *p, const void *a, size_t as, const desk_act_meta *m, size_t ms, int nc,
                    float *o) {
    switch (nc) {
    case 1: rp_q4_0_nc(n, p, a, as, m, ms, 1, o); break;
    case 2: rp_q4_0_nc(n, p, a, as, m, ms, 2, o); break;
    case 3: rp_q4_0_nc(n, p, a, as, m, ms, 3, o); break;
    default: rp_q4_0_nc(n, p, a, as, m, ms, 4, o); break;
    }
}

#if defined(__AVX512F__)
/* Q4_0 over two adjacent groups (16 rows, OUT[c * 16 + r]), one row per
 * lane of a 512-bit register, as llama.cpp's AVX-512 q4_0_8x8 gemm
 * takes them: each activation broadcast and d_a serve 16 rows, and each
 * output keeps rp_q4_0's float steps exactly (one fma per block). */
DESK_INLINE void rp_q4_0_x2_nc(int64_t n, const void *packed, size_t gap, const void *act, size_t as,
                               const desk_act_meta *meta, size_t ms, int nc, float *out) {
    const int64_t nb = n / DESK_QK;
    const unsigned char *pa = packed, *pb2 = pa + gap; /* the second group */
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[4];
    DESK_UNROLL
    for (int c = 0; c < 4; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const unsigned char *ba = pa + (size_t)i * DESK_RP_Q4_0_BYTES, *bb = pb2 + (size_t)i * DESK_RP_Q4_0_BYTES;
        const unsigned char *ab = (const unsigned char *)act + (size_t)i * sizeof(desk_block_q8_0) + 2;
        DESK_UNROLL
        for (int q = 0; q < DESK_RP_Q4_0_BYTES; q += 64) {
            _mm_prefetch((const char *)ba + RP_AHEAD_Q4_0 + q, _MM_HINT_T0);
            _mm_prefetch((const char *)bb + RP_AHEAD_Q4_0 + q, _MM_HINT_T0);
        }
        __m512i lo_sum[4], hi_sum[4];
        DESK_UNROLL
        for (int c = 0; c < 4; c++) lo_sum[c] = hi_sum[c] = _mm512_setzero_si512();
        DESK_UNROLL
        for (int v = 0; v < 4; v++) {
            const __m512i raw = _mm512_inserti64x4(_mm512_castsi256_si512(load32(ba + 16 + 32 * v)), load32(bb + 16 + 32 * v), 1);
            const __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const unsigned char *y = ab + (size_t)c * as;
                int32_t ylo, yhi;
                memcpy(&ylo, y + 4 * v, 4);
                memcpy(&yhi, y + 16 + 4 * v, 4);
                lo_sum[c] = _mm512_dpbusd_epi32(lo_sum[c], lo, _mm512_set1_epi32(ylo));
                hi_sum[c] = _mm512_dpbusd_epi32(hi_sum[c], hi, _mm512_set1_epi32(yhi));
            }
        }
        const __m512 d16 = _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)ba)), _mm_loadu_si128((const __m128i *)bb), 1));
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const desk_act_meta *am = meta + (size_t)c * ms + i;
            const __m512i v = _mm512_sub_epi32(_mm512_add_epi32(lo_sum[c], hi_sum[c]), _mm512_set1_epi32(8 * am->sum));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(d16, _mm512_set1_ps(am->d)), acc[c]);
        }
    }
    DESK_UNROLL
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(out + 16 * c, acc[c]);
}

static void rp_q4_0_x2(int64_t n, const void *p, size_t gap, const void *a, size_t as, const desk_act_meta *m, size_t ms,
                       int nc, float *o) {
    switch (nc) {
    case 1: rp_q4_0_x2_nc(n, p, gap, a, as, m, ms, 1, o); break;
    case 2: rp_q4_0_x2_nc(n, p, gap, a, as, m, ms, 2, o); break;
    case 3: rp_q4_0_x2_nc(n, p, gap, a, as, m, ms, 3, o); break;
    default: rp_q4_0_x2_nc(n, p, gap, a, as, m, ms, 4, o); break;
    }
}
#define DESK_RP_X2_Q4_0 rp_q4_0_x2
#define DESK_RP_X2_GEMV_Q4_0 true
#else
#define DESK_RP_X2_Q4_0 NULL
#define DESK_RP_X2_GEMV_Q4_0 false
#endif

/* The rows' bytes B[0..7] as int32 lanes, each copied into both 16-bit
 * halves (for madd against int16 pairs). */
DESK_INLINE __m256i bytes_x2(const unsigned char *b) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)b));
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

/* Q4_K as llama.cpp's q4_K_8x8 kernels: 4 activation rows (its gemm) add
 * each pair of sub-blocks' scaled integer dots into a float sum, times
 * d_w * d_a, and their mins into another, times dmin_w * d_a; 1..3 rows
 * (its gemv) add them per super-block.  The result is the first sum less
 * the second. */
DESK_INLINE void rp_q4_k_nc(int64_t n, const void *packed, const void *act, size_t as, int nc, float *out) {
    const size_t asz = sizeof(desk_block_q8_K);
    const bool gemm = nc == 4;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 q4k[4], q4km[4];
    DESK_UNROLL
    for (int c = 0; c < 4; c++) q4k[c] = q4km[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / DESK_QK_K; i++) {
        const unsigned char *pb = (const unsigned char *)packed + (size_t)i * DESK_RP_Q4_K_BYTES;
        const unsigned char *scb = pb + 1024, *mb = pb + 1088;
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pb + 1152)));
        const __m256 dminv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pb + 1168)));
        __m256i isum[4], msum[4];
        DESK_UNROLL
        for (int c = 0; c < 4; c++) isum[c] = msum[c] = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            DESK_UNROLL
            for (int q = 0; q < 320; q += 64) _mm_prefetch((const char *)pb + RP_AHEAD_Q4_K + 320 * k + q, _MM_HINT_T0);
            /* Sub-blocks 2k (low nibbles) and 2k+1 (high). */
            const __m256i sc0 = DESK_X86_VNNI ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(scb + 16 * k)))
                                              : bytes_x2(scb + 16 * k);
            const __m256i sc1 = DESK_X86_VNNI
                                    ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(scb + 16 * k + 8)))
                                    : bytes_x2(scb + 16 * k + 8);
            __m256i s0[4], s1[4];
            DESK_UNROLL
            for (int c = 0; c < 4; c++) s0[c] = s1[c] = _mm256_setzero_si256();
            DESK_UNROLL
            for (int v = 0; v < 8; v++) {
                const __m256i raw = load32(pb + 256 * k + 32 * v);
                const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                DESK_UNROLL
                for (int c = 0; c < nc; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    const __m256i ylo = bcast4(y->qs + 64 * k + 4 * v), yhi = bcast4(y->qs + 64 * k + 32 + 4 * v);
                    if (DESK_X86_VNNI) {
                        s0[c] = dot_u8s8(s0[c], lo, ylo);
                        s1[c] = dot_u8s8(s1[c], hi, yhi);
                    } else {
                        s0[c] = dot_u8s8_scaled(s0[c], lo, ylo, sc0);
                        s1[c] = dot_u8s8_scaled(s1[c], hi, yhi, sc1);
                    }
                }
            }
            const __m256i mm0 = bytes_x2(mb + 16 * k), mm1 = bytes_x2(mb + 16 * k + 8);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                const __m256i t = DESK_X86_VNNI ? _mm256_add_epi32(_mm256_mullo_epi32(s0[c], sc0), _mm256_mullo_epi32(s1[c], sc1))
                                                : _mm256_add_epi32(s0[c], s1[c]);
                isum[c] = _mm256_add_epi32(isum[c], t);
                msum[c] = _mm256_add_epi32(msum[c], _mm256_add_epi32(_mm256_madd_epi16(mm0, bcast4(y->bsums + 4 * k)),
                                                                     _mm256_madd_epi16(mm1, bcast4(y->bsums + 4 * k + 2))));
            }
            if (gemm) {
                DESK_UNROLL
                for (int c = 0; c < 4; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    const __m256 yd = _mm256_set1_ps(y->d);
                    q4k[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dv, yd), q4k[c]);
                    q4km[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum[c]), _mm256_mul_ps(dminv, yd), q4km[c]);
                    isum[c] = msum[c] = _mm256_setzero_si256();
                }
            }
        }
        if (!gemm) {
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                const __m256 yd = _mm256_set1_ps(y->d);
                q4k[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dv, yd), q4k[c]);
                q4km[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum[c]), _mm256_mul_ps(dminv, yd), q4km[c]);
            }
        }
    }
    DESK_UNROLL
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + 8 * c, _mm256_sub_ps(q4k[c], q4km[c]));
}

static void rp_q4_k(int64_t n, const void *p, const void *a, size_t as, const desk_act_meta *m, size_t ms, int nc,
                    float *o) {
    (void)m;
    (void)ms;
    switch (nc) {
    case 1: rp_q4_k_nc(n, p, a, as, 1, o); break;
    case 2: rp_q4_k_nc(n, p, a, as, 2, o); break;
    case 3: rp_q4_k_nc(n, p, a, as, 3, o); break;
    default: rp_q4_k_nc(n, p, a, as, 4, o); break;
    }
}

#if defined(__AVX512F__)
/* The 16 bytes at A (8) and B (8) as int32 lanes of a 512-bit register,
 * each copied into both 16-bit halves (bytes_x2 over two groups). */
DESK_INLINE __m512i bytes_x2_16(const unsigned char *a, const unsigned char *b) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)a),
                                                              _mm_loadl_epi64((const __m128i *)b)));
    return _mm512_or_si512(v, _mm512_slli_epi32(v, 16));
}

/* Q4_K over two adjacent groups (16 rows, OUT[c * 16 + r]), one row per
 * lane of a 512-bit register: each activation broadcast, bsums pair and
 * d_a serve 16 rows.  Each output keeps rp_q4_k's float steps exactly
 * (the gemm's per-pair fmas for 4 activation rows, the gemv's per
 * super-block ones for 1..3); the integer sums are exact. */
DESK_INLINE void rp_q4_k_x2_nc(int64_t n, const void *packed, size_t gap, const void *act, size_t as, int nc,
                               float *out) {
    const size_t asz = sizeof(desk_block_q8_K);
    const int64_t nsb = n / DESK_QK_K;
    const bool gemm = nc == 4;
    const unsigned char *pa = packed, *pb2 = pa + gap; /* the second group */
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 q4k[4], q4km[4];
    DESK_UNROLL
    for (int c = 0; c < 4; c++) q4k[c] = q4km[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        const unsigned char *ba = pa + (size_t)i * DESK_RP_Q4_K_BYTES, *bb = pb2 + (size_t)i * DESK_RP_Q4_K_BYTES;
        DESK_UNROLL
        for (int q = 0; q < DESK_RP_Q4_K_BYTES; q += 64) {
            _mm_prefetch((const char *)ba + RP_AHEAD_Q4_K + q, _MM_HINT_T0);
            _mm_prefetch((const char *)bb + RP_AHEAD_Q4_K + q, _MM_HINT_T0);
        }
        const __m512 dv = _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(ba + 1152))), _mm_loadu_si128((const __m128i *)(bb + 1152)), 1));
        const __m512 dminv = _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(ba + 1168))), _mm_loadu_si128((const __m128i *)(bb + 1168)), 1));
        __m512i isum[4], msum[4];
        DESK_UNROLL
        for (int c = 0; c < 4; c++) isum[c] = msum[c] = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            /* Sub-blocks 2k (low nibbles) and 2k+1 (high); scales as int32. */
            const __m512i sc0 = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(
                _mm_loadl_epi64((const __m128i *)(ba + 1024 + 16 * k)), _mm_loadl_epi64((const __m128i *)(bb + 1024 + 16 * k))));
            const __m512i sc1 = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(ba + 1024 + 16 * k + 8)),
                                                                        _mm_loadl_epi64((const __m128i *)(bb + 1024 + 16 * k + 8))));
            __m512i s0[4], s1[4];
            DESK_UNROLL
            for (int c = 0; c < 4; c++) s0[c] = s1[c] = _mm512_setzero_si512();
            DESK_UNROLL
            for (int v = 0; v < 8; v++) {
                const __m512i raw = _mm512_inserti64x4(_mm512_castsi256_si512(load32(ba + 256 * k + 32 * v)),
                                                       load32(bb + 256 * k + 32 * v), 1);
                const __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                DESK_UNROLL
                for (int c = 0; c < nc; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    int32_t ylo, yhi;
                    memcpy(&ylo, y->qs + 64 * k + 4 * v, 4);
                    memcpy(&yhi, y->qs + 64 * k + 32 + 4 * v, 4);
                    s0[c] = _mm512_dpbusd_epi32(s0[c], lo, _mm512_set1_epi32(ylo));
                    s1[c] = _mm512_dpbusd_epi32(s1[c], hi, _mm512_set1_epi32(yhi));
                }
            }
            const __m512i mm0 = bytes_x2_16(ba + 1088 + 16 * k, bb + 1088 + 16 * k);
            const __m512i mm1 = bytes_x2_16(ba + 1088 + 16 * k + 8, bb + 1088 + 16 * k + 8);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                int32_t b0, b1;
                memcpy(&b0, y->bsums + 4 * k, 4);
                memcpy(&b1, y->bsums + 4 * k + 2, 4);
                isum[c] = _mm512_add_epi32(isum[c], _mm512_add_epi32(_mm512_mullo_epi32(s0[c], sc0), _mm512_mullo_epi32(s1[c], sc1)));
                msum[c] = _mm512_add_epi32(msum[c], _mm512_add_epi32(_mm512_madd_epi16(mm0, _mm512_set1_epi32(b0)),
                                                                     _mm512_madd_epi16(mm1, _mm512_set1_epi32(b1))));
            }
            if (gemm) {
                DESK_UNROLL
                for (int c = 0; c < 4; c++) {
                    const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                    const __m512 yd = _mm512_set1_ps(y->d);
                    q4k[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dv, yd), q4k[c]);
                    q4km[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[c]), _mm512_mul_ps(dminv, yd), q4km[c]);
                    isum[c] = msum[c] = _mm512_setzero_si512();
                }
            }
        }
        if (!gemm) {
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                const __m512 yd = _mm512_set1_ps(y->d);
                q4k[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dv, yd), q4k[c]);
                q4km[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[c]), _mm512_mul_ps(dminv, yd), q4km[c]);
            }
        }
    }
    DESK_UNROLL
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(out + 16 * c, _mm512_sub_ps(q4k[c], q4km[c]));
}

static void rp_q4_k_x2(int64_t n, const void *p, size_t gap, const void *a, size_t as, const desk_act_meta *m, size_t ms,
                       int nc, float *o) {
    (void)m;
    (void)ms;
    switch (nc) {
    case 1: rp_q4_k_x2_nc(n, p, gap, a, as, 1, o); break;
    case 2: rp_q4_k_x2_nc(n, p, gap, a, as, 2, o); break;
    case 3: rp_q4_k_x2_nc(n, p, gap, a, as, 3, o); break;
    default: rp_q4_k_x2_nc(n, p, gap, a, as, 4, o); break;
    }
}
#define DESK_RP_X2_Q4_K rp_q4_k_x2
#else
#define DESK_RP_X2_Q4_K NULL
#endif

/* ---- per-type entry points -------------------------------------------- */

#include "kernels/x86_tiles.h"

#ifndef DESK_EXPAND_Q5_0 /* the expanded batch rows: AVX-512 only */
#define DESK_EXPAND_Q5_0 NULL
#define DESK_XTILE_Q5_0 NULL
#endif

#include "kernels/tile_entry.h"

#include "kernels/x86_ops.h"

const desk_kernel_table DESK_X86_TABLE = {
    .name = DESK_X86_NAME,
    .vec_dot = DESK_ENTRY_VEC_DOT,
    .dot_tile = DESK_ENTRY_DOT_TILE,
    .act_quant =
        {
            [DESK_TYPE_Q8_0] = act_q8_0,
            [DESK_TYPE_Q8_1] = act_q8_1,
            [DESK_TYPE_Q8_K] = act_q8_k,
        },
    .rp_dot = {[DESK_TYPE_Q4_0] = rp_q4_0, [DESK_TYPE_Q4_K] = rp_q4_k},
    .rp_dot16 = {[DESK_TYPE_Q4_0] = DESK_RP_X2_Q4_0, [DESK_TYPE_Q4_K] = DESK_RP_X2_Q4_K},
    .rp_dot16_gemv = {[DESK_TYPE_Q4_0] = DESK_RP_X2_GEMV_Q4_0},
    .expand = {[DESK_TYPE_Q5_0] = DESK_EXPAND_Q5_0},
    .xtile = {[DESK_TYPE_Q5_0] = DESK_XTILE_Q5_0},
    .attn_vec = attn_vec_x86,
    .attn_tiled = attn_tiled_x86,
    .swiglu = swiglu_x86,
    .geglu = geglu_x86,
};
