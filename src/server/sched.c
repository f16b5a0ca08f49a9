/*
 * server/sched.c - one model's scheduler: continuous batching over slots.
 *
 * Each model has n_parallel slots, one KV-cache sequence each, and one
 * thread that owns its desk_ctx.  A step builds one batch from every slot:
 * the next token of each generating stream (with logits), then chunks of
 * waiting prompts up to n_batch rows (logits on a prompt's last token
 * only), and decodes it in one forward pass, so each weight is read once
 * for all streams.  Requests beyond the slots wait in a bounded FIFO.
 *
 * Prefix reuse: a slot keeps the tokens its sequence holds after a request
 * ends.  A new request goes to the free slot sharing the longest prefix
 * with its prompt, and only the rest is decoded (the prompt's last token
 * is always decoded again, for fresh logits), so a multi-turn chat pays
 * for its new turn only.
 *
 * A request's text comes out as desk run's does: detokenized in whole
 * UTF-8 characters, held back while it could still become a stop string,
 * cut before a stop string, ended by an end-of-generation token or the
 * chat format's end of turn.  Sampling is per slot (seeded per request).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

typedef struct job {
    srv_req *r;
    int ci; /* choice index */
    struct job *next;
} job;

typedef struct slot {
    srv_req *r; /* NULL: free */
    int ci;
    desk_token *cache; /* tokens sequence `id` holds (n_ctx) */
    int n_cache;
    int next_prompt;   /* next prompt index to decode */
    bool gen;          /* prompt done: generating */
    desk_token last;   /* sampled, to decode next step */
    desk_sampler *smp;
    desk_constraint *con; /* the request's grammar bound to the vocabulary, or NULL */
    bool con_on;          /* applied (tool_choice "auto": once a call opens) */
    desk_detok dt;
    char *text; /* generated text, with what a stop string may still claim */
    size_t len, cap, emitted;
    double t_last;
    uint64_t used; /* step it last served, for least-recently-used choice */
    /* Every row of its cache was computed batch-invariant: only then may a
     * deterministic request reuse it (a default-mode row would change the
     * request's bits). */
    bool det_cache;
} slot;

struct srv_model {
    char name[128];
    desk_model *m;
    desk_ctx *ctx, *ectx;
    desk_lora *lora[SRV_MAX_LORAS]; /* o.n_loras adapters, freed after the contexts */
    desk_lora_use lora_use[SRV_MAX_LORAS];
    const desk_tokenizer *tok;
    desk_chat_fmt fmt;
    desk_token eot;
    int n_vocab, n_embd;
    /* ignore_eos: the end-of-generation ids, and logits with them at -inf */
    desk_token *eog;
    int n_eog;
    float *banned;
    /* Structured output: a constraint built once on the vocabulary (its
     * grammar is a placeholder) whose tables every request's constraint
     * borrows, and the row a constraint masks. */
    desk_grammar *proto_g;
    desk_constraint *proto;
    float *masked;
    srv_model_opts o; /* lora_path: the copies below */
    char *path, *lora_path[SRV_MAX_LORAS];
    /* sha256 of the file, then of each adapter: "" until hashed (sha_mu) */
    pthread_mutex_t sha_mu;
    char sha[SRV_MAX_LORAS + 1][65];
    long long created;
    slot *slots;
    uint64_t step;

    pthread_mutex_t mu; /* the queue, the counters, stop flags */
    pthread_cond_t cv;
    job *head, *tail;
    int n_queued, n_active;
    int64_t kv_used; /* tokens the slots' sequences hold, after the last step */
    bool stop, shutdown;
    pthread_t th;
    bool started;
    srv_metrics met;

    /* the batch, sized once */
    desk_token *b_tok;
    int32_t *b_pos, *b_seq;
    int8_t *b_logits;
    int *b_slot;
};

const char *srv_model_name(const srv_model *m) { return m->name; }
desk_model *srv_model_desk(srv_model *m) { return m->m; }
desk_chat_fmt srv_model_chat_fmt(const srv_model *m) { return m->fmt; }
desk_token srv_model_eot(const srv_model *m) { return m->eot; }
int srv_model_n_ctx(const srv_model *m) { return m->o.n_ctx; }
int srv_model_parallel(const srv_model *m) { return m->o.n_parallel; }
bool srv_model_deterministic(const srv_model *m) { return m->o.deterministic; }
const char *srv_model_path(const srv_model *m) { return m->path; }
const srv_model_opts *srv_model_options(const srv_model *m) { return &m->o; }

const char *srv_model_sha256(srv_model *m, int lora, desk_err *err) {
    const char *file = lora < 0 ? m->path : m->lora_path[lora];
    char *sha = m->sha[lora + 1];
    pthread_mutex_lock(&m->sha_mu);
    desk_status st = sha[0] ? DESK_OK : desk_file_sha256(file, sha, err);
    pthread_mutex_unlock(&m->sha_mu);
    return st == DESK_OK ? sha : NULL;
}

