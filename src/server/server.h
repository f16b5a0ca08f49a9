/*
 * server/server.h - desk serve's private parts: the models it serves, the
 * jobs their schedulers run, and what the HTTP side and the scheduler
 * share about a request.
 *
 * The server is a program on top of libdesk (include/ only), like the CLI.
 * Threads: libmicrohttpd runs every connection from one polling thread
 * (epoll); each model has one scheduler thread that owns its context and
 * decodes all of that model's streams together (continuous batching).  A
 * request is a srv_req shared by the two sides: the HTTP side fills its
 * input once, then only reads its output under its mutex; the scheduler
 * appends output under that mutex and wakes the connection.
 *
 * Ownership: a srv_req is reference counted (one reference for the
 * connection, one while a scheduler holds it); srv_req_unref frees it when
 * the last one goes.  Models belong to the server (srv_free).
 */
#ifndef DESK_SERVER_H
#define DESK_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk.h"

#define SRV_MAX_LORAS 8 /* adapters per model */
#define SRV_MAX_MODELS 8
#define SRV_MAX_STOPS 4
#define SRV_MAX_TOP_LOGPROBS 20
#define SRV_MAX_CHOICES 8

typedef enum srv_kind { SRV_CHAT, SRV_COMPLETION, SRV_EMBED } srv_kind;

/* Latency histograms (seconds) for /metrics: Prometheus buckets. */
#define SRV_N_BUCKETS 12
typedef struct srv_hist {
    uint64_t count[SRV_N_BUCKETS + 1]; /* the last: +Inf */
    double sum;
    uint64_t n;
} srv_hist;
extern const double srv_hist_bounds[SRV_N_BUCKETS];
void srv_hist_add(srv_hist *h, double v);

/* Counters of one model, under its scheduler's mutex. */
typedef struct srv_metrics {
    uint64_t requests, requests_failed, requests_rejected, tokens_in, tokens_out, tokens_cached;
    srv_hist ttft, itl;
} srv_metrics;

/* One token's log-probability and its alternatives, for `logprobs`. */
typedef struct srv_logprob {
    desk_token id;
    float logprob;
    int n_top;
    desk_token top_id[SRV_MAX_TOP_LOGPROBS];
    float top_lp[SRV_MAX_TOP_LOGPROBS];
} srv_logprob;

/* One choice's output (n > 1 gives several; each runs in its own slot). */
typedef struct srv_choice {
    char *text; /* all text so far (malloc'd, grows) */
    size_t len, cap;
    srv_logprob *lp; /* one per generated token when logprobs asked (grows) */
    size_t n_lp, cap_lp;
    const char *finish; /* "stop", "length", NULL while running */
    int n_gen;
    bool done;
    bool role_sent; /* streaming chat: the first delta carried the role */
    bool calls;     /* the text is tool calls (finish "tool_calls", or cut short) */
    int tc_sent;    /* streaming tool calls: calls whose first chunk went out */
    size_t tc_args_sent; /* bytes of the last of them's arguments sent */
    /* With a manifest asked: the generated ids (malloc'd, grows) and why
     * generation ended, in desk_stop_reason_str's words. */
    desk_token *ids;
    size_t n_ids, cap_ids;
    const char *why;
} srv_choice;

/* The tool-call formats (tools.c, tool_prompt.c): the model's own where
 * its chat format has one, Hermes/Qwen's <tool_call> JSON otherwise. */
typedef enum srv_call_syntax {
    SRV_CALLS_HERMES,  /* <tool_call>{"name", "arguments"}</tool_call>, several */
    SRV_CALLS_LLAMA3,  /* {"name", "parameters"}: one call, the whole answer */
    SRV_CALLS_MISTRAL, /* [TOOL_CALLS][{"name", "arguments", "id"}, ...] */
} srv_call_syntax;
#define SRV_MAX_CALLS 8

typedef struct srv_model srv_model;

