/*
 * test_train_grad.c - every backward of src/train/grad.c against central
 * finite differences of the same operation written here in double
 * precision (relative error of the whole gradient < 1e-3), and every
 * training forward against that double version (< 1e-5).
 *
 * The loss is L = sum_i r_i y_i for a fixed random R, so dL/dy = R and the
 * backward under test receives R as its DY.  Finite differences take the
 * double forward at x +- h (h = 1e-4 relative to the input's scale).
 */
#include "util/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/grad.h"
#include "tensor/types.h"

static uint64_t g_rng = 0x2545F4914F6CDD1DULL;

static double urand(void) {
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void fill(double *d, float *f, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) {
        d[i] = (double)(float)(urand() * scale);
        if (f) f[i] = (float)d[i];
    }
}

/* A double-precision loss of input X (N values) for the finite differences. */
typedef double (*loss_fn)(const double *x, void *ctx);

/* Checks the analytic gradient G (N floats) of LOSS at X against central
 * differences: ||g - fd|| / ||fd|| < 1e-3. */
static void check_grad(const char *what, loss_fn loss, void *ctx, double *x, const float *g, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double x0 = x[i], h = 1e-4 * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
        x[i] = x0 + h;
        const double lp = loss(x, ctx);
        x[i] = x0 - h;
        const double lm = loss(x, ctx);
        x[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        num += (g[i] - fd) * (g[i] - fd);
        den += fd * fd;
    }
    const double rel = sqrt(num / (den > 1e-30 ? den : 1e-30));
    print_message("%-18s gradient rel err %.2e over %zu values\n", what, rel, n);
    assert_true(den > 0.0);
    assert_true(rel < 1e-3);
}

/* Max |a - b| / max |b|: a training forward against its double version. */
static void check_fwd(const char *what, const float *a, const double *b, size_t n) {
    double e = 0.0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > e) e = fabs(a[i] - b[i]);
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    print_message("%-18s forward rel err %.2e\n", what, e / m);
    assert_true(e / m < 1e-5);
}

static double dotr(const double *r, const double *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += r[i] * y[i];
    return s;
}

/* ---- RMSNorm ---- */

enum { NN = 48 };
typedef struct norm_ctx {
    double w[NN], r[NN];
} norm_ctx;

static void rmsnorm_d(double *y, const double *x, const double *w, int n, double eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double s = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * s * w[i];
}

static double norm_loss(const double *x, void *p) {
    norm_ctx *c = p;
    double y[NN];
    rmsnorm_d(y, x, c->w, NN, 1e-6);
    return dotr(c->r, y, NN);
}

static void test_rmsnorm(void **state) {
    (void)state;
    norm_ctx c;
    double x[NN];
    float xf[NN], wf[NN], rf[NN], yf[NN], dx[NN] = {0};
    fill(x, xf, NN, 2.0);
    fill(c.w, wf, NN, 1.5);
    fill(c.r, rf, NN, 1.0);
    desk_tr_rmsnorm(yf, xf, wf, NN, 1e-6f);
    double y[NN];
    rmsnorm_d(y, x, c.w, NN, 1e-6);
    check_fwd("rmsnorm", yf, y, NN);
    desk_tr_rmsnorm_bwd(dx, xf, wf, rf, NN, 1e-6f);
    check_grad("rmsnorm", norm_loss, &c, x, dx, NN);
}

/* ---- RoPE, both orderings, with and without frequency factors ---- */

typedef struct rope_ctx {
    double r[NN];
    int pos;
    bool neox;
    const float *factors;
} rope_ctx;

static void rope_d(double *x, int n, int pos, double base, bool neox, const float *factors) {
    for (int i = 0; i < n / 2; i++) {
        const double t = pos * pow(base, -2.0 * i / n) / (factors ? factors[i] : 1.0);
        const int a = neox ? i : 2 * i, b = neox ? i + n / 2 : 2 * i + 1;
        const double x0 = x[a], x1 = x[b];
        x[a] = x0 * cos(t) - x1 * sin(t);
        x[b] = x0 * sin(t) + x1 * cos(t);
    }
}

