/*
 * POST /query (keriox-surface §4): mbx, logs and ksn queries signed -HAB
 * (transferable, verified against the signer's current keys here) or -CAB
 * (non-transferable). Everything is read through the loop's read-only
 * connection, which never waits for the writer.
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
#include "kerid/node.h"
#include "kerid/tholder.h"

/* Largest range a logs query walks (s + l), beyond the AID's last sn anyway. */
#define KD_WIT_LOGS_SPAN_MAX 100000u

struct kd_wit_qctx {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    struct kd_store_rd *rd;
    struct kd_event *ev;
    struct kd_buf out;
    bool answered;  /* an error was sent */
    unsigned nmsgs; /* messages seen */
};

/* Sends a fixed JSON error and marks the query answered. */
static enum kd_err kd_wit_qfail(struct kd_wit_qctx *c, int status, const char *body)
{
    kd_wit_respond_json(c->req, status, body, strlen(body));
    c->answered = true;
    return KD_EINVAL;
}

/* {"<outer>":{"<inner>":"text"}} with status 500, marks answered. */
static enum kd_err kd_wit_qfail2(struct kd_wit_qctx *c, const char *outer, const char *inner,
                                 const char *text)
{
    kd_wit_respond_err2(c->req, 500, outer, inner, text, strlen(text));
    c->answered = true;
    return KD_EINVAL;
}

static enum kd_err kd_wit_unknown_id(struct kd_wit_qctx *c, const char *aid)
{
    char body[256];

    snprintf(body, sizeof(body),
             "{\"QueryError\":{\"QueryError\":{\"UnknownId\":{\"id\":\"%s\"}}}}", aid);
    return kd_wit_qfail(c, 500, body);
}

enum kd_err kd_wit_query_sig_check(struct kd_store_rd *rd, const struct kd_cesr_attachments *att,
                                   const unsigned char *body, size_t len,
                                   enum kd_wit_sig_verdict *verdict, char *signer)
{
    enum kd_cesr_ctr code = KD_CESR_CTR_COUNT_;
    struct kd_cesr_iter it;
    struct kd_cesr_trans_group tg;
    struct kd_kel_state *st = NULL;
    size_t plen = 0;
    bool ok = false;
    enum kd_err e;

    *verdict = KD_WIT_SIG_INVALID;
    signer[0] = '\0';
    for (unsigned g = 0; g < att->ngroups; g++) {
        if (att->groups[g].code == KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS ||
            att->groups[g].code == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES)
            code = att->groups[g].code;
    }
    if (code == KD_CESR_CTR_COUNT_) {
        *verdict = KD_WIT_SIG_MISSING;
        return KD_OK;
    }
    kd_cesr_iter_init(&it, att, code);
    if (code == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES) {
        struct kd_cesr_couple cp;

        if (kd_cesr_next_couple(&it, &cp) != KD_OK || cp.prefix.code != KD_CESR_ED25519N ||
            cp.sig.code != KD_CESR_ED25519_SIG)
            return KD_OK;
        (void)kd_cesr_qb64_encode(cp.prefix.code, cp.prefix.raw, cp.prefix.raw_len, signer,
                                  KD_KEL_ID_MAX + 1, &plen);
        if (kd_ed25519_verify(cp.prefix.raw, body, len, cp.sig.raw) == KD_OK)
            *verdict = KD_WIT_SIG_OK;
        return KD_OK;
    }
    if (kd_cesr_next_trans_group(&it, &tg) != KD_OK ||
        kd_cesr_qb64_encode(tg.prefix.code, tg.prefix.raw, tg.prefix.raw_len, signer,
                            KD_KEL_ID_MAX + 1, &plen) != KD_OK) {
        signer[0] = '\0';
        return KD_OK;
    }
    e = kd_kel_state_load(rd, signer, &st);
    if (e == KD_ENOTFOUND) {
        *verdict = KD_WIT_SIG_UNKNOWN;
        return KD_OK;
    }
    if (e != KD_OK)
        return e;
    e = kd_kel_state_verify_sigs(st, &tg.sigs, body, len, &ok);
    if (e == KD_OK && ok)
        *verdict = KD_WIT_SIG_OK;
    kd_kel_state_free(st);
    return e;
}

