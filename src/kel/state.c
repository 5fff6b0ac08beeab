/*
 * Key state values: building the state after an event (keripy Kever.incept,
 * .rotate, .deriveBacks, .update), one allocation per state, and the
 * versioned binary blob stored per identifier and per establishment event.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "kel_eng.h"

/* ---- small helpers ---- */

bool kd_kel_span_is(const struct kd_event *ev, struct kd_span s, const char *str)
{
    const size_t n = strlen(str);

    return s.len == n && memcmp(ev->raw + s.off, str, n) == 0;
}

void kd_kel_copy_id(char dst[KD_KEL_ID_MAX + 1], const struct kd_event *ev, struct kd_span s)
{
    const size_t n = s.len <= KD_KEL_ID_MAX ? s.len : KD_KEL_ID_MAX;

    memcpy(dst, ev->raw + s.off, n);
    dst[n] = '\0';
}

/* True for 0..max characters of the base64url alphabet. */
static bool kd_kel_qb64_ok(const char *p, size_t n, size_t max)
{
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (kd_cesr_b64_value((unsigned char)p[i]) < 0)
            return false;
    return true;
}

int kd_kel_state_find(const struct kd_kel_state *st, const struct kd_kel_ref *list, unsigned count,
                      const char *p, size_t n)
{
    for (unsigned i = 0; i < count; i++)
        if (list[i].len == n && memcmp(st->text + list[i].off, p, n) == 0)
            return (int)i;
    return -1;
}

void kd_kel_strv_refs(const struct kd_kel_state *st, const struct kd_kel_ref *list, unsigned n,
                      struct kd_kel_strv *out)
{
    for (unsigned i = 0; i < n; i++) {
        out[i].p = st->text + list[i].off;
        out[i].len = list[i].len;
    }
}

void kd_kel_state_free(struct kd_kel_state *st)
{
    free(st);
}

/* ---- building ---- */

enum kd_err kd_kel_sb_finish(const struct kd_kel_sb *sb, struct kd_kel_state **out)
{
    struct kd_kel_state *st;
    struct kd_kel_ref *refs;
    uint8_t(*raw)[32];
    bool *ok;
    char *text;
    size_t nref = 0, ntext = sb->kt.len + 1 + sb->nt.len + 1, total;
    const unsigned nkeys = sb->n[KD_KEL_L_KEYS];
    uint32_t at = 0;
    unsigned r = 0;

    *out = NULL;
    for (unsigned l = 0; l < KD_KEL_L_N_; l++) {
        if (sb->n[l] > KD_EVENT_MAX_KEYS)
            return KD_EINVAL;
        nref += sb->n[l];
        for (unsigned i = 0; i < sb->n[l]; i++)
            ntext += sb->item[l][i].len + 1u;
    }
    if (ntext > UINT32_MAX / 2)
        return KD_ETOOLARGE;
    total = sizeof(*st) + nref * sizeof(*refs) + nkeys * sizeof(*raw) + nkeys * sizeof(*ok) + ntext;
    st = malloc(total);
    if (st == NULL)
        return KD_ENOMEM;
    *st = sb->hdr;
    refs = (struct kd_kel_ref *)(st + 1);
    raw = (uint8_t(*)[32])(refs + nref);
    ok = (bool *)(raw + nkeys);
    text = (char *)(ok + nkeys);

#define KD_PUT_(ref, v)                                                                            \
    do {                                                                                           \
        (ref).off = at;                                                                            \
        (ref).len = (v).len;                                                                       \
        if ((v).len > 0)                                                                           \
            memcpy(text + at, (v).p, (v).len);                                                     \
        text[at + (v).len] = '\0';                                                                 \
        at += (v).len + 1u;                                                                        \
    } while (0)
    KD_PUT_(st->kt, sb->kt);
    KD_PUT_(st->nt, sb->nt);
    {
        const struct kd_kel_ref **lists[KD_KEL_L_N_] = {&st->keys, &st->ndigs, &st->wits, &st->cuts,
                                                        &st->adds};
        uint16_t *counts[KD_KEL_L_N_] = {&st->nkeys, &st->nndigs, &st->nwits, &st->ncuts,
                                         &st->nadds};

        for (unsigned l = 0; l < KD_KEL_L_N_; l++) {
            *lists[l] = refs + r;
            *counts[l] = sb->n[l];
            for (unsigned i = 0; i < sb->n[l]; i++, r++)
                KD_PUT_(refs[r], sb->item[l][i]);
        }
    }
#undef KD_PUT_
    st->text = text;
    st->text_len = at;
    st->key_raw = (const uint8_t(*)[32])raw;
    st->key_ok = ok;
    for (unsigned i = 0; i < nkeys; i++) {
        struct kd_cesr_prim prim;
        const struct kd_kel_ref kr = st->keys[i];

        if (sb->key_ok != NULL) { /* decoded already (the event's own keys) */
            ok[i] = sb->key_ok[i];
            memcpy(raw[i], sb->key_raw[i], 32);
            continue;
        }
        ok[i] = kd_cesr_qb64_decode(text + kr.off, kr.len, &prim, NULL, NULL) == KD_OK &&
                (prim.code == KD_CESR_ED25519 || prim.code == KD_CESR_ED25519N);
        if (ok[i])
            memcpy(raw[i], prim.raw, 32);
        else
            memset(raw[i], 0, 32);
    }
    *out = st;
    return KD_OK;
}

