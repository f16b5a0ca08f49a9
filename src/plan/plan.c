/*
 * plan.c - memory plans from presets and GGUF headers (see plan.h).
 *
 * The preset shapes are copied from each model's public config.json on the
 * Hugging Face hub (the repository is named in `source`); the parameter
 * count is then derived from the shape, and the model card's published
 * count is kept beside it so a test can check the derivation.
 */
#include "plan/plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

#define DEFAULT_CTX 2048
#define DEFAULT_BATCH 512

static const desk_arch_shape PRESETS[] = {
    {.name = "llama-3-8b", .source = "meta-llama/Meta-Llama-3-8B config.json",
     .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336,
     .n_vocab = 128256, .n_expert = 1, .n_expert_used = 1, .n_ctx_train = 8192,
     .published_params = 8030000000ull},
    {.name = "llama-3-70b", .source = "meta-llama/Meta-Llama-3-70B config.json",
     .n_layer = 80, .n_embd = 8192, .n_head = 64, .n_head_kv = 8, .head_dim = 128, .n_ff = 28672,
     .n_vocab = 128256, .n_expert = 1, .n_expert_used = 1, .n_ctx_train = 8192,
     .published_params = 70600000000ull},
    {.name = "mixtral-8x7b", .source = "mistralai/Mixtral-8x7B-v0.1 config.json",
     .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336,
     .n_vocab = 32000, .n_expert = 8, .n_expert_used = 2, .n_ctx_train = 32768,
     .published_params = 46700000000ull},
    {.name = "mixtral-8x22b", .source = "mistralai/Mixtral-8x22B-v0.1 config.json",
     .n_layer = 56, .n_embd = 6144, .n_head = 48, .n_head_kv = 8, .head_dim = 128, .n_ff = 16384,
     .n_vocab = 32768, .n_expert = 8, .n_expert_used = 2, .n_ctx_train = 65536,
     .published_params = 140600000000ull},
    {.name = "qwen2.5-7b", .source = "Qwen/Qwen2.5-7B config.json",
     .n_layer = 28, .n_embd = 3584, .n_head = 28, .n_head_kv = 4, .head_dim = 128, .n_ff = 18944,
     .n_vocab = 152064, .n_expert = 1, .n_expert_used = 1, .n_ctx_train = 32768, .qkv_bias = true,
     .published_params = 7610000000ull},
    {.name = "smollm2-135m", .source = "HuggingFaceTB/SmolLM2-135M config.json",
     .n_layer = 30, .n_embd = 576, .n_head = 9, .n_head_kv = 3, .head_dim = 64, .n_ff = 1536,
     .n_vocab = 49152, .n_expert = 1, .n_expert_used = 1, .n_ctx_train = 8192, .tied_embd = true,
     .published_params = 134500000ull},
    {.name = "gemma-3-270m", .source = "google/gemma-3-270m config.json",
     .n_layer = 18, .n_embd = 640, .n_head = 4, .n_head_kv = 1, .head_dim = 256, .n_ff = 2048,
     .n_vocab = 262144, .n_expert = 1, .n_expert_used = 1, .n_ctx_train = 32768, .tied_embd = true,
     .qk_norm = true, .published_params = 268100000ull},
};

const desk_arch_shape *desk_presets(size_t *n_out) {
    *n_out = sizeof PRESETS / sizeof PRESETS[0];
    return PRESETS;
}

const desk_arch_shape *desk_preset_find(const char *name) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (strcasecmp(name, PRESETS[i].name) == 0) return &PRESETS[i];
    return NULL;
}

/* Embeddings, norms and N_LAYER x (ATTN + FFN) of shape S (E = n_embd). */
static uint64_t shape_params(const desk_arch_shape *s, uint64_t attn, uint64_t ffn, uint64_t e) {
    /* Norms: before attention and FFN; Gemma3 also after each, plus Q/K. */
    uint64_t norms = s->qk_norm ? 4 * e + 2 * (uint64_t)s->head_dim : 2 * e;
    uint64_t embd = (uint64_t)s->n_vocab * e;
    return embd * (s->tied_embd ? 1 : 2) + e + (uint64_t)s->n_layer * (attn + ffn + norms);
}

