/*
 * model.h - loading a model and running its forward pass.
 *
 * desk_model holds what a load produces: hyperparameters, weight views into
 * the mapped GGUF file, the weights the kernels read repacked (Q4_0 and
 * Q4_K) or from huge pages (the rest), copied once at load unless
 * no_repack (owned and freed by the model), and the tokenizer.  desk_ctx holds
 * what one sequence needs: the KV cache (F16 or Q8_0), scratch buffers (from an
 * arena, sized at creation so the token loop allocates nothing) and the
 * thread pool.  Data flow: tokens -> desk_decode -> logits.
 */
#ifndef DESK_MODEL_H
#define DESK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk.h"
#include "tokenizer/tokenizer.h"

typedef struct desk_model desk_model;
typedef struct desk_ctx desk_ctx;

/* Element type of the K or V cache (llama.cpp's -ctk / -ctv, with flash
 * attention): F16, or Q8_0 (34 bytes per 32 values, about half; head
 * sizes must be multiples of 32).  Attention follows llama.cpp's numerics
 * for each (src/model/ops.c). */
typedef enum desk_cache_type { DESK_CACHE_F16 = 0, DESK_CACHE_Q8_0 = 1 } desk_cache_type;

typedef struct desk_model_params {
    /* Refuse a load whose weights + KV cache (src/plan's figures) are
     * more than the memory available (MemAvailable, or DESK_MEM_AVAILABLE
     * when set: plan.h's desk_mem_available), before any weight is placed. */
    bool check_memory;
    int n_ctx_hint;    /* context the caller plans (for the memory check); 0 = model max capped at 4096 */
    desk_cache_type type_k, type_v; /* KV cache types the caller plans (for the memory check; zero: F16) */
    /* Keep every weight in the mapped file (zero copy).  Default (false):
     * Q4_0 and Q4_K matrices with rows a multiple of 8 are repacked once
     * into 8-row groups (kernels.h: desk_repack) when the process's
     * kernels read that layout (x86 AVX2 / AVX-512), as llama.cpp does:
     * faster decode and prefill, and decode then sums Q4_0 as llama.cpp's
     * repacked gemv does (bit for bit).  Where the system offers
     * transparent huge pages the other matrices of the forward pass are
     * copied onto them (decode streams them with fewer TLB misses).
     * Commands that do not compute (info) set it. */
    bool no_repack;
} desk_model_params;

/* Opens PATH (a file path; resolve short names first with desk_model_resolve),
 * validates architecture, hyperparameters and every tensor (presence, shape,
 * type), and builds the tokenizer.  Owned by the caller: desk_model_free. */
desk_status desk_model_load(const char *path, const desk_model_params *p, desk_model **out,
                            desk_err *err);
void desk_model_free(desk_model *m);

const desk_tokenizer *desk_model_tokenizer(const desk_model *m);
const char *desk_model_arch(const desk_model *m);      /* "llama", "gemma3" */
const char *desk_model_name(const desk_model *m);      /* general.name or the file name */
int32_t desk_model_n_vocab(const desk_model *m);
int32_t desk_model_n_ctx_train(const desk_model *m);
/* tokenizer.chat_template, or NULL when the file has none (borrowed). */
const char *desk_model_chat_template(const desk_model *m);
/* Bytes of weights a forward pass reads per token (for rooflines). */
uint64_t desk_model_weight_bytes(const desk_model *m);
/* Bytes of memory holding weights repacked or copied at load (0 with
 * no_repack). */
uint64_t desk_model_repacked_bytes(const desk_model *m);

/* "f16" / "q8_0". */
const char *desk_cache_type_name(desk_cache_type t);
/* Parses "f16" or "q8_0" into *OUT; DESK_E_ARG naming S otherwise. */
desk_status desk_cache_type_parse(const char *s, desk_cache_type *out, desk_err *err);

typedef struct desk_ctx_params {
    int n_ctx;       /* KV cache length in tokens; 0 = model max capped at 4096 */
    int n_batch;     /* largest number of tokens per desk_decode call; 0 = 512 */
    int n_threads;   /* 0 = physical cores */
    bool logits_all; /* keep logits of every token of a batch (perplexity) */
    bool reference;  /* plain scalar fp32 path (weights dequantized per use), for tests */
    const char *isa; /* kernels: NULL = the process's choice (DESK_ISA or the best the CPU
                        has); "scalar", "avx2", "avxvnni", "avx512" force one (DESK_E_UNSUPPORTED when
                        this CPU or build lacks it) */
    desk_cache_type type_k, type_v; /* KV cache element types (default F16) */
} desk_ctx_params;

desk_status desk_ctx_new(desk_model *m, const desk_ctx_params *p, desk_ctx **out, desk_err *err);
void desk_ctx_free(desk_ctx *c);

int desk_ctx_n_ctx(const desk_ctx *c);
/* Bytes of the KV cache (K and V, every layer, n_ctx positions). */
uint64_t desk_ctx_kv_bytes(const desk_ctx *c);
/* Tokens in the KV cache (the position the next token gets). */
int desk_ctx_pos(const desk_ctx *c);
/* Forgets cached tokens from position N_KEEP on (0 clears everything). */
void desk_ctx_truncate(desk_ctx *c, int n_keep);

/* Appends N tokens (N <= n_batch; pos + N <= n_ctx, else DESK_E_RANGE) and
 * computes their logits: all of them with logits_all, else the last one. */
desk_status desk_decode(desk_ctx *c, const desk_token *ids, int n, desk_err *err);
/* Logits (n_vocab floats) of token I of the last batch (with logits_all), or
 * of its last token for I = -1.  Borrowed until the next desk_decode. */
const float *desk_ctx_logits(const desk_ctx *c, int i);

/* Observer of the forward pass's intermediate tensors, for tests and for
 * comparing with other implementations: called with a name ("attn_norm",
 * "q_rope", ...; the list is in forward.c), the layer (-1 outside the
 * layers) and ROWS x COLS floats borrowed for the call.  NULL turns it off. */
typedef void (*desk_trace_fn)(void *user, const char *name, int layer, const float *data, int rows, int cols);
void desk_ctx_set_trace(desk_ctx *c, desk_trace_fn fn, void *user);

#endif
