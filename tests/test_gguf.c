/*
 * test_gguf.c - GGUF writer -> reader round trips (every value type, nested
 * arrays, strings with NUL bytes, alignments), lookups and getters, and the
 * structure of the real models and vocab files.
 */
#include "util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tensor/types.h"
#include "util/gguf_sample.h"

static desk_gguf *open_bytes(const unsigned char *b, size_t n) {
    desk_gguf *g = NULL;
    desk_err e = {0};
    if (desk_gguf_open_memory(b, n, &g, &e) != DESK_OK) fail_msg("open: %s", e.msg);
    return g;
}

static const desk_gguf_value *val(const desk_gguf *g, const char *key, desk_gguf_vtype type) {
    const desk_gguf_kv *kv = desk_gguf_find_kv(g, key);
    if (!kv) fail_msg("key %s missing", key);
    assert_int_equal(kv->value.type, type);
    return &kv->value;
}

/* Checks every key and tensor of the sample (see gguf_sample.c). */
static void check_sample(const desk_gguf *g) {
    assert_string_equal(val(g, "general.architecture", DESK_GGUF_STRING)->v.str.s, "llama");
    assert_int_equal(val(g, "t.u8", DESK_GGUF_UINT8)->v.u64, 200);
    assert_int_equal(val(g, "t.i8", DESK_GGUF_INT8)->v.i64, -100);
    assert_int_equal(val(g, "t.u16", DESK_GGUF_UINT16)->v.u64, 65535);
    assert_int_equal(val(g, "t.i16", DESK_GGUF_INT16)->v.i64, -32768);
    assert_int_equal(val(g, "t.u32", DESK_GGUF_UINT32)->v.u64, 4000000000u);
    assert_int_equal(val(g, "t.i32", DESK_GGUF_INT32)->v.i64, -2000000000);
    assert_true(val(g, "t.f32", DESK_GGUF_FLOAT32)->v.f64 == 0.15625);
    assert_true(val(g, "t.bool", DESK_GGUF_BOOL)->v.b);
    const desk_gguf_str *s = &val(g, "t.str", DESK_GGUF_STRING)->v.str;
    assert_int_equal(s->len, TU_SAMPLE_STR_LEN);
    assert_memory_equal(s->s, TU_SAMPLE_STR, TU_SAMPLE_STR_LEN + 1);
    assert_true(val(g, "t.u64", DESK_GGUF_UINT64)->v.u64 == UINT64_MAX);
    assert_true(val(g, "t.i64", DESK_GGUF_INT64)->v.i64 == INT64_MIN);
    assert_true(val(g, "t.f64", DESK_GGUF_FLOAT64)->v.f64 == -1.0e300);
    const desk_gguf_value *a = val(g, "t.arr.u32", DESK_GGUF_ARRAY);
    assert_int_equal(a->v.arr.type, DESK_GGUF_UINT32);
    assert_int_equal(a->v.arr.n, 5);
    assert_memory_equal(a->v.arr.data, TU_SAMPLE_U32S, sizeof TU_SAMPLE_U32S);
    a = val(g, "t.arr.str", DESK_GGUF_ARRAY);
    assert_int_equal(a->v.arr.type, DESK_GGUF_STRING);
    assert_int_equal(a->v.arr.n, 3);
    for (int i = 0; i < 3; i++) {
        const desk_gguf_str *e = (const desk_gguf_str *)a->v.arr.data + i;
        assert_int_equal(e->len, strlen(TU_SAMPLE_STRS[i]));
        assert_string_equal(e->s, TU_SAMPLE_STRS[i]);
    }
    a = val(g, "t.arr.empty", DESK_GGUF_ARRAY);
    assert_int_equal(a->v.arr.type, DESK_GGUF_FLOAT32);
    assert_int_equal(a->v.arr.n, 0);
    /* [[[1, 4294967295], [7]], []] */
    a = val(g, "t.arr.nested", DESK_GGUF_ARRAY);
    assert_int_equal(a->v.arr.type, DESK_GGUF_ARRAY);
    assert_int_equal(a->v.arr.n, 2);
    const desk_gguf_value *mid = a->v.arr.data;
    assert_int_equal(mid[0].v.arr.type, DESK_GGUF_ARRAY);
    assert_int_equal(mid[0].v.arr.n, 2);
    assert_int_equal(mid[1].v.arr.n, 0);
    const desk_gguf_value *inner = mid[0].v.arr.data;
    assert_int_equal(inner[0].v.arr.type, DESK_GGUF_UINT32);
    assert_int_equal(inner[0].v.arr.n, 2);
    assert_int_equal(((const uint32_t *)inner[0].v.arr.data)[0], 1);
    assert_int_equal(((const uint32_t *)inner[0].v.arr.data)[1], 0xffffffffu);
    assert_int_equal(inner[1].v.arr.n, 1);
    assert_int_equal(((const uint32_t *)inner[1].v.arr.data)[0], 7);

    assert_int_equal(desk_gguf_n_tensors(g), 4);
    const desk_gguf_tensor *t = desk_gguf_find_tensor(g, "w.f32");
    assert_non_null(t);
    assert_int_equal(t->type, DESK_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->nbytes, 48);
    assert_memory_equal(t->data, TU_SAMPLE_F32, 48);
    t = desk_gguf_find_tensor(g, "w.q4_k");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 144);
    assert_int_equal(((const unsigned char *)t->data)[5], 16);
    t = desk_gguf_find_tensor(g, "w.f16");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 4);
    assert_int_equal(t->ne[3], 2);
    assert_int_equal(t->nbytes, 16);
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        t = desk_gguf_tensor_at(g, i);
        assert_int_equal(t->offset % desk_gguf_alignment(g), 0);
        assert_ptr_equal(desk_gguf_find_tensor(g, t->name.s), t);
    }
    assert_null(desk_gguf_find_tensor(g, "w.f3"));
    assert_null(desk_gguf_find_kv(g, "t.u8x"));
    assert_null(desk_gguf_tensor_at(g, 4));
    assert_null(desk_gguf_kv_at(g, -1));
}

