/*
 * test_alloc_fail.c - allocation-failure injection (SQLite style) into the
 * loading paths: for every N, the Nth allocation fails, and the call must
 * return DESK_E_NOMEM with a message (or DESK_OK where the code
 * legitimately works around the failure: the result is then checked
 * against one made without failures), free everything it took, and not
 * crash.
 *
 * Phases: (a) desk_gguf_open of both models and a vocabulary file;
 * (b) desk_tokenizer_load from every shared vocabulary GGUF (opened as
 * tests/test_tokenizer.c opens them) and from both models' files;
 * (c) desk_model_load with default parameters (weights placed by the
 * load's thread pool) of both models, and desk_ctx_new with default
 * parameters and with 4 threads.
 *
 * Two levels of injection:
 *  - system: this program is linked with -Wl,--wrap=... (CMakeLists.txt)
 *    for malloc, calloc, realloc, free, strdup, strndup, posix_memalign,
 *    aligned_alloc, mmap, munmap and pthread_create, so every call to them
 *    from libdesk.a's objects (and this program's) reaches the __wrap_*
 *    functions below.  They count allocation calls while a sweep is armed
 *    and fail the chosen one: NULL and ENOMEM (MAP_FAILED for mmap, EAGAIN
 *    for pthread_create: a thread's stack is its allocation).  N runs
 *    1, 2, ... until an iteration injects nothing (that one must succeed):
 *    every N, no stride.
 *  - arena: desk_arena_alloc and desk_arena_strndup are wrapped the same
 *    way (most of a load's memory is carved from arena chunks, which the
 *    system sees once per chunk).  A load makes 10^5 of these calls (one
 *    per token string), so the calls to fail are chosen by call site (the
 *    caller's address, from a counting run): every call of a site with at
 *    most 16 calls, and the first 16 and the last of a larger site.  No
 *    arena failure may be survived: nothing works around one.
 * Each runs one-shot (only the Nth call fails) and persistent (every call
 * from the Nth on fails, so allocating error paths fail too); then both
 * one-shot sweeps run again with a NULL desk_err, where the returned
 * status alone must be DESK_E_NOMEM.
 *
 * Leaks: while tracking, each pointer the system-level wrappers hand out
 * is kept in a table until it is freed (or unmapped); after every
 * iteration the table must be empty.  That proves no leak without waiting
 * for LeakSanitizer, which still checks the whole run at exit in the
 * sanitized build.
 *
 * Not covered: --wrap renames only references in the objects linked
 * statically, so allocations made inside shared libraries (pcre2's
 * compiled patterns and JIT, json-c, libcrypto, libc internals such as
 * fopen's buffer or a thread's stack) are neither counted nor failed.
 * Threads: the sweeps count allocation calls made on threads other than
 * the test's (the load's weight-placing workers); there are none, so no
 * failure can arise inside a worker.  A failure to create one (the pool's
 * calloc, a worker's argument, pthread_create) is injected and survived:
 * the load then places the weights on the calling thread, and the test
 * checks the placed weights equal the reference's byte for byte.
 *
 * DESK_ALLOC_QUICK=1 sweeps only the small cases (smollm2, and the GPT-2
 * and llama-spm vocabularies).
 */
#define _GNU_SOURCE
#include "util/testutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/arena.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

/* ---- the wrappers ------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_posix_memalign(void **out, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* The library's arena (core/arena.h), wrapped too: see arena_sites. */
void *__real_desk_arena_alloc(desk_arena *a, size_t size, size_t align);
char *__real_desk_arena_strndup(desk_arena *a, const char *s, size_t n);
void *__wrap_desk_arena_alloc(desk_arena *a, size_t size, size_t align);
char *__wrap_desk_arena_strndup(desk_arena *a, const char *s, size_t n);

/* What a sweep counts and fails: the system's allocation calls, or the
 * library's arena allocations (where most of a load's memory is carved
 * from chunks the system calls rarely allocate). */
typedef enum level { LEVEL_SYSTEM, LEVEL_ARENA } level;

