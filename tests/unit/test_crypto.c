/*
 * crypto/ unit tests: seeds and prefixes, Ed25519 signatures, BLAKE3.
 *
 * Known answers: keriox (spec/keriox-surface.md §3.2 and the captured
 * exchange in spec/keriox-examples), keripy (vectors/keripy/witnesses.json,
 * spec/keri-core.md §7), and BLAKE3 outputs computed by @noble/hashes
 * (tests/unit/gen/blake3_vectors.mjs → blake3_vectors.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <blake3.h>

#include "kerid/cesr.h"
#include "kerid/crypto.h"

#include "blake3_vectors.h"

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

/* Reads $KD_SHARED_DIR/rel into buf (at most cap bytes); returns its length. */
static size_t read_shared(const char *rel, char *buf, size_t cap)
{
    const char *dir = getenv("KD_SHARED_DIR");
    char path[4096];
    FILE *f;
    size_t n;

    assert_non_null(dir);
    assert_true((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) < sizeof path);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, cap, f);
    assert_true(n < cap); /* the whole file fit */
    fclose(f);
    return n;
}

static int setup(void **state)
{
    (void)state;
    return kd_crypto_init() == KD_OK ? 0 : -1;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0)
            return 0;
    }
    return 1;
}

/* ---- seeds and prefixes ---- */

static const struct {
    const char *seed;
    const char *prefix;
    const char *pk_hex; /* NULL when the source gives none */
} kd_tv_seeds[] = {
    /* keriox-surface.md §3.2 (keriox docs; the first is not canonical CESR) */
    {"ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc", "BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC",
     NULL},
    {"A6zz7M08-HQSFq92sJ8KJOT2cZ47x7pXFQLPB0pckB3Q", "BDg3H7Sr-eES0XWXiO8nvMxW6mD_1LxLeE1nuiZxhGp4",
     NULL},
    {"AcwFTk-wgk3ZT2buPRIbK-zxgPx-TKbaegQvPEivN90Y", "BDg1zxxf8u4Hx5IPraZzmStfSCZFZbDzMHjqVcFW5OfP",
     NULL},
    {"Alntkt3u6dDgiQxTATr01dy8M72uuaZEf9eTdM-70Gk8", "BF2t2NPc1bwptY1hYV0YCib1JjQ11k9jtuaZemecPF5b",
     NULL},
    /* vectors/keripy/witnesses.json: wan, wil, wes */
    {"AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u", "BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha",
     "18a5738f8bded1549df33fc09af84b83896a702ffd5985fdd24d37abe47f61da"},
    {"ANA2wfgCME5kHDN9_75sm-KsSR415di2G-oddwxugO3-", "BLskRTInXnMxWaGqcpSyMgo0nYbalW99cGZESrz3zapM",
     "bb244532275e733159a1aa7294b2320a349d86da956f7d7066444abcf7cdaa4c"},
    {"AMZzdWnWcgM3eTdL041gLMpYWIicP_3AxIqb41OCggfR", "BIKKuvBwpmDVA4Ds-EpL5bt9OqPzWPja2LigFYZN2YfX",
     "828abaf070a660d50380ecf84a4be5bb7d3aa3f358f8dad8b8a015864dd987d7"},
    /* keri-core.md §7.1 seed0 (keripy test_keyeventfuncs) */
    {"AJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T", "BFs8BBx86uytIM0D2BhsE5rrqVIT8ef8mflpNceHo4XH",
     NULL},
};

static void test_seed_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kd_tv_seeds / sizeof kd_tv_seeds[0]; i++) {
        struct kd_signer s;
        const char *why = NULL;

        assert_int_equal(kd_signer_from_seed(&s, kd_tv_seeds[i].seed, 44, &why), KD_OK);
        assert_string_equal(s.prefix, kd_tv_seeds[i].prefix);
        if (kd_tv_seeds[i].pk_hex) {
            unsigned char pk[32];
            assert_int_equal(unhex(kd_tv_seeds[i].pk_hex, pk, sizeof pk), 32);
            assert_memory_equal(s.pk, pk, 32);
        }
        /* libsodium's secret key is seed || public key. */
        assert_memory_equal(s.sk + 32, s.pk, 32);
        kd_signer_wipe(&s);
        assert_true(all_zero(&s, sizeof s));
    }
}

