/*
 * cmd_run.c - `desk run`: one prompt in, generated text streamed out.
 *
 * A plain prompt is tokenized as llama.cpp's completion tools do (BOS as
 * the model asks, control tokens spelled in the prompt recognised), so raw
 * templates can be written by hand; with --chat the prompt becomes a user
 * turn in the model's chat format, where typed markers stay text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "desk/files.h"
#include "gen.h"
#include "manifest.h"

static const char USAGE[] =
    "usage: desk run -m MODEL (-p PROMPT | -f FILE) [options]\n"
    "\n"
    "Generates a continuation of PROMPT and streams it to standard output.\n"
    "\n"
    "  -p, --prompt PROMPT       the prompt text\n"
    "  -f, --file FILE           read the prompt from FILE (a regular file, at most 64 MiB)\n"
    "  --chat                    wrap the prompt in the model's chat format\n"
    "  --grammar FILE            keep the output inside the GBNF grammar in FILE\n"
    "                            (llama.cpp's format; rule root)\n"
    "  --json-schema FILE        output one JSON document valid under the JSON Schema\n"
    "                            in FILE (the supported keywords: README, Structured output)\n"
    "  --json                    output one JSON value (any)\n"
    "                            Generation stops when the document is complete.\n"
    "  --samples N               N completions, from seeds SEED, SEED+1, ... (the prompt\n"
    "                            decoded once); each is written as a JSON text sequence\n"
    "                            record (RFC 7464): RS (0x1E) before, a newline after\n"
    "  --manifest FILE           also write a replay manifest (JSON: model sha256, build,\n"
    "                            kernels, mode, settings, seed, prompt and output ids);\n"
    "                            `desk replay FILE` reproduces the run or names what differs\n";

/* The grammar that --grammar, --json-schema or --json asks for, parsed;
 * NULL when none did.  Errors name the file, line and column. */
static int load_grammar(const char *cmd, const char *grammar_file, const char *schema_file,
                        bool json, desk_grammar **out) {
    *out = NULL;
    if (!grammar_file && !schema_file && !json) return 0;
    desk_err err = {0};
    char *text = NULL, *gbnf = NULL;
    size_t len = 0, glen = 0;
    const char *file = grammar_file ? grammar_file : schema_file;
    if (file && desk_file_read_all(file, DESK_TEXT_MAX, &text, &len, &err) != DESK_OK)
        return cli_fail_err(cmd, &err);
    desk_status st = DESK_OK;
    if (!grammar_file) {
        st = json ? desk_json_schema_to_gbnf("{}", 2, &gbnf, &glen, &err)
                  : desk_json_schema_to_gbnf(text, len, &gbnf, &glen, &err);
    }
    if (st == DESK_OK)
        st = grammar_file ? desk_grammar_parse(text, len, NULL, out, &err)
                          : desk_grammar_parse(gbnf, glen, NULL, out, &err);
    free(text);
    free(gbnf);
    if (st == DESK_OK) return 0;
    /* "grammar:L:C: ..." / "schema:L:C: ..." read better as "FILE:L:C: ..." */
    const char *msg = err.msg, *colon = strchr(msg, ':');
    if (file && colon && (strncmp(msg, "grammar:", 8) == 0 || strncmp(msg, "schema:", 7) == 0))
        return cli_fail(cmd, DESK_EXIT_USAGE, "%s:%s", file, colon + 1);
    if (file) return cli_fail(cmd, DESK_EXIT_USAGE, "%s: %s", file, msg);
    return cli_fail_err(cmd, &err);
}

static void write_out(void *user, const char *s, size_t n) {
    char *last = user;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    if (n) *last = s[n - 1];
}

/* Tokenizes the prompt into *IDS, a malloc'd buffer sized for the context
 * (the caller frees it, also on failure). */
