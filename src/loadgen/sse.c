/*
 * sse.c - the incremental Server-Sent-Events parser (see sse.h).
 *
 * Bytes are scanned one line at a time: memchr finds the next CR or LF,
 * whatever precedes it joins the line buffer, and a line end processes the
 * line.  A CR is remembered across chunks so that the LF of a CRLF split
 * between two chunks does not end an empty line (which would dispatch the
 * event early).
 */
#include "sse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sse_status sse_init(sse_parser *p, size_t max_line, size_t max_event, sse_event_fn fn, void *user) {
    memset(p, 0, sizeof *p);
    if (max_line < 16) max_line = 16;
    if (max_event < 16) max_event = 16;
    p->max_line = max_line;
    p->max_event = max_event;
    p->on_event = fn;
    p->user = user;
    p->line = malloc(max_line + 1);
    p->data = malloc(max_event + 1);
    if (!p->line || !p->data) {
        p->status = SSE_ERR_NOMEM;
        snprintf(p->msg, sizeof p->msg, "cannot allocate %zu + %zu bytes of SSE buffers", max_line, max_event);
        return p->status;
    }
    return SSE_OK;
}

void sse_free(sse_parser *p) {
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

void sse_reset(sse_parser *p) {
    p->line_len = p->data_len = 0;
    p->has_data = p->after_cr = p->done = false;
    p->status = p->line && p->data ? SSE_OK : SSE_ERR_NOMEM;
    p->offset = p->events = 0;
    p->msg[0] = 0;
}

const char *sse_status_name(sse_status s) {
    switch (s) {
    case SSE_OK: return "ok";
    case SSE_ERR_LINE_TOO_LONG: return "line too long";
    case SSE_ERR_EVENT_TOO_LONG: return "event too long";
    case SSE_ERR_FIELD: return "unknown field";
    case SSE_ERR_NUL: return "NUL byte";
    case SSE_ERR_CALLBACK: return "event refused";
    case SSE_ERR_NOMEM: return "out of memory";
    }
    return "?";
}

static sse_status fail(sse_parser *p, sse_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static sse_status fail(sse_parser *p, sse_status s, const char *fmt, ...) {
    p->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
    return s;
}

/* An empty line: the event so far, if it had data, goes out. */
static sse_status dispatch(sse_parser *p) {
    if (!p->has_data) return SSE_OK;
    size_t n = p->data_len;
    if (n && p->data[n - 1] == '\n') n--; /* the spec drops the last joining LF */
    p->data[n] = 0;
    p->has_data = false;
    p->data_len = 0;
    if (n == 6 && memcmp(p->data, "[DONE]", 6) == 0) {
        p->done = true;
        return SSE_OK;
    }
    p->events++;
    if (p->on_event && p->on_event(p->user, p->data, n) != 0)
        return fail(p, SSE_ERR_CALLBACK, "event %zu (ending at byte %zu) was refused", p->events, p->offset);
    return SSE_OK;
}

static bool field_is(const char *name, size_t n, const char *want) {
    return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* One complete line (without its end). */
static sse_status line(sse_parser *p) {
    const char *s = p->line;
    size_t n = p->line_len;
    p->line_len = 0;
    if (n == 0) return dispatch(p);
    if (s[0] == ':') return SSE_OK; /* a comment, e.g. a keep-alive */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *value = colon ? colon + 1 : s + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len && value[0] == ' ') value++, value_len--;
    if (field_is(s, name_len, "data")) {
        if (p->data_len + value_len + 1 > p->max_event)
            return fail(p, SSE_ERR_EVENT_TOO_LONG, "an event's data exceeds %zu bytes at byte %zu", p->max_event,
                        p->offset);
        memcpy(p->data + p->data_len, value, value_len);
        p->data_len += value_len;
        p->data[p->data_len++] = '\n';
        p->has_data = true;
        return SSE_OK;
    }
    if (field_is(s, name_len, "event") || field_is(s, name_len, "id") || field_is(s, name_len, "retry"))
        return SSE_OK;
    return fail(p, SSE_ERR_FIELD, "line ending at byte %zu has an unknown field '%.*s'", p->offset,
                (int)(name_len > 32 ? 32 : name_len), s);
}

sse_status sse_feed(sse_parser *p, const char *buf, size_t n) {
    if (p->status != SSE_OK) return p->status;
    size_t i = 0;
    while (i < n) {
        if (p->done) {
            p->offset += n - i;
            return SSE_OK;
        }
        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                p->offset++;
                continue;
            }
        }
        /* The run up to the next line end (or the chunk's end). */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        size_t run = j - i;
        /* The first bad byte decides, wherever the chunks fall: a NUL at or
         * before the byte that overflows the line, else the overflow. */
        size_t room = p->max_line - p->line_len;
        const char *nul = memchr(buf + i, 0, run);
        size_t nul_at = nul ? (size_t)(nul - (buf + i)) : run;
        if (nul && nul_at <= room) return fail(p, SSE_ERR_NUL, "NUL byte at byte %zu", p->offset + nul_at);
        if (run > room)
            return fail(p, SSE_ERR_LINE_TOO_LONG, "a line exceeds %zu bytes at byte %zu", p->max_line, p->offset + room);
        memcpy(p->line + p->line_len, buf + i, run);
        p->line_len += run;
        p->offset += run;
        i = j;
        if (i == n) break;
        p->after_cr = buf[i] == '\r';
        i++;
        p->offset++;
        sse_status st = line(p);
        if (st != SSE_OK) return st;
    }
    return SSE_OK;
}
