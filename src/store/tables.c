/* Typed access to the tables: the only place where SQL meets values. Every
 * function checks its input, takes its cached statement, and resets it
 * before returning, so that no read ever pins a WAL snapshot. */
#include "store_int.h"

#include <string.h>

#include "kerid/log.h"

/* Bound by SQLite's own int-sized lengths as well as by ours. */
_Static_assert(KD_STORE_BLOB_MAX < 0x7fffffff, "blob lengths fit an int");

enum kd_err kd_store_sqlite_err(int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return KD_OK;
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return KD_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return KD_ENOTFOUND;
    case SQLITE_NOMEM:
        return KD_ENOMEM;
    case SQLITE_TOOBIG:
        return KD_ETOOLARGE;
    default:
        return (rc & 0xff) == SQLITE_CONSTRAINT ? KD_EINVAL : KD_ESTORE;
    }
}

/* The error for a failed step or bind; logs what is not an expected outcome. */
enum kd_err kd_sql_fail(const struct kd_store_rd *rd, sqlite3_stmt *st, int rc)
{
    enum kd_err err = kd_store_sqlite_err(rc);

    if (err == KD_OK)
        err = KD_ESTORE;
    if (err == KD_ESTORE || err == KD_ENOMEM)
        kd_log_error("store", "\"%.60s\": %s", sqlite3_sql(st), sqlite3_errmsg(rd->db));
    return err;
}

/* Takes rd's statement id if rd may be used here and the statement is not
 * already running (re-entry from an iteration callback). */
enum kd_err kd_sql_stmt(struct kd_store_rd *rd, enum kd_store_stmt_id id, sqlite3_stmt **out)
{
    *out = NULL;
    if (!kd_store_rd_usable(rd) || rd->stmt[id] == NULL || sqlite3_stmt_busy(rd->stmt[id]))
        return KD_EINVAL;
    *out = rd->stmt[id];
    return KD_OK;
}

/* The writer statement id, inside an active write callback. */
enum kd_err kd_sql_wstmt(struct kd_store_txn *txn, enum kd_store_stmt_id id, sqlite3_stmt **out)
{
    *out = NULL;
    if (!kd_store_txn_usable(txn))
        return KD_EINVAL;
    return kd_sql_stmt(&txn->s->writer, id, out);
}

void kd_sql_end(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Length of s if it is 1..max bytes, else 0. */
size_t kd_sql_len(const char *s, size_t max)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, max + 1);
    return n <= max ? n : 0;
}

/* Length of a qb64 identifier of 1..max characters of the base64url alphabet, else 0. */
size_t kd_sql_qb64_len(const char *s, size_t max)
{
    size_t n = kd_sql_len(s, max);

    for (size_t i = 0; i < n; i++) {
        const char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n;
}

bool kd_sql_ilk_ok(const char *s)
{
    if (kd_sql_len(s, 3) != 3)
        return false;
    for (unsigned i = 0; i < 3; i++) {
        if (s[i] < 'a' || s[i] > 'z')
            return false;
    }
    return true;
}

int kd_sql_bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
    return sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* A zero-length blob is bound as an empty blob, never as NULL. */
int kd_sql_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    return sqlite3_bind_blob(st, i, n > 0 ? p : "", (int)n, SQLITE_STATIC);
}

/* LIMIT for "at most limit rows, 0 = all". */
static int kd_store_bind_limit(sqlite3_stmt *st, int i, unsigned limit)
{
    return sqlite3_bind_int64(st, i, limit == 0 ? -1 : (sqlite3_int64)limit);
}

/* Steps a statement that answers no row and must run to completion. */
static enum kd_err kd_store_exec(const struct kd_store_rd *rd, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    return rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
}

/* Text column i; NULL (and the row treated as corrupt) if it is not text. */
const char *kd_sql_col_text(sqlite3_stmt *st, int i, size_t max, size_t *len)
{
    const unsigned char *p;
    int n;

    if (sqlite3_column_type(st, i) != SQLITE_TEXT)
        return NULL;
    p = sqlite3_column_text(st, i);
    n = sqlite3_column_bytes(st, i);
    if (p == NULL || n <= 0 || (size_t)n > max)
        return NULL;
    if (len != NULL)
        *len = (size_t)n;
    return (const char *)p;
}

/* Blob column i (an empty blob gives a non-NULL pointer); NULL if not a blob. */
const uint8_t *kd_sql_col_blob(sqlite3_stmt *st, int i, size_t max, size_t *len)
{
    const void *p;
    int n;

    if (sqlite3_column_type(st, i) != SQLITE_BLOB)
        return NULL;
    p = sqlite3_column_blob(st, i);
    n = sqlite3_column_bytes(st, i);
    if (n < 0 || (size_t)n > max)
        return NULL;
    *len = (size_t)n;
    return n > 0 ? p : (const uint8_t *)"";
}

/* Unsigned integer column i; false if it is not a non-negative integer. */
bool kd_sql_col_u64(sqlite3_stmt *st, int i, uint64_t *out)
{
    sqlite3_int64 v;

    if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
        return false;
    v = sqlite3_column_int64(st, i);
    if (v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

enum kd_err kd_sql_corrupt(const char *table)
{
    kd_log_error("store", "%s: a row has an unexpected type or size", table);
    return KD_ESTORE;
}

/* One statement parameter, bound in order from ?1. */
struct kd_store_arg {
    enum { KD_ARG_TEXT, KD_ARG_BLOB, KD_ARG_INT, KD_ARG_INT64, KD_ARG_LIMIT } type;
    const void *p;
    size_t n;
    sqlite3_int64 v;
};

#define KD_TEXT(s, n)                                                                              \
    {                                                                                              \
        KD_ARG_TEXT, (s), (n), 0                                                                   \
    }
#define KD_BLOB(p, n)                                                                              \
    {                                                                                              \
        KD_ARG_BLOB, (p), (n), 0                                                                   \
    }
#define KD_INT(v)                                                                                  \
    {                                                                                              \
        KD_ARG_INT, NULL, 0, (sqlite3_int64)(v)                                                    \
    }
#define KD_I64(v)                                                                                  \
    {                                                                                              \
        KD_ARG_INT64, NULL, 0, (sqlite3_int64)(v)                                                  \
    }
#define KD_LIMIT(l)                                                                                \
    {                                                                                              \
        KD_ARG_LIMIT, NULL, 0, (sqlite3_int64)(l)                                                  \
    }
/* An argument array and its length, for the helpers below. */
#define KD_ARGS(...)                                                                               \
    (const struct kd_store_arg[]){__VA_ARGS__},                                                    \
        sizeof((const struct kd_store_arg[]){__VA_ARGS__}) / sizeof(struct kd_store_arg)

/* Binds a[0..n-1] to ?1..?n, stopping at the first failure; a SQLite code. */
static int kd_store_bind(sqlite3_stmt *st, const struct kd_store_arg *a, size_t n)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        const int k = (int)i + 1;

        switch (a[i].type) {
        case KD_ARG_TEXT:
            rc = kd_sql_bind_text(st, k, a[i].p, a[i].n);
            break;
        case KD_ARG_BLOB:
            rc = kd_sql_bind_blob(st, k, a[i].p, a[i].n);
            break;
        case KD_ARG_INT:
            rc = sqlite3_bind_int(st, k, (int)a[i].v);
            break;
        case KD_ARG_INT64:
            rc = sqlite3_bind_int64(st, k, a[i].v);
            break;
        case KD_ARG_LIMIT:
            rc = kd_store_bind_limit(st, k, (unsigned)a[i].v);
            break;
        }
    }
    return rc;
}