/* Verifies the query's signature group with keriox's error bodies. */
static enum kd_err kd_wit_query_verify(struct kd_wit_qctx *c, const struct kd_cesr_msg *msg)
{
    static const char invalid[] = "{\"QueryError\":\"InvalidSignature\"}";
    enum kd_wit_sig_verdict v;
    char pre[KD_KEL_ID_MAX + 1];
    enum kd_err e;

    e = kd_wit_query_sig_check(c->rd, &msg->att, msg->body, msg->body_len, &v, pre);
    if (e != KD_OK)
        return e;
    switch (v) {
    case KD_WIT_SIG_OK:
        return KD_OK;
    case KD_WIT_SIG_MISSING:
        return kd_wit_qfail2(c, "ParseError", "AttachmentError", "Missing attachment");
    case KD_WIT_SIG_UNKNOWN: {
        char unk[256];

        snprintf(unk, sizeof(unk), "{\"QueryError\":{\"KeriError\":{\"UnknownSigner\":\"%s\"}}}",
                 pre);
        return kd_wit_qfail(c, 500, unk);
    }
    default:
        return kd_wit_qfail(c, 500, invalid);
    }
}

/* ---- mbx ---- */

static enum kd_err kd_wit_mbx_cb(uint64_t idx, const uint8_t *m, size_t n, void *arg)
{
    (void)idx;
    return kd_buf_append(arg, m, n);
}

static enum kd_err kd_wit_query_mbx(struct kd_wit_qctx *c, const char *aid)
{
    static const char *const topics[3] = {KD_WIT_TOPIC_RECEIPT, KD_WIT_TOPIC_MULTISIG,
                                          KD_WIT_TOPIC_DELEGATE};
    const struct kd_qry *q = &c->ev->qry;
    struct kd_buf list;
    enum kd_err e = KD_OK;

    kd_buf_init(&list, KD_WIT_ANSWER_MAX);
    e = kd_buf_append_str(&c->out, "{");
    for (unsigned t = 0; e == KD_OK && t < 3; t++) {
        uint64_t from = 0;
        char name[16];

        snprintf(name, sizeof(name), "/%s", topics[t]);
        for (unsigned k = 0; k < q->ntopics; k++) {
            if (kd_span_eq(c->ev, q->topics[k].name, name))
                from = q->topics[k].index > UINT64_MAX ? UINT64_MAX : (uint64_t)q->topics[k].index;
        }
        kd_buf_reset(&list);
        if ((e = kd_store_mbx_each(c->rd, aid, topics[t], from, 0, kd_wit_mbx_cb, &list)) != KD_OK)
            break;
        e = kd_buf_printf(&c->out, "%s\"%s\":\"", t > 0 ? "," : "", topics[t]);
        if (e == KD_OK)
            e = kd_buf_append_json_escaped(&c->out, (const char *)list.data, list.len);
        if (e == KD_OK)
            e = kd_buf_append_str(&c->out, "\"");
    }
    if (e == KD_OK)
        e = kd_buf_append_str(&c->out, "}");
    kd_buf_free(&list);
    return e;
}

/* ---- logs ---- */

static enum kd_err kd_wit_query_logs(struct kd_wit_qctx *c, const char *aid,
                                     const struct kd_kel_state *st)
{
    const struct kd_qry *q = &c->ev->qry;
    struct kd_store_event ev;
    struct kd_buf storage;
    size_t before = c->out.len;
    enum kd_err e = KD_OK;

    if (!(q->has & KD_Q_S)) {
        e = kd_wit_replay_kel(c->rd, aid, &c->out);
        return e;
    }
    kd_buf_init(&storage, 0);
    if (!(q->has & KD_Q_L)) {
        e = q->s > st->sn ? KD_ENOTFOUND
                          : kd_store_event_at(c->rd, aid, (uint64_t)q->s, &ev, &storage);
        if (e == KD_OK)
            e = kd_wit_replay_event(c->rd, &ev, false, &c->out);
    } else {
        kd_sn_t last = q->l == 0 ? q->s : q->s + q->l - 1;

        if (q->l != 0 && last < q->s)
            last = KD_SN_MAX; /* overflow */
        if (last > st->sn)
            last = st->sn;
        for (kd_sn_t sn = q->s; q->l != 0 && sn <= last && e == KD_OK; sn++) {
            if (sn - q->s > KD_WIT_LOGS_SPAN_MAX)
                break;
            e = kd_store_event_at(c->rd, aid, (uint64_t)sn, &ev, &storage);
            if (e == KD_ENOTFOUND) {
                e = KD_OK;
                continue;
            }
            if (e == KD_OK)
                e = kd_wit_replay_event(c->rd, &ev, true, &c->out);
        }
    }
    kd_buf_free(&storage);
    if (e == KD_ENOTFOUND || (e == KD_OK && c->out.len == before))
        return kd_wit_unknown_id(c, aid);
    return e;
}

