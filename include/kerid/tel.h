/*
 * Transaction event logs (TEL): credential registries and the issuance
 * state of credentials, anchored in their issuer's KEL (keriox-surface
 * §1.1, §4.4; keriox support/teliox; keripy keri/vdr/eventing.py).
 *
 * Six event types: a registry's management TEL (vcp inception, vrt backer
 * rotation, under the registry prefix) and a credential's TEL (iss/rev for
 * registries without backers, bis/brv with a registry anchor `ra`, under
 * the credential SAID). Every event travels with a -GAB source seal: the sn
 * and SAID of the issuer's KEL event whose `a` holds the event seal
 * {i, s, d} of this TEL event.
 *
 * Parsing (kd_tel_parse) is strict: JSON only, canonical (kel/'s reader),
 * the version string's size equal to the body, exactly the fields of one
 * of the two field orders in use (keripy's and keriox's differ for vcp,
 * vrt and bis), qb64 primitives of the right class, canonical hex numbers,
 * the SAID d verified, and for vcp the registry prefix i verified by
 * either derivation: keripy's (i == d, both dummied for the digest) or
 * keriox's (the digest of the "dummy event" {v,i,s,ii,c,bt,b}).
 *
 * Processing (kd_tel_process and friends) validates against the store:
 * where keripy and keriox agree the rule is enforced; where they differ
 * the rule that keeps both clients working is taken (bis/brv are accepted
 * in a registry configured NB, as keriox clients send them; iss/rev need
 * an NB registry, as keripy says; the anchoring KEL event may be any event
 * with the seal in its `a`, not only an ixn). Events that wait for their
 * registry, their predecessor or their anchoring KEL event are escrowed
 * (struct kd_store_tel_escrow) and retried when what they wait for is
 * stored, or by the sweep.
 *
 * Pure: cesr, crypto, kel's event parser and reader and the store
 * *interface*; never uv, llhttp or sqlite.
 */
#ifndef KERID_TEL_H
#define KERID_TEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/cesr_stream.h"
#include "kerid/err.h"
#include "kerid/event.h"
#include "kerid/store.h"

#define KD_TEL_ID_MAX      KD_STORE_ID_MAX        /* qb64 identifiers and SAIDs, characters */
#define KD_TEL_MAX_BACKERS KD_EVENT_MAX_WITNESSES /* entries of b, br, ba */
#define KD_TEL_DT_MAX      64                     /* bytes of a dt value */

/* clang-format off */
#define KD_TEL_ILKS(X) \
    X(VCP, "vcp")      \
    X(VRT, "vrt")      \
    X(ISS, "iss")      \
    X(REV, "rev")      \
    X(BIS, "bis")      \
    X(BRV, "brv")
/* clang-format on */

enum kd_tel_ilk {
#define KD_TEL_ILK_ENUM_(e, s) KD_TEL_##e,
    KD_TEL_ILKS(KD_TEL_ILK_ENUM_)
#undef KD_TEL_ILK_ENUM_
        KD_TEL_ILK_COUNT_
};

/* Which field order the body used. */
enum kd_tel_form {
    KD_TEL_FORM_COMMON, /* iss, rev, brv: both implementations agree */
    KD_TEL_FORM_KERIPY, /* vcp v,t,d,i,ii,s,c,bt,b,n; vrt v,t,d,i,p,s,bt,br,ba; bis
                           v,t,d,i,ii,s,ra,dt */
    KD_TEL_FORM_KERIOX, /* vcp v,t,d,i,s,ii,c,bt,b;   vrt v,t,d,i,s,p,ba,br;    bis
                           v,t,d,i,s,ii,ra,dt */
};

/*
 * A parsed TEL event. Strings are NUL-terminated copies ("" when the field
 * is absent); the lists are spans into raw (keep the body alive).
 */
