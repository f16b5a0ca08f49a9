#!/usr/bin/env python3
"""test_serve_tools.py - desk serve's structured output and tool calling,
through the real `openai` client on loopback.

  - response_format json_object gives text that parses as a JSON object;
    json_schema gives documents that the `jsonschema` package validates, for
    several schemas and seeds, on SmolLM2 and Gemma 3 (finish_reason "stop"
    once the grammar is complete);
  - unsupported schema keywords (in response_format and in a tool's
    parameters) are a 400 in OpenAI's error shape naming the keyword;
  - tool_choice "required" and a named function give tool calls whose
    arguments validate against the function's parameters; the openai
    client's streaming helper reassembles streamed calls equal to the
    non-streamed ones for the same seed; "none" gives no call; "auto"
    detects a call the model opens itself and leaves other text alone;
  - the whole tool flow (call, tool result, answer) works streamed and not,
    and /apply-template shows how tools, calls and results are rendered.
"""
import http.client
import json
import os
import sys

import jsonschema
import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import SANITIZED, Server, check, error_shape, failures, raw  # noqa: E402

MODELS = ["smollm2"] if SANITIZED else ["smollm2", "gemma3-270m"]
SEEDS = [1] if SANITIZED else [1, 2, 3]
# Under ASan+UBSan (a Debug build, many times slower) SmolLM2 alone, one
# seed, one schema, "required" without "named", no parallel calls, and
# shorter answers where the length is free: every code path, fewer tokens.
LONG = 48 if SANITIZED else 200

SCHEMAS = {
    "person": {"type": "object",
               "properties": {"name": {"type": "string", "maxLength": 24},
                              "age": {"type": "integer", "minimum": 0, "maximum": 120},
                              "email": {"type": "string", "pattern": "^[a-z]{1,8}@[a-z]{1,8}\\.com$"}},
               "required": ["name", "age", "email"], "additionalProperties": False},
    "colours": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 4},
    "nested": {"type": "object",
               "properties": {"title": {"type": "string", "maxLength": 20},
                              "tags": {"type": "array", "items": {"type": "string", "maxLength": 10},
                                       "maxItems": 3},
                              "meta": {"type": "object",
                                       "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer",
                                                                                       "minimum": 1,
                                                                                       "maximum": 9}},
                                       "required": ["ok", "n"], "additionalProperties": False}},
               "required": ["title", "tags", "meta"], "additionalProperties": False},
    "choice": {"anyOf": [{"type": "object", "properties": {"yes": {"const": True}}, "required": ["yes"],
                          "additionalProperties": False},
                         {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 30}},
                          "required": ["reason"], "additionalProperties": False}]},
    "refs": {"type": "object", "$defs": {"pt": {"type": "object",
                                               "properties": {"x": {"type": "integer", "minimum": -9, "maximum": 9},
                                                              "y": {"type": "integer", "minimum": -9, "maximum": 9}},
                                               "required": ["x", "y"], "additionalProperties": False}},
             "properties": {"from": {"$ref": "#/$defs/pt"}, "to": {"$ref": "#/$defs/pt"},
                            "kind": {"const": "segment"}},
             "required": ["from", "to", "kind"], "additionalProperties": False},
}
if SANITIZED:
    SCHEMAS = {k: SCHEMAS[k] for k in ["person"]}

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "maxLength": 30},
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


def valid(doc, schema):
    try:
        jsonschema.validate(doc, schema)
        return True
    except jsonschema.ValidationError:
        return False


def calls_ok(calls, names):
    """Every call names one of NAMES and its arguments validate."""
    if not calls:
        return False
    for c in calls:
        if c.type != "function" or c.function.name not in names or not c.id:
            return False
        try:
            args = json.loads(c.function.arguments)
        except ValueError:
            return False
        if not valid(args, PARAMS[c.function.name]):
            return False
    return True


def call_tuple(calls):
    return [(c.function.name, c.function.arguments) for c in calls or []]


def structured(cl):
    for model in MODELS:
        n_tok = 160
        seeds = SEEDS if model == "smollm2" else SEEDS[:2]
        for seed in seeds[:2] if model == "smollm2" else seeds[:1]:
            r = cl.chat.completions.create(model=model, messages=[{"role": "user", "content":
                                                                   "Describe a cat as a JSON object."}],
                                           response_format={"type": "json_object"}, max_tokens=LONG // 2,
                                           seed=seed)
            ch = r.choices[0]
            if ch.finish_reason == "stop":
                try:
                    doc = json.loads(ch.message.content)
                except ValueError:
                    doc = None
                check(f"{model} json_object seed {seed}: a JSON object", isinstance(doc, dict), ch.message.content)
            else:  # an object the model never closes: still the start of one
                check(f"{model} json_object seed {seed}: cut at max_tokens inside an object",
                      ch.finish_reason == "length" and ch.message.content.lstrip().startswith("{"), ch)
        for name, schema in SCHEMAS.items():
            for seed in seeds:
                r = cl.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": f"Give me an example {name} as JSON."}],
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": name, "schema": schema, "strict": True}},
                    max_tokens=n_tok, seed=seed)
                ch = r.choices[0]
                try:
                    doc = json.loads(ch.message.content)
                    ok = valid(doc, schema)
                except ValueError:
                    ok = False
                check(f"{model} json_schema {name} seed {seed}: validates, finish stop",
                      ok and ch.finish_reason == "stop", (ch.finish_reason, ch.message.content))

    # a streamed json_schema answer is the same text
    if SANITIZED:
        return
    kw = dict(model="smollm2", messages=[{"role": "user", "content": "A person, please."}],
              response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMAS["person"]}},
              max_tokens=120, seed=5)
    whole = cl.chat.completions.create(**kw).choices[0].message.content
    parts = [c.choices[0].delta.content or "" for c in cl.chat.completions.create(stream=True, **kw) if c.choices]
    check("json_schema stream == non-stream", "".join(parts) == whole, ("".join(parts), whole))


