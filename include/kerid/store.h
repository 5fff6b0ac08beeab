/*
 * The store: one SQLite database file in WAL mode, one writer thread with
 * group commit, one read-only connection for the host (loop) thread, and
 * numbered schema migrations (PRAGMA user_version).
 *
 * Threads. The host thread is the one that calls kd_store_open; every
 * kd_store_* function that takes a struct kd_store * (submit, drain,
 * write_sync, the reads, close) must be called from it, one call at a time.
 * kd_store_stats_get may be called from any thread. Write callbacks run on
 * the writer thread and may use only the struct kd_store_txn they are given
 * (and kd_store_txn_reader of it); done callbacks run on the host thread.
 *
 * Durability. A write's done callback runs only after the transaction that
 * holds it was committed with synchronous=FULL: an answered write survives a
 * crash or power loss. Nothing on the host thread ever waits for fsync,
 * except kd_store_write_sync and kd_store_close, which are for start-up and
 * shutdown.
 *
 * Callers never see SQL: every table has typed functions below. Strings are
 * NUL-terminated and bounded (the KD_STORE_*_MAX limits); over-long or empty
 * input is KD_EINVAL, over-large blobs KD_ETOOLARGE, always checked before
 * anything is written.
 */
#ifndef KERID_STORE_H
#define KERID_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/buf.h"
#include "kerid/err.h"

/* Number of schema migrations this binary knows (PRAGMA user_version after open). */
#define KD_STORE_SCHEMA_VERSION 7
/* PRAGMA application_id of a kerid database ("keri"). */
#define KD_STORE_APPLICATION_ID 0x6b657269

#define KD_STORE_BATCH_MAX_DEFAULT 512u
#define KD_STORE_BATCH_MAX_LIMIT   65536u
#define KD_STORE_QUEUE_MAX_DEFAULT 8192u
#define KD_STORE_QUEUE_MAX_LIMIT   (1u << 22)

#define KD_STORE_KEY_MAX   128u            /* meta keys, bytes */
#define KD_STORE_VALUE_MAX (64u * 1024u)   /* meta values, bytes */
#define KD_STORE_ID_MAX    128u            /* qb64 prefixes and SAIDs, characters */
#define KD_STORE_SIG_MAX   512u            /* one qb64 signature, couple or quadruple */
#define KD_STORE_BLOB_MAX  (1024u * 1024u) /* raw events, attachments, key states */
#define KD_STORE_TOPIC_MAX 32u             /* mailbox topic names, bytes */

struct kd_store;     /* opaque */
struct kd_store_txn; /* opaque; valid only inside a write callback, on the writer thread */
struct kd_store_rd;  /* opaque; a connection to read from (see kd_store_reader) */

struct kd_store_opts {
    unsigned batch_max; /* max writes per transaction; 0 = default, 1..KD_STORE_BATCH_MAX_LIMIT */
    unsigned queue_max; /* max writes submitted and not yet completed (done callback not yet run);
                         * 0 = default, 1..KD_STORE_QUEUE_MAX_LIMIT */
};

/*
 * Opens or creates the database file at path (a file path, not "" nor
 * ":memory:"; its directory must exist; a new file is created owner-only,
 * 0600, as it will hold the roles' seeds). Then it refuses, without writing
 * anything, a file that is not a SQLite database, that belongs to another
 * application (foreign application_id, or tables at user_version 0) or whose
 * user_version is newer than KD_STORE_SCHEMA_VERSION (one clear log line);
 * sets WAL, synchronous=FULL, foreign_keys and a busy timeout; applies the
 * missing migrations, each in its own transaction; prepares every statement;
 * opens the read-only connection; starts the writer thread.
 *
 * wake(wake_arg), if not NULL, is called on the writer thread whenever
 * completions are ready for kd_store_drain (the host does uv_async_send); it
 * must be cheap, thread-safe and stay callable until kd_store_close returns.
 * opts may be NULL for the defaults. On success *out owns the store.
 * Errors: KD_EINVAL (arguments, opts out of range), KD_ESTORE (cannot open,
 * refused, migration failed), KD_ENOMEM, KD_EINTERNAL (thread).
 */
