/*
 * Ed25519 (libsodium) and BLAKE3 (official C implementation) behind the
 * kd_ API, with the CESR forms of seeds, prefixes, signatures and digests.
 */
#include <stdlib.h>
#include <string.h>

#include <blake3.h>
#include <sodium.h>

#include "kerid/cesr.h"
#include "kerid/crypto.h"

_Static_assert(KD_CESR_RAW_ED25519_SEED == crypto_sign_SEEDBYTES, "seed size");
_Static_assert(KD_CESR_RAW_ED25519N == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(KD_ED25519_SK_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(KD_CESR_RAW_ED25519_SIG == crypto_sign_BYTES, "signature size");
_Static_assert(KD_CESR_RAW_BLAKE3_256 == BLAKE3_OUT_LEN, "digest size");
_Static_assert(KD_CESR_FS_ED25519_SEED == KD_SEED_QB64_LEN, "seed text size");
_Static_assert(KD_CESR_FS_ED25519N == KD_PREFIX_QB64_LEN, "prefix text size");
_Static_assert(KD_CESR_FS_ED25519_SIG == KD_SIG_QB64_LEN, "signature text size");
_Static_assert(KD_CESR_FS_BLAKE3_256 == KD_DIGEST_QB64_LEN, "digest text size");

/* Stands in for a NULL message of length 0. */
static const unsigned char kd_empty[1];

static void kd_crypto_why(const char **why, const char *reason)
{
    if (why)
        *why = reason;
}

/* Encodes fixed-size material whose size the static checks above guarantee. */
static void kd_crypto_encode(enum kd_cesr_code code, const void *raw, size_t raw_len, char *out,
                             size_t cap)
{
    if (kd_cesr_qb64_encode(code, raw, raw_len, out, cap, NULL) != KD_OK)
        abort(); /* broken invariant: sizes are checked at compile time */
}

/* sodium_init(): 0 first time, 1 when already done, -1 on failure. */
enum kd_err kd_crypto_init(void)
{
    return sodium_init() < 0 ? KD_EINTERNAL : KD_OK;
}

/* Derives the key pair, prefix and canonical seed text from 32 seed bytes. */
static void kd_signer_from_raw(struct kd_signer *s, const unsigned char seed[crypto_sign_SEEDBYTES])
{
    crypto_sign_seed_keypair(s->pk, s->sk, seed);
    kd_crypto_encode(KD_CESR_ED25519N, s->pk, sizeof s->pk, s->prefix, sizeof s->prefix);
    kd_crypto_encode(KD_CESR_ED25519_SEED, seed, crypto_sign_SEEDBYTES, s->seed_qb64,
                     sizeof s->seed_qb64);
}

/* Lenient (keriox) seed loading; see crypto.h. */
enum kd_err kd_signer_from_seed(struct kd_signer *s, const char *qb64, size_t len, const char **why)
{
    struct kd_cesr_prim prim;
    enum kd_err err = KD_EBADCESR;

    sodium_memzero(s, sizeof *s);
    if (qb64 == NULL || len == 0) {
        kd_crypto_why(why, "empty");
        goto out;
    }
    if (qb64[0] != 'A') {
        kd_crypto_why(why, "not an Ed25519 seed (must start with 'A')");
        goto out;
    }
    if (len != KD_SEED_QB64_LEN) {
        kd_crypto_why(why, "must be 44 characters ('A' and 43 base64url characters)");
        goto out;
    }
    err = kd_cesr_qb64_decode_lax(qb64, len, &prim, NULL, why);
    if (err != KD_OK)
        goto out;
    if (prim.code != KD_CESR_ED25519_SEED || prim.raw_len != crypto_sign_SEEDBYTES) {
        kd_crypto_why(why, "not an Ed25519 seed");
        err = KD_EBADCESR;
        goto out;
    }
    kd_signer_from_raw(s, prim.raw);
out:
    sodium_memzero(&prim, sizeof prim);
    if (err != KD_OK)
        sodium_memzero(s, sizeof *s);
    return err;
}

/* Random seed from libsodium's CSPRNG. */
enum kd_err kd_signer_generate(struct kd_signer *s)
{
    unsigned char seed[crypto_sign_SEEDBYTES];

    randombytes_buf(seed, sizeof seed);
    kd_signer_from_raw(s, seed);
    sodium_memzero(seed, sizeof seed);
    return KD_OK;
}

/* crypto_sign_detached over the exact bytes. */
void kd_signer_sign(const struct kd_signer *s, const void *msg, size_t n,
                    unsigned char sig[KD_ED25519_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, n > 0 ? msg : kd_empty, n, s->sk);
}

/* Signature as `0B…`. */
void kd_signer_sign_qb64(const struct kd_signer *s, const void *msg, size_t n,
                         char out[KD_SIG_QB64_LEN + 1])
{
    unsigned char sig[KD_ED25519_SIG_LEN];

    kd_signer_sign(s, msg, n, sig);
    kd_crypto_encode(KD_CESR_ED25519_SIG, sig, sizeof sig, out, KD_SIG_QB64_LEN + 1);
}

/* Zeroes everything, the public part too. */
void kd_signer_wipe(struct kd_signer *s)
{
    sodium_memzero(s, sizeof *s);
}

/* crypto_sign_verify_detached. */
enum kd_err kd_ed25519_verify(const unsigned char pk[KD_ED25519_PK_LEN], const void *msg, size_t n,
                              const unsigned char sig[KD_ED25519_SIG_LEN])
{
    if (crypto_sign_verify_detached(sig, n > 0 ? msg : kd_empty, n, pk) != 0)
        return KD_EBADSIG;
    return KD_OK;
}

/* Strict decode of a `B`/`D` key and a `0B` signature, then verify. */
enum kd_err kd_ed25519_verify_qb64(const char *key, size_t key_len, const void *msg, size_t n,
                                   const char *sig, size_t sig_len, const char **why)
{
    struct kd_cesr_prim k;
    struct kd_cesr_prim g;
    enum kd_err err;

    err = kd_cesr_qb64_decode(key, key_len, &k, NULL, why);
    if (err != KD_OK)
        return err;
    if (k.code != KD_CESR_ED25519N && k.code != KD_CESR_ED25519) {
        kd_crypto_why(why, "not an Ed25519 key");
        return KD_EBADCESR;
    }
    err = kd_cesr_qb64_decode(sig, sig_len, &g, NULL, why);
    if (err != KD_OK)
        return err;
    if (g.code != KD_CESR_ED25519_SIG) {
        kd_crypto_why(why, "not an Ed25519 signature");
        return KD_EBADCESR;
    }
    err = kd_ed25519_verify(k.raw, msg, n, g.raw);
    if (err != KD_OK)
        kd_crypto_why(why, "signature does not verify");
    return err;
}

/* One-shot BLAKE3 with the default 32-byte output. */
void kd_blake3_256(const void *p, size_t n, unsigned char out[KD_BLAKE3_256_LEN])
{
    blake3_hasher h;

    blake3_hasher_init(&h);
    if (n > 0)
        blake3_hasher_update(&h, p, n);
    blake3_hasher_finalize(&h, out, BLAKE3_OUT_LEN);
}

/* Digest as `E…`. */
void kd_blake3_256_qb64(const void *p, size_t n, char out[KD_DIGEST_QB64_LEN + 1])
{
    unsigned char d[KD_BLAKE3_256_LEN];

    kd_blake3_256(p, n, d);
    kd_crypto_encode(KD_CESR_BLAKE3_256, d, sizeof d, out, KD_DIGEST_QB64_LEN + 1);
}
