/*
 * The witness role (keriox-surface §1): its role table, its state, the
 * receipt it makes inside the transaction of every event that names it,
 * and the helpers its route files share. The routes live in process.c
 * (POST /process), query.c (POST /query), register.c (POST /register),
 * forward.c (POST /forward) and oobi.c (GET /oobi/...).
 */
#include "witness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/crypto.h"
#include "kerid/log.h"
#include "kerid/node.h"
#include "kerid/url.h"

static enum kd_err kd_witness_init(struct kd_role_instance *ri)
{
    struct kd_witness *w = calloc(1, sizeof(*w));
    const char *why = NULL;
    enum kd_err e;
    int n;

    if (w == NULL)
        return KD_ENOMEM;
    ri->state = w;
    if ((e = kd_wit_mbx_init(ri)) != KD_OK)
        return e;
    if ((e = kd_wit_extoobi_init(ri)) != KD_OK)
        return e;
    n = snprintf(w->health, sizeof(w->health),
                 "{\"status\":\"ok\",\"role\":\"witness\",\"eid\":\"%s\"}", ri->signer.prefix);
    w->health_len = (size_t)n;
    e = kd_url_normalize(ri->cfg->public_url, w->url, sizeof(w->url), &why);
    if (e != KD_OK) {
        kd_log_error("witness", "public_url: %s", why != NULL ? why : kd_err_message(e));
        return e;
    }
    return kd_wit_loc_init(ri);
}

/* Shutdown began: open mailbox streams end now (sse.c). */
static void kd_witness_stop(struct kd_role_instance *ri)
{
    kd_wit_mbx_stop(ri);
    kd_wit_extoobi_stop(ri);
}

static void kd_witness_destroy(struct kd_role_instance *ri)
{
    kd_wit_mbx_free(ri);
    kd_wit_extoobi_free(ri);
    free(ri->state);
    ri->state = NULL;
}

static void kd_witness_health(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    const struct kd_witness *w = ri->state;

    kd_http_respond(req, 200, "application/json", w->health, w->health_len);
}

/*
 * Writer thread, inside the transaction that accepted the event: when the
 * event names this witness, sign its received bytes, store the signature as
 * a wig and append the keriox receipt (rct + -CAB couple, §3.4) to the
 * AID's receipt mailbox, so that all three commit with the event.
 */
static enum kd_err kd_witness_on_accept(struct kd_role_instance *ri, struct kd_store_txn *txn,
                                        const struct kd_kel_accepted *a)
{
    unsigned char sig[KD_ED25519_SIG_LEN];
    char sig_qb64[KD_SIG_QB64_LEN + 1];
    struct kd_buf rct;
    enum kd_err e;

    if (a->own_prefix == NULL || a->own_index < 0 || strcmp(a->own_prefix, ri->signer.prefix) != 0)
        return KD_OK;
    kd_buf_init(&rct, 4096);
    kd_signer_sign(&ri->signer, a->ev->raw, a->ev->size, sig);
    if ((e = kd_cesr_qb64_encode(KD_CESR_ED25519_SIG, sig, sizeof(sig), sig_qb64, sizeof(sig_qb64),
                                 NULL)) != KD_OK)
        goto out;
    if ((e = kd_kel_add_wig(txn, a->said, (unsigned)a->own_index, sig, NULL)) != KD_OK)
        goto out;
    if ((e = kd_kel_receipt_msg(&rct, a->prefix, a->sn, a->said, ri->signer.prefix, sig_qb64)) !=
        KD_OK)
        goto out;
    e = kd_store_mbx_append(txn, a->prefix, KD_WIT_TOPIC_RECEIPT, rct.data, rct.len, NULL);
out:
    kd_buf_free(&rct);
    return e;
}

/*
 * Writer thread, inside the transaction that escrowed a message: a dip or drt
 * that came without the delegator's seal (-G) is a delegation request
 * (keriox-surface §1.2, §6 F): it goes, as received, into the delegator's
 * "delegate" mailbox, so that the delegator finds it and can anchor it.
 */
