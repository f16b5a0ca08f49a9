/*
 * test_model.c - the forward pass on the real models: greedy continuations
 * equal llama.cpp's token for token (tests/data/model/greedy-*.txt, made as
 * tests/data/model/README.md says) with every x86 kernel table, with the
 * F16 KV cache and with a Q8_0 K and V cache (greedy-*-q8kv.txt, llama.cpp
 * run with -ctk q8_0 -ctv q8_0 -fa on), the scalar
 * kernels stay within 1e-2 of the default path, the plain reference path
 * agrees, and bad input is refused with a message.  On x86 each step's
 * top-2 logit gap also equals llama.cpp's (to the 4 decimals recorded).
 * The qwen2, qwen3, qwen3moe and gemma2 architectures and Mixtral-style experts
 * run on random-weight files desk synth writes (tiny shape, F16 and Q4_0),
 * against llama.cpp's greedy ids for them.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "desk/convert.h"
#include "kernels/kernels.h"
#include "model/model.h"

#define MAX_CASES 32
#define MAX_IDS 512
#define MAX_WANT 64

typedef struct greedy_case {
    char kind[48];
    char *prompt; /* unescaped, malloc'd */
    desk_token ids[MAX_IDS], want[MAX_WANT];
    float gap[MAX_WANT]; /* llama.cpp's top-2 logit gap at each token */
    int n_ids, n_want, n_gap;
} greedy_case;

static int parse_ids(const char *s, desk_token *out, int max) {
    int n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s; v = strtol(s, &end, 10)) {
        if (n == max) fail_msg("more than %d ids in a line of the test data", max);
        out[n++] = (desk_token)v;
        s = end;
    }
    return n;
}

/* The prompt with \n, \t and \\ turned back into their characters. */
static char *unescape(const char *s, size_t len) {
    char *o = malloc(len + 1), *p = o;
    assert_non_null(o);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            i++;
            *p++ = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
        } else {
            *p++ = s[i];
        }
    }
    *p = 0;
    return o;
}

/* Reads tests/data/model/NAME: blocks of "kind", "prompt", "ids", "want",
 * "gaps" lines. */