static double rope_loss(const double *x, void *p) {
    rope_ctx *c = p;
    double y[NN];
    memcpy(y, x, sizeof y);
    rope_d(y, NN, c->pos, 10000.0, c->neox, c->factors);
    return dotr(c->r, y, NN);
}

static void test_rope(void **state) {
    (void)state;
    float factors[NN / 2];
    for (int i = 0; i < NN / 2; i++) factors[i] = 1.0f + (float)i / 4.0f;
    for (int v = 0; v < 4; v++) {
        rope_ctx c = {.pos = 37 + 11 * v, .neox = v & 1, .factors = v >= 2 ? factors : NULL};
        double x[NN], y[NN];
        float xf[NN], rf[NN];
        fill(x, xf, NN, 1.0);
        fill(c.r, rf, NN, 1.0);
        desk_tr_rope(xf, NN, c.pos, 10000.0f, 1.0f, c.neox, c.factors);
        memcpy(y, x, sizeof y);
        rope_d(y, NN, c.pos, 10000.0, c.neox, c.factors);
        check_fwd(c.neox ? "rope neox" : "rope normal", xf, y, NN);
        desk_tr_rope_bwd(rf, NN, c.pos, 10000.0f, 1.0f, c.neox, c.factors);
        check_grad(c.neox ? "rope neox" : "rope normal", rope_loss, &c, x, rf, NN);
    }
}

/* ---- SwiGLU and GEGLU: gradients of gate and up together ---- */

typedef struct glu_ctx {
    double r[NN];
    bool gelu;
} glu_ctx;

static double act_d(double g, bool gelu) {
    if (gelu) return 0.5 * g * (1.0 + tanh(0.79788456080286535588 * (g + 0.044715 * g * g * g)));
    return g / (1.0 + exp(-g));
}

/* X holds gate then up. */
static double glu_loss(const double *x, void *p) {
    glu_ctx *c = p;
    double s = 0.0;
    for (int i = 0; i < NN; i++) s += c->r[i] * act_d(x[i], c->gelu) * x[NN + i];
    return s;
}

static void test_glu(void **state) {
    (void)state;
    for (int v = 0; v < 2; v++) {
        glu_ctx c = {.gelu = v == 1};
        double x[2 * NN], y[NN];
        float xf[2 * NN], rf[NN], yf[NN], d[2 * NN] = {0};
        fill(x, xf, 2 * NN, 4.0);
        fill(c.r, rf, NN, 1.0);
        (c.gelu ? desk_tr_geglu : desk_tr_swiglu)(yf, xf, xf + NN, NN);
        for (int i = 0; i < NN; i++) y[i] = act_d(x[i], c.gelu) * x[NN + i];
        check_fwd(c.gelu ? "geglu" : "swiglu", yf, y, NN);
        (c.gelu ? desk_tr_geglu_bwd : desk_tr_swiglu_bwd)(d, d + NN, xf, xf + NN, rf, NN);
        check_grad(c.gelu ? "geglu" : "swiglu", glu_loss, &c, x, d, 2 * NN);
    }
}

/* ---- attention: one query head over a sequence, GQA layout (the query
 * head reads a KV head shared with others), causal, with and without a
 * sliding window.  X holds Q, K and V (T x D each). ---- */

enum { AT = 9, AD = 8 };
typedef struct attn_ctx {
    double r[AT * AD];
    int window;
    double scale;
} attn_ctx;

