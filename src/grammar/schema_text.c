/*
 * schema_text.c - the JSON Schema converter's pieces that deal in
 * characters: the text buffer, integer ranges as digit grammars, regex
 * patterns and formats as the inside of a JSON string, and the keys of
 * an object that are not its declared properties.
 *
 * Inside a JSON string a character appears either raw or escaped, so a
 * set of characters (a regex class, `.`) becomes the raw ones JSON lets
 * stand alone plus the escape sequences of the rest: a pattern matches the
 * decoded string, as a validator reads it.
 */
#include "grammar/schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- the text buffer ------------------------------------------------- */

void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1)
            c *= 2;
        char *p = realloc(b->p, c);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sb_puts(sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

void sb_lit(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            sb_put(b, e, 2);
        } else if (ch < 0x20 || ch == 0x7F) {
            sb_printf(b, "\\x%02X", ch);
        } else {
            sb_put(b, (const char *)&ch, 1);
        }
    }
    sb_put(b, "\"", 1);
}

void sb_class_cp(sbuf *b, uint32_t cp) {
    if (cp == ']' || cp == '[' || cp == '\\' || cp == '-' || cp == '^' || cp == '"') {
        char e[2] = {'\\', (char)cp};
        sb_put(b, e, 2);
    } else if (cp < 0x20 || cp == 0x7F) {
        sb_printf(b, "\\x%02X", (unsigned)cp);
    } else if (cp < 0x80) {
        char ch = (char)cp;
        sb_put(b, &ch, 1);
    } else if (cp <= 0xFFFF) {
        sb_printf(b, "\\u%04X", (unsigned)cp);
    } else {
        sb_printf(b, "\\U%08X", (unsigned)cp);
    }
}

/* ---- integer ranges --------------------------------------------------- */

/* Digit strings of one length N from LO to HI (both N digits, LO <= HI). */
static void fixed_len(sbuf *o, const char *lo, const char *hi, size_t n) {
    if (n == 0)
        return;
    if (n == 1) {
        sb_printf(o, "[%c-%c]", lo[0], hi[0]);
        return;
    }
    if (lo[0] == hi[0]) {
        sb_printf(o, "\"%c\" ", lo[0]);
        fixed_len(o, lo + 1, hi + 1, n - 1);
        return;
    }
    bool lo_zeros = strspn(lo + 1, "0") >= n - 1, hi_nines = strspn(hi + 1, "9") >= n - 1;
    char d_lo = lo_zeros ? lo[0] : (char)(lo[0] + 1), d_hi = hi_nines ? hi[0] : (char)(hi[0] - 1);
    char nines[24], zeros[24];
    memset(nines, '9', n - 1);
    memset(zeros, '0', n - 1);
    sb_puts(o, "(");
    bool first = true;
    if (!lo_zeros) {
        sb_printf(o, "\"%c\" (", lo[0]);
        fixed_len(o, lo + 1, nines, n - 1);
        sb_puts(o, ")");
        first = false;
    }
    if (d_lo <= d_hi) {
        sb_printf(o, "%s[%c-%c] [0-9]{%zu}", first ? "" : " | ", d_lo, d_hi, n - 1);
        first = false;
    }
    if (!hi_nines) {
        sb_printf(o, "%s\"%c\" (", first ? "" : " | ", hi[0]);
        fixed_len(o, zeros, hi + 1, n - 1);
        sb_puts(o, ")");
    }
    sb_puts(o, ")");
}

/* Non-negative integers in [LO, HI] (HI < 0: unbounded), no leading zeros. */
static void nonneg_range(sbuf *o, unsigned long long lo, bool has_hi, unsigned long long hi) {
    char a[24], b[24];
    bool first = true;
    sb_puts(o, "(");
    size_t la = (size_t)snprintf(a, sizeof a, "%llu", lo);
    size_t lb = has_hi ? (size_t)snprintf(b, sizeof b, "%llu", hi) : la;
    for (size_t d = la; d <= lb; d++) {
        char from[24], to[24];
        if (d == la)
            memcpy(from, a, d + 1);
        else {
            memset(from, '0', d);
            from[0] = '1';
            from[d] = '\0';
        }
        if (has_hi && d == lb)
            memcpy(to, b, d + 1);
        else {
            memset(to, '9', d);
            to[d] = '\0';
        }
        sb_puts(o, first ? "" : " | ");
        fixed_len(o, from, to, d);
        first = false;
    }
    if (!has_hi)
        sb_printf(o, " | [1-9] [0-9]{%zu,}", la); /* every longer number */
    sb_puts(o, ")");
}

