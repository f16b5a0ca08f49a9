/*
 * stats.c - summaries, quantiles, Welch's t-test (see stats.h).
 *
 * The incomplete beta function is evaluated by its continued fraction
 * (modified Lentz), using the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) where the
 * fraction converges slowly; this is the textbook method and is accurate
 * to ~1e-12 for the degrees of freedom benchmarks produce.
 */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double desk_quantile_sorted(const double *x, size_t n, double q) {
    if (n == 0) return 0;
    if (q <= 0) return x[0];
    if (q >= 1) return x[n - 1];
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    double frac = pos - (double)lo;
    return lo + 1 < n ? x[lo] + frac * (x[lo + 1] - x[lo]) : x[lo];
}

void desk_summarize(double *x, size_t n, desk_summary *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return;
    qsort(x, n, sizeof *x, cmp_double);
    out->n = n;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    out->mean = sum / (double)n;
    if (n > 1) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (x[i] - out->mean) * (x[i] - out->mean);
        out->sd = sqrt(ss / (double)(n - 1));
    }
    out->min = x[0];
    out->max = x[n - 1];
    out->p50 = desk_quantile_sorted(x, n, 0.50);
    out->p90 = desk_quantile_sorted(x, n, 0.90);
    out->p99 = desk_quantile_sorted(x, n, 0.99);
}

/* Continued fraction for I_x(a, b) without its prefactor. */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

double desk_betai(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

double desk_student_t_p2(double t, double df) {
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return 0;
    return desk_betai(df / 2, 0.5, df / (df + t * t));
}

bool desk_welch(double mean_a, double sd_a, size_t n_a, double mean_b, double sd_b, size_t n_b, double *t,
                double *df, double *p) {
    if (n_a < 2 || n_b < 2) return false;
    double va = sd_a * sd_a / (double)n_a, vb = sd_b * sd_b / (double)n_b, se2 = va + vb;
    double diff = mean_a - mean_b;
    if (se2 <= 0) {
        *df = (double)(n_a + n_b - 2);
        *t = diff == 0 ? 0 : (diff > 0 ? INFINITY : -INFINITY);
        *p = diff == 0 ? 1 : 0;
        return true;
    }
    *t = diff / sqrt(se2);
    *df = se2 * se2 / (va * va / (double)(n_a - 1) + vb * vb / (double)(n_b - 1));
    *p = desk_student_t_p2(*t, *df);
    return true;
}
