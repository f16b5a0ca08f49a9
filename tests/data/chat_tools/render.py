#!/usr/bin/env python3
"""render.py - renders the official chat templates of Llama 3.x and Mistral
Nemo for the conversations in cases.json, as Hugging Face's transformers
renders them (trim_blocks, lstrip_blocks, its `tojson`: json.dumps with
ensure_ascii off and keys in their order), into expected.json.  The
tool-call arguments, JSON text in OpenAI's messages, are given to the
templates as objects, as they expect.  bos_token is "" (desk's tokenizer
puts BOS in front itself), eos_token "</s>"; no strftime_now, so the
templates use their own default date.  See README.md.

usage: render.py TEMPLATES_DIR   (llama.cpp's models/templates)
"""
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def for_template(messages):
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                c = json.loads(json.dumps(c))
                c["function"]["arguments"] = json.loads(c["function"]["arguments"])
                calls.append(c)
            m["tool_calls"] = calls
        out.append(m)
    return out


def main():
    tdir = sys.argv[1]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    cases = json.load(open(os.path.join(HERE, "cases.json")))
    out = []
    for case in cases:
        for tname in case["templates"]:
            tmpl = env.from_string(open(os.path.join(tdir, tname)).read())
            kw = {"messages": for_template(case["request"]["messages"]), "add_generation_prompt": True,
                  "bos_token": "", "eos_token": "</s>"}
            if case["request"].get("tools") and case["request"].get("tool_choice") != "none":
                kw["tools"] = case["request"]["tools"]
            out.append({"name": case["name"], "template": tname, "format": case["format"],
                        "request": case["request"], "prompt": tmpl.render(**kw)})
    with open(os.path.join(HERE, "expected.json.tmp"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(os.path.join(HERE, "expected.json.tmp"), os.path.join(HERE, "expected.json"))
    print(f"{len(out)} renders")


if __name__ == "__main__":
    main()
