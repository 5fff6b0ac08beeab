/* The store's life cycle and its writer thread: a bounded queue of writes,
 * taken in batches, each batch one transaction with one savepoint per write
 * and one COMMIT (group commit); completions handed back to the host. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kerid/log.h"

#define KD_STORE_BUSY_TIMEOUT_MS 5000

_Thread_local const struct kd_store *kd_store_tls_writer;
/* Stores opened by this process, for kd_store_txn_epoch. */
static _Atomic uint64_t kd_store_opened = 1;

static const struct {
    const char *sql;
    int conn;
} kd_store_stmt_table[KD_STMT_COUNT_] = {
#define KD_STMT_ROW_(id, conn, sql) {sql, conn},
    KD_STORE_STMTS(KD_STMT_ROW_)
#undef KD_STMT_ROW_
};

bool kd_store_txn_usable(const struct kd_store_txn *txn)
{
    /* The thread check comes first, so a stale txn used on another thread is
     * refused without reading what the writer thread writes. */
    return txn != NULL && kd_store_tls_writer == txn->s && txn->active;
}

bool kd_store_rd_usable(const struct kd_store_rd *rd)
{
    if (rd == NULL || rd->db == NULL)
        return false;
    if (rd->is_writer)
        return kd_store_txn_usable(&rd->s->txn);
    /* A write callback reading the reader would see stale, committed-only
     * state: it must use kd_store_txn_reader. */
    return kd_store_tls_writer != rd->s;
}

struct kd_store_rd *kd_store_reader(struct kd_store *s)
{
    return s != NULL ? &s->reader : NULL;
}

struct kd_store_rd *kd_store_txn_reader(struct kd_store_txn *txn)
{
    return txn != NULL ? &txn->s->writer : NULL;
}

uint64_t kd_store_txn_epoch(const struct kd_store_txn *txn)
{
    return txn != NULL ? txn->s->epoch : 0;
}

sqlite3 *kd_store_test_txn_db(struct kd_store_txn *txn)
{
    return kd_store_txn_usable(txn) ? txn->s->writer.db : NULL;
}

static uint64_t kd_store_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- connections ---- */

/* Creates path as an empty, owner-only file unless it exists: the database
 * holds the roles' secret seeds, and SQLite gives its -wal and -shm files the
 * mode of the database file. An existing file keeps the mode it has. */
static enum kd_err kd_store_create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd >= 0) {
        close(fd);
        return KD_OK;
    }
    if (errno == EEXIST)
        return KD_OK;
    kd_log_error("store", "%s: cannot create: %s", path, strerror(errno));
    return KD_ESTORE;
}

static enum kd_err kd_store_conn_open(struct kd_store_rd *c, struct kd_store *s, const char *path,
                                      bool writer)
{
    int flags = SQLITE_OPEN_NOMUTEX;
    int rc;

    c->s = s;
    c->is_writer = writer;
    flags |= writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot open: %s", path,
                     c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        return rc == SQLITE_NOMEM ? KD_ENOMEM : KD_ESTORE;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, KD_STORE_BUSY_TIMEOUT_MS);
    return KD_OK;
}

static enum kd_err kd_store_conn_prepare(struct kd_store_rd *c, const char *path)
{
    for (unsigned i = 0; i < KD_STMT_COUNT_; i++) {
        int rc;

        if (!c->is_writer && kd_store_stmt_table[i].conn != KD_STMT_R)
            continue;
        rc = sqlite3_prepare_v3(c->db, kd_store_stmt_table[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                &c->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            kd_log_error("store", "%s: cannot prepare \"%s\": %s", path, kd_store_stmt_table[i].sql,
                         sqlite3_errmsg(c->db));
            return rc == SQLITE_NOMEM ? KD_ENOMEM : KD_ESTORE;
        }
    }
    return KD_OK;
}

static void kd_store_conn_close(struct kd_store_rd *c)
{
    for (unsigned i = 0; i < KD_STMT_COUNT_; i++) {
        sqlite3_finalize(c->stmt[i]);
        c->stmt[i] = NULL;
    }
    if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
        kd_log_error("store", "cannot close a connection: %s", sqlite3_errmsg(c->db));
    c->db = NULL;
}

/* Runs a PRAGMA that answers one text value and checks it (NULL: any). */
static enum kd_err kd_store_pragma(sqlite3 *db, const char *path, const char *sql,
                                   const char *expect)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    enum kd_err err = KD_ESTORE;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: %s: %s", path, sql, sqlite3_errmsg(db));
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        kd_log_error("store", "%s: %s: %s", path, sql, sqlite3_errmsg(db));
        goto out;
    }
    if (expect != NULL) {
        v = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (v == NULL || strcmp((const char *)v, expect) != 0) {
            kd_log_error("store", "%s: %s answered \"%s\", kerid needs \"%s\"", path, sql,
                         v != NULL ? (const char *)v : "", expect);
            goto out;
        }
    }
    err = KD_OK;
