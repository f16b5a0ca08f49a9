/*
 * types.c - the tensor type table (see types.h).
 *
 * Sizes are those of ggml's block layouts, which GGUF files store as-is.
 * Reference routines live in one file per family (float.c, quant_legacy.c,
 * quant_k.c, ...) and are wired in here.
 */
#include "tensor/types.h"

#include <strings.h>

#include "core/error.h"

#include "tensor/ref.h"

/* The three reference routines of a type, in table order. */
#define R(t) desk_ref_dequant_##t, desk_ref_quant_##t, desk_ref_vec_dot_##t

/* vec_dot_type: the legacy 32-element quants take Q8_0 activations, except
 * the ones with a min (Q4_1, Q5_1), which take Q8_1 so the min folds into
 * one product per block - as in llama.cpp.  K-quants and IQ4_XS take Q8_K.
 * Float weights (F32, F16, BF16) take plain F32 activations: ggml rounds
 * activations to F16/BF16 for F16/BF16 weights, desk does not (more
 * accurate, and the kernels widen the weights instead). */
static const desk_type_info TYPES[DESK_TYPE_COUNT] = {
    [DESK_TYPE_F32] = {"F32", 1, 4, false, DESK_TYPE_F32, R(f32), desk_ref_quant_f32},
    [DESK_TYPE_F16] = {"F16", 1, 2, false, DESK_TYPE_F32, R(f16), NULL},
    [DESK_TYPE_Q4_0] = {"Q4_0", 32, 18, true, DESK_TYPE_Q8_0, R(q4_0), NULL},
    [DESK_TYPE_Q4_1] = {"Q4_1", 32, 20, true, DESK_TYPE_Q8_1, R(q4_1), NULL},
    [DESK_TYPE_Q5_0] = {"Q5_0", 32, 22, true, DESK_TYPE_Q8_0, R(q5_0), NULL},
    [DESK_TYPE_Q5_1] = {"Q5_1", 32, 24, true, DESK_TYPE_Q8_1, R(q5_1), NULL},
    [DESK_TYPE_Q8_0] = {"Q8_0", 32, 34, true, DESK_TYPE_Q8_0, R(q8_0), desk_ref_quant_act_q8_0},
    [DESK_TYPE_Q8_1] = {"Q8_1", 32, 36, true, DESK_TYPE_Q8_1, R(q8_1), desk_ref_quant_act_q8_1},
    [DESK_TYPE_Q2_K] = {"Q2_K", 256, 84, true, DESK_TYPE_Q8_K, R(q2_k), NULL},
    [DESK_TYPE_Q3_K] = {"Q3_K", 256, 110, true, DESK_TYPE_Q8_K, R(q3_k), NULL},
    [DESK_TYPE_Q4_K] = {"Q4_K", 256, 144, true, DESK_TYPE_Q8_K, R(q4_k), NULL},
    [DESK_TYPE_Q5_K] = {"Q5_K", 256, 176, true, DESK_TYPE_Q8_K, R(q5_k), NULL},
    [DESK_TYPE_Q6_K] = {"Q6_K", 256, 210, true, DESK_TYPE_Q8_K, R(q6_k), NULL},
    [DESK_TYPE_Q8_K] = {"Q8_K", 256, 292, true, DESK_TYPE_Q8_K, R(q8_k), desk_ref_quant_q8_k},
    [DESK_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ1_S] = {"IQ1_S", 256, 50, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, true, DESK_TYPE_Q8_0, R(iq4_nl), NULL},
    [DESK_TYPE_IQ3_S] = {"IQ3_S", 256, 110, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ2_S] = {"IQ2_S", 256, 82, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, true, DESK_TYPE_Q8_K, R(iq4_xs), NULL},
    [DESK_TYPE_I8] = {"I8", 1, 1, false, DESK_TYPE_I8, NULL, NULL, NULL, NULL},
    [DESK_TYPE_I16] = {"I16", 1, 2, false, DESK_TYPE_I16, NULL, NULL, NULL, NULL},
    [DESK_TYPE_I32] = {"I32", 1, 4, false, DESK_TYPE_I32, NULL, NULL, NULL, NULL},
    [DESK_TYPE_I64] = {"I64", 1, 8, false, DESK_TYPE_I64, NULL, NULL, NULL, NULL},
    [DESK_TYPE_F64] = {"F64", 1, 8, false, DESK_TYPE_F64, NULL, NULL, NULL, NULL},
    [DESK_TYPE_IQ1_M] = {"IQ1_M", 256, 56, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_BF16] = {"BF16", 1, 2, false, DESK_TYPE_F32, R(bf16), NULL},
    [DESK_TYPE_TQ1_0] = {"TQ1_0", 256, 54, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_TQ2_0] = {"TQ2_0", 256, 66, true, DESK_TYPE_Q8_K, NULL, NULL, NULL, NULL},
    [DESK_TYPE_MXFP4] = {"MXFP4", 32, 17, true, DESK_TYPE_Q8_0, NULL, NULL, NULL, NULL},
};

