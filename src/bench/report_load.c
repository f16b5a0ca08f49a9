/*
 * report_load.c - the parts of a benchmark report that belong to load
 * tests of a server (`desk bench --url`): the "load" member of a result in
 * JSON (written and read back, so `desk bench compare` and `desk bench
 * show` work on these reports too), and the CSV and Markdown tables, whose
 * columns differ from an in-process report's (requests/s, TTFT, ITL, E2E,
 * goodput, errors, the client's CPU time).  The HTML page is in
 * report_html.c.
 */
#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "bench/report.h"

static const char *const ERR_NAMES[DESK_LOAD_ERR_N] = {"connect", "http_429", "http_503", "http_other",
                                                        "malformed", "closed", "timeout", "other"};

const char *desk_load_error_name(int kind) {
    return kind >= 0 && kind < DESK_LOAD_ERR_N ? ERR_NAMES[kind] : "?";
}

bool desk_report_is_load(const desk_bench_report *r) {
    for (size_t i = 0; i < r->n_results; i++)
        if (r->results[i].load.on) return true;
    return r->env.target[0] != 0;
}

uint64_t desk_load_errors(const desk_bench_load *l) {
    uint64_t n = 0;
    for (int k = 0; k < DESK_LOAD_ERR_N; k++) n += l->errors[k];
    return n;
}

static json_object *num(double v) { return isfinite(v) ? json_object_new_double(v) : NULL; }

static json_object *pct_json(const desk_bench_pct *p) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "p50", num(p->p50));
    json_object_object_add(o, "p90", num(p->p90));
    json_object_object_add(o, "p99", num(p->p99));
    json_object_object_add(o, "p50_sd", num(p->p50_sd));
    json_object_object_add(o, "p90_sd", num(p->p90_sd));
    json_object_object_add(o, "p99_sd", num(p->p99_sd));
    return o;
}

json_object *desk_load_json(const desk_bench_load *l) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "concurrency", json_object_new_int(l->concurrency));
    json_object_object_add(o, "rate", num(l->rate));
    json_object_object_add(o, "requests", json_object_new_int(l->requests));
    json_object_object_add(o, "requests_per_s", num(l->req_per_s));
    json_object_object_add(o, "requests_per_s_sd", num(l->req_per_s_sd));
    json_object_object_add(o, "ttft_ms", pct_json(&l->ttft));
    json_object_object_add(o, "itl_ms", pct_json(&l->itl));
    json_object_object_add(o, "e2e_ms", pct_json(&l->e2e));
    json_object_object_add(o, "prompt_tokens", num(l->prompt_tokens));
    json_object_object_add(o, "completion_tokens", num(l->completion_tokens));
    json_object_object_add(o, "token_counts", json_object_new_string(l->usage ? "usage" : "chunks"));
    json_object_object_add(o, "slo_ttft_ms", num(l->slo_ttft_ms));
    json_object_object_add(o, "slo_itl_ms", num(l->slo_itl_ms));
    json_object_object_add(o, "goodput", num(l->goodput));
    json_object_object_add(o, "goodput_sd", num(l->goodput_sd));
    json_object_object_add(o, "ok", json_object_new_int64((int64_t)l->ok));
    json_object *e = json_object_new_object();
    for (int k = 0; k < DESK_LOAD_ERR_N; k++) json_object_object_add(e, ERR_NAMES[k], json_object_new_int64((int64_t)l->errors[k]));
    json_object_object_add(o, "errors", e);
    if (l->first_error[0]) json_object_object_add(o, "first_error", json_object_new_string(l->first_error));
    json_object_object_add(o, "client_cpu_s", num(l->client_cpu_s));
    json_object_object_add(o, "wall_s", num(l->wall_s));
    json_object_object_add(o, "client_cpu_share", num(l->wall_s > 0 ? l->client_cpu_s / l->wall_s : 0));
    return o;
}

/* A finite number member; absent or not a number leaves *OUT alone. */
static void get_num(json_object *o, const char *k, double *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) return;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) return;
    double x = json_object_get_double(v);
    if (isfinite(x)) *out = x;
}

static bool get_count(json_object *o, const char *k, uint64_t *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) return true;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) return false;
    *out = (uint64_t)json_object_get_int64(v);
    return true;
}

