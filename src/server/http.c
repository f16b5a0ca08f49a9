/*
 * server/http.c - desk serve's HTTP side on libmicrohttpd: routing, the
 * checks every request passes (Host, API key, sizes), and the glue between
 * a connection and the scheduler that answers it.
 *
 * One polling thread (epoll) runs every connection, so nothing here may
 * block.  A generation is handed to its model's scheduler and the
 * connection is suspended until there is something to send: a streamed
 * response's reader suspends itself when it has no bytes yet, and a
 * non-streamed request is suspended until its answer is complete; the
 * scheduler resumes it (srv_req.wake).  A client that goes away is seen
 * when its connection ends (completed()): its request is marked cancelled
 * and the scheduler frees the stream at its next step.
 *
 * Checks, in order: Host must name the listen address or a loopback name
 * (a page in the user's browser cannot then reach the server through DNS
 * rebinding) unless the server listens on a wildcard address; the API key
 * (Bearer or X-Api-Key, compared in constant time) on everything but
 * /health; the body's size while it arrives.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdarg.h>

#include "api.h"

struct srv {
    srv_config c;
    struct MHD_Daemon *d;
    srv_model **models;
    int n_models;
    atomic_bool ready;
    atomic_uint_fast64_t ids;
    atomic_int suspended;
    atomic_int open_reqs; /* requests handed to a scheduler, until MHD completes them */
    bool wildcard;
    int fd;         /* the listening socket (srv_listen's) */
    char host[256]; /* the listen host as given, for the Host check */
};

typedef struct conn {
    srv *s;
    struct MHD_Connection *mc;
    char *body;
    size_t len, cap;
    bool too_big, answered;
    srv_req *r; /* a request handed to a scheduler */
} conn;

/* ---- responses ---- */

static enum MHD_Result send_buf(conn *cs, unsigned status, const char *type, char *buf, size_t len,
                                int retry_after) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, buf ? buf : (char *)"", buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (cs->s->c.cors_origin) MHD_add_response_header(resp, "Access-Control-Allow-Origin", cs->s->c.cors_origin);
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(cs->mc, status, resp);
    MHD_destroy_response(resp);
    cs->answered = true;
    return ret;
}

static enum MHD_Result send_json(conn *cs, unsigned status, char *buf, size_t len) {
    return send_buf(cs, status, "application/json", buf, len, 0);
}

static enum MHD_Result send_error(conn *cs, unsigned status, const char *type, const char *param,
                                  const char *code, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static enum MHD_Result send_error(conn *cs, unsigned status, const char *type, const char *param,
                                  const char *code, int retry_after, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *b = NULL;
    size_t len = 0, cap = 0;
    api_error_body(&b, &len, &cap, msg, type, param, code);
    return send_buf(cs, status, "application/json", b, len, retry_after);
}

static enum MHD_Result send_api_error(conn *cs, const api_error *e) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    api_error_body(&b, &len, &cap, e->msg, e->type, e->param[0] ? e->param : NULL, e->code);
    return send_json(cs, (unsigned)e->status, b, len);
}

/* ---- checks ---- */

static bool ct_equal(const char *a, size_t la, const char *b, size_t lb) {
    volatile unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ (lb ? b[i % lb] : 0));
    return d == 0;
}

static bool key_ok(const srv *s, struct MHD_Connection *mc) {
    const char *k = s->c.api_key;
    if (!k) return true;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    const char *x = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Api-Key");
    const char *given = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) given = h + 7;
    else if (x) given = x;
    if (!given) return false;
    return ct_equal(given, strlen(given), k, strlen(k));
}

/* HOST without its port ("[::1]:8080" -> "::1"). */
static void host_name(const char *h, char *out, size_t cap) {
    size_t n;
    if (h[0] == '[') {
        const char *e = strchr(h, ']');
        n = e ? (size_t)(e - h - 1) : strlen(h + 1);
        h++;
    } else {
        const char *c = strrchr(h, ':');
        n = c ? (size_t)(c - h) : strlen(h);
    }
    if (n >= cap) n = cap - 1;
    memcpy(out, h, n);
    out[n] = '\0';
}

