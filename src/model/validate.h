/*
 * validate.h - the loader's checks of values whose meaning the GGUF reader
 * does not know (see validate.c).
 */
#ifndef DESK_MODEL_VALIDATE_H
#define DESK_MODEL_VALIDATE_H

#include "desk.h"
#include "gguf/gguf.h"

/* Checks the file behind a model after its tensors are found and before
 * its tokenizer is built: token ids typed as integers, token types in
 * range, and every F32/F16/BF16 tensor finite.  DESK_E_FORMAT with a
 * one-line message naming the key or tensor and what was wrong. */
desk_status desk_model_validate(const desk_gguf *g, desk_err *err);

#endif
