/*
 * The outbound HTTP/1.1 GET (include/kerid/http_client.h): getaddrinfo,
 * connect (each resolved address in turn), write the request, read the
 * response through llhttp in HTTP_RESPONSE mode. One timer enforces the
 * connect and the whole-request deadlines. The request's memory lives until
 * its handles are closed and its getaddrinfo, if any, has returned.
 */
#include "kerid/http_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "kerid/buf.h"

#define KD_HC_CONNECT_MS 5000u
#define KD_HC_TOTAL_MS   30000u
#define KD_HC_BODY_MAX   (4u * 1024u * 1024u)
#define KD_HC_HEAD_MAX   (64u * 1024u)
#define KD_HC_HOST_MAX   255u
#define KD_HC_READ_BUF   (64u * 1024u)
#define KD_HC_NAME_MAX   32u

enum kd_hc_field { KD_HC_F_OTHER, KD_HC_F_CTYPE, KD_HC_F_AID };

struct kd_http_get {
    uv_loop_t *loop;
    kd_http_client_cb cb;
    void *arg;
    struct kd_http_client_limits lim;
    uint64_t start_ms;
    /* the URL, split */
    char host[KD_HC_HOST_MAX + 1]; /* for getaddrinfo: no brackets */
    char port[6];
    struct kd_buf req; /* the request text */
    /* libuv */
    uv_getaddrinfo_t gai;
    struct addrinfo *ai_list, *ai_next;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t timer;
    bool gai_pending, tcp_open, timer_open, connected;
    unsigned closing; /* handles whose close callback is still to come */
    bool finished;    /* cb ran, or cancelled */
    /* the response */
    llhttp_t parser;
    size_t head_bytes;
    bool in_body, complete;
    enum kd_hc_field field;
    char name[KD_HC_NAME_MAX + 1];
    size_t name_len;
    bool name_long;
    char ctype[KD_HTTP_CLIENT_VALUE_MAX + 1];
    size_t ctype_len;
    char aid[KD_HTTP_CLIENT_VALUE_MAX + 1];
    size_t aid_len;
    enum kd_err perr; /* an error raised inside a parser callback */
    const char *perr_why;
    struct kd_buf body;
    char rbuf[KD_HC_READ_BUF];
};

static void kd_hc_finish(struct kd_http_get *g, enum kd_err err, const char *why);

/* ---- URL ---- */

static bool kd_hc_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Splits url into g->host, g->port and the request target (appended to the
 * request text by the caller through *path, *path_len). */
static enum kd_err kd_hc_split(struct kd_http_get *g, const char *url, const char **path,
                               size_t *path_len, const char **why)
{
    const char *p, *auth, *end;
    size_t n = strlen(url);
    unsigned long port = 80;

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
            *why = "the URL holds a space, a control or a non-ASCII character";
            return KD_EINVAL;
        }
    if (n >= 8 && strncasecmp(url, "https://", 8) == 0) {
        *why = "only http:// URLs are supported (https is not)";
        return KD_EINVAL;
    }
    if (n < 7 || strncasecmp(url, "http://", 7) != 0) {
        *why = "not an http:// URL";
        return KD_EINVAL;
    }
    auth = url + 7;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
        *why = "user info in a URL is not supported";
        return KD_EINVAL;
    }
    p = auth;
    if (p < end && *p == '[') { /* IPv6 literal */
        const char *rb = memchr(p, ']', (size_t)(end - p));

        if (rb == NULL || rb - p - 1 < 2 || (size_t)(rb - p - 1) > KD_HC_HOST_MAX) {
            *why = "invalid IPv6 host";
            return KD_EINVAL;
        }
        for (const char *c = p + 1; c < rb; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F') || *c == ':' || *c == '.')) {
                *why = "invalid IPv6 host";
                return KD_EINVAL;
            }
        memcpy(g->host, p + 1, (size_t)(rb - p - 1));
        g->host[rb - p - 1] = '\0';
        p = rb + 1;
    } else {
        const char *h = p;

        while (p < end && *p != ':')
            p++;
        if (p == h || (size_t)(p - h) > KD_HC_HOST_MAX) {
            *why = p == h ? "no host in the URL" : "host name too long";
            return KD_EINVAL;
        }
        for (const char *c = h; c < p; c++)
            if (!kd_hc_host_char((unsigned char)*c)) {
                *why = "invalid character in the host name";
                return KD_EINVAL;
            }
        memcpy(g->host, h, (size_t)(p - h));
        g->host[p - h] = '\0';
    }
    if (p < end) {
        if (*p != ':' || p + 1 == end || end - p - 1 > 5) {
            *why = "invalid port";
            return KD_EINVAL;
        }
        port = 0;
        for (const char *c = p + 1; c < end; c++) {
            if (*c < '0' || *c > '9') {
                *why = "invalid port";
                return KD_EINVAL;
            }
            port = port * 10 + (unsigned long)(*c - '0');
        }
        if (port == 0 || port > 65535) {
            *why = "invalid port";
            return KD_EINVAL;
        }
    }
    snprintf(g->port, sizeof(g->port), "%lu", port);
    *path = end;
    *path_len = strcspn(end, "#");
    return KD_OK;
}

