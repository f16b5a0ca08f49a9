/*
 * synth.c - random-weight llama models (see synth.h).  Shapes are the
 * published configurations of the models named.
 */
#include "convert/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

#define WEIGHT_STD 0.02f
#define MAX_TENSORS_PER_LAYER 12
#define NAME_LEN 64

static const desk_synth_shape SHAPES[] = {
    {"tiny", "2 layers x 256, for tests", 2, 256, 4, 2, 768, 2048, 10000.0f, true, NULL, 0, 0, NULL, 0, 0},
    {"llama-1b", "Llama 3.2 1B", 16, 2048, 32, 8, 8192, 131072, 500000.0f, true, NULL, 0, 0, NULL, 0, 0},
    {"llama-3b", "Llama 3.2 3B", 28, 3072, 24, 8, 8192, 131072, 500000.0f, true, NULL, 0, 0, NULL, 0, 0},
    {"llama-8b", "Llama 3.1 8B", 32, 4096, 32, 8, 14336, 131072, 500000.0f, false, NULL, 0, 0, NULL, 0, 0},
    {"qwen2-0.5b", "Qwen2.5 0.5B", 24, 896, 14, 2, 4864, 32768, 1000000.0f, true, "qwen2", 0, 0, NULL, 0, 0},
    {"qwen2-7b", "Qwen2.5 7B", 28, 3584, 28, 4, 18944, 32768, 1000000.0f, false, "qwen2", 0, 0, NULL, 0, 0},
    /* Not a published model: Mixtral's layout at about 2B parameters
     * (0.6B active), to measure the expert path at a size that fits. */
    {"moe-2b", "8 experts, 2 per token, ~2B total", 16, 2048, 16, 4, 2048, 32768, 1000000.0f, false, "mixtral", 8, 2, NULL, 0, 0},
    /* Qwen3: heads of 128 at every size (0.6B's 16 x 128 is wider than its 1024) */
    {"qwen3-0.6b", "Qwen3 0.6B", 28, 1024, 16, 8, 3072, 40960, 1000000.0f, true, "qwen3", 0, 0, NULL, 128, 0},
    {"qwen3-8b", "Qwen3 8B", 36, 4096, 32, 8, 12288, 40960, 1000000.0f, false, "qwen3", 0, 0, NULL, 128, 0},
    {"qwen3-30b-a3b", "Qwen3 30B-A3B", 48, 2048, 32, 4, 6144, 40960, 1000000.0f, false, "qwen3moe", 128, 8, NULL, 128, 768},
    {"gemma2-2b", "Gemma 2 2B", 26, 2304, 8, 4, 9216, 8192, 10000.0f, true, "gemma2", 0, 0, NULL, 256, 0},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

const desk_synth_shape *desk_synth_shape_find(const char *name) {
    for (size_t i = 0; name && i < N_SHAPES; i++)
        if (strcmp(name, SHAPES[i].name) == 0) return &SHAPES[i];
    return NULL;
}

const char *desk_synth_shape_list(void) {
    return "tiny, llama-1b, llama-3b, llama-8b, qwen2-0.5b, qwen2-7b, moe-2b, qwen3-0.6b, qwen3-8b, qwen3-30b-a3b, "
           "gemma2-2b";
}

static const char *const ARCHS[] = {"llama", "qwen2", "mixtral", "qwen3", "qwen3moe", "gemma2"};

const char *desk_synth_arch_list(void) { return "llama, qwen2, mixtral, qwen3, qwen3moe, gemma2"; }

bool desk_synth_arch_known(const char *arch) {
    for (size_t i = 0; arch && i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(arch, ARCHS[i]) == 0) return true;
    return false;
}

static const char *arch_of(const desk_synth_shape *s) { return s->arch ? s->arch : "llama"; }

/* Mixtral is the llama architecture with experts: that is what its files say. */
static bool is_mixtral(const desk_synth_shape *s) { return strcmp(arch_of(s), "mixtral") == 0; }
static bool is_qwen3(const desk_synth_shape *s) {
    return strcmp(arch_of(s), "qwen3") == 0 || strcmp(arch_of(s), "qwen3moe") == 0;
}
static bool is_gemma2(const desk_synth_shape *s) { return strcmp(arch_of(s), "gemma2") == 0; }
/* Gemma 2's window: 4096, or a 64th of the context where that is smaller
 * (the tiny shape's 32, which the tests' longer prompts cross). */
static uint32_t n_swa(const desk_synth_shape *s) { return s->n_ctx / 64 < 4096 ? s->n_ctx / 64 : 4096; }
static bool is_moe(const desk_synth_shape *s) { return is_mixtral(s) || strcmp(arch_of(s), "qwen3moe") == 0; }
static const char *file_arch(const desk_synth_shape *s) { return is_mixtral(s) ? "llama" : arch_of(s); }

/* Experts and experts per token: the shape's, or Mixtral's 8 and 2, or
 * for qwen3moe 32 and 4 (more than 16, so the router's softmax takes
 * ggml's vector exp as Qwen3's 128 do). */
static uint32_t n_expert(const desk_synth_shape *s) { return s->n_expert ? s->n_expert : is_mixtral(s) ? 8 : 32; }
static uint32_t n_expert_used(const desk_synth_shape *s) {
    return s->n_expert_used ? s->n_expert_used : is_mixtral(s) ? 2 : 4;
}
/* Head size: the shape's, Qwen3's 128, or the width over the heads. */
static uint32_t head_dim(const desk_synth_shape *s) {
    return s->head_dim ? s->head_dim : is_qwen3(s) ? 128 : s->n_embd / s->n_head;
}
/* One expert's width: mixtral's experts are the dense width, qwen3moe's
 * the shape's n_ff_exp or a quarter of it. */
static uint32_t n_ff_exp(const desk_synth_shape *s) {
    return is_mixtral(s) ? s->n_ff : s->n_ff_exp ? s->n_ff_exp : s->n_ff / 4;
}

uint64_t desk_synth_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct stensor {
    char name[NAME_LEN];
    uint32_t n_dims;
    int64_t ne[3]; /* ne[2]: experts of a stacked tensor, else 1 */
    bool norm;
} stensor;

/* Rows of T: a stacked tensor's experts' rows one after another. */
static int64_t n_rows(const stensor *t) { return t->ne[1] * t->ne[2]; }

typedef struct gen_job {
    const stensor *t;
    uint32_t type;
    uint64_t seed;
    unsigned char *dst;
    size_t row_bytes;
    float *scratch; /* nth * ne0 floats */
} gen_job;

/* Rows of tensor T: row r's values come from a stream seeded by (seed,
 * tensor name, r), so threads may split rows any way. */
static void gen_task(void *ctx, int ith, int nth) {
    gen_job *j = ctx;
    int64_t ne0 = j->t->ne[0], nrows = n_rows(j->t);
    int64_t per = (nrows + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per < nrows ? r0 + per : nrows;
    float *f = j->scratch + (size_t)ith * (size_t)ne0;
    const desk_type_info *ti = desk_type_get(j->type);
    uint64_t h = j->seed;
    for (const char *c = j->t->name; *c; c++) h = desk_synth_mix(h ^ (unsigned char)*c);
    for (int64_t r = r0; r < r1; r++) {
        if (j->t->norm) {
            for (int64_t k = 0; k < ne0; k++) f[k] = 1.0f;
        } else {
            uint64_t s = desk_synth_mix(h + (uint64_t)r);
            for (int64_t k = 0; k < ne0; k += 2) {
                /* Box-Muller: two normals from two uniforms in (0, 1] */
                s = desk_synth_mix(s);
                float u1 = (float)((s >> 40) + 1) * (1.0f / 16777216.0f);
                float u2 = (float)(s & 0xffffff) * (1.0f / 16777216.0f);
                float rad = sqrtf(-2.0f * logf(u1)) * WEIGHT_STD, th = 6.2831853f * u2;
                f[k] = rad * cosf(th);
                if (k + 1 < ne0) f[k + 1] = rad * sinf(th);
            }
        }
        ti->quant(f, j->dst + (size_t)r * j->row_bytes, ne0);
    }
}

/* The tensor list of a model of shape S (qwen2: with q, k, v biases, drawn
 * like the weights; qwen3, qwen3moe: per-head norms attn_q_norm and
 * attn_k_norm; gemma2: post_attention_norm and post_ffw_norm, the output
 * tied; mixtral, qwen3moe: a router ffn_gate_inp, F32 as llama.cpp's
 * converter writes it, and the experts stacked in ffn_*_exps in place of
 * ffn_gate, ffn_up, ffn_down). */
static int64_t list_tensors(const desk_synth_shape *s, uint32_t n_vocab, stensor *t) {
    int64_t n = 0;
    const int64_t hd = head_dim(s), e = s->n_embd, kv = hd * s->n_head_kv, qd = hd * s->n_head;
    t[n++] = (stensor){"token_embd.weight", 2, {e, n_vocab, 1}, false};
    t[n++] = (stensor){"output_norm.weight", 1, {e, 1, 1}, true};
    if (!s->tied && !is_gemma2(s)) t[n++] = (stensor){"output.weight", 2, {e, n_vocab, 1}, false}; /* gemma2: always tied */
    static const struct {
        const char *name;
        int rows; /* 0 embd, 1 kv width, 2 ffn, 3 q width, 4 head; ne0 from `cols` alike */
        int cols;
        bool norm;
    } L[13] = {
        {"attn_norm", 0, 0, true},    {"attn_q", 3, 0, false},  {"attn_k", 1, 0, false},
        {"attn_v", 1, 0, false},      {"attn_output", 0, 3, false}, {"ffn_norm", 0, 0, true},
        {"ffn_gate", 2, 0, false},    {"ffn_up", 2, 0, false},  {"ffn_down", 0, 2, false},
        {"attn_q_norm", 0, 4, true},  {"attn_k_norm", 0, 4, true},
        {"post_attention_norm", 0, 0, true}, {"post_ffw_norm", 0, 0, true},
    };
    int64_t dim[5] = {e, kv, is_moe(s) ? n_ff_exp(s) : s->n_ff, qd, hd};
    const bool bias = strcmp(arch_of(s), "qwen2") == 0;
    for (uint32_t l = 0; l < s->n_layer; l++) {
        for (int k = 0; k < 13; k++) {
            if ((k == 9 || k == 10) && !is_qwen3(s)) continue;
            if (k >= 11 && !is_gemma2(s)) continue;
            stensor *x = &t[n++];
            snprintf(x->name, sizeof x->name, "blk.%u.%s.weight", l, L[k].name);
            x->norm = L[k].norm;
            x->n_dims = L[k].norm ? 1 : 2;
            x->ne[0] = dim[L[k].cols];
            x->ne[1] = L[k].norm ? 1 : dim[L[k].rows];
            x->ne[2] = 1;
            if (is_moe(s) && k >= 6 && k <= 8) { /* the experts, stacked */
                snprintf(x->name, sizeof x->name, "blk.%u.%s_exps.weight", l, L[k].name);
                x->n_dims = 3;
                x->ne[2] = n_expert(s);
            }
        }
        if (is_moe(s)) {
            stensor *x = &t[n++];
            *x = (stensor){.n_dims = 2, .ne = {e, n_expert(s), 1}, .norm = false};
            snprintf(x->name, sizeof x->name, "blk.%u.ffn_gate_inp.weight", l);
        }
        for (int k = 1; bias && k <= 3; k++) {
            stensor *x = &t[n++];
            snprintf(x->name, sizeof x->name, "blk.%u.%s.bias", l, L[k].name);
            x->norm = false;
            x->n_dims = 1;
            x->ne[0] = dim[L[k].rows];
            x->ne[1] = 1;
            x->ne[2] = 1;
        }
    }
    return n;
}

static desk_status set_meta(desk_gguf_writer *w, const desk_synth_shape *s, const desk_gguf *vocab,
                            uint32_t n_vocab, const desk_qrecipe *r, desk_err *err) {
    char name[128];
    snprintf(name, sizeof name, "desk synth %s (%s shape, random weights)", s->name, s->what);
    const char *a = file_arch(s);
    desk_status st;
    if ((st = desk_gguf_writer_set_str(w, "general.architecture", a, err)) != DESK_OK ||
        (st = desk_gguf_writer_set_str(w, "general.name", name, err)) != DESK_OK ||
        (st = desk_gguf_writer_set_u32(w, "general.file_type", r->ftype, err)) != DESK_OK ||
        (st = desk_gguf_writer_set_u32(w, "general.quantization_version", 2, err)) != DESK_OK)
        return st;
    const struct {
        const char *key;
        uint32_t u;
        float f;
    } K[] = {
        {"block_count", s->n_layer, 0},          {"context_length", s->n_ctx, 0},
        {"embedding_length", s->n_embd, 0},      {"feed_forward_length", s->n_ff, 0},
        {"attention.head_count", s->n_head, 0},  {"attention.head_count_kv", s->n_head_kv, 0},
        {"rope.freq_base", 0, s->rope_base},     {"attention.layer_norm_rms_epsilon", 0, strcmp(a, "llama") == 0 ? 1e-5f : 1e-6f},
        {"rope.dimension_count", head_dim(s), 0}, {"vocab_size", n_vocab, 0},
        /* qwen3's heads are not the width over the heads: its files say so */
        {is_qwen3(s) ? "attention.key_length" : NULL, head_dim(s), 0},
        {is_qwen3(s) ? "attention.value_length" : NULL, head_dim(s), 0},
        {is_moe(s) ? "expert_count" : NULL, n_expert(s), 0},
        {is_moe(s) ? "expert_used_count" : NULL, n_expert_used(s), 0},
        {is_moe(s) && !is_mixtral(s) ? "expert_feed_forward_length" : NULL, n_ff_exp(s), 0},
        {is_gemma2(s) ? "attention.sliding_window" : NULL, n_swa(s), 0},
        /* Gemma 2's caps, 50 and 30; under 1024 wide (tiny) 0.2 and 2, so
         * the small scores and logits of random weights reach tanh's bend
         * and a test sees the caps. */
        {is_gemma2(s) ? "attn_logit_softcapping" : NULL, 0, s->n_embd < 1024 ? 0.2f : 50.0f},
        {is_gemma2(s) ? "final_logit_softcapping" : NULL, 0, s->n_embd < 1024 ? 2.0f : 30.0f},
    };
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        if (!K[k].key) continue;
        char key[96];
        snprintf(key, sizeof key, "%s.%s", a, K[k].key);
        st = K[k].f != 0 ? desk_gguf_writer_set_f32(w, key, K[k].f, err) : desk_gguf_writer_set_u32(w, key, K[k].u, err);
        if (st != DESK_OK) return st;
    }
    for (int64_t i = 0; i < desk_gguf_n_kv(vocab); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(vocab, i);
        if (s->chat_template && strcmp(kv->key.s, "tokenizer.chat_template") == 0) continue;
        if (strncmp(kv->key.s, "tokenizer.", 10) == 0 &&
            (st = desk_gguf_writer_set(w, kv->key.s, &kv->value, err)) != DESK_OK)
            return st;
    }
    if (s->chat_template) return desk_gguf_writer_set_str(w, "tokenizer.chat_template", s->chat_template, err);
    return DESK_OK;
}

typedef struct sstate {
    desk_gguf *vocab;
    desk_gguf_writer *w;
    desk_threadpool *tp;
    stensor *t;
    desk_convert_set c;
    float *scratch;
} sstate;

static void sstate_free(sstate *s) {
    desk_convert_set_free(&s->c);
    free(s->t);
    free(s->scratch);
    desk_gguf_writer_free(s->w);
    desk_threadpool_free(s->tp);
    if (s->vocab) desk_gguf_close(s->vocab);
}

static desk_status generate(sstate *s, uint64_t seed, const desk_convert_opts *o, desk_err *err) {
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < s->c.n; i++) total += (uint64_t)(s->t[i].ne[0] * n_rows(&s->t[i]));
    for (int64_t k = 0; k < s->c.n; k++) {
        int64_t i = s->c.order[k];
        const stensor *t = &s->t[i];
        size_t row = desk_type_row_size(s->c.types[i], t->ne[0]);
        size_t bytes = row * (size_t)n_rows(t);
        if (!(s->c.bufs[i] = malloc(bytes)))
            return desk_errf(err, DESK_E_NOMEM, "no memory for tensor %s (%zu bytes)", t->name, bytes);
        gen_job j = {t, s->c.types[i], seed, s->c.bufs[i], row, s->scratch};
        desk_threadpool_run(s->tp, gen_task, &j);
        desk_status st = desk_gguf_writer_add_tensor(s->w, t->name, s->c.types[i], t->n_dims, t->ne, s->c.bufs[i], err);
        if (st != DESK_OK) return st;
        done += (uint64_t)(t->ne[0] * n_rows(t));
        if (o->progress) o->progress(o->progress_user, done, total, t->name);
    }
    return DESK_OK;
}