/*
 * keriox's documented seed has its two pad bits set ('r' = 0b101011): keripy
 * and kerid's strict decoder refuse it, keriox and kd_signer_from_seed take
 * it. The canonical spelling clears those bits: 'r' → 'L' (0b001011).
 */
static void test_seed_noncanonical_keriox(void **state)
{
    static const char doc_seed[] = "ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc";
    static const char canonical[] = "ALwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc";
    struct kd_cesr_prim p;
    struct kd_signer a;
    struct kd_signer b;
    const char *why = NULL;

    (void)state;
    assert_int_equal(kd_cesr_qb64_decode(doc_seed, 44, &p, NULL, &why), KD_EBADCESR);
    assert_string_equal(why, "non-zero pad bits (non-canonical qb64)");
    assert_int_equal(kd_signer_from_seed(&a, doc_seed, 44, NULL), KD_OK);
    assert_string_equal(a.prefix, "BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC");
    assert_string_equal(a.seed_qb64, canonical);
    assert_int_equal(kd_cesr_qb64_decode(canonical, 44, &p, NULL, NULL), KD_OK);
    assert_memory_equal(p.raw, a.sk, 32);
    assert_int_equal(kd_signer_from_seed(&b, canonical, 44, NULL), KD_OK);
    assert_memory_equal(&a, &b, sizeof a);
    kd_signer_wipe(&a);
    kd_signer_wipe(&b);
}

static void expect_seed_reject(const char *seed, size_t len, const char *reason)
{
    struct kd_signer s;
    const char *why = NULL;

    memset(&s, 0xa5, sizeof s);
    assert_int_equal(kd_signer_from_seed(&s, seed, len, &why), KD_EBADCESR);
    assert_non_null(why);
    assert_string_equal(why, reason);
    assert_true(all_zero(&s, sizeof s));
}

static void test_seed_rejects(void **state)
{
    static const char good[] = "AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u";
    char buf[100];

    (void)state;
    expect_seed_reject("", 0, "empty");
    expect_seed_reject(NULL, 44, "empty");
    /* Wrong code: a prefix, a digest, a signature, a salt, a count code. */
    expect_seed_reject("BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha", 44,
                       "not an Ed25519 seed (must start with 'A')");
    expect_seed_reject("EPKHe4sWMgGGjDNCriwC3phhUD4_6aozVeWI76iIhBYw", 44,
                       "not an Ed25519 seed (must start with 'A')");
    expect_seed_reject("0AAwMTIzNDU2Nzg5YWJjZGVm", 24, "not an Ed25519 seed (must start with 'A')");
    expect_seed_reject("-CAB", 4, "not an Ed25519 seed (must start with 'A')");
    expect_seed_reject(" AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u", 45,
                       "not an Ed25519 seed (must start with 'A')");
    /* Wrong length. */
    expect_seed_reject(good, 43, "must be 44 characters ('A' and 43 base64url characters)");
    expect_seed_reject("A", 1, "must be 44 characters ('A' and 43 base64url characters)");
    memcpy(buf, good, 44);
    buf[44] = '\n';
    expect_seed_reject(buf, 45, "must be 44 characters ('A' and 43 base64url characters)");
    memcpy(buf + 44, good, 44);
    expect_seed_reject(buf, 88, "must be 44 characters ('A' and 43 base64url characters)");
    /* Not base64url. */
    memcpy(buf, good, 44);
    buf[10] = '+';
    expect_seed_reject(buf, 44, "invalid base64url character");
    buf[10] = '/';
    expect_seed_reject(buf, 44, "invalid base64url character");
    buf[10] = ' ';
    expect_seed_reject(buf, 44, "invalid base64url character");
    buf[10] = '\0';
    expect_seed_reject(buf, 44, "invalid base64url character");
    buf[10] = good[10];
    buf[43] = '=';
    expect_seed_reject(buf, 44, "'=' padding is not allowed");
}

