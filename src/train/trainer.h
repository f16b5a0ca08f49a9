/*
 * train/trainer.h - what the tests reach inside a trainer for: its LoRA
 * weights and gradients as flat arrays, to set weights and compare
 * gradients with finite differences.  Not for use outside src/train and
 * the tests.
 */
#ifndef DESK_TRAIN_TRAINER_H
#define DESK_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stddef.h>

#include "desk/train.h"

/* Every weight of every pair, one array (*N floats), owned by T. */
float *desk_trainer_weights(desk_trainer *t, size_t *n);
/* Where A (B when WANT_B) of matrix KIND (model/adapter.h's
 * DESK_LORA_*) of layer IL starts in that array, or (size_t)-1 when the
 * trainer does not adapt it. */
size_t desk_trainer_offset(const desk_trainer *t, int il, int kind, bool want_b);
/* The gradients accumulated since the last step (sums over tokens, not
 * yet averaged), in the weights' layout; owned by T. */
const float *desk_trainer_grads(desk_trainer *t);
/* Clears the accumulated gradients. */
void desk_trainer_zero_grads(desk_trainer *t);

#endif
