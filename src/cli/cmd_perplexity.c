/*
 * cmd_perplexity.c - `desk perplexity`: perplexity of a model on a text
 * file, computed as llama.cpp's llama-perplexity does: the tokenized text
 * (BOS added if the model adds one) is cut into non-overlapping windows of
 * --ctx tokens; each window starts from an empty cache with its first token
 * replaced by BOS (if the model adds BOS), and only the second half of each
 * window is scored.  Prints "PPL = x +/- y" (or JSON) on stdout.
 *
 * With --kl-divergence-base FILE it also saves each scored position's
 * log-probabilities in llama-perplexity's format; with --kl-divergence too
 * it runs the windows stored in FILE and compares this run's distributions
 * with the saved ones (kld.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sandbox.h"
#include "desk/files.h"
#include "desk.h"
#include "kld.h"
#include "lora_opts.h"

static const char USAGE[] =
    "usage: desk perplexity -m MODEL -f FILE [--ctx 512] [-t N] [--chunks N] [-ctk T] [-ctv T] [--json]\n"
    "                       [--no-repack] [--deterministic] [--lora ADAPTER.gguf[:S]] [--kl-divergence-base BASE]\n"
    "       desk perplexity -m MODEL --kl-divergence-base BASE --kl-divergence [-f FILE] [--chunks N] ...\n"
    "\n"
    "Perplexity of MODEL on the text in FILE, as llama-perplexity computes it:\n"
    "windows of --ctx tokens, each scored on its second half.\n"
    "  -m MODEL     a GGUF file or a cached model's short name\n"
    "  -f FILE      the text (at least 2 x ctx tokens; a regular file, at most 64 MiB)\n"
    "  --ctx N      window length in tokens (default 512; with --kl-divergence, BASE's)\n"
    "  -t N         threads (default: physical cores)\n"
    "  --chunks N   score only the first N windows (default: all)\n"
    "  -ctk T, --cache-type-k T   KV cache type of K: f16 (default) or q8_0\n"
    "  -ctv T, --cache-type-v T   KV cache type of V: f16 (default) or q8_0\n"
    "  --json       print {\"ppl\":..,\"ppl_err\":..,\"chunks\":..,\"tokens\":..} instead\n"
    "               (null where a figure is not a finite number)\n"
    "  --no-repack  use the weights in place from the file (zero copy) instead of\n"
    "               repacking Q4_0/Q4_K and copying the rest onto huge pages at load\n"
    "               (slower; the same perplexity)\n"
    "  --deterministic  batch-invariant arithmetic (the same logits whatever the\n"
    "               batch size or threads; see desk run --help)\n"
    CLI_LORA_HELP    "\n"
    "KL divergence (llama-perplexity's base file format, so either program reads\n"
    "the other's files):\n"
    "  --kl-divergence-base BASE  alone: also save the log-probabilities of every\n"
    "               scored position to BASE (written atomically; n_vocab x 2 bytes per\n"
    "               position: 25 MB per window of 512 for SmolLM2, 134 MB for Gemma 3)\n"
    "  --kl-divergence  run the windows stored in BASE (its tokens and --ctx; -f, if\n"
    "               given, must tokenize to the same tokens) and compare this run with\n"
    "               BASE: PPL(Q) vs PPL(base), ln and ratio of the two, KL divergence\n"
    "               (mean, max, 99.9/99/90 %, median, 10/5/1 %, min), Delta p and the\n"
    "               top-1 agreement (\"Same top p\"); with --json one object (kld_mean,\n"
    "               kld_max, same_top, ppl_ratio, ...).  BASE must come from a model with\n"
    "               the same vocabulary; a truncated or malformed BASE is refused with\n"
    "               the offset or field at fault\n"
    "  DESK_ISA=scalar|avx2|avx512|...  (environment) forces a kernel table, e.g. to\n"
    "               compare instruction sets against one base\n";

/* -log p(tok) under LOGITS (n floats), as the reference computes it. */
static double nll_of(const float *logits, int n, int tok) {
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += expf(logits[i] - mx);
    return -((double)(logits[tok] - mx) - log(sum));
}

