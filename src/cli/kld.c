/*
 * kld.c - llama-perplexity's KL-divergence base files and statistics for
 * `desk perplexity` (the format is described in kld.h).  The arithmetic
 * follows llama-perplexity's (float log-sum-exp of a double sum, the same
 * 16-nat floor on stored log-probabilities, the KL divergence of the base
 * distribution from this run's), so a file written by either program and
 * read by the other gives the same kind of figures.
 */
#include "kld.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desk/files.h"

static const char MAGIC[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

bool kld_write_header(FILE *f, int n_ctx, int n_vocab, int n_chunk, const desk_token *tokens) {
    const int32_t h[3] = {n_ctx, n_vocab, n_chunk};
    const size_t n = (size_t)n_chunk * (size_t)n_ctx;
    return fwrite(MAGIC, 1, sizeof MAGIC, f) == sizeof MAGIC && fwrite(h, sizeof h[0], 3, f) == 3 &&
           fwrite(tokens, sizeof *tokens, n, f) == n;
}

bool kld_write_row(FILE *f, const float *logits, int n_vocab, uint16_t *row) {
    float mx = logits[0], mn = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > mx) mx = logits[i];
        if (logits[i] < mn) mn = logits[i];
    }
    /* Probabilities below e^-16 of the top one are stored as the floor:
     * the 16-bit steps then stay fine (16/65535 nats). */
    if (mn < mx - 16.0f) mn = mx - 16.0f;
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
    const float lse = (float)log(sum);
    const float head[2] = {(mx - mn) / 65535.0f, mn - mx - lse};
    const size_t len = kld_row_len(n_vocab);
    memcpy(row, head, sizeof head);
    uint16_t *q = row + 4;
    memset(q, 0, (len - 4) * sizeof *q);
    if (head[0] > 0.0f) {
        const float inv = 1.0f / head[0];
        for (int i = 0; i < n_vocab; i++)
            if (logits[i] > mn) {
                long v = lrintf(inv * (logits[i] - mn));
                q[i] = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
            }
    }
    return fwrite(row, sizeof *row, len, f) == len;
}

void kld_base_close(kld_base *b) {
    if (b->fp) fclose(b->fp);
    free(b->tokens);
    memset(b, 0, sizeof *b);
}

