/*
 * avx2.c - the AVX2 + FMA + F16C kernel table (compiled with those flags
 * only; chosen at run time when the CPU has them).  The kernels are in
 * x86_body.inc; this file gives its primitives their AVX2 form, where a
 * byte dot product is maddubs (u8 x s8 -> pairs in int16) then madd.
 * Every caller keeps u8 * s8 pair sums inside int16 (u <= 128 with
 * |s| <= 127, or u <= 63), so maddubs never saturates; the repacked
 * Q4_0 / Q4_K kernels also add up to eight 4-bit pair sums as int16
 * before one widening (x86_body.inc says why that stays exact).  With 16
 * vector registers the batch tiles are 2 weight rows x 4 activation rows
 * (8 float accumulators of 8 lanes each, llama.cpp's per-output sums);
 * a 4 x 4 tile needs 16 accumulators alone.
 */
#include <immintrin.h>
#include <stdint.h>

static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

static inline __m256i dot_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i k) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), k));
}

/* bits_to_bytes: the AVX2 form, without mask registers. */
#include "kernels/x86_bits.h"

/* The macros x86_body.inc expects (simd_contract.h). */
#define DESK_X86_VNNI 0
#define DESK_X86_ZMM 0
#define DESK_X86_TABLE desk_kernels_avx2
#define DESK_X86_NAME "avx2"
#include "kernels/x86_body.inc"
#include "kernels/x86_table.inc"
