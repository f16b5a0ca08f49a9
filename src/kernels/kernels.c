/*
 * kernels.c - dispatch and work splitting of the matrix product (see
 * kernels.h).
 *
 * A product runs as two thread-pool jobs.  First the activations are
 * converted to the weight type's vec_dot_type (the threads split the
 * blocks of all rows evenly).  Then the threads take chunks of weight rows
 * from a shared counter, so a thread slowed by another process on its core
 * takes fewer; rows of one weight need no synchronisation.  Inside a chunk
 * every group of up to 4 activation rows passes over each weight row, so
 * a weight row is read once per 4 outputs and a chunk of rows stays in
 * cache while all groups pass.  Matrices of one type and width that take
 * the same input (a layer's Q, K and V; its gate and up) can share both
 * jobs (desk_matmul_many_with): the input is converted once and the
 * chunks of all of them are handed out from one counter, so a thread that
 * finishes one matrix's rows goes on to the next's instead of waiting.
 *
 * The table choice is the only process-wide state (made once, read-only
 * after): see desk_kernels_init.
 */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "core/fp16.h"
#include "tensor/blocks.h"

extern const desk_kernel_table desk_kernels_scalar;
#if defined(__x86_64__)
extern const desk_kernel_table desk_kernels_avx2;
extern const desk_kernel_table desk_kernels_avxvnni;
extern const desk_kernel_table desk_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const desk_kernel_table desk_kernels_neon;
#endif

/* Weight rows per chunk for prefill: 16 rows of a 2048-wide Q4 matrix are
 * 18 KiB, which stays in L1/L2 while every activation group passes. */
#define CHUNK_ROWS_BATCH 16
#define TILE_ACT 4 /* activation rows per tile */
#define PACK_MAX (160 * 1024) /* bytes of one packed chunk, on a thread's stack */
#define BATCH_MIN 4           /* activation rows from which the batch path pays */

const desk_kernel_table *desk_kernels_get(desk_isa isa) {
    desk_cpu cpu;
    desk_cpu_detect(&cpu);
    switch (isa) {
    case DESK_ISA_SCALAR: return &desk_kernels_scalar;
#if defined(__x86_64__)
    case DESK_ISA_AVX2: return desk_cpu_has_avx2(&cpu) ? &desk_kernels_avx2 : NULL;
    case DESK_ISA_AVXVNNI: return desk_cpu_has_avxvnni(&cpu) ? &desk_kernels_avxvnni : NULL;
    case DESK_ISA_AVX512: return desk_cpu_has_avx512(&cpu) ? &desk_kernels_avx512 : NULL;
#endif
#if defined(__aarch64__)
    case DESK_ISA_NEON: return desk_cpu_has_neon(&cpu) ? &desk_kernels_neon : NULL;
#endif
    default: return NULL;
    }
}

const char *desk_isa_name(desk_isa isa) {
    static const char *const names[DESK_ISA_COUNT] = {
        [DESK_ISA_SCALAR] = "scalar", [DESK_ISA_AVX2] = "avx2",     [DESK_ISA_AVXVNNI] = "avxvnni",
        [DESK_ISA_AVX512] = "avx512", [DESK_ISA_NEON] = "neon",
    };
    return (unsigned)isa < DESK_ISA_COUNT ? names[isa] : NULL;
}

/* The process's choice, written once under pthread_once. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const desk_kernel_table *g_table;
static char g_error[192];

static void choose_table(void) {
    const char *want = getenv("DESK_ISA");
    if (want && *want) {
        for (int i = 0; i < DESK_ISA_COUNT; i++) {
            const char *name = desk_isa_name((desk_isa)i);
            if (strcmp(want, name) != 0) continue;
            g_table = desk_kernels_get((desk_isa)i);
            /* Say which: another architecture's kernels, or a CPU without the instructions. */
            const bool x86 = i == DESK_ISA_AVX2 || i == DESK_ISA_AVXVNNI || i == DESK_ISA_AVX512;
#if defined(__x86_64__)
            const char *arch = "x86-64", *other = x86 || i == DESK_ISA_SCALAR ? NULL : "aarch64";
#elif defined(__aarch64__)
            const char *arch = "aarch64", *other = x86 ? "x86-64" : NULL;
