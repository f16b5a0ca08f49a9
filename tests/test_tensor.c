/*
 * test_tensor.c - the type table and the scalar reference routines of every
 * tensor type: round-trip error bounds, dot products against the
 * dequantized weights, the K-quant scale search against a naive quantizer,
 * determinism, degenerate rows, and the row API's error handling.
 *
 * The error bounds are measured values with a little headroom; they are
 * documented (with the measurements) in docs/QUANTIZATION.md.  Bit-exact
 * dequantization against the gguf package is tests/py/test_dequant_vs_gguf.py.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "tensor/blocks.h"
#include "tensor/ref.h"
#include "tensor/types.h"

/* One row of the per-type expectations. */
typedef struct type_case {
    uint32_t type;
    double max_rel_rms; /* bound on rms(dequant(quant(x)) - x) / rms(x), x ~ N(0,1) */
} type_case;

static const type_case CASES[] = {
    {DESK_TYPE_F32, 0.0},        {DESK_TYPE_F16, 0.00024},    {DESK_TYPE_BF16, 0.0018},
    {DESK_TYPE_Q4_0, 0.095},     {DESK_TYPE_Q4_1, 0.086},    {DESK_TYPE_Q5_0, 0.047},
    {DESK_TYPE_Q5_1, 0.042},     {DESK_TYPE_Q8_0, 0.006},   {DESK_TYPE_Q8_1, 0.006},
    {DESK_TYPE_IQ4_NL, 0.081},    {DESK_TYPE_Q2_K, 0.285},     {DESK_TYPE_Q3_K, 0.158},
    {DESK_TYPE_Q4_K, 0.077},      {DESK_TYPE_Q5_K, 0.038},     {DESK_TYPE_Q6_K, 0.019},
    {DESK_TYPE_Q8_K, 0.0075},    {DESK_TYPE_IQ4_XS, 0.082},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* ---- data ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0; }

static void gaussian(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        const double u = rng_unit(&s), v = rng_unit(&s);
        x[i] = (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
    }
}

static bool sanitized(void) { return getenv("DESK_SANITIZED") != NULL; }

/* Elements per test row: a multiple of 256, smaller under sanitizers. */
static int64_t row_len(void) { return sanitized() ? 1024 : 8192; }

/* ---- helpers --------------------------------------------------------- */

static const desk_type_info *info(uint32_t type) {
    const desk_type_info *t = desk_type_get(type);
    assert_non_null(t);
    assert_non_null(t->quant);
    assert_non_null(t->dequant);
    assert_non_null(t->vec_dot);
    return t;
}

/* Quantizes X (N floats) to TYPE in a fresh buffer (caller frees). */
static void *quant_new(uint32_t type, const float *x, int64_t n) {
    size_t sz = desk_type_row_size(type, n);
    void *q = malloc(sz + 1);
    assert_non_null(q);
    desk_err e = {0};
    assert_int_equal(desk_quantize_row(type, x, q, n, &e), DESK_OK);
    return q;
}

static double rel_rms(const float *x, const float *y, int64_t n) {
    double se = 0, sx = 0;
    for (int64_t i = 0; i < n; i++) {
        se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        sx += (double)x[i] * x[i];
    }
    return sx > 0 ? sqrt(se / sx) : sqrt(se);
}

static double roundtrip_err(uint32_t type, const float *x, int64_t n) {
    void *q = quant_new(type, x, n);
    float *y = malloc((size_t)n * sizeof *y);
    assert_non_null(y);
    desk_err e = {0};
    assert_int_equal(desk_dequantize_row(type, q, y, n, &e), DESK_OK);
    double r = rel_rms(x, y, n);
    free(q);
    free(y);
    return r;
}

/* ---- tests ----------------------------------------------------------- */

