/*
 * stream.c - one streaming chat-completion request (see loadgen.h).
 *
 * Time is taken once per chunk libcurl hands over, before parsing, so the
 * parser's own cost is not charged to the server; every SSE event in that
 * chunk shares the timestamp.  A content chunk is an event whose first
 * choice carries non-empty delta.content, delta.reasoning_content or text;
 * role-only and empty chunks do not count as tokens.  Token counts come
 * from the final usage chunk when the server honours
 * stream_options.include_usage, else from the content chunks.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loadgen.h"

double lg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *member_str(json_object *o, const char *k) {
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int member_int(json_object *o, const char *k) {
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int)) return -1;
    int64_t x = json_object_get_int64(v);
    return x >= 0 && x < (1 << 30) ? (int)x : -1;
}

/* One SSE event: a chunk object.  Non-zero refuses it (malformed). */
static int on_event(void *user, const char *data, size_t len) {
    lg_stream *s = user;
    json_tokener_reset(s->tok);
    json_object *o = json_tokener_parse_ex(s->tok, data, (int)len);
    if (!o || json_tokener_get_error(s->tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        snprintf(s->rec.detail, sizeof s->rec.detail, "event %zu is not a JSON object: %.60s", s->sse.events, data);
        s->error = DESK_LOAD_ERR_MALFORMED;
        return 1;
    }
    json_object *v = NULL;
    if (json_object_object_get_ex(o, "error", &v)) { /* an error reported inside the stream */
        json_object *m = NULL;
        const char *what = json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "message", &m)
                               ? json_object_get_string(m)
                               : json_object_get_string(v);
        snprintf(s->rec.detail, sizeof s->rec.detail, "error event in the stream: %.160s", what ? what : "?");
        json_object_put(o);
        s->error = DESK_LOAD_ERR_OTHER;
        return 1;
    }
    json_object *usage = NULL;
    if (json_object_object_get_ex(o, "usage", &usage) && json_object_is_type(usage, json_type_object)) {
        s->rec.prompt_tokens = member_int(usage, "prompt_tokens");
        s->rec.completion_tokens = member_int(usage, "completion_tokens");
    }
    json_object *choices = NULL;
    if (json_object_object_get_ex(o, "choices", &choices) && json_object_is_type(choices, json_type_array) &&
        json_object_array_length(choices) > 0) {
        json_object *c = json_object_array_get_idx(choices, 0), *delta = NULL;
        if (json_object_is_type(c, json_type_object)) {
            json_object_object_get_ex(c, "delta", &delta);
            const char *text = member_str(delta, "content");
            if (!text || !*text) text = member_str(delta, "reasoning_content");
            if (!text || !*text) text = member_str(c, "text");
            if (text && *text) {
                if (s->chunks == 0) s->t_first = s->t_now;
                else if (s->rec.n_itl < s->cap_itl) s->itl[s->rec.n_itl++] = (s->t_now - s->t_last) * 1e3;
                s->t_last = s->t_now;
                s->chunks++;
            }
            if (member_str(c, "finish_reason")) s->finished = true;
        }
    }
    json_object_put(o);
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user) {
    lg_stream *s = user;
    size_t n = size * nmemb;
    s->t_now = lg_now();
    if (!s->checked) {
        s->checked = true;
        long code = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        s->rec.http_status = (int)code;
        if (code == 200) {
            /* A server that ignored "stream" answers with one JSON body. */
            char *ct = NULL;
            curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ct);
            if (!ct || !strstr(ct, "text/event-stream")) {
                snprintf(s->rec.detail, sizeof s->rec.detail, "not a stream: Content-Type %.60s", ct ? ct : "(none)");
                s->error = DESK_LOAD_ERR_MALFORMED;
                return 0;
            }
        }
    }
    if (s->rec.http_status != 200) return n; /* an error body: the status says it all */
    if (sse_feed(&s->sse, p, n) != SSE_OK) {
        if (s->error < 0) {
            s->error = DESK_LOAD_ERR_MALFORMED;
            snprintf(s->rec.detail, sizeof s->rec.detail, "SSE: %.160s", s->sse.msg);
        }
        return 0; /* aborts the transfer */
    }
    return n;
}

