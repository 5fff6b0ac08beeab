/*
 * The outbound HTTP GET (src/http/client.c) against a tiny libuv server in
 * this file that answers each connection with a canned response: bodies by
 * Content-Length, chunked and close-delimited, a 404, oversize bodies and
 * headers, a server that never answers (timeout), a closed port, bad URLs.
 * The server records the request it received so that its form is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "kerid/http_client.h"

/* ---- the canned server ---- */

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    const char *answer; /* sent once the request head arrived; NULL: never answer */
    size_t answer_len;
    bool close_after; /* close the connection after the answer */
    char got[4096];   /* the request head received */
    size_t got_len;
    uv_tcp_t *client;
};

struct conn {
    uv_tcp_t tcp;
    struct srv *s;
    uv_write_t wr;
};

static void conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char rb[8192];

    (void)h;
    (void)hint;
    buf->base = rb;
    buf->len = sizeof(rb);
}

static void srv_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;

    (void)status;
    if (c->s->close_after && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    struct srv *s = c->s;

    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, conn_closed);
        return;
    }
    if (s->got_len + (size_t)n < sizeof(s->got)) {
        memcpy(s->got + s->got_len, buf->base, (size_t)n);
        s->got_len += (size_t)n;
        s->got[s->got_len] = '\0';
    }
    if (strstr(s->got, "\r\n\r\n") != NULL && s->answer != NULL) {
        uv_buf_t b = uv_buf_init((char *)s->answer, (unsigned)s->answer_len);

        c->wr.data = c;
        uv_write(&c->wr, st, &b, 1, srv_written);
        s->answer = NULL; /* once */
    }
}

static void srv_conn(uv_stream_t *l, int status)
{
    struct srv *s = l->data;
    struct conn *c = calloc(1, sizeof(*c));

    assert_int_equal(status, 0);
    assert_non_null(c);
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    s->client = &c->tcp;
    uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read);
}

static void srv_start(struct srv *s, uv_loop_t *loop, const char *answer, bool close_after)
{
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->answer = answer;
    s->answer_len = answer != NULL ? strlen(answer) : 0;
    s->close_after = close_after;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, srv_conn), 0);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data != NULL && h->data != arg ? conn_closed : NULL);
}

/* ---- the client side ---- */

struct result {
    bool called;
    unsigned calls;
    enum kd_err err;
    char why[128];
    int status;
    char ctype[256];
    char aid[256];
    char *body;
    size_t body_len;
};

static void on_done(enum kd_err err, const char *why, const struct kd_http_client_resp *resp,
                    void *arg)
{
    struct result *r = arg;

    r->called = true;
    r->calls++;
    r->err = err;
    snprintf(r->why, sizeof(r->why), "%s", why != NULL ? why : "");
    if (resp != NULL) {
        r->status = resp->status;
        snprintf(r->ctype, sizeof(r->ctype), "%s", resp->content_type);
        snprintf(r->aid, sizeof(r->aid), "%s", resp->keri_aid);
        r->body = malloc(resp->body_len + 1);
        memcpy(r->body, resp->body, resp->body_len);
        r->body[resp->body_len] = '\0';
        r->body_len = resp->body_len;
    }
}

/* Runs one GET of path against a server answering answer; the loop runs dry. */
static void run_get(const char *answer, bool close_after, const char *path,
                    const struct kd_http_client_limits *lim, struct result *r, struct srv *s)
{
    uv_loop_t loop;
    char url[256];
    const char *why = NULL;

    memset(r, 0, sizeof(*r));
    uv_loop_init(&loop);
    srv_start(s, &loop, answer, close_after);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    assert_int_equal(kd_http_get(&loop, url, lim, on_done, r, NULL, &why), KD_OK);
    while (!r->called)
        uv_run(&loop, UV_RUN_ONCE);
    uv_walk(&loop, walk_close, s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_content_length(void **state)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json+cesr\r\n"
                              "KERI-AID: BAbc\r\nContent-Length: 5\r\n\r\nhello";
    struct result r;
    struct srv s;

    (void)state;
    run_get(ans, false, "/oobi/BAbc/controller?name=x#frag", NULL, &r, &s);
    assert_int_equal(r.err, KD_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json+cesr");
    assert_string_equal(r.aid, "BAbc");
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    /* the request: target with query, no fragment, Host with port, no Accept */
    assert_non_null(strstr(s.got, "GET /oobi/BAbc/controller?name=x HTTP/1.1\r\n"));
    {
        char host[64];

        snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
        assert_non_null(strstr(s.got, host));
    }
    assert_null(strstr(s.got, "Accept"));
    assert_non_null(strstr(s.got, "Connection: close\r\n"));
    free(r.body);
}

static void test_chunked(void **state)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Type: text/plain\r\n\r\n"
                              "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
    struct result r;
    struct srv s;

    (void)state;
    run_get(ans, false, "", NULL, &r, &s);
    assert_int_equal(r.err, KD_OK);
    assert_string_equal(r.body, "abcdefg");
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.aid, "");
    assert_non_null(strstr(s.got, "GET / HTTP/1.1\r\n"));
    free(r.body);
}