long long srv_model_created(const srv_model *m) { return m->created; }

/* ---- finishing and waking ---- */

/* Wakes the connection of R if it sleeps; call without R->mu. */
static void wake(srv_req *r, bool was_suspended) {
    if (was_suspended && r->wake) r->wake(r);
}

static bool take_suspended(srv_req *r) {
    bool w = r->suspended;
    r->suspended = false;
    return w;
}

/* Ends the whole request with MSG (an error), as one of its choices. */
static void fail_req(srv_model *m, srv_req *r, const char *msg) {
    pthread_mutex_lock(&r->mu);
    if (!r->finished) {
        snprintf(r->err, sizeof r->err, "%s", msg);
        if (r->stream) api_stream_error(r, msg);
        r->finished = true;
    }
    bool w = take_suspended(r);
    pthread_mutex_unlock(&r->mu);
    wake(r, w);
    pthread_mutex_lock(&m->mu);
    m->met.requests_failed++;
    pthread_mutex_unlock(&m->mu);
}

/* Releases text [s->emitted, end) to the choice (and the stream). */
static void emit(slot *s, size_t end, const srv_logprob *lp) {
    srv_req *r = s->r;
    srv_choice *c = &r->choice[s->ci];
    size_t n = end > s->emitted ? end - s->emitted : 0;
    pthread_mutex_lock(&r->mu);
    if (n) srv_buf_append(&c->text, &c->len, &c->cap, s->text + s->emitted, n);
    bool w = false;
    if (r->stream && r->tools && s->con_on) {
        /* a tool call streams as tool_calls deltas, never as content */
        api_stream_tools(r, s->ci);
        w = take_suspended(r);
    } else if (r->stream && (n || lp)) {
        api_stream_text(r, s->ci, s->text + s->emitted, n, lp);
        w = take_suspended(r); /* a whole answer waits for finish() */
    }
    pthread_mutex_unlock(&r->mu);
    wake(r, w);
    s->emitted += n;
}

/* After appending from OLD: true (text cut before it) when a stop string
 * appears; otherwise releases what cannot be the start of one. */
static bool settle(slot *s, size_t old, const srv_logprob *lp) {
    const srv_req *r = s->r;
    size_t end;
    bool hit = desk_stop_scan(s->text, s->len, old, s->emitted, (const char *const *)r->stops,
                              r->n_stops, &end);
    if (hit) s->len = end;
    /* tool_choice "auto": text that may still open a tool call waits */
    if (s->con && !s->con_on && !hit) end = s->emitted;
    emit(s, end, lp);
    return hit;
}

static void release(srv_model *m, slot *s) {
    srv_req_unref(s->r);
    s->r = NULL;
    desk_sampler_free(s->smp);
    s->smp = NULL;
    desk_constraint_free(s->con);
    s->con = NULL;
    s->con_on = false;
    pthread_mutex_lock(&m->mu);
    m->n_active--;
    pthread_mutex_unlock(&m->mu);
}

/* Fails the request running in S and frees S (first, as finish() does). */
static void fail_slot(srv_model *m, slot *s, const char *msg) {
    srv_req *r = s->r;
    srv_req_ref(r);
    release(m, s);
    fail_req(m, r, msg);
    srv_req_unref(r);
}

static void finish(srv_model *m, slot *s, const char *reason, bool by_string) {
    const bool limit = strcmp(reason, "length") == 0;
    if (!by_string) {
        char tail[16];
        size_t n = desk_detok_flush(&s->dt, tail, sizeof tail);
        size_t old = s->len;
        if (n && s->len + n < s->cap) {
            memcpy(s->text + s->len, tail, n);
            s->len += n;
        }
        if (settle(s, old, NULL)) {
            reason = "stop";
            by_string = true;
        } else {
            emit(s, s->len, NULL);
        }
    }
    srv_req *r = s->r;
    pthread_mutex_lock(&r->mu);
    srv_choice *c = &r->choice[s->ci];
    c->calls = r->tools && s->con_on;
    if (c->calls && api_text_is_calls(r, c->text, c->len)) reason = "tool_calls";
    c->finish = reason;
    /* In the engine's words, for a manifest (desk replay runs the engine) */
    desk_stop_reason why = by_string ? DESK_STOP_STRING : DESK_STOP_EOG;
    if (limit && !by_string) why = s->n_cache >= m->o.n_ctx ? DESK_STOP_CONTEXT : DESK_STOP_LENGTH;
    c->why = desk_stop_reason_str(why);
    c->done = true;
    if (r->stream) api_stream_finish(r, s->ci);
    if (++r->n_done == r->n_choices && !r->finished) {
        r->finished = true;
        if (r->stream) api_stream_end(r);
    }
    bool w = take_suspended(r);
    pthread_mutex_unlock(&r->mu);
    /* The slot is free before the client hears the end, so a client that
     * sends its next request at once finds it free. */
    srv_req_ref(r);
    release(m, s);
    wake(r, w);
    srv_req_unref(r);
}

