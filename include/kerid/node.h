/*
 * The node: one process, one libuv loop, one store, one sweeper, one metrics
 * registry, and the roles chosen at start-up.
 */
#ifndef KERID_NODE_H
#define KERID_NODE_H

#include <stdbool.h>
#include <stdio.h>

#include <uv.h>

#include "kerid/config.h"
#include "kerid/kel.h"
#include "kerid/metrics.h"
#include "kerid/role.h"
#include "kerid/store.h"
#include "kerid/sweep.h"

#define KD_NODE_MAX_ROLES 2

struct kd_node {
    uv_loop_t *loop;
    const struct kd_config *cfg;
    struct kd_store *store;
    uv_async_t store_wake;
    struct kd_sweeper sweeper;
    struct kd_kel *kel; /* the KEL engine; used only inside store writes (writer thread) */
    struct kd_sweep_task escrow_task;
    bool escrow_in_flight;                   /* a sweep write is queued or running */
    bool escrow_more;                        /* set by the sweep write, read after its commit */
    struct kd_kel_sweep_result escrow_last;  /* likewise */
    struct kd_kel_sweep_result escrow_total; /* loop thread: sums for /metrics */
    uint64_t escrow_runs, escrow_failures;
    struct kd_kel_stats kel_stats_w; /* writer thread: engine counters after each sweep write */
    struct kd_kel_stats kel_stats;   /* loop thread: that snapshot once committed, for /metrics */
    struct kd_metrics *metrics;
    struct kd_role_instance roles[KD_NODE_MAX_ROLES];
    unsigned n_roles;
    uv_signal_t sig_int, sig_term;
    bool shutting_down;
    unsigned servers_open;
    int64_t started_us;
};

/* One role to run and the configuration section it reads. */
struct kd_node_role {
    const struct kd_role *role;
    const struct kd_role_config *cfg;
};

/* Builds the node for cfg (which must outlive it): creates db_path, opens the
 * store (in the first role's db_path), loads or creates each role's identity, binds each role's
 * listener and prints the keriox start-up lines on out. On failure writes one line to err and
 * returns an error; the node is then already torn down. */
enum kd_err kd_node_start(struct kd_node *node, uv_loop_t *loop, const struct kd_config *cfg,
                          const struct kd_node_role *roles, unsigned n_roles, FILE *out, char *err,
                          size_t errlen);
/* Begins a graceful shutdown (what SIGINT/SIGTERM do): stop accepting, finish
 * requests in flight, flush the store, close every handle. uv_run returns when done. */
void kd_node_shutdown(struct kd_node *node);
/* Frees what remains after uv_run returned. */
void kd_node_free(struct kd_node *node);

/* Common routes every role serves (GET /metrics, /info, /introduce). */
extern const struct kd_route kd_node_common_routes[];

#endif
