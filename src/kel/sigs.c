/*
 * Attached signatures and receipts: collecting them from a message's
 * attachment groups (or a stored escrow row) into a deduplicated set, and
 * writing a set back as attachment groups.
 *
 * Only what kerid can verify is kept: Ed25519 indexed signatures (codes A,
 * B, 2A, 2B), receipt couples of non-transferable Ed25519 prefixes (B) with
 * `0B` signatures, transferable receipts signed that way. Anything else
 * (ECDSA, Ed448) is counted as unusable and dropped; keripy would verify
 * it, kerid cannot (crypto/ has Ed25519 only).
 */
#include <stdio.h>
#include <string.h>

#include "kel_eng.h"

void kd_kel_sigset_reset(struct kd_kel_sigset *s)
{
    s->nsigs = s->nwigs = s->ncouples = s->ntsigs = 0;
    s->received_sigs = s->received_rcts = s->unusable = 0;
    s->has_seal = false;
}

void kd_kel_sigset_unverify(struct kd_kel_sigset *s)
{
    for (unsigned i = 0; i < s->nsigs; i++)
        s->sigs[i].verified = false;
    for (unsigned i = 0; i < s->nwigs; i++)
        s->wigs[i].verified = false;
    for (unsigned i = 0; i < s->ncouples; i++) {
        s->couples[i].verified = false;
        s->couples[i].wit = -1;
    }
    for (unsigned i = 0; i < s->ntsigs; i++)
        s->tsigs[i].verified = false;
}

static bool kd_kel_ed25519_idx(enum kd_cesr_idx_code c)
{
    return c == KD_CESR_IDX_ED25519 || c == KD_CESR_IDX_ED25519_CRT ||
           c == KD_CESR_IDX_ED25519_BIG || c == KD_CESR_IDX_ED25519_BIG_CRT;
}

/* Adds an indexed signature to list (count *n) unless the same index and
 * signature are there; unusable codes are counted and dropped. */
static enum kd_err kd_kel_add_siger(struct kd_kel_sigset *s, struct kd_kel_sig *list, unsigned *n,
                                    const struct kd_cesr_siger *g, unsigned max)
{
    struct kd_kel_sig *x;

    if (!kd_kel_ed25519_idx(g->code) || g->sig_len != 64 || g->qb64_len > KD_KEL_SIG_TEXT_MAX) {
        s->unusable++;
        return KD_OK;
    }
    for (unsigned i = 0; i < *n; i++)
        if (list[i].index == g->index && memcmp(list[i].sig, g->sig, 64) == 0)
            return KD_OK;
    if (*n >= max)
        return KD_ETOOLARGE;
    x = &list[(*n)++];
    x->index = g->index;
    x->ondex = g->ondex;
    x->verified = false;
    memcpy(x->sig, g->sig, 64);
    memcpy(x->qb64, g->qb64, g->qb64_len);
    x->qb64[g->qb64_len] = '\0';
    x->len = (uint8_t)g->qb64_len;
    return KD_OK;
}

/* Encodes p (a decoded fixed primitive) as qb64 into out (cap chars + NUL). */
static bool kd_kel_prim_text(const struct kd_cesr_prim *p, char *out, size_t cap)
{
    return kd_cesr_qb64_encode(p->code, p->raw, p->raw_len, out, cap + 1, NULL) == KD_OK;
}

