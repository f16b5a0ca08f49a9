/*
 * test_lora_adapter.c - LoRA adapters (desk/lora.h): the writer and the
 * reader against each other, hostile adapter files, and what an attached
 * adapter computes.
 *
 * The base is a tiny llama model with random F32 weights (2 layers, n_embd
 * 64, 4 heads, 2 KV heads, n_ff 128, its own output.weight) and SmolLM2's
 * tokenizer and metadata.  An adapter's effect is checked two ways: with
 * B = 0 the logits are bit for bit the base's; and base + adapter(s) must
 * equal a model whose F32 weights are W + s * B A (merged here in double
 * precision), within a tolerance of 2e-5 * (1 + max |logit|) on every
 * logit of a prefill batch and of single-token decodes.  The hostile cases
 * change one thing each; the load must fail with a message naming the file
 * and the tensor or key.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fp16.h"
#include "gguf/gguf.h"
#include "model/adapter.h"
#include "model/model.h"
#include "tensor/types.h"

#define EMBD 64
#define HEADS 4
#define KV (EMBD / HEADS * 2)
#define FF 128
#define LAYERS 2
#define VOCAB 49152
#define RANK 4

typedef struct wspec {
    char name[48];
    int64_t ne0, ne1; /* ne1 = 0: a norm vector (ones) */
    bool adapt;       /* a matrix desk adapts */
} wspec;

static wspec g_spec[4 + LAYERS * 9];
static float *g_w[4 + LAYERS * 9]; /* the base weights */
static int g_n;
static char g_dir[] = "/tmp/desk_lora_test_XXXXXX";
static char g_base[256];
static desk_gguf *g_src;

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
/* Uniform in [-amp, amp) (xorshift64*: deterministic across runs). */
static float rnd(float amp) {
    g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
    const uint64_t r = g_rng * 0x2545f4914f6cdd1dull;
    return amp * (2.0f * (float)(r >> 40) / (float)(1 << 24) - 1.0f);
}

static void spec(const char *name, int64_t ne0, int64_t ne1, bool adapt) {
    wspec *s = &g_spec[g_n];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ne0 = ne0, s->ne1 = ne1, s->adapt = adapt;
    const size_t n = (size_t)ne0 * (size_t)(ne1 ? ne1 : 1);
    g_w[g_n] = malloc(n * sizeof(float));
    assert_non_null(g_w[g_n]);
    for (size_t i = 0; i < n; i++) g_w[g_n][i] = ne1 ? rnd(ne0 == EMBD && ne1 == VOCAB ? 1.0f : 0.15f) : 1.0f;
    g_n++;
}

/* Writes the model with weights W (g_n arrays in g_spec order) to PATH. */
static void write_model(const char *path, float *const *w) {
    desk_gguf_writer *wr = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_writer_new(&wr, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_copy_kv(wr, g_src, &err), DESK_OK);
    static const struct {
        const char *key;
        uint32_t v;
    } keys[] = {{"llama.block_count", LAYERS},       {"llama.embedding_length", EMBD},
                {"llama.feed_forward_length", FF},   {"llama.attention.head_count", HEADS},
                {"llama.attention.head_count_kv", 2}, {"llama.rope.dimension_count", EMBD / HEADS},
                {"llama.context_length", 256}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(desk_gguf_writer_set_u32(wr, keys[i].key, keys[i].v, &err), DESK_OK);
    for (int i = 0; i < g_n; i++) {
        const int64_t ne[2] = {g_spec[i].ne0, g_spec[i].ne1};
        if (desk_gguf_writer_add_tensor(wr, g_spec[i].name, DESK_TYPE_F32, g_spec[i].ne1 ? 2 : 1, ne, w[i], &err))
            fail_msg("add %s: %s", g_spec[i].name, err.msg);
    }
    if (desk_gguf_writer_write(wr, path, &err)) fail_msg("write %s: %s", path, err.msg);
    desk_gguf_writer_free(wr);
}

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(g_dir)) return -1;
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    desk_status s = desk_gguf_open(path, &g_src, &err);
    free(path);
    if (s != DESK_OK) return -1;
    spec("token_embd.weight", EMBD, VOCAB, false);
    spec("output_norm.weight", EMBD, 0, false);
    spec("output.weight", EMBD, VOCAB, true);
    for (int il = 0; il < LAYERS; il++) {
        char n[48];
#define L(suffix, ne0, ne1, adapt) (snprintf(n, sizeof n, "blk.%d.%s", il, suffix), spec(n, ne0, ne1, adapt))
        L("attn_norm.weight", EMBD, 0, false);
        L("attn_q.weight", EMBD, EMBD, true);
        L("attn_k.weight", EMBD, KV, true);
        L("attn_v.weight", EMBD, KV, true);
        L("attn_output.weight", EMBD, EMBD, true);
        L("ffn_norm.weight", EMBD, 0, false);
        L("ffn_gate.weight", EMBD, FF, true);
        L("ffn_up.weight", EMBD, FF, true);
        L("ffn_down.weight", FF, EMBD, true);
#undef L
    }
    snprintf(g_base, sizeof g_base, "%s/base.gguf", g_dir);
    write_model(g_base, g_w);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < g_n; i++) free(g_w[i]);
    desk_gguf_close(g_src);
    unlink(g_base);
    rmdir(g_dir);
    return 0;
}

