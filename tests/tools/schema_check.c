/*
 * schema_check.c - test tool: desk's verdict on documents under a JSON
 * Schema, through the converter and the matcher alone (no model), for the
 * cross-check with llguidance (tests/py/test_json_schema.py).
 *
 *   schema_check SCHEMA.json < DOCS
 *
 * DOCS holds one document per line, each written as a JSON string (so a
 * document may hold newlines).  Prints one line per document: 1 when the
 * grammar accepts it whole, 0 when not.  `schema_check --gbnf SCHEMA.json`
 * prints the grammar instead.  Exit 2 (one line on stderr) when the schema
 * is refused.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "desk/files.h"
#include "grammar/grammar.h"

int main(int argc, char **argv) {
    bool print = argc == 3 && strcmp(argv[1], "--gbnf") == 0;
    if (argc != 2 && !print) {
        fprintf(stderr, "usage: schema_check [--gbnf] SCHEMA.json < DOCS\n");
        return 2;
    }
    desk_err err = {0};
    char *schema = NULL, *gbnf = NULL;
    size_t len = 0, glen = 0;
    desk_grammar *g = NULL;
    if (desk_file_read_all(argv[argc - 1], 1 << 20, &schema, &len, &err) != DESK_OK ||
        desk_json_schema_to_gbnf(schema, len, &gbnf, &glen, &err) != DESK_OK) {
        fprintf(stderr, "schema_check: %s\n", err.msg);
        free(schema);
        return 2;
    }
    if (print) {
        fputs(gbnf, stdout);
        free(schema);
        free(gbnf);
        return 0;
    }
    if (desk_grammar_parse(gbnf, glen, NULL, &g, &err) != DESK_OK) {
        fprintf(stderr, "schema_check: the grammar made from the schema: %s\n%s", err.msg, gbnf);
        free(schema);
        free(gbnf);
        return 2;
    }
    desk_grammar_matcher *m = NULL;
    if (desk_grammar_matcher_new(g, &m, &err) != DESK_OK) {
        fprintf(stderr, "schema_check: %s\n", err.msg);
        return 2;
    }
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        json_object *s = json_tokener_parse(line);
        if (!s || !json_object_is_type(s, json_type_string)) {
            fprintf(stderr, "schema_check: a line that is not a JSON string\n");
            return 2;
        }
        desk_grammar_matcher_reset(m, NULL);
        bool ok = desk_grammar_matcher_accept(m, json_object_get_string(s),
                                              (size_t)json_object_get_string_len(s)) &&
                  desk_grammar_matcher_can_end(m);
        printf("%d\n", ok ? 1 : 0);
        json_object_put(s);
    }
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
    free(schema);
    free(gbnf);
    return 0;
}
