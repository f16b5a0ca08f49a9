/*
 * testutil.h - what the C tests share: locating test data and models, and
 * running the desk binary to check its output and exit code.
 *
 * Ownership: every returned char * is malloc'd and freed by the caller.
 */
#ifndef DESK_TESTUTIL_H
#define DESK_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The repository root (DESK_SOURCE_DIR, set by CTest; else "."). */
const char *tu_source_dir(void);
/* "<root>/../shared/vocab/NAME" style: a path under the shared/ folder
 * that sits beside the repository. */
char *tu_shared_path(const char *rel);
/* Cached model file of a known short name ("smollm2", "gemma3-270m").
 * Fails the test (not skips) when it is missing: `make test` fetches it. */
char *tu_model_path(const char *name);
/* Reads a whole file; *len gets its size.  Fails the test on error. */
char *tu_read_file(const char *path, size_t *len);

/* Runs `desk ARGS...` (DESK_BIN) with STDIN_DATA (may be NULL) on standard
 * input; captures stdout and stderr.  Returns the exit code (or 128+signal). */
typedef struct tu_run {
    int code;
    char *out;  /* NUL-terminated */
    size_t out_len;
    char *err;
    size_t err_len;
} tu_run;
int tu_desk(tu_run *r, const char *stdin_data, size_t stdin_len, const char *const *args);
void tu_run_free(tu_run *r);

#endif
