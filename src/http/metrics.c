/*
 * The HTTP metrics registry: fixed tables of plain integers, updated on the
 * loop thread, rendered in the Prometheus text format 0.0.4.
 */
#include "kerid/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency buckets in seconds, and as printed in "le". */
static const double kd_metrics_bounds[KD_METRICS_BUCKETS - 1] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
static const char *const kd_metrics_le[KD_METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "+Inf",
};

struct kd_metrics_server {
    char label[KD_METRICS_MAX_LABEL + 1];
    uint64_t buckets[KD_METRICS_BUCKETS]; /* not cumulative */
    uint64_t count;
    double sum;
    uint64_t open, accepted, rejected;
};

struct kd_metrics_code {
    uint16_t code; /* 0 = "other" */
    uint64_t count;
};

struct kd_metrics_route {
    unsigned server;
    char name[KD_METRICS_MAX_NAME + 1];
    unsigned ncodes;
    struct kd_metrics_code codes[KD_METRICS_MAX_CODES]; /* ascending code */
    uint64_t other;                                     /* codes past the table */
};

struct kd_metrics {
    unsigned nservers;
    struct kd_metrics_server servers[KD_METRICS_MAX_SERVERS];
    unsigned nroutes;
    struct kd_metrics_route routes[KD_METRICS_MAX_ROUTES];
};

/*
 * Allocates a zeroed registry.
 */
struct kd_metrics *kd_metrics_new(void)
{
    return calloc(1, sizeof(struct kd_metrics));
}

/*
 * Releases the registry.
 */
void kd_metrics_free(struct kd_metrics *m)
{
    free(m);
}

/* True if s is 1..max bytes of printable ASCII. */
static int kd_metrics_label_ok(const char *s, size_t max)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    }
    return 1;
}

/*
 * Finds or adds the server label.
 */
enum kd_err kd_metrics_server_add(struct kd_metrics *m, const char *label, unsigned *out)
{
    if (m == NULL || out == NULL || !kd_metrics_label_ok(label, KD_METRICS_MAX_LABEL))
        return KD_EINVAL;
    for (unsigned i = 0; i < m->nservers; i++) {
        if (strcmp(m->servers[i].label, label) == 0) {
            *out = i;
            return KD_OK;
        }
    }
    if (m->nservers == KD_METRICS_MAX_SERVERS)
        return KD_ETOOLARGE;
    strcpy(m->servers[m->nservers].label, label);
    *out = m->nservers++;
    return KD_OK;
}

/*
 * Finds or adds the (server, route name) pair.
 */
enum kd_err kd_metrics_route_add(struct kd_metrics *m, unsigned server, const char *name,
                                 unsigned *out)
{
    if (m == NULL || out == NULL || server >= m->nservers ||
        !kd_metrics_label_ok(name, KD_METRICS_MAX_NAME))
        return KD_EINVAL;
    for (unsigned i = 0; i < m->nroutes; i++) {
        if (m->routes[i].server == server && strcmp(m->routes[i].name, name) == 0) {
            *out = i;
            return KD_OK;
        }
    }
    if (m->nroutes == KD_METRICS_MAX_ROUTES)
        return KD_ETOOLARGE;
    m->routes[m->nroutes].server = server;
    strcpy(m->routes[m->nroutes].name, name);
    *out = m->nroutes++;
    return KD_OK;
}

/*
 * Counts the request under its code (kept sorted; a full table counts it as
 * "other") and puts its latency in the first bucket whose bound holds it.
 */
void kd_metrics_request(struct kd_metrics *m, unsigned route, int code, double seconds)
{
    struct kd_metrics_route *rt;
    struct kd_metrics_server *sv;
    unsigned i, b;

    if (m == NULL || route >= m->nroutes)
        return;
    rt = &m->routes[route];
    if (code < 100 || code > 999) {
        rt->other++;
    } else {
        for (i = 0; i < rt->ncodes && rt->codes[i].code < code; i++)
            ;
        if (i < rt->ncodes && rt->codes[i].code == code) {
            rt->codes[i].count++;
        } else if (rt->ncodes == KD_METRICS_MAX_CODES) {
            rt->other++;
        } else {
            memmove(&rt->codes[i + 1], &rt->codes[i], (rt->ncodes - i) * sizeof(rt->codes[0]));
            rt->codes[i].code = (uint16_t)code;
            rt->codes[i].count = 1;
            rt->ncodes++;
        }
    }
    sv = &m->servers[rt->server];
    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    for (b = 0; b < KD_METRICS_BUCKETS - 1 && seconds > kd_metrics_bounds[b]; b++)
        ;
    sv->buckets[b]++;
    sv->count++;
    sv->sum += seconds;
}

/*
 * Connection gauge and counters.
 */
void kd_metrics_conn_accepted(struct kd_metrics *m, unsigned server)
{
    if (m == NULL || server >= m->nservers)
        return;
    m->servers[server].accepted++;
    m->servers[server].open++;
}

void kd_metrics_conn_closed(struct kd_metrics *m, unsigned server)
{
    if (m == NULL || server >= m->nservers || m->servers[server].open == 0)
        return;
    m->servers[server].open--;
}

void kd_metrics_conn_rejected(struct kd_metrics *m, unsigned server)
{
    if (m == NULL || server >= m->nservers)
        return;
    m->servers[server].rejected++;
}

/* Appends s as a label value: backslash, double quote and newline escaped. */
static enum kd_err kd_metrics_label(struct kd_buf *out, const char *s)
{
    enum kd_err err = KD_OK;
    size_t start = 0, i;

