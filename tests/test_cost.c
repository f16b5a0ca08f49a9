/*
 * test_cost.c - `desk cost` and the cost model: the seed's payback (8 and 2
 * months for $3,999 against $500 and $2,000 a month), energy, per-token
 * prices, reading a bench report, JSON shape, and bad input.
 */
#include "util/testutil.h"
#include "util/clijson.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/cost.h"




static void test_seed_payback(void **state) {
    (void)state;
    const char *const args[] = {"cost", "--hardware-price", "3999", "--cloud-monthly", "500,2000", "--json", NULL};
    json_object *o = tu_desk_json(args);
    json_object *sc = tu_json_get(o, "scenarios");
    assert_int_equal(json_object_array_length(sc), 2);
    double want[2] = {500, 2000}, months[2] = {8, 2};
    for (size_t i = 0; i < 2; i++) {
        json_object *s = json_object_array_get_idx(sc, i);
        assert_true(json_object_get_double(tu_json_get(s, "cloud_monthly")) == want[i]);
        double pb = json_object_get_double(tu_json_get(s, "payback_months"));
        if (lround(pb) != (long)months[i] || fabs(pb - months[i]) > 0.01)
            fail_msg("payback against %.0f: %.3f months, want %.0f", want[i], pb, months[i]);
    }
    json_object_put(o);
    /* The defaults are the seed's figures. */
    const char *const a2[] = {"cost", NULL};
    tu_run r;
    tu_desk(&r, NULL, 0, a2);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "8.0 mo"));
    assert_non_null(strstr(r.out, "2.0 mo"));
    assert_non_null(strstr(r.out, "energy            not counted"));
    tu_run_free(&r);
    /* --help: usage on stdout, exit 0, even after other flags. */
    const char *const a3[] = {"cost", "--json", "--help", NULL};
    tu_desk(&r, NULL, 0, a3);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: desk cost"));
    tu_run_free(&r);
}

static void test_energy_and_tokens(void **state) {
    (void)state;
    desk_cost_params p = {.hardware_price = 3999, .lifetime_months = 36, .watts = 120, .kwh_price = 0.30,
                          .tokens_per_s = 10, .input_share = 0.5, .cloud_monthly = {500}, .n_cloud_monthly = 1};
    desk_cost_result r;
    desk_err err = {0};
    assert_int_equal(desk_cost_compute(&p, &r, &err), DESK_OK);
    double energy = 120 * DESK_HOURS_PER_MONTH / 1000 * 0.30;
    assert_true(fabs(r.energy_per_month - energy) < 1e-9);
    assert_true(fabs(r.scenarios[0].payback_months - 3999 / (500 - energy)) < 1e-9);
    /* 1e6 tokens at 10/s = 1e5 s at 120 W = 3.333 kWh */
    assert_true(fabs(r.local_energy_per_mtok - 1e5 * 120 / 3.6e6 * 0.30) < 1e-9);
    assert_true(fabs(r.local_hw_per_mtok - (3999.0 / 36) / (10 * DESK_HOURS_PER_MONTH * 3600 / 1e6)) < 1e-9);
    /* Per-token prices add a scenario; 20M tokens at 10/s is 555.6 hours. */
    p.tokens_per_month = 20e6;
    p.cloud_in = 3;
    p.cloud_out = 15;
    assert_int_equal(desk_cost_compute(&p, &r, &err), DESK_OK);
    assert_int_equal(r.n_scenarios, 2);
    assert_true(fabs(r.cloud_per_mtok - 9) < 1e-12);
    assert_true(fabs(r.scenarios[1].cloud_monthly - 180) < 1e-9);
    assert_true(fabs(r.hours_per_month - 20e6 / 10 / 3600) < 1e-9);
    assert_false(r.over_capacity);
    /* A cloud bill below the running cost never pays back. */
    p.cloud_monthly[0] = 1;
    assert_int_equal(desk_cost_compute(&p, &r, &err), DESK_OK);
    assert_false(r.scenarios[0].pays_back);
    p.tokens_per_s = 0;
    assert_int_equal(desk_cost_compute(&p, &r, &err), DESK_E_RANGE);
    assert_non_null(strstr(err.msg, "tokens per second"));
}

