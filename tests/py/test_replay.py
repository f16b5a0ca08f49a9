#!/usr/bin/env python3
"""test_replay.py - replay manifests (issue 21): `desk run --manifest` then
`desk replay`.

  - the recorded manifests in tests/data/replay (SmolLM2 greedy, default
    mode; Gemma 3 sampled, deterministic mode) replay identically here;
  - a fresh run's manifest replays identically, at another thread count too;
  - editing one sampler field (temp, seed) makes replay exit 1 and name it;
  - a manifest naming another model file, or another ISA, is named when the
    output differs and noted when it does not;
  - malformed manifests are refused with the field named, exit 2.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("DESK_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DESK = os.path.abspath(os.environ.get("DESK_BIN", os.path.join(ROOT, "build", "desk")))
DATA = os.path.join(ROOT, "tests", "data", "replay")
failures = []


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else " " + str(detail)[:800]), flush=True)
    if not cond:
        failures.append(name)


def desk(*args):
    p = subprocess.run([DESK] + list(args), capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def edited(src, dst, fn):
    with open(src) as f:
        d = json.load(f)
    fn(d)
    with open(dst, "w") as f:
        json.dump(d, f)


def main():
    # The recorded manifests (their model paths are this machine's cache;
    # -m names the model by its known name).
    for name, model in (("smollm2-greedy.json", "smollm2"), ("gemma3-sampled-deterministic.json", "gemma3-270m")):
        rc, out, err = desk("replay", os.path.join(DATA, name), "-m", model)
        check(f"recorded {name} replays identically", rc == 0 and out.startswith("replay: identical"), (rc, out, err))

    with tempfile.TemporaryDirectory() as tmp:
        m = os.path.join(tmp, "run.json")
        rc, text, err = desk("run", "-m", "smollm2", "-p", "A recipe for bread:", "-n", "20", "--temp", "0.9",
                             "--seed", "31337", "--manifest", m)
        check("run --manifest exits 0", rc == 0, err)
        with open(m) as f:
            d = json.load(f)
        check("the manifest holds the output text", text.rstrip("\n") == d["output"]["text"].rstrip("\n"),
              (text, d["output"]["text"]))
        check("the manifest holds the model's sha256, ISA, mode and seed",
              len(d["model"]["sha256"]) == 64 and d["isa"] and d["mode"] == "default"
              and d["sampler"]["seed"] == "31337", d)
        rc, out, err = desk("replay", m)
        check("a fresh manifest replays identically", rc == 0 and out.startswith("replay: identical: 20 tokens"),
              (rc, out, err))
        rc, out, err = desk("replay", m, "-t", "1")
        check("... at 1 thread too", rc == 0 and out.startswith("replay: identical"), (rc, out, err))
        rc, out, err = desk("replay", m, "--text")
        check("--text prints the replayed text", rc == 0 and out.startswith(d["output"]["text"]), (rc, out))

        for field, fn in (("sampler.temp", lambda x: x["sampler"].update(temp=0.3)),
                          ("sampler.seed", lambda x: x["sampler"].update(seed="31338")),
                          ("sampler.top_k", lambda x: x["sampler"].update(top_k=2))):
            e = os.path.join(tmp, "edited.json")
            edited(m, e, fn)
            rc, out, err = desk("replay", e)
            check(f"an edited {field} is named", rc == 1 and f"'{field}', edited since the run" in out,
                  (rc, out, err))

        # Another model file under the same settings: its sha256 is named.
        e = os.path.join(tmp, "other-model.json")
        edited(m, e, lambda x: None)
        rc, out, err = desk("replay", e, "-m", "gemma3-270m")
        check("another model file is named by its sha256", rc == 1 and "model.sha256" in out, (rc, out, err))
        # Another ISA recorded (edited, so the digest names it; the output is
        # the same because the tables give the same bits).
        edited(m, e, lambda x: x.update(isa="neon"))
        rc, out, err = desk("replay", e)
        check("an ISA differing is noted", rc == 0 and "isa" in out, (rc, out, err))
        # A deterministic run.
        md = os.path.join(tmp, "det.json")
        rc, _, err = desk("run", "-m", "smollm2", "-p", "A recipe for bread:", "-n", "12", "--temp", "0.9",
                          "--seed", "7", "--deterministic", "--manifest", md)
        rc2, out, err2 = desk("replay", md)
        check("a deterministic run replays identically", rc == 0 and rc2 == 0 and "deterministic mode" in out,
              (rc, err, rc2, out, err2))

        for label, fn, field in (
                ("missing prompt ids", lambda x: x.pop("prompt_ids"), "prompt_ids"),
                ("a negative token id", lambda x: x.update(prompt_ids=[-1]), "prompt_ids"),
                ("a bad mode", lambda x: x.update(mode="fast"), "mode"),
                ("a bad seed", lambda x: x["sampler"].update(seed=12), "sampler.seed"),
                ("temp out of range", lambda x: x["sampler"].update(temp=-1), "sampler.temp")):
            edited(m, e, fn)
            rc, out, err = desk("replay", e)
            check(f"a manifest with {label} is refused naming {field}",
                  rc == 2 and f"'{field}'" in err and len(err.strip().splitlines()) == 1, (rc, err))
        with open(e, "w") as f:
            f.write("[1, 2")
        rc, out, err = desk("replay", e)
        check("a manifest that is not JSON is refused", rc == 2 and "not a JSON object" in err, (rc, err))
        rc, out, err = desk("run", "-m", "smollm2", "-p", "x", "--json", "--manifest", m)
        check("--manifest with --json is refused", rc == 2, (rc, err))

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
