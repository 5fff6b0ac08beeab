/*
 * KEL validation throughput on one core (not a test): events validated per
 * second for single-signature inceptions, an interaction chain and a 3-of-5
 * weighted rotation chain, next to the raw libsodium
 * crypto_sign_verify_detached rate measured in the same run, and the ratio
 * to the verify-bound rate (an icp or ixn needs 1 verification, a 3-of-5
 * rotation 3).
 *
 * Two figures per kind:
 *   engine  kd_kel_validate against the key state held in memory: parsing,
 *           SAID, signatures, thresholds, chaining, the next key state;
 *   store   kd_kel_process inside store write transactions of 256 events
 *           (group commit with fsync), key states cached: what a witness
 *           sustains on one core.
 * Messages are made and signed before the clock starts.
 *
 *   kel_bench [-n events] [-d dir]     (defaults: 20000, /tmp)
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kerid/cesr_stream.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/store.h"

#define BATCH 256u

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, enum kd_err err)
{
    fprintf(stderr, "kel_bench: %s: %s\n", what, kd_err_name(err));
    exit(1);
}

/* ---- making events ---- */

struct key {
    struct kd_signer s;
    char pub[KD_PREFIX_QB64_LEN + 1];
    char dig[KD_DIGEST_QB64_LEN + 1];
};

static void key_make(struct key *k, unsigned no)
{
    unsigned char raw[32];
    char label[40], seed[KD_SEED_QB64_LEN + 1];
    enum kd_err err;

    snprintf(label, sizeof label, "kerid-bench-key-%u", no);
    kd_blake3_256(label, strlen(label), raw);
    if ((err = kd_cesr_qb64_encode(KD_CESR_ED25519_SEED, raw, 32, seed, sizeof seed, NULL)) !=
            KD_OK ||
        (err = kd_signer_from_seed(&k->s, seed, strlen(seed), NULL)) != KD_OK ||
        (err = kd_cesr_qb64_encode(KD_CESR_ED25519, k->s.pk, 32, k->pub, sizeof k->pub, NULL)) !=
            KD_OK)
        die("key", err);
    kd_blake3_256_qb64(k->pub, strlen(k->pub), k->dig);
}

/* A message: body and its attachment text, framed once. */
struct msg {
    char *text;
    size_t len;
    struct kd_cesr_msg m;
};

static struct kd_event g_ev;

static enum kd_err keep_cb(void *arg, const struct kd_cesr_msg *m)
{
    *(struct kd_cesr_msg *)arg = *m; /* spans into the message's text */
    return KD_OK;
}

/* Fills the template in buf (n bytes), signs it with keys at indices idx,
 * frames it into out. said gets its SAID. */
static void finish(char *buf, size_t n, struct key **keys, const unsigned *idx, unsigned nsig,
                   struct msg *out, char said[KD_KEL_ID_MAX + 1])
{
    size_t at;
    char ctr[8];
    enum kd_err err;

    if ((err = kd_said_fill(&g_ev, buf, n, NULL)) != KD_OK)
        die("template", err);
    snprintf(said, KD_KEL_ID_MAX + 1, "%.*s", (int)g_ev.d.len, (const char *)g_ev.raw + g_ev.d.off);
    out->text = malloc(n + 4 + nsig * 92 + 1);
    if (out->text == NULL)
        die("memory", KD_ENOMEM);
    memcpy(out->text, buf, n);
    kd_cesr_counter_encode(KD_CESR_CTR_CONTROLLER_IDX_SIGS, nsig, ctr, sizeof ctr, NULL);
    memcpy(out->text + n, ctr, 4);
    at = n + 4;
    for (unsigned i = 0; i < nsig; i++) {
        unsigned char sig[64];
        size_t m;

        kd_signer_sign(&keys[i]->s, buf, n, sig);
        kd_cesr_siger_encode(KD_CESR_IDX_ED25519, idx[i], KD_CESR_ONDEX_NONE, sig, 64,
                             out->text + at, 100, &m);
        at += m;
    }
    out->len = at;
    if ((err = kd_cesr_split_all(out->text, out->len, NULL, keep_cb, &out->m, NULL)) != KD_OK)
        die("frame", err);
}

