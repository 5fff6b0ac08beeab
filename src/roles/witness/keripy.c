/*
 * The keripy witness surface (keripy-surface.md §2-§4, §7): CESR over HTTP
 * on POST / and POST /receipts (the JSON body exactly as received, its
 * attachments in the CESR-ATTACHMENT header), raw CESR streams on PUT /,
 * GET /receipts and GET /query. Every write goes through one store write,
 * processed by the node's KEL engine, the reply and forward checks of
 * register.c and forward.c, and the logs/ksn query answers below; the
 * witness's own receipt is made by on_accept inside that transaction, and
 * every answer is sent from the done callback, after COMMIT. A refused
 * message rolls its write back: nothing of it is stored.
 *
 * Error bodies follow falcon: {"title":"...","description":"..."}.
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr_stream.h"
#include "kerid/clock.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"

#define KD_KP_CESR_JSON    "application/cesr+json"
#define KD_KP_JSON_CESR    "application/json+cesr"
#define KD_KP_TOPIC_REPLAY "replay"
#define KD_KP_TOPIC_REPLY  "reply"
#define KD_KP_JSON_DEPTH   64
#define KD_KP_DESC_MAX     400u
/* keripy's "query not found" escrow: timeout and bound per identifier. */
#define KD_KP_QNF_TIMEOUT_S 300
#define KD_KP_QNF_PER_AID   64u
/* ... and over all identifiers (the queriers are verified, but many
 * identifiers could still be named). */
#define KD_KP_QNF_TOTAL 4096u
/* Identifiers of one write whose escrowed queries are retried. */
#define KD_KP_TOUCHED_MAX 8
/* Delegators climbed when a replay appends the delegation chain. */
#define KD_KP_DELEGATION_DEPTH 8

/* ------------------------------------------------------------------------ */
/* JSON checks                                                               */
/* ------------------------------------------------------------------------ */

struct kd_kp_json {
    const unsigned char *p;
    size_t n, i;
};

static void kd_kp_ws(struct kd_kp_json *j)
{
    while (j->i < j->n &&
           (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
        j->i++;
}

static bool kd_kp_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool kd_kp_string(struct kd_kp_json *j)
{
    if (j->i >= j->n || j->p[j->i] != '"')
        return false;
    j->i++;
    while (j->i < j->n) {
        const unsigned char c = j->p[j->i++];

        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (j->i >= j->n)
            return false;
        switch (j->p[j->i++]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u':
            if (j->n - j->i < 4 || !kd_kp_hex(j->p[j->i]) || !kd_kp_hex(j->p[j->i + 1]) ||
                !kd_kp_hex(j->p[j->i + 2]) || !kd_kp_hex(j->p[j->i + 3]))
                return false;
            j->i += 4;
            break;
        default:
            return false;
        }
    }
    return false;
}

static bool kd_kp_digits(struct kd_kp_json *j)
{
    const size_t start = j->i;

    while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
        j->i++;
    return j->i > start;
}

static bool kd_kp_number(struct kd_kp_json *j)
{
    if (j->i < j->n && j->p[j->i] == '-')
        j->i++;
    if (j->i < j->n && j->p[j->i] == '0')
        j->i++;
    else if (!kd_kp_digits(j))
        return false;
    if (j->i < j->n && j->p[j->i] == '.') {
        j->i++;
        if (!kd_kp_digits(j))
            return false;
    }
    if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
            j->i++;
        if (!kd_kp_digits(j))
            return false;
    }
    return true;
}

static bool kd_kp_word(struct kd_kp_json *j, const char *w)
{
    const size_t n = strlen(w);

    if (j->n - j->i < n || memcmp(j->p + j->i, w, n) != 0)
        return false;
    j->i += n;
    return true;
}

static bool kd_kp_value(struct kd_kp_json *j, unsigned depth)
{
    kd_kp_ws(j);
    if (j->i >= j->n)
        return false;
    switch (j->p[j->i]) {
    case '"':
        return kd_kp_string(j);
    case 't':
        return kd_kp_word(j, "true");
    case 'f':
        return kd_kp_word(j, "false");
    case 'n':
        return kd_kp_word(j, "null");
    case '{':
    case '[': {
        const bool obj = j->p[j->i] == '{';
        const unsigned char close = obj ? '}' : ']';

        if (depth >= KD_KP_JSON_DEPTH)
            return false;
        j->i++;
        kd_kp_ws(j);
        if (j->i < j->n && j->p[j->i] == close) {
            j->i++;
            return true;
        }
        for (;;) {
            if (obj) {
                kd_kp_ws(j);
                if (!kd_kp_string(j))
                    return false;
                kd_kp_ws(j);
                if (j->i >= j->n || j->p[j->i++] != ':')
                    return false;
            }
            if (!kd_kp_value(j, depth + 1))
                return false;
            kd_kp_ws(j);
            if (j->i >= j->n)
                return false;
            if (j->p[j->i] == close) {
                j->i++;
                return true;
            }
            if (j->p[j->i++] != ',')
                return false;
        }
    }
    default:
        return kd_kp_number(j);
    }
}

bool kd_wit_json_valid(const unsigned char *p, size_t n)
{
    struct kd_kp_json j = {p, n, 0};

    if (!kd_wit_utf8_ok(p, n) || !kd_kp_value(&j, 0))
        return false;
    kd_kp_ws(&j);
    return j.i == n;
}

bool kd_wit_json_member(const char *p, size_t n, const char *key, size_t *off, size_t *len)
{
    struct kd_kp_json j = {(const unsigned char *)p, n, 0};
    const size_t klen = strlen(key);

    kd_kp_ws(&j);
    if (j.i >= n || p[j.i] != '{')
        return false;
    j.i++;
    kd_kp_ws(&j);
    if (j.i < n && p[j.i] == '}')
        return false;
    for (;;) {
        size_t ks, ke, vs;

        kd_kp_ws(&j);
        ks = j.i;
        if (!kd_kp_string(&j))
            return false;
        ke = j.i;
        kd_kp_ws(&j);
        if (j.i >= n || p[j.i++] != ':')
            return false;
        kd_kp_ws(&j);
        vs = j.i;
        if (!kd_kp_value(&j, 1))
            return false;
        if (ke - ks == klen + 2 && memcmp(p + ks + 1, key, klen) == 0) {
            *off = vs;
            *len = j.i - vs;
            return true;
        }
        kd_kp_ws(&j);
        if (j.i >= n || p[j.i] != ',')
            return false;
        j.i++;
    }
}

void kd_wit_keripy_error(struct kd_http_req *req, int status, const char *title, const char *desc)
{
    struct kd_buf b;
    enum kd_err e;

    kd_buf_init(&b, 4096);
    e = kd_buf_append_str(&b, "{\"title\":\"");
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, title, strlen(title));
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\",\"description\":\"");
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, desc, strlen(desc));
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\"}");
    if (e == KD_OK)
        kd_http_respond(req, status, "application/json", b.data, b.len);
    else
        kd_http_respond_error(req, e, NULL);
    kd_buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* KEL replay in keripy's clone form                                         */
