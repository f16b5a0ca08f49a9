/*
 * schema.c - JSON Schema to GBNF (desk_json_schema_to_gbnf): a walk over
 * the schema that turns each subschema into a GBNF expression, with rules
 * for the pieces that recur (objects, arrays, $ref targets).
 *
 * Whitespace: between any two tokens, and never before the first or after
 * the last, one optional run: a space, or a newline and up to 20 spaces or
 * tabs (llama.cpp's choice: a model cannot run away in blank lines), as
 * llguidance does given the same whitespace pattern.  An empty object or
 * array has exactly one run inside its brackets, so "[ ]" has one
 * reading and "[  ]" none, as in llguidance.
 *
 * Objects: the declared properties come first, in the schema's order
 * (required ones always, optional ones may be left out), then any others
 * additionalProperties allows, whose keys must differ from the declared
 * ones.  A $ref names a rule reserved before its target is converted, so
 * a recursive schema becomes a recursive grammar.  Rules with the same
 * body are written once.
 */
#include "grammar/schema.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "desk/grammar.h"

/* ---- the rule table --------------------------------------------------- */

bool cv_fail(conv *c, desk_status st, const char *fmt, ...) {
    if (c->st != DESK_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = st;
    desk_errf(c->err, st, "schema: %s: %s", c->ptr[0] ? c->ptr : "/", msg);
    return false;
}

static bool oom(conv *c) {
    return cv_fail(c, DESK_E_NOMEM, "out of memory");
}

static bool add(conv *c, const char *name, const char *body) {
    if (c->n_rules == c->cap_rules) {
        size_t cap = c->cap_rules ? c->cap_rules * 2 : 64;
        char **n = realloc(c->names, cap * sizeof *n);
        if (!n)
            return oom(c);
        c->names = n;
        char **b = realloc(c->bodies, cap * sizeof *b);
        if (!b)
            return oom(c);
        c->bodies = b;
        c->cap_rules = cap;
    }
    char *nm = strdup(name), *bd = body ? strdup(body) : NULL;
    if (!nm || (body && !bd)) {
        free(nm);
        free(bd);
        return oom(c);
    }
    c->names[c->n_rules] = nm;
    c->bodies[c->n_rules] = bd;
    c->n_rules++;
    return true;
}

static int find_name(const conv *c, const char *name) {
    for (size_t i = 0; i < c->n_rules; i++)
        if (strcmp(c->names[i], name) == 0)
            return (int)i;
    return -1;
}

bool cv_reserve(conv *c, const char *hint, char *out) {
    size_t n = 0;
    for (const char *h = hint; *h && n < 40; h++) {
        char ch = *h;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        out[n++] = ok ? ch : '-';
    }
    if (n == 0)
        out[n++] = 'r';
    snprintf(out + n, 64 - n, "-%u", c->next_id++);
    return add(c, out, NULL);
}

bool cv_define(conv *c, const char *name, const char *body) {
    int i = find_name(c, name);
    if (i < 0)
        return cv_fail(c, DESK_E_INTERNAL, "rule %s was never reserved", name);
    c->bodies[i] = strdup(body);
    return c->bodies[i] ? true : oom(c);
}

bool cv_rule(conv *c, const char *hint, const char *body, char *out) {
    for (size_t i = 0; i < c->n_rules; i++)
        if (c->bodies[i] && strcmp(c->bodies[i], body) == 0 && strncmp(c->names[i], "root", 5)) {
            snprintf(out, 64, "%s", c->names[i]);
            return true;
        }
    return cv_reserve(c, hint, out) && cv_define(c, out, body);
}

static const char *const FIXED[][2] = {
    {"ws", "(\" \" | \"\\n\" [ \\t]{0,20})?"},
    {"char", "[^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})"},
    {"string", "\"\\\"\" char* \"\\\"\""},
    {"number", "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?"},
    {"integer", "\"-\"? (\"0\" | [1-9] [0-9]*)"},
    {"boolean", "\"true\" | \"false\""},
    {"null", "\"null\""},
    {"value", "object | array | string | number | boolean | null"},
    {"object", "\"{\" ws (string ws \":\" ws value (ws \",\" ws string ws \":\" ws value)* ws)? \"}\""},
    {"array", "\"[\" ws (value (ws \",\" ws value)* ws)? \"]\""},
};

const char *cv_need(conv *c, const char *name) {
    static const char *const deps[][4] = {
        {"string", "char", NULL},
        {"value", "object", "array", "string"},
        {"value", "number", "boolean", "null"},
        {"object", "ws", "string", "value"},
        {"array", "ws", "value", NULL},
    };
    for (size_t f = 0; f < sizeof FIXED / sizeof FIXED[0]; f++) {
        if (strcmp(FIXED[f][0], name) != 0)
            continue;
        if (find_name(c, name) >= 0)
            return FIXED[f][0];
        if (!add(c, FIXED[f][0], FIXED[f][1]))
            return NULL;
        for (size_t d = 0; d < sizeof deps / sizeof deps[0]; d++)
            if (strcmp(deps[d][0], name) == 0)
                for (int k = 1; k < 4 && deps[d][k]; k++)
                    if (!cv_need(c, deps[d][k]))
                        return NULL;
        return FIXED[f][0];
    }
    cv_fail(c, DESK_E_INTERNAL, "no fixed rule %s", name);
    return NULL;
}

/* ---- the walk --------------------------------------------------------- */

typedef struct walk {
    conv c;
    json_object *root;
    char **ref_keys, **ref_names;
    size_t n_refs;
} walk;

static bool gen(walk *w, json_object *s, sbuf *out, int depth);

/* Appends "/SEG" to the pointer (SEG already escaped as RFC 6901 says,
 * "a/0" being two levels); returns the length to restore. */
static size_t push(conv *c, const char *seg) {
    size_t n = strlen(c->ptr);
    snprintf(c->ptr + n, sizeof c->ptr - n, "/%s", seg);
    return n;
}

/* NAME escaped as one pointer segment (~0, ~1). */
static void escape_seg(const char *name, char *out, size_t cap) {
    size_t at = 0;
    for (const char *p = name; *p && at + 3 < cap; p++) {
        if (*p == '~' || *p == '/') {
            out[at++] = '~';
            out[at++] = *p == '~' ? '0' : '1';
        } else {
            out[at++] = *p;
        }
    }
    out[at] = '\0';
}

static void pop(conv *c, size_t n) {
    c->ptr[n] = '\0';
}

static const char *const ANNOTATIONS[] = {"title",   "description", "$schema",    "$id",
                                          "$comment", "examples",   "default",    "deprecated",
                                          "readOnly", "writeOnly",  "$defs",      "definitions"};
static const char *const KEYWORDS[] = {
    "$ref",      "type",          "enum",      "const",     "anyOf",     "oneOf",
    "allOf",     "properties",    "required",  "additionalProperties", "items",
    "prefixItems", "minItems",    "maxItems",  "minLength", "maxLength", "pattern",
    "format",    "minimum",       "maximum",   "exclusiveMinimum", "exclusiveMaximum"};

static bool in(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

static bool is_annotation(const char *k) {
    return in(k, ANNOTATIONS, sizeof ANNOTATIONS / sizeof ANNOTATIONS[0]);
}

/* Refuses keywords desk does not know; with ALONE, also any keyword other
 * than ALONE itself and the annotations. */
static bool check_keys(conv *c, json_object *s, const char *alone) {
    json_object_object_foreach(s, k, v) {
        (void)v;
        if (is_annotation(k))
            continue;
        if (!in(k, KEYWORDS, sizeof KEYWORDS / sizeof KEYWORDS[0]))
            return cv_fail(c, DESK_E_UNSUPPORTED, "keyword \"%.64s\" is not supported", k);
        if (alone && strcmp(k, alone) != 0 && !(strcmp(alone, "enum") == 0 && !strcmp(k, "type")))
            return cv_fail(c, DESK_E_UNSUPPORTED, "\"%.64s\" beside \"%s\" is not supported", k,
                           alone);
    }
    return true;
}

static bool get_uint(conv *c, json_object *s, const char *key, long long *v, bool *has) {
    json_object *x;
    *has = json_object_object_get_ex(s, key, &x);
    if (!*has)
        return true;
    if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0 ||
        json_object_get_int64(x) > 100000)
        return cv_fail(c, DESK_E_UNSUPPORTED, "\"%s\" must be an integer from 0 to 100000", key);
    *v = json_object_get_int64(x);
    return true;
}

/* A JSON value exactly (const, enum), with the optional whitespace. */
static bool literal(walk *w, json_object *v, sbuf *out) {
    conv *c = &w->c;
    const char *ws = cv_need(c, "ws");
    if (!ws)
        return false;
    enum json_type t = json_object_get_type(v);
    if (t == json_type_array) {
        size_t n = json_object_array_length(v);
        sb_printf(out, "(\"[\" %s", ws);
        for (size_t i = 0; i < n; i++) {
            sb_puts(out, i ? " \",\" " : " ");
            if (i)
                sb_printf(out, "%s ", ws);
            if (!literal(w, json_object_array_get_idx(v, i), out))
                return false;
            sb_printf(out, " %s", ws);
        }
        sb_puts(out, " \"]\")");
        return true;
    }
    if (t == json_type_object) {
        sb_printf(out, "(\"{\" %s", ws);
        bool first = true;
        json_object_object_foreach(v, k, x) {
            if (!first)
                sb_printf(out, " \",\" %s", ws);
            json_object *ks = json_object_new_string(k);
            if (!ks)
                return oom(c);
            const char *kt = json_object_to_json_string_ext(ks, JSON_C_TO_STRING_NOSLASHESCAPE);
            sb_puts(out, " ");
            sb_lit(out, kt, strlen(kt));
            json_object_put(ks);
            sb_printf(out, " %s \":\" %s ", ws, ws);
            if (!literal(w, x, out))
                return false;
            sb_printf(out, " %s", ws);
            first = false;
        }
        sb_puts(out, " \"}\")");
        return true;
    }
    const char *txt = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE)
                        : "null";
    sb_lit(out, txt, strlen(txt));
    return true;
}

