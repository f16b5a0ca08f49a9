/*
 * test_bench.c - desk bench's parts: statistics (against closed forms of
 * Student's t), the sweep driven by a synthetic model whose per-token cost
 * is known, report writers and the JSON reader, `desk bench compare`,
 * environment capture (the real model's sha256 against the cache's
 * record), the bandwidth probe, bad input, and a tiny real run of desk
 * bench on SmolLM2 in every format (and `bench show` of its JSON).
 */
#include "util/testutil.h"
#include "util/clijson.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/env.h"
#include "bench/report.h"
#include "bench/run.h"
#include "bench/stats.h"
#include "core/error.h"
#include "core/paths.h"
#include "kernels/kernels.h"

static void test_summary(void **state) {
    (void)state;
    double x[] = {5, 1, 4, 2, 3};
    desk_summary s;
    desk_summarize(x, 5, &s);
    assert_true(s.mean == 3);
    assert_true(fabs(s.sd - sqrt(2.5)) < 1e-12);
    assert_true(s.min == 1 && s.max == 5 && s.p50 == 3);
    assert_true(fabs(s.p90 - 4.6) < 1e-12); /* numpy.percentile([1..5], 90) */
    assert_true(fabs(s.p99 - 4.96) < 1e-12);
    assert_true(x[0] == 1 && x[4] == 5); /* sorted in place */
    desk_summarize(x, 1, &s);
    assert_true(s.sd == 0 && s.mean == 1);
    desk_summarize(x, 0, &s);
    assert_int_equal(s.n, 0);
}

static void test_student_t(void **state) {
    (void)state;
    /* df 1 (Cauchy): p = 1 - 2/pi atan|t|; df 2: p = 1 - |t| / sqrt(t^2 + 2). */
    for (double t = 0.1; t < 30; t *= 1.7) {
        assert_true(fabs(desk_student_t_p2(t, 1) - (1 - 2 / 3.14159265358979323846 * atan(t))) < 1e-10);
        assert_true(fabs(desk_student_t_p2(-t, 2) - (1 - t / sqrt(t * t + 2))) < 1e-10);
    }
    /* Large df: the normal's 5% point. */
    assert_true(fabs(desk_student_t_p2(1.959963985, 1e8) - 0.05) < 1e-6);
    assert_true(fabs(desk_betai(2, 3, 0.4) - 0.5248) < 1e-12); /* 1 - sum_{k<2} C(4,k) .4^k .6^(4-k) */
    double t, df, p;
    /* a = 1..5, b = 2,4,..,10: t = -3/sqrt(2.5), df = 6.25/1.0625 */
    assert_true(desk_welch(3, sqrt(2.5), 5, 6, sqrt(10), 5, &t, &df, &p));
    assert_true(fabs(t + 3 / sqrt(2.5)) < 1e-12);
    assert_true(fabs(df - 6.25 / 1.0625) < 1e-12);
    assert_true(p > 0.05 && p < 0.2);
    assert_true(desk_welch(100, 1, 5, 50, 1, 5, &t, &df, &p));
    assert_true(p < 1e-6);
    assert_false(desk_welch(1, 1, 1, 2, 1, 5, &t, &df, &p));
    assert_true(desk_welch(2, 0, 3, 2, 0, 3, &t, &df, &p) && p == 1);
}

/* ---- a synthetic model: each token costs `us` microseconds of spinning --- */

typedef struct fake {
    double us_per_token, us_per_call;
    int pos, n_ctx, n_batch, decodes, max_batch_seen, loads, frees;
    bool bad_decode;
} fake;

