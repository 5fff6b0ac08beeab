/*
 * KEL replay in keriox's form (keriox-surface §3.6): each stored event is
 * its received bytes, then [-GAB delegation seal], -A## controller
 * signatures and one -CAB group per receipt entry. Witness signatures
 * stored as wigs (indexed, from -B groups, from -C couples of listed
 * witnesses, and this witness's own) are turned back into couples with the
 * prefix of the witness at that index in the list in force for the event.
 */
#include "witness_int.h"

#include <stdio.h>
#include <string.h>

#include "kerid/cesr.h"
#include "kerid/crypto.h"
#include "kerid/kel.h"
#include "kerid/log.h"

/* Collected signatures of one event. */
struct kd_wit_sigs {
    struct kd_buf *out;            /* -A sigs appended here */
    struct kd_buf *rcts;           /* receipt groups appended here */
    unsigned count;                /* -A sigs seen */
    const struct kd_kel_state *st; /* witnesses in force (wigs) */
};

static enum kd_err kd_wit_ctl_cb(const char *sig, size_t len, void *arg)
{
    struct kd_wit_sigs *s = arg;

    s->count++;
    return kd_buf_append(s->out, sig, len);
}

static enum kd_err kd_wit_nt_cb(const char *sig, size_t len, void *arg)
{
    struct kd_wit_sigs *s = arg;
    enum kd_err e = kd_buf_append_str(s->rcts, "-CAB");

    return e == KD_OK ? kd_buf_append(s->rcts, sig, len) : e;
}

/* A wig (Ed25519 indexed signature, current-only or both-lists code) as
 * -CAB + witness prefix + 0B signature. Other codes are skipped. */
static enum kd_err kd_wit_wig_cb(const char *sig, size_t len, void *arg)
{
    struct kd_wit_sigs *s = arg;
    struct kd_cesr_siger sg;
    char qb64[KD_SIG_QB64_LEN + 1];
    const char *why = NULL;
    enum kd_err e;

    if (s->st == NULL)
        return KD_OK;
    if (kd_cesr_siger_decode(sig, len, &sg, NULL, &why) != KD_OK || sg.sig_len != 64 ||
        sg.index >= s->st->nwits) {
        kd_log_warn("witness", "replay: skipped a stored witness signature (%s)",
                    why != NULL ? why : "index or size");
        return KD_OK;
    }
    if ((e = kd_cesr_qb64_encode(KD_CESR_ED25519_SIG, sg.sig, 64, qb64, sizeof(qb64), NULL)) !=
        KD_OK)
        return e;
    return kd_wit_append_cab(s->rcts, kd_kel_str(s->st, s->st->wits[sg.index]), qb64);
}

/* Appends the rct body {v,t,d,i,s} for ev (keriox-surface §3.4), unsigned. */
static enum kd_err kd_wit_rct_body(struct kd_buf *out, const struct kd_store_event *ev)
{
    char hex[KD_CESR_SN_HEX_MAX + 1];
    size_t n;

    if (kd_cesr_sn_hex(ev->sn, hex, sizeof(hex)) == 0)
        return KD_EINTERNAL;
    /* 17 chars of version string + the rest */
    n = strlen("{\"v\":\"KERI10JSON000000_\",\"t\":\"rct\",\"d\":\"\",\"i\":\"\",\"s\":\"\"}") +
        strlen(ev->said) + strlen(ev->prefix) + strlen(hex);
    if (n > 0xffffff)
        return KD_ETOOLARGE;
    return kd_buf_printf(
        out, "{\"v\":\"KERI10JSON%06zx_\",\"t\":\"rct\",\"d\":\"%s\",\"i\":\"%s\",\"s\":\"%s\"}", n,
        ev->said, ev->prefix, hex);
}

enum kd_err kd_wit_replay_event(struct kd_store_rd *rd, const struct kd_store_event *ev,
                                bool with_rct, struct kd_buf *out)
{
    struct kd_wit_sigs s;
    struct kd_buf sigs, rcts;
    struct kd_kel_state *st = NULL;
    char dsaid[KD_STORE_ID_MAX + 1], sn_qb64[KD_CESR_SN_QB64_LEN + 1], ctr[8];
    uint64_t dsn = 0;
    enum kd_err e;

    kd_buf_init(&sigs, KD_WIT_ANSWER_MAX);
    kd_buf_init(&rcts, KD_WIT_ANSWER_MAX);
    memset(&s, 0, sizeof(s));
    s.out = &sigs;
    s.rcts = &rcts;
    if ((e = kd_buf_append(out, ev->raw, ev->raw_len)) != KD_OK)
        goto out;
    if (strcmp(ev->ilk, "dip") == 0 || strcmp(ev->ilk, "drt") == 0) {
        e = kd_store_anchor_get(rd, ev->said, &dsn, dsaid);
        if (e == KD_OK) {
            if ((e = kd_cesr_sn_encode(dsn, sn_qb64, sizeof(sn_qb64))) != KD_OK ||
                (e = kd_buf_printf(out, "-GAB%s%s", sn_qb64, dsaid)) != KD_OK)
                goto out;
        } else if (e != KD_ENOTFOUND) {
            goto out;
        }
    }
    if ((e = kd_store_sig_each(rd, ev->said, KD_STORE_SIG_CONTROLLER, kd_wit_ctl_cb, &s)) != KD_OK)
        goto out;
    if (s.count > 0) {
        if ((e = kd_cesr_counter_encode(KD_CESR_CTR_CONTROLLER_IDX_SIGS, s.count, ctr, sizeof(ctr),
                                        NULL)) != KD_OK ||
            (e = kd_buf_append_str(out, ctr)) != KD_OK ||
            (e = kd_buf_append(out, sigs.data, sigs.len)) != KD_OK)
            goto out;
    }
    e = kd_kel_state_at(rd, ev->prefix, ev->sn, &st);
    if (e != KD_OK && e != KD_ENOTFOUND)
        goto out;
    s.st = st;
    if ((e = kd_store_sig_each(rd, ev->said, KD_STORE_SIG_WITNESS, kd_wit_wig_cb, &s)) != KD_OK ||
        (e = kd_store_sig_each(rd, ev->said, KD_STORE_SIG_NT_RECEIPT, kd_wit_nt_cb, &s)) != KD_OK)
        goto out;
    if (!with_rct) {
        e = kd_buf_append(out, rcts.data, rcts.len);
    } else if (rcts.len > 0) {
        /* the event carries its receipts too (watcher-POST-query-logs-range) */
        if ((e = kd_buf_append(out, rcts.data, rcts.len)) != KD_OK ||
            (e = kd_wit_rct_body(out, ev)) != KD_OK)
            goto out;
        e = kd_buf_append(out, rcts.data, rcts.len);
    }
out:
    kd_kel_state_free(st);
    kd_buf_free(&sigs);
    kd_buf_free(&rcts);
    return e;
}

struct kd_wit_kel_ctx {
    struct kd_store_rd *rd;
    struct kd_buf *out;
};

static enum kd_err kd_wit_kel_cb(const struct kd_store_event *ev, void *arg)
{
    struct kd_wit_kel_ctx *c = arg;

    return kd_wit_replay_event(c->rd, ev, false, c->out);
}

enum kd_err kd_wit_replay_kel(struct kd_store_rd *rd, const char *prefix, struct kd_buf *out)
{
    struct kd_wit_kel_ctx c = {rd, out};

    return kd_store_kel_each(rd, prefix, 0, 0, kd_wit_kel_cb, &c);
}
