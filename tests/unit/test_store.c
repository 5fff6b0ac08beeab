/*
 * store/ tests. Truth comes from outside the code under test: a fresh,
 * independent SQLite connection reads what the store claims it committed
 * (and the PRAGMAs it claims it set), files are compared byte for byte, and
 * the metrics text follows the Prometheus exposition format (cumulative
 * histogram buckets, _sum and _count).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/store/store_int.h"
#include "kerid/log.h"
#include "kerid/store.h"

#define NOPS 256

/* ---- fixture ---- */

/* Holds the writer inside its transaction until released. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, released;
    const char *key, *val; /* written before blocking, if key != NULL */
};

struct fx;

enum op_mode {
    OP_PUT,         /* meta_put(key, val), then return fail_with */
    OP_RAW,         /* run sql on the writer connection, return fail_with */
    OP_SUBMIT_SELF, /* try kd_store_submit and kd_store_write_sync from the writer */
    OP_KEEP_TXN,    /* remember the txn pointer */
    OP_READER,      /* try the host's reader from the writer */
};

struct op {
    struct fx *fx;
    unsigned idx;
    enum op_mode mode;
    char key[32];
    char val[32];
    const char *sql;
    enum kd_err fail_with;
    bool check_committed;
    /* results */
    enum kd_err got_submit, got_sync, got_reader;
    struct kd_store_txn *kept;
    unsigned done_calls;
    enum kd_err result;
    int committed_seen; /* -1 not checked, 0 absent, 1 present with the value */
};

struct fx {
    char dir[64];
    char path[128];
    struct kd_store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned wakes;
    unsigned ndone;
    unsigned order[NOPS + 8];
    struct op ops[NOPS];
    struct gate gate; /* released by the teardown too, so a failing test cannot hang */
    /* during kd_store_close: what a done callback got from kd_store_submit */
    bool submit_in_close;
    enum kd_err submit_in_close_got;
};

static void gate_release(struct gate *g);

static void fx_wake(void *arg)
{
    struct fx *fx = arg;

    pthread_mutex_lock(&fx->mu);
    fx->wakes++;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->mu);
}

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/kd-store-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/kerid.sqlite3", fx->dir);
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    pthread_mutex_init(&fx->gate.mu, NULL);
    pthread_cond_init(&fx->gate.cv, NULL);
    for (unsigned i = 0; i < NOPS; i++) {
        fx->ops[i].fx = fx;
        fx->ops[i].idx = i;
        fx->ops[i].committed_seen = -1;
    }
    *state = fx;
    return 0;
}

static void fx_unlink(const struct fx *fx, const char *suffix)
{
    char p[160];

    snprintf(p, sizeof(p), "%s%s", fx->path, suffix);
    unlink(p);
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    gate_release(&fx->gate);
    kd_store_close(fx->s);
    fx_unlink(fx, "");
    fx_unlink(fx, "-wal");
    fx_unlink(fx, "-shm");
    fx_unlink(fx, "-journal");
    rmdir(fx->dir);
    pthread_cond_destroy(&fx->gate.cv);
    pthread_mutex_destroy(&fx->gate.mu);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->mu);
    free(fx);
    return 0;
}

static void fx_open(struct fx *fx, const struct kd_store_opts *opts)
{
    assert_int_equal(kd_store_open(&fx->s, fx->path, opts, fx_wake, fx), KD_OK);
    assert_non_null(fx->s);
}

static void fx_close(struct fx *fx)
{
    kd_store_close(fx->s);
    fx->s = NULL;
}

static bool fx_exists(const struct fx *fx, const char *suffix)
{
    char p[160];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s", fx->path, suffix);
    return stat(p, &st) == 0;
}

static unsigned fx_mode(const struct fx *fx, const char *suffix)
{
    char p[160];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s", fx->path, suffix);
    assert_int_equal(stat(p, &st), 0);
    return (unsigned)st.st_mode & 0777;
}

/* Drains until *count reaches target, sleeping on wake(); fails after 10 s. */
static void fx_drain_until(struct fx *fx, const unsigned *count, unsigned target)
{
    struct timespec deadline, t;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    for (;;) {
        unsigned seen;

        pthread_mutex_lock(&fx->mu);
        seen = fx->wakes;
        pthread_mutex_unlock(&fx->mu);
        kd_store_drain(fx->s);
        if (*count >= target)
            return;
        clock_gettime(CLOCK_REALTIME, &t);
        assert_true(t.tv_sec < deadline.tv_sec);
        t.tv_nsec += 100 * 1000 * 1000;
        if (t.tv_nsec >= 1000000000) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&fx->mu);
        if (fx->wakes == seen)
            pthread_cond_timedwait(&fx->cv, &fx->mu, &t);
        pthread_mutex_unlock(&fx->mu);
    }
}

/* Waits (without draining) until the writer has called wake() n times in all. */
static void fx_wait_wakes(struct fx *fx, unsigned n)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&fx->mu);
    while (fx->wakes < n)
        assert_int_not_equal(pthread_cond_timedwait(&fx->cv, &fx->mu, &deadline), ETIMEDOUT);
    pthread_mutex_unlock(&fx->mu);
}

/* ---- independent reads through a fresh SQLite connection ---- */

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* 1 if meta[key] == val, 0 if absent, -2 if present with another value. */
static int raw_meta(const char *path, const char *key, const char *val)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -3;
    }
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return -3;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        r = 0;
    } else if (r == SQLITE_ROW) {
        const size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);

        r = n == strlen(val) && (n == 0 || memcmp(p, val, n) == 0) ? 1 : -2;
    } else {
        r = -3;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Whole file contents (malloc'd), or NULL with *n = 0 if it does not exist. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long len;

    *n = 0;
    if (f == NULL)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* ---- writes used by the tests ---- */

static enum kd_err gate_write(struct kd_store_txn *txn, void *arg)
{
    struct gate *g = arg;
    enum kd_err e = KD_OK;

    if (g->key != NULL)
        e = kd_store_meta_put(txn, g->key, g->val, strlen(g->val));
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->released)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return e;
}

static void gate_wait_entered(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_release(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static unsigned gate_done_calls;
static enum kd_err gate_done_result;

static void gate_done(enum kd_err result, void *arg)
{
    (void)arg;
    gate_done_calls++;
    gate_done_result = result;
}

static enum kd_err op_write(struct kd_store_txn *txn, void *arg)
{
    struct op *op = arg;
    enum kd_err e;

    switch (op->mode) {
    case OP_PUT:
        e = kd_store_meta_put(txn, op->key, op->val, strlen(op->val));
        if (e != KD_OK)
            return e;
        break;
    case OP_RAW:
        if (sqlite3_exec(kd_store_test_txn_db(txn), op->sql, NULL, NULL, NULL) != SQLITE_OK)
            return KD_ESTORE;
        break;
    case OP_SUBMIT_SELF:
        op->got_submit = kd_store_submit(op->fx->s, op_write, NULL, op);
        op->got_sync = kd_store_write_sync(op->fx->s, op_write, op);
        break;
    case OP_KEEP_TXN:
        op->kept = txn;
        break;
    case OP_READER: {
        struct kd_buf b;

        kd_buf_init(&b, 0);
        op->got_reader = kd_store_meta_get(op->fx->s, "x", &b);
        kd_buf_free(&b);
        break;
    }
    }
    return op->fail_with;
}

static void op_done(enum kd_err result, void *arg)
{
    struct op *op = arg;
    struct fx *fx = op->fx;

    op->done_calls++;
    op->result = result;
    fx->order[fx->ndone++] = op->idx;
    if (op->check_committed)
        op->committed_seen = raw_meta(fx->path, op->key, op->val);
    if (fx->submit_in_close) {
        fx->submit_in_close_got = kd_store_submit(fx->s, op_write, NULL, op);
        fx->submit_in_close = false;
    }
}

static struct op *op_put(struct fx *fx, unsigned i, enum kd_err fail_with)
{
    struct op *op = &fx->ops[i];

    op->mode = OP_PUT;
    snprintf(op->key, sizeof(op->key), "k%03u", i);
    snprintf(op->val, sizeof(op->val), "value-%u", i * 7);
    op->fail_with = fail_with;
    return op;
}

static enum kd_err put_sync_fn(struct kd_store_txn *txn, void *arg)
{
    const char *const *kv = arg;

    return kd_store_meta_put(txn, kv[0], kv[1], strlen(kv[1]));
}

static void put_sync(struct fx *fx, const char *key, const char *val)
{
    const char *kv[2] = {key, val};

    assert_int_equal(kd_store_write_sync(fx->s, put_sync_fn, (void *)kv), KD_OK);
}

static void assert_meta(struct fx *fx, const char *key, const char *val)
{
    struct kd_buf b;

    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_meta_get(fx->s, key, &b), KD_OK);
    assert_int_equal(b.len, strlen(val));
    assert_memory_equal(b.data, val, b.len);
    kd_buf_free(&b);
}

static void assert_meta_absent(struct fx *fx, const char *key)
{
    struct kd_buf b;

    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_meta_get(fx->s, key, &b), KD_ENOTFOUND);
    assert_int_equal(b.len, 0);
    kd_buf_free(&b);
}

/* ---- open, schema, migrations ---- */

static enum kd_err sync_pragma_fn(struct kd_store_txn *txn, void *arg)
{
    int64_t *out = arg;
    sqlite3 *db = kd_store_test_txn_db(txn);
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return KD_ESTORE;
    out[0] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return KD_ESTORE;
    out[1] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return KD_OK;
}

static void test_open_fresh(void **state)
{
    struct fx *fx = *state;
    int64_t pragmas[2] = {-1, -1};
    char mode[16];

    assert_false(fx_exists(fx, ""));
    fx_open(fx, NULL);
    assert_true(fx_exists(fx, ""));
    /* it holds secret seeds: owner-only, the WAL too */
    put_sync(fx, "k", "v");
    assert_int_equal(fx_mode(fx, ""), 0600);
    assert_int_equal(fx_mode(fx, "-wal"), 0600);
    raw_text(fx->path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), KD_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 7);
    assert_int_equal(raw_int(fx->path, "PRAGMA application_id"), 0x6b657269);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                       "AND name IN ('meta', 'kel_events', 'kel_sigs', "
                                       "'kel_states', 'kel_escrows', 'mailbox')"),
                     6);
    /* synchronous=FULL (2) and foreign keys on the writer's own connection */
    assert_int_equal(kd_store_write_sync(fx->s, sync_pragma_fn, pragmas), KD_OK);
    assert_int_equal(pragmas[0], 2);
    assert_int_equal(pragmas[1], 1);
    fx_close(fx);
    /* the WAL was checkpointed into the file and removed */
    assert_false(fx_exists(fx, "-wal"));
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), KD_STORE_SCHEMA_VERSION);
}

static void test_open_bad_arguments(void **state)
{
    struct fx *fx = *state;
    struct kd_store *s = (struct kd_store *)1;
    struct kd_store_opts big_batch = {KD_STORE_BATCH_MAX_LIMIT + 1, 0};
    struct kd_store_opts big_queue = {0, KD_STORE_QUEUE_MAX_LIMIT + 1};
    char nodir[200];

    assert_int_equal(kd_store_open(NULL, fx->path, NULL, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_open(&s, NULL, NULL, NULL, NULL), KD_EINVAL);
    assert_null(s);
    assert_int_equal(kd_store_open(&s, "", NULL, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_open(&s, ":memory:", NULL, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_open(&s, fx->path, &big_batch, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_open(&s, fx->path, &big_queue, NULL, NULL), KD_EINVAL);
    assert_null(s);
    assert_false(fx_exists(fx, ""));
    snprintf(nodir, sizeof(nodir), "%s/no/such/dir/db.sqlite3", fx->dir);
    assert_int_equal(kd_store_open(&s, nodir, NULL, NULL, NULL), KD_ESTORE);
    assert_null(s);
    /* NULL is ignored where a store is expected */
    kd_store_close(NULL);
    kd_store_drain(NULL);
    assert_int_equal(kd_store_submit(NULL, op_write, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_write_sync(NULL, op_write, NULL), KD_EINVAL);
    assert_null(kd_store_reader(NULL));
    assert_null(kd_store_txn_reader(NULL));
    fx_open(fx, NULL);
    assert_int_equal(kd_store_submit(fx->s, NULL, NULL, NULL), KD_EINVAL);
    assert_int_equal(kd_store_write_sync(fx->s, NULL, NULL), KD_EINVAL);
}

static void test_reopen_keeps_data(void **state)
{
    struct fx *fx = *state;

    fx_open(fx, NULL);
    put_sync(fx, "identity/witness/seed", "AJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T");
    fx_close(fx);
    fx_open(fx, NULL);
    assert_meta(fx, "identity/witness/seed", "AJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T");
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), KD_STORE_SCHEMA_VERSION);
}

static const char ev_raw[] = "{\"v\":\"KERI10JSON0000fd_\",\"t\":\"icp\"}";

static enum kd_err add_event_fn(struct kd_store_txn *txn, void *arg)
{
    const struct kd_store_event *ev = arg;
    uint64_t fn = 99;
    enum kd_err e = kd_store_event_add(txn, ev, &fn);

    return e == KD_OK && fn != ev->fn ? KD_EINTERNAL : e;
}

static void test_migrate_from_version_1(void **state)
{
    struct fx *fx = *state;
    sqlite3 *db = NULL;
    struct kd_store_event ev = {
        "Eprefix", 0, "Esaid0", "icp", 0, 1, (const uint8_t *)ev_raw, sizeof(ev_raw) - 1};

    /* An older kerid's database: only migration 1 applied, one value in it. */
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(kd_store_schema_migrate(db, fx->path, kd_store_migrations, 1), KD_OK);
    assert_int_equal(
        sqlite3_exec(db, "INSERT INTO meta VALUES ('old', X'6F6C64')", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                       "'kel_events'"),
                     0);

    fx_open(fx, NULL);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), KD_STORE_SCHEMA_VERSION);
    assert_meta(fx, "old", "old");
    assert_int_equal(kd_store_write_sync(fx->s, add_event_fn, &ev), KD_OK);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM kel_events"), 1);
}

static void test_migrate_from_empty_file(void **state)
{
    struct fx *fx = *state;
    FILE *f = fopen(fx->path, "wb");

    assert_non_null(f); /* a zero-byte file is an empty SQLite database, user_version 0 */
    fclose(f);
    fx_open(fx, NULL);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), KD_STORE_SCHEMA_VERSION);
}

