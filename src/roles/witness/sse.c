/*
 * The keripy mailbox read as server-sent events (keripy-surface.md §5): a
 * signed qry with route "mbx" opens a text/event-stream answer that carries
 * every stored message of the requested topics of q.i from the requested
 * ordinals, then every message stored while the stream stays open.
 *
 * All of it runs on the loop thread. Open streams hang off the witness's
 * hub; one timer serves them all: it fires soon after kd_wit_mbx_kick (a
 * write that may have appended to a mailbox committed) and every second
 * anyway (writes that do not kick), reads what is new through the loop's
 * read-only store connection (never waits for the writer) and ends streams
 * that stayed without news for KD_WIT_SSE_IDLE_MS. A stream whose client
 * reads slowly is held back (nothing more is read from the store while its
 * HTTP queue is above KD_WIT_SSE_SOFT_BYTES) and resumes when the queue
 * drains.
 */
#include "witness_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "kerid/cesr_stream.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"

#define KD_WIT_SSE_MAX_STREAMS 256u   /* open streams per witness; more: 503 */
#define KD_WIT_SSE_IDLE_MS     30000u /* a stream without news this long ends */
#define KD_WIT_SSE_POLL_MS     1000u  /* fallback look for news */
#define KD_WIT_SSE_KICK_MS     20u    /* kicks closer than this are merged */
#define KD_WIT_SSE_BATCH       64u    /* messages read per topic per pass */
#define KD_WIT_SSE_PASSES      16u    /* passes per stream per wake-up; then the timer goes on */
#define KD_WIT_SSE_SOFT_BYTES  (256u * 1024u) /* HTTP queue above which no more is read */
#define KD_WIT_SSE_PASS_BYTES  (256u * 1024u) /* events formatted per pass (plus one message) */
#define KD_WIT_SSE_KEEP_BYTES  (64u * 1024u)  /* a pass buffer grown past this is released */
#define KD_WIT_SSE_RETRY       "retry: 5000\n"

struct kd_wit_sse_topic {
    char name[KD_STORE_TOPIC_MAX + 1]; /* the store's topic: no leading slash */
    uint64_t next;                     /* next ordinal to send */
};

struct kd_wit_sse_stream {
    struct kd_wit_sse *hub;
    struct kd_wit_sse_stream *prev, *next;
    struct kd_http_req *req;
    char aid[KD_KEL_ID_MAX + 1];
    unsigned ntopics;
    struct kd_wit_sse_topic topics[KD_EVENT_MAX_TOPICS];
    uint64_t last_ms;  /* uv_now when the stream began or last carried a message */
    bool more;         /* a pass stopped with messages left */
    struct kd_buf out; /* events formatted by one pass */
};

struct kd_wit_sse {
    struct kd_role_instance *ri;
    uv_timer_t timer;
    bool timer_open, stopped;
    uint64_t due_ms; /* when the timer is armed for */
    uint64_t run_ms; /* when it last ran */
    struct kd_wit_sse_stream *streams;
    unsigned nstreams;
};

static void kd_wit_sse_on_timer(uv_timer_t *t);

static uv_loop_t *kd_wit_sse_loop(const struct kd_wit_sse *hub)
{
    return hub->ri->node->loop;
}

/* Arms the hub's timer for delay_ms from now unless it is due sooner. */
static void kd_wit_sse_arm(struct kd_wit_sse *hub, uint64_t delay_ms)
{
    const uint64_t now = uv_now(kd_wit_sse_loop(hub));

    if (!hub->timer_open || hub->stopped || hub->nstreams == 0)
        return;
    if (hub->due_ms != 0 && hub->due_ms <= now + delay_ms)
        return;
    hub->due_ms = now + delay_ms;
    uv_timer_start(&hub->timer, kd_wit_sse_on_timer, delay_ms, 0);
}

/* Ends the stream (the HTTP request is released) and frees it. */
static void kd_wit_sse_close(struct kd_wit_sse_stream *s)
{
    struct kd_wit_sse *hub = s->hub;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        hub->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    hub->nstreams--;
    kd_http_stream_end(s->req);
    kd_buf_free(&s->out);
    free(s);
}

/* Appends one event: id, event (topic with its slash), retry, and the
 * message as data lines (a message holding line breaks becomes several
 * data lines, which an SSE client joins back with "\n"). */
