/*
 * Signing thresholds: parsing, exact weighted satisfaction, canonical forms
 * (spec/keri-core.md §2.4, §4.3, §7.5; keripy coring.Tholder).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr.h"
#include "kel_int.h"

void kd_tholder_set_numeric(struct kd_tholder *th, uint64_t m)
{
    th->weighted = false;
    th->num = m;
    th->size = m;
    th->denom = 1;
    th->nweights = 0;
    th->nelems = 0;
    th->nclauses = 0;
}

static uint64_t kd_gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A weight packed as (n << 32) | d while parsing, before scaling. */
#define KD_PACK(n, d) (((uint64_t)(n) << 32) | (uint64_t)(d))
#define KD_PNUM(p)    ((p) >> 32)
#define KD_PDEN(p)    ((p)&0xffffffffu)

/*
 * Parses one weight (span of a string): "0", "1", or "n/d" with decimal
 * n <= d, d >= 1 (plain decimal integers must be 0 or 1). Reduced by the gcd.
 */
static enum kd_err kd_weight_parse(struct kd_rd *rd, struct kd_span s, uint64_t *packed)
{
    const uint8_t *p = rd->p + s.off;
    uint64_t n = 0;
    uint64_t d = 1;
    uint32_t i = 0;
    uint32_t start = 0;
    uint64_t g;

    while (i < s.len && p[i] >= '0' && p[i] <= '9') {
        n = n * 10 + (uint64_t)(p[i] - '0');
        if (n > KD_THOLDER_MAX_TERM)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight numerator too large");
        i++;
    }
    if (i == start)
        return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight is not 0, 1 or n/d");
    if (i < s.len) {
        if (p[i] != '/')
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight is not 0, 1 or n/d");
        start = ++i;
        d = 0;
        while (i < s.len && p[i] >= '0' && p[i] <= '9') {
            d = d * 10 + (uint64_t)(p[i] - '0');
            if (d > KD_THOLDER_MAX_TERM)
                return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight denominator too large");
            i++;
        }
        if (i == start || i != s.len)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight is not 0, 1 or n/d");
        if (d == 0)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight with a zero denominator");
    }
    if (n > d)
        return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight greater than 1");
    g = n == 0 ? d : kd_gcd(n, d);
    *packed = KD_PACK(n / g, d / g);
    return KD_OK;
}

/* Fails for a value that is not what a threshold needs there: malformed
 * input is the reader's fault (syntax, end of body), anything else a bad
 * threshold. */
static enum kd_err kd_th_bad(struct kd_rd *rd, const char *why)
{
    if (kd_rd_peek(rd) == KD_RD_BAD)
        return kd_rd_fail(rd, rd->pos >= rd->n ? KD_EVF_EMPTY : KD_EVF_SYNTAX,
                          "malformed threshold value");
    return kd_rd_fail(rd, KD_EVF_THRESHOLD, why);
}

/* Reads a weight string and appends it (packed) to th->w. */
static enum kd_err kd_weight_add(struct kd_rd *rd, struct kd_tholder *th)
{
    struct kd_span s;
    uint64_t packed;
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_STR)
        return kd_th_bad(rd, "a weight is not a string");
    if (th->nweights >= KD_THOLDER_MAX_WEIGHTS)
        return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_THOLDER_MAX_WEIGHTS weights");
    err = kd_rd_str(rd, &s);
    if (err == KD_OK)
        err = kd_weight_parse(rd, s, &packed);
    if (err != KD_OK)
        return err;
    th->w[th->nweights++] = packed;
    return KD_OK;
}

/* Reads a nested weighted map {"w": [weights]} into element e. */
static enum kd_err kd_nested_read(struct kd_rd *rd, struct kd_tholder *th,
                                  struct kd_tholder_elem *e)
{
    struct kd_span k;
    bool more;
    enum kd_err err = kd_rd_enter(rd, KD_RD_MAP);

