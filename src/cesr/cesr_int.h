/* Private helpers shared by the cesr/ sources. */
#ifndef KERID_CESR_INT_H
#define KERID_CESR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kerid/cesr.h"

/* Stores a static reason string when the caller asked for one. */
static inline void kd_cesr_why(const char **why, const char *reason)
{
    if (why)
        *why = reason;
}

/* Value of each byte in the base64url alphabet, -1 outside it (b64.c). */
extern const int8_t kd_cesr_b64_values_[256];

/* Index of the first byte of p[0..n) outside the alphabet, or n. */
static inline size_t kd_cesr_b64_span_(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && kd_cesr_b64_values_[(unsigned char)p[i]] >= 0)
        i++;
    return i;
}

/* Big-endian base-64 integer of n (<= 5) alphabet characters; -1 if one is
 * outside the alphabet. */
static inline int64_t kd_cesr_b64_int_(const char *p, size_t n)
{
    int64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        const int d = kd_cesr_b64_values_[(unsigned char)p[i]];
        if (d < 0)
            return -1;
        v = v << 6 | d;
    }
    return v;
}

/* Defines `static int fn(const char *text, unsigned hs)`: the index in table
 * (count entries with members `code` and `hs`, sorted by hard size, then by the
 * base-64 value of the hard code) of the code spelled by text's first hs
 * characters, or -1 if there is none. Every code table searches this one way. */
#define KD_CESR_DEFINE_TABLE_SEARCH(fn, table, count)                                           \
    static int fn(const char *text, unsigned hs)                                                \
    {                                                                                           \
        const int64_t v = kd_cesr_b64_int_(text, hs);                                           \
        const int64_t key = (int64_t)hs << 32 | v;                                              \
        size_t lo = 0;                                                                          \
        size_t hi = (count);                                                                    \
                                                                                                \
        if (v < 0)                                                                              \
            return -1;                                                                          \
        while (lo < hi) {                                                                       \
            const size_t mid = lo + (hi - lo) / 2;                                              \
            const int64_t k = (int64_t)(table)[mid].hs << 32 |                                  \
                              kd_cesr_b64_int_((table)[mid].code, (table)[mid].hs);             \
                                                                                                \
            if (k == key)                                                                       \
                return (int)mid;                                                                \
            if (k < key)                                                                        \
                lo = mid + 1;                                                                   \
            else                                                                                \
                hi = mid;                                                                       \
        }                                                                                       \
        return -1;                                                                              \
    }

/* Writes v as n big-endian base-64 digits (v < 64^n). */
void kd_cesr_b64_digits_(uint32_t v, char *out, size_t n);

/*
 * Scanners: the hot path of the stream splitter. Each looks at text[0..n),
 * checks everything the matching decoder checks (codes, alphabet, pad and
 * lead bits) without decoding raw material, and answers:
 *   KD_CESR_SCAN_OK     the element is whole and valid; *len is its size;
 *   KD_CESR_SCAN_SHORT  more characters are needed: at least *len in all;
 *   KD_CESR_SCAN_BAD    the characters present already prove it invalid.
 * The answer only depends on the characters present, and a BAD answer stays
 * BAD (with the same reason) however many characters follow: so splitting
 * input at any byte gives the same final result.
 */
enum kd_cesr_scan { KD_CESR_SCAN_OK, KD_CESR_SCAN_SHORT, KD_CESR_SCAN_BAD };

enum kd_cesr_scan kd_cesr_scan_prim_(const char *text, size_t n, enum kd_cesr_code *code,
                                     size_t *len, const char **why);
enum kd_cesr_scan kd_cesr_scan_siger_(const char *text, size_t n, enum kd_cesr_idx_code *code,
                                      size_t *len, const char **why);
enum kd_cesr_scan kd_cesr_scan_counter_(const char *text, size_t n, struct kd_cesr_counter *ctr,
                                        size_t *len, const char **why);
enum kd_cesr_scan kd_cesr_scan_var_(const char *text, size_t n, struct kd_cesr_var *var,
                                    size_t *len, const char **why);

#endif