static enum kd_err kd_kel_add_couple(struct kd_kel_sigset *s, const struct kd_cesr_couple *c,
                                     unsigned max)
{
    struct kd_kel_couple *x;

    if (c->prefix.code != KD_CESR_ED25519N || c->sig.code != KD_CESR_ED25519_SIG) {
        s->unusable++;
        return KD_OK;
    }
    for (unsigned i = 0; i < s->ncouples; i++)
        if (memcmp(s->couples[i].key, c->prefix.raw, 32) == 0 &&
            memcmp(s->couples[i].sig, c->sig.raw, 64) == 0)
            return KD_OK;
    if (s->ncouples >= max)
        return KD_ETOOLARGE;
    x = &s->couples[s->ncouples];
    if (!kd_kel_prim_text(&c->prefix, x->prefix, KD_PREFIX_QB64_LEN) ||
        !kd_kel_prim_text(&c->sig, x->sig_qb64, KD_SIG_QB64_LEN)) {
        s->unusable++;
        return KD_OK;
    }
    memcpy(x->key, c->prefix.raw, 32);
    memcpy(x->sig, c->sig.raw, 64);
    x->verified = false;
    x->wit = -1;
    s->ncouples++;
    return KD_OK;
}

static enum kd_err kd_kel_add_tsig(struct kd_kel_sigset *s, const struct kd_cesr_prim *prefix,
                                   kd_sn_t sn, const struct kd_cesr_prim *said,
                                   const struct kd_cesr_siger *g, unsigned max)
{
    struct kd_kel_tsig *x;
    const struct kd_cesr_code_info *pi = kd_cesr_code_info(prefix->code);
    const struct kd_cesr_code_info *si = kd_cesr_code_info(said->code);

    if (!kd_kel_ed25519_idx(g->code) || g->sig_len != 64 || g->qb64_len > KD_KEL_SIG_TEXT_MAX ||
        pi == NULL || si == NULL || pi->fs > KD_KEL_ID_MAX || si->fs > KD_KEL_ID_MAX) {
        s->unusable++;
        return KD_OK;
    }
    if (s->ntsigs >= max)
        return KD_ETOOLARGE;
    x = &s->tsigs[s->ntsigs];
    if (!kd_kel_prim_text(prefix, x->prefix, KD_KEL_ID_MAX) ||
        !kd_kel_prim_text(said, x->said, KD_KEL_ID_MAX)) {
        s->unusable++;
        return KD_OK;
    }
    for (unsigned i = 0; i < s->ntsigs; i++)
        if (s->tsigs[i].index == g->index && memcmp(s->tsigs[i].sig, g->sig, 64) == 0 &&
            strcmp(s->tsigs[i].prefix, x->prefix) == 0)
            return KD_OK;
    x->sn = sn;
    x->index = g->index;
    x->verified = false;
    memcpy(x->sig, g->sig, 64);
    memcpy(x->sig_qb64, g->qb64, g->qb64_len);
    x->sig_qb64[g->qb64_len] = '\0';
    s->ntsigs++;
    return KD_OK;
}