static void test_seed_generate(void **state)
{
    struct kd_signer a;
    struct kd_signer b;
    struct kd_signer c;
    struct kd_cesr_prim p;

    (void)state;
    assert_int_equal(kd_signer_generate(&a), KD_OK);
    assert_int_equal(kd_signer_generate(&b), KD_OK);
    assert_memory_not_equal(a.sk, b.sk, 32);
    assert_string_not_equal(a.prefix, b.prefix);
    /* A generated seed is canonical CESR and reloads to the same identity. */
    assert_int_equal(strlen(a.seed_qb64), 44);
    assert_int_equal(kd_cesr_qb64_decode(a.seed_qb64, 44, &p, NULL, NULL), KD_OK);
    assert_int_equal(p.code, KD_CESR_ED25519_SEED);
    assert_int_equal(kd_signer_from_seed(&c, a.seed_qb64, 44, NULL), KD_OK);
    assert_memory_equal(&a, &c, sizeof a);
    assert_int_equal(kd_cesr_qb64_decode(a.prefix, 44, &p, NULL, NULL), KD_OK);
    assert_int_equal(p.code, KD_CESR_ED25519N);
    assert_memory_equal(p.raw, a.pk, 32);
    kd_signer_wipe(&a);
    kd_signer_wipe(&b);
    kd_signer_wipe(&c);
}

/* ---- signatures ---- */

/* The message body at the start of a CESR stream: its size is the six hex
 * digits of the v1 version string (keri-core §2.1) at a fixed offset. */
static size_t body_size(const char *msg, size_t n)
{
    unsigned size = 0;

    assert_true(n > 23);
    assert_memory_equal(msg, "{\"v\":\"KERI10JSON", 16);
    assert_int_equal(sscanf(msg + 16, "%6x", &size), 1);
    assert_true(size <= n);
    return size;
}

/*
 * keriox: the witness with seed ArwX… receipts the controller's icp; its
 * -CAB couple signature must equal ours over the icp's exact bytes.
 */
static void test_sign_keriox_receipt(void **state)
{
    char icp[2048];
    char rct[2048];
    const size_t icp_n = read_shared(
        "spec/keriox-examples/controller-POST-process-icp.request.cesr", icp, sizeof icp);
    const size_t rct_n =
        read_shared("spec/keriox-examples/witness-receipt-rct.cesr", rct, sizeof rct);
    const size_t body = body_size(icp, icp_n);
    const size_t rbody = body_size(rct, rct_n);
    const char *couple = rct + rbody + 4;
    char sig[KD_SIG_QB64_LEN + 1];
    struct kd_signer s;
    const char *why = NULL;

    (void)state;
    assert_int_equal(body, 0x159);
    assert_true(rct_n >= rbody + 4 + 44 + 88);
    assert_memory_equal(rct + rbody, "-CAB", 4);
    assert_int_equal(
        kd_signer_from_seed(&s, "ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc", 44, NULL), KD_OK);
    assert_memory_equal(couple, s.prefix, 44);
    kd_signer_sign_qb64(&s, icp, body, sig);
    assert_int_equal(strlen(sig), 88);
    assert_memory_equal(sig, couple + 44, 88);
    /* And the couple verifies over the received bytes. */
    assert_int_equal(kd_ed25519_verify_qb64(couple, 44, icp, body, couple + 44, 88, &why), KD_OK);
    assert_int_equal(kd_ed25519_verify_qb64(couple, 44, icp, body - 1, couple + 44, 88, &why),
                     KD_EBADSIG);
    assert_string_equal(why, "signature does not verify");
    kd_signer_wipe(&s);
}

