/*
 * test_threadpool.c - the persistent thread pool: every run calls the task
 * once on each thread with its own ith, no run is lost or overlaps the
 * next, back-to-back runs (spinning workers) and runs after a pause
 * (sleeping workers) both complete, and bad sizes are refused.
 */
#include "util/testutil.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"

#define MAX_TH 8

typedef struct count_job {
    int nth;
    atomic_int hits[MAX_TH]; /* calls per ith in this run */
    atomic_int bad;          /* calls with a wrong nth or ith */
    atomic_long total;       /* calls over all runs */
} count_job;

static void count_task(void *p, int ith, int nth) {
    count_job *j = p;
    if (nth != j->nth || ith < 0 || ith >= nth) {
        atomic_fetch_add(&j->bad, 1);
        return;
    }
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->total, 1);
}

static void check_run(desk_threadpool *tp, count_job *j) {
    for (int i = 0; i < MAX_TH; i++) atomic_store(&j->hits[i], 0);
    desk_threadpool_run(tp, count_task, j);
    /* When run returns, every thread has finished its call. */
    for (int i = 0; i < j->nth; i++)
        if (atomic_load(&j->hits[i]) != 1) fail_msg("thread %d of %d ran %d times", i, j->nth, atomic_load(&j->hits[i]));
    assert_int_equal(atomic_load(&j->bad), 0);
}

static void test_every_thread_once(void **state) {
    (void)state;
    for (int n = 1; n <= MAX_TH; n++) {
        /* More threads than cores make each run wait for the scheduler. */
        const int runs = (getenv("DESK_SANITIZED") ? 100 : 1000) / (n > 2 ? 10 : 1);
        desk_threadpool *tp = NULL;
        desk_err err = {0};
        assert_int_equal(desk_threadpool_new(n, &tp, &err), DESK_OK);
        assert_int_equal(desk_threadpool_size(tp), n);
        count_job j = {.nth = n};
        for (int r = 0; r < runs; r++) check_run(tp, &j);
        /* After a pause the workers sleep; a run still reaches them all. */
        const struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        check_run(tp, &j);
        assert_int_equal(atomic_load(&j.total), (long)(runs + 1) * n);
        desk_threadpool_free(tp);
    }
}

/* Each run's writes are visible to the other threads in the next run:
 * thread i writes its slot of one buffer and checks its neighbour's slot
 * of the other, written in the previous run (the caller swaps them). */
typedef struct pass_job {
    long buf[2][MAX_TH];
    int cur; /* the buffer written in the previous run */
    long run;
    atomic_int wrong;
} pass_job;

static void pass_task(void *p, int ith, int nth) {
    pass_job *j = p;
    const int next = (ith + 1) % nth;
    if (j->run > 0 && j->buf[j->cur][next] != (j->run - 1) * 100 + next) atomic_fetch_add(&j->wrong, 1);
    j->buf[1 - j->cur][ith] = j->run * 100 + ith;
}

static void test_ordering(void **state) {
    (void)state;
    desk_threadpool *tp = NULL;
    desk_err err = {0};
    assert_int_equal(desk_threadpool_new(3, &tp, &err), DESK_OK);
    pass_job j = {.cur = 0};
    for (j.run = 0; j.run < 1000; j.run++) {
        desk_threadpool_run(tp, pass_task, &j);
        j.cur = 1 - j.cur;
    }
    assert_int_equal(atomic_load(&j.wrong), 0);
    desk_threadpool_free(tp);
}

static void test_null_and_errors(void **state) {
    (void)state;
    count_job j = {.nth = 1};
    desk_threadpool_run(NULL, count_task, &j); /* runs on the caller */
    assert_int_equal(atomic_load(&j.hits[0]), 1);
    assert_int_equal(desk_threadpool_size(NULL), 1);
    desk_threadpool *tp = (desk_threadpool *)&j;
    desk_err err = {0};
    assert_int_equal(desk_threadpool_new(0, &tp, &err), DESK_E_ARG);
    assert_null(tp);
    assert_non_null(strstr(err.msg, "0"));
    desk_threadpool_free(NULL);
    assert_true(desk_physical_cores() >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_once),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_null_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
