/*
 * cmd_chat.c - `desk chat`: an interactive conversation with a model.
 *
 * Each turn re-renders the whole conversation in the model's chat format;
 * the engine reuses the cached prefix, so only the new turn is decoded.
 * When the conversation outgrows the context, the oldest exchanges are
 * dropped (the system prompt stays) and the cache is refilled.
 *
 * Ctrl-C while an answer streams stops the answer; at the prompt it ends
 * the program, as does Ctrl-D.  Without a terminal on standard input every
 * line is a user turn and answers go to standard output, one per line
 * group, which is how the tests drive it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"
#include "desk/files.h"
#include "gen.h"

static const char USAGE[] =
    "usage: desk chat -m MODEL [options]\n"
    "\n"
    "Talks with a model.  Commands: /reset forgets the conversation, /quit ends it,\n"
    "/help lists them.  Ctrl-C stops an answer; Ctrl-C or Ctrl-D at the prompt quits.\n"
    "Without a terminal, each line of standard input is one user turn (at most\n"
    "1 MiB, no NUL byte: anything else is an error, exit 2).\n"
    "\n";

static const char HELP[] = "/reset  forget the conversation (the system prompt stays)\n"
                           "/quit   leave (also Ctrl-D, or Ctrl-C at the prompt)\n"
                           "/help   this list\n"
                           "Ctrl-C while an answer is written stops the answer.\n";

/* The one piece of process-wide state: a signal handler can reach nothing
 * else.  Set by SIGINT, cleared by the loop once it has acted on it. */
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

typedef struct convo {
    desk_chat_msg *msgs; /* text of each is malloc'd */
    size_t n, cap;
    size_t n_fixed; /* leading messages never dropped: the system prompt */
} convo;

static bool convo_add(convo *c, desk_role role, const char *text, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        desk_chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return false;
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    c->msgs[c->n++] = (desk_chat_msg){role, copy, len};
    return true;
}

/* Removes messages [from, from + k). */
static void convo_remove(convo *c, size_t from, size_t k) {
    if (k == 0) return;
    for (size_t i = from; i < from + k; i++) free((char *)c->msgs[i].text);
    memmove(c->msgs + from, c->msgs + from + k, (c->n - from - k) * sizeof *c->msgs);
    c->n -= k;
}

/* Drops the oldest exchange: a user turn and the answers up to the next
 * user turn.  False when only the newest user turn is left. */
static bool convo_drop_oldest(convo *c) {
    size_t first = c->n_fixed;
    if (c->n - first <= 1) return false;
    size_t k = 1;
    while (first + k < c->n - 1 && c->msgs[first + k].role != DESK_ROLE_USER) k++;
    convo_remove(c, first, k);
    return true;
}

static void convo_free(convo *c) {
    convo_remove(c, 0, c->n);
    free(c->msgs);
}

typedef struct chat_state {
    const char *cmd;
    cli_gen_args *a;
    cli_gen *g;
    convo conv;
    desk_token *ids; /* n_ctx tokens */
    size_t cap;
    bool tty;
} chat_state;

