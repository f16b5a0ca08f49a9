/*
 * spm.h - SentencePiece-style encoding ("llama" vocabularies) of raw text
 * that holds no special tokens.  Not a public header.
 */
#ifndef DESK_TOK_SPM_H
#define DESK_TOK_SPM_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenizer/scratch.h"
#include "tokenizer/vocab.h"

/* Encodes N bytes at S (spaces not yet escaped; PREFIX_SPACE puts one in
 * front), appending the ids to O. */
desk_status tok_spm_fragment(const desk_tokenizer *t, const char *s, size_t n, bool prefix_space,
                             tok_scratch *sc, tok_out *o, desk_err *err);

#endif
