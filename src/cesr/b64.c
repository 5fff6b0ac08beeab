/*
 * base64url without padding (RFC 4648 §5), strict on decode.
 */
#include <stdint.h>
#include <string.h>

#include "kerid/cesr.h"
#include "cesr_int.h"

static const char kd_b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each byte in the alphabet, -1 for bytes outside it. */
/* clang-format off */
const int8_t kd_cesr_b64_values_[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

/* n big-endian base-64 digits of v. */
void kd_cesr_b64_digits_(uint32_t v, char *out, size_t n)
{
    while (n > 0) {
        out[--n] = kd_b64_alphabet[v & 63];
        v >>= 6;
    }
}

/* Inputs above this are refused so that 4 * ceil(n / 3) cannot overflow. */
#define KD_B64_MAX_IN (SIZE_MAX / 2)

/* Returns the alphabet value of c, or -1. */
int kd_cesr_b64_value(unsigned char c)
{
    return kd_cesr_b64_values_[c];
}

/* ceil(4n/3), saturating at SIZE_MAX for n > SIZE_MAX / 2. */
size_t kd_cesr_b64_encoded_len(size_t n)
{
    if (n > KD_B64_MAX_IN)
        return SIZE_MAX;
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/* Encodes n bytes; needs cap > encoded length; NUL-terminates. */
enum kd_err kd_cesr_b64_encode(const void *in, size_t n, char *out, size_t cap, size_t *out_len)
{
    const unsigned char *p = in;
    size_t len;
    size_t i = 0;
    size_t o = 0;

    if (n > KD_B64_MAX_IN)
        return KD_ETOOLARGE;
    len = kd_cesr_b64_encoded_len(n);
    if (out == NULL || cap <= len || (n > 0 && in == NULL))
        return KD_EINVAL;
    for (; n - i >= 3; i += 3) {
        const uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = kd_b64_alphabet[v >> 18 & 63];
        out[o++] = kd_b64_alphabet[v >> 12 & 63];
        out[o++] = kd_b64_alphabet[v >> 6 & 63];
        out[o++] = kd_b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        const uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = kd_b64_alphabet[v >> 18 & 63];
        out[o++] = kd_b64_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        const uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = kd_b64_alphabet[v >> 18 & 63];
        out[o++] = kd_b64_alphabet[v >> 12 & 63];
        out[o++] = kd_b64_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return KD_OK;
}

/* Value of in[i], or -1 with *why set ('=' gets its own reason). */
static int kd_b64_char(const char *in, size_t i, const char **why)
{
    const int v = kd_cesr_b64_values_[(unsigned char)in[i]];

    if (v < 0)
        kd_cesr_why(why,
                    in[i] == '=' ? "'=' padding is not allowed" : "invalid base64url character");
    return v;
}

/* Strict unpadded decode; see cesr.h. */
enum kd_err kd_cesr_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                               size_t *out_len, const char **why)
{
    const size_t rem = n % 4;
    const size_t need = n / 4 * 3 + (rem == 0 ? 0 : rem - 1);
    size_t i = 0;
    size_t o = 0;

    if (rem == 1) {
        kd_cesr_why(why, "impossible base64url length");
        return KD_EBADCESR;
    }
    if ((n > 0 && in == NULL) || (need > 0 && out == NULL)) {
        kd_cesr_why(why, "no buffer");
        return KD_EINVAL;
    }
    if (cap < need) {
        kd_cesr_why(why, "output buffer too small");
        return KD_EINVAL;
    }
    /* Validate everything before writing, so a refused input leaves out as it was. */
    for (size_t k = 0; k < n; k++) {
        if (kd_b64_char(in, k, why) < 0)
            return KD_EBADCESR;
    }
    if (rem != 0) {
        const int last = kd_cesr_b64_values_[(unsigned char)in[n - 1]];
        const int unused = rem == 2 ? 0x0f : 0x03;

        if ((last & unused) != 0) {
            kd_cesr_why(why, "non-zero trailing bits (non-canonical base64url)");
            return KD_EBADCESR;
        }
    }
    for (; n - i >= 4; i += 4) {
        const uint32_t v = (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i]] << 18 |
                           (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i + 1]] << 12 |
                           (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i + 2]] << 6 |
                           (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i + 3]];
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (rem >= 2) {
        uint32_t v = (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i]] << 18 |
                     (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i + 1]] << 12;
        if (rem == 3)
            v |= (uint32_t)kd_cesr_b64_values_[(unsigned char)in[i + 2]] << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (rem == 3)
            out[o++] = (unsigned char)(v >> 8);
    }
    if (out_len)
        *out_len = o;
    return KD_OK;
}
