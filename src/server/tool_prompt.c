/*
 * server/tool_prompt.c - the prompts of the chat formats that have their
 * own tool-call format: Llama 3.x and Mistral.  Each follows its official
 * Jinja template as Hugging Face's transformers renders it (tests/data/
 * chat_tools/ holds renders of those templates that the tests compare
 * with, byte for byte):
 *
 *   Llama 3.1/3.2/3.3 (custom tools, "tools_in_user_message"): a system
 *   header with "Environment: ipython" and the template's dates, the
 *   functions as indented JSON in the first user message under Meta's
 *   instructions, earlier calls as {"name": ..., "parameters": ...}
 *   assistant turns, tool results in "ipython" turns (as JSON strings: the
 *   template's `is iterable` holds for text too).
 *
 *   Mistral (Nemo's template, v3 tekken): [AVAILABLE_TOOLS][...] before
 *   the last user message, the system text in front of that message when
 *   it ends the conversation, calls as [TOOL_CALLS][{"name", "arguments",
 *   "id"}, ...]</s>, results as [TOOL_RESULTS]{"content": TEXT, "call_id":
 *   ID}[/TOOL_RESULTS]; ids of 9 letters and digits.  The v7 formats put the
 *   system text in [SYSTEM_PROMPT] ... [/SYSTEM_PROMPT] first instead.
 *
 * Without tools and tool messages these formats keep their plain renderers
 * (include/desk/chat.h).  The prompt is built as pieces (markers and text)
 * for desk_chat_pieces_tokens; JSON is written as Python's json.dumps
 * writes it (ensure_ascii off), since the templates' `tojson` is that.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

srv_call_syntax api_call_syntax(desk_chat_fmt f) {
    switch (f) {
    case DESK_CHAT_LLAMA3: return SRV_CALLS_LLAMA3;
    case DESK_CHAT_MISTRAL_V3: case DESK_CHAT_MISTRAL_V3_TEKKEN:
    case DESK_CHAT_MISTRAL_V7: case DESK_CHAT_MISTRAL_V7_TEKKEN:
        return SRV_CALLS_MISTRAL;
    default: return SRV_CALLS_HERMES;
    }
}

/* ---- pieces ---- */

/* The prompt being built: all bytes in BUF; piece I starts at AT[I] and
 * ends where piece I + 1 starts. */
typedef struct pieces {
    char *buf;
    size_t len, cap;
    size_t *at;
    bool *mk;
    size_t n, ncap;
    bool oom;
} pieces;

static void add_piece(pieces *p, bool marker) {
    if (p->n == p->ncap) {
        size_t nc = p->ncap ? p->ncap * 2 : 32;
        size_t *at = realloc(p->at, nc * sizeof *at);
        if (at) p->at = at;
        bool *mk = at ? realloc(p->mk, nc * sizeof *mk) : NULL;
        if (mk) p->mk = mk;
        if (!at || !mk) {
            p->oom = true;
            return;
        }
        p->ncap = nc;
    }
    p->at[p->n] = p->len;
    p->mk[p->n++] = marker;
}

static void text_n(pieces *p, const char *s, size_t n) {
    if (p->oom || n == 0) return;
    if (p->n == 0 || p->mk[p->n - 1]) add_piece(p, false);
    if (!p->oom && !srv_buf_append(&p->buf, &p->len, &p->cap, s, n)) p->oom = true;
}

static void text(pieces *p, const char *s) { text_n(p, s, strlen(s)); }

static void marker(pieces *p, const char *s) {
    if (p->oom) return;
    add_piece(p, true);
    if (!p->oom && !srv_buf_puts(&p->buf, &p->len, &p->cap, s)) p->oom = true;
}

/* ---- JSON as Python's json.dumps(ensure_ascii=False) writes it ---- */

/* Not api_json_str: Python writes \b and \f short and leaves DEL as it is. */
static void json_string(pieces *p, const char *s, size_t n) {
    text(p, "\"");
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) {
            snprintf(u, sizeof u, "\\u%04x", c);
            esc = u;
        }
        if (!esc) continue;
        text_n(p, s + from, i - from);
        text(p, esc);
        from = i + 1;
    }
    text_n(p, s + from, n - from);
    text(p, "\"");
}

static void newline_indent(pieces *p, int indent, int depth) {
    text(p, "\n");
    for (int i = 0; i < indent * depth; i++) text(p, " ");
}

/* V as json.dumps(V, indent=INDENT or None): ", " and ": " between items
 * without an indent, "," and ": " with one. */
