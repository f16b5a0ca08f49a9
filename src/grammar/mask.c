/*
 * mask.c - which tokens of a vocabulary may come next: the vocabulary's
 * strings as a byte trie, walked depth-first from the matcher's state.
 *
 * Tokens that share a prefix share its trie path, so the prefix is
 * stepped once for all of them, and a dead path (a byte the grammar
 * refuses) cuts off every token below it at once.  Each trie depth has a
 * level holding the state after that many bytes; a byte that leaves a
 * character unfinished steps nothing and shares its parent's stack set.
 * The levels' buffers live in the vocabulary and are reused, so after the
 * first masks a mask allocates nothing.
 */
#include "grammar/dfa.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NONE UINT32_MAX

typedef struct level {
    const desk_gstacks *set; /* the state's stacks: own, or an ancestor's */
    desk_gutf8 utf8;
    bool loop;               /* the state is ANCHOR, or a character of it half-read */
    bool high;               /* all non-ASCII characters leave ANCHOR as it is */
    uint64_t lp[2];          /* the ASCII bytes that leave ANCHOR as it is */
    const desk_gstacks *anchor;
    uint8_t ok;              /* the byte classes (C_*) that all leave ANCHOR as it is */
    desk_gstacks own;
} level;


static uint8_t byte_class(uint8_t b) {
    return b == '"' ? C_QUOTE : b == '\\' ? C_BSL : b < 0x20 || b == 0x7F ? C_CTL
           : b < 0x80 ? C_OTHER : C_HIGH;
}

/* A summary of a big subtree: which ASCII bytes occur below the node,
 * whether other bytes do, whether some token below is invalid UTF-8, and
 * where its tokens lie in the depth-first token order. */
typedef struct summary {
    uint64_t ascii[2];
    bool high, bad;
    uint32_t lo, hi;
} summary;

/* Subtrees with at least this many tokens get a summary. */
#define SUMMARY_MIN 24

/* The cached walk's state at one depth: a stored set and a character
 * half-read from it. */
typedef struct dlevel {
    uint32_t sid;
    desk_gutf8 utf8;
} dlevel;

struct desk_grammar_vocab {
    int n_tokens;
    uint32_t n_nodes;
    uint8_t *byte;      /* the byte that leads into each node */
    uint32_t *child;    /* first child, NONE for a leaf */
    uint32_t *sibling;  /* next child of the same parent */
    uint32_t *tok_head; /* first token ending at each node */
    uint32_t *tok_next; /* per token: the next one ending at its node */
    uint32_t max_len;
    level *levels;      /* max_len + 1 */
    uint32_t *todo;     /* the walk: node, depth pairs */
    uint32_t *sum_of;   /* per node: its summary, or NONE */
    summary *sums;
    uint32_t *dfs_tok;  /* the tokens in depth-first order */
    uint32_t *lo, *hi;  /* per node: its subtree's tokens in dfs_tok */
    uint8_t *cls;       /* per node: the classes (C_*) of the bytes below it */
    uint16_t *nchars;   /* per node: the most characters below it in one token */
    uint32_t *end;      /* per node: the first node after its subtree (nodes are in preorder) */
    uint32_t *depth;    /* per node: its depth, the root's 0 */
    uint32_t max_chars; /* the most characters in one token */
    dlevel *dlv;        /* max_len + 1: the cached walk's levels */
    desk_gstacks probe; /* the start state stepped once, for the loop test */
    desk_gwork work;
};

void desk_grammar_vocab_free(desk_grammar_vocab *v) {
    if (!v)
        return;
    for (uint32_t i = 0; v->levels && i <= v->max_len; i++)
        desk_gstacks_free(&v->levels[i].own);
    free(v->levels);
    free(v->byte);
    free(v->child);
    free(v->sibling);
    free(v->tok_head);
    free(v->tok_next);
    free(v->todo);
    free(v->sum_of);
    free(v->sums);
    free(v->dfs_tok);
    free(v->lo);
    free(v->hi);
    free(v->cls);
    free(v->nchars);
    free(v->end);
    free(v->depth);
    free(v->dlv);
    desk_gstacks_free(&v->probe);
    desk_gwork_free(&v->work);
    free(v);
}

/* Renumbers the nodes in preorder, so that a subtree is a run of nodes
 * and the cached walk reads the trie front to back instead of chasing
 * links (the links stay, in the new numbers). */
