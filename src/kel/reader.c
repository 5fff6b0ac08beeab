/*
 * The strict pull reader over compact JSON, CBOR and MGPK (see reader.h).
 */
#include <string.h>

#include "reader.h"

void kd_rd_init(struct kd_rd *rd, const uint8_t *p, uint32_t n, enum kd_kind kind)
{
    rd->p = p;
    rd->n = n;
    rd->pos = 0;
    rd->kind = kind;
    rd->depth = 0;
    rd->nkeys = 0;
    rd->failed = false;
    rd->field = NULL;
    rd->diag.fault = KD_EVF_NONE;
    rd->diag.why = NULL;
    rd->diag.field = NULL;
    rd->diag.offset = 0;
}

enum kd_err kd_rd_fail(struct kd_rd *rd, enum kd_event_fault fault, const char *why)
{
    if (!rd->failed) {
        rd->failed = true;
        rd->diag.fault = fault;
        rd->diag.why = why;
        rd->diag.field = rd->field;
        rd->diag.offset = rd->pos;
    }
    return kd_event_fault_err(rd->diag.fault);
}

bool kd_rd_span_is(const struct kd_rd *rd, struct kd_span s, const char *lit)
{
    const size_t n = strlen(lit);

    return s.len == n && memcmp(rd->p + s.off, lit, n) == 0;
}

/* ---- UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) ---- */

static bool kd_utf8_valid(const uint8_t *s, uint32_t n)
{
    uint32_t i = 0;

    while (i < n) {
        const uint8_t c = s[i];
        uint32_t need;
        uint8_t lo = 0x80;
        uint8_t hi = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (uint32_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += need + 1;
    }
    return true;
}

/* ---- JSON ---- */

static int kd_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is not what json.dumps writes */
}

#define KD_ONES  UINT64_C(0x0101010101010101)
#define KD_HIGHS UINT64_C(0x8080808080808080)

/* Non-zero when a byte of w is '"', '\\', a control (< 0x20) or >= 0x80. */
static inline uint64_t kd_swar_special(uint64_t w)
{
    const uint64_t q = w ^ (KD_ONES * '"');
    const uint64_t b = w ^ (KD_ONES * '\\');
    const uint64_t ctl = (w - KD_ONES * 0x20) & ~w;
    const uint64_t quo = (q - KD_ONES) & ~q;
    const uint64_t bsl = (b - KD_ONES) & ~b;

    return (ctl | quo | bsl | w) & KD_HIGHS;
}

/*
 * Scans a JSON string at rd->pos (on the opening quote). Only the escapes
 * json.dumps(ensure_ascii=False) writes are accepted: \" \\ \b \f \n \r \t,
 * and \u00xx (lowercase) for the other control characters; raw control
 * characters are refused; the content must be UTF-8.
 */
static enum kd_err kd_json_str(struct kd_rd *rd, struct kd_span *out)
{
    const uint8_t *p = rd->p;
    uint32_t i = rd->pos + 1;
    bool high = false;

    while (i < rd->n) {
        uint8_t c = p[i];

        /* Fast path: eight bytes at a time while none is special. */
        while (rd->n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (kd_swar_special(w))
                break;
            i += 8;
        }
        if (i >= rd->n)
            break;
        c = p[i];
        if (c == '"')
            break;
        if (c < 0x20) {
            rd->pos = i;
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "control character in a JSON string");
        }
        if (c >= 0x80)
            high = true;
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= rd->n) {
            i = rd->n;
            break;
        }
        switch (p[i + 1]) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2;
            continue;
        case 'u': {
            int h0;
            int h1;
            unsigned v;

            if (rd->n - i < 6) {
                rd->pos = i;
                return kd_rd_fail(rd, KD_EVF_SYNTAX, "truncated \\u escape");
            }
            h0 = kd_hexval(p[i + 4]);
            h1 = kd_hexval(p[i + 5]);
            v = (unsigned)(h0 * 16 + h1);
            if (p[i + 2] != '0' || p[i + 3] != '0' || h0 < 0 || h1 < 0 || v >= 0x20 || v == 0x08 ||
                v == 0x09 || v == 0x0a || v == 0x0c || v == 0x0d) {
                rd->pos = i;
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "\\u escape json.dumps would not write");
            }
            i += 6;
            continue;
        }
        default:
            rd->pos = i;
            return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "escape json.dumps would not write");
        }
    }
    if (i >= rd->n) {
        rd->pos = rd->n;
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "unterminated JSON string");
    }
    out->off = rd->pos + 1;
    out->len = i - rd->pos - 1;
    if (high && !kd_utf8_valid(p + out->off, out->len))
        return kd_rd_fail(rd, KD_EVF_UTF8, "string is not valid UTF-8");
    rd->pos = i + 1;
    return KD_OK;
}

