/*
 * cesr/ unit tests: base64url, the code table, qb64 encode/decode.
 *
 * Known answers come from outside kerid: RFC 4648 §10, signify-ts's Matter
 * (tests/unit/gen/cesr_vectors.mjs), keripy vectors (/work/shared/vectors/keripy,
 * spec/keri-core.md §7) and keripy's test_coring (DateTime, Salt, Short).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kerid/cesr.h"

static const char kd_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Parses lower-case hex into out; returns the byte count. */
static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    const size_t n = strlen(h) / 2;

    assert_int_equal(strlen(h) % 2, 0);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

/* ---- base64url ---- */

/* RFC 4648 §10 (these strings use no '+' or '/', so base64url equals base64). */
static const struct {
    const char *in;
    const char *out;
} rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_b64_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char enc[16];
        unsigned char dec[16];
        size_t len = 99;
        const size_t n = strlen(rfc4648[i].in);

        assert_int_equal(kd_cesr_b64_encoded_len(n), strlen(rfc4648[i].out));
        assert_int_equal(kd_cesr_b64_encode(rfc4648[i].in, n, enc, sizeof enc, &len), KD_OK);
        assert_string_equal(enc, rfc4648[i].out);
        assert_int_equal(len, strlen(rfc4648[i].out));
        assert_int_equal(kd_cesr_b64_decode(rfc4648[i].out, len, dec, sizeof dec, &len, NULL),
                         KD_OK);
        assert_int_equal(len, n);
        assert_memory_equal(dec, rfc4648[i].in, n);
    }
}

/* The URL-safe characters: 0xfb 0xff is "+/8=" in standard base64. */
static void test_b64_url_alphabet(void **state)
{
    const unsigned char in[] = {0xfb, 0xff};
    unsigned char dec[2];
    char enc[4];
    size_t len;

    (void)state;
    assert_int_equal(kd_cesr_b64_encode(in, 2, enc, sizeof enc, NULL), KD_OK);
    assert_string_equal(enc, "-_8");
    assert_int_equal(kd_cesr_b64_decode("-_8", 3, dec, sizeof dec, &len, NULL), KD_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(dec, in, 2);
    for (unsigned c = 0; c < 256; c++) {
        const char *p = c ? strchr(kd_alphabet, (int)c) : NULL;
        assert_int_equal(kd_cesr_b64_value((unsigned char)c), p ? (int)(p - kd_alphabet) : -1);
    }
}

/* Every length 0..200 of every byte value round-trips. */
static void test_b64_round_trip(void **state)
{
    unsigned char in[200];
    unsigned char dec[200];
    char enc[272];

    (void)state;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t elen;
        size_t dlen;
        assert_int_equal(kd_cesr_b64_encode(in, n, enc, sizeof enc, &elen), KD_OK);
        assert_int_equal(elen, (n * 4 + 2) / 3);
        assert_int_equal(strlen(enc), elen);
        assert_int_equal(kd_cesr_b64_decode(enc, elen, dec, n, &dlen, NULL), KD_OK);
        assert_int_equal(dlen, n);
        assert_memory_equal(dec, in, n);
    }
}

static void expect_b64_reject(const char *in, size_t n, const char *reason)
{
    unsigned char out[64];
    const char *why = NULL;

    memset(out, 0xa5, sizeof out);
    assert_int_equal(kd_cesr_b64_decode(in, n, out, sizeof out, NULL, &why), KD_EBADCESR);
    assert_non_null(why);
    assert_string_equal(why, reason);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xa5); /* nothing written */
}

static void test_b64_rejects(void **state)
{
    (void)state;
    expect_b64_reject("Zg==", 4, "'=' padding is not allowed");
    expect_b64_reject("Zm8=", 4, "'=' padding is not allowed");
    expect_b64_reject("Zm9v+A", 6, "invalid base64url character");
    expect_b64_reject("Zm9v/A", 6, "invalid base64url character");
    expect_b64_reject("Zm 9", 4, "invalid base64url character");
    expect_b64_reject("Zm9v\nYg", 7, "invalid base64url character");
    expect_b64_reject("Zm\0v", 4, "invalid base64url character");
    expect_b64_reject("Zm\x80v", 4, "invalid base64url character");
    expect_b64_reject("Z", 1, "impossible base64url length");
    expect_b64_reject("Zm9vY", 5, "impossible base64url length");
    /* Non-canonical: unused low bits of the last character set. */
    expect_b64_reject("Zh", 2, "non-zero trailing bits (non-canonical base64url)");
    expect_b64_reject("Zm9", 3, "non-zero trailing bits (non-canonical base64url)");
    expect_b64_reject("Zm9vY_", 6, "non-zero trailing bits (non-canonical base64url)");
}

