#!/usr/bin/env python3
"""test_bench_url.py - `desk bench --url` against a server on loopback.

tests/py/sse_stub.py streams chat completions with known delays (first token
after 40 ms, then one every 15 ms) and records what it actually did; the
report's TTFT and ITL percentiles must agree with the stub's own to within
2 ms, plus whatever a plain Python client on the same machine sees in excess
of the stub at that moment (a measurement is retried up to 5 times before
failing, since the machine is shared).  That allowance is the host's, not
the client's: on a KVM guest measured 2026-12-06 every hop of a request
(send, arrival, the handler's wake) took 2-3 ms after an idle pause, so
even a Python client saw TTFT 5-10 ms above the stub's; on a healthy host
it is a fraction of a millisecond and the check is the 2 ms one.  Also: token counts from usage and from counted chunks,
throughput scaling with concurrency, the client's CPU time, every fault
(malformed SSE, a non-SSE line, a close mid-stream, 429, 503, a non-streamed
body, a timeout, a refused connection) as a counted error of its kind with
exit status 1, an open-loop --rate run, a --dataset, SLO goodput, the CSV,
Markdown and HTML outputs, `desk bench compare` on two reports and `desk
cost --bench` on one.
"""
import json
import os
import socket
import subprocess
import sys
import http.client
import tempfile
import time
import urllib.request

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
D1, D2 = 40.0, 15.0
TOL = 2.0
failures = []
tmp = tempfile.mkdtemp(prefix="desk-bench-url-")


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:800]), flush=True)
    if not cond:
        failures.append(name)


def quantile(xs, q):
    """numpy's default (linear) quantile, as the report's."""
    xs = sorted(xs)
    if not xs:
        return 0.0
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class Stub:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "py", "sse_stub.py"), str(D1), str(D2)],
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline().split()[1])
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def stats(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.port) as r:
            return json.load(r)["streams"]

    def stop(self):
        self.p.kill()
        self.p.wait()


def bench(url, *args, out=None):
    """Runs desk bench --url; returns (exit status, stderr, the JSON report or None)."""
    out = out or os.path.join(tmp, "r.json")
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run([DESK, "bench", "--url", url] + list(args) + ["--json", "-o", out], capture_output=True,
                       text=True, timeout=120)
    rep = json.load(open(out)) if os.path.exists(out) else None
    return p.returncode, p.stderr, rep


def host_excess(stub, n=12):
    """How much later than the stub's own clock a plain client (Python's
    http.client, one kept-alive connection, requests one after another as
    c1's) sees the first token on this machine now: its TTFT minus the
    stub's for the same streams at p50, p90 and p99, the largest, in ms
    (never below 0)."""
    before = len(stub.stats())
    conn = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=30)
    body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "w " * 32}], "max_tokens": 8,
                       "stream": True})
    seen = []
    for _ in range(n):
        t = time.monotonic()
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        first = None
        while True:
            line = r.readline()
            if not line:
                break
            if first is None and b'"content"' in line:
                first = (time.monotonic() - t) * 1e3
        seen.append(first)
        time.sleep(0.02)  # c1's requests follow each other closely but not back to back
    conn.close()
    did = [s["ttft_ms"] for s in stub.stats()[before:]]
    if len(did) != n or None in seen:
        return 0.0
    # The largest excess at the quantiles checked: the host's tail moves the
    # report's p90/p99 as much as its median.
    return max(0.0, *(quantile(seen, q) - quantile(did, q) for q in (0.5, 0.9, 0.99)))


