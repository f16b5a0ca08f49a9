/*
 * tokenizer/tokenizer.h - the library's own view of the tokenizer module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/tokenizer.h.
 */
#ifndef DESK_SRC_TOKENIZER_H
#define DESK_SRC_TOKENIZER_H

#include "desk/tokenizer.h"

#endif
