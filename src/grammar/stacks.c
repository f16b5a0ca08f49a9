/*
 * stacks.c - sets of grammar stacks: building the set at the start of the
 * text and stepping a set over one code point (see grammar.h for why a
 * set of stacks), plus the UTF-8 decoder both callers feed it with.
 *
 * Expansion runs off an explicit work list rather than recursion: a
 * grammar's nesting, not the C stack, bounds how deep it goes.  Each
 * stack added to a set is looked up in a hash table first, so two ways
 * of reaching the same state are kept once; the table's entries carry a
 * stamp of the build they belong to, so starting a build does not clear
 * it.
 */
#include "grammar/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

bool desk_gelem_match(const desk_grammar *g, const desk_gelem *e, uint32_t cp) {
    return desk_gelem_match_any_in(g, e, cp, cp);
}

bool desk_gelem_match_any_in(const desk_grammar *g, const desk_gelem *e, uint32_t lo, uint32_t hi) {
    if (e->type == GE_ANY)
        return true;
    if (e->type == GE_CHAR)
        return e->value >= lo && e->value <= hi;
    if (e->type != GE_CLASS)
        return false;
    const desk_gclass *c = &g->classes[e->value];
    const desk_grange *r = &g->ranges[c->off];
    for (uint32_t i = 0; i < c->n; i++) {
        if (!c->neg && r[i].lo <= hi && r[i].hi >= lo)
            return true;
        /* merged ranges: only one can cover the whole interval */
        if (c->neg && r[i].lo <= lo && r[i].hi >= hi)
            return false;
    }
    return c->neg;
}

bool desk_gelem_match_all_in(const desk_grammar *g, const desk_gelem *e, uint32_t lo, uint32_t hi) {
    if (e->type == GE_ANY)
        return true;
    if (e->type == GE_CHAR)
        return lo == hi && e->value == lo;
    const desk_gclass *c = &g->classes[e->value];
    const desk_grange *r = &g->ranges[c->off];
    for (uint32_t i = 0; i < c->n; i++) {
        if (!c->neg && r[i].lo <= lo && r[i].hi >= hi)
            return true;
        if (c->neg && r[i].lo <= hi && r[i].hi >= lo)
            return false;
    }
    return c->neg;
}

void desk_gwork_init(desk_gwork *w, const desk_grammar *g) {
    memset(w, 0, sizeof *w);
    w->g = g;
    w->max_stacks = 4096;
    w->max_depth = 1024;
}

void desk_gwork_free(desk_gwork *w) {
    free(w->slot);
    free(w->stamp);
    free(w->list);
    free(w->tmp);
    memset(w, 0, sizeof *w);
}

void desk_gstacks_free(desk_gstacks *s) {
    free(s->data);
    free(s->off);
    free(s->len);
    memset(s, 0, sizeof *s);
}

bool desk_ggrow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static bool grow_stack_index(desk_gstacks *s, uint32_t need) {
    if (need <= s->cap)
        return true;
    size_t c = s->cap, c2 = s->cap;
    void *o = s->off, *l = s->len;
    bool ok = desk_ggrow(&o, &c, need, sizeof(uint32_t));
    s->off = o;
    ok = ok && desk_ggrow(&l, &c2, need, sizeof(uint32_t));
    s->len = l;
    if (!ok)
        return false;
    s->cap = (uint32_t)(c < c2 ? c : c2);
    return true;
}

desk_status desk_gstacks_copy(desk_gstacks *dst, const desk_gstacks *src, desk_err *err) {
    void *d = dst->data;
    bool ok = desk_ggrow(&d, &dst->cap_data, src->n_data, sizeof(uint32_t));
    dst->data = d;
    if (!ok || !grow_stack_index(dst, src->n))
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory copying %u stacks", src->n);
    if (src->n_data)
        memcpy(dst->data, src->data, src->n_data * sizeof(uint32_t));
    if (src->n) {
        memcpy(dst->off, src->off, src->n * sizeof(uint32_t));
        memcpy(dst->len, src->len, src->n * sizeof(uint32_t));
    }
    dst->n_data = src->n_data;
    dst->n = src->n;
    dst->has_end = src->has_end;
    return DESK_OK;
}

static uint32_t hash_stack(const uint32_t *st, uint32_t len) {
    uint32_t h = 2166136261u ^ len;
    for (uint32_t i = 0; i < len; i++) {
        h ^= st[i];
        h *= 16777619u;
    }
    return h ^ (h >> 15);
}

