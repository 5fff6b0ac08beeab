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
/* The writer's page cache, KiB (SQLite's default is 2000): B-tree pages of
 * random keys (SAIDs, prefixes) stay cached instead of being read again from
 * the WAL or the file. Filled on demand: an idle store does not use it. */
#define KD_STORE_WRITER_CACHE_KIB 8192
/* WAL frames after which the checkpointer thread copies the WAL into the
 * database file (SQLite's automatic checkpoint, run on the writer, would do
 * it every 1000 frames inside a commit and stall every write behind it). */
#define KD_STORE_CKPT_FRAMES 4000
/* Past this many frames (64 MiB of 4 KiB pages) the writer itself copies
 * the whole WAL and waits until it can start it over (RESTART), before it
 * takes the next batch: the WAL stays bounded when the checkpointer cannot
 * keep up, and the writes wait instead (back-pressure). */
#define KD_STORE_CKPT_HARD_FRAMES 16384
/* How long that writer-side checkpoint waits for a lock (ms). */
#define KD_STORE_CKPT_WAIT_MS 250

/*
 * Background checkpoints. The writer connection does not checkpoint on its
 * own (sqlite3_wal_autocheckpoint 0); its WAL hook, run after each COMMIT,
 * wakes this thread once the WAL holds KD_STORE_CKPT_FRAMES frames. The
 * thread has its own connection and runs PASSIVE checkpoints (never waiting
 * for the writer or the reader) with synchronous=FULL, until the WAL is
 * wholly copied; the writer then starts the WAL over at its next
 * transaction. Durability is unchanged: a COMMIT is durable once the WAL is
 * synced, which the writer still does before answering.
 */
struct kd_store_ckpt {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;  /* thread running (mu, cv initialised) */
    bool stop;     /* under mu */
    bool want;     /* under mu: the WAL passed the threshold */
    int hard_next; /* writer thread: frames at which the writer tries its own RESTART next */
};

/* The store with what only this file keeps: a struct kd_store * handed out
 * by kd_store_open always points at the first member of one of these. */
struct kd_store_full {
    struct kd_store s;
    struct kd_store_ckpt ck;
};

static struct kd_store_ckpt *kd_store_ck(struct kd_store *s)
{
    return &((struct kd_store_full *)(void *)s)->ck;
}

#define KD_STORE_STR_(x) #x
#define KD_STORE_STR(x)  KD_STORE_STR_(x)

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

/* ---- the WAL write buffer (a VFS over SQLite's default one) ---- */

/*
 * SQLite appends a WAL frame as two writes, its 24-byte header and the page:
 * a commit of n dirty pages costs 2n pwrite calls. kerid's connections open
 * their files through this VFS, which forwards everything to the default VFS
 * except writes to a WAL file: contiguous appends are gathered in a buffer
 * and written with one call when SQLite syncs the WAL (before a COMMIT
 * counts), reads, truncates, asks for its size, closes it, writes elsewhere
 * in it, or the buffer is full. Nothing is ever reported durable earlier
 * than before: SQLite only relies on what its xSync call made durable, and
 * xSync writes the buffer first; a write error surfaces from that xSync.
 */
#define KD_WALBUF_NAME "kerid-walbuf"
#define KD_WALBUF_CAP  (1024u * 1024u)
/* The default VFS writes at most 128 KiB - 1 bytes per call (it masks the
 * count): the buffer goes out in pieces of this size. */
#define KD_WALBUF_CHUNK (64u * 1024u)

struct kd_walbuf_file {
    sqlite3_file base;  /* pMethods: kd_walbuf_io */
    sqlite3_file *real; /* the default VFS's file, stored right after this struct */
    bool wal;           /* a WAL file: writes are buffered */
    unsigned char *buf; /* KD_WALBUF_CAP bytes once the first write came */
    size_t len;         /* bytes buffered */
    sqlite3_int64 off;  /* file offset of buf[0] */
};

static sqlite3_vfs *kd_walbuf_base;

static struct kd_walbuf_file *kd_walbuf(sqlite3_file *f)
{
    return (struct kd_walbuf_file *)(void *)f;
}

static int kd_walbuf_flush(struct kd_walbuf_file *f)
{
    int rc = SQLITE_OK;

    for (size_t at = 0; at < f->len && rc == SQLITE_OK; at += KD_WALBUF_CHUNK) {
        size_t n = f->len - at < KD_WALBUF_CHUNK ? f->len - at : KD_WALBUF_CHUNK;

        rc = f->real->pMethods->xWrite(f->real, f->buf + at, (int)n, f->off + (sqlite3_int64)at);
    }
    f->len = 0;
    return rc;
}