/* keri-core §7.1 and §7.3: keripy signatures by fixed seeds. */
static const struct {
    const char *seed;
    const char *msg;
    const char *sig;
} kd_tv_sigs[] = {
    /* seed0 on the self-addressing icp (indexed sig AAAPitVK… = 0B + same 86 chars) */
    {"AJ97qKeoQzmWJvqxmeuqIMQbRxHErlNBUsm9BJ2FKX6T",
     "{\"v\":\"KERI10JSON00012b_\",\"t\":\"icp\",\"d\":"
     "\"EAKCxMOuoRzREVHsHCkLilBrUXTvyenBiuM2QtV8BB0C\","
     "\"i\":\"EAKCxMOuoRzREVHsHCkLilBrUXTvyenBiuM2QtV8BB0C\",\"s\":\"0\",\"kt\":\"1\",\"k\":["
     "\"DFs8BBx86uytIM0D2BhsE5rrqVIT8ef8mflpNceHo4XH\"],\"nt\":\"1\",\"n\":["
     "\"EIf-ENw7PrM52w4H-S7NGU2qVIfraXVIlV9hEAaMHg7W\"],\"bt\":\"0\",\"b\":[],\"c\":[],\"a\":[]}",
     "0BAPitVKfl6dG9dY4-7Ppg5tAANHsqEUptTfR05wLb0fbmKFt4DbZdBNjJaCDrEc7kAIqbLsCMCKf26-Onxz-DoP"},
    /* wan's own icp (indexed AAAMlb…) */
    {"AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u",
     "{\"v\":\"KERI10JSON0000fd_\",\"t\":\"icp\",\"d\":"
     "\"EIkO4CUmYXukX4auGU9yaFoQaIicfVZkazQ0A3IO5biT\","
     "\"i\":\"BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha\",\"s\":\"0\",\"kt\":\"1\",\"k\":["
     "\"BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha\"],\"nt\":\"0\",\"n\":[],\"bt\":\"0\",\"b\":[]"
     ","
     "\"c\":[],\"a\":[]}",
     "0BAMlb78gUo1_gPDwxbXyERk2sW8B0mtiNuACutAygnY78PHYUjbPj1fSY1jyid8fl4-TXgLXPnDmeoUs1UO-H0A"},
    /* wan's receipt couple for hab test's witnessed icp */
    {"AJ00AbjALa6CiPNmEVOochsvFIGOWIpcaNUdTp7hAr6u",
     "{\"v\":\"KERI10JSON000159_\",\"t\":\"icp\",\"d\":\"EPoSfl_OQNsRirytQpw21eS_"
     "LAIQmQQiZznyC1KtKDUo\","
     "\"i\":\"EPoSfl_OQNsRirytQpw21eS_LAIQmQQiZznyC1KtKDUo\",\"s\":\"0\",\"kt\":\"1\",\"k\":["
     "\"DGmIfLmgErg4zFHfPwaDckLNxsLqc5iS_P0QbLjbWR0I\"],\"nt\":\"1\",\"n\":["
     "\"EJhRr10e5p7LVB6JwLDIcgqsISktnfe5m60O_I2zZO6N\"],\"bt\":\"1\",\"b\":["
     "\"BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha\"],\"c\":[],\"a\":[]}",
     "0BBthmtP3nIX2JzUJwyA_QB-mnBgvev6Ejg2l2mUKOeUWblyLoxsYF8gmSydEpNV7toTeHOkV34oNqd3VP9NBSwC"},
};

static void test_sign_keripy_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kd_tv_sigs / sizeof kd_tv_sigs[0]; i++) {
        const char *msg = kd_tv_sigs[i].msg;
        const size_t n = body_size(msg, strlen(msg));
        char sig[KD_SIG_QB64_LEN + 1];
        unsigned char raw[KD_ED25519_SIG_LEN];
        struct kd_cesr_prim p;
        struct kd_signer s;

        assert_int_equal(n, strlen(msg));
        assert_int_equal(kd_signer_from_seed(&s, kd_tv_sigs[i].seed, 44, NULL), KD_OK);
        kd_signer_sign_qb64(&s, msg, n, sig);
        assert_string_equal(sig, kd_tv_sigs[i].sig);
        kd_signer_sign(&s, msg, n, raw);
        assert_int_equal(kd_cesr_qb64_decode(sig, 88, &p, NULL, NULL), KD_OK);
        assert_memory_equal(raw, p.raw, 64);
        assert_int_equal(kd_ed25519_verify(s.pk, msg, n, raw), KD_OK);
        assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 44, msg, n, sig, 88, NULL), KD_OK);
        kd_signer_wipe(&s);
    }
}

