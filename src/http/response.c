/*
 * Answer formatting: status line, framing headers, JSON error bodies. Each
 * answer is built in one buffer so that it leaves in one write.
 */
#include "http_int.h"

#include <string.h>

/*
 * RFC 9110 reason phrases for the statuses kerid can send.
 */
const char *kd_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* Writes v in decimal at p (which has room for 20 digits); returns the length. */
static size_t kd_http_utoa(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Appends n bytes at *pp and advances it; the caller reserved the room. */
static void kd_http_put(char **pp, const void *s, size_t n)
{
    memcpy(*pp, s, n);
    *pp += n;
}

/*
 * Sizes the answer, reserves it once, then copies the pieces in.
 */
enum kd_err kd_http_format(struct kd_buf *out, int status, const char *ctype, const void *body,
                           size_t len, bool omit_body, enum kd_http_conn_hdr conn,
                           const void *extra, size_t extra_len)
{
    static const char ct[] = "Content-Type: ", cl[] = "Content-Length: ";
    static const char close_hdr[] = "Connection: close\r\n";
    static const char ka_hdr[] = "Connection: keep-alive\r\n";
    const char *reason;
    const bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    size_t ctype_len = 0, reason_len, total;
    char num[20], *p;
    size_t num_len = 0;
    enum kd_err err;

    if (status < 100 || status > 999)
        status = 500;
    reason = kd_http_reason(status);
    reason_len = strlen(reason);
    if (ctype != NULL) {
        ctype_len = strlen(ctype);
        if (ctype_len == 0 || ctype[strcspn(ctype, "\r\n")] != '\0')
            ctype = NULL; /* never let a handler split the header block */
    }
    if (body == NULL)
        len = 0;
    if (no_body || omit_body)
        omit_body = true;
    total = 9 + 3 + 1 + reason_len + 2; /* "HTTP/1.1 200 OK\r\n" */
    if (ctype != NULL)
        total += sizeof(ct) - 1 + ctype_len + 2;
    if (!no_body) {
        num_len = kd_http_utoa(num, len);
        total += sizeof(cl) - 1 + num_len + 2;
    }
    if (conn == KD_HTTP_CONN_CLOSE)
        total += sizeof(close_hdr) - 1;
    else if (conn == KD_HTTP_CONN_KEEP_ALIVE)
        total += sizeof(ka_hdr) - 1;
    total += extra_len + 2;
    if (!omit_body) {
        if (len > SIZE_MAX / 2 - total)
            return KD_ETOOLARGE;
        total += len;
    }
    if ((err = kd_buf_reserve(out, total)) != KD_OK)
        return err;

    p = (char *)out->data + out->len;
    kd_http_put(&p, "HTTP/1.1 ", 9);
    p[0] = (char)('0' + status / 100);
    p[1] = (char)('0' + status / 10 % 10);
    p[2] = (char)('0' + status % 10);
    p[3] = ' ';
    p += 4;
    kd_http_put(&p, reason, reason_len);
    kd_http_put(&p, "\r\n", 2);
    if (ctype != NULL) {
        kd_http_put(&p, ct, sizeof(ct) - 1);
        kd_http_put(&p, ctype, ctype_len);
        kd_http_put(&p, "\r\n", 2);
    }
    if (!no_body) {
        kd_http_put(&p, cl, sizeof(cl) - 1);
        kd_http_put(&p, num, num_len);
        kd_http_put(&p, "\r\n", 2);
    }
    if (conn == KD_HTTP_CONN_CLOSE)
        kd_http_put(&p, close_hdr, sizeof(close_hdr) - 1);
    else if (conn == KD_HTTP_CONN_KEEP_ALIVE)
        kd_http_put(&p, ka_hdr, sizeof(ka_hdr) - 1);
    if (extra_len > 0)
        kd_http_put(&p, extra, extra_len);
    kd_http_put(&p, "\r\n", 2);
    if (!omit_body && len > 0)
        kd_http_put(&p, body, len);
    out->len = (size_t)(p - (char *)out->data);
    return KD_OK;
}

/*
 * Builds the JSON error body; the name comes from the kd_err table, the
 * message is escaped as serde_json does.
 */
enum kd_err kd_http_error_json(struct kd_buf *out, enum kd_err err, const char *message)
{
    enum kd_err e;

    kd_buf_reset(out);
    if (message == NULL)
        message = kd_err_message(err);
    if ((e = kd_buf_append_str(out, "{\"error\":\"")) != KD_OK ||
        (e = kd_buf_append_str(out, kd_err_name(err))) != KD_OK ||
        (e = kd_buf_append_str(out, "\",\"message\":\"")) != KD_OK ||
        (e = kd_buf_append_json_escaped(out, message, strlen(message))) != KD_OK)
        return e;
    return kd_buf_append(out, "\"}", 2);
}
