/*
 * mfile.h - the library's own view of its file helpers (mfile.c).  They
 * are public: include/desk/files.h.
 */
#ifndef DESK_CORE_MFILE_H
#define DESK_CORE_MFILE_H

#include "desk/files.h"

#endif
