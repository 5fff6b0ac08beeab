/*
 * The witness role's internals, shared by its files: the role state, the
 * keriox error bodies, the KEL replay (keriox-surface §3.6) and the route
 * handlers of process.c, query.c and oobi.c.
 */
#ifndef KERID_WITNESS_INT_H
#define KERID_WITNESS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kerid/buf.h"
#include "kerid/http.h"
#include "kerid/role.h"
#include "kerid/store.h"

/* Largest answer the witness builds (a KEL replay, a mailbox): bounded so
 * that a hostile or huge KEL cannot exhaust memory. */
#define KD_WIT_ANSWER_MAX (64u * 1024u * 1024u)
/* Largest own loc-scheme reply (body and attachment). */
#define KD_WIT_LOC_MAX 2048u
/* Mailbox topics a witness serves (keriox-surface §3.8). */
#define KD_WIT_TOPIC_RECEIPT  "receipt"
#define KD_WIT_TOPIC_MULTISIG "multisig"
#define KD_WIT_TOPIC_DELEGATE "delegate"

struct kd_witness {
    char health[256]; /* fixed answer, built once */
    size_t health_len;
    char url[1024];           /* public_url, WHATWG-normalised */
    char loc[KD_WIT_LOC_MAX]; /* own loc-scheme reply: body + -CAB signature */
    size_t loc_len;
    int64_t loc_dt_us;
    struct kd_wit_sse *sse; /* open mailbox streams (sse.c) */
    /* tel.c: the TEL escrow sweep (loop thread) */
    bool tel_sweep_busy;            /* a sweep write is queued or running */
    bool tel_sweep_more;            /* the last one left rows for the next */
    int64_t tel_sweep_cursor;       /* escrow row id it stopped after */
    struct kd_wit_extoobi *extoobi; /* extoobi.c: the OOBI resolver */
};

/* ---- witness.c ---- */

/* Answers req with status and a JSON body (keriox ActorError), Content-Type
 * application/json. */
void kd_wit_respond_json(struct kd_http_req *req, int status, const char *body, size_t len);
/* Answers req 500 with {"<outer>":{"<inner>":"<text JSON-escaped>"}} (inner
 * NULL: {"<outer>":"<text>"}). */
void kd_wit_respond_err2(struct kd_http_req *req, int status, const char *outer, const char *inner,
                         const char *text, size_t len);
/* Answers req 200 text/plain; charset=utf-8 with body (may be empty). */
void kd_wit_respond_text(struct kd_http_req *req, const void *body, size_t len);
/* Whether the n bytes at p are valid UTF-8. */
bool kd_wit_utf8_ok(const unsigned char *p, size_t n);
/* Answers req 400 text/plain "Can not decode body" (keriox String extractor). */
void kd_wit_respond_not_utf8(struct kd_http_req *req);
/* Checks a body that a write route (/process, /register, /forward) is about
 * to copy into a store write: answers non-UTF-8 (400), empty (200, nothing to
 * do, as keriox) and oversized (413) bodies itself and returns false then;
 * true with *body and *len set when the caller goes on. */
bool kd_wit_write_body(struct kd_http_req *req, const unsigned char **body, size_t *len);
/* Answers a write route after its store write completed: the store's error,
 * the keriox error body the write recorded (failed: 500 + err), or 200 empty. */
void kd_wit_answer_write(struct kd_http_req *req, const char *route, enum kd_err result,
                         bool failed, const char *err, size_t err_len);
/* Whether the n bytes at s are a plausible qb64 identifier: 1..KD_KEL_ID_MAX
 * characters of the base64url alphabet (what may name a mailbox, a topic or
 * a query parameter's identifier before it is looked up). */
bool kd_wit_qb64_id(const char *s, size_t n);
/* Records body as the JSON error answer of a write (into err, cap bytes,
 * truncated to fit; *len, *failed set) and returns KD_EINVAL, which stops
 * the CESR split of the body. */
