/*
 * paths.h - where desk keeps things: the model cache and model short names.
 *
 * `-m smollm2` names a model fetched into the cache by scripts/fetch-models.sh;
 * anything that looks like a path is used as given.
 */
#ifndef DESK_CORE_PATHS_H
#define DESK_CORE_PATHS_H

#include <stddef.h>

#include "desk.h"

typedef struct desk_known_model {
    const char *name;     /* short name for -m */
    const char *file;     /* file name in the cache */
    const char *sha256;   /* of the file, as scripts/models.txt records it */
    const char *what;     /* one line for --help */
} desk_known_model;

/* The models desk knows by name; N_OUT receives the count. */
const desk_known_model *desk_known_models(size_t *n_out);

/* Writes the model cache directory ($XDG_CACHE_HOME/desk/models, default
 * ~/.cache/desk/models) into BUF. */
desk_status desk_model_cache_dir(char *buf, size_t cap, desk_err *err);

/* Resolves a -m argument: a known short name becomes its cached file (an
 * error says how to fetch it when missing); anything else is a path that
 * must exist.  Writes the path into BUF. */
desk_status desk_model_resolve(const char *arg, char *buf, size_t cap, desk_err *err);

#endif
