/*
 * env.h - the machine-level measurements bench makes inside the library:
 * energy (Linux powercap/RAPL counters), peak resident memory reset, a
 * clock.  The report's machine record (desk_env) is public:
 * include/desk/bench.h.
 *
 * Ownership: all structs are caller-owned plain data.
 */
#ifndef DESK_BENCH_ENV_H
#define DESK_BENCH_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/bench.h"

/* Energy counters: the sum of the package domains'
 * /sys/class/powercap/intel-rapl:N/energy_uj, with each domain's wrap range.
 * desk_rapl_open returns false when none is readable. */
typedef struct desk_rapl {
    int n;
    char path[8][96];
    uint64_t max_uj[8];
    uint64_t start[8];
} desk_rapl;
bool desk_rapl_open(desk_rapl *r);
void desk_rapl_start(desk_rapl *r);
/* Joules since desk_rapl_start (one wrap per domain accounted for). */
double desk_rapl_joules(const desk_rapl *r);

/* Restarts the peak at the current RSS (Linux /proc/self/clear_refs "5"), so
 * that a model's peak excludes the bandwidth buffer and earlier models.
 * Returns false where the kernel does not allow it (the peak then keeps
 * counting from the start of the process). */
bool desk_peak_rss_reset(void);

/* Monotonic seconds. */
double desk_now(void);

#endif
