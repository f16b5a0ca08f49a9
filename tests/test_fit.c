/*
 * test_fit.c - `desk fit` and the memory plan: the seed's claims (Llama 3
 * 70B leaves ~88 GB of 128 GB; Mixtral 8x22B fits at 4-bit; both fit at
 * once), preset shapes against published parameter counts, GGUF headers of
 * the real models, sizes and units, JSON shape, and bad input.
 */
#include "util/testutil.h"
#include "util/clijson.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/plan.h"
#include "core/paths.h"
#include "gguf/gguf.h"
#include "model/hparams.h"




static void test_seed_70b(void **state) {
    (void)state;
    const char *const args[] = {"fit", "llama-3-70b", "--mem", "128G", "--json", NULL};
    json_object *o = tu_desk_json(args);
    double free_gb = (double)json_object_get_int64(tu_json_get(o, "free_bytes")) / 1e9;
    if (fabs(free_gb - 88.0) > 2.0) fail_msg("70B at Q4_0 leaves %.2f GB, not 88 +- 2", free_gb);
    assert_true(json_object_get_boolean(tu_json_get(o, "fits")));
    assert_int_equal(json_object_get_int64(tu_json_get(o, "available_bytes")), 128000000000ll);
    json_object *models = tu_json_get(o, "models");
    assert_int_equal(json_object_array_length(models), 1);
    json_object *m = json_object_array_get_idx(models, 0);
    uint64_t w = (uint64_t)json_object_get_int64(tu_json_get(m, "weights_bytes"));
    uint64_t kv = (uint64_t)json_object_get_int64(tu_json_get(m, "kv_bytes"));
    uint64_t c = (uint64_t)json_object_get_int64(tu_json_get(m, "compute_bytes"));
    assert_int_equal(w + kv + c, (uint64_t)json_object_get_int64(tu_json_get(m, "total_bytes")));
    /* 80 layers * 8 kv heads * 128 * 2 (K,V) * 2048 tokens * 2 bytes */
    assert_int_equal(kv, 80ull * 8 * 128 * 2 * 2048 * 2);
    assert_true(w > 39e9 && w < 40.5e9);
    json_object_put(o);
}

static void test_seed_mixtral_and_both(void **state) {
    (void)state;
    const char *const a1[] = {"fit", "mixtral-8x22b", "--quant", "Q4_0", "--mem", "128G", "--json", NULL};
    json_object *o = tu_desk_json(a1);
    assert_true(json_object_get_boolean(tu_json_get(o, "fits")));
    json_object_put(o);
    const char *const a2[] = {"fit", "llama-3-70b", "mixtral-8x22b", "--mem", "128G", "--json", NULL};
    o = tu_desk_json(a2);
    assert_true(json_object_get_boolean(tu_json_get(o, "fits")));
    assert_int_equal(json_object_array_length(tu_json_get(o, "models")), 2);
    int64_t total = json_object_get_int64(tu_json_get(o, "total_bytes"));
    assert_int_equal(json_object_get_int64(tu_json_get(o, "free_bytes")), 128000000000ll - total);
    json_object_put(o);
    /* At 8 bits both together do not fit, and free_bytes goes negative. */
    const char *const a3[] = {"fit", "llama-3-70b", "mixtral-8x22b", "--quant", "q8_0", "--mem", "128G", "--json", NULL};
    o = tu_desk_json(a3);
    assert_false(json_object_get_boolean(tu_json_get(o, "fits")));
    assert_true(json_object_get_int64(tu_json_get(o, "free_bytes")) < 0);
    json_object_put(o);
}

static void test_presets_match_published(void **state) {
    (void)state;
    size_t n;
    const desk_arch_shape *p = desk_presets(&n);
    assert_true(n >= 7);
    const char *need[] = {"llama-3-8b", "llama-3-70b", "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b",
                          "smollm2-135m", "gemma-3-270m"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) assert_non_null(desk_preset_find(need[i]));
    for (size_t i = 0; i < n; i++) {
        double got = (double)desk_shape_params(&p[i]), want = (double)p[i].published_params;
        if (fabs(got - want) / want > 0.01) fail_msg("%s: %.4g params from the shape, %.4g published", p[i].name, got, want);
        if (p[i].n_expert <= 1) assert_true(desk_shape_active_params(&p[i]) == desk_shape_params(&p[i]));
    }
    /* Mixtral 8x7B: 12.9B of its 46.7B parameters active per token (its model card). */
    const double active = (double)desk_shape_active_params(desk_preset_find("mixtral-8x7b"));
    assert_true(active > 12.8e9 && active < 13.0e9);
}

/* The preset of a real model agrees with its GGUF file's parameter count and
 * KV cache; the file plan's weights are its stored tensor bytes. */
