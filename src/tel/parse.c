/*
 * TEL bodies: strict parsing of vcp, vrt, iss, rev, bis and brv (JSON) with
 * kel/'s canonical reader, SAID and registry prefix verification, and the
 * -GAB source seal (include/kerid/tel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/crypto.h"
#include "kerid/tel.h"
#include "reader.h"

/* Bodies up to this size are copied on the stack for hashing. */
#define KD_TEL_STACK_COPY 4096

static const char *const kd_tel_ilk_names[] = {
#define KD_TEL_ILK_NAME_(e, s) s,
    KD_TEL_ILKS(KD_TEL_ILK_NAME_)
#undef KD_TEL_ILK_NAME_
};

static const struct {
    const char *name;
    const char *message;
    enum kd_err err;
} kd_tel_faults[] = {
#define KD_TEL_FAULT_ROW_(name, err, msg) {#name, msg, err},
    KD_TEL_FAULTS(KD_TEL_FAULT_ROW_)
#undef KD_TEL_FAULT_ROW_
};

const char *kd_tel_ilk_name(enum kd_tel_ilk ilk)
{
    return (unsigned)ilk < KD_TEL_ILK_COUNT_ ? kd_tel_ilk_names[ilk] : "?";
}

enum kd_err kd_tel_fault_err(enum kd_tel_fault f)
{
    return (unsigned)f < KD_TEL_F_COUNT_ ? kd_tel_faults[f].err : KD_EINTERNAL;
}

const char *kd_tel_fault_message(enum kd_tel_fault f)
{
    return (unsigned)f < KD_TEL_F_COUNT_ ? kd_tel_faults[f].message : "?";
}

const char *kd_tel_fault_name(enum kd_tel_fault f)
{
    return (unsigned)f < KD_TEL_F_COUNT_ ? kd_tel_faults[f].name : "?";
}

/* ---- field lists ---- */

/* The top-level labels of TEL bodies. */
enum kd_tf {
    TF_V,
    TF_T,
    TF_D,
    TF_I,
    TF_S,
    TF_II,
    TF_RI,
    TF_P,
    TF_C,
    TF_BT,
    TF_B,
    TF_N,
    TF_BR,
    TF_BA,
    TF_RA,
    TF_DT,
    TF_COUNT_
};

static const char *const kd_tf_names[TF_COUNT_] = {"v", "t",  "d", "i", "s",  "ii", "ri", "p",
                                                   "c", "bt", "b", "n", "br", "ba", "ra", "dt"};

#define KD_TF_MAX 10 /* the longest list (keripy vcp) */

struct kd_tf_list {
    enum kd_tel_ilk ilk;
    enum kd_tel_form form;
    uint8_t n;
    uint8_t f[KD_TF_MAX];
};

static const struct kd_tf_list kd_tf_lists[] = {
    {KD_TEL_VCP,
     KD_TEL_FORM_KERIPY,
     10,
     {TF_V, TF_T, TF_D, TF_I, TF_II, TF_S, TF_C, TF_BT, TF_B, TF_N}},
    {KD_TEL_VCP, KD_TEL_FORM_KERIOX, 9, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_II, TF_C, TF_BT, TF_B}},
    {KD_TEL_VRT, KD_TEL_FORM_KERIPY, 9, {TF_V, TF_T, TF_D, TF_I, TF_P, TF_S, TF_BT, TF_BR, TF_BA}},
    {KD_TEL_VRT, KD_TEL_FORM_KERIOX, 8, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_P, TF_BA, TF_BR}},
    {KD_TEL_ISS, KD_TEL_FORM_COMMON, 7, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_RI, TF_DT}},
    {KD_TEL_REV, KD_TEL_FORM_COMMON, 8, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_RI, TF_P, TF_DT}},
    {KD_TEL_BIS, KD_TEL_FORM_KERIPY, 8, {TF_V, TF_T, TF_D, TF_I, TF_II, TF_S, TF_RA, TF_DT}},
    {KD_TEL_BIS, KD_TEL_FORM_KERIOX, 8, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_II, TF_RA, TF_DT}},
    {KD_TEL_BRV, KD_TEL_FORM_COMMON, 8, {TF_V, TF_T, TF_D, TF_I, TF_S, TF_P, TF_RA, TF_DT}},
};