typedef struct srv_req {
    /* ---- input: set before submission, read-only after ---- */
    srv_kind kind;
    srv_model *model;
    bool stream, include_usage;
    int n_choices;
    int max_tokens;
    desk_sampler_params sp;
    bool seed_given;
    bool ignore_eos; /* llama-server's extension: never end on an end-of-generation token */
    bool deterministic; /* desk's extension: batch-invariant arithmetic for this request */
    bool manifest;      /* desk's extension: a replay manifest with the response */
    char *stops[SRV_MAX_STOPS];
    size_t n_stops;
    desk_token stop_id; /* the chat format's end of turn, or -1 */
    bool logprobs;
    int top_logprobs;
    desk_token *prompt; /* malloc'd; embeddings: every input, one after another */
    int n_prompt;
    int n_inputs;      /* embeddings: inputs; input i is prompt[input_off[i] .. input_off[i+1]) */
    int *input_off;    /* malloc'd, n_inputs + 1 */
    bool emb_base64;   /* encoding_format "base64" */
    /* Structured output (tools.c): the grammar the text must follow, from
     * response_format or the tools (owned, freed with the request; NULL:
     * none).  With grammar_later (tool_choice "auto") it applies only once
     * the text opens with CALL_OPEN (and the grammar accepts what came);
     * with tools the answer is read as tool calls in CALL_SYNTAX. */
    desk_grammar *grammar;
    bool grammar_later;
    bool tools;
    srv_call_syntax call_syntax;
    const char *call_open; /* static: "<tool_call>", "{", "[" */
    char id[48];
    long long created;
    double t_submit;

    /* ---- output: under mu ---- */
    pthread_mutex_t mu;
    srv_choice choice[SRV_MAX_CHOICES];
    int n_done;        /* choices finished */
    int n_cached;      /* prompt tokens found in the cache (first choice) */
    float *emb;        /* embeddings: n_inputs * n_embd floats (malloc'd by the scheduler) */
    int n_embd;
    char *sse;         /* streaming: bytes not yet sent (malloc'd, grows) */
    size_t sse_len, sse_off, sse_cap;
    bool finished;     /* every choice done (or the request failed) */
    char err[256];     /* non-empty: the request failed in the scheduler */
    bool cancelled;    /* the client went away: the scheduler drops it */
    /* How the scheduler wakes the connection (set by the HTTP side). */
    void (*wake)(struct srv_req *r);
    void *conn;
    bool suspended;

    atomic_int refs;
} srv_req;

srv_req *srv_req_new(void);
void srv_req_ref(srv_req *r);
void srv_req_unref(srv_req *r);
/* Appends to the request's SSE buffer (mu held); false when out of memory. */
bool srv_req_sse_append(srv_req *r, const char *s, size_t n);

/* ---- models and their schedulers (sched.c) ---- */

typedef struct srv_model_opts {
    int n_parallel; /* slots */
    int n_ctx;      /* per slot */
    int n_threads;
    int queue_max;  /* waiting requests beyond the slots */
    int n_batch;
    /* LoRA adapters (--lora) loaded with the model and applied to every
     * request: paths borrowed for srv_model_new, their scales. */
    const char *lora_path[SRV_MAX_LORAS];
    float lora_scale[SRV_MAX_LORAS];
    int n_loras;
    bool deterministic; /* --deterministic: every request batch-invariant */
} srv_model_opts;

/* Loads PATH (already resolved) as NAME and starts its scheduler.  The
 * model is owned by the caller (srv_model_free). */
desk_status srv_model_new(const char *name, const char *path, const srv_model_opts *o,
                          srv_model **out, desk_err *err);
/* Stops the scheduler (unfinished requests end with an error) and frees. */
void srv_model_free(srv_model *m);

