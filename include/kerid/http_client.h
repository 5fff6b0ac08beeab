/*
 * An outbound HTTP/1.1 GET on the libuv loop: kerid's client for OOBI
 * resolution (POST /ext/oobi). http:// only; every step bounded (connect
 * time, whole-request time, header and body bytes). One request per
 * connection ("Connection: close"); no Accept header is sent, like keripy's
 * hio client, so that a KERI peer answers in its keripy form. Responses with
 * Content-Length, chunked and close-delimited bodies are read.
 *
 * Everything here runs on the thread of the loop the request was started on.
 */
#ifndef KERID_HTTP_CLIENT_H
#define KERID_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kerid/err.h"

/* Longest URL kd_http_get takes, terminating NUL excluded. */
#define KD_HTTP_CLIENT_URL_MAX 4095u
/* Longest Content-Type or KERI-AID value reported (longer ones fail the request). */
#define KD_HTTP_CLIENT_VALUE_MAX 255u

/* Bounds of one request; a zero field takes the default in brackets. */
struct kd_http_client_limits {
    uint64_t connect_timeout_ms; /* name resolution + TCP connect [5000] */
    uint64_t total_timeout_ms;   /* the whole request, from kd_http_get [30000] */
    size_t max_body_bytes;       /* decoded response body [4 MiB] */
    size_t max_header_bytes;     /* status line + headers [64 KiB] */
};

/* A complete response; pointers valid only during the callback. */
struct kd_http_client_resp {
    int status;
    const char *content_type; /* "" when absent */
    const char *keri_aid;     /* KERI-AID header, "" when absent */
    const unsigned char *body;
    size_t body_len;
};

/*
 * Called exactly once per started request (unless cancelled), on the loop
 * thread: err KD_OK with resp set (any status), or an error with why, a
 * static phrase, and resp NULL:
 *   KD_EIO       name resolution failed, connection refused or reset
 *   KD_ETIMEOUT  connect or whole-request timeout
 *   KD_ETOOLARGE body over max_body_bytes
 *   KD_EHEADERS  head over max_header_bytes or a reported value too long
 *   KD_EBADREQUEST  malformed or truncated HTTP response
 *   KD_ENOMEM
 */
typedef void (*kd_http_client_cb)(enum kd_err err, const char *why,
                                  const struct kd_http_client_resp *resp, void *arg);

struct kd_http_get;

/*
 * Starts GET url on loop. url must be "http://host[:port][/path][?query]"
 * (a fragment is dropped; host a name, an IPv4 address or a bracketed IPv6
 * address; no user info). Returns KD_OK with *out (may be NULL when the
 * caller never cancels) set and cb to come, or, with cb never called:
 * KD_EINVAL and *why for a URL that is not such a URL (https is refused:
 * "only http:// URLs are supported"), KD_ENOMEM, KD_EIO when libuv refuses
 * to start.
 */
enum kd_err kd_http_get(uv_loop_t *loop, const char *url, const struct kd_http_client_limits *lim,
                        kd_http_client_cb cb, void *arg, struct kd_http_get **out,
                        const char **why);

/*
 * Cancels a request whose callback has not run yet: the callback will not
 * run; the request's memory is released once the loop has run its close
 * callbacks. g must not be used afterwards. NULL is ignored.
 */
void kd_http_get_cancel(struct kd_http_get *g);

#endif
