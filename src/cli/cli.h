/*
 * cli.h - what every `desk CMD` shares: the command table entry point,
 * one-line errors, and strict number parsing for flags.
 *
 * Conventions: a command returns its exit code; bad usage or bad input is
 * exit 2 with one line "desk CMD: message" on stderr; a runtime failure
 * (I/O, a bad model file) is exit 1.  `desk CMD --help` prints usage to
 * stdout and exits 0.
 */
#ifndef DESK_CLI_H
#define DESK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "desk.h"

#define DESK_EXIT_FAIL 1
#define DESK_EXIT_USAGE 2

/* Prints "desk CMD: message" to stderr; returns CODE for `return cli_fail(...)`. */
int cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Every message goes through cli_fail: control bytes and invalid UTF-8 in
 * it (from a path or an argument) are escaped, so it is one line. */
void cli_put_escaped(FILE *f, const char *s, size_t n);

/* Installed once by main: SIGXFSZ ignored (a write past `ulimit -f` fails
 * with EFBIG instead of killing desk), and SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT remove any temporary output file (desk_afile) before desk dies
 * of them. */
void cli_signals_init(void);

/* Reports a library error: exit 2 for bad input (ARG, FORMAT, NOTFOUND,
 * UNSUPPORTED, RANGE), 1 otherwise. */
int cli_fail_err(const char *cmd, const desk_err *err);

/* Strict parsers: the whole string must be a number within [lo, hi].
 * On failure they print a one-line error naming FLAG and return false. */
bool cli_parse_int(const char *cmd, const char *flag, const char *s, long long lo, long long hi,
                   long long *out);
bool cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                     double *out);

/* Checks an output path before any long work: its directory exists and
 * is writable, it is not a directory, and it is none of the N_INPUTS files
 * INPUTS (same device and inode, so ./x, a hard link or a symlink to an
 * input count too: writing there would destroy the input).  Returns 0, or
 * prints one line and returns 2. */
int cli_check_output(const char *cmd, const char *path, const char *const *inputs, size_t n_inputs);

/* The KV cache type flags of run, chat, bench and perplexity (llama.cpp's
 * names): --cache-type-k / -ctk and --cache-type-v / -ctv, each f16 or
 * q8_0.  If ARGV[*I] is one, parses its value into *K or *V (advancing
 * *I) and returns 1; returns 0 for other arguments and -1 after printing a
 * one-line error. */
int cli_parse_cache_flag(const char *cmd, int argc, char **argv, int *i, desk_cache_type *k, desk_cache_type *v);

/* True when ARG is -h or --help. */
bool cli_is_help(const char *arg);

/* Prints USAGE to stdout; returns 0, --help's exit code:
 * `if (cli_is_help(a)) return cli_usage(USAGE);`. */
int cli_usage(const char *usage);

/* True when ARG is the switch NAME (a flag without a value), and then sets
 * *ON: `if (cli_switch(a, "--json", &json)) continue;`. */
bool cli_switch(const char *arg, const char *name, bool *on);

/* Command entry points (one file each: cmd_NAME.c). */
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_cost(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