/* The target of a $ref ("#" or "#/a/b"), or NULL after failing. */
static json_object *resolve(walk *w, const char *ref) {
    if (ref[0] != '#' || (ref[1] != '\0' && ref[1] != '/')) {
        cv_fail(&w->c, DESK_E_UNSUPPORTED, "$ref \"%.100s\": only references inside the schema "
                "(\"#\", \"#/$defs/NAME\") are supported", ref);
        return NULL;
    }
    json_object *x = w->root;
    for (const char *p = ref + 1; *p == '/';) {
        const char *e = strchr(p + 1, '/');
        size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
        char seg[256];
        size_t m = 0;
        for (size_t i = 0; i < n && m + 1 < sizeof seg; i++) {
            char ch = p[1 + i];
            if (ch == '~' && i + 1 < n && (p[2 + i] == '0' || p[2 + i] == '1')) {
                ch = p[2 + i] == '0' ? '~' : '/';
                i++;
            }
            seg[m++] = ch;
        }
        seg[m] = '\0';
        json_object *next = NULL;
        if (json_object_is_type(x, json_type_object))
            json_object_object_get_ex(x, seg, &next);
        else if (json_object_is_type(x, json_type_array) && seg[0] >= '0' && seg[0] <= '9')
            next = json_object_array_get_idx(x, (size_t)strtoul(seg, NULL, 10));
        if (!next) {
            cv_fail(&w->c, DESK_E_NOTFOUND, "$ref \"%.100s\" points at nothing", ref);
            return NULL;
        }
        x = next;
        p += 1 + n;
    }
    return x;
}

