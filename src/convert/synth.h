/*
 * synth.h - random-weight models with the shape of real architectures.
 *
 * For benchmarking sizes desk has no real weights for (Llama 3.2 1B/3B,
 * Llama 3.1 8B): a "llama" architecture GGUF with the real layer count,
 * widths and head counts, a real tokenizer (every tokenizer.* key copied
 * from another GGUF; n_vocab is its token count), and weights drawn from a
 * seeded PRNG: N(0, 0.02) for matrices, 1 for norms, so activations stay
 * finite.  Values depend only on the seed, the tensor and the row - not on
 * the thread count.  Norms are F32; the matrices F16 or the types a
 * quantization recipe (recipe.h) gives them, quantized directly.
 */
#ifndef DESK_CONVERT_SYNTH_H
#define DESK_CONVERT_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "convert/quantize.h"
#include "desk.h"

typedef struct desk_synth_shape {
    const char *name; /* "llama-1b" */
    const char *what; /* the model it copies */
    uint32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;
    bool tied; /* no output.weight: token_embd is the output matrix */
} desk_synth_shape;

/* The shape called NAME, or NULL; desk_synth_shape_list names them all. */
const desk_synth_shape *desk_synth_shape_find(const char *name);
const char *desk_synth_shape_list(void);

/* Writes OUT (atomically) with shape S, the tokenizer of the GGUF at VOCAB,
 * weights from SEED and tensor types from recipe R (F16 when NULL).
 * Errors: the file errors of desk_gguf_open for VOCAB, DESK_E_FORMAT when it
 * has no tokenizer.ggml.tokens array, DESK_E_NOMEM, DESK_E_IO. */
desk_status desk_synth_file(const desk_synth_shape *s, const char *vocab, const char *out,
                            const desk_qrecipe *r, uint64_t seed, const desk_convert_opts *o, desk_err *err);

/* The PRNG the weights come from (exposed for tests): splitmix64 of X. */
uint64_t desk_synth_mix(uint64_t x);

#endif
