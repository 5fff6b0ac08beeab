/*
 * The engine over the store (keripy Kevery): where an event stands against
 * the KEL (inception, in order, superseding recovery, out of order,
 * duplicate, duplicitous), what is written when it is accepted, receipts,
 * the escrows of keri-core §5 with their release and expiry, and the key
 * state cache.
 *
 * Escrow rows (store kel_escrows): at most one row per event SAID across
 * the event kinds (out of order, partially signed / witnessed / delegated);
 * a row keeps the received body, the signatures as attachment text and the
 * time of its first arrival. Controller signatures are verified before a
 * row is written whenever the signing keys are known (always for partial
 * escrows; for out-of-order events: establishment events against their own
 * keys, interactions against the current keys when one of them verifies);
 * only out-of-order events whose keys cannot be known yet (an identifier
 * not seen, an interaction after a rotation not seen) keep unverified
 * signatures, bounded per identifier. Receipts for events not accepted yet
 * are rows of the unverified receipt kinds (keripy uwes/ures/vres; keriox
 * drops them), bounded per identifier: they count for the toad of their
 * event when it is validated and are verified and stored when it is
 * accepted.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "kel_eng.h"

/* ---- names ---- */

static const struct {
    enum kd_err err;
    const char *name;
    const char *msg;
} kd_kel_fault_table[KD_KEL_F_COUNT_] = {
#define KD_KEL_FAULT_ROW_(name, err, msg) {err, #name, msg},
    KD_KEL_FAULTS(KD_KEL_FAULT_ROW_)
#undef KD_KEL_FAULT_ROW_
};

enum kd_err kd_kel_fault_err(enum kd_kel_fault f)
{
    return (unsigned)f < KD_KEL_F_COUNT_ ? kd_kel_fault_table[f].err : KD_EINTERNAL;
}

const char *kd_kel_fault_message(enum kd_kel_fault f)
{
    return (unsigned)f < KD_KEL_F_COUNT_ ? kd_kel_fault_table[f].msg : "?";
}

const char *kd_kel_fault_name(enum kd_kel_fault f)
{
    return (unsigned)f < KD_KEL_F_COUNT_ ? kd_kel_fault_table[f].name : "?";
}

