/*
 * bench/grammar.c - structured output's cost per token: the full mask of
 * a JSON Schema constraint over a model's whole vocabulary (Gemma 3: 262k
 * tokens), and the fast check of one sampled token, at every step of a
 * document fed token by token.
 *
 *   cmake --build build --target bench_grammar
 *   build/bench_grammar [MODEL] [SCHEMA.json DOC.json]   default: gemma3-270m
 *                                                        and a built-in pair
 *   build/bench_grammar --gen [MODEL] [SEEDS] [TOKENS]   generation speed with
 *                                                        and without the schema
 *
 * The mask: only the tokenizer is loaded.  The document is tokenized as
 * the model would write it, and each step is timed 5 times (the thread's
 * CPU time, so that other jobs on the machine do not count); the report
 * gives p50, p99 and the maximum over the steps of the first time (what
 * generation pays: the constraint's cache holds what earlier steps met)
 * and of the best of 5 (BENCH_GRAMMAR_STEPS=1 prints every step's time
 * and the token that follows it).  The built-in document has the states
 * that cost most: long strings (where nearly every token is allowed),
 * numbers, nested objects and arrays.
 *
 * --gen: `desk run`-style sampling (llama.cpp's default sampler) of the
 * built-in schema's document from a short prompt, for seeds 1..SEEDS
 * (default 10), at most TOKENS each (default 128): each seed once with
 * the constraint, then once without it for as many tokens as the
 * constrained run made (the same seed; an unconstrained run may end
 * sooner on an end-of-generation token), alternating so that a loaded
 * machine slows both alike.  Decode time only (t_gen_s), prefill apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desk.h"

static const char SCHEMA[] =
    "{\"type\": \"object\", \"properties\": {"
    "\"name\": {\"type\": \"string\"},"
    "\"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 150},"
    "\"bio\": {\"type\": \"string\"},"
    "\"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"admin\", \"user\", \"guest\"]}},"
    "\"address\": {\"type\": \"object\", \"properties\": {\"street\": {\"type\": \"string\"},"
    "\"zip\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}$\"}}, \"required\": [\"street\"]},"
    "\"scores\": {\"type\": \"array\", \"items\": {\"type\": \"number\"}}},"
    "\"required\": [\"name\", \"age\"]}";
static const char DOC[] =
    "{\n  \"name\": \"Ada Lovelace, Countess of Lovelace\",\n  \"age\": 36,\n"
    "  \"bio\": \"An English mathematician and writer, chiefly known for her work on Charles "
    "Babbage's proposed mechanical general-purpose computer, the Analytical Engine. She was the "
    "first to recognise that the machine had applications beyond pure calculation.\",\n"
    "  \"tags\": [\"admin\", \"user\"],\n"
    "  \"address\": {\"street\": \"12 St James's Square\", \"zip\": \"10001\"},\n"
    "  \"scores\": [3.25, -1e3, 42, 0.5],\n  \"note\": {\"free\": [true, null, \"text\"]}\n}";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This thread's CPU time: a mask's cost without the time other jobs of a
 * shared machine hold the core (a preemption costs milliseconds). */
static double now_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, size_t n) {
    qsort(t, n, sizeof *t, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i];
    printf("%-24s p50 %8.1f us   p99 %8.1f us   max %8.1f us   mean %8.1f us   (%zu steps)\n",
           what, t[n / 2] * 1e6, t[(n * 99) / 100] * 1e6, t[n - 1] * 1e6, sum / (double)n * 1e6, n);
}

static int fail(const char *what, const desk_err *e) {
    fprintf(stderr, "bench_grammar: %s: %s\n", what, e->msg);
    return 1;
}

static const char PROMPT[] =
    "Write a JSON object about Ada Lovelace with her name, age, a short bio, tags (admin, user "
    "or guest), an address with street and zip, and a list of scores.\n";

