/*
 * server/api.h - OpenAI's request and response shapes (api.c): reading a
 * body into a srv_req and writing what goes back.  Every writer appends to
 * a malloc'd buffer the caller owns (srv_buf_append's convention).
 */
#ifndef DESK_SERVER_API_H
#define DESK_SERVER_API_H

#include <json-c/json.h>

#include "server.h"

/* A request error: HTTP status and OpenAI's error fields. */
typedef struct api_error {
    int status;
    const char *type; /* "invalid_request_error", ... */
    const char *code; /* NULL or "model_not_found", ... */
    char param[64];   /* empty: none */
    char msg[512];
} api_error;

/* What a request is checked against: its model's facts and the server's caps. */
typedef struct api_limits {
    const desk_tokenizer *tok;
    desk_chat_fmt fmt;
    desk_token eot;
    int n_ctx;      /* per stream */
    int n_parallel; /* most choices (n) */
    int max_tokens; /* cap on max_tokens */
    bool no_manifest; /* --no-manifest */
} api_limits;

/* Fills E as a 400 naming PARAM (may be NULL) with the message FMT; -1. */
int api_bad(api_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* api_bad for a chat prompt that did not tokenize: ST from rendering into
 * N_CTX slots (GOT: the tokens it took), MSG what to say otherwise.
 * Returns 0 when ST is DESK_OK. */
int api_prompt_bad(api_error *e, desk_status st, size_t got, int n_ctx, const char *msg);
/* O's member K, NULL when absent or null (borrowed from O). */
json_object *api_field(json_object *o, const char *k);
/* A message's content C (string, or text parts joined) as *OUT (*N bytes,
 * malloc'd, the caller frees it); WHERE names it in errors. */
int api_content_text(json_object *c, const char *where, char **out, size_t *n, api_error *e);

/* tools.c: a chat body's messages, tools, tool_choice and response_format
 * into R's prompt and grammar; -1 with E filled on a bad field. */
int api_read_messages(json_object *o, srv_req *r, const api_limits *lim, api_error *e);
/* tool_prompt.c: the tool-call syntax of chat format F. */
srv_call_syntax api_call_syntax(desk_chat_fmt f);
/* For the formats with their own tool-call syntax (Llama 3.x, Mistral):
 * the messages MSGS (a non-empty array) with the functions FNS (N_FN of
 * them, 0: none shown) rendered as the format's template does, into
 * R->prompt.  1 (nothing done) for other formats and for conversations
 * without tools, calls or results; -1 with E filled on a bad field. */
int api_tool_prompt(json_object *msgs, json_object *const *fns, int n_fn, srv_req *r, const api_limits *lim,
                    api_error *e);
/* Choice C's tool calls as the "tool_calls" array of a message. */
void api_write_tool_calls(const srv_req *r, const srv_choice *c, char **b, size_t *len, size_t *cap);

/* A stream chunk's opening ("data: " and the common fields) and its end,
 * which queues it on R's stream (R->mu held). */
void api_chunk_begin(srv_req *r, char **b, size_t *len, size_t *cap);
void api_chunk_end(srv_req *r, char **b, size_t *len, size_t *cap);

/* Parses BODY as one JSON object (nesting at most MAX_DEPTH); NULL with E
 * filled otherwise.  The caller releases the result with json_object_put. */
json_object *api_parse(const char *body, size_t len, int max_depth, api_error *e);
/* The body's "model" (borrowed from O), NULL when absent, "" (E filled)
 * when not a string. */
const char *api_model_name(json_object *o, api_error *e);
/* V as token ids of T's vocabulary: a malloc'd array of *N ids (the
 * caller frees it; one element even for an empty V).  NULL when V is not
 * an array (*BAD = SIZE_MAX), an element is not an id in range (*BAD = its
 * index) or memory runs out (*BAD = SIZE_MAX, *N = 0 too). */
desk_token *api_token_ids(json_object *v, const desk_tokenizer *t, size_t *n, size_t *bad);
/* Fill R from a chat or completions body; -1 with E filled on a bad field. */
int api_read_generation(json_object *o, srv_kind kind, const api_limits *lim, srv_req *r, api_error *e);
int api_read_embeddings(json_object *o, const api_limits *lim, srv_req *r, api_error *e);
void api_new_id(srv_req *r, const char *prefix, uint64_t counter);

void api_write_generation(const srv_req *r, char **b, size_t *len, size_t *cap);
void api_write_embeddings(const srv_req *r, char **b, size_t *len, size_t *cap);
void api_error_body(char **b, size_t *len, size_t *cap, const char *msg, const char *type,
                    const char *param, const char *code);
/* S (N bytes) as a JSON string literal. */
bool api_json_str(char **b, size_t *len, size_t *cap, const char *s, size_t n);

#endif
