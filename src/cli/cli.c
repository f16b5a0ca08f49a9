/*
 * cli.c - shared helpers for the commands (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_fail(const char *cmd, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "desk %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_fail_err(const char *cmd, const desk_err *err) {
    int code = DESK_EXIT_FAIL;
    switch (err->status) {
    case DESK_E_ARG: case DESK_E_FORMAT: case DESK_E_NOTFOUND:
    case DESK_E_UNSUPPORTED: case DESK_E_RANGE:
        code = DESK_EXIT_USAGE;
        break;
    default: break;
    }
    return cli_fail(cmd, code, "%s", err->msg[0] ? err->msg : desk_status_str(err->status));
}

bool cli_parse_int(const char *cmd, const char *flag, const char *s, long long lo, long long hi,
                   long long *out) {
    if (!s) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", flag);
        return false;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s: '%s' is not an integer", flag, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s: %lld is out of range [%lld, %lld]", flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                     double *out) {
    if (!s) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", flag);
        return false;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s: '%s' is not a number", flag, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s: %g is out of range [%g, %g]", flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_is_help(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_usage(const char *usage) {
    fputs(usage, stdout);
    return 0;
}

bool cli_switch(const char *arg, const char *name, bool *on) {
    if (strcmp(arg, name) != 0) return false;
    *on = true;
    return true;
}

/* True when the directory that would hold PATH exists. */
bool cli_parent_dir_exists(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return true;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir) return false;
    memcpy(dir, path, n);
    dir[n] = 0;
    struct stat sb;
    bool ok = stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    free(dir);
    return ok;
}

int cli_parse_cache_flag(const char *cmd, int argc, char **argv, int *i, desk_cache_type *k, desk_cache_type *v) {
    const char *f = argv[*i];
    const bool is_k = strcmp(f, "-ctk") == 0 || strcmp(f, "--cache-type-k") == 0;
    const bool is_v = strcmp(f, "-ctv") == 0 || strcmp(f, "--cache-type-v") == 0;
    if (!is_k && !is_v) return 0;
    if (*i + 1 >= argc) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value (f16 or q8_0)", f);
        return -1;
    }
    desk_err err = {0};
    if (desk_cache_type_parse(argv[++*i], is_k ? k : v, &err) != DESK_OK) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s: %s", f, err.msg);
        return -1;
    }
    return 1;
}
