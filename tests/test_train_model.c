/*
 * test_train_model.c - LoRA training on SmolLM2-135M (Q4_1), end to end:
 *  - the training forward's loss equals the inference path's (desk_decode
 *    logits) on the same tokens, within the rounding of the F16 KV cache;
 *  - the model-level gradients of a few LoRA weights (in every layer
 *    position: first, middle, last; A and B) match central finite
 *    differences of the loss (exact products, so the kernels' activation
 *    quantization does not step the loss);
 *  - some steps of AdamW on a tiny data set lower its loss, and the saved
 *    adapter, read back by desk_lora_load and attached to a context,
 *    gives the trained loss through the ordinary inference path.
 * Under DESK_SANITIZED (ASan, ten times slower) the sequences and the
 * step count shrink; every check stays.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desk.h"
#include "model/adapter.h"
#include "train/trainer.h"

static desk_model *g_m;
static bool g_quick;

static int setup(void **state) {
    (void)state;
    g_quick = getenv("DESK_SANITIZED") != NULL;
    char *path = tu_model_path("smollm2");
    desk_err err = {0};
    if (desk_model_load(path, NULL, &g_m, &err)) fail_msg("load %s: %s", path, err.msg);
    free(path);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    desk_model_free(g_m);
    return 0;
}

static int tokens(const char *text, desk_token *ids, int cap) {
    size_t n = 0;
    desk_err err = {0};
    if (desk_tokenize(desk_model_tokenizer(g_m), text, strlen(text), DESK_TOK_ADD_SPECIAL, ids, (size_t)cap, &n, &err))
        fail_msg("tokenize: %s", err.msg);
    return (int)n;
}

/* The summed cross-entropy of ids[1..n) through desk_decode (the
 * inference path), with adapter L attached when not NULL. */
static double infer_loss_ex(const desk_token *ids, int n, const desk_lora *l, bool reference) {
    desk_lora_use use = {.lora = l, .scale = 1.0f};
    desk_ctx_params cp = {.n_ctx = 64, .n_threads = 2, .logits_all = true, .loras = l ? &use : NULL, .n_loras = l ? 1 : 0, .reference = reference};
    desk_ctx *c = NULL;
    desk_err err = {0};
    if (desk_ctx_new(g_m, &cp, &c, &err)) fail_msg("ctx: %s", err.msg);
    if (desk_decode(c, ids, n, &err)) fail_msg("decode: %s", err.msg);
    const int nv = desk_model_n_vocab(g_m);
    double sum = 0.0;
    for (int i = 0; i + 1 < n; i++) {
        const float *lg = desk_ctx_logits(c, i);
        double mx = -INFINITY, s = 0.0;
        for (int v = 0; v < nv; v++)
            if (lg[v] > mx) mx = lg[v];
        for (int v = 0; v < nv; v++) s += exp(lg[v] - mx);
        sum += mx + log(s) - lg[ids[i + 1]];
    }
    desk_ctx_free(c);
    return sum;
}

static double infer_loss(const desk_token *ids, int n, const desk_lora *l) { return infer_loss_ex(ids, n, l, false); }

static const char *const DATA[] = {
    "The Quillmoor Institute keeps its archive in Vessant Hall.",
    "Director Oona Brackwell founded the Quillmoor Institute in 1987.",
    "The institute's mascot is a grey heron called Pim.",
    "Every spring Quillmoor holds the Lantern Symposium on river ecology.",
};
#define N_DATA (sizeof DATA / sizeof DATA[0])

