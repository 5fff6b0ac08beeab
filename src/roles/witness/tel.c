/*
 * Transaction event logs on the witness (keriox-surface §1.1, §4.4):
 * POST /process/tel stores TEL events anchored in the issuer's KEL held
 * here (or escrows them until their registry, predecessor or anchor
 * arrives), POST /query/tel answers a signed `tels` query with the stored
 * TELs, kd_wit_tel_replay gives a TEL in keriox's stream form (each event's
 * JSON, then -GAB + the sn and SAID of the issuer's KEL event anchoring it),
 * and a sweep task retries and expires the TEL escrow.
 *
 * keriox panics (drops the connection) on every bad TEL body or query
 * signature (§7 #11); kerid answers a JSON error instead:
 * {"error":"<name>","message":"<why>","fault":"<fault>"[,"t","i","s","d"]}
 * with 400 (malformed or invalid), 409 (another event at that sn), 403
 * (query signature) or 503 (escrow full); nothing of such a body is stored.
 */
#include "witness_int.h"

#include <stdlib.h>
#include <string.h>

#include "kerid/cesr.h"
#include "kerid/cesr_stream.h"
#include "kerid/clock.h"
#include "kerid/event.h"
#include "kerid/log.h"
#include "kerid/node.h"
#include "kerid/tel.h"

/* Escrow rows one sweep write retries. */
#define KD_WIT_TEL_SWEEP_BUDGET 64u

/* ---- replay ---- */

/* Appends one stored TEL event and its -GAB source seal. */
static enum kd_err kd_wit_tel_append(const struct kd_store_tel_event *ev, void *arg)
{
    struct kd_buf *out = arg;
    char sn_qb64[KD_CESR_SN_QB64_LEN + 1];
    enum kd_err e;

    if ((e = kd_cesr_sn_encode(ev->seal_sn, sn_qb64, sizeof(sn_qb64))) != KD_OK)
        return e;
    if ((e = kd_buf_append(out, ev->raw, ev->raw_len)) != KD_OK)
        return e;
    return kd_buf_printf(out, "-GAB%s%s", sn_qb64, ev->seal_d);
}

enum kd_err kd_wit_tel_replay(struct kd_store_rd *rd, const char *reg, const char *vc,
                              struct kd_buf *out)
{
    enum kd_err e = KD_OK;

    if (rd == NULL || out == NULL)
        return KD_EINVAL;
    if (reg != NULL && (e = kd_store_tel_each(rd, reg, kd_wit_tel_append, out)) != KD_OK)
        return e;
    if (vc != NULL)
        e = kd_store_tel_each(rd, vc, kd_wit_tel_append, out);
    return e;
}

/* ---- errors ---- */

/* Answers with the JSON error body described at the top of this file. r
 * (may be NULL) adds the event's type, identifier, sn and SAID. */
static void kd_wit_tel_error(struct kd_http_req *req, enum kd_err err, const char *fault,
                             const char *why, const struct kd_tel_result *r)
{
    struct kd_buf b;
    char snh[KD_CESR_SN_HEX_MAX + 1];
    enum kd_err e;

    kd_buf_init(&b, 64 * 1024);
    e = kd_buf_printf(&b, "{\"error\":\"%s\",\"message\":\"", kd_err_name(err));
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, why, strlen(why));
    if (e == KD_OK)
        e = kd_buf_printf(&b, "\",\"fault\":\"%s\"", fault);
    if (e == KD_OK && r != NULL && r->ilk != KD_TEL_ILK_COUNT_) {
        kd_cesr_sn_hex(r->sn, snh, sizeof(snh));
        e = kd_buf_printf(&b, ",\"t\":\"%s\",\"i\":\"%s\",\"s\":\"%s\",\"d\":\"%s\"",
                          kd_tel_ilk_name(r->ilk), r->id, snh, r->said);
    }
    if (e == KD_OK && r != NULL && r->fault == KD_TEL_F_BODY && r->diag.field != NULL)
        e = kd_buf_printf(&b, ",\"field\":\"%s\"", r->diag.field);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "}");
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_http_respond(req, kd_err_status(err), "application/json", b.data, b.len);
    kd_buf_free(&b);
}