static void test_round_trip(void **state) {
    (void)state;
    size_t n;
    unsigned char *b = tu_gguf_sample_bytes(0, &n);
    desk_gguf *g = open_bytes(b, n);
    assert_int_equal(desk_gguf_version(g), 3);
    assert_int_equal(desk_gguf_alignment(g), 32);
    assert_int_equal(desk_gguf_data_offset(g) % 32, 0);
    assert_int_equal(desk_gguf_file_size(g), n);
    /* Keys keep the order they were added in. */
    assert_string_equal(desk_gguf_kv_at(g, 0)->key.s, "general.architecture");
    assert_string_equal(desk_gguf_kv_at(g, 1)->key.s, "t.u8");
    check_sample(g);

    /* copy_kv + the same tensors writes a byte-identical file. */
    desk_gguf_writer *w = NULL;
    desk_err e = {0};
    assert_int_equal(desk_gguf_writer_new(&w, &e), DESK_OK);
    assert_int_equal(desk_gguf_writer_copy_kv(w, g, &e), DESK_OK);
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, i);
        assert_int_equal(desk_gguf_writer_add_tensor(w, t->name.s, t->type, t->n_dims, t->ne, t->data, &e), DESK_OK);
    }
    size_t n2;
    unsigned char *b2 = tu_gguf_write_bytes(w, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(b2, b, n);
    desk_gguf_writer_free(w);
    free(b2);
    desk_gguf_close(g);
    free(b);
}

static void test_alignments(void **state) {
    (void)state;
    const uint32_t als[] = {1, 2, 8, 64, 4096};
    for (size_t i = 0; i < sizeof als / sizeof als[0]; i++) {
        size_t n;
        unsigned char *b = tu_gguf_sample_bytes(als[i], &n);
        desk_gguf *g = open_bytes(b, n);
        assert_int_equal(desk_gguf_alignment(g), als[i]);
        assert_int_equal(desk_gguf_data_offset(g) % als[i], 0);
        check_sample(g);
        desk_gguf_close(g);
        free(b);
    }
    /* The writer refuses a bad alignment instead of writing a bad file. */
    const uint32_t bad[] = {0, 3, 48};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        desk_gguf_writer *w = NULL;
        desk_err e = {0};
        assert_int_equal(desk_gguf_writer_new(&w, &e), DESK_OK);
        assert_int_equal(desk_gguf_writer_set_u32(w, "general.alignment", bad[i], &e), DESK_OK);
        assert_int_not_equal(desk_gguf_writer_write(w, "/tmp/desk-never-written.gguf", &e), DESK_OK);
        assert_non_null(strstr(e.msg, "alignment"));
        desk_gguf_writer_free(w);
    }
}