#define H17 "#################"
#define H44 "############################################"

static char g_buf[16384];

/* n single-signature inceptions (key i signs, next key n + i). */
static void make_icps(struct msg *out, struct key *keys, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char said[KD_KEL_ID_MAX + 1];
        const unsigned idx = 0;
        struct key *k = &keys[i];
        const int len = snprintf(g_buf, sizeof g_buf,
                                 "{\"v\":\"" H17 "\",\"t\":\"icp\",\"d\":\"" H44 "\",\"i\":\"" H44
                                 "\",\"s\":\"0\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"1\",\"n\":"
                                 "[\"%s\"],\"bt\":\"0\",\"b\":[],\"c\":[],\"a\":[]}",
                                 k->pub, keys[i + 1].dig);

        finish(g_buf, (size_t)len, &k, &idx, 1, &out[i], said);
    }
}

/* An inception (out[0]) then n - 1 interactions of one identifier. */
static void make_ixns(struct msg *out, struct key *k, struct key *next, unsigned n)
{
    char said[KD_KEL_ID_MAX + 1], pre[KD_KEL_ID_MAX + 1];
    const unsigned idx = 0;
    int len = snprintf(g_buf, sizeof g_buf,
                       "{\"v\":\"" H17 "\",\"t\":\"icp\",\"d\":\"" H44 "\",\"i\":\"" H44
                       "\",\"s\":\"0\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"1\",\"n\":[\"%s\"],"
                       "\"bt\":\"0\",\"b\":[],\"c\":[],\"a\":[]}",
                       k->pub, next->dig);

    finish(g_buf, (size_t)len, &k, &idx, 1, &out[0], said);
    memcpy(pre, said, sizeof pre);
    for (unsigned i = 1; i < n; i++) {
        len = snprintf(g_buf, sizeof g_buf,
                       "{\"v\":\"" H17 "\",\"t\":\"ixn\",\"d\":\"" H44
                       "\",\"i\":\"%s\",\"s\":\"%x\",\"p\":\"%s\",\"a\":[{\"d\":"
                       "\"EAnchoredDataSaidForKnownAnswerVectors0000001\"}]}",
                       pre, i, said);
        finish(g_buf, (size_t)len, &k, &idx, 1, &out[i], said);
    }
}

#define W5 "[\"1/3\",\"1/3\",\"1/3\",\"1/3\",\"1/3\"]"

/* An inception then n - 1 rotations, 5 keys each, threshold 1/3 each (any 3
 * of 5), signed by keys 0, 2 and 4 of the new set (exposing the prior next
 * digests at the same positions). keys holds 5 * (n + 1). */
static void make_rots(struct msg *out, struct key *keys, unsigned n)
{
    char said[KD_KEL_ID_MAX + 1], pre[KD_KEL_ID_MAX + 1];
    static const unsigned idx[3] = {0, 2, 4};

    for (unsigned i = 0; i < n; i++) {
        struct key *cur = &keys[5 * i], *nxt = &keys[5 * (i + 1)];
        struct key *sig[3] = {&cur[0], &cur[2], &cur[4]};
        int len;

        if (i == 0)
            len =
                snprintf(g_buf, sizeof g_buf,
                         "{\"v\":\"" H17 "\",\"t\":\"icp\",\"d\":\"" H44 "\",\"i\":\"" H44
                         "\",\"s\":\"0\",\"kt\":" W5 ",\"k\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],"
                         "\"nt\":" W5 ",\"n\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],\"bt\":\"0\","
                         "\"b\":[],\"c\":[],\"a\":[]}",
                         cur[0].pub, cur[1].pub, cur[2].pub, cur[3].pub, cur[4].pub, nxt[0].dig,
                         nxt[1].dig, nxt[2].dig, nxt[3].dig, nxt[4].dig);
        else
            len = snprintf(g_buf, sizeof g_buf,
                           "{\"v\":\"" H17 "\",\"t\":\"rot\",\"d\":\"" H44
                           "\",\"i\":\"%s\",\"s\":\"%x\",\"p\":\"%s\",\"kt\":" W5
                           ",\"k\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],\"nt\":" W5
                           ",\"n\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],\"bt\":\"0\",\"br\":[],"
                           "\"ba\":[],\"a\":[]}",
                           pre, i, said, cur[0].pub, cur[1].pub, cur[2].pub, cur[3].pub, cur[4].pub,
                           nxt[0].dig, nxt[1].dig, nxt[2].dig, nxt[3].dig, nxt[4].dig);
        finish(g_buf, (size_t)len, sig, idx, 3, &out[i], said);
        if (i == 0)
            memcpy(pre, said, sizeof pre);
    }
}

