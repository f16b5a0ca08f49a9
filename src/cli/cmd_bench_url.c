/*
 * cmd_bench_url.c - `desk bench --url`: a load test of any OpenAI-
 * compatible server (desk serve, llama-server, ollama, vLLM).  Parses the
 * flags, builds the workload, runs the sweep (src/loadgen/) and writes the
 * report with the same writers as an in-process `desk bench`.
 *
 * Exit status: 0 when every request succeeded; 1 when any failed (the
 * report is still written and counts them by kind, and stderr says how
 * many); 2 for bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../loadgen/loadgen.h"
#include "bench_url.h"
#include "cli.h"

static void progress(void *user, const char *what) {
    fprintf(stderr, "\r\033[Kdesk bench: %s: %s", (const char *)user, what);
    fflush(stderr);
}

/* The TCP port URL names (its scheme's default when it names none), or 0. */
static int url_port(const char *url) {
    CURLU *u = curl_url();
    char *port = NULL;
    int p = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port)
        p = atoi(port);
    curl_free(port);
    curl_url_cleanup(u);
    return p > 0 && p < 65536 ? p : 0;
}

int bench_url(int argc, char **argv, const char *usage) {
    lg_config cfg = {.max_tokens = 64, .ignore_eos = true, .timeout_s = 300};
    lg_sweep sw = {.levels = {1}, .n_levels = 1, .requests = 32, .reps = 3, .warmup = -1, .max_in_flight = 256,
                   .seed = 1};
    int prompts[DESK_BENCH_MAX_SWEEP] = {128};
    size_t n_prompts = 1;
    const char *dataset = NULL;
    output o = {FMT_MD, NULL, NULL};
    bool no_ignore_eos = false, levels_given = false;
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(usage);
        if (cli_switch(a, "--no-ignore-eos", &no_ignore_eos)) continue;
        const int used = bench_output_flag(argc, argv, &i, &o);
        if (used < 0) return DESK_EXIT_USAGE;
        if (used) continue;
        static const char *const VALUED[] = {"--url", "--model", "--api-key", "--concurrency", "--rate",
                                             "--requests", "--prompt-tokens", "--max-tokens", "-r", "--warmup",
                                             "--timeout", "--seed", "--dataset", "--slo-ttft", "--slo-itl",
                                             "--max-in-flight"};
        bool known = false;
        for (size_t k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++) known |= strcmp(a, VALUED[k]) == 0;
        if (!known) return cli_fail("bench", DESK_EXIT_USAGE, "--url: unknown argument '%s' (see --help)", a);
        if (i + 1 >= argc) return cli_fail("bench", DESK_EXIT_USAGE, "%s needs a value", a);
        const char *val = argv[++i];
        bool ok = true;
        if (strcmp(a, "--url") == 0) cfg.url = val;
        else if (strcmp(a, "--model") == 0) cfg.model = val;
        else if (strcmp(a, "--api-key") == 0) cfg.api_key = val;
        else if (strcmp(a, "--dataset") == 0) dataset = val;
        else if (strcmp(a, "--concurrency") == 0) ok = bench_parse_ints(a, val, sw.levels, &sw.n_levels, 1, 4096), levels_given = true;
        else if (strcmp(a, "--prompt-tokens") == 0) ok = bench_parse_ints(a, val, prompts, &n_prompts, 1, 1 << 20);
        else if (strcmp(a, "--rate") == 0) ok = cli_parse_float("bench", a, val, 1e-6, 1e6, &sw.rate);
        else if (strcmp(a, "--timeout") == 0) ok = cli_parse_float("bench", a, val, 0.001, 86400, &cfg.timeout_s);
        else if (strcmp(a, "--slo-ttft") == 0) ok = cli_parse_float("bench", a, val, 1e-3, 1e9, &sw.slo_ttft_ms);
        else if (strcmp(a, "--slo-itl") == 0) ok = cli_parse_float("bench", a, val, 1e-3, 1e9, &sw.slo_itl_ms);
        else {
            struct { const char *flag; long long lo, hi; int *dst; } INTS[] = {
                {"--requests", 1, 1000000, &sw.requests}, {"--max-tokens", 1, 1 << 20, &cfg.max_tokens},
                {"-r", 1, DESK_BENCH_MAX_REPS, &sw.reps}, {"--warmup", 0, 4096, &sw.warmup},
                {"--max-in-flight", 1, 4096, &sw.max_in_flight}, {"--seed", 0, 1LL << 31, NULL}};
            for (size_t k = 0; k < sizeof INTS / sizeof INTS[0]; k++) {
                if (strcmp(a, INTS[k].flag) != 0) continue;
                ok = cli_parse_int("bench", a, val, INTS[k].lo, INTS[k].hi, &v);
                if (ok && INTS[k].dst) *INTS[k].dst = (int)v;
                else if (ok) sw.seed = (uint64_t)v;
            }
        }
        if (!ok) return DESK_EXIT_USAGE;
    }
    if (!cfg.url || strncmp(cfg.url, "http", 4) != 0)
        return cli_fail("bench", DESK_EXIT_USAGE, "--url needs the server's base URL, e.g. http://127.0.0.1:8080/v1");
    if (sw.rate > 0 && levels_given)
        return cli_fail("bench", DESK_EXIT_USAGE, "give --concurrency (closed loop) or --rate (open loop), not both");
    if (dataset && n_prompts > 1)
        return cli_fail("bench", DESK_EXIT_USAGE, "--dataset sets the prompts: --prompt-tokens takes one value with it");
    cfg.ignore_eos = !no_ignore_eos;
    if (sw.warmup < 0) { /* default: one request per connection the widest level uses */
        sw.warmup = 1;
        for (size_t i = 0; sw.rate <= 0 && i < sw.n_levels; i++) sw.warmup = sw.levels[i] > sw.warmup ? sw.levels[i] : sw.warmup;
    }
    if (sw.rate > 0 && sw.max_in_flight > sw.requests) sw.max_in_flight = sw.requests;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cli_fail("bench", DESK_EXIT_FAIL, "cannot initialise libcurl");
    int bad = bench_check_outputs(&o, dataset ? &dataset : NULL, dataset ? 1 : 0, "bench-url", url_port(cfg.url));
    if (bad) {
        curl_global_cleanup();
        return bad;
    }
    char model[256] = "";
    if (cfg.model) snprintf(model, sizeof model, "%s", cfg.model);
    else if (lg_fetch_model(&cfg, model, sizeof model)) cfg.model = model; /* vLLM insists on one */
    else snprintf(model, sizeof model, "(server default)");
    sw.cfg = &cfg;
    sw.model_name = model;
    desk_bench_report r;
    desk_err err = {0};
    if (desk_bench_report_init(&r, &err) != DESK_OK) {
        curl_global_cleanup();
        return cli_fail_err("bench", &err);
    }
    desk_env_capture(&r.env);
    snprintf(r.env.target, sizeof r.env.target, "%s", cfg.url);
    bool tty = isatty(STDERR_FILENO);
    if (tty) sw.progress = progress, sw.progress_user = (void *)cfg.url;
    size_t levels = sw.rate > 0 ? 1 : sw.n_levels;
    size_t n_bodies = levels * (size_t)sw.reps * (size_t)sw.requests + (size_t)sw.warmup;
    char msg[512] = "";
    int rc = 0;
    for (size_t p = 0; p < (dataset ? 1 : n_prompts) && !rc; p++) {
        lg_workload w;
        bool ok = dataset ? lg_workload_dataset(&w, &cfg, dataset, 0, msg, sizeof msg)
                          : lg_workload_synthetic(&w, &cfg, prompts[p], n_bodies, sw.seed, msg, sizeof msg);
        if (!ok) {
            rc = cli_fail("bench", DESK_EXIT_FAIL, "%s", msg);
            break;
        }
        sw.work = &w;
        size_t before = r.n_results;
        if (!lg_sweep_run(&sw, &r, msg, sizeof msg)) rc = cli_fail("bench", DESK_EXIT_FAIL, "%s", msg);
        /* Several prompt sizes: name each row by its size too. */
        for (size_t k = before; k < r.n_results && n_prompts > 1; k++) {
            char t[128];
            char *test = r.results[k].test;
            int len = snprintf(t, sizeof t, "p%d-%s", prompts[p], test);
            size_t n = len > 0 && (size_t)len < sizeof r.results[k].test ? (size_t)len : sizeof r.results[k].test - 1;
            memcpy(test, t, n);
            test[n] = 0;
        }
        lg_workload_free(&w);
    }
    if (tty) fputs("\r\033[K", stderr);
    if (!rc) rc = bench_emit(&r, &o);
    uint64_t failed = 0, total = 0;
    char kinds[256] = "";
    for (int k = 0; k < DESK_LOAD_ERR_N; k++) {
        uint64_t n = 0;
        for (size_t i = 0; i < r.n_results; i++) n += r.results[i].load.errors[k];
        if (!n) continue;
        failed += n;
        size_t len = strlen(kinds);
        snprintf(kinds + len, sizeof kinds - len, "%s%s %llu", len ? ", " : "", desk_load_error_name(k),
                 (unsigned long long)n);
    }
    for (size_t i = 0; i < r.n_results; i++) total += r.results[i].load.ok;
    total += failed;
    if (!rc && failed)
        rc = cli_fail("bench", DESK_EXIT_FAIL, "%llu of %llu requests failed (%s); the report counts them",
                      (unsigned long long)failed, (unsigned long long)total, kinds);
    desk_bench_report_free(&r);
    curl_global_cleanup();
    return rc;
}
