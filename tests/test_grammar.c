/*
 * test_grammar.c - GBNF grammars: the parser's refusals (with their line
 * and column), left recursion named, and the matcher's verdicts on
 * complete matches, viable prefixes and refused text for grammars from
 * JSON to a toy language, fed whole and in arbitrary byte chunks; its
 * limits; and the token mask against clone + accept.
 */
#include "util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

enum { FULL, PREFIX, REJECT };
static const char *const verdict_name[] = {"a complete match", "a viable prefix", "refused"};

static desk_grammar *gparse_root(const char *text, const char *root) {
    desk_grammar *g = NULL;
    desk_err e = {0};
    desk_status s = desk_grammar_parse(text, strlen(text), root, &g, &e);
    if (s != DESK_OK)
        fail_msg("grammar refused: %s", e.msg);
    return g;
}

static desk_grammar *gparse(const char *text) {
    return gparse_root(text, NULL);
}

static desk_grammar *gparse_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/grammar/%s", tu_source_dir(), name);
    size_t len;
    char *text = tu_read_file(path, &len);
    desk_grammar *g = NULL;
    desk_err e = {0};
    if (desk_grammar_parse(text, len, NULL, &g, &e) != DESK_OK)
        fail_msg("%s refused: %s", name, e.msg);
    free(text);
    return g;
}

