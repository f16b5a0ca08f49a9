/*
 * engine.c - the generation loop of engine.h.
 *
 * The text of a generation lives in one buffer: bytes [0, emitted) have
 * gone to the caller, bytes [emitted, len) are held back because they may
 * begin a stop string.  Each token's bytes are appended, the stop strings
 * are searched where they could newly end, and what can no longer be part
 * of a stop string is released.
 */
#include "engine/engine.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/error.h"

struct desk_engine {
    desk_arena arena; /* the token list and text buffer */
    desk_model *model;
    const desk_tokenizer *tok;
    desk_ctx *ctx;
    desk_sampler *smp;
    int n_ctx, n_batch;
    int32_t n_vocab;
    desk_token *cached; /* what the KV cache holds, n_ctx entries */
    desk_token *out;    /* the last generation's tokens, n_ctx entries */
    int n_out;
    float *masked;      /* a row of logits a constraint masks, n_vocab entries */
    int n_cached;
    char *text; /* the last generation's text */
    size_t text_cap, len, emitted;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *desk_stop_reason_str(desk_stop_reason r) {
    switch (r) {
    case DESK_STOP_EOG: return "end of generation";
    case DESK_STOP_LENGTH: return "token limit";
    case DESK_STOP_STRING: return "stop string";
    case DESK_STOP_CONTEXT: return "context full";
    case DESK_STOP_CANCELLED: return "cancelled";
    case DESK_STOP_GRAMMAR: return "grammar complete";
    }
    return "?";
}

desk_status desk_engine_new(desk_model *m, const desk_engine_params *p, desk_engine **out,
                            desk_err *err) {
    *out = NULL;
    desk_arena a;
    desk_arena_init(&a, 1 << 16);
    desk_engine *e = desk_arena_alloc(&a, sizeof *e, 64);
    if (!e) {
        desk_arena_free(&a);
        return desk_errf(err, DESK_E_NOMEM, "engine: out of memory");
    }
    e->model = m;
    e->tok = desk_model_tokenizer(m);
    desk_status st = desk_ctx_new(m, &p->ctx, &e->ctx, err);
    if (st != DESK_OK) {
        desk_arena_free(&a);
        return st;
    }
    e->n_ctx = desk_ctx_n_ctx(e->ctx);
    e->n_batch = p->ctx.n_batch > 0 ? p->ctx.n_batch : 512;
    e->n_vocab = desk_model_n_vocab(m);
    st = desk_sampler_new(&p->sampling, e->n_vocab, &e->smp, err);
    if (st != DESK_OK) {
        desk_ctx_free(e->ctx);
        desk_arena_free(&a);
        return st;
    }
    /* Every token's text fits in 64 bytes (tokenizer.h), a flush in 32. */
    e->text_cap = (size_t)e->n_ctx * 64 + 64;
    e->cached = desk_arena_alloc(&a, sizeof *e->cached * (size_t)e->n_ctx, 64);
    e->out = desk_arena_alloc(&a, sizeof *e->out * (size_t)e->n_ctx, 64);
    e->text = desk_arena_alloc(&a, e->text_cap + 1, 64);
    e->masked = desk_arena_alloc(&a, sizeof *e->masked * (size_t)e->n_vocab, 64);
    if (!e->cached || !e->out || !e->text || !e->masked) {
        desk_sampler_free(e->smp);
        desk_ctx_free(e->ctx);
        desk_arena_free(&a);
        return desk_errf(err, DESK_E_NOMEM, "engine: out of memory for a %d-token context",
                         e->n_ctx);
    }
    e->arena = a;
    *out = e;
    return DESK_OK;
}

void desk_engine_free(desk_engine *e) {
    if (!e) return;
    desk_sampler_free(e->smp);
    desk_ctx_free(e->ctx);
    desk_arena a = e->arena;
    desk_arena_free(&a);
}

int desk_engine_n_ctx(const desk_engine *e) { return e->n_ctx; }

void desk_engine_seed(desk_engine *e, uint64_t seed) { desk_sampler_seed(e->smp, seed); }

void desk_engine_reset(desk_engine *e) {
    desk_ctx_truncate(e->ctx, 0);
    e->n_cached = 0;
}

const desk_token *desk_engine_tokens(const desk_engine *e, size_t *n) {
    *n = (size_t)e->n_out;
    return e->out;
}

const char *desk_engine_text(const desk_engine *e, size_t *len) {
    *len = e->len;
    return e->text;
}

static void emit_to(desk_engine *e, const desk_gen_opts *o, size_t end) {
    if (end > e->emitted && o->on_text) o->on_text(o->user, e->text + e->emitted, end - e->emitted);
    if (end > e->emitted) e->emitted = end;
}

bool desk_stop_scan(const char *text, size_t len, size_t old_len, size_t emitted,
                    const char *const *stops, size_t n_stops, size_t *end) {
    size_t hold = 0;
    for (size_t i = 0; i < n_stops; i++) {
        const char *s = stops[i];
        size_t sl = strlen(s);
        if (sl == 0) continue;
        size_t from = old_len >= sl - 1 ? old_len - (sl - 1) : 0;
        if (from < emitted) from = emitted;
        for (size_t p = from; p + sl <= len; p++) {
            if (memcmp(text + p, s, sl) == 0) {
                *end = p;
                return true;
            }
        }
        /* the longest tail of the pending text that starts S */
        size_t pending = len - emitted;
        size_t max = sl - 1 < pending ? sl - 1 : pending;
        for (size_t k = max; k > hold; k--) {
            if (memcmp(text + len - k, s, k) == 0) {
                hold = k;
                break;
            }
        }
    }
    *end = len - hold;
    return false;
}

/* After appending bytes from OLD_LEN on: true (and the text cut before it)
 * when a stop string now appears; else releases what cannot start one. */
static bool settle_text(desk_engine *e, const desk_gen_opts *o, size_t old_len) {
    size_t end;
    bool hit = desk_stop_scan(e->text, e->len, old_len, e->emitted, o->stops, o->n_stops, &end);
    if (hit) {
        e->len = end;
        e->text[end] = '\0';
    }
    emit_to(e, o, end);
    return hit;
}

static bool is_stop_id(const desk_gen_opts *o, desk_token id) {
    for (size_t i = 0; i < o->n_stop_ids; i++)
        if (o->stop_ids[i] == id) return true;
    return false;
}

desk_status desk_sample_constrained(desk_sampler *smp, desk_constraint *c, const desk_tokenizer *t,
                                   const float *logits, float *scratch, int32_t n_vocab,
                                   const desk_token *end_ids, size_t n_end, int n_gen, desk_token *id,
                                   const float **used, desk_err *err) {
    *id = desk_sampler_sample(smp, logits);
    if (used) *used = logits;
    bool end = desk_tokenizer_is_eog(t, *id);
    for (size_t i = 0; i < n_end && !end; i++) end = end_ids[i] == *id;
    if (end ? desk_constraint_can_end(c) : desk_constraint_allows(c, *id)) return DESK_OK;
    memcpy(scratch, logits, sizeof *logits * (size_t)n_vocab);
    size_t n_allowed = 0;
    desk_status s = desk_constraint_apply(c, scratch, end_ids, n_end, &n_allowed, err);
    if (s != DESK_OK) return s;
    if (n_allowed == 0)
        return desk_errf(err, DESK_E_UNSUPPORTED,
                         "the grammar allows no token of this model's vocabulary after generated "
                         "token %d", n_gen);
    *id = desk_sampler_sample(smp, scratch);
    if (used) *used = scratch;
    return DESK_OK;
}

static bool cancelled(const desk_gen_opts *o) { return o->cancel && *o->cancel; }

desk_status desk_engine_generate(desk_engine *e, const desk_token *prompt, size_t n,
                                 const desk_gen_opts *o, desk_gen_stats *st, desk_err *err) {
    double t0 = now_s();
    memset(st, 0, sizeof *st);
    e->len = e->emitted = 0;
    e->n_out = 0;
    e->text[0] = '\0';
    st->n_prompt = n > (size_t)INT_MAX ? INT_MAX : (int)n;
    if (n == 0) return desk_errf(err, DESK_E_ARG, "engine: empty prompt");
    if (n > (size_t)e->n_ctx)
        return desk_errf(err, DESK_E_RANGE,
                         "the prompt has %zu tokens but the context holds %d (raise --ctx)", n,
                         e->n_ctx);
    if (o->n_predict <= 0)
        return desk_errf(err, DESK_E_ARG, "engine: n_predict %d must be > 0", o->n_predict);

    /* Keep the cached prefix; the last prompt token is always decoded
     * again so its logits are fresh. */
    int keep = 0;
    while (keep < e->n_cached && (size_t)keep < n && e->cached[keep] == prompt[keep]) keep++;
    if ((size_t)keep == n) keep--;
    if (keep < e->n_cached) {
        desk_ctx_truncate(e->ctx, keep);
        e->n_cached = keep;
    }
    st->n_prefill = (int)n - keep;
    desk_sampler_reset(e->smp);
    for (size_t i = 0; i < n; i++) desk_sampler_accept(e->smp, prompt[i]);
    if (o->constraint) {
        desk_status s = desk_constraint_reset(o->constraint, err);
        if (s != DESK_OK) return s;
    }

    for (size_t i = (size_t)keep; i < n;) {
        if (cancelled(o)) {
            st->stop = DESK_STOP_CANCELLED;
            st->t_prefill_s = now_s() - t0;
            return DESK_OK;
        }
        int b = (int)(n - i < (size_t)e->n_batch ? n - i : (size_t)e->n_batch);
        desk_status s = desk_decode(e->ctx, prompt + i, b, err);
        if (s != DESK_OK) return s;
        memcpy(e->cached + e->n_cached, prompt + i, sizeof *prompt * (size_t)b);
        e->n_cached += b;
        i += (size_t)b;
    }
    double t1 = now_s();
    st->t_prefill_s = t1 - t0;

    desk_detok dt = {0};
    bool stopped_by_string = false;
    for (;;) {
        if (cancelled(o)) {
            st->stop = DESK_STOP_CANCELLED;
            break;
        }
        if (o->constraint && desk_constraint_complete(o->constraint)) {
            st->stop = DESK_STOP_GRAMMAR;
            break;
        }
        const float *logits = desk_ctx_logits(e->ctx, -1);
        /* A model whose activations overflow yields NaN or inf logits; a
         * sample from them would be an arbitrary token (the first), read
         * as the model's choice.  One pass over the row costs far less
         * than the decode that made it. */
        for (int32_t k = 0; k < e->n_vocab; k++)
            if (!isfinite(logits[k]))
                return desk_errf(err, DESK_E_FORMAT,
                                 "the model's logits are not finite (%s at token id %d, generated token %d): "
                                 "its weights overflow",
                                 isnan(logits[k]) ? "NaN" : "inf", k, st->n_gen);
        desk_token id;
        if (o->constraint) {
            desk_status s = desk_sample_constrained(e->smp, o->constraint, e->tok, logits, e->masked, e->n_vocab,
                                                    o->stop_ids, o->n_stop_ids, st->n_gen, &id, NULL, err);
            if (s != DESK_OK) return s;
        } else {
            id = desk_sampler_sample(e->smp, logits);
        }
        if (st->n_gen == 0) st->t_first_s = now_s() - t0;
        if (desk_tokenizer_is_eog(e->tok, id) || is_stop_id(o, id)) {
            st->stop = DESK_STOP_EOG;
            break;
        }
        if (o->constraint) {
            desk_status s = desk_constraint_accept(o->constraint, id, err);
            if (s != DESK_OK) return s;
        }
        desk_sampler_accept(e->smp, id);
        if (e->n_out < e->n_ctx) e->out[e->n_out++] = id;
        st->n_gen++;
        size_t old = e->len;
        e->len += desk_detok_push(e->tok, &dt, id, e->text + e->len, e->text_cap - e->len);
        e->text[e->len] = '\0';
        if (settle_text(e, o, old)) {
            st->stop = DESK_STOP_STRING;
            stopped_by_string = true;
            break;
        }
        if (st->n_gen >= o->n_predict) {
            st->stop = DESK_STOP_LENGTH;
            break;
        }
        if (e->n_cached >= e->n_ctx) {
            st->stop = DESK_STOP_CONTEXT;
            break;
        }
        desk_status s = desk_decode(e->ctx, &id, 1, err);
        if (s != DESK_OK) return s;
        e->cached[e->n_cached++] = id;
    }
    if (!stopped_by_string) {
        size_t old = e->len;
        e->len += desk_detok_flush(&dt, e->text + e->len, e->text_cap - e->len);
        e->text[e->len] = '\0';
        if (!settle_text(e, o, old)) emit_to(e, o, e->len); /* nothing more is coming */
        else st->stop = DESK_STOP_STRING;
    }
    st->t_gen_s = now_s() - t1;
    return DESK_OK;
}