enum kd_err kd_kel_state_dup(const struct kd_kel_state *st, struct kd_kel_state **out)
{
    /* one allocation, text last (kd_kel_sb_finish): copy it and move the
     * internal pointers by the distance between the two blocks */
    const size_t total = (size_t)(st->text + st->text_len - (const char *)st);
    struct kd_kel_state *x = malloc(total);
    const char *from = (const char *)st;
    char *to;

    *out = NULL;
    if (x == NULL)
        return KD_ENOMEM;
    memcpy(x, st, total);
    to = (char *)x;
#define KD_MOVE_(f) x->f = (void *)(to + ((const char *)st->f - from))
    KD_MOVE_(keys);
    KD_MOVE_(ndigs);
    KD_MOVE_(wits);
    KD_MOVE_(cuts);
    KD_MOVE_(adds);
    KD_MOVE_(key_raw);
    KD_MOVE_(key_ok);
    KD_MOVE_(text);
#undef KD_MOVE_
    *out = x;
    return KD_OK;
}

void kd_kel_sb_from_state(struct kd_kel_sb *sb, const struct kd_kel_state *st)
{
    const struct kd_kel_ref *lists[KD_KEL_L_N_] = {st->keys, st->ndigs, st->wits, st->cuts,
                                                   st->adds};
    const uint16_t counts[KD_KEL_L_N_] = {st->nkeys, st->nndigs, st->nwits, st->ncuts, st->nadds};

    sb->hdr = *st;
    sb->kt.p = st->text + st->kt.off;
    sb->kt.len = st->kt.len;
    sb->nt.p = st->text + st->nt.off;
    sb->nt.len = st->nt.len;
    for (unsigned l = 0; l < KD_KEL_L_N_; l++) {
        sb->n[l] = counts[l];
        kd_kel_strv_refs(st, lists[l], counts[l], sb->item[l]);
    }
}

enum kd_err kd_kel_sb_tholders(struct kd_kel_sb *sb, const struct kd_tholder *kt,
                               const struct kd_tholder *nt)
{
    size_t n;
    enum kd_err err;

    if ((err = kd_tholder_format_json(kt, sb->kt_text, sizeof sb->kt_text, &n)) != KD_OK)
        return err;
    sb->kt.p = sb->kt_text;
    sb->kt.len = (uint32_t)n;
    if ((err = kd_tholder_format_json(nt, sb->nt_text, sizeof sb->nt_text, &n)) != KD_OK)
        return err;
    sb->nt.p = sb->nt_text;
    sb->nt.len = (uint32_t)n;
    sb->hdr.kt_weighted = kt->weighted;
    sb->hdr.kt_num = kt->weighted ? 0 : kt->num;
    sb->hdr.nt_weighted = nt->weighted;
    sb->hdr.nt_num = nt->weighted ? 0 : nt->num;
    return KD_OK;
}

void kd_kel_sb_list(struct kd_kel_sb *sb, unsigned l, const struct kd_event *ev,
                    const struct kd_qb64_list *q)
{
    sb->n[l] = q->count;
    for (unsigned i = 0; i < q->count; i++) {
        sb->item[l][i].p = (const char *)ev->raw + q->item[i].off;
        sb->item[l][i].len = q->item[i].len;
    }
}

/* Index of (p, n) among the n views of v, or -1. */
static int kd_kel_strv_find(const struct kd_kel_strv *v, unsigned count, const char *p, size_t n)
{
    for (unsigned i = 0; i < count; i++)
        if (v[i].len == n && memcmp(v[i].p, p, n) == 0)
            return (int)i;
    return -1;
}

