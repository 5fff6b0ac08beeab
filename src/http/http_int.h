/*
 * Internals shared by the files of src/http: the server, connection and
 * request structures, and the few functions one file calls in another.
 */
#ifndef KERID_HTTP_INT_H
#define KERID_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <llhttp.h>
#include <uv.h>

#include "kerid/buf.h"
#include "kerid/http.h"
#include "kerid/metrics.h"
#include "router.h"

#define KD_HTTP_READ_BUF  16384u /* per-connection read buffer */
#define KD_HTTP_KEEP_BUF  65536u /* buffers grown past this are released after each request */
#define KD_HTTP_WBUF_SOFT 65536u /* stop parsing pipelined requests until this much is written */
#define KD_HTTP_EXTRA_MAX 4096u  /* bytes of extra response headers per request */
#define KD_HTTP_LINGER_MS 2000u  /* after a closing answer: how long unread input is drained */
#define KD_HTTP_BACKLOG   1024
#define KD_HTTP_UNKNOWN   UINT64_MAX

struct kd_http_hdr {
    uint32_t name_off, name_len, val_off, val_len; /* in req.head, each followed by a NUL */
};

/* Where a connection is in its current request. */
enum kd_http_phase {
    KD_HTTP_PH_IDLE,    /* between requests (idle timeout) */
    KD_HTTP_PH_HEAD,    /* request line and headers arriving (header timeout) */
    KD_HTTP_PH_BODY,    /* body arriving (body timeout) */
    KD_HTTP_PH_HANDLER, /* handed to its handler; no timeout */
};

/* Where the header callbacks are inside one header line. */
enum kd_http_hstate { KD_HTTP_HS_NONE, KD_HTTP_HS_FIELD, KD_HTTP_HS_VALUE };

struct kd_http_req {
    struct kd_http_conn *conn;
    enum kd_http_method method; /* 0 when no route can have it */
    const struct kd_http_croute *route;
    unsigned allow;  /* methods routed on the path (bit 1 << method) */
    unsigned metric; /* metrics route index */
    bool head_only;  /* answer without body (HEAD) */
    bool keep_alive;
    bool http10;
    enum kd_http_hstate hstate;
    struct kd_buf head; /* URL, header names and values, decoded params; NUL after each */
    struct kd_buf body;
    struct kd_buf xhdr; /* extra response header lines */
    uint32_t url_len;   /* the URL starts head */
    uint32_t path_off, path_len;
    uint32_t query_off, query_len;
    bool has_query, path_root; /* path_root: absolute-form target without a path: "/" */
    unsigned nhdr;
    struct kd_http_hdr hdr[KD_HTTP_MAX_HEADERS];
    unsigned nparam;
    uint32_t param_off[KD_HTTP_MAX_PARAMS], param_len[KD_HTTP_MAX_PARAMS];
    uint64_t t_begin_ns; /* first byte, uv_hrtime */
    /* A streamed answer (kd_http_stream_begin .. kd_http_stream_end). */
    bool stream_open;    /* begun, not yet ended by the handler */
    bool stream_chunked; /* body framed as chunks (HTTP/1.1) */
    bool stream_told;    /* SHUTDOWN was delivered */
    bool stream_slow;    /* a write had to wait: DRAINED is due when the queue empties */
    kd_http_stream_fn stream_fn;
    void *stream_arg;
};

struct kd_http_server;

struct kd_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    llhttp_t parser;
    struct kd_http_server *srv;
    struct kd_http_conn *prev, *next;
    struct kd_http_req req;
    struct kd_buf wbuf; /* answers waiting to be written, in order */
    struct kd_buf sbuf; /* stream bytes queued while wbuf is being written */
    struct kd_buf ebuf; /* scratch for JSON error bodies */
    size_t rpos, rlen;  /* unparsed input is rbuf[rpos, rlen) */
    uint64_t consumed;  /* stream offset of rbuf[rpos] */
    const char *exec_base;
    uint64_t exec_off;   /* stream offset of exec_base during llhttp_execute */
    uint64_t head_start; /* stream offset of the request line, or KD_HTTP_UNKNOWN */
    uint64_t trailer_bytes;
    enum kd_http_phase phase;
    uint64_t phase_ms; /* uv_now when the phase began */
    uint64_t write_ms; /* uv_now when an asynchronous write began */
    uint64_t linger_ms;
    uint64_t armed;   /* deadline the timer is armed for, 0 = none */
    enum kd_err perr; /* error raised inside a parser callback */
    const char *perr_msg;
    unsigned handles; /* open libuv handles (tcp, timer) */
    bool reading, writing, in_process, close_after, eof, closing, lingering, paused, msg_done,
        req_active, counted, in_stream_cb;
    char rbuf[KD_HTTP_READ_BUF];
};

