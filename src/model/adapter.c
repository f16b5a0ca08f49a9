/*
 * adapter.c - LoRA adapters in llama.cpp's GGUF format (src/llama-adapter.cpp
 * at c392e509, written by its convert_lora_to_gguf.py): reading one for a
 * model, checking it against the model, and writing one.
 *
 * The checks are llama.cpp's (general.type "adapter", adapter.type "lora",
 * the base model's architecture, a complete lora_a / lora_b pair per base
 * tensor, A of GGUF shape [n_in, rank] and B of [rank, n_out]), plus what
 * a hostile file could otherwise slip past them: a rank of 0 or larger
 * than the matrix, a base tensor desk does not adapt, a third dimension,
 * a non-finite weight or alpha.  Tensors named "*_norm.weight" are skipped
 * as llama.cpp skips them.  Every weight is converted to F32 at load (an
 * adapter is small: rank x (n_in + n_out) per matrix), so the forward pass
 * reads one layout whatever the file stored.
 */
#include "model/adapter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"
#include "tensor/types.h"

/* Base tensor names of a layer's adaptable matrices, in desk_lora_kind order. */
static const char *const kind_names[DESK_LORA_KINDS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

/* A name from the file made safe to print: its first 80 bytes, anything
 * unprintable as '?'. */
static const char *printable(const desk_gguf_str *s, char *buf, size_t cap) {
    size_t k = 0;
    for (; k < s->len && k + 1 < cap && k < 80; k++) {
        const unsigned char ch = (unsigned char)s->s[k];
        buf[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[k] = '\0';
    return buf;
}

static bool ends_with(const desk_gguf_str *s, const char *suffix, size_t *stem) {
    const size_t n = strlen(suffix);
    if (s->len < n || memcmp(s->s + s->len - n, suffix, n) != 0) return false;
    *stem = (size_t)s->len - n;
    return true;
}

/* The slot of base tensor NAME (LEN bytes) in M, or -1 when desk adapts no
 * such matrix; *TOKEN_EMBD tells the one llama.cpp adapts and desk does not. */
static int base_slot(const desk_model *m, const char *name, size_t len, bool *token_embd) {
    const int n_layer = m->hp.n_layer;
    *token_embd = len == strlen("token_embd.weight") && memcmp(name, "token_embd.weight", len) == 0;
    if (len == strlen("output.weight") && memcmp(name, "output.weight", len) == 0)
        return m->output.data != m->tok_embd.data ? n_layer * DESK_LORA_KINDS : -1;
    if (len < 5 || memcmp(name, "blk.", 4) != 0) return -1;
    size_t i = 4;
    int64_t il = 0;
    if (name[i] < '0' || name[i] > '9' || (name[i] == '0' && i + 1 < len && name[i + 1] != '.')) return -1;
    for (; i < len && name[i] >= '0' && name[i] <= '9'; i++) {
        il = il * 10 + (name[i] - '0');
        if (il >= n_layer) return -1;
    }
    if (i >= len || name[i] != '.') return -1;
    i++;
    for (int k = 0; k < DESK_LORA_KINDS; k++) {
        const size_t kn = strlen(kind_names[k]);
        if (len - i == kn + strlen(".weight") && memcmp(name + i, kind_names[k], kn) == 0 &&
            memcmp(name + i + kn, ".weight", strlen(".weight")) == 0)
            return (int)il * DESK_LORA_KINDS + k;
    }
    return -1;
}

static const desk_lora_pair *pair_named(const desk_lora *l, const char *name) {
    bool embd;
    const int slot = base_slot(l->m, name, strlen(name), &embd);
    return slot >= 0 && slot < l->n_slots ? l->slot[slot] : NULL;
}

bool desk_lora_adapts(const desk_lora *l, const char *name) { return l && name && pair_named(l, name) != NULL; }

bool desk_lora_merge_rows(const desk_lora_use *use, const char *name, int64_t r0, int64_t nrows, int64_t n_in,
                          float *w) {
    const desk_lora *l = use ? use->lora : NULL;
    const desk_lora_pair *p = l && name ? pair_named(l, name) : NULL;
    if (!p || p->n_in != n_in || r0 < 0 || nrows < 0 || r0 + nrows > p->n_out) return false;
    /* llama.cpp's llama_adapter_lora_weight::get_scale, as forward.c */
    const float s = l->alpha != 0.0f ? use->scale * l->alpha / (float)p->rank : use->scale;
    for (int64_t r = 0; r < nrows; r++) {
        const float *b = p->b + (size_t)(r0 + r) * (size_t)p->rank;
        float *row = w + (size_t)r * (size_t)n_in;
        for (int64_t i = 0; i < n_in; i++) {
            double d = 0;
            for (int32_t k = 0; k < p->rank; k++) d += (double)b[k] * (double)p->a[(size_t)k * (size_t)n_in + (size_t)i];
            row[i] = (float)((double)row[i] + (double)s * d);
        }
    }
    return true;
}

/* The base matrix behind SLOT. */
static const desk_mat *slot_mat(const desk_model *m, int slot) {
    if (slot == m->hp.n_layer * DESK_LORA_KINDS) return &m->output;
    const desk_layer *L = &m->layers[slot / DESK_LORA_KINDS];
    const desk_mat *mats[DESK_LORA_KINDS] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return mats[slot % DESK_LORA_KINDS];
}

/* Metadata: the file is a LoRA adapter for M's architecture; its alpha. */
static desk_status check_meta(const desk_model *m, const desk_gguf *g, float *alpha, desk_err *err) {
    static const struct {
        const char *key, *want;
    } strs[] = {{"general.type", "adapter"}, {"adapter.type", "lora"}, {"general.architecture", NULL}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *want = strs[i].want ? strs[i].want : m->arch_name;
        const desk_gguf_kv *kv = desk_gguf_find_kv(g, strs[i].key);
        if (!kv) return desk_errf(err, DESK_E_FORMAT, "key '%s' is missing (expected \"%s\")", strs[i].key, want);
        if (kv->value.type != DESK_GGUF_STRING)
            return desk_errf(err, DESK_E_FORMAT, "key '%s' (at offset %llu) is %s, expected the string \"%s\"",
                             strs[i].key, (unsigned long long)kv->offset, desk_gguf_vtype_name(kv->value.type), want);
        const desk_gguf_str *v = &kv->value.v.str;
        if (v->len != strlen(want) || memcmp(v->s, want, v->len) != 0) {
            char got[96];
            return desk_errf(err, strs[i].want ? DESK_E_FORMAT : DESK_E_UNSUPPORTED,
                             "key '%s' is \"%s\", expected \"%s\"%s", strs[i].key, printable(v, got, sizeof got), want,
                             strs[i].want ? "" : " (the base model's architecture)");
        }
    }
    *alpha = 0.0f;
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, "adapter.lora.alpha");
    if (kv) {
        if (kv->value.type != DESK_GGUF_FLOAT32 && kv->value.type != DESK_GGUF_FLOAT64)
            return desk_errf(err, DESK_E_FORMAT, "key 'adapter.lora.alpha' (at offset %llu) is %s, expected a float",
                             (unsigned long long)kv->offset, desk_gguf_vtype_name(kv->value.type));
        if (!isfinite(kv->value.v.f64) || fabs(kv->value.v.f64) > 1e30)
            return desk_errf(err, DESK_E_FORMAT, "key 'adapter.lora.alpha' is %g, not a finite float", kv->value.v.f64);
        *alpha = (float)kv->value.v.f64;
    }
    return DESK_OK;
}

/* A pair's tensors while the file's table is matched against the model. */
typedef struct pair_seen {
    const desk_gguf_tensor *a, *b;
} pair_seen;

/* Copies T (ROWS rows of COLS) out of the file as F32 into the arena,
 * refusing a non-finite value. */
static desk_status to_f32(desk_lora *l, const desk_gguf_tensor *t, int64_t cols, int64_t rows, const float **out,
                          desk_err *err) {
    char nm[96];
    const desk_type_info *ti = desk_type_get(t->type);
    if (!ti || !ti->dequant)
        return desk_errf(err, DESK_E_UNSUPPORTED, "tensor '%s' has type %s, which desk cannot read",
                         printable(&t->name, nm, sizeof nm), desk_type_name(t->type));
    float *dst = desk_arena_alloc(&l->arena, (size_t)rows * (size_t)cols * sizeof(float), 64);
    if (!dst) return desk_errf(err, DESK_E_NOMEM, "out of memory for tensor '%s'", printable(&t->name, nm, sizeof nm));
    const size_t row_bytes = desk_type_row_size(t->type, cols);
    for (int64_t r = 0; r < rows; r++) {
        float *row = dst + (size_t)r * (size_t)cols;
        desk_status s = desk_dequantize_row(t->type, (const unsigned char *)t->data + (size_t)r * row_bytes, row, cols, err);
        if (s) return desk_err_prefix(err, "tensor '%s'", printable(&t->name, nm, sizeof nm));
        for (int64_t c = 0; c < cols; c++)
            if (!isfinite(row[c]))
                return desk_errf(err, DESK_E_FORMAT, "tensor '%s' (info at offset %llu): element (row %lld, column %lld) is %s",
                                 printable(&t->name, nm, sizeof nm), (unsigned long long)t->info_offset, (long long)r,
                                 (long long)c, isnan(row[c]) ? "NaN" : "infinite");
    }
    *out = dst;
    return DESK_OK;
}

/* Checks one complete pair against its base matrix W and copies it. */
static desk_status take_pair(desk_lora *l, const char *base, const pair_seen *p, const desk_mat *w,
                             desk_lora_pair *out, desk_err *err) {
    const desk_gguf_tensor *a = p->a, *b = p->b;
    if (a->n_dims != 2 || b->n_dims != 2)
        return desk_errf(err, DESK_E_FORMAT, "tensor '%s.lora_%c' has %u dimensions, expected 2", base,
                         a->n_dims != 2 ? 'a' : 'b', a->n_dims != 2 ? a->n_dims : b->n_dims);
    if (a->ne[0] != w->cols)
        return desk_errf(err, DESK_E_FORMAT,
                         "tensor '%s.lora_a' has ne[0] = %lld, expected %lld (the columns of '%s'; wrong base model?)",
                         base, (long long)a->ne[0], (long long)w->cols, base);
    if (b->ne[1] != w->rows)
        return desk_errf(err, DESK_E_FORMAT,
                         "tensor '%s.lora_b' has ne[1] = %lld, expected %lld (the rows of '%s'; wrong base model?)", base,
                         (long long)b->ne[1], (long long)w->rows, base);
    if (a->ne[1] != b->ne[0])
        return desk_errf(err, DESK_E_FORMAT,
                         "rank mismatch for '%s': lora_a has ne[1] = %lld but lora_b has ne[0] = %lld", base,
                         (long long)a->ne[1], (long long)b->ne[0]);
    const int64_t rank = a->ne[1], most = w->cols < w->rows ? w->cols : w->rows;
    if (rank < 1 || rank > most)
        return desk_errf(err, DESK_E_FORMAT, "tensor '%s.lora_a' has rank (ne[1]) %lld, outside [1, %lld]", base,
                         (long long)rank, (long long)most);
    desk_status s;
    if ((s = to_f32(l, a, a->ne[0], rank, &out->a, err)) || (s = to_f32(l, b, rank, b->ne[1], &out->b, err))) return s;
    out->rank = (int32_t)rank;
    out->n_in = w->cols;
    out->n_out = w->rows;
    if (out->rank > l->max_rank) l->max_rank = out->rank;
    return DESK_OK;
}

/* Matches the file's tensors to M's matrices into SEEN (n_slots entries). */
static desk_status match_tensors(const desk_model *m, const desk_gguf *g, pair_seen *seen, desk_err *err) {
    char nm[96];
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, i);
        size_t stem;
        bool is_a = ends_with(&t->name, ".lora_a", &stem), is_b = !is_a && ends_with(&t->name, ".lora_b", &stem);
        if (!is_a && !is_b) {
            if (ends_with(&t->name, "_norm.weight", &stem)) continue; /* llama.cpp skips these too */
            return desk_errf(err, DESK_E_FORMAT, "tensor '%s' is not a LoRA tensor (names end in .lora_a or .lora_b)",
                             printable(&t->name, nm, sizeof nm));
        }
        bool token_embd;
        const int slot = base_slot(m, t->name.s, stem, &token_embd);
        if (slot < 0)
            return desk_errf(err, token_embd ? DESK_E_UNSUPPORTED : DESK_E_FORMAT, "tensor '%s': %s",
                             printable(&t->name, nm, sizeof nm),
                             token_embd ? "desk does not adapt the token embedding"
                                        : "the base model has no such matrix that desk adapts (wrong base model?)");
        const desk_gguf_tensor **dst = is_a ? &seen[slot].a : &seen[slot].b;
        if (*dst) return desk_errf(err, DESK_E_FORMAT, "tensor '%s' appears twice", printable(&t->name, nm, sizeof nm));
        *dst = t;
    }
    return DESK_OK;
}