/* ------------------------------------------------------------------------ */

struct kd_kp_sigs {
    struct kd_buf *out;
    unsigned count;
};

static enum kd_err kd_kp_sig_cb(const char *sig, size_t len, void *arg)
{
    struct kd_kp_sigs *s = arg;

    s->count++;
    return kd_buf_append(s->out, sig, len);
}

/* Appends the items of one kind of signature of said as a counted group. */
static enum kd_err kd_kp_clone_group(struct kd_store_rd *rd, const char *said,
                                     enum kd_store_sig_kind kind, enum kd_cesr_ctr code,
                                     struct kd_buf *atc)
{
    struct kd_buf items;
    struct kd_kp_sigs s = {&items, 0};
    char ctr[8];
    enum kd_err e;

    kd_buf_init(&items, KD_WIT_ANSWER_MAX);
    e = kd_store_sig_each(rd, said, kind, kd_kp_sig_cb, &s);
    if (e == KD_OK && s.count > 0) {
        e = kd_cesr_counter_encode(code, s.count, ctr, sizeof(ctr), NULL);
        if (e == KD_OK)
            e = kd_buf_append_str(atc, ctr);
        if (e == KD_OK)
            e = kd_buf_append(atc, items.data, items.len);
    }
    kd_buf_free(&items);
    return e;
}

void kd_wit_keripy_dater(int64_t us, char out[KD_DATETIME_LEN + 5])
{
    char dt[KD_DATETIME_LEN + 1];

    kd_clock_format_dt(us, dt);
    memcpy(out, "1AAG", 4);
    for (size_t i = 0; i < KD_DATETIME_LEN; i++)
        out[4 + i] = dt[i] == ':' ? 'c' : dt[i] == '.' ? 'd' : dt[i] == '+' ? 'p' : dt[i];
    out[KD_DATETIME_LEN + 4] = '\0';
}

enum kd_err kd_wit_clone_event(struct kd_store_rd *rd, const struct kd_store_event *ev,
                               struct kd_buf *out)
{
    struct kd_buf atc;
    char dsaid[KD_STORE_ID_MAX + 1], sn_qb64[KD_CESR_SN_QB64_LEN + 1], dater[KD_DATETIME_LEN + 5];
    char ctr[8];
    uint64_t dsn = 0;
    enum kd_err e;

    kd_buf_init(&atc, KD_WIT_ANSWER_MAX);
    if ((e = kd_kp_clone_group(rd, ev->said, KD_STORE_SIG_CONTROLLER,
                               KD_CESR_CTR_CONTROLLER_IDX_SIGS, &atc)) != KD_OK ||
        (e = kd_kp_clone_group(rd, ev->said, KD_STORE_SIG_WITNESS, KD_CESR_CTR_WITNESS_IDX_SIGS,
                               &atc)) != KD_OK)
        goto out;
    if (strcmp(ev->ilk, "dip") == 0 || strcmp(ev->ilk, "drt") == 0) {
        e = kd_store_anchor_get(rd, ev->said, &dsn, dsaid);
        if (e == KD_OK) {
            if ((e = kd_cesr_sn_encode(dsn, sn_qb64, sizeof(sn_qb64))) != KD_OK ||
                (e = kd_buf_printf(&atc, "-GAB%s%s", sn_qb64, dsaid)) != KD_OK)
                goto out;
        } else if (e != KD_ENOTFOUND) {
            goto out;
        }
    }
    if ((e = kd_kp_clone_group(rd, ev->said, KD_STORE_SIG_T_RECEIPT,
                               KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES, &atc)) != KD_OK ||
        (e = kd_kp_clone_group(rd, ev->said, KD_STORE_SIG_NT_RECEIPT,
                               KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES, &atc)) != KD_OK)
        goto out;
    if ((e = kd_cesr_sn_encode(ev->fn, sn_qb64, sizeof(sn_qb64))) != KD_OK)
        goto out;
    kd_wit_keripy_dater(ev->first_seen_us, dater);
    if ((e = kd_buf_printf(&atc, "-EAB%s%s", sn_qb64, dater)) != KD_OK)
        goto out;
    if (atc.len % 4 != 0 || atc.len / 4 >= (64u * 64u * 64u * 64u * 64u)) {
        e = KD_EINTERNAL;
        goto out;
    }
    e = atc.len / 4 < 64u * 64u
            ? kd_cesr_counter_encode(KD_CESR_CTR_ATTACHMENT_GROUP, (uint32_t)(atc.len / 4), ctr,
                                     sizeof(ctr), NULL)
            : kd_cesr_counter_encode(KD_CESR_CTR_BIG_ATTACHMENT_GROUP, (uint32_t)(atc.len / 4), ctr,
                                     sizeof(ctr), NULL);
    if (e == KD_OK)
        e = kd_buf_append(out, ev->raw, ev->raw_len);
    if (e == KD_OK)
        e = kd_buf_append_str(out, ctr);
    if (e == KD_OK)
        e = kd_buf_append(out, atc.data, atc.len);
out:
    kd_buf_free(&atc);
    return e;
}

struct kd_kp_clone_ctx {
    struct kd_store_rd *rd;
    struct kd_buf *out;
};

static enum kd_err kd_kp_clone_cb(const struct kd_store_event *ev, void *arg)
{
    struct kd_kp_clone_ctx *c = arg;

    return kd_wit_clone_event(c->rd, ev, c->out);
}

enum kd_err kd_wit_clone_kel(struct kd_store_rd *rd, const char *prefix, uint64_t from_fn,
                             struct kd_buf *out)
{
    struct kd_kp_clone_ctx c = {rd, out};

    return kd_store_kel_each(rd, prefix, from_fn, 0, kd_kp_clone_cb, &c);
}

/* ------------------------------------------------------------------------ */
/* Request framing (keripy-surface §3)                                       */
/* ------------------------------------------------------------------------ */

/*
 * Checks a CESR-over-HTTP request and joins the body (as received) and the
 * CESR-ATTACHMENT text into a new allocation (*msg, *len; free it). Answers
 * the request itself and returns false on a refusal.
 */