/* ---- lifetime ---- */

static void kd_hc_maybe_free(struct kd_http_get *g)
{
    if (!g->finished || g->closing > 0 || g->gai_pending)
        return;
    if (g->ai_list != NULL)
        uv_freeaddrinfo(g->ai_list);
    kd_buf_free(&g->req);
    kd_buf_free(&g->body);
    free(g);
}

static void kd_hc_closed(uv_handle_t *h)
{
    struct kd_http_get *g = h->data;

    g->closing--;
    kd_hc_maybe_free(g);
}

static void kd_hc_try_next(struct kd_http_get *g);

/* A failed connection's handle is closed: the next address may use it. */
static void kd_hc_closed_retry(uv_handle_t *h)
{
    struct kd_http_get *g = h->data;

    g->closing--;
    if (g->finished)
        kd_hc_maybe_free(g);
    else
        kd_hc_try_next(g);
}

/* Closes the handle of a failed connection, then tries the next address or
 * reports err. */
static void kd_hc_retry(struct kd_http_get *g, int status)
{
    g->tcp_open = false;
    g->closing++;
    if (g->ai_next == NULL) {
        uv_close((uv_handle_t *)&g->tcp, kd_hc_closed);
        kd_hc_finish(g, KD_EIO,
                     status == UV_ECONNREFUSED ? "connection refused" : "could not connect");
        return;
    }
    uv_close((uv_handle_t *)&g->tcp, kd_hc_closed_retry);
}

static void kd_hc_close_handles(struct kd_http_get *g)
{
    if (g->timer_open) {
        g->timer_open = false;
        g->closing++;
        uv_close((uv_handle_t *)&g->timer, kd_hc_closed);
    }
    if (g->tcp_open) {
        g->tcp_open = false;
        g->closing++;
        uv_close((uv_handle_t *)&g->tcp, kd_hc_closed);
    }
}

/* Reports once, then releases everything. */
static void kd_hc_finish(struct kd_http_get *g, enum kd_err err, const char *why)
{
    struct kd_http_client_resp resp;

    if (g->finished)
        return;
    g->finished = true;
    if (g->gai_pending)
        uv_cancel((uv_req_t *)&g->gai);
    kd_hc_close_handles(g);
    if (err == KD_OK) {
        memset(&resp, 0, sizeof(resp));
        resp.status = (int)llhttp_get_status_code(&g->parser);
        resp.content_type = g->ctype;
        resp.keri_aid = g->aid;
        resp.body = g->body.len > 0 ? g->body.data : (const unsigned char *)"";
        resp.body_len = g->body.len;
        g->cb(KD_OK, NULL, &resp, g->arg);
    } else {
        g->cb(err, why, NULL, g->arg);
    }
    kd_hc_maybe_free(g);
}

