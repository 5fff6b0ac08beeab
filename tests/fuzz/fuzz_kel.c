/*
 * libFuzzer target for the kel/ validation engine: arbitrary CESR bodies
 * through kd_kel_process_body on a temporary store, with escrow sweeps and a
 * periodic fresh store.
 *
 * Two kinds of input:
 *   - anything: processed as a CESR body as it is (parsing, framing, the
 *     rejection paths, receipts and escrows of garbage);
 *   - 0x01 + a message template: tokens @K<d>, @N<d>, @W<d> (d in 0-7) are
 *     replaced by fixed test keys (transferable key, its next-key digest, its
 *     non-transferable prefix), @P and @S by the SAID of the latest event and
 *     the next sn (hex) of the identifier in the template's "i", the size and
 *     SAID are filled in
 *     (kd_said_fill), and the event is signed by every test key in force for
 *     it (its own k list, or the current keys of its identifier). Mutations
 *     of such templates reach the rules behind the signature check:
 *     thresholds, chaining, rotations, witnesses, delegation, recovery.
 * The node is the witness @W0 (accepts events listing it without receipts).
 *
 * Seeds: tests/fuzz/corpus/kel (vector KELs, receipts, invalid cases and
 * templates). Build (clang): -fsanitize=fuzzer,address,undefined with the
 * kel, cesr and store sources; run by tests/fuzz/run.sh.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NKEYS      8
#define TEMPLATE   0x01
#define BODY_MAX   (64u * 1024u)
#define RESET_EACH 2048u

static struct {
    bool ready;
    char dir[64], path[128];
    struct kd_store *s;
    struct kd_kel *k;
    struct kd_signer key[NKEYS];
    char pub[NKEYS][KD_PREFIX_QB64_LEN + 1];
    char dig[NKEYS][KD_DIGEST_QB64_LEN + 1];
    const char *own[1];
    unsigned iter;
    int64_t now;
    struct kd_event ev;
} g;

struct job {
    const uint8_t *body;
    size_t len;
    bool sweep;
};

static enum kd_err job_fn(struct kd_store_txn *txn, void *arg)
{
    const struct job *j = arg;
    struct kd_kel_body_result res;
    bool more;

    if (j->sweep)
        return kd_kel_sweep(g.k, txn, g.now, 64, &more, NULL);
    return kd_kel_process_body(g.k, txn, j->body, j->len, NULL, g.now, false, &res);
}

static void fx_remove(void)
{
    char p[160];
    static const char *const suffix[] = {"", "-wal", "-shm"};

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", g.path, suffix[i]);
        unlink(p);
    }
}

static void fx_open(void)
{
    struct kd_kel_opts o;

    fx_remove();
    if (kd_store_open(&g.s, g.path, NULL, NULL, NULL) != KD_OK)
        abort();
    kd_kel_opts_default(&o);
    o.own_prefixes = g.own;
    o.nown = 1;
    o.limits.escrow_rows = 4096;
    o.limits.cache_states = 32;
    if (kd_kel_new(&g.k, &o) != KD_OK)
        abort();
}

static void fx_close(void)
{
    kd_kel_free(g.k);
    g.k = NULL;
    kd_store_close(g.s);
    g.s = NULL;
}

static void fx_init(void)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    if (kd_crypto_init() != KD_OK)
        abort();
    kd_log_setup(KD_LOG_ERROR, KD_LOG_TEXT);
    for (unsigned i = 0; i < NKEYS; i++) {
        unsigned char raw[32];
        char label[32], seed[KD_SEED_QB64_LEN + 1];

        snprintf(label, sizeof label, "kerid-fuzz-key-%u", i);
        kd_blake3_256(label, strlen(label), raw);
        if (kd_cesr_qb64_encode(KD_CESR_ED25519_SEED, raw, 32, seed, sizeof seed, NULL) != KD_OK ||
            kd_signer_from_seed(&g.key[i], seed, strlen(seed), NULL) != KD_OK ||
            kd_cesr_qb64_encode(KD_CESR_ED25519, g.key[i].pk, 32, g.pub[i], sizeof g.pub[i],
                                NULL) != KD_OK)
            abort();
        kd_blake3_256_qb64(g.pub[i], strlen(g.pub[i]), g.dig[i]);
    }
    g.own[0] = g.key[0].prefix;
    snprintf(g.dir, sizeof g.dir, "%s/kd-fuzz-kel-XXXXXX", tmp);
    if (mkdtemp(g.dir) == NULL)
        abort();
    snprintf(g.path, sizeof g.path, "%s/kel.sqlite3", g.dir);
    g.now = 1700000000000000LL;
    fx_open();
    g.ready = true;
}

static void run(const uint8_t *body, size_t len, bool sweep)
{
    struct job j = {body, len, sweep};
    enum kd_err err = kd_store_write_sync(g.s, job_fn, &j);

    /* the engine answers verdicts as KD_OK; anything else is a store
     * failure, which a fuzzer input must never cause */
    if (err != KD_OK && err != KD_ENOMEM)
        abort();
}