static bool gen_ref(walk *w, const char *ref, sbuf *out, int depth) {
    conv *c = &w->c;
    for (size_t i = 0; i < w->n_refs; i++)
        if (strcmp(w->ref_keys[i], ref) == 0) {
            sb_puts(out, w->ref_names[i]);
            return true;
        }
    json_object *target = resolve(w, ref);
    if (!target)
        return false;
    char name[64];
    const char *last = strrchr(ref, '/');
    if (!cv_reserve(c, last ? last + 1 : "root-ref", name))
        return false;
    char **k = realloc(w->ref_keys, (w->n_refs + 1) * sizeof *k);
    if (k)
        w->ref_keys = k;
    char **n = realloc(w->ref_names, (w->n_refs + 1) * sizeof *n);
    if (n)
        w->ref_names = n;
    if (!k || !n)
        return oom(c);
    w->ref_keys[w->n_refs] = strdup(ref);
    w->ref_names[w->n_refs] = strdup(name);
    w->n_refs++;
    if (!w->ref_keys[w->n_refs - 1] || !w->ref_names[w->n_refs - 1])
        return oom(c);
    char saved[sizeof c->ptr];
    memcpy(saved, c->ptr, sizeof saved);
    snprintf(c->ptr, sizeof c->ptr, "%s", ref + 1);
    sbuf body = {0};
    bool ok = gen(w, target, &body, depth + 1) && (!body.oom || oom(c)) &&
              cv_define(c, name, body.p);
    free(body.p);
    memcpy(c->ptr, saved, sizeof saved);
    if (ok)
        sb_puts(out, name);
    return ok;
}

static bool gen_integer(walk *w, json_object *s, sbuf *out) {
    conv *c = &w->c;
    bool has_lo = false, has_hi = false;
    long long lo = 0, hi = 0;
    static const char *const keys[] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    for (int k = 0; k < 4; k++) {
        json_object *x;
        if (!json_object_object_get_ex(s, keys[k], &x))
            continue;
        if (!json_object_is_type(x, json_type_int) && !json_object_is_type(x, json_type_double))
            return cv_fail(c, DESK_E_UNSUPPORTED, "\"%s\" must be a number", keys[k]);
        double d = json_object_get_double(x);
        if (!(fabs(d) < 9e15))
            return cv_fail(c, DESK_E_UNSUPPORTED, "\"%s\" %g is out of range", keys[k], d);
        long long v = json_object_is_type(x, json_type_int) ? json_object_get_int64(x)
                      : k < 2                               ? (long long)ceil(d)
                                                            : (long long)floor(d);
        if (k == 1 && (double)v == d)
            v++;
        if (k == 3 && (double)v == d)
            v--;
        if (k < 2) {
            lo = has_lo && lo > v ? lo : v;
            has_lo = true;
        } else {
            hi = has_hi && hi < v ? hi : v;
            has_hi = true;
        }
    }
    if (!has_lo && !has_hi) {
        const char *r = cv_need(c, "integer");
        if (r)
            sb_puts(out, r);
        return r != NULL;
    }
    return cv_int_range(c, has_lo, lo, has_hi, hi, out);
}

