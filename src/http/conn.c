/*
 * One connection: reading, parsing with llhttp, dispatch, the write path,
 * timeouts and closing.
 *
 * A connection parses until a request is complete, then the parser stays
 * paused (HPE_PAUSED from on_message_complete) until that request has been
 * answered; the answer is appended to the connection's write buffer, and the
 * buffer is written with one uv_try_write (uv_write for what did not fit)
 * once the buffered input has been parsed. While a uv_write is in flight
 * nothing more is parsed, which bounds the memory a client that does not read
 * can make the server hold. One uv_timer per connection enforces the phase
 * timeouts; it is re-armed lazily (only when a deadline moves earlier, or
 * when it fires early), so a keep-alive request costs no timer operation.
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

#include "kerid/log.h"

#define KD_HTTP_LOG "http"

static void kd_http_on_timer(uv_timer_t *t);

/* ---------------------------------------------------------------------------------------------
 * Timers.
 */

/* When the current phase of c runs out, in uv_now milliseconds; 0 = never. */
static uint64_t kd_http_conn_deadline(const struct kd_http_conn *c)
{
    const struct kd_http_limits *lim = &c->srv->lim;

    if (c->lingering)
        return c->linger_ms + KD_HTTP_LINGER_MS;
    if (c->writing)
        return c->write_ms + lim->body_timeout_ms;
    if (c->req_active)
        return 0;
    switch (c->phase) {
    case KD_HTTP_PH_IDLE:
        return c->phase_ms + lim->idle_timeout_ms;
    case KD_HTTP_PH_HEAD:
        return c->phase_ms + lim->header_timeout_ms;
    case KD_HTTP_PH_BODY:
        return c->phase_ms + lim->body_timeout_ms;
    default:
        return 0;
    }
}

/* Arms the timer when the deadline is earlier than the armed one; a later
 * deadline is picked up when the timer fires early. */
void kd_http_conn_timer_update(struct kd_http_conn *c)
{
    const uint64_t d = kd_http_conn_deadline(c);
    const uint64_t now = uv_now(c->srv->loop);

    if (d == 0 || c->closing || (c->armed != 0 && c->armed <= d))
        return;
    uv_timer_start(&c->timer, kd_http_on_timer, d > now ? d - now : 0, 0);
    c->armed = d;
}

/* Answers the current (incomplete) request with the JSON error err and marks
 * the connection to close once it is written. */
static void kd_http_conn_fail(struct kd_http_conn *c, enum kd_err err, const char *msg)
{
    struct kd_http_req *r = &c->req;
    enum kd_err e;

    /* No request line yet: nothing of the last request applies. */
    if (c->phase == KD_HTTP_PH_IDLE) {
        r->metric = c->srv->m_unmatched;
        r->head_only = false;
        r->http10 = false;
        kd_buf_reset(&r->xhdr);
        r->t_begin_ns = uv_hrtime();
    }
    c->phase = KD_HTTP_PH_IDLE;
    c->msg_done = false;
    e = kd_http_error_json(&c->ebuf, err, msg);
    if (e == KD_OK)
        e = kd_http_conn_answer(c, kd_err_status(err), "application/json", c->ebuf.data,
                                c->ebuf.len, true);
    c->close_after = true;
    if (e != KD_OK)
        kd_http_conn_close_now(c);
}

static void kd_http_on_timer(uv_timer_t *t)
{
    struct kd_http_conn *c = t->data;
    uint64_t d;

    c->armed = 0;
    if (c->closing)
        return;
    d = kd_http_conn_deadline(c);
    if (d == 0)
        return;
    if (uv_now(c->srv->loop) < d) {
        kd_http_conn_timer_update(c);
        return;
    }
    if (c->lingering || c->writing || c->phase == KD_HTTP_PH_IDLE) {
        kd_http_conn_close_now(c);
        return;
    }
    /* Header or body not complete in time: 408, then close. */
    kd_http_conn_fail(c, KD_ETIMEOUT, NULL);
    kd_http_conn_process(c);
}

/* ---------------------------------------------------------------------------------------------
 * Closing and freeing.
 */

static void kd_http_conn_free(struct kd_http_conn *c)
{
    struct kd_http_server *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    kd_buf_free(&c->req.head);
    kd_buf_free(&c->req.body);
    kd_buf_free(&c->req.xhdr);
    kd_buf_free(&c->wbuf);
    kd_buf_free(&c->sbuf);
    kd_buf_free(&c->ebuf);
    free(c);
    s->nconn--;
    kd_http_server_check_done(s);
}

