/*
 * desk/convert.h - writing models: quantizing a GGUF model with one of
 * llama.cpp's recipes (`desk quantize`), and synthesising random-weight
 * models with the shape of real architectures (`desk synth`).
 *
 * Quantizing:
 * Every metadata key is copied; general.file_type is set to the recipe's
 * llama.cpp file type and general.quantization_version to 2.  Tensors are
 * written in llama.cpp's order (see recipe.h) with the recipe's types; a
 * tensor already in its target type is copied byte for byte, any other is
 * dequantized row by row to F32 and quantized with desk's reference
 * quantizers (src/tensor), rows spread over a thread pool.  The output is
 * written atomically: on any failure no file is left at OUT.
 *
 * Synthesising:
 * For benchmarking sizes desk has no real weights for (Llama 3.2 1B/3B,
 * Llama 3.1 8B): a "llama" architecture GGUF with the real layer count,
 * widths and head counts, a real tokenizer (every tokenizer.* key copied
 * from another GGUF; n_vocab is its token count), and weights drawn from a
 * seeded PRNG: N(0, 0.02) for matrices, 1 for norms, so activations stay
 * finite.  Values depend only on the seed, the tensor and the row - not on
 * the thread count.  Norms are F32; the matrices F16 or the types a
 * quantization recipe (recipe.h) gives them, quantized directly.
 */
#ifndef DESK_CONVERT_H
#define DESK_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "desk/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum desk_qmix {
    DESK_QMIX_NONE, /* one type everywhere (output/tied embeddings aside) */
    DESK_QMIX_K_M   /* llama.cpp's _M mixtures */
} desk_qmix;

typedef struct desk_qrecipe {
    const char *name;   /* "Q4_K_M" */
    uint32_t ftype;     /* llama_ftype written to general.file_type */
    uint32_t base;      /* desk_type of most tensors */
    desk_qmix mix;
} desk_qrecipe;

/* The recipe called NAME (case-insensitive), or NULL. */
const desk_qrecipe *desk_qrecipe_find(const char *name);

/* "Q4_0, Q4_1, ..." - every recipe name, for usage and error messages. */
const char *desk_qrecipe_list(void);

/* Called after each tensor with elements done and in total (for a progress
 * bar), and WHAT naming the tensor. */
typedef void (*desk_convert_progress_fn)(void *user, uint64_t done, uint64_t total, const char *what);

typedef struct desk_convert_opts {
    int n_threads;                     /* >= 1 */
    desk_convert_progress_fn progress; /* may be NULL */
    void *progress_user;
} desk_convert_opts;

/* Quantizes the model at IN into OUT with recipe R.  Errors: DESK_E_NOTFOUND
 * / DESK_E_IO for the files, DESK_E_FORMAT for a malformed input,
 * DESK_E_UNSUPPORTED for a tensor type desk cannot dequantize (naming the
 * tensor), DESK_E_NOMEM. */
desk_status desk_quantize_file(const char *in, const char *out, const desk_qrecipe *r,
                               const desk_convert_opts *opts, desk_err *err);

/* desk_quantize_file with the N_LORAS adapters of LORAS merged into the
 * weights they adapt (W + s B A in F32, desk_lora_merge_rows, before the
 * row is quantized; such a tensor is converted even when it keeps its
 * type): llama.cpp's llama-export-lora, re-quantized.  The adapters were
 * loaded for the model at IN and are borrowed for the call. */
typedef struct desk_lora_use desk_lora_use;
desk_status desk_quantize_file_merged(const char *in, const char *out, const desk_qrecipe *r,
                                      const desk_convert_opts *opts, const desk_lora_use *loras, int n_loras,
                                      desk_err *err);

typedef struct desk_synth_shape {
    const char *name; /* "llama-1b" */
    const char *what; /* the model it copies */
    uint32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;
    bool tied; /* no output.weight: token_embd is the output matrix */
    /* "llama" (NULL), "qwen2" (q, k, v biases), "mixtral" (a llama file with experts), "qwen3" (per-head
     * q/k norms), "qwen3moe" (qwen3 with many small experts) or "gemma2" */
    const char *arch;
    uint32_t n_expert, n_expert_used; /* experts and experts per token (0: the arch's default) */
    /* NULL: the vocabulary model's tokenizer.chat_template is copied; else
     * this text is written in its place (a family name such as "llama3"
     * selects that chat format, desk_chat_detect). */
    const char *chat_template;
    uint32_t head_dim; /* attention head size (0: qwen3's 128, else n_embd / n_head) */
    uint32_t n_ff_exp; /* qwen3moe: one expert's width (0: n_ff / 4) */
} desk_synth_shape;

/* The shape called NAME, or NULL; desk_synth_shape_list names them all.
 * Copy one and set its arch to write that architecture with its size. */
const desk_synth_shape *desk_synth_shape_find(const char *name);
const char *desk_synth_shape_list(void);
/* Whether desk synth writes architecture ARCH; desk_synth_arch_list names them. */
bool desk_synth_arch_known(const char *arch);
const char *desk_synth_arch_list(void);

/* Writes OUT (atomically) with shape S, the tokenizer of the GGUF at VOCAB,
 * weights from SEED and tensor types from recipe R (F16 when NULL).
 * Errors: the file errors of desk_gguf_open for VOCAB, DESK_E_FORMAT when it
 * has no tokenizer.ggml.tokens array, DESK_E_NOMEM, DESK_E_IO. */
desk_status desk_synth_file(const desk_synth_shape *s, const char *vocab, const char *out,
                            const desk_qrecipe *r, uint64_t seed, const desk_convert_opts *o, desk_err *err);

#ifdef __cplusplus
}
#endif
#endif /* DESK_CONVERT_H */