/* ---- measuring ---- */

/* Engine only: each message validated against the state in memory. chain:
 * each message builds on the previous state (else each is an inception). */
static double run_engine(struct kd_kel *k, struct msg *msgs, unsigned n, bool chain, unsigned skip)
{
    struct kd_kel_state *st = NULL, *next = NULL;
    struct kd_kel_result r;
    double t0 = 0;

    for (unsigned i = 0; i < n; i++) {
        if (i == skip)
            t0 = now_s();
        if (kd_kel_validate(k, chain ? st : NULL, &msgs[i].m, 1, &r, &next) != KD_OK ||
            r.verdict != KD_KEL_ACCEPTED) {
            fprintf(stderr, "kel_bench: event %u: %s (%s)\n", i, kd_kel_verdict_name(r.verdict),
                    r.why);
            exit(1);
        }
        if (chain) {
            kd_kel_state_free(st);
            st = next;
        } else {
            kd_kel_state_free(next);
        }
        next = NULL;
    }
    t0 = now_s() - t0;
    kd_kel_state_free(st);
    return (double)(n - skip) / t0;
}

struct batch {
    struct kd_kel *k;
    struct msg *msgs;
    unsigned from, to;
};

static enum kd_err batch_fn(struct kd_store_txn *txn, void *arg)
{
    const struct batch *b = arg;
    struct kd_kel_result r;
    enum kd_err err;

    for (unsigned i = b->from; i < b->to; i++) {
        if ((err = kd_kel_process(b->k, txn, &b->msgs[i].m, 1, &r)) != KD_OK)
            return err;
        if (r.verdict != KD_KEL_ACCEPTED) {
            fprintf(stderr, "kel_bench: event %u: %s (%s)\n", i, kd_kel_verdict_name(r.verdict),
                    r.why);
            return KD_EINTERNAL;
        }
    }
    return KD_OK;
}

/* With the store: batches of BATCH events per write transaction. */
static double run_store(const char *dir, const char *name, struct msg *msgs, unsigned n,
                        unsigned skip)
{
    char path[512];
    struct kd_store *s = NULL;
    struct kd_kel *k = NULL;
    double t0 = 0;
    enum kd_err err;

    snprintf(path, sizeof path, "%s/kel-bench-%s-%d.sqlite3", dir, name, (int)getpid());
    unlink(path);
    if ((err = kd_store_open(&s, path, NULL, NULL, NULL)) != KD_OK)
        die("store", err);
    if ((err = kd_kel_new(&k, NULL)) != KD_OK)
        die("engine", err);
    for (unsigned i = 0; i < n; i += BATCH) {
        struct batch b = {k, msgs, i, i + BATCH < n ? i + BATCH : n};

        if (i == skip)
            t0 = now_s();
        if ((err = kd_store_write_sync(s, batch_fn, &b)) != KD_OK)
            die("process", err);
    }
    t0 = now_s() - t0;
    kd_kel_free(k);
    kd_store_close(s);
    unlink(path);
    snprintf(path + strlen(path), 16, "-wal");
    unlink(path);
    return (double)(n - skip) / t0;
}

/* Raw libsodium verification rate over a 300-byte message, for ~1 s. */
static double verify_rate(void)
{
    unsigned char pk[32], sk[64], msg[300], sig[64];
    unsigned long long n = 0;
    double t0, dt;

    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    t0 = now_s();
    do {
        for (unsigned i = 0; i < 1000; i++)
            if (crypto_sign_verify_detached(sig, msg, sizeof msg, pk) != 0)
                abort();
        n += 1000;
        dt = now_s() - t0;
    } while (dt < 1.0);
    return (double)n / dt;
}

