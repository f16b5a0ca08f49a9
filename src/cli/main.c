/*
 * main.c - `desk`, git-style: `desk CMD [ARGS]`.  This file only dispatches;
 * each command lives in cmd_NAME.c and parses its own flags.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sandbox.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

/* One line per command, in the order `desk --help` lists them. */
static const command COMMANDS[] = {
    {"info", cmd_info, "show a GGUF file's metadata, tensors and memory needs"},
    {"tokenize", cmd_tokenize, "turn standard input into token ids"},
    {"perplexity", cmd_perplexity, "perplexity of a model on a text file"},
    {"fit", cmd_fit, "plan memory: will these models fit, and what is left"},
    {"cost", cmd_cost, "local cost per million tokens and payback against a cloud bill"},
    {"bench", cmd_bench, "measure throughput, latency, memory and energy; compare reports"},
    {"run", cmd_run, "generate text from a prompt"},
    {"replay", cmd_replay, "run a recorded generation again (desk run --manifest) and compare"},
    {"chat", cmd_chat, "talk with a model"},
    {"quantize", cmd_quantize, "rewrite a model with quantized weights (Q4_0 .. Q4_K_M)"},
    {"synth", cmd_synth, "make a random-weight model of a real architecture's shape"},
    {"tune", cmd_tune, "fine-tune a LoRA adapter on your own data, on the CPU"},
    {"serve", cmd_serve, "serve models over HTTP with OpenAI's API (many streams, several models)"},
    {"sandbox", cmd_sandbox, "show what the kernel enforces on each command (seccomp, Landlock)"},
};

static void usage(FILE *f) {
    fprintf(f, "desk %s - a local LLM workbench\n\nusage: desk COMMAND [ARGS]\n\ncommands:\n",
            DESK_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\noptions for every command:\n"
               "  --no-sandbox  run without seccomp and Landlock (see `desk sandbox`)\n"
               "\n`desk COMMAND --help` describes each command.\n");
}

/* Takes --no-sandbox out of ARGV wherever it stands (before the command
 * or among its arguments); returns the new count. */
static int take_no_sandbox(int argc, char **argv, bool *found) {
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-sandbox") == 0)
            *found = true;
        else
            argv[n++] = argv[i];
    }
    argv[n] = NULL;
    return n;
}

int main(int argc, char **argv) {
    cli_signals_init();
    bool unconfined = false;
    argc = take_no_sandbox(argc, argv, &unconfined);
    if (unconfined) {
        cli_sandbox_disable();
        fputs("desk: warning: --no-sandbox: this command runs without seccomp and Landlock\n", stderr);
    }
    if (argc < 2) {
        usage(stderr);
        return DESK_EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("desk %s (%s)\n", desk_version(), desk_build_commit());
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 1, argv + 1);
    fputs("desk: unknown command '", stderr);
    cli_put_escaped(stderr, argv[1], strlen(argv[1]));
    fputs("' (see `desk --help`)\n", stderr);
    return DESK_EXIT_USAGE;
}
