/*
 * forward.c - the forward pass and the context that holds its state.
 *
 * One layer is a short sequence of operations, the same for every
 * architecture desk runs, with the differences switched by hyperparameters:
 *
 *   x  = embed(ids) * embd_scale
 *   per layer:  h = rmsnorm(x) * attn_norm
 *               q, k, v = h Wq, h Wk, h Wv      (qwen2: + biases; gemma3: q, k per-head rmsnorm)
 *               q, k = rope(q, k)               (llama: adjacent pairs; gemma3, qwen2: halves)
 *               a = attention(q * attn_scale, K cache, V cache)   (F16 or Q8_0 cache)
 *               o = a Wo                        (gemma3: rmsnorm(o) * post_attn_norm)
 *               x = x + o
 *               h = rmsnorm(x) * ffn_norm
 *               f = act(h Wgate) * (h Wup) Wdown   (llama: SiLU; gemma3: GELU-tanh)
 *                                               (gemma3: rmsnorm(f) * post_ffn_norm)
 *               x = x + f
 *   logits = rmsnorm(x) * out_norm Wout        (softcap if set)
 *
 * The numerics are llama.cpp's CPU backend's (x86, AVX-512 build), bit for
 * bit: activations quantized to the weight type's 8-bit format for every
 * matmul and summed in its order (src/kernels), the operations of ops.c
 * (norms, RoPE, activations, flash attention over the F16 or Q8_0 cache;
 * new K and V rows are stored as llama.cpp stores them: F16 rounding, or
 * its activation quantizer quantize_row_q8_0).  What
 * differs is listed in tests/data/model/README.md.  The reference path
 * (desk_ctx_params.reference) skips the activation quantization: weights
 * are dequantized row by row and dotted in plain floats.
 *
 * desk_ctx_set_trace observes the tensors named in the calls to trace()
 * below (as llama.cpp names its own: attn_norm, q, k, v, q_rope, k_rope,
 * kqv_out, attn_out, ffn_inp, ffn_norm, ffn_gate, ffn_up, ffn_act, ffn_out,
 * l_out, result_norm).
 *
 * LoRA adapters attached to the context (desk_ctx_params.loras) add
 * s * B (A h) to the output of each matrix they adapt, right after its
 * product (lora_add), as llama.cpp's llm_build_lora_mm does.
 *
 * Memory: every buffer is allocated in desk_ctx_new; desk_decode allocates
 * nothing.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/adapter.h"
#include "model/model_internal.h"
#include "tensor/types.h"

/* ---- context ------------------------------------------------------- */

const char *desk_cache_type_name(desk_cache_type t) { return t == DESK_CACHE_Q8_0 ? "q8_0" : "f16"; }

desk_status desk_cache_type_parse(const char *s, desk_cache_type *out, desk_err *err) {
    if (s && strcmp(s, "f16") == 0) *out = DESK_CACHE_F16;
    else if (s && strcmp(s, "q8_0") == 0) *out = DESK_CACHE_Q8_0;
    else return desk_errf(err, DESK_E_ARG, "cache type '%.40s' is not f16 or q8_0", s ? s : "(null)");
    return DESK_OK;
}

/* The desk_type of a cache type, or DESK_TYPE_COUNT for none. */
static uint32_t cache_dtype(desk_cache_type t) {
    return t == DESK_CACHE_F16 ? DESK_TYPE_F16 : t == DESK_CACHE_Q8_0 ? DESK_TYPE_Q8_0 : DESK_TYPE_COUNT;
}

static void *ctx_alloc(desk_ctx *c, size_t n, size_t elem, bool *ok) {
    if (n && elem > SIZE_MAX / n) {
        *ok = false;
        return NULL;
    }
    void *p = desk_arena_alloc(&c->arena, n * elem, 64);
    if (!p) *ok = false;
    return p;
}

/* The kernel table named ISA, or the process's choice for NULL. */
static desk_status kernels_for(const char *isa, const desk_kernel_table **out, desk_err *err) {
    if (!isa) {
        desk_status s = desk_kernels_init(err);
        if (s) return s;
        isa = desk_kernels_isa();
    }
    for (int i = 0; i < DESK_ISA_COUNT; i++) {
        const desk_kernel_table *kt = desk_kernels_get((desk_isa)i);
        if (kt && strcmp(kt->name, isa) == 0) {
            *out = kt;
            return DESK_OK;
        }
    }
    return desk_errf(err, DESK_E_UNSUPPORTED, "instruction set '%.40s' is unknown or this CPU cannot run it", isa);
}

/* The adapters P attaches: each loaded for M, with a finite scale; the
 * largest rank into *MAX_RANK (the scratch's width). */
static desk_status check_loras(const desk_model *m, const desk_ctx_params *p, int *max_rank, desk_err *err) {
    if (p->n_loras < 0 || p->n_loras > DESK_CTX_MAX_LORAS || (p->n_loras > 0 && !p->loras))
        return desk_errf(err, DESK_E_ARG, "n_loras %d: need 0..%d adapters and their array", p->n_loras,
                         DESK_CTX_MAX_LORAS);
    for (int i = 0; i < p->n_loras; i++) {
        const desk_lora *l = p->loras[i].lora;
        if (!l || l->m != m)
            return desk_errf(err, DESK_E_ARG, "adapter %d was %s", i, l ? "loaded for another model" : "not given");
        if (!isfinite(p->loras[i].scale))
            return desk_errf(err, DESK_E_ARG, "adapter %d: scale %g is not finite", i, (double)p->loras[i].scale);
        if (l->max_rank > *max_rank) *max_rank = l->max_rank;
    }
    return DESK_OK;
}

