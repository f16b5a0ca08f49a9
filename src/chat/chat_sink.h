/*
 * chat_sink.h - inside the chat module: the renderers' output interface.
 *
 * A renderer (chat.c) emits a conversation as a sequence of markers (the
 * format's <|im_start|>, [INST], ...) and text pieces; a sink decides what
 * they become: one string (desk_chat_render_text) or token ids, markers by
 * id (desk_chat_render_tokens, chat_tokens.c).
 */
#ifndef DESK_CHAT_SINK_H
#define DESK_CHAT_SINK_H

#include "chat/chat.h"

typedef struct desk_chat_sink {
    void (*text)(void *user, const char *s, size_t n); /* template or message text */
    void (*marker)(void *user, const char *s);         /* a format marker, NUL-terminated */
    void *user;
} desk_chat_sink;

/* Renders N messages (and the generation prompt with GEN) into SINK. */
void desk_chat_render_to(desk_chat_fmt f, const desk_chat_msg *msgs, size_t n, bool gen,
                         const desk_chat_sink *sink);

#endif
