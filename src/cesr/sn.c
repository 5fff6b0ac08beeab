/*
 * Sequence numbers and first-seen ordinals: `0A` primitives (16 raw bytes,
 * big-endian) and their lowercase hex form.
 */
#include "kerid/cesr.h"
#include "cesr_int.h"

/* 16 big-endian bytes of a SALT_128 primitive → kd_sn_t. */
enum kd_err kd_cesr_sn_from_prim(const struct kd_cesr_prim *p, kd_sn_t *sn)
{
    kd_sn_t v = 0;

    if (p == NULL || sn == NULL || p->code != KD_CESR_SALT_128 || p->raw_len != 16)
        return KD_EINVAL;
    for (size_t i = 0; i < 16; i++)
        v = v << 8 | p->raw[i];
    *sn = v;
    return KD_OK;
}

/* `0A` qb64 of sn. */
enum kd_err kd_cesr_sn_encode(kd_sn_t sn, char *out, size_t cap)
{
    unsigned char raw[16];

    if (out == NULL || cap <= KD_CESR_SN_QB64_LEN)
        return KD_EINVAL;
    for (size_t i = 16; i > 0; i--) {
        raw[i - 1] = (unsigned char)sn;
        sn >>= 8;
    }
    return kd_cesr_qb64_encode(KD_CESR_SALT_128, raw, sizeof raw, out, cap, NULL);
}

/* Lowercase hex without leading zeros. */
size_t kd_cesr_sn_hex(kd_sn_t sn, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[KD_CESR_SN_HEX_MAX];
    size_t n = 0;

    do {
        tmp[n++] = digits[(unsigned)(sn & 15)];
        sn >>= 4;
    } while (sn != 0);
    if (out == NULL || cap <= n)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}
