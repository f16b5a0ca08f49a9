/*
 * model_internal.h - what model.c (loading) and forward.c (the forward pass)
 * share: the per-layer weight views, the model and the context (the
 * hyperparameters are model/hparams.h's).
 * Not for use outside src/model.
 */
#ifndef DESK_MODEL_INTERNAL_H
#define DESK_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/fp16.h"
#include "core/threadpool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "desk/lora.h"
#include "model/hparams.h"
#include "model/model.h"

typedef enum desk_arch {
    DESK_ARCH_LLAMA,
    DESK_ARCH_GEMMA3,
    DESK_ARCH_QWEN2,
    DESK_ARCH_QWEN3,    /* per-head q/k norms, no biases */
    DESK_ARCH_QWEN3MOE, /* qwen3 with experts in every layer */
    DESK_ARCH_GEMMA2,   /* gemma3's layer without q/k norms, soft-capped attention and logits */
} desk_arch;

/* Gemma 2 and 3: embeddings scaled, q scaled before attention, GELU, post-norms. */
#define DESK_ARCH_IS_GEMMA(a) ((a) == DESK_ARCH_GEMMA3 || (a) == DESK_ARCH_GEMMA2)


typedef struct desk_layer {
    desk_mat wq, wk, wv, wo, w_gate, w_up, w_down;
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;                /* q, k, v biases (qwen2; optional in llama) */
    const float *q_norm, *k_norm;             /* gemma3, qwen3, qwen3moe */
    const float *post_attn_norm, *post_ffn_norm; /* gemma2, gemma3 */
    bool swa;          /* sliding-window layer */
    float rope_base;
    /* Mixture of experts (n_expert > 0 in the model's hparams): the
     * router ffn_gate_inp (F32, n_expert rows of n_embd) replaces nothing;
     * the experts replace w_gate, w_up and w_down (left empty).  Expert
     * e's matrices are exp_gate, exp_up, exp_down with data advanced by e
     * times exp_stride_gu / exp_stride_down bytes: views of the stacked
     * 3-D tensors in the mapped file, never placed, so a step touches the
     * pages of the experts it routes to and no others. */
    const float *gate_inp;
    desk_mat exp_gate, exp_up, exp_down;
    size_t exp_stride_gu, exp_stride_down;
} desk_layer;

struct desk_model {
    desk_gguf *g;            /* owns the mapping the weights point into */
    desk_arch arch;
    const char *arch_name;
    const char *name;
    const char *chat_template;
    desk_hparams hp;
    desk_mat tok_embd, output;
    const float *out_norm;
    const float *rope_freqs; /* llama3 rope frequency factors, n_rot/2, or NULL */
    desk_layer *layers;
    desk_tokenizer *tok;
    uint64_t weight_bytes;
    /* The weights placed at load (place_weights in model.c): one
     * anonymous mapping the desk_mat.packed views (repacked) and the
     * desk_mat.data of copied matrices point into, owned by the model and
     * unmapped by desk_model_free; NULL with no_repack or when nothing is
     * placed. */
    void *packed;
    size_t packed_bytes;
    desk_arena arena;
};

struct desk_ctx {
    desk_model *m;
    desk_threadpool *tp;
    int n_ctx;   /* positions per sequence */
    int n_batch; /* rows per decode call */
    int n_seq;   /* sequences the cache holds */
    int n_out_max; /* output rows (logits) one decode may keep */
    bool logits_all, reference, embeddings;
    bool deterministic; /* batch-invariant mode (desk_ctx_set_deterministic) */
    const desk_kernel_table *kt; /* the kernels desk_matmul_with uses */
    /* Tokens each sequence holds (n_seq entries): its next position. */
    int32_t *seq_len;
    /* [layer][seq][n_ctx][n_head_kv * head_dim] in type_k / type_v
     * (desk_type: F16 or Q8_0): each sequence has its own run of n_ctx
     * positions, so attention reads one contiguous range and a prefix is
     * copied with one memcpy per layer.  A position's row is k_row / v_row
     * bytes, one head's part of it k_head / v_head bytes. */
    unsigned char *k_cache, *v_cache;
    uint32_t type_k, type_v;
    size_t k_row, v_row, k_head, v_head;
    /* Sizes of the Hadamard rotations of a quantized cache (llama.cpp's):
     * q and k in blocks of rot_k values, v and the attention output in
     * blocks of rot_v; 0 = none. */
    int rot_k, rot_v;
    /* activations, n_batch rows each */
    float *x, *xb, *q, *k, *v, *att, *ffa, *ffb, *xo;
    float *scores;    /* per thread: n_ctx */
    float *ref_row;   /* per thread: one dequantized weight row (reference path) */
    float *logits;    /* n_out_max rows of n_vocab */
    /* Mixture of experts (NULL for a dense model), see moe.c: per row the
     * router's logits, a sort index and probabilities (n_expert each) and its chosen experts and their
     * weights (n_expert_used each); the rows routed to each expert
     * (n_expert lists of up to n_batch row * n_expert_used + slot codes);
     * the gathered input rows of one expert (n_batch x n_embd), their
     * down-projection, and each row's slot outputs (n_batch x
     * n_expert_used x n_embd), summed in slot order. */
    float *moe_logits, *moe_probs, *moe_w, *moe_x, *moe_y, *moe_slots;
    int32_t *moe_idx, *moe_sel, *moe_count, *moe_rows;
    float *embd;      /* with embeddings: n_batch rows of n_embd (final norm) */
    int n_logits;     /* rows in logits from the last decode */
    int n_rows;       /* rows of the last decode */
    /* The batch being decoded, row by row (n_batch entries each): its
     * position, its sequence, its row in logits (-1: none). */
    int32_t *b_pos, *b_seq, *b_out;
    /* Starts of the batch's attention runs (rows of one sequence at
     * consecutive positions, at most a run's length), n_chunks + 1
     * entries with the end last. */
    int32_t *chunk0;
    int n_chunks;
    int32_t *seq_next; /* n_seq: scratch for checking a batch's positions */
    void *scratch;    /* for desk_matmul */
    /* LoRA adapters (desk_ctx_params.loras, copied; the adapters are
     * borrowed) and their scratch: n_batch rows of the largest rank. */
    desk_lora_use *loras;
    int n_loras;
    float *lora_t;
    desk_trace_fn trace; /* optional observer (desk_ctx_set_trace) */
    void *trace_user;
    desk_arena arena;
};

