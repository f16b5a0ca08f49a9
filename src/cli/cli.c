/*
 * cli.c - shared helpers for the commands (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desk/files.h"

/* Writes S to F with every control byte (C0, DEL, and C1 as UTF-8 or as a
 * lone byte) and every byte of invalid UTF-8 escaped (\n, \t, \r, \xNN),
 * so that a message stays one line and sends nothing to the terminal that
 * it would act on. */
void cli_put_escaped(FILE *f, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x7f) {
            fputc((int)c, f);
            i++;
            continue;
        }
        if (c == '\n' || c == '\t' || c == '\r') {
            fputs(c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r", f);
            i++;
            continue;
        }
        /* A whole UTF-8 sequence (shortest form, no surrogate, not C1) is
         * printed as it is; anything else byte by byte as \xNN. */
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        bool ok = len && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
        if (ok && len == 2) ok = !(c == 0xc2 && p[i + 1] < 0xa0); /* U+0080..U+009F: C1 controls */
        if (ok && len == 3) ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
        if (ok && len == 4) ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
        if (ok) {
            fwrite(p + i, 1, len, f);
            i += len;
        } else {
            fprintf(f, "\\x%02x", c);
            i++;
        }
    }
}

/* A message whose first part is repeated ("F: F: msg", when two layers
 * each name the file) is printed once ("F: msg"). */
static size_t repeated_prefix(const char *m, size_t n) {
    for (size_t k = 1; k + 2 <= n / 2 + 1; k++) {
        if (m[k] != ':' || m[k + 1] != ' ') continue;
        size_t plen = k + 2; /* "X: " */
        if (2 * plen <= n && memcmp(m, m + plen, plen) == 0) return plen;
    }
    return 0;
}

int cli_fail(const char *cmd, int code, const char *fmt, ...) {
    char small[1024], *msg = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = big;
        } else {
            n = (int)sizeof small - 1;
        }
    }
    size_t len = (size_t)n, skip = repeated_prefix(msg, len);
    fputs("desk ", stderr);
    cli_put_escaped(stderr, cmd, strlen(cmd));
    fputs(": ", stderr);
    cli_put_escaped(stderr, msg + skip, len - skip);
    fputc('\n', stderr);
    if (msg != small) free(msg);
    return code;
}

/* Removes a temporary output file, then dies of the signal as it would
 * have without this handler (SA_RESETHAND restored the default action). */
static void on_fatal_signal(int sig) {
    int saved = errno;
    desk_afile_unlink_pending();
    raise(sig);
    errno = saved;
}

void cli_signals_init(void) {
    /* A write past `ulimit -f` then fails with EFBIG and is reported (and
     * the temporary file removed) instead of killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    static const int FATAL[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof FATAL / sizeof FATAL[0]; i++) {
        struct sigaction sa, old;
        if (sigaction(FATAL[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* nohup */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(FATAL[i], &sa, NULL);
    }
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

int cli_check_output(const char *cmd, const char *path, const char *const *inputs, size_t n_inputs) {
    if (!path || !*path) return cli_fail(cmd, DESK_EXIT_USAGE, "an empty output path");
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (!dir) return cli_fail(cmd, DESK_EXIT_FAIL, "out of memory");
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    struct stat sb;
    const char *d = dir ? dir : ".";
    int rc = 0;
    if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode))
        rc = cli_fail(cmd, DESK_EXIT_USAGE, "%s: the directory to hold it does not exist", path);
    else if (access(d, W_OK | X_OK) != 0)
        rc = cli_fail(cmd, DESK_EXIT_USAGE, "%s: cannot write in the directory %s: %s", path, d, strerror(errno));
    else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        rc = cli_fail(cmd, DESK_EXIT_USAGE, "%s: is a directory", path);
    free(dir);
    for (size_t i = 0; !rc && i < n_inputs; i++)
        if (inputs[i] && desk_file_same(inputs[i], path))
            rc = cli_fail(cmd, DESK_EXIT_USAGE, "%s is the same file as the input %s: give another output path", path,
                          inputs[i]);
    return rc;
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