static bool kd_kp_cesr_request(struct kd_http_req *req, unsigned char **msg, size_t *len,
                               size_t *body_len)
{
    size_t blen = 0, alen = 0, clen = 0;
    const char *ct = kd_http_req_header(req, "Content-Type", &clen);
    const unsigned char *body = kd_http_req_body(req, &blen);
    const char *atc;

    *msg = NULL;
    if (ct == NULL || clen != strlen(KD_KP_CESR_JSON) || memcmp(ct, KD_KP_CESR_JSON, clen) != 0) {
        kd_wit_keripy_error(req, 406, "Content type error", "Unacceptable content type.");
        return false;
    }
    if (!kd_wit_json_valid(body, blen)) {
        kd_wit_keripy_error(req, 400, "Malformed JSON",
                            "Could not decode the request body. The JSON was incorrect.");
        return false;
    }
    atc = kd_http_req_header(req, "CESR-ATTACHMENT", &alen);
    if (atc == NULL) {
        kd_wit_keripy_error(req, 412, "Attachment error", "Missing required attachment header.");
        return false;
    }
    if (blen + alen > KD_STORE_BLOB_MAX) {
        kd_wit_keripy_error(req, 413, "Payload too large", "message and attachments too large");
        return false;
    }
    *msg = malloc(blen + alen + 1);
    if (*msg == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return false;
    }
    memcpy(*msg, body, blen);
    memcpy(*msg + blen, atc, alen);
    *len = blen + alen;
    *body_len = blen;
    return true;
}

/* What the loop thread learns of a POST / or /receipts message before it
 * is submitted: exactly one message whose body is the whole JSON body. */
struct kd_kp_peek {
    unsigned nmsgs;
    size_t body_len;
    struct kd_event *ev;
    bool parsed;
    struct kd_event_diag diag;
};

static enum kd_err kd_kp_peek_cb(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_kp_peek *pk = ctx;

    if (++pk->nmsgs > 1)
        return KD_OK;
    pk->body_len = msg->body_len;
    memset(&pk->diag, 0, sizeof(pk->diag));
    pk->parsed = kd_event_parse(pk->ev, msg->body, msg->body_len, &pk->diag) == KD_OK;
    return KD_OK;
}

/* Frames msg (len bytes, body_len of them the JSON body) as exactly one
 * message and parses it into pk->ev; answers 400 and returns false if not. */
static bool kd_kp_frame_one(struct kd_http_req *req, const unsigned char *msg, size_t len,
                            size_t body_len, struct kd_kp_peek *pk)
{
    struct kd_cesr_error cerr;
    enum kd_err e;

    memset(&cerr, 0, sizeof(cerr));
    e = kd_cesr_split_all(msg, len, NULL, kd_kp_peek_cb, pk, &cerr);
    if (e != KD_OK) {
        kd_wit_keripy_error(req,
                            e == KD_ETOOLARGE ? 413
                            : e == KD_ENOMEM  ? 500
                                              : 400,
                            "Invalid message",
                            cerr.reason != NULL ? cerr.reason : "not a CESR message");
        return false;
    }
    if (pk->nmsgs != 1 || pk->body_len != body_len) {
        kd_wit_keripy_error(req, 400, "Invalid message",
                            "the body must be one KERI message whose version string size is the "
                            "body length, and the attachment header attachments only");
        return false;
    }
    if (!pk->parsed) {
        kd_wit_keripy_error(req, 400, "Invalid message",
                            pk->diag.why != NULL ? pk->diag.why
                                                 : kd_event_fault_message(pk->diag.fault));
        return false;
    }
    return true;
}

static bool kd_kp_is_key_event(enum kd_ilk ilk)
{
    return ilk == KD_ILK_ICP || ilk == KD_ILK_ROT || ilk == KD_ILK_IXN || ilk == KD_ILK_DIP ||
           ilk == KD_ILK_DRT;
}

/* ------------------------------------------------------------------------ */
/* The write: every message of a POST / body or a PUT / stream               */
/* ------------------------------------------------------------------------ */

enum kd_kp_mode { KD_KP_ROOT, KD_KP_PUT, KD_KP_RECEIPTS };

struct kd_kp_job {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    enum kd_kp_mode mode;
    int64_t now_us;
    struct kd_store_txn *txn; /* during the write only */
    struct kd_event *ev;
    struct kd_wit_reply rp; /* reply and forward checks */
    unsigned nmsgs;
    /* a refusal: status, title, description (rolled back) */
    bool failed;
    int status;
    const char *title;
    char desc[KD_KP_DESC_MAX];
    bool escrowed_query; /* a qry waits: desc says why */
    unsigned ntouched;   /* identifiers whose key events or receipts went in */
    char touched[KD_KP_TOUCHED_MAX][KD_KEL_ID_MAX + 1];
    /* /receipts: the verdict on the event */
    struct kd_kel_result res;
    size_t len;
    unsigned char body[];
};

static enum kd_err kd_kp_fail(struct kd_kp_job *j, int status, const char *title, const char *desc)
{
    const size_t n = strlen(desc);

    j->failed = true;
    j->status = status;
    j->title = title;
    j->desc[0] = '\0';
    memcpy(j->desc, desc, n < sizeof(j->desc) ? n : sizeof(j->desc) - 1);
    j->desc[n < sizeof(j->desc) ? n : sizeof(j->desc) - 1] = '\0';
    return KD_EINVAL;
}

/* A refusal recorded by register.c or forward.c (their JSON error body)
 * as this answer: 403 for a signature that does not verify, else 400. */
static enum kd_err kd_kp_fail_reply(struct kd_kp_job *j, const char *title)
{
    const bool sig = j->rp.badsig;
    const char *desc = j->rp.err;
    size_t off = 0, len = 0;

    /* forward.c's keripy refusals are already falcon bodies: keep their text */
    if (kd_wit_json_member(j->rp.err, j->rp.err_len, "description", &off, &len) && len >= 2) {
        j->rp.err[off + len - 1] = '\0';
        desc = j->rp.err + off + 1;
    }
    return kd_kp_fail(j, sig ? 403 : 400, title, desc);
}

/* Signer of a qry (query.c's check of its last -H or -C group). */
static enum kd_err kd_kp_qry_signer(struct kd_kp_job *j, const struct kd_cesr_msg *msg,
                                    char signer[KD_KEL_ID_MAX + 1])
{
    enum kd_wit_sig_verdict v = KD_WIT_SIG_INVALID;
    enum kd_err e = kd_wit_query_sig_check(kd_store_txn_reader(j->txn), &msg->att, msg->body,
                                           msg->body_len, &v, signer);

    if (e != KD_OK)
        return e;
    switch (v) {
    case KD_WIT_SIG_OK:
        return KD_OK;
    case KD_WIT_SIG_MISSING:
        return kd_kp_fail(j, 400, "Invalid query", "query without a -H or -C signature group");
    case KD_WIT_SIG_UNKNOWN:
        return kd_kp_fail(j, 404, "Invalid query", "the query's signer is unknown here");
    default:
        return kd_kp_fail(j, 403, "Invalid query", "query signature does not verify");
    }
}

