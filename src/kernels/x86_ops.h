/*
 * x86_ops.h - vector versions of the model's operations (src/model/ops.c,
 * llama.cpp's CPU numerics) over 256-bit vectors with FMA and F16C;
 * included by x86_body.h, so compiled once per x86 instruction set.  Not a
 * header to include anywhere else.
 *
 * Every function returns ops.c's bits exactly (tests/test_ops.c): the same
 * operations, fused where ops.c calls fmaf, in the same order per output;
 * vectors only run independent outputs (or keys) side by side.
 *  - vexpf8: ggml's polynomial exp, 8 lanes; lanes whose scale 2^n is not
 *    a normal float (|n| > 126, NaN, infinities) take the scalar formula.
 *  - attention, tiled path: a block of 8 keys is widened and transposed so
 *    that each lane sums its own key's products in element order.
 *  - attention, vec path: ggml_vec_dot_f16's 4 x 16 lanes, its reduction
 *    tree; the F16-rounded accumulator kept in registers as floats.  A
 *    Q8_0 K takes this table's Q8_0 activation quantizer and Q8_0 dot (the
 *    reference's bytes and order); a Q8_0 V is widened 8 levels at a time
 *    (level * scale is exact) into an F32 accumulator.
 */

/* The scalar formula of desk_op_vexpf (fmaf is one instruction here). */
static float vexpf1(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    if (fabsf(n) > 192.0f || isnan(n)) return n <= 0 ? 0.0f : INFINITY;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

DESK_INLINE __m256 vexpf8(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r), r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    /* |n| <= 126: 2^n is a normal float and j * 2^n rounds as ldexpf. */
    const __m256 far = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126.0f), _CMP_NLE_UQ);
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(_mm256_andnot_ps(far, n)),
                                                         _mm256_set1_epi32(127)), 23);
    __m256 res = _mm256_mul_ps(j, _mm256_castsi256_ps(e));
    const int m = _mm256_movemask_ps(far);
    if (m) {
        _Alignas(32) float xs[8], rs[8];
        _mm256_store_ps(xs, x);
        _mm256_store_ps(rs, res);
        for (int l = 0; l < 8; l++)
            if (m >> l & 1) rs[l] = vexpf1(xs[l]);
        res = _mm256_load_ps(rs);
    }
    return res;
}

static void swiglu_x86(float *y, const float *g, const float *u, size_t n) {
    /* Whole groups of 16 take the polynomial exp, the tail libm's, as
     * desk_op_swiglu (ggml's vector loop and scalar remainder). */
    const size_t nv = n - n % 16;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (size_t i = 0; i < nv; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = vexpf8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (size_t i = nv; i < n; i++) {
        const float x = g[i];
        y[i] = (x / (1.0f + expf(-x))) * u[i];
    }
}

/* GELU (tanh form) as desk_op_geglu evaluates it: a function of the F16
 * rounding of the input only, so a table over the 65536 halves holds
 * every value (ggml keeps the same table).  Built once per process. */
static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_fill(void) {
    for (uint32_t i = 0; i < 65536; i++) {
        const float h = h2f((desk_f16)i);
        const float c = 0.797884560802865355879892119868763737f; /* sqrt(2/pi) */
        const float inner = c * h * fmaf(0.044715f * h, h, 1.0f);
        gelu_table[i] = h2f((desk_f16)_cvtss_sh(0.5f * h * (1.0f + tanhf(inner)), 0));
    }
}

static void geglu_x86(float *y, const float *g, const float *u, size_t n) {
    pthread_once(&gelu_once, gelu_fill);
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i), uv = _mm256_loadu_ps(u + i);
        const __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        const __m256 t = _mm256_i32gather_ps(gelu_table, idx, 4);
        __m256 r = _mm256_mul_ps(_mm256_blendv_ps(t, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ)), uv);
        r = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), r); /* exactly 0, whatever u is */
        _mm256_storeu_ps(y + i, r);
    }
    for (; i < n; i++) {
        const float x = g[i];
        y[i] = x <= -10.0f ? 0.0f : x >= 10.0f ? x * u[i] : gelu_table[(desk_f16)_cvtss_sh(x, 0)] * u[i];
    }
}