static enum kd_err kd_wit_sse_event(struct kd_buf *out, uint64_t idx, const char *topic,
                                    const uint8_t *m, size_t n)
{
    size_t i = 0;
    enum kd_err e;

    e = kd_buf_printf(out, "id: %" PRIu64 "\nevent: /%s\n" KD_WIT_SSE_RETRY, idx, topic);
    for (;;) {
        size_t j = i;

        while (j < n && m[j] != '\n' && m[j] != '\r')
            j++;
        if (e == KD_OK)
            e = kd_buf_append(out, "data: ", 6);
        if (e == KD_OK && j > i)
            e = kd_buf_append(out, m + i, j - i);
        if (e == KD_OK)
            e = kd_buf_append(out, "\n", 1);
        if (e != KD_OK || j >= n)
            break;
        j += m[j] == '\r' && j + 1 < n && m[j + 1] == '\n' ? 2 : 1;
        if (j >= n)
            break;
        i = j;
    }
    if (e == KD_OK)
        e = kd_buf_append(out, "\n", 1);
    return e;
}

struct kd_wit_sse_pass {
    struct kd_wit_sse_stream *s;
    struct kd_wit_sse_topic *t;
    unsigned count;
    bool full; /* the pass holds KD_WIT_SSE_PASS_BYTES: the rest waits */
};

static enum kd_err kd_wit_sse_msg(uint64_t idx, const uint8_t *m, size_t n, void *arg)
{
    struct kd_wit_sse_pass *p = arg;
    enum kd_err e;

    if (idx < p->t->next) /* never send an ordinal twice */
        return KD_OK;
    if (p->s->out.len >= KD_WIT_SSE_PASS_BYTES) {
        p->full = true;
        return KD_ETOOLARGE; /* stops the iteration; not an error */
    }
    e = kd_wit_sse_event(&p->s->out, idx, p->t->name, m, n);
    if (e != KD_OK)
        return e;
    p->t->next = idx + 1;
    p->count++;
    return KD_OK;
}

/*
 * Sends what is new on s: passes of at most KD_WIT_SSE_BATCH messages per
 * topic, in the request's topic order, while the client takes them. Returns
 * false when s was closed (and freed).
 */
static bool kd_wit_sse_pump(struct kd_wit_sse_stream *s)
{
    struct kd_wit_sse *hub = s->hub;
    struct kd_store_rd *rd = kd_store_reader(hub->ri->node->store);
    enum kd_err e = KD_OK;

    for (unsigned pass = 0; pass < KD_WIT_SSE_PASSES; pass++) {
        if (kd_http_stream_queued(s->req) > KD_WIT_SSE_SOFT_BYTES)
            return true; /* KD_HTTP_STREAM_DRAINED resumes */
        kd_buf_reset(&s->out);
        s->more = false;
        for (unsigned k = 0; k < s->ntopics && e == KD_OK; k++) {
            struct kd_wit_sse_pass p = {s, &s->topics[k], 0, false};

            e = kd_store_mbx_each(rd, s->aid, p.t->name, p.t->next, KD_WIT_SSE_BATCH,
                                  kd_wit_sse_msg, &p);
            if (p.full)
                e = KD_OK;
            if (p.full || p.count == KD_WIT_SSE_BATCH)
                s->more = true;
        }
        if (e != KD_OK) {
            kd_log_error("witness", "mailbox stream of %s: %s", s->aid, kd_err_message(e));
            kd_wit_sse_close(s);
            return false;
        }
        if (s->out.len == 0)
            return true;
        s->last_ms = uv_now(kd_wit_sse_loop(hub));
        e = kd_http_stream_write(s->req, s->out.data, s->out.len);
        if (s->out.cap > KD_WIT_SSE_KEEP_BYTES)
            kd_buf_free(&s->out);
        if (e != KD_OK) {
            kd_wit_sse_close(s);
            return false;
        }
        if (!s->more)
            break;
    }
    if (s->more)
        kd_wit_sse_arm(hub, 0);
    return true;
}

static void kd_wit_sse_on_timer(uv_timer_t *t)
{
    struct kd_wit_sse *hub = t->data;
    const uint64_t now = uv_now(kd_wit_sse_loop(hub));
    struct kd_wit_sse_stream *s, *next;

    hub->due_ms = 0;
    hub->run_ms = now;
    for (s = hub->streams; s != NULL; s = next) {
        next = s->next;
        if (!kd_wit_sse_pump(s))
            continue;
        if (now - s->last_ms >= KD_WIT_SSE_IDLE_MS && kd_http_stream_queued(s->req) == 0)
            kd_wit_sse_close(s);
    }
    kd_wit_sse_arm(hub, KD_WIT_SSE_POLL_MS);
}

/* What the HTTP server tells about a stream. */
static void kd_wit_sse_on_event(struct kd_http_req *req, enum kd_http_stream_event ev, void *arg)
{
    struct kd_wit_sse_stream *s = arg;

    (void)req;
    if (ev == KD_HTTP_STREAM_DRAINED)
        (void)kd_wit_sse_pump(s);
    else
        kd_wit_sse_close(s); /* client gone, or shutdown: end now */
}

