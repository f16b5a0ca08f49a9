/*
 * model.c - loading a model: architecture, hyperparameters, weight views.
 *
 * Everything a forward pass will touch is checked here, once: the
 * architecture is one desk knows, the hyperparameters are consistent, and
 * every tensor exists with the shape and a type the kernels handle.  After
 * a successful load the forward pass trusts the model and checks nothing.
 * Weights are views of the read-only mapping of the file (desk_mat), until
 * place_weights moves the matrices of the forward pass into memory of the
 * model's own: the Q4_0 and Q4_K matrices the kernels read faster repacked
 * 8 rows at a time (as llama.cpp does at load) in that layout, the rest
 * copied onto transparent huge pages where the kernel offers them; the
 * file pages read for it leave the process's resident set.
 */
#define _GNU_SOURCE /* madvise, MAP_ANONYMOUS */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "model/model_internal.h"
#include "model/validate.h"
#include "plan/plan.h"
#include "tensor/types.h"

/* Looks up tensor NAME and checks it is [cols, rows] (rows = 1 for 1-D). */
static desk_status find_tensor(const desk_gguf *g, const char *name, int64_t cols, int64_t rows,
                               bool optional, const desk_gguf_tensor **out, desk_err *err) {
    const desk_gguf_tensor *t = desk_gguf_find_tensor(g, name);
    *out = t;
    if (!t) {
        if (optional) return DESK_OK;
        return desk_errf(err, DESK_E_FORMAT, "tensor '%s' is missing", name);
    }
    int64_t got_rows = t->n_dims >= 2 ? t->ne[1] : 1;
    if (t->n_dims > 2 || t->ne[0] != cols || got_rows != rows)
        return desk_errf(err, DESK_E_FORMAT,
                         "tensor '%s' has shape [%lld, %lld%s], expected [%lld, %lld]", name,
                         (long long)t->ne[0], (long long)got_rows, t->n_dims > 2 ? ", ..." : "",
                         (long long)cols, (long long)rows);
    return DESK_OK;
}

static desk_status get_mat(desk_model *m, const char *name, int64_t cols, int64_t rows,
                           desk_mat *out, desk_err *err) {
    const desk_gguf_tensor *t;
    desk_status s = find_tensor(m->g, name, cols, rows, false, &t, err);
    if (s) return s;
    const desk_type_info *ti = desk_type_get(t->type);
    if (!ti || !ti->vec_dot || !ti->dequant)
        return desk_errf(err, DESK_E_UNSUPPORTED, "tensor '%s' has type %s, which desk cannot compute with",
                         name, desk_type_name(t->type));
    *out = (desk_mat){t->type, rows, cols, desk_type_row_size(t->type, cols), t->data, NULL};
    m->weight_bytes += t->nbytes;
    return DESK_OK;
}

/* Stacked expert matrices NAME: [cols, rows, n_expert], any type the
 * kernels compute with; *OUT is expert 0's view and *STRIDE the bytes
 * from one expert to the next. */
static desk_status get_experts(desk_model *m, const char *name, int64_t cols, int64_t rows, desk_mat *out,
                               size_t *stride, desk_err *err) {
    const desk_gguf_tensor *t = desk_gguf_find_tensor(m->g, name);
    const int64_t ne = m->hp.n_expert;
    if (!t) return desk_errf(err, DESK_E_FORMAT, "tensor '%s' is missing", name);
    if (t->n_dims != 3 || t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != ne)
        return desk_errf(err, DESK_E_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                         name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)cols,
                         (long long)rows, (long long)ne);
    const desk_type_info *ti = desk_type_get(t->type);
    if (!ti || !ti->vec_dot || !ti->dequant)
        return desk_errf(err, DESK_E_UNSUPPORTED, "tensor '%s' has type %s, which desk cannot compute with", name,
                         desk_type_name(t->type));
    *out = (desk_mat){t->type, rows, cols, desk_type_row_size(t->type, cols), t->data, NULL};
    *stride = out->row_bytes * (size_t)rows;
    /* a token reads only its routed experts: the roofline's bytes */
    m->weight_bytes += t->nbytes / (uint64_t)ne * (uint64_t)m->hp.n_expert_used;
    return DESK_OK;
}

/* A mixture-of-experts layer's feed-forward: the router (F32, as
 * llama.cpp's converter writes it and its quantizer leaves it) and the
 * stacked experts. */