struct kd_tel_event {
    const uint8_t *raw; /* the body (not owned) */
    uint32_t size;
    enum kd_tel_ilk ilk;
    enum kd_tel_form form;
    kd_sn_t sn;
    char said[KD_TEL_ID_MAX + 1]; /* d */
    char id[KD_TEL_ID_MAX + 1];   /* i: registry prefix (vcp, vrt) or credential SAID */
    /* the registry: i (vcp, vrt), ri (iss, rev), ra.i (bis, brv) */
    char reg[KD_TEL_ID_MAX + 1];
    char ii[KD_TEL_ID_MAX + 1]; /* vcp: the issuer; bis: the issuer (keriox) or registry (keripy) */
    char prior[KD_TEL_ID_MAX + 1]; /* p (vrt, rev, brv) */
    kd_sn_t ra_sn;                 /* bis, brv: ra.s */
    char ra_d[KD_TEL_ID_MAX + 1];  /* bis, brv: ra.d */
    bool no_backers;               /* vcp: c holds "NB" */
    bool has_bt;                   /* vcp, keripy vrt */
    uint64_t bt;
    struct kd_span d, i, s, c_raw, bt_raw, b_raw, dt;
    struct kd_qb64_list backers; /* vcp b */
    struct kd_qb64_list cuts;    /* vrt br */
    struct kd_qb64_list adds;    /* vrt ba */
};

/* The -GAB source seal: sn and SAID of the anchoring KEL event. */
struct kd_tel_seal {
    kd_sn_t sn;
    char said[KD_TEL_ID_MAX + 1];
};

/* Why a TEL message was refused. X(name, kd_err, message) */
/* clang-format off */
#define KD_TEL_FAULTS(X)                                                                          \
    X(NONE,        KD_OK,       "ok")                                                             \
    X(SEAL,        KD_EBADCESR, "a TEL event needs exactly one -GAB source seal couple")          \
    X(BODY,        KD_EBADJSON, "TEL event body refused")                                         \
    X(DUPLICITOUS, KD_EEXIST,   "a different TEL event is stored at this sequence number")        \
    X(REGISTRY,    KD_EINVAL,   "event does not belong to the registry it names")                 \
    X(ISSUER,      KD_EINVAL,   "ii is neither the registry nor its issuer")                      \
    X(PRIOR,       KD_EINVAL,   "prior event digest does not match")                              \
    X(CONFIG,      KD_EINVAL,   "event type not allowed by the registry configuration")           \
    X(BACKERS,     KD_EINVAL,   "backer cuts, adds or threshold do not fit the backer list")      \
    X(RA,          KD_EINVAL,   "registry anchor ra does not match the management TEL")           \
    X(ANCHOR,      KD_EINVAL,   "the KEL event at the seal's sn does not anchor this TEL event")  \
    X(ESCROW_FULL, KD_EUNAVAIL, "TEL escrow limit reached")
/* clang-format on */

enum kd_tel_fault {
#define KD_TEL_FAULT_ENUM_(name, err, msg) KD_TEL_F_##name,
    KD_TEL_FAULTS(KD_TEL_FAULT_ENUM_)
#undef KD_TEL_FAULT_ENUM_
        KD_TEL_F_COUNT_
};

enum kd_tel_verdict {
    KD_TEL_ACCEPTED,  /* stored now */
    KD_TEL_DUPLICATE, /* this very event is stored already */
    KD_TEL_ESCROWED,  /* kept until what it waits for arrives (res->escrow says what) */
    KD_TEL_REJECTED,  /* invalid: res->fault, res->err, res->why */
};

/* What became of one TEL message. */
struct kd_tel_result {
    enum kd_tel_verdict verdict;
    enum kd_tel_fault fault;   /* REJECTED: why */
    enum kd_err err;           /* REJECTED: the error to answer with */
    const char *why;           /* a static human reason; never NULL */
    struct kd_event_diag diag; /* fault BODY: the parser's diagnosis */
    enum kd_tel_ilk ilk;       /* KD_TEL_ILK_COUNT_ if the body did not parse */
    char id[KD_TEL_ID_MAX + 1];
    char said[KD_TEL_ID_MAX + 1];
    kd_sn_t sn;
    enum kd_store_tel_escrow_kind escrow; /* ESCROWED: which escrow */
    unsigned released;                    /* escrowed events accepted as a consequence */
};

/* Bounds and timeouts (0 takes the default). */
struct kd_tel_opts {
    uint64_t out_of_order_timeout; /* seconds; default KD_TEL_TIMEOUT_DEFAULT */
    uint64_t anchor_timeout;       /* seconds (missing anchor or issuer KEL); same default */
    unsigned escrow_per_dep;       /* escrowed events waiting for one identifier; default 256 */
    uint64_t escrow_rows;          /* escrowed events in all; default 100000 */
    unsigned release_max;          /* escrow rows retried per processed message; default 256 */
};
#define KD_TEL_TIMEOUT_DEFAULT 3600u

