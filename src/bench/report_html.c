/*
 * report_html.c - a benchmark report as one self-contained HTML page: the
 * environment, a results table, and inline SVG charts (throughput per
 * configuration with +-sd whiskers, one chart per test kind since prompt
 * and generation speeds differ by orders of magnitude; and the inter-token
 * latency distribution of every generation test; for a server's load
 * test, latency and throughput against the load level).  No scripts, no
 * external files: it reads offline and prints.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/report.h"

#define CHART_W 760
#define LABEL_W 260
#define ROW_H 26

static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A "nice" axis maximum >= V: 1, 2 or 5 times a power of ten. */
static double nice_max(double v) {
    if (!(v > 0)) return 1;
    double p = pow(10, floor(log10(v)));
    for (int i = 0; i < 3; i++) {
        double m = (double[]){1, 2, 5}[i] * p;
        if (m >= v) return m;
    }
    return 10 * p;
}

static void axis(FILE *f, double x0, double w, double y, double max, const char *unit) {
    for (int i = 0; i <= 5; i++) {
        double x = x0 + w * i / 5;
        fprintf(f, "<line x1='%.1f' y1='20' x2='%.1f' y2='%.1f' stroke='#ddd'/>", x, x, y);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%g</text>", x, y + 14, max * i / 5);
    }
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%s</text>", x0 + w / 2, y + 30, unit);
}

/* Bars for the results whose test starts with PREFIX ("pp" or "tg"). */
static void throughput_chart(const desk_bench_report *r, FILE *f, const char *prefix, const char *title) {
    size_t n = 0;
    double max = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (strncmp(x->test, prefix, 2) != 0) continue;
        n++;
        if (x->tokens_per_s + x->sd > max) max = x->tokens_per_s + x->sd;
    }
    if (!n) return;
    max = nice_max(max);
    double w = CHART_W - LABEL_W - 30, h = 20 + (double)n * ROW_H;
    fprintf(f, "<h2>%s</h2>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%.0f' role='img' "
               "font-family='sans-serif'>", title, CHART_W, h + 40);
    axis(f, LABEL_W, w, h, max, "tokens per second (mean ± sd)");
    size_t row = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (strncmp(x->test, prefix, 2) != 0) continue;
        double y = 24 + (double)row++ * ROW_H, bw = w * x->tokens_per_s / max;
        double lo = w * fmax(0, x->tokens_per_s - x->sd) / max, hi = w * (x->tokens_per_s + x->sd) / max;
        fprintf(f, "<text x='%d' y='%.1f' font-size='12' text-anchor='end'>", LABEL_W - 6, y + 14);
        esc(f, base_name(x->model));
        fprintf(f, " %s t%d</text>", x->test, x->threads);
        fprintf(f, "<rect x='%d' y='%.1f' width='%.1f' height='18' fill='%s'><title>%.2f ± %.2f tokens/s</title></rect>",
                LABEL_W, y, bw, prefix[0] == 'p' ? "#4a7fb5" : "#d9822b", x->tokens_per_s, x->sd);
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#222'/>", LABEL_W + lo, y + 9, LABEL_W + hi, y + 9);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11'>%.1f</text>", LABEL_W + hi + 4, y + 13, x->tokens_per_s);
    }
    fputs("</svg>\n", f);
}

/* One row per generation test: every inter-token latency as a tick, and
 * the p50, p90 and p99 marks. */
