/*
 * Attachment groups (keripy Parser.msgParsator, keri-core §1.6): validation
 * while splitting, and the allocation-free iterators that read them back.
 */
#include <string.h>

#include "kerid/cesr_stream.h"
#include "cesr_int.h"
#include "stream_int.h"

/*
 * A region being parsed: data up to end (what is buffered, or a -V frame's
 * end), and cap, the furthest any element may reach (the attachment budget,
 * or the frame's end). An element that needs more than cap fails with
 * cap_code / cap_why; one that needs more than end waits for more input,
 * or, on final input, is truncated.
 */
struct kd_cesr_region {
    size_t end;
    size_t cap;
    enum kd_err cap_code;
    const char *cap_why;
    bool framed;
};

/* Smallest text of one item of each count code (0: not an item group). */
static const uint16_t kd_cesr_min_item[KD_CESR_CTR_COUNT_] = {
    [KD_CESR_CTR_CONTROLLER_IDX_SIGS] = 88,        /* siger */
    [KD_CESR_CTR_WITNESS_IDX_SIGS] = 88,           /* siger */
    [KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES] = 132, /* verkey 44 + cigar 88 */
    [KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES] = 200,  /* prefix + sn 24 + said 44 + siger */
    [KD_CESR_CTR_FIRST_SEEN_REPLAY_COUPLES] = 60,  /* fn 24 + datetime 36 */
    [KD_CESR_CTR_TRANS_IDX_SIG_GROUPS] = 116,      /* prefix + sn + said + -A## */
    [KD_CESR_CTR_SEAL_SOURCE_COUPLES] = 68,        /* sn 24 + said 44 */
    [KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS] = 48,  /* prefix + -A## */
    [KD_CESR_CTR_SEAL_SOURCE_TRIPLES] = 112,       /* prefix + sn + said */
    [KD_CESR_CTR_ESSR_PAYLOAD_GROUP] = 4,          /* any primitive */
};

/* Fills in every default of a limits struct. */
void kd_cesr_limits_normalise_(const struct kd_cesr_limits *lim, struct kd_cesr_limits *out)
{
    size_t least;

    if (lim)
        *out = *lim;
    else
        memset(out, 0, sizeof *out);
    if (out->max_body == 0)
        out->max_body = KD_CESR_DEFAULT_MAX_BODY;
    if (out->max_attach == 0)
        out->max_attach = KD_CESR_DEFAULT_MAX_ATTACH;
    /* Keeps every sum below overflow. */
    if (out->max_body > SIZE_MAX / 8)
        out->max_body = SIZE_MAX / 8;
    if (out->max_attach > SIZE_MAX / 8)
        out->max_attach = SIZE_MAX / 8;
    if (out->max_groups == 0 || out->max_groups > KD_CESR_MAX_GROUPS)
        out->max_groups = KD_CESR_MAX_GROUPS;
    if (out->max_items == 0)
        out->max_items = KD_CESR_DEFAULT_MAX_ITEMS;
    /* A stream must be able to hold one whole message and the byte after it. */
    least = out->max_body + out->max_attach + KD_CESR_SMELL_SIZE;
    if (out->max_buffer == 0)
        out->max_buffer = 2 * (out->max_body + out->max_attach);
    if (out->max_buffer < least)
        out->max_buffer = least;
}

/* Records an error at base offset pos. */
enum kd_cesr_pr kd_cesr_fail_(struct kd_cesr_pctx *ctx, enum kd_err code, size_t pos,
                              const char *reason)
{
    ctx->err->code = code;
    ctx->err->offset = ctx->abs + pos;
    ctx->err->reason = reason;
    return KD_CESR_PR_ERR;
}

/* An element at pos needs the region to reach want: fail past cap, wait for
 * more input, or, on final input, report the truncation. */
static enum kd_cesr_pr kd_cesr_short(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                     size_t pos, size_t want)
{
    if (want > r->cap)
        return kd_cesr_fail_(ctx, r->cap_code, pos, r->cap_why);
    if (ctx->final)
        return kd_cesr_fail_(ctx, KD_EBADCESR, pos, "truncated attachment group");
    ctx->need = want;
    return KD_CESR_PR_MORE;
}

