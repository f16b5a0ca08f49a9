/*
 * engine.h - the generation loop: prompt tokens -> prefill -> sample ->
 * decode -> streamed text, with stop strings, a token limit, end-of-
 * generation tokens, cancellation and timings.
 *
 * An engine owns one desk_ctx (the KV cache) and one sampler, and remembers
 * which tokens its cache holds.  Each desk_engine_generate call receives a
 * whole prompt; the engine keeps the longest cached prefix of it and
 * decodes only the rest, so a chat that re-renders its whole conversation
 * every turn pays only for the new turn.
 *
 * Stop strings are matched on the decoded text.  Text that could be the
 * start of a stop string is held back until the next token settles it, so
 * a stop string never reaches the caller, not even in part.
 *
 * With a constraint (desk/grammar.h) the text stays inside its grammar:
 * the sampled token is checked first and the logits masked only when it is
 * refused, and generation stops once the grammar is complete.
 *
 * Memory: everything is sized at desk_engine_new (token list and text
 * buffer for a full context); the token loop allocates nothing.
 */
#ifndef DESK_ENGINE_H
#define DESK_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "desk/common.h"
#include "desk/grammar.h"
#include "desk/model.h"
#include "desk/sample.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_engine desk_engine;

typedef struct desk_engine_params {
    desk_ctx_params ctx;
    desk_sampler_params sampling;
} desk_engine_params;

/* Creates a context on M (which must outlive the engine) and a sampler.
 * Owned by the caller: desk_engine_free. */
desk_status desk_engine_new(desk_model *m, const desk_engine_params *p, desk_engine **out,
                            desk_err *err);
void desk_engine_free(desk_engine *e);

int desk_engine_n_ctx(const desk_engine *e);
/* Restarts the sampler's random stream from SEED (several samples of one
 * prompt, each reproducible alone). */
void desk_engine_seed(desk_engine *e, uint64_t seed);
/* Forgets the cache (the next prompt is decoded in full). */
void desk_engine_reset(desk_engine *e);

typedef enum desk_stop_reason {
    DESK_STOP_EOG,       /* an end-of-generation token */
    DESK_STOP_LENGTH,    /* n_predict tokens */
    DESK_STOP_STRING,    /* a stop string */
    DESK_STOP_CONTEXT,   /* the context is full */
    DESK_STOP_CANCELLED, /* *cancel became non-zero */
    DESK_STOP_GRAMMAR,   /* the constraint's grammar is complete: nothing can follow */
} desk_stop_reason;

const char *desk_stop_reason_str(desk_stop_reason r);

typedef struct desk_gen_opts {
    int n_predict;                   /* most tokens to generate (> 0) */
    const char *const *stops;        /* stop strings (non-empty), may be NULL */
    size_t n_stops;
    const desk_token *stop_ids;      /* extra tokens that end generation (a chat */
    size_t n_stop_ids;               /* format's end-of-turn), besides EOG ones */
    /* Receives text as it becomes final; may be NULL. */
    void (*on_text)(void *user, const char *text, size_t len);
    void *user;
    /* Checked before every token and every prefill batch; may be NULL. */
    const volatile sig_atomic_t *cancel;
    /* Keeps the output inside a grammar; may be NULL.  Bound to this
     * engine's model's tokenizer; generate resets it first.  A sampled
     * token the grammar refuses is replaced by a draw from the masked
     * logits; end-of-generation (and stop_ids) only where the text is a
     * complete match. */
    desk_constraint *constraint;
} desk_gen_opts;

typedef struct desk_gen_stats {
    int n_prompt;          /* prompt tokens */
    int n_prefill;         /* of those, decoded now (the rest were cached) */
    int n_gen;             /* tokens generated */
    double t_prefill_s;    /* decoding the prompt */
    double t_first_s;      /* from the call to the first sampled token */
    double t_gen_s;        /* from the end of the prefill to the end */
    desk_stop_reason stop;
} desk_gen_stats;

/* Generates a continuation of PROMPT (N tokens, 1 <= N <= n_ctx).  Text
 * goes to o->on_text as it becomes final.  DESK_E_RANGE when the prompt
 * does not fit; DESK_OK otherwise, also when cancelled (see st->stop). */
desk_status desk_engine_generate(desk_engine *e, const desk_token *prompt, size_t n,
                                 const desk_gen_opts *o, desk_gen_stats *st, desk_err *err);

/* Stop strings on growing text, for a caller that runs its own token loop
 * (the server).  TEXT holds LEN bytes, of which [0, EMITTED) were already
 * released and [0, OLD_LEN) were scanned before this call.  Returns true
 * when one of STOPS (N_STOPS strings; empty ones are skipped) now occurs:
 * *END is where it starts (cut the text there).  Otherwise false, and *END
 * is how far the text can be released: LEN less the longest tail that
 * could still begin a stop string.  Pure: reads TEXT, allocates nothing. */
bool desk_stop_scan(const char *text, size_t len, size_t old_len, size_t emitted,
                    const char *const *stops, size_t n_stops, size_t *end);

/* The tokens the last generate call generated, in order (an end-of-
 * generation token that ended it is not among them; a stop string's
 * tokens are).  Borrowed until the next call; *N receives the count. */
const desk_token *desk_engine_tokens(const desk_engine *e, size_t *n);

/* One token from LOGITS (N_VOCAB floats) inside constraint C, for a
 * caller that runs its own token loop (the server) and for the engine: the
 * sampler's pick when C takes it (the fast path), else a pick from the
 * logits masked into SCRATCH (N_VOCAB floats, the caller's).  END_IDS
 * (N_END) end generation besides T's end-of-generation tokens: allowed
 * only where the text is a complete match.  *USED (may be NULL) gets the
 * row the token was drawn from (LOGITS or SCRATCH).  N_GEN only names the
 * step in the error when the grammar allows no token.  Allocates nothing. */
desk_status desk_sample_constrained(desk_sampler *s, desk_constraint *c, const desk_tokenizer *t,
                                   const float *logits, float *scratch, int32_t n_vocab,
                                   const desk_token *end_ids, size_t n_end, int n_gen, desk_token *id,
                                   const float **used, desk_err *err);

/* The text the last generate call emitted, without any stop string
 * (borrowed until the next call; NUL-terminated). */
const char *desk_engine_text(const desk_engine *e, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