static void latency_chart(const desk_bench_report *r, FILE *f) {
    size_t n = 0;
    double max = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (!x->n_itl) continue;
        n++;
        if (x->itl_ms[x->n_itl - 1] > max) max = x->itl_ms[x->n_itl - 1];
    }
    if (!n) return;
    max = nice_max(max);
    double w = CHART_W - LABEL_W - 30, h = 20 + (double)n * ROW_H * 1.5;
    fprintf(f, "<h2>Inter-token latency distribution</h2>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' "
               "height='%.0f' role='img' font-family='sans-serif'>", CHART_W, h + 40);
    axis(f, LABEL_W, w, h, max, "milliseconds between tokens (ticks: every token; marks: p50 p90 p99)");
    size_t row = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (!x->n_itl) continue;
        double y = 24 + (double)row++ * ROW_H * 1.5;
        fprintf(f, "<text x='%d' y='%.1f' font-size='12' text-anchor='end'>", LABEL_W - 6, y + 16);
        esc(f, base_name(x->model));
        fprintf(f, " %s t%d</text>", x->test, x->threads);
        for (size_t k = 0; k < x->n_itl; k++) {
            double px = LABEL_W + w * x->itl_ms[k] / max;
            fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#4a7fb5' stroke-opacity='0.35'/>", px, y + 4,
                    px, y + 24);
        }
        const double q[3] = {x->itl_p50_ms, x->itl_p90_ms, x->itl_p99_ms};
        const char *qn[3] = {"p50", "p90", "p99"}, *qc[3] = {"#222", "#b5651d", "#c0392b"};
        for (int k = 0; k < 3; k++) {
            double px = LABEL_W + w * q[k] / max;
            fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'><title>%s %.2f ms"
                       "</title></line>", px, y, px, y + 28, qc[k], qn[k], q[k]);
        }
    }
    fputs("</svg>\n", f);
}

/* ---- load tests of a server ---- */

#define PLOT_H 240

/* A line chart over the load rows (x: each row's level, evenly spaced):
 * N_SERIES series, series k's value of row i from GET(row, k), with an
 * optional +-sd band from SD (may be NULL).  The y axis starts at 0. */
static void level_chart(const desk_bench_report *r, FILE *f, const char *title, const char *unit, int n_series,
                        const char *const *names, const char *const *colors,
                        double (*get)(const desk_bench_result *, int), double (*sd)(const desk_bench_result *, int)) {
    size_t n = 0;
    double max = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (!x->load.on) continue;
        n++;
        for (int k = 0; k < n_series; k++) max = fmax(max, get(x, k) + (sd ? sd(x, k) : 0));
    }
    if (!n) return;
    max = nice_max(max);
    const double x0 = 70, w = CHART_W - x0 - 150, top = 20, h = PLOT_H;
    fprintf(f, "<h2>%s</h2>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%.0f' role='img' "
               "font-family='sans-serif'>", title, CHART_W, top + h + 50);
    for (int i = 0; i <= 5; i++) {
        double y = top + h - h * i / 5;
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>", x0, y, x0 + w, y);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>%g</text>", x0 - 4, y + 4, max * i / 5);
    }
    fprintf(f, "<text x='14' y='%.1f' font-size='11' transform='rotate(-90 14 %.1f)' text-anchor='middle'>%s</text>",
            top + h / 2, top + h / 2, unit);
    size_t col = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        if (!x->load.on) continue;
        double px = x0 + (n > 1 ? w * (double)col / (double)(n - 1) : w / 2);
        col++;
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>", px, top + h + 16);
        esc(f, x->test);
        fputs("</text>", f);
    }
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>level (c: requests in flight; rate: "
               "arrivals/s)</text>", x0 + w / 2, top + h + 34);
    for (int k = 0; k < n_series; k++) {
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colors[k]);
        col = 0;
        for (size_t i = 0; i < r->n_results; i++) {
            const desk_bench_result *x = &r->results[i];
            if (!x->load.on) continue;
            double px = x0 + (n > 1 ? w * (double)col / (double)(n - 1) : w / 2);
            col++;
            fprintf(f, "%.1f,%.1f ", px, top + h - h * get(x, k) / max);
        }
        fputs("'/>", f);
        col = 0;
        for (size_t i = 0; i < r->n_results; i++) {
            const desk_bench_result *x = &r->results[i];
            if (!x->load.on) continue;
            double px = x0 + (n > 1 ? w * (double)col / (double)(n - 1) : w / 2), v = get(x, k);
            double d = sd ? sd(x, k) : 0;
            col++;
            if (d > 0)
                fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'/>", px, top + h - h * (v + d) / max,
                        px, top + h - h * fmax(0, v - d) / max, colors[k]);
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'><title>", px, top + h - h * v / max, colors[k]);
            esc(f, x->test);
            fprintf(f, " %s: %.2f", names[k], v);
            if (sd) fprintf(f, " ± %.2f", d);
            fprintf(f, " %s</title></circle>", unit);
        }
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>", x0 + w + 14,
                top + 10 + 18.0 * k, x0 + w + 34, top + 10 + 18.0 * k, colors[k]);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='12'>%s</text>", x0 + w + 40, top + 14 + 18.0 * k, names[k]);
    }
    fputs("</svg>\n", f);
}

