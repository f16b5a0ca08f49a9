/*
 * cmd_cost.c - `desk cost`: local cost per million tokens against a cloud
 * bill, and the payback period of the hardware, one scenario per cloud
 * figure.  The speed comes from a `desk bench --json` report, a flag, or a
 * documented default; every assumption is printed beside the result.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "desk/files.h"
#include "desk/plan.h"
#include "cli.h"
#include "sandbox.h"

#define DEFAULT_TPS 5.0

static const char USAGE[] =
    "usage: desk cost [--bench FILE | --tokens-per-s X] [--hardware-price 3999]\n"
    "                 [--lifetime-months 36] [--watts W] [--kwh-price P]\n"
    "                 [--cloud-monthly 500,2000] [--cloud-price-per-mtok IN,OUT]\n"
    "                 [--input-share 0.5] [--tokens-per-month N] [--json]\n"
    "\n"
    "Local cost per million tokens, cloud cost, and the payback period of the\n"
    "hardware.  One scenario per cloud monthly figure:\n"
    "    payback months = hardware price / (cloud monthly - local running cost)\n"
    "The local running cost is energy: watts x generating hours a month x kWh\n"
    "price.  Energy counts only with --watts (default 0: not counted), so the\n"
    "defaults give the seed's figures exactly: $3,999 against $500 and $2,000 a\n"
    "month pays back in 8.0 and 2.0 months.  With --watts 120 --kwh-price 0.30\n"
    "running all month ($26/month) they become 8.4 and 2.0.\n"
    "\n"
    "--bench FILE            a `desk bench --json` report (a regular file, at most\n"
    "                        64 MiB): its first tg result's tokens_per_s is the\n"
    "                        local speed; of a `desk bench --url` report, the\n"
    "                        highest aggregate output tokens/s of its levels\n"
    "--tokens-per-s X        the local generation speed (default 5: Llama 3 70B at\n"
    "                        Q4_0, ~40 GB read per token, on ~256 GB/s memory\n"
    "                        peaks at 6.4 tokens/s)\n"
    "--hardware-price P      default 3999\n"
    "--lifetime-months M     months the hardware is written off over (default 36)\n"
    "--watts W               average draw while generating (default 0)\n"
    "--kwh-price P           per kWh (default 0.30)\n"
    "--cloud-monthly A,B,..  monthly cloud bills, one scenario each (default 500,2000)\n"
    "--cloud-price-per-mtok IN,OUT\n"
    "                        cloud prices per million input and output tokens;\n"
    "                        blended by --input-share (default 0.5)\n"
    "--tokens-per-month N    tokens generated a month: sets the hardware share per\n"
    "                        million tokens (default: the machine busy all month,\n"
    "                        the lowest share), the hours energy is counted for,\n"
    "                        and with per-token prices one more scenario\n"
    "--json                  one JSON object: assumptions, local, cloud_per_mtok,\n"
    "                        scenarios [{label, cloud_monthly, local_monthly,\n"
    "                        pays_back, payback_months, saving_lifetime}]\n"
    "\n"
    "Money is in one currency throughout (printed as $).\n";

/* "A,B,..." into OUT (at most CAP numbers, each >= 0). */
static bool parse_list(const char *flag, const char *s, double *out, size_t cap, size_t *n) {
    char buf[512];
    if (!s || !*s || strlen(s) >= sizeof buf) {
        cli_fail("cost", DESK_EXIT_USAGE, "%s needs a comma-separated list of numbers", flag);
        return false;
    }
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == cap) {
            cli_fail("cost", DESK_EXIT_USAGE, "%s: at most %zu values", flag, cap);
            return false;
        }
        if (!cli_parse_float("cost", flag, tok, 0, 1e15, &out[(*n)++])) return false;
    }
    if (!*n) cli_fail("cost", DESK_EXIT_USAGE, "%s needs at least one number", flag);
    return *n > 0;
}

/* The first tg result's tokens_per_s of a bench report; in a load test of
 * a server (`desk bench --url`), the highest aggregate output tokens/s of
 * its levels (what the server delivers at the load that suits it best). */
