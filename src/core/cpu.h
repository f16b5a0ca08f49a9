/*
 * cpu.h - what this CPU can do: SIMD features (checked with cpuid and, for
 * the AVX and AVX-512 register state, with xgetbv, so a feature the OS does
 * not save on context switches counts as absent); on aarch64 the ASIMD and
 * dot-product features from the kernel's hardware capabilities
 * (getauxval(AT_HWCAP)).  Pure queries: nothing is cached here, callers keep
 * the result.
 */
#ifndef DESK_CORE_CPU_H
#define DESK_CORE_CPU_H

#include <stdbool.h>

typedef struct desk_cpu {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    bool avx_vnni;             /* AVX-VNNI: VEX-encoded 256-bit vpdpbusd/vpdpwssd */
    bool asimd, asimd_dotprod; /* aarch64: Advanced SIMD, SDOT/UDOT */
} desk_cpu;

/* Fills OUT with this CPU's features (those of other architectures false). */
void desk_cpu_detect(desk_cpu *out);

/* True when every feature the AVX2 kernels use is there (AVX2, FMA, F16C). */
bool desk_cpu_has_avx2(const desk_cpu *c);

/* True when every feature the AVX-VNNI kernels use is there (the AVX2 set
 * plus AVX-VNNI, the VEX-encoded 256-bit byte and word dot products). */
bool desk_cpu_has_avxvnni(const desk_cpu *c);

/* True when every feature the AVX-512 kernels use is there (the AVX2 set
 * plus AVX-512 F, BW, VL, DQ, VNNI and BF16). */
bool desk_cpu_has_avx512(const desk_cpu *c);

/* True when every feature the NEON kernels use is there (ASIMD and the
 * ARMv8.2 dot product). */
bool desk_cpu_has_neon(const desk_cpu *c);

#endif
