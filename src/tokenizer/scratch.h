/*
 * scratch.h - what one desk_tokenize call carries through the merge
 * algorithms: the output ids and reusable work buffers.  Per call, so a
 * tokenizer shared by threads holds no mutable state.  Not a public header.
 */
#ifndef DESK_TOK_SCRATCH_H
#define DESK_TOK_SCRATCH_H

#include <stddef.h>

#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

/* Growable output: ids beyond cap are counted, not stored, so the caller
 * learns the capacity it needs. */
typedef struct tok_out {
    desk_token *ids;
    size_t cap, n;
} tok_out;
void tok_out_push(tok_out *o, desk_token id);

/* Buffers reused by the algorithms (grown with realloc; freed at the end of
 * desk_tokenize). */
typedef struct tok_scratch {
    void *buf[6];
    size_t cap[6];
    tok_pretok_scratch pre;
} tok_scratch;
/* Ensures scratch slot I holds at least BYTES; NULL when memory runs out. */
void *tok_scratch_get(tok_scratch *s, int i, size_t bytes);
void tok_scratch_free(tok_scratch *s);

#endif
