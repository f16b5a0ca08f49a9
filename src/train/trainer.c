/*
 * trainer.c - LoRA training over a frozen (quantized) model: the training
 * forward, its backward with per-layer recomputation, AdamW, saving.
 *
 * One layer, as forward.c computes it (F32 throughout; the products go
 * through the same quantized kernels, desk_matmul):
 *   h  = rmsnorm(x) attn_norm;  q0, k0, v = h W + s B A h  (+ bias)
 *   qr, kr = rope(q_norm(q0)), rope(k_norm(k0))      (norms: gemma3)
 *   att = softmax(qr kr^T attn_scale, causal, window) v
 *   o  = att Wo + s B A att;  o2 = post_attn_norm(o)   (gemma3)
 *   xm = x + o2;  h2 = rmsnorm(xm) ffn_norm
 *   g, u = h2 Wgate, h2 Wup (+ LoRA);  a = act(g) u;  d = a Wdown (+ LoRA)
 *   x' = xm + post_ffn_norm(d)
 * The forward keeps only each layer's input (ckpt); the backward runs the
 * layer forward again from it, then back through it, so activations are
 * held for one layer at a time.
 *
 * Threads: products and the input gradients through the frozen matrices
 * split over the pool (kernels, grad.c); per-row steps split rows;
 * attention splits heads (KV heads in the backward, whose K and V
 * gradients are shared by the group's query heads); LoRA's backward
 * splits rows, each thread adding into its own copy of the gradients,
 * summed at the step.
 */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "desk/files.h"
#include "model/adapter.h"
#include "model/model_internal.h"
#include "train/grad.h"

#define N_KINDS DESK_LORA_KINDS
/* Rows of logits computed at once (the loss never holds n x n_vocab). */
#define LOGIT_ROWS 32
/* The widest attention head the per-row scratch takes. */
#define MAX_HEAD 512

static const char *const kind_tensor[N_KINDS] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                 "ffn_gate", "ffn_up", "ffn_down"};
static const char *const kind_short[N_KINDS] = {"q", "k", "v", "o", "gate", "up", "down"};

desk_status desk_train_targets_parse(const char *s, unsigned *out, desk_err *err) {
    unsigned bits = 0;
    const char *p = s ? s : "";
    while (*p) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        int k = -1;
        for (int i = 0; i < N_KINDS; i++)
            if (strlen(kind_short[i]) == len && strncmp(p, kind_short[i], len) == 0) k = i;
        if (len == 3 && strncmp(p, "all", 3) == 0) bits |= DESK_TRAIN_ALL;
        else if (k >= 0) bits |= 1u << k;
        else return desk_errf(err, DESK_E_ARG, "target '%.*s' is not one of q, k, v, o, gate, up, down, all", (int)len, p);
        p += len + (e ? 1 : 0);
    }
    if (!bits) return desk_errf(err, DESK_E_ARG, "no LoRA targets given");
    *out = bits;
    return DESK_OK;
}

typedef struct pair_slot {
    bool on;
    int n_in, n_out;
    size_t a, b; /* offsets of A and B in the weights */
} pair_slot;

struct desk_trainer {
    desk_model *m;
    desk_threadpool *tp;
    int nth, n_ctx, rank;
    desk_train_params p;
    float scale; /* alpha / rank */
    pair_slot *slot; /* n_layer * N_KINDS */
    size_t n_w;
    float *w, *g, *m1, *m2; /* g: nth copies of n_w */
    double tok;             /* tokens behind the accumulated gradients */
    int steps;
    /* activations of one layer (n_ctx rows each) */
    float *ckpt; /* (n_layer + 1) x n_ctx x n_embd */
    float *xn1, *q0, *k0, *v, *qr, *kr, *att, *o, *o2, *xm, *xn2, *gg, *uu, *act, *dn, *xout;
    float *lt;   /* N_KINDS x n_ctx x rank: A x of each pair */
    /* gradients */
    float *dx, *dxm, *dE, *dxn, *datt, *dq, *dk, *dv, *dg, *du, *dact;
    float *dt;   /* nth x n_ctx x rank */
    float *logits, *xnf, *dxnf; /* LOGIT_ROWS rows */
    int32_t *rows;              /* the rows that predict a target */
    float *attn_scr;            /* nth x 2 n_ctx */
    void *mm_scratch;
    float *dx_scratch;
    desk_arena arena;
};

/* ---- setup ------------------------------------------------------------- */

static const desk_mat *layer_mat(const desk_layer *L, int kind) {
    const desk_mat *m[N_KINDS] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return m[kind];
}