static enum kd_err kd_witness_on_escrow(struct kd_role_instance *ri, struct kd_store_txn *txn,
                                        const struct kd_cesr_msg *msg,
                                        const struct kd_kel_result *res)
{
    struct kd_buf m;
    enum kd_err e;

    (void)ri;
    if (res->escrow != KD_STORE_ESCROW_PARTIAL_DEL || res->waits_on[0] == '\0' ||
        (res->ilk != KD_ILK_DIP && res->ilk != KD_ILK_DRT) ||
        msg->att.items[KD_CESR_CTR_SEAL_SOURCE_COUPLES] > 0)
        return KD_OK;
    kd_buf_init(&m, KD_STORE_BLOB_MAX);
    e = kd_buf_append(&m, msg->body, msg->body_len);
    if (e == KD_OK && msg->att.len > 0)
        e = kd_buf_append(&m, msg->att.text, msg->att.len);
    if (e == KD_OK)
        e = kd_store_mbx_append(txn, res->waits_on, KD_WIT_TOPIC_DELEGATE, m.data, m.len, NULL);
    kd_buf_free(&m);
    return e;
}

/* ---- shared helpers ---- */

void kd_wit_respond_json(struct kd_http_req *req, int status, const char *body, size_t len)
{
    kd_http_respond(req, status, "application/json", body, len);
}

void kd_wit_respond_err2(struct kd_http_req *req, int status, const char *outer, const char *inner,
                         const char *text, size_t len)
{
    struct kd_buf b;
    enum kd_err e;

    kd_buf_init(&b, 64 * 1024);
    e = kd_buf_printf(&b, "{\"%s\":", outer);
    if (e == KD_OK && inner != NULL)
        e = kd_buf_printf(&b, "{\"%s\":", inner);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\"");
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, text, len);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, inner != NULL ? "\"}}" : "\"}");
    if (e != KD_OK)
        kd_http_respond_error(req, e, NULL);
    else
        kd_wit_respond_json(req, status, (const char *)b.data, b.len);
    kd_buf_free(&b);
}

void kd_wit_respond_text(struct kd_http_req *req, const void *body, size_t len)
{
    kd_http_respond(req, 200, "text/plain; charset=utf-8", len > 0 ? body : "", len);
}

bool kd_wit_write_body(struct kd_http_req *req, const unsigned char **body, size_t *len)
{
    *len = 0;
    *body = kd_http_req_body(req, len);
    if (!kd_wit_utf8_ok(*body, *len)) {
        kd_wit_respond_not_utf8(req);
        return false;
    }
    if (*len == 0) {
        kd_wit_respond_text(req, "", 0);
        return false;
    }
    if (*len > KD_STORE_BLOB_MAX) { /* the HTTP limit is far below; never trust it here */
        kd_http_respond_error(req, KD_ETOOLARGE, NULL);
        return false;
    }
    return true;
}

void kd_wit_answer_write(struct kd_http_req *req, const char *route, enum kd_err result,
                         bool failed, const char *err, size_t err_len)
{
    if (result != KD_OK) {
        kd_log_error("witness", "%s: %s", route, kd_err_message(result));
        kd_http_respond_error(req, result, NULL);
    } else if (failed) {
        kd_wit_respond_json(req, 500, err, err_len);
    } else {
        kd_wit_respond_text(req, "", 0);
    }
}

bool kd_wit_utf8_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        const unsigned char c = p[i];
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3fu);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

void kd_wit_respond_not_utf8(struct kd_http_req *req)
{
    static const char msg[] = "Can not decode body";

    kd_http_respond(req, 400, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
}

enum kd_err kd_wit_err_record(char *err, size_t cap, size_t *len, bool *failed, const char *body)
{
    const size_t n = strlen(body);

    *failed = true;
    *len = n < cap ? n : cap - 1;
    memcpy(err, body, *len);
    err[*len] = '\0';
    return KD_EINVAL;
}

enum kd_err kd_wit_err_record2(char *err, size_t cap, size_t *len, bool *failed, const char *outer,
                               const char *inner, const char *text)
{
    struct kd_buf b;
    enum kd_err e;

    kd_buf_init(&b, cap - 1);
    e = kd_buf_printf(&b, "{\"%s\":{\"%s\":\"", outer, inner);
    if (e == KD_OK)
        e = kd_buf_append_json_escaped(&b, text, strlen(text));
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\"}}");
    if (e == KD_OK)
        e = kd_buf_append(&b, "", 1);
    e = kd_wit_err_record(err, cap, len, failed,
                          e == KD_OK ? (const char *)b.data
                                     : "{\"ParseError\":{\"DeserializeError\":\"?\"}}");
    kd_buf_free(&b);
    return e;
}

