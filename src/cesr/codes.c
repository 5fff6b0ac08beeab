/*
 * The primitive code table, generated from KD_CESR_CODES, and its lookup.
 */
#include <stddef.h>
#include <stdint.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

/* Compile-time checks of every table row (keri-core §1.2, fixed size, ls = 0). */
#define KD_CESR_CHECK_(code, hs, fs, raw, flags, name)                                             \
    _Static_assert(sizeof(code) - 1 == (hs), "hard size of " #name);                               \
    _Static_assert((hs) == 1 || (hs) == 2 || (hs) == 4, "hard size of " #name);                    \
    _Static_assert(((raw) + (hs) % 4) % 3 == 0, "pad size of " #name);                             \
    _Static_assert((fs) == (hs) + ((raw) + (hs) % 4) / 3 * 4 - (hs) % 4, "full size of " #name);   \
    _Static_assert((raw) <= KD_CESR_RAW_MAX, "KD_CESR_RAW_MAX too small for " #name);              \
    _Static_assert((fs) <= KD_CESR_QB64_MAX, "KD_CESR_QB64_MAX too small for " #name);
KD_CESR_CODES(KD_CESR_CHECK_)
#undef KD_CESR_CHECK_

static const struct kd_cesr_code_info kd_cesr_table[KD_CESR_CODE_COUNT_] = {
#define KD_CESR_ROW_(code, hs, fs, raw, flags, name) {code, #name, hs, fs, raw, flags},
    KD_CESR_CODES(KD_CESR_ROW_)
#undef KD_CESR_ROW_
};

/* Table entry for c, or NULL when c is out of range. */
const struct kd_cesr_code_info *kd_cesr_code_info(enum kd_cesr_code c)
{
    if ((unsigned)c >= KD_CESR_CODE_COUNT_)
        return NULL;
    return &kd_cesr_table[c];
}

/* Hard size from the first character (keri-core §1.3); 0 if none. */
unsigned kd_cesr_hard_size(unsigned char first)
{
    if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z'))
        return 1;
    switch (first) {
    case '0':
    case '4':
    case '5':
    case '6':
        return 2;
    case '1':
    case '2':
    case '3':
    case '7':
    case '8':
    case '9':
        return 4;
    default:
        return 0;
    }
}

KD_CESR_DEFINE_TABLE_SEARCH(kd_cesr_code_search, kd_cesr_table, KD_CESR_CODE_COUNT_)

/* First char → hard size, then binary search on the key. */
enum kd_err kd_cesr_code_lookup(const char *text, size_t n, enum kd_cesr_code *out,
                                const char **why)
{
    unsigned hs;
    int idx;

    if (text == NULL || n == 0) {
        kd_cesr_why(why, "empty");
        return KD_EBADCESR;
    }
    hs = kd_cesr_hard_size((unsigned char)text[0]);
    if (hs == 0) {
        kd_cesr_why(why, text[0] == '-' || text[0] == '_' ? "count or op code, not a primitive"
                                                          : "invalid base64url character");
        return KD_EBADCESR;
    }
    if (n < hs) {
        kd_cesr_why(why, "truncated code");
        return KD_EBADCESR;
    }
    if (kd_cesr_b64_int_(text, hs) < 0) {
        kd_cesr_why(why, "invalid base64url character");
        return KD_EBADCESR;
    }
    idx = kd_cesr_code_search(text, hs);
    if (idx >= 0) {
        *out = (enum kd_cesr_code)idx;
        return KD_OK;
    }
    kd_cesr_why(why, "unknown code");
    return KD_EBADCESR;
}

/* Class flags from the table; 0 for an invalid code. */
unsigned kd_cesr_code_flags(enum kd_cesr_code c)
{
    const struct kd_cesr_code_info *ci = kd_cesr_code_info(c);

    return ci ? ci->flags : 0;
}

/*
 * Scanner for a fixed-size primitive: selector, hard code, then fs chars of
 * alphabet with the ps pad bits (the top 2 * ps bits of the first material
 * character) zero. See cesr_int.h for the contract.
 */
enum kd_cesr_scan kd_cesr_scan_prim_(const char *text, size_t n, enum kd_cesr_code *code,
                                     size_t *len, const char **why)
{
    const struct kd_cesr_code_info *ci;
    unsigned hs;
    unsigned ps;

    if (n == 0) {
        *len = 1;
        return KD_CESR_SCAN_SHORT;
    }
    hs = kd_cesr_hard_size((unsigned char)text[0]);
    if (hs == 0) {
        kd_cesr_why(why, text[0] == '-' || text[0] == '_' ? "count or op code, not a primitive"
                                                          : "invalid base64url character");
        return KD_CESR_SCAN_BAD;
    }
    if (n < hs) {
        *len = hs;
        return KD_CESR_SCAN_SHORT;
    }
    if (kd_cesr_code_lookup(text, hs, code, why) != KD_OK)
        return KD_CESR_SCAN_BAD;
    ci = &kd_cesr_table[*code];
    if (n < ci->fs) {
        *len = ci->fs;
        return KD_CESR_SCAN_SHORT;
    }
    if (kd_cesr_b64_span_(text + hs, (size_t)(ci->fs - hs)) != (size_t)(ci->fs - hs)) {
        kd_cesr_why(why, "invalid base64url character");
        return KD_CESR_SCAN_BAD;
    }
    ps = hs % 4;
    if (ps != 0 && kd_cesr_b64_values_[(unsigned char)text[hs]] >> (6 - 2 * ps) != 0) {
        kd_cesr_why(why, "non-zero pad bits (non-canonical qb64)");
        return KD_CESR_SCAN_BAD;
    }
    *len = ci->fs;
    return KD_CESR_SCAN_OK;
}
