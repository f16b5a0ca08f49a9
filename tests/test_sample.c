/*
 * test_sample.c - the sampler: the generator against published vectors,
 * greedy ties, each filter's cut, the penalties' arithmetic, the shape of
 * the distribution it draws from, and seeding.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"

static desk_sampler *make(desk_sampler_params p, int32_t n_vocab) {
    desk_sampler *s = NULL;
    desk_err e = {0};
    assert_int_equal(desk_sampler_new(&p, n_vocab, &s, &e), DESK_OK);
    return s;
}

/* A sampler with every filter and penalty off. */
static desk_sampler_params plain(float temp, uint64_t seed) {
    desk_sampler_params p = desk_sampler_defaults();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static void test_rng_vectors(void **state) {
    (void)state;
    /* xoshiro256** from state {1,2,3,4}: the first outputs as published
     * with the reference implementation (also rand_xoshiro's test). */
    desk_rng r = {{1, 2, 3, 4}};
    assert_true(desk_rng_next(&r) == 11520ull);
    assert_true(desk_rng_next(&r) == 0ull);
    assert_true(desk_rng_next(&r) == 1509978240ull);
    assert_true(desk_rng_next(&r) == 1215971899390074240ull);
    /* splitmix64 from 0 gives the known 0xe220a8397b1dcdaf, ... */
    desk_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xe220a8397b1dcdafull);
    assert_true(r.s[1] == 0x6e789e6aa1b965f4ull);
    assert_true(r.s[2] == 0x06c45d188009454full);
    assert_true(r.s[3] == 0xf88bb8a8724c81ecull);
    double lo = 1, hi = 0, sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = desk_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        lo = fmin(lo, u);
        hi = fmax(hi, u);
        sum += u;
    }
    assert_true(lo < 0.001 && hi > 0.999);
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
}

static void test_greedy_ties(void **state) {
    (void)state;
    desk_sampler *s = make(plain(0.0f, 1), 6);
    float l[6] = {1, 3, 2, 3, -1, 3};
    assert_int_equal(desk_sampler_sample(s, l), 1);
    float m[6] = {-5, -4, -3, -3, -9, -7};
    assert_int_equal(desk_sampler_sample(s, m), 2);
    float n[6] = {0, NAN, 0.5f, 0, 0, 0};
    assert_int_equal(desk_sampler_sample(s, n), 2);
    desk_sampler_free(s);
}

static void test_repeat_penalty(void **state) {
    (void)state;
    desk_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    desk_sampler *s = make(p, 4);
    /* positive logits are divided: 4 -> 2 loses to 3 */
    float l[4] = {4, 3, -1, -2};
    assert_int_equal(desk_sampler_sample(s, l), 0);
    desk_sampler_accept(s, 0);
    assert_int_equal(desk_sampler_sample(s, l), 1);
    /* negative logits are multiplied: -1 -> -2 loses to -1.5 */
    float m[4] = {-9, -9, -1, -1.5f};
    assert_int_equal(desk_sampler_sample(s, m), 2);
    desk_sampler_accept(s, 2);
    assert_int_equal(desk_sampler_sample(s, m), 3);
    /* the window holds 2 tokens: accepting a third forgets token 0 */
    desk_sampler_accept(s, 3);
    assert_int_equal(desk_sampler_sample(s, l), 0);
    desk_sampler_accept(s, 1);
    desk_sampler_accept(s, 1);
    desk_sampler_reset(s);
    float k[4] = {1, 1.2f, 0, 0};
    assert_int_equal(desk_sampler_sample(s, k), 1);
    desk_sampler_free(s);
}

