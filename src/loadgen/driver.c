/*
 * driver.c - runs a level's requests from one thread on libcurl's multi
 * interface (see loadgen.h).
 *
 * Closed loop: CONCURRENCY slots, each starting its next request as soon
 * as its last one ends (the way a fixed number of users behave).  Open
 * loop: arrival times drawn up front as a Poisson process (exponential
 * gaps from a seeded generator, so a run is repeatable) and requests
 * started when their time comes, whether or not earlier ones finished; a
 * request that finds every slot busy waits for one, and its latencies
 * count from its actual start.  The loop sleeps in curl_multi_poll until
 * a socket is ready or the next arrival is due, so the client's CPU time
 * stays a small fraction of the wall time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "loadgen.h"

bool lg_run_init(lg_run *r, size_t n, int max_tokens) {
    memset(r, 0, sizeof *r);
    r->per_request = (size_t)(max_tokens > 0 ? max_tokens : 1);
    r->recs = calloc(n ? n : 1, sizeof *r->recs);
    r->itl = malloc((n ? n : 1) * r->per_request * sizeof *r->itl);
    r->n_recs = n;
    if (!r->recs || !r->itl) {
        lg_run_free(r);
        return false;
    }
    return true;
}

void lg_run_free(lg_run *r) {
    free(r->recs);
    free(r->itl);
    memset(r, 0, sizeof *r);
}

static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

uint64_t lg_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool lg_driver_init(lg_driver *d, const lg_config *cfg, size_t n_slots, char *msg, size_t cap) {
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    if (n_slots < 1) n_slots = 1;
    d->slots = calloc(n_slots, sizeof *d->slots);
    d->free_slots = calloc(n_slots, sizeof *d->free_slots);
    d->multi = curl_multi_init();
    if (!d->slots || !d->free_slots || !d->multi) {
        snprintf(msg, cap, "cannot set up %zu HTTP requests (memory or libcurl)", n_slots);
        return false;
    }
    /* Keep one idle connection per slot between levels. */
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)n_slots);
    for (; d->n_slots < n_slots; d->n_slots++)
        if (!lg_stream_init(&d->slots[d->n_slots], cfg, msg, cap)) {
            d->n_slots++; /* partly set up: lg_stream_free handles it */
            return false;
        }
    return true;
}

void lg_driver_free(lg_driver *d) {
    for (size_t i = 0; i < d->n_slots; i++) lg_stream_free(&d->slots[i]);
    if (d->multi) curl_multi_cleanup(d->multi);
    free(d->slots);
    free(d->free_slots);
    memset(d, 0, sizeof *d);
}

bool lg_drive(lg_driver *d, const char *const *bodies, size_t n_bodies, size_t n, int concurrency, double rate,
              uint64_t seed, lg_run *run, char *msg, size_t cap) {
    size_t n_use = rate > 0 ? d->n_slots : (size_t)(concurrency > 0 ? concurrency : 1);
    if (n_use > d->n_slots) n_use = d->n_slots;
    size_t n_free = 0;
    for (size_t i = n_use; i-- > 0;) d->free_slots[n_free++] = &d->slots[i];
    double *arrival = rate > 0 ? malloc((n ? n : 1) * sizeof *arrival) : NULL;
    if (rate > 0 && !arrival) {
        snprintf(msg, cap, "out of memory for %zu arrival times", n);
        return false;
    }
    if (arrival) {
        uint64_t state = seed;
        double t = 0;
        for (size_t i = 0; i < n; i++) {
            /* u in (0, 1]: -log(u) / rate is an exponential gap. */
            double u = ((double)(lg_splitmix64(&state) >> 11) + 1.0) / 9007199254740992.0;
            t += -log(u) / rate;
            arrival[i] = t;
        }
    }
    CURLM *multi = d->multi;
    bool ok = true;
    size_t next = 0, done = 0, in_flight = 0;
    double t0 = lg_now(), cpu0 = cpu_seconds();
    while (ok && done < n) {
        double now = lg_now() - t0;
        while (next < n && n_free > 0 && (!arrival || arrival[next] <= now)) {
            lg_stream *s = d->free_slots[--n_free];
            lg_stream_begin(s, next, bodies[next % n_bodies], run->itl + next * run->per_request, run->per_request);
            if (curl_multi_add_handle(multi, s->easy) != CURLM_OK) {
                snprintf(msg, cap, "libcurl refused a request");
                ok = false;
                break;
            }
            in_flight++;
            next++;
        }
        int running = 0;
        if (!ok || curl_multi_perform(multi, &running) != CURLM_OK) {
            if (ok) snprintf(msg, cap, "libcurl's multi interface failed");
            ok = false;
            break;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            lg_stream *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(multi, m->easy_handle);
            if (lg_stream_retryable(s, res)) {
                lg_stream_begin(s, s->index, s->body, s->itl, s->cap_itl);
                s->retried = true;
                if (curl_multi_add_handle(multi, s->easy) == CURLM_OK) continue;
                snprintf(msg, cap, "libcurl refused a request");
                ok = false;
                break;
            }
            in_flight--;
            lg_stream_end(s, res);
            run->recs[s->index] = s->rec;
            d->free_slots[n_free++] = s;
            done++;
        }
        if (done == n) break;
        int wait_ms = 50;
        if (arrival && next < n && n_free > 0) {
            double due = (arrival[next] - (lg_now() - t0)) * 1e3;
            wait_ms = due <= 0 ? 0 : due < 50 ? (int)ceil(due) : 50;
        } else if (next < n && n_free > 0) {
            wait_ms = 0; /* closed loop: a slot is free, start at once */
        }
        if (wait_ms > 0 && curl_multi_poll(multi, NULL, 0, wait_ms, NULL) != CURLM_OK) {
            snprintf(msg, cap, "libcurl's multi interface failed while waiting");
            ok = false;
        }
    }
    run->wall_s = lg_now() - t0;
    run->cpu_s = cpu_seconds() - cpu0;
    /* After a failure, requests still in flight are abandoned. */
    for (size_t i = 0; !ok && in_flight && i < d->n_slots; i++) curl_multi_remove_handle(multi, d->slots[i].easy);
    free(arrival);
    return ok;
}
