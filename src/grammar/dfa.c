/*
 * dfa.c - a grammar's states as the mask meets them, stored once and
 * stepped once per code point (see dfa.h): a deterministic automaton
 * over sets of stacks, built lazily.
 *
 * A set is stored with its stacks sorted, so two orders of the same
 * stacks (reached along different paths) are one state.  Steps over ASCII
 * characters sit in a row of 128 per state; others in a hash table.  Each
 * state also learns, once, which characters it treats alike: code points
 * that match the same stack tops step alike (the step depends only on
 * which stacks matched), so at most one step per group of them.
 *
 * Bounds: past SOFT_STATES states (or SOFT_POOL stack positions) the
 * cache is emptied before the next mask; a mask that alone would pass
 * HARD_STATES or HARD_POOL sets d->full and its caller falls back to
 * stepping without the cache.  So a constraint's cache stays under 50 MiB
 * even for a grammar whose states never repeat (32768 rows of 512 bytes,
 * 2^21 positions and their stacks' offsets, the hash table of 2^18).
 */
#include "grammar/dfa.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NONE UINT32_MAX
#define SOFT_STATES 4096u
#define SOFT_POOL (1u << 20)
#define HARD_STATES 32768u
#define HARD_POOL (1u << 21)
#define MAX_HASHED (1u << 18) /* non-ASCII steps remembered */

desk_status desk_gdfa_new(const desk_grammar *g, uint32_t chain_cap, desk_grammar_cache **out,
                          desk_err *err) {
    *out = NULL;
    desk_grammar_cache *d = calloc(1, sizeof *d);
    if (!d)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a mask cache");
    d->g = g;
    d->chain_cap = chain_cap ? chain_cap : 1;
    d->path = malloc(((size_t)d->chain_cap + 1) * sizeof *d->path);
    if (!d->path) {
        free(d);
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a mask cache");
    }
    desk_gwork_init(&d->work, g);
    *out = d;
    return DESK_OK;
}

void desk_grammar_cache_free(desk_grammar_cache *d) {
    if (!d)
        return;
    free(d->rows);
    free(d->info);
    free(d->set_first);
    free(d->set_n);
    free(d->set_hash);
    free(d->pool_off);
    free(d->pool_len);
    free(d->pool);
    free(d->index);
    free(d->hkey);
    free(d->hval);
    free(d->order);
    free(d->path);
    desk_gstacks_free(&d->scratch);
    desk_gwork_free(&d->work);
    free(d);
}

static void flush(desk_grammar_cache *d) {
    d->n_states = 0;
    d->n_pool_stacks = 0;
    d->n_pool = 0;
    if (d->index)
        memset(d->index, 0xFF, (size_t)d->cap_index * sizeof *d->index);
    if (d->hkey)
        memset(d->hkey, 0, (size_t)d->cap_h * sizeof *d->hkey);
    d->n_h = 0;
}

void desk_gdfa_prepare(desk_grammar_cache *d, uint32_t max_stacks, uint32_t max_depth) {
    if (max_stacks != d->max_stacks || max_depth != d->max_depth || d->n_states > SOFT_STATES ||
        d->n_pool > SOFT_POOL)
        flush(d);
    d->max_stacks = d->work.max_stacks = max_stacks;
    d->max_depth = d->work.max_depth = max_depth;
    d->full = false;
}

/* State SID's set, pointing into the pools (valid until the next intern). */
static desk_gstacks view(const desk_grammar_cache *d, uint32_t sid) {
    desk_gstacks s = {0};
    uint32_t first = d->set_first[sid];
    s.data = d->pool;
    s.off = d->pool_off + first;
    s.len = d->pool_len + first;
    s.n = d->set_n[sid];
    s.has_end = s.n && s.len[0] == 0; /* sorted: the empty stack first */
    return s;
}