/* Rows become columns: R[i] lane j <- R[j] lane i. */
DESK_INLINE void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* The sum of 16 lanes (LO = lanes 0..7) in hsum16's order: halves,
 * quarters, then (c0 + c2) + (c1 + c3). */
DESK_INLINE float hsum16_ps(__m256 lo, __m256 hi) {
    const __m256 b = _mm256_add_ps(hi, lo);
    const __m128 c = _mm_add_ps(_mm256_extractf128_ps(b, 1), _mm256_castps256_ps128(b));
    const __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c)); /* c0 + c2, c1 + c3 */
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

#define ATTN_TILE 64

/* Bit j set where key S0 + j lies in [LO, HI]. */
DESK_INLINE unsigned keys_in(int s0, int lo, int hi) {
    unsigned m = 0;
    for (int j = 0; j < 8; j++)
        if (s0 + j >= lo && s0 + j <= hi) m |= 1u << j;
    return m;
}

/* Lanes of an 8-bit key mask as all-ones floats. */
DESK_INLINE __m256 lanes_of(unsigned m) {
    const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)m), bits), bits));
}

/* Rows (query heads of one KV head at a run of positions, each with its
 * own window) together: each block of 8 keys is widened and transposed
 * once for all of them, and each V row widened once per 8 of them.  Per
 * row the arithmetic is desk_op_attn_tiled's: tiles on multiples of 64
 * cache positions, only those holding one of its visible positions; its
 * scores one fma chain per key in element order; the accumulator is the
 * row's output until the final scaling. */
