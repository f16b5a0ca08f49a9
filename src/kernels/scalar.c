/*
 * scalar.c - the portable kernel table: every entry NULL, so the dispatch
 * in kernels.c uses the scalar references of src/tensor (the ground truth
 * the SIMD tables are tested against).
 */
#include "kernels/kernels.h"

const desk_kernel_table desk_kernels_scalar = {.name = "scalar"};
