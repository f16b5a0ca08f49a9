/*
 * sweep.c - every level of a load test, repeated, into report rows (see
 * loadgen.h).
 *
 * Per repetition: requests/s and output tokens/s over its wall time (first
 * start to last end: the aggregate a server delivered), the p50/p90/p99 of
 * TTFT and E2E over its successful requests and of ITL over all their
 * inter-token gaps, and goodput: the share of all its requests (failed
 * ones count as missing the objectives) whose TTFT and mean ITL meet the
 * SLOs.  The row holds the mean of each over the repetitions with its
 * sample sd, so two reports can be compared with Welch's t-test.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

typedef struct rep_figures {
    double req_per_s, tok_per_s, goodput;
    double ttft[3], itl[3], e2e[3];
} rep_figures;

static void pcts(double *x, size_t n, double out[3]) {
    desk_summary s;
    desk_summarize(x, n, &s);
    out[0] = s.p50, out[1] = s.p90, out[2] = s.p99;
}

/* The figures of one run; SCRATCH holds n_recs doubles.  Adds its records
 * to the level's totals in L. */
static void figures(const lg_sweep *sw, lg_run *run, double *scratch, rep_figures *f, desk_bench_load *l,
                    double *prompt_sum, double *completion_sum) {
    memset(f, 0, sizeof *f);
    size_t ok = 0, good = 0;
    double tokens = 0;
    bool usage = true;
    for (size_t i = 0; i < run->n_recs; i++) {
        const lg_record *r = &run->recs[i];
        if (r->error >= 0) {
            if (!desk_load_errors(l)) snprintf(l->first_error, sizeof l->first_error, "%s", r->detail);
            l->errors[r->error]++;
            continue;
        }
        ok++;
        int completion = r->completion_tokens >= 0 ? r->completion_tokens : r->chunks;
        if (r->completion_tokens < 0) usage = false;
        tokens += completion;
        *completion_sum += completion;
        if (r->prompt_tokens >= 0) *prompt_sum += r->prompt_tokens;
        bool meets = (sw->slo_ttft_ms <= 0 || (r->ttft_ms >= 0 && r->ttft_ms <= sw->slo_ttft_ms)) &&
                     (sw->slo_itl_ms <= 0 || r->mean_itl_ms <= sw->slo_itl_ms);
        good += meets;
    }
    l->ok += ok;
    if (ok && !usage) l->usage = false;
    f->req_per_s = run->wall_s > 0 ? (double)ok / run->wall_s : 0;
    f->tok_per_s = run->wall_s > 0 ? tokens / run->wall_s : 0;
    f->goodput = run->n_recs ? (double)good / (double)run->n_recs : 0;
    size_t k = 0;
    for (size_t i = 0; i < run->n_recs; i++)
        if (run->recs[i].error < 0 && run->recs[i].ttft_ms >= 0) scratch[k++] = run->recs[i].ttft_ms;
    pcts(scratch, k, f->ttft);
    k = 0;
    for (size_t i = 0; i < run->n_recs; i++)
        if (run->recs[i].error < 0) scratch[k++] = run->recs[i].e2e_ms;
    pcts(scratch, k, f->e2e);
    /* The successful requests' latencies, packed to the front (the run is
     * done with them). */
    size_t n_itl = 0;
    for (size_t i = 0; i < run->n_recs; i++) {
        if (run->recs[i].error >= 0) continue;
        memmove(run->itl + n_itl, run->itl + i * run->per_request, run->recs[i].n_itl * sizeof *run->itl);
        n_itl += run->recs[i].n_itl;
    }
    pcts(run->itl, n_itl, f->itl);
}

/* Mean and sd over N repetitions of the double at byte OFFSET of each. */
static void over_reps(const rep_figures *f, int n, size_t offset, double *mean, double *sd) {
    double v[DESK_BENCH_MAX_REPS];
    for (int i = 0; i < n; i++) memcpy(&v[i], (const char *)&f[i] + offset, sizeof v[i]);
    desk_summary s;
    desk_summarize(v, (size_t)n, &s);
    *mean = s.mean;
    *sd = s.sd;
}

static void pct_over_reps(const rep_figures *f, int n, size_t offset, desk_bench_pct *p) {
    over_reps(f, n, offset, &p->p50, &p->p50_sd);
    over_reps(f, n, offset + sizeof(double), &p->p90, &p->p90_sd);
    over_reps(f, n, offset + 2 * sizeof(double), &p->p99, &p->p99_sd);
}

