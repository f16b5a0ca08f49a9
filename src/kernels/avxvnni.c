/*
 * avxvnni.c - the AVX-VNNI kernel table: AVX2 + FMA + F16C with the
 * VEX-encoded 256-bit VNNI of AVX-VNNI (Alder Lake and later, Zen 5),
 * compiled with those flags only and chosen at run time when the CPU has
 * them and lacks the AVX-512 set.  The kernels are in x86_body.inc; here the
 * byte dot products are vpdpbusd / vpdpwssd, which never saturate, as in
 * avx512.c, but there are no mask registers, so bit expansion takes the
 * AVX2 form.  Integer dots are exact in every table, so this one gives
 * the AVX2 table's results bit for bit.
 */
#include <immintrin.h>
#include <stdint.h>

static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }

static inline __m256i dot_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i k) {
    return _mm256_dpwssd_avx_epi32(acc, _mm256_maddubs_epi16(u, s), k);
}

/* bits_to_bytes: the AVX2 form, without mask registers. */
#include "kernels/x86_bits.h"

/* The macros x86_body.inc expects (simd_contract.h). */
#define DESK_X86_VNNI 1
#define DESK_X86_ZMM 0
#define DESK_X86_TABLE desk_kernels_avxvnni
#define DESK_X86_NAME "avxvnni"
#include "kernels/x86_body.inc"
#include "kernels/x86_table.inc"