static void test_table(void **state) {
    (void)state;
    static const struct { uint32_t type; size_t size; } SIZES[] = {
        {DESK_TYPE_Q4_0, sizeof(desk_block_q4_0)},   {DESK_TYPE_Q4_1, sizeof(desk_block_q4_1)},
        {DESK_TYPE_Q5_0, sizeof(desk_block_q5_0)},   {DESK_TYPE_Q5_1, sizeof(desk_block_q5_1)},
        {DESK_TYPE_Q8_0, sizeof(desk_block_q8_0)},   {DESK_TYPE_Q8_1, sizeof(desk_block_q8_1)},
        {DESK_TYPE_IQ4_NL, sizeof(desk_block_iq4_nl)}, {DESK_TYPE_Q2_K, sizeof(desk_block_q2_K)},
        {DESK_TYPE_Q3_K, sizeof(desk_block_q3_K)},   {DESK_TYPE_Q4_K, sizeof(desk_block_q4_K)},
        {DESK_TYPE_Q5_K, sizeof(desk_block_q5_K)},   {DESK_TYPE_Q6_K, sizeof(desk_block_q6_K)},
        {DESK_TYPE_Q8_K, sizeof(desk_block_q8_K)},   {DESK_TYPE_IQ4_XS, sizeof(desk_block_iq4_xs)},
    };
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++)
        assert_int_equal(desk_type_get(SIZES[i].type)->type_size, SIZES[i].size);
    for (size_t i = 0; i < N_CASES; i++) {
        const desk_type_info *t = info(CASES[i].type);
        /* Whatever a type is dotted with must itself be quantizable. */
        assert_non_null(desk_type_get(t->vec_dot_type)->quant);
    }
    assert_int_equal(desk_type_get(DESK_TYPE_Q4_1)->vec_dot_type, DESK_TYPE_Q8_1);
    assert_int_equal(desk_type_get(DESK_TYPE_Q5_0)->vec_dot_type, DESK_TYPE_Q8_0);
    assert_int_equal(desk_type_get(DESK_TYPE_Q6_K)->vec_dot_type, DESK_TYPE_Q8_K);
    assert_int_equal(desk_type_from_name("q4_k"), DESK_TYPE_Q4_K);
    assert_null(desk_type_get(4)); /* ids 4 and 5 were removed from GGUF */
}

static void test_row_api_errors(void **state) {
    (void)state;
    float x[64] = {0};
    unsigned char buf[256];
    desk_err e = {0};
    assert_int_equal(desk_quantize_row(99, x, buf, 32, &e), DESK_E_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "99"));
    assert_int_equal(desk_quantize_row(DESK_TYPE_IQ2_XXS, x, buf, 256, &e), DESK_E_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "IQ2_XXS"));
    assert_int_equal(desk_dequantize_row(DESK_TYPE_TQ1_0, buf, x, 256, &e), DESK_E_UNSUPPORTED);
    assert_int_equal(desk_quantize_row(DESK_TYPE_Q4_0, x, buf, 33, &e), DESK_E_ARG);
    assert_non_null(strstr(e.msg, "33"));
    assert_int_equal(desk_dequantize_row(DESK_TYPE_Q4_K, buf, x, -256, &e), DESK_E_ARG);
    assert_int_equal(desk_quantize_row(DESK_TYPE_Q8_0, x, buf, 0, &e), DESK_OK);
}

static void test_roundtrip_bounds(void **state) {
    (void)state;
    const int64_t n = row_len();
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    gaussian(x, n, 1);
    int over = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        const double r = roundtrip_err(CASES[i].type, x, n);
        printf("  %-7s rel rms error %.5f (bound %.5f)%s\n", desk_type_name(CASES[i].type), r,
               CASES[i].max_rel_rms, r <= CASES[i].max_rel_rms ? "" : "  OVER");
        over += r > CASES[i].max_rel_rms;
    }
    assert_int_equal(over, 0);
    /* F32 is exact; F16 rounds each value to 11 significant bits. */
    assert_true(roundtrip_err(DESK_TYPE_F32, x, n) == 0.0);
    free(x);
}

/* vec_dot(w, act) must equal the dot of the dequantized rows up to float
 * rounding, and approximate the float dot of w with the raw activations. */
