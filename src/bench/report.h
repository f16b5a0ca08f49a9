/*
 * report.h - the library's own view of the bench report code.  Its public
 * half is include/desk/bench.h.
 */
#ifndef DESK_BENCH_REPORT_H
#define DESK_BENCH_REPORT_H

#include "bench/env.h"
#include "bench/stats.h"
#include "core/arena.h"
#include "desk/bench.h"

#endif
