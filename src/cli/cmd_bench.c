/*
 * cmd_bench.c - `desk bench`: prompt and generation throughput, latency,
 * load time, memory, roofline and energy of one or more models over a
 * sweep of sizes, depths and thread counts, with the environment recorded;
 * `desk bench compare A.json B.json` (Welch's t-test per row); and
 * `desk bench show REPORT.json`, which writes a saved report again in any
 * format (one measurement, many views).
 * The sweep itself is src/bench/run.c; this file parses flags, binds the
 * sweep to the model runtime and writes the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desk/bench.h"
#include "cli.h"
#include "sandbox.h"
#include "desk/files.h"
#include "desk.h"
#include "bench_url.h"

static const char USAGE[] =
    "usage: desk bench -m MODEL[,MODEL...] [-p 512] [-n 128] [-r 5] [-t 1,2] [-d 0]\n"
    "                  [-ctk f16|q8_0] [-ctv f16|q8_0] [--json | --csv | --md] [-o FILE] [--html FILE]\n"
    "                  [--bandwidth-mb 512] [--no-repack] [--deterministic]\n"
    "       desk bench --url http://HOST:PORT/v1 [--model NAME] [--api-key K]\n"
    "                  [--concurrency 1,2,4,8 | --rate R] [--requests 32] [-r 3]\n"
    "                  [--prompt-tokens 128[,P2...] | --dataset FILE.jsonl] [--max-tokens 64]\n"
    "                  [--slo-ttft MS] [--slo-itl MS] [--json | --csv | --md] [-o FILE] [--html FILE]\n"
    "       desk bench compare A.json B.json [--alpha 0.05]\n"
    "       desk bench show REPORT.json [--json | --csv | --md] [-o FILE] [--html FILE]\n"
    "\n"
    "Measures each model on this machine (show: writes a saved --json report\n"
    "again, with the same output flags).  Comma lists sweep: one result per\n"
    "combination of -t, -d, and each -p (a pp test) and -n (a tg test).\n"
    "\n"
    "-m MODELS     GGUF files or known names (smollm2, gemma3-270m)\n"
    "-p N,...      prompt sizes: ppN decodes N tokens in batches of 512 (0: none)\n"
    "-n N,...      generation sizes: tgN decodes N tokens one at a time (0: none)\n"
    "-d N,...      context depth: tokens already in the KV cache before each test;\n"
    "              depth > 0 names the test \"tg128@d4096\" (default 0)\n"
    "-r N          timed repetitions after one warm-up run (default 5, max 64)\n"
    "-t N,...      threads (default: all online CPUs)\n"
    "-ctk T, --cache-type-k T  KV cache type of K: f16 (default) or q8_0; the\n"
    "              report records both types and the cache's bytes\n"
    "-ctv T, --cache-type-v T  KV cache type of V: f16 (default) or q8_0\n"
    "--json        one object {env, results[{model, test, threads, tokens_per_s,\n"
    "              sd, samples, ttft_ms | itl_*, ...}]} (the input of `desk cost\n"
    "              --bench` and `desk bench compare`)\n"
    "--csv, --md   a CSV table, or a Markdown table with the environment (default)\n"
    "-o FILE       write the report there (atomically) instead of to stdout\n"
    "--html FILE   also write a self-contained HTML page with SVG charts\n"
    "--bandwidth-mb N  buffer for the memory-bandwidth measurement (default 512;\n"
    "              0 skips it and the roofline)\n"
    "--no-repack   use the weights in place from the file (zero copy) instead of\n"
    "              repacking Q4_0/Q4_K and copying the rest onto huge pages at\n"
    "              load (see docs/PERFORMANCE.md)\n"
    "--deterministic  measure the batch-invariant mode (see desk run --help)\n"
    "\n"
    "Figures: tokens/s is the mean over repetitions, sd their sample standard\n"
    "deviation.  ttft (pp rows): time from submitting the prompt to the first\n"
    "token's logits.  itl (tg rows): p50/p90/p99 of every step's time.  roofline:\n"
    "tg tokens/s x weight bytes read per token / measured streaming bandwidth.\n"
    "\n"
    "--url: a load test of any OpenAI-compatible server (desk serve, llama-server,\n"
    "vLLM, ollama): streamed chat completions from one thread (libcurl multi).\n"
    "--concurrency N,...  closed loop: N requests kept in flight, one row per N\n"
    "--rate R      open loop instead: Poisson arrivals, R requests/s (--seed S;\n"
    "              --max-in-flight 256)\n"
    "--requests N  requests per repetition (default 32); -r N repetitions (default 3)\n"
    "              after --warmup N unmeasured requests (default: the widest\n"
    "              level, which also opens every connection the levels reuse)\n"
    "--prompt-tokens P,...  synthetic prompts of P tokens, sized by the server's\n"
    "              /tokenize when it has one (default 128; a list adds rows)\n"
    "--dataset F   prompts from JSONL lines {\"prompt\": \"...\"} or {\"messages\": [...]}\n"
    "--max-tokens G  tokens per answer (default 64; ignore_eos is sent so servers\n"
    "              that honour it generate all G; --no-ignore-eos omits it)\n"
    "--slo-ttft MS, --slo-itl MS  goodput: share of requests with TTFT and mean ITL\n"
    "              within both\n"
    "--timeout S   per request (default 300); --model NAME (default: the first of\n"
    "              /v1/models); --api-key K (sent as a Bearer token)\n"
    "Per row: requests/s and output tokens/s (aggregate), TTFT / ITL / E2E\n"
    "p50/p90/p99 (mean of the repetitions' percentiles, with their sd), goodput,\n"
    "errors by kind (connect, http_429, http_503, http_other, malformed, closed,\n"
    "timeout, other) and the client's own CPU time.  Exit status 1 when any\n"
    "request failed (the report is still written), 2 for bad usage.\n"
    "\n"
    "Energy from /sys/class/powercap RAPL counters where readable, else \"not\n"
    "available\".  Progress goes to stderr (when it is a terminal); data to stdout.\n"
    "See docs/BENCHMARKING.md.\n";

bool bench_parse_ints(const char *flag, const char *s, int *v, size_t *n, long long lo, long long hi) {
    char buf[256];
    if (!s || !*s || strlen(s) >= sizeof buf) {
        cli_fail("bench", DESK_EXIT_USAGE, "%s needs a comma-separated list", flag);
        return false;
    }
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long x;
        if (*n == DESK_BENCH_MAX_SWEEP) {
            cli_fail("bench", DESK_EXIT_USAGE, "%s: at most %d values", flag, DESK_BENCH_MAX_SWEEP);
            return false;
        }
        if (!cli_parse_int("bench", flag, tok, lo, hi, &x)) return false;
        v[(*n)++] = (int)x;
    }
    if (!*n) cli_fail("bench", DESK_EXIT_USAGE, "%s needs at least one value", flag);
    return *n > 0;
}

static int compare(int argc, char **argv) {
    const char *files[2] = {0};
    size_t n = 0;
    double alpha = 0.05;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_usage(USAGE);
        if (strcmp(argv[i], "--alpha") == 0) {
            if (!cli_parse_float("bench", "--alpha", i + 1 < argc ? argv[i + 1] : NULL, 1e-9, 0.5, &alpha))
                return DESK_EXIT_USAGE;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail("bench", DESK_EXIT_USAGE, "compare: unknown option '%s'", argv[i]);
        } else if (n == 2) {
            return cli_fail("bench", DESK_EXIT_USAGE, "compare takes two reports (A.json B.json)");
        } else {
            files[n++] = argv[i];
        }
    }
    if (n != 2) return cli_fail("bench", DESK_EXIT_USAGE, "compare needs two reports: A.json B.json");
    const char *reads[] = {files[0], files[1]};
    int bad = cli_sandbox_apply("bench", &(cli_sandbox_spec){.read = reads, .n_read = 2});
    if (bad) return bad;
    desk_bench_report a, b;
    desk_err err = {0};
    if (desk_bench_report_init(&a, &err) != DESK_OK) return cli_fail_err("bench", &err);
    if (desk_bench_report_init(&b, &err) != DESK_OK) {
        desk_bench_report_free(&a);
        return cli_fail_err("bench", &err);
    }
    int rc = 0;
    if (desk_bench_read_json(files[0], &a, &err) != DESK_OK || desk_bench_read_json(files[1], &b, &err) != DESK_OK) {
        rc = cli_fail_err("bench", &err);
    } else {
        printf("A: %s (%s, %s)\nB: %s (%s, %s)\n", files[0], a.env.git, a.env.date, files[1], b.env.git, b.env.date);
        printf("Welch's t-test on the repetitions; significant at p < %g\n", alpha);
        desk_bench_compare(&a, &b, alpha, stdout);
    }
    desk_bench_report_free(&a);
    desk_bench_report_free(&b);
    return rc;
}

static void show_progress(void *user, size_t done, size_t total, const char *what) {
    (void)user;
    int width = 30, filled = total ? (int)(width * done / total) : 0;
    fprintf(stderr, "\r[%.*s%*s] %3zu/%zu %-60.60s", filled, "==============================", width - filled, "",
            done, total, what);
    fflush(stderr);
}

int bench_output_flag(int argc, char **argv, int *i, output *o) {
    static const struct {
        const char *flag;
        fmt f;
    } FORMATS[] = {{"--md", FMT_MD}, {"--json", FMT_JSON}, {"--csv", FMT_CSV}};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof FORMATS / sizeof FORMATS[0]; k++)
        if (strcmp(a, FORMATS[k].flag) == 0) {
            o->f = FORMATS[k].f;
            return 1;
        }
    if (strcmp(a, "-o") != 0 && strcmp(a, "--html") != 0) return 0;
    if (*i + 1 >= argc) {
        cli_fail("bench", DESK_EXIT_USAGE, "%s needs a value", a);
        return -1;
    }
    *(a[1] == 'o' ? &o->path : &o->html) = argv[++*i];
    return 1;
}

static void write_report(const desk_bench_report *r, fmt f, FILE *out) {
    if (f == FMT_JSON) desk_bench_write_json(r, out);
    else if (f == FMT_CSV) desk_bench_write_csv(r, out);
    else desk_bench_write_md(r, out);
}

/* Writes through an atomic file (PATH) or to stdout (PATH NULL). */
static int emit_one(const desk_bench_report *r, fmt f, const char *path, bool html) {
    desk_err err = {0};
    if (!path) {
        write_report(r, f, stdout);
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : cli_fail("bench", DESK_EXIT_FAIL, "error writing the output");
    }
    desk_afile af;
    if (desk_afile_open(path, &af, &err) != DESK_OK) return cli_fail_err("bench", &err);
    if (html) desk_bench_write_html(r, af.fp);
    else write_report(r, f, af.fp);
    if (desk_afile_commit(&af, &err) != DESK_OK) return cli_fail_err("bench", &err);
    return 0;
}