static bool preorder(desk_grammar_vocab *v) {
    uint32_t nn = v->n_nodes;
    uint32_t *id = malloc((size_t)nn * sizeof *id);
    uint8_t *byte = malloc(nn);
    uint32_t *child = malloc((size_t)nn * sizeof *child), *sib = malloc((size_t)nn * sizeof *sib);
    uint32_t *head = malloc((size_t)nn * sizeof *head);
    v->end = malloc((size_t)nn * sizeof *v->end);
    v->depth = malloc((size_t)nn * sizeof *v->depth);
    bool ok = id && byte && child && sib && head && v->end && v->depth;
    if (ok) {
        uint32_t next = 0;
        size_t top = 0;
        v->todo[top++] = 0;
        while (top) {
            uint32_t x = v->todo[--top];
            if (x & 0x80000000u) {
                v->end[id[x & 0x7FFFFFFFu]] = next;
                continue;
            }
            id[x] = next++;
            v->todo[top++] = x | 0x80000000u;
            for (uint32_t c = v->child[x]; c != NONE; c = v->sibling[c])
                v->todo[top++] = c;
        }
        for (uint32_t x = 0; x < nn; x++) {
            uint32_t y = id[x];
            byte[y] = v->byte[x];
            child[y] = v->child[x] == NONE ? NONE : id[v->child[x]];
            sib[y] = v->sibling[x] == NONE ? NONE : id[v->sibling[x]];
            head[y] = v->tok_head[x];
        }
        v->depth[0] = 0;
        for (uint32_t y = 0; y < nn; y++)
            for (uint32_t c = child[y]; c != NONE; c = sib[c])
                v->depth[c] = v->depth[y] + 1;
        free(v->byte);
        free(v->child);
        free(v->sibling);
        free(v->tok_head);
        v->byte = byte;
        v->child = child;
        v->sibling = sib;
        v->tok_head = head;
        byte = NULL;
        child = sib = head = NULL;
    }
    free(id);
    free(byte);
    free(child);
    free(sib);
    free(head);
    return ok;
}

/* Builds the summaries of the subtrees with SUMMARY_MIN tokens or more.
 * A node's parent comes before it in node order, so one pass backwards
 * folds every node into its parent. */
static bool summarise(desk_grammar_vocab *v) {
    uint32_t nn = v->n_nodes;
    uint32_t *parent = malloc((size_t)nn * sizeof *parent), *count = calloc(nn, sizeof *count);
    uint32_t *lo = v->lo = malloc((size_t)nn * sizeof *lo), *hi = v->hi = malloc((size_t)nn * sizeof *hi);
    v->cls = calloc(nn, 1);
    v->nchars = calloc(nn, sizeof *v->nchars);
    uint8_t *bad = calloc(nn, 1);
    desk_gutf8 *dec = calloc(nn, sizeof *dec);
    v->sum_of = malloc((size_t)nn * sizeof *v->sum_of);
    v->dfs_tok = malloc((v->n_tokens ? (size_t)v->n_tokens : 1) * sizeof *v->dfs_tok);
    bool ok = parent && count && lo && hi && v->cls && v->nchars && bad && dec && v->sum_of &&
              v->dfs_tok;
    if (ok) {
        parent[0] = NONE;
        for (uint32_t x = 0; x < nn; x++) {
            for (uint32_t c = v->child[x]; c != NONE; c = v->sibling[c]) {
                parent[c] = x;
                /* invalid UTF-8 on the path from the root (a path that is
                 * valid there ends at a character boundary, so a subtree
                 * free of bad paths decodes well from any boundary state) */
                dec[c] = dec[x];
                bad[c] = bad[x] || desk_gutf8_push(&dec[c], v->byte[c]) == GU_BAD;
            }
            for (uint32_t t = v->tok_head[x]; t != NONE; t = v->tok_next[t])
                count[x]++;
        }
        for (uint32_t x = nn; x-- > 1;) {
            count[parent[x]] += count[x];
            v->cls[parent[x]] |= v->cls[x] | byte_class(v->byte[x]) | (bad[x] ? C_BAD : 0);
            /* characters counted by their first bytes: a token cut
             * inside one counts it too */
            uint32_t c = v->nchars[x] + ((v->byte[x] & 0xC0) != 0x80);
            c = c > UINT16_MAX ? UINT16_MAX : c;
            if (c > v->nchars[parent[x]])
                v->nchars[parent[x]] = (uint16_t)c;
        }
        v->max_chars = v->nchars[0];
        /* depth-first token order: a node's tokens, then its children's */
        uint32_t pos = 0;
        size_t top = 0;
        v->todo[top++] = 0;
        while (top) {
            uint32_t x = v->todo[--top];
            if (x & 0x80000000u) {
                hi[x & 0x7FFFFFFFu] = pos;
                continue;
            }
            lo[x] = pos;
            for (uint32_t t = v->tok_head[x]; t != NONE; t = v->tok_next[t])
                v->dfs_tok[pos++] = t;
            v->todo[top++] = x | 0x80000000u;
            for (uint32_t c = v->child[x]; c != NONE; c = v->sibling[c])
                v->todo[top++] = c;
        }
        uint32_t n_sums = 0;
        for (uint32_t x = 0; x < nn; x++)
            n_sums += count[x] >= SUMMARY_MIN;
        v->sums = calloc(n_sums ? n_sums : 1, sizeof *v->sums);
        ok = v->sums != NULL;
        n_sums = 0;
        for (uint32_t x = 0; ok && x < nn; x++) {
            v->sum_of[x] = NONE;
            if (count[x] < SUMMARY_MIN)
                continue;
            v->sum_of[x] = n_sums;
            v->sums[n_sums].lo = lo[x];
            v->sums[n_sums].hi = hi[x];
            n_sums++;
        }
        /* every node's bytes and badness go to each summarised ancestor */
        for (uint32_t x = 1; ok && x < nn; x++) {
            uint8_t b = v->byte[x];
            for (uint32_t a = parent[x]; a != NONE; a = parent[a]) {
                if (v->sum_of[a] == NONE)
                    continue;
                summary *s = &v->sums[v->sum_of[a]];
                if (b < 0x80)
                    s->ascii[b >> 6] |= 1ull << (b & 63);
                else
                    s->high = true;
                s->bad = s->bad || bad[x];
            }
        }
    }
    free(parent);
    free(count);
    free(bad);
    free(dec);
    return ok;
}

