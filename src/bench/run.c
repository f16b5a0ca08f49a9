/*
 * run.c - the benchmark sweep (see run.h).
 *
 * Token ids are drawn from a fixed-seed generator over the vocabulary, as
 * llama-bench does: the speed of a forward pass does not depend on which
 * tokens it sees, and fixed ids make runs repeatable.  Buffers are sized
 * once per configuration, so the timed loops allocate nothing.
 */
#include "bench/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/env.h"
#include "core/error.h"

typedef struct sweep {
    const desk_bench_backend *b;
    const desk_bench_params *p;
    desk_bench_report *rep;
    size_t done, total;
    int32_t *ids;   /* max(depth) + max(prompt, gen) ids */
    double *itl;    /* reps * max(gen) latencies */
} sweep;

static void fill_ids(int32_t *ids, size_t n, int32_t n_vocab) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ids[i] = (int32_t)(s % (uint64_t)(n_vocab > 0 ? n_vocab : 1));
    }
}

static void progress(sweep *s, const char *fmt, const char *model, const char *test, int threads, int rep) {
    if (!s->p->progress) return;
    char what[512];
    snprintf(what, sizeof what, fmt, model, test, threads, rep, s->p->reps);
    s->p->progress(s->p->progress_user, s->done, s->total, what);
}

/* Decodes N ids starting at ID in batches of at most n_batch. */
static desk_status decode_batched(sweep *s, void *ctx, const int32_t *ids, int n, desk_err *err) {
    int nb = s->p->n_batch > 0 ? s->p->n_batch : 512;
    for (int i = 0; i < n; i += nb) {
        desk_status st = s->b->decode(s->b->user, ctx, ids + i, n - i < nb ? n - i : nb, err);
        if (st) return st;
    }
    return DESK_OK;
}

/* One configuration: warm-up, then reps timed runs of a pp (N_PROMPT > 0)
 * or tg (N_GEN > 0) test after DEPTH cached tokens. */
static desk_status run_one(sweep *s, void *model, void *ctx, int n_ctx, const char *name, int depth, int n_prompt,
                           int n_gen, int threads, double load_ms, desk_err *err) {
    desk_bench_result *r = desk_bench_report_add(s->rep);
    if (!r) return desk_errf(err, DESK_E_RANGE, "more than %d results", DESK_BENCH_MAX_RESULTS);
    snprintf(r->model, sizeof r->model, "%s", name);
    int w = n_prompt > 0 ? snprintf(r->test, sizeof r->test, "pp%d", n_prompt)
                         : snprintf(r->test, sizeof r->test, "tg%d", n_gen);
    if (depth > 0 && w > 0) snprintf(r->test + w, sizeof r->test - (size_t)w, "@d%d", depth);
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->depth = depth;
    r->threads = threads;
    r->load_ms = load_ms;
    r->weight_bytes = s->b->weight_bytes(s->b->user, model);
    snprintf(r->cache_k, sizeof r->cache_k, "%s", s->p->cache_k ? s->p->cache_k : "f16");
    snprintf(r->cache_v, sizeof r->cache_v, "%s", s->p->cache_v ? s->p->cache_v : "f16");
    r->deterministic = s->p->deterministic;
    if (s->b->kv_bytes) {
        r->kv_bytes = s->b->kv_bytes(s->b->user, ctx);
        r->kv_ctx = n_ctx;
    }
    const int32_t *work = s->ids + depth;
    desk_status st = DESK_OK;
    desk_rapl rapl;
    bool energy = desk_rapl_open(&rapl);
    double joules = 0, ttft = 0;
    size_t n_itl = 0;
    /* The depth's tokens are decoded once; each repetition truncates back. */
    s->b->truncate(s->b->user, ctx, 0);
    if (depth > 0 && (st = decode_batched(s, ctx, s->ids, depth, err))) goto fail;
    for (int rep = -1; rep < s->p->reps; rep++) { /* rep -1 is the warm-up */
        progress(s, rep < 0 ? "%s %s t%d warm-up" : "%s %s t%d rep %d/%d", name, r->test, threads, rep + 1);
        s->b->truncate(s->b->user, ctx, depth);
        if (energy) desk_rapl_start(&rapl);
        double t0 = desk_now();
        if (n_prompt > 0) {
            if ((st = decode_batched(s, ctx, work, n_prompt, err))) goto fail;
        } else {
            double prev = t0;
            for (int i = 0; i < n_gen; i++) {
                if ((st = s->b->decode(s->b->user, ctx, work + i, 1, err))) goto fail;
                double now = desk_now();
                if (rep >= 0) s->itl[n_itl++] = (now - prev) * 1e3;
                prev = now;
            }
        }
        double dt = desk_now() - t0;
        if (rep < 0) continue;
        r->samples[rep] = (n_prompt > 0 ? n_prompt : n_gen) / (dt > 0 ? dt : 1e-9);
        if (n_prompt > 0) ttft += dt * 1e3;
        if (energy) joules += desk_rapl_joules(&rapl);
        s->done++;
    }
    r->reps = s->p->reps;
    desk_bench_result_finish(r);
    if (n_prompt > 0) r->ttft_ms = ttft / s->p->reps;
    if (n_itl && (st = desk_bench_result_set_itl(s->rep, r, s->itl, n_itl, err))) return st;
    if (n_gen > 0 && s->rep->env.bandwidth_gbps > 0)
        r->roofline = r->tokens_per_s * (double)r->weight_bytes / (s->rep->env.bandwidth_gbps * 1e9);
    if (energy) {
        r->joules = joules / s->p->reps;
        r->joules_per_token = r->joules / (n_prompt > 0 ? n_prompt : n_gen);
    }
    r->peak_rss = desk_peak_rss();
    return DESK_OK;
fail:
    s->rep->n_results--; /* drop the half-filled result */
    return desk_err_prefix(err, "%s %s", name, r->test);
}

