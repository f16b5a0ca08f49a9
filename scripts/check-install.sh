#!/usr/bin/env bash
# check-install.sh BUILD_DIR - the library as an outside program sees it.
# Installs BUILD_DIR into a scratch prefix, then checks that:
#   - examples/*.c build against the installed headers and library through
#     pkg-config, shared and static, with -Wall -Wextra -Werror;
#   - the example's greedy text equals `desk run --temp 0` on the same prompt;
#   - libdesk.so exports only desk_ symbols (nm -D --defined-only), exactly
#     the functions include/ declares;
#   - no file under src/cli, src/server, src/loadgen, bench/ or examples/
#     includes a library header
#     from src/ (only desk.h, desk/*.h, system headers and files beside it).
# Prints one line per check and a closing "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "install: ok   $1"; pass=$((pass + 1)); }
bad() { echo "install: FAIL $1"; fail=$((fail + 1)); }

prefix=$tmp/prefix
if cmake --install "$BUILD" --prefix "$prefix" >"$tmp/install.log" 2>&1; then ok "cmake --install"
else bad "cmake --install"; cat "$tmp/install.log"; fi
pc=$(find "$prefix" -name desk.pc | head -1)
export PKG_CONFIG_PATH=$(dirname "${pc:-$prefix/lib/pkgconfig/desk.pc}")
libdir=$(realpath -m "$(pkg-config --variable=libdir desk 2>/dev/null)")

flags="-std=c17 -Wall -Wextra -Werror -O2"
for src in examples/*.c; do
  name=$(basename "$src" .c)
  # shellcheck disable=SC2046
  if $CC $flags "$src" $(pkg-config --cflags --libs desk) -o "$tmp/$name" 2>"$tmp/cc.log"; then
    ok "$name builds against the shared library"
  else bad "$name (shared)"; cat "$tmp/cc.log"; fi
  # shellcheck disable=SC2046
  if $CC $flags "$src" $(pkg-config --cflags desk) "$libdir/libdesk.a" \
       $(pkg-config --static --libs desk | sed 's/-ldesk\b//') -o "$tmp/$name-static" 2>"$tmp/cc.log"; then
    ok "$name builds against the static library"
  else bad "$name (static)"; cat "$tmp/cc.log"; fi
done

model=$("$BUILD/desk" info smollm2 --json 2>/dev/null | sed -n 's/^ *"file": *"\([^"]*\)".*/\1/p' | head -1)
[ -n "$model" ] || model=${XDG_CACHE_HOME:-$HOME/.cache}/desk/models/SmolLM2-135M-Instruct.Q4_1.gguf
prompt="The capital of France is"
want=$("$BUILD/desk" run -m "$model" -p "$prompt" -n 12 --temp 0 2>/dev/null)
for bin in "$tmp/generate" "$tmp/generate-static"; do
  got=$(LD_LIBRARY_PATH=$libdir "$bin" "$model" "$prompt" 12 2>"$tmp/run.log")
  if [ -n "$got" ] && [ "$got" = "$want" ]; then ok "$(basename "$bin") prints desk run's greedy text"
  else bad "$(basename "$bin"): got '$got', desk run gave '$want'"; cat "$tmp/run.log"; fi
done
# ldd's output is taken whole first: with pipefail, `ldd | grep -q` fails
# whenever grep exits before ldd has written everything (SIGPIPE).
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/generate" 2>&1)
if grep -q "=> $libdir/libdesk.so.0 " <<<"$deps"; then ok "generate loads the installed libdesk.so"
else bad "generate does not load $libdir/libdesk.so"; printf '%s\n' "$deps"; fi

so=$(readlink -f "$libdir/libdesk.so")
others=$(nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | grep -v '^desk_')
if [ -z "$others" ]; then ok "libdesk.so exports only desk_ symbols"
else bad "libdesk.so exports: $others"; fi
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
declared=$(sed -n 's/^ *\(desk_[a-z0-9_]*\);$/\1/p' "$BUILD/generated/desk.map" | sort)
if [ "$exported" = "$declared" ]; then ok "libdesk.so exports each of the $(echo "$declared" | wc -l) declared functions"
else bad "exports differ from include/: $(diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' | tr '\n' ' ')"; fi

leaks=""
for f in $(find src/cli src/server src/loadgen bench examples -name '*.c' -o -name '*.h'); do
  dir=$(dirname "$f")
  while read -r inc; do
    case "$inc" in desk.h|desk/*) continue ;; esac
    [ -f "$dir/$inc" ] && continue
    leaks="$leaks $f:$inc"
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
if [ -z "$leaks" ]; then ok "src/cli, src/server, src/loadgen, bench/ and examples/ include only the public headers"
else bad "private headers included:$leaks"; fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
