#!/usr/bin/env python3
"""test_serve_tool_formats.py - desk serve's tool calling in the models' own
formats: Llama 3.x ({"name", "parameters"}) and Mistral ([TOOL_CALLS][...]),
through the real `openai` client, on random-weight models (`desk synth
--chat-template`) with SmolLM2's vocabulary: the grammar makes even random
weights write a valid call.

  - /apply-template equals, byte for byte, the official templates (Llama
    3.1, 3.2, 3.3 and Mistral Nemo) rendered with jinja2 for conversations
    with tools, calls and results (tests/data/chat_tools/expected.json, see
    its README);
  - tool_choice "required" and a named function give a call whose
    arguments validate, finish_reason "tool_calls"; streamed == non-streamed,
    the first chunk of a call carrying its index, id, type and name;
    Mistral's ids are 9 letters and digits; "none" gives text; "auto" keeps
    text that does not open a call as content;
  - the openai client's whole flow (call, result, answer), streamed and not;
  - bad input for these formats (two calls in one Llama turn, an id Mistral
    cannot take) is a 400 naming the field;
  - chatml and gemma models keep Hermes' <tool_call> format.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import DESK, SANITIZED, Server, check, failures, raw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "..", "data", "chat_tools", "expected.json")
FORMATS = {"l3": "llama3", "mi": "mistral-v3-tekken", "mi7": "mistral-v7"}
if SANITIZED:  # every code path, fewer models and tokens
    FORMATS = {"l3": "llama3", "mi": "mistral-v3-tekken"}
SEEDS = [1] if SANITIZED else [1, 2, 3]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "maxLength": 12},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers",
    "parameters": {"type": "object",
                   "properties": {"a": {"type": "integer", "minimum": -1000, "maximum": 1000},
                                  "b": {"type": "integer", "minimum": -1000, "maximum": 1000}},
                   "required": ["a", "b"], "additionalProperties": False}}}
TOOLS = [WEATHER, ADD]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather like in Paris today?"}]


def calls_ok(calls, names, mistral):
    if not calls:
        return False
    for c in calls:
        if c.type != "function" or c.function.name not in names or not c.id:
            return False
        if mistral and not re.fullmatch(r"[A-Za-z0-9]{9}", c.id):
            return False
        try:
            jsonschema.validate(json.loads(c.function.arguments), PARAMS[c.function.name])
        except (ValueError, jsonschema.ValidationError):
            return False
    return True


def call_tuple(calls):
    return [(c.function.name, c.function.arguments) for c in calls or []]


def templates(s):
    exp = json.load(open(EXPECTED))
    fmt_model = {v: k for k, v in FORMATS.items()}
    n = 0
    for c in exp:
        st, _, data = raw(s.port, "POST", "/apply-template",
                          json.dumps(dict(model=fmt_model[c["format"]], **c["request"])))
        got = json.loads(data).get("prompt") if st == 200 else data
        n += got == c["prompt"]
        check(f"apply-template == {c['template']} for '{c['name']}'", got == c["prompt"], (c["prompt"], got))
    check("every reference render compared", n == len(exp) and len(exp) >= 20, n)


def calls(cl):
    for model, fmt in FORMATS.items():
        mistral = fmt.startswith("mistral")
        for choice, names in [("required", {"get_weather", "add"}),
                              ({"type": "function", "function": {"name": "add"}}, {"add"})]:
            label = choice if isinstance(choice, str) else "named"
            for seed in SEEDS:
                kw = dict(model=model, messages=ASK, tools=TOOLS, tool_choice=choice, max_tokens=200, seed=seed,
                          parallel_tool_calls=False)
                ch = cl.chat.completions.create(**kw).choices[0]
                one = len(ch.message.tool_calls or []) == 1 if fmt == "llama3" else True
                check(f"{fmt} tool_choice {label} seed {seed}: valid calls, finish tool_calls",
                      ch.finish_reason == "tool_calls" and ch.message.content is None and one and
                      calls_ok(ch.message.tool_calls, names, mistral), ch)
                with cl.chat.completions.stream(**kw) as st:
                    fin = st.get_final_completion().choices[0]
                check(f"{fmt} tool_choice {label} seed {seed}: streamed calls == non-streamed",
                      call_tuple(fin.message.tool_calls) == call_tuple(ch.message.tool_calls) and
                      fin.finish_reason == "tool_calls" and calls_ok(fin.message.tool_calls, names, mistral),
                      (fin, ch))
        if mistral and not SANITIZED:  # several calls in one [TOOL_CALLS] list (the default)
            ch = cl.chat.completions.create(model=model, messages=ASK, tools=TOOLS, tool_choice="required",
                                            max_tokens=300, seed=4).choices[0]
            check(f"{fmt} parallel calls: all valid (or cut at max_tokens)",
                  calls_ok(ch.message.tool_calls, {"get_weather", "add"}, mistral) or ch.finish_reason == "length",
                  ch)
        deltas = [d for c in cl.chat.completions.create(model=model, messages=ASK, tools=TOOLS, stream=True,
                                                        tool_choice="required", max_tokens=200, seed=1,
                                                        parallel_tool_calls=False)
                  if c.choices for d in (c.choices[0].delta.tool_calls or [])]
        firsts = [d for d in deltas if d.id]
        check(f"{fmt} stream: a call's first chunk has index, id, type, name and arguments \"\"",
              firsts and all(d.type == "function" and d.function.name and d.function.arguments == "" and
                             d.index is not None for d in firsts), deltas[:3])
        check(f"{fmt} stream: later chunks carry the index and argument bytes only",
              all(d.id is None and d.type is None and d.function.name is None and d.index is not None
                  for d in deltas if not d.id), deltas[:4])
        for choice in ("none", "auto"):
            kw = dict(model=model, messages=ASK, tools=TOOLS, tool_choice=choice, max_tokens=12, seed=7)
            ch = cl.chat.completions.create(**kw).choices[0]
            parts = [c.choices[0].delta.content or "" for c in cl.chat.completions.create(stream=True, **kw)
                     if c.choices]
            if choice == "auto" and ch.message.tool_calls:  # random weights opened a call: still valid
                check(f"{fmt} tool_choice auto: a call the model opened is valid",
                      calls_ok(ch.message.tool_calls, {"get_weather", "add"}, mistral), ch)
                continue
            check(f"{fmt} tool_choice {choice}: text, no call (stream == non-stream)",
                  not ch.message.tool_calls and isinstance(ch.message.content, str) and
                  ch.finish_reason in ("stop", "length") and "".join(parts) == ch.message.content, (ch, parts))


def flow(s, cl):
    """The client's loop: ask, run the call, send the result, get the answer."""
    for model, fmt in FORMATS.items():
        for stream in (False, True):
            msgs = list(ASK)
            kw = dict(model=model, tools=[WEATHER], max_tokens=200, seed=2, parallel_tool_calls=False)
            if stream:
                with cl.chat.completions.stream(messages=msgs, tool_choice="required", **kw) as st:
                    m = st.get_final_completion().choices[0].message
            else:
                m = cl.chat.completions.create(messages=msgs, tool_choice="required", **kw).choices[0].message
            check(f"{fmt} flow stream={stream}: a call", bool(m.tool_calls), m)
            if not m.tool_calls:
                continue
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.function.name,
                                                              "arguments": c.function.arguments}}
                for c in m.tool_calls]})
            for c in m.tool_calls:
                msgs.append({"role": "tool", "tool_call_id": c.id, "content": json.dumps({"temperature": 18})})
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in cl.chat.completions.create(
                    messages=msgs, tool_choice="none", stream=True, **kw) if c.choices)
            else:
                text = cl.chat.completions.create(messages=msgs, tool_choice="none", **kw).choices[0].message.content
            check(f"{fmt} flow stream={stream}: an answer after the tool result", isinstance(text, str) and text,
                  text)
            st, _, data = raw(s.port, "POST", "/apply-template", json.dumps({"model": model, "messages": msgs,
                                                                             "tools": [WEATHER]}))
            p = json.loads(data).get("prompt", "") if st == 200 else ""
            c = m.tool_calls[0]
            args = json.dumps(json.loads(c.function.arguments), ensure_ascii=False)  # as the templates write it
            if fmt == "llama3":
                want = [f'<|start_header_id|>assistant<|end_header_id|>\n\n{{"name": "{c.function.name}", '
                        f'"parameters": {args}}}<|eot_id|>',
                        '<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"temperature\\": 18}"<|eot_id|>']
            else:
                want = [f'[TOOL_CALLS][{{"name": "{c.function.name}", "arguments": {args}, "id": "{c.id}"}}]</s>',
                        f'[TOOL_RESULTS]{{"content": {{"temperature": 18}}, "call_id": "{c.id}"}}[/TOOL_RESULTS]']
            at = [p.find(w) for w in want]
            check(f"{fmt} flow stream={stream}: the call and its result rendered back in the format",
                  all(a >= 0 for a in at) and at == sorted(at), (want, p))