enum kd_err kd_wit_err_record(char *err, size_t cap, size_t *len, bool *failed, const char *body);
/* Likewise with {"<outer>":{"<inner>":"<text JSON-escaped>"}}. */
enum kd_err kd_wit_err_record2(char *err, size_t cap, size_t *len, bool *failed, const char *outer,
                               const char *inner, const char *text);
/* Appends the -C## couples group "-CAB" + prefix + sig to out. */
enum kd_err kd_wit_append_cab(struct kd_buf *out, const char *prefix, const char *sig);

/* ---- replay.c ---- */

/* Appends prefix's stored event at position ev (raw bytes) and its
 * attachments in keriox's replay form: [-GAB seal] -A## sigs, then one -CAB
 * group per receipt entry (own and other witnesses' signatures). With
 * with_rct, an rct carrying the receipt entries follows when there are any
 * (range answers; never an rct without attachment). */
enum kd_err kd_wit_replay_event(struct kd_store_rd *rd, const struct kd_store_event *ev,
                                bool with_rct, struct kd_buf *out);
/* Appends prefix's whole KEL in first-seen order (nothing if unknown). */
enum kd_err kd_wit_replay_kel(struct kd_store_rd *rd, const char *prefix, struct kd_buf *out);

/* ---- process.c ---- */
void kd_wit_process(struct kd_http_req *req, void *ctx);

/* ---- query.c ---- */
void kd_wit_query(struct kd_http_req *req, void *ctx);

struct kd_cesr_attachments;

/* What a query's signature group says (kd_wit_query_sig_check). */
enum kd_wit_sig_verdict {
    KD_WIT_SIG_OK,      /* verified */
    KD_WIT_SIG_MISSING, /* no -H or -C group */
    KD_WIT_SIG_INVALID, /* malformed, wrong key type, bad signature, threshold not met */
    KD_WIT_SIG_UNKNOWN, /* -H signer without a KEL here */
};
/* Checks the last -H (transferable: the signer's current keys and
 * threshold) or -C (non-transferable Ed25519 couple) group of att over the
 * received body. signer (KD_KEL_ID_MAX + 1 bytes) gets the signer's prefix
 * ("" when the group does not decode). KD_OK with *verdict set, or a store
 * or memory error. */
enum kd_err kd_wit_query_sig_check(struct kd_store_rd *rd, const struct kd_cesr_attachments *att,
                                   const unsigned char *body, size_t len,
                                   enum kd_wit_sig_verdict *verdict, char *signer);

/* ---- forward.c ---- */
void kd_wit_forward(struct kd_http_req *req, void *ctx);

/* ---- register.c ---- */
void kd_wit_register(struct kd_http_req *req, void *ctx);

/* ---- oobi.c ---- */

/* Loads the own loc-scheme reply from the store, or (first start, or
 * public_url changed) builds, signs and stores a new one whose dt is newer
 * than any served before. Start-up only (blocks on the store). */
enum kd_err kd_wit_loc_init(struct kd_role_instance *ri);
void kd_wit_oobi_eid(struct kd_http_req *req, void *ctx);
void kd_wit_oobi_role(struct kd_http_req *req, void *ctx);

/* ---- keripy.c, keripy_oobi.c: the keripy surface (keripy-surface.md §2-4, §6) ---- */
void kd_wit_keripy_post(struct kd_http_req *req, void *ctx); /* POST / */
void kd_wit_keripy_put(struct kd_http_req *req, void *ctx);  /* PUT / */

/* ---- sse.c: the keripy mailbox read as server-sent events (§5) ---- */

/* Answers req, a keripy POST / whose body msg (msg_len bytes, already framed
 * and checked as one qry with r "mbx") came with the attachment text atc
 * (the CESR-ATTACHMENT header): verifies the query's signature, then streams
 * the requested topics of q.i from the requested ordinals as
 * text/event-stream, flushing new messages as they are stored. */
void kd_wit_mbx_sse(struct kd_http_req *req, struct kd_role_instance *ri, const unsigned char *msg,
                    size_t msg_len, const char *atc, size_t atc_len);
