/*
 * The HTTP/1.1 server: libuv TCP, llhttp parsing, an exact-match router,
 * per-connection limits and timeouts, JSON error bodies and request metrics.
 *
 * Everything here runs on the thread of the loop the server was created on:
 * handlers are called there, and every kd_http_req_* / kd_http_res_* /
 * kd_http_respond* call must be made there (an answer computed on another
 * thread is reported back to the loop, e.g. through uv_async, and sent from it).
 *
 * One request per connection is in progress at a time: after a request has
 * been read completely, the connection parses nothing more until that request
 * has been answered, so pipelined requests are answered in order.
 *
 * The process must not die of SIGPIPE when a client goes away:
 * kd_http_server_listen sets SIGPIPE to SIG_IGN if it still has its default
 * disposition.
 */
#ifndef KERID_HTTP_H
#define KERID_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kerid/err.h"
#include "kerid/metrics.h"

enum kd_http_method {
    KD_HTTP_GET = 1,
    KD_HTTP_POST,
    KD_HTTP_PUT,
    KD_HTTP_DELETE,
    KD_HTTP_HEAD,
    KD_HTTP_OPTIONS,
};

struct kd_http_req;    /* opaque; lives inside its connection */
struct kd_http_server; /* opaque */

/* A route handler. ctx is the ctx given to kd_http_server_new. The handler
 * must answer the request exactly once with kd_http_respond or
 * kd_http_respond_error, before it returns or later on the loop thread. */
typedef void (*kd_http_handler_fn)(struct kd_http_req *req, void *ctx);

/*
 * One route. pattern is an absolute path whose segments are literals or
 * "{name}" placeholders: "/", "/oobi/{eid}", "/oobi/{cid}/{role}/{eid}". A
 * placeholder matches exactly one non-empty segment; literals match byte for
 * byte; there is no trailing-slash normalisation ("/a" does not match "/a/"),
 * as keriox. HEAD requests on a path with a GET route and no HEAD route run the
 * GET handler and the body is left out of the answer. name labels the route
 * in metrics ("oobi_eid"); routes may share a name; NULL uses the pattern.
 * Arrays of routes end with an entry whose pattern is NULL.
 *
 * CORS (as falcon's cors_enable, keripy-surface §8): every answer to a
 * routed request that has an Origin header carries
 * "Access-Control-Allow-Origin: *". OPTIONS on a path that has routes but no
 * OPTIONS route is answered here: 200, empty body, "Allow: <methods of the
 * path>, OPTIONS"; a CORS preflight (Origin and
 * Access-Control-Request-Method present) gets instead
 * Access-Control-Allow-Methods with that list, Access-Control-Allow-Headers
 * echoing Access-Control-Request-Headers ("*" when absent) and
 * Access-Control-Max-Age: 86400.
 */
struct kd_route {
    enum kd_http_method method;
    const char *pattern;
    kd_http_handler_fn handler;
    const char *name;
};

/* Defaults for fields of struct kd_http_limits left at 0. */
#define KD_HTTP_DEFAULT_MAX_HEADER_BYTES  65536u
#define KD_HTTP_DEFAULT_MAX_BODY_BYTES    262144u /* keriox (actix) body limit */
#define KD_HTTP_DEFAULT_MAX_CONNECTIONS   1024u
#define KD_HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define KD_HTTP_DEFAULT_BODY_TIMEOUT_MS   30000u
/* kli's hio client never reconnects after a server close (keripy-surface
 * §8): idle keep-alive connections are kept for a generous while. */
#define KD_HTTP_DEFAULT_IDLE_TIMEOUT_MS    300000u
#define KD_HTTP_DEFAULT_STREAM_QUEUE_BYTES 1048576u

/* Largest number of header lines in one request (more: 431). */
#define KD_HTTP_MAX_HEADERS 64
/* Largest number of "{x}" placeholders in a pattern, and of segments. */
#define KD_HTTP_MAX_PARAMS   8
#define KD_HTTP_MAX_SEGMENTS 16

/*
 * Per-server limits; a field left at 0 takes its KD_HTTP_DEFAULT_* value.
 *  max_header_bytes  request line + header lines of one request (at most
 *                    16 MiB); more → 431
 *                    (414 when the request target alone goes past it), closed.
 *  max_body_bytes    decoded body; a larger Content-Length → 413 before the
 *                    body is read, a chunked body growing past it → 413; closed.
 *  max_connections   open connections; one more is answered 503 and closed.
 *  header_timeout_ms from the first byte of a request to the end of its
 *                    headers; late → 408, closed.
 *  body_timeout_ms   from the end of the headers to the end of the body; late
 *                    → 408, closed. Also bounds how long one answer may take to
 *                    be written to a client that does not read (then closed).
 *  idle_timeout_ms   a connection with no request in progress is closed after
 *                    this long (never while a handler holds a request or a
 *                    stream is open).
 *  max_stream_queue_bytes  bytes of a streamed answer (kd_http_stream_write)
 *                    waiting to be written to a client that does not read
 *                    them; a write that would go past it closes the
 *                    connection (a write onto an empty queue is always taken).
 */
