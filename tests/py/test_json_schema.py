#!/usr/bin/env python3
"""test_json_schema.py - JSON Schema output, checked against references.

  - Cross-check: for 10 schemas, desk's grammar (through tools/schema_check,
    the matcher alone) and llguidance's (the same whitespace: one run of at
    most one
    space, or a newline and up to 20 spaces or tabs, between tokens) give the same
    verdict on every document of a corpus: valid documents and near-valid
    ones made from them (a character dropped, doubled or inserted, the
    end cut, values swapped, whitespace added in and around).
  - Generation: `desk run --json-schema` on SmolLM2 and Gemma 3 under 10
    schemas (nested objects, arrays, enums, a recursive list), 50 seeds
    per schema and model, each schema's seeds in one process (--samples),
    the two models side by side; every complete output validates with
    the jsonschema package (formats checked), 100 %.  Only the recursive
    schema may hit the token limit (a model can go on nesting); its cut
    outputs are counted, not validated, and most must complete.  Under
    DESK_SANITIZED=1 (ASan) 2 seeds for SmolLM2 and 1 for Gemma 3.
"""
import concurrent.futures
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import jsonschema
import llguidance
from llguidance import LLMatcher, LLTokenizer, TokenizerWrapper

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
TOOLS = os.environ.get("DESK_TOOLS", os.path.join(ROOT, "build", "tools"))
SANITIZED = os.environ.get("DESK_SANITIZED") == "1"
SEEDS = {"smollm2": 2, "gemma3-270m": 1} if SANITIZED else {"smollm2": 50, "gemma3-270m": 50}
WS = r"( |\n[ \t]{0,20})?"
failures = []


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:800]), flush=True)
    if not cond:
        failures.append(name)


# name, schema, prompt, valid documents for the corpus
SCHEMAS = [
    ("person", {"type": "object",
                "properties": {"name": {"type": "string", "maxLength": 12},
                               "age": {"type": "integer", "minimum": 0, "maximum": 120}},
                "required": ["name", "age"], "additionalProperties": False},
     "A person with a name and an age, as JSON.",
     ['{"name": "Ann", "age": 31}', '{"name":"","age":0}', '{ "name" : "Bo b", "age" : 120 }']),
    ("color", {"enum": ["red", "green", "blue"]},
     "Pick a color: red, green or blue. Answer in JSON.",
     ['"red"', '"green"', '"blue"']),
    ("numbers", {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 50},
                 "minItems": 1, "maxItems": 4},
     "A JSON list of one to four small numbers.",
     ['[1]', '[-5, 50]', '[0,1,2,3]', '[ 7 , -1 ]']),
    ("point", {"type": "object",
               "properties": {"point": {"type": "object",
                                        "properties": {"x": {"type": "integer"},
                                                       "y": {"type": "integer"}},
                                        "required": ["x", "y"], "additionalProperties": False},
                              "label": {"type": "string", "maxLength": 8}},
               "required": ["point"], "additionalProperties": False},
     "A labelled point as JSON, e.g. {\"point\": {\"x\": 1, \"y\": 2}, \"label\": \"A\"}.",
     ['{"point": {"x": 1, "y": 2}, "label": "A"}', '{"point":{"x":-10,"y":300}}',
      '{"point": {"x": 0, "y": 0}, "label": ""}']),
    ("list", {"$defs": {"node": {"anyOf": [
        {"type": "null"},
        {"type": "object", "properties": {"v": {"type": "integer", "minimum": 0, "maximum": 9},
                                          "next": {"$ref": "#/$defs/node"}},
         "required": ["v", "next"], "additionalProperties": False}]}},
        "$ref": "#/$defs/node"},
     "A short linked list as JSON: {\"v\": 1, \"next\": {\"v\": 2, \"next\": null}}.",
     ['null', '{"v": 1, "next": null}', '{"v":1,"next":{"v":2,"next":{"v":3,"next":null}}}']),
    ("scalar", {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 99},
                          {"type": "string", "maxLength": 5}, {"type": "boolean"}]},
     "Answer with one JSON value: a number, a short word or a boolean.",
     ['0', '99', '"hello"', '""', 'true', 'false']),
    ("day", {"type": "object", "properties": {"day": {"type": "string", "format": "date"}},
             "required": ["day"], "additionalProperties": False},
     "A date as JSON, e.g. {\"day\": \"2024-05-17\"}.",
     ['{"day": "2024-05-17"}', '{"day":"2000-02-29"}', '{"day": "1999-12-31"}']),
    ("code", {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
     "A product code like \"AB-123\", as a JSON string.",
     ['"AB-123"', '"ZZ-000"']),
    ("tuple", {"type": "array", "prefixItems": [{"type": "string", "maxLength": 6},
                                                {"type": "integer", "minimum": 1, "maximum": 5},
                                                {"type": "boolean"}],
               "items": False, "minItems": 3},
     "A JSON array: a word, a number from 1 to 5, a boolean.",
     ['["cat", 3, true]', '["",1,false]', '[ "dog" , 5 , false ]']),
    ("user", {"allOf": [{"type": "object", "properties": {"id": {"type": "integer", "minimum": 1,
                                                                  "maximum": 999}},
                         "required": ["id"]},
                        {"type": "object", "properties": {"kind": {"const": "user"},
                                                          "tags": {"type": "array",
                                                                   "items": {"type": "string",
                                                                             "maxLength": 5},
                                                                   "maxItems": 2}},
                         "required": ["kind"]}]},
     "A user record as JSON: {\"id\": 7, \"kind\": \"user\"}.",
     ['{"id": 7, "kind": "user"}', '{"id":999,"kind":"user","tags":["a","bc"]}',
      '{"id": 1, "kind": "user", "tags": [], "extra": {"deep": [1, 2]}}',
      '{"id": 5, "kind": "user", "ids": 3}']),
]