/*
 * Scans a JSON number at rd->pos. Integers must be canonical (no leading
 * zeros, no "-0"); *type gets UINT, NINT or FLOAT; *end one past it.
 */
static enum kd_err kd_json_number(struct kd_rd *rd, enum kd_rd_type *type, uint32_t *end)
{
    const uint8_t *p = rd->p;
    uint32_t i = rd->pos;
    const bool neg = p[i] == '-';
    uint32_t digits;
    bool frac = false;

    if (neg)
        i++;
    digits = i;
    while (i < rd->n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == digits)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "malformed JSON number");
    if (i - digits > 1 && p[digits] == '0')
        return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "JSON number with a leading zero");
    if (i < rd->n && p[i] == '.') {
        const uint32_t f = ++i;
        while (i < rd->n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == f)
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "malformed JSON number");
        frac = true;
    }
    if (i < rd->n && (p[i] == 'e' || p[i] == 'E')) {
        uint32_t f;
        i++;
        if (i < rd->n && (p[i] == '+' || p[i] == '-'))
            i++;
        f = i;
        while (i < rd->n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == f)
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "malformed JSON number");
        frac = true;
    }
    if (!frac && neg && i - digits == 1 && p[digits] == '0')
        return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "JSON integer -0");
    *type = frac ? KD_RD_FLOAT : (neg ? KD_RD_NINT : KD_RD_UINT);
    *end = i;
    return KD_OK;
}

/* ---- CBOR (RFC 8949 §3) ---- */

/* Reads a CBOR head: major type and argument, shortest form only. */
static enum kd_err kd_cbor_head(struct kd_rd *rd, uint8_t *major, uint64_t *arg)
{
    const uint8_t ib = rd->p[rd->pos];
    const uint8_t ai = ib & 31;
    uint32_t len;
    uint64_t v = 0;

    *major = ib >> 5;
    if (ai < 24) {
        *arg = ai;
        rd->pos++;
        return KD_OK;
    }
    if (ai > 27)
        return kd_rd_fail(rd, KD_EVF_SYNTAX,
                          ai == 31 ? "CBOR indefinite length" : "reserved CBOR head");
    len = 1u << (ai - 24);
    if (rd->n - rd->pos - 1 < len)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "truncated CBOR head");
    for (uint32_t k = 0; k < len; k++)
        v = (v << 8) | rd->p[rd->pos + 1 + k];
    if ((len == 1 && v < 24) || (len == 2 && v <= 0xff) || (len == 4 && v <= 0xffff) ||
        (len == 8 && v <= 0xffffffffu))
        return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "CBOR head not in shortest form");
    rd->pos += 1 + len;
    *arg = v;
    return KD_OK;
}

/* ---- MGPK ---- */

/* Big-endian unsigned of len bytes at rd->pos + 1 (bounds checked). */
static enum kd_err kd_mgpk_be(struct kd_rd *rd, uint32_t len, uint64_t *v)
{
    uint64_t x = 0;

    *v = 0;
    if (rd->n - rd->pos - 1 < len)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "truncated MGPK value");
    for (uint32_t k = 0; k < len; k++)
        x = (x << 8) | rd->p[rd->pos + 1 + k];
    *v = x;
    rd->pos += 1 + len;
    return KD_OK;
}

/* ---- type sniffing ---- */

enum kd_rd_type kd_rd_peek(const struct kd_rd *rd)
{
    uint8_t c;