def refusals(s):
    two = {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"abcdefgh{i}", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
        for i in range(2)]}
    for model, msgs, what, param in [
            ("l3", ASK + [two], "two calls in one Llama 3.x turn", "messages[1]"),
            ("mi", ASK + [{"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]}],
             "a call id Mistral cannot take", "messages[1]"),
            ("mi", ASK + [{"role": "tool", "tool_call_id": "x", "content": "1"}],
             "a tool_call_id Mistral cannot take", "messages[1]")]:
        st, _, data = raw(s.port, "POST", "/v1/chat/completions",
                          json.dumps({"model": model, "messages": msgs, "tools": TOOLS, "max_tokens": 4}))
        err = json.loads(data).get("error", {}) if st == 400 else {}
        check(f"{what}: 400 naming {param}", st == 400 and err.get("param") == param, (st, data))


def hermes(s, others):
    """Models without their own format keep Hermes' <tool_call>."""
    for model in others:
        st, _, data = raw(s.port, "POST", "/apply-template", json.dumps({"model": model, "messages": ASK,
                                                                         "tools": TOOLS}))
        p = json.loads(data).get("prompt", "") if st == 200 else ""
        check(f"{model}: Hermes' tools block and <tool_call> format",
              "<tools>\n{" in p and "within <tool_call></tool_call> XML tags" in p, p[:400])


def main():
    tmp = tempfile.mkdtemp(prefix="desk-toolfmt-")
    args = []
    for model, fmt in FORMATS.items():
        path = os.path.join(tmp, model + ".gguf")
        subprocess.run([DESK, "synth", "--shape", "tiny", "--vocab-from", "smollm2", "--chat-template", fmt, path],
                       check=True, stdout=subprocess.DEVNULL)
        args += ["-m", f"{model}={path}"]
    others = ["smollm2"] if SANITIZED else ["smollm2", "gemma3-270m"]
    for m in others:
        args += ["-m", m]
    s = Server(args + ["-t", "2", "--ctx", "2048"])
    cl = s.client()
    try:
        templates(s)
        hermes(s, others)
        refusals(s)
        calls(cl)
        flow(s, cl)
        st, _, data = raw(s.port, "GET", "/health")
        check("server still healthy", st == 200, (st, data))
    finally:
        rc = s.stop()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    check("the server exits 0 (no leaks under ASan)", rc == 0, (rc, "".join(s.err)[-2000:]))
    print(f"{len(failures)} failures" if failures else "all ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