    if (err == KD_OK)
        err = kd_rd_next(rd, &more);
    if (err != KD_OK)
        return err;
    if (!more)
        return kd_rd_fail(rd, KD_EVF_THRESHOLD, "empty weighted map");
    err = kd_rd_key(rd, &k);
    if (err == KD_OK)
        err = kd_weight_parse(rd, k, &e->key);
    if (err != KD_OK)
        return err;
    if (kd_rd_peek(rd) != KD_RD_ARR)
        return kd_th_bad(rd, "weighted map value is not a list");
    err = kd_rd_enter(rd, KD_RD_ARR);
    while (err == KD_OK) {
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        err = kd_weight_add(rd, th);
    }
    if (err == KD_OK)
        err = kd_rd_next(rd, &more);
    if (err != KD_OK)
        return err;
    if (more)
        return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weighted map with more than one key");
    e->count = (uint16_t)(th->nweights - e->first);
    e->nested = true;
    return KD_OK;
}

/*
 * Reads the items of an open clause list: weights and one-key weighted maps.
 * pending: kd_rd_next already announced the first item.
 */
static enum kd_err kd_clause_body(struct kd_rd *rd, struct kd_tholder *th, bool pending)
{
    bool more = pending;
    enum kd_err err = KD_OK;

    if (!pending)
        err = kd_rd_next(rd, &more);
    while (err == KD_OK && more) {
        struct kd_tholder_elem *e;
        const enum kd_rd_type t = kd_rd_peek(rd);

        if (th->nelems >= KD_THOLDER_MAX_WEIGHTS)
            return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_THOLDER_MAX_WEIGHTS weights");
        e = &th->elem[th->nelems];
        e->first = th->nweights;
        if (t == KD_RD_STR) {
            err = kd_weight_add(rd, th);
            if (err != KD_OK)
                return err;
            e->key = th->w[e->first];
            e->count = 1;
            e->nested = false;
        } else if (t == KD_RD_MAP) {
            err = kd_nested_read(rd, th, e);
            if (err != KD_OK)
                return err;
        } else {
            return kd_th_bad(rd, "clause element is not a weight or a weighted map");
        }
        th->nelems++;
        err = kd_rd_next(rd, &more);
    }
    if (err != KD_OK)
        return err;
    /* nclauses <= nelems + 1 <= 256 except for empty clauses, bounded here. */
    if (th->nclauses >= KD_THOLDER_MAX_WEIGHTS)
        return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_THOLDER_MAX_WEIGHTS clauses");
    th->clause_end[th->nclauses++] = th->nelems;
    return KD_OK;
}

/* Least common multiple of a and b, or 0 when it exceeds KD_THOLDER_MAX_DENOM. */
static uint64_t kd_lcm_bounded(uint64_t a, uint64_t b)
{
    const uint64_t q = a / kd_gcd(a, b);

    if (q > KD_THOLDER_MAX_DENOM / b)
        return 0;
    return q * b;
}

/*
 * Turns the packed n/d weights into multiples of their least common
 * denominator and checks keripy's validity rules: every nested list and
 * every clause's top-level weights sum to at least 1.
 */
static enum kd_err kd_weights_finish(struct kd_rd *rd, struct kd_tholder *th)
{
    uint64_t L = 1;
    uint16_t e0 = 0;

