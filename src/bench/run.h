/*
 * run.h - the measurement loop of `desk bench`: load each model, then for
 * every combination of thread count, context depth, prompt size and
 * generation size, a warm-up and R timed repetitions.
 *
 * The loop drives a model through a small table of functions (a backend),
 * so that it does not depend on how the forward pass is built, and so the
 * tests can drive it with a synthetic model whose timings are known.
 * cmd_bench.c binds the backend to model.h.
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
 */
#ifndef DESK_BENCH_RUN_H
#define DESK_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/report.h"
#include "desk.h"

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

#endif
