/*
 * clijson.h - checks of desk commands shared by the CLI tests: run a
 * command and parse its JSON output, look keys up, and check that bad
 * input is refused with exit 2 and one line "desk CMD: ...".
 *
 * Ownership: the json_object returned by tu_desk_json belongs to the
 * caller (json_object_put); tu_json_get's result is borrowed from O.
 */
#ifndef DESK_TEST_CLIJSON_H
#define DESK_TEST_CLIJSON_H

#include <json-c/json.h>

/* Runs `desk ARGS...`; fails the test unless it exits 0 with JSON on stdout. */
json_object *tu_desk_json(const char *const *args);
/* O's member K; fails the test when it is missing. */
json_object *tu_json_get(json_object *o, const char *k);
/* Runs `desk ARGS...` and fails the test unless it exits 2 with nothing on
 * stdout and exactly one line on stderr, "desk ARGS[0]: ..." containing NEEDLE. */
void tu_expect_usage_error(const char *const *args, const char *needle);

#endif