    for (uint16_t i = 0; i < th->nweights; i++)
        if ((L = kd_lcm_bounded(L, KD_PDEN(th->w[i]))) == 0)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight denominators too large");
    for (uint16_t i = 0; i < th->nelems; i++)
        if ((L = kd_lcm_bounded(L, KD_PDEN(th->elem[i].key))) == 0)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "weight denominators too large");
    for (uint16_t i = 0; i < th->nweights; i++)
        th->w[i] = KD_PNUM(th->w[i]) * (L / KD_PDEN(th->w[i]));
    for (uint16_t i = 0; i < th->nelems; i++)
        th->elem[i].key = KD_PNUM(th->elem[i].key) * (L / KD_PDEN(th->elem[i].key));
    /* Sums: at most 256 terms each <= L <= 2^48, no overflow. */
    for (uint16_t c = 0; c < th->nclauses; c++) {
        uint64_t top = 0;
        for (uint16_t i = e0; i < th->clause_end[c]; i++) {
            const struct kd_tholder_elem *e = &th->elem[i];
            if (e->nested) {
                uint64_t sub = 0;
                for (uint16_t k = 0; k < e->count; k++)
                    sub += th->w[e->first + k];
                if (sub < L)
                    return kd_rd_fail(rd, KD_EVF_THRESHOLD, "nested weights sum to less than 1");
            }
            top += e->key;
        }
        if (top < L)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "clause weights sum to less than 1");
        e0 = th->clause_end[c];
    }
    th->weighted = true;
    th->num = 0;
    th->size = th->nweights;
    th->denom = L;
    return KD_OK;
}

enum kd_err kd_tholder_read(struct kd_rd *rd, struct kd_tholder *th)
{
    const enum kd_rd_type t = kd_rd_peek(rd);
    enum kd_err err = KD_OK;

    kd_tholder_set_numeric(th, 0);
    if (t == KD_RD_STR) {
        struct kd_span s;
        uint64_t m = 0;
        err = kd_rd_str(rd, &s);
        if (err != KD_OK)
            return err;
        if (s.len == 0)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "empty threshold");
        for (uint32_t i = 0; i < s.len; i++) {
            const uint8_t c = rd->p[s.off + i];
            const int v = (c >= '0' && c <= '9')   ? c - '0'
                          : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                          : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                   : -1;
            if (v < 0)
                return kd_rd_fail(rd, KD_EVF_THRESHOLD, "threshold string is not hex");
            if (m > (UINT64_MAX >> 4))
                return kd_rd_fail(rd, KD_EVF_THRESHOLD, "threshold larger than 2^64 - 1");
            m = (m << 4) | (uint64_t)v;
        }
        kd_tholder_set_numeric(th, m);
        return KD_OK;
    }
    if (t == KD_RD_UINT) {
        kd_sn_t v;
        err = kd_rd_uint(rd, &v, NULL);
        if (err != KD_OK)
            return err;
        if (v > UINT64_MAX)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "threshold larger than 2^64 - 1");
        kd_tholder_set_numeric(th, (uint64_t)v);
        return KD_OK;
    }
    if (t == KD_RD_ARR) {
        bool more;
        err = kd_rd_enter(rd, KD_RD_ARR);
        if (err == KD_OK)
            err = kd_rd_next(rd, &more);
        if (err != KD_OK)
            return err;
        if (!more)
            return kd_rd_fail(rd, KD_EVF_THRESHOLD, "empty weight list");
        if (kd_rd_peek(rd) != KD_RD_ARR) {
            /* A flat list is one clause (keripy wraps it). */
            err = kd_clause_body(rd, th, true);
        } else {
            /* A list of clauses, each a list: no mixing. */
            while (err == KD_OK && more) {
                if (kd_rd_peek(rd) != KD_RD_ARR)
                    return kd_th_bad(rd, "clauses mixed with weights");
                err = kd_rd_enter(rd, KD_RD_ARR);
                if (err == KD_OK)
                    err = kd_clause_body(rd, th, false);
                if (err == KD_OK)
                    err = kd_rd_next(rd, &more);
            }
        }
        if (err != KD_OK)
            return err;
        return kd_weights_finish(rd, th);
    }
    if (t == KD_RD_BAD)
        return kd_rd_fail(rd, rd->pos >= rd->n ? KD_EVF_EMPTY : KD_EVF_SYNTAX,
                          "malformed threshold value");
    return kd_rd_fail(rd, KD_EVF_THRESHOLD, "threshold is not a string, integer or list");
}

