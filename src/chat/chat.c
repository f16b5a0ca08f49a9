/*
 * chat.c - chat template detection and rendering to text (see chat.h).
 *
 * Each family's renderer is written once against a sink (chat_sink.h) that
 * receives two kinds of pieces: markers, and text (the template's and the
 * messages').  The text sink here concatenates both; the token sink in
 * chat_tokens.c turns markers into control ids.  This file needs no
 * tokenizer, so the formats can be tested alone.
 */
#include "chat/chat.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat_sink.h"

/* ---- names and detection ---------------------------------------------- */

static const char *const FMT_NAMES[DESK_CHAT_N_FMT] = {
    [DESK_CHAT_UNKNOWN] = "unknown",
    [DESK_CHAT_CHATML] = "chatml",
    [DESK_CHAT_PHI4] = "phi4",
    [DESK_CHAT_LLAMA2] = "llama2",
    [DESK_CHAT_LLAMA2_SYS] = "llama2-sys",
    [DESK_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [DESK_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [DESK_CHAT_MISTRAL_V1] = "mistral-v1",
    [DESK_CHAT_MISTRAL_V3] = "mistral-v3",
    [DESK_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [DESK_CHAT_MISTRAL_V7] = "mistral-v7",
    [DESK_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [DESK_CHAT_PHI3] = "phi3",
    [DESK_CHAT_ZEPHYR] = "zephyr",
    [DESK_CHAT_GEMMA] = "gemma",
    [DESK_CHAT_LLAMA3] = "llama3",
};

const char *desk_chat_fmt_name(desk_chat_fmt f) {
    return (unsigned)f < DESK_CHAT_N_FMT ? FMT_NAMES[f] : "unknown";
}

const char *desk_chat_end_of_turn(desk_chat_fmt f) {
    switch (f) {
    case DESK_CHAT_CHATML: case DESK_CHAT_PHI4: return "<|im_end|>";
    case DESK_CHAT_PHI3: return "<|end|>";
    case DESK_CHAT_ZEPHYR: return "<|endoftext|>";
    case DESK_CHAT_GEMMA: return "<end_of_turn>";
    case DESK_CHAT_LLAMA3: return "<|eot_id|>";
    case DESK_CHAT_UNKNOWN: case DESK_CHAT_N_FMT: return "<|im_end|>";
    default: return "</s>"; /* the llama2 and mistral families */
    }
}

static bool has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

desk_chat_fmt desk_chat_detect(const char *t) {
    if (!t) return DESK_CHAT_UNKNOWN;
    for (int f = 1; f < DESK_CHAT_N_FMT; f++)
        if (strcmp(t, FMT_NAMES[f]) == 0) return (desk_chat_fmt)f;
    /* The order of these tests is llama.cpp's: earlier families win, and
     * families desk does not render must still claim their templates
     * before a later, looser test would. */
    if (has(t, "<|im_start|>")) {
        if (has(t, "<|im_sep|>")) return DESK_CHAT_PHI4;
        if (has(t, "<end_of_utterance>")) return DESK_CHAT_UNKNOWN; /* SmolVLM */
        return DESK_CHAT_CHATML;
    }
    if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) return DESK_CHAT_MISTRAL_V7;
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]")) return DESK_CHAT_MISTRAL_V1;
            if (has(t, "\"[INST]\"")) return DESK_CHAT_MISTRAL_V3_TEKKEN;
            return DESK_CHAT_MISTRAL_V3;
        }
        if (has(t, "content.strip()")) return DESK_CHAT_LLAMA2_SYS_STRIP;
        if (has(t, "bos_token + '[INST]")) return DESK_CHAT_LLAMA2_SYS_BOS;
        if (has(t, "<<SYS>>")) return DESK_CHAT_LLAMA2_SYS;
        return DESK_CHAT_LLAMA2;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) return DESK_CHAT_PHI3;
    if (has(t, "[gMASK]<sop>")) return DESK_CHAT_UNKNOWN;                         /* chatglm4 */
    if (has(t, "<|assistant|>") && has(t, "<|user|>")) return DESK_CHAT_UNKNOWN;  /* falcon3, glm */
    if (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>")) return DESK_CHAT_UNKNOWN;
    if (has(t, "<|user|>") && has(t, "<|endoftext|>")) return DESK_CHAT_ZEPHYR;
    if (has(t, "bos_token + message['role']")) return DESK_CHAT_UNKNOWN;          /* monarch */
    if (has(t, "<start_of_turn>")) return DESK_CHAT_GEMMA;
    if (has(t, "'\\n\\nAssistant: ' + eos_token")) return DESK_CHAT_UNKNOWN;     /* orion */
    if (has(t, "GPT4 Correct ")) return DESK_CHAT_UNKNOWN;                       /* openchat */
    if (has(t, "USER: ") && has(t, "ASSISTANT: ")) return DESK_CHAT_UNKNOWN;      /* vicuna */
    if (has(t, "### Instruction:") && has(t, "<|EOT|>")) return DESK_CHAT_UNKNOWN; /* deepseek */
    if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")) return DESK_CHAT_UNKNOWN;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return DESK_CHAT_LLAMA3;
    return DESK_CHAT_UNKNOWN;
}

/* ---- pieces ----------------------------------------------------------- */

typedef desk_chat_sink emitter;

static void lit(const emitter *e, const char *s) { e->text(e->user, s, strlen(s)); }
static void marker(const emitter *e, const char *s) { e->marker(e->user, s); }

static void trimmed(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)(*s)[0])) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* Message text, optionally trimmed of surrounding whitespace as the
 * family's template does. */
