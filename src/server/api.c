/*
 * server/api.c - the OpenAI request and response shapes: reading a
 * request body into a srv_req (with an error naming the field), and
 * writing completions, chat completions, their stream chunks, embeddings
 * and errors.
 *
 * Parsing uses json-c with a depth limit; unknown fields are ignored, as
 * OpenAI's own server does for fields it does not know, but a known field
 * of the wrong type or out of range is a 400 naming it.  Stream chunks are
 * written by hand (a few fields, once per token) rather than built as
 * json-c objects.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "../cli/manifest.h"

/* ---- JSON text ---- */

bool api_json_str(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!srv_buf_puts(b, len, cap, "\"")) return false;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = 0;
            esc = u;
        }
        if (!esc) continue;
        if (!srv_buf_append(b, len, cap, s + run, i - run)) return false;
        if (!srv_buf_append(b, len, cap, esc, strlen(esc))) return false;
        run = i + 1;
    }
    return srv_buf_append(b, len, cap, s + run, n - run) && srv_buf_puts(b, len, cap, "\"");
}

/* Text that is valid UTF-8 for JSON: a token piece may be half a
 * character; its invalid bytes become U+FFFD (as OpenAI's "token" does). */
static size_t utf8_clean(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = k > 0 && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = ((unsigned char)s[i + j] >> 6) == 2;
        if (ok) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

/* ---- errors ---- */

void api_error_body(char **b, size_t *len, size_t *cap, const char *msg, const char *type,
                    const char *param, const char *code) {
    srv_buf_puts(b, len, cap, "{\"error\":{\"message\":");
    api_json_str(b, len, cap, msg, strlen(msg));
    srv_buf_printf(b, len, cap, ",\"type\":\"%s\",\"param\":", type);
    if (param) api_json_str(b, len, cap, param, strlen(param));
    else srv_buf_puts(b, len, cap, "null");
    srv_buf_puts(b, len, cap, ",\"code\":");
    if (code) api_json_str(b, len, cap, code, strlen(code));
    else srv_buf_puts(b, len, cap, "null");
    srv_buf_puts(b, len, cap, "}}");
}

int api_bad(api_error *e, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = 400;
    e->type = "invalid_request_error";
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    return -1;
}

/* ---- reading a request ---- */

json_object *api_parse(const char *body, size_t len, int max_depth, api_error *e) {
    json_tokener *tk = json_tokener_new_ex(max_depth);
    if (!tk) {
        api_bad(e, NULL, "out of memory parsing the body");
        e->status = 500;
        return NULL;
    }
    json_object *o = len ? json_tokener_parse_ex(tk, body, (int)len) : NULL;
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t at = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    if (!len) {
        api_bad(e, NULL, "the request body is empty; it must be a JSON object");
        return NULL;
    }
    if (je != json_tokener_success || !o) {
        json_object_put(o);
        api_bad(e, NULL, "the body is not valid JSON (%s at byte %zu)",
            je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je), at);
        return NULL;
    }
    while (at < len && (body[at] == ' ' || body[at] == '\n' || body[at] == '\r' || body[at] == '\t')) at++;
    if (at != len) {
        json_object_put(o);
        api_bad(e, NULL, "the body has bytes after its JSON value (at byte %zu)", at);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        api_bad(e, NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

json_object *api_field(json_object *o, const char *k) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null)) return NULL;
    return v;
}

static int get_num(json_object *o, const char *k, double lo, double hi, bool *given, double *out,
                   api_error *e) {
    json_object *v = api_field(o, k);
    *given = v != NULL;
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return api_bad(e, k, "'%s' must be a number", k);
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi)) return api_bad(e, k, "'%s' is %g; it must be between %g and %g", k, d, lo, hi);
    *out = d;
    return 0;
}

