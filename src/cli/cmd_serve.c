/*
 * cmd_serve.c - `desk serve`: an OpenAI-compatible HTTP server for one or
 * more models (src/server/).  This file reads the flags, checks that the
 * models fit together (desk fit's plan) before loading any, starts
 * listening (GET /health answers 503 while the models load), and on
 * SIGINT/SIGTERM stops accepting, ends the running streams cleanly and
 * exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lora_opts.h"
#include "sandbox.h"
#include "../server/server.h"

static const char USAGE[] =
    "usage: desk serve -m MODEL [-m MODEL2 ...] [options]\n"
    "\n"
    "Serve models over HTTP with OpenAI's API: POST /v1/chat/completions, /v1/completions\n"
    "(streamed with stream: true), /v1/embeddings, /tokenize, /detokenize, /apply-template;\n"
    "GET /v1/models, /health (503 while loading), /metrics (Prometheus).  Chat completions take\n"
    "response_format (json_object, json_schema) and tools / tool_choice (calls in the\n"
    "Hermes/Qwen <tool_call> format, arguments constrained to the function's schema; README,\n"
    "Serving).  Each model runs --parallel streams at once, decoded together in one batch per\n"
    "step; more requests wait in a queue.\n"
    "\n"
    "  -m, --model MODEL      a known model name, a GGUF path, or NAME=PATH (repeatable; requests\n"
    "                         choose one by their \"model\" field: the name, else the file's stem)\n"
    "  --host ADDR            address to listen on (default 127.0.0.1; 0.0.0.0 listens everywhere\n"
    "                         and then accepts any Host header)\n"
    "  --port N               port (default 8080; 0 picks a free one, printed on stderr)\n"
    "  --parallel N           streams per model decoded together (default 4)\n"
    "  --queue N              requests that may wait per model beyond those (default 64); more\n"
    "                         get 503 with Retry-After\n"
    "  -c, --ctx N            context per stream in tokens (default 4096, capped by the model)\n"
    "  -b, --batch N          most tokens per decode step (default 512)\n"
    "  -t, --threads N        threads per model (default: physical cores)\n"
    "  --lora ADAPTER.gguf[:S]  a LoRA adapter (llama.cpp's adapter GGUF) at scale S (default\n"
    "                         1) for the -m before it, applied to every request (repeatable)\n"
    "  --api-key KEY          require Authorization: Bearer KEY (or X-Api-Key: KEY)\n"
    "  --api-key-file F       the same, the key read from F's first line\n"
    "  --cors-origin ORIGIN   send CORS headers allowing ORIGIN (default: no CORS)\n"
    "  --max-body BYTES       largest request body (default 8 MiB)\n"
    "  --max-tokens N         cap on a request's max_tokens (default 8192)\n"
    "  --timeout S            close connections idle this long (default 30)\n"
    "  --max-connections N    open connections at once (default 4096)\n"
    "  --deterministic        batch-invariant arithmetic for every request: its output\n"
    "                         depends on its prompt, settings and seed only, never on the\n"
    "                         other requests batched with it (a request can also ask with\n"
    "                         \"deterministic\": true)\n"
    "\n"
    "A request may also ask for \"manifest\": true: the answer carries the replay manifest\n"
    "desk run --manifest writes (saved to a file, desk replay reproduces it); it names\n"
    "the model's path and sha256.  --no-manifest refuses such requests.\n"
    "\n"
    "Loopback only by default; another --host must be given explicitly.  desk serve stops on\n"
    "SIGINT or SIGTERM: it stops accepting, ends running streams (finish_reason \"length\")\n"
    "and exits 0.\n";

#define MAX_MODELS SRV_MAX_MODELS

typedef struct model_arg {
    char name[128];
    char path[4096];
    cli_loras loras; /* --lora after this -m: parsed only (the server loads them) */
} model_arg;

