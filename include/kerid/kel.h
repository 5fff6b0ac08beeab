/*
 * The KEL validation engine: key state per identifier, the validation rules
 * of spec/keri-core.md §4 (keripy Kever / Kevery), receipts (§6), the
 * escrows of §5 and key state notices (keriox-surface §3.7, keri-core §3.3).
 *
 * A witness's or watcher's worth is that it accepts exactly what KERI says
 * is valid, rejects everything else and never changes its first-seen
 * history. Everything here works on one message at a time, inside a store
 * write transaction (struct kd_store_txn, i.e. in a kd_store_write_fn on the
 * store's writer thread), so that an event, its signatures, the new key
 * state, the escrow changes and whatever the caller adds from its accept
 * callback (its own receipt, a mailbox entry) commit together.
 *
 * Signatures are always verified over the received bytes of the body.
 *
 * Threads. A struct kd_kel belongs to the store's writer thread: create it
 * anywhere, then call kd_kel_process, kd_kel_process_body and kd_kel_sweep
 * only from write callbacks of one store (several stores one after the
 * other are fine: the engine notices). The read helpers that take a struct
 * kd_store_rd (kd_kel_state_load, kd_kel_ksn_*, ...) keep no engine state
 * and work with either connection.
 *
 * Caching. The current key state of recently used identifiers is kept in
 * memory (a bounded LRU), so an in-order event costs its signature
 * verifications plus a few hundred nanoseconds of bookkeeping before the
 * store writes. The cache is dropped whenever kd_store_txn_epoch says that
 * writes were rolled back.
 *
 * Return values. The processing functions return KD_OK whenever a verdict
 * was reached, whatever it is (a rejected event is a KD_OK return with
 * res->verdict == KD_KEL_REJECTED and res->err the error to answer with).
 * Any other return (KD_ESTORE, KD_ENOMEM, an error of the accept callback)
 * means the transaction's state is unknown: the write callback must return
 * it, so that its savepoint rolls back.
 */
#ifndef KERID_KEL_H
#define KERID_KEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/buf.h"
#include "kerid/cesr.h"
#include "kerid/cesr_stream.h"
#include "kerid/err.h"
#include "kerid/event.h"
#include "kerid/store.h"

/* Longest qb64 identifier or digest kel/ handles (512-bit digests). */
#define KD_KEL_ID_MAX 88

/* ------------------------------------------------------------------------ */
/* Key state                                                                 */
/* ------------------------------------------------------------------------ */

/* A string of a key state: offset and length of a NUL-terminated string in
 * st->text. */
struct kd_kel_ref {
    uint32_t off;
    uint32_t len;
};

/*
 * The key state of one identifier after its latest accepted event. One
 * allocation (free with kd_kel_state_free); the lists point into it. All
 * strings are qb64 (thresholds: canonical JSON, keripy's `sith` form:
 * "2" or ["1/2","1/2"]).
 */
struct kd_kel_state {
    char prefix[KD_KEL_ID_MAX + 1];
    kd_sn_t sn;                    /* sn of the latest event (after a recovery: the recovery's) */
    uint64_t fn;                   /* its first-seen ordinal */
    int64_t dt_us;                 /* its first-seen time, Unix microseconds */
    enum kd_ilk ilk;               /* its ilk */
    char said[KD_KEL_ID_MAX + 1];  /* its SAID */
    char prior[KD_KEL_ID_MAX + 1]; /* its p; "" for an inception */

    /* the latest establishment event */
    kd_sn_t ee_sn;
    enum kd_ilk ee_ilk;
    char ee_said[KD_KEL_ID_MAX + 1];
    char ee_prior[KD_KEL_ID_MAX + 1]; /* its p ("" for an inception): keriox's ee.d */

