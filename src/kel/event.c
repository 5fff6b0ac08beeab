/*
 * KERI message bodies: strict parsing into struct kd_event
 * (spec/keri-core.md §2-§4.2; keripy serdering.SerderKERI).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/crypto.h"
#include "kel_int.h"

/* Witness lists share struct kd_qb64_list with key lists. */
_Static_assert(KD_EVENT_MAX_WITNESSES <= KD_EVENT_MAX_KEYS, "kd_qb64_list too small for b");

/* ---- tables ---- */

static const char *const kd_ilk_names[] = {
#define KD_ILK_NAME_(e, s) s,
    KD_ILKS(KD_ILK_NAME_)
#undef KD_ILK_NAME_
};

static const char *const kd_field_names[] = {
#define KD_FIELD_NAME_(e, s) s,
    KD_FIELDS(KD_FIELD_NAME_)
#undef KD_FIELD_NAME_
};

static const struct {
    const char *name;
    const char *message;
    enum kd_err err;
} kd_faults[] = {
#define KD_FAULT_ROW_(name, err, msg) {#name, msg, err},
    KD_EVENT_FAULTS(KD_FAULT_ROW_)
#undef KD_FAULT_ROW_
};

#define F(x) KD_FIELD_##x
/* Field lists of KERI 1.0 (keri-core §3, keripy Serder.Fields). */
static const uint8_t kd_fl_icp[] = {F(V),  F(T), F(D),  F(I), F(S), F(KT), F(K),
                                    F(NT), F(N), F(BT), F(B), F(C), F(A)};
static const uint8_t kd_fl_rot[] = {F(V), F(T),  F(D), F(I),  F(S),  F(P),  F(KT),
                                    F(K), F(NT), F(N), F(BT), F(BR), F(BA), F(A)};
static const uint8_t kd_fl_ixn[] = {F(V), F(T), F(D), F(I), F(S), F(P), F(A)};
static const uint8_t kd_fl_dip[] = {F(V),  F(T), F(D),  F(I), F(S), F(KT), F(K),
                                    F(NT), F(N), F(BT), F(B), F(C), F(A),  F(DI)};
static const uint8_t kd_fl_rct[] = {F(V), F(T), F(D), F(I), F(S)};
static const uint8_t kd_fl_qry[] = {F(V), F(T), F(D), F(DT), F(R), F(RR), F(Q)};
static const uint8_t kd_fl_rpy[] = {F(V), F(T), F(D), F(DT), F(R), F(A)};
static const uint8_t kd_fl_exn[] = {F(V),  F(T), F(D), F(I), F(RP), F(P),
                                    F(DT), F(R), F(Q), F(A), F(E)};
/* keriox's exn (keriox-surface §1.1 /forward); its first three match kd_fl_exn. */
static const uint8_t kd_fl_exn_keriox[] = {F(V), F(T), F(D), F(DT), F(R), F(Q), F(A)};
#undef F

static const struct {
    const uint8_t *fields;
    uint8_t n;
} kd_ilk_fields[KD_ILK_COUNT_] = {
    [KD_ILK_ICP] = {kd_fl_icp, sizeof kd_fl_icp}, [KD_ILK_ROT] = {kd_fl_rot, sizeof kd_fl_rot},
    [KD_ILK_IXN] = {kd_fl_ixn, sizeof kd_fl_ixn}, [KD_ILK_DIP] = {kd_fl_dip, sizeof kd_fl_dip},
    [KD_ILK_DRT] = {kd_fl_rot, sizeof kd_fl_rot}, [KD_ILK_RCT] = {kd_fl_rct, sizeof kd_fl_rct},
    [KD_ILK_QRY] = {kd_fl_qry, sizeof kd_fl_qry}, [KD_ILK_RPY] = {kd_fl_rpy, sizeof kd_fl_rpy},
    [KD_ILK_EXN] = {kd_fl_exn, sizeof kd_fl_exn},
};

/* Ilks of KERI/TEL 1.0 that exist but that kerid does not parse. */
static const char *const kd_ilks_unsupported[] = {"pro", "bar", "xip", "vcp", "vrt",
                                                  "iss", "rev", "bis", "brv"};

const char *kd_ilk_name(enum kd_ilk ilk)
{
    return (unsigned)ilk < KD_ILK_COUNT_ ? kd_ilk_names[ilk] : "?";
}

const char *kd_field_name(enum kd_field f)
{
    return (unsigned)f < KD_FIELD_COUNT_ ? kd_field_names[f] : "?";
}

const char *kd_event_fault_name(enum kd_event_fault f)
{
    return (unsigned)f < KD_EVF_COUNT_ ? kd_faults[f].name : "?";
}

const char *kd_event_fault_message(enum kd_event_fault f)
{
    return (unsigned)f < KD_EVF_COUNT_ ? kd_faults[f].message : "unknown fault";
}

enum kd_err kd_event_fault_err(enum kd_event_fault f)
{
    return (unsigned)f < KD_EVF_COUNT_ ? kd_faults[f].err : KD_EINTERNAL;
}

bool kd_span_eq(const struct kd_event *ev, struct kd_span s, const char *str)
{
    const size_t n = strlen(str);

    return s.len == n && memcmp(ev->raw + s.off, str, n) == 0;
}

/* ---- code groups ---- */

bool kd_code_is_digest(enum kd_cesr_code c)
{
    switch (c) {
    case KD_CESR_BLAKE3_256:
    case KD_CESR_BLAKE2B_256:
    case KD_CESR_BLAKE2S_256:
    case KD_CESR_SHA3_256:
    case KD_CESR_SHA2_256:
    case KD_CESR_BLAKE3_512:
    case KD_CESR_BLAKE2B_512:
    case KD_CESR_SHA3_512:
    case KD_CESR_SHA2_512:
        return true;
    default:
        return false;
    }
}

bool kd_code_is_basic(enum kd_cesr_code c)
{
    switch (c) {
    case KD_CESR_ED25519N:
    case KD_CESR_ED25519:
    case KD_CESR_ECDSA_256K1N:
    case KD_CESR_ECDSA_256K1:
    case KD_CESR_ED448N:
    case KD_CESR_ED448:
    case KD_CESR_ECDSA_256R1N:
    case KD_CESR_ECDSA_256R1:
        return true;
    default:
        return false;
    }
}

bool kd_code_is_prefix(enum kd_cesr_code c)
{
    return kd_code_is_basic(c) || kd_code_is_digest(c);
}

bool kd_code_is_nontrans(enum kd_cesr_code c)
{
    return c == KD_CESR_ED25519N || c == KD_CESR_ECDSA_256K1N || c == KD_CESR_ED448N ||
           c == KD_CESR_ECDSA_256R1N;
}

