/*
 * parse.c - GBNF text to the flat grammar of internal.h.
 *
 * A recursive-descent parser over bytes, shaped like the format: a rule
 * is alternatives, an alternative a sequence of items, an item a literal,
 * a class, a reference, `.` or a parenthesised group, each optionally
 * repeated.  Groups become helper rules; repetitions become chains of
 * right-recursive helper rules (x* is r ::= x r |, x{0,3} nests three
 * optional rules), so the matcher never needs a counter and a stack's
 * depth stays the text's nesting.  Rules are collected first and laid out
 * in one array at the end, when every reference can be checked.
 */
#include "grammar/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Past these a grammar is refused rather than expanded: x{1000}{1000}
 * would otherwise ask for a million elements. */
#define MAX_ELEMS (1u << 20)
#define MAX_REPEAT 100000u

typedef struct gvec {
    desk_gelem *v;
    uint32_t n, cap;
} gvec;

typedef struct prule {
    char *name;
    uint32_t kind;
    bool defined;
    size_t pos;   /* definition, or first use while undefined */
    gvec body;    /* alternatives, ALT-separated, END-terminated */
} prule;

typedef struct pstate {
    const char *src;
    size_t len, pos;
    desk_err *err;
    desk_status st; /* the first failure; parsing stops at it */
    prule *rules;
    uint32_t n_rules, cap_rules;
    desk_gclass *classes;
    uint32_t n_classes, cap_classes;
    desk_grange *ranges;
    uint32_t n_ranges, cap_ranges;
    size_t total; /* elements in all rules */
    /* a line-counting cursor: positions asked for mostly increase */
    size_t at;
    uint32_t at_line, at_col;
} pstate;

static void where(pstate *ps, size_t pos, uint32_t *line, uint32_t *col) {
    if (pos < ps->at) {
        ps->at = 0;
        ps->at_line = 1;
        ps->at_col = 1;
    }
    for (; ps->at < pos && ps->at < ps->len; ps->at++) {
        if (ps->src[ps->at] == '\n') {
            ps->at_line++;
            ps->at_col = 1;
        } else {
            ps->at_col++;
        }
    }
    *line = ps->at_line;
    *col = ps->at_col;
}

/* Records the first error, at POS, as "grammar:L:C: MSG". */
static bool fail_at(pstate *ps, size_t pos, desk_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail_at(pstate *ps, size_t pos, desk_status st, const char *fmt, ...) {
    if (ps->st != DESK_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t line, col;
    where(ps, pos, &line, &col);
    ps->st = desk_errf(ps->err, st, "grammar:%u:%u: %s", line, col, msg);
    return false;
}

static bool oom(pstate *ps) {
    return fail_at(ps, ps->pos, DESK_E_NOMEM, "out of memory");
}

static bool grow(pstate *ps, void **p, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap)
        return true;
    uint32_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q)
        return oom(ps);
    *p = q;
    *cap = c;
    return true;
}

static bool push(pstate *ps, gvec *v, uint32_t type, uint32_t value) {
    if (++ps->total > MAX_ELEMS)
        return fail_at(ps, ps->pos, DESK_E_RANGE, "the grammar expands past %u elements", MAX_ELEMS);
    void *p = v->v;
    bool ok = grow(ps, &p, &v->cap, v->n + 1, sizeof *v->v);
    v->v = p;
    if (!ok)
        return false;
    v->v[v->n++] = (desk_gelem){type, value};
    return true;
}

static bool append(pstate *ps, gvec *v, const desk_gelem *e, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!push(ps, v, e[i].type, e[i].value))
            return false;
    return true;
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static int peek(const pstate *ps) {
    return ps->pos < ps->len ? (unsigned char)ps->src[ps->pos] : -1;
}

/* Skips blanks and comments, and newlines too when NEWLINES (inside
 * parentheses, after `::=` and `|`). */
