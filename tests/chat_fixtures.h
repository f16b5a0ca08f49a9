/*
 * chat_fixtures.h - the conversation and template texts that test_chat.c
 * and test_chat_tokens.c both use.
 */
#ifndef DESK_TEST_CHAT_FIXTURES_H
#define DESK_TEST_CHAT_FIXTURES_H

#include "chat/chat.h"

#define MSG(r, s) {r, s, sizeof(s) - 1}

/* The assistant's spaces show which families trim messages. */
static const desk_chat_msg CONVO[] = {
    MSG(DESK_ROLE_SYSTEM, "You are terse."),
    MSG(DESK_ROLE_USER, "Hi"),
    MSG(DESK_ROLE_ASSISTANT, " Hello! "),
    MSG(DESK_ROLE_USER, "Capital of France?"),
};
#define N_CONVO (sizeof CONVO / sizeof CONVO[0])

/* SmolLM2-135M-Instruct's tokenizer.chat_template, byte for byte as the
 * cached GGUF holds it. */
static const char SMOLLM2_TMPL[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";

#endif
