/*
 * OOBIs (keriox-surface §1.1, §3.3): the witness's own location-scheme
 * reply, built once, stored and kept byte-stable across restarts (a new one,
 * with a strictly newer dt, only when public_url changed), and the GET
 * /oobi routes that serve it, and the replies registered here (POST
 * /register, with their original signatures), with KELs.
 *
 * The keriox paths GET /oobi/{eid} and GET /oobi/{cid}/{role}/{eid} are
 * keripy OOBI paths too (keripy-surface §6), with other answers. The rule:
 * a request WITHOUT an Accept header (kli's hio client sends none) or whose
 * Accept names application/json+cesr gets the keripy answer
 * (keripy_oobi.c); any other Accept (keriox's reqwest and browsers' fetch
 * send the any-type range, star slash star) gets the keriox answer below,
 * unchanged.
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr.h"
#include "kerid/clock.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/log.h"
#include "kerid/node.h"

#define KD_WIT_LOC_KEY_PREFIX "witness.loc."

struct kd_wit_loc_put {
    const char *key;
    const char *v;
    size_t n;
};

static enum kd_err kd_wit_loc_put_fn(struct kd_store_txn *txn, void *arg)
{
    const struct kd_wit_loc_put *p = arg;

    return kd_store_meta_put(txn, p->key, p->v, p->n);
}

/*
 * Checks a stored reply: its body parses as a /loc/scheme rpy for eid whose
 * url is url, and it carries exactly -CAB + eid + signature verifying over
 * the body. *dt_us gets its dt (also when the url differs: 0 if unreadable).
 * Returns whether it may be served as is.
 */
static bool kd_wit_loc_check(struct kd_event *ev, const char *v, size_t n, const char *eid,
                             const char *url, int64_t *dt_us)
{
    const char *sig;
    size_t size;
    char hex[7];

    *dt_us = 0;
    if (n < 24 || memcmp(v, "{\"v\":\"KERI10JSON", 16) != 0)
        return false;
    memcpy(hex, v + 16, 6);
    hex[6] = '\0';
    size = (size_t)strtoul(hex, NULL, 16);
    if (size == 0 || size > n || kd_event_parse(ev, v, size, NULL) != KD_OK ||
        ev->ilk != KD_ILK_RPY || ev->rpy.route != KD_RPY_LOC_SCHEME)
        return false;
    if (kd_clock_parse_dt(kd_span_ptr(ev, ev->dt), ev->dt.len, dt_us) != 0)
        *dt_us = 0;
    if (!kd_span_eq(ev, ev->rpy.eid, eid) || !kd_span_eq(ev, ev->rpy.url, url))
        return false;
    if (n - size != 4 + KD_PREFIX_QB64_LEN + KD_SIG_QB64_LEN || memcmp(v + size, "-CAB", 4) != 0 ||
        memcmp(v + size + 4, eid, KD_PREFIX_QB64_LEN) != 0)
        return false;
    sig = v + size + 4 + KD_PREFIX_QB64_LEN;
    return kd_ed25519_verify_qb64(eid, KD_PREFIX_QB64_LEN, v, size, sig, KD_SIG_QB64_LEN, NULL) ==
           KD_OK;
}

/* Builds, signs and returns in w->loc a new reply dated dt_us. */
static enum kd_err kd_wit_loc_build(struct kd_role_instance *ri, struct kd_event *ev, int64_t dt_us)
{
    struct kd_witness *w = ri->state;
    char dt[KD_DATETIME_LEN + 1], sig[KD_SIG_QB64_LEN + 1];
    struct kd_buf b;
    enum kd_err e;

