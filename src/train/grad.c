/*
 * grad.c - forward and backward of the layer operations for training (see
 * grad.h for the conventions).  Written for clarity first, then for the
 * compiler's vectorizer: inner loops are plain runs over contiguous
 * floats, and the two hot ones (the input gradient through a frozen
 * matrix, and attention's dot products) are also built for AVX2+FMA and
 * AVX-512 and chosen at run time.
 */
#include "train/grad.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "tensor/types.h"

/* Builds the function for AVX-512 and AVX2 too, chosen by the loader by
 * the CPU's features (not its model name, which "arch=" clones test)
 * (the kernels' own files carry their ISA flags; this module is portable
 * C, so it asks for clones where the loops are hot). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang_analyzer__) && !defined(__SANITIZE_ADDRESS__)
#define TR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TR_CLONES
#endif

/* ---- RMSNorm ---- */

void desk_tr_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float r = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

/* y_i = x_i r w_i, r = (mean(x^2) + eps)^-1/2:
 * dx_j = r (g_j - x_j r^2 mean(g x)), g = dy * w. */
void desk_tr_rmsnorm_bwd(float *dx, const float *x, const float *w, const float *dy, int n, float eps) {
    double ss = 0.0, gx = 0.0;
    for (int i = 0; i < n; i++) {
        ss += (double)x[i] * x[i];
        gx += (double)dy[i] * w[i] * x[i];
    }
    const double r = 1.0 / sqrt(ss / n + eps);
    const float a = (float)r, b = (float)(r * r * r * gx / n);
    for (int i = 0; i < n; i++) dx[i] += a * dy[i] * w[i] - b * x[i];
}

/* ---- RoPE ---- */

static void rope_dir(float *x, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors,
                     float sign) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float ff = factors ? factors[i] : 1.0f;
        const float t = freq_scale * (theta / ff);
        const float cs = cosf(t), sn = sign * sinf(t);
        const int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * cs - x1 * sn;
        x[b] = x0 * sn + x1 * cs;
        theta *= theta_scale;
    }
}

void desk_tr_rope(float *x, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors) {
    rope_dir(x, n_rot, pos, base, freq_scale, neox, factors, 1.0f);
}

void desk_tr_rope_bwd(float *dx, int n_rot, int pos, float base, float freq_scale, bool neox, const float *factors) {
    rope_dir(dx, n_rot, pos, base, freq_scale, neox, factors, -1.0f);
}

/* ---- gated activations ---- */

void desk_tr_swiglu(float *y, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* silu(g) = g s, s = sigmoid(g); silu' = s (1 + g (1 - s)). */
void desk_tr_swiglu_bwd(float *dg, float *du, const float *g, const float *u, const float *dy, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-g[i]));
        du[i] += dy[i] * g[i] * s;
        dg[i] += dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
}

#define GELU_C 0.797884560802865355879892119868763737f /* sqrt(2/pi) */

void desk_tr_geglu(float *y, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = g[i];
        y[i] = 0.5f * x * (1.0f + tanhf(GELU_C * x * (1.0f + 0.044715f * x * x))) * u[i];
    }
}

/* gelu = x/2 (1 + tanh z), z = c (x + 0.044715 x^3):
 * gelu' = (1 + tanh z)/2 + x/2 (1 - tanh^2 z) c (1 + 3 * 0.044715 x^2). */
void desk_tr_geglu_bwd(float *dg, float *du, const float *g, const float *u, const float *dy, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = g[i];
        const float th = tanhf(GELU_C * x * (1.0f + 0.044715f * x * x));
        du[i] += dy[i] * 0.5f * x * (1.0f + th);
        const float d = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_C * (1.0f + 3.0f * 0.044715f * x * x);
        dg[i] += dy[i] * u[i] * d;
    }
}

/* ---- attention ---- */