static atomic_int g_level;
static atomic_bool g_armed;      /* count allocation calls, fail the chosen one */
static atomic_bool g_tracking;   /* record what is handed out until it is freed */
static atomic_long g_calls;      /* allocation calls since arming */
static atomic_long g_fail_at;    /* the call to fail (1-based); 0: none */
static atomic_bool g_persist;    /* fail every call after it too */
static atomic_long g_injected;   /* failures injected since arming */
static atomic_long g_other_thread; /* allocation calls from threads other than the test's */
static atomic_long g_foreign_frees; /* frees while tracking of pointers not handed out while tracking */
static pthread_t g_main;
static bool g_null_err; /* the operations get a NULL desk_err */

/* Live pointers handed out while tracking: open addressing, 0 empty, 1 a
 * tombstone.  Cleared before every iteration. */
#define SET_CAP ((size_t)1 << 16)
typedef struct live_slot {
    uintptr_t p;
    size_t size;
    void *caller;
} live_slot;
static live_slot g_set[SET_CAP];
static size_t g_set_used; /* slots ever filled since the clear (tombstones too) */
static long g_live;
static bool g_set_full;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 48) & (SET_CAP - 1); }

static void track_add(void *p, size_t size, void *caller) {
    if (!p || !atomic_load(&g_tracking)) return;
    pthread_mutex_lock(&g_mu);
    if (g_set_used >= SET_CAP / 4 * 3) {
        g_set_full = true;
    } else {
        size_t i = slot_of((uintptr_t)p);
        while (g_set[i].p > 1) i = (i + 1) & (SET_CAP - 1);
        if (g_set[i].p == 0) g_set_used++;
        g_set[i] = (live_slot){(uintptr_t)p, size, caller};
        g_live++;
    }
    pthread_mutex_unlock(&g_mu);
}