static void read_pct(json_object *o, const char *k, desk_bench_pct *p) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_object)) return;
    get_num(v, "p50", &p->p50);
    get_num(v, "p90", &p->p90);
    get_num(v, "p99", &p->p99);
    get_num(v, "p50_sd", &p->p50_sd);
    get_num(v, "p90_sd", &p->p90_sd);
    get_num(v, "p99_sd", &p->p99_sd);
}

bool desk_load_read(json_object *o, desk_bench_load *l) {
    memset(l, 0, sizeof *l);
    l->on = true;
    double c = 0, req = 0;
    get_num(o, "concurrency", &c);
    get_num(o, "requests", &req);
    if (!(c >= 0 && c <= 1 << 20) || !(req >= 0 && req <= 1e9)) return false;
    l->concurrency = (int)c;
    l->requests = (int)req;
    get_num(o, "rate", &l->rate);
    get_num(o, "requests_per_s", &l->req_per_s);
    get_num(o, "requests_per_s_sd", &l->req_per_s_sd);
    read_pct(o, "ttft_ms", &l->ttft);
    read_pct(o, "itl_ms", &l->itl);
    read_pct(o, "e2e_ms", &l->e2e);
    get_num(o, "prompt_tokens", &l->prompt_tokens);
    get_num(o, "completion_tokens", &l->completion_tokens);
    json_object *v = NULL;
    l->usage = json_object_object_get_ex(o, "token_counts", &v) && json_object_is_type(v, json_type_string) &&
               strcmp(json_object_get_string(v), "usage") == 0;
    get_num(o, "slo_ttft_ms", &l->slo_ttft_ms);
    get_num(o, "slo_itl_ms", &l->slo_itl_ms);
    get_num(o, "goodput", &l->goodput);
    get_num(o, "goodput_sd", &l->goodput_sd);
    get_num(o, "client_cpu_s", &l->client_cpu_s);
    get_num(o, "wall_s", &l->wall_s);
    if (!get_count(o, "ok", &l->ok)) return false;
    if (json_object_object_get_ex(o, "first_error", &v) && json_object_is_type(v, json_type_string))
        snprintf(l->first_error, sizeof l->first_error, "%s", json_object_get_string(v));
    json_object *e = NULL;
    if (json_object_object_get_ex(o, "errors", &e) && json_object_is_type(e, json_type_object))
        for (int k = 0; k < DESK_LOAD_ERR_N; k++)
            if (!get_count(e, ERR_NAMES[k], &l->errors[k])) return false;
    return true;
}

/* ---- CSV and Markdown ------------------------------------------------- */

static void csv_pct(FILE *f, const desk_bench_pct *p) {
    fprintf(f, ",%.3f,%.3f,%.3f,%.3f,%.3f,%.3f", p->p50, p->p90, p->p99, p->p50_sd, p->p90_sd, p->p99_sd);
}

void desk_load_write_csv(const desk_bench_report *r, FILE *f) {
    fputs("target,model,test,concurrency,rate,requests,reps,requests_per_s,requests_per_s_sd,output_tokens_per_s,"
          "output_tokens_per_s_sd,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,ttft_p50_sd,ttft_p90_sd,ttft_p99_sd,"
          "itl_p50_ms,itl_p90_ms,itl_p99_ms,itl_p50_sd,itl_p90_sd,itl_p99_sd,"
          "e2e_p50_ms,e2e_p90_ms,e2e_p99_ms,e2e_p50_sd,e2e_p90_sd,e2e_p99_sd,"
          "prompt_tokens,completion_tokens,token_counts,slo_ttft_ms,slo_itl_ms,goodput,goodput_sd,ok", f);
    for (int k = 0; k < DESK_LOAD_ERR_N; k++) fprintf(f, ",errors_%s", ERR_NAMES[k]);
    fputs(",client_cpu_s,wall_s,cpu,git,date\n", f);
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        const desk_bench_load *l = &x->load;
        if (!l->on) continue;
        desk_csv_str(f, r->env.target);
        fputc(',', f);
        desk_csv_str(f, x->model);
        fprintf(f, ",%s,%d,%g,%d,%d,%.4f,%.4f,%.4f,%.4f", x->test, l->concurrency, l->rate, l->requests, x->reps,
                l->req_per_s, l->req_per_s_sd, x->tokens_per_s, x->sd);
        csv_pct(f, &l->ttft);
        csv_pct(f, &l->itl);
        csv_pct(f, &l->e2e);
        fprintf(f, ",%.2f,%.2f,%s,%g,%g,%.4f,%.4f,%llu", l->prompt_tokens, l->completion_tokens,
                l->usage ? "usage" : "chunks", l->slo_ttft_ms, l->slo_itl_ms, l->goodput, l->goodput_sd,
                (unsigned long long)l->ok);
        for (int k = 0; k < DESK_LOAD_ERR_N; k++) fprintf(f, ",%llu", (unsigned long long)l->errors[k]);
        fprintf(f, ",%.4f,%.4f,", l->client_cpu_s, l->wall_s);
        desk_csv_str(f, r->env.cpu);
        fputc(',', f);
        desk_csv_str(f, r->env.git);
        fprintf(f, ",%s\n", r->env.date);
    }
}

