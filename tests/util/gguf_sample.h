/*
 * gguf_sample.h - a small GGUF file holding every value type, nested
 * arrays and a few tensors, built with the writer; the GGUF tests and the
 * fuzz seed corpus start from it.
 *
 * Ownership: returned buffers are malloc'd and freed by the caller.
 */
#ifndef DESK_TU_GGUF_SAMPLE_H
#define DESK_TU_GGUF_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

/* The sample's values, for checking a round trip. */
#define TU_SAMPLE_STR_LEN 9 /* "a\0b\0c\xff\x01z\0": NULs inside and at the end */
extern const char TU_SAMPLE_STR[TU_SAMPLE_STR_LEN + 1];
extern const uint32_t TU_SAMPLE_U32S[5];
extern const char *const TU_SAMPLE_STRS[3];
extern const float TU_SAMPLE_F32[12]; /* tensor "w.f32", shape [4, 3] */

/* Adds the sample's keys and tensors to W (fails the test on error). */
void tu_gguf_sample_fill(desk_gguf_writer *w);
/* Writes W to a temporary file and returns its bytes (LEN gets the size). */
unsigned char *tu_gguf_write_bytes(desk_gguf_writer *w, size_t *len);
/* The sample (with ALIGNMENT as general.alignment unless 0) as bytes. */
unsigned char *tu_gguf_sample_bytes(uint32_t alignment, size_t *len);

#endif
