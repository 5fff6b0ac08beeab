/*
 * keripy OOBIs (keripy-surface §6): GET /oobi, /oobi/{aid}, /oobi/{aid}/{role}
 * and /oobi/{aid}/{role}/{eid}, answered as application/json+cesr with a
 * KERI-AID header. The witness's own OOBI is its non-transferable icp in
 * clone form, its loc-scheme reply (oobi.c) and its /end/role/add
 * controller reply, built and signed once and kept in the store so that the
 * bytes stay the same across restarts. Another identifier's OOBI is served
 * only when this node is one of its current witnesses (406 otherwise) and
 * its latest event is fully witnessed here (404 until then): its KEL in
 * clone form (delegators' KELs first), the loc-scheme replies of its
 * witnesses and its end-role replies with their endpoints' locations.
 *
 * Two of these paths are keriox's too (GET /oobi/{eid}, GET
 * /oobi/{cid}/{role}/{eid}, oobi.c): kd_wit_oobi_wants_keripy decides.
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr.h"
#include "kerid/clock.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"

#define KD_KPO_KEY_ICP    "witness.keripy.icp."
#define KD_KPO_KEY_END    "witness.keripy.end."
#define KD_KPO_JSON_CESR  "application/json+cesr"
#define KD_KPO_MAX        4096u
#define KD_KPO_DELEGATORS 8

static const char *const kd_kpo_roles[] = {"controller", "witness", "watcher", "messagebox"};

/* ---- the own OOBI ---- */

/* Appends own's deterministic non-transferable icp body (kt 1, k [own],
 * nt 0, n [], bt 0, b [], c [], a []). */
static enum kd_err kd_kpo_icp_body(const struct kd_signer *sg, struct kd_event *ev,
                                   struct kd_buf *out)
{
    const size_t start = out->len;
    enum kd_err e = kd_buf_printf(out,
                                  "{\"v\":\"#################\",\"t\":\"icp\",\"d\":\""
                                  "############################################\",\"i\":\"%s\","
                                  "\"s\":\"0\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"0\",\"n\":[],"
                                  "\"bt\":\"0\",\"b\":[],\"c\":[],\"a\":[]}",
                                  sg->prefix, sg->prefix);

    if (e == KD_OK)
        e = kd_said_fill(ev, out->data + start, out->len - start, NULL);
    return e;
}

/* The own icp in clone form: body + -V## { -AAB sig, -EAB fn 0 + dater }. */
static enum kd_err kd_kpo_build_icp(const struct kd_signer *sg, struct kd_event *ev, int64_t dt_us,
                                    struct kd_buf *out)
{
    unsigned char sig[KD_ED25519_SIG_LEN];
    char siger[96], fn[KD_CESR_SN_QB64_LEN + 1], dater[KD_DATETIME_LEN + 5], ctr[8];
    size_t body_len, atc_len;
    enum kd_err e;

    if ((e = kd_kpo_icp_body(sg, ev, out)) != KD_OK)
        return e;
    body_len = out->len;
    kd_signer_sign(sg, out->data, body_len, sig);
    if ((e = kd_cesr_siger_encode(KD_CESR_IDX_ED25519, 0, KD_CESR_ONDEX_NONE, sig, sizeof(sig),
                                  siger, sizeof(siger), NULL)) != KD_OK ||
        (e = kd_cesr_sn_encode(0, fn, sizeof(fn))) != KD_OK)
        return e;
    kd_wit_keripy_dater(dt_us, dater);
    atc_len = 4 + strlen(siger) + 4 + strlen(fn) + strlen(dater);
    if ((e = kd_cesr_counter_encode(KD_CESR_CTR_ATTACHMENT_GROUP, (uint32_t)(atc_len / 4), ctr,
                                    sizeof(ctr), NULL)) != KD_OK)
        return e;
    return kd_buf_printf(out, "%s-AAB%s-EAB%s%s", ctr, siger, fn, dater);
}

/* The own /end/role/add reply (cid = eid = own, role controller), endorsed
 * -VAi-CAB + own + signature. */
static enum kd_err kd_kpo_build_end(const struct kd_signer *sg, struct kd_event *ev, int64_t dt_us,
                                    struct kd_buf *out)
{
    char dt[KD_DATETIME_LEN + 1], sig[KD_SIG_QB64_LEN + 1];
    enum kd_err e;

    kd_clock_format_dt(dt_us, dt);
    e = kd_buf_printf(out,
                      "{\"v\":\"#################\",\"t\":\"rpy\",\"d\":\""
                      "############################################\",\"dt\":\"%s\","
                      "\"r\":\"/end/role/add\",\"a\":{\"cid\":\"%s\",\"role\":\"controller\","
                      "\"eid\":\"%s\"}}",
                      dt, sg->prefix, sg->prefix);
    if (e == KD_OK)
        e = kd_said_fill(ev, out->data, out->len, NULL);
    if (e == KD_OK) {
        kd_signer_sign_qb64(sg, out->data, out->len, sig);
        e = kd_buf_printf(out, "-VAi-CAB%s%s", sg->prefix, sig);
    }
    return e;
}