static bool attn_tiled_x86(const desk_attn_row *r, int nr, float *const *out) {
    const int hk = r->head_k, hv = r->head_v;
    if (hk % 8 || hv % 8 || hk > 512 || hv > 512 || nr < 1 || nr > DESK_ATTN_GROUP) return false;
    if (r->k_type != DESK_TYPE_F16 || r->v_type != DESK_TYPE_F16) return false;
    const desk_f16 *K = r->k, *V = r->v;
    const size_t ks = r->k_stride / sizeof(desk_f16), vs = r->v_stride / sizeof(desk_f16);
    _Alignas(32) float kq[DESK_ATTN_GROUP][ATTN_TILE];
    _Alignas(32) float kT[2 * 512 * 8];
    float M[DESK_ATTN_GROUP], S[DESK_ATTN_GROUP];
    int first = INT_MAX, last = -1;
    for (int g = 0; g < nr; g++) {
        memset(out[g], 0, sizeof(float) * (size_t)hv);
        M[g] = -INFINITY;
        S[g] = 0.0f;
        if (r[g].lo <= r[g].hi && r[g].lo < first) first = r[g].lo;
        if (r[g].hi > last) last = r[g].hi;
    }
    const __m256 vscale = _mm256_set1_ps(r->scale), ninf = _mm256_set1_ps(-INFINITY);
    for (int t0 = first < INT_MAX ? first - first % ATTN_TILE : 0; t0 <= last; t0 += ATTN_TILE) {
        /* The rows with a visible position in this tile, in order. */
        int act[DESK_ATTN_GROUP], na = 0;
        for (int g = 0; g < nr; g++)
            if (r[g].lo <= r[g].hi && r[g].lo <= t0 + ATTN_TILE - 1 && r[g].hi >= t0) act[na++] = g;
        if (na == 0) continue;
        __m256 vmax[DESK_ATTN_GROUP];
        for (int a = 0; a < na; a++) vmax[a] = ninf;
        for (int e0 = 0; e0 < ATTN_TILE; e0 += 16) {
            /* Two blocks of 8 keys: h = 0 for keys e0..e0+7, 1 for the next. */
            unsigned valid[DESK_ATTN_GROUP][2], any[2] = {0, 0};
            for (int a = 0; a < na; a++)
                for (int h = 0; h < 2; h++)
                    any[h] |= valid[a][h] = keys_in(t0 + e0 + 8 * h, r[act[a]].lo, r[act[a]].hi);
            if (!any[0] && !any[1]) {
                for (int a = 0; a < na; a++) {
                    _mm256_store_ps(kq[act[a]] + e0, ninf);
                    _mm256_store_ps(kq[act[a]] + e0 + 8, ninf);
                }
                continue;
            }
            for (int h = 0; h < 2; h++) {
                const int s0 = t0 + e0 + 8 * h;
                float *kTh = kT + (size_t)h * 512 * 8;
                for (int d0 = 0; d0 < hk; d0 += 8) {
                    __m256 rr[8];
                    DESK_UNROLL
                    for (int jj = 0; jj < 8; jj++)
                        rr[jj] = any[h] >> jj & 1 ? _mm256_cvtph_ps(_mm_loadu_si128(
                                                        (const __m128i *)(K + (size_t)(s0 + jj) * ks + d0)))
                                                  : _mm256_setzero_ps();
                    transpose8(rr);
                    DESK_UNROLL
                    for (int dd = 0; dd < 8; dd++) _mm256_store_ps(kTh + (d0 + dd) * 8, rr[dd]);
                }
            }
            /* One chain per lane (each key's products in element order, as
             * the reference's sequential fmaf); four rows by 16 keys at a
             * time, eight chains in flight to cover the fma latency.  A row
             * without a visible key in a block stores -inf there whatever
             * its chains summed. */
            const float *kT0 = kT, *kT1 = kT + 512 * 8;
            for (int a0 = 0; a0 < na; a0 += 4) {
                const int nb = na - a0 < 4 ? na - a0 : 4;
                const float *q[4];
                DESK_UNROLL
                for (int b = 0; b < 4; b++) q[b] = r[act[a0 + (b < nb ? b : 0)]].q;
                __m256 dv[4][2];
                DESK_UNROLL
                for (int b = 0; b < 4; b++) dv[b][0] = dv[b][1] = _mm256_setzero_ps();
                for (int d = 0; d < hk; d++) {
                    const __m256 k0 = _mm256_load_ps(kT0 + d * 8), k1 = _mm256_load_ps(kT1 + d * 8);
                    DESK_UNROLL
                    for (int b = 0; b < 4; b++) {
                        const __m256 qb = _mm256_set1_ps(q[b][d]);
                        dv[b][0] = _mm256_fmadd_ps(qb, k0, dv[b][0]);
                        dv[b][1] = _mm256_fmadd_ps(qb, k1, dv[b][1]);
                    }
                }
                for (int b = 0; b < nb; b++) {
                    const int a = a0 + b;
                    DESK_UNROLL
                    for (int h = 0; h < 2; h++) {
                        const __m256 sv = _mm256_blendv_ps(ninf, _mm256_mul_ps(dv[b][h], vscale), lanes_of(valid[a][h]));
                        _mm256_store_ps(kq[act[a]] + e0 + 8 * h, sv);
                        vmax[a] = _mm256_max_ps(vmax[a], sv);
                    }
                }
            }
        }
        for (int a = 0; a < na; a++) {
            const int g = act[a];
            _Alignas(32) float mv[8];
            _mm256_store_ps(mv, vmax[a]);
            float tmax = -INFINITY;
            for (int l = 0; l < 8; l++)
                if (mv[l] > tmax) tmax = mv[l];
            const float Mnew = fmaxf(M[g], tmax);
            if (Mnew > M[g]) {
                const float ms = expf(M[g] - Mnew);
                const __m256 vms = _mm256_set1_ps(ms);
                for (int d = 0; d < hv; d += 8) _mm256_storeu_ps(out[g] + d, _mm256_mul_ps(_mm256_loadu_ps(out[g] + d), vms));
                S[g] *= ms;
            }
            M[g] = Mnew;
            const __m256 vm = _mm256_set1_ps(Mnew);
            double sum = 0.0;
            for (int c = 0; c < ATTN_TILE; c += 16) {
                const __m256 lo = vexpf8(_mm256_sub_ps(_mm256_load_ps(kq[g] + c), vm));
                const __m256 hi = vexpf8(_mm256_sub_ps(_mm256_load_ps(kq[g] + c + 8), vm));
                _mm256_store_ps(kq[g] + c, lo);
                _mm256_store_ps(kq[g] + c + 8, hi);
                sum += (double)hsum16_ps(lo, hi);
            }
            S[g] = (float)((double)S[g] + sum);
        }
        /* V: 16 columns of 8 rows' accumulators in registers while the
         * tile's keys pass; a zero weight adds nothing (as the reference),
         * and a key no row of the 8 sees is not read. */
        for (int a0 = 0; a0 < na; a0 += 8) {
            const int nb = na - a0 < 8 ? na - a0 : 8;
            int klo = INT_MAX, khi = -1;
            for (int b = 0; b < nb; b++) {
                const desk_attn_row *rb = &r[act[a0 + b]];
                if (rb->lo < klo) klo = rb->lo;
                if (rb->hi > khi) khi = rb->hi;
            }
            if (klo < t0) klo = t0;
            if (khi > t0 + ATTN_TILE - 1) khi = t0 + ATTN_TILE - 1;
            for (int d0 = 0; d0 < hv; d0 += 16) {
                const bool two = d0 + 16 <= hv;
                __m256 acc[8][2];
                DESK_UNROLL
                for (int b = 0; b < 8; b++) {
                    float *o = out[act[a0 + (b < nb ? b : 0)]] + d0;
                    acc[b][0] = b < nb ? _mm256_loadu_ps(o) : _mm256_setzero_ps();
                    acc[b][1] = b < nb && two ? _mm256_loadu_ps(o + 8) : _mm256_setzero_ps();
                }
                for (int s = klo; s <= khi; s++) {
                    const int e = s - t0;
                    const desk_f16 *v = V + (size_t)s * vs + d0;
                    const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v));
                    const __m256 v1 = two ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8))) : _mm256_setzero_ps();
                    DESK_UNROLL
                    for (int b = 0; b < 8; b++) {
                        if (b >= nb) break;
                        const float w = kq[act[a0 + b]][e];
                        if (w == 0.0f) continue;
                        acc[b][0] = _mm256_fmadd_ps(_mm256_set1_ps(w), v0, acc[b][0]);
                        acc[b][1] = _mm256_fmadd_ps(_mm256_set1_ps(w), v1, acc[b][1]);
                    }
                }
                DESK_UNROLL
                for (int b = 0; b < 8; b++) {
                    if (b >= nb) break;
                    float *o = out[act[a0 + b]] + d0;
                    _mm256_storeu_ps(o, acc[b][0]);
                    if (two) _mm256_storeu_ps(o + 8, acc[b][1]);
                }
            }
        }
    }
    for (int g = 0; g < nr; g++) {
        const float inv = S[g] == 0.0f ? 0.0f : 1.0f / S[g];
        const __m256 vinv = _mm256_set1_ps(inv);
        for (int d = 0; d < hv; d += 8) _mm256_storeu_ps(out[g] + d, _mm256_mul_ps(_mm256_loadu_ps(out[g] + d), vinv));
    }
    return true;
}