/* Replaces the @K/@N/@W tokens of in (n bytes) into out; returns its length
 * or 0 if it does not fit. */
static size_t expand(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;

        if (in[i] == '@' && i + 2 < n && in[i + 2] >= '0' && in[i + 2] < '0' + NKEYS) {
            const unsigned d = (unsigned)(in[i + 2] - '0');

            if (in[i + 1] == 'K')
                rep = g.pub[d];
            else if (in[i + 1] == 'N')
                rep = g.dig[d];
            else if (in[i + 1] == 'W')
                rep = g.key[d].prefix;
        }
        if (rep != NULL) {
            const size_t l = strlen(rep);

            if (at + l >= cap)
                return 0;
            memcpy(out + at, rep, l);
            at += l;
            i += 2;
        } else {
            if (at + 1 >= cap)
                return 0;
            out[at++] = (char)in[i];
        }
    }
    return at;
}

/* Index of one of the test keys with public key text p (n chars), or -1. */
static int key_of(const char *p, size_t n)
{
    for (int i = 0; i < NKEYS; i++)
        if (n == KD_PREFIX_QB64_LEN && memcmp(p + 1, g.pub[i] + 1, KD_PREFIX_QB64_LEN - 1) == 0)
            return i;
    return -1;
}

/* Appends -A## with a signature by each test key among keys (n of them). */
static size_t sign_all(const char *body, size_t len, char *out, size_t cap, const char *const *keys,
                       const size_t *klen, unsigned n)
{
    char sigs[NKEYS][100];
    size_t sl[NKEYS], at = len, total = 4;
    unsigned m = 0;
    char ctr[8];

    for (unsigned i = 0; i < n && m < NKEYS; i++) {
        const int kk = key_of(keys[i], klen[i]);
        unsigned char sig[64];

        if (kk < 0)
            continue;
        kd_signer_sign(&g.key[kk], body, len, sig);
        if (kd_cesr_siger_encode(i < 64 ? KD_CESR_IDX_ED25519 : KD_CESR_IDX_ED25519_BIG, i,
                                 KD_CESR_ONDEX_NONE, sig, 64, sigs[m], sizeof sigs[m],
                                 &sl[m]) != KD_OK)
            continue;
        total += sl[m++];
    }
    if (m == 0 || len + total > cap ||
        kd_cesr_counter_encode(KD_CESR_CTR_CONTROLLER_IDX_SIGS, m, ctr, sizeof ctr, NULL) != KD_OK)
        return len;
    memcpy(out + at, ctr, 4);
    at += 4;
    for (unsigned i = 0; i < m; i++) {
        memcpy(out + at, sigs[i], sl[i]);
        at += sl[i];
    }
    return at;
}

/* Replaces @P and @S in buf (n chars, cap) from the state of the identifier
 * named by the first "i" field; returns the new length or 0. */
