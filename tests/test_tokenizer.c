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
#include <unistd.h>

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

/* Phi-3's special tokens take the spaces after them along (parse mode). */
static void test_phi3_special(void **state) {
    (void)state;
    desk_tokenizer *t = load_shared("phi-3");
    char *pi = data_path("phi3-special.txt"), *po = data_path("phi3-special.out");
    size_t ni, no;
    char *inp = tu_read_file(pi, &ni), *out = tu_read_file(po, &no);
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
    assert_int_equal(
        check_case(t, inp, ni, out, DESK_TOK_PARSE_SPECIAL | DESK_TOK_ADD_SPECIAL, "phi-3"), 0);
    free(inp);
    free(out);
    free(pi);
    free(po);
    desk_tokenizer_free(t);
}

/* ---- properties ----------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t put_cp(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Random valid UTF-8: mostly ASCII words and spaces, some Latin-1, Greek,
 * Cyrillic, CJK, Hangul, emoji, and whitespace of several kinds.  Some
 * vocabularies lack the byte tokens of rare bytes (control characters like
 * 0x0B, lead bytes 0xF1 and up), and the reference drops those bytes, so
 * the generator keeps to bytes every vocabulary here can spell. */
static size_t random_text(uint64_t *rng, char *buf, size_t max_chars) {
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E}, {0x61, 0x7A}, {0x20, 0x20}, {0x09, 0x0A}, {0xA0, 0xFF},
        {0x370, 0x3FF}, {0x400, 0x4FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
        {0x1F300, 0x1F6FF}, {0x2000, 0x206F}, {0x30, 0x39}, {0x10000, 0x3FFFF}, {0x0D, 0x0D},
    };
    size_t n = (size_t)(rng_next(rng) % max_chars), k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = (size_t)(rng_next(rng) % (sizeof ranges / sizeof ranges[0]));
        uint32_t lo = ranges[r][0], hi = ranges[r][1];
        uint32_t cp = lo + (uint32_t)(rng_next(rng) % (hi - lo + 1));
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x41;
        k += put_cp(buf + k, cp);
    }
    return k;
}

/* decode(encode(x)) == x for N strings from GEN on tokenizer T. */
static void roundtrip(const desk_tokenizer *t, const char *label, bool raw_bytes, bool exact,
                      int n) {
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    char text[4 * 64 + 4], back[8192];
    for (int c = 0; c < n; c++) {
        size_t len;
        if (raw_bytes) {
            len = (size_t)(rng_next(&rng) % 48);
            for (size_t i = 0; i < len; i++) text[i] = (char)rng_next(&rng);
        } else {
            len = random_text(&rng, text, 64);
        }
        size_t n1, n2;
        desk_token *a = encode(t, text, len, 0, &n1);
        desk_token *b = encode(t, text, len, 0, &n2);
        assert_int_equal(n1, n2); /* deterministic */
        assert_memory_equal(a, b, n1 * sizeof(desk_token));
        size_t m = desk_detokenize(t, a, n1, false, back, sizeof back);
        if (exact && (m != len || memcmp(back, text, len) != 0)) {
            fprintf(stderr, "%s: case %d (%zu bytes) decodes to %zu bytes\n", label, c, len, m);
            fail();
        }
        /* the streaming decoder gives the same bytes for valid text */
        if (!raw_bytes) {
            desk_detok st = {0};
            size_t k = 0;
            for (size_t i = 0; i < n1; i++) {
                assert_true(k + 512 < sizeof back);
                k += desk_detok_push(t, &st, a[i], back + k, 512);
            }
            k += desk_detok_flush(&st, back + k, 64);
            size_t skip = 0; /* the SPM prefix space stays in a stream */
            if (k == len + 1 && back[0] == ' ') skip = 1;
            assert_int_equal(k - skip, len);
            assert_memory_equal(back + skip, text, len);
        }
        free(a);
        free(b);
    }
}

