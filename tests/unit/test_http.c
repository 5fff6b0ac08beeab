/*
 * http: the server driven over real sockets on 127.0.0.1 (the loop runs in a
 * thread, the test is a raw-socket client), the router, and the metrics text.
 * Expected answers come from RFC 9112 framing, the brief (limits, statuses,
 * JSON error shape from include/kerid/err.h) and the Prometheus text format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "kerid/buf.h"
#include "kerid/http.h"
#include "kerid/log.h"
#include "kerid/metrics.h"

#include "../../src/http/router.h"

/* ------------------------------------------------------------------------------------------
 * The server under test, its loop in a thread.
 */

struct srv {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t th;
    struct kd_http_server *s;
    struct kd_metrics *m;
    uint16_t port;
    atomic_int shutdown_req;
    atomic_int done_called;
    atomic_int async_answered;
    atomic_int hdr_checks; /* kd_http_res_header results in h_hdr, as a bit mask of passes */
    /* streams (h_stream) */
    atomic_int st_closed, st_shutdown, st_drained, st_ended, st_freed;
    atomic_int st_write_err;  /* the first error a stream write returned */
    atomic_int st_write_errs; /* streams ended on a write error */
    atomic_int stream_checks; /* API misuse results in h_stream, bit mask of passes */
    atomic_int late_begin;    /* what kd_http_stream_begin returned in h_late, + 1 */
};

struct delayed {
    uv_timer_t t;
    struct kd_http_req *req;
    struct srv *sv;
    int err; /* answer with a JSON error */
};

static void h_text(struct kd_http_req *req, const char *s)
{
    kd_http_respond(req, 200, "text/plain", s, strlen(s));
}

static void h_root(struct kd_http_req *req, void *ctx)
{
    size_t n;
    const char *p = kd_http_req_path(req, &n);

    (void)ctx;
    h_text(req, n == 1 && p[0] == '/' ? "root" : "badroot");
}

static void h_hello(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    h_text(req, "hello");
}

/* "<a>|<b>|<query or ->|<body>" */
static void h_echo(struct kd_http_req *req, void *ctx)
{
    struct kd_buf b;
    size_t n;
    const char *p;

    (void)ctx;
    kd_buf_init(&b, 0);
    p = kd_http_req_path(req, &n);
    if (n < 6 || memcmp(p, "/echo/", 6) != 0) /* the raw path starts like the pattern */
        kd_buf_append(&b, "BADPATH", 7);
    if (kd_http_req_param(req, 2, &n) != NULL || n != 0)
        kd_buf_append(&b, "BADPARAM", 8);
    p = kd_http_req_param(req, 0, &n);
    kd_buf_append(&b, p, n);
    kd_buf_append(&b, "|", 1);
    p = kd_http_req_param(req, 1, &n);
    kd_buf_append(&b, p, n);
    kd_buf_append(&b, "|", 1);
    p = kd_http_req_query(req, &n);
    if (p != NULL)
        kd_buf_append(&b, p, n);
    else
        kd_buf_append(&b, "-", 1);
    kd_buf_append(&b, "|", 1);
    p = (const char *)kd_http_req_body(req, &n);
    kd_buf_append(&b, p, n);
    kd_http_respond(req, 200, "text/plain", b.data, b.len);
    kd_buf_free(&b);
}

/* "<rc>:<value>" for query parameters a, b and long (into 8 bytes), ";"-separated. */
static void h_qp(struct kd_http_req *req, void *ctx)
{
    static const char *const names[] = {"a", "b", "long"};
    struct kd_buf b;

    (void)ctx;
    kd_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char v[8] = "?";
        const int rc = kd_http_req_query_param(req, names[i], v, sizeof(v));

        kd_buf_printf(&b, "%s%d:%s", i > 0 ? ";" : "", rc, rc == 1 ? v : "");
    }
    kd_http_respond(req, 200, "text/plain", b.data, b.len);
    kd_buf_free(&b);
}

static void delayed_closed(uv_handle_t *h)
{
    free(h->data);
}

static void delayed_fire(uv_timer_t *t)
{
    struct delayed *d = t->data;

    atomic_fetch_add(&d->sv->async_answered, 1); /* before the client can see the answer */
    if (d->err)
        kd_http_respond_error(d->req, KD_ESTORE, NULL);
    else
        kd_http_respond(d->req, 200, "text/plain", "slow", 4);
    uv_close((uv_handle_t *)&d->t, delayed_closed);
}

/* Answers "slow" {ms} milliseconds later, from a uv_timer. */
static void h_slow(struct kd_http_req *req, void *ctx)
{
    struct srv *sv = ctx;
    struct delayed *d = malloc(sizeof(*d));
    const char *ms = kd_http_req_param(req, 0, NULL);

    if (d == NULL) /* the loop thread cannot fail a cmocka assertion */
        abort();
    d->req = req;
    d->sv = sv;
    d->err = kd_http_req_path(req, NULL)[5] == 'e'; /* "/slowerr/{ms}" */
    uv_timer_init(&sv->loop, &d->t);
    d->t.data = d;
    uv_timer_start(&d->t, delayed_fire, strtoul(ms, NULL, 10), 0);
}