/* ---- numbers ---- */

enum kd_err kd_sn_parse_hex(kd_sn_t *out, const char *text, size_t n)
{
    kd_sn_t v = 0;

    if (text == NULL || n == 0)
        return KD_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)text[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return KD_EINVAL;
        if (v >> 124)
            return KD_EINVAL;
        v = (v << 4) | (kd_sn_t)d;
    }
    *out = v;
    return KD_OK;
}

/* ---- version string ---- */

static int kd_lhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Records a failure in an optional diag; returns the fault's error. */
static enum kd_err kd_diag_set(struct kd_event_diag *diag, enum kd_event_fault f, const char *why,
                               const char *field, uint32_t offset)
{
    if (diag) {
        diag->fault = f;
        diag->why = why;
        diag->field = field;
        diag->offset = offset;
    }
    return kd_event_fault_err(f);
}

enum kd_err kd_version_parse(struct kd_version *v, const char *text, size_t n,
                             struct kd_event_diag *diag)
{
    uint32_t size = 0;
    int major;
    int minor;

    if (text == NULL)
        return kd_diag_set(diag, KD_EVF_VERSION, "no version string", "v", 0);
    if (n != KD_VERSION_LEN) {
        /* v2: "KERICAAJSONAAE8." (16) or "KERICAACAAJSONAAE8." (19) */
        if ((n == 16 || n == 19) && text[n - 1] == '.')
            return kd_diag_set(diag, KD_EVF_VERSION2, "CESR v2 version string", "v", 0);
        return kd_diag_set(diag, KD_EVF_VERSION, "version string is not 17 characters", "v", 0);
    }
    if (text[16] != '_')
        return kd_diag_set(diag, KD_EVF_VERSION, "version string does not end in '_'", "v", 0);
    for (int i = 0; i < 4; i++)
        if (text[i] < 'A' || text[i] > 'Z')
            return kd_diag_set(diag, KD_EVF_VERSION, "malformed protocol", "v", 0);
    major = kd_lhex(text[4]);
    minor = kd_lhex(text[5]);
    if (major < 0 || minor < 0)
        return kd_diag_set(diag, KD_EVF_VERSION, "malformed version number", "v", 0);
    for (int i = 10; i < 16; i++) {
        const int d = kd_lhex(text[i]);
        if (d < 0)
            return kd_diag_set(diag, KD_EVF_VERSION, "size is not 6 lowercase hex digits", "v", 0);
        size = (size << 4) | (uint32_t)d;
    }
    if (memcmp(text, "KERI", 4) != 0)
        return kd_diag_set(diag, KD_EVF_PROTOCOL, "protocol is not KERI", "v", 0);
    if (major != 1 || minor != 0)
        return kd_diag_set(diag, KD_EVF_PROTOCOL, "version is not 1.0", "v", 0);
    if (memcmp(text + 6, "JSON", 4) == 0)
        v->kind = KD_KIND_JSON;
    else if (memcmp(text + 6, "CBOR", 4) == 0)
        v->kind = KD_KIND_CBOR;
    else if (memcmp(text + 6, "MGPK", 4) == 0)
        v->kind = KD_KIND_MGPK;
    else
        return kd_diag_set(diag, KD_EVF_VERSION, "unknown serialization kind", "v", 0);
    v->major = (uint8_t)major;
    v->minor = (uint8_t)minor;
    v->size = size;
    return KD_OK;
}

/* ---- the parse context ---- */

struct kd_parse {
    struct kd_rd rd;
    struct kd_event *ev;
    bool tmpl; /* template mode: placeholders allowed, no SAID/size checks */
};

enum kd_class { KD_CC_DIGEST, KD_CC_PREFIX, KD_CC_BASIC };

/* Fails at a given body offset. */
static enum kd_err kd_fail_at(struct kd_parse *ps, uint32_t off, enum kd_event_fault f,
                              const char *why)
{
    ps->rd.pos = off;
    return kd_rd_fail(&ps->rd, f, why);
}

/* True for a SAID placeholder: 44 '#'. */
static bool kd_is_placeholder(const struct kd_parse *ps, struct kd_span s)
{
    if (s.len != KD_CESR_FS_BLAKE3_256)
        return false;
    for (uint32_t i = 0; i < s.len; i++)
        if (ps->rd.p[s.off + i] != '#')
            return false;
    return true;
}

/* Checks that span s is one qb64 primitive of the class; *code (optional). */
static enum kd_err kd_prim_check(struct kd_parse *ps, struct kd_span s, enum kd_class cc,
                                 enum kd_cesr_code *code)
{
    struct kd_cesr_prim prim;
    const char *why = NULL;

    if (kd_cesr_qb64_decode((const char *)ps->rd.p + s.off, s.len, &prim, NULL, &why) != KD_OK)
        return kd_fail_at(ps, s.off, KD_EVF_PRIMITIVE, why ? why : "malformed primitive");
    switch (cc) {
    case KD_CC_DIGEST:
        if (!kd_code_is_digest(prim.code))
            return kd_fail_at(ps, s.off, KD_EVF_PRIMITIVE, "not a digest code");
        break;
    case KD_CC_PREFIX:
        if (!kd_code_is_prefix(prim.code))
            return kd_fail_at(ps, s.off, KD_EVF_PRIMITIVE, "not an identifier prefix code");
        break;
    case KD_CC_BASIC:
        if (!kd_code_is_basic(prim.code))
            return kd_fail_at(ps, s.off, KD_EVF_PRIMITIVE, "not a verification key code");
        break;
    }
    if (code)
        *code = prim.code;
    return KD_OK;
}

/* Reads a string value of the current field. */
static enum kd_err kd_read_str(struct kd_parse *ps, struct kd_span *s)
{
    return kd_rd_str(&ps->rd, s);
}

/* Reads a hex string or a non-negative integer (s, bt, q.s, ...). */
static enum kd_err kd_read_number(struct kd_parse *ps, kd_sn_t *v, struct kd_span *raw,
                                  enum kd_event_fault fault)
{
    struct kd_rd *rd = &ps->rd;
    const enum kd_rd_type t = kd_rd_peek(rd);
    struct kd_span s;
    enum kd_err err;

    if (t == KD_RD_UINT)
        return kd_rd_uint(rd, v, raw);
    if (t != KD_RD_STR)
        return kd_rd_fail(rd, t == KD_RD_BAD ? KD_EVF_SYNTAX : fault,
                          "number is not a hex string or an integer");
    err = kd_rd_str(rd, &s);
    if (err != KD_OK)
        return err;
    if (raw)
        *raw = s;
    if (kd_sn_parse_hex(v, (const char *)rd->p + s.off, s.len) != KD_OK)
        return kd_fail_at(ps, s.off, fault, "not a hex number below 2^128");
    return KD_OK;
}