/* ---- adapters --------------------------------------------------------- */

/* A random adapter over every adaptable matrix: pairs in T (g_n entries,
 * NULL-based where none), data malloc'd (adapter_free).  B_ZERO: B = 0. */
typedef struct adapter {
    desk_lora_tensor t[4 + LAYERS * 9];
    size_t n;
} adapter;

static void adapter_make(adapter *a, bool b_zero, float amp) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < g_n; i++) {
        if (!g_spec[i].adapt) continue;
        desk_lora_tensor *t = &a->t[a->n++];
        t->base = g_spec[i].name;
        t->n_in = g_spec[i].ne0, t->n_out = g_spec[i].ne1, t->rank = RANK;
        float *A = malloc(sizeof(float) * RANK * (size_t)t->n_in), *B = malloc(sizeof(float) * RANK * (size_t)t->n_out);
        assert_true(A && B);
        for (int64_t k = 0; k < RANK * t->n_in; k++) A[k] = rnd(amp);
        for (int64_t k = 0; k < RANK * t->n_out; k++) B[k] = b_zero ? 0.0f : rnd(amp);
        t->a = A, t->b = B;
    }
}

static void adapter_free(adapter *a) {
    for (size_t i = 0; i < a->n; i++) {
        free((void *)a->t[i].a);
        free((void *)a->t[i].b);
    }
}

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

static desk_model *load_model(const char *path) {
    desk_model *m = NULL;
    desk_err err = {0};
    if (desk_model_load(path, NULL, &m, &err)) fail_msg("load %s: %s", path, err.msg);
    return m;
}

static void test_round_trip(void **state) {
    (void)state;
    adapter a;
    adapter_make(&a, false, 0.5f);
    desk_model *m = load_model(g_base);
    const uint32_t types[2] = {DESK_TYPE_F32, DESK_TYPE_F16};
    for (int ti = 0; ti < 2; ti++) {
        char path[300];
        path_in(path, sizeof path, "rt.gguf");
        desk_err err = {0};
        if (desk_lora_write(path, "llama", 8.0f, a.t, a.n, types[ti], &err)) fail_msg("write: %s", err.msg);
        desk_lora *l = NULL;
        if (desk_lora_load(m, path, &l, &err)) fail_msg("load %s: %s", desk_type_name(types[ti]), err.msg);
        assert_true(desk_lora_alpha(l) == 8.0f);
        assert_int_equal(desk_lora_n_pairs(l), (int)a.n);
        assert_int_equal(desk_lora_max_rank(l), RANK);
        /* Every pair lands in its matrix's slot with its values (F16: rounded). */
        for (size_t i = 0; i < a.n; i++) {
            int il = -1, kind = 0;
            if (strncmp(a.t[i].base, "blk.", 4) == 0) {
                il = atoi(a.t[i].base + 4);
                static const char *const kinds[] = {"attn_q.", "attn_k.", "attn_v.", "attn_output.",
                                                    "ffn_gate.", "ffn_up.", "ffn_down."};
                for (kind = 0; kind < DESK_LORA_KINDS && !strstr(a.t[i].base, kinds[kind]); kind++) {}
            }
            const desk_lora_pair *p = l->slot[desk_lora_slot(l, il, kind)];
            assert_non_null(p);
            assert_int_equal(p->rank, RANK);
            assert_int_equal(p->n_in, a.t[i].n_in);
            assert_int_equal(p->n_out, a.t[i].n_out);
            for (int64_t k = 0; k < RANK * p->n_in; k++) {
                const float want = ti ? desk_f16_to_f32(desk_f32_to_f16(a.t[i].a[k])) : a.t[i].a[k];
                if (p->a[k] != want) fail_msg("%s lora_a[%lld]: %g != %g", a.t[i].base, (long long)k, p->a[k], want);
            }
            for (int64_t k = 0; k < RANK * p->n_out; k++) {
                const float want = ti ? desk_f16_to_f32(desk_f32_to_f16(a.t[i].b[k])) : a.t[i].b[k];
                assert_true(p->b[k] == want);
            }
        }
        desk_lora_free(l);
        unlink(path);
    }
    /* The writer refuses what would make a hostile file. */
    desk_err err = {0};
    char path[300];
    path_in(path, sizeof path, "bad.gguf");
    desk_lora_tensor bad = a.t[0];
    bad.rank = 0;
    assert_int_equal(desk_lora_write(path, "llama", 1.0f, &bad, 1, DESK_TYPE_F32, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, a.t[0].base));
    assert_int_equal(desk_lora_write(path, "llama", 1.0f, a.t, 1, DESK_TYPE_Q4_0, &err), DESK_E_ARG);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    desk_model_free(m);
    adapter_free(&a);
}