/* Turns a scanner's answer at *pos into a parse result; advances *pos. */
static enum kd_cesr_pr kd_cesr_scanned(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                       size_t *pos, enum kd_cesr_scan s, size_t len,
                                       const char *why)
{
    switch (s) {
    case KD_CESR_SCAN_OK:
        *pos += len;
        return KD_CESR_PR_OK;
    case KD_CESR_SCAN_SHORT:
        return kd_cesr_short(ctx, r, *pos, *pos + len);
    default:
        return kd_cesr_fail_(ctx, KD_EBADCESR, *pos, why);
    }
}

/* A fixed-size primitive whose code has all of flags (or is exactly want
 * when want < KD_CESR_CODE_COUNT_). */
static enum kd_cesr_pr kd_cesr_take_prim(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                         size_t *pos, unsigned flags, enum kd_cesr_code want,
                                         const char *wrong)
{
    enum kd_cesr_code code = KD_CESR_CODE_COUNT_;
    const char *why = NULL;
    size_t len = 0;
    const size_t at = *pos;
    const enum kd_cesr_scan s = kd_cesr_scan_prim_(ctx->base + at, r->end - at, &code, &len, &why);
    enum kd_cesr_pr pr = kd_cesr_scanned(ctx, r, pos, s, len, why);

    if (pr != KD_CESR_PR_OK)
        return pr;
    if (want < KD_CESR_CODE_COUNT_ ? code != want : (kd_cesr_code_flags(code) & flags) != flags)
        return kd_cesr_fail_(ctx, KD_EBADCESR, at, wrong);
    return KD_CESR_PR_OK;
}

/* An indexed signature (any code of the Indexer table). */
static enum kd_cesr_pr kd_cesr_take_siger(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                          size_t *pos)
{
    enum kd_cesr_idx_code code;
    const char *why = NULL;
    size_t len = 0;
    const enum kd_cesr_scan s =
        kd_cesr_scan_siger_(ctx->base + *pos, r->end - *pos, &code, &len, &why);

    return kd_cesr_scanned(ctx, r, pos, s, len, why);
}

/* Items of a group need count * min chars at least: refuse what cannot
 * fit before reading any, and wait in one step for what has not arrived. */
static enum kd_cesr_pr kd_cesr_check_count(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                           size_t at, size_t pos, uint32_t count, size_t min)
{
    size_t want;

    if (count > ctx->lim->max_items)
        return kd_cesr_fail_(ctx, KD_ETOOLARGE, at, "too many items in one group");
    want = pos + (size_t)count * min;
    if (want > r->cap)
        return kd_cesr_fail_(ctx, r->cap_code, at, r->cap_why);
    if (!ctx->final && want > r->end) {
        ctx->need = want;
        return KD_CESR_PR_MORE;
    }
    return KD_CESR_PR_OK;
}

/* A nested -A## and its signatures (inside -F and -H items). */
static enum kd_cesr_pr kd_cesr_take_sigs(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                         size_t *pos)
{
    struct kd_cesr_counter ctr;
    const char *why = NULL;
    size_t len = 0;
    const size_t at = *pos;
    enum kd_cesr_scan s;
    enum kd_cesr_pr pr;

    s = kd_cesr_scan_counter_(ctx->base + at, r->end - at, &ctr, &len, &why);
    pr = kd_cesr_scanned(ctx, r, pos, s, len, why);
    if (pr != KD_CESR_PR_OK)
        return pr;
    if (ctr.code != KD_CESR_CTR_CONTROLLER_IDX_SIGS)
        return kd_cesr_fail_(ctx, KD_EBADCESR, at, "expected a -A signature group");
    pr = kd_cesr_check_count(ctx, r, at, *pos, ctr.count, 88);
    for (uint32_t i = 0; pr == KD_CESR_PR_OK && i < ctr.count; i++)
        pr = kd_cesr_take_siger(ctx, r, pos);
    return pr;
}

