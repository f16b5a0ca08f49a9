/*
 * bpe.c - byte-level BPE encoding: each pre-token (pretok.c) is mapped
 * through the GPT-2 byte map, then adjacent symbols merge in the order of
 * tokenizer.ggml.merges (lowest rank first, ties leftmost), kept in a
 * binary heap.  A character left without a token falls back to its bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/utf8.h"

typedef struct sym {
    int32_t id;         /* token of the symbol's text, or -1 */
    uint32_t off, len;  /* in the word */
    int32_t prev, next; /* -1 at the ends */
} sym;

typedef struct pair {
    int32_t rank, left, right_id, left_id;
} pair;

static bool pair_less(const pair *a, const pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(pair *h, size_t *n, pair p) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = p;
}

static pair heap_pop(pair *h, size_t *n) {
    pair top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && pair_less(&h[c + 1], &h[c])) c++;
        if (!pair_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void try_pair(const desk_tokenizer *t, const sym *s, int32_t l, pair *h, size_t *nh) {
    if (l < 0 || s[l].next < 0) return;
    int32_t r = s[l].next, res;
    int32_t rank = tok_merge_rank(t, s[l].id, s[r].id, &res);
    if (rank >= 0) heap_push(h, nh, (pair){rank, l, s[r].id, s[l].id});
}

/* BPE merges on one pre-token already in mapped (vocabulary) text. */
static desk_status bpe_word(const desk_tokenizer *t, const char *w, size_t n, tok_scratch *sc,
                            tok_out *o) {
    if (n == 0) return DESK_OK;
    if (t->pre.ignore_merges) {
        desk_token id = tok_lookup(t, w, n);
        if (id >= 0) {
            tok_out_push(o, id);
            return DESK_OK;
        }
    }
    sym *s = tok_scratch_get(sc, 0, n * sizeof(sym));
    /* n - 1 first pairs, then at most two per merge */
    pair *h = tok_scratch_get(sc, 1, (3 * n + 4) * sizeof(pair));
    if (!s || !h) return DESK_E_NOMEM;
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l = tok_utf8_valid_len((const unsigned char *)w + i, n - i);
        if (l == 0) l = 1;
        s[ns] = (sym){tok_lookup(t, w + i, l), (uint32_t)i, (uint32_t)l, ns - 1, -1};
        if (ns > 0) s[ns - 1].next = ns;
        ns++;
        i += l;
    }
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_pair(t, s, i, h, &nh);
    while (nh > 0) {
        pair p = heap_pop(h, &nh);
        sym *L = &s[p.left];
        if (L->len == 0 || L->next < 0 || L->id != p.left_id) continue;
        sym *R = &s[L->next];
        if (R->id != p.right_id) continue;
        int32_t res;
        if (tok_merge_rank(t, L->id, R->id, &res) != p.rank) continue;
        L->id = res;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = p.left;
        try_pair(t, s, L->prev, h, &nh);
        try_pair(t, s, p.left, h, &nh);
    }
    for (int32_t i = 0; i >= 0 && i < ns; i = s[i].next) {
        if (s[i].id >= 0) {
            tok_out_push(o, s[i].id);
            continue;
        }
        /* a character with no token: its bytes, where one-byte tokens exist */
        for (uint32_t k = 0; k < s[i].len; k++) {
            desk_token id = tok_lookup(t, w + s[i].off + k, 1);
            if (id >= 0) tok_out_push(o, id);
        }
    }
    return DESK_OK;
}

/* Maps the raw bytes of a piece through the byte map and merges them. */
static desk_status encode_piece(const desk_tokenizer *t, const char *s, size_t n,
                                tok_scratch *sc, tok_out *o) {
    char *m = tok_scratch_get(sc, 2, 2 * n + 1);
    if (!m) return DESK_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        memcpy(m + k, t->pre.byte_utf8[b], t->pre.byte_utf8_len[b]);
        k += t->pre.byte_utf8_len[b];
    }
    return bpe_word(t, m, k, sc, o);
}


desk_status tok_bpe_fragment(const desk_tokenizer *t, const char *s, size_t n, tok_scratch *sc,
                             tok_out *o, desk_err *err) {
    tok_span *pieces;
    size_t np;
    desk_status st = tok_pretok_split(&t->pre, s, n, &sc->pre, &pieces, &np, err);
    if (st != DESK_OK) return st;
    for (size_t k = 0; k < np; k++) {
        st = encode_piece(t, s + pieces[k].off, pieces[k].len, sc, o);
        if (st != DESK_OK) {
            st = desk_errf(err, st, "tokenize: out of memory");
            break;
        }
    }
    free(pieces);
    return st;
}
