/*
 * kel/ unit tests, part 2: the validation engine (include/kerid/kel.h) on a
 * temporary store.
 *
 * Truth comes from outside kerid:
 *   - keripy 1.2.13 vectors (/work/shared/vectors/keripy): every KEL is
 *     accepted with the vector's SAIDs, keys, thresholds, witnesses and next
 *     digests; every invalid event gets keripy's verdict class (rejected, or
 *     escrowed where keripy escrows) and leaves the state untouched; the
 *     delegation order check escrows the dip until its anchor arrives;
 *   - spec/keri-core.md §4 rules, each with a table of cases built here from
 *     deterministic keys (signed bodies whose SAIDs kd_said_fill computes,
 *     re-checked by the parser), §7.3 (the exact receipt bytes wan makes);
 *   - keriox-made messages (spec/keriox-examples): the key state notice a
 *     keriox witness answers, byte for byte with the same signature;
 *   - corpora from the independent client /work/shared/tools/keri-client
 *     (signify-ts), committed in tests/unit/data/kel/, with its verdicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kerid/cesr.h"
#include "kerid/cesr_stream.h"
#include "kerid/clock.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/kel.h"
#include "kerid/log.h"
#include "kerid/store.h"

/* ---- files ---- */

/* Reads dir/rel; NUL-terminated, caller frees. */
static char *read_file(const char *env, const char *rel, size_t *len)
{
    const char *dir = getenv(env);
    char path[4096];
    FILE *f;
    long n;
    char *buf;

    assert_non_null(dir);
    assert_true((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) < sizeof path);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static json_t *load_json(const char *rel)
{
    size_t n;
    char *text = read_file("KD_SHARED_DIR", rel, &n);
    json_error_t jerr;
    json_t *j = json_loadb(text, n, 0, &jerr);

    free(text);
    if (j == NULL)
        fail_msg("%s: %s", rel, jerr.text);
    return j;
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("no string %s", key);
    return json_string_value(v);
}

/* The string at key, "" when it is null or absent. */
static const char *jstr_opt(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : "";
}

/* ---- fixture: a store in a temporary directory and an engine ---- */

#define WAN "BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha"
#define WIL "BLskRTInXnMxWaGqcpSyMgo0nYbalW99cGZESrz3zapM"
#define WES "BIKKuvBwpmDVA4Ds-EpL5bt9OqPzWPja2LigFYZN2YfX"
#define T0  1700000000000000LL

struct accepted_log {
    unsigned n;
    int own_index[64];
    bool from_escrow[64];
    char said[64][KD_KEL_ID_MAX + 1];
    bool sign; /* sign the event as WAN and store the wig */
    struct kd_signer wan;
};

struct fx {
    char dir[64];
    char path[128];
    struct kd_store *s;
    struct kd_kel *k;
    struct kd_kel_opts opts;
    const char *own[2];
    struct accepted_log log;
};

static enum kd_err on_accept(void *arg, struct kd_store_txn *txn, const struct kd_kel_accepted *a)
{
    struct accepted_log *l = arg;

    if (l->n < 64) {
        l->own_index[l->n] = a->own_index;
        l->from_escrow[l->n] = a->from_escrow;
        snprintf(l->said[l->n], sizeof l->said[0], "%s", a->said);
    }
    l->n++;
    if (l->sign && a->own_index >= 0) {
        unsigned char sig[64];

        kd_signer_sign(&l->wan, a->ev->raw, a->ev->size, sig);
        return kd_kel_add_wig(txn, a->said, (unsigned)a->own_index, sig, NULL);
    }
    return KD_OK;
}

static void fx_engine(struct fx *fx)
{
    kd_kel_free(fx->k);
    fx->k = NULL;
    fx->opts.on_accept = on_accept;
    fx->opts.accept_arg = &fx->log;
    assert_int_equal(kd_kel_new(&fx->k, &fx->opts), KD_OK);
}

static void fx_open(struct fx *fx)
{
    assert_int_equal(kd_store_open(&fx->s, fx->path, NULL, NULL, NULL), KD_OK);
}

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    assert_int_equal(kd_crypto_init(), KD_OK);
    kd_log_setup(KD_LOG_WARN, KD_LOG_TEXT);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kd-kel-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/kerid.sqlite3", fx->dir);
    fx_open(fx);
    kd_kel_opts_default(&fx->opts);
    fx_engine(fx);
    *state = fx;
    return 0;
}

static void fx_rm(const struct fx *fx, const char *suffix)
{
    char p[160];

    snprintf(p, sizeof p, "%s%s", fx->path, suffix);
    unlink(p);
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    kd_kel_free(fx->k);
    kd_store_close(fx->s);
    fx_rm(fx, "");
    fx_rm(fx, "-wal");
    fx_rm(fx, "-shm");
    rmdir(fx->dir);
    kd_signer_wipe(&fx->log.wan);
    free(fx);
    return 0;
}

/* The node is witness wan (signs and stores its receipts). */
static void fx_as_wan(struct fx *fx)
{
    json_t *w = load_json("vectors/keripy/witnesses.json");
    const char *seed = jstr(json_array_get(json_object_get(w, "witnesses"), 0), "seed_qb64");

    assert_int_equal(kd_signer_from_seed(&fx->log.wan, seed, strlen(seed), NULL), KD_OK);
    assert_string_equal(fx->log.wan.prefix, WAN);
    json_decref(w);
    fx->own[0] = WAN;
    fx->opts.own_prefixes = fx->own;
    fx->opts.nown = 1;
    fx->log.sign = true;
    fx_engine(fx);
}

/* ---- running messages inside write transactions ---- */

struct run {
    struct kd_kel *k;
    const char *text;
    size_t len;
    int64_t now;
    unsigned n;
    struct kd_kel_result res;
    struct kd_kel_body_result body;
    bool whole;
    bool stop;              /* whole: stop at the first rejection */
    enum kd_err fail_after; /* return this after processing (rollback test) */
    bool sweep;
    unsigned budget;
    bool more;
    struct kd_kel_sweep_result sw;
};

static enum kd_err run_cb(void *arg, const struct kd_cesr_msg *msg)
{
    struct run *r = (struct run *)((void **)arg)[0];
    struct kd_store_txn *txn = ((void **)arg)[1];
    enum kd_err err = kd_kel_process(r->k, txn, msg, r->now, &r->res);

    r->n++;
    return err;
}

static enum kd_err run_fn(struct kd_store_txn *txn, void *arg)
{
    struct run *r = arg;
    void *ctx[2] = {r, txn};
    struct kd_cesr_error e;
    enum kd_err err;

    if (r->sweep)
        err = kd_kel_sweep(r->k, txn, r->now, r->budget, &r->more, &r->sw);
    else if (r->whole)
        err = kd_kel_process_body(r->k, txn, r->text, r->len, NULL, r->now, r->stop, &r->body);
    else
        err = kd_cesr_split_all(r->text, r->len, NULL, run_cb, ctx, &e);
    return err == KD_OK ? r->fail_after : err;
}

/* Processes one message (CESR text) at time now; returns its result. */
static struct kd_kel_result run_at(struct fx *fx, const char *text, int64_t now)
{
    struct run r;

    memset(&r, 0, sizeof r);
    r.k = fx->k;
    r.text = text;
    r.len = strlen(text);
    r.now = now;
    assert_int_equal(kd_store_write_sync(fx->s, run_fn, &r), KD_OK);
    assert_int_equal(r.n, 1);
    return r.res;
}

static struct kd_kel_result run1(struct fx *fx, const char *text)
{
    return run_at(fx, text, T0);
}

static struct kd_kel_body_result run_body(struct fx *fx, const char *text, size_t len, int64_t now)
{
    struct run r;

    memset(&r, 0, sizeof r);
    r.k = fx->k;
    r.text = text;
    r.len = len;
    r.now = now;
    r.whole = true;
    assert_int_equal(kd_store_write_sync(fx->s, run_fn, &r), KD_OK);
    return r.body;
}

static bool sweep(struct fx *fx, int64_t now, unsigned budget, struct kd_kel_sweep_result *sw)
{
    struct run r;

    memset(&r, 0, sizeof r);
    r.k = fx->k;
    r.now = now;
    r.sweep = true;
    r.budget = budget;
    assert_int_equal(kd_store_write_sync(fx->s, run_fn, &r), KD_OK);
    if (sw != NULL)
        *sw = r.sw;
    return r.more;
}

#define assert_verdict(res, v)                                                                     \
    do {                                                                                           \
        const struct kd_kel_result res_ = (res);                                                   \
        if (res_.verdict != (v))                                                                   \
            fail_msg("verdict %s (%s: %s), expected %s", kd_kel_verdict_name(res_.verdict),        \
                     kd_kel_fault_name(res_.fault), res_.why, kd_kel_verdict_name(v));             \
    } while (0)

#define assert_rejected(res, f)                                                                    \
    do {                                                                                           \
        const struct kd_kel_result rr_ = (res);                                                    \
        assert_verdict(rr_, KD_KEL_REJECTED);                                                      \
        if (rr_.fault != (f))                                                                      \
            fail_msg("fault %s (%s), expected %s", kd_kel_fault_name(rr_.fault), rr_.why,          \
                     kd_kel_fault_name(f));                                                        \
        if ((f) != KD_KEL_F_BODY) /* a body's error is its parser's */                             \
            assert_int_equal(rr_.err, kd_kel_fault_err(f));                                        \
    } while (0)

#define assert_escrowed(res, kind)                                                                 \
    do {                                                                                           \
        const struct kd_kel_result re_ = (res);                                                    \
        assert_verdict(re_, KD_KEL_ESCROWED);                                                      \
        assert_int_equal(re_.escrow, (kind));                                                      \
    } while (0)

/* ---- reading the store (host thread) ---- */

static struct kd_kel_state *state_of(struct fx *fx, const char *prefix)
{
    struct kd_kel_state *st = NULL;
    enum kd_err err = kd_kel_state_load(kd_store_reader(fx->s), prefix, &st);

    if (err == KD_ENOTFOUND)
        return NULL;
    assert_int_equal(err, KD_OK);
    return st;
}

/* The state's encoding (dt left out when !with_dt); caller frees. */
static char *state_blob(struct kd_kel_state *st, bool with_dt, size_t *len)
{
    struct kd_buf b;
    const int64_t dt = st->dt_us;
    char *out;

    kd_buf_init(&b, 0);
    if (!with_dt)
        st->dt_us = 0;
    assert_int_equal(kd_kel_state_encode(st, &b), KD_OK);
    st->dt_us = dt;
    out = malloc(b.len);
    assert_non_null(out);
    memcpy(out, b.data, b.len);
    *len = b.len;
    kd_buf_free(&b);
    return out;
}

static char *state_blob_of(struct fx *fx, const char *prefix, bool with_dt, size_t *len)
{
    struct kd_kel_state *st = state_of(fx, prefix);
    char *b;

    if (st == NULL) {
        *len = 0;
        return NULL;
    }
    b = state_blob(st, with_dt, len);
    kd_kel_state_free(st);
    return b;
}

static void assert_same_state(struct fx *fx, const char *prefix, const char *blob, size_t len)
{
    size_t n;
    char *now = state_blob_of(fx, prefix, true, &n);

    assert_int_equal(n, len);
    if (len > 0)
        assert_memory_equal(now, blob, len);
    free(now);
}

static uint64_t escrow_count(struct fx *fx, enum kd_store_escrow_kind kind)
{
    uint64_t n = 0;

    assert_int_equal(kd_store_escrow_count(kd_store_reader(fx->s), kind, &n), KD_OK);
    return n;
}

struct sig_count {
    unsigned n;
};

static enum kd_err sig_count_cb(const char *sig, size_t len, void *arg)
{
    (void)sig;
    (void)len;
    ((struct sig_count *)arg)->n++;
    return KD_OK;
}

static unsigned sigs_of(struct fx *fx, const char *said, enum kd_store_sig_kind kind)
{
    struct sig_count c = {0};

    assert_int_equal(kd_store_sig_each(kd_store_reader(fx->s), said, kind, sig_count_cb, &c),
                     KD_OK);
    return c.n;
}

static void assert_event_at(struct fx *fx, const char *prefix, uint64_t sn, const char *said)
{
    struct kd_store_event e;
    struct kd_buf b;

    kd_buf_init(&b, 0);
    assert_int_equal(kd_store_event_at(kd_store_reader(fx->s), prefix, sn, &e, &b), KD_OK);
    assert_string_equal(e.said, said);
    kd_buf_free(&b);
}

/* Asserts that the rebuilt state of prefix equals the stored (incremental) one. */
static void assert_rebuild(struct fx *fx, const char *prefix)
{
    struct kd_kel_state *st = NULL;
    size_t n1, n2;
    char *inc = state_blob_of(fx, prefix, true, &n1), *reb;

    assert_non_null(inc);
    assert_int_equal(kd_kel_rebuild_state(kd_store_reader(fx->s), prefix, &st), KD_OK);
    reb = state_blob(st, true, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(inc, reb, n1);
    free(inc);
    free(reb);
    kd_kel_state_free(st);
}

/* ---- building signed events ---- */

struct tk {
    struct kd_signer s;
    char pub[KD_PREFIX_QB64_LEN + 1]; /* transferable D key */
    char dig[KD_DIGEST_QB64_LEN + 1]; /* its next-key digest */
};

/* A deterministic key number no. */
static void tk_make(struct tk *k, unsigned no)
{
    unsigned char raw[32];
    char seed[KD_SEED_QB64_LEN + 1];

    char label[40];

    snprintf(label, sizeof label, "kerid-test-key-%u", no);
    kd_blake3_256(label, strlen(label), raw);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519_SEED, raw, 32, seed, sizeof seed, NULL),
                     KD_OK);
    assert_int_equal(kd_signer_from_seed(&k->s, seed, strlen(seed), NULL), KD_OK);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519, k->s.pk, 32, k->pub, sizeof k->pub, NULL),
                     KD_OK);
    kd_blake3_256_qb64(k->pub, strlen(k->pub), k->dig);
}

static void tk_from_seed(struct tk *k, const char *seed)
{
    assert_int_equal(kd_signer_from_seed(&k->s, seed, strlen(seed), NULL), KD_OK);
    assert_int_equal(kd_cesr_qb64_encode(KD_CESR_ED25519, k->s.pk, 32, k->pub, sizeof k->pub, NULL),
                     KD_OK);
    kd_blake3_256_qb64(k->pub, strlen(k->pub), k->dig);
}

static struct kd_event g_ev;

#define H17 "#################"
#define H44 "############################################"

/* Formats a template (v and saidive fields as '#'), fills size and SAID.
 * said/prefix (optional) get d and i. Caller frees. */
