/*
 * tokenizer.h - text to token ids and back, exactly as the model was trained.
 *
 * A desk_tokenizer is built from a GGUF file's tokenizer.* metadata: byte-level
 * BPE ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre) and
 * SentencePiece-style ("llama"); other models (WordPiece "bert" among them)
 * and unknown pre-tokenizer names are refused with DESK_E_UNSUPPORTED and a
 * message naming them.  It copies what it needs, so it outlives the
 * desk_gguf it came from.  Encoding is thread-safe (per-call scratch).
 *
 * Invalid UTF-8 input is never an error and always encodes the same way:
 * each byte that does not start a valid UTF-8 sequence (overlong forms,
 * surrogates, stray continuation bytes, a truncated tail) is a piece of its
 * own.  Byte-level BPE encodes it through the byte map like any byte (so
 * decoding gives the byte back); SentencePiece gives it its <0xNN> token
 * (or the unknown token when the vocabulary has no byte tokens).
 *
 * Control tokens in user text stay plain text unless the caller passes
 * DESK_TOK_PARSE_SPECIAL: text can never inject "<|im_end|>".  Chat templates
 * insert control tokens by id.
 */
#ifndef DESK_TOKENIZER_H
#define DESK_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desk/common.h"
#include "desk/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_tokenizer desk_tokenizer;

/* Builds the tokenizer described by G's metadata.  The result is owned by
 * the caller (desk_tokenizer_free) and independent of G. */
desk_status desk_tokenizer_load(const desk_gguf *g, desk_tokenizer **out, desk_err *err);
void desk_tokenizer_free(desk_tokenizer *t);

int32_t desk_tokenizer_n_vocab(const desk_tokenizer *t);

/* Flags for desk_tokenize. */
enum {
    DESK_TOK_ADD_SPECIAL = 1,   /* add BOS/EOS as the model's metadata asks */
    DESK_TOK_PARSE_SPECIAL = 2, /* let text spell control tokens */
};

/* Encodes LEN bytes of TEXT (any bytes; invalid UTF-8 is handled as the
 * implementation documents) into IDS (capacity CAP).  *N_OUT receives the
 * number of ids; when CAP is too small it returns DESK_E_RANGE and *N_OUT
 * is the capacity needed. */
desk_status desk_tokenize(const desk_tokenizer *t, const char *text, size_t len, unsigned flags,
                          desk_token *ids, size_t cap, size_t *n_out, desk_err *err);

/* Special ids, or -1 when the model has none. */
typedef enum desk_special {
    DESK_SPECIAL_BOS,
    DESK_SPECIAL_EOS,
    DESK_SPECIAL_EOT,
    DESK_SPECIAL_PAD,
    DESK_SPECIAL_UNK,
} desk_special;
desk_token desk_tokenizer_special(const desk_tokenizer *t, desk_special which);
/* True when generation should stop at ID (EOS, EOT, and other end tokens). */
bool desk_tokenizer_is_eog(const desk_tokenizer *t, desk_token id);
/* True for control tokens (rendered as nothing by default when decoding). */
bool desk_tokenizer_is_control(const desk_tokenizer *t, desk_token id);
/* The id whose vocabulary text is exactly TEXT, or -1. */
desk_token desk_tokenizer_find(const desk_tokenizer *t, const char *text);
/* The vocabulary text of ID (borrowed; NULL when out of range). */
const char *desk_tokenizer_piece(const desk_tokenizer *t, desk_token id);

/* Whether DESK_TOK_ADD_SPECIAL puts BOS in front / EOS at the end. */
bool desk_tokenizer_add_bos(const desk_tokenizer *t);
bool desk_tokenizer_add_eos(const desk_tokenizer *t);
/* The longest decoded token, in bytes: desk_detok_push never needs more
 * than this + 8 bytes of CAP. */
int32_t desk_tokenizer_max_piece(const desk_tokenizer *t);

/* Decoding.  desk_detokenize writes the bytes of N ids into BUF (capacity
 * CAP, NUL-terminated when it fits) and returns the byte count needed, so a
 * caller can size BUF.  Control tokens yield nothing unless
 * RENDER_SPECIAL is set. */
size_t desk_detokenize(const desk_tokenizer *t, const desk_token *ids, size_t n,
                       bool render_special, char *buf, size_t cap);

/* The bytes of one token as it decodes mid-text (no space dropped): writes
 * them into BUF when they fit in CAP (no NUL) and returns the length. */
size_t desk_tokenizer_decode_piece(const desk_tokenizer *t, desk_token id, bool render_special,
                                   char *buf, size_t cap);

/* Streaming decode that never emits half a UTF-8 character: push one id
 * at a time; complete characters come out, the rest waits for the next id.
 * desk_detok_flush emits what is left (invalid sequences as U+FFFD). */
typedef struct desk_detok {
    unsigned char pending[8];
    size_t n_pending;
    bool render_special;
} desk_detok;
/* Writes at most CAP bytes into OUT and returns the count written.  CAP of
 * desk_tokenizer_max_piece() + 8 always suffices (64 does for all but
 * unusually long tokens); what does not fit waits, up to 8 bytes, and the
 * rest of an oversized token is dropped. */
size_t desk_detok_push(const desk_tokenizer *t, desk_detok *st, desk_token id, char *out,
                       size_t cap);
size_t desk_detok_flush(desk_detok *st, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
