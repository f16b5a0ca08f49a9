#!/usr/bin/env bash
# perplexity-full.sh [MODEL...] - desk perplexity of both models over all of
# tests/data/model/ppl.txt (windows of 512, as llama-perplexity -c 512),
# compared with llama.cpp's values in tests/data/model/ppl-llamacpp.txt:
# each must be within 0.3%.  A few minutes per model on 2 cores: the
# Release suite of `make test` runs it (CTest perplexity_full); the
# sanitized suite runs the first windows (tests/py/test_perplexity.py).
# Exit status: 0 when every model is within 0.3%, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
DESK=${DESK_BIN:-build/desk}
REF=tests/data/model/ppl-llamacpp.txt
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(smollm2 gemma3-270m)
status=0
for model in "${want[@]}"; do
  ref=$(awk -v m="$model" '$1 == m && $2 == 512 && $3 == "all" {print $4}' "$REF")
  [ -n "$ref" ] || { echo "perplexity: no llama.cpp value for $model in $REF" >&2; exit 1; }
  start=$(date +%s)
  got=$("$DESK" perplexity -m "$model" -f tests/data/model/ppl.txt --ctx 512 --json | \
        sed -n 's/.*"ppl":\([0-9.]*\).*"chunks":\([0-9]*\).*"tokens":\([0-9]*\).*/\1 \2 \3/p')
  read -r ppl chunks tokens <<<"$got"
  rel=$(awk -v a="$ppl" -v b="$ref" 'BEGIN {d = (a - b) / b; if (d < 0) d = -d; printf "%.5f", 100 * d}')
  ok=$(awk -v r="$rel" 'BEGIN {print (r <= 0.3) ? "ok" : "FAIL"}')
  echo "$model: desk $ppl, llama.cpp $ref ($chunks windows of 512, $tokens tokens scored): ${rel}% $ok ($(( $(date +%s) - start )) s)"
  [ "$ok" = ok ] || status=1
done
exit $status
