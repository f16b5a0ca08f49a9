/*
 * model/adapter.h - a loaded LoRA adapter as the forward pass reads it
 * (adapter.c loads, checks and writes adapters; forward.c applies them).
 * The public half is include/desk/lora.h.  Not for use outside src/model
 * and the tests.
 */
#ifndef DESK_MODEL_ADAPTER_H
#define DESK_MODEL_ADAPTER_H

#include "core/arena.h"
#include "desk/lora.h"
#include "gguf/gguf.h"

/* The matrices of a layer an adapter may adapt, in slot order. */
typedef enum desk_lora_kind {
    DESK_LORA_Q,
    DESK_LORA_K,
    DESK_LORA_V,
    DESK_LORA_O,
    DESK_LORA_GATE,
    DESK_LORA_UP,
    DESK_LORA_DOWN,
    DESK_LORA_KINDS
} desk_lora_kind;

/* One adapted matrix, in F32: A is rank rows of n_in, B n_out rows of rank. */
typedef struct desk_lora_pair {
    int32_t rank;
    int64_t n_in, n_out;
    const float *a, *b;
} desk_lora_pair;

struct desk_lora {
    const desk_model *m;
    float alpha;
    int32_t max_rank;
    int n_pairs;
    /* n_layer * DESK_LORA_KINDS slots (layer-major), then output.weight's;
     * NULL where the adapter leaves the matrix alone. */
    int n_slots;
    const desk_lora_pair **slot;
    desk_arena arena; /* the slots, the pairs and their weights */
};

/* The slot of matrix KIND of layer IL, or of output.weight for IL = -1. */
static inline int desk_lora_slot(const desk_lora *l, int il, int kind) {
    return il < 0 ? l->n_slots - 1 : il * DESK_LORA_KINDS + kind;
}

/* Reads an adapter for M from the open file G (WHAT names it in messages:
 * its path).  G stays the caller's (every weight is copied out).  Errors
 * as desk_lora_load.  Owned by the caller: desk_lora_free. */
desk_status desk_lora_from_gguf(const desk_model *m, const desk_gguf *g, desk_lora **out, desk_err *err);

#endif
