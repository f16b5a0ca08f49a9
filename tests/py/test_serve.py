#!/usr/bin/env python3
"""test_serve.py - desk serve through the real `openai` client and raw HTTP.

Real models (SmolLM2 and Gemma 3 270M) served together on loopback:
  - the openai package drives chat (streamed and not), completions,
    embeddings and models; streamed text equals non-streamed text, and greedy
    output equals `desk run --temp 0` for the same prompt;
  - 16 concurrent streaming clients on --parallel 4 all complete, each with
    the text the same request gets alone; a multi-turn chat reuses its prefix;
  - n, stop, logprobs, penalties and seeds behave as the API says;
  - bad requests (invalid JSON, wrong types, a 10 MB body, an unknown model,
    a missing or wrong key, a wrong Host, a client gone mid-stream, 1,000 idle
    connections, a full queue) get the right status and the server goes on;
  - RSS stays flat over 200 requests; SIGTERM mid-stream ends the stream
    cleanly and exits 0 (under ASan, leaks would make that exit non-zero);
  - models that do not fit are refused before loading, with the plan.
"""
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import openai

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
SANITIZED = os.environ.get("DESK_SANITIZED") == "1"
# Under ASan+UBSan (a Debug build, many times slower) the same checks run
# on SmolLM2 alone with fewer and shorter generations; the leak check is
# ASan's own at exit instead of RSS.
MODELS = ["smollm2"] if SANITIZED else ["smollm2", "gemma3-270m"]
N_TOK = 8 if SANITIZED else 24
N_STREAMS = 6 if SANITIZED else 16
failures = []


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:600]), flush=True)
    if not cond:
        failures.append(name)


