/*
 * desk/train.h - LoRA fine-tuning on the CPU over a quantized model.
 *
 * The base model stays as loaded (quantized, frozen); a trainer holds F32
 * low-rank pairs (A: rank x n_in, B: n_out x rank) for the chosen matrices
 * of every layer, their gradients and AdamW's moments.  One call runs the
 * forward and backward pass of one token sequence and adds its gradients;
 * desk_trainer_step then applies them.  Memory stays near the model's
 * size plus one sequence's activations: the forward keeps only each
 * layer's input, and the backward recomputes a layer's activations just
 * before it needs them (gradient checkpointing).
 *
 * The adapter desk_trainer_save writes is llama.cpp's LoRA GGUF
 * (desk/lora.h), loaded again with desk_lora_load or `--lora`.
 */
#ifndef DESK_TRAIN_H
#define DESK_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "desk/common.h"
#include "desk/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The matrices of each layer a trainer may adapt (desk_train_params.targets). */
enum {
    DESK_TRAIN_Q = 1u << 0,
    DESK_TRAIN_K = 1u << 1,
    DESK_TRAIN_V = 1u << 2,
    DESK_TRAIN_O = 1u << 3,
    DESK_TRAIN_GATE = 1u << 4,
    DESK_TRAIN_UP = 1u << 5,
    DESK_TRAIN_DOWN = 1u << 6,
    DESK_TRAIN_ALL = 0x7fu,
};

/* Parses a comma-separated list of q, k, v, o, gate, up, down ("all"
 * for every one) into DESK_TRAIN_* bits.  DESK_E_ARG names an unknown
 * entry. */
desk_status desk_train_targets_parse(const char *s, unsigned *out, desk_err *err);

typedef struct desk_train_params {
    int rank;          /* 0: 8 */
    float alpha;       /* 0: 2 * rank; the adapter's scale is alpha / rank */
    unsigned targets;  /* DESK_TRAIN_* bits; 0: all */
    uint64_t seed;     /* A's random start (B starts at zero) */
    int n_ctx;         /* the longest sequence a step takes; 0: 512 */
    int n_threads;     /* 0: the physical cores */
    float lr;          /* peak learning rate; 0: 1e-4 */
    float weight_decay; /* AdamW's decoupled decay; negative: 0.  (0 means 0.) */
    int warmup;        /* steps of linear warm-up */
    int total_steps;   /* cosine decay to a tenth of lr over these steps (0: none) */
    float clip;        /* clip the gradient's norm to this; 0: 1 */
    bool exact;        /* products in plain F32 over dequantized weights (slow;
                          for checking gradients), not the quantized kernels */
} desk_train_params;

typedef struct desk_trainer desk_trainer;

/* A trainer for model M (borrowed: must outlive it).  Refuses
 * (DESK_E_UNSUPPORTED) an architecture or a weight type it cannot take
 * gradients through, DESK_E_ARG bad parameters, DESK_E_NOMEM.  Owned by
 * the caller: desk_trainer_free. */
desk_status desk_trainer_new(desk_model *m, const desk_train_params *p, desk_trainer **out, desk_err *err);
void desk_trainer_free(desk_trainer *t);

/* Forward and backward of the N tokens IDS (2 <= N <= n_ctx): the loss is
 * the cross-entropy of predicting ids[i] from the tokens before it, for
 * every i >= 1 with MASK[i] nonzero (MASK NULL: every i).  Adds the
 * gradients (summed over those tokens) to the trainer's; *LOSS_SUM gets
 * the summed loss and *N_TOK the tokens counted (both may be NULL). */
desk_status desk_trainer_accum(desk_trainer *t, const desk_token *ids, const uint8_t *mask, int n, double *loss_sum,
                               int *n_tok, desk_err *err);
/* The same loss without gradients (validation). */
desk_status desk_trainer_eval(desk_trainer *t, const desk_token *ids, const uint8_t *mask, int n, double *loss_sum,
                              int *n_tok, desk_err *err);
/* One AdamW update with the gradients accumulated since the last step,
 * averaged over their tokens, then clears them.  A step with no tokens
 * only advances the schedule. */
void desk_trainer_step(desk_trainer *t);
int desk_trainer_steps(const desk_trainer *t); /* updates so far */
float desk_trainer_lr(const desk_trainer *t);  /* the learning rate of the next step */

/* Writes the adapter to PATH atomically (desk_lora_write, F32). */
desk_status desk_trainer_save(const desk_trainer *t, const char *path, desk_err *err);

/* Writes a checkpoint to PATH atomically: the LoRA weights, AdamW's
 * moments, the step count and the trainer's shape (rank, alpha, targets),
 * followed by the caller's USER_LEN bytes at USER (the data order, the
 * loss history; may be NULL with 0), and a checksum.  Call it between
 * steps (no gradients pending): restoring it into a trainer made with the
 * same model, parameters and threads then continues bit for bit. */
desk_status desk_trainer_checkpoint(const desk_trainer *t, const char *path, const void *user, size_t user_len,
                                    desk_err *err);
/* Restores a checkpoint written by desk_trainer_checkpoint into T.
 * DESK_E_FORMAT names a damaged file (magic, size, checksum),
 * DESK_E_ARG a checkpoint of another shape (rank, alpha, targets, layers).
 * *USER gets the caller's bytes (malloc'd, the caller frees; NULL when
 * none) and *USER_LEN their count. */
desk_status desk_trainer_restore(desk_trainer *t, const char *path, void **user, size_t *user_len, desk_err *err);

#ifdef __cplusplus
}
#endif

#endif