/* ---- one sampled token ---- */

static void fill_logprob(const srv_model *m, const float *logits, desk_token id, int top,
                         srv_logprob *lp) {
    float mx = -INFINITY;
    for (int32_t k = 0; k < m->n_vocab; k++)
        if (logits[k] > mx) mx = logits[k];
    double sum = 0;
    for (int32_t k = 0; k < m->n_vocab; k++) sum += exp((double)(logits[k] - mx));
    float lse = mx + (float)log(sum);
    lp->id = id;
    lp->logprob = logits[id] - lse;
    lp->n_top = 0;
    for (int32_t k = 0; k < m->n_vocab && top > 0; k++) {
        float v = logits[k];
        if (lp->n_top == top && v <= lp->top_lp[top - 1]) continue;
        int j = lp->n_top < top ? lp->n_top++ : top - 1;
        while (j > 0 && lp->top_lp[j - 1] < v) {
            lp->top_lp[j] = lp->top_lp[j - 1];
            lp->top_id[j] = lp->top_id[j - 1];
            j--;
        }
        lp->top_lp[j] = v;
        lp->top_id[j] = k;
    }
    for (int j = 0; j < lp->n_top; j++) lp->top_lp[j] -= lse;
}

/* Whether ID ends generation (an end-of-generation token or the end of turn). */
static bool is_eog(const srv_model *m, desk_token id) {
    return desk_tokenizer_is_eog(m->tok, id) || id == m->eot;
}

/* tool_choice "auto": once the text opens a tool call, the grammar of
 * calls takes over, fed the tokens generated so far (the last is ID, not
 * yet decoded); text that cannot open one drops the grammar. */
static void detect_call(const srv_model *m, slot *s, desk_token id) {
    const srv_req *r = s->r;
    size_t n = strlen(r->call_open), k = s->len < n ? s->len : n;
    bool open = memcmp(s->text, r->call_open, k) == 0;
    if (open && s->len < n) return;
    desk_err err = {0};
    /* control tokens have no text for the grammar: a model that opens its
     * calls with one ([TOOL_CALLS] in Mistral's vocabulary) writes the
     * JSON after it */
    for (int i = r->n_prompt; open && i < s->n_cache; i++)
        open = desk_tokenizer_is_control(m->tok, s->cache[i]) ||
               desk_constraint_accept(s->con, s->cache[i], &err) == DESK_OK;
    if (open && (desk_tokenizer_is_control(m->tok, id) || desk_constraint_accept(s->con, id, &err) == DESK_OK)) {
        s->con_on = true;
        return;
    }
    desk_constraint_free(s->con);
    s->con = NULL;
}

/* Appends ID to C's ids (R->mu held); false when out of memory. */
static bool keep_id(srv_choice *c, desk_token id) {
    if (c->n_ids == c->cap_ids) {
        size_t cap = c->cap_ids ? c->cap_ids * 2 : 64;
        desk_token *p = realloc(c->ids, cap * sizeof *p);
        if (!p) return false;
        c->ids = p;
        c->cap_ids = cap;
    }
    c->ids[c->n_ids++] = id;
    return true;
}