struct kd_kp_mbx_ctx {
    struct kd_store_txn *txn;
    struct kd_store_rd *rd;
    const char *dest;
    unsigned stored;
};

/* Stores each event of a KEL, in clone form, as its own replay message. */
static enum kd_err kd_kp_replay_cb(const struct kd_store_event *ev, void *arg)
{
    struct kd_kp_mbx_ctx *c = arg;
    struct kd_buf one;
    enum kd_err e;

    kd_buf_init(&one, KD_STORE_BLOB_MAX);
    e = kd_wit_clone_event(c->rd, ev, &one);
    if (e == KD_OK)
        e = kd_store_mbx_append(c->txn, c->dest, KD_KP_TOPIC_REPLAY, one.data, one.len, NULL);
    if (e == KD_OK)
        c->stored++;
    kd_buf_free(&one);
    return e;
}

/* Whether prefix's latest event is fully witnessed here. */
static enum kd_err kd_kp_latest_witnessed(struct kd_store_rd *rd, const struct kd_kel_state *st,
                                          bool *yes)
{
    return kd_kel_fully_witnessed(rd, st->prefix, st->sn, st->said, yes);
}

struct kd_kp_seal_hit {
    struct kd_store_rd *rd;
    const char *prefix;
    bool witnessed;
};

static enum kd_err kd_kp_seal_cb(const char *said, unsigned pos, void *arg)
{
    struct kd_kp_seal_hit *h = arg;
    struct kd_store_event ev;
    struct kd_buf storage;
    bool yes = false;
    enum kd_err e;

    (void)pos;
    kd_buf_init(&storage, 0);
    e = kd_store_event_get(h->rd, said, &ev, &storage);
    if (e == KD_OK)
        e = kd_kel_fully_witnessed(h->rd, h->prefix, ev.sn, said, &yes);
    kd_buf_free(&storage);
    if (e == KD_OK && yes)
        h->witnessed = true;
    return e == KD_ENOTFOUND ? KD_OK : e;
}

/*
 * Answers a checked qry logs / ksn (ev) of signer into signer's replay or
 * reply mailbox (keripy-surface §7.3). *why is NULL when answered, else why
 * the query has to wait (keripy's "query not found" escrow): unknown
 * identifier, latest event not fully witnessed, no such sn, anchor not found.
 */
static enum kd_err kd_kp_query_answer(struct kd_kp_job *j, const struct kd_event *ev,
                                      const char *signer, const char **why)
{
    const struct kd_qry *q = &ev->qry;
    struct kd_store_rd *rd = kd_store_txn_reader(j->txn);
    struct kd_kel_state *st = NULL;
    char aid[KD_KEL_ID_MAX + 1];
    struct kd_buf body;
    bool yes = false;
    enum kd_err e;

    *why = NULL;
    kd_buf_init(&body, KD_STORE_BLOB_MAX);
    memcpy(aid, kd_span_ptr(ev, q->i), q->i.len);
    aid[q->i.len] = '\0';
    e = kd_kel_state_load(rd, aid, &st);
    if (e == KD_ENOTFOUND) {
        *why = "the queried identifier is unknown here";
        e = KD_OK;
        goto out;
    }
    if (e != KD_OK || (e = kd_kp_latest_witnessed(rd, st, &yes)) != KD_OK)
        goto out;
    if (q->route == KD_QRY_KSN) {
        char sig[KD_SIG_QB64_LEN + 1];

        if (!yes) {
            *why = "the identifier's latest event is not fully witnessed here";
            goto out;
        }
        e = kd_kel_ksn_keripy(&body, st, j->ri->signer.prefix, j->now_us);
        if (e == KD_OK) {
            kd_signer_sign_qb64(&j->ri->signer, body.data, body.len, sig);
            e = kd_buf_printf(&body, "-VAi-CAB%s%s", j->ri->signer.prefix, sig);
        }
        if (e == KD_OK)
            e = kd_store_mbx_append(j->txn, signer, KD_KP_TOPIC_REPLY, body.data, body.len, NULL);
        goto out;
    }
    if ((q->has & KD_Q_S) && (q->s > st->sn || !yes)) {
        *why = "the identifier has no fully witnessed event at that sequence number";
        goto out;
    }
    if ((q->has & KD_Q_A) && q->a.kind == KD_SEAL_EVENT && q->a.sn_ok) {
        struct kd_kp_seal_hit h = {rd, aid, false};
        char si[KD_KEL_ID_MAX + 1], sd[KD_KEL_ID_MAX + 1];

        memcpy(si, kd_span_ptr(ev, q->a.i), q->a.i.len);
        si[q->a.i.len] = '\0';
        memcpy(sd, kd_span_ptr(ev, q->a.d), q->a.d.len);
        sd[q->a.d.len] = '\0';
        if ((e = kd_store_seal_find(rd, aid, si, (uint64_t)q->a.sn, sd, kd_kp_seal_cb, &h)) !=
            KD_OK)
            goto out;
        if (!h.witnessed) {
            *why = "no fully witnessed event of the identifier holds that anchor";
            goto out;
        }
    }
    {
        struct kd_kp_mbx_ctx c = {j->txn, rd, signer, 0};
        char dele[KD_KEL_ID_MAX + 1];
        const uint64_t from = (q->has & KD_Q_FN) && q->fn < UINT64_MAX ? (uint64_t)q->fn : 0;

        e = kd_store_kel_each(rd, aid, from, 0, kd_kp_replay_cb, &c);
        snprintf(dele, sizeof(dele), "%s", st->delegator);
        for (unsigned depth = 0; e == KD_OK && dele[0] != '\0' && depth < KD_KP_DELEGATION_DEPTH;
             depth++) {
            struct kd_kel_state *ds = NULL;

            e = kd_store_kel_each(rd, dele, 0, 0, kd_kp_replay_cb, &c);
            if (e != KD_OK)
                break;
            e = kd_kel_state_load(rd, dele, &ds);
            if (e == KD_ENOTFOUND) {
                e = KD_OK;
                break;
            }
            if (e == KD_OK)
                snprintf(dele, sizeof(dele), "%s", ds->delegator);
            kd_kel_state_free(ds);
        }
    }
out:
    kd_kel_state_free(st);
    kd_buf_free(&body);
    return e;
}

/* Whether a qry's q.i and q.a (when an event seal) are well-formed ids. */
static bool kd_kp_query_shape(const struct kd_event *ev)
{
    const struct kd_qry *q = &ev->qry;
    char id[KD_KEL_ID_MAX + 1];

    if (!(q->has & KD_Q_I) || q->i.len == 0 || q->i.len > KD_KEL_ID_MAX)
        return false;
    memcpy(id, kd_span_ptr(ev, q->i), q->i.len);
    id[q->i.len] = '\0';
    if (!kd_wit_qb64_id(id, strlen(id)))
        return false;
    if ((q->has & KD_Q_A) && q->a.kind == KD_SEAL_EVENT && q->a.sn_ok)
        return q->a.i.len > 0 && q->a.i.len <= KD_KEL_ID_MAX && q->a.d.len > 0 &&
               q->a.d.len <= KD_KEL_ID_MAX && q->a.sn <= INT64_MAX;
    return true;
}