static uint32_t rng_next(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* S fed whole (SEED 0) or in random chunks of 1 to 5 bytes. */
static int verdict(const desk_grammar *g, const char *s, size_t len, uint32_t seed) {
    desk_grammar_matcher *m = NULL;
    desk_err e = {0};
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    bool ok = true;
    if (seed == 0) {
        ok = desk_grammar_matcher_accept(m, s, len);
    } else {
        for (size_t at = 0; at < len && ok;) {
            size_t n = 1 + rng_next(&seed) % 5;
            if (n > len - at)
                n = len - at;
            ok = desk_grammar_matcher_accept(m, s + at, n);
            at += n;
        }
    }
    int v = !ok ? REJECT : desk_grammar_matcher_can_end(m) ? FULL : PREFIX;
    desk_grammar_matcher_free(m);
    return v;
}

static void expect(const desk_grammar *g, const char *s, int want) {
    for (uint32_t seed = 0; seed < 6; seed++) {
        int v = verdict(g, s, strlen(s), seed * 7919u);
        if (v != want)
            fail_msg("\"%s\": expected %s, got %s (%s)", s, verdict_name[want], verdict_name[v],
                     seed ? "fed in chunks" : "fed whole");
    }
}

/* Each list ends with NULL. */
static void check(const desk_grammar *g, const char *const *full, const char *const *prefix,
                  const char *const *reject) {
    for (; full && *full; full++)
        expect(g, *full, FULL);
    for (; prefix && *prefix; prefix++)
        expect(g, *prefix, PREFIX);
    for (; reject && *reject; reject++)
        expect(g, *reject, REJECT);
}

static void check_text(const char *text, const char *const *full, const char *const *prefix,
                       const char *const *reject) {
    desk_grammar *g = gparse(text);
    check(g, full, prefix, reject);
    desk_grammar_free(g);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_json(void **state) {
    (void)state;
    desk_grammar *g = gparse_file("json.gbnf");
    check(g,
          LIST("{\"a\": [1, 2.5e-3, true, null], \"b\": {\"c\": \"x\\u00e9\\n\"}}", "[]", "  42  ",
               "\"日本語 😀\"", "-0.5", "{\"nested\":[[[[{}]]]]}", "{ }", "[ 1 , 2 ]\n", "0",
               "1E+10", "\"\\\"\\\\\\/\""),
          LIST("{\"a\": [1, ", "[", "\"abc", "-", "{\"k\"", "", "  ", "[1.", "\"\\u00"),
          LIST("{\"a\" 1}", "[1,]", "01", "{'a':1}", "\"\x01\"", "tru e", "[1 2]",
               "\"bad \\q escape\"", "[1]]", "{\"a\":}", "1.e5", "\"\\u00g0\""));
    desk_grammar_free(g);
}

static void test_arithmetic(void **state) {
    (void)state;
    check_text("root   ::= expr\n"
               "expr   ::= term ((\"+\" | \"-\") term)*\n"
               "term   ::= factor ((\"*\" | \"/\") factor)*\n"
               "factor ::= number | \"(\" expr \")\" | \"-\" factor\n"
               "number ::= [0-9]+\n",
               LIST("1+2*3", "(1+2)*3", "-(4/2)", "((((7))))", "10-2-3", "1+-2", "--3"),
               LIST("1+", "(1+2", "-", "", "((("),
               LIST("1**2", "()", "1)", "a", "1 + 2", "+1"));
}

static void test_comma_list(void **state) {
    (void)state;
    check_text("root ::= item (\",\" \" \"? item)*\nitem ::= [a-z]+\n",
               LIST("a", "a,b", "foo, bar,baz"), LIST("a,", "a, ", ""),
               LIST(",a", "a,,b", "a ,b", "A", "a,  b"));
}

static void test_toy_language(void **state) {
    (void)state;
    desk_grammar *g = gparse_file("toy.gbnf");
    check(g,
          LIST("int x = 1;\nwhile (x < 10) { x = x + 1; }\nif (x == 10) { int y; } else y = 2;",
               "", "{}{}", "  {\n\t{ int a; }\n}\n", "if (a) if (b) c = 1; else c = 2;",
               "x = (1 + 2) * 3 % 4;"),
          LIST("while (x", "if (a) {", "int", "x = 1", "{"),
          LIST("int 3 = x;", "while x { }", "x = ;", "}", "if (a) else b = 1;", "x = 1 +;"));
    desk_grammar_free(g);
}

static void test_unicode(void **state) {
    (void)state;
    check_text("root     ::= greeting \" \" emoji+\n"
               "greeting ::= \"こんにちは\" | [\\u3040-\\u309F]+ | \"\\x41\"\n"
               "emoji    ::= [\\U0001F600-\\U0001F64F] | \"\\u2764\"\n",
               LIST("こんにちは 😀", "ひらがな 😀😃❤", "A ❤"),
               LIST("こんにちは ", "こん", "こんにちは", "A"),
               LIST("カタカナ 😀", "こんにちは 🚀", "a 😀", "こんにちは  😀"));
}

static void test_negation(void **state) {
    (void)state;
    check_text("root ::= [^a-z0-9]+", LIST("ABC!?", "é", "日本"), LIST(""),
               LIST("aB", "1", "A1"));
    check_text("root ::= \"'\" [^'\\n]* \"'\"", LIST("''", "'a\"b'", "'é😀'"),
               LIST("'abc", "'"), LIST("'a\nb'", "'a''"));
    check_text("root ::= [^\\u3040-\\u309F]", LIST("カ", "a", "😀"), NULL, LIST("あ", "ん"));
}

static void test_bounds(void **state) {
    (void)state;
    check_text("root ::= [a]{3}", LIST("aaa"), LIST("", "a", "aa"), LIST("aaaa", "b"));
    check_text("root ::= \"x\"{2,4} \"y\"", LIST("xxy", "xxxy", "xxxxy"),
               LIST("x", "xx", "xxxx"), LIST("xy", "y", "xxxxxy", "xxxxx"));
    check_text("root ::= \"ab\"{2,}", LIST("abab", "ababab", "abababababab"),
               LIST("", "ab", "aba"), LIST("abb", "b"));
    check_text("root ::= [0-9]{0,3} \"!\"", LIST("!", "1!", "123!"), LIST("12", ""),
               LIST("1234!", "1234"));
    check_text("root ::= ( \"a\" | \"b\" ){ 2 , 3 }", LIST("ab", "bba"), LIST("a"),
               LIST("abab", "c"));
    check_text("root ::= \"x\"{0} \"y\"", LIST("y"), LIST(""), LIST("xy"));
}

static void test_empty_alternatives(void **state) {
    (void)state;
    check_text("root ::= \"a\" opt \"c\"\nopt ::= \"x\" | \n", LIST("ac", "axc"), LIST("a", "ax"),
               LIST("axxc", "c"));
    check_text("root ::= | \"x\"", LIST("", "x"), NULL, LIST("xx", "y"));
    check_text("root ::= \"\" \"a\" \"\"*", LIST("a"), LIST(""), LIST("aa"));
}

static void test_nested_groups(void **state) {
    (void)state;
    check_text("root ::= (\"a\" (\"b\" (\"c\" | \"d\")+)? \"e\")*",
               LIST("", "ae", "abce", "abcdcde", "aeae", "abdeabce"), LIST("ab", "abc", "a"),
               LIST("abe", "aee", "e"));
}

static void test_optional_trailing(void **state) {
    (void)state;
    check_text("root ::= \"v\" [0-9]+ (\".\" [0-9]+ (\".\" [0-9]+)?)?",
               LIST("v1", "v1.2", "v10.20.30"), LIST("v", "v1.", "v1.2."),
               LIST("v1.2.3.4", "v.1", "1.2"));
}

static void test_any(void **state) {
    (void)state;
    check_text("root ::= . . .", LIST("abc", "日本語", "😀x\n", "\"\\]"), LIST("ab", "", "😀"),
               LIST("abcd"));
    check_text("root ::= \"<\" [a-z]* \">\" .*", LIST("<a>", "<>anything ✓ <>", "<ab>>"),
               LIST("<", "<ab"), LIST("a", "<A>"));
}

static void test_comments_and_layout(void **state) {
    (void)state;
    check_text("# leading comment\n\n"
               "root::=a   # no spaces around ::=\n"
               "  # a comment line between rules\n"
               "a ::= (  # a comment inside a group\n"
               "   \"x\"\n"
               "   | \"y\"   # an alternative on its own line\n"
               " )   +\n"
               "\n# trailing comment without a newline",
               LIST("x", "xyyx"), LIST(""), LIST("z", "x y"));
    /* CRLF lines, tabs, a rule continued after '|' and '::=' */
    check_text("root ::=\r\n\t\"a\" |\r\n\t\"b\"\r\nunused ::= \"c\"\r\n", LIST("a", "b"), NULL,
               LIST("c", "ab"));
}

static void test_escapes(void **state) {
    (void)state;
    check_text("root ::= \"\\t\\\"\\\\\\n\\r\\x41\\u00e9\\U0001F600\" [\\]\\[\\\\]",
               LIST("\t\"\\\n\rAé😀]", "\t\"\\\n\rAé😀["), LIST("\t\"\\\n\rAé"),
               LIST("\t\"\\\n\rAé😀a"));
    /* '-' at a class's end is itself; a class mixing ranges and single
     * characters, overlapping ranges merged */
    check_text("root ::= [a-c-] [x-zb-dy]", LIST("-x", "cb", "ad"), NULL, LIST("da", "-a"));
    check_text("root ::= [a\\-z]+ \"\\-\"", LIST("a-z-", "--"), LIST("a", "a-z"), LIST("b", "a-zb"));
}

static void test_custom_root(void **state) {
    (void)state;
    desk_grammar *g = gparse_root("root ::= \"r\"\nstart ::= \"s\" root", "start");
    check(g, LIST("sr"), LIST("s"), LIST("r"));
    desk_grammar_free(g);
}

static void expect_error(const char *text, desk_status want, const char *needle) {
    desk_grammar *g = (desk_grammar *)1;
    desk_err e = {0};
    desk_status s = desk_grammar_parse(text, strlen(text), NULL, &g, &e);
    if (s != want || !strstr(e.msg, needle))
        fail_msg("grammar \"%s\": got %s \"%s\", wanted %s with \"%s\"", text, desk_status_str(s),
                 e.msg, desk_status_str(want), needle);
    assert_null(g);
}

static void test_parse_errors(void **state) {
    (void)state;
    expect_error("root ::= \"a\"\nb ::= ( \"x\" \"y\"\n", DESK_E_FORMAT,
                 "grammar:3:1: expected ')' to close the '(' at 2:7, found the end");
    expect_error("root ::= ( \"x\" ]", DESK_E_FORMAT,
                 "grammar:1:16: expected ')' to close the '(' at 1:10, found ']'");
    expect_error("root ::= \"abc", DESK_E_FORMAT, "grammar:1:10: the string is never closed");
    expect_error("root ::= [z-a]", DESK_E_FORMAT, "grammar:1:11: the range's end U+0061");
    expect_error("root ::= [abc", DESK_E_FORMAT, "grammar:1:10: '[' is never closed");
    expect_error("root ::= []", DESK_E_FORMAT, "grammar:1:10: an empty character class");
    expect_error("root ::= \"a\" | *", DESK_E_FORMAT, "grammar:1:16: '*' has nothing before it");
    expect_error("root = \"a\"", DESK_E_FORMAT, "grammar:1:6: expected '::=' after the rule name 'root'");
    expect_error("root ::= \"\\q\"", DESK_E_FORMAT, "grammar:1:11: unknown escape '\\q'");
    expect_error("root ::= \"\\x4\"", DESK_E_FORMAT, "grammar:1:11: '\\x' needs 2 hex digits");
    expect_error("root ::= \"\\U00110000\"", DESK_E_FORMAT, "past U+10FFFF");
    expect_error("root ::= \"a\"{3,1}", DESK_E_FORMAT, "grammar:1:13: '{3,1}': the maximum is below");
    expect_error("root ::= \"a\"{}", DESK_E_FORMAT, "grammar:1:14: expected a number");
    expect_error("root ::= \"a\"{2", DESK_E_FORMAT, "grammar:1:15: expected '}'");
    expect_error("root ::= \"a\"{99999999}", DESK_E_RANGE, "a repetition count past");
    expect_error("root ::= \"a\"{1000}{1000}{1000}", DESK_E_RANGE, "expands past");
    expect_error("root ::= \"a\" )", DESK_E_FORMAT, "grammar:1:14: a ')' that no '(' opened");
    expect_error("root ::= \"a\" : \"b\"", DESK_E_FORMAT,
                 "grammar:1:14: expected the end of the line after rule 'root', found ':'");
    expect_error("root ::= \"a\"\n  \"b\"", DESK_E_FORMAT, "grammar:2:3: expected a rule name");
    expect_error("root ::= \"\xff\"", DESK_E_FORMAT, "grammar:1:11: invalid UTF-8 in the grammar");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", DESK_E_FORMAT,
                 "grammar:2:1: rule 'root' is defined twice (first at 1:1)");
    expect_error("", DESK_E_FORMAT, "grammar: empty");
    expect_error("  # only a comment\n\n", DESK_E_FORMAT, "grammar: empty");
    expect_error("a ::= \"x\"", DESK_E_NOTFOUND, "no rule 'root'");
    expect_error("root ::= foo \"x\"\n", DESK_E_FORMAT,
                 "grammar:1:10: rule 'foo' is used but never defined");
    expect_error("root ::= \"x\" | (\"y\" bar-2)", DESK_E_FORMAT, "rule 'bar-2' is used but never defined");
    desk_grammar *g = NULL;
    desk_err e = {0};
    assert_int_equal(desk_grammar_parse(NULL, 3, NULL, &g, &e), DESK_E_ARG);
}

static void test_left_recursion(void **state) {
    (void)state;
    expect_error("root ::= a\na ::= a \"x\" | \"y\"\n", DESK_E_FORMAT,
                 "grammar:2:1: left recursion (a rule reaches itself before consuming anything): a -> a");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= a | \"y\"\n", DESK_E_FORMAT, "a -> b -> a");
    expect_error("root ::= e root \"x\" | \"y\"\ne ::= \"z\" | \n", DESK_E_FORMAT,
                 "root -> [past e, which can match empty] root");
    /* through two empty-matching rules and a group */
    expect_error("root ::= s\ns ::= (e f)? t\nt ::= s \"x\" | \"y\"\ne ::= \"\"\nf ::= e e\n",
                 DESK_E_FORMAT,
                 "grammar:2:1: left recursion (a rule reaches itself before consuming anything): "
                 "s -> [past (the repetition at 2:12), which can match empty] t -> s");
    /* a repetition of something that can match empty repeats forever */
    expect_error("root ::= (\"a\"?)*", DESK_E_FORMAT, "(the repetition at 1:16) -> [past (the group at 1:10)");
    expect_error("root ::= root", DESK_E_FORMAT, "root -> root");
    /* right recursion and recursion behind a character are fine */
    check_text("root ::= \"a\" root | \"b\"", LIST("b", "aab"), LIST("a"), LIST("ba"));
    check_text("root ::= \"(\" root \")\" | \"x\"", LIST("x", "((x))"), LIST("((x)"), LIST("(x))"));
}

