/*
 * sse.h - an incremental parser of Server-Sent Events (the WHATWG
 * "text/event-stream" format) as OpenAI-compatible servers stream them.
 *
 * Bytes arrive in chunks of any size, split anywhere (even inside a CRLF);
 * the parser keeps the current line and the current event's data between
 * calls and hands each complete event's data to a callback.  Lines end
 * with LF, CRLF or CR; "data:" lines of one event are joined with "\n";
 * ":" lines are comments; "event", "id" and "retry" are accepted and
 * ignored; an event whose data is "[DONE]" ends the stream.  Anything a
 * server of this API would never send (an unknown field name, a NUL byte,
 * a line or event longer than the bounds given at init) is an error kind,
 * never a crash: after an error every further byte is refused.
 *
 * Ownership: sse_init allocates the two bounded buffers, sse_free
 * releases them; sse_reset reuses them for the next stream (no
 * allocation per request).
 */
#ifndef DESK_LOADGEN_SSE_H
#define DESK_LOADGEN_SSE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sse_status {
    SSE_OK = 0,
    SSE_ERR_LINE_TOO_LONG, /* a line longer than max_line bytes */
    SSE_ERR_EVENT_TOO_LONG, /* an event's data longer than max_event bytes */
    SSE_ERR_FIELD,          /* a field name other than data/event/id/retry */
    SSE_ERR_NUL,            /* a NUL byte */
    SSE_ERR_CALLBACK,       /* the event callback refused an event */
    SSE_ERR_NOMEM,          /* sse_init could not allocate */
} sse_status;

/* Called with each event's data (NUL-terminated, LEN bytes, valid only
 * during the call).  A non-zero return stops the parser with
 * SSE_ERR_CALLBACK. */
typedef int (*sse_event_fn)(void *user, const char *data, size_t len);

typedef struct sse_parser {
    char *line;          /* the line being read (max_line + 1 bytes) */
    size_t line_len, max_line;
    char *data;          /* the event's data so far (max_event + 1 bytes) */
    size_t data_len, max_event;
    bool has_data;       /* a data: line was seen since the last dispatch */
    bool after_cr;       /* the last byte was CR: a following LF ends nothing */
    bool done;           /* "[DONE]" arrived */
    sse_status status;   /* the first error, sticky */
    size_t offset;       /* bytes consumed so far (where an error is) */
    size_t events;       /* events dispatched (not counting [DONE]) */
    char msg[160];       /* what went wrong, and at which byte */
    sse_event_fn on_event;
    void *user;
} sse_parser;

/* Allocates the buffers; SSE_ERR_NOMEM when that fails (then sse_free is
 * still safe).  MAX_LINE, MAX_EVENT >= 16. */
sse_status sse_init(sse_parser *p, size_t max_line, size_t max_event, sse_event_fn fn, void *user);
void sse_free(sse_parser *p);
/* Forgets the stream so far (keeps the buffers, callback and bounds). */
void sse_reset(sse_parser *p);
/* Consumes N bytes.  Returns the parser's status: the first error sticks
 * and later calls return it without reading.  Bytes after [DONE] are
 * consumed and ignored. */
sse_status sse_feed(sse_parser *p, const char *buf, size_t n);
/* A short name of an error kind ("line too long", ...). */
const char *sse_status_name(sse_status s);

#endif
