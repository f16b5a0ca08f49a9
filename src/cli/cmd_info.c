/*
 * cmd_info.c - `desk info MODEL [--json] [--full]`: what a GGUF file holds
 * (metadata, tokenizer, tensors, totals) and what loading it would cost in
 * memory.  Text for people, one JSON object (json-c) for programs.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sandbox.h"
#include "desk.h"
#include "desk/plan.h"

#define KV_CTX_CAP 4096   /* the KV cache estimate caps the context here */
#define COMPUTE_BATCH 512 /* tokens per prompt batch in the compute estimate */
#define JSON_HEAD 16      /* arrays longer than this print as a summary */

static const char USAGE[] =
    "usage: desk info MODEL [--json [--full]]\n"
    "\n"
    "Shows what a GGUF file holds and what loading it would take.  MODEL is a\n"
    "path or a known model name (smollm2, gemma3-270m).  The file is validated\n"
    "first; a malformed one is reported in one line (exit 2), and so is\n"
    "metadata that contradicts itself: tokenizer arrays of different lengths,\n"
    "special token ids outside the vocabulary, zero or non-dividing head\n"
    "counts, non-finite rope base or epsilon, a context length past 2^24, or\n"
    "a block_count that does not match the blk.N tensors.  A model (tensors\n"
    "and a block_count) of an architecture desk runs (llama, gemma3, qwen2,\n"
    "qwen3, qwen3moe) must also pass the loader's tensor checks (each tensor\n"
    "present with its shape and type), as `desk run` does.\n"
    "\n"
    "Text output: the file (path, size, GGUF version, alignment, data offset);\n"
    "the architecture and all its <arch>.* hyperparameters; general.* keys;\n"
    "the tokenizer (model, pre-tokenizer, vocab size, special token ids, chat\n"
    "template present and its length); other keys; a tensor table (name, type,\n"
    "shape, bytes); totals (tensors, parameters, bytes per type; for a mixture\n"
    "of experts also the parameters and bytes one token reads: the routed\n"
    "expert_used_count of expert_count experts of each ffn_*_exps tensor,\n"
    "everything else whole); and memory:\n"
    "  weights   the tensor bytes, used in place from the mapped file\n"
    "  KV cache  F16 K and V for n_ctx = min(<arch>.context_length, 4096):\n"
    "            2 bytes * n_ctx * sum over layers of head_count_kv\n"
    "            * (key_length + value_length); key/value_length default to\n"
    "            embedding_length / head_count\n"
    "  compute   an estimate for a prompt batch of B = min(512, n_ctx) tokens:\n"
    "            4 bytes * (B * (4 * n_embd + 2 * n_ff + n_vocab)\n"
    "                       + B * n_ctx * head_count)\n"
    "Last, the kernels desk would run it with on this machine: the table in use\n"
    "(the best this CPU runs, or DESK_ISA's; \"none\" with the reason when\n"
    "DESK_ISA names one it cannot) and every table this CPU runs.\n"
    "\n"
    "--json   print one JSON object instead: file, size, version, alignment,\n"
    "         data_offset, metadata {key: value}, metadata_types {key: type;\n"
    "         arrays as \"ARRAY[ELEMENT_TYPE]\"}, tensors [{name, type, shape,\n"
    "         offset (from the data section), file_offset, bytes}], totals,\n"
    "         memory, kernels {isa, available [names], error when isa is \"none\"}.\n"
    "         An array longer than 16 prints as {\"type\", \"length\",\n"
    "         \"head\": first 16 elements}; strings keep their exact bytes.\n"
    "--full   with --json: print every array in full\n";