static int kd_walbuf_close(sqlite3_file *pf)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f), rc2 = f->real->pMethods->xClose(f->real);

    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int kd_walbuf_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);

    if (f->len > 0 && off < f->off + (sqlite3_int64)f->len && off + n > f->off) {
        int rc = kd_walbuf_flush(f);

        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, p, n, off);
}

static int kd_walbuf_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc;

    if (!f->wal || n <= 0 || (size_t)n > KD_WALBUF_CHUNK)
        goto direct;
    if (f->buf == NULL && (f->buf = malloc(KD_WALBUF_CAP)) == NULL)
        goto direct;
    if (f->len > 0 &&
        (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > KD_WALBUF_CAP)) {
        if ((rc = kd_walbuf_flush(f)) != SQLITE_OK)
            return rc;
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, p, (size_t)n);
    f->len += (size_t)n;
    return SQLITE_OK;
direct:
    if ((rc = kd_walbuf_flush(f)) != SQLITE_OK)
        return rc;
    return f->real->pMethods->xWrite(f->real, p, n, off);
}

static int kd_walbuf_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int kd_walbuf_sync(sqlite3_file *pf, int flags)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int kd_walbuf_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int kd_walbuf_lock(sqlite3_file *pf, int l)
{
    return kd_walbuf(pf)->real->pMethods->xLock(kd_walbuf(pf)->real, l);
}

static int kd_walbuf_unlock(sqlite3_file *pf, int l)
{
    return kd_walbuf(pf)->real->pMethods->xUnlock(kd_walbuf(pf)->real, l);
}

static int kd_walbuf_reserved(sqlite3_file *pf, int *out)
{
    return kd_walbuf(pf)->real->pMethods->xCheckReservedLock(kd_walbuf(pf)->real, out);
}

static int kd_walbuf_fcntl(sqlite3_file *pf, int op, void *arg)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int kd_walbuf_sector(sqlite3_file *pf)
{
    return kd_walbuf(pf)->real->pMethods->xSectorSize(kd_walbuf(pf)->real);
}

static int kd_walbuf_devchar(sqlite3_file *pf)
{
    return kd_walbuf(pf)->real->pMethods->xDeviceCharacteristics(kd_walbuf(pf)->real);
}

static int kd_walbuf_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
    sqlite3_file *r = kd_walbuf(pf)->real;

    return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}

static int kd_walbuf_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    sqlite3_file *r = kd_walbuf(pf)->real;

    return r->pMethods->xShmLock(r, offset, n, flags);
}

static void kd_walbuf_shm_barrier(sqlite3_file *pf)
{
    sqlite3_file *r = kd_walbuf(pf)->real;

    r->pMethods->xShmBarrier(r);
}

static int kd_walbuf_shm_unmap(sqlite3_file *pf, int del)
{
    sqlite3_file *r = kd_walbuf(pf)->real;

    return r->pMethods->xShmUnmap(r, del);
}

static int kd_walbuf_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc = kd_walbuf_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int kd_walbuf_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    sqlite3_file *r = kd_walbuf(pf)->real;

    return r->pMethods->xUnfetch(r, off, p);
}

static const sqlite3_io_methods kd_walbuf_io = {
    .iVersion = 3,
    .xClose = kd_walbuf_close,
    .xRead = kd_walbuf_read,
    .xWrite = kd_walbuf_write,
    .xTruncate = kd_walbuf_truncate,
    .xSync = kd_walbuf_sync,
    .xFileSize = kd_walbuf_size,
    .xLock = kd_walbuf_lock,
    .xUnlock = kd_walbuf_unlock,
    .xCheckReservedLock = kd_walbuf_reserved,
    .xFileControl = kd_walbuf_fcntl,
    .xSectorSize = kd_walbuf_sector,
    .xDeviceCharacteristics = kd_walbuf_devchar,
    .xShmMap = kd_walbuf_shm_map,
    .xShmLock = kd_walbuf_shm_lock,
    .xShmBarrier = kd_walbuf_shm_barrier,
    .xShmUnmap = kd_walbuf_shm_unmap,
    .xFetch = kd_walbuf_fetch,
    .xUnfetch = kd_walbuf_unfetch,
};

static int kd_walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags,
                          int *out_flags)
{
    struct kd_walbuf_file *f = kd_walbuf(pf);
    int rc;

    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(void *)(f + 1);
    rc = kd_walbuf_base->xOpen(kd_walbuf_base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    /* the real file must speak version 3 for the forwarding table above */
    if (f->real->pMethods->iVersion < 3) {
        f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->base.pMethods = &kd_walbuf_io;
    return SQLITE_OK;
}

static int kd_walbuf_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
    return kd_walbuf_base->xDelete(kd_walbuf_base, name, sync);
}

static int kd_walbuf_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return kd_walbuf_base->xAccess(kd_walbuf_base, name, flags, out);
}

static int kd_walbuf_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return kd_walbuf_base->xFullPathname(kd_walbuf_base, name, n, out);
}