static char *mk(char said[KD_KEL_ID_MAX + 1], char prefix[KD_KEL_ID_MAX + 1], const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *mk(char said[KD_KEL_ID_MAX + 1], char prefix[KD_KEL_ID_MAX + 1], const char *fmt, ...)
{
    va_list ap;
    char *body = malloc(8192);
    struct kd_event_diag d = {0};
    int n;

    assert_non_null(body);
    va_start(ap, fmt);
    n = vsnprintf(body, 8192, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < 8192);
    if (kd_said_fill(&g_ev, body, (size_t)n, &d) != KD_OK)
        fail_msg("template: %s (%s) at %u: %s", kd_event_fault_name(d.fault), d.why, d.offset,
                 body);
    if (said != NULL)
        snprintf(said, KD_KEL_ID_MAX + 1, "%.*s", (int)g_ev.d.len,
                 (const char *)g_ev.raw + g_ev.d.off);
    if (prefix != NULL)
        snprintf(prefix, KD_KEL_ID_MAX + 1, "%.*s", (int)g_ev.i.len,
                 (const char *)g_ev.raw + g_ev.i.off);
    return body;
}

/* "\"a\",\"b\"" of n qb64 strings taken from keys (pub or dig). */
static char *qlist(struct tk **keys, unsigned n, bool dig)
{
    static char buf[4][4096];
    static unsigned which;
    char *b = buf[which++ % 4];
    size_t at = 0;

    b[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        at += (size_t)snprintf(b + at, 4096 - at, "%s\"%s\"", i ? "," : "",
                               dig ? keys[i]->dig : keys[i]->pub);
    return b;
}

/* A signature spec: key, index, ondex (-1: none/current-only code), big code. */
struct sg {
    struct tk *key;
    unsigned index;
    int ondex;
    bool big;
};

/* body + -A group of the given signatures; caller frees. */
static char *signed_msg(const char *body, const struct sg *sgs, unsigned n)
{
    size_t len = strlen(body);
    char *out = malloc(len + 8 + n * 100);
    char ctr[8];
    size_t at = len;

    assert_non_null(out);
    memcpy(out, body, len);
    assert_int_equal(
        kd_cesr_counter_encode(KD_CESR_CTR_CONTROLLER_IDX_SIGS, n, ctr, sizeof ctr, NULL), KD_OK);
    memcpy(out + at, ctr, 4);
    at += 4;
    for (unsigned i = 0; i < n; i++) {
        unsigned char sig[64];
        enum kd_cesr_idx_code code;
        int32_t ondex;
        size_t m;

        kd_signer_sign(&sgs[i].key->s, body, len, sig);
        if (sgs[i].ondex < 0) {
            code = sgs[i].big ? KD_CESR_IDX_ED25519_BIG_CRT : KD_CESR_IDX_ED25519_CRT;
            ondex = KD_CESR_ONDEX_NONE;
        } else {
            code = sgs[i].big ? KD_CESR_IDX_ED25519_BIG : KD_CESR_IDX_ED25519;
            ondex = sgs[i].ondex;
        }
        assert_int_equal(
            kd_cesr_siger_encode(code, sgs[i].index, ondex, sig, 64, out + at, 100, &m), KD_OK);
        at += m;
    }
    out[at] = '\0';
    return out;
}

/* body signed by keys[0..n) at their own indices (code A); caller frees. */
static char *signed_by(const char *body, struct tk **keys, unsigned n)
{
    struct sg s[16];

    assert_true(n <= 16);
    for (unsigned i = 0; i < n; i++)
        s[i] = (struct sg){keys[i], i, (int)i, false};
    return signed_msg(body, s, n);
}

/* Processes body signed by keys; frees nothing. */
static struct kd_kel_result run_signed(struct fx *fx, const char *body, struct tk **keys,
                                       unsigned n)
{
    char *m = signed_by(body, keys, n);
    struct kd_kel_result r = run1(fx, m);

    free(m);
    return r;
}

/* An icp with n keys (threshold kt), next keys (threshold nt), witnesses
 * (JSON list items), toad, traits. */
static char *mk_icp(char pre[KD_KEL_ID_MAX + 1], struct tk **keys, unsigned nk, const char *kt,
                    struct tk **next, unsigned nn, const char *nt, const char *wits, unsigned bt,
                    const char *traits)
{
    return mk(NULL, pre,
              "{\"v\":\"" H17 "\",\"t\":\"icp\",\"d\":\"" H44 "\",\"i\":\"" H44
              "\",\"s\":\"0\",\"kt\":%s,\"k\":[%s],\"nt\":%s,\"n\":[%s],\"bt\":\"%x\",\"b\":[%s],"
              "\"c\":[%s],\"a\":[]}",
              kt, qlist(keys, nk, false), nt, qlist(next, nn, true), bt, wits, traits);
}

static char *mk_ixn(char said[KD_KEL_ID_MAX + 1], const char *pre, unsigned sn, const char *prior,
                    const char *seals)
{
    return mk(said, NULL,
              "{\"v\":\"" H17 "\",\"t\":\"ixn\",\"d\":\"" H44
              "\",\"i\":\"%s\",\"s\":\"%x\",\"p\":\"%s\",\"a\":[%s]}",
              pre, sn, prior, seals);
}

static char *mk_rot(char said[KD_KEL_ID_MAX + 1], const char *ilk, const char *pre, unsigned sn,
                    const char *prior, struct tk **keys, unsigned nk, const char *kt,
                    struct tk **next, unsigned nn, const char *nt, unsigned bt, const char *cuts,
                    const char *adds)
{
    return mk(said, NULL,
              "{\"v\":\"" H17 "\",\"t\":\"%s\",\"d\":\"" H44
              "\",\"i\":\"%s\",\"s\":\"%x\",\"p\":\"%s\",\"kt\":%s,\"k\":[%s],\"nt\":%s,"
              "\"n\":[%s],\"bt\":\"%x\",\"br\":[%s],\"ba\":[%s],\"a\":[]}",
              ilk, pre, sn, prior, kt, qlist(keys, nk, false), nt, qlist(next, nn, true), bt, cuts,
              adds);
}

/* Processes a message given as body bytes and attachment text, without
 * framing the body by its version string (for bodies whose size is wrong). */
struct run_m {
    struct kd_kel *k;
    struct kd_cesr_msg msg;
    struct kd_kel_result res;
};

static enum kd_err run_m_fn(struct kd_store_txn *txn, void *arg)
{
    struct run_m *r = arg;

    return kd_kel_process(r->k, txn, &r->msg, T0, &r->res);
}

static struct kd_kel_result run_parts(struct fx *fx, const char *body, size_t len, const char *att)
{
    struct run_m r;
    struct kd_cesr_error e;

    memset(&r, 0, sizeof r);
    r.k = fx->k;
    r.msg.body = (const unsigned char *)body;
    r.msg.body_len = len;
    assert_int_equal(kd_cesr_attach_parse(att, strlen(att), 0, NULL, &r.msg.att, &e), KD_OK);
    assert_int_equal(kd_store_write_sync(fx->s, run_m_fn, &r), KD_OK);
    return r.res;
}

/* Closes and removes the store, opens a fresh one and a fresh engine. */
static void fx_reset(struct fx *fx)
{
    kd_store_close(fx->s);
    fx_rm(fx, "");
    fx_rm(fx, "-wal");
    fx_rm(fx, "-shm");
    fx_open(fx);
    memset(&fx->log.n, 0, sizeof fx->log.n);
    fx_engine(fx);
}

/* ---- keripy vectors ---- */

/* Checks the stored key state of e's prefix after e against the vector:
 * sn, SAID, keys, thresholds, witnesses, toad, next digests (from the body). */
static void check_state(struct fx *fx, const json_t *e, const json_t *kt, const json_t *nt)
{
    const char *raw = jstr(e, "raw");
    const json_t *keys = json_object_get(e, "keys"), *wits = json_object_get(e, "wits");
    struct kd_kel_state *st = state_of(fx, jstr(e, "pre"));
    struct kd_event *ev = malloc(sizeof *ev);
    char *want;

    assert_non_null(st);
    assert_non_null(ev);
    assert_int_equal(kd_event_parse(ev, raw, strlen(raw), NULL), KD_OK);
    assert_true(st->sn == (kd_sn_t)json_integer_value(json_object_get(e, "sn")));
    assert_string_equal(st->said, jstr(e, "said"));
    assert_string_equal(st->prefix, jstr(e, "pre"));
    assert_int_equal(st->ilk, ev->ilk);
    assert_int_equal(st->nkeys, json_array_size(keys));
    for (unsigned i = 0; i < st->nkeys; i++) {
        assert_string_equal(kd_kel_str(st, st->keys[i]),
                            json_string_value(json_array_get(keys, i)));
        assert_true(st->key_ok[i]);
    }
    assert_int_equal(st->nwits, json_array_size(wits));
    for (unsigned i = 0; i < st->nwits; i++)
        assert_string_equal(kd_kel_str(st, st->wits[i]),
                            json_string_value(json_array_get(wits, i)));
    assert_int_equal(st->bt, json_integer_value(json_object_get(e, "toad")));
    if (ev->ilk != KD_ILK_IXN) {
        assert_int_equal(st->nndigs, ev->ndigs.count);
        for (unsigned i = 0; i < st->nndigs; i++)
            assert_memory_equal(kd_kel_str(st, st->ndigs[i]), raw + ev->ndigs.item[i].off, 44);
        assert_true(st->ee_sn == ev->sn);
        assert_string_equal(st->ee_said, jstr(e, "said"));
    }
    if (kt != NULL) {
        want = json_dumps(kt, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(kd_kel_str(st, st->kt), want);
        free(want);
        want = json_dumps(nt, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(kd_kel_str(st, st->nt), want);
        free(want);
    } else {
        assert_string_equal(kd_kel_str(st, st->kt), "\"1\"");
    }
    free(ev);
    kd_kel_state_free(st);
}

/* Feeds events[field] in order; every one accepted with the vector's values. */
static void feed_kel(struct fx *fx, const json_t *events, const char *field, const json_t *kt,
                     const json_t *nt)
{
    for (size_t i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);
        struct kd_kel_result r = run1(fx, jstr(e, field));

        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_string_equal(r.said, jstr(e, "said"));
        assert_string_equal(r.prefix, jstr(e, "pre"));
        assert_true(r.sn == (kd_sn_t)json_integer_value(json_object_get(e, "sn")));
        assert_int_equal(r.fn, i);
        check_state(fx, e, kt, nt);
    }
}

/* Every event again: duplicates, nothing new stored. */
static void feed_again(struct fx *fx, const json_t *events, const char *field)
{
    for (size_t i = 0; i < json_array_size(events); i++) {
        struct kd_kel_result r = run1(fx, jstr(json_array_get(events, i), field));

        assert_verdict(r, KD_KEL_DUPLICATE);
        assert_int_equal(r.sigs_added, 0);
    }
}

static void test_vectors_single_sig(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    const char *pre = jstr(json_object_get(j, "controller"), "pre");

    /* a validator, with the fully witnessed messages */
    feed_kel(fx, events, "message_witnessed", NULL, NULL);
    assert_rebuild(fx, pre);
    feed_again(fx, events, "message_witnessed");
    for (size_t i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);

        assert_int_equal(sigs_of(fx, jstr(e, "said"), KD_STORE_SIG_CONTROLLER), 1);
        assert_int_equal(sigs_of(fx, jstr(e, "said"), KD_STORE_SIG_WITNESS), 3);
        assert_event_at(fx, pre, i, jstr(e, "said"));
    }
    /* fully witnessed: toad 3 and 3 wigs */
    {
        bool yes = false;
        const json_t *e = json_array_get(events, 2);

        assert_int_equal(
            kd_kel_fully_witnessed(kd_store_reader(fx->s), pre, 2, jstr(e, "said"), &yes), KD_OK);
        assert_true(yes);
        assert_int_equal(
            kd_kel_fully_witnessed(kd_store_reader(fx->s), pre, 1, jstr(e, "said"), &yes), KD_OK);
        assert_false(yes); /* wrong sn for that SAID */
    }
    /* the KEL served as one stream */
    fx_reset(fx);
    {
        const char *stream = jstr(j, "kel_stream");
        struct kd_kel_body_result b = run_body(fx, stream, strlen(stream), T0);

        assert_int_equal(b.messages, 4);
        assert_int_equal(b.verdicts[KD_KEL_ACCEPTED], 4);
        assert_int_equal(b.err, KD_OK);
        check_state(fx, json_array_get(events, 3), NULL, NULL);
        assert_rebuild(fx, pre);
    }
    json_decref(j);
}

static void test_vectors_multisig(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_multisig.json");
    const json_t *kels = json_object_get(j, "kels");

    for (size_t n = 0; n < json_array_size(kels); n++) {
        const json_t *kel = json_array_get(kels, n);
        const json_t *events = json_object_get(kel, "events");
        const char *pre = jstr(json_object_get(kel, "controller"), "pre");

        fx_reset(fx);
        feed_kel(fx, events, "message_witnessed", json_object_get(kel, "kt"),
                 json_object_get(kel, "nt"));
        assert_rebuild(fx, pre);
        /* the minimal accepted subset (indices 0 and 2) is enough alone */
        fx_reset(fx);
        for (size_t i = 0; i < json_array_size(events); i++) {
            const json_t *e = json_array_get(events, i);
            char *m;
            size_t rl = strlen(jstr(e, "raw")), al = strlen(jstr(e, "alt_controller_sigs"));
            const char *w = jstr(e, "witness_sigs");
            struct kd_kel_result r;

            m = malloc(rl + al + strlen(w) + 1);
            assert_non_null(m);
            sprintf(m, "%s%s%s", jstr(e, "raw"), jstr(e, "alt_controller_sigs"), w);
            r = run1(fx, m);
            assert_verdict(r, KD_KEL_ACCEPTED);
            assert_int_equal(sigs_of(fx, jstr(e, "said"), KD_STORE_SIG_CONTROLLER), 2);
            free(m);
        }
        assert_rebuild(fx, pre);
    }
    json_decref(j);
}

static void test_vectors_delegated(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_delegated.json");
    const json_t *dor = json_object_get(j, "delegator"), *dee = json_object_get(j, "delegate");
    const json_t *dor_ev = json_object_get(dor, "events"), *dee_ev = json_object_get(dee, "events");
    const json_t *anchors = json_object_get(j, "anchors");
    struct kd_kel_state *st;
    uint64_t dsn;
    char dsaid[KD_STORE_ID_MAX + 1];

    feed_kel(fx, dor_ev, "message_witnessed", NULL, NULL);
    feed_kel(fx, dee_ev, "message_witnessed", NULL, NULL);
    st = state_of(fx, jstr(dee, "pre"));
    assert_string_equal(st->delegator, jstr(dor, "pre"));
    kd_kel_state_free(st);
    for (size_t i = 0; i < 2; i++) {
        const json_t *a = json_array_get(anchors, i);

        assert_int_equal(kd_store_anchor_get(kd_store_reader(fx->s),
                                             jstr(json_array_get(dee_ev, i), "said"), &dsn, dsaid),
                         KD_OK);
        assert_int_equal(dsn, json_integer_value(json_object_get(a, "delegator_sn")));
        assert_string_equal(dsaid, jstr(a, "delegator_said"));
    }
    assert_rebuild(fx, jstr(dee, "pre"));
    assert_rebuild(fx, jstr(dor, "pre"));

    /* keripy's order check: the dip before its anchor is escrowed, and
     * accepted once the anchoring event arrives */
    fx_reset(fx);
    assert_verdict(run1(fx, jstr(json_array_get(dor_ev, 0), "message_witnessed")), KD_KEL_ACCEPTED);
    {
        struct kd_kel_result r = run1(fx, jstr(json_array_get(dee_ev, 0), "message_witnessed"));

        assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_DEL);
        assert_string_equal(r.waits_on, jstr(dor, "pre"));
        assert_null(state_of(fx, jstr(dee, "pre")));
        r = run1(fx, jstr(json_array_get(dor_ev, 1), "message_witnessed"));
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(r.released, 1);
        assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_DEL), 0);
        check_state(fx, json_array_get(dee_ev, 0), NULL, NULL);
    }
    /* the drt without its -G couple is found through the seal index too */
    {
        const json_t *drt = json_array_get(dee_ev, 1);
        char *m = malloc(strlen(jstr(drt, "raw")) + 1024);
        struct kd_kel_result r;

        assert_non_null(m);
        sprintf(m, "%s%s%s", jstr(drt, "raw"), jstr(drt, "controller_sigs"),
                jstr(drt, "witness_sigs"));
        r = run1(fx, m);
        assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_DEL); /* its anchor is not there yet */
        r = run1(fx, jstr(json_array_get(dor_ev, 2), "message_witnessed"));
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(r.released, 1);
        check_state(fx, drt, NULL, NULL);
        free(m);
    }
    assert_rebuild(fx, jstr(dee, "pre"));
    json_decref(j);
}

