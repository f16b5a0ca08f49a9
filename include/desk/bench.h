/*
 * desk/bench.h - measuring: what a benchmark report records about the
 * machine (CPU, kernels, memory bandwidth, models by sha256), the sweep
 * that measures prompt processing and generation, and the report's
 * formats: JSON (read back by `desk bench compare` and `desk cost
 * --bench`), CSV, Markdown and a self-contained HTML page.
 *
 * What is measured (see docs/BENCHMARKING.md):
 *   ppN        N prompt tokens decoded in batches (after `depth` cached
 *              tokens); tokens/s = N / time; ttft = that time (the first
 *              generated token's logits come out with the last prompt token)
 *   tgN        N tokens decoded one at a time after `depth` cached tokens;
 *              tokens/s = N / time; every step's time is an inter-token
 *              latency (p50/p90/p99 over all repetitions)
 *   roofline   tg tokens/s * weight bytes per token / measured bandwidth
 *   energy     RAPL joules over the timed repetitions, when readable
 *
 * The sweep drives a model through a small table of functions (a backend):
 * desk_bench_model_backend binds it to this library's models; tests drive
 * it with a synthetic backend whose timings are known.
 *
 * Ownership: desk_env and desk_bench_result are caller-owned plain data.
 * A desk_bench_report owns its results and latency samples;
 * desk_bench_report_free releases everything.
 */
#ifndef DESK_BENCH_H
#define DESK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "desk/common.h"
#include "desk/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the machine ---- */

#define DESK_BENCH_MAX_MODELS 8

typedef struct desk_env_model {
    char name[256];    /* as given on the command line */
    char path[1024];
    char sha256[65];   /* hex of the whole file */
    char types[256];   /* "Q4_1 x 211, Q8_0 x 1, F32 x 61" */
    char arch[64];
    uint64_t file_bytes;
} desk_env_model;

typedef struct desk_env {
    char cpu[256];        /* /proc/cpuinfo "model name" */
    char isa[256];        /* the SIMD flags that matter to desk's kernels */
    char kernels_isa[16]; /* the kernel table in use (desk_kernels_isa: "avx512", ...) */
    int n_cpus;           /* online logical CPUs */
    uint64_t mem_total;   /* bytes */
    char kernel[320];     /* uname: sysname release version machine */
    char compiler[128];   /* DESK_COMPILER */
    char cflags[256];     /* DESK_CFLAGS */
    char version[32];     /* DESK_VERSION */
    char git[64];         /* DESK_GIT */
    char date[32];        /* ISO 8601 UTC, when captured */
    double bandwidth_gbps; /* measured streaming read (GB/s = 10^9 B/s); 0 = not measured */
    int bandwidth_threads;
    bool rapl;            /* energy counters readable */
    desk_env_model models[DESK_BENCH_MAX_MODELS];
    size_t n_models;
    char target[512];     /* load tests: the server's base URL ("" otherwise) */
} desk_env;

/* Fills everything but the models and the bandwidth. */
void desk_env_capture(desk_env *env);

/* Adds a model: path, sha256 of the file, tensor types from its header. */
desk_status desk_env_add_model(desk_env *env, const char *name, const char *path, desk_err *err);

/* SHA-256 of a whole file as 64 hex digits. */
desk_status desk_file_sha256(const char *path, char hex[65], desk_err *err);

/* Streams through a BYTES-sized buffer with N_THREADS threads (each sums
 * its own slice), REPS times after one warm-up pass; *GBPS gets the best
 * pass in 10^9 bytes per second. */
desk_status desk_measure_bandwidth(int n_threads, size_t bytes, int reps, double *gbps, desk_err *err);

/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t desk_peak_rss(void);

/* ---- statistics ---- */

typedef struct desk_summary {
    size_t n;
    double mean, sd; /* sd: sample standard deviation (n - 1), 0 when n < 2 */
    double min, max;
    double p50, p90, p99;
} desk_summary;