static void report(const char *kind, double engine, double store, unsigned verifies, double vps)
{
    const double bound = vps / verifies;

    printf("%-26s %12.0f %7.1f%% %8.0f ns %12.0f %7.1f%%\n", kind, engine, 100.0 * engine / bound,
           1e9 / engine - 1e9 * verifies / vps, store, 100.0 * store / bound);
}

int main(int argc, char **argv)
{
    unsigned n = 20000;
    const char *dir = "/tmp";
    struct key *keys;
    struct msg *icps, *ixns, *rots;
    unsigned nrot;
    struct kd_kel *k = NULL;
    double vps, e_icp, e_ixn, e_rot, s_icp, s_ixn, s_rot;
    int opt;

    while ((opt = getopt(argc, argv, "n:d:")) != -1) {
        if (opt == 'n')
            n = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'd')
            dir = optarg;
        else {
            fprintf(stderr, "usage: kel_bench [-n events] [-d dir]\n");
            return 2;
        }
    }
    if (n < 2 * BATCH)
        n = 2 * BATCH;
    if (kd_crypto_init() != KD_OK || sodium_init() < 0)
        die("crypto", KD_EINTERNAL);
    kd_log_setup(KD_LOG_WARN, KD_LOG_TEXT);
    nrot = n / 4;
    keys = calloc((size_t)n + 1 + 5 * ((size_t)nrot + 1), sizeof *keys);
    icps = calloc(n, sizeof *icps);
    ixns = calloc(n, sizeof *ixns);
    rots = calloc(nrot, sizeof *rots);
    if (keys == NULL || icps == NULL || ixns == NULL || rots == NULL)
        die("memory", KD_ENOMEM);
    fprintf(stderr, "kel_bench: making %u inceptions, %u interactions, %u rotations...\n", n, n,
            nrot);
    for (unsigned i = 0; i < n + 1 + 5 * (nrot + 1); i++)
        key_make(&keys[i], i);
    make_icps(icps, keys, n);
    make_ixns(ixns, &keys[0], &keys[1], n);
    make_rots(rots, keys + n + 1, nrot);
    if (kd_kel_new(&k, NULL) != KD_OK)
        die("engine", KD_ENOMEM);

    vps = verify_rate();
    e_icp = run_engine(k, icps, n, false, 0);
    e_ixn = run_engine(k, ixns, n, true, 1);
    e_rot = run_engine(k, rots, nrot, true, 1);
    s_icp = run_store(dir, "icp", icps, n, BATCH);
    s_ixn = run_store(dir, "ixn", ixns, n, BATCH);
    s_rot = run_store(dir, "rot", rots, nrot, BATCH);

    printf("libsodium crypto_sign_verify_detached: %.0f verifies/s (one core)\n\n", vps);
    printf("%-26s %12s %8s %11s %12s %8s\n", "events (signatures each)", "engine ev/s", "of bound",
           "overhead", "store ev/s", "of bound");
    report("icp, 1 key (1)", e_icp, s_icp, 1, vps);
    report("ixn chain (1)", e_ixn, s_ixn, 1, vps);
    report("rot 3-of-5 weighted (3)", e_rot, s_rot, 3, vps);
    printf("\nbound = verifies/s / signatures per event; overhead = engine time per event\n"
           "beyond its verifications; store = kd_kel_process in transactions of %u events\n"
           "(fsync per transaction, %s)\n",
           BATCH, dir);

    kd_kel_free(k);
    for (unsigned i = 0; i < n; i++) {
        free(icps[i].text);
        free(ixns[i].text);
    }
    for (unsigned i = 0; i < nrot; i++)
        free(rots[i].text);
    for (unsigned i = 0; i < n + 1 + 5 * (nrot + 1); i++)
        kd_signer_wipe(&keys[i].s);
    free(keys);
    free(icps);
    free(ixns);
    free(rots);
    return 0;
}
