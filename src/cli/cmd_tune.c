/*
 * cmd_tune.c - `desk tune`: LoRA fine-tuning of a (quantized, frozen) model
 * on a JSONL file, written as an adapter `desk run --lora` (and
 * llama.cpp's --lora) load.
 *
 * Each line of the data is one example: {"messages": [{"role": ..,
 * "content": ..}, ..]} rendered with the model's chat template, the loss
 * taken on the assistant turns only (each turn's tokens, found as what
 * rendering that message adds to the conversation before it); or {"text":
 * ..}, the loss on every token.  Sequences longer than --ctx are cut.
 * Steps take --batch examples; the schedule is a warm-up over the first
 * tenth of the steps and cosine decay after.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "desk.h"
#include "desk/files.h"
#include "sandbox.h"

static const char USAGE[] =
    "usage: desk tune -m BASE.gguf --data FILE.jsonl -o ADAPTER.gguf [--rank 8] [--alpha 16]\n"
    "                 [--targets q,k,v,o,gate,up,down] [--epochs 3] [--lr 1e-4] [--batch 4] [--ctx 512]\n"
    "                 [--val FILE.jsonl | --val-split 0.1] [--seed 0] [-t N]\n"
    "\n"
    "Fine-tunes a LoRA adapter for BASE on the examples in FILE, on the CPU.  The\n"
    "base stays as it is (quantized, frozen); the adapter is F32 and is written in\n"
    "llama.cpp's LoRA GGUF format: `desk run -m BASE --lora ADAPTER.gguf` uses it.\n"
    "  -m BASE        a GGUF file or a cached model's short name (llama or gemma3)\n"
    "  --data FILE    JSONL, one example a line: {\"messages\": [{\"role\": \"user\",\n"
    "                 \"content\": ..}, {\"role\": \"assistant\", ..}]} (the model's chat\n"
    "                 template; loss on the assistant turns only) or {\"text\": ..}\n"
    "  -o ADAPTER     the adapter (written atomically after every epoch)\n"
    "  --rank R       LoRA rank (default 8)\n"
    "  --alpha A      LoRA alpha; the adapter's scale is A / R (default 2 R)\n"
    "  --targets L    the matrices to adapt in every layer (default all of\n"
    "                 q,k,v,o,gate,up,down)\n"
    "  --epochs E     passes over the data (default 3)\n"
    "  --lr X         peak learning rate of AdamW (default 1e-4)\n"
    "  --batch B      examples per optimizer step (default 4)\n"
    "  --ctx N        longest example in tokens; longer ones are cut (default 512)\n"
    "  --val FILE     validation examples (same format), scored after every epoch\n"
    "  --val-split F  hold out this fraction of --data for validation instead\n"
    "  --seed S       the adapter's random start and the data order (default 0)\n"
    "  -t N           threads (default: physical cores)\n"
    "Progress goes to stderr: step, train loss, learning rate, tokens/s, ETA, and\n"
    "the validation loss after each epoch.\n";

/* One tokenized example: N ids, MASK[i] = 1 where ids[i] is a target. */
typedef struct example {
    desk_token *ids;
    uint8_t *mask;
    int n;
} example;

typedef struct dataset {
    example *ex;
    size_t n, cap;
    size_t cut; /* examples cut to --ctx */
} dataset;

