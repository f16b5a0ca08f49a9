/*
 * isa.c - which instruction sets the kernels can use here, for callers
 * outside the library (desk info, benchmark reports): the public face of
 * the kernel tables' dispatch in kernels.c.
 */
#include "kernels/kernels.h"

const char *desk_isa_current(desk_err *err) {
    desk_kernels_init(err);
    return desk_kernels_isa();
}

size_t desk_isa_available(const char **names, size_t cap) {
    size_t n = 0;
    for (int i = 0; i < DESK_ISA_COUNT; i++)
        if (desk_kernels_get((desk_isa)i)) {
            if (n < cap) names[n] = desk_isa_name((desk_isa)i);
            n++;
        }
    return n;
}