static void space(pstate *ps, bool newlines) {
    while (ps->pos < ps->len) {
        char c = ps->src[ps->pos];
        if (c == '#') {
            while (ps->pos < ps->len && ps->src[ps->pos] != '\n' && ps->src[ps->pos] != '\r')
                ps->pos++;
        } else if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
            ps->pos++;
        } else {
            break;
        }
    }
}

/* A new rule (defined later, or a helper defined by its creator). */
static bool new_rule(pstate *ps, const char *name, size_t name_len, uint32_t kind, size_t pos,
                     uint32_t *id) {
    void *p = ps->rules;
    bool ok = grow(ps, &p, &ps->cap_rules, ps->n_rules + 1, sizeof *ps->rules);
    ps->rules = p;
    if (!ok)
        return false;
    prule *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(name_len + 1);
    if (!r->name)
        return oom(ps);
    memcpy(r->name, name, name_len);
    r->name[name_len] = '\0';
    r->kind = kind;
    r->pos = pos;
    *id = ps->n_rules++;
    return true;
}

static bool named_rule(pstate *ps, const char *name, size_t name_len, size_t pos, uint32_t *id) {
    for (uint32_t i = 0; i < ps->n_rules; i++) {
        if (ps->rules[i].kind == GR_NAMED && strlen(ps->rules[i].name) == name_len &&
            memcmp(ps->rules[i].name, name, name_len) == 0) {
            *id = i;
            return true;
        }
    }
    return new_rule(ps, name, name_len, GR_NAMED, pos, id);
}

/* A helper rule for a group or repetition inside rule PARENT. */
static bool helper_rule(pstate *ps, uint32_t parent, uint32_t kind, size_t pos, uint32_t *id) {
    char name[160];
    int n = snprintf(name, sizeof name, "%.120s_%u", ps->rules[parent].name, ps->n_rules);
    return new_rule(ps, name, (size_t)n, kind, pos, id);
}

/* The byte at the parse position, for messages: 'c', a hex byte, or
 * "the end". */