static desk_status base_fail(kld_base *b, desk_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static desk_status base_fail(kld_base *b, desk_err *err, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    desk_errf(err, DESK_E_FORMAT, "%s: %s", b->path, msg);
    kld_base_close(b);
    return DESK_E_FORMAT;
}

desk_status kld_base_open(const char *path, int n_vocab, kld_base *b, desk_err *err) {
    memset(b, 0, sizeof *b);
    int fd = -1;
    size_t size = 0;
    desk_status st = desk_file_open_read(path, &fd, &size, err);
    if (st) return st;
    b->fp = fdopen(fd, "rb");
    if (!b->fp) {
        close(fd);
        return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(errno));
    }
    b->path = path;
    unsigned char head[KLD_HEADER_BYTES];
    if (size < sizeof head || fread(head, 1, sizeof head, b->fp) != sizeof head)
        return base_fail(b, err, "truncated header (%zu bytes; a base file starts with %d)", size, KLD_HEADER_BYTES);
    if (memcmp(head, MAGIC, sizeof MAGIC) != 0)
        return base_fail(b, err, "not a llama-perplexity log-probability file (offset 0 is not \"_logits_\")");
    int32_t h[3];
    memcpy(h, head + 8, sizeof h);
    if (h[0] < 8 || h[0] > (1 << 20))
        return base_fail(b, err, "n_ctx %" PRId32 " at offset 8 is outside [8, 1048576]", h[0]);
    if (h[1] != n_vocab)
        return base_fail(b, err, "n_vocab %" PRId32 " at offset 12 differs from the model's %d (another model's base?)",
                         h[1], n_vocab);
    if (h[2] < 1) return base_fail(b, err, "n_chunk %" PRId32 " at offset 16 is not positive", h[2]);
    b->n_ctx = h[0];
    b->n_vocab = h[1];
    b->n_chunk = h[2];
    /* Each factor is below 2^31, so the products fit in 64 bits. */
    const uint64_t n_tok = (uint64_t)b->n_chunk * (uint64_t)b->n_ctx;
    const uint64_t tok_end = KLD_HEADER_BYTES + 4 * n_tok;
    const uint64_t chunk_bytes = (uint64_t)kld_rows_per_chunk(b->n_ctx) * kld_row_len(n_vocab) * 2;
    const uint64_t want = tok_end + (uint64_t)b->n_chunk * chunk_bytes;
    if ((uint64_t)size < tok_end)
        return base_fail(b, err, "truncated: %" PRIu64 " tokens at offset %d need %" PRIu64 " bytes, the file has %zu",
                         n_tok, KLD_HEADER_BYTES, tok_end, size);
    if ((uint64_t)size != want) {
        if ((uint64_t)size < want) {
            const uint64_t whole = ((uint64_t)size - tok_end) / chunk_bytes;
            return base_fail(b, err,
                             "truncated: window %" PRIu64 "'s log-probabilities at offset %" PRIu64
                             " need %" PRIu64 " bytes, the file ends at %zu (%d windows declared at offset 16)",
                             whole + 1, tok_end + whole * chunk_bytes, chunk_bytes, size, b->n_chunk);
        }
        return base_fail(b, err, "%zu bytes, but its header declares %" PRIu64 " (%d windows of %d, vocabulary %d)",
                         size, want, b->n_chunk, b->n_ctx, n_vocab);
    }
    b->tokens = malloc(n_tok * sizeof *b->tokens);
    if (!b->tokens) {
        kld_base_close(b);
        return desk_errf(err, DESK_E_NOMEM, "%s: out of memory for %" PRIu64 " tokens", path, n_tok);
    }
    if (fread(b->tokens, sizeof *b->tokens, n_tok, b->fp) != n_tok)
        return base_fail(b, err, "read error in the tokens at offset %d", KLD_HEADER_BYTES);
    for (uint64_t i = 0; i < n_tok; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            return base_fail(b, err, "token %" PRId32 " at offset %" PRIu64 " is outside the vocabulary [0, %d)",
                             b->tokens[i], KLD_HEADER_BYTES + 4 * i, n_vocab);
    b->offset = tok_end;
    return DESK_OK;
}

desk_status kld_base_read_row(kld_base *b, uint16_t *row, desk_err *err) {
    const size_t len = kld_row_len(b->n_vocab);
    if (fread(row, sizeof *row, len, b->fp) != len)
        return desk_errf(err, DESK_E_IO, "%s: read error at offset %" PRIu64, b->path, b->offset);
    float head[2];
    memcpy(head, row, sizeof head);
    if (!isfinite(head[0]) || head[0] < 0.0f || !isfinite(head[1]))
        return desk_errf(err, DESK_E_FORMAT, "%s: row at offset %" PRIu64 " has scale %g and minimum %g (want finite, scale >= 0)",
                         b->path, b->offset, (double)head[0], (double)head[1]);
    b->offset += len * sizeof *row;
    return DESK_OK;
}

bool kld_stats_init(kld_stats *s, size_t n) {
    memset(s, 0, sizeof *s);
    s->kld_values = malloc((n ? n : 1) * sizeof *s->kld_values);
    s->p_diff_values = malloc((n ? n : 1) * sizeof *s->p_diff_values);
    s->cap = n;
    if (!s->kld_values || !s->p_diff_values) {
        kld_stats_free(s);
        return false;
    }
    return true;
}

void kld_stats_free(kld_stats *s) {
    free(s->kld_values);
    free(s->p_diff_values);
    memset(s, 0, sizeof *s);
}

void kld_score(kld_stats *s, const float *logits, int n_vocab, const uint16_t *row, int tok) {
    float mx = logits[0];
    int top = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) {
            mx = logits[i];
            top = i;
        }
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
    const float lse = (float)log(sum);
    float head[2];
    memcpy(head, row, sizeof head);
    const float scale = head[0], lp_min = head[1];
    const uint16_t *q = row + 4;

    const float nll = mx + lse - logits[tok];
    const float nll_base = -(scale * q[tok] + lp_min);
    s->sum_nll += nll;
    s->sum_nll2 += (double)nll * nll;
    s->sum_nll_base += nll_base;
    s->sum_nll_base2 += (double)nll_base * nll_base;
    s->sum_nll_nll_base += (double)nll * nll_base;

    /* KL(base || this run) = sum p_base (log p_base - log p); the floor
     * entries (below e^-16) are left out, as llama-perplexity does. */
    const float norm = mx + lse;
    double kld = 0.0;
    int top_base = 0;
    float lp_base_max = 0.0f;
    for (int i = 0; i < n_vocab; i++) {
        const float lpb = scale * q[i] + lp_min;
        if (i == 0 || lpb > lp_base_max) {
            lp_base_max = lpb;
            top_base = i;
        }
        if (lpb > -16.0f) kld += expf(lpb) * (lpb - logits[i] + norm);
    }
    s->sum_kld += kld;
    s->sum_kld2 += kld * kld;
    /* Two tokens whose log-probabilities round to the same 16-bit value
     * are a tie in the base: either agrees with it (llama-perplexity takes
     * the first index, so a run compared with its own base could miss). */
    if (top == top_base || q[top] == q[top_base]) s->n_same_top++;

    const float p_diff = expf(-nll) - expf(-nll_base);
    s->sum_p_diff += p_diff;
    const double d2 = (double)p_diff * p_diff;
    s->sum_p_diff2 += d2;
    s->sum_p_diff4 += d2 * d2;
    if (s->count < s->cap) {
        s->kld_values[s->count] = (float)kld;
        s->p_diff_values[s->count] = p_diff;
    }
    s->count++;
}