/* One item of an item group. */
static enum kd_cesr_pr kd_cesr_take_item(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                         size_t *pos, enum kd_cesr_ctr code)
{
    enum kd_cesr_pr pr = KD_CESR_PR_OK;

#define KD_TAKE_(call)                                                                             \
    do {                                                                                           \
        if (pr == KD_CESR_PR_OK)                                                                   \
            pr = (call);                                                                           \
    } while (0)
#define KD_ANY_ KD_CESR_CODE_COUNT_
    switch (code) {
    case KD_CESR_CTR_CONTROLLER_IDX_SIGS:
    case KD_CESR_CTR_WITNESS_IDX_SIGS:
        KD_TAKE_(kd_cesr_take_siger(ctx, r, pos));
        break;
    case KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES:
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_VERKEY, KD_ANY_,
                                   "receipt couple: not a verification key code"));
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_SIG, KD_ANY_,
                                   "receipt couple: not a signature code"));
        break;
    case KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES:
    case KD_CESR_CTR_TRANS_IDX_SIG_GROUPS:
    case KD_CESR_CTR_SEAL_SOURCE_TRIPLES:
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_PREFIX, KD_ANY_,
                                   "not an identifier prefix code"));
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, 0, KD_CESR_SALT_128, "not a 0A sequence number"));
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_DIGEST, KD_ANY_, "not a digest code"));
        if (code == KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES)
            KD_TAKE_(kd_cesr_take_siger(ctx, r, pos));
        else if (code == KD_CESR_CTR_TRANS_IDX_SIG_GROUPS)
            KD_TAKE_(kd_cesr_take_sigs(ctx, r, pos));
        break;
    case KD_CESR_CTR_FIRST_SEEN_REPLAY_COUPLES:
        KD_TAKE_(
            kd_cesr_take_prim(ctx, r, pos, 0, KD_CESR_SALT_128, "not a 0A first-seen ordinal"));
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, 0, KD_CESR_DATETIME, "not a date-time code"));
        break;
    case KD_CESR_CTR_SEAL_SOURCE_COUPLES:
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, 0, KD_CESR_SALT_128, "not a 0A sequence number"));
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_DIGEST, KD_ANY_, "not a digest code"));
        break;
    case KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS:
        KD_TAKE_(kd_cesr_take_prim(ctx, r, pos, KD_CESR_F_PREFIX, KD_ANY_,
                                   "not an identifier prefix code"));
        KD_TAKE_(kd_cesr_take_sigs(ctx, r, pos));
        break;
    case KD_CESR_CTR_ESSR_PAYLOAD_GROUP: {
        const char *why = NULL;
        size_t len = 0;
        const char *t = ctx->base + *pos;
        const size_t n = r->end - *pos;
        enum kd_cesr_scan s;

        if (n > 0 && t[0] >= '4' && t[0] <= '9') {
            struct kd_cesr_var v;
            s = kd_cesr_scan_var_(t, n, &v, &len, &why);
        } else {
            enum kd_cesr_code c;
            s = kd_cesr_scan_prim_(t, n, &c, &len, &why);
        }
        pr = kd_cesr_scanned(ctx, r, pos, s, len, why);
        break;
    }
    default:
        return kd_cesr_fail_(ctx, KD_EINTERNAL, *pos, "not an item group");
    }
#undef KD_ANY_
#undef KD_TAKE_
    return pr;
}

/* Appends a group record; the caller checked the group limit. */
static struct kd_cesr_group *kd_cesr_record(struct kd_cesr_pctx *ctx,
                                            struct kd_cesr_attachments *att, size_t at,
                                            const struct kd_cesr_counter *ctr, bool framed)
{
    struct kd_cesr_group *g = &att->groups[att->ngroups++];

    memset(g, 0, sizeof *g);
    g->code = ctr->code;
    g->count = ctr->count;
    g->framed = framed;
    g->offset = ctx->abs + at;
    g->text = ctx->base + at;
    att->items[ctr->code] += ctr->count;
    return g;
}

static enum kd_cesr_pr kd_cesr_take_group(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                          size_t *pos, struct kd_cesr_attachments *att);

/* -V / -0V: count quadlets that must be groups, exactly. */
static enum kd_cesr_pr kd_cesr_take_frame(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                          size_t at, size_t *pos, const struct kd_cesr_counter *ctr,
                                          struct kd_cesr_attachments *att)
{
    const size_t fend = *pos + (size_t)ctr->count * 4;
    struct kd_cesr_region inner = {
        .end = fend,
        .cap = fend,
        .cap_code = KD_EBADCESR,
        .cap_why = "-V frame shortage: a group runs past the frame end",
        .framed = true,
    };
    struct kd_cesr_group *g;
    enum kd_cesr_pr pr;

