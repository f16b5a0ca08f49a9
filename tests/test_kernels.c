/*
 * test_kernels.c - every kernel table this CPU can run against the scalar
 * references of src/tensor, in one process:
 *  - activation quantizers: the same bytes as the reference;
 *  - vec_dot and dot_rows: the reference's value up to float summation
 *    order (a relative bound on the sum of |terms|);
 *  - desk_matmul_with: against a double-precision dot of the dequantized
 *    weights and dequantized activations, for odd shapes (rows not a
 *    multiple of a chunk, n = 1, 3, 7, 33) and 1..4 threads; batches that
 *    take the tiles against vec_dot, bit for bit;
 *  - Q8_0 tiles with extreme bytes against vec_dot and the integer dot;
 *  - weights repacked at load (desk_repack; Q4_0, Q4_K): n = 1..9 against
 *    the same weights repacked per call and in place, bit for bit where
 *    the orders are the same, and against scalar models of llama.cpp's
 *    repacked gemv / gemm orders, bit for bit;
 *  - desk_matmul_many_with: several matrices in one job, each output
 *    equal to its own product, bit for bit;
 *  - dispatch: desk_kernels_get, desk_kernels_init, desk_get_row, errors.
 * DESK_SANITIZED=1 shrinks the shapes (the checks stay the same).
 * On aarch64 (the ARM build, run under qemu) the NEON table is among them.
 * CTest also runs the dispatch test with DESK_ISA forced (DESK_TEST_FILTER
 * picks it) and DESK_EXPECT_ISA naming the table that must be chosen
 * ("none": the forced one cannot run here and every product fails).
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static double urand(void) {
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

/* Roughly normal values with an occasional outlier, as activations are. */
static void fill(float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) {
        double v = urand() + urand() + urand() + urand() - 2.0;
        if (urand() < 0.01) v *= 8;
        x[i] = (float)(v * scale);
    }
}

static bool sanitized(void) {
    const char *s = getenv("DESK_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
}

/* Every weight type with a reference dot product. */
static int weight_types(uint32_t *out) {
    int n = 0;
    for (uint32_t t = 0; t < DESK_TYPE_COUNT; t++) {
        const desk_type_info *ti = desk_type_get(t);
        if (ti && ti->vec_dot && ti->quant && t != DESK_TYPE_Q8_1 && t != DESK_TYPE_Q8_K) out[n++] = t;
    }
    return n;
}

static int available_isas(const desk_kernel_table **out) {
    int n = 0;
    for (int i = 0; i < DESK_ISA_COUNT; i++) {
        const desk_kernel_table *kt = desk_kernels_get((desk_isa)i);
        if (kt) out[n++] = kt;
    }
    return n;
}

/* The table whose results KT must give bit for bit, or NULL: the x86
 * tables compile one body (x86_body.inc) and differ only in integer steps,
 * which are exact, so AVX-VNNI and AVX-512 sum as AVX2 does. */
static const desk_kernel_table *twin_of(const desk_kernel_table *kt) {
    const desk_kernel_table *avx2 = desk_kernels_get(DESK_ISA_AVX2);
    if (!avx2 || kt == avx2) return NULL;
    if (kt == desk_kernels_get(DESK_ISA_AVXVNNI) || kt == desk_kernels_get(DESK_ISA_AVX512)) return avx2;
    return NULL;
}

/* A random matrix of ROWS x COLS of TYPE, made with the reference quantizer. */
static void *make_weights(uint32_t type, int64_t rows, int64_t cols, desk_mat *m) {
    const size_t rb = desk_type_row_size(type, cols);
    unsigned char *data = aligned_alloc(64, (rb * (size_t)rows + 63) / 64 * 64);
    float *tmp = malloc((size_t)cols * sizeof(float));
    assert_non_null(data);
    assert_non_null(tmp);
    for (int64_t r = 0; r < rows; r++) {
        fill(tmp, cols, 0.05 * (1 + (double)(r % 3)));
        desk_err err = {0};
        assert_int_equal(desk_quantize_row(type, tmp, data + (size_t)r * rb, cols, &err), DESK_OK);
    }
    free(tmp);
    *m = (desk_mat){.type = type, .rows = rows, .cols = cols, .row_bytes = rb, .data = data};
    return data;
}

/* sum over K of |w_k * a_k| for one weight row and one activation row. */
static double abs_dot(const float *w, const float *a, int64_t n) {
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += fabs((double)w[k] * a[k]);
    return s;
}

/* The exact value the kernels approximate: the double dot of dequantized
 * weights with dequantized activations, except that the min of Q4_1/Q5_1
 * meets the activation's stored sum s (an f16), as the format defines. */
static double exact_dot(uint32_t type, const float *wf, const void *wq, const void *aq, const float *af,
                        int64_t n) {
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)wf[k] * af[k];
    if (type == DESK_TYPE_Q4_1 || type == DESK_TYPE_Q5_1) {
        const size_t wsz = (size_t)desk_type_get(type)->type_size;
        for (int64_t b = 0; b < n / DESK_QK; b++) {
            const desk_block_q8_1 *ab = (const desk_block_q8_1 *)aq + b;
            desk_f16 mh;
            memcpy(&mh, (const unsigned char *)wq + (size_t)b * wsz + 2, 2);
            double qsum = 0;
            for (int j = 0; j < DESK_QK; j++) qsum += ab->qs[j];
            const double m = desk_f16_to_f32(mh), d = desk_f16_to_f32(ab->d);
            s += m * ((double)desk_f16_to_f32(ab->s) - d * qsum);
        }
    }
    return s;
}

/* DESK_ISA's names, by desk_isa. */
static const char *const isa_names[DESK_ISA_COUNT] = {"scalar", "avx2", "avxvnni", "avx512", "neon"};

/* With DESK_ISA set: the named table is used when this CPU has it;
 * otherwise nothing is, init says why naming the request, and a product
 * fails with the same message (no silent fallback). */
static void check_forced(const char *forced) {
    const desk_kernel_table *want = NULL;
    for (int i = 0; i < DESK_ISA_COUNT; i++)
        if (strcmp(forced, isa_names[i]) == 0) want = desk_kernels_get((desk_isa)i);
    desk_err err = {0};
    if (want) {
        assert_int_equal(desk_kernels_init(&err), DESK_OK);
        assert_string_equal(desk_kernels_isa(), want->name);
        return;
    }
    assert_int_equal(desk_kernels_init(&err), DESK_E_UNSUPPORTED);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, forced));
    /* The message says whether the build or the CPU lacks the kernels. */
#if defined(__x86_64__)
    const bool foreign = strcmp(forced, "neon") == 0;
#elif defined(__aarch64__)
    const bool foreign = strcmp(forced, "avx2") == 0 || strcmp(forced, "avxvnni") == 0 || strcmp(forced, "avx512") == 0;