static void *kd_walbuf_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return kd_walbuf_base->xDlOpen(kd_walbuf_base, name);
}

static void kd_walbuf_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    kd_walbuf_base->xDlError(kd_walbuf_base, n, msg);
}

static void (*kd_walbuf_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return kd_walbuf_base->xDlSym(kd_walbuf_base, h, sym);
}

static void kd_walbuf_dlclose(sqlite3_vfs *vfs, void *h)
{
    kd_walbuf_base->xDlClose(kd_walbuf_base, h);
}

static int kd_walbuf_random(sqlite3_vfs *vfs, int n, char *out)
{
    return kd_walbuf_base->xRandomness(kd_walbuf_base, n, out);
}

static int kd_walbuf_sleep(sqlite3_vfs *vfs, int us)
{
    return kd_walbuf_base->xSleep(kd_walbuf_base, us);
}

static int kd_walbuf_time(sqlite3_vfs *vfs, double *out)
{
    return kd_walbuf_base->xCurrentTime(kd_walbuf_base, out);
}

static int kd_walbuf_lasterr(sqlite3_vfs *vfs, int n, char *out)
{
    return kd_walbuf_base->xGetLastError(kd_walbuf_base, n, out);
}

static int kd_walbuf_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return kd_walbuf_base->xCurrentTimeInt64(kd_walbuf_base, out);
}

static sqlite3_vfs kd_walbuf_vfs = {
    .iVersion = 2,
    .zName = KD_WALBUF_NAME,
    .xOpen = kd_walbuf_open,
    .xDelete = kd_walbuf_delete,
    .xAccess = kd_walbuf_access,
    .xFullPathname = kd_walbuf_fullpath,
    .xDlOpen = kd_walbuf_dlopen,
    .xDlError = kd_walbuf_dlerror,
    .xDlSym = kd_walbuf_dlsym,
    .xDlClose = kd_walbuf_dlclose,
    .xRandomness = kd_walbuf_random,
    .xSleep = kd_walbuf_sleep,
    .xCurrentTime = kd_walbuf_time,
    .xGetLastError = kd_walbuf_lasterr,
    .xCurrentTimeInt64 = kd_walbuf_time64,
};

static pthread_once_t kd_walbuf_once = PTHREAD_ONCE_INIT;
static int kd_walbuf_rc = SQLITE_ERROR;

static void kd_walbuf_register(void)
{
    kd_walbuf_base = sqlite3_vfs_find(NULL);
    if (kd_walbuf_base == NULL || kd_walbuf_base->iVersion < 2 ||
        kd_walbuf_base->xCurrentTimeInt64 == NULL)
        return;
    kd_walbuf_vfs.szOsFile = (int)sizeof(struct kd_walbuf_file) + kd_walbuf_base->szOsFile;
    kd_walbuf_vfs.mxPathname = kd_walbuf_base->mxPathname;
    kd_walbuf_rc = sqlite3_vfs_register(&kd_walbuf_vfs, 0);
}

/* The VFS name kerid's connections open with: the WAL write buffer, or
 * NULL (SQLite's default VFS) if it could not be registered. */