/* qry logs / ksn: checked, signature verified, answered now or escrowed
 * (at most KD_KP_QNF_PER_AID per identifier) until its identifier's events
 * arrive through this surface, for KD_KP_QNF_TIMEOUT_S. */
static enum kd_err kd_kp_query(struct kd_kp_job *j, const struct kd_cesr_msg *msg)
{
    const struct kd_event *ev = j->ev;
    const struct kd_qry *q = &ev->qry;
    struct kd_store_escrow row;
    char signer[KD_KEL_ID_MAX + 1], aid[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1];
    const char *why = NULL;
    uint64_t n = 0;
    enum kd_err e;

    if (q->route != KD_QRY_LOGS && q->route != KD_QRY_KSN)
        return kd_kp_fail(j, 400, "Invalid query", "unsupported query route");
    if (!kd_kp_query_shape(ev) || ev->d.len == 0 || ev->d.len > KD_KEL_ID_MAX)
        return kd_kp_fail(j, 400, "Invalid query", "missing or malformed q.i or q.a");
    if ((e = kd_kp_qry_signer(j, msg, signer)) != KD_OK ||
        (e = kd_kp_query_answer(j, ev, signer, &why)) != KD_OK || why == NULL)
        return e;
    memcpy(aid, kd_span_ptr(ev, q->i), q->i.len);
    aid[q->i.len] = '\0';
    memcpy(said, kd_span_ptr(ev, ev->d), ev->d.len);
    said[ev->d.len] = '\0';
    e = kd_store_escrow_count_prefix(kd_store_txn_reader(j->txn), KD_STORE_ESCROW_QUERY_NOT_FOUND,
                                     aid, &n);
    if (e != KD_OK)
        return e;
    if (n >= KD_KP_QNF_PER_AID)
        return kd_kp_fail(j, 503, "Query not found", "too many queries wait for this identifier");
    e = kd_store_escrow_count(kd_store_txn_reader(j->txn), KD_STORE_ESCROW_QUERY_NOT_FOUND, &n);
    if (e != KD_OK)
        return e;
    if (n >= KD_KP_QNF_TOTAL)
        return kd_kp_fail(j, 503, "Query not found", "too many queries wait");
    memset(&row, 0, sizeof(row));
    row.kind = KD_STORE_ESCROW_QUERY_NOT_FOUND;
    row.prefix = aid;
    row.said = said;
    row.raw = msg->body;
    row.raw_len = msg->body_len;
    row.att = (const uint8_t *)msg->att.text;
    row.att_len = msg->att.len;
    row.arrived_us = j->now_us;
    row.tried_us = j->now_us;
    row.dep = aid;
    if ((e = kd_store_escrow_add(j->txn, &row, NULL, NULL)) != KD_OK)
        return e;
    j->escrowed_query = true;
    snprintf(j->desc, sizeof(j->desc), "%s: the query waits for it", why);
    return KD_OK;
}

/* Records prefix (a key event's or receipt's i) as touched by this write. */
static void kd_kp_touch(struct kd_kp_job *j, const struct kd_event *ev)
{
    if (ev->i.len == 0 || ev->i.len > KD_KEL_ID_MAX)
        return;
    for (unsigned t = 0; t < j->ntouched; t++)
        if (kd_span_eq(ev, ev->i, j->touched[t]))
            return;
    if (j->ntouched < KD_KP_TOUCHED_MAX) {
        memcpy(j->touched[j->ntouched], kd_span_ptr(ev, ev->i), ev->i.len);
        j->touched[j->ntouched][ev->i.len] = '\0';
        j->ntouched++;
    }
}

/* An escrowed query, copied out of the store iteration. */
struct kd_kp_qnf {
    int64_t id;
    size_t raw_len, len;
    unsigned char *buf; /* raw + att */
};

struct kd_kp_qnf_list {
    struct kd_kp_qnf v[KD_KP_QNF_PER_AID];
    unsigned n;
};

static enum kd_err kd_kp_qnf_cb(const struct kd_store_escrow *row, void *arg)
{
    struct kd_kp_qnf_list *l = arg;
    struct kd_kp_qnf *q;

    if (l->n >= KD_KP_QNF_PER_AID)
        return KD_OK;
    q = &l->v[l->n];
    q->buf = malloc(row->raw_len + row->att_len + 1);
    if (q->buf == NULL)
        return KD_ENOMEM;
    q->id = row->id;
    q->raw_len = row->raw_len;
    q->len = row->raw_len + row->att_len;
    memcpy(q->buf, row->raw, row->raw_len);
    if (row->att_len > 0)
        memcpy(q->buf + row->raw_len, row->att, row->att_len);
    l->n++;
    return KD_OK;
}

struct kd_kp_retry {
    struct kd_kp_job *j;
    struct kd_event *ev;
    bool answered, drop;
};

/* One escrowed query, split again: its signature still verifies and it can
 * be answered now (answered), must wait (neither) or is void (drop). */
static enum kd_err kd_kp_retry_cb(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_kp_retry *r = ctx;
    enum kd_wit_sig_verdict v = KD_WIT_SIG_INVALID;
    char signer[KD_KEL_ID_MAX + 1];
    const char *why = NULL;
    enum kd_err e;

    if (kd_event_parse(r->ev, msg->body, msg->body_len, NULL) != KD_OK ||
        r->ev->ilk != KD_ILK_QRY || !kd_kp_query_shape(r->ev)) {
        r->drop = true;
        return KD_OK;
    }
    e = kd_wit_query_sig_check(kd_store_txn_reader(r->j->txn), &msg->att, msg->body, msg->body_len,
                               &v, signer);
    if (e != KD_OK)
        return e;
    if (v != KD_WIT_SIG_OK) {
        r->drop = true;
        return KD_OK;
    }
    e = kd_kp_query_answer(r->j, r->ev, signer, &why);
    r->answered = e == KD_OK && why == NULL;
    return e;
}

/* Writer thread, after a write's messages: drops escrowed queries older
 * than the timeout, then retries those waiting for an identifier the write
 * touched. */
static enum kd_err kd_kp_retry_queries(struct kd_kp_job *j)
{
    struct kd_store_rd *rd = kd_store_txn_reader(j->txn);
    struct kd_kp_qnf_list *l = NULL;
    struct kd_kp_retry r;
    enum kd_err e = KD_OK;

