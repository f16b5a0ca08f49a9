/*
 * moe.c - the mixture-of-experts feed-forward (Mixtral-style: the llama
 * architecture with a router ffn_gate_inp and stacked expert tensors
 * ffn_{gate,up,down}_exps).
 *
 * Numerics are llama.cpp's llm_build_moe_ffn for the llama architecture
 * (softmax gating, weights renormalised, SiLU), on its CPU backend:
 *  - router logits: an F32 x F32 product (desk_dot_ll: tinyBLAS order for
 *    2+ rows, ggml_vec_dot_f32 for one);
 *  - softmax: max, then exp(x - max) (ggml's polynomial exp in 16-lane
 *    groups summed by _mm512_reduce_add_ps into a double, libm expf for
 *    the rest), each value times (float)(1 / sum);
 *  - top-k: ggml's argsort, a descending exchange sort (ties keep the
 *    lower expert first), the first k;
 *  - weights: the chosen probabilities divided by their sum (summed in
 *    double, rounded to float);
 *  - each expert's down projection times its weight, then the k products
 *    added in slot order (the top expert first).
 *
 * CPU design: the rows of a batch are grouped by expert, so each routed
 * expert's three matrices are read once per step for all of its rows
 * (one product of count rows, not count products of one), and an expert
 * no row chose is not touched at all.  The expert matrices are views of
 * the mapped file (model.c leaves them there): a model larger than the
 * free memory still runs, its routed experts' pages coming from the page
 * cache, and decode reads the routed experts' bytes, not the file's.
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* A rows x cols float array in the context's arena, NULL when it does not fit. */
static void *arena_floats(desk_ctx *c, size_t rows, size_t cols, size_t elem) {
    if (cols && rows > SIZE_MAX / cols / elem) return NULL;
    return desk_arena_alloc(&c->arena, rows * cols * elem, 64);
}

bool desk_moe_alloc(desk_ctx *c) {
    const desk_hparams *hp = &c->m->hp;
    const size_t nb = (size_t)c->n_batch, ne = (size_t)hp->n_expert, k = (size_t)hp->n_expert_used,
                 E = (size_t)hp->n_embd;
    c->moe_logits = arena_floats(c, nb, ne, sizeof(float));
    c->moe_idx = arena_floats(c, nb, ne, sizeof(int32_t));
    c->moe_probs = arena_floats(c, nb, ne, sizeof(float));
    c->moe_w = arena_floats(c, nb, k, sizeof(float));
    c->moe_sel = arena_floats(c, nb, k, sizeof(int32_t));
    c->moe_count = arena_floats(c, ne, 1, sizeof(int32_t));
    c->moe_rows = arena_floats(c, ne, nb, sizeof(int32_t));
    c->moe_x = arena_floats(c, nb, E, sizeof(float));
    c->moe_y = arena_floats(c, nb, E, sizeof(float));
    c->moe_slots = arena_floats(c, nb * k, E, sizeof(float));
    return c->moe_logits && c->moe_idx && c->moe_probs && c->moe_w && c->moe_sel && c->moe_count && c->moe_rows && c->moe_x && c->moe_y &&
           c->moe_slots;
}

/* ---- routing --------------------------------------------------------- */

/* The 16 lanes summed as _mm512_reduce_add_ps sums them (halves: 8, 4, 2, 1). */
static float reduce16(float *v) {
    for (int w = 8; w >= 1; w /= 2)
        for (int q = 0; q < w; q++) v[q] = v[q + w] + v[q];
    return v[0];
}