static int read_bench(const char *path, double *tps, char *test, size_t cap) {
    /* A regular file of at most DESK_REPORT_MAX bytes: a FIFO, a device or
     * an endless file is refused, not read forever. */
    char *buf = NULL;
    size_t len = 0;
    desk_err err = {0};
    if (desk_file_read_all(path, DESK_REPORT_MAX, &buf, &len, &err) != DESK_OK) {
        desk_err_prefix(&err, "--bench");
        return cli_fail_err("cost", &err);
    }
    json_tokener *tok = json_tokener_new();
    json_object *root = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
    size_t end = tok ? json_tokener_get_parse_end(tok) : 0;
    bool parsed = root && json_tokener_get_error(tok) == json_tokener_success;
    while (parsed && end < len && strchr(" \t\r\n", buf[end]) && buf[end]) end++;
    if (tok) json_tokener_free(tok);
    free(buf);
    if (!parsed || end != len) {
        json_object_put(root);
        return cli_fail("cost", DESK_EXIT_USAGE, "--bench %s: not a readable JSON report", path);
    }
    json_object *results = NULL;
    bool ok = false;
    double best = -1;
    if (json_object_object_get_ex(root, "results", &results) && json_object_is_type(results, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(results) && !ok; i++) {
            json_object *r = json_object_array_get_idx(results, i), *t = NULL, *v = NULL;
            if (!json_object_object_get_ex(r, "test", &t) || !json_object_object_get_ex(r, "tokens_per_s", &v)) continue;
            const char *name = json_object_get_string(t);
            json_object *kind = NULL, *m = NULL;
            if (json_object_object_get_ex(r, "kind", &kind) && json_object_is_type(kind, json_type_string) &&
                strcmp(json_object_get_string(kind), "url") == 0) {
                double x = json_object_get_double(v);
                if (name && x > best && isfinite(x)) {
                    best = x;
                    json_object_object_get_ex(r, "model", &m);
                    snprintf(test, cap, "%s %s, aggregate output of the server under load", m ? json_object_get_string(m) : "?",
                             name);
                }
                continue;
            }
            if (!name || strncmp(name, "tg", 2) != 0) continue;
            *tps = json_object_get_double(v);
            json_object_object_get_ex(r, "model", &m);
            snprintf(test, cap, "%s %s", m ? json_object_get_string(m) : "?", name);
            ok = true;
        }
    }
    json_object_put(root);
    if (!ok && best > 0) {
        *tps = best;
        ok = true;
    }
    if (!ok)
        return cli_fail("cost", DESK_EXIT_USAGE, "--bench %s: no result with a tg test (or a --url level) and tokens_per_s",
                        path);
    return 0;
}

static void print_text(const desk_cost_params *p, const desk_cost_result *r, const char *speed_src) {
    printf("assumptions:\n");
    printf("  hardware          $%.2f written off over %.0f months ($%.2f/month)\n", p->hardware_price,
           p->lifetime_months, r->hardware_per_month);
    printf("  local speed       %.2f tokens/s (%s)\n", p->tokens_per_s, speed_src);
    if (p->watts > 0)
        printf("  energy            %.0f W x %.0f h/month x $%.3f/kWh = %.1f kWh, $%.2f/month\n", p->watts,
               r->hours_per_month, p->kwh_price, r->energy_kwh_per_month, r->energy_per_month);
    else
        printf("  energy            not counted (no --watts)\n");
    if (p->tokens_per_month > 0)
        printf("  use               %.0f tokens/month%s\n", p->tokens_per_month,
               r->over_capacity ? " (more than this speed can generate in a month!)" : "");
    else
        printf("  use               busy all month: %.0f tokens/month at this speed\n", r->capacity_tokens_per_month);
    printf("local cost per million tokens: $%.4f (hardware $%.4f + energy $%.4f)\n", r->local_per_mtok,
           r->local_hw_per_mtok, r->local_energy_per_mtok);
    if (r->cloud_per_mtok > 0)
        printf("cloud cost per million tokens: $%.4f (%.0f%% input at $%.2f, output at $%.2f)\n", r->cloud_per_mtok,
               p->input_share * 100, p->cloud_in, p->cloud_out);
    printf("%-34s %12s %12s %10s %16s\n", "scenario", "cloud/month", "local/month", "payback", "saved over life");
    for (size_t i = 0; i < r->n_scenarios; i++) {
        const desk_cost_scenario *s = &r->scenarios[i];
        char pb[32];
        if (s->pays_back) snprintf(pb, sizeof pb, "%.1f mo", s->payback_months);
        else snprintf(pb, sizeof pb, "never");
        printf("%-34s %12.2f %12.2f %10s %16.2f\n", s->label, s->cloud_monthly, s->local_monthly, pb,
               s->saving_lifetime);
    }
}

