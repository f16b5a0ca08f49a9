/*
 * test_batch.c - decoding several sequences in one batch, on the real
 * models: the per-sequence KV cache (remove, copy), which rows keep
 * logits, and the refusals a server relies on (bad ids, positions that do
 * not continue a sequence, more logit rows than the context keeps).
 *
 * What "the same" means here: a sequence decoded with the same batch
 * shapes gives the same bits whether or not its cache was copied from
 * another sequence.  Decoded inside a batch with other sequences, its
 * matrix products may take another kernel path than alone (llama.cpp's
 * sums differ by batch size too), so there the check is that its greedy
 * tokens are the same (24 tokens of lockstep generation against each
 * sequence run alone).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/testutil.h"

typedef struct fixture {
    desk_model *m;
    const desk_tokenizer *t;
    int32_t n_vocab;
} fixture;

static fixture load(const char *name) {
    fixture f = {0};
    char *path = tu_model_path(name);
    desk_err e = {0};
    desk_model_params mp = {0};
    assert_int_equal(desk_model_load(path, &mp, &f.m, &e), DESK_OK);
    free(path);
    f.t = desk_model_tokenizer(f.m);
    f.n_vocab = desk_model_n_vocab(f.m);
    return f;
}

static int tokens(const fixture *f, const char *text, desk_token *ids, int cap) {
    size_t n = 0;
    desk_err e = {0};
    assert_int_equal(desk_tokenize(f->t, text, strlen(text), DESK_TOK_ADD_SPECIAL, ids, (size_t)cap, &n, &e), DESK_OK);
    return (int)n;
}

static desk_ctx *ctx(const fixture *f, int n_seq, int n_ctx) {
    desk_ctx *c = NULL;
    desk_err e = {0};
    desk_ctx_params cp = {.n_ctx = n_ctx, .n_seq_max = n_seq, .n_threads = 2};
    assert_int_equal(desk_ctx_new(f->m, &cp, &c, &e), DESK_OK);
    return c;
}

static desk_token argmax(const float *l, int32_t n) {
    desk_token best = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static double max_diff(const float *a, const float *b, int32_t n) {
    double d = 0;
    for (int32_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

/* Greedy continuation of PROMPT alone in sequence 0 of a fresh context. */
static void generate_alone(const fixture *f, const desk_token *prompt, int n, int n_gen, desk_token *out) {
    desk_ctx *c = ctx(f, 1, 128);
    desk_err e = {0};
    assert_int_equal(desk_decode(c, prompt, n, &e), DESK_OK);
    for (int i = 0; i < n_gen; i++) {
        out[i] = argmax(desk_ctx_logits(c, -1), f->n_vocab);
        assert_int_equal(desk_decode(c, &out[i], 1, &e), DESK_OK);
    }
    desk_ctx_free(c);
}

/* Two prompts prefilled in one interleaved batch, then generated in
 * lockstep (one row per sequence per step): each sequence's greedy tokens
 * equal its own run alone. */