static void test_gguf_vs_preset(void **state) {
    (void)state;
    const struct { const char *file, *preset; } pairs[] = {{"smollm2", "smollm2-135m"}, {"gemma3-270m", "gemma-3-270m"}};
    for (size_t i = 0; i < 2; i++) {
        char *path = tu_model_path(pairs[i].file);
        desk_plan_params pp = {.n_ctx = 1024, .n_parallel = 2};
        desk_plan_model f, q;
        desk_err err = {0};
        assert_int_equal(desk_plan_gguf(path, NULL, &pp, &f, &err), DESK_OK);
        double bpw = 0;
        assert_int_equal(desk_quant_bpw("Q8_0", &bpw, &err), DESK_OK);
        assert_int_equal(desk_plan_preset(desk_preset_find(pairs[i].preset), "Q8_0", bpw, &pp, &q, &err), DESK_OK);
        if (fabs((double)f.params - (double)q.params) / (double)q.params > 0.001)
            fail_msg("%s: file %llu params, preset %llu", pairs[i].file, (unsigned long long)f.params,
                     (unsigned long long)q.params);
        assert_int_equal(f.kv, q.kv);
        desk_gguf *g = NULL;
        assert_int_equal(desk_gguf_open(path, &g, &err), DESK_OK);
        uint64_t bytes = 0;
        for (int64_t t = 0; t < desk_gguf_n_tensors(g); t++) bytes += desk_gguf_tensor_at(g, t)->nbytes;
        desk_gguf_close(g);
        assert_int_equal(f.weights, bytes);
        assert_int_equal(f.total, f.weights + f.kv + f.compute);
        free(path);
    }
}

static void test_sizes_and_quants(void **state) {
    (void)state;
    desk_err err = {0};
    uint64_t v = 0;
    assert_int_equal(desk_size_parse("128G", &v, &err), DESK_OK);
    assert_int_equal(v, 128000000000ull);
    assert_int_equal(desk_size_parse("64GiB", &v, &err), DESK_OK);
    assert_int_equal(v, 64ull << 30);
    assert_int_equal(desk_size_parse("512M", &v, &err), DESK_OK);
    assert_int_equal(v, 512000000ull);
    assert_int_equal(desk_size_parse("1.5gb", &v, &err), DESK_OK);
    assert_int_equal(v, 1500000000ull);
    assert_int_equal(desk_size_parse("12Q", &v, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "12Q"));
    assert_int_equal(desk_size_parse("-5G", &v, &err), DESK_E_ARG);
    assert_int_equal(desk_size_parse("", &v, &err), DESK_E_ARG);
    double b = 0;
    assert_int_equal(desk_quant_bpw("Q4_0", &b, &err), DESK_OK);
    assert_true(b == 4.5);
    assert_int_equal(desk_quant_bpw("q8_0", &b, &err), DESK_OK);
    assert_true(b == 8.5);
    assert_int_equal(desk_quant_bpw("F16", &b, &err), DESK_OK);
    assert_true(b == 16);
    assert_int_equal(desk_quant_bpw("Q4_K_M", &b, &err), DESK_OK);
    assert_true(b > 4.8 && b < 5.0);
    assert_int_equal(desk_quant_bpw("Q9_X", &b, &err), DESK_E_ARG);
    uint64_t mt = 0;
    assert_int_equal(desk_mem_total(&mt, &err), DESK_OK);
    assert_true(mt > (64ull << 20));
    /* q8_0 KV is 34/32 of a byte per element, f16 two. */
    assert_int_equal(desk_plan_kv_bytes(64, 32, 1, DESK_CACHE_Q8_0), 64 * 34);
    assert_int_equal(desk_plan_kv_bytes(64, 32, 3, DESK_CACHE_F16), 64 * 32 * 3 * 2);
}

static void test_options_scale(void **state) {
    (void)state;
    const char *const a1[] = {"fit", "llama-3-8b", "--ctx", "4096", "--parallel", "2", "--mem", "64GiB", "--json", NULL};
    json_object *o = tu_desk_json(a1);
    json_object *m = json_object_array_get_idx(tu_json_get(o, "models"), 0);
    assert_int_equal(json_object_get_int64(tu_json_get(m, "kv_bytes")), 32ll * 8 * 128 * 2 * 4096 * 2 * 2);
    assert_int_equal(json_object_get_int64(tu_json_get(o, "available_bytes")), 64ll << 30);
    json_object_put(o);
    const char *const a2[] = {"fit", "llama-3-8b", "--ctx", "4096", "--parallel", "2", "--kv-type", "q8_0", "--json", NULL};
    o = tu_desk_json(a2);
    m = json_object_array_get_idx(tu_json_get(o, "models"), 0);
    assert_int_equal(json_object_get_int64(tu_json_get(m, "kv_bytes")), 32ll * 8 * 128 * 2 * 4096 * 2 * 34 / 32);
    assert_true(json_object_get_int64(tu_json_get(o, "available_bytes")) > 0); /* MemTotal */
    json_object_put(o);
    tu_run r;
    const char *const a3[] = {"fit", "llama-3-70b", "--mem", "128G", NULL};
    tu_desk(&r, NULL, 0, a3);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "fits"));
    assert_non_null(strstr(r.out, "GB = 10^9 bytes"));
    tu_run_free(&r);
    const char *const a4[] = {"fit", "--help", NULL};
    tu_desk(&r, NULL, 0, a4);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "mixtral-8x22b"));
    assert_non_null(strstr(r.out, "config.json"));
    tu_run_free(&r);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *const a1[] = {"fit", "no-such-model", NULL};
    tu_expect_usage_error(a1, "no-such-model");
    const char *const a2[] = {"fit", "llama-3-8b", "--mem", "12Q", NULL};
    tu_expect_usage_error(a2, "12Q");
    const char *const a3[] = {"fit", "llama-3-8b", "--quant", "Q9", NULL};
    tu_expect_usage_error(a3, "Q9");
    const char *const a4[] = {"fit", NULL};
    tu_expect_usage_error(a4, "no MODEL");
    const char *const a5[] = {"fit", "llama-3-8b", "--ctx", "-4", NULL};
    tu_expect_usage_error(a5, "--ctx");
    const char *const a6[] = {"fit", "/nonexistent/x.gguf", NULL};
    tu_expect_usage_error(a6, "/nonexistent/x.gguf");
    const char *const a7[] = {"fit", "llama-3-8b", "--kv-type", "q4", NULL};
    tu_expect_usage_error(a7, "q4");
    const char *const a8[] = {"fit", "llama-3-8b", "--mem", NULL};
    tu_expect_usage_error(a8, "needs a value");
}


