/*
 * sample.c - the sampler chain of sample.h.
 *
 * Candidates start in id order with penalised logits.  Every ordering in
 * here is by logit, descending, with the lower id first on ties, so a
 * given seed picks the same token whatever the sort algorithm does.
 * Top-k uses a size-k min-heap kept at the front of the candidate list
 * (O(n log k)); a full sort happens only when top-p runs without top-k.
 */
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"

typedef struct desk_cand {
    float logit;
    desk_token id;
} desk_cand;

struct desk_sampler {
    desk_arena arena; /* everything below lives here */
    desk_sampler_params p;
    int32_t n_vocab;
    desk_cand *cand;   /* n_vocab entries */
    desk_token *ring;  /* the penalty window, repeat_last_n entries */
    int32_t ring_len;  /* tokens in the window */
    int32_t ring_head; /* index of the oldest token */
    int32_t *counts;   /* occurrences of each id in the window */
    desk_rng rng;
};

/* ---- xoshiro256** seeded by splitmix64 -------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void desk_rng_seed(desk_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t desk_rng_next(desk_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double desk_rng_uniform(desk_rng *r) { return (double)(desk_rng_next(r) >> 11) * 0x1p-53; }

/* ---- set-up ------------------------------------------------------------ */

desk_sampler_params desk_sampler_defaults(void) {
    desk_sampler_params p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = 0,
    };
    return p;
}