static desk_status get_moe(desk_model *m, desk_layer *L, int il, desk_err *err) {
    const desk_hparams *hp = &m->hp;
    char n[96];
    const desk_gguf_tensor *t;
    snprintf(n, sizeof n, "blk.%d.ffn_gate_inp.weight", il);
    desk_status s = find_tensor(m->g, n, hp->n_embd, hp->n_expert, false, &t, err);
    if (s) return s;
    if (t->type != DESK_TYPE_F32)
        return desk_errf(err, DESK_E_UNSUPPORTED, "tensor '%s' has type %s; desk runs an F32 router", n,
                         desk_type_name(t->type));
    L->gate_inp = t->data;
    m->weight_bytes += t->nbytes;
    snprintf(n, sizeof n, "blk.%d.ffn_gate_exps.weight", il);
    if ((s = get_experts(m, n, hp->n_embd, hp->n_ff, &L->exp_gate, &L->exp_stride_gu, err))) return s;
    snprintf(n, sizeof n, "blk.%d.ffn_up_exps.weight", il);
    size_t up_stride = 0;
    if ((s = get_experts(m, n, hp->n_embd, hp->n_ff, &L->exp_up, &up_stride, err))) return s;
    if (L->exp_up.type != L->exp_gate.type)
        return desk_errf(err, DESK_E_UNSUPPORTED, "blk.%d: ffn_gate_exps is %s but ffn_up_exps is %s; desk needs one type",
                         il, desk_type_name(L->exp_gate.type), desk_type_name(L->exp_up.type));
    snprintf(n, sizeof n, "blk.%d.ffn_down_exps.weight", il);
    return get_experts(m, n, hp->n_ff, hp->n_embd, &L->exp_down, &L->exp_stride_down, err);
}

static desk_status get_vec(desk_model *m, const char *name, int64_t n, bool optional,
                           const float **out, desk_err *err) {
    const desk_gguf_tensor *t;
    *out = NULL;
    desk_status s = find_tensor(m->g, name, n, 1, optional, &t, err);
    if (s || !t) return s;
    if (t->type != DESK_TYPE_F32)
        return desk_errf(err, DESK_E_UNSUPPORTED, "tensor '%s' has type %s; norms must be F32", name,
                         desk_type_name(t->type));
    *out = t->data;
    m->weight_bytes += t->nbytes;
    return DESK_OK;
}

/* The hyperparameters (desk_hparams_read) and what the forward pass needs
 * of them beyond what any file must satisfy: the counts it sizes buffers
 * with, the same heads in every layer, head sizes RoPE can rotate. */
