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
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "desk.h"
#include "desk/files.h"
#include "sandbox.h"

static const char USAGE[] =
    "usage: desk tune -m BASE.gguf --data FILE.jsonl -o ADAPTER.gguf [--rank 8] [--alpha 16]\n"
    "                 [--targets q,k,v,o,gate,up,down] [--epochs 3] [--lr 1e-4] [--batch 4] [--ctx 512]\n"
    "                 [--val FILE.jsonl | --val-split 0.1] [--seed 0] [-t N] [--report LOSS.svg]\n"
    "                 [--checkpoint CKPT] [--save-every N] [--resume CKPT]\n"
    "                 [--merge MERGED.gguf [--merge-type TYPE]]\n"
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
    "  --report F.svg the loss curve (train loss of every step, validation loss\n"
    "                 after every epoch) as an SVG, written atomically at the end\n"
    "  --checkpoint C where checkpoints go (default ADAPTER.ckpt): the adapter,\n"
    "                 AdamW's moments, the step and the data order, written\n"
    "                 atomically every --save-every steps and on Ctrl-C (SIGINT,\n"
    "                 SIGTERM: the step in flight finishes, the checkpoint is\n"
    "                 written, desk exits with status 1); removed when the run ends\n"
    "  --save-every N steps between checkpoints (default 50; 0: only on Ctrl-C)\n"
    "  --resume C     continue from checkpoint C, with the same data and options\n"
    "                 (and -t): the result equals the uninterrupted run bit for bit\n"
    "  --merge OUT    also write BASE with the adapter merged in (W + s B A),\n"
    "                 re-quantized, as `desk quantize BASE OUT TYPE --lora ADAPTER`\n"
    "  --merge-type T the merged model's type (default Q8_0; see desk quantize)\n"
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

/* ---- the loss curve ------------------------------------------------------ */

typedef struct curve {
    double *loss;     /* train loss of step i + 1 */
    long long n;      /* steps recorded */
    double *vstep, *vloss; /* validation: after step vstep[k] (0: before training) */
    long long nv;
} curve;

/* Chart coordinates: x0 + w * step / xmax across, y0 + h * (1 - (loss - lo) / (hi - lo)) down. */
typedef struct plot {
    double x0, w, xmax, y0, h, lo, hi;
} plot;

static double px(const plot *p, double s) { return p->x0 + p->w * s / p->xmax; }
static double py(const plot *p, double v) { return p->y0 + p->h * (1.0 - (v - p->lo) / (p->hi - p->lo)); }