desk_status desk_grammar_vocab_new(const char *const *pieces, const size_t *lens, int n,
                                   desk_grammar_vocab **out, desk_err *err) {
    *out = NULL;
    if (n < 0 || (n > 0 && (!pieces || !lens)))
        return desk_errf(err, DESK_E_ARG, "grammar: a vocabulary of %d tokens without pieces", n);
    size_t total = 1, max_len = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] && !pieces[i])
            return desk_errf(err, DESK_E_ARG, "grammar: token %d has %zu bytes at NULL", i, lens[i]);
        total += lens[i];
        if (lens[i] > max_len)
            max_len = lens[i];
        if (total >= NONE / 2)
            return desk_errf(err, DESK_E_RANGE, "grammar: the vocabulary's pieces pass %u bytes",
                             NONE / 2);
    }
    desk_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a vocabulary");
    v->n_tokens = n;
    v->max_len = (uint32_t)max_len;
    v->byte = malloc(total);
    v->child = malloc(total * sizeof *v->child);
    v->sibling = malloc(total * sizeof *v->sibling);
    v->tok_head = malloc(total * sizeof *v->tok_head);
    v->tok_next = malloc((n ? (size_t)n : 1) * sizeof *v->tok_next);
    v->todo = malloc(2 * total * sizeof *v->todo);
    v->levels = calloc(max_len + 1, sizeof *v->levels);
    v->dlv = calloc(max_len + 1, sizeof *v->dlv);
    if (!v->byte || !v->child || !v->sibling || !v->tok_head || !v->tok_next || !v->todo ||
        !v->levels || !v->dlv) {
        desk_grammar_vocab_free(v);
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a %d-token vocabulary", n);
    }
    v->n_nodes = 1;
    v->byte[0] = 0;
    v->child[0] = v->sibling[0] = v->tok_head[0] = NONE;
    for (int i = 0; i < n; i++) {
        uint32_t x = 0;
        for (size_t k = 0; k < lens[i]; k++) {
            uint8_t b = (uint8_t)pieces[i][k];
            uint32_t c = v->child[x];
            while (c != NONE && v->byte[c] != b)
                c = v->sibling[c];
            if (c == NONE) {
                c = v->n_nodes++;
                v->byte[c] = b;
                v->child[c] = v->tok_head[c] = NONE;
                v->sibling[c] = v->child[x];
                v->child[x] = c;
            }
            x = c;
        }
        v->tok_next[i] = v->tok_head[x];
        v->tok_head[x] = (uint32_t)i;
    }
    desk_gwork_init(&v->work, NULL);
    if (!preorder(v) || !summarise(v)) {
        desk_grammar_vocab_free(v);
        return desk_errf(err, DESK_E_NOMEM, "grammar: out of memory for a %d-token vocabulary", n);
    }
    *out = v;
    return DESK_OK;
}