struct kd_kpo_put {
    const char *k1, *k2;
    const struct kd_buf *v1, *v2;
};

static enum kd_err kd_kpo_put_fn(struct kd_store_txn *txn, void *arg)
{
    const struct kd_kpo_put *p = arg;
    enum kd_err e = kd_store_meta_put(txn, p->k1, p->v1->data, p->v1->len);

    return e == KD_OK ? kd_store_meta_put(txn, p->k2, p->v2->data, p->v2->len) : e;
}

/* Whether stored is own's icp in clone form (the body is deterministic). */
static bool kd_kpo_icp_ok(const struct kd_signer *sg, struct kd_event *ev,
                          const struct kd_buf *stored)
{
    struct kd_buf want;
    bool ok;

    kd_buf_init(&want, KD_KPO_MAX);
    ok = kd_kpo_icp_body(sg, ev, &want) == KD_OK && stored->len > want.len + 4 &&
         memcmp(stored->data, want.data, want.len) == 0 &&
         memcmp(stored->data + want.len, "-V", 2) == 0;
    kd_buf_free(&want);
    return ok;
}

enum kd_err kd_wit_keripy_oobi_init(struct kd_role_instance *ri)
{
    const struct kd_signer *sg = &ri->signer;
    struct kd_event *ev = malloc(sizeof(*ev));
    char kicp[KD_STORE_KEY_MAX + 1], kend[KD_STORE_KEY_MAX + 1];
    struct kd_buf icp, end;
    struct kd_kpo_put put;
    int64_t now = kd_clock_now_us();
    enum kd_err e, e2;

    kd_buf_init(&icp, KD_KPO_MAX);
    kd_buf_init(&end, KD_KPO_MAX);
    if (ev == NULL) {
        e = KD_ENOMEM;
        goto out;
    }
    snprintf(kicp, sizeof(kicp), "%s%s", KD_KPO_KEY_ICP, sg->prefix);
    snprintf(kend, sizeof(kend), "%s%s", KD_KPO_KEY_END, sg->prefix);
    e = kd_store_meta_get(ri->node->store, kicp, &icp);
    e2 = kd_store_meta_get(ri->node->store, kend, &end);
    if (e == KD_OK && e2 == KD_OK && kd_kpo_icp_ok(sg, ev, &icp) && end.len > 0)
        goto out;
    if ((e != KD_OK && e != KD_ENOTFOUND && e != KD_ETOOLARGE) ||
        (e2 != KD_OK && e2 != KD_ENOTFOUND && e2 != KD_ETOOLARGE)) {
        e = e != KD_OK && e != KD_ENOTFOUND && e != KD_ETOOLARGE ? e : e2;
        goto out;
    }
    kd_buf_reset(&icp);
    kd_buf_reset(&end);
    if ((e = kd_kpo_build_icp(sg, ev, now, &icp)) != KD_OK ||
        (e = kd_kpo_build_end(sg, ev, now, &end)) != KD_OK)
        goto out;
    put.k1 = kicp;
    put.k2 = kend;
    put.v1 = &icp;
    put.v2 = &end;
    e = kd_store_write_sync(ri->node->store, kd_kpo_put_fn, &put);
out:
    if (e != KD_OK)
        kd_log_error("witness", "cannot set up the keripy OOBI: %s", kd_err_message(e));
    kd_buf_free(&icp);
    kd_buf_free(&end);
    free(ev);
    return e;
}

/* ---- which answer ---- */

bool kd_wit_oobi_wants_keripy(const struct kd_http_req *req)
{
    static const char want[] = "application/json+cesr";
    size_t n = 0;
    const char *accept = kd_http_req_header(req, "Accept", &n);

    if (accept == NULL)
        return true;
    /* one of the comma-separated media ranges is exactly application/json+cesr */
    for (size_t i = 0; i < n;) {
        size_t s = i, e;

        while (s < n && (accept[s] == ' ' || accept[s] == '\t'))
            s++;
        e = s;
        while (e < n && accept[e] != ',' && accept[e] != ';' && accept[e] != ' ' &&
               accept[e] != '\t')
            e++;
        if (e - s == sizeof(want) - 1 && memcmp(accept + s, want, e - s) == 0)
            return true;
        while (e < n && accept[e] != ',')
            e++;
        i = e + 1;
    }
    return false;
}

/* ---- answering ---- */

