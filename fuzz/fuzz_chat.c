/*
 * fuzz_chat.c - libFuzzer target for chat templates: template detection
 * and rendering on fuzzed template strings and messages.
 *
 * The input is split at NUL bytes: the first piece is a template text (or
 * a family name) for desk_chat_detect/desk_chat_choose, the rest are up to
 * 8 messages whose first byte picks the role.  Every format is rendered to
 * text into an exact-size heap buffer (the needed length must be stable and
 * a short buffer must not be overrun), and to token ids with one of the
 * real models' tokenizers or the Phi-3 vocabulary (picked by input size;
 * loaded once, as in fuzz_tokenizer.c), growing the id buffer when
 * DESK_E_RANGE says so.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "core/paths.h"
#include "gguf/gguf.h"

#define MAX_TOK 3
#define MAX_MSG 8

typedef struct fuzz_ctx {
    desk_tokenizer *tok[MAX_TOK];
    int n;
} fuzz_ctx;

static void add_tok(fuzz_ctx *c, const char *path) {
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open(path, &g, &err) != DESK_OK) return;
    if (desk_tokenizer_load(g, &c->tok[c->n], &err) == DESK_OK) c->n++;
    desk_gguf_close(g);
}

static fuzz_ctx *ctx_get(void) {
    static fuzz_ctx c; /* loaded once per process; read-only after that */
    static bool done;
    if (done) return &c;
    done = true;
    static const char *const models[] = {"smollm2", "gemma3-270m"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        desk_err err = {0};
        if (desk_model_resolve(models[i], path, sizeof path, &err) == DESK_OK) add_tok(&c, path);
    }
    const char *sh = getenv("DESK_SHARED_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-phi-3.gguf", sh && *sh ? sh : "../shared");
    add_tok(&c, path);
    if (c.n == 0) {
        fprintf(stderr, "fuzz_chat: no tokenizer found (models cache, DESK_SHARED_DIR)\n");
        abort();
    }
    return &c;
}

static void render_text(desk_chat_fmt f, const desk_chat_msg *m, size_t n, bool gen) {
    size_t need = desk_chat_render_text(f, m, n, gen, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf) abort();
    if (desk_chat_render_text(f, m, n, gen, buf, need + 1) != need || buf[need] != '\0') abort();
    /* A short buffer: filled only up to its capacity. */
    size_t small = need / 2;
    if (desk_chat_render_text(f, m, n, gen, buf, small) != need) abort();
    free(buf);
}

static void render_tokens(desk_chat_fmt f, const desk_tokenizer *t, const desk_chat_msg *m, size_t n,
                          bool gen) {
    size_t cap = 16, got = 0;
    desk_token *ids = malloc(cap * sizeof *ids);
    desk_err err = {0};
    desk_status s = desk_chat_render_tokens(f, t, m, n, gen, ids, cap, &got, &err);
    if (s == DESK_E_RANGE && got > cap) {
        cap = got;
        ids = realloc(ids, cap * sizeof *ids);
        if (!ids) abort();
        s = desk_chat_render_tokens(f, t, m, n, gen, ids, cap, &got, &err);
        if (s != DESK_OK || got != cap) abort(); /* the count it asked for must do */
    }
    if (s == DESK_OK)
        for (size_t i = 0; i < got; i++)
            if (ids[i] < 0 || ids[i] >= desk_tokenizer_n_vocab(t)) abort();
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_ctx *c = ctx_get();
    /* A private NUL-terminated copy, split at NUL bytes. */
    char *copy = malloc(size + 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *tmpl = copy;
    size_t at = strlen(copy) + 1;
    desk_chat_msg msgs[MAX_MSG];
    size_t n = 0;
    while (at <= size && n < MAX_MSG) {
        size_t len = strlen(copy + at);
        desk_role role = len ? (desk_role)((unsigned char)copy[at] % 3) : DESK_ROLE_USER;
        msgs[n++] = (desk_chat_msg){role, copy + at, len};
        at += len + 1;
    }
    desk_chat_fmt detected = desk_chat_detect(tmpl);
    if (detected < DESK_CHAT_UNKNOWN || detected >= DESK_CHAT_N_FMT) abort();
    const char *warning = NULL;
    const desk_tokenizer *t = c->tok[size % (size_t)c->n]; /* one per input keeps it fast */
    desk_chat_fmt chosen = desk_chat_choose(tmpl, t, &warning);
    if (chosen <= DESK_CHAT_UNKNOWN || chosen >= DESK_CHAT_N_FMT) abort();
    render_tokens(chosen, t, msgs, n, size % 2 == 0);
    for (int f = DESK_CHAT_UNKNOWN + 1; f < DESK_CHAT_N_FMT; f++) render_text((desk_chat_fmt)f, msgs, n, true);
    free(copy);
    return 0;
}
