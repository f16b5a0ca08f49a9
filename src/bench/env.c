/*
 * env.c - environment capture, file hashes, bandwidth, RAPL, RSS (see
 * env.h).
 */
#define _GNU_SOURCE /* madvise, MAP_ANONYMOUS */
#include "bench/env.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "plan/plan.h"
#include "desk_git.h" /* generated at build time (cmake/git-stamp.cmake) */
#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "tensor/types.h"

#ifndef DESK_COMPILER
#define DESK_COMPILER "unknown"
#endif
#ifndef DESK_CFLAGS
#define DESK_CFLAGS ""
#endif

double desk_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The flags among /proc/cpuinfo's that desk's kernels (or a reader of the
 * report) care about. */
static const char *const ISA_FLAGS[] = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                        "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
                                        "asimd", "asimddp", "sve", "i8mm"};

static void cpu_info(desk_env *env) {
    snprintf(env->cpu, sizeof env->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    bool got_model = false, got_flags = false;
    while (getline(&line, &cap, f) > 0 && !(got_model && got_flags)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *val = colon + 1;
        while (*val == ' ') val++;
        val[strcspn(val, "\n")] = '\0';
        if (!got_model && (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0)) {
            snprintf(env->cpu, sizeof env->cpu, "%s", val);
            got_model = true;
        } else if (!got_flags && (strncmp(line, "flags", 5) == 0 || strncmp(line, "Features", 8) == 0)) {
            got_flags = true;
            size_t n = 0;
            for (size_t i = 0; i < sizeof ISA_FLAGS / sizeof ISA_FLAGS[0]; i++) {
                size_t fl = strlen(ISA_FLAGS[i]);
                for (const char *p = val; (p = strstr(p, ISA_FLAGS[i])) != NULL; p += fl) {
                    bool start = p == val || p[-1] == ' ', end = p[fl] == ' ' || p[fl] == '\0';
                    if (!start || !end) continue;
                    int w = snprintf(env->isa + n, sizeof env->isa - n, "%s%s", n ? " " : "", ISA_FLAGS[i]);
                    if (w > 0 && (size_t)w < sizeof env->isa - n) n += (size_t)w;
                    break;
                }
            }
        }
    }
    free(line);
    fclose(f);
}

void desk_env_capture(desk_env *env) {
    memset(env, 0, sizeof *env);
    cpu_info(env);
    snprintf(env->kernels_isa, sizeof env->kernels_isa, "%s", desk_kernels_isa());
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    env->n_cpus = n > 0 ? (int)n : 1;
    desk_mem_total(&env->mem_total, NULL);
    struct utsname u;
    if (uname(&u) == 0) snprintf(env->kernel, sizeof env->kernel, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
    snprintf(env->compiler, sizeof env->compiler, "%s", DESK_COMPILER);
    snprintf(env->cflags, sizeof env->cflags, "%s", DESK_CFLAGS);
    snprintf(env->version, sizeof env->version, "%s", DESK_VERSION);
    snprintf(env->git, sizeof env->git, "%s", DESK_GIT);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(env->date, sizeof env->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    desk_rapl r;
    env->rapl = desk_rapl_open(&r);
}

desk_status desk_file_sha256(const char *path, char hex[65], desk_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    desk_status st = DESK_OK;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        st = desk_errf(err, DESK_E_NOMEM, "%s: cannot set up SHA-256", path);
    } else {
        size_t n;
        while ((n = fread(buf, 1, 1 << 20, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
        unsigned char md[32];
        unsigned int len = 0;
        if (ferror(f)) st = desk_errf(err, DESK_E_IO, "%s: read error", path);
        else if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32)
            st = desk_errf(err, DESK_E_INTERNAL, "%s: SHA-256 failed", path);
        else
            for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return st;
}

desk_status desk_env_add_model(desk_env *env, const char *name, const char *path, desk_err *err) {
    if (env->n_models == DESK_BENCH_MAX_MODELS)
        return desk_errf(err, DESK_E_RANGE, "at most %d models in one report", DESK_BENCH_MAX_MODELS);
    desk_env_model *m = &env->models[env->n_models];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->path, sizeof m->path, "%s", path);
    desk_gguf *g = NULL;
    desk_status st = desk_gguf_open(path, &g, err);
    if (st) return st;
    m->file_bytes = desk_gguf_file_size(g);
    const char *arch = NULL;
    if (desk_gguf_get_str(g, "general.architecture", &arch, NULL) == DESK_OK)
        snprintf(m->arch, sizeof m->arch, "%s", arch);
    uint32_t count[DESK_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) count[desk_gguf_tensor_at(g, i)->type]++;
    desk_gguf_close(g);
    size_t n = 0;
    for (int t = 0; t < DESK_TYPE_COUNT; t++) {
        if (!count[t]) continue;
        int w = snprintf(m->types + n, sizeof m->types - n, "%s%s x %u", n ? ", " : "", desk_type_name((uint32_t)t),
                         count[t]);
        if (w > 0 && (size_t)w < sizeof m->types - n) n += (size_t)w;
    }
    st = desk_file_sha256(path, m->sha256, err);
    if (st) return st;
    env->n_models++;
    return DESK_OK;
}

typedef struct bw_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_job;

#define BW_AHEAD 8192 /* bytes, as the kernels' ROW_AHEAD */

/* 16 bytes: SSE2 loads on any x86-64 (and NEON on aarch64) without asking
 * for an instruction set the build does not assume. */
typedef uint64_t bw_vec __attribute__((vector_size(16)));

/* Bytes a probe thread reads as one pair of streams, and the run it reads
 * from one stream before turning to the other (see bw_worker). */
#define BW_CHUNK (9 * 1024 * 1024)
#define BW_RUN 1024

/* Sums the 16-byte vectors of one run of BW_RUN bytes at P into S[0..3],
 * prefetching BW_AHEAD bytes ahead. */
static inline void bw_run(const uint64_t *p, bw_vec *s0, bw_vec *s1, bw_vec *s2, bw_vec *s3) {
    for (size_t k = 0; k < BW_RUN / sizeof(uint64_t); k += 8) {
        __builtin_prefetch(p + k + BW_AHEAD / sizeof(uint64_t), 0, 3);
        bw_vec v[4];
        memcpy(v, p + k, sizeof v);
        *s0 += v[0];
        *s1 += v[1];
        *s2 += v[2];
        *s3 += v[3];
    }
}

static void *bw_worker(void *arg) {
    bw_job *j = arg;
    /* Chunk after chunk, each read as two streams, its halves, a run of
     * each in turn: the decode kernels read a chunk of rows so (kernels.c:
     * dot_chunk), and two streams per core read DRAM a little faster than
     * one.  Independent sums of 16-byte loads keep the loads in flight,
     * with requests a few KiB ahead as the kernels make them (DRAM streams
     * faster so than with the hardware prefetcher alone: the bound must be
     * at least what a kernel reaches).  The result is used so the
     * compiler cannot drop the reads. */
    bw_vec a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const size_t chunk = BW_CHUNK / sizeof(uint64_t), half = chunk / 2, run = BW_RUN / sizeof(uint64_t);
    size_t c = 0;
    for (; c + chunk <= j->n; c += chunk)
        for (size_t i = 0; i < half; i += run) {
            bw_run(j->p + c + i, &a0, &a1, &a2, &a3);
            bw_run(j->p + c + half + i, &b0, &b1, &b2, &b3);
        }
    const bw_vec t = a0 + a1 + a2 + a3 + b0 + b1 + b2 + b3;
    uint64_t sum = t[0] + t[1];
    for (; c < j->n; c++) sum += j->p[c];
    j->sum = sum;
    return NULL;
}

desk_status desk_measure_bandwidth(int n_threads, size_t bytes, int reps, double *gbps, desk_err *err) {
    if (n_threads < 1 || n_threads > 256 || bytes < 4096 || reps < 1)
        return desk_errf(err, DESK_E_ARG, "bandwidth: bad threads %d, bytes %zu or reps %d", n_threads, bytes, reps);
    size_t words = bytes / sizeof(uint64_t);
    /* On transparent huge pages where the system has them, as the model's
     * weights are (model.c: place_weights): 4 KiB pages read slower. */
    uint64_t *buf = mmap(NULL, words * sizeof *buf, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) buf = NULL;
    else (void)madvise(buf, words * sizeof *buf, MADV_HUGEPAGE);
    pthread_t *tid = calloc((size_t)n_threads, sizeof *tid);
    bw_job *jobs = calloc((size_t)n_threads, sizeof *jobs);
    if (!buf || !tid || !jobs) {
        if (buf) munmap(buf, words * sizeof *buf);
        free(tid);
        free(jobs);
        return desk_errf(err, DESK_E_NOMEM, "bandwidth: cannot allocate %zu bytes", bytes);
    }
    for (size_t i = 0; i < words; i++) buf[i] = i; /* touch every page */
    double best = 0;
    uint64_t check = 0;
    desk_status st = DESK_OK;
    for (int r = 0; r <= reps && st == DESK_OK; r++) {
        double t0 = desk_now();
        int started = 0;
        for (int t = 0; t < n_threads; t++) {
            size_t lo = words * (size_t)t / (size_t)n_threads, hi = words * (size_t)(t + 1) / (size_t)n_threads;
            jobs[t] = (bw_job){buf + lo, hi - lo, 0};
            if (pthread_create(&tid[t], NULL, bw_worker, &jobs[t]) != 0) {
                st = desk_errf(err, DESK_E_INTERNAL, "bandwidth: cannot start thread %d", t);
                break;
            }
            started++;
        }
        for (int t = 0; t < started; t++) {
            pthread_join(tid[t], NULL);
            check += jobs[t].sum;
        }
        double dt = desk_now() - t0;
        if (r > 0 && st == DESK_OK && dt > 0 && (double)(words * 8) / dt > best) best = (double)(words * 8) / dt;
    }
    munmap(buf, words * sizeof *buf);
    free(tid);
    free(jobs);
    if (st) return st;
    *gbps = check == 1 ? 0 : best / 1e9; /* `check` keeps the sums alive */
    return DESK_OK;
}

static bool read_u64(const char *path, uint64_t *v) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    unsigned long long x = 0;
    bool ok = fscanf(f, "%llu", &x) == 1;
    fclose(f);
    *v = x;
    return ok;
}

bool desk_rapl_open(desk_rapl *r) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 8 && r->n < 8; i++) {
        char e[96], m[112];
        snprintf(e, sizeof e, "/sys/class/powercap/intel-rapl:%d/energy_uj", i);
        snprintf(m, sizeof m, "/sys/class/powercap/intel-rapl:%d/max_energy_range_uj", i);
        uint64_t v, mx = 0;
        if (!read_u64(e, &v)) continue;
        read_u64(m, &mx);
        snprintf(r->path[r->n], sizeof r->path[0], "%s", e);
        r->max_uj[r->n] = mx;
        r->start[r->n] = v;
        r->n++;
    }
    return r->n > 0;
}

void desk_rapl_start(desk_rapl *r) {
    for (int i = 0; i < r->n; i++) read_u64(r->path[i], &r->start[i]);
}

double desk_rapl_joules(const desk_rapl *r) {
    double j = 0;
    for (int i = 0; i < r->n; i++) {
        uint64_t v = 0;
        if (!read_u64(r->path[i], &v)) continue;
        uint64_t d = v >= r->start[i] ? v - r->start[i] : v + r->max_uj[i] - r->start[i];
        j += (double)d * 1e-6;
    }
    return j;
}

uint64_t desk_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

bool desk_peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}