static void test_roundtrip(void **state) {
    (void)state;
    int n = getenv("DESK_SANITIZED") ? 150 : 400;
    static const char *const shared[] = {"gpt-2", "starcoder", "falcon", "llama-spm", "phi-3"};
    for (size_t i = 0; i < 5; i++) {
        desk_tokenizer *t = load_shared(shared[i]);
        roundtrip(t, shared[i], false, true, n);
        /* arbitrary bytes: always deterministic; they come back only where
         * every byte has a token */
        roundtrip(t, shared[i], true, strcmp(shared[i], "starcoder") && strcmp(shared[i], "falcon"),
                  n);
        desk_tokenizer_free(t);
    }
    static const char *const models[] = {"smollm2", "gemma3-270m"};
    for (size_t i = 0; i < 2; i++) {
        char *mp = tu_model_path(models[i]);
        desk_tokenizer *t = load_tok(mp);
        roundtrip(t, models[i], false, true, n);
        roundtrip(t, models[i], true, i == 1, n); /* SmolLM2 lacks some byte tokens */
        desk_tokenizer_free(t);
        free(mp);
    }
}

/* Invalid UTF-8 bytes: each is its own piece and comes back as itself. */
static void test_invalid_utf8(void **state) {
    (void)state;
    desk_tokenizer *t = load_shared("gpt-2");
    /* a stray continuation byte, an overlong form, a surrogate, a
     * truncated tail */
    const char bad[] = "a\x80" "b \xC0\xAF \xED\xA0\x80 end\xE2\x82";
    size_t n;
    desk_token *ids = encode(t, bad, sizeof bad - 1, 0, &n);
    char back[64];
    assert_int_equal(desk_detokenize(t, ids, n, false, back, sizeof back), sizeof bad - 1);
    assert_memory_equal(back, bad, sizeof bad - 1);
    /* 0x80 alone is the byte-level token of that byte */
    size_t n1;
    desk_token *one = encode(t, "\x80", 1, 0, &n1);
    assert_int_equal(n1, 1);
    assert_int_equal(one[0], 222); /* GPT-2's id for the character U+0122 */
    free(one);
    free(ids);
    desk_tokenizer_free(t);

    t = load_shared("llama-spm");
    one = encode(t, "\xff", 1, 0, &n1);
    /* the space prefix, then <0xFF> (id 3 + 0xFF) */
    assert_int_equal(n1, 2);
    assert_int_equal(one[1], 3 + 0xFF);
    free(one);
    desk_tokenizer_free(t);
}

/* The streaming decoder holds half characters back and flushes leftovers
 * as U+FFFD. */
