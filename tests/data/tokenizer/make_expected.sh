#!/bin/sh
# Regenerates the expected ids of corpus.inp (and chatml.txt) from the
# reference tokenizer: llama.cpp's llama-tokenize.  Run from this folder:
#   LLAMA_TOKENIZE=/work/llamacpp/build/bin/llama-tokenize ./make_expected.sh
# Each case (corpus.inp split on "\n__ggml_vocab_test__\n") is written to a
# file and tokenized with no BOS, no special parsing and no escape
# processing; one line of space-separated ids per case.  chatml.txt is
# tokenized with special parsing (the default) and BOS as the model asks.
set -eu
TOK=${LLAMA_TOKENIZE:-llama-tokenize}
MODELS=${DESK_MODELS:-$HOME/.cache/desk/models}
run() { # model-file out-file [extra flags]
    model=$1; out=$2; shift 2
    tmp=$(mktemp -d)
    python3 - "$tmp" <<'PY'
import sys
data = open("corpus.inp", "rb").read().split(b"\n__ggml_vocab_test__\n")
for i, c in enumerate(data[:-1]):
    open("%s/%03d" % (sys.argv[1], i), "wb").write(c)
PY
    : > "$out"
    for f in "$tmp"/*; do
        "$TOK" -m "$model" -f "$f" --ids --no-bos --no-parse-special --no-escape --log-disable 2>/dev/null \
            | tr -d '[],' >> "$out"
    done
    rm -rf "$tmp"
}
run "$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf" smollm2.out
run "$MODELS/gemma-3-270m-q4_k_m.gguf" gemma3.out
"$TOK" -m "$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf" -f chatml.txt --ids --no-escape \
    --log-disable 2>/dev/null | tr -d '[],' > smollm2-chatml.out
"$TOK" -m "$MODELS/gemma-3-270m-q4_k_m.gguf" -f chatml.txt --ids --no-escape \
    --log-disable 2>/dev/null | tr -d '[],' > gemma3-chatml.out
# (set DESK_SHARED_DIR to the shared/ folder when it is not beside the repo)
# Phi-3's special tokens swallow the spaces after them (the reference keys
# this on general.name); the shared vocab file, special parsing on.
"$TOK" -m "${DESK_SHARED_DIR:-../../../../shared}/vocab/ggml-vocab-phi-3.gguf" -f phi3-special.txt --ids \
    --no-escape --log-disable 2>/dev/null | tr -d '[],' > phi3-special.out