    if (r->framed)
        return kd_cesr_fail_(ctx, KD_EBADCESR, at, "nested -V frame");
    if (att->ngroups != 0)
        return kd_cesr_fail_(ctx, KD_EBADCESR, at, "-V frame must be the first attachment group");
    if (fend > r->end)
        return kd_cesr_short(ctx, r, at, fend);
    g = kd_cesr_record(ctx, att, at, ctr, false);
    g->items = ctx->base + *pos;
    g->items_len = fend - *pos;
    g->len = fend - at;
    while (*pos < fend) {
        if (ctx->base[*pos] != '-' && ctx->base[*pos] != '_')
            return kd_cesr_fail_(ctx, KD_EBADCESR, *pos, "-V frame leftover: not a count code");
        pr = kd_cesr_take_group(ctx, &inner, pos, att);
        if (pr != KD_CESR_PR_OK)
            return pr;
    }
    return KD_CESR_PR_OK;
}

/* -L / -0L: count quadlets of pathed material, kept as a span; it must
 * start with a Base64 path (keripy Pather). */
static enum kd_cesr_pr kd_cesr_take_pathed(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                           size_t at, size_t *pos,
                                           const struct kd_cesr_counter *ctr,
                                           struct kd_cesr_attachments *att)
{
    const size_t gend = *pos + (size_t)ctr->count * 4;
    struct kd_cesr_var path;
    struct kd_cesr_group *g;
    const char *bext;
    const char *why = NULL;
    size_t blen;
    size_t len = 0;

    if (gend > r->end)
        return kd_cesr_short(ctx, r, at, gend);
    switch (kd_cesr_scan_var_(ctx->base + *pos, gend - *pos, &path, &len, &why)) {
    case KD_CESR_SCAN_OK:
        break;
    case KD_CESR_SCAN_SHORT:
        return kd_cesr_fail_(ctx, KD_EBADCESR, *pos, "path runs past its pathed material group");
    default:
        return kd_cesr_fail_(ctx, KD_EBADCESR, *pos, "pathed material does not start with a path");
    }
    if (kd_cesr_var_bext(&path, &bext, &blen) != KD_OK)
        return kd_cesr_fail_(ctx, KD_EBADCESR, *pos, "pathed material does not start with a path");
    g = kd_cesr_record(ctx, att, at, ctr, r->framed);
    g->path = ctx->base + *pos;
    g->path_len = len;
    g->items = g->path + len;
    g->items_len = gend - *pos - len;
    g->len = gend - at;
    *pos = gend;
    return KD_CESR_PR_OK;
}

/* One count group at *pos: the counter, the limits, then what it counts. */
static enum kd_cesr_pr kd_cesr_take_group(struct kd_cesr_pctx *ctx, const struct kd_cesr_region *r,
                                          size_t *pos, struct kd_cesr_attachments *att)
{
    struct kd_cesr_counter ctr;
    struct kd_cesr_group *g;
    const char *why = NULL;
    size_t len = 0;
    const size_t at = *pos;
    enum kd_cesr_scan s;
    enum kd_cesr_pr pr;

    s = kd_cesr_scan_counter_(ctx->base + at, r->end - at, &ctr, &len, &why);
    pr = kd_cesr_scanned(ctx, r, pos, s, len, why);
    if (pr != KD_CESR_PR_OK)
        return pr;
    if (att->ngroups >= ctx->lim->max_groups)
        return kd_cesr_fail_(ctx, KD_ETOOLARGE, at, "too many attachment groups");
    switch (ctr.code) {
    case KD_CESR_CTR_ATTACHMENT_GROUP:
    case KD_CESR_CTR_BIG_ATTACHMENT_GROUP:
        return kd_cesr_take_frame(ctx, r, at, pos, &ctr, att);
    case KD_CESR_CTR_PATHED_MATERIAL_GROUP:
    case KD_CESR_CTR_BIG_PATHED_MATERIAL_GROUP:
        return kd_cesr_take_pathed(ctx, r, at, pos, &ctr, att);
    case KD_CESR_CTR_SAD_PATH_SIG_GROUPS:
    case KD_CESR_CTR_ROOT_SAD_PATH_SIG_GROUPS:
        return kd_cesr_fail_(ctx, KD_EBADCESR, at,
                             "SAD path signature groups (-J, -K) are not supported");
    case KD_CESR_CTR_KERI_ACDC_GENUS_VERSION:
        return kd_cesr_fail_(ctx, KD_EBADCESR, at,
                             "genus-version codes are not supported in attachments");
    default:
        break;
    }
    pr = kd_cesr_check_count(ctx, r, at, *pos, ctr.count, kd_cesr_min_item[ctr.code]);
    for (uint32_t i = 0; pr == KD_CESR_PR_OK && i < ctr.count; i++)
        pr = kd_cesr_take_item(ctx, r, pos, ctr.code);
    if (pr != KD_CESR_PR_OK)
        return pr;
    g = kd_cesr_record(ctx, att, at, &ctr, r->framed);
    g->items = ctx->base + at + len;
    g->items_len = *pos - at - len;
    g->len = *pos - at;
    return KD_CESR_PR_OK;
}