void kd_http_get_cancel(struct kd_http_get *g)
{
    if (g == NULL || g->finished)
        return;
    g->finished = true;
    if (g->gai_pending)
        uv_cancel((uv_req_t *)&g->gai);
    kd_hc_close_handles(g);
    kd_hc_maybe_free(g);
}

/* ---- the response ---- */

static struct kd_http_get *kd_hc_of(llhttp_t *p)
{
    return p->data;
}

static int kd_hc_fail(struct kd_http_get *g, enum kd_err err, const char *why)
{
    g->perr = err;
    g->perr_why = why;
    return -1;
}

static int kd_hc_head(struct kd_http_get *g, size_t n)
{
    g->head_bytes += n;
    if (g->head_bytes > g->lim.max_header_bytes)
        return kd_hc_fail(g, KD_EHEADERS, "response headers too large");
    return 0;
}

static int kd_hc_on_begin(llhttp_t *p)
{
    struct kd_http_get *g = kd_hc_of(p);

    if (g->complete)
        return kd_hc_fail(g, KD_EBADREQUEST, "data after the response");
    return 0;
}

static int kd_hc_on_status(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return kd_hc_head(kd_hc_of(p), n);
}

static int kd_hc_on_field(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_get *g = kd_hc_of(p);

    if (kd_hc_head(g, n) != 0)
        return -1;
    if (g->name_len + n > KD_HC_NAME_MAX) {
        g->name_long = true;
        return 0;
    }
    memcpy(g->name + g->name_len, at, n);
    g->name_len += n;
    return 0;
}

static int kd_hc_on_field_done(llhttp_t *p)
{
    struct kd_http_get *g = kd_hc_of(p);

    g->name[g->name_len] = '\0';
    g->field = KD_HC_F_OTHER;
    if (!g->name_long && strcasecmp(g->name, "content-type") == 0) {
        g->field = KD_HC_F_CTYPE;
        g->ctype_len = 0; /* a repeated header: the last one counts */
    } else if (!g->name_long && strcasecmp(g->name, "keri-aid") == 0) {
        g->field = KD_HC_F_AID;
        g->aid_len = 0;
    }
    g->name_len = 0;
    g->name_long = false;
    return 0;
}

static int kd_hc_on_value(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_get *g = kd_hc_of(p);
    char *dst = g->field == KD_HC_F_CTYPE ? g->ctype : g->aid;
    size_t *len = g->field == KD_HC_F_CTYPE ? &g->ctype_len : &g->aid_len;

    if (kd_hc_head(g, n) != 0)
        return -1;
    if (g->field == KD_HC_F_OTHER)
        return 0;
    if (*len + n > KD_HTTP_CLIENT_VALUE_MAX)
        return kd_hc_fail(g, KD_EHEADERS, "a response header value is too long");
    memcpy(dst + *len, at, n);
    *len += n;
    dst[*len] = '\0';
    return 0;
}

static int kd_hc_on_headers_done(llhttp_t *p)
{
    struct kd_http_get *g = kd_hc_of(p);

    g->in_body = true;
    if (p->content_length > g->lim.max_body_bytes && (p->flags & F_CONTENT_LENGTH) != 0)
        return kd_hc_fail(g, KD_ETOOLARGE, "response body too large");
    return 0;
}

static int kd_hc_on_body(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_get *g = kd_hc_of(p);

    if (n > g->lim.max_body_bytes - g->body.len)
        return kd_hc_fail(g, KD_ETOOLARGE, "response body too large");
    if (kd_buf_append(&g->body, at, n) != KD_OK)
        return kd_hc_fail(g, KD_ENOMEM, "out of memory");
    return 0;
}

static int kd_hc_on_complete(llhttp_t *p)
{
    kd_hc_of(p)->complete = true;
    return 0;
}

static const llhttp_settings_t kd_hc_settings = {
    .on_message_begin = kd_hc_on_begin,
    .on_status = kd_hc_on_status,
    .on_header_field = kd_hc_on_field,
    .on_header_field_complete = kd_hc_on_field_done,
    .on_header_value = kd_hc_on_value,
    .on_headers_complete = kd_hc_on_headers_done,
    .on_body = kd_hc_on_body,
    .on_message_complete = kd_hc_on_complete,
};

