/*
 * The rules for one event against one key state (spec/keri-core.md §4;
 * keripy Kever.incept / .update / .rotate / .valSigsWigsDel / .exposeds /
 * .validateDelegation). kevery.c decides where an event stands (inception,
 * in order, superseding recovery, out of order, duplicate, duplicitous) and
 * calls kd_kel_eval_event for the first three.
 *
 * Order of the checks, as keripy's: structure and state rules, prior digest,
 * at least one verified controller signature (else the event is dropped:
 * nothing unauthenticated goes further), the witness list and toad, the
 * signing threshold and the prior next threshold (partially signed escrow),
 * witness receipts (partially witnessed escrow, validators only), the
 * delegation anchor (partially delegated escrow).
 *
 * Configuration traits (c of the inception), as keripy 1.2.13 enforces them:
 *   EO  establishment only: ixn events are rejected (rotations are not
 *       affected);
 *   DND do not delegate: a dip/drt naming this identifier as delegator is
 *       rejected (dropped, not escrowed);
 *   NB, RB, NRB, DID are accepted and ignored on KELs (they concern TELs and
 *       registrars; keripy ignores them too); they are not kept in the state.
 */
#include <stdio.h>
#include <string.h>

#include "kel_eng.h"

void kd_kel_eval_reject(struct kd_kel_eval *e, enum kd_kel_fault f, const char *why)
{
    e->verdict = KD_KEL_REJECTED;
    e->fault = f;
    e->why = why != NULL ? why : kd_kel_fault_message(f);
}

static void kd_kel_eval_escrow(struct kd_kel_eval *e, enum kd_store_escrow_kind kind,
                               const char *why)
{
    e->verdict = KD_KEL_ESCROWED;
    e->escrow = kind;
    e->why = why;
}

void kd_kel_event_keys(const struct kd_event *ev, uint8_t (*raw)[32], bool *ok)
{
    for (unsigned i = 0; i < ev->keys.count; i++) {
        struct kd_cesr_prim p;
        const struct kd_span s = ev->keys.item[i];

        ok[i] =
            kd_cesr_qb64_decode((const char *)ev->raw + s.off, s.len, &p, NULL, NULL) == KD_OK &&
            (p.code == KD_CESR_ED25519 || p.code == KD_CESR_ED25519N);
        if (ok[i])
            memcpy(raw[i], p.raw, 32);
    }
}

unsigned kd_kel_verify_sigs(struct kd_kel *k, const uint8_t *raw, size_t size,
                            struct kd_kel_sigset *sigs, const uint8_t (*key_raw)[32],
                            const bool *key_ok, unsigned nkeys, bool *verified)
{
    unsigned n = 0;

    memset(verified, 0, nkeys * sizeof *verified);
    for (unsigned i = 0; i < sigs->nsigs; i++) {
        struct kd_kel_sig *s = &sigs->sigs[i];

        s->verified = false;
        /* an index beyond the keys drops the signature (keripy would crash) */
        if (s->index >= nkeys || !key_ok[s->index] || verified[s->index])
            continue;
        k->stats.verifies++;
        if (kd_ed25519_verify(key_raw[s->index], raw, size, s->sig) == KD_OK) {
            s->verified = true;
            verified[s->index] = true;
            n++;
        }
    }
    return n;
}

/* The Ed25519 key of a non-transferable witness prefix; false for others. */
static bool kd_kel_wit_key(const struct kd_kel_strv *w, uint8_t key[32])
{
    struct kd_cesr_prim p;

    if (kd_cesr_qb64_decode(w->p, w->len, &p, NULL, NULL) != KD_OK || p.code != KD_CESR_ED25519N)
        return false;
    memcpy(key, p.raw, 32);
    return true;
}