const char *kd_kel_verdict_name(enum kd_kel_verdict v)
{
    static const char *const names[] = {"accepted", "duplicate",   "escrowed",
                                        "rejected", "duplicitous", "skipped"};

    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

static bool kd_kel_event_kind(enum kd_store_escrow_kind kind)
{
    return kind == KD_STORE_ESCROW_OUT_OF_ORDER || kind == KD_STORE_ESCROW_PARTIAL_SIG ||
           kind == KD_STORE_ESCROW_PARTIAL_WIT || kind == KD_STORE_ESCROW_PARTIAL_DEL;
}

static bool kd_kel_rct_kind(enum kd_store_escrow_kind kind)
{
    return kind == KD_STORE_ESCROW_UNVERIFIED_WIT_RCT ||
           kind == KD_STORE_ESCROW_UNVERIFIED_NT_RCT || kind == KD_STORE_ESCROW_UNVERIFIED_T_RCT;
}

/* ---- options ---- */

void kd_kel_opts_default(struct kd_kel_opts *o)
{
    memset(o, 0, sizeof *o);
    o->delegation_requires_anchor = true;
    o->timeouts.default_timeout = KD_KEL_TIMEOUT_DEFAULT;
}

void kd_kel_set_delegation_requires_anchor(struct kd_kel *k, bool on)
{
    k->opts.delegation_requires_anchor = on;
}

static unsigned kd_kel_or(unsigned v, unsigned def)
{
    return v != 0 ? v : def;
}

/* ---- the key state cache (LRU over an open-addressing table) ---- */

static uint32_t kd_kel_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static enum kd_err kd_kel_cache_init(struct kd_kel_cache *c, unsigned cap)
{
    c->cap = cap;
    c->slots = 16;
    while (c->slots < 2 * cap)
        c->slots *= 2;
    c->table = malloc(c->slots * sizeof *c->table);
    c->ent = calloc(cap, sizeof *c->ent);
    if (c->table == NULL || c->ent == NULL)
        return KD_ENOMEM;
    for (unsigned i = 0; i < c->slots; i++)
        c->table[i] = -1;
    for (unsigned i = 0; i < cap; i++)
        c->ent[i].next = i + 1 < cap ? (int32_t)(i + 1) : -1;
    c->free_head = 0;
    c->head = c->tail = -1;
    c->used = 0;
    return KD_OK;
}

static void kd_kel_cache_clear(struct kd_kel_cache *c)
{
    if (c->ent == NULL)
        return;
    for (unsigned i = 0; i < c->cap; i++) {
        kd_kel_state_free(c->ent[i].st);
        c->ent[i].st = NULL;
        c->ent[i].next = i + 1 < c->cap ? (int32_t)(i + 1) : -1;
    }
    for (unsigned i = 0; i < c->slots; i++)
        c->table[i] = -1;
    c->free_head = 0;
    c->head = c->tail = -1;
    c->used = 0;
    c->tombs = 0;
}

static void kd_kel_cache_free(struct kd_kel_cache *c)
{
    kd_kel_cache_clear(c);
    free(c->table);
    free(c->ent);
}

/* Slot holding prefix, or -1. */
static int32_t kd_kel_cache_slot(const struct kd_kel_cache *c, const char *prefix, uint32_t h)
{
    const unsigned mask = c->slots - 1;

    for (unsigned i = h & mask, n = 0; n < c->slots; i = (i + 1) & mask, n++) {
        const int32_t e = c->table[i];

        if (e == -1)
            return -1;
        if (e >= 0 && c->ent[e].hash == h && strcmp(c->ent[e].st->prefix, prefix) == 0)
            return (int32_t)i;
    }
    return -1;
}

static void kd_kel_lru_unlink(struct kd_kel_cache *c, int32_t e)
{
    struct kd_kel_cache_ent *x = &c->ent[e];

    if (x->prev >= 0)
        c->ent[x->prev].next = x->next;
    else
        c->head = x->next;
    if (x->next >= 0)
        c->ent[x->next].prev = x->prev;
    else
        c->tail = x->prev;
}

static void kd_kel_lru_front(struct kd_kel_cache *c, int32_t e)
{
    c->ent[e].prev = -1;
    c->ent[e].next = c->head;
    if (c->head >= 0)
        c->ent[c->head].prev = e;
    c->head = e;
    if (c->tail < 0)
        c->tail = e;
}

/* Rebuilds the table without tombstones. */
static void kd_kel_cache_rehash(struct kd_kel_cache *c)
{
    const unsigned mask = c->slots - 1;

    for (unsigned i = 0; i < c->slots; i++)
        c->table[i] = -1;
    c->tombs = 0;
    for (int32_t e = c->head; e >= 0; e = c->ent[e].next) {
        unsigned i = c->ent[e].hash & mask;

        while (c->table[i] != -1)
            i = (i + 1) & mask;
        c->table[i] = e;
    }
}

static void kd_kel_cache_drop_slot(struct kd_kel_cache *c, int32_t slot)
{
    const int32_t e = c->table[slot];

    kd_kel_lru_unlink(c, e);
    kd_kel_state_free(c->ent[e].st);
    c->ent[e].st = NULL;
    c->ent[e].next = c->free_head;
    c->free_head = e;
    c->table[slot] = -2;
    c->tombs++;
    c->used--;
}

static const struct kd_kel_state *kd_kel_cache_find(struct kd_kel_cache *c, const char *prefix)
{
    const int32_t slot = kd_kel_cache_slot(c, prefix, kd_kel_hash(prefix));
    int32_t e;

    if (slot < 0)
        return NULL;
    e = c->table[slot];
    if (c->head != e) {
        kd_kel_lru_unlink(c, e);
        kd_kel_lru_front(c, e);
    }
    return c->ent[e].st;
}

/* Takes ownership of st, replacing a state of the same prefix; evicts the
 * least recently used state when full. */
static void kd_kel_cache_put(struct kd_kel_cache *c, struct kd_kel_state *st)
{
    const uint32_t h = kd_kel_hash(st->prefix);
    const unsigned mask = c->slots - 1;
    int32_t slot = kd_kel_cache_slot(c, st->prefix, h), e;
    unsigned i;

    if (slot >= 0)
        kd_kel_cache_drop_slot(c, slot);
    if (c->used >= c->cap && c->tail >= 0) {
        const int32_t t = c->tail;

        kd_kel_cache_drop_slot(c, kd_kel_cache_slot(c, c->ent[t].st->prefix, c->ent[t].hash));
    }
    if (c->tombs > c->slots / 4)
        kd_kel_cache_rehash(c);
    e = c->free_head;
    c->free_head = c->ent[e].next;
    c->ent[e].st = st;
    c->ent[e].hash = h;
    kd_kel_lru_front(c, e);
    for (i = h & mask; c->table[i] >= 0; i = (i + 1) & mask)
        ;
    c->table[i] = e;
    c->used++;
}

enum kd_err kd_kel_state_get(struct kd_kel *k, struct kd_store_rd *rd, const char *prefix,
                             const struct kd_kel_state **out)
{
    struct kd_kel_state *st = NULL;
    enum kd_err err;

    *out = kd_kel_cache_find(&k->cache, prefix);
    if (*out != NULL) {
        k->stats.cache_hits++;
        return KD_OK;
    }
    k->stats.cache_misses++;
    err = kd_kel_state_load(rd, prefix, &st);
    if (err == KD_ENOTFOUND)
        return KD_OK;
    if (err != KD_OK)
        return err;
    kd_kel_cache_put(&k->cache, st);
    *out = st;
    return KD_OK;
}

/* ---- engine life ---- */

enum kd_err kd_kel_new(struct kd_kel **out, const struct kd_kel_opts *opts)
{
    struct kd_kel *k;
    struct kd_kel_opts def;
    const uint64_t *to[KD_STORE_ESCROW_KIND_COUNT_];
    enum kd_err err = KD_ENOMEM;

    if (out == NULL)
        return KD_EINVAL;
    *out = NULL;
    if (opts == NULL) {
        kd_kel_opts_default(&def);
        opts = &def;
    }
    if (opts->nown > 0 && opts->own_prefixes == NULL)
        return KD_EINVAL;
    for (unsigned i = 0; i < opts->nown; i++) {
        struct kd_cesr_prim p;
        const char *o = opts->own_prefixes[i];

        if (o == NULL || kd_cesr_qb64_decode(o, strlen(o), &p, NULL, NULL) != KD_OK ||
            p.code != KD_CESR_ED25519N)
            return KD_EINVAL;
    }
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return KD_ENOMEM;
    k->opts = *opts;
    k->opts.limits.cache_states = kd_kel_or(opts->limits.cache_states, KD_KEL_CACHE_DEFAULT);
    if (k->opts.limits.cache_states < 16)
        k->opts.limits.cache_states = 16; /* an evaluation holds two states at once */
    if (k->opts.limits.cache_states > KD_KEL_CACHE_MAX)
        k->opts.limits.cache_states = KD_KEL_CACHE_MAX;
    k->opts.limits.max_sigs = kd_kel_or(opts->limits.max_sigs, KD_KEL_SIGS_MAX);
    if (k->opts.limits.max_sigs > KD_KEL_SIGS_MAX)
        k->opts.limits.max_sigs = KD_KEL_SIGS_MAX;
    k->opts.limits.escrow_per_prefix = kd_kel_or(opts->limits.escrow_per_prefix, 64);
    k->opts.limits.receipts_per_prefix = kd_kel_or(opts->limits.receipts_per_prefix, 256);
    k->opts.limits.escrow_rows =
        opts->limits.escrow_rows != 0 ? opts->limits.escrow_rows : 1000000u;
    k->opts.limits.dups_per_prefix = kd_kel_or(opts->limits.dups_per_prefix, 64);
    k->opts.limits.release_max = kd_kel_or(opts->limits.release_max, 256);
    if (k->opts.limits.release_max > KD_KEL_PAGE_MAX)
        k->opts.limits.release_max = KD_KEL_PAGE_MAX;
    k->opts.limits.delegation_depth = kd_kel_or(opts->limits.delegation_depth, 8);
    k->max_sigs = k->opts.limits.max_sigs;
    if (k->opts.timeouts.default_timeout == 0)
        k->opts.timeouts.default_timeout = KD_KEL_TIMEOUT_DEFAULT;
    for (unsigned i = 0; i < KD_STORE_ESCROW_KIND_COUNT_; i++)
        to[i] = NULL;
    to[KD_STORE_ESCROW_OUT_OF_ORDER] = &k->opts.timeouts.out_of_order;
    to[KD_STORE_ESCROW_PARTIAL_SIG] = &k->opts.timeouts.partially_signed;
    to[KD_STORE_ESCROW_PARTIAL_WIT] = &k->opts.timeouts.partially_witnessed;
    to[KD_STORE_ESCROW_PARTIAL_DEL] = &k->opts.timeouts.delegation;
    to[KD_STORE_ESCROW_UNVERIFIED_WIT_RCT] = &k->opts.timeouts.receipts;
    to[KD_STORE_ESCROW_UNVERIFIED_NT_RCT] = &k->opts.timeouts.receipts;
    to[KD_STORE_ESCROW_UNVERIFIED_T_RCT] = &k->opts.timeouts.receipts;
    for (unsigned i = 0; i < KD_STORE_ESCROW_KIND_COUNT_; i++) {
        uint64_t s = to[i] != NULL && *to[i] != 0 ? *to[i] : k->opts.timeouts.default_timeout;

        if (s > (uint64_t)INT64_MAX / 1000000u)
            s = (uint64_t)INT64_MAX / 1000000u;
        k->timeout_us[i] = s * 1000000u;
    }
    if (opts->nown > 0) {
        k->own = calloc(opts->nown, sizeof *k->own);
        if (k->own == NULL)
            goto out;
        for (unsigned i = 0; i < opts->nown; i++)
            if ((k->own[i] = strdup(opts->own_prefixes[i])) == NULL)
                goto out;
    }
    k->opts.own_prefixes = NULL;
    k->ev = malloc(sizeof *k->ev);
    k->aux = malloc(sizeof *k->aux);
    k->sigs = malloc(sizeof *k->sigs);
    k->sb = malloc(sizeof *k->sb);
    if (k->ev == NULL || k->aux == NULL || k->sigs == NULL || k->sb == NULL)
        goto out;
    if ((err = kd_kel_cache_init(&k->cache, k->opts.limits.cache_states)) != KD_OK)
        goto out;
    kd_buf_init(&k->buf, KD_STORE_BLOB_MAX + 4096);
    kd_buf_init(&k->tbuf, KD_STORE_BLOB_MAX + 4096);
    kd_buf_init(&k->att, KD_STORE_BLOB_MAX);
    kd_buf_init(&k->blob, KD_STORE_BLOB_MAX);
    *out = k;
    k = NULL;
    err = KD_OK;
out:
    kd_kel_free(k);
    return err;
}

void kd_kel_free(struct kd_kel *k)
{
    if (k == NULL)
        return;
    if (k->own != NULL)
        for (unsigned i = 0; i < k->opts.nown; i++)
            free(k->own[i]);
    free(k->own);
    kd_kel_cache_free(&k->cache);
    kd_buf_free(&k->buf);
    kd_buf_free(&k->tbuf);
    kd_buf_free(&k->att);
    kd_buf_free(&k->blob);
    free(k->ev);
    free(k->aux);
    free(k->sigs);
    free(k->sb);
    free(k);
}

void kd_kel_stats_get(const struct kd_kel *k, struct kd_kel_stats *out)
{
    if (k == NULL)
        memset(out, 0, sizeof *out);
    else
        *out = k->stats;
}

/* Drops what may be stale when the store's epoch moved (writes undone). */
static void kd_kel_check_epoch(struct kd_kel *k, struct kd_store_txn *txn)
{
    const uint64_t ep = kd_store_txn_epoch(txn);

    if (!k->epoch_known || ep != k->epoch) {
        kd_kel_cache_clear(&k->cache);
        k->counts_known = false;
        k->epoch = ep;
        k->epoch_known = true;
    }
}

/* Forgets everything cached after a failure inside a transaction. */
static void kd_kel_forget(struct kd_kel *k)
{
    kd_kel_cache_clear(&k->cache);
    k->counts_known = false;
}

static enum kd_err kd_kel_counts(struct kd_kel *k, struct kd_store_rd *rd)
{
    enum kd_err err;

    if (k->counts_known)
        return KD_OK;
    for (unsigned i = 0; i < KD_STORE_ESCROW_KIND_COUNT_; i++)
        if ((err = kd_store_escrow_count(rd, (enum kd_store_escrow_kind)i, &k->count[i])) != KD_OK)
            return err;
    k->counts_known = true;
    return KD_OK;
}

/* ---- results ---- */

static void kd_kel_res_init(struct kd_kel_result *res)
{
    memset(res, 0, sizeof *res);
    res->verdict = KD_KEL_REJECTED;
    res->why = "ok";
    res->ilk = KD_ILK_COUNT_;
    res->own_index = -1;
}

static void kd_kel_res_reject(struct kd_kel *k, struct kd_kel_result *res, enum kd_kel_fault f,
                              const char *why)
{
    res->verdict = KD_KEL_REJECTED;
    res->fault = f;
    res->err = kd_kel_fault_err(f);
    res->why = why != NULL ? why : kd_kel_fault_message(f);
    k->stats.rejected++;
}

/* ---- escrow rows in memory ---- */

struct kd_kel_row {
    int64_t id;
    enum kd_store_escrow_kind kind;
    int64_t arrived_us;
    uint64_t sn;
    char prefix[KD_KEL_ID_MAX + 1];
    char said[KD_KEL_ID_MAX + 1];
    uint8_t *raw;
    size_t raw_len;
    uint8_t *att;
    size_t att_len;
};

struct kd_kel_rows {
    unsigned n, cap;
    struct kd_kel_row *v;
};

static void kd_kel_rows_free(struct kd_kel_rows *r)
{
    for (unsigned i = 0; i < r->n; i++) {
        free(r->v[i].raw);
        free(r->v[i].att);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Store iteration callback: copies a row (at most cap rows). */
static enum kd_err kd_kel_rows_cb(const struct kd_store_escrow *e, void *arg)
{
    struct kd_kel_rows *r = arg;
    struct kd_kel_row *x;

    if (r->n >= r->cap)
        return KD_OK;
    if (r->v == NULL) {
        r->v = calloc(r->cap, sizeof *r->v);
        if (r->v == NULL)
            return KD_ENOMEM;
    }
    if (strlen(e->prefix) > KD_KEL_ID_MAX || strlen(e->said) > KD_KEL_ID_MAX)
        return KD_OK; /* not a row kel/ wrote */
    x = &r->v[r->n];
    x->raw = malloc(e->raw_len);
    x->att = malloc(e->att_len + 1);
    if (x->raw == NULL || x->att == NULL) {
        free(x->raw);
        free(x->att);
        return KD_ENOMEM;
    }
    memcpy(x->raw, e->raw, e->raw_len);
    memcpy(x->att, e->att, e->att_len);
    x->raw_len = e->raw_len;
    x->att_len = e->att_len;
    x->id = e->id;
    x->kind = e->kind;
    x->arrived_us = e->arrived_us;
    x->sn = e->sn;
    snprintf(x->prefix, sizeof x->prefix, "%s", e->prefix);
    snprintf(x->said, sizeof x->said, "%s", e->said);
    r->n++;
    return KD_OK;
}

/* Removes row id (gone already is fine) and keeps the counts. */
static enum kd_err kd_kel_row_remove(struct kd_kel *k, struct kd_store_txn *txn, int64_t id,
                                     enum kd_store_escrow_kind kind)
{
    enum kd_err err = kd_store_escrow_remove(txn, id);

    if (err == KD_OK) {
        if (k->count[kind] > 0)
            k->count[kind]--;
        return KD_OK;
    }
    return err == KD_ENOTFOUND ? KD_OK : err;
}

/* Rows escrowed under the SAID of the event being processed. */
struct kd_kel_merge {
    struct kd_kel_rows rows;
    int64_t arrived_us;
};

static bool kd_kel_any_escrow(const struct kd_kel *k)
{
    for (unsigned i = 0; i < KD_STORE_ESCROW_KIND_COUNT_; i++)
        if ((kd_kel_event_kind((enum kd_store_escrow_kind)i) ||
             kd_kel_rct_kind((enum kd_store_escrow_kind)i)) &&
            k->count[i] > 0)
            return true;
    return false;
}

/* Loads the rows for ev's SAID and merges their signatures into k->sigs:
 * event rows all, receipt rows when they name ev's prefix and sn. */
static enum kd_err kd_kel_merge_rows(struct kd_kel *k, struct kd_store_rd *rd, const char *prefix,
                                     const char *said, kd_sn_t sn, int64_t now_us,
                                     struct kd_kel_merge *mg)
{
    enum kd_err err;

    memset(mg, 0, sizeof *mg);
    mg->arrived_us = now_us;
    if (!kd_kel_any_escrow(k))
        return KD_OK;
    mg->rows.cap = 64;
    err = kd_store_escrow_each_said(rd, said, kd_kel_rows_cb, &mg->rows);
    if (err != KD_OK)
        return err;
    for (unsigned i = 0; i < mg->rows.n; i++) {
        const struct kd_kel_row *r = &mg->rows.v[i];

        if (strcmp(r->prefix, prefix) != 0)
            continue;
        if (kd_kel_event_kind(r->kind)) {
            if (r->arrived_us < mg->arrived_us)
                mg->arrived_us = r->arrived_us;
        } else if (!kd_kel_rct_kind(r->kind) || r->sn != sn) {
            continue;
        }
        /* a full set keeps what it has: merging is best effort */
        err = kd_kel_sigset_add_text(k->sigs, r->att, r->att_len, k->max_sigs);
        if (err == KD_ENOMEM)
            return err;
    }
    return KD_OK;
}

/* Removes the merged rows: event rows except keep_id, receipt rows when
 * with_rcts. */
static enum kd_err kd_kel_merge_drop(struct kd_kel *k, struct kd_store_txn *txn,
                                     const struct kd_kel_merge *mg, int64_t keep_id, bool with_rcts)
{
    enum kd_err err;

    for (unsigned i = 0; i < mg->rows.n; i++) {
        const struct kd_kel_row *r = &mg->rows.v[i];

        if (r->id == keep_id)
            continue;
        if (!kd_kel_event_kind(r->kind) && !(with_rcts && kd_kel_rct_kind(r->kind)))
            continue;
        if ((err = kd_kel_row_remove(k, txn, r->id, r->kind)) != KD_OK)
            return err;
    }
    return KD_OK;
}

/* Processing context shared by the paths below. */
struct kd_kel_pctx {
    struct kd_kel *k;
    struct kd_store_txn *txn;
    struct kd_store_rd *rd;
    const struct kd_kel_row *row; /* retried escrow row, or NULL */
    int64_t now_us;
    struct kd_kel_result *res;
    struct kd_kel_merge mg;
};

/*
 * Escrows k->ev in kind (one row per SAID across the event kinds): updates
 * this kind's row for the SAID or adds one within the bounds, then drops
 * the rows of the other kinds. sigs_verified / rcts_verified say which
 * signatures the row keeps.
 */
static enum kd_err kd_kel_escrow_event(struct kd_kel_pctx *p, enum kd_store_escrow_kind kind,
                                       const char *dep, bool sigs_verified, bool rcts_verified,
                                       const char *why)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    struct kd_kel_result *res = p->res;
    int64_t keep = -1;
    bool added = false;
    enum kd_err err;

    if ((err = kd_kel_sigset_text(k->sigs, sigs_verified, rcts_verified, &k->att)) != KD_OK)
        return err;
    for (unsigned i = 0; i < p->mg.rows.n && keep < 0; i++)
        if (p->mg.rows.v[i].kind == kind && strcmp(p->mg.rows.v[i].prefix, res->prefix) == 0)
            keep = p->mg.rows.v[i].id;
    if (keep >= 0) {
        err = kd_store_escrow_update(p->txn, keep, k->att.data, k->att.len, p->now_us);
        if (err != KD_OK && err != KD_EEXIST)
            return err;
    } else {
        struct kd_store_escrow e;
        uint64_t n = 0;

        if (k->count[kind] >= k->opts.limits.escrow_rows) {
            kd_kel_res_reject(k, res, KD_KEL_F_ESCROW_FULL, "escrow full");
            return KD_OK;
        }
        if ((err = kd_store_escrow_count_prefix(p->rd, kind, res->prefix, &n)) != KD_OK)
            return err;
        if (n >= k->opts.limits.escrow_per_prefix) {
            kd_kel_res_reject(k, res, KD_KEL_F_ESCROW_FULL, NULL);
            return KD_OK;
        }
        memset(&e, 0, sizeof e);
        e.kind = kind;
        e.prefix = res->prefix;
        e.sn = (uint64_t)ev->sn;
        e.said = res->said;
        e.raw = ev->raw;
        e.raw_len = ev->size;
        e.att = k->att.data;
        e.att_len = k->att.len;
        e.arrived_us = p->mg.arrived_us;
        e.tried_us = p->now_us;
        e.dep = dep;
        if ((err = kd_store_escrow_add(p->txn, &e, &added, &keep)) != KD_OK)
            return err;
        if (added)
            k->count[kind]++;
    }
    if ((err = kd_kel_merge_drop(k, p->txn, &p->mg, keep, false)) != KD_OK)
        return err;
    res->verdict = KD_KEL_ESCROWED;
    res->escrow = kind;
    res->why = why;
    res->err = KD_OK;
    res->fault = KD_KEL_F_NONE;
    if (kind == KD_STORE_ESCROW_PARTIAL_DEL && dep != NULL)
        snprintf(res->waits_on, sizeof res->waits_on, "%s", dep);
    res->escrow_added = added;
    k->stats.escrowed++;
    return KD_OK;
}

/* ---- storing signatures ---- */

/* Keeps a signature text: *added counts new ones. */
static enum kd_err kd_kel_sig_put(struct kd_kel_pctx *p, const char *said,
                                  enum kd_store_sig_kind kind, const char *text)
{
    bool added = false;
    enum kd_err err = kd_store_sig_add(p->txn, said, kind, text, &added);

    if (err == KD_OK && added)
        p->res->sigs_added++;
    return err;
}

/* Verifies the transferable receipts in k->sigs over raw against their
 * signers' establishment events, storing those that verify. */
static enum kd_err kd_kel_store_tsigs(struct kd_kel_pctx *p, const char *said, const uint8_t *raw,
                                      size_t size)
{
    struct kd_kel *k = p->k;
    struct kd_kel_sigset *sg = k->sigs;
    struct kd_buf b;
    struct kd_kel_state *est = NULL;
    enum kd_err err = KD_OK;

    if (sg->ntsigs == 0)
        return KD_OK;
    kd_buf_init(&b, KD_STORE_BLOB_MAX);
    for (unsigned i = 0; i < sg->ntsigs; i++) {
        struct kd_kel_tsig *t = &sg->tsigs[i];
        char text[KD_KEL_ID_MAX * 2 + KD_CESR_SN_QB64_LEN + KD_KEL_SIG_TEXT_MAX + 1];
        char sn[KD_CESR_SN_QB64_LEN + 1];
        uint64_t esn;

        t->verified = false;
        if (est == NULL || strcmp(est->ee_said, t->said) != 0) {
            kd_kel_state_free(est);
            est = NULL;
            err = kd_store_est_state_get(p->rd, t->said, &esn, &b);
            if (err == KD_ENOTFOUND) {
                err = KD_OK;
                continue;
            }
            if (err != KD_OK || (err = kd_kel_state_decode(b.data, b.len, &est)) != KD_OK)
                goto out;
        }
        if (strcmp(est->prefix, t->prefix) != 0 || est->ee_sn != t->sn || t->index >= est->nkeys ||
            !est->key_ok[t->index])
            continue;
        k->stats.verifies++;
        if (kd_ed25519_verify(est->key_raw[t->index], raw, size, t->sig) != KD_OK) {
            p->res->bad_sigs++;
            continue;
        }
        t->verified = true;
        if ((err = kd_cesr_sn_encode(t->sn, sn, sizeof sn)) != KD_OK)
            goto out;
        snprintf(text, sizeof text, "%s%s%s%s", t->prefix, sn, t->said, t->sig_qb64);
        if ((err = kd_kel_sig_put(p, said, KD_STORE_SIG_T_RECEIPT, text)) != KD_OK)
            goto out;
    }
out:
    kd_kel_state_free(est);
    kd_buf_free(&b);
    return err;
}

/* Stores the verified witness signatures and couples of k->sigs for said:
 * wigs as received, couples by a listed witness as wigs at its index,
 * other couples as non-witness receipts. */
static enum kd_err kd_kel_store_rcts(struct kd_kel_pctx *p, const char *said)
{
    const struct kd_kel_sigset *sg = p->k->sigs;
    enum kd_err err;

    for (unsigned i = 0; i < sg->nwigs; i++)
        if (sg->wigs[i].verified &&
            (err = kd_kel_sig_put(p, said, KD_STORE_SIG_WITNESS, sg->wigs[i].qb64)) != KD_OK)
            return err;
    for (unsigned i = 0; i < sg->ncouples; i++) {
        const struct kd_kel_couple *c = &sg->couples[i];
        char text[KD_PREFIX_QB64_LEN + KD_SIG_QB64_LEN + 1];

        if (!c->verified)
            continue;
        if (c->wit >= 0) {
            if ((err = kd_kel_siger_text((unsigned)c->wit, KD_CESR_ONDEX_NONE, c->sig, text)) !=
                    KD_OK ||
                (err = kd_kel_sig_put(p, said, KD_STORE_SIG_WITNESS, text)) != KD_OK)
                return err;
        } else {
            snprintf(text, sizeof text, "%s%s", c->prefix, c->sig_qb64);
            if ((err = kd_kel_sig_put(p, said, KD_STORE_SIG_NT_RECEIPT, text)) != KD_OK)
                return err;
        }
    }
    return KD_OK;
}

/* ---- acceptance ---- */

static void kd_kel_wake(struct kd_kel *k, const char *prefix)
{
    for (unsigned i = 0; i < k->nwake; i++)
        if (strcmp(k->wake[i], prefix) == 0)
            return;
    if (k->nwake < KD_KEL_WAKE_MAX)
        snprintf(k->wake[k->nwake++], sizeof k->wake[0], "%s", prefix);
}

/* Indexes the canonical event seals of ev (delegation approvals). */
static enum kd_err kd_kel_index_seals(struct kd_kel_pctx *p, const struct kd_event *ev,
                                      const char *prefix, const char *said)
{
    unsigned pos = 0;
    enum kd_err err;

    for (unsigned j = 0; j < ev->nseals; j++) {
        const struct kd_seal *s = &ev->seals[j];
        char i[KD_KEL_ID_MAX + 1], d[KD_KEL_ID_MAX + 1], snh[KD_CESR_SN_HEX_MAX + 1];

        if (s->kind != KD_SEAL_EVENT)
            continue;
        pos++;
        if (!s->sn_ok || s->sn > INT64_MAX || s->i.len == 0 || s->i.len > KD_KEL_ID_MAX ||
            s->d.len == 0 || s->d.len > KD_KEL_ID_MAX)
            continue;
        kd_cesr_sn_hex(s->sn, snh, sizeof snh);
        if (!kd_kel_span_is(ev, s->s, snh))
            continue; /* keripy matches the canonical hex text */
        kd_kel_copy_id(i, ev, s->i);
        kd_kel_copy_id(d, ev, s->d);
        err = kd_store_seal_add(p->txn, prefix, i, (uint64_t)s->sn, d, said, pos - 1);
        if (err == KD_EINVAL)
            continue; /* not qb64: cannot anchor anything kel/ accepts */
        if (err != KD_OK)
            return err;
    }
    return KD_OK;
}

static enum kd_err kd_kel_accept(struct kd_kel_pctx *p, struct kd_kel_eval *e)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    struct kd_kel_result *res = p->res;
    struct kd_kel_state *next = e->next;
    const bool est = ev->ilk != KD_ILK_IXN;
    struct kd_store_event se;
    struct kd_kel_accepted a;
    uint64_t fn = 0;
    enum kd_err err;

    e->next = NULL;
    memset(&se, 0, sizeof se);
    se.prefix = res->prefix;
    se.sn = (uint64_t)ev->sn;
    se.said = res->said;
    se.ilk = kd_ilk_name(ev->ilk);
    se.first_seen_us = p->now_us;
    se.raw = ev->raw;
    se.raw_len = ev->size;
    err = kd_store_event_add(p->txn, &se, &fn);
    if (err == KD_EEXIST) {
        /* stored already (classification looks it up first: a damaged
         * store); nothing was written */
        kd_kel_state_free(next);
        res->verdict = KD_KEL_DUPLICATE;
        res->why = "duplicate";
        res->err = KD_OK;
        k->stats.duplicates++;
        return KD_OK;
    }
    if (err != KD_OK) {
        kd_kel_state_free(next);
        return err;
    }
    next->fn = fn;
    for (unsigned i = 0; i < k->sigs->nsigs; i++)
        if (k->sigs->sigs[i].verified &&
            (err = kd_kel_sig_put(p, res->said, KD_STORE_SIG_CONTROLLER, k->sigs->sigs[i].qb64)) !=
                KD_OK)
            goto fail;
    if ((err = kd_kel_store_rcts(p, res->said)) != KD_OK ||
        (err = kd_kel_store_tsigs(p, res->said, ev->raw, ev->size)) != KD_OK)
        goto fail;
    if ((err = kd_kel_state_encode(next, &k->blob)) != KD_OK ||
        (err = kd_store_state_put(p->txn, res->prefix, se.sn, res->said, k->blob.data,
                                  k->blob.len)) != KD_OK)
        goto fail;
    if (est && (err = kd_store_est_state_put(p->txn, res->said, res->prefix, se.sn, fn,
                                             k->blob.data, k->blob.len)) != KD_OK)
        goto fail;
    if (e->anchored && e->del_sn <= INT64_MAX &&
        (err = kd_store_anchor_put(p->txn, res->said, (uint64_t)e->del_sn, e->del_said)) != KD_OK)
        goto fail;
    if ((err = kd_kel_index_seals(p, ev, res->prefix, res->said)) != KD_OK)
        goto fail;
    if ((err = kd_kel_merge_drop(k, p->txn, &p->mg, -1, true)) != KD_OK)
        goto fail;
    kd_kel_cache_put(&k->cache, next);
    k->stats.accepted++;
    res->verdict = KD_KEL_ACCEPTED;
    res->fault = KD_KEL_F_NONE;
    res->err = KD_OK;
    res->why = e->recovery ? "accepted: superseding recovery" : "accepted";
    res->fn = fn;
    res->first_seen_us = p->now_us;
    res->own_index = e->own_index;
    if (p->row != NULL) {
        k->released++;
        k->stats.released++;
    }
    if (k->count[KD_STORE_ESCROW_OUT_OF_ORDER] > 0 || k->count[KD_STORE_ESCROW_PARTIAL_DEL] > 0)
        kd_kel_wake(k, res->prefix);
    if (k->opts.on_accept != NULL) {
        memset(&a, 0, sizeof a);
        a.ev = ev;
        a.prefix = res->prefix;
        a.said = res->said;
        a.sn = ev->sn;
        a.ilk = ev->ilk;
        a.fn = fn;
        a.first_seen_us = p->now_us;
        a.own_index = e->own_index;
        a.own_prefix = e->own_prefix;
        a.from_escrow = p->row != NULL;
        a.superseding = e->recovery;
        a.state = next;
        return k->opts.on_accept(k->opts.accept_arg, p->txn, &a);
    }
    return KD_OK;
fail:
    kd_kel_state_free(next);
    return err;
}

/* ---- duplicates and duplicity ---- */

/* The key state in force at sn for an event of prefix (st when sn is at or
 * after its latest establishment event). *owned says whether to free it. */
static enum kd_err kd_kel_state_for(struct kd_kel_pctx *p, const struct kd_kel_state *st,
                                    kd_sn_t sn, const struct kd_kel_state **ks, bool *owned)
{
    struct kd_kel_state *x = NULL;
    enum kd_err err;

    *owned = false;
    *ks = NULL;
    if (sn >= st->ee_sn) {
        *ks = st;
        return KD_OK;
    }
    err = kd_kel_state_at(p->rd, st->prefix, sn, &x);
    if (err == KD_ENOTFOUND)
        return KD_OK;
    if (err != KD_OK)
        return err;
    *ks = x;
    *owned = true;
    return KD_OK;
}

struct kd_kel_stored {
    struct kd_kel_sigset *sg;
    enum kd_store_sig_kind kind;
};

/* Marks the signatures of the set already stored (as verified: nothing to do). */
static enum kd_err kd_kel_stored_cb(const char *sig, size_t len, void *arg)
{
    struct kd_kel_stored *s = arg;
    struct kd_kel_sigset *g = s->sg;

    if (s->kind == KD_STORE_SIG_CONTROLLER) {
        for (unsigned i = 0; i < g->nsigs; i++)
            if (g->sigs[i].len == len && memcmp(g->sigs[i].qb64, sig, len) == 0)
                g->sigs[i].len = 0; /* known: skip */
    } else if (s->kind == KD_STORE_SIG_WITNESS) {
        for (unsigned i = 0; i < g->nwigs; i++)
            if (g->wigs[i].len == len && memcmp(g->wigs[i].qb64, sig, len) == 0)
                g->wigs[i].len = 0;
    }
    return KD_OK;
}

/* Drops the entries marked known by kd_kel_stored_cb. */
static void kd_kel_sigset_compact(struct kd_kel_sigset *g)
{
    unsigned n = 0;

    for (unsigned i = 0; i < g->nsigs; i++)
        if (g->sigs[i].len != 0)
            g->sigs[n++] = g->sigs[i];
    g->nsigs = n;
    n = 0;
    for (unsigned i = 0; i < g->nwigs; i++)
        if (g->wigs[i].len != 0)
            g->wigs[n++] = g->wigs[i];
    g->nwigs = n;
}

/* An accepted event arrived again: merge its new valid signatures. */
static enum kd_err kd_kel_duplicate(struct kd_kel_pctx *p, const struct kd_kel_state *st)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    struct kd_kel_stored known = {k->sigs, KD_STORE_SIG_CONTROLLER};
    struct kd_kel_strv wits[KD_EVENT_MAX_WITNESSES];
    const struct kd_kel_state *ks = NULL;
    bool owned = false;
    enum kd_err err;

    if ((err = kd_store_sig_each(p->rd, p->res->said, KD_STORE_SIG_CONTROLLER, kd_kel_stored_cb,
                                 &known)) != KD_OK)
        return err;
    known.kind = KD_STORE_SIG_WITNESS;
    if ((err = kd_store_sig_each(p->rd, p->res->said, KD_STORE_SIG_WITNESS, kd_kel_stored_cb,
                                 &known)) != KD_OK)
        return err;
    kd_kel_sigset_compact(k->sigs);
    if ((err = kd_kel_state_for(p, st, ev->sn, &ks, &owned)) != KD_OK)
        return err;
    if (ks != NULL) {
        if (ev->ilk == KD_ILK_IXN) {
            kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, ks->key_raw, ks->key_ok, ks->nkeys,
                               k->verified);
        } else {
            kd_kel_event_keys(ev, k->key_raw, k->key_ok);
            kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, (const uint8_t(*)[32])k->key_raw,
                               k->key_ok, ev->keys.count, k->verified);
        }
        kd_kel_strv_refs(ks, ks->wits, ks->nwits, wits);
        kd_kel_verify_wigs(k, ev->raw, ev->size, k->sigs, wits, ks->nwits);
        for (unsigned o = 0; o < k->opts.nown && p->res->own_index < 0; o++)
            p->res->own_index =
                kd_kel_state_find(ks, ks->wits, ks->nwits, k->own[o], strlen(k->own[o]));
        for (unsigned i = 0; i < k->sigs->nsigs; i++) {
            if (!k->sigs->sigs[i].verified) {
                p->res->bad_sigs++;
                continue;
            }
            if ((err = kd_kel_sig_put(p, p->res->said, KD_STORE_SIG_CONTROLLER,
                                      k->sigs->sigs[i].qb64)) != KD_OK)
                goto out;
        }
        if ((err = kd_kel_store_rcts(p, p->res->said)) != KD_OK ||
            (err = kd_kel_store_tsigs(p, p->res->said, ev->raw, ev->size)) != KD_OK)
            goto out;
    }
    if ((err = kd_kel_merge_drop(k, p->txn, &p->mg, -1, true)) != KD_OK)
        goto out;
    p->res->verdict = KD_KEL_DUPLICATE;
    p->res->why = p->res->sigs_added > 0 ? "duplicate: new signatures merged" : "duplicate";
    p->res->err = KD_OK;
    k->stats.duplicates++;
