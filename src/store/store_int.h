/*
 * store/ internals: the statement table, the connection and store structs,
 * and the hooks the module's own tests use. Only src/store/ and
 * tests/unit/test_store.c include this header.
 */
#ifndef KERID_STORE_INT_H
#define KERID_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "kerid/store.h"

/* Which connections prepare a statement: W only the writer, R both. */
#define KD_STMT_W 0
#define KD_STMT_R 1

/* Every SQL statement the store runs after start-up, prepared once per
 * connection at open and found by enum id. X(id, conn, sql) */
#define KD_STORE_STMTS(X)                                                                          \
    X(BEGIN, KD_STMT_W, "BEGIN IMMEDIATE")                                                         \
    X(COMMIT, KD_STMT_W, "COMMIT")                                                                 \
    X(ROLLBACK, KD_STMT_W, "ROLLBACK")                                                             \
    X(SAVEPOINT, KD_STMT_W, "SAVEPOINT kd_write")                                                  \
    X(RELEASE, KD_STMT_W, "RELEASE kd_write")                                                      \
    X(ROLLBACK_TO, KD_STMT_W, "ROLLBACK TO kd_write")                                              \
    X(META_GET, KD_STMT_R, "SELECT value FROM meta WHERE key = ?1")                                \
    X(META_PUT, KD_STMT_W,                                                                         \
      "INSERT INTO meta (key, value) VALUES (?1, ?2) "                                             \
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value")                                    \
    X(META_DEL, KD_STMT_W, "DELETE FROM meta WHERE key = ?1")                                      \
    X(EVENT_NEXT_FN, KD_STMT_W,                                                                    \
      "SELECT coalesce(max(fn) + 1, 0) FROM kel_events WHERE prefix = ?1")                         \
    X(EVENT_ADD, KD_STMT_W,                                                                        \
      "INSERT INTO kel_events (prefix, sn, said, ilk, fn, first_seen_us, raw) "                    \
      "VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6)")                                                       \
    X(EVENT_GET, KD_STMT_R,                                                                        \
      "SELECT prefix, sn, said, ilk, fn, first_seen_us, raw FROM kel_events WHERE said = ?1")      \
    X(EVENT_AT, KD_STMT_R,                                                                         \
      "SELECT prefix, sn, said, ilk, fn, first_seen_us, raw FROM kel_events "                      \
      "WHERE prefix = ?1 AND sn = ?2 ORDER BY fn DESC LIMIT 1")                                    \
    X(KEL_EACH, KD_STMT_R,                                                                         \
      "SELECT prefix, sn, said, ilk, fn, first_seen_us, raw FROM kel_events "                      \
      "WHERE prefix = ?1 AND fn >= ?2 ORDER BY fn LIMIT ?3")                                       \
    X(SIG_ADD, KD_STMT_W,                                                                          \
      "INSERT INTO kel_sigs (said, kind, sig) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")         \
    X(SIG_EACH, KD_STMT_R, "SELECT sig FROM kel_sigs WHERE said = ?1 AND kind = ?2 ORDER BY sig")  \
    X(STATE_PUT, KD_STMT_W,                                                                        \
      "INSERT INTO kel_states (prefix, sn, said, state) VALUES (?1, ?2, ?3, ?4) "                  \
      "ON CONFLICT (prefix) DO UPDATE SET sn = excluded.sn, said = excluded.said, "                \
      "state = excluded.state")                                                                    \
    X(STATE_GET, KD_STMT_R, "SELECT sn, said, state FROM kel_states WHERE prefix = ?1")            \
    X(ESCROW_ADD, KD_STMT_W,                                                                       \
      "INSERT INTO kel_escrows (kind, prefix, sn, said, raw, att, arrived_us, tried_us, dep) "     \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (kind, said, att) DO NOTHING "      \
      "RETURNING id")                                                                              \
    X(ESCROW_FIND, KD_STMT_R,                                                                      \
      "SELECT id FROM kel_escrows WHERE kind = ?1 AND said = ?2 AND att = ?3")                     \
    X(ESCROW_TOUCH, KD_STMT_W, "UPDATE kel_escrows SET tried_us = ?2 WHERE id = ?1")               \
    X(ESCROW_REMOVE, KD_STMT_W, "DELETE FROM kel_escrows WHERE id = ?1")                           \
    X(ESCROW_EXPIRE, KD_STMT_W, "DELETE FROM kel_escrows WHERE kind = ?1 AND arrived_us < ?2")     \
    X(ESCROW_EACH, KD_STMT_R,                                                                      \
      "SELECT id, kind, prefix, sn, said, raw, att, arrived_us, tried_us, dep FROM kel_escrows "   \
      "WHERE kind = ?1 AND id > ?2 ORDER BY id LIMIT ?3")                                          \
    X(ESCROW_COUNT, KD_STMT_R, "SELECT count(*) FROM kel_escrows WHERE kind = ?1")                 \
    X(ESCROW_UPDATE, KD_STMT_W, "UPDATE kel_escrows SET att = ?2, tried_us = ?3 WHERE id = ?1")    \
    X(ESCROW_EACH_SAID, KD_STMT_R,                                                                 \
      "SELECT id, kind, prefix, sn, said, raw, att, arrived_us, tried_us, dep FROM kel_escrows "   \
      "WHERE said = ?1 ORDER BY id")                                                               \
    X(ESCROW_EACH_DEP, KD_STMT_R,                                                                  \
      "SELECT id, kind, prefix, sn, said, raw, att, arrived_us, tried_us, dep FROM kel_escrows "   \
      "WHERE dep = ?1 AND kind = ?2 ORDER BY sn, id LIMIT ?3")                                     \
    X(ESCROW_COUNT_PREFIX, KD_STMT_R,                                                              \
      "SELECT count(*) FROM kel_escrows WHERE prefix = ?1 AND kind = ?2")                          \
    X(EST_PUT, KD_STMT_W,                                                                          \
      "INSERT INTO kel_est_states (said, prefix, sn, fn, state) VALUES (?1, ?2, ?3, ?4, ?5) "      \
      "ON CONFLICT (said) DO UPDATE SET prefix = excluded.prefix, sn = excluded.sn, "              \
      "fn = excluded.fn, state = excluded.state")                                                  \
    X(EST_AT, KD_STMT_R,                                                                           \
      "SELECT said, sn, state FROM kel_est_states WHERE prefix = ?1 AND sn <= ?2 "                 \
      "ORDER BY sn DESC, fn DESC LIMIT 1")                                                         \
    X(EST_GET, KD_STMT_R, "SELECT sn, state FROM kel_est_states WHERE said = ?1")                  \
    X(ANCHOR_PUT, KD_STMT_W,                                                                       \
      "INSERT INTO kel_anchors (said, dsn, dsaid) VALUES (?1, ?2, ?3) "                            \
      "ON CONFLICT (said) DO UPDATE SET dsn = excluded.dsn, dsaid = excluded.dsaid")               \
    X(ANCHOR_GET, KD_STMT_R, "SELECT dsn, dsaid FROM kel_anchors WHERE said = ?1")                 \
    X(SEAL_ADD, KD_STMT_W,                                                                         \
      "INSERT INTO kel_seals (prefix, i, sn, d, said, pos) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "       \
      "ON CONFLICT DO NOTHING")                                                                    \
    X(SEAL_FIND, KD_STMT_R,                                                                        \
      "SELECT said, pos FROM kel_seals WHERE prefix = ?1 AND i = ?2 AND sn = ?3 AND d = ?4 "       \
      "ORDER BY said")                                                                             \
    X(DUP_ADD, KD_STMT_W,                                                                          \
      "INSERT INTO kel_dups (said, prefix, sn, ilk, seen_us, raw, att) "                           \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (said) DO NOTHING")                         \
    X(DUP_COUNT, KD_STMT_R, "SELECT count(*) FROM kel_dups WHERE prefix = ?1")                     \
    X(DUP_EACH, KD_STMT_R,                                                                         \
      "SELECT said, prefix, sn, ilk, seen_us, raw, att FROM kel_dups WHERE prefix = ?1 "           \
      "ORDER BY sn, seen_us")                                                                      \
    X(MBX_APPEND, KD_STMT_W,                                                                       \
      "INSERT INTO mailbox (prefix, topic, idx, message) "                                         \
      "SELECT ?1, ?2, coalesce(max(idx) + 1, 0), ?3 FROM mailbox WHERE prefix = ?1 AND topic = "   \
      "?2 "                                                                                        \
      "RETURNING idx")                                                                             \
    X(MBX_EACH, KD_STMT_R,                                                                         \
      "SELECT idx, message FROM mailbox WHERE prefix = ?1 AND topic = ?2 AND idx >= ?3 "           \
      "ORDER BY idx LIMIT ?4")                                                                     \
    X(LOC_PUT, KD_STMT_W,                                                                          \
      "INSERT OR REPLACE INTO loc_replies (eid, scheme, dt_us, raw, att) "                         \
      "VALUES (?1, ?2, ?3, ?4, ?5)")                                                               \
    X(LOC_DT, KD_STMT_R, "SELECT dt_us FROM loc_replies WHERE eid = ?1 AND scheme = ?2")           \
    X(LOC_EACH, KD_STMT_R, "SELECT raw, att FROM loc_replies WHERE eid = ?1 ORDER BY scheme")      \
    X(END_PUT, KD_STMT_W,                                                                          \
      "INSERT OR REPLACE INTO end_roles (cid, role, eid, active, dt_us, raw, att) "                \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                                       \
    X(END_DT, KD_STMT_R,                                                                           \
      "SELECT dt_us, active FROM end_roles WHERE cid = ?1 AND role = ?2 AND eid = ?3")             \
    X(END_EACH, KD_STMT_R,                                                                         \
      "SELECT raw, att FROM end_roles WHERE cid = ?1 AND role = ?2 AND active = 1 ORDER BY eid")   \
    X(KSN_PUT, KD_STMT_W,                                                                          \
      "INSERT OR REPLACE INTO ksn_replies (aid, signer, sn, dt_us, raw, att) "                     \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                           \
    X(KSN_DT, KD_STMT_R, "SELECT dt_us FROM ksn_replies WHERE aid = ?1 AND signer = ?2")           \
    X(KSN_EACH, KD_STMT_R, "SELECT raw, att FROM ksn_replies WHERE aid = ?1 ORDER BY signer")      \
    KD_STORE_TEL_STMTS(X)

/* The TEL tables' statements (src/store/tel.c). */
#define KD_STORE_TEL_STMTS(X)                                                                      \
    X(TEL_ADD, KD_STMT_W,                                                                          \
      "INSERT INTO tel_events (said, id, sn, ilk, reg, issuer, seal_sn, seal_d, first_seen_us, "   \
      "raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                     \
    X(TEL_AT, KD_STMT_R,                                                                           \
      "SELECT id, sn, said, ilk, reg, issuer, seal_sn, seal_d, first_seen_us, raw "                \
      "FROM tel_events WHERE id = ?1 AND sn = ?2")                                                 \
    X(TEL_LAST, KD_STMT_R,                                                                         \
      "SELECT id, sn, said, ilk, reg, issuer, seal_sn, seal_d, first_seen_us, raw "                \
      "FROM tel_events WHERE id = ?1 ORDER BY sn DESC LIMIT 1")                                    \
    X(TEL_EACH, KD_STMT_R,                                                                         \
      "SELECT id, sn, said, ilk, reg, issuer, seal_sn, seal_d, first_seen_us, raw "                \
      "FROM tel_events WHERE id = ?1 ORDER BY sn")                                                 \
    X(TEL_ESC_ADD, KD_STMT_W,                                                                      \
      "INSERT INTO tel_escrows (kind, id, sn, said, dep, seal_sn, seal_d, raw, arrived_us) "       \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "                                               \
      "ON CONFLICT (said, seal_sn, seal_d) DO NOTHING")                                            \
    X(TEL_ESC_REMOVE, KD_STMT_W, "DELETE FROM tel_escrows WHERE row = ?1")                         \
    X(TEL_ESC_EXPIRE, KD_STMT_W, "DELETE FROM tel_escrows WHERE kind = ?1 AND arrived_us < ?2")    \
    X(TEL_ESC_EACH, KD_STMT_R,                                                                     \
      "SELECT row, kind, id, sn, said, dep, seal_sn, seal_d, raw, arrived_us FROM tel_escrows "    \
      "WHERE row > ?1 ORDER BY row LIMIT ?2")                                                      \
    X(TEL_ESC_EACH_DEP, KD_STMT_R,                                                                 \
      "SELECT row, kind, id, sn, said, dep, seal_sn, seal_d, raw, arrived_us FROM tel_escrows "    \
      "WHERE dep = ?1 ORDER BY sn, row LIMIT ?2")                                                  \
    X(TEL_ESC_COUNT, KD_STMT_R, "SELECT count(*) FROM tel_escrows")                                \
    X(TEL_ESC_COUNT_DEP, KD_STMT_R, "SELECT count(*) FROM tel_escrows WHERE dep = ?1")

enum kd_store_stmt_id {
#define KD_STMT_ENUM_(id, conn, sql) KD_STMT_##id,
    KD_STORE_STMTS(KD_STMT_ENUM_)
#undef KD_STMT_ENUM_
        KD_STMT_COUNT_
};

/* A connection and its statement cache. */
struct kd_store_rd {
    sqlite3 *db;
    sqlite3_stmt *stmt[KD_STMT_COUNT_]; /* NULL where the connection does not prepare it */
    struct kd_store *s;
    bool is_writer; /* the writer's: usable only inside an active write callback */
};

struct kd_store_txn {
    struct kd_store *s;
    bool active; /* set by the writer thread around each write callback */
};

/* One queued write. */
struct kd_store_item {
    struct kd_store_item *next;
    kd_store_write_fn fn;
    kd_store_done_fn done;
    void *arg;
    enum kd_err result;
    bool sync;     /* kd_store_write_sync: alone in its transaction, waited for */
    bool finished; /* sync only: the writer is done with it (under mu) */
};

struct kd_store_counters {
    _Atomic uint64_t commits;
    _Atomic uint64_t commit_failures;
    _Atomic uint64_t writes_committed;
    _Atomic uint64_t writes_failed;
    _Atomic uint64_t queue_depth;
    _Atomic uint64_t batch_bucket[KD_STORE_BATCH_BUCKETS];
    _Atomic uint64_t batch_size_sum;
    _Atomic uint64_t commit_us_sum;
};

struct kd_store {
    struct kd_store_rd writer; /* writer thread (host only before start / after join) */
    struct kd_store_rd reader; /* host thread, read-only */
    struct kd_store_txn txn;
    uint64_t epoch; /* writer thread: see kd_store_txn_epoch */
    unsigned batch_max;
    unsigned queue_max;
    void (*wake)(void *arg);
    void *wake_arg;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* queue not empty, or stopping */
    pthread_cond_t cv_sync; /* a sync item finished */
    /* under mu: */
    struct kd_store_item *q_head, *q_tail; /* waiting for the writer */
    struct kd_store_item *d_head, *d_tail; /* committed, waiting for kd_store_drain */
    unsigned inflight;                     /* submitted, done not yet run */
    bool stopping;

    struct kd_store_counters ctr;
};

/* ---- store.c ---- */

/* The store whose writer runs on this thread, else NULL. */
extern _Thread_local const struct kd_store *kd_store_tls_writer;

/* Whether txn may be used here and now: on its writer thread, inside a write callback. */
bool kd_store_txn_usable(const struct kd_store_txn *txn);
/* Whether rd may be used here and now: the writer's inside a write callback,
 * the reader anywhere but on the writer thread. */
bool kd_store_rd_usable(const struct kd_store_rd *rd);

/* ---- tables.c: SQL helpers shared by the table files (tables.c, tel.c) ---- */

/* The error for a failed step or bind; logs what is not an expected outcome. */
enum kd_err kd_sql_fail(const struct kd_store_rd *rd, sqlite3_stmt *st, int rc);
/* Takes rd's statement id if rd may be used here and the statement is not
 * already running (re-entry from an iteration callback). */
enum kd_err kd_sql_stmt(struct kd_store_rd *rd, enum kd_store_stmt_id id, sqlite3_stmt **out);
/* The writer statement id, inside an active write callback. */
enum kd_err kd_sql_wstmt(struct kd_store_txn *txn, enum kd_store_stmt_id id, sqlite3_stmt **out);
/* Resets st and clears its bindings; NULL is ignored. */
void kd_sql_end(sqlite3_stmt *st);
/* Length of s if it is 1..max bytes, else 0. */
size_t kd_sql_len(const char *s, size_t max);
/* Length of a qb64 identifier of 1..max base64url characters, else 0. */
size_t kd_sql_qb64_len(const char *s, size_t max);
/* Whether s is three lowercase letters (an ilk). */
bool kd_sql_ilk_ok(const char *s);
int kd_sql_bind_text(sqlite3_stmt *st, int i, const char *s, size_t n);
/* A zero-length blob is bound as an empty blob, never as NULL. */
int kd_sql_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Text column i of 1..max bytes (its length in *len unless NULL); NULL if not. */
const char *kd_sql_col_text(sqlite3_stmt *st, int i, size_t max, size_t *len);
/* Blob column i of at most max bytes (an empty blob gives a non-NULL
 * pointer); NULL if it is not a blob. */
const uint8_t *kd_sql_col_blob(sqlite3_stmt *st, int i, size_t max, size_t *len);
/* Unsigned integer column i; false if it is not a non-negative integer. */
bool kd_sql_col_u64(sqlite3_stmt *st, int i, uint64_t *out);
/* Logs a row of table with an unexpected type or size; KD_ESTORE. */
enum kd_err kd_sql_corrupt(const char *table);

/* ---- schema.c ---- */

/* The migrations, in order; kd_store_migrations_count of them. */
extern const char *const kd_store_migrations[];
extern const unsigned kd_store_migrations_count;

/* Refuses (KD_ESTORE, one log line naming path) a file that is not a SQLite
 * database, is another application's, or whose user_version is above known.
 * Reads only. */
enum kd_err kd_store_schema_check(sqlite3 *db, const char *path, unsigned known);
/* Applies scripts[user_version .. n-1], each with its user_version bump in its
 * own BEGIN IMMEDIATE transaction; a failing one is rolled back whole and
 * KD_ESTORE returned (earlier ones stay applied). */
enum kd_err kd_store_schema_migrate(sqlite3 *db, const char *path, const char *const *scripts,
                                    unsigned n);

/* ---- tables.c ---- */

/* Maps a SQLite result code to an error value (constraints to
 * KD_EEXIST / KD_ENOTFOUND / KD_EINVAL, SQLITE_NOMEM to KD_ENOMEM, the rest
 * to KD_ESTORE). */
enum kd_err kd_store_sqlite_err(int rc);

/* ---- test hooks (tests/unit/test_store.c) ---- */

/* The writer connection of an active transaction, for raw SQL in tests. */
sqlite3 *kd_store_test_txn_db(struct kd_store_txn *txn);

#endif