unsigned kd_kel_verify_wigs(struct kd_kel *k, const uint8_t *raw, size_t size,
                            struct kd_kel_sigset *sigs, const struct kd_kel_strv *wits,
                            unsigned nwits)
{
    bool seen[KD_EVENT_MAX_WITNESSES] = {false};
    unsigned n = 0;

    for (unsigned i = 0; i < sigs->nwigs; i++) {
        struct kd_kel_sig *s = &sigs->wigs[i];
        uint8_t key[32];

        s->verified = false;
        if (s->index >= nwits || seen[s->index] || !kd_kel_wit_key(&wits[s->index], key))
            continue;
        k->stats.verifies++;
        if (kd_ed25519_verify(key, raw, size, s->sig) == KD_OK) {
            s->verified = true;
            seen[s->index] = true;
            n++;
        }
    }
    for (unsigned i = 0; i < sigs->ncouples; i++) {
        struct kd_kel_couple *c = &sigs->couples[i];
        int w = -1;

        c->verified = false;
        for (unsigned j = 0; j < nwits && w < 0; j++)
            if (wits[j].len == KD_PREFIX_QB64_LEN &&
                memcmp(wits[j].p, c->prefix, KD_PREFIX_QB64_LEN) == 0)
                w = (int)j;
        c->wit = w;
        if (w >= 0 && seen[w])
            continue; /* that witness's signature is in already */
        k->stats.verifies++;
        if (kd_ed25519_verify(c->key, raw, size, c->sig) != KD_OK)
            continue;
        c->verified = true;
        if (w >= 0) {
            seen[w] = true;
            n++;
        }
    }
    return n;
}

/* The prior next digests exposed by the verified signatures (keripy
 * Kever.exposeds): for a signature with ondex j, the digest (with the code
 * of the prior n[j]) of the qb64 text of the key it signed with must equal
 * n[j]. Only Blake3-256 commitments can be checked. */
static void kd_kel_exposed(const struct kd_event *ev, const struct kd_kel_sigset *sigs,
                           const struct kd_kel_state *st, bool *overified)
{
    memset(overified, 0, st->nndigs * sizeof *overified);
    for (unsigned i = 0; i < sigs->nsigs; i++) {
        const struct kd_kel_sig *s = &sigs->sigs[i];
        char dig[KD_DIGEST_QB64_LEN + 1];
        struct kd_span key;
        struct kd_kel_ref nd;

        if (!s->verified || s->ondex == KD_CESR_ONDEX_NONE || (uint32_t)s->ondex >= st->nndigs)
            continue;
        nd = st->ndigs[s->ondex];
        if (nd.len != KD_DIGEST_QB64_LEN || st->text[nd.off] != 'E')
            continue;
        key = ev->keys.item[s->index];
        kd_blake3_256_qb64(ev->raw + key.off, key.len, dig);
        if (memcmp(dig, st->text + nd.off, KD_DIGEST_QB64_LEN) == 0)
            overified[s->ondex] = true;
    }
}

/* The canonical hex text of sn. */
static size_t kd_kel_snh(kd_sn_t sn, char out[KD_CESR_SN_HEX_MAX + 1])
{
    return kd_cesr_sn_hex(sn, out, KD_CESR_SN_HEX_MAX + 1);
}

/* Whether stored event ev2 (of the delegator) holds the event seal of the
 * delegated event ev in its a list; *pos gets the seal's position among
 * the event seals. keripy matches i, the canonical hex s and d. */
static bool kd_kel_has_seal(const struct kd_event *ev2, const struct kd_event *ev, unsigned *pos)
{
    char snh[KD_CESR_SN_HEX_MAX + 1];
    unsigned k = 0;

    kd_kel_snh(ev->sn, snh);
    for (unsigned j = 0; j < ev2->nseals; j++) {
        const struct kd_seal *s = &ev2->seals[j];

        if (s->kind != KD_SEAL_EVENT)
            continue;
        if (s->i.len == ev->i.len &&
            memcmp(ev2->raw + s->i.off, ev->raw + ev->i.off, s->i.len) == 0 &&
            kd_kel_span_is(ev2, s->s, snh) && s->d.len == ev->d.len &&
            memcmp(ev2->raw + s->d.off, ev->raw + ev->d.off, s->d.len) == 0) {
            if (pos != NULL)
                *pos = k;
            return true;
        }
        k++;
    }
    return false;
}