/* Writes a header-only file of architecture "toy" to PATH: 3 layers, 64
 * wide, 4 heads, per-layer KV heads {1, 2, 4} and FFN widths, key_length
 * 32 and no value_length; BAD_BLOCKS writes block_count as a string. */
static void write_toy(const char *path, bool bad_blocks) {
    desk_gguf_writer *w = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_writer_new(&w, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "general.architecture", "toy", &err), DESK_OK);
    if (bad_blocks) assert_int_equal(desk_gguf_writer_set_str(w, "toy.block_count", "three", &err), DESK_OK);
    else assert_int_equal(desk_gguf_writer_set_u32(w, "toy.block_count", 3, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "toy.embedding_length", 64, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "toy.attention.head_count", 4, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "toy.attention.key_length", 32, &err), DESK_OK);
    int32_t kv[3] = {1, 2, 4}, ff[3] = {128, 256, 128};
    desk_gguf_value v = {.type = DESK_GGUF_ARRAY};
    v.v.arr.type = DESK_GGUF_INT32;
    v.v.arr.n = 3;
    v.v.arr.data = kv;
    assert_int_equal(desk_gguf_writer_set(w, "toy.attention.head_count_kv", &v, &err), DESK_OK);
    v.v.arr.data = ff;
    assert_int_equal(desk_gguf_writer_set(w, "toy.feed_forward_length", &v, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_write(w, path, &err), DESK_OK);
    desk_gguf_writer_free(w);
}

/* desk_hparams_read: llama.cpp's defaults, per-layer arrays (largest and
 * summed), and a count of the wrong type refused by name; the plan's KV
 * cache follows the per-layer heads and each of K's and V's head sizes. */
static void test_hparams_reader(void **state) {
    (void)state;
    char path[] = "/tmp/desk_test_fit_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_toy(path, false);
    desk_err err = {0};
    desk_gguf *g = NULL;
    assert_int_equal(desk_gguf_open(path, &g, &err), DESK_OK);
    desk_hparams hp;
    assert_int_equal(desk_hparams_read(g, &hp, &err), DESK_OK);
    assert_string_equal(hp.arch, "toy");
    assert_int_equal(hp.n_layer, 3);
    assert_int_equal(hp.n_head_kv, 4);
    assert_int_equal(hp.n_head_kv_sum, 7);
    assert_int_equal(hp.n_ff, 256);
    assert_true(hp.per_layer);
    assert_int_equal(hp.head_dim_k, 32);
    assert_int_equal(hp.head_dim_v, 16); /* embedding_length / head_count, not key_length */
    assert_int_equal(hp.n_rot, 32);
    assert_int_equal(hp.n_ctx_train, 0);
    assert_true(hp.rope_base == 10000.0f);
    desk_plan_model pm;
    desk_plan_file(g, &hp, &(desk_plan_params){.n_ctx = 32}, &pm);
    assert_int_equal(pm.kv, 7 * 32 * 32 * 2 + 7 * 16 * 32 * 2);
    desk_plan_file(g, &hp, &(desk_plan_params){.n_ctx = 32, .type_k = DESK_CACHE_Q8_0}, &pm);
    assert_int_equal(pm.kv, 7 * 32 * 32 / 32 * 34 + 7 * 16 * 32 * 2);
    desk_gguf_close(g);
    write_toy(path, true);
    assert_int_equal(desk_gguf_open(path, &g, &err), DESK_OK);
    assert_int_equal(desk_hparams_read(g, &hp, &err), DESK_E_FORMAT);
    assert_non_null(strstr(err.msg, "toy.block_count"));
    desk_gguf_close(g);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_70b),         cmocka_unit_test(test_seed_mixtral_and_both),
        cmocka_unit_test(test_presets_match_published), cmocka_unit_test(test_gguf_vs_preset),
        cmocka_unit_test(test_sizes_and_quants), cmocka_unit_test(test_options_scale),
        cmocka_unit_test(test_bad_input),        cmocka_unit_test(test_hparams_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