    memset(&r, 0, sizeof(r));
    if (j->ntouched == 0)
        return KD_OK;
    e = kd_store_escrow_expire(j->txn, KD_STORE_ESCROW_QUERY_NOT_FOUND,
                               j->now_us - (int64_t)KD_KP_QNF_TIMEOUT_S * 1000000, NULL);
    if (e != KD_OK)
        return e;
    l = calloc(1, sizeof(*l));
    r.ev = malloc(sizeof(*r.ev));
    r.j = j;
    if (l == NULL || r.ev == NULL) {
        e = KD_ENOMEM;
        goto out;
    }
    for (unsigned t = 0; t < j->ntouched && e == KD_OK; t++) {
        for (unsigned i = 0; i < l->n; i++)
            free(l->v[i].buf);
        l->n = 0;
        e = kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_QUERY_NOT_FOUND, j->touched[t],
                                     KD_KP_QNF_PER_AID, kd_kp_qnf_cb, l);
        for (unsigned i = 0; i < l->n && e == KD_OK; i++) {
            struct kd_cesr_error cerr;

            memset(&cerr, 0, sizeof(cerr));
            r.answered = false;
            r.drop = false;
            e = kd_cesr_split_all(l->v[i].buf, l->v[i].len, NULL, kd_kp_retry_cb, &r, &cerr);
            if (e != KD_OK && cerr.code == KD_OK)
                break;
            if (e != KD_OK)
                r.drop = true; /* stored by this code, never expected */
            e = r.answered || r.drop ? kd_store_escrow_remove(j->txn, l->v[i].id)
                                     : kd_store_escrow_touch(j->txn, l->v[i].id, j->now_us);
        }
    }
out:
    if (l != NULL)
        for (unsigned i = 0; i < l->n; i++)
            free(l->v[i].buf);
    free(l);
    free(r.ev);
    return e;
}

/* One message of the body, dispatched on its ilk. */
static enum kd_err kd_kp_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_kp_job *j = ctx;
    struct kd_event_diag diag;
    struct kd_kel_result res;
    enum kd_err e;

    j->nmsgs++;
    memset(&diag, 0, sizeof(diag));
    if (kd_event_parse(j->ev, msg->body, msg->body_len, &diag) != KD_OK)
        return kd_kp_fail(j, 400, "Invalid message",
                          diag.why != NULL ? diag.why : kd_event_fault_message(diag.fault));
    switch (j->ev->ilk) {
    case KD_ILK_ICP:
    case KD_ILK_ROT:
    case KD_ILK_IXN:
    case KD_ILK_DIP:
    case KD_ILK_DRT:
    case KD_ILK_RCT:
        memset(&res, 0, sizeof(res));
        if ((e = kd_kel_process(j->ri->node->kel, j->txn, msg, j->now_us, &res)) != KD_OK)
            return e;
        if (j->mode == KD_KP_RECEIPTS)
            j->res = res;
        if (res.verdict == KD_KEL_REJECTED) {
            char desc[KD_KP_DESC_MAX];

            snprintf(desc, sizeof(desc), "%s%s%s", kd_kel_fault_message(res.fault),
                     res.why != NULL && strcmp(res.why, kd_kel_fault_message(res.fault)) != 0 ? ": "
                                                                                              : "",
                     res.why != NULL && strcmp(res.why, kd_kel_fault_message(res.fault)) != 0
                         ? res.why
                         : "");
            return kd_kp_fail(j, kd_err_status(res.err) >= 500 ? 503 : kd_err_status(res.err),
                              j->ev->ilk == KD_ILK_RCT ? "Invalid receipt" : "Invalid event", desc);
        }
        if (res.verdict == KD_KEL_ACCEPTED || res.verdict == KD_KEL_DUPLICATE)
            kd_kp_touch(j, j->ev);
        /* a copy of an accepted event is no proof of control unless its own
         * signatures verify: refused rather than receipted */
        if (res.verdict == KD_KEL_DUPLICATE && res.bad_sigs > 0 && j->ev->ilk != KD_ILK_RCT)
            return kd_kp_fail(j, 403, "Invalid event",
                              "an attached signature of this copy of an accepted event does not "
                              "verify");
        return KD_OK;
    case KD_ILK_RPY:
        j->rp.txn = j->txn;
        e = kd_wit_reply_process(&j->rp, msg);
        j->rp.txn = NULL;
        return j->rp.failed ? kd_kp_fail_reply(j, "Invalid reply") : e;
    case KD_ILK_EXN:
        if (j->ev->exn.form != KD_EXN_KERIPY || !kd_span_eq(j->ev, j->ev->r, "/fwd"))
            return kd_kp_fail(j, 400, "Invalid exchange",
                              "this witness handles only /fwd exchange messages");
        j->rp.txn = j->txn;
        e = kd_wit_fwd_keripy(&j->rp, msg);
        j->rp.txn = NULL;
        return j->rp.failed ? kd_kp_fail_reply(j, "Invalid exchange") : e;
    case KD_ILK_QRY:
        if (j->ev->qry.route == KD_QRY_MBX)
            return kd_kp_fail(j, 400, "Invalid query",
                              "a mailbox query must be sent alone with POST /");
        return kd_kp_query(j, msg);
    default:
        return kd_kp_fail(j, 400, "Invalid message", "unsupported message type");
    }
}

/* Writer thread: the whole body in one savepoint; a refusal rolls it back. */
static enum kd_err kd_kp_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_kp_job *j = arg;
    struct kd_cesr_error cerr;
    enum kd_err e;

    memset(&cerr, 0, sizeof(cerr));
    j->txn = txn;
    j->nmsgs = 0;
    /* kli sends a delegate's event to its witnesses before the delegator
     * anchors it (keripy-surface §7.2): on this surface a witness of the
     * delegate accepts it once controller-signed; validators still need the
     * anchor (keri-core §4.6, §4.7) */
    kd_kel_set_delegation_requires_anchor(j->ri->node->kel, false);
    e = kd_cesr_split_all(j->body, j->len, NULL, kd_kp_msg, j, &cerr);
    kd_kel_set_delegation_requires_anchor(j->ri->node->kel, true);
    j->txn = NULL;
    if (j->failed)
        return KD_EINVAL;
    if (e != KD_OK && cerr.code == KD_OK)
        return e; /* store or memory failure */
    if (e != KD_OK)
        return kd_kp_fail(j, e == KD_ETOOLARGE ? 413 : 400, "Invalid message",
                          cerr.reason != NULL ? cerr.reason : "not a CESR stream");
    j->txn = txn;
    e = kd_kp_retry_queries(j);
    j->txn = NULL;
    return e;
}