enum kd_err kd_store_open(struct kd_store **out, const char *path, const struct kd_store_opts *opts,
                          void (*wake)(void *arg), void *wake_arg);

/*
 * Stops accepting writes (kd_store_submit then fails with KD_EUNAVAIL, also
 * from done callbacks run here), lets the writer commit everything queued,
 * runs the remaining done callbacks on the calling thread in submission
 * order, checkpoints the WAL into the database file and closes. Host thread;
 * not from a callback. NULL is ignored.
 */
void kd_store_close(struct kd_store *s);

/* Runs on the writer thread inside the batch's transaction, in its own
 * savepoint: KD_OK keeps its changes, any other value rolls back just this
 * write and becomes its result. Must not block on the host thread. */
typedef enum kd_err (*kd_store_write_fn)(struct kd_store_txn *txn, void *arg);
/* Runs on the host thread from kd_store_drain (or kd_store_close) after the
 * commit; result is the write's own error, or KD_ESTORE if its transaction
 * could not be committed. */
typedef void (*kd_store_done_fn)(enum kd_err result, void *arg);

/*
 * Queues one write (host thread). The writer takes up to batch_max queued
 * writes, opens ONE transaction (BEGIN IMMEDIATE), runs each in its own
 * SAVEPOINT, commits once, and only after COMMIT returned hands the
 * completions to kd_store_drain and calls wake. If the transaction fails,
 * every write in it completes with KD_ESTORE. fn must not be NULL; done may
 * be (nothing is called then). arg must stay valid until done ran.
 * Errors: KD_EINVAL, KD_EUNAVAIL (closing, or queue_max writes in flight),
 * KD_ENOMEM. On error nothing is queued and done is never called.
 */
enum kd_err kd_store_submit(struct kd_store *s, kd_store_write_fn fn, kd_store_done_fn done,
                            void *arg);

/* Host thread: runs the done callbacks of committed batches, in submission
 * order. Done callbacks may submit new writes; they must not call
 * kd_store_drain or kd_store_close. Never blocks on the writer's I/O. */
void kd_store_drain(struct kd_store *s);

/*
 * Start-up and tests: runs fn alone in its own transaction on the writer
 * (after everything queued before it) and waits for the commit. Returns fn's
 * result, or KD_ESTORE if the commit failed. Not for request time: it blocks
 * the caller on fsync. Errors: KD_EINVAL (NULL fn, or called from a write
 * callback), KD_EUNAVAIL (closing), KD_ENOMEM.
 */
enum kd_err kd_store_write_sync(struct kd_store *s, kd_store_write_fn fn, void *arg);

/* ---- reading ---- */

/* The host thread's read-only connection. In WAL mode it never waits for the
 * writer: it sees the last committed state. Valid until kd_store_close. */
struct kd_store_rd *kd_store_reader(struct kd_store *s);
/* The writer's connection inside txn: reads see the batch's uncommitted
 * writes. Valid only while txn is. */
struct kd_store_rd *kd_store_txn_reader(struct kd_store_txn *txn);

/* ---- meta: small named values (role identities, own replies) ---- */

/* Replaces out's contents with the value stored under key (reader
 * connection). KD_ENOTFOUND if absent; KD_ETOOLARGE if it exceeds out's bound
 * (out is then empty). */
enum kd_err kd_store_meta_get(struct kd_store *s, const char *key, struct kd_buf *out);
/* Sets key to the n bytes at v (n <= KD_STORE_VALUE_MAX; v may be NULL if n == 0). */
enum kd_err kd_store_meta_put(struct kd_store_txn *txn, const char *key, const void *v, size_t n);
/* Deletes key; KD_ENOTFOUND if it was absent. */
enum kd_err kd_store_meta_del(struct kd_store_txn *txn, const char *key);

/* ---- KEL: accepted events in first-seen order ---- */

/*
 * An event as stored. On input (kd_store_event_add) fn is ignored; on output
 * the pointers are valid as documented by the function that filled it.
 * prefix and said are qb64 (1..KD_STORE_ID_MAX characters of A-Z a-z 0-9 - _),
 * ilk three lower-case letters, sn <= INT64_MAX, raw 1..KD_STORE_BLOB_MAX bytes.
 */