static float *talloc(desk_trainer *t, size_t n, bool *ok) {
    float *p = desk_arena_alloc(&t->arena, (n ? n : 1) * sizeof(float), 64);
    if (!p) *ok = false;
    else memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

desk_status desk_trainer_new(desk_model *m, const desk_train_params *pp, desk_trainer **out, desk_err *err) {
    *out = NULL;
    desk_train_params p = pp ? *pp : (desk_train_params){0};
    const desk_hparams *hp = &m->hp;
    if (m->arch != DESK_ARCH_LLAMA && m->arch != DESK_ARCH_GEMMA3)
        return desk_errf(err, DESK_E_UNSUPPORTED, "training supports llama and gemma3 models, not %s", m->arch_name);
    if (hp->per_layer || hp->n_expert > 0)
        return desk_errf(err, DESK_E_UNSUPPORTED, "training needs the same shape in every layer and no experts");
    if (hp->head_dim_k > MAX_HEAD || hp->head_dim_v > MAX_HEAD)
        return desk_errf(err, DESK_E_UNSUPPORTED, "attention heads of more than %d values", MAX_HEAD);
    if (!p.rank) p.rank = 8;
    if (!p.alpha) p.alpha = 2.0f * (float)p.rank;
    if (!p.targets) p.targets = DESK_TRAIN_ALL;
    if (!p.n_ctx) p.n_ctx = 512;
    if (!p.n_threads) p.n_threads = desk_physical_cores();
    if (p.n_threads > 64) p.n_threads = 64; /* xent_job's per-thread sums */
    if (!p.lr) p.lr = 1e-4f;
    if (p.weight_decay < 0) p.weight_decay = 0;
    if (!p.clip) p.clip = 1.0f;
    if (p.rank < 1 || p.rank > 1024 || p.n_ctx < 2 || p.n_ctx > (1 << 20) || p.n_threads < 1 || !isfinite(p.alpha) ||
        !isfinite(p.lr) || p.lr < 0 || p.warmup < 0 || p.total_steps < 0 || (p.targets & ~(unsigned)DESK_TRAIN_ALL))
        return desk_errf(err, DESK_E_ARG, "training parameters out of range (rank %d, ctx %d, threads %d, lr %g)",
                         p.rank, p.n_ctx, p.n_threads, (double)p.lr);
    desk_status s = desk_kernels_init(err);
    if (s) return s;
    desk_trainer *t = calloc(1, sizeof *t);
    if (!t) return desk_errf(err, DESK_E_NOMEM, "out of memory creating a trainer");
    desk_arena_init(&t->arena, 1 << 20);
    t->m = m;
    t->p = p;
    t->rank = p.rank;
    t->n_ctx = p.n_ctx;
    t->scale = p.alpha / (float)p.rank;
    if ((s = desk_threadpool_new(p.n_threads, &t->tp, err))) {
        desk_trainer_free(t);
        return s;
    }
    t->nth = desk_threadpool_size(t->tp);
    const int L = hp->n_layer, E = hp->n_embd, F = hp->n_ff;
    const size_t qd = (size_t)hp->n_head * hp->head_dim_k, kvk = (size_t)hp->n_head_kv * hp->head_dim_k,
                 kvv = (size_t)hp->n_head_kv * hp->head_dim_v, ad = (size_t)hp->n_head * hp->head_dim_v;
    const size_t n = (size_t)p.n_ctx, r = (size_t)p.rank;
    bool ok = true;
    t->slot = desk_arena_alloc(&t->arena, (size_t)L * N_KINDS * sizeof *t->slot, 64);
    if (!t->slot) {
        desk_trainer_free(t);
        return desk_errf(err, DESK_E_NOMEM, "out of memory creating a trainer");
    }
    size_t scratch = desk_matmul_scratch_size(&m->output, LOGIT_ROWS), dxs = desk_tr_matmul_dx_scratch(&m->output, t->nth);
    for (int il = 0; il < L; il++)
        for (int k = 0; k < N_KINDS; k++) {
            const desk_mat *w = layer_mat(&m->layers[il], k);
            pair_slot *ps = &t->slot[il * N_KINDS + k];
            *ps = (pair_slot){.on = (p.targets >> k) & 1u, .n_in = (int)w->cols, .n_out = (int)w->rows};
            const desk_type_info *ti = desk_type_get(w->type);
            if (!ti || ti->blck <= 0 || w->cols % ti->blck) {
                desk_trainer_free(t);
                return desk_errf(err, DESK_E_UNSUPPORTED, "blk.%d.%s.weight: cannot take gradients through its type", il,
                                 kind_tensor[k]);
            }
            if (desk_matmul_scratch_size(w, (int64_t)n) > scratch) scratch = desk_matmul_scratch_size(w, (int64_t)n);
            if (desk_tr_matmul_dx_scratch(w, t->nth) > dxs) dxs = desk_tr_matmul_dx_scratch(w, t->nth);
            if (!ps->on) continue;
            if (p.rank > ps->n_in || p.rank > ps->n_out) {
                desk_trainer_free(t);
                return desk_errf(err, DESK_E_ARG, "rank %d exceeds blk.%d.%s.weight's size", p.rank, il, kind_tensor[k]);
            }
            ps->a = t->n_w;
            t->n_w += r * (size_t)ps->n_in;
            ps->b = t->n_w;
            t->n_w += r * (size_t)ps->n_out;
        }
    const desk_type_info *oti = desk_type_get(m->output.type);
    if (!oti || oti->blck <= 0 || m->output.cols % oti->blck) {
        desk_trainer_free(t);
        return desk_errf(err, DESK_E_UNSUPPORTED, "output.weight: cannot take gradients through its type");
    }
    t->w = talloc(t, t->n_w, &ok);
    t->g = talloc(t, t->n_w * (size_t)t->nth, &ok);
    t->m1 = talloc(t, t->n_w, &ok);
    t->m2 = talloc(t, t->n_w, &ok);
    t->ckpt = talloc(t, (size_t)(L + 1) * n * E, &ok);
    float **bufE[] = {&t->xn1, &t->o, &t->o2, &t->xm, &t->xn2, &t->dn, &t->xout, &t->dx, &t->dxm, &t->dE, &t->dxn};
    for (size_t i = 0; i < sizeof bufE / sizeof bufE[0]; i++) *bufE[i] = talloc(t, n * E, &ok);
    float **bufF[] = {&t->gg, &t->uu, &t->act, &t->dg, &t->du, &t->dact};
    for (size_t i = 0; i < sizeof bufF / sizeof bufF[0]; i++) *bufF[i] = talloc(t, n * F, &ok);
    t->q0 = talloc(t, n * qd, &ok);
    t->qr = talloc(t, n * qd, &ok);
    t->dq = talloc(t, n * qd, &ok);
    t->k0 = talloc(t, n * kvk, &ok);
    t->kr = talloc(t, n * kvk, &ok);
    t->dk = talloc(t, n * kvk, &ok);
    t->v = talloc(t, n * kvv, &ok);
    t->dv = talloc(t, n * kvv, &ok);
    t->att = talloc(t, n * ad, &ok);
    t->datt = talloc(t, n * ad, &ok);
    t->lt = talloc(t, N_KINDS * n * r, &ok);
    t->dt = talloc(t, (size_t)t->nth * n * r, &ok);
    t->logits = talloc(t, (size_t)LOGIT_ROWS * hp->n_vocab, &ok);
    t->xnf = talloc(t, (size_t)LOGIT_ROWS * E, &ok);
    t->dxnf = talloc(t, (size_t)LOGIT_ROWS * E, &ok);
    t->rows = desk_arena_alloc(&t->arena, n * sizeof(int32_t), 64);
    t->attn_scr = talloc(t, (size_t)t->nth * 2 * n, &ok);
    t->mm_scratch = desk_arena_alloc(&t->arena, scratch ? scratch : 1, 64);
    t->dx_scratch = talloc(t, dxs, &ok);
    if (!ok || !t->rows || !t->mm_scratch) {
        desk_trainer_free(t);
        return desk_errf(err, DESK_E_NOMEM, "out of memory for training %zu LoRA weights over %d tokens", t->n_w, p.n_ctx);
    }
    /* A: uniform in +-1/sqrt(n_in) (peft's Kaiming start); B: zero, so
     * training starts from the base model exactly. */
    uint64_t seed = p.seed ^ 0x5DEECE66DULL;
    for (int i = 0; i < L * N_KINDS; i++) {
        const pair_slot *ps = &t->slot[i];
        if (!ps->on) continue;
        const float bound = 1.0f / sqrtf((float)ps->n_in);
        for (size_t j = 0; j < r * (size_t)ps->n_in; j++)
            t->w[ps->a + j] = bound * (float)((double)(splitmix(&seed) >> 11) / 4503599627370496.0 - 1.0);
    }
    *out = t;
    return DESK_OK;
}

void desk_trainer_free(desk_trainer *t) {
    if (!t) return;
    desk_threadpool_free(t->tp);
    desk_arena_free(&t->arena);
    free(t);
}

float *desk_trainer_weights(desk_trainer *t, size_t *n) {
    *n = t->n_w;
    return t->w;
}

size_t desk_trainer_offset(const desk_trainer *t, int il, int kind, bool want_b) {
    if (il < 0 || il >= t->m->hp.n_layer || kind < 0 || kind >= N_KINDS) return (size_t)-1;
    const pair_slot *ps = &t->slot[il * N_KINDS + kind];
    return ps->on ? (want_b ? ps->b : ps->a) : (size_t)-1;
}

const float *desk_trainer_grads(desk_trainer *t) {
    for (int h = 1; h < t->nth; h++) {
        float *src = t->g + (size_t)h * t->n_w;
        for (size_t i = 0; i < t->n_w; i++) {
            t->g[i] += src[i];
            src[i] = 0.0f;
        }
    }
    return t->g;
}

void desk_trainer_zero_grads(desk_trainer *t) {
    memset(t->g, 0, t->n_w * (size_t)t->nth * sizeof(float));
    t->tok = 0;
}

/* ---- parallel pieces ------------------------------------------------------ */

typedef enum row_op {
    R_ATTN_IN, R_QK, R_FFN_IN, R_GLU, R_OUT,               /* forward */
    R_B_OUT, R_B_GLU, R_B_FFN_IN, R_B_QK, R_B_ATTN_IN,     /* backward */
} row_op;

typedef struct row_job {
    desk_trainer *t;
    const desk_layer *L;
    const float *x_in;
    int n;
    row_op op;
} row_job;

static void row_run(desk_trainer *t, const desk_layer *L, const float *x_in, row_op op, int i) {
    const desk_model *m = t->m;
    const desk_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, hk = hp->head_dim_k;
    const size_t qd = (size_t)hp->n_head * hk, kvk = (size_t)hp->n_head_kv * hk;
    const size_t e = (size_t)i * E, f = (size_t)i * F;
    const bool gemma = m->arch == DESK_ARCH_GEMMA3;
    const float eps = hp->eps;
    float tmp[MAX_HEAD];
    switch (op) {
    case R_ATTN_IN: desk_tr_rmsnorm(t->xn1 + e, x_in + e, L->attn_norm, E, eps); break;
    case R_QK:
        for (int h = 0; h < hp->n_head + hp->n_head_kv; h++) {
            const bool isq = h < hp->n_head;
            const size_t off = isq ? (size_t)i * qd + (size_t)h * hk : (size_t)i * kvk + (size_t)(h - hp->n_head) * hk;
            const float *src = (isq ? t->q0 : t->k0) + off, *nw = isq ? L->q_norm : L->k_norm;
            float *dst = (isq ? t->qr : t->kr) + off;
            if (nw) desk_tr_rmsnorm(dst, src, nw, hk, eps);
            else memcpy(dst, src, (size_t)hk * sizeof *dst);
            desk_tr_rope(dst, hp->n_rot, i, L->rope_base, hp->rope_scale, hp->rope_neox, m->rope_freqs);
        }
        break;
    case R_FFN_IN:
        if (L->post_attn_norm) desk_tr_rmsnorm(t->o2 + e, t->o + e, L->post_attn_norm, E, eps);
        else memcpy(t->o2 + e, t->o + e, (size_t)E * sizeof(float));
        for (int d = 0; d < E; d++) t->xm[e + d] = x_in[e + d] + t->o2[e + d];
        desk_tr_rmsnorm(t->xn2 + e, t->xm + e, L->ffn_norm, E, eps);
        break;
    case R_GLU: (gemma ? desk_tr_geglu : desk_tr_swiglu)(t->act + f, t->gg + f, t->uu + f, (size_t)F); break;
    case R_OUT:
        if (L->post_ffn_norm) desk_tr_rmsnorm(t->xout + e, t->dn + e, L->post_ffn_norm, E, eps);
        else memcpy(t->xout + e, t->dn + e, (size_t)E * sizeof(float));
        for (int d = 0; d < E; d++) t->xout[e + d] += t->xm[e + d];
        break;
    case R_B_OUT:
        /* dx holds d x'; the residual passes it to xm, the norm to d. */
        memcpy(t->dxm + e, t->dx + e, (size_t)E * sizeof(float));
        if (L->post_ffn_norm) {
            memset(t->dE + e, 0, (size_t)E * sizeof(float));
            desk_tr_rmsnorm_bwd(t->dE + e, t->dn + e, L->post_ffn_norm, t->dx + e, E, eps);
        } else memcpy(t->dE + e, t->dx + e, (size_t)E * sizeof(float));
        break;
    case R_B_GLU:
        memset(t->dg + f, 0, (size_t)F * sizeof(float));
        memset(t->du + f, 0, (size_t)F * sizeof(float));
        (gemma ? desk_tr_geglu_bwd : desk_tr_swiglu_bwd)(t->dg + f, t->du + f, t->gg + f, t->uu + f, t->dact + f, (size_t)F);
        break;
    case R_B_FFN_IN:
        desk_tr_rmsnorm_bwd(t->dxm + e, t->xm + e, L->ffn_norm, t->dxn + e, E, eps);
        if (L->post_attn_norm) {
            memset(t->dE + e, 0, (size_t)E * sizeof(float));
            desk_tr_rmsnorm_bwd(t->dE + e, t->o + e, L->post_attn_norm, t->dxm + e, E, eps);
        } else memcpy(t->dE + e, t->dxm + e, (size_t)E * sizeof(float));
        break;
    case R_B_QK:
        for (int h = 0; h < hp->n_head + hp->n_head_kv; h++) {
            const bool isq = h < hp->n_head;
            const size_t off = isq ? (size_t)i * qd + (size_t)h * hk : (size_t)i * kvk + (size_t)(h - hp->n_head) * hk;
            float *d = (isq ? t->dq : t->dk) + off;
            const float *nw = isq ? L->q_norm : L->k_norm;
            desk_tr_rope_bwd(d, hp->n_rot, i, L->rope_base, hp->rope_scale, hp->rope_neox, m->rope_freqs);
            if (nw) {
                memset(tmp, 0, (size_t)hk * sizeof *tmp);
                desk_tr_rmsnorm_bwd(tmp, (isq ? t->q0 : t->k0) + off, nw, d, hk, eps);
                memcpy(d, tmp, (size_t)hk * sizeof *d);
            }
        }
        break;
    case R_B_ATTN_IN:
        memcpy(t->dx + e, t->dxm + e, (size_t)E * sizeof(float));
        desk_tr_rmsnorm_bwd(t->dx + e, x_in + e, L->attn_norm, t->dxn + e, E, eps);
        break;
    }
}

static void row_task(void *arg, int ith, int nth) {
    row_job *j = arg;
    for (int i = j->n * ith / nth; i < j->n * (ith + 1) / nth; i++) row_run(j->t, j->L, j->x_in, j->op, i);
}

static void rows(desk_trainer *t, const desk_layer *L, const float *x_in, row_op op, int n) {
    row_job j = {t, L, x_in, n, op};
    desk_threadpool_run(t->tp, row_task, &j);
}

typedef struct attn_job {
    desk_trainer *t;
    const desk_layer *L;
    int n;
    bool bwd;
} attn_job;

static void attn_task(void *arg, int ith, int nth) {
    attn_job *j = arg;
    desk_trainer *t = j->t;
    const desk_hparams *hp = &t->m->hp;
    const int hk = hp->head_dim_k, hv = hp->head_dim_v, group = hp->n_head / hp->n_head_kv;
    const size_t qd = (size_t)hp->n_head * hk, kvk = (size_t)hp->n_head_kv * hk, kvv = (size_t)hp->n_head_kv * hv,
                 ad = (size_t)hp->n_head * hv;
    float *scr = t->attn_scr + (size_t)ith * 2 * (size_t)t->n_ctx;
    /* The backward splits KV heads: their K and V gradients gather over the group. */
    const int units = j->bwd ? hp->n_head_kv : hp->n_head;
    for (int u = ith; u < units; u += nth)
        for (int h = j->bwd ? u * group : u; h < (j->bwd ? (u + 1) * group : u + 1); h++) {
            const int g = h / group;
            desk_tr_attn a = {.T = j->n, .head_k = hk, .head_v = hv, .window = j->L->swa ? hp->n_swa : 0,
                              .scale = hp->attn_scale, .q = t->qr + (size_t)h * hk, .k = t->kr + (size_t)g * hk,
                              .v = t->v + (size_t)g * hv, .qs = qd, .ks = kvk, .vs = kvv, .os = ad};
            if (j->bwd)
                desk_tr_attn_head_bwd(&a, t->datt + (size_t)h * hv, t->dq + (size_t)h * hk, t->dk + (size_t)g * hk,
                                      t->dv + (size_t)g * hv, scr);
            else desk_tr_attn_head(&a, t->att + (size_t)h * hv, scr);
        }
}

typedef struct lora_job {
    desk_trainer *t;
    desk_tr_lora l;
    const float *x, *dy;
    float *tt, *y, *dx;
    size_t ga, gb;
    int n;
} lora_job;

static void lora_fwd_task(void *arg, int ith, int nth) {
    lora_job *j = arg;
    const int i0 = j->n * ith / nth, i1 = j->n * (ith + 1) / nth;
    if (i1 > i0)
        desk_tr_lora_fwd(&j->l, j->x + (size_t)i0 * j->l.n_in, i1 - i0, j->tt + (size_t)i0 * j->l.rank,
                         j->y + (size_t)i0 * j->l.n_out);
}

static void lora_bwd_task(void *arg, int ith, int nth) {
    lora_job *j = arg;
    desk_trainer *t = j->t;
    const int i0 = j->n * ith / nth, i1 = j->n * (ith + 1) / nth;
    float *g = t->g + (size_t)ith * t->n_w;
    if (i1 > i0)
        desk_tr_lora_bwd(&j->l, j->x + (size_t)i0 * j->l.n_in, j->tt + (size_t)i0 * j->l.rank,
                         j->dy + (size_t)i0 * j->l.n_out, i1 - i0, g + j->ga, g + j->gb,
                         j->dx + (size_t)i0 * j->l.n_in, t->dt + (size_t)ith * (size_t)t->n_ctx * t->rank);
}

static lora_job lora_of(desk_trainer *t, int il, int kind, int n) {
    const pair_slot *ps = &t->slot[il * N_KINDS + kind];
    return (lora_job){.t = t, .l = {.n_in = ps->n_in, .n_out = ps->n_out, .rank = t->rank, .scale = t->scale,
                                    .a = t->w + ps->a, .b = t->w + ps->b},
                      .tt = t->lt + (size_t)kind * t->n_ctx * t->rank, .ga = ps->a, .gb = ps->b, .n = n};
}

/* Y = X W^T through the kernels, or plain (desk_train_params.exact). */
static desk_status mat_product(desk_trainer *t, const desk_mat *w, const float *x, int n, float *y, desk_err *err) {
    if (t->p.exact) return desk_tr_matmul_ref(t->tp, w, x, n, y, t->dx_scratch, err);
    return desk_matmul(t->tp, w, x, n, y, t->mm_scratch, err);
}

/* Y = X W^T + LoRA for matrix KIND of layer IL. */
static desk_status product(desk_trainer *t, int il, int kind, const float *x, int n, float *y, desk_err *err) {
    desk_status s = mat_product(t, layer_mat(&t->m->layers[il], kind), x, n, y, err);
    if (s || !t->slot[il * N_KINDS + kind].on) return s;
    lora_job j = lora_of(t, il, kind, n);
    j.x = x;
    j.y = y;
    desk_threadpool_run(t->tp, lora_fwd_task, &j);
    return DESK_OK;
}

/* DX += DY W (+ LoRA's part, and its A and B gradients) for matrix KIND. */
static desk_status product_bwd(desk_trainer *t, int il, int kind, const float *x, const float *dy, int n, float *dx,
                               desk_err *err) {
    desk_status s = desk_tr_matmul_dx(t->tp, layer_mat(&t->m->layers[il], kind), dy, n, dx, t->dx_scratch, err);
    if (s || !t->slot[il * N_KINDS + kind].on) return s;
    lora_job j = lora_of(t, il, kind, n);
    j.x = x;
    j.dy = dy;
    j.dx = dx;
    desk_threadpool_run(t->tp, lora_bwd_task, &j);
    return DESK_OK;
}

static void add_bias(float *y, const float *b, int n, size_t w) {
    if (!b) return;
    for (int i = 0; i < n; i++)
        for (size_t d = 0; d < w; d++) y[(size_t)i * w + d] += b[d];
}

/* ---- one layer ------------------------------------------------------------ */

/* The layer's forward from X_IN (N rows) into t->xout, keeping every activation. */
static desk_status layer_fwd(desk_trainer *t, int il, const float *x_in, int n, desk_err *err) {
    const desk_hparams *hp = &t->m->hp;
    const desk_layer *L = &t->m->layers[il];
    desk_status s;
    rows(t, L, x_in, R_ATTN_IN, n);
    if ((s = product(t, il, DESK_LORA_Q, t->xn1, n, t->q0, err)) || (s = product(t, il, DESK_LORA_K, t->xn1, n, t->k0, err)) ||
        (s = product(t, il, DESK_LORA_V, t->xn1, n, t->v, err)))
        return s;
    add_bias(t->q0, L->bq, n, (size_t)hp->n_head * hp->head_dim_k);
    add_bias(t->k0, L->bk, n, (size_t)hp->n_head_kv * hp->head_dim_k);
    add_bias(t->v, L->bv, n, (size_t)hp->n_head_kv * hp->head_dim_v);
    rows(t, L, x_in, R_QK, n);
    attn_job aj = {t, L, n, false};
    desk_threadpool_run(t->tp, attn_task, &aj);
    if ((s = product(t, il, DESK_LORA_O, t->att, n, t->o, err))) return s;
    rows(t, L, x_in, R_FFN_IN, n);
    if ((s = product(t, il, DESK_LORA_GATE, t->xn2, n, t->gg, err)) || (s = product(t, il, DESK_LORA_UP, t->xn2, n, t->uu, err)))
        return s;
    rows(t, L, x_in, R_GLU, n);
    if ((s = product(t, il, DESK_LORA_DOWN, t->act, n, t->dn, err))) return s;
    rows(t, L, x_in, R_OUT, n);
    return DESK_OK;
}

/* t->dx holds the gradient of the layer's output on entry, of X_IN on return. */
static desk_status layer_bwd(desk_trainer *t, int il, const float *x_in, int n, desk_err *err) {
    const desk_hparams *hp = &t->m->hp;
    const desk_layer *L = &t->m->layers[il];
    const int E = hp->n_embd, F = hp->n_ff;
    const size_t qd = (size_t)hp->n_head * hp->head_dim_k, kvk = (size_t)hp->n_head_kv * hp->head_dim_k,
                 kvv = (size_t)hp->n_head_kv * hp->head_dim_v, ad = (size_t)hp->n_head * hp->head_dim_v;
    desk_status s;
    rows(t, L, x_in, R_B_OUT, n);
    memset(t->dact, 0, (size_t)n * F * sizeof(float));
    if ((s = product_bwd(t, il, DESK_LORA_DOWN, t->act, t->dE, n, t->dact, err))) return s;
    rows(t, L, x_in, R_B_GLU, n);
    memset(t->dxn, 0, (size_t)n * E * sizeof(float));
    if ((s = product_bwd(t, il, DESK_LORA_GATE, t->xn2, t->dg, n, t->dxn, err)) ||
        (s = product_bwd(t, il, DESK_LORA_UP, t->xn2, t->du, n, t->dxn, err)))
        return s;
    rows(t, L, x_in, R_B_FFN_IN, n);
    memset(t->datt, 0, (size_t)n * ad * sizeof(float));
    if ((s = product_bwd(t, il, DESK_LORA_O, t->att, t->dE, n, t->datt, err))) return s;
    memset(t->dq, 0, (size_t)n * qd * sizeof(float));
    memset(t->dk, 0, (size_t)n * kvk * sizeof(float));
    memset(t->dv, 0, (size_t)n * kvv * sizeof(float));
    attn_job aj = {t, L, n, true};
    desk_threadpool_run(t->tp, attn_task, &aj);
    rows(t, L, x_in, R_B_QK, n);
    memset(t->dxn, 0, (size_t)n * E * sizeof(float));
    if ((s = product_bwd(t, il, DESK_LORA_Q, t->xn1, t->dq, n, t->dxn, err)) ||
        (s = product_bwd(t, il, DESK_LORA_K, t->xn1, t->dk, n, t->dxn, err)) ||
        (s = product_bwd(t, il, DESK_LORA_V, t->xn1, t->dv, n, t->dxn, err)))
        return s;
    rows(t, L, x_in, R_B_ATTN_IN, n);
    return DESK_OK;
}

/* ---- the loss --------------------------------------------------------------- */

typedef struct xent_job {
    desk_trainer *t;
    const desk_token *ids;
    int nr, r0;
    bool grad;
    double loss[64];
} xent_job;

static void xent_task(void *arg, int ith, int nth) {
    xent_job *j = arg;
    const desk_hparams *hp = &j->t->m->hp;
    double sum = 0.0;
    for (int k = ith; k < j->nr; k += nth) {
        float *lg = j->t->logits + (size_t)k * hp->n_vocab;
        const int row = j->t->rows[j->r0 + k];
        sum += desk_tr_xent(lg, lg, hp->n_vocab, j->ids[row + 1], hp->softcap, 1.0f);
    }
    j->loss[ith] = sum;
}

/* Runs the sequence forward (and back with GRAD). */
static desk_status run(desk_trainer *t, const desk_token *ids, const uint8_t *mask, int n, bool grad, double *loss_sum,
                       int *n_tok, desk_err *err) {
    const desk_model *m = t->m;
    const desk_hparams *hp = &m->hp;
    const int E = hp->n_embd, L = hp->n_layer;
    desk_status s;
    if (loss_sum) *loss_sum = 0.0;
    if (n_tok) *n_tok = 0;
    if (n < 2 || n > t->n_ctx)
        return desk_errf(err, DESK_E_RANGE, "a training sequence of %d tokens: need 2 to %d", n, t->n_ctx);
    int nr = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab)
            return desk_errf(err, DESK_E_RANGE, "token %d at %d is not in the vocabulary", ids[i], i);
    for (int i = 0; i + 1 < n; i++)
        if (!mask || mask[i + 1]) t->rows[nr++] = i;
    if (nr == 0) return DESK_OK;
    const size_t stride = (size_t)t->n_ctx * E;
    for (int i = 0; i < n; i++) {
        float *xi = t->ckpt + (size_t)i * E;
        if ((s = desk_get_row(&m->tok_embd, ids[i], xi, err))) return s;
        if (hp->embd_scale != 1.0f)
            for (int d = 0; d < E; d++) xi[d] *= hp->embd_scale;
    }
    for (int il = 0; il < L; il++) {
        if ((s = layer_fwd(t, il, t->ckpt + (size_t)il * stride, n, err))) return s;
        memcpy(t->ckpt + (size_t)(il + 1) * stride, t->xout, (size_t)n * E * sizeof(float));
    }
    const float *xl = t->ckpt + (size_t)L * stride;
    if (grad) memset(t->dx, 0, (size_t)n * E * sizeof(float));
    double total = 0.0;
    for (int r0 = 0; r0 < nr; r0 += LOGIT_ROWS) {
        const int cnt = nr - r0 < LOGIT_ROWS ? nr - r0 : LOGIT_ROWS;
        for (int k = 0; k < cnt; k++)
            desk_tr_rmsnorm(t->xnf + (size_t)k * E, xl + (size_t)t->rows[r0 + k] * E, m->out_norm, E, hp->eps);
        if ((s = mat_product(t, &m->output, t->xnf, cnt, t->logits, err))) return s;
        xent_job xj = {.t = t, .ids = ids, .nr = cnt, .r0 = r0, .grad = grad};
        desk_threadpool_run(t->tp, xent_task, &xj);
        for (int h = 0; h < t->nth && h < 64; h++) total += xj.loss[h];
        if (!grad) continue;
        memset(t->dxnf, 0, (size_t)cnt * E * sizeof(float));
        if ((s = desk_tr_matmul_dx(t->tp, &m->output, t->logits, cnt, t->dxnf, t->dx_scratch, err))) return s;
        for (int k = 0; k < cnt; k++) {
            const size_t row = (size_t)t->rows[r0 + k] * E;
            desk_tr_rmsnorm_bwd(t->dx + row, xl + row, m->out_norm, t->dxnf + (size_t)k * E, E, hp->eps);
        }
    }
    if (loss_sum) *loss_sum = total;
    if (n_tok) *n_tok = nr;
    if (!grad) return DESK_OK;
    for (int il = L - 1; il >= 0; il--) {
        const float *x_in = t->ckpt + (size_t)il * stride;
        if ((s = layer_fwd(t, il, x_in, n, err)) || (s = layer_bwd(t, il, x_in, n, err))) return s;
    }
    t->tok += nr;
    return DESK_OK;
}

