/*
 * Receipted-events load generator for a kerid witness (a benchmark, not a
 * test). It reads a corpus written by the independent client
 * (`node kc.mjs gen ... --witnesses <witness prefix> --toad 1`, JSON Lines)
 * and sends every controller's valid events, in order, over C keep-alive
 * connections to 127.0.0.1: one thread and one blocking socket per
 * connection, each connection owning the controllers c with
 * c % conns == its index, one request in flight per connection.
 *
 *   loadgen run   --url http://127.0.0.1:PORT/ --corpus F --witness B...
 *                 [--protocol keriox|keripy] [--conns N] [--max-events N]
 *                 [--max-seconds S] [--timeout-ms T] [--answered FILE] [--label L]
 *                 [--started FILE]
 *   loadgen check --url http://127.0.0.1:PORT/ --witness B... --answered FILE
 *
 * run, protocol keriox: POST /process with body raw + atc; kerid answers 200
 * only after the event and its receipt were committed. protocol keripy:
 * POST /receipts, body raw, Content-Type application/cesr+json,
 * CESR-ATTACHMENT atc; the 200 carries the rct and its -C couple, which is
 * checked (rct d/i/s, the witness's prefix, the Ed25519 signature over the
 * event's raw bytes, libsodium) before the event counts as receipted. If the
 * route answers 404 the run stops at once and says so (route not there).
 * After a non-200 the rest of that controller's events are skipped (keriox
 * answers 200 for escrowed events too, so later events would prove nothing).
 * Bounded by --max-events and --max-seconds (no request is started after
 * it) and per request by --timeout-ms.
 *
 * Prints one JSON line: events/s over the wall time, latency p50/p90/p99/max,
 * statuses and errors by kind, the load generator's own CPU. With
 * --answered, writes "pre sn said" for every event answered 200.
 *
 * check reads such a file and, for every prefix in it, fetches the KEL
 * replay GET /oobi/{pre}/witness/{witness} and proves that each answered
 * event is there (found by SAID, with its prefix and sn) with a receipt of
 * the witness whose signature verifies over the stored raw bytes: a -C
 * couple (keriox replay form) or an indexed -B signature (keripy form).
 * Prints one JSON line; exit 1 if any answered event or receipt is missing
 * or invalid.
 *
 * Exit codes: 0 ok, 1 errors (run: any request not answered 200, or a bad
 * receipt; check: anything missing), 2 usage, 3 keripy route absent (404).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LG_CONNS_MAX 1024u
#define LG_LINE_MAX  (8u * 1024u * 1024u)  /* one corpus line */
#define LG_RESP_MAX  (64u * 1024u * 1024u) /* one response (a KEL replay) */
#define LG_ID_MAX    64u                   /* qb64 prefixes and SAIDs */
#define LG_PRE_LEN   44u                   /* Ed25519 B... prefix */
#define LG_SIG_LEN   88u                   /* 0B... signature */

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n != 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

/* A growable byte buffer. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;

        while (cap < b->len + extra + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Whether s is 1..LG_ID_MAX-1 qb64 characters. */
static bool qb64_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= LG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Decodes a qb64 primitive of total length tot whose code has hs characters
 * into raw (rawlen bytes): the code's characters count as zero bits, the
 * leading pad bytes are dropped. */