static void on_logits(srv_model *m, slot *s, const float *logits) {
    srv_req *r = s->r;
    srv_choice *c = &r->choice[s->ci];
    desk_token id;
    if (s->con_on) {
        desk_token end = r->stop_id;
        desk_err err = {0};
        if (desk_sample_constrained(s->smp, s->con, m->tok, logits, m->masked, m->n_vocab, &end, end >= 0,
                                    c->n_gen, &id, &logits, &err) != DESK_OK) {
            fail_slot(m, s, err.msg);
            return;
        }
    } else {
        id = desk_sampler_sample(s->smp, logits);
    }
    if (r->ignore_eos && !s->con_on && is_eog(m, id)) {
        /* llama-server's extension: end-of-generation ids are never sampled
         * (the copy is made only when one was: the vocabulary can be 262k) */
        memcpy(m->banned, logits, (size_t)m->n_vocab * sizeof *logits);
        for (int k = 0; k < m->n_eog; k++) m->banned[m->eog[k]] = -INFINITY;
        logits = m->banned;
        id = desk_sampler_sample(s->smp, logits);
    }
    /* Weights that overflow give an infinite or NaN logit: the chosen one
     * shows it (a NaN is chosen only when every logit is one). */
    if (!isfinite(logits[id])) {
        fail_slot(m, s, "the model's logits are not finite: its weights overflow");
        return;
    }
    double now = srv_now();
    pthread_mutex_lock(&m->mu);
    if (c->n_gen == 0) srv_hist_add(&m->met.ttft, now - r->t_submit);
    else srv_hist_add(&m->met.itl, now - s->t_last);
    pthread_mutex_unlock(&m->mu);
    s->t_last = now;
    if (desk_tokenizer_is_eog(m->tok, id) || id == r->stop_id) {
        finish(m, s, "stop", false);
        return;
    }
    srv_logprob lpv, *lp = NULL;
    if (r->logprobs) {
        fill_logprob(m, logits, id, r->top_logprobs, &lpv);
        lp = &lpv;
        pthread_mutex_lock(&r->mu);
        if (c->n_lp == c->cap_lp) {
            size_t cap = c->cap_lp ? c->cap_lp * 2 : 64;
            srv_logprob *p = realloc(c->lp, cap * sizeof *p);
            if (p) {
                c->lp = p;
                c->cap_lp = cap;
            }
        }
        if (c->n_lp < c->cap_lp) c->lp[c->n_lp++] = lpv;
        pthread_mutex_unlock(&r->mu);
    }
    if (s->con_on) {
        desk_err err = {0};
        if (desk_constraint_accept(s->con, id, &err) != DESK_OK) {
            fail_slot(m, s, err.msg);
            return;
        }
    }
    desk_sampler_accept(s->smp, id);
    pthread_mutex_lock(&r->mu);
    c->n_gen++;
    bool kept = !r->manifest || keep_id(c, id);
    pthread_mutex_unlock(&r->mu);
    if (!kept) {
        fail_slot(m, s, "out of memory for the manifest's token ids");
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->met.tokens_out++;
    pthread_mutex_unlock(&m->mu);
    size_t need = s->len + (size_t)desk_tokenizer_max_piece(m->tok) + 16;
    if (need > s->cap) {
        size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
        char *t = realloc(s->text, cap);
        if (!t) {
            fail_slot(m, s, "out of memory for the generated text");
            return;
        }
        s->text = t;
        s->cap = cap;
    }
    size_t old = s->len;
    s->len += desk_detok_push(m->tok, &s->dt, id, s->text + s->len, s->cap - s->len);
    if (s->con && !s->con_on) detect_call(m, s, id);
    if (settle(s, old, lp)) {
        finish(m, s, "stop", true);
        return;
    }
    if (s->con_on && desk_constraint_complete(s->con)) {
        finish(m, s, "stop", false);
        return;
    }
    if (c->n_gen >= r->max_tokens || s->n_cache >= m->o.n_ctx) {
        finish(m, s, "length", false);
        return;
    }
    s->last = id;
    s->gen = true;
}

/* ---- starting a request in a slot ---- */

static int common_prefix(const slot *s, const srv_req *r) {
    if (r->deterministic && !s->det_cache) return 0;
    int n = 0;
    while (n < s->n_cache && n < r->n_prompt && s->cache[n] == r->prompt[n]) n++;
    return n;
}

static slot *pick_slot(srv_model *m, const srv_req *r) {
    slot *best = NULL;
    int best_n = -1;
    for (int i = 0; i < m->o.n_parallel; i++) {
        slot *s = &m->slots[i];
        if (s->r) continue;
        int n = common_prefix(s, r);
        if (n > best_n || (n == best_n && s->used < best->used)) {
            best = s;
            best_n = n;
        }
    }
    return best;
}

/* S's constraint for R's grammar, borrowing the model's vocabulary tables
 * (built here on the first request that needs them: about a second on a
 * 262k vocabulary, against a few milliseconds for each later binding). */
static desk_status bind_grammar(srv_model *m, slot *s, const srv_req *r, desk_err *err) {
    static const char placeholder[] = "root ::= \"{\"";
    if (!m->proto) {
        desk_status st = m->proto_g ? DESK_OK : desk_grammar_parse(placeholder, strlen(placeholder), NULL, &m->proto_g, err);
        if (st == DESK_OK) st = desk_constraint_new(m->proto_g, m->tok, &m->proto, err);
        if (st != DESK_OK) return st;
    }
    s->con_on = !r->grammar_later;
    return desk_constraint_new_sharing(r->grammar, m->proto, &s->con, err);
}

static bool start(srv_model *m, slot *s, srv_req *r, int ci) {
    int seq = (int)(s - m->slots);
    int keep = common_prefix(s, r);
    if (keep == r->n_prompt) keep--;
    desk_err err = {0};
    desk_sampler_params sp = r->sp;
    sp.seed += (uint64_t)ci;
    if (desk_kv_seq_rm(m->ctx, seq, keep, &err) != DESK_OK ||
        desk_sampler_new(&sp, m->n_vocab, &s->smp, &err) != DESK_OK ||
        (r->grammar && bind_grammar(m, s, r, &err) != DESK_OK)) {
        desk_sampler_free(s->smp);
        s->smp = NULL;
        fail_req(m, r, err.msg);
        srv_req_unref(r);
        return false;
    }
    for (int i = 0; i < r->n_prompt; i++) desk_sampler_accept(s->smp, r->prompt[i]);
    s->r = r;
    s->ci = ci;
    if (keep == 0) s->det_cache = true;
    s->n_cache = keep;
    s->next_prompt = keep;
    s->gen = false;
    s->len = s->emitted = 0;
    memset(&s->dt, 0, sizeof s->dt);
    pthread_mutex_lock(&r->mu);
    if (ci == 0) r->n_cached = keep;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&m->mu);
    m->n_active++;
    m->met.tokens_cached += (uint64_t)keep;
    pthread_mutex_unlock(&m->mu);
    return true;
}