static void dataset_free(dataset *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->ex[i].ids);
        free(d->ex[i].mask);
    }
    free(d->ex);
    *d = (dataset){0};
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Renders MSGS[0..N) (+ the assistant's opening with GEN) to *IDS
 * (malloc'd, *N_OUT ids). */
static desk_status render(desk_chat_fmt f, const desk_tokenizer *tk, const desk_chat_msg *msgs, size_t n, bool gen,
                          desk_token **ids, size_t *n_out, desk_err *err) {
    size_t need = 0;
    desk_status s = desk_chat_render_tokens(f, tk, msgs, n, gen, NULL, 0, &need, err);
    if (s && s != DESK_E_RANGE) return s;
    *ids = malloc((need + 1) * sizeof **ids);
    if (!*ids) return desk_errf(err, DESK_E_NOMEM, "out of memory rendering %zu messages", n);
    return desk_chat_render_tokens(f, tk, msgs, n, gen, *ids, need + 1, n_out, err);
}

/* Parses line LINE_NO of FILE into an example appended to D; prints one
 * error line and returns 2 on bad data. */
static int parse_example(const char *file, size_t line_no, const char *text, size_t len, const desk_model *m,
                         desk_chat_fmt fmt, int n_ctx, dataset *d) {
    const desk_tokenizer *tk = desk_model_tokenizer(m);
    json_tokener *jt = json_tokener_new();
    json_object *root = jt ? json_tokener_parse_ex(jt, text, (int)len) : NULL;
    const bool ok = root && json_tokener_get_error(jt) == json_tokener_success && json_tokener_get_parse_end(jt) == len;
    if (jt) json_tokener_free(jt);
    int rc = 0;
    desk_chat_msg *msgs = NULL;
    desk_token *ids = NULL, *pre = NULL;
    uint8_t *mask = NULL;
    size_t n = 0;
    desk_err err = {0};
    json_object *jm = NULL, *jtext = NULL;
    if (!ok || !json_object_is_type(root, json_type_object)) {
        rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: not a JSON object", file, line_no);
        goto done;
    }
    if (json_object_object_get_ex(root, "text", &jtext)) {
        if (!json_object_is_type(jtext, json_type_string)) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: \"text\" is not a string", file, line_no);
            goto done;
        }
        const char *s = json_object_get_string(jtext);
        const size_t sl = (size_t)json_object_get_string_len(jtext);
        size_t cap = sl + 8;
        ids = malloc(cap * sizeof *ids);
        if (!ids || desk_tokenize(tk, s, sl, DESK_TOK_ADD_SPECIAL, ids, cap, &n, &err)) {
            rc = ids ? cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: %s", file, line_no, err.msg)
                     : cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
            goto done;
        }
        mask = malloc(n + 1);
        if (!mask) {
            rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
            goto done;
        }
        memset(mask, 1, n + 1);
    } else if (json_object_object_get_ex(root, "messages", &jm) && json_object_is_type(jm, json_type_array)) {
        const size_t nm = json_object_array_length(jm);
        msgs = calloc(nm + 1, sizeof *msgs);
        if (!msgs) {
            rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
            goto done;
        }
        bool any = false;
        for (size_t k = 0; k < nm; k++) {
            json_object *e = json_object_array_get_idx(jm, k), *jr = NULL, *jc = NULL;
            if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "role", &jr) ||
                !json_object_object_get_ex(e, "content", &jc) || !json_object_is_type(jr, json_type_string) ||
                !json_object_is_type(jc, json_type_string)) {
                rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: message %zu needs string \"role\" and \"content\"", file,
                              line_no, k);
                goto done;
            }
            const char *role = json_object_get_string(jr);
            if (strcmp(role, "system") == 0) msgs[k].role = DESK_ROLE_SYSTEM;
            else if (strcmp(role, "user") == 0) msgs[k].role = DESK_ROLE_USER;
            else if (strcmp(role, "assistant") == 0) {
                msgs[k].role = DESK_ROLE_ASSISTANT;
                any = true;
            } else {
                rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: message %zu: role '%.40s' is not system, user or assistant",
                              file, line_no, k, role);
                goto done;
            }
            msgs[k].text = json_object_get_string(jc);
            msgs[k].len = (size_t)json_object_get_string_len(jc);
        }
        if (!any) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: no assistant message to learn from", file, line_no);
            goto done;
        }
        if (render(fmt, tk, msgs, nm, false, &ids, &n, &err)) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: %s", file, line_no, err.msg);
            goto done;
        }
        mask = calloc(n + 1, 1);
        if (!mask) {
            rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
            goto done;
        }
        /* An assistant turn's tokens: what message k adds to the
         * conversation rendered up to the assistant's opening. */
        for (size_t k = 0; k < nm; k++) {
            if (msgs[k].role != DESK_ROLE_ASSISTANT) continue;
            size_t np = 0, nq = 0;
            desk_token *q = NULL;
            if (render(fmt, tk, msgs, k, true, &pre, &np, &err) || render(fmt, tk, msgs, k + 1, false, &q, &nq, &err)) {
                free(q);
                rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: %s", file, line_no, err.msg);
                goto done;
            }
            for (size_t i = np; i < nq && i < n; i++) mask[i] = 1;
            free(q);
            free(pre);
            pre = NULL;
        }
    } else {
        rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: needs \"messages\" (an array) or \"text\"", file, line_no);
        goto done;
    }
    if (n < 2) {
        rc = cli_fail("tune", DESK_EXIT_USAGE, "%s:%zu: fewer than 2 tokens", file, line_no);
        goto done;
    }
    if ((int)n > n_ctx || n > (size_t)n_ctx) {
        n = (size_t)n_ctx;
        d->cut++;
    }
    if (d->n == d->cap) {
        const size_t nc = d->cap ? 2 * d->cap : 64;
        example *ne = realloc(d->ex, nc * sizeof *ne);
        if (!ne) {
            rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
            goto done;
        }
        d->ex = ne;
        d->cap = nc;
    }
    d->ex[d->n++] = (example){.ids = ids, .mask = mask, .n = (int)n};
    ids = NULL;
    mask = NULL;
