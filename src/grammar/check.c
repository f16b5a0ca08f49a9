/*
 * check.c - refusing left recursion, which the matcher cannot run: a rule
 * that can reach itself before consuming a character would make stack
 * expansion loop forever (a ::= a "x", or a ::= b "x" with b ::= a, or
 * a ::= e a with e able to match empty).
 *
 * First which rules can match empty (a fixpoint), then the graph "A can
 * start with B" (B reachable in A's alternatives past only empty-matching
 * references), then a depth-first search for a cycle in it, which the
 * error names rule by rule.
 */
#include "grammar/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NONE UINT32_MAX

static bool alt_end(uint32_t type) {
    return type == GE_END || type == GE_ALT;
}

static void nullable_rules(const desk_grammar *g, bool *nullable) {
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            for (uint32_t a = g->alt_off[r]; !nullable[r] && a < g->alt_off[r + 1]; a++) {
                uint32_t p = g->alts[a];
                while (g->elems[p].type == GE_REF && nullable[g->elems[p].value])
                    p++;
                if (alt_end(g->elems[p].type)) {
                    nullable[r] = true;
                    changed = true;
                }
            }
        }
    }
}

typedef struct graph {
    uint32_t *off; /* n_rules + 1 */
    uint32_t *to;
    uint32_t *via; /* the last empty-matching rule stepped over, or NONE */
} graph;

/* The "can start with" edges; with ADD false, only counts them. */
static uint32_t edges(const desk_grammar *g, const bool *nullable, graph *gr, bool add) {
    uint32_t n = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        if (add)
            gr->off[r] = n;
        for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1]; a++) {
            uint32_t via = NONE;
            for (uint32_t p = g->alts[a]; g->elems[p].type == GE_REF; p++) {
                uint32_t to = g->elems[p].value;
                if (add) {
                    gr->to[n] = to;
                    gr->via[n] = via;
                }
                n++;
                if (!nullable[to])
                    break;
                via = to;
            }
        }
    }
    if (add)
        gr->off[g->n_rules] = n;
    return n;
}

/* Appends rule R's name as a reader of the grammar knows it. */
static void put_rule(const desk_grammar *g, uint32_t r, char *buf, size_t size, size_t *at) {
    const desk_grule *x = &g->rules[r];
    if (*at >= size)
        return;
    int n;
    if (x->kind == GR_NAMED)
        n = snprintf(buf + *at, size - *at, "%s", x->name);
    else
        n = snprintf(buf + *at, size - *at, "(the %s at %u:%u)",
                     x->kind == GR_GROUP ? "group" : "repetition", x->line, x->col);
    if (n > 0)
        *at += (size_t)n;
}

static void put(char *buf, size_t size, size_t *at, const char *s) {
    if (*at >= size)
        return;
    int n = snprintf(buf + *at, size - *at, "%s", s);
    if (n > 0)
        *at += (size_t)n;
}

/* CYCLE[0..n) are the rules of the cycle, VIA[i] what the edge into
 * CYCLE[i] stepped over (VIA[0]: the edge that closes the cycle). */
static desk_status report(const desk_grammar *g, const uint32_t *cycle, const uint32_t *via, uint32_t n,
                          desk_err *err) {
    char msg[400];
    size_t at = 0;
    uint32_t named = cycle[0];
    for (uint32_t i = 0; i < n; i++) {
        if (g->rules[cycle[i]].kind == GR_NAMED) {
            named = cycle[i];
            break;
        }
    }
    msg[0] = '\0';
    for (uint32_t i = 0; i <= n; i++) {
        uint32_t k = i % n;
        if (i) {
            put(msg, sizeof msg, &at, " -> ");
            if (via[k] != NONE) {
                put(msg, sizeof msg, &at, "[past ");
                put_rule(g, via[k], msg, sizeof msg, &at);
                put(msg, sizeof msg, &at, ", which can match empty] ");
            }
        }
        put_rule(g, cycle[k], msg, sizeof msg, &at);
    }
    return desk_errf(err, DESK_E_FORMAT,
                     "grammar:%u:%u: left recursion (a rule reaches itself before consuming "
                     "anything): %s", g->rules[named].line, g->rules[named].col, msg);
}

desk_status desk_grammar_check_left_recursion(const desk_grammar *g, desk_err *err) {
    uint32_t n = g->n_rules;
    bool *nullable = calloc(n, sizeof *nullable);
    graph gr = {0};
    uint32_t *color = calloc(n, sizeof *color); /* 0 new, 1 on the path, 2 done */
    uint32_t *depth_of = malloc(n * sizeof *depth_of);
    uint32_t *path = malloc(n * sizeof *path), *next = malloc(n * sizeof *next);
    uint32_t *path_via = malloc(n * sizeof *path_via);
    desk_status st = DESK_OK;
    if (!nullable || !color || !depth_of || !path || !next || !path_via) {
        st = desk_errf(err, DESK_E_NOMEM, "grammar: out of memory checking for left recursion");
        goto done;
    }
    nullable_rules(g, nullable);
    uint32_t n_edges = edges(g, nullable, &gr, false);
    gr.off = malloc((n + 1) * sizeof *gr.off);
    gr.to = malloc((n_edges ? n_edges : 1) * sizeof *gr.to);
    gr.via = malloc((n_edges ? n_edges : 1) * sizeof *gr.via);
    if (!gr.off || !gr.to || !gr.via) {
        st = desk_errf(err, DESK_E_NOMEM, "grammar: out of memory checking for left recursion");
        goto done;
    }
    edges(g, nullable, &gr, true);
    for (uint32_t s = 0; s < n && st == DESK_OK; s++) {
        if (color[s])
            continue;
        uint32_t d = 0;
        path[0] = s;
        path_via[0] = NONE;
        next[0] = gr.off[s];
        depth_of[s] = 0;
        color[s] = 1;
        while (st == DESK_OK) {
            uint32_t t = path[d];
            if (next[d] == gr.off[t + 1]) {
                color[t] = 2;
                if (d == 0)
                    break;
                d--;
                continue;
            }
            uint32_t e = next[d]++, v = gr.to[e];
            if (color[v] == 1) {
                /* the path from v to t, closed by edge e */
                uint32_t k = depth_of[v];
                path_via[k] = gr.via[e];
                st = report(g, path + k, path_via + k, d - k + 1, err);
            } else if (color[v] == 0) {
                d++;
                path[d] = v;
                path_via[d] = gr.via[e];
                next[d] = gr.off[v];
                depth_of[v] = d;
                color[v] = 1;
            }
        }
    }
done:
    free(nullable);
    free(color);
    free(depth_of);
    free(path);
    free(next);
    free(path_via);
    free(gr.off);
    free(gr.to);
    free(gr.via);
    return st;
}