out:
    if (owned)
        kd_kel_state_free((struct kd_kel_state *)ks);
    return err;
}

/* A different event at an accepted sn: kept as evidence if it is signed. */
static enum kd_err kd_kel_duplicitous(struct kd_kel_pctx *p, const struct kd_kel_state *st)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    const struct kd_kel_state *ks = NULL;
    struct kd_store_dup d;
    bool owned = false, added = false;
    uint64_t n = 0;
    unsigned nv = 0;
    enum kd_err err;

    if (ev->ilk == KD_ILK_IXN) {
        if ((err = kd_kel_state_for(p, st, ev->sn, &ks, &owned)) != KD_OK)
            return err;
        if (ks != NULL)
            nv = kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, ks->key_raw, ks->key_ok,
                                    ks->nkeys, k->verified);
    } else {
        kd_kel_event_keys(ev, k->key_raw, k->key_ok);
        nv = kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, (const uint8_t(*)[32])k->key_raw,
                                k->key_ok, ev->keys.count, k->verified);
    }
    if (owned)
        kd_kel_state_free((struct kd_kel_state *)ks);
    if ((err = kd_kel_merge_drop(k, p->txn, &p->mg, -1, false)) != KD_OK)
        return err;
    if (nv == 0) {
        kd_kel_res_reject(k, p->res, KD_KEL_F_BAD_SIG, NULL);
        return KD_OK;
    }
    p->res->verdict = KD_KEL_DUPLICITOUS;
    p->res->err = KD_OK;
    p->res->why = "likely duplicitous: a different event is accepted at this sequence number";
    k->stats.duplicitous++;
    if ((err = kd_store_dup_count(p->rd, p->res->prefix, &n)) != KD_OK)
        return err;
    if (n >= k->opts.limits.dups_per_prefix) {
        p->res->why = "likely duplicitous (not recorded: record limit reached)";
        return KD_OK;
    }
    if ((err = kd_kel_sigset_text(k->sigs, true, true, &k->att)) != KD_OK)
        return err;
    memset(&d, 0, sizeof d);
    d.prefix = p->res->prefix;
    d.sn = (uint64_t)ev->sn;
    d.said = p->res->said;
    d.ilk = kd_ilk_name(ev->ilk);
    d.seen_us = p->now_us;
    d.raw = ev->raw;
    d.raw_len = ev->size;
    d.att = k->att.data;
    d.att_len = k->att.len;
    err = kd_store_dup_add(p->txn, &d, &added);
    return err;
}

