/*
 * mask.c - which tokens of a vocabulary may come next: the vocabulary's
 * strings as a byte trie, walked depth-first from the matcher's state.
 *
 * Tokens that share a prefix share its trie path, so the prefix is
 * stepped once for all of them, and a dead path (a byte the grammar
 * refuses) cuts off every token below it at once.  Each trie depth has a
 * level holding the state after that many bytes; a byte that leaves a
 * character unfinished steps nothing and shares its parent's stack set.
 * The levels' buffers live in the vocabulary and are reused, so after the
 * first masks a mask allocates nothing.
 */
#include "grammar/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NONE UINT32_MAX

typedef struct level {
    const desk_gstacks *set; /* the state's stacks: own, or an ancestor's */
    desk_gutf8 utf8;
    desk_gstacks own;
} level;

struct desk_grammar_vocab {
    int n_tokens;
    uint32_t n_nodes;
    uint8_t *byte;      /* the byte that leads into each node */
    uint32_t *child;    /* first child, NONE for a leaf */
    uint32_t *sibling;  /* next child of the same parent */
    uint32_t *tok_head; /* first token ending at each node */
    uint32_t *tok_next; /* per token: the next one ending at its node */
    uint32_t max_len;
    level *levels;      /* max_len + 1 */
    uint32_t *todo;     /* the walk: node, depth pairs */
    desk_gwork work;
};

void desk_grammar_vocab_free(desk_grammar_vocab *v) {
    if (!v)
        return;
    for (uint32_t i = 0; v->levels && i <= v->max_len; i++)
        desk_gstacks_free(&v->levels[i].own);
    free(v->levels);
    free(v->byte);
    free(v->child);
    free(v->sibling);
    free(v->tok_head);
    free(v->tok_next);
    free(v->todo);
    desk_gwork_free(&v->work);
    free(v);
}

desk_status desk_grammar_vocab_new(const char *const *pieces, const size_t *lens, int n,
                                   desk_grammar_vocab **out, desk_err *err) {
    *out = NULL;
    if (n < 0 || (n > 0 && (!pieces || !lens)))
        return desk_errf(err, DESK_E_ARG, "grammar: a vocabulary of %d tokens without pieces", n);
    size_t total = 1, max_len = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] && !pieces[i])
            return desk_errf(err, DESK_E_ARG, "grammar: token %d has %zu bytes at NULL", i, lens[i]);
        total += lens[i];
        if (lens[i] > max_len)
            max_len = lens[i];
        if (total >= NONE / 2)
            return desk_errf(err, DESK_E_RANGE, "grammar: the vocabulary's pieces pass %u bytes",
                             NONE / 2);
    }
    desk_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a vocabulary");
    v->n_tokens = n;
    v->max_len = (uint32_t)max_len;
    v->byte = malloc(total);
    v->child = malloc(total * sizeof *v->child);
    v->sibling = malloc(total * sizeof *v->sibling);
    v->tok_head = malloc(total * sizeof *v->tok_head);
    v->tok_next = malloc((n ? (size_t)n : 1) * sizeof *v->tok_next);
    v->todo = malloc(2 * total * sizeof *v->todo);
    v->levels = calloc(max_len + 1, sizeof *v->levels);
    if (!v->byte || !v->child || !v->sibling || !v->tok_head || !v->tok_next || !v->todo ||
        !v->levels) {
        desk_grammar_vocab_free(v);
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a %d-token vocabulary", n);
    }
    v->n_nodes = 1;
    v->byte[0] = 0;
    v->child[0] = v->sibling[0] = v->tok_head[0] = NONE;
    for (int i = 0; i < n; i++) {
        uint32_t x = 0;
        for (size_t k = 0; k < lens[i]; k++) {
            uint8_t b = (uint8_t)pieces[i][k];
            uint32_t c = v->child[x];
            while (c != NONE && v->byte[c] != b)
                c = v->sibling[c];
            if (c == NONE) {
                c = v->n_nodes++;
                v->byte[c] = b;
                v->child[c] = v->tok_head[c] = NONE;
                v->sibling[c] = v->child[x];
                v->child[x] = c;
            }
            x = c;
        }
        v->tok_next[i] = v->tok_head[x];
        v->tok_head[x] = (uint32_t)i;
    }
    desk_gwork_init(&v->work, NULL);
    *out = v;
    return DESK_OK;
}

/* LV = PARENT's state after byte B; false when that state is dead (or a
 * limit stopped it, as accept would).  *ST is set on a real failure. */
static bool step_byte(desk_grammar_vocab *v, const desk_grammar *g, const level *parent, level *lv,
                      uint8_t b, desk_status *st, desk_err *err) {
    lv->utf8 = parent->utf8;
    int r = desk_gutf8_push(&lv->utf8, b);
    if (r == GU_BAD)
        return false;
    if (r == GU_MORE) {
        lv->set = parent->set;
        uint32_t lo, hi;
        desk_gutf8_range(&lv->utf8, &lo, &hi);
        return desk_gstacks_allow_range(g, lv->set, lo, hi);
    }
    desk_err e = {0};
    desk_status s = desk_gstacks_step(&v->work, parent->set, lv->utf8.cp, &lv->own, &e);
    if (s == DESK_E_NOMEM) {
        *st = s;
        if (err)
            *err = e;
    }
    lv->set = &lv->own;
    return s == DESK_OK && lv->own.n > 0;
}

desk_status desk_grammar_mask(const desk_grammar_matcher *m, desk_grammar_vocab *v, bool *allowed,
                              desk_err *err) {
    if (!m || !v || (!allowed && v->n_tokens))
        return desk_errf(err, DESK_E_ARG, "grammar: a mask without a matcher, vocabulary or output");
    if (v->n_tokens)
        memset(allowed, 0, (size_t)v->n_tokens * sizeof *allowed);
    desk_gutf8 utf8;
    uint32_t max_stacks, max_depth;
    const desk_grammar *g;
    const desk_gstacks *start = desk_grammar_matcher_state(m, &g, &utf8, &max_stacks, &max_depth);
    if (!start)
        return DESK_OK; /* a dead matcher allows nothing */
    v->work.g = g;
    v->work.max_stacks = max_stacks;
    v->work.max_depth = max_depth;
    v->levels[0].set = start;
    v->levels[0].utf8 = utf8;
    for (uint32_t t = v->tok_head[0]; t != NONE; t = v->tok_next[t])
        allowed[t] = true;
    size_t n_todo = 0;
    for (uint32_t c = v->child[0]; c != NONE; c = v->sibling[c]) {
        v->todo[n_todo++] = c;
        v->todo[n_todo++] = 1;
    }
    desk_status st = DESK_OK;
    while (n_todo && st == DESK_OK) {
        uint32_t d = v->todo[--n_todo], x = v->todo[--n_todo];
        if (!step_byte(v, g, &v->levels[d - 1], &v->levels[d], v->byte[x], &st, err))
            continue;
        for (uint32_t t = v->tok_head[x]; t != NONE; t = v->tok_next[t])
            allowed[t] = true;
        for (uint32_t c = v->child[x]; c != NONE; c = v->sibling[c]) {
            v->todo[n_todo++] = c;
            v->todo[n_todo++] = d + 1;
        }
    }
    return st;
}
