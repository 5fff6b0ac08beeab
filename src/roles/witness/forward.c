/*
 * POST /forward (keriox-surface §1.1): a keriox /fwd exn, its field list
 * v,t,d,dt,r,q,a with q = {"pre": <recipient>, "topic": "multisig" |
 * "delegate"} and a = an embedded key event. Attachments: the sender's
 * signature group (-H/-F transferable, verified against the sender's KEL
 * here; -C non-transferable) and one -L pathed group holding the embedded
 * event's -A signatures and optional -C receipts. The embedded event and
 * those attachments, in replay form (keriox-surface §3.6: -A## then -C##),
 * are appended to the recipient's mailbox topic in one store write; the
 * answer (200, empty) follows the commit. The embedded event's signatures
 * are carried, not verified (keriox forwards them as received; the
 * recipient verifies when it processes the event).
 *
 * The keripy form (keripy-surface §7.4, kd_wit_fwd_keripy, for the keripy
 * POST /): field list v,t,d,i,rp,p,dt,r,q,a,e with the embedded message in
 * e.evt and its attachments in the -L group whose path is -e-evt; any
 * message kind and any topic ("<pre>/<topic>", leading '/' dropped).
 *
 * Error bodies (500): a bad exn signature is {"KeriError":
 * "SignatureVerificationError"}; an unknown sender {"QueryError":
 * {"KeriError":{"UnknownSigner":"<aid>"}}}; malformed input {"ParseError":
 * {"DeserializeError"|"AttachmentError":"<why>"}}.
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr_stream.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"
#include "kerid/tholder.h"

#define KD_WIT_FWD_ERR_MAX 512u

struct kd_wit_fwd {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    struct kd_store_txn *txn; /* during the write only */
    struct kd_event *ev;      /* the exn */
    struct kd_event *inner;   /* the embedded event */
    struct kd_buf msg;        /* what goes to the mailbox */
    unsigned nmsgs;
    unsigned ninner;
    bool failed; /* err holds the answer */
    bool badsig; /* a signature did not verify */
    size_t err_len;
    char err[KD_WIT_FWD_ERR_MAX];
    size_t len;
    unsigned char body[]; /* the request body, copied */
};

/* Records a JSON error answer; stops the split. */
static enum kd_err kd_wit_fwd_fail(struct kd_wit_fwd *j, const char *body)
{
    return kd_wit_err_record(j->err, sizeof(j->err), &j->err_len, &j->failed, body);
}

/* {"ParseError":{"<inner>":"<text JSON-escaped>"}}; stops the split. */
static enum kd_err kd_wit_fwd_parse_fail(struct kd_wit_fwd *j, const char *inner, const char *text)
{
    return kd_wit_err_record2(j->err, sizeof(j->err), &j->err_len, &j->failed, "ParseError", inner,
                              text);
}

static enum kd_err kd_wit_fwd_badsig(struct kd_wit_fwd *j)
{
    j->badsig = true;
    return kd_wit_fwd_fail(j, "{\"KeriError\":\"SignatureVerificationError\"}");
}

/* Whether group g lies inside group outer's text. */
static bool kd_wit_fwd_inside(const struct kd_cesr_group *g, const struct kd_cesr_group *outer)
{
    return g->offset > outer->offset && g->offset < outer->offset + outer->len;
}

/* Verifies transferable signatures over the body against pre's keys (the
 * current ones, or with -F those of the establishment event sn/said). */
static enum kd_err kd_wit_fwd_verify_trans(struct kd_wit_fwd *j, const struct kd_cesr_msg *msg,
                                           struct kd_cesr_trans_group *tg, bool last)
{
    struct kd_store_rd *rd = kd_store_txn_reader(j->txn);
    struct kd_kel_state *st = NULL;
    bool ok = false;
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1];
    enum kd_err e;

    if (kd_cesr_qb64_encode(tg->prefix.code, tg->prefix.raw, tg->prefix.raw_len, pre, sizeof(pre),
                            NULL) != KD_OK)
        return kd_wit_fwd_badsig(j);
    e = last ? kd_kel_state_load(rd, pre, &st) : kd_kel_state_at(rd, pre, tg->sn, &st);
    if (e == KD_ENOTFOUND) {
        char body[KD_WIT_FWD_ERR_MAX];

        snprintf(body, sizeof(body), "{\"QueryError\":{\"KeriError\":{\"UnknownSigner\":\"%s\"}}}",
                 pre);
        return kd_wit_fwd_fail(j, body);
    }
    if (e != KD_OK)
        goto out;
    if (!last && (kd_cesr_qb64_encode(tg->said.code, tg->said.raw, tg->said.raw_len, said,
                                      sizeof(said), NULL) != KD_OK ||
                  st->ee_sn != tg->sn || strcmp(st->ee_said, said) != 0)) {
        e = kd_wit_fwd_badsig(j);
        goto out;
    }
    e = kd_kel_state_verify_sigs(st, &tg->sigs, msg->body, msg->body_len, &ok);
    if (e == KD_OK && !ok)
        e = kd_wit_fwd_badsig(j);
