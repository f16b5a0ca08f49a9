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
 *  - shapes the kernels decline (head sizes not a multiple of 8) return
 *    false and write nothing.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "model/model_internal.h"

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
    for (int k = 0; k < nk; k++) {
        if (!kts[k]->geglu) continue;
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
}

static void test_swiglu(void **state) {
    (void)state;
    const desk_kernel_table *kts[DESK_ISA_COUNT];
    const int nk = tables(kts);
    const size_t lens[] = {16, 1536, 37, 5, 8192 + 9};
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
}

typedef struct ashape {
    int hk, hv, lo, hi;
    float qscale;
    int nq; /* query rows sharing the cache rows */
} ashape;

static void check_attn(const desk_kernel_table *kt, bool tiled, const ashape *sh) {
    const int ctx = sh->hi + 1, kvh = 2; /* two KV heads: the strides skip the other */
    const size_t ks = (size_t)kvh * sh->hk, vs = (size_t)kvh * sh->hv;
    float *q = malloc(sizeof(float) * (size_t)sh->hk * (size_t)sh->nq);
    desk_f16 *k = malloc(sizeof(desk_f16) * ks * (size_t)ctx), *v = malloc(sizeof(desk_f16) * vs * (size_t)ctx);
    float *acc = malloc(sizeof(float) * (size_t)(sh->hk + sh->hv));
    float *want = malloc(sizeof(float) * (size_t)sh->hv * (size_t)sh->nq);
    float *got = malloc(sizeof(float) * (size_t)sh->hv * (size_t)sh->nq);
    for (int d = 0; d < sh->hk * sh->nq; d++) q[d] = urand() * sh->qscale;
    for (size_t e = 0; e < ks * (size_t)ctx; e++) k[e] = desk_f32_to_f16(urand());
    for (size_t e = 0; e < vs * (size_t)ctx; e++) v[e] = desk_f32_to_f16(urand() * (e % 97 == 0 ? 3000.0f : 1.0f));
    /* NQ query rows sharing the cache rows (the tiled kernel takes them
     * together; the vec kernel one at a time). */
    desk_attn_row r[DESK_ATTN_GROUP];
    for (int g = 0; g < sh->nq; g++)
        r[g] = (desk_attn_row){.q = q + (size_t)g * sh->hk, .k = k + sh->hk, .v = v + sh->hv, .k_stride = ks,
                               .v_stride = vs, .head_k = sh->hk, .head_v = sh->hv, .lo = sh->lo, .hi = sh->hi,
                               .scale = 0.125f};
    for (int g = 0; g < sh->nq; g++) {
        if (tiled)
            desk_op_attn_tiled(&r[g], want + (size_t)g * sh->hv, acc);
        else
            desk_op_attn_vec(&r[g], want + (size_t)g * sh->hv, acc);
    }
    for (int d = 0; d < sh->nq * sh->hv; d++) got[d] = NAN;
    bool took = true;
    if (tiled) {
        took = kt->attn_tiled(r, sh->nq, got, (size_t)sh->hv);
    } else {
        for (int g = 0; g < sh->nq; g++) took = kt->attn_vec(&r[g], got + (size_t)g * sh->hv, acc) && took;
    }
    if (sh->hk % 8 || sh->hv % 8) {
        if (took) fail_msg("%s: head sizes %d/%d are not the kernel's, yet it ran", kt->name, sh->hk, sh->hv);
        for (int d = 0; d < sh->nq * sh->hv; d++) assert_true(isnan(got[d]));
    } else {
        if (!took) fail_msg("%s declined head sizes %d/%d", kt->name, sh->hk, sh->hv);
        for (int d = 0; d < sh->nq * sh->hv; d++)
            if (memcmp(&got[d], &want[d], 4) != 0)
                fail_msg("%s %s hk %d hv %d lo %d hi %d q x%g: out[%d] %a, reference %a", kt->name,
                         tiled ? "tiled" : "vec", sh->hk, sh->hv, sh->lo, sh->hi, sh->qscale, d, got[d], want[d]);
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
        {64, 64, 0, 0, 1, 1},       /* one position */
        {64, 64, 0, 130, 1, 3},     /* three tiles, the last partial; SmolLM2's group */
        {64, 64, 37, 300, 8, 2},    /* a window starting inside a tile */
        {256, 256, 0, 70, 2, 3},    /* Gemma 3's heads */
        {64, 64, 0, 200, 400, 3},   /* scores hundreds apart: weights underflow */
        {8, 24, 5, 9, 1, 1},        /* the smallest vector head, V of 3 vectors */
        {128, 40, 0, 66, 3, 2},     /* V not a multiple of 16 */
        {64, 64, 0, 100, 2, 6},     /* six heads per KV head: two passes of four */
        {12, 64, 0, 10, 1, 1},      /* declined: head_k not a multiple of 8 */
    };
    for (int k = 0; k < nk; k++) {
        if (!kts[k]->attn_tiled || !kts[k]->attn_vec) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            check_attn(kts[k], true, &shapes[si]);
            check_attn(kts[k], false, &shapes[si]);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_geglu),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
