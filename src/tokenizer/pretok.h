/*
 * pretok.h - the byte-level BPE pre-tokenizer: the GPT-2 byte map and the
 * split patterns named by tokenizer.ggml.pre.  It knows nothing of the
 * vocabulary, so the vocabulary store can embed and set it up without the
 * two depending on each other.  Not a public header.
 */
#ifndef DESK_TOK_PRETOK_H
#define DESK_TOK_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "desk.h"

#define TOK_MAX_REGEX 8
#define TOK_BYTE_CP_MAX 0x144 /* the byte-level map uses code points below this */

typedef struct tok_pretok {
    const char *name; /* tokenizer.ggml.pre, arena copy; for messages */
    int n_regex;
    void *regex[TOK_MAX_REGEX]; /* pcre2_code_8 * */
    bool ignore_merges;         /* a pre-token that is a whole token skips merging */
    bool add_bos;               /* the pre-tokenizer's default for add_bos */

    /* byte-level mapping: byte -> UTF-8 of its code point, and back */
    char byte_utf8[256][3];
    uint8_t byte_utf8_len[256];
    int16_t cp_byte[TOK_BYTE_CP_MAX]; /* code point -> byte, or -1 */
} tok_pretok;

/* The matcher's per-call state (created on first use, so a tokenizer
 * shared between threads keeps none). */
typedef struct tok_pretok_scratch {
    void *match_data; /* pcre2_match_data_8 * */
    void *jit_stack;  /* pcre2_jit_stack_8 * */
    void *mctx;       /* pcre2_match_context_8 * */
} tok_pretok_scratch;

typedef struct tok_span {
    size_t off, len;
} tok_span;

/* Builds the byte map and compiles the patterns of the pre-tokenizer
 * named PRE (its name copied into ARENA); DESK_E_UNSUPPORTED for a name
 * it does not know. */
desk_status tok_pretok_setup(tok_pretok *p, const char *pre, desk_arena *arena, desk_err *err);
void tok_pretok_free(tok_pretok *p);
void tok_pretok_scratch_free(tok_pretok_scratch *s);

/* Splits N raw bytes at S into pieces, in order, into *OUT (malloc'd, the
 * caller frees it; NULL on failure) and *N_OUT. */
desk_status tok_pretok_split(const tok_pretok *p, const char *s, size_t n, tok_pretok_scratch *sc,
                             tok_span **out, size_t *n_out, desk_err *err);

#endif