static TR_CLONES float dot(const float *a, const float *b, int n) {
    float s[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += a[i + l] * b[i + l];
    float t = 0.0f;
    for (; i < n; i++) t += a[i] * b[i];
    for (int l = 0; l < 16; l++) t += s[l];
    return t;
}

static TR_CLONES void axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* Attention works on K and V transposed (one row per head dimension, T
 * positions long): a row's scores, its output, and every gradient are
 * then long runs over positions, which vectorize without the per-pair
 * horizontal sums of q.k dot products. */

/* S[j] = sum_d X[d] MT[d][j] for j < LEN (MT: rows of stride T). */
static TR_CLONES void rows_dot(float *s, const float *x, const float *mt, size_t T, int nd, int len) {
    for (int j = 0; j < len; j++) s[j] = 0.0f;
    int d = 0;
    for (; d + 4 <= nd; d += 4) {
        const float *m0 = mt + (size_t)d * T, *m1 = m0 + T, *m2 = m1 + T, *m3 = m2 + T;
        const float x0 = x[d], x1 = x[d + 1], x2 = x[d + 2], x3 = x[d + 3];
        for (int j = 0; j < len; j++) s[j] += x0 * m0[j] + x1 * m1[j] + x2 * m2[j] + x3 * m3[j];
    }
    for (; d < nd; d++) {
        const float *m0 = mt + (size_t)d * T;
        for (int j = 0; j < len; j++) s[j] += x[d] * m0[j];
    }
}

/* Y[d] += sum_j MT[d][j] P[j] for j < LEN. */
static TR_CLONES void rows_gemv(float *y, const float *mt, size_t T, int nd, const float *p, int len) {
    for (int d = 0; d < nd; d++) {
        const float *m = mt + (size_t)d * T;
        float acc[16] = {0};
        int j = 0;
        for (; j + 16 <= len; j += 16)
            for (int l = 0; l < 16; l++) acc[l] += m[j + l] * p[j + l];
        float t = 0.0f;
        for (; j < len; j++) t += m[j] * p[j];
        for (int l = 0; l < 16; l++) t += acc[l];
        y[d] += t;
    }
}

/* MT[d][j] += X[d] P[j] for j < LEN. */
static TR_CLONES void rows_outer(float *mt, size_t T, int nd, const float *x, const float *p, int len) {
    for (int d = 0; d < nd; d++) {
        float *m = mt + (size_t)d * T;
        const float a = x[d];
        for (int j = 0; j < len; j++) m[j] += a * p[j];
    }
}

/* DST[d][j] = SRC[j][d] (SRC rows of stride SS) for j < T, d < ND. */
static void transpose_in(float *dst, const float *src, size_t ss, int T, int nd) {
    for (int j = 0; j < T; j++)
        for (int d = 0; d < nd; d++) dst[(size_t)d * T + j] = src[(size_t)j * ss + d];
}

size_t desk_tr_attn_scratch(int head_k, int head_v, int T) {
    return (size_t)(2 * head_k + 2 * head_v + 2) * (size_t)T;
}

/* Softmax of row T's scores into P (positions lo..t; P points at lo's);
 * returns lo. */
static int attn_probs(const desk_tr_attn *a, const float *kt, int t, float *p) {
    const int lo = a->window > 0 && t - a->window + 1 > 0 ? t - a->window + 1 : 0, len = t - lo + 1;
    rows_dot(p, a->q + (size_t)t * a->qs, kt + lo, (size_t)a->T, a->head_k, len);
    float mx = -INFINITY;
    for (int j = 0; j < len; j++) {
        p[j] *= a->scale;
        if (p[j] > mx) mx = p[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < len; j++) sum += p[j] = expf(p[j] - mx);
    const float inv = 1.0f / sum;
    for (int j = 0; j < len; j++) p[j] *= inv;
    return lo;
}

void desk_tr_attn_head(const desk_tr_attn *a, float *out, float *scratch) {
    const size_t T = (size_t)a->T;
    float *kt = scratch, *vt = kt + (size_t)a->head_k * T, *p = vt + (size_t)a->head_v * T;
    transpose_in(kt, a->k, a->ks, a->T, a->head_k);
    transpose_in(vt, a->v, a->vs, a->T, a->head_v);
    for (int t = 0; t < a->T; t++) {
        const int lo = attn_probs(a, kt, t, p);
        float *o = out + (size_t)t * a->os;
        memset(o, 0, (size_t)a->head_v * sizeof *o);
        rows_gemv(o, vt + lo, T, a->head_v, p, t - lo + 1);
    }
}

/* out_t = sum_j p_j v_j, p = softmax(s), s_j = scale q_t.k_j:
 * dv_j += p_j dout_t; dp_j = dout_t.v_j; ds_j = p_j (dp_j - sum_l p_l dp_l);
 * dq_t += scale sum_j ds_j k_j; dk_j += scale ds_j q_t.
 * dK and dV gather transposed, and are added to DK, DV at the end. */
void desk_tr_attn_head_bwd(const desk_tr_attn *a, const float *dout, float *dq, float *dk, float *dv, float *scratch) {
    const size_t T = (size_t)a->T;
    const int hk = a->head_k, hv = a->head_v;
    float *kt = scratch, *vt = kt + (size_t)hk * T, *dkt = vt + (size_t)hv * T, *dvt = dkt + (size_t)hk * T;
    float *p = dvt + (size_t)hv * T, *dp = p + T;
    transpose_in(kt, a->k, a->ks, a->T, hk);
    transpose_in(vt, a->v, a->vs, a->T, hv);
    memset(dkt, 0, (size_t)(hk + hv) * T * sizeof *dkt);
    for (int t = 0; t < a->T; t++) {
        const int lo = attn_probs(a, kt, t, p), len = t - lo + 1;
        const float *g = dout + (size_t)t * a->os, *q = a->q + (size_t)t * a->qs;
        rows_dot(dp, g, vt + lo, T, hv, len);
        float pdp = 0.0f;
        for (int j = 0; j < len; j++) pdp += p[j] * dp[j];
        rows_outer(dvt + lo, T, hv, g, p, len);
        for (int j = 0; j < len; j++) dp[j] = p[j] * (dp[j] - pdp) * a->scale;
        rows_gemv(dq + (size_t)t * a->qs, kt + lo, T, hk, dp, len);
        rows_outer(dkt + lo, T, hk, q, dp, len);
    }
    for (int j = 0; j < a->T; j++) {
        float *dkj = dk + (size_t)j * a->ks, *dvj = dv + (size_t)j * a->vs;
        for (int d = 0; d < hk; d++) dkj[d] += dkt[(size_t)d * T + j];
        for (int d = 0; d < hv; d++) dvj[d] += dvt[(size_t)d * T + j];
    }
}

/* ---- cross-entropy ---- */

double desk_tr_xent(float *dlogits, const float *logits, int n_vocab, int target, float softcap, float weight) {
    double mx = -INFINITY;
    for (int i = 0; i < n_vocab; i++) {
        const double l = softcap > 0 ? softcap * tanh(logits[i] / softcap) : logits[i];
        if (l > mx) mx = l;
    }
    double sum = 0.0, lt = 0.0;
    for (int i = 0; i < n_vocab; i++) {
        const double l = softcap > 0 ? softcap * tanh(logits[i] / softcap) : logits[i];
        sum += exp(l - mx);
        if (i == target) lt = l;
    }
    const double lse = mx + log(sum);
    for (int i = 0; i < n_vocab; i++) {
        const double th = softcap > 0 ? tanh(logits[i] / softcap) : 0.0;
        const double l = softcap > 0 ? softcap * th : logits[i];
        double d = exp(l - lse) - (i == target ? 1.0 : 0.0);
        if (softcap > 0) d *= 1.0 - th * th;
        dlogits[i] = (float)(weight * d);
    }
    return lse - lt;
}

/* ---- LoRA ---- */

/* B's products take 32 outputs at a time with that slice of B transposed
 * on the stack (ranks up to 64), so each output sums over a vector lane,
 * not a rank-long dot product. */
#define LORA_OB 32
#define LORA_RMAX 64

static TR_CLONES void lora_b_slice(float *y, size_t ys, const float *t, int rank, int n, const float *bt, int w,
                                   float scale) {
    for (int i = 0; i < n; i++) {
        float acc[LORA_OB] = {0};
        const float *ti = t + (size_t)i * rank;
        for (int r = 0; r < rank; r++) {
            const float c = ti[r];
            for (int o = 0; o < LORA_OB; o++) acc[o] += c * bt[r * LORA_OB + o];
        }
        float *yi = y + (size_t)i * ys;
        for (int o = 0; o < w; o++) yi[o] += scale * acc[o];
    }
}

void desk_tr_lora_fwd(const desk_tr_lora *l, const float *x, int n, float *t, float *y) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * l->n_in;
        float *ti = t + (size_t)i * l->rank;
        for (int r = 0; r < l->rank; r++) ti[r] = dot(l->a + (size_t)r * l->n_in, xi, l->n_in);
    }
    if (l->rank > LORA_RMAX) {
        for (int i = 0; i < n; i++) {
            const float *ti = t + (size_t)i * l->rank;
            float *yi = y + (size_t)i * l->n_out;
            for (int o = 0; o < l->n_out; o++) yi[o] += l->scale * dot(l->b + (size_t)o * l->rank, ti, l->rank);
        }
        return;
    }
    float bt[LORA_RMAX * LORA_OB];
    for (int o0 = 0; o0 < l->n_out; o0 += LORA_OB) {
        const int w = l->n_out - o0 < LORA_OB ? l->n_out - o0 : LORA_OB;
        memset(bt, 0, sizeof bt);
        for (int o = 0; o < w; o++)
            for (int r = 0; r < l->rank; r++) bt[r * LORA_OB + o] = l->b[(size_t)(o0 + o) * l->rank + r];
        lora_b_slice(y + o0, (size_t)l->n_out, t, l->rank, n, bt, w, l->scale);
    }
}