static void test_invalid_utf8_and_partial(void **state) {
    (void)state;
    desk_grammar *g = gparse("root ::= [\\u3040-\\u309F]* | \"a\"");
    check(g, NULL, LIST("\xe3\x81", "\xe3"),
          LIST("\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe3\x80", "a\xe3"));
    desk_grammar_matcher *m = NULL;
    desk_err e = {0};
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    /* あ is e3 81 82: a held lead byte is viable, not complete */
    assert_true(desk_grammar_matcher_accept(m, "\xe3", 1));
    assert_false(desk_grammar_matcher_can_end(m));
    assert_true(desk_grammar_matcher_accept(m, "\x81", 1));
    assert_true(desk_grammar_matcher_accept(m, "\x82", 1));
    assert_true(desk_grammar_matcher_can_end(m));
    /* é (c3 a9) can begin no allowed character */
    assert_false(desk_grammar_matcher_accept(m, "\xc3", 1));
    assert_false(desk_grammar_matcher_can_end(m));
    assert_int_equal(desk_grammar_matcher_status(m, &e), DESK_E_FORMAT);
    assert_non_null(strstr(e.msg, "at byte 3"));
    /* dead until reset */
    assert_false(desk_grammar_matcher_accept(m, "a", 1));
    assert_int_equal(desk_grammar_matcher_reset(m, &e), DESK_OK);
    assert_int_equal(desk_grammar_matcher_status(m, NULL), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, "a", 1));
    assert_true(desk_grammar_matcher_can_end(m));
    assert_false(desk_grammar_matcher_accept(m, "a", 1));
    assert_int_equal(desk_grammar_matcher_status(m, &e), DESK_E_FORMAT);
    assert_non_null(strstr(e.msg, "U+0061 is not allowed at byte 1"));
    assert_false(desk_grammar_matcher_accept(m, NULL, 0));
    assert_int_equal(desk_grammar_matcher_reset(m, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, NULL, 0));
    assert_false(desk_grammar_matcher_accept(m, NULL, 2));
    assert_int_equal(desk_grammar_matcher_status(m, NULL), DESK_E_ARG);
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
}