struct kd_store_event {
    const char *prefix;
    uint64_t sn;
    const char *said;
    const char *ilk;
    uint64_t fn; /* first-seen ordinal within prefix, from 0 */
    int64_t first_seen_us;
    const uint8_t *raw;
    size_t raw_len;
};

/* Appends ev to prefix's first-seen log with the next ordinal, returned in
 * *fn (may be NULL). KD_EEXIST if an event with this SAID is stored. */
enum kd_err kd_store_event_add(struct kd_store_txn *txn, const struct kd_store_event *ev,
                               uint64_t *fn);
/* The event with this SAID. out's pointers point into storage (reset first)
 * and stay valid until storage changes. KD_ENOTFOUND if absent. */
enum kd_err kd_store_event_get(struct kd_store_rd *rd, const char *said, struct kd_store_event *out,
                               struct kd_buf *storage);
/* The last first-seen event of prefix at sn (a superseding recovery wins over
 * what it superseded); as kd_store_event_get otherwise. */
enum kd_err kd_store_event_at(struct kd_store_rd *rd, const char *prefix, uint64_t sn,
                              struct kd_store_event *out, struct kd_buf *storage);

/* Iteration callback: ev's pointers are valid only during the call. KD_OK
 * continues; anything else stops the iteration and is returned by it. */
typedef enum kd_err (*kd_store_event_cb)(const struct kd_store_event *ev, void *arg);
/* Calls cb for prefix's events with fn >= from_fn in first-seen order, at
 * most limit of them (0 = no limit). cb must not start another iteration of
 * the same kind on the same rd (KD_EINVAL). */
enum kd_err kd_store_kel_each(struct kd_store_rd *rd, const char *prefix, uint64_t from_fn,
                              unsigned limit, kd_store_event_cb cb, void *arg);

/* ---- KEL: signatures and receipts of accepted events ---- */

enum kd_store_sig_kind {
    KD_STORE_SIG_CONTROLLER, /* indexed controller signature (-A) */
    KD_STORE_SIG_WITNESS,    /* indexed witness signature, "wig" (-B) */
    KD_STORE_SIG_NT_RECEIPT, /* non-transferable receipt couple: prefix + sig (-C) */
    KD_STORE_SIG_T_RECEIPT,  /* transferable receipt quadruple: pre + sn + said + sig (-D) */
    KD_STORE_SIG_KIND_COUNT_
};

/* Records sig (qb64, 1..KD_STORE_SIG_MAX characters) for the stored event
 * said; idempotent: *added (may be NULL) says whether it was new.
 * KD_ENOTFOUND if no such event. */
enum kd_err kd_store_sig_add(struct kd_store_txn *txn, const char *said,
                             enum kd_store_sig_kind kind, const char *sig, bool *added);
/* Calls cb(sig, len, arg) for each signature of that kind, in byte order of
 * the qb64 (indexed signatures thus sort by index). */
typedef enum kd_err (*kd_store_sig_cb)(const char *sig, size_t len, void *arg);
enum kd_err kd_store_sig_each(struct kd_store_rd *rd, const char *said, enum kd_store_sig_kind kind,
                              kd_store_sig_cb cb, void *arg);

/* ---- KEL: key state per prefix ---- */

/* The key state of prefix after its event (sn, said), serialized by kel/
 * (1..KD_STORE_BLOB_MAX bytes); replaces the previous one. KD_ENOTFOUND if
 * said is not a stored event. */
enum kd_err kd_store_state_put(struct kd_store_txn *txn, const char *prefix, uint64_t sn,
                               const char *said, const void *state, size_t n);
/* Reads prefix's key state: *sn, said (NUL-terminated, into said_out of
 * KD_STORE_ID_MAX + 1 bytes) and the serialized state (replaces state's
 * contents). KD_ENOTFOUND if none. */
enum kd_err kd_store_state_get(struct kd_store_rd *rd, const char *prefix, uint64_t *sn,
                               char said_out[KD_STORE_ID_MAX + 1], struct kd_buf *state);

/* ---- KEL: escrows (spec/keri-core.md section 5) ---- */