static void content(const emitter *e, const desk_chat_msg *m, bool trim) {
    const char *s = m->text;
    size_t n = m->len;
    if (trim) trimmed(&s, &n);
    e->text(e->user, s, n);
}

static const char *role_name(desk_role r) {
    return r == DESK_ROLE_SYSTEM ? "system" : r == DESK_ROLE_USER ? "user" : "assistant";
}

/* ---- the families ------------------------------------------------------ */

static void render_chatml(const emitter *e, const desk_chat_msg *m, size_t n, bool gen, bool phi4) {
    for (size_t i = 0; i < n; i++) {
        marker(e, "<|im_start|>");
        lit(e, role_name(m[i].role));
        if (phi4)
            marker(e, "<|im_sep|>");
        else
            lit(e, "\n");
        content(e, &m[i], false);
        marker(e, "<|im_end|>");
        if (!phi4) lit(e, "\n");
    }
    if (gen) {
        marker(e, "<|im_start|>");
        lit(e, "assistant");
        if (phi4)
            marker(e, "<|im_sep|>");
        else
            lit(e, "\n");
    }
}

static void render_mistral_v7(const emitter *e, const desk_chat_msg *m, size_t n, bool tekken) {
    const char *sp = tekken ? "" : " ";
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == DESK_ROLE_SYSTEM) {
            marker(e, "[SYSTEM_PROMPT]");
            lit(e, sp);
            content(e, &m[i], false);
            marker(e, "[/SYSTEM_PROMPT]");
        } else if (m[i].role == DESK_ROLE_USER) {
            marker(e, "[INST]");
            lit(e, sp);
            content(e, &m[i], false);
            marker(e, "[/INST]");
        } else {
            lit(e, sp);
            content(e, &m[i], false);
            marker(e, "</s>");
        }
    }
}

static void render_mistral(const emitter *e, const desk_chat_msg *m, size_t n, desk_chat_fmt f) {
    const char *lead = f == DESK_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = f == DESK_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            lit(e, lead);
            marker(e, "[INST]");
            lit(e, trail);
            inside = true;
        }
        if (m[i].role == DESK_ROLE_SYSTEM) {
            content(e, &m[i], false);
            lit(e, "\n\n");
        } else if (m[i].role == DESK_ROLE_USER) {
            content(e, &m[i], false);
            lit(e, lead);
            marker(e, "[/INST]");
        } else {
            lit(e, trail);
            content(e, &m[i], f == DESK_CHAT_MISTRAL_V3);
            marker(e, "</s>");
            inside = false;
        }
    }
}

static void render_llama2(const emitter *e, const desk_chat_msg *m, size_t n, desk_chat_fmt f) {
    bool sys = f != DESK_CHAT_LLAMA2;
    bool strip = f == DESK_CHAT_LLAMA2_SYS_STRIP;
    bool inside = true; /* the first [INST] follows the tokenizer's BOS */
    marker(e, "[INST]");
    lit(e, " ");
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            if (f == DESK_CHAT_LLAMA2_SYS_BOS) marker(e, "<s>");
            marker(e, "[INST]");
            lit(e, " ");
        }
        if (m[i].role == DESK_ROLE_SYSTEM) {
            if (sys) lit(e, "<<SYS>>\n");
            content(e, &m[i], strip);
            lit(e, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (m[i].role == DESK_ROLE_USER) {
            content(e, &m[i], strip);
            lit(e, " ");
            marker(e, "[/INST]");
        } else {
            content(e, &m[i], strip);
            marker(e, "</s>");
            inside = false;
        }
    }
}