/* The base name of SLOT into BUF (for messages). */
static const char *slot_name(const desk_model *m, int slot, char *buf, size_t cap) {
    if (slot == m->hp.n_layer * DESK_LORA_KINDS)
        snprintf(buf, cap, "output.weight");
    else
        snprintf(buf, cap, "blk.%d.%s.weight", slot / DESK_LORA_KINDS, kind_names[slot % DESK_LORA_KINDS]);
    return buf;
}

desk_status desk_lora_from_gguf(const desk_model *m, const desk_gguf *g, desk_lora **out, desk_err *err) {
    *out = NULL;
    float alpha;
    desk_status s = check_meta(m, g, &alpha, err);
    if (s) return s;
    desk_lora *l = calloc(1, sizeof *l);
    if (!l) return desk_errf(err, DESK_E_NOMEM, "out of memory for an adapter");
    desk_arena_init(&l->arena, 1 << 16);
    l->m = m;
    l->alpha = alpha;
    l->n_slots = m->hp.n_layer * DESK_LORA_KINDS + 1;
    pair_seen *seen = calloc((size_t)l->n_slots, sizeof *seen);
    l->slot = desk_arena_alloc(&l->arena, (size_t)l->n_slots * sizeof *l->slot, 8);
    if (!seen || !l->slot) {
        s = desk_errf(err, DESK_E_NOMEM, "out of memory for an adapter of %d slots", l->n_slots);
        goto fail;
    }
    memset(l->slot, 0, (size_t)l->n_slots * sizeof *l->slot);
    if ((s = match_tensors(m, g, seen, err))) goto fail;
    for (int i = 0; i < l->n_slots; i++) {
        if (!seen[i].a && !seen[i].b) continue;
        char base[96];
        slot_name(m, i, base, sizeof base);
        if (!seen[i].a || !seen[i].b) {
            s = desk_errf(err, DESK_E_FORMAT, "tensor '%s.lora_%c' has no partner '%s.lora_%c' (a pair is missing one half)",
                          base, seen[i].a ? 'a' : 'b', base, seen[i].a ? 'b' : 'a');
            goto fail;
        }
        desk_lora_pair *p = desk_arena_alloc(&l->arena, sizeof *p, 8);
        if (!p) {
            s = desk_errf(err, DESK_E_NOMEM, "out of memory for the pair of '%s'", base);
            goto fail;
        }
        if ((s = take_pair(l, base, &seen[i], slot_mat(m, i), p, err))) goto fail;
        l->slot[i] = p;
        l->n_pairs++;
    }
    if (l->n_pairs == 0) {
        s = desk_errf(err, DESK_E_FORMAT, "the adapter has no lora_a / lora_b tensors");
        goto fail;
    }
    free(seen);
    *out = l;
    return DESK_OK;
fail:
    free(seen);
    desk_lora_free(l);
    return s;
}