static desk_status load_hparams(desk_model *m, desk_err *err) {
    desk_hparams *hp = &m->hp;
    desk_status s = desk_hparams_read(m->g, hp, err);
    if (s) return s;
    const char *a = m->arch_name;
    /* qwen3moe: every layer's feed-forward is experts of
     * expert_feed_forward_length (llama.cpp: else feed_forward_length /
     * expert_used_count), which is all n_ff sizes from here on. */
    if (m->arch == DESK_ARCH_QWEN3MOE) {
        if (hp->n_expert < 1 || hp->n_expert_used < 1)
            return desk_errf(err, DESK_E_FORMAT, "%s: expert_count and expert_used_count must be positive (got %d, %d)",
                             a, hp->n_expert, hp->n_expert_used);
        if (hp->n_ff_exp > 0) hp->n_ff = hp->n_ff_exp;
        else hp->n_ff /= hp->n_expert_used;
    }
    if (hp->n_layer < 1 || hp->n_embd < 1 || hp->n_ff < 1 || hp->n_head < 1)
        return desk_errf(err, DESK_E_FORMAT,
                         "%s: block_count, embedding_length, feed_forward_length and head_count "
                         "must be positive (got %d, %d, %d, %d)",
                         a, hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head);
    if (hp->per_layer)
        return desk_errf(err, DESK_E_UNSUPPORTED,
                         "%s: head_count, head_count_kv or feed_forward_length differ by layer, which desk does "
                         "not run", a);
    if (hp->head_dim_k < 2 || hp->head_dim_v < 1 || hp->head_dim_k % 2)
        return desk_errf(err, DESK_E_FORMAT, "%s: bad head dimensions (key %d, value %d)", a,
                         hp->head_dim_k, hp->head_dim_v);
    /* The context a file does not state: llama.cpp's common default. */
    if (hp->n_ctx_train < 1) hp->n_ctx_train = 4096;
    if (hp->n_rot < 2 || hp->n_rot > hp->head_dim_k || hp->n_rot % 2)
        return desk_errf(err, DESK_E_FORMAT, "%s.rope.dimension_count = %d is invalid for head size %d", a,
                         hp->n_rot, hp->head_dim_k);
    if (!(hp->eps > 0 && hp->eps < 1))
        return desk_errf(err, DESK_E_FORMAT,
                         "%s.attention.layer_norm_rms_epsilon is %s (it must be a number in (0, 1))", a,
                         hp->eps == 0 ? "missing" : "out of range");
    /* Experts: llama.cpp runs them in llama files; up to 512 of them (the
     * largest published count is 384), each row choosing 1..n_expert. */
    if (hp->n_expert > 0 && m->arch != DESK_ARCH_LLAMA && m->arch != DESK_ARCH_QWEN3MOE)
        return desk_errf(err, DESK_E_UNSUPPORTED, "%s: desk runs experts (expert_count %d) in llama and qwen3moe files only",
                         a, hp->n_expert);
    if (hp->n_expert > 0 && (hp->n_expert > 512 || hp->n_expert_used < 1 || hp->n_expert_used > hp->n_expert))
        return desk_errf(err, DESK_E_FORMAT,
                         "%s: expert_count %d and expert_used_count %d: need 1 <= used <= count <= 512", a,
                         hp->n_expert, hp->n_expert_used);
    if (hp->n_expert == 0) hp->n_expert_used = 0;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    hp->embd_scale = 1.0f;
    /* llama.cpp's rope types: NORM (adjacent pairs) for llama, NEOX (halves) for the rest. */
    hp->rope_neox = m->arch != DESK_ARCH_LLAMA;
    if (DESK_ARCH_IS_GEMMA(m->arch)) {
        hp->rope_neox = true;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        /* Gemma 2 and 3 27B scale by the model width per head, the others by the head size. */
        if (hp->n_layer == (m->arch == DESK_ARCH_GEMMA3 ? 62 : 46))
            hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    }
    if (m->arch == DESK_ARCH_GEMMA2) {
        /* llama.cpp's gemma2: a window of 4096 unless the file says, the
         * global base for the window layers unless rope.freq_base_swa is
         * there; final soft-capping is always applied (30 unless said). */
        if (hp->n_swa == 0) hp->n_swa = 4096;
        if (!desk_gguf_find_kv(m->g, "gemma2.rope.freq_base_swa")) hp->rope_base_swa = hp->rope_base;
        if (!desk_gguf_find_kv(m->g, "gemma2.final_logit_softcapping")) hp->softcap = 30.0f;
        if (!desk_gguf_find_kv(m->g, "gemma2.attn_logit_softcapping")) hp->attn_softcap = 50.0f;
    } else {
        hp->attn_softcap = 0.0f; /* llama.cpp soft-caps attention in gemma2 only (of desk's architectures) */
    }
    return DESK_OK;
}

