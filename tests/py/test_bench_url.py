#!/usr/bin/env python3
"""test_bench_url.py - `desk bench --url` against a server on loopback.

tests/py/sse_stub.py streams chat completions with known delays (first token
after 40 ms, then one every 15 ms) and records what it actually did; the
report's TTFT and ITL percentiles must agree with the stub's own to within
2 ms (a measurement is retried up to 5 times before failing, since the
machine is shared).  Also: token counts from usage and from counted chunks,
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


def timing(stub):
    """One measurement: c1 and c4, 12 requests each; the percentiles it
    reports against the stub's own.  Returns a list of mismatches."""
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
                if abs(mine - theirs) > TOL:
                    bad.append("%s %s %s: report %.2f ms, stub did %.2f ms" % (res["test"], name, key, mine, theirs))
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
    check("TTFT and ITL p50/p90/p99 within %.0f ms of what the stub did" % TOL, not bad, bad)
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
    check("c1 output tokens/s is 8 tokens per request time", abs(r1["tokens_per_s"] - 8e3 / e2e) < 0.15 * 8e3 / e2e,
          r1["tokens_per_s"])
    check("c4 serves about 4x c1", 3.0 < r4["tokens_per_s"] / r1["tokens_per_s"] < 4.4,
          (r1["tokens_per_s"], r4["tokens_per_s"]))
    check("requests/s x tokens per request = tokens/s",
          abs(l4["requests_per_s"] * 8 - r4["tokens_per_s"]) < 1e-6 * r4["tokens_per_s"] + 1e-9, l4)
    check("E2E p50 is the schedule", abs(l1["e2e_ms"]["p50"] - e2e) < 5, l1["e2e_ms"])
    check("client CPU time is reported and small", 0 < l1["client_cpu_s"] < 0.25 * l1["wall_s"], l1)
    check("the env names the target and the client", rep["env"]["target"] == stub.url and rep["env"]["cpu"], rep["env"])


def main():
    stub = Stub()
    try:
        test_timing(stub)
    finally:
        stub.stop()
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