uint64_t desk_shape_params(const desk_arch_shape *s) {
    uint64_t e = s->n_embd, q = (uint64_t)s->n_head * s->head_dim, kv = (uint64_t)s->n_head_kv * s->head_dim;
    uint64_t attn = e * q + 2 * e * kv + q * e;
    if (s->qkv_bias) attn += q + 2 * kv;
    uint64_t ffn = (uint64_t)s->n_expert * 3 * e * s->n_ff;
    if (s->n_expert > 1) ffn += e * s->n_expert; /* the router */
    return shape_params(s, attn, ffn, e);
}

uint64_t desk_shape_active_params(const desk_arch_shape *s) {
    if (s->n_expert <= 1) return desk_shape_params(s);
    const uint64_t unused = (uint64_t)(s->n_expert - s->n_expert_used) * 3 * s->n_embd * s->n_ff;
    return desk_shape_params(s) - (uint64_t)s->n_layer * unused;
}

/* llama.cpp file mixes keep some tensors at higher precision, so their
 * effective bits per weight come from real files: llama.cpp's quantize
 * table lists each mix's size for Llama-3-8B (8.03e9 parameters), e.g.
 * "Q4_K_M: 4.58G" (GiB) -> 4.58 * 2^30 * 8 / 8.03e9 = 4.90 bpw. */
static const struct {
    const char *name;
    double bpw;
} MIXES[] = {
    {"Q3_K_M", 4.00}, {"Q4_K_S", 4.67}, {"Q4_K_M", 4.90}, {"Q5_K_S", 5.52}, {"Q5_K_M", 5.70},
};

desk_status desk_quant_bpw(const char *name, double *bpw, desk_err *err) {
    for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0]; i++)
        if (strcasecmp(name, MIXES[i].name) == 0) {
            *bpw = MIXES[i].bpw;
            return DESK_OK;
        }
    int t = desk_type_from_name(name);
    const desk_type_info *ti = t >= 0 ? desk_type_get((uint32_t)t) : NULL;
    if (!ti || ti->blck <= 0 || ti->type_size <= 0 || t == DESK_TYPE_Q8_1 || t == DESK_TYPE_Q8_K)
        return desk_errf(err, DESK_E_ARG,
                         "unknown quantization '%s' (a tensor type such as Q4_0, Q8_0, F16, or a mix: "
                         "Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M)", name);
    *bpw = ti->type_size * 8.0 / ti->blck;
    return DESK_OK;
}

desk_status desk_size_parse(const char *s, uint64_t *out, desk_err *err) {
    if (!s || !*s) return desk_errf(err, DESK_E_ARG, "empty size");
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0 || *s == '-' || isspace((unsigned char)*s))
        return desk_errf(err, DESK_E_ARG, "'%s' is not a size (like 128G, 64GiB, 512M)", s);
    static const struct {
        const char *unit;
        double mul;
    } UNITS[] = {
        {"", 1}, {"B", 1}, {"K", 1e3}, {"KB", 1e3}, {"M", 1e6}, {"MB", 1e6}, {"G", 1e9}, {"GB", 1e9},
        {"T", 1e12}, {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
        {"TiB", 1099511627776.0},
    };
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
        if (strcasecmp(end, UNITS[i].unit) != 0) continue;
        double b = v * UNITS[i].mul;
        if (b >= 1.8e19) return desk_errf(err, DESK_E_RANGE, "size '%s' is too large", s);
        *out = (uint64_t)llround(b);
        return DESK_OK;
    }
    return desk_errf(err, DESK_E_ARG,
                     "'%s': unknown size unit '%s' (use B, K, M, G, T = 10^3 steps, or KiB, MiB, GiB, TiB)", s,
                     end);
}

