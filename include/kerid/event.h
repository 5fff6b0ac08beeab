/*
 * KERI message bodies: the event model, strict parsing of JSON, CBOR and
 * MGPK bodies, SAIDs, and the stateless structural rules
 * (spec/keri-core.md §2, §3, §4.1-4.2; spec/keriox-surface.md §3).
 *
 * A body is one serialized message, exactly as many bytes as its version
 * string says (the CESR stream splitter sizes it; attachments are not seen
 * here). kd_event_parse checks everything keripy's Serder checks when it
 * deserializes, and a little more:
 *   - the version string (v1 only: `KERI10JSON00012b_`; v2 strings are
 *     refused), its kind equal to the body's encoding, its size equal to the
 *     body length;
 *   - the encoding is canonical, i.e. what keripy's re-serialization would
 *     reproduce byte for byte: JSON compact (no whitespace), strings with
 *     only the escapes Python's json.dumps writes, integers without leading
 *     zeros, valid UTF-8; CBOR and MGPK with shortest-form heads and
 *     definite lengths; no duplicate map keys anywhere;
 *   - the top-level fields are exactly the ilk's field list, in order (exn
 *     may lack `rp`, as keripy tolerates; exn may also have keriox's list
 *     v,t,d,dt,r,q,a, keriox-surface §1.1 /forward);
 *   - every field has its type; sequence numbers, toads and thresholds
 *     parse; keys, digests and prefixes are valid qb64 of the right code
 *     group;
 *   - the SAID(s) verify (§2.3), the prefix rules of §4.1 items 3-5 hold.
 * CBOR: maps, arrays, text strings, integers, true/false/null (RFC 8949
 * subset: no byte strings, tags, floats or indefinite lengths). MGPK:
 * fixmap/map16/32, fixarray/array16/32, fixstr/str8/16/32, integers,
 * nil/true/false (no bin, ext or floats). JSON numbers with a fraction or an
 * exponent are accepted only inside values kerid skips (exn payloads etc.).
 *
 * Results point into the body: a struct kd_span is an (offset, length) pair
 * into ev->raw, so the caller keeps the body alive and unchanged as long as
 * it uses the event. For a string the span covers its content (no quotes,
 * no CBOR/MGPK head; JSON escapes are left as written); for any other value
 * it covers the whole encoded value. Nothing here allocates except SAID
 * computation on bodies larger than 4 KiB (one temporary copy).
 *
 * struct kd_event is about 40 KiB (fixed-size lists, see the limits):
 * allocate it once and reuse it rather than putting several on a stack.
 */
#ifndef KERID_EVENT_H
#define KERID_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/cesr.h"
#include "kerid/err.h"
#include "kerid/tholder.h"

/* Sequence numbers are cesr.h's kd_sn_t (128 bits); kd_cesr_sn_hex writes
 * them in canonical hex. */
#define KD_SN_MAX (~(kd_sn_t)0)

/* ---- limits (documented bounds; larger input is refused, never truncated) ---- */
#define KD_EVENT_MAX_KEYS      256       /* entries of k and n */
#define KD_EVENT_MAX_WITNESSES 256       /* entries of b, br, ba */
#define KD_EVENT_MAX_SEALS     256       /* entries of a (key events) */
#define KD_EVENT_MAX_TRAITS    64        /* entries of c */
#define KD_EVENT_MAX_TOPICS    16        /* keys of a qry's q.topics */
#define KD_EVENT_MAX_DEPTH     32        /* nesting of maps and arrays */
#define KD_EVENT_MAX_OPEN_KEYS 1024      /* keys of all maps open at once */
#define KD_EVENT_MAX_SIZE      0xffffffu /* largest v1 size (6 hex digits) */
#define KD_VERSION_LEN         17        /* "KERI10JSON00012b_" */

struct kd_span {
    uint32_t off;
    uint32_t len;
};

/* ---- message types ---- */
/* clang-format off */
#define KD_ILKS(X) \
    X(ICP, "icp")  \
    X(ROT, "rot")  \
    X(IXN, "ixn")  \
    X(DIP, "dip")  \
    X(DRT, "drt")  \
    X(RCT, "rct")  \
    X(QRY, "qry")  \
    X(RPY, "rpy")  \
    X(EXN, "exn")
