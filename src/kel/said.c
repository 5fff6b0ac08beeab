/*
 * SAIDs (spec/keri-core.md §2.3; keripy Serder._verify / makify): verify the
 * saidive fields of a parsed body, and fill them in a template.
 *
 * The digest is taken over the body with every saidive field's value bytes
 * replaced by '#' of the same length. Value lengths never change, so this
 * works on the received bytes of JSON, CBOR and MGPK alike, and the version
 * string's size stays right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/crypto.h"
#include "kel_int.h"

/* Bodies up to this size are copied on the stack for hashing. */
#define KD_SAID_STACK_COPY 4096

/* The saidive fields of a parsed event, with their codes: d (not for rct)
 * and an inception's digest-coded i. Returns how many (0..2). */
static unsigned kd_said_fields(const struct kd_event *ev, struct kd_span sp[2],
                               enum kd_cesr_code code[2], const char *lab[2])
{
    unsigned n = 0;

    if (ev->ilk == KD_ILK_RCT)
        return 0;
    sp[n] = ev->d;
    code[n] = ev->d_code;
    lab[n++] = "d";
    if ((ev->ilk == KD_ILK_ICP || ev->ilk == KD_ILK_DIP) && kd_code_is_digest(ev->pre_code)) {
        sp[n] = ev->i;
        code[n] = ev->pre_code;
        lab[n++] = "i";
    }
    return n;
}

/* Blake3-256 qb64 of body with the spans dummied, body left untouched. */
static enum kd_err kd_said_compute(const uint8_t *body, size_t len, const struct kd_span *sp,
                                   unsigned n, char out[KD_DIGEST_QB64_LEN + 1])
{
    uint8_t stackbuf[KD_SAID_STACK_COPY];
    uint8_t *copy = stackbuf;

    if (len > sizeof stackbuf) {
        copy = malloc(len);
        if (copy == NULL)
            return KD_ENOMEM;
    }
    memcpy(copy, body, len);
    for (unsigned k = 0; k < n; k++)
        memset(copy + sp[k].off, '#', sp[k].len);
    kd_blake3_256_qb64(copy, len, out);
    if (copy != stackbuf)
        free(copy);
    return KD_OK;
}

static enum kd_err kd_said_fail(struct kd_event_diag *diag, enum kd_event_fault f, const char *why,
                                const char *field, uint32_t off)
{
    if (diag) {
        diag->fault = f;
        diag->why = why;
        diag->field = field;
        diag->offset = off;
    }
    return kd_event_fault_err(f);
}

enum kd_err kd_event_parse(struct kd_event *ev, const void *body, size_t len,
                           struct kd_event_diag *diag)
{
    struct kd_span sp[2];
    enum kd_cesr_code code[2];
    const char *lab[2];
    char said[KD_DIGEST_QB64_LEN + 1];
    unsigned n;
    enum kd_err err = kd_event_parse_mode(ev, body, len, false, diag);

    if (err != KD_OK)
        return err;
    n = kd_said_fields(ev, sp, code, lab);
    if (n == 0)
        return KD_OK;
    for (unsigned k = 0; k < n; k++)
        if (code[k] != KD_CESR_BLAKE3_256)
            return kd_said_fail(diag, KD_EVF_DIGEST_CODE, "only Blake3-256 SAIDs are supported",
                                lab[k], sp[k].off);
    err = kd_said_compute(ev->raw, ev->size, sp, n, said);
    if (err != KD_OK)
        return err;
    for (unsigned k = 0; k < n; k++) /* Blake3-256 qb64: 44 chars, as the code says */
        if (memcmp(kd_span_ptr(ev, sp[k]), said, KD_DIGEST_QB64_LEN) != 0)
            return kd_said_fail(diag, KD_EVF_SAID, "SAID does not match the body", lab[k],
                                sp[k].off);
    return KD_OK;
}

enum kd_err kd_said_fill(struct kd_event *ev, void *body, size_t len, struct kd_event_diag *diag)
{
    static const char *const kinds[] = {"JSON", "CBOR", "MGPK"};
    uint8_t *b = body;
    struct kd_span sp[2];
    enum kd_cesr_code code[2];
    const char *lab[2];
    char vs[KD_VERSION_LEN + 1];
    char said[KD_DIGEST_QB64_LEN + 1];
    unsigned n;
    enum kd_err err = kd_event_parse_mode(ev, body, len, true, diag);

    if (err != KD_OK)
        return err;
    snprintf(vs, sizeof vs, "KERI10%s%06x_", kinds[ev->version.kind], (unsigned)len);
    memcpy(b + ev->v.off, vs, KD_VERSION_LEN);
    n = kd_said_fields(ev, sp, code, lab);
    for (unsigned k = 0; k < n; k++) {
        if (code[k] != KD_CESR_BLAKE3_256)
            return kd_said_fail(diag, KD_EVF_TEMPLATE,
                                "saidive field is neither 44 '#' nor a Blake3-256 digest", lab[k],
                                sp[k].off);
        memset(b + sp[k].off, '#', sp[k].len);
    }
    if (n > 0) {
        kd_blake3_256_qb64(b, len, said);
        for (unsigned k = 0; k < n; k++)
            memcpy(b + sp[k].off, said, KD_DIGEST_QB64_LEN);
    }
    return kd_event_parse(ev, body, len, diag);
}