static void test_getters(void **state) {
    (void)state;
    size_t n;
    unsigned char *b = tu_gguf_sample_bytes(0, &n);
    desk_gguf *g = open_bytes(b, n);
    desk_err e = {0};
    uint32_t u;
    int64_t i;
    float f;
    bool bo;
    const char *s;
    assert_int_equal(desk_gguf_get_u32(g, "t.u8", &u, &e), DESK_OK);
    assert_int_equal(u, 200);
    assert_int_equal(desk_gguf_get_u32(g, "t.u32", &u, &e), DESK_OK);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(desk_gguf_get_u32(g, "t.i8", &u, &e), DESK_E_FORMAT); /* negative */
    assert_non_null(strstr(e.msg, "t.i8"));
    assert_int_equal(desk_gguf_get_u32(g, "t.u64", &u, &e), DESK_E_FORMAT); /* too big */
    assert_int_equal(desk_gguf_get_i64(g, "t.i64", &i, &e), DESK_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(desk_gguf_get_i64(g, "t.u64", &i, &e), DESK_E_FORMAT);
    assert_int_equal(desk_gguf_get_f32(g, "t.f32", &f, &e), DESK_OK);
    assert_true(f == 0.15625f);
    assert_int_equal(desk_gguf_get_f32(g, "t.i16", &f, &e), DESK_OK);
    assert_true(f == -32768.0f);
    assert_int_equal(desk_gguf_get_f32(g, "t.str", &f, &e), DESK_E_FORMAT);
    assert_int_equal(desk_gguf_get_bool(g, "t.bool", &bo, &e), DESK_OK);
    assert_true(bo);
    assert_int_equal(desk_gguf_get_bool(g, "t.u8", &bo, &e), DESK_E_FORMAT);
    assert_int_equal(desk_gguf_get_str(g, "general.architecture", &s, &e), DESK_OK);
    assert_string_equal(s, "llama");
    assert_int_equal(desk_gguf_get_str(g, "nope", &s, &e), DESK_E_NOTFOUND);
    assert_non_null(strstr(e.msg, "nope"));
    desk_gguf_vtype t;
    uint64_t cnt;
    const void *d;
    assert_int_equal(desk_gguf_get_arr(g, "t.arr.str", &t, &cnt, &d, &e), DESK_OK);
    assert_int_equal(t, DESK_GGUF_STRING);
    assert_int_equal(cnt, 3);
    assert_int_equal(desk_gguf_get_arr(g, "t.u8", &t, &cnt, &d, &e), DESK_E_FORMAT);
    assert_string_equal(desk_gguf_vtype_name(DESK_GGUF_FLOAT64), "FLOAT64");
    assert_string_equal(desk_gguf_vtype_name((desk_gguf_vtype)99), "unknown");
    desk_gguf_close(g);
    free(b);
}

static void test_writer_rejects(void **state) {
    (void)state;
    desk_gguf_writer *w = NULL;
    desk_err e = {0};
    float x[32] = {0};
    assert_int_equal(desk_gguf_writer_new(&w, &e), DESK_OK);
    assert_int_equal(desk_gguf_writer_add_tensor(w, "a", DESK_TYPE_F32, 1, (const int64_t[]){4}, x, &e), DESK_OK);
    assert_int_not_equal(desk_gguf_writer_add_tensor(w, "a", DESK_TYPE_F32, 1, (const int64_t[]){4}, x, &e), DESK_OK);
    assert_non_null(strstr(e.msg, "twice"));
    assert_int_not_equal(desk_gguf_writer_add_tensor(w, "b", DESK_TYPE_Q8_0, 1, (const int64_t[]){16}, x, &e), DESK_OK);
    assert_int_not_equal(desk_gguf_writer_add_tensor(w, "c", 4, 1, (const int64_t[]){16}, x, &e), DESK_OK);
    assert_int_not_equal(desk_gguf_writer_add_tensor(w, "d", DESK_TYPE_F32, 5, (const int64_t[]){1, 1, 1, 1, 1}, x, &e), DESK_OK);
    assert_int_not_equal(desk_gguf_writer_add_tensor(w, "e", DESK_TYPE_F32, 1, (const int64_t[]){0}, x, &e), DESK_OK);
    assert_int_not_equal(desk_gguf_writer_set_u32(w, "", 1, &e), DESK_OK);
    /* Replacing a key keeps its place. */
    assert_int_equal(desk_gguf_writer_set_u32(w, "k1", 1, &e), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_u32(w, "k2", 2, &e), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, "k1", "one", &e), DESK_OK);
    size_t n;
    unsigned char *b = tu_gguf_write_bytes(w, &n);
    desk_gguf *g = open_bytes(b, n);
    assert_int_equal(desk_gguf_n_kv(g), 2);
    assert_string_equal(desk_gguf_kv_at(g, 0)->key.s, "k1");
    assert_string_equal(desk_gguf_kv_at(g, 0)->value.v.str.s, "one");
    assert_int_equal(desk_gguf_n_tensors(g), 1);
    desk_gguf_close(g);
    free(b);
    desk_gguf_writer_free(w);
}