/* Opens the hub's timer at the first stream (never after kd_wit_mbx_stop). */
static enum kd_err kd_wit_sse_timer_open(struct kd_wit_sse *hub)
{
    if (hub->timer_open)
        return KD_OK;
    if (hub->stopped)
        return KD_EUNAVAIL;
    if (uv_timer_init(kd_wit_sse_loop(hub), &hub->timer) != 0)
        return KD_EINTERNAL;
    hub->timer.data = hub;
    hub->timer_open = true;
    return KD_OK;
}

/* Answers a refused query with the falcon-style JSON error of the keripy
 * surface: the status of err, its status line as title. */
static void kd_wit_sse_refuse(struct kd_http_req *req, enum kd_err err, const char *why)
{
    const int status = kd_err_status(err);
    const char *title;

    switch (status) {
    case 400:
        title = "400 Bad Request";
        break;
    case 403:
        title = "403 Forbidden";
        break;
    case 503:
        title = "503 Service Unavailable";
        break;
    default:
        title = "500 Internal Server Error";
        break;
    }
    kd_wit_keripy_error(req, status, title, why != NULL ? why : kd_err_message(err));
}

/* True for the qb64 alphabet. */
static bool kd_wit_sse_b64(const char *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char ch = p[k];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return n > 0;
}

/*
 * Fills s's identifier and topics from the parsed qry; answers and returns
 * false when they are unusable.
 */
static bool kd_wit_sse_args(struct kd_http_req *req, const struct kd_event *ev,
                            struct kd_wit_sse_stream *s)
{
    const struct kd_qry *q = &ev->qry;

    if (!(q->has & KD_Q_I) || q->i.len == 0 || q->i.len > KD_KEL_ID_MAX ||
        !kd_wit_sse_b64(kd_span_ptr(ev, q->i), q->i.len)) {
        kd_wit_sse_refuse(req, KD_EBADJSON, "q.i must be a qb64 identifier");
        return false;
    }
    memcpy(s->aid, kd_span_ptr(ev, q->i), q->i.len);
    s->aid[q->i.len] = '\0';
    for (unsigned k = 0; k < q->ntopics; k++) {
        const char *name = kd_span_ptr(ev, q->topics[k].name);
        size_t n = q->topics[k].name.len;

        if (n > 0 && name[0] == '/') {
            name++;
            n--;
        }
        if (n == 0 || n > KD_STORE_TOPIC_MAX) {
            kd_wit_sse_refuse(req, KD_EBADJSON, "a topic name must be 1..32 bytes after its '/'");
            return false;
        }
        for (size_t c = 0; c < n; c++) {
            if (name[c] <= 0x20 || name[c] >= 0x7f || name[c] == '/') {
                kd_wit_sse_refuse(req, KD_EBADJSON,
                                  "a topic name must be printable ASCII without blanks or '/'");
                return false;
            }
        }
        memcpy(s->topics[s->ntopics].name, name, n);
        s->topics[s->ntopics].name[n] = '\0';
        s->topics[s->ntopics].next = (uint64_t)q->topics[k].index;
        for (unsigned d = 0; d < s->ntopics; d++) {
            if (strcmp(s->topics[d].name, s->topics[s->ntopics].name) == 0) {
                kd_wit_sse_refuse(req, KD_EBADJSON, "a topic is named twice");
                return false;
            }
        }
        s->ntopics++;
    }
    return true;
}

/*
 * Parses and verifies the query, then opens the stream and sends what is
 * stored. Every refusal is a JSON error; a stream only follows a verified
 * signature.
 */