static void dumps(pieces *p, json_object *v, int indent, int depth) {
    switch (json_object_get_type(v)) {
    case json_type_null: text(p, "null"); break;
    case json_type_boolean: text(p, json_object_get_boolean(v) ? "true" : "false"); break;
    case json_type_int: case json_type_double:
        text(p, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        break;
    case json_type_string: json_string(p, json_object_get_string(v), (size_t)json_object_get_string_len(v)); break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        if (n == 0) {
            text(p, "[]");
            break;
        }
        text(p, "[");
        for (size_t i = 0; i < n; i++) {
            if (i) text(p, indent ? "," : ", ");
            if (indent) newline_indent(p, indent, depth + 1);
            dumps(p, json_object_array_get_idx(v, i), indent, depth + 1);
        }
        if (indent) newline_indent(p, indent, depth);
        text(p, "]");
        break;
    }
    case json_type_object: {
        if (json_object_object_length(v) == 0) {
            text(p, "{}");
            break;
        }
        text(p, "{");
        bool first = true;
        json_object_object_foreach(v, k, val) {
            if (!first) text(p, indent ? "," : ", ");
            first = false;
            if (indent) newline_indent(p, indent, depth + 1);
            json_string(p, k, strlen(k));
            text(p, ": ");
            dumps(p, val, indent, depth + 1);
        }
        if (indent) newline_indent(p, indent, depth);
        text(p, "}");
        break;
    }
    }
}

/* ---- the messages ---- */

typedef struct msg {
    const char *role; /* "system" (also for "developer"), "user", "assistant", "tool" */
    char *content;    /* malloc'd, NUL-terminated */
    size_t len;
    json_object *calls;   /* an assistant's tool_calls (borrowed), or NULL */
    const char *call_id;  /* a tool message's tool_call_id (borrowed), or NULL */
} msg;

static void trim(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)(*s)[0])) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

static void text_trimmed(pieces *p, const char *s, size_t n) {
    trim(&s, &n);
    text_n(p, s, n);
}

/* The call's function name and its arguments parsed (a new reference, the
 * caller puts it; a string when the arguments are not JSON text, as the
 * template would show a string). */
static int call_parts(json_object *c, const char *where, size_t k, const char **name, json_object **args,
                      api_error *e) {
    json_object *fn = json_object_is_type(c, json_type_object) ? api_field(c, "function") : NULL;
    *name = fn && json_object_is_type(fn, json_type_object) ? json_object_get_string(api_field(fn, "name")) : NULL;
    json_object *a = *name ? api_field(fn, "arguments") : NULL;
    if (!*name || !json_object_is_type(api_field(fn, "name"), json_type_string) ||
        (a && !json_object_is_type(a, json_type_string)))
        return api_bad(e, where, "'%s.tool_calls[%zu]' must be {\"type\": \"function\", \"function\": "
                       "{\"name\": ..., \"arguments\": \"<JSON text>\"}}", where, k);
    const char *txt = a ? json_object_get_string(a) : "{}";
    *args = json_tokener_parse(txt);
    if (!*args) *args = json_object_new_string(txt);
    return 0;
}

static bool mistral_id(const char *id) {
    if (!id || strlen(id) != 9) return false;
    for (int i = 0; i < 9; i++)
        if (!isalnum((unsigned char)id[i])) return false;
    return true;
}

/* The tools as Llama 3.x's first user message shows them. */
static const char LLAMA3_ASK[] =
    "Given the following functions, please respond with a JSON for a function call with its proper "
    "arguments that best answers the given prompt.\n\n"
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.Do not use variables.\n\n";

static void llama3_header(pieces *p, const char *role) {
    marker(p, "<|start_header_id|>");
    text(p, role);
    marker(p, "<|end_header_id|>");
    text(p, "\n\n");
}