/* ---- delegation (needs the store) ---- */

struct kd_kel_seal_hit {
    struct kd_kel_vctx *c;
    const char *delegator;
    bool found;
    uint64_t sn;
    char said[KD_KEL_ID_MAX + 1];
};

/* A stored delegator event holding the seal: it counts when it is the
 * latest event at its sn (not superseded); the highest such sn wins. */
static enum kd_err kd_kel_seal_cb(const char *said, unsigned pos, void *arg)
{
    struct kd_kel_seal_hit *h = arg;
    struct kd_store_event e;
    uint64_t sn;
    enum kd_err err;

    (void)pos;
    if (strlen(said) > KD_KEL_ID_MAX)
        return KD_OK;
    err = kd_store_event_get(h->c->rd, said, &e, &h->c->k->buf);
    if (err == KD_ENOTFOUND)
        return KD_OK;
    if (err != KD_OK)
        return err;
    sn = e.sn;
    if (h->found && sn <= h->sn)
        return KD_OK;
    /* kd_store_event_at reuses the buffer: keep what we need first */
    err = kd_store_event_at(h->c->rd, h->delegator, sn, &e, &h->c->k->buf);
    if (err == KD_ENOTFOUND)
        return KD_OK;
    if (err != KD_OK)
        return err;
    if (strcmp(e.said, said) != 0)
        return KD_OK;
    h->found = true;
    h->sn = sn;
    memcpy(h->said, said, strlen(said) + 1);
    return KD_OK;
}

/* Loads the delegator's event at sn (the latest there) into k->aux, with
 * SAID said if said is not NULL. KD_ENOTFOUND if there is none. */
static enum kd_err kd_kel_load_aux(struct kd_kel_vctx *c, const char *pre, uint64_t sn,
                                   const char *said)
{
    struct kd_store_event e;
    enum kd_err err;

    err = kd_store_event_at(c->rd, pre, sn, &e, &c->k->buf);
    if (err != KD_OK)
        return err;
    if (said != NULL && strcmp(e.said, said) != 0)
        return KD_ENOTFOUND;
    /* aux points into k->buf until the next store read through it */
    if (kd_event_parse(c->k->aux, e.raw, e.raw_len, NULL) != KD_OK)
        return KD_ESTORE;
    return KD_OK;
}

/* Loads the stored event said (any sn) into k->aux. */
static enum kd_err kd_kel_load_aux_said(struct kd_kel_vctx *c, const char *said)
{
    struct kd_store_event e;
    enum kd_err err = kd_store_event_get(c->rd, said, &e, &c->k->buf);

    if (err != KD_OK)
        return err;
    return kd_event_parse(c->k->aux, e.raw, e.raw_len, NULL) == KD_OK ? KD_OK : KD_ESTORE;
}

/* Finds the delegator's accepted event anchoring ev: first the attached -G
 * couple (keripy), then the seal index (keripy's eager walk, as a lookup). */
static enum kd_err kd_kel_find_anchor(struct kd_kel_vctx *c, const char *delegator,
                                      struct kd_kel_eval *out)
{
    const struct kd_event *ev = c->ev;
    struct kd_kel_sigset *sg = c->sigs;
    struct kd_kel_seal_hit h;
    char i[KD_KEL_ID_MAX + 1], d[KD_KEL_ID_MAX + 1];
    enum kd_err err;