/* Reads a list of qb64 strings of a class into l (at most max). */
static enum kd_err kd_read_qb64_list(struct kd_parse *ps, struct kd_qb64_list *l, enum kd_class cc,
                                     uint16_t max)
{
    struct kd_rd *rd = &ps->rd;
    bool more;
    enum kd_err err = kd_rd_enter(rd, KD_RD_ARR);

    l->count = 0;
    while (err == KD_OK) {
        struct kd_span s;
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        if (l->count >= max)
            return kd_rd_fail(rd, KD_EVF_LIMIT, "list longer than its documented bound");
        err = kd_read_str(ps, &s);
        if (err == KD_OK)
            err = kd_prim_check(ps, s, cc, NULL);
        if (err == KD_OK)
            l->item[l->count++] = s;
    }
    return err;
}

/* Reads a config trait list (c): known traits set bits, others are skipped. */
static enum kd_err kd_read_traits(struct kd_parse *ps, uint32_t *traits)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } known[] = {{"EO", KD_TRAIT_EO}, {"DND", KD_TRAIT_DND}, {"NB", KD_TRAIT_NB},
                 {"RB", KD_TRAIT_RB}, {"NRB", KD_TRAIT_NRB}, {"DID", KD_TRAIT_DID}};
    struct kd_rd *rd = &ps->rd;
    unsigned count = 0;
    bool more;
    enum kd_err err = kd_rd_enter(rd, KD_RD_ARR);

    *traits = 0;
    while (err == KD_OK) {
        struct kd_span s;
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        if (++count > KD_EVENT_MAX_TRAITS)
            return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_EVENT_MAX_TRAITS traits");
        if (kd_rd_peek(rd) != KD_RD_STR) {
            err = kd_rd_skip(rd, NULL);
            continue;
        }
        err = kd_read_str(ps, &s);
        for (size_t k = 0; err == KD_OK && k < sizeof known / sizeof known[0]; k++)
            if (kd_rd_span_is(rd, s, known[k].name))
                *traits |= known[k].bit;
    }
    return err;
}

/* Reads one seal (or any value standing where a seal may be). */
static enum kd_err kd_read_seal(struct kd_parse *ps, struct kd_seal *seal)
{
    struct kd_rd *rd = &ps->rd;
    const uint32_t start = rd->pos;
    struct kd_span lab[3];
    struct kd_span val[3];
    unsigned n = 0;
    bool strs = true;
    bool more;
    enum kd_err err;

    memset(seal, 0, sizeof *seal);
    seal->kind = KD_SEAL_OTHER;
    if (kd_rd_peek(rd) != KD_RD_MAP)
        return kd_rd_skip(rd, &seal->raw);
    err = kd_rd_enter(rd, KD_RD_MAP);
    while (err == KD_OK) {
        struct kd_span k;
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        err = kd_rd_key(rd, &k);
        if (err != KD_OK)
            break;
        if (n < 3 && kd_rd_peek(rd) == KD_RD_STR) {
            lab[n] = k;
            err = kd_read_str(ps, &val[n]);
        } else {
            strs = false;
            err = kd_rd_skip(rd, NULL);
        }
        n++;
    }
    if (err != KD_OK)
        return err;
    seal->raw.off = start;
    seal->raw.len = rd->pos - start;
    if (!strs || n == 0 || n > 3)
        return KD_OK;
#define LAB(j, s) kd_rd_span_is(rd, lab[j], s)
    if (n == 3 && LAB(0, "i") && LAB(1, "s") && LAB(2, "d")) {
        seal->kind = KD_SEAL_EVENT;
        seal->i = val[0];
        seal->s = val[1];
        seal->d = val[2];
    } else if (n == 1 && LAB(0, "d")) {
        seal->kind = KD_SEAL_DIGEST;
        seal->d = val[0];
    } else if (n == 1 && LAB(0, "rd")) {
        seal->kind = KD_SEAL_ROOT;
        seal->d = val[0];
    } else if (n == 1 && LAB(0, "i")) {
        seal->kind = KD_SEAL_LAST;
        seal->i = val[0];
    } else if (n == 2 && LAB(0, "s") && LAB(1, "d")) {
        seal->kind = KD_SEAL_TRANS;
        seal->s = val[0];
        seal->d = val[1];
    } else if (n == 2 && LAB(0, "bi") && LAB(1, "d")) {
        seal->kind = KD_SEAL_BACKER;
        seal->i = val[0];
        seal->d = val[1];
    }
#undef LAB
    if (seal->kind == KD_SEAL_EVENT || seal->kind == KD_SEAL_TRANS)
        seal->sn_ok =
            kd_sn_parse_hex(&seal->sn, (const char *)rd->p + seal->s.off, seal->s.len) == KD_OK;
    return KD_OK;
}

/* Reads the a list of a key event. */
static enum kd_err kd_read_seals(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_event *ev = ps->ev;
    bool more;
    enum kd_err err = kd_rd_enter(rd, KD_RD_ARR);

    ev->nseals = 0;
    while (err == KD_OK) {
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        if (ev->nseals >= KD_EVENT_MAX_SEALS)
            return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_EVENT_MAX_SEALS seals");
        err = kd_read_seal(ps, &ev->seals[ev->nseals++]);
    }
    return err;
}

/* ---- qry ---- */

static enum kd_err kd_read_topics(struct kd_parse *ps, struct kd_qry *q)
{
    struct kd_rd *rd = &ps->rd;
    bool more;
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_MAP)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "q.topics is not a map");
    err = kd_rd_enter(rd, KD_RD_MAP);
    q->ntopics = 0;
    while (err == KD_OK) {
        struct kd_span k;
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        if (q->ntopics >= KD_EVENT_MAX_TOPICS)
            return kd_rd_fail(rd, KD_EVF_LIMIT, "more than KD_EVENT_MAX_TOPICS topics");
        err = kd_rd_key(rd, &k);
        if (err == KD_OK)
            err = kd_read_number(ps, &q->topics[q->ntopics].index, NULL, KD_EVF_PAYLOAD);
        if (err == KD_OK)
            q->topics[q->ntopics++].name = k;
    }
    return err;
}