desk_status desk_ctx_new(desk_model *m, const desk_ctx_params *p, desk_ctx **out, desk_err *err) {
    *out = NULL;
    desk_ctx_params def = {0};
    if (!p) p = &def;
    const desk_hparams *hp = &m->hp;
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int n_batch = p->n_batch > 0 ? p->n_batch : 512;
    int n_threads = p->n_threads > 0 ? p->n_threads : desk_physical_cores();
    int n_seq = p->n_seq_max > 0 ? p->n_seq_max : 1;
    if (p->n_ctx < 0 || p->n_batch < 0 || p->n_threads < 0 || p->n_seq_max < 0)
        return desk_errf(err, DESK_E_ARG, "context sizes, sequence and thread counts must not be negative");
    if (n_ctx > (1 << 24)) return desk_errf(err, DESK_E_RANGE, "context of %d tokens is too large", n_ctx);
    if (n_seq > 4096) return desk_errf(err, DESK_E_RANGE, "n_seq_max %d is more than 4096 sequences", n_seq);
    if ((int64_t)n_ctx * n_seq > (1 << 24))
        return desk_errf(err, DESK_E_RANGE, "%d sequences of %d tokens are too large a cache", n_seq, n_ctx);
    if (n_batch > n_ctx) n_batch = n_ctx;
    const uint32_t tk = cache_dtype(p->type_k), tv = cache_dtype(p->type_v);
    if (tk == DESK_TYPE_COUNT || tv == DESK_TYPE_COUNT)
        return desk_errf(err, DESK_E_ARG, "unknown KV cache type %d", tk == DESK_TYPE_COUNT ? (int)p->type_k : (int)p->type_v);
    if ((tk == DESK_TYPE_Q8_0 && hp->head_dim_k % 32) || (tv == DESK_TYPE_Q8_0 && hp->head_dim_v % 32))
        return desk_errf(err, DESK_E_UNSUPPORTED, "a Q8_0 KV cache needs head sizes that are multiples of 32 (K %d, V %d)",
                         hp->head_dim_k, hp->head_dim_v);
    const desk_kernel_table *kt = NULL;
    desk_status s = kernels_for(p->isa, &kt, err);
    if (s) return s;
    int max_rank = 0;
    if ((s = check_loras(m, p, &max_rank, err))) return s;
    desk_ctx *c = calloc(1, sizeof *c);
    if (!c) return desk_errf(err, DESK_E_NOMEM, "out of memory creating a context");
    desk_arena_init(&c->arena, 1 << 20);
    c->m = m;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->n_seq = n_seq;
    c->n_out_max = p->logits_all ? n_batch : (n_seq < n_batch ? n_seq : n_batch);
    c->logits_all = p->logits_all;
    c->embeddings = p->embeddings;
    c->reference = p->reference;
    c->deterministic = p->deterministic;
    c->kt = kt;
    c->type_k = tk;
    c->type_v = tv;
    c->k_head = desk_type_row_size(tk, hp->head_dim_k);
    c->v_head = desk_type_row_size(tv, hp->head_dim_v);
    c->k_row = c->k_head * (size_t)hp->n_head_kv;
    /* llama.cpp rotates a quantized K when heads are a multiple of 64, by
     * the largest power of two dividing the head; a quantized V by 64. */
    if (tk != DESK_TYPE_F16 && hp->head_dim_k % 64 == 0)
        for (c->rot_k = 64; hp->head_dim_k % (2 * c->rot_k) == 0;) c->rot_k *= 2;
    if (tv != DESK_TYPE_F16 && hp->head_dim_v % 64 == 0) c->rot_v = 64;
    c->v_row = c->v_head * (size_t)hp->n_head_kv;
    s = desk_threadpool_new(n_threads, &c->tp, err);
    if (s) {
        desk_ctx_free(c);
        return s;
    }
    size_t kvk = (size_t)hp->n_head_kv * hp->head_dim_k, kvv = (size_t)hp->n_head_kv * hp->head_dim_v;
    size_t qd = (size_t)hp->n_head * hp->head_dim_k, ad = (size_t)hp->n_head * hp->head_dim_v;
    size_t nb = (size_t)n_batch, L = (size_t)hp->n_layer;
    size_t widest = (size_t)hp->n_embd;
    if ((size_t)hp->n_ff > widest) widest = (size_t)hp->n_ff;
    if (qd > widest) widest = qd;
    if (ad > widest) widest = ad;
    bool ok = true;
    const size_t cells = L * (size_t)n_seq * (size_t)n_ctx;
    c->k_cache = ctx_alloc(c, cells, c->k_row, &ok);
    c->v_cache = ctx_alloc(c, cells, c->v_row, &ok);
    c->seq_len = ctx_alloc(c, (size_t)n_seq, sizeof(int32_t), &ok);
    c->seq_next = ctx_alloc(c, (size_t)n_seq, sizeof(int32_t), &ok);
    c->b_pos = ctx_alloc(c, nb, sizeof(int32_t), &ok);
    c->b_seq = ctx_alloc(c, nb, sizeof(int32_t), &ok);
    c->b_out = ctx_alloc(c, nb, sizeof(int32_t), &ok);
    c->chunk0 = ctx_alloc(c, nb + 1, sizeof(int32_t), &ok);
    if (p->embeddings) c->embd = ctx_alloc(c, nb * hp->n_embd, sizeof(float), &ok);
    c->x = ctx_alloc(c, nb * hp->n_embd, sizeof(float), &ok);
    c->xb = ctx_alloc(c, nb * hp->n_embd, sizeof(float), &ok);
    c->xo = ctx_alloc(c, nb * hp->n_embd, sizeof(float), &ok);
    c->q = ctx_alloc(c, nb * qd, sizeof(float), &ok);
    c->k = ctx_alloc(c, nb * kvk, sizeof(float), &ok);
    c->v = ctx_alloc(c, nb * kvv, sizeof(float), &ok);
    c->att = ctx_alloc(c, nb * ad, sizeof(float), &ok);
    c->ffa = ctx_alloc(c, nb * hp->n_ff, sizeof(float), &ok);
    c->ffb = ctx_alloc(c, nb * hp->n_ff, sizeof(float), &ok);
    c->scores = ctx_alloc(c, (size_t)n_threads * ((size_t)n_ctx + hp->head_dim_k + hp->head_dim_v), sizeof(float), &ok);
    c->ref_row = ctx_alloc(c, (size_t)n_threads * widest, sizeof(float), &ok);
    c->logits = ctx_alloc(c, (size_t)c->n_out_max * (size_t)hp->n_vocab, sizeof(float), &ok);
    /* The largest matmul scratch over every weight and batch size. */
    size_t scratch = 0;
    const desk_mat *mats[] = {&m->output};
    for (size_t i = 0; i < 1; i++) {
        size_t sz = desk_matmul_scratch_size(mats[i], n_batch);
        if (sz > scratch) scratch = sz;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        const desk_layer *Ly = &m->layers[il];
        const desk_mat *lm[] = {&Ly->wq,     &Ly->wk,       &Ly->wv,     &Ly->wo,      &Ly->w_gate,
                                &Ly->w_up,   &Ly->w_down,   &Ly->exp_gate, &Ly->exp_up, &Ly->exp_down};
        for (size_t i = 0; i < sizeof lm / sizeof lm[0]; i++) {
            if (lm[i]->rows == 0) continue; /* the dense or the expert matrices a layer does not have */
            size_t sz = desk_matmul_scratch_size(lm[i], n_batch);
            if (sz > scratch) scratch = sz;
        }
    }
    c->scratch = ctx_alloc(c, scratch, 1, &ok);
    if (hp->n_expert > 0 && ok) ok = desk_moe_alloc(c);
    if (p->n_loras > 0) {
        c->loras = ctx_alloc(c, (size_t)p->n_loras, sizeof *c->loras, &ok);
        c->lora_t = ctx_alloc(c, nb * (size_t)max_rank, sizeof(float), &ok);
        if (ok) memcpy(c->loras, p->loras, (size_t)p->n_loras * sizeof *c->loras);
        c->n_loras = p->n_loras;
    }
    if (!ok) {
        desk_ctx_free(c);
        return desk_errf(err, DESK_E_NOMEM, "out of memory for a context of %d x %d tokens", n_seq, n_ctx);
    }
    memset(c->seq_len, 0, (size_t)n_seq * sizeof(int32_t));
    *out = c;
    return DESK_OK;
}