static void test_b64_buffer_errors(void **state)
{
    unsigned char out[4];
    char enc[5];
    const char *why = NULL;

    (void)state;
    /* Output too small: "Zm9vYg" decodes to 4 bytes, "foo" encodes to 4 chars + NUL. */
    assert_int_equal(kd_cesr_b64_decode("Zm9vYg", 6, out, 3, NULL, &why), KD_EINVAL);
    assert_string_equal(why, "output buffer too small");
    assert_int_equal(kd_cesr_b64_decode("Zm9vYg", 6, NULL, 0, NULL, &why), KD_EINVAL);
    assert_int_equal(kd_cesr_b64_decode(NULL, 4, out, 4, NULL, &why), KD_EINVAL);
    assert_int_equal(kd_cesr_b64_encode("foo", 3, enc, 4, NULL), KD_EINVAL);
    assert_int_equal(kd_cesr_b64_encode("foo", 3, NULL, 5, NULL), KD_EINVAL);
    assert_int_equal(kd_cesr_b64_encode(NULL, 3, enc, 5, NULL), KD_EINVAL);
    assert_int_equal(kd_cesr_b64_encode("foo", 3, enc, 5, NULL), KD_OK);
    /* Sizes that would overflow are refused before anything is touched. */
    assert_int_equal(kd_cesr_b64_encoded_len(SIZE_MAX), SIZE_MAX);
    assert_int_equal(kd_cesr_b64_encoded_len(SIZE_MAX / 2 + 1), SIZE_MAX);
    assert_int_equal(kd_cesr_b64_encode("foo", SIZE_MAX, enc, sizeof enc, NULL), KD_ETOOLARGE);
    /* Empty input is fine with no buffers at all. */
    assert_int_equal(kd_cesr_b64_decode(NULL, 0, NULL, 0, NULL, NULL), KD_OK);
}

/* ---- code table ---- */

/* Base-64 value of a code; independent of cesr/'s own key function. */
static unsigned long code_value(const char *code)
{
    unsigned long v = 0;

    for (const char *p = code; *p; p++)
        v = v * 64 + (unsigned long)(strchr(kd_alphabet, *p) - kd_alphabet);
    return v;
}

static void test_table_consistent(void **state)
{
    (void)state;
    for (int c = 0; c < KD_CESR_CODE_COUNT_; c++) {
        const struct kd_cesr_code_info *ci = kd_cesr_code_info((enum kd_cesr_code)c);
        const unsigned ps = (3 - ci->raw % 3) % 3;
        enum kd_cesr_code found;

        assert_non_null(ci);
        assert_int_equal(strlen(ci->code), ci->hs);
        /* keri-core §1.3: the first character selects the hard size. */
        assert_int_equal(kd_cesr_hard_size((unsigned char)ci->code[0]), ci->hs);
        /* keri-core §1.2: ps == cs % 4; fs = cs + 4 * (ps + raw) / 3 - ps. */
        assert_int_equal(ps, ci->hs % 4);
        assert_int_equal(ci->fs, ci->hs + (ps + ci->raw) * 4 / 3 - ps);
        assert_int_equal(ci->fs % 4, 0);
        assert_true(ci->raw <= KD_CESR_RAW_MAX);
        assert_true(ci->fs <= KD_CESR_QB64_MAX);
        /* Ascending (hard size, value): the order the binary search needs. */
        if (c > 0) {
            const struct kd_cesr_code_info *prev = kd_cesr_code_info((enum kd_cesr_code)(c - 1));
            assert_true(prev->hs < ci->hs ||
                        (prev->hs == ci->hs && code_value(prev->code) < code_value(ci->code)));
        }
        assert_int_equal(kd_cesr_code_lookup(ci->code, ci->hs, &found, NULL), KD_OK);
        assert_int_equal(found, c);
        for (int d = 0; d < c; d++)
            assert_string_not_equal(kd_cesr_code_info((enum kd_cesr_code)d)->name, ci->name);
    }
    assert_null(kd_cesr_code_info(KD_CESR_CODE_COUNT_));
    assert_null(kd_cesr_code_info((enum kd_cesr_code) - 1));
}

