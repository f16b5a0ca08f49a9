/*
 * report.h - benchmark results and the ways they are written: JSON (the
 * machine-readable record, also read back by `desk bench compare` and
 * `desk cost --bench`), CSV, Markdown, and a self-contained HTML page with
 * inline SVG charts.
 *
 * A report owns its results and their latency samples (in its arena);
 * desk_bench_report_free releases everything.
 */
#ifndef DESK_BENCH_REPORT_H
#define DESK_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/env.h"
#include "bench/stats.h"
#include "core/arena.h"
#include "desk.h"

#define DESK_BENCH_MAX_REPS 64
#define DESK_BENCH_MAX_RESULTS 256

/* One configuration: a model, a test (pp = prompt processing of n_prompt
 * tokens, tg = generation of n_gen tokens after `depth` tokens of context),
 * a thread count, measured `reps` times after a warm-up. */
typedef struct desk_bench_result {
    char model[256];
    char test[48];        /* "pp512", "tg128", "tg128@d4096" */
    int n_prompt, n_gen, depth, threads, reps;
    double samples[DESK_BENCH_MAX_REPS]; /* tokens/s of each repetition */
    double tokens_per_s, sd;             /* mean and sample sd of samples */
    double ttft_ms;       /* tg: time to the first token's logits (mean), ms */
    double itl_p50_ms, itl_p90_ms, itl_p99_ms; /* tg: inter-token latency */
    double *itl_ms;       /* tg: every inter-token latency (ascending), in the arena */
    size_t n_itl;
    double load_ms;       /* model load time */
    uint64_t peak_rss;    /* bytes, process peak after this result */
    uint64_t weight_bytes; /* bytes of weights read per token */
    char cache_k[8], cache_v[8]; /* KV cache element types ("f16", "q8_0") */
    uint64_t kv_bytes;    /* bytes of the context's KV cache; 0 = unknown */
    int kv_ctx;           /* its length in tokens (when kv_bytes is known) */
    double roofline;      /* tg: tokens/s * weight_bytes / bandwidth (0..1); 0 = unknown */
    double joules;        /* energy per repetition (mean); < 0 = not available */
    double joules_per_token;
} desk_bench_result;

typedef struct desk_bench_report {
    desk_env env;
    desk_bench_result *results; /* DESK_BENCH_MAX_RESULTS slots */
    size_t n_results;
    desk_arena arena;
} desk_bench_report;

desk_status desk_bench_report_init(desk_bench_report *r, desk_err *err);
void desk_bench_report_free(desk_bench_report *r);
/* A new zeroed result slot (joules -1), or NULL when the report is full. */
desk_bench_result *desk_bench_report_add(desk_bench_report *r);
/* Copies N latencies into the arena and sets the result's percentiles. */
desk_status desk_bench_result_set_itl(desk_bench_report *r, desk_bench_result *res, const double *ms, size_t n,
                                      desk_err *err);
/* Sets tokens_per_s and sd from samples[0..reps). */
void desk_bench_result_finish(desk_bench_result *res);

/* Writers.  Each writes the whole report to F. */
void desk_bench_write_json(const desk_bench_report *r, FILE *f);
void desk_bench_write_csv(const desk_bench_report *r, FILE *f);
void desk_bench_write_md(const desk_bench_report *r, FILE *f);
void desk_bench_write_html(const desk_bench_report *r, FILE *f);

/* Reads a report written by desk_bench_write_json (env fields it knows,
 * every result with its samples).  DESK_E_IO / DESK_E_FORMAT name the
 * file and what was wrong.  R must be initialised. */
desk_status desk_bench_read_json(const char *path, desk_bench_report *r, desk_err *err);

/* `desk bench compare`: for each result of B with the same model, test and
 * threads in A, both means, the change in percent, and Welch's t-test on
 * the samples; "significant" at p < ALPHA.  Returns the number matched. */
size_t desk_bench_compare(const desk_bench_report *a, const desk_bench_report *b, double alpha, FILE *f);

#endif
