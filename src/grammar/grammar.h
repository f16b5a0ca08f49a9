/*
 * grammar/grammar.h - GBNF grammars (llama.cpp's format) and a matcher
 * that says, code point by code point, whether text can still become a
 * complete match: the base for constraining a model's output.
 *
 * The format: rules `name ::= ...` (names of letters, digits and '-'),
 * alternatives `|`, sequences, groups `( )`, repetition `* + ?` and
 * `{m}` `{m,}` `{m,n}`, string literals and character classes `[...]`
 * (ranges, `^` negation) with the escapes \n \t \r \\ \" \[ \] \- \xHH
 * \uHHHH \UHHHHHHHH, `.` for any character, `#` comments to the end of the
 * line.  A rule ends at the end of its line unless the line ends inside
 * parentheses or right after `::=` or `|`.  A rule defined twice is
 * refused (llama.cpp keeps the last one silently), and so (DESK_E_RANGE)
 * are repetition counts past 100000 and grammars whose repetitions
 * expand past 2^20 elements.
 *
 * Design: why a set of stacks.  A grammar with nesting (JSON, a toy
 * language) needs a pushdown automaton; an ambiguous one needs several of
 * them at once.  The matcher keeps every way the text so far can be read
 * as a set of stacks of positions in the grammar (the top: the character
 * element to match next; below it, where to continue when each open rule
 * ends), as llama.cpp does.  A code point keeps the stacks whose top
 * matches it, steps past that element and expands rule references until
 * every top is a character element again.  Repetition is rewritten at
 * parse time into right-recursive helper rules, so a stack's depth is the
 * nesting depth of the text, not its length, and identical stacks are
 * merged, so the set stays small for unambiguous grammars.  Expansion
 * without consuming input must end, which is why left recursion (direct,
 * indirect, or through rules that can match empty) is refused at parse
 * time.
 *
 * Bounds: a matcher refuses to hold more than max_stacks stacks (4096 by
 * default) or stacks deeper than max_depth (1024): the accept that would
 * pass either fails, and desk_grammar_matcher_status says why, instead of
 * memory growing without end on an ambiguous grammar or hostile text.
 *
 * Memory: a matcher allocates only when a step needs more room than any
 * step before it (its two stack sets, the table that merges stacks, the
 * list of stacks still to expand; all grow geometrically and are
 * reused), so once they fit the grammar and the text's nesting, accepting
 * text allocates nothing.  _clone allocates a new matcher; _copy reuses
 * the destination's buffers.  A mask works in its vocabulary's buffers
 * the same way.
 *
 * Ownership: desk_grammar_parse gives the caller a grammar, released with
 * desk_grammar_free after every matcher made from it (a matcher borrows
 * its grammar).  Matchers and vocabularies belong to the caller too
 * (desk_grammar_matcher_free, desk_grammar_vocab_free).  None of these
 * objects may be used from two threads at once; different matchers of one
 * grammar may (the grammar is read-only once parsed).
 */
#ifndef DESK_SRC_GRAMMAR_H
#define DESK_SRC_GRAMMAR_H

#include "desk/common.h"
#include "desk/grammar.h" /* desk_grammar, its parse and free */

typedef struct desk_grammar_matcher desk_grammar_matcher;
typedef struct desk_grammar_vocab desk_grammar_vocab;

/* Rules after parsing, counting the helper rules that groups and
 * repetitions become. */
uint32_t desk_grammar_rule_count(const desk_grammar *g);

/* A matcher at the start of the text, with the default limits. */
desk_status desk_grammar_matcher_new(const desk_grammar *g, desk_grammar_matcher **out,
                                     desk_err *err);
/* The same with other limits (0: the default), for a grammar that can
 * start in more than 4096 ways (a list of that many keywords), which the
 * defaults refuse at once with DESK_E_RANGE. */
desk_status desk_grammar_matcher_new_limits(const desk_grammar *g, uint32_t max_stacks,
                                            uint32_t max_depth, desk_grammar_matcher **out,
                                            desk_err *err);
void desk_grammar_matcher_free(desk_grammar_matcher *m);
/* Back to the start of the text (and alive again). */
desk_status desk_grammar_matcher_reset(desk_grammar_matcher *m, desk_err *err);
/* A new matcher in M's state, with M's limits (for trying a token without
 * committing). */
desk_status desk_grammar_matcher_clone(const desk_grammar_matcher *m, desk_grammar_matcher **out,
                                       desk_err *err);
