/*
 * clijson.c - shared CLI checks for the tests (see clijson.h).
 */
#include "util/clijson.h"

#include <stdio.h>
#include <string.h>

#include "util/testutil.h"

json_object *tu_desk_json(const char *const *args) {
    tu_run r;
    tu_desk(&r, NULL, 0, args);
    if (r.code != 0) fail_msg("desk %s: exit %d: %s", args[0], r.code, r.err);
    json_object *o = json_tokener_parse(r.out);
    if (!o) fail_msg("desk %s: stdout is not JSON: %.200s", args[0], r.out);
    tu_run_free(&r);
    return o;
}

json_object *tu_json_get(json_object *o, const char *k) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v)) fail_msg("no key '%s'", k);
    return v;
}

void tu_expect_usage_error(const char *const *args, const char *needle) {
    tu_run r;
    tu_desk(&r, NULL, 0, args);
    if (r.code != 2) fail_msg("desk %s ... (%s): exit %d, stderr %s", args[0], needle, r.code, r.err);
    assert_int_equal(r.out_len, 0);
    char pre[64];
    snprintf(pre, sizeof pre, "desk %s: ", args[0]);
    if (strncmp(r.err, pre, strlen(pre)) != 0) fail_msg("stderr does not start with '%s': %s", pre, r.err);
    if (!strstr(r.err, needle)) fail_msg("'%s' not in: %s", needle, r.err);
    char *nl = strchr(r.err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    tu_run_free(&r);
}