/* P = softmax(X) over N values, as ggml_compute_forward_soft_max_f32. */
static void softmax(float *p, const float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = fmaxf(max, x[i]);
    double sum = 0.0;
    int i = 0;
    for (; i + 15 < n; i += 16) {
        float lane[16];
        for (int l = 0; l < 16; l++) p[i + l] = lane[l] = desk_op_vexpf(x[i + l] - max);
        sum += (double)reduce16(lane);
    }
    for (; i < n; i++) {
        p[i] = expf(x[i] - max);
        sum += (double)p[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) p[j] *= inv;
}

/* SEL = the indices of the K largest of P (N values), largest first, as
 * ggml's argsort orders them (an exchange sort: equal values keep the
 * lower index first). */
static void top_k(int32_t *sel, const float *p, int n, int k, int32_t *idx) {
    for (int j = 0; j < n; j++) idx[j] = j;
    for (int j = 0; j < k; j++) /* the first k places are final after their pass */
        for (int l = j + 1; l < n; l++)
            if (p[idx[j]] < p[idx[l]]) {
                const int32_t t = idx[j];
                idx[j] = idx[l];
                idx[l] = t;
            }
    memcpy(sel, idx, (size_t)k * sizeof *sel);
}

typedef struct route_job {
    desk_ctx *c;
    const desk_layer *L;
    int n;
    bool tiled;
} route_job;

/* Rows split over the pool: logits, probabilities, the top k and their weights. */
static void route_task(void *p, int ith, int nth) {
    route_job *j = p;
    desk_ctx *c = j->c;
    const desk_hparams *hp = &c->m->hp;
    const int E = hp->n_embd, ne = hp->n_expert, k = hp->n_expert_used;
    const int i0 = (int)((int64_t)j->n * ith / nth), i1 = (int)((int64_t)j->n * (ith + 1) / nth);
    for (int i = i0; i < i1; i++) {
        const float *x = c->xb + (size_t)i * E;
        float *logit = c->moe_logits + (size_t)i * ne;
        int32_t *idx = c->moe_idx + (size_t)i * ne;
        for (int e = 0; e < ne; e++) logit[e] = desk_dot_ll(j->L->gate_inp + (size_t)e * E, x, E, j->tiled);
        float *prob = c->moe_probs + (size_t)i * ne, *w = c->moe_w + (size_t)i * k;
        int32_t *sel = c->moe_sel + (size_t)i * k;
        softmax(prob, logit, ne);
        top_k(sel, prob, ne, k, idx);
        double sum = 0.0;
        for (int s = 0; s < k; s++) sum += (double)(w[s] = prob[sel[s]]);
        const float fsum = (float)sum;
        for (int s = 0; s < k; s++) w[s] = w[s] / fsum;
    }
}

/* ---- the experts ------------------------------------------------------- */

typedef struct glu_job {
    desk_ctx *c;
    int n;
} glu_job;

/* act(gate) * up over N rows of ffa, ffb (one row at a time: the vector
 * tail of a row is where ggml switches exp). */
static void glu_task(void *p, int ith, int nth) {
    glu_job *j = p;
    const desk_kernel_table *kt = j->c->kt;
    const size_t F = (size_t)j->c->m->hp.n_ff;
    for (int i = ith; i < j->n; i += nth) {
        float *g = j->c->ffa + (size_t)i * F;
        (kt && kt->swiglu ? kt->swiglu : desk_op_swiglu)(g, g, j->c->ffb + (size_t)i * F, F);
    }
}

/* Expert E of a stacked view W (STRIDE bytes per expert). */
static desk_mat expert(const desk_mat *w, size_t stride, int e) {
    desk_mat m = *w;
    m.data = (const unsigned char *)w->data + (size_t)e * stride;
    return m;
}

desk_status desk_moe_ffn(desk_ctx *c, const desk_layer *L, int il, int n, int n_ll, desk_err *err) {
    const desk_hparams *hp = &c->m->hp;
    const int E = hp->n_embd, ne = hp->n_expert, k = hp->n_expert_used;
    route_job rj = {c, L, n, desk_ll_tiled(ne, E, c->deterministic ? 1 : n_ll)};
    if (n >= 8)
        desk_threadpool_run(c->tp, route_task, &rj);
    else
        route_task(&rj, 0, 1);
    desk_ctx_trace(c, "ffn_moe_logits", il, c->moe_logits, n, (size_t)ne);
    desk_ctx_trace(c, "ffn_moe_probs", il, c->moe_probs, n, (size_t)ne);
    /* Each expert's list of (row * k + slot), rows in order. */
    memset(c->moe_count, 0, (size_t)ne * sizeof *c->moe_count);
    for (int i = 0; i < n; i++)
        for (int s = 0; s < k; s++) {
            const int e = c->moe_sel[(size_t)i * k + s];
            c->moe_rows[(size_t)e * c->n_batch + c->moe_count[e]++] = i * k + s;
        }
    for (int e = 0; e < ne; e++) {
        const int cnt = c->moe_count[e];
        if (cnt == 0) continue;
        const int32_t *rows = c->moe_rows + (size_t)e * c->n_batch;
        for (int r = 0; r < cnt; r++)
            memcpy(c->moe_x + (size_t)r * E, c->xb + (size_t)(rows[r] / k) * E, (size_t)E * sizeof(float));
        const desk_mat gate = expert(&L->exp_gate, L->exp_stride_gu, e), up = expert(&L->exp_up, L->exp_stride_gu, e),
                       down = expert(&L->exp_down, L->exp_stride_down, e);
        const desk_mat *gu[2] = {&gate, &up};
        float *const gu_out[2] = {c->ffa, c->ffb};
        desk_status s = desk_ctx_matmuls(c, gu, gu_out, 2, c->moe_x, cnt, err);
        if (s) return s;
        glu_job gj = {c, cnt};
        if (cnt >= 8)
            desk_threadpool_run(c->tp, glu_task, &gj);
        else
            glu_task(&gj, 0, 1);
        if ((s = desk_ctx_matmul(c, &down, c->ffa, cnt, c->moe_y, err))) return s;
        for (int r = 0; r < cnt; r++) {
            const float w = c->moe_w[rows[r]];
            const float *y = c->moe_y + (size_t)r * E;
            float *slot = c->moe_slots + (size_t)rows[r] * E;
            for (int d = 0; d < E; d++) slot[d] = y[d] * w;
        }
    }
    /* The slots added in order: ((s0 + s1) + s2) ... */
    for (int i = 0; i < n; i++) {
        float *o = c->xo + (size_t)i * E;
        const float *s0 = c->moe_slots + (size_t)i * k * E;
        memcpy(o, s0, (size_t)E * sizeof(float));
        for (int s = 1; s < k; s++)
            for (int d = 0; d < E; d++) o[d] += s0[(size_t)s * E + d];
    }
    return DESK_OK;
}
