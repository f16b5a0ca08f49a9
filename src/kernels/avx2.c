/*
 * avx2.c - the AVX2 + FMA + F16C kernel table (compiled with those flags
 * only; chosen at run time when the CPU has them).  The kernels are in
 * x86_body.h; this file gives its primitives their AVX2 form, where a
 * byte dot product is maddubs (u8 x s8 -> pairs in int16) then madd.
 * Every caller keeps u8 * s8 pair sums inside int16 (u <= 128 with
 * |s| <= 127, or u <= 63), so maddubs never saturates.
 */
#include <immintrin.h>
#include <stdint.h>

static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

static inline __m256i dot_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i k) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), k));
}

/* Byte j gets bit j: broadcast the byte holding it, test its bit. */
static inline __m256i bits_to_bytes(uint32_t bits, char v) {
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                         3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), sel);
    const __m256i on = _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
    return _mm256_and_si256(on, _mm256_set1_epi8(v));
}

/* Whether dot_u8s8 takes any u8 (VNNI) or only u8 * s8 pairs that fit
 * int16 (maddubs saturates). */
#define DESK_X86_VNNI 0
#define DESK_X86_TABLE desk_kernels_avx2
#define DESK_X86_NAME "avx2"
#include "kernels/x86_body.h"
