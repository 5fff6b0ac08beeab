/* The node: start-up, the shared loop resources, graceful shutdown. */
#include "kerid/node.h"
#include "kerid/clock.h"
#include "kerid/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KD_STORE_FILE "kerid.sqlite3"

static void kd_node_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kd_node_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* mkdir -p: creates path and its missing parents (keriox needs db_path to exist; kerid makes it).
 */
static int kd_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(tmp))
        return ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return errno;
        tmp[i] = i == n ? '\0' : '/';
    }
    return 0;
}

static void kd_node_store_wake(void *arg)
{
    struct kd_node *node = arg;

    uv_async_send(&node->store_wake);
}

static void kd_node_on_store_wake(uv_async_t *h)
{
    struct kd_node *node = h->data;

    if (node->store != NULL)
        kd_store_drain(node->store);
}

struct kd_seed_put {
    const char *key;
    const char *seed;
};

static enum kd_err kd_node_put_seed(struct kd_store_txn *txn, void *arg)
{
    const struct kd_seed_put *p = arg;

    return kd_store_meta_put(txn, p->key, p->seed, strlen(p->seed));
}

/* The role's identity: the configured seed, else the one this database keeps,
 * else a fresh one that is stored so the prefix stays the same across restarts. */
static enum kd_err kd_node_identity(struct kd_node *node, struct kd_role_instance *ri, char *err,
                                    size_t errlen)
{
    const char *why = NULL;
    char key[64];
    struct kd_buf stored;
    struct kd_seed_put put;
    enum kd_err rc;

    if (ri->cfg->seed != NULL) {
        rc = kd_signer_from_seed(&ri->signer, ri->cfg->seed, strlen(ri->cfg->seed), &why);
        if (rc != KD_OK)
            kd_node_errf(err, errlen, "Failed to load config: %s%sseed: %s",
                         node->n_roles > 1 ? ri->role->name : "", node->n_roles > 1 ? "." : "",
                         why ? why : kd_err_message(rc));
        return rc;
    }
    snprintf(key, sizeof(key), "identity/%s/seed", ri->role->name);
    kd_buf_init(&stored, 256);
    rc = kd_store_meta_get(node->store, key, &stored);
    if (rc == KD_OK) {
        rc = kd_signer_from_seed(&ri->signer, (const char *)stored.data, stored.len, &why);
        if (rc != KD_OK)
            kd_node_errf(err, errlen, "stored %s seed is unreadable: %s", ri->role->name,
                         why ? why : kd_err_message(rc));
        explicit_bzero(stored.data, stored.len);
        kd_buf_free(&stored);
        return rc;
    }
    kd_buf_free(&stored);
    if (rc != KD_ENOTFOUND) {
        kd_node_errf(err, errlen, "cannot read the %s identity: %s", ri->role->name,
                     kd_err_message(rc));
        return rc;
    }
    rc = kd_signer_generate(&ri->signer);
    if (rc != KD_OK) {
        kd_node_errf(err, errlen, "cannot generate a seed: %s", kd_err_message(rc));
        return rc;
    }
    put.key = key;
    put.seed = ri->signer.seed_qb64;
    rc = kd_store_write_sync(node->store, kd_node_put_seed, &put);
    if (rc != KD_OK) {
        kd_node_errf(err, errlen, "cannot store the %s identity: %s", ri->role->name,
                     kd_err_message(rc));
        return rc;
    }
    kd_log_info(ri->role->name, "no seed configured: generated identity %s and kept it in %s/%s",
                ri->signer.prefix, ri->cfg->db_path, KD_STORE_FILE);
    return KD_OK;
}

static enum kd_err kd_node_oobi_json(struct kd_role_instance *ri)
{
    /* keriox's LocationScheme, serde order eid, scheme, url; scheme is always "http" */
    struct kd_buf b;
    enum kd_err rc;

