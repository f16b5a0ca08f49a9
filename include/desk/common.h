/*
 * desk/common.h - what every part of libdesk's public API shares: status
 * codes, the error record, the token id type, the version.
 *
 * Every handle here is opaque: callers hold pointers and pass them back.
 * Every fallible call returns a desk_status and fills a caller-owned
 * desk_err with a one-line message that names what was wrong and where
 * (file offset, field, argument).  Library code never exits or aborts.
 *
 * Ownership: an object returned through an `out` pointer by a *_open or
 * *_new call belongs to the caller, who releases it with the matching
 * *_close or *_free.  Strings and pointers returned by accessors are
 * borrowed: valid until the object they came from is released.
 */
#ifndef DESK_COMMON_H
#define DESK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_VERSION "0.1.0"

typedef enum desk_status {
    DESK_OK = 0,
    DESK_E_ARG,         /* a bad argument from the caller */
    DESK_E_IO,          /* open/read/write/mmap failed */
    DESK_E_FORMAT,      /* a file or input is malformed */
    DESK_E_UNSUPPORTED, /* well-formed, but not something desk handles */
    DESK_E_NOTFOUND,    /* a key, tensor or file that is not there */
    DESK_E_NOMEM,       /* allocation failed or a memory budget refused */
    DESK_E_RANGE,       /* a value out of its allowed range */
    DESK_E_INTERNAL,    /* a broken invariant: a bug in desk */
    DESK_E_CANCELLED,   /* the caller asked to stop */
} desk_status;

/* A status with its message.  Fixed size so that reporting an error never
 * needs an allocation.  Zero-initialise it (desk_err e = {0}). */
typedef struct desk_err {
    desk_status status;
    char msg[512];
} desk_err;

/* Returns a static, lower-case name for a status ("format error"). */
const char *desk_status_str(desk_status st);

/* Fills ERR (may be NULL) with ST and a printf-style message; returns ST,
 * so a failing path reads `return desk_errf(err, DESK_E_ARG, "...", ...)`. */
desk_status desk_errf(desk_err *err, desk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "PREFIX: " to ERR's message (context such as a file name, added
 * as an error travels up); returns err->status. */
desk_status desk_err_prefix(desk_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The version of the library (DESK_VERSION) and the commit it was built
 * from ("abc1234", with "-dirty" for uncommitted changes; "unknown" outside
 * a git checkout).  Static strings. */
const char *desk_version(void);
const char *desk_build_commit(void);

/* A token id: an index into the model's vocabulary. */
typedef int32_t desk_token;

#ifdef __cplusplus
}
#endif
#endif /* DESK_COMMON_H */