def refusals(s, cl):
    bad = [
        ("patternProperties", {"response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "object", "patternProperties": {"^a": {"type": "string"}}}}}}),
        ("format", {"response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "string", "format": "email"}}}}),
        ("not", {"tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "not": {"required": ["a"]}}}}]}),
        ("multipleOf", {"tools": [WEATHER, {"type": "function", "function": {"name": "g", "parameters": {
            "type": "object", "properties": {"x": {"type": "integer", "multipleOf": 3}}}}}]}),
    ]
    for keyword, extra in bad:
        body = dict(model="smollm2", messages=ASK, max_tokens=4, **extra)
        st, _, data = raw(s.port, "POST", "/v1/chat/completions", json.dumps(body))
        check(f"unsupported schema keyword {keyword}: 400 naming it",
              st == 400 and error_shape(data) and keyword in json.loads(data)["error"]["message"], (st, data))
    for what, extra in [("tool_choice required without tools", {"tool_choice": "required"}),
                        ("tool_choice naming an unknown function",
                         {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
                        ("a tool that is not a function", {"tools": [{"type": "retrieval"}]}),
                        ("response_format type xml", {"response_format": {"type": "xml"}}),
                        ("response_format with a forced call",
                         {"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}})]:
        try:
            cl.chat.completions.create(model="smollm2", messages=ASK, max_tokens=4, **extra)
            check(f"{what}: 400", False, "accepted")
        except openai.BadRequestError as e:
            check(f"{what}: 400", e.status_code == 400, e)


def parallel(cl):
    """Parallel calls (the default): every call valid, the raw chunks shaped as the client expects."""
    r = cl.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, tool_choice="required",
                                   max_tokens=LONG, seed=4)
    ch = r.choices[0]
    check("parallel_tool_calls default: calls valid", calls_ok(ch.message.tool_calls, {"get_weather", "add"}) or
          ch.finish_reason == "length", ch)
    deltas = [d for c in cl.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS,
                                                    tool_choice="required", max_tokens=LONG, seed=4, stream=True)
              if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    firsts = [d for d in deltas if d.id]
    check("stream: each call's first chunk has index, id, type, name and arguments \"\"",
          len(firsts) == len(ch.message.tool_calls or []) and
          all(d.type == "function" and d.function.name and d.function.arguments == "" for d in firsts), deltas[:3])
    check("stream: later chunks carry the index and argument bytes only",
          all(d.id is None and d.type is None and d.function.name is None for d in deltas if not d.id), deltas[:4])


def tool_calls(cl):
    for model in MODELS:
        for choice, names in [("required", {"get_weather", "add"}),
                              ({"type": "function", "function": {"name": "add"}}, {"add"})][:1 if SANITIZED else 2]:
            label = choice if isinstance(choice, str) else "named"
            for seed in SEEDS:
                kw = dict(model=model, messages=ASK, tools=TOOLS, tool_choice=choice, max_tokens=120, seed=seed,
                          parallel_tool_calls=False)
                r = cl.chat.completions.create(**kw)
                ch = r.choices[0]
                check(f"{model} tool_choice {label} seed {seed}: a valid call, finish tool_calls",
                      ch.finish_reason == "tool_calls" and ch.message.content is None and
                      len(ch.message.tool_calls or []) == 1 and calls_ok(ch.message.tool_calls, names), ch)
                if model != "smollm2":
                    continue  # Gemma's arithmetic depends on the batch shape (see test_serve.py)
                with cl.chat.completions.stream(**kw) as st:
                    fin = st.get_final_completion().choices[0]
                check(f"{model} tool_choice {label} seed {seed}: streamed calls == non-streamed",
                      call_tuple(fin.message.tool_calls) == call_tuple(ch.message.tool_calls) and
                      fin.finish_reason == "tool_calls", (fin, ch))
    if not SANITIZED:
        parallel(cl)

    # none: the tools are not offered, no call comes back
    for model in MODELS:
        r = cl.chat.completions.create(model=model, messages=ASK, tools=TOOLS, tool_choice="none",
                                       max_tokens=LONG // 8, seed=1)
        ch = r.choices[0]
        check(f"{model} tool_choice none: text, no call", not ch.message.tool_calls and
              isinstance(ch.message.content, str) and ch.finish_reason in ("stop", "length"), ch)

    # auto: after two examples the model opens a call itself, which is read as one
    def shot(city):
        return [{"role": "user", "content": f"What is the weather in {city}?"},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_1", "type": "function", "function": {
                        "name": "get_weather", "arguments": json.dumps({"city": city, "unit": "celsius"})}}]}]
    kw = dict(model="smollm2", messages=shot("Oslo") + shot("Lima") + [ASK[0]], tools=TOOLS, max_tokens=80,
              temperature=0)
    ch = cl.chat.completions.create(**kw).choices[0]
    check("auto: a call the model opens is parsed", ch.finish_reason == "tool_calls" and
          calls_ok(ch.message.tool_calls, {"get_weather", "add"}), ch)
    with cl.chat.completions.stream(**kw) as st:
        fin = st.get_final_completion().choices[0]
    check("auto: streamed call == non-streamed", call_tuple(fin.message.tool_calls) ==
          call_tuple(ch.message.tool_calls), (fin, ch))
    # ... and text that only begins like a call ("<tool_response>") stays text, whole
    kw = dict(model="smollm2", messages=shot("Oslo") + [{"role": "tool", "tool_call_id": "call_1", "content": "9 C"},
                                                        {"role": "assistant", "content": "It is 9 C in Oslo."},
                                                        ASK[0]], tools=TOOLS, max_tokens=LONG // 4, temperature=0)
    ch = cl.chat.completions.create(**kw).choices[0]
    parts = [c.choices[0].delta.content or "" for c in cl.chat.completions.create(stream=True, **kw) if c.choices]
    check("auto: plain text is content (stream == non-stream)", not ch.message.tool_calls and
          isinstance(ch.message.content, str) and "".join(parts) == ch.message.content, (ch, parts))


def flow(s, cl):
    """The client's loop: ask, run the call, send the result, get the answer."""
    for stream in (False, True)[:1 if SANITIZED else 2]:
        msgs = list(ASK)
        kw = dict(model="smollm2", tools=TOOLS, max_tokens=40, seed=2)  # room for a whole call
        if stream:
            with cl.chat.completions.stream(messages=msgs, tool_choice="required", **kw) as st:
                m = st.get_final_completion().choices[0].message
        else:
            m = cl.chat.completions.create(messages=msgs, tool_choice="required", **kw).choices[0].message
        check(f"flow stream={stream}: a call", bool(m.tool_calls), m)
        if not m.tool_calls:
            continue
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in m.tool_calls]})
        for c in m.tool_calls:
            msgs.append({"role": "tool", "tool_call_id": c.id, "content": json.dumps({"temperature": 18, "sky": "clear"})})
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in cl.chat.completions.create(
                messages=msgs, tool_choice="none", stream=True, **kw) if c.choices)
        else:
            text = cl.chat.completions.create(messages=msgs, tool_choice="none", **kw).choices[0].message.content
        check(f"flow stream={stream}: an answer after the tool result", isinstance(text, str) and text.strip(), text)
        if stream:
            continue
        st, _, data = raw(s.port, "POST", "/apply-template", json.dumps({"model": "smollm2", "messages": msgs,
                                                                         "tools": TOOLS}))
        p = json.loads(data).get("prompt", "") if st == 200 else ""
        call = m.tool_calls[0]
        want = [
            "<|im_start|>system\n# Tools\n", "<tools>\n{", '"name": "get_weather"', "\n</tools>\n",
            "<|im_start|>user\nWhat is the weather like in Paris today?<|im_end|>",
            f'<|im_start|>assistant\n<tool_call>\n{{"name": "{call.function.name}", "arguments": '
            f'{call.function.arguments}}}\n</tool_call><|im_end|>',
            '<|im_start|>user\n<tool_response>\n{"temperature": 18, "sky": "clear"}\n</tool_response><|im_end|>',
        ]
        at = [p.find(w) for w in want]
        check("apply-template: tools, the call and its result rendered in order",
              all(a >= 0 for a in at) and at == sorted(at) and p.endswith("<|im_start|>assistant\n"), (at, p))


def main():
    s = Server(sum((["-m", m] for m in MODELS), []) + ["-t", "2", "--parallel", "2", "--ctx", "2048"])
    cl = s.client()
    try:
        refusals(s, cl)
        tool_calls(cl)
        flow(s, cl)
        structured(cl)
        st, _, data = raw(s.port, "GET", "/health")
        check("server still healthy", st == 200, (st, data))
    finally:
        rc = s.stop()
    check("the server exits 0 (no leaks under ASan)", rc == 0, (rc, "".join(s.err)[-2000:]))
    print(f"{len(failures)} failures" if failures else "all ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