    b.data = (uint8_t *)ri->oobi_json;
    b.len = 0;
    b.cap = sizeof(ri->oobi_json) - 1;
    b.max = sizeof(ri->oobi_json) - 1;
    rc = kd_buf_printf(&b, "{\"eid\":\"%s\",\"scheme\":\"http\",\"url\":\"", ri->signer.prefix);
    if (rc == KD_OK)
        rc = kd_buf_append_json_escaped(&b, ri->cfg->public_url, strlen(ri->cfg->public_url));
    if (rc == KD_OK)
        rc = kd_buf_append_str(&b, "\"}");
    ri->oobi_json_len = b.len;
    ri->oobi_json[b.len] = '\0';
    return rc;
}

/* Role routes first (they win), then the node's common routes. */
static enum kd_err kd_node_routes(struct kd_role_instance *ri)
{
    size_t nr = 0, nc = 0;

    while (ri->role->routes != NULL && ri->role->routes[nr].pattern != NULL)
        nr++;
    while (kd_node_common_routes[nc].pattern != NULL)
        nc++;
    ri->routes = calloc(nr + nc + 1, sizeof(*ri->routes));
    if (ri->routes == NULL)
        return KD_ENOMEM;
    if (nr > 0)
        memcpy(ri->routes, ri->role->routes, nr * sizeof(*ri->routes));
    memcpy(ri->routes + nr, kd_node_common_routes, nc * sizeof(*ri->routes));
    return KD_OK;
}

static void kd_node_on_signal(uv_signal_t *h, int signum)
{
    struct kd_node *node = h->data;

    if (node->shutting_down) {
        kd_log_warn("node", "signal %d again during shutdown: still finishing requests in flight",
                    signum);
        return;
    }
    kd_log_info("node", "signal %d: shutting down", signum);
    kd_node_shutdown(node);
}

static void kd_node_finish(struct kd_node *node)
{
    if (node->store != NULL) {
        kd_store_close(node->store);
        node->store = NULL;
    }
    kd_sweeper_close(&node->sweeper);
    uv_close((uv_handle_t *)&node->store_wake, NULL);
    uv_close((uv_handle_t *)&node->sig_int, NULL);
    uv_close((uv_handle_t *)&node->sig_term, NULL);
    kd_log_info("node", "stopped");
}

static void kd_node_on_server_closed(void *arg)
{
    struct kd_node *node = arg;

    if (--node->servers_open == 0)
        kd_node_finish(node);
}

void kd_node_shutdown(struct kd_node *node)
{
    if (node->shutting_down)
        return;
    node->shutting_down = true;
    kd_sweeper_stop(&node->sweeper);
    uv_signal_stop(&node->sig_int);
    uv_signal_stop(&node->sig_term);
    for (unsigned i = 0; i < node->n_roles; i++) {
        if (node->roles[i].role->stop != NULL)
            node->roles[i].role->stop(&node->roles[i]);
    }
    if (node->servers_open == 0) {
        kd_node_finish(node);
        return;
    }
    for (unsigned i = 0; i < node->n_roles; i++) {
        if (node->roles[i].http != NULL)
            kd_http_server_shutdown(node->roles[i].http, kd_node_on_server_closed, node);
    }
}

void kd_node_free(struct kd_node *node)
{
    for (unsigned i = 0; i < node->n_roles; i++) {
        struct kd_role_instance *ri = &node->roles[i];

        if (ri->http != NULL)
            kd_http_server_free(ri->http);
        if (ri->role->destroy != NULL)
            ri->role->destroy(ri);
        free(ri->routes);
        kd_signer_wipe(&ri->signer);
        memset(ri, 0, sizeof(*ri));
    }
    node->n_roles = 0;
    if (node->kel != NULL)
        kd_kel_free(node->kel);
    node->kel = NULL;
    if (node->metrics != NULL)
        kd_metrics_free(node->metrics);
    node->metrics = NULL;
}