bool cv_int_range(conv *c, bool has_lo, long long lo, bool has_hi, long long hi, sbuf *out) {
    if (has_lo && has_hi && lo > hi)
        return cv_fail(c, DESK_E_UNSUPPORTED, "minimum %lld is above maximum %lld: no integer fits",
                       lo, hi);
    sb_puts(out, "(");
    bool first = true;
    if (!has_lo || lo < 0) {
        /* negatives -1 down to LO: their magnitudes from max(1, -HI) */
        unsigned long long mlo = has_hi && hi < 0 ? 0ull - (unsigned long long)hi : 1;
        sb_puts(out, "\"-\" ");
        nonneg_range(out, mlo, has_lo, has_lo ? 0ull - (unsigned long long)lo : 0);
        first = false;
    }
    if (!has_hi || hi >= 0) {
        sb_puts(out, first ? "" : " | ");
        nonneg_range(out, has_lo && lo > 0 ? (unsigned long long)lo : 0, has_hi,
                     has_hi ? (unsigned long long)hi : 0);
    }
    sb_puts(out, ")");
    return true;
}

/* ---- sets of characters inside a JSON string -------------------------- */

#define MAX_RANGES 256

typedef struct cset {
    uint32_t lo[MAX_RANGES], hi[MAX_RANGES];
    int n;
    bool over; /* too many ranges */
} cset;

static void cs_add(cset *s, uint32_t lo, uint32_t hi) {
    if (s->n == MAX_RANGES) {
        s->over = true;
        return;
    }
    s->lo[s->n] = lo;
    s->hi[s->n] = hi;
    s->n++;
}

/* Sorts and merges the ranges. */
static void cs_norm(cset *s) {
    for (int i = 1; i < s->n; i++)
        for (int j = i; j > 0 && s->lo[j] < s->lo[j - 1]; j--) {
            uint32_t t = s->lo[j];
            s->lo[j] = s->lo[j - 1];
            s->lo[j - 1] = t;
            t = s->hi[j];
            s->hi[j] = s->hi[j - 1];
            s->hi[j - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < s->n; i++) {
        if (m && s->lo[i] <= s->hi[m - 1] + 1) {
            if (s->hi[i] > s->hi[m - 1])
                s->hi[m - 1] = s->hi[i];
        } else {
            s->lo[m] = s->lo[i];
            s->hi[m] = s->hi[i];
            m++;
        }
    }
    s->n = m;
}

static void cs_negate(cset *s) {
    cs_norm(s);
    cset r = {.n = 0};
    uint32_t next = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->lo[i] > next)
            cs_add(&r, next, s->lo[i] - 1);
        next = s->hi[i] + 1;
    }
    if (next <= 0x10FFFF)
        cs_add(&r, next, 0x10FFFF);
    r.over |= s->over;
    *s = r;
}

static bool cs_has(const cset *s, uint32_t cp) {
    for (int i = 0; i < s->n; i++)
        if (cp >= s->lo[i] && cp <= s->hi[i])
            return true;
    return false;
}

/* Whether JSON must escape CP inside a string. */
static bool must_escape(uint32_t cp) {
    return cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7F;
}

static void escape_of(sbuf *o, uint32_t cp) {
    static const char short_esc[][2] = {{'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'}, {'\r', 'r'},
                                        {'\t', 't'}, {'"', '"'},  {'\\', '\\'}};
    for (size_t i = 0; i < sizeof short_esc / sizeof short_esc[0]; i++)
        if ((uint32_t)(unsigned char)short_esc[i][0] == cp) {
            char e[2] = {'\\', short_esc[i][1]};
            sb_lit(o, e, 2);
            return;
        }
    char u[8];
    snprintf(u, sizeof u, "\\u%04X", (unsigned)cp);
    sb_lit(o, u, 6);
}