static size_t expand_state(char *buf, size_t n, size_t cap)
{
    char pre[KD_KEL_ID_MAX + 1],
        said[KD_KEL_ID_MAX + 1] = "EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char snh[KD_CESR_SN_HEX_MAX + 1] = "0";
    struct kd_kel_state *st = NULL;
    const char *i = memmem(buf, n, "\"i\":\"", 5), *q;
    size_t at;

    if (memmem(buf, n, "@P", 2) == NULL && memmem(buf, n, "@S", 2) == NULL)
        return n;
    if (i != NULL && (q = memchr(i + 5, '"', n - (size_t)(i + 5 - buf))) != NULL &&
        q - (i + 5) <= KD_KEL_ID_MAX) {
        snprintf(pre, sizeof pre, "%.*s", (int)(q - (i + 5)), i + 5);
        if (kd_kel_state_load(kd_store_reader(g.s), pre, &st) == KD_OK) {
            snprintf(said, sizeof said, "%s", st->said);
            kd_cesr_sn_hex(st->sn + 1, snh, sizeof snh);
            kd_kel_state_free(st);
        }
    }
    for (at = 0; at + 1 < n;) {
        const char *rep = buf[at] == '@' && buf[at + 1] == 'P'   ? said
                          : buf[at] == '@' && buf[at + 1] == 'S' ? snh
                                                                 : NULL;
        size_t l;

        if (rep == NULL) {
            at++;
            continue;
        }
        l = strlen(rep);
        if (n - 2 + l >= cap)
            return 0;
        memmove(buf + at + l, buf + at + 2, n - at - 2);
        memcpy(buf + at, rep, l);
        n = n - 2 + l;
        at += l;
    }
    return n;
}

static void run_template(const uint8_t *data, size_t size)
{
    static char buf[BODY_MAX + 4096];
    size_t n = expand(data, size, buf, BODY_MAX), len;
    const char *keys[KD_EVENT_MAX_KEYS];
    size_t klen[KD_EVENT_MAX_KEYS];
    unsigned nk = 0;

    if (n > 0)
        n = expand_state(buf, n, BODY_MAX);
    if (n == 0 || kd_said_fill(&g.ev, buf, n, NULL) != KD_OK)
        return;
    len = n;
    if (g.ev.ilk == KD_ILK_IXN) {
        struct kd_kel_state *st = NULL;
        char pre[KD_KEL_ID_MAX + 1];

        snprintf(pre, sizeof pre, "%.*s", (int)g.ev.i.len, (const char *)g.ev.raw + g.ev.i.off);
        if (kd_kel_state_load(kd_store_reader(g.s), pre, &st) == KD_OK) {
            for (unsigned i = 0; i < st->nkeys && i < KD_EVENT_MAX_KEYS; i++, nk++) {
                keys[nk] = kd_kel_str(st, st->keys[i]);
                klen[nk] = st->keys[i].len;
            }
            len = sign_all(buf, n, buf, sizeof buf, keys, klen, nk);
            kd_kel_state_free(st);
        }
    } else {
        for (unsigned i = 0; i < g.ev.keys.count; i++, nk++) {
            keys[nk] = (const char *)g.ev.raw + g.ev.keys.item[i].off;
            klen[nk] = g.ev.keys.item[i].len;
        }
        len = sign_all(buf, n, buf, sizeof buf, keys, klen, nk);
    }
    run((const uint8_t *)buf, len, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.ready)
        fx_init();
    if (size > BODY_MAX)
        return 0;
    g.iter++;
    g.now += 1000000; /* a second per input */
    if (size > 0 && data[0] == TEMPLATE)
        run_template(data + 1, size - 1);
    else
        run(data, size, false);
    if (g.iter % 16 == 0) {
        g.now += (int64_t)3600 * 1000000 / 4; /* let escrows age and expire */
        run(NULL, 0, true);
    }
    if (g.iter % RESET_EACH == 0) {
        fx_close();
        fx_open();
    }
    return 0;
}