out:
    kd_kel_state_free(st);
    return e;
}

/* Verifies the exn's own signature group (the first -H, -F or -C outside
 * the -L group lg). */
static enum kd_err kd_wit_fwd_verify(struct kd_wit_fwd *j, const struct kd_cesr_msg *msg,
                                     const struct kd_cesr_group *lg)
{
    const struct kd_cesr_attachments *att = &msg->att;
    enum kd_cesr_ctr code = KD_CESR_CTR_COUNT_;
    struct kd_cesr_iter it;

    for (unsigned g = 0; g < att->ngroups && code == KD_CESR_CTR_COUNT_; g++) {
        const enum kd_cesr_ctr c = att->groups[g].code;

        if ((c == KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS || c == KD_CESR_CTR_TRANS_IDX_SIG_GROUPS ||
             c == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES) &&
            !kd_wit_fwd_inside(&att->groups[g], lg))
            code = c;
    }
    if (code == KD_CESR_CTR_COUNT_)
        return kd_wit_fwd_parse_fail(j, "AttachmentError", "Missing attachment");
    kd_cesr_iter_init(&it, att, code);
    if (code == KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES) {
        struct kd_cesr_couple cp;

        if (kd_cesr_next_couple(&it, &cp) != KD_OK || !kd_code_is_nontrans(cp.prefix.code) ||
            cp.sig.code != KD_CESR_ED25519_SIG ||
            kd_ed25519_verify(cp.prefix.raw, msg->body, msg->body_len, cp.sig.raw) != KD_OK)
            return kd_wit_fwd_badsig(j);
        return KD_OK;
    }
    {
        struct kd_cesr_trans_group tg;

        if (kd_cesr_next_trans_group(&it, &tg) != KD_OK)
            return kd_wit_fwd_badsig(j);
        return kd_wit_fwd_verify_trans(j, msg, &tg, code == KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS);
    }
}

/* The embedded event with the -L group's attachments, as one message:
 * checked, then written to j->msg in replay form (-A groups, then -C). */
static enum kd_err kd_wit_fwd_inner(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_wit_fwd *j = ctx;
    const struct kd_cesr_attachments *att = &msg->att;
    struct kd_event_diag diag;
    const struct kd_event *in = j->inner;
    bool sigs = false;
    enum kd_err e;

    if (++j->ninner > 1)
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "more than one forwarded event");
    memset(&diag, 0, sizeof(diag));
    if (kd_event_parse(j->inner, msg->body, msg->body_len, &diag) != KD_OK)
        return kd_wit_fwd_parse_fail(j, "DeserializeError",
                                     diag.why != NULL ? diag.why : "malformed forwarded event");
    if (in->ilk != KD_ILK_ICP && in->ilk != KD_ILK_ROT && in->ilk != KD_ILK_IXN &&
        in->ilk != KD_ILK_DIP && in->ilk != KD_ILK_DRT)
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "forwarded message is not a key event");
    for (unsigned g = 0; g < att->ngroups; g++) {
        if (att->groups[g].code == KD_CESR_CTR_CONTROLLER_IDX_SIGS)
            sigs = true;
        else if (att->groups[g].code != KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES)
            return kd_wit_fwd_parse_fail(j, "AttachmentError",
                                         "forwarded event attachments are not -A or -C groups");
    }
    if (!sigs)
        return kd_wit_fwd_parse_fail(j, "AttachmentError", "forwarded event has no signatures");
    e = kd_buf_append(&j->msg, msg->body, msg->body_len);
    for (unsigned pass = 0; pass < 2 && e == KD_OK; pass++) {
        const enum kd_cesr_ctr want =
            pass == 0 ? KD_CESR_CTR_CONTROLLER_IDX_SIGS : KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES;

        for (unsigned g = 0; g < att->ngroups && e == KD_OK; g++)
            if (att->groups[g].code == want)
                e = kd_buf_append(&j->msg, att->groups[g].text, att->groups[g].len);
    }
    return e;
}