desk_status desk_lora_load(const desk_model *m, const char *path, desk_lora **out, desk_err *err) {
    *out = NULL;
    if (!m || !path) return desk_errf(err, DESK_E_ARG, "desk_lora_load needs a model and a path");
    desk_gguf *g = NULL;
    desk_status s = desk_gguf_open(path, &g, err);
    if (!s) {
        s = desk_lora_from_gguf(m, g, out, err);
        desk_gguf_close(g);
    }
    /* The reader's messages start with the path already. */
    if (s && err && strncmp(err->msg, path, strlen(path)) != 0) desk_err_prefix(err, "%s", path);
    if (s) desk_err_prefix(err, "adapter");
    return s;
}

void desk_lora_free(desk_lora *l) {
    if (!l) return;
    desk_arena_free(&l->arena);
    free(l);
}

float desk_lora_alpha(const desk_lora *l) { return l->alpha; }
int desk_lora_n_pairs(const desk_lora *l) { return l->n_pairs; }
int desk_lora_max_rank(const desk_lora *l) { return l->max_rank; }

/* ---- writing --------------------------------------------------------- */

static desk_status check_tensor(const desk_lora_tensor *t, size_t i, desk_err *err) {
    if (!t->base || !t->base[0] || strlen(t->base) > 200)
        return desk_errf(err, DESK_E_ARG, "adapter pair %zu: the base tensor name is empty or too long", i);
    if (t->n_in < 1 || t->n_out < 1 || t->n_in > (1 << 24) || t->n_out > (1 << 24) || t->rank < 1 ||
        t->rank > t->n_in || t->rank > t->n_out || !t->a || !t->b)
        return desk_errf(err, DESK_E_ARG, "adapter pair '%s': n_in %lld, n_out %lld, rank %d (need 1 <= rank <= both, and data)",
                         t->base, (long long)t->n_in, (long long)t->n_out, (int)t->rank);
    const size_t na = (size_t)t->rank * (size_t)t->n_in, nb = (size_t)t->rank * (size_t)t->n_out;
    for (size_t k = 0; k < na + nb; k++) {
        const float v = k < na ? t->a[k] : t->b[k - na];
        if (!isfinite(v))
            return desk_errf(err, DESK_E_ARG, "adapter pair '%s': lora_%c element %zu is not finite", t->base,
                             k < na ? 'a' : 'b', k < na ? k : k - na);
    }
    return DESK_OK;
}

