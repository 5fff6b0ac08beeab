/*
 * CESR v1 stream splitting: a byte stream of messages, each a serialized
 * body (JSON, CBOR or MGPK map) followed by its attachment groups (count
 * codes and what they count), as keripy's Parser.msgParsator frames them
 * (spec/keri-core.md §1.6-1.7, §2.1).
 *
 * - A body is framed by the size in its v1 version string ("KERI10JSON00012b_",
 *   found within the first 12 bytes); bodies are never parsed here (kel/
 *   does that), JSON is only checked to end with '}'. CESR v2 version
 *   strings are recognised and refused ("CESR v2 is not supported").
 * - Attachments are one or more count groups until the next message start
 *   or the end of input. A -V (or -0V) frame must be the first group and
 *   holds exactly count * 4 chars of groups; nothing may follow it. -L / -0L
 *   pathed material is kept as a span with its path.
 * - Everything is validated while splitting: codes, alphabet, pad and lead
 *   bits, code classes (a prefix is a prefix code, a SAID a digest code, an
 *   sn a `0A`...), so the iterators below cannot fail on a split message.
 * - Nothing is allocated per message or per item: a message is spans into
 *   the input plus decoded counts. Hostile counts are checked against the
 *   limits before anything else.
 * - Errors are values: struct kd_cesr_error with the absolute byte offset of
 *   the element at fault. After an error the stream is poisoned: the caller
 *   drops the rest of the input (a witness answers 400; 413 for
 *   KD_ETOOLARGE), as keripy flushes its stream after an extraction error.
 *
 * Text domain only: binary (qb2) groups, annotated CESR, op codes, genus
 * codes and the -J / -K SAD-path signature groups are refused.
 */
#ifndef KERID_CESR_STREAM_H
#define KERID_CESR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/buf.h"
#include "kerid/cesr.h"
#include "kerid/err.h"

#define KD_CESR_DEFAULT_MAX_BODY   ((size_t)1 << 20) /* v1 sizes go to 16 MiB - 1 */
#define KD_CESR_DEFAULT_MAX_ATTACH ((size_t)1 << 20)
#define KD_CESR_DEFAULT_MAX_ITEMS  4095u /* the largest two-digit count */
#define KD_CESR_MAX_GROUPS         64    /* groups recorded per message (array size) */
#define KD_CESR_SMELL_SIZE         31    /* bytes needed to find a version string */

/* Bounds on what one message may make the splitter accept. Zero fields take
 * the defaults. keriox caps JSON bodies at 65,535 bytes. */
struct kd_cesr_limits {
    size_t max_body;     /* body bytes; default 1 MiB */
    size_t max_attach;   /* attachment chars of one message; default 1 MiB */
    unsigned max_groups; /* groups per message, -V frames included; <= KD_CESR_MAX_GROUPS */
    uint32_t max_items;  /* count of one item group (and of a nested -A); default 4095 */
    size_t max_buffer;   /* stream: bytes held unconsumed; default 2 * (body + attach) */
};

/* Why splitting stopped. code is KD_EBADCESR (malformed), KD_ETOOLARGE (a
 * limit) or KD_ENOMEM; offset is the absolute stream offset of the element
 * at fault; reason is a static string. */
struct kd_cesr_error {
    enum kd_err code;
    size_t offset;
    const char *reason;
};

enum kd_cesr_proto { KD_CESR_PROTO_KERI, KD_CESR_PROTO_ACDC };
enum kd_cesr_kind { KD_CESR_KIND_JSON, KD_CESR_KIND_CBOR, KD_CESR_KIND_MGPK };

/* One count group as received. */
struct kd_cesr_group {
    enum kd_cesr_ctr code;
    uint32_t count;   /* the counter's value (items; quadlets for -V / -L) */
    bool framed;      /* inside a -V frame */
    size_t offset;    /* absolute offset of the counter */
    const char *text; /* the counter and everything it counts */
    size_t len;
    const char *items; /* what follows the counter (-L: what follows the path) */
    size_t items_len;
    const char *path; /* -L / -0L: the path primitive (STR_B64 qb64); else NULL */
    size_t path_len;
};

/* The attachments of one message, in stream order. A -V frame is a group
 * of its own, followed by the groups it holds (framed = true). */
