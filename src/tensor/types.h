/*
 * types.h - the tensor type table: every element type a GGUF file may hold.
 *
 * Type ids are the ones GGUF files store (ggml's numbering).  For each type
 * the table gives its block size and bytes per block, and - for the types
 * desk computes with - the scalar reference routines: dequantize, quantize,
 * and a dot product against activations quantized to the type's
 * `vec_dot_type` (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K
 * for K-quants and IQ4_XS, F32 for the float types).  The routines are in
 * ref.h; they are the ground truth the SIMD kernels are tested against.
 */
#ifndef DESK_TENSOR_TYPES_H
#define DESK_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/gguf.h"


/* Scalar reference routines.  N is a multiple of the type's block size
 * (callers check with desk_type_row_ok); buffers are caller-owned. */
typedef void (*desk_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*desk_quant_fn)(const float *src, void *dst, int64_t n);
/* Dot product of one row of this type with N activations already quantized
 * to the type's vec_dot_type. */
typedef float (*desk_vec_dot_fn)(int64_t n, const void *w, const void *act);

typedef struct desk_type_info {
    const char *name;     /* "Q4_K", as GGUF tools print it */
    int32_t blck;         /* elements per block */
    int32_t type_size;    /* bytes per block */
    bool quantized;
    desk_type vec_dot_type;    /* what activations become for vec_dot */
    desk_dequant_fn dequant;   /* NULL where desk cannot dequantize yet */
    desk_quant_fn quant;       /* NULL where desk cannot quantize */
    desk_vec_dot_fn vec_dot;   /* NULL where desk has no dot product */
    /* For the types activations are converted to (F32, Q8_0, Q8_1, Q8_K):
     * how, bit-exact with llama.cpp's CPU backend; NULL for the others. */
    desk_quant_fn act_quant;
} desk_type_info;

/* Returns the entry for TYPE, or NULL for an id that names no type. */
const desk_type_info *desk_type_get(uint32_t type);

/* Quantizes N floats of SRC into DST (desk_type_row_size(TYPE, N) bytes,
 * caller-owned) with TYPE's reference quantizer - e.g. activations into a
 * weight type's vec_dot_type.  DESK_E_UNSUPPORTED when TYPE has no
 * quantizer, DESK_E_ARG when N is not a whole number of blocks. */
desk_status desk_quantize_row(uint32_t type, const float *src, void *dst, int64_t n, desk_err *err);

/* Quantizes N activations for a dot product with weights of type WTYPE:
 * into WTYPE's vec_dot_type, with that type's act_quant (as llama.cpp's
 * CPU backend does).  DST holds desk_type_row_size(vec_dot_type, N) bytes.
 * The same errors as desk_quantize_row. */
desk_status desk_quantize_acts(uint32_t wtype, const float *src, void *dst, int64_t n, desk_err *err);

/* Dequantizes N elements of TYPE from SRC into N floats at DST; the same
 * errors as desk_quantize_row. */
desk_status desk_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, desk_err *err);

#endif