    if (rd->failed || rd->pos >= rd->n)
        return KD_RD_BAD;
    c = rd->p[rd->pos];
    switch (rd->kind) {
    case KD_KIND_JSON:
        switch (c) {
        case '{':
            return KD_RD_MAP;
        case '[':
            return KD_RD_ARR;
        case '"':
            return KD_RD_STR;
        case 't':
            return KD_RD_TRUE;
        case 'f':
            return KD_RD_FALSE;
        case 'n':
            return KD_RD_NULL;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            /* Look ahead for a fraction or exponent without consuming. */
            uint32_t i = rd->pos + (c == '-');
            while (i < rd->n && rd->p[i] >= '0' && rd->p[i] <= '9')
                i++;
            if (i < rd->n && (rd->p[i] == '.' || rd->p[i] == 'e' || rd->p[i] == 'E'))
                return KD_RD_FLOAT;
            return c == '-' ? KD_RD_NINT : KD_RD_UINT;
        }
        default:
            return KD_RD_BAD;
        }
    case KD_KIND_CBOR:
        switch (c >> 5) {
        case 0:
            return KD_RD_UINT;
        case 1:
            return KD_RD_NINT;
        case 3:
            return KD_RD_STR;
        case 4:
            return KD_RD_ARR;
        case 5:
            return KD_RD_MAP;
        case 7:
            return c == 0xf4   ? KD_RD_FALSE
                   : c == 0xf5 ? KD_RD_TRUE
                   : c == 0xf6 ? KD_RD_NULL
                               : KD_RD_BAD;
        default:
            return KD_RD_BAD; /* byte strings, tags */
        }
    case KD_KIND_MGPK:
    default:
        if (c <= 0x7f || (c >= 0xcc && c <= 0xcf))
            return KD_RD_UINT;
        if (c >= 0xe0)
            return KD_RD_NINT;
        if (c >= 0xd0 && c <= 0xd3) {
            /* int8..int64: the sign is the top bit of the payload. A
             * non-negative here is non-canonical; kd_rd_int says so. */
            if (rd->pos + 1 < rd->n && !(rd->p[rd->pos + 1] & 0x80))
                return KD_RD_UINT;
            return KD_RD_NINT;
        }
        if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf)
            return KD_RD_MAP;
        if ((c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd)
            return KD_RD_ARR;
        if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb))
            return KD_RD_STR;
        if (c == 0xc0)
            return KD_RD_NULL;
        if (c == 0xc2)
            return KD_RD_FALSE;
        if (c == 0xc3)
            return KD_RD_TRUE;
        return KD_RD_BAD; /* bin, ext, float, never-used */
    }
}

/* Fails with a message fit for a value that is not of the expected type. */
static enum kd_err kd_rd_wrong(struct kd_rd *rd)
{
    if (rd->pos >= rd->n)
        return kd_rd_fail(rd, KD_EVF_EMPTY, "body ends inside a value");
    if (kd_rd_peek(rd) == KD_RD_BAD)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "not a value of the supported subset");
    return kd_rd_fail(rd, KD_EVF_TYPE, "value has the wrong type");
}

/* ---- containers ---- */

enum kd_err kd_rd_enter(struct kd_rd *rd, enum kd_rd_type want)
{
    const enum kd_rd_type t = kd_rd_peek(rd);
    uint64_t items = UINT32_MAX;
    struct kd_rd_frame *f;
    enum kd_err err;

