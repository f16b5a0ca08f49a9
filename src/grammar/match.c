/*
 * match.c - the matcher of grammar.h: UTF-8 text in, one stack-set step
 * per code point, and the record of why a matcher died.
 *
 * Two sets alternate (the current one and the one being built), so a
 * step never copies the set it reads.  A refused step leaves the matcher
 * dead rather than restoring the old set: keeping a copy for every call
 * would cost more than the callers that want to try text (they clone or
 * copy first) save.
 */
#include "grammar/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct desk_grammar_matcher {
    const desk_grammar *g;
    desk_gwork work;
    desk_gstacks sets[2];
    int cur;          /* sets[cur] is the state */
    desk_gutf8 utf8;  /* a character split across accepts */
    uint64_t n_bytes; /* bytes accepted, for messages */
    desk_err why;     /* status DESK_OK while alive */
};

desk_status desk_grammar_matcher_new(const desk_grammar *g, desk_grammar_matcher **out,
                                     desk_err *err) {
    return desk_grammar_matcher_new_limits(g, 0, 0, out, err);
}

desk_status desk_grammar_matcher_new_limits(const desk_grammar *g, uint32_t max_stacks,
                                            uint32_t max_depth, desk_grammar_matcher **out,
                                            desk_err *err) {
    *out = NULL;
    if (!g)
        return desk_errf(err, DESK_E_ARG, "grammar: matcher of a NULL grammar");
    desk_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a matcher");
    m->g = g;
    desk_gwork_init(&m->work, g);
    desk_grammar_matcher_set_limits(m, max_stacks, max_depth);
    desk_status s = desk_grammar_matcher_reset(m, err);
    if (s != DESK_OK) {
        desk_grammar_matcher_free(m);
        return s;
    }
    *out = m;
    return DESK_OK;
}

void desk_grammar_matcher_free(desk_grammar_matcher *m) {
    if (!m)
        return;
    desk_gwork_free(&m->work);
    desk_gstacks_free(&m->sets[0]);
    desk_gstacks_free(&m->sets[1]);
    free(m);
}

desk_status desk_grammar_matcher_reset(desk_grammar_matcher *m, desk_err *err) {
    m->cur = 0;
    memset(&m->utf8, 0, sizeof m->utf8);
    m->n_bytes = 0;
    memset(&m->why, 0, sizeof m->why);
    desk_status s = desk_gstacks_start(&m->work, &m->sets[0], &m->why);
    if (s != DESK_OK) {
        if (err)
            *err = m->why;
        return s;
    }
    return DESK_OK;
}

desk_status desk_grammar_matcher_copy(desk_grammar_matcher *dst, const desk_grammar_matcher *src,
                                      desk_err *err) {
    if (dst->g != src->g)
        return desk_errf(err, DESK_E_ARG, "grammar: copying between matchers of different grammars");
    if (dst == src)
        return DESK_OK;
    desk_status s = desk_gstacks_copy(&dst->sets[0], &src->sets[src->cur], err);
    if (s != DESK_OK)
        return s;
    dst->cur = 0;
    dst->utf8 = src->utf8;
    dst->n_bytes = src->n_bytes;
    dst->why = src->why;
    dst->work.max_stacks = src->work.max_stacks;
    dst->work.max_depth = src->work.max_depth;
    return DESK_OK;
}

desk_status desk_grammar_matcher_clone(const desk_grammar_matcher *m, desk_grammar_matcher **out,
                                       desk_err *err) {
    *out = NULL;
    desk_grammar_matcher *c = calloc(1, sizeof *c);
    if (!c)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a matcher");
    c->g = m->g;
    desk_gwork_init(&c->work, m->g);
    desk_status s = desk_grammar_matcher_copy(c, m, err);
    if (s != DESK_OK) {
        desk_grammar_matcher_free(c);
        return s;
    }
    *out = c;
    return DESK_OK;
}

void desk_grammar_matcher_set_limits(desk_grammar_matcher *m, uint32_t max_stacks,
                                     uint32_t max_depth) {
    if (max_stacks)
        m->work.max_stacks = max_stacks;
    if (max_depth)
        m->work.max_depth = max_depth;
}

/* Fills the record of why the matcher died with the code point or byte
 * that did it (only when a limit or memory has not said so already). */
static bool die(desk_grammar_matcher *m, const char *what) {
    if (m->why.status == DESK_OK)
        desk_errf(&m->why, DESK_E_FORMAT, "grammar: %s at byte %llu of the text", what,
                  (unsigned long long)m->n_bytes);
    return false;
}

bool desk_grammar_matcher_accept(desk_grammar_matcher *m, const char *utf8, size_t len) {
    if (m->why.status != DESK_OK)
        return false;
    if (!utf8 && len) {
        desk_errf(&m->why, DESK_E_ARG, "grammar: accept of %zu bytes at NULL", len);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        int r = desk_gutf8_push(&m->utf8, (uint8_t)utf8[i]);
        if (r == GU_BAD)
            return die(m, "invalid UTF-8");
        m->n_bytes++;
        if (r == GU_MORE)
            continue;
        int nxt = 1 - m->cur;
        if (desk_gstacks_step(&m->work, &m->sets[m->cur], m->utf8.cp, &m->sets[nxt], &m->why) !=
            DESK_OK)
            return false;
        m->cur = nxt;
        if (m->sets[nxt].n == 0) {
            uint32_t cp = m->utf8.cp;
            m->n_bytes -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            char what[64];
            snprintf(what, sizeof what, "U+%04X is not allowed", (unsigned)m->utf8.cp);
            return die(m, what);
        }
    }
    if (m->utf8.need) {
        uint32_t lo, hi;
        desk_gutf8_range(&m->utf8, &lo, &hi);
        if (!desk_gstacks_allow_range(m->g, &m->sets[m->cur], lo, hi)) {
            m->n_bytes -= m->utf8.have;
            return die(m, "no allowed character starts with the bytes");
        }
    }
    return true;
}

bool desk_grammar_matcher_can_end(const desk_grammar_matcher *m) {
    return m->why.status == DESK_OK && m->utf8.need == 0 && m->sets[m->cur].has_end;
}

bool desk_grammar_matcher_complete(const desk_grammar_matcher *m) {
    const desk_gstacks *s = &m->sets[m->cur];
    return desk_grammar_matcher_can_end(m) && s->n == 1;
}

desk_status desk_grammar_matcher_status(const desk_grammar_matcher *m, desk_err *err) {
    if (err)
        *err = m->why;
    return m->why.status;
}

uint32_t desk_grammar_matcher_stack_count(const desk_grammar_matcher *m) {
    return m->sets[m->cur].n;
}

const desk_gstacks *desk_grammar_matcher_state(const desk_grammar_matcher *m, const desk_grammar **g,
                                               desk_gutf8 *utf8, uint32_t *max_stacks,
                                               uint32_t *max_depth) {
    *g = m->g;
    *utf8 = m->utf8;
    *max_stacks = m->work.max_stacks;
    *max_depth = m->work.max_depth;
    return m->why.status == DESK_OK ? &m->sets[m->cur] : NULL;
}
