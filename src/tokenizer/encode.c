/*
 * encode.c - desk_tokenize: the split of input text at special-token texts
 * (longest text first, as the reference does), then each stretch of plain
 * text to the vocabulary's algorithm (bpe.c or spm.c), with BOS/EOS added
 * as the metadata asks.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/scratch.h"
#include "tokenizer/spm.h"
#include "tokenizer/vocab.h"

typedef struct frag {
    size_t off, len;
    desk_token id; /* -1: raw text */
} frag;

/* memmem, which C17 lacks. */
static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0 || hn < nn) return NULL;
    const char *end = h + hn - nn + 1;
    while (h < end) {
        const char *p = memchr(h, nd[0], (size_t)(end - h));
        if (!p) return NULL;
        if (memcmp(p, nd, nn) == 0) return p;
        h = p + 1;
    }
    return NULL;
}

static bool is_c_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Splits the text fragments of F (N of them, into G) at each occurrence of
 * special token ID; returns the new count, or (size_t)-1 on no memory. */
static size_t split_at(const desk_tokenizer *t, const char *text, const frag *f, size_t n,
                       desk_token id, tok_scratch *sc, int slot) {
    const tok_entry *e = &t->tok[id];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        frag *g = tok_scratch_get(sc, slot, (m + 1) * sizeof(frag));
        if (!g) return (size_t)-1;
        if (f[i].id >= 0) {
            g[m++] = f[i];
            continue;
        }
        size_t off = f[i].off, end = f[i].off + f[i].len;
        while (off < end) {
            const char *hit = find_bytes(text + off, end - off, e->text, e->len);
            size_t need = (m + 3) * sizeof(frag);
            g = tok_scratch_get(sc, slot, need);
            if (!g) return (size_t)-1;
            if (!hit) {
                g[m++] = (frag){off, end - off, -1};
                break;
            }
            size_t h = (size_t)(hit - text), left = h;
            if (e->attr & TOK_LSTRIP)
                while (left > off && is_c_space(text[left - 1])) left--;
            if (left > off) g[m++] = (frag){off, left - off, -1};
            g[m++] = (frag){h, e->len, id};
            off = h + e->len;
            if (e->attr & TOK_RSTRIP)
                while (off < end && is_c_space(text[off])) off++;
        }
    }
    return m;
}

/* Which special tokens split the text: all with PARSE, else only the
 * user-defined ones that are not also control (as the reference). */
static bool splits(uint16_t attr, bool parse) {
    if (!(attr & (TOK_CONTROL | TOK_USER | TOK_UNKNOWN))) return false;
    return parse || !(attr & (TOK_CONTROL | TOK_UNKNOWN));
}

desk_status desk_tokenize(const desk_tokenizer *t, const char *text, size_t len, unsigned flags,
                          desk_token *ids, size_t cap, size_t *n_out, desk_err *err) {
    *n_out = 0;
    if (!t || (!text && len)) return desk_errf(err, DESK_E_ARG, "tokenize: no tokenizer or text");
    tok_out o = {ids, ids ? cap : 0, 0};
    tok_scratch sc = {0};
    desk_status st = DESK_OK;
    bool parse = flags & DESK_TOK_PARSE_SPECIAL;
    if ((flags & DESK_TOK_ADD_SPECIAL) && t->add_bos && t->special[DESK_SPECIAL_BOS] >= 0)
        tok_out_push(&o, t->special[DESK_SPECIAL_BOS]);

    /* which special texts occur at all (a quick scan by 2-byte prefix) */
    int slot_a = 4, slot_b = 5;
    size_t nf = 0;
    frag *f = NULL;
    if (len > 0) {
        f = tok_scratch_get(&sc, slot_a, sizeof(frag));
        if (!f) goto nomem;
        f[0] = (frag){0, len, -1};
        nf = 1;
    }
    if (len > 0 && t->n_specials > 0) {
        uint8_t *present = tok_scratch_get(&sc, 3, (size_t)t->n_vocab);
        if (!present) goto nomem;
        memset(present, 0, (size_t)t->n_vocab);
        size_t n_present = 0;
        const unsigned char *u = (const unsigned char *)text;
        for (size_t i = 0; i < len; i++) {
            int32_t one = t->one_byte_special[u[i]];
            if (one >= 0 && splits(t->tok[one].attr, parse) && !present[one]) {
                present[one] = 1;
                n_present++;
            }
            if (i + 1 >= len) break;
            unsigned p = (unsigned)u[i] << 8 | u[i + 1];
            for (uint32_t k = t->pfx_start[p]; k < t->pfx_start[p + 1]; k++) {
                int32_t id = t->pfx_ids[k];
                const tok_entry *e = &t->tok[id];
                if (present[id] || !splits(e->attr, parse) || e->len > len - i) continue;
                if (memcmp(text + i, e->text, e->len) == 0) {
                    present[id] = 1;
                    n_present++;
                }
            }
        }
        for (int32_t k = 0; k < t->n_specials && n_present > 0; k++) {
            int32_t id = t->specials[k];
            if (!present[id]) continue;
            n_present--;
            size_t m = split_at(t, text, f, nf, id, &sc, slot_b);
            if (m == (size_t)-1) goto nomem;
            int tmp = slot_a;
            slot_a = slot_b;
            slot_b = tmp;
            f = sc.buf[slot_a];
            nf = m;
        }
    }

    bool prev_special = true;
    for (size_t i = 0; i < nf; i++) {
        frag fr = ((frag *)sc.buf[slot_a])[i];
        if (fr.id >= 0) {
            tok_out_push(&o, fr.id);
            prev_special = true;
            continue;
        }
        if (t->kind == TOK_KIND_BPE)
            st = tok_bpe_fragment(t, text + fr.off, fr.len, &sc, &o, err);
        else
            st = tok_spm_fragment(t, text + fr.off, fr.len, t->add_space_prefix && prev_special,
                                  &sc, &o, err);
        if (st != DESK_OK) goto done;
        prev_special = false;
    }
    if ((flags & DESK_TOK_ADD_SPECIAL) && t->add_eos && t->special[DESK_SPECIAL_EOS] >= 0)
        tok_out_push(&o, t->special[DESK_SPECIAL_EOS]);
    *n_out = o.n;
    if (o.n > o.cap)
        st = desk_errf(err, DESK_E_RANGE, "tokenize: %zu tokens, room for %zu", o.n, o.cap);
    goto done;
nomem:
    st = desk_errf(err, DESK_E_NOMEM, "tokenize: out of memory for %zu bytes of text", len);
done:
    tok_scratch_free(&sc);
    return st;
}