/* X(enum, metrics/log name) */
#define KD_STORE_ESCROW_KINDS(X)                                                                  \
    X(KD_STORE_ESCROW_OUT_OF_ORDER, "out_of_order")                                               \
    X(KD_STORE_ESCROW_PARTIAL_SIG, "partially_signed")                                            \
    X(KD_STORE_ESCROW_PARTIAL_WIT, "partially_witnessed")                                         \
    X(KD_STORE_ESCROW_PARTIAL_DEL, "partially_delegated")                                         \
    X(KD_STORE_ESCROW_DUPLICITOUS, "likely_duplicitous")                                          \
    X(KD_STORE_ESCROW_UNVERIFIED_WIT_RCT, "unverified_witness_receipts")                          \
    X(KD_STORE_ESCROW_UNVERIFIED_NT_RCT, "unverified_nontrans_receipts")                          \
    X(KD_STORE_ESCROW_UNVERIFIED_T_RCT, "unverified_trans_receipts")                              \
    X(KD_STORE_ESCROW_QUERY_NOT_FOUND, "query_not_found")                                         \
    X(KD_STORE_ESCROW_REPLY, "reply")

enum kd_store_escrow_kind {
#define KD_STORE_ESCROW_ENUM_(e, name) e,
    KD_STORE_ESCROW_KINDS(KD_STORE_ESCROW_ENUM_)
#undef KD_STORE_ESCROW_ENUM_
    KD_STORE_ESCROW_KIND_COUNT_
};

/* One escrowed message: the received body (raw) and its attachment bytes.
 * att may be empty; raw 1..KD_STORE_BLOB_MAX, att 0..KD_STORE_BLOB_MAX bytes. */
struct kd_store_escrow {
    int64_t id; /* assigned by kd_store_escrow_add; ignored on input */
    enum kd_store_escrow_kind kind;
    const char *prefix;
    uint64_t sn;
    const char *said;
    const uint8_t *raw;
    size_t raw_len;
    const uint8_t *att;
    size_t att_len;
    int64_t arrived_us;
    int64_t tried_us;
    /* The identifier whose accepted events may release the row (kel/ retries
     * the rows of dep after accepting an event of dep: the prefix itself for
     * out-of-order events, the delegator for partially delegated ones).
     * NULL or "" on input is stored as ""; on output never NULL. */
    const char *dep;
};

/* Escrows e unless the same (kind, said, attachments) is already there:
 * *added (may be NULL) says which, *id (may be NULL) is the row's id. */
enum kd_err kd_store_escrow_add(struct kd_store_txn *txn, const struct kd_store_escrow *e,
                                bool *added, int64_t *id);
/* Sets the last-tried time of escrow row id; KD_ENOTFOUND if absent. */
enum kd_err kd_store_escrow_touch(struct kd_store_txn *txn, int64_t id, int64_t tried_us);
/* Removes escrow row id; KD_ENOTFOUND if absent. */
enum kd_err kd_store_escrow_remove(struct kd_store_txn *txn, int64_t id);
/* Removes the rows of kind that arrived before before_us; *removed (may be NULL) counts them. */
enum kd_err kd_store_escrow_expire(struct kd_store_txn *txn, enum kd_store_escrow_kind kind,
                                   int64_t before_us, uint64_t *removed);
/* Calls cb for rows of kind with id > after_id, in arrival (id) order, at most
 * limit of them (0 = no limit); paging by the last id seen lets a sweeper
 * work in slices. e's pointers are valid only during the call. */
typedef enum kd_err (*kd_store_escrow_cb)(const struct kd_store_escrow *e, void *arg);
enum kd_err kd_store_escrow_each(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                 int64_t after_id, unsigned limit, kd_store_escrow_cb cb,
                                 void *arg);
/* Number of rows of kind. */
enum kd_err kd_store_escrow_count(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                  uint64_t *n);
/* Replaces the attachments of escrow row id (att_len 0..KD_STORE_BLOB_MAX;
 * att may be NULL when 0) and sets its last-tried time. KD_ENOTFOUND if
 * absent; KD_EEXIST if another row of the same kind and SAID already holds
 * these attachments. */
enum kd_err kd_store_escrow_update(struct kd_store_txn *txn, int64_t id, const void *att,
                                   size_t att_len, int64_t tried_us);