/* Summarizes N values of X; sorts X in place (ascending).  N = 0 gives an
 * all-zero summary.  Allocates nothing. */
void desk_summarize(double *x, size_t n, desk_summary *out);

/* The Q-quantile (0..1) of N ascending values by linear interpolation
 * between closest ranks (numpy's default); 0 when N = 0. */
double desk_quantile_sorted(const double *x, size_t n, double q);

/* ---- load tests of a server (`desk bench --url`) ---- */

/* Why a request failed. */
typedef enum desk_load_error {
    DESK_LOAD_ERR_CONNECT,    /* connection refused or unreachable */
    DESK_LOAD_ERR_HTTP_429,   /* HTTP 429 Too Many Requests */
    DESK_LOAD_ERR_HTTP_503,   /* HTTP 503 Service Unavailable */
    DESK_LOAD_ERR_HTTP_OTHER, /* any other status but 200 */
    DESK_LOAD_ERR_MALFORMED,  /* not an SSE stream of completion chunks */
    DESK_LOAD_ERR_CLOSED,     /* the stream ended before [DONE] or a finish_reason */
    DESK_LOAD_ERR_TIMEOUT,    /* the request ran past its time limit */
    DESK_LOAD_ERR_OTHER,      /* any other transfer failure */
    DESK_LOAD_ERR_N
} desk_load_error;

/* The report's key of an error kind ("connect", "http_429", ...), or "?". */
const char *desk_load_error_name(int kind);

/* Percentiles of one latency: each the mean over repetitions of that
 * repetition's percentile, with the sample sd across repetitions. */
typedef struct desk_bench_pct {
    double p50, p90, p99;
    double p50_sd, p90_sd, p99_sd;
} desk_bench_pct;

/* A result of a load test: one level (a concurrency, or a Poisson arrival
 * rate) measured `reps` times.  The result's tokens_per_s and samples are
 * the aggregate output tokens/s of the repetitions, its threads the
 * concurrency (1 under a rate), its test "c4" or "rate2.5". */
typedef struct desk_bench_load {
    bool on;              /* this result is a load test */
    int concurrency;      /* closed loop: requests kept in flight; 0 under a rate */
    double rate;          /* open loop: arrivals per second; 0 in a closed loop */
    int requests;         /* per repetition */
    double req_per_s, req_per_s_sd; /* completed requests per second */
    desk_bench_pct ttft, itl, e2e;  /* ms */
    double prompt_tokens, completion_tokens; /* mean per successful request */
    bool usage;           /* token counts came from the server's usage */
    double slo_ttft_ms, slo_itl_ms; /* 0: no objective */
    double goodput, goodput_sd; /* share of requests (failed ones included) meeting both objectives */
    uint64_t ok;          /* successful requests, all repetitions */
    uint64_t errors[DESK_LOAD_ERR_N]; /* failed requests by kind, all repetitions */
    double client_cpu_s;  /* the load generator's CPU time (user + system), all repetitions */
    double wall_s;        /* the repetitions' wall time */
    char first_error[200]; /* what the first failed request said ("" when none failed) */
} desk_bench_load;

/* The failed requests of L, all kinds. */
uint64_t desk_load_errors(const desk_bench_load *l);

/* ---- results and reports ---- */

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
    bool deterministic;   /* measured in the batch-invariant mode */
    uint64_t kv_bytes;    /* bytes of the context's KV cache; 0 = unknown */
    int kv_ctx;           /* its length in tokens (when kv_bytes is known) */
    double roofline;      /* tg: tokens/s * weight_bytes / bandwidth (0..1); 0 = unknown */
    double joules;        /* energy per repetition (mean); < 0 = not available */
    double joules_per_token;
    desk_bench_load load; /* load tests of a server only (load.on) */
} desk_bench_result;

