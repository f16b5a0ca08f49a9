/*
 * blocks.h - the byte layout of every quantized block desk computes with.
 *
 * These are the layouts GGUF files store (ggml's), so weights are used in
 * place.  Sizes are checked at compile time against the type table.
 */
#ifndef DESK_TENSOR_BLOCKS_H
#define DESK_TENSOR_BLOCKS_H

#include <stdint.h>

#include "core/fp16.h"

#define DESK_QK 32   /* elements per legacy block */
#define DESK_QK_K 256 /* elements per K-quant super-block */
#define DESK_K_SCALE_SIZE 12

typedef struct { desk_f16 d; uint8_t qs[DESK_QK / 2]; } desk_block_q4_0;
typedef struct { desk_f16 d, m; uint8_t qs[DESK_QK / 2]; } desk_block_q4_1;
typedef struct { desk_f16 d; uint8_t qh[4]; uint8_t qs[DESK_QK / 2]; } desk_block_q5_0;
typedef struct { desk_f16 d, m; uint8_t qh[4]; uint8_t qs[DESK_QK / 2]; } desk_block_q5_1;
typedef struct { desk_f16 d; int8_t qs[DESK_QK]; } desk_block_q8_0;
typedef struct { desk_f16 d, s; int8_t qs[DESK_QK]; } desk_block_q8_1; /* s = d * sum(qs) */
typedef struct { desk_f16 d; uint8_t qs[DESK_QK / 2]; } desk_block_iq4_nl;

typedef struct {
    uint8_t scales[DESK_QK_K / 16]; /* 4-bit scale | 4-bit min */
    uint8_t qs[DESK_QK_K / 4];
    desk_f16 d, dmin;
} desk_block_q2_K;
typedef struct {
    uint8_t hmask[DESK_QK_K / 8];
    uint8_t qs[DESK_QK_K / 4];
    uint8_t scales[12];
    desk_f16 d;
} desk_block_q3_K;
typedef struct {
    desk_f16 d, dmin;
    uint8_t scales[DESK_K_SCALE_SIZE];
    uint8_t qs[DESK_QK_K / 2];
} desk_block_q4_K;
typedef struct {
    desk_f16 d, dmin;
    uint8_t scales[DESK_K_SCALE_SIZE];
    uint8_t qh[DESK_QK_K / 8];
    uint8_t qs[DESK_QK_K / 2];
} desk_block_q5_K;
typedef struct {
    uint8_t ql[DESK_QK_K / 2];
    uint8_t qh[DESK_QK_K / 4];
    int8_t scales[DESK_QK_K / 16];
    desk_f16 d;
} desk_block_q6_K;
typedef struct {
    float d;
    int8_t qs[DESK_QK_K];
    int16_t bsums[DESK_QK_K / 16]; /* sums of each group of 16 qs */
} desk_block_q8_K;
typedef struct {
    desk_f16 d;
    uint16_t scales_h;
    uint8_t scales_l[DESK_QK_K / 64];
    uint8_t qs[DESK_QK_K / 2];
} desk_block_iq4_xs;

_Static_assert(sizeof(desk_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(desk_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(desk_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(desk_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(desk_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(desk_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(desk_block_iq4_nl) == 18, "iq4_nl layout");
_Static_assert(sizeof(desk_block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(desk_block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(desk_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(desk_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(desk_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(desk_block_q8_K) == 292, "q8_K layout");
_Static_assert(sizeof(desk_block_iq4_xs) == 136, "iq4_xs layout");

/* The 8 six-bit scales SC and mins M of a Q4_K / Q5_K super-block from
 * its 12 packed bytes S: sub-blocks 0..3 in the low 6 bits of bytes 0..3
 * (scales) and 4..7 (mins); sub-blocks 4..7 as the nibbles of bytes 8..11
 * plus the top 2 bits of bytes 0..7.  One definition for the reference,
 * the kernels and the repacking. */
static inline void desk_k4_scales(const uint8_t s[DESK_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0xF) | (s[j] >> 6) << 4);
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

#endif