    if (t != want || (want != KD_RD_MAP && want != KD_RD_ARR))
        return kd_rd_wrong(rd);
    if (rd->depth >= KD_EVENT_MAX_DEPTH)
        return kd_rd_fail(rd, KD_EVF_LIMIT, "nesting deeper than KD_EVENT_MAX_DEPTH");
    switch (rd->kind) {
    case KD_KIND_JSON:
        rd->pos++;
        break;
    case KD_KIND_CBOR: {
        uint8_t major;
        err = kd_cbor_head(rd, &major, &items);
        if (err != KD_OK)
            return err;
        break;
    }
    case KD_KIND_MGPK:
    default: {
        const uint8_t c = rd->p[rd->pos];
        if (c < 0xa0) {
            items = c & 0x0f;
            rd->pos++;
        } else {
            const uint32_t len = (c == 0xdc || c == 0xde) ? 2 : 4;
            err = kd_mgpk_be(rd, len, &items);
            if (err != KD_OK)
                return err;
            if (items < 16 || (len == 4 && items <= 0xffff))
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "MGPK length not in shortest form");
        }
        break;
    }
    }
    if (rd->kind != KD_KIND_JSON) {
        /* Every item takes at least one byte: bound before trusting it. */
        if (items > rd->n || (want == KD_RD_MAP ? 2 * items : items) > rd->n - rd->pos)
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "container longer than the body");
    }
    f = &rd->stk[rd->depth++];
    f->left = (uint32_t)items;
    f->kbase = rd->nkeys;
    f->is_map = want == KD_RD_MAP;
    f->first = 1;
    f->trusted = 0;
    return KD_OK;
}

/* Orders two key spans by length, then bytes. */
static int kd_rd_keycmp(const struct kd_rd *rd, struct kd_span a, struct kd_span b)
{
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    return memcmp(rd->p + a.off, rd->p + b.off, a.len);
}

/* Sorts keys[lo, hi) (shell sort, no allocation) and fails on equal neighbours. */
static enum kd_err kd_rd_dupcheck(struct kd_rd *rd, uint32_t lo, uint32_t hi)
{
    static const uint32_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    struct kd_span *k = rd->keys;

    if (hi - lo < 2)
        return KD_OK;
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        const uint32_t gap = gaps[g];
        for (uint32_t i = lo + gap; i < hi; i++) {
            const struct kd_span t = k[i];
            uint32_t j = i;
            while (j >= lo + gap && kd_rd_keycmp(rd, k[j - gap], t) > 0) {
                k[j] = k[j - gap];
                j -= gap;
            }
            k[j] = t;
        }
    }
    for (uint32_t i = lo + 1; i < hi; i++)
        if (kd_rd_keycmp(rd, k[i - 1], k[i]) == 0)
            return kd_rd_fail(rd, KD_EVF_DUPKEY, "duplicate map key");
    return KD_OK;
}

/* Closes the top container. */
static enum kd_err kd_rd_close(struct kd_rd *rd)
{
    struct kd_rd_frame *f = &rd->stk[rd->depth - 1];
    enum kd_err err = KD_OK;

    if (f->is_map) {
        err = kd_rd_dupcheck(rd, f->kbase, rd->nkeys);
        rd->nkeys = f->kbase;
    }
    rd->depth--;
    return err;
}

enum kd_err kd_rd_next(struct kd_rd *rd, bool *more)
{
    struct kd_rd_frame *f;

    *more = false;
    f = &rd->stk[rd->depth - 1];
    if (rd->kind != KD_KIND_JSON) {
        if (f->left == 0)
            return kd_rd_close(rd);
        f->left--;
        *more = true;
        return KD_OK;
    }
    if (rd->pos >= rd->n)
        return kd_rd_fail(rd, KD_EVF_EMPTY, "body ends inside a container");
    if (rd->p[rd->pos] == (f->is_map ? '}' : ']')) {
        rd->pos++;
        return kd_rd_close(rd);
    }
    if (!f->first) {
        if (rd->p[rd->pos] != ',')
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "expected ',' or the end of a container");
        rd->pos++;
    }
    f->first = 0;
    *more = true;
    return KD_OK;
}

enum kd_err kd_rd_key(struct kd_rd *rd, struct kd_span *key)
{
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_STR)
        return kd_rd_fail(rd, rd->pos >= rd->n ? KD_EVF_EMPTY : KD_EVF_SYNTAX,
                          "map key is not a string");
    err = kd_rd_str(rd, key);
    if (err != KD_OK)
        return err;
    if (rd->kind == KD_KIND_JSON) {
        if (rd->pos >= rd->n || rd->p[rd->pos] != ':')
            return kd_rd_fail(rd, KD_EVF_SYNTAX, "expected ':' after a map key");
        rd->pos++;
    }
    if (rd->stk[rd->depth - 1].trusted)
        return KD_OK;
    if (rd->nkeys >= KD_EVENT_MAX_OPEN_KEYS)
        return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_EVENT_MAX_OPEN_KEYS open map keys");
    rd->keys[rd->nkeys++] = *key;
    return KD_OK;
}