void desk_ctx_free(desk_ctx *c) {
    if (!c) return;
    desk_threadpool_free(c->tp);
    desk_arena_free(&c->arena);
    free(c);
}

int desk_ctx_n_ctx(const desk_ctx *c) { return c->n_ctx; }
int desk_ctx_n_seq(const desk_ctx *c) { return c->n_seq; }
int32_t desk_model_n_embd(const desk_model *m) { return m->hp.n_embd; }

uint64_t desk_ctx_kv_bytes(const desk_ctx *c) {
    return (uint64_t)c->m->hp.n_layer * (uint64_t)c->n_seq * (uint64_t)c->n_ctx * (uint64_t)(c->k_row + c->v_row);
}
int desk_ctx_pos(const desk_ctx *c) { return c->seq_len[0]; }

void desk_ctx_truncate(desk_ctx *c, int n_keep) {
    if (n_keep < 0) n_keep = 0;
    if (n_keep < c->seq_len[0]) c->seq_len[0] = n_keep;
}

/* ---- the KV cache, per sequence -------------------------------------- */

int desk_kv_seq_len(const desk_ctx *c, int seq) { return seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : -1; }

desk_status desk_kv_seq_rm(desk_ctx *c, int seq, int p0, desk_err *err) {
    if (seq < -1 || seq >= c->n_seq)
        return desk_errf(err, DESK_E_ARG, "sequence id %d is outside [0, %d)", seq, c->n_seq);
    if (p0 < 0) return desk_errf(err, DESK_E_ARG, "position %d is negative", p0);
    for (int s = seq < 0 ? 0 : seq; s < (seq < 0 ? c->n_seq : seq + 1); s++)
        if (c->seq_len[s] > p0) c->seq_len[s] = p0;
    return DESK_OK;
}

/* Where sequence SEQ's position POS of layer IL lives in a cache of ROW-byte rows. */
static size_t cell(const desk_ctx *c, int il, int seq, int pos, size_t row) {
    return (((size_t)il * (size_t)c->n_seq + (size_t)seq) * (size_t)c->n_ctx + (size_t)pos) * row;
}

desk_status desk_kv_seq_cp(desk_ctx *c, int src, int dst, int n, desk_err *err) {
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq)
        return desk_errf(err, DESK_E_ARG, "sequence ids %d -> %d: each must be in [0, %d)", src, dst, c->n_seq);
    if (n < 0 || n > c->seq_len[src])
        return desk_errf(err, DESK_E_RANGE, "cannot copy %d positions: sequence %d holds %d", n, src, c->seq_len[src]);
    if (src != dst)
        for (int il = 0; il < c->m->hp.n_layer; il++) {
            memcpy(c->k_cache + cell(c, il, dst, 0, c->k_row), c->k_cache + cell(c, il, src, 0, c->k_row),
                   (size_t)n * c->k_row);
            memcpy(c->v_cache + cell(c, il, dst, 0, c->v_row), c->v_cache + cell(c, il, src, 0, c->v_row),
                   (size_t)n * c->v_row);
        }
    c->seq_len[dst] = n;
    return DESK_OK;
}

/* ---- decoding ------------------------------------------------------------ */

/* Rows of one attention run: the vector tiled kernel takes this many
 * positions' query heads of one KV head together (DESK_ATTN_GROUP rows). */
/* Whether a batch of N rows takes the tiled attention: llama.cpp tiles
 * only F16 (or F32) caches with K and V of one type, from a batch size on;
 * a Q8_0 cache takes the per-row path at every batch size. */
static bool attn_tiled(const desk_ctx *c, int n) {
    /* Batch-invariant mode: the tiled path at every batch size (its tiles
     * start at fixed cache positions, so a row's sums do not depend on
     * the batch; the per-row path costs a third more time at pp512). */
    return (c->deterministic || n >= DESK_ATTN_TILED_MIN) && c->m->hp.head_dim_v % 16 == 0 && c->type_k == DESK_TYPE_F16 &&
           c->type_v == DESK_TYPE_F16;
}

