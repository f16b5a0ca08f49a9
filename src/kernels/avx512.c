/*
 * avx512.c - the AVX-512 kernel table (F/BW/VL/DQ/VNNI/BF16; compiled
 * with those flags only and chosen at run time when the CPU has them).
 * The shared kernels are in x86_body.inc over 256-bit vectors; here the
 * byte dot products are VNNI (vpdpbusd, vpdpwssd), which never saturate,
 * and bit expansion uses a mask register.  On CPUs that split 512-bit
 * operations in two (AMD Zen 4) 256-bit VNNI moves as many bytes per
 * cycle.  The kernels only this table has, over 512-bit registers, are
 * below: the 16-row repacked products (rp_dot16), the batch tiles of
 * 8 (or 4) weight rows for the legacy types and of Q6_K, and the tile
 * over expanded Q5_0 rows.  simd_contract.h says what each part defines.
 */
#include <immintrin.h>
#include <stdint.h>

static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }

static inline __m256i dot_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i k) {
    return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), k);
}

static inline __m256i bits_to_bytes(uint32_t bits, char v) { return _mm256_maskz_set1_epi8(bits, v); }

#define DESK_X86_VNNI 1
#define DESK_X86_ZMM 1
#define DESK_X86_TABLE desk_kernels_avx512
#define DESK_X86_NAME "avx512"
#include "kernels/x86_body.inc"

/* ---- the 16-row repacked products (rp_dot16) --------------------------- */

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

/* ---- batch tiles: 8 (or 4) weight rows x 2..4 activation rows ---------
 * For the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) two outputs
 * per 512-bit register, and Q6_K's 2 x 2..4 tile with two 32-level chunks
 * per register; tile_entry.inc routes tiles here where DESK_TILE4 /
 * DESK_Q6K_WIDE say so (the other x86 tables make wide tiles of 2-row
 * ones).
 *
 * The order of the sums is llama.cpp's (ggml-cpu, x86 build with
 * GGML_NATIVE on this AVX-512 VNNI CPU), which the model's logits must
 * reproduce bit for bit:
 *  - Q8_0 and Q5_0 batches (and Q4_0 where the rows are not a multiple of
 *    8; else its q4_0_8x8 repack, desk's repacked path) go through
 *    llamafile's tinyBLAS_Q0_AVX (sgemm.cpp, gemm4xN / gemmMx4 / gemm):
 *    one __m256 accumulator per output; per block, Cv = fma(d_w * d_a
 *    broadcast, float(dpbusd lanes), Cv) where int32 lane j is the exact
 *    dot of bytes 4j..4j+3 of the 32-element block; at the end hsum(Cv):
 *    high 128 bits plus low, then movehl add, then movehdup add_ss.
 *  - Q4_1 and Q5_1 (no tinyBLAS kernel, no x86 repack) take
 *    ggml_compute_forward_mul_mat's vec_dot per output (nrc = 1,
 *    arch/x86/quants.c): the same accumulator and hsum, plus a scalar
 *    summs = m_w * s_a + summs per block (contracted to an fma), added
 *    after the hsum.  Q6_K likewise (see dot_q6k_wide).
 *  - That is also the order of the single-row vec_dot of all these types,
 *    so a tile equals vec_dot output by output (tests/test_kernels.c).
 * Each lane's integer is exact however it is formed, and d_w * d_a is one
 * rounded product whatever its operand order; so here the levels are the
 * unsigned operand of vpdpbusd (Q8_0 biased by 128, Q4_0 and Q5_0 by their
 * offsets 8 and 16) with the accumulator started at -offset * (lane sum
 * of the activations), computed once per activation block for all rows;
 * a 512-bit register holds two outputs (weight rows 2p and 2p+1, one
 * activation row), so a block costs one vpdpbusd, one conversion, one
 * multiply of the pair's d_w by the broadcast d_a and one fma per two
 * outputs, and each weight block is unpacked once for all activation rows.
 */

/* Which types have the 4- and 8-row tiles (tile_entry.inc). */
#define DESK_TILE4(t)                                                                                              \
    ((t) == DESK_TYPE_Q4_0 || (t) == DESK_TYPE_Q4_1 || (t) == DESK_TYPE_Q5_0 || (t) == DESK_TYPE_Q5_1 ||             \
     (t) == DESK_TYPE_Q8_0)