static void spin(double us) {
    double end = desk_now() + us * 1e-6;
    while (desk_now() < end) {
    }
}
static desk_status f_load(void *u, const char *path, void **m, desk_err *err) {
    ((fake *)u)->loads++;
    *m = u;
    return DESK_OK;
}
static void f_unload(void *u, void *m) { ((fake *)u)->frees++; }
static uint64_t f_wbytes(void *u, void *m) { return 1000000; }
static int32_t f_vocab(void *u, void *m) { return 100; }
static desk_status f_ctx_new(void *u, void *m, int n_ctx, int n_batch, int n_threads, void **c, desk_err *err) {
    fake *f = u;
    f->n_ctx = n_ctx;
    f->n_batch = n_batch;
    f->pos = 0;
    *c = u;
    return DESK_OK;
}
static void f_ctx_free(void *u, void *c) {}
static void f_truncate(void *u, void *c, int n_keep) {
    fake *f = u;
    if (n_keep < f->pos) f->pos = n_keep;
}
static desk_status f_decode(void *u, void *c, const int32_t *ids, int n, desk_err *err) {
    fake *f = u;
    if (f->bad_decode) return desk_errf(err, DESK_E_INTERNAL, "synthetic failure");
    if (n > f->n_batch || f->pos + n > f->n_ctx) return desk_errf(err, DESK_E_RANGE, "batch %d at %d", n, f->pos);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= 100) return desk_errf(err, DESK_E_RANGE, "id %d", ids[i]);
    f->max_batch_seen = n > f->max_batch_seen ? n : f->max_batch_seen;
    f->decodes++;
    f->pos += n;
    spin(f->us_per_call + f->us_per_token * n);
    return DESK_OK;
}

/* A KV cache of 10 bytes per token of context. */
static uint64_t f_kv_bytes(void *u, void *c) { return 10u * (uint64_t)((fake *)u)->n_ctx; }

static const desk_bench_backend FAKE = {NULL, f_load, f_unload, f_wbytes, f_vocab, f_ctx_new, f_ctx_free, f_truncate,
                                        f_decode, f_kv_bytes};

static void run_fake(fake *f, desk_bench_report *r, desk_status want) {
    desk_bench_backend b = FAKE;
    b.user = f;
    desk_bench_params p = {.names = {"fake-a", "fake-b"}, .paths = {"/a", "/b"}, .n_models = 2,
                           .prompt = {16, 0}, .n_prompt = 2, .gen = {8}, .n_gen = 1, .depth = {0, 32}, .n_depth = 2,
                           .threads = {1, 2}, .n_threads = 2, .reps = 3, .n_batch = 8, .cache_k = "q8_0"};
    desk_err err = {0};
    assert_int_equal(desk_bench_report_init(r, &err), DESK_OK);
    desk_env_capture(&r->env);
    r->env.bandwidth_gbps = 1; /* 1e9 B/s: 1 MB per token -> roofline = tokens/s / 1000 */
    desk_status st = desk_bench_run(&b, &p, r, &err);
    if (st != want) fail_msg("bench run: %d (%s), want %d", st, err.msg, want);
    if (st) assert_non_null(strstr(err.msg, "fake-a pp16"));
}

static void test_sweep(void **state) {
    (void)state;
    fake f = {.us_per_token = 200};
    desk_bench_report r;
    run_fake(&f, &r, DESK_OK);
    /* 2 models x 2 threads x 2 depths x (pp16 + tg8); the 0 in -p is skipped */
    assert_int_equal(r.n_results, 16);
    assert_int_equal(f.loads, 2);
    assert_int_equal(f.frees, 2);
    assert_int_equal(f.max_batch_seen, 8);
    const char *tests[4] = {"pp16", "tg8", "pp16@d32", "tg8@d32"};
    for (size_t i = 0; i < r.n_results; i++) {
        desk_bench_result *x = &r.results[i];
        assert_string_equal(x->test, tests[i % 4]);
        assert_string_equal(x->model, i < 8 ? "fake-a" : "fake-b");
        assert_int_equal(x->threads, (i / 4) % 2 ? 2 : 1);
        assert_int_equal(x->reps, 3);
        /* never faster than the spin allows; not absurdly slower either */
        if (!(x->tokens_per_s <= 5000 * 1.001 && x->tokens_per_s > 300))
            fail_msg("%s: %.1f tokens/s for 200 us per token", x->test, x->tokens_per_s);
        for (int k = 0; k < 3; k++) assert_true(x->samples[k] > 0);
        assert_true(x->sd >= 0);
        assert_int_equal(x->weight_bytes, 1000000);
        /* the cache types as given (V unset: f16) and the context's bytes:
         * depth 32 + the longest test, 16 tokens */
        assert_string_equal(x->cache_k, "q8_0");
        assert_string_equal(x->cache_v, "f16");
        assert_int_equal(x->kv_ctx, 48);
        assert_int_equal(x->kv_bytes, 480);
        if (x->n_gen) {
            assert_int_equal(x->n_itl, 3 * 8);
            assert_true(x->itl_p50_ms >= 0.2 && x->itl_p50_ms <= x->itl_p90_ms && x->itl_p90_ms <= x->itl_p99_ms);
            assert_true(fabs(x->roofline - x->tokens_per_s / 1000) < 1e-9);
        } else {
            assert_true(x->ttft_ms >= 16 * 0.2);
            assert_int_equal(x->n_itl, 0);
        }
    }
    desk_bench_report_free(&r);
    fake bad = {.bad_decode = true};
    run_fake(&bad, &r, DESK_E_INTERNAL);
    assert_int_equal(r.n_results, 0); /* no half-filled result */
    desk_bench_report_free(&r);
}