class Server:
    """desk serve on a free port; stderr collected in the background."""

    def __init__(self, args, env=None):
        self.p = subprocess.Popen([DESK, "serve", "--port", "0"] + args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env)
        self.err = []
        self.port = None
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
        self.base = f"http://127.0.0.1:{self.port}"

    def client(self, key="none"):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=600)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(120 if SANITIZED else 60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return "hang"

    def rss_kb(self):
        # Anonymous memory only: the weights are mapped from the file, and a
        # sampled token's embedding row paged in for the first time is not a leak.
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        return 0


def raw(port, method, path, body=None, headers=None, timeout=120):
    """One HTTP request; returns (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hd = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hd, data


def error_shape(data):
    try:
        e = json.loads(data)["error"]
        return isinstance(e["message"], str) and "type" in e and "code" in e
    except Exception:
        return False


def desk_run(model, prompt, n, chat):
    args = [DESK, "run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "2"]
    if chat:
        args.append("--chat")
    return subprocess.run(args, capture_output=True, timeout=300).stdout.decode()


def same_as_run(got, out):
    """desk run ends its output with a newline unless the text already does."""
    return out == (got if got.endswith("\n") else got + "\n")


def stream_text(stream):
    parts, finish, usage = [], None, None
    for ch in stream:
        if ch.usage:
            usage = ch.usage
        for c in ch.choices:
            d = getattr(c, "delta", None)
            parts.append(d.content or "" if d is not None else c.text or "")
            finish = c.finish_reason or finish
    return "".join(parts), finish, usage


def main():
    s = Server(sum((["-m", m] for m in MODELS), []) + ["-t", "2", "--parallel", "4", "--ctx", "1024"])
    cl = s.client()
    try:
        models = sorted(m.id for m in cl.models.list().data)
        check("models lists every model", models == sorted(MODELS), models)
        st, _, body = raw(s.port, "GET", "/health")
        check("health ok", st == 200 and b"ok" in body, (st, body))

        # greedy through the server equals desk run, chat and completion, both models
        n = N_TOK
        for model in MODELS:
            for prompt in ["Name three colours of the rainbow.", "Why is the sea salty?"][:1 if SANITIZED else 2]:
                r = cl.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                               max_tokens=n, temperature=0)
                want = desk_run(model, prompt, n, True)
                got = r.choices[0].message.content
                check(f"{model} chat greedy == desk run --chat", same_as_run(got, want), (got, want))
                st_text, fin, usage = stream_text(cl.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}], max_tokens=n, temperature=0,
                    stream=True, stream_options={"include_usage": True}))
                check(f"{model} chat stream == non-stream", st_text == got, (st_text, got))
                check(f"{model} chat stream usage", usage is not None and usage.completion_tokens ==
                      r.usage.completion_tokens and usage.prompt_tokens == r.usage.prompt_tokens,
                      (usage, r.usage))
                check(f"{model} chat finish_reason", fin == r.choices[0].finish_reason and fin in ("stop", "length"),
                      fin)
            prompt = "The capital of France is"
            r = cl.completions.create(model=model, prompt=prompt, max_tokens=n, temperature=0)
            want = desk_run(model, prompt, n, False)
            check(f"{model} completion greedy == desk run", same_as_run(r.choices[0].text, want), (r.choices[0].text, want))
            st_text, _, _ = stream_text(cl.completions.create(model=model, prompt=prompt, max_tokens=n,
                                                              temperature=0, stream=True))
            check(f"{model} completion stream == non-stream", st_text == r.choices[0].text,
                  (st_text, r.choices[0].text))

        # embeddings: one unit vector per input, n_embd long, equal inputs equal
        e = cl.embeddings.create(model="smollm2", input=["a cat sat on the mat", "a cat sat on the mat",
                                                         "quantum chromodynamics"])
        v = [d.embedding for d in e.data]
        norms = [math.sqrt(sum(x * x for x in vec)) for vec in v]
        check("embeddings: 3 vectors of 576", len(v) == 3 and all(len(x) == 576 for x in v), [len(x) for x in v])
        check("embeddings: unit length", all(abs(nm - 1) < 1e-4 for nm in norms), norms)
        check("embeddings: same input, same vector", v[0] == v[1])
        cos = sum(a * b for a, b in zip(v[0], v[2]))
        check("embeddings: different input, different vector", cos < 0.999, cos)

        # ignore_eos (llama-server's extension): a short answer runs on to max_tokens
        q = dict(model="smollm2", messages=[{"role": "user", "content": "Say yes."}], temperature=0)
        short = cl.chat.completions.create(max_tokens=64, **q)
        longer = cl.chat.completions.create(max_tokens=short.usage.completion_tokens + 6,
                                            extra_body={"ignore_eos": True}, **q)
        check("ignore_eos: runs to max_tokens past the end of turn", short.choices[0].finish_reason == "stop" and
              longer.choices[0].finish_reason == "length" and
              longer.usage.completion_tokens == short.usage.completion_tokens + 6 and
              longer.choices[0].message.content.startswith(short.choices[0].message.content),
              (short.choices[0], short.usage, longer.choices[0], longer.usage))

        # sampling options
        kw = dict(model="smollm2", messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=N_TOK)
        a = cl.chat.completions.create(seed=42, temperature=1.0, **kw).choices[0].message.content
        b = cl.chat.completions.create(seed=42, temperature=1.0, **kw).choices[0].message.content
        c = cl.chat.completions.create(seed=43, temperature=1.0, **kw).choices[0].message.content
        check("same seed, same text", a == b, (a, b))
        check("other seed, other text", a != c, (a, c))
        r = cl.chat.completions.create(n=3, seed=7, temperature=1.0, **kw)
        check("n=3 gives 3 choices", [ch.index for ch in r.choices] == [0, 1, 2], r.choices)
        r = cl.completions.create(model="smollm2", prompt="1, 2, 3, 4,", max_tokens=30, temperature=0, stop=[" 7"])
        check("stop string cuts before it", r.choices[0].finish_reason == "stop" and " 7" not in r.choices[0].text
              and r.choices[0].text.startswith(" 5"), r.choices[0])
        r = cl.chat.completions.create(logprobs=True, top_logprobs=3, temperature=0, **kw)
        lp = r.choices[0].logprobs.content
        check("logprobs: one per token, top 3, greedy = top 1",
              len(lp) == r.usage.completion_tokens and all(len(t.top_logprobs) == 3 for t in lp) and
              all(t.top_logprobs[0].logprob == t.logprob and t.logprob <= 0 for t in lp), lp[:2])
        r = cl.chat.completions.create(temperature=0, presence_penalty=2.0, frequency_penalty=2.0, **kw)
        check("penalties accepted", r.choices[0].finish_reason in ("stop", "length"))

        # 16 concurrent streams on 4 slots: each equals the request alone.
        # On SmolLM2 (Q4_1) a row's arithmetic does not depend on the batch
        # it is in, so this holds bit for bit.  Gemma 3's Q4_K matrices take
        # llama.cpp's repacked gemv for a lone row and its 4-row gemm inside
        # a batch, which round differently, and this small model amplifies
        # that: its streams must complete, and how many differ is printed
        # (batch-invariant arithmetic is issue 21's --deterministic).
        def concurrent(model, k):
            prompts = [f"Write one sentence about the number {i}." for i in range(k)]
            alone = [cl.chat.completions.create(model=model, messages=[{"role": "user", "content": p}],
                                                max_tokens=N_TOK, temperature=0).choices[0].message.content
                     for p in prompts]
            got = {}

            def worker(i):
                try:
                    got[i] = stream_text(s.client().chat.completions.create(
                        model=model, messages=[{"role": "user", "content": prompts[i]}], max_tokens=N_TOK,
                        temperature=0, stream=True))
                except Exception as ex:  # noqa: BLE001 - recorded as a failure below
                    got[i] = (f"error {ex}", None, None)

            th = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
            for t in th:
                t.start()
            for t in th:
                t.join(600)
            done = [i for i in range(k) if i in got and got[i][1] in ("stop", "length")]
            same = [i for i in range(k) if i in got and got[i][0] == alone[i]]
            return prompts, alone, got, done, same

        k = N_STREAMS
        _, alone, got, done, same = concurrent("smollm2", k)
        check(f"{k} concurrent streams all complete", len(done) == k, [got.get(i) for i in range(k) if i not in done])
        check(f"{k} concurrent streams each equal the request alone", len(same) == k,
              [(i, got.get(i), alone[i]) for i in range(k) if i not in same][:3])
        if "gemma3-270m" in MODELS:
            _, alone, got, done, same = concurrent("gemma3-270m", 8)
            check("gemma3: 8 concurrent streams all complete", len(done) == 8,
                  [got.get(i) for i in range(8) if i not in done])
            print(f"info gemma3: {len(same)} of 8 concurrent streams equal the request alone", flush=True)

        # multi-turn: the second turn reuses the first's cached tokens
        msgs = [{"role": "user", "content": "What is the capital of Italy?"}]
        r1 = cl.chat.completions.create(model="smollm2", messages=msgs, max_tokens=12, temperature=0)
        msgs += [{"role": "assistant", "content": r1.choices[0].message.content},
                 {"role": "user", "content": "And of Spain?"}]
        r2 = cl.chat.completions.create(model="smollm2", messages=msgs, max_tokens=12, temperature=0)
        cached = r2.usage.prompt_tokens_details.cached_tokens
        check("multi-turn prefix reused", cached >= r1.usage.prompt_tokens - 1, (cached, r1.usage.prompt_tokens))
        # the reuse must not change the answer (nor another model's)
        r3 = cl.chat.completions.create(model=MODELS[-1], messages=msgs, max_tokens=12, temperature=0)
        r2b = cl.chat.completions.create(model="smollm2", messages=msgs, max_tokens=12, temperature=0)
        check("cached and uncached answers equal", r2.choices[0].message.content == r2b.choices[0].message.content
              and r3.choices[0].message.content != "", (r2.choices[0].message.content, r2b.choices[0].message.content))

        hostile(s)
        leaks(s)

        st, _, body = raw(s.port, "GET", "/metrics")
        text = body.decode()
        check("metrics: counters per model", st == 200 and 'desk_requests_total{model="smollm2"}' in text and
              f'desk_generated_tokens_total{{model="{MODELS[-1]}"}}' in text and
              "desk_time_to_first_token_seconds_bucket" in text, text[:300])
        m = re.search(r'desk_active_streams\{model="smollm2"\} (\d+)', text)
        check("metrics: no stream left active", m and m.group(1) == "0", m and m.group(0))

        # SIGTERM mid-stream: the stream ends with a finish_reason and [DONE]; exit 0
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
        c.request("POST", "/v1/completions", body=json.dumps({"model": "smollm2", "prompt": "Once upon a time",
                                                               "max_tokens": 900, "temperature": 0,
                                                               "stream": True}),
                  headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        first = resp.readline()
        s.p.send_signal(signal.SIGTERM)
        rest = resp.read().decode()
        check("SIGTERM: stream ends cleanly", first.startswith(b"data: ") and rest.rstrip().endswith("data: [DONE]")
              and '"finish_reason":"length"' in rest, rest[-300:])
    finally:
        code = s.stop()
    check("SIGTERM: exit 0 (and, under ASan, no leak)", code == 0, (code, "".join(s.err)[-2000:]))

    keyed()
    refused()


def hostile(s):
    port = s.port
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=b"{not json")
    check("invalid JSON: 400", st == 400 and error_shape(b), (st, b))
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=json.dumps(
        {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}))
    check("wrong type: 400 naming the field", st == 400 and json.loads(b)["error"]["param"] == "temperature", (st, b))
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=json.dumps(
        {"model": "smollm2", "messages": "hi"}))
    check("messages not an array: 400", st == 400 and error_shape(b), (st, b))
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=json.dumps(
        {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}))
    check("max_tokens 0: 400", st == 400 and error_shape(b), (st, b))
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=b"[" * 10000 + b"]" * 10000)
    check("deep JSON: 400", st == 400 and error_shape(b), (st, b))
    big = json.dumps({"model": "smollm2", "prompt": "x" * (10 << 20)})
    try:
        st, _, b = raw(port, "POST", "/v1/completions", body=big)
    except (ConnectionResetError, BrokenPipeError) as ex:
        st, b = "reset", str(ex).encode()
    check("10 MB body: 413", st == 413 and error_shape(b), (st, b[:200]))
    st, _, b = raw(port, "POST", "/v1/chat/completions", body=json.dumps(
        {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}))
    check("unknown model: 404 model_not_found", st == 404 and json.loads(b)["error"]["code"] == "model_not_found",
          (st, b))
    try:
        s.client().chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
        check("openai client sees NotFoundError", False)
    except openai.NotFoundError:
        check("openai client sees NotFoundError", True)
    st, _, b = raw(port, "GET", "/v1/models", headers={"Host": "evil.example.com"})
    check("wrong Host: 403", st == 403 and error_shape(b), (st, b))
    st, _, b = raw(port, "GET", "/nope")
    check("unknown path: 404", st == 404 and error_shape(b), (st, b))
    st, _, b = raw(port, "GET", "/v1/chat/completions")
    check("wrong method: 405", st == 405 and error_shape(b), (st, b))
    st, _, b = raw(port, "POST", "/tokenize", body=json.dumps({"model": "smollm2", "content": "Hello world"}))
    toks = json.loads(b).get("tokens") if st == 200 else None
    st2, _, b2 = raw(port, "POST", "/detokenize", body=json.dumps({"model": "smollm2", "tokens": toks or []}))
    check("tokenize/detokenize round trip", st == 200 and toks and st2 == 200 and
          json.loads(b2)["content"] == "Hello world", (b, b2))

    # a client that goes away mid-stream: its slot is freed, others go on
    for _ in range(3):
        sk = socket.create_connection(("127.0.0.1", port))
        body = json.dumps({"model": "smollm2", "prompt": "Once upon a time", "max_tokens": 800,
                           "stream": True}).encode()
        sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        sk.recv(200)
        sk.close()
    r = s.client().completions.create(model="smollm2", prompt="Hello", max_tokens=4, temperature=0)
    check("after clients left mid-stream, requests are served", len(r.choices[0].text) > 0)
    deadline = time.time() + 60
    active = None
    while time.time() < deadline:
        _, _, b = raw(port, "GET", "/metrics")
        m = re.search(r'desk_active_streams\{model="smollm2"\} (\d+)', b.decode())
        active = m and int(m.group(1))
        if active == 0:
            break
        time.sleep(0.2)
    check("streams of departed clients are freed", active == 0, active)

    # 1,000 idle connections, then a normal request still succeeds
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        st, _, b = raw(port, "GET", "/v1/models", timeout=30)
        check("1,000 idle connections: still serving", st == 200, st)
    finally:
        for sk in idle:
            sk.close()


def leaks(s):
    n = 20 if SANITIZED else 200
    cl = s.client()
    for i in range(20):
        cl.completions.create(model="smollm2", prompt="Hello there", max_tokens=8, temperature=0)
        stream_text(cl.chat.completions.create(model=MODELS[-1], messages=[{"role": "user", "content": f"Hey {i}"}],
                                               max_tokens=8, temperature=0.7, stream=True))
    before = s.rss_kb()
    for i in range(n):
        if i % 2:
            cl.completions.create(model="smollm2", prompt=f"Count to {i}", max_tokens=8, temperature=0)
        else:
            stream_text(cl.chat.completions.create(model=MODELS[-1], messages=[{"role": "user", "content": f"Hi {i}"}],
                                                   max_tokens=8, temperature=0.7, stream=True))
    after = s.rss_kb()
    if SANITIZED:  # ASan's allocator keeps freed memory in quarantine; its leak check at exit counts
        check(f"{n} requests served", after > 0)
    else:
        check(f"RSS stable over {n} requests (< 8 MiB growth)", after - before < 8192, (before, after))


def keyed():
    keyfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"desk-serve-key-{os.getpid()}")
    with open(keyfile, "w") as f:
        f.write("sekrit-key\n")
    s = Server(["-m", "smollm2", "-t", "2", "--parallel", "1", "--queue", "0", "--ctx", "512",
                "--api-key-file", keyfile])
    try:
        st, _, b = raw(s.port, "GET", "/v1/models")
        check("missing key: 401", st == 401 and error_shape(b), (st, b))
        st, _, b = raw(s.port, "GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
        check("wrong key: 401", st == 401, st)
        st, _, b = raw(s.port, "GET", "/v1/models", headers={"X-Api-Key": "sekrit-key"})
        check("X-Api-Key: 200", st == 200, st)
        st, _, b = raw(s.port, "GET", "/health")
        check("health needs no key", st == 200, st)
        try:
            s.client("wrong").models.list()
            check("openai client: AuthenticationError", False)
        except openai.AuthenticationError:
            check("openai client: AuthenticationError", True)
        r = s.client("sekrit-key").completions.create(model="smollm2", prompt="Hi", max_tokens=2)
        check("right key: served", r.usage.completion_tokens >= 1)
        # one slot, no queue: a second request while one runs gets 503 + Retry-After
        res = {}

        def long_one():
            res["a"] = raw(s.port, "POST", "/v1/completions", headers={"Authorization": "Bearer sekrit-key"},
                           body=json.dumps({"prompt": "Once upon a time", "max_tokens": 60 if SANITIZED else 300,
                                            "temperature": 0}))

        t = threading.Thread(target=long_one)
        t.start()
        time.sleep(0.5)
        st, hd, b = raw(s.port, "POST", "/v1/completions", headers={"Authorization": "Bearer sekrit-key"},
                        body=json.dumps({"prompt": "Hello", "max_tokens": 2}))
        t.join(300)
        check("queue full: 503 with Retry-After", st == 503 and "retry-after" in hd and error_shape(b), (st, hd, b))
        check("the running request completes", res.get("a", (0,))[0] == 200, res.get("a"))
    finally:
        code = s.stop(signal.SIGINT)
        os.unlink(keyfile)
    check("SIGINT: exit 0", code == 0, (code, "".join(s.err)[-1000:]))


def refused():
    env = dict(os.environ, DESK_MEM_AVAILABLE="64M")
    r = subprocess.run([DESK, "serve", "-m", "smollm2", "-m", "gemma3-270m", "--port", "0"], capture_output=True,
                       timeout=120, env=env)
    err = r.stderr.decode()
    check("models that do not fit: refused with the plan", r.returncode == 1 and "smollm2" in err and
          "gemma3-270m" in err and "available" in err.splitlines()[-1], (r.returncode, err))
    r = subprocess.run([DESK, "serve", "--port", "0"], capture_output=True, timeout=60)
    check("no model: exit 2, one line", r.returncode == 2 and r.stderr.decode().count("\n") == 1, r.stderr)
    r = subprocess.run([DESK, "serve", "--help"], capture_output=True, timeout=60)
    check("--help", r.returncode == 0 and b"--parallel" in r.stdout and b"--api-key" in r.stdout)


if __name__ == "__main__":
    main()
    if failures:
        print(f"{len(failures)} failed: {failures}")
        sys.exit(1)
    print("all passed")