/* Unsigned levels of a weight block of two rows (row A in the low 256
 * bits), element order; they stand legacy_offset (Q8_0: 128) above the
 * signed level. */
DESK_INLINE __m512i pair_levels(int t, const unsigned char *pa, const unsigned char *pb) {
    if (t == DESK_TYPE_Q8_0 || t == XT_Q5_0) {
        const desk_block_q8_0 *a = (const void *)pa, *b = (const void *)pb;
        const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(load32(a->qs)), load32(b->qs), 1);
        return t == XT_Q5_0 ? v : _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    const uint8_t *qa, *qb;
    const uint8_t *ha = NULL, *hb = NULL;
    switch (t) {
    case DESK_TYPE_Q4_0:
        qa = ((const desk_block_q4_0 *)(const void *)pa)->qs;
        qb = ((const desk_block_q4_0 *)(const void *)pb)->qs;
        break;
    case DESK_TYPE_Q4_1:
        qa = ((const desk_block_q4_1 *)(const void *)pa)->qs;
        qb = ((const desk_block_q4_1 *)(const void *)pb)->qs;
        break;
    case DESK_TYPE_Q5_0:
        qa = ((const desk_block_q5_0 *)(const void *)pa)->qs;
        qb = ((const desk_block_q5_0 *)(const void *)pb)->qs;
        ha = ((const desk_block_q5_0 *)(const void *)pa)->qh;
        hb = ((const desk_block_q5_0 *)(const void *)pb)->qh;
        break;
    default:
        qa = ((const desk_block_q5_1 *)(const void *)pa)->qs;
        qb = ((const desk_block_q5_1 *)(const void *)pb)->qs;
        ha = ((const desk_block_q5_1 *)(const void *)pa)->qh;
        hb = ((const desk_block_q5_1 *)(const void *)pb)->qh;
        break;
    }
    /* 128-bit lanes: A, A, B, B (broadcasts); the odd lanes shifted by 4
     * give the high nibbles (elements 16..31). */
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qa));
    v = _mm512_mask_broadcast_i32x4(v, 0xFF00, _mm_loadu_si128((const __m128i *)qb));
    const __m512i sh = _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0, 0, 0x0004000400040004LL,
                                        0x0004000400040004LL, 0, 0);
    v = _mm512_srlv_epi16(v, sh);
    if (!ha) return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
    uint32_t a, b;
    memcpy(&a, ha, 4);
    memcpy(&b, hb, 4);
    /* (v & 0x0F) | high bits, in one ternary-logic op. */
    const __m512i hi = _mm512_maskz_set1_epi8((__mmask64)a | (__mmask64)b << 32, 0x10);
    return _mm512_ternarylogic_epi32(v, _mm512_set1_epi8(0x0F), hi, 0xEA);
}

/* 2 * NP weight rows (NP = 2 or 4) x NC (2..4) activation rows;
 * out[r * nc + c]. */
