/*
 * gen.h - what `desk run` and `desk chat` share: their common flags
 * (model, sampling, context, stop strings), loading the model into an
 * engine, choosing the chat format, and the --stats report.
 */
#ifndef DESK_CLI_GEN_H
#define DESK_CLI_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "lora_opts.h"
#include "desk.h"

#define CLI_GEN_MAX_STOPS 16

typedef struct cli_gen_args {
    const char *model;
    const char *system;
    const char *tmpl; /* --template: a family name or template text */
    int n_predict;
    int n_ctx;        /* 0: the model's, capped at 4096 */
    int n_threads;    /* 0: physical cores */
    desk_cache_type cache_k, cache_v; /* KV cache types (-ctk, -ctv) */
    bool stats;
    bool seed_given;
    bool no_repack;   /* --no-repack: weights used in place from the file */
    bool deterministic; /* --deterministic: desk_ctx_params.deterministic */
    const char *write_path; /* a file the command will write (the sandbox allows its directory), or NULL */
    desk_sampler_params sp;
    const char *stops[CLI_GEN_MAX_STOPS];
    size_t n_stops;
    cli_loras loras;  /* --lora: parsed here, loaded by cli_gen_open */
} cli_gen_args;

/* Defaults: llama.cpp's sampling, N_PREDICT tokens. */
void cli_gen_defaults(cli_gen_args *a, int n_predict);

/* If ARGV[*I] is one of the shared flags, parses it (and its value,
 * advancing *I) and returns 1; returns 0 for other arguments and -1 after
 * printing a one-line error for a bad value. */
int cli_gen_parse(const char *cmd, cli_gen_args *a, int argc, char **argv, int *i);

/* The shared flags' lines for --help. */
extern const char CLI_GEN_USAGE[];

/* A loaded model and its engine. */
typedef struct cli_gen {
    desk_model *model;
    desk_engine *engine;
    desk_chat_fmt fmt;
    desk_token eot;      /* the chat format's end-of-turn control token, or -1 */
    const char *warning; /* set when the chat format was guessed (static) */
    cli_loras loras;     /* the --lora adapters, loaded (freed by cli_gen_close) */
    char model_path[4096]; /* the model file (a known name resolved) */
} cli_gen;

/* Resolves and loads a->model, creates the engine and picks the chat
 * format (see warning).  On failure prints one
 * line and returns the exit code; 0 on success. */
int cli_gen_open(const char *cmd, cli_gen_args *a, cli_gen *g);
void cli_gen_close(cli_gen *g);

/* Prints the --stats report to stderr. */
void cli_gen_print_stats(const cli_gen_args *a, const desk_gen_stats *st);

#endif
