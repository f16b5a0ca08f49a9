/*
 * kld.h - llama-perplexity's KL-divergence base files, for `desk
 * perplexity --kl-divergence-base FILE [--kl-divergence]`: saving the
 * log-probabilities of a reference run, reading them back (refusing a
 * hostile or mismatched file with one line naming the field or offset),
 * and the statistics llama-perplexity prints when it compares a run with
 * such a file (KL divergence, top-1 agreement, PPL ratio, Δp).
 *
 * The format (little-endian, as llama.cpp writes it on x86 and ARM):
 *   offset 0   "_logits_" (8 bytes)
 *   offset 8   int32 n_ctx, int32 n_vocab, int32 n_chunk
 *   offset 20  int32 tokens[n_chunk * n_ctx] (the text's tokens, BOS first
 *              if the model adds it; each window's first token is still
 *              the text's, the run replaces it by BOS)
 *   then per window, for each scored position p in [n_ctx/2, n_ctx-2]
 *   (the second half, position p predicting token p+1), one row of
 *   nv = 2*((n_vocab+1)/2) + 4 uint16: a float scale and a float
 *   min_log_prob (the first 4 uint16), then n_vocab uint16 q with
 *   log p(i) = scale*q[i] + min_log_prob (log-probabilities more than 16
 *   below the top one are stored as the minimum), padded to nv.
 */
#ifndef DESK_CLI_KLD_H
#define DESK_CLI_KLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "desk.h"

#define KLD_HEADER_BYTES 20

/* uint16 per stored row for N_VOCAB (header floats and padding included). */
static inline size_t kld_row_len(int n_vocab) { return 2 * (((size_t)n_vocab + 1) / 2) + 4; }

/* Scored positions per window of N_CTX: n_ctx/2 .. n_ctx-2. */
static inline int kld_rows_per_chunk(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* Writes the header and the tokens of a base file to F (see above).
 * Returns false on a write error (errno set). */
bool kld_write_header(FILE *f, int n_ctx, int n_vocab, int n_chunk, const desk_token *tokens);

/* Quantizes the log-softmax of LOGITS (N_VOCAB floats) into ROW
 * (kld_row_len uint16, the caller's scratch) and writes it to F.  Returns
 * false on a write error. */
bool kld_write_row(FILE *f, const float *logits, int n_vocab, uint16_t *row);

/* An open base file being read: the header, its tokens, and the stream
 * positioned at the first row. */
typedef struct kld_base {
    FILE *fp;
    const char *path;
    int n_ctx, n_vocab, n_chunk;
    desk_token *tokens; /* n_chunk * n_ctx, owned */
    uint64_t offset;    /* file offset of the next row */
} kld_base;

/* Opens PATH (a regular file) and checks it against the current run: the
 * magic, n_ctx (in [8, 2^20]), n_vocab (== N_VOCAB, the model's), n_chunk
 * (>= 1), the file's size (exactly the header, tokens and rows it
 * declares) and every token (in [0, n_vocab)).  On failure returns
 * DESK_E_FORMAT (DESK_E_IO/NOTFOUND for an unreadable file) with the field
 * or offset in ERR, and B holds nothing.  Free with kld_base_close. */
desk_status kld_base_open(const char *path, int n_vocab, kld_base *b, desk_err *err);
void kld_base_close(kld_base *b);

/* Reads the next row into ROW (kld_row_len uint16); refuses a scale or
 * minimum that is not a finite number (or a negative scale), naming the
 * row's offset. */
desk_status kld_base_read_row(kld_base *b, uint16_t *row, desk_err *err);

/* Running sums of a comparison, and each scored token's KL divergence
 * and Δp (for the percentiles); sized for N tokens at kld_stats_init, so
 * scoring allocates nothing. */
typedef struct kld_stats {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff, sum_p_diff2, sum_p_diff4;
    size_t n_same_top, count, cap;
    float *kld_values, *p_diff_values; /* cap each, owned */
} kld_stats;

bool kld_stats_init(kld_stats *s, size_t n);
void kld_stats_free(kld_stats *s);

/* Scores one position: LOGITS (N_VOCAB, this run) against the base row
 * ROW for the next token TOK. */
void kld_score(kld_stats *s, const float *logits, int n_vocab, const uint16_t *row, int tok);

/* One progress line (PPL, ln ratio, KLD, RMS Δp, same top) for stderr. */
void kld_print_progress(const kld_stats *s, FILE *f, long long chunk, long long n_chunk);

/* The final statistics as llama-perplexity prints them (text), or one JSON
 * object (null where a figure is not a finite number).  Sorts the value
 * arrays. */
void kld_print_report(kld_stats *s, FILE *f, bool json, long long n_chunk, int n_ctx);

#endif /* DESK_CLI_KLD_H */