void kd_kel_sb_event(struct kd_kel_sb *sb, const struct kd_kel_state *prior,
                     const struct kd_event *ev, enum kd_kel_fault *fault)
{
    const bool incept = ev->ilk == KD_ILK_ICP || ev->ilk == KD_ILK_DIP;
    const bool est = incept || ev->ilk == KD_ILK_ROT || ev->ilk == KD_ILK_DRT;
    struct kd_kel_state *h = &sb->hdr;

    *fault = KD_KEL_F_NONE;
    sb->key_raw = NULL;
    sb->key_ok = NULL;
    if (incept || prior == NULL) {
        memset(h, 0, sizeof *h);
        for (unsigned l = 0; l < KD_KEL_L_N_; l++)
            sb->n[l] = 0;
        kd_kel_copy_id(h->prefix, ev, ev->i);
        h->traits = ev->traits & (KD_TRAIT_EO | KD_TRAIT_DND);
        if (ev->ilk == KD_ILK_DIP)
            kd_kel_copy_id(h->delegator, ev, ev->di);
    } else {
        kd_kel_sb_from_state(sb, prior);
    }
    h->sn = ev->sn;
    h->ilk = ev->ilk;
    kd_kel_copy_id(h->said, ev, ev->d);
    if (incept)
        h->prior[0] = '\0';
    else
        kd_kel_copy_id(h->prior, ev, ev->p);
    if (!est)
        return;
    h->ee_sn = ev->sn;
    h->ee_ilk = ev->ilk;
    memcpy(h->ee_said, h->said, sizeof h->ee_said);
    memcpy(h->ee_prior, h->prior, sizeof h->ee_prior);
    h->bt = ev->bt;
    if (kd_kel_sb_tholders(sb, &ev->kt, &ev->nt) != KD_OK) {
        *fault = KD_KEL_F_ESTABLISHMENT; /* a threshold too long to keep */
        return;
    }
    kd_kel_sb_list(sb, KD_KEL_L_KEYS, ev, &ev->keys);
    kd_kel_sb_list(sb, KD_KEL_L_NDIGS, ev, &ev->ndigs);
    if (incept) {
        kd_kel_sb_list(sb, KD_KEL_L_WITS, ev, &ev->wits);
        sb->n[KD_KEL_L_CUTS] = sb->n[KD_KEL_L_ADDS] = 0;
        return;
    }
    /* A superseding recovery keeps the witnesses in force and ignores its
     * br/ba, as keripy's deriveBacks does for sn <= the current sn. */
    if (prior != NULL && ev->sn <= prior->sn)
        return;
    /* rot/drt: derive the witness list from prior's (sb holds prior's views) */
    {
        struct kd_kel_strv *w = sb->item[KD_KEL_L_WITS];
        unsigned nw = sb->n[KD_KEL_L_WITS], keep = 0;

        for (unsigned c = 0; c < ev->cuts.count; c++)
            if (kd_kel_strv_find(w, nw, (const char *)ev->raw + ev->cuts.item[c].off,
                                 ev->cuts.item[c].len) < 0) {
                *fault = KD_KEL_F_WITNESSES;
                return;
            }
        for (unsigned a = 0; a < ev->adds.count; a++)
            if (kd_kel_strv_find(w, nw, (const char *)ev->raw + ev->adds.item[a].off,
                                 ev->adds.item[a].len) >= 0) {
                *fault = KD_KEL_F_WITNESSES;
                return;
            }
        for (unsigned i = 0; i < nw; i++) {
            bool cut = false;

            for (unsigned c = 0; c < ev->cuts.count && !cut; c++)
                cut = ev->cuts.item[c].len == w[i].len &&
                      memcmp(ev->raw + ev->cuts.item[c].off, w[i].p, w[i].len) == 0;
            if (!cut)
                w[keep++] = w[i];
        }
        if (keep + ev->adds.count > KD_EVENT_MAX_WITNESSES) {
            *fault = KD_KEL_F_WITNESSES;
            return;
        }
        for (unsigned a = 0; a < ev->adds.count; a++) {
            w[keep].p = (const char *)ev->raw + ev->adds.item[a].off;
            w[keep++].len = ev->adds.item[a].len;
        }
        sb->n[KD_KEL_L_WITS] = (uint16_t)keep;
        kd_kel_sb_list(sb, KD_KEL_L_CUTS, ev, &ev->cuts);
        kd_kel_sb_list(sb, KD_KEL_L_ADDS, ev, &ev->adds);
    }
}

