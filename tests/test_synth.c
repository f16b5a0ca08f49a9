/*
 * test_synth.c - `desk synth`: the tiny shape with SmolLM2's tokenizer opens
 * with the GGUF reader and the model loader, has the llama tensor shapes,
 * copies every tokenizer key, is the same file for the same seed whatever
 * the thread count (and another for another seed), decodes to finite
 * logits, quantizes directly with a recipe; bad arguments exit 2.
 * --arch qwen3moe writes qwen3's heads of 128 with their norms and the
 * stacked small experts, and its keys.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/types.h"

static char g_dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/desk_ts_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    const char *names[] = {"a.gguf", "b.gguf", "c.gguf", "q.gguf", "m.gguf"};
    for (size_t i = 0; i < 5; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

static void synth(const char *out, const char *seed, const char *threads, const char *type) {
    char *vocab = tu_model_path("smollm2");
    tu_run r;
    const char *const a[] = {"synth", "--shape", "tiny", "--vocab-from", vocab, out, "--seed", seed,
                             "--threads", threads, "--type", type, NULL};
    tu_desk(&r, NULL, 0, a);
    if (r.code != 0) fail_msg("desk synth: exit %d: %s", r.code, r.err);
    tu_run_free(&r);
    free(vocab);
}

static void path(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

/* qwen3moe: heads of 128 (q wider than the model), per-head norms, 32
 * experts of 192 (a quarter of 768), 4 per token, and the keys saying so;
 * the loader takes it. */
static void test_qwen3moe_layout(void **state) {
    (void)state;
    char m[128];
    path(m, sizeof m, "m.gguf");
    char *vocab = tu_model_path("smollm2");
    tu_run r;
    const char *const a[] = {"synth", "--shape", "tiny", "--arch", "qwen3moe", "--vocab-from", vocab, m, NULL};
    tu_desk(&r, NULL, 0, a);
    if (r.code != 0) fail_msg("desk synth: exit %d: %s", r.code, r.err);
    tu_run_free(&r);
    free(vocab);
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(m, &g, &err), DESK_OK);
    static const struct {
        const char *key;
        uint32_t v;
    } keys[] = {{"qwen3moe.attention.key_length", 128}, {"qwen3moe.attention.value_length", 128},
                {"qwen3moe.rope.dimension_count", 128}, {"qwen3moe.expert_count", 32},
                {"qwen3moe.expert_used_count", 4},      {"qwen3moe.expert_feed_forward_length", 192}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint32_t u = 0;
        if (desk_gguf_get_u32(g, keys[i].key, &u, &err) != DESK_OK) fail_msg("%s: %s", keys[i].key, err.msg);
        assert_int_equal(u, keys[i].v);
    }
    static const struct {
        const char *name;
        int64_t ne0, ne1, ne2;
    } want[] = {
        {"blk.0.attn_q.weight", 256, 512, 1},       {"blk.0.attn_k.weight", 256, 256, 1},
        {"blk.0.attn_output.weight", 512, 256, 1},  {"blk.1.attn_q_norm.weight", 128, 1, 1},
        {"blk.1.attn_k_norm.weight", 128, 1, 1},    {"blk.0.ffn_gate_inp.weight", 256, 32, 1},
        {"blk.0.ffn_gate_exps.weight", 256, 192, 32}, {"blk.1.ffn_down_exps.weight", 192, 256, 32},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const desk_gguf_tensor *t = desk_gguf_find_tensor(g, want[i].name);
        if (!t) fail_msg("no %s", want[i].name);
        assert_int_equal(t->ne[0], want[i].ne0);
        assert_int_equal(t->ne[1], want[i].ne1);
        assert_int_equal(t->n_dims > 2 ? t->ne[2] : 1, want[i].ne2);
    }
    assert_null(desk_gguf_find_tensor(g, "blk.0.ffn_gate.weight"));
    assert_null(desk_gguf_find_tensor(g, "blk.0.attn_q.bias"));
    desk_gguf_close(g);
    desk_model *dm = NULL;
    if (desk_model_load(m, NULL, &dm, &err) != DESK_OK) fail_msg("%s", err.msg);
    assert_string_equal(desk_model_arch(dm), "qwen3moe");
    desk_model_free(dm);
}