/* keripy's witness answers: the KEL replay is accepted by a validator. */
static void test_vectors_oobi_replay(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/oobi_witness.json");
    json_t *kel = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *replies = json_object_get(j, "replies");

    for (size_t i = 0; i < json_array_size(replies); i++) {
        const json_t *r = json_array_get(replies, i);
        const char *body = jstr(r, "body");
        struct kd_kel_body_result b;

        fx_reset(fx);
        b = run_body(fx, body, strlen(body), T0);
        assert_int_equal(b.err, KD_OK);
        assert_int_equal(b.verdicts[KD_KEL_REJECTED], 0);
        assert_true(b.verdicts[KD_KEL_ACCEPTED] >= 1);
        if (strstr(jstr(r, "path"), "/witness/") != NULL) {
            const json_t *events = json_object_get(kel, "events");

            assert_int_equal(b.verdicts[KD_KEL_ACCEPTED], json_array_size(events));
            check_state(fx, json_array_get(events, json_array_size(events) - 1), NULL, NULL);
        } else {
            /* wan's own non-transferable inception */
            struct kd_kel_state *st = state_of(fx, WAN);

            assert_non_null(st);
            assert_int_equal(st->nndigs, 0);
            kd_kel_state_free(st);
        }
    }
    json_decref(kel);
    json_decref(j);
}

/* ---- witness and validator behaviour, receipts ---- */

struct sig_texts {
    unsigned n;
    char text[8][KD_STORE_SIG_MAX + 1];
};

static enum kd_err sig_text_cb(const char *sig, size_t len, void *arg)
{
    struct sig_texts *t = arg;

    if (t->n < 8)
        snprintf(t->text[t->n++], sizeof t->text[0], "%.*s", (int)len, sig);
    return KD_OK;
}

/* "raw + att" of an event of the vector; caller frees. */
static char *cat3(const char *a, const char *b, const char *c)
{
    char *m = malloc(strlen(a) + strlen(b) + strlen(c) + 1);

    assert_non_null(m);
    sprintf(m, "%s%s%s", a, b, c);
    return m;
}

static void test_witness_receipts(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    const char *pre = jstr(json_object_get(j, "controller"), "pre");

    fx_as_wan(fx);
    for (size_t i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);
        const json_t *rc = json_object_get(e, "receipts");
        const json_t *wan = json_array_get(json_object_get(rc, "per_witness"), 0);
        struct kd_kel_result r = run1(fx, jstr(e, "message"));
        struct sig_texts t = {0};

        /* a witness named in b accepts without other receipts */
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(r.own_index, 0);
        assert_int_equal(fx->log.own_index[i], 0);
        assert_int_equal(fx->log.n, i + 1);
        /* its own wig, signed in the accept callback: keripy's wan made the same */
        assert_int_equal(kd_store_sig_each(kd_store_reader(fx->s), jstr(e, "said"),
                                           KD_STORE_SIG_WITNESS, sig_text_cb, &t),
                         KD_OK);
        assert_int_equal(t.n, 1);
        assert_string_equal(t.text[0], jstr(wan, "wig"));
        /* the controller's receipt message with all three couples: wan's is known */
        r = run1(fx, jstr(rc, "rct_with_couples"));
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(r.sigs_added, 2);
        assert_int_equal(sigs_of(fx, jstr(e, "said"), KD_STORE_SIG_WITNESS), 3);
        r = run1(fx, jstr(rc, "rct_with_couples"));
        assert_verdict(r, KD_KEL_DUPLICATE);
        assert_int_equal(r.sigs_added, 0);
        /* the same event again: a duplicate, no new receipt made */
        r = run1(fx, jstr(e, "message"));
        assert_verdict(r, KD_KEL_DUPLICATE);
        assert_int_equal(r.own_index, 0);
        assert_int_equal(fx->log.n, i + 1);
    }
    assert_rebuild(fx, pre);
    json_decref(j);
}

/* A validator waits for bt receipts; receipts may come first or later. */
static void test_validator_receipts(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    const json_t *e0 = json_array_get(events, 0), *e1 = json_array_get(events, 1);
    const json_t *rc0 = json_object_get(e0, "receipts"), *rc1 = json_object_get(e1, "receipts");
    const char *pre = jstr(json_object_get(j, "controller"), "pre");
    struct kd_kel_result r;

    /* event first: partially witnessed; the receipts release it */
    r = run1(fx, jstr(e0, "message"));
    assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_WIT);
    assert_null(state_of(fx, pre));
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_WIT), 1);
    /* each witness's own rct + pipelined -B wig, one after the other */
    for (unsigned w = 0; w < 3; w++) {
        const json_t *pw = json_array_get(json_object_get(rc0, "per_witness"), w);

        r = run1(fx, jstr(pw, "witness_rct_msg"));
        if (w < 2) {
            assert_escrowed(r, KD_STORE_ESCROW_UNVERIFIED_WIT_RCT);
            assert_null(state_of(fx, pre));
        } else {
            assert_verdict(r, KD_KEL_ACCEPTED);
        }
    }
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_WIT), 0);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_UNVERIFIED_WIT_RCT), 0);
    assert_int_equal(sigs_of(fx, jstr(e0, "said"), KD_STORE_SIG_WITNESS), 3);
    check_state(fx, e0, NULL, NULL);

    /* receipts first: kept, then counted for the event's toad */
    r = run1(fx, jstr(rc1, "rct_with_couples"));
    assert_escrowed(r, KD_STORE_ESCROW_UNVERIFIED_NT_RCT);
    r = run1(fx, jstr(e1, "message"));
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_UNVERIFIED_NT_RCT), 0);
    assert_int_equal(sigs_of(fx, jstr(e1, "said"), KD_STORE_SIG_WITNESS), 3);
    check_state(fx, e1, NULL, NULL);

    /* a stale receipt: d names no event of this identifier */
    {
        char *bad = strdup(jstr(rc0, "rct_with_couples"));
        char *d = strstr(bad, "\"d\":\"") + 5;

        d[10] = d[10] == 'A' ? 'B' : 'A';
        assert_rejected(run1(fx, bad), KD_KEL_F_RCT_STALE);
        free(bad);
    }
    /* keriox clients send s = 0 for later events (keriox-surface §7 #10) */
    {
        char *m = strdup(jstr(rc1, "rct_with_couples"));

        strstr(m, "\"s\":\"1\"")[5] = '0';
        r = run1(fx, m);
        assert_verdict(r, KD_KEL_DUPLICATE);
        assert_true(r.sn == 1);
        free(m);
    }
    /* a receipt whose only signature is bad */
    {
        char *m = strdup(jstr(rc1, "rct_with_couples"));
        char *c = strstr(m, "-CAD");

        strcpy(c, jstr(json_array_get(json_object_get(rc1, "per_witness"), 0), "couple"));
        memmove(c + 4, c, strlen(c) + 1);
        memcpy(c, "-CAB", 4);
        c[4 + 44 + 10] = c[4 + 44 + 10] == 'A' ? 'B' : 'A';
        r = run1(fx, m);
        assert_rejected(r, KD_KEL_F_RCT_BAD_SIG);
        assert_int_equal(r.bad_sigs, 1);
        free(m);
    }
    /* a receipt without any signature */
    {
        assert_rejected(run1(fx, jstr(rc1, "rct")), KD_KEL_F_RCT_NO_SIGS);
    }
    /* a non-witness endorsement is kept apart and does not count for the toad */
    {
        struct tk other;
        char sig[KD_SIG_QB64_LEN + 1], *m;
        struct kd_buf b;

        tk_make(&other, 77);
        kd_signer_sign_qb64(&other.s, jstr(e1, "raw"), strlen(jstr(e1, "raw")), sig);
        kd_buf_init(&b, 0);
        assert_int_equal(kd_kel_receipt_msg(&b, pre, 1, jstr(e1, "said"), other.s.prefix, sig),
                         KD_OK);
        m = strndup((const char *)b.data, b.len);
        r = run1(fx, m);
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(sigs_of(fx, jstr(e1, "said"), KD_STORE_SIG_NT_RECEIPT), 1);
        assert_int_equal(sigs_of(fx, jstr(e1, "said"), KD_STORE_SIG_WITNESS), 3);
        free(m);
        kd_buf_free(&b);
        kd_signer_wipe(&other.s);
    }
    json_decref(j);
}

/* keri-core §7.3: the exact receipt bytes wan makes for a witnessed icp. */
static void test_receipt_known_answer(void **state)
{
    static const char icp[] =
        "{\"v\":\"KERI10JSON000159_\",\"t\":\"icp\",\"d\":\"EPoSfl_OQNsRirytQpw21eS_LAIQmQQiZznyC1K"
        "tKDUo\",\"i\":\"EPoSfl_OQNsRirytQpw21eS_LAIQmQQiZznyC1KtKDUo\",\"s\":\"0\",\"kt\":\"1\","
        "\"k\":[\"DGmIfLmgErg4zFHfPwaDckLNxsLqc5iS_P0QbLjbWR0I\"],\"nt\":\"1\",\"n\":[\"EJhRr10e5p"
        "7LVB6JwLDIcgqsISktnfe5m60O_I2zZO6N\"],\"bt\":\"1\",\"b\":[\"BBilc4-L3tFUnfM_wJr4S4OJanAv_"
        "VmF_dJNN6vkf2Ha\"],\"c\":[],\"a\":[]}";
    static const char sigs[] = "-AABAACWKU3Af0Z61tHwrHfS_HPrYGkFrMupnYoKUQpEQ_-c4WxFz4zoSCok3LEd"
                               "6Z5bZ5EoUAp9NtDZXDIsVZSmqYMK";
    static const char rct[] =
        "{\"v\":\"KERI10JSON000091_\",\"t\":\"rct\",\"d\":\"EPoSfl_OQNsRirytQpw21eS_LAIQmQQiZznyC1K"
        "tKDUo\",\"i\":\"EPoSfl_OQNsRirytQpw21eS_LAIQmQQiZznyC1KtKDUo\",\"s\":\"0\"}-CABBBilc4-L3t"
        "FUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha0BBthmtP3nIX2JzUJwyA_QB-mnBgvev6Ejg2l2mUKOeUWblyLoxsY"
        "F8gmSydEpNV7toTeHOkV34oNqd3VP9NBSwC";
    static const char wig[] = "AABthmtP3nIX2JzUJwyA_QB-mnBgvev6Ejg2l2mUKOeUWblyLoxsYF8gmSydEpNV7"
                              "toTeHOkV34oNqd3VP9NBSwC";
    struct fx *fx = *state;
    char *m = cat3(icp, sigs, "");
    struct kd_kel_result r;
    struct sig_texts t = {0};
    char sig[KD_SIG_QB64_LEN + 1];
    struct kd_buf b;

    fx_as_wan(fx);
    r = run1(fx, m);
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.own_index, 0);
    assert_int_equal(
        kd_store_sig_each(kd_store_reader(fx->s), r.said, KD_STORE_SIG_WITNESS, sig_text_cb, &t),
        KD_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.text[0], wig);
    kd_signer_sign_qb64(&fx->log.wan, icp, strlen(icp), sig);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_kel_receipt_msg(&b, r.prefix, 0, r.said, WAN, sig), KD_OK);
    assert_int_equal(b.len, strlen(rct));
    assert_memory_equal(b.data, rct, b.len);
    assert_int_equal(kd_kel_receipt_msg(&b, r.prefix, 0, r.said,
                                        "DGmIfLmgErg4zFHfPwaDckLNxsLqc5iS_P0QbLjbWR0I", sig),
                     KD_EINVAL); /* not a witness prefix */
    kd_buf_free(&b);
    free(m);
}

/* ---- invalid events (keripy's verdicts) ---- */

static void test_vectors_invalid(void **state)
{
    static const struct {
        const char *name;
        enum kd_kel_verdict verdict;
        enum kd_kel_fault fault;          /* REJECTED */
        enum kd_store_escrow_kind escrow; /* ESCROWED */
    } want[] = {
        {"ixn_bad_signature", KD_KEL_REJECTED, KD_KEL_F_BAD_SIG, 0},
        {"ixn_wrong_prior_digest", KD_KEL_REJECTED, KD_KEL_F_PRIOR, 0},
        {"ixn_wrong_sn_gap", KD_KEL_ESCROWED, 0, KD_STORE_ESCROW_OUT_OF_ORDER},
        /* keripy: likely duplicitous escrow; kerid records the evidence */
        {"ixn_sn_zero", KD_KEL_DUPLICITOUS, 0, 0},
        /* keripy: partially signed escrow (prior next threshold unmet) */
        {"rot_wrong_next_key_commitment", KD_KEL_ESCROWED, 0, KD_STORE_ESCROW_PARTIAL_SIG},
        {"icp_bad_said", KD_KEL_REJECTED, KD_KEL_F_BODY, 0},
        {"icp_bad_version_size", KD_KEL_REJECTED, KD_KEL_F_BODY, 0},
        {"ixn_signed_by_next_key", KD_KEL_REJECTED, KD_KEL_F_BAD_SIG, 0},
        {"icp_insufficient_witness_sigs", KD_KEL_ESCROWED, 0, KD_STORE_ESCROW_PARTIAL_WIT},
    };
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/invalid_events.json");
    const json_t *cases = json_object_get(j, "cases");

    assert_int_equal(json_array_size(cases), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        const char *prior = jstr(c, "prior_stream"), *raw = jstr(c, "raw");
        char *att = cat3(jstr(c, "controller_sigs"), jstr_opt(c, "witness_sigs"), "");
        struct kd_kel_body_result b;
        struct kd_kel_result r;
        char *before = NULL, pre[KD_KEL_ID_MAX + 1];
        size_t blen = 0;

        assert_string_equal(jstr(c, "name"), want[i].name);
        fx_reset(fx);
        b = run_body(fx, prior, strlen(prior), T0);
        assert_int_equal(b.verdicts[KD_KEL_ACCEPTED],
                         json_integer_value(json_object_get(c, "prior_events")));
        snprintf(pre, sizeof pre, "%.44s", strstr(raw, "\"i\":\"") + 5);
        before = state_blob_of(fx, pre, true, &blen);
        r = run_parts(fx, raw, strlen(raw), att);
        if (r.verdict != want[i].verdict)
            fail_msg("%s: %s (%s), expected %s", want[i].name, kd_kel_verdict_name(r.verdict),
                     r.why, kd_kel_verdict_name(want[i].verdict));
        if (r.verdict == KD_KEL_REJECTED) {
            assert_int_equal(r.fault, want[i].fault);
            assert_true(kd_err_status(r.err) >= 400 && kd_err_status(r.err) < 500);
        }
        if (r.verdict == KD_KEL_ESCROWED)
            assert_int_equal(r.escrow, want[i].escrow);
        /* never accepted: the state is what it was */
        assert_same_state(fx, pre, before, blen);
        assert_int_equal(fx->log.n, json_integer_value(json_object_get(c, "prior_events")));
        free(before);
        free(att);
    }
    /* the signature case is a 403 */
    assert_int_equal(kd_err_status(kd_kel_fault_err(KD_KEL_F_BAD_SIG)), 403);
    /* as a witness, the insufficiently witnessed icp is accepted (§4.6) */
    {
        const json_t *c = json_array_get(cases, 8);
        char *att = cat3(jstr(c, "controller_sigs"), jstr_opt(c, "witness_sigs"), "");

        fx_reset(fx);
        fx_as_wan(fx);
        assert_verdict(run_parts(fx, jstr(c, "raw"), strlen(jstr(c, "raw")), att), KD_KEL_ACCEPTED);
        free(att);
    }
    json_decref(j);
}

