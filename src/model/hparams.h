/*
 * hparams.h - a model's hyperparameters, read from its GGUF header in one
 * place.
 *
 * The loader, the memory planner (`desk fit`, the loader's memory check)
 * and `desk info` all take their facts from desk_hparams_read, so a key's
 * default, its per-layer form and its limits are decided once.  The reader
 * accepts any architecture (info and fit show files desk does not run);
 * what the forward pass further requires is checked by the loader.
 *
 * Ownership: plain data; arch is borrowed from the desk_gguf and lives as
 * long as it does.
 */
#ifndef DESK_MODEL_HPARAMS_H
#define DESK_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "desk.h"
#include "gguf/gguf.h"

/* A context length past this is a lie, not a model (the largest published
 * contexts are about 10M tokens). */
#define DESK_HPARAMS_MAX_CTX ((int64_t)1 << 24)

typedef struct desk_hparams {
    const char *arch; /* general.architecture; NULL when the file has none (then all else is 0) */
    /* "<arch>.*" counts.  0 when absent, except where a default is named.
     * A per-layer array counts as its largest element (per_layer is set). */
    int32_t n_layer, n_embd, n_ff, n_head;
    int32_t n_head_kv;  /* attention.head_count_kv; default n_head */
    int32_t head_dim_k; /* attention.key_length; default n_embd / n_head (llama.cpp's) */
    int32_t head_dim_v; /* attention.value_length; default n_embd / n_head */
    int32_t n_rot;      /* rope.dimension_count; default head_dim_k */
    int32_t n_ctx_train; /* context_length; 0 when absent */
    int32_t n_swa;       /* attention.sliding_window */
    int32_t n_expert, n_expert_used; /* expert_count, expert_used_count (0: dense) */
    int32_t n_vocab;     /* vocab_size, else the length of tokenizer.ggml.tokens (the loader
                            takes token_embd's rows) */
    int64_t n_head_kv_sum; /* KV heads summed over the layers: what sizes the KV cache */
    bool per_layer;        /* head_count, head_count_kv or feed_forward_length vary by layer */
    float eps;           /* attention.layer_norm_rms_epsilon; 0 when absent */
    float rope_base;     /* rope.freq_base; default 10000 */
    float rope_base_swa; /* rope.freq_base_swa; default 10000 */
    float rope_scale;    /* 1 / rope.scaling.factor for "linear" scaling, else 1 */
    float softcap;       /* final_logit_softcapping; 0 = none */
    /* Set by the loader for the architecture it runs (model.c), not read. */
    float attn_scale;  /* applied to q before q.k */
    float embd_scale;  /* applied to the token embeddings (gemma: sqrt(n_embd)) */
    bool rope_neox;    /* rotate pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
} desk_hparams;

/* Reads G's hyperparameters into *HP.  Refuses (DESK_E_FORMAT or
 * DESK_E_RANGE, naming the key) what no architecture could mean: a count
 * that is not an integer or per-layer array of integers, or is past 2^30;
 * a zero or empty context_length, embedding_length, block_count,
 * head_count or head_count_kv; a context_length past
 * DESK_HPARAMS_MAX_CTX; head_count_kv not dividing head_count;
 * embedding_length not a multiple of head_count when key_length is absent;
 * rope.freq_base(_swa), the layer norm epsilons, rope.freq_scale or
 * rope.scaling.factor not a finite number > 0; final_logit_softcapping not
 * finite.  A file without general.architecture reads as all zeros. */
desk_status desk_hparams_read(const desk_gguf *g, desk_hparams *hp, desk_err *err);

#endif
