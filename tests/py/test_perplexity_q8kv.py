#!/usr/bin/env python3
"""test_perplexity_q8kv.py - `desk perplexity` with a Q8_0 K and V cache
(-ctk q8_0 -ctv q8_0) gives llama-perplexity's numbers with the same cache
to the last printed digit.

llama.cpp with a quantized cache and flash attention rotates q, k and v
by a Walsh-Hadamard transform, stores k and v as Q8_0 (its activation
quantizer), quantizes q to Q8_0 for the Q8_0 dot, accumulates the
dequantized V in F32, rotates the output back, and never takes its tiled
path; desk does each step with the same rounding (src/model/ops.c), so
both the perplexity and its error bar agree.  Reference lines, printed by
llama.cpp build 3f545becc (tests/data/model/README.md):

    llama-perplexity -m MODEL -f tests/data/model/ppl.txt -c 128 --chunks 2 -t 2 -ctk q8_0 -ctv q8_0 -fa on

Checked with the default kernels and DESK_ISA=avx2, on x86 only (the
recorded sums are llama.cpp's x86 order).  The F16 cache gives other
values on the same windows (so the flags are not ignored).  Under the
sanitizers only SmolLM2 runs.
"""
import os
import platform
import subprocess
import sys

ROOT = os.environ.get("DESK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk"))
TEXT = os.path.join(ROOT, "tests", "data", "model", "ppl.txt")
SANITIZED = bool(os.environ.get("DESK_SANITIZED"))
WANT = {"smollm2": "PPL = 26.4992 +/- 7.18023", "gemma3-270m": "PPL = 26.1193 +/- 7.03813"}
ARGS = ["-f", TEXT, "--ctx", "128", "--chunks", "2", "-t", "2"]


def run(model, *extra, isa=""):
    env = dict(os.environ)
    if isa:
        env["DESK_ISA"] = isa
    return subprocess.run([DESK, "perplexity", "-m", model, *ARGS, *extra], capture_output=True, text=True,
                          timeout=1500, env=env)


def main():
    if platform.machine() not in ("x86_64", "AMD64"):
        print("the recorded values are llama.cpp's x86 sums; nothing to compare on", platform.machine())
        return 0
    failed = 0
    r = run("smollm2", "-ctk", "q4_0")
    ok = r.returncode == 2 and "-ctk" in r.stderr and r.stderr.count("\n") == 1
    print(f"-ctk q4_0 refused: {r.stderr.strip()!r} {'ok' if ok else 'FAIL'}")
    failed += not ok
    models = ["smollm2"] if SANITIZED else list(WANT)
    for model in models:
        for isa in ("", "avx2"):
            if isa and SANITIZED:
                continue
            r = run(model, "-ctk", "q8_0", "--cache-type-v", "q8_0", isa=isa)
            if isa and r.returncode != 0 and "cannot" in r.stderr:
                print(f"{isa}: not on this machine ({r.stderr.strip()})")
                continue
            got = r.stdout.strip()
            ok = r.returncode == 0 and got == WANT[model]
            print(f"{model} q8_0 cache, {isa or 'default'} kernels: {got!r} (llama.cpp {WANT[model]!r}) "
                  f"{'ok' if ok else 'FAIL'}")
            failed += not ok
    r = run("smollm2")
    ok = r.returncode == 0 and r.stdout.startswith("PPL = ") and r.stdout.strip() != WANT["smollm2"]
    print(f"smollm2 f16 cache: {r.stdout.strip()!r} (differs from the q8_0 cache's) {'ok' if ok else 'FAIL'}")
    failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
