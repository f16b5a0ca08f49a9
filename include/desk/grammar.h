/*
 * grammar.h - structured output: GBNF grammars (llama.cpp's format), JSON
 * Schema turned into GBNF, and a constraint that keeps a model's sampled
 * tokens inside a grammar.
 *
 * The flow: desk_grammar_parse (or desk_json_schema_to_gbnf, then parse)
 * gives a grammar; desk_constraint_new binds it to a model's vocabulary;
 * the generation loop (desk_gen_opts.constraint, or a server's own loop)
 * asks the constraint whether a sampled token fits, masks the logits only
 * when it does not, and feeds it every token it keeps.
 *
 * GBNF: rules `name ::= ...`, alternatives `|`, groups, `* + ?`,
 * `{m}` `{m,}` `{m,n}`, string literals, character classes `[...]` with
 * ranges and `^` negation, the escapes \n \t \r \\ \" \[ \] \- \xHH \uHHHH
 * \UHHHHHHHH, `.` for any character, `#` comments.  Left recursion and
 * undefined rules are refused with the line and column.
 *
 * JSON Schema: see desk_json_schema_to_gbnf for what is supported; any
 * other keyword is refused by name, never ignored.
 *
 * Ownership: a grammar belongs to the caller (desk_grammar_free) and must
 * outlive every constraint made from it; a constraint borrows the
 * tokenizer too.  A grammar is read-only once parsed, so constraints on
 * several threads may share it; one constraint serves one thread.
 */
#ifndef DESK_GRAMMAR_H
#define DESK_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

#include "desk/common.h"
#include "desk/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_grammar desk_grammar;
typedef struct desk_constraint desk_constraint;

/* Parses LEN bytes of GBNF TEXT with ROOT as the start rule ("root" when
 * NULL).  Errors read "grammar:LINE:COL: ..." (COL in bytes from 1).  The
 * grammar is the caller's: desk_grammar_free. */
desk_status desk_grammar_parse(const char *text, size_t len, const char *root,
                               desk_grammar **out, desk_err *err);
void desk_grammar_free(desk_grammar *g);

/* Converts a JSON Schema (LEN bytes of JSON text) into GBNF whose root
 * rule matches exactly the JSON documents the schema accepts, with
 * optional whitespace between tokens (one run: a space, or a newline and
 * up to 20 spaces or tabs; none before or after the document).  *GBNF is
 * NUL-terminated, *GBNF_LEN bytes long (may be NULL), and the caller's
 * (free()).
 *
 * Supported: type (a name or an array of names), properties, required,
 * additionalProperties (true when absent, as the specification says:
 * known properties come first, in schema order, then any others), items,
 * prefixItems, enum, const, anyOf, oneOf (as anyOf: a document matching
 * two branches is not refused), allOf (of object schemas, merged), $ref
 * to "#", "#/$defs/NAME" and "#/definitions/NAME" (recursion included),
 * minLength/maxLength, minItems/maxItems, minimum/maximum and
 * exclusiveMinimum/exclusiveMaximum for integers, pattern, format (date,
 * time, date-time, uuid), and the annotations title, description,
 * $schema, $id, $comment, examples, default, deprecated, readOnly,
 * writeOnly.  A schema of true or {} is any JSON value.
 *
 * pattern: a regex subset, anchored as written (a missing ^ or $ means
 * any text before or after): literals, `.`, classes `[...]` with ranges
 * and negation, \d \w \s \D \W \S, escapes of metacharacters, groups
 * `( )` and `(?: )`, `|`, `* + ?`, `{m}` `{m,}` `{m,n}`.  Backreferences,
 * lookaround and lazy quantifiers are refused.
 *
 * Anything else (an unknown keyword, a number bound on a non-integer, a
 * pattern outside the subset, a $ref elsewhere) is DESK_E_UNSUPPORTED
 * with the keyword and its JSON pointer ("/properties/a/minimum"); a
 * schema that is not JSON is DESK_E_FORMAT with line and column. */
desk_status desk_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf,
                                     size_t *gbnf_len, desk_err *err);

/* A constraint: GRAMMAR bound to T's vocabulary, at the start of the text.
 * It holds each token's bytes, a byte trie of them (so a full mask steps
 * shared prefixes once) and a mask buffer, all sized here: checking and
 * accepting allocate only when the grammar's nesting grows past what it
 * has seen.  Masking also remembers the grammar's states as it meets
 * them (each stepped once per character, however many tokens reach it):
 * that cache grows geometrically while new states appear and is bounded
 * (emptied past 4096 states; under 50 MiB at most).  Tokens that decode
 * to nothing (control tokens) are never allowed; end-of-generation tokens are allowed exactly where
 * the text is a complete match.  The caller owns it: desk_constraint_free
 * (before the grammar and the tokenizer go). */
desk_status desk_constraint_new(const desk_grammar *g, const desk_tokenizer *t,
                                desk_constraint **out, desk_err *err);
void desk_constraint_free(desk_constraint *c);
/* A constraint for G that borrows VOCAB_FROM's vocabulary tables (token
 * bytes and trie) instead of building them: building costs about a second
 * on a 262k vocabulary, borrowing only the matcher and mask buffer.  The
 * trie holds the full mask's scratch space, so every constraint sharing
 * it must run on the thread VOCAB_FROM runs on, and VOCAB_FROM must
 * outlive them.  The caller owns *OUT (desk_constraint_free). */
desk_status desk_constraint_new_sharing(const desk_grammar *g, const desk_constraint *vocab_from,
                                        desk_constraint **out, desk_err *err);
/* Back to the start of the text. */
desk_status desk_constraint_reset(desk_constraint *c, desk_err *err);

/* Whether ID may come next (the fast check: one token tried on a copy of
 * the state).  An end-of-generation token: whether the text can end. */
bool desk_constraint_allows(desk_constraint *c, desk_token id);
/* Sets every logit the grammar refuses next to -INFINITY (LOGITS: the
 * vocabulary's size).  END_IDS (N_END, may be NULL) are extra tokens that
 * end generation (a chat format's end of turn): treated as end-of-
 * generation tokens.  *N_ALLOWED (may be NULL) receives how many tokens
 * are left; 0 means the grammar cannot go on with this vocabulary. */
desk_status desk_constraint_apply(desk_constraint *c, float *logits, const desk_token *end_ids,
                                  size_t n_end, size_t *n_allowed, desk_err *err);
/* Advances past token ID (not an end-of-generation token).  DESK_E_FORMAT
 * naming the token when the grammar refuses it; the constraint is then
 * dead until a reset. */
desk_status desk_constraint_accept(desk_constraint *c, desk_token id, desk_err *err);
/* Whether the text so far is a complete match. */
bool desk_constraint_can_end(const desk_constraint *c);
/* Whether the text is a complete match that nothing can extend: the
 * generation is finished. */
bool desk_constraint_complete(const desk_constraint *c);

#ifdef __cplusplus
}
#endif

#endif
