/* The sweeper bound to a libuv loop: one timer armed for the earliest due task. */
#include "kerid/sweep.h"

static uint64_t kd_sweeper_clock(void *arg)
{
    uv_loop_t *loop = arg;

    uv_update_time(loop);
    return uv_now(loop);
}

static void kd_sweeper_fire(uv_timer_t *t);

static void kd_sweeper_schedule(struct kd_sweeper *sw, uint64_t next)
{
    uint64_t now = uv_now(sw->loop);

    if (!sw->running || next == UINT64_MAX)
        return;
    uv_timer_start(&sw->timer, kd_sweeper_fire, next > now ? next - now : 0, 0);
}

static void kd_sweeper_fire(uv_timer_t *t)
{
    struct kd_sweeper *sw = t->data;
    uint64_t next;

    next = kd_sched_run_due(&sw->sched, uv_now(sw->loop), kd_sweeper_clock, sw->loop);
    kd_sweeper_schedule(sw, next);
}

enum kd_err kd_sweeper_init(struct kd_sweeper *sw, uv_loop_t *loop, uint64_t budget_ms)
{
    sw->loop = loop;
    sw->running = false;
    kd_sched_init(&sw->sched, budget_ms);
    if (uv_timer_init(loop, &sw->timer) != 0)
        return KD_EINTERNAL;
    sw->timer.data = sw;
    return KD_OK;
}

enum kd_err kd_sweeper_add_tasks(struct kd_sweeper *sw, const struct kd_sweep_task *tasks,
                                 void *ctx)
{
    enum kd_err err;

    for (; tasks != NULL && tasks->run != NULL; tasks++) {
        err = kd_sched_add(&sw->sched, tasks, ctx, uv_now(sw->loop));
        if (err != KD_OK)
            return err;
    }
    if (sw->running)
        kd_sweeper_schedule(sw, kd_sched_next_due(&sw->sched));
    return KD_OK;
}

void kd_sweeper_start(struct kd_sweeper *sw)
{
    sw->running = true;
    kd_sweeper_schedule(sw, kd_sched_next_due(&sw->sched));
}

void kd_sweeper_stop(struct kd_sweeper *sw)
{
    sw->running = false;
    uv_timer_stop(&sw->timer);
}

void kd_sweeper_close(struct kd_sweeper *sw)
{
    kd_sweeper_stop(sw);
    if (!uv_is_closing((uv_handle_t *)&sw->timer))
        uv_close((uv_handle_t *)&sw->timer, NULL);
}

enum kd_err kd_sweeper_render_metrics(const struct kd_sweeper *sw, struct kd_buf *out)
{
    enum kd_err err;

    err = kd_buf_append_str(out, "# HELP kerid_sweep_runs_total Runs of each sweeper task.\n"
                                 "# TYPE kerid_sweep_runs_total counter\n");
    for (unsigned i = 0; err == KD_OK && i < sw->sched.count; i++)
        err = kd_buf_printf(out, "kerid_sweep_runs_total{task=\"%s\"} %llu\n",
                            sw->sched.entries[i].task->name,
                            (unsigned long long)sw->sched.entries[i].runs);
    if (err == KD_OK)
        err = kd_buf_append_str(out,
                                "# HELP kerid_sweep_busy_seconds_total Time spent in each sweeper task.\n"
                                "# TYPE kerid_sweep_busy_seconds_total counter\n");
    for (unsigned i = 0; err == KD_OK && i < sw->sched.count; i++)
        err = kd_buf_printf(out, "kerid_sweep_busy_seconds_total{task=\"%s\"} %.6f\n",
                            sw->sched.entries[i].task->name,
                            (double)sw->sched.entries[i].busy_us / 1e6);
    return err;
}
