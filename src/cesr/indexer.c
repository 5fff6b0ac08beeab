/*
 * Indexed signatures (keripy Indexer / Siger, keri-core §1.5): the code
 * table generated from KD_CESR_IDX_CODES, its lookup, decode and encode.
 */
#include <string.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

/* Compile-time checks of every row: cs = hs + ss, ps = cs % 4 pad chars,
 * fs = cs + (ps + raw) * 4 / 3 - ps, and the buffer bounds. */
#define KD_CESR_IDX_CHECK_(code, hs, ss, os, fs, raw, both, name)                                  \
    _Static_assert(sizeof(code) - 1 == (hs), "hard size of " #name);                               \
    _Static_assert((os) < (ss), "ondex size of " #name);                                           \
    _Static_assert(((raw) + ((hs) + (ss)) % 4) % 3 == 0, "pad size of " #name);                    \
    _Static_assert((fs) == (hs) + (ss) + ((raw) + ((hs) + (ss)) % 4) / 3 * 4 - ((hs) + (ss)) % 4,  \
                   "full size of " #name);                                                         \
    _Static_assert((raw) <= KD_CESR_SIG_RAW_MAX, "KD_CESR_SIG_RAW_MAX for " #name);                \
    _Static_assert((fs) <= KD_CESR_SIG_QB64_MAX, "KD_CESR_SIG_QB64_MAX for " #name);
KD_CESR_IDX_CODES(KD_CESR_IDX_CHECK_)
#undef KD_CESR_IDX_CHECK_

static const struct kd_cesr_idx_info kd_cesr_idx_table[KD_CESR_IDX_CODE_COUNT_] = {
#define KD_CESR_IDX_ROW_(code, hs, ss, os, fs, raw, both, name)                                    \
    {code, #name, hs, ss, os, fs, raw, both},
    KD_CESR_IDX_CODES(KD_CESR_IDX_ROW_)
#undef KD_CESR_IDX_ROW_
};

/* Table entry for c, or NULL when c is out of range. */
const struct kd_cesr_idx_info *kd_cesr_idx_info(enum kd_cesr_idx_code c)
{
    if ((unsigned)c >= KD_CESR_IDX_CODE_COUNT_)
        return NULL;
    return &kd_cesr_idx_table[c];
}

/* Indexer hard size from the first character (keripy Indexer.Hards). */
static unsigned kd_cesr_idx_hard_size(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return 1;
    if (c >= '0' && c <= '4')
        return 2;
    return 0;
}

KD_CESR_DEFINE_TABLE_SEARCH(kd_cesr_idx_lookup, kd_cesr_idx_table, KD_CESR_IDX_CODE_COUNT_)

/* Scanner for an indexed signature; see cesr_int.h. */
enum kd_cesr_scan kd_cesr_scan_siger_(const char *text, size_t n, enum kd_cesr_idx_code *code,
                                      size_t *len, const char **why)
{
    const struct kd_cesr_idx_info *ii;
    unsigned hs;
    unsigned cs;
    unsigned ps;
    int c;

    if (n == 0) {
        *len = 1;
        return KD_CESR_SCAN_SHORT;
    }
    hs = kd_cesr_idx_hard_size((unsigned char)text[0]);
    if (hs == 0) {
        kd_cesr_why(why, text[0] == '-'   ? "count code where an indexed signature was expected"
                         : text[0] == '_' ? "op code where an indexed signature was expected"
                                          : "invalid indexed signature code");
        return KD_CESR_SCAN_BAD;
    }
    if (n < hs) {
        *len = hs;
        return KD_CESR_SCAN_SHORT;
    }
    c = kd_cesr_idx_lookup(text, hs);
    if (c < 0) {
        kd_cesr_why(why, "unknown indexed signature code");
        return KD_CESR_SCAN_BAD;
    }
    ii = &kd_cesr_idx_table[c];
    if (n < ii->fs) {
        *len = ii->fs;
        return KD_CESR_SCAN_SHORT;
    }
    if (kd_cesr_b64_span_(text + hs, (size_t)(ii->fs - hs)) != (size_t)(ii->fs - hs)) {
        kd_cesr_why(why, "invalid base64url character");
        return KD_CESR_SCAN_BAD;
    }
    cs = (unsigned)ii->hs + ii->ss;
    if (!ii->both && ii->os > 0 && kd_cesr_b64_int_(text + cs - ii->os, ii->os) != 0) {
        kd_cesr_why(why, "non-zero ondex in a current-only signature code");
        return KD_CESR_SCAN_BAD;
    }
    ps = cs % 4;
    if (ps != 0 && kd_cesr_b64_values_[(unsigned char)text[cs]] >> (6 - 2 * ps) != 0) {
        kd_cesr_why(why, "non-zero pad bits (non-canonical qb64)");
        return KD_CESR_SCAN_BAD;
    }
    *code = (enum kd_cesr_idx_code)c;
    *len = ii->fs;
    return KD_CESR_SCAN_OK;
}

/* Strict decode; see cesr.h. */
enum kd_err kd_cesr_siger_decode(const char *text, size_t n, struct kd_cesr_siger *out,
                                 size_t *consumed, const char **why)
{
    const struct kd_cesr_idx_info *ii;
    enum kd_cesr_idx_code code;
    char quads[KD_CESR_SIG_QB64_MAX + 4];
    unsigned char bytes[KD_CESR_SIG_RAW_MAX + 4];
    size_t len = 0;
    size_t blen = 0;
    unsigned cs;
    unsigned ps;
    enum kd_err err;

    if (out == NULL || (text == NULL && n > 0)) {
        kd_cesr_why(why, "no output");
        return KD_EINVAL;
    }
    switch (kd_cesr_scan_siger_(text, n, &code, &len, why)) {
    case KD_CESR_SCAN_OK:
        break;
    case KD_CESR_SCAN_SHORT:
        kd_cesr_why(why, "truncated indexed signature");
        return KD_EBADCESR;
    default:
        return KD_EBADCESR;
    }
    if (consumed == NULL && n != len) {
        kd_cesr_why(why, "trailing characters after the indexed signature");
        return KD_EBADCESR;
    }
    ii = &kd_cesr_idx_table[code];
    cs = (unsigned)ii->hs + ii->ss;
    ps = cs % 4;
    /* The code becomes ps zero sextets: a whole number of quadlets. */
    memset(quads, 'A', ps);
    memcpy(quads + ps, text + cs, ii->fs - cs);
    err = kd_cesr_b64_decode(quads, ps + ii->fs - cs, bytes, sizeof bytes, &blen, why);
    if (err != KD_OK)
        return err;
    out->code = code;
    out->index = (uint32_t)kd_cesr_b64_int_(text + ii->hs, (size_t)(ii->ss - ii->os));
    if (!ii->both)
        out->ondex = KD_CESR_ONDEX_NONE;
    else if (ii->os == 0)
        out->ondex = (int32_t)out->index;
    else
        out->ondex = (int32_t)kd_cesr_b64_int_(text + cs - ii->os, ii->os);
    out->qb64 = text;
    out->qb64_len = ii->fs;
    out->sig_len = blen - ps;
    memcpy(out->sig, bytes + ps, blen - ps);
    if (consumed)
        *consumed = ii->fs;
    return KD_OK;
}

/* Encodes code || index || ondex || b64(ps zeros || sig)[ps:]; see cesr.h. */
enum kd_err kd_cesr_siger_encode(enum kd_cesr_idx_code code, uint32_t index, int32_t ondex,
                                 const void *sig, size_t sig_len, char *out, size_t cap,
                                 size_t *out_len)
{
    const struct kd_cesr_idx_info *ii = kd_cesr_idx_info(code);
    unsigned char padded[KD_CESR_SIG_RAW_MAX + 2] = {0};
    char text[KD_CESR_SIG_QB64_MAX + 8];
    unsigned ms;
    unsigned cs;
    unsigned ps;
    size_t tlen;
    uint32_t od;
    enum kd_err err;

    if (ii == NULL || sig == NULL || sig_len != ii->raw || out == NULL || cap <= ii->fs)
        return KD_EINVAL;
    ms = (unsigned)ii->ss - ii->os;
    if (ms < 5 && index >= (uint32_t)1 << (6 * ms))
        return KD_EINVAL;
    if (!ii->both) {
        if (ondex != KD_CESR_ONDEX_NONE)
            return KD_EINVAL;
        od = 0;
    } else if (ondex == KD_CESR_ONDEX_NONE) {
        od = index;
    } else if (ondex < 0) {
        return KD_EINVAL;
    } else {
        od = (uint32_t)ondex;
    }
    if (ii->both && ii->os == 0 && od != index)
        return KD_EINVAL;
    if (ii->os > 0 && od >= (uint32_t)1 << (6 * ii->os))
        return KD_EINVAL;
    cs = (unsigned)ii->hs + ii->ss;
    ps = cs % 4;
    memcpy(padded + ps, sig, sig_len);
    err = kd_cesr_b64_encode(padded, ps + sig_len, text, sizeof text, &tlen);
    if (err != KD_OK)
        return err;
    memcpy(out, ii->code, ii->hs);
    kd_cesr_b64_digits_(index, out + ii->hs, ms);
    kd_cesr_b64_digits_(od, out + ii->hs + ms, ii->os);
    memcpy(out + cs, text + ps, tlen - ps);
    out[ii->fs] = '\0';
    if (out_len)
        *out_len = ii->fs;
    return KD_OK;
}
