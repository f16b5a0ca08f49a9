#!/usr/bin/env python3
"""test_perplexity.py - `desk perplexity` against llama-perplexity's numbers.

The reference values were printed by llama.cpp's llama-perplexity on
tests/data/model/ppl.txt (see tests/data/model/README.md).  On 2 shared
cores the full 20k-token run takes far too long with the portable kernels,
so the test scores the first 2 windows of 512 (510 tokens), within 0.3%;
in the ASan build (DESK_SANITIZED=1) one window of 64 (31 tokens, so a
looser 3%).  Also: usage and input errors.
"""
import json
import os
import subprocess
import sys

ROOT = os.environ.get("DESK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk"))
TEXT = os.path.join(ROOT, "tests", "data", "model", "ppl.txt")
SANITIZED = bool(os.environ.get("DESK_SANITIZED"))

# llama-perplexity -m MODEL -f ppl.txt -c CTX (the running value after N chunks)
REF = {("smollm2", 512, 2): 8.7656, ("smollm2", 64, 1): 25.1347}

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def run(*args):
    return subprocess.run([DESK, "perplexity", *args], capture_output=True, text=True, timeout=1500)


def main():
    r = run("--help")
    check("--help", r.returncode == 0 and "usage: desk perplexity" in r.stdout, r.stderr)
    r = run("-m", "smollm2")
    check("missing -f", r.returncode == 2 and r.stderr.startswith("desk perplexity:") and
          r.stderr.count("\n") == 1, r.stderr)
    r = run("-m", "smollm2", "-f", TEXT, "--ctx", "abc")
    check("bad --ctx", r.returncode == 2 and "--ctx" in r.stderr, r.stderr)
    r = run("-m", "smollm2", "-f", TEXT, "--ctx", "20000")
    check("text too short", r.returncode == 2 and "tokens" in r.stderr, r.stderr)

    model, ctx, chunks, tol = ("smollm2", 64, 1, 0.03) if SANITIZED else ("smollm2", 512, 2, 0.003)
    r = run("-m", model, "-f", TEXT, "--ctx", str(ctx), "--chunks", str(chunks), "--json")
    try:
        got = json.loads(r.stdout)["ppl"]
    except (ValueError, KeyError):
        got = None
    want = REF[(model, ctx, chunks)]
    rel = abs(got - want) / want if got else None
    print(f"{model} ctx {ctx} chunks {chunks}: desk {got}, llama.cpp {want}, rel diff {rel}")
    check("ppl vs llama.cpp", r.returncode == 0 and got is not None and rel <= tol, r.stdout + r.stderr)
    r = run("-m", model, "-f", TEXT, "--ctx", str(ctx), "--chunks", str(chunks))
    check("PPL line", r.returncode == 0 and r.stdout.startswith("PPL = ") and "+/-" in r.stdout, r.stdout)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