/* ---- ksn ---- */

static enum kd_err kd_wit_query_ksn(struct kd_wit_qctx *c, const struct kd_kel_state *st)
{
    const struct kd_signer *sg = &c->ri->signer;
    char sig[KD_SIG_QB64_LEN + 1];
    struct kd_buf body;
    int64_t now = kd_clock_now_us();
    enum kd_err e;

    kd_buf_init(&body, 0);
    e = kd_kel_ksn_keriox(&body, st, sg->prefix, now, now);
    if (e == KD_OK) {
        kd_signer_sign_qb64(sg, body.data, body.len, sig);
        e = kd_buf_append(&c->out, body.data, body.len);
    }
    if (e == KD_OK)
        e = kd_wit_append_cab(&c->out, sg->prefix, sig);
    kd_buf_free(&body);
    return e;
}

static enum kd_err kd_wit_query_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_wit_qctx *c = ctx;
    struct kd_event_diag diag;
    struct kd_kel_state *st = NULL;
    char aid[KD_KEL_ID_MAX + 1];
    const struct kd_qry *q = &c->ev->qry;
    enum kd_err e;

    c->nmsgs++;
    memset(&diag, 0, sizeof(diag));
    if (kd_event_parse(c->ev, msg->body, msg->body_len, &diag) != KD_OK)
        return kd_wit_qfail2(c, "ParseError", "DeserializeError",
                             diag.why != NULL ? diag.why : "malformed message");
    if (c->ev->ilk != KD_ILK_QRY)
        return kd_wit_qfail2(c, "ParseError", "WrongEventType",
                             "Cannot convert SignedEventData to Query");
    if (q->route != KD_QRY_MBX && q->route != KD_QRY_LOGS && q->route != KD_QRY_KSN)
        return kd_wit_qfail2(c, "ParseError", "DeserializeError", "unknown query route");
    if (!(q->has & KD_Q_I) || q->i.len == 0 || q->i.len > KD_KEL_ID_MAX)
        return kd_wit_qfail2(c, "ParseError", "DeserializeError", "missing field `i`");
    memcpy(aid, kd_span_ptr(c->ev, q->i), q->i.len);
    aid[q->i.len] = '\0';
    for (size_t k = 0; k < q->i.len; k++) {
        const char ch = aid[k];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return kd_wit_qfail2(c, "ParseError", "DeserializeError", "invalid identifier `i`");
    }
    if ((e = kd_wit_query_verify(c, msg)) != KD_OK)
        return e;
    if (q->route == KD_QRY_MBX)
        return kd_wit_query_mbx(c, aid);
    e = kd_kel_state_load(c->rd, aid, &st);
    if (e == KD_ENOTFOUND)
        return kd_wit_unknown_id(c, aid);
    if (e != KD_OK)
        return e;
    e = q->route == KD_QRY_LOGS ? kd_wit_query_logs(c, aid, st) : kd_wit_query_ksn(c, st);
    kd_kel_state_free(st);
    return e;
}

void kd_wit_query(struct kd_http_req *req, void *ctx)
{
    struct kd_wit_qctx c;
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
    c.ri = ctx;
    c.rd = kd_store_reader(c.ri->node->store);
    kd_buf_init(&c.out, KD_WIT_ANSWER_MAX);
    c.ev = malloc(sizeof(*c.ev));
    if (c.ev == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        goto out;
    }
    e = kd_cesr_split_all(body, len, NULL, kd_wit_query_msg, &c, &cerr);
    if (c.answered)
        goto out;
    if (e != KD_OK && cerr.code == KD_OK) {
        kd_http_respond_error(req, e, NULL); /* store or memory failure */
        goto out;
    }
    if (e != KD_OK && cerr.offset < len && body[c.nmsgs == 0 ? 0 : cerr.offset] == '{') {
        kd_wit_qfail2(&c, "ParseError", "DeserializeError",
                      cerr.reason != NULL ? cerr.reason : "malformed message");
        goto out;
    }
    kd_wit_respond_text(req, c.out.data, c.out.len);
out:
    free(c.ev);
    kd_buf_free(&c.out);
}
