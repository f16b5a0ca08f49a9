/*
 * test_json_schema.c - JSON Schema to GBNF, checked through the matcher
 * alone: documents each keyword must accept and refuse (whitespace, key
 * order, extras, ranges checked against arithmetic over every integer in
 * a window, patterns, formats with leap years, recursion), and the
 * refusals that name the keyword and its JSON pointer.  Then the
 * constraint on SmolLM2's vocabulary: the fast check and the full mask
 * agree token by token, and end-of-generation waits for a complete match.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "grammar/grammar.h"

static desk_grammar *conv(const char *schema) {
    char *gbnf = NULL;
    size_t len = 0;
    desk_err e = {0};
    if (desk_json_schema_to_gbnf(schema, strlen(schema), &gbnf, &len, &e) != DESK_OK)
        fail_msg("schema %s refused: %s", schema, e.msg);
    desk_grammar *g = NULL;
    if (desk_grammar_parse(gbnf, len, NULL, &g, &e) != DESK_OK)
        fail_msg("the grammar of %s does not parse: %s\n%s", schema, e.msg, gbnf);
    free(gbnf);
    return g;
}

static bool accepts(const desk_grammar *g, const char *doc) {
    desk_grammar_matcher *m = NULL;
    assert_int_equal(desk_grammar_matcher_new(g, &m, NULL), DESK_OK);
    bool ok = desk_grammar_matcher_accept(m, doc, strlen(doc)) && desk_grammar_matcher_can_end(m);
    desk_grammar_matcher_free(m);
    return ok;
}

/* YES and NO end with NULL. */
static void check(const char *schema, const char *const *yes, const char *const *no) {
    desk_grammar *g = conv(schema);
    for (; yes && *yes; yes++)
        if (!accepts(g, *yes))
            fail_msg("%s should accept %s", schema, *yes);
    for (; no && *no; no++)
        if (accepts(g, *no))
            fail_msg("%s should refuse %s", schema, *no);
    desk_grammar_free(g);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_types(void **state) {
    (void)state;
    check("{\"type\": \"integer\"}", LIST("0", "-7", "123"), LIST("01", "1.5", "\"1\"", "", " 1"));
    check("{\"type\": \"number\"}", LIST("0", "-0.5", "1e10", "2.5E-3"), LIST(".5", "1.", "+1", "NaN"));
    check("{\"type\": \"string\"}", LIST("\"\"", "\"a b\"", "\"\\n\\\"\"", "\"\\u00e9\"", "\"é\""),
          LIST("\"a", "'a'", "\"\t\"", "\"\\x\""));
    check("{\"type\": \"boolean\"}", LIST("true", "false"), LIST("1", "True"));
    check("{\"type\": \"null\"}", LIST("null"), LIST("nul", "\"null\""));
    check("{\"type\": [\"integer\", \"null\"]}", LIST("3", "null"), LIST("true"));
    check("{}", LIST("1", "[1, {\"a\": null}]", "{ }", "\"x\""), LIST("[1,]", "{\"a\"}"));
    check("true", LIST("[]", "{}"), LIST("["));
}

static void test_whitespace(void **state) {
    (void)state;
    check("{}", LIST("[ ]", "[\n]", "[\n\t\t]", "{ }", "[1, 2]", "[1 ,\n  2]", "{\"a\" : 1}"),
          LIST("[  ]", "[\n\n]", "{  }", " [1]", "[1] ", "[1,  2]", "[ \n1]"));
}

static void test_objects(void **state) {
    (void)state;
    const char *closed = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, "
                         "\"b\": {\"type\": \"string\"}, \"c\": {\"type\": \"boolean\"}}, "
                         "\"required\": [\"b\"], \"additionalProperties\": false}";
    check(closed, LIST("{\"b\": \"x\"}", "{\"a\": 1, \"b\": \"x\"}", "{\"b\": \"x\", \"c\": true}",
                       "{\"a\": 1, \"b\": \"\", \"c\": false}"),
          LIST("{}", "{\"a\": 1}", "{\"b\": \"x\", \"a\": 1}", "{\"b\": \"x\", \"d\": 1}",
               "{\"b\": 1}", "{\"b\": \"x\",}"));
    /* additionalProperties absent: others allowed after the known ones,
     * under names that differ from them */
    const char *open = "{\"properties\": {\"id\": {\"type\": \"integer\"}}, \"required\": [\"id\"]}";
    check(open, LIST("{\"id\": 1}", "{\"id\": 1, \"x\": [true]}", "{\"id\": 1, \"i\": 2, \"idx\": 3}",
                     "{\"id\": 1, \"\": null}"),
          LIST("{\"x\": 1, \"id\": 1}", "{\"id\": 1, \"id\": 2}", "{}"));
    check("{\"type\": \"object\", \"additionalProperties\": {\"type\": \"integer\"}}",
          LIST("{}", "{\"a\": 1, \"b\": 2}"), LIST("{\"a\": \"x\"}"));
    check("{\"type\": \"object\", \"additionalProperties\": false}", LIST("{}", "{ }"),
          LIST("{\"a\": 1}"));
    /* required without a description: any value */
    check("{\"type\": \"object\", \"required\": [\"k\"], \"additionalProperties\": false}",
          LIST("{\"k\": [1]}"), LIST("{}"));
}

static void test_arrays(void **state) {
    (void)state;
    check("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 2, \"maxItems\": 3}",
          LIST("[1, 2]", "[1,2,3]"), LIST("[]", "[1]", "[1,2,3,4]", "[1, \"a\"]"));
    check("{\"type\": \"array\", \"maxItems\": 0}", LIST("[]", "[ ]"), LIST("[1]"));
    check("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"maxItems\": 1}",
          LIST("[]", "[5]"), LIST("[5, 6]"));
    check("{\"type\": \"array\", \"prefixItems\": [{\"type\": \"string\"}, {\"type\": \"integer\"}], "
          "\"items\": false}",
          LIST("[]", "[\"a\"]", "[\"a\", 1]"), LIST("[1]", "[\"a\", 1, 2]"));
    check("{\"type\": \"array\", \"prefixItems\": [{\"const\": 1}], \"items\": {\"type\": \"string\"},"
          " \"minItems\": 2}",
          LIST("[1, \"a\"]", "[1, \"a\", \"b\"]"), LIST("[1]", "[1, 2]", "[\"a\", \"b\"]"));
}

static void test_enum_const_combinators(void **state) {
    (void)state;
    check("{\"enum\": [\"a\", 1, null, [1, 2], {\"k\": true}]}",
          LIST("\"a\"", "1", "null", "[1, 2]", "[1,2]", "{ \"k\" : true }"),
          LIST("\"b\"", "2", "[2, 1]", "{\"k\": false}"));
    check("{\"const\": \"x/y\"}", LIST("\"x/y\""), LIST("\"x\""));
    check("{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"string\", \"maxLength\": 2}]}",
          LIST("1", "\"ab\""), LIST("\"abc\"", "true"));
    check("{\"oneOf\": [{\"const\": 1}, {\"const\": 2}]}", LIST("1", "2"), LIST("3"));
    check("{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, "
          "\"required\": [\"a\"]}, {\"properties\": {\"b\": {\"type\": \"integer\"}}, "
          "\"required\": [\"b\"]}]}",
          LIST("{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 2, \"c\": 3}"),
          LIST("{\"a\": 1}", "{\"b\": 2, \"a\": 1}"));
    check("{\"allOf\": [{\"type\": \"string\"}]}", LIST("\"s\""), LIST("1"));
}

static void test_refs(void **state) {
    (void)state;
    const char *tree = "{\"$defs\": {\"t\": {\"type\": \"object\", \"properties\": {\"v\": "
                       "{\"type\": \"integer\"}, \"kids\": {\"type\": \"array\", \"items\": "
                       "{\"$ref\": \"#/$defs/t\"}}}, \"required\": [\"v\"], "
                       "\"additionalProperties\": false}}, \"$ref\": \"#/$defs/t\"}";
    check(tree, LIST("{\"v\": 1}", "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": [{\"v\": 3}]}, {\"v\": 4}]}"),
          LIST("{\"v\": 1, \"kids\": [{}]}", "{\"v\": 1, \"kids\": [{\"v\": 2, \"x\": 1}]}"));
    check("{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}, \"maxItems\": 2}",
          LIST("[]", "[[], [[]]]"), LIST("[1]", "[[], [], []]"));
    check("{\"definitions\": {\"n\": {\"type\": \"integer\"}}, \"properties\": {\"a\": "
          "{\"$ref\": \"#/definitions/n\"}}, \"additionalProperties\": false}",
          LIST("{\"a\": 5}"), LIST("{\"a\": \"5\"}"));
}

static void test_strings(void **state) {
    (void)state;
    check("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}",
          LIST("\"ab\"", "\"abc\"", "\"\\n\\t\"", "\"éé\""), LIST("\"a\"", "\"abcd\"", "\"\""));
    check("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\"}", LIST("\"AB-123\""),
          LIST("\"AB-12\"", "\"ab-123\"", "\"xAB-123\""));
    check("{\"type\": \"string\", \"pattern\": \"ab\"}", LIST("\"ab\"", "\"xaby\""), LIST("\"a b\""));
    check("{\"type\": \"string\", \"pattern\": \"^(cat|dog)s?$\"}",
          LIST("\"cat\"", "\"dogs\""), LIST("\"cow\"", "\"cats!\""));
    check("{\"type\": \"string\", \"pattern\": \"^a.c$\"}", LIST("\"abc\"", "\"a\\\"c\"", "\"aéc\""),
          LIST("\"a\\nc\"", "\"ac\""));
    check("{\"type\": \"string\", \"pattern\": \"^[^a-c]+$\"}", LIST("\"xyz\"", "\"\\\\\""),
          LIST("\"xaz\""));
    check("{\"type\": \"string\", \"format\": \"date\"}",
          LIST("\"2024-02-29\"", "\"2000-02-29\"", "\"1999-12-31\"", "\"0001-01-01\""),
          LIST("\"2023-02-29\"", "\"1900-02-29\"", "\"2024-04-31\"", "\"2024-13-01\"", "\"0000-01-01\""));
    check("{\"type\": \"string\", \"format\": \"time\"}",
          LIST("\"12:00:00Z\"", "\"23:59:60.5+05:30\""), LIST("\"12:00:00\"", "\"24:00:00Z\""));
    check("{\"type\": \"string\", \"format\": \"date-time\"}", LIST("\"2024-01-01T00:00:00Z\""),
          LIST("\"2024-01-01 00:00:00Z\""));
    check("{\"type\": \"string\", \"format\": \"uuid\"}",
          LIST("\"123e4567-e89b-12d3-a456-426614174000\""),
          LIST("\"123e4567e89b12d3a456426614174000\"", "\"g23e4567-e89b-12d3-a456-426614174000\""));
}

/* Every integer in a window against the arithmetic of the bounds. */
static void test_integer_ranges(void **state) {
    (void)state;
    static const struct {
        const char *bounds;
        long lo, hi; /* LONG_MIN / LONG_MAX: none */
    } cases[] = {
        {"\"minimum\": 0, \"maximum\": 120", 0, 120},
        {"\"minimum\": -5, \"maximum\": 50", -5, 50},
        {"\"minimum\": 17", 17, 1L << 40},
        {"\"maximum\": -3", -(1L << 40), -3},
        {"\"minimum\": -1234, \"maximum\": -99", -1234, -99},
        {"\"exclusiveMinimum\": 9, \"exclusiveMaximum\": 1000", 10, 999},
        {"\"minimum\": 0.5, \"maximum\": 7.5", 1, 7},
        {"\"minimum\": 100, \"maximum\": 100", 100, 100},
        {"\"minimum\": 999, \"maximum\": 1001", 999, 1001},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char schema[200];
        snprintf(schema, sizeof schema, "{\"type\": \"integer\", %s}", cases[k].bounds);
        desk_grammar *g = conv(schema);
        for (long v = -1500; v <= 1500; v++) {
            char doc[32];
            snprintf(doc, sizeof doc, "%ld", v);
            bool want = v >= cases[k].lo && v <= cases[k].hi;
            if (accepts(g, doc) != want)
                fail_msg("%s: %ld should be %s", schema, v, want ? "accepted" : "refused");
        }
        static const char *const odd[] = {"-0", "007", "+5", "5.0"};
        for (size_t i = 0; i < 4; i++)
            if (accepts(g, odd[i]))
                fail_msg("%s accepts %s", schema, odd[i]);
        desk_grammar_free(g);
    }
}

static void expect_error(const char *schema, desk_status want, const char *text) {
    char *gbnf = NULL;
    desk_err e = {0};
    desk_status st = desk_json_schema_to_gbnf(schema, strlen(schema), &gbnf, NULL, &e);
    if (st != want || !strstr(e.msg, text))
        fail_msg("%s: got %d \"%s\", wanted %d with \"%s\"", schema, st, e.msg, want, text);
    assert_null(gbnf);
}

static void test_refusals(void **state) {
    (void)state;
    expect_error("{\"properties\": {\"a\": {\"type\": \"string\", \"foo\": 1}}}", DESK_E_UNSUPPORTED,
                 "schema: /properties/a: keyword \"foo\" is not supported");
    expect_error("{\"type\": \"array\", \"uniqueItems\": true}", DESK_E_UNSUPPORTED,
                 "/: keyword \"uniqueItems\"");
    expect_error("{\"items\": {\"type\": \"number\", \"minimum\": 1}}", DESK_E_UNSUPPORTED,
                 "/items: \"minimum\" on a number");
    expect_error("{\"properties\": {\"n\": {\"type\": \"number\", \"maximum\": 1}}}",
                 DESK_E_UNSUPPORTED, "/properties/n: \"maximum\" on a number");
    expect_error("{\"type\": \"string\", \"format\": \"email\"}", DESK_E_UNSUPPORTED,
                 "/format: format \"email\"");
    expect_error("{\"type\": \"string\", \"pattern\": \"^(?=a)b$\"}", DESK_E_UNSUPPORTED,
                 "/pattern: pattern: lookaround");
    expect_error("{\"type\": \"string\", \"pattern\": \"a+?\"}", DESK_E_UNSUPPORTED, "lazy");
    expect_error("{\"type\": \"string\", \"pattern\": \"(a)\\\\1\"}", DESK_E_UNSUPPORTED, "escape");
    expect_error("{\"$ref\": \"http://x/s.json\"}", DESK_E_UNSUPPORTED, "$ref \"http://x/s.json\"");
    expect_error("{\"$ref\": \"#/$defs/none\"}", DESK_E_NOTFOUND, "points at nothing");
    expect_error("{\"$ref\": \"#\", \"type\": \"object\"}", DESK_E_UNSUPPORTED, "beside \"$ref\"");
    expect_error("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}", DESK_E_UNSUPPORTED,
                 "no integer fits");
    expect_error("{\"type\": \"strin\"}", DESK_E_UNSUPPORTED, "type \"strin\"");
    expect_error("false", DESK_E_UNSUPPORTED, "accepts nothing");
    expect_error("{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {}}}, "
                 "{\"properties\": {\"b\": {}}, \"additionalProperties\": false}]}",
                 DESK_E_UNSUPPORTED, "does not declare \"a\"");
    expect_error("{\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 3}]}", DESK_E_UNSUPPORTED,
                 "/allOf/0: allOf: \"type\"");
    expect_error("{\"type\":\n  \"object\",,}", DESK_E_FORMAT, "schema:2:12:");
    expect_error("{\"type\": \"object\"", DESK_E_FORMAT, "ends early");
    expect_error("{} x", DESK_E_FORMAT, "schema:1:4:");
}

/* The constraint on a real vocabulary: allows() and apply() agree on
 * every token, in a few states of a JSON document. */
static void test_constraint(void **state) {
    (void)state;
    char *path = tu_model_path("smollm2");
    desk_gguf *gg = NULL;
    desk_tokenizer *t = NULL;
    desk_err e = {0};
    assert_int_equal(desk_gguf_open(path, &gg, &e), DESK_OK);
    assert_int_equal(desk_tokenizer_load(gg, &t, &e), DESK_OK);
    desk_grammar *g = conv("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}},"
                           " \"required\": [\"n\"], \"additionalProperties\": false}");
    desk_constraint *c = NULL;
    assert_int_equal(desk_constraint_new(g, t, &c, &e), DESK_OK);
    int32_t nv = desk_tokenizer_n_vocab(t);
    float *logits = malloc(sizeof *logits * (size_t)nv);
    assert_non_null(logits);
    desk_token eos = desk_tokenizer_special(t, DESK_SPECIAL_EOS);
    static const char *const steps[] = {"{", "\"n\"", ":", " 4", "2", "}"};
    for (size_t s = 0; s <= sizeof steps / sizeof steps[0]; s++) {
        for (int32_t i = 0; i < nv; i++)
            logits[i] = 0.0f;
        size_t n_allowed = 0;
        assert_int_equal(desk_constraint_apply(c, logits, NULL, 0, &n_allowed, &e), DESK_OK);
        size_t count = 0;
        for (int32_t i = 0; i < nv; i++) {
            bool by_mask = isfinite(logits[i]);
            if (by_mask != desk_constraint_allows(c, i))
                fail_msg("step %zu: token %d \"%s\": mask %d, check %d", s, i,
                         desk_tokenizer_piece(t, i), by_mask, !by_mask);
            count += by_mask;
        }
        assert_int_equal(count, n_allowed);
        assert_true(n_allowed > 0);
        bool done = s == sizeof steps / sizeof steps[0];
        assert_int_equal(desk_constraint_allows(c, eos), done);
        assert_int_equal(desk_constraint_can_end(c), done);
        assert_int_equal(desk_constraint_complete(c), done);
        if (done)
            break;
        desk_token id[8];
        size_t n = 0;
        assert_int_equal(desk_tokenize(t, steps[s], strlen(steps[s]), 0, id, 8, &n, &e), DESK_OK);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(desk_constraint_accept(c, id[k], &e), DESK_OK);
    }
    /* a refused token kills it, and the message names the token */
    desk_token bad = desk_tokenizer_find(t, "x");
    assert_true(bad >= 0);
    assert_false(desk_constraint_allows(c, bad));
    assert_int_not_equal(desk_constraint_accept(c, bad, &e), DESK_OK);
    assert_non_null(strstr(e.msg, "token"));
    assert_int_equal(desk_constraint_reset(c, &e), DESK_OK);
    assert_true(desk_constraint_allows(c, desk_tokenizer_find(t, "{")));
    free(logits);
    desk_constraint_free(c);
    desk_grammar_free(g);
    desk_tokenizer_free(t);
    desk_gguf_close(gg);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_enum_const_combinators),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_constraint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
