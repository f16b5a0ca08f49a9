/*
 * chat_tokens.c - the tokenizer side of the chat module: rendering a
 * conversation to ids, and choosing a format from a vocabulary.
 *
 * The token sink gathers text until the next marker, tokenizes it without
 * special parsing, then appends the marker's control id; a marker the
 * vocabulary lacks as a control token is plain text, as in llama.cpp.
 */
#include <string.h>

#include "chat/chat_sink.h"
#include "core/arena.h"
#include "core/error.h"

static bool vocab_has_control(const desk_tokenizer *t, const char *text) {
    desk_token id = desk_tokenizer_find(t, text);
    return id >= 0 && desk_tokenizer_is_control(t, id);
}

desk_chat_fmt desk_chat_guess_from_vocab(const desk_tokenizer *t) {
    if (!t) return DESK_CHAT_UNKNOWN;
    if (vocab_has_control(t, "<|im_start|>")) return DESK_CHAT_CHATML;
    if (vocab_has_control(t, "<start_of_turn>")) return DESK_CHAT_GEMMA;
    if (vocab_has_control(t, "<|start_header_id|>")) return DESK_CHAT_LLAMA3;
    if (vocab_has_control(t, "<|assistant|>") && vocab_has_control(t, "<|end|>"))
        return DESK_CHAT_PHI3;
    return DESK_CHAT_UNKNOWN;
}

desk_chat_fmt desk_chat_choose(const char *tmpl, const desk_tokenizer *t, const char **warning) {
    *warning = NULL;
    desk_chat_fmt f = desk_chat_detect(tmpl);
    if (f != DESK_CHAT_UNKNOWN) return f;
    f = desk_chat_guess_from_vocab(t);
    if (f != DESK_CHAT_UNKNOWN) {
        *warning = tmpl ? "the model's chat template is not one desk knows; "
                          "using the format its vocabulary points to"
                        : "the model has no chat template; using the format its vocabulary "
                          "points to";
        return f;
    }
    *warning = tmpl ? "the model's chat template is not one desk knows; using chatml"
                    : "the model has no chat template; using chatml";
    return DESK_CHAT_CHATML;
}

typedef struct token_sink {
    const desk_tokenizer *tok;
    desk_token *ids;
    size_t cap, n; /* n counts past cap when the prompt does not fit */
    char *pend;    /* text waiting for the next marker, sized from the text render */
    size_t pend_len;
    desk_status st;
    desk_err *err;
} token_sink;

static void push_id(token_sink *k, desk_token id) {
    if (k->n < k->cap) k->ids[k->n] = id;
    k->n++;
}

static void flush_text(token_sink *k) {
    if (k->pend_len == 0 || k->st != DESK_OK) {
        k->pend_len = 0;
        return;
    }
    size_t at = k->n < k->cap ? k->n : k->cap;
    size_t got = 0;
    desk_status st = desk_tokenize(k->tok, k->pend, k->pend_len, 0, k->ids ? k->ids + at : NULL,
                                   k->cap - at,
                                   &got, k->err);
    if (st != DESK_OK && st != DESK_E_RANGE) k->st = st;
    k->n += got;
    k->pend_len = 0;
}

static void tok_text(void *user, const char *s, size_t n) {
    token_sink *k = user;
    memcpy(k->pend + k->pend_len, s, n);
    k->pend_len += n;
}

static void tok_marker(void *user, const char *s) {
    token_sink *k = user;
    desk_token id = desk_tokenizer_find(k->tok, s);
    if (id >= 0 && desk_tokenizer_is_control(k->tok, id)) {
        flush_text(k);
        push_id(k, id);
    } else {
        tok_text(user, s, strlen(s));
    }
}

/* Where the token sink's pieces come from: a family's renderer or a
 * piece list. */
typedef struct token_src {
    desk_chat_fmt f;
    const desk_chat_msg *msgs;
    size_t n;
    bool add_gen;
    const desk_chat_piece *pieces; /* non-NULL: these instead */
} token_src;

static desk_status render_tokens(const token_src *src, const desk_tokenizer *t, desk_token *ids,
                                 size_t cap, size_t *n_out, desk_err *err) {
    *n_out = 0;
    if (!t) return desk_errf(err, DESK_E_ARG, "chat: no tokenizer");
    /* the whole text bounds the text between markers */
    size_t text_len = 0;
    if (src->pieces)
        for (size_t i = 0; i < src->n; i++) text_len += src->pieces[i].len;
    else
        text_len = desk_chat_render_text(src->f, src->msgs, src->n, src->add_gen, NULL, 0);
    desk_arena a;
    desk_arena_init(&a, text_len + 64);
    token_sink k = {.tok = t, .ids = ids, .cap = cap, .err = err};
    k.pend = desk_arena_alloc(&a, text_len + 1, 1);
    if (!k.pend) {
        desk_arena_free(&a);
        return desk_errf(err, DESK_E_NOMEM, "chat: out of memory for a %zu-byte prompt", text_len);
    }
    /* BOS when the metadata adds one: tokenizing nothing with
     * ADD_SPECIAL yields exactly what the model wants in front. */
    desk_token head[4];
    size_t n_head = 0;
    desk_status st = desk_tokenize(t, "", 0, DESK_TOK_ADD_SPECIAL, head, 4, &n_head, err);
    if (st != DESK_OK) {
        desk_arena_free(&a);
        return st;
    }
    desk_token bos = desk_tokenizer_special(t, DESK_SPECIAL_BOS);
    if (n_head > 0 && bos >= 0 && head[0] == bos) push_id(&k, bos);
    if (src->pieces) {
        for (size_t i = 0; i < src->n; i++) {
            const desk_chat_piece *p = &src->pieces[i];
            char name[64]; /* markers are short; a longer one is text */
            desk_token id = -1;
            if (p->marker && p->len < sizeof name) {
                memcpy(name, p->text, p->len);
                name[p->len] = '\0';
                id = desk_tokenizer_find(t, name);
            }
            if (id >= 0 && desk_tokenizer_is_control(t, id)) {
                flush_text(&k);
                push_id(&k, id);
            } else {
                tok_text(&k, p->text, p->len);
            }
        }
    } else {
        desk_chat_sink sink = {.text = tok_text, .marker = tok_marker, .user = &k};
        desk_chat_render_to(src->f, src->msgs, src->n, src->add_gen, &sink);
    }
    flush_text(&k);
    desk_arena_free(&a);
    *n_out = k.n;
    if (k.st != DESK_OK) return k.st;
    if (k.n > cap)
        return desk_errf(err, DESK_E_RANGE, "chat: the prompt needs %zu tokens, room for %zu", k.n,
                         cap);
    return DESK_OK;
}

desk_status desk_chat_render_tokens(desk_chat_fmt f, const desk_tokenizer *t,
                                    const desk_chat_msg *msgs, size_t n, bool add_gen,
                                    desk_token *ids, size_t cap, size_t *n_out, desk_err *err) {
    token_src src = {.f = f, .msgs = msgs, .n = n, .add_gen = add_gen};
    return render_tokens(&src, t, ids, cap, n_out, err);
}

desk_status desk_chat_pieces_tokens(const desk_tokenizer *t, const desk_chat_piece *pieces, size_t n,
                                    desk_token *ids, size_t cap, size_t *n_out, desk_err *err) {
    static const desk_chat_piece none = {.text = "", .len = 0};
    token_src src = {.pieces = pieces ? pieces : &none, .n = pieces ? n : 0};
    return render_tokens(&src, t, ids, cap, n_out, err);
}