    kd_clock_format_dt(dt_us, dt);
    kd_buf_init(&b, KD_WIT_LOC_MAX);
    e = kd_buf_printf(&b,
                      "{\"v\":\"#################\",\"t\":\"rpy\",\"d\":\""
                      "############################################\",\"dt\":\"%s\","
                      "\"r\":\"/loc/scheme\",\"a\":{\"eid\":\"%s\",\"scheme\":\"http\",\"url\":\"",
                      dt, ri->signer.prefix);
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, w->url, strlen(w->url));
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\"}}");
    if (e == KD_OK)
        e = kd_said_fill(ev, b.data, b.len, NULL);
    if (e == KD_OK) {
        kd_signer_sign_qb64(&ri->signer, b.data, b.len, sig);
        e = kd_wit_append_cab(&b, ri->signer.prefix, sig);
    }
    if (e == KD_OK && b.len > sizeof(w->loc))
        e = KD_ETOOLARGE;
    if (e == KD_OK) {
        memcpy(w->loc, b.data, b.len);
        w->loc_len = b.len;
        w->loc_dt_us = dt_us;
    }
    kd_buf_free(&b);
    return e;
}

enum kd_err kd_wit_loc_init(struct kd_role_instance *ri)
{
    struct kd_witness *w = ri->state;
    struct kd_event *ev = malloc(sizeof(*ev));
    char key[KD_STORE_KEY_MAX + 1];
    struct kd_wit_loc_put put;
    struct kd_buf old;
    int64_t old_dt = 0, now = kd_clock_now_us();
    enum kd_err e;

    kd_buf_init(&old, KD_WIT_LOC_MAX);
    if (ev == NULL) {
        e = KD_ENOMEM;
        goto out;
    }
    snprintf(key, sizeof(key), "%s%s", KD_WIT_LOC_KEY_PREFIX, ri->signer.prefix);
    e = kd_store_meta_get(ri->node->store, key, &old);
    if (e == KD_OK &&
        kd_wit_loc_check(ev, (const char *)old.data, old.len, ri->signer.prefix, w->url, &old_dt)) {
        memcpy(w->loc, old.data, old.len);
        w->loc_len = old.len;
        w->loc_dt_us = old_dt;
        goto out;
    }
    if (e != KD_OK && e != KD_ENOTFOUND && e != KD_ETOOLARGE)
        goto out;
    /* first start, or public_url changed: strictly newer than what was served */
    if ((e = kd_wit_loc_build(ri, ev, now > old_dt ? now : old_dt + 1)) != KD_OK)
        goto out;
    put.key = key;
    put.v = w->loc;
    put.n = w->loc_len;
    e = kd_store_write_sync(ri->node->store, kd_wit_loc_put_fn, &put);
out:
    if (e != KD_OK)
        kd_log_error("witness", "cannot set up the location reply: %s", kd_err_message(e));
    kd_buf_free(&old);
    free(ev);
    return e == KD_OK ? kd_wit_keripy_oobi_init(ri) : e;
}

/* ---- GET /oobi/... ---- */

static void kd_wit_path_error(struct kd_http_req *req, const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "Path deserialize error: %s", what);

    kd_http_respond(req, 404, "text/plain; charset=utf-8", msg,
                    n < 0 ? 0 : ((size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1));
}

/* Whether param i of req is a CESR identifier prefix; answers 404 if not. */
static const char *kd_wit_id_param(struct kd_http_req *req, unsigned i)
{
    struct kd_cesr_prim p;
    const char *why = NULL;
    size_t len = 0;
    const char *s = kd_http_req_param(req, i, &len);

    if (s == NULL || strlen(s) != len || kd_cesr_qb64_decode(s, len, &p, NULL, &why) != KD_OK ||
        !kd_code_is_prefix(p.code)) {
        kd_wit_path_error(req, why != NULL ? why : "not a CESR identifier");
        return NULL;
    }
    return s;
}

/* Appends a stored reply with its original attachments. */
static enum kd_err kd_wit_reply_cb(const uint8_t *raw, size_t raw_len, const uint8_t *att,
                                   size_t att_len, void *arg)
{
    enum kd_err e = kd_buf_append(arg, raw, raw_len);

    return e == KD_OK ? kd_buf_append(arg, att, att_len) : e;
}

