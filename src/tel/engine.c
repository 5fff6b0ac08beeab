/*
 * TEL validation against the store (include/kerid/tel.h): registry state
 * from the stored management TEL, credential state from the stored
 * credential TEL, anchors from the issuer's stored KEL; acceptance, the
 * escrows and their release.
 */
#include <stdlib.h>
#include <string.h>

#include "kerid/tel.h"

#define KD_TEL_PER_DEP_DEFAULT 256u
#define KD_TEL_ROWS_DEFAULT    100000u
#define KD_TEL_RELEASE_DEFAULT 256u

/* A registry's state after its stored management TEL. */
struct kd_tel_reg {
    char issuer[KD_TEL_ID_MAX + 1];
    char last[KD_TEL_ID_MAX + 1];
    kd_sn_t sn;
    bool found;
    bool no_backers;
    uint64_t bt;
    unsigned nbackers;
    char backers[KD_TEL_MAX_BACKERS][KD_TEL_ID_MAX + 1];
};

/* What the rules decided for one event. */
struct kd_tel_dec {
    enum kd_tel_verdict verdict;
    enum kd_tel_fault fault;
    const char *why;
    enum kd_store_tel_escrow_kind escrow;
    char dep[KD_TEL_ID_MAX + 1];    /* ESCROWED: what releases it */
    char issuer[KD_TEL_ID_MAX + 1]; /* the registry's issuer */
    char tel_id[KD_TEL_ID_MAX + 1]; /* the TEL it belongs to: registry or credential */
};

/* One escrow row, copied out of the store. */
struct kd_tel_row {
    int64_t row;
    enum kd_store_tel_escrow_kind kind;
    char dep[KD_TEL_ID_MAX + 1];
    kd_sn_t seal_sn;
    char seal_d[KD_TEL_ID_MAX + 1];
    int64_t arrived_us;
    uint8_t *raw;
    size_t raw_len;
};

struct kd_tel_rows {
    struct kd_tel_row *v;
    unsigned n, cap;
};

struct kd_tel_ctx {
    struct kd_store_txn *txn;
    struct kd_store_rd *rd;
    struct kd_tel_opts o;
    int64_t now_us;
    struct kd_tel_event *ev;  /* the event being decided */
    struct kd_tel_event *sev; /* stored events while loading state */
    struct kd_event *kev;     /* the anchoring KEL event */
    struct kd_tel_reg *reg;
    struct kd_buf storage;
    unsigned budget; /* escrow rows still to retry for this message */
    unsigned released, dropped, tried;
};

static void kd_tel_opts_fill(struct kd_tel_opts *o, const struct kd_tel_opts *in)
{
    memset(o, 0, sizeof(*o));
    if (in != NULL)
        *o = *in;
    if (o->out_of_order_timeout == 0)
        o->out_of_order_timeout = KD_TEL_TIMEOUT_DEFAULT;
    if (o->anchor_timeout == 0)
        o->anchor_timeout = KD_TEL_TIMEOUT_DEFAULT;
    if (o->escrow_per_dep == 0)
        o->escrow_per_dep = KD_TEL_PER_DEP_DEFAULT;
    if (o->escrow_rows == 0)
        o->escrow_rows = KD_TEL_ROWS_DEFAULT;
    if (o->release_max == 0)
        o->release_max = KD_TEL_RELEASE_DEFAULT;
}

static enum kd_err kd_tel_ctx_init(struct kd_tel_ctx *c, struct kd_store_txn *txn,
                                   const struct kd_tel_opts *opts, int64_t now_us)
{
    memset(c, 0, sizeof(*c));
    c->txn = txn;
    c->rd = kd_store_txn_reader(txn);
    kd_tel_opts_fill(&c->o, opts);
    c->now_us = now_us;
    c->budget = c->o.release_max;
    kd_buf_init(&c->storage, KD_STORE_BLOB_MAX + 4096);
    c->ev = malloc(sizeof(*c->ev));
    c->sev = malloc(sizeof(*c->sev));
    c->kev = malloc(sizeof(*c->kev));
    c->reg = malloc(sizeof(*c->reg));
    if (c->rd == NULL)
        return KD_EINVAL;
    if (c->ev == NULL || c->sev == NULL || c->kev == NULL || c->reg == NULL)
        return KD_ENOMEM;
    return KD_OK;
}

