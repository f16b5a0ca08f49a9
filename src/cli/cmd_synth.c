/*
 * cmd_synth.c - `desk synth --shape SHAPE --vocab-from MODEL OUT.gguf`:
 * a random-weight model with a real architecture's shape and tokenizer,
 * for benchmarking sizes without downloading them (src/convert/synth.c).
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
#include "progress.h"

static const char USAGE[] =
    "usage: desk synth --shape SHAPE --vocab-from MODEL OUT.gguf [--type f16]\n"
    "                  [--arch llama|qwen2|qwen3|mixtral|qwen3moe|gemma2] [--seed 1]\n"
    "                  [--threads N] [--chat-template T]\n"
    "\n"
    "Writes a model with random weights and the shape of a real one:\n"
    "  tiny      2 layers, 256 embd, 4 heads, 2 kv heads, 768 ffn (for tests)\n"
    "  llama-1b  Llama 3.2 1B: 16 layers, 2048 embd, 32 heads, 8 kv, 8192 ffn\n"
    "  llama-3b  Llama 3.2 3B: 28 layers, 3072 embd, 24 heads, 8 kv, 8192 ffn\n"
    "  llama-8b  Llama 3.1 8B: 32 layers, 4096 embd, 32 heads, 8 kv, 14336 ffn\n"
    "  qwen2-0.5b  Qwen2.5 0.5B (qwen2): 24 layers, 896 embd, 14 heads, 2 kv, 4864 ffn\n"
    "  qwen2-7b  Qwen2.5 7B (qwen2): 28 layers, 3584 embd, 28 heads, 4 kv, 18944 ffn\n"
    "  moe-2b    mixtral layout, ~2B parameters (0.6B active): 16 layers,\n"
    "            2048 embd, 16 heads, 4 kv, 8 experts of 2048 ffn, 2 per token\n"
    "  qwen3-0.6b  Qwen3 0.6B (qwen3): 28 layers, 1024 embd, 16 heads of 128,\n"
    "            8 kv, 3072 ffn\n"
    "  qwen3-8b  Qwen3 8B (qwen3): 36 layers, 4096 embd, 32 heads of 128, 8 kv,\n"
    "            12288 ffn\n"
    "  qwen3-30b-a3b  Qwen3 30B-A3B (qwen3moe): 48 layers, 2048 embd, 32 heads\n"
    "            of 128, 4 kv, 128 experts of 768, 8 per token\n"
    "  gemma2-2b  Gemma 2 2B (gemma2): 26 layers, 2304 embd, 8 heads of 256,\n"
    "            4 kv, 9216 ffn\n"
    "(1b, 3b, 0.5b and 0.6b tie the output to token_embd, as the real models do.)\n"
    "\n"
    "--arch A    write architecture A with the shape's sizes: llama (the\n"
    "            llama-* shapes and tiny) or qwen2 (adds q, k, v biases,\n"
    "            drawn like the weights; NEOX RoPE) or mixtral (a llama file\n"
    "            with 8 experts of the shape's feed-forward size, 2 per token:\n"
    "            an F32 router ffn_gate_inp and stacked ffn_*_exps) or qwen3\n"
    "            (per-head q/k RMS norms, no biases, NEOX RoPE, heads of 128\n"
    "            unless the shape says) or qwen3moe (qwen3 with 32 experts of\n"
    "            a quarter of the shape's ffn, 4 per token, unless the shape\n"
    "            says) or gemma2 (post-attention and post-FFN norms, output\n"
    "            tied, attention and final logits soft-capped at 50 and 30\n"
    "            (0.2 and 2 under 1024 wide, so random weights feel them),\n"
    "            every other layer a sliding window of 4096 or a 64th of the\n"
    "            context, whichever is smaller)\n"
    "\n"
    "--vocab-from MODEL  a GGUF (path or known name, e.g. smollm2) whose\n"
    "            tokenizer.* keys are copied; n_vocab is its token count\n"
    "--type T    f16 (default) or any `desk quantize` type (q4_0, q8_0,\n"
    "            q4_k_m, ...), quantized directly with that recipe\n"
    "--chat-template T  write T as tokenizer.chat_template instead of the\n"
    "            vocabulary model's: a Jinja template, or a chat format's name\n"
    "            (chatml, llama3, mistral-v3-tekken, mistral-v7, gemma, ...; see\n"
    "            `desk info`), e.g. to test a format's prompts and tool calls\n"
    "--seed S    weights are N(0, 0.02) from a PRNG seeded with S (default 1);\n"
    "            norms are 1.  The same seed gives the same file.\n"
    "--threads N threads (default: physical cores; the output does not\n"
    "            depend on it)\n"
    "\n"
    "OUT is written atomically.\n";

int cmd_synth(int argc, char **argv) {
    const char *shape = NULL, *vocab = NULL, *type = "f16", *out = NULL, *arch = NULL, *tmpl = NULL;
    long long seed = 1, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        }
        static const char *const VALUED[] = {"--shape", "--vocab-from", "--type", "--seed", "--threads", "-t", "--arch",
                                              "--chat-template"};
        bool valued = false;
        for (size_t k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++) valued |= strcmp(a, VALUED[k]) == 0;
        if (valued) {
            if (i + 1 >= argc) return cli_fail("synth", DESK_EXIT_USAGE, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--shape") == 0) shape = v;
            else if (strcmp(a, "--vocab-from") == 0) vocab = v;
            else if (strcmp(a, "--type") == 0) type = v;
            else if (strcmp(a, "--arch") == 0) arch = v;
            else if (strcmp(a, "--chat-template") == 0) tmpl = v;
            else if (strcmp(a, "--seed") == 0) {
                if (!cli_parse_int("synth", a, v, 0, INT64_MAX, &seed)) return DESK_EXIT_USAGE;
            } else if (!cli_parse_int("synth", a, v, 1, 1024, &threads)) {
                return DESK_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_fail("synth", DESK_EXIT_USAGE, "unknown option %s (see desk synth --help)", a);
        } else if (!out) {
            out = a;
        } else {
            return cli_fail("synth", DESK_EXIT_USAGE, "unexpected argument %s", a);
        }
    }
    if (!shape || !vocab || !out)
        return cli_fail("synth", DESK_EXIT_USAGE, "usage: desk synth --shape SHAPE --vocab-from MODEL OUT.gguf");
    const desk_synth_shape *s = desk_synth_shape_find(shape);
    if (!s) return cli_fail("synth", DESK_EXIT_USAGE, "unknown shape %s (one of %s)", shape, desk_synth_shape_list());
    if (arch && !desk_synth_arch_known(arch))
        return cli_fail("synth", DESK_EXIT_USAGE, "unknown architecture %s (one of %s)", arch, desk_synth_arch_list());
    desk_synth_shape with_arch = *s;
    if (arch) with_arch.arch = arch;
    with_arch.chat_template = tmpl;
    s = &with_arch;
    const desk_qrecipe *r = desk_qrecipe_find(type);
    if (!r) return cli_fail("synth", DESK_EXIT_USAGE, "unknown type %s (one of %s)", type, desk_qrecipe_list());
    desk_err err = {0};
    char vpath[4096];
    if (desk_model_resolve(vocab, vpath, sizeof vpath, &err) != DESK_OK) return cli_fail_err("synth", &err);
    const char *in[1] = {vpath};
    int bad = cli_check_output("synth", out, in, 1);
    if (!bad) bad = cli_sandbox_apply("synth", &(cli_sandbox_spec){.read = in, .n_read = 1, .write = &out, .n_write = 1});
    if (bad) return bad;
    cli_progress pr;
    cli_progress_init(&pr, "synth");
    desk_convert_opts o = {threads > 0 ? (int)threads : desk_physical_cores(), cli_progress_cb, &pr};
    desk_status st = desk_synth_file(s, vpath, out, r, (uint64_t)seed, &o, &err);
    cli_progress_end(&pr);
    if (st != DESK_OK) return cli_fail_err("synth", &err);
    struct stat sb;
    if (stat(out, &sb) == 0) printf("%s: %s shape, %s, %.1f MiB\n", out, s->name, r->name, (double)sb.st_size / 1048576.0);
    return 0;
}
