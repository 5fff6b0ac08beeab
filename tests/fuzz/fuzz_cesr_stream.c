/*
 * libFuzzer target for the CESR v1 stream splitter (cesr/).
 *
 * The input's first byte chooses how to run; the rest is the stream.
 *   bits 0-3  piece size 1..16 for the incremental run
 *   bit 4     pieces of varying size (1..64) instead, from a generator seeded by the input
 *   bit 5     small limits, so that every limit is reached
 * The stream is split in one call (kd_cesr_split_all) and fed to an
 * incremental splitter in pieces, draining after every feed. Both must give
 * the same messages (offsets, sizes, groups) and the same final error, every
 * span must be the input at its offset, and every split message must read
 * back through the iterators without error. Anything else aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kerid/cesr_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    uint64_t h;
    size_t msgs;
    const uint8_t *in;
    size_t len;
};

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_cesr_stream: %s\n", what);
    abort();
}

/* FNV-1a over the bytes of v. */
static void mix(struct digest *d, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        d->h ^= (v >> (8 * i)) & 0xff;
        d->h *= 0x100000001b3ull;
    }
}

static void expect_span(const struct digest *d, const void *p, size_t off, size_t len)
{
    if (off > d->len || len > d->len - off || (len > 0 && memcmp(p, d->in + off, len) != 0))
        fail("a span is not the input at its offset");
}

/* Reads every item of every kind back; counts must match the groups. */
static void read_back(const struct kd_cesr_attachments *att)
{
    struct kd_cesr_iter it;
    struct kd_cesr_siger s;
    struct kd_cesr_couple cp;
    struct kd_cesr_quadruple q;
    struct kd_cesr_first_seen fs;
    struct kd_cesr_seal_src ss;
    struct kd_cesr_trans_group tg;
    enum kd_err err;
    size_t n;

#define KD_READ_ALL_(code, call)                                                                   \
    do {                                                                                           \
        kd_cesr_iter_init(&it, att, code);                                                         \
        n = 0;                                                                                     \
        while ((err = (call)) == KD_OK)                                                            \
            n++;                                                                                   \
        if (err != KD_ENOTFOUND || n != att->items[code])                                          \
            fail("an iterator disagrees with the splitter");                                       \
    } while (0)
    KD_READ_ALL_(KD_CESR_CTR_CONTROLLER_IDX_SIGS, kd_cesr_next_siger(&it, &s));
    KD_READ_ALL_(KD_CESR_CTR_WITNESS_IDX_SIGS, kd_cesr_next_siger(&it, &s));
    KD_READ_ALL_(KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES, kd_cesr_next_couple(&it, &cp));
    KD_READ_ALL_(KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES, kd_cesr_next_quadruple(&it, &q));
    KD_READ_ALL_(KD_CESR_CTR_FIRST_SEEN_REPLAY_COUPLES, kd_cesr_next_first_seen(&it, &fs));
    KD_READ_ALL_(KD_CESR_CTR_SEAL_SOURCE_COUPLES, kd_cesr_next_seal_src(&it, &ss));
    KD_READ_ALL_(KD_CESR_CTR_SEAL_SOURCE_TRIPLES, kd_cesr_next_seal_src(&it, &ss));
#undef KD_READ_ALL_
    for (int k = 0; k < 2; k++) {
        const enum kd_cesr_ctr code =
            k ? KD_CESR_CTR_TRANS_IDX_SIG_GROUPS : KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS;

        kd_cesr_iter_init(&it, att, code);
        n = 0;
        while ((err = kd_cesr_next_trans_group(&it, &tg)) == KD_OK) {
            uint32_t sigs = 0;

            n++;
            while ((err = kd_cesr_next_siger(&tg.sigs, &s)) == KD_OK)
                sigs++;
            if (err != KD_ENOTFOUND || sigs != tg.nsigs)
                fail("nested signatures disagree with their counter");
        }
        if (err != KD_ENOTFOUND || n != att->items[code])
            fail("a group iterator disagrees with the splitter");
    }
    for (unsigned g = 0; g < att->ngroups; g++) {
        const struct kd_cesr_group *grp = &att->groups[g];
        struct kd_cesr_var path;
        const char *bext;
        size_t blen;

        if (grp->path == NULL)
            continue;
        if (kd_cesr_var_decode(grp->path, grp->path_len, &path, NULL, NULL) != KD_OK ||
            kd_cesr_var_bext(&path, &bext, &blen) != KD_OK)
            fail("a pathed group's path does not decode");
    }
}