/* ---- parse state ---- */

struct kd_tel_ps {
    struct kd_rd rd;
    struct kd_tel_event *ev;
    uint8_t seen[KD_TF_MAX];
    unsigned nseen;
    bool have_ilk;
};

static enum kd_err kd_tel_fail(struct kd_tel_ps *ps, enum kd_event_fault f, const char *why)
{
    return kd_rd_fail(&ps->rd, f, why);
}

static const char *kd_tel_at(const struct kd_tel_ps *ps, struct kd_span s)
{
    return (const char *)ps->rd.p + s.off;
}

/* Copies span s into out (KD_TEL_ID_MAX + 1 bytes); s.len was checked. */
static void kd_tel_copy(const struct kd_tel_ps *ps, struct kd_span s, char *out)
{
    memcpy(out, kd_tel_at(ps, s), s.len);
    out[s.len] = '\0';
}

/* Reads a string value into *s; fault TYPE if the next value is not one. */
static enum kd_err kd_tel_str(struct kd_tel_ps *ps, struct kd_span *s)
{
    if (kd_rd_peek(&ps->rd) != KD_RD_STR)
        return kd_tel_fail(ps, KD_EVF_TYPE, "expected a string");
    return kd_rd_str(&ps->rd, s);
}

/* Checks that span s is one qb64 primitive whose code has a class in flags. */
static enum kd_err kd_tel_qb64_at(struct kd_tel_ps *ps, struct kd_span s, unsigned flags,
                                  enum kd_cesr_code *code)
{
    struct kd_cesr_prim prim;
    const char *why = NULL;

    if (s.len == 0 || s.len > KD_TEL_ID_MAX)
        return kd_tel_fail(ps, KD_EVF_PRIMITIVE, "empty or over-long primitive");
    if (kd_cesr_qb64_decode(kd_tel_at(ps, s), s.len, &prim, NULL, &why) != KD_OK)
        return kd_tel_fail(ps, KD_EVF_PRIMITIVE, why != NULL ? why : "malformed primitive");
    if (flags != 0 && (kd_cesr_code_flags(prim.code) & flags) == 0)
        return kd_tel_fail(ps, KD_EVF_PRIMITIVE, "primitive of the wrong kind");
    if (code != NULL)
        *code = prim.code;
    return KD_OK;
}

/* Reads a qb64 string value of a class in flags into *s (and out if not NULL). */
static enum kd_err kd_tel_qb64(struct kd_tel_ps *ps, unsigned flags, struct kd_span *s, char *out)
{
    enum kd_err e = kd_tel_str(ps, s);

    if (e == KD_OK)
        e = kd_tel_qb64_at(ps, *s, flags, NULL);
    if (e == KD_OK && out != NULL)
        kd_tel_copy(ps, *s, out);
    return e;
}

/* Reads a canonical lowercase hex number (no leading zeros) into *v. */
static enum kd_err kd_tel_hex(struct kd_tel_ps *ps, struct kd_span *s, kd_sn_t *v)
{
    char canon[KD_CESR_SN_HEX_MAX + 1];
    enum kd_err e = kd_tel_str(ps, s);

    if (e != KD_OK)
        return e;
    if (kd_sn_parse_hex(v, kd_tel_at(ps, *s), s->len) != KD_OK ||
        kd_cesr_sn_hex(*v, canon, sizeof(canon)) != s->len ||
        memcmp(canon, kd_tel_at(ps, *s), s->len) != 0)
        return kd_tel_fail(ps, KD_EVF_NUMBER, "not a lowercase hex number without leading zeros");
    return KD_OK;
}