static void test_vec_dot(void **state) {
    (void)state;
    const int64_t n = row_len();
    float *x = malloc((size_t)n * sizeof *x), *a = malloc((size_t)n * sizeof *a);
    float *wd = malloc((size_t)n * sizeof *wd), *ad = malloc((size_t)n * sizeof *ad);
    assert_true(x && a && wd && ad);
    double worst_exact[N_CASES] = {0}, worst_raw[N_CASES] = {0};
    for (int trial = 0; trial < 3; trial++) {
        gaussian(x, n, 100 + (uint64_t)trial);
        gaussian(a, n, 200 + (uint64_t)trial);
        if (trial == 2) /* an activation row with a bias, as after a norm */
            for (int64_t i = 0; i < n; i++) a[i] = a[i] * 0.5f + 1.0f;
        for (size_t c = 0; c < N_CASES; c++) {
            const desk_type_info *t = info(CASES[c].type);
            const desk_type_info *at = info(t->vec_dot_type);
            void *wq = quant_new(CASES[c].type, x, n);
            void *aq = malloc(desk_type_row_size(t->vec_dot_type, n));
            assert_non_null(aq);
            desk_err e = {0};
            assert_int_equal(desk_quantize_acts(CASES[c].type, a, aq, n, &e), DESK_OK);
            t->dequant(wq, wd, n);
            at->dequant(aq, ad, n);
            double exact = 0, mag = 0, raw = 0, wn = 0, an = 0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)wd[i] * ad[i];
                mag += fabs((double)wd[i] * ad[i]);
                raw += (double)wd[i] * a[i];
                wn += (double)wd[i] * wd[i];
                an += (double)a[i] * a[i];
            }
            const double got = t->vec_dot(n, wq, aq);
            worst_exact[c] = fmax(worst_exact[c], fabs(got - exact) / mag);
            worst_raw[c] = fmax(worst_raw[c], fabs(got - raw) / sqrt(wn * an));
            /* Integer sums are exact, so only the per-block float scaling
             * rounds - except that Q4_1/Q5_1 use Q8_1's s = d * sum(q),
             * which is stored as f16 (2^-11 relative). */
            const double tol_exact = (t->vec_dot_type == DESK_TYPE_Q8_1 ? 5e-4 : 1e-6) * mag;
            if (fabs(got - exact) > tol_exact)
                fail_msg("%s trial %d: vec_dot %.6f vs dequantized dot %.6f", t->name, trial, got, exact);
            /* Quantizing the activations costs ~1e-4 of |w||a| at n = 8192
             * (measured; docs/QUANTIZATION.md), ~3e-4 at n = 1024. */
            if (fabs(got - raw) > 2e-3 * sqrt(wn * an))
                fail_msg("%s trial %d: vec_dot %.6f vs float dot %.6f", t->name, trial, got, raw);
            free(wq);
            free(aq);
        }
    }
    for (size_t c = 0; c < N_CASES; c++)
        printf("  %-7s |dot - dequantized dot| / sum|w a| <= %.2e, |dot - float dot| / |w||a| <= %.2e\n",
               desk_type_name(CASES[c].type), worst_exact[c], worst_raw[c]);
    free(x);
    free(a);
    free(wd);
    free(ad);
}

/* The same agreement on blocks of random bytes (every level, scale and
 * min pattern, including the ends no quantizer produces), with each f16
 * scale field set to a random value in [-2, 2). */
