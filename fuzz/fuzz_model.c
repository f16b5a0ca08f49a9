/*
 * fuzz_model.c - libFuzzer target for the model loader: the input is a
 * whole GGUF file.  It is written to a private temporary file (the loader
 * takes a path and maps it) and loaded with desk_model_load; when that
 * succeeds, a context of 8 positions decodes up to 3 tokens taken from the
 * input's last bytes, so hyperparameters that pass validation but would
 * make the forward pass read out of bounds are caught by ASan.
 *
 * Seed: fuzz/seeds/model/tiny-llama.gguf (fuzz/make_model_seed.py), a
 * one-layer 13 KiB llama model with a byte-level BPE vocabulary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *scratch_path(void) {
    static char path[] = "/tmp/desk_fuzz_model_XXXXXX";
    static int fd = -1;
    if (fd < 0) {
        fd = mkstemp(path);
        if (fd < 0) abort(); /* the harness itself cannot run */
        close(fd);
    }
    return path;
}

static void decode_some(desk_model *m, const uint8_t *data, size_t size) {
    desk_err err = {0};
    desk_ctx *c = NULL;
    desk_ctx_params cp = {.n_ctx = 8, .n_batch = 4, .n_threads = 1};
    if (desk_ctx_new(m, &cp, &c, &err) != DESK_OK) return;
    int32_t n_vocab = desk_model_n_vocab(m);
    desk_token ids[3];
    int n = 0;
    for (size_t i = size; i > 0 && n < 3; i--) ids[n++] = (desk_token)(data[i - 1] % (uint32_t)n_vocab);
    if (n > 0 && desk_decode(c, ids, n, &err) == DESK_OK) {
        const float *l = desk_ctx_logits(c, -1);
        float sum = 0;
        for (int32_t i = 0; i < n_vocab; i++) sum += l[i];
        if (sum != sum && n_vocab < 0) abort(); /* keeps the reads; never true */
    }
    desk_ctx_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = scratch_path();
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    desk_model *m = NULL;
    desk_err err = {0};
    if (desk_model_load(path, NULL, &m, &err) == DESK_OK) {
        decode_some(m, data, size);
        desk_model_free(m);
    } else if (!err.msg[0]) {
        abort(); /* every refusal must say why */
    }
    return 0;
}
