/*
 * test_alloc_fail.c - allocation-failure injection (SQLite style) into the
 * loading paths: for every N, the Nth allocation fails, and the call must
 * return DESK_E_NOMEM (or DESK_OK where the code legitimately works
 * around the failure, which is then checked to give the same results as a
 * load without failures), free everything it took, and not crash.
 *
 * Phases: (a) desk_gguf_open of both models and a vocabulary file;
 * (b) desk_tokenizer_load from every shared vocabulary GGUF (as
 * tests/test_tokenizer.c loads them) and from both models' files;
 * (c) desk_model_load with default parameters (weights placed by the
 * load's thread pool) of both models, and desk_ctx_new with default
 * parameters and with 4 threads.  Each sweep runs N = 1, 2, ... until an
 * iteration injects nothing (that one must succeed), in two modes:
 * one-shot (only the Nth call fails) and persistent (the Nth and every
 * later call fail, so error paths that allocate fail too).
 *
 * How: this program is linked with -Wl,--wrap=... (CMakeLists.txt) for
 * malloc, calloc, realloc, free, strdup, strndup, posix_memalign,
 * aligned_alloc, mmap, munmap and pthread_create, so every call to them
 * from libdesk.a's objects (and this program's) reaches the __wrap_*
 * functions below.  They count allocation calls while a sweep is armed and
 * fail the chosen one: NULL with errno ENOMEM (MAP_FAILED for mmap,
 * EAGAIN for pthread_create, a thread's stack being its allocation).
 * While tracking, each pointer they hand out is kept in a table until it
 * is freed (or unmapped); after every iteration the table must be empty,
 * which proves no leak without waiting for LeakSanitizer (which still
 * checks the whole run at exit in the sanitized build).
 *
 * Not covered: --wrap renames only references in the objects linked
 * statically, so allocations made inside shared libraries (pcre2's
 * compiled patterns and JIT, json-c, libcrypto, libc internals such as
 * fopen's buffer or a thread's stack) are neither counted nor failed.
 * The sweeps also count allocations made on threads other than the
 * test's own (the load's placement workers): they allocate nothing, so no
 * failure can arise inside a worker; a failure to create one is injected
 * through pthread_create and must be survived (the load then places the
 * weights on the calling thread).
 *
 * Run time: every N is tried (no stride).  DESK_ALLOC_QUICK=1 sweeps only
 * the small cases (smollm2 and the GPT-2 / llama-spm vocabularies).
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

#include "gguf/gguf.h"
#include "model/model.h"
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

static atomic_bool g_armed;      /* count allocation calls, fail the chosen one */
static atomic_bool g_tracking;   /* record what is handed out until it is freed */
static atomic_long g_calls;      /* allocation calls since arming */
static atomic_long g_fail_at;    /* the call to fail (1-based); 0: none */
static atomic_bool g_persist;    /* fail every call after it too */
static atomic_long g_injected;   /* failures injected since arming */
static atomic_long g_other_thread; /* allocation calls from threads other than the test's */
static atomic_long g_foreign_frees; /* frees while tracking of pointers not handed out while tracking */
static pthread_t g_main;

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

/* Counts one allocation call; true when it is to fail. */
static bool inject(void) {
    if (!atomic_load(&g_armed)) return false;
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

static sweep_result sweep(const op *o, bool persist) {
    sweep_result r = {0};
    for (long n = 1;; n++) {
        track_clear();
        atomic_store(&g_calls, 0);
        atomic_store(&g_injected, 0);
        atomic_store(&g_foreign_frees, 0);
        atomic_store(&g_fail_at, n);
        atomic_store(&g_persist, persist);
        atomic_store(&g_tracking, true);
        void *obj = NULL;
        desk_err err = {0};
        atomic_store(&g_armed, true);
        const desk_status st = o->run(o->arg, &obj, &err);
        atomic_store(&g_armed, false);
        const long injected = atomic_load(&g_injected), calls = atomic_load(&g_calls);
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
                     persist ? "persistent" : "one-shot", g_live, desk_status_str(st), err.msg);
        }
        if (atomic_load(&g_foreign_frees) != 0)
            fail_msg("%s N=%ld: %ld free(s) of memory not allocated in the call", o->label, n,
                     atomic_load(&g_foreign_frees));
        r.other_thread += atomic_load(&g_other_thread);
        atomic_store(&g_other_thread, 0);
        if (injected == 0) {
            if (st != DESK_OK)
                fail_msg("%s: with no failure injected (N=%ld, %ld calls) it returned %s: %s", o->label, n,
                         calls, desk_status_str(st), err.msg);
            r.iterations = n;
            r.calls = calls;
            return r;
        }
        if (st == DESK_OK) {
            r.recovered++;
        } else if (st != DESK_E_NOMEM || err.status != DESK_E_NOMEM || err.msg[0] == '\0') {
            fail_msg("%s N=%ld (%s): allocation failure gave %s (err.status %s): '%s'", o->label, n,
                     persist ? "persistent" : "one-shot", desk_status_str(st), desk_status_str(err.status),
                     err.msg);
        }
    }
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
    const double t0 = now_s();
    const sweep_result a = sweep(o, false), b = sweep(o, true);
    /* A persistent sweep fails from the same call on: it ends after as many. */
    assert_int_equal(a.calls, b.calls);
    print_message("%-34s %5ld allocation calls; one-shot %5ld iterations (%ld survived), persistent %5ld "
                  "(%ld survived); %ld calls on worker threads; %.1f s\n",
                  o->label, a.calls, a.iterations, a.recovered, b.iterations, b.recovered,
                  a.other_thread + b.other_thread, now_s() - t0);
    assert_true(a.calls > 0);
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

