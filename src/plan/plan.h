/*
 * plan.h - memory plans: will these models fit before anything is loaded?
 *
 * A plan adds up, per model, its weights, its KV cache for n_ctx tokens of
 * n_parallel sequences, and a compute-buffer estimate, and sets the total
 * against a memory size.  Shapes come either from a GGUF header (tensor
 * bytes as stored; no tensor data is read) or from built-in presets of
 * public architectures (shapes from their config.json files; weights at a
 * chosen quantization's bits per weight).
 *
 * Units: every size here is in bytes.  "GB" in desk's output means 10^9
 * bytes and "GiB" 2^30; desk_size_parse reads both spellings.
 *
 * Ownership: everything is caller-owned plain data; no call allocates
 * (desk_plan_gguf maps the file's header while it reads it).
 */
#ifndef DESK_PLAN_PLAN_H
#define DESK_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk.h"
#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/model.h" /* desk_cache_type */

/* The shape of a transformer, enough to count its parameters and size its
 * KV cache.  n_expert is 1 for a dense model. */
typedef struct desk_arch_shape {
    const char *name;      /* preset name ("llama-3-70b") */
    const char *source;    /* where the numbers come from */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    uint32_t n_expert, n_expert_used;
    uint32_t n_ctx_train;
    bool tied_embd;        /* output projection shares the token embedding */
    bool qkv_bias;         /* Qwen2-style biases on Q, K and V */
    bool qk_norm;          /* Gemma3-style RMS norms on Q and K per head */
    uint64_t published_params; /* the model card's count, for the tests */
} desk_arch_shape;

/* The built-in presets; N_OUT receives the count. */
const desk_arch_shape *desk_presets(size_t *n_out);
/* The preset called NAME (case-insensitive), or NULL. */
const desk_arch_shape *desk_preset_find(const char *name);
/* Parameters the shape implies (every weight matrix, embedding, norm). */
uint64_t desk_shape_params(const desk_arch_shape *s);

/* Bits per weight for a quantization name: a tensor type ("Q4_0" = 4.5,
 * "Q8_0" = 8.5, "F16" = 16: bytes per block * 8 / block size from
 * src/tensor/types.h) or a llama.cpp file mix ("Q4_K_M" ~ 4.90; see
 * plan.c for how each mix figure was derived).  DESK_E_ARG for an unknown
 * name. */
desk_status desk_quant_bpw(const char *name, double *bpw, desk_err *err);

/* Parses a memory size: a number with an optional unit: B, K/KB, M/MB,
 * G/GB, T/TB (powers of 10^3) or KiB, MiB, GiB, TiB (powers of 2^10);
 * case-insensitive; "128G" = 128e9 bytes.  DESK_E_ARG names the bad text. */
desk_status desk_size_parse(const char *s, uint64_t *out, desk_err *err);

/* MemTotal from /proc/meminfo. */
desk_status desk_mem_total(uint64_t *out, desk_err *err);
/* Memory a new load may take: the environment variable DESK_MEM_AVAILABLE
 * when set (a size as desk_size_parse reads it: tests and what-if runs
 * use it to stand for a smaller machine), else MemAvailable from
 * /proc/meminfo.  DESK_E_ARG for a DESK_MEM_AVAILABLE that is not a size,
 * DESK_E_IO / DESK_E_FORMAT when /proc/meminfo cannot say. */
desk_status desk_mem_available(uint64_t *out, desk_err *err);

typedef struct desk_plan_params {
    uint32_t n_ctx;      /* tokens per sequence (0: 2048) */
    uint32_t n_parallel; /* sequences (0: 1) */
    uint32_t n_batch;    /* prompt tokens per compute batch (0: 512) */
    desk_cache_type type_k, type_v; /* KV cache element types (zero: F16) */
} desk_plan_params;

/* One model's share of a plan. */
typedef struct desk_plan_model {
    char name[256];       /* preset name or file path */
    char quant[32];       /* quantization the weights were sized at, or "file" */
    char arch[64];
    double bpw;           /* effective bits per weight of the weights */
    uint64_t params;
    uint64_t weights, kv, compute, total;
    uint32_t n_ctx, n_parallel;
} desk_plan_model;

/* Sizes a preset at BPW bits per weight (QUANT names it for reports). */
desk_status desk_plan_preset(const desk_arch_shape *s, const char *quant, double bpw,
                             const desk_plan_params *p, desk_plan_model *out, desk_err *err);

/* Sizes a GGUF file from its header: weights are the stored tensor bytes,
 * or - when QUANT is non-NULL - every parameter at that quantization's
 * bits per weight (what the file would take requantized). */
desk_status desk_plan_gguf(const char *path, const char *quant, const desk_plan_params *p,
                           desk_plan_model *out, desk_err *err);

/* Sizes the open file G whose hyperparameters are HP (desk_hparams_read):
 * desk_plan_gguf without a requantization, and what the loader's memory
 * check and `desk info` count.  Weights are desk_plan_weights_bytes(G);
 * the KV cache and compute are 0 when HP lacks layers, width or heads.
 * NAME is left empty. */
void desk_plan_file(const desk_gguf *g, const desk_hparams *hp, const desk_plan_params *p,
                    desk_plan_model *out);

/* Bytes of every tensor G stores.  What loading takes for the weights:
 * used in place from the mapping, or placed into the model's own memory
 * (repacked Q4_0/Q4_K are the same size) while the file pages they came
 * from leave the resident set, so they are counted once either way. */
uint64_t desk_plan_weights_bytes(const desk_gguf *g);

/* Bytes of one of K or V: DIMS (layers * kv heads * head_dim, summed over
 * the layers) * n_ctx * n_parallel values at the type's size (F16 2, Q8_0
 * 34 per 32).  The whole cache is K's (dims with key_length) plus V's
 * (value_length); with one type for both, DIMS may hold both. */
uint64_t desk_plan_kv_bytes(uint64_t n_layer_kv_dims, uint32_t n_ctx, uint32_t n_parallel,
                            desk_cache_type t);
/* Compute-buffer estimate for a prompt batch of B tokens (desk's scratch):
 * 4 bytes * (B * (4 * n_embd + 2 * n_ff_active + n_vocab) + B * n_ctx * n_head). */
uint64_t desk_plan_compute_bytes(uint64_t n_embd, uint64_t n_ff_active, uint64_t n_vocab,
                                 uint64_t n_head, uint32_t n_ctx, uint32_t n_batch);

#endif
