/*
 * x86_bits.h - x86_body.inc's bits_to_bytes primitive for the tables
 * without AVX-512 mask registers (avx2.c, avxvnni.c).  Include before
 * x86_body.inc, in a file compiled with AVX2 (simd_contract.h).
 */
#include <immintrin.h>
#include <stdint.h>

/* Byte j gets V where bit j of BITS is set: broadcast the byte holding
 * the bit, test it. */
static inline __m256i bits_to_bytes(uint32_t bits, char v) {
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                         3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), sel);
    const __m256i on = _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
    return _mm256_and_si256(on, _mm256_set1_epi8(v));
}
