/*
 * Message framing (cold start, version strings, body sizes) and the
 * incremental and one-shot splitters built on it.
 */
#include <string.h>

#include "kerid/cesr_stream.h"
#include "cesr_int.h"
#include "stream_int.h"

#define KD_CESR_MAX_VS_OFFSET 12 /* keripy 1.2.13 MAXVSOFFSET */
#define KD_CESR_VS1_LEN       17

static bool kd_cesr_upper4(const char *p)
{
    for (int i = 0; i < 4; i++) {
        if (p[i] < 'A' || p[i] > 'Z')
            return false;
    }
    return true;
}

static bool kd_cesr_hexl(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool kd_cesr_b64n(const char *p, size_t n)
{
    return kd_cesr_b64_span_(p, n) == n;
}

/*
 * Length of the version string form that matches at p (n bytes there), or
 * 0. The three forms of keri-core §2.1 cannot match at the same place:
 *   19: PPPP Mmm Ggg KKKK ssss '.'   (CESR v2, keripy main)
 *   16: PPPP Mmm KKKK ssss '.'       (CESR v2, keripy 1.2.13)
 *   17: PPPP M m KKKK ssssss '_'     (v1, hex)
 */
static unsigned kd_cesr_vs_match(const char *p, size_t n)
{
    if (n >= 19 && kd_cesr_upper4(p) && kd_cesr_b64n(p + 4, 6) && kd_cesr_upper4(p + 10) &&
        kd_cesr_b64n(p + 14, 4) && p[18] == '.')
        return 19;
    if (n >= 16 && kd_cesr_upper4(p) && kd_cesr_b64n(p + 4, 3) && kd_cesr_upper4(p + 7) &&
        kd_cesr_b64n(p + 11, 4) && p[15] == '.')
        return 16;
    if (n >= KD_CESR_VS1_LEN && kd_cesr_upper4(p) && kd_cesr_hexl(p[4]) && kd_cesr_hexl(p[5]) &&
        kd_cesr_upper4(p + 6) && p[16] == '_') {
        for (int i = 10; i < 16; i++) {
            if (!kd_cesr_hexl(p[i]))
                return 0;
        }
        return KD_CESR_VS1_LEN;
    }
    return 0;
}

static size_t kd_cesr_hex6(const char *p)
{
    size_t v = 0;

    for (int i = 0; i < 6; i++)
        v = v << 4 | (size_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    return v;
}

/* Does the first byte c start a map of kind k? */
static bool kd_cesr_kind_starts(enum kd_cesr_kind k, unsigned char c)
{
    switch (k) {
    case KD_CESR_KIND_JSON:
        return c == '{';
    case KD_CESR_KIND_CBOR:
        return c >> 5 == 5; /* major type 5: map */
    default:
        return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf; /* fixmap, map16, map32 */
    }
}

/*
 * One message at base offset start (start < avail): cold start, version
 * string, body, attachments. *end receives the offset after it.
 */
static enum kd_cesr_pr kd_cesr_parse_msg(struct kd_cesr_pctx *ctx, size_t start,
                                         struct kd_cesr_msg *msg, size_t *end)
{
    const char *m = ctx->base + start;
    const unsigned char c = (unsigned char)m[0];
    const size_t have = ctx->avail - start;
    size_t vs = 0;
    unsigned form = 0;
    size_t size;
    enum kd_cesr_kind kind;
    enum kd_cesr_proto proto;

    switch (c >> 5) {
    case 0:
        return kd_cesr_fail_(ctx, KD_EBADCESR, start, "annotated CESR is not supported");
    case 1:
    case 2:
        return kd_cesr_fail_(ctx, KD_EBADCESR, start,
                             c == '-' ? "count code where a message was expected"
                                      : "expected a message");
    case 7:
        return kd_cesr_fail_(ctx, KD_EBADCESR, start, "binary CESR (qb2) is not supported");
    default:
        break;
    }
    /* keripy smell(): the version string starts within the first 12 bytes. */
    if (have < KD_CESR_SMELL_SIZE && !ctx->final) {
        ctx->need = start + KD_CESR_SMELL_SIZE;
        return KD_CESR_PR_MORE;
    }
    for (vs = 0; vs <= KD_CESR_MAX_VS_OFFSET && vs < have; vs++) {
        form = kd_cesr_vs_match(m + vs, have - vs);
        if (form != 0)
            break;
    }
    if (form == 0)
        return kd_cesr_fail_(ctx, KD_EBADCESR, start, "no version string in the first 12 bytes");
    if (form != KD_CESR_VS1_LEN)
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + vs, "CESR v2 is not supported");
    if (memcmp(m + vs, "KERI", 4) == 0)
        proto = KD_CESR_PROTO_KERI;
    else if (memcmp(m + vs, "ACDC", 4) == 0)
        proto = KD_CESR_PROTO_ACDC;
    else
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + vs, "unknown protocol (not KERI or ACDC)");
    if (m[vs + 4] != '1' || m[vs + 5] != '0')
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + vs, "unsupported protocol version");
    if (memcmp(m + vs + 6, "JSON", 4) == 0)
        kind = KD_CESR_KIND_JSON;
    else if (memcmp(m + vs + 6, "CBOR", 4) == 0)
        kind = KD_CESR_KIND_CBOR;
    else if (memcmp(m + vs + 6, "MGPK", 4) == 0)
        kind = KD_CESR_KIND_MGPK;
    else
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + vs, "unknown serialization kind");
    if (!kd_cesr_kind_starts(kind, c))
        return kd_cesr_fail_(ctx, KD_EBADCESR, start,
                             "first byte does not start a map of the version string's kind");
    size = kd_cesr_hex6(m + vs + 10);
    if (size > ctx->lim->max_body)
        return kd_cesr_fail_(ctx, KD_ETOOLARGE, start + vs, "message body larger than the limit");
    if (size < vs + KD_CESR_VS1_LEN)
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + vs,
                             "version string size ends before the version string");
    if (have < size) {
        if (ctx->final)
            return kd_cesr_fail_(ctx, KD_EBADCESR, start, "truncated message body");
        ctx->need = start + size;
        return KD_CESR_PR_MORE;
    }
    if (kind == KD_CESR_KIND_JSON && m[size - 1] != '}')
        return kd_cesr_fail_(ctx, KD_EBADCESR, start + size - 1,
                             "JSON body does not end where its version string says");
    msg->offset = ctx->abs + start;
    msg->body = (const unsigned char *)m;
    msg->body_len = size;
    msg->proto = proto;
    msg->kind = kind;
    msg->vs_offset = vs;
    return kd_cesr_parse_attachments_(ctx, start + size, false, &msg->att, end);
}