/* Loop thread: a write that may have appended mailbox messages committed;
 * open streams look for new messages now. Cheap when no stream is open. */
void kd_wit_mbx_kick(struct kd_role_instance *ri);
/* Role init (after ri->state is set): the stream hub. KD_ENOMEM. */
enum kd_err kd_wit_mbx_init(struct kd_role_instance *ri);
/* Role stop: ends every open stream, refuses new ones, closes the timer. */
void kd_wit_mbx_stop(struct kd_role_instance *ri);
/* Role destroy (the loop has run since kd_wit_mbx_stop): frees the hub. */
void kd_wit_mbx_free(struct kd_role_instance *ri);

/* ---- tel.c: transaction event logs (keriox-surface §1.1, §4.4) ---- */
void kd_wit_process_tel(struct kd_http_req *req, void *ctx); /* POST /process/tel */
void kd_wit_query_tel(struct kd_http_req *req, void *ctx);   /* POST /query/tel */
/* Appends the stored TEL of registry reg (management TEL: vcp/vrt, each with
 * its -GAB anchor), then, when vc is not NULL, the TEL of credential vc
 * (iss/rev/bis/brv with -GAB). Either may be NULL; unknown ids add nothing. */
enum kd_err kd_wit_tel_replay(struct kd_store_rd *rd, const char *reg, const char *vc,
                              struct kd_buf *out);
/* How often the TEL escrow is swept (retries and expiry). */
#define KD_WIT_TEL_SWEEP_INTERVAL_MS 1000u
/* The role's sweep tasks: the TEL escrow sweep. */
extern const struct kd_sweep_task kd_wit_tel_sweeps[];

/* ---- register.c: the reply processing shared by POST /register and the keripy POST / ---- */

struct kd_cesr_msg;
struct kd_event;

/* Largest error body a reply or forward check records. */
#define KD_WIT_REPLY_ERR_MAX 512u

/* One reply check: txn and ev (a scratch event) set by the caller; failed,
 * badsig and err (a JSON error body) set when the reply was refused. */
struct kd_wit_reply {
    struct kd_store_txn *txn;
    struct kd_event *ev;
    bool failed;
    bool badsig; /* refused because a signature does not verify */
    size_t err_len;
    char err[KD_WIT_REPLY_ERR_MAX];
};

/* Writer thread: parses msg as an rpy /loc/scheme or /end/role/add|cut,
 * verifies its signature group over the received bytes (-C of a
 * non-transferable signer, -F against the signer's establishment event
 * here), refuses a stale one (BADA: dt older than the stored record) and
 * stores it with its attachments. A refusal sets c->failed and c->err and
 * returns KD_EINVAL with nothing stored; any other non-KD_OK value is a
 * store or memory failure. */
enum kd_err kd_wit_reply_process(struct kd_wit_reply *c, const struct kd_cesr_msg *msg);

/* ---- forward.c: the keripy /fwd exchange (keripy-surface §7.4) ---- */

/* Writer thread: parses msg into c->ev; it must be a keripy exn with r
 * "/fwd". Verifies the sender's signature group (outside the -L groups) against the
 * sender's KEL here, checks q.pre and q.topic (a leading '/' is dropped),
 * takes e.evt with the attachments of the -L group whose path is -e-evt
 * (they must frame as exactly one CESR message) and appends them to the
 * mailbox "<pre>/<topic>". A refusal sets c->failed and c->err (a JSON
 * error body) and returns KD_EINVAL with nothing stored. */
enum kd_err kd_wit_fwd_keripy(struct kd_wit_reply *c, const struct kd_cesr_msg *msg);

/* ---- keripy.c: JSON checks and the KEL in keripy's clone form ---- */

/* Whether the n bytes at p are exactly one JSON value (RFC 8259, UTF-8,
 * nesting at most 64 deep) with optional surrounding white space. */
bool kd_wit_json_valid(const unsigned char *p, size_t n);
/* Finds member key of the JSON object at p (n bytes, valid JSON): *off and
 * *len get its value's span relative to p. false if absent or not an object. */
