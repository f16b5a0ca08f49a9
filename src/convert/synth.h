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
#include "desk/convert.h"

/* The PRNG the weights come from (exposed for tests): splitmix64 of X. */
uint64_t desk_synth_mix(uint64_t x);

#endif