/* phi3 and zephyr: <|role|> markers, differing in the turn's end marker. */
static void render_role_tags(const emitter *e, const desk_chat_msg *m, size_t n, bool gen,
                             const char *end) {
    for (size_t i = 0; i < n; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "<|%s|>", role_name(m[i].role));
        marker(e, tag);
        lit(e, "\n");
        content(e, &m[i], false);
        marker(e, end);
        lit(e, "\n");
    }
    if (gen) {
        marker(e, "<|assistant|>");
        lit(e, "\n");
    }
}

static void render_gemma(const emitter *e, const desk_chat_msg *m, size_t n, bool gen) {
    /* Gemma has no system role: system text (trimmed, concatenated) opens
     * the next user turn, followed by a blank line. */
    const desk_chat_msg *sys[8];
    size_t n_sys = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == DESK_ROLE_SYSTEM) {
            if (n_sys < sizeof sys / sizeof sys[0]) sys[n_sys++] = &m[i];
            continue;
        }
        bool model = m[i].role == DESK_ROLE_ASSISTANT;
        marker(e, "<start_of_turn>");
        lit(e, model ? "model\n" : "user\n");
        if (!model && n_sys) {
            size_t total = 0;
            for (size_t k = 0; k < n_sys; k++) {
                const char *t = sys[k]->text;
                size_t tn = sys[k]->len;
                trimmed(&t, &tn);
                total += tn;
                content(e, sys[k], true);
            }
            if (total) lit(e, "\n\n");
            n_sys = 0;
        }
        content(e, &m[i], true);
        marker(e, "<end_of_turn>");
        lit(e, "\n");
    }
    if (gen) {
        marker(e, "<start_of_turn>");
        lit(e, "model\n");
    }
}

static void render_llama3(const emitter *e, const desk_chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        marker(e, "<|start_header_id|>");
        lit(e, role_name(m[i].role));
        marker(e, "<|end_header_id|>");
        lit(e, "\n\n");
        content(e, &m[i], true);
        marker(e, "<|eot_id|>");
    }
    if (gen) {
        marker(e, "<|start_header_id|>");
        lit(e, "assistant");
        marker(e, "<|end_header_id|>");
        lit(e, "\n\n");
    }
}

void desk_chat_render_to(desk_chat_fmt f, const desk_chat_msg *m, size_t n, bool gen,
                         const desk_chat_sink *e) {
    switch (f) {
    case DESK_CHAT_PHI4: render_chatml(e, m, n, gen, true); break;
    case DESK_CHAT_LLAMA2: case DESK_CHAT_LLAMA2_SYS:
    case DESK_CHAT_LLAMA2_SYS_BOS: case DESK_CHAT_LLAMA2_SYS_STRIP:
        render_llama2(e, m, n, f);
        break;
    case DESK_CHAT_MISTRAL_V1: case DESK_CHAT_MISTRAL_V3: case DESK_CHAT_MISTRAL_V3_TEKKEN:
        render_mistral(e, m, n, f);
        break;
    case DESK_CHAT_MISTRAL_V7: render_mistral_v7(e, m, n, false); break;
    case DESK_CHAT_MISTRAL_V7_TEKKEN: render_mistral_v7(e, m, n, true); break;
    case DESK_CHAT_PHI3: render_role_tags(e, m, n, gen, "<|end|>"); break;
    case DESK_CHAT_ZEPHYR: render_role_tags(e, m, n, gen, "<|endoftext|>"); break;
    case DESK_CHAT_GEMMA: render_gemma(e, m, n, gen); break;
    case DESK_CHAT_LLAMA3: render_llama3(e, m, n, gen); break;
    default: render_chatml(e, m, n, gen, false); break;
    }
}

typedef struct text_buf {
    char *buf;
    size_t cap, len; /* len counts everything, also what did not fit */
} text_buf;

static void text_put(void *user, const char *s, size_t n) {
    text_buf *b = user;
    if (b->len < b->cap) {
        size_t room = b->cap - b->len;
        memcpy(b->buf + b->len, s, n < room ? n : room);
    }
    b->len += n;
}

static void text_marker(void *user, const char *s) { text_put(user, s, strlen(s)); }

size_t desk_chat_render_text(desk_chat_fmt f, const desk_chat_msg *msgs, size_t n, bool add_gen,
                             char *buf, size_t cap) {
    text_buf b = {.buf = buf, .cap = cap};
    desk_chat_sink sink = {.text = text_put, .marker = text_marker, .user = &b};
    desk_chat_render_to(f, msgs, n, add_gen, &sink);
    if (buf && cap) buf[b.len < cap ? b.len : cap - 1] = '\0';
    return b.len;
}