desk_status desk_trainer_accum(desk_trainer *t, const desk_token *ids, const uint8_t *mask, int n, double *loss_sum,
                               int *n_tok, desk_err *err) {
    return run(t, ids, mask, n, true, loss_sum, n_tok, err);
}

desk_status desk_trainer_eval(desk_trainer *t, const desk_token *ids, const uint8_t *mask, int n, double *loss_sum,
                              int *n_tok, desk_err *err) {
    return run(t, ids, mask, n, false, loss_sum, n_tok, err);
}

/* ---- the optimizer -------------------------------------------------------- */

float desk_trainer_lr(const desk_trainer *t) {
    const desk_train_params *p = &t->p;
    if (p->warmup > 0 && t->steps < p->warmup) return p->lr * (float)(t->steps + 1) / (float)p->warmup;
    if (p->total_steps <= p->warmup) return p->lr;
    double f = (double)(t->steps - p->warmup) / (double)(p->total_steps - p->warmup);
    if (f > 1.0) f = 1.0;
    return (float)(p->lr * (0.1 + 0.9 * 0.5 * (1.0 + cos(3.14159265358979323846 * f))));
}

int desk_trainer_steps(const desk_trainer *t) { return t->steps; }

void desk_trainer_step(desk_trainer *t) {
    const float lr = desk_trainer_lr(t);
    t->steps++;
    if (t->tok <= 0) return;
    float *g = (float *)desk_trainer_grads(t);
    const double inv = 1.0 / t->tok;
    double nn = 0.0;
    for (size_t i = 0; i < t->n_w; i++) nn += (double)g[i] * g[i] * inv * inv;
    const double norm = sqrt(nn);
    const float gs = (float)(inv * (norm > t->p.clip ? t->p.clip / norm : 1.0));
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f - powf(b1, (float)t->steps), c2 = 1.0f - powf(b2, (float)t->steps);
    for (size_t i = 0; i < t->n_w; i++) {
        const float gi = g[i] * gs;
        t->m1[i] = b1 * t->m1[i] + (1.0f - b1) * gi;
        t->m2[i] = b2 * t->m2[i] + (1.0f - b2) * gi * gi;
        const float upd = (t->m1[i] / c1) / (sqrtf(t->m2[i] / c2) + eps);
        t->w[i] -= lr * (upd + t->p.weight_decay * t->w[i]);
    }
    desk_trainer_zero_grads(t);
}