static void test_tiny_file(void **state) {
    (void)state;
    char a[128];
    path(a, sizeof a, "a.gguf");
    synth(a, "7", "1", "f16");
    desk_gguf *g = NULL, *v = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(a, &g, &err), DESK_OK);
    char *vocab = tu_model_path("smollm2");
    assert_int_equal(desk_gguf_open(vocab, &v, &err), DESK_OK);
    /* every tokenizer key of the source, with the same value type and length */
    int n_tok_keys = 0;
    for (int64_t i = 0; i < desk_gguf_n_kv(v); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(v, i);
        if (strncmp(kv->key.s, "tokenizer.", 10) != 0) continue;
        n_tok_keys++;
        const desk_gguf_kv *o = desk_gguf_find_kv(g, kv->key.s);
        if (!o) fail_msg("%s not copied", kv->key.s);
        assert_int_equal(o->value.type, kv->value.type);
        if (kv->value.type == DESK_GGUF_ARRAY) assert_int_equal(o->value.v.arr.n, kv->value.v.arr.n);
        if (kv->value.type == DESK_GGUF_STRING) assert_string_equal(o->value.v.str.s, kv->value.v.str.s);
    }
    assert_true(n_tok_keys >= 5);
    desk_gguf_vtype vt;
    uint64_t n_vocab = 0;
    const void *toks;
    assert_int_equal(desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &vt, &n_vocab, &toks, &err), DESK_OK);
    assert_int_equal(n_vocab, 49152);
    assert_string_equal(((const desk_gguf_str *)toks)[1].s, "<|im_start|>");
    const char *arch = NULL;
    assert_int_equal(desk_gguf_get_str(g, "general.architecture", &arch, &err), DESK_OK);
    assert_string_equal(arch, "llama");
    uint32_t u = 0;
    assert_int_equal(desk_gguf_get_u32(g, "llama.block_count", &u, &err), DESK_OK);
    assert_int_equal(u, 2);
    assert_int_equal(desk_gguf_get_u32(g, "general.file_type", &u, &err), DESK_OK);
    assert_int_equal(u, 1);
    /* shapes: 2 layers x 9 tensors + token_embd + output_norm (tied output) */
    assert_int_equal(desk_gguf_n_tensors(g), 2 * 9 + 2);
    static const struct {
        const char *name;
        int64_t ne0, ne1;
        uint32_t type;
    } want[] = {
        {"token_embd.weight", 256, 49152, DESK_TYPE_F16},   {"output_norm.weight", 256, 1, DESK_TYPE_F32},
        {"blk.1.attn_q.weight", 256, 256, DESK_TYPE_F16},   {"blk.1.attn_k.weight", 256, 128, DESK_TYPE_F16},
        {"blk.1.attn_v.weight", 256, 128, DESK_TYPE_F16},   {"blk.0.attn_output.weight", 256, 256, DESK_TYPE_F16},
        {"blk.0.ffn_gate.weight", 256, 768, DESK_TYPE_F16}, {"blk.0.ffn_up.weight", 256, 768, DESK_TYPE_F16},
        {"blk.0.ffn_down.weight", 768, 256, DESK_TYPE_F16}, {"blk.0.attn_norm.weight", 256, 1, DESK_TYPE_F32},
        {"blk.1.ffn_norm.weight", 256, 1, DESK_TYPE_F32},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const desk_gguf_tensor *t = desk_gguf_find_tensor(g, want[i].name);
        if (!t) fail_msg("no %s", want[i].name);
        assert_int_equal(t->ne[0], want[i].ne0);
        assert_int_equal(t->ne[1], want[i].ne1);
        assert_int_equal(t->type, want[i].type);
    }
    assert_null(desk_gguf_find_tensor(g, "output.weight"));
    /* weights look like N(0, 0.02); norms are 1 */
    const desk_gguf_tensor *q = desk_gguf_find_tensor(g, "blk.0.attn_q.weight");
    int64_t n = q->ne[0] * q->ne[1];
    float *f = malloc((size_t)n * sizeof(float));
    assert_int_equal(desk_dequantize_row(q->type, q->data, f, n, &err), DESK_OK);
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += f[i], ss += (double)f[i] * f[i];
    double mean = s / (double)n, sd = sqrt(ss / (double)n - mean * mean);
    assert_true(fabs(mean) < 0.001);
    assert_true(fabs(sd - 0.02) < 0.001);
    free(f);
    const float *norm = desk_gguf_find_tensor(g, "output_norm.weight")->data;
    for (int i = 0; i < 256; i++) assert_true(norm[i] == 1.0f);
    desk_gguf_close(v);
    desk_gguf_close(g);
    free(vocab);
}

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void test_deterministic(void **state) {
    (void)state;
    char a[128], b[128], c[128];
    path(a, sizeof a, "a.gguf");
    path(b, sizeof b, "b.gguf");
    path(c, sizeof c, "c.gguf");
    synth(a, "7", "1", "f16");
    synth(b, "7", "2", "f16");
    synth(c, "8", "2", "f16");
    assert_true(same_file(a, b));
    assert_false(same_file(a, c));
}