static char *temp_path(const char *suffix) {
    static int n;
    char *p = malloc(128);
    snprintf(p, 128, "/tmp/desk_test_bench_%d_%d%s", (int)getpid(), n++, suffix);
    return p;
}

static char *write_report(desk_bench_report *r, void (*w)(const desk_bench_report *, FILE *), const char *suffix) {
    char *path = temp_path(suffix);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    w(r, f);
    fclose(f);
    return path;
}

/* A report with fixed numbers: one pp and one tg row. */
static void synthetic(desk_bench_report *r, double tg_mean, double tg_sd) {
    desk_err err = {0};
    assert_int_equal(desk_bench_report_init(r, &err), DESK_OK);
    desk_env_capture(&r->env);
    desk_bench_result *a = desk_bench_report_add(r);
    snprintf(a->model, sizeof a->model, "models/x<&>.gguf");
    snprintf(a->test, sizeof a->test, "pp512");
    a->n_prompt = 512;
    a->threads = 2;
    a->reps = 3;
    a->samples[0] = 99, a->samples[1] = 100, a->samples[2] = 101;
    desk_bench_result_finish(a);
    a->ttft_ms = 5120;
    desk_bench_result *b = desk_bench_report_add(r);
    snprintf(b->model, sizeof b->model, "models/x<&>.gguf");
    snprintf(b->test, sizeof b->test, "tg128");
    b->n_gen = 128;
    b->threads = 2;
    b->reps = 5;
    snprintf(b->cache_k, sizeof b->cache_k, "q8_0");
    snprintf(b->cache_v, sizeof b->cache_v, "q8_0");
    b->kv_bytes = 1234567;
    b->kv_ctx = 640;
    for (int i = 0; i < 5; i++) b->samples[i] = tg_mean + tg_sd * (i - 2) / sqrt(2.5);
    desk_bench_result_finish(b);
    double itl[6] = {9, 10, 11, 10, 30, 10};
    assert_int_equal(desk_bench_result_set_itl(r, b, itl, 6, &err), DESK_OK);
}

