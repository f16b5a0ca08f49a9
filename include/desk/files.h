/*
 * desk/files.h - files as desk reads and writes them: regular files only
 * (a FIFO or device never stalls an open), reads capped in size,
 * read-only memory-mapped files, and atomic file output.
 *
 * Model weights are used in place from the mapping (zero copy).  Output
 * files are written to a temporary name beside the target and renamed over
 * it only when complete, so a failure never leaves a half-written file.
 */
#ifndef DESK_FILES_H
#define DESK_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "desk/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on what desk reads into memory from a file or a stream (documented
 * in docs/SECURITY.md and each command's --help). */
#define DESK_TEXT_MAX ((size_t)64 << 20)   /* a prompt, a text file, stdin */
#define DESK_REPORT_MAX ((size_t)64 << 20) /* a bench report (JSON) */
#define DESK_LINE_MAX ((size_t)1 << 20)    /* one line of chat input */

/* Opens PATH for reading, which must be a regular file: the open itself
 * is non-blocking (a FIFO or a device cannot stall it), close-on-exec and
 * never takes a controlling terminal; fstat then refuses anything but a
 * regular file (DESK_E_ARG, "not a regular file (a FIFO)"), and the
 * descriptor is made blocking again.  Failing to open it is DESK_E_IO
 * (as desk_mfile_open, which uses it, has always said).  Every file desk reads from a user's path goes
 * through here.  *FD gets the descriptor, *SIZE (if non-NULL) the size. */
desk_status desk_file_open_read(const char *path, int *fd, size_t *size, desk_err *err);

/* Reads all of the regular file PATH (desk_file_open_read) into a malloc'd
 * buffer with a NUL after the last byte; a file longer than MAX bytes is
 * refused (DESK_E_RANGE), even one that grows while it is read.  A
 * missing file is DESK_E_NOTFOUND (a text or report the user named). */
desk_status desk_file_read_all(const char *path, size_t max, char **buf, size_t *len, desk_err *err);

/* Reads stream F to its end into a malloc'd buffer (NUL after the last
 * byte); more than MAX bytes is DESK_E_RANGE ("WHAT is longer than N
 * bytes"), read errors DESK_E_IO. */
desk_status desk_stream_read_all(FILE *f, const char *what, size_t max, char **buf, size_t *len, desk_err *err);

/* True when A and B name the same existing file (same st_dev and st_ino
 * after following links): for refusing an output that is an input. */
bool desk_file_same(const char *a, const char *b);

typedef struct desk_mfile {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} desk_mfile;

/* Maps PATH read-only.  Release with desk_mfile_close. */
desk_status desk_mfile_open(const char *path, desk_mfile *mf, desk_err *err);
void desk_mfile_close(desk_mfile *mf);

/* Atomic output: desk_afile_open creates "PATH.tmp.XXXXXX" beside PATH;
 * write through af->fp; desk_afile_commit flushes, fsyncs and renames it
 * over PATH; desk_afile_abort removes it.  Exactly one of commit or abort
 * must follow a successful open (commit aborts by itself on failure). */
typedef struct desk_afile {
    FILE *fp;
    char *tmp_path;   /* owned; freed by commit/abort */
    char *final_path; /* owned; freed by commit/abort */
    int slot;         /* its entry in the signal handler's table, or -1 */
} desk_afile;

desk_status desk_afile_open(const char *path, desk_afile *af, desk_err *err);
desk_status desk_afile_commit(desk_afile *af, desk_err *err);
void desk_afile_abort(desk_afile *af);

/* While an atomic file is open its temporary path is also kept in a static
 * table, so that a signal handler can remove it: desk_afile_unlink_pending
 * only calls unlink() on those paths and is async-signal-safe.  The library
 * installs no handler; the CLI does (cli_signals_init). */
void desk_afile_unlink_pending(void);

#ifdef __cplusplus
}
#endif
#endif /* DESK_FILES_H */