/* ---- hostile adapters ------------------------------------------------- */

typedef struct htensor {
    const char *name;
    int64_t ne0, ne1, ne2; /* ne2 > 0: a 3-D tensor */
} htensor;

typedef struct hcase {
    const char *what;
    const char *gtype, *atype, *arch; /* NULL: the right value */
    bool alpha_as_string;
    bool nan;                  /* element 3 of the last tensor is NaN */
    htensor t[3];              /* name NULL ends */
    const char *expect[2];     /* substrings of the message */
} hcase;

#define QA "blk.0.attn_q.weight.lora_a"
#define QB "blk.0.attn_q.weight.lora_b"
static const hcase HCASES[] = {
    {"wrong lora_a width", NULL, NULL, NULL, false, false, {{QA, EMBD + 32, RANK, 0}, {QB, RANK, EMBD, 0}}, {QA, "ne[0]"}},
    {"wrong lora_b rows", NULL, NULL, NULL, false, false, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD * 2, 0}}, {QB, "ne[1]"}},
    {"rank mismatch", NULL, NULL, NULL, false, false, {{QA, EMBD, RANK, 0}, {QB, RANK * 2, EMBD, 0}}, {"rank mismatch", "blk.0.attn_q.weight"}},
    {"missing lora_b", NULL, NULL, NULL, false, false, {{QA, EMBD, RANK, 0}}, {QA, "no partner"}},
    {"missing lora_a", NULL, NULL, NULL, false, false, {{QB, RANK, EMBD, 0}}, {QB, "no partner"}},
    {"wrong architecture", NULL, NULL, "gemma3", false, false, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD, 0}}, {"general.architecture", "gemma3"}},
    {"not an adapter", "model", NULL, NULL, false, false, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD, 0}}, {"general.type", "model"}},
    {"not lora", NULL, "ia3", NULL, false, false, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD, 0}}, {"adapter.type", "ia3"}},
    {"alpha a string", NULL, NULL, NULL, true, false, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD, 0}}, {"adapter.lora.alpha", "STRING"}},
    {"NaN in lora_b", NULL, NULL, NULL, false, true, {{QA, EMBD, RANK, 0}, {QB, RANK, EMBD, 0}}, {QB, "NaN"}},
    {"rank above the matrix", NULL, NULL, NULL, false, false,
     {{"blk.1.attn_k.weight.lora_a", EMBD, KV + 1, 0}, {"blk.1.attn_k.weight.lora_b", KV + 1, KV, 0}}, {"blk.1.attn_k.weight.lora_a", "rank"}},
    {"3-D tensor", NULL, NULL, NULL, false, false, {{QA, EMBD, RANK, 2}, {QB, RANK, EMBD, 0}}, {QA, "dimensions"}},
    {"layer past the model", NULL, NULL, NULL, false, false,
     {{"blk.7.attn_q.weight.lora_a", EMBD, RANK, 0}, {"blk.7.attn_q.weight.lora_b", RANK, EMBD, 0}}, {"blk.7.attn_q.weight", "no such matrix"}},
    {"token embedding", NULL, NULL, NULL, false, false,
     {{"token_embd.weight.lora_a", RANK, VOCAB, 0}, {"token_embd.weight.lora_b", RANK, EMBD, 0}}, {"token_embd.weight", "embedding"}},
    {"not a LoRA tensor", NULL, NULL, NULL, false, false, {{"blk.0.attn_q.weight", EMBD, EMBD, 0}}, {"blk.0.attn_q.weight", "lora_a"}},
    {"no pairs", NULL, NULL, NULL, false, false, {{"blk.0.attn_norm.weight", EMBD, 0, 0}}, {"no lora_a", NULL}},
};