/* Reads a list of qb64 prefixes (b, br, ba) without duplicates. */
static enum kd_err kd_tel_prefixes(struct kd_tel_ps *ps, struct kd_qb64_list *l,
                                   struct kd_span *raw)
{
    const uint32_t start = ps->rd.pos;
    bool more = false;
    enum kd_err e;

    l->count = 0;
    if (kd_rd_peek(&ps->rd) != KD_RD_ARR)
        return kd_tel_fail(ps, KD_EVF_TYPE, "expected a list of identifiers");
    if ((e = kd_rd_enter(&ps->rd, KD_RD_ARR)) != KD_OK)
        return e;
    while ((e = kd_rd_next(&ps->rd, &more)) == KD_OK && more) {
        struct kd_span s;

        if (l->count >= KD_TEL_MAX_BACKERS)
            return kd_tel_fail(ps, KD_EVF_LIMIT, "more than KD_TEL_MAX_BACKERS backers");
        if ((e = kd_tel_qb64(ps, KD_CESR_F_PREFIX, &s, NULL)) != KD_OK)
            return e;
        for (unsigned k = 0; k < l->count; k++) {
            if (l->item[k].len == s.len &&
                memcmp(kd_tel_at(ps, l->item[k]), kd_tel_at(ps, s), s.len) == 0)
                return kd_tel_fail(ps, KD_EVF_WITNESSES, "duplicate backer in a list");
        }
        l->item[l->count++] = s;
    }
    if (e != KD_OK)
        return e;
    if (raw != NULL) {
        raw->off = start;
        raw->len = ps->rd.pos - start;
    }
    return KD_OK;
}

/* Reads c: a list of distinct traits (upper-case letters, 1..8 each). */
static enum kd_err kd_tel_traits(struct kd_tel_ps *ps)
{
    struct kd_span seen[KD_EVENT_MAX_TRAITS];
    const uint32_t start = ps->rd.pos;
    unsigned n = 0;
    bool more = false;
    enum kd_err e;

    if (kd_rd_peek(&ps->rd) != KD_RD_ARR)
        return kd_tel_fail(ps, KD_EVF_TYPE, "c is not a list");
    if ((e = kd_rd_enter(&ps->rd, KD_RD_ARR)) != KD_OK)
        return e;
    while ((e = kd_rd_next(&ps->rd, &more)) == KD_OK && more) {
        struct kd_span s;

        if (n >= KD_EVENT_MAX_TRAITS)
            return kd_tel_fail(ps, KD_EVF_LIMIT, "more than KD_EVENT_MAX_TRAITS traits");
        if ((e = kd_tel_str(ps, &s)) != KD_OK)
            return e;
        if (s.len == 0 || s.len > 8)
            return kd_tel_fail(ps, KD_EVF_TYPE, "trait is not 1 to 8 upper-case letters");
        for (uint32_t k = 0; k < s.len; k++) {
            const char ch = kd_tel_at(ps, s)[k];

            if (ch < 'A' || ch > 'Z')
                return kd_tel_fail(ps, KD_EVF_TYPE, "trait is not 1 to 8 upper-case letters");
        }
        for (unsigned k = 0; k < n; k++) {
            if (seen[k].len == s.len &&
                memcmp(kd_tel_at(ps, seen[k]), kd_tel_at(ps, s), s.len) == 0)
                return kd_tel_fail(ps, KD_EVF_TYPE, "duplicate trait in c");
        }
        seen[n++] = s;
        if (kd_rd_span_is(&ps->rd, s, "NB"))
            ps->ev->no_backers = true;
    }
    if (e != KD_OK)
        return e;
    ps->ev->c_raw.off = start;
    ps->ev->c_raw.len = ps->rd.pos - start;
    return KD_OK;
}