#else
    const bool foreign = strcmp(forced, "scalar") != 0;
#endif
    bool known = false;
    for (int i = 0; i < DESK_ISA_COUNT; i++) known = known || strcmp(forced, isa_names[i]) == 0;
    if (!known) {
        assert_non_null(strstr(err.msg, "unknown instruction set"));
        for (int i = 0; i < DESK_ISA_COUNT; i++) assert_non_null(strstr(err.msg, isa_names[i]));
    } else if (foreign)
        assert_non_null(strstr(err.msg, "build has no"));
    else
        assert_non_null(strstr(err.msg, "this CPU lacks"));
    assert_string_equal(desk_kernels_isa(), "none");
    desk_threadpool *tp = NULL;
    assert_int_equal(desk_threadpool_new(1, &tp, &err), DESK_OK);
    desk_mat m;
    void *wd = make_weights(DESK_TYPE_Q8_0, 2, 64, &m);
    float x[64] = {0}, y[2];
    _Alignas(64) unsigned char scratch[512];
    assert_true(desk_matmul_scratch_size(&m, 1) <= sizeof scratch);
    desk_err merr = {0};
    assert_int_equal(desk_matmul(tp, &m, x, 1, y, scratch, &merr), DESK_E_UNSUPPORTED);
    assert_string_equal(merr.msg, err.msg);
    free(wd);
    desk_threadpool_free(tp);
}

static void test_cpu_and_dispatch(void **state) {
    (void)state;
    desk_cpu cpu;
    desk_cpu_detect(&cpu);
    assert_non_null(desk_kernels_get(DESK_ISA_SCALAR));
    assert_null(desk_kernels_get(DESK_ISA_COUNT));
    for (int i = 0; i < DESK_ISA_COUNT; i++) {
        assert_string_equal(desk_isa_name((desk_isa)i), isa_names[i]);
        if (desk_kernels_get((desk_isa)i)) assert_string_equal(desk_kernels_get((desk_isa)i)->name, isa_names[i]);
    }
    assert_null(desk_isa_name(DESK_ISA_COUNT));
    /* A table is offered exactly when the CPU has its features. */
#if defined(__x86_64__)
    assert_int_equal(desk_kernels_get(DESK_ISA_AVX2) != NULL, desk_cpu_has_avx2(&cpu));
    assert_int_equal(desk_kernels_get(DESK_ISA_AVXVNNI) != NULL, desk_cpu_has_avxvnni(&cpu));
    assert_int_equal(desk_kernels_get(DESK_ISA_AVX512) != NULL, desk_cpu_has_avx512(&cpu));
    /* cpuid agrees with the kernel's view in /proc/cpuinfo. */
    size_t len = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        fclose(f);
        char *info = tu_read_file("/proc/cpuinfo", &len);
        assert_int_equal(strstr(info, " avx2") != NULL, cpu.avx2);
        assert_int_equal(strstr(info, " avx512_vnni") != NULL, cpu.avx512vnni);
        assert_int_equal(strstr(info, " avx512bw") != NULL, cpu.avx512bw);
        assert_int_equal(strstr(info, " avx_vnni") != NULL, cpu.avx_vnni);
        free(info);
    }
    assert_null(desk_kernels_get(DESK_ISA_NEON));
#elif defined(__aarch64__)
    assert_int_equal(desk_kernels_get(DESK_ISA_NEON) != NULL, desk_cpu_has_neon(&cpu));
    assert_null(desk_kernels_get(DESK_ISA_AVX2));
    assert_null(desk_kernels_get(DESK_ISA_AVXVNNI));
    assert_null(desk_kernels_get(DESK_ISA_AVX512));
    /* The kernel's view in /proc/cpuinfo agrees, where it is an ARM one
     * (under qemu-user the file is the host's, without "Features"). */
    size_t len = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        fclose(f);
        char *info = tu_read_file("/proc/cpuinfo", &len);
        if (strstr(info, "\nFeatures")) assert_int_equal(strstr(info, " asimddp") != NULL, cpu.asimd_dotprod);
        free(info);
    }
#endif
    desk_err err = {0};
    const char *forced = getenv("DESK_ISA"), *expect = getenv("DESK_EXPECT_ISA");
    if (forced && *forced) check_forced(forced);
    if (!forced || !*forced) {
        assert_int_equal(desk_kernels_init(&err), DESK_OK);
        /* The best table the CPU has is chosen. */
        const desk_kernel_table *best = NULL;
        for (int i = 0; i < DESK_ISA_COUNT; i++)
            if (desk_kernels_get((desk_isa)i)) best = desk_kernels_get((desk_isa)i);
        assert_string_equal(desk_kernels_isa(), best->name);
    }
    if (expect && *expect) assert_string_equal(desk_kernels_isa(), expect);
    assert_true(desk_physical_cores() >= 1);
}

static void test_act_quant(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    const uint32_t wtypes[] = {DESK_TYPE_Q8_0, DESK_TYPE_Q4_1, DESK_TYPE_Q4_K};
    const int64_t n = 4096;
    float *x = malloc(n * sizeof(float));
    unsigned char *ref = malloc((size_t)n * 2), *got = malloc((size_t)n * 2);
    for (int trial = 0; trial < 6; trial++) {
        fill(x, n, trial == 0 ? 1e-3 : 1.0);
        if (trial == 1) memset(x, 0, 256 * sizeof(float)); /* all-zero blocks */
        if (trial == 2) { /* ties on the largest magnitude, either sign first */
            x[5] = -3.0f;
            x[7] = 3.0f;
            x[300] = 3.0f;
            x[301] = -3.0f;
        }
        if (trial == 3) { /* must not crash; the same bytes */
            x[40] = NAN;
            x[300] = INFINITY;
        }
        if (trial == 4) x[1000] = 1e30f; /* saturating f16 scale */
        for (size_t t = 0; t < sizeof wtypes / sizeof wtypes[0]; t++) {
            const desk_type_info *ti = desk_type_get(wtypes[t]);
            const size_t sz = desk_type_row_size(ti->vec_dot_type, n);
            desk_err err = {0};
            assert_int_equal(desk_quantize_acts(wtypes[t], x, ref, n, &err), DESK_OK);
            for (int i = 0; i < n_isa; i++) {
                memset(got, 0xAB, sz);
                assert_int_equal(desk_kernels_quantize_acts(isas[i], wtypes[t], x, got, n, &err), DESK_OK);
                if (memcmp(ref, got, sz) != 0)
                    fail_msg("%s activations for %s differ from the reference (trial %d)", isas[i]->name, ti->name,
                             trial);
            }
        }
    }
    desk_err err = {0};
    assert_int_equal(desk_kernels_quantize_acts(isas[0], DESK_TYPE_Q4_K, x, got, 100, &err), DESK_E_ARG);
    assert_int_equal(desk_kernels_quantize_acts(isas[0], DESK_TYPE_IQ2_XXS, x, got, 256, &err), DESK_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "IQ2_XXS"));
    free(x);
    free(ref);
    free(got);
}