static void write_hostile(const hcase *h, const char *path) {
    desk_gguf_writer *w = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_writer_new(&w, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "general.architecture", h->arch ? h->arch : "llama", &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "general.type", h->gtype ? h->gtype : "adapter", &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "adapter.type", h->atype ? h->atype : "lora", &err), DESK_OK);
    if (h->alpha_as_string)
        assert_int_equal(desk_gguf_writer_set_str(w, "adapter.lora.alpha", "16", &err), DESK_OK);
    else
        assert_int_equal(desk_gguf_writer_set_f32(w, "adapter.lora.alpha", 16.0f, &err), DESK_OK);
    float *bufs[3] = {0};
    int nt = 0;
    for (; nt < 3 && h->t[nt].name; nt++) {
        const htensor *t = &h->t[nt];
        const int64_t ne[3] = {t->ne0, t->ne1 ? t->ne1 : 1, t->ne2 ? t->ne2 : 1};
        const size_t n = (size_t)(ne[0] * ne[1] * ne[2]);
        bufs[nt] = calloc(n, sizeof(float));
        assert_non_null(bufs[nt]);
        for (size_t k = 0; k < n; k++) bufs[nt][k] = rnd(0.1f);
        const uint32_t nd = t->ne2 ? 3 : t->ne1 ? 2 : 1;
        if (desk_gguf_writer_add_tensor(w, t->name, DESK_TYPE_F32, nd, ne, bufs[nt], &err)) fail_msg("%s", err.msg);
    }
    if (h->nan) bufs[nt - 1][3] = NAN;
    assert_int_equal(desk_gguf_writer_write(w, path, &err), DESK_OK);
    desk_gguf_writer_free(w);
    for (int i = 0; i < nt; i++) free(bufs[i]);
}

static void expect_refused(desk_model *m, const char *path, const char *what, const char *const *expect, size_t n) {
    desk_lora *l = NULL;
    desk_err err = {0};
    const desk_status s = desk_lora_load(m, path, &l, &err);
    if (s == DESK_OK) fail_msg("%s: the adapter was accepted", what);
    assert_null(l);
    if (!strstr(err.msg, path)) fail_msg("%s: the message does not name the file: %s", what, err.msg);
    if (strchr(err.msg, '\n')) fail_msg("%s: the message is not one line: %s", what, err.msg);
    print_message("%-24s %s\n", what, err.msg);
    for (size_t i = 0; i < n; i++)
        if (expect[i] && !strstr(err.msg, expect[i])) fail_msg("%s: '%s' not in the message: %s", what, expect[i], err.msg);
}

