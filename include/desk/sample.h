/*
 * sample.h - choosing the next token from a row of logits.
 *
 * The chain follows llama.cpp's default order: penalties (repetition,
 * frequency, presence over the last N accepted tokens) -> top-k -> top-p ->
 * min-p -> temperature -> a draw from the softmax.  Temperature <= 0 is
 * greedy: the highest (penalised) logit wins, ties going to the lowest id.
 * Top-p and min-p therefore see the untempered distribution, as in llama.cpp.
 *
 * Penalties use llama.cpp's semantics: a token seen in the window has its
 * logit divided by repeat_penalty when positive and multiplied when not,
 * then count*frequency_penalty + presence_penalty is subtracted.
 *
 * Randomness: xoshiro256** (Blackman & Vigna, 2018), its 256-bit state
 * filled from the 64-bit seed by four steps of splitmix64.  A draw uses the
 * top 53 bits of one output as a double in [0, 1).  The same seed, model
 * and parameters give the same tokens on every run and machine.
 *
 * Memory: desk_sampler_new allocates everything once (a candidate list of
 * n_vocab entries, the penalty window and per-token counts); sampling a
 * token allocates nothing.  The sampler is owned by the caller and released
 * with desk_sampler_free.
 */
#ifndef DESK_SAMPLE_H
#define DESK_SAMPLE_H

#include <stdint.h>

#include "desk/common.h"
#include "desk/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_sampler desk_sampler;

typedef struct desk_sampler_params {
    float temp;              /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;   /* window of accepted tokens the penalties see; 0: off */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;
} desk_sampler_params;

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05,
 * repeat penalty 1 over 64 tokens, no frequency/presence penalty, seed 0. */
desk_sampler_params desk_sampler_defaults(void);

/* Checks P (ranges named in the error) and allocates a sampler for a
 * vocabulary of N_VOCAB ids. */
desk_status desk_sampler_new(const desk_sampler_params *p, int32_t n_vocab, desk_sampler **out,
                             desk_err *err);
void desk_sampler_free(desk_sampler *s);

/* Picks a token from LOGITS (n_vocab floats, left unchanged).  Does not
 * record it: call desk_sampler_accept with the token actually used. */
desk_token desk_sampler_sample(desk_sampler *s, const float *logits);

/* Adds ID to the penalty window (ids outside the vocabulary are ignored). */
void desk_sampler_accept(desk_sampler *s, desk_token id);

/* Restarts the random stream from SEED (the penalty window stays). */
void desk_sampler_seed(desk_sampler *s, uint64_t seed);

/* Empties the penalty window; the random stream goes on. */
void desk_sampler_reset(desk_sampler *s);

/* The generator alone, for tests and for callers that need the same
 * stream: seed it, then draw 64-bit values or doubles in [0, 1). */
typedef struct desk_rng {
    uint64_t s[4];
} desk_rng;
void desk_rng_seed(desk_rng *r, uint64_t seed);
uint64_t desk_rng_next(desk_rng *r);
double desk_rng_uniform(desk_rng *r);

#ifdef __cplusplus
}
#endif

#endif