enum kd_err kd_kel_state_tholder(const struct kd_kel_state *st, int which, struct kd_tholder *th)
{
    const struct kd_kel_ref r = which == 0 ? st->kt : st->nt;

    if ((which == 0 ? st->kt_weighted : st->nt_weighted) == false) {
        kd_tholder_set_numeric(th, which == 0 ? st->kt_num : st->nt_num);
        return KD_OK;
    }
    return kd_tholder_parse_json(th, st->text + r.off, r.len, NULL);
}

/* ---- the blob ---- */

#define KD_KEL_BLOB_MAGIC   "KDKS"
#define KD_KEL_BLOB_VERSION 1u

static enum kd_err kd_put_u(struct kd_buf *b, uint64_t v, unsigned bytes)
{
    uint8_t t[8];

    for (unsigned i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return kd_buf_append(b, t, bytes);
}

static enum kd_err kd_put_sn(struct kd_buf *b, kd_sn_t v)
{
    enum kd_err err = kd_put_u(b, (uint64_t)(v >> 64), 8);

    return err == KD_OK ? kd_put_u(b, (uint64_t)v, 8) : err;
}

static enum kd_err kd_put_str(struct kd_buf *b, const char *p, size_t n)
{
    enum kd_err err = kd_put_u(b, n, 2);

    return err == KD_OK ? kd_buf_append(b, p, n) : err;
}

enum kd_err kd_kel_state_encode(const struct kd_kel_state *st, struct kd_buf *out)
{
    const char *ids[] = {st->prefix, st->said, st->prior, st->ee_said, st->ee_prior, st->delegator};
    const struct kd_kel_ref *lists[KD_KEL_L_N_] = {st->keys, st->ndigs, st->wits, st->cuts,
                                                   st->adds};
    const uint16_t counts[KD_KEL_L_N_] = {st->nkeys, st->nndigs, st->nwits, st->ncuts, st->nadds};
    enum kd_err err = KD_OK;

    kd_buf_reset(out);
#define KD_TRY_(x)                                                                                 \
    do {                                                                                           \
        if ((err = (x)) != KD_OK)                                                                  \
            goto out;                                                                              \
    } while (0)
    KD_TRY_(kd_buf_append(out, KD_KEL_BLOB_MAGIC, 4));
    KD_TRY_(kd_put_u(out, KD_KEL_BLOB_VERSION, 1));
    KD_TRY_(kd_put_u(out, (uint64_t)st->ilk, 1));
    KD_TRY_(kd_put_u(out, (uint64_t)st->ee_ilk, 1));
    KD_TRY_(kd_put_u(out, (st->kt_weighted ? 1u : 0u) | (st->nt_weighted ? 2u : 0u), 1));
    KD_TRY_(kd_put_u(out, st->traits, 4));
    KD_TRY_(kd_put_u(out, st->bt, 8));
    KD_TRY_(kd_put_u(out, st->kt_num, 8));
    KD_TRY_(kd_put_u(out, st->nt_num, 8));
    KD_TRY_(kd_put_u(out, st->fn, 8));
    KD_TRY_(kd_put_u(out, (uint64_t)st->dt_us, 8));
    KD_TRY_(kd_put_sn(out, st->sn));
    KD_TRY_(kd_put_sn(out, st->ee_sn));
    for (unsigned l = 0; l < KD_KEL_L_N_; l++)
        KD_TRY_(kd_put_u(out, counts[l], 2));
    for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++)
        KD_TRY_(kd_put_str(out, ids[i], strlen(ids[i])));
    KD_TRY_(kd_put_str(out, st->text + st->kt.off, st->kt.len));
    KD_TRY_(kd_put_str(out, st->text + st->nt.off, st->nt.len));
    for (unsigned l = 0; l < KD_KEL_L_N_; l++)
        for (unsigned i = 0; i < counts[l]; i++)
            KD_TRY_(kd_put_str(out, st->text + lists[l][i].off, lists[l][i].len));
#undef KD_TRY_
out:
    if (err != KD_OK)
        kd_buf_reset(out);
    return err;
}

/* A reader over a blob; any overrun sets bad. */
struct kd_blob_rd {
    const uint8_t *p;
    size_t n, at;
    bool bad;
};

