/*
 * test_sse.c - the load generator's Server-Sent-Events parser
 * (src/loadgen/sse.c): events as OpenAI-compatible servers stream them,
 * every way of ending a line, multi-line data, comments and ignored
 * fields, [DONE], every split of a stream into two and into single-byte
 * chunks giving the same events, and each malformed input reported as its
 * error kind with the byte where it happened.
 */
#include "util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/sse.h"

/* What the callback saw: the events' data joined with '|'. */
typedef struct seen {
    char buf[4096];
    size_t len;
    int n;
    int refuse_at; /* refuse the event with this 1-based number (0: none) */
} seen;

static int record(void *user, const char *data, size_t len) {
    seen *s = user;
    s->n++;
    assert_int_equal(strlen(data), len); /* NUL-terminated at LEN */
    if (s->len + len + 1 < sizeof s->buf) {
        if (s->len) s->buf[s->len++] = '|';
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        s->buf[s->len] = 0;
    }
    return s->refuse_at == s->n;
}

/* Feeds TEXT in chunks of at most CHUNK bytes (0: all at once). */
static sse_status run(const char *text, size_t chunk, seen *s, sse_parser *p, size_t max_line) {
    memset(s, 0, sizeof *s);
    assert_int_equal(sse_init(p, max_line, 256, record, s), SSE_OK);
    size_t n = strlen(text);
    sse_status st = SSE_OK;
    if (!chunk) chunk = n ? n : 1;
    for (size_t i = 0; i < n && st == SSE_OK; i += chunk) st = sse_feed(p, text + i, i + chunk <= n ? chunk : n - i);
    return st;
}

static void expect(const char *text, const char *want, int n_events, bool done) {
    seen s;
    sse_parser p;
    size_t sizes[] = {0, 1, 2, 3, 7};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        assert_int_equal(run(text, sizes[k], &s, &p, 1024), SSE_OK);
        if (strcmp(s.buf, want) != 0) fail_msg("chunk %zu: got '%s', want '%s'", sizes[k], s.buf, want);
        assert_int_equal(s.n, n_events);
        assert_int_equal(p.done, done);
        sse_free(&p);
    }
}

static void test_openai_stream(void **state) {
    (void)state;
    expect("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n", "{\"a\":1}|{\"b\":2}", 2, true);
    /* CRLF and lone CR line ends, as well as LF. */
    expect("data: x\r\n\r\ndata: y\r\rdata: z\n\n", "x|y|z", 3, false);
    /* Data lines join with LF; "data" alone is an empty line of data; no
     * space after the colon is fine and only one space is dropped. */
    expect("data: one\ndata:two\ndata\ndata:  three\n\n", "one\ntwo\n\n three", 1, false);
    /* Comments, ignored fields, an empty event and blank lines dispatch nothing. */
    expect(": keep-alive\n\nevent: message\nid: 7\nretry: 100\n\n\n\ndata: q\n\n", "q", 1, false);
    /* An event not ended by a blank line is not dispatched. */
    expect("data: a\n\ndata: b\n", "a", 1, false);
    /* After [DONE] everything is ignored, even garbage. */
    expect("data: a\n\ndata: [DONE]\n\nbogus\0", "a", 1, true);
    /* "[DONE]" inside a longer event is data. */
    expect("data: [DONE]x\n\n", "[DONE]x", 1, false);
}

/* Every split of a stream into two chunks gives the events of the whole. */
static void test_every_split(void **state) {
    (void)state;
    const char *text = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n: ping\r\n"
                       "data: a\rdata: b\r\n\r\ndata: c\n\ndata: [DONE]\r\n\r\n";
    const char *want = "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}|a\nb|c";
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        seen s = {0};
        sse_parser p;
        assert_int_equal(sse_init(&p, 1024, 1024, record, &s), SSE_OK);
        assert_int_equal(sse_feed(&p, text, cut), SSE_OK);
        assert_int_equal(sse_feed(&p, text + cut, n - cut), SSE_OK);
        if (strcmp(s.buf, want) != 0) fail_msg("cut at %zu: got '%s'", cut, s.buf);
        assert_true(p.done);
        assert_int_equal(p.offset, n);
        /* Reset reuses the buffers for the next stream. */
        sse_reset(&p);
        memset(&s, 0, sizeof s);
        assert_int_equal(sse_feed(&p, "data: z\n\n", 9), SSE_OK);
        assert_string_equal(s.buf, "z");
        assert_false(p.done);
        sse_free(&p);
    }
}