/* Runs writer statement id with a bound, to completion; *changes (if not
 * NULL) gets the rows it changed when it succeeds. */
static enum kd_err kd_store_write1(struct kd_store_txn *txn, enum kd_store_stmt_id id, int *changes,
                                   const struct kd_store_arg *a, size_t n)
{
    sqlite3_stmt *st = NULL;
    enum kd_err err;
    int rc;

    if ((err = kd_sql_wstmt(txn, id, &st)) != KD_OK)
        return err;
    rc = kd_store_bind(st, a, n);
    err =
        rc == SQLITE_OK ? kd_store_exec(&txn->s->writer, st) : kd_sql_fail(&txn->s->writer, st, rc);
    if (err == KD_OK && changes != NULL)
        *changes = sqlite3_changes(txn->s->writer.db);
    kd_sql_end(st);
    return err;
}

/* Binds a to st and steps it once: KD_OK with a row ready, KD_ENOTFOUND for
 * none, else the failure. The caller ends st. */
static enum kd_err kd_store_row1(struct kd_store_rd *rd, sqlite3_stmt *st,
                                 const struct kd_store_arg *a, size_t n)
{
    int rc = kd_store_bind(st, a, n);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return KD_ENOTFOUND;
    return rc == SQLITE_ROW ? KD_OK : kd_sql_fail(rd, st, rc);
}

/* Takes rd's statement id into *st and runs kd_store_row1 on it. The
 * caller ends *st whatever the answer (it is NULL if it was not taken). */
static enum kd_err kd_store_lookup(struct kd_store_rd *rd, enum kd_store_stmt_id id,
                                   sqlite3_stmt **st, const struct kd_store_arg *a, size_t n)
{
    enum kd_err err = kd_sql_stmt(rd, id, st);

    return err == KD_OK ? kd_store_row1(rd, *st, a, n) : err;
}

/* Binds a to st for an iteration; the failure, if any. */
static enum kd_err kd_store_bind_each(struct kd_store_rd *rd, sqlite3_stmt *st,
                                      const struct kd_store_arg *a, size_t n)
{
    const int rc = kd_store_bind(st, a, n);

    return rc == SQLITE_OK ? KD_OK : kd_sql_fail(rd, st, rc);
}

/* The count(*) of rd's statement id with a bound into *out. */
static enum kd_err kd_store_count(struct kd_store_rd *rd, enum kd_store_stmt_id id,
                                  const char *table, uint64_t *out, const struct kd_store_arg *a,
                                  size_t n)
{
    sqlite3_stmt *st = NULL;
    enum kd_err err;
    int rc;

    if ((err = kd_sql_stmt(rd, id, &st)) != KD_OK)
        return err;
    rc = kd_store_bind(st, a, n);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW || !kd_sql_col_u64(st, 0, out))
        err = rc == SQLITE_ROW ? kd_sql_corrupt(table) : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

/* ---- meta ---- */

enum kd_err kd_store_meta_get(struct kd_store *s, const char *key, struct kd_buf *out)
{
    struct kd_store_rd *rd = kd_store_reader(s);
    sqlite3_stmt *st = NULL;
    const uint8_t *v;
    size_t klen = kd_sql_len(key, KD_STORE_KEY_MAX), n;
    enum kd_err err;

    if (klen == 0 || out == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_META_GET, &st)) != KD_OK)
        return err;
    kd_buf_reset(out);
    if ((err = kd_store_row1(rd, st, KD_ARGS(KD_TEXT(key, klen)))) != KD_OK)
        goto out;
    v = kd_sql_col_blob(st, 0, KD_STORE_VALUE_MAX, &n);
    if (v == NULL) {
        err = kd_sql_corrupt("meta");
        goto out;
    }
    err = kd_buf_append(out, v, n);
    if (err != KD_OK)
        kd_buf_reset(out);
out:
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_meta_put(struct kd_store_txn *txn, const char *key, const void *v, size_t n)
{
    size_t klen = kd_sql_len(key, KD_STORE_KEY_MAX);

    if (klen == 0 || (v == NULL && n > 0))
        return KD_EINVAL;
    if (n > KD_STORE_VALUE_MAX)
        return KD_ETOOLARGE;
    return kd_store_write1(txn, KD_STMT_META_PUT, NULL, KD_ARGS(KD_TEXT(key, klen), KD_BLOB(v, n)));
}

enum kd_err kd_store_meta_del(struct kd_store_txn *txn, const char *key)
{
    size_t klen = kd_sql_len(key, KD_STORE_KEY_MAX);
    int changes = 0;
    enum kd_err err;

    if (klen == 0)
        return KD_EINVAL;
    err = kd_store_write1(txn, KD_STMT_META_DEL, &changes, KD_ARGS(KD_TEXT(key, klen)));
    return err == KD_OK && changes == 0 ? KD_ENOTFOUND : err;
}

/* ---- events ---- */

/* Columns: prefix, sn, said, ilk, fn, first_seen_us, raw. Pointers into the row. */
static bool kd_store_row_event(sqlite3_stmt *st, struct kd_store_event *ev)
{
    ev->prefix = kd_sql_col_text(st, 0, KD_STORE_ID_MAX, NULL);
    ev->said = kd_sql_col_text(st, 2, KD_STORE_ID_MAX, NULL);
    ev->ilk = kd_sql_col_text(st, 3, 3, NULL);
    ev->raw = kd_sql_col_blob(st, 6, KD_STORE_BLOB_MAX, &ev->raw_len);
    ev->first_seen_us = sqlite3_column_int64(st, 5);
    return ev->prefix != NULL && ev->said != NULL && ev->ilk != NULL && ev->raw != NULL &&
           kd_sql_col_u64(st, 1, &ev->sn) && kd_sql_col_u64(st, 4, &ev->fn) &&
           sqlite3_column_type(st, 5) == SQLITE_INTEGER;
}

