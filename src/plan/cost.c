/*
 * cost.c - local against cloud cost, and payback periods (see cost.h).
 */
#include "plan/cost.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define SECONDS_PER_MONTH (DESK_HOURS_PER_MONTH * 3600.0)

static desk_status check(const char *what, double v, double lo, bool lo_open, desk_err *err) {
    if (!isfinite(v) || v < lo || (lo_open && v <= lo))
        return desk_errf(err, DESK_E_RANGE, "%s must be %s %g (got %g)", what, lo_open ? ">" : ">=", lo, v);
    return DESK_OK;
}

static void add_scenario(desk_cost_result *r, const desk_cost_params *p, const char *label, double cloud) {
    desk_cost_scenario *s = &r->scenarios[r->n_scenarios++];
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", label);
    s->cloud_monthly = cloud;
    s->local_monthly = r->energy_per_month;
    s->pays_back = cloud > s->local_monthly;
    s->payback_months = s->pays_back ? p->hardware_price / (cloud - s->local_monthly) : 0;
    s->saving_lifetime = (cloud - s->local_monthly) * p->lifetime_months - p->hardware_price;
}

desk_status desk_cost_compute(const desk_cost_params *p, desk_cost_result *r, desk_err *err) {
    desk_status st;
    if ((st = check("the hardware price", p->hardware_price, 0, true, err)) ||
        (st = check("the lifetime in months", p->lifetime_months, 0, true, err)) ||
        (st = check("watts", p->watts, 0, false, err)) || (st = check("the kWh price", p->kwh_price, 0, false, err)) ||
        (st = check("tokens per second", p->tokens_per_s, 0, true, err)) ||
        (st = check("tokens per month", p->tokens_per_month, 0, false, err)) ||
        (st = check("the cloud input price", p->cloud_in, 0, false, err)) ||
        (st = check("the cloud output price", p->cloud_out, 0, false, err)) ||
        (st = check("the input share", p->input_share, 0, false, err)))
        return st;
    if (p->input_share > 1) return desk_errf(err, DESK_E_RANGE, "the input share must be <= 1 (got %g)", p->input_share);
    if (p->n_cloud_monthly > DESK_COST_MAX_SCENARIOS)
        return desk_errf(err, DESK_E_RANGE, "at most %d cloud monthly figures", DESK_COST_MAX_SCENARIOS);
    for (size_t i = 0; i < p->n_cloud_monthly; i++)
        if ((st = check("a cloud monthly bill", p->cloud_monthly[i], 0, false, err))) return st;
    memset(r, 0, sizeof *r);
    r->hardware_per_month = p->hardware_price / p->lifetime_months;
    r->capacity_tokens_per_month = p->tokens_per_s * SECONDS_PER_MONTH;
    r->over_capacity = p->tokens_per_month > r->capacity_tokens_per_month;
    double used = p->tokens_per_month > 0 ? p->tokens_per_month : r->capacity_tokens_per_month;
    r->hours_per_month = p->tokens_per_month > 0 ? p->tokens_per_month / p->tokens_per_s / 3600.0 : DESK_HOURS_PER_MONTH;
    r->energy_kwh_per_month = p->watts * r->hours_per_month / 1000.0;
    r->energy_per_month = r->energy_kwh_per_month * p->kwh_price;
    r->local_energy_per_mtok = p->watts * (1e6 / p->tokens_per_s) / 3.6e6 * p->kwh_price;
    r->local_hw_per_mtok = r->hardware_per_month / (used / 1e6);
    r->local_per_mtok = r->local_hw_per_mtok + r->local_energy_per_mtok;
    r->cloud_per_mtok = p->input_share * p->cloud_in + (1 - p->input_share) * p->cloud_out;
    char label[64];
    for (size_t i = 0; i < p->n_cloud_monthly; i++) {
        snprintf(label, sizeof label, "cloud $%.0f/month", p->cloud_monthly[i]);
        add_scenario(r, p, label, p->cloud_monthly[i]);
    }
    if (p->tokens_per_month > 0 && r->cloud_per_mtok > 0) {
        double cloud = p->tokens_per_month / 1e6 * r->cloud_per_mtok;
        snprintf(label, sizeof label, "per-token prices ($%.0f/month)", cloud);
        add_scenario(r, p, label, cloud);
    }
    return DESK_OK;
}
