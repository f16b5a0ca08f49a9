#!/usr/bin/env python3
"""test_serve_determinism.py - the same request gives the same answer in
desk serve, whatever else the server is doing (issue 21).

A request (greedy, and sampled with a seed) asks for "deterministic": true.
Its tokens and log-probabilities must be identical, bit for bit as JSON
prints them:
  (a) alone, and with 1, 3 and 7 other requests of other lengths that
      arrive at different times and share its batches;
  (b) at 1 and 2 threads (two servers);
  (c) with the prompt decoded in one batch, in chunks of 7 (-b 7) and
      token by token (-b 1);
  (d) cold, and after a prefix-cache hit (a slot holding the first part of
      its prompt from an earlier deterministic request); a cache filled by
      a default-mode request is not reused for it.
The same conditions without "deterministic" are reported (how many differ),
not asserted.  `--deterministic` turns the mode on for every request, and
system_fingerprint names the mode.  SmolLM2 and Gemma 3 (SmolLM2 alone
under the sanitizers).
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
SANITIZED = os.environ.get("DESK_SANITIZED") == "1"
MODELS = ["smollm2"] if SANITIZED else ["smollm2", "gemma3-270m"]
N_TOK = 10 if SANITIZED else 24
failures = []

PROMPT = ("The old lighthouse keeper kept a logbook. Every night he wrote down the ships he saw, "
          "the weather, and one thought about the sea. On the last page he wrote")
OTHERS = [
    "Hi",
    "List three prime numbers:",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Translate to French: good morning, my friend. The weather is lovely today and",
    "Q: What is the capital of Italy?\nA:",
    "Once upon a time, in a kingdom far away, there lived a dragon who loved to read books about the sea. "
    "Every morning the dragon",
    "1, 2, 3, 5, 8, 13,",
]


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:600]), flush=True)
    if not cond:
        failures.append(name)


class Server:
    def __init__(self, args):
        self.p = subprocess.Popen([DESK, "serve", "--port", "0"] + args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        self.err, self.port = [], None
        ready = threading.Event()

        def pump():
            for line in self.p.stderr:
                s = line.decode(errors="replace")
                self.err.append(s)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/v1", s)
                if m:
                    self.port = int(m.group(1))
                if "desk serve: ready" in s:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(300 if SANITIZED else 120)
        if self.port is None or self.p.poll() is not None:
            raise RuntimeError("desk serve did not start: " + "".join(self.err))

    def post(self, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {data[:300]!r}")
        return json.loads(data)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(120)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return "hang"


def request(model, prompt, det, sampled, max_tokens=N_TOK):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "logprobs": True, "ignore_eos": True}
    if sampled:
        body.update({"temperature": 0.9, "seed": 4242})
    else:
        body["temperature"] = 0
    if det is not None:
        body["deterministic"] = det
    return body


def outcome(resp):
    """Tokens and their log-probabilities as the server printed them."""
    content = resp["choices"][0]["logprobs"]["content"]
    return [(t["token"], repr(t["logprob"])) for t in content]


def run_with_others(srv, model, det, sampled, n_others):
    """The request with N_OTHERS others started around it at staggered times."""
    results, errors = {}, []

    def go(key, body, delay):
        time.sleep(delay)
        try:
            results[key] = srv.post(body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{key}: {e}")

    threads = []
    for o in range(n_others):
        # Other lengths, other arrival times, default mode: the batches the
        # request shares change from step to step.
        body = request(model, OTHERS[o], None, o % 2 == 1, max_tokens=6 + 7 * o)
        threads.append(threading.Thread(target=go, args=(f"other{o}", body, 0.03 * o)))
    threads.append(threading.Thread(target=go, args=("me", request(model, PROMPT, det, sampled), 0.05)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    return outcome(results["me"])


def main():
    models_args = []
    for m in MODELS:
        models_args += ["-m", m]
    base = ["--parallel", "8", "-c", "512"]
    main_srv = Server(models_args + base + ["-t", "2"])
    extra = {"1 thread": ["-t", "1"], "prompt in chunks of 7": ["-b", "7", "-t", "2"],
             "prompt token by token": ["-b", "1", "-t", "2"]}
    try:
        for model in MODELS:
            for sampled in (False, True):
                kind = f"{model} {'sampled' if sampled else 'greedy'}"
                ref = {det: outcome(main_srv.post(request(model, PROMPT, det, sampled))) for det in (True, None)}
                check(f"{kind}: {len(ref[True])} tokens", len(ref[True]) == N_TOK, len(ref[True]))
                default_differs = []
                for n in (1, 3, 7):
                    got = run_with_others(main_srv, model, True, sampled, n)
                    check(f"{kind}, deterministic: with {n} others, the same tokens and logprobs",
                          got == ref[True], (got, ref[True]))
                    if not SANITIZED and run_with_others(main_srv, model, None, sampled, n) != ref[None]:
                        default_differs.append(f"with {n} others")
                # (d) a prefix-cache hit: an earlier deterministic request
                # leaves the first half of the prompt in a slot.
                half = PROMPT[: len(PROMPT) // 2]
                main_srv.post(request(model, half, True, False, max_tokens=2))
                hit = main_srv.post(request(model, PROMPT, True, sampled))
                cached = hit.get("usage", {}).get("prompt_tokens_details", {}).get("cached_tokens", 0)
                check(f"{kind}, deterministic: after a prefix-cache hit ({cached} tokens cached)",
                      cached > 0 and outcome(hit) == ref[True], (cached, outcome(hit), ref[True]))
                # A default-mode request's cache is not reused for a deterministic one.
                main_srv.post(request(model, half + " and", None, False, max_tokens=2))
                got = outcome(main_srv.post(request(model, PROMPT, True, sampled)))
                check(f"{kind}, deterministic: after a default-mode request with the same prefix",
                      got == ref[True], (got, ref[True]))
                if not SANITIZED:
                    main_srv.post(request(model, half, None, False, max_tokens=2))
                    if outcome(main_srv.post(request(model, PROMPT, None, sampled))) != ref[None]:
                        default_differs.append("after a prefix-cache hit")
                if not SANITIZED:
                    print(f"report: {kind}, default mode differs in {len(default_differs)} of 4 conditions: "
                          f"{', '.join(default_differs) or 'none'}", flush=True)
                setattr(main, f"ref_{model}_{sampled}", ref)
        fp = main_srv.post(request(MODELS[0], "Hi", True, False, max_tokens=2))["system_fingerprint"]
        fp_default = main_srv.post(request(MODELS[0], "Hi", None, False, max_tokens=2))["system_fingerprint"]
        check("system_fingerprint names the mode", fp.endswith("-deterministic") and fp_default.endswith("-default"),
              (fp, fp_default))
    finally:
        check("the server exits 0 on SIGTERM", main_srv.stop() == 0)

    # (b), (c): other servers, the request alone.
    conditions = list(extra.items()) + [("--deterministic for every request", ["--deterministic", "-t", "2"])]
    for label, args in conditions:
        srv = Server(models_args + base + args)
        try:
            for model in MODELS:
                for sampled in (False, True):
                    kind = f"{model} {'sampled' if sampled else 'greedy'}"
                    ref = getattr(main, f"ref_{model}_{sampled}")
                    det = None if label.startswith("--deterministic") else True
                    got = outcome(srv.post(request(model, PROMPT, det, sampled)))
                    check(f"{kind}, deterministic: {label}", got == ref[True], (got, ref[True]))
                    if det is True and not SANITIZED:
                        d = outcome(srv.post(request(model, PROMPT, None, sampled))) != ref[None]
                        print(f"report: {kind}, default mode, {label}: {'differs' if d else 'the same'}", flush=True)
        finally:
            check(f"server ({label}) exits 0", srv.stop() == 0)

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