/* Copies ev's strings and raw bytes into storage and points ev at the copies. */
static enum kd_err kd_store_keep_event(struct kd_store_event *ev, struct kd_buf *storage)
{
    const size_t lp = strlen(ev->prefix) + 1, ls = strlen(ev->said) + 1, li = strlen(ev->ilk) + 1;
    enum kd_err err;

    kd_buf_reset(storage);
    if ((err = kd_buf_append(storage, ev->prefix, lp)) != KD_OK ||
        (err = kd_buf_append(storage, ev->said, ls)) != KD_OK ||
        (err = kd_buf_append(storage, ev->ilk, li)) != KD_OK ||
        (err = kd_buf_append(storage, ev->raw, ev->raw_len)) != KD_OK) {
        kd_buf_reset(storage);
        return err;
    }
    /* Point at the copies only now: appending may have moved the storage. */
    ev->prefix = (const char *)storage->data;
    ev->said = ev->prefix + lp;
    ev->ilk = ev->said + ls;
    ev->raw = storage->data + lp + ls + li;
    return KD_OK;
}

/* Steps a statement selecting at most one event row into out/storage. */
static enum kd_err kd_store_one_event(struct kd_store_rd *rd, enum kd_store_stmt_id id,
                                      struct kd_store_event *out, struct kd_buf *storage,
                                      const struct kd_store_arg *a, size_t n)
{
    sqlite3_stmt *st = NULL;
    enum kd_err err = kd_store_lookup(rd, id, &st, a, n);

    if (err == KD_OK)
        err = kd_store_row_event(st, out) ? kd_store_keep_event(out, storage)
                                          : kd_sql_corrupt("kel_events");
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_event_add(struct kd_store_txn *txn, const struct kd_store_event *ev,
                               uint64_t *fn)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_rd *rd;
    size_t lp, ls;
    uint64_t got;
    enum kd_err err;
    int rc;

    if (ev == NULL)
        return KD_EINVAL;
    lp = kd_sql_qb64_len(ev->prefix, KD_STORE_ID_MAX);
    ls = kd_sql_qb64_len(ev->said, KD_STORE_ID_MAX);
    if (lp == 0 || ls == 0 || !kd_sql_ilk_ok(ev->ilk) || ev->sn > INT64_MAX || ev->raw == NULL ||
        ev->raw_len == 0)
        return KD_EINVAL;
    if (ev->raw_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    /* The next ordinal, then a plain INSERT: an INSERT ... SELECT ...
     * RETURNING would build an ephemeral table (a large allocation) for
     * every event. One writer: nothing can come between the two. */
    if ((err = kd_sql_wstmt(txn, KD_STMT_EVENT_NEXT_FN, &st)) != KD_OK)
        return err;
    rd = &txn->s->writer;
    rc = kd_sql_bind_text(st, 1, ev->prefix, lp);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    if (!kd_sql_col_u64(st, 0, &got)) {
        err = kd_sql_corrupt("kel_events");
        goto out;
    }
    kd_sql_end(st);
    if ((err = kd_sql_wstmt(txn, KD_STMT_EVENT_ADD, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, ev->prefix, lp);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)ev->sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 3, ev->said, ls);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 4, ev->ilk, 3);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, ev->first_seen_us);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_blob(st, 6, ev->raw, ev->raw_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 7, (sqlite3_int64)got);
    if (rc != SQLITE_OK) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    if ((err = kd_store_exec(rd, st)) != KD_OK)
        goto out;
    if (fn != NULL)
        *fn = got;
out:
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_event_get(struct kd_store_rd *rd, const char *said, struct kd_store_event *out,
                               struct kd_buf *storage)
{
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);

    if (ls == 0 || out == NULL || storage == NULL)
        return KD_EINVAL;
    return kd_store_one_event(rd, KD_STMT_EVENT_GET, out, storage, KD_ARGS(KD_TEXT(said, ls)));
}

enum kd_err kd_store_event_at(struct kd_store_rd *rd, const char *prefix, uint64_t sn,
                              struct kd_store_event *out, struct kd_buf *storage)
{
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);

    if (lp == 0 || sn > INT64_MAX || out == NULL || storage == NULL)
        return KD_EINVAL;
    return kd_store_one_event(rd, KD_STMT_EVENT_AT, out, storage,
                              KD_ARGS(KD_TEXT(prefix, lp), KD_I64(sn)));
}