static int attn_run_len(const desk_ctx *c, int n) {
    const desk_hparams *hp = &c->m->hp;
    const int group = hp->n_head / hp->n_head_kv;
    const bool vec_tiled = attn_tiled(c, n) && c->kt && c->kt->attn_tiled;
    return vec_tiled && group <= DESK_ATTN_GROUP ? DESK_ATTN_GROUP / group : 1;
}

desk_status desk_decode_batch(desk_ctx *c, const desk_batch *b, desk_err *err) {
    if (!b || !b->token) return desk_errf(err, DESK_E_ARG, "decode needs a batch with tokens");
    const int n = b->n_tokens;
    if (n < 1) return desk_errf(err, DESK_E_ARG, "decode needs at least one token (n_tokens %d)", n);
    if (n > c->n_batch)
        return desk_errf(err, DESK_E_RANGE, "batch of %d tokens exceeds the batch size %d", n, c->n_batch);
    memcpy(c->seq_next, c->seq_len, (size_t)c->n_seq * sizeof(int32_t));
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        const desk_token id = b->token[i];
        if (id < 0 || id >= c->m->hp.n_vocab)
            return desk_errf(err, DESK_E_RANGE, "token id %d (at %d) is out of range [0, %d)", id, i, c->m->hp.n_vocab);
        const int s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= c->n_seq)
            return desk_errf(err, DESK_E_ARG, "row %d: sequence id %d is outside [0, %d)", i, s, c->n_seq);
        if (b->pos && b->pos[i] != c->seq_next[s])
            return desk_errf(err, DESK_E_ARG, "row %d: position %d does not continue sequence %d (next is %d)", i,
                             b->pos[i], s, c->seq_next[s]);
        if (c->seq_next[s] >= c->n_ctx)
            return desk_errf(err, DESK_E_RANGE, "context full: sequence %d would pass %d tokens (row %d)", s,
                             c->n_ctx, i);
        const bool out = b->logits ? b->logits[i] != 0 : (c->logits_all || i == n - 1);
        if (out && n_out == c->n_out_max)
            return desk_errf(err, DESK_E_RANGE, "row %d: more than %d rows ask for logits (the context keeps %d%s)", i,
                             c->n_out_max, c->n_out_max, c->logits_all ? "" : "; logits_all keeps a whole batch");
        c->b_seq[i] = s;
        c->b_pos[i] = c->seq_next[s]++;
        c->b_out[i] = out ? n_out++ : -1;
    }
    /* Attention runs: consecutive rows of one sequence, up to a run. */
    const int run = attn_run_len(c, n);
    c->n_chunks = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || c->b_seq[i] != c->b_seq[i - 1] || i - c->chunk0[c->n_chunks - 1] >= run)
            c->chunk0[c->n_chunks++] = i;
    c->chunk0[c->n_chunks] = n;
    c->n_rows = 0;
    c->n_logits = 0;
    desk_status st = desk_forward(c, b->token, n, n_out, err);
    if (st) return st;
    memcpy(c->seq_len, c->seq_next, (size_t)c->n_seq * sizeof(int32_t));
    c->n_rows = n;
    c->n_logits = n_out;
    return DESK_OK;
}

desk_status desk_decode(desk_ctx *c, const desk_token *ids, int n, desk_err *err) {
    desk_batch b = {.n_tokens = n, .token = ids};
    return desk_decode_batch(c, &b, err);
}

const float *desk_ctx_logits(const desk_ctx *c, int i) {
    if (c->n_logits < 1) return NULL;
    if (i == -1) return c->logits + (size_t)(c->n_logits - 1) * c->m->hp.n_vocab;
    if (i < 0 || i >= c->n_rows || c->b_out[i] < 0) return NULL;
    return c->logits + (size_t)c->b_out[i] * c->m->hp.n_vocab;
}

const float *desk_ctx_embeddings(const desk_ctx *c, int i) {
    if (!c->embd || i < 0 || i >= c->n_rows) return NULL;
    return c->embd + (size_t)i * c->m->hp.n_embd;
}

void desk_ctx_set_deterministic(desk_ctx *c, bool on) { c->deterministic = on; }
bool desk_ctx_deterministic(const desk_ctx *c) { return c->deterministic; }

void desk_ctx_set_trace(desk_ctx *c, desk_trace_fn fn, void *user) {
    c->trace = fn;
    c->trace_user = user;
}

static void trace(const desk_ctx *c, const char *name, int layer, const float *data, int rows, size_t cols) {
    if (c->trace) c->trace(c->trace_user, name, layer, data, rows, (int)cols);
}

/* ---- operations ----------------------------------------------------- */

/* ---- matmul: fast kernels, or the plain reference ------------------- */

typedef struct ref_job {
    desk_ctx *c;
    const desk_mat *w;
    const float *x;
    int n;
    float *y;
    size_t stride;
} ref_job;

static void ref_task(void *p, int ith, int nth) {
    ref_job *j = p;
    float *row = j->c->ref_row + (size_t)ith * j->stride;
    for (int64_t r = ith; r < j->w->rows; r += nth) {
        desk_dequantize_row(j->w->type, (const unsigned char *)j->w->data + (size_t)r * j->w->row_bytes, row,
                            j->w->cols, NULL);
        for (int i = 0; i < j->n; i++) {
            const float *xi = j->x + (size_t)i * j->w->cols;
            float s = 0.0f;
            for (int64_t k = 0; k < j->w->cols; k++) s += row[k] * xi[k];
            j->y[(size_t)i * j->w->rows + r] = s;
        }
    }
}

/* Batch-invariant mode: every row's products summed as for a row alone. */
static unsigned mm_flags(const desk_ctx *c) { return c->deterministic ? DESK_MM_ROW_ORDER : 0u; }

