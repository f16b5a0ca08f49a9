/*
 * utf8.h - the one UTF-8 rule the tokenizer needs everywhere: how long the
 * valid sequence at a position is.  Pre-tokenizing, both merge algorithms
 * and decoding must agree on which bytes are invalid, so they share it.
 * Not a public header.
 */
#ifndef DESK_TOK_UTF8_H
#define DESK_TOK_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at S (1..4), or 0 when invalid
 * (overlong, surrogate, stray continuation byte, or cut off by N). */
size_t tok_utf8_valid_len(const unsigned char *s, size_t n);

#endif