static void test_vec_dot_random_blocks(void **state) {
    (void)state;
    static const struct { uint32_t type; int scale_off[2]; } RB[] = {
        {DESK_TYPE_Q4_0, {0, -1}}, {DESK_TYPE_Q4_1, {0, 2}},  {DESK_TYPE_Q5_0, {0, -1}},
        {DESK_TYPE_Q5_1, {0, 2}},  {DESK_TYPE_Q8_0, {0, -1}}, {DESK_TYPE_IQ4_NL, {0, -1}},
        {DESK_TYPE_Q2_K, {80, 82}}, {DESK_TYPE_Q3_K, {108, -1}}, {DESK_TYPE_Q4_K, {0, 2}},
        {DESK_TYPE_Q5_K, {0, 2}},  {DESK_TYPE_Q6_K, {208, -1}}, {DESK_TYPE_IQ4_XS, {0, -1}},
    };
    const int64_t n = 2048;
    float *a = malloc((size_t)n * sizeof *a), *wd = malloc((size_t)n * sizeof *wd);
    float *ad = malloc((size_t)n * sizeof *ad);
    assert_true(a && wd && ad);
    gaussian(a, n, 31);
    uint64_t rs = 99;
    for (size_t k = 0; k < sizeof RB / sizeof RB[0]; k++) {
        const desk_type_info *t = info(RB[k].type);
        const size_t sz = desk_type_row_size(RB[k].type, n);
        unsigned char *w = malloc(sz);
        void *aq = malloc(desk_type_row_size(t->vec_dot_type, n));
        assert_true(w && aq);
        for (size_t i = 0; i < sz; i++) w[i] = (unsigned char)rng_next(&rs);
        for (size_t b = 0; b < sz / (size_t)t->type_size; b++)
            for (int f = 0; f < 2 && RB[k].scale_off[f] >= 0; f++) {
                const desk_f16 h = desk_f32_to_f16((float)(rng_unit(&rs) * 4.0 - 2.0));
                memcpy(w + b * (size_t)t->type_size + (size_t)RB[k].scale_off[f], &h, 2);
            }
        desk_err e = {0};
        assert_int_equal(desk_quantize_acts(RB[k].type, a, aq, n, &e), DESK_OK);
        t->dequant(w, wd, n);
        desk_type_get(t->vec_dot_type)->dequant(aq, ad, n);
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            exact += (double)wd[i] * ad[i];
            mag += fabs((double)wd[i] * ad[i]);
        }
        const double got = t->vec_dot(n, w, aq);
        const double tol = (t->vec_dot_type == DESK_TYPE_Q8_1 ? 5e-4 : 1e-6) * mag;
        if (!(fabs(got - exact) <= tol))
            fail_msg("%s random blocks: vec_dot %.6f vs dequantized dot %.6f", t->name, got, exact);
        free(w);
        free(aq);
    }
    free(a);
    free(wd);
    free(ad);
}

static void test_deterministic(void **state) {
    (void)state;
    const int64_t n = 1024;
    float *x = malloc((size_t)n * sizeof *x), *x2 = malloc((size_t)n * sizeof *x2);
    assert_true(x && x2);
    gaussian(x, n, 7);
    memcpy(x2, x, (size_t)n * sizeof *x);
    for (size_t c = 0; c < N_CASES; c++) {
        const uint32_t type = CASES[c].type;
        void *q1 = quant_new(type, x, n), *q2 = quant_new(type, x2, n);
        assert_memory_equal(q1, q2, desk_type_row_size(type, n));
        /* The input is only read. */
        assert_memory_equal(x, x2, (size_t)n * sizeof *x);
        free(q1);
        free(q2);
    }
    free(x);
    free(x2);
}

/* Rows a quantizer must survive: all finite output, zeros exact. */
static void test_special_rows(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N], y[N];
    for (int kind = 0; kind < 7; kind++) {
        for (int i = 0; i < N; i++) {
            switch (kind) {
            case 0: x[i] = 0.0f; break;
            case 1: x[i] = 3.0f; break;
            case 2: x[i] = -2.5f; break;
            case 3: x[i] = (i % 97 == 5) ? 1e4f : 0.01f * (float)((i * 37) % 11 - 5); break;
            case 4: x[i] = (i == 300) ? -3e38f : (float)(i % 5); break;
            case 5: x[i] = 1e-30f * (float)(i % 7 - 3); break;
            default: x[i] = (i % 32 == 0) ? 1.0f : 0.0f; break;
            }
        }
        for (size_t c = 0; c < N_CASES; c++) {
            const uint32_t type = CASES[c].type;
            if (kind == 4 && !desk_type_get(type)->quantized) continue; /* F16 of 3e38 is inf */
            void *q = quant_new(type, x, N);
            desk_err e = {0};
            assert_int_equal(desk_dequantize_row(type, q, y, N, &e), DESK_OK);
            for (int i = 0; i < N; i++) {
                if (!isfinite(y[i]))
                    fail_msg("%s row kind %d: element %d is %g", desk_type_name(type), kind, i, y[i]);
                if (kind == 0 && y[i] != 0.0f)
                    fail_msg("%s: zero row gives %g at %d", desk_type_name(type), y[i], i);
            }
            if (kind == 1 || kind == 2) { /* a constant row comes back close */
                for (int i = 0; i < N; i++)
                    if (fabsf(y[i] - x[i]) > 0.05f * fabsf(x[i]))
                        fail_msg("%s: constant %g comes back as %g", desk_type_name(type), x[i], y[i]);
            }
            if (kind == 3) { /* the outlier survives to within its block's step */
                if (fabsf(y[5] - 1e4f) > 0.1f * 1e4f)
                    fail_msg("%s: outlier 1e4 comes back as %g", desk_type_name(type), y[5]);
            }
            free(q);
        }
    }
}