/* clang-format on */

enum kd_ilk {
#define KD_ILK_ENUM_(e, s) KD_ILK_##e,
    KD_ILKS(KD_ILK_ENUM_)
#undef KD_ILK_ENUM_
        KD_ILK_COUNT_
};

/* Serialization kinds of a v1 version string. */
enum kd_kind { KD_KIND_JSON, KD_KIND_CBOR, KD_KIND_MGPK };

/* A parsed v1 version string; the protocol is always KERI 1.0 here. */
struct kd_version {
    uint8_t major;
    uint8_t minor;
    enum kd_kind kind;
    uint32_t size; /* body length in bytes */
};

/* ---- top-level fields (bit i of ev->present is field i) ---- */
/* clang-format off */
#define KD_FIELDS(X)                                  \
    X(V, "v")   X(T, "t")   X(D, "d")   X(I, "i")     \
    X(S, "s")   X(P, "p")   X(KT, "kt") X(K, "k")     \
    X(NT, "nt") X(N, "n")   X(BT, "bt") X(B, "b")     \
    X(BR, "br") X(BA, "ba") X(C, "c")   X(A, "a")     \
    X(DI, "di") X(DT, "dt") X(R, "r")   X(RR, "rr")   \
    X(Q, "q")   X(RP, "rp") X(E, "e")
/* clang-format on */

enum kd_field {
#define KD_FIELD_ENUM_(e, s) KD_FIELD_##e,
    KD_FIELDS(KD_FIELD_ENUM_)
#undef KD_FIELD_ENUM_
        KD_FIELD_COUNT_
};

/* ---- configuration traits (c) ---- */
enum kd_trait {
    KD_TRAIT_EO = 1u << 0,  /* establishment only */
    KD_TRAIT_DND = 1u << 1, /* do not delegate */
    KD_TRAIT_NB = 1u << 2,  /* no backers (TEL) */
    KD_TRAIT_RB = 1u << 3,  /* registrar backers */
    KD_TRAIT_NRB = 1u << 4, /* no registrar backers */
    KD_TRAIT_DID = 1u << 5, /* delegate is a DID */
};

/* ---- seals (entries of a key event's a, and a qry's q.a) ---- */
enum kd_seal_kind {
    KD_SEAL_EVENT,  /* {"i","s","d"}: event seal (delegation anchors) */
    KD_SEAL_DIGEST, /* {"d"} */
    KD_SEAL_ROOT,   /* {"rd"}: Merkle root, in .d */
    KD_SEAL_LAST,   /* {"i"}: last establishment event */
    KD_SEAL_TRANS,  /* {"s","d"}: transaction event */
    KD_SEAL_BACKER, /* {"bi","d"}: backer, bi in .i */
    KD_SEAL_OTHER,  /* anything else keripy would carry: kept as .raw only */
};

struct kd_seal {
    enum kd_seal_kind kind;
    bool sn_ok;       /* s present and a valid hex number (sn holds it) */
    struct kd_span i; /* i or bi */
    struct kd_span s;
    struct kd_span d;   /* d or rd */
    struct kd_span raw; /* the whole seal value */
    kd_sn_t sn;
};

/* A list of qb64 strings (keys, digests, witness prefixes). */
struct kd_qb64_list {
    uint16_t count;
    struct kd_span item[KD_EVENT_MAX_KEYS];
};

/* ---- qry ---- */
enum kd_qry_route { KD_QRY_LOGS, KD_QRY_KSN, KD_QRY_MBX, KD_QRY_TELS, KD_QRY_OTHER };

/* Bits of struct kd_qry.has. */
enum kd_qry_arg {
    KD_Q_S = 1u << 0,
    KD_Q_L = 1u << 1,
    KD_Q_FN = 1u << 2,
    KD_Q_I = 1u << 3,
    KD_Q_SRC = 1u << 4,
    KD_Q_PRE = 1u << 5,
    KD_Q_TOPICS = 1u << 6,
    KD_Q_A = 1u << 7,
    KD_Q_RI = 1u << 8,
};