const char *srv_model_name(const srv_model *m);
desk_model *srv_model_desk(srv_model *m);
desk_chat_fmt srv_model_chat_fmt(const srv_model *m);
desk_token srv_model_eot(const srv_model *m);
int srv_model_n_ctx(const srv_model *m);
int srv_model_parallel(const srv_model *m);
long long srv_model_created(const srv_model *m);
/* What a replay manifest records about the model: its file, the options
 * it runs with, and the sha256 of the file (and of adapter I, 0 <=
 * I < o->n_loras), hashed on the first call (about a second per GB; the
 * caller waits) and kept.  NULL with ERR filled when a file cannot be
 * read.  Everything returned belongs to the model. */
const char *srv_model_path(const srv_model *m);
const srv_model_opts *srv_model_options(const srv_model *m);
const char *srv_model_sha256(srv_model *m, int lora, desk_err *err);
/* Whether every request runs batch-invariant (--deterministic). */
bool srv_model_deterministic(const srv_model *m);

/* Queues R (one reference taken per choice).  DESK_E_BUSY-like failure:
 * returns false with *RETRY_AFTER set when the queue is full. */
bool srv_model_submit(srv_model *m, srv_req *r, int *retry_after);

/* Appends this model's Prometheus lines to BUF (malloc'd, grows). */
void srv_model_metrics(srv_model *m, char **buf, size_t *len, size_t *cap);

/* Ends every queued and running request at the next step (streams get
 * their last chunk, finish_reason "length"); used on SIGINT/SIGTERM. */
void srv_model_shutdown(srv_model *m);
/* Requests queued or running (for a clean shutdown's wait). */
int srv_model_busy(srv_model *m);

/* ---- formatting the scheduler asks for (api.c), with R->mu held ---- */
void api_stream_text(srv_req *r, int ci, const char *text, size_t n, const srv_logprob *lp);
void api_stream_finish(srv_req *r, int ci);
void api_stream_end(srv_req *r); /* usage when asked, then [DONE] */
void api_stream_error(srv_req *r, const char *msg);
/* Streaming tool calls: sends what choice CI's text now adds to its calls
 * (a call's first chunk once its name is complete, then argument bytes). */
void api_stream_tools(srv_req *r, int ci);
/* Whether TEXT (LEN bytes) is one or more complete tool calls in R's
 * syntax and nothing else but whitespace. */
bool api_text_is_calls(const srv_req *r, const char *text, size_t len);

/* ---- the HTTP side (http.c, api.c) ---- */

typedef struct srv_config {
    const char *host;
    int port;
    const char *api_key;     /* NULL: none */
    const char *cors_origin; /* NULL: no CORS headers */
    size_t max_body;
    int max_json_depth;
    int max_tokens_cap;
    int timeout_s;
    int max_connections;
    bool no_manifest; /* refuse "manifest": true (it names the model's path) */
} srv_config;

typedef struct srv srv;
/* Resolves c->host and listens on c->port: *FD receives the socket.  The
 * name lookup and the socket come before the sandbox, which allows neither
 * (cmd_serve confines itself between the two calls). */
desk_status srv_listen(const srv_config *c, int *fd, desk_err *err);
/* The TCP port socket FD is bound to (0 if unknown). */
int srv_fd_port(int fd);
/* Starts the HTTP server's thread on FD (srv_listen's), which it takes
 * over (closed on failure too). */
desk_status srv_start(const srv_config *c, int fd, srv_model **models, int n_models, srv **out,
                      desk_err *err);
/* The models to route to, once loaded (before srv_set_ready(true)). */
void srv_set_models(srv *s, srv_model **models, int n_models);
void srv_set_ready(srv *s, bool ready);
/* Stops listening (connections already open go on) and reports not ready. */
void srv_quiesce(srv *s);
/* Generation and embedding requests not yet fully answered: suspended
 * waiting for a scheduler, or still sending (a stream's last chunks). */
int srv_busy(const srv *s);
/* Stops accepting, lets streams end, frees the HTTP side (not the models). */
void srv_stop(srv *s);
int srv_port(const srv *s);

/* Small helpers shared by the server's files. */
double srv_now(void);
bool srv_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n);
bool srv_buf_puts(char **buf, size_t *len, size_t *cap, const char *s);
bool srv_buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
