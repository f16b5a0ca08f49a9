/*
 * version.c - what build of libdesk this is, for --version, benchmark
 * reports and replay manifests.  The commit comes from desk_git.h, which
 * cmake/git-stamp.cmake rewrites at every build.
 */
#include "desk.h"
#include "desk_git.h"

const char *desk_version(void) { return DESK_VERSION; }
const char *desk_build_commit(void) { return DESK_GIT; }