static uint64_t kd_get_u(struct kd_blob_rd *r, unsigned bytes)
{
    uint64_t v = 0;

    if (r->bad || r->n - r->at < bytes) {
        r->bad = true;
        return 0;
    }
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | r->p[r->at + i];
    r->at += bytes;
    return v;
}

static kd_sn_t kd_get_sn(struct kd_blob_rd *r)
{
    const kd_sn_t hi = kd_get_u(r, 8);

    return hi << 64 | kd_get_u(r, 8);
}

/* A string of at most max chars into v (a view into the blob). */
static void kd_get_str(struct kd_blob_rd *r, struct kd_kel_strv *v, size_t max, bool qb64)
{
    const size_t n = (size_t)kd_get_u(r, 2);

    v->p = "";
    v->len = 0;
    if (r->bad || n > max || r->n - r->at < n ||
        (qb64 && !kd_kel_qb64_ok((const char *)r->p + r->at, n, max))) {
        r->bad = true;
        return;
    }
    v->p = (const char *)r->p + r->at;
    v->len = (uint32_t)n;
    r->at += n;
}

static bool kd_ilk_is_key_event(uint64_t v)
{
    return v == KD_ILK_ICP || v == KD_ILK_ROT || v == KD_ILK_IXN || v == KD_ILK_DIP ||
           v == KD_ILK_DRT;
}

/* Checks a decoded threshold text against the flags and numbers. */
static bool kd_blob_tholder_ok(const struct kd_kel_strv *v, bool weighted, uint64_t num,
                               struct kd_tholder *th)
{
    if (kd_tholder_parse_json(th, v->p, v->len, NULL) != KD_OK)
        return false;
    return th->weighted == weighted && (weighted || th->num == num);
}

enum kd_err kd_kel_state_decode(const void *blob, size_t n, struct kd_kel_state **out)
{
    struct kd_blob_rd r = {blob, n, 0, false};
    struct kd_kel_sb *sb = NULL;
    struct kd_tholder *th = NULL;
    struct kd_kel_state *h;
    struct kd_kel_strv id[6];
    char *dst[6];
    uint64_t ilk, ee_ilk, flags;
    enum kd_err err = KD_ESTORE;

    *out = NULL;
    if (blob == NULL || n < 5 || memcmp(blob, KD_KEL_BLOB_MAGIC, 4) != 0)
        return KD_ESTORE;
    r.at = 4;
    if (kd_get_u(&r, 1) != KD_KEL_BLOB_VERSION)
        return KD_ESTORE;
    sb = calloc(1, sizeof *sb);
    th = malloc(sizeof *th);
    if (sb == NULL || th == NULL) {
        err = KD_ENOMEM;
        goto out;
    }
    h = &sb->hdr;
    ilk = kd_get_u(&r, 1);
    ee_ilk = kd_get_u(&r, 1);
    flags = kd_get_u(&r, 1);
    h->traits = (uint32_t)kd_get_u(&r, 4);
    h->bt = kd_get_u(&r, 8);
    h->kt_num = kd_get_u(&r, 8);
    h->nt_num = kd_get_u(&r, 8);
    h->fn = kd_get_u(&r, 8);
    h->dt_us = (int64_t)kd_get_u(&r, 8);
    h->sn = kd_get_sn(&r);
    h->ee_sn = kd_get_sn(&r);
    for (unsigned l = 0; l < KD_KEL_L_N_; l++) {
        const uint64_t c = kd_get_u(&r, 2);

        if (c > KD_EVENT_MAX_KEYS)
            r.bad = true;
        sb->n[l] = (uint16_t)(c <= KD_EVENT_MAX_KEYS ? c : 0);
    }
    if (r.bad || !kd_ilk_is_key_event(ilk) || !kd_ilk_is_key_event(ee_ilk) || flags > 3 ||
        (h->traits & ~(uint32_t)(KD_TRAIT_EO | KD_TRAIT_DND)) != 0)
        goto out;
    h->ilk = (enum kd_ilk)ilk;
    h->ee_ilk = (enum kd_ilk)ee_ilk;
    h->kt_weighted = (flags & 1u) != 0;
    h->nt_weighted = (flags & 2u) != 0;
    dst[0] = h->prefix;
    dst[1] = h->said;
    dst[2] = h->prior;
    dst[3] = h->ee_said;
    dst[4] = h->ee_prior;
    dst[5] = h->delegator;
    for (unsigned i = 0; i < 6; i++) {
        kd_get_str(&r, &id[i], KD_KEL_ID_MAX, true);
        memcpy(dst[i], id[i].p, id[i].len);
        dst[i][id[i].len] = '\0';
    }
    kd_get_str(&r, &sb->kt, KD_KEL_THOLD_TEXT, false);
    kd_get_str(&r, &sb->nt, KD_KEL_THOLD_TEXT, false);
    for (unsigned l = 0; l < KD_KEL_L_N_; l++)
        for (unsigned i = 0; i < sb->n[l]; i++)
            kd_get_str(&r, &sb->item[l][i], KD_KEL_ID_MAX, true);
    if (r.bad || r.at != r.n || id[0].len == 0 || id[1].len == 0 || id[3].len == 0 ||
        sb->n[KD_KEL_L_KEYS] == 0 || h->ee_sn > h->sn ||
        !kd_blob_tholder_ok(&sb->kt, h->kt_weighted, h->kt_num, th) ||
        th->size > sb->n[KD_KEL_L_KEYS] ||
        !kd_blob_tholder_ok(&sb->nt, h->nt_weighted, h->nt_num, th))
        goto out;
    err = kd_kel_sb_finish(sb, out);
    if (err == KD_EINVAL || err == KD_ETOOLARGE)
        err = KD_ESTORE;
out:
    free(th);
    free(sb);
    return err;
}