struct kd_http_limits {
    size_t max_header_bytes;
    size_t max_body_bytes;
    unsigned max_connections;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t idle_timeout_ms;
    size_t max_stream_queue_bytes;
};

/*
 * Creates a server on loop. label names it in metrics and logs ("witness",
 * at most 31 bytes). lim may be NULL (all defaults). routes and ctx must
 * outlive the server; the patterns are checked here. m may be NULL (no
 * metrics); otherwise it must outlive the server and it gets the server's
 * label, "unmatched" and the route names (1..63 printable bytes; a route
 * without name is labelled by its pattern) registered. Returns NULL if an
 * argument is invalid (a bad pattern or route name, a missing handler, a full
 * metrics table: the reason is logged) or memory runs out; when the metrics
 * table ran full, what was registered before stays. Nothing listens yet.
 */
struct kd_http_server *kd_http_server_new(uv_loop_t *loop, const char *label,
                                          const struct kd_http_limits *lim,
                                          const struct kd_route *routes, void *ctx,
                                          struct kd_metrics *m);

/*
 * Binds addr (IPv4 or IPv6 literal; NULL or "" = "0.0.0.0") and port (0 = an
 * ephemeral port, see kd_http_server_port) and starts accepting. Returns
 * KD_EINVAL for a bad address or a second call, KD_EIO if binding or listening
 * fails (address in use, permission; logged). After a failure the server
 * still needs kd_http_server_shutdown before kd_http_server_free.
 */
enum kd_err kd_http_server_listen(struct kd_http_server *s, const char *addr, uint16_t port);

/* The port the server listens on, 0 if it is not listening. */
uint16_t kd_http_server_port(const struct kd_http_server *s);

/* The ctx given to kd_http_server_new. */
void *kd_http_server_ctx(const struct kd_http_server *s);

/*
 * Graceful shutdown: stops accepting, closes idle keep-alive connections now,
 * lets requests in flight finish (their answers are written with
 * "Connection: close", then those connections close; a request whose headers
 * were still arriving may complete or time out), tells every open stream to
 * end (KD_HTTP_STREAM_SHUTDOWN, from inside this call; it does not wait for
 * streams to end by themselves) and calls done(arg) once every connection is
 * gone and every handler has answered. done may be NULL; it may be called
 * before this function returns when nothing is open. A second call does
 * nothing.
 */
void kd_http_server_shutdown(struct kd_http_server *s, void (*done)(void *arg), void *arg);

/* Frees the server. Call it after the shutdown completed (done was called or
 * the loop ran dry), or on a server that never listened. NULL is ignored. */
void kd_http_server_free(struct kd_http_server *s);

/*
 * Request accessors. Everything returned stays valid until the request is
 * answered. A len out-parameter may be NULL.
 */

/* KD_HTTP_HEAD for a HEAD request even when it runs a GET route; 0 for a
 * method this server does not route (never seen by a handler). */
enum kd_http_method kd_http_req_method(const struct kd_http_req *r);
/* The path of the request target, without the query string, as received (not
 * percent-decoded; for an absolute-form target, the part from its path on).
 * Not NUL-terminated. */
const char *kd_http_req_path(const struct kd_http_req *r, size_t *len);
/* The query string after '?', without the '?'; NULL (len 0) when the target
 * has no '?'. Not NUL-terminated, not decoded. */
const char *kd_http_req_query(const struct kd_http_req *r, size_t *len);
/* The value of query parameter name (its first occurrence), percent- and
 * '+'-decoded into out (cap bytes, NUL-terminated): 1 found, 0 absent, -1
 * present but empty, longer than cap - 1, malformed ("%" without two hex
 * digits) or holding a NUL. */
int kd_http_req_query_param(const struct kd_http_req *r, const char *name, char *out, size_t cap);
/* The i-th (from 0) placeholder of the matched pattern, percent-decoded
 * ("%XX" with two hex digits; anything else kept as is) and NUL-terminated
 * (it may contain a decoded NUL: use len). NULL if i is out of range. */
const char *kd_http_req_param(const struct kd_http_req *r, unsigned i, size_t *len);
/* The value of the first header called name (case-insensitive), with
 * surrounding blanks removed, NUL-terminated; NULL if absent. */
const char *kd_http_req_header(const struct kd_http_req *r, const char *name, size_t *len);
/* The decoded body (chunked transfer decoded); never NULL (an empty body is
 * ""), NUL-terminated after len bytes. */
const unsigned char *kd_http_req_body(const struct kd_http_req *r, size_t *len);
/* The ctx given to kd_http_server_new. */
void *kd_http_req_server_ctx(const struct kd_http_req *r);

/*
 * Adds "name: value" to the answer of r; call before responding. Returns
 * KD_EINVAL if name is not an HTTP token, is Content-Length, Connection or
 * Transfer-Encoding (the server frames answers itself), or value holds a
 * control byte other than tab (header injection); KD_ETOOLARGE past 4096
 * bytes of extra headers; KD_ENOMEM. The header is then not added. Does
 * nothing (KD_OK) for a request whose client went away.
 */
