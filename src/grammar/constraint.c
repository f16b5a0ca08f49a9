/*
 * constraint.c - a grammar bound to a model's vocabulary (desk/grammar.h):
 * the piece of the generation loop that keeps sampled tokens inside it.
 *
 * The loop samples from the raw logits first and asks whether that token
 * fits (one copy of the state plus one accept); only a refused token
 * costs the full mask over the vocabulary, then a second draw from the
 * masked logits.  A model that follows a grammar's shape mostly picks
 * allowed tokens, so most steps skip the mask, as llama.cpp's do.
 */
#include "grammar/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { TOK_TEXT, TOK_END, TOK_EMPTY };

struct desk_constraint {
    const desk_grammar *g;
    const desk_tokenizer *tok;
    int32_t n_vocab;
    desk_grammar_matcher *m;     /* the state */
    desk_grammar_matcher *probe; /* a copy of it for trying one token */
    desk_grammar_vocab *trie;
    desk_grammar_cache *cache;   /* the grammar's states as masks meet them */
    char *bytes;        /* every token's decoded bytes, back to back */
    size_t *off;        /* token i: bytes[off[i] .. off[i+1]) */
    uint8_t *kind;      /* TOK_* per token */
    bool *allowed;      /* the mask's output */
    bool borrowed;      /* the token table, trie and other are another constraint's */
    int32_t *other;     /* the tokens that are not TOK_TEXT */
    int32_t n_other;
};

void desk_constraint_free(desk_constraint *c) {
    if (!c)
        return;
    desk_grammar_matcher_free(c->m);
    desk_grammar_matcher_free(c->probe);
    desk_grammar_cache_free(c->cache);
    if (!c->borrowed) {
        desk_grammar_vocab_free(c->trie);
        free(c->bytes);
        free(c->off);
        free(c->kind);
        free(c->other);
    }
    free(c->allowed);
    free(c);
}

/* Fills the token table: each token's bytes as they decode mid-text. */
static desk_status read_vocab(desk_constraint *c, desk_err *err) {
    size_t total = 0;
    for (int32_t i = 0; i < c->n_vocab; i++)
        total += desk_tokenizer_decode_piece(c->tok, i, false, NULL, 0);
    c->bytes = malloc(total ? total : 1);
    c->off = malloc(((size_t)c->n_vocab + 1) * sizeof *c->off);
    c->kind = malloc((size_t)c->n_vocab);
    c->allowed = malloc((size_t)c->n_vocab * sizeof *c->allowed);
    const char **pieces = malloc((size_t)c->n_vocab * sizeof *pieces);
    size_t *lens = malloc((size_t)c->n_vocab * sizeof *lens);
    if (!c->bytes || !c->off || !c->kind || !c->allowed || !pieces || !lens) {
        free(pieces);
        free(lens);
        return desk_errf(err, DESK_E_NOMEM, "constraint: out of memory for %d tokens", c->n_vocab);
    }
    size_t at = 0;
    for (int32_t i = 0; i < c->n_vocab; i++) {
        c->off[i] = at;
        at += desk_tokenizer_decode_piece(c->tok, i, false, c->bytes + at, total - at);
        if (desk_tokenizer_is_eog(c->tok, i))
            c->kind[i] = TOK_END;
        else
            c->kind[i] = at == c->off[i] ? TOK_EMPTY : TOK_TEXT;
    }
    c->off[c->n_vocab] = at;
    int32_t n_other = 0;
    for (int32_t i = 0; i < c->n_vocab; i++)
        n_other += c->kind[i] != TOK_TEXT;
    c->other = malloc((n_other ? (size_t)n_other : 1) * sizeof *c->other);
    if (!c->other) {
        free(pieces);
        free(lens);
        return desk_errf(err, DESK_E_NOMEM, "constraint: out of memory for %d tokens", c->n_vocab);
    }
    for (int32_t i = 0; i < c->n_vocab; i++)
        if (c->kind[i] != TOK_TEXT)
            c->other[c->n_other++] = i;
    for (int32_t i = 0; i < c->n_vocab; i++) {
        /* end and empty tokens stay out of the trie: their verdicts are
         * not about text */
        pieces[i] = c->bytes + c->off[i];
        lens[i] = c->kind[i] == TOK_TEXT ? c->off[i + 1] - c->off[i] : 0;
    }
    desk_status s = desk_grammar_vocab_new(pieces, lens, c->n_vocab, &c->trie, err);
    free(pieces);
    free(lens);
    return s;
}

/* Gives C its mask cache, state and probe matchers after S (the tables' status), or
 * frees it on a failure. */
static desk_status finish_new(desk_constraint *c, desk_status s, desk_constraint **out, desk_err *err) {
    if (s == DESK_OK)
        s = desk_grammar_cache_new(c->g, c->trie, &c->cache, err);
    if (s == DESK_OK)
        s = desk_grammar_matcher_new(c->g, &c->m, err);
    if (s == DESK_OK)
        s = desk_grammar_matcher_new(c->g, &c->probe, err);
    if (s != DESK_OK) {
        desk_constraint_free(c);
        return s;
    }
    *out = c;
    return DESK_OK;
}

