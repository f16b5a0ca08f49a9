/*
 * bench/tokenize.c - tokenizer speed: loading a tokenizer (the GGUF open
 * and desk_tokenizer_load timed apart) and encoding 1 MB of English-like
 * prose on one core, then decoding it back.
 *
 *   make bench   (or: cmake --build build --target bench_tokenize)
 *   build/bench_tokenize [MODEL...]   default: smollm2 gemma3-270m synthetic
 *
 * "synthetic" is a ~150k-token byte-level BPE vocabulary (with as many
 * merges) written to /tmp with the GGUF writer, for the load time at that
 * size; its encode figure means little (ASCII-only tokens).
 *
 * The prose is generated (fixed seed) from common English words with
 * punctuation, capitals, numbers and paragraph breaks, so the run needs no
 * data file.  Each figure is the best of 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "desk.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const WORDS[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "I", "this", "are", "or", "his", "from", "at", "which", "but",
    "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her",
    "has", "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "people",
    "time", "river", "morning", "government", "language", "understanding", "beautiful",
    "however", "children", "information", "development", "everything", "question", "history",
    "small", "village", "north", "mountain", "quickly", "remembered", "letters", "wasn't",
    "didn't", "they're", "it's", "she'd", "we'll", "London", "September", "Elizabeth",
    "computer", "railway", "thousand", "several", "between", "through", "because", "without",
};

static size_t make_prose(char *buf, size_t size) {
    uint64_t s = 88172645463325252ull;
    size_t n = 0, nw = sizeof WORDS / sizeof WORDS[0];
    int in_sentence = 0;
    while (n + 64 < size) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const char *w = WORDS[s % nw];
        char word[32];
        snprintf(word, sizeof word, "%s", w);
        if (!in_sentence && word[0] >= 'a' && word[0] <= 'z') word[0] = (char)(word[0] - 32);
        if (s % 37 == 0) snprintf(word, sizeof word, "%u", (unsigned)(s >> 40) % 100000);
        n += (size_t)sprintf(buf + n, "%s%s", in_sentence ? " " : "", word);
        in_sentence++;
        if (s % 11 == 0) n += (size_t)sprintf(buf + n, ",");
        if (in_sentence > 6 && s % 9 == 0) {
            n += (size_t)sprintf(buf + n, s % 5 == 0 ? "?" : ".");
            n += (size_t)sprintf(buf + n, s % 7 == 0 ? "\n\n" : " ");
            in_sentence = 0;
        }
    }
    buf[n] = '\0';
    return n;
}

/* A synthetic byte-level BPE vocabulary of about 150k tokens written with
 * the GGUF writer: the 94 printable ASCII characters, every pair of them,
 * and 16 extensions of each pair, each pair and extension with its merge. */
static int write_synthetic(const char *path) {
    enum { NC = 94, NEXT = 16 };
    size_t n_tok = NC + NC * NC + (size_t)NC * NC * NEXT, n_merge = n_tok - NC;
    desk_gguf_str *toks = calloc(n_tok, sizeof *toks), *merges = calloc(n_merge, sizeof *merges);
    char *pool = malloc(n_tok * 4 + n_merge * 6);
    if (!toks || !merges || !pool) return 1;
    char *p = pool;
    size_t k = 0, m = 0;
    for (int a = 0; a < NC; a++) {
        toks[k++] = (desk_gguf_str){p, 1};
        *p++ = (char)('!' + a), *p++ = 0;
    }
    for (int a = 0; a < NC; a++)
        for (int b = 0; b < NC; b++) {
            toks[k++] = (desk_gguf_str){p, 2};
            p += sprintf(p, "%c%c", '!' + a, '!' + b) + 1;
            merges[m++] = (desk_gguf_str){p, 3};
            p += sprintf(p, "%c %c", '!' + a, '!' + b) + 1;
        }
    for (int a = 0; a < NC; a++)
        for (int b = 0; b < NC; b++)
            for (int c = 0; c < NEXT; c++) {
                toks[k++] = (desk_gguf_str){p, 3};
                p += sprintf(p, "%c%c%c", '!' + a, '!' + b, 'a' + c) + 1;
                merges[m++] = (desk_gguf_str){p, 4};
                p += sprintf(p, "%c%c %c", '!' + a, '!' + b, 'a' + c) + 1;
            }
    desk_gguf_writer *w = NULL;
    desk_err err = {0};
    desk_gguf_value tv = {.type = DESK_GGUF_ARRAY};
    tv.v.arr.type = DESK_GGUF_STRING;
    tv.v.arr.n = n_tok;
    tv.v.arr.data = toks;
    desk_gguf_value mv = tv;
    mv.v.arr.n = n_merge;
    mv.v.arr.data = merges;
    int rc = desk_gguf_writer_new(&w, &err) != DESK_OK ||
             desk_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", &err) != DESK_OK ||
             desk_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe", &err) != DESK_OK ||
             desk_gguf_writer_set(w, "tokenizer.ggml.tokens", &tv, &err) != DESK_OK ||
             desk_gguf_writer_set(w, "tokenizer.ggml.merges", &mv, &err) != DESK_OK ||
             desk_gguf_writer_write(w, path, &err) != DESK_OK;
    if (rc) fprintf(stderr, "synthetic vocab: %s\n", err.msg);
    desk_gguf_writer_free(w);
    free(toks);
    free(merges);
    free(pool);
    return rc;
}