static void kd_node_print_startup(const struct kd_node *node, FILE *out)
{
    char quoted[4200];

    kd_config_quote_path(node->cfg->config_path, quoted, sizeof(quoted));
    for (unsigned i = 0; i < node->n_roles; i++) {
        const struct kd_role_instance *ri = &node->roles[i];

        if (i == 0) {
            fprintf(out, "%s%s\n", ri->role->config_label, quoted);
            if (ri->role->blank_after_config)
                fputc('\n', out);
        }
        fprintf(out, "%s %s is listening on port %u\n", ri->role->title, ri->signer.prefix,
                (unsigned)ri->cfg->http_port);
        fprintf(out, "%s's oobi: %s\n", ri->role->title, ri->oobi_json);
    }
    fflush(out);
}

/* ---- the KEL engine and its escrow sweep ---- */

static enum kd_err kd_node_escrow_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_node *node = arg;
    enum kd_err e;

    memset(&node->escrow_last, 0, sizeof(node->escrow_last));
    node->escrow_more = false;
    e = kd_kel_sweep(node->kel, txn, kd_clock_now_us(), 256, &node->escrow_more,
                     &node->escrow_last);
    /* the engine's counters, read here because the engine lives on this thread */
    kd_kel_stats_get(node->kel, &node->kel_stats_w);
    return e;
}

static void kd_node_escrow_done(enum kd_err result, void *arg)
{
    struct kd_node *node = arg;
    const struct kd_kel_sweep_result *r = &node->escrow_last;

    node->escrow_in_flight = false;
    node->kel_stats = node->kel_stats_w;
    if (result != KD_OK) {
        node->escrow_failures++;
        kd_log_warn("escrow", "sweep failed: %s", kd_err_message(result));
        return;
    }
    node->escrow_runs++;
    for (unsigned k = 0; k < KD_STORE_ESCROW_KIND_COUNT_; k++)
        node->escrow_total.expired[k] += r->expired[k];
    node->escrow_total.tried += r->tried;
    node->escrow_total.released += r->released;
    node->escrow_total.dropped += r->dropped;
    /* Rows left over: go on in another slice right away, between requests. */
    if (node->escrow_more && !node->shutting_down &&
        kd_store_submit(node->store, kd_node_escrow_write, kd_node_escrow_done, node) == KD_OK)
        node->escrow_in_flight = true;
}

/* The sweeper's escrow task: one bounded sweep write at a time, never on the loop. */
static enum kd_sweep_result kd_node_escrow_tick(void *ctx, uint64_t now_ms, uint64_t budget_ms)
{
    struct kd_node *node = ctx;

    (void)now_ms;
    (void)budget_ms;
    if (node->escrow_in_flight || node->shutting_down)
        return KD_SWEEP_DONE;
    if (kd_store_submit(node->store, kd_node_escrow_write, kd_node_escrow_done, node) == KD_OK)
        node->escrow_in_flight = true;
    return KD_SWEEP_DONE;
}

/* Hands an accepted event to every role that wants it (writer thread). */
static enum kd_err kd_node_on_accept(void *arg, struct kd_store_txn *txn,
                                     const struct kd_kel_accepted *a)
{
    struct kd_node *node = arg;
    enum kd_err e;

    for (unsigned i = 0; i < node->n_roles; i++) {
        struct kd_role_instance *ri = &node->roles[i];

        if (ri->role->on_accept != NULL && (e = ri->role->on_accept(ri, txn, a)) != KD_OK)
            return e;
    }
    return KD_OK;
}

/* Hands a newly escrowed message to every role that wants it (writer thread). */
static enum kd_err kd_node_on_escrow(void *arg, struct kd_store_txn *txn,
                                     const struct kd_cesr_msg *msg, const struct kd_kel_result *res)
{
    struct kd_node *node = arg;
    enum kd_err e;

    for (unsigned i = 0; i < node->n_roles; i++) {
        struct kd_role_instance *ri = &node->roles[i];

        if (ri->role->on_escrow != NULL && (e = ri->role->on_escrow(ri, txn, msg, res)) != KD_OK)
            return e;
    }
    return KD_OK;
}