/* Whole and chunked feeding agree on every prefix of mixed-width text,
 * chunk boundaries falling inside characters. */
static void test_chunking(void **state) {
    (void)state;
    desk_grammar *g = gparse_file("json.gbnf");
    const char *docs[] = {"{\"日本\": [\"😀😃\", \"é\\u00e9\", -1.5e3], \"k\": {\"x\": \"❤ñ\"}}",
                          "[\"a😀b\", \"\xe3\x81\"]", "\"ab\xf0\x9f\x98\"", "[\"\xc3\xa9\xc3\"]"};
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        size_t len = strlen(docs[d]);
        for (size_t cut = 0; cut <= len; cut++) {
            int whole = verdict(g, docs[d], cut, 0);
            for (uint32_t seed = 1; seed < 40; seed++)
                if (verdict(g, docs[d], cut, seed) != whole)
                    fail_msg("doc %zu, %zu bytes, seed %u: chunks disagree", d, cut, seed);
        }
    }
    desk_grammar_free(g);
}

static void test_clone_copy_reset(void **state) {
    (void)state;
    desk_grammar *g = gparse("root ::= \"ab\" | \"ac\"");
    desk_grammar_matcher *m = NULL, *c = NULL, *d = NULL;
    desk_err e = {0};
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    assert_int_equal(desk_grammar_matcher_new(g, &d, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, "a", 1));
    assert_int_equal(desk_grammar_matcher_clone(m, &c, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(c, "b", 1));
    assert_true(desk_grammar_matcher_can_end(c));
    assert_false(desk_grammar_matcher_can_end(m));
    assert_false(desk_grammar_matcher_accept(c, "x", 1));
    /* m untouched by its clone */
    assert_int_equal(desk_grammar_matcher_copy(d, m, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, "c", 1));
    assert_true(desk_grammar_matcher_can_end(m));
    assert_true(desk_grammar_matcher_accept(d, "b", 1));
    assert_true(desk_grammar_matcher_can_end(d));
    /* a dead matcher copied is dead */
    assert_int_equal(desk_grammar_matcher_copy(d, c, &e), DESK_OK);
    assert_false(desk_grammar_matcher_accept(d, "", 0));
    assert_int_equal(desk_grammar_matcher_reset(d, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(d, "ab", 2));
    desk_grammar *h = gparse("root ::= \"x\"");
    desk_grammar_matcher *o = NULL;
    assert_int_equal(desk_grammar_matcher_new(h, &o, &e), DESK_OK);
    assert_int_equal(desk_grammar_matcher_copy(o, m, &e), DESK_E_ARG);
    desk_grammar_matcher_free(o);
    desk_grammar_free(h);
    desk_grammar_matcher_free(m);
    desk_grammar_matcher_free(c);
    desk_grammar_matcher_free(d);
    desk_grammar_free(g);
}

static void test_limits(void **state) {
    (void)state;
    desk_err e = {0};
    desk_grammar_matcher *m = NULL;
    /* depth: nesting past max_depth is refused with a reason */
    desk_grammar *g = gparse("root ::= \"(\" root \")\" | \"x\"");
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    desk_grammar_matcher_set_limits(m, 0, 10);
    assert_true(desk_grammar_matcher_accept(m, "(((((((((", 9));
    assert_false(desk_grammar_matcher_accept(m, "((", 2));
    assert_int_equal(desk_grammar_matcher_status(m, &e), DESK_E_RANGE);
    assert_non_null(strstr(e.msg, "max_depth"));
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
    /* stacks: after n x's, n + 1 ways to owe y's */
    g = gparse("root ::= e\ne ::= \"x\" e \"y\" | \"x\" e | ");
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, "xxxxx", 5));
    assert_true(desk_grammar_matcher_stack_count(m) >= 6);
    desk_grammar_matcher_set_limits(m, 8, 0);
    assert_false(desk_grammar_matcher_accept(m, "xxxxxxxxxx", 10));
    assert_int_equal(desk_grammar_matcher_status(m, &e), DESK_E_RANGE);
    assert_non_null(strstr(e.msg, "more than 8 live stacks"));
    assert_int_equal(desk_grammar_matcher_reset(m, &e), DESK_OK);
    desk_grammar_matcher_set_limits(m, 4096, 0);
    assert_true(desk_grammar_matcher_accept(m, "xxxyy", 5));
    assert_true(desk_grammar_matcher_can_end(m));
    assert_false(desk_grammar_matcher_accept(m, "yyy", 3));
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
    /* 5000 ways to start: past the default limit, within a raised one */
    size_t cap = 5000 * 12 + 16, n = 0;
    char *words = malloc(cap);
    n += (size_t)snprintf(words, cap, "root ::= ");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(words + n, cap - n, "%s\"k%d\"", i ? "|" : "", i);
    g = gparse(words);
    free(words);
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_E_RANGE);
    assert_null(m);
    assert_non_null(strstr(e.msg, "more than 4096 live stacks"));
    assert_int_equal(desk_grammar_matcher_new_limits(g, 8192, 0, &m, &e), DESK_OK);
    assert_true(desk_grammar_matcher_accept(m, "k4999", 5));
    assert_true(desk_grammar_matcher_can_end(m));
    assert_false(desk_grammar_matcher_accept(m, "9", 1));
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
    /* merged stacks: an ambiguous but finite-state grammar stays small */
    g = gparse("root ::= (\"a\" | \"a\" \"a\" | [a-z])* \"a\"* [a-z]*");
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    char text[2000];
    memset(text, 'a', sizeof text);
    assert_true(desk_grammar_matcher_accept(m, text, sizeof text));
    assert_true(desk_grammar_matcher_can_end(m));
    assert_true(desk_grammar_matcher_stack_count(m) < 16);
    desk_grammar_matcher_free(m);
    desk_grammar_free(g);
}