static bool host_ok(const srv *s, struct MHD_Connection *mc) {
    if (s->wildcard) return true;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
    if (!h) return false;
    char name[256];
    host_name(h, name, sizeof name);
    static const char *const loopback[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < sizeof loopback / sizeof *loopback; i++)
        if (strcasecmp(name, loopback[i]) == 0) return true;
    return strcasecmp(name, s->host) == 0;
}

/* ---- waking a suspended connection (from a scheduler thread) ---- */

static void wake_conn(srv_req *r) {
    conn *cs = r->conn;
    atomic_fetch_sub(&cs->s->suspended, 1);
    MHD_resume_connection(cs->mc);
}

/* Suspends CS until R has something (mu held by the caller). */
static void suspend_locked(conn *cs, srv_req *r) {
    r->suspended = true;
    atomic_fetch_add(&cs->s->suspended, 1);
    MHD_suspend_connection(cs->mc);
}

/* ---- streaming ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    conn *cs = cls;
    srv_req *r = cs->r;
    ssize_t n = 0;
    pthread_mutex_lock(&r->mu);
    size_t avail = r->sse_len - r->sse_off;
    if (avail) {
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, r->sse + r->sse_off, (size_t)n);
        r->sse_off += (size_t)n;
    } else if (r->finished) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        suspend_locked(cs, r);
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- routes ---- */

static srv_model *find_model(conn *cs, json_object *o, api_error *e) {
    srv *s = cs->s;
    const char *name = api_model_name(o, e);
    if (name && !name[0]) return NULL;
    if (!name) {
        if (s->n_models == 1) return s->models[0];
        snprintf(e->msg, sizeof e->msg, "'model' is required: this server has %d models (GET /v1/models)", s->n_models);
        e->status = 400;
        e->type = "invalid_request_error";
        snprintf(e->param, sizeof e->param, "model");
        return NULL;
    }
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(srv_model_name(s->models[i]), name) == 0) return s->models[i];
    e->status = 404;
    e->type = "invalid_request_error";
    e->code = "model_not_found";
    snprintf(e->param, sizeof e->param, "model");
    snprintf(e->msg, sizeof e->msg, "The model '%.200s' does not exist on this server (GET /v1/models lists them)",
             name);
    return NULL;
}

/* The body as JSON and the model it names; NULL (the error answered, its
 * result in *RES) when either is wrong.  The caller puts *O. */
static srv_model *open_body(conn *cs, json_object **o, enum MHD_Result *res) {
    api_error e = {0};
    *o = api_parse(cs->body, cs->len, cs->s->c.max_json_depth, &e);
    srv_model *m = *o ? find_model(cs, *o, &e) : NULL;
    if (!m) {
        if (*o) json_object_put(*o);
        *o = NULL;
        *res = send_api_error(cs, &e);
    }
    return m;
}

static api_limits limits_of(const srv *s, srv_model *m) {
    desk_model *dm = srv_model_desk(m);
    (void)dm;
    api_limits l = {
        .tok = desk_model_tokenizer(srv_model_desk(m)),
        .fmt = srv_model_chat_fmt(m),
        .eot = srv_model_eot(m),
        .n_ctx = srv_model_n_ctx(m),
        .n_parallel = srv_model_parallel(m),
        .max_tokens = s->c.max_tokens_cap,
        .no_manifest = s->c.no_manifest,
    };
    return l;
}

