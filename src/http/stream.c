/*
 * Streamed answers: a head without Content-Length, then the body in chunks
 * (HTTP/1.1) or delimited by the close of the connection (HTTP/1.0), for as
 * long as the handler keeps the stream open. The request stays active the
 * whole time, so the connection parses nothing more and no idle timeout
 * applies; the queue of unwritten bytes is bounded per connection.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#include "kerid/log.h"

#define KD_HTTP_LOG "http"

/* The open stream of r, or NULL when r is not streaming. */
static struct kd_http_conn *kd_http_stream_conn(const struct kd_http_req *r)
{
    if (r == NULL || !r->stream_open || !r->conn->req_active)
        return NULL;
    return r->conn;
}

/*
 * Formats the head into the connection's queue at once, so that it leaves
 * with the first chunk or on its own.
 */
enum kd_err kd_http_stream_begin(struct kd_http_req *r, int status, const char *content_type,
                                 kd_http_stream_fn fn, void *arg)
{
    static const char te[] = "Transfer-Encoding: chunked\r\n";
    static const char cl[] = "Connection: close\r\n";
    struct kd_http_conn *c;
    struct kd_buf head;
    const char *reason;
    bool closing;
    enum kd_err err;

    if (r == NULL || fn == NULL)
        return KD_EINVAL;
    c = r->conn;
    if (!c->req_active || c->phase != KD_HTTP_PH_HANDLER || r->stream_open)
        return KD_EINVAL;
    if (status < 200 || status > 599)
        status = 500;
    if (status == 204 || status == 304)
        return KD_EINVAL;
    if (c->closing)
        return KD_EIO;
    if (c->srv->shutting_down)
        return KD_EUNAVAIL;
    if (content_type != NULL &&
        (content_type[0] == '\0' || content_type[strcspn(content_type, "\r\n")] != '\0'))
        content_type = NULL;
    closing = r->http10 || !r->keep_alive;
    reason = kd_http_reason(status);
    kd_buf_init(&head, 0);
    err = kd_buf_printf(&head, "HTTP/1.1 %03d %s\r\n", status, reason);
    if (err == KD_OK && content_type != NULL)
        err = kd_buf_printf(&head, "Content-Type: %s\r\n", content_type);
    if (err == KD_OK && !r->http10)
        err = kd_buf_append(&head, te, sizeof(te) - 1);
    if (err == KD_OK && closing)
        err = kd_buf_append(&head, cl, sizeof(cl) - 1);
    if (err == KD_OK && r->xhdr.len > 0)
        err = kd_buf_append(&head, r->xhdr.data, r->xhdr.len);
    if (err == KD_OK)
        err = kd_buf_append(&head, "\r\n", 2);
    if (err == KD_OK)
        err = kd_http_conn_queue(c, head.data, head.len);
    kd_buf_free(&head);
    if (err != KD_OK)
        return err;
    r->stream_open = true;
    r->stream_chunked = !r->http10;
    r->stream_told = false;
    r->stream_slow = false;
    r->stream_fn = fn;
    r->stream_arg = arg;
    if (closing)
        c->close_after = true;
    kd_http_conn_observe(c, status);
    kd_http_conn_flush(c);
    return KD_OK;
}

/*
 * Frames the bytes as one chunk, checks the queue bound, queues and writes.
 */
enum kd_err kd_http_stream_write(struct kd_http_req *r, const void *data, size_t len)
{
    struct kd_http_conn *c = kd_http_stream_conn(r);
    size_t queued;
    char size[24];
    int n = 0;
    enum kd_err err;

    if (c == NULL)
        return KD_EINVAL;
    if (c->closing || c->lingering)
        return KD_EIO;
    if (r->head_only || len == 0)
        return KD_OK;
    queued = c->wbuf.len + c->sbuf.len;
    if (queued > 0 && (len > c->srv->lim.max_stream_queue_bytes ||
                       queued > c->srv->lim.max_stream_queue_bytes - len)) {
        kd_log_warn(KD_HTTP_LOG, "%s: a streaming client does not read: %zu bytes queued; closing",
                    c->srv->label, queued);
        kd_http_conn_close_now(c);
        return KD_EUNAVAIL;
    }
    if (r->stream_chunked)
        n = snprintf(size, sizeof(size), "%zx\r\n", len);
    err = kd_buf_reserve(c->writing ? &c->sbuf : &c->wbuf, (size_t)n + len + 2);
    if (err == KD_OK && n > 0)
        err = kd_http_conn_queue(c, size, (size_t)n);
    if (err == KD_OK)
        err = kd_http_conn_queue(c, data, len);
    if (err == KD_OK && r->stream_chunked)
        err = kd_http_conn_queue(c, "\r\n", 2);
    if (err != KD_OK) {
        /* A partial chunk cannot be taken back: the framing is lost. */
        kd_http_conn_close_now(c);
        return err;
    }
    kd_http_conn_flush(c);
    return c->closing ? KD_EIO : KD_OK;
}

/*
 * Both queues: what a write in flight holds and what waits behind it.
 */
size_t kd_http_stream_queued(const struct kd_http_req *r)
{
    const struct kd_http_conn *c = kd_http_stream_conn(r);

    return c != NULL ? c->wbuf.len + c->sbuf.len : 0;
}

/*
 * Terminates the body, releases the request and lets the connection go on
 * (or close, as decided when the stream began or by a shutdown since).
 */
void kd_http_stream_end(struct kd_http_req *r)
{
    struct kd_http_conn *c = kd_http_stream_conn(r);

    if (c == NULL)
        return;
    r->stream_open = false;
    r->stream_fn = NULL;
    r->stream_arg = NULL;
    if (c->closing) {
        kd_http_conn_req_done(c);
        if (!c->in_stream_cb)
            kd_http_conn_maybe_free(c);
        return;
    }
    if (r->stream_chunked && !r->head_only && kd_http_conn_queue(c, "0\r\n\r\n", 5) != KD_OK) {
        kd_http_conn_req_done(c);
        kd_http_conn_close_now(c);
        return;
    }
    if (c->srv->shutting_down || !r->stream_chunked)
        c->close_after = true;
    kd_http_conn_req_done(c);
    if (!c->in_process)
        kd_http_conn_process(c);
}
