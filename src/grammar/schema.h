/*
 * grammar/schema.h - what the JSON Schema converter's files share: a
 * growing text buffer, the conversion's state with its rule table, and
 * the pieces schema_text.c builds (integer ranges, regex patterns, sets
 * of characters as they appear inside a JSON string).
 */
#ifndef DESK_SRC_GRAMMAR_SCHEMA_H
#define DESK_SRC_GRAMMAR_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"

/* A NUL-terminated text that grows; OOM latches and makes later appends
 * no-ops, so callers check it once at the end. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

void sb_put(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a GBNF string literal of N bytes of S (quotes included). */
void sb_lit(sbuf *b, const char *s, size_t n);
/* Appends a GBNF literal or class atom for code point CP inside [...]. */
void sb_class_cp(sbuf *b, uint32_t cp);

typedef struct conv {
    char **names, **bodies; /* the rules so far */
    size_t n_rules, cap_rules;
    unsigned next_id;       /* for fresh rule names */
    char ptr[512];          /* the JSON pointer of the schema being converted */
    desk_err *err;
    desk_status st;
} conv;

/* Records the first failure: "schema: POINTER: message".  Returns false. */
bool cv_fail(conv *c, desk_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds `NAME ::= BODY` with a fresh name built from HINT, or finds a rule
 * with the same body; the name goes into OUT (64 bytes).  False on OOM. */
bool cv_rule(conv *c, const char *hint, const char *body, char *out);
/* Defines NAME (reserved earlier with cv_reserve) as BODY. */
bool cv_define(conv *c, const char *name, const char *body);
/* A fresh rule name from HINT, not yet defined (for recursion). */
bool cv_reserve(conv *c, const char *hint, char *out);
/* Makes sure one of the fixed rules (ws, value, object, array, string,
 * char, number, integer, boolean, null) exists; returns its name. */
const char *cv_need(conv *c, const char *name);

/* The integers in [LO, HI] (HAS_LO / HAS_HI false: unbounded) as a GBNF
 * expression in JSON's notation, no leading zeros ("-0" is not produced). */
bool cv_int_range(conv *c, bool has_lo, long long lo, bool has_hi, long long hi, sbuf *out);
/* A JSON string (quotes included) matching REGEX, as a GBNF expression. */
bool cv_pattern(conv *c, const char *regex, sbuf *out);
/* A JSON string (quotes included) in FORMAT, or false (unsupported). */
bool cv_format(conv *c, const char *format, sbuf *out);
/* A JSON string (quotes included) that is none of the N names. */
bool cv_not_names(conv *c, const char *const *names, size_t n, sbuf *out);

#endif