/* Calls cb for every row (of any kind) escrowed under said, in id order. */
enum kd_err kd_store_escrow_each_said(struct kd_store_rd *rd, const char *said,
                                      kd_store_escrow_cb cb, void *arg);
/* Calls cb for at most limit (0 = all) rows of kind whose dep is dep, in
 * (sn, id) order: the order in which they can be released. */
enum kd_err kd_store_escrow_each_dep(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                     const char *dep, unsigned limit, kd_store_escrow_cb cb,
                                     void *arg);
/* Number of rows of kind escrowed for prefix (the bound per identifier). */
enum kd_err kd_store_escrow_count_prefix(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                         const char *prefix, uint64_t *n);

/* ---- KEL: establishment states, delegation anchors, seal index ---- */

/*
 * The key state after the establishment event said (prefix's event at sn,
 * first seen as fn), serialized by kel/ (1..KD_STORE_BLOB_MAX bytes);
 * replaces an earlier one for the same said. Answers "which keys and
 * witnesses were in force at sn" without re-reading the KEL.
 * KD_ENOTFOUND if said is not a stored event.
 */
enum kd_err kd_store_est_state_put(struct kd_store_txn *txn, const char *said, const char *prefix,
                                   uint64_t sn, uint64_t fn, const void *state, size_t n);
/* The state of prefix's establishment event in force at sn: the one with the
 * highest sn <= sn (the last first seen among equals). Its SAID goes to
 * said_out (KD_STORE_ID_MAX + 1 bytes), its sn to *est_sn, the blob
 * replaces state's contents. KD_ENOTFOUND if none. */
enum kd_err kd_store_est_state_at(struct kd_store_rd *rd, const char *prefix, uint64_t sn,
                                  char said_out[KD_STORE_ID_MAX + 1], uint64_t *est_sn,
                                  struct kd_buf *state);
/* The state after establishment event said; *sn (may be NULL) its sn.
 * KD_ENOTFOUND if none. */
enum kd_err kd_store_est_state_get(struct kd_store_rd *rd, const char *said, uint64_t *sn,
                                   struct kd_buf *state);

/* Records the delegating event (delegator's sn dsn, SAID dsaid) that
 * anchors the stored delegated event said; replaces an earlier record.
 * KD_ENOTFOUND if said is not a stored event. */
enum kd_err kd_store_anchor_put(struct kd_store_txn *txn, const char *said, uint64_t dsn,
                                const char *dsaid);
/* Reads the anchor of said into *dsn and dsaid_out (KD_STORE_ID_MAX + 1
 * bytes). KD_ENOTFOUND if none. */
enum kd_err kd_store_anchor_get(struct kd_store_rd *rd, const char *said, uint64_t *dsn,
                                char dsaid_out[KD_STORE_ID_MAX + 1]);

/* Indexes the event seal {i, s: sn, d} found at position pos of the a list
 * of prefix's stored event said (idempotent). KD_ENOTFOUND if said is not
 * a stored event. */
enum kd_err kd_store_seal_add(struct kd_store_txn *txn, const char *prefix, const char *i,
                              uint64_t sn, const char *d, const char *said, unsigned pos);
/* Calls cb(said, pos, arg) for every stored event of prefix that holds the
 * event seal {i, s: sn, d}, in SAID order. */
typedef enum kd_err (*kd_store_seal_cb)(const char *said, unsigned pos, void *arg);
enum kd_err kd_store_seal_find(struct kd_store_rd *rd, const char *prefix, const char *i,
                               uint64_t sn, const char *d, kd_store_seal_cb cb, void *arg);

/* ---- KEL: likely duplicitous events (evidence, never part of a KEL) ---- */

/* A duplicitous event as recorded: prefix, sn, its SAID, ilk, when it was
 * seen, the body and the signatures that verified (attachment text). */
struct kd_store_dup {
    const char *prefix;
    uint64_t sn;
    const char *said;
    const char *ilk;
    int64_t seen_us;
    const uint8_t *raw;
    size_t raw_len;
    const uint8_t *att;
    size_t att_len;
};

/* Records d unless its SAID is recorded already: *added (may be NULL) says
 * which. Bounds as for events (raw 1..KD_STORE_BLOB_MAX, att 0..). */