static void attn_d(const double *q, const double *k, const double *v, double *out, int window, double scale) {
    for (int t = 0; t < AT; t++) {
        const int lo = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
        double s[AT], mx = -INFINITY, sum = 0.0;
        for (int j = lo; j <= t; j++) {
            s[j] = 0.0;
            for (int d = 0; d < AD; d++) s[j] += q[t * AD + d] * k[j * AD + d];
            s[j] *= scale;
            if (s[j] > mx) mx = s[j];
        }
        for (int j = lo; j <= t; j++) sum += s[j] = exp(s[j] - mx);
        for (int d = 0; d < AD; d++) {
            double o = 0.0;
            for (int j = lo; j <= t; j++) o += s[j] / sum * v[j * AD + d];
            out[t * AD + d] = o;
        }
    }
}

static double attn_loss(const double *x, void *p) {
    attn_ctx *c = p;
    double out[AT * AD];
    attn_d(x, x + AT * AD, x + 2 * AT * AD, out, c->window, c->scale);
    return dotr(c->r, out, AT * AD);
}

static void test_attention(void **state) {
    (void)state;
    for (int v = 0; v < 2; v++) {
        attn_ctx c = {.window = v ? 4 : 0, .scale = 1.0 / sqrt(AD)};
        enum { N3 = 3 * AT * AD };
        double x[N3], out[AT * AD];
        float xf[N3], rf[AT * AD], of[AT * AD], d[N3] = {0}, scratch[(4 * AD + 2) * AT];
        fill(x, xf, N3, 1.5);
        fill(c.r, rf, AT * AD, 1.0);
        desk_tr_attn a = {.T = AT, .head_k = AD, .head_v = AD, .window = c.window, .scale = (float)c.scale,
                          .q = xf, .k = xf + AT * AD, .v = xf + 2 * AT * AD, .qs = AD, .ks = AD, .vs = AD, .os = AD};
        desk_tr_attn_head(&a, of, scratch);
        attn_d(x, x + AT * AD, x + 2 * AT * AD, out, c.window, c.scale);
        check_fwd(v ? "attention swa" : "attention", of, out, AT * AD);
        desk_tr_attn_head_bwd(&a, rf, d, d + AT * AD, d + 2 * AT * AD, scratch);
        check_grad(v ? "attention swa" : "attention", attn_loss, &c, x, d, N3);
    }
}

/* ---- softmax cross-entropy, with and without a softcap ---- */

enum { NV = 40 };
typedef struct xent_ctx {
    int target;
    double softcap;
} xent_ctx;

static double xent_loss(const double *x, void *p) {
    xent_ctx *c = p;
    double mx = -INFINITY, l[NV], s = 0.0;
    for (int i = 0; i < NV; i++) {
        l[i] = c->softcap > 0 ? c->softcap * tanh(x[i] / c->softcap) : x[i];
        if (l[i] > mx) mx = l[i];
    }
    for (int i = 0; i < NV; i++) s += exp(l[i] - mx);
    return mx + log(s) - l[c->target];
}

static void test_xent(void **state) {
    (void)state;
    for (int v = 0; v < 2; v++) {
        xent_ctx c = {.target = 7 + v, .softcap = v ? 5.0 : 0.0};
        double x[NV];
        float xf[NV], d[NV];
        fill(x, xf, NV, 6.0);
        const double l = desk_tr_xent(d, xf, NV, c.target, (float)c.softcap, 1.0f);
        assert_true(fabs(l - xent_loss(x, &c)) < 1e-6 * fabs(l) + 1e-9);
        check_grad(v ? "xent softcap" : "xent", xent_loss, &c, x, d, NV);
    }
}

/* ---- LoRA: gradients of A, B and the input ---- */

enum { LI = 24, LO = 20, LR = 4, LN = 3 };
enum { LX = LN * LI, LA = LR * LI, LB = LO * LR };
typedef struct lora_ctx {
    double r[LN * LO];
    double scale;
} lora_ctx;