bool kd_wit_json_member(const char *p, size_t n, const char *key, size_t *off, size_t *len);
/* Writes us as a keripy Dater: "1AAG" + the ISO-8601 datetime with ':'
 * as 'c', '.' as 'd' and '+' as 'p' (36 chars + NUL). */
void kd_wit_keripy_dater(int64_t us, char out[36 + 1]);
/* Answers req with a falcon-style error {"title":..,"description":..}. */
void kd_wit_keripy_error(struct kd_http_req *req, int status, const char *title, const char *desc);
/* Appends the stored event ev in keripy's clone form (keripy-surface §6.2):
 * body + -V## { -A sigs, -B wigs, -G delegating event couple, -D, -C
 * receipts, -E first-seen fn + datetime }. */
enum kd_err kd_wit_clone_event(struct kd_store_rd *rd, const struct kd_store_event *ev,
                               struct kd_buf *out);
/* Appends prefix's KEL from first-seen ordinal from_fn in clone form
 * (nothing if unknown). */
enum kd_err kd_wit_clone_kel(struct kd_store_rd *rd, const char *prefix, uint64_t from_fn,
                             struct kd_buf *out);
void kd_wit_keripy_receipts_post(struct kd_http_req *req, void *ctx); /* POST /receipts */
void kd_wit_keripy_receipts_get(struct kd_http_req *req, void *ctx);  /* GET /receipts */
void kd_wit_keripy_query_get(struct kd_http_req *req, void *ctx);     /* GET /query */

/* ---- keripy_oobi.c: keripy OOBIs (keripy-surface §6) ---- */

/* Loads or (first start) builds, signs and stores the witness's own keripy
 * OOBI material: its non-transferable icp in clone form and its
 * /end/role/add controller reply, byte-stable across restarts. Start-up
 * only (blocks on the store). */
enum kd_err kd_wit_keripy_oobi_init(struct kd_role_instance *ri);
/* GET /oobi, /oobi/{aid}, /oobi/{aid}/{role}, /oobi/{aid}/{role}/{eid}:
 * the keripy answer whatever the path's parameter count. */
void kd_wit_keripy_oobi(struct kd_http_req *req, void *ctx);
/* Whether a request on a path shared with keriox (GET /oobi/{eid},
 * /oobi/{cid}/{role}/{eid}) gets the keripy answer: no Accept header, or
 * one naming application/json+cesr. */
bool kd_wit_oobi_wants_keripy(const struct kd_http_req *req);

/* ---- extoobi.c: POST /ext/oobi and keripy's demo routes (keripy-surface §2) ---- */

/* OOBI URLs waiting for resolution at most; more are refused with 503. */
#define KD_WIT_EXTOOBI_QUEUE 64u
/* OOBI URLs resolved at the same time. */
#define KD_WIT_EXTOOBI_PARALLEL 4u
/* Role init (after ri->state is set): the resolver. KD_ENOMEM. */
enum kd_err kd_wit_extoobi_init(struct kd_role_instance *ri);
/* Role stop: cancels requests in flight, drops the queue, refuses new URLs. */
void kd_wit_extoobi_stop(struct kd_role_instance *ri);
/* Role destroy: releases the resolver (a store write still outstanding
 * releases it when done). */
void kd_wit_extoobi_free(struct kd_role_instance *ri);
void kd_wit_ext_oobi(struct kd_http_req *req, void *ctx);      /* POST /ext/oobi */
void kd_wit_demo_end_post(struct kd_http_req *req, void *ctx); /* POST /end/{aid}/{role} */
void kd_wit_demo_end_get(struct kd_http_req *req, void *ctx);  /* GET, PUT /end/{aid}/{role} */
void kd_wit_demo_loc(struct kd_http_req *req, void *ctx);      /* GET, PUT /loc */
void kd_wit_demo_admin(struct kd_http_req *req, void *ctx);    /* GET /admin */

#endif