/* Mean of a sample from its sum and sum of squares, and the mean's
 * standard error (0 below 11 values, as llama-perplexity). */
static void mean_err(double sum, double sum2, size_t n, double *mean, double *unc) {
    *mean = *unc = 0.0;
    if (n < 1) return;
    *mean = sum / (double)n;
    double var = sum2 / (double)n - *mean * *mean;
    *unc = var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0.0;
}

static double covariance(double a, double b, double ab, size_t n) {
    if (n < 10) return 0.0;
    return (ab / (double)n - (a / (double)n) * (b / (double)n)) / (double)(n - 1);
}

typedef struct summary {
    double ppl, ppl_unc, ppl_base, ppl_base_unc, cor, ln_ratio, ln_ratio_unc, ratio, ratio_unc, diff, diff_unc;
    double kld, kld_unc, dp, dp_unc, rms_dp, rms_dp_unc, same_top, same_top_unc;
} summary;

static summary summarize(const kld_stats *s) {
    summary r;
    const size_t n = s->count;
    double lp, lpu, lb, lbu;
    mean_err(s->sum_nll, s->sum_nll2, n, &lp, &lpu);
    mean_err(s->sum_nll_base, s->sum_nll_base2, n, &lb, &lbu);
    r.ppl = exp(lp);
    r.ppl_unc = r.ppl * lpu;
    r.ppl_base = exp(lb);
    r.ppl_base_unc = r.ppl_base * lbu;
    const double cov = covariance(s->sum_nll, s->sum_nll_base, s->sum_nll_nll_base, n);
    r.cor = cov / (lpu * lbu);
    r.ln_ratio = lp - lb;
    r.ln_ratio_unc = sqrt(lpu * lpu + lbu * lbu - 2.0 * cov);
    r.ratio = exp(r.ln_ratio);
    r.ratio_unc = r.ratio * r.ln_ratio_unc;
    r.diff = r.ppl - r.ppl_base;
    r.diff_unc = sqrt(r.ppl_unc * r.ppl_unc + r.ppl_base_unc * r.ppl_base_unc - 2.0 * r.ppl * r.ppl_base * cov);
    mean_err(s->sum_kld, s->sum_kld2, n, &r.kld, &r.kld_unc);
    mean_err(s->sum_p_diff, s->sum_p_diff2, n, &r.dp, &r.dp_unc);
    double mse, mse_unc;
    mean_err(s->sum_p_diff2, s->sum_p_diff4, n, &mse, &mse_unc);
    r.rms_dp = sqrt(mse);
    r.rms_dp_unc = r.rms_dp > 0 ? 0.5 / r.rms_dp * mse_unc : 0.0;
    r.same_top = n ? (double)s->n_same_top / (double)n : 0.0;
    r.same_top_unc = n > 1 ? sqrt(r.same_top * (1.0 - r.same_top) / (double)(n - 1)) : 0.0;
    return r;
}