/* ---- key events ---- */

/* Out of order: verify what can be verified, then escrow. */
static enum kd_err kd_kel_out_of_order(struct kd_kel_pctx *p, const struct kd_kel_state *st)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    unsigned nv = 0;
    bool sigs_verified = false;

    if (ev->ilk == KD_ILK_ROT || ev->ilk == KD_ILK_DRT) {
        kd_kel_event_keys(ev, k->key_raw, k->key_ok);
        nv = kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, (const uint8_t(*)[32])k->key_raw,
                                k->key_ok, ev->keys.count, k->verified);
        if (nv == 0) {
            kd_kel_res_reject(k, p->res, KD_KEL_F_BAD_SIG, NULL);
            return kd_kel_merge_drop(k, p->txn, &p->mg, -1, false);
        }
        sigs_verified = true;
    } else if (st != NULL) {
        nv = kd_kel_verify_sigs(k, ev->raw, ev->size, k->sigs, st->key_raw, st->key_ok, st->nkeys,
                                k->verified);
        sigs_verified = nv > 0;
    }
    return kd_kel_escrow_event(p, KD_STORE_ESCROW_OUT_OF_ORDER, p->res->prefix, sigs_verified,
                               false,
                               st == NULL ? "out of order: the identifier is not known yet"
                                          : "out of order: events before it are missing");
}

