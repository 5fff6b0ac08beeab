/*
 * POST /register (keriox-surface §1.1, §3.3, §3.5): signed rpy messages
 * /loc/scheme (signed by eid) and /end/role/add|cut (signed by cid). Each is
 * verified over its received bytes (SAID by kd_event_parse; a -C couple of
 * a non-transferable signer, or a -F group resolved against the signer's
 * establishment event held here) and checked for staleness (BADA: an older
 * dt than the stored one for the same key is refused), then stored with its
 * original bytes and attachments, all inside one store write. The answer is
 * sent from the done callback, after COMMIT. A cut really revokes the role
 * (keriox-surface §7 row 8). A key-state notice (/ksn/<signer>, signed by
 * that signer) is kept likewise, the newest per (identifier, signer). The check of one reply,
 * kd_wit_reply_process, serves the keripy POST / too (keripy.c).
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
#include "kerid/tholder.h"

#define KD_WIT_REG_ERR_MAX KD_WIT_REPLY_ERR_MAX

struct kd_wit_reg {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    struct kd_wit_reply rp;
    unsigned nmsgs;
    size_t len;
    unsigned char body[]; /* the request body, copied */
};

/* Records a fixed JSON error answer; stops the split. */
static enum kd_err kd_wit_reg_fail(struct kd_wit_reply *j, const char *body)
{
    return kd_wit_err_record(j->err, sizeof(j->err), &j->err_len, &j->failed, body);
}

/* {"<outer>":{"<inner>":"<text>"}} with text JSON-escaped; stops the split. */
static enum kd_err kd_wit_reg_fail2(struct kd_wit_reply *j, const char *outer, const char *inner,
                                    const char *text)
{
    return kd_wit_err_record2(j->err, sizeof(j->err), &j->err_len, &j->failed, outer, inner, text);
}

static enum kd_err kd_wit_reg_badsig(struct kd_wit_reply *j)
{
    j->badsig = true;
    return kd_wit_reg_fail(j, "{\"KeriError\":{\"VerificationError\":\"VerificationFailure\"}}");
}

static enum kd_err kd_wit_reg_mismatch(struct kd_wit_reply *j)
{
    return kd_wit_reg_fail2(j, "KeriError", "SemanticError", "signer ID mismatch");
}

/* Copies span s of the event into out (cap bytes) as a C string; false if it does not fit. */
static bool kd_wit_reg_str(const struct kd_event *ev, struct kd_span s, char *out, size_t cap)
{
    if (s.len == 0 || s.len >= cap)
        return false;
    memcpy(out, kd_span_ptr(ev, s), s.len);
    out[s.len] = '\0';
    return true;
}

/* Verifies a -F group's signatures over body against the signer's
 * establishment event at the group's sn (its SAID must match). */
static enum kd_err kd_wit_reg_verify_trans(struct kd_wit_reply *j, const struct kd_cesr_msg *msg,
                                           struct kd_cesr_trans_group *tg, const char *pre)
{
    struct kd_store_rd *rd = kd_store_txn_reader(j->txn);
    struct kd_kel_state *st = NULL;
    bool ok = false;
    char said[KD_KEL_ID_MAX + 1], sn[40];
    enum kd_err e;

    if (kd_cesr_qb64_encode(tg->said.code, tg->said.raw, tg->said.raw_len, said, sizeof(said),
                            NULL) != KD_OK)
        return kd_wit_reg_badsig(j);
    e = kd_kel_state_at(rd, pre, tg->sn, &st);
    if (e == KD_ENOTFOUND ||
        (e == KD_OK && (st->ee_sn != tg->sn || strcmp(st->ee_said, said) != 0))) {
        char body[KD_WIT_REG_ERR_MAX];

        kd_cesr_sn_hex(tg->sn, sn, sizeof(sn));
        snprintf(body, sizeof(body),
                 "{\"KeriError\":{\"VerificationError\":{\"MoreInfo\":{\"EventNotFound\":"
                 "{\"i\":\"%s\",\"s\":\"%s\",\"d\":\"%s\"}}}}}",
                 pre, sn, said);
        e = kd_wit_reg_fail(j, body);
        goto out;
    }
    if (e != KD_OK)
        goto out;
    e = kd_kel_state_verify_sigs(st, &tg->sigs, msg->body, msg->body_len, &ok);
    if (e == KD_OK && !ok)
        e = kd_wit_reg_badsig(j);
out:
    kd_kel_state_free(st);
    return e;
}