static char *write_temp(const char *text) {
    char *path = strdup("/tmp/desk_test_costXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_bench_report(void **state) {
    (void)state;
    char *path = write_temp("{\"env\":{},\"results\":[{\"model\":\"m\",\"test\":\"pp512\",\"threads\":2,"
                            "\"tokens_per_s\":400,\"sd\":1},{\"model\":\"m\",\"test\":\"tg128\",\"threads\":2,"
                            "\"tokens_per_s\":25,\"sd\":0.5}]}");
    const char *const args[] = {"cost", "--bench", path, "--json", NULL};
    json_object *o = tu_desk_json(args);
    json_object *as = tu_json_get(o, "assumptions");
    assert_true(json_object_get_double(tu_json_get(as, "tokens_per_s")) == 25);
    assert_non_null(strstr(json_object_get_string(tu_json_get(as, "tokens_per_s_source")), "tg128"));
    json_object_put(o);
    unlink(path);
    free(path);
    path = write_temp("{\"results\":[{\"test\":\"pp512\",\"tokens_per_s\":400}]}");
    const char *const a2[] = {"cost", "--bench", path, NULL};
    tu_expect_usage_error(a2, "no result with a tg test");
    unlink(path);
    free(path);
    path = write_temp("{\"results\":[{\"model\":\"m\",\"test\":\"tg128\",\"threads\":1,\"tokens_per_s\":0}]}");
    const char *const a4[] = {"cost", "--bench", path, NULL};
    tu_expect_usage_error(a4, "tokens per second must be > 0");
    unlink(path);
    free(path);
    path = write_temp("{\"results\":[{\"model\":\"m\",\"test\":\"tg128\",\"threads\":1,\"tokens_per_s\":NaN}]}");
    const char *const a5[] = {"cost", "--bench", path, NULL};
    tu_expect_usage_error(a5, "tokens per second must be > 0 (got nan)");
    unlink(path);
    free(path);
    path = write_temp("not json {");
    const char *const a3[] = {"cost", "--bench", path, NULL};
    tu_expect_usage_error(a3, "not a readable JSON report");
    unlink(path);
    free(path);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *const a1[] = {"cost", "--hardware-price", "-1", NULL};
    tu_expect_usage_error(a1, "--hardware-price");
    const char *const a2[] = {"cost", "--tokens-per-s", "0", NULL};
    tu_expect_usage_error(a2, "tokens per second");
    const char *const a3[] = {"cost", "--bench", "/nonexistent/report.json", NULL};
    tu_expect_usage_error(a3, "/nonexistent/report.json");
    const char *const a4[] = {"cost", "--cloud-monthly", "500,abc", NULL};
    tu_expect_usage_error(a4, "abc");
    const char *const a5[] = {"cost", "--cloud-price-per-mtok", "3", NULL};
    tu_expect_usage_error(a5, "IN,OUT");
    const char *const a6[] = {"cost", "--kwh-price", "-0.1", NULL};
    tu_expect_usage_error(a6, "--kwh-price");
    const char *const a7[] = {"cost", "--frobnicate", NULL};
    tu_expect_usage_error(a7, "--frobnicate");
    const char *const a9[] = {"cost", "--cloud-monthly", "-500", NULL};
    tu_expect_usage_error(a9, "--cloud-monthly");
    const char *const a8[] = {"cost", "--lifetime-months", "0", NULL};
    tu_expect_usage_error(a8, "lifetime");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_payback), cmocka_unit_test(test_energy_and_tokens),
        cmocka_unit_test(test_bench_report), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