/* vec_dot and dot_tile of every table against the exact dot, for rows of
 * COLS elements (types whose blocks do not divide COLS are passed over). */
static void vec_dot_cols(int64_t cols) {
    const desk_kernel_table *isas[DESK_ISA_COUNT], *twins[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    for (int i = 0; i < n_isa; i++) twins[i] = twin_of(isas[i]);
    uint32_t types[DESK_TYPE_COUNT];
    const int n_types = weight_types(types);
    float *x = malloc(4 * cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
    unsigned char *act = malloc(4 * (size_t)cols * 4);
    for (int t = 0; t < n_types; t++) {
        const desk_type_info *ti = desk_type_get(types[t]);
        if (cols % ti->blck != 0) continue;
        desk_mat m;
        void *wd = make_weights(types[t], 8, cols, &m);
        fill(x, 4 * cols, 1.0);
        const size_t astride = ti->vec_dot_type == DESK_TYPE_F32 ? cols * sizeof(float)
                                                                 : desk_type_row_size(ti->vec_dot_type, cols);
        desk_err err = {0};
        for (int c = 0; c < 4; c++) {
            if (ti->vec_dot_type == DESK_TYPE_F32)
                memcpy(act + c * astride, x + c * cols, astride);
            else
                assert_int_equal(desk_quantize_acts(types[t], x + c * cols, act + c * astride, cols, &err), DESK_OK);
        }
        float *af = malloc(4 * cols * sizeof(float));
        for (int c = 0; c < 4; c++)
            assert_int_equal(desk_dequantize_row(ti->vec_dot_type, act + c * astride, af + c * cols, cols, &err),
                             DESK_OK);
        for (int r = 0; r < 3; r++) {
            const unsigned char *wr = (const unsigned char *)wd + (size_t)r * m.row_bytes;
            assert_int_equal(desk_dequantize_row(types[t], wr, wf, cols, &err), DESK_OK);
            for (int c = 0; c < 4; c++) {
                const float ref = ti->vec_dot(cols, wr, act + c * astride);
                const double tol = 2e-6 * abs_dot(wf, af + c * cols, cols) + 1e-6;
                const double ex = exact_dot(types[t], wf, wr, act + c * astride, af + c * cols, cols);
                if (fabs(ref - ex) > tol)
                    fail_msg("reference %s dot %g, exact %g", ti->name, (double)ref, ex);
                for (int i = 0; i < n_isa; i++) {
                    const desk_vec_dot_fn vd = isas[i]->vec_dot[types[t]] ? isas[i]->vec_dot[types[t]] : ti->vec_dot;
                    const float got = vd(cols, wr, act + c * astride);
                    if (fabs(got - ex) > tol)
                        fail_msg("%s %s vec_dot %g, exact %g (tol %g)", isas[i]->name, ti->name, (double)got, ex, tol);
                    if (twins[i] && twins[i]->vec_dot[types[t]]) {
                        const float want = twins[i]->vec_dot[types[t]](cols, wr, act + c * astride);
                        if (memcmp(&got, &want, sizeof got) != 0)
                            fail_msg("%s %s vec_dot %.9g, %s %.9g (cols %lld)", isas[i]->name, ti->name, (double)got,
                                     twins[i]->name, (double)want, (long long)cols);
                    }
#if defined(__aarch64__)
                    /* NEON takes the reference's float steps for quantized
                     * weights (neon.c): the same value, bit for bit. */
                    if (isas[i] == desk_kernels_get(DESK_ISA_NEON) && ti->vec_dot_type != DESK_TYPE_F32 && got != ref)
                        fail_msg("neon %s vec_dot %.9g, reference %.9g (cols %lld)", ti->name, (double)got, (double)ref,
                                 (long long)cols);
#endif
                }
            }
        }
        /* Every tile shape against the exact dots. */
        for (int i = 0; i < n_isa; i++) {
            const desk_dot_tile_fn dt = isas[i]->dot_tile[types[t]];
            if (!dt) continue;
            for (int nr = 1; nr <= 8; nr++)
                for (int nc = 1; nc <= 4; nc++) {
                    float out[32], twin_out[32];
                    dt(cols, wd, m.row_bytes, nr, act, astride, nc, out);
                    if (twins[i] && twins[i]->dot_tile[types[t]]) {
                        twins[i]->dot_tile[types[t]](cols, wd, m.row_bytes, nr, act, astride, nc, twin_out);
                        if (memcmp(out, twin_out, (size_t)(nr * nc) * sizeof(float)) != 0)
                            fail_msg("%s %s dot_tile(%dx%d) differs from %s's", isas[i]->name, ti->name, nr, nc,
                                     twins[i]->name);
                    }
                    for (int r = 0; r < nr; r++) {
                        const unsigned char *wr = (const unsigned char *)wd + (size_t)r * m.row_bytes;
                        assert_int_equal(desk_dequantize_row(types[t], wr, wf, cols, &err), DESK_OK);
                        for (int c = 0; c < nc; c++) {
                            const double ex = exact_dot(types[t], wf, wr, act + c * astride, af + c * cols, cols);
                            const double tol = 2e-6 * abs_dot(wf, af + c * cols, cols) + 1e-6;
                            if (fabs(out[r * nc + c] - ex) > tol)
                                fail_msg("%s %s dot_tile(%dx%d)[%d][%d] %g, exact %g", isas[i]->name, ti->name, nr,
                                         nc, r, c, (double)out[r * nc + c], ex);
                            /* The same summation order as the single dot,
                             * except Q4_K in groups of 4 activation rows,
                             * summed as llama.cpp's repacked gemm does. */
                            const desk_vec_dot_fn vd = isas[i]->vec_dot[types[t]];
                            const bool gemm_order = types[t] == DESK_TYPE_Q4_K && nc == 4;
                            if (vd && !gemm_order && out[r * nc + c] != vd(cols, wr, act + c * astride))
                                fail_msg("%s %s dot_tile(%dx%d) differs from vec_dot", isas[i]->name, ti->name, nr, nc);
                        }
                    }
                }
        }
        free(af);
        free(wd);
    }
    free(x);
    free(wf);
    free(act);
}

/* Sizes that reach every loop tail: 1 and 3 legacy blocks (odd counts end
 * on the even accumulator), 1 and 17 super-blocks, float rows that are not
 * a whole number of vectors. */
static void test_vec_dot(void **state) {
    (void)state;
    static const int64_t sizes[] = {32, 96, 256, 1280, 4352, 7, 1283};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) vec_dot_cols(sizes[i]);
}

/* desk_matmul_with over shapes and thread counts, every table. */
static void test_matmul(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    uint32_t types[DESK_TYPE_COUNT];
    const int n_types = weight_types(types);
    const bool small = sanitized();
    const int64_t cols = 512, rows = small ? 37 : 101;
    const int64_t ns[] = {1, 3, 7, 33};
    const int threads[] = {1, 2, 3, 4};
    desk_threadpool *tps[4];
    desk_err err = {0};
    for (int i = 0; i < 4; i++) assert_int_equal(desk_threadpool_new(threads[i], &tps[i], &err), DESK_OK);
    float *x = malloc(33 * cols * sizeof(float)), *y = malloc(33 * rows * sizeof(float));
    float *yref = malloc(33 * rows * sizeof(float));
    float *wf = malloc(rows * cols * sizeof(float)), *af = malloc(33 * cols * sizeof(float));
    unsigned char *aq = malloc(33 * (size_t)cols * 4);
    for (int t = 0; t < n_types; t++) {
        const desk_type_info *ti = desk_type_get(types[t]);
        desk_mat m;
        void *wd = make_weights(types[t], rows, cols, &m);
        for (int64_t r = 0; r < rows; r++)
            assert_int_equal(desk_dequantize_row(types[t], (const unsigned char *)wd + r * m.row_bytes, wf + r * cols,
                                                 cols, &err),
                             DESK_OK);
        fill(x, 33 * cols, 1.0);
        const size_t arow = ti->vec_dot_type == DESK_TYPE_F32 ? cols * sizeof(float)
                                                              : desk_type_row_size(ti->vec_dot_type, cols);
        for (int64_t c = 0; c < 33; c++) {
            if (ti->vec_dot_type == DESK_TYPE_F32)
                memcpy(aq + c * arow, x + c * cols, arow);
            else
                assert_int_equal(desk_quantize_acts(types[t], x + c * cols, aq + c * arow, cols, &err), DESK_OK);
            assert_int_equal(desk_dequantize_row(ti->vec_dot_type, aq + c * arow, af + c * cols, cols, &err), DESK_OK);
        }
        void *scratch = aligned_alloc(64, (desk_matmul_scratch_size(&m, 33) + 63) / 64 * 64);
        for (int i = 0; i < n_isa; i++)
            for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
                const int ti_th = (int)((k + (size_t)i + (size_t)t) % 4); /* vary threads over the grid */
                const int64_t n = ns[k];
                for (int64_t e = 0; e < n * rows; e++) y[e] = NAN;
                assert_int_equal(desk_matmul_with(isas[i], tps[ti_th], &m, x, n, y, scratch, &err), DESK_OK);
                for (int64_t c = 0; c < n; c++)
                    for (int64_t r = 0; r < rows; r++) {
                        const double ex = exact_dot(types[t], wf + r * cols,
                                                    (const unsigned char *)wd + r * m.row_bytes, aq + c * arow,
                                                    af + c * cols, cols);
                        const double tol = 2e-6 * abs_dot(wf + r * cols, af + c * cols, cols) + 1e-6;
                        const float got = y[c * rows + r];
                        if (!(fabs(got - ex) <= tol))
                            fail_msg("%s %s matmul n=%lld threads=%d: y[%lld][%lld] = %g, exact %g", isas[i]->name,
                                     ti->name, (long long)n, threads[ti_th], (long long)c, (long long)r, (double)got,
                                     ex);
                    }
                /* Rows not a multiple of 8 are never repacked: every output
                 * of a batch comes from a tile (4 x 4, or the rows and
                 * activation rows left over) and must equal vec_dot bit for
                 * bit, as llama.cpp's batch equals its own vec_dot for these
                 * types; Q4_K's groups of 4 take its repacked gemm order. */
                const desk_vec_dot_fn vd = isas[i]->vec_dot[types[t]];
                if (vd && rows % 8 != 0 && types[t] != DESK_TYPE_Q4_K)
                    for (int64_t c = 0; c < n; c++)
                        for (int64_t r = 0; r < rows; r++) {
                            const float want = vd(cols, (const unsigned char *)wd + r * m.row_bytes, aq + c * arow);
                            if (y[c * rows + r] != want)
                                fail_msg("%s %s matmul n=%lld: y[%lld][%lld] = %.9g, vec_dot %.9g", isas[i]->name,
                                         ti->name, (long long)n, (long long)c, (long long)r, (double)y[c * rows + r],
                                         (double)want);
                        }
                /* The x86 tables' products are AVX2's, bit for bit. */
                const desk_kernel_table *twin = twin_of(isas[i]);
                if (twin) {
                    assert_int_equal(desk_matmul_with(twin, tps[ti_th], &m, x, n, yref, scratch, &err), DESK_OK);
                    if (memcmp(y, yref, (size_t)(n * rows) * sizeof(float)) != 0)
                        fail_msg("%s %s matmul n=%lld differs from %s's", isas[i]->name, ti->name, (long long)n,
                                 twin->name);
                }
#if defined(__aarch64__)
                /* Quantized weights: NEON's product is the scalar path's, bit for bit. */
                if (isas[i] == desk_kernels_get(DESK_ISA_NEON) && ti->vec_dot_type != DESK_TYPE_F32) {
                    assert_string_equal(isas[0]->name, "scalar");
                    assert_int_equal(desk_matmul_with(isas[0], tps[0], &m, x, n, yref, scratch, &err), DESK_OK);
                    if (memcmp(y, yref, (size_t)(n * rows) * sizeof(float)) != 0)
                        fail_msg("neon %s matmul n=%lld differs from the scalar path", ti->name, (long long)n);
                }
#endif
            }
        free(scratch);
        free(wd);
    }
    /* Errors name what is wrong. */
    desk_mat bad = {.type = DESK_TYPE_IQ2_XXS, .rows = 1, .cols = 256};
    assert_int_equal(desk_matmul_with(isas[0], tps[0], &bad, x, 1, y, NULL, &err), DESK_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "IQ2_XXS"));
    bad = (desk_mat){.type = DESK_TYPE_Q4_K, .rows = 1, .cols = 100};
    assert_int_equal(desk_matmul_with(isas[0], tps[0], &bad, x, 1, y, NULL, &err), DESK_E_ARG);
    for (int i = 0; i < 4; i++) desk_threadpool_free(tps[i]);
    free(x);
    free(y);
    free(yref);
    free(wf);
    free(af);
    free(aq);
}