/* Stack order: shorter first, then by contents. */
static int cmp_stack(const desk_gstacks *s, uint32_t a, uint32_t b) {
    if (s->len[a] != s->len[b])
        return s->len[a] < s->len[b] ? -1 : 1;
    const uint32_t *x = s->data + s->off[a], *y = s->data + s->off[b];
    for (uint32_t i = 0; i < s->len[a]; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static uint32_t hash_sorted(const desk_gstacks *s, const uint32_t *order) {
    uint32_t h = 2166136261u ^ s->n;
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t i = order[k];
        h = (h ^ s->len[i]) * 16777619u;
        for (uint32_t j = 0; j < s->len[i]; j++)
            h = (h ^ s->data[s->off[i] + j]) * 16777619u;
    }
    return h ^ (h >> 16);
}

static bool same_sorted(const desk_grammar_cache *d, uint32_t sid, const desk_gstacks *s,
                        const uint32_t *order) {
    if (d->set_n[sid] != s->n)
        return false;
    uint32_t first = d->set_first[sid];
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t i = order[k], len = d->pool_len[first + k];
        if (len != s->len[i] ||
            memcmp(d->pool + d->pool_off[first + k], s->data + s->off[i], len * sizeof(uint32_t)))
            return false;
    }
    return true;
}

/* Doubles the index and puts every state back. */
static bool index_grow(desk_grammar_cache *d) {
    uint32_t c = d->cap_index ? d->cap_index * 2 : 1024;
    uint32_t *ix = malloc((size_t)c * sizeof *ix);
    if (!ix)
        return false;
    memset(ix, 0xFF, (size_t)c * sizeof *ix);
    for (uint32_t s = 0; s < d->n_states; s++) {
        uint32_t h = d->set_hash[s] & (c - 1);
        while (ix[h] != NONE)
            h = (h + 1) & (c - 1);
        ix[h] = s;
    }
    free(d->index);
    d->index = ix;
    d->cap_index = c;
    return true;
}

/* Room for one more state of N stacks and LEN positions. */
static bool room(desk_grammar_cache *d, uint32_t n, size_t len) {
    if (d->n_states == d->cap_states) {
        uint32_t c = d->cap_states ? d->cap_states * 2 : 256;
        void *r = realloc(d->rows, (size_t)c * 128 * sizeof *d->rows);
        if (r)
            d->rows = r;
        void *i = realloc(d->info, (size_t)c * sizeof *d->info);
        if (i)
            d->info = i;
        void *f = realloc(d->set_first, (size_t)c * sizeof *d->set_first);
        if (f)
            d->set_first = f;
        void *sn = realloc(d->set_n, (size_t)c * sizeof *d->set_n);
        if (sn)
            d->set_n = sn;
        void *sh = realloc(d->set_hash, (size_t)c * sizeof *d->set_hash);
        if (sh)
            d->set_hash = sh;
        if (!r || !i || !f || !sn || !sh)
            return false;
        d->cap_states = c;
    }
    if ((d->n_states + 1) * 2 > d->cap_index && !index_grow(d))
        return false;
    size_t cap = d->cap_pool_stacks, cap2 = d->cap_pool_stacks;
    void *o = d->pool_off, *l = d->pool_len;
    bool ok = desk_ggrow(&o, &cap, (size_t)d->n_pool_stacks + n, sizeof(uint32_t));
    d->pool_off = o;
    ok = ok && desk_ggrow(&l, &cap2, (size_t)d->n_pool_stacks + n, sizeof(uint32_t));
    d->pool_len = l;
    if (!ok)
        return false;
    d->cap_pool_stacks = (uint32_t)(cap < cap2 ? cap : cap2);
    void *p = d->pool;
    ok = desk_ggrow(&p, &d->cap_pool, d->n_pool + len + 1, sizeof(uint32_t));
    d->pool = p;
    return ok;
}

