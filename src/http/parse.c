/*
 * The llhttp callbacks of a connection: they store the request line, headers
 * and body of the request being read, enforce the header and body limits as
 * the bytes arrive, and route the request once its headers are complete.
 * They only record what they see; anything that answers or closes happens in
 * kd_http_conn_process once llhttp_execute has returned.
 */
#include "http_int.h"

#include <string.h>
#include <strings.h>

static int kd_http_on_message_begin(llhttp_t *p);
static int kd_http_on_method(llhttp_t *p, const char *at, size_t n);
static int kd_http_on_url(llhttp_t *p, const char *at, size_t n);
static int kd_http_on_url_complete(llhttp_t *p);
static int kd_http_on_header_field(llhttp_t *p, const char *at, size_t n);
static int kd_http_on_header_field_complete(llhttp_t *p);
static int kd_http_on_header_value(llhttp_t *p, const char *at, size_t n);
static int kd_http_on_header_value_complete(llhttp_t *p);
static int kd_http_on_headers_complete(llhttp_t *p);
static int kd_http_on_body(llhttp_t *p, const char *at, size_t n);
static int kd_http_on_message_complete(llhttp_t *p);

const llhttp_settings_t kd_http_settings = {
    .on_message_begin = kd_http_on_message_begin,
    .on_method = kd_http_on_method,
    .on_url = kd_http_on_url,
    .on_url_complete = kd_http_on_url_complete,
    .on_header_field = kd_http_on_header_field,
    .on_header_field_complete = kd_http_on_header_field_complete,
    .on_header_value = kd_http_on_header_value,
    .on_header_value_complete = kd_http_on_header_value_complete,
    .on_headers_complete = kd_http_on_headers_complete,
    .on_body = kd_http_on_body,
    .on_message_complete = kd_http_on_message_complete,
};

/* Raises err inside a callback: llhttp stops with a callback error and the
 * connection answers err. */
static int kd_http_cb_fail(struct kd_http_conn *c, enum kd_err err, const char *msg)
{
    c->perr = err;
    c->perr_msg = msg;
    return -1;
}

/* Stream offset of a pointer into the data given to the current llhttp_execute. */
static uint64_t kd_http_pos(const struct kd_http_conn *c, const char *p)
{
    return c->exec_off + (uint64_t)(p - c->exec_base);
}

/* Fails with err when the request line and headers read so far, up to end,
 * are longer than max_header_bytes. */
static int kd_http_head_check(struct kd_http_conn *c, const char *end, enum kd_err err)
{
    if (c->head_start == KD_HTTP_UNKNOWN)
        return 0;
    if (kd_http_pos(c, end) - c->head_start > c->srv->lim.max_header_bytes)
        return kd_http_cb_fail(c, err, NULL);
    return 0;
}

/* Appends to the request head buffer, mapping its bound to 431. */
static int kd_http_head_append(struct kd_http_conn *c, const void *p, size_t n)
{
    const enum kd_err err = kd_buf_append(&c->req.head, p, n);

    if (err == KD_OK)
        return 0;
    return kd_http_cb_fail(c, err == KD_ETOOLARGE ? KD_EHEADERS : err, NULL);
}

static int kd_http_on_message_begin(llhttp_t *p)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;

    kd_buf_reset(&r->head);
    kd_buf_reset(&r->body);
    kd_buf_reset(&r->xhdr);
    r->method = 0;
    r->route = NULL;
    r->allow = 0;
    r->metric = c->srv->m_unmatched;
    r->head_only = false;
    r->keep_alive = false;
    r->http10 = false;
    r->hstate = KD_HTTP_HS_NONE;
    r->url_len = 0;
    r->path_off = r->path_len = r->query_off = r->query_len = 0;
    r->has_query = r->path_root = false;
    r->nhdr = 0;
    r->nparam = 0;
    r->t_begin_ns = uv_hrtime();
    c->head_start = KD_HTTP_UNKNOWN;
    c->trailer_bytes = 0;
    c->phase = KD_HTTP_PH_HEAD;
    c->phase_ms = uv_now(c->srv->loop);
    kd_http_conn_timer_update(c);
    return 0;
}

static int kd_http_on_method(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_conn *c = p->data;

    if (c->head_start == KD_HTTP_UNKNOWN)
        c->head_start = kd_http_pos(c, at);
    return kd_http_head_check(c, at + n, KD_EHEADERS);
}

static int kd_http_on_url(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_conn *c = p->data;

    if (kd_http_head_check(c, at + n, KD_EURITOOLONG) != 0)
        return -1;
    return kd_http_head_append(c, at, n);
}

static int kd_http_on_url_complete(llhttp_t *p)
{
    struct kd_http_conn *c = p->data;

    /* head is bounded by 2 * max_header_bytes + 1024 (<= 32 MiB + 1 KiB): offsets fit 32 bits */
    c->req.url_len = (uint32_t)c->req.head.len;
    return kd_http_head_append(c, "", 1);
}