static void test_verify_rejects(void **state)
{
    static const char msg[] = "{\"v\":\"KERI10JSON000000_\"}";
    struct kd_signer s;
    unsigned char sig[64];
    unsigned char bad[64];
    char sigq[KD_SIG_QB64_LEN + 1];
    char key[KD_PREFIX_QB64_LEN + 1];
    char buf[100];
    const char *why = NULL;

    (void)state;
    assert_int_equal(kd_signer_generate(&s), KD_OK);
    kd_signer_sign(&s, msg, sizeof msg - 1, sig);
    assert_int_equal(kd_ed25519_verify(s.pk, msg, sizeof msg - 1, sig), KD_OK);
    /* Every single-bit flip of the signature is refused (a few positions). */
    for (size_t bit = 0; bit < 512; bit += 37) {
        memcpy(bad, sig, 64);
        bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_equal(kd_ed25519_verify(s.pk, msg, sizeof msg - 1, bad), KD_EBADSIG);
    }
    assert_int_equal(kd_ed25519_verify(s.pk, "x", 1, sig), KD_EBADSIG);
    /* The empty message signs and verifies; NULL stands for it. */
    kd_signer_sign(&s, NULL, 0, sig);
    assert_int_equal(kd_ed25519_verify(s.pk, "", 0, sig), KD_OK);
    assert_int_equal(kd_ed25519_verify(s.pk, NULL, 0, sig), KD_OK);

    kd_signer_sign_qb64(&s, msg, sizeof msg - 1, sigq);
    /* A transferable 'D' key over the same public key verifies too. */
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519, s.pk, 32, key, sizeof key, NULL), KD_OK);
    assert_int_equal(kd_ed25519_verify_qb64(key, 44, msg, sizeof msg - 1, sigq, 88, &why), KD_OK);
    /* Not Ed25519 material. */
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_BLAKE3_256, s.pk, 32, key, sizeof key, NULL),
                     KD_OK);
    assert_int_equal(kd_ed25519_verify_qb64(key, 44, msg, sizeof msg - 1, sigq, 88, &why),
                     KD_EBADCESR);
    assert_string_equal(why, "not an Ed25519 key");
    memcpy(buf, sigq, 88);
    buf[1] = 'C'; /* ECDSA secp256k1 signature code, same size */
    assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 44, msg, sizeof msg - 1, buf, 88, &why),
                     KD_EBADCESR);
    assert_string_equal(why, "not an Ed25519 signature");
    /* Malformed text: truncated, trailing, non-canonical pad. */
    assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 43, msg, sizeof msg - 1, sigq, 88, &why),
                     KD_EBADCESR);
    assert_string_equal(why, "truncated primitive");
    assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 44, msg, sizeof msg - 1, sigq, 87, &why),
                     KD_EBADCESR);
    memcpy(buf, sigq, 88);
    buf[88] = 'A';
    assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 44, msg, sizeof msg - 1, buf, 89, &why),
                     KD_EBADCESR);
    assert_string_equal(why, "trailing characters after the primitive");
    buf[2] = 'E';
    assert_int_equal(kd_ed25519_verify_qb64(s.prefix, 44, msg, sizeof msg - 1, buf, 88, &why),
                     KD_EBADCESR);
    assert_string_equal(why, "non-zero pad bits (non-canonical qb64)");
    kd_signer_wipe(&s);
}

/* ---- BLAKE3 ---- */

enum kd_tv_mode { KD_TV_HASH, KD_TV_KEYED, KD_TV_DERIVE };

static void hasher_init(blake3_hasher *h, enum kd_tv_mode mode)
{
    switch (mode) {
    case KD_TV_HASH:
        blake3_hasher_init(h);
        break;
    case KD_TV_KEYED:
        blake3_hasher_init_keyed(h, (const uint8_t *)KD_TV_BLAKE3_KEY);
        break;
    case KD_TV_DERIVE:
        blake3_hasher_init_derive_key(h, KD_TV_BLAKE3_CONTEXT);
        break;
    }
}

static unsigned char *tv_input(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);

    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i % 251);
    return p;
}

/* Odd piece sizes that cross block (64) and chunk (1024) boundaries. */
static const size_t kd_pieces[] = {1, 7, 63, 65, 1023, 3, 1025, 4097, 129, 8191};

