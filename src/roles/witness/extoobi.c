/*
 * keripy's OOBI resolution endpoint and its demo routes (keripy-surface §2):
 *
 * POST /ext/oobi (keripy oobiing.OobiResource.on_post): a JSON (or, as
 * falcon's default handlers allow, form-encoded) body
 * {"url": ..., "oobialias": ...} queues the URL (202); {"rpy": ...} is 501;
 * neither is 400. The queue (KD_WIT_EXTOOBI_QUEUE pending, deduplicated,
 * 503 when full) is resolved in the background on the loop with the
 * outbound client (http_client.h): GET without an Accept header, 200 and
 * application/json+cesr required, then the CESR body goes in ONE store
 * write through the node's KEL engine (key events, receipts) and
 * kd_wit_reply_process (rpy /loc/scheme and /end/role/add or cut), together with the
 * outcome recorded in the meta table under "oobi/<url>" (longer than a meta
 * key may be: "oobi/" + the URL's BLAKE3-256 qb64 digest) as
 * {"url":..,"alias":..,"state":"resolved"|"failed","dt":..,"cid":..,"reason":..}.
 * One log line per resolution. Unlike keripy, a 404 is not retried: it is
 * recorded as failed (POST the URL again to retry).
 *
 * The demo routes of keripy's ending.loadEnds: /end/{aid}/{role} (POST
 * echoes a checked endpoint record; GET and PUT fail with falcon's 500, their
 * responders lacking the route's parameters), /loc (GET, PUT) and /admin
 * (GET), fixed text/html answers.
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kerid/cesr.h"
#include "kerid/cesr_stream.h"
#include "kerid/clock.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/http_client.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"

#define KD_XO_URL_MAX    KD_HTTP_CLIENT_URL_MAX
#define KD_XO_ALIAS_MAX  256u
#define KD_XO_REASON_MAX 256u
#define KD_XO_JSON_CESR  "application/json+cesr"
#define KD_XO_KEY_PREFIX "oobi/"

struct kd_xo_item {
    char *url;
    char *alias; /* NULL: none given */
};

/* The role's resolver: pending queue, requests in flight. */
struct kd_wit_extoobi {
    struct kd_role_instance *ri;
    struct kd_xo_item q[KD_WIT_EXTOOBI_QUEUE];
    unsigned qhead, qlen;
    struct kd_xo_run *runs[KD_WIT_EXTOOBI_PARALLEL];
    unsigned writes; /* store writes submitted, not done */
    bool stopped;
    bool detached; /* the role let go of it with writes outstanding: the last frees it */
};

/* One resolution, from the GET to the recorded outcome. */
struct kd_xo_run {
    struct kd_wit_extoobi *x;
    unsigned slot;
    struct kd_xo_item it;
    struct kd_http_get *get;
    int64_t now_us;
    char cid[KD_HTTP_CLIENT_VALUE_MAX + 1];
    bool resolved;
    char reason[KD_XO_REASON_MAX];
    /* the write */
    struct kd_event *ev;
    struct kd_wit_reply rp;
    struct kd_store_txn *txn;
    unsigned accepted, duplicate, escrowed, rejected, replies, refused, ignored;
    size_t len;
    unsigned char *body;
};

static void kd_xo_kick(struct kd_wit_extoobi *x);

static void kd_xo_item_free(struct kd_xo_item *it)
{
    free(it->url);
    free(it->alias);
    it->url = NULL;
    it->alias = NULL;
}

static void kd_xo_run_free(struct kd_xo_run *r)
{
    kd_xo_item_free(&r->it);
    free(r->body);
    free(r->ev);
    free(r->rp.ev);
    free(r);
}

/* ---- the meta record ---- */

static enum kd_err kd_xo_json_str(struct kd_buf *b, const char *s)
{
    enum kd_err e;

    if (s == NULL)
        return kd_buf_append_str(b, "null");
    e = kd_buf_append_str(b, "\"");
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(b, s, strlen(s));
    if (e == KD_OK)
        e = kd_buf_append_str(b, "\"");
    return e;
}

/* Writer thread: stores r's outcome under "oobi/<url>". */
static enum kd_err kd_xo_record(struct kd_store_txn *txn, const struct kd_xo_run *r)
{
    char dt[KD_DATETIME_LEN + 1];
    struct kd_buf key, v;
    enum kd_err e;

