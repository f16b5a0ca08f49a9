/*
 * report.c - benchmark reports: results, JSON/CSV/Markdown writers, the
 * JSON reader and comparison (see report.h; HTML is in report_html.c).
 */
#include "bench/report.h"

#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mfile.h"

desk_status desk_bench_report_init(desk_bench_report *r, desk_err *err) {
    memset(r, 0, sizeof *r);
    r->results = calloc(DESK_BENCH_MAX_RESULTS, sizeof *r->results);
    r->arena = malloc(sizeof *r->arena);
    if (!r->results || !r->arena) {
        free(r->results);
        free(r->arena);
        r->results = NULL;
        r->arena = NULL;
        return desk_errf(err, DESK_E_NOMEM, "cannot allocate a report");
    }
    desk_arena_init(r->arena, 1 << 16);
    return DESK_OK;
}

void desk_bench_report_free(desk_bench_report *r) {
    free(r->results);
    if (r->arena) desk_arena_free(r->arena);
    free(r->arena);
    memset(r, 0, sizeof *r);
}

desk_bench_result *desk_bench_report_add(desk_bench_report *r) {
    if (r->n_results == DESK_BENCH_MAX_RESULTS) return NULL;
    desk_bench_result *res = &r->results[r->n_results++];
    memset(res, 0, sizeof *res);
    res->joules = -1;
    res->joules_per_token = -1;
    return res;
}

desk_status desk_bench_result_set_itl(desk_bench_report *r, desk_bench_result *res, const double *ms, size_t n,
                                      desk_err *err) {
    res->itl_ms = NULL;
    res->n_itl = 0;
    if (!n) return DESK_OK;
    double *copy = desk_arena_alloc(r->arena, n * sizeof *copy, 8);
    if (!copy) return desk_errf(err, DESK_E_NOMEM, "cannot store %zu latencies", n);
    memcpy(copy, ms, n * sizeof *copy);
    desk_summary s;
    desk_summarize(copy, n, &s);
    res->itl_ms = copy;
    res->n_itl = n;
    res->itl_p50_ms = s.p50;
    res->itl_p90_ms = s.p90;
    res->itl_p99_ms = s.p99;
    return DESK_OK;
}

void desk_bench_result_finish(desk_bench_result *res) {
    double tmp[DESK_BENCH_MAX_REPS];
    size_t n = res->reps > 0 && res->reps <= DESK_BENCH_MAX_REPS ? (size_t)res->reps : 0;
    memcpy(tmp, res->samples, n * sizeof *tmp);
    desk_summary s;
    desk_summarize(tmp, n, &s);
    res->tokens_per_s = s.mean;
    res->sd = s.sd;
}

/* ---- JSON ------------------------------------------------------------- */

static void jstr(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }
static void jint(json_object *o, const char *k, int64_t v) { json_object_object_add(o, k, json_object_new_int64(v)); }
/* A number, or null for NaN and infinities (which JSON cannot spell). */
static json_object *jnum(double v) { return isfinite(v) ? json_object_new_double(v) : NULL; }
static void jdbl(json_object *o, const char *k, double v) { json_object_object_add(o, k, jnum(v)); }

static json_object *env_json(const desk_env *e) {
    json_object *o = json_object_new_object();
    jstr(o, "cpu", e->cpu);
    jstr(o, "isa", e->isa);
    jstr(o, "kernels_isa", e->kernels_isa);
    jint(o, "cpus", e->n_cpus);
    jint(o, "mem_total", (int64_t)e->mem_total);
    jstr(o, "kernel", e->kernel);
    jstr(o, "compiler", e->compiler);
    jstr(o, "cflags", e->cflags);
    jstr(o, "desk_version", e->version);
    jstr(o, "git", e->git);
    jstr(o, "date", e->date);
    jdbl(o, "bandwidth_gbps", e->bandwidth_gbps);
    jint(o, "bandwidth_threads", e->bandwidth_threads);
    jstr(o, "energy", e->rapl ? "powercap/RAPL" : "not available");
    json_object *ms = json_object_new_array();
    for (size_t i = 0; i < e->n_models; i++) {
        const desk_env_model *m = &e->models[i];
        json_object *mo = json_object_new_object();
        jstr(mo, "name", m->name);
        jstr(mo, "path", m->path);
        jstr(mo, "arch", m->arch);
        jint(mo, "file_bytes", (int64_t)m->file_bytes);
        jstr(mo, "sha256", m->sha256);
        jstr(mo, "tensor_types", m->types);
        json_object_array_add(ms, mo);
    }
    json_object_object_add(o, "models", ms);
    if (e->target[0]) jstr(o, "target", e->target);
    return o;
}

