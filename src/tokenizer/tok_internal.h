/*
 * tok_internal.h - what the tokenizer's files share: the vocabulary with
 * its hash maps, the pre-tokenizer description and the per-call scratch.
 * Not a public header: only the files in src/tokenizer include it.
 */
#ifndef DESK_TOK_INTERNAL_H
#define DESK_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "tokenizer/tokenizer.h"

/* Token attributes (tokenizer.ggml.token_type values, as bits). */
enum {
    TOK_NORMAL = 1 << 0,
    TOK_UNKNOWN = 1 << 1,
    TOK_CONTROL = 1 << 2,
    TOK_USER = 1 << 3,
    TOK_UNUSED = 1 << 4,
    TOK_BYTE = 1 << 5,
    TOK_EOG = 1 << 6,
    TOK_LSTRIP = 1 << 7, /* spaces before it in the text go with it */
    TOK_RSTRIP = 1 << 8, /* spaces after it go with it */
};

typedef enum tok_kind { TOK_KIND_BPE, TOK_KIND_SPM, TOK_KIND_WPM } tok_kind;

typedef struct tok_entry {
    const char *text; /* arena copy, NUL-terminated */
    uint32_t len;
    float score;
    uint16_t attr;
} tok_entry;

/* Open-addressing map: token text -> id. */
typedef struct tok_textmap {
    int32_t *slots; /* id or -1; capacity a power of two */
    uint32_t mask;
} tok_textmap;

/* Open-addressing map: (left id, right id) -> merge rank and result. */
typedef struct tok_merge_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t result;
} tok_merge_slot;

typedef struct tok_mergemap {
    tok_merge_slot *slots;
    uint64_t mask;
} tok_mergemap;

#define TOK_MAX_REGEX 8
#define TOK_BYTE_CP_MAX 0x144 /* the byte-level map uses code points below this */

struct desk_tokenizer {
    desk_arena arena;
    tok_kind kind;
    int32_t n_vocab;
    tok_entry *tok;
    tok_textmap map;
    tok_mergemap merges;

    /* pre-tokenizer (BPE) */
    const char *pre_name;
    int n_regex;
    void *regex[TOK_MAX_REGEX]; /* pcre2_code_8 * */
    bool ignore_merges;

    /* byte-level mapping: byte -> UTF-8 of its code point, and back */
    char byte_utf8[256][3];
    uint8_t byte_utf8_len[256];
    int32_t byte_tok[256]; /* BPE: token of each byte's char; SPM: <0xNN> */
    int16_t cp_byte[TOK_BYTE_CP_MAX]; /* code point -> byte, or -1 */

    bool add_bos, add_eos, add_space_prefix;
    desk_token special[5]; /* desk_special order */
    int32_t max_piece;     /* longest decoded token, bytes */

    /* special tokens (control, user-defined, unknown), longest text first */
    int32_t *specials;
    int32_t n_specials;
    /* index by the first two bytes of a special's text: ids in specials
     * order for each 16-bit prefix are at pfx_ids[pfx_start[p]..pfx_start[p+1]) */
    uint32_t *pfx_start; /* 65537 entries */
    int32_t *pfx_ids;
    int32_t *one_byte_special; /* 256 entries: a one-byte special, or -1 */
};

/* FNV-1a, used by both maps. */
uint32_t tok_hash(const char *s, size_t n);
desk_token tok_lookup(const desk_tokenizer *t, const char *s, size_t n);
/* Merge of two adjacent tokens: rank (lower merges first) or -1. */
int32_t tok_merge_rank(const desk_tokenizer *t, int32_t left, int32_t right, int32_t *result);

/* Growable output: ids beyond cap are counted, not stored. */
typedef struct tok_out {
    desk_token *ids;
    size_t cap, n;
} tok_out;
void tok_out_push(tok_out *o, desk_token id);

/* Per-call scratch reused by the algorithms (grown with realloc; freed at
 * the end of desk_tokenize). */
typedef struct tok_scratch {
    void *buf[6];
    size_t cap[6];
    void *match_data; /* pcre2_match_data_8 * */
    void *jit_stack;  /* pcre2_jit_stack_8 * */
    void *mctx;       /* pcre2_match_context_8 * */
} tok_scratch;
/* Ensures scratch slot I holds at least BYTES; NULL when memory runs out. */
void *tok_scratch_get(tok_scratch *s, int i, size_t bytes);
void tok_scratch_free(tok_scratch *s);

/* pretok.c */
desk_status tok_pretok_setup(desk_tokenizer *t, const char *pre, desk_err *err);
void tok_pretok_free(desk_tokenizer *t);
void tok_pretok_scratch_free(tok_scratch *s);
/* Byte-level BPE on a raw text fragment (no special tokens inside). */
desk_status tok_bpe_fragment(const desk_tokenizer *t, const char *s, size_t n, tok_scratch *sc,
                             tok_out *o, desk_err *err);
/* BPE merges on one pre-token already in mapped (vocabulary) text. */
desk_status tok_bpe_word(const desk_tokenizer *t, const char *w, size_t n, tok_scratch *sc,
                         tok_out *o);

/* spm.c: one raw fragment, spaces not yet escaped. */
desk_status tok_spm_fragment(const desk_tokenizer *t, const char *s, size_t n, bool prefix_space,
                             tok_scratch *sc, tok_out *o, desk_err *err);

/* Length of the valid UTF-8 sequence at S (1..4), or 0 when invalid. */
size_t tok_utf8_valid_len(const unsigned char *s, size_t n);

#endif
