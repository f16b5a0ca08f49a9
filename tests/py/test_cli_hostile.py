#!/usr/bin/env python3
"""test_cli_hostile.py - the desk CLI against hostile paths, streams and limits.

Each case is a class of issue #15 (docs/SECURITY.md, "Files, streams,
signals and output"):
  - an output that is the input (./, ../, a hard link, a symlink) is refused;
  - non-regular files (a FIFO, /dev/zero) are refused at once, never opened
    in a blocking way or read forever;
  - streams read into memory are capped (tokenize, chat);
  - under `ulimit -f` and after SIGINT/SIGTERM no temporary file is left;
  - JSON never holds NaN; errors escape control bytes and name a path once;
  - exit codes: 2 for bad input (not a regular file), 1 for lack of memory.
Every desk call runs with a timeout, so a hang fails instead of blocking.
"""
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                     "desk", "models")
SMOLLM2 = os.path.join(CACHE, "SmolLM2-135M-Instruct.Q4_1.gguf")
TIMEOUT = 60

failures = []


def desk(args, stdin=None, timeout=TIMEOUT, preexec=None, cwd=None, stdin_file=None):
    """Runs desk; returns (code, stdout bytes, stderr bytes); a hang is a failure."""
    kw = {"input": stdin} if stdin is not None else {"stdin": stdin_file or subprocess.DEVNULL}
    try:
        r = subprocess.run([DESK] + args, capture_output=True, timeout=timeout, preexec_fn=preexec, cwd=cwd, **kw)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return "timeout", b"", b""


def check(name, cond, detail=""):
    if cond:
        print(f"ok {name}")
    else:
        print(f"FAIL {name} {detail}")
        failures.append(name)


def one_line_error(name, res, code, cmd, needle=None):
    """Exit CODE and exactly one line 'desk CMD: ...' on stderr (with NEEDLE)."""
    c, _, err = res
    ok = (c == code and err.startswith(f"desk {cmd}: ".encode()) and err.endswith(b"\n")
          and err.count(b"\n") == 1 and b"\x1b" not in err)
    if ok and needle is not None:
        ok = needle.encode() in err
    check(name, ok, f"exit {c}, stderr {err[:300]!r}")


def strict_json(text):
    def bad(c):
        raise ValueError(f"not JSON: {c}")
    return json.loads(text, parse_constant=bad)


def make_tiny(d):
    path = os.path.join(d, "tiny.gguf")
    r = desk(["synth", "--shape", "tiny", "--vocab-from", "smollm2", path, "-t", "2"])
    if r[0] != 0:
        raise SystemExit(f"desk synth failed: {r}")
    return path


def test_same_file(d, tiny):
    sub = os.path.join(d, "sub")
    os.makedirs(sub)
    x = os.path.join(d, "x.gguf")
    shutil.copy(tiny, x)
    before = open(x, "rb").read()
    os.link(x, os.path.join(d, "hard.gguf"))
    os.symlink("x.gguf", os.path.join(d, "sym.gguf"))
    spellings = [("plain", ["x.gguf", "x.gguf"], d), ("dot", ["x.gguf", "./x.gguf"], d),
                 ("dotdot", ["x.gguf", "../x.gguf"], sub), ("hardlink", ["x.gguf", "hard.gguf"], d),
                 ("symlink-out", ["x.gguf", "sym.gguf"], d), ("symlink-in", ["sym.gguf", "x.gguf"], d)]
    for name, (i, o), cwd in spellings:
        if cwd == sub:
            i = os.path.join(d, i)
        r = desk(["quantize", i, o, "Q4_0", "-t", "1"], cwd=cwd)
        one_line_error(f"quantize same file ({name})", r, 2, "quantize", "same file")
        check(f"quantize same file ({name}) leaves the input", open(x, "rb").read() == before)
    r = desk(["synth", "--shape", "tiny", "--vocab-from", x, x])
    one_line_error("synth output is its vocab file", r, 2, "synth", "same file")
    check("synth leaves its vocab file", open(x, "rb").read() == before)
    rep = os.path.join(d, "rep.json")
    with open(rep, "w") as f:
        f.write('{"env":{},"results":[]}')
    r = desk(["bench", "show", rep, "--md", "-o", rep])
    one_line_error("bench show -o the report itself", r, 2, "bench", "same file")
    check("bench show leaves the report", open(rep).read() == '{"env":{},"results":[]}')