    kd_buf_init(&key, KD_XO_URL_MAX + 8);
    kd_buf_init(&v, 2 * KD_XO_URL_MAX);
    kd_clock_format_dt(r->now_us, dt);
    if (strlen(KD_XO_KEY_PREFIX) + strlen(r->it.url) <= KD_STORE_KEY_MAX) {
        e = kd_buf_printf(&key, KD_XO_KEY_PREFIX "%s", r->it.url);
    } else { /* a long URL: named by its digest */
        char d[KD_DIGEST_QB64_LEN + 1];

        kd_blake3_256_qb64(r->it.url, strlen(r->it.url), d);
        e = kd_buf_printf(&key, KD_XO_KEY_PREFIX "%s", d);
    }
    if (e == KD_OK)
        e = kd_buf_append_str(&v, "{\"url\":");
    if (e == KD_OK)
        e = kd_xo_json_str(&v, r->it.url);
    if (e == KD_OK)
        e = kd_buf_append_str(&v, ",\"alias\":");
    if (e == KD_OK)
        e = kd_xo_json_str(&v, r->it.alias);
    if (e == KD_OK)
        e = kd_buf_printf(&v, ",\"state\":\"%s\",\"dt\":\"%s\",\"cid\":",
                          r->resolved ? "resolved" : "failed", dt);
    if (e == KD_OK)
        e = kd_xo_json_str(&v, r->cid[0] != '\0' ? r->cid : NULL);
    if (e == KD_OK)
        e = kd_buf_append_str(&v, ",\"reason\":");
    if (e == KD_OK)
        e = kd_xo_json_str(&v, r->reason);
    if (e == KD_OK)
        e = kd_buf_append_str(&v, "}");
    if (e == KD_OK)
        e = kd_store_meta_put(txn, (const char *)key.data, v.data, v.len);
    kd_buf_free(&key);
    kd_buf_free(&v);
    return e;
}

static enum kd_err kd_xo_record_fn(struct kd_store_txn *txn, void *arg)
{
    return kd_xo_record(txn, arg);
}

/* ---- the body write ---- */

/* One message of the OOBI body: key events and receipts through the KEL
 * engine, replies through the reply check; refusals are counted, not fatal
 * (as keripy's parser, which drops a bad message and goes on). */
static enum kd_err kd_xo_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_xo_run *r = ctx;
    struct kd_kel_result res;
    enum kd_err e;

    if (kd_event_parse(r->ev, msg->body, msg->body_len, NULL) != KD_OK) {
        r->rejected++;
        return KD_OK;
    }
    switch (r->ev->ilk) {
    case KD_ILK_ICP:
    case KD_ILK_ROT:
    case KD_ILK_IXN:
    case KD_ILK_DIP:
    case KD_ILK_DRT:
    case KD_ILK_RCT:
        memset(&res, 0, sizeof(res));
        if ((e = kd_kel_process(r->x->ri->node->kel, r->txn, msg, r->now_us, &res)) != KD_OK)
            return e;
        if (res.verdict == KD_KEL_ACCEPTED)
            r->accepted++;
        else if (res.verdict == KD_KEL_DUPLICATE)
            r->duplicate++;
        else if (res.verdict == KD_KEL_ESCROWED)
            r->escrowed++;
        else
            r->rejected++;
        return KD_OK;
    case KD_ILK_RPY:
        r->rp.txn = r->txn;
        r->rp.failed = false;
        r->rp.badsig = false;
        r->rp.err_len = 0;
        e = kd_wit_reply_process(&r->rp, msg);
        r->rp.txn = NULL;
        if (r->rp.failed) {
            r->refused++;
            return KD_OK;
        }
        if (e == KD_OK)
            r->replies++;
        return e;
    default:
        r->ignored++;
        return KD_OK;
    }
}