static desk_status load_tensors(desk_model *m, desk_err *err) {
    const desk_hparams *hp = &m->hp;
    desk_status s;
    int64_t qd = (int64_t)hp->n_head * hp->head_dim_k, kd = (int64_t)hp->n_head_kv * hp->head_dim_k,
            vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const desk_gguf_tensor *te = desk_gguf_find_tensor(m->g, "token_embd.weight");
    if (!te) return desk_errf(err, DESK_E_FORMAT, "tensor 'token_embd.weight' is missing");
    hp = &m->hp;
    if (te->n_dims >= 2) m->hp.n_vocab = (int32_t)te->ne[1];
    if ((s = get_mat(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err)) ||
        (s = get_vec(m, "output_norm.weight", hp->n_embd, false, &m->out_norm, err)))
        return s;
    if (desk_gguf_find_tensor(m->g, "output.weight")) {
        if ((s = get_mat(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err))) return s;
    } else {
        m->output = m->tok_embd; /* tied embeddings */
    }
    if ((s = get_vec(m, "rope_freqs.weight", hp->n_rot / 2, true, &m->rope_freqs, err))) return s;

    /* Each layer needs at least 9 tensors: a block_count the file cannot
     * back is refused before it sizes an allocation. */
    if ((int64_t)hp->n_layer > desk_gguf_n_tensors(m->g) / 9)
        return desk_errf(err, DESK_E_FORMAT, "%s.block_count = %d but the file has only %lld tensors",
                         m->arch_name, hp->n_layer, (long long)desk_gguf_n_tensors(m->g));
    m->layers = desk_arena_alloc(&m->arena, sizeof(desk_layer) * (size_t)hp->n_layer, 64);
    if (!m->layers) return desk_errf(err, DESK_E_NOMEM, "out of memory for %d layers", hp->n_layer);
    char n[96];
#define T(suffix) (snprintf(n, sizeof n, "blk.%d.%s", il, suffix), n)
    for (int il = 0; il < hp->n_layer; il++) {
        desk_layer *L = &m->layers[il];
        if ((s = get_mat(m, T("attn_q.weight"), hp->n_embd, qd, &L->wq, err)) ||
            (s = get_mat(m, T("attn_k.weight"), hp->n_embd, kd, &L->wk, err)) ||
            (s = get_mat(m, T("attn_v.weight"), hp->n_embd, vd, &L->wv, err)) ||
            (s = get_mat(m, T("attn_output.weight"), (int64_t)hp->n_head * hp->head_dim_v, hp->n_embd,
                         &L->wo, err)))
            return s;
        /* A mixture of experts (llama.cpp reads expert_count > 0 so) or a dense feed-forward. */
        if (hp->n_expert > 0 ? (s = get_moe(m, L, il, err))
                             : ((s = get_mat(m, T("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->w_gate, err)) ||
                                (s = get_mat(m, T("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->w_up, err)) ||
                                (s = get_mat(m, T("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->w_down, err))))
            return s;
        if ((s = get_vec(m, T("attn_norm.weight"), hp->n_embd, false, &L->attn_norm, err)) ||
            (s = get_vec(m, T("ffn_norm.weight"), hp->n_embd, false, &L->ffn_norm, err)))
            return s;
        /* Biases of q, k and v: qwen2 has them; llama.cpp reads them in llama files when present. */
        const bool need_bias = m->arch == DESK_ARCH_QWEN2, may_bias = need_bias || m->arch == DESK_ARCH_LLAMA;
        if (may_bias && ((s = get_vec(m, T("attn_q.bias"), qd, !need_bias, &L->bq, err)) ||
                         (s = get_vec(m, T("attn_k.bias"), kd, !need_bias, &L->bk, err)) ||
                         (s = get_vec(m, T("attn_v.bias"), vd, !need_bias, &L->bv, err))))
            return s;
        L->swa = false;
        L->rope_base = hp->rope_base;
        /* qwen3's per-head RMS norms of q and k, before RoPE (gemma3's below). */
        if ((m->arch == DESK_ARCH_QWEN3 || m->arch == DESK_ARCH_QWEN3MOE) &&
            ((s = get_vec(m, T("attn_q_norm.weight"), hp->head_dim_k, false, &L->q_norm, err)) ||
             (s = get_vec(m, T("attn_k_norm.weight"), hp->head_dim_k, false, &L->k_norm, err))))
            return s;
        if (m->arch == DESK_ARCH_GEMMA2 &&
            ((s = get_vec(m, T("post_attention_norm.weight"), hp->n_embd, false, &L->post_attn_norm, err)) ||
             (s = get_vec(m, T("post_ffw_norm.weight"), hp->n_embd, false, &L->post_ffn_norm, err))))
            return s;
        /* Gemma 2 alternates: a sliding-window layer, then a global one. */
        if (m->arch == DESK_ARCH_GEMMA2 && il % 2 == 0) {
            L->swa = true;
            L->rope_base = hp->rope_base_swa;
        }
        if (m->arch == DESK_ARCH_GEMMA3) {
            if ((s = get_vec(m, T("attn_q_norm.weight"), hp->head_dim_k, false, &L->q_norm, err)) ||
                (s = get_vec(m, T("attn_k_norm.weight"), hp->head_dim_k, false, &L->k_norm, err)) ||
                (s = get_vec(m, T("post_attention_norm.weight"), hp->n_embd, false, &L->post_attn_norm, err)) ||
                (s = get_vec(m, T("post_ffw_norm.weight"), hp->n_embd, false, &L->post_ffn_norm, err)))
                return s;
            /* Five sliding-window layers, then one global (Gemma 3's pattern). */
            if (hp->n_swa > 0 && il % 6 < 5) {
                L->swa = true;
                L->rope_base = hp->rope_base_swa;
            }
        }
    }
    snprintf(n, sizeof n, "blk.%d.attn_q.weight", hp->n_layer);
    if (desk_gguf_find_tensor(m->g, n))
        return desk_errf(err, DESK_E_FORMAT, "block_count is %d but the file has a tensor '%s'", hp->n_layer, n);
#undef T
    return DESK_OK;
}

/* Lets the kernel take back the file pages under [P, P + N) (rounded out
 * to whole pages): they are clean and shared with the page cache, so a
 * later read (a tied embedding's row, a context that does not read the
 * repacked layout) brings them back from the cache. */
static void drop_pages(const void *p, size_t n) {
    const long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0) return;
    const uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(ps - 1), hi = (uintptr_t)p + n;
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Whether anonymous memory can be backed by transparent huge pages on
 * request (THP "always" or "madvise"): the sysfs switch, read once per load. */
static bool thp_available(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    char line[128] = {0};
    const bool ok = fgets(line, sizeof line, f) && !strstr(line, "[never]");
    fclose(f);
    return ok;
}

/* Whether table KT reads W repacked (its type, and rows a multiple of 8). */
static bool reads_repacked(const desk_kernel_table *kt, const desk_mat *w) {
    return desk_kernels_repacks(kt, w->type) && desk_repack_size(w);
}

/* Bytes matrix W takes in the model's own memory: its repacked size when
 * the kernels read it repacked, its file bytes when COPY, else 0. */
static size_t placed_size(const desk_kernel_table *kt, const desk_mat *w, bool copy) {
    if (reads_repacked(kt, w)) return desk_repack_size(w);
    return copy ? (size_t)w->rows * w->row_bytes : 0;
}

/* The I-th matrix of the forward pass (0: output, then 7 per layer). */
static desk_mat *pass_mat(desk_model *m, size_t i) {
    return i == 0 ? &m->output : &(&m->layers[(i - 1) / 7].wq)[(i - 1) % 7];
}

/* One placement shared by its threads: each claims the next matrix and
 * fills its part of the mapping (OFF[i], precomputed, so no two overlap). */
typedef struct place_job {
    desk_model *m;
    const desk_kernel_table *kt;
    bool copy;
    size_t n_mats;
    const size_t *off;
    atomic_size_t next;
} place_job;

/* Bytes of the source read between two drops of its pages: a matrix
 * larger than this (a tied 262k-token output) never has all of its file
 * pages and all of its copy resident at once. */
#define PLACE_SLICE ((size_t)8 << 20)

static void place_task(void *p, int ith, int nth) {
    place_job *j = p;
    (void)ith;
    (void)nth;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n_mats;) {
        desk_mat *w = pass_mat(j->m, i);
        if (placed_size(j->kt, w, j->copy) == 0) continue;
        unsigned char *dst = (unsigned char *)j->m->packed + j->off[i];
        const unsigned char *src = w->data;
        const bool repack = reads_repacked(j->kt, w);
        /* Slices of whole rows (of whole 8-row groups when repacked: the
         * layout is one group after another, so a slice's groups land at
         * its first group's place). */
        const size_t group_bytes = repack ? desk_repack_size(w) / (size_t)(w->rows / DESK_PACK_ROWS) : 0;
        int64_t step = (int64_t)(PLACE_SLICE / w->row_bytes);
        if (repack) step -= step % DESK_PACK_ROWS;
        if (step < DESK_PACK_ROWS) step = DESK_PACK_ROWS;
        for (int64_t r0 = 0; r0 < w->rows; r0 += step) {
            desk_mat part = *w;
            part.rows = w->rows - r0 < step ? w->rows - r0 : step;
            part.data = src + (size_t)r0 * w->row_bytes;
            const size_t bytes = (size_t)part.rows * w->row_bytes;
            /* desk_repack fails only on a matrix it does not repack; a
             * slice of a repacked one is whole 8-row groups of it. */
            if (repack)
                (void)desk_repack(&part, dst + (size_t)(r0 / DESK_PACK_ROWS) * group_bytes, NULL);
            else
                memcpy(dst + (size_t)r0 * w->row_bytes, part.data, bytes);
            drop_pages(part.data, bytes);
        }
        if (repack)
            w->packed = dst;
        else
            w->data = dst;
    }
}

/* Moves the matrices of the forward pass into one anonymous mapping owned
 * by the model (m->packed, unmapped by desk_model_free; read-only once
 * filled), and drops the source pages from the resident set.  Two reasons:
 * the Q4_0 and Q4_K matrices the process's kernels read repacked
 * (desk_kernels_repacks, desk_repack_size) are written in that layout;
 * and where the kernel gives anonymous memory transparent huge pages, the
 * rest are copied as they are, because decode streams every weight once
 * per token and 4 KiB file pages cost it a TLB miss every 4 KiB (the
 * measured gain is in docs/PERFORMANCE.md, "Design notes").  The token
 * embedding is only read a row at a time and stays in the file (with tied
 * embeddings the output matrix moves, the embedding view keeps the file's
 * rows).  One thread per core fills it: most of the time goes to the
 * kernel zeroing fresh pages, which runs in the thread that touches them.
 * A failure to map leaves every weight in the file. */
static desk_status place_weights(desk_model *m, desk_err *err) {
    const desk_kernel_table *kt = NULL;
    desk_err ignored = {0};
    /* A DESK_ISA that cannot run fails at the first product, saying so. */
    if (desk_kernels_current(&kt, &ignored) != DESK_OK) return DESK_OK;
    const bool copy = thp_available();
    const size_t n_mats = 1 + 7 * (size_t)m->hp.n_layer;
    size_t *off = malloc(n_mats * sizeof *off);
    if (!off) return desk_errf(err, DESK_E_NOMEM, "out of memory placing weights");
    size_t total = 0;
    for (size_t i = 0; i < n_mats; i++) {
        off[i] = total;
        total += (placed_size(kt, pass_mat(m, i), copy) + 63) / 64 * 64;
    }
    if (total == 0) {
        free(off);
        return DESK_OK;
    }
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(off);
        return desk_errf(err, DESK_E_NOMEM, "out of memory placing %.1f MiB of weights (--no-repack uses the file as it is)", total / 1048576.0);
    }
    /* Advice only: without huge pages the weights are read as before. */
    if (copy) (void)madvise(p, total, MADV_HUGEPAGE);
    m->packed = p;
    m->packed_bytes = total;
    place_job j = {.m = m, .kt = kt, .copy = copy, .n_mats = n_mats, .off = off};
    atomic_init(&j.next, 0);
    /* A pool for the load alone; without one (no thread could start) this
     * thread places every matrix. */
    desk_threadpool *tp = NULL;
    const int n_threads = desk_physical_cores();
    if (desk_threadpool_new(n_threads < 8 ? n_threads : 8, &tp, NULL) != DESK_OK) tp = NULL;
    desk_threadpool_run(tp, place_task, &j);
    desk_threadpool_free(tp);
    free(off);
    (void)mprotect(p, total, PROT_READ);
    return DESK_OK;
}

/* Plan first, then place: refuses a load whose weights and KV cache (the
 * plan's figures, plan.h, at the caller's context and cache types) are
 * more than the memory available, before any weight is copied.  The
 * weights count once: placement drops each file page it has copied
 * (PLACE_SLICE), so the copy replaces the mapping rather than adding to it.
 * The plan's compute estimate is left out: it sizes logits for every token
 * of a 512-token batch (llama.cpp's buffers), where a context keeps one row
 * unless logits_all, so it would refuse Gemma 3 270M (324 MiB resident
 * when running) below 812 MiB.  Without a figure for available memory (no
 * /proc/meminfo) the load goes on. */
static desk_status check_memory(const desk_model *m, const desk_model_params *p, desk_err *err) {
    const int n_ctx = p->n_ctx_hint > 0 ? p->n_ctx_hint : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
    desk_plan_model pm;
    desk_plan_file(m->g, &m->hp,
                   &(desk_plan_params){.n_ctx = (uint32_t)n_ctx, .n_parallel = 1, .type_k = p->type_k, .type_v = p->type_v},
                   &pm);
    const uint64_t need = pm.weights + pm.kv;
    uint64_t have = 0;
    desk_err why = {0};
    const desk_status s = desk_mem_available(&have, &why);
    if (s == DESK_E_ARG) return desk_errf(err, s, "%s", why.msg); /* a DESK_MEM_AVAILABLE that is not a size */
    if (s || need <= have) return DESK_OK;
    return desk_errf(err, DESK_E_NOMEM,
                     "the model needs %.1f MiB (weights %.1f MiB + KV cache %.1f MiB for %d tokens, K %s, V %s) "
                     "but only %.1f MiB are available",
                     need / 1048576.0, pm.weights / 1048576.0, pm.kv / 1048576.0, n_ctx,
                     desk_cache_type_name(p->type_k), desk_cache_type_name(p->type_v), have / 1048576.0);
}

/* The architectures desk runs, by their general.architecture names (in desk_arch order). */
static const char *const ARCHS[] = {"llama", "gemma3", "qwen2", "qwen3", "qwen3moe", "gemma2"};
#define ARCH_LIST "llama, gemma2, gemma3, qwen2, qwen3, qwen3moe"

/* NAME's desk_arch, or -1. */
static desk_arch arch_of(const char *name) {
    for (size_t i = 0; name && i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(name, ARCHS[i]) == 0) return (desk_arch)i;
    return (desk_arch)-1;
}

bool desk_model_arch_supported(const char *arch) { return (int)arch_of(arch) >= 0; }

desk_status desk_model_load(const char *path, const desk_model_params *p, desk_model **out,
                            desk_err *err) {
    *out = NULL;
    desk_model *m = calloc(1, sizeof *m);
    if (!m) return desk_errf(err, DESK_E_NOMEM, "out of memory loading %s", path);
    desk_arena_init(&m->arena, 1 << 16);
    desk_status s = desk_gguf_open(path, &m->g, err);
    if (s) goto fail;
    if ((s = desk_gguf_get_str(m->g, "general.architecture", &m->arch_name, err))) goto fail;
    if ((int)(m->arch = arch_of(m->arch_name)) < 0) {
        s = desk_errf(err, DESK_E_UNSUPPORTED, "architecture '%s' is not supported (desk runs: %s)", m->arch_name,
                      ARCH_LIST);
        goto fail;
    }
    if (desk_gguf_get_str(m->g, "general.name", &m->name, NULL) != DESK_OK) m->name = path;
    if (desk_gguf_get_str(m->g, "tokenizer.chat_template", &m->chat_template, NULL) != DESK_OK)
        m->chat_template = NULL;
    if ((s = load_hparams(m, err)) || (s = load_tensors(m, err))) goto fail;
    if ((s = desk_model_validate_meta(m->g, err))) goto fail; /* values: src/model/validate.c */
    if ((s = desk_tokenizer_load(m->g, &m->tok, err))) goto fail;
    if (desk_tokenizer_n_vocab(m->tok) != m->hp.n_vocab) {
        s = desk_errf(err, DESK_E_FORMAT, "the tokenizer has %d tokens but token_embd.weight has %d rows",
                      desk_tokenizer_n_vocab(m->tok), m->hp.n_vocab);
        goto fail;
    }
    /* Nothing so far has read a weight (views only), so a refusal here
     * costs the header's parse and the tokenizer, not a copy. */
    if (p && p->check_memory && (s = check_memory(m, p, err))) goto fail;
    if ((s = desk_model_validate_weights(m->g, err))) goto fail;
    if (!(p && p->no_repack) && (s = place_weights(m, err))) goto fail;
    *out = m;
    return DESK_OK;
fail:
    /* The file's own errors (desk_gguf_open, mfile) already name it. */
    if (err && strncmp(err->msg, path, strlen(path)) != 0) desk_err_prefix(err, "%s", path);
    desk_model_free(m);
    return s;
}

void desk_model_free(desk_model *m) {
    if (!m) return;
    desk_tokenizer_free(m->tok);
    if (m->packed) munmap(m->packed, m->packed_bytes);
    desk_gguf_close(m->g);
    desk_arena_free(&m->arena);
    free(m);
}

const desk_tokenizer *desk_model_tokenizer(const desk_model *m) { return m->tok; }
const char *desk_model_arch(const desk_model *m) { return m->arch_name; }
const char *desk_model_name(const desk_model *m) { return m->name; }
int32_t desk_model_n_vocab(const desk_model *m) { return m->hp.n_vocab; }
int32_t desk_model_n_ctx_train(const desk_model *m) { return m->hp.n_ctx_train; }
const char *desk_model_chat_template(const desk_model *m) { return m->chat_template; }
uint64_t desk_model_weight_bytes(const desk_model *m) { return m->weight_bytes; }
uint64_t desk_model_repacked_bytes(const desk_model *m) { return m->packed_bytes; }
