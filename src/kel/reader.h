/*
 * Private to kel/: one strict pull reader over the three body encodings
 * (compact JSON, CBOR subset, MGPK subset). The event and threshold parsers
 * walk a body through it without knowing the encoding; every value comes
 * back with its byte span in the body, which SAID computation needs.
 *
 * Canonical form is enforced as the reader goes (see event.h): what it
 * accepts is exactly what keripy's json/cbor2/msgpack would re-serialize
 * byte for byte, within the documented subset. Duplicate keys are detected
 * when a map closes. The first failure is recorded in rd->diag; after a
 * failure the caller stops reading (kd_rd_peek then says KD_RD_BAD). The
 * functions below expect to be called in grammar order: kd_rd_next and
 * kd_rd_key only inside an open container (a map for kd_rd_key).
 */
#ifndef KERID_KEL_READER_H
#define KERID_KEL_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "kerid/event.h"

enum kd_rd_type {
    KD_RD_MAP,
    KD_RD_ARR,
    KD_RD_STR,
    KD_RD_UINT,  /* non-negative integer */
    KD_RD_NINT,  /* negative integer */
    KD_RD_FLOAT, /* JSON number with a fraction or exponent */
    KD_RD_TRUE,
    KD_RD_FALSE,
    KD_RD_NULL,
    KD_RD_BAD, /* end of body, or a byte no value starts with */
};

struct kd_rd_frame {
    uint32_t left;  /* CBOR/MGPK: items (maps: pairs) still to read */
    uint32_t kbase; /* first of this map's recorded keys in keys[] */
    uint8_t is_map;
    uint8_t first;   /* JSON: no item read yet */
    uint8_t trusted; /* the caller checks this map's keys: no duplicate check */
};

struct kd_rd {
    const uint8_t *p;
    uint32_t n;
    uint32_t pos;
    enum kd_kind kind;
    uint32_t depth;
    uint32_t nkeys;
    bool failed;
    const char *field; /* top-level field being read, for diagnostics */
    struct kd_event_diag diag;
    struct kd_rd_frame stk[KD_EVENT_MAX_DEPTH];
    struct kd_span keys[KD_EVENT_MAX_OPEN_KEYS];
};

/* Starts reading n bytes of the given kind (n <= KD_EVENT_MAX_SIZE). */
void kd_rd_init(struct kd_rd *rd, const uint8_t *p, uint32_t n, enum kd_kind kind);

/* Records the first failure (fault, static reason, current offset) and
 * returns the fault's kd_err. */
enum kd_err kd_rd_fail(struct kd_rd *rd, enum kd_event_fault fault, const char *why);

/* Type of the next value, without consuming it (KD_RD_BAD at the end). */
enum kd_rd_type kd_rd_peek(const struct kd_rd *rd);

/* Consumes a map or array head (want: KD_RD_MAP or KD_RD_ARR) and opens
 * it; any other next value fails. */
enum kd_err kd_rd_enter(struct kd_rd *rd, enum kd_rd_type want);

/* Whether the open container has another item (a key/value pair for maps).
 * When it has none the container is closed (maps: duplicate keys checked). */
enum kd_err kd_rd_next(struct kd_rd *rd, bool *more);

/* Declares that the caller matches every key of the open map against
 * distinct labels itself, so the reader need not record them. */
void kd_rd_trust_keys(struct kd_rd *rd);

/* Reads a map key (a string) and, for JSON, the ':' after it. */
enum kd_err kd_rd_key(struct kd_rd *rd, struct kd_span *key);

/* Reads a string value; the span covers its content. */
enum kd_err kd_rd_str(struct kd_rd *rd, struct kd_span *s);

/* Reads a non-negative integer of at most 128 bits; the next value must be
 * KD_RD_UINT (check with kd_rd_peek). raw (optional) gets the span of its
 * encoding. */
enum kd_err kd_rd_uint(struct kd_rd *rd, kd_sn_t *v, struct kd_span *raw);

/* Skips one value of any type (checking it all the same); raw (optional)
 * gets the span of the whole value. */
enum kd_err kd_rd_skip(struct kd_rd *rd, struct kd_span *raw);

/* KD_OK when the whole input was consumed (call after the top container
 * closed). */
enum kd_err kd_rd_finish(struct kd_rd *rd);

/* True when span s of the input equals the NUL-terminated string lit. */
bool kd_rd_span_is(const struct kd_rd *rd, struct kd_span s, const char *lit);

#endif