/* Writer thread: the body's messages and the outcome, in one transaction. */
static enum kd_err kd_xo_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_xo_run *r = arg;
    struct kd_cesr_error cerr;
    enum kd_err e;

    memset(&cerr, 0, sizeof(cerr));
    r->txn = txn;
    r->accepted = r->duplicate = r->escrowed = r->rejected = 0;
    r->replies = r->refused = r->ignored = 0;
    e = kd_cesr_split_all(r->body, r->len, NULL, kd_xo_msg, r, &cerr);
    r->txn = NULL;
    if (e != KD_OK && cerr.code == KD_OK)
        return e; /* store or memory failure: nothing commits */
    if (e != KD_OK) {
        r->resolved = false;
        snprintf(r->reason, sizeof(r->reason), "not a CESR stream at byte %zu: %s", cerr.offset,
                 cerr.reason != NULL ? cerr.reason : kd_err_message(e));
    } else if (r->accepted + r->duplicate + r->escrowed + r->replies == 0) {
        r->resolved = false;
        snprintf(r->reason, sizeof(r->reason),
                 "nothing usable: %u message(s) rejected, %u reply(ies) refused, %u ignored",
                 r->rejected, r->refused, r->ignored);
    } else {
        r->resolved = true;
        snprintf(r->reason, sizeof(r->reason),
                 "%u event(s) accepted, %u known, %u escrowed, %u rejected; %u reply(ies) "
                 "stored, %u refused",
                 r->accepted, r->duplicate, r->escrowed, r->rejected, r->replies, r->refused);
    }
    return kd_xo_record(txn, r);
}

static void kd_xo_log(const struct kd_xo_run *r)
{
    if (r->resolved)
        kd_log_info("witness", "OOBI %s resolved: %s", r->it.url, r->reason);
    else
        kd_log_warn("witness", "OOBI %s failed: %s", r->it.url, r->reason);
}

/* Loop thread: a run's store write is done; the run ends. */
static void kd_xo_done(enum kd_err result, void *arg)
{
    struct kd_xo_run *r = arg;
    struct kd_wit_extoobi *x = r->x;

    x->writes--;
    if (result != KD_OK && r->body != NULL && !x->stopped) {
        /* the body's write failed as a whole: record that alone */
        free(r->body);
        r->body = NULL;
        r->resolved = false;
        snprintf(r->reason, sizeof(r->reason), "store write failed: %s", kd_err_message(result));
        if (kd_store_submit(x->ri->node->store, kd_xo_record_fn, kd_xo_done, r) == KD_OK) {
            x->writes++;
            return;
        }
    }
    if (result != KD_OK && r->body == NULL)
        kd_log_error("witness", "OOBI %s: outcome not recorded: %s", r->it.url,
                     kd_err_message(result));
    else if (!x->stopped)
        kd_wit_mbx_kick(x->ri);
    kd_xo_log(r);
    kd_xo_run_free(r);
    if (x->detached && x->writes == 0)
        free(x);
    else
        kd_xo_kick(x);
}

/* Loop thread: ends run r (its slot is freed) with its outcome written by
 * one store write: the body's when body is not NULL, else the record alone. */
static void kd_xo_submit(struct kd_xo_run *r)
{
    struct kd_wit_extoobi *x = r->x;
    enum kd_err e;

    x->runs[r->slot] = NULL;
    e = kd_store_submit(x->ri->node->store, r->body != NULL ? kd_xo_write : kd_xo_record_fn,
                        kd_xo_done, r);
    if (e != KD_OK) {
        kd_log_error("witness", "OOBI %s: outcome not recorded: %s", r->it.url, kd_err_message(e));
        kd_xo_run_free(r);
        return;
    }
    x->writes++;
}

/* Takes cid from the URL path /oobi/{cid}[/...] when no KERI-AID came. */
static void kd_xo_cid_from_url(struct kd_xo_run *r)
{
    const char *p = strstr(r->it.url, "://");
    size_t n;

    if (r->cid[0] != '\0' || p == NULL)
        return;
    p = strchr(p + 3, '/');
    if (p == NULL || strncmp(p, "/oobi/", 6) != 0)
        return;
    p += 6;
    n = strcspn(p, "/?#");
    if (n > 0 && n <= KD_KEL_ID_MAX)
        snprintf(r->cid, sizeof(r->cid), "%.*s", (int)n, p);
}

