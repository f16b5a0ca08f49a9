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

struct json_object;

/* S as one CSV field: quoted, quotes doubled. */
void desk_csv_str(FILE *f, const char *s);

/* report_load.c: load tests of a server (`desk bench --url`). */
bool desk_report_is_load(const desk_bench_report *r);
/* A new JSON object (the caller puts it) for L. */
struct json_object *desk_load_json(const desk_bench_load *l);
/* Fills L from a result's "load" object; false when a count is not one. */
bool desk_load_read(struct json_object *o, desk_bench_load *l);
void desk_load_write_csv(const desk_bench_report *r, FILE *f);
void desk_load_write_md(const desk_bench_report *r, FILE *f);

#endif