/* y = s B t, t = A x: dB += s dy t^T; dt = s B^T dy; dA += dt x^T; dx += A^T dt. */
void desk_tr_lora_bwd(const desk_tr_lora *l, const float *x, const float *t, const float *dy, int n, float *da,
                      float *db, float *dx, float *dt) {
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * l->n_out, *ti = t + (size_t)i * l->rank, *xi = x + (size_t)i * l->n_in;
        float *dti = dt + (size_t)i * l->rank;
        memset(dti, 0, (size_t)l->rank * sizeof *dti);
        for (int o = 0; o < l->n_out; o++) {
            const float g = l->scale * dyi[o];
            if (g == 0.0f) continue;
            axpy(db + (size_t)o * l->rank, g, ti, l->rank);
            axpy(dti, g, l->b + (size_t)o * l->rank, l->rank);
        }
        for (int r = 0; r < l->rank; r++) {
            axpy(da + (size_t)r * l->n_in, dti[r], xi, l->n_in);
            if (dx) axpy(dx + (size_t)i * l->n_in, dti[r], l->a + (size_t)r * l->n_in, l->n_in);
        }
    }
}

/* ---- input gradient through a frozen matrix ---- */

/* Rows of W dequantized together: their part of the columns stays in L2
 * while every row of DY passes over it. */