/* Removes P; false if it was not there. */
static bool track_remove(void *p) {
    bool found = false;
    pthread_mutex_lock(&g_mu);
    for (size_t i = slot_of((uintptr_t)p); g_set[i].p != 0; i = (i + 1) & (SET_CAP - 1)) {
        if (g_set[i].p == (uintptr_t)p) {
            g_set[i].p = 1;
            g_live--;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return found;
}

static void track_forget(void *p) {
    if (p && !track_remove(p) && atomic_load(&g_tracking)) atomic_fetch_add(&g_foreign_frees, 1);
}

static void track_clear(void) {
    pthread_mutex_lock(&g_mu);
    memset(g_set, 0, sizeof g_set);
    g_set_used = 0;
    g_live = 0;
    g_set_full = false;
    pthread_mutex_unlock(&g_mu);
}

/* Arena calls of a counting run at the arena level, by call site. */
#define MAX_SITES 128
#define SITE_ALL 16 /* a site with at most this many calls has each failed */
typedef struct site {
    void *caller;
    long count;
    long first[SITE_ALL]; /* the call numbers of its first calls */
    long last;
} site;
static site g_sites[MAX_SITES];
static int g_n_sites;
static bool g_recording, g_sites_full;

static void record_site(long n, void *caller) {
    int i = 0;
    while (i < g_n_sites && g_sites[i].caller != caller) i++;
    if (i == g_n_sites) {
        if (i == MAX_SITES) {
            g_sites_full = true;
            return;
        }
        g_sites[g_n_sites++] = (site){.caller = caller};
    }
    site *s = &g_sites[i];
    if (s->count < SITE_ALL) s->first[s->count] = n;
    s->count++;
    s->last = n;
}

/* Counts one allocation call of level LV; true when it is to fail. */
static bool inject_at(level lv, void *caller) {
    if (!atomic_load(&g_armed) || atomic_load(&g_level) != (int)lv) return false;
    if (!pthread_equal(pthread_self(), g_main)) atomic_fetch_add(&g_other_thread, 1);
    const long n = atomic_fetch_add(&g_calls, 1) + 1, at = atomic_load(&g_fail_at);
    if (g_recording && pthread_equal(pthread_self(), g_main)) record_site(n, caller);
    if (at <= 0 || n < at || (n > at && !atomic_load(&g_persist))) return false;
    atomic_fetch_add(&g_injected, 1);
    return true;
}

void *__wrap_desk_arena_alloc(desk_arena *a, size_t size, size_t align) {
    if (inject_at(LEVEL_ARENA, __builtin_return_address(0))) return NULL;
    return __real_desk_arena_alloc(a, size, align);
}

char *__wrap_desk_arena_strndup(desk_arena *a, const char *s, size_t n) {
    if (inject_at(LEVEL_ARENA, __builtin_return_address(0))) return NULL;
    return __real_desk_arena_strndup(a, s, n);
}

/* Counts one system allocation call; true when it is to fail. */
static bool inject(void) {
    if (!atomic_load(&g_armed) || atomic_load(&g_level) != LEVEL_SYSTEM) return false;
    if (!pthread_equal(pthread_self(), g_main)) atomic_fetch_add(&g_other_thread, 1);
    const long n = atomic_fetch_add(&g_calls, 1) + 1, at = atomic_load(&g_fail_at);
    if (at <= 0 || n < at || (n > at && !atomic_load(&g_persist))) return false;
    atomic_fetch_add(&g_injected, 1);
    return true;
}

void *__wrap_malloc(size_t n) {
    if (inject()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(n);
    track_add(p, n, __builtin_return_address(0));
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    if (inject()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(n, size);
    track_add(p, n * size, __builtin_return_address(0));
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    if (inject()) {
        errno = ENOMEM;
        return NULL; /* P stays allocated, as a failed realloc leaves it */
    }
    void *q = __real_realloc(p, n);
    if (q && p) track_forget(p);
    track_add(q, n, __builtin_return_address(0));
    return q;
}

void __wrap_free(void *p) {
    track_forget(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s) {
    if (inject()) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = __real_strdup(s);
    track_add(p, p ? strlen(p) + 1 : 0, __builtin_return_address(0));
    return p;
}

char *__wrap_strndup(const char *s, size_t n) {
    if (inject()) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = __real_strndup(s, n);
    track_add(p, p ? strlen(p) + 1 : 0, __builtin_return_address(0));
    return p;
}

int __wrap_posix_memalign(void **out, size_t align, size_t n) {
    if (inject()) return ENOMEM;
    int r = __real_posix_memalign(out, align, n);
    if (r == 0) track_add(*out, n, __builtin_return_address(0));
    return r;
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
    if (inject()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_aligned_alloc(align, n);
    track_add(p, n, __builtin_return_address(0));
    return p;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (inject()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) track_add(p, len, __builtin_return_address(0));
    return p;
}

int __wrap_munmap(void *addr, size_t len) {
    track_forget(addr);
    return __real_munmap(addr, len);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    if (inject()) return EAGAIN;
    return __real_pthread_create(t, attr, fn, arg);
}

/* ---- the sweep --------------------------------------------------------- */

/* One operation under test.  RUN (armed) makes the object; CHECK (not
 * armed) compares a successful result with the case's reference; FREE
 * releases it (still tracked). */
typedef struct op {
    const char *label;
    desk_status (*run)(void *arg, void **obj, desk_err *err);
    void (*check)(void *arg, void *obj);
    void (*release)(void *obj);
    void *arg;
} op;

typedef struct sweep_result {
    long iterations; /* N = 1 .. the first one that injected nothing */
    long calls;      /* allocation calls of a load without failures */
    long recovered;  /* iterations with a failure injected that still returned DESK_OK */
    long other_thread; /* allocation calls seen on other threads, over the sweep */
} sweep_result;

static void report_leaks(const char *label, long n) {
    pthread_mutex_lock(&g_mu);
    long shown = 0;
    for (size_t i = 0; i < SET_CAP && shown < 8; i++)
        if (g_set[i].p > 1) {
            print_message("  %s N=%ld: leaked %zu bytes at %p, allocated from %p\n", label, n, g_set[i].size,
                          (void *)g_set[i].p, g_set[i].caller);
            shown++;
        }
    pthread_mutex_unlock(&g_mu);
}

static const char *mode_name(level lv, bool persist) {
    if (g_null_err) return lv == LEVEL_ARENA ? "arena, one-shot, err NULL" : "one-shot, err NULL";
    return lv == LEVEL_ARENA ? (persist ? "arena, persistent" : "arena, one-shot")
                             : (persist ? "persistent" : "one-shot");
}

/* Runs O once with call N of level LV failing (and every later one when
 * PERSIST; N = 0: none), and checks what it left.  Returns the status;
 * *INJECTED and *CALLS get the failures injected and the calls counted. */
static desk_status iteration(const op *o, level lv, long n, bool persist, long *injected, long *calls,
                             long *other_thread) {
    track_clear();
    atomic_store(&g_calls, 0);
    atomic_store(&g_injected, 0);
    atomic_store(&g_foreign_frees, 0);
    atomic_store(&g_other_thread, 0);
    atomic_store(&g_fail_at, n);
    atomic_store(&g_persist, persist);
    atomic_store(&g_level, (int)lv);
    atomic_store(&g_tracking, true);
    void *obj = NULL;
    desk_err err = {0};
    atomic_store(&g_armed, true);
    const desk_status st = o->run(o->arg, &obj, g_null_err ? NULL : &err);
    if (g_null_err) err = (desk_err){st, "(no desk_err given)"};
    atomic_store(&g_armed, false);
    *injected = atomic_load(&g_injected);
    *calls = atomic_load(&g_calls);
    *other_thread += atomic_load(&g_other_thread);
    if (st == DESK_OK) {
        if (!obj) fail_msg("%s N=%ld: DESK_OK without an object", o->label, n);
        o->check(o->arg, obj);
        o->release(obj);
    } else if (obj) {
        fail_msg("%s N=%ld: %s returned with an object", o->label, n, desk_status_str(st));
    }
    atomic_store(&g_tracking, false);
    if (g_set_full) fail_msg("%s N=%ld: the live-pointer table overflowed", o->label, n);
    if (g_live != 0) {
        report_leaks(o->label, n);
        fail_msg("%s N=%ld (%s): %ld allocation(s) leaked (status %s: %s)", o->label, n,
                 mode_name(lv, persist), g_live, desk_status_str(st), err.msg);
    }
    if (atomic_load(&g_foreign_frees) != 0)
        fail_msg("%s N=%ld: %ld free(s) of memory not allocated in the call", o->label, n,
                 atomic_load(&g_foreign_frees));
    if (*injected == 0 && st != DESK_OK)
        fail_msg("%s (%s): with no failure injected (N=%ld, %ld calls) it returned %s: %s", o->label,
                 mode_name(lv, persist), n, *calls, desk_status_str(st), err.msg);
    if (*injected != 0 && st != DESK_OK &&
        (st != DESK_E_NOMEM || err.status != DESK_E_NOMEM || err.msg[0] == '\0'))
        fail_msg("%s N=%ld (%s): allocation failure gave %s (err.status %s): '%s'", o->label, n,
                 mode_name(lv, persist), desk_status_str(st), desk_status_str(err.status), err.msg);
    return st;
}

/* System level: N = 1, 2, ... until an iteration injects nothing. */
static sweep_result sweep(const op *o, bool persist) {
    sweep_result r = {0};
    for (long n = 1;; n++) {
        long injected, calls;
        const desk_status st = iteration(o, LEVEL_SYSTEM, n, persist, &injected, &calls, &r.other_thread);
        if (injected == 0) {
            r.iterations = n;
            r.calls = calls;
            return r;
        }
        if (st == DESK_OK) r.recovered++;
    }
}

static int cmp_long(const void *a, const void *b) {
    const long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Arena level: a counting run records each arena call's site; the calls to
 * fail are every call of a site with at most SITE_ALL calls, and of a
 * larger site (one per token string, say) its first SITE_ALL and its last.
 * Returns them (malloc'd, ascending; *K of them); *CALLS and *N_SITES
 * get the calls and sites counted. */
static long *arena_plan(const op *o, size_t *k, long *calls, long *n_sites) {
    long injected, other = 0;
    g_n_sites = 0;
    g_sites_full = false;
    g_recording = true;
    iteration(o, LEVEL_ARENA, 0, false, &injected, calls, &other);
    g_recording = false;
    if (g_sites_full) fail_msg("%s: more than %d arena call sites", o->label, MAX_SITES);
    long *ns = malloc(sizeof(long) * (size_t)(g_n_sites * (SITE_ALL + 1) + 1));
    assert_non_null(ns);
    *k = 0;
    for (int i = 0; i < g_n_sites; i++) {
        const site *st = &g_sites[i];
        for (long j = 0; j < st->count && j < SITE_ALL; j++) ns[(*k)++] = st->first[j];
        if (st->count > SITE_ALL) ns[(*k)++] = st->last;
    }
    qsort(ns, *k, sizeof *ns, cmp_long);
    *n_sites = g_n_sites;
    return ns;
}

/* Fails arena call NS[i] for each i. */
static sweep_result sweep_arena(const op *o, const long *ns, size_t k, long calls, bool persist) {
    sweep_result r = {.calls = calls};
    for (size_t i = 0; i < k; i++) {
        long injected, got;
        const desk_status st = iteration(o, LEVEL_ARENA, ns[i], persist, &injected, &got, &r.other_thread);
        if (injected == 0) fail_msg("%s: arena call %ld of %ld was not reached", o->label, ns[i], calls);
        /* Nothing works around a failed arena allocation: surviving one
         * means its result went unchecked. */
        if (st == DESK_OK)
            fail_msg("%s N=%ld (%s): an arena allocation failed and the call still succeeded", o->label,
                     ns[i], mode_name(LEVEL_ARENA, persist));
        r.iterations++;
    }
    return r;
}

static bool quick(void) {
    const char *q = getenv("DESK_ALLOC_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sweep_both(const op *o) {
    double t0 = now_s();
    const sweep_result a = sweep(o, false), b = sweep(o, true);
    /* A persistent sweep fails from the same call on: it ends after as many. */
    assert_int_equal(a.calls, b.calls);
    assert_true(a.calls > 0);
    print_message("%-30s system: %4ld calls; one-shot %4ld iterations (%ld survived), persistent %4ld "
                  "(%ld survived); %ld calls on other threads; %.1f s\n",
                  o->label, a.calls, a.iterations, a.recovered, b.iterations, b.recovered,
                  a.other_thread + b.other_thread, now_s() - t0);
    t0 = now_s();
    size_t k;
    long calls, n_sites;
    long *ns = arena_plan(o, &k, &calls, &n_sites);
    const sweep_result c = sweep_arena(o, ns, k, calls, false), d = sweep_arena(o, ns, k, calls, true);
    print_message("%-30s arena:  %4ld calls from %ld sites; one-shot %4ld iterations, persistent %4ld; %.1f s\n",
                  o->label, c.calls, n_sites, c.iterations, d.iterations, now_s() - t0);
    /* The same with no desk_err to fill: the status alone must say NOMEM. */
    t0 = now_s();
    g_null_err = true;
    const sweep_result e = sweep(o, false), f = sweep_arena(o, ns, k, calls, false);
    g_null_err = false;
    free(ns);
    print_message("%-30s err NULL: one-shot system %4ld iterations (%ld survived), arena %4ld; %.1f s\n", o->label,
                  e.iterations, e.recovered, f.iterations, now_s() - t0);
}

/* ---- (a) desk_gguf_open ------------------------------------------------ */

typedef struct gguf_case {
    char *path;
    int64_t n_kv, n_tensors;
    uint64_t data_offset;
} gguf_case;

static desk_status gguf_run(void *arg, void **obj, desk_err *err) {
    const gguf_case *c = arg;
    desk_gguf *g = NULL;
    desk_status st = desk_gguf_open(c->path, &g, err);
    *obj = g;
    return st;
}

static void gguf_check(void *arg, void *obj) {
    const gguf_case *c = arg;
    const desk_gguf *g = obj;
    assert_int_equal(desk_gguf_n_kv(g), c->n_kv);
    assert_int_equal(desk_gguf_n_tensors(g), c->n_tensors);
    assert_int_equal(desk_gguf_data_offset(g), c->data_offset);
    const desk_gguf_kv *last = desk_gguf_kv_at(g, c->n_kv - 1);
    assert_non_null(last);
    assert_ptr_equal(desk_gguf_find_kv(g, last->key.s), last);
}

static void gguf_release(void *obj) { desk_gguf_close(obj); }

static void sweep_gguf(const char *label, char *path) {
    gguf_case c = {.path = path};
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open(path, &g, &err) != DESK_OK) fail_msg("%s: %s", path, err.msg);
    c.n_kv = desk_gguf_n_kv(g);
    c.n_tensors = desk_gguf_n_tensors(g);
    c.data_offset = desk_gguf_data_offset(g);
    desk_gguf_close(g);
    const op o = {label, gguf_run, gguf_check, gguf_release, &c};
    sweep_both(&o);
    free(path);
}

static void test_gguf_open(void **state) {
    (void)state;
    sweep_gguf("gguf_open smollm2", tu_model_path("smollm2"));
    sweep_gguf("gguf_open vocab gpt-2", tu_shared_path("vocab/ggml-vocab-gpt-2.gguf"));
    if (!quick()) sweep_gguf("gguf_open gemma3-270m", tu_model_path("gemma3-270m"));
}

/* ---- (b) desk_tokenizer_load ------------------------------------------- */

static const char SAMPLE[] = "Hello world! <|im_start|>user\n  Ünïcödé 12345 <s> tabs\tand 🙂 emoji";

typedef struct tok_case {
    const desk_gguf *g;
    desk_token ids[256];
    size_t n_ids;
    int32_t n_vocab;
} tok_case;

static size_t tokenize(const desk_tokenizer *t, desk_token *ids, size_t cap) {
    desk_err err = {0};
    size_t n = 0;
    if (desk_tokenize(t, SAMPLE, sizeof SAMPLE - 1, DESK_TOK_ADD_SPECIAL | DESK_TOK_PARSE_SPECIAL, ids, cap,
                      &n, &err) != DESK_OK)
        fail_msg("tokenize: %s", err.msg);
    return n;
}

static desk_status tok_run(void *arg, void **obj, desk_err *err) {
    const tok_case *c = arg;
    desk_tokenizer *t = NULL;
    desk_status st = desk_tokenizer_load(c->g, &t, err);
    *obj = t;
    return st;
}

static void tok_check(void *arg, void *obj) {
    const tok_case *c = arg;
    const desk_tokenizer *t = obj;
    desk_token ids[256];
    assert_int_equal(desk_tokenizer_n_vocab(t), c->n_vocab);
    const size_t n = tokenize(t, ids, 256);
    assert_int_equal(n, c->n_ids);
    assert_memory_equal(ids, c->ids, n * sizeof ids[0]);
}

static void tok_release(void *obj) { desk_tokenizer_free(obj); }

static void sweep_tokenizer(const char *label, char *path) {
    static tok_case c;
    memset(&c, 0, sizeof c);
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open(path, &g, &err) != DESK_OK) fail_msg("%s: %s", path, err.msg);
    desk_tokenizer *t = NULL;
    if (desk_tokenizer_load(g, &t, &err) != DESK_OK) fail_msg("%s: %s", path, err.msg);
    c.g = g;
    c.n_vocab = desk_tokenizer_n_vocab(t);
    c.n_ids = tokenize(t, c.ids, 256);
    desk_tokenizer_free(t);
    const op o = {label, tok_run, tok_check, tok_release, &c};
    sweep_both(&o);
    desk_gguf_close(g);
    free(path);
}

static void test_tokenizer_load(void **state) {
    (void)state;
    static const char *const shared[] = {"gpt-2", "llama-spm", "starcoder", "falcon", "phi-3"};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        if (quick() && i >= 2) break;
        char rel[128], label[64];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", shared[i]);
        snprintf(label, sizeof label, "tokenizer_load vocab %s", shared[i]);
        sweep_tokenizer(label, tu_shared_path(rel));
    }
    sweep_tokenizer("tokenizer_load smollm2", tu_model_path("smollm2"));
    if (!quick()) sweep_tokenizer("tokenizer_load gemma3-270m", tu_model_path("gemma3-270m"));
}

/* ---- (c) desk_model_load and desk_ctx_new ------------------------------ */

#define PROBE_N 1
static const desk_token PROBE[PROBE_N] = {42};

/* Logits of the last PROBE token through context C into OUT (n_vocab floats). */
static void probe_logits(desk_model *m, desk_ctx *c, float *out) {
    desk_err err = {0};
    desk_ctx_truncate(c, 0);
    if (desk_decode(c, PROBE, PROBE_N, &err) != DESK_OK) fail_msg("decode: %s", err.msg);
    const float *l = desk_ctx_logits(c, -1);
    assert_non_null(l);
    memcpy(out, l, sizeof(float) * (size_t)desk_model_n_vocab(m));
}

typedef struct model_case {
    const char *path;
    desk_model *ref;        /* loaded without failures */
    desk_ctx_params cp;     /* ctx sweeps: the parameters */
    float *logits;          /* ctx sweeps: the PROBE logits of a context made without failures */
    desk_token ids[256];    /* SAMPLE through the reference's tokenizer */
    size_t n_ids;
} model_case;

static desk_status model_run(void *arg, void **obj, desk_err *err) {
    const model_case *c = arg;
    desk_model *m = NULL;
    desk_status st = desk_model_load(c->path, NULL, &m, err);
    *obj = m;
    return st;
}

/* Offset of W's bytes in M's placement, or -1 (read from the file). */
static ptrdiff_t placed_at(const desk_model *m, const desk_mat *w) {
    const uintptr_t p = (uintptr_t)(w->packed ? w->packed : w->data), base = (uintptr_t)m->packed;
    return base && p >= base && p < base + m->packed_bytes ? (ptrdiff_t)(p - base) : -1;
}

/* A model that survived a failure must equal the reference: the same
 * hyperparameters, tokenizer and weights placed byte for byte (the
 * forward pass reads nothing else), whichever thread placed them. */
static void model_check(void *arg, void *obj) {
    const model_case *c = arg;
    const desk_model *m = obj, *ref = c->ref;
    /* arch points into each model's own mapping: compared as text */
    desk_hparams a = m->hp, b = ref->hp;
    assert_string_equal(a.arch, b.arch);
    a.arch = b.arch = NULL;
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(m->weight_bytes, ref->weight_bytes);
    assert_int_equal(m->packed_bytes, ref->packed_bytes);
    if (m->packed_bytes) assert_true(memcmp(m->packed, ref->packed, m->packed_bytes) == 0);
    if (m->packed_bytes) {
        assert_int_equal(placed_at(m, &m->output), placed_at(ref, &ref->output));
        for (int il = 0; il < m->hp.n_layer; il++)
            for (int k = 0; k < 7; k++)
                assert_int_equal(placed_at(m, &(&m->layers[il].wq)[k]), placed_at(ref, &(&ref->layers[il].wq)[k]));
    }
    desk_token ids[256];
    const size_t n = tokenize(desk_model_tokenizer(m), ids, 256);
    assert_int_equal(n, c->n_ids);
    assert_memory_equal(ids, c->ids, n * sizeof ids[0]);
}

static void model_release(void *obj) { desk_model_free(obj); }

static desk_status ctx_run(void *arg, void **obj, desk_err *err) {
    const model_case *c = arg;
    desk_ctx *ctx = NULL;
    desk_status st = desk_ctx_new(c->ref, &c->cp, &ctx, err);
    *obj = ctx;
    return st;
}

static void ctx_check(void *arg, void *obj) {
    const model_case *c = arg;
    const int32_t nv = desk_model_n_vocab(c->ref);
    float *l = malloc(sizeof(float) * (size_t)nv);
    assert_non_null(l);
    probe_logits(c->ref, obj, l);
    assert_memory_equal(l, c->logits, sizeof(float) * (size_t)nv);
    free(l);
}

static void ctx_release(void *obj) { desk_ctx_free(obj); }

static void sweep_ctx(model_case *c, const char *name, const char *what, desk_ctx_params cp) {
    char label[96];
    desk_err err = {0};
    desk_ctx *ctx = NULL;
    c->cp = cp;
    if (desk_ctx_new(c->ref, &cp, &ctx, &err) != DESK_OK) fail_msg("ctx: %s", err.msg);
    probe_logits(c->ref, ctx, c->logits);
    desk_ctx_free(ctx);
    snprintf(label, sizeof label, "ctx_new %s (%s)", name, what);
    const op o = {label, ctx_run, ctx_check, ctx_release, c};
    sweep_both(&o);
}

static void sweep_model(const char *name, bool with_ctx) {
    char label[96];
    model_case c = {.path = tu_model_path(name)};
    desk_err err = {0};
    if (desk_model_load(c.path, NULL, &c.ref, &err) != DESK_OK) fail_msg("%s: %s", c.path, err.msg);
    c.n_ids = tokenize(desk_model_tokenizer(c.ref), c.ids, 256);
    snprintf(label, sizeof label, "model_load %s", name);
    const op lo = {label, model_run, model_check, model_release, &c};
    sweep_both(&lo);
    if (with_ctx) {
        c.logits = malloc(sizeof(float) * (size_t)desk_model_n_vocab(c.ref));
        assert_non_null(c.logits);
        sweep_ctx(&c, name, "defaults", (desk_ctx_params){0});
        sweep_ctx(&c, name, "4 threads", (desk_ctx_params){.n_ctx = 64, .n_threads = 4});
        free(c.logits);
    }
    desk_model_free(c.ref);
    free((char *)c.path);
}

static void test_model_load(void **state) {
    (void)state;
    sweep_model("smollm2", true);
    if (!quick()) sweep_model("gemma3-270m", false);
}

int main(void) {
    g_main = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_open),
        cmocka_unit_test(test_tokenizer_load),
        cmocka_unit_test(test_model_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