def timing(stub):
    """One measurement: c1 and c4, 12 requests each; the percentiles it
    reports against the stub's own.  Returns a list of mismatches."""
    excess = host_excess(stub)
    tol = TOL + excess
    print("  a plain client sees the first token %.2f ms after the stub's clock does" % excess, flush=True)
    before = len(stub.stats())
    rc, err, rep = bench(stub.url, "--concurrency", "1,4", "--requests", "12", "--max-tokens", "8", "-r", "1",
                         "--prompt-tokens", "32")
    if rc != 0 or not rep:
        return ["exit %d: %s" % (rc, err)], rep
    streams = stub.stats()[before:]
    bad = []
    if len(streams) != 4 + 24:
        return ["stub saw %d streams, want 28 (4 warm-up and 2 x 12)" % len(streams)], rep
    for k, res in enumerate(rep["results"]):
        did = streams[4 + 12 * k:4 + 12 * (k + 1)]
        ttft = [s["ttft_ms"] for s in did]
        itl = [x for s in did for x in s["itl_ms"]]
        load = res["load"]
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            for name, mine, theirs in (("ttft", load["ttft_ms"][key], quantile(ttft, q)),
                                       ("itl", load["itl_ms"][key], quantile(itl, q))):
                if abs(mine - theirs) > tol:
                    bad.append("%s %s %s: report %.2f ms, stub did %.2f ms (allowed %.2f: 2 + the host's %.2f)"
                               % (res["test"], name, key, mine, theirs, tol, excess))
        # What the stub did is what it was told (loosely: the machine is shared).
        if abs(quantile(ttft, 0.5) - D1) > 5 or abs(quantile(itl, 0.5) - D2) > 3:
            bad.append("%s: the stub itself was off schedule" % res["test"])
    return bad, rep


def test_timing(stub):
    for attempt in range(5):
        bad, rep = timing(stub)
        if not bad:
            break
        print("  attempt %d: %s" % (attempt + 1, "; ".join(bad)), flush=True)
        time.sleep(2 ** attempt)  # let a burst of other work on the machine pass
    check("TTFT and ITL p50/p90/p99 within %.0f ms (+ the host's excess) of what the stub did" % TOL, not bad, bad)
    if not rep:
        return
    r1, r4 = rep["results"]
    check("rows c1 and c4, threads = concurrency", (r1["test"], r4["test"], r1["threads"], r4["threads"]) ==
          ("c1", "c4", 1, 4), (r1["test"], r4["test"]))
    l1, l4 = r1["load"], r4["load"]
    check("token counts from usage", l1["token_counts"] == "usage" and l1["completion_tokens"] == 8 and
          l1["prompt_tokens"] == 32, l1)
    check("all requests succeeded", l1["ok"] == 12 and l4["ok"] == 12 and sum(l1["errors"].values()) == 0, l1)
    e2e = D1 + 7 * D2
    # Sanity bounds (the 2 ms check above is the precise one): no faster
    # than the schedule allows, not far slower.
    check("c1 output tokens/s is 8 tokens per request time", 0.6 * 8e3 / e2e < r1["tokens_per_s"] < 1.02 * 8e3 / e2e,
          r1["tokens_per_s"])
    check("c4 serves about 4x c1", 2.5 < r4["tokens_per_s"] / r1["tokens_per_s"] < 4.4,
          (r1["tokens_per_s"], r4["tokens_per_s"]))
    check("requests/s x tokens per request = tokens/s",
          abs(l4["requests_per_s"] * 8 - r4["tokens_per_s"]) < 1e-6 * r4["tokens_per_s"] + 1e-9, l4)
    check("E2E p50 is the schedule", e2e - 1 < l1["e2e_ms"]["p50"] < 1.5 * e2e, l1["e2e_ms"])
    check("client CPU time is reported and small", 0 < l1["client_cpu_s"] < 0.25 * l1["wall_s"], l1)
    check("the env names the target and the client", rep["env"]["target"] == stub.url and rep["env"]["cpu"], rep["env"])


FAULTS = [("malformed", "malformed"), ("garbage", "malformed"), ("json", "malformed"), ("close", "closed"),
          ("http429", "http_429"), ("http503", "http_503")]