desk_status desk_mem_total(uint64_t *out, desk_err *err) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return desk_errf(err, DESK_E_IO, "cannot read /proc/meminfo: %s", strerror(errno));
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
            found = true;
            break;
        }
    fclose(f);
    if (!found) return desk_errf(err, DESK_E_FORMAT, "/proc/meminfo has no MemTotal line");
    *out = (uint64_t)kb * 1024;
    return DESK_OK;
}

desk_status desk_mem_available(uint64_t *out, desk_err *err) {
    const char *env = getenv("DESK_MEM_AVAILABLE");
    if (env && *env) {
        desk_status s = desk_size_parse(env, out, err);
        return s ? desk_err_prefix(err, "DESK_MEM_AVAILABLE") : DESK_OK;
    }
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return desk_errf(err, DESK_E_IO, "cannot read /proc/meminfo: %s", strerror(errno));
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    fclose(f);
    if (!found) return desk_errf(err, DESK_E_FORMAT, "/proc/meminfo has no MemAvailable line");
    *out = (uint64_t)kb * 1024;
    return DESK_OK;
}

uint64_t desk_plan_kv_bytes(uint64_t n_layer_kv_dims, uint32_t n_ctx, uint32_t n_parallel, desk_cache_type t) {
    uint64_t elems = n_layer_kv_dims * n_ctx * n_parallel;
    return t == DESK_CACHE_Q8_0 ? elems / 32 * 34 + (elems % 32 ? 34 : 0) : elems * 2;
}

uint64_t desk_plan_compute_bytes(uint64_t n_embd, uint64_t n_ff_active, uint64_t n_vocab, uint64_t n_head,
                                 uint32_t n_ctx, uint32_t n_batch) {
    uint64_t b = n_batch < n_ctx ? n_batch : n_ctx;
    return 4 * (b * (4 * n_embd + 2 * n_ff_active + n_vocab) + b * n_ctx * n_head);
}

static void defaults(const desk_plan_params *p, uint32_t *ctx, uint32_t *par, uint32_t *batch) {
    *ctx = p && p->n_ctx ? p->n_ctx : DEFAULT_CTX;
    *par = p && p->n_parallel ? p->n_parallel : 1;
    *batch = p && p->n_batch ? p->n_batch : DEFAULT_BATCH;
}

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

desk_status desk_plan_preset(const desk_arch_shape *s, const char *quant, double bpw, const desk_plan_params *p,
                             desk_plan_model *out, desk_err *err) {
    if (!s || !(bpw > 0)) return desk_errf(err, DESK_E_ARG, "a preset plan needs a shape and bits per weight > 0");
    uint32_t ctx, par, batch;
    defaults(p, &ctx, &par, &batch);
    memset(out, 0, sizeof *out);
    copy_str(out->name, sizeof out->name, s->name);
    copy_str(out->quant, sizeof out->quant, quant);
    copy_str(out->arch, sizeof out->arch, s->n_expert > 1 ? "mixture of experts" : "dense");
    out->bpw = bpw;
    out->params = desk_shape_params(s);
    out->weights = (uint64_t)llround((double)out->params * bpw / 8.0);
    out->active_params = desk_shape_active_params(s);
    out->active_weights = (uint64_t)llround((double)out->active_params * bpw / 8.0);
    if (s->n_expert > 1) {
        out->n_expert = s->n_expert;
        out->n_expert_used = s->n_expert_used;
    }
    const uint64_t dims = (uint64_t)s->n_layer * s->n_head_kv * s->head_dim;
    out->kv = desk_plan_kv_bytes(dims, ctx, par, p ? p->type_k : DESK_CACHE_F16) +
              desk_plan_kv_bytes(dims, ctx, par, p ? p->type_v : DESK_CACHE_F16);
    out->compute = desk_plan_compute_bytes(s->n_embd, (uint64_t)s->n_ff * s->n_expert_used, s->n_vocab, s->n_head,
                                           ctx, batch);
    out->total = out->weights + out->kv + out->compute;
    out->n_ctx = ctx;
    out->n_parallel = par;
    return DESK_OK;
}

