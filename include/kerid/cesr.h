/*
 * CESR text domain: base64url, primitives ("matter"), indexed signatures,
 * count codes, sequence numbers. The stream splitter is in cesr_stream.h.
 *
 * Each kind of code has one X-macro table: KD_CESR_CODES (fixed-size
 * primitives), KD_CESR_VAR_CODES (variable-size families), KD_CESR_IDX_CODES
 * (indexed signatures) and KD_CESR_CTR_CODES (v1 count codes). The enums,
 * size constants, lookups and compile-time size checks are generated from
 * them (spec/keri-core.md §1.2-1.6). To add a code, add one line in
 * ascending code order (A-Z a-z 0-9 - _ order within a hard size, smaller
 * hard sizes first); test_cesr checks the order.
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

/* Code classes (keri-core §1.4 "code groups used by validation"), or-ed in
 * the flags column of KD_CESR_CODES. */
#define KD_CESR_F_PREFIX   0x01u /* PreDex: may be an identifier prefix */
#define KD_CESR_F_NONTRANS 0x02u /* NonTransDex: non-transferable prefix */
#define KD_CESR_F_DIGEST   0x04u /* DigDex: a digest (SAID) */
#define KD_CESR_F_VERKEY   0x08u /* a verification key keripy's Verfer accepts */
#define KD_CESR_F_SIG      0x10u /* a non-indexed signature (Cigar) */

/*
 * Fixed-size primitive codes without lead bytes (keripy Matter, ls = 0).
 *   code: the hard code text; hs: its length (selected by the first
 *   character, §1.3); fs: full qb64 length; raw: raw byte length; flags:
 *   KD_CESR_F_* classes; name: the enum suffix (KD_CESR_<name>).
 * Invariants checked at compile time: strlen(code) == hs, the pad size
 * ps = hs % 4 equals (3 - raw % 3) % 3, and fs == hs + (ps + raw) * 4 / 3 - ps.
 */
/* clang-format off */
#define KD_CESR_PV_  (KD_CESR_F_PREFIX | KD_CESR_F_VERKEY)
#define KD_CESR_PNV_ (KD_CESR_F_PREFIX | KD_CESR_F_NONTRANS | KD_CESR_F_VERKEY)
#define KD_CESR_PN_  (KD_CESR_F_PREFIX | KD_CESR_F_NONTRANS)
#define KD_CESR_PD_  (KD_CESR_F_PREFIX | KD_CESR_F_DIGEST)
/*  X(code,    hs, fs, raw, flags,            name) */
#define KD_CESR_CODES(X)                                                                          \
    X("A",     1,  44, 32,  0,                ED25519_SEED)                                       \
    X("B",     1,  44, 32,  KD_CESR_PNV_,     ED25519N)                                           \
    X("C",     1,  44, 32,  0,                X25519)                                             \
    X("D",     1,  44, 32,  KD_CESR_PV_,      ED25519)                                            \
    X("E",     1,  44, 32,  KD_CESR_PD_,      BLAKE3_256)                                         \
    X("F",     1,  44, 32,  KD_CESR_PD_,      BLAKE2B_256)                                        \
    X("G",     1,  44, 32,  KD_CESR_PD_,      BLAKE2S_256)                                        \
    X("H",     1,  44, 32,  KD_CESR_PD_,      SHA3_256)                                           \
    X("I",     1,  44, 32,  KD_CESR_PD_,      SHA2_256)                                           \
    X("J",     1,  44, 32,  0,                ECDSA_256K1_SEED)                                   \
    X("M",     1,  4,  2,   0,                SHORT)                                              \
    X("N",     1,  12, 8,   0,                BIG)                                                \
    X("Q",     1,  44, 32,  0,                ECDSA_256R1_SEED)                                   \
    X("0A",    2,  24, 16,  0,                SALT_128)                                           \
    X("0B",    2,  88, 64,  KD_CESR_F_SIG,    ED25519_SIG)                                        \
    X("0C",    2,  88, 64,  KD_CESR_F_SIG,    ECDSA_256K1_SIG)                                    \
    X("0D",    2,  88, 64,  KD_CESR_PD_,      BLAKE3_512)                                         \
    X("0E",    2,  88, 64,  KD_CESR_PD_,      BLAKE2B_512)                                        \
    X("0F",    2,  88, 64,  KD_CESR_PD_,      SHA3_512)                                           \
    X("0G",    2,  88, 64,  KD_CESR_PD_,      SHA2_512)                                           \
    X("0H",    2,  8,  4,   0,                LONG)                                               \
    X("0I",    2,  88, 64,  KD_CESR_F_SIG,    ECDSA_256R1_SIG)                                    \
    X("1AAA",  4,  48, 33,  KD_CESR_PNV_,     ECDSA_256K1N)                                       \
    X("1AAB",  4,  48, 33,  KD_CESR_PV_,      ECDSA_256K1)                                        \
    X("1AAC",  4,  80, 57,  KD_CESR_PN_,      ED448N)                                             \
    X("1AAD",  4,  80, 57,  KD_CESR_F_PREFIX, ED448)                                              \
    X("1AAG",  4,  36, 24,  0,                DATETIME)                                           \
    X("1AAI",  4,  48, 33,  KD_CESR_PNV_,     ECDSA_256R1N)                                       \
    X("1AAJ",  4,  48, 33,  KD_CESR_PV_,      ECDSA_256R1)

