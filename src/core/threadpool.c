/*
 * threadpool.c - persistent workers for the kernels (see threadpool.h).
 *
 * A job is NTH slices (the ith of the task).  The caller publishes it by
 * storing one 64-bit word, generation << 32 | next slice, and then every
 * thread, the caller included, claims slices from that word with a
 * compare-and-swap until none is left.  The caller waits only for the
 * slices to finish, never for a worker to wake up: when another process
 * holds a worker's core (a shared machine), the caller runs that slice
 * itself instead of waiting a scheduler tick for it.  A slice is run
 * exactly once, so the task's per-ith scratch stays private.
 *
 * Waiting is spin first (back-to-back jobs of a forward pass come within
 * microseconds), then a futex on the generation (workers) or on the
 * finished count (caller); a sleeper count lets the publisher skip the
 * wake-up system call when nobody sleeps.  Nothing is allocated per job.
 */
#define _GNU_SOURCE
#include "core/threadpool.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "core/error.h"

/* Pause iterations before sleeping: tens of microseconds, longer than the
 * gaps between the jobs of one forward pass. */
#define SPIN_ITERS 20000

struct desk_threadpool {
    int n;
    pthread_t *threads;
    _Atomic uint64_t state;        /* generation << 32 | next unclaimed slice */
    atomic_uint wake;              /* the generation, as a futex word */
    atomic_uint done;              /* slices of the current job finished */
    atomic_int sleepers;           /* workers in (or entering) a futex wait */
    atomic_int caller_sleeps;      /* the caller waits on done in the kernel */
    _Atomic(desk_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_bool stop;
    uint32_t gen;                  /* the caller's count of published jobs */
#if !defined(__linux__)
    pthread_mutex_t mu;            /* the futex stand-in elsewhere */
    pthread_cond_t cv;
#endif
};

typedef struct worker_arg {
    desk_threadpool *tp;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Sleeps while *ADDR == VAL (spurious returns are fine: callers loop). */
static void wait_on(desk_threadpool *tp, atomic_uint *addr, unsigned val) {
#if defined(__linux__)
    (void)tp;
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    pthread_mutex_lock(&tp->mu);
    if (atomic_load(addr) == val) pthread_cond_wait(&tp->cv, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
#endif
}

static void wake_all(desk_threadpool *tp, atomic_uint *addr) {
#if defined(__linux__)
    (void)tp;
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)addr;
    pthread_mutex_lock(&tp->mu);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
#endif
}

/* Claims and runs slices of job GEN until none is left.  A successful
 * claim proves the job was still current when FN and CTX were read: the
 * next job is published only after every slice of this one finished. */
static void run_slices(desk_threadpool *tp, uint32_t gen) {
    uint64_t s = atomic_load_explicit(&tp->state, memory_order_acquire);
    while ((uint32_t)(s >> 32) == gen && (int)(uint32_t)s < tp->n) {
        desk_task_fn fn = atomic_load_explicit(&tp->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&tp->ctx, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&tp->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(ctx, (int)(uint32_t)s, tp->n);
        /* seq_cst pairs with the caller's caller_sleeps store then done load. */
        if (atomic_fetch_add(&tp->done, 1) + 1 == (unsigned)tp->n && atomic_load(&tp->caller_sleeps))
            wake_all(tp, &tp->done);
        s = atomic_load_explicit(&tp->state, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    desk_threadpool *tp = wa->tp;
    free(wa);
    unsigned seen = 0; /* generation 0 is "no job yet" */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->wake, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_relaxed)) {
            if (spins < SPIN_ITERS) {
                cpu_relax();
                spins++;
                continue;
            }
            /* seq_cst: either the publisher sees this sleeper or this
             * thread sees the new generation (futex checks it again). */
            atomic_fetch_add(&tp->sleepers, 1);
            if (atomic_load(&tp->wake) == seen && !atomic_load(&tp->stop)) wait_on(tp, &tp->wake, seen);
            atomic_fetch_sub(&tp->sleepers, 1);
        }
        if (atomic_load(&tp->stop)) return NULL;
        seen = g;
        run_slices(tp, g);
    }
}

desk_status desk_threadpool_new(int n_threads, desk_threadpool **out, desk_err *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return desk_errf(err, DESK_E_ARG, "thread count %d is out of range [1, 1024]", n_threads);
    desk_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return desk_errf(err, DESK_E_NOMEM, "out of memory creating the thread pool");
    tp->n = n_threads;
    atomic_init(&tp->state, (uint64_t)n_threads); /* generation 0: nothing to claim */
    atomic_init(&tp->wake, 0);
    atomic_init(&tp->done, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->caller_sleeps, 0);
    atomic_init(&tp->fn, NULL);
    atomic_init(&tp->ctx, NULL);
    atomic_init(&tp->stop, false);
#if !defined(__linux__)
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
#endif
    tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
    if (!tp->threads) {
        free(tp);
        return desk_errf(err, DESK_E_NOMEM, "out of memory creating the thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){tp};
        if (!wa || pthread_create(&tp->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            tp->n = i; /* join only the ones that started */
            desk_threadpool_free(tp);
            return desk_errf(err, DESK_E_NOMEM, "cannot start worker thread %d", i);
        }
    }
    *out = tp;
    return DESK_OK;
}

void desk_threadpool_free(desk_threadpool *tp) {
    if (!tp) return;
    atomic_store(&tp->stop, true);
    atomic_fetch_add(&tp->wake, 1); /* a sleeper's futex value changes: it cannot miss the stop */
    wake_all(tp, &tp->wake);
    for (int i = 1; i < tp->n; i++) pthread_join(tp->threads[i], NULL);
#if !defined(__linux__)
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
#endif
    free(tp->threads);
    free(tp);
}

int desk_threadpool_size(const desk_threadpool *tp) { return tp ? tp->n : 1; }

void desk_threadpool_run(desk_threadpool *tp, desk_task_fn fn, void *ctx) {
    if (!tp || tp->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    /* 0 is reserved for "no job yet" (a new worker's starting point). */
    if (++tp->gen == 0) tp->gen = 1;
    const uint32_t g = tp->gen;
    atomic_store_explicit(&tp->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&tp->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    atomic_store_explicit(&tp->state, (uint64_t)g << 32, memory_order_release);
    atomic_store(&tp->wake, g);
    if (atomic_load(&tp->sleepers) > 0) wake_all(tp, &tp->wake);
    run_slices(tp, g);
    int spins = 0;
    for (;;) {
        const unsigned d = atomic_load_explicit(&tp->done, memory_order_acquire);
        if (d == (unsigned)tp->n) break;
        if (spins < SPIN_ITERS) {
            cpu_relax();
            spins++;
            continue;
        }
        atomic_store(&tp->caller_sleeps, 1);
        if (atomic_load(&tp->done) != (unsigned)tp->n) wait_on(tp, &tp->done, d);
        atomic_store(&tp->caller_sleeps, 0);
    }
}

int desk_physical_cores(void) {
    /* Count distinct (package, core) pairs; fall back to online CPUs. */
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cpu < 1) n_cpu = 1;
    int seen[1024][2];
    int n_seen = 0;
    for (long c = 0; c < n_cpu && c < 1024; c++) {
        char path[128];
        int ids[2] = {-1, -1};
        const char *names[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", c, names[k]);
            FILE *f = fopen(path, "r");
            if (!f) return (int)n_cpu;
            if (fscanf(f, "%d", &ids[k]) != 1) ids[k] = -1;
            fclose(f);
        }
        int dup = 0;
        for (int i = 0; i < n_seen; i++)
            if (seen[i][0] == ids[0] && seen[i][1] == ids[1]) dup = 1;
        if (!dup) {
            seen[n_seen][0] = ids[0];
            seen[n_seen][1] = ids[1];
            n_seen++;
        }
    }
    return n_seen > 0 ? n_seen : (int)n_cpu;
}
