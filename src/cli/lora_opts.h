/*
 * lora_opts.h - the --lora ADAPTER.gguf[:SCALE] flag that run, chat,
 * perplexity and serve share: parsing it, loading the adapters once the
 * model is loaded, and the list a context attaches (desk/lora.h).
 */
#ifndef DESK_CLI_LORA_OPTS_H
#define DESK_CLI_LORA_OPTS_H

#include "desk.h"

#define CLI_LORA_MAX 8

typedef struct cli_loras {
    int n;
    const char *path[CLI_LORA_MAX]; /* borrowed from argv */
    desk_lora *lora[CLI_LORA_MAX];  /* owned once loaded: cli_loras_free */
    desk_lora_use use[CLI_LORA_MAX];
} cli_loras;

/* If ARGV[*I] is --lora, parses its value (advancing *I) and returns 1;
 * returns 0 for other arguments and -1 after printing a one-line error. */
int cli_lora_parse(const char *cmd, cli_loras *l, int argc, char **argv, int *i);

/* Loads every adapter for M (which must outlive them).  Prints one line
 * and returns the exit code on failure (the adapters loaded so far are
 * freed); 0 on success. */
int cli_loras_load(const char *cmd, cli_loras *l, const desk_model *m);
void cli_loras_free(cli_loras *l);

/* The flag's lines for --help (a literal, so usage texts can include it). */
#define CLI_LORA_HELP                                                                  \
    "  --lora ADAPTER.gguf[:S]   apply a LoRA adapter (llama.cpp's adapter GGUF) at\n" \
    "                            scale S (default 1); repeat for several (up to 8)\n"

#endif