/* The real models: architecture, counts and a few well-known tensors. */
static void test_real_models(void **state) {
    (void)state;
    struct {
        const char *name, *arch, *tok_model;
        int64_t n_tensors;
        uint32_t n_embd, n_layer;
    } models[] = {
        {"smollm2", "llama", "gpt2", 272, 576, 30},
        {"gemma3-270m", "gemma3", "llama", 236, 640, 18},
    };
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char *path = tu_model_path(models[m].name);
        desk_gguf *g = NULL;
        desk_err e = {0};
        assert_int_equal(desk_gguf_open(path, &g, &e), DESK_OK);
        const char *s;
        assert_int_equal(desk_gguf_get_str(g, "general.architecture", &s, &e), DESK_OK);
        assert_string_equal(s, models[m].arch);
        assert_int_equal(desk_gguf_get_str(g, "tokenizer.ggml.model", &s, &e), DESK_OK);
        assert_string_equal(s, models[m].tok_model);
        assert_int_equal(desk_gguf_n_tensors(g), models[m].n_tensors);
        char key[128];
        uint32_t v;
        snprintf(key, sizeof key, "%s.embedding_length", models[m].arch);
        assert_int_equal(desk_gguf_get_u32(g, key, &v, &e), DESK_OK);
        assert_int_equal(v, models[m].n_embd);
        snprintf(key, sizeof key, "%s.block_count", models[m].arch);
        assert_int_equal(desk_gguf_get_u32(g, key, &v, &e), DESK_OK);
        assert_int_equal(v, models[m].n_layer);
        const desk_gguf_tensor *t = desk_gguf_find_tensor(g, "token_embd.weight");
        assert_non_null(t);
        assert_int_equal(t->ne[0], models[m].n_embd);
        desk_gguf_vtype at;
        uint64_t nv;
        assert_int_equal(desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &nv, NULL, &e), DESK_OK);
        assert_int_equal(at, DESK_GGUF_STRING);
        assert_int_equal(t->ne[1], (int64_t)nv);
        /* Every tensor of every block is there. */
        for (uint32_t l = 0; l < models[m].n_layer; l++) {
            snprintf(key, sizeof key, "blk.%u.attn_q.weight", l);
            assert_non_null(desk_gguf_find_tensor(g, key));
        }
        uint64_t sum = 0;
        for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) sum += desk_gguf_tensor_at(g, i)->nbytes;
        assert_true(desk_gguf_data_offset(g) + sum <= desk_gguf_file_size(g));
        assert_true(desk_gguf_file_size(g) - desk_gguf_data_offset(g) - sum < 32ull * (uint64_t)desk_gguf_n_tensors(g));
        desk_gguf_close(g);
        free(path);
    }
}

static void test_vocab_files(void **state) {
    (void)state;
    const char *files[] = {"bert-bge", "falcon", "gpt-2", "llama-spm", "phi-3", "starcoder"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", files[i]);
        char *path = tu_shared_path(rel);
        desk_gguf *g = NULL;
        desk_err e = {0};
        if (desk_gguf_open(path, &g, &e) != DESK_OK) fail_msg("%s: %s", path, e.msg);
        assert_int_equal(desk_gguf_n_tensors(g), 0);
        desk_gguf_vtype at;
        uint64_t nv;
        assert_int_equal(desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &nv, NULL, &e), DESK_OK);
        assert_true(nv > 1000);
        desk_gguf_close(g);
        free(path);
    }
    desk_gguf *g = NULL;
    desk_err e = {0};
    assert_int_equal(desk_gguf_open("/nonexistent/x.gguf", &g, &e), DESK_E_IO);
    assert_null(g);
    assert_non_null(strstr(e.msg, "/nonexistent/x.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_alignments),
        cmocka_unit_test(test_getters),     cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_real_models), cmocka_unit_test(test_vocab_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