enum kd_err kd_store_dup_add(struct kd_store_txn *txn, const struct kd_store_dup *d, bool *added);
/* Number of records for prefix. */
enum kd_err kd_store_dup_count(struct kd_store_rd *rd, const char *prefix, uint64_t *n);
/* Calls cb for prefix's records in (sn, seen) order; d's pointers are valid
 * only during the call. */
typedef enum kd_err (*kd_store_dup_cb)(const struct kd_store_dup *d, void *arg);
enum kd_err kd_store_dup_each(struct kd_store_rd *rd, const char *prefix, kd_store_dup_cb cb,
                              void *arg);

/* ---- witness mailboxes (keriox-surface §3.8) ---- */

/*
 * Appends message (1..KD_STORE_BLOB_MAX bytes) to the mailbox topic
 * (1..KD_STORE_TOPIC_MAX printable ASCII bytes, e.g. "receipt") of prefix
 * (qb64). The index is allocated by the same statement that inserts the
 * row, inside the write's transaction, so concurrent appends can never
 * overwrite each other (keriox §7 #14). *idx (may be NULL) gets the new
 * entry's 0-based index. Entries are never removed.
 */
enum kd_err kd_store_mbx_append(struct kd_store_txn *txn, const char *prefix, const char *topic,
                                const void *message, size_t n, uint64_t *idx);

/* Iteration callback: message is valid only during the call. KD_OK
 * continues; anything else stops the iteration and is returned by it. */
typedef enum kd_err (*kd_store_mbx_cb)(uint64_t idx, const uint8_t *message, size_t n, void *arg);

/* Calls cb for the entries of prefix's topic with index >= from_idx, in
 * index order, at most limit of them (0 = no limit). */
enum kd_err kd_store_mbx_each(struct kd_store_rd *rd, const char *prefix, const char *topic,
                              uint64_t from_idx, unsigned limit, kd_store_mbx_cb cb, void *arg);

/* ---- stored replies: location schemes and end roles (keriox-surface §3.3, §3.5) ---- */

/* Identifiers are qb64 (as for events); scheme and role are 1..KD_STORE_TOPIC_MAX
 * printable ASCII bytes; raw is the reply's received body (1..KD_STORE_BLOB_MAX
 * bytes), att its attachment bytes as received (0..KD_STORE_BLOB_MAX; may be
 * NULL when 0). */

/* Stores the loc-scheme reply of (eid, scheme) dated dt_us, replacing the
 * previous one. The caller decides staleness (kd_store_loc_dt). */
enum kd_err kd_store_loc_put(struct kd_store_txn *txn, const char *eid, const char *scheme,
                             int64_t dt_us, const void *raw, size_t raw_len, const void *att,
                             size_t att_len);
/* The dt of the stored loc-scheme reply of (eid, scheme); KD_ENOTFOUND if none. */
enum kd_err kd_store_loc_dt(struct kd_store_rd *rd, const char *eid, const char *scheme,
                            int64_t *dt_us);
/* Reply iteration callback: the pointers are valid only during the call
 * (att_len may be 0). KD_OK continues; anything else stops and is returned. */
typedef enum kd_err (*kd_store_reply_cb)(const uint8_t *raw, size_t raw_len, const uint8_t *att,
                                         size_t att_len, void *arg);
/* Calls cb for each stored loc-scheme reply of eid, in scheme order. */
enum kd_err kd_store_loc_each(struct kd_store_rd *rd, const char *eid, kd_store_reply_cb cb,
                              void *arg);
/* Stores the end-role reply for (cid, role, eid) dated dt_us, replacing the
 * previous one; active says add (true) or cut (false). */
enum kd_err kd_store_end_role_put(struct kd_store_txn *txn, const char *cid, const char *role,
                                  const char *eid, bool active, int64_t dt_us, const void *raw,
                                  size_t raw_len, const void *att, size_t att_len);
/* The dt and state of the stored end-role reply for (cid, role, eid);
 * active may be NULL. KD_ENOTFOUND if none. */
enum kd_err kd_store_end_role_dt(struct kd_store_rd *rd, const char *cid, const char *role,
                                 const char *eid, int64_t *dt_us, bool *active);