DESK_INLINE void dot_legacy_rows(int t, int np, int64_t n, const void *w, size_t ws, const void *act, size_t as,
                                 int nc, float *out) {
    const size_t wsz = t == XT_Q5_0 ? sizeof(desk_block_q8_0) : legacy_size(t);
    const bool has_min = t == DESK_TYPE_Q4_1 || t == DESK_TYPE_Q5_1;
    const size_t asz = has_min ? sizeof(desk_block_q8_1) : sizeof(desk_block_q8_0);
    const int off = t == DESK_TYPE_Q8_0 ? 128 : t == XT_Q5_0 ? 16 : legacy_offset(t);
    const int64_t nb = n / DESK_QK;
    /* Lane 4c + r of a group of 4 rows' scale products is its row r with
     * activation row c. */
    const __m512i rep_c = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i pair_lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i pair_hi = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    __m512 acc[4][4], summ[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    DESK_UNROLL
    for (int p = 0; p < 4; p++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) acc[p][c] = _mm512_setzero_ps();
    const unsigned char *a[4];
    DESK_UNROLL
    for (int c = 0; c < 4; c++) a[c] = blk(act, as, c < nc ? c : 0, 0, 0);
    for (int64_t i = 0; i < nb; i++) {
        const unsigned char *wr[8];
        DESK_UNROLL
        for (int r = 0; r < 2 * np; r++) wr[r] = blk(w, ws, r, i, wsz);
        const unsigned char *ab[4];
        DESK_UNROLL
        for (int c = 0; c < 4; c++) ab[c] = a[c] + (size_t)i * asz;
        __m512i lv[4];
        DESK_UNROLL
        for (int p = 0; p < np; p++) lv[p] = pair_levels(t, wr[2 * p], wr[2 * p + 1]);
        /* Scales: d_w of rows 2p, 2p+1 in the halves of dw[p], times d_a
         * broadcast (one rounded product, as llama.cpp's). */
        float daf[4];
        _mm_storeu_ps(daf, h4(ab[0], ab[1], ab[2], ab[3]));
        __m512 dw[4];
        /* The bound is computed apart: under gcc -O0 with UBSan a checked
         * division in the loop condition drops the unroll annotation. */
        const int ngroups = np / 2;
        DESK_UNROLL
        for (int g = 0; g < ngroups; g++) {
            const unsigned char *const *q = wr + 4 * g;
            const __m512 d4 = _mm512_castps128_ps512(h4(q[0], q[1], q[2], q[3]));
            dw[2 * g] = _mm512_permutexvar_ps(pair_lo, d4);
            dw[2 * g + 1] = _mm512_permutexvar_ps(pair_hi, d4);
            /* llama.cpp: summs += m_w * s_a, contracted. */
            if (has_min)
                summ[g] = _mm512_fmadd_ps(_mm512_broadcast_f32x4(h4(q[0] + 2, q[1] + 2, q[2] + 2, q[3] + 2)),
                                          _mm512_permutexvar_ps(rep_c, _mm512_castps128_ps512(h4(
                                                                           ab[0] + 2, ab[1] + 2, ab[2] + 2, ab[3] + 2))),
                                          summ[g]);
        }
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            const __m512i y = _mm512_broadcast_i64x4(load32(ab[c] + asz - DESK_QK));
            __m512i corr = _mm512_setzero_si512();
            if (off)
                corr = _mm512_sub_epi32(corr, _mm512_dpbusd_epi32(corr, _mm512_set1_epi8((char)off), y));
            const __m512 da = _mm512_set1_ps(daf[c]);
            DESK_UNROLL
            for (int p = 0; p < np; p++) {
                const __m512 q = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, lv[p], y));
                acc[p][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[p], da), q, acc[p][c]);
            }
        }
    }
    float sm[2][16];
    _mm512_storeu_ps(sm[0], summ[0]);
    _mm512_storeu_ps(sm[1], summ[1]);
    DESK_UNROLL
    for (int p = 0; p < np; p++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) {
            float lo = hsum_ps(_mm512_castps512_ps256(acc[p][c])), hi = hsum_ps(_mm512_extractf32x8_ps(acc[p][c], 1));
            if (has_min) {
                lo += sm[p >> 1][4 * c + 2 * (p & 1)];
                hi += sm[p >> 1][4 * c + 2 * (p & 1) + 1];
            }
            out[(2 * p) * nc + c] = lo;
            out[(2 * p + 1) * nc + c] = hi;
        }
}

/* The wide tiles of tile_entry.inc: NR = 4 or 8 weight rows x NC = 2..4. */
DESK_INLINE void kern_rows(int t, int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                           float *o) {
    if (nr == 8) {
        switch (nc) {
        case 2: dot_legacy_rows(t, 4, n, w, ws, a, as, 2, o); return;
        case 3: dot_legacy_rows(t, 4, n, w, ws, a, as, 3, o); return;
        default: dot_legacy_rows(t, 4, n, w, ws, a, as, 4, o); return;
        }
    }
    switch (nc) {
    case 2: dot_legacy_rows(t, 2, n, w, ws, a, as, 2, o); return;
    case 3: dot_legacy_rows(t, 2, n, w, ws, a, as, 3, o); return;
    default: dot_legacy_rows(t, 2, n, w, ws, a, as, 4, o); return;
    }
}

/* 8 expanded Q5_0 rows x NC (2..4) activation rows: tile_q5_0's sums. */
static void xtile_q5_0(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    (void)nr; /* always 8 (kernels.c) */
    switch (nc) {
    case 2: dot_legacy_rows(XT_Q5_0, 4, n, w, ws, a, as, 2, o); return;
    case 3: dot_legacy_rows(XT_Q5_0, 4, n, w, ws, a, as, 3, o); return;
    default: dot_legacy_rows(XT_Q5_0, 4, n, w, ws, a, as, 4, o); return;
    }
}