struct kd_kpo_ctx {
    const struct kd_role_instance *ri;
    struct kd_store_rd *rd;
    struct kd_buf *out;
    const char *eid; /* filter, or NULL */
    struct kd_event *ev;
};

/* Appends eid's location replies: the own one, or those stored here. */
static enum kd_err kd_kpo_loc(struct kd_kpo_ctx *c, const char *eid);

static enum kd_err kd_kpo_reply_cb(const uint8_t *raw, size_t raw_len, const uint8_t *att,
                                   size_t att_len, void *arg)
{
    struct kd_buf *out = arg;
    enum kd_err e = kd_buf_append(out, raw, raw_len);

    return e == KD_OK ? kd_buf_append(out, att, att_len) : e;
}

static enum kd_err kd_kpo_loc(struct kd_kpo_ctx *c, const char *eid)
{
    const struct kd_witness *w = c->ri->state;

    if (strcmp(eid, c->ri->signer.prefix) == 0)
        return kd_buf_append(c->out, w->loc, w->loc_len);
    return kd_store_loc_each(c->rd, eid, kd_kpo_reply_cb, c->out);
}

/* An end-role reply of the aid: its endpoint's locations, then the reply. */
static enum kd_err kd_kpo_end_cb(const uint8_t *raw, size_t raw_len, const uint8_t *att,
                                 size_t att_len, void *arg)
{
    struct kd_kpo_ctx *c = arg;
    char eid[KD_KEL_ID_MAX + 1];
    enum kd_err e;

    if (kd_event_parse(c->ev, raw, raw_len, NULL) != KD_OK || c->ev->ilk != KD_ILK_RPY ||
        c->ev->rpy.eid.len == 0 || c->ev->rpy.eid.len > KD_KEL_ID_MAX)
        return KD_OK; /* stored only after these checks; never expected */
    memcpy(eid, kd_span_ptr(c->ev, c->ev->rpy.eid), c->ev->rpy.eid.len);
    eid[c->ev->rpy.eid.len] = '\0';
    if (c->eid != NULL && strcmp(c->eid, eid) != 0)
        return KD_OK;
    if ((e = kd_kpo_loc(c, eid)) != KD_OK)
        return e;
    return kd_kpo_reply_cb(raw, raw_len, att, att_len, c->out);
}

static void kd_kpo_send(struct kd_http_req *req, const char *aid, const struct kd_buf *out)
{
    if (kd_http_res_header(req, "KERI-AID", aid) != KD_OK) {
        kd_http_respond_error(req, KD_EINTERNAL, NULL);
        return;
    }
    kd_http_respond(req, 200, KD_KPO_JSON_CESR, out->data, out->len);
}

/* The own OOBI: icp, loc-scheme reply, end-role reply. */
static void kd_kpo_own(struct kd_http_req *req, const struct kd_role_instance *ri, const char *role,
                       const char *eid)
{
    const struct kd_witness *w = ri->state;
    char kicp[KD_STORE_KEY_MAX + 1], kend[KD_STORE_KEY_MAX + 1];
    struct kd_buf icp, end, out;
    enum kd_err e;

    if ((role != NULL && strcmp(role, "controller") != 0 && strcmp(role, "witness") != 0) ||
        (eid != NULL && strcmp(eid, ri->signer.prefix) != 0)) {
        kd_wit_keripy_error(req, 404, "Not found", "no such role or endpoint for this witness");
        return;
    }
    kd_buf_init(&icp, KD_KPO_MAX);
    kd_buf_init(&end, KD_KPO_MAX);
    kd_buf_init(&out, 4 * KD_KPO_MAX);
    snprintf(kicp, sizeof(kicp), "%s%s", KD_KPO_KEY_ICP, ri->signer.prefix);
    snprintf(kend, sizeof(kend), "%s%s", KD_KPO_KEY_END, ri->signer.prefix);
    e = kd_store_meta_get(ri->node->store, kicp, &icp);
    if (e == KD_OK)
        e = kd_store_meta_get(ri->node->store, kend, &end);
    if (e == KD_OK)
        e = kd_buf_append(&out, icp.data, icp.len);
    if (e == KD_OK)
        e = kd_buf_append(&out, w->loc, w->loc_len);
    if (e == KD_OK)
        e = kd_buf_append(&out, end.data, end.len);
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_kpo_send(req, ri->signer.prefix, &out);
    kd_buf_free(&icp);
    kd_buf_free(&end);
    kd_buf_free(&out);
}

/* Appends aid's delegators' KELs, the topmost first. */
static enum kd_err kd_kpo_delegators(struct kd_kpo_ctx *c, const char *first, bool *missing)
{
    char chain[KD_KPO_DELEGATORS][KD_KEL_ID_MAX + 1];
    unsigned n = 0;
    enum kd_err e = KD_OK;