static void describe(const pstate *ps, char *buf, size_t size) {
    int c = peek(ps);
    if (c < 0)
        snprintf(buf, size, "the end");
    else if (c > ' ' && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", (unsigned)c);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class: an escape or a UTF-8 character of
 * the grammar text. */
static bool parse_char(pstate *ps, uint32_t *cp) {
    size_t at = ps->pos;
    if (ps->pos >= ps->len)
        return fail_at(ps, at, DESK_E_FORMAT, "unexpected end of the grammar");
    if (ps->src[ps->pos] == '\\') {
        if (++ps->pos >= ps->len)
            return fail_at(ps, at, DESK_E_FORMAT, "unexpected end of the grammar after '\\'");
        char c = ps->src[ps->pos++];
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            for (int i = 0; i < digits; i++) {
                int h = ps->pos < ps->len ? hexval(ps->src[ps->pos]) : -1;
                if (h < 0)
                    return fail_at(ps, at, DESK_E_FORMAT, "'\\%c' needs %d hex digits", c, digits);
                v = (v << 4) | (uint32_t)h;
                ps->pos++;
            }
            if (v > 0x10FFFF)
                return fail_at(ps, at, DESK_E_FORMAT, "'\\%c%.*s' is past U+10FFFF", c, digits,
                               ps->src + at + 2);
            *cp = v;
            return true;
        }
        switch (c) {
        case 'n': *cp = '\n'; return true;
        case 't': *cp = '\t'; return true;
        case 'r': *cp = '\r'; return true;
        case '\\': case '"': case '[': case ']': case '-': *cp = (uint8_t)c; return true;
        default:
            return fail_at(ps, at, DESK_E_FORMAT, "unknown escape '\\%c'", c);
        }
    }
    desk_gutf8 u = {0};
    while (ps->pos < ps->len) {
        int r = desk_gutf8_push(&u, (uint8_t)ps->src[ps->pos++]);
        if (r == GU_DONE) {
            *cp = u.cp;
            return true;
        }
        if (r == GU_BAD)
            break;
    }
    return fail_at(ps, at, DESK_E_FORMAT, "invalid UTF-8 in the grammar");
}

static int cmp_range(const void *a, const void *b) {
    const desk_grange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* `[...]` (the '[' consumed): a class element, its ranges sorted and
 * merged. */
static bool parse_class(pstate *ps, size_t open, gvec *out) {
    desk_gclass c = {ps->n_ranges, 0, false};
    if (peek(ps) == '^') {
        c.neg = true;
        ps->pos++;
    }
    while (peek(ps) != ']') {
        if (peek(ps) < 0)
            return fail_at(ps, open, DESK_E_FORMAT, "'[' is never closed by ']'");
        size_t at = ps->pos;
        uint32_t lo, hi;
        if (!parse_char(ps, &lo))
            return false;
        hi = lo;
        if (peek(ps) == '-' && ps->pos + 1 < ps->len && ps->src[ps->pos + 1] != ']') {
            ps->pos++;
            if (!parse_char(ps, &hi))
                return false;
            if (hi < lo)
                return fail_at(ps, at, DESK_E_FORMAT, "the range's end U+%04X is below its start U+%04X",
                               (unsigned)hi, (unsigned)lo);
        }
        void *p = ps->ranges;
        bool ok = grow(ps, &p, &ps->cap_ranges, ps->n_ranges + 1, sizeof *ps->ranges);
        ps->ranges = p;
        if (!ok)
            return false;
        ps->ranges[ps->n_ranges++] = (desk_grange){lo, hi};
        c.n++;
    }
    ps->pos++;
    if (c.n == 0)
        return fail_at(ps, open, DESK_E_FORMAT, "an empty character class");
    desk_grange *r = ps->ranges + c.off;
    qsort(r, c.n, sizeof *r, cmp_range);
    uint32_t k = 0;
    for (uint32_t i = 1; i < c.n; i++) {
        if (r[i].lo <= r[k].hi + 1) {
            if (r[i].hi > r[k].hi)
                r[k].hi = r[i].hi;
        } else {
            r[++k] = r[i];
        }
    }
    c.n = k + 1;
    ps->n_ranges = c.off + c.n;
    void *p = ps->classes;
    bool ok = grow(ps, &p, &ps->cap_classes, ps->n_classes + 1, sizeof *ps->classes);
    ps->classes = p;
    if (!ok)
        return false;
    ps->classes[ps->n_classes] = c;
    return push(ps, out, GE_CLASS, ps->n_classes++);
}

static bool parse_alternates(pstate *ps, uint32_t rule, bool nested, gvec *out);

/* Gives rule ID the body BODY (taken over). */
static void set_body(pstate *ps, uint32_t id, gvec *body) {
    ps->rules[id].body = *body;
    ps->rules[id].defined = true;
    memset(body, 0, sizeof *body);
}

/* Replaces OUT's elements from START (the item just parsed) by MIN
 * copies of it and then MAX - MIN optional ones (MAX UINT32_MAX: any
 * number), through helper rules. */
static bool repeat(pstate *ps, uint32_t rule, gvec *out, uint32_t start, uint32_t min, uint32_t max,
                   size_t at) {
    uint32_t n = out->n - start;
    if (n == 0)
        return true; /* "" repeated is still "" */
    desk_gelem *item = malloc(n * sizeof *item);
    if (!item)
        return oom(ps);
    memcpy(item, out->v + start, n * sizeof *item);
    out->n = start;
    ps->total -= n;
    bool ok = true;
    for (uint32_t i = 0; ok && i < min; i++)
        ok = append(ps, out, item, n);
    gvec body = {0};
    uint32_t id = UINT32_MAX;
    if (ok && max == UINT32_MAX) {
        ok = helper_rule(ps, rule, GR_REPEAT, at, &id) && append(ps, &body, item, n) &&
             push(ps, &body, GE_REF, id) && push(ps, &body, GE_ALT, 0) && push(ps, &body, GE_END, 0);
        if (ok)
            set_body(ps, id, &body);
    } else {
        for (uint32_t i = min; ok && i < max; i++) {
            uint32_t prev = id;
            ok = helper_rule(ps, rule, GR_REPEAT, at, &id) && append(ps, &body, item, n) &&
                 (prev == UINT32_MAX || push(ps, &body, GE_REF, prev)) &&
                 push(ps, &body, GE_ALT, 0) && push(ps, &body, GE_END, 0);
            if (ok)
                set_body(ps, id, &body);
        }
    }
    if (ok && id != UINT32_MAX)
        ok = push(ps, out, GE_REF, id);
    free(body.v);
    free(item);
    return ok;
}

static bool parse_number(pstate *ps, uint32_t *v) {
    size_t at = ps->pos;
    uint64_t x = 0;
    while (peek(ps) >= '0' && peek(ps) <= '9') {
        x = x * 10 + (uint64_t)(peek(ps) - '0');
        if (x > MAX_REPEAT)
            return fail_at(ps, at, DESK_E_RANGE, "a repetition count past %u", MAX_REPEAT);
        ps->pos++;
    }
    if (ps->pos == at)
        return fail_at(ps, at, DESK_E_FORMAT, "expected a number in '{...}'");
    *v = (uint32_t)x;
    return true;
}

/* `{m}`, `{m,}`, `{m,n}` (at '{'). */
static bool parse_braces(pstate *ps, bool nested, uint32_t *min, uint32_t *max) {
    size_t open = ps->pos++;
    space(ps, nested);
    if (!parse_number(ps, min))
        return false;
    space(ps, nested);
    *max = *min;
    if (peek(ps) == ',') {
        ps->pos++;
        space(ps, nested);
        *max = UINT32_MAX;
        if (peek(ps) >= '0' && peek(ps) <= '9' && !parse_number(ps, max))
            return false;
        space(ps, nested);
    }
    if (peek(ps) != '}')
        return fail_at(ps, ps->pos, DESK_E_FORMAT, "expected '}' after the repetition count");
    ps->pos++;
    if (*max < *min)
        return fail_at(ps, open, DESK_E_FORMAT, "'{%u,%u}': the maximum is below the minimum", *min,
                       *max);
    return true;
}

/* Items up to '|', ')', the end of the line (outside parentheses) or of
 * the text. */
static bool parse_sequence(pstate *ps, uint32_t rule, bool nested, gvec *out) {
    uint32_t last = UINT32_MAX; /* where the last item starts */
    for (;;) {
        int c = peek(ps);
        size_t at = ps->pos;
        if (c == '"') {
            last = out->n;
            ps->pos++;
            while (peek(ps) != '"') {
                uint32_t cp;
                if (peek(ps) < 0)
                    return fail_at(ps, at, DESK_E_FORMAT, "the string is never closed by '\"'");
                if (!parse_char(ps, &cp) || !push(ps, out, GE_CHAR, cp))
                    return false;
            }
            ps->pos++;
        } else if (c == '[') {
            last = out->n;
            ps->pos++;
            if (!parse_class(ps, at, out))
                return false;
        } else if (c >= 0 && is_word((char)c)) {
            last = out->n;
            while (ps->pos < ps->len && is_word(ps->src[ps->pos]))
                ps->pos++;
            uint32_t id;
            if (!named_rule(ps, ps->src + at, ps->pos - at, at, &id) || !push(ps, out, GE_REF, id))
                return false;
        } else if (c == '(') {
            last = out->n;
            ps->pos++;
            space(ps, true);
            uint32_t id;
            gvec body = {0};
            bool ok = helper_rule(ps, rule, GR_GROUP, at, &id) &&
                      parse_alternates(ps, rule, true, &body);
            if (ok)
                set_body(ps, id, &body);
            free(body.v);
            if (!ok)
                return false;
            if (peek(ps) != ')') {
                uint32_t line, col;
                where(ps, at, &line, &col);
                char found[16];
                describe(ps, found, sizeof found);
                return fail_at(ps, ps->pos, DESK_E_FORMAT,
                               "expected ')' to close the '(' at %u:%u, found %s", line, col, found);
            }
            ps->pos++;
            if (!push(ps, out, GE_REF, id))
                return false;
        } else if (c == '.') {
            last = out->n;
            ps->pos++;
            if (!push(ps, out, GE_ANY, 0))
                return false;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last == UINT32_MAX)
                return fail_at(ps, at, DESK_E_FORMAT, "'%c' has nothing before it to repeat", c);
            uint32_t min = c == '+', max = c == '?' ? 1 : UINT32_MAX;
            if (c == '{') {
                if (!parse_braces(ps, nested, &min, &max))
                    return false;
            } else {
                ps->pos++;
            }
            if (!repeat(ps, rule, out, last, min, max, at))
                return false;
        } else {
            return true;
        }
        space(ps, nested);
    }
}

static bool parse_alternates(pstate *ps, uint32_t rule, bool nested, gvec *out) {
    if (!parse_sequence(ps, rule, nested, out))
        return false;
    while (peek(ps) == '|') {
        ps->pos++;
        space(ps, true);
        if (!push(ps, out, GE_ALT, 0) || !parse_sequence(ps, rule, nested, out))
            return false;
    }
    return push(ps, out, GE_END, 0);
}

static bool parse_rule(pstate *ps) {
    size_t at = ps->pos;
    while (ps->pos < ps->len && is_word(ps->src[ps->pos]))
        ps->pos++;
    if (ps->pos == at)
        return fail_at(ps, at, DESK_E_FORMAT, "expected a rule name");
    size_t name_len = ps->pos - at;
    space(ps, false);
    if (ps->len - ps->pos < 3 || memcmp(ps->src + ps->pos, "::=", 3) != 0)
        return fail_at(ps, ps->pos, DESK_E_FORMAT, "expected '::=' after the rule name '%.*s'",
                       (int)(name_len > 64 ? 64 : name_len), ps->src + at);
    ps->pos += 3;
    space(ps, true);
    uint32_t id;
    if (!named_rule(ps, ps->src + at, name_len, at, &id))
        return false;
    if (ps->rules[id].defined) {
        uint32_t line, col;
        where(ps, ps->rules[id].pos, &line, &col);
        return fail_at(ps, at, DESK_E_FORMAT, "rule '%s' is defined twice (first at %u:%u)",
                       ps->rules[id].name, line, col);
    }
    ps->rules[id].pos = at;
    gvec body = {0};
    bool ok = parse_alternates(ps, id, false, &body);
    if (ok)
        set_body(ps, id, &body);
    free(body.v);
    if (!ok)
        return false;
    int c = peek(ps);
    if (c == ')')
        return fail_at(ps, ps->pos, DESK_E_FORMAT, "a ')' that no '(' opened");
    if (c >= 0 && c != '\n' && c != '\r') {
        char found[16];
        describe(ps, found, sizeof found);
        return fail_at(ps, ps->pos, DESK_E_FORMAT,
                       "expected the end of the line after rule '%s', found %s", ps->rules[id].name,
                       found);
    }
    space(ps, true);
    return true;
}

void desk_grammar_free(desk_grammar *g) {
    if (!g)
        return;
    for (uint32_t i = 0; g->rules && i < g->n_rules; i++)
        free(g->rules[i].name);
    free(g->rules);
    free(g->elems);
    free(g->rule_start);
    free(g->alt_off);
    free(g->alts);
    free(g->classes);
    free(g->ranges);
    free(g);
}

uint32_t desk_grammar_rule_count(const desk_grammar *g) {
    return g->n_rules;
}

/* Lays the rules out in one array and indexes their alternatives; takes
 * over names, classes and ranges. */
static bool build(pstate *ps, uint32_t root, desk_grammar **out) {
    desk_grammar *g = calloc(1, sizeof *g);
    if (!g)
        return oom(ps);
    g->n_rules = ps->n_rules;
    g->root = root;
    size_t n_alts = 0;
    for (uint32_t r = 0; r < ps->n_rules; r++)
        for (uint32_t i = 0; i < ps->rules[r].body.n; i++)
            n_alts += ps->rules[r].body.v[i].type <= GE_ALT; /* each alternative ends in one */
    g->rules = calloc(ps->n_rules, sizeof *g->rules);
    g->elems = malloc((ps->total ? ps->total : 1) * sizeof *g->elems);
    g->rule_start = malloc(ps->n_rules * sizeof *g->rule_start);
    g->alt_off = malloc((ps->n_rules + 1) * sizeof *g->alt_off);
    g->alts = malloc((n_alts ? n_alts : 1) * sizeof *g->alts);
    if (!g->rules || !g->elems || !g->rule_start || !g->alt_off || !g->alts) {
        desk_grammar_free(g);
        return oom(ps);
    }
    uint32_t e = 0, a = 0;
    for (uint32_t r = 0; r < ps->n_rules; r++) {
        prule *pr = &ps->rules[r];
        uint32_t line, col;
        where(ps, pr->pos, &line, &col);
        g->rules[r] = (desk_grule){pr->name, pr->kind, line, col};
        pr->name = NULL;
        g->rule_start[r] = e;
        g->alt_off[r] = a;
        g->alts[a++] = e;
        for (uint32_t i = 0; i < pr->body.n; i++) {
            g->elems[e++] = pr->body.v[i];
            if (pr->body.v[i].type == GE_ALT)
                g->alts[a++] = e;
        }
    }
    g->alt_off[ps->n_rules] = a;
    g->n_elems = e;
    g->classes = ps->classes;
    g->n_classes = ps->n_classes;
    g->ranges = ps->ranges;
    g->n_ranges = ps->n_ranges;
    ps->classes = NULL;
    ps->ranges = NULL;
    *out = g;
    return true;
}

static void pstate_free(pstate *ps) {
    for (uint32_t i = 0; i < ps->n_rules; i++) {
        free(ps->rules[i].name);
        free(ps->rules[i].body.v);
    }
    free(ps->rules);
    free(ps->classes);
    free(ps->ranges);
}

desk_status desk_grammar_parse(const char *text, size_t len, const char *root,
                               desk_grammar **out, desk_err *err) {
    *out = NULL;
    if (!text && len)
        return desk_errf(err, DESK_E_ARG, "grammar: NULL text");
    if (!root)
        root = "root";
    pstate ps = {.src = text, .len = len, .err = err, .at_line = 1, .at_col = 1};
    space(&ps, true);
    if (ps.pos >= ps.len)
        return desk_errf(err, DESK_E_FORMAT, "grammar: empty (no rules)");
    while (ps.pos < ps.len && parse_rule(&ps)) {
    }
    uint32_t root_id = UINT32_MAX;
    for (uint32_t i = 0; ps.st == DESK_OK && i < ps.n_rules; i++) {
        if (!ps.rules[i].defined)
            fail_at(&ps, ps.rules[i].pos, DESK_E_FORMAT, "rule '%s' is used but never defined",
                    ps.rules[i].name);
        else if (ps.rules[i].kind == GR_NAMED && strcmp(ps.rules[i].name, root) == 0)
            root_id = i;
    }
    if (ps.st == DESK_OK && root_id == UINT32_MAX)
        ps.st = desk_errf(err, DESK_E_NOTFOUND, "grammar: no rule '%.100s' to start from", root);
    desk_grammar *g = NULL;
    if (ps.st == DESK_OK && build(&ps, root_id, &g)) {
        desk_status s = desk_grammar_check_left_recursion(g, err);
        if (s != DESK_OK) {
            desk_grammar_free(g);
            g = NULL;
            ps.st = s;
        }
    }
    pstate_free(&ps);
    if (ps.st != DESK_OK)
        return ps.st;
    *out = g;
    return DESK_OK;
}