    uint32_t traits;                   /* KD_TRAIT_* of the inception's c */
    char delegator[KD_KEL_ID_MAX + 1]; /* di of the dip, "" if not delegated */
    uint64_t bt;                       /* witness threshold (toad) */
    bool kt_weighted, nt_weighted;
    uint64_t kt_num, nt_num;  /* numeric thresholds (0 when weighted) */
    struct kd_kel_ref kt, nt; /* thresholds as canonical JSON */
    uint16_t nkeys, nndigs, nwits, ncuts, nadds;
    const struct kd_kel_ref *keys;        /* k of the latest establishment event */
    const struct kd_kel_ref *ndigs;       /* its n (empty: non-transferable or abandoned) */
    const struct kd_kel_ref *wits;        /* witnesses in force */
    const struct kd_kel_ref *cuts, *adds; /* br, ba of the latest establishment event */
    const uint8_t (*key_raw)[32];         /* Ed25519 public key of keys[i] when key_ok[i] */
    const bool *key_ok;                   /* keys[i] is an Ed25519 key kerid can verify */
    const char *text;
    uint32_t text_len;
};

/* The NUL-terminated string r of st. */
static inline const char *kd_kel_str(const struct kd_kel_state *st, struct kd_kel_ref r)
{
    return st->text + r.off;
}

/* Frees a state; NULL is ignored. */
void kd_kel_state_free(struct kd_kel_state *st);

/*
 * Serializes st into out (replacing its contents) in kerid's versioned
 * binary form, the blob kel/ stores per identifier. Two states are equal
 * exactly when their encodings are byte-equal.
 */
enum kd_err kd_kel_state_encode(const struct kd_kel_state *st, struct kd_buf *out);

/*
 * Decodes a blob written by kd_kel_state_encode. The blob is checked like
 * any input (lengths, qb64 alphabet, thresholds, counts): a damaged blob is
 * KD_ESTORE, never a crash. *out is a new state.
 */
enum kd_err kd_kel_state_decode(const void *blob, size_t n, struct kd_kel_state **out);

/* Reads prefix's current key state from the store. KD_ENOTFOUND if none. */
enum kd_err kd_kel_state_load(struct kd_store_rd *rd, const char *prefix,
                              struct kd_kel_state **out);

/*
 * The key state in force for prefix's event at sn: the state after the
 * latest establishment event at or before sn (so its keys sign an ixn at
 * sn, its witnesses receipt any event at sn). KD_ENOTFOUND if prefix has
 * no establishment event at or before sn.
 */
enum kd_err kd_kel_state_at(struct kd_store_rd *rd, const char *prefix, kd_sn_t sn,
                            struct kd_kel_state **out);

/*
 * Rebuilds prefix's key state from its stored events alone (replayed in
 * first-seen order, recoveries included), without the stored state blobs.
 * The result equals what the engine computed as it accepted the events.
 * KD_ENOTFOUND if the KEL is empty; KD_ESTORE if the stored KEL does not
 * replay (damaged store).
 */
enum kd_err kd_kel_rebuild_state(struct kd_store_rd *rd, const char *prefix,
                                 struct kd_kel_state **out);

/*
 * Whether the stored event said of prefix at sn has at least bt distinct
 * verified witness signatures ("fully witnessed", §4.6), bt and witnesses
 * being those in force at sn. *yes is false for an unknown event.
 */
/*
 * Checks indexed signatures (sigs iterates a -A group, e.g. the nested one of
 * a -H or -F group) over the received bytes body against st's current keys
 * and signing threshold: *satisfied tells whether the verified indices meet
 * kt. Signatures with an index past the keys, a non-Ed25519 code or a bad
 * value are ignored; a malformed one ends the group. Used for what is signed
 * outside key events: queries, replies, exchanges. KD_ENOMEM or KD_OK.
 */
enum kd_err kd_kel_state_verify_sigs(const struct kd_kel_state *st, struct kd_cesr_iter *sigs,
                                     const void *body, size_t n, bool *satisfied);

enum kd_err kd_kel_fully_witnessed(struct kd_store_rd *rd, const char *prefix, kd_sn_t sn,
                                   const char *said, bool *yes);

/* ------------------------------------------------------------------------ */
/* The engine                                                                */
/* ------------------------------------------------------------------------ */

/* Escrow timeouts in seconds (config escrow_config); 0 takes default_timeout,
 * and a zero default_timeout takes KD_KEL_TIMEOUT_DEFAULT. */