void kd_rd_trust_keys(struct kd_rd *rd)
{
    if (rd->depth > 0)
        rd->stk[rd->depth - 1].trusted = 1;
}

/* ---- scalars ---- */

enum kd_err kd_rd_str(struct kd_rd *rd, struct kd_span *s)
{
    enum kd_err err;
    uint64_t len;

    if (kd_rd_peek(rd) != KD_RD_STR)
        return kd_rd_wrong(rd);
    switch (rd->kind) {
    case KD_KIND_JSON:
        return kd_json_str(rd, s);
    case KD_KIND_CBOR: {
        uint8_t major;
        err = kd_cbor_head(rd, &major, &len);
        if (err != KD_OK)
            return err;
        break;
    }
    case KD_KIND_MGPK:
    default: {
        const uint8_t c = rd->p[rd->pos];
        if (c <= 0xbf) {
            len = c & 0x1f;
            rd->pos++;
        } else {
            const uint32_t hl = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
            err = kd_mgpk_be(rd, hl, &len);
            if (err != KD_OK)
                return err;
            if ((hl == 1 && len < 32) || (hl == 2 && len <= 0xff) || (hl == 4 && len <= 0xffff))
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "MGPK length not in shortest form");
        }
        break;
    }
    }
    if (len > rd->n - rd->pos)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "string longer than the body");
    s->off = rd->pos;
    s->len = (uint32_t)len;
    if (!kd_utf8_valid(rd->p + s->off, s->len))
        return kd_rd_fail(rd, KD_EVF_UTF8, "string is not valid UTF-8");
    rd->pos += (uint32_t)len;
    return KD_OK;
}

/* Reads an integer (the next value is KD_RD_UINT or KD_RD_NINT): magnitude
 * and sign; JSON up to 128 bits, CBOR/MGPK 64. */
static enum kd_err kd_rd_int(struct kd_rd *rd, kd_sn_t *mag, bool *neg, struct kd_span *raw)
{
    const uint32_t start = rd->pos;
    enum kd_err err;

    *neg = kd_rd_peek(rd) == KD_RD_NINT;
    switch (rd->kind) {
    case KD_KIND_JSON: {
        enum kd_rd_type nt;
        uint32_t end;
        kd_sn_t v = 0;
        err = kd_json_number(rd, &nt, &end);
        if (err != KD_OK)
            return err;
        for (uint32_t i = rd->pos + (*neg ? 1 : 0); i < end; i++) {
            const unsigned d = (unsigned)(rd->p[i] - '0');
            if (v > (KD_SN_MAX - d) / 10)
                return kd_rd_fail(rd, KD_EVF_NUMBER, "integer larger than 2^128 - 1");
            v = v * 10 + d;
        }
        rd->pos = end;
        *mag = v;
        break;
    }
    case KD_KIND_CBOR: {
        uint8_t major;
        uint64_t a;
        err = kd_cbor_head(rd, &major, &a);
        if (err != KD_OK)
            return err;
        /* major 1 encodes -1 - a: magnitude a + 1 */
        *mag = (kd_sn_t)a + (*neg ? 1 : 0);
        break;
    }
    case KD_KIND_MGPK:
    default: {
        const uint8_t c = rd->p[rd->pos];
        uint64_t a;
        if (c <= 0x7f) {
            *mag = c;
            rd->pos++;
        } else if (c >= 0xe0) {
            *mag = (kd_sn_t)(0x100 - c);
            rd->pos++;
        } else if (c >= 0xcc && c <= 0xcf) {
            const uint32_t len = 1u << (c - 0xcc);
            err = kd_mgpk_be(rd, len, &a);
            if (err != KD_OK)
                return err;
            if ((len == 1 && a < 0x80) || (len == 2 && a <= 0xff) || (len == 4 && a <= 0xffff) ||
                (len == 8 && a <= 0xffffffffu))
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "MGPK integer not in shortest form");
            *mag = a;
        } else {
            /* int8..int64: two's complement, must be negative and not fit a
             * shorter form (msgpack-python packs non-negatives unsigned). */
            const uint32_t len = 1u << (c - 0xd0);
            const uint64_t sign = UINT64_C(1) << (8 * len - 1);
            uint64_t m;
            err = kd_mgpk_be(rd, len, &a);
            if (err != KD_OK)
                return err;
            if (!(a & sign))
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "MGPK signed form of a non-negative");
            m = len == 8 ? (~a + 1) : ((sign << 1) - a); /* magnitude */
            if ((len == 1 && m <= 32) || (len == 2 && m <= 0x80) || (len == 4 && m <= 0x8000) ||
                (len == 8 && m <= 0x80000000u))
                return kd_rd_fail(rd, KD_EVF_NONCANONICAL, "MGPK integer not in shortest form");
            *mag = m;
        }
        break;
    }
    }
    if (raw) {
        raw->off = start;
        raw->len = rd->pos - start;
    }
    return KD_OK;
}

