/*
 * test_determinism.c - the batch-invariant mode (desk_ctx_params.
 * deterministic) on the real models, through the public API only.
 *
 * One request (a prompt, then 24 tokens, greedy or sampled from its own
 * seeded sampler) is decoded under many conditions: alone with its prompt
 * in one batch (the baseline); with 1, 3 and 7 other sequences of other
 * lengths that arrive at different steps and share its batches; at 1
 * thread instead of 2; with its prompt in chunks of 7 and token by token;
 * after a prefix-cache hit (its first tokens copied from another
 * sequence's cache).  In the batch-invariant mode every step's logits
 * must be the baseline's, bit for bit, so its tokens and log-probabilities
 * are too.  The same conditions in the default mode (llama.cpp's sums,
 * which change with the batch) are reported, not asserted: how many
 * differ is what the mode buys.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "util/testutil.h"

#define N_GEN 24
#define MAX_OTHERS 7
#define N_SEQ (MAX_OTHERS + 2) /* the request, the others, a prefix donor */

typedef struct scenario {
    const char *name;
    int threads;
    int chunk;          /* prompt rows per batch */
    int n_others;       /* other sequences sharing the batches */
    int prefix;         /* > 0: the first PREFIX prompt tokens come from another sequence's cache */
    bool at_once;       /* the others arrive together at the first step, whole prompts in one batch */
} scenario;

/* What one run of the request produced. */
typedef struct outcome {
    uint64_t hash[N_GEN];     /* of each step's logits, bytewise */
    desk_token tok[N_GEN];
    float logprob[N_GEN];     /* of the chosen token */
} outcome;