static bool gen_string(walk *w, json_object *s, sbuf *out) {
    conv *c = &w->c;
    json_object *pat = NULL, *fmt = NULL;
    json_object_object_get_ex(s, "pattern", &pat);
    json_object_object_get_ex(s, "format", &fmt);
    long long mn = 0, mx = 0;
    bool has_mn, has_mx;
    if (!get_uint(c, s, "minLength", &mn, &has_mn) || !get_uint(c, s, "maxLength", &mx, &has_mx))
        return false;
    if ((pat != NULL) + (fmt != NULL) + (has_mn || has_mx) > 1)
        return cv_fail(c, DESK_E_UNSUPPORTED,
                       "at most one of pattern, format and minLength/maxLength per string");
    if (pat) {
        if (!json_object_is_type(pat, json_type_string))
            return cv_fail(c, DESK_E_FORMAT, "\"pattern\" must be a string");
        size_t n = push(c, "pattern");
        bool ok = cv_pattern(c, json_object_get_string(pat), out);
        pop(c, n);
        return ok;
    }
    if (fmt) {
        if (!json_object_is_type(fmt, json_type_string))
            return cv_fail(c, DESK_E_FORMAT, "\"format\" must be a string");
        size_t n = push(c, "format");
        bool ok = cv_format(c, json_object_get_string(fmt), out);
        pop(c, n);
        return ok;
    }
    const char *ch = cv_need(c, has_mn || has_mx ? "char" : "string");
    if (!ch)
        return false;
    if (!has_mn && !has_mx) {
        sb_puts(out, ch);
        return true;
    }
    if (has_mx && mx < mn)
        return cv_fail(c, DESK_E_UNSUPPORTED, "minLength %lld is above maxLength %lld", mn, mx);
    if (has_mx)
        sb_printf(out, "(\"\\\"\" %s{%lld,%lld} \"\\\"\")", ch, mn, mx);
    else
        sb_printf(out, "(\"\\\"\" %s{%lld,} \"\\\"\")", ch, mn);
    return true;
}

/* An item of an array: its schema's expression, or any value. */
static bool gen_sub(walk *w, json_object *s, const char *seg, sbuf *out, int depth) {
    size_t n = push(&w->c, seg);
    bool ok = gen(w, s, out, depth + 1);
    pop(&w->c, n);
    return ok;
}

static bool gen_array(walk *w, json_object *s, sbuf *out, int depth) {
    conv *c = &w->c;
    const char *ws = cv_need(c, "ws");
    if (!ws)
        return false;
    json_object *prefix = NULL, *items = NULL;
    json_object_object_get_ex(s, "prefixItems", &prefix);
    json_object_object_get_ex(s, "items", &items);
    if (prefix && !json_object_is_type(prefix, json_type_array))
        return cv_fail(c, DESK_E_FORMAT, "\"prefixItems\" must be an array");
    long long mn = 0, mx = 0;
    bool has_mn, has_mx;
    if (!get_uint(c, s, "minItems", &mn, &has_mn) || !get_uint(c, s, "maxItems", &mx, &has_mx))
        return false;
    size_t k = prefix ? json_object_array_length(prefix) : 0;
    if (k > 1000)
        return cv_fail(c, DESK_E_UNSUPPORTED, "more than 1000 prefixItems");
    bool no_more = items && json_object_is_type(items, json_type_boolean) &&
                   !json_object_get_boolean(items);
    if (no_more && (!has_mx || mx > (long long)k)) {
        mx = (long long)k;
        has_mx = true;
    }
    if (has_mx && mx < mn)
        return cv_fail(c, DESK_E_UNSUPPORTED, "minItems %lld is above what the array can hold (%lld)",
                       mn, mx);
    /* every element's expression: the prefix ones, then the items one */
    sbuf *el = calloc(k + 1, sizeof *el);
    if (!el)
        return oom(c);
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++) {
        char seg[32];
        snprintf(seg, sizeof seg, "prefixItems/%zu", i);
        ok = gen_sub(w, json_object_array_get_idx(prefix, i), seg, &el[i], depth);
    }
    if (ok && !no_more) {
        if (items)
            ok = gen_sub(w, items, "items", &el[k], depth);
        else
            sb_puts(&el[k], cv_need(c, "value") ? "value" : "");
    }
    sbuf body = {0};
    if (ok && has_mx && mx == 0) {
        sb_printf(&body, "\"[\" %s \"]\"", ws);
    } else if (ok) {
        /* "[" ws (E0 (ws "," ws E1 (...)?)? ws)? "]", the groups optional
         * past minItems; past the prefix, the items repeat */
        sb_printf(&body, "\"[\" %s (%s", ws, el[0].p ? el[0].p : "");
        size_t open = 0;
        for (size_t i = 1; i < k && (!has_mx || (long long)i < mx); i++) {
            sb_printf(&body, " (%s \",\" %s %s", ws, ws, el[i].p);
            open++;
        }
        if (!no_more && (!has_mx || mx > (k ? (long long)k : 1))) {
            long long first = k ? (long long)k : 1; /* index of the first repeated item */
            long long need = mn > first ? mn - first : 0;
            if (has_mx)
                sb_printf(&body, " (%s \",\" %s %s){%lld,%lld}", ws, ws, el[k].p, need, mx - first);
            else
                sb_printf(&body, " (%s \",\" %s %s){%lld,}", ws, ws, el[k].p, need);
        }
        for (size_t i = open; i > 0; i--)
            sb_puts(&body, (long long)i >= mn ? ")?" : ")");
        sb_printf(&body, " %s)%s \"]\"", ws, mn == 0 ? "?" : "");
        if (k == 0 && no_more)
            ok = cv_fail(c, DESK_E_UNSUPPORTED, "an array that can hold nothing needs maxItems 0");
    }
    for (size_t i = 0; i <= k; i++)
        free(el[i].p);
    free(el);
    char name[64];
    ok = ok && (!body.oom || oom(c)) && cv_rule(c, "array", body.p, name);
    free(body.p);
    if (ok)
        sb_puts(out, name);
    return ok;
}