/* After llhttp ran: reports a complete response or a parse failure. */
static void kd_hc_after_parse(struct kd_http_get *g, llhttp_errno_t rc)
{
    if (g->complete) {
        kd_hc_finish(g, KD_OK, NULL);
        return;
    }
    if (rc == HPE_OK)
        return;
    if (g->perr != KD_OK)
        kd_hc_finish(g, g->perr, g->perr_why);
    else
        kd_hc_finish(g, KD_EBADREQUEST, "malformed HTTP response");
}

static void kd_hc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct kd_http_get *g = h->data;

    (void)hint;
    buf->base = g->rbuf;
    buf->len = sizeof(g->rbuf);
}

static void kd_hc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct kd_http_get *g = s->data;

    if (g->finished)
        return;
    if (nread > 0) {
        kd_hc_after_parse(g, llhttp_execute(&g->parser, buf->base, (size_t)nread));
    } else if (nread == UV_EOF) {
        const llhttp_errno_t rc = llhttp_finish(&g->parser);

        if (g->complete || g->perr != KD_OK)
            kd_hc_after_parse(g, rc);
        else
            kd_hc_finish(g, KD_EBADREQUEST, "connection closed before the response was complete");
    } else if (nread < 0) {
        kd_hc_finish(g, KD_EIO, "connection reset while reading the response");
    }
}

/* ---- connect, write ---- */

static void kd_hc_written(uv_write_t *w, int status)
{
    struct kd_http_get *g = w->data;

    if (g->finished)
        return;
    if (status < 0)
        kd_hc_finish(g, KD_EIO, "could not send the request");
}

/* Timer: the connect or the whole-request deadline passed. */
static void kd_hc_timeout(uv_timer_t *t)
{
    struct kd_http_get *g = t->data;

    kd_hc_finish(g, KD_ETIMEOUT,
                 g->connected ? "no complete response in time" : "could not connect in time");
}

static void kd_hc_connected(uv_connect_t *c, int status)
{
    struct kd_http_get *g = c->data;
    uv_buf_t b;
    uint64_t elapsed, left;

    if (g->finished)
        return;
    if (status < 0) {
        kd_hc_retry(g, status);
        return;
    }
    g->connected = true;
    elapsed = uv_now(g->loop) - g->start_ms;
    left = elapsed < g->lim.total_timeout_ms ? g->lim.total_timeout_ms - elapsed : 1;
    uv_timer_stop(&g->timer);
    b = uv_buf_init((char *)g->req.data, (unsigned)g->req.len);
    g->wr.data = g;
    if (uv_write(&g->wr, (uv_stream_t *)&g->tcp, &b, 1, kd_hc_written) != 0 ||
        uv_read_start((uv_stream_t *)&g->tcp, kd_hc_alloc, kd_hc_read) != 0) {
        kd_hc_finish(g, KD_EIO, "could not send the request");
        return;
    }
    uv_timer_start(&g->timer, kd_hc_timeout, left, 0);
}