static bool one_level(const lg_sweep *sw, lg_driver *d, size_t level, int concurrency, desk_bench_result *res, char *msg, size_t cap) {
    desk_bench_load *l = &res->load;
    l->on = true;
    l->concurrency = sw->rate > 0 ? 0 : concurrency;
    l->rate = sw->rate;
    l->requests = sw->requests;
    l->slo_ttft_ms = sw->slo_ttft_ms;
    l->slo_itl_ms = sw->slo_itl_ms;
    l->usage = true;
    snprintf(res->model, sizeof res->model, "%s", sw->model_name);
    if (sw->rate > 0) snprintf(res->test, sizeof res->test, "rate%g", sw->rate);
    else snprintf(res->test, sizeof res->test, "c%d", concurrency);
    res->threads = sw->rate > 0 ? 1 : concurrency;
    res->n_prompt = sw->work->prompt_tokens;
    res->n_gen = sw->cfg->max_tokens;
    res->reps = sw->reps;
    rep_figures f[DESK_BENCH_MAX_REPS];
    double *scratch = malloc((size_t)(sw->requests > 0 ? sw->requests : 1) * sizeof *scratch);
    if (!scratch) {
        snprintf(msg, cap, "out of memory");
        return false;
    }
    double prompt_sum = 0, completion_sum = 0;
    bool ok = true;
    for (int rep = 0; rep < sw->reps && ok; rep++) {
        if (sw->progress) {
            char what[96];
            snprintf(what, sizeof what, "%s, repetition %d of %d", res->test, rep + 1, sw->reps);
            sw->progress(sw->progress_user, what);
        }
        lg_run run;
        if (!lg_run_init(&run, (size_t)sw->requests, sw->cfg->max_tokens + 8)) {
            snprintf(msg, cap, "out of memory for %d requests", sw->requests);
            ok = false;
            break;
        }
        /* Each repetition of each level sends other prompts, so that no
         * server answers from a prompt cache what it was asked before. */
        size_t first = ((level * (size_t)sw->reps + (size_t)rep) * (size_t)sw->requests) % sw->work->n;
        const char *const *bodies = (const char *const *)sw->work->bodies;
        ok = lg_drive(d, bodies + first, sw->work->n - first, (size_t)sw->requests, concurrency, sw->rate,
                      sw->seed + (uint64_t)rep, &run, msg, cap);
        if (ok) {
            figures(sw, &run, scratch, &f[rep], l, &prompt_sum, &completion_sum);
            res->samples[rep] = f[rep].tok_per_s;
            l->client_cpu_s += run.cpu_s;
            l->wall_s += run.wall_s;
        }
        lg_run_free(&run);
    }
    free(scratch);
    if (!ok) return false;
    desk_bench_result_finish(res);
    over_reps(f, sw->reps, offsetof(rep_figures, req_per_s), &l->req_per_s, &l->req_per_s_sd);
    over_reps(f, sw->reps, offsetof(rep_figures, goodput), &l->goodput, &l->goodput_sd);
    pct_over_reps(f, sw->reps, offsetof(rep_figures, ttft), &l->ttft);
    pct_over_reps(f, sw->reps, offsetof(rep_figures, itl), &l->itl);
    pct_over_reps(f, sw->reps, offsetof(rep_figures, e2e), &l->e2e);
    if (l->ok) {
        l->prompt_tokens = prompt_sum / (double)l->ok;
        l->completion_tokens = completion_sum / (double)l->ok;
    } else {
        l->usage = false;
    }
    res->ttft_ms = l->ttft.p50;
    res->itl_p50_ms = l->itl.p50;
    res->itl_p90_ms = l->itl.p90;
    res->itl_p99_ms = l->itl.p99;
    return true;
}

bool lg_sweep_run(const lg_sweep *sw, desk_bench_report *report, char *msg, size_t cap) {
    int most = sw->max_in_flight;
    if (sw->rate <= 0) {
        most = 1;
        for (size_t i = 0; i < sw->n_levels; i++) most = sw->levels[i] > most ? sw->levels[i] : most;
    }
    lg_driver d;
    bool ok = lg_driver_init(&d, sw->cfg, (size_t)most, msg, cap);
    if (ok && sw->warmup > 0) {
        if (sw->progress) sw->progress(sw->progress_user, "warm-up");
        lg_run run;
        ok = lg_run_init(&run, (size_t)sw->warmup, sw->cfg->max_tokens + 8);
        if (!ok) snprintf(msg, cap, "out of memory");
        /* The warm-up's prompts are the workload's last (see lg_sweep); it
         * runs as wide as the widest level, opening every connection. */
        size_t n = sw->work->n, first = n > (size_t)sw->warmup ? n - (size_t)sw->warmup : 0;
        if (ok)
            ok = lg_drive(&d, (const char *const *)sw->work->bodies + first, n - first, (size_t)sw->warmup, most, 0,
                          sw->seed, &run, msg, cap);
        lg_run_free(&run);
    }
    size_t n_levels = sw->rate > 0 ? 1 : sw->n_levels;
    for (size_t i = 0; ok && i < n_levels; i++) {
        desk_bench_result *res = desk_bench_report_add(report);
        if (!res) {
            snprintf(msg, cap, "the report is full");
            ok = false;
        } else {
            ok = one_level(sw, &d, i, sw->rate > 0 ? 0 : sw->levels[i], res, msg, cap);
        }
    }
    lg_driver_free(&d);
    return ok;
}