def expect_failed(name, rc, err, rep, kind, n):
    lines = [x for x in err.splitlines() if x.strip()]
    load = rep["results"][0]["load"] if rep else {}
    check(name + ": exit status 1 and one line saying so",
          rc == 1 and len(lines) == 1 and "%d of %d requests failed (%s %d)" % (n, n, kind, n) in lines[0], (rc, err))
    check(name + ": counted as %s" % kind,
          load.get("errors", {}).get(kind) == n and load.get("ok") == 0 and
          sum(load.get("errors", {}).values()) == n and load.get("first_error"), load)


def test_faults(stub):
    common = ["--concurrency", "2", "--requests", "4", "--max-tokens", "5", "-r", "1", "--warmup", "0"]
    for mode, kind in FAULTS:
        rc, err, rep = bench(stub.url, "--model", mode, *common)
        expect_failed(mode, rc, err, rep, kind, 4)
    # A closed port: bound, then released, so nothing listens there.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, err, rep = bench("http://127.0.0.1:%d/v1" % port, *common)
    expect_failed("refused connection", rc, err, rep, "connect", 4)
    # 8 tokens take 145 ms; 80 ms is not enough.
    rc, err, rep = bench(stub.url, "--timeout", "0.08", "--concurrency", "2", "--requests", "4", "--max-tokens", "8",
                         "-r", "1", "--warmup", "0")
    expect_failed("timeout", rc, err, rep, "timeout", 4)
    # A kept-alive connection the server closed: sent again, not a failure.
    rc, err, rep = bench(stub.url, "--model", "drop", *common)
    load = rep["results"][0]["load"] if rep else {}
    check("a request on a connection the server dropped is sent again", rc == 0 and load.get("ok") == 4,
          (rc, err, load))
    # The server still answers well afterwards.
    rc, err, rep = bench(stub.url, "--model", "nousage", *common)
    load = rep["results"][0]["load"] if rep else {}
    check("without usage, tokens are counted chunks", rc == 0 and load.get("token_counts") == "chunks" and
          load.get("completion_tokens") == 5 and load.get("ok") == 4, (rc, err, load))


def test_rate_dataset_slo(stub):
    rc, err, rep = bench(stub.url, "--rate", "40", "--requests", "20", "-r", "2", "--max-tokens", "8", "--seed", "7")
    r = rep["results"][0] if rep else {}
    load = r.get("load", {})
    check("--rate: one open-loop row", rc == 0 and r.get("test") == "rate40" and load.get("concurrency") == 0 and
          load.get("rate") == 40 and load.get("ok") == 40, (rc, err, r))
    # 20 arrivals at 40/s span ~0.5 s, each request 145 ms: about 30/s done.
    check("--rate: requests/s follows the arrival rate", 15 < load.get("requests_per_s", 0) < 45, load)
    rc, err, rep = bench(stub.url, "--prompt-tokens", "16,48", "--concurrency", "1,2", "--requests", "2", "-r", "1",
                         "--max-tokens", "2")
    rows = [(r["test"], r["n_prompt"], r["load"]["prompt_tokens"]) for r in rep["results"]] if rep else []
    check("--prompt-tokens 16,48: a row per size and level, prompts sized by /tokenize", rc == 0 and rows ==
          [("p16-c1", 16, 16), ("p16-c2", 16, 16), ("p48-c1", 48, 48), ("p48-c2", 48, 48)], (rc, err, rows))
    ds = os.path.join(tmp, "prompts.jsonl")
    with open(ds, "w") as f:
        f.write('{"prompt": "one two three four"}\n\n')
        f.write('{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x y"}]}\n')
        f.write('{"prompt": "a b c d e f"}\n')
    rc, err, rep = bench(stub.url, "--dataset", ds, "--concurrency", "1", "--requests", "6", "-r", "1", "--warmup", "0",
                         "--max-tokens", "3")
    load = rep["results"][0]["load"] if rep else {}
    check("--dataset: prompts and messages lines, cycled", rc == 0 and load.get("ok") == 6 and
          load.get("prompt_tokens") == 4, (rc, err, load))
    with open(ds, "a") as f:
        f.write('{"text": "no"}\n')
    p = subprocess.run([DESK, "bench", "--url", stub.url, "--dataset", ds], capture_output=True, text=True)
    check("--dataset: a bad line is named", p.returncode == 1 and "line 5" in p.stderr, (p.returncode, p.stderr))
    for slo, want in ((["--slo-ttft", "1000", "--slo-itl", "1000"], 1.0), (["--slo-ttft", "20"], 0.0),
                      (["--slo-itl", "10"], 0.0), (["--slo-ttft", "500", "--slo-itl", "100"], 1.0)):
        rc, err, rep = bench(stub.url, "--concurrency", "1", "--requests", "3", "-r", "1", "--max-tokens", "4", *slo)
        load = rep["results"][0]["load"] if rep else {}
        check("goodput %s = %.0f%%" % (" ".join(slo), want * 100), rc == 0 and load.get("goodput") == want, load)