static void check_mode(const unsigned char *in, size_t n, enum kd_tv_mode mode, const char *hex)
{
    unsigned char want[KD_TV_BLAKE3_OUT_LEN];
    unsigned char got[KD_TV_BLAKE3_OUT_LEN];
    blake3_hasher h;
    size_t off = 0;

    assert_int_equal(unhex(hex, want, sizeof want), KD_TV_BLAKE3_OUT_LEN);
    /* One update; default-length output, then the extended (XOF) output. */
    hasher_init(&h, mode);
    blake3_hasher_update(&h, in, n);
    blake3_hasher_finalize(&h, got, BLAKE3_OUT_LEN);
    assert_memory_equal(got, want, BLAKE3_OUT_LEN);
    blake3_hasher_finalize(&h, got, sizeof got);
    assert_memory_equal(got, want, sizeof want);
    /* XOF from an offset inside and across output blocks. */
    for (size_t seek = 1; seek < KD_TV_BLAKE3_OUT_LEN; seek += 31) {
        blake3_hasher_finalize_seek(&h, seek, got, KD_TV_BLAKE3_OUT_LEN - seek);
        assert_memory_equal(got, want + seek, KD_TV_BLAKE3_OUT_LEN - seek);
    }
    /* Odd-sized pieces. */
    hasher_init(&h, mode);
    for (size_t i = 0; off < n; i++) {
        size_t take = kd_pieces[i % (sizeof kd_pieces / sizeof kd_pieces[0])];
        if (take > n - off)
            take = n - off;
        blake3_hasher_update(&h, in + off, take);
        off += take;
    }
    blake3_hasher_finalize(&h, got, sizeof got);
    assert_memory_equal(got, want, sizeof want);
}

static void test_blake3_vectors(void **state)
{
    (void)state;
    assert_int_equal(strlen(KD_TV_BLAKE3_KEY), BLAKE3_KEY_LEN);
    assert_string_equal(blake3_version(), "1.3.1");
    for (size_t i = 0; i < sizeof kd_tv_blake3 / sizeof kd_tv_blake3[0]; i++) {
        const size_t n = kd_tv_blake3[i].input_len;
        unsigned char *in = tv_input(n);
        unsigned char want[KD_TV_BLAKE3_OUT_LEN];
        unsigned char got[KD_BLAKE3_256_LEN];

        check_mode(in, n, KD_TV_HASH, kd_tv_blake3[i].hash);
        check_mode(in, n, KD_TV_KEYED, kd_tv_blake3[i].keyed_hash);
        check_mode(in, n, KD_TV_DERIVE, kd_tv_blake3[i].derive_key);
        /* kerid's one-shot digest is the same function. */
        unhex(kd_tv_blake3[i].hash, want, sizeof want);
        kd_blake3_256(in, n, got);
        assert_memory_equal(got, want, sizeof got);
        free(in);
    }
}

static void test_blake3_empty(void **state)
{
    unsigned char want[32];
    unsigned char got[32];

    (void)state;
    unhex(KD_TV_BLAKE3_EMPTY, want, sizeof want);
    unhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", got, sizeof got);
    assert_memory_equal(want, got, 32);
    kd_blake3_256(NULL, 0, got);
    assert_memory_equal(got, want, 32);
    kd_blake3_256("", 0, got);
    assert_memory_equal(got, want, 32);
}

/*
 * The SIMD code is linked in (these symbols come only from the x86-64
 * assembly files) and run-time dispatch picks the widest the CPU offers.
 */
size_t blake3_simd_degree(void);
#if defined(__x86_64__)
typedef void kd_blake3_many_fn(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out);
kd_blake3_many_fn blake3_hash_many_sse2, blake3_hash_many_sse41, blake3_hash_many_avx2,
    blake3_hash_many_avx512;
#endif

static void test_blake3_simd(void **state)
{
    (void)state;
#if defined(__x86_64__)
    size_t want = 4; /* SSE2 is part of x86-64 */
    kd_blake3_many_fn *volatile impls[] = {blake3_hash_many_sse2, blake3_hash_many_sse41,
                                           blake3_hash_many_avx2, blake3_hash_many_avx512};

    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
        assert_non_null(impls[i]);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        want = 16;
    else if (__builtin_cpu_supports("avx2"))
        want = 8;
    assert_int_equal(blake3_simd_degree(), want);
    print_message("# blake3_simd_degree() = %zu\n", blake3_simd_degree());
#else
    assert_true(blake3_simd_degree() >= 1);
#endif
}

