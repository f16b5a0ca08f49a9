/*
 * ref.h - scalar reference routines of every tensor type (filled in by the
 * tensor-types work; see types.h for the contracts).
 */
#ifndef DESK_TENSOR_REF_H
#define DESK_TENSOR_REF_H

#include <stdint.h>

#endif