static void lockstep(const char *model) {
    fixture f = load(model);
    desk_token a[64], b[64];
    const int na = tokens(&f, "The capital of France is", a, 64);
    const int nb = tokens(&f, "Once upon a time, in a small village by the sea, there lived", b, 64);
    enum { GEN = 24 };
    desk_token ga[GEN], gb[GEN];
    generate_alone(&f, a, na, GEN, ga);
    generate_alone(&f, b, nb, GEN, gb);

    desk_ctx *c = ctx(&f, 2, 128);
    desk_err e = {0};
    desk_token tok[128];
    int32_t seq[128];
    int8_t want[128];
    int n = 0, last_a = -1, last_b = -1;
    for (int i = 0; i < na || i < nb; i++) {
        if (i < na) {
            tok[n] = a[i], seq[n] = 0, want[n] = i == na - 1;
            if (want[n]) last_a = n;
            n++;
        }
        if (i < nb) {
            tok[n] = b[i], seq[n] = 1, want[n] = i == nb - 1;
            if (want[n]) last_b = n;
            n++;
        }
    }
    desk_batch batch = {.n_tokens = n, .token = tok, .seq_id = seq, .logits = want};
    assert_int_equal(desk_decode_batch(c, &batch, &e), DESK_OK);
    assert_int_equal(desk_kv_seq_len(c, 0), na);
    assert_int_equal(desk_kv_seq_len(c, 1), nb);
    /* Rows that asked for none have no logits; -1 is the last that did. */
    assert_null(desk_ctx_logits(c, 0));
    assert_ptr_equal(desk_ctx_logits(c, -1), desk_ctx_logits(c, last_a > last_b ? last_a : last_b));
    desk_token next[2] = {argmax(desk_ctx_logits(c, last_a), f.n_vocab), argmax(desk_ctx_logits(c, last_b), f.n_vocab)};
    assert_int_equal(next[0], ga[0]);
    assert_int_equal(next[1], gb[0]);
    for (int step = 1; step < GEN; step++) {
        const int32_t s2[2] = {0, 1};
        const int32_t p2[2] = {na + step - 1, nb + step - 1};
        const int8_t w2[2] = {1, 1};
        desk_batch b2 = {.n_tokens = 2, .token = next, .pos = p2, .seq_id = s2, .logits = w2};
        assert_int_equal(desk_decode_batch(c, &b2, &e), DESK_OK);
        next[0] = argmax(desk_ctx_logits(c, 0), f.n_vocab);
        next[1] = argmax(desk_ctx_logits(c, 1), f.n_vocab);
        assert_int_equal(next[0], ga[step]);
        assert_int_equal(next[1], gb[step]);
    }
    desk_ctx_free(c);
    desk_model_free(f.m);
}

static void test_lockstep_smollm2(void **state) { lockstep("smollm2"); }
static void test_lockstep_gemma3(void **state) { lockstep("gemma3-270m"); }

/* A prefix copied into another sequence, then the same suffix decoded in
 * each: the same bits as decoding prefix and suffix in one sequence. */
static void test_seq_copy_and_remove(void **state) {
    fixture f = load("smollm2");
    desk_token p[64];
    const int n = tokens(&f, "Paris is the capital of France, and Berlin is the capital of", p, 64);
    const int k = n / 2;
    desk_err e = {0};
    float *want = malloc((size_t)f.n_vocab * sizeof(float));
    assert_non_null(want);

    desk_ctx *one = ctx(&f, 1, 128);
    assert_int_equal(desk_decode(one, p, k, &e), DESK_OK);
    assert_int_equal(desk_decode(one, p + k, n - k, &e), DESK_OK);
    memcpy(want, desk_ctx_logits(one, -1), (size_t)f.n_vocab * sizeof(float));

    desk_ctx *c = ctx(&f, 3, 128);
    desk_batch b = {.n_tokens = n, .token = p};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_OK);
    assert_int_equal(desk_kv_seq_cp(c, 0, 2, k, &e), DESK_OK);
    assert_int_equal(desk_kv_seq_len(c, 2), k);
    int32_t s2[64];
    for (int i = 0; i < 64; i++) s2[i] = 2;
    desk_batch rest = {.n_tokens = n - k, .token = p + k, .seq_id = s2};
    assert_int_equal(desk_decode_batch(c, &rest, &e), DESK_OK);
    assert_memory_equal(desk_ctx_logits(c, -1), want, (size_t)f.n_vocab * sizeof(float));

    /* Cutting sequence 0 back to K and decoding the suffix again: same bits. */
    assert_int_equal(desk_kv_seq_rm(c, 0, k, &e), DESK_OK);
    assert_int_equal(desk_kv_seq_len(c, 0), k);
    assert_int_equal(desk_kv_seq_len(c, 2), n);
    desk_batch again = {.n_tokens = n - k, .token = p + k};
    assert_int_equal(desk_decode_batch(c, &again, &e), DESK_OK);
    assert_memory_equal(desk_ctx_logits(c, -1), want, (size_t)f.n_vocab * sizeof(float));
    /* -1 forgets every sequence. */
    assert_int_equal(desk_kv_seq_rm(c, -1, 0, &e), DESK_OK);
    for (int s = 0; s < 3; s++) assert_int_equal(desk_kv_seq_len(c, s), 0);
    assert_int_equal(desk_kv_seq_len(c, 3), -1);

    desk_ctx_free(c);
    desk_ctx_free(one);
    free(want);
    desk_model_free(f.m);
}

