/*
 * lora_opts.c - --lora ADAPTER.gguf[:SCALE] for run, chat, perplexity and
 * serve (see lora_opts.h).  The scale follows the last ':' when that text
 * is a number, so a path with colons still works without a scale.
 */
#include "lora_opts.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_lora_parse(const char *cmd, cli_loras *l, int argc, char **argv, int *i) {
    if (strcmp(argv[*i], "--lora") != 0) return 0;
    if (*i + 1 >= argc) {
        cli_fail(cmd, DESK_EXIT_USAGE, "--lora needs a value: ADAPTER.gguf[:SCALE]");
        return -1;
    }
    char *v = argv[++*i];
    if (l->n == CLI_LORA_MAX) {
        cli_fail(cmd, DESK_EXIT_USAGE, "at most %d --lora adapters", CLI_LORA_MAX);
        return -1;
    }
    float scale = 1.0f;
    char *colon = strrchr(v, ':');
    if (colon && colon[1]) {
        char *end = NULL;
        (void)strtod(colon + 1, &end);
        if (end && *end == '\0') {
            double s;
            if (!cli_parse_float(cmd, "--lora scale", colon + 1, -1000.0, 1000.0, &s)) return -1;
            scale = (float)s;
            *colon = '\0'; /* argv's text: the path ends here */
        }
    }
    if (!v[0]) {
        cli_fail(cmd, DESK_EXIT_USAGE, "--lora needs a file name before the scale");
        return -1;
    }
    l->path[l->n] = v;
    l->use[l->n].scale = scale;
    l->n++;
    return 1;
}

int cli_loras_load(const char *cmd, cli_loras *l, const desk_model *m) {
    for (int k = 0; k < l->n; k++) {
        desk_err err = {0};
        if (desk_lora_load(m, l->path[k], &l->lora[k], &err) != DESK_OK) {
            cli_loras_free(l);
            return cli_fail_err(cmd, &err);
        }
        l->use[k].lora = l->lora[k];
    }
    return 0;
}

void cli_loras_free(cli_loras *l) {
    for (int k = 0; k < l->n; k++) {
        desk_lora_free(l->lora[k]);
        l->lora[k] = NULL;
        l->use[k].lora = NULL;
    }
}