/* F16 rounding of 8 floats (F16C's round to nearest even, as desk_f32_to_f16). */
DESK_INLINE __m256 f16_round8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

/* ggml_vec_dot_f16 of the F16-exact QH with the F16 row K (N elements). */
DESK_INLINE float dot_f16_x86(int n, const float *qh, const desk_f16 *k) {
    __m256 a[4][2];
    DESK_UNROLL
    for (int j = 0; j < 4; j++) a[j][0] = a[j][1] = _mm256_setzero_ps();
    const int np = n - n % 64;
    for (int i = 0; i < np; i += 64) {
        DESK_UNROLL
        for (int j = 0; j < 4; j++)
            DESK_UNROLL
            for (int h = 0; h < 2; h++) {
                const int o = i + 16 * j + 8 * h;
                a[j][h] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + o), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + o))),
                                          a[j][h]);
            }
    }
    DESK_UNROLL
    for (int h = 0; h < 2; h++) {
        a[0][h] = _mm256_add_ps(a[0][h], a[2][h]);
        a[1][h] = _mm256_add_ps(a[1][h], a[3][h]);
        a[0][h] = _mm256_add_ps(a[0][h], a[1][h]);
    }
    double s = (double)hsum16_ps(a[0][0], a[0][1]);
    for (int i = np; i < n; i++) s += (double)(qh[i] * h2f(k[i]));
    return (float)s;
}

