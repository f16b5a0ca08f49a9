#!/usr/bin/env python3
"""test_perplexity_repacked.py - Q4_0 and Q4_K weights sum as llama.cpp's
repacked kernels do, in batches and in decoding; batches of Q8_0, Q5_0
and Q4_1 as its tinyBLAS and vec_dot kernels do.

llama.cpp repacks Q4_0 and Q4_K weights with rows a multiple of 8 (its
q4_0_8x8 and q4_K_8x8 layouts); desk's 8-row batch path sums each output
in the same order.  A random-weight model of the tiny shape (`desk synth
--shape tiny --seed 1` with SmolLM2's vocabulary), quantized by `desk
quantize` to Q4_0 and to Q4_K_M (Q4_K with Q6_K and others), scored by
`desk perplexity --ctx 128 --chunks 2` (every matmul a batch of 128),
must give llama-perplexity's values on the same files to the last printed
digit: 49524.6649 and 50199.1481 (llama.cpp build 3f545becc, -c 128
--chunks 2).  For Q4_0 the tile path that batches took before gave
49530.1939.  Both with the weights repacked at load (the default) and
with --no-repack (the file used in place; batches repack per call).  The
same model quantized to Q8_0, Q5_0 and Q4_1 (desk's 4-row batch tiles,
x86_tiles.h; llama.cpp's tinyBLAS for the first two, its vec_dot per
output for Q4_1) gives 49921.2482, 49873.8113 and 50136.7636 there.

Decoding: desk repacks those weights at load, as llama.cpp does, and a
matrix-vector product sums as llama.cpp's repacked gemv.  Greedy `desk
run -p "The capital of France is" -n 24 --temp 0` on the same files must
continue with llama.cpp's tokens (GREEDY: 18 x " cogniz" then 6 x
" hierarch" for Q4_0; 21 and 3 for Q4_K_M), made with build 3f545becc:

    llama-completion -m tiny-q4_0.gguf -p "The capital of France is" -n 24 \
        --temp 0 -no-cnv -t 2 --no-warmup > out.txt
    llama-tokenize -m tiny-q4_0.gguf -p "$(cat out.txt)" --ids

(llama-completion echoes the prompt: the ids are its 5 tokens and the
24 generated ones, each a single token of the vocabulary; llama-simple
-n 24 gives the same text.)  desk's output goes through `desk tokenize`
the same way.  Q4_K_M also with --no-repack (the in-place decode sums
Q4_K in the same order); Q4_0 with --no-repack sums each row as the
single-row dot (8 float lanes), not llama.cpp's repacked order, and gives
19 x " cogniz": not compared.  Checked on the x86 tables (default, DESK_ISA=avx2 and avxvnni, where
this CPU has them: a table it lacks is reported and passed over); the
portable reference sums as llama.cpp's generic C code does, not its x86
code, and is not expected to give these bits.
"""
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.environ.get("DESK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk"))
TEXT = os.path.join(ROOT, "tests", "data", "model", "ppl.txt")
SMOL = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "desk", "models",
                    "SmolLM2-135M-Instruct.Q4_1.gguf")
WANT = {
    "q4_0": "PPL = 49524.6649",
    "q4_k_m": "PPL = 50199.1481",
    "q8_0": "PPL = 49921.2482",
    "q5_0": "PPL = 49873.8113",
    "q4_1": "PPL = 50136.7636",
}
PROMPT = "The capital of France is"
PROMPT_IDS = [504, 3575, 282, 4649, 314]
GREEDY = {"q4_0": PROMPT_IDS + [48065] * 18 + [14611] * 6, "q4_k_m": PROMPT_IDS + [48065] * 21 + [14611] * 3}


def run(*args):
    return subprocess.run([DESK, *args], capture_output=True, text=True, timeout=600)


def main():
    if platform.machine() not in ("x86_64", "AMD64"):
        print("the recorded value is llama.cpp's x86 sum; nothing to compare on", platform.machine())
        return 0
    if not os.path.exists(SMOL):
        print(f"FAIL: {SMOL} missing (make models)")
        return 1
    with tempfile.TemporaryDirectory() as d:
        f16 = os.path.join(d, "tiny-f16.gguf")
        r = run("synth", "--shape", "tiny", "--vocab-from", SMOL, "--seed", "1", f16)
        if r.returncode != 0:
            print("FAIL synth:", r.stderr)
            return 1
        failed = 0
        for q, want in WANT.items():
            out = os.path.join(d, f"tiny-{q}.gguf")
            r = run("quantize", f16, out, q)
            if r.returncode != 0:
                print(f"FAIL quantize {q}:", r.stderr)
                failed += 1
                continue
            for isa in ("", "avx2", "avxvnni"):
                env = dict(os.environ)
                if isa:
                    env["DESK_ISA"] = isa
                for mode in ([], ["--no-repack"]) if q in GREEDY else ([],):
                    name = f"{q} {isa or 'default'}{' ' + mode[0] if mode else ''}"
                    r = subprocess.run([DESK, "perplexity", "-m", out, "-f", TEXT, "--ctx", "128", "--chunks", "2"] + mode,
                                       capture_output=True, text=True, timeout=600, env=env)
                    if isa and r.returncode != 0 and "this CPU lacks" in r.stderr:
                        print(f"{isa}: not on this machine ({r.stderr.strip()})")
                        break  # a CPU without AVX2 or AVX-VNNI
                    got = r.stdout.strip().split(" +/-")[0]
                    ok = r.returncode == 0 and got == want
                    print(f"{name}: {got!r} (llama.cpp {want!r}) {'ok' if ok else 'FAIL'}")
                    failed += not ok
                    if q not in GREEDY or (q == "q4_0" and mode):
                        continue  # the in-place decode of Q4_0 sums in another order (see above)
                    r = subprocess.run([DESK, "run", "-m", out, "-p", PROMPT, "-n", "24", "--temp", "0"] + mode,
                                       capture_output=True, text=True, timeout=600, env=env)
                    t = subprocess.run([DESK, "tokenize", "-m", out, "--no-bos"], input=PROMPT + r.stdout.rstrip("\n"),
                                       capture_output=True, text=True, timeout=600)
                    ids = [int(v) for v in t.stdout.split()] if t.returncode == 0 else None
                    ok = r.returncode == 0 and ids == GREEDY[q]
                    print(f"{name} greedy: {'ok' if ok else 'FAIL ' + repr(r.stdout) + ' ' + repr(ids)}")
                    failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
