/*
 * quantize.h - rewriting a GGUF model with its tensors in other types.
 *
 * Every metadata key is copied; general.file_type is set to the recipe's
 * llama.cpp file type and general.quantization_version to 2.  Tensors are
 * written in llama.cpp's order (see recipe.h) with the recipe's types; a
 * tensor already in its target type is copied byte for byte, any other is
 * dequantized row by row to F32 and quantized with desk's reference
 * quantizers (src/tensor), rows spread over a thread pool.  The output is
 * written atomically: on any failure no file is left at OUT.
 */
#ifndef DESK_CONVERT_QUANTIZE_H
#define DESK_CONVERT_QUANTIZE_H

#include <stdint.h>

#include "convert/recipe.h"
#include "desk/convert.h"

/* Converts NROWS rows of NE0 elements from SRC (type ST) to DST (type DT),
 * spreading rows over TP (may be NULL).  A row-wise job shared with synth.
 * Both types must pass desk_type_row_ok for NE0 and ST must dequantize. */
typedef struct desk_threadpool desk_threadpool;
desk_status desk_convert_rows(desk_threadpool *tp, uint32_t st, const void *src, uint32_t dt, void *dst,
                              int64_t ne0, int64_t nrows, desk_err *err);

/* The per-tensor arrays a conversion keeps (N entries each, owned): the
 * planner's view, the chosen types, the write order, and the converted
 * data (NULL where a tensor is copied) - which must live until the writer
 * has written the file. */
typedef struct desk_convert_set {
    desk_qtensor *qt;
    uint32_t *types;
    int64_t *order;
    void **bufs;
    int64_t n;
} desk_convert_set;

desk_status desk_convert_set_alloc(desk_convert_set *s, int64_t n, desk_err *err);
/* Frees the arrays and every buffer in bufs. */
void desk_convert_set_free(desk_convert_set *s);

#endif