static enum kd_err kd_read_qargs(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_qry *q = &ps->ev->qry;
    const uint32_t start = rd->pos;
    bool more;
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_MAP)
        return kd_rd_fail(rd, KD_EVF_TYPE, "q is not a map");
    err = kd_rd_enter(rd, KD_RD_MAP);
    while (err == KD_OK) {
        struct kd_span k;
        struct kd_span *str = NULL;
        kd_sn_t *num = NULL;
        uint32_t bit = 0;

        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        err = kd_rd_key(rd, &k);
        if (err != KD_OK)
            break;
        if (kd_rd_span_is(rd, k, "s")) {
            num = &q->s, bit = KD_Q_S;
        } else if (kd_rd_span_is(rd, k, "l")) {
            num = &q->l, bit = KD_Q_L;
        } else if (kd_rd_span_is(rd, k, "fn")) {
            num = &q->fn, bit = KD_Q_FN;
        } else if (kd_rd_span_is(rd, k, "i")) {
            str = &q->i, bit = KD_Q_I;
        } else if (kd_rd_span_is(rd, k, "src")) {
            str = &q->src, bit = KD_Q_SRC;
        } else if (kd_rd_span_is(rd, k, "pre")) {
            str = &q->pre, bit = KD_Q_PRE;
        } else if (kd_rd_span_is(rd, k, "ri")) {
            str = &q->ri, bit = KD_Q_RI;
        } else if (kd_rd_span_is(rd, k, "topics")) {
            err = kd_read_topics(ps, q);
            q->has |= KD_Q_TOPICS;
            continue;
        } else if (kd_rd_span_is(rd, k, "a")) {
            err = kd_read_seal(ps, &q->a);
            q->has |= KD_Q_A;
            continue;
        } else {
            err = kd_rd_skip(rd, NULL);
            continue;
        }
        if (num) {
            err = kd_read_number(ps, num, NULL, KD_EVF_PAYLOAD);
        } else {
            if (kd_rd_peek(rd) != KD_RD_STR)
                return kd_rd_fail(rd, KD_EVF_PAYLOAD, "q argument is not a string");
            err = kd_read_str(ps, str);
        }
        q->has |= bit;
    }
    if (err == KD_OK) {
        ps->ev->q.off = start;
        ps->ev->q.len = rd->pos - start;
    }
    return err;
}

/* ---- exn ---- */

/* Reads an exn's q map: string members pre and topic kept, the rest skipped. */
static enum kd_err kd_read_exn_q(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_exn *x = &ps->ev->exn;
    const uint32_t start = rd->pos;
    bool more;
    enum kd_err err = kd_rd_enter(rd, KD_RD_MAP);

    while (err == KD_OK) {
        struct kd_span k;

        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        err = kd_rd_key(rd, &k);
        if (err != KD_OK)
            break;
        if (kd_rd_span_is(rd, k, "pre") && kd_rd_peek(rd) == KD_RD_STR) {
            err = kd_read_str(ps, &x->pre);
            x->has_pre = true;
        } else if (kd_rd_span_is(rd, k, "topic") && kd_rd_peek(rd) == KD_RD_STR) {
            err = kd_read_str(ps, &x->topic);
            x->has_topic = true;
        } else {
            err = kd_rd_skip(rd, NULL);
        }
    }
    if (err == KD_OK) {
        ps->ev->q.off = start;
        ps->ev->q.len = rd->pos - start;
    }
    return err;
}

/* ---- rpy ---- */

/* Reads a map of required string members (any order, others skipped). */
static enum kd_err kd_read_members(struct kd_parse *ps, const char *const *names,
                                   struct kd_span *const *out, unsigned n)
{
    struct kd_rd *rd = &ps->rd;
    unsigned seen = 0;
    bool more;
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_MAP)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "reply payload is not a map");
    err = kd_rd_enter(rd, KD_RD_MAP);
    while (err == KD_OK) {
        struct kd_span k;
        unsigned j = 0;
        err = kd_rd_next(rd, &more);
        if (err != KD_OK || !more)
            break;
        err = kd_rd_key(rd, &k);
        if (err != KD_OK)
            break;
        while (j < n && !kd_rd_span_is(rd, k, names[j]))
            j++;
        if (j == n) {
            err = kd_rd_skip(rd, NULL);
            continue;
        }
        if (kd_rd_peek(rd) != KD_RD_STR)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "reply payload member is not a string");
        err = kd_read_str(ps, out[j]);
        seen |= 1u << j;
    }
    if (err == KD_OK && seen != (1u << n) - 1)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "reply payload member missing");
    return err;
}

/* Reads the next key of a key state record map and checks its label. */
static enum kd_err kd_ksn_key(struct kd_parse *ps, const char *label)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_span k;
    bool more;
    enum kd_err err = kd_rd_next(rd, &more);

    if (err != KD_OK)
        return err;
    if (!more)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "key state record field missing");
    err = kd_rd_key(rd, &k);
    if (err != KD_OK)
        return err;
    if (!kd_rd_span_is(rd, k, label))
        return kd_fail_at(ps, k.off, KD_EVF_PAYLOAD,
                          "key state record fields missing or out of order");
    return KD_OK;
}

/* A string, or null when *is_null is given. */
static enum kd_err kd_ksn_str(struct kd_parse *ps, const char *label, struct kd_span *s,
                              bool *is_null)
{
    enum kd_err err = kd_ksn_key(ps, label);

    if (err != KD_OK)
        return err;
    if (is_null && kd_rd_peek(&ps->rd) == KD_RD_NULL) {
        *is_null = true;
        return kd_rd_skip(&ps->rd, NULL);
    }
    if (kd_rd_peek(&ps->rd) != KD_RD_STR)
        return kd_rd_fail(&ps->rd, KD_EVF_PAYLOAD, "key state record field has the wrong type");
    return kd_read_str(ps, s);
}

static enum kd_err kd_ksn_hex(struct kd_parse *ps, const char *label, struct kd_span *s, kd_sn_t *v)
{
    enum kd_err err = kd_ksn_str(ps, label, s, NULL);

    if (err == KD_OK && kd_sn_parse_hex(v, (const char *)ps->rd.p + s->off, s->len) != KD_OK)
        return kd_fail_at(ps, s->off, KD_EVF_PAYLOAD, "key state record number is not hex");
    return err;
}