/* ---- embeddings ---- */

static void run_embed(srv_model *m, srv_req *r) {
    desk_err err = {0};
    if (!m->ectx) {
        desk_ctx_params cp = {.n_ctx = m->o.n_ctx, .n_batch = m->o.n_batch, .n_threads = m->o.n_threads,
                              .embeddings = true, .loras = m->lora_use, .n_loras = m->o.n_loras};
        if (desk_ctx_new(m->m, &cp, &m->ectx, &err) != DESK_OK) {
            fail_req(m, r, err.msg);
            return;
        }
    }
    desk_ctx_set_deterministic(m->ectx, m->o.deterministic || r->deterministic);
    float *emb = calloc((size_t)r->n_inputs * (size_t)m->n_embd, sizeof *emb);
    double *acc = calloc((size_t)m->n_embd, sizeof *acc);
    if (!emb || !acc) {
        free(emb);
        free(acc);
        fail_req(m, r, "out of memory for embeddings");
        return;
    }
    for (int in = 0; in < r->n_inputs; in++) {
        const desk_token *t = r->prompt + r->input_off[in];
        int n = r->input_off[in + 1] - r->input_off[in];
        memset(acc, 0, sizeof *acc * (size_t)m->n_embd);
        desk_kv_seq_rm(m->ectx, 0, 0, &err);
        for (int i = 0; i < n; i += m->o.n_batch) {
            int b = n - i < m->o.n_batch ? n - i : m->o.n_batch;
            if (desk_decode(m->ectx, t + i, b, &err) != DESK_OK) {
                free(emb);
                free(acc);
                fail_req(m, r, err.msg);
                return;
            }
            for (int k = 0; k < b; k++) {
                const float *h = desk_ctx_embeddings(m->ectx, k);
                for (int j = 0; j < m->n_embd; j++) acc[j] += h[j];
            }
        }
        double norm = 0;
        for (int j = 0; j < m->n_embd; j++) {
            acc[j] /= n;
            norm += acc[j] * acc[j];
        }
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (int j = 0; j < m->n_embd; j++) emb[(size_t)in * (size_t)m->n_embd + (size_t)j] = (float)(acc[j] * norm);
    }
    free(acc);
    pthread_mutex_lock(&r->mu);
    r->emb = emb;
    r->n_embd = m->n_embd;
    r->finished = true;
    bool w = take_suspended(r);
    pthread_mutex_unlock(&r->mu);
    wake(r, w);
}

/* ---- the loop ---- */

static bool is_cancelled(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    bool c = r->cancelled || r->finished;
    pthread_mutex_unlock(&r->mu);
    return c;
}

/* Moves queued jobs into free slots (under m->mu); embedding jobs are
 * returned in *EMBED to run at once. */
static void assign(srv_model *m, job **embed) {
    job **pp = &m->head;
    while (*pp) {
        job *j = *pp;
        bool take = j->r->kind == SRV_EMBED;
        slot *s = NULL;
        if (!take) {
            s = pick_slot(m, j->r);
            if (!s) break; /* FIFO: nothing overtakes the head */
        }
        *pp = j->next;
        if (m->tail == j) m->tail = NULL;
        m->n_queued--;
        if (take) {
            j->next = *embed;
            *embed = j;
            continue;
        }
        pthread_mutex_unlock(&m->mu);
        if (is_cancelled(j->r)) srv_req_unref(j->r);
        else start(m, s, j->r, j->ci);
        free(j);
        pthread_mutex_lock(&m->mu);
        pp = &m->head;
    }
    if (!m->head) m->tail = NULL;
}

static void fail_all(srv_model *m, const char *msg) {
    for (int i = 0; i < m->o.n_parallel; i++) {
        slot *s = &m->slots[i];
        if (!s->r) continue;
        if (s->gen) finish(m, s, "length", false);
        else {
            fail_slot(m, s, msg);
        }
    }
    pthread_mutex_lock(&m->mu);
    job *j = m->head;
    m->head = m->tail = NULL;
    m->n_queued = 0;
    pthread_mutex_unlock(&m->mu);
    while (j) {
        job *next = j->next;
        fail_req(m, j->r, msg);
        srv_req_unref(j->r);
        free(j);
        j = next;
    }
}