enum kd_err kd_http_res_header(struct kd_http_req *r, const char *name, const char *value);

/*
 * Answers r: status (200..599; anything else becomes 500), Content-Type
 * content_type unless NULL (or holding CR/LF: dropped), Content-Length len
 * and the body (left out for HEAD; neither for 204 and 304). body is copied;
 * it may point into the request (kd_http_req_body). The answer is queued for
 * writing before this returns; r must not be used afterwards. Call it exactly
 * once per request, on the loop thread, before the handler returns or later.
 * If the client went away meanwhile, this only releases the request. When
 * memory runs out for the answer, the connection is closed.
 */
void kd_http_respond(struct kd_http_req *r, int status, const char *content_type, const void *body,
                     size_t len);

/*
 * Answers r with the JSON error body {"error":"<kd_err_name>","message":"<message>"}
 * (message JSON-escaped; NULL = the table's default message), the status of
 * err from include/kerid/err.h and Content-Type application/json. Same rules
 * as kd_http_respond.
 */
void kd_http_respond_error(struct kd_http_req *r, enum kd_err err, const char *message);

/*
 * Streamed answers (server-sent events): the handler sends the head now and
 * the body in pieces, for as long as it likes, instead of calling
 * kd_http_respond. The request stays the handler's until it calls
 * kd_http_stream_end, exactly once, whatever happens to the connection; only
 * then does the connection read its next request. While a stream is open no
 * timeout applies to the connection except the write timeout: one write the
 * client does not take within body_timeout_ms closes it.
 */

/* What a stream's event callback is told. */
enum kd_http_stream_event {
    /* The connection closed (the client went away or reset, a write failed,
     * the client did not read: see max_stream_queue_bytes) before the
     * stream ended: writes now fail; call kd_http_stream_end to release the
     * request (it may be called from inside the callback). */
    KD_HTTP_STREAM_CLOSED = 1,
    /* The server is shutting down: end the stream now (kd_http_stream_end,
     * which still writes the end of the body; the connection then closes). */
    KD_HTTP_STREAM_SHUTDOWN,
    /* Everything written so far has reached the socket after the client had
     * been slow to read: a handler that held back data may write again. */
    KD_HTTP_STREAM_DRAINED,
};

/* A stream's event callback; arg is the one given to kd_http_stream_begin.
 * It is never called from inside a kd_http_stream_* call, and never after
 * kd_http_stream_end. */
typedef void (*kd_http_stream_fn)(struct kd_http_req *r, enum kd_http_stream_event ev, void *arg);

/*
 * Starts a streamed answer to r: queues the status line, Content-Type
 * content_type (NULL: none), the extra headers of kd_http_res_header, and
 * "Transfer-Encoding: chunked" for an HTTP/1.1 request, or, for HTTP/1.0, no
 * framing and "Connection: close" (the body ends when the connection
 * closes). An HTTP/1.1 request that asked to close (or arrived while the
 * server shuts down) gets "Connection: close" and the connection closes after
 * the stream ends. status 200..599 (else 500), not 204 or 304. fn is required;
 * arg is passed to it. The request is counted in metrics now. Returns KD_OK
 * (the stream is open), KD_EINVAL (a bad argument, r is not waiting for an
 * answer), KD_EUNAVAIL (the server is shutting down), KD_EIO (the client is
 * gone), KD_ENOMEM: then nothing was sent and r still has to be answered with
 * kd_http_respond or kd_http_respond_error.
 */
enum kd_err kd_http_stream_begin(struct kd_http_req *r, int status, const char *content_type,
                                 kd_http_stream_fn fn, void *arg);

/*
 * Queues len bytes of body (copied; one chunk for HTTP/1.1; nothing for HEAD
 * or len 0) and starts writing them. Returns KD_OK, KD_EINVAL (no open stream
 * on r), KD_EIO (the connection is closed or closing: nothing queued) or
 * KD_EUNAVAIL (the client did not read what was queued before and this write
 * would take the queue past max_stream_queue_bytes: the connection is closed
 * now), KD_ENOMEM (the connection is closed). After an error other than
 * KD_EINVAL the stream is dead: call kd_http_stream_end (the CLOSED event
 * follows unless the stream ends first).
 */
enum kd_err kd_http_stream_write(struct kd_http_req *r, const void *data, size_t len);

/* Bytes of r's stream queued and not yet taken by the socket (0 when none, or
 * when r has no open stream). A handler can hold back while this is high and
 * go on at KD_HTTP_STREAM_DRAINED. */
size_t kd_http_stream_queued(const struct kd_http_req *r);

/*
 * Ends r's stream: queues the terminating chunk (HTTP/1.1) and releases r;
 * the connection then reads the next request (keep-alive) or closes (the
 * request asked to close, HTTP/1.0, shutdown). On a closed connection it only
 * releases r. r must not be used afterwards and the event callback is not
 * called any more. Does nothing for a request without an open stream.
 */
void kd_http_stream_end(struct kd_http_req *r);

#endif