/* Trailer lines of a chunked body: not kept, but bounded like headers. */
static int kd_http_trailer(struct kd_http_conn *c, size_t n)
{
    c->trailer_bytes += n;
    if (c->trailer_bytes > c->srv->lim.max_header_bytes)
        return kd_http_cb_fail(c, KD_EHEADERS, "request trailers too large");
    return 0;
}

static int kd_http_on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;

    if (c->phase != KD_HTTP_PH_HEAD)
        return kd_http_trailer(c, n);
    if (kd_http_head_check(c, at + n, KD_EHEADERS) != 0)
        return -1;
    if (r->hstate != KD_HTTP_HS_FIELD) {
        if (r->nhdr == KD_HTTP_MAX_HEADERS)
            return kd_http_cb_fail(c, KD_EHEADERS, "too many header lines");
        r->hdr[r->nhdr].name_off = (uint32_t)r->head.len;
        r->hdr[r->nhdr].name_len = 0;
        r->hdr[r->nhdr].val_off = 0;
        r->hdr[r->nhdr].val_len = 0;
        r->nhdr++;
        r->hstate = KD_HTTP_HS_FIELD;
    }
    r->hdr[r->nhdr - 1].name_len += (uint32_t)n;
    return kd_http_head_append(c, at, n);
}

/* Ends a header name. llhttp 8.1 lets blanks inside a name through ("Bad
 * Header:"); such a line is refused here, as RFC 9112 requires (and as a
 * defence against request smuggling through "Transfer-Encoding :"). */
static int kd_http_on_header_field_complete(llhttp_t *p)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;
    const struct kd_http_hdr *h;

    if (c->phase != KD_HTTP_PH_HEAD)
        return 0;
    r->hstate = KD_HTTP_HS_NONE;
    if (r->nhdr == 0)
        return kd_http_cb_fail(c, KD_EBADREQUEST, NULL);
    h = &r->hdr[r->nhdr - 1];
    if (h->name_len == 0)
        return kd_http_cb_fail(c, KD_EBADREQUEST, "empty header name");
    for (uint32_t i = 0; i < h->name_len; i++) {
        if (!kd_http_tchar(r->head.data[h->name_off + i]))
            return kd_http_cb_fail(c, KD_EBADREQUEST, "invalid character in a header name");
    }
    return kd_http_head_append(c, "", 1);
}

/* Starts the value of the last header line if it has not started yet. */
static void kd_http_value_start(struct kd_http_req *r)
{
    if (r->hstate == KD_HTTP_HS_VALUE || r->nhdr == 0)
        return;
    r->hdr[r->nhdr - 1].val_off = (uint32_t)r->head.len;
    r->hdr[r->nhdr - 1].val_len = 0;
    r->hstate = KD_HTTP_HS_VALUE;
}

static int kd_http_on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;

    if (c->phase != KD_HTTP_PH_HEAD)
        return kd_http_trailer(c, n);
    if (kd_http_head_check(c, at + n, KD_EHEADERS) != 0)
        return -1;
    if (r->nhdr == 0)
        return kd_http_cb_fail(c, KD_EBADREQUEST, NULL);
    kd_http_value_start(r);
    r->hdr[r->nhdr - 1].val_len += (uint32_t)n;
    return kd_http_head_append(c, at, n);
}

static int kd_http_on_header_value_complete(llhttp_t *p)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;
    struct kd_http_hdr *h;

    if (c->phase != KD_HTTP_PH_HEAD)
        return 0;
    if (r->nhdr == 0)
        return kd_http_cb_fail(c, KD_EBADREQUEST, NULL);
    kd_http_value_start(r);
    r->hstate = KD_HTTP_HS_NONE;
    if (kd_http_head_append(c, "", 1) != 0)
        return -1;
    h = &r->hdr[r->nhdr - 1];
    while (h->val_len > 0 && (r->head.data[h->val_off + h->val_len - 1] == ' ' ||
                              r->head.data[h->val_off + h->val_len - 1] == '\t'))
        h->val_len--;
    r->head.data[h->val_off + h->val_len] = '\0';
    return 0;
}

static enum kd_http_method kd_http_map_method(uint8_t m)
{
    switch (m) {
    case HTTP_GET:
        return KD_HTTP_GET;
    case HTTP_POST:
        return KD_HTTP_POST;
    case HTTP_PUT:
        return KD_HTTP_PUT;
    case HTTP_DELETE:
        return KD_HTTP_DELETE;
    case HTTP_HEAD:
        return KD_HTTP_HEAD;
    case HTTP_OPTIONS:
        return KD_HTTP_OPTIONS;
    default:
        return 0;
    }
}

/* Splits the request target into path and query. An absolute-form target
 * ("http://host/p?q") is reduced to its path. */
