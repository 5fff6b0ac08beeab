/* The schema: numbered migrations (PRAGMA user_version) and the checks that
 * keep kerid from touching a database that is not its own. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "kerid/log.h"

#define KD_STR_(x) #x
#define KD_STR(x)  KD_STR_(x)

/*
 * Migration i (from 0) takes user_version i to i + 1. Never edit an applied
 * migration: add the next one. Each runs inside one transaction together
 * with its user_version bump.
 */
const char *const kd_store_migrations[] = {
    /* 1: generic named values: role identities (seed per role), own replies. */
    "PRAGMA application_id = " KD_STR(KD_STORE_APPLICATION_ID) ";"
                                                               "CREATE TABLE meta ("
                                                               "  key TEXT PRIMARY KEY NOT NULL,"
                                                               "  value BLOB NOT NULL"
                                                               ") WITHOUT ROWID;",

    /* 2: KEL first cut: accepted events in first-seen order, their
     * signatures and receipts, key state per prefix, escrows. */
    "CREATE TABLE kel_events ("
    "  said TEXT PRIMARY KEY NOT NULL,"
    "  prefix TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  ilk TEXT NOT NULL,"
    "  fn INTEGER NOT NULL CHECK (fn >= 0),"
    "  first_seen_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  UNIQUE (prefix, fn)"
    ");"
    "CREATE INDEX kel_events_prefix_sn ON kel_events (prefix, sn, fn);"
    "CREATE TABLE kel_sigs ("
    "  said TEXT NOT NULL REFERENCES kel_events (said) ON DELETE CASCADE,"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),"
    "  sig TEXT NOT NULL,"
    "  PRIMARY KEY (said, kind, sig)"
    ") WITHOUT ROWID;"
    "CREATE TABLE kel_states ("
    "  prefix TEXT PRIMARY KEY NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  said TEXT NOT NULL REFERENCES kel_events (said),"
    "  state BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE kel_escrows ("
    "  id INTEGER PRIMARY KEY,"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 9),"
    "  prefix TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  said TEXT NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  att BLOB NOT NULL,"
    "  arrived_us INTEGER NOT NULL,"
    "  tried_us INTEGER NOT NULL,"
    "  UNIQUE (kind, said, att)"
    ");"
    "CREATE INDEX kel_escrows_kind_id ON kel_escrows (kind, id);"
    "CREATE INDEX kel_escrows_kind_arrived ON kel_escrows (kind, arrived_us);",

    /* 3: the validation engine's lookups: escrow rows by SAID, by identifier
     * and by the identifier that releases them (dep); the key state after
     * each establishment event; delegation anchors of delegated events; an
     * index of the event seals in accepted events (delegation approvals);
     * likely duplicitous events kept as evidence beside the KELs. */
    "ALTER TABLE kel_escrows ADD COLUMN dep TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX kel_escrows_said ON kel_escrows (said, id);"
    "CREATE INDEX kel_escrows_prefix ON kel_escrows (prefix, kind);"
    "CREATE INDEX kel_escrows_dep ON kel_escrows (dep, kind, sn, id);"
    "CREATE TABLE kel_est_states ("
    "  said TEXT PRIMARY KEY NOT NULL REFERENCES kel_events (said) ON DELETE CASCADE,"
    "  prefix TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  fn INTEGER NOT NULL CHECK (fn >= 0),"
    "  state BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX kel_est_states_prefix_sn ON kel_est_states (prefix, sn, fn);"
    "CREATE TABLE kel_anchors ("
    "  said TEXT PRIMARY KEY NOT NULL REFERENCES kel_events (said) ON DELETE CASCADE,"
    "  dsn INTEGER NOT NULL CHECK (dsn >= 0),"
    "  dsaid TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE kel_seals ("
    "  prefix TEXT NOT NULL,"
    "  i TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  d TEXT NOT NULL,"
    "  said TEXT NOT NULL REFERENCES kel_events (said) ON DELETE CASCADE,"
    "  pos INTEGER NOT NULL CHECK (pos >= 0),"
    "  PRIMARY KEY (prefix, i, sn, d, said)"
    ") WITHOUT ROWID;"
    "CREATE TABLE kel_dups ("
    "  said TEXT PRIMARY KEY NOT NULL,"
    "  prefix TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  ilk TEXT NOT NULL,"
    "  seen_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  att BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX kel_dups_prefix ON kel_dups (prefix, sn, seen_us);",

    /* 4: witness mailboxes: one append-only list per (prefix, topic) with
     * 0-based indexes (keriox-surface §3.8); the primary key is the index
     * the reads page through. */
    "CREATE TABLE mailbox ("
    "  prefix TEXT NOT NULL,"
    "  topic TEXT NOT NULL,"
    "  idx INTEGER NOT NULL CHECK (idx >= 0),"
    "  message BLOB NOT NULL,"
    "  PRIMARY KEY (prefix, topic, idx)"
    ") WITHOUT ROWID;",

    /* 5: stored replies (keriox-surface §3.3, §3.5), kept with their received
     * bytes and attachments so that OOBIs serve the original signatures:
     * location-scheme replies per (eid, scheme), end-role replies per
     * (cid, role, eid) with their add (active = 1) or cut state. */
    "CREATE TABLE loc_replies ("
    "  eid TEXT NOT NULL,"
    "  scheme TEXT NOT NULL,"
    "  dt_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  att BLOB NOT NULL,"
    "  PRIMARY KEY (eid, scheme)"
    ") WITHOUT ROWID;"
    "CREATE TABLE end_roles ("
    "  cid TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  eid TEXT NOT NULL,"
    "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    "  dt_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  att BLOB NOT NULL,"
    "  PRIMARY KEY (cid, role, eid)"
    ") WITHOUT ROWID;",

    /* 6: transaction event logs (keriox-surface §4.4): accepted TEL events
     * by (id, sn), id being the registry prefix (vcp, vrt) or the credential
     * SAID (iss, rev, bis, brv), each with its source seal (the issuer's KEL
     * event at seal_sn with SAID seal_d); TEL events waiting for their
     * anchor or their predecessor, released by dep's new events. */
    "CREATE TABLE tel_events ("
    "  said TEXT PRIMARY KEY NOT NULL,"
    "  id TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  ilk TEXT NOT NULL,"
    "  reg TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  seal_sn INTEGER NOT NULL CHECK (seal_sn >= 0),"
    "  seal_d TEXT NOT NULL,"
    "  first_seen_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  UNIQUE (id, sn)"
    ") WITHOUT ROWID;"
    "CREATE TABLE tel_escrows ("
    "  row INTEGER PRIMARY KEY,"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 1),"
    "  id TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  said TEXT NOT NULL,"
    "  dep TEXT NOT NULL,"
    "  seal_sn INTEGER NOT NULL CHECK (seal_sn >= 0),"
    "  seal_d TEXT NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  arrived_us INTEGER NOT NULL,"
    "  UNIQUE (said, seal_sn, seal_d)"
    ");"
    "CREATE INDEX tel_escrows_dep ON tel_escrows (dep, sn, row);"
    "CREATE INDEX tel_escrows_kind_arrived ON tel_escrows (kind, arrived_us);",

    /* 7: key-state notice replies received on POST /register (keriox-surface
     * §1.1): the newest per (aid, signer), with the received bytes. */
    "CREATE TABLE ksn_replies ("
    "  aid TEXT NOT NULL,"
    "  signer TEXT NOT NULL,"
    "  sn INTEGER NOT NULL CHECK (sn >= 0),"
    "  dt_us INTEGER NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  att BLOB NOT NULL,"
    "  PRIMARY KEY (aid, signer)"
    ") WITHOUT ROWID;",
};