static desk_status matmul(desk_ctx *c, const desk_mat *w, const float *x, int n, float *y, desk_err *err) {
    if (!c->reference) return desk_matmul_many_ex(c->kt, c->tp, &w, &y, 1, x, n, c->scratch, mm_flags(c), err);
    const desk_hparams *hp = &c->m->hp;
    size_t widest = (size_t)hp->n_embd;
    size_t cand[] = {(size_t)hp->n_ff, (size_t)hp->n_head * hp->head_dim_k, (size_t)hp->n_head * hp->head_dim_v};
    for (int i = 0; i < 3; i++)
        if (cand[i] > widest) widest = cand[i];
    ref_job j = {c, w, x, n, y, widest};
    desk_threadpool_run(c->tp, ref_task, &j);
    return DESK_OK;
}

/* Y[i] = W[i] X for K matrices of X's width: one pool job where their
 * types allow (desk_matmul_many_with). */
static desk_status matmuls(desk_ctx *c, const desk_mat *const *w, float *const *y, int k, const float *x, int n,
                           desk_err *err) {
    if (!c->reference) return desk_matmul_many_ex(c->kt, c->tp, w, y, k, x, n, c->scratch, mm_flags(c), err);
    for (int i = 0; i < k; i++) {
        desk_status s = matmul(c, w[i], x, n, y[i], err);
        if (s) return s;
    }
    return DESK_OK;
}

desk_status desk_ctx_matmul(desk_ctx *c, const desk_mat *w, const float *x, int n, float *y, desk_err *err) {
    return matmul(c, w, x, n, y, err);
}

desk_status desk_ctx_matmuls(desk_ctx *c, const desk_mat *const *w, float *const *y, int k, const float *x, int n,
                             desk_err *err) {
    return matmuls(c, w, y, k, x, n, err);
}

void desk_ctx_trace(const desk_ctx *c, const char *name, int layer, const float *data, int rows, size_t cols) {
    trace(c, name, layer, data, rows, cols);
}

/* ---- LoRA: Y += s * B (A X) for each attached adapter ------------------ */

/* The products sum as llama.cpp's CPU backend sums an F32 x F32 ggml_mul_mat
 * on x86 with AVX-512 (c392e509), so an adapter's output matches its bit
 * for bit where the base model's does:
 *  - with 2 or more input rows, K a multiple of 16 and M (the product's
 *    output rows) a multiple of 4, llamafile's tinyBLAS: 16 lanes, each a
 *    chain of fused multiply-adds over every 16th term, then the lanes
 *    added as _mm512_reduce_add_ps adds them (halves: 8, 4, 2, 1);
 *  - otherwise ggml_vec_dot_f32: 64 terms at a time into 4 x 16 lanes,
 *    the 4 vectors added pairwise, the lanes reduced as above, then the
 *    terms past the last multiple of 64 chained with fused multiply-adds
 *    (gcc contracts `sumf += x[i]*y[i]` in that gnu11 build). */
static float lanes_reduce(float *v) {
    for (int w = 8; w >= 1; w /= 2)
        for (int q = 0; q < w; q++) v[q] = v[q + w] + v[q];
    return v[0];
}

float desk_dot_ll(const float *a, const float *x, int64_t k, bool tiled) {
    float acc[4][16] = {{0}};
    if (tiled) {
        for (int64_t l = 0; l < k; l += 16)
            for (int q = 0; q < 16; q++) acc[0][q] = fmaf(a[l + q], x[l + q], acc[0][q]);
        return lanes_reduce(acc[0]);
    }
    const int64_t np = k & ~(int64_t)63;
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < 16; q++) acc[j][q] = fmaf(x[i + j * 16 + q], a[i + j * 16 + q], acc[j][q]);
    for (int q = 0; q < 16; q++) {
        acc[0][q] = acc[0][q] + acc[2][q];
        acc[1][q] = acc[1][q] + acc[3][q];
    }
    for (int q = 0; q < 16; q++) acc[0][q] = acc[0][q] + acc[1][q];
    float s = lanes_reduce(acc[0]);
    for (int64_t i = np; i < k; i++) s = fmaf(x[i], a[i], s);
    return s;
}

/* Whether llama.cpp takes tinyBLAS for an M x K product of N rows. */
bool desk_ll_tiled(int64_t m, int64_t k, int n) { return n >= 2 && k % 16 == 0 && m % 4 == 0; }

typedef struct lora_job {
    const desk_lora_pair *p;
    const float *x;
    float *t, *y;
    int n;
    bool tiled_a, tiled_b; /* the summation orders of the two products */
    float scale;
} lora_job;

/* T[i] = A X[i]: one (row, rank) dot product per unit. */
static void lora_down_task(void *arg, int ith, int nth) {
    const lora_job *j = arg;
    const int64_t rank = j->p->rank, n_in = j->p->n_in;
    for (int64_t u = ith; u < (int64_t)j->n * rank; u += nth)
        j->t[u] = desk_dot_ll(j->p->a + (u % rank) * n_in, j->x + (u / rank) * n_in, n_in, j->tiled_a);
}

/* Y[i][o] += scale * (B[o] . T[i]): threads split the outputs.  The scale
 * multiplies the product before the add, as ggml_scale then ggml_add do
 * (two statements, so no compiler fuses them). */
static void lora_up_task(void *arg, int ith, int nth) {
    const lora_job *j = arg;
    const int64_t rank = j->p->rank, n_out = j->p->n_out;
    const int64_t o0 = n_out * ith / nth, o1 = n_out * (ith + 1) / nth;
    for (int i = 0; i < j->n; i++) {
        const float *t = j->t + (int64_t)i * rank;
        float *y = j->y + (int64_t)i * n_out;
        for (int64_t o = o0; o < o1; o++) {
            const float d = j->scale * desk_dot_ll(j->p->b + o * rank, t, rank, j->tiled_b);
            y[o] = y[o] + d;
        }
    }
}

/* Adds every attached adapter's term to Y (N rows), the output of matrix
 * KIND of layer IL (IL -1: output.weight) for input X, in attach order.
 * N_LL is the row count llama.cpp multiplies there (it picks the
 * summation order): N, except where its graph has cut the batch to the
 * rows that keep logits (the last layer's feed-forward, the output). */
