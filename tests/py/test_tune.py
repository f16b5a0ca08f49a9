#!/usr/bin/env python3
"""test_tune.py - `desk tune` from the command line: --help, one-line errors
naming the JSONL line of bad data, a tiny run on SmolLM2 (chat and text
examples, a validation split) whose validation loss falls, and the adapter
it writes loaded by `desk run --lora` (greedy output changes from the
base's).  Under DESK_SANITIZED the run is shorter; the checks stay.
"""
import json
import os
import subprocess
import sys
import tempfile

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
        r = desk("tune", "-m", "smollm2", "--data", data, "-o", out, "--epochs", epochs, "--batch", "4",
                 "--lr", "3e-3", "--val", data, "--ctx", "64", "-t", "2", "--seed", "3")
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
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