static void step(srv_model *m) {
    int n = 0;
    /* generating streams first: one token each */
    for (int i = 0; i < m->o.n_parallel; i++) {
        slot *s = &m->slots[i];
        if (!s->r || !s->gen) continue;
        m->b_tok[n] = s->last;
        m->b_pos[n] = s->n_cache;
        m->b_seq[n] = i;
        m->b_logits[n] = 1;
        m->b_slot[n] = i;
        n++;
    }
    for (int i = 0; i < m->o.n_parallel && n < m->o.n_batch; i++) {
        slot *s = &m->slots[i];
        if (!s->r || s->gen) continue;
        int left = s->r->n_prompt - s->next_prompt;
        int take = left < m->o.n_batch - n ? left : m->o.n_batch - n;
        for (int k = 0; k < take; k++) {
            m->b_tok[n] = s->r->prompt[s->next_prompt + k];
            m->b_pos[n] = s->n_cache + k;
            m->b_seq[n] = i;
            bool last = s->next_prompt + k == s->r->n_prompt - 1;
            m->b_logits[n] = last;
            m->b_slot[n] = last ? i : -1;
            n++;
        }
    }
    if (n == 0) return;
    m->step++;
    /* Batch-invariant arithmetic for the whole step when any request in
     * it asked (the others lose nothing but llama.cpp's exact order). */
    bool det = m->o.deterministic;
    for (int row = 0; row < n && !det; row++) det = m->slots[m->b_seq[row]].r->deterministic;
    desk_ctx_set_deterministic(m->ctx, det);
    if (!det)
        for (int row = 0; row < n; row++) m->slots[m->b_seq[row]].det_cache = false;
    desk_batch b = {.n_tokens = n, .token = m->b_tok, .pos = m->b_pos, .seq_id = m->b_seq, .logits = m->b_logits};
    desk_err err = {0};
    if (desk_decode_batch(m->ctx, &b, &err) != DESK_OK) {
        for (int i = 0; i < m->o.n_parallel; i++) {
            slot *s = &m->slots[i];
            if (!s->r) continue;
            fail_slot(m, s, err.msg);
            desk_kv_seq_rm(m->ctx, i, 0, &err);
            s->n_cache = 0;
        }
        return;
    }
    /* every row is now in its sequence's cache */
    for (int row = 0; row < n; row++) {
        slot *s = &m->slots[m->b_seq[row]];
        s->cache[s->n_cache++] = m->b_tok[row];
        s->used = m->step;
        if (!s->gen) s->next_prompt++;
    }
    int64_t used = 0;
    for (int i = 0; i < m->o.n_parallel; i++) used += m->slots[i].n_cache;
    pthread_mutex_lock(&m->mu);
    m->kv_used = used;
    pthread_mutex_unlock(&m->mu);
    for (int row = 0; row < n; row++) {
        if (m->b_slot[row] < 0) continue;
        slot *s = &m->slots[m->b_slot[row]];
        if (!s->r) continue;
        on_logits(m, s, desk_ctx_logits(m->ctx, row));
    }
}

static void *loop(void *arg) {
    srv_model *m = arg;
    for (;;) {
        job *embed = NULL;
        pthread_mutex_lock(&m->mu);
        while (!m->stop && !m->shutdown && !m->head && m->n_active == 0)
            pthread_cond_wait(&m->cv, &m->mu);
        bool stop = m->stop, down = m->shutdown;
        if (!stop && !down) assign(m, &embed);
        pthread_mutex_unlock(&m->mu);
        if (stop || down) {
            fail_all(m, "the server is shutting down");
            if (stop) break;
            pthread_mutex_lock(&m->mu);
            while (!m->stop && !m->head) pthread_cond_wait(&m->cv, &m->mu);
            pthread_mutex_unlock(&m->mu);
            continue;
        }
        while (embed) {
            job *next = embed->next;
            if (!is_cancelled(embed->r)) run_embed(m, embed->r);
            srv_req_unref(embed->r);
            free(embed);
            embed = next;
        }
        for (int i = 0; i < m->o.n_parallel; i++) {
            slot *s = &m->slots[i];
            if (s->r && is_cancelled(s->r)) release(m, s);
        }
        step(m);
    }
    return NULL;
}

/* ---- the public side ---- */

