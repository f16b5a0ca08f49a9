/*
 * gguf_sample.c - the sample GGUF file shared by the GGUF tests (see
 * gguf_sample.h).
 */
#define _GNU_SOURCE
#include "util/gguf_sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/types.h"
#include "util/testutil.h"

const char TU_SAMPLE_STR[TU_SAMPLE_STR_LEN + 1] = "a\0b\0c\xff\x01z";
const uint32_t TU_SAMPLE_U32S[5] = {0, 1, 0xffffffffu, 42, 7};
const char *const TU_SAMPLE_STRS[3] = {"", "hello", "\xe4\xb8\xad"};
const float TU_SAMPLE_F32[12] = {0, 1, -1, 2.5f, 1e-3f, 3, 4, 5, 6, 7, 8, -9};

static void ok(desk_status st, const desk_err *e) {
    if (st != DESK_OK) fail_msg("%s", e->msg);
}

void tu_gguf_sample_fill(desk_gguf_writer *w) {
    desk_err e = {0};
    ok(desk_gguf_writer_set_str(w, "general.architecture", "llama", &e), &e);
    desk_gguf_value v = {.type = DESK_GGUF_UINT8, .v.u64 = 200};
    ok(desk_gguf_writer_set(w, "t.u8", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_INT8, .v.i64 = -100};
    ok(desk_gguf_writer_set(w, "t.i8", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_UINT16, .v.u64 = 65535};
    ok(desk_gguf_writer_set(w, "t.u16", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_INT16, .v.i64 = -32768};
    ok(desk_gguf_writer_set(w, "t.i16", &v, &e), &e);
    ok(desk_gguf_writer_set_u32(w, "t.u32", 4000000000u, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_INT32, .v.i64 = -2000000000};
    ok(desk_gguf_writer_set(w, "t.i32", &v, &e), &e);
    ok(desk_gguf_writer_set_f32(w, "t.f32", 0.15625f, &e), &e);
    ok(desk_gguf_writer_set_bool(w, "t.bool", true, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_STRING, .v.str = {TU_SAMPLE_STR, TU_SAMPLE_STR_LEN}};
    ok(desk_gguf_writer_set(w, "t.str", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_UINT64, .v.u64 = UINT64_MAX};
    ok(desk_gguf_writer_set(w, "t.u64", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_INT64, .v.i64 = INT64_MIN};
    ok(desk_gguf_writer_set(w, "t.i64", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_FLOAT64, .v.f64 = -1.0e300};
    ok(desk_gguf_writer_set(w, "t.f64", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_UINT32, 5, TU_SAMPLE_U32S}};
    ok(desk_gguf_writer_set(w, "t.arr.u32", &v, &e), &e);
    desk_gguf_str strs[3];
    for (int i = 0; i < 3; i++) strs[i] = (desk_gguf_str){TU_SAMPLE_STRS[i], strlen(TU_SAMPLE_STRS[i])};
    v = (desk_gguf_value){.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_STRING, 3, strs}};
    ok(desk_gguf_writer_set(w, "t.arr.str", &v, &e), &e);
    v = (desk_gguf_value){.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_FLOAT32, 0, NULL}};
    ok(desk_gguf_writer_set(w, "t.arr.empty", &v, &e), &e);
    /* [[[1, 4294967295], [7]], []]: arrays of arrays of UINT32, three levels. */
    desk_gguf_value inner[2] = {
        {.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_UINT32, 2, &TU_SAMPLE_U32S[1]}},
        {.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_UINT32, 1, &TU_SAMPLE_U32S[4]}},
    };
    desk_gguf_value mid[2] = {
        {.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_ARRAY, 2, inner}},
        {.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_ARRAY, 0, NULL}},
    };
    v = (desk_gguf_value){.type = DESK_GGUF_ARRAY, .v.arr = {DESK_GGUF_ARRAY, 2, mid}};
    ok(desk_gguf_writer_set(w, "t.arr.nested", &v, &e), &e);

    static unsigned char q8[2 * 34], q4k[144], f16[16];
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof q4k; i++) q4k[i] = (unsigned char)(i * 3 + 1);
    for (size_t i = 0; i < sizeof f16; i++) f16[i] = (unsigned char)i;
    ok(desk_gguf_writer_add_tensor(w, "w.f32", DESK_TYPE_F32, 2, (const int64_t[]){4, 3}, TU_SAMPLE_F32, &e), &e);
    ok(desk_gguf_writer_add_tensor(w, "w.q8_0", DESK_TYPE_Q8_0, 2, (const int64_t[]){32, 2}, q8, &e), &e);
    ok(desk_gguf_writer_add_tensor(w, "w.q4_k", DESK_TYPE_Q4_K, 1, (const int64_t[]){256}, q4k, &e), &e);
    ok(desk_gguf_writer_add_tensor(w, "w.f16", DESK_TYPE_F16, 4, (const int64_t[]){2, 2, 1, 2}, f16, &e), &e);
}

unsigned char *tu_gguf_write_bytes(desk_gguf_writer *w, size_t *len) {
    char path[] = "/tmp/desk-gguf-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail_msg("mkstemp");
    close(fd);
    desk_err e = {0};
    ok(desk_gguf_writer_write(w, path, &e), &e);
    unsigned char *b = (unsigned char *)tu_read_file(path, len);
    unlink(path);
    return b;
}

unsigned char *tu_gguf_sample_bytes(uint32_t alignment, size_t *len) {
    desk_gguf_writer *w = NULL;
    desk_err e = {0};
    ok(desk_gguf_writer_new(&w, &e), &e);
    if (alignment) ok(desk_gguf_writer_set_u32(w, "general.alignment", alignment, &e), &e);
    tu_gguf_sample_fill(w);
    unsigned char *b = tu_gguf_write_bytes(w, len);
    desk_gguf_writer_free(w);
    return b;
}
