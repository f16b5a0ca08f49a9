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

typedef enum desk_arch { DESK_ARCH_LLAMA, DESK_ARCH_GEMMA3, DESK_ARCH_QWEN2 } desk_arch;


typedef struct desk_layer {
    desk_mat wq, wk, wv, wo, w_gate, w_up, w_down;
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;                /* q, k, v biases (qwen2; optional in llama) */
    const float *q_norm, *k_norm;             /* gemma3 */
    const float *post_attn_norm, *post_ffn_norm; /* gemma3 */
    bool swa;          /* sliding-window layer */
    float rope_base;
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

/* Forward pass over the N rows desk_decode_batch laid out (b_pos, b_seq,
 * b_out, chunk0), N_OUT of which keep logits (defined in forward.c). */
desk_status desk_forward(desk_ctx *c, const desk_token *ids, int n, int n_out, desk_err *err);

#endif
