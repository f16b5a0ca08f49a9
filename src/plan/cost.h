/*
 * cost.h - the economics of a local machine against a cloud bill.
 *
 * Local cost per million tokens is the hardware price spread over its
 * lifetime plus the energy drawn while generating, at a measured (or
 * given) generation speed.  The payback period of one scenario is
 *     hardware price / (cloud monthly bill - local running cost per month)
 * where the running cost is energy only (the hardware is the investment
 * being paid back).  Energy counts only when watts > 0 are given.
 *
 * Money is in one currency throughout (the caller's; desk prints "$").
 * Everything is plain caller-owned data; nothing allocates.
 */
#ifndef DESK_PLAN_COST_H
#define DESK_PLAN_COST_H

#include <stdbool.h>
#include <stddef.h>

#include "desk.h"

#define DESK_COST_MAX_SCENARIOS 16
#define DESK_HOURS_PER_MONTH 730.5 /* 365.25 * 24 / 12 */

typedef struct desk_cost_params {
    double hardware_price;     /* > 0 */
    double lifetime_months;    /* > 0: months the hardware is written off over */
    double watts;              /* >= 0: average draw while generating (0: energy not counted) */
    double kwh_price;          /* >= 0 per kWh */
    double tokens_per_s;       /* > 0: generation speed */
    double tokens_per_month;   /* >= 0: tokens generated a month (0: not given) */
    double cloud_in, cloud_out; /* >= 0 per million input / output tokens (0, 0: not given) */
    double input_share;        /* share of tokens that are input, in [0, 1] */
    double cloud_monthly[DESK_COST_MAX_SCENARIOS];
    size_t n_cloud_monthly;
} desk_cost_params;

typedef struct desk_cost_scenario {
    char label[64];            /* "cloud $500/month" */
    double cloud_monthly;
    double local_monthly;      /* running cost: energy per month */
    bool pays_back;            /* cloud_monthly > local_monthly */
    double payback_months;     /* when pays_back */
    double saving_lifetime;    /* (cloud - local) * lifetime - price */
} desk_cost_scenario;

typedef struct desk_cost_result {
    double hardware_per_month;      /* price / lifetime */
    double hours_per_month;         /* generating hours a month the energy is counted for */
    double energy_kwh_per_month;
    double energy_per_month;
    double capacity_tokens_per_month; /* tokens_per_s running all month */
    double local_per_mtok;          /* hardware share + energy per million tokens */
    double local_hw_per_mtok, local_energy_per_mtok;
    double cloud_per_mtok;          /* blended; 0 when no per-token prices */
    bool over_capacity;             /* tokens_per_month > capacity */
    desk_cost_scenario scenarios[DESK_COST_MAX_SCENARIOS + 1];
    size_t n_scenarios;
} desk_cost_result;

/* Checks P (naming the bad field) and computes R.  The hardware share of a
 * million tokens assumes tokens_per_month of use when given, else the
 * machine generating all month at tokens_per_s (the lower bound).  Energy
 * counts the hours spent generating tokens_per_month, else all month.
 * Scenarios: one per cloud_monthly, then one from the per-token prices
 * when tokens_per_month and a price are given. */
desk_status desk_cost_compute(const desk_cost_params *p, desk_cost_result *r, desk_err *err);

#endif