desk_status desk_synth_file(const desk_synth_shape *shape, const char *vocab, const char *out,
                            const desk_qrecipe *r, uint64_t seed, const desk_convert_opts *o, desk_err *err) {
    sstate s = {0};
    if (!r) r = desk_qrecipe_find("F16");
    desk_status st = desk_gguf_open(vocab, &s.vocab, err);
    if (st != DESK_OK) return st;
    desk_gguf_vtype vt;
    uint64_t n_vocab = 0;
    const void *tokens;
    if (desk_gguf_get_arr(s.vocab, "tokenizer.ggml.tokens", &vt, &n_vocab, &tokens, err) != DESK_OK ||
        vt != DESK_GGUF_STRING || n_vocab == 0 || n_vocab > (1u << 24)) {
        st = desk_errf(err, DESK_E_FORMAT, "%s: no tokenizer.ggml.tokens array of strings to take the vocabulary from",
                       vocab);
        goto done;
    }
    size_t cap = 3 + (size_t)shape->n_layer * MAX_TENSORS_PER_LAYER;
    if ((st = desk_convert_set_alloc(&s.c, (int64_t)cap, err)) != DESK_OK) goto done;
    if (!(s.t = calloc(cap, sizeof *s.t))) {
        st = desk_errf(err, DESK_E_NOMEM, "no memory for the tensor list");
        goto done;
    }
    s.c.n = list_tensors(shape, (uint32_t)n_vocab, s.t);
    int64_t max_ne0 = 0;
    for (int64_t i = 0; i < s.c.n; i++) {
        s.c.qt[i] = (desk_qtensor){s.t[i].name, s.t[i].n_dims, s.t[i].ne[0], DESK_TYPE_F32};
        if (s.t[i].ne[0] > max_ne0) max_ne0 = s.t[i].ne[0];
    }
    if ((st = desk_qrecipe_plan(r, s.c.qt, s.c.n, s.c.types, s.c.order, err)) != DESK_OK) goto done;
    if ((st = desk_threadpool_new(o->n_threads, &s.tp, err)) != DESK_OK) goto done;
    if (!(s.scratch = malloc((size_t)o->n_threads * (size_t)max_ne0 * sizeof(float)))) {
        st = desk_errf(err, DESK_E_NOMEM, "no memory for row buffers");
        goto done;
    }
    if ((st = desk_gguf_writer_new(&s.w, err)) != DESK_OK) goto done;
    if ((st = set_meta(s.w, shape, s.vocab, (uint32_t)n_vocab, r, err)) != DESK_OK) goto done;
    if ((st = generate(&s, seed, o, err)) != DESK_OK) goto done;
    st = desk_gguf_writer_write(s.w, out, err);
done:
    sstate_free(&s);
    return st;
}