#define DX_ROWS 16

typedef struct dx_job {
    const desk_mat *w;
    const float *dy;
    float *dx, *scratch;
    int n;
    int64_t blck;
} dx_job;

/* DX[i][k0..k0+kw) += sum_r DY[i][r0 + r] WB[r] for NR rows of WB: four
 * tokens by 32 columns at a time, so each loaded weight serves four
 * tokens and the sums stay in registers across the rows. */
static TR_CLONES void dx_block(float *dx, const float *dy, const float *wb, int nr, int64_t r0, int64_t rows,
                               int64_t cols, int64_t k0, int64_t kw, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *g0 = dy + (size_t)i * rows + r0, *g1 = g0 + rows, *g2 = g1 + rows, *g3 = g2 + rows;
        int64_t k = 0;
        for (; k + 32 <= kw; k += 32) {
            float a0[32], a1[32], a2[32], a3[32];
            float *d0 = dx + (size_t)i * cols + k0 + k, *d1 = d0 + cols, *d2 = d1 + cols, *d3 = d2 + cols;
            memcpy(a0, d0, sizeof a0);
            memcpy(a1, d1, sizeof a1);
            memcpy(a2, d2, sizeof a2);
            memcpy(a3, d3, sizeof a3);
            for (int r = 0; r < nr; r++) {
                const float *w = wb + (size_t)r * kw + k;
                const float c0 = g0[r], c1 = g1[r], c2 = g2[r], c3 = g3[r];
                for (int l = 0; l < 32; l++) {
                    a0[l] += c0 * w[l];
                    a1[l] += c1 * w[l];
                    a2[l] += c2 * w[l];
                    a3[l] += c3 * w[l];
                }
            }
            memcpy(d0, a0, sizeof a0);
            memcpy(d1, a1, sizeof a1);
            memcpy(d2, a2, sizeof a2);
            memcpy(d3, a3, sizeof a3);
        }
        for (int t = 0; t < 4; t++) {
            float *d = dx + (size_t)(i + t) * cols + k0;
            const float *g = dy + (size_t)(i + t) * rows + r0;
            for (int r = 0; r < nr; r++)
                for (int64_t kk = k; kk < kw; kk++) d[kk] += g[r] * wb[(size_t)r * kw + kk];
        }
    }
    for (; i < n; i++) {
        float *d = dx + (size_t)i * cols + k0;
        const float *g = dy + (size_t)i * rows + r0;
        for (int r = 0; r < nr; r++) {
            const float a = g[r];
            const float *w = wb + (size_t)r * kw;
            for (int64_t k = 0; k < kw; k++) d[k] += a * w[k];
        }
    }
}

