/*
 * test_chat.c - chat templates: each family's exact text for a three-turn
 * conversation with a system prompt (expected strings written out from the
 * formats of llama.cpp's llm_chat_apply_template), detection from real
 * template texts, and buffer handling.  Rendering to tokens is in
 * test_chat_tokens.c.
 */
#include "util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

#include "chat_fixtures.h"

static void expect_render(desk_chat_fmt f, const char *want) {
    char buf[2048];
    size_t n = desk_chat_render_text(f, CONVO, N_CONVO, true, buf, sizeof buf);
    if (strcmp(buf, want) != 0) fprintf(stderr, "format %s rendered:\n[%s]\n", desk_chat_fmt_name(f), buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_chatml(void **state) {
    (void)state;
    expect_render(DESK_CHAT_CHATML,
                  "<|im_start|>system\nYou are terse.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n"
                  "<|im_start|>assistant\n Hello! <|im_end|>\n"
                  "<|im_start|>user\nCapital of France?<|im_end|>\n"
                  "<|im_start|>assistant\n");
    expect_render(DESK_CHAT_PHI4,
                  "<|im_start|>system<|im_sep|>You are terse.<|im_end|>"
                  "<|im_start|>user<|im_sep|>Hi<|im_end|>"
                  "<|im_start|>assistant<|im_sep|> Hello! <|im_end|>"
                  "<|im_start|>user<|im_sep|>Capital of France?<|im_end|>"
                  "<|im_start|>assistant<|im_sep|>");
}

static void test_llama3(void **state) {
    (void)state;
    expect_render(DESK_CHAT_LLAMA3,
                  "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nCapital of France?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_llama2_mistral(void **state) {
    (void)state;
    expect_render(DESK_CHAT_LLAMA2_SYS,
                  "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
                  "[INST] Capital of France? [/INST]");
    expect_render(DESK_CHAT_LLAMA2,
                  "[INST] You are terse.\nHi [/INST] Hello! </s>[INST] Capital of France? [/INST]");
    expect_render(DESK_CHAT_LLAMA2_SYS_BOS,
                  "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
                  "<s>[INST] Capital of France? [/INST]");
    expect_render(DESK_CHAT_LLAMA2_SYS_STRIP,
                  "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST]Hello!</s>"
                  "[INST] Capital of France? [/INST]");
    expect_render(DESK_CHAT_MISTRAL_V1,
                  " [INST] You are terse.\n\nHi [/INST]  Hello! </s> [INST] Capital of France? [/INST]");
    expect_render(DESK_CHAT_MISTRAL_V3,
                  "[INST] You are terse.\n\nHi[/INST] Hello!</s>[INST] Capital of France?[/INST]");
    expect_render(DESK_CHAT_MISTRAL_V3_TEKKEN,
                  "[INST]You are terse.\n\nHi[/INST] Hello! </s>[INST]Capital of France?[/INST]");
    expect_render(DESK_CHAT_MISTRAL_V7,
                  "[SYSTEM_PROMPT] You are terse.[/SYSTEM_PROMPT][INST] Hi[/INST]  Hello! </s>"
                  "[INST] Capital of France?[/INST]");
    expect_render(DESK_CHAT_MISTRAL_V7_TEKKEN,
                  "[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST]Hi[/INST] Hello! </s>"
                  "[INST]Capital of France?[/INST]");
}

static void test_gemma(void **state) {
    (void)state;
    expect_render(DESK_CHAT_GEMMA,
                  "<start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\nHello!<end_of_turn>\n"
                  "<start_of_turn>user\nCapital of France?<end_of_turn>\n"
                  "<start_of_turn>model\n");
    /* without a system prompt there is no blank line to fold in */
    char buf[256];
    desk_chat_render_text(DESK_CHAT_GEMMA, CONVO + 1, 1, true, buf, sizeof buf);
    assert_string_equal(buf, "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
}

static void test_phi3_zephyr(void **state) {
    (void)state;
    expect_render(DESK_CHAT_PHI3,
                  "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n"
                  "<|assistant|>\n Hello! <|end|>\n<|user|>\nCapital of France?<|end|>\n"
                  "<|assistant|>\n");
    expect_render(DESK_CHAT_ZEPHYR,
                  "<|system|>\nYou are terse.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n"
                  "<|assistant|>\n Hello! <|endoftext|>\n<|user|>\nCapital of France?<|endoftext|>\n"
                  "<|assistant|>\n");
}

static void test_no_generation_prompt(void **state) {
    (void)state;
    char buf[512];
    desk_chat_render_text(DESK_CHAT_CHATML, CONVO, 2, false, buf, sizeof buf);
    assert_string_equal(buf, "<|im_start|>system\nYou are terse.<|im_end|>\n"
                             "<|im_start|>user\nHi<|im_end|>\n");
}

static void test_small_buffer(void **state) {
    (void)state;
    char buf[10];
    memset(buf, 'x', sizeof buf);
    size_t need = desk_chat_render_text(DESK_CHAT_CHATML, CONVO, N_CONVO, true, buf, sizeof buf);
    assert_true(need > sizeof buf);
    assert_string_equal(buf, "<|im_star");
    assert_int_equal(desk_chat_render_text(DESK_CHAT_CHATML, CONVO, N_CONVO, true, NULL, 0), need);
}


/* Gemma 3 instruction-tuned models' template (the 270m base file in the
 * cache carries none), abridged to its structure. */
static const char GEMMA3_TMPL[] =
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {{ message['content'] | trim }}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n";

static void test_detect(void **state) {
    (void)state;
    assert_int_equal(desk_chat_detect(SMOLLM2_TMPL), DESK_CHAT_CHATML);
    assert_int_equal(desk_chat_detect(GEMMA3_TMPL), DESK_CHAT_GEMMA);
    /* Meta-Llama-3-8B-Instruct */
    assert_int_equal(
        desk_chat_detect("{% set loop_messages = messages %}{% for message in loop_messages %}"
                         "{% set content = '<|start_header_id|>' + message['role'] + "
                         "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
                         "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
                         "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
                         "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
        DESK_CHAT_LLAMA3);
    /* Llama-2-chat style with <<SYS>>, and Mistral-7B-Instruct-v0.2 without */
    assert_int_equal(desk_chat_detect("{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + "
                                      "message['content'] + '\\n<</SYS>>\\n\\n' }}{% elif "
                                      "message['role'] == 'user' %}{{ '[INST] ' + "
                                      "message['content'] + ' [/INST]' }}{% endif %}"),
                     DESK_CHAT_LLAMA2_SYS);
    assert_int_equal(desk_chat_detect("{{ bos_token }}{% for message in messages %}{% if "
                                      "message['role'] == 'user' %}{{ '[INST] ' + "
                                      "message['content'] + ' [/INST]' }}{% elif message['role'] "
                                      "== 'assistant' %}{{ message['content'] + eos_token}}"
                                      "{% endif %}{% endfor %}"),
                     DESK_CHAT_LLAMA2);
    assert_int_equal(desk_chat_detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
                                      "<<SYS>>"),
                     DESK_CHAT_LLAMA2_SYS_STRIP);
    assert_int_equal(desk_chat_detect("{%- if message['role'] == 'system' %}{{- "
                                      "'[SYSTEM_PROMPT]' + message['content'] + "
                                      "'[/SYSTEM_PROMPT]' }}{%- elif %}{{- '[INST]' }}"),
                     DESK_CHAT_MISTRAL_V7);
    /* Phi-3-mini */
    assert_int_equal(desk_chat_detect("{% for message in messages %}{% if message['role'] == "
                                      "'system' %}{{'<|system|>\n' + message['content'] + "
                                      "'<|end|>\n'}}{% elif message['role'] == 'user' %}"
                                      "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
                                      "{% elif message['role'] == 'assistant' %}"
                                      "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
                                      "{% endif %}{% endfor %}{% if add_generation_prompt %}"
                                      "{{ '<|assistant|>\n' }}{% endif %}"),
                     DESK_CHAT_PHI3);
    /* Zephyr */
    assert_int_equal(desk_chat_detect("{% for message in messages %}{% if message['role'] == "
                                      "'user' %}{{ '<|user|>\n' + message['content'] + "
                                      "'<|endoftext|>' }}{% endif %}{% endfor %}"),
                     DESK_CHAT_ZEPHYR);
    /* phi-4 is chatml with <|im_sep|> */
    assert_int_equal(desk_chat_detect("<|im_start|>{{ message['role'] }}<|im_sep|>"), DESK_CHAT_PHI4);
    /* families desk does not render are not mistaken for one it does */
    assert_int_equal(desk_chat_detect("{{ 'USER: ' + content }}{{ 'ASSISTANT: ' }}"
                                      "<|start_header_id|><|end_header_id|>"),
                     DESK_CHAT_UNKNOWN);
    assert_int_equal(desk_chat_detect("{{ message.content }}"), DESK_CHAT_UNKNOWN);
    assert_int_equal(desk_chat_detect(NULL), DESK_CHAT_UNKNOWN);
    /* names */
    for (int f = 1; f < DESK_CHAT_N_FMT; f++)
        assert_int_equal(desk_chat_detect(desk_chat_fmt_name((desk_chat_fmt)f)), f);
    assert_string_equal(desk_chat_end_of_turn(DESK_CHAT_GEMMA), "<end_of_turn>");
    assert_string_equal(desk_chat_end_of_turn(DESK_CHAT_CHATML), "<|im_end|>");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml),       cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_llama2_mistral), cmocka_unit_test(test_gemma),
        cmocka_unit_test(test_phi3_zephyr),  cmocka_unit_test(test_no_generation_prompt),
        cmocka_unit_test(test_small_buffer), cmocka_unit_test(test_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