/* The model loader takes it and a prompt gives finite logits. */
static void test_loads_and_decodes(void **state) {
    (void)state;
    char a[128];
    path(a, sizeof a, "a.gguf");
    synth(a, "3", "2", "f16");
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    desk_err err = {0};
    if (desk_model_load(a, NULL, &m, &err) != DESK_OK) fail_msg("load: %s", err.msg);
    assert_int_equal(desk_model_n_vocab(m), 49152);
    desk_ctx_params p = {.n_ctx = 32, .n_threads = 1};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    desk_token ids[16];
    size_t n = 0;
    assert_int_equal(desk_tokenize(desk_model_tokenizer(m), "Hello world", 11, DESK_TOK_ADD_SPECIAL, ids, 16, &n, &err),
                     DESK_OK);
    assert_int_equal(desk_decode(c, ids, (int)n, &err), DESK_OK);
    const float *l = desk_ctx_logits(c, -1);
    float lo = l[0], hi = l[0];
    for (int v = 0; v < 49152; v++) {
        assert_true(isfinite(l[v]));
        lo = l[v] < lo ? l[v] : lo;
        hi = l[v] > hi ? l[v] : hi;
    }
    assert_true(hi > lo); /* not a constant output */
    desk_ctx_free(c);
    desk_model_free(m);
}

/* --type q4_k_m: the recipe's types (tied token_embd Q6_K; attn_v and
 * ffn_down of 2 layers: layer 1 >= 7*2/8 gets Q6_K, layer 0 Q4_K). */
static void test_quantized(void **state) {
    (void)state;
    char q[128];
    path(q, sizeof q, "q.gguf");
    synth(q, "1", "2", "q4_k_m");
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(q, &g, &err), DESK_OK);
    uint32_t ft = 0;
    assert_int_equal(desk_gguf_get_u32(g, "general.file_type", &ft, &err), DESK_OK);
    assert_int_equal(ft, 15);
    assert_int_equal(desk_gguf_find_tensor(g, "token_embd.weight")->type, DESK_TYPE_Q6_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.0.attn_v.weight")->type, DESK_TYPE_Q4_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.1.attn_v.weight")->type, DESK_TYPE_Q6_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, DESK_TYPE_Q4_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.1.ffn_down.weight")->type, DESK_TYPE_Q6_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.0.ffn_up.weight")->type, DESK_TYPE_Q4_K);
    assert_int_equal(desk_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type, DESK_TYPE_F32);
    desk_gguf_close(g);
}

static void expect_usage_error(const char *const *a, const char *needle) {
    tu_run r;
    tu_desk(&r, NULL, 0, a);
    assert_int_equal(r.code, 2);
    if (!strstr(r.err, needle)) fail_msg("stderr '%s' lacks '%s'", r.err, needle);
    tu_run_free(&r);
}

static void test_errors(void **state) {
    (void)state;
    char out[128], nodir[160];
    path(out, sizeof out, "c.gguf");
    unlink(out);
    snprintf(nodir, sizeof nodir, "%s/missing/x.gguf", g_dir);
    const char *const a1[] = {"synth", "--shape", "llama-70b", "--vocab-from", "smollm2", out, NULL};
    expect_usage_error(a1, "unknown shape llama-70b");
    const char *const a2[] = {"synth", "--shape", "tiny", "--vocab-from", "/nonexistent.gguf", out, NULL};
    expect_usage_error(a2, "nonexistent");
    const char *const a3[] = {"synth", "--shape", "tiny", "--vocab-from", "smollm2", out, "--type", "q9", NULL};
    expect_usage_error(a3, "unknown type q9");
    const char *const a4[] = {"synth", "--shape", "tiny", "--vocab-from", "smollm2", nodir, NULL};
    expect_usage_error(a4, "does not exist");
    const char *const a5[] = {"synth", "--shape", "tiny", out, NULL};
    expect_usage_error(a5, "usage");
    assert_int_equal(access(out, F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_file),      cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_loads_and_decodes), cmocka_unit_test(test_quantized),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_qwen3moe_layout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
