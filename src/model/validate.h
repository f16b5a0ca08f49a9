/*
 * validate.h - the loader's checks of values whose meaning the GGUF reader
 * does not know (see validate.c).
 */
#ifndef DESK_MODEL_VALIDATE_H
#define DESK_MODEL_VALIDATE_H

#include "desk.h"
#include "gguf/gguf.h"

/* Checks the metadata behind a model after its tensors are found and
 * before its tokenizer is built: token ids typed as integers, token types
 * in range.  DESK_E_FORMAT with a one-line message naming the key and what
 * was wrong. */
desk_status desk_model_validate_meta(const desk_gguf *g, desk_err *err);
/* Checks that every F32/F16/BF16 tensor is finite: it reads those weights,
 * so the loader calls it after the memory check (a refusal must not read
 * a file larger than memory first).  DESK_E_FORMAT naming the tensor and
 * element. */
desk_status desk_model_validate_weights(const desk_gguf *g, desk_err *err);

#endif