/* ---- §4 rules, case by case, on events built here ---- */

/* A fresh key set: keys[i] is key number base + i. */
static void keys_make(struct tk *store, struct tk **ptrs, unsigned n, unsigned base)
{
    for (unsigned i = 0; i < n; i++) {
        tk_make(&store[i], base + i);
        ptrs[i] = &store[i];
    }
}

static void keys_wipe(struct tk *store, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        kd_signer_wipe(&store[i].s);
}

static void test_rules_signatures(void **state)
{
    struct fx *fx = *state;
    struct tk ks[12], *k[12];
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1];
    char *icp, *m;
    struct kd_kel_result r;

    keys_make(ks, k, 12, 100);
    /* one key: no signature, a foreign key, an index beyond the keys */
    icp = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", "", 0, "");
    assert_rejected(run1(fx, icp), KD_KEL_F_NO_SIGS);
    {
        const struct sg foreign = {k[5], 0, 0, false}, beyond = {k[0], 5, 5, false};

        m = signed_msg(icp, &foreign, 1);
        assert_rejected(run1(fx, m), KD_KEL_F_BAD_SIG);
        free(m);
        m = signed_msg(icp, &beyond, 1);
        assert_rejected(run1(fx, m), KD_KEL_F_BAD_SIG); /* dropped, not a crash */
        free(m);
        {
            const struct sg both[2] = {{k[0], 5, 5, false}, {k[0], 0, 0, false}};

            m = signed_msg(icp, both, 2);
            r = run1(fx, m);
            assert_verdict(r, KD_KEL_ACCEPTED);
            assert_int_equal(r.sigs_added, 1); /* only the one that verified */
            free(m);
        }
    }
    free(icp);

    /* 2 of 3: a duplicated signature counts once; the missing one completes */
    icp = mk_icp(pre, k + 2, 3, "\"2\"", k + 5, 3, "\"2\"", "", 0, "");
    {
        const struct sg twice[2] = {{k[2], 0, 0, false}, {k[2], 0, 0, false}};
        const struct sg second = {k[3], 1, 1, false};

        m = signed_msg(icp, twice, 2);
        r = run1(fx, m);
        assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
        free(m);
        assert_null(state_of(fx, pre));
        m = signed_msg(icp, &second, 1);
        r = run1(fx, m);
        assert_verdict(r, KD_KEL_ACCEPTED);
        assert_int_equal(sigs_of(fx, r.said, KD_STORE_SIG_CONTROLLER), 2);
        assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_SIG), 0);
        free(m);
    }
    free(icp);
    /* an interaction of that 2-of-3 identifier, signed in two halves */
    {
        char *ixn;
        struct kd_kel_state *st = state_of(fx, pre);
        const struct sg a = {k[4], 2, 2, false}, b = {k[2], 0, 0, false};

        ixn = mk_ixn(said, pre, 1, st->said, "");
        m = signed_msg(ixn, &a, 1);
        assert_escrowed(run1(fx, m), KD_STORE_ESCROW_PARTIAL_SIG);
        free(m);
        m = signed_msg(ixn, &b, 1);
        assert_verdict(run1(fx, m), KD_KEL_ACCEPTED);
        free(m);
        free(ixn);
        kd_kel_state_free(st);
        assert_rebuild(fx, pre);
    }
    keys_wipe(ks, 12);
}

/* Weighted thresholds with clauses and nested weights (keri-core §4.3
 * known answers from keripy's test_tholder). */
static void test_rules_weighted(void **state)
{
    static const struct {
        const char *kt;
        int first[8], then[8]; /* index lists ending in -1 */
        bool first_ok;
    } cases[] = {
        {"[[\"1/2\",\"1/2\",\"1/4\",\"1/4\",\"1/4\"],[\"1\",\"1\"]]", {0, 1, -1}, {6, -1}, false},
        {"[[\"1/2\",\"1/2\",\"1/4\",\"1/4\",\"1/4\"],[\"1\",\"1\"]]",
         {5, 6, -1},
         {1, 2, 3, -1},
         false},
        {"[[\"1/2\",\"1/2\",\"1/4\",\"1/4\",\"1/4\"],[\"1\",\"1\"]]", {1, 2, 3, 5, -1}, {-1}, true},
        {"[{\"1/3\":[\"1/2\",\"1/2\",\"1/2\"]},\"1/3\",\"1/2\",{\"1/2\":[\"1\",\"1\"]}]",
         {2, 3, 4, -1},
         {0, 6, -1},
         false},
        {"[{\"1/3\":[\"1/2\",\"1/2\",\"1/2\"]},\"1/3\",\"1/2\",{\"1/2\":[\"1\",\"1\"]}]",
         {0, 2, 5, -1},
         {3, -1},
         false},
        {"[{\"1/3\":[\"1/2\",\"1/2\",\"1/2\"]},\"1/3\",\"1/2\",{\"1/2\":[\"1\",\"1\"]}]",
         {4, 6, -1},
         {-1},
         true},
        {"[\"1/2\",\"1/2\",\"1/4\",\"1/4\",\"1/4\"]", {0, 2, -1}, {4, -1}, false},
        {"[\"1/2\",\"1/2\",\"1/4\",\"1/4\",\"1/4\"]", {2, 3, 4, -1}, {-1}, false},
    };
    struct fx *fx = *state;

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct tk ks[8], *k[8];
        char pre[KD_KEL_ID_MAX + 1];
        struct sg s[8];
        unsigned n = 0;
        char *icp, *m;
        struct kd_kel_result r;

        keys_make(ks, k, 8, 200 + (unsigned)c * 10);
        icp = mk_icp(pre, k, 7, cases[c].kt, k + 7, 1, "\"1\"", "", 0, "");
        for (unsigned i = 0; cases[c].first[i] >= 0; i++, n++)
            s[n] = (struct sg){k[cases[c].first[i]], (unsigned)cases[c].first[i], cases[c].first[i],
                               false};
        m = signed_msg(icp, s, n);
        r = run1(fx, m);
        free(m);
        if (cases[c].first_ok) {
            assert_verdict(r, KD_KEL_ACCEPTED);
        } else {
            assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
            n = 0;
            for (unsigned i = 0; cases[c].then[i] >= 0; i++, n++)
                s[n] = (struct sg){k[cases[c].then[i]], (unsigned)cases[c].then[i],
                                   cases[c].then[i], false};
            if (n > 0) {
                m = signed_msg(icp, s, n);
                r = run1(fx, m);
                free(m);
                /* the escrowed signatures and these satisfy it together */
                if (c == 6)
                    assert_verdict(r, KD_KEL_ACCEPTED); /* {0,2,4} */
                else if (c == 7)
                    assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
                else
                    assert_verdict(r, KD_KEL_ACCEPTED);
            } else {
                /* {2,3,4} of the flat list: not satisfied, stays */
                assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
            }
        }
        free(icp);
        keys_wipe(ks, 8);
    }
}

/* Pre-rotation: full, partial, reordered (explicit ondex), augmented. */
static void test_rules_rotation(void **state)
{
    struct fx *fx = *state;
    struct tk ks[16], *k[16];
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1], icpsaid[KD_KEL_ID_MAX + 1];
    char *icp, *rot, *m;
    struct kd_kel_result r;
    struct kd_kel_state *st;

    keys_make(ks, k, 16, 300);
    /* current k0..k2 (2 of 3), next k3..k5 (2 of 3) */
    icp = mk_icp(pre, k, 3, "\"2\"", k + 3, 3, "\"2\"", "", 0, "");
    r = run_signed(fx, icp, k, 2);
    assert_verdict(r, KD_KEL_ACCEPTED);
    snprintf(icpsaid, sizeof icpsaid, "%s", r.said);
    free(icp);

    /* wrong ondex: k3 says it was n[1]; only k4's exposure holds: 1 of 2 */
    {
        struct tk *nk[2] = {k[3], k[4]};
        const struct sg s[2] = {{k[3], 0, 1, true}, {k[4], 1, 1, false}};

        rot = mk_rot(said, "rot", pre, 1, icpsaid, nk, 2, "\"2\"", k + 6, 2, "\"1\"", 0, "", "");
        m = signed_msg(rot, s, 2);
        r = run1(fx, m);
        assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
        free(m);
        /* current-only signatures expose nothing */
        {
            const struct sg c[2] = {{k[3], 0, -1, false}, {k[4], 1, -1, false}};

            m = signed_msg(rot, c, 2);
            assert_escrowed(run1(fx, m), KD_STORE_ESCROW_PARTIAL_SIG);
            free(m);
        }
        free(rot);
    }
    /* augmented only: new keys that were never committed */
    {
        struct tk *nk[2] = {k[10], k[11]};

        rot = mk_rot(said, "rot", pre, 1, icpsaid, nk, 2, "\"2\"", k + 6, 2, "\"1\"", 0, "", "");
        r = run_signed(fx, rot, nk, 2);
        assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_SIG);
        free(rot);
    }
    /* partial + augmented + reordered: k = [k5, k3, k12]; k5 was n[2], k3 n[0];
     * k4 stays hidden in reserve; k12 is new */
    {
        struct tk *nk[3] = {k[5], k[3], k[12]};
        const struct sg s[3] = {{k[5], 0, 2, true}, {k[3], 1, 0, true}, {k[12], 2, -1, false}};

        rot = mk_rot(said, "rot", pre, 1, icpsaid, nk, 3, "\"3\"", k + 6, 2, "\"1\"", 0, "", "");
        m = signed_msg(rot, s, 3);
        r = run1(fx, m);
        assert_verdict(r, KD_KEL_ACCEPTED);
        free(m);
        free(rot);
    }
    st = state_of(fx, pre);
    assert_true(st->sn == 1);
    assert_int_equal(st->nkeys, 3);
    assert_string_equal(kd_kel_str(st, st->keys[2]), k[12]->pub);
    assert_string_equal(kd_kel_str(st, st->ndigs[1]), k[7]->dig);
    assert_string_equal(kd_kel_str(st, st->kt), "\"3\"");
    /* the two other rotations at sn 1 wait in the partially signed escrow;
     * once retried they are different events at an accepted sn: evidence */
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_SIG), 2);
    sweep(fx, T0, 16, NULL);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_SIG), 0);
    {
        uint64_t n = 0;

        assert_int_equal(kd_store_dup_count(kd_store_reader(fx->s), pre, &n), KD_OK);
        assert_int_equal(n, 2);
    }
    /* a wrong prior digest */
    {
        struct tk *nk[1] = {k[6]};

        rot = mk_rot(NULL, "rot", pre, 2, icpsaid, nk, 1, "\"1\"", k + 8, 1, "\"1\"", 0, "", "");
        assert_rejected(run_signed(fx, rot, nk, 1), KD_KEL_F_PRIOR);
        free(rot);
    }
    /* abandonment: an empty next list; then nothing more is accepted */
    {
        struct tk *nk[1] = {k[6]};
        char *ixn;

        rot = mk_rot(said, "rot", pre, 2, st->said, nk, 1, "\"1\"", NULL, 0, "\"0\"", 0, "", "");
        r = run_signed(fx, rot, nk, 1);
        assert_verdict(r, KD_KEL_ACCEPTED);
        free(rot);
        ixn = mk_ixn(NULL, pre, 3, said, "");
        assert_rejected(run_signed(fx, ixn, nk, 1), KD_KEL_F_NONTRANS);
        free(ixn);
        rot = mk_rot(NULL, "rot", pre, 3, said, k + 7, 1, "\"1\"", k + 8, 1, "\"1\"", 0, "", "");
        assert_rejected(run_signed(fx, rot, k + 7, 1), KD_KEL_F_NONTRANS);
        free(rot);
    }
    kd_kel_state_free(st);
    assert_rebuild(fx, pre);
    keys_wipe(ks, 16);
}

/* Witness list changes (br/ba, deriveBacks) and the toad. */
static void test_rules_witnesses(void **state)
{
    struct fx *fx = *state;
    struct tk ks[4], *k[4], ws[5], *w[5];
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1], wl[512], one[64], two[128];
    char *icp, *rot;
    struct kd_kel_result r;
    struct kd_kel_state *st;

    keys_make(ks, k, 4, 400);
    keys_make(ws, w, 5, 450);
    snprintf(wl, sizeof wl, "\"%s\",\"%s\",\"%s\"", w[0]->s.prefix, w[1]->s.prefix, w[2]->s.prefix);
    fx->opts.witness_any = true; /* keriox witness: no receipts needed */
    fx_engine(fx);
    /* stateless toad rules */
    icp = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", wl, 0, "");
    assert_rejected(run_signed(fx, icp, k, 1), KD_KEL_F_ESTABLISHMENT);
    free(icp);
    icp = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", wl, 4, "");
    assert_rejected(run_signed(fx, icp, k, 1), KD_KEL_F_ESTABLISHMENT);
    free(icp);
    icp = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", wl, 2, "");
    r = run_signed(fx, icp, k, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    free(icp);
    /* a cut that is not a witness; an add that already is one; toad too big */
    snprintf(one, sizeof one, "\"%s\"", w[4]->s.prefix);
    rot = mk_rot(NULL, "rot", pre, 1, r.said, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 2, one, "");
    assert_rejected(run_signed(fx, rot, k + 1, 1), KD_KEL_F_WITNESSES);
    free(rot);
    snprintf(one, sizeof one, "\"%s\"", w[0]->s.prefix);
    rot = mk_rot(NULL, "rot", pre, 1, r.said, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 2, "", one);
    assert_rejected(run_signed(fx, rot, k + 1, 1), KD_KEL_F_WITNESSES);
    free(rot);
    snprintf(one, sizeof one, "\"%s\"", w[1]->s.prefix);
    rot = mk_rot(NULL, "rot", pre, 1, r.said, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 3, one, "");
    assert_rejected(run_signed(fx, rot, k + 1, 1), KD_KEL_F_WITNESSES);
    free(rot);
    /* cut w1, add w3 and w4: [w0, w2, w3, w4] in that order */
    snprintf(two, sizeof two, "\"%s\",\"%s\"", w[3]->s.prefix, w[4]->s.prefix);
    rot = mk_rot(said, "rot", pre, 1, r.said, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 3, one, two);
    assert_verdict(run_signed(fx, rot, k + 1, 1), KD_KEL_ACCEPTED);
    free(rot);
    st = state_of(fx, pre);
    assert_int_equal(st->nwits, 4);
    assert_string_equal(kd_kel_str(st, st->wits[0]), w[0]->s.prefix);
    assert_string_equal(kd_kel_str(st, st->wits[1]), w[2]->s.prefix);
    assert_string_equal(kd_kel_str(st, st->wits[2]), w[3]->s.prefix);
    assert_string_equal(kd_kel_str(st, st->wits[3]), w[4]->s.prefix);
    assert_int_equal(st->ncuts, 1);
    assert_int_equal(st->nadds, 2);
    assert_int_equal(st->bt, 3);
    kd_kel_state_free(st);
    assert_rebuild(fx, pre);

    /* a validator needs bt verified receipts: -B wigs and -C couples count */
    fx->opts.witness_any = false;
    fx_engine(fx);
    {
        char isaid[KD_KEL_ID_MAX + 1];
        char *ixn = mk_ixn(isaid, pre, 2, said, ""), *m = signed_by(ixn, k + 1, 1), *mm;
        char wig[KD_KEL_ID_MAX + 1], sig[KD_SIG_QB64_LEN + 1];
        unsigned char raw[64];
        struct kd_buf b;

        /* w2 (index 1) as an indexed wig attached to the event */
        kd_signer_sign(&w[2]->s, ixn, strlen(ixn), raw);
        assert_int_equal(kd_cesr_siger_encode(KD_CESR_IDX_ED25519, 1, KD_CESR_ONDEX_NONE, raw, 64,
                                              wig, sizeof wig, NULL),
                         KD_OK);
        mm = cat3(m, "-BAB", wig);
        assert_escrowed(run1(fx, mm), KD_STORE_ESCROW_PARTIAL_WIT);
        /* w4, then w0 as receipt couples: the third completes the toad */
        for (unsigned i = 0; i < 2; i++) {
            struct tk *wi = i == 0 ? w[4] : w[0];
            char *rm;

            kd_buf_init(&b, 0);
            kd_signer_sign_qb64(&wi->s, ixn, strlen(ixn), sig);
            assert_int_equal(kd_kel_receipt_msg(&b, pre, 2, isaid, wi->s.prefix, sig), KD_OK);
            rm = strndup((const char *)b.data, b.len);
            r = run1(fx, rm);
            if (i == 0) {
                assert_escrowed(r, KD_STORE_ESCROW_UNVERIFIED_NT_RCT);
                assert_event_at(fx, pre, 1, said);
            } else {
                assert_verdict(r, KD_KEL_ACCEPTED);
            }
            free(rm);
            kd_buf_free(&b);
        }
        assert_event_at(fx, pre, 2, isaid);
        assert_int_equal(sigs_of(fx, isaid, KD_STORE_SIG_WITNESS), 3);
        assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_WIT), 0);
        assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_UNVERIFIED_NT_RCT), 0);
        {
            bool yes = false;

            assert_int_equal(kd_kel_fully_witnessed(kd_store_reader(fx->s), pre, 2, isaid, &yes),
                             KD_OK);
            assert_true(yes);
        }
        free(mm);
        free(m);
        free(ixn);
    }
    keys_wipe(ks, 4);
    keys_wipe(ws, 5);
}