static int render_llama3(pieces *p, msg *m, size_t n, json_object *const *fns, int n_fn, api_error *e) {
    size_t i = 0;
    const char *sys = "";
    size_t sys_len = 0;
    if (n && strcmp(m[0].role, "system") == 0) {
        sys = m[0].content;
        sys_len = m[0].len;
        i = 1;
    }
    llama3_header(p, "system");
    if (n_fn) text(p, "Environment: ipython\n");
    /* the template's dates: its knowledge cut-off and default date_string */
    text(p, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    text_trimmed(p, sys, sys_len);
    marker(p, "<|eot_id|>");
    if (n_fn) {
        if (i == n)
            return api_bad(e, "messages", "Llama 3.x puts the tools in the first user message, and there is none");
        llama3_header(p, "user");
        text(p, LLAMA3_ASK);
        for (int k = 0; k < n_fn; k++) {
            json_object *w = json_object_new_object();
            json_object_object_add(w, "type", json_object_new_string("function"));
            json_object_object_add(w, "function", json_object_get(fns[k]));
            dumps(p, w, 4, 0);
            json_object_put(w);
            text(p, "\n\n");
        }
        text_trimmed(p, m[i].content, m[i].len);
        marker(p, "<|eot_id|>");
        i++;
    }
    for (; i < n; i++) {
        char where[48];
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (m[i].calls) {
            if (json_object_array_length(m[i].calls) != 1)
                return api_bad(e, where, "'%s.tool_calls' has %zu calls; Llama 3.x takes one call per assistant "
                               "message", where, json_object_array_length(m[i].calls));
            const char *name;
            json_object *args;
            if (call_parts(json_object_array_get_idx(m[i].calls, 0), where, 0, &name, &args, e)) return -1;
            llama3_header(p, "assistant");
            text(p, "{\"name\": \"");
            text(p, name);
            text(p, "\", \"parameters\": ");
            dumps(p, args, 0, 0);
            json_object_put(args);
            text(p, "}");
            marker(p, "<|eot_id|>");
        } else if (strcmp(m[i].role, "tool") == 0) {
            llama3_header(p, "ipython");
            json_string(p, m[i].content, m[i].len);
            marker(p, "<|eot_id|>");
        } else {
            llama3_header(p, m[i].role);
            text_trimmed(p, m[i].content, m[i].len);
            marker(p, "<|eot_id|>");
        }
    }
    llama3_header(p, "assistant");
    return 0;
}

/* One function as Nemo's template writes it into [AVAILABLE_TOOLS]: string
 * members as they are (unescaped, as the template does), others as JSON,
 * "return" left out. */
static void mistral_function(pieces *p, json_object *fn) {
    text(p, "{\"type\": \"function\", \"function\": {");
    bool first = true;
    json_object_object_foreach(fn, k, v) {
        if (strcmp(k, "return") == 0) continue;
        if (!first) text(p, ", ");
        first = false;
        text(p, "\"");
        text(p, k);
        text(p, "\": ");
        if (v && json_object_is_type(v, json_type_string)) {
            text(p, "\"");
            text(p, json_object_get_string(v));
            text(p, "\"");
        } else {
            dumps(p, v, 0, 0);
        }
    }
    text(p, "}}");
}

static int render_mistral(pieces *p, msg *m, size_t n, json_object *const *fns, int n_fn, bool v7,
                          api_error *e) {
    size_t i = 0;
    const msg *sys = NULL;
    if (n && strcmp(m[0].role, "system") == 0) {
        sys = &m[0];
        i = 1;
    }
    if (v7 && sys) {
        marker(p, "[SYSTEM_PROMPT]");
        text_n(p, sys->content, sys->len);
        marker(p, "[/SYSTEM_PROMPT]");
    }
    size_t last_user = n;
    for (size_t k = i; k < n; k++)
        if (strcmp(m[k].role, "user") == 0) last_user = k;
    for (; i < n; i++) {
        char where[48];
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (strcmp(m[i].role, "user") == 0) {
            if (n_fn && i == last_user) {
                marker(p, "[AVAILABLE_TOOLS]");
                text(p, "[");
                for (int k = 0; k < n_fn; k++) {
                    if (k) text(p, ", ");
                    mistral_function(p, fns[k]);
                }
                text(p, "]");
                marker(p, "[/AVAILABLE_TOOLS]");
            }
            marker(p, "[INST]");
            if (!v7 && sys && i == n - 1) {
                text_n(p, sys->content, sys->len);
                text(p, "\n\n");
            }
            text_n(p, m[i].content, m[i].len);
            marker(p, "[/INST]");
        } else if (m[i].calls) {
            marker(p, "[TOOL_CALLS]");
            text(p, "[");
            size_t nc = json_object_array_length(m[i].calls);
            for (size_t k = 0; k < nc; k++) {
                json_object *c = json_object_array_get_idx(m[i].calls, k);
                const char *name;
                json_object *args;
                if (call_parts(c, where, k, &name, &args, e)) return -1;
                const char *id = json_object_get_string(api_field(c, "id"));
                if (!mistral_id(id)) {
                    json_object_put(args);
                    return api_bad(e, where, "'%s.tool_calls[%zu].id' must be 9 letters and digits for a Mistral "
                                   "model", where, k);
                }
                json_object *f = json_object_new_object();
                json_object_object_add(f, "name", json_object_new_string(name));
                json_object_object_add(f, "arguments", args);
                size_t mark = p->len;
                dumps(p, f, 0, 0);
                json_object_put(f);
                /* the template cuts the object's closing brace to add the id */
                if (!p->oom && p->len > mark) p->len--;
                text(p, ", \"id\": \"");
                text(p, id);
                text(p, "\"}");
                text(p, k + 1 < nc ? ", " : "]");
            }
            marker(p, "</s>");
        } else if (strcmp(m[i].role, "assistant") == 0) {
            text_n(p, m[i].content, m[i].len);
            marker(p, "</s>");
        } else if (strcmp(m[i].role, "tool") == 0) {
            if (!mistral_id(m[i].call_id))
                return api_bad(e, where, "'%s.tool_call_id' must be 9 letters and digits for a Mistral model", where);
            marker(p, "[TOOL_RESULTS]");
            text(p, "{\"content\": ");
            text_n(p, m[i].content, m[i].len);
            text(p, ", \"call_id\": \"");
            text(p, m[i].call_id);
            text(p, "\"}");
            marker(p, "[/TOOL_RESULTS]");
        } else {
            return api_bad(e, where, "'%s': a Mistral model takes a system message only first", where);
        }
    }
    return 0;
}

/* ---- entry ---- */

static bool has_tool_messages(json_object *msgs) {
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        if (!json_object_is_type(m, json_type_object)) continue;
        json_object *role = api_field(m, "role");
        if (api_field(m, "tool_calls") ||
            (role && json_object_is_type(role, json_type_string) && strcmp(json_object_get_string(role), "tool") == 0))
            return true;
    }
    return false;
}

