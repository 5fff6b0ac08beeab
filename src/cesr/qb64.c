/*
 * Fixed-size primitives in the text domain (keri-core §1.2).
 */
#include <string.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

/* Encodes code || base64url(ps zeros || raw)[ps:]. */
enum kd_err kd_cesr_qb64_encode(enum kd_cesr_code code, const void *raw, size_t raw_len, char *out,
                                size_t cap, size_t *out_len)
{
    const struct kd_cesr_code_info *ci = kd_cesr_code_info(code);
    unsigned char padded[KD_CESR_RAW_MAX + 2] = {0};
    char text[KD_CESR_QB64_MAX + 4];
    size_t ps;
    size_t tlen;
    enum kd_err err;

    if (ci == NULL || raw_len != ci->raw || (raw_len > 0 && raw == NULL) || out == NULL ||
        cap <= ci->fs)
        return KD_EINVAL;
    ps = ci->hs % 4;
    if (raw_len > 0)
        memcpy(padded + ps, raw, raw_len);
    err = kd_cesr_b64_encode(padded, ps + raw_len, text, sizeof text, &tlen);
    if (err != KD_OK)
        goto out;
    /* tlen - ps + hs == fs by the table's static checks. */
    memcpy(out, ci->code, ci->hs);
    memcpy(out + ci->hs, text + ps, tlen - ps);
    out[ci->fs] = '\0';
    if (out_len)
        *out_len = ci->fs;
out:
    /* padded and text may hold a seed. */
    explicit_bzero(padded, sizeof padded);
    explicit_bzero(text, sizeof text);
    return err;
}

/* Shared strict/lax decoder; strict refuses non-zero pad bits. */
static enum kd_err kd_cesr_qb64_decode_(const char *text, size_t n, struct kd_cesr_prim *out,
                                        size_t *consumed, const char **why, int strict)
{
    const struct kd_cesr_code_info *ci;
    enum kd_cesr_code code;
    char quads[KD_CESR_QB64_MAX + 4];
    unsigned char bytes[KD_CESR_RAW_MAX + 2];
    size_t ps;
    size_t qlen;
    size_t blen = 0;
    enum kd_err err;

    if (out == NULL) {
        kd_cesr_why(why, "no output");
        return KD_EINVAL;
    }
    err = kd_cesr_code_lookup(text, n, &code, why);
    if (err != KD_OK)
        return err;
    ci = kd_cesr_code_info(code);
    if (n < ci->fs) {
        kd_cesr_why(why, "truncated primitive");
        return KD_EBADCESR;
    }
    if (consumed == NULL && n != ci->fs) {
        kd_cesr_why(why, "trailing characters after the primitive");
        return KD_EBADCESR;
    }
    /* Replace the code by ps 'A' (zero) sextets: a whole number of quadlets. */
    ps = ci->hs % 4;
    qlen = ps + (size_t)(ci->fs - ci->hs);
    memset(quads, 'A', ps);
    memcpy(quads + ps, text + ci->hs, (size_t)(ci->fs - ci->hs));
    err = kd_cesr_b64_decode(quads, qlen, bytes, sizeof bytes, &blen, why);
    if (err != KD_OK)
        goto out;
    if (strict) {
        for (size_t i = 0; i < ps; i++) {
            if (bytes[i] != 0) {
                kd_cesr_why(why, "non-zero pad bits (non-canonical qb64)");
                err = KD_EBADCESR;
                goto out;
            }
        }
    }
    out->code = code;
    out->raw_len = blen - ps;
    memcpy(out->raw, bytes + ps, blen - ps);
    if (consumed)
        *consumed = ci->fs;
out:
    /* bytes and quads may hold a seed. */
    explicit_bzero(bytes, sizeof bytes);
    explicit_bzero(quads, sizeof quads);
    return err;
}

/* Strict decode; see cesr.h. */
enum kd_err kd_cesr_qb64_decode(const char *text, size_t n, struct kd_cesr_prim *out,
                                size_t *consumed, const char **why)
{
    return kd_cesr_qb64_decode_(text, n, out, consumed, why, 1);
}

/* Pad-bit-lenient decode for keriox seeds; see cesr.h. */
enum kd_err kd_cesr_qb64_decode_lax(const char *text, size_t n, struct kd_cesr_prim *out,
                                    size_t *consumed, const char **why)
{
    return kd_cesr_qb64_decode_(text, n, out, consumed, why, 0);
}