struct kd_kel_timeouts {
    uint64_t default_timeout;
    uint64_t out_of_order;        /* out-of-order events */
    uint64_t partially_signed;    /* events short of controller signatures */
    uint64_t partially_witnessed; /* events short of witness receipts (validators) */
    uint64_t delegation;          /* delegated events waiting for their anchor */
    uint64_t receipts;            /* receipts waiting for their event (trans_receipt_timeout) */
};
#define KD_KEL_TIMEOUT_DEFAULT 3600u

/* Bounds (0 takes the default). */
struct kd_kel_limits {
    unsigned cache_states;        /* key states kept in memory; default 4096 */
    unsigned max_sigs;            /* signatures of one kind on one message; default 256 */
    unsigned escrow_per_prefix;   /* escrowed events per identifier and kind; default 64 */
    unsigned receipts_per_prefix; /* escrowed receipts per identifier; default 256 */
    uint64_t escrow_rows;         /* rows of one escrow kind; default 1000000 */
    unsigned dups_per_prefix;     /* duplicity records per identifier; default 64 */
    unsigned release_max;         /* escrow rows retried per processed message; default 256 */
    unsigned delegation_depth;    /* delegation chain climbed by recovery rule C; default 8 */
};

/* An event just accepted (first seen), given to the accept callback. */
struct kd_kel_accepted {
    const struct kd_event *ev; /* the parsed event; ev->raw are its received bytes */
    const char *prefix;
    const char *said;
    kd_sn_t sn;
    enum kd_ilk ilk;
    uint64_t fn;
    int64_t first_seen_us;
    int own_index;                    /* index of one of the node's prefixes in the event's
                                       * witness list, or -1: sign ev->raw and store the wig */
    const char *own_prefix;           /* that prefix, or NULL */
    bool from_escrow;                 /* released from an escrow rather than just received */
    bool superseding;                 /* a recovery that superseded accepted events */
    const struct kd_kel_state *state; /* the new key state */
};

/*
 * Called inside the transaction for every accepted event, right after it and
 * its signatures are stored (so kd_kel_add_wig works): a witness signs
 * a->ev->raw, stores its wig and queues its receipt here. A non-KD_OK value
 * stops processing and is returned by kd_kel_process.
 */
typedef enum kd_err (*kd_kel_accept_fn)(void *arg, struct kd_store_txn *txn,
                                        const struct kd_kel_accepted *a);

/*
 * Called inside the transaction when a message just received (not one
 * retried from an escrow) is escrowed as a new escrow row: res says which
 * escrow and, for a partially delegated event, the delegator (waits_on);
 * msg is the message as received. A non-KD_OK value stops processing and
 * is returned by kd_kel_process.
 */
struct kd_kel_result;
typedef enum kd_err (*kd_kel_escrow_fn)(void *arg, struct kd_store_txn *txn,
                                        const struct kd_cesr_msg *msg,
                                        const struct kd_kel_result *res);

struct kd_kel_opts {
    /* The node's own non-transferable prefixes (its witness/watcher
     * identities). An event whose witness list names one of them is accepted
     * as soon as it is fully signed by its controller, without waiting for
     * other witnesses' receipts (§4.6); the accept callback then gets
     * own_index. */
    const char *const *own_prefixes;
    unsigned nown;
    /* keriox witness behaviour: accept every fully signed event without
     * waiting for witness receipts, whether or not the node is listed. */
    bool witness_any;
    /* dip/drt are accepted only once the delegator's KEL here holds the
     * anchoring seal (else partially delegated escrow), also by the
     * delegate's own witnesses (keriox). false: a witness of the delegate
     * accepts without the anchor (keripy §4.6/§4.7); validators always
     * require it. Default (kd_kel_opts_default) true. */
    bool delegation_requires_anchor;
    struct kd_kel_timeouts timeouts;
    struct kd_kel_limits limits;
    kd_kel_accept_fn on_accept; /* may be NULL */
    kd_kel_escrow_fn on_escrow; /* may be NULL */
    void *accept_arg;           /* the arg of both */
};