static json_object *result_json(const desk_bench_result *r) {
    json_object *o = json_object_new_object();
    jstr(o, "model", r->model);
    jstr(o, "test", r->test);
    jint(o, "n_prompt", r->n_prompt);
    jint(o, "n_gen", r->n_gen);
    jint(o, "depth", r->depth);
    jint(o, "threads", r->threads);
    jint(o, "reps", r->reps);
    jdbl(o, "tokens_per_s", r->tokens_per_s);
    jdbl(o, "sd", r->sd);
    json_object *s = json_object_new_array();
    for (int i = 0; i < r->reps && i < DESK_BENCH_MAX_REPS; i++) json_object_array_add(s, jnum(r->samples[i]));
    json_object_object_add(o, "samples", s);
    if (r->load.on) {
        /* A server's load test: no model file, cache or energy of ours. */
        jstr(o, "kind", "url");
        json_object_object_add(o, "load", desk_load_json(&r->load));
        return o;
    }
    if (r->n_prompt > 0) jdbl(o, "ttft_ms", r->ttft_ms);
    if (r->n_gen > 0) {
        jdbl(o, "itl_p50_ms", r->itl_p50_ms);
        jdbl(o, "itl_p90_ms", r->itl_p90_ms);
        jdbl(o, "itl_p99_ms", r->itl_p99_ms);
        json_object *l = json_object_new_array();
        for (size_t i = 0; i < r->n_itl; i++) json_object_array_add(l, jnum(r->itl_ms[i]));
        json_object_object_add(o, "itl_ms", l);
        jdbl(o, "roofline", r->roofline);
    }
    jdbl(o, "load_ms", r->load_ms);
    jint(o, "peak_rss", (int64_t)r->peak_rss);
    jint(o, "weight_bytes_per_token", (int64_t)r->weight_bytes);
    jstr(o, "cache_type_k", r->cache_k[0] ? r->cache_k : "f16");
    jstr(o, "cache_type_v", r->cache_v[0] ? r->cache_v : "f16");
    jstr(o, "mode", r->deterministic ? "deterministic" : "default");
    if (r->kv_bytes) {
        jint(o, "kv_bytes", (int64_t)r->kv_bytes);
        jint(o, "kv_ctx", r->kv_ctx);
    }
    if (r->joules >= 0) {
        jdbl(o, "joules", r->joules);
        jdbl(o, "joules_per_token", r->joules_per_token);
    } else {
        jstr(o, "joules", "not available");
    }
    return o;
}

void desk_bench_write_json(const desk_bench_report *r, FILE *f) {
    json_object *root = json_object_new_object(), *res = json_object_new_array();
    json_object_object_add(root, "env", env_json(&r->env));
    for (size_t i = 0; i < r->n_results; i++) json_object_array_add(res, result_json(&r->results[i]));
    json_object_object_add(root, "results", res);
    fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), f);
    fputc('\n', f);
    json_object_put(root);
}

static const char *get_s(json_object *o, const char *k) {
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                          : NULL;
}

static bool get_d(json_object *o, const char *k, double *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) return false;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) return false;
    *out = json_object_get_double(v);
    return true;
}

/* An integer member in [0, HI]; absent leaves *OUT alone.  A report is
 * untrusted input: a value out of range is an error, never a conversion. */
static bool get_u(json_object *o, const char *k, int64_t hi, int64_t *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) return true;
    if (!json_object_is_type(v, json_type_int)) return false;
    int64_t x = json_object_get_int64(v);
    if (x < 0 || x > hi) return false;
    *out = x;
    return true;
}

static void copy_s(char *dst, size_t cap, const char *s) { snprintf(dst, cap, "%s", s ? s : ""); }

