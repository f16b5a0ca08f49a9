/*
 * gen.c - the flags, set-up and report shared by `desk run` and `desk chat`
 * (see gen.h).
 */
#include "gen.h"
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "desk.h"

const char CLI_GEN_USAGE[] =
    "  -m, --model MODEL         a known model name (smollm2, gemma3-270m) or a GGUF path\n"
    "  -n, --n-predict N         most tokens to generate\n"
    "  --temp T                  temperature; 0 is greedy (default 0.8)\n"
    "  --top-k K                 keep the K likeliest tokens; 0 is off (default 40)\n"
    "  --top-p P                 keep the likeliest tokens up to mass P; 1 is off (default 0.95)\n"
    "  --min-p P                 drop tokens below P times the likeliest; 0 is off (default 0.05)\n"
    "  --repeat-penalty X        divide repeated tokens' logits by X; 1 is off (default 1)\n"
    "  --repeat-last-n N         how many recent tokens the penalties see (default 64)\n"
    "  --presence-penalty X      subtract X from every repeated token's logit (default 0)\n"
    "  --frequency-penalty X     subtract X per repetition (default 0)\n"
    "  --seed S                  random seed (default: random; --stats prints it)\n"
    "  --stop STR                stop before STR appears (repeatable)\n"
    "  --system TEXT             system prompt\n"
    "  --template NAME           chat format (chatml, llama3, llama2-sys, mistral-v7, gemma,\n"
    "                            phi3, zephyr, ...) instead of the model's own\n"
    "  -c, --ctx N               context length in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N           worker threads (default: physical cores)\n"
    "  -ctk, --cache-type-k T    KV cache type of K: f16 (default) or q8_0 (half the memory)\n"
    "  -ctv, --cache-type-v T    KV cache type of V: f16 (default) or q8_0\n"
    "  --stats                   timings, speeds and peak memory on stderr\n"
    CLI_LORA_HELP
    "  --no-repack               use the weights in place from the file (zero copy)\n"
    "                            instead of repacking Q4_0/Q4_K and copying the rest\n"
    "                            onto huge pages at load (slower; Q4_0 decode then\n"
    "                            sums in another order than llama.cpp's)\n"
    "  --deterministic           batch-invariant arithmetic: the output depends only on\n"
    "                            the prompt, the settings and the seed, never on batch\n"
    "                            sizes or threads (differs from llama.cpp's default sums;\n"
    "                            README, Determinism)\n";

void cli_gen_defaults(cli_gen_args *a, int n_predict) {
    memset(a, 0, sizeof *a);
    a->n_predict = n_predict;
    a->sp = desk_sampler_defaults();
}

static bool is(const char *arg, const char *s1, const char *s2) {
    return strcmp(arg, s1) == 0 || (s2 && strcmp(arg, s2) == 0);
}

static bool parse_float(const char *cmd, const char *flag, const char *v, double lo, double hi,
                        float *out) {
    double d;
    if (!cli_parse_float(cmd, flag, v, lo, hi, &d)) return false;
    *out = (float)d;
    return true;
}

static bool parse_int(const char *cmd, const char *flag, const char *v, long long lo, long long hi,
                      int *out) {
    long long x;
    if (!cli_parse_int(cmd, flag, v, lo, hi, &x)) return false;
    *out = (int)x;
    return true;
}