/* Reads ra: exactly {"i": registry, "s": hex, "d": digest}, in that order. */
static enum kd_err kd_tel_ra(struct kd_tel_ps *ps)
{
    static const char *const labels[3] = {"i", "s", "d"};
    struct kd_tel_event *ev = ps->ev;
    unsigned k = 0;
    bool more = false;
    enum kd_err e;

    if (kd_rd_peek(&ps->rd) != KD_RD_MAP)
        return kd_tel_fail(ps, KD_EVF_TYPE, "ra is not a map");
    if ((e = kd_rd_enter(&ps->rd, KD_RD_MAP)) != KD_OK)
        return e;
    while ((e = kd_rd_next(&ps->rd, &more)) == KD_OK && more) {
        struct kd_span key, v;

        if ((e = kd_rd_key(&ps->rd, &key)) != KD_OK)
            return e;
        if (k >= 3 || !kd_rd_span_is(&ps->rd, key, labels[k]))
            return kd_tel_fail(ps, KD_EVF_FIELDS, "ra must be exactly {i, s, d}");
        if (k == 0)
            e = kd_tel_qb64(ps, KD_CESR_F_DIGEST, &v, ev->reg);
        else if (k == 1)
            e = kd_tel_hex(ps, &v, &ev->ra_sn);
        else
            e = kd_tel_qb64(ps, KD_CESR_F_DIGEST, &v, ev->ra_d);
        if (e != KD_OK)
            return e;
        k++;
    }
    if (e != KD_OK)
        return e;
    if (k != 3)
        return kd_tel_fail(ps, KD_EVF_FIELDS, "ra must be exactly {i, s, d}");
    return KD_OK;
}

/* Reads dt: an ISO-8601 date-time (digits and - : . + T Z, starting with a digit). */
static enum kd_err kd_tel_dt(struct kd_tel_ps *ps)
{
    struct kd_span s;
    enum kd_err e = kd_tel_str(ps, &s);

    if (e != KD_OK)
        return e;
    if (s.len < 10 || s.len > KD_TEL_DT_MAX)
        return kd_tel_fail(ps, KD_EVF_TYPE, "dt is not an ISO-8601 date-time");
    for (uint32_t k = 0; k < s.len; k++) {
        const char ch = kd_tel_at(ps, s)[k];

        if (!((ch >= '0' && ch <= '9') || ch == '-' || ch == ':' || ch == '.' || ch == '+' ||
              ch == 'T' || ch == 'Z') ||
            (k == 0 && !(ch >= '0' && ch <= '9')))
            return kd_tel_fail(ps, KD_EVF_TYPE, "dt is not an ISO-8601 date-time");
    }
    ps->ev->dt = s;
    return KD_OK;
}

/* Reads the value of top-level field f. */
static enum kd_err kd_tel_field(struct kd_tel_ps *ps, enum kd_tf f)
{
    struct kd_tel_event *ev = ps->ev;
    struct kd_version ver;
    struct kd_span s;
    kd_sn_t v;
    enum kd_err e;