struct kd_cesr_attachments {
    const char *text; /* all groups; NULL when there are none */
    size_t len;
    size_t offset; /* absolute offset of text */
    unsigned ngroups;
    size_t items[KD_CESR_CTR_COUNT_]; /* per code: the sum of the group counts */
    struct kd_cesr_group groups[KD_CESR_MAX_GROUPS];
};

/* One message: spans into the input, valid as long as the input is (for a
 * stream: until the next call on it). */
struct kd_cesr_msg {
    size_t offset;             /* absolute offset of the body */
    const unsigned char *body; /* exactly the bytes that were signed */
    size_t body_len;           /* the size in the version string */
    enum kd_cesr_proto proto;
    enum kd_cesr_kind kind;
    size_t vs_offset; /* offset of the version string inside body */
    struct kd_cesr_attachments att;
};

/* ---- one-shot ---- */

/* Called for each message; a value other than KD_OK stops the split and is
 * returned by kd_cesr_split_all. */
typedef enum kd_err (*kd_cesr_msg_cb)(void *ctx, const struct kd_cesr_msg *msg);

/*
 * Splits a whole buffer (zero copy: spans point into buf) and calls cb for
 * each message in order. Returns KD_OK when every byte was consumed, cb's
 * value if it stopped, or the splitter's error with *err (optional) filled
 * (messages before the error were delivered). lim may be NULL (defaults).
 * Gives exactly the results of a stream fed the same bytes in any pieces.
 */
enum kd_err kd_cesr_split_all(const void *buf, size_t len, const struct kd_cesr_limits *lim,
                              kd_cesr_msg_cb cb, void *ctx, struct kd_cesr_error *err);

/*
 * Parses text that holds attachment groups only (an HTTP CESR-ATTACHMENT
 * header, a stored attachment blob) with the rules of a message's
 * attachments; all of it must be groups. offset is the absolute offset
 * reported in errors and groups. Empty text gives zero groups.
 */
enum kd_err kd_cesr_attach_parse(const char *text, size_t len, size_t offset,
                                 const struct kd_cesr_limits *lim, struct kd_cesr_attachments *att,
                                 struct kd_cesr_error *err);

/* ---- incremental ---- */

/* The state of an incremental splitter. Fields are private. */
struct kd_cesr_stream {
    struct kd_cesr_limits lim;
    struct kd_buf buf; /* received, not yet consumed bytes from rd on */
    size_t rd;         /* first unconsumed byte in buf */
    size_t base;       /* absolute offset of buf.data[0] */
    size_t yielded;    /* bytes of the message last handed out, dropped on the next call */
    size_t need;       /* do not retry before this many unconsumed bytes are held */
    bool finished;
    bool failed;
    struct kd_cesr_error err;
};

/* What kd_cesr_stream_next produced. */
enum kd_cesr_step {
    KD_CESR_STEP_ERROR = -1, /* see kd_cesr_stream_error(); the stream is poisoned */
    KD_CESR_STEP_MORE = 0,   /* feed more bytes (or finish) */
    KD_CESR_STEP_MSG = 1,    /* *msg holds a message */
    KD_CESR_STEP_END = 2,    /* finished and every byte consumed */
};

/* Prepares st; lim may be NULL (defaults). Allocates nothing yet. */
void kd_cesr_stream_init(struct kd_cesr_stream *st, const struct kd_cesr_limits *lim);

/* Frees the buffer; st may be re-initialised afterwards. */
void kd_cesr_stream_free(struct kd_cesr_stream *st);

/*
 * Appends n bytes (split anywhere) to the stream; copies them. Invalidates
 * the message last returned by kd_cesr_stream_next. KD_ETOOLARGE (nothing
 * appended, stream still usable) if more than max_buffer bytes would be
 * held: drain with kd_cesr_stream_next first. KD_EINVAL after finish,
 * KD_EBADCESR once poisoned, KD_ENOMEM if the buffer cannot grow.
 */
enum kd_err kd_cesr_stream_feed(struct kd_cesr_stream *st, const void *bytes, size_t n);

/* Marks the end of input: the last message's attachments end here, and a
 * truncated message becomes an error. */
void kd_cesr_stream_finish(struct kd_cesr_stream *st);