/* {kb} KiB of 'a' + i % 26. */
static void h_big(struct kd_http_req *req, void *ctx)
{
    const size_t n = strtoul(kd_http_req_param(req, 0, NULL), NULL, 10) * 1024;
    char *p = malloc(n ? n : 1);

    (void)ctx;
    if (p == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    kd_http_respond(req, 200, "application/octet-stream", p, n);
    free(p);
}

/* Echoes X-Test, adds X-Reply, and records what kd_http_res_header refuses. */
static void h_hdr(struct kd_http_req *req, void *ctx)
{
    struct srv *sv = ctx;
    const char *v = kd_http_req_header(req, "x-TEST", NULL);
    int ok = 0;

    ok |= (kd_http_res_header(req, "X-Reply", "yes") == KD_OK) << 0;
    ok |= (kd_http_res_header(req, "Bad Name", "v") == KD_EINVAL) << 1;
    ok |= (kd_http_res_header(req, "X-Inject", "a\r\nSet-Cookie: x") == KD_EINVAL) << 2;
    ok |= (kd_http_res_header(req, "Content-Length", "3") == KD_EINVAL) << 3;
    ok |= (kd_http_res_header(req, "", "v") == KD_EINVAL) << 4;
    ok |= (kd_http_req_header(req, "absent", NULL) == NULL) << 5;
    ok |= (kd_http_req_method(req) == KD_HTTP_GET) << 6;
    ok |= (kd_http_req_param(req, 0, NULL) == NULL) << 7;
    ok |= (kd_http_req_server_ctx(req) == ctx) << 8;
    {
        char big[5000];

        memset(big, 'v', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ok |= (kd_http_res_header(req, "X-Big", big) == KD_ETOOLARGE) << 9;
    }
    atomic_store(&sv->hdr_checks, ok);
    h_text(req, v != NULL ? v : "(none)");
}

static void h_metrics(struct kd_http_req *req, void *ctx)
{
    struct srv *sv = ctx;
    struct kd_buf b;

    kd_buf_init(&b, 1 << 20);
    if (kd_metrics_render(sv->m, &b) != KD_OK)
        kd_http_respond_error(req, KD_EINTERNAL, "render");
    else
        kd_http_respond(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    kd_buf_free(&b);
}

/* Answers with a JSON error whose message needs escaping. */
static void h_err(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_http_respond_error(req, KD_EBADCESR, "bad \"x\"\n\\");
}

/* Answers with the status {n} given in the path. */
static void h_status(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_http_respond(req, atoi(kd_http_req_param(req, 0, NULL)), "text/plain", "st", 2);
}

/* A content type that would split the header block is dropped. */
static void h_badctype(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_http_respond(req, 200, "text/plain\r\nX-Evil: 1", "b", 1);
}

/* Answers twice: the second answer must be ignored. */
static void h_twice(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_http_respond(req, 200, "text/plain", "one", 3);
    kd_http_respond(req, 200, "text/plain", "two", 3);
}

/* A streamed answer: {count} pieces (0: until the client goes or the server
 * shuts down) of {size} bytes, one every {ms} milliseconds (0: all at once). */
struct strm {
    uv_timer_t t;
    struct kd_http_req *req;
    struct srv *sv;
    unsigned long count, sent, size, ms;
    int ended, wait_drain;
};

static void strm_freed(uv_handle_t *h)
{
    struct strm *st = h->data;

    atomic_fetch_add(&st->sv->st_freed, 1);
    free(st);
}

/* Ends the stream once and releases the handler's state. */
static void strm_end(struct strm *st)
{
    if (st->ended)
        return;
    st->ended = 1;
    kd_http_stream_end(st->req);
    atomic_fetch_add(&st->sv->st_ended, 1);
    uv_timer_stop(&st->t);
    uv_close((uv_handle_t *)&st->t, strm_freed);
}

/* Piece i: "<i>:" then letters, size bytes in all, ending in '\n'. */
static size_t strm_piece(char *p, unsigned long i, unsigned long size)
{
    int n = snprintf(p, size + 1, "%lu:", i);

    for (unsigned long k = (unsigned long)n; k < size; k++)
        p[k] = (char)('a' + k % 26);
    if (size > 0)
        p[size - 1] = '\n';
    return size;
}

static void strm_tick(uv_timer_t *t)
{
    struct strm *st = t->data;
    char *p = malloc(st->size + 32);
    enum kd_err e = KD_OK;

    if (p == NULL)
        abort();
    do {
        if (st->count != 0 && st->sent >= st->count)
            break;
        e = kd_http_stream_write(st->req, p, strm_piece(p, st->sent, st->size));
        st->sent++;
    } while (e == KD_OK && st->ms == 0);
    free(p);
    if (e != KD_OK) {
        int zero = 0;

        atomic_compare_exchange_strong(&st->sv->st_write_err, &zero, (int)e);
        atomic_fetch_add(&st->sv->st_write_errs, 1);
        strm_end(st);
        return;
    }
    if (st->count == 0 || st->sent < st->count)
        return;
    /* all written at once and not all taken: end once it drained */
    if (st->ms == 0 && kd_http_stream_queued(st->req) > 0)
        st->wait_drain = 1;
    else
        strm_end(st);
}

static void strm_event(struct kd_http_req *req, enum kd_http_stream_event ev, void *arg)
{
    struct strm *st = arg;

    if (req != st->req || st->ended)
        abort(); /* never called after the end, always with its own request */
    if (ev == KD_HTTP_STREAM_DRAINED) {
        if (kd_http_stream_queued(req) != 0)
            abort(); /* drained means nothing is queued */
        atomic_fetch_add(&st->sv->st_drained, 1);
        if (st->wait_drain)
            strm_end(st);
        return;
    }
    atomic_fetch_add(ev == KD_HTTP_STREAM_CLOSED ? &st->sv->st_closed : &st->sv->st_shutdown, 1);
    strm_end(st);
}

static void h_stream(struct kd_http_req *req, void *ctx)
{
    struct srv *sv = ctx;
    struct strm *st = calloc(1, sizeof(*st));
    int ok = 0;

    if (st == NULL)
        abort();
    st->req = req;
    st->sv = sv;
    st->count = strtoul(kd_http_req_param(req, 0, NULL), NULL, 10);
    st->size = strtoul(kd_http_req_param(req, 1, NULL), NULL, 10);
    st->ms = strtoul(kd_http_req_param(req, 2, NULL), NULL, 10);
    /* misuse is refused and leaves the request as it was */
    ok |= (kd_http_stream_write(req, "x", 1) == KD_EINVAL) << 0;
    ok |= (kd_http_stream_queued(req) == 0) << 1;
    ok |= (kd_http_stream_begin(req, 200, "text/plain", NULL, NULL) == KD_EINVAL) << 2;
    ok |= (kd_http_stream_begin(req, 204, "text/plain", strm_event, st) == KD_EINVAL) << 3;
    kd_http_stream_end(req); /* no stream: nothing happens */
    ok |= (kd_http_res_header(req, "X-Stream", "yes") == KD_OK) << 4;
    ok |= (kd_http_stream_begin(req, 200, "text/event-stream", strm_event, st) == KD_OK) << 5;
    ok |= (kd_http_stream_begin(req, 200, "text/event-stream", strm_event, st) == KD_EINVAL) << 6;
    kd_http_respond(req, 500, "text/plain", "no", 2); /* ignored: the stream is open */
    atomic_store(&sv->stream_checks, ok);
    if (!(ok & (1 << 5))) {
        free(st);
        kd_http_respond_error(req, KD_EINTERNAL, "stream_begin failed");
        return;
    }
    uv_timer_init(&sv->loop, &st->t);
    st->t.data = st;
    strm_tick(&st->t);
    if (!st->ended && st->ms != 0)
        uv_timer_start(&st->t, strm_tick, st->ms, st->ms);
}

/* Begins a stream {ms} milliseconds after the request arrived; when that
 * fails, answers the request with the error instead. */
struct late {
    uv_timer_t t;
    struct kd_http_req *req;
    struct srv *sv;
};

static void late_closed(uv_handle_t *h)
{
    free(h->data);
}

static void late_event(struct kd_http_req *req, enum kd_http_stream_event ev, void *arg)
{
    (void)ev;
    (void)arg;
    kd_http_stream_end(req);
}

static void late_fire(uv_timer_t *t)
{
    struct late *l = t->data;
    const enum kd_err e = kd_http_stream_begin(l->req, 200, "text/plain", late_event, NULL);

    atomic_store(&l->sv->late_begin, (int)e + 1);
    if (e != KD_OK)
        kd_http_respond_error(l->req, e, NULL);
    else
        kd_http_stream_end(l->req);
    uv_close((uv_handle_t *)&l->t, late_closed);
}

static void h_late(struct kd_http_req *req, void *ctx)
{
    struct srv *sv = ctx;
    struct late *l = malloc(sizeof(*l));

    if (l == NULL)
        abort();
    l->req = req;
    l->sv = sv;
    uv_timer_init(&sv->loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, late_fire, strtoul(kd_http_req_param(req, 0, NULL), NULL, 10), 0);
}

static const struct kd_route test_routes[] = {
    {KD_HTTP_GET, "/late/{ms}", h_late, "late"},
    {KD_HTTP_GET, "/stream/{count}/{size}/{ms}", h_stream, "stream"},
    {KD_HTTP_GET, "/", h_root, "root"},
    {KD_HTTP_GET, "/hello", h_hello, "hello"},
    {KD_HTTP_DELETE, "/hello", h_hello, "hello"},
    {KD_HTTP_POST, "/echo/{a}/{b}", h_echo, "echo"},
    {KD_HTTP_GET, "/qp", h_qp, "qp"},
    {KD_HTTP_GET, "/slow/{ms}", h_slow, "slow"},
    {KD_HTTP_GET, "/slowerr/{ms}", h_slow, "slowerr"},
    {KD_HTTP_GET, "/big/{kb}", h_big, "big"},
    {KD_HTTP_GET, "/hdr", h_hdr, "hdr"},
    {KD_HTTP_GET, "/err", h_err, NULL},
    {KD_HTTP_GET, "/metrics", h_metrics, "metrics"},
    {KD_HTTP_GET, "/status/{n}", h_status, "status"},
    {KD_HTTP_GET, "/badctype", h_badctype, "badctype"},
    {KD_HTTP_GET, "/twice", h_twice, "twice"},
    {0, NULL, NULL, NULL},
};

static void on_done(void *arg)
{
    struct srv *sv = arg;

    atomic_store(&sv->done_called, 1);
    uv_close((uv_handle_t *)&sv->wake, NULL);
}

static void on_wake(uv_async_t *a)
{
    struct srv *sv = a->data;

    if (atomic_load(&sv->shutdown_req) == 1) {
        atomic_store(&sv->shutdown_req, 2);
        kd_http_server_shutdown(sv->s, on_done, sv);
    }
}

static void *loop_main(void *arg)
{
    struct srv *sv = arg;

    uv_run(&sv->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void srv_start_at(struct srv *sv, const struct kd_http_limits *lim, const char *addr,
                         int with_metrics)
{
    memset(sv, 0, sizeof(*sv));
    assert_int_equal(uv_loop_init(&sv->loop), 0);
    if (with_metrics) {
        sv->m = kd_metrics_new();
        assert_non_null(sv->m);
    }
    sv->s = kd_http_server_new(&sv->loop, "test", lim, test_routes, sv, sv->m);
    assert_non_null(sv->s);
    assert_int_equal(kd_http_server_listen(sv->s, addr, 0), KD_OK);
    sv->port = kd_http_server_port(sv->s);
    assert_true(sv->port != 0);
    assert_ptr_equal(kd_http_server_ctx(sv->s), sv);
    uv_async_init(&sv->loop, &sv->wake, on_wake);
    sv->wake.data = sv;
    assert_int_equal(pthread_create(&sv->th, NULL, loop_main, sv), 0);
}

static void srv_start(struct srv *sv, const struct kd_http_limits *lim)
{
    srv_start_at(sv, lim, "127.0.0.1", 1);
}

static void srv_begin_shutdown(struct srv *sv)
{
    atomic_store(&sv->shutdown_req, 1);
    uv_async_send(&sv->wake);
}

/* Waits for the loop thread to end (the shutdown closes every handle). */
static void srv_join(struct srv *sv)
{
    pthread_join(sv->th, NULL);
    assert_int_equal(atomic_load(&sv->done_called), 1);
    kd_http_server_free(sv->s);
    kd_metrics_free(sv->m);
    assert_int_equal(uv_loop_close(&sv->loop), 0); /* nothing left open */
}

static void srv_stop(struct srv *sv)
{
    srv_begin_shutdown(sv);
    srv_join(sv);
}

/* ------------------------------------------------------------------------------------------
 * A raw-socket client.
 */

struct cli {
    int fd;
    size_t len;
    char buf[1 << 16];
};

struct resp {
    int status;
    char head[16384];
    char *body;
    size_t body_len;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Connects; returns -errno if the connection is refused. */
static int cli_open_rcvbuf(struct cli *c, uint16_t port, int rcvbuf)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};

    memset(c, 0, offsetof(struct cli, buf));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    if (rcvbuf > 0) /* before connect: a fixed window, no autotuning */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;

        close(c->fd);
        c->fd = -1;
        return -e;
    }
    return 0;
}

static int cli_open(struct cli *c, uint16_t port)
{
    return cli_open_rcvbuf(c, port, 0);
}

static struct cli *cli_new(uint16_t port)
{
    struct cli *c = malloc(sizeof(*c));

    assert_non_null(c);
    assert_int_equal(cli_open(c, port), 0);
    return c;
}

static void cli_free(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Closes with a reset (SO_LINGER 0), as a crashed client would. */
static void cli_reset(struct cli *c)
{
    struct linger l = {1, 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c->fd);
    c->fd = -1;
}

static void cli_sendn(struct cli *c, const void *p, size_t n)
{
    const char *q = p;

    while (n > 0) {
        ssize_t k = send(c->fd, q, n, MSG_NOSIGNAL);

        assert_true(k > 0);
        q += k;
        n -= (size_t)k;
    }
}

static void cli_send(struct cli *c, const char *s)
{
    cli_sendn(c, s, strlen(s));
}

static ssize_t cli_fill(struct cli *c)
{
    ssize_t n;

    if (c->len == sizeof(c->buf))
        return -1;
    n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

/* Copies the value of header name of r into out; 0 if found, -1 if not. */
static int resp_hdr(const struct resp *r, const char *name, char *out, size_t cap)
{
    const size_t nl = strlen(name);
    const char *line = strstr(r->head, "\r\n");

    while (line != NULL && line[2] != '\r') {
        const char *l = line + 2, *end = strstr(l, "\r\n");

        if (end == NULL)
            break;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            size_t n;

            while (*v == ' ')
                v++;
            n = (size_t)(end - v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        line = end;
    }
    return -1;
}

static int resp_has_hdr(const struct resp *r, const char *name, const char *want)
{
    char v[512];

    return resp_hdr(r, name, v, sizeof(v)) == 0 && strcmp(v, want) == 0;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Reads one answer (framed by Content-Length, none for HEAD / 1xx / 204 / 304);
 * returns 0, or -1 if the connection ended or timed out first. */
static int cli_resp(struct cli *c, struct resp *r, int head_req)
{
    char *e;
    size_t hlen, cl = 0, have;
    char v[64];

    memset(r, 0, sizeof(*r));
    while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if (cli_fill(c) <= 0)
            return -1;
    }
    hlen = (size_t)(e - c->buf) + 4;
    assert_true(hlen < sizeof(r->head));
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    if (resp_hdr(r, "content-length", v, sizeof(v)) == 0)
        cl = strtoul(v, NULL, 10);
    if (head_req || r->status < 200 || r->status == 204 || r->status == 304)
        cl = 0;
    memmove(c->buf, c->buf + hlen, c->len - hlen);
    c->len -= hlen;
    r->body = malloc(cl + 1);
    assert_non_null(r->body);
    have = c->len < cl ? c->len : cl;
    memcpy(r->body, c->buf, have);
    memmove(c->buf, c->buf + have, c->len - have);
    c->len -= have;
    while (have < cl) {
        ssize_t n = recv(c->fd, r->body + have, cl - have, 0);

        if (n <= 0) {
            resp_free(r);
            return -1;
        }
        have += (size_t)n;
    }
    r->body[cl] = '\0';
    r->body_len = cl;
    return 0;
}

/* Sends one request and reads its answer. */
static void cli_req(struct cli *c, const char *req, struct resp *r)
{
    cli_send(c, req);
    assert_int_equal(cli_resp(c, r, starts_with(req, "HEAD ")), 0);
}

/* 1 when the server closed the connection (EOF or reset) within ms, 0 on
 * timeout, -1 if more data arrived. */
static int cli_closed(struct cli *c, int ms)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    char b[256];
    ssize_t n;

    if (c->len > 0)
        return -1;
    if (poll(&p, 1, ms) <= 0)
        return 0;
    n = recv(c->fd, b, sizeof(b), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 1;
    return n > 0 ? -1 : 0;
}

/* The number after `<series> ` on its own line in text, or -1. */
static long long metric_value(const char *text, const char *series)
{
    const size_t n = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
        p += n;
    }
    return -1;
}

static int count_occurrences(const char *text, const char *s)
{
    int k = 0;

    for (const char *p = text; (p = strstr(p, s)) != NULL; p += strlen(s))
        k++;
    return k;
}

static void get_metrics(uint16_t port, struct resp *r)
{
    struct cli *c = cli_new(port);

    cli_req(c, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", r);
    assert_int_equal(r->status, 200);
    cli_free(c);
}

/* ------------------------------------------------------------------------------------------
 * Router and formatting (no sockets).
 */

static void noop(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_http_respond(req, 204, NULL, NULL, 0);
}

static void test_router_match(void **state)
{
    static const struct kd_route routes[] = {
        {KD_HTTP_GET, "/", noop, "root"},
        {KD_HTTP_GET, "/oobi/{eid}", noop, "oobi_eid"},
        {KD_HTTP_GET, "/oobi/{cid}/{role}/{eid}", noop, "oobi_role"},
        {KD_HTTP_POST, "/process", noop, "process"},
        {KD_HTTP_PUT, "/process", noop, "process"},
        {KD_HTTP_GET, "/a/", noop, "a_slash"},
        {KD_HTTP_HEAD, "/h", noop, "h_head"},
        {KD_HTTP_GET, "/h", noop, "h_get"},
        {0, NULL, NULL, NULL},
    };
    struct kd_http_router rt;
    struct kd_http_match m;
    char why[128], allow[96];

    (void)state;
    assert_int_equal(kd_http_router_init(&rt, routes, why, sizeof(why)), KD_OK);
    assert_int_equal(rt.n, 8);

    kd_http_router_match(&rt, KD_HTTP_GET, "/", 1, &m);
    assert_ptr_equal(m.route, &rt.routes[0]);
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/BAbc", 10, &m);
    assert_ptr_equal(m.route, &rt.routes[1]);
    assert_int_equal(m.nparam, 1);
    assert_int_equal(m.param_off[0], 6);
    assert_int_equal(m.param_len[0], 4);
    /* one placeholder = one non-empty segment; no trailing-slash normalisation */
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/", 6, &m);
    assert_null(m.route);
    assert_null(m.path);
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/BAbc/", 11, &m);
    assert_null(m.route);
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/E1/witness/B2", 19, &m);
    assert_ptr_equal(m.route, &rt.routes[2]);
    assert_int_equal(m.nparam, 3);
    assert_int_equal(m.param_off[1], 9);
    assert_int_equal(m.param_len[1], 7);
    assert_int_equal(m.param_off[2], 17);
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/E1//B2", 12, &m);
    assert_null(m.route);
    kd_http_router_match(&rt, KD_HTTP_GET, "/a", 2, &m);
    assert_null(m.route);
    kd_http_router_match(&rt, KD_HTTP_GET, "/a/", 3, &m);
    assert_ptr_equal(m.route, &rt.routes[5]);
    /* wrong method: no route, but the path is known, with its methods */
    kd_http_router_match(&rt, KD_HTTP_GET, "/process", 8, &m);
    assert_null(m.route);
    assert_ptr_equal(m.path, &rt.routes[3]);
    assert_int_equal(m.allow, (1u << KD_HTTP_POST) | (1u << KD_HTTP_PUT));
    assert_int_equal(kd_http_allow_format(m.allow, allow, sizeof(allow)), strlen("POST, PUT"));
    assert_string_equal(allow, "POST, PUT");
    kd_http_router_match(&rt, 0, "/process", 8, &m);
    assert_null(m.route);
    assert_non_null(m.path);
    /* HEAD: an explicit HEAD route wins, else the GET route without body */
    kd_http_router_match(&rt, KD_HTTP_HEAD, "/h", 2, &m);
    assert_ptr_equal(m.route, &rt.routes[6]);
    assert_false(m.head_only);
    kd_http_router_match(&rt, KD_HTTP_HEAD, "/oobi/x", 7, &m);
    assert_ptr_equal(m.route, &rt.routes[1]);
    assert_true(m.head_only);
    /* not origin-form, too many segments */
    kd_http_router_match(&rt, KD_HTTP_GET, "*", 1, &m);
    assert_null(m.path);
    kd_http_router_match(&rt, KD_HTTP_GET, "", 0, &m);
    assert_null(m.path);
    kd_http_router_match(&rt, KD_HTTP_GET, "/1/2/3/4/5/6/7/8/9/0/1/2/3/4/5/6/7/8", 36, &m);
    assert_null(m.path);
    /* a path is only read up to len */
    kd_http_router_match(&rt, KD_HTTP_GET, "/oobi/Xtrailing", 7, &m);
    assert_ptr_equal(m.route, &rt.routes[1]);
    assert_int_equal(m.param_len[0], 1);
    kd_http_router_free(&rt);

    assert_int_equal(
        kd_http_allow_format((1u << KD_HTTP_GET) | (1u << KD_HTTP_DELETE) | (1u << KD_HTTP_OPTIONS),
                             allow, sizeof(allow)),
        strlen("GET, HEAD, DELETE, OPTIONS"));
    assert_string_equal(allow, "GET, HEAD, DELETE, OPTIONS");
}

static void test_router_bad_patterns(void **state)
{
    static const char *const bad[] = {
        "noslash",
        "/a{b}",
        "/{}",
        "/{a",
        "/a/{b}c",
        "/{a}}",
        "/x}",
        "/1/2/3/4/5/6/7/8/9/0/1/2/3/4/5/6/7",   /* 17 segments */
        "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", /* 9 placeholders */
    };
    struct kd_route routes[2] = {{KD_HTTP_GET, NULL, noop, "x"}, {0, NULL, NULL, NULL}};
    struct kd_http_router rt;
    uv_loop_t loop;
    char why[160];

    (void)state;
    kd_log_setup(KD_LOG_ERROR, KD_LOG_TEXT);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        routes[0].pattern = bad[i];
        why[0] = '\0';
        assert_int_equal(kd_http_router_init(&rt, routes, why, sizeof(why)), KD_EINVAL);
        assert_true(strlen(why) > 0);
    }
    routes[0].pattern = "/ok";
    routes[0].handler = NULL;
    assert_int_equal(kd_http_router_init(&rt, routes, why, sizeof(why)), KD_EINVAL);
    routes[0].handler = noop;
    routes[0].method = (enum kd_http_method)42;
    assert_int_equal(kd_http_router_init(&rt, routes, why, sizeof(why)), KD_EINVAL);
    routes[0].method = KD_HTTP_GET;
    assert_int_equal(kd_http_router_init(&rt, NULL, why, sizeof(why)), KD_EINVAL);
    assert_int_equal(kd_http_router_init(&rt, routes, why, sizeof(why)), KD_OK);
    kd_http_router_free(&rt);

    /* the server refuses what the router refuses, and bad labels */
    assert_int_equal(uv_loop_init(&loop), 0);
    routes[0].pattern = "/a{b}";
    assert_null(kd_http_server_new(&loop, "t", NULL, routes, NULL, NULL));
    routes[0].pattern = "/ok";
    assert_null(kd_http_server_new(&loop, "", NULL, routes, NULL, NULL));
    assert_null(kd_http_server_new(&loop, "a-label-that-is-longer-than-31-bytes", NULL, routes,
                                   NULL, NULL));
    assert_null(kd_http_server_new(NULL, "t", NULL, routes, NULL, NULL));

    /* more than 1024 routes */
    {
        struct kd_route *many = calloc(1026, sizeof(*many));

        assert_non_null(many);
        for (int i = 0; i < 1025; i++)
            many[i] = (struct kd_route){KD_HTTP_GET, "/x", noop, "x"};
        assert_int_equal(kd_http_router_init(&rt, many, why, sizeof(why)), KD_EINVAL);
        free(many);
    }
    /* the metrics table refuses: bad route name, or no room for the label */
    {
        struct kd_metrics *m = kd_metrics_new();
        char name[80];
        unsigned idx;

        memset(name, 'n', 70);
        name[70] = '\0';
        routes[0].name = name;
        assert_null(kd_http_server_new(&loop, "t", NULL, routes, NULL, m));
        routes[0].name = "x";
        for (unsigned i = 0; i < KD_METRICS_MAX_SERVERS; i++) {
            snprintf(name, sizeof(name), "s%u", i);
            assert_int_equal(kd_metrics_server_add(m, name, &idx), KD_OK);
        }
        assert_null(kd_http_server_new(&loop, "t", NULL, routes, NULL, m));
        kd_metrics_free(m);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_pct_decode(void **state)
{
    char b[32];

    (void)state;
    strcpy(b, "a%20b%2Fc%zz%4");
    assert_int_equal(kd_http_pct_decode(b, b, strlen(b)), strlen("a b/c%zz%4"));
    assert_memory_equal(b, "a b/c%zz%4", strlen("a b/c%zz%4"));
    strcpy(b, "%6f%6F");
    assert_int_equal(kd_http_pct_decode(b, b, 6), 2);
    assert_memory_equal(b, "oo", 2);
    strcpy(b, "%41%61%");
    assert_int_equal(kd_http_pct_decode(b, b, 7), 3);
    assert_memory_equal(b, "Aa%", 3);
}

/* ------------------------------------------------------------------------------------------
 * Metrics text, exact.
 */

static void test_metrics_render_exact(void **state)
{
    static const char want[] =
        "# HELP kerid_http_requests_total HTTP requests answered, by server, route and status "
        "code.\n"
        "# TYPE kerid_http_requests_total counter\n"
        "kerid_http_requests_total{server=\"witness\",route=\"unmatched\",code=\"404\"} 1\n"
        "kerid_http_requests_total{server=\"witness\",route=\"health\",code=\"200\"} 3\n"
        "kerid_http_requests_total{server=\"witness\",route=\"health\",code=\"500\"} 1\n"
        "kerid_http_requests_total{server=\"w\\\"q\\\\\",route=\"r\",code=\"201\"} 1\n"
        "# HELP kerid_http_request_duration_seconds Time from the first byte of a request to "
        "its answer being queued.\n"
        "# TYPE kerid_http_request_duration_seconds histogram\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.0001\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.00025\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.0005\"} 2\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.001\"} 2\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.0025\"} 2\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.005\"} 2\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.01\"} 2\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.025\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.05\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.1\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.25\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"0.5\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"1\"} 3\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"2.5\"} 4\n"
        "kerid_http_request_duration_seconds_bucket{server=\"witness\",le=\"+Inf\"} 5\n"
        "kerid_http_request_duration_seconds_sum{server=\"witness\"} 12.0204\n"
        "kerid_http_request_duration_seconds_count{server=\"witness\"} 5\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.0001\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.00025\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.0005\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.001\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.0025\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.005\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.01\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.025\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.05\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.1\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.25\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"0.5\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"1\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"2.5\"} 1\n"
        "kerid_http_request_duration_seconds_bucket{server=\"w\\\"q\\\\\",le=\"+Inf\"} 1\n"
        "kerid_http_request_duration_seconds_sum{server=\"w\\\"q\\\\\"} 0\n"
        "kerid_http_request_duration_seconds_count{server=\"w\\\"q\\\\\"} 1\n"
        "# HELP kerid_http_connections_open Open HTTP connections.\n"
        "# TYPE kerid_http_connections_open gauge\n"
        "kerid_http_connections_open{server=\"witness\"} 1\n"
        "kerid_http_connections_open{server=\"w\\\"q\\\\\"} 0\n"
        "# HELP kerid_http_connections_accepted_total HTTP connections accepted.\n"
        "# TYPE kerid_http_connections_accepted_total counter\n"
        "kerid_http_connections_accepted_total{server=\"witness\"} 2\n"
        "kerid_http_connections_accepted_total{server=\"w\\\"q\\\\\"} 0\n"
        "# HELP kerid_http_connections_rejected_total HTTP connections refused over "
        "max_connections.\n"
        "# TYPE kerid_http_connections_rejected_total counter\n"
        "kerid_http_connections_rejected_total{server=\"witness\"} 1\n"
        "kerid_http_connections_rejected_total{server=\"w\\\"q\\\\\"} 0\n";
    struct kd_metrics *m = kd_metrics_new();
    unsigned w, w2, q, un, health, health2, r, x;
    struct kd_buf b;

    (void)state;
    assert_non_null(m);
    assert_int_equal(kd_metrics_server_add(m, "witness", &w), KD_OK);
    assert_int_equal(kd_metrics_server_add(m, "w\"q\\", &q), KD_OK);
    assert_int_equal(kd_metrics_server_add(m, "witness", &w2), KD_OK);
    assert_int_equal(w, w2);
    assert_int_equal(kd_metrics_route_add(m, w, "unmatched", &un), KD_OK);
    assert_int_equal(kd_metrics_route_add(m, w, "health", &health), KD_OK);
    assert_int_equal(kd_metrics_route_add(m, w, "health", &health2), KD_OK);
    assert_int_equal(health, health2);
    assert_int_equal(kd_metrics_route_add(m, q, "r\nx", &x), KD_EINVAL); /* control byte */
    assert_int_equal(kd_metrics_route_add(m, q, "idle", &x), KD_OK);     /* never counted */
    assert_int_equal(kd_metrics_route_add(m, 7, "x", &x), KD_EINVAL);
    assert_int_equal(kd_metrics_server_add(m, "", &x), KD_EINVAL);

    kd_metrics_request(m, health, 200, 0.00005); /* le 0.0001 */
    kd_metrics_request(m, health, 200, 0.0003);  /* le 0.0005 */
    kd_metrics_request(m, health, 500, 0.02);    /* le 0.025 */
    kd_metrics_request(m, health, 200, 2);       /* le 2.5 */
    kd_metrics_request(m, un, 404, 10.00005);    /* +Inf */
    kd_metrics_conn_accepted(m, w);
    kd_metrics_conn_accepted(m, w);
    kd_metrics_conn_closed(m, w);
    kd_metrics_conn_rejected(m, w);
    kd_metrics_conn_closed(m, q);       /* never below 0 */
    kd_metrics_request(m, 999, 200, 1); /* out of range: ignored */

    assert_int_equal(kd_metrics_route_add(m, q, "r", &r), KD_OK);
    kd_metrics_request(m, r, 201, -1); /* a negative latency counts as 0 */
    kd_buf_init(&b, 0);
    assert_int_equal(kd_metrics_render(m, &b), KD_OK);
    assert_non_null(b.data);
    b.data[b.len] = '\0';
    assert_string_equal((const char *)b.data, want);
    /* a bounded output buffer fails cleanly at every size below the text */
    {
        const size_t full = b.len;

        kd_buf_free(&b);
        for (size_t max = 1; max < full; max++) {
            kd_buf_init(&b, max);
            assert_int_equal(kd_metrics_render(m, &b), KD_ETOOLARGE);
            assert_true(b.len <= max);
            kd_buf_free(&b);
        }
        kd_buf_init(&b, full);
        assert_int_equal(kd_metrics_render(m, &b), KD_OK);
        kd_buf_free(&b);
    }
    assert_int_equal(kd_metrics_render(NULL, &b), KD_EINVAL);
    kd_metrics_free(m);
}

static void test_metrics_bounds(void **state)
{
    struct kd_metrics *m = kd_metrics_new();
    char name[80];
    unsigned s, r, x;
    struct kd_buf b;

    (void)state;
    for (unsigned i = 0; i < KD_METRICS_MAX_SERVERS; i++) {
        snprintf(name, sizeof(name), "s%u", i);
        assert_int_equal(kd_metrics_server_add(m, name, &s), KD_OK);
        assert_int_equal(s, i);
    }
    assert_int_equal(kd_metrics_server_add(m, "one-more", &s), KD_ETOOLARGE);
    memset(name, 'n', 64);
    name[64] = '\0';
    assert_int_equal(kd_metrics_route_add(m, 0, name, &r), KD_EINVAL); /* 64 > 63 bytes */
    name[63] = '\0';
    assert_int_equal(kd_metrics_route_add(m, 0, name, &r), KD_OK);
    for (unsigned i = 1; i < KD_METRICS_MAX_ROUTES; i++) {
        snprintf(name, sizeof(name), "r%u", i);
        assert_int_equal(kd_metrics_route_add(m, i % KD_METRICS_MAX_SERVERS, name, &x), KD_OK);
    }
    assert_int_equal(kd_metrics_route_add(m, 0, "full", &x), KD_ETOOLARGE);
    /* more distinct codes than the table holds: the rest count as "other" */
    for (int code = 200; code < 200 + KD_METRICS_MAX_CODES + 3; code++)
        kd_metrics_request(m, r, code, 0.001);
    kd_metrics_request(m, r, 42, 0.001);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_metrics_render(m, &b), KD_OK);
    b.data[b.len] = '\0';
    assert_non_null(strstr((const char *)b.data, "code=\"other\"} 4\n"));
    assert_non_null(strstr((const char *)b.data, "code=\"223\"} 1\n"));
    assert_null(strstr((const char *)b.data, "code=\"224\""));
    assert_non_null(strstr((const char *)b.data,
                           "kerid_http_request_duration_seconds_count{server=\"s0\"} 28\n"));
    kd_buf_free(&b);
    kd_metrics_free(m);
}

/* ------------------------------------------------------------------------------------------
 * Listening and lifecycle without traffic.
 */

static int g_done;

static void count_done(void *arg)
{
    (void)arg;
    g_done++;
}

static void test_listen_errors(void **state)
{
    uv_loop_t loop;
    struct kd_http_server *a, *b;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    a = kd_http_server_new(&loop, "a", NULL, test_routes, NULL, NULL);
    b = kd_http_server_new(&loop, "b", NULL, test_routes, NULL, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(kd_http_server_port(a), 0);
    assert_int_equal(kd_http_server_listen(a, "not-an-address", 0), KD_EINVAL);
    assert_int_equal(kd_http_server_listen(a, "127.0.0.1", 0), KD_OK);
    assert_int_equal(kd_http_server_listen(a, "127.0.0.1", 0), KD_EINVAL); /* twice */
    /* the port is taken */
    assert_int_equal(kd_http_server_listen(b, "127.0.0.1", kd_http_server_port(a)), KD_EIO);
    g_done = 0;
    kd_http_server_shutdown(a, count_done, NULL);
    kd_http_server_shutdown(a, count_done, NULL); /* second call: nothing */
    kd_http_server_shutdown(b, NULL, NULL);
    assert_int_equal(g_done, 0); /* the listener closes asynchronously */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g_done, 1);
    assert_int_equal(kd_http_server_listen(a, "127.0.0.1", 0), KD_EINVAL); /* after shutdown */
    kd_http_server_free(a);
    kd_http_server_free(b);

    /* NULL address = all IPv4 interfaces; out-of-range limits are clamped */
    {
        const struct kd_http_limits huge = {.max_header_bytes = SIZE_MAX,
                                            .max_body_bytes = SIZE_MAX};

        a = kd_http_server_new(&loop, "a", &huge, test_routes, NULL, NULL);
        assert_non_null(a);
        assert_int_equal(kd_http_server_listen(a, NULL, 0), KD_OK);
        assert_true(kd_http_server_port(a) != 0);
        g_done = 0;
        kd_http_server_shutdown(a, count_done, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(g_done, 1);
        kd_http_server_free(a);
    }

    /* never listened: done at once; free is fine */
    a = kd_http_server_new(&loop, "a", NULL, test_routes, NULL, NULL);
    g_done = 0;
    kd_http_server_shutdown(a, count_done, NULL);
    assert_int_equal(g_done, 1);
    kd_http_server_free(a);
    kd_http_server_free(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------------------------------------------
 * Traffic.
 */

static void test_simple_get(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(starts_with(r.head, "HTTP/1.1 200 OK\r\n"));
    assert_true(resp_has_hdr(&r, "Content-Length", "5"));
    assert_true(resp_has_hdr(&r, "Content-Type", "text/plain"));
    assert_int_equal(resp_hdr(&r, "Connection", (char[8]){0}, 8), -1);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_req(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "root");
    resp_free(&r);
    /* absolute-form target */
    cli_req(c, "GET http://example.com:80/hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_req(c, "GET HTTPS://example.com/hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_req(c, "GET http://example.com HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "root");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_keep_alive(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    for (int i = 0; i < 20; i++) {
        cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello");
        resp_free(&r);
    }
    /* requests split byte by byte still parse */
    {
        static const char req[] =
            "POST /echo/x/y HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";

        for (size_t i = 0; i < sizeof(req) - 1; i++) {
            cli_sendn(c, req + i, 1);
            if (i % 7 == 0)
                sleep_ms(1);
        }
        assert_int_equal(cli_resp(c, &r, 0), 0);
        assert_string_equal(r.body, "x|y|-|abc");
        resp_free(&r);
    }
    cli_free(c);
    srv_stop(&sv);
}

static void test_pipelined(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char many[64 * 40];

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    /* a slow asynchronous request in the middle keeps its place */
    cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /slow/100 HTTP/1.1\r\nHost: t\r\n\r\n"
                "POST /echo/a/b HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
                "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "slow");
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "a|b|-|body");
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Content-Length", "5"));
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    assert_int_equal(atomic_load(&sv.async_answered), 1);

    /* more asynchronous requests than the read buffer holds, in one write:
     * reading pauses while the buffer is full, and every answer comes in order */
    {
        static const char one[] = "GET /slow/0 HTTP/1.1\r\nHost: t\r\n\r\n";
        const int n = 1000;
        char *all = malloc(sizeof(one) * (size_t)n);
        size_t off = 0;

        assert_non_null(all);
        for (int i = 0; i < n; i++) {
            memcpy(all + off, one, sizeof(one) - 1);
            off += sizeof(one) - 1;
        }
        cli_sendn(c, all, off);
        free(all);
        for (int i = 0; i < n; i++) {
            assert_int_equal(cli_resp(c, &r, 0), 0);
            assert_string_equal(r.body, "slow");
            resp_free(&r);
        }
    }

    /* 40 requests in one write */
    many[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(many, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cli_send(c, many);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(cli_resp(c, &r, 0), 0);
        assert_string_equal(r.body, "hello");
        resp_free(&r);
    }
    cli_free(c);
    srv_stop(&sv);
}

static void test_chunked_and_continue(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c,
            "POST /echo/c/d HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "c|d|-|abcdefg");
    resp_free(&r);
    /* Expect: 100-continue is answered before the body is sent */
    cli_send(c, "POST /echo/e/f HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 100);
    assert_true(starts_with(r.head, "HTTP/1.1 100 Continue\r\n\r\n"));
    resp_free(&r);
    cli_send(c, "12345");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "e|f|-|12345");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

/* The JSON error body of err with message msg, as the brief and err.h define it. */
static void assert_json_error(const struct resp *r, int status, const char *name, const char *msg)
{
    char want[512];

    snprintf(want, sizeof(want), "{\"error\":\"%s\",\"message\":\"%s\"}", name, msg);
    assert_int_equal(r->status, status);
    assert_true(resp_has_hdr(r, "Content-Type", "application/json"));
    assert_string_equal(r->body, want);
}

static void test_body_limits(void **state)
{
    const struct kd_http_limits lim = {.max_body_bytes = 100};
    char req[512], body[128];
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, &lim);
    memset(body, 'b', 101);
    body[101] = '\0';

    c = cli_new(sv.port);
    snprintf(req, sizeof(req),
             "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n%.100s", body);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen("1|2|-|") + 100);
    resp_free(&r);
    /* chunked, exactly at the limit */
    snprintf(req, sizeof(req),
             "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3c\r\n%.60s\r\n28\r\n%.40s\r\n0\r\n\r\n",
             body, body);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen("1|2|-|") + 100);
    resp_free(&r);
    /* chunked, one byte over */
    snprintf(req, sizeof(req),
             "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3c\r\n%.60s\r\n29\r\n%.41s\r\n0\r\n\r\n",
             body, body);
    cli_req(c, req, &r);
    assert_json_error(&r, 413, "payload_too_large", "request body too large");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* Content-Length over the limit: 413 before any body byte is sent */
    c = cli_new(sv.port);
    cli_req(c, "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", &r);
    assert_json_error(&r, 413, "payload_too_large", "request body too large");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* body sent along with an over-limit Content-Length: the answer still arrives */
    c = cli_new(sv.port);
    snprintf(req, sizeof(req),
             "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n%s", body);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    cli_free(c);

    /* a huge Content-Length does not allocate */
    c = cli_new(sv.port);
    cli_req(c, "POST /echo/1/2 HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551615\r\n\r\n",
            &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_header_limits(void **state)
{
    const struct kd_http_limits lim = {.max_header_bytes = 1024};
    char req[4096], big[2100];
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, &lim);
    memset(big, 'h', 2000);
    big[2000] = '\0';

    /* a long header line */
    c = cli_new(sv.port);
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    cli_req(c, req, &r);
    assert_json_error(&r, 431, "headers_too_large", "request headers too large");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* a long header name */
    c = cli_new(sv.port);
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-%s: v\r\n\r\n", big);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 431);
    resp_free(&r);
    cli_free(c);

    /* a long request target */
    c = cli_new(sv.port);
    snprintf(req, sizeof(req), "GET /hello?%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
    cli_req(c, req, &r);
    assert_json_error(&r, 414, "uri_too_long", "request target too long");
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* blanks llhttp skips without a callback count too */
    c = cli_new(sv.port);
    memset(big, ' ', 2000);
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost:%s", big);
    cli_send(c, req);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 431);
    resp_free(&r);
    cli_free(c);

    /* too many header lines, each short */
    c = cli_new(sv.port);
    strcpy(req, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < KD_HTTP_MAX_HEADERS + 1; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "X%d: v\r\n", i);
    strcat(req, "\r\n");
    assert_true(strlen(req) < 1024);
    cli_req(c, req, &r);
    assert_json_error(&r, 431, "headers_too_large", "too many header lines");
    resp_free(&r);
    cli_free(c);

    /* chunked trailers are bounded like headers */
    c = cli_new(sv.port);
    memset(big, 't', 2000);
    big[2000] = '\0';
    snprintf(req, sizeof(req),
             "POST /echo/a/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n"
             "X-T: %s\r\n\r\n",
             big);
    cli_req(c, req, &r);
    assert_json_error(&r, 431, "headers_too_large", "request trailers too large");
    resp_free(&r);
    cli_free(c);

    /* just under the limit passes */
    c = cli_new(sv.port);
    memset(big, 'h', 900);
    big[900] = '\0';
    snprintf(req, sizeof(req), "GET /hdr HTTP/1.1\r\nX-Test: %s\r\n\r\n", big);
    assert_true(strlen(req) < 1024);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, big);
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET /hello HTTP/9.9\r\n\r\n",
        "GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n",
        "POST /echo/a/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /hello HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /echo/a/b HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n",
    };
    struct srv sv;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cli *c = cli_new(sv.port);

        cli_req(c, bad[i], &r);
        assert_int_equal(r.status, 400);
        assert_true(resp_has_hdr(&r, "Content-Type", "application/json"));
        assert_true(starts_with(r.body, "{\"error\":\"bad_request\",\"message\":\""));
        assert_true(resp_has_hdr(&r, "Connection", "close"));
        resp_free(&r);
        assert_int_equal(cli_closed(c, 3000), 1);
        cli_free(c);
    }
    srv_stop(&sv);
}

static void test_not_found_and_method(void **state)
{
    static const char *const missing[] = {"/nope",  "/hello/",  "//hello", "/echo/a",
                                          "/HELLO", "/echo//b", "*"};
    struct srv sv;
    struct cli *c;
    struct resp r;
    char req[256];

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", missing[i]);
        cli_req(c, req, &r); /* keep-alive survives */
        assert_json_error(&r, 404, "not_found", "no such resource");
        resp_free(&r);
    }
    cli_req(c, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    assert_json_error(&r, 405, "method_not_allowed", "method not allowed on this path");
    assert_true(resp_has_hdr(&r, "Allow", "GET, HEAD, DELETE"));
    resp_free(&r);
    cli_req(c, "PATCH /echo/a/b HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_true(resp_has_hdr(&r, "Allow", "POST"));
    resp_free(&r);
    cli_req(c, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* HEAD of a GET route: headers of the GET answer, no body */
    cli_req(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Content-Length", "5"));
    assert_int_equal(c->len, 0); /* nothing after the header block */
    resp_free(&r);
    /* HEAD of an unknown path: 404 without body */
    cli_req(c, "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    /* a handler's JSON error, message escaped */
    cli_req(c, "GET /err HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_json_error(&r, 400, "bad_cesr", "bad \\\"x\\\"\\n\\\\");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_params_and_headers(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c,
            "POST /echo/ab%20c/E%2Fx?x=1&y=%20 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nzz",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ab c|E/x|x=1&y=%20|zz");
    resp_free(&r);
    cli_req(c, "POST /echo/a/b? HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    assert_string_equal(r.body, "a|b||"); /* empty query is not "no query" */
    resp_free(&r);
    /* query parameters: first occurrence, percent and '+' decoding, bounds */
    {
        static const char *const cases[][2] = {
            {"/qp", "0:;0:;0:"},
            {"/qp?a=1&b=x%2By+z&a=2", "1:1;1:x+y z;0:"},
            {"/qp?aa=1&a&b=", "-1:;-1:;0:"},
            {"/qp?a=%zz&b=%4&long=1234567", "-1:;-1:;1:1234567"},
            {"/qp?a=%00&long=12345678", "-1:;0:;-1:"},
            {"/qp?=1&a=%41", "1:A;0:;0:"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char line[128];

            snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i][0]);
            cli_req(c, line, &r);
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, cases[i][1]);
            resp_free(&r);
        }
    }
    cli_req(c, "GET /hdr HTTP/1.1\r\nHost: t\r\nx-test:   spaced value \t \r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "spaced value");
    assert_true(resp_has_hdr(&r, "X-Reply", "yes"));
    assert_int_equal(resp_hdr(&r, "X-Inject", (char[8]){0}, 8), -1);
    assert_int_equal(resp_hdr(&r, "Set-Cookie", (char[8]){0}, 8), -1);
    assert_int_equal(atomic_load(&sv.hdr_checks), 0x3ff);
    resp_free(&r);
    cli_req(c, "GET /hdr HTTP/1.1\r\nHost: t\r\nX-Test:\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, ""); /* present and empty */
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_connection_close_and_http10(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    assert_true(resp_has_hdr(&r, "Connection", "keep-alive"));
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.0\r\n\r\n", &r);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* an Upgrade request is answered normally and the connection closed */
    c = cli_new(sv.port);
    cli_req(c,
            "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* half-close after pipelined requests: all answered, then closed */
    c = cli_new(sv.port);
    cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /slow/50 HTTP/1.1\r\nHost: t\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_string_equal(r.body, "slow");
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);
    srv_stop(&sv);
}

static void test_timeouts(void **state)
{
    const struct kd_http_limits lim = {
        .header_timeout_ms = 200, .body_timeout_ms = 200, .idle_timeout_ms = 300};
    struct srv sv;
    struct cli *c;
    struct resp r;
    uint64_t t0;

    (void)state;
    srv_start(&sv, &lim);

    /* slowloris: headers never finish */
    c = cli_new(sv.port);
    t0 = now_ms();
    cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    sleep_ms(100);
    cli_send(c, "X-A: 1\r\n"); /* trickling bytes does not extend the deadline */
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_true(now_ms() - t0 >= 180);
    assert_true(now_ms() - t0 < 2000);
    assert_json_error(&r, 408, "request_timeout", "request not received in time");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* body never finishes */
    c = cli_new(sv.port);
    t0 = now_ms();
    cli_send(c, "POST /echo/a/b HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_true(now_ms() - t0 >= 180);
    assert_int_equal(r.status, 408);
    resp_free(&r);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);

    /* idle keep-alive connection */
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    t0 = now_ms();
    assert_int_equal(cli_closed(c, 3000), 1);
    assert_true(now_ms() - t0 >= 250);
    cli_free(c);

    /* a connection that never sends anything */
    c = cli_new(sv.port);
    t0 = now_ms();
    assert_int_equal(cli_closed(c, 3000), 1);
    assert_true(now_ms() - t0 >= 250);
    cli_free(c);

    /* a slow handler is not timed out */
    c = cli_new(sv.port);
    cli_req(c, "GET /slow/500 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "slow");
    resp_free(&r);
    /* and the connection is still usable right after */
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_max_connections(void **state)
{
    const struct kd_http_limits lim = {.max_connections = 2};
    struct srv sv;
    struct cli *a, *b, *x, *d;
    struct resp r;
    int ok = 0;

    (void)state;
    srv_start(&sv, &lim);
    a = cli_new(sv.port);
    b = cli_new(sv.port);
    cli_req(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    cli_req(b, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    x = cli_new(sv.port);
    assert_int_equal(cli_resp(x, &r, 0), 0);
    assert_json_error(&r, 503, "unavailable", "too many open connections");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(x, 3000), 1);
    cli_free(x);
    /* a slot frees when a connection closes (the newer one first) */
    cli_free(b);
    for (int i = 0; i < 50 && !ok; i++) {
        sleep_ms(20);
        d = cli_new(sv.port);
        cli_send(d, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        if (cli_resp(d, &r, 0) == 0 && r.status == 200) {
            ok = 1;
            assert_int_equal(
                metric_value(r.body, "kerid_http_connections_rejected_total{server=\"test\"}"),
                1 + i);
            assert_int_equal(metric_value(r.body, "kerid_http_connections_open{server=\"test\"}"),
                             2);
        }
        resp_free(&r);
        cli_free(d);
    }
    assert_true(ok);
    cli_free(a);
    srv_stop(&sv);
}

static void test_client_gone_while_pending(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    /* reset while the handler works: the request is orphaned, then released */
    c = cli_new(sv.port);
    cli_send(c, "GET /slow/150 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(30);
    cli_reset(c);
    cli_free(c);
    c = cli_new(sv.port);
    cli_send(c, "GET /slowerr/150 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(30);
    cli_reset(c);
    cli_free(c);
    /* plain close (FIN) while the handler works, with more requests queued */
    c = cli_new(sv.port);
    cli_send(c, "GET /slow/150 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(30);
    cli_free(c);
    while (atomic_load(&sv.async_answered) < 3)
        sleep_ms(10);
    sleep_ms(50);
    /* the server is fine and counted both slow requests */
    get_metrics(sv.port, &r);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"slow\",code=\"200\"}"),
        2);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"slowerr\",code=\"500\"}"),
        1);
    assert_int_equal(metric_value(r.body, "kerid_http_connections_open{server=\"test\"}"), 1);
    resp_free(&r);
    /* the same error answer reaches a client that waits for it */
    {
        struct cli *w = cli_new(sv.port);

        cli_req(w, "GET /slowerr/10 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_json_error(&r, 500, "storage_failure", "storage failure");
        resp_free(&r);
        cli_free(w);
    }
    srv_stop(&sv);
}

static void test_graceful_shutdown(void **state)
{
    struct srv sv;
    struct cli *busy, *idle, *x;
    struct resp r;
    uint64_t t0;

    (void)state;
    srv_start(&sv, NULL);
    idle = cli_new(sv.port);
    cli_req(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    busy = cli_new(sv.port);
    cli_send(busy, "GET /slow/400 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50);
    t0 = now_ms();
    srv_begin_shutdown(&sv);
    /* the idle connection closes now, not when the slow request ends */
    assert_int_equal(cli_closed(idle, 3000), 1);
    assert_true(now_ms() - t0 < 300);
    assert_int_equal(atomic_load(&sv.done_called), 0);
    /* the request in flight is answered, with Connection: close */
    assert_int_equal(cli_resp(busy, &r, 0), 0);
    assert_string_equal(r.body, "slow");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(cli_closed(busy, 3000), 1);
    cli_free(busy); /* ends the server's lingering close at once */
    srv_join(&sv);
    /* nothing listens any more */
    x = malloc(sizeof(*x));
    assert_non_null(x);
    assert_int_equal(cli_open(x, sv.port), -ECONNREFUSED);
    free(x);
    cli_free(idle);
}

static void test_large_and_backpressure(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char reqs[40 * 48];

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c, "GET /big/4096 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 4096 * 1024);
    for (size_t i = 0; i < r.body_len; i += 4099)
        assert_int_equal(r.body[i], 'a' + i % 26);
    resp_free(&r);
    /* many pipelined large answers to a client that reads late */
    reqs[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(reqs, "GET /big/256 HTTP/1.1\r\nHost: t\r\n\r\n");
    cli_send(c, reqs);
    sleep_ms(200);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(cli_resp(c, &r, 0), 0);
        assert_int_equal(r.body_len, 256 * 1024);
        assert_int_equal(r.body[r.body_len - 1], 'a' + (r.body_len - 1) % 26);
        resp_free(&r);
    }
    cli_free(c);
    srv_stop(&sv);
}

static void test_metrics_via_http(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    for (int i = 0; i < 3; i++) {
        cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        resp_free(&r);
    }
    cli_req(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    cli_req(c, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    resp_free(&r);
    cli_req(c, "GET /err HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    cli_req(c, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"hello\",code=\"200\"}"),
        3);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"hello\",code=\"405\"}"),
        1);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"unmatched\",code=\"404\"}"),
        1);
    /* a route without a name is labelled by its pattern */
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"/err\",code=\"400\"}"),
        1);
    /* the /metrics request itself is counted after it is answered */
    assert_int_equal(
        metric_value(r.body, "kerid_http_request_duration_seconds_count{server=\"test\"}"), 6);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_request_duration_seconds_bucket{server=\"test\",le=\"+Inf\"}"),
        6);
    assert_int_equal(metric_value(r.body, "kerid_http_connections_open{server=\"test\"}"), 1);
    assert_int_equal(metric_value(r.body, "kerid_http_connections_accepted_total{server=\"test\"}"),
                     1);
    assert_int_equal(count_occurrences(r.body, "# TYPE kerid_http_requests_total counter\n"), 1);
    assert_int_equal(
        count_occurrences(r.body, "# TYPE kerid_http_request_duration_seconds histogram\n"), 1);
    assert_int_equal(count_occurrences(r.body, "# TYPE "), 5);
    assert_int_equal(count_occurrences(r.body, "# HELP "), 5);
    /* buckets are cumulative: never decreasing */
    {
        const char *p = r.body;
        long long last = -1, v;
        int n = 0;

        while ((p = strstr(p, "kerid_http_request_duration_seconds_bucket{")) != NULL) {
            p = strchr(p, '}');
            v = strtoll(p + 2, NULL, 10);
            assert_true(v >= last);
            last = v;
            n++;
        }
        assert_int_equal(n, KD_METRICS_BUCKETS);
    }
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

/* Random bytes (mostly HTTP-shaped) on many connections: the server answers
 * or closes, and keeps serving. */
static void test_random_input(void **state)
{
    static const char *const atoms[] = {
        "GET ",
        "POST ",
        "HEAD ",
        "/",
        "/echo/",
        "/hello",
        "?",
        "%",
        "%2",
        " HTTP/1.1",
        " HTTP/1.0",
        "\r\n",
        "\n",
        "\r",
        ":",
        " ",
        "Content-Length: ",
        "Transfer-Encoding: chunked",
        "0",
        "5",
        "ffffffffffffffff",
        "Expect: 100-continue",
        "Connection: close",
        "{",
        "}",
        "\t",
        "\x00",
        "\xff",
        "a",
        "Host: x",
    };
    const struct kd_http_limits lim = {.max_header_bytes = 512,
                                       .max_body_bytes = 64,
                                       .header_timeout_ms = 300,
                                       .body_timeout_ms = 300};
    unsigned seed = 12345;
    struct srv sv;
    struct resp r;

    (void)state;
    srv_start(&sv, &lim);
    for (int round = 0; round < 300; round++) {
        struct cli *c = cli_new(sv.port);
        char blob[1024];
        size_t n = 0;
        const int k = 1 + (int)(rand_r(&seed) % 40);

        for (int i = 0; i < k; i++) {
            if (rand_r(&seed) % 4 == 0) {
                blob[n++] = (char)(rand_r(&seed) & 0xff);
            } else {
                const char *a = atoms[rand_r(&seed) % (sizeof(atoms) / sizeof(atoms[0]))];
                const size_t l = a[0] == '\0' ? 1 : strlen(a);

                memcpy(blob + n, a, l);
                n += l;
            }
        }
        cli_sendn(c, blob, n);
        shutdown(c->fd, SHUT_WR);
        /* drain until the server closes */
        for (;;) {
            char b[4096];
            const ssize_t got = recv(c->fd, b, sizeof(b), 0);

            if (got <= 0)
                break;
        }
        cli_free(c);
    }
    {
        struct cli *c = cli_new(sv.port);

        cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_string_equal(r.body, "hello");
        resp_free(&r);
        cli_free(c);
    }
    srv_stop(&sv);
}

static void test_answer_rules(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    /* statuses outside 200..599 become 500 */
    cli_req(c, "GET /status/42 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_true(starts_with(r.head, "HTTP/1.1 500 Internal Server Error\r\n"));
    assert_string_equal(r.body, "st");
    resp_free(&r);
    cli_req(c, "GET /status/101 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    resp_free(&r);
    cli_req(c, "GET /status/600 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    resp_free(&r);
    cli_req(c, "GET /status/599 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_true(starts_with(r.head, "HTTP/1.1 599 Unknown\r\n"));
    resp_free(&r);
    /* 204: neither Content-Length nor body (RFC 9110 8.6) */
    cli_req(c, "GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(resp_hdr(&r, "Content-Length", (char[8]){0}, 8), -1);
    resp_free(&r);
    cli_req(c, "GET /status/201 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_true(starts_with(r.head, "HTTP/1.1 201 Created\r\n"));
    resp_free(&r);
    /* a Content-Type with CR/LF is dropped, not sent */
    cli_req(c, "GET /badctype HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(resp_hdr(&r, "Content-Type", (char[8]){0}, 8), -1);
    assert_int_equal(resp_hdr(&r, "X-Evil", (char[8]){0}, 8), -1);
    resp_free(&r);
    /* a second answer to one request is ignored */
    cli_req(c, "GET /twice HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "one");
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

static void test_write_errors(void **state)
{
    const struct kd_http_limits lim = {.body_timeout_ms = 300};
    struct srv sv;
    struct cli *c;
    struct resp r;
    size_t got = 0;

    (void)state;
    srv_start(&sv, &lim);
    /* the client resets in the middle of a large answer */
    c = cli_new(sv.port);
    cli_send(c, "GET /big/16384 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(cli_fill(c) > 0);
    cli_reset(c);
    cli_free(c);
    /* a client that stops reading is dropped once the write stalls past
     * body_timeout_ms */
    c = malloc(sizeof(*c));
    assert_non_null(c);
    assert_int_equal(cli_open_rcvbuf(c, sv.port, 65536), 0);
    cli_send(c, "GET /big/16384 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(800);
    for (;;) {
        char b[65536];
        const ssize_t n = recv(c->fd, b, sizeof(b), 0);

        if (n <= 0)
            break;
        got += (size_t)n;
    }
    assert_true(got < 16384u * 1024u);
    cli_free(c);
    /* the server carries on */
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

/* No metrics registry, IPv6 loopback. */
static void test_no_metrics_ipv6(void **state)
{
    struct sockaddr_in6 a;
    struct srv sv;
    struct cli c;
    struct resp r;
    struct timeval tv = {5, 0};

    (void)state;
    srv_start_at(&sv, NULL, "::1", 0);
    memset(&c, 0, offsetof(struct cli, buf));
    c.fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(c.fd >= 0);
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(sv.port);
    a.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(c.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cli_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_req(&c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    close(c.fd);
    srv_stop(&sv);
}

/* ------------------------------------------------------------------------------------------
 * Streamed answers (kd_http_stream_*) and CORS.
 */

/* Waits up to ms for *v to reach want. */
static int wait_atomic(atomic_int *v, int want, unsigned ms)
{
    const uint64_t end = now_ms() + ms;

    while (atomic_load(v) < want && now_ms() < end)
        sleep_ms(5);
    return atomic_load(v);
}

/* Reads a chunked body (RFC 9112 §7.1) after the head cli_resp read: the
 * chunks' data into *body (malloc'd, NUL-terminated), their number into
 * *nchunks. 0 at the last chunk, -1 if the connection ends first or the
 * framing is wrong. */
static int cli_chunked(struct cli *c, char **body, size_t *len, size_t *nchunks)
{
    size_t cap = 4096;

    *len = 0;
    *nchunks = 0;
    *body = malloc(cap);
    assert_non_null(*body);
    for (;;) {
        char *eol;
        size_t size, hl;

        while ((eol = memmem(c->buf, c->len, "\r\n", 2)) == NULL) {
            if (cli_fill(c) <= 0)
                return -1;
        }
        size = strtoul(c->buf, NULL, 16);
        hl = (size_t)(eol - c->buf) + 2;
        while (c->len < hl + size + 2) {
            if (cli_fill(c) <= 0)
                return -1;
        }
        if (memcmp(c->buf + hl + size, "\r\n", 2) != 0)
            return -1;
        if (*len + size + 1 > cap) {
            while (*len + size + 1 > cap)
                cap *= 2;
            *body = realloc(*body, cap);
            assert_non_null(*body);
        }
        memcpy(*body + *len, c->buf + hl, size);
        *len += size;
        (*body)[*len] = '\0';
        memmove(c->buf, c->buf + hl + size + 2, c->len - hl - size - 2);
        c->len -= hl + size + 2;
        if (size == 0)
            return 0;
        (*nchunks)++;
    }
}

/* Checks that body holds pieces 0..n-1 of size bytes as strm_piece makes them. */
static void check_pieces(const char *body, size_t len, unsigned long n, unsigned long size)
{
    char *want = malloc(size + 32);

    assert_non_null(want);
    assert_int_equal(len, n * size);
    for (unsigned long i = 0; i < n; i++) {
        strm_piece(want, i, size);
        assert_memory_equal(body + i * size, want, size);
    }
    free(want);
}

static void test_stream_many_writes(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char *body;
    size_t len, nchunks;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    /* 200 writes, 2 ms apart, each its own chunk */
    cli_send(c, "GET /stream/200/100/2 HTTP/1.1\r\nHost: t\r\nOrigin: http://o\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Content-Type", "text/event-stream"));
    assert_true(resp_has_hdr(&r, "Transfer-Encoding", "chunked"));
    assert_true(resp_has_hdr(&r, "X-Stream", "yes"));
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Origin", "*"));
    {
        char v[64];

        assert_int_equal(resp_hdr(&r, "Content-Length", v, sizeof(v)), -1);
        assert_int_equal(resp_hdr(&r, "Connection", v, sizeof(v)), -1);
    }
    resp_free(&r);
    assert_int_equal(wait_atomic(&sv.stream_checks, 0x7f, 2000), 0x7f);
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    check_pieces(body, len, 200, 100);
    assert_true(nchunks >= 1 && nchunks <= 200);
    free(body);
    assert_int_equal(wait_atomic(&sv.st_freed, 1, 2000), 1);
    assert_int_equal(atomic_load(&sv.st_ended), 1);
    assert_int_equal(atomic_load(&sv.st_closed), 0);
    /* the connection is kept and serves the next request */
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    /* a stream of large pieces written at once, read as it comes */
    cli_send(c, "GET /stream/64/20000/0 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    check_pieces(body, len, 64, 20000);
    free(body);
    cli_free(c);
    get_metrics(sv.port, &r);
    assert_int_equal(
        metric_value(r.body,
                     "kerid_http_requests_total{server=\"test\",route=\"stream\",code=\"200\"}"),
        2);
    resp_free(&r);
    srv_stop(&sv);
}

static void test_stream_http10_close_head(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char *body, v[64];
    size_t len, nchunks;

    (void)state;
    srv_start(&sv, NULL);
    /* HTTP/1.0: no chunks, the close ends the body */
    c = cli_new(sv.port);
    cli_send(c, "GET /stream/5/10/3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    assert_int_equal(resp_hdr(&r, "Transfer-Encoding", v, sizeof(v)), -1);
    assert_int_equal(resp_hdr(&r, "Content-Length", v, sizeof(v)), -1);
    resp_free(&r);
    while (c->len < 50 && cli_fill(c) > 0)
        ;
    assert_int_equal(c->len, 50);
    check_pieces(c->buf, c->len, 5, 10);
    c->len = 0;
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);
    /* HTTP/1.1 asking to close: chunked, Connection: close, closed after the last chunk */
    c = cli_new(sv.port);
    cli_send(c, "GET /stream/3/10/0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    assert_true(resp_has_hdr(&r, "Transfer-Encoding", "chunked"));
    resp_free(&r);
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    check_pieces(body, len, 3, 10);
    free(body);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);
    /* HEAD: the head only, then the next request on the same connection */
    c = cli_new(sv.port);
    cli_req(c, "HEAD /stream/3/10/0 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Transfer-Encoding", "chunked"));
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello"); /* nothing of the HEAD stream came before it */
    resp_free(&r);
    cli_free(c);
    assert_int_equal(wait_atomic(&sv.st_freed, 3, 2000), 3);
    srv_stop(&sv);
}

static void test_stream_client_gone(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    /* FIN in the middle of an endless stream */
    c = cli_new(sv.port);
    cli_send(c, "GET /stream/0/100/5 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    while (c->len < 300 && cli_fill(c) > 0)
        ;
    cli_free(c);
    /* told by CLOSED, or by a failed write if one came first */
    assert_int_equal(wait_atomic(&sv.st_freed, 1, 3000), 1);
    assert_int_equal(atomic_load(&sv.st_closed) + atomic_load(&sv.st_write_errs), 1);
    /* reset in the middle of another */
    c = cli_new(sv.port);
    cli_send(c, "GET /stream/0/100/5 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    cli_reset(c);
    cli_free(c);
    assert_int_equal(wait_atomic(&sv.st_freed, 2, 3000), 2);
    assert_int_equal(atomic_load(&sv.st_closed) + atomic_load(&sv.st_write_errs), 2);
    assert_int_equal(atomic_load(&sv.st_ended), 2);
    assert_int_equal(atomic_load(&sv.st_shutdown), 0);
    /* the server carries on; only this connection is open */
    get_metrics(sv.port, &r);
    assert_int_equal(metric_value(r.body, "kerid_http_connections_open{server=\"test\"}"), 1);
    resp_free(&r);
    srv_stop(&sv);
}

static void test_stream_slow_reader(void **state)
{
    const struct kd_http_limits lim = {.max_stream_queue_bytes = 256 * 1024,
                                       .body_timeout_ms = 20000};
    const struct kd_http_limits roomy = {.max_stream_queue_bytes = 64u << 20};
    struct srv sv;
    struct cli *c;
    struct resp r;
    char *body;
    size_t len, nchunks;
    uint64_t t0;

    (void)state;
    srv_start(&sv, &lim);
    /* a client that does not read: the queue bound closes it, long before
     * the write timeout would */
    c = malloc(sizeof(*c));
    assert_non_null(c);
    assert_int_equal(cli_open_rcvbuf(c, sv.port, 16384), 0);
    t0 = now_ms();
    cli_send(c, "GET /stream/0/65536/0 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(wait_atomic(&sv.st_ended, 1, 5000), 1);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(atomic_load(&sv.st_write_err), KD_EUNAVAIL);
    assert_int_equal(atomic_load(&sv.st_closed), 0); /* ended on the write error, not told */
    {
        size_t got = 0;
        char b[65536];
        ssize_t n;

        while ((n = recv(c->fd, b, sizeof(b), 0)) > 0)
            got += (size_t)n;
        assert_true(n == 0 || errno == ECONNRESET); /* closed, not timed out */
        assert_true(got < 64u << 20);
    }
    cli_free(c);
    assert_int_equal(wait_atomic(&sv.st_freed, 1, 2000), 1);
    srv_stop(&sv);

    /* a client that reads late but reads everything: writes wait, DRAINED
     * says when the queue is empty again, nothing is lost */
    srv_start(&sv, &roomy);
    c = malloc(sizeof(*c));
    assert_non_null(c);
    assert_int_equal(cli_open_rcvbuf(c, sv.port, 16384), 0);
    cli_send(c, "GET /stream/768/16384/0 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(300);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    check_pieces(body, len, 768, 16384);
    free(body);
    assert_int_equal(atomic_load(&sv.st_drained), 1); /* the stream ended on it */
    assert_int_equal(atomic_load(&sv.st_write_err), 0);
    cli_free(c);
    srv_stop(&sv);
}

static void test_stream_shutdown(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char *body;
    size_t len, nchunks;
    uint64_t t0;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_send(c, "GET /stream/0/10/20 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    sleep_ms(100);
    t0 = now_ms();
    srv_begin_shutdown(&sv);
    /* the stream is ended (last chunk), then the connection closes */
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    assert_true(len >= 10 && len % 10 == 0);
    check_pieces(body, len, len / 10, 10);
    free(body);
    assert_int_equal(cli_closed(c, 3000), 1);
    assert_true(now_ms() - t0 < 1000);
    cli_free(c);
    srv_join(&sv);
    assert_int_equal(atomic_load(&sv.st_shutdown), 1);
    assert_int_equal(atomic_load(&sv.st_closed), 0);
    assert_int_equal(atomic_load(&sv.st_freed), 1);
}

/* kd_http_stream_begin refuses to start on a connection that is gone or a
 * server that shuts down; the handler then answers as usual. */
static void test_stream_begin_refused(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    /* the client reset before the stream began: KD_EIO */
    c = cli_new(sv.port);
    cli_send(c, "GET /late/100 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(20);
    cli_reset(c);
    cli_free(c);
    assert_int_equal(wait_atomic(&sv.late_begin, 1, 3000), KD_EIO + 1);
    /* a stream that would begin after the shutdown began: KD_EUNAVAIL, the
     * error is the answer, and the connection closes */
    atomic_store(&sv.late_begin, 0);
    c = cli_new(sv.port);
    cli_send(c, "GET /late/300 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50);
    srv_begin_shutdown(&sv);
    assert_int_equal(cli_resp(c, &r, 0), 0);
    assert_json_error(&r, 503, "unavailable", "server busy or shutting down");
    assert_true(resp_has_hdr(&r, "Connection", "close"));
    resp_free(&r);
    assert_int_equal(atomic_load(&sv.late_begin), KD_EUNAVAIL + 1);
    assert_int_equal(cli_closed(c, 3000), 1);
    cli_free(c);
    srv_join(&sv);
}

static void test_stream_timeouts(void **state)
{
    const struct kd_http_limits lim = {.body_timeout_ms = 150, .idle_timeout_ms = 100};
    struct srv sv;
    struct cli *c;
    struct resp r;
    char *body;
    size_t len, nchunks;

    (void)state;
    srv_start(&sv, &lim);
    c = cli_new(sv.port);
    /* 600 ms of stream, far past the idle and write timeouts */
    cli_send(c, "GET /stream/30/10/20 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cli_resp(c, &r, 0), 0);
    resp_free(&r);
    assert_int_equal(cli_chunked(c, &body, &len, &nchunks), 0);
    check_pieces(body, len, 30, 10);
    free(body);
    assert_int_equal(atomic_load(&sv.st_closed), 0);
    /* afterwards the idle timeout applies again */
    assert_int_equal(cli_closed(c, 2000), 1);
    cli_free(c);
    srv_stop(&sv);
}

static void test_cors_and_options(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;
    char v[128], req[6000], big[5001];

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Origin", "*"));
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(resp_hdr(&r, "Access-Control-Allow-Origin", v, sizeof(v)), -1);
    resp_free(&r);
    /* errors carry it too */
    cli_req(c, "GET /nope HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Origin", "*"));
    resp_free(&r);
    /* plain OPTIONS: 200, Allow, empty body */
    cli_req(c, "OPTIONS /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Allow", "GET, HEAD, DELETE, OPTIONS"));
    assert_true(resp_has_hdr(&r, "Content-Length", "0"));
    assert_int_equal(resp_hdr(&r, "Access-Control-Allow-Methods", v, sizeof(v)), -1);
    resp_free(&r);
    cli_req(c, "OPTIONS /echo/x/y HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Allow", "POST, OPTIONS"));
    resp_free(&r);
    /* a CORS preflight */
    cli_req(c,
            "OPTIONS /hello HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n"
            "Access-Control-Request-Method: DELETE\r\n"
            "Access-Control-Request-Headers: content-type, cesr-attachment\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Origin", "*"));
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Methods", "GET, HEAD, DELETE, OPTIONS"));
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Headers", "content-type, cesr-attachment"));
    assert_true(resp_has_hdr(&r, "Access-Control-Max-Age", "86400"));
    assert_int_equal(resp_hdr(&r, "Allow", v, sizeof(v)), -1);
    resp_free(&r);
    /* without Access-Control-Request-Headers: "*" */
    cli_req(c,
            "OPTIONS /hello HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n"
            "Access-Control-Request-Method: GET\r\n\r\n",
            &r);
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Headers", "*"));
    resp_free(&r);
    /* an echo too long to send is left out; the answer still goes */
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(req, sizeof(req),
             "OPTIONS /hello HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n"
             "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: %s\r\n\r\n",
             big);
    cli_req(c, req, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(resp_hdr(&r, "Access-Control-Allow-Headers", v, sizeof(v)), -1);
    assert_true(resp_has_hdr(&r, "Access-Control-Allow-Methods", "GET, HEAD, DELETE, OPTIONS"));
    resp_free(&r);
    /* OPTIONS on an unknown path is still 404; the connection lived through all */
    cli_req(c, "OPTIONS /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

/* kli's hio client never reconnects after a server close (keripy-surface
 * §8): with default limits an idle keep-alive connection outlives actix's
 * 5 s by far. */
static void test_default_idle_timeout(void **state)
{
    struct srv sv;
    struct cli *c;
    struct resp r;

    (void)state;
    srv_start(&sv, NULL);
    c = cli_new(sv.port);
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    resp_free(&r);
    assert_int_equal(cli_closed(c, 6000), 0); /* still open after 6 s of silence */
    cli_req(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    resp_free(&r);
    cli_free(c);
    srv_stop(&sv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_match),
        cmocka_unit_test(test_router_bad_patterns),
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_metrics_render_exact),
        cmocka_unit_test(test_metrics_bounds),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_chunked_and_continue),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_params_and_headers),
        cmocka_unit_test(test_connection_close_and_http10),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_client_gone_while_pending),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_large_and_backpressure),
        cmocka_unit_test(test_metrics_via_http),
        cmocka_unit_test(test_answer_rules),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_no_metrics_ipv6),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_stream_many_writes),
        cmocka_unit_test(test_stream_http10_close_head),
        cmocka_unit_test(test_stream_client_gone),
        cmocka_unit_test(test_stream_slow_reader),
        cmocka_unit_test(test_stream_shutdown),
        cmocka_unit_test(test_stream_begin_refused),
        cmocka_unit_test(test_stream_timeouts),
        cmocka_unit_test(test_cors_and_options),
        cmocka_unit_test(test_default_idle_timeout),
    };

    signal(SIGPIPE, SIG_IGN);
    kd_log_setup(KD_LOG_ERROR, KD_LOG_TEXT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