def test_outputs(stub):
    a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
    args = ["--concurrency", "1,2", "--requests", "4", "-r", "2", "--max-tokens", "4"]
    ra = bench(stub.url, *args, out=a)
    rb = bench(stub.url, *args, out=b)
    check("two reports", ra[0] == 0 and rb[0] == 0, (ra[1], rb[1]))
    show = lambda *fmt: subprocess.run([DESK, "bench", "show", a] + list(fmt), capture_output=True, text=True)
    csv = show("--csv").stdout.splitlines()
    check("CSV: a header and a row per level", len(csv) == 3 and "ttft_p50_ms" in csv[0] and
          "errors_http_429" in csv[0] and csv[1].split(",")[2] == "c1", csv[:2])
    md = show("--md").stdout
    check("Markdown: the load table", "| c1 |" in md and "| c2 |" in md and "TTFT p50/p90/p99" in md, md[:300])
    html = os.path.join(tmp, "a.html")
    p = show("--html", html)
    page = open(html).read() if os.path.exists(html) else ""
    check("HTML: latency and throughput charts against load", p.returncode == 0 and page.count("<svg") == 2 and
          "Latency vs load" in page and "Throughput vs load" in page, p.stderr)
    p = subprocess.run([DESK, "bench", "compare", a, b], capture_output=True, text=True)
    rows = [x for x in p.stdout.splitlines() if x.startswith("stub ")]
    check("compare: Welch's t-test per level", p.returncode == 0 and len(rows) == 2 and
          all("significant" in x for x in rows), p.stdout)
    p = subprocess.run([DESK, "cost", "--bench", a, "--json"], capture_output=True, text=True)
    best = max(r["tokens_per_s"] for r in json.load(open(a))["results"])
    try:
        tps = json.loads(p.stdout)["assumptions"]["tokens_per_s"]
    except (ValueError, KeyError):
        tps = None
    check("cost --bench takes the best aggregate tokens/s", p.returncode == 0 and tps is not None and
          abs(tps - best) < 1e-6 * best, (p.stdout[:300], p.stderr, best))


def test_usage():
    for args, what in ((["--url"], "--url needs a value"), (["--url", "ftp://x"], "base URL"),
                       (["--url", "http://x/v1", "--rate", "2", "--concurrency", "2"], "not both"),
                       (["--url", "http://x/v1", "--frob"], "--frob"),
                       (["--url", "http://x/v1", "--concurrency", "0"], "--concurrency")):
        p = subprocess.run([DESK, "bench"] + args, capture_output=True, text=True)
        check("usage error: %s" % " ".join(args), p.returncode == 2 and what in p.stderr, (p.returncode, p.stderr))
    p = subprocess.run([DESK, "bench", "--help"], capture_output=True, text=True)
    check("--help documents --url", p.returncode == 0 and "--url" in p.stdout and "--slo-ttft" in p.stdout)


def main():
    stub = Stub()
    try:
        test_timing(stub)
        test_faults(stub)
        test_rate_dataset_slo(stub)
        test_outputs(stub)
        test_usage()
    finally:
        stub.stop()
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