/*
 * Yields the next whole message into *msg (spans into the stream's buffer,
 * valid until the next call on st). A message is only complete once the
 * byte after its attachments (or the end of input) is known. After
 * KD_CESR_STEP_ERROR every further call returns it again.
 */
enum kd_cesr_step kd_cesr_stream_next(struct kd_cesr_stream *st, struct kd_cesr_msg *msg);

/* The error that poisoned st, or NULL. */
const struct kd_cesr_error *kd_cesr_stream_error(const struct kd_cesr_stream *st);

/* ---- reading attachments without allocation ---- */

/*
 * An iterator over the items of every group with one code, across groups in
 * stream order (inside a -V frame too), or over the signatures nested in a
 * -F / -H group. Initialise with kd_cesr_iter_init; call the kd_cesr_next_*
 * function of the code. They return KD_OK with the item, KD_ENOTFOUND after
 * the last, KD_EINVAL for the wrong item kind, KD_EBADCESR if the text does
 * not decode (never for attachments produced by the splitter).
 */
struct kd_cesr_iter {
    const struct kd_cesr_attachments *att; /* NULL for a nested signature list */
    enum kd_cesr_ctr code;
    unsigned next_group;
    const char *p;
    const char *end;
    uint32_t left; /* items left in the current group */
};

/* Item of a -C group: a non-transferable (witness) prefix and its signature. */
struct kd_cesr_couple {
    struct kd_cesr_prim prefix;
    struct kd_cesr_prim sig;
    const char *qb64; /* the couple's text */
    size_t qb64_len;
};

/* Item of a -D group: a transferable receipt. */
struct kd_cesr_quadruple {
    struct kd_cesr_prim prefix;
    kd_sn_t sn; /* of the signer's establishment event */
    struct kd_cesr_prim said;
    struct kd_cesr_siger siger;
    const char *qb64;
    size_t qb64_len;
};

/* Item of a -E group: first-seen ordinal and time of a replayed event. */
struct kd_cesr_first_seen {
    kd_sn_t fn;
    struct kd_cesr_prim datetime; /* DATETIME: raw is the custom-Base64 ISO-8601 text */
    const char *dt_qb64;          /* "1AAG2024-01-01T00c00c00d000000p00c00" (36 chars) */
    const char *qb64;
    size_t qb64_len;
};

/* Item of a -G group (sn + SAID of the delegating / anchoring event) and,
 * with prefix, of a -I group. */
struct kd_cesr_seal_src {
    struct kd_cesr_prim prefix; /* -I only; code KD_CESR_CODE_COUNT_ for -G */
    kd_sn_t sn;
    struct kd_cesr_prim said;
    const char *qb64;
    size_t qb64_len;
};

/* Item of a -F group (prefix, sn, SAID of the signer's establishment event,
 * signatures) or of a -H group (prefix and signatures only). */
struct kd_cesr_trans_group {
    struct kd_cesr_prim prefix;
    kd_sn_t sn;               /* -F only; 0 for -H */
    struct kd_cesr_prim said; /* -F only; code KD_CESR_CODE_COUNT_ for -H */
    uint32_t nsigs;
    struct kd_cesr_iter sigs; /* kd_cesr_next_siger over the nested -A */
    const char *qb64;
    size_t qb64_len;
};

/* Starts an iterator over the items of the groups coded code in att. */
void kd_cesr_iter_init(struct kd_cesr_iter *it, const struct kd_cesr_attachments *att,
                       enum kd_cesr_ctr code);

/* -A, -B, and the sigs of a kd_cesr_trans_group. */
enum kd_err kd_cesr_next_siger(struct kd_cesr_iter *it, struct kd_cesr_siger *out);
/* -C */
enum kd_err kd_cesr_next_couple(struct kd_cesr_iter *it, struct kd_cesr_couple *out);
/* -D */
enum kd_err kd_cesr_next_quadruple(struct kd_cesr_iter *it, struct kd_cesr_quadruple *out);
/* -E */
enum kd_err kd_cesr_next_first_seen(struct kd_cesr_iter *it, struct kd_cesr_first_seen *out);
/* -G and -I */
enum kd_err kd_cesr_next_seal_src(struct kd_cesr_iter *it, struct kd_cesr_seal_src *out);
/* -F and -H */
enum kd_err kd_cesr_next_trans_group(struct kd_cesr_iter *it, struct kd_cesr_trans_group *out);

#endif