static void read_env(json_object *env, desk_env *e) {
    copy_s(e->cpu, sizeof e->cpu, get_s(env, "cpu"));
    copy_s(e->isa, sizeof e->isa, get_s(env, "isa"));
    copy_s(e->kernels_isa, sizeof e->kernels_isa, get_s(env, "kernels_isa"));
    copy_s(e->kernel, sizeof e->kernel, get_s(env, "kernel"));
    copy_s(e->compiler, sizeof e->compiler, get_s(env, "compiler"));
    copy_s(e->cflags, sizeof e->cflags, get_s(env, "cflags"));
    copy_s(e->version, sizeof e->version, get_s(env, "desk_version"));
    copy_s(e->git, sizeof e->git, get_s(env, "git"));
    copy_s(e->date, sizeof e->date, get_s(env, "date"));
    int64_t x = 0;
    if (get_u(env, "cpus", 1 << 20, &x)) e->n_cpus = (int)x;
    x = 0;
    if (get_u(env, "mem_total", INT64_MAX, &x)) e->mem_total = (uint64_t)x;
    x = 0;
    if (get_u(env, "bandwidth_threads", 1 << 20, &x)) e->bandwidth_threads = (int)x;
    get_d(env, "bandwidth_gbps", &e->bandwidth_gbps);
    copy_s(e->target, sizeof e->target, get_s(env, "target"));
    const char *energy = get_s(env, "energy");
    e->rapl = energy && strcmp(energy, "powercap/RAPL") == 0;
    json_object *ms = NULL;
    if (!json_object_object_get_ex(env, "models", &ms) || !json_object_is_type(ms, json_type_array)) return;
    for (size_t i = 0; i < json_object_array_length(ms) && e->n_models < DESK_BENCH_MAX_MODELS; i++) {
        json_object *mo = json_object_array_get_idx(ms, i);
        if (!json_object_is_type(mo, json_type_object)) continue;
        desk_env_model *m = &e->models[e->n_models++];
        copy_s(m->name, sizeof m->name, get_s(mo, "name"));
        copy_s(m->path, sizeof m->path, get_s(mo, "path"));
        copy_s(m->arch, sizeof m->arch, get_s(mo, "arch"));
        copy_s(m->sha256, sizeof m->sha256, get_s(mo, "sha256"));
        copy_s(m->types, sizeof m->types, get_s(mo, "tensor_types"));
        x = 0;
        if (get_u(mo, "file_bytes", INT64_MAX, &x)) m->file_bytes = (uint64_t)x;
    }
}

