/* Routes every role serves: GET /metrics, GET /info, GET /introduce. */
#include "kerid/node.h"
#include "kerid_build.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KD_METRICS_MAX (1024 * 1024)

static void kd_node_process_metrics(const struct kd_node *node, struct kd_buf *out)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    kd_buf_printf(out,
                  "# HELP kerid_process_resident_memory_bytes Resident set size.\n"
                  "# TYPE kerid_process_resident_memory_bytes gauge\n"
                  "kerid_process_resident_memory_bytes %ld\n"
                  "# HELP kerid_process_start_time_seconds Start time since the Unix epoch.\n"
                  "# TYPE kerid_process_start_time_seconds gauge\n"
                  "kerid_process_start_time_seconds %.6f\n"
                  "# HELP kerid_build_info Build information.\n"
                  "# TYPE kerid_build_info gauge\n"
                  "kerid_build_info{version=\"%s\",keriox=\"%s\"} 1\n",
                  rss * sysconf(_SC_PAGESIZE), (double)node->started_us / 1e6, KERID_VERSION,
                  KERID_KERIOX_VERSION);
}

static enum kd_err kd_node_escrow_metrics(const struct kd_node *node, struct kd_buf *out)
{
    static const char *const kinds[] = {
#define KD_NODE_ESCROW_NAME_(e, name) name,
        KD_STORE_ESCROW_KINDS(KD_NODE_ESCROW_NAME_)
#undef KD_NODE_ESCROW_NAME_
    };
    const struct kd_kel_sweep_result *t = &node->escrow_total;
    enum kd_err e;

    e = kd_buf_printf(out,
                      "# HELP kerid_escrow_sweeps_total Escrow sweep slices committed.\n"
                      "# TYPE kerid_escrow_sweeps_total counter\n"
                      "kerid_escrow_sweeps_total %llu\n"
                      "# HELP kerid_escrow_sweep_failures_total Escrow sweep slices that failed.\n"
                      "# TYPE kerid_escrow_sweep_failures_total counter\n"
                      "kerid_escrow_sweep_failures_total %llu\n"
                      "# HELP kerid_escrow_retried_total Escrow rows retried by the sweeper.\n"
                      "# TYPE kerid_escrow_retried_total counter\n"
                      "kerid_escrow_retried_total %llu\n"
                      "# HELP kerid_escrow_released_total Escrowed items accepted by the sweeper.\n"
                      "# TYPE kerid_escrow_released_total counter\n"
                      "kerid_escrow_released_total %llu\n"
                      "# HELP kerid_escrow_expired_total Escrow rows dropped after their timeout.\n"
                      "# TYPE kerid_escrow_expired_total counter\n",
                      (unsigned long long)node->escrow_runs,
                      (unsigned long long)node->escrow_failures, (unsigned long long)t->tried,
                      (unsigned long long)t->released);
    for (unsigned k = 0; e == KD_OK && k < KD_STORE_ESCROW_KIND_COUNT_; k++)
        e = kd_buf_printf(out, "kerid_escrow_expired_total{kind=\"%s\"} %llu\n", kinds[k],
                          (unsigned long long)t->expired[k]);
    return e;
}

/* The KEL engine's verdict counters as of the last escrow sweep tick
 * (sweep_interval_ms): the engine runs on the writer thread, the sweep
 * write takes the snapshot and its done callback publishes it here. */
static enum kd_err kd_node_kel_metrics(const struct kd_node *node, struct kd_buf *out)
{
    const struct kd_kel_stats *s = &node->kel_stats;

    return kd_buf_printf(
        out,
        "# HELP kerid_kel_messages_total Messages the KEL engine judged, by verdict "
        "(as of the last sweep tick).\n"
        "# TYPE kerid_kel_messages_total counter\n"
        "kerid_kel_messages_total{verdict=\"accepted\"} %llu\n"
        "kerid_kel_messages_total{verdict=\"duplicate\"} %llu\n"
        "kerid_kel_messages_total{verdict=\"escrowed\"} %llu\n"
        "kerid_kel_messages_total{verdict=\"rejected\"} %llu\n"
        "kerid_kel_messages_total{verdict=\"duplicitous\"} %llu\n"
        "kerid_kel_messages_total{verdict=\"skipped\"} %llu\n",
        (unsigned long long)s->accepted, (unsigned long long)s->duplicates,
        (unsigned long long)s->escrowed, (unsigned long long)s->rejected,
        (unsigned long long)s->duplicitous, (unsigned long long)s->skipped);
}

static void kd_route_metrics(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    const struct kd_node *node = ri->node;
    struct kd_store_stats st;
    struct kd_buf out;
    enum kd_err e;

    if (!node->cfg->metrics) {
        kd_http_respond_error(req, KD_ENOTFOUND, "metrics are disabled (metrics: false)");
        return;
    }
    kd_buf_init(&out, KD_METRICS_MAX);
    e = kd_metrics_render(node->metrics, &out);
    if (e == KD_OK && node->store != NULL) {
        kd_store_stats_get(node->store, &st);
        e = kd_store_stats_render(&st, &out);
    }
    if (e == KD_OK)
        e = kd_sweeper_render_metrics(&node->sweeper, &out);
    if (e == KD_OK)
        e = kd_node_escrow_metrics(node, &out);
    if (e == KD_OK)
        e = kd_node_kel_metrics(node, &out);
    if (e == KD_OK)
        kd_node_process_metrics(node, &out);
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    kd_buf_free(&out);
}

static void kd_route_info(struct kd_http_req *req, void *ctx)
{
    static const char body[] = "{\"version\":\"" KERID_KERIOX_VERSION "\"}";

    (void)ctx;
    kd_http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

static void kd_route_introduce(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;

    kd_http_respond(req, 200, "application/json", ri->oobi_json, ri->oobi_json_len);
}

const struct kd_route kd_node_common_routes[] = {
    {KD_HTTP_GET, "/metrics", kd_route_metrics, "metrics"},
    {KD_HTTP_GET, "/info", kd_route_info, "info"},
    {KD_HTTP_GET, "/introduce", kd_route_introduce, "introduce"},
    {0, NULL, NULL, NULL},
};