enum kd_err kd_tholder_parse_json(struct kd_tholder *th, const char *text, size_t n,
                                  const char **why)
{
    struct kd_rd rd;
    enum kd_err err;

    if (th == NULL || (text == NULL && n > 0)) {
        if (why)
            *why = "no threshold";
        return KD_EINVAL;
    }
    if (n > KD_EVENT_MAX_SIZE) {
        if (why)
            *why = "threshold text too long";
        return KD_EINVAL;
    }
    kd_rd_init(&rd, (const uint8_t *)text, (uint32_t)n, KD_KIND_JSON);
    err = kd_tholder_read(&rd, th);
    if (err == KD_OK)
        err = kd_rd_finish(&rd);
    if (err != KD_OK) {
        const enum kd_event_fault f = rd.diag.fault;
        if (why)
            *why = rd.diag.why;
        err = f == KD_EVF_THRESHOLD || f == KD_EVF_LIMIT || f == KD_EVF_NUMBER ? KD_EINVAL
                                                                               : KD_EBADJSON;
    }
    return err;
}

bool kd_tholder_satisfied(const struct kd_tholder *th, const bool *verified, size_t n)
{
    size_t count = 0;
    uint16_t e0 = 0;

    if (!th->weighted) {
        for (size_t i = 0; i < n; i++)
            count += verified[i] ? 1 : 0;
        return th->num > 0 && count >= th->num;
    }
    for (size_t i = 0; i < n; i++) {
        if (!verified[i])
            continue;
        if (i >= th->nweights)
            return false; /* keripy: IndexError, not satisfied */
        count++;
    }
    if (count == 0)
        return false;
    for (uint16_t c = 0; c < th->nclauses; c++) {
        uint64_t cw = 0;
        for (uint16_t i = e0; i < th->clause_end[c]; i++) {
            const struct kd_tholder_elem *e = &th->elem[i];
            uint64_t vw = 0;
            for (uint16_t k = 0; k < e->count; k++) {
                const size_t idx = (size_t)e->first + k;
                if (idx < n && verified[idx])
                    vw += th->w[idx];
            }
            if (!e->nested)
                cw += vw;
            else if (vw >= th->denom)
                cw += e->key;
        }
        if (cw < th->denom)
            return false;
        e0 = th->clause_end[c];
    }
    return true;
}

/* A bounded writer: tracks overflow instead of failing each call. */
struct kd_out {
    char *p;
    size_t cap;
    size_t len;
    bool over;
};

