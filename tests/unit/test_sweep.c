/* sweeper: scheduling with a fake clock, then the libuv binding with short intervals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kerid/sweep.h"

struct probe {
    unsigned runs;
    uint64_t seen[16];
    unsigned more_left; /* answer KD_SWEEP_MORE this many times */
    uint64_t cost_ms;   /* advances the fake clock by this much per run */
};

static uint64_t fake_now;

static uint64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static enum kd_sweep_result probe_run(void *ctx, uint64_t now_ms, uint64_t budget_ms)
{
    struct probe *p = ctx;

    (void)budget_ms;
    if (p->runs < 16)
        p->seen[p->runs] = now_ms;
    p->runs++;
    fake_now += p->cost_ms;
    if (p->more_left > 0) {
        p->more_left--;
        return KD_SWEEP_MORE;
    }
    return KD_SWEEP_DONE;
}

static const struct kd_sweep_task task_100 = {"t100", 100, probe_run};
static const struct kd_sweep_task task_250 = {"t250", 250, probe_run};

static void test_sched_intervals(void **state)
{
    struct kd_sched s;
    struct probe a = {0}, b = {0};

    (void)state;
    fake_now = 1000;
    kd_sched_init(&s, 5);
    assert_int_equal(kd_sched_add(&s, &task_100, &a, 1000), KD_OK);
    assert_int_equal(kd_sched_add(&s, &task_250, &b, 1000), KD_OK);
    assert_int_equal(kd_sched_next_due(&s), 1100);
    /* nothing due before 1100 */
    assert_int_equal(kd_sched_run_due(&s, 1099, fake_clock, NULL), 1100);
    assert_int_equal(a.runs, 0);
    /* step the fake clock 10 ms at a time through one second */
    for (fake_now = 1000; fake_now <= 2000; fake_now += 10)
        kd_sched_run_due(&s, fake_now, fake_clock, NULL);
    assert_int_equal(a.runs, 10); /* 1100, 1200, ..., 2000 */
    assert_int_equal(b.runs, 4);  /* 1250, 1500, 1750, 2000 */
    assert_int_equal(a.seen[0], 1100);
    assert_int_equal(a.seen[9], 2000);
    assert_int_equal(b.seen[1], 1500);
}

static void test_sched_more_reruns_immediately(void **state)
{
    struct kd_sched s;
    struct probe a = {0};

    (void)state;
    fake_now = 0;
    a.more_left = 2;
    kd_sched_init(&s, 5);
    assert_int_equal(kd_sched_add(&s, &task_100, &a, 0), KD_OK);
    fake_now = 100;
    assert_int_equal(kd_sched_run_due(&s, 100, fake_clock, NULL), 100); /* more: due now */
    assert_int_equal(kd_sched_run_due(&s, 100, fake_clock, NULL), 100);
    assert_int_equal(kd_sched_run_due(&s, 100, fake_clock, NULL), 200); /* done: interval again */
    assert_int_equal(a.runs, 3);
}

static void test_sched_slow_task_counts_from_end(void **state)
{
    struct kd_sched s;
    struct probe a = {0};

    (void)state;
    fake_now = 0;
    a.cost_ms = 30;
    kd_sched_init(&s, 5);
    assert_int_equal(kd_sched_add(&s, &task_100, &a, 0), KD_OK);
    fake_now = 100;
    /* the run ends at 130: next due 230, never back to back */
    assert_int_equal(kd_sched_run_due(&s, 100, fake_clock, NULL), 230);
    assert_int_equal(s.entries[0].busy_us, 30000);
}

static void test_sched_rejects(void **state)
{
    static const struct kd_sweep_task zero = {"zero", 0, probe_run};
    static const struct kd_sweep_task norun = {"norun", 10, NULL};
    struct kd_sched s;
    struct probe a = {0};

    (void)state;
    kd_sched_init(&s, 0);
    assert_int_equal(s.budget_ms, 10);
    assert_int_equal(kd_sched_add(&s, &zero, &a, 0), KD_EINVAL);
    assert_int_equal(kd_sched_add(&s, &norun, &a, 0), KD_EINVAL);
    assert_int_equal(kd_sched_add(&s, NULL, &a, 0), KD_EINVAL);
    for (unsigned i = 0; i < KD_SCHED_MAX_TASKS; i++)
        assert_int_equal(kd_sched_add(&s, &task_100, &a, 0), KD_OK);
    assert_int_equal(kd_sched_add(&s, &task_100, &a, 0), KD_ETOOLARGE);
    assert_int_equal(kd_sched_next_due(&s), 100);
    kd_sched_init(&s, 1);
    assert_int_equal(kd_sched_next_due(&s), UINT64_MAX);
}

/* --- the libuv binding --- */

struct uv_probe {
    struct kd_sweeper *sw;
    unsigned runs;
    unsigned stop_after;
    uint64_t first_ms, last_ms;
};

static enum kd_sweep_result uv_probe_run(void *ctx, uint64_t now_ms, uint64_t budget_ms)
{
    struct uv_probe *p = ctx;

    (void)budget_ms;
    if (p->runs == 0)
        p->first_ms = now_ms;
    p->last_ms = now_ms;
    if (++p->runs == p->stop_after)
        kd_sweeper_stop(p->sw);
    return KD_SWEEP_DONE;
}

static void test_sweeper_on_loop(void **state)
{
    static const struct kd_sweep_task tasks[] = {
        {"fast", 5, uv_probe_run},
        {NULL, 0, NULL},
    };
    struct kd_sweeper sw;
    struct uv_probe p = {0};
    uv_loop_t loop;
    uint64_t start;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(kd_sweeper_init(&sw, &loop, 5), KD_OK);
    p.sw = &sw;
    p.stop_after = 4;
    start = uv_now(&loop);
    assert_int_equal(kd_sweeper_add_tasks(&sw, tasks, &p), KD_OK);
    kd_sweeper_start(&sw);
    /* the loop ends by itself: the task stops the sweeper after 4 runs */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(p.runs, 4);
    /* 4 runs spaced by at least the interval (lower bounds only: no flaky upper bound) */
    assert_true(p.first_ms >= start + 5);
    assert_true(p.last_ms >= p.first_ms + 15);
    kd_sweeper_close(&sw);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sweeper_metrics(void **state)
{
    struct kd_sweeper sw;
    struct uv_probe p = {0};
    struct kd_buf out;
    uv_loop_t loop;
    static const struct kd_sweep_task tasks[] = {{"escrow", 1000, uv_probe_run}, {NULL, 0, NULL}};

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(kd_sweeper_init(&sw, &loop, 5), KD_OK);
    assert_int_equal(kd_sweeper_add_tasks(&sw, tasks, &p), KD_OK);
    kd_buf_init(&out, 4096);
    assert_int_equal(kd_sweeper_render_metrics(&sw, &out), KD_OK);
    assert_int_equal(kd_buf_append(&out, "", 1), KD_OK);
    assert_non_null(strstr((char *)out.data, "kerid_sweep_runs_total{task=\"escrow\"} 0\n"));
    assert_non_null(strstr((char *)out.data, "# TYPE kerid_sweep_busy_seconds_total counter\n"));
    kd_buf_free(&out);
    kd_sweeper_close(&sw);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched_intervals),
        cmocka_unit_test(test_sched_more_reruns_immediately),
        cmocka_unit_test(test_sched_slow_task_counts_from_end),
        cmocka_unit_test(test_sched_rejects),
        cmocka_unit_test(test_sweeper_on_loop),
        cmocka_unit_test(test_sweeper_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
