/*
 * generate.c - text generation with libdesk's public API alone: load a
 * model, tokenize a prompt, decode it, then sample and decode one token at
 * a time, printing text as it becomes whole UTF-8.
 *
 *   cc generate.c $(pkg-config --cflags --libs desk) -o generate
 *   ./generate MODEL.gguf "The capital of France is" 16 [SEED]
 *
 * Greedy (temperature 0) without SEED; sampled with llama.cpp's defaults
 * with one.  Exit status 2 for bad arguments, 1 for a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <desk.h>

static int fail(const char *what, const desk_err *e) {
    fprintf(stderr, "generate: %s: %s\n", what, e->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4 || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: generate MODEL.gguf PROMPT N_TOKENS [SEED]\n");
        return 2;
    }
    const int n_gen = atoi(argv[3]);
    desk_err e = {0};
    desk_model *m = NULL;
    desk_model_params mp = {0}; /* zero: the defaults */
    if (desk_model_load(argv[1], &mp, &m, &e)) return fail("load", &e);
    const desk_tokenizer *t = desk_model_tokenizer(m); /* borrowed from m */

    desk_token ids[512];
    size_t n = 0;
    if (desk_tokenize(t, argv[2], strlen(argv[2]), DESK_TOK_ADD_SPECIAL, ids, 512, &n, &e)) {
        desk_model_free(m);
        return fail("tokenize", &e);
    }
    desk_ctx *c = NULL; /* borrows m: freed before it */
    desk_ctx_params cp = {.n_ctx = (int)n + n_gen};
    desk_sampler_params sp = desk_sampler_defaults();
    if (argc < 5) sp.temp = 0;
    else sp.seed = strtoull(argv[4], NULL, 10);
    desk_sampler *s = NULL;
    int rc = 0;
    if (desk_ctx_new(m, &cp, &c, &e) || desk_sampler_new(&sp, desk_model_n_vocab(m), &s, &e)) {
        rc = fail("context", &e);
        goto done;
    }
    /* The prompt as one batch of sequence 0; only its last row keeps logits. */
    desk_batch b = {.n_tokens = (int)n, .token = ids};
    desk_detok dt = {0};
    char text[256];
    for (int i = 0; i < n_gen; i++) {
        if (desk_decode_batch(c, &b, &e)) {
            rc = fail("decode", &e);
            goto done;
        }
        desk_token next = desk_sampler_sample(s, desk_ctx_logits(c, -1));
        if (desk_tokenizer_is_eog(t, next)) break;
        desk_sampler_accept(s, next);
        size_t len = desk_detok_push(t, &dt, next, text, sizeof text);
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        ids[0] = next;
        b = (desk_batch){.n_tokens = 1, .token = ids};
    }
    size_t len = desk_detok_flush(&dt, text, sizeof text);
    fwrite(text, 1, len, stdout);
    putchar('\n');
done:
    desk_sampler_free(s);
    desk_ctx_free(c);
    desk_model_free(m);
    return rc;
}