/* Opening must fail with KD_ESTORE and leave the file exactly as it was. */
static void assert_refused_untouched(struct fx *fx)
{
    uint8_t *before, *after;
    size_t nb, na;
    struct kd_store *s = NULL;

    before = slurp(fx->path, &nb);
    assert_non_null(before);
    assert_int_equal(kd_store_open(&s, fx->path, NULL, NULL, NULL), KD_ESTORE);
    assert_null(s);
    after = slurp(fx->path, &na);
    assert_non_null(after);
    assert_int_equal(na, nb);
    assert_memory_equal(after, before, nb);
    assert_false(fx_exists(fx, "-wal"));
    assert_false(fx_exists(fx, "-shm"));
    free(before);
    free(after);
}

static void test_refuse_newer_version(void **state)
{
    struct fx *fx = *state;
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(
        kd_store_schema_migrate(db, fx->path, kd_store_migrations, kd_store_migrations_count),
        KD_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 8", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(fx);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 8);
}

static void test_refuse_foreign_files(void **state)
{
    struct fx *fx = *state;
    FILE *f;

    /* another application's tables at user_version 0 */
    raw_exec(fx->path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)");
    assert_refused_untouched(fx);
    fx_unlink(fx, "");

    /* another application's id */
    raw_exec(fx->path, "PRAGMA application_id = 42; CREATE TABLE t (x)");
    assert_refused_untouched(fx);
    fx_unlink(fx, "");

    /* a schema version but no kerid application_id */
    raw_exec(fx->path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
                       "PRAGMA user_version = 1");
    assert_refused_untouched(fx);
    fx_unlink(fx, "");

    /* not a database at all */
    f = fopen(fx->path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 256; i++)
        fputs("this is not an SQLite database file\n", f);
    fclose(f);
    assert_refused_untouched(fx);
}

static void test_failed_migration_rolls_back(void **state)
{
    struct fx *fx = *state;
    static const char *const scripts[] = {
        "CREATE TABLE a (x);",
        "CREATE TABLE b (x); CREATE TABLE c (x;",
    };
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(kd_store_schema_migrate(db, fx->path, scripts, 2), KD_ESTORE);
    sqlite3_close(db);
    /* migration 1 stayed, migration 2 left no trace */
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'a'"), 1);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'"), 0);

    /* a version above the scripts given is refused inside the migration too */
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(kd_store_schema_migrate(db, fx->path, scripts, 2), KD_ESTORE);
    sqlite3_close(db);
    assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 5);
}

/* ---- the writer: group commit, ordering, failures ---- */

static void test_group_commit(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    struct gate *g = &fx->gate;

    fx_open(fx, NULL);
    gate_done_calls = 0;
    assert_int_equal(kd_store_submit(fx->s, gate_write, gate_done, g), KD_OK);
    gate_wait_entered(g);
    /* 200 writes queue up behind the held writer */
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, i, KD_OK)), KD_OK);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.queue_depth, 201);
    assert_int_equal(st.commits, 0);
    gate_release(g);
    fx_drain_until(fx, &fx->ndone, 200);

    assert_int_equal(gate_done_calls, 1);
    assert_int_equal(gate_done_result, KD_OK);
    for (unsigned i = 0; i < 200; i++) {
        assert_int_equal(fx->ops[i].done_calls, 1);
        assert_int_equal(fx->ops[i].result, KD_OK);
        assert_int_equal(fx->order[i], i); /* submission order */
        assert_meta(fx, fx->ops[i].key, fx->ops[i].val);
    }
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM meta"), 200);

    kd_store_stats_get(fx->s, &st);
    /* the held write alone, then the 200 in one transaction */
    assert_int_equal(st.commits, 2);
    assert_true(st.commits < 200);
    assert_int_equal(st.writes_committed, 201);
    assert_int_equal(st.writes_failed, 0);
    assert_int_equal(st.commit_failures, 0);
    assert_int_equal(st.queue_depth, 0);
    assert_int_equal(st.batch_size_sum, 201);
    for (unsigned i = 0; i < KD_STORE_BATCH_BUCKETS; i++)
        assert_int_equal(st.batch_bucket[i], i == 0 || i == 8 ? 1 : 0); /* 1 and (128, 256] */
}

static void test_batch_max(void **state)
{
    struct fx *fx = *state;
    struct kd_store_opts opts = {8, 0};
    struct kd_store_stats st;
    struct gate *g = &fx->gate;

    fx_open(fx, &opts);
    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, i, KD_OK)), KD_OK);
    gate_release(g);
    fx_drain_until(fx, &fx->ndone, 20);
    kd_store_stats_get(fx->s, &st);
    /* 1, then 8 + 8 + 4 */
    assert_int_equal(st.commits, 4);
    assert_int_equal(st.batch_bucket[0], 1);
    assert_int_equal(st.batch_bucket[2], 1); /* (2, 4] */
    assert_int_equal(st.batch_bucket[3], 2); /* (4, 8] */
    assert_int_equal(st.batch_size_sum, 21);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(fx->order[i], i);
}

static void test_failing_write_rolls_back_alone(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    struct gate *g = &fx->gate;

    fx_open(fx, NULL);
    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    /* write 5 writes its row, then fails: only its row must go */
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(
            kd_store_submit(fx->s, op_write, op_done, op_put(fx, i, i == 5 ? KD_EBADSIG : KD_OK)),
            KD_OK);
    gate_release(g);
    fx_drain_until(fx, &fx->ndone, 10);
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(fx->ops[i].done_calls, 1);
        assert_int_equal(fx->ops[i].result, i == 5 ? KD_EBADSIG : KD_OK);
        assert_int_equal(raw_meta(fx->path, fx->ops[i].key, fx->ops[i].val), i == 5 ? 0 : 1);
    }
    assert_meta_absent(fx, fx->ops[5].key);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.commits, 2); /* still one transaction for the ten */
    assert_int_equal(st.writes_committed, 10);
    assert_int_equal(st.writes_failed, 1);
    assert_int_equal(st.commit_failures, 0);
}

static void test_completion_after_commit(void **state)
{
    struct fx *fx = *state;

    fx_open(fx, NULL);
    for (unsigned i = 0; i < 40; i++) {
        struct op *op = op_put(fx, i, KD_OK);

        op->check_committed = true;
        assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op), KD_OK);
    }
    fx_drain_until(fx, &fx->ndone, 40);
    for (unsigned i = 0; i < 40; i++) {
        assert_int_equal(fx->ops[i].result, KD_OK);
        /* another connection saw the row from inside the completion */
        assert_int_equal(fx->ops[i].committed_seen, 1);
    }
}

static void test_queue_full(void **state)
{
    struct fx *fx = *state;
    struct kd_store_opts opts = {0, 4};
    struct kd_store_stats st;
    struct gate *g = &fx->gate;

    fx_open(fx, &opts);
    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, i, KD_OK)), KD_OK);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 3, KD_OK)), KD_EUNAVAIL);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.queue_depth, 4);
    gate_release(g);
    /* committed but not drained still counts: the bound covers all memory */
    fx_wait_wakes(fx, 2);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 3, KD_OK)), KD_EUNAVAIL);
    fx_drain_until(fx, &fx->ndone, 3);
    assert_int_equal(fx->ops[3].done_calls, 0); /* refused writes never complete */
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 3, KD_OK)), KD_OK);
    fx_drain_until(fx, &fx->ndone, 4);
    assert_int_equal(fx->ops[3].done_calls, 1);
    assert_meta(fx, fx->ops[3].key, fx->ops[3].val);
}

static void *release_later(void *arg)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
    gate_release(arg);
    return NULL;
}

static void test_close_flushes_queue(void **state)
{
    struct fx *fx = *state;
    struct gate *g = &fx->gate;
    pthread_t t;

    fx_open(fx, NULL);
    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    for (unsigned i = 0; i < 50; i++)
        assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, i, KD_OK)), KD_OK);
    fx->submit_in_close = true;
    fx->submit_in_close_got = KD_OK;
    assert_int_equal(pthread_create(&t, NULL, release_later, g), 0);
    fx_close(fx); /* waits for the writer, which is released a little later */
    pthread_join(t, NULL);
    assert_int_equal(fx->ndone, 50);
    for (unsigned i = 0; i < 50; i++) {
        assert_int_equal(fx->ops[i].done_calls, 1);
        assert_int_equal(fx->ops[i].result, KD_OK);
        assert_int_equal(fx->order[i], i);
    }
    /* a done callback run by close could not queue more */
    assert_int_equal(fx->submit_in_close_got, KD_EUNAVAIL);
    assert_false(fx_exists(fx, "-wal"));
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM meta"), 50);
    fx_open(fx, NULL);
    for (unsigned i = 0; i < 50; i++)
        assert_meta(fx, fx->ops[i].key, fx->ops[i].val);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_read_while_writing(void **state)
{
    struct fx *fx = *state;
    struct gate *g = &fx->gate;
    uint64_t t0;

    fx_open(fx, NULL);
    put_sync(fx, "x", "old");
    g->key = "x";
    g->val = "new";
    gate_done_calls = 0;
    assert_int_equal(kd_store_submit(fx->s, gate_write, gate_done, g), KD_OK);
    gate_wait_entered(g);
    /* the writer holds an open write transaction that changed x */
    t0 = mono_ms();
    assert_meta(fx, "x", "old");
    assert_int_equal(raw_meta(fx->path, "x", "old"), 1);
    assert_true(mono_ms() - t0 < 1000); /* far below the 5 s busy timeout */
    gate_release(g);
    fx_drain_until(fx, &gate_done_calls, 1);
    assert_int_equal(gate_done_result, KD_OK);
    assert_meta(fx, "x", "new");
}

static void test_commit_failure_fails_batch(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    struct op *mk = &fx->ops[200], *bad = &fx->ops[201];
    struct gate *g = &fx->gate;

    fx_open(fx, NULL);
    /* a deferred foreign key is checked only at COMMIT: a real COMMIT failure */
    mk->mode = OP_RAW;
    mk->sql = "CREATE TABLE tp (id INTEGER PRIMARY KEY);"
              "CREATE TABLE tc (pid INTEGER REFERENCES tp (id) DEFERRABLE INITIALLY DEFERRED);";
    assert_int_equal(kd_store_write_sync(fx->s, op_write, mk), KD_OK);

    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    bad->mode = OP_RAW;
    bad->sql = "INSERT INTO tc VALUES (42)";
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 0, KD_OK)), KD_OK);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, bad), KD_OK);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 1, KD_OK)), KD_OK);
    gate_release(g);
    fx_drain_until(fx, &fx->ndone, 3);
    assert_int_equal(fx->ops[0].result, KD_ESTORE);
    assert_int_equal(bad->result, KD_ESTORE);
    assert_int_equal(fx->ops[1].result, KD_ESTORE);
    assert_int_equal(raw_meta(fx->path, fx->ops[0].key, fx->ops[0].val), 0);
    assert_int_equal(raw_meta(fx->path, fx->ops[1].key, fx->ops[1].val), 0);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tc"), 0);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.writes_failed, 3);
    assert_int_equal(st.commits, 2); /* the table creation and the gate */

    /* the store goes on */
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 2, KD_OK)), KD_OK);
    fx_drain_until(fx, &fx->ndone, 4);
    assert_int_equal(fx->ops[2].result, KD_OK);
    assert_meta(fx, fx->ops[2].key, fx->ops[2].val);
}