desk_status desk_gdfa_intern(desk_grammar_cache *d, const desk_gstacks *s, uint32_t *sid,
                             desk_err *err) {
    size_t cap = d->cap_order;
    void *o = d->order;
    bool ok = desk_ggrow(&o, &cap, s->n ? s->n : 1, sizeof(uint32_t));
    d->order = o;
    if (!ok)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a mask cache");
    d->cap_order = (uint32_t)cap;
    uint32_t *order = d->order;
    for (uint32_t i = 0; i < s->n; i++)
        order[i] = i;
    /* Insertion sort: sets are small.  A huge one keeps its order, which
     * only costs sharing (two orders become two states). */
    if (s->n <= 256) {
        for (uint32_t i = 1; i < s->n; i++) {
            uint32_t x = order[i], j = i;
            for (; j > 0 && cmp_stack(s, order[j - 1], x) > 0; j--)
                order[j] = order[j - 1];
            order[j] = x;
        }
    }
    uint32_t h = hash_sorted(s, order);
    if (d->cap_index) {
        for (uint32_t k = h & (d->cap_index - 1); d->index[k] != NONE; k = (k + 1) & (d->cap_index - 1)) {
            uint32_t c = d->index[k];
            if (d->set_hash[c] == h && same_sorted(d, c, s, order)) {
                *sid = c;
                return DESK_OK;
            }
        }
    }
    size_t len = 0;
    for (uint32_t i = 0; i < s->n; i++)
        len += s->len[i];
    if (d->n_states >= HARD_STATES || d->n_pool + len > HARD_POOL) {
        d->full = true;
        return desk_errf(err, DESK_E_RANGE, "grammar: the mask cache is full");
    }
    if (!room(d, s->n, len))
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a mask cache");
    uint32_t id = d->n_states++;
    d->set_first[id] = d->n_pool_stacks;
    d->set_n[id] = s->n;
    d->set_hash[id] = h;
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t i = order[k];
        d->pool_off[d->n_pool_stacks] = (uint32_t)d->n_pool;
        d->pool_len[d->n_pool_stacks++] = s->len[i];
        if (s->len[i])
            memcpy(d->pool + d->n_pool, s->data + s->off[i], s->len[i] * sizeof(uint32_t));
        d->n_pool += s->len[i];
    }
    uint32_t *row = d->rows + (size_t)id * 128;
    for (int c = 0; c < 128; c++)
        row[c] = GD_UNKNOWN;
    memset(&d->info[id], 0, sizeof d->info[id]);
    uint32_t k = h & (d->cap_index - 1);
    while (d->index[k] != NONE)
        k = (k + 1) & (d->cap_index - 1);
    d->index[k] = id;
    *sid = id;
    return DESK_OK;
}

static uint64_t hkey_of(uint32_t sid, uint32_t cp) {
    return (((uint64_t)sid << 21) | cp) + 1; /* 0: an empty slot */
}

/* The remembered step over non-ASCII CP, or GD_UNKNOWN. */
static uint32_t hash_find(const desk_grammar_cache *d, uint32_t sid, uint32_t cp) {
    if (!d->cap_h)
        return GD_UNKNOWN;
    uint64_t key = hkey_of(sid, cp);
    uint32_t mask = d->cap_h - 1, k = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & mask;
    for (; d->hkey[k]; k = (k + 1) & mask)
        if (d->hkey[k] == key)
            return d->hval[k];
    return GD_UNKNOWN;
}

/* Remembers a non-ASCII step while the table is under its bound (past
 * it the step is simply taken again next time). */
static void hash_put(desk_grammar_cache *d, uint32_t sid, uint32_t cp, uint32_t to) {
    if ((d->n_h + 1) * 2 > d->cap_h) {
        if (d->cap_h >= MAX_HASHED)
            return;
        uint32_t c = d->cap_h ? d->cap_h * 2 : 1024;
        uint64_t *key = calloc(c, sizeof *key);
        uint32_t *val = malloc((size_t)c * sizeof *val);
        if (!key || !val) {
            free(key);
            free(val);
            return;
        }
        for (uint32_t i = 0; i < d->cap_h; i++) {
            if (!d->hkey[i])
                continue;
            uint32_t k = (uint32_t)(d->hkey[i] * 0x9E3779B97F4A7C15ull >> 40) & (c - 1);
            while (key[k])
                k = (k + 1) & (c - 1);
            key[k] = d->hkey[i];
            val[k] = d->hval[i];
        }
        free(d->hkey);
        free(d->hval);
        d->hkey = key;
        d->hval = val;
        d->cap_h = c;
    }
    uint64_t key = hkey_of(sid, cp);
    uint32_t mask = d->cap_h - 1, k = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & mask;
    while (d->hkey[k])
        k = (k + 1) & mask;
    d->hkey[k] = key;
    d->hval[k] = to;
    d->n_h++;
}

