/*
 * manifest.c - writing and reading replay manifests (manifest.h).
 *
 * Digests: every leaf of the object but "check" is put in a canonical text
 * form (integers in decimal, numbers with 17 significant digits, which
 * read back to the same double, strings as they are, arrays element by
 * element) and hashed with 64-bit FNV-1a.  The digest only detects an
 * edit; it is not a signature (anyone can recompute it).
 */
#include "manifest.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "desk/bench.h"
#include "desk/files.h"

#define MANIFEST_MAX (64u << 20)

struct cli_manifest {
    json_object *root;
    desk_token *prompt, *stop_ids, *out;
    size_t n_prompt, n_stop_ids, n_out;
    char edited[160];
};

/* ---- digests ---- */

static uint64_t fnv_add(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t canon(uint64_t h, json_object *v) {
    char buf[64];
    int n;
    switch (json_object_get_type(v)) {
    case json_type_null: return fnv_add(h, "n", 1);
    case json_type_boolean: return fnv_add(h, json_object_get_boolean(v) ? "t" : "f", 1);
    case json_type_int:
        n = snprintf(buf, sizeof buf, "i%" PRId64, json_object_get_int64(v));
        return fnv_add(h, buf, (size_t)n);
    case json_type_double:
        n = snprintf(buf, sizeof buf, "d%.17g", json_object_get_double(v));
        return fnv_add(h, buf, (size_t)n);
    case json_type_string:
        h = fnv_add(h, "s", 1);
        return fnv_add(h, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case json_type_array: {
        const size_t len = json_object_array_length(v);
        n = snprintf(buf, sizeof buf, "a%zu", len);
        h = fnv_add(h, buf, (size_t)n);
        for (size_t i = 0; i < len; i++) h = canon(h, json_object_array_get_idx(v, i));
        return h;
    }
    case json_type_object: {
        json_object_object_foreach(v, k, x) {
            h = fnv_add(h, k, strlen(k) + 1);
            h = canon(h, x);
        }
        return h;
    }
    }
    return h;
}

/* Calls FN for every leaf of O (objects are walked; arrays are leaves),
 * with its dotted path. */
typedef bool (*leaf_fn)(void *user, const char *path, json_object *v);

static bool walk(json_object *o, const char *prefix, leaf_fn fn, void *user) {
    json_object_object_foreach(o, k, v) {
        if (!prefix[0] && strcmp(k, "check") == 0) continue;
        char path[160];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_object_is_type(v, json_type_object)) {
            if (!walk(v, path, fn, user)) return false;
        } else if (!fn(user, path, v)) {
            return false;
        }
    }
    return true;
}

static void digest_hex(json_object *v, char hex[17]) {
    snprintf(hex, 17, "%016" PRIx64, canon(1469598103934665603ull, v));
}

static bool add_digest(void *user, const char *path, json_object *v) {
    char hex[17];
    digest_hex(v, hex);
    json_object_object_add(user, path, json_object_new_string(hex));
    return true;
}

typedef struct edit_scan {
    json_object *check;
    char *first;
    size_t cap;
} edit_scan;

static bool find_edit(void *user, const char *path, json_object *v) {
    edit_scan *s = user;
    json_object *d = NULL;
    char hex[17];
    digest_hex(v, hex);
    if (!json_object_object_get_ex(s->check, path, &d) || !json_object_is_type(d, json_type_string) ||
        strcmp(json_object_get_string(d), hex) != 0) {
        snprintf(s->first, s->cap, "%s", path);
        return false;
    }
    return true;
}

/* ---- writing ---- */

static json_object *ids_array(const desk_token *ids, size_t n) {
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++) json_object_array_add(a, json_object_new_int(ids[i]));
    return a;
}

static void put_s(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }
static void put_i(json_object *o, const char *k, int64_t v) { json_object_object_add(o, k, json_object_new_int64(v)); }
static void put_d(json_object *o, const char *k, double v) { json_object_object_add(o, k, json_object_new_double(v)); }