/* Runs the rules and acts on the verdict. */
static enum kd_err kd_kel_evaluate(struct kd_kel_pctx *p, const struct kd_kel_state *st)
{
    struct kd_kel *k = p->k;
    struct kd_kel_vctx c;
    struct kd_kel_eval e;
    enum kd_err err;

    memset(&c, 0, sizeof c);
    c.k = k;
    c.rd = p->rd;
    c.ev = k->ev;
    c.st = st;
    c.sigs = k->sigs;
    c.now_us = p->now_us;
    c.fn = st != NULL ? st->fn + 1 : 0;
    if ((err = kd_kel_eval_event(&c, &e)) != KD_OK) {
        kd_kel_state_free(e.next);
        return err;
    }
    p->res->own_index = e.own_index;
    switch (e.verdict) {
    case KD_KEL_ACCEPTED:
        return kd_kel_accept(p, &e);
    case KD_KEL_ESCROWED:
        return kd_kel_escrow_event(
            p, e.escrow, e.escrow == KD_STORE_ESCROW_PARTIAL_DEL ? e.delegator : p->res->prefix,
            true, true, e.why);
    default:
        p->res->diag = e.diag;
        kd_kel_res_reject(k, p->res, e.fault, e.why);
        return kd_kel_merge_drop(k, p->txn, &p->mg, -1, false);
    }
}

static enum kd_err kd_kel_key_event(struct kd_kel_pctx *p, const struct kd_cesr_attachments *att)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    struct kd_kel_result *res = p->res;
    const bool incept = ev->ilk == KD_ILK_ICP || ev->ilk == KD_ILK_DIP;
    const struct kd_kel_state *st = NULL;
    struct kd_store_event se;
    enum kd_err err;

    if (kd_event_check_establishment(ev, &res->diag) != KD_OK) {
        kd_kel_res_reject(k, res, KD_KEL_F_ESTABLISHMENT, res->diag.why);
        return KD_OK;
    }
    if (ev->sn > INT64_MAX) {
        kd_kel_res_reject(k, res, KD_KEL_F_SN_RANGE, NULL);
        return KD_OK;
    }
    kd_kel_sigset_reset(k->sigs);
    err = kd_kel_sigset_add_att(k->sigs, att, k->max_sigs);
    if (err == KD_OK && p->row != NULL)
        err = kd_kel_sigset_add_text(k->sigs, p->row->att, p->row->att_len, k->max_sigs);
    if (err == KD_ETOOLARGE) {
        kd_kel_res_reject(k, res, KD_KEL_F_TOO_MANY_SIGS, NULL);
        return KD_OK;
    }
    if (err != KD_OK) {
        if (err == KD_ENOMEM)
            return err;
        kd_kel_res_reject(k, res, KD_KEL_F_NO_SIGS, "attachments unreadable");
        return KD_OK;
    }
    if (k->sigs->nsigs == 0) {
        kd_kel_res_reject(
            k, res,
            k->sigs->received_sigs == 0 && p->row == NULL ? KD_KEL_F_NO_SIGS : KD_KEL_F_BAD_SIG,
            k->sigs->received_sigs == 0 ? NULL : "no signature of a kind kerid verifies");
        return KD_OK;
    }
    if ((err = kd_kel_state_get(k, p->rd, res->prefix, &st)) != KD_OK)
        return err;
    if ((err = kd_kel_merge_rows(k, p->rd, res->prefix, res->said, ev->sn, p->now_us, &p->mg)) !=
        KD_OK)
        return err;
    if (st == NULL)
        return incept ? kd_kel_evaluate(p, NULL) : kd_kel_out_of_order(p, NULL);
    if (!incept && ev->sn > st->sn + 1)
        return kd_kel_out_of_order(p, st);
    if (!incept && ev->sn == st->sn + 1)
        return kd_kel_evaluate(p, st);
    /* at or before the latest sn: the same event (also one a recovery
     * superseded), a recovery, or duplicity */
    err = kd_store_event_at(p->rd, res->prefix, (uint64_t)ev->sn, &se, &k->buf);
    if (err != KD_OK && err != KD_ENOTFOUND)
        return err;
    if (err == KD_OK && strcmp(se.said, res->said) == 0)
        return kd_kel_duplicate(p, st);
    err = kd_store_event_get(p->rd, res->said, &se, &k->buf);
    if (err != KD_OK && err != KD_ENOTFOUND)
        return err;
    if (err == KD_OK && strcmp(se.prefix, res->prefix) == 0)
        return kd_kel_duplicate(p, st);
    if ((ev->ilk == KD_ILK_ROT && ev->sn > st->ee_sn) ||
        (ev->ilk == KD_ILK_DRT && ev->sn >= st->ee_sn))
        return kd_kel_evaluate(p, st);
    return kd_kel_duplicitous(p, st);
}