static void test_write_ending_transaction(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    struct op *bad = &fx->ops[201];
    struct gate *g = &fx->gate;

    fx_open(fx, NULL);
    assert_int_equal(kd_store_submit(fx->s, gate_write, NULL, g), KD_OK);
    gate_wait_entered(g);
    bad->mode = OP_RAW;
    bad->sql = "ROLLBACK";
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 0, KD_OK)), KD_OK);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, bad), KD_OK);
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 1, KD_OK)), KD_OK);
    gate_release(g);
    fx_drain_until(fx, &fx->ndone, 3);
    /* what ran in the lost transaction failed; the rest ran in a new one */
    assert_int_equal(fx->ops[0].result, KD_ESTORE);
    assert_int_equal(bad->result, KD_ESTORE);
    assert_int_equal(fx->ops[1].result, KD_OK);
    assert_int_equal(raw_meta(fx->path, fx->ops[0].key, fx->ops[0].val), 0);
    assert_int_equal(raw_meta(fx->path, fx->ops[1].key, fx->ops[1].val), 1);
    assert_int_equal(fx->order[0], 0);
    assert_int_equal(fx->order[1], 201);
    assert_int_equal(fx->order[2], 1);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.commits, 2);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.writes_failed, 2);
    assert_int_equal(st.writes_committed, 2);
}

static void test_begin_busy_fails_batch(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    sqlite3 *other = NULL;
    uint64_t t0;

    fx_open(fx, NULL);
    /* another process holds the write lock longer than the busy timeout */
    assert_int_equal(sqlite3_open(fx->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    t0 = mono_ms();
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 0, KD_OK)), KD_OK);
    fx_drain_until(fx, &fx->ndone, 1);
    assert_true(mono_ms() - t0 >= 4000); /* it waited, then gave up */
    assert_int_equal(fx->ops[0].result, KD_ESTORE);
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.writes_failed, 1);
    assert_int_equal(st.commits, 0);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    /* once the lock is gone, writes go through again */
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, op_put(fx, 1, KD_OK)), KD_OK);
    fx_drain_until(fx, &fx->ndone, 2);
    assert_int_equal(fx->ops[1].result, KD_OK);
    assert_meta(fx, fx->ops[1].key, fx->ops[1].val);
    assert_meta_absent(fx, fx->ops[0].key);
}

static enum kd_err fail_after_put_fn(struct kd_store_txn *txn, void *arg)
{
    (void)arg;
    if (kd_store_meta_put(txn, "sync", "x", 1) != KD_OK)
        return KD_EINTERNAL;
    return KD_EEXIST;
}

static void test_write_sync_and_misuse(void **state)
{
    struct fx *fx = *state;
    struct op *self = &fx->ops[0], *keep = &fx->ops[1], *reader = &fx->ops[2];
    struct kd_store_rd *rd;
    struct kd_buf b;
    struct kd_store_event ev;

    fx_open(fx, NULL);
    /* the write's own error comes back, and its changes are rolled back */
    assert_int_equal(kd_store_write_sync(fx->s, fail_after_put_fn, NULL), KD_EEXIST);
    assert_meta_absent(fx, "sync");

    /* from the writer thread, submit and write_sync are refused */
    self->mode = OP_SUBMIT_SELF;
    self->got_submit = self->got_sync = KD_OK;
    assert_int_equal(kd_store_write_sync(fx->s, op_write, self), KD_OK);
    assert_int_equal(self->got_submit, KD_EINVAL);
    assert_int_equal(self->got_sync, KD_EINVAL);

    /* a write callback may not read through the host's reader */
    reader->mode = OP_READER;
    reader->got_reader = KD_OK;
    assert_int_equal(kd_store_write_sync(fx->s, op_write, reader), KD_OK);
    assert_int_equal(reader->got_reader, KD_EINVAL);

    /* a txn is dead once its callback returned */
    keep->mode = OP_KEEP_TXN;
    assert_int_equal(kd_store_submit(fx->s, op_write, op_done, keep), KD_OK);
    fx_drain_until(fx, &fx->ndone, 1);
    assert_non_null(keep->kept);
    assert_int_equal(kd_store_meta_put(keep->kept, "late", "x", 1), KD_EINVAL);
    assert_int_equal(kd_store_meta_del(keep->kept, "late"), KD_EINVAL);
    rd = kd_store_txn_reader(keep->kept);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_event_get(rd, "Esaid", &ev, &b), KD_EINVAL);
    kd_buf_free(&b);
    assert_null(kd_store_test_txn_db(keep->kept));
    assert_int_equal(kd_store_meta_put(NULL, "k", "v", 1), KD_EINVAL);
    assert_meta_absent(fx, "late");
}

/* ---- typed tables ---- */

static const char *meta_args[3];

static enum kd_err meta_fn(struct kd_store_txn *txn, void *arg)
{
    const char *op = arg;

    if (strcmp(op, "put") == 0)
        return kd_store_meta_put(txn, meta_args[0], meta_args[1],
                                 meta_args[1] ? strlen(meta_args[1]) : 0);
    if (strcmp(op, "putnull") == 0)
        return kd_store_meta_put(txn, meta_args[0], NULL, 5);
    if (strcmp(op, "putbig") == 0) {
        static uint8_t big[KD_STORE_VALUE_MAX + 1];

        return kd_store_meta_put(txn, meta_args[0], big, sizeof(big));
    }
    if (strcmp(op, "putmax") == 0) {
        static uint8_t max[KD_STORE_VALUE_MAX];

        memset(max, 'm', sizeof(max));
        return kd_store_meta_put(txn, meta_args[0], max, sizeof(max));
    }
    return kd_store_meta_del(txn, meta_args[0]);
}

static enum kd_err meta_do(struct fx *fx, const char *op, const char *key, const char *val)
{
    meta_args[0] = key;
    meta_args[1] = val;
    return kd_store_write_sync(fx->s, meta_fn, (void *)op);
}

static void test_meta(void **state)
{
    struct fx *fx = *state;
    char longkey[KD_STORE_KEY_MAX + 2];
    struct kd_buf small, b;

    fx_open(fx, NULL);
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';

    assert_meta_absent(fx, "a");
    assert_int_equal(meta_do(fx, "put", "a", "one"), KD_OK);
    assert_meta(fx, "a", "one");
    assert_int_equal(meta_do(fx, "put", "a", "two"), KD_OK); /* replaces */
    assert_meta(fx, "a", "two");
    assert_int_equal(meta_do(fx, "put", "empty", ""), KD_OK); /* an empty value is a value */
    assert_meta(fx, "empty", "");
    assert_int_equal(raw_int(fx->path, "SELECT typeof(value) = 'blob' FROM meta WHERE key = "
                                       "'empty'"),
                     1);
    assert_int_equal(meta_do(fx, "del", "a", NULL), KD_OK);
    assert_meta_absent(fx, "a");
    assert_int_equal(meta_do(fx, "del", "a", NULL), KD_ENOTFOUND);

    /* bounds */
    assert_int_equal(meta_do(fx, "put", longkey, "v"), KD_EINVAL);
    longkey[KD_STORE_KEY_MAX] = '\0'; /* exactly the maximum */
    assert_int_equal(meta_do(fx, "put", longkey, "v"), KD_OK);
    assert_meta(fx, longkey, "v");
    assert_int_equal(meta_do(fx, "put", "", "v"), KD_EINVAL);
    assert_int_equal(meta_do(fx, "put", NULL, "v"), KD_EINVAL);
    assert_int_equal(meta_do(fx, "putnull", "n", NULL), KD_EINVAL);
    assert_int_equal(meta_do(fx, "putbig", "big", NULL), KD_ETOOLARGE);
    assert_int_equal(meta_do(fx, "putmax", "max", NULL), KD_OK);
    assert_int_equal(meta_do(fx, "del", "", NULL), KD_EINVAL);

    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_meta_get(fx->s, "", &b), KD_EINVAL);
    assert_int_equal(kd_store_meta_get(fx->s, NULL, &b), KD_EINVAL);
    assert_int_equal(kd_store_meta_get(fx->s, "max", NULL), KD_EINVAL);
    assert_int_equal(kd_store_meta_get(fx->s, "max", &b), KD_OK);
    assert_int_equal(b.len, KD_STORE_VALUE_MAX);
    kd_buf_free(&b);
    /* a value larger than the caller's buffer bound */
    kd_buf_init(&small, 16);
    assert_int_equal(kd_buf_append(&small, "junk", 4), KD_OK);
    assert_int_equal(kd_store_meta_get(fx->s, "max", &small), KD_ETOOLARGE);
    assert_int_equal(small.len, 0);
    kd_buf_free(&small);
}

#define PFX "EBfdlu8R27Fbx-ehrqwImnK-8Cm79sqbAQ4MmvEAYqao"
#define QFX "DJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T"

struct kel_case {
    struct kd_store_event ev;
    enum kd_err want;
    uint64_t want_fn;
};

static struct kel_case *kel_cases;
static size_t kel_ncases;

static enum kd_err kel_add_fn(struct kd_store_txn *txn, void *arg)
{
    struct kd_store_rd *rd = kd_store_txn_reader(txn);
    struct kd_store_event got;
    struct kd_buf b;
    (void)arg;

    for (size_t i = 0; i < kel_ncases; i++) {
        uint64_t fn = UINT64_MAX;
        enum kd_err e = kd_store_event_add(txn, &kel_cases[i].ev, &fn);

        if (e != kel_cases[i].want)
            return KD_EINTERNAL;
        if (e == KD_OK && fn != kel_cases[i].want_fn)
            return KD_EINTERNAL;
    }
    /* reads inside the transaction see its own writes */
    kd_buf_init(&b, 0);
    if (kel_ncases > 0 && kel_cases[0].want == KD_OK &&
        kd_store_event_get(rd, kel_cases[0].ev.said, &got, &b) != KD_OK) {
        kd_buf_free(&b);
        return KD_EINTERNAL;
    }
    kd_buf_free(&b);
    return KD_OK;
}

static void kel_run(struct fx *fx, struct kel_case *cases, size_t n)
{
    kel_cases = cases;
    kel_ncases = n;
    assert_int_equal(kd_store_write_sync(fx->s, kel_add_fn, NULL), KD_OK);
}

struct kel_seen {
    unsigned n;
    uint64_t fn[16];
    char said[16][64];
    unsigned stop_at; /* return KD_EBADCESR at this call (1-based), 0 never */
    struct kd_store_rd *reenter;
    enum kd_err reenter_got;
};

static enum kd_err kel_seen_cb(const struct kd_store_event *ev, void *arg)
{
    struct kel_seen *k = arg;

    if (k->n >= 16)
        return KD_EINTERNAL;
    k->fn[k->n] = ev->fn;
    snprintf(k->said[k->n], sizeof(k->said[0]), "%s", ev->said);
    k->n++;
    if (k->reenter != NULL)
        k->reenter_got = kd_store_kel_each(k->reenter, PFX, 0, 0, kel_seen_cb, k);
    return k->stop_at == k->n ? KD_EBADCESR : KD_OK;
}