/* The K-quant scale search must never do worse than mapping each
 * sub-block's plain range onto the levels. */
static void test_search_beats_naive(void **state) {
    (void)state;
    static const uint32_t KQ[] = {DESK_TYPE_Q2_K, DESK_TYPE_Q3_K, DESK_TYPE_Q4_K,
                                  DESK_TYPE_Q5_K, DESK_TYPE_Q6_K, DESK_TYPE_IQ4_XS};
    const int64_t n = row_len();
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    assert_true(x && y);
    for (int dist = 0; dist < 2; dist++) {
        gaussian(x, n, 55 + (uint64_t)dist);
        if (dist == 1) /* heavy tails: a cube of a Gaussian */
            for (int64_t i = 0; i < n; i++) x[i] = x[i] * x[i] * x[i];
        for (size_t k = 0; k < sizeof KQ / sizeof KQ[0]; k++) {
            void *q = malloc(desk_type_row_size(KQ[k], n));
            assert_non_null(q);
            assert_int_equal(desk_ref_quant_naive(KQ[k], x, q, n), 0);
            desk_type_get(KQ[k])->dequant(q, y, n);
            const double naive = rel_rms(x, y, n);
            free(q);
            const double search = roundtrip_err(KQ[k], x, n);
            printf("  %-7s %s: search %.5f naive %.5f\n", desk_type_name(KQ[k]),
                   dist ? "x^3" : "gaussian", search, naive);
            assert_true(search <= naive);
        }
    }
    float z[256] = {0};
    unsigned char buf[512];
    assert_int_equal(desk_ref_quant_naive(DESK_TYPE_Q4_0, z, buf, 256), -1);
    free(x);
    free(y);
}

/* The committed reference quantizations (tests/data/tensor/README.md):
 * the same bytes for the plain types, no larger error for the searching
 * ones, on Gaussian and on heavy-tailed data. */
static void test_matches_ggml(void **state) {
    (void)state;
    static const uint32_t SAME[] = {DESK_TYPE_Q4_0, DESK_TYPE_Q4_1, DESK_TYPE_Q5_0, DESK_TYPE_Q5_1,
                                    DESK_TYPE_Q8_0, DESK_TYPE_Q8_1, DESK_TYPE_Q8_K};
    static const uint32_t BETTER[] = {DESK_TYPE_IQ4_NL, DESK_TYPE_Q2_K, DESK_TYPE_Q3_K, DESK_TYPE_Q4_K,
                                      DESK_TYPE_Q5_K,   DESK_TYPE_Q6_K, DESK_TYPE_IQ4_XS};
    enum { N = 8192, HALF = N / 2 };
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/tests/data/tensor/input.f32", tu_source_dir());
    float *x = (float *)tu_read_file(path, &len);
    assert_int_equal(len, N * sizeof(float));
    float *y = malloc(N * sizeof *y), *yg = malloc(N * sizeof *yg);
    assert_true(y && yg);
    for (size_t k = 0; k < sizeof SAME / sizeof SAME[0] + sizeof BETTER / sizeof BETTER[0]; k++) {
        const bool same = k < sizeof SAME / sizeof SAME[0];
        const uint32_t type = same ? SAME[k] : BETTER[k - sizeof SAME / sizeof SAME[0]];
        char name[32];
        snprintf(name, sizeof name, "%s", desk_type_name(type));
        for (char *c = name; *c; c++) /* ggml's names: "q4_K", "iq4_xs" */
            if (*c >= 'A' && *c <= 'Z' && !(c[0] == 'K' && c[1] == '\0')) *c = (char)(*c - 'A' + 'a');
        snprintf(path, sizeof path, "%s/tests/data/tensor/ggml_%s.bin", tu_source_dir(), name);
        char *ref = tu_read_file(path, &len);
        assert_int_equal(len, desk_type_row_size(type, N));
        void *q = quant_new(type, x, N);
        if (same) {
            if (memcmp(q, ref, len) != 0) fail_msg("%s: bytes differ from ggml's", desk_type_name(type));
        } else {
            const desk_type_info *t = info(type);
            t->dequant(q, y, N);
            t->dequant(ref, yg, N);
            for (int h = 0; h < 2; h++) {
                const double ed = rel_rms(x + h * HALF, y + h * HALF, HALF);
                const double eg = rel_rms(x + h * HALF, yg + h * HALF, HALF);
                printf("  %-7s %s: desk %.5f ggml %.5f\n", t->name, h ? "x^3" : "gaussian", ed, eg);
                if (ed > eg) fail_msg("%s: error %.5f above ggml's %.5f", t->name, ed, eg);
            }
        }
        free(q);
        free(ref);
    }
    free(x);
    free(y);
    free(yg);
}

