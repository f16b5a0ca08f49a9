/*
 * error.h - filling a desk_err.
 *
 * Errors travel as a desk_status return value plus a caller-owned desk_err
 * whose message says what was wrong and where.  desk_errf formats into the
 * fixed buffer (truncating, never allocating) and returns the status so that
 * a failure reads as one line: `return desk_errf(err, DESK_E_FORMAT, ...)`.
 */
#ifndef DESK_CORE_ERROR_H
#define DESK_CORE_ERROR_H

#include "desk.h"

/* Sets err (if non-NULL) to ST with a printf-style message; returns ST. */
desk_status desk_errf(desk_err *err, desk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "PREFIX: " to an existing message (for adding context such as a
 * file name as an error travels up); returns err->status. */
desk_status desk_err_prefix(desk_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
