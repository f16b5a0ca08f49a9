/*
 * progress.c - the stderr progress bar (see progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *cmd) {
    p->cmd = cmd;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->last_permille = -1;
    p->t0 = now_s();
}

void cli_progress_cb(void *user, uint64_t done, uint64_t total, const char *what) {
    cli_progress *p = user;
    if (!p->tty || total == 0) return;
    int pm = (int)(done * 1000 / total);
    if (pm == p->last_permille) return;
    p->last_permille = pm;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < pm * WIDTH / 1000 ? '#' : '.';
    bar[WIDTH] = 0;
    fprintf(stderr, "\rdesk %s: [%s] %5.1f%% %6.1fs %-40.40s", p->cmd, bar, pm / 10.0, now_s() - p->t0,
            what ? what : "");
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->tty && p->last_permille >= 0) fputc('\n', stderr);
}