const unsigned kd_store_migrations_count =
    (unsigned)(sizeof(kd_store_migrations) / sizeof(kd_store_migrations[0]));

_Static_assert(sizeof(kd_store_migrations) / sizeof(kd_store_migrations[0]) ==
                   KD_STORE_SCHEMA_VERSION,
               "KD_STORE_SCHEMA_VERSION must count the migrations");
_Static_assert(KD_STORE_SIG_KIND_COUNT_ == 4, "kel_sigs CHECK (kind BETWEEN 0 AND 3)");
_Static_assert(KD_STORE_ESCROW_KIND_COUNT_ == 10, "kel_escrows CHECK (kind BETWEEN 0 AND 9)");
_Static_assert(KD_STORE_TEL_ESCROW_KIND_COUNT_ == 2, "tel_escrows CHECK (kind BETWEEN 0 AND 1)");

/* Runs a one-row, one-integer query (a PRAGMA or a count). */
static int kd_store_query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

enum kd_err kd_store_schema_check(sqlite3 *db, const char *path, unsigned known)
{
    int64_t version = 0, app = 0, tables = 0;
    int rc;

    /* Reading the header is the first access: it is where a file that is not
     * a database fails (SQLITE_NOTADB), before anything could be written. */
    rc = kd_store_query_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = kd_store_query_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = kd_store_query_int(db, "SELECT count(*) FROM sqlite_schema", &tables);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot read the database: %s", path, sqlite3_errmsg(db));
        return KD_ESTORE;
    }
    if (app != 0 && app != KD_STORE_APPLICATION_ID) {
        kd_log_error("store", "%s: not a kerid database (application_id %" PRId64 "); refusing it",
                     path, app);
        return KD_ESTORE;
    }
    if (version == 0 && tables != 0) {
        kd_log_error("store",
                     "%s: not a kerid database (tables without a schema version); refusing it",
                     path);
        return KD_ESTORE;
    }
    if (version != 0 && app == 0) {
        kd_log_error("store", "%s: not a kerid database (no kerid application_id); refusing it",
                     path);
        return KD_ESTORE;
    }
    if (version < 0 || (uint64_t)version > known) {
        kd_log_error("store",
                     "%s: schema version %" PRId64 " is newer than this kerid knows (%u); "
                     "refusing to open it (run the kerid that wrote it, or restore a backup)",
                     path, version, known);
        return KD_ESTORE;
    }
    return KD_OK;
}