desk_status desk_constraint_new(const desk_grammar *g, const desk_tokenizer *t,
                                desk_constraint **out, desk_err *err) {
    *out = NULL;
    if (!g || !t)
        return desk_errf(err, DESK_E_ARG, "constraint: a NULL grammar or tokenizer");
    desk_constraint *c = calloc(1, sizeof *c);
    if (!c)
        return desk_errf(err, DESK_E_NOMEM, "constraint: out of memory");
    c->g = g;
    c->tok = t;
    c->n_vocab = desk_tokenizer_n_vocab(t);
    return finish_new(c, read_vocab(c, err), out, err);
}

desk_status desk_constraint_reset(desk_constraint *c, desk_err *err) {
    return desk_grammar_matcher_reset(c->m, err);
}

bool desk_constraint_can_end(const desk_constraint *c) {
    return desk_grammar_matcher_can_end(c->m);
}

bool desk_constraint_complete(const desk_constraint *c) {
    return desk_grammar_matcher_complete(c->m);
}

bool desk_constraint_allows(desk_constraint *c, desk_token id) {
    if (id < 0 || id >= c->n_vocab)
        return false;
    if (c->kind[id] == TOK_END)
        return desk_grammar_matcher_can_end(c->m);
    if (c->kind[id] == TOK_EMPTY)
        return false;
    if (desk_grammar_matcher_copy(c->probe, c->m, NULL) != DESK_OK)
        return false;
    return desk_grammar_matcher_accept(c->probe, c->bytes + c->off[id], c->off[id + 1] - c->off[id]);
}

/* Puts -inf in LOGITS where ALLOWED is false; the count allowed.  Without
 * branches: about half of a long vocabulary is allowed in no order, so a
 * branch per token would mispredict half the time (~0.5 ms over 262k
 * tokens).  gcc's -O2 leaves this loop scalar; at O3 it is vectorised
 * (clang vectorises it at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static size_t mask_logits(float *restrict logits, const bool *restrict allowed, int32_t n) {
    const uint32_t neg_inf = 0xFF800000u;
    /* read as bytes (0 or 1): a bool's widening is not vectorised */
    const uint8_t *al = (const uint8_t *)allowed;
    size_t count = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t a = al[i], keep = 0u - a, bits;
        memcpy(&bits, &logits[i], sizeof bits);
        bits = (bits & keep) | (neg_inf & ~keep);
        memcpy(&logits[i], &bits, sizeof bits);
        count += a;
    }
    return count;
}

desk_status desk_constraint_apply(desk_constraint *c, float *logits, const desk_token *end_ids,
                                  size_t n_end, size_t *n_allowed, desk_err *err) {
    if (n_allowed)
        *n_allowed = 0;
    desk_status s = desk_grammar_mask_cached(c->m, c->trie, c->cache, c->allowed, err);
    if (s != DESK_OK)
        return s;
    bool can_end = desk_grammar_matcher_can_end(c->m);
    for (int32_t k = 0; k < c->n_other; k++) {
        int32_t i = c->other[k];
        c->allowed[i] = c->kind[i] == TOK_END && can_end;
    }
    for (size_t k = 0; k < n_end; k++)
        if (end_ids[k] >= 0 && end_ids[k] < c->n_vocab)
            c->allowed[end_ids[k]] = can_end;
    size_t n = mask_logits(logits, c->allowed, c->n_vocab);
    if (n_allowed)
        *n_allowed = n;
    return DESK_OK;
}

desk_status desk_constraint_accept(desk_constraint *c, desk_token id, desk_err *err) {
    if (id < 0 || id >= c->n_vocab)
        return desk_errf(err, DESK_E_ARG, "constraint: token %d is outside the vocabulary", id);
    if (c->kind[id] != TOK_TEXT)
        return desk_errf(err, DESK_E_FORMAT, "constraint: token %d has no text for the grammar", id);
    if (!desk_grammar_matcher_accept(c->m, c->bytes + c->off[id], c->off[id + 1] - c->off[id])) {
        desk_grammar_matcher_status(c->m, err);
        return desk_err_prefix(err, "constraint: token %d", id);
    }
    return DESK_OK;
}

desk_status desk_constraint_new_sharing(const desk_grammar *g, const desk_constraint *vocab_from,
                                        desk_constraint **out, desk_err *err) {
    *out = NULL;
    if (!g || !vocab_from)
        return desk_errf(err, DESK_E_ARG, "constraint: a NULL grammar or constraint to share");
    desk_constraint *c = calloc(1, sizeof *c);
    if (!c)
        return desk_errf(err, DESK_E_NOMEM, "constraint: out of memory");
    c->g = g;
    c->tok = vocab_from->tok;
    c->n_vocab = vocab_from->n_vocab;
    c->trie = vocab_from->trie;
    c->bytes = vocab_from->bytes;
    c->off = vocab_from->off;
    c->kind = vocab_from->kind;
    c->other = vocab_from->other;
    c->n_other = vocab_from->n_other;
    c->borrowed = true;
    c->allowed = malloc((size_t)c->n_vocab * sizeof *c->allowed);
    desk_status s = c->allowed ? DESK_OK
                               : desk_errf(err, DESK_E_NOMEM, "constraint: out of memory for %d tokens", c->n_vocab);
    return finish_new(c, s, out, err);
}
