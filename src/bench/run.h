/*
 * run.h - the library's own view of the bench run code.  Its public
 * half is include/desk/bench.h.
 */
#ifndef DESK_BENCH_RUN_H
#define DESK_BENCH_RUN_H

#include "bench/env.h"
#include "bench/stats.h"
#include "core/arena.h"
#include "desk/bench.h"

#endif