json_object *cli_manifest_object(const cli_manifest_info *in) {
    const cli_run_record *rec = in->rec;
    json_object *root = json_object_new_object();
    if (!root) return NULL;
    put_i(root, "desk_manifest", 1);
    json_object *d = json_object_new_object();
    put_s(d, "version", desk_version());
    put_s(d, "commit", desk_build_commit());
    json_object_object_add(root, "desk", d);
    json_object *m = json_object_new_object();
    put_s(m, "path", in->model_path);
    put_s(m, "sha256", in->model_sha256);
    json_object_object_add(root, "model", m);
    json_object *loras = json_object_new_array();
    for (int i = 0; i < in->n_loras; i++) {
        json_object *l = json_object_new_object();
        put_s(l, "path", in->lora_path[i]);
        put_s(l, "sha256", in->lora_sha256[i]);
        put_d(l, "scale", in->lora_scale[i]);
        json_object_array_add(loras, l);
    }
    json_object_object_add(root, "loras", loras);
    put_s(root, "isa", desk_isa_current(NULL));
    put_s(root, "mode", in->deterministic ? "deterministic" : "default");
    put_i(root, "threads", in->n_threads);
    put_i(root, "ctx", in->n_ctx);
    put_s(root, "cache_type_k", desk_cache_type_name(in->cache_k));
    put_s(root, "cache_type_v", desk_cache_type_name(in->cache_v));
    json_object_object_add(root, "no_repack", json_object_new_boolean(in->no_repack));
    const desk_sampler_params *sp = in->sp;
    json_object *s = json_object_new_object();
    put_d(s, "temp", sp->temp);
    put_i(s, "top_k", sp->top_k);
    put_d(s, "top_p", sp->top_p);
    put_d(s, "min_p", sp->min_p);
    put_d(s, "repeat_penalty", sp->repeat_penalty);
    put_i(s, "repeat_last_n", sp->repeat_last_n);
    put_d(s, "presence_penalty", sp->presence_penalty);
    put_d(s, "frequency_penalty", sp->frequency_penalty);
    /* As a string: seeds use all 64 bits, JSON readers often 53. */
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, sp->seed);
    put_s(s, "seed", seed);
    json_object_object_add(root, "sampler", s);
    put_i(root, "n_predict", in->n_predict);
    json_object *stops = json_object_new_array();
    for (size_t i = 0; i < in->n_stops; i++) json_object_array_add(stops, json_object_new_string(in->stops[i]));
    json_object_object_add(root, "stops", stops);
    json_object_object_add(root, "stop_ids", ids_array(rec->stop_ids, rec->n_stop_ids));
    json_object_object_add(root, "prompt_ids", ids_array(rec->prompt, rec->n_prompt));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ids", ids_array(rec->out, rec->n_out));
    json_object_object_add(o, "text", json_object_new_string_len(rec->text ? rec->text : "", (int)rec->text_len));
    put_s(o, "stop_reason", in->stop_reason);
    json_object_object_add(root, "output", o);
    json_object *check = json_object_new_object();
    walk(root, "", add_digest, check);
    json_object_object_add(root, "check", check);
    return root;
}

int cli_manifest_write(const char *cmd, const char *path, const cli_gen_args *a, const cli_run_record *rec) {
    desk_err err = {0};
    char sha[65], lsha[CLI_LORA_MAX][65];
    const char *lsha_p[CLI_LORA_MAX];
    float lscale[CLI_LORA_MAX];
    if (desk_file_sha256(rec->model_path, sha, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    for (int i = 0; i < a->loras.n; i++) {
        if (desk_file_sha256(a->loras.path[i], lsha[i], &err) != DESK_OK) return cli_fail_err(cmd, &err);
        lsha_p[i] = lsha[i];
        lscale[i] = a->loras.use[i].scale;
    }
    const cli_manifest_info info = {
        .model_path = rec->model_path, .model_sha256 = sha, .n_loras = a->loras.n,
        .lora_path = (const char *const *)a->loras.path, .lora_sha256 = lsha_p, .lora_scale = lscale,
        .deterministic = a->deterministic, .n_threads = a->n_threads, .n_ctx = a->n_ctx,
        .cache_k = a->cache_k, .cache_v = a->cache_v, .no_repack = a->no_repack, .sp = &a->sp,
        .n_predict = a->n_predict, .stops = (const char *const *)a->stops, .n_stops = a->n_stops,
        .stop_reason = desk_stop_reason_str(rec->stop), .rec = rec};
    json_object *root = cli_manifest_object(&info);
    if (!root) return cli_fail(cmd, DESK_EXIT_FAIL, "out of memory");

    desk_afile af;
    int rc = 0;
    if (desk_afile_open(path, &af, &err) != DESK_OK) {
        rc = cli_fail_err(cmd, &err);
    } else {
        fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), af.fp);
        fputc('\n', af.fp);
        if (desk_afile_commit(&af, &err) != DESK_OK) rc = cli_fail_err(cmd, &err);
    }
    json_object_put(root);
    return rc;
}