/* The groups after a body (or a whole standalone attachment text); a -V
 * frame, when present, must be the first and the last group. */
enum kd_cesr_pr kd_cesr_parse_attachments_(struct kd_cesr_pctx *ctx, size_t start, bool standalone,
                                           struct kd_cesr_attachments *att, size_t *end)
{
    const size_t cap = start + ctx->lim->max_attach;
    struct kd_cesr_region top = {
        .end = ctx->avail < cap ? ctx->avail : cap,
        .cap = cap,
        .cap_code = KD_ETOOLARGE,
        .cap_why = "attachments larger than the limit",
        .framed = false,
    };
    bool framed_done = false;
    size_t pos = start;
    enum kd_cesr_pr pr;

    att->text = NULL;
    att->len = 0;
    att->offset = ctx->abs + start;
    att->ngroups = 0;
    memset(att->items, 0, sizeof att->items);
    while (pos < ctx->avail) {
        const unsigned tritet = (unsigned char)ctx->base[pos] >> 5;

        if (tritet >= 3 && tritet <= 6 && !standalone)
            break; /* the next message */
        if (tritet == 0)
            return kd_cesr_fail_(ctx, KD_EBADCESR, pos, "annotated CESR is not supported");
        if (tritet == 7)
            return kd_cesr_fail_(ctx, KD_EBADCESR, pos, "binary CESR (qb2) is not supported");
        if (framed_done)
            return kd_cesr_fail_(ctx, KD_EBADCESR, pos, "attachment group after a -V frame");
        pr = kd_cesr_take_group(ctx, &top, &pos, att);
        if (pr != KD_CESR_PR_OK)
            return pr;
        framed_done = att->groups[0].code == KD_CESR_CTR_ATTACHMENT_GROUP ||
                      att->groups[0].code == KD_CESR_CTR_BIG_ATTACHMENT_GROUP;
    }
    if (pos >= ctx->avail && !ctx->final) {
        ctx->need = pos + 1;
        return KD_CESR_PR_MORE;
    }
    if (pos > start) {
        att->text = ctx->base + start;
        att->len = pos - start;
    }
    *end = pos;
    return KD_CESR_PR_OK;
}

/* Attachment-only text, strictly all groups; see cesr_stream.h. */
enum kd_err kd_cesr_attach_parse(const char *text, size_t len, size_t offset,
                                 const struct kd_cesr_limits *lim, struct kd_cesr_attachments *att,
                                 struct kd_cesr_error *err)
{
    struct kd_cesr_limits l;
    struct kd_cesr_error e = {KD_OK, 0, NULL};
    struct kd_cesr_pctx ctx;
    size_t end = 0;

    if (att == NULL || (text == NULL && len > 0))
        return KD_EINVAL;
    kd_cesr_limits_normalise_(lim, &l);
    ctx = (struct kd_cesr_pctx){
        .base = text, .abs = offset, .avail = len, .final = true, .lim = &l, .err = &e};
    if (kd_cesr_parse_attachments_(&ctx, 0, true, att, &end) != KD_CESR_PR_OK) {
        if (e.code == KD_OK)
            kd_cesr_fail_(&ctx, KD_EINTERNAL, len, "attachment parser did not finish");
        if (err)
            *err = e;
        return e.code;
    }
    return KD_OK;
}