/* Configuration traits: EO refuses interactions; NB, RB, NRB, DID are ignored. */
static void test_rules_traits(void **state)
{
    struct fx *fx = *state;
    struct tk ks[6], *k[6];
    char pre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1];
    char *icp, *ixn, *rot;
    struct kd_kel_result r;
    struct kd_kel_state *st;

    keys_make(ks, k, 6, 500);
    icp = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", "", 0, "\"EO\"");
    r = run_signed(fx, icp, k, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    free(icp);
    ixn = mk_ixn(NULL, pre, 1, r.said, "");
    assert_rejected(run_signed(fx, ixn, k, 1), KD_KEL_F_EST_ONLY);
    free(ixn);
    rot = mk_rot(said, "rot", pre, 1, r.said, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 0, "", "");
    assert_verdict(run_signed(fx, rot, k + 1, 1), KD_KEL_ACCEPTED); /* EO allows rotations */
    free(rot);
    st = state_of(fx, pre);
    assert_int_equal(st->traits, KD_TRAIT_EO);
    kd_kel_state_free(st);

    icp = mk_icp(pre, k + 3, 1, "\"1\"", k + 4, 1, "\"1\"", "", 0, "\"NB\",\"RB\",\"NRB\",\"DID\"");
    r = run_signed(fx, icp, k + 3, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    free(icp);
    ixn = mk_ixn(NULL, pre, 1, r.said, "");
    assert_verdict(run_signed(fx, ixn, k + 3, 1), KD_KEL_ACCEPTED);
    free(ixn);
    st = state_of(fx, pre);
    assert_int_equal(st->traits, 0);
    kd_kel_state_free(st);
    keys_wipe(ks, 6);
}

/* A non-transferable identifier has no events after its inception. */
static void test_rules_nontransferable(void **state)
{
    static const char icp[] =
        "{\"v\":\"KERI10JSON0000fd_\",\"t\":\"icp\",\"d\":"
        "\"EIkO4CUmYXukX4auGU9yaFoQaIicfVZkazQ0A3IO"
        "5biT\",\"i\":\"BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha\",\"s\":\"0\",\"kt\":\"1\","
        "\"k\":[\"BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha\"],\"nt\":\"0\",\"n\":[],\"bt\":"
        "\"0\","
        "\"b\":[],\"c\":[],\"a\":[]}-AABAAAMlb78gUo1_gPDwxbXyERk2sW8B0mtiNuACutAygnY78PHYUjbPj1fSY"
        "1jyid8fl4-TXgLXPnDmeoUs1UO-H0A";
    struct fx *fx = *state;
    struct kd_kel_result r;
    char *ixn, *m;
    struct tk wan;

    fx_as_wan(fx); /* its own KEL: nothing special about being its witness */
    r = run1(fx, icp);
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.own_index, -1);
    memcpy(&wan.s, &fx->log.wan, sizeof wan.s);
    ixn = mk_ixn(NULL, WAN, 1, "EIkO4CUmYXukX4auGU9yaFoQaIicfVZkazQ0A3IO5biT", "");
    {
        const struct sg s = {&wan, 0, 0, false};

        m = signed_msg(ixn, &s, 1);
        assert_rejected(run1(fx, m), KD_KEL_F_NONTRANS);
        free(m);
    }
    free(ixn);
    kd_signer_wipe(&wan.s);
}

/* Delegation rules beyond the vectors: rot on a delegated KEL, drt on a
 * plain one, a delegator that does not delegate, a witness's shortcut. */
static void test_rules_delegation(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_delegated.json");
    const json_t *dor = json_object_get(j, "delegator"), *dee = json_object_get(j, "delegate");
    const json_t *dor_ev = json_object_get(dor, "events"), *dee_ev = json_object_get(dee, "events");
    const json_t *dip = json_array_get(dee_ev, 0), *drt = json_array_get(dee_ev, 1);
    struct tk ks[6], *k[6], dk, nk;
    char pre[KD_KEL_ID_MAX + 1], dpre[KD_KEL_ID_MAX + 1], said[KD_KEL_ID_MAX + 1];
    char *body;
    struct kd_kel_result r;

    keys_make(ks, k, 6, 600);
    /* the delegate's own keys: its dip key and its drt key (= the dip's next) */
    tk_from_seed(&dk, json_string_value(json_array_get(json_object_get(dip, "key_seeds"), 0)));
    tk_from_seed(&nk, json_string_value(json_array_get(json_object_get(drt, "key_seeds"), 0)));
    assert_string_equal(dk.pub, json_string_value(json_array_get(json_object_get(dip, "keys"), 0)));
    assert_string_equal(nk.pub, json_string_value(json_array_get(json_object_get(drt, "keys"), 0)));
    assert_non_null(strstr(jstr(dip, "raw"), nk.dig)); /* the dip committed to the drt key */
    for (unsigned i = 0; i < 3; i++)
        assert_verdict(run1(fx, jstr(json_array_get(dor_ev, i), "message_witnessed")),
                       KD_KEL_ACCEPTED);
    assert_verdict(run1(fx, jstr(dip, "message_witnessed")), KD_KEL_ACCEPTED);
    /* a rot of the delegated identifier: must be a drt */
    {
        struct tk *one[1] = {&nk};

        /* its witnesses (three, toad 3) stay: br and ba empty */
        body =
            mk(NULL, NULL,
               "{\"v\":\"" H17 "\",\"t\":\"rot\",\"d\":\"" H44
               "\",\"i\":\"%s\",\"s\":\"1\",\"p\":\"%s\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"1\","
               "\"n\":[\"%s\"],\"bt\":\"3\",\"br\":[],\"ba\":[],\"a\":[]}",
               jstr(dee, "pre"), jstr(dip, "said"), nk.pub, k[0]->dig);
        assert_rejected(run_signed(fx, body, one, 1), KD_KEL_F_DELEGATED_ROT);
        free(body);
    }
    /* a drt of a plain identifier */
    {
        char *icp = mk_icp(pre, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", "", 0, "");

        r = run_signed(fx, icp, k + 1, 1);
        assert_verdict(r, KD_KEL_ACCEPTED);
        free(icp);
        body = mk_rot(NULL, "drt", pre, 1, r.said, k + 2, 1, "\"1\"", k + 3, 1, "\"1\"", 0, "", "");
        assert_rejected(run_signed(fx, body, k + 2, 1), KD_KEL_F_NOT_DELEGATED);
        free(body);
    }
    /* a delegator with DND: a dip naming it is dropped */
    {
        char *icp = mk_icp(dpre, k + 3, 1, "\"1\"", k + 4, 1, "\"1\"", "", 0, "\"DND\"");
        char dsaid[KD_KEL_ID_MAX + 1], seal[256], *ixn;

        assert_verdict(run_signed(fx, icp, k + 3, 1), KD_KEL_ACCEPTED);
        free(icp);
        body = mk(said, pre,
                  "{\"v\":\"" H17 "\",\"t\":\"dip\",\"d\":\"" H44 "\",\"i\":\"" H44
                  "\",\"s\":\"0\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"1\",\"n\":[\"%s\"],"
                  "\"bt\":\"0\",\"b\":[],\"c\":[],\"a\":[],\"di\":\"%s\"}",
                  k[5]->pub, k[0]->dig, dpre);
        /* anchored all the same */
        snprintf(seal, sizeof seal, "{\"i\":\"%s\",\"s\":\"0\",\"d\":\"%s\"}", pre, said);
        {
            struct kd_kel_state *st = state_of(fx, dpre);

            ixn = mk_ixn(dsaid, dpre, 1, st->said, seal);
            kd_kel_state_free(st);
        }
        assert_verdict(run_signed(fx, ixn, k + 3, 1), KD_KEL_ACCEPTED);
        free(ixn);
        assert_rejected(run_signed(fx, body, k + 5, 1), KD_KEL_F_DND);
        assert_null(state_of(fx, pre));
        free(body);
    }
    /* a witness of the delegate: anchor required by default (keriox), not
     * with delegation_requires_anchor off (keripy §4.6) */
    fx_reset(fx);
    fx_as_wan(fx);
    assert_escrowed(run1(fx, jstr(dip, "message")), KD_STORE_ESCROW_PARTIAL_DEL);
    fx_reset(fx);
    fx->opts.delegation_requires_anchor = false;
    fx_as_wan(fx);
    r = run1(fx, jstr(dip, "message"));
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.own_index, 0);
    /* the same switch per call: on for one request, back off for the next */
    fx->opts.delegation_requires_anchor = true;
    fx_reset(fx);
    fx_as_wan(fx);
    kd_kel_set_delegation_requires_anchor(fx->k, false);
    assert_verdict(run1(fx, jstr(dip, "message")), KD_KEL_ACCEPTED);
    fx_reset(fx);
    fx_as_wan(fx);
    kd_kel_set_delegation_requires_anchor(fx->k, false);
    kd_kel_set_delegation_requires_anchor(fx->k, true);
    assert_escrowed(run1(fx, jstr(dip, "message")), KD_STORE_ESCROW_PARTIAL_DEL);
    /* a validator never takes the shortcut */
    fx_reset(fx);
    fx->opts.nown = 0;
    fx_engine(fx);
    assert_escrowed(run1(fx, jstr(dip, "message_witnessed")), KD_STORE_ESCROW_PARTIAL_DEL);
    kd_signer_wipe(&dk.s);
    kd_signer_wipe(&nk.s);
    keys_wipe(ks, 6);
    json_decref(j);
}

/* ---- recovery and duplicity (keri-core §4.8, §4.9) ---- */

struct dup_seen {
    unsigned n;
    char said[4][KD_KEL_ID_MAX + 1];
};

static enum kd_err dup_cb(const struct kd_store_dup *d, void *arg)
{
    struct dup_seen *s = arg;

    if (s->n < 4)
        snprintf(s->said[s->n], sizeof s->said[0], "%s", d->said);
    s->n++;
    return KD_OK;
}