static void test_hostile_adapters(void **state) {
    (void)state;
    desk_model *m = load_model(g_base);
    char path[300];
    for (size_t i = 0; i < sizeof HCASES / sizeof HCASES[0]; i++) {
        path_in(path, sizeof path, "hostile.gguf");
        write_hostile(&HCASES[i], path);
        expect_refused(m, path, HCASES[i].what, HCASES[i].expect, 2);
        unlink(path);
    }
    /* A valid adapter cut short anywhere is refused too. */
    adapter a;
    adapter_make(&a, false, 0.1f);
    path_in(path, sizeof path, "whole.gguf");
    desk_err err = {0};
    assert_int_equal(desk_lora_write(path, "llama", 0.0f, a.t, a.n, DESK_TYPE_F16, &err), DESK_OK);
    size_t len = 0;
    char *bytes = tu_read_file(path, &len);
    const size_t cuts[] = {0, 3, 24, 100, len / 2, len - 1};
    char cut_path[300];
    path_in(cut_path, sizeof cut_path, "cut.gguf");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(cut_path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, cuts[i], f), cuts[i]);
        fclose(f);
        const char *none[1] = {NULL};
        expect_refused(m, cut_path, "truncated", none, 1);
    }
    unlink(cut_path);
    /* A model file is not an adapter. */
    const char *gt[1] = {"general.type"};
    expect_refused(m, g_base, "a model", gt, 1);
    /* The whole file loads, and an adapter of another model is refused at
     * context creation. */
    desk_lora *l = NULL;
    if (desk_lora_load(m, path, &l, &err)) fail_msg("%s", err.msg);
    desk_model *m2 = load_model(g_base);
    desk_lora_use use = {l, 1.0f};
    desk_ctx_params cp = {.n_ctx = 16, .n_threads = 1, .loras = &use, .n_loras = 1};
    desk_ctx *c = NULL;
    assert_int_equal(desk_ctx_new(m2, &cp, &c, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "another model"));
    use.scale = NAN;
    assert_int_equal(desk_ctx_new(m, &cp, &c, &err), DESK_E_ARG);
    assert_null(c);
    desk_lora_free(l);
    desk_model_free(m2);
    desk_model_free(m);
    free(bytes);
    unlink(path);
    adapter_free(&a);
}

/* ---- what an adapter computes ----------------------------------------- */

#define N_PROMPT 7
#define N_DECODE 3
static const desk_token PROMPT[N_PROMPT] = {1, 504, 3458, 282, 4649, 314, 30};
static const desk_token NEXT[N_DECODE] = {42, 9000, 17};

/* Logits of the prompt (every row) and of N_DECODE single tokens after it:
 * (N_PROMPT + N_DECODE) x VOCAB floats, malloc'd. */
static float *run_logits(desk_model *m, const desk_lora_use *uses, int n_uses) {
    desk_ctx_params cp = {.n_ctx = 32, .n_threads = 2, .logits_all = true, .loras = uses, .n_loras = n_uses};
    desk_ctx *c = NULL;
    desk_err err = {0};
    if (desk_ctx_new(m, &cp, &c, &err)) fail_msg("ctx: %s", err.msg);
    float *out = malloc(sizeof(float) * VOCAB * (N_PROMPT + N_DECODE));
    assert_non_null(out);
    if (desk_decode(c, PROMPT, N_PROMPT, &err)) fail_msg("decode: %s", err.msg);
    for (int i = 0; i < N_PROMPT; i++) memcpy(out + (size_t)i * VOCAB, desk_ctx_logits(c, i), sizeof(float) * VOCAB);
    for (int i = 0; i < N_DECODE; i++) {
        if (desk_decode(c, &NEXT[i], 1, &err)) fail_msg("decode: %s", err.msg);
        memcpy(out + (size_t)(N_PROMPT + i) * VOCAB, desk_ctx_logits(c, 0), sizeof(float) * VOCAB);
    }
    desk_ctx_free(c);
    return out;
}

static void test_zero_b_is_identity(void **state) {
    (void)state;
    adapter a;
    adapter_make(&a, true, 0.5f);
    char path[300];
    path_in(path, sizeof path, "zero.gguf");
    desk_err err = {0};
    assert_int_equal(desk_lora_write(path, "llama", 16.0f, a.t, a.n, DESK_TYPE_F32, &err), DESK_OK);
    desk_model *m = load_model(g_base);
    desk_lora *l = NULL;
    if (desk_lora_load(m, path, &l, &err)) fail_msg("%s", err.msg);
    float *base = run_logits(m, NULL, 0);
    desk_lora_use use = {l, 3.0f};
    float *with = run_logits(m, &use, 1);
    assert_memory_equal(base, with, sizeof(float) * VOCAB * (N_PROMPT + N_DECODE));
    free(base);
    free(with);
    desk_lora_free(l);
    desk_model_free(m);
    unlink(path);
    adapter_free(&a);
}