#else
            const char *arch = "this", *other = i == DESK_ISA_SCALAR ? NULL : x86 ? "x86-64" : "aarch64";
#endif
            if (!g_table && other)
                snprintf(g_error, sizeof g_error, "DESK_ISA=%s: this %s build has no %s kernels (they are for %s)",
                         want, arch, name, other);
            else if (!g_table)
                snprintf(g_error, sizeof g_error, "DESK_ISA=%s: this CPU lacks the instructions of the %s kernels",
                         want, name);
            return;
        }
        int n = snprintf(g_error, sizeof g_error, "DESK_ISA=%.40s: unknown instruction set (", want);
        for (int i = 0; i < DESK_ISA_COUNT; i++)
            n += snprintf(g_error + n, sizeof g_error - (size_t)n, "%s%s", i ? ", " : "", desk_isa_name((desk_isa)i));
        snprintf(g_error + n, sizeof g_error - (size_t)n, ")");
        return;
    }
    for (int i = DESK_ISA_COUNT - 1; i >= 0 && !g_table; i--) g_table = desk_kernels_get((desk_isa)i);
}

desk_status desk_kernels_init(desk_err *err) {
    pthread_once(&g_once, choose_table);
    if (!g_table) return desk_errf(err, DESK_E_UNSUPPORTED, "%s", g_error);
    return DESK_OK;
}

desk_status desk_kernels_current(const desk_kernel_table **kt, desk_err *err) {
    desk_status s = desk_kernels_init(err);
    *kt = g_table;
    return s;
}

const char *desk_kernels_isa(void) {
    pthread_once(&g_once, choose_table);
    return g_table ? g_table->name : "none";
}

/* ---- activations ------------------------------------------------------ */

static desk_quant_fn act_quant_of(const desk_kernel_table *kt, const desk_type_info *wt) {
    if (kt->act_quant[wt->vec_dot_type]) return kt->act_quant[wt->vec_dot_type];
    return desk_type_get(wt->vec_dot_type)->act_quant;
}

desk_status desk_kernels_quantize_acts(const desk_kernel_table *kt, uint32_t wtype, const float *src,
                                       void *dst, int64_t n, desk_err *err) {
    const desk_type_info *wt = desk_type_get(wtype);
    if (!wt || !wt->vec_dot || !act_quant_of(kt, wt))
        return desk_errf(err, DESK_E_UNSUPPORTED, "desk has no dot product for type %s", desk_type_name(wtype));
    if (n < 0 || !desk_type_row_ok(wt->vec_dot_type, n) || !desk_type_row_ok(wtype, n))
        return desk_errf(err, DESK_E_ARG, "row of %lld elements is not a whole number of %s blocks",
                         (long long)n, wt->name);
    act_quant_of(kt, wt)(src, dst, n);
    return DESK_OK;
}

/* ---- the product ------------------------------------------------------ */

/* One matrix of a job and its output. */
typedef struct mm_part {
    const desk_mat *w;
    float *y;
    int64_t chunk; /* weight rows per chunk */
    int64_t first; /* the job's index of the part's first chunk */
} mm_part;

typedef struct mm_job {
    const desk_mat *w; /* the first part's: the type and width every part shares */
    desk_vec_dot_fn vec_dot;
    desk_dot_tile_fn dot_tile; /* NULL: vec_dot per pair */
    desk_expand_fn expand;     /* non-NULL: batch rows expanded per chunk for xtile */
    desk_dot_tile_fn xtile;
    desk_quant_fn act_quant;   /* NULL: activations used as they are (F32) */
    int64_t act_blck;          /* elements per activation block */
    const float *x;
    int64_t n;
    const unsigned char *act; /* n rows of act_row bytes */
    unsigned char *act_out;
    size_t act_row;
    desk_act_meta *meta_out; /* n rows of nb blocks, for the batch path */
    const desk_act_meta *meta;
    desk_packed_dot_fn rp_dot; /* non-NULL: the 8-row path */
    /* non-NULL: two groups at once where a chunk has them (adjacent in a
     * batch, one from each half of the chunk in a matrix-vector product) */
    desk_packed_dot2_fn rp_dot16;
    size_t group_bytes;        /* repacked bytes of one 8-row group */
    int tile_act;              /* activation rows per kernel call (1..TILE_ACT) */
    mm_part part[DESK_MATMUL_MAX];
    int nparts;
    int64_t nchunks;   /* over all parts */
    atomic_llong next; /* the next chunk's index */
} mm_job;