/* Refuses unusable output paths before any work: each must be writable
 * and none may be an input (the report shown, a model measured) or the
 * other output. */
int bench_check_outputs(const output *o, const char *const *inputs, size_t n, const char *mode, int port) {
    const char *in[DESK_BENCH_MAX_MODELS + 2];
    size_t k = 0;
    for (size_t i = 0; i < n && k < DESK_BENCH_MAX_MODELS + 1; i++) in[k++] = inputs[i];
    int rc = o->path ? cli_check_output("bench", o->path, in, k) : 0;
    if (!rc && o->html) {
        if (o->path) in[k++] = o->path;
        rc = cli_check_output("bench", o->html, in, k);
    }
    if (!rc && o->path && o->html && strcmp(o->path, o->html) == 0)
        rc = cli_fail("bench", DESK_EXIT_USAGE, "-o and --html name the same file %s", o->path);
    /* Inputs and outputs known: bench confines itself here. */
    const char *writes[] = {o->path, o->html};
    if (!rc)
        rc = cli_sandbox_apply(mode, &(cli_sandbox_spec){.read = inputs, .n_read = n, .write = writes, .n_write = 2,
                                                         .port = port});
    return rc;
}

/* The report as O asks: in its format, then the HTML page if asked for. */
int bench_emit(const desk_bench_report *r, const output *o) {
    int rc = emit_one(r, o->f, o->path, false);
    if (!rc && o->html) rc = emit_one(r, o->f, o->html, true);
    return rc;
}

