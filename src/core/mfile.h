/*
 * mfile.h - read-only memory-mapped files, and atomic file output.
 *
 * Model weights are used in place from the mapping (zero copy).  Output
 * files are written to a temporary name beside the target and renamed over
 * it only when complete, so a failure never leaves a half-written file.
 */
#ifndef DESK_CORE_MFILE_H
#define DESK_CORE_MFILE_H

#include <stddef.h>
#include <stdio.h>

#include "desk.h"

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
} desk_afile;

desk_status desk_afile_open(const char *path, desk_afile *af, desk_err *err);
desk_status desk_afile_commit(desk_afile *af, desk_err *err);
void desk_afile_abort(desk_afile *af);

#endif