/* Writes C as an SVG line chart to PATH atomically. */
static int write_svg(const char *path, const curve *c, const char *title) {
    const double W = 720, H = 400, L = 60, R = 20, T = 40, B = 50;
    double lo = INFINITY, hi = -INFINITY;
    for (long long i = 0; i < c->n; i++)
        if (isfinite(c->loss[i])) lo = fmin(lo, c->loss[i]), hi = fmax(hi, c->loss[i]);
    for (long long i = 0; i < c->nv; i++)
        if (isfinite(c->vloss[i])) lo = fmin(lo, c->vloss[i]), hi = fmax(hi, c->vloss[i]);
    if (!(hi > lo)) lo = 0, hi = isfinite(hi) && hi > 0 ? hi : 1;
    lo = fmax(0.0, lo - 0.05 * (hi - lo));
    const double xmax = c->n > 0 ? (double)c->n : 1;
    desk_afile af;
    desk_err err = {0};
    if (desk_afile_open(path, &af, &err)) return cli_fail_err("tune", &err);
    FILE *f = af.fp;
    const plot pl = {L, W - L - R, xmax, T, H - T - B, lo, hi};
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"%.0f\" y=\"22\" font-size=\"14\">desk tune: loss per step (%s)</text>\n",
            W, H, W, H, L, title);
    fprintf(f, "<g stroke=\"#888\" fill=\"none\"><path d=\"M%.1f %.1fV%.1fH%.1f\"/></g>\n", L, T, H - B, W - R);
    for (int k = 0; k <= 4; k++) {
        const double v = lo + (hi - lo) * k / 4.0, sx = xmax * k / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, py(&pl, v) + 4, v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", px(&pl, sx), H - B + 18, sx);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 12);
    if (c->n > 0) {
        fprintf(f, "<polyline stroke=\"#1f77b4\" stroke-width=\"1.5\" fill=\"none\" points=\"");
        for (long long i = 0; i < c->n; i++)
            if (isfinite(c->loss[i])) fprintf(f, "%.1f,%.1f ", px(&pl, (double)(i + 1)), py(&pl, c->loss[i]));
        fprintf(f, "\"/>\n");
    }
    if (c->nv > 0) {
        fprintf(f, "<polyline stroke=\"#d62728\" stroke-width=\"2\" fill=\"none\" points=\"");
        for (long long i = 0; i < c->nv; i++)
            if (isfinite(c->vloss[i])) fprintf(f, "%.1f,%.1f ", px(&pl, c->vstep[i]), py(&pl, c->vloss[i]));
        fprintf(f, "\"/>\n");
        for (long long i = 0; i < c->nv; i++)
            if (isfinite(c->vloss[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", px(&pl, c->vstep[i]), py(&pl, c->vloss[i]));
    }
    fprintf(f, "<g font-size=\"12\"><rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"#1f77b4\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">train</text>"
               "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"#d62728\"/>"
               "<text x=\"%.0f\" y=\"%.0f\">validation</text></g>\n</svg>\n",
            W - 170, T - 8, W - 154, T - 3, W - 100, T - 8, W - 84, T - 3);
    if (desk_afile_commit(&af, &err)) return cli_fail_err("tune", &err);
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------ */

/* Ctrl-C (SIGINT) or SIGTERM: finish the step, write a checkpoint, stop. */
static volatile sig_atomic_t g_stop;

static void on_stop(int sig) {
    (void)sig;
    g_stop = 1;
}

/* What a checkpoint holds beside the trainer's state (desk_trainer_checkpoint's
 * USER): the run's shape (checked on --resume), where it stands, the data
 * order of the epoch in progress and the loss history. */
enum { K_MAGIC, K_NTRAIN, K_NVAL, K_BATCH, K_EPOCHS, K_SEED, K_EP, K_B0, K_RS, K_STEP, K_TOK, K_NH, K_NV, K_N };
static const uint64_t TUNE_MAGIC = 0x314b435445554e54ULL; /* "TNUETCK1" */

static int save_ckpt(desk_trainer *t, const char *path, const uint64_t *head, const size_t *ix, const curve *c) {
    const size_t n = K_N + head[K_NTRAIN] + (size_t)c->n + 2 * (size_t)c->nv;
    uint64_t *u = malloc(n * sizeof *u);
    if (!u) return cli_fail("tune", DESK_EXIT_FAIL, "out of memory writing a checkpoint");
    memcpy(u, head, K_N * sizeof *u);
    size_t k = K_N;
    for (size_t i = 0; i < head[K_NTRAIN]; i++) u[k++] = ix[i];
    for (long long i = 0; i < c->n; i++, k++) memcpy(&u[k], &c->loss[i], sizeof(double));
    for (long long i = 0; i < c->nv; i++, k += 2) {
        memcpy(&u[k], &c->vstep[i], sizeof(double));
        memcpy(&u[k + 1], &c->vloss[i], sizeof(double));
    }
    desk_err err = {0};
    const desk_status s = desk_trainer_checkpoint(t, path, u, n * sizeof *u, &err);
    free(u);
    return s ? cli_fail_err("tune", &err) : 0;
}

/* Restores PATH into T, *HEAD (its fields checked against WANT's), IX and C. */
static int load_ckpt(desk_trainer *t, const char *path, const uint64_t *want, uint64_t *head, size_t *ix, curve *c,
                     long long max_steps, long long max_val) {
    void *blob = NULL;
    size_t len = 0;
    desk_err err = {0};
    if (desk_trainer_restore(t, path, &blob, &len, &err)) return cli_fail_err("tune", &err);
    const uint64_t *u = blob;
    int rc = 0;
    static const char *const what[K_N] = {"", "training examples", "validation examples", "--batch", "--epochs",
                                          "--seed"};
    if (len < K_N * sizeof *u || u[K_MAGIC] != TUNE_MAGIC) {
        rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: not a desk tune checkpoint (its run record at the end)", path);
        goto done;
    }
    for (int k = K_NTRAIN; k <= K_SEED; k++)
        if (u[k] != want[k]) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: checkpoint of a run with %s %llu; this one has %llu", path,
                          what[k], (unsigned long long)u[k], (unsigned long long)want[k]);
            goto done;
        }
    if ((long long)u[K_NH] > max_steps || (long long)u[K_NV] > max_val || u[K_B0] >= u[K_NTRAIN] ||
        len != (K_N + u[K_NTRAIN] + u[K_NH] + 2 * u[K_NV]) * sizeof *u) {
        rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: the run record in the checkpoint is inconsistent", path);
        goto done;
    }
    memcpy(head, u, K_N * sizeof *u);
    size_t k = K_N;
    for (size_t i = 0; i < u[K_NTRAIN]; i++, k++) {
        if (u[k] >= u[K_NTRAIN]) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: data order entry %zu out of range", path, i);
            goto done;
        }
        ix[i] = (size_t)u[k];
    }
    c->n = (long long)u[K_NH];
    for (long long i = 0; i < c->n; i++, k++) memcpy(&c->loss[i], &u[k], sizeof(double));
    c->nv = (long long)u[K_NV];
    for (long long i = 0; i < c->nv; i++, k += 2) {
        memcpy(&c->vstep[i], &u[k], sizeof(double));
        memcpy(&c->vloss[i], &u[k + 1], sizeof(double));
    }
done:
    free(blob);
    return rc;
}

int cmd_tune(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL, *val = NULL, *targets_s = NULL, *report = NULL;
    const char *ckpt = NULL, *resume = NULL, *merge = NULL, *merge_type = "Q8_0";
    long long rank = 8, epochs = 3, batch = 4, n_ctx = 512, n_threads = 0, seed = 0, save_every = 50;
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
        else if (strcmp(a, "--report") == 0) report = v;
        else if (strcmp(a, "--checkpoint") == 0) ckpt = v;
        else if (strcmp(a, "--resume") == 0) resume = v;
        else if (strcmp(a, "--merge") == 0) merge = v;
        else if (strcmp(a, "--merge-type") == 0) merge_type = v;
        else if (strcmp(a, "--save-every") == 0) okp = cli_parse_int("tune", a, v, 0, 1 << 30, &save_every);
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
    const desk_qrecipe *recipe = desk_qrecipe_find(merge_type);
    if (!recipe)
        return cli_fail("tune", DESK_EXIT_USAGE, "--merge-type %s is not one of %s", merge_type, desk_qrecipe_list());
    desk_err err = {0};
    unsigned targets = DESK_TRAIN_ALL;
    if (targets_s && desk_train_targets_parse(targets_s, &targets, &err)) return cli_fail_err("tune", &err);
    char path[4096], ckpt_buf[4096];
    if (!ckpt) {
        if (snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out) >= (int)sizeof ckpt_buf)
            return cli_fail("tune", DESK_EXIT_USAGE, "-o path too long");
        ckpt = ckpt_buf;
    }
    if (desk_model_resolve(model, path, sizeof path, &err)) return cli_fail_err("tune", &err);
    {
        const char *inputs[4] = {path, data, val ? val : data, resume ? resume : data};
        const char *writes[4] = {out, ckpt, report ? report : out, merge ? merge : out};
        for (int k = 0; k < 4; k++) {
            /* The checkpoint may be the one resumed from (it is replaced atomically). */
            int rc = cli_check_output("tune", writes[k], inputs, k == 1 ? 3 : 4);
            if (rc) return rc;
        }
        int rc = cli_sandbox_apply("tune", &(cli_sandbox_spec){.read = inputs, .n_read = 4, .write = writes, .n_write = 4});
        if (rc) return rc;
    }
    desk_model *m = NULL;
    desk_trainer *t = NULL;
    dataset train = {0}, vset = {0};
    size_t *ix = NULL, *vix = NULL;
    curve cv = {0};
    desk_lora *merged_lora = NULL;
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
    cv.loss = malloc((size_t)(total + 1) * sizeof *cv.loss);
    cv.vstep = malloc((size_t)(epochs + 2) * sizeof *cv.vstep);
    cv.vloss = malloc((size_t)(epochs + 2) * sizeof *cv.vloss);
    if (!cv.loss || !cv.vstep || !cv.vloss) {
        rc = cli_fail("tune", DESK_EXIT_FAIL, "out of memory");
        goto done;
    }
    desk_train_params tp = {.rank = (int)rank, .alpha = (float)alpha, .targets = targets, .seed = (uint64_t)seed,
                            .n_ctx = (int)n_ctx, .n_threads = (int)n_threads, .lr = (float)lr,
                            .warmup = (int)(total / 10), .total_steps = (int)total};
    if (desk_trainer_new(m, &tp, &t, &err)) {
        rc = cli_fail_err("tune", &err);
        goto done;
    }
    uint64_t head[K_N] = {[K_MAGIC] = TUNE_MAGIC, [K_NTRAIN] = n_train, [K_NVAL] = n_val, [K_BATCH] = (uint64_t)batch,
                          [K_EPOCHS] = (uint64_t)epochs, [K_SEED] = (uint64_t)seed};
    long long ep = 0, step = 0, tok_all = 0;
    size_t b0 = 0;
    if (resume) {
        uint64_t got[K_N];
        if ((rc = load_ckpt(t, resume, head, got, ix, &cv, total, epochs + 1)) != 0) goto done;
        ep = (long long)got[K_EP];
        b0 = (size_t)got[K_B0];
        rs = got[K_RS];
        step = (long long)got[K_STEP];
        tok_all = (long long)got[K_TOK];
        if (step != desk_trainer_steps(t) || ep > epochs || step > total || cv.n != step) {
            rc = cli_fail("tune", DESK_EXIT_USAGE, "%s: the checkpoint's step counts disagree", resume);
            goto done;
        }
        fprintf(stderr, "desk tune: resuming %s at step %lld (epoch %lld)\n", resume, step, ep + 1);
    }
    fprintf(stderr, "desk tune: %zu training examples, %zu validation, %lld epochs of %lld steps (batch %lld), rank %lld, chat format %s\n",
            n_train, n_val, epochs, steps_per_epoch, batch, rank, desk_chat_fmt_name(fmt));
    if (n_val && !resume) {
        double v0 = NAN;
        if ((rc = eval_loss(t, vd, vix, n_val, &v0)) != 0) goto done;
        fprintf(stderr, "desk tune: validation loss %.4f before training\n", v0);
        cv.vstep[0] = 0;
        cv.vloss[0] = v0;
        cv.nv = 1;
    }
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends desk at once */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    const double t0 = now_s();
    const long long step0 = step, tok0 = tok_all;
    double last_loss = NAN;
    while (ep < epochs) {
        /* b0 == 0: an epoch starts (the order drawn); else a resumed one goes on. */
        if (b0 == 0) shuffle(ix, n_train, &rs);
        bool stop = false;
        while (b0 < n_train) {
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
            b0 += (size_t)batch;
            step++;
            tok_all += seen;
            last_loss = tok ? sum / (double)tok : NAN;
            cv.loss[cv.n++] = last_loss;
            const double el = now_s() - t0;
            char eta[32];
            fmt_eta(eta, sizeof eta, el / (double)(step - step0) * (double)(total - step));
            fprintf(stderr, "step %lld/%lld  epoch %lld  loss %.4f  lr %.2e  %.1f tok/s  ETA %s\n", step, total, ep + 1,
                    last_loss, (double)cur_lr, (double)(tok_all - tok0) / el, eta);
            stop = g_stop || (save_every > 0 && step % save_every == 0);
            if (b0 < n_train && stop) break;
        }
        if (b0 >= n_train) {
            if (n_val) {
                double vl = NAN;
                if ((rc = eval_loss(t, vd, vix, n_val, &vl)) != 0) goto done;
                fprintf(stderr, "desk tune: epoch %lld: validation loss %.4f\n", ep + 1, vl);
                cv.vstep[cv.nv] = (double)step;
                cv.vloss[cv.nv++] = vl;
            }
            if (desk_trainer_save(t, out, &err)) {
                rc = cli_fail_err("tune", &err);
                goto done;
            }
            ep++;
            b0 = 0;
        }
        if ((stop || g_stop) && ep < epochs) {
            head[K_EP] = (uint64_t)ep;
            head[K_B0] = b0;
            head[K_RS] = rs;
            head[K_STEP] = (uint64_t)step;
            head[K_TOK] = (uint64_t)tok_all;
            head[K_NH] = (uint64_t)cv.n;
            head[K_NV] = (uint64_t)cv.nv;
            if ((rc = save_ckpt(t, ckpt, head, ix, &cv)) != 0) goto done;
            if (g_stop) {
                rc = cli_fail("tune", DESK_EXIT_FAIL, "interrupted after step %lld of %lld; checkpoint %s (continue with --resume %s)",
                              step, total, ckpt, ckpt);
                goto done;
            }
        }
    }
    const double el = now_s() - t0;
    fprintf(stderr, "desk tune: %lld steps in %.1f s (%.1f tok/s); last train loss %.4f", step - step0, el,
            (double)(tok_all - tok0) / el, last_loss);
    if (cv.nv > 1) fprintf(stderr, "; validation %.4f -> %.4f", cv.vloss[0], cv.vloss[cv.nv - 1]);
    fprintf(stderr, "\n");
    if (save_every > 0 || resume) unlink(ckpt); /* the run is complete: the adapter replaces it */
    if (report && (rc = write_svg(report, &cv, out)) != 0) goto done;
    if (merge) {
        if (desk_lora_load(m, out, &merged_lora, &err)) {
            rc = cli_fail_err("tune", &err);
            goto done;
        }
        const desk_lora_use use = {.lora = merged_lora, .scale = 1.0f};
        const desk_convert_opts co = {.n_threads = n_threads > 0 ? (int)n_threads : desk_physical_cores()};
        if (desk_quantize_file_merged(path, merge, recipe, &co, &use, 1, &err)) {
            rc = cli_fail_err("tune", &err);
            goto done;
        }
        fprintf(stderr, "desk tune: merged model (%s) written to %s\n", recipe->name, merge);
    }
    printf("%s\n", out);
done:
    desk_lora_free(merged_lora);
    desk_trainer_free(t);
    dataset_free(&train);
    dataset_free(&vset);
    free(ix);
    free(vix);
    free(cv.loss);
    free(cv.vstep);
    free(cv.vloss);
    desk_model_free(m);
    return rc;
}
