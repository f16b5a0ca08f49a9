/*
 * progress.h - a one-line progress bar on stderr for long commands
 * (quantize, synth).  Drawn only when stderr is a terminal, so logs and
 * tests see no carriage-return noise; cli_progress_end finishes the line.
 */
#ifndef DESK_CLI_PROGRESS_H
#define DESK_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_progress {
    const char *cmd; /* "quantize" */
    bool tty;
    int last_permille;
    double t0;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *cmd);
/* A desk_convert_progress_fn: USER is a cli_progress. */
void cli_progress_cb(void *user, uint64_t done, uint64_t total, const char *what);
void cli_progress_end(cli_progress *p);

#endif