static void lora_add(desk_ctx *c, int il, int kind, const float *x, int n, int n_ll, float *y) {
    for (int i = 0; i < c->n_loras; i++) {
        const desk_lora *l = c->loras[i].lora;
        const desk_lora_pair *p = l->slot[desk_lora_slot(l, il, kind)];
        if (!p) continue;
        /* llama.cpp's llama_adapter_lora_weight::get_scale */
        const float scale = l->alpha != 0.0f ? c->loras[i].scale * l->alpha / (float)p->rank : c->loras[i].scale;
        lora_job j = {.p = p, .x = x, .t = c->lora_t, .y = y, .n = n, .scale = scale,
                      .tiled_a = desk_ll_tiled(p->rank, p->n_in, c->deterministic ? 1 : n_ll),
                      .tiled_b = desk_ll_tiled(p->n_out, p->rank, c->deterministic ? 1 : n_ll)};
        desk_threadpool_run(c->tp, lora_down_task, &j);
        desk_threadpool_run(c->tp, lora_up_task, &j);
    }
}

/* ---- attention -------------------------------------------------------- */

typedef struct attn_job {
    desk_ctx *c;
    int il, n;
    bool swa;
    const desk_kernel_table *kt; /* vector versions of the ops, or NULL */
} attn_job;

static void attn_task(void *p, int ith, int nth) {
    attn_job *j = p;
    desk_ctx *c = j->c;
    const desk_hparams *hp = &c->m->hp;
    const int hk = hp->head_dim_k, hv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    float *acc = c->scores + (size_t)ith * ((size_t)c->n_ctx + hk + hv);
    /* Gemma scales q before attention (ops on q), llama scales q.k. */
    float kq_scale = DESK_ARCH_IS_GEMMA(c->m->arch) ? 1.0f : hp->attn_scale;
    /* Soft-capped scores: ggml divides the scale by the cap, then caps. */
    if (hp->attn_softcap != 0.0f) kq_scale /= hp->attn_softcap;
    const bool tiled = attn_tiled(c, j->n);
    /* Units of a run of positions (c->chunk0: one sequence's rows, as many
     * as fill DESK_ATTN_GROUP query rows) and one KV head: its query heads
     * share K and V, which the vector tiled kernel reads once for all of
     * the run's rows. */
    const bool vec_tiled = tiled && j->kt && j->kt->attn_tiled;
    const int units = c->n_chunks * hp->n_head_kv;
    for (int t = ith; t < units; t += nth) {
        const int i0 = c->chunk0[t / hp->n_head_kv], i1 = c->chunk0[t / hp->n_head_kv + 1], g = t % hp->n_head_kv;
        const int seq = c->b_seq[i0];
        const unsigned char *K = c->k_cache + cell(c, j->il, seq, 0, c->k_row);
        const unsigned char *V = c->v_cache + cell(c, j->il, seq, 0, c->v_row);
        for (int h0 = g * group; h0 < (g + 1) * group; h0 += DESK_ATTN_GROUP) {
            const int nh = (g + 1) * group - h0 < DESK_ATTN_GROUP ? (g + 1) * group - h0 : DESK_ATTN_GROUP;
            desk_attn_row r[DESK_ATTN_GROUP];
            float *out[DESK_ATTN_GROUP];
            int nr = 0;
            for (int i = i0; i < i1; i++) {
                const int pos = c->b_pos[i];
                int lo = 0;
                if (j->swa && hp->n_swa > 0 && pos - hp->n_swa + 1 > 0) lo = pos - hp->n_swa + 1;
                for (int e = 0; e < nh; e++, nr++) {
                    r[nr] = (desk_attn_row){.q = c->q + (size_t)i * hp->n_head * hk + (size_t)(h0 + e) * hk,
                                            .k = K + (size_t)g * c->k_head,
                                            .v = V + (size_t)g * c->v_head,
                                            .k_stride = c->k_row,
                                            .v_stride = c->v_row,
                                            .k_type = c->type_k,
                                            .v_type = c->type_v,
                                            .head_k = hk,
                                            .head_v = hv,
                                            .lo = lo,
                                            .hi = pos,
                                            .scale = kq_scale,
                                            .softcap = hp->attn_softcap};
                    out[nr] = c->att + (size_t)i * hp->n_head * hv + (size_t)(h0 + e) * hv;
                }
            }
            /* The kernel table's vector versions when they take this shape. */
            if (vec_tiled && j->kt->attn_tiled(r, nr, out)) continue;
            for (int e = 0; e < nr; e++) {
                if (tiled)
                    desk_op_attn_tiled(&r[e], out[e], acc);
                else if (!(j->kt && j->kt->attn_vec && j->kt->attn_vec(&r[e], out[e], acc)))
                    desk_op_attn_vec(&r[e], out[e], acc);
            }
        }
    }
}

/* ---- the pass --------------------------------------------------------- */

/* Each block of R values of X (N values) through the Hadamard rotation. */
static void rotate(float *x, size_t n, int r) {
    for (size_t i = 0; i < n; i += (size_t)r) desk_op_fwht(x + i, r);
}

/* One position's K or V row (N floats) into the cache as llama.cpp's
 * set_rows stores it: F16 rounding, or Q8_0 blocks from its activation
 * quantizer (the kernel table's, the same bytes as the reference). */
static desk_status store_row(desk_ctx *c, uint32_t type, const float *src, unsigned char *dst, size_t n,
                             desk_err *err) {
    if (type == DESK_TYPE_Q8_0) return desk_kernels_quantize_acts(c->kt, DESK_TYPE_Q8_0, src, dst, (int64_t)n, err);
    desk_f16 *h = (desk_f16 *)(void *)dst;
    for (size_t d = 0; d < n; d++) h[d] = desk_f32_to_f16(src[d]);
    return DESK_OK;
}

/* ---- per-row steps ---------------------------------------------------- */