/* Objects: KEYS[i] with value expression VALS[i], REQ[i] when required;
 * EXTRA the expression of the other properties' values, NULL when none
 * are allowed.  The rules (see the file's comment):
 *   rest(i)  = (ws "," ws kv_i)? rest(i+1)   - after something was written
 *   first(i) = kv_i rest(i+1) | first(i+1)    - the first one written,
 * the second alternative only when kv_i is optional. */
static bool object_rules(walk *w, const char *const *keys, char **vals, const bool *req, size_t n,
                         const char *extra, sbuf *out) {
    conv *c = &w->c;
    const char *ws = cv_need(c, "ws");
    if (!ws)
        return false;
    char extra_kv[64] = "", rest[64] = "", first[64] = "";
    sbuf b = {0};
    bool ok = true, nullable = true;
    if (extra) {
        if (n) {
            ok = cv_not_names(c, keys, n, &b);
        } else {
            const char *st = cv_need(c, "string");
            ok = st != NULL;
            sb_puts(&b, st ? st : "");
        }
        sb_printf(&b, " %s \":\" %s %s", ws, ws, extra);
        ok = ok && (!b.oom || oom(c)) && cv_rule(c, "kv", b.p, extra_kv);
        b.n = 0;
        sb_printf(&b, "(%s \",\" %s %s)*", ws, ws, extra_kv);
        ok = ok && (!b.oom || oom(c)) && cv_rule(c, "rest", b.p, rest);
        b.n = 0;
        sb_printf(&b, "%s %s", extra_kv, rest);
        ok = ok && (!b.oom || oom(c)) && cv_rule(c, "first", b.p, first);
    }
    for (size_t i = n; i-- > 0 && ok;) {
        char kv[64];
        b.n = 0;
        json_object *ks = json_object_new_string(keys[i]);
        if (!ks) {
            ok = oom(c);
            break;
        }
        const char *kt = json_object_to_json_string_ext(ks, JSON_C_TO_STRING_NOSLASHESCAPE);
        sb_lit(&b, kt, strlen(kt));
        json_object_put(ks);
        sb_printf(&b, " %s \":\" %s ", ws, ws);
        sb_puts(&b, vals[i]);
        ok = (!b.oom || oom(c)) && cv_rule(c, "kv", b.p, kv);
        char r[64], f[64];
        b.n = 0;
        sb_printf(&b, "(%s \",\" %s %s)%s %s", ws, ws, kv, req[i] ? "" : "?", rest);
        ok = ok && (!b.oom || oom(c)) && cv_rule(c, "rest", b.p, r);
        b.n = 0;
        sb_printf(&b, "%s %s", kv, rest);
        if (!req[i] && first[0])
            sb_printf(&b, " | %s", first);
        ok = ok && (!b.oom || oom(c)) && cv_rule(c, "first", b.p, f);
        snprintf(rest, sizeof rest, "%s", r);
        snprintf(first, sizeof first, "%s", f);
        nullable = nullable && !req[i];
    }
    b.n = 0;
    if (!first[0])
        sb_printf(&b, "\"{\" %s \"}\"", ws);
    else if (nullable)
        sb_printf(&b, "\"{\" %s (%s %s)? \"}\"", ws, first, ws);
    else
        sb_printf(&b, "\"{\" %s %s %s \"}\"", ws, first, ws);
    char name[64];
    ok = ok && (!b.oom || oom(c)) && cv_rule(c, "object", b.p, name);
    free(b.p);
    if (ok)
        sb_puts(out, name);
    return ok;
}