/* A 100 KiB input in one update (the widest SIMD batches), checked against
 * the independent vector for 102400 bytes, plus a 1 MiB self-consistency run. */
static void test_blake3_large(void **state)
{
    const size_t big = 1u << 20;
    unsigned char *in = tv_input(big);
    unsigned char one[32];
    unsigned char parts[32];
    unsigned char want[KD_TV_BLAKE3_OUT_LEN];
    blake3_hasher h;
    int found = 0;

    (void)state;
    for (size_t i = 0; i < sizeof kd_tv_blake3 / sizeof kd_tv_blake3[0]; i++) {
        if (kd_tv_blake3[i].input_len == 102400) {
            unhex(kd_tv_blake3[i].hash, want, sizeof want);
            found = 1;
        }
    }
    assert_true(found);
    kd_blake3_256(in, 102400, one);
    assert_memory_equal(one, want, 32);
    kd_blake3_256(in, big, one);
    blake3_hasher_init(&h);
    for (size_t off = 0; off < big; off += 1000)
        blake3_hasher_update(&h, in + off, big - off < 1000 ? big - off : 1000);
    blake3_hasher_finalize(&h, parts, 32);
    assert_memory_equal(one, parts, 32);
    free(in);
}

/*
 * SAIDs (keri-core §2.3): Blake3-256 of the body with the saidive fields
 * replaced by 44 '#', as `E…`, must equal the published `d`.
 */
static void check_said(const char *event, int i_is_saidive)
{
    const size_t n = strlen(event);
    char *dummy = malloc(n + 1);
    char said[KD_DIGEST_QB64_LEN + 1];
    const char *d = strstr(event, "\"d\":\"");
    const char *i = strstr(event, "\"i\":\"");

    assert_non_null(dummy);
    assert_non_null(d);
    assert_non_null(i);
    memcpy(dummy, event, n + 1);
    memset(dummy + (d - event) + 5, '#', 44);
    if (i_is_saidive)
        memset(dummy + (i - event) + 5, '#', 44);
    kd_blake3_256_qb64(dummy, n, said);
    assert_int_equal(strlen(said), 44);
    assert_memory_equal(said, d + 5, 44);
    free(dummy);
}

static void test_blake3_said(void **state)
{
    char icp[2048];
    size_t n;

    (void)state;
    /* keri-core §7.1: non-transferable icp (basic prefix, only d saidive). */
    check_said(
        "{\"v\":\"KERI10JSON0000fd_\",\"t\":\"icp\",\"d\":\"EMW0zK3bagYPO6gx3w7Ua90f-"
        "I7x5kGIaI4Xeq9W8_As\","
        "\"i\":\"BFs8BBx86uytIM0D2BhsE5rrqVIT8ef8mflpNceHo4XH\",\"s\":\"0\",\"kt\":\"1\",\"k\":["
        "\"BFs8BBx86uytIM0D2BhsE5rrqVIT8ef8mflpNceHo4XH\"],\"nt\":\"0\",\"n\":[],\"bt\":\"0\","
        "\"b\":[],"
        "\"c\":[],\"a\":[]}",
        0);
    /* keri-core §7.1: self-addressing icp (d and i saidive). */
    check_said(kd_tv_sigs[0].msg, 1);
    /* keriox's controller icp, as received. */
    n = read_shared("spec/keriox-examples/controller-POST-process-icp.request.cesr", icp,
                    sizeof icp);
    icp[body_size(icp, n)] = '\0';
    check_said(icp, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_known_answers),  cmocka_unit_test(test_seed_noncanonical_keriox),
        cmocka_unit_test(test_seed_rejects),        cmocka_unit_test(test_seed_generate),
        cmocka_unit_test(test_sign_keriox_receipt), cmocka_unit_test(test_sign_keripy_vectors),
        cmocka_unit_test(test_verify_rejects),      cmocka_unit_test(test_blake3_vectors),
        cmocka_unit_test(test_blake3_empty),        cmocka_unit_test(test_blake3_simd),
        cmocka_unit_test(test_blake3_large),        cmocka_unit_test(test_blake3_said),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
