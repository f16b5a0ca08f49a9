/*
 * cmd_fit.c - `desk fit MODEL...`: a memory plan before anything is loaded.
 * Each MODEL is a built-in preset (shapes from public config.json files) or
 * a GGUF file (its header only); the plan sets weights + KV cache + compute
 * buffers of all of them, together, against a memory size.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "desk/plan.h"
#include "cli.h"
#include "sandbox.h"

#define MAX_MODELS 16
#define DEFAULT_QUANT "Q4_0"

static const char USAGE_HEAD[] =
    "usage: desk fit (MODEL.gguf | PRESET)... [--quant TYPE] [--ctx N] [--parallel N]\n"
    "                [--kv-type f16|q8_0] [--mem SIZE] [--json]\n"
    "\n"
    "Plans memory before anything is loaded: per model its weights, KV cache\n"
    "(n_ctx tokens x parallel sequences) and compute buffers; then the total of\n"
    "all models together against the memory, and what is left.\n"
    "\n"
    "MODEL     a GGUF file or a known model name (smollm2, gemma3-270m): sized from\n"
    "          its header (stored tensor bytes; no tensor data is read)\n"
    "PRESET    a public architecture, weights sized at --quant (default " DEFAULT_QUANT "):\n";
static const char USAGE_TAIL[] =
    "\n"
    "--quant TYPE     bits per weight: a tensor type at its exact block size\n"
    "                 (Q4_0 4.5, Q4_1 5.0, Q5_0 5.5, Q8_0 8.5, Q4_K 4.5, Q6_K 6.5625,\n"
    "                 F16/BF16 16, F32 32) or a llama.cpp file mix, whose effective\n"
    "                 bpw comes from llama.cpp's quantize table for Llama-3-8B:\n"
    "                 Q3_K_M 4.00, Q4_K_S 4.67, Q4_K_M 4.90, Q5_K_S 5.52, Q5_K_M 5.70.\n"
    "                 With a GGUF file it re-sizes the file as if requantized.\n"
    "--ctx N          tokens of context per sequence (default 2048)\n"
    "--parallel N     sequences, each with its own KV cache (default 1)\n"
    "--kv-type T      KV cache element type: f16 (2 bytes, default) or q8_0 (34/32)\n"
    "--mem SIZE       memory to plan against (default: this machine's MemTotal).\n"
    "                 K, M, G, T (and KB, MB, GB, TB) are powers of 1000;\n"
    "                 KiB, MiB, GiB, TiB powers of 1024: 128G = 128e9 bytes.\n"
    "--json           one JSON object: models [...], total_bytes, available_bytes,\n"
    "                 free_bytes (negative when it does not fit), fits, and the\n"
    "                 assumptions (n_ctx, parallel, kv_type, compute_batch)\n"
    "\n"
    "Sizes print in GB = 10^9 bytes (not GiB).  KV cache = 2 (K, V) x layers x\n"
    "kv_heads x head_dim x n_ctx x parallel x bytes per element.  Compute =\n"
    "4 bytes x (B x (4 n_embd + 2 n_ff_active + n_vocab) + B x n_ctx x n_head), B =\n"
    "min(512, n_ctx).  Presets count every weight at the one quantization (norms\n"
    "included), and give every layer a full-context KV cache (sliding-window\n"
    "layers would need less).  Exit 0 whether or not it fits; see `fits`.\n"
    "\n"
    "The seed's claims, reproduced:\n"
    "  desk fit llama-3-70b --mem 128G                  41.1 GB, 86.9 GB free\n"
    "  desk fit mixtral-8x22b --mem 128G                fits at Q4_0 (4.5 bpw)\n"
    "  desk fit llama-3-70b mixtral-8x22b --mem 128G    both fit at once\n";

static void usage(void) {
    fputs(USAGE_HEAD, stdout);
    size_t n;
    const desk_arch_shape *p = desk_presets(&n);
    for (size_t i = 0; i < n; i++)
        printf("            %-14s %6.2f B params (%s)\n", p[i].name, desk_shape_params(&p[i]) / 1e9, p[i].source);
    fputs(USAGE_TAIL, stdout);
}

static double gb(uint64_t b) { return (double)b / 1e9; }

static void print_text(const desk_plan_model *m, size_t n, const desk_plan_params *pp, uint64_t total, uint64_t avail,
                       const char *mem_src) {
    printf("memory plan: n_ctx %u x %u sequence%s, KV %s, compute batch %u; GB = 10^9 bytes\n", m[0].n_ctx,
           m[0].n_parallel, m[0].n_parallel == 1 ? "" : "s", pp->type_k == DESK_CACHE_Q8_0 ? "Q8_0" : "F16",
           pp->n_batch);
    printf("%-28s %-7s %5s %10s %10s %10s %10s %10s\n", "model", "quant", "bpw", "params", "weights", "KV cache",
           "compute", "total");
    for (size_t i = 0; i < n; i++) {
        const char *name = strrchr(m[i].name, '/') ? strrchr(m[i].name, '/') + 1 : m[i].name;
        size_t len = strlen(name);
        if (len > 28) name += len - 28;
        printf("%-28s %-7s %5.2f %8.2f B %7.2f GB %7.2f GB %7.2f GB %7.2f GB\n", name, m[i].quant, m[i].bpw,
               m[i].params / 1e9, gb(m[i].weights), gb(m[i].kv), gb(m[i].compute), gb(m[i].total));
        if (m[i].n_expert)
            printf("%-28s active per token: %.2f B params, %.2f GB of weights (%u of %u experts)\n", "",
                   m[i].active_params / 1e9, gb(m[i].active_weights), m[i].n_expert_used, m[i].n_expert);
    }
    printf("%-28s %66.2f GB\n", "total", gb(total));
    printf("%-28s %66.2f GB (%s)\n", "memory", gb(avail), mem_src);
    if (total <= avail) printf("%-28s %66.2f GB  -> fits\n", "free", gb(avail - total));
    else printf("%-28s %66.2f GB  -> does NOT fit\n", "short by", gb(total - avail));
}

static void print_json(const desk_plan_model *m, size_t n, const desk_plan_params *pp, uint64_t total,
                       uint64_t avail) {
    json_object *root = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(m[i].name));
        json_object_object_add(o, "arch", json_object_new_string(m[i].arch));
        json_object_object_add(o, "quant", json_object_new_string(m[i].quant));
        json_object_object_add(o, "bpw", json_object_new_double(m[i].bpw));
        json_object_object_add(o, "params", json_object_new_uint64(m[i].params));
        json_object_object_add(o, "active_params", json_object_new_uint64(m[i].active_params));
        json_object_object_add(o, "active_weights_bytes", json_object_new_uint64(m[i].active_weights));
        json_object_object_add(o, "weights_bytes", json_object_new_uint64(m[i].weights));
        json_object_object_add(o, "kv_bytes", json_object_new_uint64(m[i].kv));
        json_object_object_add(o, "compute_bytes", json_object_new_uint64(m[i].compute));
        json_object_object_add(o, "total_bytes", json_object_new_uint64(m[i].total));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "models", arr);
    json_object_object_add(root, "total_bytes", json_object_new_uint64(total));
    json_object_object_add(root, "available_bytes", json_object_new_uint64(avail));
    json_object_object_add(root, "free_bytes", json_object_new_int64((int64_t)avail - (int64_t)total));
    json_object_object_add(root, "fits", json_object_new_boolean(total <= avail));
    json_object *as = json_object_new_object();
    json_object_object_add(as, "n_ctx", json_object_new_int64(m[0].n_ctx));
    json_object_object_add(as, "parallel", json_object_new_int64(m[0].n_parallel));
    json_object_object_add(as, "kv_type", json_object_new_string(pp->type_k == DESK_CACHE_Q8_0 ? "q8_0" : "f16"));
    json_object_object_add(as, "compute_batch", json_object_new_int64(pp->n_batch));
    json_object_object_add(as, "gb", json_object_new_string("10^9 bytes"));
    json_object_object_add(root, "assumptions", as);
    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

int cmd_fit(int argc, char **argv) {
    const char *names[MAX_MODELS], *quant = NULL, *mem = NULL;
    size_t n = 0;
    bool json = false;
    desk_plan_params pp = {.n_ctx = 2048, .n_parallel = 1, .n_batch = 512, .type_k = DESK_CACHE_F16, .type_v = DESK_CACHE_F16};
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage();
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (n == MAX_MODELS) return cli_fail("fit", DESK_EXIT_USAGE, "at most %d models", MAX_MODELS);
            names[n++] = a;
            continue;
        }
        bool known = strcmp(a, "--quant") == 0 || strcmp(a, "--mem") == 0 || strcmp(a, "--ctx") == 0 ||
                     strcmp(a, "--parallel") == 0 || strcmp(a, "--kv-type") == 0;
        if (!known) return cli_fail("fit", DESK_EXIT_USAGE, "unknown option '%s' (see --help)", a);
        if (i + 1 >= argc) return cli_fail("fit", DESK_EXIT_USAGE, "%s needs a value", a);
        const char *val = argv[++i];
        if (strcmp(a, "--quant") == 0) {
            quant = val;
        } else if (strcmp(a, "--mem") == 0) {
            mem = val;
        } else if (strcmp(a, "--ctx") == 0) {
            if (!cli_parse_int("fit", "--ctx", val, 1, 1 << 24, &v)) return DESK_EXIT_USAGE;
            pp.n_ctx = (uint32_t)v;
        } else if (strcmp(a, "--parallel") == 0) {
            if (!cli_parse_int("fit", "--parallel", val, 1, 4096, &v)) return DESK_EXIT_USAGE;
            pp.n_parallel = (uint32_t)v;
        } else if (strcmp(val, "f16") == 0) {
            pp.type_k = pp.type_v = DESK_CACHE_F16;
        } else if (strcmp(val, "q8_0") == 0) {
            pp.type_k = pp.type_v = DESK_CACHE_Q8_0;
        } else {
            return cli_fail("fit", DESK_EXIT_USAGE, "--kv-type: '%s' is not f16 or q8_0", val);
        }
    }
    if (!n) return cli_fail("fit", DESK_EXIT_USAGE, "no MODEL or PRESET given (see --help)");
    desk_err err = {0};
    uint64_t avail = 0;
    char mem_src[128];
    if (mem) {
        if (desk_size_parse(mem, &avail, &err) != DESK_OK) return cli_fail("fit", DESK_EXIT_USAGE, "--mem: %s", err.msg);
        snprintf(mem_src, sizeof mem_src, "--mem %s", mem);
    } else {
        if (desk_mem_total(&avail, &err) != DESK_OK) return cli_fail_err("fit", &err);
        snprintf(mem_src, sizeof mem_src, "MemTotal of this machine");
    }
    double bpw = 0;
    if (desk_quant_bpw(quant ? quant : DEFAULT_QUANT, &bpw, &err) != DESK_OK)
        return cli_fail("fit", DESK_EXIT_USAGE, "--quant: %s", err.msg);
    desk_plan_model *plans = calloc(n, sizeof *plans);
    if (!plans) return cli_fail("fit", DESK_EXIT_FAIL, "out of memory");
    /* Every model resolved first: fit confines itself to reading them
     * before it parses any. */
    char (*paths)[4096] = calloc(n, sizeof *paths);
    const char **reads = calloc(n, sizeof *reads);
    desk_status *resolved = calloc(n, sizeof *resolved);
    desk_err *rerr = calloc(n, sizeof *rerr);
    int confined = !paths || !reads || !resolved || !rerr ? cli_fail("fit", DESK_EXIT_FAIL, "out of memory") : 0;
    for (size_t i = 0; !confined && i < n; i++) {
        if (desk_preset_find(names[i])) continue;
        resolved[i] = desk_model_resolve(names[i], paths[i], sizeof paths[i], &rerr[i]);
        if (resolved[i] == DESK_OK) reads[i] = paths[i];
    }
    if (!confined) confined = cli_sandbox_apply("fit", &(cli_sandbox_spec){.read = reads, .n_read = n});
    free(reads);
    if (confined) {
        free(paths);
        free(resolved);
        free(rerr);
        free(plans);
        return confined;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const desk_arch_shape *s = desk_preset_find(names[i]);
        desk_status st;
        if (s) {
            st = desk_plan_preset(s, quant ? quant : DEFAULT_QUANT, bpw, &pp, &plans[i], &err);
        } else {
            const char *path = paths[i];
            st = resolved[i];
            if (st != DESK_OK) err = rerr[i];
            if (st == DESK_E_NOTFOUND && !strchr(names[i], '/') && !strstr(names[i], ".gguf")) {
                free(plans), free(paths), free(resolved), free(rerr);
                return cli_fail("fit", DESK_EXIT_USAGE,
                                "unknown model or preset '%s' (presets: see `desk fit --help`)", names[i]);
            }
            if (st == DESK_OK) st = desk_plan_gguf(path, quant, &pp, &plans[i], &err);
        }
        if (st != DESK_OK) {
            free(plans), free(paths), free(resolved), free(rerr);
            return cli_fail_err("fit", &err);
        }
        total += plans[i].total;
    }
    if (json) print_json(plans, n, &pp, total, avail);
    else print_text(plans, n, &pp, total, avail, mem_src);
    free(plans), free(paths), free(resolved), free(rerr);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail("fit", DESK_EXIT_FAIL, "error writing the output");
    return 0;
}