static enum MHD_Result answer_done(conn *cs) {
    srv_req *r = cs->r;
    char *b = NULL;
    size_t len = 0, cap = 0;
    pthread_mutex_lock(&r->mu);
    bool failed = r->err[0] != '\0';
    char msg[256];
    snprintf(msg, sizeof msg, "%s", r->err);
    if (!failed) {
        if (r->kind == SRV_EMBED) api_write_embeddings(r, &b, &len, &cap);
        else api_write_generation(r, &b, &len, &cap);
    }
    pthread_mutex_unlock(&r->mu);
    if (failed) {
        bool busy = strstr(msg, "shutting down") != NULL;
        return send_error(cs, busy ? 503 : 500, "server_error", NULL, NULL, 0, "%s", msg);
    }
    if (!b) return send_error(cs, 500, "server_error", NULL, NULL, 0, "out of memory for the response");
    return send_json(cs, 200, b, len);
}

static enum MHD_Result post_generation(conn *cs, srv_kind kind) {
    srv *s = cs->s;
    json_object *o;
    enum MHD_Result res;
    srv_model *m = open_body(cs, &o, &res);
    if (!m) return res;
    api_error e = {0};
    srv_req *r = srv_req_new();
    if (!r) {
        json_object_put(o);
        return send_error(cs, 500, "server_error", NULL, NULL, 0, "out of memory");
    }
    r->model = m;
    api_limits lim = limits_of(s, m);
    int rc = kind == SRV_EMBED ? api_read_embeddings(o, &lim, r, &e) : api_read_generation(o, kind, &lim, r, &e);
    json_object_put(o);
    if (rc) {
        srv_req_unref(r);
        return send_api_error(cs, &e);
    }
    if (!r->seed_given) {
        uint64_t x = (uint64_t)srv_now() * 0x9e3779b97f4a7c15ull ^ atomic_fetch_add(&s->ids, 1) * 0xbf58476d1ce4e5b9ull;
        r->sp.seed = x >> 1;
    }
    api_new_id(r, kind == SRV_CHAT ? "chatcmpl" : kind == SRV_COMPLETION ? "cmpl" : "embd",
               atomic_fetch_add(&s->ids, 1));
    r->wake = wake_conn;
    r->conn = cs;
    cs->r = r;
    int retry = 1;
    if (!srv_model_submit(m, r, &retry)) {
        cs->r = NULL;
        srv_req_unref(r);
        return send_error(cs, 503, "server_error", NULL, "server_busy", retry,
                          "the server is busy: every stream of '%s' is in use and its queue is full; retry later",
                          srv_model_name(m));
    }
    atomic_fetch_add(&s->open_reqs, 1);
    if (r->stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, cs, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        if (s->c.cors_origin) MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->c.cors_origin);
        enum MHD_Result ret = MHD_queue_response(cs->mc, 200, resp);
        MHD_destroy_response(resp);
        cs->answered = true;
        return ret;
    }
    pthread_mutex_lock(&r->mu);
    bool done = r->finished;
    if (!done) suspend_locked(cs, r);
    pthread_mutex_unlock(&r->mu);
    return done ? answer_done(cs) : MHD_YES;
}

static enum MHD_Result get_models(conn *cs) {
    srv *s = cs->s;
    char *b = NULL;
    size_t len = 0, cap = 0;
    srv_buf_puts(&b, &len, &cap, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < s->n_models; i++) {
        const char *n = srv_model_name(s->models[i]);
        srv_buf_puts(&b, &len, &cap, i ? ",{\"id\":" : "{\"id\":");
        api_json_str(&b, &len, &cap, n, strlen(n));
        srv_buf_printf(&b, &len, &cap, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"desk\",\"meta\":{\"n_ctx\":%d}}",
                       srv_model_created(s->models[i]), srv_model_n_ctx(s->models[i]));
    }
    srv_buf_puts(&b, &len, &cap, "]}");
    return send_json(cs, 200, b, len);
}