static void test_close_delimited(void **state)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: x/y\r\n\r\nuntil the end";
    struct result r;
    struct srv s;

    (void)state;
    run_get(ans, true, "/", NULL, &r, &s);
    assert_int_equal(r.err, KD_OK);
    assert_string_equal(r.body, "until the end");
    free(r.body);
}

/* "localhost" may resolve to ::1 before 127.0.0.1: a refused address is
 * followed by the next one (the server listens on 127.0.0.1 only). */
static void test_localhost(void **state)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    uv_loop_t loop;
    struct srv s;
    struct result r;
    char url[64];

    (void)state;
    memset(&r, 0, sizeof(r));
    uv_loop_init(&loop);
    srv_start(&s, &loop, ans, false);
    snprintf(url, sizeof(url), "http://localhost:%d/x", s.port);
    assert_int_equal(kd_http_get(&loop, url, NULL, on_done, &r, NULL, NULL), KD_OK);
    while (!r.called)
        uv_run(&loop, UV_RUN_ONCE);
    uv_walk(&loop, walk_close, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.err, KD_OK);
    assert_string_equal(r.body, "ok");
    assert_non_null(strstr(s.got, "Host: localhost:"));
    free(r.body);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_404(void **state)
{
    static const char ans[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    struct result r;
    struct srv s;

    (void)state;
    run_get(ans, false, "/nope", NULL, &r, &s);
    assert_int_equal(r.err, KD_OK);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body_len, 0);
    free(r.body);
}