/* ---- receipts ---- */

static enum kd_err kd_kel_retry_said(struct kd_kel_pctx *p, const char *said);

static enum kd_err kd_kel_receipt(struct kd_kel_pctx *p, const struct kd_cesr_attachments *att)
{
    struct kd_kel *k = p->k;
    const struct kd_event *ev = k->ev;
    struct kd_kel_result *res = p->res;
    struct kd_kel_sigset *sg = k->sigs;
    const uint8_t *rraw = ev->raw;
    const size_t rlen = ev->size;
    const kd_sn_t sn = ev->sn;
    const struct kd_kel_state *st = NULL, *ks = NULL;
    struct kd_kel_strv wits[KD_EVENT_MAX_WITNESSES];
    struct kd_store_event se;
    bool owned = false, found = false;
    unsigned nv;
    enum kd_err err;

    kd_kel_sigset_reset(sg);
    err = kd_kel_sigset_add_att(sg, att, k->max_sigs);
    if (err == KD_OK && p->row != NULL)
        err = kd_kel_sigset_add_text(sg, p->row->att, p->row->att_len, k->max_sigs);
    if (err == KD_ENOMEM)
        return err;
    if (err != KD_OK) {
        kd_kel_res_reject(
            k, res, err == KD_ETOOLARGE ? KD_KEL_F_TOO_MANY_SIGS : KD_KEL_F_RCT_NO_SIGS, NULL);
        return KD_OK;
    }
    sg->nsigs = 0; /* controller signatures mean nothing on a receipt */
    sg->has_seal = false;
    if (sg->nwigs + sg->ncouples + sg->ntsigs == 0) {
        kd_kel_res_reject(
            k, res, sg->received_rcts == 0 ? KD_KEL_F_RCT_NO_SIGS : KD_KEL_F_RCT_BAD_SIG, NULL);
        return KD_OK;
    }
    if (sn > INT64_MAX) {
        kd_kel_res_reject(k, res, KD_KEL_F_SN_RANGE, NULL);
        return KD_OK;
    }
    if ((err = kd_kel_state_get(k, p->rd, res->prefix, &st)) != KD_OK)
        return err;
    if (st != NULL && sn <= st->sn) {
        err = kd_store_event_at(p->rd, res->prefix, (uint64_t)sn, &se, &k->tbuf);
        if (err != KD_OK && err != KD_ENOTFOUND)
            return err;
        if (err == KD_OK && strcmp(se.said, res->said) != 0) {
            /* keriox clients send s = 0 for every event (keriox-surface §7
             * #10): take the event named by d when it is the authoritative
             * one at its own sn */
            err = kd_store_event_get(p->rd, res->said, &se, &k->tbuf);
            if (err != KD_OK && err != KD_ENOTFOUND)
                return err;
            if (err == KD_OK && strcmp(se.prefix, res->prefix) == 0) {
                char said[KD_KEL_ID_MAX + 1];
                const uint64_t esn = se.sn;

                snprintf(said, sizeof said, "%s", se.said);
                err = kd_store_event_at(p->rd, res->prefix, esn, &se, &k->tbuf);
                if (err != KD_OK && err != KD_ENOTFOUND)
                    return err;
                found = err == KD_OK && strcmp(se.said, said) == 0;
            }
            if (!found) {
                kd_kel_res_reject(k, res, KD_KEL_F_RCT_STALE, NULL);
                return KD_OK;
            }
        } else {
            found = err == KD_OK;
        }
    }
    if (found) {
        if ((err = kd_kel_state_for(p, st, se.sn, &ks, &owned)) != KD_OK)
            return err;
        if (ks != NULL) {
            kd_kel_strv_refs(ks, ks->wits, ks->nwits, wits);
            kd_kel_verify_wigs(k, se.raw, se.raw_len, sg, wits, ks->nwits);
        }
        nv = 0;
        for (unsigned i = 0; i < sg->nwigs; i++)
            nv += sg->wigs[i].verified;
        for (unsigned i = 0; i < sg->ncouples; i++)
            nv += sg->couples[i].verified;
        res->bad_sigs = sg->nwigs + sg->ncouples - nv;
        res->sn = se.sn;
        if ((err = kd_kel_store_rcts(p, res->said)) != KD_OK ||
            (err = kd_kel_store_tsigs(p, res->said, se.raw, se.raw_len)) != KD_OK)
            goto out;
        for (unsigned i = 0; i < sg->ntsigs; i++)
            nv += sg->tsigs[i].verified;
        if (nv == 0) {
            kd_kel_res_reject(k, res, KD_KEL_F_RCT_BAD_SIG, NULL);
            goto out;
        }
        res->verdict = res->sigs_added > 0 ? KD_KEL_ACCEPTED : KD_KEL_DUPLICATE;
        res->why = res->sigs_added > 0 ? "receipts stored" : "receipts already stored";
        res->err = KD_OK;
        if (res->verdict == KD_KEL_ACCEPTED)
            k->stats.accepted++;
        else
            k->stats.duplicates++;
        goto out;
    }
    /* the event is not accepted (yet): keep the receipts for it */
    {
        static const enum kd_store_escrow_kind kinds[3] = {KD_STORE_ESCROW_UNVERIFIED_WIT_RCT,
                                                           KD_STORE_ESCROW_UNVERIFIED_NT_RCT,
                                                           KD_STORE_ESCROW_UNVERIFIED_T_RCT};
        const unsigned have[3] = {sg->nwigs, sg->ncouples, sg->ntsigs};
        uint64_t total = 0, n;
        bool any_event_row = false;

        for (unsigned i = 0; i < 3; i++) {
            if ((err = kd_store_escrow_count_prefix(p->rd, kinds[i], res->prefix, &n)) != KD_OK)
                return err;
            total += n;
        }
        for (unsigned i = 0; i < 3; i++) {
            struct kd_kel_sigset *one = NULL;
            struct kd_store_escrow e;
            bool added = false;

            if (have[i] == 0)
                continue;
            /* this kind's receipts alone as the row's attachments */
            one = k->sigs;
            {
                const unsigned nw = one->nwigs, nc = one->ncouples, nt = one->ntsigs;

                one->nwigs = i == 0 ? nw : 0;
                one->ncouples = i == 1 ? nc : 0;
                one->ntsigs = i == 2 ? nt : 0;
                err = kd_kel_sigset_text(one, false, false, &k->att);
                one->nwigs = nw;
                one->ncouples = nc;
                one->ntsigs = nt;
            }
            if (err != KD_OK)
                return err;
            if (p->row == NULL && (total >= k->opts.limits.receipts_per_prefix ||
                                   k->count[kinds[i]] >= k->opts.limits.escrow_rows)) {
                kd_kel_res_reject(k, res, KD_KEL_F_ESCROW_FULL, NULL);
                return KD_OK;
            }
            memset(&e, 0, sizeof e);
            e.kind = kinds[i];
            e.prefix = res->prefix;
            e.sn = (uint64_t)sn;
            e.said = res->said;
            e.raw = rraw;
            e.raw_len = rlen;
            e.att = k->att.data;
            e.att_len = k->att.len;
            e.arrived_us = p->row != NULL ? p->row->arrived_us : p->now_us;
            e.tried_us = p->now_us;
            e.dep = res->prefix;
            if ((err = kd_store_escrow_add(p->txn, &e, &added, NULL)) != KD_OK)
                return err;
            if (added) {
                k->count[kinds[i]]++;
                total++;
            }
            if (res->verdict != KD_KEL_ESCROWED) {
                res->verdict = KD_KEL_ESCROWED;
                res->escrow = kinds[i];
            }
        }
        res->err = KD_OK;
        res->why = "receipt for an event not accepted yet";
        k->stats.escrowed++;
        for (unsigned i = 0; i < KD_STORE_ESCROW_KIND_COUNT_; i++)
            if (kd_kel_event_kind((enum kd_store_escrow_kind)i) && k->count[i] > 0)
                any_event_row = true;
        /* an escrowed event waiting for exactly these receipts */
        if (any_event_row && p->row == NULL) {
            char said[KD_KEL_ID_MAX + 1], pre[KD_KEL_ID_MAX + 1];

            snprintf(said, sizeof said, "%s", res->said);
            snprintf(pre, sizeof pre, "%s", res->prefix);
            if ((err = kd_kel_retry_said(p, said)) != KD_OK)
                return err;
            if ((err = kd_kel_state_get(k, p->rd, pre, &st)) != KD_OK)
                return err;
            if (st != NULL && sn <= st->sn) {
                err = kd_store_event_at(p->rd, pre, (uint64_t)sn, &se, &k->tbuf);
                if (err == KD_OK && strcmp(se.said, said) == 0) {
                    res->verdict = KD_KEL_ACCEPTED;
                    res->why = "receipts completed an escrowed event";
                } else if (err != KD_OK && err != KD_ENOTFOUND) {
                    return err;
                }
            }
        }
        return KD_OK;
    }
out:
    if (owned)
        kd_kel_state_free((struct kd_kel_state *)ks);
    return err;
}