static int max_of(const int *v, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static desk_status check_list(const char *what, const int *v, size_t n, int lo, int hi, desk_err *err) {
    if (n == 0 || n > DESK_BENCH_MAX_SWEEP) return desk_errf(err, DESK_E_ARG, "%s: 1 to %d values", what, DESK_BENCH_MAX_SWEEP);
    for (size_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi) return desk_errf(err, DESK_E_RANGE, "%s: %d is out of range [%d, %d]", what, v[i], lo, hi);
    return DESK_OK;
}

desk_status desk_bench_run(const desk_bench_backend *b, const desk_bench_params *p, desk_bench_report *report,
                           desk_err *err) {
    desk_status st;
    if ((st = check_list("-p", p->prompt, p->n_prompt, 0, 1 << 20, err)) ||
        (st = check_list("-n", p->gen, p->n_gen, 0, 1 << 20, err)) ||
        (st = check_list("-d", p->depth, p->n_depth, 0, 1 << 24, err)) ||
        (st = check_list("-t", p->threads, p->n_threads, 1, 1024, err)))
        return st;
    if (p->reps < 1 || p->reps > DESK_BENCH_MAX_REPS)
        return desk_errf(err, DESK_E_RANGE, "-r: %d is out of range [1, %d]", p->reps, DESK_BENCH_MAX_REPS);
    if (p->n_models == 0 || p->n_models > DESK_BENCH_MAX_MODELS)
        return desk_errf(err, DESK_E_ARG, "1 to %d models", DESK_BENCH_MAX_MODELS);
    int max_depth = max_of(p->depth, p->n_depth), max_p = max_of(p->prompt, p->n_prompt), max_g = max_of(p->gen, p->n_gen);
    int max_work = max_p > max_g ? max_p : max_g;
    if (max_work == 0) return desk_errf(err, DESK_E_ARG, "nothing to measure: every -p and -n is 0");
    size_t per_model = 0;
    for (size_t i = 0; i < p->n_prompt; i++) per_model += p->prompt[i] > 0;
    for (size_t i = 0; i < p->n_gen; i++) per_model += p->gen[i] > 0;
    sweep s = {.b = b, .p = p, .rep = report,
               .total = p->n_models * p->n_threads * p->n_depth * per_model * (size_t)p->reps};
    s.ids = malloc(((size_t)max_depth + (size_t)max_work) * sizeof *s.ids);
    s.itl = malloc(((size_t)p->reps * (size_t)(max_g > 0 ? max_g : 1)) * sizeof *s.itl);
    if (!s.ids || !s.itl) {
        free(s.ids);
        free(s.itl);
        return desk_errf(err, DESK_E_NOMEM, "cannot allocate %d token ids", max_depth + max_work);
    }
    int n_ctx = max_depth + max_work;
    int n_batch = p->n_batch > 0 ? p->n_batch : 512;
    for (size_t mi = 0; mi < p->n_models && st == DESK_OK; mi++) {
        if (p->hash_models && (st = desk_env_add_model(&report->env, p->names[mi], p->paths[mi], err))) break;
        if (p->progress) p->progress(p->progress_user, s.done, s.total, p->names[mi]);
        void *model = NULL;
        desk_peak_rss_reset();
        double t0 = desk_now();
        if ((st = b->load(b->user, p->paths[mi], &model, err))) break;
        double load_ms = (desk_now() - t0) * 1e3;
        fill_ids(s.ids, (size_t)n_ctx, b->n_vocab(b->user, model));
        for (size_t ti = 0; ti < p->n_threads && st == DESK_OK; ti++) {
            void *ctx = NULL;
            if ((st = b->ctx_new(b->user, model, n_ctx, n_batch, p->threads[ti], &ctx, err))) break;
            for (size_t di = 0; di < p->n_depth && st == DESK_OK; di++) {
                for (size_t k = 0; k < p->n_prompt && st == DESK_OK; k++)
                    if (p->prompt[k] > 0)
                        st = run_one(&s, model, ctx, n_ctx, p->names[mi], p->depth[di], p->prompt[k], 0,
                                     p->threads[ti], load_ms, err);
                for (size_t k = 0; k < p->n_gen && st == DESK_OK; k++)
                    if (p->gen[k] > 0)
                        st = run_one(&s, model, ctx, n_ctx, p->names[mi], p->depth[di], 0, p->gen[k],
                                     p->threads[ti], load_ms, err);
            }
            b->ctx_free(b->user, ctx);
        }
        b->unload(b->user, model);
    }
    free(s.ids);
    free(s.itl);
    return st;
}
