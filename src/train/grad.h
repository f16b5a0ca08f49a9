/*
 * train/grad.h - the training forward and backward of every operation of
 * the llama and gemma3 layers, in F32, one row (or one sequence's head) at
 * a time.  trainer.c strings them together; tests/test_train_grad.c
 * checks every backward against central finite differences in double
 * precision.
 *
 * Convention: a backward function takes what its forward read (inputs,
 * weights) and the gradient of the loss with respect to its output (DY),
 * and ADDS the gradient with respect to its inputs into DX (callers zero
 * DX first where nothing else accumulates there).  The training forward
 * keeps F32 everywhere (no F16 cache, no activation quantization except
 * where it goes through the quantized weights' kernels), so its loss
 * equals the inference path's within rounding, not bit for bit.
 *
 * Frozen weights (the model's norms, matrices) get no gradient: only
 * LoRA's A and B do.  All functions are pure and allocate nothing except
 * desk_train_matmul_dx (which borrows the scratch its caller passes).
 * Not for use outside src/train and the tests.
 */
#ifndef DESK_TRAIN_GRAD_H
#define DESK_TRAIN_GRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "kernels/kernels.h"

/* ---- RMSNorm: y = x / rms(x) * w ---- */
void desk_tr_rmsnorm(float *y, const float *x, const float *w, int n, float eps);
void desk_tr_rmsnorm_bwd(float *dx, const float *x, const float *w, const float *dy, int n, float eps);

/* ---- RoPE on one head of N_ROT rotated values (as desk_op_rope: NEOX
 * pairs i and i + n_rot/2, else 2i and 2i+1; FACTORS NULL or n_rot/2).
 * The backward of a rotation is the rotation by the opposite angle, in
 * place on DX (which holds dY on entry). ---- */
void desk_tr_rope(float *x, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors);
void desk_tr_rope_bwd(float *dx, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors);

/* ---- gated activations: y = act(g) * u; SwiGLU (SiLU) and GEGLU (GELU,
 * tanh form) ---- */
void desk_tr_swiglu(float *y, const float *g, const float *u, size_t n);
void desk_tr_swiglu_bwd(float *dg, float *du, const float *g, const float *u, const float *dy, size_t n);
void desk_tr_geglu(float *y, const float *g, const float *u, size_t n);
void desk_tr_geglu_bwd(float *dg, float *du, const float *g, const float *u, const float *dy, size_t n);

/* ---- causal attention over one sequence, one query head H.
 * Q: T rows of stride QS (the head's values at q + t*qs), likewise K, V
 * (the KV head of H's group) with strides KS, VS; OUT (stride OS).  Row t
 * sees positions max(0, t - window + 1)..t (WINDOW 0: all).  Scores are
 * q.k * SCALE.  SCRATCH holds desk_tr_attn_scratch floats. ---- */
typedef struct desk_tr_attn {
    int T, head_k, head_v, window;
    float scale;
    const float *q, *k, *v;
    size_t qs, ks, vs, os;
} desk_tr_attn;
size_t desk_tr_attn_scratch(int head_k, int head_v, int T);
void desk_tr_attn_head(const desk_tr_attn *a, float *out, float *scratch);
/* DOUT (stride os) -> DQ (stride qs), DK (ks), DV (vs), all added to. */
void desk_tr_attn_head_bwd(const desk_tr_attn *a, const float *dout, float *dq, float *dk, float *dv, float *scratch);

/* ---- softmax cross-entropy over N_VOCAB logits (after an optional
 * softcap c: logits' = c tanh(l / c), SOFTCAP 0: none): returns -log
 * p(target) and writes DLOGITS = WEIGHT * d(-log p)/d(logits) (DLOGITS may
 * be LOGITS). ---- */
double desk_tr_xent(float *dlogits, const float *logits, int n_vocab, int target, float softcap, float weight);

/* ---- LoRA: y += s * B (A x) for N rows.  A is RANK x N_IN, B N_OUT x
 * RANK.  T receives A x (N x RANK), which the backward reads. ---- */
typedef struct desk_tr_lora {
    int n_in, n_out, rank;
    float scale;
    const float *a, *b;
} desk_tr_lora;
void desk_tr_lora_fwd(const desk_tr_lora *l, const float *x, int n, float *t, float *y);
/* Adds dA, dB (same shapes as A, B) and dX (N x N_IN); DT is scratch of
 * N x RANK floats.  DX NULL: not wanted. */
void desk_tr_lora_bwd(const desk_tr_lora *l, const float *x, const float *t, const float *dy, int n, float *da,
                      float *db, float *dx, float *dt);

/* ---- the frozen matrix W (ROWS x COLS, any type desk dequantizes):
 * DX[i] += sum_r DY[i][r] W[r] for N rows (the input gradient of y = W x).
 * Threads split the columns; each dequantizes blocks of W's rows into its
 * part of SCRATCH (desk_train_matmul_dx_scratch floats). ---- */
size_t desk_tr_matmul_dx_scratch(const desk_mat *w, int n_threads);
desk_status desk_tr_matmul_dx(desk_threadpool *tp, const desk_mat *w, const float *dy, int n, float *dx,
                              float *scratch, desk_err *err);

/* Y = X W^T (N rows) over W's dequantized rows, in double sums: the
 * product without the kernels' activation quantization, whose rounding
 * steps would swamp finite differences (desk_train_params.exact).
 * SCRATCH as desk_tr_matmul_dx's. */
desk_status desk_tr_matmul_ref(desk_threadpool *tp, const desk_mat *w, const float *x, int n, float *y, float *scratch,
                               desk_err *err);

/* ---- W transposed into Q8_0 (COLS rows of ROWS), so that the input
 * gradient DY W is a product through the batched kernels, desk_matmul
 * (DY's rows quantized to Q8_0 as any activation): built once per
 * trainer.  _size: bytes of DST, 0 when W cannot be (rows not a multiple
 * of 32, or a type desk does not dequantize).  SCRATCH holds
 * desk_tr_transpose_scratch floats; WT is filled to describe DST, which
 * stays the caller's. ---- */
size_t desk_tr_transposed_size(const desk_mat *w);
size_t desk_tr_transpose_scratch(const desk_mat *w, int n_threads);
desk_status desk_tr_transpose(desk_threadpool *tp, const desk_mat *w, void *dst, float *scratch, desk_mat *wt,
                              desk_err *err);

#endif