    switch (f) {
    case TF_V:
        if ((e = kd_tel_str(ps, &s)) != KD_OK)
            return e;
        if (kd_version_parse(&ver, kd_tel_at(ps, s), s.len, &ps->rd.diag) != KD_OK) {
            ps->rd.failed = true;
            return kd_event_fault_err(ps->rd.diag.fault);
        }
        if (ver.kind != KD_KIND_JSON)
            return kd_tel_fail(ps, KD_EVF_KIND_MISMATCH, "TEL events are JSON");
        if (ver.size != ps->rd.n)
            return kd_tel_fail(ps, KD_EVF_SIZE, "version string size differs from the body");
        return KD_OK;
    case TF_T:
        if ((e = kd_tel_str(ps, &s)) != KD_OK)
            return e;
        for (unsigned k = 0; k < KD_TEL_ILK_COUNT_; k++) {
            if (kd_rd_span_is(&ps->rd, s, kd_tel_ilk_names[k])) {
                ev->ilk = (enum kd_tel_ilk)k;
                ps->have_ilk = true;
                return KD_OK;
            }
        }
        return kd_tel_fail(ps, KD_EVF_ILK, "not a TEL event type (vcp vrt iss rev bis brv)");
    case TF_D:
        return kd_tel_qb64(ps, KD_CESR_F_DIGEST, &ev->d, ev->said);
    case TF_I:
        return kd_tel_qb64(ps, KD_CESR_F_DIGEST, &ev->i, ev->id);
    case TF_S:
        return kd_tel_hex(ps, &ev->s, &ev->sn);
    case TF_II:
        return kd_tel_qb64(ps, KD_CESR_F_PREFIX, &s, ev->ii);
    case TF_RI:
        return kd_tel_qb64(ps, KD_CESR_F_DIGEST, &s, ev->reg);
    case TF_P:
        return kd_tel_qb64(ps, KD_CESR_F_DIGEST, &s, ev->prior);
    case TF_C:
        return kd_tel_traits(ps);
    case TF_BT:
        if ((e = kd_tel_hex(ps, &ev->bt_raw, &v)) != KD_OK)
            return e;
        if (v > UINT64_MAX)
            return kd_tel_fail(ps, KD_EVF_NUMBER, "bt larger than 2^64 - 1");
        ev->bt = (uint64_t)v;
        ev->has_bt = true;
        return KD_OK;
    case TF_B:
        return kd_tel_prefixes(ps, &ev->backers, &ev->b_raw);
    case TF_BR:
        return kd_tel_prefixes(ps, &ev->cuts, NULL);
    case TF_BA:
        return kd_tel_prefixes(ps, &ev->adds, NULL);
    case TF_N:
        return kd_tel_qb64(ps, 0, &s, NULL);
    case TF_RA:
        return kd_tel_ra(ps);
    case TF_DT:
        return kd_tel_dt(ps);
    case TF_COUNT_:
        break;
    }
    return kd_tel_fail(ps, KD_EVF_FIELDS, "unknown field");
}

/* Reads the top-level map, recording the labels in order. */
static enum kd_err kd_tel_fields(struct kd_tel_ps *ps)
{
    bool more = false;
    enum kd_err e;

    if (kd_rd_peek(&ps->rd) != KD_RD_MAP)
        return kd_tel_fail(ps, KD_EVF_KIND, "body is not a JSON map");
    if ((e = kd_rd_enter(&ps->rd, KD_RD_MAP)) != KD_OK)
        return e;
    while ((e = kd_rd_next(&ps->rd, &more)) == KD_OK && more) {
        struct kd_span key;
        unsigned f;

        if ((e = kd_rd_key(&ps->rd, &key)) != KD_OK)
            return e;
        for (f = 0; f < TF_COUNT_; f++) {
            if (kd_rd_span_is(&ps->rd, key, kd_tf_names[f]))
                break;
        }
        if (f == TF_COUNT_)
            return kd_tel_fail(ps, KD_EVF_FIELDS, "field not part of any TEL event");
        if (ps->nseen >= KD_TF_MAX)
            return kd_tel_fail(ps, KD_EVF_FIELDS, "too many fields for a TEL event");
        if (ps->nseen == 0 && f != TF_V)
            return kd_tel_fail(ps, KD_EVF_VERSION, "the version string v must come first");
        ps->seen[ps->nseen++] = (uint8_t)f;
        ps->rd.field = kd_tf_names[f];
        if ((e = kd_tel_field(ps, (enum kd_tf)f)) != KD_OK)
            return e;
        ps->rd.field = NULL;
    }
    if (e != KD_OK)
        return e;
    return kd_rd_finish(&ps->rd);
}