/* ---- iterators ---- */

/* Positions it before the first item of code in att. */
void kd_cesr_iter_init(struct kd_cesr_iter *it, const struct kd_cesr_attachments *att,
                       enum kd_cesr_ctr code)
{
    memset(it, 0, sizeof *it);
    it->att = att;
    it->code = code;
}

/* Moves to the next item of it's code; KD_ENOTFOUND after the last. */
static enum kd_err kd_cesr_iter_step(struct kd_cesr_iter *it)
{
    while (it->left == 0) {
        const struct kd_cesr_group *g;

        if (it->att == NULL || it->next_group >= it->att->ngroups)
            return KD_ENOTFOUND;
        g = &it->att->groups[it->next_group++];
        if (g->code != it->code)
            continue;
        it->p = g->items;
        it->end = g->items + g->items_len;
        it->left = g->count;
    }
    it->left--;
    return KD_OK;
}

/* Decodes a fixed primitive at it->p and advances. */
static enum kd_err kd_cesr_iter_prim(struct kd_cesr_iter *it, struct kd_cesr_prim *out)
{
    size_t used = 0;
    enum kd_err err = kd_cesr_qb64_decode(it->p, (size_t)(it->end - it->p), out, &used, NULL);

    if (err == KD_OK)
        it->p += used;
    return err;
}

/* Decodes a `0A` sequence number at it->p and advances. */
static enum kd_err kd_cesr_iter_sn(struct kd_cesr_iter *it, kd_sn_t *sn)
{
    struct kd_cesr_prim p;
    enum kd_err err = kd_cesr_iter_prim(it, &p);

    if (err == KD_OK)
        err = kd_cesr_sn_from_prim(&p, sn) == KD_OK ? KD_OK : KD_EBADCESR;
    return err;
}

/* Decodes an indexed signature at it->p and advances. */
static enum kd_err kd_cesr_iter_siger(struct kd_cesr_iter *it, struct kd_cesr_siger *out)
{
    size_t used = 0;
    enum kd_err err = kd_cesr_siger_decode(it->p, (size_t)(it->end - it->p), out, &used, NULL);

    if (err == KD_OK)
        it->p += used;
    return err;
}

/* Next indexed signature of -A / -B groups or of a nested list. */
enum kd_err kd_cesr_next_siger(struct kd_cesr_iter *it, struct kd_cesr_siger *out)
{
    enum kd_err err;

    if (it == NULL || out == NULL ||
        (it->code != KD_CESR_CTR_CONTROLLER_IDX_SIGS && it->code != KD_CESR_CTR_WITNESS_IDX_SIGS))
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    return kd_cesr_iter_siger(it, out);
}

/* Next -C couple: prefix, then signature. */
enum kd_err kd_cesr_next_couple(struct kd_cesr_iter *it, struct kd_cesr_couple *out)
{
    const char *start;
    enum kd_err err;

    if (it == NULL || out == NULL || it->code != KD_CESR_CTR_NON_TRANS_RECEIPT_COUPLES)
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    start = it->p;
    err = kd_cesr_iter_prim(it, &out->prefix);
    if (err == KD_OK)
        err = kd_cesr_iter_prim(it, &out->sig);
    out->qb64 = start;
    out->qb64_len = (size_t)(it->p - start);
    return err;
}

/* Next -D quadruple: prefix, sn, SAID, indexed signature. */
enum kd_err kd_cesr_next_quadruple(struct kd_cesr_iter *it, struct kd_cesr_quadruple *out)
{
    const char *start;
    enum kd_err err;

    if (it == NULL || out == NULL || it->code != KD_CESR_CTR_TRANS_RECEIPT_QUADRUPLES)
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    start = it->p;
    err = kd_cesr_iter_prim(it, &out->prefix);
    if (err == KD_OK)
        err = kd_cesr_iter_sn(it, &out->sn);
    if (err == KD_OK)
        err = kd_cesr_iter_prim(it, &out->said);
    if (err == KD_OK)
        err = kd_cesr_iter_siger(it, &out->siger);
    out->qb64 = start;
    out->qb64_len = (size_t)(it->p - start);
    return err;
}

