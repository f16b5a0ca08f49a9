/*
 * test_quantize.c - `desk quantize` end to end: a small F32 model (written
 * here with the GGUF writer: 12 layers of attn_v/ffn_down, a tied
 * token_embd, 1-D norms, rows that fit no K-quant block and none at all)
 * to every type; the tensor types expected from llama.cpp's recipe rules,
 * written out independently of src/convert; round-trip errors within the
 * bounds of docs/QUANTIZATION.md; metadata copied and file_type set; the
 * real SmolLM2 requantized Q4_1 -> Q8_0 still continues greedily as
 * llama.cpp does; errors exit 2 and leave no file.
 */
#include "util/testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/types.h"

#define N_LAYER 12
#define MAX_T 64

typedef struct tdesc {
    char name[48];
    uint32_t n_dims;
    int64_t ne[2];
    float *data;
} tdesc;

static char g_dir[64];
static char g_in[128];
static tdesc g_t[MAX_T];
static int g_nt;

static float gauss(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    double u1 = ((double)(*s >> 11) + 1.0) / 9007199254740993.0;
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    double u2 = (double)(*s >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void add(const char *name, uint32_t n_dims, int64_t ne0, int64_t ne1, bool ones) {
    tdesc *t = &g_t[g_nt++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->data = malloc((size_t)(ne0 * ne1) * sizeof(float));
    uint64_t s = (uint64_t)g_nt * 7919u;
    for (int64_t i = 0; i < ne0 * ne1; i++) t->data[i] = ones ? 1.0f + 0.01f * (float)(i % 7) : gauss(&s);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/desk_tq_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_in, sizeof g_in, "%s/in.gguf", g_dir);
    g_nt = 0;
    /* deliberately not in llama.cpp's order: the planner must sort */
    for (int l = N_LAYER - 1; l >= 0; l--) {
        char n[48];
        snprintf(n, sizeof n, "blk.%d.attn_v.weight", l);
        add(n, 2, 256, 8, false);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l);
        add(n, 2, 256, 8, false);
    }
    add("blk.0.attn_norm.weight", 1, 256, 1, true);
    add("blk.0.ffn_up.weight", 2, 288, 8, false);  /* 9 blocks of 32, no K-quant */
    add("blk.0.ffn_gate.weight", 2, 40, 8, false); /* no block size fits: F16 */
    add("token_embd.weight", 2, 256, 16, false);   /* tied: no output.weight */
    add("output_norm.weight", 1, 256, 1, true);
    desk_gguf_writer *w = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_writer_new(&w, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "general.architecture", "llama", &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "test.marker", "kept", &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "general.file_type", 0, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "llama.block_count", N_LAYER, &err), DESK_OK);
    for (int i = 0; i < g_nt; i++)
        assert_int_equal(desk_gguf_writer_add_tensor(w, g_t[i].name, DESK_TYPE_F32, g_t[i].n_dims, g_t[i].ne,
                                                     g_t[i].data, &err),
                         DESK_OK);
    assert_int_equal(desk_gguf_writer_write(w, g_in, &err), DESK_OK);
    desk_gguf_writer_free(w);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < g_nt; i++) free(g_t[i].data);
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[400];
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(g_dir);
    return 0;
}

/* What the recipe must give each tensor (llama.cpp's rules, restated). */
typedef struct expect {
    const char *name;
    uint32_t ftype;
    int base, tied_out; /* desk_type ids; tied_out: token_embd without output.weight */
    bool km;            /* _M mixture: attn_v/ffn_down Q6_K where use_more_bits */
} expect;

static const expect RECIPES[] = {
    {"Q4_0", 2, DESK_TYPE_Q4_0, DESK_TYPE_Q6_K, false},   {"Q4_1", 3, DESK_TYPE_Q4_1, DESK_TYPE_Q6_K, false},
    {"Q5_0", 8, DESK_TYPE_Q5_0, DESK_TYPE_Q6_K, false},   {"Q5_1", 9, DESK_TYPE_Q5_1, DESK_TYPE_Q6_K, false},
    {"Q8_0", 7, DESK_TYPE_Q8_0, DESK_TYPE_Q8_0, false},   {"Q4_K", 14, DESK_TYPE_Q4_K, DESK_TYPE_Q6_K, false},
    {"Q5_K", 16, DESK_TYPE_Q5_K, DESK_TYPE_Q6_K, false},  {"Q6_K", 18, DESK_TYPE_Q6_K, DESK_TYPE_Q6_K, false},
    {"Q4_K_M", 15, DESK_TYPE_Q4_K, DESK_TYPE_Q6_K, true}, {"q5_k_m", 17, DESK_TYPE_Q5_K, DESK_TYPE_Q6_K, true},
    {"F16", 1, DESK_TYPE_F16, DESK_TYPE_F16, false},      {"BF16", 32, DESK_TYPE_BF16, DESK_TYPE_BF16, false},
    {"F32", 0, DESK_TYPE_F32, DESK_TYPE_F32, false},
};