static int prompt_tokens(const char *cmd, const cli_gen_args *a, const cli_gen *g, bool chat,
                         const char *text, size_t len, desk_token **ids,
                         size_t *n) {
    const desk_tokenizer *t = desk_model_tokenizer(g->model);
    size_t cap = (size_t)desk_engine_n_ctx(g->engine);
    *ids = malloc(sizeof **ids * cap);
    if (!*ids) return cli_fail(cmd, DESK_EXIT_FAIL, "out of memory for the prompt");
    desk_err err = {0};
    desk_status st;
    if (chat) {
        desk_chat_msg msgs[2];
        size_t m = 0;
        if (a->system) msgs[m++] = (desk_chat_msg){DESK_ROLE_SYSTEM, a->system, strlen(a->system)};
        msgs[m++] = (desk_chat_msg){DESK_ROLE_USER, text, len};
        st = desk_chat_render_tokens(g->fmt, t, msgs, m, true, *ids, cap, n, &err);
    } else {
        st = desk_tokenize(t, text, len, DESK_TOK_ADD_SPECIAL | DESK_TOK_PARSE_SPECIAL, *ids, cap,
                           n, &err);
    }
    if (st == DESK_E_RANGE)
        return cli_fail(cmd, DESK_EXIT_USAGE,
                        "the prompt has %zu tokens but the context holds %zu (raise --ctx)", *n,
                        cap);
    if (st != DESK_OK) return cli_fail_err(cmd, &err);
    if (*n == 0) return cli_fail(cmd, DESK_EXIT_USAGE, "the prompt is empty");
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    cli_gen_args a;
    cli_gen_defaults(&a, 256);
    const char *prompt = NULL, *file = NULL, *grammar_file = NULL, *schema_file = NULL, *manifest = NULL;
    bool chat = false, json = false;
    int samples = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (cli_is_help(f)) {
            printf("%s%s", USAGE, CLI_GEN_USAGE);
            return 0;
        }
        int r = cli_gen_parse(cmd, &a, argc, argv, &i);
        if (r < 0) return DESK_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(f, "--chat") == 0) {
            chat = true;
        } else if (strcmp(f, "--json") == 0) {
            json = true;
        } else if (strcmp(f, "--samples") == 0) {
            long long v;
            if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
            if (!cli_parse_int(cmd, f, argv[++i], 1, 100000, &v)) return DESK_EXIT_USAGE;
            samples = (int)v;
        } else if (strcmp(f, "--manifest") == 0) {
            if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
            manifest = argv[++i];
        } else if (strcmp(f, "--grammar") == 0 || strcmp(f, "--json-schema") == 0) {
            if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
            if (f[2] == 'g')
                grammar_file = argv[++i];
            else
                schema_file = argv[++i];
        } else if (strcmp(f, "-p") == 0 || strcmp(f, "--prompt") == 0 || strcmp(f, "-f") == 0 ||
                   strcmp(f, "--file") == 0) {
            if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
            if (f[1] == 'p' || f[2] == 'p')
                prompt = argv[++i];
            else
                file = argv[++i];
        } else {
            return cli_fail(cmd, DESK_EXIT_USAGE, "unknown argument '%s' (see desk run --help)", f);
        }
    }
    if (!a.model) return cli_fail(cmd, DESK_EXIT_USAGE, "no model: pass -m MODEL (see --help)");
    if (!prompt && !file) return cli_fail(cmd, DESK_EXIT_USAGE, "no prompt: pass -p TEXT or -f FILE");
    if (prompt && file) return cli_fail(cmd, DESK_EXIT_USAGE, "pass -p or -f, not both");
    if ((grammar_file != NULL) + (schema_file != NULL) + json > 1)
        return cli_fail(cmd, DESK_EXIT_USAGE, "pass one of --grammar, --json-schema and --json");
    if (manifest && (samples || grammar_file || schema_file || json))
        return cli_fail(cmd, DESK_EXIT_USAGE, "--manifest records one plain generation: not with --samples, "
                                              "--grammar, --json-schema or --json");
    if (manifest) {
        const char *inputs[1] = {file};
        if (cli_check_output(cmd, manifest, inputs, file ? 1 : 0)) return DESK_EXIT_USAGE;
        a.write_path = manifest;
    }
    desk_grammar *grammar = NULL;
    int grc = load_grammar(cmd, grammar_file, schema_file, json, &grammar);
    if (grc) return grc;

    desk_err err = {0};
    char *buf = NULL;
    const char *text = prompt;
    size_t len = prompt ? strlen(prompt) : 0;
    if (file) {
        if (desk_file_read_all(file, DESK_TEXT_MAX, &buf, &len, &err) != DESK_OK) return cli_fail_err(cmd, &err);
        text = buf;
    }
    cli_gen g;
    int rc = cli_gen_open(cmd, &a, &g);
    desk_constraint *constraint = NULL;
    if (rc == 0 && grammar &&
        desk_constraint_new(grammar, desk_model_tokenizer(g.model), &constraint, &err) != DESK_OK) {
        rc = cli_fail_err(cmd, &err);
        cli_gen_close(&g);
    }
    if (rc) {
        free(buf);
        desk_grammar_free(grammar);
        return rc;
    }
    if (chat && g.warning) fprintf(stderr, "desk run: warning: %s\n", g.warning);

    desk_token *ids = NULL;
    size_t n = 0;
    rc = prompt_tokens(cmd, &a, &g, chat, text, len, &ids, &n);
    free(buf);
    for (int k = 0; rc == 0 && k < (samples ? samples : 1); k++) {
        char last = '\n';
        desk_gen_opts o = {
            .n_predict = a.n_predict,
            .stops = a.stops,
            .n_stops = a.n_stops,
            .stop_ids = chat && g.eot >= 0 ? &g.eot : NULL,
            .n_stop_ids = chat && g.eot >= 0 ? 1 : 0,
            .on_text = write_out,
            .user = &last,
            .constraint = constraint,
        };
        if (samples) {
            desk_engine_seed(g.engine, a.sp.seed + (uint64_t)k);
            putchar('\x1e');
        }
        desk_gen_stats st;
        if (desk_engine_generate(g.engine, ids, n, &o, &st, &err) != DESK_OK) {
            if (last != '\n' || samples) putchar('\n');
            rc = cli_fail_err(cmd, &err);
        } else {
            if (last != '\n' || samples) putchar('\n');
            fflush(stdout);
            cli_gen_args shown = a;
            shown.sp.seed = a.sp.seed + (uint64_t)k;
            if (a.stats) cli_gen_print_stats(&shown, &st);
            if (manifest) {
                cli_run_record rec = {.prompt = ids, .n_prompt = n, .stop_ids = o.stop_ids, .n_stop_ids = o.n_stop_ids,
                                      .stop = st.stop};
                rec.model_path = g.model_path;
                rec.out = desk_engine_tokens(g.engine, &rec.n_out);
                rec.text = desk_engine_text(g.engine, &rec.text_len);
                rc = cli_manifest_write(cmd, manifest, &a, &rec);
            }
        }
    }
    free(ids);
    desk_constraint_free(constraint);
    desk_grammar_free(grammar);
    cli_gen_close(&g);
    return rc;
}
