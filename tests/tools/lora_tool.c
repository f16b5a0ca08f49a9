/*
 * lora_tool.c - test tool for LoRA adapters (tests/py/test_lora_vs_llamacpp.py):
 * writes a seeded random adapter for a model, and runs a greedy decode with
 * adapters attached, through the public API only.
 *
 *   lora_tool make BASE.gguf OUT.gguf SEED RANK ALPHA AMP
 *       An adapter for every matrix desk adapts in BASE (attn_q, attn_k,
 *       attn_v, attn_output, ffn_gate, ffn_up, ffn_down of each layer, and
 *       output.weight when the file has one), F32, A and B uniform in
 *       [-AMP, AMP) from a xorshift64* stream seeded with SEED (the same
 *       bytes on every machine).
 *   lora_tool greedy MODEL N PROMPT [ADAPTER SCALE]...
 *       Tokenizes PROMPT as llama.cpp does (BOS as the model asks), decodes
 *       it in one batch and then N argmax tokens one at a time (stopping
 *       after an end-of-generation token); prints the continuation's ids on
 *       one line and its text after them, and on stderr the top-2 logit gap
 *       of each step (to see near ties).
 *
 * Exit 0 on success, 2 on bad usage or input (one line "lora_tool: ...").
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lora_tool: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static uint64_t g_rng;
static float rnd(float amp) {
    g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
    const uint64_t r = g_rng * 0x2545f4914f6cdd1dull;
    return amp * (2.0f * (float)(r >> 40) / (float)(1 << 24) - 1.0f);
}

#define MAX_PAIRS 4096

static int make(int argc, char **argv) {
    if (argc != 8) return fail("usage: lora_tool make BASE.gguf OUT.gguf SEED RANK ALPHA AMP");
    g_rng = strtoull(argv[4], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
    const int rank = atoi(argv[5]);
    const float alpha = strtof(argv[6], NULL), amp = strtof(argv[7], NULL);
    desk_err err = {0};
    desk_gguf *g = NULL;
    if (desk_gguf_open(argv[2], &g, &err)) return fail("%s", err.msg);
    const char *arch = NULL;
    if (desk_gguf_get_str(g, "general.architecture", &arch, &err)) return fail("%s", err.msg);
    static desk_lora_tensor t[MAX_PAIRS];
    static char names[MAX_PAIRS][64];
    size_t n = 0;
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int il = 0;; il++) {
        char probe[64];
        snprintf(probe, sizeof probe, "blk.%d.attn_q.weight", il);
        if (!desk_gguf_find_tensor(g, probe)) break;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && n < MAX_PAIRS; k++)
            snprintf(names[n++], sizeof names[0], "blk.%d.%s.weight", il, kinds[k]);
    }
    if (desk_gguf_find_tensor(g, "output.weight") && n < MAX_PAIRS) snprintf(names[n++], sizeof names[0], "output.weight");
    for (size_t i = 0; i < n; i++) {
        const desk_gguf_tensor *w = desk_gguf_find_tensor(g, names[i]);
        if (!w || w->n_dims != 2) return fail("%s: no 2-D tensor '%s'", argv[2], names[i]);
        t[i] = (desk_lora_tensor){names[i], w->ne[0], w->ne[1], rank, NULL, NULL};
        float *a = malloc(sizeof(float) * (size_t)rank * (size_t)w->ne[0]);
        float *b = malloc(sizeof(float) * (size_t)rank * (size_t)w->ne[1]);
        if (!a || !b) return fail("out of memory");
        for (int64_t k = 0; k < rank * w->ne[0]; k++) a[k] = rnd(amp);
        for (int64_t k = 0; k < rank * w->ne[1]; k++) b[k] = rnd(amp);
        t[i].a = a, t[i].b = b;
    }
    const desk_status s = desk_lora_write(argv[3], arch, alpha, t, n, DESK_TYPE_F32, &err);
    for (size_t i = 0; i < n; i++) {
        free((void *)t[i].a);
        free((void *)t[i].b);
    }
    desk_gguf_close(g);
    if (s) return fail("%s", err.msg);
    printf("%zu pairs, rank %d, alpha %g\n", n, rank, (double)alpha);
    return 0;
}

#define MAX_LORAS 8

static int greedy(int argc, char **argv) {
    if (argc < 5 || (argc - 5) % 2 || (argc - 5) / 2 > MAX_LORAS)
        return fail("usage: lora_tool greedy MODEL N PROMPT [ADAPTER SCALE]...");
    const int n_predict = atoi(argv[3]);
    desk_err err = {0};
    desk_model *m = NULL;
    desk_model_params mp = {0};
    if (desk_model_load(argv[2], &mp, &m, &err)) return fail("%s", err.msg);
    desk_lora *l[MAX_LORAS] = {0};
    desk_lora_use use[MAX_LORAS];
    const int n_loras = (argc - 5) / 2;
    int rc = 0;
    desk_ctx *c = NULL;
    desk_token ids[4096];
    size_t n = 0;
    for (int i = 0; i < n_loras && !rc; i++) {
        if (desk_lora_load(m, argv[5 + 2 * i], &l[i], &err)) rc = fail("%s", err.msg);
        use[i] = (desk_lora_use){l[i], strtof(argv[6 + 2 * i], NULL)};
    }
    desk_ctx_params cp = {.n_ctx = 1024, .n_threads = 2, .loras = use, .n_loras = n_loras};
    if (!rc && desk_ctx_new(m, &cp, &c, &err)) rc = fail("%s", err.msg);
    const desk_tokenizer *tok = desk_model_tokenizer(m);
    if (!rc && desk_tokenize(tok, argv[4], strlen(argv[4]), DESK_TOK_ADD_SPECIAL, ids, 512, &n, &err))
        rc = fail("%s", err.msg);
    if (!rc && desk_decode(c, ids, (int)n, &err)) rc = fail("%s", err.msg);
    const size_t n_prompt = n;
    for (int k = 0; k < n_predict && !rc; k++) {
        const float *lg = desk_ctx_logits(c, -1);
        desk_token best = 0;
        for (desk_token v = 1; v < desk_model_n_vocab(m); v++)
            if (lg[v] > lg[best]) best = v;
        float second = -INFINITY;
        for (desk_token v = 0; v < desk_model_n_vocab(m); v++)
            if (v != best && lg[v] > second) second = lg[v];
        fprintf(stderr, "%s%.4f", k ? " " : "gaps ", (double)(lg[best] - second));
        ids[n++] = best;
        if (desk_tokenizer_is_eog(tok, best)) break;
        if (desk_decode(c, &best, 1, &err)) rc = fail("%s", err.msg);
    }
    if (!rc) {
        for (size_t i = n_prompt; i < n; i++) printf("%s%d", i > n_prompt ? " " : "", ids[i]);
        static char text[1 << 16];
        desk_detokenize(tok, ids + n_prompt, n - n_prompt, false, text, sizeof text);
        printf("\n%s", text);
    }
    desk_ctx_free(c);
    for (int i = 0; i < n_loras; i++) desk_lora_free(l[i]);
    desk_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "make") == 0) return make(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "greedy") == 0) return greedy(argc, argv);
    return fail("usage: lora_tool make ... | lora_tool greedy ... (see the file's header)");
}
