/*
 * HTTP metrics in Prometheus text exposition format 0.0.4.
 *
 * One registry per process, shared by every HTTP server of the node and
 * rendered by its GET /metrics route. The registry is not thread-safe: it is
 * updated and rendered on the loop thread only. Its memory is fixed at
 * creation: label sets are bounded by KD_METRICS_MAX_* and never grow.
 *
 * Families (labels):
 *   kerid_http_requests_total{server,route,code}          counter
 *   kerid_http_request_duration_seconds{server,le}        histogram (first byte
 *                                                          of a request → answer queued)
 *   kerid_http_connections_open{server}                   gauge
 *   kerid_http_connections_accepted_total{server}         counter
 *   kerid_http_connections_rejected_total{server}         counter (over max_connections)
 */
#ifndef KERID_METRICS_H
#define KERID_METRICS_H

#include <stdint.h>

#include "kerid/buf.h"
#include "kerid/err.h"

#define KD_METRICS_MAX_SERVERS 8   /* distinct server labels */
#define KD_METRICS_MAX_ROUTES  256 /* distinct (server, route name) pairs */
#define KD_METRICS_MAX_CODES   24  /* distinct status codes per route; more: code="other" */
#define KD_METRICS_MAX_LABEL   31  /* bytes in a server label */
#define KD_METRICS_MAX_NAME    63  /* bytes in a route name */
#define KD_METRICS_BUCKETS     15  /* latency buckets, the last one +Inf */

/* The route name of requests that matched no route (404s, and requests
 * rejected before routing: malformed, too large, too slow). */
#define KD_METRICS_UNMATCHED "unmatched"

struct kd_metrics;

/* A new, empty registry; NULL when memory runs out. */
struct kd_metrics *kd_metrics_new(void);

/* Frees the registry; NULL is ignored. Servers using it must be freed first. */
void kd_metrics_free(struct kd_metrics *m);

/*
 * Registers the server label (1..KD_METRICS_MAX_LABEL bytes) and stores its
 * index in *out; registering a label again gives the same index. KD_EINVAL for
 * a bad label, KD_ETOOLARGE when KD_METRICS_MAX_SERVERS labels exist.
 */
enum kd_err kd_metrics_server_add(struct kd_metrics *m, const char *label, unsigned *out);

/*
 * Registers the route name (1..KD_METRICS_MAX_NAME bytes) under server and
 * stores its index in *out; the same (server, name) gives the same index.
 * KD_EINVAL for a bad name or server, KD_ETOOLARGE when the table is full.
 */
enum kd_err kd_metrics_route_add(struct kd_metrics *m, unsigned server, const char *name,
                                 unsigned *out);

/*
 * Counts one answered request of route (an index from kd_metrics_route_add)
 * with status code and its latency in seconds into the route's server
 * histogram. Out-of-range indexes are ignored.
 */
void kd_metrics_request(struct kd_metrics *m, unsigned route, int code, double seconds);

/* Connection events of a server (an index from kd_metrics_server_add):
 * accepted (open + 1), closed (open - 1), rejected over the limit. */
void kd_metrics_conn_accepted(struct kd_metrics *m, unsigned server);
void kd_metrics_conn_closed(struct kd_metrics *m, unsigned server);
void kd_metrics_conn_rejected(struct kd_metrics *m, unsigned server);

/*
 * Appends every family to out in the Prometheus text format 0.0.4: "# HELP" and
 * "# TYPE" once per family, then its samples (servers in registration order;
 * per server, routes in registration order and codes ascending, only series
 * that counted something; cumulative histogram buckets, _sum and _count).
 * Label values are escaped (\\, \", \n). Returns KD_OK or the error of out
 * (KD_ETOOLARGE, KD_ENOMEM); out may then hold a partial text.
 */
enum kd_err kd_metrics_render(const struct kd_metrics *m, struct kd_buf *out);

#endif