static void kd_xo_got(enum kd_err err, const char *why, const struct kd_http_client_resp *resp,
                      void *arg)
{
    struct kd_xo_run *r = arg;
    struct kd_wit_extoobi *x = r->x;

    r->get = NULL;
    r->now_us = kd_clock_now_us();
    if (err != KD_OK) {
        snprintf(r->reason, sizeof(r->reason), "%s", why != NULL ? why : kd_err_message(err));
    } else if (resp->status != 200) {
        snprintf(r->reason, sizeof(r->reason), "HTTP status %d", resp->status);
    } else if (strcasecmp(resp->content_type, KD_XO_JSON_CESR) != 0) {
        snprintf(r->reason, sizeof(r->reason), "unexpected content type \"%.64s\"",
                 resp->content_type);
    } else if (resp->body_len == 0) {
        snprintf(r->reason, sizeof(r->reason), "empty OOBI response");
    } else if ((r->body = malloc(resp->body_len)) == NULL ||
               (r->ev = malloc(sizeof(*r->ev))) == NULL ||
               (r->rp.ev = malloc(sizeof(*r->rp.ev))) == NULL) {
        free(r->body);
        r->body = NULL;
        snprintf(r->reason, sizeof(r->reason), "out of memory");
    } else {
        memcpy(r->body, resp->body, resp->body_len);
        r->len = resp->body_len;
        if (resp->keri_aid[0] != '\0' && strlen(resp->keri_aid) <= KD_KEL_ID_MAX)
            snprintf(r->cid, sizeof(r->cid), "%s", resp->keri_aid);
    }
    kd_xo_cid_from_url(r);
    kd_xo_submit(r);
    kd_xo_kick(x); /* its slot is free */
}

/* Starts pending resolutions while slots are free. */
static void kd_xo_kick(struct kd_wit_extoobi *x)
{
    for (unsigned s = 0; s < KD_WIT_EXTOOBI_PARALLEL && x->qlen > 0 && !x->stopped; s++) {
        struct kd_xo_run *r;
        const char *why = NULL;
        enum kd_err e;

        if (x->runs[s] != NULL)
            continue;
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return;
        r->x = x;
        r->slot = s;
        r->it = x->q[x->qhead];
        memset(&x->q[x->qhead], 0, sizeof(x->q[x->qhead]));
        x->qhead = (x->qhead + 1) % KD_WIT_EXTOOBI_QUEUE;
        x->qlen--;
        x->runs[s] = r;
        e = kd_http_get(x->ri->node->loop, r->it.url, NULL, kd_xo_got, r, &r->get, &why);
        if (e != KD_OK) {
            r->now_us = kd_clock_now_us();
            snprintf(r->reason, sizeof(r->reason), "%s", why != NULL ? why : kd_err_message(e));
            kd_xo_cid_from_url(r);
            kd_xo_submit(r);
        }
    }
}

/* ---- role hooks ---- */

enum kd_err kd_wit_extoobi_init(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;

    w->extoobi = calloc(1, sizeof(*w->extoobi));
    if (w->extoobi == NULL)
        return KD_ENOMEM;
    w->extoobi->ri = ri;
    return KD_OK;
}

void kd_wit_extoobi_stop(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;
    struct kd_wit_extoobi *x = w != NULL ? w->extoobi : NULL;

    if (x == NULL || x->stopped)
        return;
    x->stopped = true;
    for (unsigned s = 0; s < KD_WIT_EXTOOBI_PARALLEL; s++)
        if (x->runs[s] != NULL) {
            kd_http_get_cancel(x->runs[s]->get);
            kd_xo_run_free(x->runs[s]);
            x->runs[s] = NULL;
        }
    while (x->qlen > 0) {
        kd_xo_item_free(&x->q[x->qhead]);
        x->qhead = (x->qhead + 1) % KD_WIT_EXTOOBI_QUEUE;
        x->qlen--;
    }
}

void kd_wit_extoobi_free(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;

    if (w == NULL || w->extoobi == NULL)
        return;
    kd_wit_extoobi_stop(ri);
    /* a write still owned by the store (its done callback never ran) keeps it */
    if (w->extoobi->writes == 0)
        free(w->extoobi);
    else
        w->extoobi->detached = true;
    w->extoobi = NULL;
}

/* ---- JSON helpers ---- */

static int kd_xo_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned kd_xo_u4(const char *p)
{
    return (unsigned)(kd_xo_hex(p[0]) << 12 | kd_xo_hex(p[1]) << 8 | kd_xo_hex(p[2]) << 4 |
                      kd_xo_hex(p[3]));
}

/* Decodes the valid JSON string token p (n bytes, quotes included) into a
 * NUL-terminated malloc'd UTF-8 string. With outlen NULL an embedded NUL
 * (\u0000) is refused, else allowed and *outlen gets the length. NULL on
 * memory failure or a refused NUL. */
