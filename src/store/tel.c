/* Typed access to the TEL tables (migration 6): accepted transaction events
 * by (id, sn) and the TEL escrow. Same discipline as tables.c: input checked
 * before anything is bound, cached statements reset before returning. */
#include "store_int.h"

#include <string.h>

#include "kerid/log.h"

/* The writer's statement id, inside an active write callback; *rd the writer. */
static enum kd_err kd_tel_wstmt(struct kd_store_txn *txn, enum kd_store_stmt_id id,
                                sqlite3_stmt **out, struct kd_store_rd **rd)
{
    enum kd_err err = kd_sql_wstmt(txn, id, out);

    if (err == KD_OK)
        *rd = &txn->s->writer;
    return err;
}

/* A blob column that must not be empty (TEL bodies never are). */
static const uint8_t *kd_tel_col_blob(sqlite3_stmt *st, int i, size_t *len)
{
    const uint8_t *p = kd_sql_col_blob(st, i, KD_STORE_BLOB_MAX, len);

    return p != NULL && *len > 0 ? p : NULL;
}

/* ---- events ---- */

/* Checks ev's fields; their lengths go to len[0..5] (id, said, ilk, reg,
 * issuer, seal_d). */
static enum kd_err kd_tel_event_check(const struct kd_store_tel_event *ev, size_t len[6])
{
    if (ev == NULL)
        return KD_EINVAL;
    len[0] = kd_sql_qb64_len(ev->id, KD_STORE_ID_MAX);
    len[1] = kd_sql_qb64_len(ev->said, KD_STORE_ID_MAX);
    len[2] = 3;
    len[3] = kd_sql_qb64_len(ev->reg, KD_STORE_ID_MAX);
    len[4] = kd_sql_qb64_len(ev->issuer, KD_STORE_ID_MAX);
    len[5] = kd_sql_qb64_len(ev->seal_d, KD_STORE_ID_MAX);
    if (len[0] == 0 || len[1] == 0 || len[3] == 0 || len[4] == 0 || len[5] == 0 ||
        !kd_sql_ilk_ok(ev->ilk) || ev->sn > INT64_MAX || ev->seal_sn > INT64_MAX ||
        ev->raw == NULL || ev->raw_len == 0)
        return KD_EINVAL;
    if (ev->raw_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    return KD_OK;
}

enum kd_err kd_store_tel_add(struct kd_store_txn *txn, const struct kd_store_tel_event *ev)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_rd *rd = NULL;
    size_t len[6];
    enum kd_err err;
    int rc;

    if ((err = kd_tel_event_check(ev, len)) != KD_OK)
        return err;
    if ((err = kd_tel_wstmt(txn, KD_STMT_TEL_ADD, &st, &rd)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, ev->said, len[1]);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, ev->id, len[0]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 4, ev->ilk, 3);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 5, ev->reg, len[3]);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 6, ev->issuer, len[4]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 7, (sqlite3_int64)ev->seal_sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 8, ev->seal_d, len[5]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 9, ev->first_seen_us);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 10, ev->raw, (int)ev->raw_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
    kd_sql_end(st);
    return err;
}

/* Columns: id, sn, said, ilk, reg, issuer, seal_sn, seal_d, first_seen_us, raw. */
static bool kd_tel_row_event(sqlite3_stmt *st, struct kd_store_tel_event *ev)
{
    ev->id = kd_sql_col_text(st, 0, KD_STORE_ID_MAX, NULL);
    ev->said = kd_sql_col_text(st, 2, KD_STORE_ID_MAX, NULL);
    ev->ilk = kd_sql_col_text(st, 3, 3, NULL);
    ev->reg = kd_sql_col_text(st, 4, KD_STORE_ID_MAX, NULL);
    ev->issuer = kd_sql_col_text(st, 5, KD_STORE_ID_MAX, NULL);
    ev->seal_d = kd_sql_col_text(st, 7, KD_STORE_ID_MAX, NULL);
    ev->first_seen_us = sqlite3_column_int64(st, 8);
    ev->raw = kd_tel_col_blob(st, 9, &ev->raw_len);
    return ev->id != NULL && ev->said != NULL && ev->ilk != NULL && ev->reg != NULL &&
           ev->issuer != NULL && ev->seal_d != NULL && ev->raw != NULL &&
           kd_sql_col_u64(st, 1, &ev->sn) && kd_sql_col_u64(st, 6, &ev->seal_sn) &&
           sqlite3_column_type(st, 8) == SQLITE_INTEGER;
}