    if (sg->has_seal && sg->seal_sn <= INT64_MAX) {
        err = kd_kel_load_aux(c, delegator, (uint64_t)sg->seal_sn, sg->seal_said);
        if (err == KD_OK && kd_kel_has_seal(c->k->aux, ev, NULL)) {
            out->anchored = true;
            out->del_sn = sg->seal_sn;
            snprintf(out->del_said, sizeof out->del_said, "%s", sg->seal_said);
            return KD_OK;
        }
        if (err != KD_OK && err != KD_ENOTFOUND)
            return err;
        /* a couple that does not hold: nullified, as keripy does */
    }
    memset(&h, 0, sizeof h);
    h.c = c;
    h.delegator = delegator;
    kd_kel_copy_id(i, ev, ev->i);
    kd_kel_copy_id(d, ev, ev->d);
    if (ev->sn > INT64_MAX)
        return KD_OK;
    err = kd_store_seal_find(c->rd, delegator, i, (uint64_t)ev->sn, d, kd_kel_seal_cb, &h);
    if (err != KD_OK)
        return err;
    if (h.found) {
        out->anchored = true;
        out->del_sn = h.sn;
        snprintf(out->del_said, sizeof out->del_said, "%s", h.said);
    }
    return KD_OK;
}

/* One side of a superseding comparison: a delegated event and the delegating
 * event anchoring it. */
struct kd_kel_boss {
    char said[KD_STORE_ID_MAX + 1]; /* the delegated event */
    char boss[KD_STORE_ID_MAX + 1]; /* its delegating event */
    uint64_t boss_sn;
    enum kd_ilk boss_ilk;
    unsigned pos; /* position of said's seal among the boss's event seals */
};

/* Loads b->boss and fills boss_ilk and pos. KD_ENOTFOUND if the boss is not
 * stored or does not seal b->said. */
static enum kd_err kd_kel_boss_fill(struct kd_kel_vctx *c, struct kd_kel_boss *b)
{
    const struct kd_event *a = c->k->aux;
    unsigned kk = 0;
    enum kd_err err = kd_kel_load_aux_said(c, b->boss);

    if (err != KD_OK)
        return err;
    b->boss_ilk = a->ilk;
    for (unsigned j = 0; j < a->nseals; j++) {
        const struct kd_seal *s = &a->seals[j];

        if (s->kind != KD_SEAL_EVENT)
            continue;
        if (kd_kel_span_is(a, s->d, b->said)) {
            b->pos = kk;
            return KD_OK;
        }
        kk++;
    }
    return KD_ENOTFOUND;
}

/* Fills b (said set) from the stored anchor of b->said. */
static enum kd_err kd_kel_boss_of(struct kd_kel_vctx *c, struct kd_kel_boss *b)
{
    enum kd_err err = kd_store_anchor_get(c->rd, b->said, &b->boss_sn, b->boss);

    return err == KD_OK ? kd_kel_boss_fill(c, b) : err;
}

/*
 * Superseding rules B and C for a drt replacing the drt at the same sn
 * (keri-core §4.8; keripy validateDelegation): the new one wins when its
 * delegating event is later in the delegator's KEL (B1), is the same event
 * with the seal later in its a list (B2), or is a rotation superseding the
 * interaction that anchored the old one (B3); when the delegating events
 * are two different delegated rotations at the same sn, the comparison
 * climbs to their own delegating events (C), at most
 * limits.delegation_depth levels. Anything unknown on the way fails. Sets
 * *ok.
 */