void kld_print_progress(const kld_stats *s, FILE *f, long long chunk, long long n_chunk) {
    const summary r = summarize(s);
    fprintf(f, "\rkl-divergence: chunk %lld/%lld, PPL %.4f, ln(PPL/PPL(base)) %.5f, KLD %.6f, RMS dp %.3f%%, same top %.3f%%   ",
            chunk, n_chunk, r.ppl, r.ln_ratio, r.kld, 100.0 * r.rms_dp, 100.0 * r.same_top);
    fflush(f);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The value at FRACTION of the sorted V (N >= 1), interpolated between
 * neighbours as llama-perplexity does. */
static double percentile(const float *v, size_t n, double fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    double p = fraction * (double)(n - 1);
    size_t i = (size_t)p;
    p -= (double)i;
    const size_t j = i + 1 < n ? i + 1 : n - 1;
    return (1.0 - p) * v[i] + p * v[j];
}

static double median(const float *v, size_t n) {
    return n % 2 == 0 ? 0.5 * ((double)v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

static void json_field(FILE *f, const char *name, double v, bool last) {
    if (isfinite(v)) fprintf(f, "\"%s\":%.9g%s", name, v, last ? "" : ",");
    else fprintf(f, "\"%s\":null%s", name, last ? "" : ",");
}

static const double KLD_PCT[] = {0.999, 0.99, 0.9, 0.1, 0.05, 0.01};
static const char *const KLD_PCT_NAME[] = {"99.9%", "99.0%", "90.0%", "10.0%", " 5.0%", " 1.0%"};
static const char *const KLD_PCT_KEY[] = {"kld_p99_9", "kld_p99", "kld_p90", "kld_p10", "kld_p5", "kld_p1"};

void kld_print_report(kld_stats *s, FILE *f, bool json, long long n_chunk, int n_ctx) {
    const summary r = summarize(s);
    const size_t n = s->count < s->cap ? s->count : s->cap;
    if (n == 0) return;
    qsort(s->kld_values, n, sizeof *s->kld_values, cmp_float);
    qsort(s->p_diff_values, n, sizeof *s->p_diff_values, cmp_float);
    const float *k = s->kld_values, *d = s->p_diff_values;
    if (json) {
        fprintf(f, "{\"chunks\":%lld,\"ctx\":%d,\"tokens\":%zu,", n_chunk, n_ctx, s->count);
        json_field(f, "ppl", r.ppl, false);
        json_field(f, "ppl_err", r.ppl_unc, false);
        json_field(f, "ppl_base", r.ppl_base, false);
        json_field(f, "ppl_base_err", r.ppl_base_unc, false);
        json_field(f, "ln_ppl_ratio", r.ln_ratio, false);
        json_field(f, "ln_ppl_ratio_err", r.ln_ratio_unc, false);
        json_field(f, "ppl_ratio", r.ratio, false);
        json_field(f, "ppl_diff", r.diff, false);
        json_field(f, "kld_mean", r.kld, false);
        json_field(f, "kld_err", r.kld_unc, false);
        json_field(f, "kld_max", k[n - 1], false);
        for (size_t i = 0; i < sizeof KLD_PCT / sizeof KLD_PCT[0]; i++)
            json_field(f, KLD_PCT_KEY[i], percentile(k, n, KLD_PCT[i]), false);
        json_field(f, "kld_median", median(k, n), false);
        json_field(f, "kld_min", k[0], false);
        json_field(f, "dp_mean", r.dp, false);
        json_field(f, "dp_max", d[n - 1], false);
        json_field(f, "dp_min", d[0], false);
        json_field(f, "rms_dp", r.rms_dp, false);
        json_field(f, "same_top", r.same_top, false);
        json_field(f, "same_top_err", r.same_top_unc, true);
        fputs("}\n", f);
        return;
    }
    fprintf(f, "====== Perplexity statistics ======\n");
    fprintf(f, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.ppl, r.ppl_unc);
    fprintf(f, "Mean PPL(base)                : %10.6f ± %10.6f\n", r.ppl_base, r.ppl_base_unc);
    fprintf(f, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * r.cor);
    fprintf(f, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r.ln_ratio, r.ln_ratio_unc);
    fprintf(f, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r.ratio, r.ratio_unc);
    fprintf(f, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", r.diff, r.diff_unc);
    fprintf(f, "\n====== KL divergence statistics ======\n");
    fprintf(f, "Mean    KLD: %10.6f ± %10.6f\n", r.kld, r.kld_unc);
    fprintf(f, "Maximum KLD: %10.6f\n", (double)k[n - 1]);
    for (size_t i = 0; i < 3; i++) fprintf(f, "%s   KLD: %10.6f\n", KLD_PCT_NAME[i], percentile(k, n, KLD_PCT[i]));
    fprintf(f, "Median  KLD: %10.6f\n", median(k, n));
    for (size_t i = 3; i < 6; i++) fprintf(f, "%s   KLD: %10.6f\n", KLD_PCT_NAME[i], percentile(k, n, KLD_PCT[i]));
    fprintf(f, "Minimum KLD: %10.6f\n", (double)k[0]);
    fprintf(f, "\n====== Token probability statistics ======\n");
    fprintf(f, "Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * r.dp, 100.0 * r.dp_unc);
    fprintf(f, "Maximum Δp: %6.3f%%\n", 100.0 * d[n - 1]);
    static const double DP_PCT[] = {0.999, 0.99, 0.95, 0.9, 0.75};
    static const char *const DP_NAME[] = {"99.9%", "99.0%", "95.0%", "90.0%", "75.0%"};
    for (size_t i = 0; i < 5; i++) fprintf(f, "%s   Δp: %6.3f%%\n", DP_NAME[i], 100.0 * percentile(d, n, DP_PCT[i]));
    fprintf(f, "Median  Δp: %6.3f%%\n", 100.0 * median(d, n));
    static const double DP_LOW[] = {0.25, 0.1, 0.05, 0.01, 0.001};
    static const char *const DP_LOW_NAME[] = {"25.0%", "10.0%", " 5.0%", " 1.0%", " 0.1%"};
    for (size_t i = 0; i < 5; i++)
        fprintf(f, "%s   Δp: %6.3f%%\n", DP_LOW_NAME[i], 100.0 * percentile(d, n, DP_LOW[i]));
    fprintf(f, "Minimum Δp: %6.3f%%\n", 100.0 * d[0]);
    fprintf(f, "RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * r.rms_dp, 100.0 * r.rms_dp_unc);
    fprintf(f, "Same top p: %6.3f ± %5.3f %%\n", 100.0 * r.same_top, 100.0 * r.same_top_unc);
}