/* Verifies msg's signature group: it must be signer's (expected). */
static enum kd_err kd_wit_reg_verify(struct kd_wit_reply *j, const struct kd_cesr_msg *msg,
                                     const char *expected)
{
    const struct kd_cesr_attachments *att = &msg->att;
    enum kd_cesr_ctr code = KD_CESR_CTR_COUNT_;
    char pre[KD_KEL_ID_MAX + 1];
    struct kd_cesr_iter it;

    for (unsigned g = 0; g < att->ngroups && code == KD_CESR_CTR_COUNT_; g++) {
        if (att->groups[g].code == KD_CESR_CTR_TRANS_IDX_SIG_GROUPS ||
            att->groups[g].code == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES)
            code = att->groups[g].code;
    }
    if (code == KD_CESR_CTR_COUNT_)
        return kd_wit_reg_fail2(j, "ParseError", "AttachmentError", "Missing attachment");
    kd_cesr_iter_init(&it, att, code);
    if (code == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES) {
        struct kd_cesr_couple cp;

        if (kd_cesr_next_couple(&it, &cp) != KD_OK ||
            kd_cesr_qb64_encode(cp.prefix.code, cp.prefix.raw, cp.prefix.raw_len, pre, sizeof(pre),
                                NULL) != KD_OK)
            return kd_wit_reg_badsig(j);
        if (strcmp(pre, expected) != 0)
            return kd_wit_reg_mismatch(j);
        if (!kd_code_is_nontrans(cp.prefix.code) || cp.sig.code != KD_CESR_ED25519_SIG ||
            kd_ed25519_verify(cp.prefix.raw, msg->body, msg->body_len, cp.sig.raw) != KD_OK)
            return kd_wit_reg_badsig(j);
        return KD_OK;
    }
    {
        struct kd_cesr_trans_group tg;

        if (kd_cesr_next_trans_group(&it, &tg) != KD_OK ||
            kd_cesr_qb64_encode(tg.prefix.code, tg.prefix.raw, tg.prefix.raw_len, pre, sizeof(pre),
                                NULL) != KD_OK)
            return kd_wit_reg_badsig(j);
        if (strcmp(pre, expected) != 0)
            return kd_wit_reg_mismatch(j);
        return kd_wit_reg_verify_trans(j, msg, &tg, pre);
    }
}

enum kd_err kd_wit_reply_process(struct kd_wit_reply *j, const struct kd_cesr_msg *msg)
{
    static const char *const roles[] = {"controller", "witness", "watcher", "messagebox"};
    struct kd_event *ev = j->ev;
    const struct kd_rpy *r = &ev->rpy;
    struct kd_store_rd *rd = kd_store_txn_reader(j->txn);
    struct kd_event_diag diag;
    char a[KD_KEL_ID_MAX + 1], b[KD_STORE_TOPIC_MAX + 1], c[KD_KEL_ID_MAX + 1];
    int64_t dt = 0, old = 0;
    bool known = false;
    enum kd_err e;