static int get_int(json_object *o, const char *k, int64_t lo, int64_t hi, bool *given, int64_t *out,
                   api_error *e) {
    json_object *v = api_field(o, k);
    *given = v != NULL;
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int)) return api_bad(e, k, "'%s' must be an integer", k);
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < lo || x > hi)
        return api_bad(e, k, "'%s' must be an integer between %" PRId64 " and %" PRId64, k, lo, hi);
    *out = x;
    return 0;
}

static int get_bool(json_object *o, const char *k, bool *out, api_error *e) {
    json_object *v = api_field(o, k);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_boolean)) return api_bad(e, k, "'%s' must be true or false", k);
    *out = json_object_get_boolean(v);
    return 0;
}

const char *api_model_name(json_object *o, api_error *e) {
    json_object *v = api_field(o, "model");
    if (!v) return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        api_bad(e, "model", "'model' must be a string");
        return "";
    }
    return json_object_get_string(v);
}

/* The text of a message's content: a string, or an array of parts of which
 * the "text" ones are joined. */
int api_content_text(json_object *c, const char *where, char **out, size_t *n, api_error *e) {
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (!c) return srv_buf_puts(out, n, &cap, "") ? 0 : api_bad(e, where, "out of memory");
    if (json_object_is_type(c, json_type_string))
        return srv_buf_append(out, n, &cap, json_object_get_string(c), (size_t)json_object_get_string_len(c))
                   ? 0
                   : api_bad(e, where, "out of memory");
    if (!json_object_is_type(c, json_type_array))
        return api_bad(e, where, "'%s' must be a string or an array of content parts", where);
    srv_buf_puts(out, n, &cap, "");
    for (size_t i = 0; i < json_object_array_length(c); i++) {
        json_object *p = json_object_array_get_idx(c, i);
        json_object *type = json_object_is_type(p, json_type_object) ? api_field(p, "type") : NULL;
        json_object *text = json_object_is_type(p, json_type_object) ? api_field(p, "text") : NULL;
        if (!type || !json_object_is_type(type, json_type_string) || strcmp(json_object_get_string(type), "text") != 0 ||
            !text || !json_object_is_type(text, json_type_string)) {
            free(*out);
            *out = NULL;
            return api_bad(e, where, "%s[%zu]: only parts {\"type\": \"text\", \"text\": ...} are supported", where, i);
        }
        srv_buf_append(out, n, &cap, json_object_get_string(text), (size_t)json_object_get_string_len(text));
    }
    return 0;
}

static int tokenize_into(const api_limits *lim, const char *s, size_t n, bool special, desk_token **out,
                         int *n_out, const char *param, api_error *e) {
    size_t cap = (size_t)lim->n_ctx, got = 0;
    *out = malloc(cap * sizeof **out);
    if (!*out) return api_bad(e, param, "out of memory");
    desk_err err = {0};
    desk_status st = desk_tokenize(lim->tok, s, n, special ? DESK_TOK_ADD_SPECIAL | DESK_TOK_PARSE_SPECIAL : 0,
                                   *out, cap, &got, &err);
    if (st == DESK_E_RANGE) return api_bad(e, param, "'%s' takes %zu tokens but the context holds %d", param, got, lim->n_ctx);
    if (st != DESK_OK) return api_bad(e, param, "%s", err.msg);
    *n_out = (int)got;
    return 0;
}

desk_token *api_token_ids(json_object *v, const desk_tokenizer *t, size_t *n, size_t *bad) {
    *n = 0;
    *bad = SIZE_MAX;
    if (!v || !json_object_is_type(v, json_type_array)) return NULL;
    size_t len = json_object_array_length(v);
    desk_token *ids = malloc((len ? len : 1) * sizeof *ids);
    if (!ids) return NULL;
    for (size_t i = 0; i < len; i++) {
        json_object *x = json_object_array_get_idx(v, i);
        int64_t id = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
        if (id < 0 || id >= desk_tokenizer_n_vocab(t)) {
            free(ids);
            *bad = i;
            return NULL;
        }
        ids[i] = (desk_token)id;
    }
    *n = len;
    return ids;
}