/* Sizes the table for N stacks at under half load, rehashing OUT's. */
static bool table_fit(desk_gwork *w, const desk_gstacks *out, uint32_t n) {
    if ((size_t)n * 2 <= w->cap_slot)
        return true;
    uint32_t c = w->cap_slot ? w->cap_slot : 64;
    while ((size_t)n * 2 > c)
        c *= 2;
    uint32_t *slot = malloc((size_t)c * sizeof *slot), *stamp = calloc(c, sizeof *stamp);
    if (!slot || !stamp) {
        free(slot);
        free(stamp);
        return false;
    }
    free(w->slot);
    free(w->stamp);
    w->slot = slot;
    w->stamp = stamp;
    w->cap_slot = c;
    w->cur = 1;
    for (uint32_t i = 0; i < out->n; i++) {
        uint32_t h = hash_stack(out->data + out->off[i], out->len[i]) & (c - 1);
        while (stamp[h] == w->cur)
            h = (h + 1) & (c - 1);
        stamp[h] = w->cur;
        slot[h] = i;
    }
    return true;
}

static void build_begin(desk_gwork *w, desk_gstacks *out) {
    out->n = 0;
    out->n_data = 0;
    out->has_end = false;
    if (++w->cur == 0) { /* the stamps wrapped: forget them all */
        if (w->stamp)
            memset(w->stamp, 0, w->cap_slot * sizeof *w->stamp);
        w->cur = 1;
    }
}

/* Adds ST (a stack whose top is a character element, or empty) to OUT
 * unless it is there already. */
static desk_status add_stack(desk_gwork *w, desk_gstacks *out, const uint32_t *st, uint32_t len,
                             desk_err *err) {
    if (!table_fit(w, out, out->n + 1))
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for %u stacks", out->n + 1);
    uint32_t mask = w->cap_slot - 1, h = hash_stack(st, len) & mask;
    for (; w->stamp[h] == w->cur; h = (h + 1) & mask) {
        uint32_t i = w->slot[h];
        if (out->len[i] == len && memcmp(out->data + out->off[i], st, len * sizeof *st) == 0)
            return DESK_OK;
    }
    if (out->n >= w->max_stacks)
        return desk_errf(err, DESK_E_RANGE,
                         "grammar: more than %u live stacks (the grammar is too ambiguous here; "
                         "the limit is max_stacks)", w->max_stacks);
    void *d = out->data;
    /* never a NULL buffer, even for empty stacks: offsets into it are taken */
    bool ok = desk_ggrow(&d, &out->cap_data, out->n_data + len + 1, sizeof(uint32_t));
    out->data = d;
    if (!ok || !grow_stack_index(out, out->n + 1))
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for %u stacks", out->n + 1);
    if (len)
        memcpy(out->data + out->n_data, st, len * sizeof *st);
    out->off[out->n] = (uint32_t)out->n_data;
    out->len[out->n] = len;
    out->n_data += len;
    w->stamp[h] = w->cur;
    w->slot[h] = out->n++;
    if (len == 0)
        out->has_end = true;
    return DESK_OK;
}

/* Queues ST (LEN positions) then PUSH (when not UINT32_MAX) on the work
 * list, checking the depth limit. */
static desk_status queue(desk_gwork *w, const uint32_t *st, uint32_t len, uint32_t push,
                         desk_err *err) {
    uint32_t n = len + (push != UINT32_MAX);
    if (n > w->max_depth)
        return desk_errf(err, DESK_E_RANGE,
                         "grammar: a stack deeper than %u (nesting too deep; the limit is "
                         "max_depth)", w->max_depth);
    void *l = w->list;
    bool ok = desk_ggrow(&l, &w->cap_list, w->n_list + n + 1, sizeof(uint32_t));
    w->list = l;
    if (!ok)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory expanding stacks");
    if (len)
        memcpy(w->list + w->n_list, st, len * sizeof *st);
    w->n_list += len;
    if (push != UINT32_MAX)
        w->list[w->n_list++] = push;
    w->list[w->n_list++] = n;
    return DESK_OK;
}

static bool ends_alt(const desk_grammar *g, uint32_t pos) {
    return g->elems[pos].type == GE_END || g->elems[pos].type == GE_ALT;
}

/* Expands everything on the work list into OUT: a stack whose top is a
 * rule reference becomes one stack per alternative of that rule, with
 * the reference's continuation below (none when the reference ends its
 * alternative: a tail call, which keeps right recursion flat). */
