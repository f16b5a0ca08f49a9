/*
 * server/req.c - the request object both sides of the server share, and
 * the small buffer and timing helpers every server file uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

const double srv_hist_bounds[SRV_N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

void srv_hist_add(srv_hist *h, double v) {
    int b = 0;
    while (b < SRV_N_BUCKETS && v > srv_hist_bounds[b]) b++;
    h->count[b]++;
    h->sum += v;
    h->n++;
}

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool srv_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

bool srv_buf_puts(char **buf, size_t *len, size_t *cap, const char *s) {
    return srv_buf_append(buf, len, cap, s, strlen(s));
}

bool srv_buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    if ((size_t)n < sizeof tmp) return srv_buf_append(buf, len, cap, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return false;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = srv_buf_append(buf, len, cap, big, (size_t)n);
    free(big);
    return ok;
}

srv_req *srv_req_new(void) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->stop_id = -1;
    r->n_choices = 1;
    atomic_init(&r->refs, 1);
    return r;
}

void srv_req_ref(srv_req *r) { atomic_fetch_add(&r->refs, 1); }

void srv_req_unref(srv_req *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int i = 0; i < SRV_MAX_CHOICES; i++) {
        free(r->choice[i].text);
        free(r->choice[i].lp);
        free(r->choice[i].ids);
    }
    for (size_t i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->prompt);
    free(r->input_off);
    free(r->emb);
    free(r->sse);
    desk_grammar_free(r->grammar);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool srv_req_sse_append(srv_req *r, const char *s, size_t n) {
    if (r->sse_off == r->sse_len) r->sse_off = r->sse_len = 0; /* drained: reuse from the start */
    return srv_buf_append(&r->sse, &r->sse_len, &r->sse_cap, s, n);
}
