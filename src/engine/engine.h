/*
 * engine/engine.h - the library's own view of the engine module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/engine.h.
 */
#ifndef DESK_SRC_ENGINE_H
#define DESK_SRC_ENGINE_H

#include "desk/engine.h"

#endif
