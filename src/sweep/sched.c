/* Pure scheduling core of the sweeper: no clock of its own, no libuv. */
#include "kerid/sweep.h"

#include <string.h>

void kd_sched_init(struct kd_sched *s, uint64_t budget_ms)
{
    memset(s, 0, sizeof(*s));
    s->budget_ms = budget_ms ? budget_ms : 10;
}

enum kd_err kd_sched_add(struct kd_sched *s, const struct kd_sweep_task *task, void *ctx,
                         uint64_t now_ms)
{
    struct kd_sched_entry *e;

    if (task == NULL || task->run == NULL || task->interval_ms == 0)
        return KD_EINVAL;
    if (s->count == KD_SCHED_MAX_TASKS)
        return KD_ETOOLARGE;
    e = &s->entries[s->count++];
    memset(e, 0, sizeof(*e));
    e->task = task;
    e->ctx = ctx;
    e->due_ms = now_ms + task->interval_ms;
    return KD_OK;
}

uint64_t kd_sched_next_due(const struct kd_sched *s)
{
    uint64_t next = UINT64_MAX;

    for (unsigned i = 0; i < s->count; i++) {
        if (s->entries[i].due_ms < next)
            next = s->entries[i].due_ms;
    }
    return next;
}

uint64_t kd_sched_run_due(struct kd_sched *s, uint64_t now_ms, uint64_t (*clock)(void *arg),
                          void *clock_arg)
{
    for (unsigned i = 0; i < s->count; i++) {
        struct kd_sched_entry *e = &s->entries[i];
        enum kd_sweep_result r;
        uint64_t end;

        if (e->due_ms > now_ms)
            continue;
        r = e->task->run(e->ctx, now_ms, s->budget_ms);
        end = clock ? clock(clock_arg) : now_ms;
        if (end < now_ms)
            end = now_ms;
        e->runs++;
        e->busy_us += (end - now_ms) * 1000u;
        /* Unfinished work goes again on the next turn; finished work waits its
         * interval, counted from the end of the run so that a slow task never
         * runs back to back. */
        e->due_ms = r == KD_SWEEP_MORE ? end : end + e->task->interval_ms;
    }
    return kd_sched_next_due(s);
}