static void test_kel_events(void **state)
{
    struct fx *fx = *state;
    static uint8_t huge[KD_STORE_BLOB_MAX + 1];
    char longid[KD_STORE_ID_MAX + 2];
    const uint8_t *raw = (const uint8_t *)ev_raw;
    const size_t rn = sizeof(ev_raw) - 1;
    struct kd_store_rd *rd;
    struct kd_store_event ev;
    struct kel_seen seen;
    struct kd_buf b;

    memset(longid, 'E', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    struct kel_case good[] = {
        {{PFX, 0, "Esaid0", "icp", 0, 1000, raw, rn}, KD_OK, 0},
        {{PFX, 1, "Esaid1", "ixn", 0, 2000, raw, rn - 1}, KD_OK, 1},
        {{QFX, 0, "Eqsaid0", "icp", 0, 2500, raw, rn}, KD_OK, 0},
        {{PFX, 2, "Esaid2", "rot", 0, 3000, raw, rn}, KD_OK, 2},
        /* the same SAID again */
        {{PFX, 3, "Esaid2", "rot", 0, 3000, raw, rn}, KD_EEXIST, 0},
        /* a superseding recovery at sn 1 */
        {{PFX, 1, "Esaid1b", "rot", 0, 4000, raw, rn}, KD_OK, 3},
        /* bad input */
        {{"bad prefix", 0, "Ex", "icp", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{"", 0, "Ex", "icp", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{NULL, 0, "Ex", "icp", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, 0, longid, "icp", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "ICP", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "icpx", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "ic", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, (uint64_t)INT64_MAX + 1, "Ex", "icp", 0, 0, raw, rn}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "icp", 0, 0, raw, 0}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "icp", 0, 0, NULL, 5}, KD_EINVAL, 0},
        {{PFX, 0, "Ex", "icp", 0, 0, huge, sizeof(huge)}, KD_ETOOLARGE, 0},
    };

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    kel_run(fx, good, sizeof(good) / sizeof(good[0]));
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM kel_events"), 5);

    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_event_get(rd, "Esaid1", &ev, &b), KD_OK);
    assert_string_equal(ev.prefix, PFX);
    assert_string_equal(ev.said, "Esaid1");
    assert_string_equal(ev.ilk, "ixn");
    assert_int_equal(ev.sn, 1);
    assert_int_equal(ev.fn, 1);
    assert_int_equal(ev.first_seen_us, 2000);
    assert_int_equal(ev.raw_len, rn - 1);
    assert_memory_equal(ev.raw, ev_raw, rn - 1);
    assert_int_equal(kd_store_event_get(rd, "Enothere", &ev, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_event_get(rd, "bad said", &ev, &b), KD_EINVAL);
    assert_int_equal(kd_store_event_get(rd, "Esaid1", NULL, &b), KD_EINVAL);
    assert_int_equal(kd_store_event_get(NULL, "Esaid1", &ev, &b), KD_EINVAL);

    /* by sn: the recovery (later first-seen) wins */
    assert_int_equal(kd_store_event_at(rd, PFX, 1, &ev, &b), KD_OK);
    assert_string_equal(ev.said, "Esaid1b");
    assert_int_equal(ev.fn, 3);
    assert_int_equal(kd_store_event_at(rd, QFX, 0, &ev, &b), KD_OK);
    assert_string_equal(ev.said, "Eqsaid0");
    assert_int_equal(kd_store_event_at(rd, QFX, 1, &ev, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_event_at(rd, QFX, (uint64_t)INT64_MAX + 1, &ev, &b), KD_EINVAL);
    kd_buf_free(&b);

    /* first-seen order, paging, early stop, re-entry */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_kel_each(rd, PFX, 0, 0, kel_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(seen.fn[i], i);
    assert_string_equal(seen.said[3], "Esaid1b");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_kel_each(rd, PFX, 1, 2, kel_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.fn[0], 1);
    assert_int_equal(seen.fn[1], 2);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_kel_each(rd, PFX, UINT64_MAX, 0, kel_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 0);
    memset(&seen, 0, sizeof(seen));
    seen.stop_at = 2;
    assert_int_equal(kd_store_kel_each(rd, PFX, 0, 0, kel_seen_cb, &seen), KD_EBADCESR);
    assert_int_equal(seen.n, 2);
    memset(&seen, 0, sizeof(seen));
    seen.reenter = rd;
    seen.stop_at = 1;
    assert_int_equal(kd_store_kel_each(rd, PFX, 0, 0, kel_seen_cb, &seen), KD_EBADCESR);
    assert_int_equal(seen.reenter_got, KD_EINVAL);
    assert_int_equal(kd_store_kel_each(rd, "", 0, 0, kel_seen_cb, &seen), KD_EINVAL);
    assert_int_equal(kd_store_kel_each(rd, PFX, 0, 0, NULL, NULL), KD_EINVAL);
    /* the statement was reset: the iteration works again */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_kel_each(rd, QFX, 0, 0, kel_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
}

struct sig_case {
    const char *said;
    int kind;
    const char *sig;
    enum kd_err want;
    bool added;
};

static struct sig_case *sig_cases;
static size_t sig_ncases;

static enum kd_err sig_fn(struct kd_store_txn *txn, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sig_ncases; i++) {
        bool added = !sig_cases[i].added;
        enum kd_err e =
            kd_store_sig_add(txn, sig_cases[i].said, (enum kd_store_sig_kind)sig_cases[i].kind,
                             sig_cases[i].sig, &added);

        if (e != sig_cases[i].want || (e == KD_OK && added != sig_cases[i].added))
            return KD_EINTERNAL;
    }
    return KD_OK;
}

struct sig_seen {
    unsigned n;
    char sig[8][KD_STORE_SIG_MAX + 1];
};

static enum kd_err sig_seen_cb(const char *sig, size_t len, void *arg)
{
    struct sig_seen *k = arg;

    if (k->n >= 8 || len > KD_STORE_SIG_MAX)
        return KD_EINTERNAL;
    memcpy(k->sig[k->n], sig, len);
    k->sig[k->n][len] = '\0';
    k->n++;
    return KD_OK;
}

static enum kd_err sig_stop_cb(const char *sig, size_t len, void *arg)
{
    (void)sig;
    (void)len;
    (void)arg;
    return KD_EBADSIG;
}

static void test_kel_sigs_and_states(void **state)
{
    struct fx *fx = *state;
    char longsig[KD_STORE_SIG_MAX + 2];
    const uint8_t *raw = (const uint8_t *)ev_raw;
    struct kel_case evs[] = {{{PFX, 0, "Esaid0", "icp", 0, 1, raw, 10}, KD_OK, 0},
                             {{PFX, 1, "Esaid1", "ixn", 0, 2, raw, 10}, KD_OK, 1}};
    struct kd_store_rd *rd;
    struct sig_seen seen;
    char said[KD_STORE_ID_MAX + 1];
    struct kd_buf b;
    uint64_t sn;

    memset(longsig, 'A', sizeof(longsig) - 1);
    longsig[sizeof(longsig) - 1] = '\0';
    struct sig_case sigs[] = {
        {"Esaid0", KD_STORE_SIG_CONTROLLER, "ABsig0", KD_OK, true},
        {"Esaid0", KD_STORE_SIG_CONTROLLER, "AAsig0", KD_OK, true},
        {"Esaid0", KD_STORE_SIG_CONTROLLER, "AAsig0", KD_OK, false}, /* idempotent */
        {"Esaid0", KD_STORE_SIG_WITNESS, "AAsig0", KD_OK, true},     /* another kind */
        {"Enothere", KD_STORE_SIG_WITNESS, "AAwig", KD_ENOTFOUND, false},
        {"Esaid0", KD_STORE_SIG_KIND_COUNT_, "AAx", KD_EINVAL, false},
        {"Esaid0", -1, "AAx", KD_EINVAL, false},
        {"Esaid0", KD_STORE_SIG_WITNESS, "bad sig", KD_EINVAL, false},
        {"Esaid0", KD_STORE_SIG_WITNESS, longsig, KD_EINVAL, false},
        {"", KD_STORE_SIG_WITNESS, "AAx", KD_EINVAL, false},
    };

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    kel_run(fx, evs, 2);
    sig_cases = sigs;
    sig_ncases = sizeof(sigs) / sizeof(sigs[0]);
    assert_int_equal(kd_store_write_sync(fx->s, sig_fn, NULL), KD_OK);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_sig_each(rd, "Esaid0", KD_STORE_SIG_CONTROLLER, sig_seen_cb, &seen),
                     KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.sig[0], "AAsig0"); /* sorted: index AA before AB */
    assert_string_equal(seen.sig[1], "ABsig0");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_sig_each(rd, "Esaid0", KD_STORE_SIG_NT_RECEIPT, sig_seen_cb, &seen),
                     KD_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(kd_store_sig_each(rd, "Esaid0", KD_STORE_SIG_CONTROLLER, sig_stop_cb, NULL),
                     KD_EBADSIG);
    assert_int_equal(kd_store_sig_each(rd, "Esaid0", KD_STORE_SIG_KIND_COUNT_, sig_seen_cb, &seen),
                     KD_EINVAL);
    assert_int_equal(kd_store_sig_each(rd, "Esaid0", KD_STORE_SIG_CONTROLLER, NULL, NULL),
                     KD_EINVAL);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM kel_sigs"), 3);

    /* key states */
    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_state_get(rd, PFX, &sn, said, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_state_get(rd, "bad pfx", &sn, said, &b), KD_EINVAL);
    assert_int_equal(kd_store_state_get(rd, PFX, NULL, said, &b), KD_EINVAL);
    sig_cases = NULL;
    kd_buf_free(&b);
}

struct state_args {
    const char *prefix;
    uint64_t sn;
    const char *said;
    const char *state;
    size_t n;
};

static enum kd_err state_fn(struct kd_store_txn *txn, void *arg)
{
    const struct state_args *a = arg;

    return kd_store_state_put(txn, a->prefix, a->sn, a->said, a->state, a->n);
}

static void test_kel_states(void **state)
{
    struct fx *fx = *state;
    static uint8_t huge[KD_STORE_BLOB_MAX + 1];
    const uint8_t *raw = (const uint8_t *)ev_raw;
    struct kel_case evs[] = {{{PFX, 0, "Esaid0", "icp", 0, 1, raw, 10}, KD_OK, 0},
                             {{PFX, 1, "Esaid1", "ixn", 0, 2, raw, 10}, KD_OK, 1}};
    struct state_args a;
    char said[KD_STORE_ID_MAX + 1];
    struct kd_buf b;
    uint64_t sn = 0;

    fx_open(fx, NULL);
    kel_run(fx, evs, 2);
    a = (struct state_args){PFX, 0, "Esaid0", "{\"s\":\"0\"}", 9};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_OK);
    a = (struct state_args){PFX, 1, "Esaid1", "{\"s\":\"1\"}", 9};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_OK);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_state_get(kd_store_reader(fx->s), PFX, &sn, said, &b), KD_OK);
    assert_int_equal(sn, 1);
    assert_string_equal(said, "Esaid1");
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "{\"s\":\"1\"}", 9);
    kd_buf_free(&b);

    a = (struct state_args){PFX, 2, "Enothere", "{}", 2};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_ENOTFOUND);
    a = (struct state_args){PFX, 2, "Esaid1", "{}", 0};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_EINVAL);
    a = (struct state_args){PFX, (uint64_t)INT64_MAX + 1, "Esaid1", "{}", 2};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_EINVAL);
    a = (struct state_args){"", 2, "Esaid1", "{}", 2};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_EINVAL);
    a = (struct state_args){PFX, 2, "Esaid1", (const char *)huge, sizeof(huge)};
    assert_int_equal(kd_store_write_sync(fx->s, state_fn, &a), KD_ETOOLARGE);
    assert_int_equal(raw_int(fx->path, "SELECT sn FROM kel_states"), 1);
}

struct esc_ctx {
    const struct kd_store_escrow *in;
    size_t n;
    int64_t ids[8];
    bool added[8];
    enum kd_err got[8];
    int64_t touch_id, remove_id;
    enum kd_err touch_got, remove_got, expire_got, expire_bad_got;
    uint64_t expired;
};

static enum kd_err esc_add_fn(struct kd_store_txn *txn, void *arg)
{
    struct esc_ctx *c = arg;

    for (size_t i = 0; i < c->n; i++)
        c->got[i] = kd_store_escrow_add(txn, &c->in[i], &c->added[i], &c->ids[i]);
    return KD_OK;
}

static enum kd_err esc_change_fn(struct kd_store_txn *txn, void *arg)
{
    struct esc_ctx *c = arg;

    c->touch_got = kd_store_escrow_touch(txn, c->touch_id, 777);
    c->remove_got = kd_store_escrow_remove(txn, c->remove_id);
    c->expire_got = kd_store_escrow_expire(txn, KD_STORE_ESCROW_OUT_OF_ORDER, 150, &c->expired);
    c->expire_bad_got = kd_store_escrow_expire(txn, KD_STORE_ESCROW_KIND_COUNT_, 150, NULL);
    return KD_OK;
}

struct esc_seen {
    unsigned n;
    int64_t id[8];
    int64_t tried[8];
    size_t att_len[8];
    char said[8][16];
};

static enum kd_err esc_seen_cb(const struct kd_store_escrow *e, void *arg)
{
    struct esc_seen *k = arg;

    if (k->n >= 8)
        return KD_EINTERNAL;
    k->id[k->n] = e->id;
    k->tried[k->n] = e->tried_us;
    k->att_len[k->n] = e->att_len;
    snprintf(k->said[k->n], sizeof(k->said[0]), "%s", e->said);
    k->n++;
    return KD_OK;
}