/* Copies ev's strings and raw bytes into storage and points ev at the copies. */
static enum kd_err kd_tel_keep(struct kd_store_tel_event *ev, struct kd_buf *storage)
{
    const char *s[6] = {ev->id, ev->said, ev->ilk, ev->reg, ev->issuer, ev->seal_d};
    size_t off[6], at = 0;
    enum kd_err err = KD_OK;

    kd_buf_reset(storage);
    for (unsigned i = 0; i < 6 && err == KD_OK; i++) {
        const size_t n = strlen(s[i]) + 1;

        off[i] = at;
        at += n;
        err = kd_buf_append(storage, s[i], n);
    }
    if (err == KD_OK)
        err = kd_buf_append(storage, ev->raw, ev->raw_len);
    if (err != KD_OK) {
        kd_buf_reset(storage);
        return err;
    }
    /* Point at the copies only now: appending may have moved the storage. */
    ev->id = (const char *)storage->data + off[0];
    ev->said = (const char *)storage->data + off[1];
    ev->ilk = (const char *)storage->data + off[2];
    ev->reg = (const char *)storage->data + off[3];
    ev->issuer = (const char *)storage->data + off[4];
    ev->seal_d = (const char *)storage->data + off[5];
    ev->raw = storage->data + at;
    return KD_OK;
}

/* Runs statement id (id, and sn when with_sn) for one row into out/storage. */
static enum kd_err kd_tel_one(struct kd_store_rd *rd, enum kd_store_stmt_id sid, const char *id,
                              bool with_sn, uint64_t sn, struct kd_store_tel_event *out,
                              struct kd_buf *storage)
{
    sqlite3_stmt *st = NULL;
    const size_t li = kd_sql_qb64_len(id, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (li == 0 || out == NULL || storage == NULL || sn > INT64_MAX)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, sid, &st)) != KD_OK)
        return err;
    rc = kd_sql_bind_text(st, 1, id, li);
    if (rc == SQLITE_OK && with_sn)
        rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)sn);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = KD_ENOTFOUND;
    else if (rc != SQLITE_ROW)
        err = kd_sql_fail(rd, st, rc);
    else
        err = kd_tel_row_event(st, out) ? kd_tel_keep(out, storage) : kd_sql_corrupt("tel_events");
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_tel_at(struct kd_store_rd *rd, const char *id, uint64_t sn,
                            struct kd_store_tel_event *out, struct kd_buf *storage)
{
    return kd_tel_one(rd, KD_STMT_TEL_AT, id, true, sn, out, storage);
}

enum kd_err kd_store_tel_last(struct kd_store_rd *rd, const char *id,
                              struct kd_store_tel_event *out, struct kd_buf *storage)
{
    return kd_tel_one(rd, KD_STMT_TEL_LAST, id, false, 0, out, storage);
}