static void test_recovery_and_duplicity(void **state)
{
    struct fx *fx = *state;
    struct tk ks[6], *k[6];
    char pre[KD_KEL_ID_MAX + 1], icp_d[KD_KEL_ID_MAX + 1], ixn1[KD_KEL_ID_MAX + 1];
    char ixn2[KD_KEL_ID_MAX + 1], rot1[KD_KEL_ID_MAX + 1], x[KD_KEL_ID_MAX + 1];
    char *b, *dupb;
    struct kd_kel_result r;
    struct kd_kel_state *st;
    struct dup_seen ds = {0};
    size_t blen;
    char *blob;

    keys_make(ks, k, 6, 700);
    b = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", "", 0, "");
    r = run_signed(fx, b, k, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    snprintf(icp_d, sizeof icp_d, "%s", r.said);
    free(b);
    b = mk_ixn(ixn1, pre, 1, icp_d, "");
    assert_verdict(run_signed(fx, b, k, 1), KD_KEL_ACCEPTED);
    free(b);
    b = mk_ixn(ixn2, pre, 2, ixn1, "");
    assert_verdict(run_signed(fx, b, k, 1), KD_KEL_ACCEPTED);
    free(b);

    /* A2: another ixn at an accepted sn is likely duplicitous: recorded, not applied */
    blob = state_blob_of(fx, pre, true, &blen);
    dupb = mk_ixn(x, pre, 2, ixn1,
                  "{\"d\":\""
                  "EAnchoredDataSaidForKnownAnswerVectors0000001"
                  "\"}");
    r = run_signed(fx, dupb, k, 1);
    assert_verdict(r, KD_KEL_DUPLICITOUS);
    assert_same_state(fx, pre, blob, blen);
    assert_event_at(fx, pre, 2, ixn2);
    assert_int_equal(kd_store_dup_each(kd_store_reader(fx->s), pre, dup_cb, &ds), KD_OK);
    assert_int_equal(ds.n, 1);
    assert_string_equal(ds.said[0], x);
    /* again: recorded once */
    assert_verdict(run_signed(fx, dupb, k, 1), KD_KEL_DUPLICITOUS);
    memset(&ds, 0, sizeof ds);
    assert_int_equal(kd_store_dup_each(kd_store_reader(fx->s), pre, dup_cb, &ds), KD_OK);
    assert_int_equal(ds.n, 1);
    /* unsigned evidence is not kept */
    assert_rejected(run_signed(fx, dupb, k + 4, 1), KD_KEL_F_BAD_SIG);
    free(dupb);
    free(blob);

    /* A0: a rotation at sn 1 supersedes the interactions from sn 1 on */
    b = mk_rot(rot1, "rot", pre, 1, icp_d, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 0, "", "");
    r = run_signed(fx, b, k + 1, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.fn, 3); /* first-seen order keeps growing */
    free(b);
    st = state_of(fx, pre);
    assert_true(st->sn == 1);
    assert_int_equal(st->ilk, KD_ILK_ROT);
    assert_string_equal(st->said, rot1);
    kd_kel_state_free(st);
    assert_event_at(fx, pre, 1, rot1);
    /* the superseded events are still there, in first-seen order */
    {
        struct kd_store_event e;
        struct kd_buf buf;

        kd_buf_init(&buf, 0);
        assert_int_equal(kd_store_event_get(kd_store_reader(fx->s), ixn1, &e, &buf), KD_OK);
        assert_int_equal(e.fn, 1);
        kd_buf_free(&buf);
    }
    assert_rebuild(fx, pre);
    /* a superseded event arriving again is a duplicate, not evidence */
    b = mk_ixn(NULL, pre, 1, icp_d, "");
    assert_verdict(run_signed(fx, b, k, 1), KD_KEL_DUPLICATE);
    free(b);
    /* A1: a rot may not supersede a rot (sn at or before the last establishment) */
    b = mk_rot(NULL, "rot", pre, 1, icp_d, k + 1, 1, "\"1\"", k + 3, 1, "\"1\"", 0, "", "");
    assert_verdict(run_signed(fx, b, k + 1, 1), KD_KEL_DUPLICITOUS);
    free(b);
    /* the KEL goes on from the recovery */
    b = mk_ixn(x, pre, 2, rot1, "");
    assert_verdict(run_signed(fx, b, k + 1, 1), KD_KEL_ACCEPTED);
    free(b);
    assert_event_at(fx, pre, 2, x);
    /* a recovery whose prior is not the event before it */
    b = mk_rot(NULL, "rot", pre, 2, icp_d, k + 2, 1, "\"1\"", k + 3, 1, "\"1\"", 0, "", "");
    assert_rejected(run_signed(fx, b, k + 2, 1), KD_KEL_F_PRIOR);
    free(b);
    assert_rebuild(fx, pre);
    keys_wipe(ks, 6);
}

/* Delegated recovery: a drt superseding a drt (rules B1 and B2). */
static void test_delegated_recovery(void **state)
{
    struct fx *fx = *state;
    struct tk ks[10], *k[10];
    char dor[KD_KEL_ID_MAX + 1], dee[KD_KEL_ID_MAX + 1], dip_d[KD_KEL_ID_MAX + 1];
    char last[KD_KEL_ID_MAX + 1], drt1[KD_KEL_ID_MAX + 1], drt2[KD_KEL_ID_MAX + 1];
    char drt3[KD_KEL_ID_MAX + 1], seal[512], *b;
    struct kd_kel_result r;
    unsigned dsn = 0;

    keys_make(ks, k, 10, 800);
    /* delegator k0 (next k1): icp */
    b = mk_icp(dor, k, 1, "\"1\"", k + 1, 1, "\"1\"", "", 0, "");
    r = run_signed(fx, b, k, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    snprintf(last, sizeof last, "%s", r.said);
    free(b);
    /* delegate k2 (next k3) */
    b = mk(dip_d, dee,
           "{\"v\":\"" H17 "\",\"t\":\"dip\",\"d\":\"" H44 "\",\"i\":\"" H44
           "\",\"s\":\"0\",\"kt\":\"1\",\"k\":[\"%s\"],\"nt\":\"1\",\"n\":[\"%s\"],\"bt\":\"0\","
           "\"b\":[],\"c\":[],\"a\":[],\"di\":\"%s\"}",
           k[2]->pub, k[3]->dig, dor);
    assert_escrowed(run_signed(fx, b, k + 2, 1), KD_STORE_ESCROW_PARTIAL_DEL);
#define ANCHOR(seals)                                                                              \
    do {                                                                                           \
        char *ixn_ = mk_ixn(last, dor, ++dsn, last, seals);                                        \
        r = run_signed(fx, ixn_, k, 1);                                                            \
        assert_verdict(r, KD_KEL_ACCEPTED);                                                        \
        free(ixn_);                                                                                \
    } while (0)
    snprintf(seal, sizeof seal, "{\"i\":\"%s\",\"s\":\"0\",\"d\":\"%s\"}", dee, dip_d);
    ANCHOR(seal);
    assert_int_equal(r.released, 1);
    free(b);
    /* drt1 at sn 1 (k3, next k4), anchored at delegator sn 2 */
    b = mk_rot(drt1, "drt", dee, 1, dip_d, k + 3, 1, "\"1\"", k + 4, 1, "\"1\"", 0, "", "");
    assert_escrowed(run_signed(fx, b, k + 3, 1), KD_STORE_ESCROW_PARTIAL_DEL);
    free(b);
    snprintf(seal, sizeof seal, "{\"i\":\"%s\",\"s\":\"1\",\"d\":\"%s\"}", dee, drt1);
    ANCHOR(seal);
    assert_int_equal(r.released, 1);
    assert_event_at(fx, dee, 1, drt1);
    /* drt2 supersedes drt1: signed by drt1's next key k4 (keripy checks the
     * current state's commitments), anchored later (B1) */
    b = mk_rot(drt2, "drt", dee, 1, dip_d, k + 4, 1, "\"1\"", k + 5, 1, "\"1\"", 0, "", "");
    assert_escrowed(run_signed(fx, b, k + 4, 1), KD_STORE_ESCROW_PARTIAL_DEL);
    free(b);
    /* drt3 would supersede drt2 (so it is signed by drt2's next key k5), but
     * is anchored in the same delegating event before drt2's seal: it loses
     * (B2) */
    b = mk_rot(drt3, "drt", dee, 1, dip_d, k + 5, 1, "\"1\"", k + 6, 1, "\"1\"", 0, "", "");
    {
        char both[1024];

        snprintf(both, sizeof both,
                 "{\"i\":\"%s\",\"s\":\"1\",\"d\":\"%s\"},{\"i\":\"%s\",\"s\":\"1\",\"d\":\"%s\"}",
                 dee, drt3, dee, drt2);
        ANCHOR(both);
    }
    /* drt2 was released and superseded drt1 */
    assert_event_at(fx, dee, 1, drt2);
    {
        struct kd_kel_result r3 = run_signed(fx, b, k + 5, 1);

        /* drt3 is anchored at the same delegating event, earlier in its a */
        assert_rejected(r3, KD_KEL_F_RECOVERY);
    }
    free(b);
    assert_event_at(fx, dee, 1, drt2);
    /* the superseded drt1 coming again is a duplicate, not a new recovery */
    b = mk_rot(NULL, "drt", dee, 1, dip_d, k + 3, 1, "\"1\"", k + 4, 1, "\"1\"", 0, "", "");
    assert_verdict(run_signed(fx, b, k + 3, 1), KD_KEL_DUPLICATE);
    free(b);
    assert_event_at(fx, dee, 1, drt2);
    assert_rebuild(fx, dee);
#undef ANCHOR
    keys_wipe(ks, 10);
}

/* ---- out of order, escrow life ---- */

/* Final states (without first-seen times) of the vector KELs fed in order. */
struct kel_case {
    const char *file;
    const char *path[3]; /* where the events are: object keys then "events" */
};

/* Collects the witnessed messages of the vector file into msgs (at most
 * max); returns how many, and the prefixes in pres. */
static unsigned vector_msgs(json_t *j, const char *kind, const char **msgs, unsigned max,
                            const char **pres, unsigned *npres)
{
    unsigned n = 0;
    const json_t *lists[4];
    unsigned nl = 0;

    *npres = 0;
    if (strcmp(kind, "single") == 0) {
        lists[nl++] = j;
    } else if (strcmp(kind, "multi") == 0) {
        for (size_t i = 0; i < json_array_size(json_object_get(j, "kels")); i++)
            lists[nl++] = json_array_get(json_object_get(j, "kels"), i);
    } else {
        lists[nl++] = json_object_get(j, "delegator");
        lists[nl++] = json_object_get(j, "delegate");
    }
    for (unsigned l = 0; l < nl; l++) {
        const json_t *ev = json_object_get(lists[l], "events");

        pres[(*npres)++] = jstr(json_array_get(ev, 0), "pre");
        for (size_t i = 0; i < json_array_size(ev) && n < max; i++)
            msgs[n++] = jstr(json_array_get(ev, i), "message_witnessed");
    }
    return n;
}

static void test_out_of_order(void **state)
{
    static const char *const files[3][2] = {{"vectors/keripy/kel_single_sig.json", "single"},
                                            {"vectors/keripy/kel_multisig.json", "multi"},
                                            {"vectors/keripy/kel_delegated.json", "delegated"}};
    struct fx *fx = *state;
    uint64_t seed = 0x6b657269u;

    for (unsigned f = 0; f < 3; f++) {
        json_t *j = load_json(files[f][0]);
        const char *msgs[16], *pres[4];
        unsigned npres, n = vector_msgs(j, files[f][1], msgs, 16, pres, &npres);
        char *want[4];
        size_t wlen[4];

        /* in order: the reference */
        fx_reset(fx);
        for (unsigned i = 0; i < n; i++)
            assert_verdict(run1(fx, msgs[i]), KD_KEL_ACCEPTED);
        for (unsigned p = 0; p < npres; p++)
            want[p] = state_blob_of(fx, pres[p], false, &wlen[p]);
        /* reversed, then five permutations from a fixed seed */
        for (unsigned round = 0; round < 6; round++) {
            const char *order[16];
            unsigned accepted = 0, escrowed = 0;

            for (unsigned i = 0; i < n; i++)
                order[i] = msgs[n - 1 - i];
            if (round > 0)
                for (unsigned i = n - 1; i > 0; i--) {
                    unsigned jx;
                    const char *t;

                    seed = seed * 6364136223846793005u + 1442695040888963407u;
                    jx = (unsigned)((seed >> 33) % (i + 1));
                    t = order[i];
                    order[i] = order[jx];
                    order[jx] = t;
                }
            fx_reset(fx);
            for (unsigned i = 0; i < n; i++) {
                struct kd_kel_result r = run_at(fx, order[i], T0 + i);

                if (r.verdict == KD_KEL_ACCEPTED)
                    accepted += 1 + r.released;
                else if (r.verdict == KD_KEL_ESCROWED)
                    escrowed++;
                else
                    fail_msg("%s round %u: %s (%s)", files[f][1], round,
                             kd_kel_verdict_name(r.verdict), r.why);
            }
            assert_int_equal(accepted, n);
            if (round == 0)
                assert_true(escrowed >= n - npres); /* reversed: all but the first wait */
            for (unsigned p = 0; p < npres; p++) {
                size_t len;
                char *got = state_blob_of(fx, pres[p], false, &len);

                assert_int_equal(len, wlen[p]);
                assert_memory_equal(got, want[p], len);
                free(got);
                assert_rebuild(fx, pres[p]);
            }
            for (unsigned kind = 0; kind < KD_STORE_ESCROW_KIND_COUNT_; kind++)
                assert_int_equal(escrow_count(fx, (enum kd_store_escrow_kind)kind), 0);
        }
        for (unsigned p = 0; p < npres; p++)
            free(want[p]);
        json_decref(j);
    }
}

/* kerid enforces the escrow timeouts, measured from the first arrival. */
static void test_escrow_expiry(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    struct kd_kel_sweep_result sw;
    struct kd_kel_result r;

    fx->opts.timeouts.out_of_order = 10;
    fx->opts.timeouts.partially_witnessed = 20;
    fx->opts.timeouts.receipts = 30;
    fx_engine(fx);
    r = run_at(fx, jstr(json_array_get(events, 2), "message_witnessed"), T0);
    assert_escrowed(r, KD_STORE_ESCROW_OUT_OF_ORDER);
    r = run_at(fx, jstr(json_array_get(events, 0), "message"), T0 + 1000000);
    assert_escrowed(r, KD_STORE_ESCROW_PARTIAL_WIT);
    r = run_at(fx, jstr(json_object_get(json_array_get(events, 1), "receipts"), "rct_with_couples"),
               T0);
    assert_escrowed(r, KD_STORE_ESCROW_UNVERIFIED_NT_RCT);
    /* the same event again later keeps its first arrival */
    r = run_at(fx, jstr(json_array_get(events, 2), "message_witnessed"), T0 + 9000000);
    assert_escrowed(r, KD_STORE_ESCROW_OUT_OF_ORDER);
    sweep(fx, T0 + 9000000, 16, &sw);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_OUT_OF_ORDER), 1);
    assert_int_equal(sw.tried, 3);
    sweep(fx, T0 + 10000001, 16, &sw);
    assert_int_equal(sw.expired[KD_STORE_ESCROW_OUT_OF_ORDER], 1);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_OUT_OF_ORDER), 0);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_WIT), 1);
    sweep(fx, T0 + 21000001, 16, &sw);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_PARTIAL_WIT), 0);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_UNVERIFIED_NT_RCT), 1);
    sweep(fx, T0 + 30000001, 16, &sw);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_UNVERIFIED_NT_RCT), 0);
    /* the expired event was never accepted */
    assert_null(state_of(fx, jstr(json_object_get(j, "controller"), "pre")));
    json_decref(j);
}

/* Escrows survive a restart; the sweeper releases what release bounds left. */
static void test_restart_persistence(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    const char *pre = jstr(json_object_get(j, "controller"), "pre");
    struct kd_kel_sweep_result sw;
    struct kd_kel_result r;
    bool more;

    assert_escrowed(run1(fx, jstr(json_array_get(events, 3), "message_witnessed")),
                    KD_STORE_ESCROW_OUT_OF_ORDER);
    assert_escrowed(run1(fx, jstr(json_array_get(events, 2), "message_witnessed")),
                    KD_STORE_ESCROW_OUT_OF_ORDER);
    kd_kel_free(fx->k);
    fx->k = NULL;
    kd_store_close(fx->s);
    fx_open(fx);
    fx->opts.limits.release_max = 1;
    fx_engine(fx);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_OUT_OF_ORDER), 2);
    assert_verdict(run1(fx, jstr(json_array_get(events, 0), "message_witnessed")), KD_KEL_ACCEPTED);
    r = run1(fx, jstr(json_array_get(events, 1), "message_witnessed"));
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.released, 1); /* the bound: sn 2 only */
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_OUT_OF_ORDER), 1);
    /* a sweep picks up the rest */
    more = sweep(fx, T0 + 1, 8, &sw);
    assert_false(more);
    assert_int_equal(escrow_count(fx, KD_STORE_ESCROW_OUT_OF_ORDER), 0);
    check_state(fx, json_array_get(events, 3), NULL, NULL);
    assert_rebuild(fx, pre);
    json_decref(j);
}

/* Escrow growth is bounded per identifier. */
static void test_escrow_bounds(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    struct kd_kel_result r;

    fx->opts.limits.escrow_per_prefix = 2;
    fx->opts.limits.receipts_per_prefix = 1;
    fx_engine(fx);
    for (unsigned i = 1; i < 4; i++) {
        r = run1(fx, jstr(json_array_get(events, i), "message_witnessed"));
        if (i < 3)
            assert_escrowed(r, KD_STORE_ESCROW_OUT_OF_ORDER);
        else
            assert_rejected(r, KD_KEL_F_ESCROW_FULL);
    }
    assert_int_equal(kd_err_status(kd_kel_fault_err(KD_KEL_F_ESCROW_FULL)), 503);
    r = run1(fx, jstr(json_object_get(json_array_get(events, 0), "receipts"), "rct_with_couples"));
    assert_escrowed(r, KD_STORE_ESCROW_UNVERIFIED_NT_RCT);
    r = run1(fx, jstr(json_array_get(
                          json_object_get(json_object_get(json_array_get(events, 0), "receipts"),
                                          "per_witness"),
                          0),
                      "witness_rct_msg"));
    assert_rejected(r, KD_KEL_F_ESCROW_FULL);
    /* the inception releases what is there */
    r = run1(fx, jstr(json_array_get(events, 0), "message"));
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.released, 2);
    json_decref(j);
}