static bool gen_object(walk *w, json_object *s, sbuf *out, int depth) {
    conv *c = &w->c;
    json_object *props = NULL, *req = NULL, *addl = NULL;
    json_object_object_get_ex(s, "properties", &props);
    json_object_object_get_ex(s, "required", &req);
    json_object_object_get_ex(s, "additionalProperties", &addl);
    if (props && !json_object_is_type(props, json_type_object))
        return cv_fail(c, DESK_E_FORMAT, "\"properties\" must be an object");
    if (req && !json_object_is_type(req, json_type_array))
        return cv_fail(c, DESK_E_FORMAT, "\"required\" must be an array");
    size_t n_req = req ? json_object_array_length(req) : 0;
    size_t n_props = props ? (size_t)json_object_object_length(props) : 0;
    size_t cap = n_props + n_req;
    const char **keys = calloc(cap + 1, sizeof *keys);
    char **vals = calloc(cap + 1, sizeof *vals);
    bool *isreq = calloc(cap + 1, sizeof *isreq);
    bool ok = keys && vals && isreq ? true : oom(c);
    size_t n = 0;
    if (ok && props) {
        json_object_object_foreach(props, k, v) {
            size_t at = push(c, "properties");
            char seg[200];
            escape_seg(k, seg, sizeof seg);
            sbuf e = {0};
            ok = gen_sub(w, v, seg, &e, depth) && (!e.oom || oom(c));
            pop(c, at);
            keys[n] = k;
            vals[n++] = e.p;
            if (!ok)
                break;
        }
    }
    for (size_t i = 0; ok && i < n_req; i++) {
        json_object *r = json_object_array_get_idx(req, i);
        if (!json_object_is_type(r, json_type_string)) {
            ok = cv_fail(c, DESK_E_FORMAT, "\"required\" must hold names");
            break;
        }
        const char *name = json_object_get_string(r);
        size_t j = 0;
        while (j < n && strcmp(keys[j], name) != 0)
            j++;
        if (j == n) { /* required but not described: any value */
            keys[n] = name;
            vals[n++] = strdup(cv_need(c, "value") ? "value" : "");
            if (!vals[j])
                ok = oom(c);
        }
        isreq[j] = true;
    }
    sbuf extra = {0};
    bool has_extra = true;
    if (ok && addl && json_object_is_type(addl, json_type_boolean)) {
        has_extra = json_object_get_boolean(addl);
        if (has_extra)
            ok = cv_need(c, "value") && (sb_puts(&extra, "value"), true);
    } else if (ok && addl) {
        ok = gen_sub(w, addl, "additionalProperties", &extra, depth);
    } else if (ok) {
        ok = cv_need(c, "value") && (sb_puts(&extra, "value"), true);
    }
    ok = ok && object_rules(w, keys, vals, isreq, n, has_extra ? extra.p : NULL, out);
    for (size_t i = 0; vals && i < n; i++)
        free(vals[i]);
    free(keys);
    free(vals);
    free(isreq);
    free(extra.p);
    return ok;
}

/* allOf of object schemas (the commonest use: a base object and its
 * extension) merges them into one; a single-element allOf is its
 * element. */
static bool gen_all_of(walk *w, json_object *s, json_object *list, sbuf *out, int depth) {
    conv *c = &w->c;
    if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
        return cv_fail(c, DESK_E_FORMAT, "\"allOf\" must be a non-empty array");
    size_t n = json_object_array_length(list);
    bool alone = true;
    json_object_object_foreach(s, k0, v0) {
        (void)v0;
        if (strcmp(k0, "allOf") != 0 && !is_annotation(k0))
            alone = false;
    }
    if (alone && n == 1)
        return gen_sub(w, json_object_array_get_idx(list, 0), "allOf/0", out, depth);
    json_object *merged = json_object_new_object(), *props = json_object_new_object(),
                *req = json_object_new_array();
    bool ok = merged && props && req ? true : oom(c);
    /* a part closed by additionalProperties: false allows only its own
     * properties, so the merge is exact only when it declares them all */
    json_object *closed_part[64];
    size_t n_closed = 0;
    for (size_t i = 0; ok && i <= n; i++) {
        json_object *part = i == n ? s : json_object_array_get_idx(list, i);
        char seg[32];
        snprintf(seg, sizeof seg, "allOf/%zu", i);
        size_t at = i == n ? strlen(c->ptr) : push(c, seg);
        json_object *ref;
        if (json_object_is_type(part, json_type_object) &&
            json_object_object_get_ex(part, "$ref", &ref) && json_object_is_type(ref, json_type_string))
            part = resolve(w, json_object_get_string(ref));
        if (!part || !json_object_is_type(part, json_type_object)) {
            ok = part ? cv_fail(c, DESK_E_UNSUPPORTED, "allOf of a non-object schema") : false;
            pop(c, at);
            break;
        }
        json_object_object_foreach(part, k, v) {
            if (!ok || is_annotation(k) || !strcmp(k, "allOf") || !strcmp(k, "$ref"))
                continue;
            if (!strcmp(k, "type") && json_object_is_type(v, json_type_string) &&
                !strcmp(json_object_get_string(v), "object"))
                continue;
            if (!strcmp(k, "properties") && json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, pk, pv) {
                    json_object *had;
                    if (json_object_object_get_ex(props, pk, &had)) {
                        if (json_object_equal(had, pv))
                            continue;
                        ok = cv_fail(c, DESK_E_UNSUPPORTED,
                                     "allOf: property \"%.64s\" described twice, differently", pk);
                        break;
                    }
                    json_object_object_add(props, pk, json_object_get(pv));
                }
            } else if (!strcmp(k, "required") && json_object_is_type(v, json_type_array)) {
                for (size_t r = 0; r < json_object_array_length(v); r++)
                    json_object_array_add(req, json_object_get(json_object_array_get_idx(v, r)));
            } else if (!strcmp(k, "additionalProperties") && json_object_is_type(v, json_type_boolean)) {
                if (!json_object_get_boolean(v))
                    closed_part[n_closed++ < 64 ? n_closed - 1 : 63] = part;
            } else {
                ok = cv_fail(c, DESK_E_UNSUPPORTED,
                             "allOf: \"%.64s\" (only object schemas with properties, required "
                             "and a boolean additionalProperties merge)", k);
            }
        }
        pop(c, at);
    }
    for (size_t i = 0; ok && i < n_closed && i < 64; i++) {
        json_object *own = NULL;
        json_object_object_get_ex(closed_part[i], "properties", &own);
        json_object_object_foreach(props, pk, pv) {
            (void)pv;
            if (ok && (!own || !json_object_object_get_ex(own, pk, NULL)))
                ok = cv_fail(c, DESK_E_UNSUPPORTED,
                             "allOf: a part with additionalProperties false does not declare "
                             "\"%.64s\" (it would refuse it)", pk);
        }
    }
    bool closed = n_closed > 0;
    if (ok) {
        json_object_object_add(merged, "type", json_object_new_string("object"));
        json_object_object_add(merged, "properties", props);
        json_object_object_add(merged, "required", req);
        props = req = NULL;
        if (closed)
            json_object_object_add(merged, "additionalProperties", json_object_new_boolean(0));
        ok = gen_object(w, merged, out, depth);
    }
    json_object_put(props);
    json_object_put(req);
    json_object_put(merged);
    return ok;
}

