/*
 * spm.c - SentencePiece-style encoding ("llama" vocabularies): spaces
 * become U+2581, an optional space goes in front, then adjacent symbols
 * merge while their concatenation is a token, highest score first (ties:
 * leftmost), starting from single characters.  A symbol left without a
 * token falls back to its bytes as <0xNN> tokens, else the unknown token.
 * An invalid UTF-8 byte is a symbol of its own, so it ends as <0xNN>.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

typedef struct ssym {
    uint32_t off, len;
    int32_t prev, next;
} ssym;

typedef struct bigram {
    float score;
    int32_t left, right;
    uint32_t size;
} bigram;

static bool bg_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void bg_push(bigram *h, size_t *n, bigram p) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!bg_before(&p, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = p;
}

static bigram bg_pop(bigram *h, size_t *n) {
    bigram top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && bg_before(&h[c + 1], &h[c])) c++;
        if (!bg_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void try_bigram(const desk_tokenizer *t, const char *txt, const ssym *s, int32_t l,
                       int32_t r, bigram *h, size_t *nh) {
    if (l < 0 || r < 0) return;
    uint32_t size = s[l].len + s[r].len;
    desk_token id = tok_lookup(t, txt + s[l].off, size);
    if (id < 0) return;
    bg_push(h, nh, (bigram){t->tok[id].score, l, r, size});
}

desk_status tok_spm_fragment(const desk_tokenizer *t, const char *s, size_t n, bool prefix_space,
                             tok_scratch *sc, tok_out *o, desk_err *err) {
    /* escape: ' ' -> U+2581 (3 bytes), with the optional leading one */
    size_t spaces = prefix_space;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    size_t tn = n + (prefix_space ? 1 : 0) + 2 * spaces;
    char *txt = tok_scratch_get(sc, 2, tn + 1);
    ssym *sy = tok_scratch_get(sc, 0, (tn + 1) * sizeof(ssym));
    bigram *h = tok_scratch_get(sc, 1, (3 * tn + 4) * sizeof(bigram));
    if (!txt || !sy || !h)
        return desk_errf(err, DESK_E_NOMEM, "tokenize: out of memory for %zu bytes", n);
    size_t k = 0;
    if (prefix_space) {
        memcpy(txt, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(txt + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            txt[k++] = s[i];
        }
    }
    int32_t ns = 0;
    for (size_t i = 0; i < k;) {
        size_t l = tok_utf8_valid_len((const unsigned char *)txt + i, k - i);
        if (l == 0) l = 1;
        sy[ns] = (ssym){(uint32_t)i, (uint32_t)l, ns - 1, -1};
        if (ns > 0) sy[ns - 1].next = ns;
        ns++;
        i += l;
    }
    size_t nh = 0;
    for (int32_t i = 1; i < ns; i++) try_bigram(t, txt, sy, i - 1, i, h, &nh);
    while (nh > 0) {
        bigram b = bg_pop(h, &nh);
        ssym *L = &sy[b.left], *R = &sy[b.right];
        if (L->len == 0 || R->len == 0 || L->len + R->len != b.size) continue;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = b.left;
        try_bigram(t, txt, sy, L->prev, b.left, h, &nh);
        try_bigram(t, txt, sy, b.left, L->next, h, &nh);
    }
    for (int32_t i = 0; i >= 0 && i < ns; i = sy[i].next) {
        desk_token id = tok_lookup(t, txt + sy[i].off, sy[i].len);
        if (id >= 0) {
            tok_out_push(o, id);
            continue;
        }
        for (uint32_t j = 0; j < sy[i].len; j++) {
            desk_token b = t->byte_tok[(unsigned char)txt[sy[i].off + j]];
            if (b < 0) b = t->special[DESK_SPECIAL_UNK];
            if (b >= 0) tok_out_push(o, b);
        }
    }
    return DESK_OK;
}
