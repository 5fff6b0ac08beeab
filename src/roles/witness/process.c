/*
 * POST /process (keriox-surface §1.2): the body is copied and processed as
 * one store write by the node's KEL engine; the witness's receipt is made
 * by the role's on_accept inside that transaction; the answer is sent from
 * the done callback, i.e. only after COMMIT, so a 200 means the event and
 * its receipt are durable and in the mailbox.
 */
#include "witness_int.h"

#include <stdlib.h>
#include <string.h>

#include "kerid/clock.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/node.h"

struct kd_wit_job {
    struct kd_http_req *req;
    struct kd_role_instance *ri;
    int64_t now_us;
    size_t len;
    struct kd_kel_body_result res;
    unsigned char body[]; /* the request body, copied */
};

static enum kd_err kd_wit_process_write(struct kd_store_txn *txn, void *arg)
{
    struct kd_wit_job *j = arg;

    return kd_kel_process_body(j->ri->node->kel, txn, j->body, j->len, NULL, j->now_us, true,
                               &j->res);
}

/* keriox's wording for the semantic faults clients may look at. */
static const char *kd_wit_semantic_text(const struct kd_kel_result *r)
{
    if (r->fault == KD_KEL_F_PRIOR)
        return "Event digest doesn't match last event digest";
    return r->why != NULL ? r->why : kd_kel_fault_message(r->fault);
}

/* The keriox answer for a body whose first rejected message is r. */
static void kd_wit_process_reject(struct kd_http_req *req, const struct kd_kel_result *r)
{
    static const char badsig[] = "{\"KeriError\":\"SignatureVerificationError\"}";
    const char *text;

    switch (r->fault) {
    case KD_KEL_F_BAD_SIG:
    case KD_KEL_F_RCT_BAD_SIG:
        kd_wit_respond_json(req, 403, badsig, sizeof(badsig) - 1);
        return;
    case KD_KEL_F_BODY:
    case KD_KEL_F_NO_SIGS:
    case KD_KEL_F_RCT_NO_SIGS:
    case KD_KEL_F_TOO_MANY_SIGS:
    case KD_KEL_F_SN_RANGE:
        text = r->diag.why != NULL && r->fault == KD_KEL_F_BODY ? r->diag.why
                                                                : kd_kel_fault_message(r->fault);
        /* {"KeriError":{"DeserializeError":{"DeserializeError":"..."}}} */
        {
            struct kd_buf b;
            enum kd_err e;

            kd_buf_init(&b, 4096);
            e = kd_buf_append_str(&b,
                                  "{\"KeriError\":{\"DeserializeError\":{\"DeserializeError\":\"");
            if (e == KD_OK)
                e = kd_buf_append_json_escaped(&b, text, strlen(text));
            if (e == KD_OK)
                e = kd_buf_append_str(&b, "\"}}}");
            if (e == KD_OK)
                kd_wit_respond_json(req, 400, (const char *)b.data, b.len);
            else
                kd_http_respond_error(req, e, NULL);
            kd_buf_free(&b);
        }
        return;
    default:
        text = kd_wit_semantic_text(r);
        kd_wit_respond_err2(req, 500, "KeriError", "SemanticError", text, strlen(text));
        return;
    }
}

static void kd_wit_process_done(enum kd_err result, void *arg)
{
    static const char wrong[] = "{\"KeriError\":{\"DeserializeError\":{\"WrongEventType\":"
                                "\"Cannot convert SignedEventData to Notice\"}}}";
    struct kd_wit_job *j = arg;
    const struct kd_kel_body_result *r = &j->res;

    if (result != KD_OK) {
        kd_log_error("witness", "/process: %s", kd_err_message(result));
        kd_http_respond_error(j->req, result, NULL);
    } else if (r->rejected) {
        kd_wit_process_reject(j->req, &r->first_reject);
    } else if (r->cesr.code != KD_OK && r->cesr.offset < j->len &&
               j->body[r->messages == 0 ? 0 : r->cesr.offset] == '{') {
        /* a JSON message keriox could not frame or deserialize */
        const char *why = r->cesr.reason != NULL ? r->cesr.reason : "malformed message";
        struct kd_kel_result fake;

        memset(&fake, 0, sizeof(fake));
        fake.fault = KD_KEL_F_BODY;
        fake.diag.why = why;
        kd_wit_process_reject(j->req, &fake);
    } else if (r->verdicts[KD_KEL_SKIPPED] > 0) {
        kd_wit_respond_json(j->req, 400, wrong, sizeof(wrong) - 1);
    } else {
        if (r->cesr.code != KD_OK)
            kd_log_info("witness", "/process: ignored the body from byte %zu: %s", r->cesr.offset,
                        r->cesr.reason != NULL ? r->cesr.reason : "not CESR");
        kd_wit_respond_text(j->req, "", 0);
    }
    kd_wit_mbx_kick(j->ri); /* receipts may have reached mailboxes (sse.c) */
    free(j);
}

void kd_wit_process(struct kd_http_req *req, void *ctx)
{
    struct kd_role_instance *ri = ctx;
    size_t len;
    const unsigned char *body;
    struct kd_wit_job *j;
    enum kd_err e;

    if (!kd_wit_write_body(req, &body, &len))
        return;
    j = calloc(1, sizeof(*j) + len);
    if (j == NULL) {
        kd_http_respond_error(req, KD_ENOMEM, NULL);
        return;
    }
    j->req = req;
    j->ri = ri;
    j->len = len;
    j->now_us = kd_clock_now_us();
    memcpy(j->body, body, len);
    e = kd_store_submit(ri->node->store, kd_wit_process_write, kd_wit_process_done, j);
    if (e != KD_OK) {
        free(j);
        kd_http_respond_error(req, e, NULL);
    }
}
