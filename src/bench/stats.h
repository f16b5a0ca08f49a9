/*
 * stats.h - the statistics benchmark reports need: summaries of repeated
 * measurements (mean, sample standard deviation, percentiles) and Welch's
 * t-test for comparing two sets of runs with unequal variances.
 *
 * Everything works on caller-owned arrays; nothing allocates.
 */
#ifndef DESK_BENCH_STATS_H
#define DESK_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "desk/bench.h" /* desk_summary, desk_summarize, desk_quantile_sorted */

/* Welch's unequal-variances t-test of mean A against mean B.  T is
 * (mean_a - mean_b) / sqrt(sd_a^2/n_a + sd_b^2/n_b), DF the Welch-
 * Satterthwaite degrees of freedom, P the two-sided p-value.  Needs
 * n_a, n_b >= 2; when both variances are 0 the means either agree (t 0,
 * p 1) or differ (t +-inf, p 0).  Returns false when a count is < 2. */
bool desk_welch(double mean_a, double sd_a, size_t n_a, double mean_b, double sd_b, size_t n_b, double *t,
                double *df, double *p);

/* Two-sided p-value of Student's t with DF degrees of freedom:
 * P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2). */
double desk_student_t_p2(double t, double df);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0,1]. */
double desk_betai(double a, double b, double x);

#endif
