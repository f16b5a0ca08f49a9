/*
 * loadgen.h - the load generator behind `desk bench --url`: streaming
 * chat-completion requests to an OpenAI-compatible server, driven from one
 * thread by libcurl's multi interface, and measured per token.
 *
 *   stream.c    one streaming request: an easy handle whose write callback
 *               feeds the SSE parser (sse.c) and timestamps every content
 *               chunk with CLOCK_MONOTONIC
 *   driver.c    runs N requests: closed loop (C in flight) or open loop
 *               (Poisson arrivals at a rate, seeded), collecting per-request
 *               records and every inter-token latency
 *   workload.c  the requests' bodies: synthetic prompts of P tokens (sized
 *               by the server's /tokenize when it has one) or a JSONL data
 *               set
 *   sweep.c     each level R times, summarized into desk_bench_result rows
 *
 * This is a program on the public API (include/desk/bench.h for the report
 * and statistics), not part of the library.  Ownership is noted per
 * function; nothing allocates while requests are in flight except libcurl
 * and json-c parsing each chunk.
 */
#ifndef DESK_LOADGEN_H
#define DESK_LOADGEN_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/bench.h"
#include "sse.h"

/* What every request shares. */
typedef struct lg_config {
    const char *url;      /* base URL ending in /v1 (or without it: /v1 is added) */
    const char *api_key;  /* Bearer token, or NULL */
    const char *model;    /* "model" of each request, or NULL to omit */
    int max_tokens;       /* per request */
    bool ignore_eos;      /* ask the server to generate all max_tokens */
    double timeout_s;     /* per request */
} lg_config;

/* One finished request. */
typedef struct lg_record {
    int error;            /* -1: success; else a desk_load_error */
    int http_status;      /* 0 when no response came */
    double ttft_ms;       /* to the first content chunk (< 0: none came) */
    double e2e_ms;        /* to the end of the stream */
    double mean_itl_ms;   /* (last - first chunk) / (chunks - 1); 0 under 2 chunks */
    int chunks;           /* content chunks */
    int prompt_tokens, completion_tokens; /* from usage, else -1 */
    size_t n_itl;         /* inter-token latencies at the run's itl + index * per_request */
    char detail[200];     /* a failure's particulars (status, libcurl's words, the server's message) */
} lg_record;

/* One streaming request slot, reused from request to request. */
typedef struct lg_stream {
    CURL *easy;
    struct curl_slist *headers;
    sse_parser sse;
    json_tokener *tok;
    char url[1100];
    /* the request in flight */
    double t_start, t_now, t_first, t_last;
    int chunks;
    bool finished;        /* a finish_reason arrived */
    bool checked;         /* the status line and content type were looked at */
    int error;            /* set by the callbacks (-1 none) */
    lg_record rec;
    size_t index;         /* of the request in the run */
    const char *body;     /* borrowed */
    bool retried;         /* sent again once after a kept-alive connection died */
    /* this request's inter-token latencies go here (its part of the run's array) */
    double *itl;
    size_t cap_itl;
} lg_stream;

/* splitmix64: the next number of the generator whose state is *S (the
 * arrival times' and the synthetic prompts' words). */
uint64_t lg_splitmix64(uint64_t *s);

/* Seconds on CLOCK_MONOTONIC. */
double lg_now(void);

/* A slot for CFG (borrowed: must outlive the slot).  false with MSG (of
 * CAP bytes) when libcurl or memory fail.  lg_stream_free releases it. */
bool lg_stream_init(lg_stream *s, const lg_config *cfg, char *msg, size_t cap);
void lg_stream_free(lg_stream *s);
/* Prepares the slot for request INDEX with BODY (borrowed until it ends),
 * recording its inter-token latencies into ITL[0..CAP). */
void lg_stream_begin(lg_stream *s, size_t index, const char *body, double *itl, size_t cap);
/* Whether a request that ended with RESULT died on a reused connection
 * the server had already closed (llama-server closes a connection after a
 * few requests) before anything came back: it is then sent again, once,
 * on a new connection, since the server never saw it. */
bool lg_stream_retryable(lg_stream *s, CURLcode result);
/* Classifies the finished transfer (libcurl's RESULT) into s->rec. */
void lg_stream_end(lg_stream *s, CURLcode result);