/* Appends the set as a GBNF atom of JSON string text. */
static void cs_emit(sbuf *o, cset *s) {
    cs_norm(s);
    sbuf raw = {0};
    for (int i = 0; i < s->n; i++) {
        uint32_t lo = s->lo[i], hi = s->hi[i];
        /* cut out what must be escaped: controls, '"', '\\', DEL */
        static const uint32_t cut_lo[] = {0, '"', '\\', 0x7F}, cut_hi[] = {0x1F, '"', '\\', 0x7F};
        uint32_t at = lo;
        for (int k = 0; k < 4 && at <= hi; k++) {
            if (cut_hi[k] < at || cut_lo[k] > hi)
                continue;
            if (cut_lo[k] > at) {
                sb_class_cp(&raw, at);
                if (cut_lo[k] - 1 > at) {
                    sb_puts(&raw, "-");
                    sb_class_cp(&raw, cut_lo[k] - 1);
                }
            }
            at = cut_hi[k] + 1;
        }
        if (at <= hi) {
            sb_class_cp(&raw, at);
            if (hi > at) {
                sb_puts(&raw, "-");
                sb_class_cp(&raw, hi);
            }
        }
    }
    sb_puts(o, "(");
    bool first = true;
    if (raw.n) {
        sb_printf(o, "[%s]", raw.p);
        first = false;
    }
    free(raw.p);
    for (uint32_t cp = 0; cp <= 0x7F; cp++)
        if (must_escape(cp) && cs_has(s, cp)) {
            sb_puts(o, first ? "" : " | ");
            escape_of(o, cp);
            first = false;
        }
    if (first)
        sb_puts(o, "[^\\x00-\\U0010FFFF]"); /* an empty set: matches nothing */
    sb_puts(o, ")");
}

/* ---- regex patterns --------------------------------------------------- */

typedef struct rx {
    conv *c;
    const char *s;
    size_t pos, len;
    sbuf *o;
} rx;

static bool rx_fail(rx *r, const char *what) {
    return cv_fail(r->c, DESK_E_UNSUPPORTED, "pattern: %s at offset %zu (the supported subset: "
                   "desk/grammar.h)", what, r->pos);
}

/* One UTF-8 character of the pattern. */
static uint32_t rx_char(rx *r) {
    const unsigned char *p = (const unsigned char *)r->s + r->pos;
    uint32_t cp = p[0];
    size_t n = 1;
    if (cp >= 0xF0 && r->pos + 3 < r->len) {
        cp = (uint32_t)(p[0] & 7) << 18 | (uint32_t)(p[1] & 63) << 12 | (uint32_t)(p[2] & 63) << 6 | (p[3] & 63);
        n = 4;
    } else if (cp >= 0xE0 && r->pos + 2 < r->len) {
        cp = (uint32_t)(p[0] & 15) << 12 | (uint32_t)(p[1] & 63) << 6 | (p[2] & 63);
        n = 3;
    } else if (cp >= 0xC0 && r->pos + 1 < r->len) {
        cp = (uint32_t)(p[0] & 31) << 6 | (p[1] & 63);
        n = 2;
    }
    r->pos += n;
    return cp;
}

/* A backslash class (\d \w \s, upper case negated) into S; false when C
 * is not one. */
static bool rx_class_escape(char ch, cset *s) {
    cset t = {.n = 0};
    switch (ch | 0x20) {
    case 'd': cs_add(&t, '0', '9'); break;
    case 'w': cs_add(&t, '0', '9'); cs_add(&t, 'A', 'Z'); cs_add(&t, 'a', 'z'); cs_add(&t, '_', '_'); break;
    case 's': cs_add(&t, '\t', '\r'); cs_add(&t, ' ', ' '); break;
    default: return false;
    }
    if (ch >= 'A' && ch <= 'Z')
        cs_negate(&t);
    for (int i = 0; i < t.n; i++)
        cs_add(s, t.lo[i], t.hi[i]);
    return true;
}