/* One exn of the body: checked, verified, its event appended to the mailbox. */
static enum kd_err kd_wit_fwd_msg(void *ctx, const struct kd_cesr_msg *msg)
{
    struct kd_wit_fwd *j = ctx;
    const struct kd_event *ev = j->ev;
    const struct kd_cesr_attachments *att = &msg->att;
    const struct kd_cesr_group *lg = NULL;
    struct kd_event_diag diag;
    struct kd_cesr_error cerr;
    char pre[KD_KEL_ID_MAX + 1];
    const char *topic;
    unsigned char *joined = NULL;
    size_t jlen;
    enum kd_err e;

    j->nmsgs++;
    memset(&diag, 0, sizeof(diag));
    if (kd_event_parse(j->ev, msg->body, msg->body_len, &diag) != KD_OK)
        return kd_wit_fwd_parse_fail(j, "DeserializeError",
                                     diag.why != NULL ? diag.why : "malformed message");
    if (ev->ilk != KD_ILK_EXN || !kd_span_eq(ev, ev->r, "/fwd"))
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "not a /fwd exchange message");
    if (!ev->exn.has_pre || !kd_wit_qb64_id(kd_span_ptr(ev, ev->exn.pre), ev->exn.pre.len))
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "missing or invalid field `pre`");
    if (ev->exn.has_topic && kd_span_eq(ev, ev->exn.topic, KD_WIT_TOPIC_MULTISIG))
        topic = KD_WIT_TOPIC_MULTISIG;
    else if (ev->exn.has_topic && kd_span_eq(ev, ev->exn.topic, KD_WIT_TOPIC_DELEGATE))
        topic = KD_WIT_TOPIC_DELEGATE;
    else
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "unknown forward topic");
    if (ev->version.kind != KD_KIND_JSON || ev->a.len == 0 || kd_span_ptr(ev, ev->a)[0] != '{')
        return kd_wit_fwd_parse_fail(j, "DeserializeError", "field `a` is not an event");
    memcpy(pre, kd_span_ptr(ev, ev->exn.pre), ev->exn.pre.len);
    pre[ev->exn.pre.len] = '\0';
    for (unsigned g = 0; g < att->ngroups && lg == NULL; g++)
        if (att->groups[g].code == KD_CESR_CTR_PATHED_MATERIAL_GROUP ||
            att->groups[g].code == KD_CESR_CTR_BIG_PATHED_MATERIAL_GROUP)
            lg = &att->groups[g];
    if (lg == NULL)
        return kd_wit_fwd_parse_fail(j, "AttachmentError", "Missing attachment");
    if ((e = kd_wit_fwd_verify(j, msg, lg)) != KD_OK)
        return e;
    /* the embedded event followed by the pathed group's content, split as one message */
    jlen = (size_t)ev->a.len + lg->items_len;
    joined = malloc(jlen);
    if (joined == NULL)
        return KD_ENOMEM;
    memcpy(joined, kd_span_ptr(ev, ev->a), ev->a.len);
    memcpy(joined + ev->a.len, lg->items, lg->items_len);
    kd_buf_reset(&j->msg);
    j->ninner = 0;
    memset(&cerr, 0, sizeof(cerr));
    e = kd_cesr_split_all(joined, jlen, NULL, kd_wit_fwd_inner, j, &cerr);
    if (j->failed)
        goto out;
    if (e != KD_OK && cerr.code == KD_OK)
        goto out; /* memory */
    if (e != KD_OK) {
        e = kd_wit_fwd_parse_fail(j, "DeserializeError",
                                  cerr.reason != NULL ? cerr.reason : "malformed forwarded event");
        goto out;
    }
    if (j->ninner != 1) {
        e = kd_wit_fwd_parse_fail(j, "DeserializeError", "no forwarded event");
        goto out;
    }
    e = kd_store_mbx_append(j->txn, pre, topic, j->msg.data, j->msg.len, NULL);
out:
    free(joined);
    return e;
}

