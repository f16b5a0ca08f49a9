/*
 * hparams.c - reading a model's hyperparameters from its GGUF header (see
 * hparams.h).
 *
 * Defaults follow llama.cpp's loader, so a file means here what it means
 * there: head_count_kv defaults to head_count, key_length and value_length
 * both to embedding_length / head_count, rope.dimension_count to
 * key_length.  Counts may be per-layer arrays (llama.cpp writes them for
 * models whose layers differ): the largest element stands for the count,
 * and head_count_kv is also summed, because the KV cache holds each
 * layer's own heads.
 */
#include "model/hparams.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define KEY_MAX 160
#define COUNT_MAX ((int64_t)1 << 30) /* keeps products of two counts within int64 */

typedef struct count {
    bool present, array;
    int64_t max, sum;
} count;

static bool is_int(desk_gguf_vtype t) {
    return t <= DESK_GGUF_INT32 || t == DESK_GGUF_UINT64 || t == DESK_GGUF_INT64;
}

static bool is_signed(desk_gguf_vtype t) {
    return t == DESK_GGUF_INT8 || t == DESK_GGUF_INT16 || t == DESK_GGUF_INT32 || t == DESK_GGUF_INT64;
}

/* One integer value; a negative one reads as -1 (refused by the caller). */
static int64_t int_of(const desk_gguf_value *v) {
    if (is_signed(v->type)) return v->v.i64 < 0 ? -1 : v->v.i64;
    return v->v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->v.u64;
}

/* "<arch>.SUFFIX" as a count: a non-negative integer or an array of them
 * (one per layer); POSITIVE refuses zeros and empty arrays.  *C says
 * whether it was there and its largest element and sum. */
static desk_status read_count(const desk_gguf *g, const char *arch, const char *suffix, bool positive, count *c,
                              desk_err *err) {
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    memset(c, 0, sizeof *c);
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, key);
    if (!kv) return DESK_OK;
    const desk_gguf_value *v = &kv->value;
    c->present = true;
    const char *want = positive ? "a positive integer (or one per layer)" : "an integer (or one per layer)";
    if (is_int(v->type)) {
        c->max = c->sum = int_of(v);
    } else if (v->type == DESK_GGUF_ARRAY && is_int(v->v.arr.type) && v->v.arr.n > 0) {
        c->array = true;
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            desk_gguf_value e = desk_gguf_arr_elem(v, i);
            int64_t x = int_of(&e);
            if (x < 0 || x > COUNT_MAX || (positive && x == 0))
                return desk_errf(err, DESK_E_FORMAT, "%s[%llu] = %lld (key at offset %llu) must be %s up to 2^30",
                                 key, (unsigned long long)i, (long long)x, (unsigned long long)kv->offset, want);
            if (x > c->max) c->max = x;
            c->sum += x; /* at most 2^30 per element: a 2^33-element array would not fit in memory */
        }
        return DESK_OK;
    } else {
        return desk_errf(err, DESK_E_FORMAT, "%s (key at offset %llu) must be %s", key,
                         (unsigned long long)kv->offset, want);
    }
    if (c->max < 0 || (positive && c->max == 0))
        return desk_errf(err, DESK_E_FORMAT, "%s = %lld (key at offset %llu) must be %s", key, (long long)c->max,
                         (unsigned long long)kv->offset, want);
    if (c->max > COUNT_MAX)
        return desk_errf(err, DESK_E_RANGE, "%s = %lld (key at offset %llu) is out of range (at most 2^30)", key,
                         (long long)c->max, (unsigned long long)kv->offset);
    return DESK_OK;
}

/* "<arch>.SUFFIX" as a number: DEF when absent; refused when it is not a
 * number, not finite, or (POSITIVE) not > 0. */
static desk_status read_real(const desk_gguf *g, const char *arch, const char *suffix, float def, bool positive,
                             float *out, desk_err *err) {
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    desk_status s = desk_gguf_get_f32(g, key, out, err);
    if (s == DESK_E_NOTFOUND) {
        *out = def;
        return DESK_OK;
    }
    if (s) return s;
    if (!isfinite(*out) || (positive && !(*out > 0)))
        return desk_errf(err, DESK_E_FORMAT, "%s = %g must be a finite number%s", key, *out, positive ? " > 0" : "");
    return DESK_OK;
}