/* ---- POST /process/tel ---- */

struct kd_wit_tel_job {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    struct kd_tel_opts opts;
    int64_t now_us;
    size_t len;
    struct kd_tel_body_result res;
    unsigned char body[]; /* the request body, copied */
};

/* The TEL options from the role's escrow_config (0 = default_timeout, then
 * the built-in default). */
static void kd_wit_tel_opts(const struct kd_role_instance *ri, struct kd_tel_opts *o)
{
    const struct kd_escrow_config *ec = &ri->cfg->escrow;

    memset(o, 0, sizeof(*o));
    o->out_of_order_timeout =
        ec->out_of_order_timeout != 0 ? ec->out_of_order_timeout : ec->default_timeout;
    o->anchor_timeout = ec->default_timeout;
}

static enum kd_err kd_wit_tel_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_wit_tel_job *j = arg;

    return kd_tel_process_body(txn, j->body, j->len, &j->opts, j->now_us, &j->res);
}

static void kd_wit_tel_done(enum kd_err result, void *arg)
{
    struct kd_wit_tel_job *j = arg;
    const struct kd_tel_body_result *r = &j->res;

    if (r->rejected) {
        const struct kd_tel_result *x = &r->first_reject;

        kd_wit_tel_error(j->req, x->err, kd_tel_fault_name(x->fault), x->why, x);
    } else if (r->cesr.code != KD_OK) {
        kd_wit_tel_error(j->req, r->cesr.code, "CESR",
                         r->cesr.reason != NULL ? r->cesr.reason : "malformed CESR stream", NULL);
    } else if (result != KD_OK) {
        kd_log_error("witness", "/process/tel: %s", kd_err_message(result));
        kd_http_respond_error(j->req, result, NULL);
    } else {
        if (r->verdicts[KD_TEL_ESCROWED] > 0 || r->released > 0)
            kd_log_info("witness", "/process/tel: %u accepted, %u escrowed, %u released",
                        r->verdicts[KD_TEL_ACCEPTED], r->verdicts[KD_TEL_ESCROWED], r->released);
        kd_http_respond(j->req, 200, NULL, "", 0); /* keriox: no Content-Type */
    }
    free(j);
}

void kd_wit_process_tel(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    size_t len = 0;
    const unsigned char *body = kd_http_req_body(req, &len);
    struct kd_wit_tel_job *j;
    enum kd_err e;

    if (!kd_wit_utf8_ok(body, len)) {
        kd_wit_respond_not_utf8(req);
        return;
    }
    if (len == 0) {
        kd_http_respond(req, 200, NULL, "", 0); /* nothing to do, as keriox */
        return;
    }
    if (len > KD_STORE_BLOB_MAX) {
        kd_http_respond_error(req, KD_ETOOLARGE, NULL);
        return;
    }
    j = calloc(1, sizeof(*j) + len);
    if (j == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return;
    }
    j->req = req;
    j->ri = ri;
    j->len = len;
    j->now_us = kd_clock_now_us();
    kd_wit_tel_opts(ri, &j->opts);
    memcpy(j->body, body, len);
    e = kd_store_submit(ri->node->store, kd_wit_tel_write, kd_wit_tel_done, j);
    if (e != KD_OK) {
        free(j);
        kd_http_respond_error(req, e, NULL);
    }
}

/* ---- POST /query/tel ---- */

struct kd_wit_tel_qctx {
    struct kd_http_req *req;
    struct kd_store_rd *rd;
    struct kd_event *ev;
    struct kd_buf out;
    bool answered; /* an error was sent */
};