/* Claims the job's next chunk: its part in *P and its rows [*R0, *R1);
 * false when none is left.  Chunks never span two parts. */
static bool next_chunk(mm_job *j, const mm_part **p, int64_t *r0, int64_t *r1) {
    const int64_t q = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (q >= j->nchunks) return false;
    int k = 0;
    while (k + 1 < j->nparts && q >= j->part[k + 1].first) k++;
    *p = &j->part[k];
    *r0 = (q - (*p)->first) * (*p)->chunk;
    *r1 = *r0 + (*p)->chunk < (*p)->w->rows ? *r0 + (*p)->chunk : (*p)->w->rows;
    return true;
}

/* The metadata of CNT Q8_0 or Q8_1 blocks (see desk_act_meta). */
static void fill_meta(uint32_t atype, const unsigned char *blocks, int64_t cnt, desk_act_meta *m) {
    const bool q81 = atype == DESK_TYPE_Q8_1;
    const size_t bs = q81 ? sizeof(desk_block_q8_1) : sizeof(desk_block_q8_0);
    for (int64_t b = 0; b < cnt; b++) {
        const unsigned char *p = blocks + (size_t)b * bs;
        desk_f16 d, s = 0;
        memcpy(&d, p, 2);
        if (q81) memcpy(&s, p + 2, 2);
        const int8_t *q = (const int8_t *)(p + (q81 ? 4 : 2));
        int32_t sum = 0;
        for (int k = 0; k < DESK_QK; k++) sum += q[k];
        m[b] = (desk_act_meta){.d = desk_f16_to_f32(d), .s = desk_f16_to_f32(s), .sum = sum};
    }
}

static void quantize_task(void *p, int ith, int nth) {
    mm_job *j = p;
    const int64_t nb = j->w->cols / j->act_blck, total = nb * j->n;
    const int64_t u0 = total * ith / nth, u1 = total * (ith + 1) / nth;
    const size_t bbytes = j->act_row / (size_t)nb;
    for (int64_t u = u0; u < u1;) {
        const int64_t row = u / nb, b = u % nb;
        const int64_t cnt = (nb - b < u1 - u) ? nb - b : u1 - u;
        unsigned char *dst = j->act_out + (size_t)row * j->act_row + (size_t)b * bbytes;
        j->act_quant(j->x + row * j->w->cols + b * j->act_blck, dst, cnt * j->act_blck);
        if (j->meta_out) fill_meta(desk_type_get(j->w->type)->vec_dot_type, dst, cnt, j->meta_out + row * nb + b);
        u += cnt;
    }
}

/* Bytes of one row of W expanded (kernels.h: desk_expand_fn). */
static size_t xrow_bytes(const desk_mat *w) { return (size_t)(w->cols / DESK_QK) * sizeof(desk_block_q8_0); }

/* Rows R0..R1 against every activation row.  XBUF (PACK_MAX bytes) takes
 * the chunk's rows expanded where the job has an expander: once per chunk,
 * for all its groups of 8 rows and 2..4 activation rows. */