static bool gen_type(walk *w, json_object *s, const char *t, sbuf *out, int depth) {
    conv *c = &w->c;
    static const char *const NUMERIC[] = {"minimum", "maximum", "exclusiveMinimum",
                                          "exclusiveMaximum"};
    if (strcmp(t, "integer") == 0)
        return gen_integer(w, s, out);
    if (strcmp(t, "number") == 0) {
        for (int k = 0; k < 4; k++)
            if (json_object_object_get_ex(s, NUMERIC[k], NULL))
                return cv_fail(c, DESK_E_UNSUPPORTED,
                               "\"%s\" on a number is not supported (only on integers)", NUMERIC[k]);
    }
    if (!strcmp(t, "number") || !strcmp(t, "boolean") || !strcmp(t, "null")) {
        const char *r = cv_need(c, t);
        if (r)
            sb_puts(out, r);
        return r != NULL;
    }
    if (strcmp(t, "string") == 0)
        return gen_string(w, s, out);
    if (strcmp(t, "array") == 0)
        return gen_array(w, s, out, depth);
    if (strcmp(t, "object") == 0)
        return gen_object(w, s, out, depth);
    return cv_fail(c, DESK_E_UNSUPPORTED, "type \"%.32s\" is not a JSON Schema type", t);
}

/* The type the keywords imply when "type" is absent, or NULL: any value. */
static const char *implied_type(json_object *s) {
    static const char *const BY[][2] = {
        {"properties", "object"}, {"required", "object"}, {"additionalProperties", "object"},
        {"items", "array"},       {"prefixItems", "array"}, {"minItems", "array"},
        {"maxItems", "array"},    {"minLength", "string"}, {"maxLength", "string"},
        {"pattern", "string"},    {"format", "string"},    {"minimum", "integer"},
        {"maximum", "integer"},   {"exclusiveMinimum", "integer"},
        {"exclusiveMaximum", "integer"}};
    for (size_t i = 0; i < sizeof BY / sizeof BY[0]; i++)
        if (json_object_object_get_ex(s, BY[i][0], NULL))
            return BY[i][1];
    return NULL;
}

static bool gen_alts(walk *w, json_object *list, const char *key, sbuf *out, int depth) {
    conv *c = &w->c;
    if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
        return cv_fail(c, DESK_E_FORMAT, "\"%s\" must be a non-empty array", key);
    sb_puts(out, "(");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        char seg[48];
        snprintf(seg, sizeof seg, "%s/%zu", key, i);
        sb_puts(out, i ? " | " : "");
        if (!gen_sub(w, json_object_array_get_idx(list, i), seg, out, depth))
            return false;
    }
    sb_puts(out, ")");
    return true;
}