static void kd_out_put(struct kd_out *o, const char *s, size_t n)
{
    if (o->over || n >= o->cap - o->len) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void kd_out_str(struct kd_out *o, const char *s)
{
    kd_out_put(o, s, strlen(s));
}

/* Writes w / L reduced: "0", "1" or "n<sep>d". */
static void kd_out_frac(struct kd_out *o, uint64_t w, uint64_t L, char sep)
{
    char buf[48];
    int n;

    if (w == 0) {
        kd_out_str(o, "0");
    } else if (w >= L) {
        kd_out_str(o, "1");
    } else {
        const uint64_t g = kd_gcd(w, L);
        n = snprintf(buf, sizeof buf, "%llu%c%llu", (unsigned long long)(w / g), sep,
                     (unsigned long long)(L / g));
        kd_out_put(o, buf, (size_t)n);
    }
}

enum kd_err kd_tholder_format_json(const struct kd_tholder *th, char *out, size_t cap, size_t *len)
{
    struct kd_out o = {out, cap, 0, false};
    uint16_t e0 = 0;

    if (out == NULL || cap == 0)
        return KD_ETOOLARGE;
    out[0] = '\0';
    if (!th->weighted) {
        char buf[24];
        const int n = snprintf(buf, sizeof buf, "\"%llx\"", (unsigned long long)th->num);
        kd_out_put(&o, buf, (size_t)n);
    } else {
        const bool multi = th->nclauses > 1;
        if (multi)
            kd_out_str(&o, "[");
        for (uint16_t c = 0; c < th->nclauses; c++) {
            kd_out_str(&o, c ? ",[" : "[");
            for (uint16_t i = e0; i < th->clause_end[c]; i++) {
                const struct kd_tholder_elem *e = &th->elem[i];
                if (i > e0)
                    kd_out_str(&o, ",");
                kd_out_str(&o, e->nested ? "{\"" : "\"");
                kd_out_frac(&o, e->key, th->denom, '/');
                kd_out_str(&o, "\"");
                if (!e->nested)
                    continue;
                kd_out_str(&o, ":[");
                for (uint16_t k = 0; k < e->count; k++) {
                    kd_out_str(&o, k ? ",\"" : "\"");
                    kd_out_frac(&o, th->w[e->first + k], th->denom, '/');
                    kd_out_str(&o, "\"");
                }
                kd_out_str(&o, "]}");
            }
            kd_out_str(&o, "]");
            e0 = th->clause_end[c];
        }
        if (multi)
            kd_out_str(&o, "]");
    }
    if (o.over)
        return KD_ETOOLARGE;
    if (len)
        *len = o.len;
    return KD_OK;
}

enum kd_err kd_tholder_limen(const struct kd_tholder *th, char *out, size_t cap, size_t *len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* Every weight and element key is at most "4294967295s4294967295" plus
     * one separator: 22 chars; 256 of each; so at most 2816 quadlets. */
    char bext[2 * KD_THOLDER_MAX_WEIGHTS * 22 + 8];
    struct kd_out o = {bext, sizeof bext, 0, false};
    struct kd_out r = {out, cap, 0, false};
    size_t ws;
    size_t quads;
    uint16_t e0 = 0;

    if (out == NULL || cap == 0)
        return KD_ETOOLARGE;
    out[0] = '\0';
    if (!th->weighted) {
        const unsigned char raw[2] = {(unsigned char)(th->num >> 8), (unsigned char)th->num};
        size_t n = 0;
        enum kd_err err;
        if (th->num > 0xffff)
            return KD_EINVAL;
        if (cap <= KD_CESR_FS_SHORT)
            return KD_ETOOLARGE;
        err = kd_cesr_qb64_encode(KD_CESR_SHORT, raw, sizeof raw, out, cap, &n);
        if (len)
            *len = n;
        return err;
    }
    for (uint16_t c = 0; c < th->nclauses; c++) {
        if (c)
            kd_out_str(&o, "a");
        for (uint16_t i = e0; i < th->clause_end[c]; i++) {
            const struct kd_tholder_elem *e = &th->elem[i];
            if (i > e0)
                kd_out_str(&o, "c");
            kd_out_frac(&o, e->key, th->denom, 's');
            if (!e->nested)
                continue;
            kd_out_str(&o, "k");
            for (uint16_t k = 0; k < e->count; k++) {
                if (k)
                    kd_out_str(&o, "v");
                kd_out_frac(&o, th->w[e->first + k], th->denom, 's');
            }
        }
        e0 = th->clause_end[c];
    }
    /* Bexter: pad to quadlets with leading 'A'; the pad decides the lead
     * size, hence the code 4A (0 or 1 pad char), 5A (2) or 6A (3). */
    ws = (4 - o.len % 4) % 4;
    quads = (o.len + ws) / 4;
    {
        const char code[5] = {ws == 3   ? '6'
                              : ws == 2 ? '5'
                                        : '4',
                              'A', b64[quads / 64], b64[quads % 64], '\0'};
        kd_out_str(&r, code);
    }
    kd_out_put(&r, "AAA", ws);
    kd_out_put(&r, bext, o.len);
    if (r.over)
        return KD_ETOOLARGE;
    if (len)
        *len = r.len;
    return KD_OK;
}