/*
 * Frees c once both handles are closed and no handler still holds the request.
 */
void kd_http_conn_maybe_free(struct kd_http_conn *c)
{
    if (c->closing && c->handles == 0 && !c->req_active)
        kd_http_conn_free(c);
}

static void kd_http_on_conn_close(uv_handle_t *h)
{
    struct kd_http_conn *c = h->data;

    c->handles--;
    /* A stream still open on a closed connection: its handler learns it now,
     * from the loop and never from inside one of its own calls. */
    if (c->handles == 0 && c->req_active && c->req.stream_open)
        kd_http_conn_stream_event(c, KD_HTTP_STREAM_CLOSED);
    kd_http_conn_maybe_free(c);
}

/*
 * Calls the stream callback with the in-callback flag set, so that a
 * kd_http_stream_end from inside it leaves freeing to the caller. CLOSED
 * happens once by nature (the handles close once); SHUTDOWN is told once.
 */
void kd_http_conn_stream_event(struct kd_http_conn *c, enum kd_http_stream_event ev)
{
    struct kd_http_req *r = &c->req;

    if (!r->stream_open || r->stream_fn == NULL || c->in_stream_cb)
        return;
    if (ev == KD_HTTP_STREAM_SHUTDOWN) {
        if (r->stream_told)
            return;
        r->stream_told = true;
    }
    c->in_stream_cb = true;
    r->stream_fn(r, ev, r->stream_arg);
    c->in_stream_cb = false;
}

/*
 * Stops everything on c; the structure lives on until its handles are closed
 * and, if a handler holds its request, until that handler answers.
 */
void kd_http_conn_close_now(struct kd_http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (c->counted) {
        c->counted = false;
        c->srv->nopen--;
        kd_metrics_conn_closed(c->srv->m, c->srv->m_server);
    }
    uv_close((uv_handle_t *)&c->tcp, kd_http_on_conn_close);
    uv_close((uv_handle_t *)&c->timer, kd_http_on_conn_close);
}

static void kd_http_on_shutdown(uv_shutdown_t *req, int status)
{
    struct kd_http_conn *c = req->data;

    if (!c->closing && status < 0)
        kd_http_conn_close_now(c);
}

/* Sends FIN after the last answer and keeps reading (and dropping) input for
 * a short while, so that unread request bytes do not turn the close into a
 * reset that could destroy the answer before the client read it. */
static void kd_http_conn_close_graceful(struct kd_http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->eof) {
        kd_http_conn_close_now(c);
        return;
    }
    c->lingering = true;
    c->linger_ms = uv_now(c->srv->loop);
    c->rpos = c->rlen = 0;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, kd_http_on_shutdown) != 0) {
        kd_http_conn_close_now(c);
        return;
    }
    kd_http_conn_timer_update(c);
}

/* ---------------------------------------------------------------------------------------------
 * Answers and the write path.
 */

/*
 * Records the request of c in metrics: its route label, status and the time
 * since its first byte.
 */
void kd_http_conn_observe(struct kd_http_conn *c, int status)
{
    struct kd_http_server *s = c->srv;

    if (s->m == NULL)
        return;
    kd_metrics_request(s->m, c->req.metric, status,
                       (double)(uv_hrtime() - c->req.t_begin_ns) / 1e9);
}

/*
 * Appends the answer after the ones already queued on c.
 */
enum kd_err kd_http_conn_answer(struct kd_http_conn *c, int status, const char *ctype,
                                const void *body, size_t len, bool close)
{
    struct kd_http_req *r = &c->req;
    enum kd_http_conn_hdr ch = KD_HTTP_CONN_NONE;
    enum kd_err err;

    if (close)
        ch = KD_HTTP_CONN_CLOSE;
    else if (r->http10)
        ch = KD_HTTP_CONN_KEEP_ALIVE;
    err = kd_http_format(c->writing ? &c->sbuf : &c->wbuf, status, ctype, body, len, r->head_only,
                         ch, r->xhdr.data, r->xhdr.len);
    kd_http_conn_observe(c, status);
    if (close)
        c->close_after = true;
    return err;
}