/* The steps between the products, one position (row) at a time: each row's
 * arithmetic is the same whoever runs it, so a batch splits its rows over
 * the pool and a single token runs them here (a pool round trip costs
 * more than the work of one row). */
typedef enum row_step {
    ROW_ATTN_IN, /* attn_norm */
    ROW_QK,      /* q/k norms, RoPE, the Hadamard rotation, K and V into the cache */
    ROW_FFN_IN,  /* post-attention norm, residual, ffn_norm */
    ROW_GLU,     /* act(gate) * up */
    ROW_OUT,     /* post-FFN norm, residual */
} row_step;

typedef struct rows_job {
    desk_ctx *c;
    const desk_layer *L;
    int il, n;
    row_step step;
    atomic_int failed; /* the first failing row's thread writes st and err */
    desk_status st;
    desk_err *err;
} rows_job;

/* Batches of this many rows or more split their per-row steps over the pool. */
#define ROWS_PAR_MIN 8

/* X += B (N values), as llama.cpp adds a bias after the product; B NULL: none. */
static void add_bias(float *x, const float *b, size_t n) {
    if (b)
        for (size_t d = 0; d < n; d++) x[d] += b[d];
}

static desk_status row_qk(desk_ctx *c, const desk_layer *L, int il, int i, desk_err *err) {
    const desk_model *m = c->m;
    const desk_hparams *hp = &m->hp;
    const int hk = hp->head_dim_k;
    const size_t qd = (size_t)hp->n_head * hk, kvk = (size_t)hp->n_head_kv * hk,
                 kvv = (size_t)hp->n_head_kv * hp->head_dim_v;
    const int pos = c->b_pos[i], seq = c->b_seq[i];
    add_bias(c->q + (size_t)i * qd, L->bq, qd);
    add_bias(c->k + (size_t)i * kvk, L->bk, kvk);
    add_bias(c->v + (size_t)i * kvv, L->bv, kvv);
    for (int h = 0; h < hp->n_head; h++) {
        float *q = c->q + (size_t)i * qd + (size_t)h * hk;
        if (L->q_norm) desk_op_rmsnorm(q, q, L->q_norm, hk, hp->eps);
        desk_op_rope(q, hp->n_rot, pos, L->rope_base, hp->rope_scale, hp->rope_neox, m->rope_freqs);
        if (DESK_ARCH_IS_GEMMA(m->arch))
            for (int d = 0; d < hk; d++) q[d] *= hp->attn_scale;
    }
    for (int h = 0; h < hp->n_head_kv; h++) {
        float *k = c->k + (size_t)i * kvk + (size_t)h * hk;
        if (L->k_norm) desk_op_rmsnorm(k, k, L->k_norm, hk, hp->eps);
        desk_op_rope(k, hp->n_rot, pos, L->rope_base, hp->rope_scale, hp->rope_neox, m->rope_freqs);
    }
    if (c->rot_k) {
        rotate(c->q + (size_t)i * qd, qd, c->rot_k);
        rotate(c->k + (size_t)i * kvk, kvk, c->rot_k);
    }
    if (c->rot_v) rotate(c->v + (size_t)i * kvv, kvv, c->rot_v);
    desk_status s = store_row(c, c->type_k, c->k + (size_t)i * kvk, c->k_cache + cell(c, il, seq, pos, c->k_row), kvk, err);
    if (!s) s = store_row(c, c->type_v, c->v + (size_t)i * kvv, c->v_cache + cell(c, il, seq, pos, c->v_row), kvv, err);
    return s;
}

static desk_status row_step_run(desk_ctx *c, const desk_layer *L, int il, row_step step, int i, desk_err *err) {
    const desk_model *m = c->m;
    const desk_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff;
    float *xi = c->x + (size_t)i * E, *o = c->xo + (size_t)i * E, *xb = c->xb + (size_t)i * E;
    const desk_kernel_table *kt = c->kt;
    switch (step) {
    case ROW_ATTN_IN: desk_op_rmsnorm(xb, xi, L->attn_norm, E, hp->eps); break;
    case ROW_QK: return row_qk(c, L, il, i, err);
    case ROW_FFN_IN:
        if (L->post_attn_norm) desk_op_rmsnorm(o, o, L->post_attn_norm, E, hp->eps);
        for (int d = 0; d < E; d++) xi[d] += o[d];
        desk_op_rmsnorm(xb, xi, L->ffn_norm, E, hp->eps);
        break;
    case ROW_GLU: {
        float *g = c->ffa + (size_t)i * F, *u = c->ffb + (size_t)i * F;
        if (DESK_ARCH_IS_GEMMA(m->arch))
            (kt && kt->geglu ? kt->geglu : desk_op_geglu)(g, g, u, (size_t)F);
        else
            (kt && kt->swiglu ? kt->swiglu : desk_op_swiglu)(g, g, u, (size_t)F);
        break;
    }
    case ROW_OUT:
        if (L->post_ffn_norm) desk_op_rmsnorm(o, o, L->post_ffn_norm, E, hp->eps);
        for (int d = 0; d < E; d++) xi[d] += o[d];
        break;
    }
    return DESK_OK;
}

static void rows_task(void *p, int ith, int nth) {
    rows_job *j = p;
    const int i0 = (int)((int64_t)j->n * ith / nth), i1 = (int)((int64_t)j->n * (ith + 1) / nth);
    desk_err mine = {0};
    for (int i = i0; i < i1; i++) {
        const desk_status s = row_step_run(j->c, j->L, j->il, j->step, i, &mine);
        if (s == DESK_OK) continue;
        int expect = 0;
        if (atomic_compare_exchange_strong(&j->failed, &expect, 1)) {
            j->st = s;
            if (j->err) *j->err = mine;
        }
        return;
    }
}

/* STEP over the N rows of layer IL. */
static desk_status rows(desk_ctx *c, const desk_layer *L, int il, row_step step, int n, desk_err *err) {
    rows_job j = {.c = c, .L = L, .il = il, .n = n, .step = step, .err = err};
    atomic_init(&j.failed, 0);
    if (n >= ROWS_PAR_MIN)
        desk_threadpool_run(c->tp, rows_task, &j);
    else
        rows_task(&j, 0, 1);
    return atomic_load(&j.failed) ? j.st : DESK_OK;
}