int cli_gen_parse(const char *cmd, cli_gen_args *a, int argc, char **argv, int *i) {
    const char *f = argv[*i];
    static const char *const WITH_VALUE[] = {
        "-m", "--model", "-n", "--n-predict", "--temp", "--top-k", "--top-p", "--min-p",
        "--repeat-penalty", "--repeat-last-n", "--presence-penalty", "--frequency-penalty",
        "--seed", "--stop", "--system", "--template", "-c", "--ctx", "-t", "--threads",
    };
    const int cache = cli_parse_cache_flag(cmd, argc, argv, i, &a->cache_k, &a->cache_v);
    if (cache != 0) return cache;
    const int lora = cli_lora_parse(cmd, &a->loras, argc, argv, i);
    if (lora != 0) return lora;
    if (strcmp(f, "--stats") == 0) {
        a->stats = true;
        return 1;
    }
    if (strcmp(f, "--no-repack") == 0) {
        a->no_repack = true;
        return 1;
    }
    if (strcmp(f, "--deterministic") == 0) {
        a->deterministic = true;
        return 1;
    }
    bool known = false;
    for (size_t k = 0; k < sizeof WITH_VALUE / sizeof WITH_VALUE[0]; k++)
        if (strcmp(f, WITH_VALUE[k]) == 0) known = true;
    if (!known) return 0;
    if (*i + 1 >= argc) {
        cli_fail(cmd, DESK_EXIT_USAGE, "%s needs a value", f);
        return -1;
    }
    const char *v = argv[++*i];
    bool ok = true;
    if (is(f, "-m", "--model")) {
        a->model = v;
    } else if (is(f, "-n", "--n-predict")) {
        ok = parse_int(cmd, f, v, 1, 1 << 30, &a->n_predict);
    } else if (is(f, "--temp", NULL)) {
        ok = parse_float(cmd, f, v, 0.0, 100.0, &a->sp.temp);
    } else if (is(f, "--top-k", NULL)) {
        ok = parse_int(cmd, f, v, 0, 1 << 30, &a->sp.top_k);
    } else if (is(f, "--top-p", NULL)) {
        ok = parse_float(cmd, f, v, 0.0, 1.0, &a->sp.top_p);
    } else if (is(f, "--min-p", NULL)) {
        ok = parse_float(cmd, f, v, 0.0, 1.0, &a->sp.min_p);
    } else if (is(f, "--repeat-penalty", NULL)) {
        ok = parse_float(cmd, f, v, 1e-3, 100.0, &a->sp.repeat_penalty);
    } else if (is(f, "--repeat-last-n", NULL)) {
        ok = parse_int(cmd, f, v, 0, 1 << 20, &a->sp.repeat_last_n);
    } else if (is(f, "--presence-penalty", NULL)) {
        ok = parse_float(cmd, f, v, -100.0, 100.0, &a->sp.presence_penalty);
    } else if (is(f, "--frequency-penalty", NULL)) {
        ok = parse_float(cmd, f, v, -100.0, 100.0, &a->sp.frequency_penalty);
    } else if (is(f, "--seed", NULL)) {
        long long s;
        ok = cli_parse_int(cmd, f, v, 0, INT64_MAX, &s);
        a->sp.seed = (uint64_t)s;
        a->seed_given = true;
    } else if (is(f, "--stop", NULL)) {
        if (v[0] == '\0') {
            cli_fail(cmd, DESK_EXIT_USAGE, "--stop needs a non-empty string");
            return -1;
        }
        if (a->n_stops == CLI_GEN_MAX_STOPS) {
            cli_fail(cmd, DESK_EXIT_USAGE, "at most %d --stop strings", CLI_GEN_MAX_STOPS);
            return -1;
        }
        a->stops[a->n_stops++] = v;
    } else if (is(f, "--system", NULL)) {
        a->system = v;
    } else if (is(f, "--template", NULL)) {
        if (desk_chat_detect(v) == DESK_CHAT_UNKNOWN) {
            cli_fail(cmd, DESK_EXIT_USAGE, "--template: '%s' is not a chat format desk knows", v);
            return -1;
        }
        a->tmpl = v;
    } else if (is(f, "-c", "--ctx")) {
        ok = parse_int(cmd, f, v, 16, 1 << 20, &a->n_ctx);
    } else if (is(f, "-t", "--threads")) {
        ok = parse_int(cmd, f, v, 1, 1024, &a->n_threads);
    }
    return ok ? 1 : -1;
}

