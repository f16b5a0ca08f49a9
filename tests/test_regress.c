/*
 * test_regress.c - regression tests for bugs the fuzzers and the hostile
 * suites found, one test each, named after what broke.  The crashing
 * inputs themselves also sit in fuzz/seeds/NAME/, so every fuzz run
 * replays them first.
 */
#include "util/testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "core/arena.h"
#include "gguf/gguf.h"

/* fuzz_chat: the first chunk of an arena was a calloc'd struct with a
 * 64-aligned member, so its header was misaligned whenever calloc gave a
 * 16-aligned block (UBSan: misaligned member access).  Fresh arenas of
 * many chunk sizes hit both kinds of block; every alignment must hold. */
static void test_arena_first_chunk_alignment(void **state) {
    (void)state;
    for (size_t chunk = 1; chunk < 400; chunk += 7) {
        desk_arena a;
        desk_arena_init(&a, chunk);
        for (size_t align = 1; align <= 256; align *= 2) {
            unsigned char *p = desk_arena_alloc(&a, 3 + chunk % 50, align);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            memset(p, 0xab, 3 + chunk % 50);
        }
        desk_arena_free(&a);
    }
}

/* The input fuzz_chat crashed on: an empty template and one user message
 * of a lone invalid UTF-8 byte, rendered to ids with SmolLM2's tokenizer. */
static void test_chat_lone_byte_message(void **state) {
    (void)state;
    char *path = tu_model_path("smollm2");
    desk_gguf *g = NULL;
    desk_err err = {0};
    assert_int_equal(desk_gguf_open(path, &g, &err), DESK_OK);
    desk_tokenizer *t = NULL;
    assert_int_equal(desk_tokenizer_load(g, &t, &err), DESK_OK);
    const char *warning = NULL;
    desk_chat_fmt f = desk_chat_choose("", t, &warning);
    assert_int_equal(f, DESK_CHAT_CHATML);
    desk_chat_msg m = {DESK_ROLE_USER, "\xe8", 1};
    desk_token ids[64];
    size_t n = 0;
    assert_int_equal(desk_chat_render_tokens(f, t, &m, 1, true, ids, 64, &n, &err), DESK_OK);
    assert_true(n >= 4);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < desk_tokenizer_n_vocab(t));
    desk_tokenizer_free(t);
    desk_gguf_close(g);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_first_chunk_alignment),
        cmocka_unit_test(test_chat_lone_byte_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