static int read_key_file(const char *cmd, const char *path, char *key, size_t cap) {
    desk_err err = {0};
    char *buf = NULL;
    size_t len = 0;
    if (desk_file_read_all(path, 4096, &buf, &len, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    size_t n = strcspn(buf, "\r\n");
    if (n == 0 || n >= cap) {
        free(buf);
        return cli_fail(cmd, DESK_EXIT_USAGE, "--api-key-file %s: the first line must hold the key (1-%zu bytes)",
                        path, cap - 1);
    }
    memcpy(key, buf, n);
    key[n] = '\0';
    free(buf);
    return 0;
}

static int parse_model(const char *cmd, const char *v, model_arg *m) {
    const char *eq = strchr(v, '=');
    const char *spec = eq ? eq + 1 : v;
    desk_err err = {0};
    if (desk_model_resolve(spec, m->path, sizeof m->path, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    if (eq) {
        size_t n = (size_t)(eq - v);
        if (n == 0 || n >= sizeof m->name) return cli_fail(cmd, DESK_EXIT_USAGE, "-m %s: the name before '=' must be 1-127 bytes", v);
        memcpy(m->name, v, n);
        m->name[n] = '\0';
    } else if (strchr(spec, '/') || strstr(spec, ".gguf")) {
        const char *base = strrchr(spec, '/');
        base = base ? base + 1 : spec;
        snprintf(m->name, sizeof m->name, "%s", base);
        char *dot = strstr(m->name, ".gguf");
        if (dot && dot != m->name) *dot = '\0';
    } else {
        snprintf(m->name, sizeof m->name, "%s", spec);
    }
    return 0;
}

/* desk fit's plan for every model together, against available memory. */
static int check_fit(const char *cmd, const model_arg *ms, int n, const srv_model_opts *o) {
    desk_err err = {0};
    desk_plan_params pp = {.n_ctx = (uint32_t)o->n_ctx, .n_parallel = (uint32_t)o->n_parallel,
                           .n_batch = (uint32_t)o->n_batch};
    desk_plan_model plan[MAX_MODELS];
    uint64_t total = 0, avail = 0;
    for (int i = 0; i < n; i++) {
        if (desk_plan_gguf(ms[i].path, NULL, &pp, &plan[i], &err) != DESK_OK) return cli_fail_err(cmd, &err);
        total += plan[i].total;
    }
    if (desk_mem_available(&avail, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    if (total <= avail) return 0;
    for (int i = 0; i < n; i++)
        fprintf(stderr, "  %-16s weights %8.1f MiB  KV %8.1f MiB  compute %6.1f MiB  total %8.1f MiB\n", ms[i].name,
                plan[i].weights / 1048576.0, plan[i].kv / 1048576.0, plan[i].compute / 1048576.0,
                plan[i].total / 1048576.0);
    return cli_fail(cmd, DESK_EXIT_FAIL,
                    "the models need %.0f MiB together but only %.0f MiB are available (plan above; lower --ctx "
                    "or --parallel, or serve fewer models)",
                    total / 1048576.0, avail / 1048576.0);
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    static model_arg ms[MAX_MODELS];
    int n_models = 0;
    srv_config c = {.host = "127.0.0.1", .port = 8080, .max_body = 8u << 20, .max_json_depth = 64,
                    .max_tokens_cap = 8192, .timeout_s = 30, .max_connections = 4096};
    srv_model_opts o = {.n_parallel = 4, .n_ctx = 4096, .n_threads = 0, .queue_max = 64, .n_batch = 512};
    static char key[4096];
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (cli_is_help(f)) return cli_usage(USAGE);
        if (!strcmp(f, "--lora") && n_models == 0)
            return cli_fail(cmd, DESK_EXIT_USAGE, "--lora applies to the -m before it: give -m MODEL first");
        const int lora = n_models ? cli_lora_parse(cmd, &ms[n_models - 1].loras, argc, argv, &i) : 0;
        if (lora < 0) return DESK_EXIT_USAGE;
        if (lora > 0) continue;
        if (!strcmp(f, "--deterministic")) {
            o.deterministic = true;
            continue;
        }
        if (!strcmp(f, "--no-manifest")) {
            c.no_manifest = true;
            continue;
        }
        if (i + 1 >= argc) return cli_fail(cmd, DESK_EXIT_USAGE, "unknown argument or missing value: '%s' (see desk serve --help)", f);
        const char *v = argv[++i];
        long long x = 0;
        bool ok = true;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            if (n_models == MAX_MODELS) return cli_fail(cmd, DESK_EXIT_USAGE, "at most %d models", MAX_MODELS);
            if (parse_model(cmd, v, &ms[n_models])) return DESK_EXIT_USAGE;
            for (int k = 0; k < n_models; k++)
                if (!strcmp(ms[k].name, ms[n_models].name))
                    return cli_fail(cmd, DESK_EXIT_USAGE, "two models are named '%s' (use NAME=PATH)", ms[k].name);
            n_models++;
        } else if (!strcmp(f, "--host")) {
            c.host = v;
        } else if (!strcmp(f, "--port")) {
            ok = cli_parse_int(cmd, f, v, 0, 65535, &x);
            c.port = (int)x;
        } else if (!strcmp(f, "--parallel") || !strcmp(f, "-np")) {
            ok = cli_parse_int(cmd, f, v, 1, 64, &x);
            o.n_parallel = (int)x;
        } else if (!strcmp(f, "--queue")) {
            ok = cli_parse_int(cmd, f, v, 0, 100000, &x);
            o.queue_max = (int)x;
        } else if (!strcmp(f, "-c") || !strcmp(f, "--ctx")) {
            ok = cli_parse_int(cmd, f, v, 16, 1 << 20, &x);
            o.n_ctx = (int)x;
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch")) {
            ok = cli_parse_int(cmd, f, v, 1, 1 << 16, &x);
            o.n_batch = (int)x;
        } else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) {
            ok = cli_parse_int(cmd, f, v, 1, 1024, &x);
            o.n_threads = (int)x;
        } else if (!strcmp(f, "--api-key")) {
            if (!v[0]) return cli_fail(cmd, DESK_EXIT_USAGE, "--api-key must not be empty");
            snprintf(key, sizeof key, "%s", v);
            c.api_key = key;
        } else if (!strcmp(f, "--api-key-file")) {
            if (read_key_file(cmd, v, key, sizeof key)) return DESK_EXIT_USAGE;
            c.api_key = key;
        } else if (!strcmp(f, "--cors-origin")) {
            c.cors_origin = v;
        } else if (!strcmp(f, "--max-body")) {
            ok = cli_parse_int(cmd, f, v, 1024, 1ll << 30, &x);
            c.max_body = (size_t)x;
        } else if (!strcmp(f, "--max-tokens")) {
            ok = cli_parse_int(cmd, f, v, 1, 1 << 20, &x);
            c.max_tokens_cap = (int)x;
        } else if (!strcmp(f, "--timeout")) {
            ok = cli_parse_int(cmd, f, v, 1, 86400, &x);
            c.timeout_s = (int)x;
        } else if (!strcmp(f, "--max-connections")) {
            ok = cli_parse_int(cmd, f, v, 1, 1 << 20, &x);
            c.max_connections = (int)x;
        } else {
            return cli_fail(cmd, DESK_EXIT_USAGE, "unknown argument '%s' (see desk serve --help)", f);
        }
        if (!ok) return DESK_EXIT_USAGE;
    }
    if (n_models == 0) return cli_fail(cmd, DESK_EXIT_USAGE, "no model: pass -m MODEL (see --help)");
    if (check_fit(cmd, ms, n_models, &o)) return DESK_EXIT_FAIL;

    /* Many idle clients each hold a descriptor: take what the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Signals go to sigwait below, never to the server's threads. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    static srv_model *models[MAX_MODELS];
    desk_err err = {0};
    srv *s = NULL;
    int fd = -1;
    if (srv_listen(&c, &fd, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    /* Confined before the HTTP thread and the models' threads start: the
     * models may be read, the bound socket accepted on, nothing else. */
    const char *reads[MAX_MODELS * (1 + CLI_LORA_MAX)];
    size_t n_reads = 0;
    for (int i = 0; i < n_models; i++) {
        reads[n_reads++] = ms[i].path;
        for (int k = 0; k < ms[i].loras.n; k++) reads[n_reads++] = ms[i].loras.path[k];
    }
    int bad = cli_sandbox_apply(cmd, &(cli_sandbox_spec){.read = reads, .n_read = n_reads,
                                                         .port = srv_fd_port(fd)});
    if (bad) {
        close(fd);
        return bad;
    }
    if (srv_start(&c, fd, models, 0, &s, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    fprintf(stderr, "desk serve: listening on http://%s%s%s:%d/v1 (loading %d model%s)\n",
            strchr(c.host, ':') ? "[" : "", c.host, strchr(c.host, ':') ? "]" : "", srv_port(s), n_models,
            n_models == 1 ? "" : "s");
    int rc = 0;
    for (int i = 0; i < n_models; i++) {
        double t0 = srv_now();
        srv_model_opts mo = o;
        mo.n_loras = ms[i].loras.n;
        for (int k = 0; k < mo.n_loras; k++) {
            mo.lora_path[k] = ms[i].loras.path[k];
            mo.lora_scale[k] = ms[i].loras.use[k].scale;
        }
        if (srv_model_new(ms[i].name, ms[i].path, &mo, &models[i], &err) != DESK_OK) {
            rc = cli_fail_err(cmd, &err);
            break;
        }
        fprintf(stderr, "desk serve: %s ready (%s, %d streams of %d tokens) in %.1f s\n", ms[i].name, ms[i].path,
                o.n_parallel, srv_model_n_ctx(models[i]), srv_now() - t0);
    }
    if (rc == 0) {
        srv_set_models(s, models, n_models);
        srv_set_ready(s, true);
        fprintf(stderr, "desk serve: ready\n");
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "desk serve: %s: finishing\n", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
    }
    srv_quiesce(s);
    for (int i = 0; i < n_models; i++)
        if (models[i]) srv_model_shutdown(models[i]);
    /* The streams end at the schedulers' next step; wait for their
     * connections to take their last bytes (a suspended connection must
     * be resumed before the daemon stops). */
    for (int waited = 0; waited < 1000; waited++) {
        int busy = srv_busy(s);
        for (int i = 0; i < n_models; i++)
            if (models[i]) busy += srv_model_busy(models[i]);
        if (!busy) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    srv_stop(s);
    for (int i = 0; i < n_models; i++) srv_model_free(models[i]);
    return rc;
}