static void test_kel_escrows(void **state)
{
    struct fx *fx = *state;
    static uint8_t huge[KD_STORE_BLOB_MAX + 1];
    const uint8_t *raw = (const uint8_t *)ev_raw, *att = (const uint8_t *)"-AAB";
    const enum kd_store_escrow_kind ooo = KD_STORE_ESCROW_OUT_OF_ORDER;
    const struct kd_store_escrow in[] = {
        {0, ooo, PFX, 3, "Es3", raw, 10, att, 4, 100, 100, NULL},
        {0, ooo, PFX, 4, "Es4", raw, 10, NULL, 0, 200, 200, NULL},
        {0, ooo, PFX, 3, "Es3", raw, 10, att, 4, 300, 300, NULL}, /* same: not added again */
        {0, ooo, PFX, 3, "Es3", raw, 10, att, 3, 300, 300, NULL}, /* other attachments: added */
        {0, KD_STORE_ESCROW_PARTIAL_SIG, PFX, 3, "Es3", raw, 10, att, 4, 50, 50, NULL},
        {0, KD_STORE_ESCROW_KIND_COUNT_, PFX, 3, "Es3", raw, 10, att, 4, 50, 50, NULL},
        {0, ooo, PFX, 3, "Es3", raw, 10, NULL, 4, 50, 50, NULL},
        {0, ooo, PFX, 3, "Es3", huge, sizeof(huge), NULL, 0, 50, 50, NULL},
    };
    struct esc_ctx c;
    struct esc_seen seen;
    struct kd_store_rd *rd;
    uint64_t n = 0;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    memset(&c, 0, sizeof(c));
    c.in = in;
    c.n = 8;
    assert_int_equal(kd_store_write_sync(fx->s, esc_add_fn, &c), KD_OK);
    assert_int_equal(c.got[0], KD_OK);
    assert_true(c.added[0]);
    assert_int_equal(c.got[1], KD_OK);
    assert_true(c.added[1]);
    assert_int_equal(c.got[2], KD_OK);
    assert_false(c.added[2]);
    assert_int_equal(c.ids[2], c.ids[0]);
    assert_int_equal(c.got[3], KD_OK);
    assert_true(c.added[3]);
    assert_int_equal(c.got[4], KD_OK);
    assert_int_equal(c.got[5], KD_EINVAL);
    assert_int_equal(c.got[6], KD_EINVAL);
    assert_int_equal(c.got[7], KD_ETOOLARGE);

    assert_int_equal(kd_store_escrow_count(rd, ooo, &n), KD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kd_store_escrow_count(rd, KD_STORE_ESCROW_PARTIAL_SIG, &n), KD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kd_store_escrow_count(rd, KD_STORE_ESCROW_REPLY, &n), KD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kd_store_escrow_count(rd, KD_STORE_ESCROW_KIND_COUNT_, &n), KD_EINVAL);

    /* arrival order and paging by id */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_escrow_each(rd, ooo, 0, 2, esc_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.id[0], c.ids[0]);
    assert_int_equal(seen.id[1], c.ids[1]);
    assert_int_equal(seen.att_len[0], 4);
    assert_int_equal(seen.att_len[1], 0);
    assert_string_equal(seen.said[1], "Es4");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_escrow_each(rd, ooo, c.ids[1], 0, esc_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.id[0], c.ids[3]);
    assert_int_equal(
        kd_store_escrow_each(rd, KD_STORE_ESCROW_KIND_COUNT_, 0, 0, esc_seen_cb, &seen), KD_EINVAL);

    /* touch, remove, expire (arrived before 150: only the first) */
    c.touch_id = c.ids[1];
    c.remove_id = c.ids[3];
    assert_int_equal(kd_store_write_sync(fx->s, esc_change_fn, &c), KD_OK);
    assert_int_equal(c.touch_got, KD_OK);
    assert_int_equal(c.remove_got, KD_OK);
    assert_int_equal(c.expire_got, KD_OK);
    assert_int_equal(c.expired, 1);
    assert_int_equal(c.expire_bad_got, KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_escrow_each(rd, ooo, 0, 0, esc_seen_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.id[0], c.ids[1]);
    assert_int_equal(seen.tried[0], 777);
    /* the other kind was not expired */
    assert_int_equal(kd_store_escrow_count(rd, KD_STORE_ESCROW_PARTIAL_SIG, &n), KD_OK);
    assert_int_equal(n, 1);
    /* gone rows */
    assert_int_equal(kd_store_write_sync(fx->s, esc_change_fn, &c), KD_OK);
    assert_int_equal(c.touch_got, KD_OK);
    assert_int_equal(c.remove_got, KD_ENOTFOUND);
    c.touch_id = 999999;
    assert_int_equal(kd_store_write_sync(fx->s, esc_change_fn, &c), KD_OK);
    assert_int_equal(c.touch_got, KD_ENOTFOUND);
}

/* ---- metrics ---- */

static void test_stats_render(void **state)
{
    static const char want[] =
        "# HELP kerid_store_commits_total Transactions committed by the store writer.\n"
        "# TYPE kerid_store_commits_total counter\n"
        "kerid_store_commits_total 4\n"
        "# HELP kerid_store_commit_failures_total Transactions the store writer could not "
        "commit.\n"
        "# TYPE kerid_store_commit_failures_total counter\n"
        "kerid_store_commit_failures_total 1\n"
        "# HELP kerid_store_writes_committed_total Writes committed.\n"
        "# TYPE kerid_store_writes_committed_total counter\n"
        "kerid_store_writes_committed_total 603\n"
        "# HELP kerid_store_writes_failed_total Writes completed with an error.\n"
        "# TYPE kerid_store_writes_failed_total counter\n"
        "kerid_store_writes_failed_total 7\n"
        "# HELP kerid_store_queue_depth Writes submitted and not yet completed.\n"
        "# TYPE kerid_store_queue_depth gauge\n"
        "kerid_store_queue_depth 9\n"
        "# HELP kerid_store_batch_size Writes per committed transaction.\n"
        "# TYPE kerid_store_batch_size histogram\n"
        "kerid_store_batch_size_bucket{le=\"1\"} 1\n"
        "kerid_store_batch_size_bucket{le=\"2\"} 1\n"
        "kerid_store_batch_size_bucket{le=\"4\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"8\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"16\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"32\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"64\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"128\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"256\"} 2\n"
        "kerid_store_batch_size_bucket{le=\"512\"} 3\n"
        "kerid_store_batch_size_bucket{le=\"+Inf\"} 4\n"
        "kerid_store_batch_size_sum 1110\n"
        "kerid_store_batch_size_count 4\n"
        "# HELP kerid_store_commit_seconds Time spent in COMMIT, fsync included.\n"
        "# TYPE kerid_store_commit_seconds summary\n"
        "kerid_store_commit_seconds_sum 2.000042\n"
        "kerid_store_commit_seconds_count 4\n";
    /* batches of 1, 3, 512 and 594 writes */
    struct kd_store_stats st = {.commits = 4,
                                .commit_failures = 1,
                                .writes_committed = 603,
                                .writes_failed = 7,
                                .queue_depth = 9,
                                .batch_bucket = {1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1},
                                .batch_size_sum = 1110,
                                .commit_us_sum = 2000042};
    struct kd_buf b;

    (void)state;
    kd_buf_init(&b, 0);
    assert_int_equal(kd_buf_append_str(&b, "before\n"), KD_OK);
    assert_int_equal(kd_store_stats_render(&st, &b), KD_OK);
    assert_int_equal(b.len, 7 + strlen(want));
    assert_memory_equal(b.data, "before\n", 7); /* appends */
    assert_memory_equal(b.data + 7, want, strlen(want));
    kd_buf_free(&b);

    kd_buf_init(&b, 64);
    assert_int_equal(kd_store_stats_render(&st, &b), KD_ETOOLARGE);
    kd_buf_free(&b);
    assert_int_equal(kd_store_stats_render(NULL, &b), KD_EINVAL);
}

static void test_stats_live_render(void **state)
{
    struct fx *fx = *state;
    struct kd_store_stats st;
    struct kd_buf b;

    fx_open(fx, NULL);
    put_sync(fx, "a", "1");
    put_sync(fx, "b", "2");
    kd_store_stats_get(fx->s, &st);
    assert_int_equal(st.commits, 2);
    assert_int_equal(st.batch_bucket[0], 2);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_stats_render(&st, &b), KD_OK);
    assert_int_equal(kd_buf_append(&b, "", 1), KD_OK);
    assert_non_null(strstr((const char *)b.data, "\nkerid_store_commits_total 2\n"));
    assert_non_null(strstr((const char *)b.data, "\nkerid_store_batch_size_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr((const char *)b.data, "\nkerid_store_batch_size_count 2\n"));
    assert_non_null(strstr((const char *)b.data, "\nkerid_store_commit_seconds_count 2\n"));
    kd_buf_free(&b);
}

/* ---- migration 3: the engine's tables ---- */

struct eng_ctx {
    enum kd_err got[32];
    unsigned n;
    bool added[8];
    int64_t ids[8];
    bool fail; /* return an error after writing (epoch test) */
    uint64_t epoch[2];
};

static enum kd_err eng_add_fn(struct kd_store_txn *txn, void *arg)
{
    struct eng_ctx *c = arg;
    const uint8_t *raw = (const uint8_t *)ev_raw;
    const size_t rn = sizeof(ev_raw) - 1;
    const struct kd_store_event evs[] = {
        {PFX, 0, "Esaid0", "icp", 0, 1000, raw, rn},
        {PFX, 1, "Esaid1", "ixn", 0, 2000, raw, rn},
        {PFX, 2, "Esaid2", "rot", 0, 3000, raw, rn},
        {QFX, 0, "Eqsaid0", "dip", 0, 3500, raw, rn},
    };
    const struct kd_store_escrow esc[] = {
        {0, KD_STORE_ESCROW_OUT_OF_ORDER, PFX, 5, "Eooo5", raw, rn, NULL, 0, 10, 10, PFX},
        {0, KD_STORE_ESCROW_OUT_OF_ORDER, PFX, 4, "Eooo4", raw, rn, NULL, 0, 20, 20, PFX},
        {0, KD_STORE_ESCROW_PARTIAL_DEL, QFX, 0, "Epd0", raw, rn, NULL, 0, 30, 30, PFX},
        {0, KD_STORE_ESCROW_UNVERIFIED_NT_RCT, PFX, 4, "Eooo4", raw, rn, NULL, 0, 40, 40, NULL},
        {0, KD_STORE_ESCROW_PARTIAL_SIG, PFX, 6, "Eps6", raw, rn, NULL, 0, 50, 50, "bad dep"},
    };
    const struct kd_store_dup dups[] = {
        {PFX, 1, "Edup1", "ixn", 5000, raw, rn, (const uint8_t *)"-AAB", 4},
        {PFX, 1, "Edup1", "ixn", 6000, raw, rn, NULL, 0}, /* the same SAID: kept once */
        {PFX, 2, "Edup2", "rot", 7000, raw, rn, NULL, 0},
        {PFX, 2, "bad said", "rot", 7000, raw, rn, NULL, 0},
        {PFX, 2, "Edup3", "ROT", 7000, raw, rn, NULL, 0},
        {PFX, 2, "Edup3", "rot", 7000, raw, 0, NULL, 0},
    };
    unsigned n = 0;

    c->epoch[0] = kd_store_txn_epoch(txn);
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        c->got[n++] = kd_store_event_add(txn, &evs[i], NULL);
    for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++)
        c->got[n++] = kd_store_escrow_add(txn, &esc[i], &c->added[i], &c->ids[i]);
    /* establishment states: by said; the said must be an event */
    c->got[n++] = kd_store_est_state_put(txn, "Esaid0", PFX, 0, 0, "s0", 2);
    c->got[n++] = kd_store_est_state_put(txn, "Esaid2", PFX, 2, 2, "s2", 2);
    c->got[n++] = kd_store_est_state_put(txn, "Enothere", PFX, 2, 2, "sx", 2);
    c->got[n++] = kd_store_est_state_put(txn, "Esaid2", PFX, 2, 2, NULL, 0);
    /* anchors and seals */
    c->got[n++] = kd_store_anchor_put(txn, "Eqsaid0", 1, "Esaid1");
    c->got[n++] = kd_store_anchor_put(txn, "Enothere", 1, "Esaid1");
    c->got[n++] = kd_store_anchor_put(txn, "Eqsaid0", (uint64_t)INT64_MAX + 1, "Esaid1");
    c->got[n++] = kd_store_seal_add(txn, PFX, QFX, 0, "Eqsaid0", "Esaid1", 0);
    c->got[n++] = kd_store_seal_add(txn, PFX, QFX, 0, "Eqsaid0", "Esaid1", 0); /* idempotent */
    c->got[n++] = kd_store_seal_add(txn, PFX, QFX, 0, "Eqsaid0", "Esaid2", 3);
    c->got[n++] = kd_store_seal_add(txn, PFX, QFX, 0, "Eqsaid0", "Enothere", 0);
    c->got[n++] = kd_store_seal_add(txn, PFX, "bad i", 0, "Eqsaid0", "Esaid1", 0);
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++)
        c->got[n++] = kd_store_dup_add(txn, &dups[i], i < 3 ? &c->added[i] : NULL);
    c->n = n;
    return c->fail ? KD_EINTERNAL : KD_OK;
}

static enum kd_err eng_change_fn(struct kd_store_txn *txn, void *arg)
{
    struct eng_ctx *c = arg;

    c->epoch[1] = kd_store_txn_epoch(txn);
    c->got[0] = kd_store_escrow_update(txn, c->ids[0], "-AAB", 4, 99);
    c->got[1] = kd_store_escrow_update(txn, 999999, "-AAB", 4, 99);
    c->got[2] = kd_store_escrow_update(txn, c->ids[0], NULL, 3, 99);
    return KD_OK;
}

struct eng_seen {
    unsigned n;
    char said[8][32];
    char dep[8][64];
    uint64_t sn[8];
    size_t att_len[8];
};

static enum kd_err eng_esc_cb(const struct kd_store_escrow *e, void *arg)
{
    struct eng_seen *s = arg;

    if (s->n < 8) {
        snprintf(s->said[s->n], sizeof(s->said[0]), "%s", e->said);
        snprintf(s->dep[s->n], sizeof(s->dep[0]), "%s", e->dep);
        s->sn[s->n] = e->sn;
        s->att_len[s->n] = e->att_len;
    }
    s->n++;
    return KD_OK;
}

static enum kd_err eng_seal_cb(const char *said, unsigned pos, void *arg)
{
    struct eng_seen *s = arg;