/* The character after a backslash, as a literal: false when unsupported. */
static bool rx_escaped_literal(rx *r, uint32_t *cp) {
    if (r->pos >= r->len)
        return rx_fail(r, "a pattern ending in '\\'");
    char ch = r->s[r->pos];
    static const char lit[] = "\\^$.|?*+()[]{}/-\"";
    if (ch && strchr(lit, ch)) {
        r->pos++;
        *cp = (uint32_t)(unsigned char)ch;
        return true;
    }
    static const char ctl[] = "n\nt\tr\rf\fv\v";
    for (int i = 0; ctl[i]; i += 2)
        if (ch == ctl[i]) {
            r->pos++;
            *cp = (uint32_t)(unsigned char)ctl[i + 1];
            return true;
        }
    return rx_fail(r, "an escape desk does not support (backreference, \\b, \\u, ...)");
}

static bool rx_bracket(rx *r, cset *s) {
    r->pos++; /* '[' */
    bool neg = r->pos < r->len && r->s[r->pos] == '^';
    if (neg)
        r->pos++;
    bool first = true;
    while (r->pos < r->len && (r->s[r->pos] != ']' || first)) {
        first = false;
        uint32_t lo;
        if (r->s[r->pos] == '\\') {
            r->pos++;
            if (r->pos < r->len && rx_class_escape(r->s[r->pos], s)) {
                r->pos++;
                continue;
            }
            if (!rx_escaped_literal(r, &lo))
                return false;
        } else {
            lo = rx_char(r);
        }
        uint32_t hi = lo;
        if (r->pos + 1 < r->len && r->s[r->pos] == '-' && r->s[r->pos + 1] != ']') {
            r->pos++;
            if (r->s[r->pos] == '\\') {
                r->pos++;
                if (!rx_escaped_literal(r, &hi))
                    return false;
            } else {
                hi = rx_char(r);
            }
            if (hi < lo)
                return rx_fail(r, "a reversed range in a class");
        }
        cs_add(s, lo, hi);
    }
    if (r->pos >= r->len)
        return rx_fail(r, "an unclosed '['");
    r->pos++;
    if (neg)
        cs_negate(s);
    if (s->over)
        return rx_fail(r, "a class with too many ranges");
    return true;
}

static bool rx_alt(rx *r, int depth);

static bool rx_atom(rx *r, int depth) {
    char ch = r->s[r->pos];
    cset s = {.n = 0};
    if (ch == '(') {
        r->pos++;
        if (r->pos < r->len && r->s[r->pos] == '?') {
            if (r->pos + 1 < r->len && r->s[r->pos + 1] == ':')
                r->pos += 2;
            else
                return rx_fail(r, "lookaround or a named group");
        }
        sb_puts(r->o, "(");
        if (!rx_alt(r, depth + 1))
            return false;
        if (r->pos >= r->len || r->s[r->pos] != ')')
            return rx_fail(r, "an unclosed '('");
        r->pos++;
        sb_puts(r->o, ")");
        return true;
    }
    if (ch == '[') {
        if (!rx_bracket(r, &s))
            return false;
    } else if (ch == '.') {
        r->pos++;
        cs_add(&s, '\n', '\n');
        cs_negate(&s);
    } else if (ch == '\\') {
        r->pos++;
        if (r->pos < r->len && rx_class_escape(r->s[r->pos], &s)) {
            r->pos++;
        } else {
            uint32_t cp;
            if (!rx_escaped_literal(r, &cp))
                return false;
            cs_add(&s, cp, cp);
        }
    } else if (ch == '^' || ch == '$') {
        return rx_fail(r, "an anchor inside the pattern (only a leading ^ and a trailing $)");
    } else if (ch == '*' || ch == '+' || ch == '?' || ch == '{' || ch == ')' || ch == '|') {
        return rx_fail(r, "a quantifier or bracket with nothing before it");
    } else {
        uint32_t cp = rx_char(r);
        cs_add(&s, cp, cp);
    }
    cs_emit(r->o, &s);
    return true;
}

static bool rx_number(rx *r, unsigned *v) {
    size_t start = r->pos;
    unsigned long x = 0;
    while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9' && x < 100000)
        x = x * 10 + (unsigned)(r->s[r->pos++] - '0');
    *v = (unsigned)x;
    return r->pos > start && x < 100000;
}