/* ---- one message ---- */

static enum kd_err kd_kel_message(struct kd_kel *k, struct kd_store_txn *txn,
                                  struct kd_store_rd *rd, const uint8_t *body, size_t len,
                                  const struct kd_cesr_attachments *att,
                                  const struct kd_kel_row *row, int64_t now_us,
                                  struct kd_kel_result *res)
{
    struct kd_kel_pctx p;
    enum kd_err err;

    kd_kel_res_init(res);
    memset(&p, 0, sizeof p);
    p.k = k;
    p.txn = txn;
    p.rd = rd;
    p.row = row;
    p.now_us = now_us;
    p.res = res;
    err = kd_event_parse(k->ev, body, len, &res->diag);
    if (err != KD_OK) {
        kd_kel_res_reject(k, res, KD_KEL_F_BODY, res->diag.why);
        res->err = err;
        return KD_OK;
    }
    res->ilk = k->ev->ilk;
    res->sn = k->ev->sn;
    switch (k->ev->ilk) {
    case KD_ILK_ICP:
    case KD_ILK_ROT:
    case KD_ILK_IXN:
    case KD_ILK_DIP:
    case KD_ILK_DRT:
        kd_kel_copy_id(res->prefix, k->ev, k->ev->i);
        kd_kel_copy_id(res->said, k->ev, k->ev->d);
        err = kd_kel_key_event(&p, att);
        break;
    case KD_ILK_RCT:
        kd_kel_copy_id(res->prefix, k->ev, k->ev->i);
        kd_kel_copy_id(res->said, k->ev, k->ev->d);
        err = kd_kel_receipt(&p, att);
        break;
    default:
        res->verdict = KD_KEL_SKIPPED;
        res->why = "not a key event nor a receipt";
        k->stats.skipped++;
        err = KD_OK;
        break;
    }
    kd_kel_rows_free(&p.mg.rows);
    return err;
}

/* Retries one escrow row; removes it unless it stays escrowed in its kind. */
static enum kd_err kd_kel_retry_row(struct kd_kel *k, struct kd_store_txn *txn,
                                    struct kd_store_rd *rd, const struct kd_kel_row *row,
                                    int64_t now_us, struct kd_kel_sweep_result *sw)
{
    struct kd_kel_result r;
    enum kd_err err = kd_kel_message(k, txn, rd, row->raw, row->raw_len, NULL, row, now_us, &r);

    if (err != KD_OK)
        return err;
    if (sw != NULL)
        sw->tried++;
    if (r.verdict == KD_KEL_ESCROWED && r.escrow == row->kind)
        return KD_OK;
    if (sw != NULL && (r.verdict == KD_KEL_REJECTED || r.verdict == KD_KEL_DUPLICITOUS))
        sw->dropped++;
    return kd_kel_row_remove(k, txn, row->id, row->kind);
}

/* Retries the event rows escrowed under said (receipts just arrived). */
static enum kd_err kd_kel_retry_said(struct kd_kel_pctx *p, const char *said)
{
    struct kd_kel_rows rows = {0, 8, NULL};
    enum kd_err err = kd_store_escrow_each_said(p->rd, said, kd_kel_rows_cb, &rows);

    for (unsigned i = 0; err == KD_OK && i < rows.n; i++)
        if (kd_kel_event_kind(rows.v[i].kind))
            err = kd_kel_retry_row(p->k, p->txn, p->rd, &rows.v[i], p->now_us, NULL);
    kd_kel_rows_free(&rows);
    return err;
}

/* Releases escrowed events waiting on the identifiers accepted events were
 * for: their out-of-order successors and delegates waiting for an anchor. */
static enum kd_err kd_kel_release(struct kd_kel *k, struct kd_store_txn *txn,
                                  struct kd_store_rd *rd, int64_t now_us)
{
    static const enum kd_store_escrow_kind kinds[2] = {KD_STORE_ESCROW_OUT_OF_ORDER,
                                                       KD_STORE_ESCROW_PARTIAL_DEL};
    enum kd_err err = KD_OK;

    while (k->nwake > 0 && k->release_budget > 0 && err == KD_OK) {
        char pre[KD_KEL_ID_MAX + 1];

        snprintf(pre, sizeof pre, "%s", k->wake[0]);
        memmove(k->wake[0], k->wake[1], (k->nwake - 1) * sizeof k->wake[0]);
        k->nwake--;
        for (unsigned j = 0; j < 2 && err == KD_OK; j++) {
            struct kd_kel_rows rows = {0, k->release_budget, NULL};

            if (k->count[kinds[j]] == 0)
                continue;
            err = kd_store_escrow_each_dep(rd, kinds[j], pre, k->release_budget, kd_kel_rows_cb,
                                           &rows);
            for (unsigned i = 0; err == KD_OK && i < rows.n && k->release_budget > 0; i++) {
                const struct kd_kel_state *st = NULL;

                if (kinds[j] == KD_STORE_ESCROW_OUT_OF_ORDER) {
                    /* rows come in sn order: stop at the first gap */
                    if ((err = kd_kel_state_get(k, rd, pre, &st)) != KD_OK)
                        break;
                    if (st != NULL && rows.v[i].sn > st->sn + 1)
                        break;
                }
                k->release_budget--;
                err = kd_kel_retry_row(k, txn, rd, &rows.v[i], now_us, NULL);
            }
            kd_kel_rows_free(&rows);
        }
    }
    return err;
}

/* ---- public entry points ---- */

static enum kd_err kd_kel_begin(struct kd_kel *k, struct kd_store_txn *txn, struct kd_store_rd **rd)
{
    if (k == NULL || txn == NULL)
        return KD_EINVAL;
    *rd = kd_store_txn_reader(txn);
    kd_kel_check_epoch(k, txn);
    k->nwake = 0;
    k->released = 0;
    k->release_budget = k->opts.limits.release_max;
    return kd_kel_counts(k, *rd);
}

enum kd_err kd_kel_process(struct kd_kel *k, struct kd_store_txn *txn,
                           const struct kd_cesr_msg *msg, int64_t now_us, struct kd_kel_result *res)
{
    struct kd_store_rd *rd = NULL;
    enum kd_err err;

    if (res == NULL || msg == NULL)
        return KD_EINVAL;
    kd_kel_res_init(res);
    if ((err = kd_kel_begin(k, txn, &rd)) != KD_OK)
        goto out;
    err = kd_kel_message(k, txn, rd, msg->body, msg->body_len, &msg->att, NULL, now_us, res);
    if (err == KD_OK && res->verdict == KD_KEL_ESCROWED && res->escrow_added &&
        k->opts.on_escrow != NULL)
        err = k->opts.on_escrow(k->opts.accept_arg, txn, msg, res);
    if (err == KD_OK)
        err = kd_kel_release(k, txn, rd, now_us);
    res->released = k->released;
out:
    if (err != KD_OK && k != NULL)
        kd_kel_forget(k);
    return err;
}

struct kd_kel_body_ctx {
    struct kd_kel *k;
    struct kd_store_txn *txn;
    int64_t now_us;
    bool stop_on_reject;
    bool stopped;
    struct kd_kel_body_result *res;
};

static enum kd_err kd_kel_body_cb(void *arg, const struct kd_cesr_msg *msg)
{
    struct kd_kel_body_ctx *c = arg;
    struct kd_kel_result r;
    enum kd_err err = kd_kel_process(c->k, c->txn, msg, c->now_us, &r);

    if (err != KD_OK)
        return err;
    c->res->messages++;
    c->res->verdicts[r.verdict]++;
    c->res->released += r.released;
    if (r.verdict == KD_KEL_REJECTED) {
        if (!c->res->rejected) {
            c->res->rejected = true;
            c->res->first_reject = r;
            c->res->err = r.err;
        }
        if (c->stop_on_reject) {
            c->stopped = true;
            return KD_EUNAVAIL; /* stops the split; mapped back below */
        }
    }
    return KD_OK;
}

enum kd_err kd_kel_process_body(struct kd_kel *k, struct kd_store_txn *txn, const void *body,
                                size_t len, const struct kd_cesr_limits *lim, int64_t now_us,
                                bool stop_on_reject, struct kd_kel_body_result *res)
{
    struct kd_kel_body_ctx c;
    enum kd_err err;

    if (k == NULL || txn == NULL || res == NULL || (body == NULL && len > 0))
        return KD_EINVAL;
    memset(res, 0, sizeof *res);
    res->cesr.code = KD_OK;
    memset(&c, 0, sizeof c);
    c.k = k;
    c.txn = txn;
    c.now_us = now_us;
    c.stop_on_reject = stop_on_reject;
    c.res = res;
    if (len == 0)
        return KD_OK;
    err = kd_cesr_split_all(body, len, lim, kd_kel_body_cb, &c, &res->cesr);
    if (c.stopped)
        return KD_OK;
    if (err != KD_OK && res->cesr.code != KD_OK) {
        /* the splitter's error: the body stopped being CESR there */
        if (res->err == KD_OK)
            res->err = res->cesr.code;
        return KD_OK;
    }
    return err;
}