bool srv_model_submit(srv_model *m, srv_req *r, int *retry_after) {
    int jobs = r->kind == SRV_EMBED ? 1 : r->n_choices;
    job *list[SRV_MAX_CHOICES] = {0};
    for (int i = 0; i < jobs; i++) {
        list[i] = calloc(1, sizeof *list[i]);
        if (!list[i]) {
            for (int k = 0; k < i; k++) free(list[k]);
            *retry_after = 1;
            return false;
        }
    }
    pthread_mutex_lock(&m->mu);
    int free_slots = m->o.n_parallel - m->n_active;
    if (m->shutdown || m->stop || m->n_queued + jobs > m->o.queue_max + (free_slots > 0 ? free_slots : 0)) {
        m->met.requests_rejected++;
        pthread_mutex_unlock(&m->mu);
        for (int i = 0; i < jobs; i++) free(list[i]);
        *retry_after = 1;
        return false;
    }
    m->met.requests++;
    if (r->kind != SRV_EMBED) m->met.tokens_in += (uint64_t)r->n_prompt;
    r->t_submit = srv_now();
    for (int i = 0; i < jobs; i++) {
        srv_req_ref(r);
        list[i]->r = r;
        list[i]->ci = i;
        if (m->tail) m->tail->next = list[i];
        else m->head = list[i];
        m->tail = list[i];
        m->n_queued++;
    }
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return true;
}

int srv_model_busy(srv_model *m) {
    pthread_mutex_lock(&m->mu);
    int n = m->n_queued + m->n_active;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void srv_model_shutdown(srv_model *m) {
    pthread_mutex_lock(&m->mu);
    m->shutdown = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

desk_status srv_model_new(const char *name, const char *path, const srv_model_opts *o,
                          srv_model **out, desk_err *err) {
    srv_model *m = calloc(1, sizeof *m);
    if (!m) return desk_errf(err, DESK_E_NOMEM, "serve: out of memory");
    snprintf(m->name, sizeof m->name, "%s", name);
    m->o = *o;
    if (m->o.n_batch <= 0) m->o.n_batch = 512;
    if (m->o.n_batch > m->o.n_ctx) m->o.n_batch = m->o.n_ctx;
    if (m->o.n_batch < m->o.n_parallel) m->o.n_batch = m->o.n_parallel;
    m->created = (long long)time(NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_init(&m->sha_mu, NULL);
    if (!(m->path = strdup(path))) goto nomem;
    for (int i = 0; i < o->n_loras && i < SRV_MAX_LORAS; i++) {
        if (!(m->lora_path[i] = strdup(o->lora_path[i]))) goto nomem;
        m->o.lora_path[i] = m->lora_path[i];
    }
    desk_model_params mp = {.check_memory = true, .n_ctx_hint = o->n_ctx * o->n_parallel};
    desk_status st = desk_model_load(path, &mp, &m->m, err);
    if (st != DESK_OK) goto fail;
    for (int i = 0; i < o->n_loras && i < SRV_MAX_LORAS; i++) {
        if ((st = desk_lora_load(m->m, o->lora_path[i], &m->lora[i], err)) != DESK_OK) goto fail;
        m->lora_use[i] = (desk_lora_use){m->lora[i], o->lora_scale[i]};
    }
    desk_ctx_params cp = {.n_ctx = m->o.n_ctx, .n_batch = m->o.n_batch, .n_threads = o->n_threads,
                          .n_seq_max = o->n_parallel, .loras = m->lora_use, .n_loras = o->n_loras};
    st = desk_ctx_new(m->m, &cp, &m->ctx, err);
    if (st != DESK_OK) goto fail;
    m->o.n_ctx = desk_ctx_n_ctx(m->ctx);
    m->tok = desk_model_tokenizer(m->m);
    m->n_vocab = desk_model_n_vocab(m->m);
    m->n_embd = desk_model_n_embd(m->m);
    const char *warning = NULL;
    m->fmt = desk_chat_choose(desk_model_chat_template(m->m), m->tok, &warning);
    m->eot = desk_tokenizer_find(m->tok, desk_chat_end_of_turn(m->fmt));
    if (m->eot >= 0 && !desk_tokenizer_is_control(m->tok, m->eot)) m->eot = -1;
    size_t nb = (size_t)m->o.n_batch;
    m->slots = calloc((size_t)o->n_parallel, sizeof *m->slots);
    m->b_tok = malloc(nb * sizeof *m->b_tok);
    m->b_pos = malloc(nb * sizeof *m->b_pos);
    m->b_seq = malloc(nb * sizeof *m->b_seq);
    m->b_logits = malloc(nb);
    m->b_slot = malloc(nb * sizeof *m->b_slot);
    m->banned = malloc((size_t)m->n_vocab * sizeof *m->banned);
    m->masked = malloc((size_t)m->n_vocab * sizeof *m->masked);
    for (desk_token t = 0; t < m->n_vocab; t++) m->n_eog += is_eog(m, t);
    m->eog = malloc((size_t)(m->n_eog ? m->n_eog : 1) * sizeof *m->eog);
    if (!m->slots || !m->b_tok || !m->b_pos || !m->b_seq || !m->b_logits || !m->b_slot || !m->banned || !m->masked || !m->eog)
        goto nomem;
    m->n_eog = 0;
    for (desk_token t = 0; t < m->n_vocab; t++)
        if (is_eog(m, t)) m->eog[m->n_eog++] = t;
    for (int i = 0; i < o->n_parallel; i++) {
        slot *s = &m->slots[i];
        s->cache = malloc((size_t)m->o.n_ctx * sizeof *s->cache);
        s->cap = (size_t)m->o.n_ctx * 8 + 4096;
        s->text = malloc(s->cap);
        if (!s->cache || !s->text) goto nomem;
    }
    if (pthread_create(&m->th, NULL, loop, m) != 0) goto nomem;
    m->started = true;
    *out = m;
    return DESK_OK;
nomem:
    st = desk_errf(err, DESK_E_NOMEM, "serve: out of memory for model %s's slots", name);
fail:
    srv_model_free(m);
    return st;
}

void srv_model_free(srv_model *m) {
    if (!m) return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->th, NULL);
    }
    if (m->slots) {
        for (int i = 0; i < m->o.n_parallel; i++) {
            free(m->slots[i].cache);
            free(m->slots[i].text);
            desk_sampler_free(m->slots[i].smp);
            desk_constraint_free(m->slots[i].con);
        }
    }
    desk_constraint_free(m->proto);
    desk_grammar_free(m->proto_g);
    free(m->slots);
    free(m->b_tok);
    free(m->b_pos);
    free(m->b_seq);
    free(m->b_logits);
    free(m->banned);
    free(m->masked);
    free(m->eog);
    free(m->b_slot);
    desk_ctx_free(m->ectx);
    desk_ctx_free(m->ctx);
    for (int i = 0; i < SRV_MAX_LORAS; i++) desk_lora_free(m->lora[i]);
    desk_model_free(m->m);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->sha_mu);
    free(m->path);
    for (int i = 0; i < SRV_MAX_LORAS; i++) free(m->lora_path[i]);
    free(m);
}