/* general.file_type values (llama.cpp's llama_ftype), for the text view. */
static const char *const FTYPES[] = {
    [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0", [9] = "Q5_1",
    [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M",
    [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K", [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S",
    [22] = "IQ3_XS", [23] = "IQ3_XXS", [24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S", [27] = "IQ3_M",
    [28] = "IQ2_S", [29] = "IQ2_M", [30] = "IQ4_XS", [31] = "IQ1_M", [32] = "BF16", [36] = "TQ1_0",
    [37] = "TQ2_0", [38] = "MXFP4_MOE",
};

typedef struct memory {
    uint64_t weights, kv, compute, n_ctx, batch;
    uint64_t active_params, active_weights; /* what a token reads (experts: the routed ones) */
    uint32_t n_expert, n_expert_used;       /* 0: dense */
} memory;

typedef struct totals {
    uint64_t params, bytes;
    uint64_t n[DESK_TYPE_COUNT], b[DESK_TYPE_COUNT], p[DESK_TYPE_COUNT];
} totals;

/* ---- reading what info needs ------------------------------------------ */

static bool is_int(desk_gguf_vtype t) {
    return t <= DESK_GGUF_INT32 || t == DESK_GGUF_UINT64 || t == DESK_GGUF_INT64;
}

static uint64_t int_of(const desk_gguf_value *v) {
    if (v->type == DESK_GGUF_INT8 || v->type == DESK_GGUF_INT16 || v->type == DESK_GGUF_INT32 ||
        v->type == DESK_GGUF_INT64)
        return v->v.i64 < 0 ? 0 : (uint64_t)v->v.i64;
    return v->v.u64;
}

/* ---- consistency: what metadata alone can show is wrong --------------- */

/* Length of the array KEY (0 and *TYPE untouched when absent or not an array). */
static bool arr_len(const desk_gguf *g, const char *key, desk_gguf_vtype *type, uint64_t *n) {
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, key);
    if (!kv || kv->value.type != DESK_GGUF_ARRAY) return false;
    if (type) *type = kv->value.v.arr.type;
    *n = kv->value.v.arr.n;
    return true;
}

static desk_status check_tokenizer(const desk_gguf *g, desk_err *err) {
    desk_gguf_vtype tt;
    uint64_t n_tok = 0, n;
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!kv) return DESK_OK;
    if (!arr_len(g, "tokenizer.ggml.tokens", &tt, &n_tok) || tt != DESK_GGUF_STRING)
        return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.tokens (key at offset %llu) is not an array of strings",
                         (unsigned long long)kv->offset);
    if (n_tok == 0 || n_tok > INT32_MAX)
        return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.tokens has %llu entries (want 1..%d)",
                         (unsigned long long)n_tok, INT32_MAX);
    static const char *const per_token[] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
    for (size_t i = 0; i < sizeof per_token / sizeof *per_token; i++) {
        const desk_gguf_kv *a = desk_gguf_find_kv(g, per_token[i]);
        if (!a) continue;
        if (!arr_len(g, per_token[i], NULL, &n) || n != n_tok)
            return desk_errf(err, DESK_E_FORMAT, "%s (key at offset %llu) has %llu entries but tokenizer.ggml.tokens has %llu",
                             per_token[i], (unsigned long long)a->offset,
                             (unsigned long long)(a->value.type == DESK_GGUF_ARRAY ? a->value.v.arr.n : 1),
                             (unsigned long long)n_tok);
    }
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        const desk_gguf_kv *k = desk_gguf_kv_at(g, i);
        size_t kl = (size_t)k->key.len;
        if (kl < 24 || memcmp(k->key.s, "tokenizer.ggml.", 15) != 0 || strcmp(k->key.s + kl - 9, "_token_id") != 0)
            continue;
        const desk_gguf_value *v = &k->value;
        if (!is_int(v->type)) continue;
        bool neg = (v->type == DESK_GGUF_INT8 || v->type == DESK_GGUF_INT16 || v->type == DESK_GGUF_INT32 ||
                    v->type == DESK_GGUF_INT64) && v->v.i64 < 0;
        if (neg) continue; /* -1 means "none" */
        if (v->v.u64 >= n_tok)
            return desk_errf(err, DESK_E_FORMAT, "%s = %llu (key at offset %llu) is not a token id (vocab has %llu tokens)",
                             k->key.s, (unsigned long long)v->v.u64, (unsigned long long)k->offset,
                             (unsigned long long)n_tok);
    }
    return DESK_OK;
}