desk_status desk_forward(desk_ctx *c, const desk_token *ids, int n, int n_out, desk_err *err) {
    const desk_model *m = c->m;
    const desk_hparams *hp = &m->hp;
    int E = hp->n_embd, hk = hp->head_dim_k, hv = hp->head_dim_v, F = hp->n_ff;
    size_t qd = (size_t)hp->n_head * hk, kvk = (size_t)hp->n_head_kv * hk, kvv = (size_t)hp->n_head_kv * hv;
    desk_status s;
    const desk_kernel_table *kt = c->kt; /* vector ops (the context's table) */
    for (int i = 0; i < n; i++) {
        float *xi = c->x + (size_t)i * E;
        if ((s = desk_get_row(&m->tok_embd, ids[i], xi, err))) return s;
        if (hp->embd_scale != 1.0f)
            for (int d = 0; d < E; d++) xi[d] *= hp->embd_scale;
    }
    trace(c, "inp_embd", -1, c->x, n, E);
    for (int il = 0; il < hp->n_layer; il++) {
        const desk_layer *L = &m->layers[il];
        if ((s = rows(c, L, il, ROW_ATTN_IN, n, err))) return s;
        trace(c, "attn_norm", il, c->xb, n, E);
        const desk_mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *const qkv_out[3] = {c->q, c->k, c->v};
        if ((s = matmuls(c, qkv, qkv_out, 3, c->xb, n, err))) return s;
        for (int k = 0; k < 3; k++) lora_add(c, il, DESK_LORA_Q + k, c->xb, n, n, qkv_out[k]);
        trace(c, "q", il, c->q, n, qd);
        trace(c, "k", il, c->k, n, kvk);
        trace(c, "v", il, c->v, n, kvv);
        if ((s = rows(c, L, il, ROW_QK, n, err))) return s;
        trace(c, "q_rope", il, c->q, n, qd);
        trace(c, "k_rope", il, c->k, n, kvk);
        attn_job aj = {c, il, n, L->swa, kt};
        desk_threadpool_run(c->tp, attn_task, &aj);
        trace(c, "kqv_out", il, c->att, n, (size_t)hp->n_head * hv);
        if (c->rot_v) rotate(c->att, (size_t)n * hp->n_head * hv, c->rot_v);
        if ((s = matmul(c, &L->wo, c->att, n, c->xo, err))) return s;
        lora_add(c, il, DESK_LORA_O, c->att, n, n, c->xo);
        trace(c, "attn_out", il, c->xo, n, E);
        if ((s = rows(c, L, il, ROW_FFN_IN, n, err))) return s;
        trace(c, "ffn_inp", il, c->x, n, E);
        trace(c, "ffn_norm", il, c->xb, n, E);
        if (L->gate_inp) {
            /* llama.cpp's last layer routes the output rows only: its
             * router product's order depends on their count. */
            if ((s = desk_moe_ffn(c, L, il, n, il == hp->n_layer - 1 ? n_out : n, err))) return s;
            trace(c, "ffn_moe_out", il, c->xo, n, E);
            if ((s = rows(c, L, il, ROW_OUT, n, err))) return s;
            trace(c, "l_out", il, c->x, n, E);
            continue;
        }
        const desk_mat *gate_up[2] = {&L->w_gate, &L->w_up};
        float *const gate_up_out[2] = {c->ffa, c->ffb};
        if ((s = matmuls(c, gate_up, gate_up_out, 2, c->xb, n, err))) return s;
        /* llama.cpp's last layer runs its feed-forward on the output rows only. */
        const int n_ff_ll = il == hp->n_layer - 1 ? n_out : n;
        lora_add(c, il, DESK_LORA_GATE, c->xb, n, n_ff_ll, c->ffa);
        lora_add(c, il, DESK_LORA_UP, c->xb, n, n_ff_ll, c->ffb);
        trace(c, "ffn_gate", il, c->ffa, n, F);
        trace(c, "ffn_up", il, c->ffb, n, F);
        if ((s = rows(c, L, il, ROW_GLU, n, err))) return s;
        trace(c, "ffn_act", il, c->ffa, n, F);
        if ((s = matmul(c, &L->w_down, c->ffa, n, c->xo, err))) return s;
        lora_add(c, il, DESK_LORA_DOWN, c->ffa, n, n_ff_ll, c->xo);
        trace(c, "ffn_out", il, c->xo, n, E);
        if ((s = rows(c, L, il, ROW_OUT, n, err))) return s;
        trace(c, "l_out", il, c->x, n, E);
    }
    /* The rows that keep logits, in order, into xb (and, with embeddings,
     * every row's final norm). */
    if (c->embd) {
        for (int i = 0; i < n; i++) desk_op_rmsnorm(c->embd + (size_t)i * E, c->x + (size_t)i * E, m->out_norm, E, hp->eps);
    }
    for (int i = 0; i < n; i++)
        if (c->b_out[i] >= 0)
            desk_op_rmsnorm(c->xb + (size_t)c->b_out[i] * E, c->x + (size_t)i * E, m->out_norm, E, hp->eps);
    trace(c, "result_norm", -1, c->xb, n_out, E);
    if (n_out == 0) return DESK_OK;
    if ((s = matmul(c, &m->output, c->xb, n_out, c->logits, err))) return s;
    lora_add(c, -1, 0, c->xb, n_out, n_out, c->logits);
    if (hp->softcap > 0) {
        size_t nl = (size_t)n_out * hp->n_vocab;
        /* llama.cpp: scale by 1/cap (a product, not a division), tanh, scale by cap */
        const float inv = 1.0f / hp->softcap;
        for (size_t d = 0; d < nl; d++) c->logits[d] = tanhf(c->logits[d] * inv) * hp->softcap;
    }
    return DESK_OK;
}