/* ---- reading ---- */

static json_object *get(json_object *o, const char *k, json_type t) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t)) return NULL;
    return v;
}

/* Reads array V of token ids into a malloc'd *OUT. */
static bool read_ids(json_object *v, desk_token **out, size_t *n) {
    const size_t len = json_object_array_length(v);
    *out = malloc(sizeof **out * (len ? len : 1));
    if (!*out) return false;
    for (size_t i = 0; i < len; i++) {
        json_object *x = json_object_array_get_idx(v, i);
        if (!json_object_is_type(x, json_type_int)) return false;
        const int64_t id = json_object_get_int64(x);
        if (id < 0 || id > INT32_MAX) return false;
        (*out)[i] = (desk_token)id;
    }
    *n = len;
    return true;
}

static int bad(const char *cmd, const char *path, const char *field, const char *what) {
    return cli_fail(cmd, DESK_EXIT_USAGE, "%s: field '%s' %s", path, field, what);
}

static bool num(json_object *o, const char *k, double lo, double hi, double *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) return false;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) return false;
    *out = json_object_get_double(v);
    return *out >= lo && *out <= hi;
}

static int read_sampler(const char *cmd, const char *path, json_object *s, desk_sampler_params *sp) {
    static const struct {
        const char *name;
        double lo, hi;
    } F[] = {{"temp", 0, 100},           {"top_k", 0, 1 << 30},         {"top_p", 0, 1},
             {"min_p", 0, 1},            {"repeat_penalty", 1e-3, 100}, {"repeat_last_n", 0, 1 << 20},
             {"presence_penalty", -100, 100}, {"frequency_penalty", -100, 100}};
    double v[8];
    for (int i = 0; i < 8; i++) {
        char field[64];
        snprintf(field, sizeof field, "sampler.%s", F[i].name);
        if (!num(s, F[i].name, F[i].lo, F[i].hi, &v[i])) return bad(cmd, path, field, "is missing or out of range");
    }
    sp->temp = (float)v[0], sp->top_k = (int32_t)v[1], sp->top_p = (float)v[2], sp->min_p = (float)v[3];
    sp->repeat_penalty = (float)v[4], sp->repeat_last_n = (int32_t)v[5];
    sp->presence_penalty = (float)v[6], sp->frequency_penalty = (float)v[7];
    json_object *seed = get(s, "seed", json_type_string);
    char *end = NULL;
    if (!seed) return bad(cmd, path, "sampler.seed", "must be a string of digits");
    const char *t = json_object_get_string(seed);
    sp->seed = strtoull(t, &end, 10);
    if (!t[0] || *end || t[0] == '-') return bad(cmd, path, "sampler.seed", "must be a string of digits");
    return 0;
}