out:
    sqlite3_finalize(st);
    return err;
}

/* ---- the writer thread ---- */

/* Steps one of the transaction-control statements; SQLITE_OK or the error. */
static int kd_store_ctl(struct kd_store *s, enum kd_store_stmt_id id)
{
    sqlite3_stmt *st = s->writer.stmt[id];
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return SQLITE_OK;
    kd_log_error("store", "%s: %s", sqlite3_sql(st), sqlite3_errmsg(s->writer.db));
    return rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* Runs one write in its own savepoint and sets its result. Returns false if
 * the transaction is gone or cannot be trusted any more. */
static bool kd_store_run_one(struct kd_store *s, struct kd_store_item *it)
{
    sqlite3 *db = s->writer.db;

    if (kd_store_ctl(s, KD_STMT_SAVEPOINT) != SQLITE_OK) {
        it->result = KD_ESTORE;
        return false;
    }
    s->txn.active = true;
    it->result = it->fn(&s->txn, it->arg);
    s->txn.active = false;
    if (sqlite3_get_autocommit(db)) {
        kd_log_error(
            "store",
            "a write ended its transaction: the writes run so far fail, the rest are retried");
        return false;
    }
    if (it->result == KD_OK) {
        if (kd_store_ctl(s, KD_STMT_RELEASE) == SQLITE_OK)
            return true;
        it->result = KD_ESTORE;
    }
    s->epoch++; /* what this write wrote is undone */
    return kd_store_ctl(s, KD_STMT_ROLLBACK_TO) == SQLITE_OK &&
           kd_store_ctl(s, KD_STMT_RELEASE) == SQLITE_OK;
}

static unsigned kd_store_bucket(unsigned n)
{
    unsigned i = 0;

    while (i < KD_STORE_BATCH_BUCKETS - 1 && n > (1u << i))
        i++;
    return i;
}

/* Fails the first n items of the list at head with KD_ESTORE; returns the rest. */
static struct kd_store_item *kd_store_fail(struct kd_store *s, struct kd_store_item *head,
                                           unsigned n)
{
    s->epoch++; /* the transaction's writes are undone */
    for (unsigned i = 0; i < n; i++, head = head->next)
        head->result = KD_ESTORE;
    atomic_fetch_add_explicit(&s->ctr.writes_failed, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->ctr.commit_failures, 1, memory_order_relaxed);
    return head;
}

/*
 * Runs the n writes at head as one transaction. If a write breaks the
 * transaction, the writes run so far fail and the rest go on in a new one;
 * if COMMIT fails, every write in the transaction fails.
 */
static void kd_store_run_batch(struct kd_store *s, struct kd_store_item *head, unsigned n)
{
    while (n > 0) {
        struct kd_store_item *it = head;
        unsigned ran = 0, ok = 0;
        bool intact = true;

        if (kd_store_ctl(s, KD_STMT_BEGIN) != SQLITE_OK) {
            kd_store_fail(s, head, n);
            return;
        }
        while (ran < n && intact) {
            intact = kd_store_run_one(s, it);
            ok += it->result == KD_OK;
            ran++;
            it = it->next;
        }
        if (intact) {
            uint64_t t0 = kd_store_now_us();

            if (kd_store_ctl(s, KD_STMT_COMMIT) == SQLITE_OK) {
                struct kd_store_counters *c = &s->ctr;

                atomic_fetch_add_explicit(&c->commit_us_sum, kd_store_now_us() - t0,
                                          memory_order_relaxed);
                atomic_fetch_add_explicit(&c->commits, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&c->batch_bucket[kd_store_bucket(ran)], 1,
                                          memory_order_relaxed);
                atomic_fetch_add_explicit(&c->batch_size_sum, ran, memory_order_relaxed);
                atomic_fetch_add_explicit(&c->writes_committed, ok, memory_order_relaxed);
                atomic_fetch_add_explicit(&c->writes_failed, ran - ok, memory_order_relaxed);
                return;
            }
        }
        if (!sqlite3_get_autocommit(s->writer.db))
            kd_store_ctl(s, KD_STMT_ROLLBACK);
        head = kd_store_fail(s, head, ran);
        n -= ran;
    }
}

static void *kd_store_writer_main(void *arg)
{
    struct kd_store *s = arg;

    kd_store_tls_writer = s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct kd_store_item *head, *last;
        unsigned n = 1;
        bool sync;

        while (s->q_head == NULL && !s->stopping)
            pthread_cond_wait(&s->cv_work, &s->mu);
        if (s->q_head == NULL)
            break;
        /* Take the batch: everything queued up to batch_max, cut before a
         * sync write, which always runs alone. */
        head = last = s->q_head;
        sync = head->sync;
        while (!sync && n < s->batch_max && last->next != NULL && !last->next->sync) {
            last = last->next;
            n++;
        }
        s->q_head = last->next;
        if (s->q_head == NULL)
            s->q_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);

        kd_store_run_batch(s, head, n);

        pthread_mutex_lock(&s->mu);
        if (sync) {
            head->finished = true; /* the waiter owns it from here */
            pthread_cond_broadcast(&s->cv_sync);
            continue;
        }
        if (s->d_tail != NULL)
            s->d_tail->next = head;
        else
            s->d_head = head;
        s->d_tail = last;
        if (s->wake != NULL) {
            pthread_mutex_unlock(&s->mu);
            s->wake(s->wake_arg);
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- open / close ---- */

/* Frees a store whose writer thread is not running. */
static void kd_store_free(struct kd_store *s, bool sync_init)
{
    kd_store_conn_close(&s->reader);
    kd_store_conn_close(&s->writer);
    if (sync_init) {
        pthread_cond_destroy(&s->cv_sync);
        pthread_cond_destroy(&s->cv_work);
        pthread_mutex_destroy(&s->mu);
    }
    free(s);
}

static enum kd_err kd_store_start_thread(struct kd_store *s)
{
    sigset_t all, old;
    int rc;

    /* Signals belong to the host's loop, never to the writer. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, kd_store_writer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        kd_log_error("store", "cannot start the writer thread: %s", strerror(rc));
        return KD_EINTERNAL;
    }
    return KD_OK;
}

enum kd_err kd_store_open(struct kd_store **out, const char *path, const struct kd_store_opts *opts,
                          void (*wake)(void *arg), void *wake_arg)
{
    struct kd_store *s = NULL;
    bool sync_init = false;
    enum kd_err err = KD_EINVAL;

    if (out == NULL)
        return KD_EINVAL;
    *out = NULL;
    if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return KD_EINVAL;
    if (opts != NULL &&
        (opts->batch_max > KD_STORE_BATCH_MAX_LIMIT || opts->queue_max > KD_STORE_QUEUE_MAX_LIMIT))
        return KD_EINVAL;
    if (!sqlite3_threadsafe()) {
        kd_log_error("store", "this SQLite library is built without thread support");
        return KD_ESTORE;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KD_ENOMEM;
    s->batch_max = opts != NULL && opts->batch_max ? opts->batch_max : KD_STORE_BATCH_MAX_DEFAULT;
    s->queue_max = opts != NULL && opts->queue_max ? opts->queue_max : KD_STORE_QUEUE_MAX_DEFAULT;
    s->wake = wake;
    s->wake_arg = wake_arg;
    s->txn.s = s;
    /* Epochs of stores opened one after the other never coincide. */
    s->epoch = atomic_fetch_add_explicit(&kd_store_opened, 1, memory_order_relaxed) << 40;

    if ((err = kd_store_create_private(path)) != KD_OK ||
        (err = kd_store_conn_open(&s->writer, s, path, true)) != KD_OK)
        goto out;
    /* Refuse what is not ours before writing anything, WAL mode included. */
    if ((err = kd_store_schema_check(s->writer.db, path, kd_store_migrations_count)) != KD_OK)
        goto out;
    if ((err = kd_store_pragma(s->writer.db, path, "PRAGMA journal_mode = WAL", "wal")) != KD_OK ||
        (err = kd_store_pragma(s->writer.db, path, "PRAGMA synchronous = FULL", NULL)) != KD_OK ||
        (err = kd_store_pragma(s->writer.db, path, "PRAGMA foreign_keys = ON", NULL)) != KD_OK)
        goto out;
    err =
        kd_store_schema_migrate(s->writer.db, path, kd_store_migrations, kd_store_migrations_count);
    if (err != KD_OK)
        goto out;
    if ((err = kd_store_conn_prepare(&s->writer, path)) != KD_OK)
        goto out;
    if ((err = kd_store_conn_open(&s->reader, s, path, false)) != KD_OK ||
        (err = kd_store_conn_prepare(&s->reader, path)) != KD_OK)
        goto out;

    err = KD_EINTERNAL;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&s->cv_work, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        goto out;
    }
    if (pthread_cond_init(&s->cv_sync, NULL) != 0) {
        pthread_cond_destroy(&s->cv_work);
        pthread_mutex_destroy(&s->mu);
        goto out;
    }
    sync_init = true;
    if ((err = kd_store_start_thread(s)) != KD_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    if (s != NULL)
        kd_store_free(s, sync_init);
    return err;
}

void kd_store_close(struct kd_store *s)
{
    int rc;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    kd_store_drain(s);

    kd_store_conn_close(&s->reader);
    rc = sqlite3_wal_checkpoint_v2(s->writer.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK)
        kd_log_warn("store", "WAL checkpoint at close: %s", sqlite3_errmsg(s->writer.db));
    kd_store_free(s, true);
}

/* ---- submitting and completing ---- */

enum kd_err kd_store_submit(struct kd_store *s, kd_store_write_fn fn, kd_store_done_fn done,
                            void *arg)
{
    struct kd_store_item *it;
    enum kd_err err = KD_OK;

    if (s == NULL || fn == NULL || kd_store_tls_writer == s)
        return KD_EINVAL;
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return KD_ENOMEM;
    it->fn = fn;
    it->done = done;
    it->arg = arg;

    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->inflight >= s->queue_max) {
        err = KD_EUNAVAIL;
    } else {
        if (s->q_tail != NULL)
            s->q_tail->next = it;
        else
            s->q_head = it;
        s->q_tail = it;
        s->inflight++;
        atomic_store_explicit(&s->ctr.queue_depth, s->inflight, memory_order_relaxed);
        pthread_cond_signal(&s->cv_work);
    }
    pthread_mutex_unlock(&s->mu);
    if (err != KD_OK)
        free(it);
    return err;
}

void kd_store_drain(struct kd_store *s)
{
    struct kd_store_item *it, *next;
    unsigned n = 0;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    it = s->d_head;
    s->d_head = s->d_tail = NULL;
    for (next = it; next != NULL; next = next->next)
        n++;
    s->inflight -= n;
    atomic_store_explicit(&s->ctr.queue_depth, s->inflight, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);

    for (; it != NULL; it = next) {
        next = it->next;
        if (it->done != NULL)
            it->done(it->result, it->arg);
        free(it);
    }
}

enum kd_err kd_store_write_sync(struct kd_store *s, kd_store_write_fn fn, void *arg)
{
    struct kd_store_item it;

    if (s == NULL || fn == NULL || kd_store_tls_writer == s)
        return KD_EINVAL;
    memset(&it, 0, sizeof(it));
    it.fn = fn;
    it.arg = arg;
    it.sync = true;

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return KD_EUNAVAIL;
    }
    if (s->q_tail != NULL)
        s->q_tail->next = &it;
    else
        s->q_head = &it;
    s->q_tail = &it;
    pthread_cond_signal(&s->cv_work);
    while (!it.finished)
        pthread_cond_wait(&s->cv_sync, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return it.result;
}