enum kd_err kd_store_kel_each(struct kd_store_rd *rd, const char *prefix, uint64_t from_fn,
                              unsigned limit, kd_store_event_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_event ev;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (lp == 0 || cb == NULL)
        return KD_EINVAL;
    if (from_fn > INT64_MAX)
        return KD_OK; /* no ordinal is that large */
    if ((err = kd_sql_stmt(rd, KD_STMT_KEL_EACH, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(
             rd, st, KD_ARGS(KD_TEXT(prefix, lp), KD_I64(from_fn), KD_LIMIT(limit)))) != KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_store_row_event(st, &ev)) {
            err = kd_sql_corrupt("kel_events");
            goto out;
        }
        if ((err = cb(&ev, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

/* ---- signatures ---- */

enum kd_err kd_store_sig_add(struct kd_store_txn *txn, const char *said,
                             enum kd_store_sig_kind kind, const char *sig, bool *added)
{
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);
    size_t lg = kd_sql_qb64_len(sig, KD_STORE_SIG_MAX);
    int changes = 0;
    enum kd_err err;

    if (ls == 0 || lg == 0 || (unsigned)kind >= KD_STORE_SIG_KIND_COUNT_)
        return KD_EINVAL;
    err = kd_store_write1(txn, KD_STMT_SIG_ADD, &changes,
                          KD_ARGS(KD_TEXT(said, ls), KD_INT(kind), KD_TEXT(sig, lg)));
    if (err == KD_OK && added != NULL)
        *added = changes > 0;
    return err;
}

enum kd_err kd_store_sig_each(struct kd_store_rd *rd, const char *said, enum kd_store_sig_kind kind,
                              kd_store_sig_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX), n;
    const char *sig;
    enum kd_err err;
    int rc;

    if (ls == 0 || (unsigned)kind >= KD_STORE_SIG_KIND_COUNT_ || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_SIG_EACH, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(rd, st, KD_ARGS(KD_TEXT(said, ls), KD_INT(kind)))) != KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sig = kd_sql_col_text(st, 0, KD_STORE_SIG_MAX, &n);
        if (sig == NULL) {
            err = kd_sql_corrupt("kel_sigs");
            goto out;
        }
        if ((err = cb(sig, n, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

/* ---- key states ---- */

enum kd_err kd_store_state_put(struct kd_store_txn *txn, const char *prefix, uint64_t sn,
                               const char *said, const void *state, size_t n)
{
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);

    if (lp == 0 || ls == 0 || sn > INT64_MAX || state == NULL || n == 0)
        return KD_EINVAL;
    if (n > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    return kd_store_write1(
        txn, KD_STMT_STATE_PUT, NULL,
        KD_ARGS(KD_TEXT(prefix, lp), KD_I64(sn), KD_TEXT(said, ls), KD_BLOB(state, n)));
}

enum kd_err kd_store_state_get(struct kd_store_rd *rd, const char *prefix, uint64_t *sn,
                               char said_out[KD_STORE_ID_MAX + 1], struct kd_buf *state)
{
    sqlite3_stmt *st = NULL;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX), ls = 0, n;
    const char *said;
    const uint8_t *v;
    uint64_t got;
    enum kd_err err;

    if (lp == 0 || sn == NULL || said_out == NULL || state == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_STATE_GET, &st)) != KD_OK)
        return err;
    kd_buf_reset(state);
    if ((err = kd_store_row1(rd, st, KD_ARGS(KD_TEXT(prefix, lp)))) != KD_OK)
        goto out;
    said = kd_sql_col_text(st, 1, KD_STORE_ID_MAX, &ls);
    v = kd_sql_col_blob(st, 2, KD_STORE_BLOB_MAX, &n);
    if (said == NULL || v == NULL || !kd_sql_col_u64(st, 0, &got)) {
        err = kd_sql_corrupt("kel_states");
        goto out;
    }
    if ((err = kd_buf_append(state, v, n)) != KD_OK) {
        kd_buf_reset(state);
        goto out;
    }
    memcpy(said_out, said, ls);
    said_out[ls] = '\0';
    *sn = got;
out:
    kd_sql_end(st);
    return err;
}

/* ---- escrows ---- */

/* Columns: id, kind, prefix, sn, said, raw, att, arrived_us, tried_us, dep. */
static bool kd_store_row_escrow(sqlite3_stmt *st, struct kd_store_escrow *e)
{
    uint64_t kind;

    /* dep is "" for rows without one: not a qb64 identifier. */
    e->dep = sqlite3_column_type(st, 9) == SQLITE_TEXT &&
                     sqlite3_column_bytes(st, 9) <= (int)KD_STORE_ID_MAX
                 ? (const char *)sqlite3_column_text(st, 9)
                 : NULL;
    e->prefix = kd_sql_col_text(st, 2, KD_STORE_ID_MAX, NULL);
    e->said = kd_sql_col_text(st, 4, KD_STORE_ID_MAX, NULL);
    e->raw = kd_sql_col_blob(st, 5, KD_STORE_BLOB_MAX, &e->raw_len);
    e->att = kd_sql_col_blob(st, 6, KD_STORE_BLOB_MAX, &e->att_len);
    e->id = sqlite3_column_int64(st, 0);
    e->arrived_us = sqlite3_column_int64(st, 7);
    e->tried_us = sqlite3_column_int64(st, 8);
    if (!kd_sql_col_u64(st, 1, &kind) || kind >= KD_STORE_ESCROW_KIND_COUNT_)
        return false;
    e->kind = (enum kd_store_escrow_kind)kind;
    return e->prefix != NULL && e->said != NULL && e->raw != NULL && e->att != NULL &&
           e->dep != NULL && kd_sql_col_u64(st, 3, &e->sn);
}

enum kd_err kd_store_escrow_add(struct kd_store_txn *txn, const struct kd_store_escrow *e,
                                bool *added, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_rd *rd;
    size_t lp, ls, ld = 0;
    sqlite3_int64 got = 0;
    bool fresh = false;
    enum kd_err err;
    int rc;

    if (e == NULL || (unsigned)e->kind >= KD_STORE_ESCROW_KIND_COUNT_)
        return KD_EINVAL;
    lp = kd_sql_qb64_len(e->prefix, KD_STORE_ID_MAX);
    ls = kd_sql_qb64_len(e->said, KD_STORE_ID_MAX);
    if (e->dep != NULL && e->dep[0] != '\0' && (ld = kd_sql_qb64_len(e->dep, KD_STORE_ID_MAX)) == 0)
        return KD_EINVAL;
    if (lp == 0 || ls == 0 || e->sn > INT64_MAX || e->raw == NULL || e->raw_len == 0 ||
        (e->att == NULL && e->att_len > 0))
        return KD_EINVAL;
    if (e->raw_len > KD_STORE_BLOB_MAX || e->att_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    if ((err = kd_sql_wstmt(txn, KD_STMT_ESCROW_ADD, &st)) != KD_OK)
        return err;
    rd = &txn->s->writer;
    rc = sqlite3_bind_int(st, 1, (int)e->kind);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, e->prefix, lp);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)e->sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 4, e->said, ls);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_blob(st, 5, e->raw, e->raw_len);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_blob(st, 6, e->att, e->att_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 7, e->arrived_us);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 8, e->tried_us);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 9, ld > 0 ? e->dep : "", ld);
    if (rc != SQLITE_OK) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fresh = true;
        got = sqlite3_column_int64(st, 0);
        if ((err = kd_store_exec(rd, st)) != KD_OK)
            goto out;
    } else if (rc == SQLITE_DONE) {
        /* Already escrowed: find its id. */
        kd_sql_end(st);
        if ((err = kd_sql_stmt(rd, KD_STMT_ESCROW_FIND, &st)) != KD_OK)
            goto out;
        rc = sqlite3_bind_int(st, 1, (int)e->kind);
        if (rc == SQLITE_OK)
            rc = kd_sql_bind_text(st, 2, e->said, ls);
        if (rc == SQLITE_OK)
            rc = kd_sql_bind_blob(st, 3, e->att, e->att_len);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            err = kd_sql_fail(rd, st, rc);
            goto out;
        }
        got = sqlite3_column_int64(st, 0);
    } else {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    if (added != NULL)
        *added = fresh;
    if (id != NULL)
        *id = got;
    err = KD_OK;
out:
    kd_sql_end(st);
    return err;
}