static void dx_task(void *arg, int ith, int nth) {
    dx_job *j = arg;
    const desk_mat *w = j->w;
    const int64_t nblk = w->cols / j->blck;
    const int64_t b0 = nblk * ith / nth, b1 = nblk * (ith + 1) / nth;
    if (b0 == b1) return;
    const int64_t k0 = b0 * j->blck, kw = (b1 - b0) * j->blck;
    const size_t bsz = (size_t)desk_type_get(w->type)->type_size;
    float *wb = j->scratch + (size_t)ith * DX_ROWS * (size_t)w->cols;
    for (int64_t r0 = 0; r0 < w->rows; r0 += DX_ROWS) {
        const int nr = (int)(w->rows - r0 < DX_ROWS ? w->rows - r0 : DX_ROWS);
        for (int r = 0; r < nr; r++) {
            const unsigned char *src = (const unsigned char *)w->data + (size_t)(r0 + r) * w->row_bytes + (size_t)b0 * bsz;
            desk_dequantize_row(w->type, src, wb + (size_t)r * kw, kw, NULL);
        }
        dx_block(j->dx, j->dy, wb, nr, r0, w->rows, w->cols, k0, kw, j->n);
    }
}

size_t desk_tr_matmul_dx_scratch(const desk_mat *w, int n_threads) {
    return (size_t)n_threads * DX_ROWS * (size_t)w->cols;
}

desk_status desk_tr_matmul_dx(desk_threadpool *tp, const desk_mat *w, const float *dy, int n, float *dx, float *scratch,
                              desk_err *err) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || ti->blck <= 0 || w->cols % ti->blck)
        return desk_errf(err, DESK_E_UNSUPPORTED, "cannot take gradients through a matrix of type %u", (unsigned)w->type);
    dx_job j = {.w = w, .dy = dy, .dx = dx, .scratch = scratch, .n = n, .blck = ti->blck};
    desk_threadpool_run(tp, dx_task, &j);
    return DESK_OK;
}