/* Q8_0 weights of any byte (-128 too, which llama.cpp's quantizer never
 * writes) and activations at +-127: the biased byte products of the tiles
 * stay exact, and every tile shape equals vec_dot and the integer dot. */
static void test_q8_0_extremes(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    enum { COLS = 256, NB = COLS / DESK_QK };
    desk_block_q8_0 w[8][NB], a[4][NB];
    for (int r = 0; r < 8; r++)
        for (int b = 0; b < NB; b++) {
            w[r][b].d = desk_f32_to_f16((float)(0.001 * (1 + urand())));
            a[r % 4][b].d = desk_f32_to_f16((float)(0.01 * (1 + urand())));
            for (int k = 0; k < DESK_QK; k++) {
                /* Runs of the extremes, then random bytes. */
                w[r][b].qs[k] = (int8_t)(b == 0 ? (k & 1 ? -128 : 127) : (int)(urand() * 256) - 128);
                a[r % 4][b].qs[k] = (int8_t)(b == 0 ? (k & 2 ? -127 : 127) : (int)(urand() * 255) - 127);
            }
        }
    for (int i = 0; i < n_isa; i++) {
        const desk_dot_tile_fn dt = isas[i]->dot_tile[DESK_TYPE_Q8_0];
        const desk_vec_dot_fn vd = isas[i]->vec_dot[DESK_TYPE_Q8_0];
        if (!dt || !vd) continue;
        for (int nr = 1; nr <= 8; nr++)
            for (int nc = 1; nc <= 4; nc++) {
                float out[32];
                dt(COLS, w, sizeof w[0], nr, a, sizeof a[0], nc, out);
                for (int r = 0; r < nr; r++)
                    for (int c = 0; c < nc; c++) {
                        double ex = 0, mag = 0;
                        for (int b = 0; b < NB; b++) {
                            int64_t s = 0;
                            for (int k = 0; k < DESK_QK; k++) s += (int64_t)w[r][b].qs[k] * a[c][b].qs[k];
                            const double d = (double)desk_f16_to_f32(w[r][b].d) * desk_f16_to_f32(a[c][b].d);
                            ex += d * (double)s;
                            mag += fabs(d * (double)s);
                        }
                        if (fabs(out[r * nc + c] - ex) > 1e-6 * mag + 1e-6)
                            fail_msg("%s Q8_0 dot_tile(%dx%d)[%d][%d] %g, exact %g", isas[i]->name, nr, nc, r, c,
                                     (double)out[r * nc + c], ex);
                        if (out[r * nc + c] != vd(COLS, w[r], a[c]))
                            fail_msg("%s Q8_0 dot_tile(%dx%d)[%d][%d] differs from vec_dot", isas[i]->name, nr, nc, r,
                                     c);
                    }
            }
    }
}

