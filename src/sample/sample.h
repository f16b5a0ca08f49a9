/*
 * sample/sample.h - the library's own view of the sample module.  Its public half,
 * everything callers outside libdesk may use, is include/desk/sample.h.
 */
#ifndef DESK_SRC_SAMPLE_H
#define DESK_SRC_SAMPLE_H

#include "desk/sample.h"

#endif
