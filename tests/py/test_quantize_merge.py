#!/usr/bin/env python3
"""test_quantize_merge.py - `desk quantize IN OUT TYPE --lora ADAPTER[:S]`
merges LoRA adapters into the weights (issue 19: the merged GGUF).

  - every adapted tensor of the F32 output equals the base's F32 tensor
    plus S * alpha/rank * B A computed here with numpy (1e-6 relative);
    tensors the adapter leaves alone are the base's bit for bit;
  - the merged model's perplexity equals the base model run with the
    adapter at run time (F32: 1e-4 relative; F16: 0.2 %), and differs from
    the base alone;
  - two adapters at scales merge as their sum;
  - a missing adapter, one made for another model and a bad scale fail
    with one line (exit 1 or 2), and no output file is left.
The adapters are seeded random ones (build/tools/lora_tool make).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
TOOLS = os.environ.get("DESK_TOOLS", os.path.join(ROOT, "build", "tools"))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "desk", "models")
SMOL = os.path.join(CACHE, "SmolLM2-135M-Instruct.Q4_1.gguf")
GEMMA = os.path.join(CACHE, "gemma-3-270m-q4_k_m.gguf")
PPL_TEXT = os.path.join(ROOT, "tests", "data", "model", "ppl.txt")
failures = []


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:800]), flush=True)
    if not cond:
        failures.append(name)


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def ppl(model, *extra):
    rc, out, err = run(DESK, "perplexity", "-m", model, "-f", PPL_TEXT, "--ctx", "128", "--chunks", "2", "-t", "2",
                       *extra)
    if rc != 0:
        raise RuntimeError(err)
    line = [x for x in out.splitlines() if x.startswith("PPL = ")][-1]
    return float(line.split()[2])


def tensors(path):
    r = GGUFReader(path)
    out = {}
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # GGUF lists ne0 first
        out[t.name] = np.array(t.data).reshape(shape)
    return r, out


def alpha_of(reader):
    f = reader.fields["adapter.lora.alpha"]
    return float(f.parts[f.data[0]][0])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        a = os.path.join(tmp, "a.gguf")
        b = os.path.join(tmp, "b.gguf")
        for path, seed, alpha, amp in ((a, "42", "16", "0.08"), (b, "7", "32", "0.05")):
            rc, out, err = run(os.path.join(TOOLS, "lora_tool"), "make", SMOL, path, seed, "8", alpha, amp)
            check(f"lora_tool makes {os.path.basename(path)}", rc == 0, err)
        base32, merged32 = os.path.join(tmp, "base32.gguf"), os.path.join(tmp, "merged32.gguf")
        rc, _, err = run(DESK, "quantize", SMOL, base32, "F32")
        check("quantize to F32", rc == 0, err)
        rc, out, err = run(DESK, "quantize", SMOL, merged32, "F32", "--lora", a + ":0.5")
        check("quantize to F32 with --lora a:0.5", rc == 0, err)

        ra, ta = tensors(a)
        _, tb = tensors(base32)
        _, tm = tensors(merged32)
        s = 0.5 * alpha_of(ra) / 8
        adapted = sorted(n[: -len(".lora_a")] for n in ta if n.endswith(".lora_a"))
        worst = 0.0
        for name in adapted:
            want = tb[name].astype(np.float64) + s * (ta[name + ".lora_b"].astype(np.float64) @
                                                      ta[name + ".lora_a"].astype(np.float64))
            got = tm[name].astype(np.float64)
            worst = max(worst, float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30)))
        check(f"{len(adapted)} adapted tensors are W + s B A (largest relative error {worst:.2e})",
              len(adapted) > 0 and worst < 1e-6, worst)
        same = [n for n in tb if n not in adapted]
        check(f"the {len(same)} other tensors are the base's, bit for bit",
              all(np.array_equal(tb[n], tm[n]) for n in same))

        p_base, p_merged = ppl(base32), ppl(merged32)
        p_runtime = ppl(base32, "--lora", a + ":0.5")
        check(f"F32: merged PPL {p_merged:.4f} equals base + adapter at run time {p_runtime:.4f}",
              abs(p_merged - p_runtime) / p_runtime < 1e-4, (p_merged, p_runtime))
        check(f"the adapter changes the model (base alone {p_base:.4f})", abs(p_base - p_runtime) / p_base > 0.02,
              (p_base, p_runtime))

        m16 = os.path.join(tmp, "merged16.gguf")
        rc, _, err = run(DESK, "quantize", SMOL, m16, "F16", "--lora", a, "--lora", b + ":0.7")
        check("quantize to F16 with two adapters", rc == 0, err)
        p16, p2 = ppl(m16), ppl(base32, "--lora", a, "--lora", b + ":0.7")
        check(f"F16, two adapters: merged PPL {p16:.4f} within 0.2 % of run time {p2:.4f}",
              abs(p16 - p2) / p2 < 2e-3, (p16, p2))

        # Bad input: one line, exit 2, nothing written.
        out_bad = os.path.join(tmp, "bad.gguf")
        for label, lora in (("a missing adapter", os.path.join(tmp, "nope.gguf")),
                            ("an adapter for another model", None), ("a bad scale", a + ":x")):
            if lora is None:
                g = os.path.join(tmp, "g.gguf")
                run(os.path.join(TOOLS, "lora_tool"), "make", GEMMA, g, "1", "4", "8", "0.05")
                lora = g
            rc, out, err = run(DESK, "quantize", SMOL, out_bad, "Q8_0", "--lora", lora)
            lines = [x for x in err.splitlines() if x.strip()]
            check(f"{label}: a one-line error (exit {rc})", rc in (1, 2) and len(lines) == 1 and lines[0].startswith("desk quantize:"),
                  (rc, err))
            check(f"{label}: no output file", not os.path.exists(out_bad))

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