/* ---- weights repacked at load ------------------------------------------ */

/* Q4_0 as llama.cpp's repacked q4_0_8x8 gemv and gemm sum it (both the
 * same): one float per output, block after block, each block's exact
 * integer dot converted and fused with d_w * d_a. */
static float order_q4_0(const void *w, const void *act, int64_t n) {
    float acc = 0;
    for (int64_t b = 0; b < n / DESK_QK; b++) {
        const desk_block_q4_0 *x = (const desk_block_q4_0 *)w + b;
        const desk_block_q8_0 *y = (const desk_block_q8_0 *)act + b;
        int32_t isum = 0;
        for (int j = 0; j < 16; j++)
            isum += ((x->qs[j] & 15) - 8) * y->qs[j] + ((x->qs[j] >> 4) - 8) * y->qs[j + 16];
        acc = fmaf((float)isum, desk_f16_to_f32(x->d) * desk_f16_to_f32(y->d), acc);
    }
    return acc;
}

/* Q4_K as llama.cpp's repacked q4_K_8x8 kernels sum it: the scaled
 * integer dots and the mins of a super-block (gemv, GEMM false) or of
 * each pair of sub-blocks (gemm, 4 activation rows) into two floats. */
static float order_q4_k(bool gemm, const void *w, const void *act, int64_t n) {
    float acc = 0, accm = 0;
    for (int64_t b = 0; b < n / DESK_QK_K; b++) {
        const desk_block_q4_K *x = (const desk_block_q4_K *)w + b;
        const desk_block_q8_K *y = (const desk_block_q8_K *)act + b;
        int sc[8], m[8];
        for (int j = 0; j < 4; j++) {
            sc[j] = x->scales[j] & 63;
            m[j] = x->scales[j + 4] & 63;
            sc[j + 4] = (x->scales[j + 8] & 15) | (x->scales[j] >> 6) << 4;
            m[j + 4] = (x->scales[j + 8] >> 4) | (x->scales[j + 4] >> 6) << 4;
        }
        const float dd = desk_f16_to_f32(x->d) * y->d, dm = desk_f16_to_f32(x->dmin) * y->d;
        int32_t isum = 0, imin = 0;
        for (int k = 0; k < 4; k++) {
            int32_t t = 0, mk = 0;
            for (int h = 0; h < 2; h++) {
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) {
                    const uint8_t q = x->qs[32 * k + e];
                    dot += (h ? q >> 4 : q & 15) * y->qs[64 * k + 32 * h + e];
                }
                t += sc[2 * k + h] * dot;
                mk += m[2 * k + h] * (y->bsums[4 * k + 2 * h] + y->bsums[4 * k + 2 * h + 1]);
            }
            if (gemm) {
                acc = fmaf((float)t, dd, acc);
                accm = fmaf((float)mk, dm, accm);
            } else {
                isum += t;
                imin += mk;
            }
        }
        if (!gemm) {
            acc = fmaf((float)isum, dd, acc);
            accm = fmaf((float)imin, dm, accm);
        }
    }
    return acc - accm;
}

/* For each table that reads the repacked layout, n = 1..13 activation
 * rows (groups of 4 take llama.cpp's gemm, the rest its gemv), 1 or 2
 * threads and 24, 40 or 8 weight rows (odd numbers of 8-row groups, so a
 * table that takes two groups at once also takes one on its own, in a
 * chunk or across threads): the product over weights repacked once equals, bit for bit,
 * the scalar model of llama.cpp's order, the product that repacks per
 * call (n >= 4) and, where the orders agree (Q4_K always, Q4_0 from n = 4
 * on), the product over the weights in place; Q4_0 at n < 4 in place takes
 * the single-row dot's order (8 lanes), equal within the rounding bound.
 * Tables without repacked kernels ignore the repacked copy. */