/*
 * The q map of a qry. Keys may come in any order (kli and keriox differ);
 * unknown keys are skipped; none is required here (the route's handler
 * decides). Numbers (s, l, fn, topic indexes) may be JSON integers (keriox)
 * or hex strings (keripy).
 */
struct kd_qry {
    enum kd_qry_route route;
    uint32_t has; /* KD_Q_* bits */
    kd_sn_t s, l, fn;
    struct kd_span i, src, pre, ri;
    struct kd_seal a;
    uint8_t ntopics;
    struct {
        struct kd_span name;
        kd_sn_t index;
    } topics[KD_EVENT_MAX_TOPICS];
};

/* ---- rpy ---- */
enum kd_rpy_route {
    KD_RPY_END_ROLE_ADD, /* /end/role/add: cid, role, eid */
    KD_RPY_END_ROLE_CUT, /* /end/role/cut: cid, role, eid */
    KD_RPY_LOC_SCHEME,   /* /loc/scheme: eid, scheme, url */
    KD_RPY_KSN,          /* /ksn/<pre>: key state record */
    KD_RPY_OTHER,        /* any other route: a kept as ev->a only */
};

enum kd_ksn_form {
    KD_KSN_KERIPY, /* vn i s p d f dt et kt k nt n bt b c ee di */
    KD_KSN_KERIOX, /* v i s p d f dt et kt k nt n bt b c ee di */
};

/*
 * A key state record (rpy /ksn/...). Its kt, k, nt, n, bt, b, ee.br, ee.ba
 * are parsed into the event's common fields (ev->kt, ev->keys, ev->nt,
 * ev->ndigs, ev->bt, ev->wits, ev->cuts, ev->adds); the rest is here.
 * keriox writes `s` in decimal and `p`/`et` as null; s, f and ee.s are read
 * as hex as keriox and keripy both do (keri-surface §3.7: equal below 10).
 */
struct kd_ksn {
    enum kd_ksn_form form;
    struct kd_span v; /* keripy: the whole vn list; keriox: the v string */
    struct kd_span i, s, p, d, f, dt, et, di, ee_s, ee_d;
    bool p_null, et_null;
    kd_sn_t sn, fn, ee_sn;
};

struct kd_rpy {
    enum kd_rpy_route route;
    struct kd_span route_pre; /* the <pre> of /ksn/<pre> */
    struct kd_span cid, role, eid, scheme, url;
    struct kd_ksn ksn;
};

/* ---- exn ---- */
enum kd_exn_form {
    KD_EXN_KERIPY, /* v t d i rp p dt r q a e (rp optional) */
    KD_EXN_KERIOX, /* v t d dt r q a (keriox /fwd) */
};

/*
 * What kerid reads of an exn: its field list and the string members pre and
 * topic of q when q is a map (keriox /fwd: q = {"pre": <recipient>,
 * "topic": "multisig" | "delegate"}; other members and non-string values
 * are skipped). The payload a is ev->a (the whole encoded value).
 */
struct kd_exn {
    enum kd_exn_form form;
    bool has_pre, has_topic;
    struct kd_span pre, topic;
};

/* ---- the event ---- */
struct kd_event {
    const uint8_t *raw; /* the body (not owned) */
    uint32_t size;
    struct kd_version version;
    enum kd_ilk ilk;
    uint32_t present; /* bit KD_FIELD_x set when the field is in the body */

    /* spans of the top-level fields (zero when absent) */
    struct kd_span v, t, d, i, s, p, kt_raw, nt_raw, bt_raw, c_raw, a, di, dt, r, rr, q, rp, e;

    enum kd_cesr_code pre_code; /* code of i (key events and rct) */
    enum kd_cesr_code d_code;   /* code of d (a digest code) */
    kd_sn_t sn;                 /* s */
    uint64_t bt;                /* bt (toad) */
    uint32_t traits;            /* KD_TRAIT_* from c (unknown traits ignored) */
    struct kd_tholder kt, nt;
    struct kd_qb64_list keys;  /* k */
    struct kd_qb64_list ndigs; /* n */
    struct kd_qb64_list wits;  /* b */
    struct kd_qb64_list cuts;  /* br */
    struct kd_qb64_list adds;  /* ba */
    uint16_t nseals;
    struct kd_seal seals[KD_EVENT_MAX_SEALS]; /* a of key events */