/* Releases a buffer that one large request or answer grew. */
static void kd_http_buf_trim(struct kd_buf *b)
{
    if (b->cap > KD_HTTP_KEEP_BUF)
        kd_buf_free(b);
    else
        kd_buf_reset(b);
}

/*
 * Back to idle: the next request may be parsed.
 */
void kd_http_conn_req_done(struct kd_http_conn *c)
{
    c->req_active = false;
    c->phase = KD_HTTP_PH_IDLE;
    c->phase_ms = uv_now(c->srv->loop);
    kd_http_buf_trim(&c->req.body);
    kd_http_buf_trim(&c->req.head);
    kd_http_buf_trim(&c->req.xhdr);
    kd_http_buf_trim(&c->ebuf);
}

/*
 * Appends to wbuf, or to sbuf while wbuf is being written (libuv writes from
 * wbuf's memory, which must not move meanwhile).
 */
enum kd_err kd_http_conn_queue(struct kd_http_conn *c, const void *p, size_t n)
{
    return kd_buf_append(c->writing ? &c->sbuf : &c->wbuf, p, n);
}

static void kd_http_on_write(uv_write_t *req, int status)
{
    struct kd_http_conn *c = req->data;

    c->writing = false;
    if (c->closing)
        return;
    if (status < 0) {
        kd_http_conn_close_now(c);
        return;
    }
    kd_http_buf_trim(&c->wbuf);
    if (c->sbuf.len > 0) {
        /* What was queued meanwhile goes next. */
        const struct kd_buf t = c->wbuf;

        c->wbuf = c->sbuf;
        c->sbuf = t;
    }
    kd_http_conn_process(c);
    /* A stream that had to wait is told once everything reached the socket. */
    if (!c->closing && !c->writing && c->wbuf.len == 0 && c->req_active && c->req.stream_open &&
        c->req.stream_slow) {
        c->req.stream_slow = false;
        kd_http_conn_stream_event(c, KD_HTTP_STREAM_DRAINED);
    }
}

/* Writes the queued answers: uv_try_write first, uv_write for the rest. */
void kd_http_conn_flush(struct kd_http_conn *c)
{
    uv_buf_t b;
    int n;

    if (c->writing || c->closing || c->wbuf.len == 0)
        return;
    if (c->wbuf.len > UINT32_MAX) { /* uv_buf_t holds an unsigned length */
        kd_http_conn_close_now(c);
        return;
    }
    b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        kd_http_conn_close_now(c);
        return;
    }
    if ((size_t)n == c->wbuf.len) {
        kd_http_buf_trim(&c->wbuf);
        return;
    }
    b = uv_buf_init((char *)c->wbuf.data + n, (unsigned)(c->wbuf.len - (size_t)n));
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, kd_http_on_write) != 0) {
        kd_http_conn_close_now(c);
        return;
    }
    c->writing = true;
    c->write_ms = uv_now(c->srv->loop);
    if (c->req_active && c->req.stream_open)
        c->req.stream_slow = true;
    kd_http_conn_timer_update(c);
}

/* ---------------------------------------------------------------------------------------------
 * Reading, parsing and dispatch.
 */

static void kd_http_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct kd_http_conn *c = h->data;

    (void)suggested;
    if (c->lingering) {
        *buf = uv_buf_init(c->rbuf, KD_HTTP_READ_BUF);
        return;
    }
    /* Move unparsed bytes to the front only when the free tail runs short, so
     * that each byte is moved rarely. */
    if (c->rpos > 0 && (c->rpos == c->rlen || KD_HTTP_READ_BUF - c->rlen < KD_HTTP_READ_BUF / 4)) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(KD_HTTP_READ_BUF - c->rlen));
}

static void kd_http_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Reads while there is room for input (or while lingering). */
void kd_http_conn_update_reading(struct kd_http_conn *c)
{
    const bool want =
        !c->closing && (c->lingering || (!c->eof && c->rlen - c->rpos < KD_HTTP_READ_BUF));

    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, kd_http_on_alloc, kd_http_on_read) != 0) {
            kd_http_conn_close_now(c);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void kd_http_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct kd_http_conn *c = st->data;

    (void)buf;
    if (c->closing)
        return;
    if (nread > 0) {
        if (!c->lingering) {
            c->rlen += (size_t)nread;
            kd_http_conn_process(c);
        }
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        uv_read_stop(st);
        c->reading = false;
        return;
    }
    if (nread == UV_EOF && !c->lingering && c->req_active && c->req.stream_open) {
        /* A client that stops sending while it is being streamed to has
         * gone: nothing more would reach it after the stream. */
        kd_http_conn_close_now(c);
        return;
    }
    if (nread == UV_EOF && !c->lingering) {
        /* The client may have half-closed after its last request: answer
         * what was received, then close. */
        c->eof = true;
        uv_read_stop(st);
        c->reading = false;
        kd_http_conn_process(c);
        return;
    }
    kd_http_conn_close_now(c);
}