static void dot_chunk(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1, unsigned char *xbuf) {
    const desk_mat *w = p->w;
    const unsigned char *wd = w->data;
    float out[8 * TILE_ACT];
    const int64_t xrows = j->expand ? (r1 - r0) / 8 * 8 : 0; /* rows taken expanded */
    if (xrows) j->expand(w->cols, wd + (size_t)r0 * w->row_bytes, w->row_bytes, (int)xrows, xbuf);
    for (int64_t c = 0; c < j->n; c += j->tile_act) {
        const int nc = (int)(j->n - c < j->tile_act ? j->n - c : j->tile_act);
        const unsigned char *a = j->act + (size_t)c * j->act_row;
        float *yc = p->y + c * w->rows;
        if (!j->dot_tile) {
            for (int64_t r = r0; r < r1; r++)
                for (int i = 0; i < nc; i++)
                    yc[i * w->rows + r] = j->vec_dot(w->cols, wd + (size_t)r * w->row_bytes, a + (size_t)i * j->act_row);
            continue;
        }
        if (nc == 1) {
            /* A matrix-vector product reads the chunk as two sequential
             * streams, its first and second halves, a row of each at a
             * time: each row's sum is one chain of dependent fmas, whose
             * latency caps one row at a time below what a core can read,
             * and two streams far apart keep the hardware prefetcher on
             * where two adjacent rows at a time, or more streams, read
             * DRAM at a fraction of the rate (Q6_K, whose chains end every
             * super-block, gains nothing; the figures: docs/PERFORMANCE.md,
             * "Design notes"). */
            const int64_t half = (r1 - r0) / 2;
            for (int64_t r = r0; r < r0 + half; r++) {
                j->dot_tile(w->cols, wd + (size_t)r * w->row_bytes, (size_t)half * w->row_bytes, 2, a, j->act_row, 1,
                            out);
                yc[r] = out[0];
                yc[r + half] = out[1];
            }
            if ((r1 - r0) % 2)
                j->dot_tile(w->cols, wd + (size_t)(r1 - 1) * w->row_bytes, w->row_bytes, 1, a, j->act_row, 1,
                            yc + r1 - 1);
            continue;
        }
        /* A batch takes 8 weight rows x 4 activation rows (tile_entry.inc:
         * 2-row tiles for the types without a wider kernel). */
        for (int64_t r = r0; r < r1; r += 8) {
            const int nr = (int)(r1 - r < 8 ? r1 - r : 8);
            if (r - r0 < xrows)
                j->xtile(w->cols, xbuf + (size_t)(r - r0) * xrow_bytes(w), xrow_bytes(w), nr, a, j->act_row, nc, out);
            else
                j->dot_tile(w->cols, wd + (size_t)r * w->row_bytes, w->row_bytes, nr, a, j->act_row, nc, out);
            for (int ri = 0; ri < nr; ri++)
                for (int ci = 0; ci < nc; ci++) yc[ci * w->rows + r + ri] = out[ri * nc + ci];
        }
    }
}

/* ---- the repacked layout (kernels.h) ----------------------------------- */

/* Whether the 8-row path sums in llama.cpp's order for weights of type T
 * with ROWS rows (the model must reproduce its logits exactly).  Its
 * 8-row interleave loses the lanes of the single-row dots, so for most
 * types products take the tiles, which sum exactly as llama.cpp does.
 * Q4_0 and Q4_K with rows a multiple of 8 are the exception: llama.cpp
 * repacks those weights at load (its q4_0_8x8 and q4_K_8x8 layouts) and
 * its gemm and gemv sum each output as the 8-row kernels do: Q4_0 one
 * float per output, block after block, each block's exact integer dot
 * converted and fused with d_w * d_a; Q4_K per super-block (gemv) or per
 * pair of sub-blocks (gemm, groups of 4 activation rows). */
static bool packed_order_exact(uint32_t t, int64_t rows) {
    return (t == DESK_TYPE_Q4_0 || t == DESK_TYPE_Q4_K) && rows > 0 && rows % DESK_PACK_ROWS == 0;
}

static size_t rp_block_bytes(uint32_t t) { return t == DESK_TYPE_Q4_0 ? DESK_RP_Q4_0_BYTES : DESK_RP_Q4_K_BYTES; }

static size_t rp_group_bytes(const desk_mat *w) {
    return (size_t)(w->cols / desk_type_get(w->type)->blck) * rp_block_bytes(w->type);
}

bool desk_kernels_repacks(const desk_kernel_table *kt, uint32_t type) {
    return kt && (type == DESK_TYPE_Q4_0 || type == DESK_TYPE_Q4_K) && kt->rp_dot[type];
}

size_t desk_repack_size(const desk_mat *w) {
    if (!packed_order_exact(w->type, w->rows) || w->cols <= 0 || !desk_type_row_ok(w->type, w->cols)) return 0;
    return (size_t)(w->rows / DESK_PACK_ROWS) * rp_group_bytes(w);
}

/* Group of 8 rows at SRC (stride ROW_BYTES) into DST, in the layout of
 * kernels.h: only bytes move (4 at a time), so every integer dot and
 * every scale stays what it was. */