    if (s->n < 8) {
        snprintf(s->said[s->n], sizeof(s->said[0]), "%s", said);
        s->sn[s->n] = pos;
    }
    s->n++;
    return KD_OK;
}

static enum kd_err eng_dup_cb(const struct kd_store_dup *d, void *arg)
{
    struct eng_seen *s = arg;

    if (s->n < 8) {
        snprintf(s->said[s->n], sizeof(s->said[0]), "%s", d->said);
        s->sn[s->n] = d->sn;
        s->att_len[s->n] = d->att_len;
    }
    s->n++;
    return KD_OK;
}

static void test_kel_engine_tables(void **state)
{
    static const enum kd_err want[] = {
        KD_OK, KD_OK,        KD_OK,        KD_OK,                              /* events */
        KD_OK, KD_OK,        KD_OK,        KD_OK,        KD_EINVAL,            /* escrows */
        KD_OK, KD_OK,        KD_ENOTFOUND, KD_EINVAL,                          /* est states */
        KD_OK, KD_ENOTFOUND, KD_EINVAL,                                        /* anchors */
        KD_OK, KD_OK,        KD_OK,        KD_ENOTFOUND, KD_EINVAL,            /* seals */
        KD_OK, KD_OK,        KD_OK,        KD_EINVAL,    KD_EINVAL, KD_EINVAL, /* dups */
    };
    struct fx *fx = *state;
    struct eng_ctx c;
    struct eng_seen seen;
    struct kd_store_rd *rd;
    struct kd_buf b;
    char said[KD_STORE_ID_MAX + 1];
    uint64_t n = 0, sn = 0, epoch;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    /* a write that fails is undone, and the epoch moves */
    memset(&c, 0, sizeof(c));
    c.fail = true;
    assert_int_equal(kd_store_write_sync(fx->s, eng_add_fn, &c), KD_EINTERNAL);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM kel_est_states"), 0);
    epoch = c.epoch[0];
    memset(&c, 0, sizeof(c));
    assert_int_equal(kd_store_write_sync(fx->s, eng_add_fn, &c), KD_OK);
    assert_int_equal(c.n, sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < c.n; i++)
        if (c.got[i] != want[i])
            fail_msg("call %u: %s, expected %s", i, kd_err_name(c.got[i]), kd_err_name(want[i]));
    assert_true(c.added[0] && !c.added[1] && c.added[2]); /* dups: the same SAID once */
    assert_int_equal(kd_store_txn_epoch(NULL), 0);

    /* escrows by SAID (any kind), by dep in (sn, id) order, per prefix */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_escrow_each_said(rd, "Eooo4", eng_esc_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.dep[0], PFX);
    assert_string_equal(seen.dep[1], ""); /* NULL dep is stored as "" */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_OUT_OF_ORDER, PFX, 0, eng_esc_cb, &seen),
        KD_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.sn[0], 4);
    assert_int_equal(seen.sn[1], 5);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_OUT_OF_ORDER, PFX, 1, eng_esc_cb, &seen),
        KD_OK);
    assert_int_equal(seen.n, 1);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_PARTIAL_DEL, PFX, 0, eng_esc_cb, &seen),
        KD_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.said[0], "Epd0");
    assert_int_equal(
        kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_KIND_COUNT_, PFX, 0, eng_esc_cb, &seen),
        KD_EINVAL);
    assert_int_equal(
        kd_store_escrow_each_dep(rd, KD_STORE_ESCROW_PARTIAL_DEL, "", 0, eng_esc_cb, &seen),
        KD_EINVAL);
    assert_int_equal(kd_store_escrow_each_said(rd, "bad said", eng_esc_cb, &seen), KD_EINVAL);
    assert_int_equal(kd_store_escrow_count_prefix(rd, KD_STORE_ESCROW_OUT_OF_ORDER, PFX, &n),
                     KD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kd_store_escrow_count_prefix(rd, KD_STORE_ESCROW_OUT_OF_ORDER, QFX, &n),
                     KD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kd_store_escrow_count_prefix(rd, KD_STORE_ESCROW_KIND_COUNT_, QFX, &n),
                     KD_EINVAL);
    /* updating a row's attachments */
    assert_int_equal(kd_store_write_sync(fx->s, eng_change_fn, &c), KD_OK);
    assert_true(c.epoch[0] != epoch);      /* the failed write moved it */
    assert_true(c.epoch[1] == c.epoch[0]); /* nothing was undone since */
    assert_int_equal(c.got[0], KD_OK);
    assert_int_equal(c.got[1], KD_ENOTFOUND);
    assert_int_equal(c.got[2], KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_escrow_each_said(rd, "Eooo5", eng_esc_cb, &seen), KD_OK);
    assert_int_equal(seen.att_len[0], 4);

    /* establishment states: the one in force at sn */
    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_est_state_at(rd, PFX, 1, said, &sn, &b), KD_OK);
    assert_string_equal(said, "Esaid0");
    assert_int_equal(sn, 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "s0", 2);
    assert_int_equal(kd_store_est_state_at(rd, PFX, 7, said, &sn, &b), KD_OK);
    assert_string_equal(said, "Esaid2");
    assert_int_equal(kd_store_est_state_at(rd, PFX, UINT64_MAX, said, &sn, &b), KD_OK);
    assert_int_equal(sn, 2);
    assert_int_equal(kd_store_est_state_at(rd, QFX, 0, said, &sn, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_est_state_get(rd, "Esaid2", &sn, &b), KD_OK);
    assert_memory_equal(b.data, "s2", 2);
    assert_int_equal(kd_store_est_state_get(rd, "Esaid1", NULL, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_est_state_get(rd, "bad said", NULL, &b), KD_EINVAL);
    kd_buf_free(&b);

    /* anchors */
    assert_int_equal(kd_store_anchor_get(rd, "Eqsaid0", &sn, said), KD_OK);
    assert_int_equal(sn, 1);
    assert_string_equal(said, "Esaid1");
    assert_int_equal(kd_store_anchor_get(rd, "Esaid0", &sn, said), KD_ENOTFOUND);
    assert_int_equal(kd_store_anchor_get(rd, "Esaid0", NULL, said), KD_EINVAL);

    /* seals: every anchoring event, in SAID order */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_seal_find(rd, PFX, QFX, 0, "Eqsaid0", eng_seal_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.said[0], "Esaid1");
    assert_string_equal(seen.said[1], "Esaid2");
    assert_int_equal(seen.sn[1], 3);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_seal_find(rd, PFX, QFX, 1, "Eqsaid0", eng_seal_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(kd_store_seal_find(rd, PFX, QFX, UINT64_MAX, "Eqsaid0", eng_seal_cb, &seen),
                     KD_OK);
    assert_int_equal(kd_store_seal_find(rd, PFX, "", 0, "Eqsaid0", eng_seal_cb, &seen), KD_EINVAL);

    /* duplicity records */
    assert_int_equal(kd_store_dup_count(rd, PFX, &n), KD_OK);
    assert_int_equal(n, 2);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_dup_each(rd, PFX, eng_dup_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.said[0], "Edup1");
    assert_int_equal(seen.att_len[0], 4);
    assert_string_equal(seen.said[1], "Edup2");
    assert_int_equal(kd_store_dup_count(rd, "", &n), KD_EINVAL);
    assert_int_equal(kd_store_dup_each(rd, PFX, NULL, NULL), KD_EINVAL);

    /* one seal row per (seal, anchoring event); the repeated add was idempotent */
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM kel_seals"), 2);
}

/* ---- mailboxes ---- */

#define MBX_PFX "EBfxc4RiVY6PDzTzk2Ab7zWjixPoCnAhdtWMgg7F3OLK"

struct mbx_w {
    enum kd_err got[8];
    uint64_t idx[8];
};

static enum kd_err mbx_append_fn(struct kd_store_txn *txn, void *arg)
{
    struct mbx_w *w = arg;
    w->got[0] = kd_store_mbx_append(txn, MBX_PFX, "receipt", "r0", 2, &w->idx[0]);
    w->got[1] = kd_store_mbx_append(txn, MBX_PFX, "receipt", "r1", 2, &w->idx[1]);
    w->got[2] = kd_store_mbx_append(txn, MBX_PFX, "multisig", "m0", 2, &w->idx[2]);
    w->got[3] = kd_store_mbx_append(txn, "not qb64!", "receipt", "x", 1, NULL);
    w->got[4] = kd_store_mbx_append(txn, MBX_PFX, "", "x", 1, NULL);
    w->got[5] = kd_store_mbx_append(txn, MBX_PFX, "has space", "x", 1, NULL);
    w->got[6] = kd_store_mbx_append(txn, MBX_PFX, "receipt", "x", 0, NULL);
    w->got[7] = kd_store_mbx_append(txn, MBX_PFX, "receipt", "x", KD_STORE_BLOB_MAX + 1, NULL);
    return KD_OK;
}

static enum kd_err mbx_second_fn(struct kd_store_txn *txn, void *arg)
{
    struct mbx_w *w = arg;

    return kd_store_mbx_append(txn, MBX_PFX, "receipt", "r2", 2, &w->idx[0]);
}

struct mbx_seen {
    unsigned n;
    uint64_t idx[8];
    char msg[8][4];
    unsigned stop_after;
};

static enum kd_err mbx_cb(uint64_t idx, const uint8_t *m, size_t n, void *arg)
{
    struct mbx_seen *s = arg;

    assert_true(s->n < 8 && n < 4);
    s->idx[s->n] = idx;
    memcpy(s->msg[s->n], m, n);
    s->msg[s->n][n] = '\0';
    s->n++;
    return s->stop_after != 0 && s->n == s->stop_after ? KD_EEXIST : KD_OK;
}

static void test_mailbox(void **state)
{
    struct fx *fx = *state;
    struct mbx_w w;
    struct mbx_seen seen;
    struct kd_store_rd *rd;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    memset(&w, 0, sizeof(w));
    assert_int_equal(kd_store_write_sync(fx->s, mbx_append_fn, &w), KD_OK);
    assert_int_equal(w.got[0], KD_OK);
    assert_int_equal(w.got[1], KD_OK);
    assert_int_equal(w.got[2], KD_OK);
    assert_int_equal(w.got[3], KD_EINVAL);
    assert_int_equal(w.got[4], KD_EINVAL);
    assert_int_equal(w.got[5], KD_EINVAL);
    assert_int_equal(w.got[6], KD_EINVAL);
    assert_int_equal(w.got[7], KD_ETOOLARGE);
    /* indexes are per (prefix, topic), from 0 */
    assert_int_equal(w.idx[0], 0);
    assert_int_equal(w.idx[1], 1);
    assert_int_equal(w.idx[2], 0);
    assert_int_equal(kd_store_write_sync(fx->s, mbx_second_fn, &w), KD_OK);
    assert_int_equal(w.idx[0], 2);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", 0, 0, mbx_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.msg[0], "r0");
    assert_string_equal(seen.msg[2], "r2");
    assert_int_equal(seen.idx[2], 2);
    /* from an index, with a limit, stopping early */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", 1, 0, mbx_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.msg[0], "r1");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", 0, 1, mbx_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 2;
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", 0, 0, mbx_cb, &seen), KD_EEXIST);
    assert_int_equal(seen.n, 2);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", UINT64_MAX, 0, mbx_cb, &seen),
                     KD_OK);
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "delegate", 0, 0, mbx_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(kd_store_mbx_each(rd, "", "receipt", 0, 0, mbx_cb, &seen), KD_EINVAL);
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "receipt", 0, 0, NULL, &seen), KD_EINVAL);
    /* entries survive a reopen */
    fx_close(fx);
    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_mbx_each(rd, MBX_PFX, "multisig", 0, 0, mbx_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.msg[0], "m0");
}

/* ---- stored replies ---- */

#define RPY_EID "BKd1nK3QzmDgWGnFfJ7Z3Qr3m1Oe8jVQ9bmxhKpSrvRs"
#define RPY_CID "EJ2nX0iv9gZPBqmBE1HWP0s3MGNgVSj7LcrE9uuNpV7m"

struct rpy_w {
    enum kd_err got[12];
};

static enum kd_err rpy_put_fn(struct kd_store_txn *txn, void *arg)
{
    struct rpy_w *w = arg;

    w->got[0] = kd_store_loc_put(txn, RPY_EID, "http", 10, "{loc1}", 6, "-CAB1", 5);
    w->got[1] = kd_store_loc_put(txn, RPY_EID, "tcp", 11, "{tcp}", 5, NULL, 0);
    w->got[2] = kd_store_loc_put(txn, RPY_EID, "http", 20, "{loc2}", 6, "-CAB2", 5);
    w->got[3] = kd_store_loc_put(txn, "not qb64!", "http", 1, "x", 1, NULL, 0);
    w->got[4] = kd_store_loc_put(txn, RPY_EID, "", 1, "x", 1, NULL, 0);
    w->got[5] = kd_store_loc_put(txn, RPY_EID, "http", 1, "x", 0, NULL, 0);
    w->got[6] = kd_store_loc_put(txn, RPY_EID, "http", 1, "x", KD_STORE_BLOB_MAX + 1, NULL, 0);
    w->got[7] =
        kd_store_end_role_put(txn, RPY_CID, "watcher", RPY_EID, true, 5, "{add}", 5, "-FAB", 4);
    w->got[8] =
        kd_store_end_role_put(txn, RPY_CID, "watcher", RPY_CID, true, 6, "{add2}", 6, "-FAB2", 5);
    w->got[9] = kd_store_end_role_put(txn, RPY_CID, "has space", RPY_EID, true, 1, "x", 1, NULL, 0);
    w->got[10] = kd_store_end_role_put(txn, RPY_CID, "watcher", RPY_EID, true, 1, "x", 1, NULL, 3);
    w->got[11] = kd_store_end_role_put(txn, RPY_CID, "watcher", "", true, 1, "x", 1, NULL, 0);
    return KD_OK;
}