static void kd_hc_try_next(struct kd_http_get *g)
{
    const struct addrinfo *ai = g->ai_next;
    int rc;

    while (ai != NULL && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        ai = ai->ai_next;
    if (ai == NULL) {
        kd_hc_finish(g, KD_EIO, "the host name has no usable address");
        return;
    }
    g->ai_next = ai->ai_next;
    if (uv_tcp_init(g->loop, &g->tcp) != 0) {
        kd_hc_finish(g, KD_EIO, "could not open a socket");
        return;
    }
    g->tcp.data = g;
    g->tcp_open = true;
    g->conn.data = g;
    if ((rc = uv_tcp_connect(&g->conn, &g->tcp, ai->ai_addr, kd_hc_connected)) != 0)
        kd_hc_retry(g, rc);
}

static void kd_hc_resolved(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
    struct kd_http_get *g = r->data;

    g->gai_pending = false;
    g->ai_list = res;
    g->ai_next = res;
    if (g->finished) {
        kd_hc_maybe_free(g);
        return;
    }
    if (status < 0 || res == NULL) {
        kd_hc_finish(g, KD_EIO, "the host name does not resolve");
        return;
    }
    kd_hc_try_next(g);
}

enum kd_err kd_http_get(uv_loop_t *loop, const char *url, const struct kd_http_client_limits *lim,
                        kd_http_client_cb cb, void *arg, struct kd_http_get **out, const char **why)
{
    struct kd_http_get *g = NULL;
    struct addrinfo hints;
    const char *path = NULL, *dummy = NULL;
    size_t path_len = 0, url_len;
    enum kd_err e;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (out != NULL)
        *out = NULL;
    url_len = strnlen(url, KD_HTTP_CLIENT_URL_MAX + 1);
    if (url_len > KD_HTTP_CLIENT_URL_MAX) {
        *why = "URL too long";
        return KD_EINVAL;
    }
    if ((g = calloc(1, sizeof(*g))) == NULL)
        return KD_ENOMEM;
    g->loop = loop;
    g->cb = cb;
    g->arg = arg;
    if (lim != NULL)
        g->lim = *lim;
    if (g->lim.connect_timeout_ms == 0)
        g->lim.connect_timeout_ms = KD_HC_CONNECT_MS;
    if (g->lim.total_timeout_ms == 0)
        g->lim.total_timeout_ms = KD_HC_TOTAL_MS;
    if (g->lim.max_body_bytes == 0)
        g->lim.max_body_bytes = KD_HC_BODY_MAX;
    if (g->lim.max_header_bytes == 0)
        g->lim.max_header_bytes = KD_HC_HEAD_MAX;
    if (g->lim.connect_timeout_ms > g->lim.total_timeout_ms)
        g->lim.connect_timeout_ms = g->lim.total_timeout_ms;
    kd_buf_init(&g->req, KD_HTTP_CLIENT_URL_MAX + 512);
    kd_buf_init(&g->body, g->lim.max_body_bytes);
    if ((e = kd_hc_split(g, url, &path, &path_len, why)) != KD_OK)
        goto fail;
    e = kd_buf_append_str(&g->req, "GET ");
    if (e == KD_OK && (path_len == 0 || path[0] != '/'))
        e = kd_buf_append_str(&g->req, "/");
    if (e == KD_OK && path_len > 0)
        e = kd_buf_append(&g->req, path, path_len);
    if (e == KD_OK)
        e = kd_buf_printf(&g->req, " HTTP/1.1\r\nHost: %s%s%s", strchr(g->host, ':') ? "[" : "",
                          g->host, strchr(g->host, ':') ? "]" : "");
    if (e == KD_OK && strcmp(g->port, "80") != 0)
        e = kd_buf_printf(&g->req, ":%s", g->port);
    if (e == KD_OK)
        e = kd_buf_append_str(&g->req, "\r\nUser-Agent: kerid\r\nConnection: close\r\n\r\n");
    if (e != KD_OK)
        goto fail;
    llhttp_init(&g->parser, HTTP_RESPONSE, &kd_hc_settings);
    g->parser.data = g;
    if (uv_timer_init(loop, &g->timer) != 0) {
        e = KD_EIO;
        goto fail;
    }
    g->timer.data = g;
    g->timer_open = true;
    g->start_ms = uv_now(loop);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    g->gai.data = g;
    if (uv_getaddrinfo(loop, &g->gai, kd_hc_resolved, g->host, g->port, &hints) != 0) {
        /* nothing pending: close the timer and free once it is closed */
        g->finished = true;
        kd_hc_close_handles(g);
        return KD_EIO;
    }
    g->gai_pending = true;
    uv_timer_start(&g->timer, kd_hc_timeout, g->lim.connect_timeout_ms, 0);
    if (out != NULL)
        *out = g;
    return KD_OK;
fail:
    kd_buf_free(&g->req);
    kd_buf_free(&g->body);
    free(g);
    return e;
}