static uint64_t random_seed(void) {
    uint64_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&s, sizeof s, 1, f) != 1) s = 0;
        fclose(f);
    }
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
    return s >> 1; /* fits --seed's range, so a printed seed can be passed back */
}

int cli_gen_open(const char *cmd, cli_gen_args *a, cli_gen *g) {
    memset(g, 0, sizeof *g);
    g->eot = -1;
    if (!a->model) return cli_fail(cmd, DESK_EXIT_USAGE, "no model: pass -m MODEL (see --help)");
    if (!a->seed_given) a->sp.seed = random_seed();
    char path[4096];
    desk_err err = {0};
    if (desk_model_resolve(a->model, path, sizeof path, &err) != DESK_OK)
        return cli_fail_err(cmd, &err);
    snprintf(g->model_path, sizeof g->model_path, "%s", path);
    /* Before the load: its placement threads, and the engine's, start
     * confined.  The prompt file, if any, is already read. */
    const char *reads[1 + CLI_LORA_MAX] = {path};
    for (int k = 0; k < a->loras.n; k++) reads[1 + k] = a->loras.path[k];
    const char *writes[1] = {a->write_path};
    int rc = cli_sandbox_apply(cmd, &(cli_sandbox_spec){.read = reads, .n_read = 1 + (size_t)a->loras.n,
                                                        .write = writes, .n_write = a->write_path ? 1 : 0});
    if (rc) return rc;
    desk_model_params mp = {.check_memory = true, .n_ctx_hint = a->n_ctx, .type_k = a->cache_k, .type_v = a->cache_v,
                            .no_repack = a->no_repack};
    if (desk_model_load(path, &mp, &g->model, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    g->loras = a->loras;
    if ((rc = cli_loras_load(cmd, &g->loras, g->model)) != 0) {
        desk_model_free(g->model);
        g->model = NULL;
        return rc;
    }
    desk_engine_params ep = {.ctx = {.n_ctx = a->n_ctx, .n_threads = a->n_threads, .type_k = a->cache_k, .type_v = a->cache_v,
                                     .loras = g->loras.use, .n_loras = g->loras.n, .deterministic = a->deterministic},
                             .sampling = a->sp};
    if (desk_engine_new(g->model, &ep, &g->engine, &err) != DESK_OK) {
        cli_loras_free(&g->loras);
        desk_model_free(g->model);
        g->model = NULL;
        return cli_fail_err(cmd, &err);
    }
    const desk_tokenizer *t = desk_model_tokenizer(g->model);
    const char *warning = NULL;
    g->fmt = desk_chat_choose(a->tmpl ? a->tmpl : desk_model_chat_template(g->model), t, &warning);
    desk_token id = desk_tokenizer_find(t, desk_chat_end_of_turn(g->fmt));
    if (id >= 0 && desk_tokenizer_is_control(t, id)) g->eot = id;
    g->warning = warning;
    return 0;
}

void cli_gen_close(cli_gen *g) {
    desk_engine_free(g->engine);
    cli_loras_free(&g->loras);
    desk_model_free(g->model);
    memset(g, 0, sizeof *g);
}

void cli_gen_print_stats(const cli_gen_args *a, const desk_gen_stats *st) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double pre = st->t_prefill_s > 0 ? st->n_prefill / st->t_prefill_s : 0.0;
    double gen = st->t_gen_s > 0 ? st->n_gen / st->t_gen_s : 0.0;
    fprintf(stderr,
            "seed: %llu\n"
            "prompt: %d tokens (%d decoded) in %.3f s, %.1f tokens/s\n"
            "generation: %d tokens in %.3f s, %.1f tokens/s (stopped: %s)\n"
            "time to first token: %.3f s\n"
            "peak RSS: %.1f MiB\n",
            (unsigned long long)a->sp.seed, st->n_prompt, st->n_prefill, st->t_prefill_s, pre,
            st->n_gen, st->t_gen_s, gen, desk_stop_reason_str(st->stop), st->t_first_s,
            (double)ru.ru_maxrss / 1024.0);
}