/* Adds one tensor NAME = BASE + SUFFIX of COLS x ROWS floats in TYPE; an
 * F16 copy is made in ARENA (it must live until the write). */
static desk_status add_one(desk_gguf_writer *w, desk_arena *arena, const char *base, const char *suffix, uint32_t type,
                           int64_t cols, int64_t rows, const float *src, desk_err *err) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    const int64_t ne[2] = {cols, rows};
    const void *data = src;
    if (type == DESK_TYPE_F16) {
        const size_t n = (size_t)cols * (size_t)rows;
        desk_f16 *h = desk_arena_alloc(arena, n * sizeof *h, 64);
        if (!h) return desk_errf(err, DESK_E_NOMEM, "out of memory converting '%s' to F16", name);
        for (size_t k = 0; k < n; k++) h[k] = desk_f32_to_f16(src[k]);
        data = h;
    }
    return desk_gguf_writer_add_tensor(w, name, type, 2, ne, data, err);
}

desk_status desk_lora_write(const char *path, const char *arch, float alpha, const desk_lora_tensor *t, size_t n,
                            uint32_t type, desk_err *err) {
    if (!path || !arch || !arch[0] || (!t && n))
        return desk_errf(err, DESK_E_ARG, "desk_lora_write needs a path, an architecture and pairs");
    if (type != DESK_TYPE_F32 && type != DESK_TYPE_F16)
        return desk_errf(err, DESK_E_ARG, "adapter tensors are written as F32 or F16, not %s", desk_type_name(type));
    if (!isfinite(alpha)) return desk_errf(err, DESK_E_ARG, "adapter alpha %g is not finite", (double)alpha);
    desk_status s;
    for (size_t i = 0; i < n; i++)
        if ((s = check_tensor(&t[i], i, err))) return s;
    desk_gguf_writer *w = NULL;
    if ((s = desk_gguf_writer_new(&w, err))) return s;
    desk_arena arena;
    desk_arena_init(&arena, 1 << 16);
    if ((s = desk_gguf_writer_set_str(w, "general.architecture", arch, err)) ||
        (s = desk_gguf_writer_set_str(w, "general.type", "adapter", err)) ||
        (s = desk_gguf_writer_set_str(w, "adapter.type", "lora", err)) ||
        (s = desk_gguf_writer_set_f32(w, "adapter.lora.alpha", alpha, err)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if ((s = add_one(w, &arena, t[i].base, ".lora_a", type, t[i].n_in, t[i].rank, t[i].a, err)) ||
            (s = add_one(w, &arena, t[i].base, ".lora_b", type, t[i].rank, t[i].n_out, t[i].b, err)))
            goto done;
    s = desk_gguf_writer_write(w, path, err);
done:
    desk_gguf_writer_free(w);
    desk_arena_free(&arena);
    return s;
}