enum kd_err kd_kel_sweep(struct kd_kel *k, struct kd_store_txn *txn, int64_t now_us,
                         unsigned budget, bool *more, struct kd_kel_sweep_result *res)
{
    static const enum kd_store_escrow_kind order[] = {
        KD_STORE_ESCROW_OUT_OF_ORDER,       KD_STORE_ESCROW_PARTIAL_SIG,
        KD_STORE_ESCROW_PARTIAL_WIT,        KD_STORE_ESCROW_PARTIAL_DEL,
        KD_STORE_ESCROW_UNVERIFIED_WIT_RCT, KD_STORE_ESCROW_UNVERIFIED_NT_RCT,
        KD_STORE_ESCROW_UNVERIFIED_T_RCT};
    const unsigned nkinds = sizeof order / sizeof order[0];
    struct kd_kel_sweep_result local;
    struct kd_store_rd *rd = NULL;
    enum kd_err err;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    if (more != NULL)
        *more = false;
    if ((err = kd_kel_begin(k, txn, &rd)) != KD_OK)
        goto out;
    /* expiry, measured from first arrival */
    for (unsigned j = 0; j < nkinds; j++) {
        const enum kd_store_escrow_kind kind = order[j];
        uint64_t removed = 0;

        if (k->count[kind] == 0)
            continue;
        err = kd_store_escrow_expire(txn, kind, now_us - (int64_t)k->timeout_us[kind], &removed);
        if (err != KD_OK)
            goto out;
        res->expired[kind] = removed;
        k->count[kind] = k->count[kind] > removed ? k->count[kind] - removed : 0;
        k->stats.expired += removed;
    }
    /* retries, a slice per kind in turn, paging by id */
    for (unsigned j = 0; j < nkinds && budget > 0; j++) {
        const enum kd_store_escrow_kind kind = order[(k->sweep_kind + j) % nkinds];
        struct kd_kel_rows rows = {0, budget < KD_KEL_PAGE_MAX ? budget : KD_KEL_PAGE_MAX, NULL};

        if (k->count[kind] == 0) {
            k->sweep_after[kind] = 0;
            continue;
        }
        err = kd_store_escrow_each(rd, kind, k->sweep_after[kind], rows.cap, kd_kel_rows_cb, &rows);
        for (unsigned i = 0; err == KD_OK && i < rows.n; i++) {
            k->sweep_after[kind] = rows.v[i].id;
            budget--;
            err = kd_kel_retry_row(k, txn, rd, &rows.v[i], now_us, res);
        }
        if (err == KD_OK && rows.n == rows.cap) {
            if (more != NULL)
                *more = true;
            k->sweep_kind = (k->sweep_kind + j) % nkinds;
        } else if (err == KD_OK) {
            k->sweep_after[kind] = 0; /* this kind is done: start over next time */
        }
        kd_kel_rows_free(&rows);
        if (err != KD_OK)
            goto out;
    }
    if (budget > 0)
        k->sweep_kind = (k->sweep_kind + 1) % nkinds;
    k->release_budget = k->opts.limits.release_max;
    err = kd_kel_release(k, txn, rd, now_us);
    res->released = k->released;
    if (err == KD_OK && k->nwake > 0 && more != NULL)
        *more = true;
out:
    if (err != KD_OK && k != NULL)
        kd_kel_forget(k);
    return err;
}

enum kd_err kd_kel_validate(struct kd_kel *k, const struct kd_kel_state *st,
                            const struct kd_cesr_msg *msg, int64_t now_us,
                            struct kd_kel_result *res, struct kd_kel_state **next)
{
    const struct kd_event *ev;
    struct kd_kel_vctx c;
    struct kd_kel_eval e;
    bool incept;
    enum kd_err err;

    if (k == NULL || msg == NULL || res == NULL || next == NULL)
        return KD_EINVAL;
    *next = NULL;
    kd_kel_res_init(res);
    err = kd_event_parse(k->ev, msg->body, msg->body_len, &res->diag);
    if (err != KD_OK) {
        kd_kel_res_reject(k, res, KD_KEL_F_BODY, res->diag.why);
        res->err = err;
        return KD_OK;
    }
    ev = k->ev;
    res->ilk = ev->ilk;
    res->sn = ev->sn;
    incept = ev->ilk == KD_ILK_ICP || ev->ilk == KD_ILK_DIP;
    if (!incept && ev->ilk != KD_ILK_ROT && ev->ilk != KD_ILK_IXN && ev->ilk != KD_ILK_DRT) {
        res->verdict = KD_KEL_SKIPPED;
        res->why = "not a key event";
        return KD_OK;
    }
    kd_kel_copy_id(res->prefix, ev, ev->i);
    kd_kel_copy_id(res->said, ev, ev->d);
    if (kd_event_check_establishment(ev, &res->diag) != KD_OK) {
        kd_kel_res_reject(k, res, KD_KEL_F_ESTABLISHMENT, res->diag.why);
        return KD_OK;
    }
    kd_kel_sigset_reset(k->sigs);
    err = kd_kel_sigset_add_att(k->sigs, &msg->att, k->max_sigs);
    if (err != KD_OK || k->sigs->nsigs == 0) {
        kd_kel_res_reject(k, res,
                          err == KD_ETOOLARGE      ? KD_KEL_F_TOO_MANY_SIGS
                          : err != KD_OK           ? KD_KEL_F_NO_SIGS
                          : k->sigs->received_sigs ? KD_KEL_F_BAD_SIG
                                                   : KD_KEL_F_NO_SIGS,
                          NULL);
        return err == KD_ENOMEM ? err : KD_OK;
    }
    if (st != NULL && strcmp(st->prefix, res->prefix) != 0)
        return KD_EINVAL;
    if ((st == NULL && !incept) || (st != NULL && !incept && ev->sn > st->sn + 1)) {
        res->verdict = KD_KEL_ESCROWED;
        res->escrow = KD_STORE_ESCROW_OUT_OF_ORDER;
        res->why = "out of order";
        return KD_OK;
    }
    if (st != NULL && (incept || ev->sn <= st->sn)) {
        if (ev->sn == st->sn && strcmp(st->said, res->said) == 0) {
            res->verdict = KD_KEL_DUPLICATE;
            res->why = "duplicate";
        } else {
            kd_kel_res_reject(k, res, KD_KEL_F_RECOVERY, "needs the store");
        }
        return KD_OK;
    }
    memset(&c, 0, sizeof c);
    c.k = k;
    c.ev = ev;
    c.st = st;
    c.sigs = k->sigs;
    c.now_us = now_us;
    c.fn = st != NULL ? st->fn + 1 : 0;
    if ((err = kd_kel_eval_event(&c, &e)) != KD_OK)
        return err;
    res->own_index = e.own_index;
    res->verdict = e.verdict;
    res->why = e.why;
    if (e.verdict == KD_KEL_ESCROWED) {
        res->escrow = e.escrow;
        snprintf(res->waits_on, sizeof res->waits_on, "%s", e.delegator);
    } else if (e.verdict == KD_KEL_REJECTED) {
        kd_kel_res_reject(k, res, e.fault, e.why);
    } else {
        res->fn = c.fn;
        res->first_seen_us = now_us;
        *next = e.next;
    }
    return KD_OK;
}

/* ---- receipts the node makes, witnessing ---- */

enum kd_err kd_kel_add_wig(struct kd_store_txn *txn, const char *said, unsigned index,
                           const unsigned char sig[64], bool *added)
{
    char text[KD_KEL_SIG_TEXT_MAX + 1];
    enum kd_err err;

    if (said == NULL || sig == NULL || index >= KD_EVENT_MAX_WITNESSES)
        return KD_EINVAL;
    if ((err = kd_kel_siger_text(index, KD_CESR_ONDEX_NONE, sig, text)) != KD_OK)
        return err;
    return kd_store_sig_add(txn, said, KD_STORE_SIG_WITNESS, text, added);
}

struct kd_kel_wig_count {
    bool seen[KD_EVENT_MAX_WITNESSES];
    unsigned n, nwits;
};

static enum kd_err kd_kel_wig_count_cb(const char *sig, size_t len, void *arg)
{
    struct kd_kel_wig_count *c = arg;
    struct kd_cesr_siger g;

    if (kd_cesr_siger_decode(sig, len, &g, NULL, NULL) != KD_OK || g.index >= c->nwits ||
        c->seen[g.index])
        return KD_OK;
    c->seen[g.index] = true;
    c->n++;
    return KD_OK;
}

enum kd_err kd_kel_fully_witnessed(struct kd_store_rd *rd, const char *prefix, kd_sn_t sn,
                                   const char *said, bool *yes)
{
    struct kd_kel_state *ks = NULL;
    struct kd_kel_wig_count c;
    struct kd_store_event e;
    struct kd_buf b;
    enum kd_err err;

    if (rd == NULL || prefix == NULL || said == NULL || yes == NULL)
        return KD_EINVAL;
    *yes = false;
    kd_buf_init(&b, KD_STORE_BLOB_MAX + 4096);
    err = kd_store_event_get(rd, said, &e, &b);
    if (err == KD_ENOTFOUND || (err == KD_OK && (strcmp(e.prefix, prefix) != 0 || e.sn != sn))) {
        err = KD_OK;
        goto out;
    }
    if (err != KD_OK)
        goto out;
    err = kd_kel_state_at(rd, prefix, sn, &ks);
    if (err == KD_ENOTFOUND) {
        err = KD_OK;
        goto out;
    }
    if (err != KD_OK)
        goto out;
    memset(&c, 0, sizeof c);
    c.nwits = ks->nwits;
    err = kd_store_sig_each(rd, said, KD_STORE_SIG_WITNESS, kd_kel_wig_count_cb, &c);
    if (err == KD_OK)
        *yes = c.n >= ks->bt;
out:
    kd_kel_state_free(ks);
    kd_buf_free(&b);
    return err;
}
