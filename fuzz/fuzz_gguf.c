/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: open the input as an
 * in-memory image, then touch every byte the handle hands out (keys,
 * values, nested arrays, tensor data ends) and every lookup, so ASan sees
 * any pointer that escapes the image or the arena.  A refusal must carry
 * a message.  Built by `make fuzz` (scripts/fuzz.sh, CMake DESK_FUZZ=ON).
 */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static unsigned sink;

static void touch(const void *p, uint64_t n) {
    const unsigned char *b = p;
    for (uint64_t i = 0; i < n; i++) sink += b[i];
}

static void walk(const desk_gguf_value *v) {
    if (v->type == DESK_GGUF_STRING) {
        touch(v->v.str.s, v->v.str.len + 1);
    } else if (v->type == DESK_GGUF_ARRAY) {
        const desk_gguf_vtype et = v->v.arr.type;
        size_t sz = desk_gguf_vtype_size(et);
        if (sz) touch(v->v.arr.data, v->v.arr.n * sz);
        for (uint64_t i = 0; !sz && i < v->v.arr.n; i++) {
            if (et == DESK_GGUF_STRING) {
                const desk_gguf_str *s = (const desk_gguf_str *)v->v.arr.data + i;
                touch(s->s, s->len + 1);
            } else {
                walk((const desk_gguf_value *)v->v.arr.data + i);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    desk_gguf *g = NULL;
    desk_err err = {0};
    if (desk_gguf_open_memory(data, size, &g, &err) != DESK_OK) {
        if (err.msg[0] == '\0' || g != NULL) abort();
        return 0;
    }
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        const desk_gguf_kv *kv = desk_gguf_kv_at(g, i);
        touch(kv->key.s, kv->key.len + 1);
        walk(&kv->value);
        if (strlen(kv->key.s) == kv->key.len && desk_gguf_find_kv(g, kv->key.s) != kv) abort();
        uint32_t u;
        float f;
        const char *s;
        desk_gguf_get_u32(g, kv->key.s, &u, &err);
        desk_gguf_get_f32(g, kv->key.s, &f, &err);
        if (desk_gguf_get_str(g, kv->key.s, &s, &err) == DESK_OK) sink += (unsigned)strlen(s);
    }
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_gguf_tensor *t = desk_gguf_tensor_at(g, i);
        touch(t->name.s, t->name.len + 1);
        const unsigned char *d = t->data;
        if (t->nbytes == 0 || d < data || d + t->nbytes > data + size) abort();
        sink += d[0] + d[t->nbytes - 1];
        if (strlen(t->name.s) == t->name.len && desk_gguf_find_tensor(g, t->name.s) != t) abort();
    }
    desk_gguf_close(g);
    return 0;
}
