/* The store's counters and their Prometheus text exposition. */
#include "store_int.h"

#include <inttypes.h>
#include <string.h>

void kd_store_stats_get(const struct kd_store *s, struct kd_store_stats *out)
{
    const struct kd_store_counters *c;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return;
    c = &s->ctr;
    out->commits = atomic_load_explicit(&c->commits, memory_order_relaxed);
    out->commit_failures = atomic_load_explicit(&c->commit_failures, memory_order_relaxed);
    out->writes_committed = atomic_load_explicit(&c->writes_committed, memory_order_relaxed);
    out->writes_failed = atomic_load_explicit(&c->writes_failed, memory_order_relaxed);
    out->queue_depth = atomic_load_explicit(&c->queue_depth, memory_order_relaxed);
    for (unsigned i = 0; i < KD_STORE_BATCH_BUCKETS; i++)
        out->batch_bucket[i] = atomic_load_explicit(&c->batch_bucket[i], memory_order_relaxed);
    out->batch_size_sum = atomic_load_explicit(&c->batch_size_sum, memory_order_relaxed);
    out->commit_us_sum = atomic_load_explicit(&c->commit_us_sum, memory_order_relaxed);
}

static enum kd_err kd_store_render_one(struct kd_buf *out, const char *name, const char *type,
                                       const char *help, uint64_t v)
{
    return kd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name,
                         type, name, v);
}

enum kd_err kd_store_stats_render(const struct kd_store_stats *st, struct kd_buf *out)
{
    uint64_t cum = 0, batches = 0;
    enum kd_err err;

    if (st == NULL || out == NULL)
        return KD_EINVAL;
    if ((err = kd_store_render_one(out, "kerid_store_commits_total", "counter",
                                   "Transactions committed by the store writer.", st->commits)) !=
            KD_OK ||
        (err = kd_store_render_one(out, "kerid_store_commit_failures_total", "counter",
                                   "Transactions the store writer could not commit.",
                                   st->commit_failures)) != KD_OK ||
        (err = kd_store_render_one(out, "kerid_store_writes_committed_total", "counter",
                                   "Writes committed.", st->writes_committed)) != KD_OK ||
        (err = kd_store_render_one(out, "kerid_store_writes_failed_total", "counter",
                                   "Writes completed with an error.", st->writes_failed)) !=
            KD_OK ||
        (err = kd_store_render_one(out, "kerid_store_queue_depth", "gauge",
                                   "Writes submitted and not yet completed.", st->queue_depth)) !=
            KD_OK)
        return err;

    err = kd_buf_append_str(out, "# HELP kerid_store_batch_size Writes per committed transaction.\n"
                                 "# TYPE kerid_store_batch_size histogram\n");
    for (unsigned i = 0; err == KD_OK && i < KD_STORE_BATCH_BUCKETS; i++) {
        cum += st->batch_bucket[i];
        if (i + 1 < KD_STORE_BATCH_BUCKETS)
            err = kd_buf_printf(out, "kerid_store_batch_size_bucket{le=\"%u\"} %" PRIu64 "\n",
                                1u << i, cum);
        else
            err =
                kd_buf_printf(out, "kerid_store_batch_size_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    batches = cum;
    if (err == KD_OK)
        err = kd_buf_printf(out,
                            "kerid_store_batch_size_sum %" PRIu64 "\n"
                            "kerid_store_batch_size_count %" PRIu64 "\n",
                            st->batch_size_sum, batches);
    if (err == KD_OK)
        err =
            kd_buf_printf(out,
                          "# HELP kerid_store_commit_seconds Time spent in COMMIT, fsync "
                          "included.\n"
                          "# TYPE kerid_store_commit_seconds summary\n"
                          "kerid_store_commit_seconds_sum %" PRIu64 ".%06" PRIu64 "\n"
                          "kerid_store_commit_seconds_count %" PRIu64 "\n",
                          st->commit_us_sum / 1000000u, st->commit_us_sum % 1000000u, st->commits);
    return err;
}