static int read_prompt(json_object *o, srv_req *r, const api_limits *lim, api_error *e) {
    json_object *p = api_field(o, "prompt");
    if (!p) return api_bad(e, "prompt", "'prompt' is required");
    if (json_object_is_type(p, json_type_array) && json_object_array_length(p) == 1 &&
        json_object_is_type(json_object_array_get_idx(p, 0), json_type_string))
        p = json_object_array_get_idx(p, 0);
    if (json_object_is_type(p, json_type_string))
        return tokenize_into(lim, json_object_get_string(p), (size_t)json_object_get_string_len(p), true,
                             &r->prompt, &r->n_prompt, "prompt", e);
    if (json_object_is_type(p, json_type_array)) { /* token ids */
        size_t n = json_object_array_length(p), at;
        if (n > (size_t)lim->n_ctx) return api_bad(e, "prompt", "'prompt' has %zu tokens but the context holds %d", n, lim->n_ctx);
        r->prompt = api_token_ids(p, lim->tok, &n, &at);
        if (!r->prompt && at == SIZE_MAX) return api_bad(e, "prompt", "out of memory");
        if (!r->prompt)
            return api_bad(e, "prompt", "'prompt' must be a string, one string in an array, or an array of token ids "
                       "in [0, %d); element %zu is not", desk_tokenizer_n_vocab(lim->tok), at);
        r->n_prompt = (int)n;
        return 0;
    }
    return api_bad(e, "prompt", "'prompt' must be a string, one string in an array, or an array of token ids");
}

static int read_stops(json_object *o, srv_req *r, api_error *e) {
    json_object *s = api_field(o, "stop");
    if (!s) return 0;
    json_object *one[1] = {s};
    size_t n = 1;
    bool arr = json_object_is_type(s, json_type_array);
    if (arr) n = json_object_array_length(s);
    if (n > SRV_MAX_STOPS) return api_bad(e, "stop", "'stop' has %zu strings; at most %d", n, SRV_MAX_STOPS);
    for (size_t i = 0; i < n; i++) {
        json_object *v = arr ? json_object_array_get_idx(s, i) : one[0];
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
            json_object_get_string_len(v) > 256)
            return api_bad(e, "stop", "'stop' must be a string or an array of up to %d non-empty strings (256 bytes at most)",
                       SRV_MAX_STOPS);
        r->stops[r->n_stops] = strdup(json_object_get_string(v));
        if (!r->stops[r->n_stops]) return api_bad(e, "stop", "out of memory");
        r->n_stops++;
    }
    return 0;
}