/* ---- the plain product, for checking ---- */

typedef struct ref_job {
    const desk_mat *w;
    const float *x;
    float *y, *scratch;
    int n;
} ref_job;

static void ref_task(void *arg, int ith, int nth) {
    ref_job *j = arg;
    const desk_mat *w = j->w;
    float *row = j->scratch + (size_t)ith * DX_ROWS * (size_t)w->cols;
    for (int64_t r = ith; r < w->rows; r += nth) {
        desk_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)r * w->row_bytes, row, w->cols, NULL);
        for (int i = 0; i < j->n; i++) {
            const float *xi = j->x + (size_t)i * w->cols;
            double s = 0.0;
            for (int64_t k = 0; k < w->cols; k++) s += (double)row[k] * xi[k];
            j->y[(size_t)i * w->rows + r] = (float)s;
        }
    }
}

desk_status desk_tr_matmul_ref(desk_threadpool *tp, const desk_mat *w, const float *x, int n, float *y, float *scratch,
                               desk_err *err) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || ti->blck <= 0 || w->cols % ti->blck)
        return desk_errf(err, DESK_E_UNSUPPORTED, "cannot multiply by a matrix of type %u", (unsigned)w->type);
    ref_job j = {.w = w, .x = x, .y = y, .scratch = scratch, .n = n};
    desk_threadpool_run(tp, ref_task, &j);
    return DESK_OK;
}

/* ---- the frozen matrix transposed, for the input gradient ---- */

size_t desk_tr_transposed_size(const desk_mat *w) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || ti->blck <= 0 || w->cols % ti->blck || w->rows % 32 || w->rows <= 0) return 0;
    return (size_t)w->cols * desk_type_row_size(DESK_TYPE_Q8_0, w->rows);
}

typedef struct tp_job {
    const desk_mat *w;
    unsigned char *dst;
    float *scratch;
    size_t row_bytes;
} tp_job;

static void transpose_task(void *arg, int ith, int nth) {
    tp_job *j = arg;
    const desk_mat *w = j->w;
    float *sc = j->scratch + (size_t)ith * (32 * (size_t)w->cols + 32), *col = sc + 32 * (size_t)w->cols;
    for (int64_t c = ith; c < w->rows / 32; c += nth) {
        for (int r = 0; r < 32; r++)
            desk_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)(c * 32 + r) * w->row_bytes,
                                sc + (size_t)r * w->cols, w->cols, NULL);
        for (int64_t k = 0; k < w->cols; k++) {
            for (int r = 0; r < 32; r++) col[r] = sc[(size_t)r * w->cols + k];
            desk_quantize_row(DESK_TYPE_Q8_0, col, j->dst + (size_t)k * j->row_bytes + (size_t)c * 34, 32, NULL);
        }
    }
}

size_t desk_tr_transpose_scratch(const desk_mat *w, int n_threads) {
    return (size_t)n_threads * (32 * (size_t)w->cols + 32);
}

desk_status desk_tr_transpose(desk_threadpool *tp, const desk_mat *w, void *dst, float *scratch, desk_mat *wt,
                              desk_err *err) {
    if (!desk_tr_transposed_size(w))
        return desk_errf(err, DESK_E_ARG, "cannot transpose a %lld x %lld matrix of type %u", (long long)w->rows,
                         (long long)w->cols, (unsigned)w->type);
    tp_job j = {.w = w, .dst = dst, .scratch = scratch, .row_bytes = desk_type_row_size(DESK_TYPE_Q8_0, w->rows)};
    desk_threadpool_run(tp, transpose_task, &j);
    *wt = (desk_mat){.type = DESK_TYPE_Q8_0, .rows = w->cols, .cols = w->rows, .row_bytes = j.row_bytes, .data = dst};
    return DESK_OK;
}
