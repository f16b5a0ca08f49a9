#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build every fuzz/fuzz_NAME.c with clang and libFuzzer
# (+ ASan/UBSan) into build-fuzz/ (CMake -DDESK_FUZZ=ON) and run each for
# SECONDS (default 60).  Seeds come from fuzz/seeds/NAME/; the growing
# corpus stays in build-fuzz/corpus/NAME and crashing inputs land in
# build-fuzz/crashes/NAME/.  Exits non-zero if any fuzzer finds a crash.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
command -v clang >/dev/null || { echo "fuzz.sh: clang is required" >&2; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DDESK_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
targets=()
for src in fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
cmake --build build-fuzz -j "${JOBS:-2}" --target "${targets[@]}"
failed=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=build-fuzz/corpus/$name crashes=build-fuzz/crashes/$name
  mkdir -p "$corpus" "$crashes"
  if [ -d "fuzz/seeds/$name" ]; then cp -n fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null || true; fi
  echo "== $t for ${secs}s (log: build-fuzz/$t.log)"
  if build-fuzz/"$t" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"build-fuzz/$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "build-fuzz/$t.log" | tail -2 || true
  else
    echo "fuzz.sh: $t found a crash; input(s) in $crashes/:" >&2
    ls "$crashes" >&2
    tail -40 "build-fuzz/$t.log" >&2
    failed=1
  fi
done
exit $failed