def test_non_regular(d):
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    for args in (["info", fifo], ["run", "-m", fifo, "-p", "hi"], ["tokenize", "-m", fifo],
                 ["fit", fifo], ["bench", "-m", fifo, "-p", "0", "-n", "1", "-r", "1"],
                 ["run", "-m", "smollm2", "-f", fifo, "-n", "1"],
                 ["perplexity", "-m", "smollm2", "-f", fifo]):
        r = desk(args, stdin=b"", timeout=30)
        one_line_error(f"{args[0]} on a FIFO ({' '.join(args[1:3])})", r, 2, args[0], "not a regular file")
    for args in (["cost", "--bench", "/dev/zero"], ["bench", "show", "/dev/zero"],
                 ["bench", "compare", "/dev/zero", "/dev/zero"], ["bench", "compare", fifo, fifo],
                 ["info", "/dev/zero"], ["info", d]):
        r = desk(args, timeout=30)
        one_line_error(f"{args[0]} {args[1]} on {args[-1]}", r, 2, args[0], "not a regular file")


def test_streams(d):
    with open("/dev/zero", "rb") as z:
        r = desk(["tokenize", "-m", "smollm2"], stdin_file=z)
    one_line_error("tokenize < /dev/zero stops at its cap", r, 2, "tokenize", "longer than")
    with open("/dev/zero", "rb") as z:
        r = desk(["chat", "-m", "smollm2", "-t", "1"], stdin_file=z)
    one_line_error("chat < /dev/zero fails", r, 2, "chat", "NUL byte")
    r = desk(["chat", "-m", "smollm2", "-t", "1"], stdin=b"a" * ((1 << 20) + 10) + b"\n")
    one_line_error("chat: a line past its cap", r, 2, "chat", "longer than")


def no_temp_left(d, out):
    return not os.path.exists(out) and not glob.glob(out + ".tmp.*")