/* What desk_hparams_read cannot see: blk.N.* tensors must exist for
 * N < block_count and only for those. */
static desk_status check_blocks(const desk_gguf *g, const desk_hparams *h, desk_err *err) {
    if (!h->arch) return DESK_OK;
    uint64_t top = 0;
    bool any = false;
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const char *nm = desk_gguf_tensor_at(g, i)->name.s;
        unsigned long long b;
        int used = 0;
        if (sscanf(nm, "blk.%llu.%n", &b, &used) == 1 && used > 0) {
            any = true;
            if (b + 1 > top) top = b + 1;
        }
    }
    if (any && top != (uint64_t)h->n_layer)
        return desk_errf(err, DESK_E_FORMAT, "%s.block_count = %d but the tensors name blocks 0..%llu", h->arch,
                         h->n_layer, (unsigned long long)(top - 1));
    return DESK_OK;
}

static void compute_totals(const desk_gguf *g, totals *t) {
    memset(t, 0, sizeof *t);
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *x = desk_gguf_tensor_at(g, i);
        uint64_t nel = (uint64_t)(x->ne[0] * x->ne[1] * x->ne[2] * x->ne[3]); /* checked by the reader */
        t->params += nel;
        t->bytes += x->nbytes;
        t->n[x->type]++;
        t->b[x->type] += x->nbytes;
        t->p[x->type] += nel;
    }
}

/* Whether H has what the KV cache and compute estimates need. */
static bool have_shape(const desk_hparams *h) { return h->n_layer > 0 && h->n_embd > 0 && h->n_head > 0; }

/* The plan's memory model (plan.h) at n_ctx = min(context_length, 4096)
 * and F16 K and V, as a load with defaults would take. */
static void compute_memory(const desk_gguf *g, const desk_hparams *h, memory *m) {
    memset(m, 0, sizeof *m);
    m->n_ctx = h->n_ctx_train > 0 && h->n_ctx_train < KV_CTX_CAP ? (uint64_t)h->n_ctx_train : KV_CTX_CAP;
    m->batch = m->n_ctx < COMPUTE_BATCH ? m->n_ctx : COMPUTE_BATCH;
    desk_plan_model pm;
    desk_plan_file(g, h, &(desk_plan_params){.n_ctx = (uint32_t)m->n_ctx, .n_parallel = 1, .n_batch = COMPUTE_BATCH},
                   &pm);
    m->weights = pm.weights;
    m->active_params = pm.active_params;
    m->active_weights = pm.active_weights;
    m->n_expert = pm.n_expert;
    m->n_expert_used = pm.n_expert_used;
    m->kv = pm.kv;
    m->compute = pm.compute;
}

/* ---- text ------------------------------------------------------------- */

static void human(char *buf, size_t cap, uint64_t bytes) {
    if (bytes < 1024) snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else if (bytes < (1u << 20)) snprintf(buf, cap, "%.1f KiB", bytes / 1024.0);
    else if (bytes < (1u << 30)) snprintf(buf, cap, "%.1f MiB", bytes / 1048576.0);
    else snprintf(buf, cap, "%.2f GiB", bytes / 1073741824.0);
}