/* W += s * B A for every pair of A_ (into MERGED, copies of the base). */
static void merge(float **merged, const adapter *ad, float s) {
    for (size_t p = 0; p < ad->n; p++) {
        const desk_lora_tensor *t = &ad->t[p];
        int i = 0;
        while (strcmp(g_spec[i].name, t->base) != 0) i++;
        for (int64_t o = 0; o < t->n_out; o++)
            for (int64_t k = 0; k < t->n_in; k++) {
                double d = 0;
                for (int r = 0; r < t->rank; r++) d += (double)t->b[o * t->rank + r] * (double)t->a[r * t->n_in + k];
                merged[i][o * t->n_in + k] = (float)((double)merged[i][o * t->n_in + k] + s * d);
            }
    }
}

static void test_equals_merged_model(void **state) {
    (void)state;
    /* Two adapters at once: one with alpha 8 at user scale 0.75 (s = 0.75 *
     * 8 / 4), one with alpha 0 at scale 0.5 (s = 0.5). */
    adapter a1, a2;
    adapter_make(&a1, false, 0.3f);
    adapter_make(&a2, false, 0.2f);
    char p1[300], p2[300], pm[300];
    path_in(p1, sizeof p1, "a1.gguf");
    path_in(p2, sizeof p2, "a2.gguf");
    path_in(pm, sizeof pm, "merged.gguf");
    desk_err err = {0};
    assert_int_equal(desk_lora_write(p1, "llama", 8.0f, a1.t, a1.n, DESK_TYPE_F32, &err), DESK_OK);
    assert_int_equal(desk_lora_write(p2, "llama", 0.0f, a2.t, a2.n, DESK_TYPE_F32, &err), DESK_OK);
    float *merged[4 + LAYERS * 9];
    for (int i = 0; i < g_n; i++) {
        const size_t n = (size_t)g_spec[i].ne0 * (size_t)(g_spec[i].ne1 ? g_spec[i].ne1 : 1);
        merged[i] = malloc(n * sizeof(float));
        assert_non_null(merged[i]);
        memcpy(merged[i], g_w[i], n * sizeof(float));
    }
    merge(merged, &a1, 0.75f * 8.0f / RANK);
    merge(merged, &a2, 0.5f);
    write_model(pm, merged);

    desk_model *m = load_model(g_base), *mm = load_model(pm);
    desk_lora *l1 = NULL, *l2 = NULL;
    if (desk_lora_load(m, p1, &l1, &err) || desk_lora_load(m, p2, &l2, &err)) fail_msg("%s", err.msg);
    const desk_lora_use uses[2] = {{l1, 0.75f}, {l2, 0.5f}};
    float *base = run_logits(m, NULL, 0), *with = run_logits(m, uses, 2), *want = run_logits(mm, NULL, 0);
    double max_abs = 0, max_diff = 0, max_change = 0;
    for (size_t k = 0; k < (size_t)VOCAB * (N_PROMPT + N_DECODE); k++) {
        if (fabs(want[k]) > max_abs) max_abs = fabs(want[k]);
        if (fabs(with[k] - want[k]) > max_diff) max_diff = fabs(with[k] - want[k]);
        if (fabs(base[k] - want[k]) > max_change) max_change = fabs(base[k] - want[k]);
    }
    const double tol = 2e-5 * (1.0 + max_abs);
    print_message("adapter vs merged: max |diff| %.3g (tolerance %.3g), the adapters move logits by up to %.3g\n",
                  max_diff, tol, max_change);
    if (max_diff > tol) fail_msg("base + adapters differs from the merged model by %g (> %g)", max_diff, tol);
    /* The comparison means something only if the adapters matter. */
    if (max_change < 1000 * tol) fail_msg("the adapters change the logits by only %g", max_change);
    free(base);
    free(with);
    free(want);
    desk_lora_free(l1);
    desk_lora_free(l2);
    desk_model_free(m);
    desk_model_free(mm);
    for (int i = 0; i < g_n; i++) free(merged[i]);
    unlink(p1);
    unlink(p2);
    unlink(pm);
    adapter_free(&a1);
    adapter_free(&a2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile_adapters),
        cmocka_unit_test(test_zero_b_is_identity),
        cmocka_unit_test(test_equals_merged_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