done:
    free(ids);
    free(mask);
    free(pre);
    free(msgs);
    json_object_put(root);
    return rc;
}

/* Reads FILE's examples into D. */
static int read_data(const char *file, const desk_model *m, desk_chat_fmt fmt, int n_ctx, dataset *d) {
    char *buf = NULL;
    size_t len = 0;
    desk_err err = {0};
    if (desk_file_read_all(file, (size_t)1 << 30, &buf, &len, &err)) return cli_fail_err("tune", &err);
    int rc = 0;
    size_t line = 0;
    for (size_t p = 0; p < len && !rc;) {
        const char *nl = memchr(buf + p, '\n', len - p);
        const size_t e = nl ? (size_t)(nl - buf) : len;
        line++;
        size_t a = p, b = e;
        while (a < b && strchr(" \t\r", buf[a])) a++;
        while (b > a && strchr(" \t\r", buf[b - 1])) b--;
        if (b > a) rc = parse_example(file, line, buf + a, b - a, m, fmt, n_ctx, d);
        p = e + 1;
    }
    free(buf);
    if (!rc && d->n == 0) rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: no examples", file);
    return rc;
}

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

static void shuffle(size_t *ix, size_t n, uint64_t *s) {
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(rng_next(s) % i), t = ix[i - 1];
        ix[i - 1] = ix[j];
        ix[j] = t;
    }
}

/* The mean loss over examples IX[0..N) of D (validation). */
static int eval_loss(desk_trainer *t, const dataset *d, const size_t *ix, size_t n, double *mean) {
    double sum = 0.0;
    long long tok = 0;
    desk_err err = {0};
    for (size_t i = 0; i < n; i++) {
        const example *e = &d->ex[ix[i]];
        double l = 0.0;
        int nt = 0;
        if (desk_trainer_eval(t, e->ids, e->mask, e->n, &l, &nt, &err)) return cli_fail_err("tune", &err);
        sum += l;
        tok += nt;
    }
    *mean = tok ? sum / (double)tok : NAN;
    return 0;
}

