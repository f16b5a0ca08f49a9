/*
 * test_tokenizer.c - the tokenizers against reference ids: every case of
 * the shared vocab files (Hugging Face ids), SmolLM2's and Gemma 3's own
 * tokenizers on tests/data/tokenizer (ids from llama-tokenize, see the
 * README there), special-token parsing, decode(encode(x)) == x on random
 * text, invalid UTF-8, and refused metadata.
 */
#define _GNU_SOURCE /* asprintf */
#include "util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static desk_tokenizer *load_tok(const char *path) {
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open(path, &g, &err) != DESK_OK) fail_msg("%s: %s", path, err.msg);
    desk_tokenizer *t = NULL;
    if (desk_tokenizer_load(g, &t, &err) != DESK_OK) fail_msg("%s: %s", path, err.msg);
    desk_gguf_close(g);
    return t;
}

static desk_tokenizer *load_shared(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    char *p = tu_shared_path(rel);
    desk_tokenizer *t = load_tok(p);
    free(p);
    return t;
}

/* Encodes S; returns a malloc'd array and its length in *N. */
static desk_token *encode(const desk_tokenizer *t, const char *s, size_t len, unsigned flags,
                          size_t *n) {
    desk_err err = {0};
    size_t need = 0;
    desk_status st = desk_tokenize(t, s, len, flags, NULL, 0, &need, &err);
    if (st != DESK_OK && st != DESK_E_RANGE) fail_msg("tokenize: %s", err.msg);
    desk_token *ids = malloc(sizeof(desk_token) * (need + 1));
    assert_non_null(ids);
    assert_int_equal(desk_tokenize(t, s, len, flags, ids, need, n, &err), DESK_OK);
    assert_int_equal(*n, need);
    return ids;
}

/* Compares the ids of TEXT with the space-separated ids in WANT. */
static int check_case(const desk_tokenizer *t, const char *text, size_t len, const char *want,
                      unsigned flags, const char *label) {
    size_t n;
    desk_token *ids = encode(t, text, len, flags, &n);
    char *got = malloc(n * 12 + 1);
    assert_non_null(got);
    size_t k = 0;
    got[0] = '\0';
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(got + k, i ? " %d" : "%d", ids[i]);
    int bad = strcmp(got, want) != 0;
    if (bad)
        fprintf(stderr, "%s: case [%.*s]\n  want %s\n  got  %s\n", label, (int)(len > 200 ? 200 : len),
                text, want, got);
    free(got);
    free(ids);
    return bad;
}

/* Splits INP on "\n__ggml_vocab_test__\n" and checks each case against
 * the matching line of OUT.  Returns the number of cases. */
static size_t run_cases(const desk_tokenizer *t, char *inp, size_t inp_len, char *out,
                        unsigned flags, const char *label) {
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t seplen = strlen(sep), n_cases = 0;
    int bad = 0;
    char *p = inp, *end = inp + inp_len;
    char *line = out;
    while (p < end) {
        char *q = strstr(p, sep);
        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        /* the reference's lines carry spaces around the ids */
        size_t ll = strlen(line);
        while (ll > 0 && line[ll - 1] == ' ') line[--ll] = '\0';
        const char *w = line;
        while (*w == ' ') w++;
        bad += check_case(t, p, len, w, flags, label);
        n_cases++;
        line = nl + 1;
        if (!q) break;
        p = q + seplen;
    }
    assert_int_equal(bad, 0);
    return n_cases;
}

static void run_shared(const char *name) {
    desk_tokenizer *t = load_shared(name);
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    char *pi = tu_shared_path(rel);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    char *po = tu_shared_path(rel);
    size_t ni, no;
    char *inp = tu_read_file(pi, &ni), *out = tu_read_file(po, &no);
    size_t n = run_cases(t, inp, ni, out, 0, name);
    assert_true(n > 20);
    free(inp);
    free(out);
    free(pi);
    free(po);
    desk_tokenizer_free(t);
}

static void test_gpt2(void **state) {
    (void)state;
    run_shared("gpt-2");
}
static void test_starcoder(void **state) {
    (void)state;
    run_shared("starcoder");
}
static void test_falcon(void **state) {
    (void)state;
    run_shared("falcon");
}
static void test_llama_spm(void **state) {
    (void)state;
    run_shared("llama-spm");
}
static void test_phi3(void **state) {
    (void)state;
    run_shared("phi-3");
}

static char *data_path(const char *name) {
    char *p = NULL;
    if (asprintf(&p, "%s/tests/data/tokenizer/%s", tu_source_dir(), name) < 0) fail_msg("asprintf");
    return p;
}

/* The corpus against llama-tokenize's ids for one real model. */
static void run_corpus(const char *model, const char *out_name) {
    char *mp = tu_model_path(model);
    desk_tokenizer *t = load_tok(mp);
    char *pi = data_path("corpus.inp"), *po = data_path(out_name);
    size_t ni, no;
    char *inp = tu_read_file(pi, &ni), *out = tu_read_file(po, &no);
    assert_true(run_cases(t, inp, ni, out, 0, model) >= 30);
    free(inp);
    free(out);
    free(pi);
    free(po);
    free(mp);
    desk_tokenizer_free(t);
}

static void test_smollm2_corpus(void **state) {
    (void)state;
    run_corpus("smollm2", "smollm2.out");
}
static void test_gemma3_corpus(void **state) {
    (void)state;
    run_corpus("gemma3-270m", "gemma3.out");
}

/* A chat prompt with control tokens spelled out, parsed as the reference
 * does (and, without PARSE_SPECIAL, kept as text). */
static void run_chatml(const char *model, const char *out_name) {
    char *mp = tu_model_path(model);
    desk_tokenizer *t = load_tok(mp);
    char *pi = data_path("chatml.txt"), *po = data_path(out_name);
    size_t ni, no;
    char *inp = tu_read_file(pi, &ni), *out = tu_read_file(po, &no);
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
    assert_int_equal(check_case(t, inp, ni, out, DESK_TOK_PARSE_SPECIAL | DESK_TOK_ADD_SPECIAL, model),
                     0);
    /* without parsing, no control token comes out of the text */
    size_t n;
    desk_token *ids = encode(t, inp, ni, 0, &n);
    for (size_t i = 0; i < n; i++) assert_false(desk_tokenizer_is_control(t, ids[i]));
    free(ids);
    free(inp);
    free(out);
    free(pi);
    free(po);
    free(mp);
    desk_tokenizer_free(t);
}

static void test_smollm2_chatml(void **state) {
    (void)state;
    run_chatml("smollm2", "smollm2-chatml.out");
}
static void test_gemma3_chatml(void **state) {
    (void)state;
    run_chatml("gemma3-270m", "gemma3-chatml.out");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),      cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_falcon),    cmocka_unit_test(test_llama_spm),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_smollm2_corpus), cmocka_unit_test(test_gemma3_corpus),
        cmocka_unit_test(test_smollm2_chatml), cmocka_unit_test(test_gemma3_chatml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
