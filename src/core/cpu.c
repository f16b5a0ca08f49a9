/*
 * cpu.c - CPU feature detection (see cpu.h).
 *
 * cpuid says what the silicon has; xgetbv says which register states the
 * OS saves (XCR0).  AVX needs the SSE and AVX state bits, AVX-512 also the
 * opmask and upper-ZMM bits; without them the instructions fault even
 * though cpuid lists them.  On aarch64 the kernel reports what user space
 * may use in AT_HWCAP (it already accounts for what it saves and enables).
 */
#include "core/cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void desk_cpu_detect(desk_cpu *out) {
    memset(out, 0, sizeof *out);
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const unsigned long long xcr0 = read_xcr0();
    const bool ymm_ok = (xcr0 & 0x6) == 0x6;           /* SSE + AVX state */
    const bool zmm_ok = ymm_ok && (xcr0 & 0xE0) == 0xE0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok) return;
    out->fma = fma;
    out->f16c = f16c;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    out->avx2 = (b >> 5) & 1;
    if (zmm_ok) {
        out->avx512f = (b >> 16) & 1;
        out->avx512dq = (b >> 17) & 1;
        out->avx512bw = (b >> 30) & 1;
        out->avx512vl = (b >> 31) & 1;
        out->avx512vnni = (c >> 11) & 1;
    }
    if (a < 1) return; /* leaf 7's last sub-leaf: no sub-leaf 1 (AVX-VNNI, AVX512_BF16) */
    unsigned int a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    out->avx_vnni = (a1 >> 4) & 1;
    if (zmm_ok) out->avx512bf16 = (a1 >> 5) & 1;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>

/* glibc's sys/auxv.h defines these (bits/hwcap.h); older C libraries may not. */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

void desk_cpu_detect(desk_cpu *out) {
    memset(out, 0, sizeof *out);
    const unsigned long hw = getauxval(AT_HWCAP);
    out->asimd = (hw & HWCAP_ASIMD) != 0;
    out->asimd_dotprod = (hw & HWCAP_ASIMDDP) != 0;
}

#else

void desk_cpu_detect(desk_cpu *out) { memset(out, 0, sizeof *out); }

#endif

bool desk_cpu_has_avx2(const desk_cpu *c) { return c->avx2 && c->fma && c->f16c; }

bool desk_cpu_has_avxvnni(const desk_cpu *c) { return desk_cpu_has_avx2(c) && c->avx_vnni; }

bool desk_cpu_has_avx512(const desk_cpu *c) {
    return desk_cpu_has_avx2(c) && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq &&
           c->avx512vnni && c->avx512bf16;
}

bool desk_cpu_has_neon(const desk_cpu *c) { return c->asimd && c->asimd_dotprod; }