    *missing = false;
    snprintf(chain[0], sizeof(chain[0]), "%s", first);
    while (n < KD_KPO_DELEGATORS && chain[n][0] != '\0') {
        struct kd_kel_state *ds = NULL;

        e = kd_kel_state_load(c->rd, chain[n], &ds);
        if (e == KD_ENOTFOUND) {
            *missing = true;
            return KD_OK;
        }
        if (e != KD_OK)
            return e;
        n++;
        if (n < KD_KPO_DELEGATORS)
            snprintf(chain[n], sizeof(chain[n]), "%s", ds->delegator);
        kd_kel_state_free(ds);
    }
    while (e == KD_OK && n > 0) {
        n--;
        e = kd_wit_clone_kel(c->rd, chain[n], 0, c->out);
    }
    return e;
}

void kd_wit_keripy_oobi(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    const char *aid = kd_http_req_param(req, 0, NULL);
    const char *role = kd_http_req_param(req, 1, NULL);
    const char *eid = kd_http_req_param(req, 2, NULL);
    struct kd_store_rd *rd = kd_store_reader(ri->node->store);
    struct kd_kel_state *st = NULL;
    struct kd_cesr_prim p;
    struct kd_kpo_ctx c;
    struct kd_buf out;
    bool yes = false, listed = false, missing = false;
    enum kd_err e;

    kd_buf_init(&out, KD_WIT_ANSWER_MAX);
    memset(&c, 0, sizeof(c));
    if (aid == NULL || strcmp(aid, ri->signer.prefix) == 0) {
        kd_kpo_own(req, ri, role, eid);
        goto out;
    }
    if (kd_cesr_qb64_decode(aid, strlen(aid), &p, NULL, NULL) != KD_OK ||
        !kd_code_is_prefix(p.code) ||
        (eid != NULL && (kd_cesr_qb64_decode(eid, strlen(eid), &p, NULL, NULL) != KD_OK ||
                         !kd_code_is_prefix(p.code)))) {
        kd_wit_keripy_error(req, 404, "Not found", "not a CESR identifier");
        goto out;
    }
    if (role != NULL) {
        bool known = false;

        for (unsigned i = 0; i < sizeof(kd_kpo_roles) / sizeof(kd_kpo_roles[0]); i++)
            known = known || strcmp(role, kd_kpo_roles[i]) == 0;
        if (!known) {
            kd_wit_keripy_error(req, 404, "Not found", "unknown role");
            goto out;
        }
    }
    e = kd_kel_state_load(rd, aid, &st);
    if (e == KD_ENOTFOUND) {
        kd_wit_keripy_error(req, 404, "Not found", "unknown identifier");
        goto out;
    }
    if (e != KD_OK || (e = kd_kel_fully_witnessed(rd, aid, st->sn, st->said, &yes)) != KD_OK)
        goto fail;
    if (!yes) {
        kd_wit_keripy_error(req, 404, "Not found",
                            "the identifier's latest event is not fully witnessed here");
        goto out;
    }
    for (unsigned w = 0; w < st->nwits; w++)
        listed = listed || strcmp(kd_kel_str(st, st->wits[w]), ri->signer.prefix) == 0;
    c.ri = ri;
    c.rd = rd;
    c.out = &out;
    c.eid = eid;
    if ((c.ev = malloc(sizeof(*c.ev))) == NULL) {
        e = KD_ENOMEM;
        goto fail;
    }
    if (st->delegator[0] != '\0') {
        if ((e = kd_kpo_delegators(&c, st->delegator, &missing)) != KD_OK)
            goto fail;
        if (missing) {
            kd_wit_keripy_error(req, 404, "Not found", "the delegator's KEL is unknown here");
            goto out;
        }
    }
    if (!listed) {
        kd_wit_keripy_error(req, 406, "Not acceptable",
                            "this node is not a witness of that identifier");
        goto out;
    }
    if ((e = kd_wit_clone_kel(rd, aid, 0, &out)) != KD_OK)
        goto fail;
    if (role == NULL || strcmp(role, "witness") == 0) {
        for (unsigned w = 0; w < st->nwits && e == KD_OK; w++) {
            const char *wit = kd_kel_str(st, st->wits[w]);

            if (eid == NULL || strcmp(eid, wit) == 0)
                e = kd_kpo_loc(&c, wit);
        }
    }
    for (unsigned i = 0; i < sizeof(kd_kpo_roles) / sizeof(kd_kpo_roles[0]) && e == KD_OK; i++)
        if (role == NULL || strcmp(role, kd_kpo_roles[i]) == 0)
            e = kd_store_end_role_each(rd, aid, kd_kpo_roles[i], kd_kpo_end_cb, &c);
fail:
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_kpo_send(req, aid, &out);
out:
    free(c.ev);
    kd_kel_state_free(st);
    kd_buf_free(&out);
}