static void test_writers(void **state) {
    (void)state;
    desk_bench_report r;
    synthetic(&r, 20, 0.5);
    assert_true(fabs(r.results[0].tokens_per_s - 100) < 1e-12 && fabs(r.results[0].sd - 1) < 1e-12);
    assert_true(fabs(r.results[1].sd - 0.5) < 1e-9);
    assert_true(r.results[1].itl_p50_ms == 10 && r.results[1].itl_ms[5] == 30);
    char *jp = write_report(&r, desk_bench_write_json, ".json");
    json_object *o = json_object_from_file(jp);
    assert_non_null(o);
    json_object *env, *res;
    assert_true(json_object_object_get_ex(o, "env", &env) && json_object_object_get_ex(o, "results", &res));
    assert_int_equal(json_object_array_length(res), 2);
    const char *keys[] = {"model", "test", "threads", "tokens_per_s", "sd", "samples"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_true(json_object_object_get_ex(json_object_array_get_idx(res, 1), keys[k], NULL));
    const char *ekeys[] = {"cpu",      "isa", "kernels_isa", "cpus", "mem_total", "kernel",
                           "compiler", "cflags", "git",      "date", "energy"};
    for (size_t k = 0; k < sizeof ekeys / sizeof ekeys[0]; k++) assert_true(json_object_object_get_ex(env, ekeys[k], NULL));
    json_object_put(o);
    desk_bench_report back;
    desk_err err = {0};
    assert_int_equal(desk_bench_report_init(&back, &err), DESK_OK);
    assert_int_equal(desk_bench_read_json(jp, &back, &err), DESK_OK);
    assert_int_equal(back.n_results, 2);
    assert_string_equal(back.results[1].test, "tg128");
    assert_int_equal(back.results[1].reps, 5);
    assert_true(fabs(back.results[1].tokens_per_s - 20) < 1e-9);
    assert_string_equal(back.results[0].cache_k, "f16"); /* unset: F16 */
    assert_string_equal(back.results[1].cache_k, "q8_0");
    assert_string_equal(back.results[1].cache_v, "q8_0");
    assert_int_equal(back.results[1].kv_bytes, 1234567);
    assert_int_equal(back.results[1].kv_ctx, 640);
    assert_string_equal(back.env.git, r.env.git);
    /* The kernel table this process uses is recorded and read back. */
    assert_string_equal(r.env.kernels_isa, desk_kernels_isa());
    assert_string_equal(back.env.kernels_isa, r.env.kernels_isa);
    desk_bench_report_free(&back);
    char *cp = write_report(&r, desk_bench_write_csv, ".csv");
    size_t n;
    char *csv = tu_read_file(cp, &n);
    assert_true(strncmp(csv, "model,test,threads,reps,tokens_per_s,sd,", 40) == 0);
    assert_non_null(strstr(csv, "\"models/x<&>.gguf\",tg128,2,5,20.0000,0.5000,"));
    assert_non_null(strstr(csv, ",q8_0,q8_0,1234567,"));
    int lines = 0;
    for (char *c = csv; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 3);
    char *mp = write_report(&r, desk_bench_write_md, ".md");
    char *md = tu_read_file(mp, &n);
    assert_non_null(strstr(md, "| x<&>.gguf | pp512 | 2 | 100.00 ± 1.00 | 5120.0 |"));
    assert_non_null(strstr(md, "10.00 / "));
    char kernels_line[64];
    snprintf(kernels_line, sizeof kernels_line, "), %s kernels; ", desk_kernels_isa());
    assert_non_null(strstr(md, kernels_line));
    char *hp = write_report(&r, desk_bench_write_html, ".html");
    char *html = tu_read_file(hp, &n);
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(html, "Prompt processing throughput"));
    assert_non_null(strstr(html, "Generation throughput"));
    snprintf(kernels_line, sizeof kernels_line, "<th>desk kernels</th><td>%s</td>", desk_kernels_isa());
    assert_non_null(strstr(html, kernels_line));
    assert_non_null(strstr(html, "Inter-token latency distribution"));
    assert_non_null(strstr(html, "x&lt;&amp;&gt;.gguf")); /* escaped */
    assert_null(strstr(html, "x<&>"));
    assert_null(strstr(html, "<script"));
    int open = 0, close = 0;
    for (char *c = html; (c = strstr(c, "<svg")) != NULL; c++) open++;
    for (char *c = html; (c = strstr(c, "</svg>")) != NULL; c++) close++;
    assert_int_equal(open, 3);
    assert_int_equal(close, 3);
    assert_non_null(strstr(html, "</html>"));
    const char *files[] = {jp, cp, mp, hp};
    for (int i = 0; i < 4; i++) unlink(files[i]);
    free(jp), free(cp), free(mp), free(hp), free(csv), free(md), free(html);
    desk_bench_report_free(&r);
}

