/*
 * grammar/internal.h - what the grammar module's files share: a parsed
 * grammar's flat representation and the stack-set machinery the matcher
 * and the token mask both step.
 *
 * A grammar is one array of elements.  Rule r's alternatives follow each
 * other from rule_start[r], each ended by GE_ALT except the last, ended by
 * GE_END.  A stack is an array of element positions, bottom first; its top
 * is always a character element (GE_CHAR, GE_CLASS, GE_ANY) once
 * expanded, and an empty stack means the root rule is complete.
 */
#ifndef DESK_SRC_GRAMMAR_INTERNAL_H
#define DESK_SRC_GRAMMAR_INTERNAL_H

#include "grammar/grammar.h"

enum {
    GE_END,   /* ends a rule */
    GE_ALT,   /* ends an alternative that another follows */
    GE_REF,   /* value: a rule */
    GE_CHAR,  /* value: one code point */
    GE_CLASS, /* value: an index into classes */
    GE_ANY,   /* any code point */
};

typedef struct desk_gelem {
    uint32_t type;
    uint32_t value;
} desk_gelem;

typedef struct desk_grange {
    uint32_t lo, hi; /* inclusive */
} desk_grange;

/* A bracket class: ranges[off .. off+n), sorted and merged, so a negated
 * class covers an interval only if one of its ranges does. */
typedef struct desk_gclass {
    uint32_t off, n;
    bool neg;
} desk_gclass;

/* How a rule came to be, for messages about it. */
enum { GR_NAMED, GR_GROUP, GR_REPEAT };

typedef struct desk_grule {
    char *name;        /* helper rules: "<parent>_<n>" */
    uint32_t kind;     /* GR_* */
    uint32_t line, col; /* definition, or the group / repetition */
} desk_grule;

struct desk_grammar {
    desk_gelem *elems;
    uint32_t n_elems;
    desk_grule *rules;
    uint32_t *rule_start; /* n_rules entries */
    uint32_t *alt_off;    /* n_rules + 1: rule r's alternatives are */
    uint32_t *alts;       /* alts[alt_off[r] .. alt_off[r+1]), their first elements */
    uint32_t n_rules;
    desk_gclass *classes;
    uint32_t n_classes;
    desk_grange *ranges;
    uint32_t n_ranges;
    uint32_t root;
};

/* Refuses left recursion: fills ERR naming the cycle.  Run on a grammar
 * whose references are all defined (check.c). */
desk_status desk_grammar_check_left_recursion(const desk_grammar *g, desk_err *err);

/* Whether element E matches code point CP (E a character element). */
bool desk_gelem_match(const desk_grammar *g, const desk_gelem *e, uint32_t cp);
/* Whether E matches every code point in [LO, HI]. */
bool desk_gelem_match_all_in(const desk_grammar *g, const desk_gelem *e, uint32_t lo, uint32_t hi);
/* Whether E matches some code point in [LO, HI]. */
bool desk_gelem_match_any_in(const desk_grammar *g, const desk_gelem *e, uint32_t lo, uint32_t hi);

/* Grows *P (elements of SIZE bytes, capacity *CAP, both updated) to hold
 * NEED; false (*P untouched) when memory runs out. */
bool desk_ggrow(void **p, size_t *cap, size_t need, size_t size);

/* A set of stacks: stack i is data[off[i] .. off[i]+len[i]). */
typedef struct desk_gstacks {
    uint32_t *data;
    size_t n_data, cap_data;
    uint32_t *off, *len;
    uint32_t n, cap;
    bool has_end; /* holds the empty stack */
} desk_gstacks;

/* The scratch space sets are built in: a hash table that merges identical
 * stacks and the work list of stacks still to expand.  Reused, so steady
 * state allocates nothing. */
typedef struct desk_gwork {
    const desk_grammar *g;
    uint32_t max_stacks, max_depth;
    uint32_t *slot, *stamp; /* hash table: stack index, valid when stamp == cur */
    uint32_t cap_slot, cur;
    uint32_t *list;         /* pending stacks, each followed by its length */
    size_t n_list, cap_list;
    uint32_t *tmp;          /* one stack being rebuilt */
    uint32_t cap_tmp;
} desk_gwork;

void desk_gwork_init(desk_gwork *w, const desk_grammar *g);
void desk_gwork_free(desk_gwork *w);
void desk_gstacks_free(desk_gstacks *s);
desk_status desk_gstacks_copy(desk_gstacks *dst, const desk_gstacks *src, desk_err *err);
/* OUT = the stacks at the start of the text. */
desk_status desk_gstacks_start(desk_gwork *w, desk_gstacks *out, desk_err *err);
/* OUT = IN after code point CP (OUT may end up empty: CP refused).
 * DESK_E_RANGE when a limit is passed. */
desk_status desk_gstacks_step(desk_gwork *w, const desk_gstacks *in, uint32_t cp,
                              desk_gstacks *out, desk_err *err);
/* Whether some stack of S accepts a code point in [LO, HI]. */
bool desk_gstacks_allow_range(const desk_grammar *g, const desk_gstacks *s, uint32_t lo, uint32_t hi);

/* UTF-8 decoding a byte at a time, shared by the matcher and the mask. */
typedef struct desk_gutf8 {
    uint32_t cp;   /* the bits so far */
    uint8_t have;  /* bytes of the character seen */
    uint8_t need;  /* its length; 0 between characters */
    uint8_t first; /* its lead byte */
} desk_gutf8;

enum { GU_BAD, GU_MORE, GU_DONE };
/* Takes byte B: GU_DONE with u->cp complete, GU_MORE inside a character,
 * GU_BAD for invalid UTF-8 (overlong forms, surrogates, past U+10FFFF). */
int desk_gutf8_push(desk_gutf8 *u, uint8_t b);
/* The code points a half-fed character can still become. */
void desk_gutf8_range(const desk_gutf8 *u, uint32_t *lo, uint32_t *hi);

/* The matcher's stacks (NULL when it is dead), grammar, half-fed
 * character and limits, for the mask. */
const desk_gstacks *desk_grammar_matcher_state(const desk_grammar_matcher *m, const desk_grammar **g,
                                               desk_gutf8 *utf8, uint32_t *max_stacks,
                                               uint32_t *max_depth);

#endif