/* Result I of the report at PATH from O: everything the JSON writer wrote. */
static desk_status read_result(desk_bench_report *r, json_object *o, const char *path, size_t i, desk_err *err) {
    const char *model = get_s(o, "model"), *test = get_s(o, "test");
    double tps, thr = 0;
    if (!model || !test || !get_d(o, "tokens_per_s", &tps) || !get_d(o, "threads", &thr))
        return desk_errf(err, DESK_E_FORMAT, "%s: result %zu lacks model, test, threads or tokens_per_s", path, i);
    if (!(thr >= 1 && thr <= 1 << 20))
        return desk_errf(err, DESK_E_FORMAT, "%s: result %zu: threads is not a count", path, i);
    if (!isfinite(tps) || tps < 0)
        return desk_errf(err, DESK_E_FORMAT, "%s: result %zu: tokens_per_s is not a finite speed", path, i);
    desk_bench_result *res = desk_bench_report_add(r);
    if (!res) return desk_errf(err, DESK_E_RANGE, "%s: more than %d results", path, DESK_BENCH_MAX_RESULTS);
    copy_s(res->model, sizeof res->model, model);
    copy_s(res->test, sizeof res->test, test);
    res->threads = (int)thr;
    res->tokens_per_s = tps;
    get_d(o, "sd", &res->sd);
    int64_t np = 0, ng = 0, depth = 0, rss = 0, wb = 0;
    if (!get_u(o, "n_prompt", 1 << 30, &np) || !get_u(o, "n_gen", 1 << 30, &ng) || !get_u(o, "depth", 1 << 30, &depth) ||
        !get_u(o, "peak_rss", INT64_MAX, &rss) || !get_u(o, "weight_bytes_per_token", INT64_MAX, &wb))
        return desk_errf(err, DESK_E_FORMAT, "%s: result %zu: a count is negative, too large or not an integer", path, i);
    res->n_prompt = (int)np, res->n_gen = (int)ng, res->depth = (int)depth;
    res->peak_rss = (uint64_t)rss, res->weight_bytes = (uint64_t)wb;
    copy_s(res->cache_k, sizeof res->cache_k, get_s(o, "cache_type_k"));
    copy_s(res->cache_v, sizeof res->cache_v, get_s(o, "cache_type_v"));
    const char *mode = get_s(o, "mode");
    res->deterministic = mode && strcmp(mode, "deterministic") == 0;
    int64_t kvb = 0;
    if (get_u(o, "kv_bytes", INT64_MAX, &kvb)) res->kv_bytes = (uint64_t)kvb;
    if (get_u(o, "kv_ctx", 1 << 30, &kvb)) res->kv_ctx = (int)kvb;
    get_d(o, "ttft_ms", &res->ttft_ms);
    json_object *load = NULL;
    if (json_object_object_get_ex(o, "load", &load)) {
        if (!json_object_is_type(load, json_type_object) || !desk_load_read(load, &res->load))
            return desk_errf(err, DESK_E_FORMAT, "%s: result %zu: \"load\" has a count that is not one", path, i);
        res->ttft_ms = res->load.ttft.p50;
        res->itl_p50_ms = res->load.itl.p50;
        res->itl_p90_ms = res->load.itl.p90;
        res->itl_p99_ms = res->load.itl.p99;
    }
    get_d(o, "roofline", &res->roofline);
    get_d(o, "load_ms", &res->load_ms);
    if (get_d(o, "joules", &res->joules)) get_d(o, "joules_per_token", &res->joules_per_token);
    json_object *samples = NULL, *itl = NULL;
    if (json_object_object_get_ex(o, "samples", &samples) && json_object_is_type(samples, json_type_array)) {
        size_t n = json_object_array_length(samples);
        for (size_t k = 0; k < n && k < DESK_BENCH_MAX_REPS; k++)
            res->samples[k] = json_object_get_double(json_object_array_get_idx(samples, k));
        res->reps = (int)(n < DESK_BENCH_MAX_REPS ? n : DESK_BENCH_MAX_REPS);
    }
    if (json_object_object_get_ex(o, "itl_ms", &itl) && json_object_is_type(itl, json_type_array)) {
        size_t n = json_object_array_length(itl);
        double *ms = n ? malloc(n * sizeof *ms) : NULL;
        if (n && !ms) return desk_errf(err, DESK_E_NOMEM, "%s: cannot hold %zu latencies", path, n);
        for (size_t k = 0; k < n; k++) {
            ms[k] = json_object_get_double(json_object_array_get_idx(itl, k));
            if (!isfinite(ms[k])) {
                free(ms);
                return desk_errf(err, DESK_E_FORMAT, "%s: result %zu: itl_ms[%zu] is not a number", path, i, k);
            }
        }
        desk_status st = desk_bench_result_set_itl(r, res, ms, n, err);
        free(ms);
        if (st) return st;
    } else {
        get_d(o, "itl_p50_ms", &res->itl_p50_ms);
        get_d(o, "itl_p90_ms", &res->itl_p90_ms);
        get_d(o, "itl_p99_ms", &res->itl_p99_ms);
    }
    return DESK_OK;
}

/* The JSON document in the regular file PATH, at most DESK_REPORT_MAX bytes
 * (a FIFO, a device or an endless file is refused, never read forever). */
static desk_status load_json(const char *path, json_object **root, desk_err *err) {
    *root = NULL;
    char *buf = NULL;
    size_t len = 0;
    desk_status st = desk_file_read_all(path, DESK_REPORT_MAX, &buf, &len, err);
    if (st != DESK_OK) return st;
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        free(buf);
        return desk_errf(err, DESK_E_NOMEM, "%s: out of memory", path);
    }
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    size_t end = json_tokener_get_parse_end(tok);
    bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
    while (ok && end < len && (buf[end] == ' ' || buf[end] == '\n' || buf[end] == '\t' || buf[end] == '\r')) end++;
    json_tokener_free(tok);
    free(buf);
    if (!ok || end != len) {
        json_object_put(o);
        return desk_errf(err, DESK_E_FORMAT, "%s: not a readable JSON report", path);
    }
    *root = o;
    return DESK_OK;
}

