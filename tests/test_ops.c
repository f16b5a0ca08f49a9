/*
 * test_ops.c - the kernel tables' vector versions of the model's
 * operations against src/model/ops.c (the scalar reference, llama.cpp's
 * numerics), bit for bit, on every table this CPU can run:
 *  - geglu on every F16 input (its table's domain) and between;
 *  - swiglu over lengths with and without a tail, inputs from tiny to
 *    beyond exp's range (the polynomial's far lanes), infinities;
 *  - attention, tiled and vec paths: head sizes 64, 256 and 8, windows
 *    that start inside a tile, single positions, scores spread wide
 *    enough that weights underflow, and a V row with large values;
 *  - every pairing of F16 and Q8_0 K and V caches (llama.cpp's -ctk /
 *    -ctv); the tiled kernels decline anything but F16 K and V;
 *  - shapes the kernels decline (head sizes not a multiple of 8) return
 *    false and write nothing;
 *  - the Q8_0 reference itself against plain double-precision attention
 *    over the dequantized cache (within the rounding of q to Q8_0).
 * A test that finds no table with its operation fails: passing would
 * claim a check that never ran (as on a CPU whose tables lack the op).
 */
#include "util/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "tensor/blocks.h"
#include "tensor/ref.h"
#include "tensor/types.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static float urand(void) {
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static int tables(const desk_kernel_table **out) {
    int n = 0;
    for (int i = 0; i < DESK_ISA_COUNT; i++) {
        const desk_kernel_table *kt = desk_kernels_get((desk_isa)i);
        if (kt) out[n++] = kt;
    }
    return n;
}

/* Fails when none of the tables had OP, so nothing was compared. */
static void require_ran(int ran, const char *op) {
    if (ran == 0) fail_msg("no kernel table on this CPU has %s: nothing was checked", op);
}

/* GEGLU on every F16 value (the table's whole domain) and on floats
 * between halves, past +-10, with and without a tail. */
static void test_geglu(void **state) {
    (void)state;
    const desk_kernel_table *kts[DESK_ISA_COUNT];
    const int nk = tables(kts);
    const size_t n = 65536 * 2 + 5;
    float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n);
    float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        const float h = desk_f16_to_f32((desk_f16)(i & 0xFFFF));
        g[i] = i < 65536 ? h : urand() * 14.0f;
        if (isnan(g[i])) g[i] = 1.0f; /* NaN payloads are not a numeric question */
        u[i] = urand() * 3.0f;
    }
    desk_op_geglu(want, g, u, n);
    int ran = 0;
    for (int k = 0; k < nk; k++) {
        if (!kts[k]->geglu) continue;
        ran++;
        memcpy(got, g, sizeof(float) * n);
        kts[k]->geglu(got, got, u, n);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], 4) != 0)
                fail_msg("%s geglu [%zu]: g %a -> %a, reference %a", kts[k]->name, i, g[i], got[i], want[i]);
    }
    free(g);
    free(u);
    free(want);
    free(got);
    require_ran(ran, "geglu");
}

static void test_swiglu(void **state) {
    (void)state;
    const desk_kernel_table *kts[DESK_ISA_COUNT];
    const int nk = tables(kts);
    const size_t lens[] = {16, 1536, 37, 5, 8192 + 9};
    int ran = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t n = lens[li];
        float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n);
        float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) {
            /* Magnitudes from 1e-3 to 200: past 87 and 126 the exp's scale
             * leaves the normal range. */
            g[i] = urand() * powf(10.0f, 2.3f * (urand() + 1.0f) - 3.0f);
            u[i] = urand() * 4;
        }
        if (n > 40) {
            g[3] = INFINITY;
            g[4] = -INFINITY;
            g[5] = 0.0f;
            g[6] = -0.0f;
            g[7] = 130.0f;
            g[8] = -130.0f;
            g[9] = 89.0f;
        }
        desk_op_swiglu(want, g, u, n);
        for (int k = 0; k < nk; k++) {
            if (!kts[k]->swiglu) continue;
            ran++;
            memcpy(got, g, sizeof(float) * n);
            kts[k]->swiglu(got, got, u, n); /* in place, as forward.c calls it */
            for (size_t i = 0; i < n; i++)
                if (memcmp(&got[i], &want[i], 4) != 0)
                    fail_msg("%s swiglu n=%zu [%zu]: g %a -> %a, reference %a", kts[k]->name, n, i, g[i], got[i], want[i]);
        }
        free(g);
        free(u);
        free(want);
        free(got);
    }
    require_ran(ran, "swiglu");
}

typedef struct ashape {
    int hk, hv, lo, hi;
    float qscale;
    int nq;   /* query rows sharing the cache rows */
    bool runs; /* rows at different positions (their own lo, hi) */
} ashape;

/* A cache of CTX positions of N values in TYPE (F16 or Q8_0) from random
 * floats in [-1, 1] (with OUTLIERS, every 97th value times 3000); returns
 * it (malloc'd) and its row size in *ROW. */