    memset(&diag, 0, sizeof(diag));
    if (kd_event_parse(ev, msg->body, msg->body_len, &diag) != KD_OK)
        return kd_wit_reg_fail2(j, "ParseError", "DeserializeError",
                                diag.why != NULL ? diag.why : "malformed message");
    if (ev->ilk != KD_ILK_RPY)
        return kd_wit_reg_fail2(j, "ParseError", "WrongEventType",
                                "Cannot convert SignedEventData to SignedReply");
    if (r->route != KD_RPY_LOC_SCHEME && r->route != KD_RPY_END_ROLE_ADD &&
        r->route != KD_RPY_END_ROLE_CUT && r->route != KD_RPY_KSN)
        return kd_wit_reg_fail2(j, "KeriError", "SemanticError", "unsupported reply route");
    if (kd_clock_parse_dt(kd_span_ptr(ev, ev->dt), ev->dt.len, &dt) != 0)
        return kd_wit_reg_fail2(j, "ParseError", "DeserializeError", "invalid dt");
    if (r->route == KD_RPY_KSN) {
        /* a = the identifier the notice is about, c = its signer (/ksn/<signer>) */
        if (!kd_wit_reg_str(ev, r->ksn.i, a, sizeof(a)) ||
            !kd_wit_reg_str(ev, r->route_pre, c, sizeof(c)) || r->ksn.sn > (kd_sn_t)INT64_MAX)
            return kd_wit_reg_fail2(j, "ParseError", "DeserializeError",
                                    "invalid key state notice");
        if ((e = kd_wit_reg_verify(j, msg, c)) != KD_OK)
            return e;
        e = kd_store_ksn_dt(rd, a, c, &old);
        if (e == KD_OK && dt < old)
            return kd_wit_reg_fail2(j, "KeriError", "SemanticError", "Got stale reply message");
        if (e != KD_OK && e != KD_ENOTFOUND)
            return e;
        return kd_store_ksn_put(j->txn, a, c, (uint64_t)r->ksn.sn, dt, msg->body, msg->body_len,
                                msg->att.text, msg->att.len);
    }
    if (r->route == KD_RPY_LOC_SCHEME) {
        /* a = eid, b = scheme */
        if (!kd_wit_reg_str(ev, r->eid, a, sizeof(a)) ||
            !kd_wit_reg_str(ev, r->scheme, b, sizeof(b)))
            return kd_wit_reg_fail2(j, "ParseError", "DeserializeError", "invalid eid or scheme");
        if ((e = kd_wit_reg_verify(j, msg, a)) != KD_OK)
            return e;
        e = kd_store_loc_dt(rd, a, b, &old);
        if (e == KD_OK && dt < old)
            return kd_wit_reg_fail2(j, "KeriError", "SemanticError", "Got stale reply message");
        if (e != KD_OK && e != KD_ENOTFOUND)
            return e;
        return kd_store_loc_put(j->txn, a, b, dt, msg->body, msg->body_len, msg->att.text,
                                msg->att.len);
    }
    /* a = cid, b = role, c = eid */
    if (!kd_wit_reg_str(ev, r->cid, a, sizeof(a)) || !kd_wit_reg_str(ev, r->role, b, sizeof(b)) ||
        !kd_wit_reg_str(ev, r->eid, c, sizeof(c)))
        return kd_wit_reg_fail2(j, "ParseError", "DeserializeError", "invalid cid, role or eid");
    for (unsigned i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        known = known || strcmp(b, roles[i]) == 0;
    if (!known)
        return kd_wit_reg_fail2(j, "ParseError", "DeserializeError",
                                "unknown variant, expected one of `controller`, `witness`, "
                                "`watcher`, `messagebox`");
    if ((e = kd_wit_reg_verify(j, msg, a)) != KD_OK)
        return e;
    e = kd_store_end_role_dt(rd, a, b, c, &old, NULL);
    if (e == KD_OK && dt < old)
        return kd_wit_reg_fail2(j, "KeriError", "SemanticError", "Got stale reply message");
    if (e != KD_OK && e != KD_ENOTFOUND)
        return e;
    return kd_store_end_role_put(j->txn, a, b, c, r->route == KD_RPY_END_ROLE_ADD, dt, msg->body,
                                 msg->body_len, msg->att.text, msg->att.len);
}

static enum kd_err kd_wit_reg_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_wit_reg *j = ctx;

    j->nmsgs++;
    return kd_wit_reply_process(&j->rp, msg);
}

/* Writer thread: every message verified and stored, in this write. A
 * refused message ends the body (what came before it stays stored, as in
 * keriox, which processes messages one by one). */
static enum kd_err kd_wit_reg_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_wit_reg *j = arg;
    struct kd_cesr_error cerr;
    enum kd_err e;

    memset(&cerr, 0, sizeof(cerr));
    j->rp.txn = txn;
    e = kd_cesr_split_all(j->body, j->len, NULL, kd_wit_reg_msg, j, &cerr);
    j->rp.txn = NULL;
    if (j->rp.failed)
        return KD_OK;
    if (e != KD_OK && cerr.code == KD_OK)
        return e; /* store or memory failure: roll back */
    if (e != KD_OK && cerr.offset < j->len && j->body[j->nmsgs == 0 ? 0 : cerr.offset] == '{')
        kd_wit_reg_fail2(&j->rp, "ParseError", "DeserializeError",
                         cerr.reason != NULL ? cerr.reason : "malformed message");
    return KD_OK;
}

static void kd_wit_reg_done(enum kd_err result, void *arg)
{
    struct kd_wit_reg *j = arg;

    kd_wit_answer_write(j->req, "/register", result, j->rp.failed, j->rp.err, j->rp.err_len);
    free(j->rp.ev);
    free(j);
}

void kd_wit_register(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    size_t len;
    const unsigned char *body;
    struct kd_wit_reg *j;
    enum kd_err e;

    if (!kd_wit_write_body(req, &body, &len))
        return;
    j = calloc(1, sizeof(*j) + len);
    if (j == NULL || (j->rp.ev = malloc(sizeof(*j->rp.ev))) == NULL) {
        free(j);
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return;
    }
    j->req = req;
    j->ri = ri;
    j->len = len;
    memcpy(j->body, body, len);
    e = kd_store_submit(ri->node->store, kd_wit_reg_write, kd_wit_reg_done, j);
    if (e != KD_OK) {
        free(j->rp.ev);
        free(j);
        kd_http_respond_error(req, e, NULL);
    }
}