/* Key-state notice replies (rpy /ksn/<signer>, keriox-surface §1.1
 * POST /register): the newest one per (aid the notice is about, signer),
 * kept with its received bytes and attachments. Replaces what is stored
 * for (aid, signer). */
enum kd_err kd_store_ksn_put(struct kd_store_txn *txn, const char *aid, const char *signer,
                             uint64_t sn, int64_t dt_us, const void *raw, size_t raw_len,
                             const void *att, size_t att_len);
/* The dt of the stored notice of (aid, signer); KD_ENOTFOUND if none. */
enum kd_err kd_store_ksn_dt(struct kd_store_rd *rd, const char *aid, const char *signer,
                            int64_t *dt_us);
/* Calls cb for every stored notice about aid, in signer order. */
enum kd_err kd_store_ksn_each(struct kd_store_rd *rd, const char *aid, kd_store_reply_cb cb,
                              void *arg);
/* Calls cb for each ACTIVE (added, not cut) end-role reply of (cid, role),
 * in eid order. */
enum kd_err kd_store_end_role_each(struct kd_store_rd *rd, const char *cid, const char *role,
                                   kd_store_reply_cb cb, void *arg);

/* ---- caches over the store ---- */

/*
 * A number that changes whenever writes made through txn's store may have
 * been undone: a write callback that failed (its savepoint rolled back) or
 * a transaction that could not be committed. Numbers of different stores
 * opened by one process never coincide. A writer-thread cache of what
 * write callbacks wrote (kel/ keeps key states) is valid while it stays
 * the same. Writer thread, inside a write callback.
 */
uint64_t kd_store_txn_epoch(const struct kd_store_txn *txn);

/* ---- statistics for /metrics ---- */

/* Batch-size histogram buckets: le 1, 2, 4, ..., 512, then +Inf. */
#define KD_STORE_BATCH_BUCKETS 11

struct kd_store_stats {
    uint64_t commits;          /* transactions committed */
    uint64_t commit_failures;  /* transactions that could not be committed */
    uint64_t writes_committed; /* writes that returned KD_OK and were committed */
    uint64_t writes_failed;    /* writes completed with an error */
    uint64_t queue_depth;      /* writes submitted and not yet completed */
    uint64_t batch_bucket[KD_STORE_BATCH_BUCKETS]; /* committed batches per size bucket
                                                    * (not cumulative): bucket i holds sizes
                                                    * in (2^(i-1), 2^i], the last > 512 */
    uint64_t batch_size_sum;                       /* writes in committed batches */
    uint64_t commit_us_sum; /* microseconds spent in COMMIT (fsync), over `commits` */
};

/* A snapshot of the counters (all zero for a NULL store); any thread. Each
 * counter is read atomically; the set is not one instant. */
void kd_store_stats_get(const struct kd_store *s, struct kd_store_stats *out);
/* Appends the Prometheus text exposition of st (# HELP, # TYPE, samples
 * named kerid_store_*) to out. */
enum kd_err kd_store_stats_render(const struct kd_store_stats *st, struct kd_buf *out);

/* ---- transaction event logs (TEL; keriox-surface §4.4) ---- */

/*
 * A TEL event as stored: the registry's management events (vcp, vrt) under
 * id = the registry prefix, a credential's events (iss, rev, bis, brv) under
 * id = the credential SAID. reg is the registry prefix in both cases, issuer
 * the KEL prefix that anchors the registry; seal_sn and seal_d name the
 * issuer's KEL event that anchors this one (the -GAB source seal). Strings
 * are qb64 as for KEL events, ilk three lower-case letters, sn and seal_sn
 * <= INT64_MAX, raw 1..KD_STORE_BLOB_MAX bytes.
 */
struct kd_store_tel_event {
    const char *id;
    uint64_t sn;
    const char *said;
    const char *ilk;
    const char *reg;
    const char *issuer;
    uint64_t seal_sn;
    const char *seal_d;
    int64_t first_seen_us;
    const uint8_t *raw;
    size_t raw_len;
};

/* Stores ev. KD_EEXIST if an event with its SAID, or another event at
 * (id, sn), is stored already. */