static void repack_group(uint32_t t, int64_t nblocks, const unsigned char *src, size_t row_bytes, unsigned char *dst) {
    for (int64_t i = 0; i < nblocks; i++) {
        if (t == DESK_TYPE_Q4_0) {
            unsigned char *o = dst + (size_t)i * DESK_RP_Q4_0_BYTES;
            for (int r = 0; r < DESK_PACK_ROWS; r++) {
                const desk_block_q4_0 *b = (const desk_block_q4_0 *)(src + (size_t)r * row_bytes) + i;
                memcpy(o + 2 * r, &b->d, 2);
                for (int v = 0; v < 4; v++) memcpy(o + 16 + 32 * v + 4 * r, b->qs + 4 * v, 4);
            }
        } else {
            unsigned char *o = dst + (size_t)i * DESK_RP_Q4_K_BYTES;
            for (int r = 0; r < DESK_PACK_ROWS; r++) {
                const desk_block_q4_K *b = (const desk_block_q4_K *)(src + (size_t)r * row_bytes) + i;
                for (int k = 0; k < 4; k++)
                    for (int v = 0; v < 8; v++) memcpy(o + 256 * k + 32 * v + 4 * r, b->qs + 32 * k + 4 * v, 4);
                uint8_t sc[8], m[8];
                desk_k4_scales(b->scales, sc, m);
                for (int j = 0; j < 8; j++) {
                    o[1024 + 8 * j + r] = sc[j];
                    o[1088 + 8 * j + r] = m[j];
                }
                memcpy(o + 1152 + 2 * r, &b->d, 2);
                memcpy(o + 1168 + 2 * r, &b->dmin, 2);
            }
        }
    }
}

desk_status desk_repack(const desk_mat *w, void *dst, desk_err *err) {
    if (!desk_repack_size(w))
        return desk_errf(err, DESK_E_ARG, "repack: a %s matrix of %lld rows is not repacked (Q4_0 or Q4_K, rows a multiple of 8)",
                         desk_type_name(w->type), (long long)w->rows);
    const size_t gb = rp_group_bytes(w);
    const int64_t nblocks = w->cols / desk_type_get(w->type)->blck;
    for (int64_t g = 0; g < w->rows / DESK_PACK_ROWS; g++)
        repack_group(w->type, nblocks, (const unsigned char *)w->data + (size_t)(g * DESK_PACK_ROWS) * w->row_bytes,
                     w->row_bytes, (unsigned char *)dst + (size_t)g * gb);
    return DESK_OK;
}

/* The 8-row path: the threads take chunks of 8-row groups; each group is
 * the one repacked at load, or is repacked here onto this thread's stack
 * (at most PACK_MAX bytes: wider weights take the tiles), and every group
 * of 4 activation rows passes over it (the rest, 1..3 rows, together).
 * Where the table has rp_dot16, chunks of a batch's weights repacked at
 * load are 16 rows, taken two groups at a time (an odd last group on its
 * own); where it says rp_dot16_gemv, a matrix-vector product takes a group
 * from each half of its chunk at a time (two streams per core, as
 * dot_chunk reads rows; Q4_K's 16-row kernel was slower so, and reads one
 * group at a time: docs/PERFORMANCE.md, "Design notes"). */