/* Tokens per second with and without the schema's constraint. */
static int bench_gen(const char *model, int n_seeds, int n_predict) {
    desk_err e = {0};
    char path[4096];
    desk_model *m = NULL;
    desk_model_params mp = {0};
    if (desk_model_resolve(model, path, sizeof path, &e) != DESK_OK ||
        desk_model_load(path, &mp, &m, &e) != DESK_OK)
        return fail(model, &e);
    const desk_tokenizer *t = desk_model_tokenizer(m);
    char *gbnf = NULL;
    size_t gbnf_len = 0;
    desk_grammar *g = NULL;
    desk_constraint *c = NULL;
    desk_engine *en = NULL;
    desk_token prompt[256];
    size_t n = 0;
    int rc = 0;
    if (desk_json_schema_to_gbnf(SCHEMA, strlen(SCHEMA), &gbnf, &gbnf_len, &e) != DESK_OK ||
        desk_grammar_parse(gbnf, gbnf_len, NULL, &g, &e) != DESK_OK ||
        desk_constraint_new(g, t, &c, &e) != DESK_OK ||
        desk_tokenize(t, PROMPT, strlen(PROMPT), DESK_TOK_ADD_SPECIAL, prompt, 256, &n, &e) !=
            DESK_OK) {
        rc = fail("the schema", &e);
        goto done;
    }
    desk_engine_params ep = {.ctx = {.n_ctx = (int)n + n_predict + 8},
                             .sampling = desk_sampler_defaults()};
    if (desk_engine_new(m, &ep, &en, &e) != DESK_OK) {
        rc = fail("the engine", &e);
        goto done;
    }
    double t_with = 0, t_without = 0;
    long n_with = 0, n_without = 0;
    int complete = 0;
    for (int s = 1; s <= n_seeds; s++) {
        desk_gen_stats st = {0};
        desk_gen_opts o = {.n_predict = n_predict, .constraint = c};
        desk_engine_reset(en);
        desk_engine_seed(en, (uint64_t)s);
        if (desk_engine_generate(en, prompt, n, &o, &st, &e) != DESK_OK) {
            rc = fail("generating with the schema", &e);
            goto done;
        }
        complete += st.stop == DESK_STOP_GRAMMAR || st.stop == DESK_STOP_EOG;
        n_with += st.n_gen;
        t_with += st.t_gen_s;
        desk_gen_opts plain = {.n_predict = st.n_gen > 0 ? st.n_gen : 1};
        desk_engine_reset(en);
        desk_engine_seed(en, (uint64_t)s);
        if (desk_engine_generate(en, prompt, n, &plain, &st, &e) != DESK_OK) {
            rc = fail("generating without the schema", &e);
            goto done;
        }
        n_without += st.n_gen;
        t_without += st.t_gen_s;
    }
    double with = (double)n_with / t_with, without = (double)n_without / t_without;
    printf("model %s: %d seeds, at most %d tokens; %d of %d constrained outputs complete\n", model,
           n_seeds, n_predict, complete, n_seeds);
    printf("with the schema     %6ld tokens  %7.1f tokens/s\n", n_with, with);
    printf("without             %6ld tokens  %7.1f tokens/s\n", n_without, without);
    printf("ratio               %.1f %%\n", 100.0 * with / without);
done:
    desk_engine_free(en);
    desk_constraint_free(c);
    desk_grammar_free(g);
    free(gbnf);
    desk_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--gen") == 0)
        return bench_gen(argc > 2 ? argv[2] : "gemma3-270m", argc > 3 ? atoi(argv[3]) : 10,
                         argc > 4 ? atoi(argv[4]) : 128);
    const char *model = argc > 1 ? argv[1] : "gemma3-270m";
    desk_err e = {0};
    char *schema = NULL, *doc = NULL;
    size_t schema_len = strlen(SCHEMA), doc_len = strlen(DOC);
    if (argc > 3) {
        if (desk_file_read_all(argv[2], 1 << 20, &schema, &schema_len, &e) != DESK_OK ||
            desk_file_read_all(argv[3], 1 << 20, &doc, &doc_len, &e) != DESK_OK)
            return fail("reading the schema and document", &e);
    }
    char path[4096];
    desk_gguf *gg = NULL;
    desk_tokenizer *t = NULL;
    if (desk_model_resolve(model, path, sizeof path, &e) != DESK_OK ||
        desk_gguf_open(path, &gg, &e) != DESK_OK || desk_tokenizer_load(gg, &t, &e) != DESK_OK)
        return fail(model, &e);
    char *gbnf = NULL;
    size_t gbnf_len = 0;
    desk_grammar *g = NULL;
    desk_constraint *c = NULL;
    if (desk_json_schema_to_gbnf(schema ? schema : SCHEMA, schema_len, &gbnf, &gbnf_len, &e) !=
            DESK_OK ||
        desk_grammar_parse(gbnf, gbnf_len, NULL, &g, &e) != DESK_OK)
        return fail("the schema", &e);
    double t0 = now_cpu();
    if (desk_constraint_new(g, t, &c, &e) != DESK_OK)
        return fail("the constraint", &e);
    double t_new = now_cpu() - t0;
    int32_t nv = desk_tokenizer_n_vocab(t);
    size_t cap = doc_len + 16, n = 0;
    desk_token *ids = malloc(cap * sizeof *ids);
    float *logits = malloc((size_t)nv * sizeof *logits);
    double *t_mask = malloc((cap + 1) * sizeof *t_mask), *t_check = malloc((cap + 1) * sizeof *t_check);
    double *t_first = malloc((cap + 1) * sizeof *t_first);
    if (!ids || !logits || !t_mask || !t_check || !t_first) {
        fprintf(stderr, "bench_grammar: out of memory\n");
        return 1;
    }
    if (desk_tokenize(t, doc ? doc : DOC, doc_len, 0, ids, cap, &n, &e) != DESK_OK)
        return fail("tokenizing the document", &e);
    size_t allowed_sum = 0;
    for (size_t i = 0; i < n; i++) {
        double best_mask = 1e9, best_check = 1e9;
        for (int r = 0; r < 5; r++) {
            for (int32_t k = 0; k < nv; k++)
                logits[k] = 0.0f;
            size_t allowed = 0;
            double a = now_cpu();
            if (desk_constraint_apply(c, logits, NULL, 0, &allowed, &e) != DESK_OK)
                return fail("the mask", &e);
            double a2 = now_cpu(), b = now();
            bool ok = desk_constraint_allows(c, ids[i]);
            double d = now();
            if (!ok) {
                fprintf(stderr, "bench_grammar: the grammar refuses token %zu of the document\n", i);
                return 1;
            }
            best_mask = a2 - a < best_mask ? a2 - a : best_mask;
            best_check = d - b < best_check ? d - b : best_check;
            if (r == 0) {
                allowed_sum += allowed;
                t_first[i] = a2 - a;
            }
        }
        if (getenv("BENCH_GRAMMAR_STEPS"))
            printf("step %3zu  %9.1f us (first %9.1f us)  next %s\n", i, best_mask * 1e6, t_first[i] * 1e6, desk_tokenizer_piece(t, ids[i]));
        t_mask[i] = best_mask;
        t_check[i] = best_check;
        if (desk_constraint_accept(c, ids[i], &e) != DESK_OK)
            return fail("accepting the document", &e);
    }
    printf("model %s: %d tokens; document %zu tokens, %zu allowed per step on average; "
           "constraint built in %.1f ms\n",
           model, nv, n, n ? allowed_sum / n : 0, t_new * 1e3);
    report("full mask, first time", t_first, n);
    report("full mask, best of 5", t_mask, n);
    report("check one token", t_check, n);
    desk_constraint_free(c);
    desk_grammar_free(g);
    free(gbnf);
    desk_tokenizer_free(t);
    desk_gguf_close(gg);
    free(ids);
    free(logits);
    free(t_mask);
    free(t_check);
    free(t_first);
    free(schema);
    free(doc);
    return 0;
}