void desk_load_write_md(const desk_bench_report *r, FILE *f) {
    const desk_env *e = &r->env;
    bool slo = false;
    for (size_t i = 0; i < r->n_results; i++)
        if (r->results[i].load.slo_ttft_ms > 0 || r->results[i].load.slo_itl_ms > 0) slo = true;
    fprintf(f, "| level | req/s | output tok/s | TTFT p50/p90/p99 ms | ITL p50/p90/p99 ms | E2E p50/p90/p99 ms |%s"
               " errors | client CPU |\n", slo ? " goodput |" : "");
    fprintf(f, "|---|--:|--:|--:|--:|--:|%s--:|--:|\n", slo ? "--:|" : "");
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        const desk_bench_load *l = &x->load;
        if (!l->on) continue;
        fprintf(f, "| %s | %.2f ± %.2f | %.1f ± %.1f | %.1f / %.1f / %.1f | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f |",
                x->test, l->req_per_s, l->req_per_s_sd, x->tokens_per_s, x->sd, l->ttft.p50, l->ttft.p90, l->ttft.p99,
                l->itl.p50, l->itl.p90, l->itl.p99, l->e2e.p50, l->e2e.p90, l->e2e.p99);
        if (slo) fprintf(f, " %.0f%% |", l->goodput * 100);
        uint64_t n_err = desk_load_errors(l);
        if (!n_err) fputs(" 0 |", f);
        for (int k = 0, first = 1; k < DESK_LOAD_ERR_N; k++) {
            if (!l->errors[k]) continue;
            fprintf(f, "%s%s %llu", first ? " " : ", ", ERR_NAMES[k], (unsigned long long)l->errors[k]);
            first = 0;
        }
        if (n_err) fputs(" |", f);
        fprintf(f, " %.2f s (%.1f%%) |\n", l->client_cpu_s, l->wall_s > 0 ? 100 * l->client_cpu_s / l->wall_s : 0.0);
    }
    const desk_bench_result *first = NULL;
    for (size_t i = 0; i < r->n_results && !first; i++)
        if (r->results[i].load.on) first = &r->results[i];
    fprintf(f, "\n%s, model %s", e->target, first ? first->model : "?");
    if (first)
        fprintf(f, ", %d prompt tokens (requested), %.1f prompt / %.1f completion tokens per request (%s), %d "
                   "repetitions of %d requests per level",
                first->n_prompt, first->load.prompt_tokens, first->load.completion_tokens,
                first->load.usage ? "server's usage" : "counted chunks", first->reps, first->load.requests);
    if (slo && first)
        fprintf(f, "; goodput: share of requests with TTFT <= %g ms and mean ITL <= %g ms", first->load.slo_ttft_ms,
                first->load.slo_itl_ms);
    for (size_t i = 0; i < r->n_results; i++)
        if (r->results[i].load.first_error[0])
            fprintf(f, ".\n%s: the first failed request: %s", r->results[i].test, r->results[i].load.first_error);
    fprintf(f, ".\nClient: %s (%s), %d CPUs, %.1f GB RAM, %s; desk %s (%s); %s\n", e->cpu, e->isa, e->n_cpus,
            (double)e->mem_total / 1e9, e->kernel, e->version, e->git, e->date);
}