static enum kd_err kd_kel_supersede_ok(struct kd_kel_vctx *c, const struct kd_kel_eval *out,
                                       bool *ok)
{
    struct kd_kel *k = c->k;
    struct kd_kel_boss nw, old;
    struct kd_store_event e;
    enum kd_err err;

    *ok = false;
    memset(&nw, 0, sizeof nw);
    memset(&old, 0, sizeof old);
    /* the superseded drt: the latest event at this sn */
    err = kd_store_event_at(c->rd, c->st->prefix, (uint64_t)c->ev->sn, &e, &k->buf);
    if (err != KD_OK)
        return err == KD_ENOTFOUND ? KD_OK : err;
    snprintf(old.said, sizeof old.said, "%s", e.said);
    kd_kel_copy_id(nw.said, c->ev, c->ev->d);
    snprintf(nw.boss, sizeof nw.boss, "%s", out->del_said);
    nw.boss_sn = (uint64_t)out->del_sn;
    if ((err = kd_kel_boss_fill(c, &nw)) != KD_OK || (err = kd_kel_boss_of(c, &old)) != KD_OK)
        return err == KD_ENOTFOUND ? KD_OK : err;
    for (unsigned depth = 0; depth <= k->opts.limits.delegation_depth; depth++) {
        struct kd_kel_boss n2, o2;

        if (nw.boss_sn > old.boss_sn || (nw.boss_sn == old.boss_sn &&
                                         (nw.boss_ilk == KD_ILK_ROT || nw.boss_ilk == KD_ILK_DRT) &&
                                         old.boss_ilk == KD_ILK_IXN)) {
            *ok = true; /* B1, B3 */
            return KD_OK;
        }
        if (nw.boss_sn < old.boss_sn)
            return KD_OK;
        if (strcmp(nw.boss, old.boss) == 0) {
            *ok = nw.pos > old.pos; /* B2 */
            return KD_OK;
        }
        /* C: the delegating events tie: compare theirs */
        if (nw.boss_ilk != KD_ILK_DRT || old.boss_ilk != KD_ILK_DRT)
            return KD_OK;
        memset(&n2, 0, sizeof n2);
        memset(&o2, 0, sizeof o2);
        memcpy(n2.said, nw.boss, sizeof n2.said);
        memcpy(o2.said, old.boss, sizeof o2.said);
        if ((err = kd_kel_boss_of(c, &n2)) != KD_OK || (err = kd_kel_boss_of(c, &o2)) != KD_OK)
            return err == KD_ENOTFOUND ? KD_OK : err;
        nw = n2;
        old = o2;
    }
    return KD_OK;
}

/* Delegation (keri-core §4.7) for dip/drt; fills out (anchored, or an
 * escrow / rejection). */
static enum kd_err kd_kel_delegation(struct kd_kel_vctx *c, bool recovery, struct kd_kel_eval *out)
{
    struct kd_kel *k = c->k;
    const struct kd_kel_state *dst = NULL;
    enum kd_err err;

    if (c->rd == NULL) {
        kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_DEL,
                           "delegation is checked against the store");
        return KD_OK;
    }
    err = kd_kel_state_get(k, c->rd, out->delegator, &dst);
    if (err != KD_OK)
        return err;
    if (dst == NULL) {
        kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_DEL, "the delegator's KEL is unknown");
        return KD_OK;
    }
    if (dst->traits & KD_TRAIT_DND) {
        kd_kel_eval_reject(out, KD_KEL_F_DND, NULL);
        return KD_OK;
    }
    if ((err = kd_kel_find_anchor(c, out->delegator, out)) != KD_OK)
        return err;
    if (!out->anchored) {
        kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_DEL,
                           "no accepted delegator event anchors it yet");
        return KD_OK;
    }
    /* a drt replacing the drt at the latest establishment sn */
    if (recovery && c->ev->ilk == KD_ILK_DRT && c->ev->sn == c->st->ee_sn) {
        bool ok;

        if ((err = kd_kel_supersede_ok(c, out, &ok)) != KD_OK)
            return err;
        if (!ok)
            kd_kel_eval_reject(out, KD_KEL_F_RECOVERY,
                               "superseding drt is not delegated later than the one it replaces");
    }
    return KD_OK;
}

/* ---- the evaluation ---- */

enum kd_err kd_kel_eval_event(struct kd_kel_vctx *c, struct kd_kel_eval *out)
{
    struct kd_kel *k = c->k;
    const struct kd_event *ev = c->ev;
    const struct kd_kel_state *st = c->st;
    struct kd_kel_sb *sb = k->sb;
    const bool incept = ev->ilk == KD_ILK_ICP || ev->ilk == KD_ILK_DIP;
    const bool rot = ev->ilk == KD_ILK_ROT || ev->ilk == KD_ILK_DRT;
    const bool recovery = !incept && st != NULL && ev->sn <= st->sn;
    struct kd_kel_strv wits[KD_EVENT_MAX_WITNESSES];
    enum kd_kel_fault fault;
    unsigned nkeys, nwits;
    uint64_t bt;
    bool satisfied;
    enum kd_err err;

