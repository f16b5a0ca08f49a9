/*
 * workload.c - what the requests ask (see loadgen.h).
 *
 * Synthetic prompts are ordinary English words drawn by a seeded
 * generator, each prompt led by its own number so that no two share a
 * prefix a server could cache.  Their length in words comes from the
 * server's tokenizer when it exposes llama.cpp's POST /tokenize (at the
 * root, beside /v1): a sample text is tokenized and its tokens per word
 * sets the count; otherwise one token per word, which these common words
 * are under most vocabularies.  The prompt is the user message: the
 * server's chat template adds its few tokens, which the report shows in
 * the prompt tokens the server counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

static const char *const WORDS[] = {
    "the",   "time",  "people", "way",   "water", "day",    "house",  "world",  "light",  "story",
    "city",  "river", "small",  "great", "early", "public", "open",   "simple", "green",  "long",
    "work",  "make",  "find",   "give",  "think", "look",   "want",   "write",  "read",   "learn",
    "and",   "with",  "from",   "about", "after", "under",  "over",   "before", "again",  "never",
    "table", "paper", "music",  "stone", "field", "market", "garden", "window", "letter", "school",
    "north", "south", "summer", "winter", "morning", "evening", "number", "question", "answer", "reason",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

/* WORDS words into a new string (caller frees). */
static char *words_text(size_t index, size_t n_words, uint64_t seed) {
    size_t cap = 32 + n_words * 9;
    char *t = malloc(cap);
    if (!t) return NULL;
    size_t len = (size_t)snprintf(t, cap, "%zu:", index);
    uint64_t s = seed ^ (0x51afd7ed558ccd1dull * (index + 1));
    for (size_t i = 0; i < n_words; i++) {
        const char *w = WORDS[lg_splitmix64(&s) % N_WORDS];
        len += (size_t)snprintf(t + len, cap - len, " %s", w);
    }
    return t;
}

typedef struct growbuf {
    char *p;
    size_t len, cap;
} growbuf;