static void kd_http_split_target(struct kd_http_req *r)
{
    const char *u = (const char *)r->head.data;
    const uint32_t n = r->url_len;
    uint32_t i = 0, end;

    if (n > 0 && u[0] != '/') {
        size_t skip = 0;

        if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
            skip = 7;
        else if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
            skip = 8;
        if (skip > 0) {
            for (i = (uint32_t)skip; i < n && u[i] != '/' && u[i] != '?' && u[i] != '#'; i++)
                ;
            if (i == n || u[i] != '/')
                r->path_root = true;
        }
    }
    r->path_off = i;
    for (end = i; end < n && u[end] != '?' && u[end] != '#'; end++)
        ;
    r->path_len = r->path_root ? 0 : end - i;
    if (end < n && u[end] == '?') {
        uint32_t q = end + 1, qe;

        for (qe = q; qe < n && u[qe] != '#'; qe++)
            ;
        r->has_query = true;
        r->query_off = q;
        r->query_len = qe - q;
    }
}

/* Routes the request and copies its decoded parameters after the head. */
static int kd_http_route(struct kd_http_conn *c)
{
    struct kd_http_req *r = &c->req;
    struct kd_http_match m;
    size_t need = 0;
    enum kd_err err;

    kd_http_split_target(r);
    if (r->path_root)
        kd_http_router_match(&c->srv->router, r->method, "/", 1, &m);
    else
        kd_http_router_match(&c->srv->router, r->method, (const char *)r->head.data + r->path_off,
                             r->path_len, &m);
    r->route = m.route;
    r->allow = m.allow;
    r->head_only = r->method == KD_HTTP_HEAD;
    if (m.route != NULL)
        r->metric = m.route->metric;
    else if (m.path != NULL)
        r->metric = m.path->metric;
    for (unsigned i = 0; i < m.nparam; i++)
        need += m.param_len[i] + 1;
    /* Reserve first: the parameters are copied from the head buffer itself. */
    if ((err = kd_buf_reserve(&r->head, need)) != KD_OK)
        return kd_http_cb_fail(c, err == KD_ETOOLARGE ? KD_EHEADERS : err, NULL);
    for (unsigned i = 0; i < m.nparam; i++) {
        char *dst = (char *)r->head.data + r->head.len;
        const char *src = (const char *)r->head.data + r->path_off + m.param_off[i];
        size_t n;

        memcpy(dst, src, m.param_len[i]);
        n = kd_http_pct_decode(dst, dst, m.param_len[i]);
        dst[n] = '\0';
        r->param_off[i] = (uint32_t)r->head.len;
        r->param_len[i] = (uint32_t)n;
        r->head.len += n + 1;
    }
    r->nparam = m.nparam;
    return 0;
}

static int kd_http_on_headers_complete(llhttp_t *p)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;
    const bool has_len = (p->flags & F_CONTENT_LENGTH) != 0;
    const bool chunked = (p->flags & F_CHUNKED) != 0;
    const char *expect;
    size_t elen = 0;
    enum kd_err err;

    r->method = kd_http_map_method(p->method);
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    r->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    if (kd_http_route(c) != 0)
        return -1;
    if (has_len && p->content_length > c->srv->lim.max_body_bytes)
        return kd_http_cb_fail(c, KD_ETOOLARGE, NULL);
    /* Room for a small declared body at once; a large one grows as it arrives,
     * so that headers alone cannot make the server reserve max_body_bytes. */
    if (has_len && p->content_length > 0 &&
        (err = kd_buf_reserve(&r->body, p->content_length < KD_HTTP_KEEP_BUF
                                            ? (size_t)p->content_length
                                            : KD_HTTP_KEEP_BUF)) != KD_OK)
        return kd_http_cb_fail(c, err, NULL);
    expect = kd_http_req_header(r, "expect", &elen);
    if (expect != NULL && !r->http10 && (chunked || (has_len && p->content_length > 0)) &&
        elen == 12 && strncasecmp(expect, "100-continue", 12) == 0 &&
        (err = kd_buf_append(&c->wbuf, cont, sizeof(cont) - 1)) != KD_OK)
        return kd_http_cb_fail(c, err, NULL);
    c->phase = KD_HTTP_PH_BODY;
    c->phase_ms = uv_now(c->srv->loop);
    kd_http_conn_timer_update(c);
    return 0;
}

static int kd_http_on_body(llhttp_t *p, const char *at, size_t n)
{
    struct kd_http_conn *c = p->data;
    struct kd_http_req *r = &c->req;
    enum kd_err err;

    if (n > c->srv->lim.max_body_bytes - r->body.len)
        return kd_http_cb_fail(c, KD_ETOOLARGE, NULL);
    if ((err = kd_buf_append(&r->body, at, n)) != KD_OK)
        return kd_http_cb_fail(c, err, NULL);
    return 0;
}

static int kd_http_on_message_complete(llhttp_t *p)
{
    struct kd_http_conn *c = p->data;

    /* llhttp clears the connection flags right after this callback. */
    c->req.keep_alive = c->req.keep_alive && llhttp_should_keep_alive(p);
    if (c->req.body.data != NULL)
        c->req.body.data[c->req.body.len] = '\0'; /* kd_buf keeps a spare byte */
    c->msg_done = true;
    return HPE_PAUSED;
}