desk_status desk_gdfa_step(desk_grammar_cache *d, uint32_t sid, uint32_t cp, uint32_t *out,
                           desk_err *err) {
    uint32_t known = cp < 128 ? d->rows[(size_t)sid * 128 + cp] : hash_find(d, sid, cp);
    if (known != GD_UNKNOWN) {
        *out = known;
        return DESK_OK;
    }
    desk_gstacks in = view(d, sid);
    desk_err e = {0};
    desk_status s = desk_gstacks_step(&d->work, &in, cp, &d->scratch, &e);
    if (s == DESK_E_NOMEM) {
        if (err)
            *err = e;
        return s;
    }
    uint32_t to = GD_DEAD;
    /* a limit passed is a refusal, as accept says */
    if (s == DESK_OK && d->scratch.n > 0) {
        s = desk_gdfa_intern(d, &d->scratch, &to, err);
        if (s != DESK_OK)
            return s;
    }
    if (cp < 128)
        d->rows[(size_t)sid * 128 + cp] = to;
    else
        hash_put(d, sid, cp, to);
    *out = to;
    return DESK_OK;
}

bool desk_gdfa_allow_range(const desk_grammar_cache *d, uint32_t sid, uint32_t lo, uint32_t hi) {
    desk_gstacks s = view(d, sid);
    return desk_gstacks_allow_range(d->g, &s, lo, hi);
}

uint8_t desk_gdfa_ok_classes(const uint64_t lp[2], bool high) {
    const uint64_t ctl0 = 0xFFFFFFFFull, ctl1 = 1ull << 63;
    const uint64_t quote = 1ull << '"', bsl = 1ull << ('\\' - 64);
    const uint64_t other0 = ~ctl0 & ~quote, other1 = ~ctl1 & ~bsl;
    uint8_t ok = 0;
    if (lp[0] & quote)
        ok |= C_QUOTE;
    if (lp[1] & bsl)
        ok |= C_BSL;
    if ((lp[0] & ctl0) == ctl0 && (lp[1] & ctl1) == ctl1)
        ok |= C_CTL;
    if ((lp[0] & other0) == other0 && (lp[1] & other1) == other1)
        ok |= C_OTHER;
    if (high)
        ok |= C_HIGH;
    return ok;
}

/* Groups the characters of state SID by the stack tops they match (the
 * ASCII ones, and all non-ASCII ones when they match alike), steps one of
 * each group, and keeps the target most ASCII characters lead to. */