    struct kd_qry qry; /* qry only */
    struct kd_rpy rpy; /* rpy only */
    struct kd_exn exn; /* exn only */
};

/* ---- why a body was refused ---- */
/* clang-format off */
/*  X(name,          kd_err,       message) */
#define KD_EVENT_FAULTS(X)                                                                        \
    X(NONE,          KD_OK,        "ok")                                                          \
    X(EMPTY,         KD_EBADJSON,  "empty or truncated body")                                     \
    X(KIND,          KD_EBADCESR,  "body is not a JSON, CBOR or MGPK map")                        \
    X(VERSION,       KD_EBADCESR,  "malformed version string")                                    \
    X(VERSION2,      KD_EBADCESR,  "CESR v2 version strings are not supported")                   \
    X(PROTOCOL,      KD_EBADCESR,  "protocol or version is not KERI 1.0")                         \
    X(KIND_MISMATCH, KD_EBADCESR,  "version string kind differs from the body encoding")          \
    X(SIZE,          KD_EBADCESR,  "version string size differs from the body length")            \
    X(SYNTAX,        KD_EBADJSON,  "malformed serialization")                                     \
    X(NONCANONICAL,  KD_EBADJSON,  "serialization is not canonical")                              \
    X(UTF8,          KD_EBADUTF8,  "string is not valid UTF-8")                                   \
    X(DUPKEY,        KD_EBADJSON,  "duplicate map key")                                           \
    X(LIMIT,         KD_ETOOLARGE, "too many items or too deeply nested")                         \
    X(ILK,           KD_EBADJSON,  "unknown message type")                                        \
    X(UNSUPPORTED,   KD_ENOTIMPL,  "message type not handled by kerid")                           \
    X(FIELDS,        KD_EBADJSON,  "fields missing, extra or out of order")                       \
    X(TYPE,          KD_EBADJSON,  "field value has the wrong type")                              \
    X(NUMBER,        KD_EBADJSON,  "bad number")                                                  \
    X(THRESHOLD,     KD_EBADJSON,  "bad signing threshold")                                       \
    X(PRIMITIVE,     KD_EBADCESR,  "malformed primitive or wrong code")                           \
    X(PAYLOAD,       KD_EBADJSON,  "malformed query or reply payload")                            \
    X(SAID,          KD_EBADCESR,  "SAID does not match the body")                                \
    X(DIGEST_CODE,   KD_ENOTIMPL,  "digest algorithm not supported")                              \
    X(PREFIX,        KD_EBADCESR,  "prefix does not satisfy its derivation rules")                \
    X(NONTRANS,      KD_EBADCESR,  "non-transferable prefix with next keys, witnesses or seals")  \
    X(SEQUENCE,      KD_EINVAL,    "sequence number not allowed for this event")                  \
    X(KEYS,          KD_EINVAL,    "keys do not fit the signing threshold")                       \
    X(WITNESSES,     KD_EINVAL,    "bad witness list or toad")                                    \
    X(TEMPLATE,      KD_EINVAL,    "body is not a fillable template")
/* clang-format on */

enum kd_event_fault {
#define KD_EVENT_FAULT_ENUM_(name, err, msg) KD_EVF_##name,
    KD_EVENT_FAULTS(KD_EVENT_FAULT_ENUM_)
#undef KD_EVENT_FAULT_ENUM_
        KD_EVF_COUNT_
};

/* Details of a refusal; every field is static or an offset, nothing to free. */
struct kd_event_diag {
    enum kd_event_fault fault;
    const char *why;   /* a specific static reason, never NULL after a failure */
    const char *field; /* the top-level field label ("kt"), or NULL */
    uint32_t offset;   /* byte offset in the body where the problem was seen */
};

/* ---- functions ---- */

