/*
 * cmd_replay.c - `desk replay MANIFEST`: runs a recorded generation again
 * (desk run --manifest) from its prompt token ids with its settings, and
 * says whether the output is the same token for token.  When it is not,
 * it names the first thing that differs: a manifest field edited since
 * the run, else the environment (model file, adapters, kernels, build).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gen.h"
#include "manifest.h"

static const char USAGE[] =
    "usage: desk replay MANIFEST [-m MODEL] [-t N] [--text]\n"
    "\n"
    "Runs the generation recorded by `desk run --manifest MANIFEST` again, from its\n"
    "prompt token ids with its model, mode, settings and seed, and compares the output\n"
    "token for token.  Prints \"identical\" and exits 0, or names the first token and the\n"
    "first field that differs (a field edited in the manifest since the run, else the\n"
    "model file's sha256, an adapter's, the kernels' instruction set, the build) and\n"
    "exits 1.  A run in the default mode is reproducible on the same build, kernels and\n"
    "model; a --deterministic run also whatever else the machine was doing.\n"
    "\n"
    "  -m, --model MODEL   the model file to use instead of the recorded path\n"
    "  -t, --threads N     threads (default: the recorded count)\n"
    "  --text              also print the replayed text on standard output\n";

int cmd_replay(int argc, char **argv) {
    const char *cmd = "replay";
    const char *path = NULL, *model = NULL;
    bool show_text = false;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (cli_is_help(f)) return cli_usage(USAGE);
        if (cli_switch(f, "--text", &show_text)) continue;
        if (!strcmp(f, "-m") || !strcmp(f, "--model") || !strcmp(f, "-t") || !strcmp(f, "--threads")) {
            if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
            if (f[1] == 'm' || f[2] == 'm') model = argv[++i];
            else if (!cli_parse_int(cmd, f, argv[++i], 1, 1024, &threads)) return DESK_EXIT_USAGE;
            continue;
        }
        if (f[0] == '-' || path) return cli_fail(cmd, DESK_EXIT_USAGE, "unknown argument '%s' (see desk replay --help)", f);
        path = f;
    }
    if (!path) return cli_fail(cmd, DESK_EXIT_USAGE, "no manifest: pass the file desk run --manifest wrote");
    cli_gen_args a;
    cli_gen_defaults(&a, 1);
    a.n_threads = (int)threads;
    cli_manifest *m = NULL;
    int rc = cli_manifest_read(cmd, path, &a, &m);
    if (rc) return rc;
    if (model) a.model = model;
    cli_gen g;
    if ((rc = cli_gen_open(cmd, &a, &g)) != 0) {
        cli_manifest_free(m);
        return rc;
    }
    size_t n_prompt, n_stop_ids, n_rec;
    const desk_token *prompt = cli_manifest_prompt(m, &n_prompt);
    const desk_token *stop_ids = cli_manifest_stop_ids(m, &n_stop_ids);
    const desk_token *rec = cli_manifest_output(m, &n_rec);
    desk_gen_opts o = {.n_predict = a.n_predict, .stops = a.stops, .n_stops = a.n_stops, .stop_ids = stop_ids,
                       .n_stop_ids = n_stop_ids};
    desk_gen_stats st;
    desk_err err = {0};
    if (desk_engine_generate(g.engine, prompt, n_prompt, &o, &st, &err) != DESK_OK) {
        rc = cli_fail_err(cmd, &err);
        goto done;
    }
    size_t n_out, text_len;
    const desk_token *out = desk_engine_tokens(g.engine, &n_out);
    const char *text = desk_engine_text(g.engine, &text_len);
    if (show_text) {
        fwrite(text, 1, text_len, stdout);
        putchar('\n');
    }
    size_t first = 0;
    while (first < n_out && first < n_rec && out[first] == rec[first]) first++;
    char why[512];
    const bool env_same = cli_manifest_same_env(cmd, m, g.model_path, why, sizeof why);
    if (!env_same && !why[0]) {
        rc = DESK_EXIT_FAIL;
        goto done;
    }
    const char *edited = cli_manifest_edited(m);
    if (first == n_out && n_out == n_rec) {
        printf("replay: identical: %zu tokens (%s mode", n_out, a.deterministic ? "deterministic" : "default");
        if (edited) printf("; field '%s' was edited since the run", edited);
        if (!env_same) printf("; %s", why);
        printf(")\n");
        goto done;
    }
    printf("replay: differs at output token %zu of %zu (recorded id %d, now %d)", first, n_rec,
           first < n_rec ? rec[first] : -1, first < n_out ? out[first] : -1);
    if (edited)
        printf("; first field that differs: '%s', edited since the run\n", edited);
    else if (!env_same)
        printf("; first field that differs: %s\n", why);
    else
        printf("; every recorded field matches (a %s-mode run depends on what else ran with it)\n",
               a.deterministic ? "deterministic" : "default");
    rc = DESK_EXIT_FAIL;
done:
    cli_gen_close(&g);
    cli_manifest_free(m);
    return rc;
}