static desk_status groups(desk_grammar_cache *d, uint32_t sid, desk_err *err) {
    desk_gdinfo info = {0};
    info.next = GD_DEAD;
    info.hi_next = GD_UNKNOWN;
    info.known = true;
    const desk_grammar *g = d->g;
    uint32_t n = d->set_n[sid];
    if (n > 64) { /* no signature fits: the walk just steps */
        d->info[sid] = info;
        return DESK_OK;
    }
    uint64_t sigs[129];
    uint32_t target[129], count[129], of_cp[129];
    int n_sig = 0;
    bool uniform = true;
    for (uint32_t cp = 0; cp <= 0x80 && (cp < 0x80 || uniform); cp++) {
        uint64_t sig = 0;
        desk_gstacks s = view(d, sid); /* again each time: a step may move the pools */
        for (uint32_t i = 0; i < s.n; i++) {
            if (s.len[i] == 0)
                continue;
            const desk_gelem *e = &g->elems[s.data[s.off[i] + s.len[i] - 1]];
            if (cp < 0x80 ? desk_gelem_match(g, e, cp) : desk_gelem_match_all_in(g, e, 0x80, 0x10FFFF))
                sig |= 1ull << i;
            else if (cp == 0x80 && desk_gelem_match_any_in(g, e, 0x80, 0x10FFFF))
                uniform = false;
        }
        if (!uniform)
            break;
        int k = 0;
        while (k < n_sig && sigs[k] != sig)
            k++;
        if (k == n_sig) {
            sigs[k] = sig;
            count[k] = 0;
            target[k] = GD_DEAD;
            if (sig) {
                desk_status st = desk_gdfa_step(d, sid, cp, &target[k], err);
                if (st != DESK_OK)
                    return st;
            }
            n_sig++;
        }
        of_cp[cp] = (uint32_t)k;
        if (cp < 0x80) {
            count[k]++;
            d->rows[(size_t)sid * 128 + cp] = target[k];
        }
    }
    uint32_t best = 0;
    for (int k = 0; k < n_sig; k++) {
        if (target[k] == GD_DEAD)
            continue;
        uint32_t c = 0;
        for (int j = 0; j < n_sig; j++)
            c += target[j] == target[k] ? count[j] : 0;
        if (c > best) {
            best = c;
            info.next = target[k];
        }
    }
    if (uniform)
        info.hi_next = target[of_cp[0x80]];
    if (info.next != GD_DEAD) {
        for (uint32_t cp = 0; cp < 0x80; cp++)
            if (target[of_cp[cp]] == info.next)
                info.lp[cp >> 6] |= 1ull << (cp & 63);
        info.high = uniform && info.hi_next == info.next;
    } else if (uniform && info.hi_next != GD_DEAD) {
        info.next = info.hi_next; /* only non-ASCII characters go on */
        info.high = true;
    }
    info.ok = desk_gdfa_ok_classes(info.lp, info.high);
    d->info[sid] = info;
    return DESK_OK;
}

/* Whether the characters A goes on with lead B on as well. */
static bool extends(const desk_gdinfo *a, const desk_gdinfo *b) {
    return !(a->lp[0] & ~b->lp[0]) && !(a->lp[1] & ~b->lp[1]) && (!a->high || b->high);
}

desk_status desk_gdfa_info(desk_grammar_cache *d, uint32_t sid, desk_err *err) {
    if (d->info[sid].chain_known)
        return DESK_OK;
    if (!d->info[sid].known) {
        desk_status s = groups(d, sid, err);
        if (s != DESK_OK)
            return s;
    }
    /* Follow the chain until it dies, narrows, meets a state measured
     * before or itself (a loop), or passes the longest token. */
    uint32_t k = 0, cur = sid, cap = d->chain_cap;
    desk_status s = DESK_OK;
    d->path[k++] = sid;
    d->info[sid].visiting = true;
    for (;;) {
        desk_gdinfo *ci = &d->info[cur];
        uint32_t t = ci->next;
        if (t == GD_DEAD) {
            ci->chain = 0;
            break;
        }
        if (k > cap) {
            ci->chain = cap;
            break;
        }
        if (!d->info[t].known && (s = groups(d, t, err)) != DESK_OK)
            break;
        ci = &d->info[cur]; /* groups may have moved the table */
        desk_gdinfo *ti = &d->info[t];
        if (!extends(ci, ti) || (ti->chain_known && !ti->visiting)) {
            ci->chain = extends(ci, ti) ? (ti->chain >= cap ? cap : ti->chain + 1) : 1;
            break;
        }
        if (ti->visiting) {
            ci->chain = cap;
            break;
        }
        ti->visiting = true;
        d->path[k++] = t;
        cur = t;
    }
    for (uint32_t i = k; i-- > 0;) {
        desk_gdinfo *pi = &d->info[d->path[i]];
        pi->visiting = false;
        if (s != DESK_OK)
            continue;
        if (i + 1 < k) {
            uint32_t c = d->info[d->path[i + 1]].chain;
            pi->chain = c >= cap ? cap : c + 1;
        }
        pi->chain_known = true;
    }
    return s;
}
