/*
 * vocab.h - the vocabulary store inside a desk_tokenizer: token texts,
 * scores and attributes, the text -> id and merge maps, the special-token
 * index, and the settings read from tokenizer.* metadata.  Encoding and
 * decoding read it; only vocab.c writes it.  Not a public header.
 */
#ifndef DESK_TOK_VOCAB_H
#define DESK_TOK_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "tokenizer/pretok.h"
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

struct desk_tokenizer {
    desk_arena arena;
    tok_kind kind;
    int32_t n_vocab;
    tok_entry *tok;
    tok_textmap map;
    tok_mergemap merges;

    tok_pretok pre;       /* BPE only: patterns and the byte map */
    int32_t byte_tok[256]; /* BPE: token of each byte's char; SPM: <0xNN> */

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

#endif
