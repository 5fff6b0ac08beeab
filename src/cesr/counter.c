/*
 * Count (framing) codes of CESR v1 (keripy CounterCodex_1_0, keri-core §1.6):
 * the table generated from KD_CESR_CTR_CODES, decode and encode.
 */
#include <string.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

#define KD_CESR_CTR_CHECK_(code, hs, ss, name)                                                     \
    _Static_assert(sizeof(code) - 1 == (hs), "hard size of " #name);                               \
    _Static_assert(((hs) + (ss)) % 4 == 0, "full size of " #name);                                 \
    _Static_assert((ss) <= 5, "soft size of " #name);
KD_CESR_CTR_CODES(KD_CESR_CTR_CHECK_)
#undef KD_CESR_CTR_CHECK_

static const struct kd_cesr_ctr_info kd_cesr_ctr_table[KD_CESR_CTR_COUNT_] = {
#define KD_CESR_CTR_ROW_(code, hs, ss, name) {code, #name, hs, ss},
    KD_CESR_CTR_CODES(KD_CESR_CTR_ROW_)
#undef KD_CESR_CTR_ROW_
};

/* Table entry for c, or NULL when c is out of range. */
const struct kd_cesr_ctr_info *kd_cesr_ctr_info(enum kd_cesr_ctr c)
{
    if ((unsigned)c >= KD_CESR_CTR_COUNT_)
        return NULL;
    return &kd_cesr_ctr_table[c];
}

KD_CESR_DEFINE_TABLE_SEARCH(kd_cesr_ctr_lookup, kd_cesr_ctr_table, KD_CESR_CTR_COUNT_)

/* Scanner for a count code; see cesr_int.h. */
enum kd_cesr_scan kd_cesr_scan_counter_(const char *text, size_t n, struct kd_cesr_counter *ctr,
                                        size_t *len, const char **why)
{
    const struct kd_cesr_ctr_info *ci;
    unsigned hs;
    int64_t count;
    int c;

    if (n == 0) {
        *len = 1;
        return KD_CESR_SCAN_SHORT;
    }
    if (text[0] != '-') {
        kd_cesr_why(why, text[0] == '_' ? "op codes are not supported" : "expected a count code");
        return KD_CESR_SCAN_BAD;
    }
    if (n < 2) {
        *len = 2;
        return KD_CESR_SCAN_SHORT;
    }
    if ((text[1] >= 'A' && text[1] <= 'Z') || (text[1] >= 'a' && text[1] <= 'z'))
        hs = 2;
    else if (text[1] == '0')
        hs = 3;
    else if (text[1] == '-')
        hs = 5;
    else {
        kd_cesr_why(why, "unknown count code");
        return KD_CESR_SCAN_BAD;
    }
    if (n < hs) {
        *len = hs;
        return KD_CESR_SCAN_SHORT;
    }
    c = kd_cesr_ctr_lookup(text, hs);
    if (c < 0) {
        kd_cesr_why(why, "unknown count code");
        return KD_CESR_SCAN_BAD;
    }
    ci = &kd_cesr_ctr_table[c];
    if (n < (size_t)ci->hs + ci->ss) {
        *len = (size_t)ci->hs + ci->ss;
        return KD_CESR_SCAN_SHORT;
    }
    count = kd_cesr_b64_int_(text + ci->hs, ci->ss);
    if (count < 0) {
        kd_cesr_why(why, "invalid count digits");
        return KD_CESR_SCAN_BAD;
    }
    ctr->code = (enum kd_cesr_ctr)c;
    ctr->count = (uint32_t)count;
    *len = (size_t)ci->hs + ci->ss;
    return KD_CESR_SCAN_OK;
}

/* Decode; see cesr.h. */
enum kd_err kd_cesr_counter_decode(const char *text, size_t n, struct kd_cesr_counter *out,
                                   size_t *consumed, const char **why)
{
    struct kd_cesr_counter ctr;
    size_t len = 0;

    if (out == NULL || (text == NULL && n > 0)) {
        kd_cesr_why(why, "no output");
        return KD_EINVAL;
    }
    switch (kd_cesr_scan_counter_(text, n, &ctr, &len, why)) {
    case KD_CESR_SCAN_OK:
        break;
    case KD_CESR_SCAN_SHORT:
        kd_cesr_why(why, "truncated count code");
        return KD_EBADCESR;
    default:
        return KD_EBADCESR;
    }
    if (consumed == NULL && n != len) {
        kd_cesr_why(why, "trailing characters after the count code");
        return KD_EBADCESR;
    }
    *out = ctr;
    if (consumed)
        *consumed = len;
    return KD_OK;
}

/* Encode; see cesr.h. */
enum kd_err kd_cesr_counter_encode(enum kd_cesr_ctr code, uint32_t count, char *out, size_t cap,
                                   size_t *out_len)
{
    const struct kd_cesr_ctr_info *ci = kd_cesr_ctr_info(code);
    size_t fs;

    if (ci == NULL || out == NULL)
        return KD_EINVAL;
    fs = (size_t)ci->hs + ci->ss;
    if (cap <= fs || count >= (uint32_t)1 << (6 * ci->ss))
        return KD_EINVAL;
    memcpy(out, ci->code, ci->hs);
    kd_cesr_b64_digits_(count, out + ci->hs, ci->ss);
    out[fs] = '\0';
    if (out_len)
        *out_len = fs;
    return KD_OK;
}