static void packed_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    (void)ith;
    (void)nth;
    const desk_mat *w0 = j->w;
    _Alignas(64) unsigned char pack[PACK_MAX];
    float out[2 * DESK_PACK_ROWS * TILE_ACT];
    const int64_t nb = w0->cols / DESK_QK; /* metadata blocks per row (Q4_0) */
    const int64_t nblocks = w0->cols / desk_type_get(w0->type)->blck;
    const mm_part *p;
    int64_t r0, r1;
    while (next_chunk(j, &p, &r0, &r1)) {
        const desk_mat *w = p->w;
        const unsigned char *rp = w->packed;
        int64_t g0 = r0;
        if (j->rp_dot16 && j->n == 1) {
            /* Group g of the chunk's first half with group g of its second:
             * two streams, as dot_chunk reads rows. */
            const int64_t half = (r1 - r0) / (2 * DESK_PACK_ROWS);
            for (int64_t g = 0; g < half; g++) {
                const int64_t ga = r0 + g * DESK_PACK_ROWS, gb = ga + half * DESK_PACK_ROWS;
                j->rp_dot16(w->cols, rp + (size_t)(ga / DESK_PACK_ROWS) * j->group_bytes, (size_t)half * j->group_bytes,
                            j->act, j->act_row, j->meta, (size_t)nb, 1, out);
                memcpy(p->y + ga, out, DESK_PACK_ROWS * sizeof(float));
                memcpy(p->y + gb, out + DESK_PACK_ROWS, DESK_PACK_ROWS * sizeof(float));
            }
            g0 = r0 + 2 * half * DESK_PACK_ROWS;
        }
        for (; j->rp_dot16 && j->n > 1 && g0 + 2 * DESK_PACK_ROWS <= r1; g0 += 2 * DESK_PACK_ROWS) {
            const unsigned char *pk = rp + (size_t)(g0 / DESK_PACK_ROWS) * j->group_bytes;
            for (int64_t c = 0; c < j->n; c += j->tile_act) {
                const int nc = (int)(j->n - c < j->tile_act ? j->n - c : j->tile_act);
                j->rp_dot16(w->cols, pk, j->group_bytes, j->act + (size_t)c * j->act_row, j->act_row,
                            j->meta ? j->meta + c * nb : NULL, (size_t)nb, nc, out);
                for (int ci = 0; ci < nc; ci++)
                    memcpy(p->y + (c + ci) * w->rows + g0, out + ci * 2 * DESK_PACK_ROWS, 2 * DESK_PACK_ROWS * sizeof(float));
            }
        }
        for (; g0 < r1; g0 += DESK_PACK_ROWS) {
            const unsigned char *pk = pack;
            if (rp)
                pk = rp + (size_t)(g0 / DESK_PACK_ROWS) * j->group_bytes;
            else
                repack_group(w->type, nblocks, (const unsigned char *)w->data + (size_t)g0 * w->row_bytes, w->row_bytes,
                             pack);
            for (int64_t c = 0; c < j->n; c += j->tile_act) {
                const int nc = (int)(j->n - c < j->tile_act ? j->n - c : j->tile_act);
                j->rp_dot(w->cols, pk, j->act + (size_t)c * j->act_row, j->act_row, j->meta ? j->meta + c * nb : NULL,
                          (size_t)nb, nc, out);
                for (int ci = 0; ci < nc; ci++)
                    for (int ri = 0; ri < DESK_PACK_ROWS; ri++) p->y[(c + ci) * w->rows + g0 + ri] = out[ci * DESK_PACK_ROWS + ri];
            }
        }
    }
}

static void dot_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    (void)ith;
    (void)nth;
    _Alignas(64) unsigned char xbuf[PACK_MAX];
    const mm_part *p;
    int64_t r0, r1;
    while (next_chunk(j, &p, &r0, &r1)) dot_chunk(j, p, r0, r1, xbuf);
}

static size_t act_row_bytes(const desk_mat *w) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti) return 0;
    return desk_type_row_size(ti->vec_dot_type, w->cols);
}

/* Bytes of activation metadata for N rows (the 8-row path's Q4_0 only). */
static size_t meta_bytes(const desk_mat *w, int64_t n) {
    if (!packed_order_exact(w->type, w->rows) || w->type != DESK_TYPE_Q4_0 || n < 1) return 0;
    return (size_t)(w->cols / DESK_QK) * (size_t)n * sizeof(desk_act_meta);
}

size_t desk_matmul_scratch_size(const desk_mat *w, int64_t n) {
    return act_row_bytes(w) * (size_t)(n > 0 ? n : 0) + 64 + meta_bytes(w, n) + 64;
}

/* Whether B can join a job whose first matrix is A: the same type and
 * width (one conversion of the input serves both) and the same path
 * (both repacked at load or neither; both in llama.cpp's packed order or
 * neither). */
static bool same_job(const desk_mat *a, const desk_mat *b) {
    return a->type == b->type && a->cols == b->cols && !a->packed == !b->packed &&
           packed_order_exact(a->type, a->rows) == packed_order_exact(b->type, b->rows);
}

