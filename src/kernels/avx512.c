/*
 * avx512.c - the AVX-512 kernel table (F/BW/VL/DQ/VNNI/BF16; compiled
 * with those flags only and chosen at run time when the CPU has them).
 * The kernels are in x86_body.inc over 256-bit vectors; here the byte dot
 * products are VNNI (vpdpbusd, vpdpwssd), which never saturate, and bit
 * expansion uses a mask register.  On CPUs that split 512-bit operations
 * in two (AMD Zen 4) 256-bit VNNI moves as many bytes per cycle.
 */
#include <immintrin.h>
#include <stdint.h>

static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }

static inline __m256i dot_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i k) {
    return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), k);
}

static inline __m256i bits_to_bytes(uint32_t bits, char v) { return _mm256_maskz_set1_epi8(bits, v); }

/* Whether dot_u8s8 takes any u8 (VNNI) or only u8 * s8 pairs that fit
 * int16 (maddubs saturates). */
#define DESK_X86_VNNI 1
#define DESK_X86_TABLE desk_kernels_avx512
#define DESK_X86_NAME "avx512"
#include "kernels/x86_body.inc"