/* Fills o with the defaults: no own prefixes, validator behaviour,
 * delegation_requires_anchor true, default timeouts and limits. */
void kd_kel_opts_default(struct kd_kel_opts *o);

struct kd_kel; /* opaque */

/* Creates an engine; copies opts (and the own prefixes). KD_EINVAL for an
 * own prefix that is not a non-transferable Ed25519 prefix. */
enum kd_err kd_kel_new(struct kd_kel **out, const struct kd_kel_opts *opts);
/* Frees an engine; NULL is ignored. */
void kd_kel_free(struct kd_kel *k);

/*
 * Changes opts.delegation_requires_anchor for the kd_kel_process /
 * kd_kel_process_body calls that follow (writer thread only). The witness
 * sets it false around a request of the keripy surface (kli sends the
 * delegate's event to its witnesses before the delegator anchors it, §4.7)
 * and back to true afterwards; escrow sweeps use whatever is set.
 */
void kd_kel_set_delegation_requires_anchor(struct kd_kel *k, bool on);

/* ---- verdicts ---- */

enum kd_kel_verdict {
    KD_KEL_ACCEPTED,    /* first seen now (rct: at least one new receipt stored) */
    KD_KEL_DUPLICATE,   /* already accepted: new valid signatures/receipts merged */
    KD_KEL_ESCROWED,    /* kept in res->escrow until what it lacks arrives */
    KD_KEL_REJECTED,    /* invalid: res->fault, res->err */
    KD_KEL_DUPLICITOUS, /* a different event at an accepted sn: recorded as evidence */
    KD_KEL_SKIPPED,     /* not a key event nor a receipt (qry, rpy, exn): the caller's */
};

/* Why a message was rejected. X(name, kd_err, message) */
/* clang-format off */
#define KD_KEL_FAULTS(X)                                                                          \
    X(NONE,          KD_OK,        "ok")                                                          \
    X(BODY,          KD_EBADJSON,  "message body refused")                                        \
    X(NO_SIGS,       KD_EBADCESR,  "no controller signatures attached")                           \
    X(TOO_MANY_SIGS, KD_ETOOLARGE, "too many signatures attached")                                \
    X(SN_RANGE,      KD_ETOOLARGE, "sequence number beyond 2^63 - 1")                             \
    X(ESTABLISHMENT, KD_EINVAL,    "establishment event breaks a rule of its own")                \
    X(BAD_SIG,       KD_EBADSIG,   "no attached controller signature verifies")                   \
    X(NONTRANS,      KD_EINVAL,    "identifier is non-transferable or abandoned")                 \
    X(EST_ONLY,      KD_EINVAL,    "interaction event on an establishment-only identifier")       \
    X(DELEGATED_ROT, KD_EINVAL,    "delegated identifier rotated with rot instead of drt")        \
    X(NOT_DELEGATED, KD_EINVAL,    "drt on an identifier that is not delegated")                  \
    X(PRIOR,         KD_EINVAL,    "prior event digest does not match")                           \
    X(WITNESSES,     KD_EINVAL,    "witness cuts or adds do not fit the witness list")            \
    X(RECOVERY,      KD_EINVAL,    "not a valid superseding recovery")                            \
    X(DND,           KD_EINVAL,    "delegator does not allow delegation")                         \
    X(RCT_NO_SIGS,   KD_EBADCESR,  "receipt without signatures")                                  \
    X(RCT_STALE,     KD_EINVAL,    "receipt does not match the event at that sequence number")   \
    X(RCT_BAD_SIG,   KD_EBADSIG,   "no receipt signature verifies")                               \
    X(ESCROW_FULL,   KD_EUNAVAIL,  "escrow limit reached for this identifier")
/* clang-format on */

enum kd_kel_fault {
#define KD_KEL_FAULT_ENUM_(name, err, msg) KD_KEL_F_##name,
    KD_KEL_FAULTS(KD_KEL_FAULT_ENUM_)
#undef KD_KEL_FAULT_ENUM_
        KD_KEL_F_COUNT_
};