/* Appends eid's location replies: the own one, or those registered here. */
static enum kd_err kd_wit_append_loc(const struct kd_role_instance *ri, const char *eid,
                                     struct kd_buf *out)
{
    const struct kd_witness *w = ri->state;

    if (strcmp(eid, ri->signer.prefix) == 0)
        return kd_buf_append(out, w->loc, w->loc_len);
    return kd_store_loc_each(kd_store_reader(ri->node->store), eid, kd_wit_reply_cb, out);
}

void kd_wit_oobi_eid(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    const char *eid;
    struct kd_buf out;
    enum kd_err e;

    if (kd_wit_oobi_wants_keripy(req)) {
        kd_wit_keripy_oobi(req, ctx);
        return;
    }
    if ((eid = kd_wit_id_param(req, 0)) == NULL)
        return;
    kd_buf_init(&out, KD_WIT_ANSWER_MAX);
    e = kd_wit_append_loc(ri, eid, &out);
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_wit_respond_text(req, out.data, out.len);
    kd_buf_free(&out);
}

void kd_wit_oobi_role(struct kd_http_req *req, void *ctx)
{
    static const char *const roles[] = {"controller", "witness", "watcher", "messagebox"};
    const struct kd_role_instance *ri = ctx;
    const struct kd_witness *w = ri->state;
    const char *cid, *eid, *role;
    struct kd_buf out, roles_out;
    size_t rlen = 0;
    bool known = false;
    enum kd_err e;

    if (kd_wit_oobi_wants_keripy(req)) {
        kd_wit_keripy_oobi(req, ctx);
        return;
    }
    if ((cid = kd_wit_id_param(req, 0)) == NULL)
        return;
    role = kd_http_req_param(req, 1, &rlen);
    for (unsigned i = 0; role != NULL && i < sizeof(roles) / sizeof(roles[0]); i++)
        known = known || (strlen(role) == rlen && strcmp(role, roles[i]) == 0);
    if (!known) {
        kd_wit_path_error(req, "unknown variant, expected one of `controller`, `witness`, "
                               "`watcher`, `messagebox`");
        return;
    }
    if ((eid = kd_wit_id_param(req, 2)) == NULL)
        return;
    kd_buf_init(&out, KD_WIT_ANSWER_MAX);
    kd_buf_init(&roles_out, KD_WIT_ANSWER_MAX);
    if (strcmp(role, "witness") != 0) {
        /* the registered end roles of (cid, role), as received */
        e = kd_store_end_role_each(kd_store_reader(ri->node->store), cid, role, kd_wit_reply_cb,
                                   &roles_out);
        if (e == KD_OK && roles_out.len == 0) {
            char body[256];
            int n = snprintf(body, sizeof(body),
                             "{\"MissingRole\":{\"role\":\"%s\",\"id\":\"%s\"}}", role, cid);

            kd_wit_respond_json(req, 500, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
            goto out;
        }
    } else {
        /* a registry with a management TEL here: that TEL only */
        e = kd_wit_tel_replay(kd_store_reader(ri->node->store), cid, NULL, &out);
        if (e == KD_OK && out.len > 0) {
            kd_wit_respond_text(req, out.data, out.len);
            goto out;
        }
    }
    if (e == KD_OK)
        e = kd_wit_replay_kel(kd_store_reader(ri->node->store), cid, &out);
    if (e == KD_OK)
        e = kd_buf_append(&out, roles_out.data, roles_out.len);
    if (e == KD_OK && strcmp(role, "witness") == 0 && strcmp(eid, ri->signer.prefix) == 0)
        e = kd_buf_append(&out, w->loc, w->loc_len);
    else if (e == KD_OK && strcmp(role, "witness") != 0)
        e = kd_wit_append_loc(ri, eid, &out);
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_wit_respond_text(req, out.data, out.len);
out:
    kd_buf_free(&roles_out);
    kd_buf_free(&out);
}