static enum kd_err rpy_cut_fn(struct kd_store_txn *txn, void *arg)
{
    (void)arg;
    return kd_store_end_role_put(txn, RPY_CID, "watcher", RPY_EID, false, 7, "{cut}", 5, "-FAB3",
                                 5);
}

struct rpy_seen {
    unsigned n;
    char msg[4][32];
    unsigned stop_after;
};

static enum kd_err rpy_cb(const uint8_t *raw, size_t rn, const uint8_t *att, size_t an, void *arg)
{
    struct rpy_seen *s = arg;

    assert_true(s->n < 4 && rn + an < sizeof(s->msg[0]));
    memcpy(s->msg[s->n], raw, rn);
    memcpy(s->msg[s->n] + rn, att, an);
    s->msg[s->n][rn + an] = '\0';
    s->n++;
    return s->stop_after != 0 && s->n == s->stop_after ? KD_EEXIST : KD_OK;
}

/* ---- durability and WAL bounds (the writer's WAL buffering and its
 * checkpoint thread) ---- */

struct big_put {
    char key[32];
    size_t n;
    const char *val;
};

static enum kd_err big_put_fn(struct kd_store_txn *txn, void *arg)
{
    const struct big_put *b = arg;

    return kd_store_meta_put(txn, b->key, b->val, b->n);
}

/* A child commits writes one by one and reports each acknowledged commit on
 * a pipe; the parent SIGKILLs it in the middle, then reopens the database
 * with an independent connection and finds every acknowledged write. */
