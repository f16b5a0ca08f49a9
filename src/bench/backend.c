/*
 * backend.c - the benchmark sweep's backend over this library's models:
 * desk_bench_run measures through a table of functions, and this one binds
 * them to desk_model_load, desk_ctx_new and desk_decode.
 */
#include "bench/run.h"

static const desk_bench_model_opts *opts_of(void *u) {
    static const desk_bench_model_opts defaults = {0};
    return u ? (const desk_bench_model_opts *)u : &defaults;
}

static desk_status be_load(void *u, const char *path, void **m, desk_err *err) {
    desk_model_params mp = {.no_repack = opts_of(u)->no_repack};
    return desk_model_load(path, &mp, (desk_model **)m, err);
}
static void be_unload(void *u, void *m) { desk_model_free(m); }
static uint64_t be_weight_bytes(void *u, void *m) { return desk_model_weight_bytes(m); }
static int32_t be_n_vocab(void *u, void *m) { return desk_model_n_vocab(m); }
static desk_status be_ctx_new(void *u, void *m, int n_ctx, int n_batch, int n_threads, void **c, desk_err *err) {
    const desk_bench_model_opts *o = opts_of(u);
    desk_ctx_params cp = {.n_ctx = n_ctx, .n_batch = n_batch, .n_threads = n_threads, .type_k = o->type_k,
                          .type_v = o->type_v, .deterministic = o->deterministic};
    return desk_ctx_new(m, &cp, (desk_ctx **)c, err);
}
static void be_ctx_free(void *u, void *c) { desk_ctx_free(c); }
static void be_truncate(void *u, void *c, int n_keep) { desk_ctx_truncate(c, n_keep); }
static desk_status be_decode(void *u, void *c, const int32_t *ids, int n, desk_err *err) {
    return desk_decode(c, ids, n, err);
}
static uint64_t be_kv_bytes(void *u, void *c) { return desk_ctx_kv_bytes(c); }

desk_bench_backend desk_bench_model_backend(const desk_bench_model_opts *opts) {
    return (desk_bench_backend){(void *)opts, be_load,   be_unload,   be_weight_bytes, be_n_vocab,
                                be_ctx_new,   be_ctx_free, be_truncate, be_decode,       be_kv_bytes};
}