static unsigned char *make_cache(uint32_t type, size_t n, int ctx, bool outliers, size_t *row) {
    *row = type == DESK_TYPE_Q8_0 ? n / 32 * sizeof(desk_block_q8_0) : n * sizeof(desk_f16);
    unsigned char *c = malloc(*row * (size_t)ctx);
    float *x = malloc(sizeof(float) * n);
    assert_non_null(c);
    assert_non_null(x);
    for (int p = 0; p < ctx; p++) {
        for (size_t e = 0; e < n; e++) x[e] = urand() * (outliers && ((size_t)p * n + e) % 97 == 0 ? 3000.0f : 1.0f);
        if (type == DESK_TYPE_Q8_0)
            desk_ref_quant_act_q8_0(x, c + (size_t)p * *row, (int64_t)n);
        else
            for (size_t e = 0; e < n; e++) ((desk_f16 *)(void *)(c + (size_t)p * *row))[e] = desk_f32_to_f16(x[e]);
    }
    free(x);
    return c;
}

/* KT's attention kernel against ops.c's on SH with a K cache of type TK
 * and a V cache of type TV: the same bits, or declined where the kernel
 * cannot take the shape (head sizes not a multiple of 8; the tiled path
 * for anything but F16 K and V, which forward.c never asks of it). */
static void check_attn(const desk_kernel_table *kt, bool tiled, const ashape *sh, uint32_t tk, uint32_t tv) {
    const int ctx = sh->hi + 1, kvh = 2; /* two KV heads: the strides skip the other */
    if ((tk == DESK_TYPE_Q8_0 && sh->hk % 32) || (tv == DESK_TYPE_Q8_0 && sh->hv % 32)) return;
    size_t ks, vs;
    unsigned char *k = make_cache(tk, (size_t)kvh * sh->hk, ctx, false, &ks);
    unsigned char *v = make_cache(tv, (size_t)kvh * sh->hv, ctx, true, &vs);
    float *q = malloc(sizeof(float) * (size_t)sh->hk * (size_t)sh->nq);
    float *acc = malloc(sizeof(float) * (size_t)(sh->hk + sh->hv));
    float *want = malloc(sizeof(float) * (size_t)sh->hv * (size_t)sh->nq);
    float *got = malloc(sizeof(float) * (size_t)sh->hv * (size_t)sh->nq);
    for (int d = 0; d < sh->hk * sh->nq; d++) q[d] = urand() * sh->qscale;
    /* NQ query rows sharing the cache rows (the tiled kernel takes them
     * together; the vec kernel one at a time); the second KV head. */
    desk_attn_row r[DESK_ATTN_GROUP];
    float *outs[DESK_ATTN_GROUP];
    for (int g = 0; g < sh->nq; g++) {
        /* Rows of a run of positions (the tiled kernel takes several): each
         * its own window, ending up to 70 positions before HI (and sliding
         * with it where LO > 0), never empty. */
        const int back = sh->runs ? (g * 29) % 71 % (sh->hi - sh->lo + 1) : 0;
        r[g] = (desk_attn_row){.q = q + (size_t)g * sh->hk, .k = k + ks / 2, .v = v + vs / 2, .k_stride = ks,
                               .v_stride = vs, .k_type = tk, .v_type = tv, .head_k = sh->hk, .head_v = sh->hv,
                               .lo = sh->lo > 0 && sh->lo - back >= 0 ? sh->lo - back : sh->lo, .hi = sh->hi - back,
                               .scale = 0.125f};
        outs[g] = got + (size_t)g * sh->hv;
    }
    const bool f16 = tk == DESK_TYPE_F16 && tv == DESK_TYPE_F16;
    for (int g = 0; g < sh->nq; g++) {
        if (tiled && f16)
            desk_op_attn_tiled(&r[g], want + (size_t)g * sh->hv, acc);
        else
            desk_op_attn_vec(&r[g], want + (size_t)g * sh->hv, acc);
    }
    for (int d = 0; d < sh->nq * sh->hv; d++) got[d] = NAN;
    bool took = true;
    if (tiled) {
        took = kt->attn_tiled(r, sh->nq, outs);
    } else {
        for (int g = 0; g < sh->nq; g++) took = kt->attn_vec(&r[g], got + (size_t)g * sh->hv, acc) && took;
    }
    if (sh->hk % 8 || sh->hv % 8 || (tiled && !f16)) {
        if (took) fail_msg("%s: head sizes %d/%d, types %d/%d are not the kernel's, yet it ran", kt->name, sh->hk,
                           sh->hv, (int)tk, (int)tv);
        for (int d = 0; d < sh->nq * sh->hv; d++) assert_true(isnan(got[d]));
    } else {
        if (!took) fail_msg("%s declined head sizes %d/%d", kt->name, sh->hk, sh->hv);
        for (int d = 0; d < sh->nq * sh->hv; d++)
            if (memcmp(&got[d], &want[d], 4) != 0)
                fail_msg("%s %s K %d V %d hk %d hv %d lo %d hi %d q x%g: out[%d] %a, reference %a", kt->name,
                         tiled ? "tiled" : "vec", (int)tk, (int)tv, sh->hk, sh->hv, sh->lo, sh->hi, sh->qscale, d,
                         got[d], want[d]);
    }
    free(q);
    free(k);
    free(v);
    free(acc);
    free(want);
    free(got);
}