desk_status desk_bench_read_json(const char *path, desk_bench_report *r, desk_err *err) {
    json_object *root = NULL;
    desk_status st = load_json(path, &root, err);
    if (st != DESK_OK) return st;
    json_object *env = NULL, *results = NULL;
    if (json_object_object_get_ex(root, "env", &env) && json_object_is_type(env, json_type_object)) read_env(env, &r->env);
    if (!json_object_object_get_ex(root, "results", &results) || !json_object_is_type(results, json_type_array)) {
        st = desk_errf(err, DESK_E_FORMAT, "%s: no \"results\" array", path);
        goto done;
    }
    for (size_t i = 0; i < json_object_array_length(results) && st == DESK_OK; i++) {
        json_object *o = json_object_array_get_idx(results, i);
        st = json_object_is_type(o, json_type_object) ? read_result(r, o, path, i, err)
                                                       : desk_errf(err, DESK_E_FORMAT, "%s: result %zu is not an object", path, i);
    }
done:
    json_object_put(root);
    return st;
}

/* ---- CSV and Markdown ------------------------------------------------- */

void desk_csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void desk_bench_write_csv(const desk_bench_report *r, FILE *f) {
    if (desk_report_is_load(r)) {
        desk_load_write_csv(r, f);
        return;
    }
    fputs("model,test,threads,reps,tokens_per_s,sd,ttft_ms,itl_p50_ms,itl_p90_ms,itl_p99_ms,load_ms,peak_rss,"
          "weight_bytes_per_token,roofline,joules_per_token,cache_type_k,cache_type_v,kv_bytes,cpu,git,date\n", f);
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        desk_csv_str(f, x->model);
        fprintf(f, ",%s,%d,%d,%.4f,%.4f,", x->test, x->threads, x->reps, x->tokens_per_s, x->sd);
        if (x->n_prompt > 0) fprintf(f, "%.4f", x->ttft_ms);
        fputc(',', f);
        if (x->n_gen > 0) fprintf(f, "%.4f,%.4f,%.4f,", x->itl_p50_ms, x->itl_p90_ms, x->itl_p99_ms);
        else fputs(",,,", f);
        fprintf(f, "%.2f,%llu,%llu,", x->load_ms, (unsigned long long)x->peak_rss, (unsigned long long)x->weight_bytes);
        if (x->n_gen > 0 && x->roofline > 0) fprintf(f, "%.4f", x->roofline);
        fputc(',', f);
        if (x->joules_per_token >= 0) fprintf(f, "%.6f", x->joules_per_token);
        fprintf(f, ",%s,%s,", x->cache_k[0] ? x->cache_k : "f16", x->cache_v[0] ? x->cache_v : "f16");
        if (x->kv_bytes) fprintf(f, "%llu", (unsigned long long)x->kv_bytes);
        fputc(',', f);
        desk_csv_str(f, r->env.cpu);
        fputc(',', f);
        desk_csv_str(f, r->env.git);
        fprintf(f, ",%s\n", r->env.date);
    }
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void desk_bench_write_md(const desk_bench_report *r, FILE *f) {
    if (desk_report_is_load(r)) {
        desk_load_write_md(r, f);
        return;
    }
    const desk_env *e = &r->env;
    fprintf(f, "| model | test | threads | tokens/s | ttft ms | itl p50/p90/p99 ms | roofline |\n");
    fprintf(f, "|---|---|--:|--:|--:|--:|--:|\n");
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        fprintf(f, "| %s | %s | %d | %.2f ± %.2f |", base_name(x->model), x->test, x->threads, x->tokens_per_s, x->sd);
        if (x->n_gen > 0) {
            fprintf(f, " - | %.2f / %.2f / %.2f |", x->itl_p50_ms, x->itl_p90_ms, x->itl_p99_ms);
            if (x->roofline > 0) fprintf(f, " %.0f%% |\n", x->roofline * 100);
            else fputs(" - |\n", f);
        } else {
            fprintf(f, " %.1f | - | - |\n", x->ttft_ms);
        }
    }
    fprintf(f, "\n%s (%s), %d CPUs, %.1f GB RAM, %s; %s %s; desk %s (%s), %s kernels; %s", e->cpu, e->isa,
            e->n_cpus, (double)e->mem_total / 1e9, e->kernel, e->compiler, e->cflags, e->version, e->git,
            e->kernels_isa[0] ? e->kernels_isa : "unrecorded", e->date);
    if (e->bandwidth_gbps > 0) fprintf(f, "; streaming read %.1f GB/s (%d threads)", e->bandwidth_gbps, e->bandwidth_threads);
    fputs("\n", f);
    for (size_t i = 0; i < e->n_models; i++) {
        const desk_env_model *m = &e->models[i];
        fprintf(f, "\n- %s: %s, sha256 %s, %s", base_name(m->path), m->arch, m->sha256, m->types);
        /* Load time, peak RSS and bytes per token are per model: the first
         * result of the model carries them. */
        for (size_t k = 0; k < r->n_results; k++) {
            const desk_bench_result *x = &r->results[k];
            if (strcmp(x->model, m->name) != 0) continue;
            fprintf(f, "; load %.1f ms, %.1f MB of weights read per token", x->load_ms, (double)x->weight_bytes / 1e6);
            fprintf(f, "; KV cache K %s, V %s", x->cache_k[0] ? x->cache_k : "f16", x->cache_v[0] ? x->cache_v : "f16");
            if (x->kv_bytes) fprintf(f, ", %.1f MB for %d tokens", (double)x->kv_bytes / 1e6, x->kv_ctx);
            if (x->deterministic) fprintf(f, "; batch-invariant mode (--deterministic)");
            break;
        }
        uint64_t peak = 0;
        for (size_t k = 0; k < r->n_results; k++)
            if (strcmp(r->results[k].model, m->name) == 0 && r->results[k].peak_rss > peak) peak = r->results[k].peak_rss;
        if (peak) fprintf(f, ", peak RSS %.1f MB", (double)peak / 1e6);
    }
    if (e->n_models) fputc('\n', f);
}