/* ---- saving --------------------------------------------------------------- */

desk_status desk_trainer_save(const desk_trainer *t, const char *path, desk_err *err) {
    const int L = t->m->hp.n_layer;
    desk_lora_tensor *lt = calloc((size_t)L * N_KINDS, sizeof *lt);
    char *names = calloc((size_t)L * N_KINDS, 48);
    if (!lt || !names) {
        free(lt);
        free(names);
        return desk_errf(err, DESK_E_NOMEM, "out of memory saving an adapter");
    }
    size_t k = 0;
    for (int il = 0; il < L; il++)
        for (int kind = 0; kind < N_KINDS; kind++) {
            const pair_slot *ps = &t->slot[il * N_KINDS + kind];
            if (!ps->on) continue;
            char *nm = names + k * 48;
            snprintf(nm, 48, "blk.%d.%s.weight", il, kind_tensor[kind]);
            lt[k++] = (desk_lora_tensor){.base = nm, .n_in = ps->n_in, .n_out = ps->n_out, .rank = t->rank,
                                         .a = t->w + ps->a, .b = t->w + ps->b};
        }
    desk_status s = desk_lora_write(path, t->m->arch_name, t->p.alpha, lt, k, DESK_TYPE_F32, err);
    free(lt);
    free(names);
    return s;
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Layout (little-endian, as the machine writes it): "DESKTCK1", then the
 * header below, the weights, m1, m2 (n_w floats each), USER, and an
 * FNV-1a 64 of everything before it. */
typedef struct ckpt_head {
    uint32_t version, rank, targets, n_layer;
    float alpha;
    int32_t steps;
    uint64_t n_w, user_len;
} ckpt_head;

static const char CKPT_MAGIC[8] = {'D', 'E', 'S', 'K', 'T', 'C', 'K', '1'};

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

desk_status desk_trainer_checkpoint(const desk_trainer *t, const char *path, const void *user, size_t user_len,
                                    desk_err *err) {
    if (t->tok > 0)
        return desk_errf(err, DESK_E_ARG, "a checkpoint needs no pending gradients (call it after desk_trainer_step)");
    const ckpt_head h = {.version = 1, .rank = (uint32_t)t->rank, .targets = t->p.targets,
                         .n_layer = (uint32_t)t->m->hp.n_layer, .alpha = t->p.alpha, .steps = t->steps,
                         .n_w = t->n_w, .user_len = user_len};
    desk_afile af;
    desk_status s = desk_afile_open(path, &af, err);
    if (s) return s;
    struct {
        const void *p;
        size_t n;
    } part[] = {{CKPT_MAGIC, sizeof CKPT_MAGIC}, {&h, sizeof h}, {t->w, t->n_w * sizeof(float)},
                {t->m1, t->n_w * sizeof(float)}, {t->m2, t->n_w * sizeof(float)}, {user, user_len}};
    uint64_t sum = 0xcbf29ce484222325ULL;
    bool ok = true;
    for (size_t i = 0; i < sizeof part / sizeof part[0] && ok; i++) {
        if (!part[i].n) continue;
        sum = fnv(sum, part[i].p, part[i].n);
        ok = fwrite(part[i].p, 1, part[i].n, af.fp) == part[i].n;
    }
    if (!ok || fwrite(&sum, sizeof sum, 1, af.fp) != 1) {
        desk_afile_abort(&af);
        return desk_errf(err, DESK_E_IO, "%s: writing the checkpoint failed", path);
    }
    return desk_afile_commit(&af, err);
}

desk_status desk_trainer_restore(desk_trainer *t, const char *path, void **user, size_t *user_len, desk_err *err) {
    *user = NULL;
    *user_len = 0;
    const size_t fixed = sizeof CKPT_MAGIC + sizeof(ckpt_head), weights = 3 * t->n_w * sizeof(float);
    char *buf = NULL;
    size_t len = 0;
    desk_status s = desk_file_read_all(path, fixed + weights + ((size_t)1 << 30), &buf, &len, err);
    if (s) return s;
    ckpt_head h;
    if (len < fixed + sizeof(uint64_t) || memcmp(buf, CKPT_MAGIC, sizeof CKPT_MAGIC)) {
        free(buf);
        return desk_errf(err, DESK_E_FORMAT, "%s: not a desk tune checkpoint (magic at offset 0)", path);
    }
    memcpy(&h, buf + sizeof CKPT_MAGIC, sizeof h);
    if (h.version != 1) {
        free(buf);
        return desk_errf(err, DESK_E_FORMAT, "%s: checkpoint version %u (this desk reads 1)", path, h.version);
    }
    if (h.rank != (uint32_t)t->rank || h.targets != t->p.targets || h.n_layer != (uint32_t)t->m->hp.n_layer ||
        h.alpha != t->p.alpha || h.n_w != t->n_w) {
        free(buf);
        return desk_errf(err, DESK_E_ARG,
                         "%s: a checkpoint of rank %u, alpha %g, targets 0x%x, %u layers; this run has rank %d, "
                         "alpha %g, targets 0x%x, %d layers",
                         path, h.rank, (double)h.alpha, h.targets, h.n_layer, t->rank, (double)t->p.alpha,
                         t->p.targets, t->m->hp.n_layer);
    }
    if (h.user_len > len || len - fixed - sizeof(uint64_t) != weights + h.user_len) {
        free(buf);
        return desk_errf(err, DESK_E_FORMAT, "%s: %zu bytes, expected %zu (truncated?)", path, len,
                         (size_t)(fixed + weights + h.user_len + sizeof(uint64_t)));
    }
    uint64_t want;
    memcpy(&want, buf + len - sizeof want, sizeof want);
    if (fnv(0xcbf29ce484222325ULL, buf, len - sizeof want) != want) {
        free(buf);
        return desk_errf(err, DESK_E_FORMAT, "%s: checksum mismatch at offset %zu (damaged)", path, len - sizeof want);
    }
    if (h.user_len) {
        *user = malloc(h.user_len);
        if (!*user) {
            free(buf);
            return desk_errf(err, DESK_E_NOMEM, "out of memory restoring %s", path);
        }
        memcpy(*user, buf + fixed + weights, h.user_len);
        *user_len = h.user_len;
    }
    const char *p = buf + fixed;
    const size_t nb = t->n_w * sizeof(float);
    memcpy(t->w, p, nb);
    memcpy(t->m1, p + nb, nb);
    memcpy(t->m2, p + 2 * nb, nb);
    t->steps = h.steps;
    free(buf);
    desk_trainer_zero_grads(t);
    return DESK_OK;
}