static int bench_model(const char *arg, const char *text, size_t len) {
    char path[4096];
    desk_err err = {0};
    if (strcmp(arg, "synthetic") == 0) {
        snprintf(path, sizeof path, "/tmp/desk-bench-vocab-%d.gguf", (int)getpid());
        if (write_synthetic(path)) return 1;
    } else if (desk_model_resolve(arg, path, sizeof path, &err) != DESK_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double best_open = 1e9, best_load = 1e9;
    desk_tokenizer *t = NULL;
    for (int r = 0; r < 5; r++) {
        desk_gguf *g = NULL;
        double t0 = now();
        if (desk_gguf_open(path, &g, &err) != DESK_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now();
        if (t) desk_tokenizer_free(t);
        if (desk_tokenizer_load(g, &t, &err) != DESK_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t2 = now();
        desk_gguf_close(g);
        if (t1 - t0 < best_open) best_open = t1 - t0;
        if (t2 - t1 < best_load) best_load = t2 - t1;
    }
    size_t cap = len + 16, n = 0;
    desk_token *ids = malloc(sizeof(desk_token) * cap);
    char *back = malloc(len + 1);
    double best_enc = 1e9, best_dec = 1e9;
    for (int r = 0; r < 5 && ids && back; r++) {
        double t0 = now();
        if (desk_tokenize(t, text, len, 0, ids, cap, &n, &err) != DESK_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now();
        size_t m = desk_detokenize(t, ids, n, false, back, len + 1);
        double t2 = now();
        /* (the synthetic vocabulary cannot spell spaces: no round trip) */
        if ((m != len || memcmp(back, text, len) != 0) && strcmp(arg, "synthetic") != 0)
            fprintf(stderr, "%s: round trip differs\n", arg);
        if (t1 - t0 < best_enc) best_enc = t1 - t0;
        if (t2 - t1 < best_dec) best_dec = t2 - t1;
    }
    printf("%-12s vocab %6d  gguf open %6.1f ms  tokenizer load %6.1f ms  "
           "encode %.2f MB: %6.1f ms (%zu tokens, %.1f MB/s)  decode %5.1f ms\n",
           arg, desk_tokenizer_n_vocab(t), best_open * 1e3, best_load * 1e3, len / 1e6,
           best_enc * 1e3, n, len / 1e6 / best_enc, best_dec * 1e3);
    free(ids);
    free(back);
    desk_tokenizer_free(t);
    if (strcmp(arg, "synthetic") == 0) unlink(path);
    return 0;
}

int main(int argc, char **argv) {
    size_t size = 1 << 20;
    char *text = malloc(size + 64);
    if (!text) return 1;
    size_t len = make_prose(text, size);
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) rc |= bench_model(argv[i], text, len);
    } else {
        rc |= bench_model("smollm2", text, len);
        rc |= bench_model("gemma3-270m", text, len);
        rc |= bench_model("synthetic", text, len);
    }
    free(text);
    return rc;
}