/* "vcp", ...; "?" for an invalid value. */
const char *kd_tel_ilk_name(enum kd_tel_ilk ilk);
/* The error value, message and name of a fault. */
enum kd_err kd_tel_fault_err(enum kd_tel_fault f);
const char *kd_tel_fault_message(enum kd_tel_fault f);
const char *kd_tel_fault_name(enum kd_tel_fault f);

/*
 * Parses one TEL body (len bytes, exactly the body) with every check listed
 * at the top of this file, the SAID and the vcp registry prefix included.
 * Also the stateless rules: vcp, iss, bis at sn 0; rev, brv at sn 1; vrt at
 * sn >= 1; b, br, ba without duplicates, br and ba disjoint; vcp NB without
 * backers; bt within 0..len(b) (1..len(b) when b is not empty). On success
 * *ev describes the body (ev->raw = body). On failure the kd_err of the
 * fault and *diag (optional) say why; *ev is then unspecified.
 */
enum kd_err kd_tel_parse(struct kd_tel_event *ev, const void *body, size_t len,
                         struct kd_event_diag *diag);

/*
 * Reads the source seal of a TEL message: exactly one attachment group, a
 * -G group holding exactly one couple whose SAID is a digest. KD_EBADCESR
 * otherwise.
 */
enum kd_err kd_tel_seal_get(const struct kd_cesr_attachments *att, struct kd_tel_seal *out);

/*
 * Processes one TEL message (body + -GAB seal) inside txn: parses it, checks
 * it against the registry's management TEL, the credential's TEL and the
 * issuer's KEL stored here, then stores it (ACCEPTED), finds it stored
 * (DUPLICATE), escrows it (ESCROWED) or refuses it (REJECTED, nothing
 * written). After an acceptance the escrowed events that waited for it are
 * retried (at most opts->release_max). now_us is the first-seen and arrival
 * time; opts may be NULL for the defaults. Returns KD_OK whatever the
 * verdict; other values are store or memory failures.
 */
enum kd_err kd_tel_process(struct kd_store_txn *txn, const struct kd_cesr_msg *msg,
                           const struct kd_tel_opts *opts, int64_t now_us,
                           struct kd_tel_result *res);

/* Counts over a whole body. */
struct kd_tel_body_result {
    unsigned messages;
    unsigned verdicts[KD_TEL_REJECTED + 1];
    unsigned released;
    bool rejected;
    struct kd_tel_result first_reject; /* the first REJECTED message */
    struct kd_cesr_error cesr;         /* cesr.code != KD_OK: the body is not CESR there */
};

/*
 * Splits body (len bytes, CESR text) into messages and processes each with
 * kd_tel_process. All or nothing: the first rejected message or CESR error
 * stops the body and the result is KD_EINVAL (KD_EBADCESR for the stream,
 * KD_EUNAVAIL for a full escrow), so that the caller's write rolls back
 * everything the body did; res says which. KD_OK when every message was
 * accepted, a duplicate or escrowed. Store or memory failures as such.
 */
enum kd_err kd_tel_process_body(struct kd_store_txn *txn, const void *body, size_t len,
                                const struct kd_tel_opts *opts, int64_t now_us,
                                struct kd_tel_body_result *res);

/* What one sweep did. */
struct kd_tel_sweep_result {
    uint64_t expired;  /* rows dropped for age */
    unsigned tried;    /* rows retried */
    unsigned released; /* events accepted from the escrow */
    unsigned dropped;  /* rows that turned out invalid, duplicate or stale */
};

/*
 * The TEL escrow sweep: drops rows older than their kind's timeout
 * (measured from their first arrival), then retries at most budget rows
 * with row id > *cursor in row order, advancing *cursor (back to 0 when
 * the end was reached; *more then false). res may be NULL.
 */
enum kd_err kd_tel_sweep(struct kd_store_txn *txn, const struct kd_tel_opts *opts, int64_t now_us,
                         unsigned budget, int64_t *cursor, bool *more,
                         struct kd_tel_sweep_result *res);

#endif
