/*
 * Ed25519 signers and verification (libsodium), BLAKE3 digests, and the CESR
 * forms kerid's identity uses: the seed (`A…`, 44 chars), the
 * non-transferable basic prefix (`B…`, 44), the signature (`0B…`, 88).
 *
 * kd_crypto_init() must succeed before any other function here is called.
 */
#ifndef KERID_CRYPTO_H
#define KERID_CRYPTO_H

#include <stddef.h>

#include "kerid/cesr.h"
#include "kerid/err.h"

#define KD_ED25519_PK_LEN  32
#define KD_ED25519_SK_LEN  64 /* libsodium layout: seed || public key */
#define KD_ED25519_SIG_LEN 64
#define KD_BLAKE3_256_LEN  32
#define KD_SEED_QB64_LEN   44 /* "A" + 43 */
#define KD_PREFIX_QB64_LEN 44 /* "B" + 43 */
#define KD_SIG_QB64_LEN    88 /* "0B" + 86 */
#define KD_DIGEST_QB64_LEN 44 /* "E" + 43 */

/*
 * An Ed25519 identity. Holds the secret key (and the seed text): keep it in
 * one place, never copy it, and kd_signer_wipe() it when done.
 */
struct kd_signer {
    unsigned char sk[KD_ED25519_SK_LEN];
    unsigned char pk[KD_ED25519_PK_LEN];
    char prefix[KD_PREFIX_QB64_LEN + 1];  /* non-transferable basic prefix "B…" */
    char seed_qb64[KD_SEED_QB64_LEN + 1]; /* the seed in canonical CESR "A…" */
};

/* Initializes libsodium; safe to call more than once. KD_EINTERNAL if the
 * library cannot start (then nothing else here may be used). */
enum kd_err kd_crypto_init(void);

/*
 * Loads a CESR Ed25519 seed (code `A`, 44 chars, keriox-surface §3.2) and
 * derives the key pair and the `B` prefix. The pad bits are ignored, as
 * keriox ignores them (its documented seed `ArwX…` has them set), so a
 * non-canonical seed loads; s->seed_qb64 then holds the canonical form
 * (same key). A malformed seed gives KD_EBADCESR with *why (optional) a
 * short reason ("must be 44 characters", ...) fit for "seed: <why>"; s is
 * wiped then. Only the seed bytes are kept, never the input text.
 */
enum kd_err kd_signer_from_seed(struct kd_signer *s, const char *qb64, size_t len,
                                const char **why);

/* A fresh random identity; its seed_qb64 is canonical CESR. */
enum kd_err kd_signer_generate(struct kd_signer *s);

/* Ed25519 signature of msg (deterministic, RFC 8032). */
void kd_signer_sign(const struct kd_signer *s, const void *msg, size_t n,
                    unsigned char sig[KD_ED25519_SIG_LEN]);

/* The same signature as CESR `0B…`, NUL-terminated. */
void kd_signer_sign_qb64(const struct kd_signer *s, const void *msg, size_t n,
                         char out[KD_SIG_QB64_LEN + 1]);

/* Zeroes the whole signer (sodium_memzero). */
void kd_signer_wipe(struct kd_signer *s);

/* KD_OK if sig is a valid Ed25519 signature of msg by pk, else KD_EBADSIG
 * (libsodium's checks: canonical S, no small-order keys). */
enum kd_err kd_ed25519_verify(const unsigned char pk[KD_ED25519_PK_LEN], const void *msg, size_t n,
                              const unsigned char sig[KD_ED25519_SIG_LEN]);

/*
 * Verifies a CESR signature over the received bytes msg: key is an Ed25519
 * key qb64 (`B` or `D`, exactly 44 chars), sig an Ed25519 signature qb64
 * (`0B`, exactly 88 chars), both decoded strictly. KD_EBADCESR (with *why)
 * for malformed or non-Ed25519 material, KD_EBADSIG if it does not verify.
 */
enum kd_err kd_ed25519_verify_qb64(const char *key, size_t key_len, const void *msg, size_t n,
                                   const char *sig, size_t sig_len, const char **why);

/* BLAKE3-256 of p (p may be NULL when n is 0). */
void kd_blake3_256(const void *p, size_t n, unsigned char out[KD_BLAKE3_256_LEN]);

/* The same digest as CESR `E…`, NUL-terminated. */
void kd_blake3_256_qb64(const void *p, size_t n, char out[KD_DIGEST_QB64_LEN + 1]);

#endif