/* LV = PARENT's state after byte B; false when that state is dead (or a
 * limit stopped it, as accept would).  *ST is set on a real failure. */
static bool step_byte(desk_grammar_vocab *v, const desk_grammar *g, const level *parent, level *lv,
                      uint8_t b, desk_status *st, desk_err *err) {
    lv->utf8 = parent->utf8;
    int r = desk_gutf8_push(&lv->utf8, b);
    if (r == GU_BAD)
        return false;
    if (r == GU_MORE) {
        lv->set = parent->set;
        uint32_t lo, hi;
        desk_gutf8_range(&lv->utf8, &lo, &hi);
        return desk_gstacks_allow_range(g, lv->set, lo, hi);
    }
    desk_err e = {0};
    desk_status s = desk_gstacks_step(&v->work, parent->set, lv->utf8.cp, &lv->own, &e);
    if (s == DESK_E_NOMEM) {
        *st = s;
        if (err)
            *err = e;
    }
    lv->set = &lv->own;
    return s == DESK_OK && lv->own.n > 0;
}

static bool same_set(const desk_gstacks *a, const desk_gstacks *b) {
    if (a->n != b->n || a->has_end != b->has_end)
        return false;
    for (uint32_t i = 0; i < b->n; i++) {
        bool found = false;
        for (uint32_t j = 0; j < a->n && !found; j++)
            found = a->len[j] == b->len[i] &&
                    !memcmp(a->data + a->off[j], b->data + b->off[i], b->len[i] * sizeof(uint32_t));
        if (!found)
            return false;
    }
    return true;
}

/* A state's loops: the ASCII bytes (LOOP, a bitmap) and whether all
 * non-ASCII characters (*HIGH) leave the set of stacks S as it is, as a
 * string's body does for almost every character.  Below such a byte the
 * walk needs no stepping, and a summarised subtree made only of such
 * bytes is allowed whole.  Code points that match the same stack tops
 * step alike, so one step per group of them decides. */
static bool start_loops(desk_grammar_vocab *v, const desk_gstacks *s, uint64_t loop[2], bool *high) {
    const desk_grammar *g = v->work.g;
    loop[0] = loop[1] = 0;
    *high = false;
    if (s->n == 0 || s->n > 64)
        return false;
    uint64_t sigs[129];
    bool done[129];
    int n_sig = 0;
    for (uint32_t cp = 0; cp <= 0x80; cp++) {
        uint64_t sig = 0;
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->len[i] == 0)
                continue;
            const desk_gelem *e = &g->elems[s->data[s->off[i] + s->len[i] - 1]];
            if (cp < 0x80 ? desk_gelem_match(g, e, cp) : desk_gelem_match_all_in(g, e, 0x80, 0x10FFFF))
                sig |= 1ull << i;
            else if (cp == 0x80 && desk_gelem_match_any_in(g, e, 0x80, 0x10FFFF))
                return true; /* not uniform over non-ASCII: *HIGH stays false */
        }
        int k = 0;
        while (k < n_sig && sigs[k] != sig)
            k++;
        if (k == n_sig) {
            desk_err e = {0};
            sigs[k] = sig;
            done[k] = sig && desk_gstacks_step(&v->work, s, cp, &v->probe, &e) == DESK_OK &&
                      same_set(s, &v->probe);
            n_sig++;
        }
        if (!done[k])
            continue;
        if (cp < 0x80)
            loop[cp >> 6] |= 1ull << (cp & 63);
        else
            *high = true;
    }
    return true;
}

