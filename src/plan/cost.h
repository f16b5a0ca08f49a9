/*
 * plan/cost.h - the library's own view of the economics (cost.c).  It is
 * public: include/desk/plan.h.
 */
#ifndef DESK_PLAN_COST_H
#define DESK_PLAN_COST_H

#include "desk/plan.h"

#endif