static enum MHD_Result get_metrics(conn *cs) {
    srv *s = cs->s;
    char *b = NULL;
    size_t len = 0, cap = 0;
    srv_buf_printf(&b, &len, &cap, "desk_ready %d\n", atomic_load(&s->ready) ? 1 : 0);
    for (int i = 0; i < s->n_models; i++) srv_model_metrics(s->models[i], &b, &len, &cap);
    return send_buf(cs, 200, "text/plain; version=0.0.4", b, len, 0);
}

/* Answers {"KEY": the text of N IDS}, control tokens written out with
 * SPECIAL. */
static enum MHD_Result send_text_of(conn *cs, const desk_tokenizer *t, const desk_token *ids, size_t n,
                                    bool special, const char *key) {
    size_t need = desk_detokenize(t, ids, n, special, NULL, 0);
    char *text = malloc(need + 1), *b = NULL;
    size_t len = 0, cap = 0;
    if (!text) return send_error(cs, 500, "server_error", NULL, NULL, 0, "out of memory");
    desk_detokenize(t, ids, n, special, text, need + 1);
    srv_buf_printf(&b, &len, &cap, "{\"%s\":", key);
    api_json_str(&b, &len, &cap, text, need);
    srv_buf_puts(&b, &len, &cap, "}");
    free(text);
    return send_json(cs, 200, b, len);
}

static enum MHD_Result post_tokenize(conn *cs, bool detok) {
    json_object *o;
    enum MHD_Result res;
    srv_model *m = open_body(cs, &o, &res);
    if (!m) return res;
    const desk_tokenizer *t = desk_model_tokenizer(srv_model_desk(m));
    char *b = NULL;
    size_t len = 0, cap = 0;
    json_object *v = NULL;
    if (!detok) {
        json_object_object_get_ex(o, "content", &v);
        json_object *sp = NULL;
        bool special = json_object_object_get_ex(o, "add_special", &sp) && json_object_get_boolean(sp);
        if (!v || !json_object_is_type(v, json_type_string)) {
            json_object_put(o);
            return send_error(cs, 400, "invalid_request_error", "content", NULL, 0, "'content' must be a string");
        }
        size_t n = (size_t)json_object_get_string_len(v) + 16, got = 0;
        desk_token *ids = malloc(n * sizeof *ids);
        desk_err err = {0};
        desk_status st = ids ? desk_tokenize(t, json_object_get_string(v), (size_t)json_object_get_string_len(v),
                                             special ? DESK_TOK_ADD_SPECIAL | DESK_TOK_PARSE_SPECIAL : 0, ids, n,
                                             &got, &err)
                             : DESK_E_NOMEM;
        json_object_put(o);
        if (st != DESK_OK) {
            free(ids);
            return send_error(cs, 400, "invalid_request_error", "content", NULL, 0, "%s", ids ? err.msg : "out of memory");
        }
        srv_buf_puts(&b, &len, &cap, "{\"tokens\":[");
        for (size_t i = 0; i < got; i++) srv_buf_printf(&b, &len, &cap, "%s%d", i ? "," : "", ids[i]);
        srv_buf_puts(&b, &len, &cap, "]}");
        free(ids);
        return send_json(cs, 200, b, len);
    }
    json_object_object_get_ex(o, "tokens", &v);
    size_t n, at;
    desk_token *ids = api_token_ids(v, t, &n, &at);
    json_object_put(o);
    if (!ids)
        return send_error(cs, 400, "invalid_request_error", "tokens", NULL, 0,
                          "'tokens' must be an array of token ids in [0, %d)", desk_tokenizer_n_vocab(t));
    enum MHD_Result res2 = send_text_of(cs, t, ids, n, false, "content");
    free(ids);
    return res2;
}

/* llama-server's POST /apply-template: the prompt a chat body renders to
 * (tools, tool calls and results included), as text with its markers. */
