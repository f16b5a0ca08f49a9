/*
 * error.c - status names and message formatting for desk_err.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *desk_status_str(desk_status st) {
    switch (st) {
    case DESK_OK: return "ok";
    case DESK_E_ARG: return "bad argument";
    case DESK_E_IO: return "i/o error";
    case DESK_E_FORMAT: return "format error";
    case DESK_E_UNSUPPORTED: return "unsupported";
    case DESK_E_NOTFOUND: return "not found";
    case DESK_E_NOMEM: return "out of memory";
    case DESK_E_RANGE: return "out of range";
    case DESK_E_INTERNAL: return "internal error";
    case DESK_E_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

desk_status desk_errf(desk_err *err, desk_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

desk_status desk_err_prefix(desk_err *err, const char *fmt, ...) {
    if (!err) return DESK_E_INTERNAL;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is intended: the message keeps as much as fits. */
    size_t np = strlen(prefix), no = strlen(old), cap = sizeof err->msg - 1;
    if (np > cap) np = cap;
    memcpy(err->msg, prefix, np);
    size_t at = np;
    for (const char *sep = ": "; *sep && at < cap; sep++) err->msg[at++] = *sep;
    if (no > cap - at) no = cap - at;
    memcpy(err->msg + at, old, no);
    err->msg[at + no] = '\0';
    return err->status;
}