static void test_repacked(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    const uint32_t types[] = {DESK_TYPE_Q4_0, DESK_TYPE_Q4_K};
    const int64_t row_counts[] = {24, 40, 8}, cols = 768, nmax = 13, rmax = 40;
    desk_err err = {0};
    desk_threadpool *tps[2];
    for (int i = 0; i < 2; i++) assert_int_equal(desk_threadpool_new(i + 1, &tps[i], &err), DESK_OK);
    float *x = malloc(nmax * cols * sizeof(float)), *af = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
    float *y_rp = malloc(nmax * rmax * sizeof(float)), *y_pc = malloc(nmax * rmax * sizeof(float));
    unsigned char *aq = malloc(nmax * (size_t)cols * 2);
    fill(x, nmax * cols, 1.0);
    int checked = 0;
    for (size_t rc = 0; rc < sizeof row_counts / sizeof row_counts[0]; rc++) {
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            const int64_t rows = row_counts[rc];
            const desk_type_info *ti = desk_type_get(types[t]);
            desk_mat w;
            void *wd = make_weights(types[t], rows, cols, &w);
            const size_t arow = desk_type_row_size(ti->vec_dot_type, cols);
            for (int64_t c = 0; c < nmax; c++)
                assert_int_equal(desk_quantize_acts(types[t], x + c * cols, aq + c * arow, cols, &err), DESK_OK);
            const size_t sz = desk_repack_size(&w);
            assert_int_equal(sz, (size_t)(rows / 8) * (size_t)(cols / ti->blck) *
                                     (types[t] == DESK_TYPE_Q4_0 ? DESK_RP_Q4_0_BYTES : DESK_RP_Q4_K_BYTES));
            /* No larger than the rows it came from, Q4_K's unpacked scales aside. */
            assert_true(sz <= (size_t)rows * w.row_bytes * 1030 / 1000);
            void *packed = malloc(sz);
            assert_int_equal(desk_repack(&w, packed, &err), DESK_OK);
            desk_mat wp = w;
            wp.packed = packed;
            void *scratch = aligned_alloc(64, (desk_matmul_scratch_size(&w, nmax) + 63) / 64 * 64);
            for (int i = 0; i < n_isa; i++) {
                const bool rp = desk_kernels_repacks(isas[i], types[t]);
                for (int64_t n = 1; n <= nmax; n++) {
                    desk_threadpool *tp = tps[n % 2];
                    assert_int_equal(desk_matmul_with(isas[i], tp, &wp, x, n, y_rp, scratch, &err), DESK_OK);
                    assert_int_equal(desk_matmul_with(isas[i], tp, &w, x, n, y_pc, scratch, &err), DESK_OK);
                    if (!rp || n >= 4 || types[t] == DESK_TYPE_Q4_K) {
                        /* Repacked once = repacked per call (n >= 4) = in place (Q4_K);
                         * a table without repacked kernels reads DATA either way. */
                        if (memcmp(y_rp, y_pc, (size_t)(n * rows) * sizeof(float)) != 0)
                            fail_msg("%s %s n=%lld: repacked at load differs from %s", isas[i]->name, ti->name, (long long)n,
                                     n >= 4 ? "repacked per call" : "in place");
                    }
                    if (!rp) continue;
                    for (int64_t c = 0; c < n; c++) {
                        assert_int_equal(desk_dequantize_row(ti->vec_dot_type, aq + c * arow, af, cols, &err), DESK_OK);
                        const bool gemm = c < n / 4 * 4;
                        for (int64_t r = 0; r < rows; r++) {
                            const unsigned char *wr = (const unsigned char *)wd + (size_t)r * w.row_bytes;
                            const float want = types[t] == DESK_TYPE_Q4_0 ? order_q4_0(wr, aq + c * arow, cols)
                                                                          : order_q4_k(gemm, wr, aq + c * arow, cols);
                            if (y_rp[c * rows + r] != want)
                                fail_msg("%s %s n=%lld y[%lld][%lld] = %.9g, llama.cpp's %s order %.9g", isas[i]->name,
                                         ti->name, (long long)n, (long long)c, (long long)r, (double)y_rp[c * rows + r],
                                         gemm ? "gemm" : "gemv", (double)want);
                            /* In place, Q4_0 under 4 rows: another order, the same value. */
                            assert_int_equal(desk_dequantize_row(types[t], wr, wf, cols, &err), DESK_OK);
                            const double tol = 2e-6 * abs_dot(wf, af, cols) + 1e-6;
                            if (fabs(y_pc[c * rows + r] - want) > tol)
                                fail_msg("%s %s n=%lld in place y[%lld][%lld] = %g, repacked %g", isas[i]->name, ti->name,
                                         (long long)n, (long long)c, (long long)r, (double)y_pc[c * rows + r], (double)want);
                        }
                    }
                    checked++;
                }
            }
            free(scratch);
            free(packed);
            free(wd);
        }
    }
#if defined(__x86_64__)
    /* Every x86 SIMD table this CPU has reads the layout (the test ran);
     * AVX-512's takes Q4_0 and Q4_K two groups at a time (so the 24- and
     * 40-row products above ran its 16-row kernels). */
    assert_true(checked >= 3 * 2 * 13 * (desk_kernels_get(DESK_ISA_AVX2) != NULL));
    const desk_kernel_table *k512 = desk_kernels_get(DESK_ISA_AVX512);
    assert_true(!k512 || k512->rp_dot16[DESK_TYPE_Q4_0]);
    assert_true(!k512 || k512->rp_dot16[DESK_TYPE_Q4_K]);
    assert_true(desk_kernels_repacks(desk_kernels_get(DESK_ISA_AVX2), DESK_TYPE_Q4_0) ||
                !desk_kernels_get(DESK_ISA_AVX2));
#endif
    assert_false(desk_kernels_repacks(desk_kernels_get(DESK_ISA_SCALAR), DESK_TYPE_Q4_0));
    assert_false(desk_kernels_repacks(desk_kernels_get(DESK_ISA_SCALAR), DESK_TYPE_Q4_K));
    /* What is not repacked: other types, rows not a multiple of 8. */
    desk_mat q8 = {.type = DESK_TYPE_Q8_0, .rows = 8, .cols = 64, .row_bytes = desk_type_row_size(DESK_TYPE_Q8_0, 64)};
    desk_mat odd = {.type = DESK_TYPE_Q4_0, .rows = 12, .cols = 64, .row_bytes = desk_type_row_size(DESK_TYPE_Q4_0, 64)};
    unsigned char dst[64];
    assert_int_equal(desk_repack_size(&q8), 0);
    assert_int_equal(desk_repack_size(&odd), 0);
    assert_int_equal(desk_repack(&q8, dst, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "Q8_0"));
    assert_int_equal(desk_repack(&odd, dst, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "12 rows"));
    for (int i = 0; i < 2; i++) desk_threadpool_free(tps[i]);
    free(x);
    free(af);
    free(wf);
    free(y_rp);
    free(y_pc);
    free(aq);
}

/* Every block of W (its DATA) with the largest levels: all bytes 0xFF (4-bit
 * nibbles 15, Q5_0 31, Q8_0 -1 then below, Q4_K scales and mins 63, Q6_K
 * levels 63), then the f16 scales set to D (mins too), so that a tile's
 * integer sums meet their bounds. */
