/*
 * pretok.c - the byte-level BPE pre-tokenizer named by tokenizer.ggml.pre
 * (a sequence of PCRE2 split patterns, the Hugging Face originals) and the
 * GPT-2 byte-to-character map.  The merges that follow are in bpe.c.
 *
 * Each pattern splits every piece the previous one produced: matches and
 * the gaps between them both become pieces (the "isolated" split of the
 * reference).  Patterns see one piece at a time, so lookarounds and $ stop
 * at the piece's edges.  Input that is not valid UTF-8 never reaches PCRE2:
 * every invalid byte is a piece of its own, encoded through the byte map.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/pretok.h"
#include "tokenizer/utf8.h"

/* The patterns.  (?i:...) and the \p{Lu}-style classes are used as the
 * tokenizer.json files write them: PCRE2 (UTF, UCP) has both. */
#define P_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define P_LLAMA3                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                 \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_QWEN2                                                                                \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                      \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define P_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define P_CONTR "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
#define P_TEKKEN                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "*" P_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "+" P_LOWER \
    "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_GPT4O                                                                                \
    "[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "*" P_LOWER "+" P_CONTR "|[^\\r\\n\\p{L}\\p{N}]?" P_UPPER  \
    "+" P_LOWER "*" P_CONTR "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_BLOOM " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
/* Letters of the Latin, Greek, Cyrillic, ... blocks that deepseek-llm's
 * tokenizer.json lists (UTF-8). */
#define DEEPSEEK_LATIN \
    "\xc2\xb5\xc3\x80\x2d\xc3\x96\xc3\x98\x2d\xc3\xb6\xc3\xb8\x2d\xc6\xba\xc6\xbc\x2d\xc6" \
    "\xbf\xc7\x84\x2d\xca\x93\xca\x95\x2d\xca\xaf\xcd\xb0\x2d\xcd\xb3\xcd\xb6\xcd\xb7\xcd" \
    "\xbb\x2d\xcd\xbd\xcd\xbf\xce\x86\xce\x88\x2d\xce\x8a\xce\x8c\xce\x8e\x2d\xce\xa1\xce" \
    "\xa3\x2d\xcf\xb5\xcf\xb7\x2d\xd2\x81\xd2\x8a\x2d\xd4\xaf\xd4\xb1\x2d\xd5\x96\xe1\x82" \
    "\xa0\x2d\xe1\x83\x85\xe1\x8e\xa0\x2d\xe1\x8f\xb5\xe1\x8f\xb8\x2d\xe1\x8f\xbd\xe1\xb2" \
    "\x90\x2d\xe1\xb2\xba\xe1\xb2\xbd\x2d\xe1\xb2\xbf\xe1\xb4\x80\x2d\xe1\xb4\xab\xe1\xb5" \
    "\xab\x2d\xe1\xb5\xb7\xe1\xb5\xb9\x2d\xe1\xb6\x9a\xe1\xb8\x80\x2d\xe1\xbc\x95\xe1\xbc" \
    "\x98\x2d\xe1\xbc\x9d\xe1\xbc\xa0\x2d\xe1\xbd\x85\xe1\xbd\x88\x2d\xe1\xbd\x8d\xe1\xbd" \
    "\x90\x2d\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f\x2d\xe1\xbd\xbd" \
    "\xe1\xbe\x80\x2d\xe1\xbe\xb4\xe1\xbe\xb6\x2d\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82\x2d" \
    "\xe1\xbf\x84\xe1\xbf\x86\x2d\xe1\xbf\x8c\xe1\xbf\x90\x2d\xe1\xbf\x93\xe1\xbf\x96\x2d" \
    "\xe1\xbf\x9b\xe1\xbf\xa0\x2d\xe1\xbf\xac\xe1\xbf\xb2\x2d\xe1\xbf\xb4\xe1\xbf\xb6\x2d" \
    "\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a\x2d\xe2\x84\x93\xe2\x84\x95\xe2\x84" \
    "\x99\x2d\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa\x2d\xe2\x84\xad" \
    "\xe2\x84\xaf\x2d\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc\x2d\xe2\x84\xbf\xe2\x85\x85\x2d" \
    "\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80\x2d\xe2\xb1\xbb\xe2\xb1" \
    "\xbe\x2d\xe2\xb3\xa4\xe2\xb3\xab\x2d\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80" \
    "\x2d\xea\x99\xad\xea\x9a\x80\x2d\xea\x9a\x9b\xea\x9c\xa2\x2d\xea\x9d\xaf\xea\x9d\xb1" \
    "\x2d\xea\x9e\x87\xea\x9e\x8b\x2d\xea\x9e\x8e\xea\xad\xb0\x2d\xea\xae\xbf\xef\xac\x80" \
    "\x2d\xef\xac\x86\xef\xac\x93\x2d\xef\xac\x97\xef\xbc\xa1\x2d\xef\xbc\xba\xef\xbd\x81" \
    "\x2d\xef\xbd\x9a\xf0\x90\x90\x80\x2d\xf0\x90\x91\x8f\xf0\x90\x92\xb0\x2d\xf0\x90\x93" \
    "\x93\xf0\x90\x93\x98\x2d\xf0\x90\x93\xbb\xf0\x90\xb2\x80\x2d\xf0\x90\xb2\xb2\xf0\x90" \
    "\xb3\x80\x2d\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0\x2d\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80\x2d" \
    "\xf0\x9e\xa5\x83"
#define P_CJK_DS "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"

typedef struct pre_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *regex[TOK_MAX_REGEX];
    bool ignore_merges; /* a pre-token that is a whole token skips merging */
    bool add_bos;       /* default when the metadata does not say */
} pre_def;

static const pre_def PRE[] = {
    {"default",
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", P_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano",
     {P_LLAMA3}, true, true},
    {"dbrx|smaug-bpe|chatglm-bpe|glm4", {P_LLAMA3}, false, false},
    {"deepseek-llm",
     {"[\\r\\n]", "\\s?[A-Za-z" DEEPSEEK_LATIN "]+",
      "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f"
      "\xe3\x80\x80-\xe3\x80\x82]+",
      "\\s+$", P_CJK_DS, "\\p{N}+"},
     false, false},
    {"deepseek-coder",
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", P_CJK_DS, "\\p{N}"}, false, false},
    {"deepseek-v3|hunyuan-dense|joyai-llm",
     {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
      "\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", P_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2",
     {"\\p{N}", P_GPT2}, false, false},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|modern-bert|"
     "exaone4|jina-v1-en|jina-v2-code|roberta-bpe|mpt|olmo|jais|trillion|granite-docling",
     {P_GPT2}, false, false},
    {"qwen2|deepseek-r1-qwen|kormo|f2llmv2|megrez|stablelm2|hunyuan|solar-open|grok-2|laguna",
     {P_QWEN2}, false, false},
    {"poro-chat|bloom|gpt3-finnish", {P_BLOOM}, false, false},
    {"viking", {P_BLOOM, "\\p{N}"}, false, false},
    {"tekken", {P_TEKKEN}, true, true},
    {"gpt-4o|llama4|kanana2|talkie|minimax-m2", {P_GPT4O}, false, false},
    {"chameleon",
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", P_GPT2},
     false, true},
    {"seed-coder",
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
      "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     false, false},
};

static bool name_in(const char *names, const char *pre) {
    size_t n = strlen(pre);
    for (const char *p = names; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == n && memcmp(p, pre, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* GPT-2's map: printable Latin-1 bytes stand for themselves, the others
 * take code points from 256 up, in byte order. */
static void build_byte_map(tok_pretok *t) {
    uint32_t next = 256;
    for (int i = 0; i < TOK_BYTE_CP_MAX; i++) t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = keep ? (uint32_t)b : next++;
        t->cp_byte[cp] = (int16_t)b;
        if (cp < 0x80) {
            t->byte_utf8[b][0] = (char)cp;
            t->byte_utf8_len[b] = 1;
        } else {
            t->byte_utf8[b][0] = (char)(0xC0 | (cp >> 6));
            t->byte_utf8[b][1] = (char)(0x80 | (cp & 0x3F));
            t->byte_utf8_len[b] = 2;
        }
    }
}

desk_status tok_pretok_setup(tok_pretok *t, const char *pre, desk_arena *arena, desk_err *err) {
    build_byte_map(t);
    const pre_def *d = NULL;
    for (size_t i = 0; i < sizeof PRE / sizeof PRE[0] && !d; i++)
        if (name_in(PRE[i].names, pre)) d = &PRE[i];
    if (!d)
        return desk_errf(err, DESK_E_UNSUPPORTED,
                         "tokenizer.ggml.pre: unknown pre-tokenizer '%s'", pre);
    t->name = desk_arena_strndup(arena, pre, strlen(pre));
    if (!t->name) return desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for the pre-tokenizer name");
    t->ignore_merges = d->ignore_merges;
    t->add_bos = d->add_bos;
    for (int i = 0; i < TOK_MAX_REGEX && d->regex[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)d->regex[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return desk_errf(err, DESK_E_INTERNAL, "pre-tokenizer '%s': pattern %d at %zu: %s", pre,
                             i, (size_t)eo, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
        t->regex[t->n_regex++] = re;
    }
    return DESK_OK;
}

void tok_pretok_free(tok_pretok *t) {
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i]);
    t->n_regex = 0;
}

void tok_pretok_scratch_free(tok_pretok_scratch *s) {
    pcre2_match_data_free(s->match_data);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit_stack);
}

/* ---- splitting ----------------------------------------------------------- */

static bool push_span(tok_span **v, size_t *n, size_t *cap, size_t off, size_t len) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        tok_span *p = realloc(*v, c * sizeof(tok_span));
        if (!p) return false;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = (tok_span){off, len};
    return true;
}

desk_status tok_pretok_split(const tok_pretok *t, const char *s, size_t n, tok_pretok_scratch *sc,
                             tok_span **out, size_t *n_out, desk_err *err) {
    *out = NULL;
    *n_out = 0;
    if (!sc->match_data) {
        sc->match_data = pcre2_match_data_create(4, NULL);
        sc->mctx = pcre2_match_context_create(NULL);
        sc->jit_stack = pcre2_jit_stack_create(32 * 1024, 4 << 20, NULL);
        if (!sc->match_data || !sc->mctx)
            return desk_errf(err, DESK_E_NOMEM, "tokenize: out of memory for the matcher");
        if (sc->jit_stack) pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit_stack);
    }
    tok_span *cur = NULL, *nxt = NULL;
    size_t ncur = 0, ccur = 0, nnxt = 0, cnxt = 0;
    desk_status st = DESK_OK;
    /* valid UTF-8 runs go through the patterns; each invalid byte is a
     * piece of its own (marked by len | HIGH so no pattern touches it) */
    const size_t INVALID = (size_t)1 << (sizeof(size_t) * 8 - 1);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n) {
            size_t l = tok_utf8_valid_len((const unsigned char *)s + j, n - j);
            if (l == 0) break;
            j += l;
        }
        if (j > i && !push_span(&cur, &ncur, &ccur, i, j - i)) goto nomem;
        if (j < n && !push_span(&cur, &ncur, &ccur, j, 1 | INVALID)) goto nomem;
        i = j + (j < n);
    }
    for (int r = 0; r < t->n_regex; r++) {
        pcre2_code *re = t->regex[r];
        nnxt = 0;
        for (size_t k = 0; k < ncur; k++) {
            tok_span p = cur[k];
            if (p.len & INVALID) {
                if (!push_span(&nxt, &nnxt, &cnxt, p.off, p.len)) goto nomem;
                continue;
            }
            const PCRE2_SPTR subj = (PCRE2_SPTR)(s + p.off);
            size_t pos = 0, last = 0;
            while (pos <= p.len) {
                int rc = pcre2_match(re, subj, p.len, pos, PCRE2_NO_UTF_CHECK, sc->match_data,
                                     sc->mctx);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[128];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    st = desk_errf(err, DESK_E_INTERNAL, "pre-tokenizer '%s': match failed: %s",
                                   t->name, (const char *)msg);
                    goto out;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->match_data);
                size_t a = ov[0], b = ov[1];
                if (b == a) { /* empty match: step one character, keep no piece */
                    size_t l = a < p.len ? tok_utf8_valid_len(subj + a, p.len - a) : 1;
                    pos = a + (l ? l : 1);
                    continue;
                }
                if (a > last && !push_span(&nxt, &nnxt, &cnxt, p.off + last, a - last)) goto nomem;
                if (!push_span(&nxt, &nnxt, &cnxt, p.off + a, b - a)) goto nomem;
                last = pos = b;
            }
            if (last < p.len && !push_span(&nxt, &nnxt, &cnxt, p.off + last, p.len - last))
                goto nomem;
        }
        tok_span *tmp = cur;
        cur = nxt;
        nxt = tmp;
        size_t tc = ccur;
        ccur = cnxt;
        cnxt = tc;
        ncur = nnxt;
    }
    for (size_t k = 0; k < ncur; k++) cur[k].len &= ~INVALID;
    free(nxt);
    *out = cur;
    *n_out = ncur;
    return DESK_OK;
nomem:
    st = desk_errf(err, DESK_E_NOMEM, "tokenize: out of memory splitting %zu bytes", n);
out:
    free(cur);
    free(nxt);
    return st;
}