enum kd_err kd_store_tel_each(struct kd_store_rd *rd, const char *id, kd_store_tel_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_tel_event ev;
    const size_t li = kd_sql_qb64_len(id, KD_STORE_ID_MAX);
    enum kd_err err;
    int rc;

    if (li == 0 || cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_TEL_EACH, &st)) != KD_OK)
        return err;
    if ((rc = kd_sql_bind_text(st, 1, id, li)) != SQLITE_OK) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_tel_row_event(st, &ev)) {
            err = kd_sql_corrupt("tel_events");
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

/* ---- escrow ---- */

enum kd_err kd_store_tel_escrow_add(struct kd_store_txn *txn, const struct kd_store_tel_escrow *e,
                                    bool *added)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_rd *rd = NULL;
    size_t li, ls, ld, lsd;
    enum kd_err err;
    int rc;

    if (e == NULL || (unsigned)e->kind >= KD_STORE_TEL_ESCROW_KIND_COUNT_)
        return KD_EINVAL;
    li = kd_sql_qb64_len(e->id, KD_STORE_ID_MAX);
    ls = kd_sql_qb64_len(e->said, KD_STORE_ID_MAX);
    ld = kd_sql_qb64_len(e->dep, KD_STORE_ID_MAX);
    lsd = kd_sql_qb64_len(e->seal_d, KD_STORE_ID_MAX);
    if (li == 0 || ls == 0 || ld == 0 || lsd == 0 || e->sn > INT64_MAX || e->seal_sn > INT64_MAX ||
        e->raw == NULL || e->raw_len == 0)
        return KD_EINVAL;
    if (e->raw_len > KD_STORE_BLOB_MAX)
        return KD_ETOOLARGE;
    if ((err = kd_tel_wstmt(txn, KD_STMT_TEL_ESC_ADD, &st, &rd)) != KD_OK)
        return err;
    rc = sqlite3_bind_int(st, 1, (int)e->kind);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 2, e->id, li);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)e->sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 4, e->said, ls);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 5, e->dep, ld);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 6, (sqlite3_int64)e->seal_sn);
    if (rc == SQLITE_OK)
        rc = kd_sql_bind_text(st, 7, e->seal_d, lsd);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 8, e->raw, (int)e->raw_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 9, e->arrived_us);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    if (added != NULL)
        *added = sqlite3_changes(rd->db) == 1;
out:
    kd_sql_end(st);
    return err;
}

/* Runs writer statement sid with (row) or (kind, before) bound; *changes the rows it changed. */
static enum kd_err kd_tel_delete(struct kd_store_txn *txn, enum kd_store_stmt_id sid, int64_t a,
                                 bool two, int64_t b, uint64_t *changes)
{
    sqlite3_stmt *st = NULL;
    struct kd_store_rd *rd = NULL;
    enum kd_err err;
    int rc;

    if ((err = kd_tel_wstmt(txn, sid, &st, &rd)) != KD_OK)
        return err;
    rc = sqlite3_bind_int64(st, 1, a);
    if (rc == SQLITE_OK && two)
        rc = sqlite3_bind_int64(st, 2, b);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    err = rc == SQLITE_DONE ? KD_OK : kd_sql_fail(rd, st, rc);
    if (err == KD_OK)
        *changes = (uint64_t)sqlite3_changes(rd->db);
    kd_sql_end(st);
    return err;
}

enum kd_err kd_store_tel_escrow_remove(struct kd_store_txn *txn, int64_t row)
{
    uint64_t n = 0;
    enum kd_err err = kd_tel_delete(txn, KD_STMT_TEL_ESC_REMOVE, row, false, 0, &n);

    return err == KD_OK && n == 0 ? KD_ENOTFOUND : err;
}

enum kd_err kd_store_tel_escrow_expire(struct kd_store_txn *txn, enum kd_store_tel_escrow_kind kind,
                                       int64_t before_us, uint64_t *removed)
{
    uint64_t n = 0;
    enum kd_err err;

    if ((unsigned)kind >= KD_STORE_TEL_ESCROW_KIND_COUNT_)
        return KD_EINVAL;
    err = kd_tel_delete(txn, KD_STMT_TEL_ESC_EXPIRE, (int64_t)kind, true, before_us, &n);
    if (err == KD_OK && removed != NULL)
        *removed = n;
    return err;
}

