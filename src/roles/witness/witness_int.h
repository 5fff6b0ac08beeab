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

#endif