static size_t collect(char *p, size_t size, size_t nmemb, void *user) {
    growbuf *b = user;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        if (b->len + n + 1 > (8u << 20)) return 0; /* a sane server's answer is far smaller */
        size_t cap = (b->len + n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

/* One blocking request (POST when BODY): the parsed JSON answer of a 200,
 * or NULL.  The caller puts it. */
static json_object *fetch_json(const lg_config *cfg, const char *url, const char *body) {
    CURL *e = curl_easy_init();
    if (!e) return NULL;
    growbuf b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[600];
    if (h && cfg->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_s * 1e3));
    if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    long code = 0;
    json_object *o = NULL;
    if (curl_easy_perform(e) == CURLE_OK && curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code == 200 && b.p)
        o = json_tokener_parse(b.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    free(b.p);
    return o;
}

/* The base URL without a trailing "/v1" (and slashes) into OUT. */
static void root_url(const char *url, char *out, size_t cap) {
    size_t n = strlen(url);
    while (n && url[n - 1] == '/') n--;
    if (n >= 3 && memcmp(url + n - 3, "/v1", 3) == 0) n -= 3;
    snprintf(out, cap, "%.*s", (int)n, url);
}

bool lg_fetch_model(const lg_config *cfg, char *out, size_t cap) {
    char url[1100];
    size_t n = strlen(cfg->url);
    while (n && cfg->url[n - 1] == '/') n--;
    snprintf(url, sizeof url, "%.*s/models", (int)n, cfg->url);
    json_object *o = fetch_json(cfg, url, NULL), *data = NULL;
    bool ok = false;
    if (o && json_object_object_get_ex(o, "data", &data) && json_object_is_type(data, json_type_array) &&
        json_object_array_length(data) > 0) {
        json_object *id = NULL, *m = json_object_array_get_idx(data, 0);
        if (json_object_is_type(m, json_type_object) && json_object_object_get_ex(m, "id", &id) &&
            json_object_is_type(id, json_type_string)) {
            snprintf(out, cap, "%s", json_object_get_string(id));
            ok = true;
        }
    }
    json_object_put(o);
    return ok;
}

/* Tokens the server counts in TEXT, or -1 without a /tokenize. */
static int server_tokens(const lg_config *cfg, const char *text) {
    char url[1100];
    root_url(cfg->url, url, sizeof url - 16);
    strcat(url, "/tokenize");
    json_object *req = json_object_new_object();
    json_object_object_add(req, "content", json_object_new_string(text));
    json_object_object_add(req, "add_special", json_object_new_boolean(0));
    json_object *o = fetch_json(cfg, url, json_object_to_json_string(req)), *tokens = NULL;
    json_object_put(req);
    int n = -1;
    if (o && json_object_object_get_ex(o, "tokens", &tokens) && json_object_is_type(tokens, json_type_array))
        n = (int)json_object_array_length(tokens);
    json_object_put(o);
    return n;
}

/* The request body for a user message TEXT or a MESSAGES array (one of
 * them), as a new string (caller frees). */
static char *make_body(const lg_config *cfg, const char *text, json_object *messages) {
    json_object *o = json_object_new_object();
    if (cfg->model) json_object_object_add(o, "model", json_object_new_string(cfg->model));
    if (messages) {
        json_object_object_add(o, "messages", json_object_get(messages));
    } else {
        json_object *m = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(m, "role", json_object_new_string("user"));
        json_object_object_add(m, "content", json_object_new_string(text));
        json_object_array_add(arr, m);
        json_object_object_add(o, "messages", arr);
    }
    json_object_object_add(o, "max_tokens", json_object_new_int(cfg->max_tokens));
    json_object_object_add(o, "stream", json_object_new_boolean(1));
    json_object *so = json_object_new_object();
    json_object_object_add(so, "include_usage", json_object_new_boolean(1));
    json_object_object_add(o, "stream_options", so);
    json_object_object_add(o, "temperature", json_object_new_double(0));
    if (cfg->ignore_eos) json_object_object_add(o, "ignore_eos", json_object_new_boolean(1));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = s ? strdup(s) : NULL;
    json_object_put(o);
    return copy;
}

void lg_workload_free(lg_workload *w) {
    for (size_t i = 0; w->bodies && i < w->n; i++) free(w->bodies[i]);
    free(w->bodies);
    memset(w, 0, sizeof *w);
}

bool lg_workload_synthetic(lg_workload *w, const lg_config *cfg, int prompt_tokens, size_t n, uint64_t seed,
                           char *msg, size_t cap) {
    memset(w, 0, sizeof *w);
    w->prompt_tokens = prompt_tokens;
    w->tokens_per_word = 1.0;
    char *sample = words_text(0, 200, seed);
    int t = sample ? server_tokens(cfg, sample) : -1;
    free(sample);
    if (t > 0) {
        w->tokens_per_word = t / 201.0; /* 200 words and the leading number */
        w->tokenized = true;
    }
    size_t n_words = (size_t)(prompt_tokens / w->tokens_per_word + 0.5);
    if (n_words > 1) n_words--; /* the leading number is about one token */
    w->bodies = calloc(n ? n : 1, sizeof *w->bodies);
    if (!w->bodies) {
        snprintf(msg, cap, "out of memory for %zu requests", n);
        return false;
    }
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        char *text = words_text(i + 1, n_words, seed);
        w->bodies[i] = text ? make_body(cfg, text, NULL) : NULL;
        free(text);
        if (!w->bodies[i]) {
            snprintf(msg, cap, "out of memory for %zu requests", n);
            lg_workload_free(w);
            return false;
        }
    }
    return true;
}

bool lg_workload_dataset(lg_workload *w, const lg_config *cfg, const char *path, size_t n, char *msg, size_t cap) {
    memset(w, 0, sizeof *w);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, cap, "--dataset %s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t lcap = 0, lineno = 0, cap_bodies = 0;
    ssize_t len;
    bool ok = true;
    while (ok && (n == 0 || w->n < n) && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        json_object *o = json_tokener_parse(line), *v = NULL;
        char *body = NULL;
        if (o && json_object_is_type(o, json_type_object)) {
            if (json_object_object_get_ex(o, "prompt", &v) && json_object_is_type(v, json_type_string))
                body = make_body(cfg, json_object_get_string(v), NULL);
            else if (json_object_object_get_ex(o, "messages", &v) && json_object_is_type(v, json_type_array) &&
                     json_object_array_length(v) > 0)
                body = make_body(cfg, NULL, v);
        }
        json_object_put(o);
        if (!body) {
            snprintf(msg, cap, "--dataset %s: line %zu is not {\"prompt\": \"...\"} or {\"messages\": [...]}", path,
                     lineno);
            ok = false;
            break;
        }
        if (w->n == cap_bodies) {
            size_t nc = cap_bodies ? cap_bodies * 2 : 64;
            char **nb = realloc(w->bodies, nc * sizeof *nb);
            if (!nb) {
                free(body);
                snprintf(msg, cap, "--dataset %s: out of memory at line %zu", path, lineno);
                ok = false;
                break;
            }
            w->bodies = nb;
            cap_bodies = nc;
        }
        w->bodies[w->n++] = body;
    }
    if (ok && ferror(f)) {
        snprintf(msg, cap, "--dataset %s: read error", path);
        ok = false;
    }
    if (ok && w->n == 0) {
        snprintf(msg, cap, "--dataset %s: no requests in it", path);
        ok = false;
    }
    free(line);
    fclose(f);
    if (!ok) lg_workload_free(w);
    return ok;
}