static double lat_get(const desk_bench_result *x, int k) {
    const desk_bench_load *l = &x->load;
    const double v[5] = {l->ttft.p50, l->ttft.p99, l->itl.p50, l->itl.p99, l->e2e.p50};
    return v[k];
}

static double lat_sd(const desk_bench_result *x, int k) {
    const desk_bench_load *l = &x->load;
    const double v[5] = {l->ttft.p50_sd, l->ttft.p99_sd, l->itl.p50_sd, l->itl.p99_sd, l->e2e.p50_sd};
    return v[k];
}

static double tput_get(const desk_bench_result *x, int k) { return (void)k, x->tokens_per_s; }
static double tput_sd(const desk_bench_result *x, int k) { return (void)k, x->sd; }

static void load_html(const desk_bench_report *r, FILE *f) {
    const desk_env *e = &r->env;
    fputs("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>desk bench --url report</title>\n"
          "<style>body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}"
          "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}"
          "td.n{text-align:right}th{background:#f3f3f3}</style></head><body>\n"
          "<h1>desk bench --url report</h1>\n<h2>Environment</h2>\n<table>\n<tr><th>server</th><td>", f);
    esc(f, e->target);
    fputs("</td></tr>\n<tr><th>model</th><td>", f);
    esc(f, r->n_results ? r->results[0].model : "");
    fputs("</td></tr>\n", f);
    const char *keys[] = {"client CPU", "ISA", "kernel", "desk", "date"};
    const char *vals[] = {e->cpu, e->isa, e->kernel, e->git, e->date};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fprintf(f, "<tr><th>%s</th><td>", keys[i]);
        esc(f, vals[i]);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><th>CPUs, memory</th><td>%d logical CPUs, %.1f GB</td></tr>\n</table>\n", e->n_cpus,
            (double)e->mem_total / 1e9);
    fputs("<h2>Results</h2>\n<table>\n<tr><th>level</th><th>reps &times; requests</th><th>req/s</th>"
          "<th>output tok/s</th><th>TTFT p50 / p90 / p99 ms</th><th>ITL p50 / p90 / p99 ms</th>"
          "<th>E2E p50 / p90 / p99 ms</th><th>tokens in / out</th><th>goodput</th><th>failed</th>"
          "<th>client CPU</th></tr>\n", f);
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        const desk_bench_load *l = &x->load;
        if (!l->on) continue;
        fputs("<tr><td>", f);
        esc(f, x->test);
        fprintf(f, "</td><td class='n'>%d &times; %d</td><td class='n'>%.2f ± %.2f</td><td class='n'>%.1f ± %.1f</td>"
                   "<td class='n'>%.1f / %.1f / %.1f</td><td class='n'>%.2f / %.2f / %.2f</td>"
                   "<td class='n'>%.0f / %.0f / %.0f</td><td class='n'>%.0f / %.0f</td>",
                x->reps, l->requests, l->req_per_s, l->req_per_s_sd, x->tokens_per_s, x->sd, l->ttft.p50, l->ttft.p90,
                l->ttft.p99, l->itl.p50, l->itl.p90, l->itl.p99, l->e2e.p50, l->e2e.p90, l->e2e.p99, l->prompt_tokens,
                l->completion_tokens);
        if (l->slo_ttft_ms > 0 || l->slo_itl_ms > 0) fprintf(f, "<td class='n'>%.0f%%</td>", l->goodput * 100);
        else fputs("<td>-</td>", f);
        fprintf(f, "<td class='n'>%llu</td><td class='n'>%.2f s (%.1f%%)</td></tr>\n",
                (unsigned long long)desk_load_errors(l), l->client_cpu_s,
                l->wall_s > 0 ? 100 * l->client_cpu_s / l->wall_s : 0.0);
    }
    fputs("</table>\n", f);
    static const char *const LAT[] = {"TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "E2E p50"};
    static const char *const LATC[] = {"#4a7fb5", "#9bbbe0", "#d9822b", "#f0b57a", "#5a9e5a"};
    level_chart(r, f, "Latency vs load", "milliseconds (mean of repetitions ± sd)", 5, LAT, LATC, lat_get, lat_sd);
    static const char *const TP[] = {"output tok/s"};
    static const char *const TPC[] = {"#d9822b"};
    level_chart(r, f, "Throughput vs load", "output tokens per second (mean ± sd)", 1, TP, TPC, tput_get, tput_sd);
    fputs("<p>Written by <code>desk bench --url --html</code>.  TTFT: time to the first content chunk; ITL: time "
          "between content chunks; E2E: the whole request.  Each figure is the mean over repetitions of that "
          "repetition's percentile.</p>\n</body></html>\n", f);
}