static desk_status check_mat(const desk_mat *w, int64_t n, desk_err *err) {
    const desk_type_info *ti = desk_type_get(w->type);
    if (!ti || !ti->vec_dot)
        return desk_errf(err, DESK_E_UNSUPPORTED, "no matrix kernel for tensor type %s", desk_type_name(w->type));
    if (!desk_type_row_ok(w->type, w->cols) || !desk_type_row_ok(ti->vec_dot_type, w->cols))
        return desk_errf(err, DESK_E_ARG, "matmul: %lld columns are not whole %s blocks", (long long)w->cols,
                         ti->name);
    if (n < 0 || w->rows < 0)
        return desk_errf(err, DESK_E_ARG, "matmul: negative size (%lld inputs, %lld rows)", (long long)n,
                         (long long)w->rows);
    return DESK_OK;
}

/* The products of the K matrices W[0..K) (checked, same_job, rows > 0)
 * with X as one pool job. */
static desk_status run_job(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *const *ws,
                           float *const *ys, int k, const float *x, int64_t n, void *scratch, unsigned flags,
                           desk_err *err) {
    const desk_mat *w = ws[0];
    const desk_type_info *ti = desk_type_get(w->type);
    const desk_type_info *at = desk_type_get(ti->vec_dot_type);
    mm_job j = {.w = w,
                .vec_dot = kt->vec_dot[w->type] ? kt->vec_dot[w->type] : ti->vec_dot,
                .dot_tile = kt->dot_tile[w->type],
                .act_blck = at->blck,
                .x = x,
                .n = n,
                .act_row = act_row_bytes(w),
                .tile_act = TILE_ACT,
                .nparts = k};
    const bool row_order = flags & DESK_MM_ROW_ORDER;
    /* Q4_K's kernels sum a group of 4 activation rows as llama.cpp's gemm
     * does, per pair of sub-blocks; 1..3 rows as its gemv, per
     * super-block.  Taking at most 3 rows at a time keeps every row in
     * the gemv's order. */
    if (row_order && w->type == DESK_TYPE_Q4_K) j.tile_act = 3;
    const int nth = desk_threadpool_size(tp);
    /* The 8-row path: weights repacked at load, for every N (a matrix-
     * vector product is llama.cpp's gemv); else repacked per call for a
     * batch, where that pays.  The tiles otherwise. */
    const bool rp_ok = packed_order_exact(w->type, w->rows) && desk_kernels_repacks(kt, w->type);
    /* In row order only weights repacked at load take it (then for every
     * N): repacking per call would sum a batch in another order than the
     * tiles sum a lone row. */
    if (rp_ok && (w->packed || (!row_order && n >= BATCH_MIN && rp_group_bytes(w) <= PACK_MAX))) {
        j.rp_dot = kt->rp_dot[w->type];
        j.group_bytes = rp_group_bytes(w);
        /* Two groups per call where the table takes them together (their
         * rows repacked at load): adjacent ones in a batch, a chunk's two
         * halves in a matrix-vector product where that pays. */
        if (w->packed && (n > 1 || kt->rp_dot16_gemv[w->type])) j.rp_dot16 = kt->rp_dot16[w->type];
    }
    if (n > 1) {
        /* Expanded once per chunk where the table has it and a chunk fits. */
        if (!j.rp_dot && n >= BATCH_MIN && j.dot_tile && kt->expand[w->type] && kt->xtile[w->type] &&
            (size_t)CHUNK_ROWS_BATCH * xrow_bytes(w) <= PACK_MAX) {
            j.expand = kt->expand[w->type];
            j.xtile = kt->xtile[w->type];
        }
    }
    for (int i = 0; i < k; i++) {
        mm_part *p = &j.part[i];
        *p = (mm_part){.w = ws[i], .y = ys[i], .first = j.nchunks};
        if (n == 1) {
            /* Two chunks per thread: a core slowed by another process
             * gives up its second, and chunks stay long (each is two
             * streams that take a few KiB to reach full rate, and the
             * last chunk's thread finishes alone; four or eight chunks
             * per thread decoded slower: docs/PERFORMANCE.md, "Design
             * notes"). */
            p->chunk = (p->w->rows + 2 * nth - 1) / (2 * nth);
            if (p->chunk < 8) p->chunk = 8;
            if (j.rp_dot) p->chunk = (p->chunk + DESK_PACK_ROWS - 1) / DESK_PACK_ROWS * DESK_PACK_ROWS;
        } else {
            p->chunk = j.rp_dot16 ? 2 * DESK_PACK_ROWS : j.rp_dot ? DESK_PACK_ROWS : CHUNK_ROWS_BATCH;
        }
        j.nchunks += (p->w->rows + p->chunk - 1) / p->chunk;
    }
    atomic_init(&j.next, 0);
    if (ti->vec_dot_type == DESK_TYPE_F32) {
        j.act = (const unsigned char *)x;
    } else {
        j.act_quant = act_quant_of(kt, ti);
        if (!j.act_quant)
            return desk_errf(err, DESK_E_UNSUPPORTED, "cannot convert activations to %s", at->name);
        j.act_out = scratch;
        j.act = scratch;
        if (j.rp_dot && meta_bytes(w, n)) {
            /* The metadata follows the activations, 64-byte aligned. */
            uintptr_t mp = (uintptr_t)scratch + j.act_row * (size_t)n;
            mp = (mp + 63) & ~(uintptr_t)63;
            j.meta_out = (desk_act_meta *)mp;
            j.meta = j.meta_out;
        }
        /* One row is quicker to convert here than to hand out (a pool
         * round trip costs more than converting a few thousand values). */
        if (n == 1)
            quantize_task(&j, 0, 1);
        else
            desk_threadpool_run(tp, quantize_task, &j);
    }
    desk_threadpool_run(tp, j.rp_dot ? packed_task : dot_task, &j);
    return DESK_OK;
}