/*
 * Answers OPTIONS on a routed path without an OPTIONS route, as falcon's
 * default responder and CORS middleware do: 200, Allow (or, for a CORS
 * preflight, the Access-Control-Allow-* headers).
 */
static void kd_http_conn_options(struct kd_http_conn *c)
{
    struct kd_http_req *r = &c->req;
    const char *want;
    char allow[96];

    kd_http_allow_format(r->allow | (1u << KD_HTTP_OPTIONS), allow, sizeof(allow));
    /* Each header is added whole or not at all; an echo that cannot be sent
     * (a control byte, past the extra-header bound) is left out. */
    if (kd_http_req_header(r, "origin", NULL) != NULL &&
        kd_http_req_header(r, "access-control-request-method", NULL) != NULL) {
        want = kd_http_req_header(r, "access-control-request-headers", NULL);
        (void)kd_http_res_header(r, "Access-Control-Allow-Methods", allow);
        (void)kd_http_res_header(r, "Access-Control-Allow-Headers", want != NULL ? want : "*");
        (void)kd_http_res_header(r, "Access-Control-Max-Age", "86400");
    } else {
        (void)kd_http_res_header(r, "Allow", allow);
    }
    kd_http_respond(r, 200, NULL, NULL, 0);
}

/* Hands a complete request to its handler, or answers 404 / 405. */
static void kd_http_conn_dispatch(struct kd_http_conn *c)
{
    struct kd_http_req *r = &c->req;
    struct kd_http_server *s = c->srv;

    c->msg_done = false;
    c->phase = KD_HTTP_PH_HANDLER;
    c->req_active = true;
    r->stream_open = r->stream_chunked = r->stream_told = r->stream_slow = false;
    r->stream_fn = NULL;
    r->stream_arg = NULL;
    if (kd_http_req_header(r, "origin", NULL) != NULL) /* CORS, as falcon's cors_enable */
        (void)kd_http_res_header(r, "Access-Control-Allow-Origin", "*");
    if (r->route != NULL) {
        r->route->route->handler(r, s->ctx);
    } else if (r->allow != 0 && r->method == KD_HTTP_OPTIONS) {
        kd_http_conn_options(c);
    } else if (r->allow != 0) {
        char allow[96];
        const size_t n = kd_http_allow_format(r->allow, allow, sizeof(allow));

        if (kd_buf_append(&r->xhdr, "Allow: ", 7) != KD_OK ||
            kd_buf_append(&r->xhdr, allow, n) != KD_OK ||
            kd_buf_append(&r->xhdr, "\r\n", 2) != KD_OK)
            kd_buf_reset(&r->xhdr);
        kd_http_respond_error(r, KD_EMETHOD, NULL);
    } else {
        kd_http_respond_error(r, KD_ENOTFOUND, NULL);
    }
}

/* Parses buffered input until a request waits for its handler, the input
 * runs out, the connection is to close or enough answers are queued. */