/* `desk bench show REPORT.json`: the saved measurement in another format. */
static int show(int argc, char **argv) {
    const char *file = NULL;
    output o = {FMT_MD, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(USAGE);
        const int used = bench_output_flag(argc, argv, &i, &o);
        if (used < 0) return DESK_EXIT_USAGE;
        if (used) continue;
        if (a[0] == '-' && a[1]) {
            return cli_fail("bench", DESK_EXIT_USAGE, "show: unknown option '%s'", a);
        } else if (file) {
            return cli_fail("bench", DESK_EXIT_USAGE, "show takes one report");
        } else {
            file = a;
        }
    }
    if (!file) return cli_fail("bench", DESK_EXIT_USAGE, "show needs a report: REPORT.json");
    int bad = bench_check_outputs(&o, &file, 1, "bench", 0);
    if (bad) return bad;
    desk_bench_report r;
    desk_err err = {0};
    if (desk_bench_report_init(&r, &err) != DESK_OK) return cli_fail_err("bench", &err);
    int rc = desk_bench_read_json(file, &r, &err) != DESK_OK ? cli_fail_err("bench", &err) : 0;
    if (!rc) rc = bench_emit(&r, &o);
    desk_bench_report_free(&r);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "compare") == 0) return compare(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "show") == 0) return show(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--url") == 0) return bench_url(argc, argv, USAGE);
    desk_bench_params p = {.prompt = {512}, .n_prompt = 1, .gen = {128}, .n_gen = 1, .depth = {0}, .n_depth = 1,
                           .reps = 5, .hash_models = true};
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    p.threads[0] = n_cpu > 0 ? (int)n_cpu : 1;
    p.n_threads = 1;
    const char *models = NULL;
    output o = {FMT_MD, NULL, NULL};
    long long v, bw_mb = 512;
    desk_bench_model_opts opts = {.no_repack = false, .type_k = DESK_CACHE_F16, .type_v = DESK_CACHE_F16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(USAGE);
        if (cli_switch(a, "--no-repack", &opts.no_repack)) continue;
        if (cli_switch(a, "--deterministic", &opts.deterministic)) continue;
        const int cache = cli_parse_cache_flag("bench", argc, argv, &i, &opts.type_k, &opts.type_v);
        if (cache < 0) return DESK_EXIT_USAGE;
        if (cache > 0) continue;
        const int used = bench_output_flag(argc, argv, &i, &o);
        if (used < 0) return DESK_EXIT_USAGE;
        if (!used) {
            static const char *const VALUED[] = {"-m", "-p", "-n", "-r", "-t", "-d", "--bandwidth-mb"};
            bool known = false;
            for (size_t k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++) known |= strcmp(a, VALUED[k]) == 0;
            if (!known) return cli_fail("bench", DESK_EXIT_USAGE, "unknown argument '%s' (see --help)", a);
            if (i + 1 >= argc) return cli_fail("bench", DESK_EXIT_USAGE, "%s needs a value", a);
            const char *val = argv[++i];
            bool ok = true;
            if (strcmp(a, "-m") == 0) models = val;
            else if (strcmp(a, "-p") == 0) ok = bench_parse_ints(a, val, p.prompt, &p.n_prompt, 0, 1 << 20);
            else if (strcmp(a, "-n") == 0) ok = bench_parse_ints(a, val, p.gen, &p.n_gen, 0, 1 << 20);
            else if (strcmp(a, "-d") == 0) ok = bench_parse_ints(a, val, p.depth, &p.n_depth, 0, 1 << 24);
            else if (strcmp(a, "-t") == 0) ok = bench_parse_ints(a, val, p.threads, &p.n_threads, 1, 1024);
            else if (strcmp(a, "-r") == 0) {
                ok = cli_parse_int("bench", a, val, 1, DESK_BENCH_MAX_REPS, &v);
                p.reps = (int)v;
            } else ok = cli_parse_int("bench", a, val, 0, 1 << 20, &bw_mb);
            if (!ok) return DESK_EXIT_USAGE;
        }
    }
    if (!models) return cli_fail("bench", DESK_EXIT_USAGE, "no model given (use -m MODEL[,MODEL...])");
    /* Resolve every model before measuring anything. */
    char paths[DESK_BENCH_MAX_MODELS][4096];
    char names[DESK_BENCH_MAX_MODELS][256];
    char list[4096];
    snprintf(list, sizeof list, "%s", models);
    desk_err err = {0};
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (p.n_models == DESK_BENCH_MAX_MODELS)
            return cli_fail("bench", DESK_EXIT_USAGE, "at most %d models", DESK_BENCH_MAX_MODELS);
        if (desk_model_resolve(tok, paths[p.n_models], sizeof paths[0], &err) != DESK_OK)
            return cli_fail_err("bench", &err);
        snprintf(names[p.n_models], sizeof names[0], "%s", tok);
        p.names[p.n_models] = names[p.n_models];
        p.paths[p.n_models] = paths[p.n_models];
        p.n_models++;
    }
    if (!p.n_models) return cli_fail("bench", DESK_EXIT_USAGE, "no model given (use -m MODEL[,MODEL...])");
    int bad = bench_check_outputs(&o, p.paths, p.n_models, "bench", 0);
    if (bad) return bad;
    const desk_bench_backend be = desk_bench_model_backend(&opts);
    p.cache_k = desk_cache_type_name(opts.type_k);
    p.deterministic = opts.deterministic;
    p.cache_v = desk_cache_type_name(opts.type_v);
    desk_bench_report r;
    if (desk_bench_report_init(&r, &err) != DESK_OK) return cli_fail_err("bench", &err);
    desk_env_capture(&r.env);
    bool tty = isatty(STDERR_FILENO);
    if (tty) p.progress = show_progress;
    if (bw_mb > 0) {
        int bt = 0;
        for (size_t i = 0; i < p.n_threads; i++) bt = p.threads[i] > bt ? p.threads[i] : bt;
        if (tty) show_progress(NULL, 0, 1, "measuring memory bandwidth");
        if (desk_measure_bandwidth(bt, (size_t)bw_mb << 20, 3, &r.env.bandwidth_gbps, &err) != DESK_OK) {
            desk_bench_report_free(&r);
            return cli_fail_err("bench", &err);
        }
        r.env.bandwidth_threads = bt;
    }
    desk_status st = desk_bench_run(&be, &p, &r, &err);
    if (tty) fputs("\r\033[K", stderr);
    int rc = 0;
    if (st != DESK_OK) rc = cli_fail_err("bench", &err);
    if (!rc) rc = bench_emit(&r, &o);
    desk_bench_report_free(&r);
    return rc;
}
