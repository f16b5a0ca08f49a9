/*
 * scratch.c - the per-call output and work buffers of desk_tokenize (see
 * scratch.h).
 */
#include <stdlib.h>

#include "tokenizer/scratch.h"

void tok_out_push(tok_out *o, desk_token id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

void *tok_scratch_get(tok_scratch *s, int i, size_t bytes) {
    if (bytes <= s->cap[i]) return s->buf[i];
    size_t c = s->cap[i] ? s->cap[i] : 256;
    while (c < bytes) c *= 2;
    void *p = realloc(s->buf[i], c);
    if (!p) return NULL;
    s->buf[i] = p;
    s->cap[i] = c;
    return p;
}

void tok_scratch_free(tok_scratch *s) {
    for (int i = 0; i < 6; i++) free(s->buf[i]);
    tok_pretok_scratch_free(&s->pre);
}