/* The codes the brief requires, with keri-core §1.4 sizes. */
static void test_table_required_codes(void **state)
{
    static const struct {
        const char *code;
        enum kd_cesr_code id;
        unsigned fs;
        unsigned raw;
    } want[] = {
        {"A", KD_CESR_ED25519_SEED, 44, 32},     {"B", KD_CESR_ED25519N, 44, 32},
        {"C", KD_CESR_X25519, 44, 32},           {"D", KD_CESR_ED25519, 44, 32},
        {"E", KD_CESR_BLAKE3_256, 44, 32},       {"F", KD_CESR_BLAKE2B_256, 44, 32},
        {"G", KD_CESR_BLAKE2S_256, 44, 32},      {"H", KD_CESR_SHA3_256, 44, 32},
        {"I", KD_CESR_SHA2_256, 44, 32},         {"M", KD_CESR_SHORT, 4, 2},
        {"0A", KD_CESR_SALT_128, 24, 16},        {"0B", KD_CESR_ED25519_SIG, 88, 64},
        {"0C", KD_CESR_ECDSA_256K1_SIG, 88, 64}, {"1AAA", KD_CESR_ECDSA_256K1N, 48, 33},
        {"1AAB", KD_CESR_ECDSA_256K1, 48, 33},   {"1AAG", KD_CESR_DATETIME, 36, 24},
    };

    (void)state;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct kd_cesr_code_info *ci = kd_cesr_code_info(want[i].id);
        assert_string_equal(ci->code, want[i].code);
        assert_int_equal(ci->fs, want[i].fs);
        assert_int_equal(ci->raw, want[i].raw);
    }
    assert_int_equal(KD_CESR_FS_ED25519N, 44);
    assert_int_equal(KD_CESR_RAW_ED25519_SIG, 64);
    assert_string_equal(kd_cesr_code_info(KD_CESR_BLAKE3_256)->name, "BLAKE3_256");
}

static void test_hard_size_selectors(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        unsigned want = 0;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            want = 1;
        else if (c == '0' || c == '4' || c == '5' || c == '6')
            want = 2;
        else if (c == '1' || c == '2' || c == '3' || c == '7' || c == '8' || c == '9')
            want = 4;
        assert_int_equal(kd_cesr_hard_size((unsigned char)c), want);
    }
}

static void expect_lookup_reject(const char *text, size_t n, const char *reason)
{
    enum kd_cesr_code c = KD_CESR_CODE_COUNT_;
    const char *why = NULL;

    assert_int_equal(kd_cesr_code_lookup(text, n, &c, &why), KD_EBADCESR);
    assert_string_equal(why, reason);
    assert_int_equal(c, KD_CESR_CODE_COUNT_);
}

static void test_lookup_rejects(void **state)
{
    (void)state;
    expect_lookup_reject("", 0, "empty");
    expect_lookup_reject(NULL, 4, "empty");
    expect_lookup_reject("-AAB", 4, "count or op code, not a primitive");
    expect_lookup_reject("_AAA", 4, "count or op code, not a primitive");
    expect_lookup_reject("=AAA", 4, "invalid base64url character");
    expect_lookup_reject("+AAA", 4, "invalid base64url character");
    expect_lookup_reject("0", 1, "truncated code");
    expect_lookup_reject("1AA", 3, "truncated code");
    expect_lookup_reject("0=", 2, "invalid base64url character");
    expect_lookup_reject("1A=A", 4, "invalid base64url character");
    expect_lookup_reject("K", 1, "unknown code");
    expect_lookup_reject("z", 1, "unknown code");
    expect_lookup_reject("0Z", 2, "unknown code");
    expect_lookup_reject("1AAZ", 4, "unknown code");
    expect_lookup_reject("1AAH", 4, "unknown code");
    expect_lookup_reject("4AAB", 4, "unknown code");
    expect_lookup_reject("9AAB", 4, "unknown code");
}