/* A write that fails after processing rolls back; the cache follows. */
static void test_rollback_drops_cache(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    const char *pre = jstr(json_object_get(j, "controller"), "pre");
    struct run r;

    assert_verdict(run1(fx, jstr(json_array_get(events, 0), "message_witnessed")), KD_KEL_ACCEPTED);
    memset(&r, 0, sizeof r);
    r.k = fx->k;
    r.text = jstr(json_array_get(events, 1), "message_witnessed");
    r.len = strlen(r.text);
    r.now = T0;
    r.fail_after = KD_EINTERNAL;
    assert_int_equal(kd_store_write_sync(fx->s, run_fn, &r), KD_EINTERNAL);
    assert_verdict(r.res, KD_KEL_ACCEPTED); /* as far as the engine knew */
    /* undone: the state is still at sn 0, and the event is accepted again */
    {
        struct kd_kel_state *st = state_of(fx, pre);

        assert_true(st->sn == 0);
        kd_kel_state_free(st);
    }
    assert_verdict(run1(fx, jstr(json_array_get(events, 1), "message_witnessed")), KD_KEL_ACCEPTED);
    assert_verdict(run1(fx, jstr(json_array_get(events, 2), "message_witnessed")), KD_KEL_ACCEPTED);
    assert_rebuild(fx, pre);
    json_decref(j);
}

/* A cache much smaller than the identifiers: states come back from the store. */
static void test_small_cache(void **state)
{
    struct fx *fx = *state;
    struct tk ks[2 * 40], *k[2 * 40];
    char pre[40][KD_KEL_ID_MAX + 1], said[40][KD_KEL_ID_MAX + 1];
    struct kd_kel_stats stats;

    fx->opts.limits.cache_states = 16;
    fx_engine(fx);
    keys_make(ks, k, 2 * 40, 900);
    for (unsigned i = 0; i < 40; i++) {
        char *b = mk_icp(pre[i], k + 2 * i, 1, "\"1\"", k + 2 * i + 1, 1, "\"1\"", "", 0, "");
        struct kd_kel_result r = run_signed(fx, b, k + 2 * i, 1);

        assert_verdict(r, KD_KEL_ACCEPTED);
        snprintf(said[i], sizeof said[i], "%s", r.said);
        free(b);
    }
    for (unsigned round = 1; round < 4; round++)
        for (unsigned i = 0; i < 40; i++) {
            char *b = mk_ixn(said[i], pre[i], round, said[i], "");

            assert_verdict(run_signed(fx, b, k + 2 * i, 1), KD_KEL_ACCEPTED);
            free(b);
        }
    for (unsigned i = 0; i < 40; i++) {
        struct kd_kel_state *st = state_of(fx, pre[i]);

        assert_true(st->sn == 3);
        assert_string_equal(st->said, said[i]);
        kd_kel_state_free(st);
    }
    kd_kel_stats_get(fx->k, &stats);
    assert_true(stats.cache_misses > 40); /* evictions happened */
    assert_int_equal(stats.accepted, 160);
    keys_wipe(ks, 2 * 40);
}

/* ---- key state notices ---- */

#define KERIOX_WITNESS_SEED "ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc"
#define KERIOX_WITNESS      "BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC"