/* Writer thread: every exn verified and forwarded, in this write. */
static enum kd_err kd_wit_fwd_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_wit_fwd *j = arg;
    struct kd_cesr_error cerr;
    enum kd_err e;

    memset(&cerr, 0, sizeof(cerr));
    j->txn = txn;
    e = kd_cesr_split_all(j->body, j->len, NULL, kd_wit_fwd_msg, j, &cerr);
    j->txn = NULL;
    if (j->failed)
        return KD_OK;
    if (e != KD_OK && cerr.code == KD_OK)
        return e; /* store or memory failure: roll back */
    if (e != KD_OK)
        kd_wit_fwd_parse_fail(j, "DeserializeError",
                              cerr.reason != NULL ? cerr.reason : "malformed message");
    return KD_OK;
}

static void kd_wit_fwd_done(enum kd_err result, void *arg)
{
    struct kd_wit_fwd *j = arg;

    kd_wit_answer_write(j->req, "/forward", result, j->failed, j->err, j->err_len);
    if (result == KD_OK && !j->failed)
        kd_wit_mbx_kick(j->ri); /* open mailbox streams look for the new message now */
    kd_buf_free(&j->msg);
    free(j->inner);
    free(j->ev);
    free(j);
}

void kd_wit_forward(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    size_t len;
    const unsigned char *body;
    struct kd_wit_fwd *j;
    enum kd_err e;

    if (!kd_wit_write_body(req, &body, &len))
        return;
    j = calloc(1, sizeof(*j) + len);
    if (j == NULL || (j->ev = malloc(sizeof(*j->ev))) == NULL ||
        (j->inner = malloc(sizeof(*j->inner))) == NULL) {
        if (j != NULL)
            free(j->ev);
        free(j);
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return;
    }
    j->req = req;
    j->ri = ri;
    j->len = len;
    kd_buf_init(&j->msg, KD_STORE_BLOB_MAX);
    memcpy(j->body, body, len);
    e = kd_store_submit(ri->node->store, kd_wit_fwd_write, kd_wit_fwd_done, j);
    if (e != KD_OK) {
        free(j->inner);
        free(j->ev);
        free(j);
        kd_http_respond_error(req, e, NULL);
    }
}

/* ---- the keripy form (keripy-surface §7.4) ---- */

/* Records a falcon-style error in c; nothing is stored. */
static enum kd_err kd_wit_fwdk_fail(struct kd_wit_reply *c, const char *desc)
{
    struct kd_buf b;
    enum kd_err e;

    kd_buf_init(&b, sizeof(c->err) - 1);
    e = kd_buf_append_str(&b, "{\"title\":\"Forward error\",\"description\":\"");
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, desc, strlen(desc));
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\"}");
    c->failed = true;
    c->err_len = e == KD_OK ? b.len : 0;
    if (e == KD_OK)
        memcpy(c->err, b.data, b.len);
    c->err[c->err_len] = '\0';
    kd_buf_free(&b);
    return KD_EINVAL;
}

/* Whether the -L group's path primitive (a Bexter, `4A`..`6A` small or
 * `7AAA`..`9AAA` big) reads "-e-evt" once its leading 'A' padding is dropped. */
static bool kd_wit_fwdk_path_is_evt(const struct kd_cesr_group *g)
{
    static const char want[] = "-e-evt";
    const char *p = g->path;
    size_t n = g->path_len, skip;

    if (p == NULL || n < 4)
        return false;
    if (p[0] >= '4' && p[0] <= '6' && p[1] == 'A')
        skip = 4;
    else if (n >= 8 && p[0] >= '7' && p[0] <= '9' && memcmp(p + 1, "AAA", 3) == 0)
        skip = 8;
    else
        return false;
    p += skip;
    n -= skip;
    while (n > 0 && p[0] == 'A') {
        p++;
        n--;
    }
    return n == sizeof(want) - 1 && memcmp(p, want, n) == 0;
}

/* Counts the messages the embedded text frames into. */
static enum kd_err kd_wit_fwdk_count(void *ctx, const struct kd_cesr_msg *msg)
{
    unsigned *n = ctx;

    (void)msg;
    (*n)++;
    return KD_OK;
}

enum kd_err kd_wit_fwd_keripy(struct kd_wit_reply *c, const struct kd_cesr_msg *msg)
{
    const struct kd_event *ev = c->ev;
    const struct kd_cesr_attachments *att = &msg->att;
    const struct kd_cesr_group *lg = NULL, *first_l = NULL;
    struct kd_wit_fwd *v = NULL;
    struct kd_cesr_error cerr;
    char pre[KD_KEL_ID_MAX + 1], topic[KD_STORE_TOPIC_MAX + 1];
    const char *tp;
    size_t tlen, off = 0, elen = 0, jlen;
    unsigned char *joined = NULL;
    unsigned nmsgs = 0;
    enum kd_err e;