/* Runs a writer statement on escrow row id; KD_ENOTFOUND if it changed nothing. */
static enum kd_err kd_store_escrow_row(struct kd_store_txn *txn, enum kd_store_stmt_id id_stmt,
                                       int64_t id, bool with_time, int64_t t)
{
    int changes = 0;
    enum kd_err err = with_time
                          ? kd_store_write1(txn, id_stmt, &changes, KD_ARGS(KD_I64(id), KD_I64(t)))
                          : kd_store_write1(txn, id_stmt, &changes, KD_ARGS(KD_I64(id)));

    return err == KD_OK && changes == 0 ? KD_ENOTFOUND : err;
}

enum kd_err kd_store_escrow_touch(struct kd_store_txn *txn, int64_t id, int64_t tried_us)
{
    return kd_store_escrow_row(txn, KD_STMT_ESCROW_TOUCH, id, true, tried_us);
}

enum kd_err kd_store_escrow_remove(struct kd_store_txn *txn, int64_t id)
{
    return kd_store_escrow_row(txn, KD_STMT_ESCROW_REMOVE, id, false, 0);
}

enum kd_err kd_store_escrow_expire(struct kd_store_txn *txn, enum kd_store_escrow_kind kind,
                                   int64_t before_us, uint64_t *removed)
{
    int changes = 0;
    enum kd_err err;

    if ((unsigned)kind >= KD_STORE_ESCROW_KIND_COUNT_)
        return KD_EINVAL;
    err = kd_store_write1(txn, KD_STMT_ESCROW_EXPIRE, &changes,
                          KD_ARGS(KD_INT(kind), KD_I64(before_us)));
    if (err == KD_OK && removed != NULL)
        *removed = (uint64_t)changes;
    return err;
}

enum kd_err kd_store_escrow_each(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                 int64_t after_id, unsigned limit, kd_store_escrow_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_escrow e;
    enum kd_err err;
    int rc;

    if ((unsigned)kind >= KD_STORE_ESCROW_KIND_COUNT_ || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_ESCROW_EACH, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(
             rd, st, KD_ARGS(KD_INT(kind), KD_I64(after_id), KD_LIMIT(limit)))) != KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_store_row_escrow(st, &e)) {
            err = kd_sql_corrupt("kel_escrows");
            goto out;
        }
        if ((err = cb(&e, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_escrow_count(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                  uint64_t *n)
{
    if ((unsigned)kind >= KD_STORE_ESCROW_KIND_COUNT_ || n == NULL)
        return KD_EINVAL;
    return kd_store_count(rd, KD_STMT_ESCROW_COUNT, "kel_escrows", n, KD_ARGS(KD_INT(kind)));
}

enum kd_err kd_store_escrow_update(struct kd_store_txn *txn, int64_t id, const void *att,
                                   size_t att_len, int64_t tried_us)
{
    int changes = 0;
    enum kd_err err;

    if (att == NULL && att_len > 0)
        return KD_EINVAL;
    if (att_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    err = kd_store_write1(txn, KD_STMT_ESCROW_UPDATE, &changes,
                          KD_ARGS(KD_I64(id), KD_BLOB(att, att_len), KD_I64(tried_us)));
    return err == KD_OK && changes == 0 ? KD_ENOTFOUND : err;
}

/* Steps a bound escrow SELECT and calls cb for each row. */
static enum kd_err kd_store_escrow_rows(struct kd_store_rd *rd, sqlite3_stmt *st,
                                        kd_store_escrow_cb cb, void *arg)
{
    struct kd_store_escrow e;
    enum kd_err err;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_store_row_escrow(st, &e))
            return kd_sql_corrupt("kel_escrows");
        if ((err = cb(&e, arg)) != KD_OK)
            return err;
    }
    return rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
}

enum kd_err kd_store_escrow_each_said(struct kd_store_rd *rd, const char *said,
                                      kd_store_escrow_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (ls == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_ESCROW_EACH_SAID, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, said, ls);
    err = rc == SQLITE_OK ? kd_store_escrow_rows(rd, st, cb, arg) : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_escrow_each_dep(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                     const char *dep, unsigned limit, kd_store_escrow_cb cb,
                                     void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t ld = kd_sql_qb64_len(dep, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (ld == 0 || (unsigned)kind >= KD_STORE_ESCROW_KIND_COUNT_ || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_ESCROW_EACH_DEP, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, dep, ld);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, (int)kind);
    if (rc == SQLITE_OK)
        rc = kd_store_bind_limit(st, 3, limit);
    err = rc == SQLITE_OK ? kd_store_escrow_rows(rd, st, cb, arg) : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_escrow_count_prefix(struct kd_store_rd *rd, enum kd_store_escrow_kind kind,
                                         const char *prefix, uint64_t *n)
{
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);

    if (lp == 0 || (unsigned)kind >= KD_STORE_ESCROW_KIND_COUNT_ || n == NULL)
        return KD_EINVAL;
    return kd_store_count(rd, KD_STMT_ESCROW_COUNT_PREFIX, "kel_escrows", n,
                          KD_ARGS(KD_TEXT(prefix, lp), KD_INT(kind)));
}

/* ---- establishment states ---- */

enum kd_err kd_store_est_state_put(struct kd_store_txn *txn, const char *said, const char *prefix,
                                   uint64_t sn, uint64_t fn, const void *state, size_t n)
{
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);

    if (ls == 0 || lp == 0 || sn > INT64_MAX || fn > INT64_MAX || state == NULL || n == 0)
        return KD_EINVAL;
    if (n > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    return kd_store_write1(
        txn, KD_STMT_EST_PUT, NULL,
        KD_ARGS(KD_TEXT(said, ls), KD_TEXT(prefix, lp), KD_I64(sn), KD_I64(fn), KD_BLOB(state, n)));
}

/* Copies blob column i of the current row into out (reset first). */
static enum kd_err kd_store_keep_blob(sqlite3_stmt *st, int i, struct kd_buf *out,
                                      const char *table)
{
    size_t n;
    const uint8_t *v = kd_sql_col_blob(st, i, KD_STORE_BLOB_MAX, &n);
    enum kd_err err;

    kd_buf_reset(out);
    if (v == NULL)
        return kd_sql_corrupt(table);
    if ((err = kd_buf_append(out, v, n)) != KD_OK)
        kd_buf_reset(out);
    return err;
}

enum kd_err kd_store_est_state_at(struct kd_store_rd *rd, const char *prefix, uint64_t sn,
                                  char said_out[KD_STORE_ID_MAX + 1], uint64_t *est_sn,
                                  struct kd_buf *state)
{
    sqlite3_stmt *st = NULL;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX), ls = 0;
    const char *said;
    uint64_t got;
    enum kd_err err;

    if (lp == 0 || said_out == NULL || est_sn == NULL || state == NULL)
        return KD_EINVAL;
    if (sn > INT64_MAX)
        sn = INT64_MAX;
    if ((err = kd_sql_stmt(rd, KD_STMT_EST_AT, &st)) != KD_OK)
        return err;
    if ((err = kd_store_row1(rd, st, KD_ARGS(KD_TEXT(prefix, lp), KD_I64(sn)))) != KD_OK)
        goto out;
    said = kd_sql_col_text(st, 0, KD_STORE_ID_MAX, &ls);
    if (said == NULL || !kd_sql_col_u64(st, 1, &got)) {
        err = kd_sql_corrupt("kel_est_states");
        goto out;
    }
    if ((err = kd_store_keep_blob(st, 2, state, "kel_est_states")) != KD_OK)
        goto out;
    memcpy(said_out, said, ls);
    said_out[ls] = '\0';
    *est_sn = got;
out:
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_est_state_get(struct kd_store_rd *rd, const char *said, uint64_t *sn,
                                   struct kd_buf *state)
{
    sqlite3_stmt *st = NULL;
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);
    uint64_t got;
    enum kd_err err;

    if (ls == 0 || state == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_EST_GET, &st)) != KD_OK)
        return err;
    if ((err = kd_store_row1(rd, st, KD_ARGS(KD_TEXT(said, ls)))) != KD_OK)
        goto out;
    if (!kd_sql_col_u64(st, 0, &got)) {
        err = kd_sql_corrupt("kel_est_states");
        goto out;
    }
    if ((err = kd_store_keep_blob(st, 1, state, "kel_est_states")) != KD_OK)
        goto out;
    if (sn != NULL)
        *sn = got;
out:
    kd_sql_end(st);
    return err;
}