/* Mutated grammars: each parses or is refused with a located message,
 * never crashes; those that parse run text without trouble. */
static void test_mutated_grammars(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/grammar/json.gbnf", tu_source_dir());
    size_t len;
    char *base = tu_read_file(path, &len);
    static const char alphabet[] = "()[]{}|*+?.\"\\\n #:=^-,0123456789axu\xe3\x81";
    char *text = malloc(len + 64);
    uint32_t seed = 99;
    int parsed = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(text, base, len);
        size_t n = len;
        for (int k = 1 + (int)(rng_next(&seed) % 3); k > 0; k--) {
            size_t at = rng_next(&seed) % n;
            char c = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
            switch (rng_next(&seed) % 3) {
            case 0: text[at] = c; break;
            case 1: memmove(text + at + 1, text + at, n - at); text[at] = c; n++; break;
            default: memmove(text + at, text + at + 1, n - at - 1); n--; break;
            }
        }
        desk_grammar *g = NULL;
        desk_err e = {0};
        if (desk_grammar_parse(text, n, NULL, &g, &e) != DESK_OK) {
            assert_null(g);
            if (strncmp(e.msg, "grammar:", 8) != 0)
                fail_msg("an error without its place: %s", e.msg);
            continue;
        }
        parsed++;
        desk_grammar_matcher *m = NULL;
        if (desk_grammar_matcher_new(g, &m, &e) == DESK_OK) {
            const char *doc = "{\"a\": [1, -2.5e3, \"x\\u00e9\"], \"b\": null}";
            for (size_t i = 0; doc[i]; i++)
                desk_grammar_matcher_accept(m, doc + i, 1);
            desk_grammar_matcher_can_end(m);
            desk_grammar_matcher_free(m);
        }
        desk_grammar_free(g);
    }
    /* both outcomes were exercised */
    assert_true(parsed > 100 && parsed < 2900);
    free(text);
    free(base);
}

