/*
 * desk/model.h - finding and loading a model, and running it: contexts,
 * batches over several sequences, the per-sequence KV cache, logits.
 *
 * A desk_model holds what a load produces: hyperparameters, weight views
 * into the mapped GGUF file, the weights the kernels read repacked (Q4_0
 * and Q4_K) or from huge pages (the rest), copied once at load unless
 * no_repack, and the tokenizer.  It is read-only once loaded, so any
 * number of contexts (each used by one thread at a time) may share it; it
 * must outlive them.  A desk_ctx holds what decoding needs: a KV cache of
 * n_ctx positions for each of n_seq_max sequences (F16 or Q8_0), scratch
 * buffers sized at creation (decoding allocates nothing) and a thread
 * pool.  Data flow: tokens -> desk_decode_batch -> desk_ctx_logits.
 */
#ifndef DESK_MODEL_H
#define DESK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"
#include "desk/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_model desk_model;
typedef struct desk_ctx desk_ctx;
typedef struct desk_lora_use desk_lora_use; /* desk/lora.h */

/* Element type of the K or V cache (llama.cpp's -ctk / -ctv, with flash
 * attention): F16, or Q8_0 (34 bytes per 32 values, about half; head
 * sizes must be multiples of 32).  Attention follows llama.cpp's numerics
 * for each (src/model/ops.c). */
typedef enum desk_cache_type { DESK_CACHE_F16 = 0, DESK_CACHE_Q8_0 = 1 } desk_cache_type;