static uint64_t fnv(const float *x, int32_t n) {
    const unsigned char *b = (const unsigned char *)x;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static float logprob_of(const float *l, int32_t n, desk_token t) {
    float mx = l[0];
    for (int32_t i = 1; i < n; i++)
        if (l[i] > mx) mx = l[i];
    double s = 0.0;
    for (int32_t i = 0; i < n; i++) s += exp((double)(l[i] - mx));
    return (float)((double)(l[t] - mx) - log(s));
}

static desk_token argmax(const float *l, int32_t n) {
    desk_token b = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

typedef struct fixture {
    desk_model *m;
    int32_t n_vocab;
    desk_token prompt[64];
    int n_prompt;
    desk_token other[MAX_OTHERS][48];
    int n_other[MAX_OTHERS];
} fixture;

static int tokenize(const desk_model *m, const char *text, desk_token *ids, int cap) {
    size_t n = 0;
    desk_err e = {0};
    assert_int_equal(desk_tokenize(desk_model_tokenizer(m), text, strlen(text), DESK_TOK_ADD_SPECIAL, ids, (size_t)cap,
                                   &n, &e),
                     DESK_OK);
    return (int)n;
}

static void setup_fixture(fixture *f, const char *name) {
    char *path = tu_model_path(name);
    desk_err e = {0};
    assert_int_equal(desk_model_load(path, NULL, &f->m, &e), DESK_OK);
    free(path);
    f->n_vocab = desk_model_n_vocab(f->m);
    f->n_prompt = tokenize(f->m, "The old lighthouse keeper wrote in his logbook every night. On the last page he wrote",
                           f->prompt, 64);
    static const char *const others[MAX_OTHERS] = {
        "Hi",
        "List three prime numbers:",
        "def fibonacci(n):\n    if n < 2:\n        return n\n",
        "Translate to French: good morning, my friend.",
        "Q: What is the capital of Italy?\nA:",
        "Once upon a time, in a kingdom far away, there lived a dragon who loved to read books about the sea.",
        "1, 2, 3, 5, 8, 13,",
    };
    for (int o = 0; o < MAX_OTHERS; o++) f->n_other[o] = tokenize(f->m, others[o], f->other[o], 48);
}

/* Rows of one batch under construction. */
typedef struct rows {
    desk_token tok[256];
    int32_t seq[256];
    int8_t logits[256];
    int n;
} rows;

static void add_row(rows *r, desk_token t, int seq, bool logits) {
    r->tok[r->n] = t;
    r->seq[r->n] = seq;
    r->logits[r->n] = logits;
    r->n++;
}

static void decode(desk_ctx *c, rows *r) {
    desk_err e = {0};
    desk_batch b = {.n_tokens = r->n, .token = r->tok, .seq_id = r->seq, .logits = r->logits};
    desk_status s = desk_decode_batch(c, &b, &e);
    if (s != DESK_OK) fail_msg("decode: %s", e.msg);
}

/* The other sequence O's rows for step STEP: it arrives at step 2*O (its
 * prompt then goes in 5 tokens a step), or with AT_ONCE at step 0 with
 * its whole prompt, then generates greedily. */
typedef struct other_state {
    int fed;          /* prompt tokens decoded */
    desk_token next;  /* its next token once generating */
    int row;          /* its logits row in the current batch, or -1 */
} other_state;

static void other_rows(const fixture *f, other_state *os, int o, int step, bool at_once, rows *r) {
    os->row = -1;
    if (!at_once && step < 2 * o) return;
    if (os->fed < f->n_other[o]) {
        const int per_step = at_once ? f->n_other[o] : 5;
        int k = f->n_other[o] - os->fed < per_step ? f->n_other[o] - os->fed : per_step;
        for (int j = 0; j < k; j++) {
            const bool last = os->fed + j == f->n_other[o] - 1;
            if (last) os->row = r->n;
            add_row(r, f->other[o][os->fed + j], 1 + o, last);
        }
        os->fed += k;
        return;
    }
    os->row = r->n;
    add_row(r, os->next, 1 + o, true);
}

static void other_after(const fixture *f, desk_ctx *c, other_state *os) {
    if (os->row >= 0) os->next = argmax(desk_ctx_logits(c, os->row), f->n_vocab);
}

static void run(const fixture *f, bool det, const scenario *sc, bool sampled, outcome *out) {
    desk_ctx *c = NULL;
    desk_err e = {0};
    desk_ctx_params cp = {.n_ctx = 256, .n_seq_max = N_SEQ, .n_threads = sc->threads, .deterministic = det};
    assert_int_equal(desk_ctx_new(f->m, &cp, &c, &e), DESK_OK);
    desk_sampler *smp = NULL;
    desk_sampler_params sp = desk_sampler_defaults();
    sp.temp = sampled ? 0.9f : 0.0f;
    sp.seed = 1234;
    assert_int_equal(desk_sampler_new(&sp, f->n_vocab, &smp, &e), DESK_OK);
    other_state os[MAX_OTHERS] = {0};
    int fed = 0, step = 0, my_row = -1;
    if (sc->prefix > 0) {
        /* The donor holds the prefix followed by a token of its own. */
        rows r = {.n = 0};
        for (int i = 0; i < sc->prefix; i++) add_row(&r, f->prompt[i], N_SEQ - 1, false);
        add_row(&r, f->other[1][1], N_SEQ - 1, true);
        decode(c, &r);
        assert_int_equal(desk_kv_seq_cp(c, N_SEQ - 1, 0, sc->prefix, &e), DESK_OK);
        fed = sc->prefix;
    }
    /* The prompt, in chunks, with whatever the others send meanwhile. */
    while (fed < f->n_prompt) {
        rows r = {.n = 0};
        for (int o = 0; o < sc->n_others; o++) other_rows(f, &os[o], o, step, sc->at_once, &r);
        const int k = f->n_prompt - fed < sc->chunk ? f->n_prompt - fed : sc->chunk;
        for (int j = 0; j < k; j++) {
            const bool last = fed + j == f->n_prompt - 1;
            if (last) my_row = r.n;
            add_row(&r, f->prompt[fed + j], 0, last);
        }
        fed += k;
        decode(c, &r);
        for (int o = 0; o < sc->n_others; o++) other_after(f, c, &os[o]);
        step++;
    }
    for (int g = 0; g < N_GEN; g++) {
        const float *l = desk_ctx_logits(c, my_row);
        assert_non_null(l);
        out->hash[g] = fnv(l, f->n_vocab);
        out->tok[g] = desk_sampler_sample(smp, l);
        desk_sampler_accept(smp, out->tok[g]);
        out->logprob[g] = logprob_of(l, f->n_vocab, out->tok[g]);
        if (g == N_GEN - 1) break;
        rows r = {.n = 0};
        for (int o = 0; o < sc->n_others; o++) other_rows(f, &os[o], o, step, sc->at_once, &r);
        my_row = r.n;
        add_row(&r, out->tok[g], 0, true);
        decode(c, &r);
        for (int o = 0; o < sc->n_others; o++) other_after(f, c, &os[o]);
        step++;
    }
    desk_sampler_free(smp);
    desk_ctx_free(c);
}

static const scenario SCENARIOS[] = {
    {"with 1 other", 2, 512, 1, 0, false},
    {"with 3 others", 2, 512, 3, 0, false},
    {"with 7 others", 2, 512, 7, 0, false},
    {"with 7 others, chunks of 7", 2, 7, 7, 0, false},
    {"with 7 others at once (a batch over 64 rows)", 2, 512, 7, 0, true},
    {"1 thread", 1, 512, 0, 0, false},
    {"chunks of 7", 2, 7, 0, 0, false},
    {"token by token", 2, 1, 0, 0, false},
    {"prefix-cache hit", 2, 512, 0, 9, false},
    {"prefix hit, 3 others, chunks of 7", 2, 7, 3, 9, false},
};
#define N_SCENARIOS (sizeof SCENARIOS / sizeof SCENARIOS[0])

/* Steps whose logits differ from the baseline's; *TOKENS: tokens that differ. */
static int differing(const outcome *a, const outcome *b, int *tokens) {
    int d = 0;
    *tokens = 0;
    for (int g = 0; g < N_GEN; g++) {
        d += a->hash[g] != b->hash[g];
        *tokens += a->tok[g] != b->tok[g];
    }
    return d;
}

static void check_model(const char *name) {
    fixture f = {0};
    setup_fixture(&f, name);
    const scenario base = {"alone", 2, 512, 0, 0, false};
    /* Under the sanitizers (DESK_SANITIZED, ten times slower) the greedy
     * request alone, and no default-mode report. */
    const bool quick = getenv("DESK_SANITIZED") != NULL;
    for (int sampled = 0; sampled < (quick ? 1 : 2); sampled++) {
        outcome ref_det, ref_def, o;
        run(&f, true, &base, sampled, &ref_det);
        run(&f, false, &base, sampled, &ref_def);
        int def_cases = 0;
        for (size_t k = 0; k < N_SCENARIOS; k++) {
            int toks = 0;
            run(&f, true, &SCENARIOS[k], sampled, &o);
            const int d = differing(&ref_det, &o, &toks);
            if (d) fail_msg("%s, %s, deterministic: %s: %d of %d steps' logits differ (%d tokens)", name,
                            sampled ? "sampled" : "greedy", SCENARIOS[k].name, d, N_GEN, toks);
            assert_memory_equal(ref_det.logprob, o.logprob, sizeof o.logprob);
            if (quick) continue;
            run(&f, false, &SCENARIOS[k], sampled, &o);
            const int dd = differing(&ref_def, &o, &toks);
            def_cases += dd > 0;
            if (dd)
                print_message("%s, %s, default mode: %s: %d of %d steps' logits differ, %d tokens\n", name,
                              sampled ? "sampled" : "greedy", SCENARIOS[k].name, dd, N_GEN, toks);
        }
        if (!quick)
            print_message("%s, %s: deterministic mode identical in all %zu conditions; default mode differs in %d\n",
                          name, sampled ? "sampled" : "greedy", N_SCENARIOS, def_cases);
        /* The sampled request really sampled (not the greedy path again). */
        if (sampled) {
            outcome greedy;
            run(&f, true, &base, false, &greedy);
            assert_memory_not_equal(greedy.tok, ref_det.tok, sizeof greedy.tok);
        }
    }
    desk_model_free(f.m);
}

static void test_smollm2(void **state) {
    (void)state;
    check_model("smollm2");
}

static void test_gemma3(void **state) {
    (void)state;
    check_model("gemma3-270m");
}

/* The switch between decodes takes effect at once and reads back. */
static void test_switch(void **state) {
    (void)state;
    fixture f = {0};
    setup_fixture(&f, "smollm2");
    desk_ctx *c = NULL;
    desk_err e = {0};
    assert_int_equal(desk_ctx_new(f.m, NULL, &c, &e), DESK_OK);
    assert_false(desk_ctx_deterministic(c));
    desk_ctx_set_deterministic(c, true);
    assert_true(desk_ctx_deterministic(c));
    desk_ctx_set_deterministic(c, false);
    assert_false(desk_ctx_deterministic(c));
    desk_ctx_free(c);
    desk_model_free(f.m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
