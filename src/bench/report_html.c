/*
 * report_html.c - a benchmark report as one self-contained HTML page: the
 * environment, a results table, and inline SVG charts (throughput per
 * configuration with +-sd whiskers, one chart per test kind since prompt
 * and generation speeds differ by orders of magnitude; and the inter-token
 * latency distribution of every generation test).  No scripts, no external
 * files: it reads offline and prints.
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

void desk_bench_write_html(const desk_bench_report *r, FILE *f) {
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