/* Every refusal leaves the cache as it was, and names the row. */
static void test_refusals(void **state) {
    fixture f = load("smollm2");
    desk_ctx *c = ctx(&f, 2, 16);
    desk_err e = {0};
    assert_null(desk_ctx_logits(c, -1)); /* nothing decoded yet */
    assert_null(desk_ctx_logits(c, 0));
    desk_token t[4] = {1, 2, 3, 4};
    int32_t bad_seq[4] = {0, 1, 2, 0};
    desk_batch b = {.n_tokens = 4, .token = t, .seq_id = bad_seq};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_ARG);
    assert_non_null(strstr(e.msg, "row 2"));
    int32_t pos[4] = {0, 1, 3, 4};
    b = (desk_batch){.n_tokens = 4, .token = t, .pos = pos};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_ARG);
    assert_non_null(strstr(e.msg, "row 2"));
    int8_t all[4] = {1, 1, 1, 0};
    b = (desk_batch){.n_tokens = 4, .token = t, .logits = all};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_RANGE); /* keeps n_seq_max = 2 rows */
    desk_token big[1] = {f.n_vocab};
    b = (desk_batch){.n_tokens = 1, .token = big};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_RANGE);
    b = (desk_batch){.n_tokens = 0, .token = t};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_ARG);
    for (int s = 0; s < 2; s++) assert_int_equal(desk_kv_seq_len(c, s), 0);
    assert_null(desk_ctx_logits(c, -1));

    /* A sequence that would pass n_ctx is refused whole. */
    desk_token fill[17] = {0};
    b = (desk_batch){.n_tokens = 16, .token = fill};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_OK);
    assert_non_null(desk_ctx_logits(c, 15));
    assert_null(desk_ctx_logits(c, 14));
    assert_null(desk_ctx_logits(c, 16));
    assert_null(desk_ctx_logits(c, -2));
    b = (desk_batch){.n_tokens = 1, .token = fill};
    assert_int_equal(desk_decode_batch(c, &b, &e), DESK_E_RANGE);
    assert_int_equal(desk_kv_seq_len(c, 0), 16);
    assert_int_equal(desk_kv_seq_cp(c, 0, 1, 17, &e), DESK_E_RANGE);
    assert_int_equal(desk_kv_seq_cp(c, 0, 5, 1, &e), DESK_E_ARG);
    assert_int_equal(desk_kv_seq_rm(c, 0, -1, &e), DESK_E_ARG);
    desk_ctx_free(c);
    desk_model_free(f.m);
}

/* Embeddings: every row's final hidden state, and a row's is the same
 * whether or not another sequence shares its batch. */
static void test_embeddings(void **state) {
    fixture f = load("smollm2");
    desk_err e = {0};
    desk_ctx_params cp = {.n_ctx = 64, .n_seq_max = 2, .embeddings = true, .n_threads = 2};
    desk_ctx *c = NULL;
    assert_int_equal(desk_ctx_new(f.m, &cp, &c, &e), DESK_OK);
    desk_token p[32];
    const int n = tokens(&f, "Hello world", p, 32);
    assert_int_equal(desk_decode(c, p, n, &e), DESK_OK);
    const int32_t E = desk_model_n_embd(f.m);
    float *row = malloc((size_t)E * sizeof(float));
    assert_non_null(row);
    memcpy(row, desk_ctx_embeddings(c, n - 1), (size_t)E * sizeof(float));
    double norm = 0;
    for (int32_t i = 0; i < E; i++) norm += (double)row[i] * row[i];
    assert_true(norm > 0 && isfinite(norm));
    assert_null(desk_ctx_embeddings(c, n));
    /* the same logits row as a context without embeddings */
    desk_ctx *plain = ctx(&f, 1, 64);
    assert_int_equal(desk_decode(plain, p, n, &e), DESK_OK);
    assert_true(max_diff(desk_ctx_logits(plain, -1), desk_ctx_logits(c, -1), f.n_vocab) == 0.0);
    desk_ctx_free(plain);
    free(row);
    desk_ctx_free(c);
    desk_model_free(f.m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_seq_copy_and_remove),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_lockstep_smollm2),
        cmocka_unit_test(test_lockstep_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