/* A string, quoted and escaped, cut after LIMIT bytes. */
static void put_str(FILE *f, const char *s, uint64_t len, uint64_t limit) {
    fputc('"', f);
    for (uint64_t i = 0; i < len && i < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
    if (len > limit) fprintf(f, "... (%llu bytes)", (unsigned long long)len);
}

static void put_value(FILE *f, const desk_gguf_value *v);

static void put_value(FILE *f, const desk_gguf_value *v) {
    switch (v->type) {
    case DESK_GGUF_UINT8: case DESK_GGUF_UINT16: case DESK_GGUF_UINT32: case DESK_GGUF_UINT64:
        fprintf(f, "%llu", (unsigned long long)v->v.u64);
        break;
    case DESK_GGUF_INT8: case DESK_GGUF_INT16: case DESK_GGUF_INT32: case DESK_GGUF_INT64:
        fprintf(f, "%lld", (long long)v->v.i64);
        break;
    case DESK_GGUF_FLOAT32: case DESK_GGUF_FLOAT64: fprintf(f, "%g", v->v.f64); break;
    case DESK_GGUF_BOOL: fputs(v->v.b ? "true" : "false", f); break;
    case DESK_GGUF_STRING: put_str(f, v->v.str.s, v->v.str.len, 80); break;
    case DESK_GGUF_ARRAY:
        fprintf(f, "[%llu x %s] [", (unsigned long long)v->v.arr.n, desk_gguf_vtype_name(v->v.arr.type));
        for (uint64_t i = 0; i < v->v.arr.n && i < 4; i++) {
            if (i) fputs(", ", f);
            desk_gguf_value e = desk_gguf_arr_elem(v, i);
            put_value(f, &e);
        }
        fputs(v->v.arr.n > 4 ? ", ...]" : "]", f);
        break;
    default: fputs("?", f); break;
    }
}

static bool has_prefix(const desk_gguf_str *k, const char *p) {
    size_t n = strlen(p);
    return k->len >= n && memcmp(k->s, p, n) == 0;
}

/* Prints every key starting with PREFIX (NULL: keys in no group). */
static void put_keys(FILE *f, const desk_gguf *g, const char *prefix, const char *arch) {
    int n = 0;
    char ap[256];
    snprintf(ap, sizeof ap, "%s.", arch ? arch : "");
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(g, i);
        if (prefix ? !has_prefix(&kv->key, prefix)
                   : has_prefix(&kv->key, "general.") || has_prefix(&kv->key, "tokenizer.") ||
                         (arch && has_prefix(&kv->key, ap)))
            continue;
        bool plain = strlen(kv->key.s) == kv->key.len;
        for (uint64_t j = 0; plain && j < kv->key.len; j++)
            plain = kv->key.s[j] > 0x20 && kv->key.s[j] < 0x7f;
        fputs("  ", f);
        if (plain) fputs(kv->key.s, f);
        else put_str(f, kv->key.s, kv->key.len, 200); /* odd bytes: quoted and escaped */
        fprintf(f, "%*s", kv->key.len < 44 ? (int)(44 - kv->key.len) : 1, "");
        put_value(f, &kv->value);
        if (strcmp(kv->key.s, "general.file_type") == 0 && is_int(kv->value.type)) {
            uint64_t ft = int_of(&kv->value);
            if (ft < sizeof FTYPES / sizeof FTYPES[0] && FTYPES[ft]) fprintf(f, " (%s)", FTYPES[ft]);
        }
        fputc('\n', f);
        n++;
    }
    if (!n) fputs("  (none)\n", f);
}

