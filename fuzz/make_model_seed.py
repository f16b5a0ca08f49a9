#!/usr/bin/env python3
"""make_model_seed.py OUT - write the tiny llama model that seeds fuzz_model.

One layer, n_embd 32, 4 heads (2 KV), n_ff 32, a 260-token byte-level BPE
vocabulary (the 256 GPT-2 byte characters, three merges, <|endoftext|>),
Q4_0 matrices and F32 norms with small random values: about 9 KiB, under
scripts/fuzz.sh's -max_len.  Run with the repository's .venv python.
"""
import sys
import numpy as np
import gguf


def byte_chars():
    # GPT-2's printable mapping of the 256 byte values.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def main():
    rng = np.random.default_rng(1)
    embd, heads, kv_heads, ff = 32, 4, 2, 32
    tokens = byte_chars() + ["Ġt", "he", "in", "<|endoftext|>"]
    w = gguf.GGUFWriter(sys.argv[1], "llama")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(embd)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(embd // heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([1] * 259 + [3])
    w.add_token_merges(["Ġ t", "h e", "i n"])
    w.add_bos_token_id(259)
    w.add_eos_token_id(259)

    def mat(name, cols, rows):
        a = (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)
        q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q4_0)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q4_0)

    def vec(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    hd = embd // heads
    mat("token_embd.weight", embd, len(tokens))
    vec("output_norm.weight", embd)
    vec("blk.0.attn_norm.weight", embd)
    mat("blk.0.attn_q.weight", embd, embd)
    mat("blk.0.attn_k.weight", embd, hd * kv_heads)
    mat("blk.0.attn_v.weight", embd, hd * kv_heads)
    mat("blk.0.attn_output.weight", embd, embd)
    vec("blk.0.ffn_norm.weight", embd)
    mat("blk.0.ffn_gate.weight", embd, ff)
    mat("blk.0.ffn_up.weight", embd, ff)
    mat("blk.0.ffn_down.weight", ff, embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