static void test_frequency_presence(void **state) {
    (void)state;
    desk_sampler_params p = plain(0.0f, 1);
    p.frequency_penalty = 0.5f;
    p.repeat_last_n = 8;
    desk_sampler *s = make(p, 3);
    float l[3] = {10, 9.2f, 0};
    desk_sampler_accept(s, 0); /* 10 - 0.5 = 9.5 still wins */
    assert_int_equal(desk_sampler_sample(s, l), 0);
    desk_sampler_accept(s, 0); /* twice: 10 - 1.0 = 9 loses to 9.2 */
    assert_int_equal(desk_sampler_sample(s, l), 1);
    desk_sampler_free(s);

    p = plain(0.0f, 1);
    p.presence_penalty = 0.5f;
    p.repeat_last_n = 8;
    s = make(p, 3);
    desk_sampler_accept(s, 0);
    desk_sampler_accept(s, 0);
    desk_sampler_accept(s, 0); /* presence counts once: 9.5 beats 9.2 */
    assert_int_equal(desk_sampler_sample(s, l), 0);
    desk_sampler_accept(s, 1);
    float m[3] = {10, 9.7f, 0}; /* both penalised once: 9.5 vs 9.2 */
    assert_int_equal(desk_sampler_sample(s, m), 0);
    desk_sampler_free(s);
}

/* Draws N tokens from LOGITS and counts each id. */
static void histogram(desk_sampler *s, const float *logits, int32_t n_vocab, int n, int *hist) {
    memset(hist, 0, sizeof *hist * (size_t)n_vocab);
    for (int i = 0; i < n; i++) {
        desk_token t = desk_sampler_sample(s, logits);
        assert_true(t >= 0 && t < n_vocab);
        hist[t]++;
    }
}

static void test_distribution(void **state) {
    (void)state;
    float l[4] = {logf(0.6f), logf(0.25f), logf(0.1f), logf(0.05f)};
    int h[4];
    desk_sampler *s = make(plain(1.0f, 7), 4);
    histogram(s, l, 4, 40000, h);
    const double want[4] = {0.6, 0.25, 0.1, 0.05};
    for (int i = 0; i < 4; i++) assert_true(fabs(h[i] / 40000.0 - want[i]) < 0.01);
    desk_sampler_free(s);
    /* temperature 0.5 squares the odds: 0.6^2 : 0.25^2 : ... */
    s = make(plain(0.5f, 7), 4);
    histogram(s, l, 4, 40000, h);
    double z = 0.36 + 0.0625 + 0.01 + 0.0025;
    assert_true(fabs(h[0] / 40000.0 - 0.36 / z) < 0.01);
    assert_true(fabs(h[1] / 40000.0 - 0.0625 / z) < 0.01);
    desk_sampler_free(s);
}

static void test_filters(void **state) {
    (void)state;
    float l[5] = {logf(0.05f), logf(0.4f), logf(0.3f), logf(0.2f), logf(0.05f)};
    int h[5];
    desk_sampler_params p = plain(1.0f, 3);
    p.top_k = 2;
    desk_sampler *s = make(p, 5);
    histogram(s, l, 5, 4000, h);
    assert_true(h[1] > 0 && h[2] > 0);
    assert_int_equal(h[0] + h[3] + h[4], 0);
    assert_true(fabs(h[1] / 4000.0 - 4.0 / 7.0) < 0.03);
    desk_sampler_free(s);

    p = plain(1.0f, 3);
    p.top_p = 0.75f; /* 0.4 + 0.3 = 0.7 < 0.75, so 0.2 is kept too */
    s = make(p, 5);
    histogram(s, l, 5, 4000, h);
    assert_true(h[1] > 0 && h[2] > 0 && h[3] > 0);
    assert_int_equal(h[0] + h[4], 0);
    desk_sampler_free(s);

    p = plain(1.0f, 3);
    p.top_p = 0.65f; /* crossed by the second: the crossing token stays */
    s = make(p, 5);
    histogram(s, l, 5, 4000, h);
    assert_true(h[1] > 0 && h[2] > 0);
    assert_int_equal(h[0] + h[3] + h[4], 0);
    desk_sampler_free(s);

    p = plain(1.0f, 3);
    p.min_p = 0.6f; /* keeps p >= 0.24: ids 1 and 2 */
    s = make(p, 5);
    histogram(s, l, 5, 4000, h);
    assert_true(h[1] > 0 && h[2] > 0);
    assert_int_equal(h[0] + h[3] + h[4], 0);
    desk_sampler_free(s);

    p = plain(1.0f, 3);
    p.top_k = 1;
    s = make(p, 5);
    histogram(s, l, 5, 100, h);
    assert_int_equal(h[1], 100);
    desk_sampler_free(s);
}