/* Matches the labels read against the field lists of the event's ilk. */
static enum kd_err kd_tel_match(struct kd_tel_ps *ps)
{
    if (!ps->have_ilk)
        return kd_tel_fail(ps, KD_EVF_FIELDS, "no message type t");
    for (size_t k = 0; k < sizeof(kd_tf_lists) / sizeof(kd_tf_lists[0]); k++) {
        const struct kd_tf_list *l = &kd_tf_lists[k];

        if (l->ilk == ps->ev->ilk && l->n == ps->nseen && memcmp(l->f, ps->seen, l->n) == 0) {
            ps->ev->form = l->form;
            if (l->ilk == KD_TEL_VCP || l->ilk == KD_TEL_VRT)
                memcpy(ps->ev->reg, ps->ev->id, sizeof(ps->ev->reg));
            return KD_OK;
        }
    }
    return kd_tel_fail(ps, KD_EVF_FIELDS,
                       "fields missing, extra or out of order for this TEL event type");
}

/* Whether two lists share an entry. */
static bool kd_tel_lists_meet(const struct kd_tel_ps *ps, const struct kd_qb64_list *a,
                              const struct kd_qb64_list *b)
{
    for (unsigned x = 0; x < a->count; x++) {
        for (unsigned y = 0; y < b->count; y++) {
            if (a->item[x].len == b->item[y].len &&
                memcmp(kd_tel_at(ps, a->item[x]), kd_tel_at(ps, b->item[y]), a->item[x].len) == 0)
                return true;
        }
    }
    return false;
}

/* The rules that need no state. */
static enum kd_err kd_tel_stateless(struct kd_tel_ps *ps)
{
    const struct kd_tel_event *ev = ps->ev;

    switch (ev->ilk) {
    case KD_TEL_VCP:
        if (ev->sn != 0)
            return kd_tel_fail(ps, KD_EVF_SEQUENCE, "vcp must have sn 0");
        if (ev->no_backers && ev->backers.count > 0)
            return kd_tel_fail(ps, KD_EVF_WITNESSES, "registry configured NB lists backers");
        if (ev->backers.count > 0 ? (ev->bt < 1 || ev->bt > ev->backers.count) : ev->bt != 0)
            return kd_tel_fail(ps, KD_EVF_WITNESSES, "bt does not fit the backer list");
        return KD_OK;
    case KD_TEL_VRT:
        if (ev->sn < 1)
            return kd_tel_fail(ps, KD_EVF_SEQUENCE, "vrt must have sn 1 or more");
        if (kd_tel_lists_meet(ps, &ev->cuts, &ev->adds))
            return kd_tel_fail(ps, KD_EVF_WITNESSES, "br and ba intersect");
        return KD_OK;
    case KD_TEL_ISS:
    case KD_TEL_BIS:
        if (ev->sn != 0)
            return kd_tel_fail(ps, KD_EVF_SEQUENCE, "issuance must have sn 0");
        return KD_OK;
    case KD_TEL_REV:
    case KD_TEL_BRV:
        if (ev->sn != 1)
            return kd_tel_fail(ps, KD_EVF_SEQUENCE, "revocation must have sn 1");
        return KD_OK;
    case KD_TEL_ILK_COUNT_:
        break;
    }
    return kd_tel_fail(ps, KD_EVF_ILK, "not a TEL event type");
}

/* Blake3-256 qb64 of p (n bytes) with the spans dummied ('#'), p untouched. */
static enum kd_err kd_tel_digest(const uint8_t *p, size_t n, const struct kd_span *sp, unsigned nsp,
                                 char out[KD_DIGEST_QB64_LEN + 1])
{
    uint8_t stackbuf[KD_TEL_STACK_COPY];
    uint8_t *copy = stackbuf;

    if (n > sizeof(stackbuf)) {
        copy = malloc(n);
        if (copy == NULL)
            return KD_ENOMEM;
    }
    memcpy(copy, p, n);
    for (unsigned k = 0; k < nsp; k++)
        memset(copy + sp[k].off, '#', sp[k].len);
    kd_blake3_256_qb64(copy, n, out);
    if (copy != stackbuf)
        free(copy);
    return KD_OK;
}

