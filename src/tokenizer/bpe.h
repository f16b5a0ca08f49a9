/*
 * bpe.h - byte-level BPE encoding ("gpt2" vocabularies) of raw text that
 * holds no special tokens.  Not a public header.
 */
#ifndef DESK_TOK_BPE_H
#define DESK_TOK_BPE_H

#include <stddef.h>

#include "tokenizer/scratch.h"
#include "tokenizer/vocab.h"

/* Pre-tokenizes N bytes at S, maps each piece through the byte map and
 * merges it, appending the ids to O. */
desk_status tok_bpe_fragment(const desk_tokenizer *t, const char *s, size_t n, tok_scratch *sc,
                             tok_out *o, desk_err *err);

#endif