static void expect_error(const char *text, size_t len, sse_status want, const char *msg_part, size_t max_line) {
    for (size_t chunk = 1; chunk <= len; chunk = chunk * 2 + 1) {
        seen s = {0};
        sse_parser p;
        assert_int_equal(sse_init(&p, max_line, 64, record, &s), SSE_OK);
        sse_status st = SSE_OK;
        for (size_t i = 0; i < len && st == SSE_OK; i += chunk) st = sse_feed(&p, text + i, i + chunk <= len ? chunk : len - i);
        if (st != want) fail_msg("chunk %zu: status %s, want %s", chunk, sse_status_name(st), sse_status_name(want));
        if (!strstr(p.msg, msg_part)) fail_msg("message '%s' lacks '%s'", p.msg, msg_part);
        /* Sticky: nothing more is read. */
        assert_int_equal(sse_feed(&p, "data: x\n\n", 9), want);
        sse_free(&p);
    }
}

static void test_malformed(void **state) {
    (void)state;
    expect_error("data: a\n\nHTTP/1.1 200 OK\n\n", 27, SSE_ERR_FIELD, "unknown field 'HTTP/1.1 200 OK'", 1024);
    expect_error("{\"error\":\"x\"}\n", 14, SSE_ERR_FIELD, "unknown field '{\"error\"'", 1024);
    expect_error("data: a\0b\n\n", 11, SSE_ERR_NUL, "NUL byte at byte 7", 1024);
    /* Line bound 16: a 17-byte line fails wherever the chunks fall. */
    expect_error("data: 0123456789ab\n\n", 20, SSE_ERR_LINE_TOO_LONG, "exceeds 16 bytes at byte 16", 16);
    /* The first bad byte decides, however the stream is split: a NUL
     * past the line bound is never reached, one within it is. */
    expect_error("data: 0123456789abcdef\0\n\n", 25, SSE_ERR_LINE_TOO_LONG, "at byte 16", 16);
    expect_error("data: 012345678\0abcdef\n\n", 25, SSE_ERR_NUL, "NUL byte at byte 15", 16);
    /* Event bound 64: four 20-byte data lines overflow it. */
    char big[256] = "";
    for (int i = 0; i < 4; i++) strcat(big, "data: 0123456789abcdefghij\n");
    strcat(big, "\n");
    expect_error(big, strlen(big), SSE_ERR_EVENT_TOO_LONG, "exceeds 64 bytes", 1024);
    /* The callback refusing an event. */
    seen s = {.refuse_at = 2};
    sse_parser p;
    assert_int_equal(sse_init(&p, 64, 64, record, &s), SSE_OK);
    s.refuse_at = 2;
    assert_int_equal(sse_feed(&p, "data: a\n\ndata: b\n\ndata: c\n\n", 27), SSE_ERR_CALLBACK);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(p.msg, "event 2"));
    sse_free(&p);
}

/* Deterministic junk never crashes and always ends in a status. */
static void test_junk(void **state) {
    (void)state;
    unsigned long long x = 88172645463325252ull;
    char buf[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 500) + 1;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            static const char alphabet[] = "data: \r\n:[DONE]{}x\0";
            buf[i] = (round & 1) ? (char)(x & 0xff) : alphabet[x % (sizeof alphabet - 1)];
        }
        seen s = {0};
        sse_parser p;
        assert_int_equal(sse_init(&p, 32, 48, record, &s), SSE_OK);
        sse_status st = sse_feed(&p, buf, n);
        assert_true(st >= SSE_OK && st <= SSE_ERR_CALLBACK);
        if (st == SSE_OK) assert_int_equal(p.offset, n);
        sse_free(&p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
