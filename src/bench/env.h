/*
 * env.h - what a benchmark report records about the machine, and the
 * machine-level measurements bench makes: memory bandwidth (a multi-
 * threaded streaming read), energy (Linux powercap/RAPL counters) and
 * peak resident memory.
 *
 * Ownership: all structs are caller-owned plain data.
 */
#ifndef DESK_BENCH_ENV_H
#define DESK_BENCH_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk.h"

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

/* Energy counters: the sum of the package domains'
 * /sys/class/powercap/intel-rapl:N/energy_uj, with each domain's wrap range.
 * desk_rapl_open returns false when none is readable. */
typedef struct desk_rapl {
    int n;
    char path[8][96];
    uint64_t max_uj[8];
    uint64_t start[8];
} desk_rapl;
bool desk_rapl_open(desk_rapl *r);
void desk_rapl_start(desk_rapl *r);
/* Joules since desk_rapl_start (one wrap per domain accounted for). */
double desk_rapl_joules(const desk_rapl *r);

/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t desk_peak_rss(void);
/* Restarts the peak at the current RSS (Linux /proc/self/clear_refs "5"), so
 * that a model's peak excludes the bandwidth buffer and earlier models.
 * Returns false where the kernel does not allow it (the peak then keeps
 * counting from the start of the process). */
bool desk_peak_rss_reset(void);

/* Monotonic seconds. */
double desk_now(void);

#endif