/* One run of a level. */
typedef struct lg_run {
    lg_record *recs;      /* one per request, in request order */
    size_t n_recs;
    double *itl;          /* request i's inter-token latencies (ms) from itl + i * per_request */
    size_t per_request;
    double wall_s;        /* first request's start to last request's end */
    double cpu_s;         /* this process's user + system CPU time meanwhile */
} lg_run;

/* Allocates a run for N requests of at most MAX_TOKENS tokens each; free
 * with lg_run_free. */
bool lg_run_init(lg_run *r, size_t n, int max_tokens);
void lg_run_free(lg_run *r);

/* The requests' slots and libcurl's multi handle, kept for a whole sweep
 * so that the connections a level opened serve the next one (as a real
 * client's pool does): no level pays for connecting but the first. */
typedef struct lg_driver {
    const lg_config *cfg;
    CURLM *multi;
    lg_stream *slots;
    lg_stream **free_slots;
    size_t n_slots;
} lg_driver;

/* N_SLOTS slots for CFG (borrowed).  false with MSG on failure (then
 * lg_driver_free is still safe). */
bool lg_driver_init(lg_driver *d, const lg_config *cfg, size_t n_slots, char *msg, size_t cap);
void lg_driver_free(lg_driver *d);

/* Runs N requests (BODIES[i % N_BODIES]): with RATE > 0 they arrive as a
 * Poisson process of RATE per second (SEED picks the arrival times) using
 * every slot, else CONCURRENCY (<= the slots) are kept in flight.  Fills
 * RUN.  false with MSG only when the driver itself fails (libcurl,
 * memory); failed requests are records, not failures. */
bool lg_drive(lg_driver *d, const char *const *bodies, size_t n_bodies, size_t n, int concurrency, double rate,
              uint64_t seed, lg_run *run, char *msg, size_t cap);

/* ---- workload ---- */

typedef struct lg_workload {
    char **bodies;        /* request bodies (JSON), owned */
    size_t n;
    int prompt_tokens;    /* requested per prompt (synthetic), or 0 (data set) */
    bool tokenized;       /* the size came from the server's /tokenize */
    double tokens_per_word;
} lg_workload;

/* N synthetic bodies with prompts of about PROMPT_TOKENS tokens each
 * (different prompts, so that no server can reuse one's cache for
 * another), SEED-determined.  false with MSG on failure. */
bool lg_workload_synthetic(lg_workload *w, const lg_config *cfg, int prompt_tokens, size_t n, uint64_t seed,
                           char *msg, size_t cap);
/* Bodies from a JSONL file: each line {"prompt": "..."} or {"messages":
 * [...]} (at most N lines used; 0: all). */
bool lg_workload_dataset(lg_workload *w, const lg_config *cfg, const char *path, size_t n, char *msg, size_t cap);
void lg_workload_free(lg_workload *w);

/* The base URL's model list's first id into OUT (CAP bytes); false when
 * there is none (OUT untouched). */
bool lg_fetch_model(const lg_config *cfg, char *out, size_t cap);

/* ---- the sweep ---- */

/* The workload should hold levels x reps x requests + warmup bodies:
 * level L's repetition R sends bodies from (L * reps + R) * requests on
 * (wrapping around a shorter data set), the warm-up the last ones. */
typedef struct lg_sweep {
    const lg_config *cfg;
    const lg_workload *work;
    const char *model_name;         /* for the report */
    int levels[DESK_BENCH_MAX_SWEEP]; size_t n_levels; /* concurrencies */
    double rate;                    /* > 0: one open-loop level instead */
    int max_in_flight;              /* open loop */
    int requests;                   /* per repetition */
    int reps;
    int warmup;                     /* requests before the first level, not measured */
    double slo_ttft_ms, slo_itl_ms; /* 0: none */
    uint64_t seed;
    void (*progress)(void *user, const char *what);
    void *progress_user;
} lg_sweep;

/* Runs every level REPS times, appending one result per level to REPORT.
 * false with MSG when the driver fails. */
bool lg_sweep_run(const lg_sweep *s, desk_bench_report *report, char *msg, size_t cap);

#endif