static void put_tokenizer(FILE *f, const desk_gguf *g) {
    const char *model = NULL, *pre = NULL;
    desk_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL);
    desk_gguf_get_str(g, "tokenizer.ggml.pre", &pre, NULL);
    desk_gguf_vtype tt = DESK_GGUF_UINT8;
    uint64_t n_tok = 0, n_merges = 0;
    const void *toks = NULL;
    desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &tt, &n_tok, &toks, NULL);
    desk_gguf_get_arr(g, "tokenizer.ggml.merges", NULL, &n_merges, NULL, NULL);
    fprintf(f, "tokenizer:\n  model %s, pre-tokenizer %s, vocab %llu tokens, %llu merges\n", model ? model : "(none)",
            pre ? pre : "(none)", (unsigned long long)n_tok, (unsigned long long)n_merges);
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(g, i);
        const char *k = kv->key.s;
        size_t kl = strlen(k);
        if (!has_prefix(&kv->key, "tokenizer.ggml.") || kl < 24 || strcmp(k + kl - 9, "_token_id") != 0 ||
            !is_int(kv->value.type))
            continue;
        /* What the file says: a negative id is shown as it is, -1 as
         * "none" (its meaning), any other as not a token. */
        const desk_gguf_value *v = &kv->value;
        bool is_signed = v->type == DESK_GGUF_INT8 || v->type == DESK_GGUF_INT16 || v->type == DESK_GGUF_INT32 ||
                         v->type == DESK_GGUF_INT64;
        if (is_signed && v->v.i64 < 0) {
            fprintf(f, "  %-10.*s %lld (%s)\n", (int)(kl - 24), k + 15, (long long)v->v.i64,
                    v->v.i64 == -1 ? "none" : "not a token id");
            continue;
        }
        uint64_t id = int_of(v);
        fprintf(f, "  %-10.*s %llu", (int)(kl - 24), k + 15, (unsigned long long)id);
        if (tt == DESK_GGUF_STRING && id < n_tok) {
            const desk_gguf_str *s = (const desk_gguf_str *)toks + id;
            fputc(' ', f);
            put_str(f, s->s, s->len, 40);
        }
        fputc('\n', f);
    }
    const desk_gguf_kv *ct = desk_gguf_find_kv(g, "tokenizer.chat_template");
    if (ct && ct->value.type == DESK_GGUF_STRING)
        fprintf(f, "  chat template: present (%llu bytes)\n", (unsigned long long)ct->value.v.str.len);
    else
        fprintf(f, "  chat template: none\n");
}

static void shape_str(char *buf, size_t cap, const desk_gguf_tensor *t) {
    int n = snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
}

static void print_text(FILE *f, const char *path, const desk_gguf *g, const desk_hparams *h, const totals *t,
                       const memory *m) {
    char a[32], b[32], c[32], d[32];
    human(a, sizeof a, desk_gguf_file_size(g));
    fputs("file: ", f);
    cli_put_escaped(f, path, strlen(path));
    fprintf(f, "\n  size %llu bytes (%s), GGUF version %u, alignment %llu, tensor data at offset %llu\n",
            (unsigned long long)desk_gguf_file_size(g), a, desk_gguf_version(g),
            (unsigned long long)desk_gguf_alignment(g), (unsigned long long)desk_gguf_data_offset(g));
    if (h->arch) {
        fprintf(f, "architecture: %s\n", h->arch);
        char pre[256];
        snprintf(pre, sizeof pre, "%s.", h->arch);
        put_keys(f, g, pre, h->arch);
    } else {
        fprintf(f, "architecture: (none: general.architecture is missing)\n");
    }
    fprintf(f, "general:\n");
    put_keys(f, g, "general.", h->arch);
    put_tokenizer(f, g);
    fprintf(f, "other keys:\n");
    put_keys(f, g, NULL, h->arch);
    if (desk_gguf_n_tensors(g) == 0) {
        fprintf(f, "tensors: none (a vocab-only file)\n");
    } else {
        fprintf(f, "tensors (%lld):\n  %-40s %-8s %-24s %s\n", (long long)desk_gguf_n_tensors(g), "name", "type", "shape",
                "bytes");
        for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
            const desk_gguf_tensor *x = desk_gguf_tensor_at(g, i);
            char shape[96];
            shape_str(shape, sizeof shape, x);
            fprintf(f, "  ");
            int w = (int)fprintf(f, "%s", x->name.s);
            fprintf(f, "%*s %-8s %-24s %llu\n", w < 40 ? 40 - w : 0, "", desk_type_name(x->type), shape,
                    (unsigned long long)x->nbytes);
        }
    }
    human(a, sizeof a, t->bytes);
    fprintf(f, "totals: %lld tensors, %llu parameters, %llu bytes (%s)\n", (long long)desk_gguf_n_tensors(g),
            (unsigned long long)t->params, (unsigned long long)t->bytes, a);
    for (int i = 0; i < DESK_TYPE_COUNT; i++) {
        if (!t->n[i]) continue;
        human(a, sizeof a, t->b[i]);
        fprintf(f, "  %-8s %5llu tensors %12llu parameters %12llu bytes (%s)\n", desk_type_name((uint32_t)i),
                (unsigned long long)t->n[i], (unsigned long long)t->p[i], (unsigned long long)t->b[i], a);
    }
    if (m->n_expert) {
        human(a, sizeof a, m->active_weights);
        fprintf(f, "  active per token: %llu parameters, %llu bytes (%s): %u of %u experts\n",
                (unsigned long long)m->active_params, (unsigned long long)m->active_weights, a, m->n_expert_used,
                m->n_expert);
    }
    human(a, sizeof a, m->weights);
    fprintf(f, "memory to load:\n  weights (mapped)  %s\n", a);
    if (!have_shape(h)) {
        fprintf(f, "  KV cache and compute: unknown (no %s hyperparameters)\n", h->arch ? h->arch : "architecture");
        return;
    }
    human(b, sizeof b, m->kv);
    human(c, sizeof c, m->compute);
    human(d, sizeof d, m->weights + m->kv + m->compute);
    fprintf(f, "  KV cache (F16)    %s at n_ctx %llu (context_length %llu, capped at %d)\n", b,
            (unsigned long long)m->n_ctx, (unsigned long long)h->n_ctx_train, KV_CTX_CAP);
    fprintf(f, "  compute (est.)    %s for a %llu-token batch (see --help)\n", c, (unsigned long long)m->batch);
    fprintf(f, "  total             %s\n", d);
}