/* Top-k's heap against a plain sort on a larger random vocabulary: with
 * top_k = K and temperature near 0 every kept token is drawn eventually,
 * and nothing outside the true top K ever is. */
static void test_top_k_large(void **state) {
    (void)state;
    enum { V = 5000, K = 7 };
    float *l = malloc(sizeof *l * V);
    desk_rng r;
    desk_rng_seed(&r, 99);
    for (int i = 0; i < V; i++) l[i] = (float)(desk_rng_uniform(&r) * 4.0);
    float sorted[V];
    memcpy(sorted, l, sizeof sorted);
    for (int i = 0; i < K; i++) { /* selection: the K largest */
        int b = i;
        for (int j = i + 1; j < V; j++)
            if (sorted[j] > sorted[b]) b = j;
        float t = sorted[i];
        sorted[i] = sorted[b];
        sorted[b] = t;
    }
    desk_sampler_params p = plain(1000.0f, 5); /* flat among the kept */
    p.top_k = K;
    desk_sampler *s = make(p, V);
    int seen = 0;
    int hits[V];
    memset(hits, 0, sizeof hits);
    for (int i = 0; i < 2000; i++) {
        desk_token t = desk_sampler_sample(s, l);
        assert_true(l[t] >= sorted[K - 1]);
        if (!hits[t]++) seen++;
    }
    assert_int_equal(seen, K);
    desk_sampler_free(s);
    free(l);
}

static void test_seeds(void **state) {
    (void)state;
    float l[16];
    for (int i = 0; i < 16; i++) l[i] = (float)(i % 5) * 0.3f;
    desk_token a[64], b[64], c[64];
    desk_sampler_params p = desk_sampler_defaults();
    p.seed = 1234;
    desk_sampler *s1 = make(p, 16), *s2 = make(p, 16);
    p.seed = 1235;
    desk_sampler *s3 = make(p, 16);
    for (int i = 0; i < 64; i++) {
        a[i] = desk_sampler_sample(s1, l);
        b[i] = desk_sampler_sample(s2, l);
        c[i] = desk_sampler_sample(s3, l);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    desk_sampler_free(s1);
    desk_sampler_free(s2);
    desk_sampler_free(s3);
}

static void test_bad_params(void **state) {
    (void)state;
    desk_sampler *s = NULL;
    desk_err e = {0};
    desk_sampler_params p = desk_sampler_defaults();
    p.top_p = 1.5f;
    assert_int_equal(desk_sampler_new(&p, 10, &s, &e), DESK_E_RANGE);
    assert_non_null(strstr(e.msg, "top-p"));
    assert_null(s);
    p = desk_sampler_defaults();
    p.repeat_penalty = 0.0f;
    assert_int_equal(desk_sampler_new(&p, 10, &s, &e), DESK_E_RANGE);
    assert_non_null(strstr(e.msg, "repeat penalty"));
    p = desk_sampler_defaults();
    p.repeat_last_n = -1;
    assert_int_equal(desk_sampler_new(&p, 10, &s, &e), DESK_E_RANGE);
    p = desk_sampler_defaults();
    p.min_p = NAN;
    assert_int_equal(desk_sampler_new(&p, 10, &s, &e), DESK_E_RANGE);
    p = desk_sampler_defaults();
    assert_int_equal(desk_sampler_new(&p, 0, &s, &e), DESK_E_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_vectors),   cmocka_unit_test(test_greedy_ties),
        cmocka_unit_test(test_repeat_penalty), cmocka_unit_test(test_frequency_presence),
        cmocka_unit_test(test_distribution),  cmocka_unit_test(test_filters),
        cmocka_unit_test(test_top_k_large),   cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