/* ---- delegation anchors ---- */

enum kd_err kd_store_anchor_put(struct kd_store_txn *txn, const char *said, uint64_t dsn,
                                const char *dsaid)
{
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);
    size_t ld = kd_sql_qb64_len(dsaid, KD_STORE_ID_MAX);

    if (ls == 0 || ld == 0 || dsn > INT64_MAX)
        return KD_EINVAL;
    return kd_store_write1(txn, KD_STMT_ANCHOR_PUT, NULL,
                           KD_ARGS(KD_TEXT(said, ls), KD_I64(dsn), KD_TEXT(dsaid, ld)));
}

enum kd_err kd_store_anchor_get(struct kd_store_rd *rd, const char *said, uint64_t *dsn,
                                char dsaid_out[KD_STORE_ID_MAX + 1])
{
    sqlite3_stmt *st = NULL;
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX), ld = 0;
    const char *dsaid;
    uint64_t got;
    enum kd_err err;

    if (ls == 0 || dsn == NULL || dsaid_out == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_ANCHOR_GET, &st)) != KD_OK)
        return err;
    if ((err = kd_store_row1(rd, st, KD_ARGS(KD_TEXT(said, ls)))) != KD_OK)
        goto out;
    dsaid = kd_sql_col_text(st, 1, KD_STORE_ID_MAX, &ld);
    if (dsaid == NULL || !kd_sql_col_u64(st, 0, &got)) {
        err = kd_sql_corrupt("kel_anchors");
        goto out;
    }
    memcpy(dsaid_out, dsaid, ld);
    dsaid_out[ld] = '\0';
    *dsn = got;
    err = KD_OK;
out:
    kd_sql_end(st);
    return err;
}

/* ---- seal index ---- */

enum kd_err kd_store_seal_add(struct kd_store_txn *txn, const char *prefix, const char *i,
                              uint64_t sn, const char *d, const char *said, unsigned pos)
{
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    size_t li = kd_sql_qb64_len(i, KD_STORE_ID_MAX);
    size_t ld = kd_sql_qb64_len(d, KD_STORE_ID_MAX);
    size_t ls = kd_sql_qb64_len(said, KD_STORE_ID_MAX);

    if (lp == 0 || li == 0 || ld == 0 || ls == 0 || sn > INT64_MAX || pos > INT32_MAX)
        return KD_EINVAL;
    return kd_store_write1(txn, KD_STMT_SEAL_ADD, NULL,
                           KD_ARGS(KD_TEXT(prefix, lp), KD_TEXT(i, li), KD_I64(sn), KD_TEXT(d, ld),
                                   KD_TEXT(said, ls), KD_INT(pos)));
}