/*
 * keriox's registry prefix: the digest of the serialized "dummy event"
 * {"v":"KERI10JSON<size>_","i":"<44 #>","s":"0","ii":..,"c":..,"bt":..,"b":..}
 * (teliox manager_event.rs DummyEvent), built from the received values,
 * which canonical JSON makes byte-identical to what keriox serializes.
 */
static enum kd_err kd_tel_keriox_prefix(const struct kd_tel_ps *ps,
                                        char out[KD_DIGEST_QB64_LEN + 1])
{
    const struct kd_tel_event *ev = ps->ev;
    struct kd_buf b;
    char head[64];
    size_t size;
    enum kd_err e;
    int n;

    /* 17-char version string, then everything else: size is fixed up front. */
    size =
        strlen("{\"v\":\"KERI10JSON000000_\",\"i\":\"\",\"s\":\"0\",\"ii\":\"\",\"c\":,\"bt\":\"\","
               "\"b\":}") +
        KD_DIGEST_QB64_LEN + strlen(ev->ii) + ev->c_raw.len + ev->bt_raw.len + ev->b_raw.len;
    if (size > KD_EVENT_MAX_SIZE)
        return KD_ETOOLARGE;
    kd_buf_init(&b, KD_EVENT_MAX_SIZE);
    n = snprintf(head, sizeof(head), "{\"v\":\"KERI10JSON%06zx_\",\"i\":\"", size);
    e = kd_buf_append(&b, head, (size_t)n);
    for (unsigned k = 0; e == KD_OK && k < KD_DIGEST_QB64_LEN; k++)
        e = kd_buf_append(&b, "#", 1);
    if (e == KD_OK)
        e = kd_buf_printf(&b, "\",\"s\":\"0\",\"ii\":\"%s\",\"c\":", ev->ii);
    if (e == KD_OK)
        e = kd_buf_append(&b, kd_tel_at(ps, ev->c_raw), ev->c_raw.len);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, ",\"bt\":\"");
    if (e == KD_OK)
        e = kd_buf_append(&b, kd_tel_at(ps, ev->bt_raw), ev->bt_raw.len);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "\",\"b\":");
    if (e == KD_OK)
        e = kd_buf_append(&b, kd_tel_at(ps, ev->b_raw), ev->b_raw.len);
    if (e == KD_OK)
        e = kd_buf_append_str(&b, "}");
    if (e == KD_OK && b.len != size)
        e = KD_EINTERNAL;
    if (e == KD_OK)
        kd_blake3_256_qb64(b.data, b.len, out);
    kd_buf_free(&b);
    return e;
}

/* Verifies d and, for vcp, the registry prefix i. */
static enum kd_err kd_tel_saids(struct kd_tel_ps *ps)
{
    struct kd_tel_event *ev = ps->ev;
    struct kd_span sp[2];
    char dig[KD_DIGEST_QB64_LEN + 1];
    enum kd_cesr_code code = KD_CESR_CODE_COUNT_;
    unsigned nsp = 0;
    bool keripy_prefix;
    enum kd_err e;

