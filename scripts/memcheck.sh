#!/usr/bin/env bash
# memcheck.sh [--quick] - run the desk CLI's commands, good and bad input,
# under valgrind (--leak-check=full --error-exitcode=99) and fail on any
# memory error, any definite leak, or an exit code other than the expected.
#
# DESK_BIN picks the binary (default build/desk).  With DESK_SANITIZED=1
# (an ASan build, where valgrind cannot run) the same commands run bare and
# ASan/LeakSanitizer does the checking (detect_leaks=1, exit code 99).
# --quick keeps to the cases that finish in about a minute under valgrind
# (the CTest entry uses it); without it every command runs: the real models'
# generation, chat and perplexity (with a KL-divergence base saved, compared
# and truncated), synth and quantize of a tiny model, and a tiny bench whose report goes through show, compare and cost.
# Prints one line per case and a closing "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
bin=${DESK_BIN:-build/desk}
shared=${DESK_SHARED_DIR:-../shared}
[ -x "$bin" ] || { echo "memcheck.sh: no desk binary at $bin (build first)" >&2; exit 2; }
if [ "${DESK_SANITIZED:-0}" = 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:exitcode=99:abort_on_error=0
  export UBSAN_OPTIONS=exitcode=99
  tool=()
else
  command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is required (apt-get install valgrind)" >&2; exit 2; }
  tool=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
        --error-exitcode=99)
fi
tmp=$(mktemp -d /tmp/desk_memcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
models=${DESK_MODELS_DIR:-$HOME/.cache/desk/models}
smol=$models/SmolLM2-135M-Instruct.Q4_1.gguf
head -c 4096 "$smol" > "$tmp/truncated.gguf"
printf 'GGUF\003\000\000\000' > "$tmp/header-only.gguf"
printf 'The sky is blue because of Rayleigh scattering.\n' > "$tmp/text.txt"

passed=0 failed=0
# check EXPECTED_EXIT STDIN_FILE ARGS... : one case.
check() {
  local want=$1 in=$2; shift 2
  local log=$tmp/log rc
  "${tool[@]}" "$bin" "$@" < "$in" > /dev/null 2> "$log"
  rc=$?
  if [ "$rc" = "$want" ]; then
    passed=$((passed + 1)); echo "ok    desk $*"
  else
    failed=$((failed + 1)); echo "FAIL  desk $* (exit $rc, want $want)"
    grep -v '^$' "$log" | head -30 | sed 's/^/      /'
  fi
}
has() { "$bin" "$1" --help > /dev/null 2>&1; }

check 0 /dev/null info "$shared/vocab/ggml-vocab-gpt-2.gguf"
check 0 /dev/null info --json "$shared/vocab/ggml-vocab-llama-spm.gguf"
check 0 "$tmp/text.txt" tokenize -m "$shared/vocab/ggml-vocab-llama-spm.gguf"
check 0 "$tmp/text.txt" tokenize -m "$shared/vocab/ggml-vocab-gpt-2.gguf" --pieces
check 2 /dev/null info "$tmp/truncated.gguf"
check 2 /dev/null info "$tmp/header-only.gguf"
check 2 /dev/null info "$tmp/does-not-exist.gguf"
check 2 /dev/null info --no-such-option
check 2 "$tmp/text.txt" tokenize
check 2 "$tmp/text.txt" tokenize -m "$tmp/truncated.gguf"
check 2 /dev/null no-such-command
check 0 /dev/null info --help
check 0 /dev/null info fuzz/seeds/model/tiny-llama.gguf
check 0 "$tmp/text.txt" tokenize -m fuzz/seeds/model/tiny-llama.gguf
check 0 /dev/null info smollm2
# Plans and economics read no tensor data: cheap enough for every run.
check 0 /dev/null fit llama-3-70b mixtral-8x22b --mem 128G --json
check 0 /dev/null fit smollm2 "$smol" --ctx 4096 --parallel 2 --kv-type q8_0
check 2 /dev/null fit llama-3-8b --mem 12Q
check 2 /dev/null fit no-such-model
check 0 /dev/null cost --json
check 0 /dev/null cost --watts 120 --tokens-per-month 50000000 --cloud-price-per-mtok 3,15
check 2 /dev/null cost --hardware-price -1
check 2 /dev/null cost --tokens-per-s 0
check 2 /dev/null cost --bench "$tmp/does-not-exist.json"
check 2 /dev/null bench -m no-such-model
if [ $quick = 0 ]; then
  check 0 /dev/null info --json --full gemma3-270m
  check 0 "$tmp/text.txt" tokenize -m smollm2
  check 0 "$tmp/text.txt" tokenize -m gemma3-270m
  if has run; then
    check 0 /dev/null run -m smollm2 -n 4 -p "Hello"
    check 2 /dev/null run -m "$tmp/truncated.gguf" -n 4 -p "Hello"
    check 0 /dev/null run -m fuzz/seeds/model/tiny-llama.gguf -n 4 -p "Hello"
  fi
  if has perplexity; then
    for i in 1 2 3 4 5 6 7 8; do cat "$tmp/text.txt"; done > "$tmp/long.txt"
    check 0 /dev/null perplexity -m smollm2 -f "$tmp/long.txt" --ctx 32 -t 2
    check 2 /dev/null perplexity -m smollm2 -f "$tmp/text.txt"
    check 0 /dev/null perplexity -m smollm2 -f "$tmp/long.txt" --ctx 32 --chunks 1 -t 2 --kl-divergence-base "$tmp/base.kld"
    check 0 /dev/null perplexity -m smollm2 --kl-divergence-base "$tmp/base.kld" --kl-divergence -t 2
    head -c 5000 "$tmp/base.kld" > "$tmp/short.kld"
    check 2 /dev/null perplexity -m smollm2 --kl-divergence-base "$tmp/short.kld" --kl-divergence -t 2
  fi
  if has run; then
    check 0 /dev/null run -m gemma3-270m -n 4 -p "Hello" -t 1
    check 0 /dev/null run -m smollm2 --chat -n 4 -p "Hi" -t 2
    printf 'Hi\n/reset\nWhy?\n' > "$tmp/turns.txt"
    check 0 "$tmp/turns.txt" chat -m smollm2 -n 4 -t 1
  fi
  # A tiny random model of llama's shape, quantized and run.
  check 0 /dev/null synth --shape tiny --vocab-from smollm2 "$tmp/tiny.gguf" --threads 2
  check 0 /dev/null quantize "$tmp/tiny.gguf" "$tmp/tiny-q4km.gguf" q4_k_m --threads 2
  check 2 /dev/null quantize "$tmp/tiny.gguf" "$tmp/x.gguf" q9_z
  check 0 /dev/null run -m "$tmp/tiny-q4km.gguf" -n 4 -p "Hello" -t 2
  # bench, tiny: every writer, then the report read back by show, compare, cost.
  check 0 /dev/null bench -m smollm2 -p 8 -n 4 -r 2 -t 1,2 --bandwidth-mb 8 --json -o "$tmp/b.json" --html "$tmp/b.html"
  check 0 /dev/null bench -m smollm2 -p 8 -n 0 -r 1 -t 1 --bandwidth-mb 0 --csv
  check 0 /dev/null bench show "$tmp/b.json" --md
  check 0 /dev/null bench compare "$tmp/b.json" "$tmp/b.json"
  check 0 /dev/null cost --bench "$tmp/b.json" --json
  check 2 /dev/null bench show "$tmp/text.txt"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