/* The kernel tables: *ISA the one in use ("none" when DESK_ISA names one
 * this build or CPU cannot run; ERR says why), AVAIL[0..return) the
 * names of those this CPU runs. */
#define MAX_ISA 16

static int kernels_of(const char **isa, const char **avail, desk_err *err) {
    *isa = desk_isa_current(err);
    const size_t n = desk_isa_available(avail, MAX_ISA);
    return (int)(n < MAX_ISA ? n : MAX_ISA);
}

static void print_kernels_text(FILE *f) {
    const char *isa, *avail[MAX_ISA];
    desk_err err = {0};
    const int n = kernels_of(&isa, avail, &err);
    fprintf(f, "kernels: %s", isa);
    if (err.status) fprintf(f, " (%s)", err.msg);
    fputs("; this CPU runs", f);
    for (int i = 0; i < n; i++) fprintf(f, " %s", avail[i]);
    fputc('\n', f);
}

/* ---- JSON ------------------------------------------------------------- */

static json_object *jvalue(const desk_gguf_value *v, bool full);

static json_object *jvalue(const desk_gguf_value *v, bool full) {
    switch (v->type) {
    case DESK_GGUF_UINT8: case DESK_GGUF_UINT16: case DESK_GGUF_UINT32: case DESK_GGUF_UINT64:
        return json_object_new_uint64(v->v.u64);
    case DESK_GGUF_INT8: case DESK_GGUF_INT16: case DESK_GGUF_INT32: case DESK_GGUF_INT64:
        return json_object_new_int64(v->v.i64);
    case DESK_GGUF_FLOAT32: case DESK_GGUF_FLOAT64:
        /* NaN and infinities are not JSON: null (the text view shows them) */
        return isfinite(v->v.f64) ? json_object_new_double(v->v.f64) : NULL;
    case DESK_GGUF_BOOL: return json_object_new_boolean(v->v.b);
    case DESK_GGUF_STRING: return json_object_new_string_len(v->v.str.s, (int)v->v.str.len);
    case DESK_GGUF_ARRAY: {
        uint64_t n = v->v.arr.n, shown = full || n <= JSON_HEAD ? n : JSON_HEAD;
        json_object *arr = json_object_new_array_ext((int)shown);
        for (uint64_t i = 0; i < shown; i++) {
            desk_gguf_value e = desk_gguf_arr_elem(v, i);
            json_object_array_add(arr, jvalue(&e, full));
        }
        if (shown == n) return arr;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string(desk_gguf_vtype_name(v->v.arr.type)));
        json_object_object_add(o, "length", json_object_new_uint64(n));
        json_object_object_add(o, "head", arr);
        return o;
    }
    default: return NULL;
    }
}

