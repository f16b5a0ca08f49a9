/*
 * test_core.c - errors, arenas, atomic files, fp16 conversions, model names.
 */
#include "util/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/mfile.h"
#include "core/paths.h"

static void test_errf(void **state) {
    (void)state;
    desk_err e = {0};
    assert_int_equal(desk_errf(&e, DESK_E_FORMAT, "bad %s at %d", "magic", 4), DESK_E_FORMAT);
    assert_string_equal(e.msg, "bad magic at 4");
    desk_err_prefix(&e, "%s", "x.gguf");
    assert_string_equal(e.msg, "x.gguf: bad magic at 4");
    assert_string_equal(desk_status_str(DESK_E_FORMAT), "format error");
}

static void test_arena(void **state) {
    (void)state;
    desk_arena a;
    desk_arena_init(&a, 128);
    for (int i = 1; i < 200; i++) {
        unsigned char *p = desk_arena_alloc(&a, (size_t)i, 64);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (int j = 0; j < i; j++) assert_int_equal(p[j], 0);
        memset(p, 0xab, (size_t)i);
    }
    assert_null(desk_arena_alloc(&a, SIZE_MAX - 8, 16));
    assert_null(desk_arena_alloc(&a, 8, 3));
    char *s = desk_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    desk_arena_free(&a);
}

static void test_afile(void **state) {
    (void)state;
    char path[] = "/tmp/desk_test_afileXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    desk_err e = {0};
    desk_afile af;
    assert_int_equal(desk_afile_open(path, &af, &e), DESK_OK);
    fputs("new contents", af.fp);
    desk_afile_abort(&af); /* an aborted write leaves the old file */
    size_t n;
    char *got = tu_read_file(path, &n);
    assert_string_equal(got, "old");
    free(got);
    assert_int_equal(desk_afile_open(path, &af, &e), DESK_OK);
    fputs("new contents", af.fp);
    assert_int_equal(desk_afile_commit(&af, &e), DESK_OK);
    got = tu_read_file(path, &n);
    assert_string_equal(got, "new contents");
    free(got);
    desk_mfile mf;
    assert_int_equal(desk_mfile_open(path, &mf, &e), DESK_OK);
    assert_int_equal(mf.size, 12);
    assert_memory_equal(mf.data, "new contents", 12);
    desk_mfile_close(&mf);
    unlink(path);
    assert_int_equal(desk_mfile_open(path, &mf, &e), DESK_E_IO);
    assert_non_null(strstr(e.msg, path));
    assert_int_equal(desk_afile_open("/nonexistent-dir/x", &af, &e), DESK_E_IO);
}

static void test_fp16(void **state) {
    (void)state;
    /* Every half value survives half -> float -> half exactly (NaNs stay NaN). */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = desk_f16_to_f32((desk_f16)h);
        if (isnan(f)) {
            assert_true(isnan(desk_f16_to_f32(desk_f32_to_f16(f))));
            continue;
        }
        assert_int_equal(desk_f32_to_f16(f), h);
    }
    assert_true(desk_f16_to_f32(0x3c00) == 1.0f);
    assert_true(desk_f16_to_f32(0xc000) == -2.0f);
    assert_true(desk_f16_to_f32(0x0001) == 0x1p-24f);
    assert_int_equal(desk_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    assert_int_equal(desk_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* ties to even */
    assert_int_equal(desk_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(desk_f32_to_bf16(desk_bits_f32(0x3f808000u)), 0x3f80); /* tie, even */
    assert_int_equal(desk_f32_to_bf16(desk_bits_f32(0x3f818000u)), 0x3f82); /* tie, up */
    assert_true(desk_bf16_to_f32(0x4049) == desk_bits_f32(0x40490000u));
}

static void test_resolve(void **state) {
    (void)state;
    char buf[4096];
    desk_err e = {0};
    assert_int_equal(desk_model_resolve("no-such-model", buf, sizeof buf, &e), DESK_E_NOTFOUND);
    assert_non_null(strstr(e.msg, "no-such-model"));
    assert_int_equal(desk_model_resolve("/nope/x.gguf", buf, sizeof buf, &e), DESK_E_NOTFOUND);
    assert_int_equal(desk_model_resolve("", buf, sizeof buf, &e), DESK_E_ARG);
    assert_int_equal(desk_model_resolve("CMakeLists.txt", buf, sizeof buf, &e), DESK_OK);
    assert_string_equal(buf, "CMakeLists.txt");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errf),   cmocka_unit_test(test_arena),
        cmocka_unit_test(test_afile),  cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