enum kd_http_lst { KD_HTTP_LST_NONE, KD_HTTP_LST_OPEN, KD_HTTP_LST_CLOSING, KD_HTTP_LST_CLOSED };

struct kd_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    enum kd_http_lst lst;
    uint16_t port;
    char label[KD_METRICS_MAX_LABEL + 1];
    struct kd_http_limits lim;
    struct kd_http_router router;
    void *ctx;
    struct kd_metrics *m;
    unsigned m_unmatched; /* metrics route index of KD_METRICS_UNMATCHED */
    unsigned m_server;
    struct kd_buf reject; /* the 503 answer sent to connections over the limit */
    struct kd_http_conn *conns;
    unsigned nconn;   /* connection structures alive */
    unsigned nopen;   /* connections not yet closing */
    unsigned nreject; /* refused connections still closing */
    bool shutting_down, done_called;
    void (*done)(void *arg);
    void *done_arg;
};

/* True for the RFC 9110 token characters header names are made of. */
static inline bool kd_http_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* What the Connection header of an answer says. */
enum kd_http_conn_hdr { KD_HTTP_CONN_NONE, KD_HTTP_CONN_CLOSE, KD_HTTP_CONN_KEEP_ALIVE };

/*
 * Appends one complete answer to out: status line, Content-Type (if ctype is
 * not NULL), Content-Length (not for 204/304), the Connection header, the
 * extra header lines (already "name: value\r\n"), a blank line and the body
 * unless omit_body. Reserves the whole size first, so on error (KD_ETOOLARGE,
 * KD_ENOMEM) out is unchanged.
 */
enum kd_err kd_http_format(struct kd_buf *out, int status, const char *ctype, const void *body,
                           size_t len, bool omit_body, enum kd_http_conn_hdr conn,
                           const void *extra, size_t extra_len);

/* Replaces out with {"error":"<name>","message":"<escaped message>"}. */
enum kd_err kd_http_error_json(struct kd_buf *out, enum kd_err err, const char *message);

/* The reason phrase of a status ("Not Found"); "Unknown" for unlisted ones. */
const char *kd_http_reason(int status);

/* Queues the answer to the current request of c (conn.c); close marks the
 * connection to close once written. Records the request in metrics. */
enum kd_err kd_http_conn_answer(struct kd_http_conn *c, int status, const char *ctype,
                                const void *body, size_t len, bool close);

/* The current request of c got its answer (or was dropped): the connection
 * may parse the next one (conn.c). */
void kd_http_conn_req_done(struct kd_http_conn *c);

/* Runs the parser over buffered input, dispatches complete requests, flushes
 * answers, starts closes (conn.c). No-op while already running for c. */
void kd_http_conn_process(struct kd_http_conn *c);

/* Closes the connection at once (no more writing) (conn.c). */
void kd_http_conn_close_now(struct kd_http_conn *c);

/* Frees c if its handles are closed and no handler holds its request (conn.c). */
void kd_http_conn_maybe_free(struct kd_http_conn *c);

/* Records an answered request in metrics (conn.c). */
void kd_http_conn_observe(struct kd_http_conn *c, int status);

/* Re-arms the connection timer when the deadline of its phase moved earlier
 * than the armed one (conn.c). */
void kd_http_conn_timer_update(struct kd_http_conn *c);

/* Starts or stops reading: read while the input buffer has room (conn.c). */
void kd_http_conn_update_reading(struct kd_http_conn *c);

/* True when c has nothing in progress: no request, no partial input,
 * nothing to write (conn.c). */
bool kd_http_conn_idle(const struct kd_http_conn *c);

/* Delivers ev to the stream callback of c's request (SHUTDOWN at most
 * once) (conn.c). */
void kd_http_conn_stream_event(struct kd_http_conn *c, enum kd_http_stream_event ev);

/* Appends to the queue of c: to wbuf, or to sbuf while wbuf is being written
 * (conn.c). */
enum kd_err kd_http_conn_queue(struct kd_http_conn *c, const void *p, size_t n);

/* Starts writing what is queued (conn.c). */
void kd_http_conn_flush(struct kd_http_conn *c);

/* Accepts a pending connection of s into a new kd_http_conn; when memory runs
 * out, refuses it instead (conn.c). */
void kd_http_conn_accept(struct kd_http_server *s);

/* Accepts a pending connection of s, sends it the 503 answer if the socket
 * takes it at once, and closes it (server.c). */
void kd_http_server_reject(struct kd_http_server *s);

/* Calls the shutdown callback once the listener and every connection are
 * gone (server.c). */
void kd_http_server_check_done(struct kd_http_server *s);

/* The llhttp callbacks (parse.c). */
extern const llhttp_settings_t kd_http_settings;

#endif