/* ---- qb64 ---- */

/* signify-ts 0.3.0 Matter(raw, code).qb64, from tests/unit/gen/cesr_vectors.mjs. */
static const struct {
    const char *code;
    const char *raw_hex;
    const char *qb64;
} kd_tv_qb64[] = {
    {"A", "0b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186",
     "AAswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGG"},
    {"A", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "AP__________________________________________"},
    {"B", "10355a7fa4c9ee13385d82a7ccf1163b6085aacff4193e6388add2f71c41668b",
     "BBA1Wn-kye4TOF2Cp8zxFjtgharP9Bk-Y4it0vccQWaL"},
    {"B", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "BP__________________________________________"},
    {"C", "153a5f84a9cef3183d6287acd1f61b40658aafd4f91e43688db2d7fc21466b90",
     "CBU6X4SpzvMYPWKHrNH2G0Bliq_U-R5DaI2y1_whRmuQ"},
    {"C", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "CP__________________________________________"},
    {"D", "1a3f6489aed3f81d42678cb1d6fb20456a8fb4d9fe23486d92b7dc01264b7095",
     "DBo_ZImu0_gdQmeMsdb7IEVqj7TZ_iNIbZK33AEmS3CV"},
    {"D", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "DP__________________________________________"},
    {"E", "1f44698eb3d8fd22476c91b6db00254a6f94b9de03284d7297bce1062b50759a",
     "EB9EaY6z2P0iR2yRttsAJUpvlLneAyhNcpe84QYrUHWa"},
    {"E", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "EP__________________________________________"},
    {"F", "24496e93b8dd02274c7196bbe0052a4f7499bee3082d52779cc1e60b30557a9f",
     "FCRJbpO43QInTHGWu-AFKk90mb7jCC1Sd5zB5gswVXqf"},
    {"F", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "FP__________________________________________"},
    {"G", "294e7398bde2072c51769bc0e50a2f54799ec3e80d32577ca1c6eb10355a7fa4",
     "GClOc5i94gcsUXabwOUKL1R5nsPoDTJXfKHG6xA1Wn-k"},
    {"G", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "GP__________________________________________"},
    {"H", "2e53789dc2e70c31567ba0c5ea0f34597ea3c8ed12375c81a6cbf0153a5f84a9",
     "HC5TeJ3C5wwxVnugxeoPNFl-o8jtEjdcgabL8BU6X4Sp"},
    {"H", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "HP__________________________________________"},
    {"I", "33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186abd0f51a3f6489ae",
     "IDNYfaLH7BE2W4Clyu8UOV6DqM3yFzxhhqvQ9Ro_ZImu"},
    {"I", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "IP__________________________________________"},
    {"J", "385d82a7ccf1163b6085aacff4193e6388add2f71c41668bb0d5fa1f44698eb3",
     "JDhdgqfM8RY7YIWqz_QZPmOIrdL3HEFmi7DV-h9EaY6z"},
    {"J", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "JP__________________________________________"},
    {"M", "3d62", "MD1i"},
    {"M", "ffff", "MP__"},
    {"N", "42678cb1d6fb2045", "NEJnjLHW-yBF"},
    {"N", "ffffffffffffffff", "NP__________"},
    {"Q", "476c91b6db00254a6f94b9de03284d7297bce1062b50759abfe4092e53789dc2",
     "QEdskbbbACVKb5S53gMoTXKXvOEGK1B1mr_kCS5TeJ3C"},
    {"Q", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "QP__________________________________________"},
    {"0A", "4c7196bbe0052a4f7499bee3082d5277", "0ABMcZa74AUqT3SZvuMILVJ3"},
    {"0A", "ffffffffffffffffffffffffffffffff", "0AD_____________________"},
    {"0B",
     "51769bc0e50a2f54799ec3e80d32577ca1c6eb10355a7fa4c9ee13385d82a7ccf1163b6085aacff4193e6388add2f"
     "71c41668bb0d5fa1f44698eb3d8fd22476c",
     "0BBRdpvA5QovVHmew-gNMld8ocbrEDVaf6TJ7hM4XYKnzPEWO2CFqs_0GT5jiK3S9xxBZouw1fofRGmOs9j9Ikds"},
    {"0B",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0BD_____________________________________________________________________________________"},
    {"0C",
     "567ba0c5ea0f34597ea3c8ed12375c81a6cbf0153a5f84a9cef3183d6287acd1f61b40658aafd4f91e43688db2d7f"
     "c21466b90b5daff24496e93b8dd02274c71",
     "0CBWe6DF6g80WX6jyO0SN1yBpsvwFTpfhKnO8xg9Yoes0fYbQGWKr9T5HkNojbLX_CFGa5C12v8kSW6TuN0CJ0xx"},
    {"0C",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0CD_____________________________________________________________________________________"},
    {"0D",
     "5b80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb20456a8fb4d9fe23486d92b7dc0"
     "1264b7095badf04294e7398bde2072c5176",
     "0DBbgKXK7xQ5XoOozfIXPGGGq9D1Gj9kia7T-B1CZ4yx1vsgRWqPtNn-I0htkrfcASZLcJW63wQpTnOYveIHLFF2"},
    {"0D",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0DD_____________________________________________________________________________________"},
    {"0E",
     "6085aacff4193e6388add2f71c41668bb0d5fa1f44698eb3d8fd22476c91b6db00254a6f94b9de03284d7297bce10"
     "62b50759abfe4092e53789dc2e70c31567b",
     "0EBgharP9Bk-Y4it0vccQWaLsNX6H0RpjrPY_SJHbJG22wAlSm-Uud4DKE1yl7zhBitQdZq_5AkuU3idwucMMVZ7"},
    {"0E",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0ED_____________________________________________________________________________________"},
    {"0F",
     "658aafd4f91e43688db2d7fc21466b90b5daff24496e93b8dd02274c7196bbe0052a4f7499bee3082d52779cc1e60"
     "b30557a9fc4e90e33587da2c7ec11365b80",
     "0FBliq_U-R5DaI2y1_whRmuQtdr_JEluk7jdAidMcZa74AUqT3SZvuMILVJ3nMHmCzBVep_E6Q4zWH2ix-wRNluA"},
    {"0F",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0FD_____________________________________________________________________________________"},
    {"0G",
     "6a8fb4d9fe23486d92b7dc01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577ca1c6eb1"
     "0355a7fa4c9ee13385d82a7ccf1163b6085",
     "0GBqj7TZ_iNIbZK33AEmS3CVut8EKU5zmL3iByxRdpvA5QovVHmew-gNMld8ocbrEDVaf6TJ7hM4XYKnzPEWO2CF"},
    {"0G",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0GD_____________________________________________________________________________________"},
    {"0H", "6f94b9de", "0HBvlLne"},
    {"0H", "ffffffff", "0HD_____"},
    {"0I",
     "7499bee3082d52779cc1e60b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186abd0f51"
     "a3f6489aed3f81d42678cb1d6fb20456a8f",
     "0IB0mb7jCC1Sd5zB5gswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGGq9D1Gj9kia7T-B1CZ4yx1vsgRWqP"},
    {"0I",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffffffffffffffffff",
     "0ID_____________________________________________________________________________________"},
    {"1AAA", "799ec3e80d32577ca1c6eb10355a7fa4c9ee13385d82a7ccf1163b6085aacff419",
     "1AAAeZ7D6A0yV3yhxusQNVp_pMnuEzhdgqfM8RY7YIWqz_QZ"},
    {"1AAA", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1AAA____________________________________________"},
    {"1AAB", "7ea3c8ed12375c81a6cbf0153a5f84a9cef3183d6287acd1f61b40658aafd4f91e",
     "1AABfqPI7RI3XIGmy_AVOl-Eqc7zGD1ih6zR9htAZYqv1Pke"},
    {"1AAB", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1AAB____________________________________________"},
    {"1AAC",
     "83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb20456a8fb4d9fe23486d92b7dc01264b7095badf042"
     "94e7398bde2072c51769b",
     "1AACg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW-yBFao-02f4jSG2St9wBJktwlbrfBClOc5i94gcsUXab"},
    {"1AAC",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffff",
     "1AAC____________________________________________________________________________"},
    {"1AAD",
     "88add2f71c41668bb0d5fa1f44698eb3d8fd22476c91b6db00254a6f94b9de03284d7297bce1062b50759abfe4092"
     "e53789dc2e70c31567ba0",
     "1AADiK3S9xxBZouw1fofRGmOs9j9IkdskbbbACVKb5S53gMoTXKXvOEGK1B1mr_kCS5TeJ3C5wwxVnug"},
    {"1AAD",
     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "fffffffffffffffffffff",
     "1AAD____________________________________________________________________________"},
    {"1AAG", "8db2d7fc21466b90b5daff24496e93b8dd02274c7196bbe0",
     "1AAGjbLX_CFGa5C12v8kSW6TuN0CJ0xxlrvg"},
    {"1AAG", "ffffffffffffffffffffffffffffffffffffffffffffffff",
     "1AAG________________________________"},
    {"1AAI", "92b7dc01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32",
     "1AAIkrfcASZLcJW63wQpTnOYveIHLFF2m8DlCi9UeZ7D6A0y"},
    {"1AAI", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1AAI____________________________________________"},
    {"1AAJ", "97bce1062b50759abfe4092e53789dc2e70c31567ba0c5ea0f34597ea3c8ed1237",
     "1AAJl7zhBitQdZq_5AkuU3idwucMMVZ7oMXqDzRZfqPI7RI3"},
    {"1AAJ", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1AAJ____________________________________________"},
};

/* keripy known answers: /work/shared/vectors/keripy/witnesses.json (seed and
 * verkey hex), spec/keri-core.md §7.1-7.2, keripy tests/core/test_coring.py. */
static const struct {
    const char *code;
    const char *raw_hex;
    const char *qb64;
} kd_tv_keripy[] = {
    {"A", "9d3401b8c02dae8288f3661153a8721b2f14818e588a5c68d51d4e9ee102beae",
     "AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u"},
    {"B", "18a5738f8bded1549df33fc09af84b83896a702ffd5985fdd24d37abe47f61da",
     "BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha"},
    {"A", "d036c1f802304e641c337dffbe6c9be2ac491e35e5d8b61bea1d770c6e80edfe",
     "ANA2wfgCME5kHDN9_75sm-KsSR415di2G-oddwxugO3-"},
    {"B", "bb244532275e733159a1aa7294b2320a349d86da956f7d7066444abcf7cdaa4c",
     "BLskRTInXnMxWaGqcpSyMgo0nYbalW99cGZESrz3zapM"},
    {"A", "c6737569d672033779374bd38d602cca5858889c3ffdc0c48a9be353828207d1",
     "AMZzdWnWcgM3eTdL041gLMpYWIicP_3AxIqb41OCggfR"},
    {"B", "828abaf070a660d50380ecf84a4be5bb7d3aa3f358f8dad8b8a015864dd987d7",
     "BIKKuvBwpmDVA4Ds-EpL5bt9OqPzWPja2LigFYZN2YfX"},
    {"A", "9f7ba8a7a843399626fab199ebaa20c41b4711c4ae534152c9bd049d85297e93",
     "AJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T"},
    /* Salt "0123456789abcdef" */
    {"0A", "30313233343536373839616263646566", "0AAwMTIzNDU2Nzg5YWJjZGVm"},
    /* Demo witness salt "wann-the-witness" */
    {"0A", "77616e6e2d7468652d7769746e657373", "0AB3YW5uLXRoZS13aXRuZXNz"},
    /* Short numbers 11, 1, 15 (thresholds, keri-core §7.5) */
    {"M", "000b", "MAAL"},
    {"M", "0001", "MAAB"},
    {"M", "000f", "MAAP"},
    /* Dater '2020-08-22T17:50:09.988921+00:00' */
    {"1AAG", "db4db4fb4f3edb64f5edce74734f5df7cf3ddb5a74d1cd34",
     "1AAG2020-08-22T17c50c09d988921p00c00"},
};

static void check_qb64_known(const char *code, const char *raw_hex, const char *qb64)
{
    unsigned char raw[KD_CESR_RAW_MAX];
    char out[KD_CESR_QB64_MAX + 1];
    struct kd_cesr_prim prim;
    enum kd_cesr_code id;
    size_t rlen = unhex(raw_hex, raw, sizeof raw);
    size_t olen = 0;
    size_t used = 0;
    const char *why = NULL;

    assert_int_equal(kd_cesr_code_lookup(code, strlen(code), &id, NULL), KD_OK);
    assert_string_equal(kd_cesr_code_info(id)->code, code);
    assert_int_equal(kd_cesr_qb64_encode(id, raw, rlen, out, sizeof out, &olen), KD_OK);
    assert_string_equal(out, qb64);
    assert_int_equal(olen, strlen(qb64));
    memset(&prim, 0, sizeof prim);
    assert_int_equal(kd_cesr_qb64_decode(qb64, strlen(qb64), &prim, &used, &why), KD_OK);
    assert_int_equal(prim.code, id);
    assert_int_equal(prim.raw_len, rlen);
    assert_memory_equal(prim.raw, raw, rlen);
    assert_int_equal(used, strlen(qb64));
    memset(&prim, 0, sizeof prim);
    assert_int_equal(kd_cesr_qb64_decode(qb64, strlen(qb64), &prim, NULL, NULL), KD_OK);
    assert_memory_equal(prim.raw, raw, rlen);
    assert_int_equal(kd_cesr_qb64_decode_lax(qb64, strlen(qb64), &prim, NULL, NULL), KD_OK);
    assert_memory_equal(prim.raw, raw, rlen);
}

static void test_qb64_signify_vectors(void **state)
{
    int seen[KD_CESR_CODE_COUNT_] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof kd_tv_qb64 / sizeof kd_tv_qb64[0]; i++) {
        enum kd_cesr_code id;
        check_qb64_known(kd_tv_qb64[i].code, kd_tv_qb64[i].raw_hex, kd_tv_qb64[i].qb64);
        assert_int_equal(kd_cesr_code_lookup(kd_tv_qb64[i].code, 4, &id, NULL), KD_OK);
        seen[id]++;
    }
    /* Every code in the table has known answers. */
    for (int c = 0; c < KD_CESR_CODE_COUNT_; c++)
        assert_int_equal(seen[c], 2);
}

static void test_qb64_keripy_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kd_tv_keripy / sizeof kd_tv_keripy[0]; i++)
        check_qb64_known(kd_tv_keripy[i].code, kd_tv_keripy[i].raw_hex, kd_tv_keripy[i].qb64);
}

/* A receipt couple (keriox witness-receipt-rct.cesr) read as a stream. */
static void test_qb64_stream(void **state)
{
    static const char couple[] =
        "BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC"
        "0BBIkQ1Wff09xw5TPJAT-zt1LanKnmbaHIBN6plLDVrXUimt1kqb8OXy3cvNCLV8MawkA9AbBYuQ6-hdqoKc6Y4M";
    struct kd_cesr_prim a;
    struct kd_cesr_prim b;
    size_t used = 0;
    size_t used2 = 0;
    const char *why = NULL;

    (void)state;
    assert_int_equal(kd_cesr_qb64_decode(couple, strlen(couple), &a, &used, NULL), KD_OK);
    assert_int_equal(a.code, KD_CESR_ED25519N);
    assert_int_equal(used, 44);
    assert_int_equal(kd_cesr_qb64_decode(couple + used, strlen(couple) - used, &b, &used2, NULL),
                     KD_OK);
    assert_int_equal(b.code, KD_CESR_ED25519_SIG);
    assert_int_equal(b.raw_len, 64);
    assert_int_equal(used2, 88);
    /* Exact mode refuses what follows the first primitive. */
    assert_int_equal(kd_cesr_qb64_decode(couple, strlen(couple), &a, NULL, &why), KD_EBADCESR);
    assert_string_equal(why, "trailing characters after the primitive");
}

static void expect_qb64_reject(const char *text, size_t n, const char *reason)
{
    struct kd_cesr_prim p;
    size_t used = 12345;
    const char *why = NULL;

    assert_int_equal(kd_cesr_qb64_decode(text, n, &p, &used, &why), KD_EBADCESR);
    assert_string_equal(why, reason);
    assert_int_equal(used, 12345);
}

static void test_qb64_rejects(void **state)
{
    char buf[128];
    struct kd_cesr_prim p;
    const char *why = NULL;
    static const char prefix[] = "BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC";

    (void)state;
    expect_qb64_reject("", 0, "empty");
    expect_qb64_reject("-CAB", 4, "count or op code, not a primitive");
    expect_qb64_reject("KAAA", 4, "unknown code");
    expect_qb64_reject(prefix, 43, "truncated primitive");
    expect_qb64_reject("0B", 2, "truncated primitive");
    expect_qb64_reject("1AA", 3, "truncated code");
    /* A bad character inside the body. */
    memcpy(buf, prefix, 44);
    buf[20] = '+';
    expect_qb64_reject(buf, 44, "invalid base64url character");
    buf[20] = '\0';
    expect_qb64_reject(buf, 44, "invalid base64url character");
    buf[20] = prefix[20];
    buf[43] = '=';
    expect_qb64_reject(buf, 44, "'=' padding is not allowed");
    /* Pad bits: for a one-char code the top 2 bits of char 2 are pad. */
    memcpy(buf, prefix, 44);
    buf[1] = 'Q'; /* 0b010000 */
    expect_qb64_reject(buf, 44, "non-zero pad bits (non-canonical qb64)");
    assert_int_equal(kd_cesr_qb64_decode_lax(buf, 44, &p, NULL, &why), KD_OK);
    /* For a two-char code, the top 4 bits of char 3 are pad ("0BA…" .. "0BD…" only). */
    memcpy(
        buf,
        "0BBIkQ1Wff09xw5TPJAT-zt1LanKnmbaHIBN6plLDVrXUimt1kqb8OXy3cvNCLV8MawkA9AbBYuQ6-hdqoKc6Y4M",
        88);
    buf[2] = 'E';
    expect_qb64_reject(buf, 88, "non-zero pad bits (non-canonical qb64)");
    buf[2] = '_';
    expect_qb64_reject(buf, 88, "non-zero pad bits (non-canonical qb64)");
    /* The keriox documentation seed (keriox-surface §3.2): lax only. */
    expect_qb64_reject("ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc", 44,
                       "non-zero pad bits (non-canonical qb64)");
    assert_int_equal(
        kd_cesr_qb64_decode_lax("ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc", 44, &p, NULL, NULL),
        KD_OK);
    assert_int_equal(p.code, KD_CESR_ED25519_SEED);
    /* Four-char codes have no pad: every bit is raw. */
    assert_int_equal(
        kd_cesr_qb64_decode("1AAG2020-08-22T17c50c09d988921p00c00", 36, &p, NULL, NULL), KD_OK);
    assert_int_equal(kd_cesr_qb64_decode(prefix, 44, NULL, NULL, &why), KD_EINVAL);
}

static void test_qb64_encode_rejects(void **state)
{
    unsigned char raw[KD_CESR_RAW_MAX] = {0};
    char out[KD_CESR_QB64_MAX + 1];

    (void)state;
    memset(out, 'x', sizeof out);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, raw, 31, out, sizeof out, NULL),
                     KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, raw, 33, out, sizeof out, NULL),
                     KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, raw, 32, out, 44, NULL), KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, NULL, 32, out, sizeof out, NULL),
                     KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, raw, 32, NULL, sizeof out, NULL),
                     KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_CODE_COUNT_, raw, 32, out, sizeof out, NULL),
                     KD_EINVAL);
    assert_int_equal(kd_cesr_qb64_encode((enum kd_cesr_code) - 1, raw, 32, out, sizeof out, NULL),
                     KD_EINVAL);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 'x');
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519N, raw, 32, out, 45, NULL), KD_OK);
    assert_string_equal(out, "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648),          cmocka_unit_test(test_b64_url_alphabet),
        cmocka_unit_test(test_b64_round_trip),       cmocka_unit_test(test_b64_rejects),
        cmocka_unit_test(test_b64_buffer_errors),    cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_table_required_codes), cmocka_unit_test(test_hard_size_selectors),
        cmocka_unit_test(test_lookup_rejects),       cmocka_unit_test(test_qb64_signify_vectors),
        cmocka_unit_test(test_qb64_keripy_vectors),  cmocka_unit_test(test_qb64_stream),
        cmocka_unit_test(test_qb64_rejects),         cmocka_unit_test(test_qb64_encode_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