/* Layers of 12 whose attn_v/ffn_down get more bits: i < 1, i >= 10, (i-1) % 3 == 2. */
static bool more_bits(int l) { return l == 0 || l == 3 || l == 6 || l == 9 || l == 10 || l == 11; }

static int expected_type(const expect *r, const tdesc *t) {
    if (t->n_dims == 1) return DESK_TYPE_F32;
    if (r->base == DESK_TYPE_F16 || r->base == DESK_TYPE_BF16 || r->base == DESK_TYPE_F32) return r->base;
    if (strcmp(t->name, "token_embd.weight") == 0) return r->tied_out;
    if (strcmp(t->name, "blk.0.ffn_gate.weight") == 0) return DESK_TYPE_F16;
    if (strcmp(t->name, "blk.0.ffn_up.weight") == 0) {
        switch (r->base) {
        case DESK_TYPE_Q4_K: return DESK_TYPE_Q5_0;
        case DESK_TYPE_Q5_K: return DESK_TYPE_Q5_1;
        case DESK_TYPE_Q6_K: return DESK_TYPE_Q8_0;
        default: return r->base;
        }
    }
    int l = atoi(t->name + 4);
    if (r->km && more_bits(l)) return DESK_TYPE_Q6_K;
    return r->base;
}

/* docs/QUANTIZATION.md's round-trip bounds (relative RMS error, N(0,1)). */
static double bound(int type) {
    switch (type) {
    case DESK_TYPE_F32: return 1e-7;
    case DESK_TYPE_F16: return 0.00024;
    case DESK_TYPE_BF16: return 0.0018;
    case DESK_TYPE_Q8_0: return 0.006;
    case DESK_TYPE_Q6_K: return 0.019;
    case DESK_TYPE_Q5_K: return 0.038;
    case DESK_TYPE_Q5_1: return 0.042;
    case DESK_TYPE_Q5_0: return 0.047;
    case DESK_TYPE_Q4_K: return 0.077;
    case DESK_TYPE_Q4_1: return 0.086;
    case DESK_TYPE_Q4_0: return 0.095;
    default: return 0;
    }
}

static int run_desk(const char *const *args, tu_run *r) { return tu_desk(r, NULL, 0, args); }

static void check_output(const expect *r, const char *out) {
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open(out, &g, &err) != DESK_OK) fail_msg("%s: %s", r->name, err.msg);
    uint32_t ft = 99, qv = 0;
    const char *marker = NULL;
    assert_int_equal(desk_gguf_get_u32(g, "general.file_type", &ft, &err), DESK_OK);
    assert_int_equal(ft, r->ftype);
    assert_int_equal(desk_gguf_get_u32(g, "general.quantization_version", &qv, &err), DESK_OK);
    assert_int_equal(qv, 2);
    assert_int_equal(desk_gguf_get_str(g, "test.marker", &marker, &err), DESK_OK);
    assert_string_equal(marker, "kept");
    assert_int_equal(desk_gguf_n_tensors(g), g_nt);
    for (int i = 0; i < g_nt; i++) {
        const tdesc *t = &g_t[i];
        const desk_gguf_tensor *o = desk_gguf_find_tensor(g, t->name);
        assert_non_null(o);
        int want = expected_type(r, t);
        if ((int)o->type != want)
            fail_msg("%s: %s is %s, want %s", r->name, t->name, desk_type_name(o->type), desk_type_name(want));
        assert_int_equal(o->ne[0], t->ne[0]);
        assert_int_equal(o->ne[1], t->ne[1]);
        int64_t n = t->ne[0] * t->ne[1];
        float *back = malloc((size_t)n * sizeof(float));
        assert_int_equal(desk_dequantize_row(o->type, o->data, back, n, &err), DESK_OK);
        double se = 0, ss = 0;
        for (int64_t k = 0; k < n; k++) {
            se += (double)(back[k] - t->data[k]) * (back[k] - t->data[k]);
            ss += (double)t->data[k] * t->data[k];
        }
        double rel = sqrt(se / ss);
        if (t->n_dims == 1 && se != 0) fail_msg("%s: norm %s changed", r->name, t->name);
        if (rel > bound(want))
            fail_msg("%s: %s (%s) error %.5f above %.5f", r->name, t->name, desk_type_name(want), rel, bound(want));
        free(back);
    }
    /* llama.cpp's order: non-layer tensors, then layers 0, 1, ... 11 */
    assert_string_equal(desk_gguf_tensor_at(g, 0)->name.s, "output_norm.weight");
    assert_string_equal(desk_gguf_tensor_at(g, 1)->name.s, "token_embd.weight");
    assert_string_equal(desk_gguf_tensor_at(g, 2)->name.s, "blk.0.attn_norm.weight");
    assert_string_equal(desk_gguf_tensor_at(g, g_nt - 1)->name.s, "blk.11.ffn_down.weight");
    desk_gguf_close(g);
}