static void fmt_eta(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

int cmd_tune(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL, *val = NULL, *targets_s = NULL;
    long long rank = 8, epochs = 3, batch = 4, n_ctx = 512, n_threads = 0, seed = 0;
    double alpha = 0, lr = 1e-4, val_split = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(USAGE);
        if (i + 1 >= argc) return cli_fail("tune", DESK_EXIT_USAGE, "unknown or incomplete argument '%s' (see --help)", a);
        const char *v = argv[++i];
        bool okp = true;
        if (strcmp(a, "-m") == 0) model = v;
        else if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "-o") == 0) out = v;
        else if (strcmp(a, "--val") == 0) val = v;
        else if (strcmp(a, "--targets") == 0) targets_s = v;
        else if (strcmp(a, "--rank") == 0) okp = cli_parse_int("tune", a, v, 1, 1024, &rank);
        else if (strcmp(a, "--alpha") == 0) okp = cli_parse_float("tune", a, v, 1e-6, 1e6, &alpha);
        else if (strcmp(a, "--epochs") == 0) okp = cli_parse_int("tune", a, v, 1, 100000, &epochs);
        else if (strcmp(a, "--lr") == 0) okp = cli_parse_float("tune", a, v, 1e-12, 10, &lr);
        else if (strcmp(a, "--batch") == 0) okp = cli_parse_int("tune", a, v, 1, 1 << 20, &batch);
        else if (strcmp(a, "--ctx") == 0) okp = cli_parse_int("tune", a, v, 8, 1 << 16, &n_ctx);
        else if (strcmp(a, "--val-split") == 0) okp = cli_parse_float("tune", a, v, 0, 0.9, &val_split);
        else if (strcmp(a, "--seed") == 0) okp = cli_parse_int("tune", a, v, 0, INT64_MAX, &seed);
        else if (strcmp(a, "-t") == 0) okp = cli_parse_int("tune", a, v, 1, 64, &n_threads);
        else return cli_fail("tune", DESK_EXIT_USAGE, "unknown argument '%s' (see --help)", a);
        if (!okp) return DESK_EXIT_USAGE;
    }
    if (!model || !data || !out) return cli_fail("tune", DESK_EXIT_USAGE, "-m BASE, --data FILE and -o ADAPTER are required");
    if (val && val_split > 0) return cli_fail("tune", DESK_EXIT_USAGE, "give --val or --val-split, not both");
    desk_err err = {0};
    unsigned targets = DESK_TRAIN_ALL;
    if (targets_s && desk_train_targets_parse(targets_s, &targets, &err)) return cli_fail_err("tune", &err);
    char path[4096];
    if (desk_model_resolve(model, path, sizeof path, &err)) return cli_fail_err("tune", &err);
    {
        const char *inputs[3] = {path, data, val};
        int rc = cli_check_output("tune", out, inputs, val ? 3 : 2);
        if (rc) return rc;
        const char *reads[3] = {path, data, val};
        const char *writes[1] = {out};
        rc = cli_sandbox_apply("tune", &(cli_sandbox_spec){.read = reads, .n_read = val ? 3 : 2, .write = writes, .n_write = 1});
        if (rc) return rc;
    }
    desk_model *m = NULL;
    desk_trainer *t = NULL;
    dataset train = {0}, vset = {0};
    size_t *ix = NULL, *vix = NULL;
    int rc = 0;
    if (desk_model_load(path, NULL, &m, &err)) {
        rc = cli_fail_err("tune", &err);
        goto done;
    }
    const char *warning = NULL;
    const desk_chat_fmt fmt = desk_chat_choose(desk_model_chat_template(m), desk_model_tokenizer(m), &warning);
    if ((rc = read_data(data, m, fmt, (int)n_ctx, &train)) != 0) goto done;
    if (val && (rc = read_data(val, m, fmt, (int)n_ctx, &vset)) != 0) goto done;
    if (train.cut + vset.cut) fprintf(stderr, "desk tune: %zu examples cut to --ctx %lld tokens\n", train.cut + vset.cut, n_ctx);
    ix = malloc((train.n + 1) * sizeof *ix);
    vix = malloc((train.n + vset.n + 1) * sizeof *vix);
    if (!ix || !vix) {
        rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
        goto done;
    }
    uint64_t rs = (uint64_t)seed * 2654435761ULL + 12345;
    size_t n_train = train.n, n_val = 0;
    for (size_t i = 0; i < train.n; i++) ix[i] = i;
    const dataset *vd = val ? &vset : &train;
    if (val) {
        for (size_t i = 0; i < vset.n; i++) vix[i] = i;
        n_val = vset.n;
    } else if (val_split > 0) {
        shuffle(ix, train.n, &rs);
        n_val = (size_t)floor(val_split * (double)train.n + 0.5);
        if (n_val >= train.n) n_val = train.n - 1;
        n_train = train.n - n_val;
        memcpy(vix, ix + n_train, n_val * sizeof *vix);
    }
    const long long steps_per_epoch = ((long long)n_train + batch - 1) / batch, total = steps_per_epoch * epochs;
    desk_train_params tp = {.rank = (int)rank, .alpha = (float)alpha, .targets = targets, .seed = (uint64_t)seed,
                            .n_ctx = (int)n_ctx, .n_threads = (int)n_threads, .lr = (float)lr,
                            .warmup = (int)(total / 10), .total_steps = (int)total};
    if (desk_trainer_new(m, &tp, &t, &err)) {
        rc = cli_fail_err("tune", &err);
        goto done;
    }
    fprintf(stderr, "desk tune: %zu training examples, %zu validation, %lld epochs of %lld steps (batch %lld), rank %lld, chat format %s\n",
            n_train, n_val, epochs, steps_per_epoch, batch, rank, desk_chat_fmt_name(fmt));
    double vloss0 = NAN, vloss = NAN;
    if (n_val && (rc = eval_loss(t, vd, vix, n_val, &vloss0)) != 0) goto done;
    if (n_val) fprintf(stderr, "desk tune: validation loss %.4f before training\n", vloss0);
    const double t0 = now_s();
    long long step = 0, tok_all = 0;
    double last_loss = NAN;
    for (long long ep = 0; ep < epochs; ep++) {
        shuffle(ix, n_train, &rs);
        for (size_t b0 = 0; b0 < n_train; b0 += (size_t)batch) {
            double sum = 0.0;
            long long tok = 0, seen = 0;
            for (size_t k = b0; k < n_train && k < b0 + (size_t)batch; k++) {
                const example *e = &train.ex[ix[k]];
                double l = 0.0;
                int nt = 0;
                if (desk_trainer_accum(t, e->ids, e->mask, e->n, &l, &nt, &err)) {
                    rc = cli_fail_err("tune", &err);
                    goto done;
                }
                sum += l;
                tok += nt;
                seen += e->n;
            }
            const float cur_lr = desk_trainer_lr(t);
            desk_trainer_step(t);
            step++;
            tok_all += seen;
            last_loss = tok ? sum / (double)tok : NAN;
            const double el = now_s() - t0;
            char eta[32];
            fmt_eta(eta, sizeof eta, el / (double)step * (double)(total - step));
            fprintf(stderr, "step %lld/%lld  epoch %lld  loss %.4f  lr %.2e  %.1f tok/s  ETA %s\n", step, total, ep + 1,
                    last_loss, (double)cur_lr, (double)tok_all / el, eta);
        }
        if (n_val) {
            if ((rc = eval_loss(t, vd, vix, n_val, &vloss)) != 0) goto done;
            fprintf(stderr, "desk tune: epoch %lld: validation loss %.4f\n", ep + 1, vloss);
        }
        if (desk_trainer_save(t, out, &err)) {
            rc = cli_fail_err("tune", &err);
            goto done;
        }
    }
    const double el = now_s() - t0;
    fprintf(stderr, "desk tune: %lld steps in %.1f s (%.1f tok/s); last train loss %.4f", step, el,
            (double)tok_all / el, last_loss);
    if (n_val) fprintf(stderr, "; validation %.4f -> %.4f", vloss0, vloss);
    fprintf(stderr, "\n");
    printf("%s\n", out);
done:
    desk_trainer_free(t);
    dataset_free(&train);
    dataset_free(&vset);
    free(ix);
    free(vix);
    desk_model_free(m);
    return rc;
}
