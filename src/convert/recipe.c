/*
 * recipe.c - per-tensor type choice for `desk quantize` and `desk synth`
 * (the rules are listed in recipe.h; facts from llama.cpp's llama-quant.cpp).
 */
#include "convert/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "tensor/types.h"

static const desk_qrecipe RECIPES[] = {
    {"Q4_0", 2, DESK_TYPE_Q4_0, DESK_QMIX_NONE},     {"Q4_1", 3, DESK_TYPE_Q4_1, DESK_QMIX_NONE},
    {"Q5_0", 8, DESK_TYPE_Q5_0, DESK_QMIX_NONE},     {"Q5_1", 9, DESK_TYPE_Q5_1, DESK_QMIX_NONE},
    {"Q8_0", 7, DESK_TYPE_Q8_0, DESK_QMIX_NONE},     {"Q4_K", 14, DESK_TYPE_Q4_K, DESK_QMIX_NONE},
    {"Q5_K", 16, DESK_TYPE_Q5_K, DESK_QMIX_NONE},    {"Q6_K", 18, DESK_TYPE_Q6_K, DESK_QMIX_NONE},
    {"Q4_K_M", 15, DESK_TYPE_Q4_K, DESK_QMIX_K_M},   {"Q5_K_M", 17, DESK_TYPE_Q5_K, DESK_QMIX_K_M},
    {"F16", 1, DESK_TYPE_F16, DESK_QMIX_NONE},       {"BF16", 32, DESK_TYPE_BF16, DESK_QMIX_NONE},
    {"F32", 0, DESK_TYPE_F32, DESK_QMIX_NONE},
};
#define N_RECIPES (sizeof RECIPES / sizeof RECIPES[0])

const desk_qrecipe *desk_qrecipe_find(const char *name) {
    for (size_t i = 0; name && i < N_RECIPES; i++)
        if (strcasecmp(name, RECIPES[i].name) == 0) return &RECIPES[i];
    return NULL;
}

const char *desk_qrecipe_list(void) {
    return "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M, F16, BF16, F32";
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool desk_qrecipe_converts(const char *name, uint32_t n_dims) {
    return n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight") &&
           !strstr(name, "ffn_gate_inp.weight");
}

typedef enum cat { CAT_OTHER, CAT_OUTPUT, CAT_TOKEN_EMBD, CAT_ATTN_V, CAT_ATTN_QKV, CAT_FFN_DOWN } cat;

/* llama.cpp's categories, reduced to the ones these recipes treat apart. */
static cat category(const char *name) {
    if (strcmp(name, "output.weight") == 0) return CAT_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight") || strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight") || strstr(name, "attn_q.weight") ||
        strstr(name, "attn_output.weight") || strstr(name, "ffn_up") || strstr(name, "ffn_gate"))
        return CAT_OTHER;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool is_quantized(uint32_t t) { return desk_type_get(t)->quantized; }

/* A type whose blocks fit a row of NE0 elements (llama.cpp's fallback). */
static uint32_t fallback(uint32_t t, int64_t ne0) {
    if (desk_type_row_ok(t, ne0)) return t;
    uint32_t f = t == DESK_TYPE_Q4_K ? DESK_TYPE_Q5_0
               : t == DESK_TYPE_Q5_K ? DESK_TYPE_Q5_1
               : t == DESK_TYPE_Q6_K ? DESK_TYPE_Q8_0
                                     : DESK_TYPE_F16;
    return desk_type_row_ok(f, ne0) ? f : DESK_TYPE_F16;
}

static int layer_of(const char *name) {
    int l = -1;
    if (strncmp(name, "blk.", 4) == 0) {
        char *end;
        long v = strtol(name + 4, &end, 10);
        if (end != name + 4 && *end == '.' && v >= 0 && v < (1L << 30)) l = (int)v;
    }
    return l;
}

static void sort_order(const desk_qtensor *t, int64_t n, int64_t *order) {
    /* insertion sort over the index array: models have at most a few
     * thousand tensors, and this keeps the comparator free of globals */
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = 1; i < n; i++) {
        int64_t v = order[i], j = i;
        while (j > 0) {
            const desk_qtensor *x = &t[order[j - 1]], *y = &t[v];
            int lx = layer_of(x->name), ly = layer_of(y->name);
            int c = lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->name, y->name);
            if (c <= 0) break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

desk_status desk_qrecipe_plan(const desk_qrecipe *r, const desk_qtensor *t, int64_t n, uint32_t *out,
                              int64_t *order, desk_err *err) {
    (void)err;
    sort_order(t, n, order);
    int n_attn_v = 0, n_ffn_down = 0, i_attn_v = 0, i_ffn_down = 0;
    bool tied = true;
    for (int64_t i = 0; i < n; i++) {
        cat c = category(t[i].name);
        n_attn_v += c == CAT_ATTN_V || c == CAT_ATTN_QKV;
        n_ffn_down += c == CAT_FFN_DOWN;
        if (c == CAT_OUTPUT) tied = false;
    }
    for (int64_t k = 0; k < n; k++) {
        const desk_qtensor *x = &t[order[k]];
        uint32_t ty = r->base;
        if (!desk_qrecipe_converts(x->name, x->n_dims)) {
            out[order[k]] = x->type;
            continue;
        }
        if (is_quantized(r->base)) {
            cat c = category(x->name);
            if (c == CAT_OUTPUT || (tied && c == CAT_TOKEN_EMBD)) {
                if (!desk_type_row_ok(ty, x->ne0)) ty = DESK_TYPE_Q8_0;
                else if (ty != DESK_TYPE_Q8_0) ty = DESK_TYPE_Q6_K;
            } else if (r->mix == DESK_QMIX_K_M && (c == CAT_ATTN_V || c == CAT_ATTN_QKV)) {
                /* llama.cpp's attn_v branch catches attn_qkv first, so its
                 * separate Q5_K/Q6_K rule for attn_qkv never applies */
                if (use_more_bits(i_attn_v, n_attn_v)) ty = DESK_TYPE_Q6_K;
            } else if (r->mix == DESK_QMIX_K_M && c == CAT_FFN_DOWN) {
                if (use_more_bits(i_ffn_down, n_ffn_down)) ty = DESK_TYPE_Q6_K;
            }
            if (c == CAT_ATTN_V || c == CAT_ATTN_QKV) i_attn_v++;
            if (c == CAT_FFN_DOWN) i_ffn_down++;
            ty = fallback(ty, x->ne0);
        }
        out[order[k]] = ty;
    }
    return DESK_OK;
}
