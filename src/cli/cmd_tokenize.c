/*
 * cmd_tokenize.c - `desk tokenize -m MODEL`: standard input, byte for byte,
 * to token ids with the model's own tokenizer.  Only the tokenizer is
 * loaded, so vocab-only GGUF files work too.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sandbox.h"
#include "desk.h"
#include "desk/files.h"

static const char USAGE[] =
    "usage: desk tokenize -m MODEL [--no-bos] [--parse-special] [--json | --pieces]\n"
    "\n"
    "Reads all of standard input unchanged (no newline is stripped; at most\n"
    "64 MiB) and prints its token ids, space separated, on one line.  MODEL is a path or a known\n"
    "model name (smollm2, gemma3-270m).\n"
    "\n"
    "-m, --model MODEL  the GGUF file whose tokenizer to use\n"
    "--no-bos           add no BOS/EOS (by default they are added as the\n"
    "                   model's metadata asks)\n"
    "--parse-special    let the text spell control tokens (\"<|im_end|>\" becomes\n"
    "                   its id); without it they are plain text\n"
    "--json             print a JSON array of ids instead\n"
    "--pieces           print one token per line: id, a tab, the piece as JSON\n"
    "                   string (the decoded bytes; control tokens as their text)\n";

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    bool no_bos = false, parse = false, json = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (i + 1 >= argc) return cli_fail("tokenize", DESK_EXIT_USAGE, "%s needs a model", a);
            model = argv[++i];
        } else if (strcmp(a, "--no-bos") == 0) {
            no_bos = true;
        } else if (strcmp(a, "--parse-special") == 0) {
            parse = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--pieces") == 0) {
            pieces = true;
        } else {
            return cli_fail("tokenize", DESK_EXIT_USAGE, "unknown argument '%s' (see --help)", a);
        }
    }
    if (!model) return cli_fail("tokenize", DESK_EXIT_USAGE, "no model: pass -m MODEL");
    if (json && pieces)
        return cli_fail("tokenize", DESK_EXIT_USAGE, "--json and --pieces exclude each other");

    char path[4096];
    desk_err err = {0};
    desk_gguf *g = NULL;
    if (desk_model_resolve(model, path, sizeof path, &err) != DESK_OK) return cli_fail_err("tokenize", &err);
    {
        const char *reads[] = {path};
        int bad = cli_sandbox_apply("tokenize", &(cli_sandbox_spec){.read = reads, .n_read = 1});
        if (bad) return bad;
    }
    if (desk_gguf_open(path, &g, &err) != DESK_OK) return cli_fail_err("tokenize", &err);
    desk_tokenizer *t = NULL;
    desk_status st = desk_tokenizer_load(g, &t, &err);
    desk_gguf_close(g);
    if (st != DESK_OK) {
        desk_err_prefix(&err, "%s", path);
        return cli_fail_err("tokenize", &err);
    }

    size_t len = 0;
    char *text = NULL;
    if (desk_stream_read_all(stdin, "standard input", DESK_TEXT_MAX, &text, &len, &err) != DESK_OK) {
        desk_tokenizer_free(t);
        return cli_fail_err("tokenize", &err);
    }
    unsigned flags = (no_bos ? 0 : DESK_TOK_ADD_SPECIAL) | (parse ? DESK_TOK_PARSE_SPECIAL : 0);
    size_t n = 0;
    st = desk_tokenize(t, text, len, flags, NULL, 0, &n, &err);
    desk_token *ids = malloc(sizeof(desk_token) * (n ? n : 1));
    if (ids && (st == DESK_OK || st == DESK_E_RANGE))
        st = desk_tokenize(t, text, len, flags, ids, n, &n, &err);
    free(text);
    if (!ids || st != DESK_OK) {
        free(ids);
        desk_tokenizer_free(t);
        if (!ids) return cli_fail("tokenize", DESK_EXIT_FAIL, "out of memory");
        return cli_fail_err("tokenize", &err);
    }

    if (json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else if (pieces) {
        char *buf = malloc((size_t)desk_tokenizer_max_piece(t) + 8);
        for (size_t i = 0; buf && i < n; i++) {
            size_t l = desk_tokenizer_decode_piece(t, ids[i], true, buf,
                                                   (size_t)desk_tokenizer_max_piece(t) + 8);
            json_object *s = json_object_new_string_len(buf, (int)l);
            printf("%d\t%s\n", ids[i], json_object_to_json_string_ext(s, JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(s);
        }
        free(buf);
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    desk_tokenizer_free(t);
    if (fflush(stdout) != 0) return cli_fail("tokenize", DESK_EXIT_FAIL, "cannot write output");
    return 0;
}