class ByteTok:
    """A byte-level vocabulary for llguidance: one token per byte, so a
    document is fed exactly as desk's matcher sees it."""
    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s):
        return list(s.encode() if isinstance(s, str) else s)


def llg_verdicts(schema, docs):
    tok = LLTokenizer(TokenizerWrapper(ByteTok()))
    grm = LLMatcher.grammar_from_json_schema(schema, overrides={"whitespace_pattern": WS})
    out = []
    for d in docs:
        # a fresh matcher per document: reset() does not clear a refusal
        m = LLMatcher(tok, grm, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        ok = all(m.consume_token(b) for b in d.encode())
        out.append(bool(ok and m.is_accepting()))
    return out


def desk_verdicts(schema, docs, tmp):
    path = os.path.join(tmp, "schema.json")
    with open(path, "w") as f:
        json.dump(schema, f)
    inp = "".join(json.dumps(d) + "\n" for d in docs)
    r = subprocess.run([os.path.join(TOOLS, "schema_check"), path], input=inp, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return [line == "1" for line in r.stdout.split()]


def near_valid(doc, rng):
    """Documents one edit away from DOC, and whitespace variants."""
    out = []
    chars = '{}[]",:0a -\n\t19tfn.eE+'
    for _ in range(24):
        i = rng.randrange(len(doc) + 1)
        kind = rng.randrange(4)
        if kind == 0 and i < len(doc):
            out.append(doc[:i] + doc[i + 1:])
        elif kind == 1 and i < len(doc):
            out.append(doc[:i] + doc[i] + doc[i:])
        elif kind == 2:
            out.append(doc[:i] + rng.choice(chars) + doc[i:])
        else:
            out.append(doc[:i])
    for m in re.finditer(r"[{}\[\],:]", doc):
        for ws in (" ", "  ", "\n\t", "\n" + " " * 20, "\n" + " " * 21, " \n", "\r"):
            out.append(doc[:m.end()] + ws + doc[m.end():])
            out.append(doc[:m.start()] + ws + doc[m.start():])
    out += [" " + doc, doc + " ", doc + "\n", doc + doc]
    return out


def cross_check(tmp):
    rng = random.Random(7)
    total = 0
    for name, schema, _, valid in SCHEMAS:
        docs = list(valid)
        for d in valid:
            docs += near_valid(d, rng)
        docs = [d for d in dict.fromkeys(docs) if "\\" not in d]
        ref = llg_verdicts(schema, docs)
        ours = desk_verdicts(schema, docs, tmp)
        bad = [(d, r) for d, r, o in zip(docs, ref, ours) if r != o]
        check(f"cross-check {name}: {len(docs)} documents ({sum(ref)} valid) agree with llguidance",
              not bad and len(ours) == len(docs),
              "; ".join(f"{d!r}: llguidance {'accepts' if r else 'refuses'}" for d, r in bad[:6]))
        check(f"cross-check {name}: the valid examples are accepted", all(ours[:len(valid)]))
        total += len(docs)
    print(f"# cross-check: {total} documents", flush=True)


# Generation closes the open object of "user" (a part declaring every
# property, additionalProperties false): a small model given any extra
# properties goes on inventing them past the token limit.  The cross-check
# keeps it open.
_USER = SCHEMAS[9][1]["allOf"]
GEN_SCHEMA = {"user": {"allOf": _USER + [{
    "properties": dict(_USER[0]["properties"], **_USER[1]["properties"]),
    "additionalProperties": False}]}}


def generate(model, name, schema, prompt, n, tmp):
    path = os.path.join(tmp, model + "-" + name + ".json")
    with open(path, "w") as f:
        json.dump(schema, f)
    # Room for a small model's runs of whitespace (Gemma 3 writes "\n\t  \t ..."
    # between values: each run at most 21 characters, but often a token per
    # character or two); the recursive list alone may go on without end.
    limit = "64" if name == "list" else "160"
    r = subprocess.run([DESK, "run", "-m", model, "--chat", "-p", "Reply with JSON only. " + prompt,
                        "--json-schema", path, "-n", limit, "--seed", "1", "--samples", str(n),
                        "--stats", "-t", "1"], capture_output=True, timeout=900)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")
    texts = [t.rstrip("\n") for t in r.stdout.decode().split("\x1e")[1:]]
    stops = re.findall(r"\(stopped: ([a-z ]+)\)", r.stderr.decode())
    return list(zip(texts, stops)), ""


def generate_all(model, n, tmp):
    """Every schema's samples on MODEL, one process per schema, in turn."""
    out = []
    for name, schema, prompt, _ in SCHEMAS:
        schema = GEN_SCHEMA.get(name, schema)
        t0 = time.monotonic()
        res = generate(model, name, schema, prompt, n, tmp)
        out.append((name, schema, res, time.monotonic() - t0))
    return out


def generation(tmp):
    checker = jsonschema.FormatChecker()
    # The two models side by side, one thread each: two single-threaded
    # runs of a small model use two cores better than one run on both.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(SEEDS)) as pool:
        jobs = {model: pool.submit(generate_all, model, n, tmp) for model, n in SEEDS.items()}
        results = {model: job.result() for model, job in jobs.items()}
    for model, n in SEEDS.items():
        for name, schema, (outs, err), secs in results[model]:
            print(f"# {model} {name}: {n} samples in {secs:.1f} s", flush=True)
            if outs is None:
                check(f"{model} {name}: desk run", False, err)
                continue
            bad, cut = [], 0
            for text, stop in outs:
                if stop == "token limit" and name == "list":
                    cut += 1
                    continue
                try:
                    jsonschema.validate(json.loads(text), schema, format_checker=checker)
                except Exception as e:  # noqa: BLE001 - any failure is reported with its text
                    bad.append(f"{text!r} ({stop}): {str(e)[:120]}")
            check(f"{model} {name}: {len(outs) - cut}/{n} complete outputs validate", not bad and
                  len(outs) == n, f"{len(outs)} outputs; " + " | ".join(bad[:3]))
            if cut:
                check(f"{model} {name}: most outputs complete ({cut} hit the token limit)",
                      cut * 2 <= n)


def main():
    print(f"# llguidance {llguidance.get_version() if hasattr(llguidance, 'get_version') else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        cross_check(tmp)
        generation(tmp)
    if failures:
        print(f"{len(failures)} failed", flush=True)
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
