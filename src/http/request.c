/*
 * What a handler sees of a request, and how it answers.
 */
#include "http_int.h"

#include <string.h>
#include <strings.h>

#include "kerid/log.h"

#define KD_HTTP_LOG "http"

/* The stored request head (URL, headers, parameters); "" if nothing is stored. */
static const char *kd_http_head(const struct kd_http_req *r)
{
    return r->head.data != NULL ? (const char *)r->head.data : "";
}

/*
 * The method as received (HEAD stays HEAD on a GET route).
 */
enum kd_http_method kd_http_req_method(const struct kd_http_req *r)
{
    return r->method;
}

/*
 * The path inside the stored URL.
 */
const char *kd_http_req_path(const struct kd_http_req *r, size_t *len)
{
    if (r->path_root || r->head.data == NULL) {
        if (len != NULL)
            *len = r->path_root ? 1 : 0;
        return r->path_root ? "/" : "";
    }
    if (len != NULL)
        *len = r->path_len;
    return kd_http_head(r) + r->path_off;
}

/*
 * The query string inside the stored URL.
 */
const char *kd_http_req_query(const struct kd_http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->has_query ? r->query_len : 0;
    return r->has_query ? kd_http_head(r) + r->query_off : NULL;
}

/*
 * The decoded copy made when the request was routed.
 */
const char *kd_http_req_param(const struct kd_http_req *r, unsigned i, size_t *len)
{
    if (i >= r->nparam) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = r->param_len[i];
    return kd_http_head(r) + r->param_off[i];
}

/*
 * Linear scan of at most KD_HTTP_MAX_HEADERS lines.
 */
const char *kd_http_req_header(const struct kd_http_req *r, const char *name, size_t *len)
{
    const size_t nl = name != NULL ? strlen(name) : 0;

    for (unsigned i = 0; nl > 0 && i < r->nhdr; i++) {
        const struct kd_http_hdr *h = &r->hdr[i];

        if (h->name_len == nl && strncasecmp(kd_http_head(r) + h->name_off, name, nl) == 0) {
            if (len != NULL)
                *len = h->val_len;
            return kd_http_head(r) + h->val_off;
        }
    }
    if (len != NULL)
        *len = 0;
    return NULL;
}

/*
 * The body buffer, NUL-terminated by on_message_complete.
 */
const unsigned char *kd_http_req_body(const struct kd_http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->body.len;
    return r->body.data != NULL ? r->body.data : (const unsigned char *)"";
}

/*
 * The ctx of the server the request came to.
 */
void *kd_http_req_server_ctx(const struct kd_http_req *r)
{
    return r->conn->srv->ctx;
}

/*
 * Validates name and value, then appends the line to the request's extra
 * headers (bounded by KD_HTTP_EXTRA_MAX).
 */
enum kd_err kd_http_res_header(struct kd_http_req *r, const char *name, const char *value)
{
    struct kd_http_conn *c = r->conn;
    const size_t xlen = r->xhdr.len;
    size_t nl, vl;
    enum kd_err err;

    if (c->closing)
        return KD_OK;
    if (name == NULL || value == NULL || name[0] == '\0')
        return KD_EINVAL;
    nl = strlen(name);
    for (size_t i = 0; i < nl; i++) {
        if (!kd_http_tchar((unsigned char)name[i]))
            return KD_EINVAL;
    }
    if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "connection") == 0 ||
        strcasecmp(name, "transfer-encoding") == 0)
        return KD_EINVAL;
    vl = strlen(value);
    for (size_t i = 0; i < vl; i++) {
        const unsigned char ch = (unsigned char)value[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return KD_EINVAL;
    }
    if ((err = kd_buf_append(&r->xhdr, name, nl)) != KD_OK ||
        (err = kd_buf_append(&r->xhdr, ": ", 2)) != KD_OK ||
        (err = kd_buf_append(&r->xhdr, value, vl)) != KD_OK ||
        (err = kd_buf_append(&r->xhdr, "\r\n", 2)) != KD_OK)
        r->xhdr.len = xlen; /* all or nothing */
    return err;
}

/*
 * Queues the answer (or, for a connection already closed, just counts and
 * releases the request), then lets the connection go on with its input.
 */
void kd_http_respond(struct kd_http_req *r, int status, const char *content_type, const void *body,
                     size_t len)
{
    struct kd_http_conn *c = r->conn;
    enum kd_err err;

    if (!c->req_active || c->phase != KD_HTTP_PH_HANDLER || r->stream_open) {
        kd_log_error(KD_HTTP_LOG, "%s: answer to a request that is not waiting for one",
                     c->srv->label);
        return;
    }
    if (status < 200 || status > 599)
        status = 500;
    if (c->closing) {
        kd_http_conn_observe(c, status);
        kd_http_conn_req_done(c);
        kd_http_conn_maybe_free(c);
        return;
    }
    err = kd_http_conn_answer(c, status, content_type, body, len,
                              !r->keep_alive || c->srv->shutting_down);
    kd_http_conn_req_done(c);
    if (err != KD_OK) {
        kd_log_error(KD_HTTP_LOG, "%s: cannot queue an answer: %s", c->srv->label,
                     kd_err_message(err));
        kd_http_conn_close_now(c);
        return;
    }
    if (!c->in_process)
        kd_http_conn_process(c);
}

/*
 * Builds the JSON body in the connection's scratch buffer and answers with it.
 */
void kd_http_respond_error(struct kd_http_req *r, enum kd_err err, const char *message)
{
    struct kd_http_conn *c = r->conn;
    const int status = kd_err_status(err);

    if (c->closing || kd_http_error_json(&c->ebuf, err, message) != KD_OK) {
        kd_http_respond(r, status, NULL, NULL, 0);
        return;
    }
    kd_http_respond(r, status, "application/json", c->ebuf.data, c->ebuf.len);
}