static void type_name(char *buf, size_t cap, const desk_gguf_value *v) {
    if (v->type == DESK_GGUF_ARRAY)
        snprintf(buf, cap, "ARRAY[%s]", desk_gguf_vtype_name(v->v.arr.type));
    else
        snprintf(buf, cap, "%s", desk_gguf_vtype_name(v->type));
}

static void jadd_u64(json_object *o, const char *k, uint64_t v) { json_object_object_add(o, k, json_object_new_uint64(v)); }

static void print_json(FILE *f, const char *path, const desk_gguf *g, const desk_hparams *h, const totals *t,
                       const memory *m, bool full) {
    json_object *root = json_object_new_object();
    json_object_object_add(root, "file", json_object_new_string(path));
    jadd_u64(root, "size", desk_gguf_file_size(g));
    jadd_u64(root, "version", desk_gguf_version(g));
    jadd_u64(root, "alignment", desk_gguf_alignment(g));
    jadd_u64(root, "data_offset", desk_gguf_data_offset(g));
    json_object *md = json_object_new_object(), *mt = json_object_new_object();
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(g, i);
        char tn[64];
        type_name(tn, sizeof tn, &kv->value);
        /* Keys are C strings to json-c; one with a NUL byte is cut there. */
        json_object_object_add(md, kv->key.s, jvalue(&kv->value, full));
        json_object_object_add(mt, kv->key.s, json_object_new_string(tn));
    }
    json_object_object_add(root, "metadata", md);
    json_object_object_add(root, "metadata_types", mt);
    json_object *ts = json_object_new_array_ext((int)desk_gguf_n_tensors(g));
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *x = desk_gguf_tensor_at(g, i);
        json_object *o = json_object_new_object(), *shape = json_object_new_array();
        json_object_object_add(o, "name", json_object_new_string_len(x->name.s, (int)x->name.len));
        json_object_object_add(o, "type", json_object_new_string(desk_type_name(x->type)));
        for (uint32_t d = 0; d < x->n_dims; d++) json_object_array_add(shape, json_object_new_int64(x->ne[d]));
        json_object_object_add(o, "shape", shape);
        jadd_u64(o, "offset", x->offset);
        jadd_u64(o, "file_offset", desk_gguf_data_offset(g) + x->offset);
        jadd_u64(o, "bytes", x->nbytes);
        json_object_array_add(ts, o);
    }
    json_object_object_add(root, "tensors", ts);
    json_object *to = json_object_new_object(), *bt = json_object_new_object();
    jadd_u64(to, "tensors", (uint64_t)desk_gguf_n_tensors(g));
    jadd_u64(to, "parameters", t->params);
    jadd_u64(to, "bytes", t->bytes);
    jadd_u64(to, "active_parameters", m->active_params);
    jadd_u64(to, "active_bytes", m->active_weights);
    jadd_u64(to, "experts", m->n_expert);
    jadd_u64(to, "experts_used", m->n_expert_used);
    for (int i = 0; i < DESK_TYPE_COUNT; i++) {
        if (!t->n[i]) continue;
        json_object *o = json_object_new_object();
        jadd_u64(o, "tensors", t->n[i]);
        jadd_u64(o, "parameters", t->p[i]);
        jadd_u64(o, "bytes", t->b[i]);
        json_object_object_add(bt, desk_type_name((uint32_t)i), o);
    }
    json_object_object_add(to, "by_type", bt);
    json_object_object_add(root, "totals", to);
    json_object *mem = json_object_new_object();
    jadd_u64(mem, "weights", m->weights);
    if (have_shape(h)) {
        jadd_u64(mem, "kv_cache", m->kv);
        json_object_object_add(mem, "kv_type", json_object_new_string("F16"));
        jadd_u64(mem, "n_ctx", m->n_ctx);
        jadd_u64(mem, "compute", m->compute);
        jadd_u64(mem, "compute_batch", m->batch);
        jadd_u64(mem, "total", m->weights + m->kv + m->compute);
    }
    json_object_object_add(root, "memory", mem);
    const char *isa, *avail[MAX_ISA];
    desk_err err = {0};
    const int n = kernels_of(&isa, avail, &err);
    json_object *k = json_object_new_object(), *ka = json_object_new_array();
    json_object_object_add(k, "isa", json_object_new_string(isa));
    for (int i = 0; i < n; i++) json_object_array_add(ka, json_object_new_string(avail[i]));
    json_object_object_add(k, "available", ka);
    if (err.status) json_object_object_add(k, "error", json_object_new_string(err.msg));
    json_object_object_add(root, "kernels", k);
    fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), f);
    fputc('\n', f);
    json_object_put(root);
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    bool json = false, full = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--full") == 0) full = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("info", DESK_EXIT_USAGE, "unknown option '%s' (see --help)", argv[i]);
        else if (model) return cli_fail("info", DESK_EXIT_USAGE, "more than one MODEL given ('%s', '%s')", model, argv[i]);
        else model = argv[i];
    }
    if (!model) return cli_fail("info", DESK_EXIT_USAGE, "no MODEL given (usage: desk info MODEL [--json])");
    if (full && !json) return cli_fail("info", DESK_EXIT_USAGE, "--full needs --json");
    char path[4096];
    desk_err err = {0};
    desk_gguf *g = NULL;
    if (desk_model_resolve(model, path, sizeof path, &err) != DESK_OK) return cli_fail_err("info", &err);
    {
        const char *reads[] = {path};
        int bad = cli_sandbox_apply("info", &(cli_sandbox_spec){.read = reads, .n_read = 1});
        if (bad) return bad;
    }
    if (desk_gguf_open(path, &g, &err) != DESK_OK) return cli_fail_err("info", &err);
    desk_hparams h;
    totals t;
    memory m;
    if (desk_hparams_read(g, &h, &err) != DESK_OK || check_tokenizer(g, &err) != DESK_OK ||
        check_blocks(g, &h, &err) != DESK_OK) {
        desk_gguf_close(g);
        return cli_fail("info", DESK_EXIT_USAGE, "%s: %s", path, err.msg);
    }
    /* A file of an architecture desk runs must also pass the loader's tensor
     * checks (presence, shape, type): info refuses what `desk run` would.
     * Files without tensors or a block_count (vocabularies, GGUF samples)
     * and other architectures are shown as they are. */
    if (desk_gguf_n_tensors(g) > 0 && h.n_layer > 0 && h.arch &&
        desk_model_arch_supported(h.arch)) {
        desk_model *dm = NULL;
        if (desk_model_load(path, &(desk_model_params){.no_repack = true}, &dm, &err) != DESK_OK) {
            desk_gguf_close(g);
            return cli_fail_err("info", &err);
        }
        desk_model_free(dm);
    }
    compute_totals(g, &t);
    compute_memory(g, &h, &m);
    if (json) print_json(stdout, path, g, &h, &t, &m, full);
    else {
        print_text(stdout, path, g, &h, &t, &m);
        print_kernels_text(stdout);
    }
    desk_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail("info", DESK_EXIT_FAIL, "error writing the output");
    return 0;
}