desk_status desk_grammar_mask(const desk_grammar_matcher *m, desk_grammar_vocab *v, bool *allowed,
                              desk_err *err) {
    if (!m || !v || (!allowed && v->n_tokens))
        return desk_errf(err, DESK_E_ARG, "grammar: a mask without a matcher, vocabulary or output");
    if (v->n_tokens)
        memset(allowed, 0, (size_t)v->n_tokens * sizeof *allowed);
    desk_gutf8 utf8;
    uint32_t max_stacks, max_depth;
    const desk_grammar *g;
    const desk_gstacks *start = desk_grammar_matcher_state(m, &g, &utf8, &max_stacks, &max_depth);
    if (!start)
        return DESK_OK; /* a dead matcher allows nothing */
    v->work.g = g;
    v->work.max_stacks = max_stacks;
    v->work.max_depth = max_depth;
    v->levels[0].set = start;
    v->levels[0].utf8 = utf8;
    level *l0 = &v->levels[0];
    l0->anchor = start;
    l0->loop = utf8.need == 0 && start_loops(v, start, l0->lp, &l0->high);
    l0->ok = desk_gdfa_ok_classes(l0->lp, l0->high);
    for (uint32_t t = v->tok_head[0]; t != NONE; t = v->tok_next[t])
        allowed[t] = true;
    size_t n_todo = 0;
    for (uint32_t c = v->child[0]; c != NONE; c = v->sibling[c]) {
        v->todo[n_todo++] = c;
        v->todo[n_todo++] = 1;
    }
    desk_status st = DESK_OK;
    while (n_todo && st == DESK_OK) {
        uint32_t d = v->todo[--n_todo], x = v->todo[--n_todo];
        level *up = &v->levels[d - 1], *lv = &v->levels[d];
        uint8_t b = v->byte[x];
        if (up->loop && (b < 0x80 ? (up->lp[b >> 6] >> (b & 63)) & 1 : up->high)) {
            /* the anchor state again (or a character of it half-read) */
            lv->utf8 = up->utf8;
            if (desk_gutf8_push(&lv->utf8, b) == GU_BAD)
                continue;
            lv->set = up->anchor;
            lv->anchor = up->anchor;
            lv->loop = true;
            lv->high = up->high;
            lv->lp[0] = up->lp[0];
            lv->lp[1] = up->lp[1];
            lv->ok = up->ok;
        } else {
            lv->loop = false;
            if (!step_byte(v, g, up, lv, b, &st, err))
                continue;
            /* near the root, or above a big subtree: worth finding this
             * state's own loops */
            if (lv->utf8.need == 0 && (d <= 2 || v->sum_of[x] != NONE)) {
                lv->anchor = lv->set;
                lv->loop = start_loops(v, lv->set, lv->lp, &lv->high);
                lv->ok = desk_gdfa_ok_classes(lv->lp, lv->high);
            }
        }
        if (lv->loop && lv->utf8.need == 0 && !(v->cls[x] & ~lv->ok)) {
            for (uint32_t k = v->lo[x]; k < v->hi[x]; k++)
                allowed[v->dfs_tok[k]] = true;
            continue;
        }
        uint32_t si = v->sum_of[x];
        if (lv->loop && lv->utf8.need == 0 && si != NONE) {
            const summary *sm = &v->sums[si];
            if (!(sm->ascii[0] & ~lv->lp[0]) && !(sm->ascii[1] & ~lv->lp[1]) &&
                (!sm->high || (lv->high && !sm->bad))) {
                for (uint32_t k = sm->lo; k < sm->hi; k++)
                    allowed[v->dfs_tok[k]] = true;
                continue;
            }
        }
        for (uint32_t t = v->tok_head[x]; t != NONE; t = v->tok_next[t])
            allowed[t] = true;
        for (uint32_t c = v->child[x]; c != NONE; c = v->sibling[c]) {
            v->todo[n_todo++] = c;
            v->todo[n_todo++] = d + 1;
        }
    }
    return st;
}

uint32_t desk_grammar_vocab_max_chars(const desk_grammar_vocab *v) {
    return v->max_chars;
}

desk_status desk_grammar_cache_new(const desk_grammar *g, const desk_grammar_vocab *v,
                                   desk_grammar_cache **out, desk_err *err) {
    if (!out)
        return desk_errf(err, DESK_E_ARG, "grammar: a mask cache without an output");
    *out = NULL;
    if (!g || !v)
        return desk_errf(err, DESK_E_ARG, "grammar: a mask cache without a grammar or vocabulary");
    return desk_gdfa_new(g, v->max_chars, out, err);
}

/* Marks the tokens of node X's subtree when state SID takes all of them
 * along its chain (see desk_gdinfo): every byte below X among those it
 * goes on with, and no token longer than the chain. */
static bool whole_subtree(const desk_grammar_vocab *v, const desk_gdinfo *in, uint32_t x,
                          bool *allowed) {
    if (in->chain < v->nchars[x])
        return false;
    uint32_t lo, hi;
    if (!(v->cls[x] & ~in->ok)) {
        lo = v->lo[x];
        hi = v->hi[x];
    } else {
        uint32_t si = v->sum_of[x];
        if (si == NONE)
            return false;
        const summary *sm = &v->sums[si];
        if ((sm->ascii[0] & ~in->lp[0]) || (sm->ascii[1] & ~in->lp[1]) ||
            (sm->high && (!in->high || sm->bad)))
            return false;
        lo = sm->lo;
        hi = sm->hi;
    }
    for (uint32_t k = lo; k < hi; k++)
        allowed[v->dfs_tok[k]] = true;
    return true;
}