/* What became of one message. */
struct kd_kel_result {
    enum kd_kel_verdict verdict;
    enum kd_kel_fault fault;   /* REJECTED: why (KD_KEL_F_NONE otherwise) */
    enum kd_err err;           /* REJECTED: the error to answer with; KD_OK otherwise */
    const char *why;           /* a static human reason; never NULL */
    struct kd_event_diag diag; /* fault BODY or ESTABLISHMENT: the parser's diagnosis */
    enum kd_ilk ilk;           /* KD_ILK_COUNT_ if the body did not parse */
    char prefix[KD_KEL_ID_MAX + 1];
    char said[KD_KEL_ID_MAX + 1]; /* rct: the receipted event's SAID */
    kd_sn_t sn;
    enum kd_store_escrow_kind escrow; /* ESCROWED: which escrow */
    char waits_on[KD_KEL_ID_MAX + 1]; /* ESCROWED partially delegated: the delegator */
    bool escrow_added;                /* ESCROWED: a new escrow row, not a repeat */
    uint64_t fn;                      /* ACCEPTED event: first-seen ordinal */
    int64_t first_seen_us;            /* ACCEPTED event: first-seen time */
    int own_index;       /* ACCEPTED/DUPLICATE event: own prefix's witness index, or -1 */
    unsigned sigs_added; /* signatures, wigs and receipts newly stored */
    unsigned bad_sigs;   /* attached signatures that did not verify (dropped) */
    unsigned released;   /* escrowed events accepted as a consequence */
};

/* The error value, human message and name of a fault. */
enum kd_err kd_kel_fault_err(enum kd_kel_fault f);
const char *kd_kel_fault_message(enum kd_kel_fault f);
const char *kd_kel_fault_name(enum kd_kel_fault f);
/* "accepted", "duplicate", ... */
const char *kd_kel_verdict_name(enum kd_kel_verdict v);

/*
 * Processes one message inside txn: a key event (icp rot ixn dip drt) with
 * its attachments (-A controller signatures, -B witness signatures, -C
 * receipt couples, -D transferable receipts, -G delegation seal source;
 * -E first-seen couples are ignored: a witness takes submissions, not
 * clones), or an rct (-C, -B or -F). Any other message is KD_KEL_SKIPPED.
 * now_us is the first-seen and arrival time. Then retries the escrowed
 * events the message may have released (at most limits.release_max; the
 * sweeper does the rest) and calls opts.on_accept for every acceptance.
 */
enum kd_err kd_kel_process(struct kd_kel *k, struct kd_store_txn *txn,
                           const struct kd_cesr_msg *msg, int64_t now_us,
                           struct kd_kel_result *res);

/* Counts over a whole body. */
struct kd_kel_body_result {
    unsigned messages;
    unsigned verdicts[KD_KEL_SKIPPED + 1]; /* messages per verdict */
    unsigned released;
    struct kd_kel_result first_reject; /* the first REJECTED message (verdict REJECTED) */
    bool rejected;
    struct kd_cesr_error cesr; /* cesr.code != KD_OK: the body stopped being CESR there */
    enum kd_err err;           /* KD_OK, the first rejection's err, or the CESR error */
};

/*
 * Splits body (len bytes, CESR text) into messages and processes them in
 * order with kd_kel_process. With stop_on_reject the first rejected message
 * ends the body (keriox: earlier ones stay); else every message is tried.
 * A CESR error ends the body too (res->cesr). lim may be NULL.
 */
enum kd_err kd_kel_process_body(struct kd_kel *k, struct kd_store_txn *txn, const void *body,
                                size_t len, const struct kd_cesr_limits *lim, int64_t now_us,
                                bool stop_on_reject, struct kd_kel_body_result *res);

/* What one sweep did. */
struct kd_kel_sweep_result {
    uint64_t expired[KD_STORE_ESCROW_KIND_COUNT_]; /* rows dropped for age, per kind */
    unsigned tried;                                /* rows retried */
    unsigned released; /* events accepted (and receipts stored) from escrows */
    unsigned dropped;  /* rows that turned out invalid or stale */
};

