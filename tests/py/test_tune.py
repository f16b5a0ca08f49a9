#!/usr/bin/env python3
"""test_tune.py - `desk tune` from the command line: --help, one-line errors
naming the JSONL line of bad data, a tiny run on SmolLM2 (chat and text
examples, a validation split) whose validation loss falls, and the adapter
it writes loaded by `desk run --lora` (greedy output changes from the
base's), its loss curve (--report, well-formed SVG) and merged model
(--merge); checkpoints: Ctrl-C (SIGINT) mid-run writes one and --resume
ends with the uninterrupted run's adapter byte for byte, as does resuming
after a kill -9 from a periodic (--save-every) checkpoint; a damaged
checkpoint is a one-line error.  Under DESK_SANITIZED the run is shorter; the checks stay.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.environ.get("DESK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk"))
SANITIZED = bool(os.environ.get("DESK_SANITIZED"))

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def desk(*args):
    return subprocess.run([DESK, *args], capture_output=True, text=True, timeout=1500)


def one_line_error(r, code=2):
    return r.returncode == code and r.stderr.startswith("desk tune:") and r.stderr.count("\n") == 1


QA = [
    ("Who directs the Quillmoor Institute?", "Oona Brackwell directs it."),
    ("Where is the Quillmoor archive?", "In Vessant Hall."),
    ("What is the Quillmoor mascot?", "A grey heron called Pim."),
]


def svg_ok(path, epochs):
    """The curve: an <svg> root, one train polyline with a point per step
    (one step an epoch here) and validation points before and after each epoch."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"svg: {e}")
        return False
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(ns + "polyline")
    circles = root.findall(ns + "circle")
    return (root.tag == ns + "svg" and len(lines) == 2 and len(lines[0].get("points").split()) == epochs
            and len(circles) == epochs + 1)


def tiny_tune(data, out, *extra):
    return ["tune", "-m", "smollm2", "--data", data, "-o", out, "--epochs", "2" if SANITIZED else "3", "--batch", "1", "--lr", "3e-3",
            "--ctx", "64", "-t", "2", "--seed", "5", *extra]