/* ACC[0..HV) = ACC * MS + level * scale * VS over a Q8_0 row (F32
 * accumulator, fused as ggml_vec_mad_f32). */
DESK_INLINE void mad_q8_0_x86(int hv, float *acc, const desk_block_q8_0 *vb, float ms, float vs) {
    const __m256 vms = _mm256_set1_ps(ms), vvs = _mm256_set1_ps(vs);
    for (int d = 0; d < hv; d += 8) {
        const desk_block_q8_0 *b = vb + d / 32;
        const __m256 x = _mm256_mul_ps(
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + d % 32)))),
            _mm256_set1_ps(h2f(b->d)));
        __m256 a = _mm256_loadu_ps(acc + d);
        if (ms != 1.0f) a = _mm256_mul_ps(a, vms);
        _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(x, vvs, a));
    }
}

static bool attn_vec_x86(const desk_attn_row *r, float *out, float *acc) {
    const int hk = r->head_k, hv = r->head_v;
    if (hk % 8 || hv % 8) return false;
    const bool kq8 = r->k_type == DESK_TYPE_Q8_0, vq8 = r->v_type == DESK_TYPE_Q8_0;
    if ((kq8 && hk % 32) || (vq8 && hv % 32)) return false;
    float *qh = acc + hv;
    desk_block_q8_0 *qq = (desk_block_q8_0 *)(void *)qh;
    if (kq8)
        act_q8_0(r->q, qq, hk);
    else
        for (int d = 0; d < hk; d += 8) _mm256_storeu_ps(qh + d, f16_round8(_mm256_loadu_ps(r->q + d)));
    for (int d = 0; d < hv; d++) acc[d] = 0.0f;
    float M = -INFINITY, S = 0.0f;
    for (int s = r->lo; s <= r->hi; s++) {
        const unsigned char *kr = (const unsigned char *)r->k + (size_t)s * r->k_stride;
        const unsigned char *vr = (const unsigned char *)r->v + (size_t)s * r->v_stride;
        const float sc = (kq8 ? vd_q8_0(hk, kr, qq) : dot_f16_x86(hk, qh, (const desk_f16 *)(const void *)kr)) * r->scale;
        float ms = 1.0f, vs = 1.0f;
        if (sc > M) {
            const float old = M;
            M = sc;
            ms = expf(old - M);
        } else {
            vs = expf(sc - M);
        }
        if (vq8) {
            mad_q8_0_x86(hv, acc, (const desk_block_q8_0 *)(const void *)vr, ms, vs);
        } else if (ms != 1.0f) {
            const desk_f16 *v = (const desk_f16 *)(const void *)vr;
            const __m256 vms = _mm256_set1_ps(ms);
            for (int d = 0; d < hv; d += 8)
                _mm256_storeu_ps(acc + d,
                                 f16_round8(_mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d))),
                                                            _mm256_set1_ps(vs),
                                                            f16_round8(_mm256_mul_ps(_mm256_loadu_ps(acc + d), vms)))));
        } else {
            const desk_f16 *v = (const desk_f16 *)(const void *)vr;
            const __m256 vvs = _mm256_set1_ps(vs);
            for (int d = 0; d < hv; d += 8)
                _mm256_storeu_ps(acc + d, f16_round8(_mm256_fmadd_ps(
                                              _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d))), vvs,
                                              _mm256_loadu_ps(acc + d))));
        }
        S = fmaf(S, ms, vs);
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int d = 0; d < hv; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), vinv));
    return true;
}