int cli_manifest_read(const char *cmd, const char *path, cli_gen_args *a, cli_manifest **out) {
    *out = NULL;
    desk_err err = {0};
    char *text = NULL;
    size_t len = 0;
    if (desk_file_read_all(path, MANIFEST_MAX, &text, &len, &err) != DESK_OK) return cli_fail_err(cmd, &err);
    json_tokener *tok = json_tokener_new();
    json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    const bool parsed = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    free(text);
    if (!parsed || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return cli_fail(cmd, DESK_EXIT_USAGE, "%s: not a JSON object (a manifest from desk run --manifest)", path);
    }
    cli_manifest *m = calloc(1, sizeof *m);
    if (!m) {
        json_object_put(root);
        return cli_fail(cmd, DESK_EXIT_FAIL, "out of memory");
    }
    m->root = root;
    int rc = 0;
    json_object *ver = get(root, "desk_manifest", json_type_int), *model = get(root, "model", json_type_object);
    json_object *mp = model ? get(model, "path", json_type_string) : NULL, *v;
    if (!ver || json_object_get_int(ver) != 1) rc = bad(cmd, path, "desk_manifest", "must be 1");
    else if (!mp) rc = bad(cmd, path, "model.path", "must be a string");
    else if (!get(model, "sha256", json_type_string)) rc = bad(cmd, path, "model.sha256", "must be a string");
    else if (!get(root, "sampler", json_type_object)) rc = bad(cmd, path, "sampler", "must be an object");
    if (rc) goto fail;
    a->model = json_object_get_string(mp);
    if ((rc = read_sampler(cmd, path, get(root, "sampler", json_type_object), &a->sp))) goto fail;
    a->seed_given = true;
    double x;
    if (!num(root, "n_predict", 1, 1 << 30, &x)) {
        rc = bad(cmd, path, "n_predict", "is missing or out of range");
        goto fail;
    }
    a->n_predict = (int)x;
    if (!num(root, "ctx", 0, 1 << 24, &x)) {
        rc = bad(cmd, path, "ctx", "is missing or out of range");
        goto fail;
    }
    a->n_ctx = (int)x;
    if (a->n_threads == 0 && num(root, "threads", 0, 1024, &x)) a->n_threads = (int)x;
    const char *mode = (v = get(root, "mode", json_type_string)) ? json_object_get_string(v) : "";
    if (strcmp(mode, "deterministic") != 0 && strcmp(mode, "default") != 0) {
        rc = bad(cmd, path, "mode", "must be \"deterministic\" or \"default\"");
        goto fail;
    }
    a->deterministic = mode[0] == 'd' && mode[2] == 't';
    a->no_repack = (v = get(root, "no_repack", json_type_boolean)) && json_object_get_boolean(v);
    static const char *const CT[2] = {"cache_type_k", "cache_type_v"};
    for (int i = 0; i < 2; i++) {
        v = get(root, CT[i], json_type_string);
        desk_cache_type *t = i ? &a->cache_v : &a->cache_k;
        if (!v || desk_cache_type_parse(json_object_get_string(v), t, &err) != DESK_OK) {
            rc = bad(cmd, path, CT[i], "must be \"f16\" or \"q8_0\"");
            goto fail;
        }
    }
    json_object *stops = get(root, "stops", json_type_array);
    if (!stops || json_object_array_length(stops) > CLI_GEN_MAX_STOPS) {
        rc = bad(cmd, path, "stops", "must be an array of at most 16 strings");
        goto fail;
    }
    for (size_t i = 0; i < json_object_array_length(stops); i++) {
        json_object *s = json_object_array_get_idx(stops, i);
        if (!json_object_is_type(s, json_type_string) || !json_object_get_string_len(s)) {
            rc = bad(cmd, path, "stops", "must hold non-empty strings");
            goto fail;
        }
        a->stops[a->n_stops++] = json_object_get_string(s);
    }
    json_object *loras = get(root, "loras", json_type_array);
    if (!loras || json_object_array_length(loras) > CLI_LORA_MAX) {
        rc = bad(cmd, path, "loras", "must be an array of at most 8 adapters");
        goto fail;
    }
    for (size_t i = 0; i < json_object_array_length(loras); i++) {
        json_object *l = json_object_array_get_idx(loras, i), *lp = NULL;
        double scale;
        if (!json_object_is_type(l, json_type_object) || !(lp = get(l, "path", json_type_string)) ||
            !get(l, "sha256", json_type_string) || !num(l, "scale", -1e6, 1e6, &scale)) {
            rc = bad(cmd, path, "loras", "must hold objects with path, sha256 and scale");
            goto fail;
        }
        a->loras.path[a->loras.n] = json_object_get_string(lp);
        a->loras.use[a->loras.n].scale = (float)scale;
        a->loras.n++;
    }
    json_object *output = get(root, "output", json_type_object);
    json_object *p = get(root, "prompt_ids", json_type_array), *sid = get(root, "stop_ids", json_type_array);
    json_object *oid = output ? get(output, "ids", json_type_array) : NULL;
    if (!p || !read_ids(p, &m->prompt, &m->n_prompt) || m->n_prompt == 0)
        rc = bad(cmd, path, "prompt_ids", "must be a non-empty array of token ids");
    else if (!sid || !read_ids(sid, &m->stop_ids, &m->n_stop_ids))
        rc = bad(cmd, path, "stop_ids", "must be an array of token ids");
    else if (!oid || !read_ids(oid, &m->out, &m->n_out))
        rc = bad(cmd, path, "output.ids", "must be an array of token ids");
    if (rc) goto fail;
    json_object *check = get(root, "check", json_type_object);
    if (!check) {
        snprintf(m->edited, sizeof m->edited, "check");
    } else {
        edit_scan s = {check, m->edited, sizeof m->edited};
        walk(root, "", find_edit, &s);
    }
    *out = m;
    return 0;
fail:
    cli_manifest_free(m);
    return rc;
}