bool kd_wit_qb64_id(const char *s, size_t n)
{
    if (n == 0 || n > KD_KEL_ID_MAX)
        return false;
    for (size_t k = 0; k < n; k++) {
        const char ch = s[k];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

enum kd_err kd_wit_append_cab(struct kd_buf *out, const char *prefix, const char *sig)
{
    enum kd_err e = kd_buf_append_str(out, "-CAB");

    if (e == KD_OK)
        e = kd_buf_append_str(out, prefix);
    if (e == KD_OK)
        e = kd_buf_append_str(out, sig);
    return e;
}

static const struct kd_route kd_witness_routes[] = {
    {KD_HTTP_GET, "/health", kd_witness_health, "health"},
    {KD_HTTP_POST, "/process", kd_wit_process, "process"},
    {KD_HTTP_POST, "/query", kd_wit_query, "query"},
    {KD_HTTP_POST, "/register", kd_wit_register, "register"},
    {KD_HTTP_POST, "/forward", kd_wit_forward, "forward"},
    {KD_HTTP_POST, "/process/tel", kd_wit_process_tel, "process_tel"},
    {KD_HTTP_POST, "/query/tel", kd_wit_query_tel, "query_tel"},
    {KD_HTTP_GET, "/oobi/{eid}", kd_wit_oobi_eid, "oobi_eid"},
    {KD_HTTP_GET, "/oobi/{cid}/{role}/{eid}", kd_wit_oobi_role, "oobi_role"},
    /* the keripy surface (keripy.c, keripy_oobi.c) */
    {KD_HTTP_POST, "/", kd_wit_keripy_post, "keripy_post"},
    {KD_HTTP_PUT, "/", kd_wit_keripy_put, "keripy_put"},
    {KD_HTTP_POST, "/receipts", kd_wit_keripy_receipts_post, "receipts_post"},
    {KD_HTTP_GET, "/receipts", kd_wit_keripy_receipts_get, "receipts_get"},
    {KD_HTTP_GET, "/query", kd_wit_keripy_query_get, "keripy_query"},
    {KD_HTTP_GET, "/oobi", kd_wit_keripy_oobi, "oobi_blind"},
    {KD_HTTP_GET, "/oobi/{aid}/{role}", kd_wit_keripy_oobi, "oobi_aid_role"},
    /* keripy's OOBI resolution and demo routes (extoobi.c) */
    {KD_HTTP_POST, "/ext/oobi", kd_wit_ext_oobi, "ext_oobi"},
    {KD_HTTP_POST, "/end/{aid}/{role}", kd_wit_demo_end_post, "demo_end"},
    {KD_HTTP_GET, "/end/{aid}/{role}", kd_wit_demo_end_get, "demo_end"},
    {KD_HTTP_PUT, "/end/{aid}/{role}", kd_wit_demo_end_get, "demo_end"},
    {KD_HTTP_GET, "/loc", kd_wit_demo_loc, "demo_loc"},
    {KD_HTTP_PUT, "/loc", kd_wit_demo_loc, "demo_loc"},
    {KD_HTTP_GET, "/admin", kd_wit_demo_admin, "demo_admin"},
    {0, NULL, NULL, NULL},
};

const struct kd_role kd_role_witness = {
    .name = "witness",
    .title = "Witness",
    .config_label = "Using config file ",
    .blank_after_config = true,
    .witnesses_events = true,
    .init = kd_witness_init,
    .routes = kd_witness_routes,
    .stop = kd_witness_stop,
    .destroy = kd_witness_destroy,
    .sweeps = kd_wit_tel_sweeps,
    .on_accept = kd_witness_on_accept,
    .on_escrow = kd_witness_on_escrow,
};