static void test_every_type(void **state) {
    (void)state;
    char out[160];
    snprintf(out, sizeof out, "%s/out.gguf", g_dir);
    for (size_t i = 0; i < sizeof RECIPES / sizeof RECIPES[0]; i++) {
        tu_run r;
        const char *const a[] = {"quantize", g_in, out, RECIPES[i].name, "--threads", "2", NULL};
        run_desk(a, &r);
        if (r.code != 0) fail_msg("%s: exit %d: %s", RECIPES[i].name, r.code, r.err);
        tu_run_free(&r);
        check_output(&RECIPES[i], out);
        unlink(out);
    }
}

/* Only IN.gguf (and no temporary file) may be in the directory. */
static void assert_dir_clean(void) {
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strcmp(e->d_name, "in.gguf") != 0 && strcmp(e->d_name, "bad.gguf") != 0)
            fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

static void expect_fail(const char *in, const char *out, const char *type, const char *needle) {
    tu_run r;
    const char *const a[] = {"quantize", in, out, type, NULL};
    run_desk(a, &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "desk quantize: "));
    if (!strstr(r.err, needle)) fail_msg("stderr '%s' lacks '%s'", r.err, needle);
    assert_true(r.err_len > 0 && strchr(r.err, '\n') == r.err + r.err_len - 1); /* one line */
    tu_run_free(&r);
    assert_int_equal(access(out, F_OK), -1);
    assert_dir_clean();
}

static void test_errors(void **state) {
    (void)state;
    char out[160], bad[160], missing[160];
    snprintf(out, sizeof out, "%s/out.gguf", g_dir);
    snprintf(missing, sizeof missing, "%s/nope.gguf", g_dir);
    expect_fail(g_in, out, "Q3_X", "unknown type Q3_X");
    expect_fail(missing, out, "Q8_0", "nope.gguf");
    char nodir[200];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/out.gguf", g_dir);
    expect_fail(g_in, nodir, "Q8_0", "does not exist");
    /* a 2-D weight of a type desk cannot dequantize: refused, nothing written */
    snprintf(bad, sizeof bad, "%s/bad.gguf", g_dir);
    desk_gguf_writer *w = NULL;
    desk_err err = {0};
    int32_t ints[64] = {0};
    int64_t ne[2] = {32, 2};
    assert_int_equal(desk_gguf_writer_new(&w, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", DESK_TYPE_I32, 2, ne, ints, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_write(w, bad, &err), DESK_OK);
    desk_gguf_writer_free(w);
    expect_fail(bad, out, "Q8_0", "blk.0.attn_q.weight");
    tu_run r;
    const char *const h[] = {"quantize", "--help", NULL};
    run_desk(h, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "(i - n/8) % 3 == 2")); /* the recipe is documented */
    tu_run_free(&r);
}

/* SmolLM2 Q4_1 -> Q8_0: every matrix Q8_0, and the greedy continuation of
 * "The capital of France is" starts as llama.cpp's on the original file
 * (tests/test_model.c: " Paris" "." "\n" "\n"). */
static void test_smollm2_q8_0(void **state) {
    (void)state;
    char *src = tu_model_path("smollm2");
    char out[160];
    snprintf(out, sizeof out, "%s/smol-q8.gguf", g_dir);
    tu_run r;
    const char *const a[] = {"quantize", src, out, "q8_0", "--threads", "2", NULL};
    run_desk(a, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    tu_run_free(&r);
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(out, &g, &err), DESK_OK);
    int n2 = 0;
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, i);
        assert_int_equal(t->type, t->n_dims >= 2 ? DESK_TYPE_Q8_0 : DESK_TYPE_F32);
        n2 += t->n_dims >= 2;
    }
    assert_int_equal(n2, 1 + 30 * 7);
    desk_gguf_close(g);

    desk_model *m = NULL;
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(out, NULL, &m, &err), DESK_OK);
    desk_ctx_params p = {.n_ctx = 64, .n_threads = 2};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    const char *prompt = "The capital of France is";
    desk_token ids[32];
    size_t n = 0;
    assert_int_equal(
        desk_tokenize(desk_model_tokenizer(m), prompt, strlen(prompt), DESK_TOK_ADD_SPECIAL, ids, 32, &n, &err),
        DESK_OK);
    assert_int_equal(desk_decode(c, ids, (int)n, &err), DESK_OK);
    static const desk_token want[] = {7042, 30, 198, 198};
    for (int i = 0; i < 4; i++) {
        const float *l = desk_ctx_logits(c, -1);
        desk_token best = 0;
        for (desk_token v = 1; v < desk_model_n_vocab(m); v++)
            if (l[v] > l[best]) best = v;
        if (best != want[i]) fail_msg("token %d is %d, llama.cpp (Q4_1) gives %d", i, best, want[i]);
        assert_int_equal(desk_decode(c, &best, 1, &err), DESK_OK);
    }
    desk_ctx_free(c);
    desk_model_free(m);
    unlink(out);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_smollm2_q8_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