/* Columns: row, kind, id, sn, said, dep, seal_sn, seal_d, raw, arrived_us. */
static bool kd_tel_row_escrow(sqlite3_stmt *st, struct kd_store_tel_escrow *e)
{
    uint64_t kind = 0;

    e->row = sqlite3_column_int64(st, 0);
    e->id = kd_sql_col_text(st, 2, KD_STORE_ID_MAX, NULL);
    e->said = kd_sql_col_text(st, 4, KD_STORE_ID_MAX, NULL);
    e->dep = kd_sql_col_text(st, 5, KD_STORE_ID_MAX, NULL);
    e->seal_d = kd_sql_col_text(st, 7, KD_STORE_ID_MAX, NULL);
    e->raw = kd_tel_col_blob(st, 8, &e->raw_len);
    e->arrived_us = sqlite3_column_int64(st, 9);
    if (!kd_sql_col_u64(st, 1, &kind) || kind >= KD_STORE_TEL_ESCROW_KIND_COUNT_)
        return false;
    e->kind = (enum kd_store_tel_escrow_kind)kind;
    return e->id != NULL && e->said != NULL && e->dep != NULL && e->seal_d != NULL &&
           e->raw != NULL && kd_sql_col_u64(st, 3, &e->sn) && kd_sql_col_u64(st, 6, &e->seal_sn) &&
           sqlite3_column_type(st, 9) == SQLITE_INTEGER;
}

/* Steps st (its parameters bound up to ?1 by the caller, ?2 = limit) and
 * calls cb per row. */
static enum kd_err kd_tel_escrow_rows(struct kd_store_rd *rd, sqlite3_stmt *st, int rc,
                                      unsigned limit, kd_store_tel_escrow_cb cb, void *arg)
{
    struct kd_store_tel_escrow e;
    enum kd_err err;

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, limit == 0 ? -1 : (sqlite3_int64)limit);
    if (rc != SQLITE_OK) {
        err = kd_sql_fail(rd, st, rc);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!kd_tel_row_escrow(st, &e)) {
            err = kd_sql_corrupt("tel_escrows");
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

enum kd_err kd_store_tel_escrow_each(struct kd_store_rd *rd, int64_t after_row, unsigned limit,
                                     kd_store_tel_escrow_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    enum kd_err err;

    if (cb == NULL)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_TEL_ESC_EACH, &st)) != KD_OK)
        return err;
    return kd_tel_escrow_rows(rd, st, sqlite3_bind_int64(st, 1, after_row), limit, cb, arg);
}

enum kd_err kd_store_tel_escrow_each_dep(struct kd_store_rd *rd, const char *dep, unsigned limit,
                                         kd_store_tel_escrow_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    const size_t ld = kd_sql_qb64_len(dep, KD_STORE_ID_MAX);
    enum kd_err err;

    if (cb == NULL || ld == 0)
        return KD_EINVAL;
    if ((err = kd_sql_stmt(rd, KD_STMT_TEL_ESC_EACH_DEP, &st)) != KD_OK)
        return err;
    return kd_tel_escrow_rows(rd, st, kd_sql_bind_text(st, 1, dep, ld), limit, cb, arg);
}

enum kd_err kd_store_tel_escrow_count(struct kd_store_rd *rd, const char *dep, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    const size_t ld = dep != NULL ? kd_sql_qb64_len(dep, KD_STORE_ID_MAX) : 0;
    enum kd_err err;
    int rc = SQLITE_OK;

    if (n == NULL || (dep != NULL && ld == 0))
        return KD_EINVAL;
    err = kd_sql_stmt(rd, dep != NULL ? KD_STMT_TEL_ESC_COUNT_DEP : KD_STMT_TEL_ESC_COUNT, &st);
    if (err != KD_OK)
        return err;
    if (dep != NULL)
        rc = kd_sql_bind_text(st, 1, dep, ld);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        err = kd_sql_fail(rd, st, rc);
    else if (!kd_sql_col_u64(st, 0, n))
        err = kd_sql_corrupt("tel_escrows");
    kd_sql_end(st);
    return err;
}