/* Whether the mask of grammar G, direct and through cache C, agrees with
 * clone + accept for every token of V after each of the prefixes; the
 * number of tokens allowed. */
static int check_masks(desk_grammar *g, desk_grammar_cache *c, const char *const *prefixes,
                       size_t n_prefixes, char **pieces, const size_t *lens, int n,
                       desk_grammar_vocab *v) {
    desk_err e = {0};
    bool *allowed = calloc((size_t)n, sizeof *allowed), *cached = calloc((size_t)n, sizeof *cached);
    int total = 0;
    for (size_t p = 0; p < n_prefixes; p++) {
        desk_grammar_matcher *m = NULL;
        assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
        desk_grammar_matcher_accept(m, prefixes[p], strlen(prefixes[p]));
        assert_int_equal(desk_grammar_mask(m, v, allowed, &e), DESK_OK);
        assert_int_equal(desk_grammar_mask_cached(m, v, c, cached, &e), DESK_OK);
        for (int i = 0; i < n; i++) {
            desk_grammar_matcher *k = NULL;
            assert_int_equal(desk_grammar_matcher_clone(m, &k, &e), DESK_OK);
            bool want = desk_grammar_matcher_accept(k, pieces[i], lens[i]);
            desk_grammar_matcher_free(k);
            if (allowed[i] != want || cached[i] != want)
                fail_msg("after \"%s\", token %d \"%s\": mask says %d, cached mask %d, accept "
                         "says %d", prefixes[p], i, pieces[i], allowed[i], cached[i], want);
            total += want;
        }
        desk_grammar_matcher_free(m);
    }
    free(allowed);
    free(cached);
    return total;
}