/* ---- one-shot ---- */

/* Zero-copy split of a whole buffer; see cesr_stream.h. */
enum kd_err kd_cesr_split_all(const void *buf, size_t len, const struct kd_cesr_limits *lim,
                              kd_cesr_msg_cb cb, void *cb_ctx, struct kd_cesr_error *err)
{
    struct kd_cesr_limits l;
    struct kd_cesr_error e = {KD_OK, 0, NULL};
    struct kd_cesr_pctx ctx;
    struct kd_cesr_msg msg;
    size_t pos = 0;

    if ((buf == NULL && len > 0) || cb == NULL)
        return KD_EINVAL;
    kd_cesr_limits_normalise_(lim, &l);
    ctx = (struct kd_cesr_pctx){
        .base = buf, .abs = 0, .avail = len, .final = true, .lim = &l, .err = &e};
    while (pos < len) {
        size_t end = pos;
        enum kd_err rc;

        if (kd_cesr_parse_msg(&ctx, pos, &msg, &end) != KD_CESR_PR_OK) {
            if (e.code == KD_OK) /* final input never waits: a broken invariant */
                kd_cesr_fail_(&ctx, KD_EINTERNAL, pos, "splitter asked for more final input");
            if (err)
                *err = e;
            return e.code;
        }
        pos = end;
        rc = cb(cb_ctx, &msg);
        if (rc != KD_OK)
            return rc;
    }
    return KD_OK;
}

/* ---- incremental ---- */

