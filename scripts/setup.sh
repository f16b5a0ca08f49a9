#!/usr/bin/env bash
# setup.sh - installs what desk needs on Debian 12, then nothing else.
# System packages come from apt-get (through sudo when not root); Python
# tools for the tests (the gguf reference reader, numpy) go into .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git clang llvm
      libcmocka-dev libpcre2-dev libedit-dev libjson-c-dev libssl-dev
      python3 python3-venv python3-pip valgrind tmux unzip ca-certificates)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The venv: Debian's /usr/bin/python3 when present (PEP 668 forbids pip
# into it, hence the venv); otherwise whatever python3 is on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -x .venv/bin/python3 ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
if ! .venv/bin/python3 -c 'import gguf, numpy' 2>/dev/null; then
  echo "setup: installing gguf and numpy into .venv" >&2
  .venv/bin/python3 -m pip install -q --disable-pip-version-check gguf numpy >&2
fi
