/*
 * chat.h - turning a conversation into the prompt a chat model was tuned on.
 *
 * desk does not run Jinja.  Like llama.cpp's llm_chat_detect_template, it
 * recognises a model's tokenizer.chat_template by distinctive substrings
 * and renders the family's fixed format (the exact newlines, role names
 * and markers of llama.cpp's llm_chat_apply_template).
 *
 * Rendering to tokens keeps roles and text apart: the format's markers
 * (<|im_start|>, <start_of_turn>, [INST], ...) become their ids when the
 * vocabulary holds them as control tokens, and everything else, the
 * messages included, is tokenized WITHOUT special-token parsing, so a user
 * typing "<|im_end|>" gets text tokens, never the control id.  Text between
 * two markers is tokenized as one piece, as llama.cpp does after splitting
 * at special tokens, so ordinary prompts get llama.cpp's ids.  BOS comes
 * first when the tokenizer's metadata asks for it (add_bos_token).
 */
#ifndef DESK_CHAT_H
#define DESK_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "desk/common.h"
#include "desk/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum desk_chat_fmt {
    DESK_CHAT_UNKNOWN = 0,
    DESK_CHAT_CHATML,            /* SmolLM2, Qwen */
    DESK_CHAT_PHI4,              /* chatml with <|im_sep|> */
    DESK_CHAT_LLAMA2,            /* [INST] ... [/INST], no system support */
    DESK_CHAT_LLAMA2_SYS,        /* with <<SYS>> */
    DESK_CHAT_LLAMA2_SYS_BOS,    /* <s> before every later [INST] */
    DESK_CHAT_LLAMA2_SYS_STRIP,  /* messages trimmed */
    DESK_CHAT_MISTRAL_V1,
    DESK_CHAT_MISTRAL_V3,
    DESK_CHAT_MISTRAL_V3_TEKKEN,
    DESK_CHAT_MISTRAL_V7,
    DESK_CHAT_MISTRAL_V7_TEKKEN,
    DESK_CHAT_PHI3,
    DESK_CHAT_ZEPHYR,
    DESK_CHAT_GEMMA,             /* system folded into the first user turn */
    DESK_CHAT_LLAMA3,
    DESK_CHAT_N_FMT,
} desk_chat_fmt;

typedef enum desk_role {
    DESK_ROLE_SYSTEM,
    DESK_ROLE_USER,
    DESK_ROLE_ASSISTANT,
} desk_role;

/* One message; TEXT (LEN bytes, any content) is borrowed. */
typedef struct desk_chat_msg {
    desk_role role;
    const char *text;
    size_t len;
} desk_chat_msg;

/* The family of TMPL: either a family name ("chatml", "llama3", "gemma",
 * ... as desk_chat_fmt_name spells them) or a Jinja template text.
 * DESK_CHAT_UNKNOWN for NULL or a template desk does not render. */
desk_chat_fmt desk_chat_detect(const char *tmpl);

/* The family a vocabulary's control tokens point to (<|im_start|>,
 * <start_of_turn>, <|start_header_id|>, <|assistant|> + <|end|>), for models
 * that ship without a template; DESK_CHAT_UNKNOWN when none matches. */
desk_chat_fmt desk_chat_guess_from_vocab(const desk_tokenizer *t);

/* The format to use for a model with template TMPL (may be NULL) and
 * tokenizer T (may be NULL): the template's family, else the vocabulary's,
 * else chatml.  *WARNING gets a static one-line note when it had to guess
 * (for stderr), else NULL. */
desk_chat_fmt desk_chat_choose(const char *tmpl, const desk_tokenizer *t, const char **warning);

/* "chatml", "gemma", ... ("unknown" for DESK_CHAT_UNKNOWN). */
const char *desk_chat_fmt_name(desk_chat_fmt f);

/* The marker that closes an assistant turn ("<|im_end|>", "<end_of_turn>",
 * "<|eot_id|>", "</s>", ...), so generation can stop on it. */
const char *desk_chat_end_of_turn(desk_chat_fmt f);

/* Renders N messages (and, with ADD_GEN, the opening of the assistant's
 * turn) as text into BUF (capacity CAP, NUL-terminated when it fits).
 * Returns the length needed, excluding the NUL.  For tests and debugging:
 * the model is fed desk_chat_render_tokens' ids. */
size_t desk_chat_render_text(desk_chat_fmt f, const desk_chat_msg *msgs, size_t n, bool add_gen,
                             char *buf, size_t cap);

/* Renders to token ids in IDS (capacity CAP).  *N_OUT gets the count; when
 * CAP is too small it returns DESK_E_RANGE and *N_OUT is the count needed.
 * Allocates only scratch memory that it frees before returning. */
desk_status desk_chat_render_tokens(desk_chat_fmt f, const desk_tokenizer *t,
                                    const desk_chat_msg *msgs, size_t n, bool add_gen,
                                    desk_token *ids, size_t cap, size_t *n_out, desk_err *err);

/* A prompt written piece by piece, for formats the family renderers do
 * not cover (the server's tool-call prompts): MARKER pieces become their
 * control id when the vocabulary holds one (else text, as in
 * desk_chat_render_tokens); text pieces are tokenized without special
 * parsing, the text between two markers as one piece.  TEXT (LEN bytes)
 * is borrowed. */
typedef struct desk_chat_piece {
    const char *text;
    size_t len;
    bool marker;
} desk_chat_piece;

/* Renders N pieces to token ids as desk_chat_render_tokens does (BOS first
 * when the metadata asks for it; DESK_E_RANGE and the count needed in
 * *N_OUT when CAP is too small).  Allocates only scratch memory that it
 * frees before returning. */
desk_status desk_chat_pieces_tokens(const desk_tokenizer *t, const desk_chat_piece *pieces, size_t n,
                                    desk_token *ids, size_t cap, size_t *n_out, desk_err *err);

#ifdef __cplusplus
}
#endif

#endif