void cli_manifest_free(cli_manifest *m) {
    if (!m) return;
    json_object_put(m->root);
    free(m->prompt);
    free(m->stop_ids);
    free(m->out);
    free(m);
}

const desk_token *cli_manifest_prompt(const cli_manifest *m, size_t *n) {
    *n = m->n_prompt;
    return m->prompt;
}

const desk_token *cli_manifest_stop_ids(const cli_manifest *m, size_t *n) {
    *n = m->n_stop_ids;
    return m->stop_ids;
}

const desk_token *cli_manifest_output(const cli_manifest *m, size_t *n) {
    *n = m->n_out;
    return m->out;
}

const char *cli_manifest_edited(const cli_manifest *m) { return m->edited[0] ? m->edited : NULL; }

static const char *str_at(json_object *o, const char *a, const char *b) {
    json_object *x = get(o, a, json_type_object);
    json_object *y = x ? get(x, b, json_type_string) : get(o, a, json_type_string);
    return y ? json_object_get_string(y) : "";
}

bool cli_manifest_same_env(const char *cmd, const cli_manifest *m, const char *model_path, char *why, size_t cap) {
    why[0] = '\0';
    desk_err err = {0};
    char sha[65];
    if (desk_file_sha256(model_path, sha, &err) != DESK_OK) {
        cli_fail_err(cmd, &err);
        return false;
    }
    const char *rec = str_at(m->root, "model", "sha256");
    if (strcmp(sha, rec) != 0) {
        snprintf(why, cap, "model.sha256: recorded %.16s..., %s is %.16s...", rec, model_path, sha);
        return false;
    }
    json_object *loras = get(m->root, "loras", json_type_array);
    for (size_t i = 0; loras && i < json_object_array_length(loras); i++) {
        json_object *l = json_object_array_get_idx(loras, i);
        const char *p = str_at(l, "path", NULL), *ls = str_at(l, "sha256", NULL);
        if (desk_file_sha256(p, sha, &err) != DESK_OK) {
            cli_fail_err(cmd, &err);
            return false;
        }
        if (strcmp(sha, ls) != 0) {
            snprintf(why, cap, "loras[%zu].sha256: recorded %.16s..., %s is %.16s...", i, ls, p, sha);
            return false;
        }
    }
    const char *isa = desk_isa_current(NULL), *risa = str_at(m->root, "isa", NULL);
    if (strcmp(isa, risa) != 0) {
        snprintf(why, cap, "isa: recorded %s, here %s", risa, isa);
        return false;
    }
    const char *ver = str_at(m->root, "desk", "version"), *commit = str_at(m->root, "desk", "commit");
    if (strcmp(ver, desk_version()) != 0 || strcmp(commit, desk_build_commit()) != 0) {
        snprintf(why, cap, "desk: recorded %s (%s), here %s (%s)", ver, commit, desk_version(), desk_build_commit());
        return false;
    }
    return true;
}