enum kd_err kd_kel_sigset_add_att(struct kd_kel_sigset *s, const struct kd_cesr_attachments *att,
                                  unsigned max)
{
    struct kd_cesr_iter it;
    struct kd_cesr_siger g;
    struct kd_cesr_couple c;
    struct kd_cesr_quadruple q;
    struct kd_cesr_trans_group t;
    struct kd_cesr_seal_src ss;
    enum kd_err err;

    if (att == NULL)
        return KD_OK;
    /* Hostile counts are refused before any work. */
    if (att->items[KD_CESR_CTR_CONTROLLER_IDX_SIGS] > max ||
        att->items[KD_CESR_CTR_WITNESS_IDX_SIGS] > max ||
        att->items[KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES] > max ||
        att->items[KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES] > max ||
        att->items[KD_CESR_CTR_TRANS_IDX_SIG_GROUPS] > max)
        return KD_ETOOLARGE;
    s->received_sigs += (unsigned)att->items[KD_CESR_CTR_CONTROLLER_IDX_SIGS];
    s->received_rcts += (unsigned)(att->items[KD_CESR_CTR_WITNESS_IDX_SIGS] +
                                   att->items[KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES] +
                                   att->items[KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES] +
                                   att->items[KD_CESR_CTR_TRANS_IDX_SIG_GROUPS]);

    kd_cesr_iter_init(&it, att, KD_CESR_CTR_CONTROLLER_IDX_SIGS);
    while ((err = kd_cesr_next_siger(&it, &g)) == KD_OK)
        if ((err = kd_kel_add_siger(s, s->sigs, &s->nsigs, &g, max)) != KD_OK)
            return err;
    if (err != KD_ENOTFOUND)
        return KD_EBADCESR;
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_WITNESS_IDX_SIGS);
    while ((err = kd_cesr_next_siger(&it, &g)) == KD_OK)
        if ((err = kd_kel_add_siger(s, s->wigs, &s->nwigs, &g, max)) != KD_OK)
            return err;
    if (err != KD_ENOTFOUND)
        return KD_EBADCESR;
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES);
    while ((err = kd_cesr_next_couple(&it, &c)) == KD_OK)
        if ((err = kd_kel_add_couple(s, &c, max)) != KD_OK)
            return err;
    if (err != KD_ENOTFOUND)
        return KD_EBADCESR;
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES);
    while ((err = kd_cesr_next_quadruple(&it, &q)) == KD_OK)
        if ((err = kd_kel_add_tsig(s, &q.prefix, q.sn, &q.said, &q.siger, max)) != KD_OK)
            return err;
    if (err != KD_ENOTFOUND)
        return KD_EBADCESR;
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_TRANS_IDX_SIG_GROUPS);
    while ((err = kd_cesr_next_trans_group(&it, &t)) == KD_OK) {
        if (t.nsigs > max)
            return KD_ETOOLARGE;
        while ((err = kd_cesr_next_siger(&t.sigs, &g)) == KD_OK)
            if ((err = kd_kel_add_tsig(s, &t.prefix, t.sn, &t.said, &g, max)) != KD_OK)
                return err;
        if (err != KD_ENOTFOUND)
            return KD_EBADCESR;
    }
    if (err != KD_ENOTFOUND)
        return KD_EBADCESR;
    /* keripy uses the last seal source couple */
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_SEAL_SOURCE_COUPLES);
    while ((err = kd_cesr_next_seal_src(&it, &ss)) == KD_OK) {
        const struct kd_cesr_code_info *si = kd_cesr_code_info(ss.said.code);

        if (si == NULL || si->fs > KD_KEL_ID_MAX ||
            !kd_kel_prim_text(&ss.said, s->seal_said, KD_KEL_ID_MAX))
            continue;
        s->has_seal = true;
        s->seal_sn = ss.sn;
    }
    return err == KD_ENOTFOUND ? KD_OK : KD_EBADCESR;
}

enum kd_err kd_kel_sigset_add_text(struct kd_kel_sigset *s, const void *text, size_t len,
                                   unsigned max)
{
    struct kd_cesr_attachments att;
    struct kd_cesr_error e;
    enum kd_err err;

    if (len == 0)
        return KD_OK;
    err = kd_cesr_attach_parse(text, len, 0, NULL, &att, &e);
    if (err != KD_OK)
        return err == KD_ENOMEM ? err : KD_EBADCESR;
    return kd_kel_sigset_add_att(s, &att, max);
}

enum kd_err kd_kel_siger_text(unsigned index, int32_t ondex, const unsigned char sig[64],
                              char out[KD_KEL_SIG_TEXT_MAX + 1])
{
    const bool small = index < 64 && (ondex == KD_CESR_ONDEX_NONE || ondex == (int32_t)index);

    return kd_cesr_siger_encode(small ? KD_CESR_IDX_ED25519 : KD_CESR_IDX_ED25519_BIG, index, ondex,
                                sig, 64, out, KD_KEL_SIG_TEXT_MAX + 1, NULL);
}

static enum kd_err kd_kel_counter(struct kd_buf *out, enum kd_cesr_ctr code, unsigned n)
{
    char c[8];
    size_t len;
    enum kd_err err = kd_cesr_counter_encode(code, n, c, sizeof c, &len);