static bool qb64_raw(const char *q, size_t tot, size_t hs, unsigned char *raw, size_t rawlen)
{
    char tmp[LG_SIG_LEN + 1];
    unsigned char bin[LG_SIG_LEN];
    size_t binlen = 0;

    if (tot > LG_SIG_LEN || strlen(q) < tot)
        return false;
    memcpy(tmp, q, tot);
    for (size_t i = 0; i < hs; i++)
        tmp[i] = 'A';
    tmp[tot] = '\0';
    if (sodium_base642bin(bin, sizeof(bin), tmp, tot, NULL, &binlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        binlen != rawlen + hs)
        return false;
    memcpy(raw, bin + hs, rawlen);
    return true;
}

/* Verifies the qb64 Ed25519 signature sig (0B...) by the non-transferable
 * prefix pre (B...) over msg. */
static bool verify_couple(const char *pre, const char *sig, const void *msg, size_t n)
{
    unsigned char pk[32], s[64];

    if (pre[0] != 'B' || sig[0] != '0' || sig[1] != 'B' || !qb64_raw(pre, LG_PRE_LEN, 1, pk, 32) ||
        !qb64_raw(sig, LG_SIG_LEN, 2, s, 64))
        return false;
    return crypto_sign_verify_detached(s, msg, n, pk) == 0;
}

/* The size a KERI JSON version string at p (n bytes available) announces:
 * {"v":"KERI10JSON0000cb_", ...}; 0 if there is none. */
static size_t keri_size(const char *p, size_t n)
{
    static const char head[] = "{\"v\":\"KERI10JSON";
    size_t sz = 0;

    if (n < sizeof(head) - 1 + 7 || memcmp(p, head, sizeof(head) - 1) != 0)
        return 0;
    p += sizeof(head) - 1;
    for (int i = 0; i < 6; i++) {
        char c = p[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

        if (v < 0)
            return 0;
        sz = sz * 16 + (size_t)v;
    }
    return p[6] == '_' && sz <= n ? sz : 0;
}

/* ---- the corpus ---- */

struct event {
    char said[LG_ID_MAX];
    char sn[24]; /* hex, as in the event */
    char *raw;
    size_t raw_len;
    char *atc;
    size_t atc_len;
};

struct controller {
    char pre[LG_ID_MAX];
    unsigned nev, cap;
    struct event *ev;
};

struct corpus {
    struct controller *c;
    unsigned nc;
    unsigned long events, skipped_invalid;
};

static char *dup_n(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Loads the valid events of a kc.mjs corpus, per controller in send order. */
static int corpus_load(struct corpus *co, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int rc = -1;

    memset(co, 0, sizeof(*co));
    if (f == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *j;
        const char *type, *pre, *said, *sn, *raw, *atc, *expect;
        json_int_t c = -1;
        size_t raw_len = 0, atc_len = 0;

        lineno++;
        if ((size_t)n > LG_LINE_MAX) {
            fprintf(stderr, "loadgen: %s:%lu: line too long\n", path, lineno);
            goto out;
        }
        j = json_loadb(line, (size_t)n, 0, &jerr);
        if (j == NULL) {
            fprintf(stderr, "loadgen: %s:%lu: %s\n", path, lineno, jerr.text);
            goto out;
        }
        type = pre = said = sn = raw = atc = expect = NULL;
        if (json_unpack(j, "{s:s}", "type", &type) != 0)
            type = "";
        if (strcmp(type, "event") == 0) {
            if (json_unpack(j, "{s:I, s:s, s:s, s:s, s:s%, s:s%, s:s}", "c", &c, "i", &pre, "d",
                            &said, "s", &sn, "raw", &raw, &raw_len, "atc", &atc, &atc_len, "expect",
                            &expect) != 0 ||
                c < 0 || c >= 10000000 || !qb64_ok(pre) || !qb64_ok(said) || strlen(sn) >= 24 ||
                raw_len == 0) {
                fprintf(stderr, "loadgen: %s:%lu: not a corpus event\n", path, lineno);
                json_decref(j);
                goto out;
            }
            if (strcmp(expect, "valid") != 0) {
                co->skipped_invalid++;
            } else {
                struct controller *ct;
                struct event *e;

                if ((unsigned)c >= co->nc) {
                    co->c = xrealloc(co->c, ((size_t)c + 1) * sizeof(*co->c));
                    memset(co->c + co->nc, 0, ((size_t)c + 1 - co->nc) * sizeof(*co->c));
                    co->nc = (unsigned)c + 1;
                }
                ct = &co->c[c];
                if (ct->pre[0] == '\0')
                    snprintf(ct->pre, sizeof(ct->pre), "%s", pre);
                if (ct->nev == ct->cap) {
                    ct->cap = ct->cap ? ct->cap * 2 : 16;
                    ct->ev = xrealloc(ct->ev, ct->cap * sizeof(*ct->ev));
                }
                e = &ct->ev[ct->nev++];
                snprintf(e->said, sizeof(e->said), "%s", said);
                snprintf(e->sn, sizeof(e->sn), "%s", sn);
                e->raw = dup_n(raw, raw_len);
                e->raw_len = raw_len;
                e->atc = dup_n(atc, atc_len);
                e->atc_len = atc_len;
                co->events++;
            }
        }
        json_decref(j);
    }
    if (ferror(f)) {
        fprintf(stderr, "loadgen: %s: read error\n", path);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

static void corpus_free(struct corpus *co)
{
    for (unsigned i = 0; i < co->nc; i++) {
        for (unsigned k = 0; k < co->c[i].nev; k++) {
            free(co->c[i].ev[k].raw);
            free(co->c[i].ev[k].atc);
        }
        free(co->c[i].ev);
    }
    free(co->c);
}

/* ---- one HTTP/1.1 keep-alive connection ---- */

struct conn {
    int fd;
    struct sockaddr_in addr;
    int timeout_ms;
    struct buf in;   /* bytes read */
    struct buf out;  /* request being written */
    int status;      /* of the last response */
    size_t body_off; /* body of the last response in in.p */
    size_t body_len;
    bool must_close;
};

enum io_err { IO_OK, IO_REFUSED, IO_CONNECT, IO_RESET, IO_TIMEOUT, IO_EOF, IO_BAD, IO_COUNT_ };
static const char *const io_err_name[IO_COUNT_] = {
    "ok", "conn_refused", "connect", "conn_reset", "timeout", "closed_by_peer", "bad_response",
};

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static enum io_err conn_open(struct conn *c)
{
    struct timeval tv = {.tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000};
    int one = 1;

    conn_close(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return IO_CONNECT;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (const struct sockaddr *)&c->addr, sizeof(c->addr)) != 0) {
        enum io_err e = errno == ECONNREFUSED ? IO_REFUSED : IO_CONNECT;

        conn_close(c);
        return e;
    }
    return IO_OK;
}

static enum io_err io_errno(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK ? IO_TIMEOUT : IO_RESET;
}

/* Finds the end of the header block; parses status, Content-Length and
 * Connection. Returns 1 when the whole response is in c->in, 0 if more is
 * needed, -1 if malformed. */
static int conn_parse(struct conn *c)
{
    const char *p = c->in.p, *end, *h;
    size_t clen = 0;
    bool have_len = false;

    if (c->in.len < 12)
        return 0;
    end = memmem(p, c->in.len, "\r\n\r\n", 4);
    if (end == NULL)
        return c->in.len > 65536 ? -1 : 0;
    if (memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    c->status = atoi(p + 9);
    c->must_close = p[7] == '0';
    for (h = memchr(p, '\n', (size_t)(end - p)); h != NULL && h < end;
         h = memchr(h + 1, '\n', (size_t)(end - h))) {
        const char *line = h + 1;

        if ((size_t)(end - line) >= 15 && strncasecmp(line, "content-length:", 15) == 0) {
            char *e;
            unsigned long long v = strtoull(line + 15, &e, 10);

            if (v > LG_RESP_MAX)
                return -1;
            clen = (size_t)v;
            have_len = true;
        } else if ((size_t)(end - line) >= 11 && strncasecmp(line, "connection:", 11) == 0) {
            const char *v = line + 11;

            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                c->must_close = true;
        } else if ((size_t)(end - line) >= 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) {
            return -1; /* kerid answers with Content-Length */
        }
    }
    if (!have_len)
        clen = 0;
    c->body_off = (size_t)(end - p) + 4;
    c->body_len = clen;
    return c->in.len >= c->body_off + clen ? 1 : 0;
}

/* Sends the request in c->out and reads one whole response. */
static enum io_err conn_roundtrip(struct conn *c)
{
    size_t off = 0;

    if (c->fd < 0) {
        enum io_err e = conn_open(c);

        if (e != IO_OK)
            return e;
    }
    while (off < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + off, c->out.len - off, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return io_errno();
        }
        off += (size_t)w;
    }
    c->in.len = 0;
    for (;;) {
        ssize_t r;
        int st;

        buf_reserve(&c->in, 65536);
        r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return io_errno();
        }
        if (r == 0)
            return IO_EOF;
        c->in.len += (size_t)r;
        c->in.p[c->in.len] = '\0';
        st = conn_parse(c);
        if (st < 0)
            return IO_BAD;
        if (st == 1)
            break;
        if (c->in.len > LG_RESP_MAX)
            return IO_BAD;
    }
    if (c->must_close)
        conn_close(c);
    return IO_OK;
}

/* ---- options ---- */

enum protocol { P_KERIOX, P_KERIPY };

struct opts {
    const char *url, *corpus, *witness, *answered, *label, *started;
    enum protocol proto;
    unsigned conns;
    unsigned long max_events;
    double max_seconds;
    int timeout_ms;
    char host[64];
    unsigned port;
};

/* Accepts only http://127.x.y.z:port[/] or http://localhost:port[/]. */
static bool url_parse(struct opts *o)
{
    const char *p = o->url, *colon, *end;
    char *e;
    unsigned long port;
    struct in_addr a;

    if (strncmp(p, "http://", 7) != 0)
        return false;
    p += 7;
    colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(o->host))
        return false;
    memcpy(o->host, p, (size_t)(colon - p));
    o->host[colon - p] = '\0';
    if (strcmp(o->host, "localhost") == 0)
        snprintf(o->host, sizeof(o->host), "127.0.0.1");
    if (inet_pton(AF_INET, o->host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        return false;
    port = strtoul(colon + 1, &e, 10);
    end = e;
    if (port == 0 || port > 65535 || (*end != '\0' && strcmp(end, "/") != 0))
        return false;
    o->port = (unsigned)port;
    return true;
}

static void conn_init(struct conn *c, const struct opts *o)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = o->timeout_ms;
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)o->port);
    inet_pton(AF_INET, o->host, &c->addr.sin_addr);
}

/* ---- run ---- */

#define LG_STATUS_SLOTS 600

struct answered {
    unsigned c, k; /* controller, event index */
};

struct worker {
    pthread_t th;
    unsigned idx;
    const struct opts *o;
    const struct corpus *co;
    struct conn conn;
    uint32_t *lat_us;
    size_t nlat, caplat;
    struct answered *ans;
    size_t nans, capans;
    unsigned long status[LG_STATUS_SLOTS];
    unsigned long ioerr[IO_COUNT_];
    unsigned long rct_verified, rct_invalid, skipped;
    char example[256];
};

static _Atomic unsigned long g_claimed;
static _Atomic bool g_route_missing;
static double g_deadline;

/* Checks a keripy /receipts answer: rct for (pre, sn, said) with a -C
 * couple of the witness whose signature verifies over the event. */
static bool keripy_receipt_ok(const struct worker *w, const char *pre, const struct event *ev,
                              const char *body, size_t n)
{
    size_t sz = keri_size(body, n);
    json_t *j;
    const char *t = NULL, *d = NULL, *i = NULL, *s = NULL;
    bool ok = false;
    const char *p, *end = body + n;

    if (sz == 0)
        return false;
    j = json_loadb(body, sz, 0, NULL);
    if (j == NULL)
        return false;
    if (json_unpack(j, "{s:s, s:s, s:s, s:s}", "t", &t, "d", &d, "i", &i, "s", &s) == 0 &&
        strcmp(t, "rct") == 0 && strcmp(d, ev->said) == 0 && strcmp(i, pre) == 0 &&
        strcmp(s, ev->sn) == 0)
        ok = true;
    json_decref(j);
    if (!ok)
        return false;
    /* -C## then couples prefix(44) + sig(88) */
    p = body + sz;
    if (end - p < 4 || p[0] != '-' || p[1] != 'C')
        return false;
    for (p += 4; end - p >= (ptrdiff_t)(LG_PRE_LEN + LG_SIG_LEN); p += LG_PRE_LEN + LG_SIG_LEN) {
        char wpre[LG_PRE_LEN + 1], sig[LG_SIG_LEN + 1];

        memcpy(wpre, p, LG_PRE_LEN);
        wpre[LG_PRE_LEN] = '\0';
        memcpy(sig, p + LG_PRE_LEN, LG_SIG_LEN);
        sig[LG_SIG_LEN] = '\0';
        if (strcmp(wpre, w->o->witness) == 0)
            return verify_couple(wpre, sig, ev->raw, ev->raw_len);
    }
    return false;
}

static void request_build(struct worker *w, const struct event *ev)
{
    struct buf *b = &w->conn.out;
    const struct opts *o = w->o;

    b->len = 0;
    if (o->proto == P_KERIOX) {
        buf_addf(b,
                 "POST /process HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 o->host, o->port, ev->raw_len + ev->atc_len);
        buf_add(b, ev->raw, ev->raw_len);
        buf_add(b, ev->atc, ev->atc_len);
    } else {
        buf_addf(b,
                 "POST /receipts HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/cesr+json\r\n"
                 "CESR-ATTACHMENT: ",
                 o->host, o->port);
        buf_add(b, ev->atc, ev->atc_len);
        buf_addf(b, "\r\nCESR-DESTINATION: %s\r\nContent-Length: %zu\r\n\r\n", o->witness,
                 ev->raw_len);
        buf_add(b, ev->raw, ev->raw_len);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct corpus *co = w->co;
    const struct opts *o = w->o;

    for (unsigned c = w->idx; c < co->nc; c += o->conns) {
        const struct controller *ct = &co->c[c];

        for (unsigned k = 0; k < ct->nev; k++) {
            const struct event *ev = &ct->ev[k];
            enum io_err e;
            double t0, dt;
            int st;

            if (atomic_load(&g_route_missing) || now_s() >= g_deadline ||
                atomic_fetch_add(&g_claimed, 1) >= o->max_events)
                goto done;
            request_build(w, ev);
            t0 = now_s();
            e = conn_roundtrip(&w->conn);
            if (e == IO_EOF || e == IO_RESET) {
                /* the server may have closed an idle keep-alive connection:
                 * one fresh connection, then it counts */
                conn_close(&w->conn);
                t0 = now_s();
                e = conn_roundtrip(&w->conn);
            }
            dt = now_s() - t0;
            if (e != IO_OK) {
                w->ioerr[e]++;
                conn_close(&w->conn);
                if (e == IO_REFUSED || e == IO_CONNECT)
                    goto done; /* the server is gone */
                w->skipped += ct->nev - k - 1;
                break;
            }
            st = w->conn.status;
            w->status[st > 0 && st < LG_STATUS_SLOTS ? st : 0]++;
            if (w->nlat == w->caplat) {
                w->caplat = w->caplat ? w->caplat * 2 : 4096;
                w->lat_us = xrealloc(w->lat_us, w->caplat * sizeof(*w->lat_us));
            }
            w->lat_us[w->nlat++] = (uint32_t)(dt * 1e6);
            if (st == 404 && o->proto == P_KERIPY) {
                atomic_store(&g_route_missing, true);
                goto done;
            }
            if (st == 200 && o->proto == P_KERIPY) {
                if (keripy_receipt_ok(w, ct->pre, ev, w->conn.in.p + w->conn.body_off,
                                      w->conn.body_len)) {
                    w->rct_verified++;
                } else {
                    w->rct_invalid++;
                    st = -1;
                }
            }
            if (st != 200) {
                if (w->example[0] == '\0')
                    snprintf(w->example, sizeof(w->example), "%s sn %s: HTTP %d %.*s", ct->pre,
                             ev->sn, w->conn.status,
                             (int)(w->conn.body_len < 120 ? w->conn.body_len : 120),
                             w->conn.in.p + w->conn.body_off);
                w->skipped += ct->nev - k - 1;
                break;
            }
            if (w->nans == w->capans) {
                w->capans = w->capans ? w->capans * 2 : 4096;
                w->ans = xrealloc(w->ans, w->capans * sizeof(*w->ans));
            }
            w->ans[w->nans++] = (struct answered){c, k};
        }
    }
done:
    conn_close(&w->conn);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmd_run(const struct opts *o)
{
    struct corpus co;
    struct worker *ws;
    uint32_t *lat;
    size_t nlat = 0, nans = 0;
    unsigned long status[LG_STATUS_SLOTS] = {0}, ioerr[IO_COUNT_] = {0};
    unsigned long verified = 0, invalid = 0, skipped = 0, not200 = 0;
    double t0, t1, c0, c1, sum = 0;
    const char *example = "";
    struct buf out = {0};
    int rc = 0;

    if (corpus_load(&co, o->corpus) != 0)
        return 2;
    if (co.events == 0) {
        fprintf(stderr, "loadgen: %s holds no valid events\n", o->corpus);
        corpus_free(&co);
        return 2;
    }
    ws = calloc(o->conns, sizeof(*ws));
    if (ws == NULL) {
        corpus_free(&co);
        return 1;
    }
    if (o->started != NULL) {
        FILE *sf = fopen(o->started, "w");

        if (sf != NULL)
            fclose(sf);
    }
    c0 = cpu_s();
    t0 = now_s();
    g_deadline = t0 + o->max_seconds;
    for (unsigned i = 0; i < o->conns; i++) {
        ws[i].idx = i;
        ws[i].o = o;
        ws[i].co = &co;
        conn_init(&ws[i].conn, o);
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start thread %u\n", i);
            exit(1);
        }
    }
    for (unsigned i = 0; i < o->conns; i++)
        pthread_join(ws[i].th, NULL);
    t1 = now_s();
    c1 = cpu_s();

    for (unsigned i = 0; i < o->conns; i++) {
        nlat += ws[i].nlat;
        nans += ws[i].nans;
    }
    lat = xmalloc(nlat * sizeof(*lat));
    nlat = 0;
    for (unsigned i = 0; i < o->conns; i++) {
        struct worker *w = &ws[i];

        if (w->nlat > 0)
            memcpy(lat + nlat, w->lat_us, w->nlat * sizeof(*lat));
        nlat += w->nlat;
        for (unsigned s = 0; s < LG_STATUS_SLOTS; s++)
            status[s] += w->status[s];
        for (unsigned e = 0; e < IO_COUNT_; e++)
            ioerr[e] += w->ioerr[e];
        verified += w->rct_verified;
        invalid += w->rct_invalid;
        skipped += w->skipped;
        if (example[0] == '\0')
            example = w->example;
    }
    qsort(lat, nlat, sizeof(*lat), cmp_u32);
    for (size_t i = 0; i < nlat; i++)
        sum += lat[i];

    if (atomic_load(&g_route_missing)) {
        printf("{\"label\":\"%s\",\"protocol\":\"keripy\",\"skipped\":\"POST /receipts answered "
               "404: kerid has no keripy receipts route yet\"}\n",
               o->label);
        rc = 3;
        goto out;
    }
    buf_addf(&out,
             "{\"label\":\"%s\",\"protocol\":\"%s\",\"conns\":%u,\"controllers\":%u,"
             "\"corpus_events\":%lu,\"sent\":%zu,\"receipted\":%zu,\"seconds\":%.3f,"
             "\"events_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
             "\"max\":%.3f,\"mean\":%.3f},",
             o->label, o->proto == P_KERIOX ? "keriox" : "keripy", o->conns, co.nc, co.events, nlat,
             nans, t1 - t0, (double)nans / (t1 - t0), pct_ms(lat, nlat, 0.50),
             pct_ms(lat, nlat, 0.90), pct_ms(lat, nlat, 0.99), pct_ms(lat, nlat, 1.0),
             nlat ? sum / (double)nlat / 1000.0 : 0.0);
    if (o->proto == P_KERIPY)
        buf_addf(&out, "\"receipts\":{\"verified\":%lu,\"invalid\":%lu},", verified, invalid);
    buf_addf(&out, "\"status\":{");
    for (unsigned s = 0, first = 1; s < LG_STATUS_SLOTS; s++) {
        if (status[s] == 0)
            continue;
        buf_addf(&out, "%s\"%u\":%lu", first ? "" : ",", s, status[s]);
        first = 0;
        if (s != 200)
            not200 += status[s];
    }
    buf_addf(&out, "},\"errors\":{");
    for (unsigned e = 1, first = 1; e < IO_COUNT_; e++) {
        if (ioerr[e] == 0)
            continue;
        buf_addf(&out, "%s\"%s\":%lu", first ? "" : ",", io_err_name[e], ioerr[e]);
        first = 0;
        not200 += ioerr[e];
    }
    buf_addf(&out, "},\"events_skipped_after_error\":%lu,\"error_example\":", skipped);
    {
        json_t *tmp = json_string(example);
        char *ex = json_dumps(tmp, JSON_ENCODE_ANY);

        buf_addf(&out, "%s", ex != NULL ? ex : "\"\"");
        free(ex);
        json_decref(tmp);
    }
    buf_addf(&out, ",\"stopped_by\":\"%s\",\"loadgen_cpu_cores\":%.2f}",
             ioerr[IO_REFUSED] + ioerr[IO_CONNECT] > 0 ? "server_gone"
             : nlat >= o->max_events                   ? "max_events"
             : t1 >= g_deadline                        ? "max_seconds"
                                                       : "corpus_done",
             (c1 - c0) / (t1 - t0));
    printf("%s\n", out.p);
    fflush(stdout);
    if (not200 > 0 || invalid > 0)
        rc = 1;

    if (o->answered != NULL) {
        FILE *f = fopen(o->answered, "w");

        if (f == NULL) {
            fprintf(stderr, "loadgen: %s: %s\n", o->answered, strerror(errno));
            rc = 1;
            goto out;
        }
        for (unsigned i = 0; i < o->conns; i++)
            for (size_t a = 0; a < ws[i].nans; a++) {
                const struct controller *ct = &co.c[ws[i].ans[a].c];
                const struct event *ev = &ct->ev[ws[i].ans[a].k];

                fprintf(f, "%s %s %s\n", ct->pre, ev->sn, ev->said);
            }
        if (fclose(f) != 0)
            rc = 1;
    }
out:
    for (unsigned i = 0; i < o->conns; i++) {
        free(ws[i].lat_us);
        free(ws[i].ans);
        free(ws[i].conn.in.p);
        free(ws[i].conn.out.p);
    }
    free(ws);
    free(lat);
    free(out.p);
    corpus_free(&co);
    return rc;
}

/* ---- check ---- */

struct want {
    char pre[LG_ID_MAX], sn[24], said[LG_ID_MAX];
};

static int cmp_want(const void *a, const void *b)
{
    return strcmp(((const struct want *)a)->pre, ((const struct want *)b)->pre);
}

struct check_tally {
    unsigned long checked, ok, missing_event, missing_receipt, bad_receipt, fetch_failed;
    char example[256];
};

static void check_note(struct check_tally *t, const struct want *wt, const char *what)
{
    if (t->example[0] == '\0')
        snprintf(t->example, sizeof(t->example), "%s sn %s %s: %s", wt->pre, wt->sn, wt->said,
                 what);
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/*
 * Looks for the witness's receipt of the event body (n bytes at body) in
 * its attachments atc (alen bytes), in the two forms kerid replays: a -C
 * couple (witness prefix + 0B signature; keriox form) or an indexed
 * signature in a -B group (keripy form). The attachments are walked counter
 * by counter (-A -B -C -E -G, and -V framing); a counter it does not know
 * stops the walk. Returns 1 if a receipt by the witness verifies over body,
 * -1 if there is one and none verifies, 0 if there is none.
 */
static int receipt_find(const char *witness, const char *body, size_t n, const char *atc,
                        size_t alen)
{
    static const struct {
        char code;
        size_t item;
    } groups[] = {{'A', 88}, {'B', 88}, {'C', 132}, {'E', 60}, {'G', 68}};
    const char *p = atc, *end = atc + alen;
    int found = 0;

    while (end - p >= 4 && p[0] == '-') {
        int hi = b64_val(p[2]), lo = b64_val(p[3]);
        size_t count, item = 0;
        char code = p[1];

        if (hi < 0 || lo < 0)
            break;
        count = (size_t)(hi * 64 + lo);
        if (code == 'V') { /* framing: its content follows */
            p += 4;
            continue;
        }
        for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
            if (groups[g].code == code)
                item = groups[g].item;
        if (item == 0 || (size_t)(end - p - 4) < count * item)
            break;
        p += 4;
        for (size_t k = 0; k < count; k++, p += item) {
            char sig[LG_SIG_LEN + 1];

            if (code == 'C' && memcmp(p, witness, LG_PRE_LEN) == 0 && p[LG_PRE_LEN] == '0' &&
                p[LG_PRE_LEN + 1] == 'B') {
                memcpy(sig, p + LG_PRE_LEN, LG_SIG_LEN);
            } else if (code == 'B' && p[0] == 'A') {
                /* an indexed Ed25519 signature, 'A' + index + 86: the same
                 * 64 bytes as under the couple's code 0B */
                memcpy(sig, p, LG_SIG_LEN);
                sig[0] = '0';
                sig[1] = 'B';
            } else {
                continue;
            }
            sig[LG_SIG_LEN] = '\0';
            if (verify_couple(witness, sig, body, n))
                return 1;
            found = -1;
        }
    }
    if (found == 0) {
        /* walk stopped early: a couple anywhere still counts */
        for (const char *h = memmem(atc, alen, witness, LG_PRE_LEN); h != NULL;
             h = memmem(h + 1, (size_t)(end - h - 1), witness, LG_PRE_LEN)) {
            char sig[LG_SIG_LEN + 1];

            if (end - h < (ptrdiff_t)(LG_PRE_LEN + LG_SIG_LEN) || h[LG_PRE_LEN] != '0' ||
                h[LG_PRE_LEN + 1] != 'B')
                continue;
            memcpy(sig, h + LG_PRE_LEN, LG_SIG_LEN);
            sig[LG_SIG_LEN] = '\0';
            if (verify_couple(witness, sig, body, n))
                return 1;
            found = -1;
        }
    }
    return found;
}

/* Checks the answered events wt[0..n) of one prefix against its KEL replay. */
static void check_prefix(struct conn *c, const struct opts *o, const struct want *wt, size_t n,
                         struct check_tally *t)
{
    const char *p, *end;
    enum io_err e;

    c->out.len = 0;
    buf_addf(&c->out, "GET /oobi/%s/witness/%s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", wt[0].pre,
             o->witness, o->host, o->port);
    e = conn_roundtrip(c);
    if (e == IO_EOF || e == IO_RESET) {
        conn_close(c);
        e = conn_roundtrip(c);
    }
    t->checked += n;
    if (e != IO_OK || c->status != 200) {
        t->fetch_failed += n;
        check_note(t, &wt[0], e != IO_OK ? io_err_name[e] : "OOBI not 200");
        conn_close(c);
        return;
    }
    p = c->in.p + c->body_off;
    end = p + c->body_len;
    for (size_t i = 0; i < n; i++) {
        const char *q = p;
        bool found = false;

        /* walk the stream: body (framed by its version string), then its
         * attachments up to the next message */
        while (q < end && !found) {
            size_t sz = keri_size(q, (size_t)(end - q));
            const char *atc, *aend;
            json_t *j;
            const char *d = NULL, *pre = NULL, *sn = NULL;

            if (sz == 0) {
                q++;
                continue;
            }
            atc = q + sz;
            aend = memchr(atc, '{', (size_t)(end - atc));
            if (aend == NULL)
                aend = end;
            j = json_loadb(q, sz, 0, NULL);
            if (j != NULL && json_unpack(j, "{s:s, s:s, s:s}", "d", &d, "i", &pre, "s", &sn) == 0 &&
                strcmp(d, wt[i].said) == 0) {
                found = true;
                if (strcmp(pre, wt[i].pre) != 0 || strcmp(sn, wt[i].sn) != 0) {
                    t->bad_receipt++;
                    check_note(t, &wt[i], "stored under another prefix or sn");
                } else {
                    switch (receipt_find(o->witness, q, sz, atc, (size_t)(aend - atc))) {
                    case 1:
                        t->ok++;
                        break;
                    case -1:
                        t->bad_receipt++;
                        check_note(t, &wt[i], "receipt signature does not verify");
                        break;
                    default:
                        t->missing_receipt++;
                        check_note(t, &wt[i], "event stored without the witness's receipt");
                        break;
                    }
                }
            }
            json_decref(j);
            q = aend;
        }
        if (!found) {
            t->missing_event++;
            check_note(t, &wt[i], "answered 200 but not in the KEL");
        }
    }
}

static int cmd_check(const struct opts *o)
{
    FILE *f = fopen(o->answered, "r");
    struct want *wt = NULL;
    size_t n = 0, cap = 0;
    struct check_tally t;
    struct conn c;
    char line[512];
    double t0 = now_s();
    int rc;

    if (f == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", o->answered, strerror(errno));
        return 2;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        struct want w;

        if (sscanf(line, "%63s %23s %63s", w.pre, w.sn, w.said) != 3 || !qb64_ok(w.pre) ||
            !qb64_ok(w.said)) {
            fprintf(stderr, "loadgen: %s: bad line: %s", o->answered, line);
            fclose(f);
            free(wt);
            return 2;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            wt = xrealloc(wt, cap * sizeof(*wt));
        }
        wt[n++] = w;
    }
    fclose(f);
    /* group by prefix; a stable order is not needed, events are found by SAID */
    qsort(wt, n, sizeof(*wt), cmp_want);
    memset(&t, 0, sizeof(t));
    conn_init(&c, o);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;

        while (j < n && strcmp(wt[j].pre, wt[i].pre) == 0)
            j++;
        check_prefix(&c, o, wt + i, j - i, &t);
        i = j;
    }
    conn_close(&c);
    {
        json_t *ex = json_string(t.example);
        char *exs = json_dumps(ex, JSON_ENCODE_ANY);

        printf("{\"label\":\"%s\",\"check\":\"answered events and receipts stored\","
               "\"answered\":%zu,\"verified\":%lu,\"missing_event\":%lu,\"missing_receipt\":%lu,"
               "\"bad_receipt\":%lu,\"fetch_failed\":%lu,\"seconds\":%.3f,\"example\":%s}\n",
               o->label, n, t.ok, t.missing_event, t.missing_receipt, t.bad_receipt, t.fetch_failed,
               now_s() - t0, exs != NULL ? exs : "\"\"");
        free(exs);
        json_decref(ex);
    }
    rc = t.ok == n && n == t.checked ? 0 : 1;
    free(c.in.p);
    free(c.out.p);
    free(wt);
    return rc;
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: loadgen run   --url http://127.0.0.1:PORT/ --corpus FILE --witness B...\n"
           "                     [--protocol keriox|keripy] [--conns N] [--max-events N]\n"
           "                     [--max-seconds S] [--timeout-ms T] [--answered FILE] [--label L]\n"
           "                     [--started FILE (created when the first request goes out)]\n"
           "       loadgen check --url http://127.0.0.1:PORT/ --witness B... --answered FILE\n"
           "                     [--label L]\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},
        {"corpus", required_argument, NULL, 'c'},
        {"witness", required_argument, NULL, 'w'},
        {"protocol", required_argument, NULL, 'P'},
        {"conns", required_argument, NULL, 'n'},
        {"max-events", required_argument, NULL, 'e'},
        {"max-seconds", required_argument, NULL, 's'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"answered", required_argument, NULL, 'a'},
        {"label", required_argument, NULL, 'l'},
        {"started", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.proto = P_KERIOX,
                     .conns = 1,
                     .max_events = (unsigned long)-1,
                     .max_seconds = 30,
                     .timeout_ms = 10000,
                     .label = ""};
    const char *cmd;
    int ch;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *e = NULL;

        switch (ch) {
        case 'u':
            o.url = optarg;
            break;
        case 'c':
            o.corpus = optarg;
            break;
        case 'w':
            o.witness = optarg;
            break;
        case 'a':
            o.answered = optarg;
            break;
        case 'l':
            o.label = optarg;
            break;
        case 'S':
            o.started = optarg;
            break;
        case 'P':
            if (strcmp(optarg, "keriox") == 0)
                o.proto = P_KERIOX;
            else if (strcmp(optarg, "keripy") == 0)
                o.proto = P_KERIPY;
            else
                goto bad;
            break;
        case 'n':
            o.conns = (unsigned)strtoul(optarg, &e, 10);
            if (*e != '\0' || o.conns == 0 || o.conns > LG_CONNS_MAX)
                goto bad;
            break;
        case 'e':
            o.max_events = strtoul(optarg, &e, 10);
            if (*e != '\0' || o.max_events == 0)
                goto bad;
            break;
        case 's':
            o.max_seconds = strtod(optarg, &e);
            if (*e != '\0' || !(o.max_seconds > 0 && o.max_seconds <= 3600))
                goto bad;
            break;
        case 't':
            o.timeout_ms = (int)strtol(optarg, &e, 10);
            if (*e != '\0' || o.timeout_ms < 1 || o.timeout_ms > 600000)
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc || o.url == NULL || o.witness == NULL || !url_parse(&o) ||
        strlen(o.witness) != LG_PRE_LEN || o.witness[0] != 'B' || !qb64_ok(o.witness) ||
        strchr(o.label, '"') != NULL || strchr(o.label, '\\') != NULL)
        goto bad;
    if (sodium_init() < 0) {
        fprintf(stderr, "loadgen: libsodium failed to start\n");
        return 1;
    }
    if (strcmp(cmd, "run") == 0 && o.corpus != NULL)
        return cmd_run(&o);
    if (strcmp(cmd, "check") == 0 && o.answered != NULL)
        return cmd_check(&o);
bad:
    usage(stderr);
    return 2;
}