void kd_wit_mbx_sse(struct kd_http_req *req, struct kd_role_instance *ri, const unsigned char *msg,
                    size_t msg_len, const char *atc, size_t atc_len)
{
    struct kd_event *ev = NULL;
    struct kd_cesr_attachments *att = NULL;
    struct kd_wit_sse_stream *s = NULL;
    struct kd_wit_sse *hub;
    struct kd_event_diag diag;
    struct kd_cesr_error cerr;
    enum kd_wit_sig_verdict v;
    char signer[KD_KEL_ID_MAX + 1];
    enum kd_err e;

    hub = ((struct kd_witness *)ri->state)->sse;
    if (hub == NULL || hub->stopped) {
        kd_wit_sse_refuse(req, KD_EUNAVAIL, "the witness is shutting down");
        goto out;
    }
    if (hub->nstreams >= KD_WIT_SSE_MAX_STREAMS) {
        kd_wit_sse_refuse(req, KD_EUNAVAIL, "too many open mailbox streams");
        goto out;
    }
    ev = malloc(sizeof(*ev));
    att = malloc(sizeof(*att));
    s = calloc(1, sizeof(*s));
    if (ev == NULL || att == NULL || s == NULL) {
        kd_wit_sse_refuse(req, KD_ENOMEM, NULL);
        goto out;
    }
    memset(&diag, 0, sizeof(diag));
    if (msg == NULL || kd_event_parse(ev, msg, msg_len, &diag) != KD_OK) {
        kd_wit_sse_refuse(req, KD_EBADJSON, diag.why != NULL ? diag.why : "malformed query");
        goto out;
    }
    if (ev->ilk != KD_ILK_QRY || ev->qry.route != KD_QRY_MBX) {
        kd_wit_sse_refuse(req, KD_EBADJSON, "not a qry with route mbx");
        goto out;
    }
    memset(&cerr, 0, sizeof(cerr));
    if (atc == NULL || atc_len == 0 ||
        kd_cesr_attach_parse(atc, atc_len, 0, NULL, att, &cerr) != KD_OK) {
        kd_wit_sse_refuse(req, KD_EBADCESR,
                          cerr.reason != NULL ? cerr.reason : "the query has no attachment");
        goto out;
    }
    if (!kd_wit_sse_args(req, ev, s))
        goto out;
    e = kd_wit_query_sig_check(kd_store_reader(ri->node->store), att, msg, msg_len, &v, signer);
    if (e != KD_OK) {
        kd_wit_sse_refuse(req, e, NULL);
        goto out;
    }
    if (v == KD_WIT_SIG_MISSING) {
        kd_wit_sse_refuse(req, KD_EBADCESR, "the query carries no -H or -C signature group");
        goto out;
    }
    if (v == KD_WIT_SIG_UNKNOWN) {
        kd_wit_sse_refuse(req, KD_EBADSIG, "the signer's key state is unknown here");
        goto out;
    }
    if (v != KD_WIT_SIG_OK) {
        kd_wit_sse_refuse(req, KD_EBADSIG, NULL);
        goto out;
    }
    if ((e = kd_wit_sse_timer_open(hub)) != KD_OK) {
        kd_wit_sse_refuse(req, e, NULL);
        goto out;
    }
    kd_buf_init(&s->out, KD_WIT_ANSWER_MAX);
    s->hub = hub;
    s->req = req;
    s->last_ms = uv_now(kd_wit_sse_loop(hub));
    if ((e = kd_http_res_header(req, "Cache-Control", "no-cache")) != KD_OK ||
        (e = kd_http_stream_begin(req, 200, "text/event-stream", kd_wit_sse_on_event, s)) !=
            KD_OK) {
        kd_wit_sse_refuse(req, e, e == KD_EUNAVAIL ? "the witness is shutting down" : NULL);
        goto out;
    }
    s->next = hub->streams;
    if (hub->streams != NULL)
        hub->streams->prev = s;
    hub->streams = s;
    hub->nstreams++;
    if (kd_http_stream_write(req, KD_WIT_SSE_RETRY "\n", sizeof(KD_WIT_SSE_RETRY)) != KD_OK) {
        kd_wit_sse_close(s);
    } else if (kd_wit_sse_pump(s)) {
        kd_wit_sse_arm(hub, KD_WIT_SSE_POLL_MS);
    }
    s = NULL;
out:
    if (s != NULL)
        kd_buf_free(&s->out);
    free(s);
    free(att);
    free(ev);
}

/*
 * Merges kicks: the timer runs at most every KD_WIT_SSE_KICK_MS.
 */
void kd_wit_mbx_kick(struct kd_role_instance *ri)
{
    const struct kd_witness *w = ri != NULL ? ri->state : NULL;
    struct kd_wit_sse *hub = w != NULL ? w->sse : NULL;
    uint64_t now, at;

    if (hub == NULL || hub->nstreams == 0 || hub->stopped)
        return;
    now = uv_now(kd_wit_sse_loop(hub));
    at = hub->run_ms + KD_WIT_SSE_KICK_MS;
    kd_wit_sse_arm(hub, at > now ? at - now : 0);
}

/*
 * The hub only: its timer is opened at the first stream.
 */
enum kd_err kd_wit_mbx_init(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;

    w->sse = calloc(1, sizeof(*w->sse));
    if (w->sse == NULL)
        return KD_ENOMEM;
    w->sse->ri = ri;
    return KD_OK;
}

/*
 * Ends every stream (their connections go on or close as the HTTP server
 * decides) and closes the timer; later queries are refused.
 */
void kd_wit_mbx_stop(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;
    struct kd_wit_sse *hub = w != NULL ? w->sse : NULL;

    if (hub == NULL || hub->stopped)
        return;
    hub->stopped = true;
    while (hub->streams != NULL)
        kd_wit_sse_close(hub->streams);
    if (hub->timer_open) {
        uv_timer_stop(&hub->timer);
        uv_close((uv_handle_t *)&hub->timer, NULL);
    }
}

/*
 * Frees the hub; its timer was closed by kd_wit_mbx_stop and the loop has
 * run since.
 */
void kd_wit_mbx_free(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;

    if (w == NULL || w->sse == NULL)
        return;
    free(w->sse);
    w->sse = NULL;
}
