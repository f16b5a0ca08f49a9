/*
 * validate.c - refusing model files whose values are well-formed GGUF but
 * mean nothing, before anything computes with them.
 *
 * The reader checks structure; the loader checks shapes and types.  What
 * neither sees, and what would otherwise run and print garbage:
 *  - a special token id stored as something other than an integer (the
 *    tokenizer reads ids with desk_gguf_get_i64 and would silently keep its
 *    default, a different model from the one the file describes);
 *  - a token type outside llama.cpp's 0..6 (UNDEFINED..BYTE), which the
 *    tokenizer would silently treat as "no attributes";
 *  - a NaN or infinity in a float-typed tensor.  One such weight turns
 *    every logit NaN from the first layer it is read in, and the sampler
 *    then picks token 0 whatever the prompt.  F32, F16 and BF16 tensors
 *    are all scanned: the norms are a few KiB, and a float matrix costs one
 *    sequential read of its bytes (the loader reads the matrices anyway
 *    when it places them).  The block scales of quantized tensors are not
 *    scanned (see docs/SECURITY.md).
 */
#include "model/validate.h"

#include <stdio.h>

#include "core/error.h"
#include "tensor/types.h"

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

static bool is_int_type(desk_gguf_vtype t) {
    return t == DESK_GGUF_UINT8 || t == DESK_GGUF_INT8 || t == DESK_GGUF_UINT16 || t == DESK_GGUF_INT16 ||
           t == DESK_GGUF_UINT32 || t == DESK_GGUF_INT32 || t == DESK_GGUF_UINT64 || t == DESK_GGUF_INT64;
}

static desk_status check_token_ids(const desk_gguf *g, desk_err *err) {
    static const char *const keys[] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.mask_token_id",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const desk_gguf_kv *kv = desk_gguf_find_kv(g, keys[i]);
        if (kv && !is_int_type(kv->value.type))
            return desk_errf(err, DESK_E_FORMAT, "key '%s' (at offset %llu) is %s, expected an integer token id",
                             keys[i], ull(kv->offset), desk_gguf_vtype_name(kv->value.type));
    }
    return DESK_OK;
}

/* Token types: llama.cpp's UNDEFINED 0, NORMAL, UNKNOWN, CONTROL,
 * USER_DEFINED, UNUSED, BYTE 6.  An array of another element type is left
 * to the tokenizer, which refuses anything but INT32 with its own message. */
static desk_status check_token_types(const desk_gguf *g, desk_err *err) {
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (!kv || kv->value.type != DESK_GGUF_ARRAY || !is_int_type(kv->value.v.arr.type)) return DESK_OK;
    for (uint64_t i = 0; i < kv->value.v.arr.n; i++) {
        const desk_gguf_value e = desk_gguf_arr_elem(&kv->value, i);
        const bool is_signed = e.type == DESK_GGUF_INT8 || e.type == DESK_GGUF_INT16 ||
                               e.type == DESK_GGUF_INT32 || e.type == DESK_GGUF_INT64;
        if (is_signed ? e.v.i64 < 0 || e.v.i64 > 6 : e.v.u64 > 6) {
            char val[24];
            if (is_signed) snprintf(val, sizeof val, "%lld", (long long)e.v.i64);
            else snprintf(val, sizeof val, "%llu", ull(e.v.u64));
            return desk_errf(err, DESK_E_FORMAT,
                             "key 'tokenizer.ggml.token_type' (at offset %llu): element %llu is %s, not a token type (0..6)",
                             ull(kv->offset), ull(i), val);
        }
    }
    return DESK_OK;
}

/* Index of the first non-finite element of N float values of TYPE at P,
 * or N.  A value is NaN or infinite exactly when its exponent bits are all
 * ones; the first loop only ORs a flag so that the compiler vectorizes it
 * (the common case, a clean tensor, is one pass at memory speed), and
 * only a tensor found bad is searched again for the index. */
static uint64_t first_nonfinite(uint32_t type, const void *p, uint64_t n) {
    unsigned bad = 0;
    if (type == DESK_TYPE_F32) {
        const uint32_t *u = p; /* the reader checked the 4-byte alignment */
        for (uint64_t i = 0; i < n; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
        for (uint64_t i = 0; bad && i < n; i++)
            if ((u[i] & 0x7f800000u) == 0x7f800000u) return i;
    } else {
        const uint16_t *u = p, mask = type == DESK_TYPE_F16 ? 0x7c00u : 0x7f80u;
        for (uint64_t i = 0; i < n; i++) bad |= (u[i] & mask) == mask;
        for (uint64_t i = 0; bad && i < n; i++)
            if ((u[i] & mask) == mask) return i;
    }
    return n;
}

static const char *describe(uint32_t type, const void *p, uint64_t i) {
    uint32_t sign, mant;
    if (type == DESK_TYPE_F32) {
        const uint32_t u = ((const uint32_t *)p)[i];
        sign = u >> 31, mant = u & 0x7fffffu;
    } else {
        const uint16_t u = ((const uint16_t *)p)[i];
        sign = u >> 15, mant = u & (type == DESK_TYPE_F16 ? 0x3ffu : 0x7fu);
    }
    return mant ? "NaN" : sign ? "-inf" : "inf";
}

static desk_status check_finite(const desk_gguf *g, desk_err *err) {
    for (int64_t ti = 0; ti < desk_gguf_n_tensors(g); ti++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, ti);
        if (t->type != DESK_TYPE_F32 && t->type != DESK_TYPE_F16 && t->type != DESK_TYPE_BF16) continue;
        const uint64_t n = t->nbytes / (t->type == DESK_TYPE_F32 ? 4 : 2);
        const uint64_t i = first_nonfinite(t->type, t->data, n);
        if (i < n) {
            /* Names come from the file: only the first 60 printable bytes. */
            char name[64];
            size_t k = 0;
            for (; k < t->name.len && k < 60; k++) {
                const unsigned char ch = (unsigned char)t->name.s[k];
                name[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
            }
            name[k] = '\0';
            return desk_errf(err, DESK_E_FORMAT,
                             "tensor '%s' (info at offset %llu): %s element %llu (row %llu, column %llu) is %s; desk refuses non-finite weights",
                             name, ull(t->info_offset), desk_type_name(t->type), ull(i), ull(i / (uint64_t)t->ne[0]),
                             ull(i % (uint64_t)t->ne[0]), describe(t->type, t->data, i));
        }
    }
    return DESK_OK;
}

desk_status desk_model_validate_meta(const desk_gguf *g, desk_err *err) {
    desk_status s;
    if ((s = check_token_ids(g, err)) || (s = check_token_types(g, err))) return s;
    return DESK_OK;
}

desk_status desk_model_validate_weights(const desk_gguf *g, desk_err *err) { return check_finite(g, err); }