/* Empty stream with normalised limits; see cesr_stream.h. */
void kd_cesr_stream_init(struct kd_cesr_stream *st, const struct kd_cesr_limits *lim)
{
    memset(st, 0, sizeof *st);
    kd_cesr_limits_normalise_(lim, &st->lim);
    /* rd is compacted away before the held prefix exceeds what is unconsumed. */
    kd_buf_init(&st->buf, st->lim.max_buffer <= SIZE_MAX / 4 ? 2 * st->lim.max_buffer : 0);
}

/* Releases the buffer; see cesr_stream.h. */
void kd_cesr_stream_free(struct kd_cesr_stream *st)
{
    kd_buf_free(&st->buf);
    st->rd = 0;
    st->yielded = 0;
}

/* Forgets the message handed out last. */
static void kd_cesr_stream_drop(struct kd_cesr_stream *st)
{
    st->rd += st->yielded;
    st->yielded = 0;
    if (st->rd == st->buf.len) {
        st->base += st->rd;
        st->rd = 0;
        st->buf.len = 0;
    }
}

/*
 * Copies n bytes in. The consumed prefix is compacted away only when it is
 * at least as large as what remains or the buffer would have to grow, so a
 * stream fed in small pieces moves each byte O(1) times.
 */
enum kd_err kd_cesr_stream_feed(struct kd_cesr_stream *st, const void *bytes, size_t n)
{
    size_t held;

    if (st->failed)
        return KD_EBADCESR;
    if (st->finished || (bytes == NULL && n > 0))
        return KD_EINVAL;
    if (n == 0)
        return KD_OK;
    kd_cesr_stream_drop(st);
    held = st->buf.len - st->rd;
    if (n > st->lim.max_buffer - held)
        return KD_ETOOLARGE;
    if (st->rd > 0 && (st->rd >= held || st->buf.len + n > st->buf.cap)) {
        memmove(st->buf.data, st->buf.data + st->rd, held);
        st->base += st->rd;
        st->buf.len = held;
        st->rd = 0;
    }
    return kd_buf_append(&st->buf, bytes, n);
}

/* End of input; see cesr_stream.h. */
void kd_cesr_stream_finish(struct kd_cesr_stream *st)
{
    st->finished = true;
    st->need = 0;
}

/*
 * Parses the next message from what is held. A parse that must wait leaves a
 * lower bound of the bytes it needs, so feeding a message byte by byte
 * re-parses it only when it can get further, not at every byte.
 */
enum kd_cesr_step kd_cesr_stream_next(struct kd_cesr_stream *st, struct kd_cesr_msg *msg)
{
    struct kd_cesr_pctx ctx;
    size_t held;
    size_t end = 0;

    if (st->failed)
        return KD_CESR_STEP_ERROR;
    kd_cesr_stream_drop(st);
    held = st->buf.len - st->rd;
    if (held == 0)
        return st->finished ? KD_CESR_STEP_END : KD_CESR_STEP_MORE;
    if (!st->finished && held < st->need)
        return KD_CESR_STEP_MORE;
    ctx = (struct kd_cesr_pctx){
        .base = (const char *)st->buf.data + st->rd,
        .abs = st->base + st->rd,
        .avail = held,
        .final = st->finished,
        .lim = &st->lim,
        .err = &st->err,
    };
    switch (kd_cesr_parse_msg(&ctx, 0, msg, &end)) {
    case KD_CESR_PR_OK:
        st->yielded = end;
        st->need = 0;
        return KD_CESR_STEP_MSG;
    case KD_CESR_PR_MORE:
        if (!st->finished) {
            st->need = ctx.need > held ? ctx.need : held + 1;
            return KD_CESR_STEP_MORE;
        }
        kd_cesr_fail_(&ctx, KD_EINTERNAL, held, "splitter asked for more final input");
        break;
    default:
        break;
    }
    st->failed = true;
    return KD_CESR_STEP_ERROR;
}

/* The poisoning error, or NULL. */
const struct kd_cesr_error *kd_cesr_stream_error(const struct kd_cesr_stream *st)
{
    return st->failed ? &st->err : NULL;
}