/* Next -E couple: first-seen ordinal, then date-time. */
enum kd_err kd_cesr_next_first_seen(struct kd_cesr_iter *it, struct kd_cesr_first_seen *out)
{
    const char *start;
    enum kd_err err;

    if (it == NULL || out == NULL || it->code != KD_CESR_CTR_FIRST_SEEN_REPLAY_COUPLES)
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    start = it->p;
    err = kd_cesr_iter_sn(it, &out->fn);
    out->dt_qb64 = it->p;
    if (err == KD_OK)
        err = kd_cesr_iter_prim(it, &out->datetime);
    out->qb64 = start;
    out->qb64_len = (size_t)(it->p - start);
    return err;
}

/* Next -G couple (sn, SAID) or -I triple (prefix, sn, SAID). */
enum kd_err kd_cesr_next_seal_src(struct kd_cesr_iter *it, struct kd_cesr_seal_src *out)
{
    const char *start;
    enum kd_err err = KD_OK;

    if (it == NULL || out == NULL ||
        (it->code != KD_CESR_CTR_SEAL_SOURCE_COUPLES &&
         it->code != KD_CESR_CTR_SEAL_SOURCE_TRIPLES))
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    start = it->p;
    out->prefix.code = KD_CESR_CODE_COUNT_;
    out->prefix.raw_len = 0;
    if (it->code == KD_CESR_CTR_SEAL_SOURCE_TRIPLES)
        err = kd_cesr_iter_prim(it, &out->prefix);
    if (err == KD_OK)
        err = kd_cesr_iter_sn(it, &out->sn);
    if (err == KD_OK)
        err = kd_cesr_iter_prim(it, &out->said);
    out->qb64 = start;
    out->qb64_len = (size_t)(it->p - start);
    return err;
}

/* Next -F group (prefix, sn, SAID, -A sigs) or -H group (prefix, -A sigs);
 * the signatures are skipped here and read through out->sigs. */
enum kd_err kd_cesr_next_trans_group(struct kd_cesr_iter *it, struct kd_cesr_trans_group *out)
{
    struct kd_cesr_counter ctr;
    const char *start;
    const char *sigs;
    size_t used = 0;
    enum kd_err err = KD_OK;

    if (it == NULL || out == NULL ||
        (it->code != KD_CESR_CTR_TRANS_IDX_SIG_GROUPS &&
         it->code != KD_CESR_CTR_TRANS_LAST_IDX_SIG_GROUPS))
        return KD_EINVAL;
    err = kd_cesr_iter_step(it);
    if (err != KD_OK)
        return err;
    start = it->p;
    out->sn = 0;
    out->said.code = KD_CESR_CODE_COUNT_;
    out->said.raw_len = 0;
    err = kd_cesr_iter_prim(it, &out->prefix);
    if (err == KD_OK && it->code == KD_CESR_CTR_TRANS_IDX_SIG_GROUPS) {
        err = kd_cesr_iter_sn(it, &out->sn);
        if (err == KD_OK)
            err = kd_cesr_iter_prim(it, &out->said);
    }
    if (err == KD_OK)
        err = kd_cesr_counter_decode(it->p, (size_t)(it->end - it->p), &ctr, &used, NULL);
    if (err == KD_OK && ctr.code != KD_CESR_CTR_CONTROLLER_IDX_SIGS)
        err = KD_EBADCESR;
    if (err != KD_OK)
        return err;
    it->p += used;
    sigs = it->p;
    /* Skip the signatures; the nested iterator reads them. */
    for (uint32_t i = 0; i < ctr.count; i++) {
        enum kd_cesr_idx_code c;
        const char *why;
        size_t len = 0;

        if (kd_cesr_scan_siger_(it->p, (size_t)(it->end - it->p), &c, &len, &why) !=
            KD_CESR_SCAN_OK)
            return KD_EBADCESR;
        it->p += len;
    }
    out->nsigs = ctr.count;
    kd_cesr_iter_init(&out->sigs, NULL, KD_CESR_CTR_CONTROLLER_IDX_SIGS);
    out->sigs.p = sigs;
    out->sigs.end = it->p;
    out->sigs.left = ctr.count;
    out->qb64 = start;
    out->qb64_len = (size_t)(it->p - start);
    return KD_OK;
}
