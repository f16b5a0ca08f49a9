#!/usr/bin/env python3
"""test_serve_manifest.py - replay manifests from desk serve (issue 21).

A request with "manifest": true gets, beside its answer, the manifest
`desk run --manifest` would write (in a streamed answer, as a last chunk
with no choices).  Saved to a file, `desk replay` must reproduce it:
  - a deterministic sampled chat answer, served while three other requests
    shared its batches;
  - a deterministic greedy answer, streamed;
  - a default-mode completion served alone, ended by a stop string;
and the manifest agrees with the answer (text, token count, mode, ISA in
system_fingerprint).  A manifest with n > 1, ignore_eos or a
response_format is refused (400, param "manifest"), and every manifest by
a server started with --no-manifest.  SmolLM2 and Gemma 3 (SmolLM2 alone
under the sanitizers).
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import DESK, SANITIZED, Server, check, failures, raw  # noqa: E402

MODELS = ["smollm2"] if SANITIZED else ["smollm2", "gemma3-270m"]
N_TOK = 12 if SANITIZED else 32

PROMPT = "Write two sentences about a lighthouse keeper and the sea."
OTHERS = ["Hi", "List three prime numbers:", "def fibonacci(n):\n    if n < 2:\n        return n\n"]


def post(srv, path, body):
    """(status, raw body) of one request."""
    status, _, data = raw(srv.port, "POST", path, json.dumps(body), timeout=600)
    return status, data


def replay(tmp, name, manifest):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    p = subprocess.run([DESK, "replay", path], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def chat(model, prompt, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": N_TOK}
    body.update(extra)
    return body


def stream_manifest(raw):
    """The streamed text and the manifest chunk of an SSE answer."""
    text, manifest, done = "", None, False
    for line in raw.decode().split("\n"):
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            continue
        ev = json.loads(line[6:])
        for c in ev.get("choices", []):
            text += c.get("delta", {}).get("content") or ""
        if "manifest" in ev:
            check("the manifest chunk carries no choices", ev["choices"] == [], ev)
            manifest = ev["manifest"]
    check("the stream ends with [DONE]", done)
    return text, manifest


def agrees(kind, resp, manifest, text, mode):
    check(f"{kind}: the manifest's text is the answer's", manifest["output"]["text"] == text,
          (manifest["output"]["text"], text))
    if "usage" in resp:
        check(f"{kind}: one id per completion token",
              len(manifest["output"]["ids"]) == resp["usage"]["completion_tokens"],
              (len(manifest["output"]["ids"]), resp["usage"]))
    fp = resp["system_fingerprint"]
    check(f"{kind}: mode and ISA as system_fingerprint says",
          manifest["mode"] == mode and fp.endswith(f"-{manifest['isa']}-{mode}"), (fp, manifest["mode"]))


def main():
    args = []
    for m in MODELS:
        args += ["-m", m]
    srv = Server(args + ["--parallel", "4", "-c", "512", "-t", "2"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for model in MODELS:
                # Deterministic and sampled, with three others in its batches.
                results = {}

                def go(key, body, delay):
                    time.sleep(delay)
                    results[key] = post(srv, "/v1/chat/completions", body)

                ts = [threading.Thread(target=go, args=(f"o{i}", chat(model, p, max_tokens=8 + 9 * i), 0.02 * i))
                      for i, p in enumerate(OTHERS)]
                me = chat(model, PROMPT, temperature=0.9, seed=777, deterministic=True, manifest=True)
                ts.append(threading.Thread(target=go, args=("me", me, 0.04)))
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                status, data = results["me"]
                check(f"{model} sampled: 200", status == 200, data[:300])
                resp = json.loads(data)
                man = resp.get("manifest")
                check(f"{model} sampled: the answer carries a manifest", isinstance(man, dict), resp)
                if isinstance(man, dict):
                    agrees(f"{model} sampled", resp, man, resp["choices"][0]["message"]["content"], "deterministic")
                    check(f"{model} sampled: the seed is recorded", man["sampler"]["seed"] == "777", man["sampler"])
                    rc, out = replay(tmp, f"{model}-sampled", man)
                    check(f"{model} sampled, batched with 3 others: desk replay is identical",
                          rc == 0 and out.startswith("replay: identical"), (rc, out))

                # Streamed, deterministic, greedy.
                status, data = post(srv, "/v1/chat/completions",
                                       chat(model, OTHERS[1], temperature=0, deterministic=True, manifest=True,
                                            stream=True))
                check(f"{model} streamed: 200", status == 200, data[:300])
                text, man = stream_manifest(data)
                check(f"{model} streamed: a manifest chunk", isinstance(man, dict))
                if isinstance(man, dict):
                    check(f"{model} streamed: the manifest's text is the streamed text",
                          man["output"]["text"] == text, (man["output"]["text"], text))
                    rc, out = replay(tmp, f"{model}-stream", man)
                    check(f"{model} streamed: desk replay is identical",
                          rc == 0 and out.startswith("replay: identical"), (rc, out))

            # Default mode, alone, a completion ended by a stop string.
            model = MODELS[0]
            body = {"model": model, "prompt": "The days of the week are Monday, Tuesday,", "max_tokens": 40,
                    "temperature": 0, "stop": ["Friday"], "manifest": True}
            status, data = post(srv, "/v1/completions", body)
            resp = json.loads(data)
            man = resp.get("manifest", {})
            check("completion: 200 with a manifest", status == 200 and "output" in man, data[:300])
            if "output" in man:
                agrees("completion", resp, man, resp["choices"][0]["text"], "default")
                check("completion: the stop string is recorded as the reason",
                      resp["choices"][0]["finish_reason"] == "stop" and man["output"]["stop_reason"] == "stop string"
                      and man["stops"] == ["Friday"], (resp["choices"][0], man["output"]["stop_reason"]))
                rc, out = replay(tmp, "completion", man)
                check("completion, default mode, alone: desk replay is identical",
                      rc == 0 and out.startswith("replay: identical"), (rc, out))
                # An edited field is named.
                man["n_predict"] = 2
                rc, out = replay(tmp, "edited", man)
                check("an edited manifest: replay names n_predict", rc == 1 and "'n_predict'" in out, (rc, out))

            # What a manifest cannot record is refused.
            for label, extra in (("n = 2", {"n": 2}), ("ignore_eos", {"ignore_eos": True}),
                                 ("response_format", {"response_format": {"type": "json_object"}}),
                                 ("a manifest that is not a boolean", {"manifest": "yes"})):
                b = chat(MODELS[0], "Hi", manifest=True)
                b.update(extra)
                status, data = post(srv, "/v1/chat/completions", b)
                err = json.loads(data).get("error", {}) if data.startswith(b"{") else {}
                check(f"refused: manifest with {label}", status == 400 and err.get("param") == "manifest", (status, data))
            # Without the field, no manifest.
            status, data = post(srv, "/v1/chat/completions", chat(MODELS[0], "Hi", max_tokens=2))
            check("no manifest unless asked", status == 200 and "manifest" not in json.loads(data), data[:300])
    finally:
        check("the server exits 0 on SIGTERM", srv.stop() == 0)

    srv = Server(["-m", MODELS[0], "--parallel", "1", "-c", "256", "--no-manifest"])
    try:
        status, data = post(srv, "/v1/chat/completions", chat(MODELS[0], "Hi", manifest=True))
        check("--no-manifest: a request for one is refused (400, param manifest)",
              status == 400 and json.loads(data).get("error", {}).get("param") == "manifest", (status, data))
    finally:
        check("the --no-manifest server exits 0 on SIGTERM", srv.stop() == 0)

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
