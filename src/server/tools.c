/*
 * server/tools.c - structured output and tool calling for desk serve: a
 * chat body's messages (tool results and earlier tool calls included),
 * `tools`, `tool_choice`, `response_format` into the prompt and a grammar,
 * and the tool calls read back out of the generated text.
 *
 * Llama 3.x and Mistral models get their own formats (tool_prompt.c
 * renders their prompts; the grammar and the reader here know their
 * calls).  Every other chat family gets Hermes/Qwen 2.5's.  The
 * function signatures go into the system message inside <tools></tools>
 * (a system message is added when there is none; Gemma folds it into the
 * first user turn as it does any system text), the model answers
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call>, earlier calls
 * are rendered back that way in assistant turns and tool results as
 * <tool_response> blocks in a user turn.
 *
 * The grammar for calls is the JSON Schema converter's output for "one of
 * these objects" ({"name": const, "arguments": the function's
 * parameters}), wrapped in the markers.  "required" and a named function
 * apply it from the first token; "auto" lets the model write freely and
 * applies it only once the text opens with <tool_call> (sched.c).
 *
 * Reading calls back is a small scanner over the text, used alike for the
 * whole answer and for streaming, so streamed argument fragments join to
 * exactly the non-streamed arguments string (the model's own bytes).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define MAX_TOOLS 64

static const char CALL_CLOSE[] = "</tool_call>";
static const char ROOT_RULE[] = "desk-tool-calls";

/* ---- the request's tools ---- */

typedef struct tools_in {
    json_object *fn[MAX_TOOLS]; /* each tool's "function" (borrowed from the body) */
    int n;
    int forced;                 /* -1: "auto"/"required" over all; else that function only */
    bool required, none, parallel;
} tools_in;

static bool good_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') return false;
    return true;
}

