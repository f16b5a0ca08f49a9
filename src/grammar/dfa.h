/*
 * grammar/dfa.h - the mask's memory of a grammar's states (dfa.c): each
 * set of stacks the mask reaches is stored once under a number, and the
 * step from it over a code point is remembered, so that tens of thousands
 * of trie nodes reached from one state (every token continuing past a
 * key's closing quote) cost a table read each instead of a step.  Built
 * lazily as masks need it, bounded, one per constraint (see grammar.h,
 * desk_grammar_cache).
 */
#ifndef DESK_SRC_GRAMMAR_DFA_H
#define DESK_SRC_GRAMMAR_DFA_H

#include "grammar/internal.h"

/* Classes of bytes, for a trie node's record of what occurs below it:
 * what a JSON string's body accepts ('"', '\\' and controls aside) is a
 * union of whole classes, so one byte per node decides most subtrees. */
enum { C_QUOTE = 1, C_BSL = 2, C_CTL = 4, C_OTHER = 8, C_HIGH = 16, C_BAD = 32 };

#define GD_UNKNOWN UINT32_MAX       /* a step not taken yet */
#define GD_DEAD (UINT32_MAX - 1)    /* a step the grammar refuses */

/* What a state does with most characters: CHAIN of them in a row, every
 * one among the ASCII bytes LP (and any non-ASCII character when HIGH),
 * lead from state to state along NEXT without dying.  A string's body
 * loops on itself (CHAIN at its cap); a string with maxLength counts down
 * (CHAIN the characters left).  Below a trie node whose every byte and
 * depth fit, all tokens are allowed without a step. */
typedef struct desk_gdinfo {
    uint64_t lp[2];
    uint32_t next;     /* the state those characters lead to, or GD_DEAD */
    uint32_t hi_next;  /* where every non-ASCII character leads (GD_DEAD: none
                          is allowed), GD_UNKNOWN when they differ */
    uint32_t chain;
    uint8_t ok;        /* the byte classes (mask.c's C_*) wholly in LP/HIGH */
    bool high;
    bool known;
    bool chain_known;
    bool visiting;     /* on the chain being measured */
} desk_gdinfo;

struct desk_grammar_cache {
    const desk_grammar *g;
    uint32_t chain_cap;       /* longest chain worth knowing: the vocabulary's longest token */
    uint32_t max_stacks, max_depth;
    uint32_t n_states, cap_states;
    uint32_t *rows;           /* 128 per state: the step over each ASCII character */
    desk_gdinfo *info;
    uint32_t *set_first, *set_n, *set_hash; /* per state: its stacks in the pools */
    uint32_t *pool_off, *pool_len;          /* per stack */
    uint32_t n_pool_stacks, cap_pool_stacks;
    uint32_t *pool;                         /* stack contents */
    size_t n_pool, cap_pool;
    uint32_t *index;          /* states by their sets' hash; cap_index slots */
    uint32_t cap_index;
    uint64_t *hkey;           /* steps over non-ASCII characters: (state << 21 | cp) + 1 */
    uint32_t *hval;
    uint32_t cap_h, n_h;
    uint32_t *order;          /* scratch: a set's stacks sorted */
    uint32_t cap_order;
    uint32_t *path;           /* scratch: a chain being measured */
    desk_gstacks scratch;     /* a step's result before it is stored */
    desk_gwork work;
    bool full;                /* the hard bound was reached during this mask */
};

/* A cache for grammar G (borrowed) whose chains need measuring only up to
 * CHAIN_CAP characters; freed with desk_grammar_cache_free. */
desk_status desk_gdfa_new(const desk_grammar *g, uint32_t chain_cap, desk_grammar_cache **out,
                          desk_err *err);
/* Empties the cache if it was made for other limits or holds more than
 * its soft bound, then sets the limits the next steps run under. */
void desk_gdfa_prepare(desk_grammar_cache *d, uint32_t max_stacks, uint32_t max_depth);
/* *SID = the number of set S (stored if new).  DESK_E_RANGE when the
 * cache is full (d->full), DESK_E_NOMEM. */
desk_status desk_gdfa_intern(desk_grammar_cache *d, const desk_gstacks *s, uint32_t *sid,
                             desk_err *err);
/* *OUT = the state after code point CP from state SID (GD_DEAD when it is
 * refused or passes a limit), remembered. */
desk_status desk_gdfa_step(desk_grammar_cache *d, uint32_t sid, uint32_t cp, uint32_t *out,
                           desk_err *err);
/* Fills d->info[SID] (its chain too), if not known yet. */
desk_status desk_gdfa_info(desk_grammar_cache *d, uint32_t sid, desk_err *err);
/* The byte classes (C_*) whose every byte is in LP (and every non-ASCII
 * character, when HIGH). */
uint8_t desk_gdfa_ok_classes(const uint64_t lp[2], bool high);
/* Whether some stack of state SID accepts a code point in [LO, HI]. */
bool desk_gdfa_allow_range(const desk_grammar_cache *d, uint32_t sid, uint32_t lo, uint32_t hi);

#endif