static void test_detok_stream(void **state) {
    (void)state;
    desk_tokenizer *t = load_shared("llama-spm");
    desk_token e2 = 3 + 0xE2, x82 = 3 + 0x82, xac = 3 + 0xAC; /* "€" as byte tokens */
    desk_detok st = {0};
    char out[64];
    assert_int_equal(desk_detok_push(t, &st, e2, out, sizeof out), 0);
    assert_int_equal(desk_detok_push(t, &st, x82, out, sizeof out), 0);
    assert_int_equal(desk_detok_push(t, &st, xac, out, sizeof out), 3);
    assert_memory_equal(out, "\xE2\x82\xAC", 3);
    assert_int_equal(desk_detok_push(t, &st, e2, out, sizeof out), 0);
    assert_int_equal(desk_detok_flush(&st, out, sizeof out), 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    /* control tokens render only when asked */
    desk_token eos = desk_tokenizer_special(t, DESK_SPECIAL_EOS);
    assert_int_equal(desk_detok_push(t, &st, eos, out, sizeof out), 0);
    st.render_special = true;
    assert_int_equal(desk_detok_push(t, &st, eos, out, sizeof out), 4);
    assert_memory_equal(out, "</s>", 4);
    desk_tokenizer_free(t);
}

static void test_specials(void **state) {
    (void)state;
    char *mp = tu_model_path("smollm2");
    desk_tokenizer *t = load_tok(mp);
    free(mp);
    desk_token im_end = desk_tokenizer_find(t, "<|im_end|>");
    assert_true(im_end >= 0);
    assert_true(desk_tokenizer_is_eog(t, im_end));
    assert_true(desk_tokenizer_is_control(t, im_end));
    assert_true(desk_tokenizer_is_eog(t, desk_tokenizer_special(t, DESK_SPECIAL_EOS)));
    assert_false(desk_tokenizer_is_eog(t, desk_tokenizer_find(t, "Hello")));
    assert_int_equal(desk_tokenizer_special(t, DESK_SPECIAL_BOS), 1);
    assert_false(desk_tokenizer_add_bos(t));
    /* capacity: too small reports the size needed */
    desk_token ids[2];
    size_t n;
    desk_err err = {0};
    assert_int_equal(desk_tokenize(t, "Hello world again", 17, 0, ids, 2, &n, &err), DESK_E_RANGE);
    assert_int_equal(n, 3);
    desk_tokenizer_free(t);

    mp = tu_model_path("gemma3-270m");
    t = load_tok(mp);
    free(mp);
    assert_true(desk_tokenizer_add_bos(t));
    assert_true(desk_tokenizer_is_eog(t, desk_tokenizer_find(t, "<end_of_turn>")));
    /* ADD_SPECIAL on empty text yields just BOS */
    assert_int_equal(desk_tokenize(t, "", 0, DESK_TOK_ADD_SPECIAL, ids, 2, &n, &err), DESK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 2);
    desk_tokenizer_free(t);
}

/* A copy of the GPT-2 vocab file with KEY set to VALUE, in a temporary
 * file; returns its path (malloc'd; the caller unlinks and frees it). */
static char *vocab_variant(const char *key, const char *value) {
    char *src = tu_shared_path("vocab/ggml-vocab-gpt-2.gguf");
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(src, &g, &err), DESK_OK);
    desk_gguf_writer *w = NULL;
    assert_int_equal(desk_gguf_writer_new(&w, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_copy_kv(w, g, &err), DESK_OK);
    assert_int_equal(desk_gguf_writer_set_str(w, key, value, &err), DESK_OK);
    char *path = strdup("/tmp/desk-tok-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(desk_gguf_writer_write(w, path, &err), DESK_OK);
    desk_gguf_writer_free(w);
    desk_gguf_close(g);
    free(src);
    return path;
}

/* Metadata the tokenizer refuses, with a message naming what. */
static void expect_refused(const char *key, const char *value, const char *msg_part) {
    char *path = vocab_variant(key, value);
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(path, &g, &err), DESK_OK);
    desk_tokenizer *t = NULL;
    assert_int_equal(desk_tokenizer_load(g, &t, &err), DESK_E_UNSUPPORTED);
    assert_null(t);
    if (!strstr(err.msg, msg_part)) fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
    desk_gguf_close(g);
    unlink(path);
    free(path);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused("tokenizer.ggml.pre", "no-such-pre", "unknown pre-tokenizer 'no-such-pre'");
    expect_refused("tokenizer.ggml.model", "rwkv", "'rwkv' is not supported");
}

/* Every pre-tokenizer name compiles, splits a mixed text losslessly, and
 * splits digits as its patterns say ("12345": one digit per piece for
 * some, up to three for others, free for GPT-2). */
static void test_all_pre_names(void **state) {
    (void)state;
    static const struct {
        const char *name;
        int digits; /* tokens for "12345" with the GPT-2 vocabulary, 0: not checked */
    } pres[] = {
        {"default", 0},      {"gpt-2", 2},        {"llama3", 2},       {"llama-bpe", 2},
        {"qwen2", 5},        {"smollm", 5},       {"starcoder", 5},    {"refact", 5},
        {"falcon", 0},       {"deepseek-llm", 0}, {"deepseek-coder", 5}, {"deepseek-v3", 2},
        {"mpt", 2},          {"olmo", 2},         {"command-r", 5},    {"dbrx", 2},
        {"smaug-bpe", 2},    {"poro-chat", 0},    {"chatglm-bpe", 2},  {"viking", 5},
        {"jais", 2},         {"tekken", 5},       {"gpt-4o", 2},       {"bloom", 0},
        {"stablelm2", 5},    {"exaone", 5},       {"minerva-7b", 5},   {"chameleon", 5},
        {"seed-coder", 5},
    };
    const char text[] = "Hello World's 12345 \xe4\xb8\xad\xe6\x96\x87  \t\n\n x!?...";
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        char *path = vocab_variant("tokenizer.ggml.pre", pres[i].name);
        desk_tokenizer *t = load_tok(path);
        size_t n;
        desk_token *ids = encode(t, text, sizeof text - 1, 0, &n);
        char back[256];
        assert_int_equal(desk_detokenize(t, ids, n, false, back, sizeof back), sizeof text - 1);
        assert_memory_equal(back, text, sizeof text - 1);
        free(ids);
        if (pres[i].digits) {
            ids = encode(t, "12345", 5, 0, &n);
            if ((int)n != pres[i].digits)
                fail_msg("%s: \"12345\" gave %zu tokens, want %d", pres[i].name, n, pres[i].digits);
            free(ids);
        }
        desk_tokenizer_free(t);
        unlink(path);
        free(path);
    }
}