static void kd_tel_ctx_free(struct kd_tel_ctx *c)
{
    free(c->ev);
    free(c->sev);
    free(c->kev);
    free(c->reg);
    kd_buf_free(&c->storage);
}

static void kd_tel_rows_free(struct kd_tel_rows *r)
{
    for (unsigned k = 0; k < r->n; k++)
        free(r->v[k].raw);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Copies one escrow row (store callback). */
static enum kd_err kd_tel_rows_add(const struct kd_store_tel_escrow *e, void *arg)
{
    struct kd_tel_rows *r = arg;
    struct kd_tel_row *w;

    if (r->n == r->cap) {
        const unsigned cap = r->cap == 0 ? 16 : r->cap * 2;
        struct kd_tel_row *v = realloc(r->v, cap * sizeof(*v));

        if (v == NULL)
            return KD_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    if (strlen(e->dep) > KD_TEL_ID_MAX || strlen(e->seal_d) > KD_TEL_ID_MAX)
        return KD_ESTORE;
    w = &r->v[r->n];
    memset(w, 0, sizeof(*w));
    w->raw = malloc(e->raw_len);
    if (w->raw == NULL)
        return KD_ENOMEM;
    memcpy(w->raw, e->raw, e->raw_len);
    w->raw_len = e->raw_len;
    w->row = e->row;
    w->kind = e->kind;
    strcpy(w->dep, e->dep);
    strcpy(w->seal_d, e->seal_d);
    w->seal_sn = e->seal_sn;
    w->arrived_us = e->arrived_us;
    r->n++;
    return KD_OK;
}

/* ---- registry state ---- */

static bool kd_tel_has_backer(const struct kd_tel_reg *r, const char *b, size_t n)
{
    for (unsigned k = 0; k < r->nbackers; k++) {
        if (strlen(r->backers[k]) == n && memcmp(r->backers[k], b, n) == 0)
            return true;
    }
    return false;
}

/* Applies one stored management event (already accepted: its rules held). */
static enum kd_err kd_tel_reg_apply(const struct kd_store_tel_event *se, void *arg)
{
    struct kd_tel_ctx *c = arg;
    struct kd_tel_reg *r = c->reg;
    struct kd_tel_event *ev = c->sev;
    enum kd_err e = kd_tel_parse(ev, se->raw, se->raw_len, NULL);

    if (e != KD_OK || strlen(se->issuer) > KD_TEL_ID_MAX)
        return KD_ESTORE; /* a stored event that no longer parses: corrupt */
    if (ev->ilk == KD_TEL_VCP) {
        r->found = true;
        strcpy(r->issuer, se->issuer);
        r->no_backers = ev->no_backers;
        r->bt = ev->bt;
        r->nbackers = 0;
        for (unsigned k = 0; k < ev->backers.count; k++) {
            memcpy(r->backers[k], ev->raw + ev->backers.item[k].off, ev->backers.item[k].len);
            r->backers[k][ev->backers.item[k].len] = '\0';
            r->nbackers++;
        }
    } else if (ev->ilk == KD_TEL_VRT && r->found) {
        unsigned w = 0;

        for (unsigned k = 0; k < r->nbackers; k++) {
            bool cut = false;

            for (unsigned x = 0; x < ev->cuts.count && !cut; x++)
                cut = strlen(r->backers[k]) == ev->cuts.item[x].len &&
                      memcmp(r->backers[k], ev->raw + ev->cuts.item[x].off, ev->cuts.item[x].len) ==
                          0;
            if (!cut)
                memmove(r->backers[w++], r->backers[k], sizeof(r->backers[k]));
        }
        r->nbackers = w;
        for (unsigned x = 0; x < ev->adds.count && r->nbackers < KD_TEL_MAX_BACKERS; x++) {
            memcpy(r->backers[r->nbackers], ev->raw + ev->adds.item[x].off, ev->adds.item[x].len);
            r->backers[r->nbackers][ev->adds.item[x].len] = '\0';
            r->nbackers++;
        }
        if (ev->has_bt)
            r->bt = ev->bt;
    } else {
        return KD_ESTORE;
    }
    r->sn = se->sn;
    strcpy(r->last, se->said);
    return KD_OK;
}

static enum kd_err kd_tel_reg_load(struct kd_tel_ctx *c, const char *reg)
{
    memset(c->reg, 0, sizeof(*c->reg));
    return kd_store_tel_each(c->rd, reg, kd_tel_reg_apply, c);
}

/* ---- decisions ---- */

static void kd_tel_reject(struct kd_tel_dec *d, enum kd_tel_fault f, const char *why)
{
    d->verdict = KD_TEL_REJECTED;
    d->fault = f;
    d->why = why != NULL ? why : kd_tel_fault_message(f);
}

static void kd_tel_escrow(struct kd_tel_dec *d, enum kd_store_tel_escrow_kind k, const char *dep,
                          const char *why)
{
    d->verdict = KD_TEL_ESCROWED;
    d->escrow = k;
    d->why = why;
    strcpy(d->dep, dep);
}

/* The stored event of id at sn, compared with said: *same says whether it is
 * this event. KD_ENOTFOUND when there is none. */
static enum kd_err kd_tel_stored(struct kd_tel_ctx *c, const char *id, kd_sn_t sn,
                                 struct kd_store_tel_event *out, const char *said, bool *same)
{
    enum kd_err e;

    if (sn > INT64_MAX)
        return KD_ENOTFOUND;
    e = kd_store_tel_at(c->rd, id, (uint64_t)sn, out, &c->storage);
    if (e == KD_OK && same != NULL)
        *same = strcmp(out->said, said) == 0;
    return e;
}

/* A stored event at the same place: the same event (duplicate) or another one. */
static void kd_tel_conflict(struct kd_tel_dec *d, bool same)
{
    if (same) {
        d->verdict = KD_TEL_DUPLICATE;
        d->why = "already stored";
    } else {
        kd_tel_reject(d, KD_TEL_F_DUPLICITOUS, NULL);
    }
}

/* vrt against the registry state (in order, not NB, backer arithmetic). */
static void kd_tel_check_vrt(const struct kd_tel_ctx *c, struct kd_tel_dec *d)
{
    const struct kd_tel_event *ev = c->ev;
    const struct kd_tel_reg *r = c->reg;
    unsigned n;

    if (strcmp(ev->prior, r->last) != 0) {
        kd_tel_reject(d, KD_TEL_F_PRIOR, NULL);
        return;
    }
    if (r->no_backers) {
        kd_tel_reject(d, KD_TEL_F_CONFIG, "vrt on a registry configured NB (no backers)");
        return;
    }
    for (unsigned x = 0; x < ev->cuts.count; x++) {
        if (!kd_tel_has_backer(r, (const char *)ev->raw + ev->cuts.item[x].off,
                               ev->cuts.item[x].len)) {
            kd_tel_reject(d, KD_TEL_F_BACKERS, "br names a backer the registry does not have");
            return;
        }
    }
    for (unsigned x = 0; x < ev->adds.count; x++) {
        if (kd_tel_has_backer(r, (const char *)ev->raw + ev->adds.item[x].off,
                              ev->adds.item[x].len)) {
            kd_tel_reject(d, KD_TEL_F_BACKERS, "ba names a backer the registry already has");
            return;
        }
    }
    n = r->nbackers - ev->cuts.count + ev->adds.count;
    if (n > KD_TEL_MAX_BACKERS) {
        kd_tel_reject(d, KD_TEL_F_BACKERS, "more than KD_TEL_MAX_BACKERS backers");
        return;
    }
    if (ev->has_bt && (n > 0 ? (ev->bt < 1 || ev->bt > n) : ev->bt != 0))
        kd_tel_reject(d, KD_TEL_F_BACKERS, "bt does not fit the new backer list");
}

/* The anchor: the issuer's KEL event at seal->sn has SAID seal->said and
 * holds the event seal {i, s, d} of this TEL event in its a. */
static enum kd_err kd_tel_check_anchor(struct kd_tel_ctx *c, const struct kd_tel_seal *seal,
                                       struct kd_tel_dec *d)
{
    const struct kd_tel_event *ev = c->ev;
    struct kd_store_event kel;
    enum kd_err e;

    if (seal->sn > INT64_MAX) {
        kd_tel_reject(d, KD_TEL_F_ANCHOR, "seal sn beyond 2^63 - 1");
        return KD_OK;
    }
    e = kd_store_event_at(c->rd, d->issuer, (uint64_t)seal->sn, &kel, &c->storage);
    if (e == KD_ENOTFOUND) {
        kd_tel_escrow(d, KD_STORE_TEL_ESCROW_ANCHOR, d->issuer,
                      "the anchoring KEL event is not here yet");
        return KD_OK;
    }
    if (e != KD_OK)
        return e;
    if (strcmp(kel.said, seal->said) != 0) {
        kd_tel_reject(d, KD_TEL_F_ANCHOR,
                      "the issuer's KEL event at the seal's sn has another SAID");
        return KD_OK;
    }
    if (kd_event_parse(c->kev, kel.raw, kel.raw_len, NULL) != KD_OK) {
        kd_tel_reject(d, KD_TEL_F_ANCHOR, "the anchoring KEL event does not parse");
        return KD_OK;
    }
    for (unsigned k = 0; k < c->kev->nseals; k++) {
        const struct kd_seal *s = &c->kev->seals[k];

        if (s->kind == KD_SEAL_EVENT && s->sn_ok && s->sn == ev->sn &&
            kd_span_eq(c->kev, s->i, ev->id) && kd_span_eq(c->kev, s->d, ev->said) &&
            s->s.len == ev->s.len &&
            memcmp(kd_span_ptr(c->kev, s->s), (const char *)ev->raw + ev->s.off, ev->s.len) == 0)
            return KD_OK;
    }
    kd_tel_reject(d, KD_TEL_F_ANCHOR, "the anchoring KEL event holds no seal of this TEL event");
    return KD_OK;
}

/* Decides what to do with c->ev (parsed) and its seal; reads only. */
static enum kd_err kd_tel_decide(struct kd_tel_ctx *c, const struct kd_tel_seal *seal,
                                 struct kd_tel_dec *d)
{
    const struct kd_tel_event *ev = c->ev;
    const struct kd_tel_reg *r = c->reg;
    struct kd_store_tel_event se;
    bool same = false;
    enum kd_err e;

    memset(d, 0, sizeof(*d));
    d->verdict = KD_TEL_ACCEPTED;
    d->why = "accepted";
    strcpy(d->tel_id, ev->ilk == KD_TEL_VCP || ev->ilk == KD_TEL_VRT ? ev->reg : ev->id);

    if (ev->ilk == KD_TEL_VCP) {
        e = kd_tel_stored(c, ev->reg, 0, &se, ev->said, &same);
        if (e == KD_OK) {
            kd_tel_conflict(d, same);
            return KD_OK;
        }
        if (e != KD_ENOTFOUND)
            return e;
        strcpy(d->issuer, ev->ii);
        return kd_tel_check_anchor(c, seal, d);
    }
    if ((e = kd_tel_reg_load(c, ev->reg)) != KD_OK)
        return e;
    if (!r->found) {
        kd_tel_escrow(d, KD_STORE_TEL_ESCROW_OUT_OF_ORDER, ev->reg, "the registry is not here yet");
        return KD_OK;
    }
    strcpy(d->issuer, r->issuer);

    switch (ev->ilk) {
    case KD_TEL_VRT:
        if (ev->sn <= r->sn) {
            e = kd_tel_stored(c, ev->reg, ev->sn, &se, ev->said, &same);
            if (e == KD_OK)
                kd_tel_conflict(d, same);
            else if (e == KD_ENOTFOUND)
                kd_tel_reject(d, KD_TEL_F_DUPLICITOUS, "management TEL has a gap");
            return e == KD_ENOTFOUND ? KD_OK : e;
        }
        if (ev->sn > r->sn + 1) {
            kd_tel_escrow(d, KD_STORE_TEL_ESCROW_OUT_OF_ORDER, ev->reg,
                          "an earlier management event is missing");
            return KD_OK;
        }
        kd_tel_check_vrt(c, d);
        break;
    case KD_TEL_ISS:
    case KD_TEL_REV:
        if (!r->no_backers) {
            kd_tel_reject(d, KD_TEL_F_CONFIG,
                          "iss/rev need a registry configured NB; use bis/brv with backers");
            return KD_OK;
        }
        break;
    case KD_TEL_BIS:
    case KD_TEL_BRV:
        if (ev->ilk == KD_TEL_BIS && strcmp(ev->ii, r->issuer) != 0 &&
            strcmp(ev->ii, ev->reg) != 0) {
            kd_tel_reject(d, KD_TEL_F_ISSUER, NULL);
            return KD_OK;
        }
        e = kd_tel_stored(c, ev->reg, ev->ra_sn, &se, ev->ra_d, &same);
        if (e == KD_ENOTFOUND && ev->ra_sn > r->sn) {
            kd_tel_escrow(d, KD_STORE_TEL_ESCROW_OUT_OF_ORDER, ev->reg,
                          "the management event ra names is not here yet");
            return KD_OK;
        }
        if (e != KD_OK && e != KD_ENOTFOUND)
            return e;
        if (e == KD_ENOTFOUND || !same) {
            kd_tel_reject(d, KD_TEL_F_RA, NULL);
            return KD_OK;
        }
        break;
    case KD_TEL_VCP:
    case KD_TEL_ILK_COUNT_:
        return KD_EINTERNAL;
    }
    if (d->verdict != KD_TEL_ACCEPTED)
        return KD_OK;

    if (ev->ilk != KD_TEL_VRT) {
        /* the credential's own TEL: iss/bis at 0, rev/brv at 1 after them */
        e = kd_tel_stored(c, ev->id, ev->sn, &se, ev->said, &same);
        if (e == KD_OK) {
            kd_tel_conflict(d, same);
            return KD_OK;
        }
        if (e != KD_ENOTFOUND)
            return e;
        if (ev->ilk == KD_TEL_REV || ev->ilk == KD_TEL_BRV) {
            e = kd_tel_stored(c, ev->id, 0, &se, ev->prior, &same);
            if (e == KD_ENOTFOUND) {
                kd_tel_escrow(d, KD_STORE_TEL_ESCROW_OUT_OF_ORDER, ev->id,
                              "revocation before issuance");
                return KD_OK;
            }
            if (e != KD_OK)
                return e;
            if (strcmp(se.reg, ev->reg) != 0) {
                kd_tel_reject(d, KD_TEL_F_REGISTRY,
                              "the credential was issued in another registry");
                return KD_OK;
            }
            if (!same) {
                kd_tel_reject(d, KD_TEL_F_PRIOR, NULL);
                return KD_OK;
            }
        }
    }
    return kd_tel_check_anchor(c, seal, d);
}

/* ---- writing ---- */

static enum kd_err kd_tel_release(struct kd_tel_ctx *c, const char *dep);

/* Stores the accepted c->ev, then retries what waited for its TEL. */
static enum kd_err kd_tel_store(struct kd_tel_ctx *c, const struct kd_tel_seal *seal,
                                const struct kd_tel_dec *d)
{
    const struct kd_tel_event *ev = c->ev;
    struct kd_store_tel_event se;
    char tel_id[KD_TEL_ID_MAX + 1];
    enum kd_err e;

    memset(&se, 0, sizeof(se));
    se.id = d->tel_id;
    se.sn = (uint64_t)ev->sn;
    se.said = ev->said;
    se.ilk = kd_tel_ilk_name(ev->ilk);
    se.reg = ev->reg;
    se.issuer = d->issuer;
    se.seal_sn = (uint64_t)seal->sn;
    se.seal_d = seal->said;
    se.first_seen_us = c->now_us;
    se.raw = ev->raw;
    se.raw_len = ev->size;
    if ((e = kd_store_tel_add(c->txn, &se)) != KD_OK)
        return e;
    strcpy(tel_id, d->tel_id); /* c->ev is reused by the release */
    return kd_tel_release(c, tel_id);
}

/* Escrows c->ev as d says, with its first arrival time. */
static enum kd_err kd_tel_escrow_put(struct kd_tel_ctx *c, const struct kd_tel_seal *seal,
                                     const struct kd_tel_dec *d, int64_t arrived_us, bool *full)
{
    struct kd_store_tel_escrow e;
    uint64_t per_dep = 0, all = 0;
    enum kd_err err;

    *full = false;
    if ((err = kd_store_tel_escrow_count(c->rd, d->dep, &per_dep)) != KD_OK ||
        (err = kd_store_tel_escrow_count(c->rd, NULL, &all)) != KD_OK)
        return err;
    if (per_dep >= c->o.escrow_per_dep || all >= c->o.escrow_rows) {
        *full = true;
        return KD_OK;
    }
    memset(&e, 0, sizeof(e));
    e.kind = d->escrow;
    e.id = d->tel_id;
    e.sn = (uint64_t)c->ev->sn;
    e.said = c->ev->said;
    e.dep = d->dep;
    e.seal_sn = (uint64_t)seal->sn;
    e.seal_d = seal->said;
    e.raw = c->ev->raw;
    e.raw_len = c->ev->size;
    e.arrived_us = arrived_us;
    return kd_store_tel_escrow_add(c->txn, &e, NULL);
}

/* Retries one escrow row: accepted, still waiting (perhaps for something
 * else now) or dropped. */
static enum kd_err kd_tel_retry(struct kd_tel_ctx *c, const struct kd_tel_row *w)
{
    struct kd_tel_seal seal;
    struct kd_tel_dec d;
    bool full = false;
    enum kd_err e;

    c->tried++;
    seal.sn = w->seal_sn;
    strcpy(seal.said, w->seal_d);
    if (kd_tel_parse(c->ev, w->raw, w->raw_len, NULL) != KD_OK) {
        c->dropped++;
        return kd_store_tel_escrow_remove(c->txn, w->row);
    }
    if ((e = kd_tel_decide(c, &seal, &d)) != KD_OK)
        return e;
    if (d.verdict == KD_TEL_ESCROWED && d.escrow == w->kind && strcmp(d.dep, w->dep) == 0)
        return KD_OK; /* still waiting for the same thing */
    if ((e = kd_store_tel_escrow_remove(c->txn, w->row)) != KD_OK && e != KD_ENOTFOUND)
        return e;
    switch (d.verdict) {
    case KD_TEL_ACCEPTED:
        c->released++;
        return kd_tel_store(c, &seal, &d);
    case KD_TEL_ESCROWED:
        if ((e = kd_tel_escrow_put(c, &seal, &d, w->arrived_us, &full)) != KD_OK)
            return e;
        if (full)
            c->dropped++;
        return KD_OK;
    case KD_TEL_DUPLICATE:
    case KD_TEL_REJECTED:
        c->dropped++;
        return KD_OK;
    }
    return KD_EINTERNAL;
}

/* Retries the rows (copied) in order. */
static enum kd_err kd_tel_retry_rows(struct kd_tel_ctx *c, const struct kd_tel_rows *rows)
{
    enum kd_err e = KD_OK;

    for (unsigned k = 0; k < rows->n && e == KD_OK; k++)
        e = kd_tel_retry(c, &rows->v[k]);
    return e;
}

/* Retries the rows waiting for dep, within the message's budget. */
static enum kd_err kd_tel_release(struct kd_tel_ctx *c, const char *dep)
{
    struct kd_tel_rows rows;
    enum kd_err e;

    if (c->budget == 0)
        return KD_OK; /* the sweep does the rest */
    memset(&rows, 0, sizeof(rows));
    e = kd_store_tel_escrow_each_dep(c->rd, dep, c->budget, kd_tel_rows_add, &rows);
    if (e == KD_OK) {
        c->budget = rows.n < c->budget ? c->budget - rows.n : 0;
        e = kd_tel_retry_rows(c, &rows);
    }
    kd_tel_rows_free(&rows);
    return e;
}

/* ---- public ---- */

static void kd_tel_result_from(struct kd_tel_result *res, const struct kd_tel_event *ev,
                               const struct kd_tel_dec *d)
{
    res->verdict = d->verdict;
    res->why = d->why != NULL ? d->why : "ok";
    res->ilk = ev->ilk;
    strcpy(res->id, ev->id);
    strcpy(res->said, ev->said);
    res->sn = ev->sn;
    if (d->verdict == KD_TEL_REJECTED) {
        res->fault = d->fault;
        res->err = kd_tel_fault_err(d->fault);
    }
    if (d->verdict == KD_TEL_ESCROWED)
        res->escrow = d->escrow;
}

static void kd_tel_result_reject(struct kd_tel_result *res, enum kd_tel_fault f, const char *why)
{
    res->verdict = KD_TEL_REJECTED;
    res->fault = f;
    res->err = kd_tel_fault_err(f);
    res->why = why != NULL ? why : kd_tel_fault_message(f);
}

enum kd_err kd_tel_process(struct kd_store_txn *txn, const struct kd_cesr_msg *msg,
                           const struct kd_tel_opts *opts, int64_t now_us,
                           struct kd_tel_result *res)
{
    struct kd_tel_ctx c;
    struct kd_tel_seal seal;
    struct kd_tel_dec d;
    bool full = false;
    enum kd_err e;

    if (txn == NULL || msg == NULL || res == NULL)
        return KD_EINVAL;
    memset(res, 0, sizeof(*res));
    res->ilk = KD_TEL_ILK_COUNT_;
    res->why = "ok";
    if ((e = kd_tel_ctx_init(&c, txn, opts, now_us)) != KD_OK)
        goto out;
    e = kd_tel_parse(c.ev, msg->body, msg->body_len, &res->diag);
    if (e == KD_ENOMEM)
        goto out;
    if (e != KD_OK) {
        kd_tel_result_reject(res, KD_TEL_F_BODY, res->diag.why);
        res->err = e; /* the parser's error says more than the fault's (SAID: bad_cesr) */
        e = KD_OK;
        goto out;
    }
    res->ilk = c.ev->ilk;
    strcpy(res->id, c.ev->id);
    strcpy(res->said, c.ev->said);
    res->sn = c.ev->sn;
    if (kd_tel_seal_get(&msg->att, &seal) != KD_OK) {
        kd_tel_result_reject(res, KD_TEL_F_SEAL, NULL);
        goto out;
    }
    if ((e = kd_tel_decide(&c, &seal, &d)) != KD_OK)
        goto out;
    kd_tel_result_from(res, c.ev, &d);
    if (d.verdict == KD_TEL_ACCEPTED) {
        e = kd_tel_store(&c, &seal, &d);
    } else if (d.verdict == KD_TEL_ESCROWED) {
        e = kd_tel_escrow_put(&c, &seal, &d, now_us, &full);
        if (e == KD_OK && full)
            kd_tel_result_reject(res, KD_TEL_F_ESCROW_FULL, NULL);
    }
    res->released = c.released;
out:
    kd_tel_ctx_free(&c);
    return e;
}

struct kd_tel_body_ctx {
    struct kd_store_txn *txn;
    const struct kd_tel_opts *opts;
    int64_t now_us;
    struct kd_tel_body_result *res;
};

static enum kd_err kd_tel_body_msg(void *arg, const struct kd_cesr_msg *msg)
{
    struct kd_tel_body_ctx *b = arg;
    struct kd_tel_result r;
    enum kd_err e = kd_tel_process(b->txn, msg, b->opts, b->now_us, &r);

    if (e != KD_OK)
        return e;
    b->res->messages++;
    b->res->verdicts[r.verdict]++;
    b->res->released += r.released;
    if (r.verdict == KD_TEL_REJECTED) {
        b->res->rejected = true;
        b->res->first_reject = r;
        return r.err == KD_EUNAVAIL ? KD_EUNAVAIL : KD_EINVAL;
    }
    return KD_OK;
}

enum kd_err kd_tel_process_body(struct kd_store_txn *txn, const void *body, size_t len,
                                const struct kd_tel_opts *opts, int64_t now_us,
                                struct kd_tel_body_result *res)
{
    struct kd_tel_body_ctx b;
    enum kd_err e;

    if (txn == NULL || res == NULL || (body == NULL && len > 0))
        return KD_EINVAL;
    memset(res, 0, sizeof(*res));
    b.txn = txn;
    b.opts = opts;
    b.now_us = now_us;
    b.res = res;
    e = kd_cesr_split_all(body, len, NULL, kd_tel_body_msg, &b, &res->cesr);
    if (e != KD_OK && res->cesr.code != KD_OK)
        return KD_EBADCESR;
    return e;
}

enum kd_err kd_tel_sweep(struct kd_store_txn *txn, const struct kd_tel_opts *opts, int64_t now_us,
                         unsigned budget, int64_t *cursor, bool *more,
                         struct kd_tel_sweep_result *res)
{
    struct kd_tel_ctx c;
    struct kd_tel_rows rows;
    uint64_t n = 0;
    enum kd_err e;

    if (txn == NULL || cursor == NULL || more == NULL)
        return KD_EINVAL;
    *more = false;
    memset(&rows, 0, sizeof(rows));
    if (res != NULL)
        memset(res, 0, sizeof(*res));
    if ((e = kd_tel_ctx_init(&c, txn, opts, now_us)) != KD_OK)
        goto out;
    c.budget = budget; /* releases caused by the retries share the sweep's budget */
    e = kd_store_tel_escrow_expire(txn, KD_STORE_TEL_ESCROW_OUT_OF_ORDER,
                                   now_us - (int64_t)(c.o.out_of_order_timeout * 1000000u), &n);
    if (e == KD_OK && res != NULL)
        res->expired += n;
    if (e == KD_OK)
        e = kd_store_tel_escrow_expire(txn, KD_STORE_TEL_ESCROW_ANCHOR,
                                       now_us - (int64_t)(c.o.anchor_timeout * 1000000u), &n);
    if (e != KD_OK)
        goto out;
    if (res != NULL)
        res->expired += n;
    if (budget == 0)
        goto out;
    if ((e = kd_store_tel_escrow_each(c.rd, *cursor, budget, kd_tel_rows_add, &rows)) != KD_OK)
        goto out;
    *more = rows.n == budget;
    *cursor = *more ? rows.v[rows.n - 1].row : 0;
    e = kd_tel_retry_rows(&c, &rows);
    if (res != NULL) {
        res->tried = c.tried;
        res->released = c.released;
        res->dropped = c.dropped;
    }
out:
    kd_tel_rows_free(&rows);
    kd_tel_ctx_free(&c);
    return e;
}