static enum MHD_Result post_apply_template(conn *cs) {
    json_object *o;
    enum MHD_Result res;
    srv_model *m = open_body(cs, &o, &res);
    if (!m) return res;
    api_limits lim = limits_of(cs->s, m);
    api_error e = {0};
    srv_req *r = srv_req_new();
    if (!r) {
        json_object_put(o);
        return send_error(cs, 500, "server_error", NULL, NULL, 0, "out of memory");
    }
    int rc = api_read_messages(o, r, &lim, &e);
    json_object_put(o);
    if (rc) {
        srv_req_unref(r);
        return send_api_error(cs, &e);
    }
    res = send_text_of(cs, lim.tok, r->prompt, (size_t)r->n_prompt, true, "prompt");
    srv_req_unref(r);
    return res;
}

/* ---- the handler ---- */

static enum MHD_Result route(conn *cs, const char *url, const char *method) {
    srv *s = cs->s;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get) return send_error(cs, 405, "invalid_request_error", NULL, NULL, 0, "use GET /health");
        bool ready = atomic_load(&s->ready);
        char *b = strdup(ready ? "{\"status\":\"ok\"}" : "{\"status\":\"loading model\"}");
        return send_json(cs, ready ? 200 : 503, b, b ? strlen(b) : 0);
    }
    if (!atomic_load(&s->ready))
        return send_error(cs, 503, "server_error", NULL, "loading", 5, "the server is loading its models; retry later");
    static const struct {
        const char *path;
        bool post;
        int what;
    } routes[] = {
        {"/v1/chat/completions", true, 0}, {"/chat/completions", true, 0}, {"/v1/completions", true, 1},
        {"/completions", true, 1},         {"/v1/embeddings", true, 2},    {"/embeddings", true, 2},
        {"/v1/models", false, 3},          {"/models", false, 3},          {"/metrics", false, 4},
        {"/tokenize", true, 5},            {"/detokenize", true, 6},          {"/apply-template", true, 7},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (strcmp(url, routes[i].path) != 0) continue;
        if (routes[i].post ? !post : !get)
            return send_error(cs, 405, "invalid_request_error", NULL, NULL, 0, "use %s %s",
                              routes[i].post ? "POST" : "GET", url);
        if (cs->too_big)
            return send_error(cs, 413, "invalid_request_error", NULL, "request_too_large", 0,
                              "the request body is larger than %zu bytes", s->c.max_body);
        switch (routes[i].what) {
        case 0: return post_generation(cs, SRV_CHAT);
        case 1: return post_generation(cs, SRV_COMPLETION);
        case 2: return post_generation(cs, SRV_EMBED);
        case 3: return get_models(cs);
        case 4: return get_metrics(cs);
        case 5: return post_tokenize(cs, false);
        case 6: return post_tokenize(cs, true);
        default: return post_apply_template(cs);
        }
    }
    return send_error(cs, 404, "invalid_request_error", NULL, "not_found", 0, "no route %s %s", method, url);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    srv *s = cls;
    conn *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->s = s;
        cs->mc = mc;
        *con_cls = cs;
        if (!host_ok(s, mc))
            return send_error(cs, 403, "invalid_request_error", NULL, "bad_host", 0,
                              "the Host header does not name this server (a DNS-rebinding defence; "
                              "listen on 0.0.0.0 to accept any name)");
        if (strcmp(method, "OPTIONS") == 0) {
            if (!s->c.cors_origin) return send_error(cs, 405, "invalid_request_error", NULL, NULL, 0, "CORS is off (--cors-origin)");
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->c.cors_origin);
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
            enum MHD_Result ret = MHD_queue_response(mc, 204, resp);
            MHD_destroy_response(resp);
            cs->answered = true;
            return ret;
        }
        if (strcmp(url, "/health") != 0 && !key_ok(s, mc))
            return send_error(cs, 401, "invalid_request_error", NULL, "invalid_api_key", 0,
                              "missing or wrong API key (Authorization: Bearer KEY or X-Api-Key)");
        /* A body over the limit is read and dropped, then refused: a client
         * still sending would not see a 413 sent before it finished.  Past
         * 16 times the limit it is refused at once (the connection closes). */
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > 16 * (unsigned long long)s->c.max_body)
            return send_error(cs, 413, "invalid_request_error", NULL, "request_too_large", 0,
                              "the request body is larger than %zu bytes", s->c.max_body);
        cs->too_big = declared > s->c.max_body;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->answered && !cs->too_big) {
            if (cs->len + *upload_size > s->c.max_body) cs->too_big = true;
            else if (!srv_buf_append(&cs->body, &cs->len, &cs->cap, upload, *upload_size)) return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->answered) return MHD_YES;
    if (cs->r) { /* resumed: answer if complete, else sleep again */
        srv_req *r = cs->r;
        pthread_mutex_lock(&r->mu);
        bool done = r->finished;
        if (!done) suspend_locked(cs, r);
        pthread_mutex_unlock(&r->mu);
        return done ? answer_done(cs) : MHD_YES;
    }
    return route(cs, url, method);
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    conn *cs = *con_cls;
    if (!cs) return;
    if (cs->r) {
        srv_req *r = cs->r;
        atomic_fetch_sub(&cs->s->open_reqs, 1);
        pthread_mutex_lock(&r->mu);
        if (!r->finished) r->cancelled = true;
        r->wake = NULL;
        r->conn = NULL;
        pthread_mutex_unlock(&r->mu);
        srv_req_unref(r);
    }
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

