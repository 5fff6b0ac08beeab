/*
 * The server: listener, connection limit, graceful shutdown.
 */
#include "http_int.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/log.h"

#define KD_HTTP_LOG "http"

struct kd_http_reject {
    uv_tcp_t tcp;
    struct kd_http_server *srv;
};

static void kd_http_on_reject_close(uv_handle_t *h)
{
    struct kd_http_reject *rj = h->data;
    struct kd_http_server *s = rj->srv;

    free(rj);
    s->nreject--;
    kd_http_server_check_done(s);
}

/* Accepts one connection over the limit, sends it the 503 answer if the
 * socket takes it at once, and closes it. */
void kd_http_server_reject(struct kd_http_server *s)
{
    struct kd_http_reject *rj = malloc(sizeof(*rj));
    uv_buf_t b;

    if (rj == NULL) {
        kd_log_error(KD_HTTP_LOG, "%s: out of memory refusing a connection", s->label);
        return;
    }
    rj->srv = s;
    uv_tcp_init(s->loop, &rj->tcp);
    rj->tcp.data = rj;
    s->nreject++;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&rj->tcp) == 0) {
        kd_metrics_conn_rejected(s->m, s->m_server);
        b = uv_buf_init((char *)s->reject.data, (unsigned)s->reject.len);
        (void)uv_try_write((uv_stream_t *)&rj->tcp, &b, 1);
    }
    uv_close((uv_handle_t *)&rj->tcp, kd_http_on_reject_close);
}

static void kd_http_on_connection(uv_stream_t *ls, int status)
{
    struct kd_http_server *s = ls->data;

    if (status < 0) {
        kd_log_warn(KD_HTTP_LOG, "%s: accept: %s", s->label, uv_strerror(status));
        return;
    }
    if (s->shutting_down)
        return;
    if (s->nopen >= s->lim.max_connections) {
        kd_http_server_reject(s);
        return;
    }
    kd_http_conn_accept(s);
}

void kd_http_server_check_done(struct kd_http_server *s)
{
    if (!s->shutting_down || s->done_called || s->lst == KD_HTTP_LST_CLOSING || s->nconn > 0 ||
        s->nreject > 0)
        return;
    s->done_called = true;
    if (s->done != NULL)
        s->done(s->done_arg);
}

/* Copies lim into s, replacing zeros by the defaults. */
static void kd_http_limits_set(struct kd_http_limits *out, const struct kd_http_limits *lim)
{
    static const struct kd_http_limits none;

    if (lim == NULL)
        lim = &none;
    out->max_header_bytes =
        lim->max_header_bytes ? lim->max_header_bytes : KD_HTTP_DEFAULT_MAX_HEADER_BYTES;
    out->max_body_bytes =
        lim->max_body_bytes ? lim->max_body_bytes : KD_HTTP_DEFAULT_MAX_BODY_BYTES;
    out->max_connections =
        lim->max_connections ? lim->max_connections : KD_HTTP_DEFAULT_MAX_CONNECTIONS;
    out->header_timeout_ms =
        lim->header_timeout_ms ? lim->header_timeout_ms : KD_HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    out->body_timeout_ms =
        lim->body_timeout_ms ? lim->body_timeout_ms : KD_HTTP_DEFAULT_BODY_TIMEOUT_MS;
    out->idle_timeout_ms =
        lim->idle_timeout_ms ? lim->idle_timeout_ms : KD_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    out->max_stream_queue_bytes = lim->max_stream_queue_bytes ? lim->max_stream_queue_bytes
                                                              : KD_HTTP_DEFAULT_STREAM_QUEUE_BYTES;
    /* Keep offsets and buffer bounds far from overflow. */
    if (out->max_header_bytes > (1u << 24))
        out->max_header_bytes = 1u << 24;
    if (out->max_body_bytes > ((size_t)1 << 40))
        out->max_body_bytes = (size_t)1 << 40;
}

/*
 * Validates the arguments, compiles the routes and registers the metrics
 * labels: "unmatched" first, then each route name (or pattern).
 */
struct kd_http_server *kd_http_server_new(uv_loop_t *loop, const char *label,
                                          const struct kd_http_limits *lim,
                                          const struct kd_route *routes, void *ctx,
                                          struct kd_metrics *m)
{
    struct kd_http_server *s = NULL;
    char why[256] = "";
    enum kd_err err;

