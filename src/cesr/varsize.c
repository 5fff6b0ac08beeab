/*
 * Variable-size primitives with lead bytes (keri-core §1.2): Bexter paths,
 * byte strings and ciphertexts, read as spans of the input (never copied).
 */
#include <string.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

/* Family letter → type, -1 if kerid does not know it. */
static int kd_cesr_var_type_of(char letter)
{
    switch (letter) {
#define KD_CESR_VAR_CASE_(l, name)                                                                 \
    case l:                                                                                        \
        return KD_CESR_VAR_##name;
        KD_CESR_VAR_CODES(KD_CESR_VAR_CASE_)
#undef KD_CESR_VAR_CASE_
    default:
        return -1;
    }
}

/* Scanner for a variable-size primitive; see cesr_int.h. */
enum kd_cesr_scan kd_cesr_scan_var_(const char *text, size_t n, struct kd_cesr_var *var,
                                    size_t *len, const char **why)
{
    unsigned hs;
    unsigned ss;
    unsigned ls;
    int type;
    int64_t size;
    size_t cs;
    size_t fs;

    if (n == 0) {
        *len = 1;
        return KD_CESR_SCAN_SHORT;
    }
    if (text[0] < '4' || text[0] > '9') {
        kd_cesr_why(why, "not a variable-size primitive");
        return KD_CESR_SCAN_BAD;
    }
    hs = text[0] <= '6' ? 2 : 4;
    ss = hs;
    ls = (unsigned)(text[0] - '4') % 3;
    if (n < hs) {
        *len = hs;
        return KD_CESR_SCAN_SHORT;
    }
    type = kd_cesr_var_type_of(text[hs - 1]);
    if (type < 0 || (hs == 4 && (text[1] != 'A' || text[2] != 'A'))) {
        kd_cesr_why(why, "unknown variable-size primitive code");
        return KD_CESR_SCAN_BAD;
    }
    cs = (size_t)hs + ss;
    if (n < cs) {
        *len = cs;
        return KD_CESR_SCAN_SHORT;
    }
    size = kd_cesr_b64_int_(text + hs, ss);
    if (size < 0) {
        kd_cesr_why(why, "invalid size digits");
        return KD_CESR_SCAN_BAD;
    }
    if ((uint64_t)size * 3 < ls) {
        kd_cesr_why(why, "variable-size primitive shorter than its lead bytes");
        return KD_CESR_SCAN_BAD;
    }
    fs = cs + (size_t)size * 4;
    if (n < fs) {
        *len = fs;
        return KD_CESR_SCAN_SHORT;
    }
    if (kd_cesr_b64_span_(text + cs, fs - cs) != fs - cs) {
        kd_cesr_why(why, "invalid base64url character");
        return KD_CESR_SCAN_BAD;
    }
    if ((ls == 1 && (text[cs] != 'A' || kd_cesr_b64_values_[(unsigned char)text[cs + 1]] >= 16)) ||
        (ls == 2 && (text[cs] != 'A' || text[cs + 1] != 'A' ||
                     kd_cesr_b64_values_[(unsigned char)text[cs + 2]] >= 4))) {
        kd_cesr_why(why, "non-zero lead bytes");
        return KD_CESR_SCAN_BAD;
    }
    var->type = (enum kd_cesr_var_type)type;
    var->hs = (uint8_t)hs;
    var->ls = (uint8_t)ls;
    var->size = (uint32_t)size;
    var->qb64 = text;
    var->qb64_len = fs;
    var->raw_len = (size_t)size * 3 - ls;
    *len = fs;
    return KD_CESR_SCAN_OK;
}

/* Strict read; see cesr.h. */
enum kd_err kd_cesr_var_decode(const char *text, size_t n, struct kd_cesr_var *out,
                               size_t *consumed, const char **why)
{
    struct kd_cesr_var v;
    size_t len = 0;

    if (out == NULL || (text == NULL && n > 0)) {
        kd_cesr_why(why, "no output");
        return KD_EINVAL;
    }
    switch (kd_cesr_scan_var_(text, n, &v, &len, why)) {
    case KD_CESR_SCAN_OK:
        break;
    case KD_CESR_SCAN_SHORT:
        kd_cesr_why(why, "truncated variable-size primitive");
        return KD_EBADCESR;
    default:
        return KD_EBADCESR;
    }
    if (consumed == NULL && n != len) {
        kd_cesr_why(why, "trailing characters after the variable-size primitive");
        return KD_EBADCESR;
    }
    *out = v;
    if (consumed)
        *consumed = len;
    return KD_OK;
}

/* Bexter text: material minus its wad of 'A's; see cesr.h. */
enum kd_err kd_cesr_var_bext(const struct kd_cesr_var *v, const char **text, size_t *len)
{
    size_t cs;
    size_t ws;
    size_t mlen;

    if (v == NULL || text == NULL || len == NULL || v->type != KD_CESR_VAR_STR_B64)
        return KD_EINVAL;
    cs = (size_t)v->hs * 2;
    mlen = v->qb64_len - cs;
    ws = v->ls == 0 ? (mlen > 0 && v->qb64[cs] == 'A') : (size_t)v->ls + 1;
    if (ws > mlen)
        return KD_EBADCESR;
    for (size_t i = 0; i < ws; i++) {
        if (v->qb64[cs + i] != 'A')
            return KD_EBADCESR;
    }
    *text = v->qb64 + cs + ws;
    *len = mlen - ws;
    return KD_OK;
}
