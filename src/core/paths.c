/*
 * paths.c - model cache location and short-name resolution (see paths.h).
 */
#include "core/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

/* Keep in step with scripts/models.txt, which the fetch script reads. */
static const desk_known_model KNOWN[] = {
    {"smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
     "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
     "SmolLM2 135M Instruct, Q4_1 (llama architecture; the default)"},
    {"gemma3-270m", "gemma-3-270m-q4_k_m.gguf",
     "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
     "Gemma 3 270M, Q4_K_M (gemma3 architecture)"},
};

const desk_known_model *desk_known_models(size_t *n_out) {
    *n_out = sizeof KNOWN / sizeof KNOWN[0];
    return KNOWN;
}

desk_status desk_model_cache_dir(char *buf, size_t cap, desk_err *err) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    int n;
    if (xdg && *xdg) {
        n = snprintf(buf, cap, "%s/desk/models", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return desk_errf(err, DESK_E_NOTFOUND, "neither XDG_CACHE_HOME nor HOME is set");
        n = snprintf(buf, cap, "%s/.cache/desk/models", home);
    }
    if (n < 0 || (size_t)n >= cap) return desk_errf(err, DESK_E_RANGE, "cache path too long");
    return DESK_OK;
}

desk_status desk_model_resolve(const char *arg, char *buf, size_t cap, desk_err *err) {
    if (!arg || !*arg) return desk_errf(err, DESK_E_ARG, "no model given (use -m NAME or -m FILE.gguf)");
    struct stat st;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) {
        if (strcmp(arg, KNOWN[i].name) != 0) continue;
        char dir[4096];
        desk_status s = desk_model_cache_dir(dir, sizeof dir, err);
        if (s) return s;
        int n = snprintf(buf, cap, "%s/%s", dir, KNOWN[i].file);
        if (n < 0 || (size_t)n >= cap) return desk_errf(err, DESK_E_RANGE, "model path too long");
        if (stat(buf, &st) != 0)
            return desk_errf(err, DESK_E_NOTFOUND,
                             "model '%s' is not in the cache (%s); fetch it with `make models`",
                             arg, buf);
        return DESK_OK;
    }
    if (stat(arg, &st) != 0) {
        if (!strchr(arg, '/') && !strstr(arg, ".gguf"))
            return desk_errf(err, DESK_E_NOTFOUND,
                             "unknown model '%s': not a file, and not a known name "
                             "(smollm2, gemma3-270m)", arg);
        return desk_errf(err, DESK_E_NOTFOUND, "model file '%s' does not exist", arg);
    }
    if (strlen(arg) >= cap) return desk_errf(err, DESK_E_RANGE, "model path too long");
    strcpy(buf, arg);
    return DESK_OK;
}