enum kd_err kd_store_seal_find(struct kd_store_rd *rd, const char *prefix, const char *i,
                               uint64_t sn, const char *d, kd_store_seal_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    size_t li = kd_sql_qb64_len(i, KD_STORE_ID_MAX);
    size_t ld = kd_sql_qb64_len(d, KD_STORE_ID_MAX);
    const char *said;
    uint64_t pos;
    enum kd_err err;
    int rc;

    if (lp == 0 || li == 0 || ld == 0 || cb == NULL)
        return KD_EINVAL;
    if (sn > INT64_MAX)
        return KD_OK; /* no indexed seal is that large */
    if ((err = kd_sql_stmt(rd, KD_STMT_SEAL_FIND, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(
             rd, st, KD_ARGS(KD_TEXT(prefix, lp), KD_TEXT(i, li), KD_I64(sn), KD_TEXT(d, ld)))) !=
        KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        said = kd_sql_col_text(st, 0, KD_STORE_ID_MAX, NULL);
        if (said == NULL || !kd_sql_col_u64(st, 1, &pos) || pos > INT32_MAX) {
            err = kd_sql_corrupt("kel_seals");
            goto out;
        }
        if ((err = cb(said, (unsigned)pos, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

/* ---- duplicity records ---- */

enum kd_err kd_store_dup_add(struct kd_store_txn *txn, const struct kd_store_dup *d, bool *added)
{
    size_t lp, ls;
    int changes = 0;
    enum kd_err err;

    if (d == NULL)
        return KD_EINVAL;
    lp = kd_sql_qb64_len(d->prefix, KD_STORE_ID_MAX);
    ls = kd_sql_qb64_len(d->said, KD_STORE_ID_MAX);
    if (lp == 0 || ls == 0 || !kd_sql_ilk_ok(d->ilk) || d->sn > INT64_MAX || d->raw == NULL ||
        d->raw_len == 0 || (d->att == NULL && d->att_len > 0))
        return KD_EINVAL;
    if (d->raw_len > KD_STORE_BLOB_MAX || d->att_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    err = kd_store_write1(txn, KD_STMT_DUP_ADD, &changes,
                          KD_ARGS(KD_TEXT(d->said, ls), KD_TEXT(d->prefix, lp), KD_I64(d->sn),
                                  KD_TEXT(d->ilk, 3), KD_I64(d->seen_us),
                                  KD_BLOB(d->raw, d->raw_len), KD_BLOB(d->att, d->att_len)));
    if (err == KD_OK && added != NULL)
        *added = changes > 0;
    return err;
}

enum kd_err kd_store_dup_count(struct kd_store_rd *rd, const char *prefix, uint64_t *n)
{
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);

    if (lp == 0 || n == NULL)
        return KD_EINVAL;
    return kd_store_count(rd, KD_STMT_DUP_COUNT, "kel_dups", n, KD_ARGS(KD_TEXT(prefix, lp)));
}

enum kd_err kd_store_dup_each(struct kd_store_rd *rd, const char *prefix, kd_store_dup_cb cb,
                              void *arg)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_dup d;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (lp == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_DUP_EACH, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(rd, st, KD_ARGS(KD_TEXT(prefix, lp)))) != KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        d.said = kd_sql_col_text(st, 0, KD_STORE_ID_MAX, NULL);
        d.prefix = kd_sql_col_text(st, 1, KD_STORE_ID_MAX, NULL);
        d.ilk = kd_sql_col_text(st, 3, 3, NULL);
        d.seen_us = sqlite3_column_int64(st, 4);
        d.raw = kd_sql_col_blob(st, 5, KD_STORE_BLOB_MAX, &d.raw_len);
        d.att = kd_sql_col_blob(st, 6, KD_STORE_BLOB_MAX, &d.att_len);
        if (d.said == NULL || d.prefix == NULL || d.ilk == NULL || d.raw == NULL || d.att == NULL ||
            !kd_sql_col_u64(st, 2, &d.sn)) {
            err = kd_sql_corrupt("kel_dups");
            goto out;
        }
        if ((err = cb(&d, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

/* ---- witness mailboxes ---- */

/* Length of a topic name of 1..KD_STORE_TOPIC_MAX printable ASCII bytes, else 0. */
static size_t kd_store_topic_len(const char *t)
{
    size_t n = kd_sql_len(t, KD_STORE_TOPIC_MAX);

    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0x21 || t[i] > 0x7e)
            return 0;
    }
    return n;
}

enum kd_err kd_store_mbx_append(struct kd_store_txn *txn, const char *prefix, const char *topic,
                                const void *message, size_t n, uint64_t *idx)
{
    sqlite3_stmt *st = NULL;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    size_t lt = kd_store_topic_len(topic);
    enum kd_err err;
    uint64_t got = 0;
    int rc;

    if (lp == 0 || lt == 0 || message == NULL || n == 0)
        return KD_EINVAL;
    if (n > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    if ((err = kd_sql_wstmt(txn, KD_STMT_MBX_APPEND, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, prefix, lp);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, topic, lt);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_blob(st, 3, message, n);
    if (rc != SQLITE_OK) {
        err = kd_sql_fail(&txn->s->writer, st, rc);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = kd_sql_fail(&txn->s->writer, st, rc);
        goto out;
    }
    if (!kd_sql_col_u64(st, 0, &got)) {
        err = kd_sql_corrupt("mailbox");
        goto out;
    }
    rc = sqlite3_step(st);
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(&txn->s->writer, st, rc);
    if (err == KD_OK && idx != NULL)
        *idx = got;
out:
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_mbx_each(struct kd_store_rd *rd, const char *prefix, const char *topic,
                              uint64_t from_idx, unsigned limit, kd_store_mbx_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t lp = kd_sql_qb64_len(prefix, KD_STORE_ID_MAX);
    size_t lt = kd_store_topic_len(topic);
    const uint8_t *msg;
    uint64_t idx;
    size_t n;
    enum kd_err err;
    int rc;

    if (lp == 0 || lt == 0 || cb == NULL)
        return KD_EINVAL;
    if (from_idx > INT64_MAX)
        return KD_OK; /* no index is that large */
    if ((err = kd_sql_stmt(rd, KD_STMT_MBX_EACH, &st)) != KD_OK)
        return err;
    if ((err = kd_store_bind_each(rd, st,
                                  KD_ARGS(KD_TEXT(prefix, lp), KD_TEXT(topic, lt), KD_I64(from_idx),
                                          KD_LIMIT(limit)))) != KD_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_sql_col_u64(st, 0, &idx) ||
            (msg = kd_sql_col_blob(st, 1, KD_STORE_BLOB_MAX, &n)) == NULL || n == 0) {
            err = kd_sql_corrupt("mailbox");
            goto out;
        }
        if ((err = cb(idx, msg, n, arg)) != KD_OK)
            goto out;
    }
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
out:
    kd_sql_end(st);
    return err;
}

/* ---- stored replies ---- */

/* Checks the received body and attachments of a reply to store. */
static enum kd_err kd_store_reply_check(const void *raw, size_t raw_len, const void *att,
                                        size_t att_len)
{
    if (raw == NULL || raw_len == 0 || (att == NULL && att_len > 0))
        return KD_EINVAL;
    if (raw_len > KD_STORE_BLOB_MAX || att_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    return KD_OK;
}

/* Runs the rows of a (raw, att) SELECT whose parameters are bound, calling cb. */
static enum kd_err kd_store_reply_rows(struct kd_store_rd *rd, sqlite3_stmt *st, const char *table,
                                       kd_store_reply_cb cb, void *arg)
{
    const uint8_t *raw, *att;
    size_t rn = 0, an = 0;
    enum kd_err err;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        raw = kd_sql_col_blob(st, 0, KD_STORE_BLOB_MAX, &rn);
        att = raw == NULL ? NULL : kd_sql_col_blob(st, 1, KD_STORE_BLOB_MAX, &an);
        if (raw == NULL || rn == 0 || att == NULL)
            return kd_sql_corrupt(table);
        if ((err = cb(raw, rn, att, an, arg)) != KD_OK)
            return err;
    }
    return rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
}

enum kd_err kd_store_loc_put(struct kd_store_txn *txn, const char *eid, const char *scheme,
                             int64_t dt_us, const void *raw, size_t raw_len, const void *att,
                             size_t att_len)
{
    size_t le = kd_sql_qb64_len(eid, KD_STORE_ID_MAX);
    size_t ls = kd_store_topic_len(scheme);
    enum kd_err err;

    if (le == 0 || ls == 0)
        return KD_EINVAL;
    if ((err = kd_store_reply_check(raw, raw_len, att, att_len)) != KD_OK)
        return err;
    return kd_store_write1(txn, KD_STMT_LOC_PUT, NULL,
                           KD_ARGS(KD_TEXT(eid, le), KD_TEXT(scheme, ls), KD_I64(dt_us),
                                   KD_BLOB(raw, raw_len), KD_BLOB(att, att_len)));
}

enum kd_err kd_store_loc_dt(struct kd_store_rd *rd, const char *eid, const char *scheme,
                            int64_t *dt_us)
{
    sqlite3_stmt *st = NULL;
    size_t le = kd_sql_qb64_len(eid, KD_STORE_ID_MAX);
    size_t ls = kd_store_topic_len(scheme);
    enum kd_err err;
    int rc;

    if (le == 0 || ls == 0 || dt_us == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_LOC_DT, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, eid, le);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, scheme, ls);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *dt_us = sqlite3_column_int64(st, 0);
        err = KD_OK;
    } else {
        err = rc == SQLITE_DONE ? KD_ENOTFOUND : kd_sql_fail(rd, st, rc);
    }
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_loc_each(struct kd_store_rd *rd, const char *eid, kd_store_reply_cb cb,
                              void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t le = kd_sql_qb64_len(eid, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (le == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_LOC_EACH, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, eid, le);
    err = rc == SQLITE_OK ? kd_store_reply_rows(rd, st, "loc_replies", cb, arg)
                          : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_end_role_put(struct kd_store_txn *txn, const char *cid, const char *role,
                                  const char *eid, bool active, int64_t dt_us, const void *raw,
                                  size_t raw_len, const void *att, size_t att_len)
{
    size_t lc = kd_sql_qb64_len(cid, KD_STORE_ID_MAX);
    size_t lr = kd_store_topic_len(role);
    size_t le = kd_sql_qb64_len(eid, KD_STORE_ID_MAX);
    enum kd_err err;

    if (lc == 0 || lr == 0 || le == 0)
        return KD_EINVAL;
    if ((err = kd_store_reply_check(raw, raw_len, att, att_len)) != KD_OK)
        return err;
    return kd_store_write1(txn, KD_STMT_END_PUT, NULL,
                           KD_ARGS(KD_TEXT(cid, lc), KD_TEXT(role, lr), KD_TEXT(eid, le),
                                   KD_INT(active ? 1 : 0), KD_I64(dt_us), KD_BLOB(raw, raw_len),
                                   KD_BLOB(att, att_len)));
}

enum kd_err kd_store_end_role_dt(struct kd_store_rd *rd, const char *cid, const char *role,
                                 const char *eid, int64_t *dt_us, bool *active)
{
    sqlite3_stmt *st = NULL;
    size_t lc = kd_sql_qb64_len(cid, KD_STORE_ID_MAX);
    size_t lr = kd_store_topic_len(role);
    size_t le = kd_sql_qb64_len(eid, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (lc == 0 || lr == 0 || le == 0 || dt_us == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_END_DT, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, cid, lc);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, role, lr);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 3, eid, le);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *dt_us = sqlite3_column_int64(st, 0);
        if (active != NULL)
            *active = sqlite3_column_int(st, 1) != 0;
        err = KD_OK;
    } else {
        err = rc == SQLITE_DONE ? KD_ENOTFOUND : kd_sql_fail(rd, st, rc);
    }
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_end_role_each(struct kd_store_rd *rd, const char *cid, const char *role,
                                   kd_store_reply_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    size_t lc = kd_sql_qb64_len(cid, KD_STORE_ID_MAX);
    size_t lr = kd_store_topic_len(role);
    enum kd_err err;
    int rc;

    if (lc == 0 || lr == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_END_EACH, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, cid, lc);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, role, lr);
    err = rc == SQLITE_OK ? kd_store_reply_rows(rd, st, "end_roles", cb, arg)
                          : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

/* ---- key-state notice replies ---- */

enum kd_err kd_store_ksn_put(struct kd_store_txn *txn, const char *aid, const char *signer,
                             uint64_t sn, int64_t dt_us, const void *raw, size_t raw_len,
                             const void *att, size_t att_len)
{
    const size_t la = kd_sql_qb64_len(aid, KD_STORE_ID_MAX);
    const size_t ls = kd_sql_qb64_len(signer, KD_STORE_ID_MAX);
    enum kd_err err;

    if (la == 0 || ls == 0 || sn > (uint64_t)INT64_MAX)
        return KD_EINVAL;
    if ((err = kd_store_reply_check(raw, raw_len, att, att_len)) != KD_OK)
        return err;
    return kd_store_write1(txn, KD_STMT_KSN_PUT, NULL,
                           KD_ARGS(KD_TEXT(aid, la), KD_TEXT(signer, ls), KD_I64(sn), KD_I64(dt_us),
                                   KD_BLOB(raw, raw_len), KD_BLOB(att, att_len)));
}

enum kd_err kd_store_ksn_dt(struct kd_store_rd *rd, const char *aid, const char *signer,
                            int64_t *dt_us)
{
    const size_t la = kd_sql_qb64_len(aid, KD_STORE_ID_MAX);
    const size_t ls = kd_sql_qb64_len(signer, KD_STORE_ID_MAX);
    sqlite3_stmt *st = NULL;
    enum kd_err err;

    if (la == 0 || ls == 0 || dt_us == NULL)
        return KD_EINVAL;
    err = kd_store_lookup(rd, KD_STMT_KSN_DT, &st, KD_ARGS(KD_TEXT(aid, la), KD_TEXT(signer, ls)));
    if (err == KD_OK)
        *dt_us = sqlite3_column_int64(st, 0);
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_ksn_each(struct kd_store_rd *rd, const char *aid, kd_store_reply_cb cb,
                              void *arg)
{
    const size_t la = kd_sql_qb64_len(aid, KD_STORE_ID_MAX);
    sqlite3_stmt *st = NULL;
    enum kd_err err;

    if (la == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_KSN_EACH, &st)) != KD_OK)
        return err;
    err = kd_store_bind_each(rd, st, KD_ARGS(KD_TEXT(aid, la)));
    if (err == KD_OK)
        err = kd_store_reply_rows(rd, st, "ksn_replies", cb, arg);
    kd_sql_end(st);
    return err;
}