static char *kd_xo_unescape(const char *p, size_t n, size_t *outlen)
{
    char *out = malloc(n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned cp;

        if (p[i] != '\\') {
            *o++ = p[i];
            continue;
        }
        i++;
        switch (p[i]) {
        case 'b':
            *o++ = '\b';
            continue;
        case 'f':
            *o++ = '\f';
            continue;
        case 'n':
            *o++ = '\n';
            continue;
        case 'r':
            *o++ = '\r';
            continue;
        case 't':
            *o++ = '\t';
            continue;
        case 'u':
            break;
        default:
            *o++ = p[i];
            continue;
        }
        cp = kd_xo_u4(p + i + 1);
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < n && p[i + 1] == '\\' && p[i + 2] == 'u') {
            const unsigned lo = kd_xo_u4(p + i + 3);

            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
        }
        if (cp == 0 && outlen == NULL) {
            free(out);
            return NULL;
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd; /* a lone surrogate */
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | cp >> 12);
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | cp >> 18);
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *o = '\0';
    if (outlen != NULL)
        *outlen = (size_t)(o - out);
    return out;
}

static const char *kd_xo_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* ---- POST /ext/oobi ---- */

static void kd_xo_text(struct kd_http_req *req, int status, const char *text)
{
    /* falcon's rep.text with its default media type */
    kd_http_respond(req, status, "application/json", text, strlen(text));
}

enum kd_xo_media { KD_XO_JSON, KD_XO_FORM, KD_XO_OTHER };

/* The request's media type as falcon's default handlers see it (absent:
 * the default, JSON); ct gets the header value for the 415 text. */
static enum kd_xo_media kd_xo_media_of(const struct kd_http_req *req, char *ct, size_t cap)
{
    size_t n = 0, m;
    const char *v = kd_http_req_header(req, "content-type", &n);