/* The mask, direct and cached, agrees with clone + accept for every token
 * of a synthetic vocabulary, at several points of a JSON document and of
 * grammars with bounded repetitions (states that count characters) and
 * classes that treat non-ASCII characters unevenly. */
static void test_mask(void **state) {
    (void)state;
    desk_grammar *g = gparse_file("json.gbnf");
    enum { N = 4000 };
    static const char *const atoms[] = {"{", "}", "[", "]", "\"", ":", ",", " ", "\n", "a", "b",
                                        "true", "null", "0", "1", "9", ".", "e", "-", "\\", "u",
                                        "é", "😀", "\xe3", "\x81", "\x82", "\xff", "tr", "ue",
                                        "ab", "ba", "aaa", "01"};
    size_t n_atoms = sizeof atoms / sizeof *atoms;
    char **pieces = calloc(N, sizeof *pieces);
    size_t *lens = calloc(N, sizeof *lens);
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        char buf[64] = "";
        int k = i == 0 ? 0 : 1 + (int)(rng_next(&seed) % 4); /* token 0 is empty */
        for (int j = 0; j < k; j++)
            strcat(buf, atoms[rng_next(&seed) % n_atoms]);
        lens[i] = strlen(buf);
        pieces[i] = malloc(lens[i] + 1);
        memcpy(pieces[i], buf, lens[i] + 1);
    }
    desk_grammar_vocab *v = NULL;
    desk_err e = {0};
    assert_int_equal(desk_grammar_vocab_new((const char *const *)pieces, lens, N, &v, &e), DESK_OK);
    desk_grammar_cache *c = NULL;
    assert_int_equal(desk_grammar_cache_new(g, v, &c, &e), DESK_OK);
    const char *prefixes[] = {"", "{", "{\"a", "{\"a\":", "[1", "[\"\xe3", "[tr", "{\"a\": [1, 2]",
                              "\"\\u", "[]", "x", "{\"ab\": \"b", "[\"\xf0\x9f"};
    size_t n_prefixes = sizeof prefixes / sizeof *prefixes;
    /* twice: the second time every state is in the cache already */
    int total_allowed = check_masks(g, c, prefixes, n_prefixes, pieces, lens, N, v);
    assert_int_equal(check_masks(g, c, prefixes, n_prefixes, pieces, lens, N, v), total_allowed);
    bool *allowed = calloc(N, sizeof *allowed);
    assert_int_equal(desk_grammar_mask(NULL, v, allowed, &e), DESK_E_ARG);
    /* the comparison meant something: some tokens in, most out */
    assert_true(total_allowed > 50 && total_allowed < 13 * N / 2);

    /* bounded repetitions: each character moves a counter, so no state
     * repeats along a token, and a chain ends where the count does */
    desk_grammar *counted = gparse("root ::= \"\\\"\" [a-b]{0,3} \"\\\"\" | \"[\" [0-9]{2,4} (\",\" [0-9]{2,4})* \"]\" |\n"
                                   "  \"{\" [^{}\"é]{1,5} \"}\" | [ab]{3} \"e\"* |\n"
                                   "  \"'\" [^\"\\\\\\x00-\\x1F]{0,5} \"\\\"\"\n");
    desk_grammar_cache *cc = NULL;
    assert_int_equal(desk_grammar_cache_new(counted, v, &cc, &e), DESK_OK);
    /* another grammar's matcher is refused */
    desk_grammar_matcher *m = NULL;
    assert_int_equal(desk_grammar_matcher_new(g, &m, &e), DESK_OK);
    assert_int_equal(desk_grammar_mask_cached(m, v, cc, allowed, &e), DESK_E_ARG);
    desk_grammar_matcher_free(m);
    const char *cprefixes[] = {"", "\"", "\"a", "\"ab", "\"aba", "[", "[0", "[01", "[011", "[0119",
                               "[01,", "{", "{a", "{é", "{\xc3", "{aaaa", "{aaaaa", "a", "ab", "aba",
                               "'", "'a", "'abcd", "'é", "'\xf0\x9f"};
    size_t n_cprefixes = sizeof cprefixes / sizeof *cprefixes;
    int counted_allowed = check_masks(counted, cc, cprefixes, n_cprefixes, pieces, lens, N, v);
    assert_int_equal(check_masks(counted, cc, cprefixes, n_cprefixes, pieces, lens, N, v),
                     counted_allowed);
    assert_true(counted_allowed > 20 && counted_allowed < (int)n_cprefixes * N / 2);
    desk_grammar_cache_free(cc);
    desk_grammar_free(counted);
    free(allowed);
    desk_grammar_cache_free(c);
    desk_grammar_vocab_free(v);
    for (int i = 0; i < N; i++)
        free(pieces[i]);
    free(pieces);
    free(lens);
    desk_grammar_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_comma_list),
        cmocka_unit_test(test_toy_language),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_negation),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_empty_alternatives),
        cmocka_unit_test(test_nested_groups),
        cmocka_unit_test(test_optional_trailing),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_comments_and_layout),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_custom_root),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_left_recursion),
        cmocka_unit_test(test_invalid_utf8_and_partial),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_clone_copy_reset),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_mutated_grammars),
        cmocka_unit_test(test_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