def test_limits_and_signals(d, tiny):
    out = os.path.join(d, "limited.gguf")

    def fsize_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    r = desk(["quantize", tiny, out, "Q8_0", "-t", "1"], preexec=fsize_limit)
    one_line_error("quantize over ulimit -f: one-line error", r, 1, "quantize")
    check("quantize over ulimit -f leaves no file", no_temp_left(d, out), str(os.listdir(d)))
    out = os.path.join(d, "synth-limited.gguf")
    r = desk(["synth", "--shape", "tiny", "--vocab-from", "smollm2", out], preexec=fsize_limit)
    one_line_error("synth over ulimit -f: one-line error", r, 1, "synth")
    check("synth over ulimit -f leaves no file", no_temp_left(d, out), str(os.listdir(d)))

    for sig in (signal.SIGINT, signal.SIGTERM):
        out = os.path.join(d, f"sig{int(sig)}.gguf")
        p = subprocess.Popen([DESK, "quantize", SMOLLM2, out, "Q8_0", "-t", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        t0 = time.time()
        while not glob.glob(out + ".tmp.*") and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.005)
        started = bool(glob.glob(out + ".tmp.*"))
        p.send_signal(sig)
        try:
            code = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            code = "timeout"
        check(f"quantize killed by {sig.name} while writing", started and code == -int(sig), f"exit {code}")
        check(f"quantize killed by {sig.name} leaves no temporary file", no_temp_left(d, out), str(os.listdir(d)))


def write_weird_gguf(path):
    sys.path.insert(0, os.path.join(ROOT, ".venv"))
    import gguf
    w = gguf.GGUFWriter(path, "llama")
    w.add_array("test.floats", [float("nan")] * 20 + [float("inf")])
    w.add_float32("test.nan", float("nan"))
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    w.add_int32("tokenizer.ggml.bos_token_id", -2)
    w.add_int32("tokenizer.ggml.eos_token_id", -1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_output(d, tiny):
    weird = os.path.join(d, "weird.gguf")
    write_weird_gguf(weird)
    for extra in ([], ["--full"]):
        c, out, err = desk(["info", weird, "--json"] + extra)
        try:
            doc = strict_json(out)
            ok = c == 0 and doc["metadata"]["test.nan"] is None
        except ValueError as e:
            ok, err = False, str(e).encode()
        check(f"info --json {' '.join(extra)}: NaN is null", ok, f"exit {c} {err[:200]!r}")
    c, out, _ = desk(["info", weird])
    bos = [l for l in out.decode(errors="replace").splitlines() if l.strip().startswith("bos ")]
    check("info shows bos_token_id -2 as it is", c == 0 and bos and "-2" in bos[0], f"{bos}")

    # A model whose logits are NaN: perplexity --json prints null, not nan.
    # (NaN weights are refused at load; finite ones this large overflow the
    # final norm to inf, and the products of inf to NaN.)
    nan_model = os.path.join(d, "nan.gguf")
    shutil.copy(tiny, nan_model)
    import gguf
    rd = gguf.GGUFReader(nan_model, "r+")
    for t in rd.tensors:
        if t.name == "output_norm.weight":
            t.data[:] = 3e38
    del rd
    text = os.path.join(d, "text.txt")
    with open(text, "w") as f:
        f.write("The quick brown fox jumps over the lazy dog. " * 20)
    c, out, err = desk(["perplexity", "-m", nan_model, "-f", text, "--ctx", "16", "--chunks", "1", "-t", "1",
                        "--json", "--no-repack"])
    try:
        doc = strict_json(out)
        ok = c == 0 and doc["ppl"] is None
    except ValueError as e:
        ok, err = False, str(e).encode()
    check("perplexity --json: a NaN perplexity is null", ok, f"exit {c} out {out[:200]!r} err {err[-200:]!r}")
    # run refuses to sample from non-finite logits (it once printed the
    # first token's text, or nothing, as if the model had chosen it)
    r = desk(["run", "-m", nan_model, "-p", "hi", "-n", "4", "--temp", "0", "--no-repack"])
    one_line_error("run: non-finite logits are an error, not a token", r, 2, "run", "not finite")

    # Control bytes in a path are escaped: one line, no ESC.
    evil = os.path.join(d, "a\nb\x1b[31m.gguf")
    with open(evil, "wb") as f:
        f.write(b"not a gguf file at all")
    for args in (["info", evil], ["run", "-m", evil, "-p", "hi"], ["tokenize", "-m", evil],
                 ["info", "x\ny\x1b"], ["quantize", evil, os.path.join(d, "o\x07.gguf"), "Q4_0"]):
        r = desk(args)
        one_line_error(f"{args[0]}: control bytes in a path are escaped", r, 2, args[0])
    # One layer names the file once: not "F: F: ...".
    fifo = os.path.join(d, "fifo")
    for args in (["run", "-m", fifo, "-p", "hi"], ["run", "-m", evil, "-p", "hi"]):
        c, _, err = desk(args)
        name = os.path.basename(args[2]).encode().replace(b"\n", b"\\n").replace(b"\x1b", b"\\x1b")
        check(f"run names {os.path.basename(args[2])!r} once", err.count(name) == 1, f"{err!r}")


def test_exit_codes(d, tiny):
    # lack of address space for the mapping is a failure (1), not bad input
    def as_limit():
        resource.setrlimit(resource.RLIMIT_AS, (80 << 20, 80 << 20))
    c, _, err = desk(["info", SMOLLM2], preexec=as_limit)
    if b"Sanitizer" in err or b"ASan" in err or c not in (0, 1, 2):
        print("skip info under ulimit -v (sanitizer build)")
    else:
        one_line_error("info: mmap without memory exits 1", (c, b"", err), 1, "info")
    # an unusable output path is refused before any work
    junk = os.path.join(d, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"GGUF junk")
    r = desk(["bench", "-m", junk, "-p", "0", "-n", "1", "-r", "1", "-o", os.path.join(d, "nodir", "r.json")])
    one_line_error("bench -o into a missing directory is refused first", r, 2, "bench", "does not exist")
    r = desk(["bench", "-m", junk, "-p", "0", "-n", "1", "-r", "1", "--html", d])
    one_line_error("bench --html onto a directory is refused first", r, 2, "bench", "is a directory")
    # context_length 0 or 2^30: refused by run as by info (one reader of the
    # hyperparameters), bad input
    import gguf
    for v in (0, 1 << 30):
        bad = os.path.join(d, f"ctx{v}.gguf")
        shutil.copy(tiny, bad)
        rd = gguf.GGUFReader(bad, "r+")
        rd.fields["llama.context_length"].parts[-1][0] = v
        del rd
        for cmd in (["run", "-m", bad, "-p", "hi", "-n", "1"], ["info", bad]):
            r = desk(cmd)
            one_line_error(f"{cmd[0]}: context_length {v} is refused", r, 2, cmd[0], "context_length")


def main():
    if not os.path.exists(SMOLLM2):
        print(f"FAIL {SMOLLM2} is missing (make models)")
        return 1
    d = tempfile.mkdtemp(prefix="desk_hostile_")
    try:
        tiny = make_tiny(d)
        test_same_file(d, tiny)
        test_non_regular(d)
        test_streams(d)
        test_limits_and_signals(d, tiny)
        test_output(d, tiny)
        test_exit_codes(d, tiny)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