    ct[0] = '\0';
    if (v == NULL)
        return KD_XO_JSON;
    snprintf(ct, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
    m = strcspn(ct, ";");
    while (m > 0 && (ct[m - 1] == ' ' || ct[m - 1] == '\t'))
        m--;
    if (m == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return KD_XO_JSON;
    if (m == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        return KD_XO_FORM;
    return KD_XO_OTHER;
}

/* What a POST /ext/oobi body asks: a url (with an alias) or an rpy. */
struct kd_xo_ask {
    struct kd_xo_item it;
    bool has_url, has_rpy;
    const char *bad; /* a refusal (400 "Invalid OOBI request") */
};

/* The JSON body (valid JSON, an object). */
static void kd_xo_ask_json(const char *body, size_t len, struct kd_xo_ask *k)
{
    size_t uoff = 0, ulen = 0, aoff = 0, alen = 0, roff = 0, rlen = 0;

    k->has_rpy = kd_wit_json_member(body, len, "rpy", &roff, &rlen);
    if (!(k->has_url = kd_wit_json_member(body, len, "url", &uoff, &ulen)))
        return;
    if (body[uoff] != '"') {
        k->bad = "url must be a string";
        return;
    }
    if (kd_wit_json_member(body, len, "oobialias", &aoff, &alen) &&
        !(body[aoff] == '"' || (alen == 4 && memcmp(body + aoff, "null", 4) == 0))) {
        k->bad = "oobialias must be a string";
        return;
    }
    if (ulen > 6 * KD_XO_URL_MAX + 2 || alen > 6 * KD_XO_ALIAS_MAX + 2) {
        k->bad = "url or oobialias too long";
        return;
    }
    k->it.url = kd_xo_unescape(body + uoff, ulen, NULL);
    if (alen > 0 && body[aoff] == '"')
        k->it.alias = kd_xo_unescape(body + aoff, alen, NULL);
    if (k->it.url == NULL || (alen > 0 && body[aoff] == '"' && k->it.alias == NULL))
        k->bad = "url and oobialias must not hold a NUL character";
}

/* Percent- and '+'-decodes p (n bytes) into a malloc'd string; NULL on a
 * NUL byte or memory failure. Malformed escapes are kept as written. */
static char *kd_xo_form_decode(const char *p, size_t n)
{
    char *out = malloc(n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            *o++ = ' ';
        } else if (p[i] == '%' && i + 2 < n && kd_xo_hex(p[i + 1]) >= 0 &&
                   kd_xo_hex(p[i + 2]) >= 0) {
            const char c = (char)(kd_xo_hex(p[i + 1]) << 4 | kd_xo_hex(p[i + 2]));

            if (c == '\0') {
                free(out);
                return NULL;
            }
            *o++ = c;
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* A form body (falcon's URLEncodedFormHandler: blank values kept, a
 * repeated key becomes a list, which is no string). */
static void kd_xo_ask_form(const char *body, size_t len, struct kd_xo_ask *k)
{
    size_t i = 0;
    unsigned nurl = 0, nalias = 0;

    while (i < len && k->bad == NULL) {
        const char *f = body + i;
        const char *amp = memchr(f, '&', len - i);
        const size_t flen = amp != NULL ? (size_t)(amp - f) : len - i;
        const char *eq = memchr(f, '=', flen);
        const size_t klen = eq != NULL ? (size_t)(eq - f) : flen;
        char *key = kd_xo_form_decode(f, klen), *val = NULL;

        i += flen + 1;
        if (key == NULL) {
            k->bad = "url and oobialias must not hold a NUL character";
            break;
        }
        if (key[0] == '\0' ||
            (strcmp(key, "url") != 0 && strcmp(key, "oobialias") != 0 && strcmp(key, "rpy") != 0)) {
            free(key);
            continue;
        }
        if (strcmp(key, "rpy") == 0) {
            k->has_rpy = true;
            free(key);
            continue;
        }
        if (eq != NULL &&
            flen - klen - 1 > (strcmp(key, "url") == 0 ? 3 * KD_XO_URL_MAX : 3 * KD_XO_ALIAS_MAX))
            k->bad = "url or oobialias too long";
        else if ((val = kd_xo_form_decode(eq != NULL ? eq + 1 : "",
                                          eq != NULL ? flen - klen - 1 : 0)) == NULL)
            k->bad = "url and oobialias must not hold a NUL character";
        else if (strcmp(key, "url") == 0 && ++nurl == 1)
            k->it.url = val, val = NULL;
        else if (strcmp(key, "oobialias") == 0 && ++nalias == 1)
            k->it.alias = val, val = NULL;
        free(val);
        free(key);
    }
    k->has_url = nurl > 0;
    if (k->bad == NULL && nurl > 1)
        k->bad = "url must be a string";
    if (k->bad == NULL && nalias > 1)
        k->bad = "oobialias must be a string";
}

void kd_wit_ext_oobi(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    const struct kd_witness *w = ri->state;
    struct kd_wit_extoobi *x = w->extoobi;
    size_t len = 0;
    const char *body = (const char *)kd_http_req_body(req, &len);
    char ct[128], desc[192];
    struct kd_xo_ask k;
    const enum kd_xo_media media = kd_xo_media_of(req, ct, sizeof(ct));

    memset(&k, 0, sizeof(k));
    if (media == KD_XO_OTHER) {
        snprintf(desc, sizeof(desc), "%s is an unsupported media type.", ct);
        kd_wit_keripy_error(req, 415, "Unsupported media type", desc);
        return;
    }
    if (media == KD_XO_JSON) {
        if (len == 0) {
            kd_wit_keripy_error(req, 400, "Invalid JSON", "Could not parse an empty JSON body");
            return;
        }
        if (!kd_wit_json_valid((const unsigned char *)body, len)) {
            kd_wit_keripy_error(req, 400, "Invalid JSON", "Could not parse JSON body");
            return;
        }
        if (*kd_xo_skip_ws(body, body + len) == '{')
            kd_xo_ask_json(body, len, &k);
    } else {
        kd_xo_ask_form(body, len, &k);
    }
    if (k.bad == NULL && !k.has_url) {
        kd_xo_item_free(&k.it); /* an oobialias alone */
        if (k.has_rpy)
            kd_xo_text(req, 501, "'rpy' support not implemented yet'");
        else
            kd_xo_text(req, 400, "invalid OOBI request body, either 'rpy' or 'url' is required");
        return;
    }
    if (k.bad == NULL && (strlen(k.it.url) > KD_XO_URL_MAX ||
                          (k.it.alias != NULL && strlen(k.it.alias) > KD_XO_ALIAS_MAX)))
        k.bad = "url or oobialias too long";
    if (k.bad != NULL) {
        kd_xo_item_free(&k.it);
        kd_wit_keripy_error(req, 400, "Invalid OOBI request", k.bad);
        return;
    }
    /* already pending or being resolved: the same request, once */
    for (unsigned i = 0; i < x->qlen; i++)
        if (strcmp(x->q[(x->qhead + i) % KD_WIT_EXTOOBI_QUEUE].url, k.it.url) == 0) {
            kd_xo_item_free(&k.it);
            kd_http_respond(req, 202, "application/json", "", 0);
            return;
        }
    for (unsigned s = 0; s < KD_WIT_EXTOOBI_PARALLEL; s++)
        if (x->runs[s] != NULL && strcmp(x->runs[s]->it.url, k.it.url) == 0) {
            kd_xo_item_free(&k.it);
            kd_http_respond(req, 202, "application/json", "", 0);
            return;
        }
    if (x->qlen >= KD_WIT_EXTOOBI_QUEUE || x->stopped) {
        kd_xo_item_free(&k.it);
        kd_wit_keripy_error(req, 503, "Service Unavailable",
                            "too many OOBIs wait for resolution; retry later");
        return;
    }
    x->q[(x->qhead + x->qlen) % KD_WIT_EXTOOBI_QUEUE] = k.it;
    x->qlen++;
    kd_http_respond(req, 202, "application/json", "", 0);
    kd_xo_kick(x);
}

/* ---- the demo routes (ending.loadEnds) ---- */

static void kd_xo_html(struct kd_http_req *req, const char *text)
{
    kd_http_respond(req, 200, "text/html", text, strlen(text));
}

void kd_wit_demo_loc(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_xo_html(req, "\nKERI Service Endpoints\n\n");
}

void kd_wit_demo_admin(struct kd_http_req *req, void *ctx)
{
    (void)ctx;
    kd_xo_html(req, "\nKERI Admin\n\n");
}

/* GET and PUT /end/{aid}/{role}: keripy's responders take no route
 * parameters, so falcon answers its generic 500. */
void kd_wit_demo_end_get(struct kd_http_req *req, void *ctx)
{
    static const char body[] = "{\"title\":\"500 Internal Server Error\"}";

    (void)ctx;
    kd_http_respond(req, 500, "application/json", body, sizeof(body) - 1);
}

/* Appends s (n bytes of UTF-8) as a Python json.dumps string: ensure_ascii. */
static enum kd_err kd_xo_py_str(struct kd_buf *b, const char *s, size_t n)
{
    enum kd_err e = kd_buf_append_str(b, "\"");

    for (size_t i = 0; i < n && e == KD_OK;) {
        const unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            i++;
            if (c == '"')
                e = kd_buf_append_str(b, "\\\"");
            else if (c == '\\')
                e = kd_buf_append_str(b, "\\\\");
            else if (c == '\n')
                e = kd_buf_append_str(b, "\\n");
            else if (c == '\r')
                e = kd_buf_append_str(b, "\\r");
            else if (c == '\t')
                e = kd_buf_append_str(b, "\\t");
            else if (c == '\b')
                e = kd_buf_append_str(b, "\\b");
            else if (c == '\f')
                e = kd_buf_append_str(b, "\\f");
            else if (c < 0x20)
                e = kd_buf_printf(b, "\\u%04x", c);
            else
                e = kd_buf_append(b, &c, 1);
            continue;
        }
        k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        cp = c & (k == 3 ? 0x07u : k == 2 ? 0x0fu : 0x1fu);
        for (size_t j = 1; j <= k && i + j < n; j++)
            cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3fu);
        i += k + 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            e = kd_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
            e = kd_buf_printf(b, "\\u%04x", cp);
        }
    }
    if (e == KD_OK)
        e = kd_buf_append_str(b, "\"");
    return e;
}

/* Re-serialises the valid JSON value at *pp as Python's json.dumps does
 * (", " and ": " separators, ensure_ascii); numbers are kept as written. */
static enum kd_err kd_xo_py_value(struct kd_buf *b, const char **pp, const char *end)
{
    const char *p = kd_xo_skip_ws(*pp, end);
    enum kd_err e = KD_OK;

    if (*p == '"') {
        const char *q = p + 1;
        size_t n = 0;
        char *s;

        while (*q != '"')
            q += *q == '\\' ? 2 : 1;
        q++;
        if ((s = kd_xo_unescape(p, (size_t)(q - p), &n)) == NULL)
            return KD_ENOMEM;
        e = kd_xo_py_str(b, s, n);
        free(s);
        *pp = q;
        return e;
    }
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        bool first = true;

        e = kd_buf_append(b, p, 1);
        p = kd_xo_skip_ws(p + 1, end);
        while (e == KD_OK && *p != close) {
            if (!first)
                e = kd_buf_append_str(b, ", ");
            first = false;
            if (e == KD_OK && close == '}') {
                e = kd_xo_py_value(b, &p, end); /* the key */
                p = kd_xo_skip_ws(p, end) + 1;  /* ':' */
                if (e == KD_OK)
                    e = kd_buf_append_str(b, ": ");
            }
            if (e == KD_OK)
                e = kd_xo_py_value(b, &p, end);
            p = kd_xo_skip_ws(p, end);
            if (*p == ',')
                p = kd_xo_skip_ws(p + 1, end);
        }
        if (e == KD_OK)
            e = kd_buf_append(b, &close, 1);
        *pp = p + 1;
        return e;
    }
    {
        const char *q = p;

        while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\t' &&
               *q != '\n' && *q != '\r')
            q++;
        e = kd_buf_append(b, p, (size_t)(q - p));
        *pp = q;
    }
    return e;
}