static void test_attention(void **state) {
    (void)state;
    const desk_kernel_table *kts[DESK_ISA_COUNT];
    const int nk = tables(kts);
    const ashape shapes[] = {
        {64, 64, 0, 0, 1, 1, false},       /* one position */
        {64, 64, 0, 130, 1, 3, false},     /* three tiles, the last partial; SmolLM2's group */
        {64, 64, 37, 300, 8, 2, false},    /* a window starting inside a tile */
        {256, 256, 0, 70, 2, 3, false},    /* Gemma 3's heads */
        {64, 64, 0, 200, 400, 3, false},   /* scores hundreds apart: weights underflow */
        {8, 24, 5, 9, 1, 1, false},        /* the smallest vector head, V of 3 vectors */
        {128, 40, 0, 66, 3, 2, false},     /* V not a multiple of 16 */
        {64, 64, 0, 100, 2, 6, false},     /* six heads per KV head */
        {12, 64, 0, 10, 1, 1, false},      /* declined: head_k not a multiple of 8 */
        {64, 64, 0, 200, 2, 32, true},   /* 8 positions x 4 heads (llama-1b's group) */
        {256, 256, 0, 140, 2, 32, true}, /* Gemma 3's heads at 8 positions */
        {64, 64, 0, 130, 2, 30, true},   /* SmolLM2's 3 heads at 10 positions */
        {64, 64, 37, 300, 2, 17, true},  /* windows sliding with their positions */
        {128, 40, 0, 99, 2, 9, true},    /* V not a multiple of 16 */
    };
    int ran = 0;
    for (int k = 0; k < nk; k++) {
        if (!kts[k]->attn_tiled || !kts[k]->attn_vec) continue;
        ran++;
        static const uint32_t kv[][2] = {{DESK_TYPE_F16, DESK_TYPE_F16},
                                         {DESK_TYPE_Q8_0, DESK_TYPE_Q8_0},
                                         {DESK_TYPE_Q8_0, DESK_TYPE_F16},
                                         {DESK_TYPE_F16, DESK_TYPE_Q8_0}};
        for (size_t t = 0; t < sizeof kv / sizeof kv[0]; t++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                check_attn(kts[k], true, &shapes[si], kv[t][0], kv[t][1]);
                check_attn(kts[k], false, &shapes[si], kv[t][0], kv[t][1]);
            }
    }
    require_ran(ran, "attn_tiled and attn_vec");
}

/* desk_op_attn_vec over a Q8_0 K and V cache against softmax(q.K * scale) V
 * in double over the dequantized cache: the reference rounds q to Q8_0
 * (about 0.4% of its largest value per block) and sums in float, so the
 * outputs (values within +-1) agree to 2e-2; a wrong block, scale or
 * stride is far off. */
static void test_attention_q8_0_meaning(void **state) {
    (void)state;
    const int hk = 64, hv = 64, ctx = 150;
    size_t ks, vs;
    unsigned char *k = make_cache(DESK_TYPE_Q8_0, (size_t)hk, ctx, false, &ks);
    unsigned char *v = make_cache(DESK_TYPE_Q8_0, (size_t)hv, ctx, false, &vs);
    float q[64], out[64], acc[128], kf[64], vf[64];
    for (int d = 0; d < hk; d++) q[d] = urand() * 4.0f;
    const desk_attn_row r = {.q = q, .k = k, .v = v, .k_stride = ks, .v_stride = vs, .k_type = DESK_TYPE_Q8_0,
                             .v_type = DESK_TYPE_Q8_0, .head_k = hk, .head_v = hv, .lo = 3, .hi = ctx - 1, .scale = 0.125f};
    desk_op_attn_vec(&r, out, acc);
    double sc[150], mx = -INFINITY, sum = 0.0, want[64] = {0};
    for (int s = r.lo; s <= r.hi; s++) {
        desk_ref_dequant_q8_0(k + (size_t)s * ks, kf, hk);
        double dot = 0.0;
        for (int d = 0; d < hk; d++) dot += (double)q[d] * (double)kf[d];
        sc[s] = dot * 0.125;
        if (sc[s] > mx) mx = sc[s];
    }
    for (int s = r.lo; s <= r.hi; s++) {
        desk_ref_dequant_q8_0(v + (size_t)s * vs, vf, hv);
        const double w = exp(sc[s] - mx);
        sum += w;
        for (int d = 0; d < hv; d++) want[d] += w * (double)vf[d];
    }
    double worst = 0.0;
    for (int d = 0; d < hv; d++) {
        const double e = fabs((double)out[d] - want[d] / sum);
        if (e > worst) worst = e;
    }
    print_message("Q8_0 attention vs double: largest difference %.2e\n", worst);
    assert_true(worst < 2e-2);
    free(k);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_geglu),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_q8_0_meaning),
    };
    /* A build whose tables have none of the vector ops (ARM: NEON has no
     * SwiGLU, GEGLU or attention) runs only the tests that check something
     * there (cmake/arm-tests.cmake sets the filter). */
    const char *filter = getenv("DESK_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
