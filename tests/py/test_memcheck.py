#!/usr/bin/env python3
"""test_memcheck.py - scripts/memcheck.sh --quick as a CTest test.

The desk CLI on good and bad input (vocab files, a real model, truncated
and missing files, bad options) under valgrind: any memory error, definite
leak or unexpected exit code fails.  In the ASan build (DESK_SANITIZED=1)
the same commands run under AddressSanitizer + LeakSanitizer instead.
"""
import os
import subprocess
import sys

ROOT = os.environ.get("DESK_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "scripts", "memcheck.sh")


def main():
    env = dict(os.environ)
    if "DESK_SHARED_DIR" not in env:
        env["DESK_SHARED_DIR"] = os.path.join(ROOT, "..", "shared")
    passed = failed = 0
    r = subprocess.run([SCRIPT, "--quick"], env=env, capture_output=True, text=True, timeout=600)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    lines = [l for l in r.stdout.splitlines() if l.startswith(("ok ", "FAIL "))]
    if r.returncode == 0 and len(lines) >= 10 and all(l.startswith("ok ") for l in lines):
        passed += 1
    else:
        print(f"FAIL memcheck.sh --quick: exit {r.returncode}, {len(lines)} cases")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
