/*
 * bench_url.h - what `desk bench` (cmd_bench.c) and `desk bench --url`
 * (cmd_bench_url.c) share: the report's output flags and writers.
 */
#ifndef DESK_CLI_BENCH_URL_H
#define DESK_CLI_BENCH_URL_H

#include "desk/bench.h"

typedef enum fmt { FMT_MD, FMT_JSON, FMT_CSV } fmt;

/* Where and how a report goes: every bench mode takes the same flags
 * (--json | --csv | --md, -o FILE, --html FILE). */
typedef struct output {
    fmt f;
    const char *path; /* NULL: stdout */
    const char *html; /* also an HTML page there, or NULL */
} output;

/* Parses argv[*I] when it is an output flag (moving *I past a value):
 * 1 when it was one, 0 when not, -1 after reporting a missing value. */
int bench_output_flag(int argc, char **argv, int *i, output *o);
/* Refuses unusable output paths before any work (0, or the exit status
 * after a one-line error): each writable, none an input nor the other. */
/* Then confines the process (mode "bench", or "bench-url" with PORT the
 * server's port). */
int bench_check_outputs(const output *o, const char *const *inputs, size_t n, const char *mode, int port);
/* Writes the report as O asks; 0 or the exit status after an error. */
int bench_emit(const desk_bench_report *r, const output *o);

/* "1,2,4" into V[0..*N) (at most DESK_BENCH_MAX_SWEEP, each in [LO, HI]);
 * false after a one-line usage error naming FLAG. */
bool bench_parse_ints(const char *flag, const char *s, int *v, size_t *n, long long lo, long long hi);

/* `desk bench --url ...`: the load test of a server.  USAGE is bench's
 * help text. */
int bench_url(int argc, char **argv, const char *usage);

#endif
