/*
 * model/hparams.h - the library's own view of the hyperparameter reader (hparams.c).  It is
 * public: include/desk/plan.h.
 */
#ifndef DESK_MODEL_HPARAMS_H
#define DESK_MODEL_HPARAMS_H

#include "desk/plan.h"

#endif
