/*
 * manifest.h - replay manifests: what `desk run --manifest` records about a
 * generation so that `desk replay` can reproduce it, or say why not.
 *
 * A manifest is a JSON object: the build (desk version and commit), the
 * model and adapters (paths and sha256), the kernels (ISA) and arithmetic
 * mode, the context settings, the sampler's settings and seed, the prompt
 * token ids, and the output (ids, text, why it stopped).  "check" holds a
 * digest of every other field's value, so a field edited afterwards is
 * named by replay (the replay then uses the edited value).
 */
#ifndef DESK_CLI_MANIFEST_H
#define DESK_CLI_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "desk.h"
#include "gen.h"

/* What a run produced, for cli_manifest_write. */
typedef struct cli_run_record {
    const char *model_path;
    const desk_token *prompt;
    size_t n_prompt;
    const desk_token *stop_ids; /* the chat format's end of turn, if any */
    size_t n_stop_ids;
    const desk_token *out;
    size_t n_out;
    const char *text;
    size_t text_len;
    desk_stop_reason stop;
} cli_run_record;

/* Everything a manifest records, from whichever program produced the
 * generation (desk run, desk serve).  All borrowed. */
typedef struct cli_manifest_info {
    const char *model_path, *model_sha256;
    int n_loras;
    const char *const *lora_path, *const *lora_sha256;
    const float *lora_scale;
    bool deterministic;
    int n_threads, n_ctx;
    desk_cache_type cache_k, cache_v;
    bool no_repack;
    const desk_sampler_params *sp;
    int n_predict;
    const char *const *stops;
    size_t n_stops;
    const char *stop_reason; /* desk_stop_reason_str's words */
    const cli_run_record *rec; /* prompt, stop ids, output (model_path and stop unused) */
} cli_manifest_info;

/* The manifest of INFO as a JSON object, its "check" digests included.
 * The caller releases it with json_object_put.  NULL when out of memory. */
json_object *cli_manifest_object(const cli_manifest_info *info);

/* Writes the manifest of a run with settings A to PATH (atomically).
 * Hashes the model and adapter files.  Prints one line and returns the
 * exit code on failure; 0 on success. */
int cli_manifest_write(const char *cmd, const char *path, const cli_gen_args *a, const cli_run_record *rec);

/* A manifest read back.  Everything it points to is owned by it. */
typedef struct cli_manifest cli_manifest;

/* Reads and validates PATH into *OUT and fills A with its settings (A's
 * strings borrowed from the manifest).  Errors name the field.  Prints one
 * line and returns the exit code on failure; 0 on success. */
int cli_manifest_read(const char *cmd, const char *path, cli_gen_args *a, cli_manifest **out);
void cli_manifest_free(cli_manifest *m);

/* The recorded run's prompt, stop ids and output ids (borrowed). */
const desk_token *cli_manifest_prompt(const cli_manifest *m, size_t *n);
const desk_token *cli_manifest_stop_ids(const cli_manifest *m, size_t *n);
const desk_token *cli_manifest_output(const cli_manifest *m, size_t *n);

/* The first field whose value no longer matches its recorded digest, or
 * NULL (a static or manifest-owned string). */
const char *cli_manifest_edited(const cli_manifest *m);

/* Compares the manifest's environment with this one: the model file's
 * sha256 at MODEL_PATH, the adapters', the ISA, the build.  Writes the
 * first difference ("isa: recorded avx512, here avx2") into WHY and
 * returns false, or returns true when all agree.  Prints one line and
 * returns false with WHY empty when a file cannot be hashed. */
bool cli_manifest_same_env(const char *cmd, const cli_manifest *m, const char *model_path, char *why, size_t cap);

#endif