/* POST /end/{aid}/{role} (ending.PointEnd.on_post). */
void kd_wit_demo_end_post(struct kd_http_req *req, void *ctx)
{
    static const char *const roles[] = {"controller", "witness", "registrar", "watcher", "judge",
                                        "juror",      "peer",    "mailbox",   "agent"};
    static const char *const labels[] = {"seid", "name", "dts", "scheme", "host", "port", "path"};
    size_t len = 0, alen = 0, rlen = 0, off, vlen;
    const char *body = (const char *)kd_http_req_body(req, &len);
    const char *aid = kd_http_req_param(req, 0, &alen);
    const char *role = kd_http_req_param(req, 1, &rlen);
    const char *start, *p;
    bool known = false;
    struct kd_buf out;
    enum kd_err e;

    (void)ctx;
    if (len == 0 || !kd_wit_json_valid((const unsigned char *)body, len)) {
        kd_wit_keripy_error(req, 400, "JSON Error", "Malformed JSON.");
        return;
    }
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        known = known || (strlen(roles[i]) == rlen && memcmp(role, roles[i], rlen) == 0);
    if (!known) {
        kd_wit_keripy_error(req, 400, "Malformed JSON", "Invalid role.");
        return;
    }
    start = kd_xo_skip_ws(body, body + len);
    if (*start != '{' && *start != '"' && *start != '[') {
        /* `label in data` on a number, true, false or null: a TypeError */
        kd_wit_demo_end_get(req, ctx);
        return;
    }
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (*start != '{' || !kd_wit_json_member(body, len, labels[i], &off, &vlen)) {
            kd_wit_keripy_error(req, 400, "Malformed JSON", "Missing label.");
            return;
        }
    kd_wit_json_member(body, len, "scheme", &off, &vlen);
    if (!((vlen == 6 && memcmp(body + off, "\"http\"", 6) == 0) ||
          (vlen == 7 && memcmp(body + off, "\"https\"", 7) == 0) ||
          (vlen == 5 && memcmp(body + off, "\"tcp\"", 5) == 0))) {
        kd_wit_keripy_error(req, 400, "Malformed JSON", "Invalid scheme.");
        return;
    }
    kd_buf_init(&out, 2 * len + 1024);
    e = kd_buf_append_str(&out, "{\"aid\": ");
    if (e == KD_OK)
        e = kd_xo_py_str(&out, aid, alen);
    if (e == KD_OK)
        e = kd_buf_append_str(&out, ", \"role\": ");
    if (e == KD_OK)
        e = kd_xo_py_str(&out, role, rlen);
    if (e == KD_OK)
        e = kd_buf_append_str(&out, ", \"data\": ");
    p = start;
    if (e == KD_OK)
        e = kd_xo_py_value(&out, &p, body + len);
    if (e == KD_OK)
        e = kd_buf_append_str(&out, "}");
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_http_respond(req, 200, "application/json", out.data, out.len);
    kd_buf_free(&out);
}