/* Q6_K, NR (1..2) weight rows x NC (2..4) activation rows, in the lanes
 * of llama.cpp's ggml_vec_dot_q6_K_q8_K (AVX2 path, which the AVX-512
 * build runs): per super-block, int32 lane l (of 8) sums over the 8
 * chunks of 32 levels scale(group) * (bytes 4l..4l+3 of q * y), less
 * 32 * (bsums[2l] * sc[2l] + bsums[2l+1] * sc[2l+1]); then
 * acc = fma(y.d * d_w, float(lane), acc), and hsum at the end.  Here a
 * 512-bit register holds two chunks (lanes l and 8 + l), whose halves are
 * added once per super-block: the same exact integers. */
#define DESK_Q6K_WIDE 1
DESK_INLINE void dot_q6k_wide(int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,
                              float *out) {
    const int64_t nb = n / DESK_QK_K;
    const size_t wsz = sizeof(desk_block_q6_K), asz = sizeof(desk_block_q8_K);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* Level bits 4-5 from qh: chunks 0 and 1 of a half shift qh left by
     * 4 and 2, chunks 2 and 3 right by 0 and 2 (16-bit lanes; the mask
     * drops what crosses a byte). */
    const __m512i shl = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL,
                                         0x0002000200020002LL, 0x0004000400040004LL, 0x0004000400040004LL,
                                         0x0004000400040004LL, 0x0004000400040004LL);
    const __m512i shr = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL,
                                         0x0002000200020002LL, 0, 0, 0, 0);
    __m256 acc[2][4];
    DESK_UNROLL
    for (int r = 0; r < 2; r++)
        DESK_UNROLL
        for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        DESK_UNROLL
        for (int r = 0; r < nr; r++) {
            const desk_block_q6_K *b = (const void *)blk(w, ws, r, i, wsz);
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            /* Register m holds chunks 2m and 2m+1: elements 64m..64m+63,
             * groups 4m..4m+3 (one per 128-bit quarter). */
            __m512i q[4], s[4];
            DESK_UNROLL
            for (int h = 0; h < 2; h++) {
                const __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
                const __m512i qh = _mm512_broadcast_i64x4(load32(b->qh + 32 * h));
                q[2 * h] = _mm512_ternarylogic_epi32(ql, m4, _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30), 0xEA);
                q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4,
                                                         _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m30), 0xEA);
            }
            DESK_UNROLL
            for (int m = 0; m < 4; m++) {
                const __m512i sel = _mm512_set_epi64(
                    0x0001000100010001LL * (4 * m + 3), 0x0001000100010001LL * (4 * m + 3),
                    0x0001000100010001LL * (4 * m + 2), 0x0001000100010001LL * (4 * m + 2),
                    0x0001000100010001LL * (4 * m + 1), 0x0001000100010001LL * (4 * m + 1),
                    0x0001000100010001LL * (4 * m), 0x0001000100010001LL * (4 * m));
                s[m] = _mm512_permutexvar_epi16(sel, _mm512_castsi256_si512(sc16));
            }
            const float xd = h2f(b->d);
            DESK_UNROLL
            for (int c = 0; c < nc; c++) {
                const desk_block_q8_K *y = (const void *)blk(act, as, c, i, asz);
                __m512i isum = _mm512_setzero_si512();
                DESK_UNROLL
                for (int m = 0; m < 4; m++)
                    isum = _mm512_dpwssd_epi32(
                        isum, _mm512_maddubs_epi16(q[m], _mm512_loadu_si512((const void *)(y->qs + 64 * m))), s[m]);
                const __m256i folded =
                    _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
                const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), sc16);
                const __m256i tot = _mm256_sub_epi32(folded, _mm256_slli_epi32(corr, 5));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(tot), acc[r][c]);
            }
        }
    }
    DESK_UNROLL
    for (int r = 0; r < nr; r++)
        DESK_UNROLL
        for (int c = 0; c < nc; c++) out[r * nc + c] = hsum_ps(acc[r][c]);
}

/* The entry points and the table, with this file's kernels in it. */
#define DESK_X86_WIDE 1
#include "kernels/x86_table.inc"
