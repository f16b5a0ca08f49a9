/*
 * testutil.c - shared helpers for the C tests (see testutil.h).
 */
#define _GNU_SOURCE
#include "util/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/paths.h"

const char *tu_source_dir(void) {
    const char *d = getenv("DESK_SOURCE_DIR");
    return d && *d ? d : ".";
}

char *tu_shared_path(const char *rel) {
    char *p = NULL;
    const char *sh = getenv("DESK_SHARED_DIR");
    if (sh && *sh) {
        if (asprintf(&p, "%s/%s", sh, rel) < 0) fail_msg("asprintf");
    } else if (asprintf(&p, "%s/../shared/%s", tu_source_dir(), rel) < 0) {
        fail_msg("asprintf");
    }
    return p;
}

char *tu_model_path(const char *name) {
    char buf[4096];
    desk_err err = {0};
    if (desk_model_resolve(name, buf, sizeof buf, &err) != DESK_OK)
        fail_msg("model %s unavailable: %s", name, err.msg);
    return strdup(buf);
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static void append(char **buf, size_t *len, size_t *cap, const char *src, size_t n) {
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 4096;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
}

int tu_desk(tu_run *r, const char *stdin_data, size_t stdin_len, const char *const *args) {
    memset(r, 0, sizeof *r);
    const char *bin = getenv("DESK_BIN");
    if (!bin || !*bin) bin = "build/desk";
    size_t nargs = 0;
    while (args[nargs]) nargs++;
    char **argv = calloc(nargs + 2, sizeof *argv);
    argv[0] = (char *)bin;
    for (size_t i = 0; i < nargs; i++) argv[i + 1] = (char *)args[i];
    int in[2], out[2], er[2];
    if (pipe(in) || pipe(out) || pipe(er)) fail_msg("pipe");
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork");
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(er[1], 2);
        close(in[1]); close(out[0]); close(er[0]);
        execv(bin, argv);
        _exit(127);
    }
    free(argv);
    close(in[0]); close(out[1]); close(er[1]);
    signal(SIGPIPE, SIG_IGN);
    size_t sent = 0, ocap = 0, ecap = 0;
    if (!stdin_data || stdin_len == 0) { close(in[1]); in[1] = -1; }
    char buf[65536];
    int open_fds = 2;
    while (open_fds > 0 || in[1] >= 0) {
        struct pollfd p[3];
        int np = 0;
        int io = -1, oo = -1, eo = -1;
        if (out[0] >= 0) { p[np] = (struct pollfd){out[0], POLLIN, 0}; oo = np++; }
        if (er[0] >= 0) { p[np] = (struct pollfd){er[0], POLLIN, 0}; eo = np++; }
        if (in[1] >= 0) { p[np] = (struct pollfd){in[1], POLLOUT, 0}; io = np++; }
        if (poll(p, np, -1) < 0) { if (errno == EINTR) continue; fail_msg("poll"); }
        if (oo >= 0 && p[oo].revents) {
            ssize_t k = read(out[0], buf, sizeof buf);
            if (k <= 0) { close(out[0]); out[0] = -1; open_fds--; }
            else append(&r->out, &r->out_len, &ocap, buf, (size_t)k);
        }
        if (eo >= 0 && p[eo].revents) {
            ssize_t k = read(er[0], buf, sizeof buf);
            if (k <= 0) { close(er[0]); er[0] = -1; open_fds--; }
            else append(&r->err, &r->err_len, &ecap, buf, (size_t)k);
        }
        if (io >= 0 && p[io].revents) {
            ssize_t k = write(in[1], stdin_data + sent, stdin_len - sent);
            if (k <= 0) { close(in[1]); in[1] = -1; }
            else if ((sent += (size_t)k) == stdin_len) { close(in[1]); in[1] = -1; }
        }
    }
    if (!r->out) append(&r->out, &r->out_len, &ocap, "", 0);
    if (!r->err) append(&r->err, &r->err_len, &ecap, "", 0);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r->code;
}

void tu_run_free(tu_run *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}
