/*
 * libFuzzer target for tel/ bodies: kd_tel_parse on arbitrary bytes (also
 * with the version string's size rewritten to the input length, so that the
 * fuzzer gets past the size check into the field grammar), and
 * kd_tel_seal_get on the same bytes read as attachment text.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined with tel/'s sources.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr_stream.h"
#include "kerid/tel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kd_tel_event ev;
static struct kd_cesr_attachments att;

/* Reads the spans of a parsed event, so that one out of the body shows up
 * under ASan. */
static unsigned touch(const struct kd_tel_event *e)
{
    const struct kd_span spans[] = {e->d, e->i, e->s, e->c_raw, e->bt_raw, e->b_raw, e->dt};
    unsigned sum = 0;

    for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++)
        for (uint32_t j = 0; j < spans[k].len; j++)
            sum += e->raw[spans[k].off + j];
    return sum + (unsigned)strlen(e->said) + (unsigned)strlen(e->reg) + (unsigned)e->backers.count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kd_event_diag diag;
    struct kd_tel_seal seal;
    struct kd_cesr_error cerr;
    volatile unsigned sink = 0;
    uint8_t *copy;

    memset(&diag, 0, sizeof diag);
    if (kd_tel_parse(&ev, data, size, &diag) == KD_OK)
        sink += touch(&ev);
    /* the same bytes with the version string's size set to the length */
    if (size >= 23 && size <= 0xffffff && data[0] == '{' && (copy = malloc(size)) != NULL) {
        char hex[7];

        memcpy(copy, data, size);
        snprintf(hex, sizeof hex, "%06zx", size);
        memcpy(copy + 16, hex, 6);
        if (kd_tel_parse(&ev, copy, size, &diag) == KD_OK)
            sink += touch(&ev);
        free(copy);
    }
    memset(&cerr, 0, sizeof cerr);
    if (kd_cesr_attach_parse((const char *)data, size, 0, NULL, &att, &cerr) == KD_OK &&
        kd_tel_seal_get(&att, &seal) == KD_OK)
        sink += (unsigned)seal.sn;
    (void)sink;
    return 0;
}