uint64_t desk_plan_weights_bytes(const desk_gguf *g) {
    uint64_t n = 0;
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) n += desk_gguf_tensor_at(g, i)->nbytes;
    return n;
}

void desk_plan_file(const desk_gguf *g, const desk_hparams *hp, const desk_plan_params *p, desk_plan_model *out) {
    uint32_t ctx, par, batch;
    defaults(p, &ctx, &par, &batch);
    memset(out, 0, sizeof *out);
    copy_str(out->arch, sizeof out->arch, hp->arch);
    copy_str(out->quant, sizeof out->quant, "file");
    /* Experts: a tensor ffn_*_exps stacks n_expert of them, a token reads
     * n_expert_used. */
    const bool moe = hp->n_expert > 0 && hp->n_expert_used > 0 && hp->n_expert_used <= hp->n_expert;
    if (moe) {
        out->n_expert = (uint32_t)hp->n_expert;
        out->n_expert_used = (uint32_t)hp->n_expert_used;
    }
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, i);
        const uint64_t n = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]); /* bounded by the reader */
        out->params += n;
        if (moe && strstr(t->name.s, "_exps.")) {
            out->active_params += n / (uint64_t)hp->n_expert * (uint64_t)hp->n_expert_used;
            out->active_weights += t->nbytes / (uint64_t)hp->n_expert * (uint64_t)hp->n_expert_used;
        } else {
            out->active_params += n;
            out->active_weights += t->nbytes;
        }
    }
    out->weights = desk_plan_weights_bytes(g);
    out->bpw = out->params ? out->weights * 8.0 / (double)out->params : 0;
    if (hp->n_layer > 0 && hp->n_embd > 0 && hp->n_head > 0) {
        const uint64_t heads = (uint64_t)hp->n_head_kv_sum;
        out->kv = desk_plan_kv_bytes(heads * (uint64_t)hp->head_dim_k, ctx, par, p ? p->type_k : DESK_CACHE_F16) +
                  desk_plan_kv_bytes(heads * (uint64_t)hp->head_dim_v, ctx, par, p ? p->type_v : DESK_CACHE_F16);
        const uint64_t n_used = hp->n_expert_used > 0 ? (uint64_t)hp->n_expert_used : 1;
        out->compute = desk_plan_compute_bytes((uint64_t)hp->n_embd, (uint64_t)hp->n_ff * n_used,
                                               (uint64_t)hp->n_vocab, (uint64_t)hp->n_head, ctx, batch);
    }
    out->total = out->weights + out->kv + out->compute;
    out->n_ctx = ctx;
    out->n_parallel = par;
}

desk_status desk_plan_gguf(const char *path, const char *quant, const desk_plan_params *p, desk_plan_model *out,
                           desk_err *err) {
    double bpw = 0;
    if (quant) {
        desk_status st = desk_quant_bpw(quant, &bpw, err);
        if (st) return st;
    }
    desk_gguf *g = NULL;
    desk_status st = desk_gguf_open(path, &g, err);
    if (st) return st;
    desk_hparams hp;
    st = desk_hparams_read(g, &hp, err);
    if (st == DESK_OK && !hp.arch)
        st = desk_errf(err, DESK_E_FORMAT, "general.architecture is missing");
    else if (st == DESK_OK && (!hp.n_layer || !hp.n_embd || !hp.n_head))
        st = desk_errf(err, DESK_E_FORMAT, "%s.block_count, embedding_length or attention.head_count is missing",
                       hp.arch);
    if (st) {
        desk_gguf_close(g);
        return desk_err_prefix(err, "%s", path);
    }
    desk_plan_file(g, &hp, p, out);
    desk_gguf_close(g);
    copy_str(out->name, sizeof out->name, path);
    if (quant) {
        copy_str(out->quant, sizeof out->quant, quant);
        out->bpw = bpw;
        out->weights = (uint64_t)llround((double)out->params * bpw / 8.0);
        out->total = out->weights + out->kv + out->compute;
    }
    return DESK_OK;
}