bool lg_stream_init(lg_stream *s, const lg_config *cfg, char *msg, size_t cap) {
    memset(s, 0, sizeof *s);
    s->error = -1;
    if (sse_init(&s->sse, 64 << 10, 256 << 10, on_event, s) != SSE_OK) {
        snprintf(msg, cap, "%s", s->sse.msg);
        return false;
    }
    s->tok = json_tokener_new_ex(32);
    s->easy = curl_easy_init();
    if (!s->tok || !s->easy) {
        snprintf(msg, cap, "cannot create an HTTP request (libcurl or memory)");
        return false;
    }
    size_t n = strlen(cfg->url);
    while (n && cfg->url[n - 1] == '/') n--;
    snprintf(s->url, sizeof s->url, "%.*s/chat/completions", (int)n, cfg->url);
    char auth[600];
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip before long prompts. */
    if (s->headers) s->headers = curl_slist_append(s->headers, "Expect:");
    if (s->headers) s->headers = curl_slist_append(s->headers, "Accept: text/event-stream");
    if (s->headers && cfg->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
        s->headers = curl_slist_append(s->headers, auth);
    }
    if (!s->headers) {
        snprintf(msg, cap, "out of memory");
        return false;
    }
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_s * 1e3));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->timeout_s * 1e3));
    /* Measure the server, not a proxy the environment names. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    return true;
}

void lg_stream_free(lg_stream *s) {
    if (s->easy) curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    if (s->tok) json_tokener_free(s->tok);
    sse_free(&s->sse);
    memset(s, 0, sizeof *s);
}

void lg_stream_begin(lg_stream *s, size_t index, const char *body, double *itl, size_t cap) {
    sse_reset(&s->sse);
    s->index = index;
    s->body = body;
    s->retried = false;
    s->itl = itl;
    s->cap_itl = cap;
    s->chunks = 0;
    s->finished = s->checked = false;
    s->error = -1;
    memset(&s->rec, 0, sizeof s->rec);
    s->rec.prompt_tokens = s->rec.completion_tokens = -1;
    s->rec.ttft_ms = -1;
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    s->t_start = s->t_now = s->t_first = s->t_last = lg_now();
}

bool lg_stream_retryable(lg_stream *s, CURLcode result) {
    long connects = 1;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
    return !s->retried && !s->checked && connects == 0 && s->error < 0 &&
           (result == CURLE_SEND_ERROR || result == CURLE_RECV_ERROR || result == CURLE_GOT_NOTHING);
}

void lg_stream_end(lg_stream *s, CURLcode result) {
    lg_record *r = &s->rec;
    double end = lg_now();
    r->e2e_ms = (end - s->t_start) * 1e3;
    r->chunks = s->chunks;
    if (s->chunks > 0) r->ttft_ms = (s->t_first - s->t_start) * 1e3;
    if (s->chunks > 1) r->mean_itl_ms = (s->t_last - s->t_first) * 1e3 / (s->chunks - 1);
    if (!s->checked) {
        long code = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        r->http_status = (int)code;
    }
    if (s->error >= 0) r->error = s->error;
    else if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST) r->error = DESK_LOAD_ERR_CONNECT;
    else if (result == CURLE_OPERATION_TIMEDOUT) r->error = DESK_LOAD_ERR_TIMEOUT;
    else if (r->http_status == 429) r->error = DESK_LOAD_ERR_HTTP_429;
    else if (r->http_status == 503) r->error = DESK_LOAD_ERR_HTTP_503;
    else if (r->http_status != 200 && r->http_status != 0) r->error = DESK_LOAD_ERR_HTTP_OTHER;
    else if (result == CURLE_OK || result == CURLE_PARTIAL_FILE || result == CURLE_RECV_ERROR ||
             result == CURLE_GOT_NOTHING)
        /* A stream counts as whole once [DONE] or a finish_reason came. */
        r->error = s->sse.done || s->finished ? -1 : DESK_LOAD_ERR_CLOSED;
    else r->error = DESK_LOAD_ERR_OTHER;
    if (r->error >= 0 && !r->detail[0]) {
        if (r->error == DESK_LOAD_ERR_CLOSED)
            snprintf(r->detail, sizeof r->detail, "the stream ended after %d content chunks, before [DONE] or a "
                     "finish_reason (%s)", s->chunks, curl_easy_strerror(result));
        else if (r->http_status != 200 && r->http_status != 0) snprintf(r->detail, sizeof r->detail, "HTTP %d", r->http_status);
        else snprintf(r->detail, sizeof r->detail, "%s", curl_easy_strerror(result));
    }
}
