/*
 * simd_contract.h - the one statement of what the SIMD table files
 * (avx2.c, avxvnni.c, avx512.c, neon.c) and the textual includes they
 * share (*.inc) expect of each other.  It declares nothing: the .inc
 * files are written once and compiled once per instruction set, inside
 * the includer's translation unit and under its -m flags, so the contract
 * is a list of names that must exist at the point of inclusion.
 *
 * An x86 table file, in this order:
 *
 *   1. defines the three primitives, where the shared kernels differ
 *      between the x86 instruction sets (all on __m256i):
 *        dot_u8s8(acc, u, s)            acc + sums of 4 adjacent u8*s8
 *                                       products per int32 lane
 *        dot_u8s8_scaled(acc, u, s, k)  acc + sums of 2 adjacent (u8*s8
 *                                       pair sums times the int16 lanes
 *                                       of k)
 *        bits_to_bytes(bits, v)         byte j = v where bit j of BITS is
 *                                       set, else 0 (x86_bits.h has the
 *                                       form without mask registers)
 *      and the macros
 *        DESK_X86_VNNI   1 where dot_u8s8 takes any u8 (VNNI never
 *                        saturates), 0 where each u8*s8 pair sum must fit
 *                        int16 (maddubs).  Picks the Q8_0 dot (levels
 *                        biased by 128 or sign tricks) and where repacked
 *                        Q4_K applies its scales.
 *        DESK_X86_ZMM    1 where the file adds 512-bit batch kernels of
 *                        its own (avx512.c: step 3 defines xtile_q5_0),
 *                        0 where x86_body.inc's 256-bit xtile_q5_0 serves.
 *        DESK_X86_TABLE  identifier of the desk_kernel_table to define
 *                        (declared in kernels.h).
 *        DESK_X86_NAME   its name string, as DESK_ISA spells it.
 *
 *   2. includes x86_body.inc: the shared kernels over 256-bit vectors.
 *      It defines DESK_INLINE (static, always inlined: the type and
 *      row-count switches must fold away) and DESK_UNROLL (tile loops
 *      fully unrolled, so accumulator arrays stay in registers), the
 *      helpers (h2f, h4, hsum_ps, load32, chain, blk, legacy_*, XT_Q5_0,
 *      ROW_AHEAD, RP_AHEAD_*, ...), the dot kernels tile_entry.inc routes
 *      to, the activation quantizers act_q8_0/act_q8_1/act_q8_k, the 8-row
 *      repacked kernels rp_q4_0/rp_q4_k, expand_q5_0 and (DESK_X86_ZMM 0)
 *      xtile_q5_0.
 *
 *   3. optionally defines kernels of its own (avx512.c does), using the
 *      helpers of step 2, and announces them:
 *        DESK_TILE4(t)   a predicate on the weight type: kern_rows(t, n,
 *                        w, ws, nr, a, as, nc, o) computes the 4- and
 *                        8-row tiles (nr 4 or 8, nc 2..4) of such types.
 *        DESK_Q6K_WIDE   dot_q6k_wide (dot_q6k's signature) computes Q6_K
 *                        tiles with nc > 1.
 *        DESK_X86_WIDE   rp_q4_0_x2 and rp_q4_k_x2 (the table's rp_dot16,
 *                        Q4_0's also for a matrix-vector product) exist.
 *      A macro left undefined means the table lacks that kernel.
 *
 *   4. includes x86_table.inc: tile_entry.inc, then x86_ops.inc (the
 *      model's operations: attn_vec_x86, attn_tiled_x86, swiglu_x86,
 *      geglu_x86; they use h2f, act_q8_0 and vd_q8_0), then the table.
 *
 * neon.c defines DESK_INLINE, DESK_UNROLL and its own dot kernels, then
 * includes tile_entry.inc directly (no step 3 switches, so narrow tiles
 * only) and writes its table by hand.
 *
 * tile_entry.inc needs the dot kernels
 *   dot_legacy(t, n, w, ws, nr, act, as, nc, out)   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
 *   dot_q45k(five, n, w, ws, nr, act, as, nc, out)  Q4_K (five false), Q5_K
 *   dot_q6k(n, w, ws, nr, act, as, nc, out)          Q6_K
 *   dot_float(t, n, w, ws, nr, act, as, nc, out)    F32 F16 BF16
 * each for NR 1..4 weight rows (stride WS) times NC 1..4 activation rows
 * (stride AS), out[r * nc + c], in the order that makes them equal the
 * single-row dot output by output.  It defines kern, tile, the per-type
 * functions tile_<type> and vd_<type> (generated from its type list
 * DESK_SIMD_TYPES; <type> is the lower-case name) and the initialiser
 * lists DESK_ENTRY_VEC_DOT and DESK_ENTRY_DOT_TILE for the table.
 */