/*
 * The escrow sweeper's tick (redis serverCron style): drops every escrow row
 * older than its kind's timeout (measured from its first arrival; kerid
 * enforces escrow_config), then retries at most budget rows, paging through
 * each kind by row id from where the previous tick stopped. *more says that
 * rows were left for the next tick. res may be NULL.
 */
enum kd_err kd_kel_sweep(struct kd_kel *k, struct kd_store_txn *txn, int64_t now_us,
                         unsigned budget, bool *more, struct kd_kel_sweep_result *res);

/*
 * Pure validation, without a store: checks an in-order event (msg) against
 * st (NULL: an inception) with every rule that needs no other KEL, and on
 * success gives the next key state in *next (free it). Recoveries,
 * delegation anchors and escrow lookups need the store: such events are
 * reported as ESCROWED (partially delegated) or REJECTED here. The
 * benchmark's "engine only" figure and the fuzz target use it.
 */
enum kd_err kd_kel_validate(struct kd_kel *k, const struct kd_kel_state *st,
                            const struct kd_cesr_msg *msg, int64_t now_us,
                            struct kd_kel_result *res, struct kd_kel_state **next);

/* Engine counters (writer thread; a snapshot). */
struct kd_kel_stats {
    uint64_t accepted, duplicates, escrowed, rejected, duplicitous, skipped;
    uint64_t released, expired, verifies, cache_hits, cache_misses;
};
void kd_kel_stats_get(const struct kd_kel *k, struct kd_kel_stats *out);

/* ------------------------------------------------------------------------ */
/* Receipts the node makes                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Stores a witness signature (wig) for the stored event said: the Ed25519
 * signature sig of its raw bytes by the witness at index (its position in
 * the witness list in force for the event). Encoded as an indexed
 * signature (`A` + index, `2A` from index 64). *added (may be NULL) says
 * whether it was new.
 */
enum kd_err kd_kel_add_wig(struct kd_store_txn *txn, const char *said, unsigned index,
                           const unsigned char sig[64], bool *added);

/*
 * Appends a receipt message to out: the rct body {v,t,d,i,s} for the event
 * (prefix, sn, said) followed by -CAB + witness prefix (qb64, 44 chars) +
 * its `0B` signature of the event (qb64, 88 chars): what a witness returns
 * and puts in the mailbox (keri-core §6.4, keriox-surface §3.4).
 */
enum kd_err kd_kel_receipt_msg(struct kd_buf *out, const char *prefix, kd_sn_t sn, const char *said,
                               const char *wit_prefix, const char *sig_qb64);

/* ------------------------------------------------------------------------ */
/* Key state notices                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Appends to out the body of keriox's key state notice reply (keriox-surface
 * §3.7): rpy {v,t,d,dt,r,a} with r = "/ksn/" + signer and a = the KSN
 * {v,i,s,p,d,f,dt,et,kt,k,nt,n,bt,b,c,ee,di} with keriox's forms: v
 * "KERI10JSON000000_", s decimal, p and et null, f "0", c [], di "" when
 * not delegated, and keriox's ee (after a rotation ee.d is the rotation's
 * prior digest and br/ba hold the added/removed witnesses). rpy_dt_us is
 * the reply's dt, ksn_dt_us the KSN's. SAID and size filled; the caller
 * signs the body and appends -CAB + signer + signature.
 */
enum kd_err kd_kel_ksn_keriox(struct kd_buf *out, const struct kd_kel_state *st, const char *signer,
                              int64_t rpy_dt_us, int64_t ksn_dt_us);

/*
 * Appends keripy's key state notice reply (keri-core §3.3): rpy with
 * r = "/ksn/" + signer and a = {vn,i,s,p,d,f,dt,et,kt,k,nt,n,bt,b,c,ee,di}
 * (s, f, bt, ee.s lowercase hex, dt the first-seen time of the latest
 * event, c the EO/DND traits). rpy_dt_us is the reply's dt.
 */
enum kd_err kd_kel_ksn_keripy(struct kd_buf *out, const struct kd_kel_state *st, const char *signer,
                              int64_t rpy_dt_us);

#endif