/* /receipts: the answer for an event processed without a refusal. */
static void kd_kp_receipts_answer(struct kd_kp_job *j)
{
    const struct kd_kel_result *r = &j->res;
    const struct kd_signer *sg = &j->ri->signer;
    char sig[KD_SIG_QB64_LEN + 1], desc[KD_KP_DESC_MAX];
    struct kd_buf out;
    enum kd_err e;

    if (r->verdict == KD_KEL_ESCROWED) {
        kd_http_respond(j->req, 202, "application/json", "", 0);
        return;
    }
    if (r->verdict == KD_KEL_DUPLICITOUS) {
        kd_wit_keripy_error(j->req, 409, "Duplicitous event",
                            "another event is accepted at this sequence number");
        return;
    }
    if (r->own_index < 0) {
        char sn[KD_CESR_SN_HEX_MAX + 1];

        kd_cesr_sn_hex(r->sn, sn, sizeof(sn));
        snprintf(desc, sizeof(desc), "%s is not a valid witness for %s event at %s", sg->prefix,
                 r->prefix, sn);
        kd_wit_keripy_error(j->req, 400, "Not a witness", desc);
        return;
    }
    /* the event's received bytes: the first msg of the body, j->len minus the header text */
    kd_buf_init(&out, 4096);
    kd_signer_sign_qb64(sg, j->body, j->ev->size, sig);
    e = kd_kel_receipt_msg(&out, r->prefix, r->sn, r->said, sg->prefix, sig);
    if (e == KD_OK)
        kd_http_respond(j->req, 200, KD_KP_JSON_CESR, out.data, out.len);
    else
        kd_http_respond_error(j->req, e, NULL);
    kd_buf_free(&out);
}

static void kd_kp_done(enum kd_err result, void *arg)
{
    struct kd_kp_job *j = arg;

    if (j->failed) {
        kd_wit_keripy_error(j->req, j->status, j->title, j->desc);
    } else if (result != KD_OK) {
        kd_log_error("witness", "keripy write: %s", kd_err_message(result));
        kd_http_respond_error(j->req, result, NULL);
    } else {
        kd_wit_mbx_kick(j->ri);
        if (j->mode == KD_KP_RECEIPTS)
            kd_kp_receipts_answer(j);
        else if (j->escrowed_query)
            kd_wit_keripy_error(j->req, 202, "Query escrowed", j->desc);
        else
            kd_http_respond(j->req, 204, "application/json", "", 0);
    }
    free(j->rp.ev);
    free(j->ev);
    free(j);
}

/* Submits msg (len bytes, copied) as one write; answers on failure. */
static void kd_kp_submit(struct kd_http_req *req, struct kd_role_instance *ri, enum kd_kp_mode mode,
                         const unsigned char *msg, size_t len)
{
    struct kd_kp_job *j = calloc(1, sizeof(*j) + len);
    enum kd_err e;

    if (j == NULL || (j->ev = malloc(sizeof(*j->ev))) == NULL ||
        (j->rp.ev = malloc(sizeof(*j->rp.ev))) == NULL) {
        if (j != NULL)
            free(j->ev);
        free(j);
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return;
    }
    j->req = req;
    j->ri = ri;
    j->mode = mode;
    j->now_us = kd_clock_now_us();
    j->len = len;
    memcpy(j->body, msg, len);
    e = kd_store_submit(ri->node->store, kd_kp_write, kd_kp_done, j);
    if (e != KD_OK) {
        free(j->rp.ev);
        free(j->ev);
        free(j);
        kd_http_respond_error(req, e, NULL);
    }
}

/* Whether list (of ev) holds prefix. */
static bool kd_kp_lists(const struct kd_event *ev, const struct kd_qb64_list *list,
                        const char *prefix)
{
    for (unsigned i = 0; i < list->count; i++)
        if (kd_span_eq(ev, list->item[i], prefix))
            return true;
    return false;
}

/* POST / and POST /receipts: checks, framing, then the write (or the
 * mailbox stream). */
static void kd_kp_post(struct kd_http_req *req, struct kd_role_instance *ri, enum kd_kp_mode mode)
{
    struct kd_kp_peek pk;
    unsigned char *msg = NULL;
    size_t len = 0, body_len = 0;

    memset(&pk, 0, sizeof(pk));
    if (!kd_kp_cesr_request(req, &msg, &len, &body_len))
        return;
    pk.ev = malloc(sizeof(*pk.ev));
    if (pk.ev == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        goto out;
    }
    if (!kd_kp_frame_one(req, msg, len, body_len, &pk))
        goto out;
    if (mode == KD_KP_RECEIPTS && !kd_kp_is_key_event(pk.ev->ilk)) {
        char desc[128];

        snprintf(desc, sizeof(desc), "invalid event type (%s)for receipting",
                 kd_ilk_name(pk.ev->ilk));
        kd_wit_keripy_error(req, 400, "Invalid event", desc);
        goto out;
    }
    if (mode == KD_KP_RECEIPTS && (pk.ev->ilk == KD_ILK_ICP || pk.ev->ilk == KD_ILK_DIP) &&
        pk.ev->wits.count > 0 && !kd_kp_lists(pk.ev, &pk.ev->wits, ri->signer.prefix)) {
        /* an inception that does not name this witness: refused unprocessed */
        char desc[KD_KP_DESC_MAX];

        snprintf(desc, sizeof(desc), "%s is not a valid witness for %.*s event at 0",
                 ri->signer.prefix, (int)pk.ev->i.len, kd_span_ptr(pk.ev, pk.ev->i));
        kd_wit_keripy_error(req, 400, "Not a witness", desc);
        goto out;
    }
    if (mode == KD_KP_ROOT && pk.ev->ilk == KD_ILK_QRY && pk.ev->qry.route == KD_QRY_MBX) {
        kd_wit_mbx_sse(req, ri, msg, body_len, (const char *)msg + body_len, len - body_len);
        goto out;
    }
    kd_kp_submit(req, ri, mode, msg, len);
out:
    free(pk.ev);
    free(msg);
}

void kd_wit_keripy_post(struct kd_http_req *req, void *ctx)
{
    kd_kp_post(req, ctx, KD_KP_ROOT);
}

void kd_wit_keripy_receipts_post(struct kd_http_req *req, void *ctx)
{
    kd_kp_post(req, ctx, KD_KP_RECEIPTS);
}

void kd_wit_keripy_put(struct kd_http_req *req, void *ctx)
{
    size_t len = 0;
    const unsigned char *body = kd_http_req_body(req, &len);

    if (!kd_wit_utf8_ok(body, len)) {
        kd_wit_keripy_error(req, 400, "Invalid message", "the stream is not CESR text");
        return;
    }
    if (len == 0) {
        kd_http_respond(req, 204, "application/json", "", 0);
        return;
    }
    if (len > KD_STORE_BLOB_MAX) {
        kd_wit_keripy_error(req, 413, "Payload too large", "stream too large");
        return;
    }
    kd_kp_submit(req, ctx, KD_KP_PUT, body, len);
}