static void json_num(char *buf, size_t cap, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%.6f", v);
    else snprintf(buf, cap, "null");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What a run does with each scored position besides its perplexity. */
typedef enum { PPL_ONLY, PPL_SAVE, PPL_COMPARE } ppl_mode;

/* In compare mode with -f: the text must give the base file's tokens. */
static int check_same_tokens(const kld_base *b, const desk_token *toks, size_t n_tok, const char *file) {
    const size_t n = (size_t)b->n_chunk * (size_t)b->n_ctx;
    if (n_tok < n)
        return cli_fail("perplexity", DESK_EXIT_USAGE, "%s tokenizes to %zu tokens; %s holds %d windows of %d (%zu tokens)",
                        file, n_tok, b->path, b->n_chunk, b->n_ctx, n);
    for (size_t i = 0; i < n; i++)
        if (toks[i] != b->tokens[i])
            return cli_fail("perplexity", DESK_EXIT_USAGE,
                            "%s's token %zu is %d, but %s has %d at offset %zu: not the text the base was made from",
                            file, i, (int)toks[i], b->path, (int)b->tokens[i], (size_t)KLD_HEADER_BYTES + 4 * i);
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *base_path = NULL;
    long long n_ctx = 512, n_threads = 0, n_chunks = -1;
    bool json = false, no_repack = false, compare = false, ctx_given = false, deterministic = false;
    desk_cache_type cache_k = DESK_CACHE_F16, cache_v = DESK_CACHE_F16;
    cli_loras loras = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(USAGE);
        if (cli_switch(a, "--json", &json) || cli_switch(a, "--no-repack", &no_repack) ||
            cli_switch(a, "--deterministic", &deterministic) ||
            cli_switch(a, "--kl-divergence", &compare))
            continue;
        const int cache = cli_parse_cache_flag("perplexity", argc, argv, &i, &cache_k, &cache_v);
        if (cache < 0) return DESK_EXIT_USAGE;
        if (cache > 0) continue;
        const int lora = cli_lora_parse("perplexity", &loras, argc, argv, &i);
        if (lora < 0) return DESK_EXIT_USAGE;
        if (lora > 0) continue;
        if (i + 1 >= argc) return cli_fail("perplexity", DESK_EXIT_USAGE, "unknown or incomplete argument '%s' (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "-m") == 0) model = v;
        else if (strcmp(a, "-f") == 0) file = v;
        else if (strcmp(a, "--kl-divergence-base") == 0) base_path = v;
        else if (strcmp(a, "--ctx") == 0) {
            if (!cli_parse_int("perplexity", "--ctx", v, 8, 1 << 20, &n_ctx)) return DESK_EXIT_USAGE;
            ctx_given = true;
        } else if (strcmp(a, "-t") == 0) {
            if (!cli_parse_int("perplexity", "-t", v, 1, 1024, &n_threads)) return DESK_EXIT_USAGE;
        } else if (strcmp(a, "--chunks") == 0) {
            if (!cli_parse_int("perplexity", "--chunks", v, 1, 1 << 30, &n_chunks)) return DESK_EXIT_USAGE;
        } else return cli_fail("perplexity", DESK_EXIT_USAGE, "unknown argument '%s' (see --help)", a);
    }
    if (compare && !base_path)
        return cli_fail("perplexity", DESK_EXIT_USAGE, "--kl-divergence needs --kl-divergence-base BASE");
    if (!model || (!file && !compare))
        return cli_fail("perplexity", DESK_EXIT_USAGE, "-m MODEL and -f FILE are required");
    const ppl_mode mode = compare ? PPL_COMPARE : base_path ? PPL_SAVE : PPL_ONLY;

    desk_err err = {0};
    char path[4096];
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    char *text = NULL;
    size_t text_len = 0;
    desk_token *toks = NULL;
    uint16_t *row = NULL;
    kld_base base = {0};
    kld_stats st = {0};
    desk_afile out = {0};
    bool out_open = false;
    int rc = 0;
    if (desk_model_resolve(model, path, sizeof path, &err)) {
        rc = cli_fail_err("perplexity", &err);
        goto done;
    }
    if (mode == PPL_SAVE) {
        const char *inputs[2] = {path, file};
        if ((rc = cli_check_output("perplexity", base_path, inputs, 2)) != 0) goto done;
    }
    {
        const char *reads[3 + CLI_LORA_MAX] = {path, file, mode == PPL_COMPARE ? base_path : NULL};
        for (int k = 0; k < loras.n; k++) reads[3 + k] = loras.path[k];
        const char *writes[] = {mode == PPL_SAVE ? base_path : NULL};
        rc = cli_sandbox_apply("perplexity", &(cli_sandbox_spec){.read = reads, .n_read = 3 + (size_t)loras.n,
                                                                  .write = writes, .n_write = 1});
        if (rc) goto done;
    }
    desk_model_params mp = {.check_memory = true, .n_ctx_hint = (int)n_ctx, .type_k = cache_k, .type_v = cache_v,
                            .no_repack = no_repack};
    if (desk_model_load(path, &mp, &m, &err)) {
        rc = cli_fail_err("perplexity", &err);
        goto done;
    }
    if ((rc = cli_loras_load("perplexity", &loras, m)) != 0) goto done;
    const int n_vocab = desk_model_n_vocab(m);
    const desk_tokenizer *tk = desk_model_tokenizer(m);
    if (mode == PPL_COMPARE) {
        if (kld_base_open(base_path, n_vocab, &base, &err)) {
            rc = cli_fail_err("perplexity", &err);
            goto done;
        }
        if (ctx_given && n_ctx != base.n_ctx) {
            rc = cli_fail("perplexity", DESK_EXIT_USAGE, "--ctx %lld differs from %s's n_ctx %d (offset 8)", n_ctx,
                          base_path, base.n_ctx);
            goto done;
        }
        n_ctx = base.n_ctx;
    }
    size_t n_tok = 0;
    if (file) {
        if (desk_file_read_all(file, DESK_TEXT_MAX, &text, &text_len, &err)) {
            rc = cli_fail_err("perplexity", &err);
            goto done;
        }
        size_t cap = text_len + 16;
        toks = malloc(cap * sizeof *toks);
        if (!toks) {
            rc = cli_fail("perplexity", DESK_EXIT_FAIL, "out of memory for %zu tokens", cap);
            goto done;
        }
        if (desk_tokenize(tk, text, text_len, DESK_TOK_ADD_SPECIAL, toks, cap, &n_tok, &err)) {
            rc = cli_fail_err("perplexity", &err);
            goto done;
        }
    }
    long long n_chunk;
    const desk_token *all;
    if (mode == PPL_COMPARE) {
        if (file && (rc = check_same_tokens(&base, toks, n_tok, file)) != 0) goto done;
        all = base.tokens;
        n_chunk = base.n_chunk;
    } else {
        if ((long long)n_tok < 2 * n_ctx) {
            rc = cli_fail("perplexity", DESK_EXIT_USAGE, "%s tokenizes to %zu tokens; --ctx %lld needs at least %lld",
                          file, n_tok, n_ctx, 2 * n_ctx);
            goto done;
        }
        all = toks;
        n_chunk = (long long)n_tok / n_ctx;
    }
    if (n_chunks > 0 && n_chunks < n_chunk) n_chunk = n_chunks;
    /* Logits of a whole batch are kept: bound the batch so they take at
     * most 64 MiB (Gemma's 262k vocabulary). */
    int n_batch = (int)((64u << 20) / ((size_t)n_vocab * sizeof(float)));
    if (n_batch < 1) n_batch = 1;
    if (n_batch > n_ctx) n_batch = (int)n_ctx;
    desk_ctx_params cp = {.n_ctx = (int)n_ctx, .n_batch = n_batch, .n_threads = (int)n_threads, .logits_all = true,
                          .type_k = cache_k, .type_v = cache_v, .loras = loras.use, .n_loras = loras.n,
                          .deterministic = deterministic};
    if (desk_ctx_new(m, &cp, &c, &err)) {
        rc = cli_fail_err("perplexity", &err);
        goto done;
    }
    if (mode != PPL_ONLY) {
        row = malloc(kld_row_len(n_vocab) * sizeof *row);
        if (!row || (mode == PPL_COMPARE &&
                     !kld_stats_init(&st, (size_t)n_chunk * (size_t)kld_rows_per_chunk((int)n_ctx)))) {
            rc = cli_fail("perplexity", DESK_EXIT_FAIL, "out of memory for the KL-divergence rows");
            goto done;
        }
    }
    if (mode == PPL_SAVE) {
        if (desk_afile_open(base_path, &out, &err)) {
            rc = cli_fail_err("perplexity", &err);
            goto done;
        }
        out_open = true;
        if (!kld_write_header(out.fp, (int)n_ctx, n_vocab, (int)n_chunk, all)) {
            rc = cli_fail("perplexity", DESK_EXIT_FAIL, "writing %s failed", base_path);
            goto done;
        }
    }
    const desk_token bos = desk_tokenizer_special(tk, DESK_SPECIAL_BOS);
    const bool add_bos = desk_tokenizer_add_bos(tk) && bos >= 0;
    const int first = (int)n_ctx / 2;
    double nll = 0.0, nll2 = 0.0, t0 = now_s();
    long long count = 0;
    desk_token batch[1 << 12];
    if (n_batch > (int)(sizeof batch / sizeof batch[0])) n_batch = (int)(sizeof batch / sizeof batch[0]);
    for (long long ch = 0; ch < n_chunk; ch++) {
        const desk_token *w = all + ch * n_ctx;
        desk_ctx_truncate(c, 0);
        for (int b0 = 0; b0 < n_ctx; b0 += n_batch) {
            int nb = (int)(n_ctx - b0 < n_batch ? n_ctx - b0 : n_batch);
            memcpy(batch, w + b0, nb * sizeof *batch);
            if (b0 == 0 && add_bos) batch[0] = bos;
            if (desk_decode(c, batch, nb, &err)) {
                rc = cli_fail_err("perplexity", &err);
                goto done;
            }
            /* Position p predicts token p+1; score p in [first, n_ctx-2]. */
            for (int k = 0; k < nb; k++) {
                int p = b0 + k;
                if (p < first || p > n_ctx - 2) continue;
                const float *lg = desk_ctx_logits(c, k);
                double v = nll_of(lg, n_vocab, w[p + 1]);
                nll += v;
                nll2 += v * v;
                count++;
                if (mode == PPL_SAVE && !kld_write_row(out.fp, lg, n_vocab, row)) {
                    rc = cli_fail("perplexity", DESK_EXIT_FAIL, "writing %s failed", base_path);
                    goto done;
                }
                if (mode == PPL_COMPARE) {
                    if (kld_base_read_row(&base, row, &err)) {
                        rc = cli_fail_err("perplexity", &err);
                        goto done;
                    }
                    kld_score(&st, lg, n_vocab, row, w[p + 1]);
                }
            }
        }
        if (mode == PPL_COMPARE) kld_print_progress(&st, stderr, ch + 1, n_chunk);
        else {
            double el = now_s() - t0;
            fprintf(stderr, "\rperplexity: chunk %lld/%lld, PPL %.4f, %.1f tokens/s   ", ch + 1, n_chunk,
                    exp(nll / count), (double)(ch + 1) * n_ctx / (el > 0 ? el : 1e-9));
            fflush(stderr);
        }
    }
    fputc('\n', stderr);
    if (mode == PPL_SAVE) {
        out_open = false;
        if (desk_afile_commit(&out, &err)) {
            rc = cli_fail_err("perplexity", &err);
            goto done;
        }
    }
    if (mode == PPL_COMPARE) {
        kld_print_report(&st, stdout, json, n_chunk, (int)n_ctx);
        goto done;
    }
    double mean = nll / count, var = nll2 / count - mean * mean;
    double ppl = exp(mean), sd = var > 0 ? sqrt(var / (count - 1)) : 0.0;
    if (json) {
        /* NaN and infinities are not JSON: null (with a model whose logits
         * are not finite, the figures are not numbers). */
        char a[64], b[64];
        json_num(a, sizeof a, ppl);
        json_num(b, sizeof b, sd * ppl);
        printf("{\"ppl\":%s,\"ppl_err\":%s,\"chunks\":%lld,\"ctx\":%lld,\"tokens\":%lld}\n", a, b, n_chunk, n_ctx,
               count);
    }
    else
        printf("PPL = %.4f +/- %.5f\n", ppl, sd * ppl);
done:
    if (out_open) desk_afile_abort(&out);
    free(row);
    kld_stats_free(&st);
    kld_base_close(&base);
    free(toks);
    desk_ctx_free(c);
    cli_loras_free(&loras);
    desk_model_free(m);
    free(text);
    return rc;
}
