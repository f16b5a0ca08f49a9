/*
 * sandbox.h - every desk command confines itself once its arguments are
 * parsed and its inputs named: a seccomp allow-list of system calls for
 * its mode (no sockets but serve's accepted connections, no connect, no
 * exec, no ptrace, no io_uring; bench --url alone may open TCP connections,
 * and only to its server's port) and Landlock rules (read only the model
 * files, inputs and a few system files; write only declared outputs; from
 * Landlock ABI 4, no TCP connect and TCP bind only on serve's port).
 * docs/SECURITY.md has the threat model and the exact policy.
 *
 * Both are installed before any worker thread starts (Landlock restricts
 * only the calling thread and the threads it starts later); seccomp is
 * also synchronised onto any thread already running (TSYNC).  A denied
 * call fails with EPERM (seccomp) or EACCES (Landlock): nothing is killed,
 * so a gap in a policy shows as an error message, not a crash.
 */
#ifndef DESK_CLI_SANDBOX_H
#define DESK_CLI_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What one command may touch beyond the system files every mode reads.
 * Paths are borrowed for the call only. */
typedef struct cli_sandbox_spec {
    const char *const *read; /* files or directories it may read (a directory: all beneath) */
    size_t n_read;
    const char *const *write; /* output files: their directories may gain, lose and rename
                                 files (desk writes a temporary file and renames it) */
    size_t n_write;
    int port; /* serve: the TCP port it listens on; bench-url: the port it connects to (0: none) */
} cli_sandbox_spec;

/* The modes, in `desk sandbox`'s order; a mode is a command's name
 * (static strings; NULL past the last). */
size_t cli_sandbox_n_modes(void);
const char *cli_sandbox_mode(size_t i);

/* --no-sandbox: later calls to cli_sandbox_apply do nothing (main calls it
 * once, before the command runs, and prints the warning). */
void cli_sandbox_disable(void);

/* Confines this process for MODE with SPEC's paths.  Where the kernel
 * lacks a feature (no seccomp filter, no Landlock, an older Landlock ABI)
 * it says so once on stderr and enforces the rest.  Returns 0, or prints
 * one line ("desk MODE: sandbox: ...") and returns DESK_EXIT_FAIL when a
 * feature the kernel has could not be installed, or MODE is unknown. */
int cli_sandbox_apply(const char *mode, const cli_sandbox_spec *spec);

/* The Landlock ABI this kernel offers (0: none), and whether it has
 * seccomp filters: what `desk sandbox` reports. */
int cli_sandbox_landlock_abi(void);
bool cli_sandbox_seccomp_available(void);

/* `desk sandbox`: what the running kernel enforces for each mode. */
int cmd_sandbox(int argc, char **argv);

#endif