/* X holds the input, A, then B. */
static double lora_loss(const double *x, void *p) {
    lora_ctx *c = p;
    const double *in = x, *a = x + LX, *b = x + LX + LA;
    double s = 0.0;
    for (int i = 0; i < LN; i++) {
        double t[LR];
        for (int r = 0; r < LR; r++) {
            t[r] = 0.0;
            for (int k = 0; k < LI; k++) t[r] += a[r * LI + k] * in[i * LI + k];
        }
        for (int o = 0; o < LO; o++) {
            double y = 0.0;
            for (int r = 0; r < LR; r++) y += b[o * LR + r] * t[r];
            s += c->r[i * LO + o] * c->scale * y;
        }
    }
    return s;
}

static void test_lora(void **state) {
    (void)state;
    lora_ctx c = {.scale = 2.0};
    double x[LX + LA + LB];
    float xf[LX + LA + LB], rf[LN * LO], t[LN * LR], dt[LN * LR], y[LN * LO] = {0}, g[LX + LA + LB] = {0};
    fill(x, xf, LX + LA + LB, 1.0);
    fill(c.r, rf, LN * LO, 1.0);
    desk_tr_lora l = {.n_in = LI, .n_out = LO, .rank = LR, .scale = 2.0f, .a = xf + LX, .b = xf + LX + LA};
    desk_tr_lora_fwd(&l, xf, LN, t, y);
    desk_tr_lora_bwd(&l, xf, t, rf, LN, g + LX, g + LX + LA, g, dt);
    check_grad("lora A, B, x", lora_loss, &c, x, g, LX + LA + LB);
}

/* ---- the input gradient through a quantized frozen matrix ---- */

enum { MR = 40, MC = 64, MN = 3 };
typedef struct mm_ctx {
    double w[MR * MC], r[MN * MR];
} mm_ctx;

static double mm_loss(const double *x, void *p) {
    mm_ctx *c = p;
    double s = 0.0;
    for (int i = 0; i < MN; i++)
        for (int o = 0; o < MR; o++) {
            double y = 0.0;
            for (int k = 0; k < MC; k++) y += c->w[o * MC + k] * x[i * MC + k];
            s += c->r[i * MR + o] * y;
        }
    return s;
}

static void test_matmul_dx(void **state) {
    (void)state;
    const uint32_t types[] = {DESK_TYPE_Q4_0, DESK_TYPE_Q8_0, DESK_TYPE_F32};
    desk_threadpool *tp = NULL;
    assert_int_equal(desk_threadpool_new(2, &tp, NULL), DESK_OK);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        mm_ctx c;
        float wf[MR * MC], rf[MN * MR], dx[MN * MC] = {0}, row[MC];
        double x[MN * MC];
        fill(c.w, wf, MR * MC, 1.0);
        fill(c.r, rf, MN * MR, 1.0);
        fill(x, NULL, MN * MC, 1.0);
        const size_t rb = desk_type_row_size(types[ti], MC);
        unsigned char *q = malloc(rb * MR);
        assert_non_null(q);
        /* The double loss reads the weights as the matrix holds them. */
        for (int o = 0; o < MR; o++) {
            assert_int_equal(desk_quantize_row(types[ti], wf + o * MC, q + o * rb, MC, NULL), DESK_OK);
            assert_int_equal(desk_dequantize_row(types[ti], q + o * rb, row, MC, NULL), DESK_OK);
            for (int k = 0; k < MC; k++) c.w[o * MC + k] = row[k];
        }
        desk_mat w = {.type = types[ti], .rows = MR, .cols = MC, .row_bytes = rb, .data = q};
        float *scratch = malloc(desk_tr_matmul_dx_scratch(&w, 2) * sizeof(float));
        assert_non_null(scratch);
        assert_int_equal(desk_tr_matmul_dx(tp, &w, rf, MN, dx, scratch, NULL), DESK_OK);
        check_grad(desk_type_get(types[ti])->name, mm_loss, &c, x, dx, MN * MC);
        free(scratch);
        free(q);
    }
    desk_threadpool_free(tp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_rope), cmocka_unit_test(test_glu),
        cmocka_unit_test(test_attention), cmocka_unit_test(test_xent), cmocka_unit_test(test_lora),
        cmocka_unit_test(test_matmul_dx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