int api_tool_prompt(json_object *msgs, json_object *const *fns, int n_fn, srv_req *r, const api_limits *lim,
                    api_error *e) {
    if (api_call_syntax(lim->fmt) == SRV_CALLS_HERMES || (n_fn == 0 && !has_tool_messages(msgs))) return 1;
    size_t n = json_object_array_length(msgs);
    msg *m = calloc(n, sizeof *m);
    pieces p = {0};
    int rc = m ? 0 : api_bad(e, "messages", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_object *o = json_object_array_get_idx(msgs, i);
        char where[48];
        snprintf(where, sizeof where, "messages[%zu]", i);
        json_object *role = json_object_is_type(o, json_type_object) ? api_field(o, "role") : NULL;
        if (!role || !json_object_is_type(role, json_type_string)) {
            rc = api_bad(e, where, "'%s' must be an object with a string 'role'", where);
            break;
        }
        const char *rs = json_object_get_string(role);
        static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
        size_t k = 0;
        while (k < 5 && strcmp(rs, roles[k]) != 0) k++;
        if (k == 5) {
            rc = api_bad(e, where, "'%s.role' is '%s'; this server takes system, developer, user, assistant and tool",
                         where, rs);
            break;
        }
        m[i].role = k <= 1 ? "system" : roles[k];
        char cw[64];
        snprintf(cw, sizeof cw, "%s.content", where);
        if ((rc = api_content_text(api_field(o, "content"), cw, &m[i].content, &m[i].len, e))) break;
        if (k == 3 && (m[i].calls = api_field(o, "tool_calls"))) {
            if (!json_object_is_type(m[i].calls, json_type_array)) {
                rc = api_bad(e, where, "'%s.tool_calls' must be an array", where);
                break;
            }
            if (json_object_array_length(m[i].calls) == 0) m[i].calls = NULL;
        }
        if (k == 4) {
            json_object *id = api_field(o, "tool_call_id");
            m[i].call_id = id && json_object_is_type(id, json_type_string) ? json_object_get_string(id) : NULL;
        }
    }
    if (rc == 0) {
        if (lim->fmt == DESK_CHAT_LLAMA3)
            rc = render_llama3(&p, m, n, fns, n_fn, e);
        else
            rc = render_mistral(&p, m, n, fns, n_fn,
                                lim->fmt == DESK_CHAT_MISTRAL_V7 || lim->fmt == DESK_CHAT_MISTRAL_V7_TEKKEN, e);
        if (rc == 0 && p.oom) rc = api_bad(e, "messages", "out of memory");
    }
    desk_chat_piece *cp = rc == 0 ? malloc((p.n ? p.n : 1) * sizeof *cp) : NULL;
    if (rc == 0 && !cp) rc = api_bad(e, "messages", "out of memory");
    if (rc == 0) {
        for (size_t i = 0; i < p.n; i++) {
            size_t end = i + 1 < p.n ? p.at[i + 1] : p.len;
            cp[i] = (desk_chat_piece){.text = p.buf + p.at[i], .len = end - p.at[i], .marker = p.mk[i]};
        }
        size_t cap = (size_t)lim->n_ctx, got = 0;
        r->prompt = malloc(cap * sizeof *r->prompt);
        desk_err err = {0};
        desk_status st = r->prompt ? desk_chat_pieces_tokens(lim->tok, cp, p.n, r->prompt, cap, &got, &err)
                                   : DESK_E_NOMEM;
        rc = api_prompt_bad(e, st, got, lim->n_ctx, r->prompt ? err.msg : "out of memory");
        r->n_prompt = (int)got;
    }
    free(cp);
    for (size_t i = 0; m && i < n; i++) free(m[i].content);
    free(m);
    free(p.buf);
    free(p.at);
    free(p.mk);
    return rc;
}
