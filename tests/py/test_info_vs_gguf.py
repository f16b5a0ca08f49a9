"""test_info_vs_gguf.py - `desk info --json` agrees with gguf.GGUFReader.

For both real models, every vocab file in shared/vocab and the small sample
file with every value type (fuzz/seeds/gguf/sample-64.gguf, written by desk's
own writer): the GGUF version, key and tensor counts; every key's type and
value (scalars exactly, floats bit for bit, strings byte for byte; arrays
with --full: length and every element); and every tensor's name, type,
shape, offset and byte size, in file order.  Without --full, arrays longer
than 16 must print as {type, length, head} with the first 16 elements.  The
text view must list every tensor.  The kernels part: the tables this CPU
runs agree with /proc/cpuinfo's flags on x86-64, the best is in use,
DESK_ISA forces one, and a name it cannot run shows "none" and why.
Prints "N passed, M failed"; exits
non-zero on any failure.
"""

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType

ROOT = Path(os.environ.get("DESK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
DESK = os.environ.get("DESK_BIN", str(ROOT / "build" / "desk"))
MODELS = Path(os.environ.get("DESK_MODELS", Path.home() / ".cache" / "desk" / "models"))
SHARED = Path(os.environ.get("DESK_SHARED_DIR", ROOT / ".." / "shared"))
HEAD = 16

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)
    return ok


def desk_json(path, *flags, env=None):
    r = subprocess.run([DESK, "info", str(path), "--json", *flags], capture_output=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"desk info {path}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    return json.loads(r.stdout.decode("utf-8", "surrogateescape"))


def same_scalar(vtype, desk_v, ref):
    """Compares one desk JSON value with one numpy scalar / bytes of type VTYPE."""
    if vtype == GGUFValueType.STRING:
        return isinstance(desk_v, str) and desk_v.encode("utf-8", "surrogateescape") == bytes(ref)
    if vtype == GGUFValueType.BOOL:
        return desk_v is bool(ref)
    if vtype in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
        r = float(ref)
        return isinstance(desk_v, float) and (desk_v == r or (math.isnan(desk_v) and math.isnan(r)))
    return isinstance(desk_v, int) and not isinstance(desk_v, bool) and desk_v == int(ref)


def leaves(v):
    """Flattens desk's nested JSON arrays the way GGUFReader flattens them."""
    if isinstance(v, list):
        return [x for e in v for x in leaves(e)]
    return [v]


def compare_file(path):
    ref = GGUFReader(path)
    full = desk_json(path, "--full")
    summary = desk_json(path)
    name = Path(path).name
    check(full["version"] == int(ref.fields["GGUF.version"].parts[-1][0]), f"{name}: version")
    check(full["size"] == os.path.getsize(path), f"{name}: size")
    fields = {k: f for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    check(list(full["metadata"].keys()) == list(fields.keys()), f"{name}: keys and their order")
    for key, f in fields.items():
        if key not in full["metadata"]:
            continue
        dv, dt = full["metadata"][key], full["metadata_types"][key]
        t0 = f.types[0]
        if t0 != GGUFValueType.ARRAY:
            check(dt == t0.name, f"{name}: {key}: type {dt} vs {t0.name}")
            check(same_scalar(t0, dv, f.parts[f.data[0]] if t0 == GGUFValueType.STRING else f.parts[f.data[0]][0]),
                  f"{name}: {key}: value {dv!r:.80}")
            continue
        et = f.types[1] if len(f.types) > 1 else None
        check(dt == f"ARRAY[{et.name if et else 'UINT8'}]" or (et is None and dt.startswith("ARRAY[")),
              f"{name}: {key}: type {dt} vs {f.types}")
        leaf_t = f.types[-1]
        elems = [f.parts[i] if leaf_t == GGUFValueType.STRING else f.parts[i][0] for i in f.data]
        got = leaves(dv) if et == GGUFValueType.ARRAY else dv
        if check(isinstance(got, list) and len(got) == len(elems), f"{name}: {key}: length {len(got)} vs {len(elems)}"):
            bad = [i for i, (a, b) in enumerate(zip(got, elems)) if not same_scalar(leaf_t, a, b)]
            check(not bad, f"{name}: {key}: {len(bad)} elements differ, first at {bad[:1]}")
        # Without --full: a summary with the first 16 elements.
        sv = summary["metadata"][key]
        if et != GGUFValueType.ARRAY and len(elems) > HEAD:
            ok = (isinstance(sv, dict) and sv["type"] == et.name and sv["length"] == len(elems)
                  and len(sv["head"]) == HEAD and all(same_scalar(et, a, b) for a, b in zip(sv["head"], elems)))
            check(ok, f"{name}: {key}: summary of a {len(elems)}-element array")
        elif et != GGUFValueType.ARRAY:
            check(sv == dv, f"{name}: {key}: a short array prints in full")

    dt = full["tensors"]
    check(len(dt) == len(ref.tensors), f"{name}: tensor count {len(dt)} vs {len(ref.tensors)}")
    check(full["totals"]["tensors"] == len(ref.tensors), f"{name}: totals.tensors")
    bad = []
    for d, t in zip(dt, ref.tensors):
        ok = (d["name"] == t.name and d["type"] == GGMLQuantizationType(t.tensor_type).name
              and d["shape"] == [int(x) for x in t.shape] and d["file_offset"] == int(t.data_offset)
              and d["offset"] == int(t.data_offset) - full["data_offset"] and d["bytes"] == int(t.n_bytes))
        if not ok:
            bad.append((d, t.name, t.tensor_type, list(t.shape), t.data_offset, t.n_bytes))
    check(not bad, f"{name}: {len(bad)} tensors differ, first: {bad[:1]}")
    check(full["totals"]["bytes"] == sum(int(t.n_bytes) for t in ref.tensors), f"{name}: totals.bytes")
    check(full["totals"]["parameters"] == sum(int(t.n_elements) for t in ref.tensors), f"{name}: totals.parameters")
    check(full["memory"]["weights"] == full["totals"]["bytes"], f"{name}: memory.weights")

    text = subprocess.run([DESK, "info", str(path)], capture_output=True)
    out = text.stdout.decode("utf-8", "replace")
    check(text.returncode == 0 and all(f"\n  {t.name} " in out for t in ref.tensors),
          f"{name}: text view lists every tensor")


def main():
    files = [MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf", MODELS / "gemma-3-270m-q4_k_m.gguf"]
    files += sorted((SHARED / "vocab").glob("*.gguf"))
    files.append(ROOT / "fuzz" / "seeds" / "gguf" / "sample-64.gguf")
    check(len(files) >= 9, f"found {len(files)} files (models, 6 vocab files, sample)")
    for f in files:
        n0 = failed
        try:
            compare_file(str(f))
        except Exception as e:  # a crash of desk or a parse error counts as a failure
            check(False, f"{f}: {e}")
        print(f"{'ok  ' if failed == n0 else 'FAIL'} {f.name}")
    # A known model name resolves too, and its KV cache estimate follows the formula.
    j = desk_json("smollm2")
    m = j["memory"]
    # llama: 2 bytes * 4096 ctx * 30 layers * 3 kv heads * (64 + 64)
    check(m["n_ctx"] == 4096 and m["kv_cache"] == 2 * 4096 * 30 * 3 * 128, f"smollm2 KV cache {m}")
    check_kernels()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def check_kernels():
    """info's kernels: the tables this CPU runs and the one chosen."""
    env = {k: v for k, v in os.environ.items() if k != "DESK_ISA"}
    k = desk_json("smollm2", env=env)["kernels"]
    avail = k["available"]
    check(avail[0] == "scalar" and k["isa"] == avail[-1] and "error" not in k, f"default kernels {k}")
    if platform.machine() in ("x86_64", "AMD64"):
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
        avx2 = all(x in flags for x in ("avx2", "fma", "f16c"))
        want = ["scalar"] + ["avx2"] * avx2 + ["avxvnni"] * (avx2 and "avx_vnni" in flags)
        want += ["avx512"] * (avx2 and all(x in flags for x in ("avx512f", "avx512bw", "avx512vl", "avx512dq",
                                                                 "avx512_vnni", "avx512_bf16")))
        check(avail == want, f"kernels this CPU runs: {avail}, /proc/cpuinfo says {want}")
    for isa in avail:
        k = desk_json("smollm2", env={**env, "DESK_ISA": isa})["kernels"]
        check(k["isa"] == isa and "error" not in k, f"DESK_ISA={isa}: {k}")
    k = desk_json("smollm2", env={**env, "DESK_ISA": "avx9"})["kernels"]
    check(k["isa"] == "none" and "unknown instruction set" in k.get("error", ""), f"DESK_ISA=avx9: {k}")
    text = subprocess.run([DESK, "info", "smollm2"], capture_output=True, env=env).stdout.decode()
    check(f"\nkernels: {avail[-1]}; this CPU runs {' '.join(avail)}\n" in text, "text view: kernels line")


if __name__ == "__main__":
    sys.exit(main())