/* One engine for every role (they share the store): the witness's prefix is
 * its own, escrow timeouts come from the first role's escrow_config. */
static enum kd_err kd_node_kel(struct kd_node *node, char *err, size_t errlen)
{
    const struct kd_escrow_config *ec = &node->roles[0].cfg->escrow;
    const char *own[KD_NODE_MAX_ROLES];
    struct kd_kel_opts o;
    enum kd_err e;

    kd_kel_opts_default(&o);
    o.nown = 0;
    for (unsigned i = 0; i < node->n_roles; i++) {
        if (node->roles[i].role->witnesses_events)
            own[o.nown++] = node->roles[i].signer.prefix;
    }
    o.own_prefixes = own;
    o.on_accept = kd_node_on_accept;
    o.on_escrow = kd_node_on_escrow;
    o.accept_arg = node;
    o.timeouts.default_timeout = ec->default_timeout;
    o.timeouts.out_of_order = ec->out_of_order_timeout;
    o.timeouts.partially_signed = ec->partially_signed_timeout;
    o.timeouts.partially_witnessed = ec->partially_witnessed_timeout;
    o.timeouts.delegation = ec->delegation_timeout;
    o.timeouts.receipts = ec->trans_receipt_timeout;
    e = kd_kel_new(&node->kel, &o);
    if (e != KD_OK) {
        kd_node_errf(err, errlen, "cannot create the KEL engine: %s", kd_err_message(e));
        return e;
    }
    node->escrow_task.name = "escrow";
    node->escrow_task.interval_ms = node->cfg->sweep_interval_ms;
    node->escrow_task.run = kd_node_escrow_tick;
    if (kd_sched_add(&node->sweeper.sched, &node->escrow_task, node, uv_now(node->loop)) != KD_OK) {
        kd_node_errf(err, errlen, "cannot register the escrow sweep");
        return KD_EINTERNAL;
    }
    return KD_OK;
}

static enum kd_err kd_node_start_role(struct kd_node *node, struct kd_role_instance *ri, char *err,
                                      size_t errlen)
{
    const struct kd_role_config *rc = ri->cfg;
    struct kd_http_limits lim;
    enum kd_err e;

    if ((e = kd_node_oobi_json(ri)) != KD_OK) {
        kd_node_errf(err, errlen, "public_url: too long");
        return e;
    }
    if (rc->tel_storage_path != NULL && kd_mkdirs(rc->tel_storage_path) != 0) {
        kd_node_errf(err, errlen, "tel_storage_path: cannot create \"%s\": %s",
                     rc->tel_storage_path, strerror(errno));
        return KD_EIO;
    }
    if (ri->role->init != NULL && (e = ri->role->init(ri)) != KD_OK) {
        kd_node_errf(err, errlen, "%s: initialisation failed: %s", ri->role->name,
                     kd_err_message(e));
        return e;
    }
    if ((e = kd_node_routes(ri)) != KD_OK) {
        kd_node_errf(err, errlen, "out of memory");
        return e;
    }
    lim.max_header_bytes = rc->limits.max_header_bytes;
    lim.max_body_bytes = rc->limits.max_body_bytes;
    lim.max_connections = rc->limits.max_connections;
    lim.header_timeout_ms = rc->limits.header_timeout_ms;
    lim.body_timeout_ms = rc->limits.body_timeout_ms;
    lim.idle_timeout_ms = rc->limits.idle_timeout_ms;
    ri->http = kd_http_server_new(node->loop, ri->role->name, &lim, ri->routes, ri, node->metrics);
    if (ri->http == NULL) {
        kd_node_errf(err, errlen, "out of memory");
        return KD_ENOMEM;
    }
    e = kd_http_server_listen(ri->http, rc->listen_address, rc->http_port);
    if (e != KD_OK) {
        kd_node_errf(err, errlen, "%s: cannot listen on %s:%u: %s", ri->role->name,
                     rc->listen_address, (unsigned)rc->http_port, kd_err_message(e));
        return e;
    }
    node->servers_open++;
    if (kd_sweeper_add_tasks(&node->sweeper, ri->role->sweeps, ri) != KD_OK) {
        kd_node_errf(err, errlen, "%s: too many sweeper tasks", ri->role->name);
        return KD_EINTERNAL;
    }
    if (ri->role->start != NULL && (e = ri->role->start(ri)) != KD_OK) {
        kd_node_errf(err, errlen, "%s: start failed: %s", ri->role->name, kd_err_message(e));
        return e;
    }
    return KD_OK;
}