typedef struct desk_model_params {
    /* Refuse a load whose weights + KV cache (desk/plan.h's figures) are
     * more than the memory available (MemAvailable, or DESK_MEM_AVAILABLE
     * when set: desk_mem_available), before any weight is placed. */
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

/* ---- finding models ----
 * A -m argument is a GGUF path or the short name of a model desk knows and
 * keeps in its cache (`make models` fetches them). */
typedef struct desk_known_model {
    const char *name;     /* short name for -m */
    const char *file;     /* file name in the cache */
    const char *sha256;   /* of the file, as scripts/models.txt records it */
    const char *what;     /* one line for --help */
} desk_known_model;

/* The models desk knows by name; N_OUT receives the count. */
const desk_known_model *desk_known_models(size_t *n_out);

/* Writes the model cache directory ($XDG_CACHE_HOME/desk/models, default
 * ~/.cache/desk/models) into BUF. */
desk_status desk_model_cache_dir(char *buf, size_t cap, desk_err *err);

/* Resolves a -m argument: a known short name becomes its cached file (an
 * error says how to fetch it when missing); anything else is a path that
 * must exist.  Writes the path into BUF. */
desk_status desk_model_resolve(const char *arg, char *buf, size_t cap, desk_err *err);

/* ---- loading ---- */

/* Opens PATH (a file path; resolve short names first with desk_model_resolve),
 * validates architecture, hyperparameters and every tensor (presence, shape,
 * type, alignment, finite values), and builds the tokenizer.  P may be NULL
 * (defaults).  Owned by the caller: desk_model_free, after every context
 * and engine made from it is freed. */
desk_status desk_model_load(const char *path, const desk_model_params *p, desk_model **out,
                            desk_err *err);
void desk_model_free(desk_model *m);
/* Whether desk_model_load runs general.architecture ARCH (NULL: no). */
bool desk_model_arch_supported(const char *arch);

const desk_tokenizer *desk_model_tokenizer(const desk_model *m);
const char *desk_model_arch(const desk_model *m);      /* "llama", "gemma3" */
const char *desk_model_name(const desk_model *m);      /* general.name or the file name */
int32_t desk_model_n_vocab(const desk_model *m);
int32_t desk_model_n_ctx_train(const desk_model *m);
/* tokenizer.chat_template, or NULL when the file has none (borrowed). */
const char *desk_model_chat_template(const desk_model *m);
/* Bytes of weights a forward pass reads per token (for rooflines): of a
 * mixture of experts' stacked experts, only the n_expert_used routed ones. */
uint64_t desk_model_weight_bytes(const desk_model *m);
/* Bytes of memory holding weights repacked or copied at load (0 with
 * no_repack). */
uint64_t desk_model_repacked_bytes(const desk_model *m);


/* "f16" / "q8_0". */
const char *desk_cache_type_name(desk_cache_type t);
/* Parses "f16" or "q8_0" into *OUT; DESK_E_ARG naming S otherwise. */
desk_status desk_cache_type_parse(const char *s, desk_cache_type *out, desk_err *err);

/* The kernels (instruction set) this process computes with: "avx512",
 * "avxvnni", "avx2", "neon" or "scalar" (the environment's DESK_ISA forces
 * one).  "none", with ERR (may be NULL) saying why, when DESK_ISA names one
 * this CPU or build cannot run. */
const char *desk_isa_current(desk_err *err);
/* Names of the instruction sets this CPU and build can run, best last,
 * into NAMES (capacity CAP); returns how many there are. */
size_t desk_isa_available(const char **names, size_t cap);
/* Physical cores of this machine (the default thread count). */
int desk_physical_cores(void);

typedef struct desk_ctx_params {
    int n_ctx;       /* KV cache length in tokens, per sequence; 0 = model max capped at 4096 */
    int n_batch;     /* largest number of tokens per decode call; 0 = 512 */
    int n_threads;   /* 0 = physical cores */
    int n_seq_max;   /* sequences the cache holds (ids 0..n_seq_max-1); 0 = 1 */
    bool logits_all; /* room for logits of every row of a batch (perplexity); else n_seq_max rows */
    bool embeddings; /* keep every row's final hidden state (desk_ctx_embeddings) */
    bool reference;  /* plain scalar fp32 path (weights dequantized per use), for tests */
    const char *isa; /* kernels: NULL = the process's choice (DESK_ISA or the best the CPU
                        has); "scalar", "avx2", "avxvnni", "avx512" force one (DESK_E_UNSUPPORTED when
                        this CPU or build lacks it) */
    desk_cache_type type_k, type_v; /* KV cache element types (default F16) */
    /* LoRA adapters (desk/lora.h) applied to every decode, each with its
     * scale: N_LORAS entries, copied by desk_ctx_new; each adapter must
     * have been loaded for this model and must outlive the context. */
    const desk_lora_use *loras;
    int n_loras; /* 0..DESK_CTX_MAX_LORAS */
    /* Batch-invariant mode: every row's logits (and the K and V it
     * caches) are what they are when that row's sequence is decoded
     * alone, one token at a time, whatever else shares its batch, however
     * its prompt was split into batches, with any thread count.  Every
     * product sums a row as a matrix-vector product does and attention
     * takes the per-row path at every batch size.  The default mode
     * follows llama.cpp, whose sums change with the batch size (Q4_K, and
     * attention from 64 rows).  desk_ctx_set_deterministic switches it
     * between decodes. */
    bool deterministic;
} desk_ctx_params;

#define DESK_CTX_MAX_LORAS 64

/* A context on M (borrowed: M must outlive it) with P (NULL: defaults).
 * Allocates everything decoding needs now: DESK_E_NOMEM names the sizes
 * when it does not fit, DESK_E_RANGE/DESK_E_ARG name a bad parameter.
 * Owned by the caller: desk_ctx_free. */
desk_status desk_ctx_new(desk_model *m, const desk_ctx_params *p, desk_ctx **out, desk_err *err);
void desk_ctx_free(desk_ctx *c);

int desk_ctx_n_ctx(const desk_ctx *c);
/* Turns the batch-invariant mode (desk_ctx_params.deterministic) on or
 * off for the next decodes: a server decoding one batch for several
 * requests turns it on when any of them asked for it. */
void desk_ctx_set_deterministic(desk_ctx *c, bool on);
bool desk_ctx_deterministic(const desk_ctx *c);
int desk_ctx_n_seq(const desk_ctx *c);
/* Bytes of the KV cache (K and V, every layer, sequence and position). */
uint64_t desk_ctx_kv_bytes(const desk_ctx *c);
/* Tokens in sequence 0's cache (the position its next token gets). */
int desk_ctx_pos(const desk_ctx *c);
/* Forgets sequence 0's cached tokens from position N_KEEP on (0 clears it). */
void desk_ctx_truncate(desk_ctx *c, int n_keep);

/* ---- the KV cache, per sequence ----
 * A sequence's cache always holds positions 0..len-1: tokens are appended
 * at its end, and forgetting cuts a tail.  Sequence ids run from 0 to
 * n_seq_max - 1. */

/* Tokens sequence SEQ holds, or -1 when SEQ is not a sequence id. */
int desk_kv_seq_len(const desk_ctx *c, int seq);
/* Forgets positions P0 and later of sequence SEQ (SEQ -1: of every
 * sequence).  DESK_E_ARG for a bad SEQ or a negative P0. */
desk_status desk_kv_seq_rm(desk_ctx *c, int seq, int p0, desk_err *err);
/* Makes DST hold the first N positions of SRC (what a new request sharing
 * a prompt prefix reuses): copies their K and V rows; DST's own cache is
 * replaced.  DESK_E_ARG for bad ids, DESK_E_RANGE when SRC holds fewer
 * than N tokens.  SRC == DST cuts SRC to N. */
desk_status desk_kv_seq_cp(desk_ctx *c, int src, int dst, int n, desk_err *err);

/* ---- decoding ---- */

/* A batch of tokens over one or more sequences.  The arrays are the
 * caller's, read during desk_decode_batch only.  Each sequence's rows
 * continue its cache: in batch order they take positions len, len+1, ...
 * (rows of different sequences may interleave). */
typedef struct desk_batch {
    int n_tokens;            /* rows, 1..n_batch */
    const desk_token *token; /* n_tokens ids */
    const int32_t *pos;      /* each row's position, checked against the rule above; NULL: implied */
    const int32_t *seq_id;   /* each row's sequence; NULL: all sequence 0 */
    const int8_t *logits;    /* non-zero: keep this row's logits; NULL: the last row only
                                (every row with logits_all) */
} desk_batch;

/* Appends the batch's rows to their sequences' caches and computes the
 * logits asked for.  Nothing is changed when it fails: DESK_E_ARG (bad
 * sequence id, a position that does not continue its sequence),
 * DESK_E_RANGE (token id outside the vocabulary, more rows than n_batch, a
 * sequence past n_ctx, more logit rows than the context keeps). */
desk_status desk_decode_batch(desk_ctx *c, const desk_batch *b, desk_err *err);

/* Appends N tokens to sequence 0 (N <= n_batch; pos + N <= n_ctx, else
 * DESK_E_RANGE) and computes their logits: all of them with logits_all,
 * else the last one. */
desk_status desk_decode(desk_ctx *c, const desk_token *ids, int n, desk_err *err);
/* Logits (n_vocab floats) of row I of the last batch, or of the last row
 * that kept logits for I = -1.  NULL when that row kept none, I is out of
 * range, or nothing was decoded yet.  Borrowed until the next decode. */
const float *desk_ctx_logits(const desk_ctx *c, int i);
/* With embeddings: the final-norm hidden state (n_embd floats) of row I of
 * the last batch; NULL otherwise or out of range.  Borrowed until the next
 * decode. */
const float *desk_ctx_embeddings(const desk_ctx *c, int i);
int32_t desk_model_n_embd(const desk_model *m);

/* Observer of the forward pass's intermediate tensors, for tests and for
 * comparing with other implementations: called with a name ("attn_norm",
 * "q_rope", ...; the list is in forward.c), the layer (-1 outside the
 * layers) and ROWS x COLS floats borrowed for the call.  NULL turns it off. */
typedef void (*desk_trace_fn)(void *user, const char *name, int layer, const float *data, int rows, int cols);
void desk_ctx_set_trace(desk_ctx *c, desk_trace_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif
