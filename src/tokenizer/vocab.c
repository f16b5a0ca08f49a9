/*
 * vocab.c - the vocabulary store: loading tokenizer.* metadata into token
 * texts, scores and attributes with hash maps, the merges, the special
 * tokens and the attribute rules the reference applies by name, and the
 * look-ups that encoding and decoding use.  A BPE vocabulary's
 * pre-tokenizer (pretok.c) is set up here; it knows nothing of the store.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/vocab.h"

#define EOT_NAMES_N 11
/* Texts the reference takes for EOT when the metadata names none (the
 * first of them, in byte order, found in the vocabulary). */
static const char *const EOT_NAMES[EOT_NAMES_N] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c\145nd\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>",
};
/* Texts the reference always treats as end of generation. */
static const char *const EOG_NAMES[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "</s>", "<eos>", "<turn|>", "<|tool_response>",
    "[e~[", "<\xef\xbd\x9c\145nd\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
};

uint32_t tok_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

desk_token tok_lookup(const desk_tokenizer *t, const char *s, size_t n) {
    uint32_t i = tok_hash(s, n) & t->map.mask;
    for (;;) {
        int32_t id = t->map.slots[i];
        if (id < 0) return -1;
        const tok_entry *e = &t->tok[id];
        if (e->len == n && memcmp(e->text, s, n) == 0) return id;
        i = (i + 1) & t->map.mask;
    }
}

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

int32_t tok_merge_rank(const desk_tokenizer *t, int32_t left, int32_t right, int32_t *result) {
    if (!t->merges.slots || left < 0 || right < 0) return -1;
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    uint64_t i = mix64(key) & t->merges.mask;
    for (;;) {
        const tok_merge_slot *s = &t->merges.slots[i];
        if (s->key == 0) return -1;
        if (s->key == key) {
            *result = s->result;
            return s->rank;
        }
        i = (i + 1) & t->merges.mask;
    }
}

/* ---- loading ----------------------------------------------------------- */

static desk_status build_textmap(desk_tokenizer *t, desk_err *err) {
    uint32_t cap = 16;
    while (cap < (uint32_t)t->n_vocab * 2u) cap *= 2;
    t->map.slots = desk_arena_alloc(&t->arena, (size_t)cap * sizeof(int32_t), 64);
    if (!t->map.slots) return desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for the map");
    memset(t->map.slots, 0xff, (size_t)cap * sizeof(int32_t));
    t->map.mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tok[id];
        uint32_t i = tok_hash(e->text, e->len) & t->map.mask;
        bool dup = false;
        while (t->map.slots[i] >= 0) {
            const tok_entry *o = &t->tok[t->map.slots[i]];
            if (o->len == e->len && memcmp(o->text, e->text, e->len) == 0) {
                dup = true; /* the reference keeps the last id for a text */
                t->map.slots[i] = id;
                break;
            }
            i = (i + 1) & t->map.mask;
        }
        if (!dup) t->map.slots[i] = id;
    }
    return DESK_OK;
}

static desk_status load_merges(desk_tokenizer *t, const desk_gguf *g, desk_err *err) {
    desk_gguf_vtype type;
    uint64_t n;
    const void *data;
    desk_status st = desk_gguf_get_arr(g, "tokenizer.ggml.merges", &type, &n, &data, err);
    if (st != DESK_OK) return st;
    if (type != DESK_GGUF_STRING)
        return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.merges: expected STRING array, got %s",
                         desk_gguf_vtype_name(type));
    uint64_t cap = 16;
    while (cap < n * 2) cap *= 2;
    t->merges.slots = desk_arena_alloc(&t->arena, cap * sizeof(tok_merge_slot), 64);
    if (!t->merges.slots) return desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for merges");
    t->merges.mask = cap - 1;
    const desk_gguf_str *m = data;
    char tmp[1024];
    for (uint64_t r = 0; r < n; r++) {
        const char *s = m[r].s;
        size_t len = (size_t)m[r].len;
        /* "left right": the split is the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.merges[%llu]: no space between two tokens",
                             (unsigned long long)r);
        size_t ln = (size_t)(sp - s), rn = len - ln - 1;
        int32_t l = tok_lookup(t, s, ln), rr = tok_lookup(t, sp + 1, rn), res = -1;
        if (l >= 0 && rr >= 0 && ln + rn <= sizeof tmp) {
            memcpy(tmp, s, ln);
            memcpy(tmp + ln, sp + 1, rn);
            res = tok_lookup(t, tmp, ln + rn);
        }
        /* A merge naming a token the vocabulary lacks means the file's two
         * arrays disagree: refuse it rather than tokenize differently from
         * the model's training.  (Merged texts over 1 KiB cannot be checked
         * here and are refused with the same message.) */
        if (res < 0)
            return desk_errf(err, DESK_E_FORMAT,
                             "tokenizer.ggml.merges[%llu]: '%.*s' names a token not in the vocabulary",
                             (unsigned long long)r, (int)(len > 64 ? 64 : len), s);
        uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)rr) + 1;
        uint64_t i = mix64(key) & t->merges.mask;
        while (t->merges.slots[i].key != 0 && t->merges.slots[i].key != key)
            i = (i + 1) & t->merges.mask;
        if (t->merges.slots[i].key == key) continue; /* first rank wins */
        t->merges.slots[i] = (tok_merge_slot){.key = key, .rank = (int32_t)r, .result = res};
    }
    return DESK_OK;
}

/* qsort has no context argument in C17: sort (len, id) pairs instead. */
typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

static int cmp_len_id(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static desk_status build_specials(desk_tokenizer *t, desk_err *err) {
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].attr & (TOK_CONTROL | TOK_USER | TOK_UNKNOWN)) && t->tok[id].len > 0) n++;
    len_id *tmp = malloc(sizeof(len_id) * (size_t)(n ? n : 1));
    t->specials = desk_arena_alloc(&t->arena, sizeof(int32_t) * (size_t)(n ? n : 1), 8);
    t->pfx_start = desk_arena_alloc(&t->arena, sizeof(uint32_t) * 65537, 8);
    t->pfx_ids = desk_arena_alloc(&t->arena, sizeof(int32_t) * (size_t)(n ? n : 1), 8);
    t->one_byte_special = desk_arena_alloc(&t->arena, sizeof(int32_t) * 256, 8);
    if (!tmp || !t->specials || !t->pfx_start || !t->pfx_ids || !t->one_byte_special) {
        free(tmp);
        return desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for special tokens");
    }
    int32_t k = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].attr & (TOK_CONTROL | TOK_USER | TOK_UNKNOWN)) && t->tok[id].len > 0)
            tmp[k++] = (len_id){t->tok[id].len, id};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_len_id);
    for (int32_t i = 0; i < n; i++) t->specials[i] = tmp[i].id;
    t->n_specials = n;
    free(tmp);
    /* counting sort of the specials (kept in length order) by 2-byte prefix */
    for (int i = 0; i < 256; i++) t->one_byte_special[i] = -1;
    uint32_t *cnt = t->pfx_start;
    for (int32_t i = 0; i < n; i++) {
        const tok_entry *e = &t->tok[t->specials[i]];
        if (e->len == 1) {
            t->one_byte_special[(unsigned char)e->text[0]] = t->specials[i];
            continue;
        }
        unsigned p = (unsigned char)e->text[0] << 8 | (unsigned char)e->text[1];
        cnt[p + 1]++;
    }
    for (int p = 0; p < 65536; p++) cnt[p + 1] += cnt[p];
    uint32_t *fill = malloc(sizeof(uint32_t) * 65536);
    if (!fill) return desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for special tokens");
    memcpy(fill, cnt, sizeof(uint32_t) * 65536);
    for (int32_t i = 0; i < n; i++) {
        const tok_entry *e = &t->tok[t->specials[i]];
        if (e->len == 1) continue;
        unsigned p = (unsigned char)e->text[0] << 8 | (unsigned char)e->text[1];
        t->pfx_ids[fill[p]++] = t->specials[i];
    }
    free(fill);
    return DESK_OK;
}

static bool contains_any(const char *s, const char *const *subs, size_t n) {
    for (size_t i = 0; s && i < n; i++)
        if (strstr(s, subs[i])) return true;
    return false;
}

static void set_attr(desk_tokenizer *t, const char *text, uint16_t bit, bool on) {
    desk_token id = tok_lookup(t, text, strlen(text));
    if (id < 0) return;
    if (on) t->tok[id].attr |= bit;
    else t->tok[id].attr &= (uint16_t)~bit;
}

/* Whitespace that special tokens swallow, which the reference decides by
 * the model's name, pre-tokenizer and architecture. */
static void set_strip_attrs(desk_tokenizer *t, const desk_gguf *g) {
    const char *name = NULL, *pre = NULL, *arch = NULL;
    desk_err e = {0};
    char lname[256] = "";
    if (desk_gguf_get_str(g, "general.name", &name, &e) == DESK_OK) {
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof lname; i++)
            lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        lname[i] = '\0';
    }
    (void)desk_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &e);
    (void)desk_gguf_get_str(g, "general.architecture", &arch, &e);
    static const char *const jina[] = {"jina-v2-de", "jina-v2-es", "jina-v2-code"};
    static const char *const bert_moe[] = {"nomic-bert-moe", "jina-bert-v3"};
    static const char *const phi3[] = {"phi-3", "phi3"};
    static const char *const mbert[] = {"modern-bert"};
    if (contains_any(pre, jina, 3) || contains_any(arch, bert_moe, 2)) {
        set_attr(t, "<mask>", TOK_LSTRIP, true);
    } else if (contains_any(lname, phi3, 2)) {
        for (int32_t i = 0; i < t->n_specials; i++) t->tok[t->specials[i]].attr |= TOK_RSTRIP;
        set_attr(t, "</s>", TOK_RSTRIP, true);
        set_attr(t, "<unk>", TOK_RSTRIP, false);
        set_attr(t, "<s>", TOK_RSTRIP, false);
        set_attr(t, "<|endoftext|>", TOK_RSTRIP, false);
    } else if (contains_any(lname, mbert, 1)) {
        set_attr(t, "[MASK]", TOK_LSTRIP, true);
    }
}

static desk_status read_specials(desk_tokenizer *t, const desk_gguf *g, desk_err *err) {
    static const char *const keys[5] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.unknown_token_id",
    };
    for (int i = 0; i < 5; i++) {
        int64_t v;
        desk_err e = {0};
        if (desk_gguf_get_i64(g, keys[i], &v, &e) == DESK_OK) {
            /* an id past the vocabulary is a file that lies; the reference
             * falls back to a default, desk refuses it */
            if (v >= t->n_vocab)
                return desk_errf(err, DESK_E_FORMAT, "%s = %lld is outside the vocabulary (%d tokens)",
                                 keys[i], (long long)v, t->n_vocab);
            t->special[i] = v < 0 ? -1 : (desk_token)v; /* a signed -1 means "none" */
        }
        if (t->special[i] >= t->n_vocab) t->special[i] = -1; /* a default past the end */
    }
    bool b;
    desk_err e = {0};
    if (desk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &e) == DESK_OK) t->add_bos = b;
    if (desk_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b, &e) == DESK_OK) t->add_eos = b;
    if (desk_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b, &e) == DESK_OK)
        t->add_space_prefix = b;

    if (t->special[DESK_SPECIAL_EOT] < 0) {
        const char *best = NULL;
        for (int i = 0; i < EOT_NAMES_N; i++) {
            desk_token id = tok_lookup(t, EOT_NAMES[i], strlen(EOT_NAMES[i]));
            if (id >= 0 && (!best || strcmp(EOT_NAMES[i], best) < 0)) {
                best = EOT_NAMES[i];
                t->special[DESK_SPECIAL_EOT] = id;
            }
        }
    }
    /* end tokens found by text become control tokens too, which matters
     * for encoding: then text spelling them stays text */
    for (size_t i = 0; i < sizeof EOG_NAMES / sizeof EOG_NAMES[0]; i++) {
        desk_token id = tok_lookup(t, EOG_NAMES[i], strlen(EOG_NAMES[i]));
        if (id >= 0) t->tok[id].attr |= TOK_EOG | TOK_CONTROL;
    }
    /* gpt-oss: these always render */
    static const char *const RENDER[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
    for (size_t i = 0; i < 4; i++) {
        desk_token id = tok_lookup(t, RENDER[i], strlen(RENDER[i]));
        if (id >= 0) t->tok[id].attr = TOK_USER;
    }
    /* the reference's exceptions: with <|return|>/<|call|> (or <|calls|>
     * and <|flush|>) "<|end|>" is no end token; with "<|tool_response>"
     * "</s>" is a plain token */
    desk_token end = tok_lookup(t, "<|end|>", 7);
    if (end >= 0 && ((tok_lookup(t, "<|return|>", 10) >= 0 && tok_lookup(t, "<|call|>", 8) >= 0) ||
                     (tok_lookup(t, "<|calls|>", 9) >= 0 && tok_lookup(t, "<|flush|>", 9) >= 0)))
        t->tok[end].attr = TOK_USER;
    desk_token s_end = tok_lookup(t, "</s>", 4);
    if (s_end >= 0 && tok_lookup(t, "<|tool_response>", 16) >= 0) t->tok[s_end].attr = TOK_NORMAL;
    if (t->special[DESK_SPECIAL_EOT] >= 0) t->tok[t->special[DESK_SPECIAL_EOT]].attr |= TOK_CONTROL;
    if (t->special[DESK_SPECIAL_EOS] >= 0) t->tok[t->special[DESK_SPECIAL_EOS]].attr |= TOK_EOG;
    if (t->special[DESK_SPECIAL_EOT] >= 0) t->tok[t->special[DESK_SPECIAL_EOT]].attr |= TOK_EOG;
    return DESK_OK;
}

desk_status desk_tokenizer_load(const desk_gguf *g, desk_tokenizer **out, desk_err *err) {
    *out = NULL;
    const char *model;
    desk_status st = desk_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (st != DESK_OK) return st;
    tok_kind kind;
    if (strcmp(model, "gpt2") == 0) {
        kind = TOK_KIND_BPE;
    } else if (strcmp(model, "llama") == 0) {
        kind = TOK_KIND_SPM;
    } else {
        return desk_errf(err, DESK_E_UNSUPPORTED,
                         "tokenizer.ggml.model: '%s' is not supported (gpt2, llama)", model);
    }
    desk_gguf_vtype type;
    uint64_t n;
    const void *data;
    st = desk_gguf_get_arr(g, "tokenizer.ggml.tokens", &type, &n, &data, err);
    if (st != DESK_OK) return st;
    if (type != DESK_GGUF_STRING)
        return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.tokens: expected STRING array, got %s",
                         desk_gguf_vtype_name(type));
    if (n == 0 || n > (1u << 30))
        return desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.tokens: %llu tokens",
                         (unsigned long long)n);

    desk_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return desk_errf(err, DESK_E_NOMEM, "tokenizer: out of memory");
    desk_arena_init(&t->arena, 1 << 20);
    t->kind = kind;
    t->n_vocab = (int32_t)n;
    for (int i = 0; i < 5; i++) t->special[i] = -1;
    if (kind == TOK_KIND_SPM) {
        t->special[DESK_SPECIAL_BOS] = 1;
        t->special[DESK_SPECIAL_EOS] = 2;
        t->special[DESK_SPECIAL_UNK] = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    } else {
        t->special[DESK_SPECIAL_BOS] = 11;
        t->special[DESK_SPECIAL_EOS] = 11;
    }

    t->tok = desk_arena_alloc(&t->arena, sizeof(tok_entry) * (size_t)n, 8);
    if (!t->tok) {
        st = desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for %llu tokens",
                       (unsigned long long)n);
        goto fail;
    }
    const desk_gguf_str *strs = data;
    for (uint64_t i = 0; i < n; i++) {
        /* the strings live in the gguf's arena; copy so we outlive it */
        if (strs[i].len > (1u << 20)) {
            st = desk_errf(err, DESK_E_FORMAT, "tokenizer.ggml.tokens[%llu]: %llu bytes",
                           (unsigned long long)i, (unsigned long long)strs[i].len);
            goto fail;
        }
        t->tok[i].text = desk_arena_strndup(&t->arena, strs[i].s, (size_t)strs[i].len);
        if (!t->tok[i].text) {
            st = desk_errf(err, DESK_E_NOMEM, "tokenizer: no memory for token text");
            goto fail;
        }
        t->tok[i].len = (uint32_t)strs[i].len;
        t->tok[i].attr = TOK_NORMAL;
    }
    desk_err e2 = {0};
    if (desk_gguf_get_arr(g, "tokenizer.ggml.scores", &type, &n, &data, &e2) == DESK_OK) {
        if (type != DESK_GGUF_FLOAT32 || n != (uint64_t)t->n_vocab) {
            st = desk_errf(err, DESK_E_FORMAT,
                           "tokenizer.ggml.scores: expected %d FLOAT32, got %llu %s", t->n_vocab,
                           (unsigned long long)n, desk_gguf_vtype_name(type));
            goto fail;
        }
        for (int32_t i = 0; i < t->n_vocab; i++) t->tok[i].score = ((const float *)data)[i];
    }
    if (desk_gguf_get_arr(g, "tokenizer.ggml.token_type", &type, &n, &data, &e2) == DESK_OK) {
        if (type != DESK_GGUF_INT32 || n != (uint64_t)t->n_vocab) {
            st = desk_errf(err, DESK_E_FORMAT,
                           "tokenizer.ggml.token_type: expected %d INT32, got %llu %s",
                           t->n_vocab, (unsigned long long)n, desk_gguf_vtype_name(type));
            goto fail;
        }
        for (int32_t i = 0; i < t->n_vocab; i++) {
            int32_t v = ((const int32_t *)data)[i];
            static const uint16_t attr[7] = {0, TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL,
                                            TOK_USER, TOK_UNUSED, TOK_BYTE};
            t->tok[i].attr = (v >= 0 && v < 7) ? attr[v] : 0;
        }
    }
    if ((st = build_textmap(t, err)) != DESK_OK) goto fail;
    if (kind == TOK_KIND_BPE) {
        if ((st = load_merges(t, g, err)) != DESK_OK) goto fail;
        const char *pre = "default";
        desk_err e3 = {0};
        if (desk_gguf_find_kv(g, "tokenizer.ggml.pre") &&
            (st = desk_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &e3)) != DESK_OK) {
            if (err) *err = e3;
            goto fail;
        }
        if ((st = tok_pretok_setup(&t->pre, pre, &t->arena, err)) != DESK_OK) goto fail;
        if (t->pre.add_bos) t->add_bos = true;
    }
    /* byte tokens: BPE maps each byte to its char's token; SPM has <0xNN> */
    for (int b = 0; b < 256; b++) {
        if (kind == TOK_KIND_BPE) {
            t->byte_tok[b] = tok_lookup(t, t->pre.byte_utf8[b], t->pre.byte_utf8_len[b]);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            desk_token id = tok_lookup(t, buf, 6);
            if (id < 0) {
                char c = (char)b;
                id = tok_lookup(t, &c, 1);
            }
            t->byte_tok[b] = id;
        }
    }
    if ((st = read_specials(t, g, err)) != DESK_OK) goto fail;
    if ((st = build_specials(t, err)) != DESK_OK) goto fail;
    set_strip_attrs(t, g);
    /* a decoded piece is never longer than its text */
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((int32_t)t->tok[id].len > t->max_piece) t->max_piece = (int32_t)t->tok[id].len;
    *out = t;
    return DESK_OK;
fail:
    desk_tokenizer_free(t);
    return st;
}

void desk_tokenizer_free(desk_tokenizer *t) {
    if (!t) return;
    tok_pretok_free(&t->pre);
    desk_arena_free(&t->arena);
    free(t);
}

int32_t desk_tokenizer_n_vocab(const desk_tokenizer *t) { return t->n_vocab; }

desk_token desk_tokenizer_special(const desk_tokenizer *t, desk_special which) {
    if ((unsigned)which > DESK_SPECIAL_UNK) return -1;
    return t->special[which];
}

bool desk_tokenizer_is_eog(const desk_tokenizer *t, desk_token id) {
    return id >= 0 && id < t->n_vocab && (t->tok[id].attr & TOK_EOG);
}

bool desk_tokenizer_is_control(const desk_tokenizer *t, desk_token id) {
    return id >= 0 && id < t->n_vocab && (t->tok[id].attr & TOK_CONTROL);
}

desk_token desk_tokenizer_find(const desk_tokenizer *t, const char *text) {
    return tok_lookup(t, text, strlen(text));
}

const char *desk_tokenizer_piece(const desk_tokenizer *t, desk_token id) {
    return id >= 0 && id < t->n_vocab ? t->tok[id].text : NULL;
}

bool desk_tokenizer_add_bos(const desk_tokenizer *t) { return t->add_bos; }
bool desk_tokenizer_add_eos(const desk_tokenizer *t) { return t->add_eos; }
int32_t desk_tokenizer_max_piece(const desk_tokenizer *t) { return t->max_piece; }
