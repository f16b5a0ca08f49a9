"""test_dequant_vs_gguf.py - desk's reference dequantizers are bit-exact with
the gguf package's numpy ones (gguf.quants.dequantize), for every type both
support.

(a) A GGUF written with gguf.GGUFWriter holds random blocks of every type:
    random bytes for the levels, with every f16 scale field overwritten by a
    finite random value (so no NaN/inf can make a comparison vacuous), plus
    blocks whose scales sit at the extremes of f16 (65504, subnormals, -0).
(b) build/tools/dequant dequantizes it with desk; numpy dequantizes the same
    bytes; the float32 results are compared bit for bit (uint32 views).
(c) The same for every tensor of both real models, compared by SHA-256 of
    the float32 bytes (the tool hashes, so gigabytes are never written); a
    mismatching tensor is re-dumped in full to report the first difference.

Also checks the tool's usage errors.  Prints "N passed, M failed"; exits
non-zero on any failure.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROOT = Path(os.environ.get("DESK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
TOOLS = Path(os.environ.get("DESK_TOOLS", ROOT / "build" / "tools"))
TOOL = str(TOOLS / "dequant")
MODELS = Path(os.environ.get("DESK_MODELS", Path.home() / ".cache" / "desk" / "models"))
REAL_MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]

# Byte offsets of the f16 scale fields inside one block, per type.
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.IQ4_NL: [0], T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2],
    T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_XS: [0],
}
FLOAT_TYPES = [T.F32, T.F16, T.BF16]
# f16 bit patterns at the edges of the finite range.
EXTREME_F16 = [0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF, 0x0400, 0x8000, 0x0000, 0x3C00]

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


def finite_f16_bits(rng, n):
    """N random f16 bit patterns, none of them inf or NaN."""
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    bad = (bits & 0x7C00) == 0x7C00
    bits[bad] &= np.uint16(0xBFFF)  # clear the top exponent bit: finite
    return bits


def random_blocks(rng, qtype, n_blocks):
    """N_BLOCKS random blocks of QTYPE as a (n_blocks, type_size) uint8 array."""
    _, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        raw[:, off:off + 2] = finite_f16_bits(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
        # The last blocks get extreme scales, one pattern per block.
        for i, pat in enumerate(EXTREME_F16):
            if i < n_blocks:
                raw[n_blocks - 1 - i, off:off + 2] = np.array([pat], dtype="<u2").view(np.uint8)
    return raw


def float_tensor(rng, qtype, n):
    if qtype == T.F32:
        # Every exponent, finite only, plus signed zeros and subnormals.
        bits = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
        bits[(bits & 0x7F800000) == 0x7F800000] &= np.uint32(0xBFFFFFFF)
        bits[:4] = [0, 0x80000000, 1, 0x807FFFFF]
        return bits.view(np.float32)
    if qtype == T.F16:
        bits = finite_f16_bits(rng, n)
        bits[:len(EXTREME_F16)] = EXTREME_F16
        return bits.view(np.float16)
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)  # BF16
    bits[(bits & 0x7F80) == 0x7F80] &= np.uint16(0xBFFF)
    return bits


def run_tool(args):
    return subprocess.run([TOOL] + args, capture_output=True, text=True)


def synthetic(tmp):
    rng = np.random.default_rng(20261124)
    path = Path(tmp) / "blocks.gguf"
    w = GGUFWriter(str(path), "desk-test")
    expect = {}  # name -> numpy float32 result
    for qtype in FLOAT_TYPES:
        name = f"t_{qtype.name}"
        data = float_tensor(rng, qtype, 3 * 64)
        if qtype == T.BF16:
            w.add_tensor(name, data.reshape(3, 64), raw_dtype=T.BF16)
            expect[name] = dequantize(data.view(np.uint8).reshape(3, 128), T.BF16)
        else:
            w.add_tensor(name, data.reshape(3, 64))
            expect[name] = dequantize(data.reshape(3, 64), qtype)
    for qtype in SCALE_FIELDS:
        blck, size = GGML_QUANT_SIZES[qtype]
        rows, per_row = 4, max(1, 512 // blck)
        raw = random_blocks(rng, qtype, rows * per_row).reshape(rows, per_row * size)
        name = f"t_{qtype.name}"
        w.add_tensor(name, raw, raw_dtype=qtype)
        expect[name] = dequantize(raw, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    out = Path(tmp) / "blocks.f32"
    r = run_tool([str(path), str(out)])
    check(r.returncode == 0, f"dequant of the synthetic file: {r.stderr.strip()}")
    if r.returncode != 0:
        return
    got = np.fromfile(out, dtype="<f4")
    index = [line.split() for line in r.stdout.splitlines()]
    check(len(index) == len(expect), f"tool listed {len(index)} tensors, wrote {len(expect)}")
    for name, tname, n, off in index:
        n, off = int(n), int(off)
        want = np.ascontiguousarray(expect[name], dtype=np.float32).ravel()
        have = got[off // 4: off // 4 + n]
        ok = want.size == n and np.array_equal(have.view(np.uint32), want.view(np.uint32))
        check(ok, f"synthetic {tname}: {describe(have, want)}")
        check(np.isfinite(want).all() and want.any(), f"synthetic {tname}: data is all-zero or non-finite")
    # Named tensors come out alone, in the order asked.
    r = run_tool([str(path), str(out), "t_Q6_K", "t_Q4_0"])
    lines = r.stdout.split()
    check(r.returncode == 0 and lines[0::4] == ["t_Q6_K", "t_Q4_0"], "named tensors in order")


def describe(have, want):
    if have.size != want.size:
        return f"{have.size} values, expected {want.size}"
    diff = np.nonzero(have.view(np.uint32) != want.view(np.uint32))[0]
    if diff.size == 0:
        return "equal"
    i = diff[0]
    return f"{diff.size} differ; first at {i}: desk {have[i]!r} gguf {want[i]!r}"


def real_model(tmp, path):
    r = run_tool(["--sha256", str(path)])
    check(r.returncode == 0, f"{path.name}: {r.stderr.strip()}")
    if r.returncode != 0:
        return
    hashes = {}
    for line in r.stdout.splitlines():
        name, tname, n, digest = line.split()
        hashes[name] = (tname, int(n), digest)
    reader = GGUFReader(str(path))
    check(len(hashes) == len(reader.tensors), f"{path.name}: tool saw {len(hashes)} of {len(reader.tensors)} tensors")
    types = set()
    for t in reader.tensors:
        want = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).ravel()
        tname, n, digest = hashes.get(t.name, (None, -1, None))
        ok = n == want.size and hashlib.sha256(want.tobytes()).hexdigest() == digest
        if not ok:  # dump the tensor to say where it differs
            out = Path(tmp) / "one.f32"
            rr = run_tool([str(path), str(out), t.name])
            detail = describe(np.fromfile(out, dtype="<f4"), want) if rr.returncode == 0 else rr.stderr
            check(False, f"{path.name}: tensor {t.name} ({t.tensor_type.name}): {detail}")
        else:
            check(True, "")
            types.add(t.tensor_type.name)
    print(f"{path.name}: {len(reader.tensors)} tensors bit-exact checked, types {sorted(types)}")


def usage_errors(tmp):
    r = run_tool(["--help"])
    check(r.returncode == 0 and "usage" in r.stdout, "--help prints usage, exit 0")
    r = run_tool([])
    check(r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("dequant: "),
          "no arguments: one-line error, exit 2")
    r = run_tool([str(Path(tmp) / "missing.gguf"), str(Path(tmp) / "x.f32")])
    check(r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("dequant: "),
          f"missing file: one-line error, exit 2 (got {r.returncode}: {r.stderr!r})")
    r = run_tool([str(Path(tmp) / "blocks.gguf"), str(Path(tmp) / "x.f32"), "no.such.tensor"])
    check(r.returncode == 2 and "no.such.tensor" in r.stderr, "unknown tensor name is exit 2")
    check(not (Path(tmp) / "x.f32").exists(), "no output file is left behind on failure")


def main():
    if not os.access(TOOL, os.X_OK):
        check(False, f"{TOOL} is not built")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            synthetic(tmp)
            usage_errors(tmp)
            for m in REAL_MODELS:
                path = MODELS / m
                check(path.exists(), f"model {path} is missing")
                if path.exists():
                    real_model(tmp, path)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