/* Applies the next migration if there is one; *done says there was none. */
static enum kd_err kd_store_migrate_one(sqlite3 *db, const char *path, const char *const *scripts,
                                        unsigned n, bool *done)
{
    char bump[64];
    char *msg = NULL;
    int64_t version = 0;
    enum kd_err err = KD_ESTORE;
    int rc;

    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot begin a migration: %s", path, msg ? msg : "?");
        goto out;
    }
    /* Read again under the write lock: another process may have migrated. */
    rc = kd_store_query_int(db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot read user_version: %s", path, sqlite3_errmsg(db));
        goto rollback;
    }
    if (version < 0 || (uint64_t)version > n) {
        kd_log_error("store", "%s: schema version %" PRId64 " is newer than this kerid knows (%u)",
                     path, version, n);
        goto rollback;
    }
    if ((uint64_t)version == n) {
        *done = true;
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            kd_log_error("store", "%s: cannot end the schema check: %s", path,
                         msg ? msg : sqlite3_errstr(rc));
            goto rollback;
        }
        err = KD_OK;
        goto out;
    }
    rc = sqlite3_exec(db, scripts[version], NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: migration %" PRId64 " failed: %s", path, version + 1,
                     msg ? msg : sqlite3_errstr(rc));
        goto rollback;
    }
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %" PRId64, version + 1);
    rc = sqlite3_exec(db, bump, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot commit migration %" PRId64 ": %s", path, version + 1,
                     msg ? msg : sqlite3_errstr(rc));
        goto rollback;
    }
    kd_log_info("store", "%s: schema migrated to version %" PRId64, path, version + 1);
    err = KD_OK;
    goto out;
rollback:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_free(msg);
    return err;
}

enum kd_err kd_store_schema_migrate(sqlite3 *db, const char *path, const char *const *scripts,
                                    unsigned n)
{
    bool done = false;
    enum kd_err err = KD_OK;

    while (err == KD_OK && !done)
        err = kd_store_migrate_one(db, path, scripts, n, &done);
    return err;
}