static enum kd_err on_msg(void *ctx, const struct kd_cesr_msg *m)
{
    struct digest *d = ctx;
    const struct kd_cesr_attachments *a = &m->att;

    expect_span(d, m->body, m->offset, m->body_len);
    if (a->offset != m->offset + m->body_len || (a->len > 0) != (a->ngroups > 0))
        fail("attachments do not follow the body");
    if (a->len > 0)
        expect_span(d, a->text, a->offset, a->len);
    d->msgs++;
    mix(d, m->offset);
    mix(d, m->body_len);
    mix(d, (uint64_t)m->kind << 8 | (uint64_t)m->proto);
    mix(d, m->vs_offset);
    mix(d, a->len);
    mix(d, a->ngroups);
    for (unsigned i = 0; i < a->ngroups; i++) {
        const struct kd_cesr_group *g = &a->groups[i];

        expect_span(d, g->text, g->offset, g->len);
        if (g->items < g->text || g->items_len > g->len ||
            (size_t)(g->items - g->text) > g->len - g->items_len)
            fail("a group's items are outside the group");
        mix(d, (uint64_t)g->code << 40 | (uint64_t)g->framed << 32 | g->count);
        mix(d, g->offset);
        mix(d, g->len);
        mix(d, (uint64_t)(g->items - g->text));
        mix(d, g->items_len);
        mix(d, g->path_len);
    }
    read_back(a);
    return KD_OK;
}

static void mix_end(struct digest *d, enum kd_err rc, const struct kd_cesr_error *e)
{
    mix(d, (uint64_t)rc);
    if (rc != KD_OK) {
        mix(d, (uint64_t)e->code);
        mix(d, e->offset);
        mix(d, (uint64_t)(uintptr_t)e->reason);
        if (e->offset > d->len)
            fail("an error offset is past the input");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct kd_cesr_limits small = {
        .max_body = 512, .max_attach = 768, .max_groups = 4, .max_items = 6};
    const struct kd_cesr_limits *lim;
    struct digest whole = {0xcbf29ce484222325ull, 0, NULL, 0};
    struct digest inc = {0xcbf29ce484222325ull, 0, NULL, 0};
    struct kd_cesr_error e = {KD_OK, 0, NULL};
    struct kd_cesr_stream st;
    struct kd_cesr_msg msg;
    enum kd_cesr_step step = KD_CESR_STEP_MORE;
    enum kd_err rc;
    uint32_t rng;
    size_t pos = 0;
    unsigned mode;

    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    lim = mode & 0x20 ? &small : NULL;
    whole.in = inc.in = data;
    whole.len = inc.len = size;

    rc = kd_cesr_split_all(data, size, lim, on_msg, &whole, &e);
    if (rc != KD_OK && (rc != e.code || e.reason == NULL))
        fail("split_all's error is not filled in");
    mix_end(&whole, rc, &e);

    kd_cesr_stream_init(&st, lim);
    rng = (uint32_t)size * 2654435761u ^ mode;
    while (pos < size && step != KD_CESR_STEP_ERROR) {
        size_t n = (mode & 15) + 1;

        if (mode & 0x10) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            n = rng % 64 + 1;
        }
        if (n > size - pos)
            n = size - pos;
        if (kd_cesr_stream_feed(&st, data + pos, n) != KD_OK)
            fail("feed refused bytes while drained");
        pos += n;
        while ((step = kd_cesr_stream_next(&st, &msg)) == KD_CESR_STEP_MSG)
            on_msg(&inc, &msg);
    }
    if (step != KD_CESR_STEP_ERROR) {
        kd_cesr_stream_finish(&st);
        while ((step = kd_cesr_stream_next(&st, &msg)) == KD_CESR_STEP_MSG)
            on_msg(&inc, &msg);
    }
    if (step == KD_CESR_STEP_ERROR) {
        const struct kd_cesr_error *se = kd_cesr_stream_error(&st);

        if (se == NULL)
            fail("no error after KD_CESR_STEP_ERROR");
        mix_end(&inc, se->code, se);
    } else if (step == KD_CESR_STEP_END) {
        mix_end(&inc, KD_OK, NULL);
    } else {
        fail("the stream did not end after finish");
    }
    kd_cesr_stream_free(&st);

    if (whole.msgs != inc.msgs || whole.h != inc.h)
        fail("whole-buffer and incremental splits differ");
    return 0;
}