    if (kd_event_parse(c->ev, msg->body, msg->body_len, NULL) != KD_OK)
        return kd_wit_fwdk_fail(c, "malformed exchange message");
    if (ev->ilk != KD_ILK_EXN || ev->exn.form != KD_EXN_KERIPY || !kd_span_eq(ev, ev->r, "/fwd"))
        return kd_wit_fwdk_fail(c, "not a keripy /fwd exchange message");
    if (!ev->exn.has_pre || !kd_wit_qb64_id(kd_span_ptr(ev, ev->exn.pre), ev->exn.pre.len))
        return kd_wit_fwdk_fail(c, "missing or invalid q.pre");
    if (!ev->exn.has_topic)
        return kd_wit_fwdk_fail(c, "missing q.topic");
    tp = kd_span_ptr(ev, ev->exn.topic);
    tlen = ev->exn.topic.len;
    if (tlen > 0 && tp[0] == '/') {
        tp++;
        tlen--;
    }
    if (tlen == 0 || tlen > KD_STORE_TOPIC_MAX || !kd_wit_qb64_id(tp, tlen))
        return kd_wit_fwdk_fail(c, "invalid q.topic");
    memcpy(topic, tp, tlen);
    topic[tlen] = '\0';
    memcpy(pre, kd_span_ptr(ev, ev->exn.pre), ev->exn.pre.len);
    pre[ev->exn.pre.len] = '\0';
    if (ev->version.kind != KD_KIND_JSON || ev->e.len == 0 ||
        !kd_wit_json_member(kd_span_ptr(ev, ev->e), ev->e.len, "evt", &off, &elen) || elen < 2 ||
        kd_span_ptr(ev, ev->e)[off] != '{')
        return kd_wit_fwdk_fail(c, "e.evt is not an embedded message");
    for (unsigned g = 0; g < att->ngroups; g++) {
        const enum kd_cesr_ctr code = att->groups[g].code;

        if (code != KD_CESR_CTR_PATHED_MATERIAL_GROUP &&
            code != KD_CESR_CTR_BIG_PATHED_MATERIAL_GROUP)
            continue;
        if (first_l == NULL)
            first_l = &att->groups[g];
        if (lg == NULL && kd_wit_fwdk_path_is_evt(&att->groups[g]))
            lg = &att->groups[g];
    }
    /* the sender's signature, outside every pathed group */
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return KD_ENOMEM;
    v->txn = c->txn;
    if (first_l == NULL) {
        static const struct kd_cesr_group none = {0};

        first_l = &none;
    }
    e = kd_wit_fwd_verify(v, msg, first_l);
    if (v->failed) {
        c->failed = true;
        c->badsig = v->badsig;
        c->err_len = v->err_len < sizeof(c->err) ? v->err_len : sizeof(c->err) - 1;
        memcpy(c->err, v->err, c->err_len);
        c->err[c->err_len] = '\0';
        e = KD_EINVAL;
        goto out;
    }
    if (e != KD_OK)
        goto out;
    /* the embedded message and its attachments must frame as one message */
    jlen = elen + (lg != NULL ? lg->items_len : 0);
    if (jlen > KD_STORE_BLOB_MAX) {
        e = kd_wit_fwdk_fail(c, "forwarded message too large");
        goto out;
    }
    joined = malloc(jlen);
    if (joined == NULL) {
        e = KD_ENOMEM;
        goto out;
    }
    memcpy(joined, kd_span_ptr(ev, ev->e) + off, elen);
    if (lg != NULL)
        memcpy(joined + elen, lg->items, lg->items_len);
    memset(&cerr, 0, sizeof(cerr));
    e = kd_cesr_split_all(joined, jlen, NULL, kd_wit_fwdk_count, &nmsgs, &cerr);
    if (e != KD_OK && cerr.code == KD_OK)
        goto out;
    if (e != KD_OK || nmsgs != 1) {
        e = kd_wit_fwdk_fail(c, e != KD_OK && cerr.reason != NULL
                                    ? cerr.reason
                                    : "forwarded message does not frame as one message");
        goto out;
    }
    e = kd_store_mbx_append(c->txn, pre, topic, joined, jlen, NULL);
out:
    free(joined);
    free(v);
    return e;
}
