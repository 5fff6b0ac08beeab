/*
 * CESR text domain: base64url and fixed-size primitives ("matter").
 *
 * One X-macro table, KD_CESR_CODES, holds every primitive code kerid knows;
 * the enum, the size constants, the lookup index and the compile-time size
 * checks are all generated from it (spec/keri-core.md §1.2-1.4). To add a
 * code, add one line in ascending code order (A-Z a-z 0-9 - _ order within a
 * hard size, smaller hard sizes first); test_cesr checks the order.
 *
 * Everything here is libc only and never allocates. Inputs are untrusted:
 * every failure is an enum kd_err, with an optional short human reason
 * (a static string) through a `const char **why` argument.
 */
#ifndef KERID_CESR_H
#define KERID_CESR_H

#include <stddef.h>
#include <stdint.h>

#include "kerid/err.h"

/*
 * Fixed-size primitive codes without lead bytes (keripy Matter, ls = 0).
 *   code: the hard code text; hs: its length (selected by the first
 *   character, §1.3); fs: full qb64 length; raw: raw byte length; name: the
 *   enum suffix (KD_CESR_<name>).
 * Invariants checked at compile time: strlen(code) == hs, the pad size
 * ps = hs % 4 equals (3 - raw % 3) % 3, and fs == hs + (ps + raw) * 4 / 3 - ps.
 */
/* clang-format off */
/*  X(code,    hs, fs, raw, name) */
#define KD_CESR_CODES(X)                                                                          \
    X("A",     1,  44, 32,  ED25519_SEED)                                                         \
    X("B",     1,  44, 32,  ED25519N)                                                             \
    X("C",     1,  44, 32,  X25519)                                                               \
    X("D",     1,  44, 32,  ED25519)                                                              \
    X("E",     1,  44, 32,  BLAKE3_256)                                                           \
    X("F",     1,  44, 32,  BLAKE2B_256)                                                          \
    X("G",     1,  44, 32,  BLAKE2S_256)                                                          \
    X("H",     1,  44, 32,  SHA3_256)                                                             \
    X("I",     1,  44, 32,  SHA2_256)                                                             \
    X("J",     1,  44, 32,  ECDSA_256K1_SEED)                                                     \
    X("M",     1,  4,  2,   SHORT)                                                                \
    X("N",     1,  12, 8,   BIG)                                                                  \
    X("Q",     1,  44, 32,  ECDSA_256R1_SEED)                                                     \
    X("0A",    2,  24, 16,  SALT_128)                                                             \
    X("0B",    2,  88, 64,  ED25519_SIG)                                                          \
    X("0C",    2,  88, 64,  ECDSA_256K1_SIG)                                                      \
    X("0D",    2,  88, 64,  BLAKE3_512)                                                           \
    X("0E",    2,  88, 64,  BLAKE2B_512)                                                          \
    X("0F",    2,  88, 64,  SHA3_512)                                                             \
    X("0G",    2,  88, 64,  SHA2_512)                                                             \
    X("0H",    2,  8,  4,   LONG)                                                                 \
    X("0I",    2,  88, 64,  ECDSA_256R1_SIG)                                                      \
    X("1AAA",  4,  48, 33,  ECDSA_256K1N)                                                         \
    X("1AAB",  4,  48, 33,  ECDSA_256K1)                                                          \
    X("1AAC",  4,  80, 57,  ED448N)                                                               \
    X("1AAD",  4,  80, 57,  ED448)                                                                \
    X("1AAG",  4,  36, 24,  DATETIME)                                                             \
    X("1AAI",  4,  48, 33,  ECDSA_256R1N)                                                         \
    X("1AAJ",  4,  48, 33,  ECDSA_256R1)

enum kd_cesr_code {
#define KD_CESR_ENUM_(code, hs, fs, raw, name) KD_CESR_##name,
    KD_CESR_CODES(KD_CESR_ENUM_)
#undef KD_CESR_ENUM_
    KD_CESR_CODE_COUNT_
};
/* clang-format on */

/* Compile-time sizes per code: KD_CESR_FS_<name> (qb64 chars) and
 * KD_CESR_RAW_<name> (raw bytes), for buffers and static assertions. */
enum kd_cesr_size {
#define KD_CESR_SIZE_(code, hs, fs, raw, name) KD_CESR_FS_##name = (fs), KD_CESR_RAW_##name = (raw),
    KD_CESR_CODES(KD_CESR_SIZE_)
#undef KD_CESR_SIZE_
};

#define KD_CESR_RAW_MAX  64 /* largest raw size in the table */
#define KD_CESR_QB64_MAX 88 /* largest fs in the table */