static bool gen(walk *w, json_object *s, sbuf *out, int depth) {
    conv *c = &w->c;
    if (depth > 64)
        return cv_fail(c, DESK_E_UNSUPPORTED, "the schema nests deeper than 64");
    if (json_object_is_type(s, json_type_boolean)) {
        if (!json_object_get_boolean(s))
            return cv_fail(c, DESK_E_UNSUPPORTED, "the schema false accepts nothing");
        return cv_need(c, "value") && (sb_puts(out, "value"), true);
    }
    if (!json_object_is_type(s, json_type_object))
        return cv_fail(c, DESK_E_FORMAT, "a schema must be an object or a boolean");
    json_object *x;
    if (json_object_object_get_ex(s, "$ref", &x)) {
        if (!check_keys(c, s, "$ref"))
            return false;
        if (!json_object_is_type(x, json_type_string))
            return cv_fail(c, DESK_E_FORMAT, "\"$ref\" must be a string");
        return gen_ref(w, json_object_get_string(x), out, depth);
    }
    if (!check_keys(c, s, NULL))
        return false;
    if (json_object_object_get_ex(s, "const", &x)) {
        if (!check_keys(c, s, "const"))
            return false;
        return literal(w, x, out);
    }
    if (json_object_object_get_ex(s, "enum", &x)) {
        if (!check_keys(c, s, "enum"))
            return false;
        if (!json_object_is_type(x, json_type_array) || json_object_array_length(x) == 0)
            return cv_fail(c, DESK_E_FORMAT, "\"enum\" must be a non-empty array");
        sb_puts(out, "(");
        for (size_t i = 0; i < json_object_array_length(x); i++) {
            sb_puts(out, i ? " | " : "");
            if (!literal(w, json_object_array_get_idx(x, i), out))
                return false;
        }
        sb_puts(out, ")");
        return true;
    }
    static const char *const ALTS[] = {"anyOf", "oneOf"};
    for (int a = 0; a < 2; a++)
        if (json_object_object_get_ex(s, ALTS[a], &x))
            return check_keys(c, s, ALTS[a]) && gen_alts(w, x, ALTS[a], out, depth);
    if (json_object_object_get_ex(s, "allOf", &x))
        return gen_all_of(w, s, x, out, depth);
    json_object *type = NULL;
    json_object_object_get_ex(s, "type", &type);
    if (!type) {
        const char *t = implied_type(s);
        if (t)
            return gen_type(w, s, t, out, depth);
        return cv_need(c, "value") && (sb_puts(out, "value"), true);
    }
    if (json_object_is_type(type, json_type_string))
        return gen_type(w, s, json_object_get_string(type), out, depth);
    if (!json_object_is_type(type, json_type_array) || json_object_array_length(type) == 0)
        return cv_fail(c, DESK_E_FORMAT, "\"type\" must be a name or a non-empty array of names");
    sb_puts(out, "(");
    for (size_t i = 0; i < json_object_array_length(type); i++) {
        json_object *t = json_object_array_get_idx(type, i);
        if (!json_object_is_type(t, json_type_string))
            return cv_fail(c, DESK_E_FORMAT, "\"type\" must hold names");
        sb_puts(out, i ? " | " : "");
        if (!gen_type(w, s, json_object_get_string(t), out, depth))
            return false;
    }
    sb_puts(out, ")");
    return true;
}

/* ---- entry ------------------------------------------------------------ */

static desk_status parse_json(const char *text, size_t len, json_object **out, desk_err *err) {
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return desk_errf(err, DESK_E_NOMEM, "schema: out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* a space after the text ends a bare number or literal ("true"), which
     * the tokener would otherwise wait on */
    char *padded = len < (size_t)INT32_MAX ? malloc(len + 2) : NULL;
    if (!padded) {
        json_tokener_free(tok);
        return desk_errf(err, DESK_E_NOMEM, "schema: out of memory for %zu bytes", len);
    }
    memcpy(padded, text, len);
    padded[len] = ' ';
    padded[len + 1] = '\0';
    json_object *v = json_tokener_parse_ex(tok, padded, (int)len + 1);
    free(padded);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (v && je == json_tokener_success)
        while (end < len && strchr(" \t\r\n", text[end]))
            end++;
    json_tokener_free(tok);
    if (end > len)
        end = len;
    if (!v || je != json_tokener_success || end != len) {
        size_t at = v ? end : (je == json_tokener_continue ? len : end);
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < at && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        const char *why = !v && je == json_tokener_success ? "null is not a schema"
                          : !v && je == json_tokener_continue ? "the JSON ends early"
                          : v                               ? "text after the JSON value"
                                                            : json_tokener_error_desc(je);
        json_object_put(v);
        return desk_errf(err, DESK_E_FORMAT, "schema:%u:%u: not JSON: %s", line, col, why);
    }
    *out = v;
    return DESK_OK;
}

desk_status desk_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf,
                                     size_t *gbnf_len, desk_err *err) {
    *gbnf = NULL;
    if (gbnf_len)
        *gbnf_len = 0;
    if (!schema && len)
        return desk_errf(err, DESK_E_ARG, "schema: NULL text");
    json_object *root = NULL;
    desk_status st = parse_json(schema ? schema : "", len, &root, err);
    if (st != DESK_OK)
        return st;
    walk w = {.c = {.err = err}, .root = root};
    sbuf expr = {0}, text = {0};
    bool ok = gen(&w, root, &expr, 0) && (!expr.oom || oom(&w.c));
    if (ok) {
        sb_puts(&text, "root ::= ");
        sb_puts(&text, expr.p);
        sb_puts(&text, "\n");
        for (size_t i = 0; i < w.c.n_rules; i++) {
            sb_printf(&text, "%s ::= ", w.c.names[i]);
            sb_puts(&text, w.c.bodies[i] ? w.c.bodies[i] : "\"\"");
            sb_puts(&text, "\n");
        }
        ok = !text.oom || oom(&w.c);
    }
    for (size_t i = 0; i < w.c.n_rules; i++) {
        free(w.c.names[i]);
        free(w.c.bodies[i]);
    }
    free(w.c.names);
    free(w.c.bodies);
    for (size_t i = 0; i < w.n_refs; i++) {
        free(w.ref_keys[i]);
        free(w.ref_names[i]);
    }
    free(w.ref_keys);
    free(w.ref_names);
    free(expr.p);
    json_object_put(root);
    if (!ok) {
        free(text.p);
        return w.c.st != DESK_OK ? w.c.st : DESK_E_INTERNAL;
    }
    *gbnf = text.p;
    if (gbnf_len)
        *gbnf_len = text.n;
    return DESK_OK;
}
