/*
 * decode.c - token ids back to bytes: one piece at a time (byte tokens,
 * SentencePiece's U+2581 as a space, the byte-level map undone), whole
 * id sequences, and the streaming decoder that holds back incomplete
 * UTF-8 characters until the next piece completes them.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Writes the decoded bytes of ID into OUT when OUT is non-NULL (room for
 * the result is the caller's job: the length never exceeds the token's
 * text length + 1); returns the length. */
static size_t decode_piece(const desk_tokenizer *t, desk_token id, bool render_special, char *out) {
    if (id < 0 || id >= t->n_vocab) return 0;
    const tok_entry *e = &t->tok[id];
    if (e->attr & (TOK_CONTROL | TOK_UNKNOWN)) {
        if (!render_special) return 0;
        if (out) memcpy(out, e->text, e->len);
        return e->len;
    }
    if (e->attr & TOK_USER) {
        if (out) memcpy(out, e->text, e->len);
        return e->len;
    }
    if (e->attr & TOK_BYTE) {
        int hi = e->len == 6 ? hexval(e->text[3]) : -1, lo = e->len == 6 ? hexval(e->text[4]) : -1;
        if (hi < 0 || lo < 0) return 0;
        if (out) out[0] = (char)(hi << 4 | lo);
        return 1;
    }
    if (!(e->attr & TOK_NORMAL)) return 0;
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)e->text;
    if (t->kind == TOK_KIND_SPM) {
        for (uint32_t i = 0; i < e->len;) {
            if (i + 3 <= e->len && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                if (out) out[n] = ' ';
                n++;
                i += 3;
            } else {
                if (out) out[n] = (char)s[i];
                n++;
                i++;
            }
        }
        return n;
    }
    /* byte-level: each code point of the text stands for one byte */
    for (uint32_t i = 0; i < e->len;) {
        size_t l = tok_utf8_valid_len(s + i, e->len - i);
        if (l == 0) l = 1;
        uint32_t cp = 0x7fffffff;
        if (l == 1) cp = s[i];
        else if (l == 2) cp = (uint32_t)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F);
        int b = cp < TOK_BYTE_CP_MAX ? t->pre.cp_byte[cp] : -1;
        if (b >= 0) {
            if (out) out[n] = (char)b;
            n++;
        } else {
            if (out) memcpy(out + n, s + i, l);
            n += l;
        }
        i += (uint32_t)l;
    }
    return n;
}

size_t desk_tokenizer_decode_piece(const desk_tokenizer *t, desk_token id, bool render_special,
                                   char *buf, size_t cap) {
    size_t l = decode_piece(t, id, render_special, NULL);
    if (buf && l <= cap) decode_piece(t, id, render_special, buf);
    return l;
}

size_t desk_detokenize(const desk_tokenizer *t, const desk_token *ids, size_t n,
                       bool render_special, char *buf, size_t cap) {
    size_t total = 0;
    char *piece = malloc((size_t)t->max_piece + 8);
    if (!piece) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = decode_piece(t, ids[i], render_special, piece);
        const char *p = piece;
        /* the reference drops the space the encoder put in front */
        if (i == 0 && t->kind == TOK_KIND_SPM && t->add_space_prefix && l > 0 && p[0] == ' ') {
            p++;
            l--;
        }
        if (buf && total + l < cap) memcpy(buf + total, p, l);
        total += l;
    }
    free(piece);
    if (buf && cap > 0) buf[total < cap ? total : cap - 1] = '\0';
    return total;
}

/* Emits the complete UTF-8 characters at the front of SRC (N bytes) into
 * OUT; returns bytes consumed, *w the bytes written.  With FINAL, an
 * incomplete tail becomes U+FFFD too. */
static size_t emit_utf8(const unsigned char *src, size_t n, bool final, char *out, size_t cap,
                        size_t *w) {
    size_t i = 0;
    *w = 0;
    while (i < n) {
        size_t l = tok_utf8_valid_len(src + i, n - i);
        if (l == 0) {
            /* incomplete (may still complete) or invalid */
            unsigned c = src[i];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            bool prefix_ok = need > 0 && n - i < need;
            for (size_t k = 1; prefix_ok && k < n - i; k++)
                if (src[i + k] < 0x80 || src[i + k] > 0xBF) prefix_ok = false;
            if (prefix_ok && !final) break;
            if (*w + 3 > cap) break;
            memcpy(out + *w, "\xEF\xBF\xBD", 3);
            *w += 3;
            i += 1;
            if (prefix_ok) i = n; /* a truncated character: one U+FFFD */
            continue;
        }
        if (*w + l > cap) break;
        memcpy(out + *w, src + i, l);
        *w += l;
        i += l;
    }
    return i;
}

size_t desk_detok_push(const desk_tokenizer *t, desk_detok *st, desk_token id, char *out,
                       size_t cap) {
    if (id < 0 || id >= t->n_vocab) return 0;
    size_t plen = decode_piece(t, id, st->render_special, NULL);
    if (plen == 0) return 0;
    unsigned char small[256];
    unsigned char *buf = plen + st->n_pending <= sizeof small ? small
                                                              : malloc(plen + st->n_pending + 4);
    if (!buf) return 0;
    memcpy(buf, st->pending, st->n_pending);
    decode_piece(t, id, st->render_special, (char *)buf + st->n_pending);
    size_t n = st->n_pending + plen, w;
    size_t used = emit_utf8(buf, n, false, out, cap, &w);
    size_t left = n - used;
    if (left > sizeof st->pending) { /* no room in OUT: drop what cannot wait */
        left = sizeof st->pending;
        used = n - left;
    }
    memmove(st->pending, buf + used, left);
    st->n_pending = left;
    if (buf != small) free(buf);
    return w;
}

size_t desk_detok_flush(desk_detok *st, char *out, size_t cap) {
    size_t w;
    emit_utf8(st->pending, st->n_pending, true, out, cap, &w);
    st->n_pending = 0;
    return w;
}