/* ---- comparison ------------------------------------------------------- */

size_t desk_bench_compare(const desk_bench_report *a, const desk_bench_report *b, double alpha, FILE *f) {
    fprintf(f, "%-28s %-14s %4s %12s %12s %8s %8s %9s  %s\n", "model", "test", "thr", "A tok/s", "B tok/s", "change",
            "t", "p", "verdict");
    size_t matched = 0;
    for (size_t i = 0; i < b->n_results; i++) {
        const desk_bench_result *y = &b->results[i], *x = NULL;
        for (size_t k = 0; k < a->n_results && !x; k++) {
            const desk_bench_result *c = &a->results[k];
            if (strcmp(base_name(c->model), base_name(y->model)) == 0 && strcmp(c->test, y->test) == 0 &&
                c->threads == y->threads)
                x = c;
        }
        if (!x) continue;
        matched++;
        double change = x->tokens_per_s > 0 ? (y->tokens_per_s / x->tokens_per_s - 1) * 100 : 0;
        double t = 0, df = 0, p = 1;
        bool ok = desk_welch(y->tokens_per_s, y->sd, (size_t)(y->reps > 0 ? y->reps : 0), x->tokens_per_s, x->sd,
                             (size_t)(x->reps > 0 ? x->reps : 0), &t, &df, &p);
        const char *name = base_name(y->model);
        size_t len = strlen(name);
        fprintf(f, "%-28s %-14s %4d %12.2f %12.2f %+7.1f%%", len > 28 ? name + len - 28 : name, y->test, y->threads,
                x->tokens_per_s, y->tokens_per_s, change);
        if (ok)
            fprintf(f, " %8.2f %9.3g  %s\n", t, p,
                    p < alpha ? (t > 0 ? "B faster (significant)" : "B slower (significant)") : "no significant change");
        else
            fprintf(f, " %8s %9s  too few repetitions for a test\n", "-", "-");
    }
    if (!matched) fprintf(f, "(no result of B has a counterpart in A with the same model, test and threads)\n");
    return matched;
}