#define PROBE_N 3
static const desk_token PROBE[PROBE_N] = {1, 42, 7};

/* Logits of the last PROBE token through a fresh context of C (made if C is
 * NULL) into OUT (n_vocab floats). */
static void probe_logits(desk_model *m, desk_ctx *c, float *out) {
    desk_err err = {0};
    desk_ctx *own = NULL;
    if (!c) {
        const desk_ctx_params p = {.n_ctx = 16, .n_threads = 2};
        if (desk_ctx_new(m, &p, &own, &err) != DESK_OK) fail_msg("ctx: %s", err.msg);
        c = own;
    }
    desk_ctx_truncate(c, 0);
    if (desk_decode(c, PROBE, PROBE_N, &err) != DESK_OK) fail_msg("decode: %s", err.msg);
    const float *l = desk_ctx_logits(c, -1);
    assert_non_null(l);
    memcpy(out, l, sizeof(float) * (size_t)desk_model_n_vocab(m));
    desk_ctx_free(own);
}

typedef struct model_case {
    const char *path;
    desk_model *m;          /* ctx sweeps: the model */
    desk_ctx_params cp;     /* ctx sweeps: the parameters */
    uint64_t weight_bytes, repacked_bytes;
    int32_t n_vocab;
    float *logits;          /* the reference's PROBE logits */
} model_case;

static void same_logits(const model_case *c, desk_model *m, desk_ctx *ctx) {
    const int32_t nv = desk_model_n_vocab(m);
    float *l = malloc(sizeof(float) * (size_t)nv);
    assert_non_null(l);
    probe_logits(m, ctx, l);
    assert_memory_equal(l, c->logits, sizeof(float) * (size_t)nv);
    free(l);
}

static desk_status model_run(void *arg, void **obj, desk_err *err) {
    const model_case *c = arg;
    desk_model *m = NULL;
    desk_status st = desk_model_load(c->path, NULL, &m, err);
    *obj = m;
    return st;
}

static void model_check(void *arg, void *obj) {
    const model_case *c = arg;
    desk_model *m = obj;
    assert_int_equal(desk_model_n_vocab(m), c->n_vocab);
    assert_int_equal(desk_model_weight_bytes(m), c->weight_bytes);
    assert_int_equal(desk_model_repacked_bytes(m), c->repacked_bytes);
    same_logits(c, m, NULL);
}

static void model_release(void *obj) { desk_model_free(obj); }

static desk_status ctx_run(void *arg, void **obj, desk_err *err) {
    const model_case *c = arg;
    desk_ctx *ctx = NULL;
    desk_status st = desk_ctx_new(c->m, &c->cp, &ctx, err);
    *obj = ctx;
    return st;
}

static void ctx_check(void *arg, void *obj) {
    const model_case *c = arg;
    same_logits(c, c->m, obj);
}

static void ctx_release(void *obj) { desk_ctx_free(obj); }

static void sweep_model(const char *name, bool with_ctx) {
    char label[96];
    model_case c = {.path = tu_model_path(name)};
    desk_err err = {0};
    desk_model *m = NULL;
    if (desk_model_load(c.path, NULL, &m, &err) != DESK_OK) fail_msg("%s: %s", c.path, err.msg);
    c.weight_bytes = desk_model_weight_bytes(m);
    c.repacked_bytes = desk_model_repacked_bytes(m);
    c.n_vocab = desk_model_n_vocab(m);
    c.logits = malloc(sizeof(float) * (size_t)c.n_vocab);
    assert_non_null(c.logits);
    probe_logits(m, NULL, c.logits);

    snprintf(label, sizeof label, "model_load %s", name);
    const op lo = {label, model_run, model_check, model_release, &c};
    sweep_both(&lo);

    if (with_ctx) {
        c.m = m;
        c.cp = (desk_ctx_params){0};
        snprintf(label, sizeof label, "ctx_new %s (defaults)", name);
        const op co = {label, ctx_run, ctx_check, ctx_release, &c};
        sweep_both(&co);
        c.cp = (desk_ctx_params){.n_ctx = 64, .n_threads = 4};
        snprintf(label, sizeof label, "ctx_new %s (4 threads)", name);
        const op co4 = {label, ctx_run, ctx_check, ctx_release, &c};
        sweep_both(&co4);
    }
    desk_model_free(m);
    free(c.logits);
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
