/*
 * gguf/gguf.h - the library's own view of the gguf module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/gguf.h.
 */
#ifndef DESK_SRC_GGUF_H
#define DESK_SRC_GGUF_H

#include "desk/gguf.h"

#endif