enum kd_err kd_rd_uint(struct kd_rd *rd, kd_sn_t *v, struct kd_span *raw)
{
    bool neg;

    return kd_rd_int(rd, v, &neg, raw);
}

/* Consumes a JSON literal word. */
static enum kd_err kd_json_word(struct kd_rd *rd, const char *w)
{
    const uint32_t n = (uint32_t)strlen(w);

    if (rd->n - rd->pos < n || memcmp(rd->p + rd->pos, w, n) != 0)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "malformed JSON literal");
    rd->pos += n;
    return KD_OK;
}

enum kd_err kd_rd_skip(struct kd_rd *rd, struct kd_span *raw)
{
    const uint32_t start = rd->pos;
    const enum kd_rd_type t = kd_rd_peek(rd);
    enum kd_err err = KD_OK;

    switch (t) {
    case KD_RD_MAP:
    case KD_RD_ARR: {
        bool more;
        err = kd_rd_enter(rd, t);
        while (err == KD_OK) {
            err = kd_rd_next(rd, &more);
            if (err != KD_OK || !more)
                break;
            if (t == KD_RD_MAP) {
                struct kd_span k;
                err = kd_rd_key(rd, &k);
                if (err != KD_OK)
                    break;
            }
            err = kd_rd_skip(rd, NULL);
        }
        break;
    }
    case KD_RD_STR: {
        struct kd_span s;
        err = kd_rd_str(rd, &s);
        break;
    }
    case KD_RD_UINT:
    case KD_RD_NINT: {
        if (rd->kind == KD_KIND_JSON) {
            /* Any length: Python ints are unbounded. */
            enum kd_rd_type nt;
            uint32_t end;
            err = kd_json_number(rd, &nt, &end);
            if (err == KD_OK)
                rd->pos = end;
        } else {
            kd_sn_t m;
            bool neg;
            err = kd_rd_int(rd, &m, &neg, NULL);
        }
        break;
    }
    case KD_RD_FLOAT: {
        enum kd_rd_type nt;
        uint32_t end;
        err = kd_json_number(rd, &nt, &end);
        if (err == KD_OK)
            rd->pos = end;
        break;
    }
    case KD_RD_TRUE:
    case KD_RD_FALSE:
    case KD_RD_NULL:
        if (rd->kind == KD_KIND_JSON)
            err = kd_json_word(rd, t == KD_RD_TRUE ? "true" : t == KD_RD_FALSE ? "false" : "null");
        else
            rd->pos++;
        break;
    case KD_RD_BAD:
    default:
        err = kd_rd_wrong(rd);
        break;
    }
    if (err == KD_OK && raw) {
        raw->off = start;
        raw->len = rd->pos - start;
    }
    return err;
}

enum kd_err kd_rd_finish(struct kd_rd *rd)
{
    if (rd->pos != rd->n)
        return kd_rd_fail(rd, KD_EVF_SYNTAX, "bytes after the end of the message");
    return KD_OK;
}
