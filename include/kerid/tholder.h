/*
 * Signing thresholds ("tholders", spec/keri-core.md §2.4 and §4.3): the `kt`
 * and `nt` fields of establishment events, numeric (M-of-N) or fractionally
 * weighted, and the test whether a set of verified signatures satisfies one.
 *
 * Accepted forms (keripy Tholder with `sith`, stricter where keripy is loose):
 *   - numeric: a hex string ("1", "a", "0A": any non-empty run of hex digits,
 *     either case) or a non-negative JSON integer, at most 2^64 - 1;
 *   - weighted: a list of weights (one clause), or a list of lists (clauses
 *     ANDed). An element of a clause is a weight string or a one-key map
 *     {"w": [weights...]} whose nested list counts as one element of weight w
 *     when the nested weights of its verified keys sum to at least 1.
 *     A weight is "0", "1" or "n/d" with decimal n <= d, d >= 1 (so "0.5",
 *     "-1/2", "3/2", " 1/2" and JSON numbers are refused; keripy also takes a
 *     few odd spellings such as "1e0" that no client emits: refused here).
 *     Every clause's top-level weights and every nested list must sum to >= 1.
 * Arithmetic is exact: every weight is scaled to the least common denominator
 * L of the threshold (bounded by KD_THOLDER_MAX_DENOM, far beyond any real
 * threshold) and sums are compared with L in 64-bit integers. No floats.
 *
 * A struct kd_tholder is self-contained (about 6.7 KiB, no pointers) and may
 * be copied with memcpy.
 */
#ifndef KERID_THOLDER_H
#define KERID_THOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/err.h"

/* Most weights in one weighted threshold; equals the key list bound. */
#define KD_THOLDER_MAX_WEIGHTS 256
/* Largest least common denominator of a weighted threshold (2^48). */
#define KD_THOLDER_MAX_DENOM (UINT64_C(1) << 48)
/* Largest numerator or denominator written in one weight. */
#define KD_THOLDER_MAX_TERM UINT32_MAX

/* One element of a clause: a bare weight (count 1, w[first]) or a nested
 * weighted list (count weights from w[first], contributing `key` when their
 * verified sum reaches 1). */
struct kd_tholder_elem {
    uint64_t key;   /* nested: scaled weight of the map key; bare: same as w[first] */
    uint16_t first; /* index of the element's first weight in w[] (= key index) */
    uint16_t count; /* number of weights (1 for a bare weight) */
    bool nested;
};

struct kd_tholder {
    bool weighted;
    uint64_t num;      /* numeric threshold M (0 when weighted) */
    uint64_t size;     /* keripy Tholder.size: M, or the number of weights */
    uint64_t denom;    /* weighted: L, every weight is w[i] / L; numeric: 1 */
    uint16_t nweights; /* weights, in key order (flattened) */
    uint16_t nelems;   /* clause elements */
    uint16_t nclauses;
    uint64_t w[KD_THOLDER_MAX_WEIGHTS];                  /* scaled weights */
    struct kd_tholder_elem elem[KD_THOLDER_MAX_WEIGHTS]; /* all clauses' elements */
    uint16_t clause_end[KD_THOLDER_MAX_WEIGHTS];         /* one past each clause's last elem */
};

/* A numeric M-of-N threshold. */
void kd_tholder_set_numeric(struct kd_tholder *th, uint64_t m);

/*
 * Parses a threshold given as compact JSON text: a JSON string ("2"), a JSON
 * integer (2), or a weighted list (["1/2","1/2"], [["1/2","1/2"],["1"]],
 * [{"1/3":["1/2","1/2"]},"2/3"]). The text must be exactly one value, compact
 * (no whitespace) and canonical as kd_event_parse requires. KD_EBADJSON for
 * malformed JSON, KD_EINVAL for a well-formed but invalid threshold (clause
 * sum < 1, bad weight, too many weights, ...); *why (optional) says which.
 */
enum kd_err kd_tholder_parse_json(struct kd_tholder *th, const char *text, size_t n,
                                  const char **why);

/*
 * True when the verified signatures satisfy the threshold. verified[i] says
 * whether key i has a verified signature, for i < n (n may be 0 and verified
 * NULL then). Numeric: at least M distinct verified keys and M > 0.
 * Weighted: every clause reaches 1 (keri-core §4.3). As keripy does, a
 * weighted threshold is never satisfied when a key at index >= size (beyond
 * the last weight) is marked verified, nor when nothing is verified.
 */
bool kd_tholder_satisfied(const struct kd_tholder *th, const bool *verified, size_t n);

/*
 * Writes the threshold as compact JSON in keripy's canonical `sith` form:
 * numeric as a lowercase hex string ("a"), weighted as a list of reduced
 * fractions "n/d", "0" or "1"; a single clause is written as a flat list.
 * out gets a NUL; cap must hold it, else KD_ETOOLARGE. *len (optional) gets
 * the length without the NUL.
 */
enum kd_err kd_tholder_format_json(const struct kd_tholder *th, char *out, size_t cap, size_t *len);

/*
 * Writes the CESR "limen" of the threshold (keripy Tholder.limen): a Short
 * number `M…` for numeric thresholds up to 65535 (KD_EINVAL beyond), or a
 * Bexter `4A`/`5A`/`6A` + size + base64 text where '/' is 's', ',' is 'c',
 * clauses are joined by 'a', and a nested map is "key" 'k' weights joined by
 * 'v'. NUL-terminated; KD_ETOOLARGE if cap is too small.
 */
enum kd_err kd_tholder_limen(const struct kd_tholder *th, char *out, size_t cap, size_t *len);

#endif