static int load_cases(const char *name, greedy_case *cs) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/model/%s", tu_source_dir(), name);
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    int n = -1;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (nl) *nl = 0;
        if (strncmp(line, "kind ", 5) == 0) {
            if (++n == MAX_CASES) fail_msg("%s: more than %d cases", name, MAX_CASES);
            memset(&cs[n], 0, sizeof cs[n]);
            snprintf(cs[n].kind, sizeof cs[n].kind, "%s", line + 5);
        } else if (n >= 0 && strncmp(line, "prompt ", 7) == 0) {
            cs[n].prompt = unescape(line + 7, ll - 7);
        } else if (n >= 0 && strncmp(line, "ids ", 4) == 0) {
            cs[n].n_ids = parse_ids(line + 4, cs[n].ids, MAX_IDS);
        } else if (n >= 0 && strncmp(line, "want ", 5) == 0) {
            cs[n].n_want = parse_ids(line + 5, cs[n].want, MAX_WANT);
        } else if (n >= 0 && strncmp(line, "gaps ", 5) == 0) {
            char *s = line + 5, *end;
            for (double v = strtod(s, &end); end != s && cs[n].n_gap < MAX_WANT; v = strtod(s, &end)) {
                cs[n].gap[cs[n].n_gap++] = (float)v;
                s = end;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    for (int i = 0; i <= n; i++)
        if (!cs[i].prompt || cs[i].n_ids < 1 || cs[i].n_want < 1 || cs[i].n_gap != cs[i].n_want)
            fail_msg("%s: case %d (%s) is incomplete", name, i, cs[i].kind);
    return n + 1;
}

static void free_cases(greedy_case *cs, int n) {
    for (int i = 0; i < n; i++) free(cs[i].prompt);
}

static desk_token argmax(const float *l, int nv) {
    desk_token best = 0;
    for (desk_token v = 1; v < nv; v++)
        if (l[v] > l[best]) best = v;
    return best;
}

/* The reference ids come from llama.cpp's x86 build, and desk sums in
 * that build's order only on x86-64.  Elsewhere (the NEON table, checked
 * under qemu) the kernels keep the plain reference order, which moves
 * these models' logits by up to about 0.45 (measured under qemu), so a
 * token where llama.cpp's own top two were within NEAR_TIE (or 1% of the
 * logit, for Gemma's large ones) and desk's are as close the other way
 * ends that prompt's comparison there; a larger disagreement still fails.
 * Under emulation every third prompt runs. */
#define NEAR_TIE 0.5f
/* Gaps are recorded to 4 decimals: equal logits agree within rounding. */
#define EXACT_GAP 6e-5
static bool x86_order(void) {
#if defined(__x86_64__)
    return true;
#else
    return false;
#endif
}

/* Under the sanitizers the same checks run on a subset. */
static bool sanitized(void) { return getenv("DESK_SANITIZED") != NULL; }

/* Whether case K (of KIND) runs: every case on the default kernels (under
 * the sanitizers the first 2, 8 tokens each); on the other tables every
 * third and the long prompt (flash attention's tiled path), which covers
 * each code path at a third of the time. */
static bool runs(bool all, int k, const char *kind) {
    if (sanitized()) return k < 2;
    if (!x86_order()) return k % 3 == 0;
    return all || k % 3 == 0 || strcmp(kind, "long-prose") == 0;
}

/* A mixture of experts routes each row to its ROUTE_K most probable
 * experts; where the k-th and the next are within ROUTE_TIE (probability)
 * for the row whose logits are compared, in some layer, the two builds' small differences can route
 * that row to different experts (measured: desk's largest router
 * probability difference from c392e509 is about 2e-3 on the Q4_0 file),
 * and that step's logits move by up to 0.41 (measured).  Such a step's
 * top-2 gap is held to ROUTE_FLIP_GAP instead (measured 0.13), and a
 * token there may part where llama.cpp's own gap is within it. */
#define ROUTE_TIE 3e-3
#define ROUTE_FLIP_GAP 0.25

typedef struct route_watch {
    int k;         /* experts per token; 0: dense (never traced) */
    double margin; /* the smallest k-th minus (k+1)-th probability since reset */
} route_watch;

static void on_route(void *user, const char *name, int layer, const float *data, int rows, int cols) {
    (void)layer;
    route_watch *w = user;
    if (strcmp(name, "ffn_moe_probs") != 0 || w->k < 1 || w->k >= cols) return;
    /* the row whose logits are compared: the batch's last */
    for (int i = rows - 1; i < rows; i++) {
        const float *p = data + (size_t)i * cols;
        /* the k-th and (k+1)-th largest, by counting larger values */
        float kth = -1, next = -1;
        for (int e = 0; e < cols; e++) {
            int above = 0;
            for (int f = 0; f < cols; f++) above += p[f] > p[e] || (p[f] == p[e] && f < e);
            if (above == w->k - 1) kth = p[e];
            if (above == w->k) next = p[e];
        }
        if (kth - next < w->margin) w->margin = kth - next;
    }
}

/* The cases of FILE on MODEL with the kernels ISA (NULL = default):
 * desk's tokens of the prompt, then each greedy token, equal llama.cpp's.
 * ROUTE_K: experts per token of a mixture of experts (0: dense). */
static void check_greedy(const char *model, const char *file, const char *isa, desk_cache_type cache, double gap_tol,
                         int route_k) {
    static greedy_case cs[MAX_CASES];
    const int n_cases = load_cases(file, cs);
    assert_true(n_cases >= 5);
    char *path = tu_model_path(model);
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params p = {.n_ctx = 512, .n_threads = 2, .isa = isa, .type_k = cache, .type_v = cache};
    if (desk_ctx_new(m, &p, &c, &err) != DESK_OK) fail_msg("%s", err.msg);
    const int nv = desk_model_n_vocab(m);
    int cases = 0, tokens = 0, flips = 0;
    double worst = 0, worst_flip = 0;
    route_watch rw = {.k = route_k, .margin = 1};
    if (route_k) desk_ctx_set_trace(c, on_route, &rw);
    for (int k = 0; k < n_cases; k++) {
        const greedy_case *g = &cs[k];
        if (!runs(isa == NULL, k, g->kind)) continue;
        cases++;
        desk_token ids[MAX_IDS];
        size_t n = 0;
        assert_int_equal(desk_tokenize(desk_model_tokenizer(m), g->prompt, strlen(g->prompt),
                                       DESK_TOK_ADD_SPECIAL | DESK_TOK_PARSE_SPECIAL, ids, MAX_IDS, &n, &err),
                         DESK_OK);
        if ((int)n != g->n_ids || memcmp(ids, g->ids, n * sizeof ids[0]) != 0)
            fail_msg("%s %s: desk's prompt tokens differ from llama.cpp's", model, g->kind);
        desk_ctx_truncate(c, 0);
        rw.margin = 1;
        assert_int_equal(desk_decode(c, ids, (int)n, &err), DESK_OK);
        const int want = sanitized() ? 8 : g->n_want;
        for (int i = 0; i < want; i++) {
            const float *l = desk_ctx_logits(c, -1);
            const desk_token got = argmax(l, nv);
            /* x86: no tie is near for an exact file; one recorded from another
             * order (GAP_TOL above rounding) allows ties within it */
            const bool flip = rw.margin < ROUTE_TIE; /* this step's routing was a near tie */
            const double step_tol = flip ? ROUTE_FLIP_GAP : gap_tol;
            flips += flip;
            const float tie = !x86_order() ? fmaxf(NEAR_TIE, 0.01f * fabsf(l[g->want[i]]))
                              : step_tol > EXACT_GAP ? (float)step_tol : 0.0f;
            if (got != g->want[i] && g->gap[i] < tie && l[got] - l[g->want[i]] < tie) {
                /* the reference's own near tie, broken the other way by a
                 * different summation order: the continuations part here */
                print_message("%s %s: token %d is a near tie (llama.cpp's gap %.4f), continuations part\n", model,
                              g->kind, i, (double)g->gap[i]);
                break;
            }
            if (got != g->want[i])
                fail_msg("%s %s (%s kernels, %s cache): token %d is %d (logit %.6f), llama.cpp gives %d (logit %.6f)",
                         model, g->kind, isa ? isa : "default", desk_cache_type_name(cache), i, got, (double)l[got],
                         g->want[i],
                         (double)l[g->want[i]]);
            if (x86_order()) {
                float second = -INFINITY;
                for (desk_token v = 0; v < nv; v++)
                    if (v != got && l[v] > second) second = l[v];
                const double gap = (double)l[got] - second;
                double *w = flip ? &worst_flip : &worst;
                if (fabs(gap - g->gap[i]) > *w) *w = fabs(gap - g->gap[i]);
                if (fabs(gap - g->gap[i]) > step_tol + 1e-6 * fabs(gap))
                    fail_msg("%s %s (%s kernels): token %d's top-2 gap is %.6f, llama.cpp's %.4f", model, g->kind,
                             isa ? isa : "default", i, gap, (double)g->gap[i]);
            }
            tokens++;
            rw.margin = 1;
            if (i + 1 < want) assert_int_equal(desk_decode(c, &got, 1, &err), DESK_OK);
        }
    }
    print_message("%s (%s kernels, %s cache): %d prompts, %d tokens equal llama.cpp's (top-2 gaps within %.2g)\n",
                  model, isa ? isa : "default", desk_cache_type_name(cache), cases, tokens, worst);
    if (route_k)
        print_message("  %d steps routed a row within %.0e of a tie; their gaps within %.2g\n", flips, ROUTE_TIE,
                      worst_flip);
    free_cases(cs, n_cases);
    desk_ctx_free(c);
    desk_model_free(m);
    free(path);
}

/* The vector tables this CPU runs besides the default (under the
 * sanitizers, the default only; the scalar one is test_scalar_agrees'). */
static void check_greedy_all(const char *model, const char *file, desk_cache_type cache, double gap_tol,
                             int route_k) {
    check_greedy(model, file, NULL, cache, gap_tol, route_k);
    if (sanitized()) return;
    for (int i = DESK_ISA_SCALAR + 1; i < DESK_ISA_COUNT; i++) {
        const char *isa = desk_isa_name((desk_isa)i);
        if (desk_kernels_get((desk_isa)i) && strcmp(desk_kernels_isa(), isa) != 0)
            check_greedy(model, file, isa, cache, gap_tol, route_k);
        else if (!desk_kernels_get((desk_isa)i))
            print_message("%s kernels: not on this CPU\n", isa);
    }
}

/* The random-weight files were recorded with llama.cpp 0c1e570 (AMX off):
 * its Q4_0 products and attention sum as desk does (gaps equal to the 4
 * recorded decimals), its F16 products in another order (gaps within
 * 0.0014 measured); tests/data/model/README.md. */
#define QWEN2_GAP 0.02

/* Experts: top-2 gaps within this (measured 0.0043) where the routing is
 * no near tie (ROUTE_TIE below). */
#define MOE_GAP 0.02

/* A random-weight file of architecture ARCH and TYPE (desk_synth_file,
 * tiny shape, seed 1, SmolLM2's tokenizer) against llama.cpp's greedy ids
 * for that file (greedy-ARCH-tiny-TYPE.txt). */
static void check_synth(const char *arch, const char *type, double gap_tol, int route_k) {
    char dir[64], out[128], file[64];
    snprintf(dir, sizeof dir, "/tmp/desk_tsy_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/%s.gguf", dir, arch);
    desk_synth_shape s = *desk_synth_shape_find("tiny");
    s.arch = arch;
    char *vocab = tu_model_path("smollm2");
    desk_err err = {0};
    desk_convert_opts o = {.n_threads = 2};
    if (desk_synth_file(&s, vocab, out, desk_qrecipe_find(type), 1, &o, &err) != DESK_OK) fail_msg("%s", err.msg);
    free(vocab);
    snprintf(file, sizeof file, "greedy-%s-tiny-%s.txt", arch, type);
    check_greedy_all(out, file, DESK_CACHE_F16, gap_tol, route_k);
    unlink(out);
    rmdir(dir);
}

static void test_qwen2_greedy(void **state) {
    (void)state;
    check_synth("qwen2", "q4_0", QWEN2_GAP, 0);
    check_synth("qwen2", "f16", QWEN2_GAP, 0);
}

/* Mixtral-style experts (a llama file with ffn_gate_inp and ffn_*_exps,
 * 8 experts, 2 per token). */
static void test_mixtral_greedy(void **state) {
    (void)state;
    check_synth("mixtral", "q4_0", MOE_GAP, 2);
    check_synth("mixtral", "f16", MOE_GAP, 2);
}

/* qwen3: per-head q/k RMS norms, no biases, NEOX RoPE, heads of 128
 * over a 256 width (key_length stated). */
static void test_qwen3_greedy(void **state) {
    (void)state;
    check_synth("qwen3", "q4_0", QWEN2_GAP, 0);
    check_synth("qwen3", "f16", QWEN2_GAP, 0);
}

/* qwen3moe: qwen3 with 32 experts of 192, 4 per token (the router's
 * softmax past 16 experts takes ggml's vector exp). */
static void test_qwen3moe_greedy(void **state) {
    (void)state;
    check_synth("qwen3moe", "q4_0", MOE_GAP, 4);
    check_synth("qwen3moe", "f16", MOE_GAP, 4);
}

/* gemma2: attention scores soft-capped at 50 (tanh per score), final
 * logits at 30, layer 0 a sliding window of 32 (the long prompt crosses
 * it), layer 1 global, post-attention and post-FFN norms, GELU. */
static void test_gemma2_greedy(void **state) {
    (void)state;
    check_synth("gemma2", "q4_0", QWEN2_GAP, 0);
    check_synth("gemma2", "f16", QWEN2_GAP, 0);
}

static void test_smollm2_greedy(void **state) {
    (void)state;
    check_greedy_all("smollm2", "greedy-smollm2.txt", DESK_CACHE_F16, EXACT_GAP, 0);
}

static void test_gemma3_greedy(void **state) {
    (void)state;
    check_greedy_all("gemma3-270m", "greedy-gemma3.txt", DESK_CACHE_F16, EXACT_GAP, 0);
}

/* The same with a Q8_0 K and V cache, against llama.cpp's run with
 * -ctk q8_0 -ctv q8_0 -fa on (greedy-*-q8kv.txt): every batch takes the
 * per-row attention there, the long prompt included. */
static void test_smollm2_greedy_q8kv(void **state) {
    (void)state;
    check_greedy_all("smollm2", "greedy-smollm2-q8kv.txt", DESK_CACHE_Q8_0, EXACT_GAP, 0);
}

static void test_gemma3_greedy_q8kv(void **state) {
    (void)state;
    check_greedy_all("gemma3-270m", "greedy-gemma3-q8kv.txt", DESK_CACHE_Q8_0, EXACT_GAP, 0);
}

/* The scalar kernels (portable C) and the default SIMD ones: over two
 * prompts of the SmolLM2 data (a short one, and the long one that takes
 * the tiled attention) and 8 tokens each, the same tokens fed to both, the
 * logits stay within 1e-2.  Both sum in llama.cpp's order, so the measured
 * difference is 0. */
static void test_scalar_agrees(void **state) {
    (void)state;
    static greedy_case cs[MAX_CASES];
    const int n_cases = load_cases("greedy-smollm2.txt", cs);
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *fast = NULL, *scalar = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params pf = {.n_ctx = 512, .n_threads = 2}, ps = {.n_ctx = 512, .n_threads = 2, .isa = "scalar"};
    assert_int_equal(desk_ctx_new(m, &pf, &fast, &err), DESK_OK);
    assert_int_equal(desk_ctx_new(m, &ps, &scalar, &err), DESK_OK);
    const int nv = desk_model_n_vocab(m);
    const int steps = sanitized() ? 4 : 8;
    double maxd = 0;
    for (int k = 0; k < n_cases; k++) {
        if (k != 0 && (sanitized() || strcmp(cs[k].kind, "long-prose") != 0)) continue;
        desk_ctx_truncate(fast, 0);
        desk_ctx_truncate(scalar, 0);
        assert_int_equal(desk_decode(fast, cs[k].ids, cs[k].n_ids, &err), DESK_OK);
        assert_int_equal(desk_decode(scalar, cs[k].ids, cs[k].n_ids, &err), DESK_OK);
        for (int i = 0; i < steps && i < cs[k].n_want; i++) {
            const float *a = desk_ctx_logits(fast, -1), *b = desk_ctx_logits(scalar, -1);
            for (int v = 0; v < nv; v++) {
                const double d = fabs((double)a[v] - b[v]);
                if (d > maxd) maxd = d;
            }
            assert_int_equal(desk_decode(fast, &cs[k].want[i], 1, &err), DESK_OK);
            assert_int_equal(desk_decode(scalar, &cs[k].want[i], 1, &err), DESK_OK);
        }
    }
    print_message("largest logit difference, scalar vs default kernels: %.2e\n", maxd);
    assert_true(maxd < 1e-2);
    free_cases(cs, n_cases);
    desk_ctx_free(fast);
    desk_ctx_free(scalar);
    desk_model_free(m);
    free(path);
}

/* The default path quantizes activations to 8 bits; the reference path
 * computes in plain floats.  Their logits stay close and pick the same token. */
static void test_reference_agrees(void **state) {
    (void)state;
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *fast = NULL, *ref = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params pf = {.n_ctx = 64, .n_threads = 2}, pr = {.n_ctx = 64, .n_threads = 2, .reference = true};
    assert_int_equal(desk_ctx_new(m, &pf, &fast, &err), DESK_OK);
    assert_int_equal(desk_ctx_new(m, &pr, &ref, &err), DESK_OK);
    const desk_token ids[] = {504, 3575, 282, 4649, 314};
    assert_int_equal(desk_decode(fast, ids, 5, &err), DESK_OK);
    assert_int_equal(desk_decode(ref, ids, 5, &err), DESK_OK);
    const float *a = desk_ctx_logits(fast, -1), *b = desk_ctx_logits(ref, -1);
    double maxd = 0, maxv = 0;
    for (int v = 0; v < desk_model_n_vocab(m); v++) {
        double d = fabs((double)a[v] - b[v]);
        if (d > maxd) maxd = d;
        if (fabs(b[v]) > maxv) maxv = fabs(b[v]);
    }
    print_message("largest logit difference, default vs reference: %.4f (logits up to %.1f)\n", maxd, maxv);
    /* Measured 0.75 on logits up to 19.8 (8-bit activations over 30 layers). */
    assert_true(maxd < 1.0);
    assert_int_equal(argmax(a, desk_model_n_vocab(m)), argmax(b, desk_model_n_vocab(m)));
    assert_true(maxd > 0); /* the paths really differ: activations are quantized in one */
    desk_ctx_free(fast);
    desk_ctx_free(ref);
    desk_model_free(m);
    free(path);
}

/* desk_ctx_set_trace sees the named tensors in order, with their shapes. */
typedef struct trace_log {
    int calls, attn_norm0, last_layer;
    bool saw_result_norm;
} trace_log;

static void on_trace(void *user, const char *name, int layer, const float *data, int rows, int cols) {
    trace_log *t = user;
    assert_non_null(data);
    assert_true(rows > 0 && cols > 0);
    t->calls++;
    if (strcmp(name, "attn_norm") == 0 && layer == 0) t->attn_norm0 = rows * 1000 + cols;
    if (layer > t->last_layer) t->last_layer = layer;
    if (strcmp(name, "result_norm") == 0) t->saw_result_norm = true;
}

static void test_trace(void **state) {
    (void)state;
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params p = {.n_ctx = 16, .n_threads = 1};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    trace_log t = {.last_layer = -1};
    desk_ctx_set_trace(c, on_trace, &t);
    const desk_token ids[] = {504, 3575, 282};
    assert_int_equal(desk_decode(c, ids, 3, &err), DESK_OK);
    assert_int_equal(t.attn_norm0, 3 * 1000 + 576);
    assert_int_equal(t.last_layer, 29);
    assert_true(t.saw_result_norm);
    desk_ctx_set_trace(c, NULL, NULL);
    const int calls = t.calls;
    assert_int_equal(desk_decode(c, ids, 1, &err), DESK_OK);
    assert_int_equal(t.calls, calls);
    desk_ctx_free(c);
    desk_model_free(m);
    free(path);
}

static void test_errors(void **state) {
    (void)state;
    desk_err err = {0};
    desk_model *m = NULL;
    assert_int_not_equal(desk_model_load("/nonexistent/model.gguf", NULL, &m, &err), DESK_OK);
    assert_null(m);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    /* A vocabulary-only file has no weights: the first missing tensor is named. */
    char *vocab = tu_shared_path("vocab/ggml-vocab-llama-spm.gguf");
    assert_int_equal(desk_model_load(vocab, NULL, &m, &err), DESK_E_FORMAT);
    assert_non_null(strstr(err.msg, "token_embd.weight"));
    free(vocab);
    /* Decoding past the context or out-of-range ids is refused. */
    char *path = tu_model_path("smollm2");
    desk_ctx *c = NULL;
    assert_int_equal(desk_model_load(path, NULL, &m, &err), DESK_OK);
    desk_ctx_params bad = {.n_ctx = 4, .n_threads = 1, .isa = "sparc"};
    assert_int_equal(desk_ctx_new(m, &bad, &c, &err), DESK_E_UNSUPPORTED);
    assert_null(c);
    assert_non_null(strstr(err.msg, "sparc"));
    desk_ctx_params badkv = {.n_ctx = 4, .n_threads = 1, .type_v = (desk_cache_type)7};
    assert_int_equal(desk_ctx_new(m, &badkv, &c, &err), DESK_E_ARG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cache type"));
    desk_cache_type ct = DESK_CACHE_F16;
    assert_int_equal(desk_cache_type_parse("q4_0", &ct, &err), DESK_E_ARG);
    assert_non_null(strstr(err.msg, "q4_0"));
    assert_int_equal(desk_cache_type_parse("q8_0", &ct, &err), DESK_OK);
    assert_int_equal(ct, DESK_CACHE_Q8_0);
    assert_string_equal(desk_cache_type_name(ct), "q8_0");
    /* Q8_0 halves the cache: 34 bytes per 32 values against 64. */
    desk_ctx_params p16 = {.n_ctx = 64, .n_threads = 1}, p8 = {.n_ctx = 64, .n_threads = 1, .type_k = DESK_CACHE_Q8_0,
                                                              .type_v = DESK_CACHE_Q8_0};
    desk_ctx *c16 = NULL, *c8 = NULL;
    assert_int_equal(desk_ctx_new(m, &p16, &c16, &err), DESK_OK);
    assert_int_equal(desk_ctx_new(m, &p8, &c8, &err), DESK_OK);
    assert_int_equal(desk_ctx_kv_bytes(c16), 2ull * 30 * 64 * 3 * 64 * 2); /* SmolLM2: 30 layers, 3 KV heads of 64 */
    assert_int_equal(desk_ctx_kv_bytes(c8) * 64, desk_ctx_kv_bytes(c16) * 34);
    desk_ctx_free(c16);
    desk_ctx_free(c8);
    desk_ctx_params p = {.n_ctx = 4, .n_threads = 1};
    assert_int_equal(desk_ctx_new(m, &p, &c, &err), DESK_OK);
    desk_token ids[5] = {1, 2, 3, 4, 5};
    assert_int_equal(desk_decode(c, ids, 5, &err), DESK_E_RANGE);
    desk_token badtok = 1 << 30;
    assert_int_equal(desk_decode(c, &badtok, 1, &err), DESK_E_RANGE);
    assert_int_equal(desk_decode(c, ids, 0, &err), DESK_E_ARG);
    assert_int_equal(desk_decode(c, ids, 4, &err), DESK_OK);
    assert_int_equal(desk_decode(c, ids, 1, &err), DESK_E_RANGE);
    assert_non_null(strstr(err.msg, "context full"));
    desk_ctx_truncate(c, 2);
    assert_int_equal(desk_ctx_pos(c), 2);
    assert_int_equal(desk_decode(c, ids, 2, &err), DESK_OK);
    desk_ctx_free(c);
    desk_model_free(m);
    free(path);
}

int main(void) {
    /* DESK_TEST_FILTER: run the tests whose names match (cmocka's pattern) */
    if (getenv("DESK_TEST_FILTER")) cmocka_set_test_filter(getenv("DESK_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2_greedy),
        cmocka_unit_test(test_gemma3_greedy),
        cmocka_unit_test(test_smollm2_greedy_q8kv),
        cmocka_unit_test(test_gemma3_greedy_q8kv),
        cmocka_unit_test(test_qwen2_greedy),
        cmocka_unit_test(test_mixtral_greedy),
        cmocka_unit_test(test_qwen3_greedy),
        cmocka_unit_test(test_qwen3moe_greedy),
        cmocka_unit_test(test_gemma2_greedy),
        cmocka_unit_test(test_scalar_agrees),
        cmocka_unit_test(test_reference_agrees),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