#undef R

const desk_type_info *desk_type_get(uint32_t type) {
    if (type >= DESK_TYPE_COUNT || TYPES[type].name == NULL) return NULL;
    return &TYPES[type];
}

const char *desk_type_name(uint32_t type) {
    const desk_type_info *t = desk_type_get(type);
    return t ? t->name : "unknown";
}

int desk_type_from_name(const char *name) {
    for (int i = 0; i < DESK_TYPE_COUNT; i++)
        if (TYPES[i].name && strcasecmp(TYPES[i].name, name) == 0) return i;
    return -1;
}

bool desk_type_row_ok(uint32_t type, int64_t n) {
    const desk_type_info *t = desk_type_get(type);
    return t && n >= 0 && n % t->blck == 0;
}

size_t desk_type_row_size(uint32_t type, int64_t n) {
    const desk_type_info *t = desk_type_get(type);
    if (!t || n < 0) return 0;
    return (size_t)(n / t->blck) * (size_t)t->type_size;
}

desk_status desk_quantize_acts(uint32_t wtype, const float *src, void *dst, int64_t n, desk_err *err) {
    const desk_type_info *w = desk_type_get(wtype);
    if (!w) return desk_errf(err, DESK_E_UNSUPPORTED, "unknown tensor type id %u", wtype);
    const desk_type_info *a = desk_type_get(w->vec_dot_type);
    if (!a->act_quant || !w->vec_dot)
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk has no dot product for type %s", w->name);
    if (n < 0 || n % a->blck != 0 || n % w->blck != 0)
        return desk_errf(err, DESK_E_ARG, "row of %lld elements is not a whole number of %s blocks (%d)",
                         (long long)n, a->name, (int)a->blck);
    a->act_quant(src, dst, n);
    return DESK_OK;
}

/* Shared checks of desk_quantize_row and desk_dequantize_row. */
static desk_status row_check(uint32_t type, int64_t n, bool quant, desk_err *err) {
    const desk_type_info *t = desk_type_get(type);
    if (!t) return desk_errf(err, DESK_E_UNSUPPORTED, "unknown tensor type id %u", type);
    if (quant ? t->quant == NULL : t->dequant == NULL)
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk cannot %squantize type %s", quant ? "" : "de",
                         t->name);
    if (n < 0 || n % t->blck != 0)
        return desk_errf(err, DESK_E_ARG, "row of %lld elements is not a whole number of %s blocks (%d)",
                         (long long)n, t->name, (int)t->blck);
    return DESK_OK;
}

desk_status desk_quantize_row(uint32_t type, const float *src, void *dst, int64_t n, desk_err *err) {
    desk_status st = row_check(type, n, true, err);
    if (st != DESK_OK) return st;
    TYPES[type].quant(src, dst, n);
    return DESK_OK;
}

desk_status desk_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, desk_err *err) {
    desk_status st = row_check(type, n, false, err);
    if (st != DESK_OK) return st;
    TYPES[type].dequant(src, dst, n);
    return DESK_OK;
}