static void extreme_weights(desk_mat *w, unsigned char *data, float d) {
    const desk_type_info *ti = desk_type_get(w->type);
    memset(data, 0xFF, (size_t)w->rows * w->row_bytes);
    const desk_f16 h = desk_f32_to_f16(d);
    for (int64_t r = 0; r < w->rows; r++)
        for (int64_t b = 0; b < w->cols / ti->blck; b++) {
            unsigned char *p = data + (size_t)r * w->row_bytes + (size_t)b * (size_t)ti->type_size;
            switch (w->type) {
            case DESK_TYPE_Q8_0:
                memcpy(p, &h, 2);
                memset(p + 2, (b % 2) ? 0x81 : 0x7F, 32); /* -127 or 127 */
                break;
            case DESK_TYPE_Q4_1:
            case DESK_TYPE_Q4_K:
                memcpy(p, &h, 2);
                memcpy(p + 2, &h, 2);
                break;
            case DESK_TYPE_Q6_K: {
                desk_block_q6_K *q = (desk_block_q6_K *)(void *)p;
                memset(q->scales, 127, sizeof q->scales);
                q->d = h;
                break;
            }
            default: memcpy(p, &h, 2); break;
            }
        }
}

/* Batch products at ragged shapes for the types with x86 batch tiles
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K): rows not a multiple of the tiles'
 * 8 or 16 (13, 37) and multiples (8, 24), n = 1..9 activation rows, 1 or 2
 * threads, the weights in place and (Q4_0, Q4_K) repacked at load.  Every
 * table equals the AVX2 table bit for bit (the x86 tables share one set of
 * float steps) and the exact dot within the rounding bound; every output
 * of the in-place tiles of the legacy types and Q6_K equals the table's
 * vec_dot bit for bit.  Then the same shapes with the largest levels
 * against activations of the largest magnitude, all of one sign, where a
 * saturated or wrapped int16 sum (AVX2 adds maddubs pairs as int16 over a
 * block) would be off by far more than the bound. */
static void test_batch_edges(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    const uint32_t types[] = {DESK_TYPE_Q8_0, DESK_TYPE_Q4_0, DESK_TYPE_Q4_1, DESK_TYPE_Q5_0, DESK_TYPE_Q4_K, DESK_TYPE_Q6_K};
    const int64_t row_counts[] = {13, 8, 37, 24}, cols = 512, nmax = 9, rmax = 37;
    desk_err err = {0};
    desk_threadpool *tps[2];
    for (int i = 0; i < 2; i++) assert_int_equal(desk_threadpool_new(i + 1, &tps[i], &err), DESK_OK);
    float *x = malloc(nmax * cols * sizeof(float)), *af = malloc(nmax * cols * sizeof(float));
    float *wf = malloc(rmax * cols * sizeof(float));
    float *y = malloc(nmax * rmax * sizeof(float)), *y2 = malloc(nmax * rmax * sizeof(float));
    unsigned char *aq = malloc(nmax * (size_t)cols * 2);
    int checked = 0;
    for (int extreme = 0; extreme < 2; extreme++) {
        if (extreme)
            for (int64_t k = 0; k < nmax * cols; k++) x[k] = 1.0f; /* Q8_0 levels 127, Q8_K -127 */
        else
            fill(x, nmax * cols, 1.0);
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t rc = 0; rc < sizeof row_counts / sizeof row_counts[0]; rc++) {
                const int64_t rows = row_counts[rc];
                const desk_type_info *ti = desk_type_get(types[t]);
                desk_mat w;
                unsigned char *wd = make_weights(types[t], rows, cols, &w);
                if (extreme) extreme_weights(&w, wd, 0.01f);
                for (int64_t r = 0; r < rows; r++)
                    assert_int_equal(desk_dequantize_row(types[t], wd + (size_t)r * w.row_bytes, wf + r * cols, cols, &err),
                                     DESK_OK);
                const size_t arow = desk_type_row_size(ti->vec_dot_type, cols);
                for (int64_t c = 0; c < nmax; c++) {
                    assert_int_equal(desk_quantize_acts(types[t], x + c * cols, aq + c * arow, cols, &err), DESK_OK);
                    assert_int_equal(desk_dequantize_row(ti->vec_dot_type, aq + c * arow, af + c * cols, cols, &err),
                                     DESK_OK);
                }
                void *packed = NULL;
                const size_t psz = desk_repack_size(&w);
                if (psz) {
                    packed = malloc(psz);
                    assert_int_equal(desk_repack(&w, packed, &err), DESK_OK);
                }
                void *scratch = aligned_alloc(64, (desk_matmul_scratch_size(&w, nmax) + 63) / 64 * 64);
                for (int pk = 0; pk < (packed ? 2 : 1); pk++) {
                    desk_mat wm = w;
                    wm.packed = pk ? packed : NULL;
                    for (int64_t n = 1; n <= nmax; n++) {
                        const desk_kernel_table *avx2 = desk_kernels_get(DESK_ISA_AVX2);
                        if (avx2)
                            assert_int_equal(desk_matmul_with(avx2, tps[0], &wm, x, n, y2, scratch, &err), DESK_OK);
                        for (int i = 0; i < n_isa; i++) {
                            assert_int_equal(desk_matmul_with(isas[i], tps[(n + i) % 2], &wm, x, n, y, scratch, &err),
                                             DESK_OK);
                            if (avx2 && twin_of(isas[i]) && memcmp(y, y2, (size_t)(n * rows) * sizeof(float)) != 0)
                                fail_msg("%s %s rows=%lld n=%lld%s differs from avx2's", isas[i]->name, ti->name,
                                         (long long)rows, (long long)n, pk ? " repacked" : "");
                            const desk_vec_dot_fn vd = isas[i]->vec_dot[types[t]];
                            /* Q4_K tiles take llama.cpp's repacked gemm order for groups of 4 activation rows. */
                            const bool same_as_vd = vd && !pk && !psz && n > 1 && types[t] != DESK_TYPE_Q4_K &&
                                                    isas[i] != desk_kernels_get(DESK_ISA_SCALAR);
                            for (int64_t c = 0; c < n; c++)
                                for (int64_t r = 0; r < rows; r++) {
                                    const unsigned char *wr = wd + (size_t)r * w.row_bytes;
                                    const double ex = exact_dot(types[t], wf + r * cols, wr, aq + c * arow, af + c * cols, cols);
                                    const double tol = 2e-6 * abs_dot(wf + r * cols, af + c * cols, cols) + 1e-6;
                                    const float got = y[c * rows + r];
                                    if (fabs(got - ex) > tol)
                                        fail_msg("%s %s rows=%lld n=%lld%s%s: y[%lld][%lld] = %.9g, exact %.9g", isas[i]->name,
                                                 ti->name, (long long)rows, (long long)n, pk ? " repacked" : "",
                                                 extreme ? " extreme" : "", (long long)c, (long long)r, (double)got, ex);
                                    if (same_as_vd && got != vd(cols, wr, aq + c * arow))
                                        fail_msg("%s %s rows=%lld n=%lld: y[%lld][%lld] differs from vec_dot", isas[i]->name,
                                                 ti->name, (long long)rows, (long long)n, (long long)c, (long long)r);
                                }
                            checked++;
                        }
                    }
                }
                free(scratch);
                free(packed);
                free(wd);
            }
    }
    assert_true(checked >= 2 * 6 * 4 * 9);
    for (int i = 0; i < 2; i++) desk_threadpool_free(tps[i]);
    free(x);
    free(af);
    free(wf);
    free(y);
    free(y2);
    free(aq);
}