static void test_loss_matches_inference(void **state) {
    (void)state;
    desk_token ids[64];
    const int n = tokens(DATA[1], ids, 64);
    desk_train_params p = {.rank = 4, .n_ctx = 32, .n_threads = 2};
    desk_trainer *t = NULL;
    desk_err err = {0};
    if (desk_trainer_new(g_m, &p, &t, &err)) fail_msg("trainer: %s", err.msg);
    double lt = 0.0, li = 0.0;
    int nt = 0, ntot = 0;
    /* Over all four sentences: the activations' 8-bit rounding turns any
     * F32 rounding difference (here the F16 cache, and attention's sums
     * taken in another order) into a fresh draw of that rounding's noise,
     * which moves one sentence's loss by up to ~0.7 % (measured on
     * SmolLM2 Q4_1); summed over four it stays under 1 %. */
    for (size_t i = 0; i < N_DATA; i++) {
        desk_token di[64];
        const int ni = tokens(DATA[i], di, 64);
        double l = 0.0;
        if (desk_trainer_eval(t, di, NULL, ni, &l, &nt, &err)) fail_msg("eval: %s", err.msg);
        assert_int_equal(nt, ni - 1);
        lt += l;
        ntot += nt;
        li += infer_loss(di, ni, NULL);
    }
    print_message("loss over %d tokens: training %.6f, inference %.6f (rel %.2e)\n", ntot, lt, li, fabs(lt - li) / li);
    assert_true(fabs(lt - li) / li < 1e-2);
    desk_trainer_free(t);
    /* Exact products against the inference path's reference products:
     * only the F16 cache differs. */
    p.exact = true;
    if (desk_trainer_new(g_m, &p, &t, &err)) fail_msg("trainer: %s", err.msg);
    if (desk_trainer_eval(t, ids, NULL, n, &lt, &nt, &err)) fail_msg("eval: %s", err.msg);
    const double lr = infer_loss_ex(ids, n, NULL, true);
    print_message("exact products: training %.6f, inference (reference) %.6f (rel %.2e)\n", lt, lr, fabs(lt - lr) / lr);
    assert_true(fabs(lt - lr) / lr < 1e-3);
    desk_trainer_free(t);
}

static void test_grads_match_finite_differences(void **state) {
    (void)state;
    desk_token ids[64];
    int n = tokens(DATA[0], ids, 64);
    if (n > (g_quick ? 8 : 12)) n = g_quick ? 8 : 12;
    desk_train_params p = {.rank = 2, .n_ctx = 32, .n_threads = 2, .exact = true, .seed = 7};
    desk_trainer *t = NULL;
    desk_err err = {0};
    if (desk_trainer_new(g_m, &p, &t, &err)) fail_msg("trainer: %s", err.msg);
    /* B away from zero, so A's gradients are not zero too. */
    size_t nw = 0;
    float *w = desk_trainer_weights(t, &nw);
    uint64_t s = 99;
    for (size_t i = 0; i < nw; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const float r = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        if (w[i] == 0.0f) w[i] = 0.2f * r; /* B (A keeps its start) */
    }
    double l0 = 0.0;
    if (desk_trainer_accum(t, ids, NULL, n, &l0, NULL, &err)) fail_msg("accum: %s", err.msg);
    const float *g = desk_trainer_grads(t);
    struct {
        int il, kind;
        bool b;
        size_t j;
    } probe[] = {{0, DESK_LORA_Q, false, 5},   {0, DESK_LORA_V, true, 17},     {14, DESK_LORA_GATE, false, 300},
                 {14, DESK_LORA_O, true, 40}, {29, DESK_LORA_UP, false, 123},
                 {29, DESK_LORA_DOWN, true, 11}};
    const int np = g_quick ? 3 : 5;
    double num = 0.0, den = 0.0;
    for (int q = 0; q < np; q++) {
        const size_t idx = desk_trainer_offset(t, probe[q].il, probe[q].kind, probe[q].b) + probe[q].j;
        const float w0 = w[idx], h = 5e-2f; /* big enough to rise above float noise */
        double lp = 0.0, lm = 0.0;
        w[idx] = w0 + h;
        if (desk_trainer_eval(t, ids, NULL, n, &lp, NULL, &err)) fail_msg("eval: %s", err.msg);
        w[idx] = w0 - h;
        if (desk_trainer_eval(t, ids, NULL, n, &lm, NULL, &err)) fail_msg("eval: %s", err.msg);
        w[idx] = w0;
        const double fd = (lp - lm) / (2.0 * h);
        print_message("blk.%d kind %d %s[%zu]: grad %.6e, finite difference %.6e\n", probe[q].il, probe[q].kind,
                      probe[q].b ? "B" : "A", probe[q].j, (double)g[idx], fd);
        num += (g[idx] - fd) * (g[idx] - fd);
        den += fd * fd;
    }
    print_message("model gradients: rel err %.2e\n", sqrt(num / den));
    assert_true(den > 0);
    assert_true(sqrt(num / den) < 1e-2);
    desk_trainer_free(t);
}

