/*
 * model/model.h - the library's own view of the model module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/model.h.
 */
#ifndef DESK_SRC_MODEL_H
#define DESK_SRC_MODEL_H

#include "desk/model.h"

#endif