struct kd_cesr_code_info {
    const char *code; /* hard code text, NUL-terminated */
    const char *name; /* "ED25519_SEED", ... */
    uint8_t hs;       /* hard size in chars */
    uint8_t fs;       /* full qb64 size in chars */
    uint8_t raw;      /* raw size in bytes */
};

/* A decoded primitive. raw holds raw_len bytes; the rest is unspecified.
 * When it holds a secret (a seed), the caller wipes it. */
struct kd_cesr_prim {
    enum kd_cesr_code code;
    size_t raw_len;
    unsigned char raw[KD_CESR_RAW_MAX];
};

/* ---- base64url (RFC 4648 §5, never padded) ---- */

/* Value 0..63 of a base64url character, or -1 for any other byte ('=' too). */
int kd_cesr_b64_value(unsigned char c);

/* Length of the unpadded encoding of n bytes: ceil(4n/3). Saturates at
 * SIZE_MAX for n > SIZE_MAX / 2, so a capacity check against it fails. */
size_t kd_cesr_b64_encoded_len(size_t n);

/*
 * Encodes n bytes as unpadded base64url into out and NUL-terminates it.
 * cap must be at least kd_cesr_b64_encoded_len(n) + 1; otherwise KD_EINVAL
 * and out is untouched. n > SIZE_MAX / 2 gives KD_ETOOLARGE. *out_len
 * (optional) receives the length without the NUL.
 */
enum kd_err kd_cesr_b64_encode(const void *in, size_t n, char *out, size_t cap, size_t *out_len);

/*
 * Decodes n characters of unpadded base64url, strictly: every character must
 * be in the alphabet ('=' padding is refused), n % 4 must not be 1, and the
 * unused low bits of the last character must be zero (canonical encoding,
 * RFC 4648 §3.5). Writes floor(3n/4) bytes; cap must hold them, else
 * KD_EINVAL. Bad text gives KD_EBADCESR; *why (optional) names the problem.
 * *out_len (optional) receives the decoded length.
 */
enum kd_err kd_cesr_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                               size_t *out_len, const char **why);

/* ---- code table ---- */

/* The table entry of a code, or NULL if c is not a valid enum value. */
const struct kd_cesr_code_info *kd_cesr_code_info(enum kd_cesr_code c);

/*
 * Hard size selected by the first character of a primitive (keri-core §1.3):
 * 1 for letters, 2 for '0' '4' '5' '6', 4 for '1' '2' '3' '7' '8' '9', and 0
 * for anything that cannot start a primitive ('-' and '_' start count and op
 * codes; other bytes are not base64url).
 */
unsigned kd_cesr_hard_size(unsigned char first);

/*
 * Finds the table code at the start of text (n chars available): the first
 * character selects the hard size, then the hard code is looked up by binary
 * search over its base-64 value. KD_EBADCESR (with *why) when the start is
 * not a primitive, is truncated, or is a code kerid does not know.
 */
enum kd_err kd_cesr_code_lookup(const char *text, size_t n, enum kd_cesr_code *out,
                                const char **why);

/* ---- qb64 ---- */

/*
 * Encodes a primitive: code text, then base64url(ps zero bytes || raw) with
 * its first ps chars dropped, ps = (3 - raw_len % 3) % 3 (keri-core §1.2).
 * raw_len must equal the code's raw size and cap must hold fs + 1 chars, else
 * KD_EINVAL. out is NUL-terminated; *out_len (optional) gets fs.
 */
enum kd_err kd_cesr_qb64_encode(enum kd_cesr_code code, const void *raw, size_t raw_len, char *out,
                                size_t cap, size_t *out_len);

/*
 * Decodes the primitive at the start of text (n chars available), strictly:
 * known code, enough characters, valid base64url, and the ps pad bits that
 * precede the raw must be zero (as keripy requires). With consumed non-NULL
 * it receives fs and text may continue after the primitive; with consumed
 * NULL, n must be exactly fs. Errors: KD_EBADCESR with *why (optional).
 * On error *out is unspecified (and may hold partial raw: wipe it if secret).
 */
enum kd_err kd_cesr_qb64_decode(const char *text, size_t n, struct kd_cesr_prim *out,
                                size_t *consumed, const char **why);

/*
 * Same as kd_cesr_qb64_decode but ignores the pad bits (they are dropped
 * with the pad). Only for reading keriox seeds, which keriox accepts with
 * non-zero pad bits; everything else must use the strict decoder.
 */
enum kd_err kd_cesr_qb64_decode_lax(const char *text, size_t n, struct kd_cesr_prim *out,
                                    size_t *consumed, const char **why);

#endif