/* ---- operations (ops.c): llama.cpp's CPU numerics, see there ---- */

/* desk_attn_row (one query row against cache positions LO..HI) is in
 * kernels/kernels.h, shared with the vector versions of these ops. */
float desk_op_vexpf(float x);
void desk_op_rmsnorm(float *y, const float *x, const float *w, int n, float eps);
/* Rotates one head in place; FACTORS (n_rot/2) or NULL. */
void desk_op_rope(float *x, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors);
/* Y = act(G) * U over N values (Y may be G). */
void desk_op_swiglu(float *y, const float *g, const float *u, size_t n);
void desk_op_geglu(float *y, const float *g, const float *u, size_t n);
/* X (N values, N a power of two) times the orthonormal N x N Hadamard
 * matrix, in place, rounded as ggml's fwht. */
void desk_op_fwht(float *x, int n);
/* OUT = softmax(q.K * scale) V for one row.  ACC is scratch of head_v +
 * head_k floats.  _vec: batches under 64 rows and decode; _tiled: 64 and up. */
void desk_op_attn_vec(const desk_attn_row *r, float *out, float *acc);
void desk_op_attn_tiled(const desk_attn_row *r, float *out, float *acc);
/* Batches of this many rows or more take desk_op_attn_tiled. */
#define DESK_ATTN_TILED_MIN 64

/* The mixture-of-experts feed-forward (moe.c): XO[i] = sum over row i's
 * chosen experts of weight * down(act(gate x) * up x), for the N rows of
 * XB, as llama.cpp's llm_build_moe_ffn (softmax routing, top-k, weights
 * renormalised).  N_LL is the row count llama.cpp routes there (its
 * router product's summation order depends on it).  desk_moe_alloc sizes the context's buffers for it. */
desk_status desk_moe_ffn(desk_ctx *c, const desk_layer *L, int il, int n, int n_ll, desk_err *err);
bool desk_moe_alloc(desk_ctx *c);

/* Y = W X for one matrix and N rows, with the context's kernels (or the
 * reference path) - forward.c's product, shared with moe.c. */
desk_status desk_ctx_matmul(desk_ctx *c, const desk_mat *w, const float *x, int n, float *y, desk_err *err);
desk_status desk_ctx_matmuls(desk_ctx *c, const desk_mat *const *w, float *const *y, int k, const float *x, int n,
                             desk_err *err);
/* The trace observer, if any (desk_ctx_set_trace). */
void desk_ctx_trace(const desk_ctx *c, const char *name, int layer, const float *data, int rows, size_t cols);
/* F32 dot product summed as llama.cpp c392e509 sums an F32 x F32
 * ggml_mul_mat on x86 AVX-512 (TILED: llamafile's tinyBLAS, else
 * ggml_vec_dot_f32), and whether it takes tinyBLAS for an M x K product of
 * N rows. */
float desk_dot_ll(const float *a, const float *x, int64_t k, bool tiled);
bool desk_ll_tiled(int64_t m, int64_t k, int n);

/* Forward pass over the N rows desk_decode_batch laid out (b_pos, b_seq,
 * b_out, chunk0), N_OUT of which keep logits (defined in forward.c). */
desk_status desk_forward(desk_ctx *c, const desk_token *ids, int n, int n_out, desk_err *err);

#endif