enum kd_err kd_store_tel_add(struct kd_store_txn *txn, const struct kd_store_tel_event *ev);
/* The event of id at sn; out's pointers point into storage (reset first).
 * KD_ENOTFOUND if absent. */
enum kd_err kd_store_tel_at(struct kd_store_rd *rd, const char *id, uint64_t sn,
                            struct kd_store_tel_event *out, struct kd_buf *storage);
/* The event of id with the highest sn, as kd_store_tel_at. */
enum kd_err kd_store_tel_last(struct kd_store_rd *rd, const char *id,
                              struct kd_store_tel_event *out, struct kd_buf *storage);
/* Calls cb for id's events in sn order; ev's pointers are valid only during
 * the call. KD_OK continues; anything else stops and is returned. */
typedef enum kd_err (*kd_store_tel_cb)(const struct kd_store_tel_event *ev, void *arg);
enum kd_err kd_store_tel_each(struct kd_store_rd *rd, const char *id, kd_store_tel_cb cb,
                              void *arg);

/* Why a TEL event waits. X(enum, metrics/log name) */
#define KD_STORE_TEL_ESCROW_KINDS(X)                                                              \
    X(KD_STORE_TEL_ESCROW_OUT_OF_ORDER, "tel_out_of_order")                                       \
    X(KD_STORE_TEL_ESCROW_ANCHOR, "tel_missing_anchor")

enum kd_store_tel_escrow_kind {
#define KD_STORE_TEL_ESCROW_ENUM_(e, name) e,
    KD_STORE_TEL_ESCROW_KINDS(KD_STORE_TEL_ESCROW_ENUM_)
#undef KD_STORE_TEL_ESCROW_ENUM_
        KD_STORE_TEL_ESCROW_KIND_COUNT_
};

/* One escrowed TEL event: its body (raw, 1..KD_STORE_BLOB_MAX bytes) and its
 * source seal (seal_sn, seal_d); id/sn/said as in kd_store_tel_event; dep is
 * the identifier whose new events may release it (the issuer's KEL prefix
 * for a missing anchor, the TEL id for an out-of-order event). */
struct kd_store_tel_escrow {
    int64_t row; /* assigned by kd_store_tel_escrow_add; ignored on input */
    enum kd_store_tel_escrow_kind kind;
    const char *id;
    uint64_t sn;
    const char *said;
    const char *dep;
    uint64_t seal_sn;
    const char *seal_d;
    const uint8_t *raw;
    size_t raw_len;
    int64_t arrived_us;
};

/* Escrows e unless the same (said, seal) is escrowed already (that row is
 * kept as it is): *added (may be NULL) says which. */
enum kd_err kd_store_tel_escrow_add(struct kd_store_txn *txn, const struct kd_store_tel_escrow *e,
                                    bool *added);
/* Removes escrow row; KD_ENOTFOUND if absent. */
enum kd_err kd_store_tel_escrow_remove(struct kd_store_txn *txn, int64_t row);
/* Removes the rows of kind that arrived before before_us; *removed (may be
 * NULL) counts them. */
enum kd_err kd_store_tel_escrow_expire(struct kd_store_txn *txn, enum kd_store_tel_escrow_kind kind,
                                       int64_t before_us, uint64_t *removed);
/* Calls cb for rows with row > after_row, in row order, at most limit of them
 * (0 = no limit). e's pointers are valid only during the call. */
typedef enum kd_err (*kd_store_tel_escrow_cb)(const struct kd_store_tel_escrow *e, void *arg);
enum kd_err kd_store_tel_escrow_each(struct kd_store_rd *rd, int64_t after_row, unsigned limit,
                                     kd_store_tel_escrow_cb cb, void *arg);
/* Calls cb for at most limit (0 = all) rows whose dep is dep, in (sn, row)
 * order: the order in which they can be released. */
enum kd_err kd_store_tel_escrow_each_dep(struct kd_store_rd *rd, const char *dep, unsigned limit,
                                         kd_store_tel_escrow_cb cb, void *arg);
/* Number of escrowed rows (all kinds); dep not NULL: only those of dep. */
enum kd_err kd_store_tel_escrow_count(struct kd_store_rd *rd, const char *dep, uint64_t *n);

#endif
