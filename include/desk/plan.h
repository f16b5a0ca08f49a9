/*
 * desk/plan.h - what a model is and what it will take, before loading it:
 * its hyperparameters read from the GGUF header (the model's facts, read
 * in one place for the loader, the planner and `desk info`), memory plans
 * (`desk fit`: will these models fit?), and the economics against a cloud
 * bill (`desk cost`).
 *
 * Facts:
 * The loader, the memory planner (`desk fit`, the loader's memory check)
 * and `desk info` all take their facts from desk_hparams_read, so a key's
 * default, its per-layer form and its limits are decided once.  The reader
 * accepts any architecture (info and fit show files desk does not run);
 * what the forward pass further requires is checked by the loader.
 *
 * Ownership: plain data; arch is borrowed from the desk_gguf and lives as
 * long as it does.
 *
 * Memory plans:
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
 *
 * Economics:
 * Local cost per million tokens is the hardware price spread over its
 * lifetime plus the energy drawn while generating, at a measured (or
 * given) generation speed.  The payback period of one scenario is
 *     hardware price / (cloud monthly bill - local running cost per month)
 * where the running cost is energy only (the hardware is the investment
 * being paid back).  Energy counts only when watts > 0 are given.
 *
 * Money is in one currency throughout (the caller's; desk prints "$").
 * Everything is plain caller-owned data; nothing allocates.
 */
#ifndef DESK_PLAN_H
#define DESK_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"
#include "desk/gguf.h"
#include "desk/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a model's facts ---- */

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
    int32_t n_ff_exp;    /* expert_feed_forward_length: one expert's width (qwen3moe); 0 when absent */
    int32_t n_vocab;     /* vocab_size, else the length of tokenizer.ggml.tokens (the loader
                            takes token_embd's rows) */
    int64_t n_head_kv_sum; /* KV heads summed over the layers: what sizes the KV cache */
    bool per_layer;        /* head_count, head_count_kv or feed_forward_length vary by layer */
    float eps;           /* attention.layer_norm_rms_epsilon; 0 when absent */
    float rope_base;     /* rope.freq_base; default 10000 */
    float rope_base_swa; /* rope.freq_base_swa; default 10000 */
    float rope_scale;    /* 1 / rope.scaling.factor for "linear" scaling, else 1 */
    float softcap;       /* final_logit_softcapping; 0 = none */
    float attn_softcap;  /* attn_logit_softcapping; 0 = none (the loader applies it to gemma2 only) */
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

/* ---- memory plans ---- */

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
/* Of those, the ones a token computes with: a mixture of experts counts
 * n_expert_used of its n_expert experts (the same as desk_shape_params
 * for a dense shape). */
uint64_t desk_shape_active_params(const desk_arch_shape *s);

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
    /* What one token computes with and reads: with experts, n_expert_used
     * of n_expert of the expert tensors (ffn_*_exps) count; else params
     * and weights. */
    uint64_t active_params, active_weights;
    uint32_t n_expert, n_expert_used; /* 0 for a dense model */
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

/* ---- economics ---- */

#define DESK_COST_MAX_SCENARIOS 16
#define DESK_HOURS_PER_MONTH 730.5 /* 365.25 * 24 / 12 */

typedef struct desk_cost_params {
    double hardware_price;     /* > 0 */
    double lifetime_months;    /* > 0: months the hardware is written off over */
    double watts;              /* >= 0: average draw while generating (0: energy not counted) */
    double kwh_price;          /* >= 0 per kWh */
    double tokens_per_s;       /* > 0: generation speed */
    double tokens_per_month;   /* >= 0: tokens generated a month (0: not given) */
    double cloud_in, cloud_out; /* >= 0 per million input / output tokens (0, 0: not given) */
    double input_share;        /* share of tokens that are input, in [0, 1] */
    double cloud_monthly[DESK_COST_MAX_SCENARIOS];
    size_t n_cloud_monthly;
} desk_cost_params;

typedef struct desk_cost_scenario {
    char label[64];            /* "cloud $500/month" */
    double cloud_monthly;
    double local_monthly;      /* running cost: energy per month */
    bool pays_back;            /* cloud_monthly > local_monthly */
    double payback_months;     /* when pays_back */
    double saving_lifetime;    /* (cloud - local) * lifetime - price */
} desk_cost_scenario;

typedef struct desk_cost_result {
    double hardware_per_month;      /* price / lifetime */
    double hours_per_month;         /* generating hours a month the energy is counted for */
    double energy_kwh_per_month;
    double energy_per_month;
    double capacity_tokens_per_month; /* tokens_per_s running all month */
    double local_per_mtok;          /* hardware share + energy per million tokens */
    double local_hw_per_mtok, local_energy_per_mtok;
    double cloud_per_mtok;          /* blended; 0 when no per-token prices */
    bool over_capacity;             /* tokens_per_month > capacity */
    desk_cost_scenario scenarios[DESK_COST_MAX_SCENARIOS + 1];
    size_t n_scenarios;
} desk_cost_result;

/* Checks P (naming the bad field) and computes R.  The hardware share of a
 * million tokens assumes tokens_per_month of use when given, else the
 * machine generating all month at tokens_per_s (the lower bound).  Energy
 * counts the hours spent generating tokens_per_month, else all month.
 * Scenarios: one per cloud_monthly, then one from the per-token prices
 * when tokens_per_month and a price are given. */
desk_status desk_cost_compute(const desk_cost_params *p, desk_cost_result *r, desk_err *err);

#ifdef __cplusplus
}
#endif
#endif /* DESK_PLAN_H */
