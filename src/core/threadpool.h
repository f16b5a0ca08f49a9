/*
 * threadpool.h - a persistent pool of worker threads for the kernels.
 *
 * Workers are created once per context and wait between jobs (spin a
 * little, then sleep), so a job costs a wake-up, not a thread creation.
 * The calling thread takes part as thread 0.
 */
#ifndef DESK_CORE_THREADPOOL_H
#define DESK_CORE_THREADPOOL_H

#include "desk.h"

typedef struct desk_threadpool desk_threadpool;

/* A job: called once on each of NTH threads with ITH = 0..NTH-1. */
typedef void (*desk_task_fn)(void *ctx, int ith, int nth);

/* Starts N_THREADS-1 workers (N_THREADS >= 1).  Free with desk_threadpool_free. */
desk_status desk_threadpool_new(int n_threads, desk_threadpool **out, desk_err *err);
void desk_threadpool_free(desk_threadpool *tp);
int desk_threadpool_size(const desk_threadpool *tp);

/* Runs FN on every thread and returns when all have finished.  A NULL pool
 * runs FN(ctx, 0, 1) on the caller.  Allocates nothing. */
void desk_threadpool_run(desk_threadpool *tp, desk_task_fn fn, void *ctx);

/* Physical cores of this machine (the default thread count). */
int desk_physical_cores(void);

#endif
