#!/usr/bin/env bash
# setup.sh - installs what desk needs on Debian 12, then nothing else.
# System packages come from apt-get (through sudo when not root); Python
# tools for the tests (the gguf reference reader, numpy, the openai client,
# jsonschema) go into .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git clang llvm
      libcmocka-dev libpcre2-dev libedit-dev libjson-c-dev libssl-dev
      libmicrohttpd-dev libcurl4-openssl-dev libseccomp-dev
      python3 python3-venv python3-pip valgrind tmux unzip ca-certificates)

# The ARM build (`make arm`): Debian's aarch64 cross compiler and C
# library, qemu-user to run its tests, and the arm64 builds of the libraries
# libdesk and the tests link (Debian multiarch: dpkg's arm64 architecture is
# added for them; libedit is left out, so the ARM build has no CLI).
ARM_PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
          libcmocka-dev:arm64 libpcre2-dev:arm64 libjson-c-dev:arm64 libssl-dev:arm64)
PKGS+=("${ARM_PKGS[@]}")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
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
# openai and jsonschema: the real client and validator the server tests use;
# llguidance: the reference the JSON Schema grammars are cross-checked with.
if ! .venv/bin/python3 -c 'import gguf, numpy, openai, jsonschema, llguidance' 2>/dev/null; then
  echo "setup: installing gguf, numpy, openai, jsonschema and llguidance into .venv" >&2
  .venv/bin/python3 -m pip install -q --disable-pip-version-check gguf numpy openai jsonschema \
    llguidance >&2
fi