desk_status desk_sampler_new(const desk_sampler_params *p, int32_t n_vocab, desk_sampler **out,
                             desk_err *err) {
    *out = NULL;
    if (n_vocab <= 0) return desk_errf(err, DESK_E_ARG, "sampler: vocabulary size %d", n_vocab);
    if (!isfinite(p->temp)) return desk_errf(err, DESK_E_RANGE, "sampler: temperature is not finite");
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return desk_errf(err, DESK_E_RANGE, "sampler: top-p %g is outside [0, 1]", p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return desk_errf(err, DESK_E_RANGE, "sampler: min-p %g is outside [0, 1]", p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return desk_errf(err, DESK_E_RANGE, "sampler: repeat penalty %g must be > 0",
                         p->repeat_penalty);
    if (p->repeat_last_n < 0)
        return desk_errf(err, DESK_E_RANGE, "sampler: repeat window %d is negative",
                         p->repeat_last_n);
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return desk_errf(err, DESK_E_RANGE, "sampler: penalties must be finite");

    desk_arena a;
    desk_arena_init(&a, 1 << 20);
    desk_sampler *s = desk_arena_alloc(&a, sizeof *s, 64);
    if (!s) {
        desk_arena_free(&a);
        return desk_errf(err, DESK_E_NOMEM, "sampler: out of memory");
    }
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = desk_arena_alloc(&a, sizeof *s->cand * (size_t)n_vocab, 64);
    s->counts = desk_arena_alloc(&a, sizeof *s->counts * (size_t)n_vocab, 64);
    s->ring = desk_arena_alloc(&a, sizeof *s->ring * (size_t)(p->repeat_last_n + 1), 64);
    if (!s->cand || !s->counts || !s->ring) {
        desk_arena_free(&a);
        return desk_errf(err, DESK_E_NOMEM, "sampler: out of memory for %d candidates", n_vocab);
    }
    desk_rng_seed(&s->rng, p->seed);
    s->arena = a; /* the arena's bookkeeping moves into the object it allocated */
    *out = s;
    return DESK_OK;
}

void desk_sampler_free(desk_sampler *s) {
    if (!s) return;
    desk_arena a = s->arena;
    desk_arena_free(&a);
}

void desk_sampler_seed(desk_sampler *s, uint64_t seed) {
    s->p.seed = seed;
    desk_rng_seed(&s->rng, seed);
}

void desk_sampler_reset(desk_sampler *s) {
    for (int32_t i = 0; i < s->ring_len; i++) {
        int32_t j = (s->ring_head + i) % s->p.repeat_last_n;
        s->counts[s->ring[j]] = 0;
    }
    s->ring_len = 0;
    s->ring_head = 0;
}

void desk_sampler_accept(desk_sampler *s, desk_token id) {
    int32_t n = s->p.repeat_last_n;
    if (n == 0 || id < 0 || id >= s->n_vocab) return;
    if (s->ring_len == n) {
        s->counts[s->ring[s->ring_head]]--;
        s->ring[s->ring_head] = id;
        s->ring_head = (s->ring_head + 1) % n;
    } else {
        s->ring[(s->ring_head + s->ring_len) % n] = id;
        s->ring_len++;
    }
    s->counts[id]++;
}

/* ---- the chain --------------------------------------------------------- */

/* a ranks before b: higher logit, then lower id. */
static int cand_before(const desk_cand *a, const desk_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb) {
    const desk_cand *a = pa, *b = pb;
    if (cand_before(a, b)) return -1;
    if (cand_before(b, a)) return 1;
    return 0;
}

/* Applies each window token's penalty once: the candidate list is still in
 * id order, and counts[] says how often it occurs; a penalised id gets its
 * count negated while we walk so repeats in the ring are skipped. */
static void apply_penalties(desk_sampler *s) {
    const desk_sampler_params *p = &s->p;
    if (p->repeat_last_n == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (int32_t i = 0; i < s->ring_len; i++) {
        desk_token id = s->ring[(s->ring_head + i) % p->repeat_last_n];
        int32_t c = s->counts[id];
        if (c <= 0) continue;
        float *l = &s->cand[id].logit;
        if (*l <= 0.0f)
            *l *= p->repeat_penalty;
        else
            *l /= p->repeat_penalty;
        *l -= (float)c * p->frequency_penalty + p->presence_penalty;
        s->counts[id] = -c;
    }
    for (int32_t i = 0; i < s->ring_len; i++) {
        desk_token id = s->ring[(s->ring_head + i) % p->repeat_last_n];
        if (s->counts[id] < 0) s->counts[id] = -s->counts[id];
    }
}

static void heap_sift_down(desk_cand *h, int32_t n, int32_t i) {
    /* a min-heap on rank: the root is the worst of the kept candidates */
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(&h[w], &h[l])) w = l;
        if (r < n && cand_before(&h[w], &h[r])) w = r;
        if (w == i) return;
        desk_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Keeps the K best of the N candidates, sorted, at the front. */
static int32_t keep_top_k(desk_cand *c, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--) heap_sift_down(c, k, i);
    for (int32_t i = k; i < n; i++) {
        if (cand_before(&c[i], &c[0])) {
            c[0] = c[i];
            heap_sift_down(c, k, 0);
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
    return k;
}

desk_token desk_sampler_sample(desk_sampler *s, const float *logits) {
    const desk_sampler_params *p = &s->p;
    desk_cand *c = s->cand;
    int32_t n = s->n_vocab;
    const bool penalties = p->repeat_last_n != 0 && (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f ||
                                                     p->presence_penalty != 0.0f);
    if (p->temp <= 0.0f && !penalties) {
        /* Greedy without penalties: the argmax of LOGITS as they are (the
         * first of equal ones, NaN never chosen unless all are), without
         * copying a 262k vocabulary into candidates first. */
        int32_t best = 0;
        float bl = isnan(logits[0]) ? -INFINITY : logits[0];
        for (int32_t i = 1; i < n; i++)
            if (logits[i] > bl) bl = logits[best = i];
        return best;
    }
    for (int32_t i = 0; i < n; i++) {
        float l = logits[i];
        c[i].logit = isnan(l) ? -INFINITY : l;
        c[i].id = i;
    }
    apply_penalties(s);

    if (p->temp <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }

    bool sorted = false;
    if (p->top_k > 0 && p->top_k < n) {
        n = keep_top_k(c, n, p->top_k);
        sorted = true;
    }
    if (p->top_p < 1.0f) {
        if (!sorted) qsort(c, (size_t)n, sizeof *c, cand_cmp);
        sorted = true;
        double sum = 0.0;
        for (int32_t i = 0; i < n; i++) sum += exp((double)(c[i].logit - c[0].logit));
        double cum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)(c[i].logit - c[0].logit)) / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f && n > 1) {
        float max_l = c[0].logit;
        if (!sorted)
            for (int32_t i = 1; i < n; i++)
                if (c[i].logit > max_l) max_l = c[i].logit;
        float min_l = max_l + logf(p->min_p);
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit >= min_l) c[m++] = c[i];
        n = m;
    }

    /* temperature, softmax and the draw */
    float max_l = c[0].logit;
    for (int32_t i = 1; i < n; i++)
        if (c[i].logit > max_l) max_l = c[i].logit;
    if (isinf(max_l)) { /* all -inf, or some +inf: the first at the max */
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit == max_l) return c[i].id;
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)((c[i].logit - max_l) / p->temp));
    double target = sum * desk_rng_uniform(&s->rng);
    double run = 0.0;
    for (int32_t i = 0; i < n; i++) {
        run += exp((double)((c[i].logit - max_l) / p->temp));
        if (run > target) return c[i].id;
    }
    return c[n - 1].id;
}
