/*
 * fuzz_sse.c - libFuzzer target for the load generator's SSE parser
 * (src/loadgen/sse.c).
 *
 * The first byte picks the chunk size (1..64) and whether the bounds are
 * tiny (so line and event limits are hit often); the rest is the stream,
 * fed in those chunks.  Whatever the bytes, the parser must end in a
 * status, hand out only NUL-terminated events of the stated length within
 * the bound, consume every byte while it is OK, and give the same events
 * when the same stream is fed at once after sse_reset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/sse.h"

typedef struct sink {
    size_t events, bytes, max_event;
    uint64_t hash;
} sink;

static int on_event(void *user, const char *data, size_t len) {
    sink *s = user;
    if (strlen(data) != len || len > s->max_event) abort();
    s->events++;
    s->bytes += len;
    for (size_t i = 0; i < len; i++) s->hash = (s->hash ^ (uint8_t)data[i]) * 1099511628211ull;
    s->hash = (s->hash ^ 0xff) * 1099511628211ull; /* event boundaries count */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)(data[0] & 63) + 1;
    bool tiny = data[0] & 64;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    sink a = {.max_event = tiny ? 48 : 4096, .hash = 14695981039346656037ull}, b = a;
    sse_parser p;
    if (sse_init(&p, tiny ? 32 : 4096, a.max_event, on_event, &a) != SSE_OK) {
        sse_free(&p);
        return 0;
    }
    sse_status st = SSE_OK;
    for (size_t i = 0; i < n && st == SSE_OK; i += chunk) st = sse_feed(&p, text + i, i + chunk <= n ? chunk : n - i);
    if (st == SSE_OK && p.offset != n) abort();
    if (st != SSE_OK && !p.msg[0]) abort();
    bool done = p.done;
    /* All at once: the same events and the same outcome. */
    sse_reset(&p);
    p.user = &b;
    sse_status st2 = sse_feed(&p, text, n);
    if (st2 != st || a.events != b.events || a.hash != b.hash || p.done != done) abort();
    sse_free(&p);
    return 0;
}
