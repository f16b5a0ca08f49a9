/*
 * desk.h - the public API of libdesk, a local LLM workbench: everything a
 * program needs to run a GGUF model on the CPU.
 *
 * The data flow, one call per step (each can be called and tested alone):
 *
 *   text --desk_tokenize--> tokens --desk_batch--> desk_decode_batch
 *        --> logits (desk_ctx_logits) --desk_sampler_sample--> token
 *        --desk_detok_push--> text
 *
 * desk_engine runs that loop for one sequence (stop strings, limits,
 * prefix reuse); a server builds its own loop over several sequences of
 * one context with desk_decode_batch and the per-sequence KV cache calls.
 *
 * Headers (each usable alone):
 *   desk/common.h     status codes, the error record, desk_token
 *   desk/gguf.h       reading and writing GGUF files
 *   desk/tokenizer.h  text <-> token ids, streaming decode
 *   desk/model.h      model load, contexts, batches, KV cache, logits
 *   desk/lora.h       LoRA adapters: load, attach, write
 *   desk/train.h      LoRA fine-tuning on the CPU
 *   desk/sample.h     samplers (seeded)
 *   desk/grammar.h    structured output: GBNF, JSON Schema, constraints
 *   desk/chat.h       chat templates
 *   desk/engine.h     the generation loop for one sequence
 *   desk/plan.h       a model's facts, memory plans, economics (before loading)
 *   desk/files.h      regular files only, capped reads, atomic output
 *   desk/convert.h    quantizing and synthesising models
 *   desk/bench.h      benchmarks: the machine, the sweep, reports
 *
 * Conventions, for every header:
 * - Every handle is opaque: callers hold pointers and pass them back.
 * - Every fallible call returns a desk_status and fills a caller-owned
 *   desk_err (may be NULL) with a one-line message that names what was
 *   wrong and where (file offset, field, argument).  Library code never
 *   exits or aborts.
 * - An object returned through an `out` pointer by a *_open, *_load or
 *   *_new call belongs to the caller, who releases it with the matching
 *   *_close or *_free.  Objects made from another (a context from a model,
 *   an engine from a model) borrow it: the model must outlive them.
 * - Strings and pointers returned by accessors are borrowed: valid until
 *   the object they came from is released (or, for per-call results such
 *   as logits, until the next call that says it replaces them).
 * - Parameter structs zero-initialised ({0}) mean the defaults.
 * - An index out of range gives NULL (pointers) or an error, never a
 *   pointer outside a buffer.
 */
#ifndef DESK_H
#define DESK_H

#include "desk/common.h"
#include "desk/gguf.h"
#include "desk/tokenizer.h"
#include "desk/model.h"
#include "desk/lora.h"
#include "desk/train.h"
#include "desk/sample.h"
#include "desk/grammar.h"
#include "desk/chat.h"
#include "desk/engine.h"
#include "desk/plan.h"
#include "desk/files.h"
#include "desk/convert.h"
#include "desk/bench.h"

#endif /* DESK_H */