static void print_json(const desk_cost_params *p, const desk_cost_result *r, const char *speed_src) {
    json_object *root = json_object_new_object(), *as = json_object_new_object(), *lo = json_object_new_object();
    json_object_object_add(as, "hardware_price", json_object_new_double(p->hardware_price));
    json_object_object_add(as, "lifetime_months", json_object_new_double(p->lifetime_months));
    json_object_object_add(as, "watts", json_object_new_double(p->watts));
    json_object_object_add(as, "kwh_price", json_object_new_double(p->kwh_price));
    json_object_object_add(as, "tokens_per_s", json_object_new_double(p->tokens_per_s));
    json_object_object_add(as, "tokens_per_s_source", json_object_new_string(speed_src));
    json_object_object_add(as, "tokens_per_month", json_object_new_double(p->tokens_per_month));
    json_object_object_add(as, "hours_per_month", json_object_new_double(r->hours_per_month));
    json_object_object_add(as, "energy_counted", json_object_new_boolean(p->watts > 0));
    json_object_object_add(root, "assumptions", as);
    json_object_object_add(lo, "hardware_per_month", json_object_new_double(r->hardware_per_month));
    json_object_object_add(lo, "energy_per_month", json_object_new_double(r->energy_per_month));
    json_object_object_add(lo, "per_mtok", json_object_new_double(r->local_per_mtok));
    json_object_object_add(lo, "hardware_per_mtok", json_object_new_double(r->local_hw_per_mtok));
    json_object_object_add(lo, "energy_per_mtok", json_object_new_double(r->local_energy_per_mtok));
    json_object_object_add(lo, "capacity_tokens_per_month", json_object_new_double(r->capacity_tokens_per_month));
    json_object_object_add(root, "local", lo);
    json_object_object_add(root, "cloud_per_mtok", json_object_new_double(r->cloud_per_mtok));
    json_object *sc = json_object_new_array();
    for (size_t i = 0; i < r->n_scenarios; i++) {
        const desk_cost_scenario *s = &r->scenarios[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "label", json_object_new_string(s->label));
        json_object_object_add(o, "cloud_monthly", json_object_new_double(s->cloud_monthly));
        json_object_object_add(o, "local_monthly", json_object_new_double(s->local_monthly));
        json_object_object_add(o, "pays_back", json_object_new_boolean(s->pays_back));
        json_object_object_add(o, "payback_months", s->pays_back ? json_object_new_double(s->payback_months) : NULL);
        json_object_object_add(o, "saving_lifetime", json_object_new_double(s->saving_lifetime));
        json_object_array_add(sc, o);
    }
    json_object_object_add(root, "scenarios", sc);
    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

int cmd_cost(int argc, char **argv) {
    desk_cost_params p = {.hardware_price = 3999, .lifetime_months = 36, .kwh_price = 0.30, .input_share = 0.5,
                          .tokens_per_s = DEFAULT_TPS, .cloud_monthly = {500, 2000}, .n_cloud_monthly = 2};
    const char *bench = NULL;
    bool json = false, tps_given = false;
    static const char *const VALUED[] = {"--bench", "--tokens-per-s", "--hardware-price", "--lifetime-months",
                                         "--watts", "--kwh-price", "--cloud-monthly", "--cloud-price-per-mtok",
                                         "--input-share", "--tokens-per-month"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_usage(USAGE);
        if (cli_switch(a, "--json", &json)) continue;
        bool known = false;
        for (size_t k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++) known |= strcmp(a, VALUED[k]) == 0;
        if (!known) return cli_fail("cost", DESK_EXIT_USAGE, "unknown argument '%s' (see --help)", a);
        if (i + 1 >= argc) return cli_fail("cost", DESK_EXIT_USAGE, "%s needs a value", a);
        const char *v = argv[++i];
        bool ok = true;
        if (strcmp(a, "--bench") == 0) bench = v;
        else if (strcmp(a, "--tokens-per-s") == 0) ok = cli_parse_float("cost", a, v, 0, 1e9, &p.tokens_per_s), tps_given = true;
        else if (strcmp(a, "--hardware-price") == 0) ok = cli_parse_float("cost", a, v, 0, 1e12, &p.hardware_price);
        else if (strcmp(a, "--lifetime-months") == 0) ok = cli_parse_float("cost", a, v, 0, 1200, &p.lifetime_months);
        else if (strcmp(a, "--watts") == 0) ok = cli_parse_float("cost", a, v, 0, 1e6, &p.watts);
        else if (strcmp(a, "--kwh-price") == 0) ok = cli_parse_float("cost", a, v, 0, 1e3, &p.kwh_price);
        else if (strcmp(a, "--input-share") == 0) ok = cli_parse_float("cost", a, v, 0, 1, &p.input_share);
        else if (strcmp(a, "--tokens-per-month") == 0) ok = cli_parse_float("cost", a, v, 0, 1e18, &p.tokens_per_month);
        else if (strcmp(a, "--cloud-monthly") == 0)
            ok = parse_list(a, v, p.cloud_monthly, DESK_COST_MAX_SCENARIOS, &p.n_cloud_monthly);
        else {
            double two[2];
            size_t n = 0;
            ok = parse_list(a, v, two, 2, &n);
            if (ok && n != 2) return cli_fail("cost", DESK_EXIT_USAGE, "%s needs two prices: IN,OUT", a);
            p.cloud_in = two[0];
            p.cloud_out = two[1];
        }
        if (!ok) return DESK_EXIT_USAGE;
    }
    char speed_src[300] = "default: see --help";
    if (bench && tps_given) return cli_fail("cost", DESK_EXIT_USAGE, "give --bench or --tokens-per-s, not both");
    int confined = cli_sandbox_apply("cost", &(cli_sandbox_spec){.read = &bench, .n_read = bench ? 1 : 0});
    if (confined) return confined;
    if (bench) {
        char test[200];
        int bad = read_bench(bench, &p.tokens_per_s, test, sizeof test);
        if (bad) return bad;
        snprintf(speed_src, sizeof speed_src, "measured: %s in %s", test, bench);
    } else if (tps_given) {
        snprintf(speed_src, sizeof speed_src, "--tokens-per-s");
    }
    desk_cost_result r;
    desk_err err = {0};
    if (desk_cost_compute(&p, &r, &err) != DESK_OK) return cli_fail_err("cost", &err);
    if (json) print_json(&p, &r, speed_src);
    else print_text(&p, &r, speed_src);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail("cost", DESK_EXIT_FAIL, "error writing the output");
    return 0;
}
