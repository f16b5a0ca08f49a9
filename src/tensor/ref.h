/*
 * ref.h - scalar reference routines of every tensor type, named
 * desk_ref_{dequant,quant,vec_dot}_<type>.  The type table (types.c) points
 * at them; these are the ground truth every SIMD kernel is tested against.
 *
 * Contracts, common to all of them:
 *  - N is the number of elements and a multiple of the type's block size
 *    (32 for the legacy quants and IQ4_NL, 256 for K-quants and IQ4_XS,
 *    1 for the float types); callers check with desk_type_row_ok.
 *  - Buffers are caller-owned; nothing is allocated, nothing is kept.
 *  - dequant writes N floats.  It is bit-exact with ggml's dequantizers
 *    (and the gguf Python package's): same formulas, same order of float
 *    operations, no fused multiply-add.
 *  - quant reads N floats and writes desk_type_row_size(type, N) bytes.  It
 *    is deterministic.  Activation types (Q8_0, Q8_1, Q8_K) round as ggml's
 *    reference quantizers do; weight K-quants search scales and mins by
 *    weighted least squares (see docs/QUANTIZATION.md).  Finite input never
 *    gives NaN or inf; NaN input gives some finite block, never UB.
 *  - vec_dot returns the dot product of N weights of this type (W) with N
 *    activations already in the type's vec_dot_type (ACT): Q8_0 for Q4_0,
 *    Q5_0, Q8_0, IQ4_NL; Q8_1 for Q4_1, Q5_1, Q8_1; Q8_K for the K-quants and
 *    IQ4_XS; plain F32 for F32, F16 and BF16 (see types.c).  Integer sums
 *    are exact; per-block float scaling follows ggml's generic code.
 */
#ifndef DESK_TENSOR_REF_H
#define DESK_TENSOR_REF_H

#include <stdint.h>

void desk_ref_dequant_f32(const void *src, float *dst, int64_t n);
void desk_ref_quant_f32(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_f32(int64_t n, const void *w, const void *act);

void desk_ref_dequant_f16(const void *src, float *dst, int64_t n);
void desk_ref_quant_f16(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_f16(int64_t n, const void *w, const void *act);

void desk_ref_dequant_bf16(const void *src, float *dst, int64_t n);
void desk_ref_quant_bf16(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_bf16(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q4_0(const void *src, float *dst, int64_t n);
void desk_ref_quant_q4_0(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q4_0(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q4_1(const void *src, float *dst, int64_t n);
void desk_ref_quant_q4_1(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q4_1(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q5_0(const void *src, float *dst, int64_t n);
void desk_ref_quant_q5_0(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q5_0(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q5_1(const void *src, float *dst, int64_t n);
void desk_ref_quant_q5_1(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q5_1(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q8_0(const void *src, float *dst, int64_t n);
void desk_ref_quant_q8_0(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q8_0(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q8_1(const void *src, float *dst, int64_t n);
void desk_ref_quant_q8_1(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q8_1(int64_t n, const void *w, const void *act);

void desk_ref_dequant_iq4_nl(const void *src, float *dst, int64_t n);
void desk_ref_quant_iq4_nl(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_iq4_nl(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q2_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q2_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q2_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q3_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q3_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q3_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q4_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q4_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q4_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q5_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q5_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q5_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q6_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q6_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q6_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_q8_k(const void *src, float *dst, int64_t n);
void desk_ref_quant_q8_k(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_q8_k(int64_t n, const void *w, const void *act);

void desk_ref_dequant_iq4_xs(const void *src, float *dst, int64_t n);
void desk_ref_quant_iq4_xs(const float *src, void *dst, int64_t n);
float desk_ref_vec_dot_iq4_xs(int64_t n, const void *w, const void *act);

/* Activation quantizers: Q8_0 / Q8_1 as llama.cpp's CPU backend makes
 * them for a matrix product (inverse scale 127/amax, ties to even), which
 * differs from desk_ref_quant_q8_0/_q8_1 (= ggml's reference quantizer,
 * what model files hold) in about one value in 10^4 to 10^5.  Q8_K's
 * activation quantizer is desk_ref_quant_q8_k itself. */
void desk_ref_quant_act_q8_0(const float *src, void *dst, int64_t n);
void desk_ref_quant_act_q8_1(const float *src, void *dst, int64_t n);

/* The 16 values an IQ4_NL / IQ4_XS nibble stands for (ggml's
 * kvalues_iq4nl), for kernels that build lookup tables from it. */
extern const int8_t desk_iq4nl_values[16];

/* A K-quant quantizer with the scale search switched off: each sub-block
 * maps its plain min..max (or -amax..amax) onto the quant range.  For tests
 * and comparisons only; TYPE is one of Q2_K..Q6_K and IQ4_XS.  Returns 0,
 * or -1 (writing nothing) for another type. */
int desk_ref_quant_naive(uint32_t type, const float *src, void *dst, int64_t n);

#endif
