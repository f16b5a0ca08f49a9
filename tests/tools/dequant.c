/*
 * dequant.c - test tool: dequantizes the tensors of a GGUF file with desk's
 * reader and reference dequantizers, for bit-exact comparison with the
 * gguf Python package (tests/py/test_dequant_vs_gguf.py).
 *
 *   dequant MODEL.gguf OUT.f32 [NAME...]   raw little-endian float32 of
 *       every tensor (or the named ones, in the order given) back to back;
 *       prints "NAME TYPE N_ELEMENTS BYTE_OFFSET" per tensor on stdout.
 *   dequant --sha256 MODEL.gguf [NAME...]   prints "NAME TYPE N_ELEMENTS
 *       SHA256" per tensor instead (the hash of the same float32 bytes), so
 *       whole models can be checked without writing gigabytes.
 *
 * Exit 0 on success, 2 on bad usage or input (one line "dequant: ..."),
 * 1 on an I/O failure.
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mfile.h"
#include "desk.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

#define CHUNK_ELEMS ((int64_t)1 << 22) /* floats dequantized per step */

static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dequant: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static void usage(FILE *f) {
    fputs("usage: dequant MODEL.gguf OUT.f32 [TENSOR...]\n"
          "       dequant --sha256 MODEL.gguf [TENSOR...]\n"
          "Dequantizes tensors with desk's reference routines to raw little-endian\n"
          "float32 (or their SHA-256), printing one line per tensor.\n",
          f);
}

/* Where the floats of one tensor go: a file, or a running hash. */
typedef struct sink {
    FILE *fp;
    EVP_MD_CTX *md;
} sink;

static bool sink_put(sink *s, const float *x, size_t n) {
    if (s->md) return EVP_DigestUpdate(s->md, x, n * sizeof *x) == 1;
    return fwrite(x, sizeof *x, n, s->fp) == n;
}

/* Dequantizes T into S in chunks of whole rows; *N gets its element count. */
static int dequant_tensor(const desk_gguf_tensor *t, float *buf, sink *s, int64_t *n_out) {
    const desk_type_info *ti = desk_type_get(t->type);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3], cols = t->ne[0];
    *n_out = rows * cols;
    if (!ti || !desk_type_row_ok(t->type, cols))
        return fail(2, "tensor %s: type %u with rows of %lld elements is not dequantizable", t->name.s,
                    t->type, (long long)cols);
    if (!t->data && *n_out > 0) return fail(2, "tensor %s has no data in the file", t->name.s);
    if (cols > CHUNK_ELEMS) return fail(2, "tensor %s: rows of %lld elements are too long", t->name.s,
                                        (long long)cols);
    const size_t row_bytes = desk_type_row_size(t->type, cols);
    const int64_t rows_per = CHUNK_ELEMS / cols;
    const unsigned char *p = t->data;
    for (int64_t r = 0; r < rows; r += rows_per) {
        const int64_t nr = rows - r < rows_per ? rows - r : rows_per;
        desk_err err = {0};
        if (desk_dequantize_row(t->type, p + (size_t)r * row_bytes, buf, nr * cols, &err) != DESK_OK)
            return fail(2, "tensor %s: %s", t->name.s, err.msg);
        if (!sink_put(s, buf, (size_t)(nr * cols))) return fail(1, "tensor %s: write failed", t->name.s);
    }
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    bool hash = argc > 1 && strcmp(argv[1], "--sha256") == 0;
    int a = hash ? 2 : 1;
    if (argc - a < (hash ? 1 : 2))
        return fail(2, hash ? "--sha256 needs MODEL.gguf (see --help)"
                            : "expected MODEL.gguf OUT.f32 [TENSOR...] (see --help)");
    const char *model = argv[a++];
    const char *out = hash ? NULL : argv[a++];

    desk_err err = {0};
    desk_gguf *g = NULL;
    if (desk_gguf_open(model, &g, &err) != DESK_OK) return fail(2, "%s", err.msg);

    /* The tensors to write: the named ones, or all. */
    int64_t n_sel = argc - a > 0 ? argc - a : desk_gguf_n_tensors(g);
    const desk_gguf_tensor **sel = calloc((size_t)(n_sel > 0 ? n_sel : 1), sizeof *sel);
    float *buf = malloc((size_t)CHUNK_ELEMS * sizeof *buf);
    int rc = 0;
    if (!sel || !buf) {
        rc = fail(1, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n_sel; i++) {
        sel[i] = argc - a > 0 ? desk_gguf_find_tensor(g, argv[a + i]) : desk_gguf_tensor_at(g, i);
        if (!sel[i]) {
            rc = fail(2, "%s: no tensor named '%s'", model, argv[a + i]);
            goto done;
        }
    }

    desk_afile af = {0};
    bool open = false;
    if (!hash) {
        if (desk_afile_open(out, &af, &err) != DESK_OK) {
            rc = fail(1, "%s", err.msg);
            goto done;
        }
        open = true;
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < n_sel && rc == 0; i++) {
        const desk_gguf_tensor *t = sel[i];
        sink s = {open ? af.fp : NULL, hash ? EVP_MD_CTX_new() : NULL};
        if (hash && (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1)) {
            EVP_MD_CTX_free(s.md);
            rc = fail(1, "sha256 unavailable");
            break;
        }
        int64_t n = 0;
        rc = dequant_tensor(t, buf, &s, &n);
        if (rc == 0 && hash) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int md_len = 0;
            if (EVP_DigestFinal_ex(s.md, md, &md_len) != 1) rc = fail(1, "sha256 failed");
            printf("%s %s %lld ", t->name.s, desk_type_name(t->type), (long long)n);
            for (unsigned int k = 0; k < md_len; k++) printf("%02x", md[k]);
            putchar('\n');
        } else if (rc == 0) {
            printf("%s %s %lld %llu\n", t->name.s, desk_type_name(t->type), (long long)n,
                   (unsigned long long)offset);
            offset += (uint64_t)n * sizeof(float);
        }
        EVP_MD_CTX_free(s.md);
    }
    if (open) {
        if (rc != 0) desk_afile_abort(&af);
        else if (desk_afile_commit(&af, &err) != DESK_OK) rc = fail(1, "%s", err.msg);
    }
done:
    free(sel);
    free(buf);
    desk_gguf_close(g);
    return rc;
}
