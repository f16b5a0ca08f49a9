/*
 * plan/plan.h - the library's own view of the memory plans (plan.c).  It is
 * public: include/desk/plan.h.
 */
#ifndef DESK_PLAN_PLAN_H
#define DESK_PLAN_PLAN_H

#include "desk/plan.h"

#endif