/* Puts SRC's state into DST (two matchers of the same grammar), reusing
 * DST's buffers. */
desk_status desk_grammar_matcher_copy(desk_grammar_matcher *dst, const desk_grammar_matcher *src,
                                      desk_err *err);
/* Limits on the set of stacks (0 keeps a limit as it is); they apply from
 * the next accept. */
void desk_grammar_matcher_set_limits(desk_grammar_matcher *m, uint32_t max_stacks,
                                     uint32_t max_depth);

/* Feeds LEN bytes of UTF-8.  True when the text so far can still grow
 * into a match of the root rule.  A character split across calls is held
 * until its last byte arrives; a held prefix counts as viable when some
 * character it can begin is allowed next.  False on text the grammar
 * refuses, invalid UTF-8, a limit reached, or NULL bytes with a nonzero
 * LEN (DESK_E_ARG): the matcher is then dead
 * (every later accept is false, can_end is false) until a reset, and
 * desk_grammar_matcher_status tells which. */
bool desk_grammar_matcher_accept(desk_grammar_matcher *m, const char *utf8, size_t len);
/* True when the text so far is a complete match of the root rule (and no
 * character is half-fed). */
bool desk_grammar_matcher_can_end(const desk_grammar_matcher *m);
/* True when the text so far is a complete match that no character can
 * extend (the only stack left is the empty one). */
bool desk_grammar_matcher_complete(const desk_grammar_matcher *m);
/* DESK_OK while alive; else why it died: DESK_E_FORMAT for text outside
 * the grammar or invalid UTF-8 (with the byte offset), DESK_E_RANGE for a
 * limit, DESK_E_ARG for NULL bytes, DESK_E_NOMEM.  ERR may be NULL. */
desk_status desk_grammar_matcher_status(const desk_grammar_matcher *m, desk_err *err);
/* The live stacks (for tests and diagnostics). */
uint32_t desk_grammar_matcher_stack_count(const desk_grammar_matcher *m);

/* A vocabulary's token strings arranged as a byte trie, so that tokens
 * sharing a prefix are matched once.  PIECES[i] is LENS[i] bytes (any
 * bytes, not NUL-terminated); the trie keeps what it needs, not PIECES.
 * It also holds the scratch space masks are computed in, so one
 * vocabulary serves one thread at a time. */
desk_status desk_grammar_vocab_new(const char *const *pieces, const size_t *lens, int n,
                                   desk_grammar_vocab **out, desk_err *err);
void desk_grammar_vocab_free(desk_grammar_vocab *v);
/* ALLOWED[i] (N entries, the vocabulary's size) = whether accepting token
 * i next keeps M's text inside the grammar, exactly as clone + accept
 * would say: a token that would pass M's limits is not allowed, an empty
 * token is allowed while M is alive, a dead M allows nothing.  M is not
 * changed.  Fails only on a NULL argument or when memory runs out. */
desk_status desk_grammar_mask(const desk_grammar_matcher *m, desk_grammar_vocab *v, bool *allowed,
                              desk_err *err);

/* The most characters of one token of V (counted by their first bytes). */
uint32_t desk_grammar_vocab_max_chars(const desk_grammar_vocab *v);

/* The states a grammar's masks meet, remembered between masks (dfa.c):
 * each set of stacks is stepped once per code point, however many trie
 * nodes reach it, and learns which characters it takes in a row, so
 * whole subtrees are allowed without a step.  One per grammar and
 * vocabulary (whose longest token it is sized for); G is borrowed and
 * must outlive it.  Bounded (under 50 MiB); the caller frees it
 * with desk_grammar_cache_free.  One thread at a time. */
typedef struct desk_grammar_cache desk_grammar_cache;
desk_status desk_grammar_cache_new(const desk_grammar *g, const desk_grammar_vocab *v,
                                   desk_grammar_cache **out, desk_err *err);
void desk_grammar_cache_free(desk_grammar_cache *c);
/* The same mask as desk_grammar_mask (the same verdict for every token),
 * through cache C, which it fills.  DESK_E_ARG also for a matcher of
 * another grammar than C's, or a vocabulary with longer tokens than C
 * was made for. */
desk_status desk_grammar_mask_cached(const desk_grammar_matcher *m, desk_grammar_vocab *v,
                                     desk_grammar_cache *c, bool *allowed, desk_err *err);

#endif
