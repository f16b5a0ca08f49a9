/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizers: encode the input
 * with each kind of tokenizer (byte-level BPE with several pre-tokenizers,
 * SentencePiece), decode the ids back whole and through the streaming
 * decoder with a small buffer, and decode ids taken from the input bytes.
 * GPT-2 (byte-level, every byte spelled) must give the input back.
 *
 * The vocabularies are loaded once: the shared vocab files
 * ($DESK_SHARED_DIR, default ../shared relative to the repository root,
 * where scripts/fuzz.sh runs) and the cached real models when present.
 * Input byte 0 picks the tokenizer and the flags; the rest is the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/paths.h"
#include "tokenizer/tokenizer.h"

#define MAX_TOK 8

typedef struct fuzz_ctx {
    desk_tokenizer *tok[MAX_TOK];
    bool exact[MAX_TOK]; /* byte-level with every byte spelled: decode must round-trip */
    int n;
} fuzz_ctx;

static fuzz_ctx *ctx_get(void) {
    static fuzz_ctx c; /* loaded once per process; read-only after that */
    static bool done;
    if (done) return &c;
    done = true;
    const char *sh = getenv("DESK_SHARED_DIR");
    static const struct {
        const char *name;
        bool exact;
    } shared[] = {{"gpt-2", true}, {"starcoder", false}, {"falcon", false},
                  {"llama-spm", false}, {"phi-3", false}};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", sh && *sh ? sh : "../shared",
                 shared[i].name);
        desk_gguf *g = NULL;
        desk_err err = {0};
        if (desk_gguf_open(path, &g, &err) != DESK_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
            continue;
        }
        if (desk_tokenizer_load(g, &c.tok[c.n], &err) == DESK_OK) c.exact[c.n++] = shared[i].exact;
        desk_gguf_close(g);
    }
    static const char *const models[] = {"smollm2", "gemma3-270m"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        desk_err err = {0};
        desk_gguf *g = NULL;
        if (desk_model_resolve(models[i], path, sizeof path, &err) != DESK_OK ||
            desk_gguf_open(path, &g, &err) != DESK_OK)
            continue;
        if (desk_tokenizer_load(g, &c.tok[c.n], &err) == DESK_OK) c.exact[c.n++] = false;
        desk_gguf_close(g);
    }
    if (c.n == 0) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary found (set DESK_SHARED_DIR)\n");
        abort();
    }
    return &c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_ctx *c = ctx_get();
    if (size < 1) return 0;
    const desk_tokenizer *t = c->tok[data[0] % c->n];
    unsigned flags = (data[0] >> 4) & 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    desk_err err = {0};
    size_t need = 0;
    desk_status st = desk_tokenize(t, text, len, flags, NULL, 0, &need, &err);
    if (st != DESK_OK && st != DESK_E_RANGE) abort();
    desk_token *ids = malloc(sizeof(desk_token) * (need + 1));
    size_t n = 0;
    if (desk_tokenize(t, text, len, flags, ids, need, &n, &err) != DESK_OK || n != need) abort();
    int32_t nv = desk_tokenizer_n_vocab(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nv) abort();

    size_t m = desk_detokenize(t, ids, n, true, NULL, 0);
    char *back = malloc(m + 1);
    if (desk_detokenize(t, ids, n, true, back, m + 1) != m) abort();
    if (c->exact[data[0] % c->n] && flags == 0 && (m != len || memcmp(back, text, len) != 0))
        abort();

    /* streaming with a tight buffer */
    desk_detok ds = {0};
    ds.render_special = data[0] & 0x40;
    char out[72];
    for (size_t i = 0; i < n; i++) desk_detok_push(t, &ds, ids[i], out, sizeof out);
    desk_detok_flush(&ds, out, sizeof out);

    /* ids from the input bytes, in and out of range */
    desk_detok ds2 = {0};
    for (size_t i = 0; i + 4 <= len; i += 4) {
        int32_t id;
        memcpy(&id, text + i, 4);
        if (data[0] & 0x80) id = (int32_t)((uint32_t)id % (uint32_t)nv);
        desk_detok_push(t, &ds2, id, out, sizeof out);
        desk_detokenize(t, &id, 1, true, out, sizeof out);
    }
    desk_detok_flush(&ds2, out, sizeof out);
    free(back);
    free(ids);
    return 0;
}