/* The trie walk of desk_grammar_mask with every step through the cache D. */
static desk_status walk_cached(const desk_gstacks *start, desk_gutf8 utf8, desk_grammar_vocab *v,
                               desk_grammar_cache *d, bool *allowed, desk_err *err) {
    uint32_t sid;
    desk_status st = desk_gdfa_intern(d, start, &sid, err);
    if (st != DESK_OK)
        return st;
    v->dlv[0].sid = sid;
    v->dlv[0].utf8 = utf8;
    for (uint32_t t = v->tok_head[0]; t != NONE; t = v->tok_next[t])
        allowed[t] = true;
    for (uint32_t x = 1; x < v->n_nodes;) {
        uint32_t dep = v->depth[x];
        const dlevel *up = &v->dlv[dep - 1];
        dlevel *lv = &v->dlv[dep];
        uint8_t b = v->byte[x];
        uint32_t to;
        lv->utf8 = up->utf8;
        if (up->utf8.need == 0 && b < 0x80) {
            to = d->rows[(size_t)up->sid * 128 + b];
            if (to == GD_UNKNOWN && (st = desk_gdfa_step(d, up->sid, b, &to, err)) != DESK_OK)
                return st;
            lv->utf8.cp = b;
        } else {
            int r = desk_gutf8_push(&lv->utf8, b);
            if (r == GU_BAD) {
                x = v->end[x];
                continue;
            }
            if (!d->info[up->sid].chain_known && (st = desk_gdfa_info(d, up->sid, err)) != DESK_OK)
                return st;
            /* where non-ASCII characters lead, when they all lead alike */
            to = d->info[up->sid].hi_next;
            if (r == GU_MORE) {
                if (to == GD_UNKNOWN) {
                    uint32_t lo, hi;
                    desk_gutf8_range(&lv->utf8, &lo, &hi);
                    to = desk_gdfa_allow_range(d, up->sid, lo, hi) ? up->sid : GD_DEAD;
                } else if (to != GD_DEAD) {
                    to = up->sid;
                }
            } else if (to == GD_UNKNOWN &&
                       (st = desk_gdfa_step(d, up->sid, lv->utf8.cp, &to, err)) != DESK_OK) {
                return st;
            }
        }
        if (to == GD_DEAD) {
            x = v->end[x];
            continue;
        }
        lv->sid = to;
        if (lv->utf8.need == 0) {
            if (!d->info[to].chain_known && (st = desk_gdfa_info(d, to, err)) != DESK_OK)
                return st;
            if (whole_subtree(v, &d->info[to], x, allowed)) {
                x = v->end[x];
                continue;
            }
        }
        for (uint32_t t = v->tok_head[x]; t != NONE; t = v->tok_next[t])
            allowed[t] = true;
        x++;
    }
    return DESK_OK;
}

desk_status desk_grammar_mask_cached(const desk_grammar_matcher *m, desk_grammar_vocab *v,
                                     desk_grammar_cache *d, bool *allowed, desk_err *err) {
    if (!m || !v || !d || (!allowed && v->n_tokens))
        return desk_errf(err, DESK_E_ARG,
                         "grammar: a mask without a matcher, vocabulary, cache or output");
    desk_gutf8 utf8;
    uint32_t max_stacks, max_depth;
    const desk_grammar *g;
    const desk_gstacks *start = desk_grammar_matcher_state(m, &g, &utf8, &max_stacks, &max_depth);
    if (g != d->g)
        return desk_errf(err, DESK_E_ARG, "grammar: a mask cache used with another grammar");
    if (d->chain_cap < v->max_chars)
        return desk_errf(err, DESK_E_ARG,
                         "grammar: a mask cache made for a vocabulary with shorter tokens");
    if (v->n_tokens)
        memset(allowed, 0, (size_t)v->n_tokens * sizeof *allowed);
    if (!start)
        return DESK_OK;
    desk_gdfa_prepare(d, max_stacks, max_depth);
    desk_status s = walk_cached(start, utf8, v, d, allowed, err);
    if (s == DESK_E_RANGE && d->full) /* states that never repeat: step them directly */
        return desk_grammar_mask(m, v, allowed, err);
    return s;
}