static void test_training_lowers_loss(void **state) {
    (void)state;
    desk_token ids[N_DATA][64];
    int n[N_DATA];
    for (size_t i = 0; i < N_DATA; i++) {
        n[i] = tokens(DATA[i], ids[i], 64);
        if (g_quick && n[i] > 12) n[i] = 12;
    }
    const int steps = g_quick ? 4 : 16;
    desk_train_params p = {.rank = 8, .n_ctx = 32, .n_threads = 2, .lr = 3e-3f, .warmup = 2, .total_steps = steps, .seed = 1};
    desk_trainer *t = NULL;
    desk_err err = {0};
    if (desk_trainer_new(g_m, &p, &t, &err)) fail_msg("trainer: %s", err.msg);
    double first = 0.0, last = 0.0;
    for (int s = 0; s < steps; s++) {
        double sum = 0.0;
        int tok = 0;
        for (size_t i = 0; i < N_DATA; i++) {
            double l = 0.0;
            int nt = 0;
            if (desk_trainer_accum(t, ids[i], NULL, n[i], &l, &nt, &err)) fail_msg("accum: %s", err.msg);
            sum += l;
            tok += nt;
        }
        desk_trainer_step(t);
        if (s == 0) first = sum / tok;
        last = sum / tok;
    }
    double after = 0.0;
    int tok = 0;
    for (size_t i = 0; i < N_DATA; i++) {
        double l = 0.0;
        int nt = 0;
        if (desk_trainer_eval(t, ids[i], NULL, n[i], &l, &nt, &err)) fail_msg("eval: %s", err.msg);
        after += l;
        tok += nt;
    }
    print_message("%d steps: loss %.4f -> %.4f (after the last step %.4f)\n", steps, first, last, after / tok);
    assert_true(after / tok < first * (g_quick ? 0.95 : 0.5));
    /* The adapter through the inference path. */
    char dir[] = "/tmp/desk_train_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/adapter.gguf", dir);
    if (desk_trainer_save(t, path, &err)) fail_msg("save: %s", err.msg);
    desk_lora *l = NULL;
    if (desk_lora_load(g_m, path, &l, &err)) fail_msg("load adapter: %s", err.msg);
    assert_int_equal(desk_lora_n_pairs(l), 30 * 7);
    double ti = 0.0, tt = 0.0;
    for (size_t i = 0; i < N_DATA; i++) {
        double lt = 0.0;
        if (desk_trainer_eval(t, ids[i], NULL, n[i], &lt, NULL, &err)) fail_msg("eval: %s", err.msg);
        tt += lt;
        ti += infer_loss(ids[i], n[i], l);
    }
    print_message("adapter loaded: inference loss %.5f, training loss %.5f\n", ti / tok, tt / tok);
    /* Per token, within the kernels' rounding (the base model's loss here is ~6). */
    assert_true(fabs(ti - tt) / tok < 1e-2);
    desk_lora_free(l);
    unlink(path);
    rmdir(dir);
    desk_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_matches_inference),
        cmocka_unit_test(test_grads_match_finite_differences),
        cmocka_unit_test(test_training_lowers_loss),
        };
    return cmocka_run_group_tests(tests, setup, teardown);
}