static void test_sigkill_keeps_acknowledged_writes(void **state)
{
    struct fx *fx = *state;
    static char val[3000];
    unsigned acked = 0, got;
    int fds[2], status = 0;
    pid_t pid;

    memset(val, 'v', sizeof(val));
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct kd_store *s = NULL;

        close(fds[0]);
        if (kd_store_open(&s, fx->path, NULL, NULL, NULL) != KD_OK)
            _exit(2);
        for (unsigned i = 0; i < 100000; i++) {
            struct big_put b = {.n = sizeof(val), .val = val};

            snprintf(b.key, sizeof(b.key), "k%u", i);
            if (kd_store_write_sync(s, big_put_fn, &b) != KD_OK)
                _exit(3);
            if (write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(4);
        }
        _exit(0);
    }
    close(fds[1]);
    while (acked < 300 && read(fds[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
        acked = got + 1;
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* acknowledgements already in the pipe count too */
    while (read(fds[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
        acked = got + 1;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(acked >= 300);
    /* an independent connection sees every acknowledged write */
    {
        char sql[96];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM meta WHERE key GLOB 'k[0-9]*' AND length(value) = %zu",
                 sizeof(val));
        assert_true(raw_int(fx->path, sql) >= (int64_t)acked);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM meta WHERE key = 'k%u'", acked - 1);
        assert_int_equal(raw_int(fx->path, sql), 1);
    }
    /* and the store opens it again */
    fx_open(fx, NULL);
    fx_close(fx);
}

/* Many commits: the checkpoint thread keeps the WAL file bounded (far below
 * what the commits wrote), and reads see each write once it completed. */
static void test_wal_stays_bounded(void **state)
{
    struct fx *fx = *state;
    static char val[16 * 1024];
    char wal[160];
    struct kd_buf out;
    struct stat st;
    const unsigned n = 6000; /* ~5 frames each: ~30,000 frames, ~120 MB of WAL */

    memset(val, 'w', sizeof(val));
    fx_open(fx, NULL);
    kd_buf_init(&out, sizeof(val) + 1);
    for (unsigned i = 0; i < n; i++) {
        struct big_put b = {.n = sizeof(val), .val = val};

        snprintf(b.key, sizeof(b.key), "w%u", i % 512);
        val[0] = (char)('a' + i % 26);
        assert_int_equal(kd_store_write_sync(fx->s, big_put_fn, &b), KD_OK);
        if (i % 997 == 0) {
            out.len = 0;
            assert_int_equal(kd_store_meta_get(fx->s, b.key, &out), KD_OK);
            assert_int_equal(out.len, sizeof(val));
            assert_int_equal(out.data[0], val[0]);
        }
    }
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    assert_int_equal(stat(wal, &st), 0);
    /* the hard limit is 16,384 frames of 4 KiB (64 MiB) plus one batch */
    assert_true(st.st_size < 70 * 1024 * 1024);
    kd_buf_free(&out);
    fx_close(fx);
    assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM meta WHERE key GLOB 'w[0-9]*'"), 512);
}

static enum kd_err ksn_put_fn(struct kd_store_txn *txn, void *arg)
{
    enum kd_err *got = arg;

    got[0] = kd_store_ksn_put(txn, RPY_CID, RPY_EID, 3, 10, "{k1}", 4, "-CAB1", 5);
    got[1] = kd_store_ksn_put(txn, RPY_CID, RPY_CID, 4, 11, "{k2}", 4, "-FAB", 4);
    got[2] = kd_store_ksn_put(txn, RPY_CID, RPY_EID, 5, 20, "{k3}", 4, "-CAB3", 5);
    got[3] = kd_store_ksn_put(txn, "not qb64!", RPY_EID, 1, 1, "x", 1, NULL, 0);
    got[4] = kd_store_ksn_put(txn, RPY_CID, "", 1, 1, "x", 1, NULL, 0);
    got[5] = kd_store_ksn_put(txn, RPY_CID, RPY_EID, UINT64_MAX, 1, "x", 1, NULL, 0);
    got[6] = kd_store_ksn_put(txn, RPY_CID, RPY_EID, 1, 1, "x", KD_STORE_BLOB_MAX + 1, NULL, 0);
    got[7] = kd_store_ksn_put(txn, RPY_CID, RPY_EID, 1, 1, NULL, 0, NULL, 0);
    return KD_OK;
}

/* Key-state notice replies: newest per (aid, signer), iterated per aid. */
static void test_ksn_replies(void **state)
{
    static const enum kd_err want[8] = {KD_OK,     KD_OK,     KD_OK,        KD_EINVAL,
                                        KD_EINVAL, KD_EINVAL, KD_ETOOLARGE, KD_EINVAL};
    struct fx *fx = *state;
    enum kd_err got[8];
    struct rpy_seen seen;
    struct kd_store_rd *rd;
    int64_t dt = 0;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    assert_int_equal(kd_store_write_sync(fx->s, ksn_put_fn, got), KD_OK);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(got[i], want[i]);
    assert_int_equal(kd_store_ksn_dt(rd, RPY_CID, RPY_EID, &dt), KD_OK);
    assert_int_equal(dt, 20);
    assert_int_equal(kd_store_ksn_dt(rd, RPY_EID, RPY_EID, &dt), KD_ENOTFOUND);
    assert_int_equal(kd_store_ksn_dt(rd, RPY_CID, RPY_EID, NULL), KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_ksn_each(rd, RPY_CID, rpy_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.msg[0], "{k3}-CAB3"); /* signer B… sorts before E… */
    assert_string_equal(seen.msg[1], "{k2}-FAB");
    assert_int_equal(kd_store_ksn_each(rd, RPY_CID, NULL, &seen), KD_EINVAL);
    assert_int_equal(kd_store_ksn_each(rd, "", rpy_cb, &seen), KD_EINVAL);
    fx_close(fx);
    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    assert_int_equal(kd_store_ksn_dt(rd, RPY_CID, RPY_CID, &dt), KD_OK);
    assert_int_equal(dt, 11);
}

static void test_replies(void **state)
{
    struct fx *fx = *state;
    struct rpy_w w;
    struct rpy_seen seen;
    struct kd_store_rd *rd;
    int64_t dt = 0;
    bool active = false;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    memset(&w, 0, sizeof(w));
    assert_int_equal(kd_store_write_sync(fx->s, rpy_put_fn, &w), KD_OK);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(w.got[i], KD_OK);
    assert_int_equal(w.got[3], KD_EINVAL);
    assert_int_equal(w.got[4], KD_EINVAL);
    assert_int_equal(w.got[5], KD_EINVAL);
    assert_int_equal(w.got[6], KD_ETOOLARGE);
    assert_int_equal(w.got[7], KD_OK);
    assert_int_equal(w.got[8], KD_OK);
    assert_int_equal(w.got[9], KD_EINVAL);
    assert_int_equal(w.got[10], KD_EINVAL);
    assert_int_equal(w.got[11], KD_EINVAL);

    /* loc: one per (eid, scheme), the later put replaced the earlier */
    assert_int_equal(kd_store_loc_dt(rd, RPY_EID, "http", &dt), KD_OK);
    assert_int_equal(dt, 20);
    assert_int_equal(kd_store_loc_dt(rd, RPY_EID, "https", &dt), KD_ENOTFOUND);
    assert_int_equal(kd_store_loc_dt(rd, RPY_EID, "http", NULL), KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_loc_each(rd, RPY_EID, rpy_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.msg[0], "{loc2}-CAB2");
    assert_string_equal(seen.msg[1], "{tcp}");
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 1;
    assert_int_equal(kd_store_loc_each(rd, RPY_EID, rpy_cb, &seen), KD_EEXIST);
    assert_int_equal(kd_store_loc_each(rd, RPY_EID, NULL, &seen), KD_EINVAL);
    assert_int_equal(kd_store_loc_each(rd, "", rpy_cb, &seen), KD_EINVAL);

    /* end roles: active ones in eid order, a cut hides its row */
    assert_int_equal(kd_store_end_role_dt(rd, RPY_CID, "watcher", RPY_EID, &dt, &active), KD_OK);
    assert_int_equal(dt, 5);
    assert_true(active);
    assert_int_equal(kd_store_end_role_dt(rd, RPY_CID, "witness", RPY_EID, &dt, NULL),
                     KD_ENOTFOUND);
    assert_int_equal(kd_store_end_role_dt(rd, RPY_CID, "watcher", RPY_EID, NULL, NULL), KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_end_role_each(rd, RPY_CID, "watcher", rpy_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.msg[0], "{add}-FAB");
    assert_string_equal(seen.msg[1], "{add2}-FAB2");
    assert_int_equal(kd_store_write_sync(fx->s, rpy_cut_fn, NULL), KD_OK);
    assert_int_equal(kd_store_end_role_dt(rd, RPY_CID, "watcher", RPY_EID, &dt, &active), KD_OK);
    assert_int_equal(dt, 7);
    assert_false(active);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_end_role_each(rd, RPY_CID, "watcher", rpy_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.msg[0], "{add2}-FAB2");
    assert_int_equal(kd_store_end_role_each(rd, RPY_CID, "", rpy_cb, &seen), KD_EINVAL);
    /* survives a reopen */
    fx_close(fx);
    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_loc_each(rd, RPY_EID, rpy_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
}

/* ---- TEL events and the TEL escrow (migration 6) ---- */

#define TEL_REG "EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH"
#define TEL_VC  "ENdJge-nCgyIC42MGYXQddvL9nm5ml-ZFOWq-WuDGp4k"
#define TEL_ISS "EL2KqdbeSkemPII22qQ9dNglhBYa2YaQL7ePjN-3aTGg"
#define TEL_D0  "ELKXqawms-uIvL74BTnYHFOPJrjD8N9DaC2-Yljl_OOn"
#define TEL_D1  "EDoj2ic6WlRrszgT3Hm67-fdxjr-ZxRZMy9O9MXURZDF"
#define TEL_D2  "EI6P1iV3bSFI5Y_TEhep-uvrGXxwFVdixPjvLKLRP7Oy"
#define TEL_K1  "EKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ"

struct tel_w {
    enum kd_err got[16];
    bool added[4];
};

static struct kd_store_tel_event tel_ev(const char *id, uint64_t sn, const char *said,
                                        const char *ilk, const char *raw)
{
    struct kd_store_tel_event e;

    memset(&e, 0, sizeof(e));
    e.id = id;
    e.sn = sn;
    e.said = said;
    e.ilk = ilk;
    e.reg = TEL_REG;
    e.issuer = TEL_ISS;
    e.seal_sn = sn + 1;
    e.seal_d = TEL_K1;
    e.first_seen_us = 42;
    e.raw = (const uint8_t *)raw;
    e.raw_len = strlen(raw);
    return e;
}

static enum kd_err tel_add_fn(struct kd_store_txn *txn, void *arg)
{
    struct tel_w *w = arg;
    struct kd_store_tel_event e = tel_ev(TEL_REG, 0, TEL_D0, "vcp", "{\"vcp\":0}");
    struct kd_store_tel_event bad;
    unsigned k = 0;

    w->got[k++] = kd_store_tel_add(txn, &e);
    e = tel_ev(TEL_VC, 0, TEL_D1, "bis", "{\"bis\":0}");
    w->got[k++] = kd_store_tel_add(txn, &e);
    e = tel_ev(TEL_VC, 1, TEL_D2, "brv", "{\"brv\":1}");
    w->got[k++] = kd_store_tel_add(txn, &e);
    /* the same SAID again; another event at a taken (id, sn) */
    w->got[k++] = kd_store_tel_add(txn, &e);
    e = tel_ev(TEL_VC, 1, TEL_K1, "brv", "{\"brv\":2}");
    w->got[k++] = kd_store_tel_add(txn, &e);
    /* bad input: not qb64, bad ilk, no raw, sn too large, NULL */
    bad = tel_ev("not qb64!", 5, TEL_K1, "iss", "x");
    w->got[k++] = kd_store_tel_add(txn, &bad);
    bad = tel_ev(TEL_VC, 5, TEL_K1, "ISS", "x");
    w->got[k++] = kd_store_tel_add(txn, &bad);
    bad = tel_ev(TEL_VC, 5, TEL_K1, "iss", "");
    w->got[k++] = kd_store_tel_add(txn, &bad);
    bad = tel_ev(TEL_VC, (uint64_t)INT64_MAX + 1, TEL_K1, "iss", "x");
    w->got[k++] = kd_store_tel_add(txn, &bad);
    w->got[k++] = kd_store_tel_add(txn, NULL);
    bad = tel_ev(TEL_VC, 5, TEL_K1, "iss", "x");
    bad.raw_len = KD_STORE_BLOB_MAX + 1;
    w->got[k++] = kd_store_tel_add(txn, &bad);
    return KD_OK;
}

struct tel_seen {
    unsigned n;
    char said[4][KD_STORE_ID_MAX + 1];
    uint64_t sn[4];
    int64_t row[4];
    char dep[4][KD_STORE_ID_MAX + 1];
};

static enum kd_err tel_each_cb(const struct kd_store_tel_event *e, void *arg)
{
    struct tel_seen *s = arg;

    assert_true(s->n < 4);
    strcpy(s->said[s->n], e->said);
    s->sn[s->n++] = e->sn;
    assert_string_equal(e->reg, TEL_REG);
    assert_string_equal(e->issuer, TEL_ISS);
    assert_string_equal(e->seal_d, TEL_K1);
    assert_int_equal(e->seal_sn, e->sn + 1);
    return KD_OK;
}

static enum kd_err tel_stop_cb(const struct kd_store_tel_event *e, void *arg)
{
    (void)e;
    (void)arg;
    return KD_EEXIST;
}

static struct kd_store_tel_escrow tel_esc(enum kd_store_tel_escrow_kind kind, const char *said,
                                          const char *dep, uint64_t sn, int64_t at)
{
    struct kd_store_tel_escrow e;

    memset(&e, 0, sizeof(e));
    e.kind = kind;
    e.id = TEL_VC;
    e.sn = sn;
    e.said = said;
    e.dep = dep;
    e.seal_sn = 3;
    e.seal_d = TEL_K1;
    e.raw = (const uint8_t *)"{\"x\":1}";
    e.raw_len = 7;
    e.arrived_us = at;
    return e;
}

static enum kd_err tel_esc_fn(struct kd_store_txn *txn, void *arg)
{
    struct tel_w *w = arg;
    struct kd_store_tel_escrow e =
        tel_esc(KD_STORE_TEL_ESCROW_OUT_OF_ORDER, TEL_D2, TEL_VC, 1, 100);
    unsigned k = 0;

    w->got[k++] = kd_store_tel_escrow_add(txn, &e, &w->added[0]);
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, &w->added[1]); /* same again */
    e = tel_esc(KD_STORE_TEL_ESCROW_ANCHOR, TEL_D1, TEL_ISS, 0, 200);
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, &w->added[2]);
    e = tel_esc(KD_STORE_TEL_ESCROW_ANCHOR, TEL_D0, TEL_ISS, 0, 300);
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, &w->added[3]);
    /* bad input */
    e = tel_esc(KD_STORE_TEL_ESCROW_KIND_COUNT_, TEL_D0, TEL_ISS, 0, 1);
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, NULL);
    e = tel_esc(KD_STORE_TEL_ESCROW_ANCHOR, TEL_D0, "", 0, 1);
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, NULL);
    e = tel_esc(KD_STORE_TEL_ESCROW_ANCHOR, TEL_D0, TEL_ISS, 0, 1);
    e.raw_len = KD_STORE_BLOB_MAX + 1;
    w->got[k++] = kd_store_tel_escrow_add(txn, &e, NULL);
    w->got[k++] = kd_store_tel_escrow_add(txn, NULL, NULL);
    w->got[k++] = kd_store_tel_escrow_expire(txn, KD_STORE_TEL_ESCROW_KIND_COUNT_, 0, NULL);
    return KD_OK;
}

static enum kd_err tel_esc_cb(const struct kd_store_tel_escrow *e, void *arg)
{
    struct tel_seen *s = arg;

    assert_true(s->n < 4);
    strcpy(s->said[s->n], e->said);
    strcpy(s->dep[s->n], e->dep);
    s->sn[s->n] = e->sn;
    s->row[s->n++] = e->row;
    assert_int_equal(e->raw_len, 7);
    assert_memory_equal(e->raw, "{\"x\":1}", 7);
    assert_string_equal(e->seal_d, TEL_K1);
    assert_int_equal(e->seal_sn, 3);
    return KD_OK;
}

struct tel_rm {
    int64_t row;
    enum kd_err got[4];
    uint64_t removed;
};

static enum kd_err tel_rm_fn(struct kd_store_txn *txn, void *arg)
{
    struct tel_rm *r = arg;

    r->got[0] = kd_store_tel_escrow_remove(txn, r->row);
    r->got[1] = kd_store_tel_escrow_remove(txn, r->row); /* gone */
    r->got[2] = kd_store_tel_escrow_expire(txn, KD_STORE_TEL_ESCROW_ANCHOR, 250, &r->removed);
    return KD_OK;
}

static void test_tel_tables(void **state)
{
    struct fx *fx = *state;
    struct kd_store_rd *rd;
    struct kd_store_tel_event ev;
    struct kd_buf b;
    struct tel_w w;
    struct tel_seen seen;
    struct tel_rm rm;
    uint64_t n = 0;

    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    kd_buf_init(&b, 0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(kd_store_write_sync(fx->s, tel_add_fn, &w), KD_OK);
    assert_int_equal(w.got[0], KD_OK);
    assert_int_equal(w.got[1], KD_OK);
    assert_int_equal(w.got[2], KD_OK);
    assert_int_equal(w.got[3], KD_EEXIST);
    assert_int_equal(w.got[4], KD_EEXIST);
    for (unsigned k = 5; k < 10; k++)
        assert_int_equal(w.got[k], KD_EINVAL);
    assert_int_equal(w.got[10], KD_ETOOLARGE);

    /* by (id, sn), the last, in sn order */
    assert_int_equal(kd_store_tel_at(rd, TEL_VC, 1, &ev, &b), KD_OK);
    assert_string_equal(ev.said, TEL_D2);
    assert_string_equal(ev.ilk, "brv");
    assert_string_equal(ev.id, TEL_VC);
    assert_int_equal(ev.first_seen_us, 42);
    assert_int_equal(ev.raw_len, 9);
    assert_memory_equal(ev.raw, "{\"brv\":1}", 9);
    assert_int_equal(kd_store_tel_at(rd, TEL_VC, 2, &ev, &b), KD_ENOTFOUND);
    assert_int_equal(kd_store_tel_at(rd, "bad id!", 0, &ev, &b), KD_EINVAL);
    assert_int_equal(kd_store_tel_last(rd, TEL_VC, &ev, &b), KD_OK);
    assert_int_equal(ev.sn, 1);
    assert_int_equal(kd_store_tel_last(rd, TEL_ISS, &ev, &b), KD_ENOTFOUND);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_tel_each(rd, TEL_VC, tel_each_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.said[0], TEL_D1);
    assert_string_equal(seen.said[1], TEL_D2);
    assert_int_equal(kd_store_tel_each(rd, TEL_VC, tel_stop_cb, NULL), KD_EEXIST);
    assert_int_equal(kd_store_tel_each(rd, TEL_VC, NULL, NULL), KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_tel_each(rd, TEL_ISS, tel_each_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 0);

    /* the escrow */
    memset(&w, 0, sizeof(w));
    assert_int_equal(kd_store_write_sync(fx->s, tel_esc_fn, &w), KD_OK);
    for (unsigned k = 0; k < 4; k++)
        assert_int_equal(w.got[k], KD_OK);
    assert_true(w.added[0]);
    assert_false(w.added[1]);
    assert_true(w.added[2] && w.added[3]);
    for (unsigned k = 4; k < 9; k++)
        assert_int_equal(w.got[k], k == 6 ? KD_ETOOLARGE : KD_EINVAL);
    assert_int_equal(kd_store_tel_escrow_count(rd, NULL, &n), KD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kd_store_tel_escrow_count(rd, TEL_ISS, &n), KD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kd_store_tel_escrow_count(rd, "bad!", &n), KD_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_tel_escrow_each(rd, 0, 0, tel_esc_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.said[0], TEL_D2);
    assert_string_equal(seen.dep[0], TEL_VC);
    assert_true(seen.row[0] < seen.row[1] && seen.row[1] < seen.row[2]);
    /* paging after a row id, with a limit */
    memset(&seen, 0, sizeof(seen));
    {
        struct tel_seen all = {0};

        assert_int_equal(kd_store_tel_escrow_each(rd, 0, 0, tel_esc_cb, &all), KD_OK);
        assert_int_equal(kd_store_tel_escrow_each(rd, all.row[0], 1, tel_esc_cb, &seen), KD_OK);
        assert_int_equal(seen.n, 1);
        assert_int_equal(seen.row[0], all.row[1]);
        rm.row = all.row[0];
    }
    /* by dep, in (sn, row) order */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_tel_escrow_each_dep(rd, TEL_ISS, 0, tel_esc_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.said[0], TEL_D1);
    assert_string_equal(seen.said[1], TEL_D0);
    assert_int_equal(kd_store_tel_escrow_each_dep(rd, "", 0, tel_esc_cb, &seen), KD_EINVAL);
    assert_int_equal(kd_store_tel_escrow_each(rd, 0, 0, NULL, NULL), KD_EINVAL);
    /* remove one; expire the anchor rows that arrived before 250 */
    memset(&rm.got, 0, sizeof(rm.got));
    assert_int_equal(kd_store_write_sync(fx->s, tel_rm_fn, &rm), KD_OK);
    assert_int_equal(rm.got[0], KD_OK);
    assert_int_equal(rm.got[1], KD_ENOTFOUND);
    assert_int_equal(rm.got[2], KD_OK);
    assert_int_equal(rm.removed, 1);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(kd_store_tel_escrow_each(rd, 0, 0, tel_esc_cb, &seen), KD_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.said[0], TEL_D0);

    /* reopened: all there */
    fx_close(fx);
    fx_open(fx, NULL);
    rd = kd_store_reader(fx->s);
    assert_int_equal(kd_store_tel_at(rd, TEL_REG, 0, &ev, &b), KD_OK);
    assert_string_equal(ev.said, TEL_D0);
    assert_string_equal(ev.ilk, "vcp");
    assert_int_equal(kd_store_tel_escrow_count(rd, NULL, &n), KD_OK);
    assert_int_equal(n, 1);
    kd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_open_fresh),
        T(test_open_bad_arguments),
        T(test_reopen_keeps_data),
        T(test_migrate_from_version_1),
        T(test_migrate_from_empty_file),
        T(test_refuse_newer_version),
        T(test_refuse_foreign_files),
        T(test_failed_migration_rolls_back),
        T(test_group_commit),
        T(test_batch_max),
        T(test_failing_write_rolls_back_alone),
        T(test_completion_after_commit),
        T(test_queue_full),
        T(test_close_flushes_queue),
        T(test_read_while_writing),
        T(test_commit_failure_fails_batch),
        T(test_write_ending_transaction),
        T(test_begin_busy_fails_batch),
        T(test_write_sync_and_misuse),
        T(test_meta),
        T(test_kel_events),
        T(test_kel_sigs_and_states),
        T(test_kel_states),
        T(test_kel_escrows),
        T(test_kel_engine_tables),
        T(test_stats_render),
        T(test_stats_live_render),
        T(test_mailbox),
        T(test_replies),
        T(test_sigkill_keeps_acknowledged_writes),
        T(test_wal_stays_bounded),
        T(test_ksn_replies),
        T(test_tel_tables),
#undef T
    };

    kd_log_setup(KD_LOG_ERROR, KD_LOG_TEXT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