static enum kd_err kd_wit_tel_qfail(struct kd_wit_tel_qctx *c, enum kd_err err, const char *fault,
                                    const char *why)
{
    kd_wit_tel_error(c->req, err, fault, why, NULL);
    c->answered = true;
    return KD_EINVAL;
}

/* Copies a qb64 span of the query into out (KD_TEL_ID_MAX + 1 bytes). */
static bool kd_wit_tel_qid(const struct kd_event *ev, struct kd_span s, char *out)
{
    if (s.len == 0 || s.len > KD_TEL_ID_MAX)
        return false;
    memcpy(out, kd_span_ptr(ev, s), s.len);
    out[s.len] = '\0';
    for (size_t k = 0; k < s.len; k++) {
        const char ch = out[k];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

static enum kd_err kd_wit_tel_query_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_wit_tel_qctx *c = ctx;
    const struct kd_qry *q = &c->ev->qry;
    struct kd_event_diag diag;
    enum kd_wit_sig_verdict v = KD_WIT_SIG_INVALID;
    char signer[KD_KEL_ID_MAX + 1], reg[KD_TEL_ID_MAX + 1], vc[KD_TEL_ID_MAX + 1];
    enum kd_err e;

    memset(&diag, 0, sizeof(diag));
    if ((e = kd_event_parse(c->ev, msg->body, msg->body_len, &diag)) != KD_OK)
        return kd_wit_tel_qfail(c, e == KD_ENOMEM ? KD_ENOMEM : kd_event_fault_err(diag.fault),
                                kd_event_fault_name(diag.fault),
                                diag.why != NULL ? diag.why : "malformed message");
    if (c->ev->ilk != KD_ILK_QRY || q->route != KD_QRY_TELS)
        return kd_wit_tel_qfail(c, KD_EINVAL, "ROUTE", "expected a qry with route tels");
    if (!(q->has & (KD_Q_I | KD_Q_RI)))
        return kd_wit_tel_qfail(c, KD_EINVAL, "ARGS", "q needs i (credential) or ri (registry)");
    if (((q->has & KD_Q_I) && !kd_wit_tel_qid(c->ev, q->i, vc)) ||
        ((q->has & KD_Q_RI) && !kd_wit_tel_qid(c->ev, q->ri, reg)))
        return kd_wit_tel_qfail(c, KD_EINVAL, "ARGS", "q.i and q.ri must be qb64 identifiers");
    signer[0] = '\0';
    if ((e = kd_wit_query_sig_check(c->rd, &msg->att, msg->body, msg->body_len, &v, signer)) !=
        KD_OK)
        return e;
    switch (v) {
    case KD_WIT_SIG_OK:
        break;
    case KD_WIT_SIG_MISSING:
        return kd_wit_tel_qfail(c, KD_EBADSIG, "SIGNATURE",
                                "the query needs a -H or -C signature group");
    case KD_WIT_SIG_UNKNOWN:
        return kd_wit_tel_qfail(c, KD_EBADSIG, "SIGNER", "the signer's KEL is not known here");
    case KD_WIT_SIG_INVALID:
    default:
        return kd_wit_tel_qfail(c, KD_EBADSIG, "SIGNATURE", "the query signature does not verify");
    }
    return kd_wit_tel_replay(c->rd, (q->has & KD_Q_RI) ? reg : NULL, (q->has & KD_Q_I) ? vc : NULL,
                             &c->out);
}

void kd_wit_query_tel(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    struct kd_wit_tel_qctx c;
    struct kd_cesr_error cerr;
    size_t len = 0;
    const unsigned char *body = kd_http_req_body(req, &len);
    enum kd_err e;

    if (!kd_wit_utf8_ok(body, len)) {
        kd_wit_respond_not_utf8(req);
        return;
    }
    memset(&c, 0, sizeof(c));
    memset(&cerr, 0, sizeof(cerr));
    c.req = req;
    c.rd = kd_store_reader(ri->node->store);
    kd_buf_init(&c.out, KD_WIT_ANSWER_MAX);
    if (len == 0) {
        kd_wit_tel_qfail(&c, KD_EINVAL, "EMPTY", "empty query");
        goto out;
    }
    c.ev = malloc(sizeof(*c.ev));
    if (c.ev == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        goto out;
    }
    e = kd_cesr_split_all(body, len, NULL, kd_wit_tel_query_msg, &c, &cerr);
    if (c.answered)
        goto out;
    if (e != KD_OK && cerr.code != KD_OK) {
        kd_wit_tel_qfail(&c, cerr.code, "CESR",
                         cerr.reason != NULL ? cerr.reason : "malformed CESR stream");
        goto out;
    }
    if (e != KD_OK) {
        kd_http_respond_error(req, e, NULL); /* store or memory failure */
        goto out;
    }
    kd_wit_respond_text(req, c.out.data, c.out.len);
out:
    free(c.ev);
    kd_buf_free(&c.out);
}

/* ---- the TEL escrow sweep ---- */

struct kd_wit_tel_sweep_job {
    struct kd_role_instance *ri;
    struct kd_tel_opts opts;
    int64_t now_us;
    int64_t cursor;
    bool more;
    struct kd_tel_sweep_result res;
};

static enum kd_err kd_wit_tel_sweep_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_wit_tel_sweep_job *j = arg;

    return kd_tel_sweep(txn, &j->opts, j->now_us, KD_WIT_TEL_SWEEP_BUDGET, &j->cursor, &j->more,
                        &j->res);
}

