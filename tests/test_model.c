/*
 * test_model.c - the forward pass on the real models: greedy continuations
 * equal llama.cpp's (tests/data/model/README.md), the scalar reference path
 * agrees with the default path, and bad input is refused with a message.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static void greedy(const char *name, const char *prompt, const desk_token *want, int n_want) {
    char *path = tu_model_path(name);
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params p = {.n_ctx = 256, .n_threads = 2};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    desk_token ids[128];
    size_t n = 0;
    assert_int_equal(desk_tokenize(desk_model_tokenizer(m), prompt, strlen(prompt), DESK_TOK_ADD_SPECIAL, ids,
                                   128, &n, &err),
                     DESK_OK);
    assert_int_equal(desk_decode(c, ids, (int)n, &err), DESK_OK);
    for (int i = 0; i < n_want; i++) {
        const float *l = desk_ctx_logits(c, -1);
        desk_token best = 0;
        for (desk_token v = 1; v < desk_model_n_vocab(m); v++)
            if (l[v] > l[best]) best = v;
        /* A near tie may fall either way: desk's logits differ from
         * llama.cpp's by about 0.1 on average (8-bit activations amplify
         * any difference in float summation order), so llama.cpp's token
         * within 0.25 of the best logit passes, and the continuation then
         * follows llama.cpp's token. */
        if (best != want[i] && !(want[i] >= 0 && want[i] < desk_model_n_vocab(m) && l[want[i]] >= l[best] - 0.25f))
            fail_msg("%s, '%s': token %d is %d, llama.cpp gives %d", name, prompt, i, best, want[i]);
        best = want[i];
        assert_int_equal(desk_decode(c, &best, 1, &err), DESK_OK);
    }
    desk_ctx_free(c);
    desk_model_free(m);
    free(path);
}

/* Under the sanitizers the same checks run on fewer tokens. */
static int budget(int n) { return getenv("DESK_SANITIZED") ? (n < 6 ? n : 6) : n; }

static void test_smollm2_greedy(void **state) {
    (void)state;
    static const desk_token paris[] = {7042, 30, 198, 198, 504, 1797, 1918, 553,
                                       253,  2155, 282, 4723, 216, 35, 33, 33};
    static const desk_token once[] = {28, 260, 2240, 282, 1315, 27108, 436, 253,
                                      15114, 39228, 28, 351, 25854, 41658, 284, 14055};
    greedy("smollm2", "The capital of France is", paris, budget(16));
    greedy("smollm2", "Once upon a time", once, budget(16));
}

static void test_gemma3_greedy(void **state) {
    (void)state;
    static const desk_token want[] = {506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506};
    greedy("gemma3-270m", "The capital of France is", want, budget(11));
}

/* The default path quantizes activations to 8 bits; the reference path
 * computes in plain floats.  Their logits stay close and pick the same token. */
static void test_reference_agrees(void **state) {
    (void)state;
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *fast = NULL, *ref = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params pf = {.n_ctx = 64, .n_threads = 2}, pr = {.n_ctx = 64, .n_threads = 2, .reference = true};
    assert_int_equal(desk_ctx_new(m, &pf, &fast, &err), DESK_OK);
    assert_int_equal(desk_ctx_new(m, &pr, &ref, &err), DESK_OK);
    const desk_token ids[] = {504, 3575, 282, 4649, 314};
    assert_int_equal(desk_decode(fast, ids, 5, &err), DESK_OK);
    assert_int_equal(desk_decode(ref, ids, 5, &err), DESK_OK);
    const float *a = desk_ctx_logits(fast, -1), *b = desk_ctx_logits(ref, -1);
    double maxd = 0, maxv = 0;
    for (int v = 0; v < desk_model_n_vocab(m); v++) {
        double d = fabs((double)a[v] - b[v]);
        if (d > maxd) maxd = d;
        if (fabs(b[v]) > maxv) maxv = fabs(b[v]);
    }
    print_message("largest logit difference, default vs reference: %.4f (logits up to %.1f)\n", maxd, maxv);
    /* Measured 0.62 on logits up to 19.8 (8-bit activations over 30 layers). */
    assert_true(maxd < 1.0);
    int ia = 0, ib = 0;
    for (int v = 1; v < desk_model_n_vocab(m); v++) {
        if (a[v] > a[ia]) ia = v;
        if (b[v] > b[ib]) ib = v;
    }
    assert_int_equal(ia, ib);
    assert_true(maxd > 0); /* the paths really differ: activations are quantized in one */
    desk_ctx_free(fast);
    desk_ctx_free(ref);
    desk_model_free(m);
    free(path);
}

static void test_errors(void **state) {
    (void)state;
    desk_err err = {0};
    desk_model *m = NULL;
    assert_int_not_equal(desk_model_load("/nonexistent/model.gguf", NULL, &m, &err), DESK_OK);
    assert_null(m);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    /* A vocabulary-only file has no weights: the first missing tensor is named. */
    char *vocab = tu_shared_path("vocab/ggml-vocab-llama-spm.gguf");
    assert_int_equal(desk_model_load(vocab, NULL, &m, &err), DESK_E_FORMAT);
    assert_non_null(strstr(err.msg, "token_embd.weight"));
    free(vocab);
    /* Decoding past the context or out-of-range ids is refused. */
    char *path = tu_model_path("smollm2");
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params p = {.n_ctx = 4, .n_threads = 1};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    desk_token ids[5] = {1, 2, 3, 4, 5};
    assert_int_equal(desk_decode(c, ids, 5, &err), DESK_E_RANGE);
    desk_token bad = 1 << 30;
    assert_int_equal(desk_decode(c, &bad, 1, &err), DESK_E_RANGE);
    assert_int_equal(desk_decode(c, ids, 0, &err), DESK_E_ARG);
    assert_int_equal(desk_decode(c, ids, 4, &err), DESK_OK);
    assert_int_equal(desk_decode(c, ids, 1, &err), DESK_E_RANGE);
    assert_non_null(strstr(err.msg, "context full"));
    desk_ctx_truncate(c, 2);
    assert_int_equal(desk_ctx_pos(c), 2);
    assert_int_equal(desk_decode(c, ids, 2, &err), DESK_OK);
    desk_ctx_free(c);
    desk_model_free(m);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2_greedy),
        cmocka_unit_test(test_gemma3_greedy),
        cmocka_unit_test(test_reference_agrees),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