static desk_status read_counts(const desk_gguf *g, const char *a, desk_hparams *hp, desk_err *err) {
    count layer, embd, ff, head, head_kv, klen, vlen, rot, ctx, swa, expert, used, ff_exp, vocab;
    desk_status s;
    if ((s = read_count(g, a, "block_count", true, &layer, err)) ||
        (s = read_count(g, a, "embedding_length", true, &embd, err)) ||
        (s = read_count(g, a, "feed_forward_length", false, &ff, err)) ||
        (s = read_count(g, a, "attention.head_count", true, &head, err)) ||
        (s = read_count(g, a, "attention.head_count_kv", true, &head_kv, err)) ||
        (s = read_count(g, a, "attention.key_length", true, &klen, err)) ||
        (s = read_count(g, a, "attention.value_length", true, &vlen, err)) ||
        (s = read_count(g, a, "rope.dimension_count", false, &rot, err)) ||
        (s = read_count(g, a, "context_length", true, &ctx, err)) ||
        (s = read_count(g, a, "attention.sliding_window", false, &swa, err)) ||
        (s = read_count(g, a, "expert_count", false, &expert, err)) ||
        (s = read_count(g, a, "expert_used_count", false, &used, err)) ||
        (s = read_count(g, a, "expert_feed_forward_length", false, &ff_exp, err)) ||
        (s = read_count(g, a, "vocab_size", false, &vocab, err)))
        return s;
    if (ctx.max > DESK_HPARAMS_MAX_CTX)
        return desk_errf(err, DESK_E_FORMAT, "%s.context_length = %lld is past the limit of %lld", a,
                         (long long)ctx.max, (long long)DESK_HPARAMS_MAX_CTX);
    hp->n_layer = (int32_t)layer.max;
    hp->n_embd = (int32_t)embd.max;
    hp->n_ff = (int32_t)ff.max;
    hp->n_head = (int32_t)head.max;
    hp->n_ctx_train = (int32_t)ctx.max;
    hp->n_swa = (int32_t)swa.max;
    hp->n_expert = (int32_t)expert.max;
    hp->n_expert_used = (int32_t)used.max;
    hp->n_ff_exp = (int32_t)ff_exp.max;
    hp->n_vocab = (int32_t)vocab.max;
    hp->per_layer = head.array || head_kv.array || ff.array || ff_exp.array;
    hp->n_head_kv = head_kv.present ? (int32_t)head_kv.max : hp->n_head;
    /* Without a per-layer array every layer has the same heads (a scalar
     * head_count_kv, or head_count standing in for it). */
    hp->n_head_kv_sum = head_kv.array ? head_kv.sum : (int64_t)hp->n_layer * hp->n_head_kv;
    if (hp->n_head > 0 && hp->n_head_kv > 0 && (hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv != 0))
        return desk_errf(err, DESK_E_FORMAT, "%s.attention.head_count_kv = %d must divide head_count = %d", a,
                         hp->n_head_kv, hp->n_head);
    if (hp->n_head > 0 && !klen.present && hp->n_embd % hp->n_head != 0)
        return desk_errf(err, DESK_E_FORMAT, "%s.embedding_length = %d is not a multiple of head_count = %d", a,
                         hp->n_embd, hp->n_head);
    const int32_t head_dim = hp->n_head > 0 ? hp->n_embd / hp->n_head : 0;
    hp->head_dim_k = klen.present ? (int32_t)klen.max : head_dim;
    hp->head_dim_v = vlen.present ? (int32_t)vlen.max : head_dim;
    hp->n_rot = rot.present ? (int32_t)rot.max : hp->head_dim_k;
    if (!hp->n_vocab) {
        desk_gguf_vtype t;
        uint64_t n = 0;
        if (desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &t, &n, NULL, NULL) == DESK_OK && n <= (uint64_t)COUNT_MAX)
            hp->n_vocab = (int32_t)n;
    }
    return DESK_OK;
}

static desk_status read_reals(const desk_gguf *g, const char *a, desk_hparams *hp, desk_err *err) {
    float factor = 1.0f, unused = 0.0f;
    desk_status s;
    /* layer_norm_epsilon and rope.freq_scale are checked, not kept: desk's
     * architectures use the RMS epsilon and rope.scaling.factor. */
    if ((s = read_real(g, a, "attention.layer_norm_rms_epsilon", 0.0f, true, &hp->eps, err)) ||
        (s = read_real(g, a, "attention.layer_norm_epsilon", 0.0f, true, &unused, err)) ||
        (s = read_real(g, a, "rope.freq_base", 10000.0f, true, &hp->rope_base, err)) ||
        (s = read_real(g, a, "rope.freq_base_swa", 10000.0f, true, &hp->rope_base_swa, err)) ||
        (s = read_real(g, a, "rope.freq_scale", 1.0f, true, &unused, err)) ||
        (s = read_real(g, a, "rope.scaling.factor", 1.0f, true, &factor, err)) ||
        (s = read_real(g, a, "final_logit_softcapping", 0.0f, false, &hp->softcap, err)) ||
        (s = read_real(g, a, "attn_logit_softcapping", 0.0f, false, &hp->attn_softcap, err)))
        return s;
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    const char *stype = NULL;
    hp->rope_scale = desk_gguf_get_str(g, key, &stype, NULL) == DESK_OK && strcmp(stype, "linear") == 0
                         ? 1.0f / factor
                         : 1.0f;
    return DESK_OK;
}

desk_status desk_hparams_read(const desk_gguf *g, desk_hparams *hp, desk_err *err) {
    memset(hp, 0, sizeof *hp);
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, "general.architecture");
    if (!kv) return DESK_OK;
    const char *arch = NULL;
    desk_status s = desk_gguf_get_str(g, "general.architecture", &arch, err);
    if (s) return s;
    desk_hparams h = {.arch = arch};
    if ((s = read_counts(g, arch, &h, err)) || (s = read_reals(g, arch, &h, err))) return s;
    *hp = h;
    return DESK_OK;
}