/* Closes what kd_node_start opened, after a failure, and runs the loop until the handles are gone.
 */
static void kd_node_abort(struct kd_node *node)
{
    node->shutting_down = true;
    for (unsigned i = 0; i < node->n_roles; i++) {
        if (node->roles[i].http != NULL)
            kd_http_server_shutdown(node->roles[i].http, NULL, NULL);
    }
    node->servers_open = 0;
    kd_node_finish(node);
    uv_run(node->loop, UV_RUN_DEFAULT);
    kd_node_free(node);
}

enum kd_err kd_node_start(struct kd_node *node, uv_loop_t *loop, const struct kd_config *cfg,
                          const struct kd_node_role *roles, unsigned n_roles, FILE *out, char *err,
                          size_t errlen)
{
    const struct kd_role_config *store_cfg;
    char path[4200];
    enum kd_err e;
    int rc;

    memset(node, 0, sizeof(*node));
    node->loop = loop;
    node->cfg = cfg;
    node->started_us = kd_clock_now_us();
    if (n_roles == 0 || n_roles > KD_NODE_MAX_ROLES) {
        kd_node_errf(err, errlen, "between 1 and %d roles", KD_NODE_MAX_ROLES);
        return KD_EINVAL;
    }
    for (unsigned i = 0; i < n_roles; i++) {
        node->roles[i].role = roles[i].role;
        node->roles[i].cfg = roles[i].cfg;
        node->roles[i].node = node;
    }
    node->n_roles = n_roles;
    store_cfg = node->roles[0].cfg;

    node->metrics = kd_metrics_new();
    if (node->metrics == NULL) {
        kd_node_errf(err, errlen, "out of memory");
        return KD_ENOMEM;
    }
    uv_async_init(loop, &node->store_wake, kd_node_on_store_wake);
    node->store_wake.data = node;
    uv_signal_init(loop, &node->sig_int);
    uv_signal_init(loop, &node->sig_term);
    node->sig_int.data = node;
    node->sig_term.data = node;
    kd_sweeper_init(&node->sweeper, loop, 10);

    if ((rc = kd_mkdirs(store_cfg->db_path)) != 0) {
        kd_node_errf(err, errlen, "db_path: cannot create \"%s\": %s", store_cfg->db_path,
                     strerror(rc));
        e = KD_EIO;
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/%s", store_cfg->db_path, KD_STORE_FILE);
    e = kd_store_open(&node->store, path, NULL, kd_node_store_wake, node);
    if (e != KD_OK) {
        kd_node_errf(err, errlen, "db_path: cannot open the store %s: %s", path, kd_err_message(e));
        goto fail;
    }
    for (unsigned i = 0; i < node->n_roles; i++) {
        if ((e = kd_node_identity(node, &node->roles[i], err, errlen)) != KD_OK)
            goto fail;
    }
    if ((e = kd_node_kel(node, err, errlen)) != KD_OK)
        goto fail;
    for (unsigned i = 0; i < node->n_roles; i++) {
        if ((e = kd_node_start_role(node, &node->roles[i], err, errlen)) != KD_OK)
            goto fail;
    }
    uv_signal_start(&node->sig_int, kd_node_on_signal, SIGINT);
    uv_signal_start(&node->sig_term, kd_node_on_signal, SIGTERM);
    kd_sweeper_start(&node->sweeper);
    kd_node_print_startup(node, out);
    return KD_OK;

fail:
    kd_node_abort(node);
    return e;
}