static void test_oversize(void **state)
{
    static const char by_len[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a";
    static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n";
    static const char closed[] = "HTTP/1.1 200 OK\r\n\r\n0123456789a";
    static const char head[] =
        "HTTP/1.1 200 OK\r\nX-Pad: 0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789\r\nContent-Length: 0\r\n\r\n";
    struct kd_http_client_limits lim = {0, 0, 10, 64};
    struct result r;
    struct srv s;

    (void)state;
    run_get(by_len, false, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_ETOOLARGE);
    assert_null(r.body);
    run_get(chunked, false, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_ETOOLARGE);
    run_get(closed, true, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_ETOOLARGE);
    run_get(head, false, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_EHEADERS);
    {
        /* a reported value (Content-Type) longer than KD_HTTP_CLIENT_VALUE_MAX */
        char longct[512];

        snprintf(longct, sizeof(longct), "HTTP/1.1 200 OK\r\nContent-Type: %0300d\r\n\r\n", 7);
        run_get(longct, true, "/", NULL, &r, &s);
        assert_int_equal(r.err, KD_EHEADERS);
        assert_string_equal(r.why, "a response header value is too long");
    }
    /* exactly at the bound is fine */
    lim.max_body_bytes = 11;
    lim.max_header_bytes = 0;
    run_get(by_len, false, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_OK);
    assert_string_equal(r.body, "0123456789a");
    free(r.body);
}

static void test_bad_response(void **state)
{
    struct result r;
    struct srv s;

    (void)state;
    run_get("SMTP ready\r\n\r\n", true, "/", NULL, &r, &s);
    assert_int_equal(r.err, KD_EBADREQUEST);
    /* truncated: the Content-Length promises more than the server sends */
    run_get("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, "/", NULL, &r, &s);
    assert_int_equal(r.err, KD_EBADREQUEST);
    assert_string_equal(r.why, "connection closed before the response was complete");
}

static void test_timeout(void **state)
{
    struct kd_http_client_limits lim = {0, 200, 0, 0};
    struct result r;
    struct srv s;
    uint64_t t0 = uv_hrtime();

    (void)state;
    run_get(NULL, false, "/", &lim, &r, &s);
    assert_int_equal(r.err, KD_ETIMEOUT);
    assert_string_equal(r.why, "no complete response in time");
    assert_true(uv_hrtime() - t0 >= 150u * 1000000u);
    assert_true(uv_hrtime() - t0 < 5000u * 1000000u);
}

static void test_refused(void **state)
{
    uv_loop_t loop;
    uv_tcp_t t;
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof(got), port;
    struct result r;
    char url[64];

    (void)state;
    /* a port that was just free: bind, read it, close */
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &t);
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
    port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/oobi", port);
    assert_int_equal(kd_http_get(&loop, url, NULL, on_done, &r, NULL, NULL), KD_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, KD_EIO);
    assert_string_equal(r.why, "connection refused");
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_url(void **state)
{
    static const char *const bad[] = {
        "https://127.0.0.1/oobi",
        "ftp://x/",
        "127.0.0.1:80/",
        "http://",
        "http:///x",
        "http://a b/",
        "http://u:p@host/",
        "http://host:0/",
        "http://host:65536/",
        "http://host:x/",
        "http://host:/",
        "http://[::1/",
        "http://h\xc3\xa9/",
        "http://[zz]/",
    };
    uv_loop_t loop;
    struct result r;
    char *longurl;

    (void)state;
    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;

        memset(&r, 0, sizeof(r));
        assert_int_equal(kd_http_get(&loop, bad[i], NULL, on_done, &r, NULL, &why), KD_EINVAL);
        assert_non_null(why);
    }
    {
        const char *why = NULL;

        kd_http_get(&loop, "HTTPS://x/", NULL, on_done, &r, NULL, &why);
        assert_string_equal(why, "only http:// URLs are supported (https is not)");
    }
    longurl = malloc(KD_HTTP_CLIENT_URL_MAX + 2);
    memcpy(longurl, "http://h/", 9);
    memset(longurl + 9, 'a', KD_HTTP_CLIENT_URL_MAX + 1 - 9);
    longurl[KD_HTTP_CLIENT_URL_MAX + 1] = '\0';
    assert_int_equal(kd_http_get(&loop, longurl, NULL, on_done, &r, NULL, NULL), KD_EINVAL);
    free(longurl);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(r.called);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_unresolvable(void **state)
{
    const struct kd_http_client_limits lim = {3000, 0, 0, 0};
    uv_loop_t loop;
    struct result r;

    (void)state;
    uv_loop_init(&loop);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        kd_http_get(&loop, "http://no-such-host.invalid/x", &lim, on_done, &r, NULL, NULL), KD_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    /* ".invalid" never resolves (RFC 6761); a machine without a reachable
     * resolver may let the connect deadline pass first */
    assert_true(r.err == KD_EIO || r.err == KD_ETIMEOUT);
    assert_string_equal(r.why, r.err == KD_EIO ? "the host name does not resolve"
                                               : "could not connect in time");
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cancel(void **state)
{
    uv_loop_t loop;
    struct srv s;
    struct result r;
    struct kd_http_get *g = NULL;
    char url[64];

    (void)state;
    uv_loop_init(&loop);
    memset(&r, 0, sizeof(r));
    srv_start(&s, &loop, NULL, false);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    /* cancelled at once (getaddrinfo pending) */
    assert_int_equal(kd_http_get(&loop, url, NULL, on_done, &r, &g, NULL), KD_OK);
    kd_http_get_cancel(g);
    /* cancelled while waiting for the answer */
    assert_int_equal(kd_http_get(&loop, url, NULL, on_done, &r, &g, NULL), KD_OK);
    while (s.got_len == 0)
        uv_run(&loop, UV_RUN_ONCE);
    kd_http_get_cancel(g);
    kd_http_get_cancel(NULL);
    uv_walk(&loop, walk_close, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(r.called);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),  cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited), cmocka_unit_test(test_404),
        cmocka_unit_test(test_localhost),       cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_bad_response),    cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_refused),         cmocka_unit_test(test_bad_url),
        cmocka_unit_test(test_unresolvable),    cmocka_unit_test(test_cancel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
