/*
 * chat/chat.h - the library's own view of the chat module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/chat.h.
 */
#ifndef DESK_SRC_CHAT_H
#define DESK_SRC_CHAT_H

#include "desk/chat.h"

#endif