typedef struct desk_bench_report {
    desk_env env;
    desk_bench_result *results; /* DESK_BENCH_MAX_RESULTS slots */
    size_t n_results;
    struct desk_arena *arena; /* the library's: where latencies live */
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

/* ---- the sweep ---- */

#define DESK_BENCH_MAX_SWEEP 16

typedef struct desk_bench_backend {
    void *user;
    desk_status (*load)(void *user, const char *path, void **model, desk_err *err);
    void (*unload)(void *user, void *model);
    uint64_t (*weight_bytes)(void *user, void *model);
    int32_t (*n_vocab)(void *user, void *model);
    desk_status (*ctx_new)(void *user, void *model, int n_ctx, int n_batch, int n_threads, void **ctx, desk_err *err);
    void (*ctx_free)(void *user, void *ctx);
    void (*truncate)(void *user, void *ctx, int n_keep);
    desk_status (*decode)(void *user, void *ctx, const int32_t *ids, int n, desk_err *err);
    uint64_t (*kv_bytes)(void *user, void *ctx); /* the context's KV cache bytes; may be NULL */
} desk_bench_backend;

typedef struct desk_bench_params {
    const char *names[DESK_BENCH_MAX_MODELS]; /* as given, for the report */
    const char *paths[DESK_BENCH_MAX_MODELS];
    size_t n_models;
    int prompt[DESK_BENCH_MAX_SWEEP];  size_t n_prompt;  /* 0 entries skip pp */
    int gen[DESK_BENCH_MAX_SWEEP];     size_t n_gen;     /* 0 entries skip tg */
    int depth[DESK_BENCH_MAX_SWEEP];   size_t n_depth;
    int threads[DESK_BENCH_MAX_SWEEP]; size_t n_threads;
    int reps;                  /* 1..DESK_BENCH_MAX_REPS */
    int n_batch;               /* prompt tokens per decode call (0: 512) */
    bool hash_models;          /* sha256 each model file into the env */
    const char *cache_k, *cache_v; /* KV cache types the backend uses, for the report (NULL: "f16") */
    bool deterministic;        /* the backend runs the batch-invariant mode (for the report) */
    /* Called before each configuration and repetition (may be NULL). */
    void (*progress)(void *user, size_t done, size_t total, const char *what);
    void *progress_user;
} desk_bench_params;

/* Runs the sweep, appending one result per configuration to REPORT (whose
 * env should already be captured; its bandwidth, when measured, sets the
 * rooflines).  Stops at the first failure with ERR naming the model and
 * test. */
desk_status desk_bench_run(const desk_bench_backend *b, const desk_bench_params *p, desk_bench_report *report,
                           desk_err *err);

/* What the model backend does besides the defaults. */
typedef struct desk_bench_model_opts {
    bool no_repack;                 /* desk_model_params.no_repack */
    desk_cache_type type_k, type_v; /* KV cache element types */
    bool deterministic;             /* desk_ctx_params.deterministic */
} desk_bench_model_opts;

/* The backend over desk/model.h.  OPTS (may be NULL: defaults) is borrowed
 * and must outlive every desk_bench_run with the result. */
desk_bench_backend desk_bench_model_backend(const desk_bench_model_opts *opts);

/* ---- the kernels alone (bench/matmul.c) ---- */

typedef struct desk_kernel_bench {
    uint32_t type;        /* the weights' type (desk_type) */
    int64_t rows, cols;   /* the weight matrix */
    int64_t n;            /* activation rows: 1 is decoding's matrix-vector product */
    int threads;          /* >= 1 */
    int copies;           /* 1..256 copies used in turn (1: cache-resident; more: streams from memory) */
    bool repack;          /* repack Q4_0 / Q4_K as a model load does */
    double min_s;         /* time calls for at least this long */
} desk_kernel_bench;

/* *SECONDS gets the median time of one matrix product with this process's
 * kernels (random weights on huge pages, as a model's are).
 * DESK_E_UNSUPPORTED for a type without a matrix kernel, DESK_E_ARG for a
 * bad shape. */
desk_status desk_bench_kernel(const desk_kernel_bench *p, double *seconds, desk_err *err);

#ifdef __cplusplus
}
#endif
#endif /* DESK_BENCH_H */
