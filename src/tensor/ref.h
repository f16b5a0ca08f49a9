/*
 * ref.h - scalar reference routines of every tensor type, named
 * desk_ref_{dequant,quant,vec_dot}_<type>.  The type table (types.c) points
 * at them; see types.h for the contracts.
 */
#ifndef DESK_TENSOR_REF_H
#define DESK_TENSOR_REF_H

#include <stdint.h>

#endif