    ps->rd.field = "d";
    if ((e = kd_tel_qb64_at(ps, ev->d, KD_CESR_F_DIGEST, &code)) != KD_OK)
        return e;
    if (code != KD_CESR_BLAKE3_256)
        return kd_tel_fail(ps, KD_EVF_DIGEST_CODE, "only Blake3-256 SAIDs are supported");
    keripy_prefix = ev->ilk == KD_TEL_VCP && strcmp(ev->id, ev->said) == 0;
    sp[nsp++] = ev->d;
    if (keripy_prefix)
        sp[nsp++] = ev->i;
    if ((e = kd_tel_digest(ev->raw, ev->size, sp, nsp, dig)) != KD_OK)
        return e;
    if (strcmp(dig, ev->said) != 0)
        return kd_tel_fail(ps, KD_EVF_SAID, "SAID d does not match the body");
    if (ev->ilk != KD_TEL_VCP || keripy_prefix)
        return KD_OK;
    ps->rd.field = "i";
    if (ev->form != KD_TEL_FORM_KERIOX)
        return kd_tel_fail(ps, KD_EVF_PREFIX, "keripy registry prefix i must equal d");
    if ((e = kd_tel_qb64_at(ps, ev->i, KD_CESR_F_DIGEST, &code)) != KD_OK)
        return e;
    if (code != KD_CESR_BLAKE3_256)
        return kd_tel_fail(ps, KD_EVF_DIGEST_CODE,
                           "only Blake3-256 registry prefixes are supported");
    if ((e = kd_tel_keriox_prefix(ps, dig)) != KD_OK)
        return e;
    if (strcmp(dig, ev->id) != 0)
        return kd_tel_fail(ps, KD_EVF_PREFIX,
                           "registry prefix i does not match its inception data");
    return KD_OK;
}

enum kd_err kd_tel_parse(struct kd_tel_event *ev, const void *body, size_t len,
                         struct kd_event_diag *diag)
{
    struct kd_tel_ps *ps = NULL;
    enum kd_err e;

    if (diag != NULL)
        memset(diag, 0, sizeof(*diag));
    if (ev == NULL || (body == NULL && len > 0))
        return KD_EINVAL;
    if (len == 0 || len > KD_EVENT_MAX_SIZE) {
        if (diag != NULL) {
            diag->fault = len == 0 ? KD_EVF_EMPTY : KD_EVF_LIMIT;
            diag->why = len == 0 ? "empty body" : "body larger than a v1 size";
        }
        return len == 0 ? KD_EBADJSON : KD_ETOOLARGE;
    }
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return KD_ENOMEM;
    memset(ev, 0, sizeof(*ev));
    ev->raw = body;
    ev->size = (uint32_t)len;
    ev->ilk = KD_TEL_ILK_COUNT_;
    ps->ev = ev;
    kd_rd_init(&ps->rd, body, (uint32_t)len, KD_KIND_JSON);
    if (((const uint8_t *)body)[0] != '{') {
        e = kd_tel_fail(ps, KD_EVF_KIND, "TEL events are JSON");
        goto out;
    }
    if ((e = kd_tel_fields(ps)) != KD_OK || (e = kd_tel_match(ps)) != KD_OK ||
        (e = kd_tel_stateless(ps)) != KD_OK)
        goto out;
    e = kd_tel_saids(ps);
out:
    if (e != KD_OK && diag != NULL) {
        *diag = ps->rd.diag;
        if (diag->why == NULL)
            diag->why = kd_event_fault_message(diag->fault);
    }
    free(ps);
    return e;
}

enum kd_err kd_tel_seal_get(const struct kd_cesr_attachments *att, struct kd_tel_seal *out)
{
    struct kd_cesr_iter it;
    struct kd_cesr_seal_src ss;
    size_t n = 0;

    if (att == NULL || out == NULL)
        return KD_EINVAL;
    if (att->ngroups != 1 || att->groups[0].code != KD_CESR_CTR_SEAL_SOURCE_COUPLES ||
        att->groups[0].count != 1 || att->groups[0].framed)
        return KD_EBADCESR;
    kd_cesr_iter_init(&it, att, KD_CESR_CTR_SEAL_SOURCE_COUPLES);
    if (kd_cesr_next_seal_src(&it, &ss) != KD_OK ||
        !(kd_cesr_code_flags(ss.said.code) & KD_CESR_F_DIGEST))
        return KD_EBADCESR;
    if (kd_cesr_qb64_encode(ss.said.code, ss.said.raw, ss.said.raw_len, out->said,
                            sizeof(out->said), &n) != KD_OK)
        return KD_EBADCESR;
    out->sn = ss.sn;
    return KD_OK;
}