static desk_status drain(desk_gwork *w, desk_gstacks *out, desk_err *err) {
    const desk_grammar *g = w->g;
    /* No left recursion means expansion ends; this bound turns a bug in
     * that guarantee into an error instead of a hang. */
    size_t budget = (size_t)w->max_stacks * 64 + 4096;
    while (w->n_list) {
        if (budget-- == 0)
            return desk_errf(err, DESK_E_RANGE, "grammar: stack expansion does not end");
        uint32_t len = w->list[--w->n_list];
        w->n_list -= len;
        const uint32_t *st = w->list + w->n_list;
        if (len == 0 || g->elems[st[len - 1]].type != GE_REF) {
            desk_status s = add_stack(w, out, st, len, err);
            if (s != DESK_OK)
                return s;
            continue;
        }
        /* Copied out: queueing the alternatives overwrites the list here. */
        void *t = w->tmp;
        size_t cap = w->cap_tmp;
        if (!desk_ggrow(&t, &cap, len + 1, sizeof(uint32_t)))
            return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory expanding stacks");
        w->tmp = t;
        w->cap_tmp = (uint32_t)cap;
        uint32_t pos = st[len - 1], n = len - 1;
        memcpy(w->tmp, st, n * sizeof *st);
        if (!ends_alt(g, pos + 1))
            w->tmp[n++] = pos + 1;
        uint32_t r = g->elems[pos].value;
        for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1]; a++) {
            uint32_t first = g->alts[a];
            desk_status s = queue(w, w->tmp, n, ends_alt(g, first) ? UINT32_MAX : first, err);
            if (s != DESK_OK)
                return s;
        }
    }
    return DESK_OK;
}

desk_status desk_gstacks_start(desk_gwork *w, desk_gstacks *out, desk_err *err) {
    build_begin(w, out);
    w->n_list = 0;
    const desk_grammar *g = w->g;
    for (uint32_t a = g->alt_off[g->root]; a < g->alt_off[g->root + 1]; a++) {
        uint32_t first = g->alts[a];
        desk_status s = queue(w, NULL, 0, ends_alt(g, first) ? UINT32_MAX : first, err);
        if (s != DESK_OK)
            return s;
    }
    return drain(w, out, err);
}

desk_status desk_gstacks_step(desk_gwork *w, const desk_gstacks *in, uint32_t cp,
                              desk_gstacks *out, desk_err *err) {
    const desk_grammar *g = w->g;
    build_begin(w, out);
    w->n_list = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        uint32_t len = in->len[i];
        if (len == 0)
            continue;
        const uint32_t *st = in->data + in->off[i];
        uint32_t pos = st[len - 1];
        if (!desk_gelem_match(g, &g->elems[pos], cp))
            continue;
        desk_status s = queue(w, st, len - 1, ends_alt(g, pos + 1) ? UINT32_MAX : pos + 1, err);
        if (s == DESK_OK)
            s = drain(w, out, err);
        if (s != DESK_OK)
            return s;
    }
    return DESK_OK;
}

bool desk_gstacks_allow_range(const desk_grammar *g, const desk_gstacks *s, uint32_t lo, uint32_t hi) {
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t len = s->len[i];
        if (len && desk_gelem_match_any_in(g, &g->elems[s->data[s->off[i] + len - 1]], lo, hi))
            return true;
    }
    return false;
}

int desk_gutf8_push(desk_gutf8 *u, uint8_t b) {
    if (u->need == 0) {
        if (b < 0x80) {
            u->cp = b;
            return GU_DONE;
        }
        /* C0, C1 (overlong) and F5..FF never start a character */
        if (b >= 0xC2 && b <= 0xDF)
            u->need = 2;
        else if (b >= 0xE0 && b <= 0xEF)
            u->need = 3;
        else if (b >= 0xF0 && b <= 0xF4)
            u->need = 4;
        else
            return GU_BAD;
        u->cp = b & (0x7Fu >> u->need);
        u->have = 1;
        u->first = b;
        return GU_MORE;
    }
    if ((b & 0xC0) != 0x80)
        return GU_BAD;
    if (u->have == 1) {
        /* the second byte rules out overlong forms, surrogates and
         * code points past U+10FFFF */
        if ((u->first == 0xE0 && b < 0xA0) || (u->first == 0xED && b > 0x9F) ||
            (u->first == 0xF0 && b < 0x90) || (u->first == 0xF4 && b > 0x8F))
            return GU_BAD;
    }
    u->cp = (u->cp << 6) | (b & 0x3Fu);
    if (++u->have < u->need)
        return GU_MORE;
    u->need = 0;
    u->have = 0;
    return GU_DONE;
}

void desk_gutf8_range(const desk_gutf8 *u, uint32_t *lo, uint32_t *hi) {
    unsigned left = 6u * (unsigned)(u->need - u->have);
    *lo = u->cp << left;
    *hi = (u->cp << left) | ((1u << left) - 1);
    /* a bare lead byte still allows its whole second-byte window */
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (*lo < min_of[u->need])
        *lo = min_of[u->need];
    if (*hi > 0x10FFFF)
        *hi = 0x10FFFF;
}