int api_read_generation(json_object *o, srv_kind kind, const api_limits *lim, srv_req *r, api_error *e) {
    r->kind = kind;
    r->sp = desk_sampler_defaults();
    r->sp.repeat_penalty = 1.0f;
    bool given;
    double d;
    int64_t x;
    if (kind == SRV_CHAT ? api_read_messages(o, r, lim, e) : read_prompt(o, r, lim, e)) return -1;
    if (r->n_prompt == 0) return api_bad(e, kind == SRV_CHAT ? "messages" : "prompt", "the prompt is empty");
    if (r->n_prompt >= lim->n_ctx)
        return api_bad(e, kind == SRV_CHAT ? "messages" : "prompt",
                   "the prompt has %d tokens; the context holds %d (leave room for the answer)", r->n_prompt, lim->n_ctx);
    int room = lim->n_ctx - r->n_prompt;
    r->max_tokens = room < lim->max_tokens ? room : lim->max_tokens;
    const char *mt[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        if (get_int(o, mt[i], 1, lim->max_tokens, &given, &x, e)) return -1;
        if (given) r->max_tokens = (int)(x < room ? x : room);
    }
    if (get_num(o, "temperature", 0, 2, &given, &d, e)) return -1;
    if (given) r->sp.temp = (float)d;
    if (get_num(o, "top_p", 0, 1, &given, &d, e)) return -1;
    if (given) r->sp.top_p = d == 0 ? 1e-6f : (float)d;
    if (get_num(o, "presence_penalty", -2, 2, &given, &d, e)) return -1;
    if (given) r->sp.presence_penalty = (float)d;
    if (get_num(o, "frequency_penalty", -2, 2, &given, &d, e)) return -1;
    if (given) r->sp.frequency_penalty = (float)d;
    if (get_int(o, "seed", INT64_MIN, INT64_MAX, &r->seed_given, &x, e)) return -1;
    if (r->seed_given) r->sp.seed = (uint64_t)x;
    if (get_int(o, "n", 1, SRV_MAX_CHOICES, &given, &x, e)) return -1;
    r->n_choices = given ? (int)x : 1;
    if (r->n_choices > lim->n_parallel)
        return api_bad(e, "n", "'n' is %d but this model serves %d streams at once (--parallel)", r->n_choices,
                   lim->n_parallel);
    if (read_stops(o, r, e)) return -1;
    if (get_bool(o, "stream", &r->stream, e)) return -1;
    if (get_bool(o, "ignore_eos", &r->ignore_eos, e)) return -1;
    if (get_bool(o, "deterministic", &r->deterministic, e)) return -1;
    json_object *so = api_field(o, "stream_options");
    if (so) {
        if (!json_object_is_type(so, json_type_object)) return api_bad(e, "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &r->include_usage, e)) return -1;
    }
    if (kind == SRV_CHAT) {
        if (get_bool(o, "logprobs", &r->logprobs, e)) return -1;
        if (get_int(o, "top_logprobs", 0, SRV_MAX_TOP_LOGPROBS, &given, &x, e)) return -1;
        if (given) {
            if (!r->logprobs) return api_bad(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
            r->top_logprobs = (int)x;
        }
    } else {
        if (get_int(o, "logprobs", 0, 5, &given, &x, e)) return -1;
        if (given) {
            r->logprobs = true;
            r->top_logprobs = (int)x;
        }
    }
    json_object *u = api_field(o, "user");
    if (u && !json_object_is_type(u, json_type_string)) return api_bad(e, "user", "'user' must be a string");
    r->stop_id = kind == SRV_CHAT ? lim->eot : -1;
    if (get_bool(o, "manifest", &r->manifest, e)) return -1;
    if (r->manifest && lim->no_manifest)
        return api_bad(e, "manifest", "this server gives no replay manifests (desk serve --no-manifest)");
    /* desk replay runs the engine alone: one choice, no constraint, the
     * end-of-generation tokens as they are. */
    if (r->manifest && (r->n_choices > 1 || r->grammar || r->tools || r->ignore_eos))
        return api_bad(e, "manifest",
                       "a replay manifest records one plain generation: not with n > 1, response_format, tools or ignore_eos");
    if (r->manifest) {
        desk_err err = {0};
        const srv_model_opts *mo = srv_model_options(r->model);
        for (int i = -1; i < mo->n_loras; i++)
            if (!srv_model_sha256(r->model, i, &err))
                return api_bad(e, "manifest", "cannot hash the model's files: %s", err.msg);
    }
    return 0;
}

int api_read_embeddings(json_object *o, const api_limits *lim, srv_req *r, api_error *e) {
    r->kind = SRV_EMBED;
    json_object *in = api_field(o, "input");
    if (!in) return api_bad(e, "input", "'input' is required");
    size_t n = json_object_is_type(in, json_type_array) ? json_object_array_length(in) : 1;
    if (n == 0 || n > 256) return api_bad(e, "input", "'input' must be a string or an array of 1 to 256 strings");
    r->input_off = calloc(n + 1, sizeof *r->input_off);
    size_t cap = 0, len = 0;
    if (!r->input_off) return api_bad(e, "input", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_is_type(in, json_type_array) ? json_object_array_get_idx(in, i) : in;
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
            return api_bad(e, "input", "'input' must be a non-empty string or an array of them (element %zu is not)", i);
        desk_token *t = NULL;
        int nt = 0;
        int rc = tokenize_into(lim, json_object_get_string(v), (size_t)json_object_get_string_len(v), true, &t, &nt,
                               "input", e);
        if (rc == 0 && nt == 0) rc = api_bad(e, "input", "input %zu has no tokens", i);
        if (rc == 0 && len + (size_t)nt > cap) {
            size_t c = cap ? cap : 1024;
            while (c < len + (size_t)nt) c *= 2;
            desk_token *p = realloc(r->prompt, c * sizeof *p);
            if (!p) rc = api_bad(e, "input", "out of memory");
            else {
                r->prompt = p;
                cap = c;
            }
        }
        if (rc == 0) {
            memcpy(r->prompt + len, t, (size_t)nt * sizeof *t);
            len += (size_t)nt;
        }
        free(t);
        if (rc) return rc;
        r->input_off[i + 1] = (int)len;
    }
    r->n_inputs = (int)n;
    r->n_prompt = (int)len;
    json_object *f = api_field(o, "encoding_format");
    if (f) {
        const char *v = json_object_is_type(f, json_type_string) ? json_object_get_string(f) : "";
        if (strcmp(v, "base64") == 0) r->emb_base64 = true;
        else if (strcmp(v, "float") != 0)
            return api_bad(e, "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    }
    return 0;
}

/* ---- responses ---- */

static void put_head(char **b, size_t *len, size_t *cap, const srv_req *r, const char *object) {
    srv_buf_printf(b, len, cap, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", r->id, object,
                   r->created);
    const char *name = srv_model_name(r->model);
    api_json_str(b, len, cap, name, strlen(name));
    /* What else decides the bits: the kernels and the arithmetic mode. */
    const bool det = r->deterministic || srv_model_deterministic(r->model);
    srv_buf_printf(b, len, cap, ",\"system_fingerprint\":\"desk-%s-%s-%s\"", desk_version(), desk_isa_current(NULL),
                   det ? "deterministic" : "default");
}

static void put_token_text(char **b, size_t *len, size_t *cap, const desk_tokenizer *t, desk_token id, bool bytes) {
    char raw[256], clean[1024];
    size_t n = desk_tokenizer_decode_piece(t, id, false, raw, sizeof raw);
    if (n > sizeof raw) n = sizeof raw;
    size_t c = utf8_clean(raw, n, clean, sizeof clean);
    api_json_str(b, len, cap, clean, c);
    if (!bytes) return;
    srv_buf_puts(b, len, cap, ",\"bytes\":[");
    for (size_t i = 0; i < n; i++) srv_buf_printf(b, len, cap, "%s%u", i ? "," : "", (unsigned char)raw[i]);
    srv_buf_puts(b, len, cap, "]");
}

static void put_chat_logprob(char **b, size_t *len, size_t *cap, const desk_tokenizer *t, const srv_logprob *lp) {
    srv_buf_puts(b, len, cap, "{\"token\":");
    put_token_text(b, len, cap, t, lp->id, true);
    srv_buf_printf(b, len, cap, ",\"logprob\":%.6g,\"top_logprobs\":[", (double)lp->logprob);
    for (int k = 0; k < lp->n_top; k++) {
        srv_buf_puts(b, len, cap, k ? ",{\"token\":" : "{\"token\":");
        put_token_text(b, len, cap, t, lp->top_id[k], true);
        srv_buf_printf(b, len, cap, ",\"logprob\":%.6g}", (double)lp->top_lp[k]);
    }
    srv_buf_puts(b, len, cap, "]}");
}

/* Completions' logprobs: parallel arrays over the tokens. */
static void put_completion_logprobs(char **b, size_t *len, size_t *cap, const desk_tokenizer *t,
                                    const srv_logprob *lp, size_t n, size_t text_off) {
    srv_buf_puts(b, len, cap, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) srv_buf_puts(b, len, cap, ",");
        put_token_text(b, len, cap, t, lp[i].id, false);
    }
    srv_buf_puts(b, len, cap, "],\"token_logprobs\":[");
    for (size_t i = 0; i < n; i++) srv_buf_printf(b, len, cap, "%s%.6g", i ? "," : "", (double)lp[i].logprob);
    srv_buf_puts(b, len, cap, "],\"top_logprobs\":[");
    for (size_t i = 0; i < n; i++) {
        srv_buf_puts(b, len, cap, i ? ",{" : "{");
        for (int k = 0; k < lp[i].n_top; k++) {
            if (k) srv_buf_puts(b, len, cap, ",");
            put_token_text(b, len, cap, t, lp[i].top_id[k], false);
            srv_buf_printf(b, len, cap, ":%.6g", (double)lp[i].top_lp[k]);
        }
        srv_buf_puts(b, len, cap, "}");
    }
    srv_buf_puts(b, len, cap, "],\"text_offset\":[");
    size_t off = text_off;
    for (size_t i = 0; i < n; i++) {
        srv_buf_printf(b, len, cap, "%s%zu", i ? "," : "", off);
        off += desk_tokenizer_decode_piece(t, lp[i].id, false, NULL, 0);
    }
    srv_buf_puts(b, len, cap, "]}");
}

static void put_usage(char **b, size_t *len, size_t *cap, const srv_req *r) {
    int gen = 0;
    for (int i = 0; i < r->n_choices; i++) gen += r->choice[i].n_gen;
    srv_buf_printf(b, len, cap,
                   "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                   "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                   r->n_prompt, gen, r->n_prompt + gen, r->n_cached);
}

/* R's replay manifest (desk replay reads it from a file) as ,"manifest":{...}.
 * The files were hashed when the request was read. */
static void put_manifest(const srv_req *r, char **b, size_t *len, size_t *cap) {
    srv_model *m = r->model;
    const srv_model_opts *mo = srv_model_options(m);
    const srv_choice *c = &r->choice[0];
    desk_err err = {0};
    const char *lsha[SRV_MAX_LORAS];
    for (int i = 0; i < mo->n_loras; i++) lsha[i] = srv_model_sha256(m, i, &err);
    desk_sampler_params sp = r->sp;
    const cli_run_record rec = {.prompt = r->prompt, .n_prompt = (size_t)r->n_prompt, .stop_ids = &r->stop_id,
                                .n_stop_ids = r->stop_id >= 0, .out = c->ids, .n_out = c->n_ids,
                                .text = c->text, .text_len = c->len};
    const cli_manifest_info info = {
        .model_path = srv_model_path(m), .model_sha256 = srv_model_sha256(m, -1, &err), .n_loras = mo->n_loras,
        .lora_path = mo->lora_path, .lora_sha256 = lsha, .lora_scale = mo->lora_scale,
        .deterministic = r->deterministic || mo->deterministic, .n_threads = mo->n_threads, .n_ctx = mo->n_ctx,
        .cache_k = DESK_CACHE_F16, .cache_v = DESK_CACHE_F16, .sp = &sp, .n_predict = r->max_tokens,
        .stops = (const char *const *)r->stops, .n_stops = r->n_stops, .stop_reason = c->why ? c->why : "?",
        .rec = &rec};
    json_object *o = cli_manifest_object(&info);
    if (!o) return;
    srv_buf_puts(b, len, cap, ",\"manifest\":");
    srv_buf_puts(b, len, cap, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

void api_write_generation(const srv_req *r, char **b, size_t *len, size_t *cap) {
    const desk_tokenizer *t = desk_model_tokenizer(srv_model_desk(r->model));
    bool chat = r->kind == SRV_CHAT;
    put_head(b, len, cap, r, chat ? "chat.completion" : "text_completion");
    srv_buf_puts(b, len, cap, ",\"choices\":[");
    for (int i = 0; i < r->n_choices; i++) {
        const srv_choice *c = &r->choice[i];
        srv_buf_printf(b, len, cap, "%s{\"index\":%d,", i ? "," : "", i);
        if (chat) {
            srv_buf_puts(b, len, cap, "\"message\":{\"role\":\"assistant\",\"content\":");
            if (c->calls) { /* with finish "length" the last call is unfinished */
                srv_buf_puts(b, len, cap, "null,\"tool_calls\":");
                api_write_tool_calls(r, c, b, len, cap);
            } else {
                api_json_str(b, len, cap, c->text ? c->text : "", c->len);
            }
            srv_buf_puts(b, len, cap, "},\"logprobs\":");
            if (r->logprobs) {
                srv_buf_puts(b, len, cap, "{\"content\":[");
                for (size_t k = 0; k < c->n_lp; k++) {
                    if (k) srv_buf_puts(b, len, cap, ",");
                    put_chat_logprob(b, len, cap, t, &c->lp[k]);
                }
                srv_buf_puts(b, len, cap, "]}");
            } else {
                srv_buf_puts(b, len, cap, "null");
            }
        } else {
            srv_buf_puts(b, len, cap, "\"text\":");
            api_json_str(b, len, cap, c->text ? c->text : "", c->len);
            srv_buf_puts(b, len, cap, ",\"logprobs\":");
            if (r->logprobs) put_completion_logprobs(b, len, cap, t, c->lp, c->n_lp, 0);
            else srv_buf_puts(b, len, cap, "null");
        }
        srv_buf_printf(b, len, cap, ",\"finish_reason\":\"%s\"}", c->finish ? c->finish : "length");
    }
    srv_buf_puts(b, len, cap, "],");
    put_usage(b, len, cap, r);
    if (r->manifest) put_manifest(r, b, len, cap);
    srv_buf_puts(b, len, cap, "}");
}

/* OpenAI's base64 embeddings: the float32 values' bytes (little-endian,
 * as this machine stores them) in standard base64, as one JSON string. */
static void put_base64(char **b, size_t *len, size_t *cap, const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    srv_buf_puts(b, len, cap, "\"");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        srv_buf_append(b, len, cap, q, 4);
    }
    srv_buf_puts(b, len, cap, "\"");
}

void api_write_embeddings(const srv_req *r, char **b, size_t *len, size_t *cap) {
    srv_buf_puts(b, len, cap, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < r->n_inputs; i++) {
        srv_buf_printf(b, len, cap, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "", i);
        const float *v = r->emb + (size_t)i * (size_t)r->n_embd;
        if (r->emb_base64) {
            put_base64(b, len, cap, (const unsigned char *)v, (size_t)r->n_embd * sizeof *v);
            srv_buf_puts(b, len, cap, "}");
            continue;
        }
        srv_buf_puts(b, len, cap, "[");
        for (int k = 0; k < r->n_embd; k++) srv_buf_printf(b, len, cap, "%s%.8g", k ? "," : "", (double)v[k]);
        srv_buf_puts(b, len, cap, "]}");
    }
    srv_buf_puts(b, len, cap, "],\"model\":");
    const char *name = srv_model_name(r->model);
    api_json_str(b, len, cap, name, strlen(name));
    srv_buf_printf(b, len, cap, ",\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}", r->n_prompt, r->n_prompt);
}

/* ---- stream chunks (R->mu held) ---- */

void api_chunk_begin(srv_req *r, char **b, size_t *len, size_t *cap) {
    srv_buf_puts(b, len, cap, "data: ");
    put_head(b, len, cap, r, r->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
}

void api_chunk_end(srv_req *r, char **b, size_t *len, size_t *cap) {
    if (r->include_usage) srv_buf_puts(b, len, cap, ",\"usage\":null");
    srv_buf_puts(b, len, cap, "}\n\n");
    srv_req_sse_append(r, *b, *len);
}

void api_stream_text(srv_req *r, int ci, const char *text, size_t n, const srv_logprob *lp) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    const desk_tokenizer *t = desk_model_tokenizer(srv_model_desk(r->model));
    srv_choice *c = &r->choice[ci];
    api_chunk_begin(r, &b, &len, &cap);
    srv_buf_printf(&b, &len, &cap, ",\"choices\":[{\"index\":%d,", ci);
    if (r->kind == SRV_CHAT) {
        srv_buf_puts(&b, &len, &cap, "\"delta\":{");
        if (!c->role_sent) srv_buf_puts(&b, &len, &cap, "\"role\":\"assistant\",");
        c->role_sent = true;
        srv_buf_puts(&b, &len, &cap, "\"content\":");
        api_json_str(&b, &len, &cap, text, n);
        srv_buf_puts(&b, &len, &cap, "},\"logprobs\":");
        if (lp) {
            srv_buf_puts(&b, &len, &cap, "{\"content\":[");
            put_chat_logprob(&b, &len, &cap, t, lp);
            srv_buf_puts(&b, &len, &cap, "]}");
        } else {
            srv_buf_puts(&b, &len, &cap, "null");
        }
    } else {
        srv_buf_puts(&b, &len, &cap, "\"text\":");
        api_json_str(&b, &len, &cap, text, n);
        srv_buf_puts(&b, &len, &cap, ",\"logprobs\":");
        if (lp) put_completion_logprobs(&b, &len, &cap, t, lp, 1, c->len - n);
        else srv_buf_puts(&b, &len, &cap, "null");
    }
    srv_buf_puts(&b, &len, &cap, ",\"finish_reason\":null}]");
    api_chunk_end(r, &b, &len, &cap);
    free(b);
}

void api_stream_finish(srv_req *r, int ci) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    srv_choice *c = &r->choice[ci];
    api_chunk_begin(r, &b, &len, &cap);
    srv_buf_printf(&b, &len, &cap, ",\"choices\":[{\"index\":%d,", ci);
    if (r->kind == SRV_CHAT) {
        srv_buf_puts(&b, &len, &cap, c->role_sent ? "\"delta\":{}" : "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}");
        c->role_sent = true;
    } else {
        srv_buf_puts(&b, &len, &cap, "\"text\":\"\"");
    }
    srv_buf_printf(&b, &len, &cap, ",\"logprobs\":null,\"finish_reason\":\"%s\"}]", c->finish ? c->finish : "length");
    api_chunk_end(r, &b, &len, &cap);
    free(b);
}

void api_stream_end(srv_req *r) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    if (r->include_usage) {
        api_chunk_begin(r, &b, &len, &cap);
        srv_buf_puts(&b, &len, &cap, ",\"choices\":[],");
        put_usage(&b, &len, &cap, r);
        srv_buf_puts(&b, &len, &cap, "}\n\n");
    }
    if (r->manifest && !r->err[0]) {
        /* like the usage chunk: no choices, the manifest beside them */
        api_chunk_begin(r, &b, &len, &cap);
        srv_buf_puts(&b, &len, &cap, ",\"choices\":[]");
        put_manifest(r, &b, &len, &cap);
        srv_buf_puts(&b, &len, &cap, "}\n\n");
    }
    srv_buf_puts(&b, &len, &cap, "data: [DONE]\n\n");
    srv_req_sse_append(r, b, len);
    free(b);
}

void api_stream_error(srv_req *r, const char *msg) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    srv_buf_puts(&b, &len, &cap, "data: ");
    api_error_body(&b, &len, &cap, msg, "server_error", NULL, NULL);
    srv_buf_puts(&b, &len, &cap, "\n\ndata: [DONE]\n\n");
    srv_req_sse_append(r, b, len);
    free(b);
}

void api_new_id(srv_req *r, const char *prefix, uint64_t counter) {
    snprintf(r->id, sizeof r->id, "%s-%016" PRIx64, prefix, counter);
    r->created = (long long)time(NULL);
}