    memset(out, 0, sizeof *out);
    out->verdict = KD_KEL_ACCEPTED;
    out->why = "accepted";
    out->own_index = -1;
    out->recovery = recovery;

    /* 1. state rules */
    if (!incept) {
        if (st->nndigs == 0) {
            kd_kel_eval_reject(out, KD_KEL_F_NONTRANS, NULL);
            return KD_OK;
        }
        if (ev->ilk == KD_ILK_IXN && (st->traits & KD_TRAIT_EO)) {
            kd_kel_eval_reject(out, KD_KEL_F_EST_ONLY, NULL);
            return KD_OK;
        }
        if (ev->ilk == KD_ILK_ROT && st->delegator[0] != '\0') {
            kd_kel_eval_reject(out, KD_KEL_F_DELEGATED_ROT, NULL);
            return KD_OK;
        }
        if (ev->ilk == KD_ILK_DRT && st->delegator[0] == '\0') {
            kd_kel_eval_reject(out, KD_KEL_F_NOT_DELEGATED, NULL);
            return KD_OK;
        }
        /* 2. chaining */
        if (!recovery) {
            if (!kd_kel_span_is(ev, ev->p, st->said)) {
                kd_kel_eval_reject(out, KD_KEL_F_PRIOR, NULL);
                return KD_OK;
            }
        } else {
            struct kd_store_event e;

            if (c->rd == NULL) {
                kd_kel_eval_reject(out, KD_KEL_F_RECOVERY, "recovery is checked against the store");
                return KD_OK;
            }
            /* A0: a rot may only supersede interactions (E < sn <= L) */
            if (ev->ilk == KD_ILK_ROT && st->ilk != KD_ILK_IXN) {
                kd_kel_eval_reject(out, KD_KEL_F_RECOVERY, "rot may only supersede ixn events");
                return KD_OK;
            }
            err = kd_store_event_at(c->rd, st->prefix, (uint64_t)(ev->sn - 1), &e, &k->buf);
            if (err != KD_OK && err != KD_ENOTFOUND)
                return err;
            if (err == KD_ENOTFOUND || !kd_kel_span_is(ev, ev->p, e.said)) {
                kd_kel_eval_reject(out, KD_KEL_F_PRIOR,
                                   "recovery's prior digest is not the event before it");
                return KD_OK;
            }
        }
    }

    /* 3. controller signatures over the received bytes */
    if (incept || rot) {
        nkeys = ev->keys.count;
        kd_kel_event_keys(ev, k->key_raw, k->key_ok);
        out->nverified =
            kd_kel_verify_sigs(k, ev->raw, ev->size, c->sigs, (const uint8_t(*)[32])k->key_raw,
                               k->key_ok, nkeys, k->verified);
    } else {
        nkeys = st->nkeys;
        out->nverified = kd_kel_verify_sigs(k, ev->raw, ev->size, c->sigs, st->key_raw, st->key_ok,
                                            nkeys, k->verified);
    }
    if (out->nverified == 0) {
        kd_kel_eval_reject(out, KD_KEL_F_BAD_SIG, NULL);
        return KD_OK;
    }

    /* 4. the state after it: witness list (rot/drt: derived), toad */
    if (incept || rot) {
        kd_kel_sb_event(sb, st, ev, &fault);
        if (fault != KD_KEL_F_NONE) {
            kd_kel_eval_reject(out, fault, NULL);
            return KD_OK;
        }
        nwits = sb->n[KD_KEL_L_WITS];
        memcpy(wits, sb->item[KD_KEL_L_WITS], nwits * sizeof wits[0]);
        bt = sb->hdr.bt;
    } else {
        nwits = st->nwits;
        kd_kel_strv_refs(st, st->wits, nwits, wits);
        bt = st->bt;
    }
    if (rot && ((nwits > 0 && (ev->bt < 1 || ev->bt > nwits)) || (nwits == 0 && ev->bt != 0))) {
        kd_kel_eval_reject(out, KD_KEL_F_WITNESSES, "toad out of range for the witness list");
        return KD_OK;
    }
    if (c->sigs->nwigs + c->sigs->ncouples > 0)
        out->nwigs = kd_kel_verify_wigs(k, ev->raw, ev->size, c->sigs, wits, nwits);