/* desk_matmul_many_with: for every table, 1 and 2 threads and n = 1, 2, 5,
 * lists that mix what one job takes (Q4_K repacked at load, 24 and 40
 * rows) with what it does not (Q6_K; Q4_K in place) and a matrix of no
 * rows: each output equals its own desk_matmul_with, bit for bit.  Lists
 * it refuses: 0 or more than DESK_MATMUL_MAX matrices, widths that differ. */
static void test_matmul_many(void **state) {
    (void)state;
    const desk_kernel_table *isas[DESK_ISA_COUNT];
    const int n_isa = available_isas(isas);
    const int64_t cols = 768, nmax = 5;
    const struct {
        uint32_t type;
        int64_t rows;
        bool packed;
    } spec[] = {{DESK_TYPE_Q4_K, 24, true}, {DESK_TYPE_Q4_K, 40, true}, {DESK_TYPE_Q6_K, 16, false},
                {DESK_TYPE_Q4_K, 16, false}, {DESK_TYPE_Q8_0, 24, false}, {DESK_TYPE_Q8_0, 0, false},
                {DESK_TYPE_Q8_0, 40, false}};
    enum { NSPEC = sizeof spec / sizeof spec[0] };
    desk_mat w[NSPEC];
    void *wd[NSPEC], *packed[NSPEC] = {0};
    float *y[NSPEC], *yref = malloc(nmax * 40 * sizeof(float)), *x = malloc(nmax * cols * sizeof(float));
    fill(x, nmax * cols, 1.0);
    desk_err err = {0};
    size_t scratch_sz = 0;
    for (int i = 0; i < NSPEC; i++) {
        wd[i] = make_weights(spec[i].type, spec[i].rows ? spec[i].rows : 8, cols, &w[i]);
        w[i].rows = spec[i].rows;
        if (spec[i].packed) {
            packed[i] = malloc(desk_repack_size(&w[i]));
            assert_int_equal(desk_repack(&w[i], packed[i], &err), DESK_OK);
            w[i].packed = packed[i];
        }
        y[i] = malloc(nmax * 40 * sizeof(float));
        const size_t sz = desk_matmul_scratch_size(&w[i], nmax);
        if (sz > scratch_sz) scratch_sz = sz;
    }
    void *scratch = aligned_alloc(64, (scratch_sz + 63) / 64 * 64);
    desk_threadpool *tps[2];
    for (int i = 0; i < 2; i++) assert_int_equal(desk_threadpool_new(i + 1, &tps[i], &err), DESK_OK);
    const int lists[][2] = {{0, 4}, {4, 3}, {1, 1}}; /* first matrix, count */
    const int64_t ns[] = {1, 2, 5};
    for (int i = 0; i < n_isa; i++)
        for (int t = 0; t < 2; t++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
                    const int f = lists[l][0], k = lists[l][1];
                    const desk_mat *wl[DESK_MATMUL_MAX];
                    for (int m = 0; m < k; m++) {
                        wl[m] = &w[f + m];
                        memset(y[f + m], 0xFF, nmax * 40 * sizeof(float)); /* NaN where nothing is written */
                    }
                    assert_int_equal(desk_matmul_many_with(isas[i], tps[t], wl, y + f, k, x, ns[ni], scratch, &err), DESK_OK);
                    for (int m = 0; m < k; m++) {
                        assert_int_equal(desk_matmul_with(isas[i], tps[t], wl[m], x, ns[ni], yref, scratch, &err), DESK_OK);
                        if (memcmp(y[f + m], yref, (size_t)(ns[ni] * wl[m]->rows) * sizeof(float)) != 0)
                            fail_msg("%s %d threads n=%lld: matrix %d of %d (%s, %lld rows) differs from its own product",
                                     isas[i]->name, t + 1, (long long)ns[ni], m, k, desk_type_name(wl[m]->type),
                                     (long long)wl[m]->rows);
                    }
                }
    const desk_mat *two[2] = {&w[0], &w[1]}, *five[5] = {&w[0], &w[0], &w[0], &w[0], &w[0]};
    assert_int_equal(desk_matmul_many_with(isas[0], tps[0], two, y, 0, x, 1, scratch, &err), DESK_E_ARG);
    assert_int_equal(desk_matmul_many_with(isas[0], tps[0], five, y, 5, x, 1, scratch, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "5 matrices"));
    desk_mat narrow = w[1];
    narrow.cols = 512;
    narrow.packed = NULL;
    narrow.row_bytes = desk_type_row_size(narrow.type, 512);
    two[1] = &narrow;
    assert_int_equal(desk_matmul_many_with(isas[0], tps[0], two, y, 2, x, 1, scratch, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "matrix 1 has 512 columns"));
    for (int i = 0; i < 2; i++) desk_threadpool_free(tps[i]);
    for (int i = 0; i < NSPEC; i++) {
        free(wd[i]);
        free(packed[i]);
        free(y[i]);
    }
    free(scratch);
    free(yref);
    free(x);
}

static void test_get_row(void **state) {
    (void)state;
    desk_mat m;
    void *wd = make_weights(DESK_TYPE_Q6_K, 5, 512, &m);
    float got[512], want[512];
    desk_err err = {0};
    assert_int_equal(desk_get_row(&m, 3, got, &err), DESK_OK);
    assert_int_equal(desk_dequantize_row(DESK_TYPE_Q6_K, (const unsigned char *)wd + 3 * m.row_bytes, want, 512, &err),
                     DESK_OK);
    assert_memory_equal(got, want, sizeof got);
    assert_int_equal(desk_get_row(&m, 5, got, &err), DESK_E_RANGE);
    assert_int_equal(desk_get_row(&m, -1, got, &err), DESK_E_RANGE);
    free(wd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_and_dispatch),
        cmocka_unit_test(test_act_quant),
        cmocka_unit_test(test_vec_dot),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_q8_0_extremes),
        cmocka_unit_test(test_repacked),
        cmocka_unit_test(test_batch_edges),
        cmocka_unit_test(test_matmul_many),
        cmocka_unit_test(test_get_row),
    };
    const char *filter = getenv("DESK_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