/* ---- /metrics ---- */

static void hist_lines(char **buf, size_t *len, size_t *cap, const char *metric, const char *model,
                       const srv_hist *h) {
    uint64_t cum = 0;
    for (int b = 0; b <= SRV_N_BUCKETS; b++) {
        cum += h->count[b];
        if (b < SRV_N_BUCKETS)
            srv_buf_printf(buf, len, cap, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", metric, model,
                           srv_hist_bounds[b], (unsigned long long)cum);
        else
            srv_buf_printf(buf, len, cap, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", metric, model,
                           (unsigned long long)cum);
    }
    srv_buf_printf(buf, len, cap, "%s_sum{model=\"%s\"} %.6f\n%s_count{model=\"%s\"} %llu\n", metric,
                   model, h->sum, metric, model, (unsigned long long)h->n);
}

void srv_model_metrics(srv_model *m, char **buf, size_t *len, size_t *cap) {
    pthread_mutex_lock(&m->mu);
    srv_metrics t = m->met;
    int queued = m->n_queued, active = m->n_active;
    long long kv_used = (long long)m->kv_used;
    pthread_mutex_unlock(&m->mu);
    const char *n = m->name;
    srv_buf_printf(buf, len, cap,
                   "desk_requests_total{model=\"%s\"} %llu\n"
                   "desk_requests_failed_total{model=\"%s\"} %llu\n"
                   "desk_requests_rejected_total{model=\"%s\"} %llu\n"
                   "desk_prompt_tokens_total{model=\"%s\"} %llu\n"
                   "desk_prompt_tokens_cached_total{model=\"%s\"} %llu\n"
                   "desk_generated_tokens_total{model=\"%s\"} %llu\n"
                   "desk_queue_depth{model=\"%s\"} %d\n"
                   "desk_active_streams{model=\"%s\"} %d\n"
                   "desk_slots{model=\"%s\"} %d\n"
                   "desk_kv_cache_bytes{model=\"%s\"} %llu\n"
                   "desk_kv_cache_tokens_used{model=\"%s\"} %lld\n"
                   "desk_kv_cache_tokens{model=\"%s\"} %lld\n",
                   n, (unsigned long long)t.requests, n, (unsigned long long)t.requests_failed, n,
                   (unsigned long long)t.requests_rejected, n, (unsigned long long)t.tokens_in, n,
                   (unsigned long long)t.tokens_cached, n, (unsigned long long)t.tokens_out, n, queued,
                   n, active, n, m->o.n_parallel, n, (unsigned long long)desk_ctx_kv_bytes(m->ctx), n, kv_used, n,
                   (long long)m->o.n_ctx * m->o.n_parallel);
    hist_lines(buf, len, cap, "desk_time_to_first_token_seconds", n, &t.ttft);
    hist_lines(buf, len, cap, "desk_inter_token_seconds", n, &t.itl);
}