static bool rx_quant(rx *r) {
    if (r->pos >= r->len)
        return true;
    char ch = r->s[r->pos];
    if (ch == '*' || ch == '+' || ch == '?') {
        r->pos++;
        sb_put(r->o, &ch, 1);
    } else if (ch == '{') {
        r->pos++;
        unsigned m, n = 0;
        if (!rx_number(r, &m))
            return rx_fail(r, "a bad repetition count");
        bool comma = r->pos < r->len && r->s[r->pos] == ',';
        if (comma) {
            r->pos++;
            if (r->pos < r->len && r->s[r->pos] != '}' && !rx_number(r, &n))
                return rx_fail(r, "a bad repetition count");
        }
        if (r->pos >= r->len || r->s[r->pos] != '}')
            return rx_fail(r, "an unclosed '{'");
        r->pos++;
        if (!comma)
            sb_printf(r->o, "{%u}", m);
        else if (n)
            sb_printf(r->o, "{%u,%u}", m, n);
        else
            sb_printf(r->o, "{%u,}", m);
    } else {
        return true;
    }
    if (r->pos < r->len && (r->s[r->pos] == '?' || r->s[r->pos] == '+'))
        return rx_fail(r, "a lazy or possessive quantifier");
    return true;
}

static bool rx_alt(rx *r, int depth) {
    if (depth > 64)
        return rx_fail(r, "groups nested too deep");
    for (;;) {
        sb_puts(r->o, "(\"\"");
        while (r->pos < r->len && r->s[r->pos] != '|' && r->s[r->pos] != ')') {
            if (r->s[r->pos] == '$' && r->pos + 1 == r->len && depth == 0)
                break;
            sb_puts(r->o, " ");
            if (!rx_atom(r, depth) || !rx_quant(r))
                return false;
        }
        sb_puts(r->o, ")");
        if (r->pos < r->len && r->s[r->pos] == '|') {
            r->pos++;
            sb_puts(r->o, " | ");
            continue;
        }
        return true;
    }
}

bool cv_pattern(conv *c, const char *regex, sbuf *out) {
    rx r = {.c = c, .s = regex, .len = strlen(regex), .o = out};
    const char *ch = cv_need(c, "char");
    if (!ch)
        return false;
    bool start = r.len && regex[0] == '^';
    if (start)
        r.pos = 1;
    sb_printf(out, "\"\\\"\" %s%s(", start ? "" : ch, start ? "" : "* ");
    if (!rx_alt(&r, 0))
        return false;
    bool end = r.pos + 1 == r.len && regex[r.pos] == '$';
    if (!end && r.pos < r.len)
        return rx_fail(&r, "an unmatched ')'");
    sb_printf(out, ") %s%s\"\\\"\"", end ? "" : ch, end ? "" : "* ");
    return true;
}

/* ---- formats ---------------------------------------------------------- */

/* Days per month, with 29 February only in leap years (divisible by 4,
 * centuries only when divisible by 400) and years from 0001, as a
 * validator's calendar has. */
static const char DATE[] =
    "((\"000\" [1-9] | \"00\" [1-9] [0-9] | \"0\" [1-9] [0-9]{2} | [1-9] [0-9]{3}) "
    "\"-\" (\"0\" [13578] \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | "
    "\"1\" [02] \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | "
    "\"0\" [469] \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | "
    "\"11\" \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | "
    "\"02\" \"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])) | "
    "([0-9]{2} (\"0\" [48] | [2468] [048] | [13579] [26]) | (\"0\" [48] | [2468] [048] | [13579] [26]) \"00\") "
    "\"-02-29\")";
