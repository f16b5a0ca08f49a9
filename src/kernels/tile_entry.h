/*
 * tile_entry.h - the per-type entry points every SIMD kernel table shares:
 * the dispatch from a weight type and a tile shape to the includer's
 * dot kernels, the tile_TYPE / vd_TYPE functions the table points at,
 * and the initialiser lists of them its table takes.  Included by
 * x86_body.h and neon.c after they define their kernels (dot_legacy,
 * dot_q45k, dot_q6k, dot_float) and DESK_INLINE/DESK_UNROLL;
 * not a header to include anywhere else.  Only the dot kernels differ
 * between instruction sets; this routing is the same for all of them.
 */
DESK_INLINE void kern(int t, int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    switch (t) {
    case DESK_TYPE_Q4_K: dot_q45k(false, n, w, ws, nr, a, as, nc, o); break;
    case DESK_TYPE_Q5_K: dot_q45k(true, n, w, ws, nr, a, as, nc, o); break;
    case DESK_TYPE_Q6_K:
#ifdef DESK_Q6K_WIDE
        if (nc > 1) {
            dot_q6k_wide(n, w, ws, nr, a, as, nc, o);
            break;
        }
#endif
        dot_q6k(n, w, ws, nr, a, as, nc, o);
        break;
    case DESK_TYPE_F32:
    case DESK_TYPE_F16:
    case DESK_TYPE_BF16: dot_float(t, n, w, ws, nr, a, as, nc, o); break;
    default: dot_legacy(t, n, w, ws, nr, a, as, nc, o); break;
    }
}

/* 2 weight rows x NC (2..4) activation rows. */
DESK_INLINE void tile2(int t, int64_t n, const void *w, size_t ws, const void *a, size_t as, int nc, float *o) {
    switch (nc) {
    case 2: kern(t, n, w, ws, 2, a, as, 2, o); return;
    case 3: kern(t, n, w, ws, 2, a, as, 3, o); return;
    default: kern(t, n, w, ws, 2, a, as, 4, o); return;
    }
}

/* The tile shapes with a kernel of their own (NR and NC constants after
 * inlining): 1..4 x 1, 1 x 2..4, 2 x 2..4, and, for the types DESK_TILE4
 * names where the includer defines it (with kern_rows), 4 x 2..4 and
 * 8 x 2..4 (the batch shape kernels.c uses).  Other shapes are made of
 * those: 4 rows at a time for one activation row, else 2 rows at a time
 * and a last single row. */
DESK_INLINE void tile(int t, int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    if (nc == 1) {
        for (int r = 0; r < nr; r += 4) {
            const void *wr = (const unsigned char *)w + (size_t)r * ws;
            switch (nr - r) {
            case 1: kern(t, n, wr, ws, 1, a, as, 1, o + r); break;
            case 2: kern(t, n, wr, ws, 2, a, as, 1, o + r); break;
            case 3: kern(t, n, wr, ws, 3, a, as, 1, o + r); break;
            default: kern(t, n, wr, ws, 4, a, as, 1, o + r); break;
            }
        }
        return;
    }
    int r = 0;
#ifdef DESK_TILE4
    if (DESK_TILE4(t)) {
        if (nr == 8) {
            kern_rows(t, n, w, ws, 8, a, as, nc, o);
            return;
        }
        if (nr >= 4) {
            kern_rows(t, n, w, ws, 4, a, as, nc, o);
            r = 4;
        }
    }
#endif
    for (; r + 2 <= nr; r += 2) tile2(t, n, (const unsigned char *)w + (size_t)r * ws, ws, a, as, nc, o + r * nc);
    if (r < nr) {
        const void *wr = (const unsigned char *)w + (size_t)r * ws;
        switch (nc) {
        case 2: kern(t, n, wr, ws, 1, a, as, 2, o + r * nc); break;
        case 3: kern(t, n, wr, ws, 1, a, as, 3, o + r * nc); break;
        default: kern(t, n, wr, ws, 1, a, as, 4, o + r * nc); break;
        }
    }
}

static void tile_f32(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_F32, n, w, ws, nr, a, as, nc, o);
}
static void tile_f16(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_F16, n, w, ws, nr, a, as, nc, o);
}
static void tile_bf16(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_BF16, n, w, ws, nr, a, as, nc, o);
}
static void tile_q4_0(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q4_0, n, w, ws, nr, a, as, nc, o);
}
static void tile_q4_1(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q4_1, n, w, ws, nr, a, as, nc, o);
}
static void tile_q5_0(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q5_0, n, w, ws, nr, a, as, nc, o);
}
static void tile_q5_1(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q5_1, n, w, ws, nr, a, as, nc, o);
}
static void tile_q8_0(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q8_0, n, w, ws, nr, a, as, nc, o);
}
static void tile_q4_k(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q4_K, n, w, ws, nr, a, as, nc, o);
}
static void tile_q5_k(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q5_K, n, w, ws, nr, a, as, nc, o);
}
static void tile_q6_k(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc, float *o) {
    tile(DESK_TYPE_Q6_K, n, w, ws, nr, a, as, nc, o);
}

/* The single dot of the type table's signature: the 1 x 1 tile. */
static float vd_f32(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_F32, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_f16(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_F16, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_bf16(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_BF16, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q4_0(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q4_0, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q4_1(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q4_1, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q5_0(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q5_0, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q5_1(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q5_1, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q8_0(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q8_0, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q4_k(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q4_K, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q5_k(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q5_K, n, w, 0, 1, a, 0, 1, &o);
    return o;
}
static float vd_q6_k(int64_t n, const void *w, const void *a) {
    float o;
    kern(DESK_TYPE_Q6_K, n, w, 0, 1, a, 0, 1, &o);
    return o;
}

/* The vec_dot and dot_tile entries of the includer's kernel table, by
 * weight type: `.vec_dot = DESK_ENTRY_VEC_DOT, .dot_tile =
 * DESK_ENTRY_DOT_TILE`.  One list beside the functions it names, so a
 * type added here reaches every SIMD table. */
#define DESK_ENTRY_VEC_DOT          \
    {                               \
        [DESK_TYPE_F32] = vd_f32,   \
        [DESK_TYPE_F16] = vd_f16,   \
        [DESK_TYPE_BF16] = vd_bf16, \
        [DESK_TYPE_Q4_0] = vd_q4_0, \
        [DESK_TYPE_Q4_1] = vd_q4_1, \
        [DESK_TYPE_Q5_0] = vd_q5_0, \
        [DESK_TYPE_Q5_1] = vd_q5_1, \
        [DESK_TYPE_Q8_0] = vd_q8_0, \
        [DESK_TYPE_Q4_K] = vd_q4_k, \
        [DESK_TYPE_Q5_K] = vd_q5_k, \
        [DESK_TYPE_Q6_K] = vd_q6_k, \
    }
#define DESK_ENTRY_DOT_TILE           \
    {                                 \
        [DESK_TYPE_F32] = tile_f32,   \
        [DESK_TYPE_F16] = tile_f16,   \
        [DESK_TYPE_BF16] = tile_bf16, \
        [DESK_TYPE_Q4_0] = tile_q4_0, \
        [DESK_TYPE_Q4_1] = tile_q4_1, \
        [DESK_TYPE_Q5_0] = tile_q5_0, \
        [DESK_TYPE_Q5_1] = tile_q5_1, \
        [DESK_TYPE_Q8_0] = tile_q8_0, \
        [DESK_TYPE_Q4_K] = tile_q4_k, \
        [DESK_TYPE_Q5_K] = tile_q5_k, \
        [DESK_TYPE_Q6_K] = tile_q6_k, \
    }