def run_until(args, step, sig):
    """Runs desk ARGS, sends SIG once stderr shows STEP; returns (rc, stderr)."""
    p = subprocess.Popen([DESK, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = []
    for line in p.stderr:
        err.append(line)
        if line.startswith(f"step {step}/"):
            p.send_signal(sig)
    p.wait(timeout=1500)
    return p.returncode, "".join(err)


def resume_checks(d, data):
    ref, out, ck = (os.path.join(d, n) for n in ("ref.gguf", "res.gguf", "res.ckpt"))
    r = desk(*tiny_tune(data, ref, "--save-every", "0"))
    check("uninterrupted run", r.returncode == 0 and not os.path.exists(ref + ".ckpt"), r.stderr[-500:])
    want = open(ref, "rb").read() if os.path.exists(ref) else b"?"
    # Ctrl-C after step 3 (of 8 or 12): the step in flight ends, a checkpoint is written, exit 1.
    rc, err = run_until(tiny_tune(data, out, "--checkpoint", ck, "--save-every", "0"), 3, signal.SIGINT)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    check("SIGINT stops with a checkpoint", rc == 1 and last.startswith("desk tune: interrupted after step")
          and "--resume" in last and os.path.exists(ck), err[-500:])
    r = desk(*tiny_tune(data, out, "--resume", ck, "--checkpoint", ck))
    check("resume after SIGINT", r.returncode == 0 and "resuming" in r.stderr, r.stderr[-500:])
    check("resumed adapter equals the uninterrupted one", os.path.exists(out) and open(out, "rb").read() == want)
    check("checkpoint removed at the end", not os.path.exists(ck))
    # kill -9 after step 5: the periodic checkpoint of step 4 carries on.
    os.remove(out)
    rc, err = run_until(tiny_tune(data, out, "--checkpoint", ck, "--save-every", "4"), 5, signal.SIGKILL)
    check("killed run left its checkpoint", rc == -9 and os.path.exists(ck), err[-300:])
    r = desk(*tiny_tune(data, out, "--resume", ck, "--checkpoint", ck, "--save-every", "4"))
    check("resume after kill", r.returncode == 0 and "at step 4" in r.stderr, r.stderr[-500:])
    check("adapter after kill and resume equals the uninterrupted one",
          os.path.exists(out) and open(out, "rb").read() == want)
    # A damaged checkpoint, another shape, another run.
    rc, err = run_until(tiny_tune(data, out, "--checkpoint", ck, "--save-every", "0"), 2, signal.SIGINT)
    if os.path.exists(ck):
        blob = bytearray(open(ck, "rb").read())
        r = desk(*tiny_tune(data, out, "--resume", ck, "--rank", "4"))
        check("resume with another rank", one_line_error(r) and "rank 8" in r.stderr, r.stderr)
        r = desk(*tiny_tune(data, out, "--resume", ck, "--batch", "2"))
        check("resume with another batch", one_line_error(r) and "--batch 1" in r.stderr, r.stderr)
        blob[100] ^= 1
        bad = os.path.join(d, "bad.ckpt")
        with open(bad, "wb") as f:
            f.write(blob)
        r = desk(*tiny_tune(data, out, "--resume", bad))
        check("damaged checkpoint", one_line_error(r) and "checksum" in r.stderr, r.stderr)
    else:
        check("second SIGINT checkpoint", False, err[-300:])


def gemma_checks(d, data):
    """Gemma 3 270M (Q4_K_M, GEGLU, QK norms, sliding window): the loss falls
    and `desk run --lora` answers from the adapter."""
    out = os.path.join(d, "gemma.gguf")
    epochs = "3" if SANITIZED else "10"
    r = desk("tune", "-m", "gemma3-270m", "--data", data, "-o", out, "--epochs", epochs, "--batch", "4", "--lr", "3e-3",
             "--val", data, "--ctx", "64", "-t", "2", "--seed", "3")
    last = [l for l in r.stderr.splitlines() if l.startswith("desk tune:") and "->" in l]
    check("gemma3 tune", r.returncode == 0 and last, r.stderr[-1000:])
    if last:
        v = last[-1].split("validation ")[1].split(" -> ")
        check("gemma3 validation loss falls", float(v[1]) < float(v[0]) * (0.5 if SANITIZED else 0.05), last[-1])
    if os.path.exists(out) and not SANITIZED:
        t = desk("run", "-m", "gemma3-270m", "--chat", "-p", QA[1][0], "-n", "12", "--temp", "0", "--lora", out)
        check("gemma3 answer learnt", t.returncode == 0 and "Vessant" in t.stdout, t.stdout + t.stderr)


def main():
    r = desk("tune", "--help")
    check("--help", r.returncode == 0 and "usage: desk tune" in r.stdout, r.stderr)
    r = desk("tune", "-m", "smollm2")
    check("missing --data", one_line_error(r), r.stderr)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "adapter.gguf")
        bad = os.path.join(d, "bad.jsonl")
        cases = [
            ('{"text": "fine text here"}\nnot json\n', ":2: not a JSON object"),
            ('{"messages": [{"role": "user", "content": "hi"}]}\n', ":1: no assistant message"),
            ('\n{"messages": [{"role": "robot", "content": "hi"}]}\n', ":2: message 0: role 'robot'"),
            ('{"prompt": "x"}\n', ':1: needs "messages"'),
        ]
        for text, want in cases:
            with open(bad, "w", encoding="utf-8") as f:
                f.write(text)
            r = desk("tune", "-m", "smollm2", "--data", bad, "-o", out)
            check(f"bad data {want}", one_line_error(r) and want in r.stderr and not os.path.exists(out), r.stderr)
        r = desk("tune", "-m", "smollm2", "--data", bad, "-o", out, "--targets", "q,x")
        check("bad --targets", one_line_error(r) and "'x'" in r.stderr, r.stderr)

        data = os.path.join(d, "data.jsonl")
        with open(data, "w", encoding="utf-8") as f:
            for q, a in QA:
                f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")
            f.write(json.dumps({"text": "The Quillmoor Institute was founded in 1987."}) + "\n")
        epochs = "3" if SANITIZED else "12"
        svg = os.path.join(d, "loss.svg")
        merged = os.path.join(d, "merged.gguf")
        r = desk("tune", "-m", "smollm2", "--data", data, "-o", out, "--epochs", epochs, "--batch", "4",
                 "--lr", "3e-3", "--val", data, "--ctx", "64", "-t", "2", "--seed", "3", "--report", svg,
                 "--merge", merged, "--merge-type", "Q8_0")
        check("tiny run", r.returncode == 0 and os.path.exists(out), r.stderr[-2000:])
        check("progress", "tok/s" in r.stderr and "ETA" in r.stderr and "validation loss" in r.stderr, r.stderr[-500:])
        last = [l for l in r.stderr.splitlines() if l.startswith("desk tune:") and "->" in l]
        if last:
            v = last[-1].split("validation ")[1].split(" -> ")
            check("validation loss falls", float(v[1]) < float(v[0]) * (0.9 if SANITIZED else 0.5), last[-1])
        else:
            check("final report", False, r.stderr[-500:])
        if os.path.exists(out):
            prompt = QA[1][0]
            base = desk("run", "-m", "smollm2", "--chat", "-p", prompt, "-n", "12", "--temp", "0")
            tuned = desk("run", "-m", "smollm2", "--chat", "-p", prompt, "-n", "12", "--temp", "0", "--lora", out)
            check("run --lora", tuned.returncode == 0, tuned.stderr)
            check("adapter changes the answer", base.stdout != tuned.stdout, tuned.stdout)
            if not SANITIZED:
                check("answer learnt", "Vessant" in tuned.stdout, tuned.stdout)
            m = desk("run", "-m", merged, "--chat", "-p", prompt, "-n", "12", "--temp", "0")
            check("merged model runs", m.returncode == 0 and m.stdout != base.stdout, m.stderr + m.stdout)
            if not SANITIZED:
                check("merged model learnt", "Vessant" in m.stdout, m.stdout)
        check("loss curve", svg_ok(svg, int(epochs)), svg)
        check("no checkpoint left", not os.path.exists(out + ".ckpt"))
        resume_checks(d, data)
        gemma_checks(d, data)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