/* keriox-surface §3.7: the same inputs give the same bytes and signature. */
static void test_ksn_keriox_known_answer(void **state)
{
    struct fx *fx = *state;
    char *icp = read_file("KD_SHARED_DIR",
                          "spec/keriox-examples/controller-POST-process-icp.request.cesr", NULL);
    size_t n;
    char *want =
        read_file("KD_SHARED_DIR", "spec/keriox-examples/witness-POST-query-ksn.response.cesr", &n);
    struct kd_signer w;
    struct kd_kel_state *st;
    struct kd_kel_result r;
    struct kd_buf b;
    char sig[KD_SIG_QB64_LEN + 1];
    int64_t rdt, kdt;
    size_t body;

    fx->own[0] = KERIOX_WITNESS;
    fx->opts.own_prefixes = fx->own;
    fx->opts.nown = 1;
    fx_engine(fx);
    r = run1(fx, icp);
    assert_verdict(r, KD_KEL_ACCEPTED);
    assert_int_equal(r.own_index, 0);
    st = state_of(fx, r.prefix);
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08.250200+00:00", 32, &rdt), 0);
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08.250100+00:00", 32, &kdt), 0);
    kd_buf_init(&b, 0);
    assert_int_equal(kd_kel_ksn_keriox(&b, st, KERIOX_WITNESS, rdt, kdt), KD_OK);
    body = b.len;
    assert_int_equal(kd_signer_from_seed(&w, KERIOX_WITNESS_SEED, 44, NULL), KD_OK);
    assert_string_equal(w.prefix, KERIOX_WITNESS);
    kd_signer_sign_qb64(&w, b.data, body, sig);
    assert_int_equal(kd_buf_printf(&b, "-CAB%s%s", w.prefix, sig), KD_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    /* it parses as a keriox KSN reply */
    assert_int_equal(kd_event_parse(&g_ev, b.data, body, NULL), KD_OK);
    assert_int_equal(g_ev.rpy.route, KD_RPY_KSN);
    assert_int_equal(g_ev.rpy.ksn.form, KD_KSN_KERIOX);
    assert_true(g_ev.rpy.ksn.p_null && g_ev.rpy.ksn.et_null);
    /* an appended buffer is written after what it held; bad arguments leave it */
    assert_int_equal(kd_kel_ksn_keriox(&b, st, KERIOX_WITNESS, rdt, kdt), KD_OK);
    assert_int_equal(b.len, n + body);
    assert_int_equal(kd_kel_ksn_keriox(&b, NULL, KERIOX_WITNESS, rdt, kdt), KD_EINVAL);
    assert_int_equal(kd_kel_ksn_keriox(&b, st, NULL, rdt, kdt), KD_EINVAL);
    assert_int_equal(b.len, n + body);
    kd_buf_free(&b);
    kd_signer_wipe(&w);
    kd_kel_state_free(st);
    free(icp);
    free(want);
}

/* Both forms after a rotation with witness changes, with traits and a
 * delegator: parsed back, every field is the state's (keriox's ee quirks). */
static void test_ksn_forms(void **state)
{
    struct fx *fx = *state;
    struct tk ks[4], *k[4], ws[3], *w[3];
    char pre[KD_KEL_ID_MAX + 1], icp_d[KD_KEL_ID_MAX + 1], rot_d[KD_KEL_ID_MAX + 1];
    char wl[1024], add[64], ixn_d[KD_KEL_ID_MAX + 1];
    char *b;
    struct kd_kel_result r;
    struct kd_kel_state *st;
    struct kd_buf out;
    const struct kd_ksn *kn = &g_ev.rpy.ksn;

    keys_make(ks, k, 4, 1000);
    keys_make(ws, w, 3, 1010);
    fx->opts.witness_any = true;
    fx_engine(fx);
    snprintf(wl, sizeof wl, "\"%s\",\"%s\"", w[0]->s.prefix, w[1]->s.prefix);
    b = mk_icp(pre, k, 1, "\"1\"", k + 1, 1, "\"1\"", wl, 1, "\"EO\",\"DND\"");
    r = run_signed(fx, b, k, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    snprintf(icp_d, sizeof icp_d, "%s", r.said);
    free(b);
    snprintf(add, sizeof add, "\"%s\"", w[2]->s.prefix);
    snprintf(wl, sizeof wl, "\"%s\"", w[0]->s.prefix);
    b = mk_rot(rot_d, "rot", pre, 1, icp_d, k + 1, 1, "\"1\"", k + 2, 1, "\"1\"", 2, wl, add);
    assert_verdict(run_signed(fx, b, k + 1, 1), KD_KEL_ACCEPTED);
    free(b);
    st = state_of(fx, pre);
    kd_buf_init(&out, 0);

    assert_int_equal(kd_kel_ksn_keripy(&out, st, WAN, T0), KD_OK);
    assert_int_equal(kd_event_parse(&g_ev, out.data, out.len, NULL), KD_OK);
    assert_int_equal(kn->form, KD_KSN_KERIPY);
    assert_true(kn->sn == 1 && kn->fn == 1 && kn->ee_sn == 1);
    assert_true(kd_span_eq(&g_ev, kn->d, rot_d) && kd_span_eq(&g_ev, kn->p, icp_d));
    assert_true(kd_span_eq(&g_ev, kn->ee_d, rot_d) && kd_span_eq(&g_ev, kn->et, "rot"));
    assert_true(kd_span_eq(&g_ev, kn->i, pre) && kd_span_eq(&g_ev, kn->di, ""));
    assert_true(kd_span_eq(&g_ev, g_ev.rpy.route_pre, WAN));
    assert_int_equal(g_ev.traits, KD_TRAIT_EO | KD_TRAIT_DND);
    assert_int_equal(g_ev.cuts.count, 1); /* ee.br = the cut */
    assert_true(kd_span_eq(&g_ev, g_ev.cuts.item[0], w[0]->s.prefix));
    assert_int_equal(g_ev.adds.count, 1);
    assert_true(kd_span_eq(&g_ev, g_ev.adds.item[0], w[2]->s.prefix));
    assert_int_equal(g_ev.wits.count, 2);
    assert_int_equal(g_ev.bt, 2);
    assert_true(kd_span_eq(&g_ev, g_ev.keys.item[0], k[1]->pub));
    assert_true(kd_span_eq(&g_ev, g_ev.ndigs.item[0], k[2]->dig));
    {
        char dt[KD_DATETIME_LEN + 1];

        kd_clock_format_dt(T0, dt);
        assert_true(kd_span_eq(&g_ev, kn->dt, dt)); /* first-seen time of the latest event */
    }

    kd_buf_reset(&out);
    assert_int_equal(kd_kel_ksn_keriox(&out, st, WAN, T0, T0 + 1), KD_OK);
    assert_int_equal(kd_event_parse(&g_ev, out.data, out.len, NULL), KD_OK);
    assert_int_equal(kn->form, KD_KSN_KERIOX);
    assert_true(kn->sn == 1 && kn->ee_sn == 1 && kn->p_null && kn->et_null);
    assert_true(kd_span_eq(&g_ev, kn->s, "1") && kd_span_eq(&g_ev, kn->f, "0"));
    assert_true(kd_span_eq(&g_ev, kn->ee_d, icp_d)); /* keriox: the rotation's prior */
    assert_int_equal(g_ev.traits, 0);                /* keriox: c is always [] */
    assert_true(kd_span_eq(&g_ev, g_ev.cuts.item[0], w[2]->s.prefix)); /* br: added */
    assert_true(kd_span_eq(&g_ev, g_ev.adds.item[0], w[0]->s.prefix)); /* ba: removed */
    kd_kel_state_free(st);

    /* keriox writes s in decimal: sn 10 is "10" there and "a" in keripy's */
    b = mk_icp(pre, k + 3, 1, "\"1\"", k, 1, "\"1\"", "", 0, "");
    r = run_signed(fx, b, k + 3, 1);
    assert_verdict(r, KD_KEL_ACCEPTED);
    free(b);
    snprintf(ixn_d, sizeof ixn_d, "%s", r.said);
    snprintf(icp_d, sizeof icp_d, "%s", r.said);
    for (unsigned sn = 1; sn <= 10; sn++) {
        b = mk_ixn(ixn_d, pre, sn, ixn_d, "");
        assert_verdict(run_signed(fx, b, k + 3, 1), KD_KEL_ACCEPTED);
        free(b);
    }
    st = state_of(fx, pre);
    kd_buf_reset(&out);
    assert_int_equal(kd_kel_ksn_keriox(&out, st, WAN, T0, T0), KD_OK);
    assert_int_equal(kd_event_parse(&g_ev, out.data, out.len, NULL), KD_OK);
    assert_true(kd_span_eq(&g_ev, kn->s, "10"));
    assert_true(kd_span_eq(&g_ev, kn->ee_d, icp_d)); /* after an inception: its SAID */
    kd_buf_reset(&out);
    assert_int_equal(kd_kel_ksn_keripy(&out, st, WAN, T0), KD_OK);
    assert_int_equal(kd_event_parse(&g_ev, out.data, out.len, NULL), KD_OK);
    assert_true(kd_span_eq(&g_ev, kn->s, "a") && kd_span_eq(&g_ev, kn->f, "a"));
    assert_true(kd_span_eq(&g_ev, kn->et, "ixn"));
    kd_kel_state_free(st);
    kd_buf_free(&out);
    keys_wipe(ks, 4);
    keys_wipe(ws, 3);
}

/* ---- corpora of the independent client (signify-ts) ---- */

/*
 * tests/unit/data/kel/kc-*.jsonl were made by /work/shared/tools/keri-client
 * (node kc.mjs gen, README "gen"):
 *   kc-single:   --controllers 12 --events 6 --witnesses <wan> --toad 1
 *                --seed kerid-kel-single --rot-ratio 0.3 --anchors 1
 *                --invalid all --invalid-rate 0.25
 *   kc-multi:    --controllers 8 --events 5 --witnesses <wan>,<wil> --toad 2
 *                --seed kerid-kel-multi --keys 3 --threshold 2 --sign-count 2
 *                --rot-ratio 0.4 --invalid all --invalid-rate 0.25
 *   kc-weighted: --controllers 8 --events 5 --witnesses <wan> --toad 1
 *                --seed kerid-kel-weighted --keys 3 --threshold '["1/2","1/2","1/2"]'
 *                --rot-ratio 0.4 --invalid all --invalid-rate 0.25
 *   kc-clauses:  --controllers 6 --events 4 --witnesses <wan> --toad 1
 *                --seed kerid-kel-clauses --keys 3 --threshold '[["1/2","1/2"],["1"]]'
 *                --rot-ratio 0.5 --invalid all --invalid-rate 0.3
 * The node is witness wan: every "valid" event must be accepted (and
 * receipted), no "invalid" one; each controller ends at its last valid event.
 */
static void run_corpus(struct fx *fx, const char *rel)
{
    size_t n;
    char *text = read_file("KD_SOURCE_DIR", rel, &n);
    char last_pre[KD_KEL_ID_MAX + 1] = "", last_said[KD_KEL_ID_MAX + 1] = "";
    unsigned valid = 0, invalid = 0, controllers = 0;
    char *line = text, *nl;

    for (; line < text + n; line = nl + 1) {
        json_error_t jerr;
        json_t *o;
        const char *type;

        nl = strchr(line, '\n');
        if (nl == NULL)
            nl = text + n;
        *nl = '\0';
        o = json_loads(line, 0, &jerr);
        if (o == NULL)
            fail_msg("%s: %s", rel, jerr.text);
        type = jstr(o, "type");
        if (strcmp(type, "event") == 0) {
            const char *raw = jstr(o, "raw");
            const bool ok = strcmp(jstr(o, "expect"), "valid") == 0;
            struct kd_kel_result r = run_parts(fx, raw, strlen(raw), jstr(o, "atc"));

            if (ok) {
                if (r.verdict != KD_KEL_ACCEPTED)
                    fail_msg("%s: valid %s %s: %s (%s)", rel, jstr(o, "t"), jstr(o, "d"),
                             kd_kel_verdict_name(r.verdict), r.why);
                assert_int_equal(r.own_index, 0);
                assert_int_equal(sigs_of(fx, jstr(o, "d"), KD_STORE_SIG_WITNESS), 1);
                snprintf(last_pre, sizeof last_pre, "%s", jstr(o, "i"));
                snprintf(last_said, sizeof last_said, "%s", jstr(o, "d"));
                valid++;
            } else {
                const char *kind = jstr(o, "invalid");

                if (r.verdict == KD_KEL_ACCEPTED || r.verdict == KD_KEL_DUPLICATE)
                    fail_msg("%s: invalid (%s) %s was %s", rel, kind, jstr(o, "d"),
                             kd_kel_verdict_name(r.verdict));
                if (strcmp(kind, "bad_sig") == 0)
                    assert_rejected(r, KD_KEL_F_BAD_SIG);
                else if (strcmp(kind, "bad_prior") == 0)
                    assert_rejected(r, KD_KEL_F_PRIOR);
                else if (strcmp(kind, "broken_said") == 0 || strcmp(kind, "truncated") == 0)
                    assert_rejected(r, KD_KEL_F_BODY);
                else if (strcmp(kind, "wrong_sn") == 0)
                    assert_true(
                        r.verdict == KD_KEL_ESCROWED ||
                        (r.verdict == KD_KEL_REJECTED && r.fault == KD_KEL_F_ESTABLISHMENT));
                else
                    fail_msg("unknown invalid kind %s", kind);
                invalid++;
            }
        } else if (strcmp(type, "controller") == 0 || strcmp(type, "trailer") == 0) {
            if (last_pre[0] != '\0') {
                struct kd_kel_state *st = state_of(fx, last_pre);

                assert_string_equal(st->said, last_said);
                kd_kel_state_free(st);
                assert_rebuild(fx, last_pre);
            }
            if (strcmp(type, "controller") == 0)
                controllers++;
            else {
                assert_int_equal(json_integer_value(json_object_get(o, "valid")), valid);
                assert_int_equal(controllers,
                                 json_integer_value(json_object_get(o, "controllers")));
            }
            last_pre[0] = '\0';
        }
        json_decref(o);
    }
    assert_true(valid > 0 && invalid > 0);
    /* wrong_sn events wait in the out-of-order escrow until they expire */
    free(text);
}

static void test_client_corpora(void **state)
{
    static const char *const files[] = {
        "tests/unit/data/kel/kc-single.jsonl", "tests/unit/data/kel/kc-multi.jsonl",
        "tests/unit/data/kel/kc-weighted.jsonl", "tests/unit/data/kel/kc-clauses.jsonl"};
    struct fx *fx = *state;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        fx_reset(fx);
        fx_as_wan(fx);
        run_corpus(fx, files[i]);
    }
}

/* ---- the rest of the surface ---- */

static void test_pure_validation(void **state)
{
    struct fx *fx = *state;
    json_t *j = load_json("vectors/keripy/kel_multisig.json");
    const json_t *events = json_object_get(json_array_get(json_object_get(j, "kels"), 1), "events");
    struct kd_kel_state *st = NULL, *next = NULL;
    struct kd_cesr_error e;

    for (size_t i = 0; i < json_array_size(events); i++) {
        const char *m = jstr(json_array_get(events, i), "message_witnessed");
        struct kd_cesr_msg msg;
        struct kd_kel_result r;
        /* frame the one message */
        {
            struct kd_cesr_stream s;

            kd_cesr_stream_init(&s, NULL);
            assert_int_equal(kd_cesr_stream_feed(&s, m, strlen(m)), KD_OK);
            kd_cesr_stream_finish(&s);
            assert_int_equal(kd_cesr_stream_next(&s, &msg), KD_CESR_STEP_MSG);
            assert_int_equal(kd_kel_validate(fx->k, st, &msg, T0, &r, &next), KD_OK);
            assert_verdict(r, KD_KEL_ACCEPTED);
            assert_non_null(next);
            assert_string_equal(next->said, jstr(json_array_get(events, i), "said"));
            /* the same again against the new state: a duplicate */
            {
                struct kd_kel_state *none = NULL;

                assert_int_equal(kd_kel_validate(fx->k, next, &msg, T0, &r, &none), KD_OK);
                assert_verdict(r, KD_KEL_DUPLICATE);
                assert_null(none);
            }
            kd_cesr_stream_free(&s);
        }
        kd_kel_state_free(st);
        st = next;
        next = NULL;
    }
    assert_true(st->sn == 2);
    kd_kel_state_free(st);
    /* unknown identifier, later event: out of order */
    {
        const char *m = jstr(json_array_get(events, 2), "message_witnessed");
        struct kd_cesr_attachments att;
        struct kd_cesr_msg msg;
        struct kd_kel_result r;
        const char *a = strstr(m, "}-A") + 1;

        memset(&msg, 0, sizeof msg);
        msg.body = (const unsigned char *)m;
        msg.body_len = (size_t)(a - m);
        assert_int_equal(kd_cesr_attach_parse(a, strlen(a), 0, NULL, &att, &e), KD_OK);
        msg.att = att;
        assert_int_equal(kd_kel_validate(fx->k, NULL, &msg, T0, &r, &next), KD_OK);
        assert_escrowed(r, KD_STORE_ESCROW_OUT_OF_ORDER);
        assert_int_equal(kd_kel_validate(NULL, NULL, &msg, T0, &r, &next), KD_EINVAL);
    }
    json_decref(j);
}

static void test_errors_and_edges(void **state)
{
    struct fx *fx = *state;
    struct kd_kel *k = NULL;
    struct kd_kel_opts o;
    const char *bad_own[1] = {"DGmIfLmgErg4zFHfPwaDckLNxsLqc5iS_P0QbLjbWR0I"};
    struct kd_kel_state *st = NULL;
    struct kd_kel_result r;
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *e0 = json_array_get(json_object_get(j, "events"), 0);

    /* construction */
    assert_int_equal(kd_kel_new(NULL, NULL), KD_EINVAL);
    kd_kel_opts_default(&o);
    o.own_prefixes = bad_own; /* transferable: not a witness identity */
    o.nown = 1;
    assert_int_equal(kd_kel_new(&k, &o), KD_EINVAL);
    o.own_prefixes = NULL;
    assert_int_equal(kd_kel_new(&k, &o), KD_EINVAL);
    o.nown = 0;
    o.limits.max_sigs = 100000;          /* clamped */
    o.limits.cache_states = 4000000000u; /* clamped: no table of that size */
    o.limits.release_max = 4000000000u;
    assert_int_equal(kd_kel_new(&k, &o), KD_OK);
    kd_kel_free(k);
    kd_kel_free(NULL);
    assert_int_equal(kd_kel_new(&k, NULL), KD_OK);
    kd_kel_free(k);
    /* names */
    assert_string_equal(kd_kel_verdict_name(KD_KEL_ESCROWED), "escrowed");
    assert_string_equal(kd_kel_verdict_name((enum kd_kel_verdict)99), "?");
    assert_string_equal(kd_kel_fault_name(KD_KEL_F_PRIOR), "PRIOR");
    assert_string_equal(kd_kel_fault_name(KD_KEL_F_COUNT_), "?");
    assert_int_equal(kd_kel_fault_err(KD_KEL_F_COUNT_), KD_EINTERNAL);
    assert_string_equal(kd_kel_fault_message(KD_KEL_F_COUNT_), "?");
    /* damaged state blobs never crash and say KD_ESTORE */
    assert_verdict(run1(fx, jstr(e0, "message")), KD_KEL_ESCROWED);
    assert_verdict(run1(fx, jstr(e0, "message_witnessed")), KD_KEL_ACCEPTED);
    st = state_of(fx, jstr(e0, "pre"));
    {
        struct kd_buf b;
        struct kd_kel_state *x = NULL;

        kd_buf_init(&b, 0);
        assert_int_equal(kd_kel_state_encode(st, &b), KD_OK);
        assert_int_equal(kd_kel_state_decode(b.data, b.len, &x), KD_OK);
        kd_kel_state_free(x);
        for (size_t cut = 0; cut < b.len; cut++) {
            assert_int_equal(kd_kel_state_decode(b.data, cut, &x), KD_ESTORE);
            assert_null(x);
        }
        for (size_t at = 0; at < b.len; at++) {
            uint8_t *p = b.data + at, was = *p;
            enum kd_err err;

            *p ^= 0x5a;
            err = kd_kel_state_decode(b.data, b.len, &x);
            assert_true(err == KD_OK || err == KD_ESTORE);
            kd_kel_state_free(x);
            x = NULL;
            *p = was;
        }
        assert_int_equal(kd_kel_state_decode(NULL, 0, &x), KD_ESTORE);
        kd_buf_free(&b);
    }
    kd_kel_state_free(st);
    assert_int_equal(kd_kel_state_at(kd_store_reader(fx->s), jstr(e0, "pre"), 0, &st), KD_OK);
    assert_string_equal(st->said, jstr(e0, "said"));
    kd_kel_state_free(st);
    assert_int_equal(kd_kel_state_at(kd_store_reader(fx->s), WAN, 0, &st), KD_ENOTFOUND);
    assert_int_equal(kd_kel_rebuild_state(kd_store_reader(fx->s), WAN, &st), KD_ENOTFOUND);
    assert_int_equal(kd_kel_rebuild_state(NULL, WAN, &st), KD_EINVAL);
    /* not KEL messages are the caller's */
    {
        char *q =
            read_file("KD_SHARED_DIR",
                      "spec/keriox-examples/watcher-to-witness-POST-query-ksn.request.cesr", NULL);

        r = run1(fx, q);
        assert_verdict(r, KD_KEL_SKIPPED);
        free(q);
    }
    /* a body that does not parse (JSON not canonical) */
    {
        const char *raw = jstr(e0, "raw");
        char *bad = strdup(raw);

        bad[strlen(bad) - 2] = ' ';
        r = run_parts(fx, bad, strlen(bad), jstr(e0, "controller_sigs"));
        assert_rejected(r, KD_KEL_F_BODY);
        assert_true(r.diag.fault != KD_EVF_NONE);
        free(bad);
    }
    /* more signatures than the limit */
    {
        struct tk ks[3], *k3[3];
        char pre[KD_KEL_ID_MAX + 1], *b;

        fx->opts.limits.max_sigs = 2;
        fx_engine(fx);
        keys_make(ks, k3, 3, 1100);
        b = mk_icp(pre, k3, 3, "\"2\"", k3, 1, "\"1\"", "", 0, "");
        assert_rejected(run_signed(fx, b, k3, 3), KD_KEL_F_TOO_MANY_SIGS);
        assert_verdict(run_signed(fx, b, k3, 2), KD_KEL_ACCEPTED);
        free(b);
        keys_wipe(ks, 3);
    }
    /* a sequence number the store cannot hold */
    {
        struct tk kk, *k1[1] = {&kk};
        char *b;

        tk_make(&kk, 1200);
        b = mk(NULL, NULL,
               "{\"v\":\"" H17 "\",\"t\":\"ixn\",\"d\":\"" H44
               "\",\"i\":\"%s\",\"s\":\"8000000000000000\",\"p\":\"%s\",\"a\":[]}",
               jstr(e0, "pre"), jstr(e0, "said"));
        assert_rejected(run_signed(fx, b, k1, 1), KD_KEL_F_SN_RANGE);
        free(b);
        kd_signer_wipe(&kk.s);
    }
    /* an inception that breaks its own rules */
    {
        struct tk kk, *k1[1] = {&kk};
        char pre[KD_KEL_ID_MAX + 1], *b;

        tk_make(&kk, 1201);
        b = mk_icp(pre, k1, 1, "\"2\"", k1, 1, "\"1\"", "", 0, "");
        r = run_signed(fx, b, k1, 1);
        assert_rejected(r, KD_KEL_F_ESTABLISHMENT);
        assert_int_equal(r.diag.fault, KD_EVF_KEYS);
        free(b);
        kd_signer_wipe(&kk.s);
    }
    /* misuse of the receipt helpers */
    {
        struct kd_buf b;

        kd_buf_init(&b, 0);
        assert_int_equal(kd_kel_receipt_msg(NULL, WAN, 0, WAN, WAN, WAN), KD_EINVAL);
        assert_int_equal(kd_kel_receipt_msg(&b, WAN, 0, jstr(e0, "said"), WAN, WAN), KD_EINVAL);
        kd_buf_free(&b);
    }
    json_decref(j);
}

/* Bodies of several messages, as keriox's /process takes them. */
static void test_process_body(void **state)
{
    struct fx *fx = *state;
    size_t n;
    char *dkms = read_file(
        "KD_SHARED_DIR", "spec/keriox-examples/real-dkms-kel-icp-then-rct-two-witnesses.cesr", &n);
    json_t *j = load_json("vectors/keripy/kel_single_sig.json");
    const json_t *events = json_object_get(j, "events");
    struct kd_kel_body_result b;
    char *m;

    /* a live dkms network's icp (toad 2) and the rct with both witnesses'
     * couples: a validator escrows the event, then the receipts release it */
    b = run_body(fx, dkms, n, T0);
    assert_int_equal(b.messages, 2);
    assert_int_equal(b.verdicts[KD_KEL_ESCROWED], 1);
    assert_int_equal(b.verdicts[KD_KEL_ACCEPTED], 1);
    assert_int_equal(b.err, KD_OK);
    assert_event_at(fx, "EPNYUP688XxtHUfxeHlqxqSduMHmWrpjRzlUCKPtvB7t", 0,
                    "EPNYUP688XxtHUfxeHlqxqSduMHmWrpjRzlUCKPtvB7t");
    assert_int_equal(
        sigs_of(fx, "EPNYUP688XxtHUfxeHlqxqSduMHmWrpjRzlUCKPtvB7t", KD_STORE_SIG_WITNESS), 2);
    /* a message, then bytes that are not CESR: the first stays, the error is told */
    fx_reset(fx);
    m = cat3(jstr(json_array_get(events, 0), "message_witnessed"), "{garbage", "");
    b = run_body(fx, m, strlen(m), T0);
    assert_int_equal(b.messages, 1);
    assert_int_equal(b.verdicts[KD_KEL_ACCEPTED], 1);
    assert_int_not_equal(b.cesr.code, KD_OK);
    assert_int_equal(b.err, b.cesr.code);
    free(m);
    /* a rejected message first (a signature over another body), then the
     * valid one: both tried, or only the first with stop_on_reject */
    m = cat3(jstr(json_array_get(events, 0), "raw"),
             jstr(json_array_get(events, 1), "controller_sigs"),
             jstr(json_array_get(events, 0), "message_witnessed"));
    for (int stop = 0; stop < 2; stop++) {
        struct run r;

        fx_reset(fx);
        memset(&r, 0, sizeof r);
        r.k = fx->k;
        r.text = m;
        r.len = strlen(m);
        r.now = T0;
        r.whole = true;
        r.stop = stop != 0;
        assert_int_equal(kd_store_write_sync(fx->s, run_fn, &r), KD_OK);
        assert_true(r.body.rejected);
        assert_int_equal(r.body.first_reject.fault, KD_KEL_F_BAD_SIG);
        assert_int_equal(r.body.err, KD_EBADSIG);
        assert_int_equal(r.body.messages, stop ? 1 : 2);
        assert_int_equal(r.body.verdicts[KD_KEL_ACCEPTED], stop ? 0 : 1);
    }
    free(m);
    json_decref(j);
    free(dkms);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_vectors_single_sig),
        T(test_vectors_multisig),
        T(test_vectors_delegated),
        T(test_vectors_oobi_replay),
        T(test_vectors_invalid),
        T(test_witness_receipts),
        T(test_validator_receipts),
        T(test_receipt_known_answer),
        T(test_rules_signatures),
        T(test_rules_weighted),
        T(test_rules_rotation),
        T(test_rules_witnesses),
        T(test_rules_traits),
        T(test_rules_nontransferable),
        T(test_rules_delegation),
        T(test_recovery_and_duplicity),
        T(test_delegated_recovery),
        T(test_out_of_order),
        T(test_escrow_expiry),
        T(test_restart_persistence),
        T(test_escrow_bounds),
        T(test_rollback_drops_cache),
        T(test_small_cache),
        T(test_ksn_keriox_known_answer),
        T(test_ksn_forms),
        T(test_client_corpora),
        T(test_pure_validation),
        T(test_errors_and_edges),
        T(test_process_body),
#undef T
    };
    /* clang-format on */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