enum kd_cesr_code {
#define KD_CESR_ENUM_(code, hs, fs, raw, flags, name) KD_CESR_##name,
    KD_CESR_CODES(KD_CESR_ENUM_)
#undef KD_CESR_ENUM_
    KD_CESR_CODE_COUNT_
};
/* clang-format on */

/* Compile-time sizes per code: KD_CESR_FS_<name> (qb64 chars) and
 * KD_CESR_RAW_<name> (raw bytes), for buffers and static assertions. */
enum kd_cesr_size {
#define KD_CESR_SIZE_(code, hs, fs, raw, flags, name)                                              \
    KD_CESR_FS_##name = (fs), KD_CESR_RAW_##name = (raw),
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
    uint8_t flags;    /* KD_CESR_F_* classes */
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

/* Class flags of a primitive code (KD_CESR_F_*); 0 for an invalid code. */
unsigned kd_cesr_code_flags(enum kd_cesr_code c);

/* ---- variable-size primitives (keri-core §1.2 "lead bytes") ---- */

/*
 * Variable-size primitive families: the code letter after the selector.
 * Small codes "4X##" "5X##" "6X##" (hs 2, ss 2) and big codes "7AAX####"
 * "8AAX####" "9AAX####" (hs 4, ss 4); the selector digit gives the lead
 * size ls = 0, 1, 2 and the soft part the size in quadlets of lead + raw.
 */
/* clang-format off */
/*  X(letter, name) */
#define KD_CESR_VAR_CODES(X)                                                                      \
    X('A', STR_B64)                                                                               \
    X('B', BYTES)                                                                                 \
    X('C', X25519_CIPHER)                                                                         \
    X('D', X25519_CIPHER_QB64)                                                                    \
    X('E', X25519_CIPHER_QB2)

enum kd_cesr_var_type {
#define KD_CESR_VAR_ENUM_(letter, name) KD_CESR_VAR_##name,
    KD_CESR_VAR_CODES(KD_CESR_VAR_ENUM_)
#undef KD_CESR_VAR_ENUM_
    KD_CESR_VAR_TYPE_COUNT_
};
/* clang-format on */

/* A variable-size primitive, as a span of the text it was read from. */
struct kd_cesr_var {
    enum kd_cesr_var_type type;
    uint8_t hs;       /* hard size: 2 (small) or 4 (big) */
    uint8_t ls;       /* lead bytes: 0, 1 or 2 */
    uint32_t size;    /* quadlets of lead + raw after the code */
    const char *qb64; /* the whole primitive: code, size, material */
    size_t qb64_len;  /* hs + ss + 4 * size */
    size_t raw_len;   /* 3 * size - ls */
};

/*
 * Reads the variable-size primitive at the start of text (n chars
 * available), strictly: known family, every material character base64url,
 * lead bytes zero, at least ls bytes of material. No copy: out points into
 * text. consumed as in kd_cesr_qb64_decode (NULL: n must be the exact size).
 * KD_EBADCESR with *why otherwise.
 */
enum kd_err kd_cesr_var_decode(const char *text, size_t n, struct kd_cesr_var *out,
                               size_t *consumed, const char **why);

/*
 * The Base64 text a STR_B64 primitive carries (keripy Bexter.bext): the
 * material with its zero wad removed (ls + 1 chars for ls > 0; one leading
 * 'A' for ls == 0). *text points into v->qb64. KD_EBADCESR if v is not
 * STR_B64 or the wad is not all 'A' (a non-canonical Bexter).
 */
enum kd_err kd_cesr_var_bext(const struct kd_cesr_var *v, const char **text, size_t *len);

/* ---- indexed signatures (keripy Indexer / Siger, keri-core §1.5) ---- */

/*
 * Indexed signature codes.
 *   hs: hard size; ss: soft size (index + ondex chars); os: ondex chars
 *   (0: none in the code); fs: full qb64 size; raw: signature bytes;
 *   both: 1 if the signature is for both the current and the prior next key
 *   lists (ondex = index when os == 0), 0 for current-only codes (ondex
 *   digits must be zero; ondex is "none").
 * The table is in ascending (hs, code value) order; test_cesr checks it and
 * the compile-time size checks in src/cesr/indexer.c.
 */
/* clang-format off */
/*  X(code, hs, ss, os, fs,  raw, both, name) */
#define KD_CESR_IDX_CODES(X)                                                                      \
    X("A",  1,  1,  0,  88,  64,  1,    ED25519)                                                  \
    X("B",  1,  1,  0,  88,  64,  0,    ED25519_CRT)                                              \
    X("C",  1,  1,  0,  88,  64,  1,    ECDSA_256K1)                                              \
    X("D",  1,  1,  0,  88,  64,  0,    ECDSA_256K1_CRT)                                          \
    X("E",  1,  1,  0,  88,  64,  1,    ECDSA_256R1)                                              \
    X("F",  1,  1,  0,  88,  64,  0,    ECDSA_256R1_CRT)                                          \
    X("0A", 2,  2,  1,  156, 114, 1,    ED448)                                                    \
    X("0B", 2,  2,  1,  156, 114, 0,    ED448_CRT)                                                \
    X("2A", 2,  4,  2,  92,  64,  1,    ED25519_BIG)                                              \
    X("2B", 2,  4,  2,  92,  64,  0,    ED25519_BIG_CRT)                                          \
    X("2C", 2,  4,  2,  92,  64,  1,    ECDSA_256K1_BIG)                                          \
    X("2D", 2,  4,  2,  92,  64,  0,    ECDSA_256K1_BIG_CRT)                                      \
    X("2E", 2,  4,  2,  92,  64,  1,    ECDSA_256R1_BIG)                                          \
    X("2F", 2,  4,  2,  92,  64,  0,    ECDSA_256R1_BIG_CRT)                                      \
    X("3A", 2,  6,  3,  160, 114, 1,    ED448_BIG)                                                \
    X("3B", 2,  6,  3,  160, 114, 0,    ED448_BIG_CRT)

enum kd_cesr_idx_code {
#define KD_CESR_IDX_ENUM_(code, hs, ss, os, fs, raw, both, name) KD_CESR_IDX_##name,
    KD_CESR_IDX_CODES(KD_CESR_IDX_ENUM_)
#undef KD_CESR_IDX_ENUM_
    KD_CESR_IDX_CODE_COUNT_
};
/* clang-format on */

#define KD_CESR_SIG_RAW_MAX  114 /* largest raw signature (Ed448) */
#define KD_CESR_SIG_QB64_MAX 160 /* largest indexed signature fs */
#define KD_CESR_ONDEX_NONE   (-1)

struct kd_cesr_idx_info {
    const char *code; /* hard code text */
    const char *name; /* "ED25519", ... */
    uint8_t hs, ss, os, fs, raw, both;
};

/* A decoded indexed signature. */
struct kd_cesr_siger {
    enum kd_cesr_idx_code code;
    uint32_t index;   /* main index: position in the current key (or witness) list */
    int32_t ondex;    /* other index (prior next list) or KD_CESR_ONDEX_NONE */
    const char *qb64; /* the text it was decoded from (not a copy) */
    size_t qb64_len;
    size_t sig_len;
    unsigned char sig[KD_CESR_SIG_RAW_MAX];
};

/* The table entry of an indexed code, or NULL if c is not a valid value. */
const struct kd_cesr_idx_info *kd_cesr_idx_info(enum kd_cesr_idx_code c);

/*
 * Decodes the indexed signature at the start of text (n chars available),
 * strictly (keripy Indexer._exfil): the first character selects the hard
 * size (letters 1; '0'-'4' 2), the code must be in the table, the pad bits
 * before the signature must be zero, and for current-only codes the ondex
 * digits must be zero (ondex = KD_CESR_ONDEX_NONE). For both-list codes
 * without ondex digits ondex = index. consumed as in kd_cesr_qb64_decode.
 * KD_EBADCESR with *why on any failure.
 */
enum kd_err kd_cesr_siger_decode(const char *text, size_t n, struct kd_cesr_siger *out,
                                 size_t *consumed, const char **why);

/*
 * Encodes an indexed signature: code, index (ss - os digits), ondex (os
 * digits), then the signature with the pad trick of §1.2. Rules (keripy
 * Indexer): index < 64^(ss-os); current-only codes need ondex ==
 * KD_CESR_ONDEX_NONE; both-list codes with os == 0 need ondex NONE or equal
 * to index; with os > 0, NONE means ondex = index, else ondex < 64^os.
 * sig_len must be the code's raw size and cap > fs. KD_EINVAL otherwise.
 */
enum kd_err kd_cesr_siger_encode(enum kd_cesr_idx_code code, uint32_t index, int32_t ondex,
                                 const void *sig, size_t sig_len, char *out, size_t cap,
                                 size_t *out_len);

/* ---- count codes, CESR v1 (keripy CounterCodex_1_0, keri-core §1.6) ---- */

/*
 * hs: hard size; ss: soft size (the count digits). Ascending (hs, value)
 * order. For --AAA the soft part is the genus version, not a count.
 */
/* clang-format off */
/*  X(code,     hs, ss, name) */
#define KD_CESR_CTR_CODES(X)                                                                      \
    X("-A",     2,  2,  CONTROLLER_IDX_SIGS)                                                      \
    X("-B",     2,  2,  WITNESS_IDX_SIGS)                                                         \
    X("-C",     2,  2,  NON_TRANS_RECEIPT_COUPLES)                                                \
    X("-D",     2,  2,  TRANS_RECEIPT_QUADRUPLES)                                                 \
    X("-E",     2,  2,  FIRST_SEEN_REPLAY_COUPLES)                                                \
    X("-F",     2,  2,  TRANS_IDX_SIG_GROUPS)                                                     \
    X("-G",     2,  2,  SEAL_SOURCE_COUPLES)                                                      \
    X("-H",     2,  2,  TRANS_LAST_IDX_SIG_GROUPS)                                                \
    X("-I",     2,  2,  SEAL_SOURCE_TRIPLES)                                                      \
    X("-J",     2,  2,  SAD_PATH_SIG_GROUPS)                                                      \
    X("-K",     2,  2,  ROOT_SAD_PATH_SIG_GROUPS)                                                 \
    X("-L",     2,  2,  PATHED_MATERIAL_GROUP)                                                    \
    X("-V",     2,  2,  ATTACHMENT_GROUP)                                                         \
    X("-Z",     2,  2,  ESSR_PAYLOAD_GROUP)                                                       \
    X("-0L",    3,  5,  BIG_PATHED_MATERIAL_GROUP)                                                \
    X("-0V",    3,  5,  BIG_ATTACHMENT_GROUP)                                                     \
    X("--AAA",  5,  3,  KERI_ACDC_GENUS_VERSION)

enum kd_cesr_ctr {
#define KD_CESR_CTR_ENUM_(code, hs, ss, name) KD_CESR_CTR_##name,
    KD_CESR_CTR_CODES(KD_CESR_CTR_ENUM_)
#undef KD_CESR_CTR_ENUM_
    KD_CESR_CTR_COUNT_
};
/* clang-format on */

struct kd_cesr_ctr_info {
    const char *code; /* hard code text */
    const char *name; /* "CONTROLLER_IDX_SIGS", ... */
    uint8_t hs, ss;   /* fs = hs + ss */
};

struct kd_cesr_counter {
    enum kd_cesr_ctr code;
    uint32_t count; /* soft value: < 64^ss */
};

/* The table entry of a count code, or NULL if c is not a valid value. */
const struct kd_cesr_ctr_info *kd_cesr_ctr_info(enum kd_cesr_ctr c);

/*
 * Decodes the count code at the start of text (n chars available): '-' then
 * a letter (hs 2), '0' (hs 3) or '-' (hs 5) selects the hard size; the code
 * must be in the v1 table; the count digits must be base64url. consumed as
 * in kd_cesr_qb64_decode. KD_EBADCESR with *why otherwise.
 */
enum kd_err kd_cesr_counter_decode(const char *text, size_t n, struct kd_cesr_counter *out,
                                   size_t *consumed, const char **why);

/*
 * Encodes code + count as ss base64url digits; count must be < 64^ss and cap
 * > hs + ss, else KD_EINVAL. NUL-terminates; *out_len (optional) gets hs + ss.
 */
enum kd_err kd_cesr_counter_encode(enum kd_cesr_ctr code, uint32_t count, char *out, size_t cap,
                                   size_t *out_len);

/* ---- sequence numbers ---- */

/*
 * A KERI sequence number or first-seen ordinal: 0 .. 2^128 - 1. Attachments
 * carry them as `0A` + 22 chars (16 raw bytes, big-endian).
 */
#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 kd_sn_t;
#else
#error "kerid needs unsigned __int128 (gcc or clang on a 64-bit target) for kd_sn_t"
#endif

#define KD_CESR_SN_QB64_LEN 24 /* "0A" + 22 */
#define KD_CESR_SN_HEX_MAX  32 /* hex digits of the largest sn */

/* The sn of a decoded `0A` primitive; KD_EINVAL if p is not SALT_128. */
enum kd_err kd_cesr_sn_from_prim(const struct kd_cesr_prim *p, kd_sn_t *sn);

/* Encodes sn as `0A` qb64; cap must be > 24 (NUL-terminated), else KD_EINVAL. */
enum kd_err kd_cesr_sn_encode(kd_sn_t sn, char *out, size_t cap);

/*
 * Writes sn as lowercase hex without leading zeros ("0", "1f"), as event `s`
 * and `f` fields carry it, and NUL-terminates. cap must be > 32 digits of
 * the value; returns the number of digits, or 0 (out untouched) if cap is
 * too small.
 */
size_t kd_cesr_sn_hex(kd_sn_t sn, char *out, size_t cap);

#endif