static const char *str_of(json_object *o, const char *k) {
    json_object *v = api_field(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int read_tools(json_object *o, tools_in *t, api_error *e) {
    memset(t, 0, sizeof *t);
    t->forced = -1;
    t->parallel = true;
    json_object *tools = api_field(o, "tools");
    if (tools) {
        if (!json_object_is_type(tools, json_type_array))
            return api_bad(e, "tools", "'tools' must be an array of {\"type\": \"function\", \"function\": {...}}");
        size_t n = json_object_array_length(tools);
        if (n > MAX_TOOLS) return api_bad(e, "tools", "'tools' has %zu entries; at most %d", n, MAX_TOOLS);
        for (size_t i = 0; i < n; i++) {
            json_object *tl = json_object_array_get_idx(tools, i);
            const char *type = json_object_is_type(tl, json_type_object) ? str_of(tl, "type") : NULL;
            json_object *fn = type ? api_field(tl, "function") : NULL;
            if (!type || strcmp(type, "function") != 0 || !fn || !json_object_is_type(fn, json_type_object))
                return api_bad(e, "tools", "tools[%zu] must be {\"type\": \"function\", \"function\": {...}}", i);
            const char *name = str_of(fn, "name");
            if (!name || !good_name(name))
                return api_bad(e, "tools", "tools[%zu].function.name must be 1 to 64 letters, digits, '_', '-' or '.'", i);
            for (int k = 0; k < t->n; k++)
                if (strcmp(str_of(t->fn[k], "name"), name) == 0)
                    return api_bad(e, "tools", "tools[%zu]: the function name '%s' comes twice", i, name);
            json_object *d = api_field(fn, "description");
            if (d && !json_object_is_type(d, json_type_string))
                return api_bad(e, "tools", "tools[%zu].function.description must be a string", i);
            json_object *p = api_field(fn, "parameters");
            if (p && !json_object_is_type(p, json_type_object))
                return api_bad(e, "tools", "tools[%zu].function.parameters must be a JSON Schema object", i);
            /* each schema alone first, so an error names its function */
            if (p) {
                const char *txt = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);
                char *g = NULL;
                desk_err err = {0};
                desk_status st = desk_json_schema_to_gbnf(txt, strlen(txt), &g, NULL, &err);
                free(g);
                if (st != DESK_OK)
                    return api_bad(e, "tools", "tools[%zu].function.parameters: %s", i, err.msg);
            }
            t->fn[t->n++] = fn;
        }
    }
    json_object *tc = api_field(o, "tool_choice");
    if (tc && json_object_is_type(tc, json_type_string)) {
        const char *v = json_object_get_string(tc);
        if (strcmp(v, "none") == 0) t->none = true;
        else if (strcmp(v, "required") == 0) t->required = true;
        else if (strcmp(v, "auto") != 0)
            return api_bad(e, "tool_choice", "'tool_choice' is '%s'; it must be \"none\", \"auto\", \"required\" "
                           "or {\"type\": \"function\", \"function\": {\"name\": ...}}", v);
    } else if (tc) {
        const char *type = json_object_is_type(tc, json_type_object) ? str_of(tc, "type") : NULL;
        json_object *fn = type ? api_field(tc, "function") : NULL;
        const char *name = fn && json_object_is_type(fn, json_type_object) ? str_of(fn, "name") : NULL;
        if (!type || strcmp(type, "function") != 0 || !name)
            return api_bad(e, "tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                           "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        for (int k = 0; k < t->n && t->forced < 0; k++)
            if (strcmp(str_of(t->fn[k], "name"), name) == 0) t->forced = k;
        if (t->forced < 0) return api_bad(e, "tool_choice", "'tool_choice' names '%s', which is not in 'tools'", name);
        t->required = true;
    }
    if ((t->required) && t->n == 0)
        return api_bad(e, "tool_choice", "'tool_choice' asks for a tool call but 'tools' is empty or absent");
    json_object *par = api_field(o, "parallel_tool_calls");
    if (par && !json_object_is_type(par, json_type_boolean))
        return api_bad(e, "parallel_tool_calls", "'parallel_tool_calls' must be true or false");
    if (par) t->parallel = json_object_get_boolean(par);
    if (t->n == 0) t->none = true;
    return 0;
}

/* ---- grammars ---- */

/* Parses GBNF (LEN bytes) from a schema conversion, with EXTRA rules
 * appended and ROOT as the start (NULL: "root"). */
static int grammar_of(const char *gbnf, size_t len, const char *extra, const char *root, const char *param,
                      srv_req *r, api_error *e) {
    char *b = NULL;
    size_t bl = 0, bc = 0;
    if (!srv_buf_append(&b, &bl, &bc, gbnf, len) || (extra && !srv_buf_puts(&b, &bl, &bc, extra))) {
        free(b);
        return api_bad(e, param, "out of memory");
    }
    desk_err err = {0};
    desk_status st = desk_grammar_parse(b, bl, root, &r->grammar, &err);
    free(b);
    return st == DESK_OK ? 0 : api_bad(e, param, "%s", err.msg);
}

static int schema_grammar(const char *schema, const char *extra, const char *root, const char *param,
                          const char *where, srv_req *r, api_error *e) {
    char *g = NULL;
    size_t gl = 0;
    desk_err err = {0};
    if (desk_json_schema_to_gbnf(schema, strlen(schema), &g, &gl, &err) != DESK_OK)
        return api_bad(e, param, "%s: %s", where, err.msg);
    int rc = grammar_of(g, gl, extra, root, param, r, e);
    free(g);
    return rc;
}

/* Copies the $defs (and definitions) of P into the wrapper schema's DEFS,
 * since a $ref inside P points at the document's root. */
static int hoist_defs(json_object *p, json_object *root, int i, api_error *e) {
    static const char *const keys[] = {"$defs", "definitions"};
    for (int k = 0; k < 2; k++) {
        json_object *d = api_field(p, keys[k]);
        if (!d || !json_object_is_type(d, json_type_object)) continue;
        json_object *to = api_field(root, keys[k]);
        if (!to) {
            to = json_object_new_object();
            json_object_object_add(root, keys[k], to);
        }
        json_object_object_foreach(d, name, def) {
            json_object *have = api_field(to, name);
            if (have && !json_object_equal(have, def))
                return api_bad(e, "tools", "tools[%d].function.parameters: %s/%s differs from another "
                               "function's definition of the same name", i, keys[k], name);
            if (!have) json_object_object_add(to, name, json_object_get(def));
        }
    }
    return 0;
}

/* The grammar of tool calls in syntax SYN: Hermes' one (or, with parallel
 * calls, up to four) <tool_call>\n{"name": N, "arguments": ARGS}\n</tool_call>;
 * Llama 3.x's one {"name": N, "parameters": ARGS}; Mistral's
 * [TOOL_CALLS][{"name": N, "arguments": ARGS, "id": 9 letters and digits}, ...]
 * (the marker optional: in Mistral's vocabulary it is a control token,
 * which has no text). */
static int calls_grammar(const tools_in *t, srv_call_syntax syn, srv_req *r, api_error *e) {
    json_object *root = json_object_new_object(), *any = json_object_new_array();
    const char *args_key = syn == SRV_CALLS_LLAMA3 ? "parameters" : "arguments";
    int rc = 0;
    for (int i = 0; i < t->n && rc == 0; i++) {
        if (t->forced >= 0 && i != t->forced) continue;
        json_object *fn = t->fn[i], *p = api_field(fn, "parameters");
        json_object *one = json_object_new_object(), *props = json_object_new_object();
        json_object *name = json_object_new_object(), *req = json_object_new_array();
        json_object_object_add(name, "const", json_object_new_string(str_of(fn, "name")));
        json_object_object_add(props, "name", name);
        if (p) {
            json_object_object_add(props, args_key, json_object_get(p));
            rc = hoist_defs(p, root, i, e);
        } else {
            json_object *obj = json_object_new_object();
            json_object_object_add(obj, "type", json_object_new_string("object"));
            json_object_object_add(props, args_key, obj);
        }
        json_object_array_add(req, json_object_new_string("name"));
        json_object_array_add(req, json_object_new_string(args_key));
        if (syn == SRV_CALLS_MISTRAL) {
            json_object *id = json_object_new_object();
            json_object_object_add(id, "type", json_object_new_string("string"));
            json_object_object_add(id, "pattern", json_object_new_string("^[a-zA-Z0-9]{9}$"));
            json_object_object_add(props, "id", id);
            json_object_array_add(req, json_object_new_string("id"));
        }
        json_object_object_add(one, "type", json_object_new_string("object"));
        json_object_object_add(one, "properties", props);
        json_object_object_add(one, "required", req);
        json_object_object_add(one, "additionalProperties", json_object_new_boolean(0));
        json_object_array_add(any, one);
    }
    json_object_object_add(root, "anyOf", any);
    if (rc == 0) {
        char extra[256];
        if (syn == SRV_CALLS_HERMES)
            snprintf(extra, sizeof extra,
                     "\ndesk-tool-call ::= \"<tool_call>\\n\" root \"\\n</tool_call>\"\n%s ::= desk-tool-call%s\n",
                     ROOT_RULE, t->parallel ? " (\"\\n\" desk-tool-call){0,3}" : "");
        else if (syn == SRV_CALLS_LLAMA3)
            snprintf(extra, sizeof extra, "\n%s ::= root\n", ROOT_RULE);
        else
            snprintf(extra, sizeof extra, "\n%s ::= \"[TOOL_CALLS]\"? \"[\" root %s\"]\"\n", ROOT_RULE,
                     t->parallel ? "(\", \" root){0,3} " : "");
        rc = schema_grammar(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), extra, ROOT_RULE,
                            "tools", "tools", r, e);
    }
    json_object_put(root);
    return rc;
}

static int read_response_format(json_object *o, srv_req *r, api_error *e) {
    json_object *rf = api_field(o, "response_format");
    if (!rf) return 0;
    const char *type = json_object_is_type(rf, json_type_object) ? str_of(rf, "type") : NULL;
    if (!type)
        return api_bad(e, "response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | "
                       "\"json_schema\", ...}");
    if (strcmp(type, "text") == 0) return 0;
    if (strcmp(type, "json_object") == 0)
        return schema_grammar("{\"type\":\"object\"}", NULL, NULL, "response_format", "response_format", r, e);
    if (strcmp(type, "json_schema") != 0)
        return api_bad(e, "response_format", "'response_format.type' is '%s'; it must be \"text\", "
                       "\"json_object\" or \"json_schema\"", type);
    json_object *js = api_field(rf, "json_schema");
    if (!js || !json_object_is_type(js, json_type_object))
        return api_bad(e, "response_format", "'response_format.json_schema' must be {\"name\": ..., \"schema\": {...}}");
    json_object *name = api_field(js, "name"), *strict = api_field(js, "strict"), *schema = api_field(js, "schema");
    if (name && !json_object_is_type(name, json_type_string))
        return api_bad(e, "response_format", "'response_format.json_schema.name' must be a string");
    if (strict && !json_object_is_type(strict, json_type_boolean))
        return api_bad(e, "response_format", "'response_format.json_schema.strict' must be true or false");
    if (!schema) schema = json_object_new_boolean(1); /* OpenAI: no schema is any JSON */
    else json_object_get(schema);
    if (!json_object_is_type(schema, json_type_object) && !json_object_is_type(schema, json_type_boolean)) {
        json_object_put(schema);
        return api_bad(e, "response_format", "'response_format.json_schema.schema' must be a JSON Schema object");
    }
    int rc = schema_grammar(json_object_to_json_string_ext(schema, JSON_C_TO_STRING_PLAIN), NULL, NULL,
                            "response_format", "response_format.json_schema.schema", r, e);
    json_object_put(schema);
    return rc;
}

/* ---- the prompt ---- */

static bool puts_b(char **b, size_t *len, size_t *cap, const char *s) { return srv_buf_puts(b, len, cap, s); }

/* The system text's tools section (Qwen 2.5's wording). */
static bool tools_block(const tools_in *t, char **b, size_t *len, size_t *cap) {
    bool ok = puts_b(b, len, cap,
                     "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                     "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    for (int i = 0; i < t->n; i++) {
        json_object *w = json_object_new_object();
        json_object_object_add(w, "type", json_object_new_string("function"));
        json_object_object_add(w, "function", json_object_get(t->fn[i]));
        ok = ok && puts_b(b, len, cap, "\n") &&
             puts_b(b, len, cap, json_object_to_json_string_ext(w, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(w);
    }
    return ok && puts_b(b, len, cap,
                        "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                        "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                        "\"arguments\": <args-json-object>}\n</tool_call>");
}

int api_prompt_bad(api_error *e, desk_status st, size_t got, int n_ctx, const char *msg) {
    if (st == DESK_E_RANGE)
        return api_bad(e, "messages", "the messages take %zu tokens but the context holds %d", got, n_ctx);
    return st == DESK_OK ? 0 : api_bad(e, "messages", "%s", msg);
}

/* An assistant message's tool_calls appended to its text. */
static int assistant_calls(json_object *calls, const char *where, char **b, size_t *len, size_t *cap, api_error *e) {
    if (!json_object_is_type(calls, json_type_array))
        return api_bad(e, where, "'%s.tool_calls' must be an array", where);
    for (size_t k = 0; k < json_object_array_length(calls); k++) {
        json_object *c = json_object_array_get_idx(calls, k);
        json_object *fn = json_object_is_type(c, json_type_object) ? api_field(c, "function") : NULL;
        const char *name = fn && json_object_is_type(fn, json_type_object) ? str_of(fn, "name") : NULL;
        json_object *args = name ? api_field(fn, "arguments") : NULL;
        if (!name || (args && !json_object_is_type(args, json_type_string)))
            return api_bad(e, where, "'%s.tool_calls[%zu]' must be {\"type\": \"function\", \"function\": "
                           "{\"name\": ..., \"arguments\": \"<JSON text>\"}}", where, k);
        if (*len) puts_b(b, len, cap, "\n");
        puts_b(b, len, cap, "<tool_call>\n{\"name\": ");
        api_json_str(b, len, cap, name, strlen(name));
        puts_b(b, len, cap, ", \"arguments\": ");
        /* arguments are JSON text: written as they are when they parse */
        const char *a = args ? json_object_get_string(args) : "{}";
        json_object *parsed = json_tokener_parse(a);
        if (parsed) puts_b(b, len, cap, a);
        else api_json_str(b, len, cap, a, strlen(a));
        json_object_put(parsed);
        puts_b(b, len, cap, "}\n</tool_call>");
    }
    return 0;
}

int api_read_messages(json_object *o, srv_req *r, const api_limits *lim, api_error *e) {
    tools_in t;
    if (read_tools(o, &t, e) || read_response_format(o, r, e)) return -1;
    if (!t.none && r->grammar)
        return api_bad(e, "response_format", "'response_format' cannot be combined with tools unless "
                       "'tool_choice' is \"none\"");
    srv_call_syntax syn = api_call_syntax(lim->fmt);
    r->call_syntax = syn;
    r->call_open = syn == SRV_CALLS_LLAMA3 ? "{" : syn == SRV_CALLS_MISTRAL ? "[" : "<tool_call>";
    if (!t.none) {
        if (calls_grammar(&t, syn, r, e)) return -1;
        r->tools = true;
        r->grammar_later = !t.required;
    }
    json_object *msgs = api_field(o, "messages");
    if (!msgs || !json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) == 0)
        return api_bad(e, "messages", "'messages' must be a non-empty array");
    int own = api_tool_prompt(msgs, t.fn, t.none ? 0 : t.n, r, lim, e);
    if (own <= 0) return own;
    size_t n = json_object_array_length(msgs);
    desk_chat_msg *cm = calloc(n + 1, sizeof *cm);
    char **texts = calloc(n + 1, sizeof *texts);
    size_t *caps = calloc(n + 1, sizeof *caps);
    size_t nm = 0;
    bool prev_tool = false;
    int rc = 0;
    if (!cm || !texts || !caps) rc = api_bad(e, "messages", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        char where[48];
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (!json_object_is_type(m, json_type_object)) {
            rc = api_bad(e, where, "'%s' must be an object", where);
            break;
        }
        const char *rs = str_of(m, "role");
        if (!rs) {
            rc = api_bad(e, where, "'%s.role' must be a string", where);
            break;
        }
        desk_role role;
        bool tool = strcmp(rs, "tool") == 0;
        if (!strcmp(rs, "system") || !strcmp(rs, "developer")) role = DESK_ROLE_SYSTEM;
        else if (!strcmp(rs, "user") || tool) role = DESK_ROLE_USER;
        else if (!strcmp(rs, "assistant")) role = DESK_ROLE_ASSISTANT;
        else {
            rc = api_bad(e, where, "'%s.role' is '%s'; this server takes system, developer, user, assistant and tool",
                         where, rs);
            break;
        }
        char cw[64];
        snprintf(cw, sizeof cw, "%s.content", where);
        char *text = NULL;
        size_t len = 0;
        if ((rc = api_content_text(api_field(m, "content"), cw, &text, &len, e))) break;
        /* tool results in a row share one user turn, as in Qwen's template */
        bool join = tool && prev_tool;
        prev_tool = tool;
        size_t k = join ? nm - 1 : nm++;
        if (!join) cm[k].role = role;
        if (tool) {
            if (join) puts_b(&texts[k], &cm[k].len, &caps[k], "\n");
            puts_b(&texts[k], &cm[k].len, &caps[k], "<tool_response>\n");
            srv_buf_append(&texts[k], &cm[k].len, &caps[k], text, len);
            puts_b(&texts[k], &cm[k].len, &caps[k], "\n</tool_response>");
        } else {
            srv_buf_append(&texts[k], &cm[k].len, &caps[k], text, len);
        }
        free(text);
        json_object *calls = role == DESK_ROLE_ASSISTANT ? api_field(m, "tool_calls") : NULL;
        if (calls) rc = assistant_calls(calls, where, &texts[k], &cm[k].len, &caps[k], e);
        if (!texts[k]) puts_b(&texts[k], &cm[k].len, &caps[k], "");
        cm[k].text = texts[k];
    }
    if (rc == 0 && !t.none) {
        /* the tools go at the end of the first system message, or in one of their own */
        if (nm == 0 || cm[0].role != DESK_ROLE_SYSTEM) {
            memmove(cm + 1, cm, nm * sizeof *cm);
            memmove(texts + 1, texts, nm * sizeof *texts);
            memmove(caps + 1, caps, nm * sizeof *caps);
            nm++;
            cm[0] = (desk_chat_msg){.role = DESK_ROLE_SYSTEM};
            texts[0] = NULL;
            caps[0] = 0;
        } else if (cm[0].len) {
            puts_b(&texts[0], &cm[0].len, &caps[0], "\n\n");
        }
        if (!tools_block(&t, &texts[0], &cm[0].len, &caps[0])) rc = api_bad(e, "tools", "out of memory");
        cm[0].text = texts[0];
    }
    if (rc == 0) {
        size_t cap = (size_t)lim->n_ctx, got = 0;
        r->prompt = malloc(cap * sizeof *r->prompt);
        desk_err err = {0};
        desk_status st = r->prompt ? desk_chat_render_tokens(lim->fmt, lim->tok, cm, nm, true, r->prompt, cap, &got, &err)
                                   : DESK_E_NOMEM;
        rc = api_prompt_bad(e, st, got, lim->n_ctx, r->prompt ? err.msg : "out of memory");
        r->n_prompt = (int)got;
    }
    for (size_t i = 0; texts && i <= n; i++) free(texts[i]);
    free(texts);
    free(caps);
    free(cm);
    return rc;
}

/* ---- reading calls back ---- */

typedef struct call {
    size_t name_at, name_len; /* name_len 0: not complete yet */
    size_t args_at, args_len; /* args_at 0: not begun */
    bool args_done, closed;
} call;

static size_t skip_ws(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) i++;
    return i;
}

/* Whether S[I..) starts with LIT: 1 yes, 0 no, -1 the text ends first. */
static int starts(const char *s, size_t len, size_t i, const char *lit) {
    size_t n = strlen(lit);
    size_t have = len - i < n ? len - i : n;
    if (memcmp(s + i, lit, have) != 0) return 0;
    return have == n ? 1 : -1;
}

/* The end of the JSON string opening at S[I] ('"'); 0 when it does not close. */
static size_t string_end(const char *s, size_t len, size_t i) {
    for (i++; i < len; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return 0;
}

/* The end of the JSON value at S[I]; 0 when the text ends inside it. */
static size_t value_end(const char *s, size_t len, size_t i) {
    if (i >= len) return 0;
    if (s[i] == '"') return string_end(s, len, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && !strchr(",}] \n\t\r", s[i])) i++;
        return i < len ? i : 0;
    }
    int depth = 0;
    for (; i < len; i++) {
        if (s[i] == '"') {
            size_t e = string_end(s, len, i);
            if (!e) return 0;
            i = e - 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* One call's object at S[*I] ('{'): its name and the member ARGS_KEY
 * ("arguments", Llama 3.x's "parameters").  1: complete (*I past it); 0:
 * the text ends inside it; -1: not a call. */
static int scan_object(const char *s, size_t len, size_t *at, const char *args_key, call *c) {
    size_t i = *at, ak = strlen(args_key);
    if (i >= len) return 0;
    if (s[i] != '{') return -1;
    i = skip_ws(s, len, i + 1);
    for (;;) { /* members */
        if (i >= len) return 0;
        if (s[i] == '}') {
            *at = i + 1;
            return 1;
        }
        if (s[i] != '"') return -1;
        size_t ke = string_end(s, len, i);
        if (!ke) return 0;
        size_t k0 = i + 1, kn = ke - 1 - k0;
        i = skip_ws(s, len, ke);
        if (i >= len) return 0;
        if (s[i] != ':') return -1;
        i = skip_ws(s, len, i + 1);
        if (i >= len) return 0;
        bool is_args = kn == ak && memcmp(s + k0, args_key, ak) == 0;
        if (is_args) c->args_at = i;
        size_t ve = value_end(s, len, i);
        if (!ve) {
            if (is_args) c->args_len = len - i;
            return 0;
        }
        if (kn == 4 && memcmp(s + k0, "name", 4) == 0 && s[i] == '"') {
            c->name_at = i + 1;
            c->name_len = ve - i - 2;
        }
        if (is_args) {
            c->args_len = ve - i;
            c->args_done = true;
        }
        i = skip_ws(s, len, ve);
        if (i < len && s[i] == ',') i = skip_ws(s, len, i + 1);
    }
}

/* Scans TEXT for calls in syntax SYN; fills CALLS (at most MAX), the last
 * possibly unfinished (closed false).  *CLEAN: the text is only calls and
 * whitespace so far. */
static int scan_calls(srv_call_syntax syn, const char *s, size_t len, call *calls, int max, bool *clean) {
    int n = 0;
    size_t i = skip_ws(s, len, 0);
    *clean = true;
    const char *key = syn == SRV_CALLS_LLAMA3 ? "parameters" : "arguments";
    if (syn == SRV_CALLS_MISTRAL) {
        /* [TOOL_CALLS] is text only where the vocabulary lacks its control token */
        int st = starts(s, len, i, "[TOOL_CALLS]");
        if (st < 0) return 0;
        if (st > 0) i = skip_ws(s, len, i + strlen("[TOOL_CALLS]"));
        if (i >= len) return 0;
        if (s[i] != '[') goto bad;
        i = skip_ws(s, len, i + 1);
    }
    for (;;) {
        if (i >= len) return n;
        if (n == max) goto bad;
        if (syn == SRV_CALLS_HERMES) {
            int st = starts(s, len, i, "<tool_call>");
            if (st < 0) return n;
            if (st == 0) goto bad;
            i = skip_ws(s, len, i + strlen("<tool_call>"));
        }
        call *c = &calls[n++];
        memset(c, 0, sizeof *c);
        int got = scan_object(s, len, &i, key, c);
        if (got == 0) return n;
        if (got < 0) goto bad;
        i = skip_ws(s, len, i);
        if (syn == SRV_CALLS_HERMES) {
            int cl = starts(s, len, i, CALL_CLOSE);
            if (cl < 0) return n;
            if (cl == 0) goto bad;
            c->closed = true;
            i = skip_ws(s, len, i + strlen(CALL_CLOSE));
        } else if (syn == SRV_CALLS_LLAMA3) {
            c->closed = true;
            if (i < len) goto bad; /* one call, and nothing after it */
            return n;
        } else {
            if (i >= len) return n;
            if (s[i] == ']') {
                c->closed = true;
                if (skip_ws(s, len, i + 1) < len) goto bad;
                return n;
            }
            if (s[i] != ',') goto bad;
            c->closed = true;
            i = skip_ws(s, len, i + 1);
        }
    }
bad:
    *clean = false;
    return n;
}

bool api_text_is_calls(const srv_req *r, const char *text, size_t len) {
    call calls[SRV_MAX_CALLS];
    bool clean;
    int n = scan_calls(r->call_syntax, text, len, calls, SRV_MAX_CALLS, &clean);
    if (!clean || n == 0) return false;
    for (int i = 0; i < n; i++)
        if (!calls[i].closed || !calls[i].name_len || !calls[i].args_done) return false;
    return true;
}

/* Call I's id.  Mistral's templates take 9 letters and digits only (the
 * id the model writes after the arguments comes too late for a stream's
 * first chunk, so the id is the server's: a hash of the request's id). */
static void call_id(const srv_req *r, int i, char *out, size_t cap) {
    if (r->call_syntax == SRV_CALLS_MISTRAL) {
        static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        uint64_t h = 1469598103934665603ull; /* FNV-1a over the id and I */
        for (const char *p = r->id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ (uint64_t)(i + 1)) * 1099511628211ull;
        char id[10];
        for (int k = 0; k < 9; k++, h /= 62) id[k] = digits[h % 62];
        id[9] = '\0';
        snprintf(out, cap, "%s", id);
        return;
    }
    const char *dash = strrchr(r->id, '-');
    snprintf(out, cap, "call_%s_%d", dash ? dash + 1 : r->id, i);
}

void api_write_tool_calls(const srv_req *r, const srv_choice *c, char **b, size_t *len, size_t *cap) {
    call calls[SRV_MAX_CALLS];
    bool clean;
    int n = scan_calls(r->call_syntax, c->text ? c->text : "", c->len, calls, SRV_MAX_CALLS, &clean);
    srv_buf_puts(b, len, cap, "[");
    for (int i = 0; i < n; i++) {
        char id[64];
        call_id(r, i, id, sizeof id);
        srv_buf_printf(b, len, cap, "%s{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", i ? "," : "", id);
        api_json_str(b, len, cap, c->text + calls[i].name_at, calls[i].name_len);
        srv_buf_puts(b, len, cap, ",\"arguments\":");
        api_json_str(b, len, cap, c->text + calls[i].args_at, calls[i].args_len);
        srv_buf_puts(b, len, cap, "}}");
    }
    srv_buf_puts(b, len, cap, "]");
}

/* One chunk of a streamed tool call: the first one (ID non-NULL) carries
 * the id, type, name and empty arguments; later ones argument bytes. */
static void tool_chunk(srv_req *r, int ci, int index, const char *id, const char *name, size_t name_len,
                       const char *args, size_t args_len) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    srv_choice *c = &r->choice[ci];
    api_chunk_begin(r, &b, &len, &cap);
    srv_buf_printf(&b, &len, &cap, ",\"choices\":[{\"index\":%d,\"delta\":{", ci);
    if (!c->role_sent) srv_buf_puts(&b, &len, &cap, "\"role\":\"assistant\",\"content\":null,");
    c->role_sent = true;
    srv_buf_printf(&b, &len, &cap, "\"tool_calls\":[{\"index\":%d,", index);
    if (id) {
        srv_buf_printf(&b, &len, &cap, "\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", id);
        api_json_str(&b, &len, &cap, name, name_len);
        srv_buf_puts(&b, &len, &cap, ",\"arguments\":\"\"}}]");
    } else {
        srv_buf_puts(&b, &len, &cap, "\"function\":{\"arguments\":");
        api_json_str(&b, &len, &cap, args, args_len);
        srv_buf_puts(&b, &len, &cap, "}}]");
    }
    srv_buf_puts(&b, &len, &cap, "},\"logprobs\":null,\"finish_reason\":null}]");
    api_chunk_end(r, &b, &len, &cap);
    free(b);
}

void api_stream_tools(srv_req *r, int ci) {
    srv_choice *c = &r->choice[ci];
    call calls[SRV_MAX_CALLS];
    bool clean;
    int n = scan_calls(r->call_syntax, c->text ? c->text : "", c->len, calls, SRV_MAX_CALLS, &clean);
    for (int i = c->tc_sent > 0 ? c->tc_sent - 1 : 0; i < n; i++) {
        const call *k = &calls[i];
        if (i >= c->tc_sent) {
            if (!k->name_len) return;
            char id[64];
            call_id(r, i, id, sizeof id);
            tool_chunk(r, ci, i, id, c->text + k->name_at, k->name_len, NULL, 0);
            c->tc_sent = i + 1;
            c->tc_args_sent = 0;
        }
        if (k->args_at && k->args_len > c->tc_args_sent) {
            tool_chunk(r, ci, i, NULL, NULL, 0, c->text + k->args_at + c->tc_args_sent, k->args_len - c->tc_args_sent);
            c->tc_args_sent = k->args_len;
        }
        if (!k->args_done) return;
    }
}