static void write_out(void *user, const char *s, size_t n) {
    (void)user;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

static void note(const chat_state *cs, const char *msg) {
    /* notes go where the user looks: the terminal, else standard error */
    if (cs->tty)
        printf("[%s]\n", msg);
    else
        fprintf(stderr, "desk chat: %s\n", msg);
    fflush(stdout);
}

/* Renders the conversation, dropping old exchanges until it fits with room
 * for an answer.  Returns the token count, 0 when even the newest turn
 * alone does not fit (it is removed), or -1 on an error (printed). */
static long render_fitting(chat_state *cs) {
    int n_ctx = desk_engine_n_ctx(cs->g->engine);
    size_t reserve = (size_t)(cs->a->n_predict < n_ctx / 4 ? cs->a->n_predict : n_ctx / 4);
    bool dropped = false;
    for (;;) {
        size_t n = 0;
        desk_err err = {0};
        desk_status st =
            desk_chat_render_tokens(cs->g->fmt, desk_model_tokenizer(cs->g->model), cs->conv.msgs,
                                    cs->conv.n, true, cs->ids, cs->cap, &n, &err);
        if (st != DESK_OK && st != DESK_E_RANGE) {
            cli_fail_err(cs->cmd, &err);
            return -1;
        }
        if (st == DESK_OK && n + reserve <= (size_t)n_ctx) {
            if (dropped) note(cs, "context full: dropped the oldest turns");
            return (long)n;
        }
        if (!convo_drop_oldest(&cs->conv)) {
            convo_remove(&cs->conv, cs->conv.n - 1, 1);
            note(cs, "that message is too long for the context; try a shorter one or raise --ctx");
            return 0;
        }
        dropped = true;
    }
}

/* One user turn: render, generate, remember the answer.  Returns false on
 * a fatal error (already reported). */
static bool turn(chat_state *cs, const char *line, size_t len) {
    if (!convo_add(&cs->conv, DESK_ROLE_USER, line, len)) {
        cli_fail(cs->cmd, DESK_EXIT_FAIL, "out of memory");
        return false;
    }
    long n = render_fitting(cs);
    if (n < 0) return false;
    if (n == 0) return true;
    desk_gen_opts o = {
        .n_predict = cs->a->n_predict,
        .stops = cs->a->stops,
        .n_stops = cs->a->n_stops,
        .stop_ids = cs->g->eot >= 0 ? &cs->g->eot : NULL,
        .n_stop_ids = cs->g->eot >= 0 ? 1 : 0,
        .on_text = write_out,
        .cancel = &g_interrupted,
    };
    desk_gen_stats st;
    desk_err err = {0};
    g_interrupted = 0;
    if (desk_engine_generate(cs->g->engine, cs->ids, (size_t)n, &o, &st, &err) != DESK_OK) {
        putchar('\n');
        cli_fail_err(cs->cmd, &err);
        return false;
    }
    putchar('\n');
    size_t tlen;
    const char *text = desk_engine_text(cs->g->engine, &tlen);
    if (!convo_add(&cs->conv, DESK_ROLE_ASSISTANT, text, tlen)) {
        cli_fail(cs->cmd, DESK_EXIT_FAIL, "out of memory");
        return false;
    }
    if (st.stop == DESK_STOP_CANCELLED) note(cs, "stopped");
    if (st.stop == DESK_STOP_CONTEXT) note(cs, "context full: the answer was cut short");
    if (cs->a->stats) cli_gen_print_stats(cs->a, &st);
    g_interrupted = 0;
    return true;
}

/* One line of standard input (not a terminal), without its newline, at
 * most DESK_LINE_MAX bytes and with no NUL byte.  Returns 1 with *LINE set
 * (malloc'd), 0 at the end of input, or -1 after printing a one-line error
 * (*CODE: its exit code). */
static int read_piped_line(const chat_state *cs, char **line, int *code) {
    static unsigned long long line_no;
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    if (!s) {
        *code = cli_fail(cs->cmd, DESK_EXIT_FAIL, "out of memory");
        return -1;
    }
    line_no++;
    int c;
    while ((c = getc(stdin)) != EOF && c != '\n') {
        if (c == 0) {
            free(s);
            *code = cli_fail(cs->cmd, DESK_EXIT_USAGE, "standard input line %llu contains a NUL byte", line_no);
            return -1;
        }
        if (n == DESK_LINE_MAX) {
            free(s);
            *code = cli_fail(cs->cmd, DESK_EXIT_USAGE, "standard input line %llu is longer than %zu bytes", line_no,
                             DESK_LINE_MAX);
            return -1;
        }
        if (n + 1 == cap) {
            char *p = realloc(s, cap * 2);
            if (!p) {
                free(s);
                *code = cli_fail(cs->cmd, DESK_EXIT_FAIL, "out of memory");
                return -1;
            }
            s = p;
            cap *= 2;
        }
        s[n++] = (char)c;
    }
    if (c == EOF && ferror(stdin) && !g_interrupted) {
        free(s);
        *code = cli_fail(cs->cmd, DESK_EXIT_FAIL, "cannot read standard input: %s", strerror(errno));
        return -1;
    }
    if (c == EOF && n == 0) {
        free(s);
        return 0;
    }
    s[n] = '\0';
    *line = s;
    return 1;
}

/* Reads one line: libedit on a terminal, plain stdio otherwise.  Returns
 * 1 with *LINE (freed by the caller), 0 at the end of input or on Ctrl-C,
 * -1 after an error (printed; *CODE its exit code). */
static int read_line(const chat_state *cs, char **line, int *code) {
    if (cs->tty) {
        char *s = readline("> ");
        if (g_interrupted) {
            free(s);
            return 0;
        }
        if (s && *s) add_history(s);
        *line = s;
        return s != NULL;
    }
    return read_piped_line(cs, line, code);
}

int cmd_chat(int argc, char **argv) {
    const char *cmd = "chat";
    cli_gen_args a;
    cli_gen_defaults(&a, 512);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("%s%s", USAGE, CLI_GEN_USAGE);
            return 0;
        }
        int r = cli_gen_parse(cmd, &a, argc, argv, &i);
        if (r < 0) return DESK_EXIT_USAGE;
        if (r == 0)
            return cli_fail(cmd, DESK_EXIT_USAGE, "unknown argument '%s' (see desk chat --help)",
                            argv[i]);
    }
    cli_gen g;
    int rc = cli_gen_open(cmd, &a, &g);
    if (rc) return rc;
    chat_state cs = {.cmd = cmd, .a = &a, .g = &g, .tty = isatty(STDIN_FILENO) == 1};
    if (g.warning) fprintf(stderr, "desk chat: warning: %s\n", g.warning);
    cs.cap = (size_t)desk_engine_n_ctx(g.engine);
    cs.ids = malloc(cs.cap * sizeof *cs.ids);
    if (!cs.ids || (a.system && !convo_add(&cs.conv, DESK_ROLE_SYSTEM, a.system, strlen(a.system)))) {
        free(cs.ids);
        cli_gen_close(&g);
        return cli_fail(cmd, DESK_EXIT_FAIL, "out of memory");
    }
    cs.conv.n_fixed = cs.conv.n;

    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: a read at the prompt is interrupted */
    sigaction(SIGINT, &sa, &old_sa);
    if (cs.tty)
        printf("desk chat with %s (%s format). /help for commands, Ctrl-D to quit.\n",
               desk_model_name(g.model), desk_chat_fmt_name(g.fmt));

    for (;;) {
        char *line = NULL;
        int got = read_line(&cs, &line, &rc);
        if (got <= 0) break;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        bool go_on = true;
        if (len == 0) {
            /* nothing to say */
        } else if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) {
            go_on = false;
        } else if (strcmp(line, "/reset") == 0) {
            convo_remove(&cs.conv, cs.conv.n_fixed, cs.conv.n - cs.conv.n_fixed);
            desk_engine_reset(g.engine);
            note(&cs, "conversation cleared");
        } else if (strcmp(line, "/help") == 0) {
            fputs(HELP, cs.tty ? stdout : stderr);
        } else if (line[0] == '/' && !strchr(line, ' ')) {
            note(&cs, "unknown command; /help lists them");
        } else if (!turn(&cs, line, len)) {
            rc = DESK_EXIT_FAIL;
            go_on = false;
        }
        free(line);
        if (!go_on) break;
    }
    if (cs.tty) putchar('\n');
    sigaction(SIGINT, &old_sa, NULL);
    convo_free(&cs.conv);
    free(cs.ids);
    cli_gen_close(&g);
    return rc;
}