/* Activation quantization is bit-exact with llama.cpp's CPU backend
 * (committed output of ggml-cpu's from_float on an input full of exact
 * rounding ties, tests/data/tensor/README.md); the file-format quantizer
 * rounds those ties away from zero instead. */
static void test_act_quant_matches_ggml_cpu(void **state) {
    (void)state;
    enum { N = 4096 };
    static const struct { uint32_t wtype, atype; const char *file; } ACTS[] = {
        {DESK_TYPE_Q4_0, DESK_TYPE_Q8_0, "ggml_cpu_q8_0.bin"},
        {DESK_TYPE_Q5_1, DESK_TYPE_Q8_1, "ggml_cpu_q8_1.bin"},
        {DESK_TYPE_Q6_K, DESK_TYPE_Q8_K, "ggml_cpu_q8_K.bin"},
    };
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/tests/data/tensor/act_input.f32", tu_source_dir());
    float *x = (float *)tu_read_file(path, &len);
    assert_int_equal(len, N * sizeof(float));
    for (size_t k = 0; k < sizeof ACTS / sizeof ACTS[0]; k++) {
        snprintf(path, sizeof path, "%s/tests/data/tensor/%s", tu_source_dir(), ACTS[k].file);
        char *ref = tu_read_file(path, &len);
        assert_int_equal(len, desk_type_row_size(ACTS[k].atype, N));
        void *q = malloc(len);
        assert_non_null(q);
        desk_err e = {0};
        assert_int_equal(desk_quantize_acts(ACTS[k].wtype, x, q, N, &e), DESK_OK);
        if (memcmp(q, ref, len) != 0) fail_msg("%s activations differ from ggml-cpu's", ACTS[k].file);
        if (ACTS[k].atype != DESK_TYPE_Q8_K) { /* the tie half must differ in file-format rounding */
            void *qf = quant_new(ACTS[k].atype, x, N);
            assert_true(memcmp(qf, ref, len) != 0);
            free(qf);
        }
        free(q);
        free(ref);
    }
    float w[256] = {0};
    unsigned char buf[512];
    desk_err e = {0};
    assert_int_equal(desk_quantize_acts(DESK_TYPE_IQ2_XXS, w, buf, 256, &e), DESK_E_UNSUPPORTED);
    assert_int_equal(desk_quantize_acts(DESK_TYPE_Q4_K, w, buf, 32, &e), DESK_E_ARG);
    free(x);
}

/* Q8_K's bsums are the sums of each 16 levels; kernels rely on them. */
static void test_q8k_bsums(void **state) {
    (void)state;
    float x[512];
    gaussian(x, 512, 9);
    desk_block_q8_K b[2];
    desk_ref_quant_q8_k(x, b, 512);
    for (int i = 0; i < 2; i++) {
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += b[i].qs[16 * g + j];
            assert_int_equal(b[i].bsums[g], s);
        }
        int amax = 0;
        for (int j = 0; j < 256; j++) amax = abs(b[i].qs[j]) > amax ? abs(b[i].qs[j]) : amax;
        assert_int_equal(amax, 127);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_row_api_errors),
        cmocka_unit_test(test_roundtrip_bounds),
        cmocka_unit_test(test_vec_dot),
        cmocka_unit_test(test_vec_dot_random_blocks),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_special_rows),
        cmocka_unit_test(test_search_beats_naive),
        cmocka_unit_test(test_q8k_bsums),
        cmocka_unit_test(test_matches_ggml),
        cmocka_unit_test(test_act_quant_matches_ggml_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
