/*
 * cmd_quantize.c - `desk quantize IN.gguf OUT.gguf TYPE [--threads N]`:
 * rewrite a model with quantized weights (src/convert does the work).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "sandbox.h"
#include "desk/convert.h"
#include "desk.h"
#include "lora_opts.h"
#include "progress.h"

static const char USAGE[] =
    "usage: desk quantize IN.gguf OUT.gguf TYPE [--threads N] [--lora ADAPTER.gguf[:S] ...]\n"
    "\n"
    "Writes a copy of the model IN with its weights in TYPE: Q4_0, Q4_1, Q5_0,\n"
    "Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, the mixtures Q4_K_M and Q5_K_M, or F16, BF16,\n"
    "F32.  IN may hold any type desk can dequantize (F32, F16, BF16, Q4_0..Q8_0,\n"
    "Q2_K..Q6_K, IQ4_NL, IQ4_XS).  All metadata is copied; general.file_type is\n"
    "set to llama.cpp's value for TYPE (Q4_K and Q5_K are written as 14 and 16,\n"
    "llama.cpp's Q4_K_S and Q5_K_S) and general.quantization_version to 2.\n"
    "\n"
    "Which tensor gets which type (llama.cpp's llama-quantize rules):\n"
    "  - only tensors of 2+ dimensions named *weight are converted; norms\n"
    "    (*_norm.weight), 1-D tensors and ffn_gate_inp keep type and bytes\n"
    "  - output.weight, and token_embd.weight when there is no output.weight\n"
    "    (tied embeddings), get Q6_K for every quantized TYPE except Q8_0\n"
    "  - Q4_K_M: Q4_K, except attn_v and ffn_down in the layers i of n where\n"
    "    i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2: Q6_K\n"
    "  - Q5_K_M: the same with Q5_K in place of Q4_K\n"
    "  - any other TYPE: that type for every converted tensor\n"
    "  - a row not a whole number of blocks falls back: Q4_K -> Q5_0,\n"
    "    Q5_K -> Q5_1, Q6_K -> Q8_0, anything else (or still not fitting) F16\n"
    "Tensors are written in llama.cpp's order (by layer, then name).\n"
    "\n"
    "--threads N   threads for the row conversion (default: physical cores)\n"
    "--lora ADAPTER.gguf[:S]  merge a LoRA adapter (llama.cpp's adapter GGUF, made for\n"
    "              IN, e.g. by desk tune) into the weights it adapts, at scale S\n"
    "              (default 1; repeat for several, up to 8): W + S * alpha/rank * B A,\n"
    "              in F32, then quantized to TYPE.  OUT then runs without the adapter.\n"
    "\n"
    "OUT is written atomically: on any error, or when desk is interrupted\n"
    "(SIGINT, SIGTERM) or over `ulimit -f`, no file is left there.  OUT may\n"
    "not be IN (by any name: a link to it counts).\n";

int cmd_quantize(int argc, char **argv) {
    const char *pos[3];
    int npos = 0;
    long long threads = 0;
    cli_loras loras = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        }
        const int lora = cli_lora_parse("quantize", &loras, argc, argv, &i);
        if (lora < 0) return DESK_EXIT_USAGE;
        if (lora > 0) continue;
        if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc) return cli_fail("quantize", DESK_EXIT_USAGE, "%s needs a value", a);
            if (!cli_parse_int("quantize", a, argv[++i], 1, 1024, &threads)) return DESK_EXIT_USAGE;
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_fail("quantize", DESK_EXIT_USAGE, "unknown option %s (see desk quantize --help)", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return cli_fail("quantize", DESK_EXIT_USAGE, "unexpected argument %s", a);
        }
    }
    if (npos != 3) return cli_fail("quantize", DESK_EXIT_USAGE, "usage: desk quantize IN.gguf OUT.gguf TYPE");
    const desk_qrecipe *r = desk_qrecipe_find(pos[2]);
    if (!r) return cli_fail("quantize", DESK_EXIT_USAGE, "unknown type %s (one of %s)", pos[2], desk_qrecipe_list());
    if (access(pos[0], R_OK) != 0)
        return cli_fail("quantize", DESK_EXIT_USAGE, "%s: %s", pos[0], strerror(errno));
    const char *inputs[1 + CLI_LORA_MAX];
    inputs[0] = pos[0];
    for (int k = 0; k < loras.n; k++) inputs[1 + k] = loras.path[k];
    int bad = cli_check_output("quantize", pos[1], inputs, 1 + loras.n);
    if (!bad) bad = cli_sandbox_apply("quantize", &(cli_sandbox_spec){.read = inputs, .n_read = 1 + loras.n,
                                                                     .write = &pos[1], .n_write = 1});
    if (bad) return bad;
    /* Adapters are checked against the model they were made for: loaded
     * in place (no repacking), only for their shapes. */
    desk_model *model = NULL;
    desk_err err = {0};
    if (loras.n > 0) {
        const desk_model_params mp = {.no_repack = true};
        if (desk_model_load(pos[0], &mp, &model, &err) != DESK_OK) return cli_fail_err("quantize", &err);
        if ((bad = cli_loras_load("quantize", &loras, model)) != 0) {
            desk_model_free(model);
            return bad;
        }
    }

    cli_progress pr;
    cli_progress_init(&pr, "quantize");
    desk_convert_opts o = {threads > 0 ? (int)threads : desk_physical_cores(), cli_progress_cb, &pr};
    desk_status st = desk_quantize_file_merged(pos[0], pos[1], r, &o, loras.use, loras.n, &err);
    cli_progress_end(&pr);
    cli_loras_free(&loras);
    desk_model_free(model);
    if (st != DESK_OK) return cli_fail_err("quantize", &err);
    struct stat a, b;
    if (stat(pos[0], &a) == 0 && stat(pos[1], &b) == 0)
        printf("%s: %s, %.1f MiB (from %.1f MiB)\n", pos[1], r->name, (double)b.st_size / 1048576.0,
               (double)a.st_size / 1048576.0);
    return 0;
}