    for (i = 0; s[i] != '\0'; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '"'  ? "\\\""
                          : s[i] == '\n' ? "\\n"
                                         : NULL;

        if (esc == NULL)
            continue;
        if ((err = kd_buf_append(out, s + start, i - start)) != KD_OK ||
            (err = kd_buf_append(out, esc, 2)) != KD_OK)
            return err;
        start = i + 1;
    }
    return kd_buf_append(out, s + start, i - start);
}

/* Appends `<family>{server="<label>"` (the caller closes the brace). */
static enum kd_err kd_metrics_series(struct kd_buf *out, const char *family, const char *label)
{
    enum kd_err err;

    if ((err = kd_buf_append_str(out, family)) != KD_OK ||
        (err = kd_buf_append_str(out, "{server=\"")) != KD_OK ||
        (err = kd_metrics_label(out, label)) != KD_OK)
        return err;
    return kd_buf_append(out, "\"", 1);
}

static enum kd_err kd_metrics_render_requests(const struct kd_metrics *m, struct kd_buf *out)
{
    enum kd_err err;

    err = kd_buf_append_str(out, "# HELP kerid_http_requests_total HTTP requests answered, by "
                                 "server, route and status code.\n"
                                 "# TYPE kerid_http_requests_total counter\n");
    for (unsigned s = 0; err == KD_OK && s < m->nservers; s++) {
        for (unsigned r = 0; err == KD_OK && r < m->nroutes; r++) {
            const struct kd_metrics_route *rt = &m->routes[r];

            if (rt->server != s)
                continue;
            for (unsigned c = 0; err == KD_OK && c <= rt->ncodes; c++) {
                uint64_t n = c < rt->ncodes ? rt->codes[c].count : rt->other;

                if (n == 0)
                    continue;
                if ((err = kd_metrics_series(out, "kerid_http_requests_total",
                                             m->servers[s].label)) != KD_OK ||
                    (err = kd_buf_append_str(out, ",route=\"")) != KD_OK ||
                    (err = kd_metrics_label(out, rt->name)) != KD_OK)
                    break;
                if (c < rt->ncodes)
                    err = kd_buf_printf(out, "\",code=\"%u\"} %llu\n", (unsigned)rt->codes[c].code,
                                        (unsigned long long)n);
                else
                    err = kd_buf_printf(out, "\",code=\"other\"} %llu\n", (unsigned long long)n);
            }
        }
    }
    return err;
}

static enum kd_err kd_metrics_render_latency(const struct kd_metrics *m, struct kd_buf *out)
{
    enum kd_err err;

    err = kd_buf_append_str(out,
                            "# HELP kerid_http_request_duration_seconds Time from the first byte "
                            "of a request to its answer being queued.\n"
                            "# TYPE kerid_http_request_duration_seconds histogram\n");
    for (unsigned s = 0; err == KD_OK && s < m->nservers; s++) {
        const struct kd_metrics_server *sv = &m->servers[s];
        uint64_t cum = 0;

        for (unsigned b = 0; err == KD_OK && b < KD_METRICS_BUCKETS; b++) {
            cum += sv->buckets[b];
            if ((err = kd_metrics_series(out, "kerid_http_request_duration_seconds_bucket",
                                         sv->label)) == KD_OK)
                err = kd_buf_printf(out, ",le=\"%s\"} %llu\n", kd_metrics_le[b],
                                    (unsigned long long)cum);
        }
        if (err == KD_OK && (err = kd_metrics_series(out, "kerid_http_request_duration_seconds_sum",
                                                     sv->label)) == KD_OK)
            err = kd_buf_printf(out, "} %.9g\n", sv->sum);
        if (err == KD_OK &&
            (err = kd_metrics_series(out, "kerid_http_request_duration_seconds_count",
                                     sv->label)) == KD_OK)
            err = kd_buf_printf(out, "} %llu\n", (unsigned long long)sv->count);
    }
    return err;
}

enum kd_metrics_conn_field { KD_METRICS_OPEN, KD_METRICS_ACCEPTED, KD_METRICS_REJECTED };

/* One gauge or counter family with one sample per server; field picks it. */
static enum kd_err kd_metrics_render_simple(const struct kd_metrics *m, struct kd_buf *out,
                                            const char *family, const char *type, const char *help,
                                            enum kd_metrics_conn_field field)
{
    enum kd_err err;

    err = kd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
    for (unsigned s = 0; err == KD_OK && s < m->nservers; s++) {
        const struct kd_metrics_server *sv = &m->servers[s];
        const uint64_t v = field == KD_METRICS_OPEN       ? sv->open
                           : field == KD_METRICS_ACCEPTED ? sv->accepted
                                                          : sv->rejected;

        if ((err = kd_metrics_series(out, family, sv->label)) == KD_OK)
            err = kd_buf_printf(out, "} %llu\n", (unsigned long long)v);
    }
    return err;
}

/*
 * Renders every family, in a fixed order.
 */
enum kd_err kd_metrics_render(const struct kd_metrics *m, struct kd_buf *out)
{
    enum kd_err err;

    if (m == NULL || out == NULL)
        return KD_EINVAL;
    if ((err = kd_metrics_render_requests(m, out)) != KD_OK)
        goto out;
    if ((err = kd_metrics_render_latency(m, out)) != KD_OK)
        goto out;
    if ((err = kd_metrics_render_simple(m, out, "kerid_http_connections_open", "gauge",
                                        "Open HTTP connections.", KD_METRICS_OPEN)) != KD_OK)
        goto out;
    if ((err = kd_metrics_render_simple(m, out, "kerid_http_connections_accepted_total", "counter",
                                        "HTTP connections accepted.", KD_METRICS_ACCEPTED)) !=
        KD_OK)
        goto out;
    err = kd_metrics_render_simple(m, out, "kerid_http_connections_rejected_total", "counter",
                                   "HTTP connections refused over max_connections.",
                                   KD_METRICS_REJECTED);
out:
    return err;
}