static const char TIME[] =
    "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" ([0-5] [0-9] | \"60\") (\".\" [0-9]+)? "
    "([Zz] | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
static const char UUID[] =
    "[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" "
    "[0-9a-fA-F]{12}";

bool cv_format(conv *c, const char *format, sbuf *out) {
    char name[64];
    sbuf body = {0};
    sb_puts(&body, "\"\\\"\" ");
    if (strcmp(format, "date") == 0) {
        sb_puts(&body, DATE);
    } else if (strcmp(format, "time") == 0) {
        sb_puts(&body, TIME);
    } else if (strcmp(format, "date-time") == 0) {
        sb_printf(&body, "(%s) [Tt] ", DATE);
        sb_puts(&body, TIME);
    } else if (strcmp(format, "uuid") == 0) {
        sb_puts(&body, UUID);
    } else {
        free(body.p);
        return cv_fail(c, DESK_E_UNSUPPORTED,
                       "format \"%.64s\" is not supported (date, time, date-time, uuid are)", format);
    }
    sb_puts(&body, " \"\\\"\"");
    bool ok = (!body.oom || cv_fail(c, DESK_E_NOMEM, "out of memory")) &&
              cv_rule(c, format, body.p, name);
    free(body.p);
    if (ok)
        sb_puts(out, name);
    return ok;
}

/* ---- keys that are not the declared properties ------------------------ */

typedef struct knode {
    uint32_t cp;
    int child, sibling;
    bool end;
} knode;

/* The rule for the text after a prefix that reached node X: the empty
 * text unless a name ends there, each child's character then its rule,
 * or any other character (raw or escaped) and then anything.  PLAIN: no
 * name holds a character JSON escapes. */
static bool key_rule(conv *c, const knode *t, int x, const char *ch, bool plain, char *name) {
    sbuf b = {0};
    bool first = true;
    if (!t[x].end) {
        sb_puts(&b, "\"\"");
        first = false;
    }
    for (int k = t[x].child; k >= 0; k = t[k].sibling) {
        char sub[64];
        if (!key_rule(c, t, k, ch, plain, sub)) {
            free(b.p);
            return false;
        }
        sb_puts(&b, first ? "" : " | ");
        cset one = {.n = 0};
        cs_add(&one, t[k].cp, t[k].cp);
        cs_emit(&b, &one);
        sb_printf(&b, " %s", sub);
        first = false;
    }
    cset other = {.n = 0};
    for (int k = t[x].child; k >= 0; k = t[k].sibling)
        cs_add(&other, t[k].cp, t[k].cp);
    sb_puts(&b, first ? "" : " | ");
    if (plain) {
        /* no name holds an escape, so any escape differs from them all:
         * one alternative for all escapes keeps the matcher's stacks few */
        sb_puts(&b, "([^");
        for (int k = t[x].child; k >= 0; k = t[k].sibling)
            sb_class_cp(&b, t[k].cp);
        sb_printf(&b, "\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
                      "[0-9a-fA-F]{4})) %s*", ch);
    } else {
        cs_negate(&other);
        cs_emit(&b, &other);
        sb_printf(&b, " %s*", ch);
    }
    bool ok = !b.oom && cv_rule(c, "key", b.p, name);
    free(b.p);
    return ok;
}

bool cv_not_names(conv *c, const char *const *names, size_t n, sbuf *out) {
    const char *ch = cv_need(c, "char");
    if (!ch)
        return false;
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(names[i]);
    knode *t = malloc(total * sizeof *t);
    if (!t)
        return cv_fail(c, DESK_E_NOMEM, "out of memory");
    int nn = 1;
    t[0] = (knode){0, -1, -1, false};
    for (size_t i = 0; i < n; i++) {
        rx r = {.c = c, .s = names[i], .len = strlen(names[i])};
        int x = 0;
        while (r.pos < r.len) {
            uint32_t cp = rx_char(&r);
            int k = t[x].child;
            while (k >= 0 && t[k].cp != cp)
                k = t[k].sibling;
            if (k < 0) {
                k = nn++;
                t[k] = (knode){cp, -1, t[x].child, false};
                t[x].child = k;
            }
            x = k;
        }
        t[x].end = true;
    }
    bool plain = true;
    for (int i = 1; i < nn; i++) /* node 0 is the root, no character */
        plain = plain && !must_escape(t[i].cp);
    char name[64];
    bool ok = key_rule(c, t, 0, ch, plain, name);
    free(t);
    if (ok)
        sb_printf(out, "\"\\\"\" %s \"\\\"\"", name);
    return ok;
}
