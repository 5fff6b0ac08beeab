/*
 * The sweeper: periodic work in small slices (redis serverCron style), driven
 * by one uv_timer. Roles register tasks (the escrow sweep among them); each
 * task has its own interval. A task that could not finish in its time budget
 * says so and is run again on the next loop turn instead of after its interval.
 *
 * The scheduling core (struct kd_sched) is pure and takes the time as an
 * argument, so it is tested with a fake clock; struct kd_sweeper binds it to a
 * libuv loop.
 */
#ifndef KERID_SWEEP_H
#define KERID_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kerid/buf.h"
#include "kerid/err.h"

enum kd_sweep_result {
    KD_SWEEP_DONE, /* all due work done: next run after the interval */
    KD_SWEEP_MORE, /* budget exhausted with work left: run again as soon as possible */
};

struct kd_sweep_task {
    const char *name;     /* metrics label, e.g. "escrow" */
    uint64_t interval_ms; /* > 0 */
    /* Does at most budget_ms of work. now_ms is the monotonic time of this run. */
    enum kd_sweep_result (*run)(void *ctx, uint64_t now_ms, uint64_t budget_ms);
}; /* arrays of tasks end with an entry whose run is NULL */

#define KD_SCHED_MAX_TASKS 32

struct kd_sched_entry {
    const struct kd_sweep_task *task;
    void *ctx;
    uint64_t due_ms;
    uint64_t runs;
    uint64_t busy_us; /* time spent in run(), for /metrics */
};

struct kd_sched {
    struct kd_sched_entry entries[KD_SCHED_MAX_TASKS];
    unsigned count;
    uint64_t budget_ms;
};

void kd_sched_init(struct kd_sched *s, uint64_t budget_ms);
/* Adds a task first due at now_ms + interval. KD_EINVAL for a NULL run or a zero
 * interval, KD_ETOOLARGE when KD_SCHED_MAX_TASKS are registered. */
enum kd_err kd_sched_add(struct kd_sched *s, const struct kd_sweep_task *task, void *ctx,
                         uint64_t now_ms);
/* Runs every task due at now_ms, in registration order, each once. clock() (may
 * be NULL) is read after each run to account busy time and to reschedule from
 * the end of the run. Returns the earliest next due time (UINT64_MAX if no task). */
uint64_t kd_sched_run_due(struct kd_sched *s, uint64_t now_ms, uint64_t (*clock)(void *arg),
                          void *clock_arg);
/* Earliest due time, UINT64_MAX if no task. */
uint64_t kd_sched_next_due(const struct kd_sched *s);

struct kd_sweeper {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct kd_sched sched;
    bool running;
};

/* Binds a sweeper to loop. budget_ms bounds one task run (0 = 10 ms). */
enum kd_err kd_sweeper_init(struct kd_sweeper *sw, uv_loop_t *loop, uint64_t budget_ms);
/* Registers every task of a {run == NULL}-terminated array with ctx. */
enum kd_err kd_sweeper_add_tasks(struct kd_sweeper *sw, const struct kd_sweep_task *tasks,
                                 void *ctx);
void kd_sweeper_start(struct kd_sweeper *sw);
void kd_sweeper_stop(struct kd_sweeper *sw);
/* Stops and closes the timer handle; the loop must run once more to finish the close. */
void kd_sweeper_close(struct kd_sweeper *sw);
/* Prometheus lines: kerid_sweep_runs_total{task=...}, kerid_sweep_busy_seconds_total{task=...}. */
enum kd_err kd_sweeper_render_metrics(const struct kd_sweeper *sw, struct kd_buf *out);

#endif