static void test_compare_cli(void **state) {
    (void)state;
    desk_bench_report a, b, c;
    synthetic(&a, 20, 0.2);
    synthetic(&b, 30, 0.2);
    synthetic(&c, 20.05, 0.3);
    char *pa = write_report(&a, desk_bench_write_json, ".json"), *pb = write_report(&b, desk_bench_write_json, ".json");
    char *pc = write_report(&c, desk_bench_write_json, ".json");
    tu_run r;
    const char *const a1[] = {"bench", "compare", pa, pb, NULL};
    tu_desk(&r, NULL, 0, a1);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "+50.0%"));
    assert_non_null(strstr(r.out, "B faster (significant)"));
    assert_non_null(strstr(r.out, "pp512")); /* identical pp rows: no change */
    assert_non_null(strstr(r.out, "no significant change"));
    tu_run_free(&r);
    const char *const a2[] = {"bench", "compare", pa, pc, NULL};
    tu_desk(&r, NULL, 0, a2);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.out, "(significant)"));
    tu_run_free(&r);
    const char *const a3[] = {"bench", "compare", pa, "/nonexistent/b.json", NULL};
    tu_desk(&r, NULL, 0, a3);
    assert_int_equal(r.code, 2);
    assert_true(strncmp(r.err, "desk bench: ", 12) == 0 && strstr(r.err, "/nonexistent/b.json"));
    assert_int_equal(strchr(r.err, '\n')[1], '\0');
    tu_run_free(&r);
    unlink(pa), unlink(pb), unlink(pc);
    free(pa), free(pb), free(pc);
    desk_bench_report_free(&a), desk_bench_report_free(&b), desk_bench_report_free(&c);
}

static void test_env(void **state) {
    (void)state;
    desk_env e;
    desk_env_capture(&e);
    assert_true(e.cpu[0] && e.n_cpus >= 1 && e.mem_total > 0);
    assert_non_null(strstr(e.kernel, "Linux"));
    assert_true(strlen(e.date) == 20 && e.date[19] == 'Z');
    assert_true(e.compiler[0] && e.version[0]);
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    assert_int_equal(desk_env_add_model(&e, "smollm2", path, &err), DESK_OK);
    size_t n;
    const desk_known_model *k = desk_known_models(&n);
    assert_string_equal(e.models[0].sha256, k[0].sha256);
    assert_non_null(strstr(e.models[0].types, "Q4_1 x "));
    assert_string_equal(e.models[0].arch, "llama");
    free(path);
    assert_int_equal(desk_env_add_model(&e, "x", "/nonexistent.gguf", &err), DESK_E_IO);
    double gbps = 0;
    assert_int_equal(desk_measure_bandwidth(2, 8 << 20, 2, &gbps, &err), DESK_OK);
    assert_true(gbps > 0.05 && gbps < 10000);
    assert_int_equal(desk_measure_bandwidth(0, 8 << 20, 2, &gbps, &err), DESK_E_ARG);
    assert_true(desk_peak_rss() > 0);
}


static double num(json_object *o, const char *k) {
    json_object *v = tu_json_get(o, k);
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) fail_msg("'%s' is not a number", k);
    return json_object_get_double(v);
}

/* One result of a real run: the fields the issue names, with values a
 * measurement (not a default) must have. */
static void check_real_result(json_object *res, const char *test, int n_prompt, int n_gen, int reps) {
    assert_string_equal(json_object_get_string(tu_json_get(res, "model")), "smollm2");
    assert_string_equal(json_object_get_string(tu_json_get(res, "test")), test);
    assert_int_equal((int)num(res, "threads"), 1);
    assert_int_equal((int)num(res, "n_prompt"), n_prompt);
    assert_int_equal((int)num(res, "n_gen"), n_gen);
    assert_int_equal((int)num(res, "reps"), reps);
    double tps = num(res, "tokens_per_s"), sd = num(res, "sd");
    assert_true(tps > 0 && isfinite(tps));
    assert_true(sd >= 0 && isfinite(sd));
    json_object *samples = tu_json_get(res, "samples");
    assert_int_equal(json_object_array_length(samples), reps);
    double sum = 0;
    for (int i = 0; i < reps; i++) sum += json_object_get_double(json_object_array_get_idx(samples, i));
    assert_true(fabs(sum / reps - tps) < 1e-6 * tps); /* the mean of the samples it lists */
    assert_true(num(res, "load_ms") > 0);
    assert_true(num(res, "peak_rss") > 50e6);
    /* SmolLM2-135M Q4_1 reads ~97 MB of weights per token: more than half
     * the file, never more than all of it. */
    double wb = num(res, "weight_bytes_per_token");
    assert_true(wb > 50e6 && wb < 98362432.0);
    assert_string_equal(json_object_get_string(tu_json_get(res, "joules")), "not available");
    if (n_prompt > 0) {
        double ttft = num(res, "ttft_ms");
        /* ttft is the time of the whole prompt: n_prompt / tokens_per_s. */
        assert_true(ttft > 0 && fabs(ttft - 1e3 * n_prompt / tps) < 0.5 * ttft);
    } else {
        double p50 = num(res, "itl_p50_ms"), p90 = num(res, "itl_p90_ms"), p99 = num(res, "itl_p99_ms");
        assert_true(p50 > 0 && p50 <= p90 && p90 <= p99);
        json_object *itl = tu_json_get(res, "itl_ms");
        assert_int_equal(json_object_array_length(itl), reps * n_gen);
        assert_true(json_object_get_double(json_object_array_get_idx(itl, 0)) <= p50);
        /* A probe of 32 MB on a busy machine (ctest -j) can read a few
         * times under the bandwidth decode gets from its cache-warm
         * weights; the bound still catches a unit error (x1000). */
        assert_true(num(res, "roofline") > 0 && num(res, "roofline") < 5);
    }
}