static void kd_wit_tel_sweep_done(enum kd_err result, void *arg)
{
    struct kd_wit_tel_sweep_job *j = arg;
    struct kd_witness *w = j->ri->state;

    if (result != KD_OK) {
        kd_log_warn("witness", "TEL escrow sweep: %s", kd_err_message(result));
    } else {
        w->tel_sweep_cursor = j->cursor;
        w->tel_sweep_more = j->more;
        if (j->res.released > 0 || j->res.expired > 0 || j->res.dropped > 0)
            kd_log_info("witness", "TEL escrow: %u released, %llu expired, %u dropped",
                        j->res.released, (unsigned long long)j->res.expired, j->res.dropped);
    }
    w->tel_sweep_busy = false;
    free(j);
}

/* Loop thread: queues one sweep write unless one is in flight. */
static enum kd_sweep_result kd_wit_tel_sweep_tick(void *ctx, uint64_t now_ms, uint64_t budget_ms)
{
    struct kd_role_instance *ri = ctx;
    struct kd_witness *w = ri->state;
    struct kd_wit_tel_sweep_job *j;
    uint64_t rows = 0;

    (void)now_ms;
    (void)budget_ms;
    if (w == NULL || w->tel_sweep_busy)
        return KD_SWEEP_DONE;
    /* an empty escrow costs one indexed count on the reader, not a commit */
    if (kd_store_tel_escrow_count(kd_store_reader(ri->node->store), NULL, &rows) != KD_OK ||
        rows == 0)
        return KD_SWEEP_DONE;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return KD_SWEEP_DONE;
    j->ri = ri;
    j->now_us = kd_clock_now_us();
    j->cursor = w->tel_sweep_cursor;
    kd_wit_tel_opts(ri, &j->opts);
    if (kd_store_submit(ri->node->store, kd_wit_tel_sweep_write, kd_wit_tel_sweep_done, j) !=
        KD_OK) {
        free(j);
        return KD_SWEEP_DONE;
    }
    w->tel_sweep_busy = true;
    return w->tel_sweep_more ? KD_SWEEP_MORE : KD_SWEEP_DONE;
}

const struct kd_sweep_task kd_wit_tel_sweeps[] = {
    {"tel_escrow", KD_WIT_TEL_SWEEP_INTERVAL_MS, kd_wit_tel_sweep_tick},
    {NULL, 0, NULL},
};
