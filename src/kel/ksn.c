/*
 * Messages built from key state: key state notices in keriox's and keripy's
 * forms (keriox-surface §3.7, keri-core §3.3) and the witness receipt
 * (keri-core §6.4, keriox-surface §3.4). Bodies are written compact, in
 * the field order the readers re-create, then their size and SAID are
 * filled by kd_said_fill, which also parses the result with every check.
 */
#include <stdlib.h>
#include <string.h>

#include "kel_eng.h"
#include "kerid/clock.h"

/* sn in decimal (keriox writes KSN s that way). */
static void kd_kel_sn_dec(kd_sn_t v, char out[41])
{
    char t[41];
    size_t n = 0;

    do {
        t[n++] = (char)('0' + (unsigned)(v % 10));
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    out[n] = '\0';
}

static enum kd_err kd_kel_json_list(struct kd_buf *b, const struct kd_kel_state *st,
                                    const struct kd_kel_ref *list, unsigned n)
{
    enum kd_err err = kd_buf_append(b, "[", 1);

    for (unsigned i = 0; i < n && err == KD_OK; i++)
        err = kd_buf_printf(b, "%s\"%s\"", i > 0 ? "," : "", kd_kel_str(st, list[i]));
    return err == KD_OK ? kd_buf_append(b, "]", 1) : err;
}

/* The fields kt, k, nt, n, bt, b common to both forms (each preceded by a comma). */
static enum kd_err kd_kel_json_keys(struct kd_buf *b, const struct kd_kel_state *st)
{
    char bt[KD_CESR_SN_HEX_MAX + 1];
    enum kd_err err;

    kd_cesr_sn_hex(st->bt, bt, sizeof bt);
    if ((err = kd_buf_printf(b, ",\"kt\":%s,\"k\":", kd_kel_str(st, st->kt))) != KD_OK ||
        (err = kd_kel_json_list(b, st, st->keys, st->nkeys)) != KD_OK ||
        (err = kd_buf_printf(b, ",\"nt\":%s,\"n\":", kd_kel_str(st, st->nt))) != KD_OK ||
        (err = kd_kel_json_list(b, st, st->ndigs, st->nndigs)) != KD_OK ||
        (err = kd_buf_printf(b, ",\"bt\":\"%s\",\"b\":", bt)) != KD_OK)
        return err;
    return kd_kel_json_list(b, st, st->wits, st->nwits);
}

/* Fills the template's size and SAID (one parse of it, which checks it). */
static enum kd_err kd_kel_fill(struct kd_buf *out, size_t start)
{
    struct kd_event *ev = malloc(sizeof *ev);
    enum kd_err err;

    if (ev == NULL)
        return KD_ENOMEM;
    err = kd_said_fill(ev, out->data + start, out->len - start, NULL);
    free(ev);
    return err;
}

static const char kd_kel_rpy_head[] = "{\"v\":\"#################\",\"t\":\"rpy\",\"d\":"
                                      "\"############################################\"";

enum kd_err kd_kel_ksn_keriox(struct kd_buf *out, const struct kd_kel_state *st, const char *signer,
                              int64_t rpy_dt_us, int64_t ksn_dt_us)
{
    const size_t start = out != NULL ? out->len : 0;
    const bool rot = st != NULL && (st->ee_ilk == KD_ILK_ROT || st->ee_ilk == KD_ILK_DRT);
    char rdt[KD_DATETIME_LEN + 1], kdt[KD_DATETIME_LEN + 1];
    char sn[41], ees[KD_CESR_SN_HEX_MAX + 1];
    enum kd_err err;

    if (out == NULL || st == NULL || signer == NULL || strlen(signer) > KD_KEL_ID_MAX)
        return KD_EINVAL;
    kd_clock_format_dt(rpy_dt_us, rdt);
    kd_clock_format_dt(ksn_dt_us, kdt);
    kd_kel_sn_dec(st->sn, sn);
    kd_cesr_sn_hex(st->ee_sn, ees, sizeof ees);
    err =
        kd_buf_printf(out,
                      "%s,\"dt\":\"%s\",\"r\":\"/ksn/%s\",\"a\":{\"v\":\"KERI10JSON000000_\","
                      "\"i\":\"%s\",\"s\":\"%s\",\"p\":null,\"d\":\"%s\",\"f\":\"0\",\"dt\":\"%s\","
                      "\"et\":null",
                      kd_kel_rpy_head, rdt, signer, st->prefix, sn, st->said, kdt);
    if (err == KD_OK)
        err = kd_kel_json_keys(out, st);
    /* keriox's ee after a rotation: d is the rotation's prior event, br the
     * added and ba the removed witnesses */
    if (err == KD_OK)
        err = kd_buf_printf(out, ",\"c\":[],\"ee\":{\"s\":\"%s\",\"d\":\"%s\",\"br\":", ees,
                            rot ? st->ee_prior : st->ee_said);
    if (err == KD_OK)
        err = rot ? kd_kel_json_list(out, st, st->adds, st->nadds)
                  : kd_kel_json_list(out, st, st->cuts, st->ncuts);
    if (err == KD_OK)
        err = kd_buf_append_str(out, ",\"ba\":");
    if (err == KD_OK)
        err = rot ? kd_kel_json_list(out, st, st->cuts, st->ncuts)
                  : kd_kel_json_list(out, st, st->adds, st->nadds);
    if (err == KD_OK)
        err = kd_buf_printf(out, "},\"di\":\"%s\"}}", st->delegator);
    if (err == KD_OK)
        err = kd_kel_fill(out, start);
    if (err != KD_OK)
        out->len = start;
    return err;
}

enum kd_err kd_kel_ksn_keripy(struct kd_buf *out, const struct kd_kel_state *st, const char *signer,
                              int64_t rpy_dt_us)
{
    const size_t start = out != NULL ? out->len : 0;
    char rdt[KD_DATETIME_LEN + 1], kdt[KD_DATETIME_LEN + 1];
    char sn[KD_CESR_SN_HEX_MAX + 1], fn[KD_CESR_SN_HEX_MAX + 1], ees[KD_CESR_SN_HEX_MAX + 1];
    enum kd_err err;

    if (out == NULL || st == NULL || signer == NULL || strlen(signer) > KD_KEL_ID_MAX)
        return KD_EINVAL;
    kd_clock_format_dt(rpy_dt_us, rdt);
    kd_clock_format_dt(st->dt_us, kdt);
    kd_cesr_sn_hex(st->sn, sn, sizeof sn);
    kd_cesr_sn_hex(st->fn, fn, sizeof fn);
    kd_cesr_sn_hex(st->ee_sn, ees, sizeof ees);
    err = kd_buf_printf(out,
                        "%s,\"dt\":\"%s\",\"r\":\"/ksn/%s\",\"a\":{\"vn\":[1,0],\"i\":\"%s\","
                        "\"s\":\"%s\",\"p\":\"%s\",\"d\":\"%s\",\"f\":\"%s\",\"dt\":\"%s\","
                        "\"et\":\"%s\"",
                        kd_kel_rpy_head, rdt, signer, st->prefix, sn, st->prior, st->said, fn, kdt,
                        kd_ilk_name(st->ilk));
    if (err == KD_OK)
        err = kd_kel_json_keys(out, st);
    if (err == KD_OK)
        err = kd_buf_printf(out, ",\"c\":[%s%s%s]", (st->traits & KD_TRAIT_EO) ? "\"EO\"" : "",
                            (st->traits & KD_TRAIT_EO) && (st->traits & KD_TRAIT_DND) ? "," : "",
                            (st->traits & KD_TRAIT_DND) ? "\"DND\"" : "");
    if (err == KD_OK)
        err = kd_buf_printf(out, ",\"ee\":{\"s\":\"%s\",\"d\":\"%s\",\"br\":", ees, st->ee_said);
    if (err == KD_OK)
        err = kd_kel_json_list(out, st, st->cuts, st->ncuts);
    if (err == KD_OK)
        err = kd_buf_append_str(out, ",\"ba\":");
    if (err == KD_OK)
        err = kd_kel_json_list(out, st, st->adds, st->nadds);
    if (err == KD_OK)
        err = kd_buf_printf(out, "},\"di\":\"%s\"}}", st->delegator);
    if (err == KD_OK)
        err = kd_kel_fill(out, start);
    if (err != KD_OK)
        out->len = start;
    return err;
}

enum kd_err kd_kel_receipt_msg(struct kd_buf *out, const char *prefix, kd_sn_t sn, const char *said,
                               const char *wit_prefix, const char *sig_qb64)
{
    const size_t start = out != NULL ? out->len : 0;
    char snh[KD_CESR_SN_HEX_MAX + 1];
    struct kd_cesr_prim p;
    enum kd_err err;

    if (out == NULL || prefix == NULL || said == NULL || wit_prefix == NULL || sig_qb64 == NULL ||
        strlen(prefix) > KD_KEL_ID_MAX || strlen(said) > KD_KEL_ID_MAX)
        return KD_EINVAL;
    if (kd_cesr_qb64_decode(wit_prefix, strlen(wit_prefix), &p, NULL, NULL) != KD_OK ||
        p.code != KD_CESR_ED25519N ||
        kd_cesr_qb64_decode(sig_qb64, strlen(sig_qb64), &p, NULL, NULL) != KD_OK ||
        p.code != KD_CESR_ED25519_SIG)
        return KD_EINVAL;
    kd_cesr_sn_hex(sn, snh, sizeof snh);
    err = kd_buf_printf(out,
                        "{\"v\":\"#################\",\"t\":\"rct\",\"d\":\"%s\",\"i\":\"%s\","
                        "\"s\":\"%s\"}",
                        said, prefix, snh);
    if (err == KD_OK)
        err = kd_kel_fill(out, start);
    if (err == KD_OK)
        err = kd_buf_printf(out, "-CAB%s%s", wit_prefix, sig_qb64);
    if (err != KD_OK)
        out->len = start;
    return err;
}
