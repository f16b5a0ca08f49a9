/*
 * recipe.h - quantization recipes: which type each tensor of a model gets.
 *
 * A recipe is a target name ("Q4_K_M") with the llama.cpp file type
 * (general.file_type) it produces and a default tensor type.  The per-tensor
 * choice follows llama.cpp's llama-quant.cpp, so a desk-quantized file holds
 * the same tensor types as one made by llama-quantize from the same input:
 *
 *  - Only tensors of 2+ dimensions whose names end in "weight" are converted,
 *    except "*_norm.weight" and "ffn_gate_inp.weight"; the rest (norms, 1-D
 *    tensors) keep their type and bytes.
 *  - output.weight - and token_embd.weight when the model has no output.weight
 *    (tied embeddings) - gets Q6_K for every quantized recipe except Q8_0
 *    (stays Q8_0); Q8_0 also when its row is not a multiple of the block.
 *  - Q4_K_M: attn_v.weight and ffn_down.weight get Q6_K in the layers where
 *    use_more_bits(i, n) holds: i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2,
 *    i counting those tensors in llama.cpp's order (layer, then name);
 *    attn_qkv.weight counts as attn_v; everything else Q4_K.
 *  - Q5_K_M: the same with Q5_K as the base.
 *  - Q4_K, Q5_K, Q6_K: that type everywhere (llama.cpp has no such uniform
 *    file type; they are written as file_type 14, 16 and 18: Q4_K_S, Q5_K_S
 *    and Q6_K), output/tied embeddings as above.
 *  - Q4_0 .. Q8_0, F16, BF16, F32: that type everywhere (as llama-quantize
 *    without an importance matrix), output/tied embeddings as above.
 *  - A row not a whole number of the chosen type's blocks falls back:
 *    Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 when that still
 *    does not fit.
 */
#ifndef DESK_CONVERT_RECIPE_H
#define DESK_CONVERT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "desk/convert.h"

/* One tensor as the planner sees it. */
typedef struct desk_qtensor {
    const char *name;
    uint32_t n_dims;
    int64_t ne0;      /* row length */
    uint32_t type;    /* its current type */
} desk_qtensor;

/* Chooses the output type of each of the N tensors (in any order) into
 * OUT[i] and sets ORDER[i] to the index of the tensor written i-th
 * (llama.cpp's order: non-layer tensors first, then by layer number, then
 * by name).  The caller owns OUT and ORDER (N entries each).  Fails with
 * DESK_E_NOMEM only. */
desk_status desk_qrecipe_plan(const desk_qrecipe *r, const desk_qtensor *t, int64_t n, uint32_t *out,
                              int64_t *order, desk_err *err);

/* True when a tensor of that name and rank is converted at all. */
bool desk_qrecipe_converts(const char *name, uint32_t n_dims);

#endif