/* desk bench on the real SmolLM2 file, kept tiny (pp16, tg8, 2 repetitions):
 * the JSON's fields, the sha256 of the file, every output format, and
 * `bench show` writing the saved report back unchanged. */
static void test_real_model(void **state) {
    (void)state;
    char *jp = temp_path(".json"), *hp = temp_path(".html");
    const char *const a1[] = {"bench", "-m", "smollm2", "-p", "16", "-n", "8", "-r", "2", "-t", "1",
                              "--bandwidth-mb", "32", "--json", "-o", jp, "--html", hp, NULL};
    tu_run r;
    tu_desk(&r, NULL, 0, a1);
    if (r.code != 0) fail_msg("desk bench: exit %d: %s", r.code, r.err);
    assert_int_equal(r.out_len, 0); /* -o: nothing on stdout */
    tu_run_free(&r);
    json_object *o = json_object_from_file(jp);
    assert_non_null(o);
    json_object *env = tu_json_get(o, "env"), *res = tu_json_get(o, "results");
    assert_int_equal(json_object_array_length(res), 2);
    check_real_result(json_object_array_get_idx(res, 0), "pp16", 16, 0, 2);
    check_real_result(json_object_array_get_idx(res, 1), "tg8", 0, 8, 2);
    assert_true(num(env, "bandwidth_gbps") > 0.05);
    assert_true(strlen(json_object_get_string(tu_json_get(env, "git"))) > 0);
    json_object *models = tu_json_get(env, "models");
    assert_int_equal(json_object_array_length(models), 1);
    json_object *m = json_object_array_get_idx(models, 0);
    size_t nk;
    const desk_known_model *k = desk_known_models(&nk);
    assert_string_equal(json_object_get_string(tu_json_get(m, "sha256")), k[0].sha256);
    assert_int_equal((int64_t)num(m, "file_bytes"), 98362432);
    assert_non_null(strstr(json_object_get_string(tu_json_get(m, "tensor_types")), "Q4_1 x "));
    json_object_put(o);

    size_t n;
    char *html = tu_read_file(hp, &n);
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0 && strstr(html, "</html>"));
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "tg8"));
    assert_non_null(strstr(html, k[0].sha256));
    free(html);

    /* show: the saved report again, unchanged as JSON, and as Markdown. */
    const char *const a2[] = {"bench", "show", jp, "--json", NULL};
    tu_desk(&r, NULL, 0, a2);
    assert_int_equal(r.code, 0);
    char *saved = tu_read_file(jp, &n);
    assert_string_equal(r.out, saved);
    free(saved);
    tu_run_free(&r);

    /* show takes bench's output flags: CSV to a file and an HTML page. */
    char *cp = temp_path(".csv"), *hp2 = temp_path(".html");
    const char *const a5[] = {"bench", "show", jp, "--csv", "-o", cp, "--html", hp2, NULL};
    tu_desk(&r, NULL, 0, a5);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.out_len, 0);
    tu_run_free(&r);
    char *csv = tu_read_file(cp, &n);
    assert_true(strncmp(csv, "model,test,threads,reps,tokens_per_s,sd,", 40) == 0);
    assert_non_null(strstr(csv, "\n\"smollm2\",tg8,1,2,"));
    free(csv);
    html = tu_read_file(hp2, &n);
    assert_non_null(strstr(html, k[0].sha256));
    free(html);
    unlink(cp), unlink(hp2);
    free(cp), free(hp2);

    const char *const a3[] = {"bench", "-m", "smollm2", "-p", "16", "-n", "8", "-r", "2", "-t", "1",
                              "--bandwidth-mb", "0", "--csv", NULL};
    tu_desk(&r, NULL, 0, a3);
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "model,test,threads,reps,tokens_per_s,sd,", 40) == 0);
    assert_non_null(strstr(r.out, "\n\"smollm2\",pp16,1,2,"));
    assert_non_null(strstr(r.out, "\n\"smollm2\",tg8,1,2,"));
    int lines = 0;
    for (char *c = r.out; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 3);
    tu_run_free(&r);

    const char *const a4[] = {"bench", "-m", "smollm2", "-p", "16", "-n", "8", "-r", "2", "-t", "1",
                              "--bandwidth-mb", "0", "--md", NULL};
    tu_desk(&r, NULL, 0, a4);
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "| model | test | threads | tokens/s |", 36) == 0);
    assert_non_null(strstr(r.out, "| smollm2 | pp16 | 1 | "));
    assert_non_null(strstr(r.out, "| smollm2 | tg8 | 1 | "));
    assert_non_null(strstr(r.out, k[0].sha256));
    assert_non_null(strstr(r.out, "peak RSS"));
    tu_run_free(&r);
    unlink(jp), unlink(hp);
    free(jp), free(hp);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *const a1[] = {"bench", NULL};
    tu_expect_usage_error(a1, "no model");
    const char *const a2[] = {"bench", "-m", "no-such-model", NULL};
    tu_expect_usage_error(a2, "no-such-model");
    const char *const a3[] = {"bench", "-m", "smollm2", "-r", "0", NULL};
    tu_expect_usage_error(a3, "-r");
    const char *const a4[] = {"bench", "-m", "smollm2", "-p", "16,abc", NULL};
    tu_expect_usage_error(a4, "abc");
    const char *const a5[] = {"bench", "compare", "only-one.json", NULL};
    tu_expect_usage_error(a5, "two reports");
    const char *const a6[] = {"bench", "-m", "smollm2", "--frob", NULL};
    tu_expect_usage_error(a6, "--frob");
    char *bad = temp_path(".json");
    FILE *f = fopen(bad, "w");
    fputs("{\"results\": [{\"model\": \"m\"}]}", f);
    fclose(f);
    const char *const a7[] = {"bench", "compare", bad, bad, NULL};
    tu_expect_usage_error(a7, "lacks");
    const char *const a9[] = {"bench", "show", bad, NULL};
    tu_expect_usage_error(a9, "lacks");
    f = fopen(bad, "w");
    fputs("{\"results\": [{\"model\": \"m\", \"test\": \"tg8\", \"threads\": 1, \"tokens_per_s\": 5, "
          "\"n_gen\": -8}]}", f);
    fclose(f);
    const char *const a10[] = {"bench", "show", bad, NULL};
    tu_expect_usage_error(a10, "negative");
    f = fopen(bad, "w");
    fputs("{\"results\": [{\"model\": \"m\", \"test\": \"tg8\", \"threads\": 1, \"tokens_per_s\": NaN}]}", f);
    fclose(f);
    const char *const a13[] = {"bench", "compare", bad, bad, NULL};
    tu_expect_usage_error(a13, "tokens_per_s is not a finite speed");
    const char *const a11[] = {"bench", "show", "/nonexistent/r.json", NULL};
    tu_expect_usage_error(a11, "/nonexistent/r.json");
    const char *const a12[] = {"bench", "show", NULL};
    tu_expect_usage_error(a12, "needs a report");
    /* An output flag without its value, in bench and in show alike. */
    const char *const a14[] = {"bench", "-m", "smollm2", "--html", NULL};
    tu_expect_usage_error(a14, "--html needs a value");
    const char *const a15[] = {"bench", "show", bad, "-o", NULL};
    tu_expect_usage_error(a15, "-o needs a value");
    unlink(bad);
    free(bad);
    tu_run r;
    const char *const a8[] = {"bench", "--help", NULL};
    tu_desk(&r, NULL, 0, a8);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "compare A.json B.json"));
    tu_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),     cmocka_unit_test(test_student_t), cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_writers),     cmocka_unit_test(test_compare_cli), cmocka_unit_test(test_env),
        cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