/* ------------------------------------------------------------------------ */
/* GET /receipts, GET /query                                                 */
/* ------------------------------------------------------------------------ */

/* A decimal sn parameter: digits only, at most INT64_MAX. */
static bool kd_kp_decimal(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (uint64_t)(INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

void kd_wit_keripy_receipts_get(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    struct kd_store_rd *rd = kd_store_reader(ri->node->store);
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1], snp[32], hex[KD_CESR_SN_HEX_MAX + 1];
    char ctr[8];
    struct kd_store_event ev;
    struct kd_kel_state *st = NULL;
    struct kd_buf storage, out, wigs;
    struct kd_kp_sigs ws = {&wigs, 0};
    bool listed = false;
    uint64_t sn = 0;
    int hp, hs, hd;
    size_t n;
    enum kd_err e;

    kd_buf_init(&storage, 0);
    kd_buf_init(&out, KD_WIT_ANSWER_MAX);
    kd_buf_init(&wigs, KD_WIT_ANSWER_MAX);
    hp = kd_http_req_query_param(req, "pre", pre, sizeof(pre));
    hs = kd_http_req_query_param(req, "sn", snp, sizeof(snp));
    hd = kd_http_req_query_param(req, "said", said, sizeof(said));
    if (hp != 1 || !kd_wit_qb64_id(pre, strlen(pre))) {
        kd_wit_keripy_error(req, 400, "Bad request", "a valid pre is required");
        goto out;
    }
    if (hs < 0 || hd < 0 || (hs == 0 && hd == 0) || (hs == 1 && !kd_kp_decimal(snp, &sn)) ||
        (hd == 1 && !kd_wit_qb64_id(said, strlen(said)))) {
        kd_wit_keripy_error(req, 400, "Bad request",
                            "either sn (a decimal number) or said is required");
        goto out;
    }
    e = hs == 1 ? kd_store_event_at(rd, pre, sn, &ev, &storage)
                : kd_store_event_get(rd, said, &ev, &storage);
    if (e == KD_OK && (strcmp(ev.prefix, pre) != 0 || (hd == 1 && strcmp(ev.said, said) != 0)))
        e = KD_ENOTFOUND;
    if (e == KD_ENOTFOUND) {
        kd_wit_keripy_error(req, 404, "Not found", "no such event");
        goto out;
    }
    if (e != KD_OK || (e = kd_kel_state_at(rd, pre, ev.sn, &st)) != KD_OK) {
        kd_http_respond_error(req, e, NULL);
        goto out;
    }
    for (unsigned w = 0; w < st->nwits; w++)
        listed = listed || strcmp(kd_kel_str(st, st->wits[w]), ri->signer.prefix) == 0;
    if (!listed) {
        kd_wit_keripy_error(req, 400, "Not a witness",
                            "this witness is not a witness of that event");
        goto out;
    }
    if ((e = kd_store_sig_each(rd, ev.said, KD_STORE_SIG_WITNESS, kd_kp_sig_cb, &ws)) != KD_OK)
        goto fail;
    kd_cesr_sn_hex(ev.sn, hex, sizeof(hex));
    n = strlen("{\"v\":\"KERI10JSON000000_\",\"t\":\"rct\",\"d\":\"\",\"i\":\"\",\"s\":\"\"}") +
        strlen(ev.said) + strlen(ev.prefix) + strlen(hex);
    e = kd_buf_printf(&out,
                      "{\"v\":\"KERI10JSON%06zx_\",\"t\":\"rct\",\"d\":\"%s\",\"i\":\"%s\","
                      "\"s\":\"%s\"}",
                      n, ev.said, ev.prefix, hex);
    if (e == KD_OK && ws.count > 0) {
        e = kd_cesr_counter_encode(KD_CESR_CTR_WITNESS_IDX_SIGS, ws.count, ctr, sizeof(ctr), NULL);
        if (e == KD_OK)
            e = kd_buf_append_str(&out, ctr);
        if (e == KD_OK)
            e = kd_buf_append(&out, wigs.data, wigs.len);
    }
fail:
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_http_respond(req, 200, KD_KP_JSON_CESR, out.data, out.len);
out:
    kd_kel_state_free(st);
    kd_buf_free(&wigs);
    kd_buf_free(&out);
    kd_buf_free(&storage);
}

void kd_wit_keripy_query_get(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    struct kd_store_rd *rd = kd_store_reader(ri->node->store);
    char typ[8], pre[KD_KEL_ID_MAX + 1], reg[KD_KEL_ID_MAX + 1], vc[KD_KEL_ID_MAX + 1], snp[32];
    struct kd_buf out;
    uint64_t fn = 0;
    int ht, hs;
    enum kd_err e;

    kd_buf_init(&out, KD_WIT_ANSWER_MAX);
    ht = kd_http_req_query_param(req, "typ", typ, sizeof(typ));
    if (ht == 1 && strcmp(typ, "kel") == 0) {
        if (kd_http_req_query_param(req, "pre", pre, sizeof(pre)) != 1 ||
            !kd_wit_qb64_id(pre, strlen(pre))) {
            kd_wit_keripy_error(req, 400, "Bad request", "a valid pre is required");
            goto out;
        }
        hs = kd_http_req_query_param(req, "sn", snp, sizeof(snp));
        if (hs < 0 || (hs == 1 && !kd_kp_decimal(snp, &fn))) {
            kd_wit_keripy_error(req, 400, "Bad request", "sn must be a decimal number");
            goto out;
        }
        e = kd_wit_clone_kel(rd, pre, fn, &out);
    } else if (ht == 1 && strcmp(typ, "tel") == 0) {
        const int hr = kd_http_req_query_param(req, "reg", reg, sizeof(reg));
        const int hv = kd_http_req_query_param(req, "vcid", vc, sizeof(vc));

        if (hr < 0 || hv < 0 || (hr == 0 && hv == 0) ||
            (hr == 1 && !kd_wit_qb64_id(reg, strlen(reg))) ||
            (hv == 1 && !kd_wit_qb64_id(vc, strlen(vc)))) {
            kd_wit_keripy_error(req, 400, "Bad request", "a valid reg or vcid is required");
            goto out;
        }
        e = kd_wit_tel_replay(rd, hr == 1 ? reg : NULL, hv == 1 ? vc : NULL, &out);
    } else {
        kd_wit_keripy_error(req, 400, "Bad request", "typ must be kel or tel");
        goto out;
    }
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else if (out.len == 0)
        kd_wit_keripy_error(req, 404, "Not found", "nothing stored for that identifier");
    else
        kd_http_respond(req, 200, KD_KP_JSON_CESR, out.data, out.len);
out:
    kd_buf_free(&out);
}