    if (loop == NULL || label == NULL || label[0] == '\0' || strlen(label) > KD_METRICS_MAX_LABEL) {
        kd_log_error(KD_HTTP_LOG, "server label missing or longer than %d bytes",
                     KD_METRICS_MAX_LABEL);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    s->loop = loop;
    strcpy(s->label, label);
    s->ctx = ctx;
    s->m = m;
    kd_http_limits_set(&s->lim, lim);
    kd_buf_init(&s->reject, 0);
    if ((err = kd_http_router_init(&s->router, routes, why, sizeof(why))) != KD_OK) {
        if (err == KD_EINVAL)
            kd_log_error(KD_HTTP_LOG, "%s: %s", label, why);
        goto fail;
    }
    if (m != NULL) {
        /* Check every route name before registering anything in m. */
        for (unsigned i = 0; i < s->router.n; i++) {
            const struct kd_route *rt = s->router.routes[i].route;
            const char *name = rt->name != NULL ? rt->name : rt->pattern;
            const size_t n = strlen(name);
            bool ok = n > 0 && n <= KD_METRICS_MAX_NAME;

            for (size_t k = 0; ok && k < n; k++)
                ok = name[k] >= 0x20 && name[k] < 0x7f;
            if (!ok) {
                kd_log_error(KD_HTTP_LOG, "%s: route name \"%s\" is not 1..%d printable bytes",
                             label, name, KD_METRICS_MAX_NAME);
                goto fail;
            }
        }
        if ((err = kd_metrics_server_add(m, label, &s->m_server)) != KD_OK ||
            (err = kd_metrics_route_add(m, s->m_server, KD_METRICS_UNMATCHED, &s->m_unmatched)) !=
                KD_OK) {
            kd_log_error(KD_HTTP_LOG, "%s: metrics: %s", label, kd_err_message(err));
            goto fail;
        }
        for (unsigned i = 0; i < s->router.n; i++) {
            const struct kd_route *rt = s->router.routes[i].route;
            const char *name = rt->name != NULL ? rt->name : rt->pattern;

            err = kd_metrics_route_add(m, s->m_server, name, &s->router.routes[i].metric);
            if (err != KD_OK) {
                kd_log_error(KD_HTTP_LOG, "%s: metrics route name \"%s\": %s", label, name,
                             kd_err_message(err));
                goto fail;
            }
        }
    }
    err = kd_http_error_json(&s->reject, KD_EUNAVAIL, "too many open connections");
    if (err == KD_OK) {
        struct kd_buf body = s->reject;

        kd_buf_init(&s->reject, 0);
        err = kd_http_format(&s->reject, 503, "application/json", body.data, body.len, false,
                             KD_HTTP_CONN_CLOSE, NULL, 0);
        kd_buf_free(&body);
    }
    if (err != KD_OK)
        goto fail;
    return s;
fail:
    if (s != NULL) {
        kd_http_router_free(&s->router);
        kd_buf_free(&s->reject);
        free(s);
    }
    return NULL;
}

/* Stops the default SIGPIPE from killing the process when a peer resets. */
static void kd_http_ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO)) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/*
 * Parses the address, binds, listens and records the bound port.
 */
enum kd_err kd_http_server_listen(struct kd_http_server *s, const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    int namelen = sizeof(ss);
    int rc;

    if (s == NULL || s->lst != KD_HTTP_LST_NONE || s->shutting_down)
        return KD_EINVAL;
    if (addr == NULL || addr[0] == '\0')
        addr = "0.0.0.0";
    memset(&ss, 0, sizeof(ss));
    if (strchr(addr, ':') != NULL)
        rc = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        kd_log_error(KD_HTTP_LOG, "%s: bad listen address \"%s\"", s->label, addr);
        return KD_EINVAL;
    }
    kd_http_ignore_sigpipe();
    if ((rc = uv_tcp_init(s->loop, &s->listener)) != 0) {
        kd_log_error(KD_HTTP_LOG, "%s: %s", s->label, uv_strerror(rc));
        return KD_EIO;
    }
    s->listener.data = s;
    s->lst = KD_HTTP_LST_OPEN;
    if ((rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, KD_HTTP_BACKLOG, kd_http_on_connection)) !=
            0) {
        kd_log_error(KD_HTTP_LOG, "%s: cannot listen on %s:%u: %s", s->label, addr, (unsigned)port,
                     uv_strerror(rc));
        return KD_EIO;
    }
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen) == 0) {
        if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return KD_OK;
}

/*
 * The bound port.
 */
uint16_t kd_http_server_port(const struct kd_http_server *s)
{
    return s != NULL && s->lst == KD_HTTP_LST_OPEN ? s->port : 0;
}

/*
 * The handlers' ctx.
 */
void *kd_http_server_ctx(const struct kd_http_server *s)
{
    return s != NULL ? s->ctx : NULL;
}

static void kd_http_on_listener_close(uv_handle_t *h)
{
    struct kd_http_server *s = h->data;

    s->lst = KD_HTTP_LST_CLOSED;
    kd_http_server_check_done(s);
}

/*
 * Closes the listener and the idle connections, tells open streams to end;
 * the rest close as their requests finish (every answer from now on says
 * "Connection: close").
 */
void kd_http_server_shutdown(struct kd_http_server *s, void (*done)(void *arg), void *arg)
{
    struct kd_http_conn *c, *next;

    if (s == NULL || s->shutting_down)
        return;
    s->shutting_down = true;
    s->done = done;
    s->done_arg = arg;
    if (s->lst == KD_HTTP_LST_OPEN) {
        s->lst = KD_HTTP_LST_CLOSING;
        uv_close((uv_handle_t *)&s->listener, kd_http_on_listener_close);
    }
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (kd_http_conn_idle(c)) {
            kd_http_conn_close_now(c);
        } else if (!c->closing && c->req_active && c->req.stream_open && !c->req.stream_told) {
            /* The handler may end any stream from its callback, which can
             * free a connection: start over (each stream is told once). */
            kd_http_conn_stream_event(c, KD_HTTP_STREAM_SHUTDOWN);
            next = s->conns;
        }
    }
    kd_http_server_check_done(s);
}

/*
 * Frees what the server owns. Freeing a server with open handles would leave
 * libuv pointing into freed memory: that is a caller bug, and it aborts.
 */
void kd_http_server_free(struct kd_http_server *s)
{
    if (s == NULL)
        return;
    if (s->lst == KD_HTTP_LST_OPEN || s->lst == KD_HTTP_LST_CLOSING || s->nconn > 0 ||
        s->nreject > 0) {
        kd_log_error(KD_HTTP_LOG, "%s: freed before its shutdown completed", s->label);
        abort();
    }
    kd_http_router_free(&s->router);
    kd_buf_free(&s->reject);
    free(s);
}