/* ---- reading states from the store ---- */

enum kd_err kd_kel_state_load(struct kd_store_rd *rd, const char *prefix, struct kd_kel_state **out)
{
    struct kd_buf b;
    char said[KD_STORE_ID_MAX + 1];
    uint64_t sn;
    enum kd_err err;

    *out = NULL;
    kd_buf_init(&b, KD_STORE_BLOB_MAX);
    err = kd_store_state_get(rd, prefix, &sn, said, &b);
    if (err == KD_OK) {
        err = kd_kel_state_decode(b.data, b.len, out);
        /* the row's own columns must agree with the blob */
        if (err == KD_OK && ((*out)->sn != sn || strcmp((*out)->said, said) != 0 ||
                             strcmp((*out)->prefix, prefix) != 0)) {
            kd_kel_state_free(*out);
            *out = NULL;
            err = KD_ESTORE;
        }
    }
    kd_buf_free(&b);
    return err;
}

enum kd_err kd_kel_state_at(struct kd_store_rd *rd, const char *prefix, kd_sn_t sn,
                            struct kd_kel_state **out)
{
    struct kd_buf b;
    char said[KD_STORE_ID_MAX + 1];
    uint64_t esn;
    enum kd_err err;

    *out = NULL;
    kd_buf_init(&b, KD_STORE_BLOB_MAX);
    err = kd_store_est_state_at(rd, prefix, sn > INT64_MAX ? INT64_MAX : (uint64_t)sn, said, &esn,
                                &b);
    if (err == KD_OK) {
        err = kd_kel_state_decode(b.data, b.len, out);
        if (err == KD_OK && ((*out)->ee_sn != esn || strcmp((*out)->ee_said, said) != 0 ||
                             strcmp((*out)->prefix, prefix) != 0)) {
            kd_kel_state_free(*out);
            *out = NULL;
            err = KD_ESTORE;
        }
    }
    kd_buf_free(&b);
    return err;
}

enum kd_err kd_kel_state_verify_sigs(const struct kd_kel_state *st, struct kd_cesr_iter *sigs,
                                     const void *body, size_t n, bool *satisfied)
{
    struct kd_cesr_siger sg;
    struct kd_tholder *th = NULL;
    bool *verified = NULL;
    enum kd_err e;

    *satisfied = false;
    verified = calloc(st->nkeys > 0 ? st->nkeys : 1, sizeof(bool));
    th = calloc(1, sizeof(*th));
    if (verified == NULL || th == NULL) {
        e = KD_ENOMEM;
        goto out;
    }
    /* a malformed signature ends the group: what verified so far counts */
    while (kd_cesr_next_siger(sigs, &sg) == KD_OK) {
        if (sg.index < st->nkeys && st->key_ok[sg.index] && sg.sig_len == KD_ED25519_SIG_LEN &&
            kd_ed25519_verify(st->key_raw[sg.index], body, n, sg.sig) == KD_OK)
            verified[sg.index] = true;
    }
    e = KD_OK;
    *satisfied = kd_tholder_parse_json(th, kd_kel_str(st, st->kt), st->kt.len, NULL) == KD_OK &&
                 kd_tholder_satisfied(th, verified, st->nkeys);
out:
    free(verified);
    free(th);
    return e;
}