static bool is_wildcard(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
    return false;
}

desk_status srv_listen(const srv_config *c, int *fd, desk_err *err) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    int gai = getaddrinfo(c->host, port, &hints, &ai);
    if (gai != 0 || !ai)
        return desk_errf(err, DESK_E_ARG, "serve: cannot use --host %s: %s", c->host, gai_strerror(gai));
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int on = 1;
    bool ok = s >= 0 && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0;
    /* An IPv6 address serves IPv6 only, as libmicrohttpd's own socket did. */
    if (ok && ai->ai_family == AF_INET6) ok = setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0;
    ok = ok && bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, SOMAXCONN) == 0;
    freeaddrinfo(ai);
    if (!ok) {
        if (s >= 0) close(s);
        return desk_errf(err, DESK_E_IO, "serve: cannot listen on %s:%d (in use, or not an address of this machine)",
                         c->host, c->port);
    }
    *fd = s;
    return DESK_OK;
}

static bool is_wildcard_fd(int fd, bool *v6) {
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &n) != 0) return false;
    *v6 = ss.ss_family == AF_INET6;
    return is_wildcard((const struct sockaddr *)&ss);
}

desk_status srv_start(const srv_config *c, int fd, srv_model **models, int n_models, srv **out, desk_err *err) {
    srv *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return desk_errf(err, DESK_E_NOMEM, "serve: out of memory");
    }
    s->c = *c;
    s->models = models;
    s->n_models = n_models;
    snprintf(s->host, sizeof s->host, "%s", c->host);
    bool v6 = false;
    s->wildcard = is_wildcard_fd(fd, &v6);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (v6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, handler, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        close(fd);
        free(s);
        return desk_errf(err, DESK_E_IO, "serve: cannot start the HTTP server on %s:%d", c->host, c->port);
    }
    s->fd = fd;
    *out = s;
    return DESK_OK;
}

int srv_fd_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &n) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
}

void srv_set_models(srv *s, srv_model **models, int n_models) {
    s->models = models;
    s->n_models = n_models;
}

void srv_set_ready(srv *s, bool ready) { atomic_store(&s->ready, ready); }

int srv_port(const srv *s) {
    return srv_fd_port(s->fd);
}

void srv_quiesce(srv *s) {
    atomic_store(&s->ready, false);
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

int srv_busy(const srv *s) {
    srv *w = (srv *)s;
    return atomic_load(&w->suspended) + atomic_load(&w->open_reqs);
}

void srv_stop(srv *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