/*
 * Parses and checks one message body (len bytes, exactly the body): see the
 * top of this file for what is checked. On success *ev describes the body
 * (ev->raw = body; keep it alive and unchanged). On failure the result is an
 * enum kd_err from the fault table and *diag (optional) says why; *ev is
 * then unspecified. Never reads outside [body, body + len).
 */
enum kd_err kd_event_parse(struct kd_event *ev, const void *body, size_t len,
                           struct kd_event_diag *diag);

/*
 * Builds a message from a template, in place: body (len bytes, the final
 * length) is a complete message whose `v` value is any 17 characters (e.g.
 * 17 '#' or a version string with a wrong size) and whose saidive fields
 * (d; for icp/dip also i unless i is a basic prefix) hold 44 '#' characters.
 * Writes the v1 version string (kind from the encoding, size = len), the
 * Blake3-256 SAID into every saidive field, then parses the result into *ev
 * with every check. rct has no saidive field: only v is written. JSON, CBOR
 * and MGPK alike (value lengths never change). KD_EVF_TEMPLATE (KD_EINVAL)
 * when the template is not fillable; on any failure body may be half
 * written.
 */
enum kd_err kd_said_fill(struct kd_event *ev, void *body, size_t len, struct kd_event_diag *diag);

/*
 * Stateless rules of an establishment event (keri-core §4.2, keripy
 * Kever.incept / Kever.rotate): icp/dip at sn 0; rot/drt at sn >= 1; k
 * non-empty and len(k) >= size(kt); a numeric kt at least 1; b (icp/dip)
 * without duplicates and 1 <= bt <= len(b), or bt = 0 with no witnesses;
 * br and ba (rot/drt) each without duplicates and disjoint. Other ilks:
 * KD_OK. The checks that need key state (toad against the derived witness
 * list, prior next digests) are the validator's.
 */
enum kd_err kd_event_check_establishment(const struct kd_event *ev, struct kd_event_diag *diag);

/*
 * Parses a v1 version string (exactly KD_VERSION_LEN chars, keripy VEREX1):
 * "KERI" + major hex + minor hex + kind + 6 lowercase hex size + '_', major
 * 1, minor 0, kind JSON/CBOR/MGPK. A v2 string (ends in '.') is
 * KD_EVF_VERSION2. Errors as kd_event_parse.
 */
enum kd_err kd_version_parse(struct kd_version *v, const char *text, size_t n,
                             struct kd_event_diag *diag);

/*
 * Parses a sequence number as keripy does with int(x, 16), less the oddities
 * no client writes: one or more hex digits, either case, leading zeros
 * allowed, at most 2^128 - 1. KD_EINVAL otherwise.
 */
enum kd_err kd_sn_parse_hex(kd_sn_t *out, const char *text, size_t n);

/* "icp", ... ; "?" for an invalid value. */
const char *kd_ilk_name(enum kd_ilk ilk);
/* The field label ("kt"), or "?". */
const char *kd_field_name(enum kd_field f);
/* "SAID", ... (the fault's enum suffix) and its message; never NULL. */
const char *kd_event_fault_name(enum kd_event_fault f);
const char *kd_event_fault_message(enum kd_event_fault f);
/* The enum kd_err a fault is reported as. */
enum kd_err kd_event_fault_err(enum kd_event_fault f);

/* Pointer to the first byte of a span of ev's body. */
static inline const char *kd_span_ptr(const struct kd_event *ev, struct kd_span s)
{
    return (const char *)ev->raw + s.off;
}

/* True when the span's bytes equal the NUL-terminated string str. */
bool kd_span_eq(const struct kd_event *ev, struct kd_span s, const char *str);

/* ---- code groups (keripy codices, keri-core §1.4) ---- */
bool kd_code_is_digest(enum kd_cesr_code c);   /* DigDex: E F G H I 0D-0G */
bool kd_code_is_prefix(enum kd_cesr_code c);   /* PreDex */
bool kd_code_is_basic(enum kd_cesr_code c);    /* PreNonDigDex: verification keys */
bool kd_code_is_nontrans(enum kd_cesr_code c); /* NonTransDex: B 1AAA 1AAC 1AAI */

#endif