static void kd_http_conn_parse(struct kd_http_conn *c)
{
    while (!c->req_active && !c->close_after && !c->writing && !c->closing && c->rpos < c->rlen &&
           c->wbuf.len < KD_HTTP_WBUF_SOFT) {
        const char *base = c->rbuf + c->rpos;
        const size_t n = c->rlen - c->rpos;
        llhttp_errno_t e;
        size_t used = n;

        if (c->paused) {
            llhttp_resume(&c->parser);
            c->paused = false;
        }
        c->exec_base = base;
        c->exec_off = c->consumed;
        c->perr = KD_OK;
        c->perr_msg = NULL;
        e = llhttp_execute(&c->parser, base, n);
        if (e != HPE_OK) {
            const char *ep = llhttp_get_error_pos(&c->parser);

            used = ep != NULL && ep >= base && ep <= base + n ? (size_t)(ep - base) : n;
        }
        c->rpos += used;
        c->consumed += used;
        if (e == HPE_OK) {
            /* Header bytes llhttp skipped without a callback (blanks) count too. */
            if (c->phase == KD_HTTP_PH_HEAD && c->head_start != KD_HTTP_UNKNOWN &&
                c->consumed - c->head_start > c->srv->lim.max_header_bytes)
                kd_http_conn_fail(c, KD_EHEADERS, NULL);
            continue;
        }
        if (e == HPE_PAUSED && c->msg_done) {
            c->paused = true;
            kd_http_conn_dispatch(c);
            continue;
        }
        if (c->perr != KD_OK)
            kd_http_conn_fail(c, c->perr, c->perr_msg);
        else if (e == HPE_PAUSED_UPGRADE)
            c->close_after = true; /* never switches protocols; its answer is queued */
        else if (e == HPE_PAUSED_H2_UPGRADE)
            kd_http_conn_fail(c, KD_EBADREQUEST, "HTTP/2 is not supported");
        else
            kd_http_conn_fail(c, KD_EBADREQUEST, llhttp_get_error_reason(&c->parser));
    }
}

/* True when c has nothing in progress: no request, no partial input, nothing to write. */
bool kd_http_conn_idle(const struct kd_http_conn *c)
{
    return !c->closing && !c->lingering && !c->in_process && !c->req_active && !c->writing &&
           c->phase == KD_HTTP_PH_IDLE && c->rpos >= c->rlen && c->wbuf.len == 0;
}

/*
 * The connection's engine: parse, dispatch, flush; repeat while synchronous
 * answers free the way for more buffered requests.
 */
void kd_http_conn_process(struct kd_http_conn *c)
{
    if (c->in_process || c->closing || c->lingering)
        return;
    c->in_process = true;
    for (;;) {
        kd_http_conn_parse(c);
        if (c->closing)
            break;
        kd_http_conn_flush(c);
        if (c->closing || c->writing)
            break;
        if (c->close_after) {
            if (!c->req_active)
                kd_http_conn_close_graceful(c);
            break;
        }
        if (c->req_active || c->rpos >= c->rlen)
            break;
    }
    c->in_process = false;
    if (c->closing || c->lingering) {
        kd_http_conn_update_reading(c);
        return;
    }
    if (c->rpos >= c->rlen)
        c->rpos = c->rlen = 0;
    if (!c->req_active && !c->writing &&
        (c->eof || (c->srv->shutting_down && kd_http_conn_idle(c)))) {
        kd_http_conn_close_now(c);
        return;
    }
    kd_http_conn_update_reading(c);
    kd_http_conn_timer_update(c);
}

/*
 * Allocates and sets up the connection, then accepts it from the listener.
 */
void kd_http_conn_accept(struct kd_http_server *s)
{
    struct kd_http_conn *c;

    c = malloc(sizeof(*c));
    if (c == NULL) {
        kd_log_error(KD_HTTP_LOG, "%s: out of memory accepting a connection", s->label);
        kd_http_server_reject(s);
        return;
    }
    memset(c, 0, offsetof(struct kd_http_conn, rbuf));
    c->srv = s;
    c->req.conn = c;
    kd_buf_init(&c->req.head, 2 * s->lim.max_header_bytes + 1024);
    kd_buf_init(&c->req.body, s->lim.max_body_bytes + 1);
    kd_buf_init(&c->req.xhdr, KD_HTTP_EXTRA_MAX);
    kd_buf_init(&c->wbuf, 0);
    kd_buf_init(&c->sbuf, 0);
    kd_buf_init(&c->ebuf, 0);
    llhttp_init(&c->parser, HTTP_REQUEST, &kd_http_settings);
    c->parser.data = c;
    c->head_start = KD_HTTP_UNKNOWN;
    c->phase = KD_HTTP_PH_IDLE;
    c->phase_ms = uv_now(s->loop);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->wreq.data = c;
    c->sreq.data = c;
    c->handles = 2;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconn++;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        kd_http_conn_close_now(c);
        return;
    }
    c->counted = true;
    s->nopen++;
    kd_metrics_conn_accepted(s->m, s->m_server);
    uv_tcp_nodelay(&c->tcp, 1);
    kd_http_conn_update_reading(c);
    kd_http_conn_timer_update(c);
}
