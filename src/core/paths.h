/*
 * paths.h - the library's own view of model paths and the cache
 * (paths.c).  They are public: include/desk/model.h.
 */
#ifndef DESK_CORE_PATHS_H
#define DESK_CORE_PATHS_H

#include "desk/model.h"

#endif