    return err == KD_OK ? kd_buf_append(out, c, len) : err;
}

enum kd_err kd_kel_sigset_text(const struct kd_kel_sigset *s, bool sigs_verified,
                               bool rcts_verified, struct kd_buf *out)
{
    unsigned n;
    enum kd_err err = KD_OK;

    kd_buf_reset(out);
#define KD_KEEP_(x)  (!sigs_verified || (x).verified)
#define KD_KEEPR_(x) (!rcts_verified || (x).verified)
#define KD_TRY_(x)                                                                                 \
    do {                                                                                           \
        if ((err = (x)) != KD_OK)                                                                  \
            goto out;                                                                              \
    } while (0)
    n = 0;
    for (unsigned i = 0; i < s->nsigs; i++)
        n += KD_KEEP_(s->sigs[i]);
    if (n > 0) {
        KD_TRY_(kd_kel_counter(out, KD_CESR_CTR_CONTROLLER_IDX_SIGS, n));
        for (unsigned i = 0; i < s->nsigs; i++)
            if (KD_KEEP_(s->sigs[i]))
                KD_TRY_(kd_buf_append(out, s->sigs[i].qb64, s->sigs[i].len));
    }
    n = 0;
    for (unsigned i = 0; i < s->nwigs; i++)
        n += KD_KEEPR_(s->wigs[i]);
    if (n > 0) {
        KD_TRY_(kd_kel_counter(out, KD_CESR_CTR_WITNESS_IDX_SIGS, n));
        for (unsigned i = 0; i < s->nwigs; i++)
            if (KD_KEEPR_(s->wigs[i]))
                KD_TRY_(kd_buf_append(out, s->wigs[i].qb64, s->wigs[i].len));
    }
    n = 0;
    for (unsigned i = 0; i < s->ncouples; i++)
        n += KD_KEEPR_(s->couples[i]);
    if (n > 0) {
        KD_TRY_(kd_kel_counter(out, KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES, n));
        for (unsigned i = 0; i < s->ncouples; i++)
            if (KD_KEEPR_(s->couples[i])) {
                KD_TRY_(kd_buf_append_str(out, s->couples[i].prefix));
                KD_TRY_(kd_buf_append_str(out, s->couples[i].sig_qb64));
            }
    }
    n = 0;
    for (unsigned i = 0; i < s->ntsigs; i++)
        n += KD_KEEPR_(s->tsigs[i]);
    if (n > 0) {
        char sn[KD_CESR_SN_QB64_LEN + 1];

        KD_TRY_(kd_kel_counter(out, KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES, n));
        for (unsigned i = 0; i < s->ntsigs; i++)
            if (KD_KEEPR_(s->tsigs[i])) {
                KD_TRY_(kd_cesr_sn_encode(s->tsigs[i].sn, sn, sizeof sn));
                KD_TRY_(kd_buf_append_str(out, s->tsigs[i].prefix));
                KD_TRY_(kd_buf_append_str(out, sn));
                KD_TRY_(kd_buf_append_str(out, s->tsigs[i].said));
                KD_TRY_(kd_buf_append_str(out, s->tsigs[i].sig_qb64));
            }
    }
    if (s->has_seal) {
        char sn[KD_CESR_SN_QB64_LEN + 1];

        KD_TRY_(kd_kel_counter(out, KD_CESR_CTR_SEAL_SOURCE_COUPLES, 1));
        KD_TRY_(kd_cesr_sn_encode(s->seal_sn, sn, sizeof sn));
        KD_TRY_(kd_buf_append_str(out, sn));
        KD_TRY_(kd_buf_append_str(out, s->seal_said));
    }
#undef KD_KEEP_
#undef KD_KEEPR_
#undef KD_TRY_
out:
    if (err != KD_OK)
        kd_buf_reset(out);
    return err;
}