/* Reads a key state record (rpy /ksn/...) in keripy's or keriox's form. */
static enum kd_err kd_read_ksn(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_event *ev = ps->ev;
    struct kd_ksn *ksn = &ev->rpy.ksn;
    struct kd_span k;
    kd_sn_t bt;
    bool more;
    enum kd_err err;

    if (kd_rd_peek(rd) != KD_RD_MAP)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "key state record is not a map");
    err = kd_rd_enter(rd, KD_RD_MAP);
    kd_rd_trust_keys(rd); /* fixed order of distinct labels */
    if (err == KD_OK)
        err = kd_rd_next(rd, &more);
    if (err == KD_OK && !more)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "empty key state record");
    if (err == KD_OK)
        err = kd_rd_key(rd, &k);
    if (err != KD_OK)
        return err;
    if (kd_rd_span_is(rd, k, "vn")) {
        ksn->form = KD_KSN_KERIPY;
        if (kd_rd_peek(rd) != KD_RD_ARR)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "key state record vn is not a list");
        err = kd_rd_skip(rd, &ksn->v);
    } else if (kd_rd_span_is(rd, k, "v")) {
        ksn->form = KD_KSN_KERIOX;
        if (kd_rd_peek(rd) != KD_RD_STR)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "key state record v is not a string");
        err = kd_read_str(ps, &ksn->v);
    } else {
        return kd_fail_at(ps, k.off, KD_EVF_PAYLOAD,
                          "key state record does not start with vn or v");
    }
    if (err == KD_OK)
        err = kd_ksn_str(ps, "i", &ksn->i, NULL);
    if (err == KD_OK)
        err = kd_ksn_hex(ps, "s", &ksn->s, &ksn->sn);
    if (err == KD_OK)
        err = kd_ksn_str(ps, "p", &ksn->p, &ksn->p_null);
    if (err == KD_OK)
        err = kd_ksn_str(ps, "d", &ksn->d, NULL);
    if (err == KD_OK)
        err = kd_ksn_hex(ps, "f", &ksn->f, &ksn->fn);
    if (err == KD_OK)
        err = kd_ksn_str(ps, "dt", &ksn->dt, NULL);
    if (err == KD_OK)
        err = kd_ksn_str(ps, "et", &ksn->et, &ksn->et_null);
    if (err == KD_OK && (err = kd_ksn_key(ps, "kt")) == KD_OK)
        err = kd_tholder_read(rd, &ev->kt);
    if (err == KD_OK && (err = kd_ksn_key(ps, "k")) == KD_OK)
        err = kd_read_qb64_list(ps, &ev->keys, KD_CC_BASIC, KD_EVENT_MAX_KEYS);
    if (err == KD_OK && (err = kd_ksn_key(ps, "nt")) == KD_OK)
        err = kd_tholder_read(rd, &ev->nt);
    if (err == KD_OK && (err = kd_ksn_key(ps, "n")) == KD_OK)
        err = kd_read_qb64_list(ps, &ev->ndigs, KD_CC_DIGEST, KD_EVENT_MAX_KEYS);
    if (err == KD_OK && (err = kd_ksn_key(ps, "bt")) == KD_OK) {
        err = kd_read_number(ps, &bt, NULL, KD_EVF_PAYLOAD);
        if (err == KD_OK && bt > UINT64_MAX)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "toad larger than 2^64 - 1");
        ev->bt = (uint64_t)bt;
    }
    if (err == KD_OK && (err = kd_ksn_key(ps, "b")) == KD_OK)
        err = kd_read_qb64_list(ps, &ev->wits, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
    if (err == KD_OK && (err = kd_ksn_key(ps, "c")) == KD_OK)
        err = kd_read_traits(ps, &ev->traits);
    if (err == KD_OK && (err = kd_ksn_key(ps, "ee")) == KD_OK) {
        if (kd_rd_peek(rd) != KD_RD_MAP)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "key state record ee is not a map");
        err = kd_rd_enter(rd, KD_RD_MAP);
        kd_rd_trust_keys(rd);
        if (err == KD_OK)
            err = kd_ksn_hex(ps, "s", &ksn->ee_s, &ksn->ee_sn);
        if (err == KD_OK)
            err = kd_ksn_str(ps, "d", &ksn->ee_d, NULL);
        if (err == KD_OK && (err = kd_ksn_key(ps, "br")) == KD_OK)
            err = kd_read_qb64_list(ps, &ev->cuts, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
        if (err == KD_OK && (err = kd_ksn_key(ps, "ba")) == KD_OK)
            err = kd_read_qb64_list(ps, &ev->adds, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
        if (err == KD_OK)
            err = kd_rd_next(rd, &more);
        if (err == KD_OK && more)
            return kd_rd_fail(rd, KD_EVF_PAYLOAD, "extra field in key state record ee");
    }
    if (err == KD_OK)
        err = kd_ksn_str(ps, "di", &ksn->di, NULL);
    if (err == KD_OK)
        err = kd_rd_next(rd, &more);
    if (err == KD_OK && more)
        return kd_rd_fail(rd, KD_EVF_PAYLOAD, "extra field in key state record");
    return err;
}

static enum kd_err kd_read_rpy_payload(struct kd_parse *ps)
{
    struct kd_rpy *r = &ps->ev->rpy;
    static const char *const role_names[] = {"cid", "role", "eid"};
    static const char *const loc_names[] = {"eid", "scheme", "url"};
    struct kd_span *const role_out[] = {&r->cid, &r->role, &r->eid};
    struct kd_span *const loc_out[] = {&r->eid, &r->scheme, &r->url};

    switch (r->route) {
    case KD_RPY_END_ROLE_ADD:
    case KD_RPY_END_ROLE_CUT:
        return kd_read_members(ps, role_names, role_out, 3);
    case KD_RPY_LOC_SCHEME:
        return kd_read_members(ps, loc_names, loc_out, 3);
    case KD_RPY_KSN:
        return kd_read_ksn(ps);
    case KD_RPY_OTHER:
    default:
        return kd_rd_skip(&ps->rd, NULL);
    }
}

/* ---- routes ---- */

static void kd_route_classify(struct kd_parse *ps)
{
    struct kd_event *ev = ps->ev;
    const struct kd_rd *rd = &ps->rd;

    if (ev->ilk == KD_ILK_QRY) {
        struct kd_qry *q = &ev->qry;
        q->route = kd_rd_span_is(rd, ev->r, "logs")   ? KD_QRY_LOGS
                   : kd_rd_span_is(rd, ev->r, "ksn")  ? KD_QRY_KSN
                   : kd_rd_span_is(rd, ev->r, "mbx")  ? KD_QRY_MBX
                   : kd_rd_span_is(rd, ev->r, "tels") ? KD_QRY_TELS
                                                      : KD_QRY_OTHER;
    } else if (ev->ilk == KD_ILK_RPY) {
        struct kd_rpy *r = &ev->rpy;
        static const char ksn[] = "/ksn/";
        if (kd_rd_span_is(rd, ev->r, "/end/role/add")) {
            r->route = KD_RPY_END_ROLE_ADD;
        } else if (kd_rd_span_is(rd, ev->r, "/end/role/cut")) {
            r->route = KD_RPY_END_ROLE_CUT;
        } else if (kd_rd_span_is(rd, ev->r, "/loc/scheme")) {
            r->route = KD_RPY_LOC_SCHEME;
        } else if (ev->r.len >= sizeof ksn - 1 &&
                   memcmp(rd->p + ev->r.off, ksn, sizeof ksn - 1) == 0) {
            r->route = KD_RPY_KSN;
            r->route_pre.off = ev->r.off + (uint32_t)(sizeof ksn - 1);
            r->route_pre.len = ev->r.len - (uint32_t)(sizeof ksn - 1);
        } else {
            r->route = KD_RPY_OTHER;
        }
    }
}

/* ---- fields ---- */

static bool kd_is_key_event(enum kd_ilk ilk)
{
    return ilk == KD_ILK_ICP || ilk == KD_ILK_ROT || ilk == KD_ILK_IXN || ilk == KD_ILK_DIP ||
           ilk == KD_ILK_DRT;
}

static bool kd_is_inception(enum kd_ilk ilk)
{
    return ilk == KD_ILK_ICP || ilk == KD_ILK_DIP;
}

/* Reads the value of top-level field f. */
static enum kd_err kd_read_field(struct kd_parse *ps, enum kd_field f)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_event *ev = ps->ev;
    const uint32_t start = rd->pos;
    enum kd_err err = KD_OK;
    kd_sn_t v;

    switch (f) {
    case KD_FIELD_D:
        err = kd_read_str(ps, &ev->d);
        if (err != KD_OK)
            break;
        if (ps->tmpl && kd_is_placeholder(ps, ev->d)) {
            ev->d_code = KD_CESR_BLAKE3_256;
            break;
        }
        err = kd_prim_check(ps, ev->d, KD_CC_DIGEST, &ev->d_code);
        break;
    case KD_FIELD_I:
        err = kd_read_str(ps, &ev->i);
        if (err != KD_OK || ev->ilk == KD_ILK_EXN)
            break;
        if (ps->tmpl && kd_is_inception(ev->ilk) && kd_is_placeholder(ps, ev->i)) {
            ev->pre_code = KD_CESR_BLAKE3_256;
            break;
        }
        err = kd_prim_check(ps, ev->i, KD_CC_PREFIX, &ev->pre_code);
        break;
    case KD_FIELD_S:
        err = kd_read_number(ps, &ev->sn, &ev->s, KD_EVF_NUMBER);
        break;
    case KD_FIELD_P:
        err = kd_read_str(ps, &ev->p);
        if (err == KD_OK && ev->ilk != KD_ILK_EXN)
            err = kd_prim_check(ps, ev->p, KD_CC_DIGEST, NULL);
        break;
    case KD_FIELD_KT:
        err = kd_tholder_read(rd, &ev->kt);
        ev->kt_raw.off = start;
        ev->kt_raw.len = rd->pos - start;
        break;
    case KD_FIELD_NT:
        err = kd_tholder_read(rd, &ev->nt);
        ev->nt_raw.off = start;
        ev->nt_raw.len = rd->pos - start;
        break;
    case KD_FIELD_K:
        err = kd_read_qb64_list(ps, &ev->keys, KD_CC_BASIC, KD_EVENT_MAX_KEYS);
        break;
    case KD_FIELD_N:
        err = kd_read_qb64_list(ps, &ev->ndigs, KD_CC_DIGEST, KD_EVENT_MAX_KEYS);
        break;
    case KD_FIELD_BT:
        err = kd_read_number(ps, &v, &ev->bt_raw, KD_EVF_NUMBER);
        if (err == KD_OK && v > UINT64_MAX)
            err = kd_fail_at(ps, start, KD_EVF_NUMBER, "toad larger than 2^64 - 1");
        ev->bt = (uint64_t)v;
        break;
    case KD_FIELD_B:
        err = kd_read_qb64_list(ps, &ev->wits, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
        break;
    case KD_FIELD_BR:
        err = kd_read_qb64_list(ps, &ev->cuts, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
        break;
    case KD_FIELD_BA:
        err = kd_read_qb64_list(ps, &ev->adds, KD_CC_BASIC, KD_EVENT_MAX_WITNESSES);
        break;
    case KD_FIELD_C:
        err = kd_read_traits(ps, &ev->traits);
        ev->c_raw.off = start;
        ev->c_raw.len = rd->pos - start;
        break;
    case KD_FIELD_A:
        if (kd_is_key_event(ev->ilk))
            err = kd_read_seals(ps);
        else if (ev->ilk == KD_ILK_RPY)
            err = kd_read_rpy_payload(ps);
        else
            err = kd_rd_skip(rd, NULL);
        ev->a.off = start;
        ev->a.len = rd->pos - start;
        break;
    case KD_FIELD_DI:
        err = kd_read_str(ps, &ev->di);
        if (err == KD_OK)
            err = kd_prim_check(ps, ev->di, KD_CC_PREFIX, NULL);
        break;
    case KD_FIELD_DT:
        err = kd_read_str(ps, &ev->dt);
        break;
    case KD_FIELD_R:
        err = kd_read_str(ps, &ev->r);
        if (err == KD_OK)
            kd_route_classify(ps);
        break;
    case KD_FIELD_RR:
        err = kd_read_str(ps, &ev->rr);
        break;
    case KD_FIELD_Q:
        if (ev->ilk == KD_ILK_QRY) {
            err = kd_read_qargs(ps);
        } else if (ev->ilk == KD_ILK_EXN && kd_rd_peek(rd) == KD_RD_MAP) {
            err = kd_read_exn_q(ps);
        } else {
            err = kd_rd_skip(rd, &ev->q);
        }
        break;
    case KD_FIELD_RP:
        err = kd_read_str(ps, &ev->rp);
        break;
    case KD_FIELD_E:
        err = kd_rd_skip(rd, &ev->e);
        break;
    case KD_FIELD_V:
    case KD_FIELD_T:
    case KD_FIELD_COUNT_:
    default:
        abort(); /* v and t are read by kd_read_head; the lists hold them first */
    }
    return err;
}

/* Reads the next top-level key; *key gets it. Missing → KD_EVF_FIELDS. */
static enum kd_err kd_next_key(struct kd_parse *ps, struct kd_span *key, const char *label)
{
    struct kd_rd *rd = &ps->rd;
    bool more;
    enum kd_err err = kd_rd_next(rd, &more);

    if (err != KD_OK)
        return err;
    if (!more) {
        rd->field = label;
        return kd_rd_fail(rd, KD_EVF_FIELDS, "field missing");
    }
    return kd_rd_key(rd, key);
}

/* Reads v and t and sets ev->version and ev->ilk. */
static enum kd_err kd_read_head(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_event *ev = ps->ev;
    struct kd_span key;
    enum kd_err err;

    err = kd_rd_enter(rd, KD_RD_MAP);
    kd_rd_trust_keys(rd); /* matched against the ilk's distinct labels */
    if (err == KD_OK)
        err = kd_next_key(ps, &key, "v");
    if (err != KD_OK)
        return err;
    rd->field = "v";
    if (!kd_rd_span_is(rd, key, "v"))
        return kd_fail_at(ps, key.off, KD_EVF_VERSION, "first field is not v");
    if (kd_rd_peek(rd) != KD_RD_STR)
        return kd_rd_fail(rd, KD_EVF_VERSION, "version is not a string");
    err = kd_read_str(ps, &ev->v);
    if (err != KD_OK)
        return err;
    ev->present |= 1u << KD_FIELD_V;
    if (ps->tmpl) {
        if (ev->v.len != KD_VERSION_LEN)
            return kd_fail_at(ps, ev->v.off, KD_EVF_TEMPLATE, "v is not 17 characters");
        ev->version.major = 1;
        ev->version.minor = 0;
        ev->version.kind = rd->kind;
        ev->version.size = rd->n;
    } else {
        struct kd_event_diag d;
        err = kd_version_parse(&ev->version, (const char *)rd->p + ev->v.off, ev->v.len, &d);
        if (err != KD_OK)
            return kd_fail_at(ps, ev->v.off, d.fault, d.why);
        if (ev->version.kind != rd->kind)
            return kd_fail_at(ps, ev->v.off, KD_EVF_KIND_MISMATCH,
                              "version string kind differs from the body encoding");
        if (ev->version.size != rd->n)
            return kd_fail_at(ps, ev->v.off, KD_EVF_SIZE,
                              "version string size differs from the body length");
    }

    rd->field = "t";
    err = kd_next_key(ps, &key, "t");
    if (err != KD_OK)
        return err;
    if (!kd_rd_span_is(rd, key, "t"))
        return kd_fail_at(ps, key.off, KD_EVF_FIELDS, "second field is not t");
    if (kd_rd_peek(rd) != KD_RD_STR)
        return kd_rd_fail(rd, KD_EVF_TYPE, "t is not a string");
    err = kd_read_str(ps, &ev->t);
    if (err != KD_OK)
        return err;
    ev->present |= 1u << KD_FIELD_T;
    for (unsigned k = 0; k < KD_ILK_COUNT_; k++) {
        if (kd_rd_span_is(rd, ev->t, kd_ilk_names[k])) {
            ev->ilk = (enum kd_ilk)k;
            return KD_OK;
        }
    }
    for (size_t k = 0; k < sizeof kd_ilks_unsupported / sizeof kd_ilks_unsupported[0]; k++)
        if (kd_rd_span_is(rd, ev->t, kd_ilks_unsupported[k]))
            return kd_fail_at(ps, ev->t.off, KD_EVF_UNSUPPORTED, "message type not handled");
    return kd_fail_at(ps, ev->t.off, KD_EVF_ILK, "unknown message type");
}

/* Reads the fields after t, in the ilk's order, then the end of the body. */
static enum kd_err kd_read_fields(struct kd_parse *ps)
{
    struct kd_rd *rd = &ps->rd;
    struct kd_event *ev = ps->ev;
    const uint8_t *fl = kd_ilk_fields[ev->ilk].fields;
    unsigned nf = kd_ilk_fields[ev->ilk].n;
    bool more;
    enum kd_err err;

    for (unsigned k = 2; k < nf; k++) {
        enum kd_field f = (enum kd_field)fl[k];
        struct kd_span key;

        err = kd_next_key(ps, &key, kd_field_names[f]);
        if (err != KD_OK)
            return err;
        /* keriox's exn has dt where keripy's has i (the lists share v,t,d). */
        if (f == KD_FIELD_I && ev->ilk == KD_ILK_EXN && kd_rd_span_is(rd, key, "dt")) {
            fl = kd_fl_exn_keriox;
            nf = sizeof kd_fl_exn_keriox;
            f = (enum kd_field)fl[k];
            ev->exn.form = KD_EXN_KERIOX;
        }
        /* keripy tolerates exn without rp (senders before 1.1.25). */
        if (f == KD_FIELD_RP && !kd_rd_span_is(rd, key, "rp") && kd_rd_span_is(rd, key, "p"))
            f = (enum kd_field)fl[++k];
        rd->field = kd_field_names[f];
        if (!kd_rd_span_is(rd, key, kd_field_names[f]))
            return kd_fail_at(ps, key.off, KD_EVF_FIELDS, "fields out of order or unknown field");
        err = kd_read_field(ps, f);
        if (err != KD_OK)
            return err;
        ev->present |= 1u << f;
    }
    rd->field = NULL;
    err = kd_rd_next(rd, &more);
    if (err != KD_OK)
        return err;
    if (more)
        return kd_rd_fail(rd, KD_EVF_FIELDS, "extra field");
    return kd_rd_finish(rd);
}

/* Index of a duplicate in l (first repeat), or -1. */
static int kd_list_dup(const struct kd_event *ev, const struct kd_qb64_list *l)
{
    for (uint16_t a = 1; a < l->count; a++)
        for (uint16_t b = 0; b < a; b++)
            if (l->item[a].len == l->item[b].len &&
                memcmp(ev->raw + l->item[a].off, ev->raw + l->item[b].off, l->item[a].len) == 0)
                return a;
    return -1;
}

/* Prefix rules of keri-core §4.1 items 3-5 (keripy SerderKERI._verify). */
static enum kd_err kd_check_prefix(struct kd_parse *ps)
{
    struct kd_event *ev = ps->ev;
    const bool placeholder = ps->tmpl && kd_is_placeholder(ps, ev->i);

    if (!kd_is_key_event(ev->ilk))
        return KD_OK;
    ps->rd.field = "i";
    if ((ev->ilk == KD_ILK_DIP || ev->ilk == KD_ILK_DRT) && !placeholder &&
        !kd_code_is_digest(ev->pre_code))
        return kd_fail_at(ps, ev->i.off, KD_EVF_PREFIX,
                          "delegated identifier prefix is not a digest");
    if (kd_is_inception(ev->ilk) && !placeholder && kd_code_is_basic(ev->pre_code)) {
        if (ev->keys.count != 1)
            return kd_fail_at(ps, ev->i.off, KD_EVF_PREFIX, "basic prefix with more than one key");
        if (ev->kt.weighted || ev->kt.num != 1)
            return kd_fail_at(ps, ev->i.off, KD_EVF_PREFIX, "basic prefix with a threshold not 1");
        if (ev->keys.item[0].len != ev->i.len ||
            memcmp(ev->raw + ev->keys.item[0].off, ev->raw + ev->i.off, ev->i.len) != 0)
            return kd_fail_at(ps, ev->i.off, KD_EVF_PREFIX, "basic prefix is not the key");
    }
    if (ev->ilk != KD_ILK_IXN && !placeholder && kd_code_is_nontrans(ev->pre_code)) {
        if (ev->ndigs.count != 0)
            return kd_fail_at(ps, ev->i.off, KD_EVF_NONTRANS,
                              "non-transferable prefix with next key digests");
        if (ev->wits.count != 0)
            return kd_fail_at(ps, ev->i.off, KD_EVF_NONTRANS,
                              "non-transferable prefix with witnesses");
        if (ev->nseals != 0)
            return kd_fail_at(ps, ev->i.off, KD_EVF_NONTRANS, "non-transferable prefix with seals");
    }
    ps->rd.field = NULL;
    return KD_OK;
}

/* Detects the encoding from the first byte (keri-core §1.7). */
static bool kd_sniff_kind(uint8_t b, enum kd_kind *kind)
{
    if (b == '{')
        *kind = KD_KIND_JSON;
    else if (b >= 0xa0 && b <= 0xbf)
        *kind = KD_KIND_CBOR;
    else if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
        *kind = KD_KIND_MGPK;
    else
        return false;
    return true;
}

enum kd_err kd_event_parse_mode(struct kd_event *ev, const void *body, size_t len, bool tmpl,
                                struct kd_event_diag *diag)
{
    struct kd_parse ps;
    enum kd_kind kind;
    enum kd_err err;

    if (ev == NULL || (body == NULL && len > 0))
        return kd_diag_set(diag, KD_EVF_EMPTY, "no body", NULL, 0);
    if (len == 0)
        return kd_diag_set(diag, KD_EVF_EMPTY, "empty body", NULL, 0);
    if (len > KD_EVENT_MAX_SIZE)
        return kd_diag_set(diag, KD_EVF_SIZE, "body larger than a v1 size can say", NULL, 0);
    if (!kd_sniff_kind(*(const uint8_t *)body, &kind))
        return kd_diag_set(diag, KD_EVF_KIND, "body is not a JSON, CBOR or MGPK map", NULL, 0);
    /* Everything but the big lists (those are written as they are read). */
    memset(ev, 0, offsetof(struct kd_event, kt));
    ev->kt.nweights = ev->nt.nweights = 0;
    ev->keys.count = ev->ndigs.count = ev->wits.count = 0;
    ev->cuts.count = ev->adds.count = 0;
    ev->nseals = 0;
    memset(&ev->qry, 0, sizeof ev->qry);
    memset(&ev->rpy, 0, sizeof ev->rpy);
    memset(&ev->exn, 0, sizeof ev->exn);
    kd_tholder_set_numeric(&ev->kt, 0);
    kd_tholder_set_numeric(&ev->nt, 0);
    ev->raw = body;
    ev->size = (uint32_t)len;
    ev->pre_code = KD_CESR_CODE_COUNT_;
    ev->d_code = KD_CESR_CODE_COUNT_;
    ps.ev = ev;
    ps.tmpl = tmpl;
    kd_rd_init(&ps.rd, body, (uint32_t)len, kind);
    err = kd_read_head(&ps);
    if (err == KD_OK)
        err = kd_read_fields(&ps);
    if (err == KD_OK)
        err = kd_check_prefix(&ps);
    if (err != KD_OK && diag)
        *diag = ps.rd.diag;
    return err;
}

/* ---- establishment rules ---- */

enum kd_err kd_event_check_establishment(const struct kd_event *ev, struct kd_event_diag *diag)
{
    int dup;

    if (ev->ilk != KD_ILK_ICP && ev->ilk != KD_ILK_DIP && ev->ilk != KD_ILK_ROT &&
        ev->ilk != KD_ILK_DRT)
        return KD_OK;
    if (kd_is_inception(ev->ilk) && ev->sn != 0)
        return kd_diag_set(diag, KD_EVF_SEQUENCE, "inception with a non-zero sequence number", "s",
                           ev->s.off);
    if (!kd_is_inception(ev->ilk) && ev->sn == 0)
        return kd_diag_set(diag, KD_EVF_SEQUENCE, "rotation at sequence number 0", "s", ev->s.off);
    if (ev->keys.count == 0)
        return kd_diag_set(diag, KD_EVF_KEYS, "no signing keys", "k", ev->kt_raw.off);
    if (ev->kt.size > ev->keys.count)
        return kd_diag_set(diag, KD_EVF_KEYS, "fewer keys than the threshold needs", "kt",
                           ev->kt_raw.off);
    if (!ev->kt.weighted && ev->kt.num < 1)
        return kd_diag_set(diag, KD_EVF_KEYS, "signing threshold 0", "kt", ev->kt_raw.off);
    if (kd_is_inception(ev->ilk)) {
        if ((dup = kd_list_dup(ev, &ev->wits)) >= 0)
            return kd_diag_set(diag, KD_EVF_WITNESSES, "duplicate witness", "b",
                               ev->wits.item[dup].off);
        if (ev->wits.count > 0 && (ev->bt < 1 || ev->bt > ev->wits.count))
            return kd_diag_set(diag, KD_EVF_WITNESSES, "toad out of 1..len(b)", "bt",
                               ev->bt_raw.off);
        if (ev->wits.count == 0 && ev->bt != 0)
            return kd_diag_set(diag, KD_EVF_WITNESSES, "toad not 0 without witnesses", "bt",
                               ev->bt_raw.off);
        return KD_OK;
    }
    if ((dup = kd_list_dup(ev, &ev->cuts)) >= 0)
        return kd_diag_set(diag, KD_EVF_WITNESSES, "duplicate witness cut", "br",
                           ev->cuts.item[dup].off);
    if ((dup = kd_list_dup(ev, &ev->adds)) >= 0)
        return kd_diag_set(diag, KD_EVF_WITNESSES, "duplicate witness add", "ba",
                           ev->adds.item[dup].off);
    for (uint16_t a = 0; a < ev->adds.count; a++)
        for (uint16_t c = 0; c < ev->cuts.count; c++)
            if (ev->adds.item[a].len == ev->cuts.item[c].len &&
                memcmp(ev->raw + ev->adds.item[a].off, ev->raw + ev->cuts.item[c].off,
                       ev->adds.item[a].len) == 0)
                return kd_diag_set(diag, KD_EVF_WITNESSES, "witness both cut and added", "ba",
                                   ev->adds.item[a].off);
    return KD_OK;
}