void desk_bench_write_html(const desk_bench_report *r, FILE *f) {
    if (desk_report_is_load(r)) {
        load_html(r, f);
        return;
    }
    const desk_env *e = &r->env;
    fputs("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>desk bench report</title>\n"
          "<style>body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}"
          "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}"
          "td.n{text-align:right}th{background:#f3f3f3}code{font-size:12px}</style></head><body>\n"
          "<h1>desk bench report</h1>\n<h2>Environment</h2>\n<table>\n", f);
    const char *keys[] = {"CPU", "ISA", "desk kernels", "kernel", "compiler", "flags", "desk", "date"};
    const char *vals[] = {e->cpu, e->isa, e->kernels_isa, e->kernel, e->compiler, e->cflags, e->git, e->date};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fprintf(f, "<tr><th>%s</th><td>", keys[i]);
        esc(f, vals[i]);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><th>CPUs, memory</th><td>%d logical CPUs, %.1f GB</td></tr>\n", e->n_cpus, (double)e->mem_total / 1e9);
    if (e->bandwidth_gbps > 0)
        fprintf(f, "<tr><th>bandwidth</th><td>%.1f GB/s streaming read, %d threads</td></tr>\n", e->bandwidth_gbps,
                e->bandwidth_threads);
    fprintf(f, "<tr><th>energy</th><td>%s</td></tr>\n", e->rapl ? "powercap/RAPL" : "not available");
    for (size_t i = 0; i < e->n_models; i++) {
        fputs("<tr><th>model</th><td>", f);
        esc(f, base_name(e->models[i].path));
        fputs(" (", f);
        esc(f, e->models[i].arch);
        fputs(")<br><code>sha256 ", f);
        esc(f, e->models[i].sha256);
        fputs("</code><br>", f);
        esc(f, e->models[i].types);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h2>Results</h2>\n<table>\n<tr><th>model</th><th>test</th><th>threads</th><th>tokens/s</th>"
          "<th>sd</th><th>ttft ms</th><th>itl p50 / p90 / p99 ms</th><th>roofline</th><th>load ms</th>"
          "<th>peak RSS MB</th></tr>\n", f);
    for (size_t i = 0; i < r->n_results; i++) {
        const desk_bench_result *x = &r->results[i];
        fputs("<tr><td>", f);
        esc(f, base_name(x->model));
        fprintf(f, "</td><td>%s</td><td class='n'>%d</td><td class='n'>%.2f</td><td class='n'>%.2f</td>", x->test,
                x->threads, x->tokens_per_s, x->sd);
        if (x->n_gen > 0)
            fprintf(f, "<td></td><td class='n'>%.2f / %.2f / %.2f</td><td class='n'>%.0f%%</td>", x->itl_p50_ms,
                    x->itl_p90_ms, x->itl_p99_ms, x->roofline * 100);
        else
            fprintf(f, "<td class='n'>%.1f</td><td></td><td></td>", x->ttft_ms);
        fprintf(f, "<td class='n'>%.0f</td><td class='n'>%.1f</td></tr>\n", x->load_ms, (double)x->peak_rss / 1e6);
    }
    fputs("</table>\n", f);
    throughput_chart(r, f, "pp", "Prompt processing throughput");
    throughput_chart(r, f, "tg", "Generation throughput");
    latency_chart(r, f);
    fputs("<p>Written by <code>desk bench --html</code>.  GB = 10<sup>9</sup> bytes.</p>\n</body></html>\n", f);
}
