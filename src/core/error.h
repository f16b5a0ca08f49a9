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

/* desk_errf and desk_err_prefix are public: include/desk/common.h. */

#endif