desk_status desk_matmul_many_ex(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *const *w,
                                float *const *y, int k, const float *x, int64_t n, void *scratch, unsigned flags,
                                desk_err *err) {
    if (k < 1 || k > DESK_MATMUL_MAX)
        return desk_errf(err, DESK_E_ARG, "matmul: %d matrices (1..%d)", k, DESK_MATMUL_MAX);
    for (int i = 0; i < k; i++) {
        desk_status s = check_mat(w[i], n, err);
        if (s) return s;
        if (w[i]->cols != w[0]->cols)
            return desk_errf(err, DESK_E_ARG, "matmul: matrix %d has %lld columns, matrix 0 %lld", i,
                             (long long)w[i]->cols, (long long)w[0]->cols);
    }
    if (n == 0) return DESK_OK;
    const desk_mat *job_w[DESK_MATMUL_MAX];
    float *job_y[DESK_MATMUL_MAX];
    for (int i = 0; i < k;) {
        int m = 0;
        for (; i < k && (m == 0 || same_job(job_w[0], w[i])); i++) {
            if (w[i]->rows == 0) continue;
            job_w[m] = w[i];
            job_y[m++] = y[i];
        }
        if (m) {
            desk_status s = run_job(kt, tp, job_w, job_y, m, x, n, scratch, flags, err);
            if (s) return s;
        }
    }
    return DESK_OK;
}

desk_status desk_matmul_many_with(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *const *w,
                                  float *const *y, int k, const float *x, int64_t n, void *scratch, desk_err *err) {
    return desk_matmul_many_ex(kt, tp, w, y, k, x, n, scratch, 0, err);
}

desk_status desk_matmul_with(const desk_kernel_table *kt, desk_threadpool *tp, const desk_mat *w,
                             const float *x, int64_t n, float *y, void *scratch, desk_err *err) {
    return desk_matmul_many_with(kt, tp, &w, &y, 1, x, n, scratch, err);
}

desk_status desk_matmul(desk_threadpool *tp, const desk_mat *w, const float *x, int64_t n, float *y,
                        void *scratch, desk_err *err) {
    desk_status s = desk_kernels_init(err);
    if (s) return s;
    return desk_matmul_with(g_table, tp, w, x, n, y, scratch, err);
}

desk_status desk_get_row(const desk_mat *w, int64_t r, float *dst, desk_err *err) {
    if (r < 0 || r >= w->rows)
        return desk_errf(err, DESK_E_RANGE, "row %lld is out of range [0, %lld)", (long long)r, (long long)w->rows);
    return desk_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)r * w->row_bytes, dst, w->cols,
                               err);
}