    /* 5. signing threshold */
    if (incept || rot) {
        satisfied = kd_tholder_satisfied(&ev->kt, k->verified, nkeys);
    } else {
        if ((err = kd_kel_state_tholder(st, 0, &k->th)) != KD_OK)
            return KD_ESTORE;
        satisfied = kd_tholder_satisfied(&k->th, k->verified, nkeys);
    }
    if (!satisfied) {
        kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_SIG,
                           "signatures do not satisfy the signing threshold yet");
        return KD_OK;
    }
    /* 6. prior next threshold (pre-rotation), with the ondex rules */
    if (rot) {
        kd_kel_exposed(ev, c->sigs, st, k->overified);
        if ((err = kd_kel_state_tholder(st, 1, &k->th)) != KD_OK)
            return KD_ESTORE;
        if (!kd_tholder_satisfied(&k->th, k->overified, st->nndigs)) {
            kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_SIG,
                               "signatures do not satisfy the prior next threshold yet");
            return KD_OK;
        }
    }

    /* 7. is this node one of its witnesses? */
    for (unsigned o = 0; o < k->opts.nown && out->own_index < 0; o++)
        for (unsigned j = 0; j < nwits; j++)
            if (wits[j].len == strlen(k->own[o]) &&
                memcmp(wits[j].p, k->own[o], wits[j].len) == 0) {
                out->own_index = (int)j;
                out->own_prefix = k->own[o];
                break;
            }

    /* 8. witness receipts: validators need bt of them */
    if (out->own_index < 0 && !k->opts.witness_any && out->nwigs < bt) {
        kd_kel_eval_escrow(out, KD_STORE_ESCROW_PARTIAL_WIT,
                           "fewer verified witness receipts than the toad");
        return KD_OK;
    }

    /* 9. delegation */
    if (ev->ilk == KD_ILK_DIP || ev->ilk == KD_ILK_DRT) {
        const bool shortcut =
            (out->own_index >= 0 || k->opts.witness_any) && !k->opts.delegation_requires_anchor;

        if (ev->ilk == KD_ILK_DIP)
            kd_kel_copy_id(out->delegator, ev, ev->di);
        else
            snprintf(out->delegator, sizeof out->delegator, "%s", st->delegator);
        if (!shortcut) {
            if ((err = kd_kel_delegation(c, recovery, out)) != KD_OK)
                return err;
            if (out->verdict != KD_KEL_ACCEPTED)
                return KD_OK;
        }
    }

    /* 10. accepted: the new key state; an interaction changes only the
     * latest event's fields: a copy of the state will do */
    if (ev->ilk == KD_ILK_IXN) {
        if ((err = kd_kel_state_dup(st, &out->next)) != KD_OK)
            return err;
        out->next->sn = ev->sn;
        out->next->ilk = ev->ilk;
        kd_kel_copy_id(out->next->said, ev, ev->d);
        kd_kel_copy_id(out->next->prior, ev, ev->p);
        out->next->fn = c->fn;
        out->next->dt_us = c->now_us;
        return KD_OK;
    }
    if (incept || rot) {
        sb->key_raw = (const uint8_t(*)[32])k->key_raw;
        sb->key_ok = k->key_ok;
    }
    sb->hdr.fn = c->fn;
    sb->hdr.dt_us = c->now_us;
    err = kd_kel_sb_finish(sb, &out->next);
    if (err == KD_EINVAL || err == KD_ETOOLARGE) {
        kd_kel_eval_reject(out, KD_KEL_F_ESTABLISHMENT, "key state too large");
        return KD_OK;
    }
    return err;
}