/* ---- the command ------------------------------------------------------ */

static void test_cli(void **state) {
    (void)state;
    tu_run r;
    const char *help[] = {"tokenize", "--help", NULL};
    assert_int_equal(tu_desk(&r, NULL, 0, help), 0);
    assert_non_null(strstr(r.out, "usage: desk tokenize"));
    tu_run_free(&r);

    const char *plain[] = {"tokenize", "-m", "smollm2", NULL};
    const char in[] = "Hello world\n";
    assert_int_equal(tu_desk(&r, in, sizeof in - 1, plain), 0);
    assert_string_equal(r.out, "19556 905 198\n");
    tu_run_free(&r);

    const char *json[] = {"tokenize", "-m", "gemma3-270m", "--json", NULL};
    assert_int_equal(tu_desk(&r, "Hello  world", 12, json), 0);
    assert_string_equal(r.out, "[2, 9259, 138, 12392]\n");
    tu_run_free(&r);

    const char *nobos[] = {"tokenize", "-m", "gemma3-270m", "--no-bos", NULL};
    assert_int_equal(tu_desk(&r, "Hello  world", 12, nobos), 0);
    assert_string_equal(r.out, "9259 138 12392\n");
    tu_run_free(&r);

    const char *pieces[] = {"tokenize", "-m", "smollm2", "--parse-special", "--pieces", NULL};
    assert_int_equal(tu_desk(&r, "<|im_end|>Hi", 12, pieces), 0);
    assert_string_equal(r.out, "2\t\"<|im_end|>\"\n26843\t\"Hi\"\n");
    tu_run_free(&r);

    const char *bad[] = {"tokenize", "-m", "smollm2", "--bogus", NULL};
    assert_int_equal(tu_desk(&r, "", 0, bad), 2);
    assert_non_null(strstr(r.err, "desk tokenize: "));
    assert_true(r.err_len > 0 && strchr(r.err, '\n') == r.err + r.err_len - 1); /* one line */
    tu_run_free(&r);

    const char *nomodel[] = {"tokenize", NULL};
    assert_int_equal(tu_desk(&r, "", 0, nomodel), 2);
    tu_run_free(&r);

    const char *missing[] = {"tokenize", "-m", "/nonexistent/model.gguf", NULL};
    assert_int_equal(tu_desk(&r, "x", 1, missing), 2);
    assert_non_null(strstr(r.err, "desk tokenize: "));
    tu_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),      cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_falcon),    cmocka_unit_test(test_llama_spm),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_smollm2_corpus), cmocka_unit_test(test_gemma3_corpus),
        cmocka_unit_test(test_smollm2_chatml), cmocka_unit_test(test_gemma3_chatml),
        cmocka_unit_test(test_phi3_special),
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_detok_stream),   cmocka_unit_test(test_specials),
        cmocka_unit_test(test_refused),        cmocka_unit_test(test_all_pre_names),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
