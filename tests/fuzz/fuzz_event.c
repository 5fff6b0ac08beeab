/*
 * libFuzzer target for kel/ message bodies: kd_event_parse on arbitrary
 * bytes (the first byte selects JSON, CBOR or MGPK), kd_said_fill on the same
 * bytes as a template, and kd_tholder_parse_json with the threshold
 * functions. Each input is also tried with its version string's size
 * rewritten to the input length, so that the fuzzer gets past the size check
 * into the body grammar.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined with kd_kel_dep.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/tholder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kd_event ev;
static struct kd_tholder th;

/* Reads every span of a parsed event, so that a span out of the body shows
 * up under ASan. */
static unsigned touch(const struct kd_event *e)
{
    const struct kd_span spans[] = {e->v,      e->t,      e->d,      e->i,     e->s,  e->p,
                                    e->kt_raw, e->nt_raw, e->bt_raw, e->c_raw, e->a,  e->di,
                                    e->dt,     e->r,      e->rr,     e->q,     e->rp, e->e};
    unsigned sum = 0;

    for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++)
        for (uint32_t j = 0; j < spans[k].len; j++)
            sum += (unsigned char)kd_span_ptr(e, spans[k])[j];
    for (uint16_t k = 0; k < e->keys.count; k++)
        sum += (unsigned char)kd_span_ptr(e, e->keys.item[k])[e->keys.item[k].len - 1];
    for (uint16_t k = 0; k < e->nseals; k++)
        sum += e->seals[k].raw.len ? (unsigned char)kd_span_ptr(e, e->seals[k].raw)[0] : 0;
    return sum;
}

/* One parse of an exact-size copy (ASan sees any read past the end). */
static void parse_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    bool verified[KD_EVENT_MAX_KEYS];
    char out[16384];
    volatile unsigned sink;

    if (copy == NULL)
        return;
    if (size)
        memcpy(copy, data, size);
    if (kd_event_parse(&ev, copy, size, NULL) == KD_OK) {
        sink = touch(&ev);
        (void)sink;
        (void)kd_event_check_establishment(&ev, NULL);
        for (size_t k = 0; k < KD_EVENT_MAX_KEYS; k++)
            verified[k] = (k & 1) == 0;
        (void)kd_tholder_satisfied(&ev.kt, verified, ev.keys.count);
        (void)kd_tholder_format_json(&ev.kt, out, sizeof out, NULL);
        (void)kd_tholder_limen(&ev.nt, out, sizeof out, NULL);
    }
    /* the same bytes as a template (written in place) */
    if (kd_said_fill(&ev, copy, size, NULL) == KD_OK) {
        sink = touch(&ev);
        (void)sink;
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    bool verified[KD_THOLDER_MAX_WEIGHTS + 1];
    char out[16384];

    if (!ready) {
        if (kd_crypto_init() != KD_OK)
            abort();
        ready = true;
    }
    if (size > KD_EVENT_MAX_SIZE)
        return 0;
    parse_copy(data, size);

    /* again with the v1 size set to the input length */
    for (size_t off = 0; off + KD_VERSION_LEN <= size && off < 16; off++) {
        if (memcmp(data + off, "KERI10", 6) == 0) {
            uint8_t *fixed = malloc(size);
            char digits[16];
            if (fixed == NULL)
                return 0;
            memcpy(fixed, data, size);
            snprintf(digits, sizeof digits, "%06zx", size);
            memcpy(fixed + off + 10, digits, 6);
            parse_copy(fixed, size);
            free(fixed);
            break;
        }
    }

    /* the bytes as a threshold */
    if (kd_tholder_parse_json(&th, (const char *)data, size, NULL) == KD_OK) {
        for (size_t k = 0; k <= KD_THOLDER_MAX_WEIGHTS; k++)
            verified[k] = size > 0 && ((data[k % size] >> (k % 8)) & 1);
        (void)kd_tholder_satisfied(&th, verified, sizeof verified);
        (void)kd_tholder_format_json(&th, out, sizeof out, NULL);
        (void)kd_tholder_limen(&th, out, sizeof out, NULL);
    }
    return 0;
}
