/*
 * desk/lora.h - LoRA adapters in llama.cpp's adapter GGUF format: loading
 * one for a model, attaching several to a context with scales, and writing
 * one.
 *
 * An adapter file holds, for some of a model's matrices W (n_out rows of
 * n_in), a pair of low-rank matrices named after W's tensor: "<W>.lora_a"
 * (rank rows of n_in; GGUF shape [n_in, rank]) and "<W>.lora_b" (n_out rows
 * of rank; GGUF shape [rank, n_out]).  Its metadata says general.type =
 * "adapter", adapter.type = "lora", general.architecture (the base
 * model's) and adapter.lora.alpha.  A context with the adapter attached at
 * scale s computes W x + s' B (A x) for every adapted matrix, where s' =
 * s * alpha / rank when alpha is not 0, else s (llama.cpp's rule).
 *
 * desk adapts the attention (attn_q, attn_k, attn_v, attn_output), the
 * feed-forward (ffn_gate, ffn_up, ffn_down) and output.weight where the
 * model has its own; an adapter of token_embd is refused.
 */
#ifndef DESK_LORA_H
#define DESK_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"
#include "desk/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_lora desk_lora;

/* Reads the adapter at PATH for model M and checks it against M: the
 * metadata above, every tensor's name (a pair for a matrix M has), shapes
 * (n_in and n_out of the base matrix, one rank per pair, 1 <= rank <=
 * min(n_in, n_out)), types desk can dequantize, finite values.  The
 * weights are converted to F32 and held by the adapter (the file is closed
 * before it returns).  Errors (DESK_E_FORMAT, DESK_E_UNSUPPORTED,
 * DESK_E_NOTFOUND, DESK_E_IO, DESK_E_NOMEM) name the file, the tensor or
 * key and what was wrong.  M is borrowed and must outlive the adapter.
 * Owned by the caller: desk_lora_free, after every context using it. */
desk_status desk_lora_load(const desk_model *m, const char *path, desk_lora **out, desk_err *err);
void desk_lora_free(desk_lora *l);

float desk_lora_alpha(const desk_lora *l);   /* adapter.lora.alpha (0 when absent) */
int desk_lora_n_pairs(const desk_lora *l);   /* adapted matrices */
int desk_lora_max_rank(const desk_lora *l);  /* the largest rank of its pairs */

/* One adapter attached to a context (desk_ctx_params.loras). */
typedef struct desk_lora_use {
    const desk_lora *lora; /* borrowed: must outlive the context */
    float scale;           /* the user's scale (llama.cpp's --lora-scaled); 1 for --lora */
} desk_lora_use;

/* ---- merging ---- */

/* Adds USE's low-rank update to NROWS rows of the base tensor called NAME
 * ("blk.3.attn_q.weight"), rows R0.. of it, given dequantized in W (each
 * row N_IN floats, row r of W is the tensor's row R0 + r): W += s * B A
 * with llama.cpp's scale s (use->scale * alpha / rank, or use->scale when
 * the adapter has no alpha).  Returns true when the adapter adapts NAME
 * with that row width (and changed W), false otherwise (W untouched).  The
 * sum is done in double, then rounded once.  Thread-safe (reads only). */
bool desk_lora_merge_rows(const desk_lora_use *use, const char *name, int64_t r0, int64_t nrows, int64_t n_in,
                          float *w);
/* Whether USE's adapter adapts base tensor NAME. */
bool desk_lora_adapts(const desk_lora *l, const char *name);

/* ---- writing ---- */

/* One adapted matrix for desk_lora_write: BASE names the base tensor
 * ("blk.0.attn_q.weight"); A holds RANK rows of N_IN floats, B N_OUT rows
 * of RANK floats (both borrowed for the call). */
typedef struct desk_lora_tensor {
    const char *base;
    int64_t n_in, n_out;
    int32_t rank;
    const float *a, *b;
} desk_lora_tensor;

/* Writes an adapter for architecture ARCH ("llama", "gemma3") with ALPHA
 * and the N pairs of T to PATH, atomically, with the tensors stored as
 * TYPE (DESK_TYPE_F32 or DESK_TYPE_F16).  DESK_E_ARG names a bad pair
 * (empty name, rank or size out of range, non-finite value); file errors
 * as desk_gguf_writer_write. */
desk_status desk_lora_write(const char *path, const char *arch, float alpha, const desk_lora_tensor *t, size_t n,
                            uint32_t type, desk_err *err);

#ifdef __cplusplus
}
#endif

#endif