static const char *kd_walbuf_vfs_name(void)
{
    pthread_once(&kd_walbuf_once, kd_walbuf_register);
    if (kd_walbuf_rc != SQLITE_OK)
        return NULL;
    return KD_WALBUF_NAME;
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
    rc = sqlite3_open_v2(path, &c->db, flags, kd_walbuf_vfs_name());
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

/* ---- the checkpointer thread ---- */

static void *kd_store_ckpt_main(void *arg)
{
    struct kd_store *s = arg;
    struct kd_store_ckpt *ck = kd_store_ck(s);

    pthread_mutex_lock(&ck->mu);
    for (;;) {
        int log = 0, done = 0, rc;

        while (!ck->want && !ck->stop)
            pthread_cond_wait(&ck->cv, &ck->mu);
        if (ck->stop)
            break;
        ck->want = false;
        pthread_mutex_unlock(&ck->mu);
        /* Copy what is committed; again while the writer added frames
         * meanwhile, so that a pass ends with the WAL wholly copied and the
         * writer can start it over. */
        for (int pass = 0; pass < 8; pass++) {
            rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
            if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
                kd_log_warn("store", "checkpoint: %s", sqlite3_errmsg(ck->db));
                break;
            }
            if (rc == SQLITE_BUSY || log < 0 || done >= log)
                break;
        }
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

/* The writer connection's WAL hook: runs on the writer thread after each
 * COMMIT with the number of frames in the WAL. */
static int kd_store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct kd_store *s = arg;
    struct kd_store_ckpt *ck = kd_store_ck(s);

    if (frames < KD_STORE_CKPT_HARD_FRAMES)
        ck->hard_next = KD_STORE_CKPT_HARD_FRAMES; /* the WAL was started over */
    if (frames >= ck->hard_next || (!ck->started && frames >= KD_STORE_CKPT_FRAMES)) {
        /* far behind (or no thread): copy everything now, on the writer,
         * waiting a little for a checkpoint the thread runs or a reader on
         * an old snapshot; if that is not enough, not again before the WAL
         * grew by another KD_STORE_CKPT_FRAMES (no stall on every commit) */
        int rc;

        sqlite3_busy_timeout(db, KD_STORE_CKPT_WAIT_MS);
        rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        sqlite3_busy_timeout(db, KD_STORE_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK) {
            if (rc != SQLITE_BUSY)
                kd_log_warn("store", "checkpoint: %s", sqlite3_errmsg(db));
            ck->hard_next = frames + KD_STORE_CKPT_FRAMES;
        }
        return SQLITE_OK;
    }
    if (frames >= KD_STORE_CKPT_FRAMES) {
        pthread_mutex_lock(&ck->mu);
        ck->want = true;
        pthread_cond_signal(&ck->cv);
        pthread_mutex_unlock(&ck->mu);
    }
    return SQLITE_OK;
}

/* Opens the checkpointer's connection and starts its thread; installs the
 * writer's WAL hook. */
static enum kd_err kd_store_ckpt_start(struct kd_store *s, const char *path)
{
    struct kd_store_ckpt *ck = kd_store_ck(s);
    sigset_t all, old;
    int rc;

    rc = sqlite3_open_v2(path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                         kd_walbuf_vfs_name());
    if (rc != SQLITE_OK) {
        kd_log_error("store", "%s: cannot open the checkpoint connection: %s", path,
                     ck->db != NULL ? sqlite3_errmsg(ck->db) : sqlite3_errstr(rc));
        return rc == SQLITE_NOMEM ? KD_ENOMEM : KD_ESTORE;
    }
    sqlite3_extended_result_codes(ck->db, 1);
    ck->hard_next = KD_STORE_CKPT_HARD_FRAMES;
    if (kd_store_pragma(ck->db, path, "PRAGMA synchronous = FULL", NULL) != KD_OK)
        return KD_ESTORE;
    if (pthread_mutex_init(&ck->mu, NULL) != 0)
        return KD_EINTERNAL;
    if (pthread_cond_init(&ck->cv, NULL) != 0) {
        pthread_mutex_destroy(&ck->mu);
        return KD_EINTERNAL;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&ck->thread, NULL, kd_store_ckpt_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&ck->cv);
        pthread_mutex_destroy(&ck->mu);
        kd_log_error("store", "cannot start the checkpoint thread: %s", strerror(rc));
        return KD_EINTERNAL;
    }
    ck->started = true;
    return KD_OK;
}

/* Stops the checkpointer thread (if it runs) and closes its connection. */
static void kd_store_ckpt_stop(struct kd_store *s)
{
    struct kd_store_ckpt *ck = kd_store_ck(s);

    if (ck->started) {
        pthread_mutex_lock(&ck->mu);
        ck->stop = true;
        pthread_cond_signal(&ck->cv);
        pthread_mutex_unlock(&ck->mu);
        pthread_join(ck->thread, NULL);
        pthread_cond_destroy(&ck->cv);
        pthread_mutex_destroy(&ck->mu);
        ck->started = false;
    }
    if (ck->db != NULL && sqlite3_close(ck->db) != SQLITE_OK)
        kd_log_error("store", "cannot close the checkpoint connection: %s", sqlite3_errmsg(ck->db));
    ck->db = NULL;
}

/* ---- open / close ---- */

/* Frees a store whose writer thread is not running. */
static void kd_store_free(struct kd_store *s, bool sync_init)
{
    kd_store_ckpt_stop(s);
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
    {
        struct kd_store_full *full = calloc(1, sizeof(*full));

        if (full == NULL)
            return KD_ENOMEM;
        s = &full->s;
    }
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
        (err = kd_store_pragma(s->writer.db, path, "PRAGMA foreign_keys = ON", NULL)) != KD_OK ||
        (err = kd_store_pragma(s->writer.db, path,
                               "PRAGMA cache_size = -" KD_STORE_STR(KD_STORE_WRITER_CACHE_KIB),
                               NULL)) != KD_OK ||
        (err = kd_store_pragma(s->writer.db, path, "PRAGMA temp_store = MEMORY", NULL)) != KD_OK)
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
    /* checkpoints move to their own thread (see struct kd_store_ckpt) */
    sqlite3_wal_autocheckpoint(s->writer.db, 0);
    if ((err = kd_store_ckpt_start(s, path)) != KD_OK)
        goto out;
    sqlite3_wal_hook(s->writer.db, kd_store_wal_hook, s);

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

    kd_store_ckpt_stop(s);
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
