/*
 * tel/: strict parsing of TEL events against keriox's example stream
 * (spec/keriox-examples/tel-vcp-bis-brv-stream.cesr: its SAIDs and keriox
 * registry prefix must verify), crafted invalid bodies, the -GAB seal, and
 * the validation engine against a real store: anchors in the issuer's KEL,
 * sn and prior chaining, registry configuration, backer rotation, escrows
 * (out of order, missing anchor) with their release, expiry and limits.
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

#include "kerid/cesr_stream.h"
#include "kerid/crypto.h"
#include "kerid/event.h"
#include "kerid/log.h"
#include "kerid/store.h"
#include "kerid/tel.h"

#define D44 "############################################"
/* Identifiers used as they are (any valid qb64 of the right class). */
#define ISSUER  "EL2KqdbeSkemPII22qQ9dNglhBYa2YaQL7ePjN-3aTGg"
#define ISSUER2 "EBdKN6OBVyAsTQrNaWxBNqbLWsVsFpt9tqK8CAKcg0Au"
#define VC1     "ENdJge-nCgyIC42MGYXQddvL9nm5ml-ZFOWq-WuDGp4k"
#define VC2     "EC8Oej-3HAUpBY_kxzBK3B-0RV9j4dXw1H0NRKxJg7g-"
#define BAK1    "BBilc4-L3tFUnfM_wJr4S4OJanAv_VmF_dJNN6vkf2Ha"
#define BAK2    "BLskRTInXnMxWaGqcpSyMgo0nYbalW99cGZESrz3zapM"
#define PRIOR0  "EBpq06UecHwzy-K9FpNoRxCJp2wIGM9u2Edk-PLMZ1H4"
#define DT      "2024-08-01T11:55:26.509238+00:00"

/* ---- helpers ---- */

static char *read_shared(const char *rel, size_t *len)
{
    const char *dir = getenv("KD_SHARED_DIR");
    char path[4096];
    FILE *f;
    long n;
    char *buf;

    assert_non_null(dir);
    assert_true((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) < sizeof path);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes the size into the version string and the Blake3-256 SAID into d
 * (and into i when i holds 44 '#': keripy's registry prefix, i == d). */
static void tel_fill(char *body)
{
    char size[24], said[KD_DIGEST_QB64_LEN + 1];
    char *v = strstr(body, "KERI10JSON"), *d = strstr(body, "\"d\":\"" D44), *i;
    const size_t n = strlen(body);

    assert_non_null(v);
    assert_non_null(d);
    assert_true(n < 0x1000000);
    snprintf(size, sizeof size, "%06zx", n);
    memcpy(v + 10, size, 6);
    kd_blake3_256_qb64(body, n, said);
    memcpy(d + 5, said, 44);
    i = strstr(body, "\"i\":\"" D44);
    if (i != NULL)
        memcpy(i + 5, said, 44);
}

/* printf into a fresh buffer, then tel_fill; caller frees. */
static char *tel_make(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tel_make(const char *fmt, ...)
{
    char *b = malloc(8192);
    va_list ap;
    int n;

    assert_non_null(b);
    va_start(ap, fmt);
    n = vsnprintf(b, 8192, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < 8192);
    tel_fill(b);
    return b;
}

/* The "d" value of a body into out (45 bytes). */
static void said_of(const char *body, char *out)
{
    const char *d = strstr(body, "\"d\":\"");

    assert_non_null(d);
    memcpy(out, d + 5, 44);
    out[44] = '\0';
}

static enum kd_err parse(struct kd_tel_event *ev, const char *body, struct kd_event_diag *diag)
{
    return kd_tel_parse(ev, body, strlen(body), diag);
}

/* ---- fixture: a store ---- */

struct fx {
    char dir[64];
    char path[128];
    struct kd_store *s;
    struct kd_tel_opts opts;
    int64_t now_us;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kd-tel-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/kerid.sqlite3", fx->dir);
    assert_int_equal(kd_store_open(&fx->s, fx->path, NULL, NULL, NULL), KD_OK);
    fx->now_us = 1700000000000000;
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;
    char p[160];

    kd_store_close(fx->s);
    snprintf(p, sizeof p, "%s", fx->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-wal", fx->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", fx->path);
    unlink(p);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Stores an ixn of prefix at sn whose a holds the given seals text (a list
 * body such as {"i":..,"s":..,"d":..}); its SAID goes to said_out. Built and
 * checked by kel/ (kd_said_fill). */
struct put_kel {
    const char *prefix;
    uint64_t sn;
    char body[4096];
    size_t len;
    char said[KD_DIGEST_QB64_LEN + 1];
};

static enum kd_err put_kel_fn(struct kd_store_txn *txn, void *arg)
{
    struct put_kel *p = arg;
    struct kd_store_event ev;

    memset(&ev, 0, sizeof ev);
    ev.prefix = p->prefix;
    ev.sn = p->sn;
    ev.said = p->said;
    ev.ilk = "ixn";
    ev.raw = (const uint8_t *)p->body;
    ev.raw_len = p->len;
    return kd_store_event_add(txn, &ev, NULL);
}

/* Builds (without storing) an ixn of prefix at sn whose a holds seals. */
static struct put_kel *ixn_build(const char *prefix, uint64_t sn, const char *seals)
{
    struct put_kel *p = calloc(1, sizeof *p);
    struct kd_event *ev = malloc(sizeof *ev);
    struct kd_event_diag diag;
    int n;

    assert_non_null(p);
    assert_non_null(ev);
    n = snprintf(p->body, sizeof p->body,
                 "{\"v\":\"#################\",\"t\":\"ixn\",\"d\":\"" D44 "\",\"i\":\"%s\","
                 "\"s\":\"%llx\",\"p\":\"" PRIOR0 "\",\"a\":[%s]}",
                 prefix, (unsigned long long)sn, seals);
    assert_true(n > 0 && (size_t)n < sizeof p->body);
    p->len = (size_t)n;
    assert_int_equal(kd_said_fill(ev, p->body, p->len, &diag), KD_OK);
    memcpy(p->said, p->body + ev->d.off, 44);
    p->said[44] = '\0';
    p->prefix = prefix;
    p->sn = sn;
    free(ev);
    return p;
}

/* Stores a built ixn and frees it. */
static void ixn_store(struct fx *fx, struct put_kel *p)
{
    assert_int_equal(kd_store_write_sync(fx->s, put_kel_fn, p), KD_OK);
    free(p);
}

static void put_ixn(struct fx *fx, const char *prefix, uint64_t sn, const char *seals,
                    char said_out[KD_DIGEST_QB64_LEN + 1])
{
    struct put_kel *p = ixn_build(prefix, sn, seals);

    if (said_out != NULL)
        strcpy(said_out, p->said);
    ixn_store(fx, p);
}

/* The seal text {"i":..,"s":..,"d":..} of a TEL body. */
static void seal_of(const char *body, char *out, size_t cap)
{
    struct kd_tel_event *ev = malloc(sizeof *ev);
    char snh[40];

    assert_non_null(ev);
    assert_int_equal(parse(ev, body, NULL), KD_OK);
    kd_cesr_sn_hex(ev->sn, snh, sizeof snh);
    snprintf(out, cap, "{\"i\":\"%s\",\"s\":\"%s\",\"d\":\"%s\"}", ev->id, snh, ev->said);
    free(ev);
}

/* Anchors body in prefix's KEL at sn (a new ixn); *kel_said gets its SAID. */
static void anchor(struct fx *fx, const char *prefix, uint64_t sn, const char *body, char *kel_said)
{
    char seal[512];

    seal_of(body, seal, sizeof seal);
    put_ixn(fx, prefix, sn, seal, kel_said);
}

struct run1 {
    const char *text;
    const struct kd_tel_opts *opts;
    int64_t now_us;
    struct kd_tel_result res;
    unsigned msgs;
};

struct run1_ctx {
    struct kd_store_txn *txn;
    struct run1 *r;
};

static enum kd_err run1_cb(void *arg, const struct kd_cesr_msg *msg)
{
    struct run1_ctx *c = arg;

    c->r->msgs++;
    return kd_tel_process(c->txn, msg, c->r->opts, c->r->now_us, &c->r->res);
}

static enum kd_err run1_fn(struct kd_store_txn *txn, void *arg)
{
    struct run1_ctx c = {txn, arg};
    const struct run1 *r = arg;

    return kd_cesr_split_all(r->text, strlen(r->text), NULL, run1_cb, &c, NULL);
}

/* Processes one TEL message (body + -GAB seal of the KEL event at kel_sn
 * with SAID kel_said) and returns its verdict; *res (may be NULL) gets it all. */
static enum kd_tel_verdict process(struct fx *fx, const char *body, uint64_t kel_sn,
                                   const char *kel_said, struct kd_tel_result *res)
{
    struct run1 r;
    char sn[KD_CESR_SN_QB64_LEN + 1];
    char *text = malloc(strlen(body) + 128);

    assert_non_null(text);
    assert_int_equal(kd_cesr_sn_encode(kel_sn, sn, sizeof sn), KD_OK);
    sprintf(text, "%s-GAB%s%s", body, sn, kel_said);
    memset(&r, 0, sizeof r);
    r.text = text;
    r.opts = &fx->opts;
    r.now_us = fx->now_us;
    assert_int_equal(kd_store_write_sync(fx->s, run1_fn, &r), KD_OK);
    assert_int_equal(r.msgs, 1);
    free(text);
    if (res != NULL)
        *res = r.res;
    return r.res.verdict;
}

/* Whether the TEL id holds an event at sn with that SAID. */
static bool stored(struct fx *fx, const char *id, uint64_t sn, const char *said)
{
    struct kd_store_tel_event ev;
    struct kd_buf b;
    enum kd_err e;
    bool ok;

    kd_buf_init(&b, 0);
    e = kd_store_tel_at(kd_store_reader(fx->s), id, sn, &ev, &b);
    ok = e == KD_OK && strcmp(ev.said, said) == 0;
    if (e != KD_OK)
        assert_int_equal(e, KD_ENOTFOUND);
    kd_buf_free(&b);
    return ok;
}

static uint64_t escrowed(struct fx *fx)
{
    uint64_t n = 99;

    assert_int_equal(kd_store_tel_escrow_count(kd_store_reader(fx->s), NULL, &n), KD_OK);
    return n;
}

/* ---- event builders ---- */

/* A keripy registry inception (i == d), NB or with backers. */
static char *vcp_keripy(const char *issuer, bool nb, const char *backers, const char *bt)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"vcp\",\"d\":\"" D44 "\",\"i\":\"" D44
                    "\",\"ii\":\"%s\",\"s\":\"0\",\"c\":[%s],\"bt\":\"%s\",\"b\":[%s],"
                    "\"n\":\"0AAxyHwW6htOZ_rANOaZb2N2\"}",
                    issuer, nb ? "\"NB\"" : "", bt, backers);
}

static char *iss(const char *vc, const char *reg)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"s\":\"0\",\"ri\":\"%s\",\"dt\":\"" DT "\"}",
                    vc, reg);
}

static char *rev(const char *vc, const char *reg, const char *prior)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"rev\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"s\":\"1\",\"ri\":\"%s\",\"p\":\"%s\",\"dt\":\"" DT "\"}",
                    vc, reg, prior);
}

/* keriox bis (ii = issuer, s before ii). */
static char *bis_keriox(const char *vc, const char *issuer, const char *reg, unsigned rsn,
                        const char *rd)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"bis\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"s\":\"0\",\"ii\":\"%s\",\"ra\":{\"i\":\"%s\",\"s\":\"%x\",\"d\":\"%s\"},"
                    "\"dt\":\"" DT "\"}",
                    vc, issuer, reg, rsn, rd);
}

/* keripy bis (ii = registry, ii before s). */
static char *bis_keripy(const char *vc, const char *reg, unsigned rsn, const char *rd)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"bis\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"ii\":\"%s\",\"s\":\"0\",\"ra\":{\"i\":\"%s\",\"s\":\"%x\",\"d\":\"%s\"},"
                    "\"dt\":\"" DT "\"}",
                    vc, reg, reg, rsn, rd);
}

static char *brv(const char *vc, const char *prior, const char *reg, unsigned rsn, const char *rd)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"brv\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"s\":\"1\",\"p\":\"%s\",\"ra\":{\"i\":\"%s\",\"s\":\"%x\",\"d\":\"%s\"},"
                    "\"dt\":\"" DT "\"}",
                    vc, prior, reg, rsn, rd);
}

/* keripy vrt (p before s, with bt). */
static char *vrt(const char *reg, unsigned sn, const char *prior, const char *bt, const char *cuts,
                 const char *adds)
{
    return tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"vrt\",\"d\":\"" D44 "\",\"i\":\"%s\","
                    "\"p\":\"%s\",\"s\":\"%x\",\"bt\":\"%s\",\"br\":[%s],\"ba\":[%s]}",
                    reg, prior, sn, bt, cuts, adds);
}

/* Incepts an NB registry of ISSUER anchored at KEL sn; reg_out gets its prefix. */
static char *registry_nb(struct fx *fx, uint64_t kel_sn, char *reg_out)
{
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char ks[48];

    said_of(vcp, reg_out);
    anchor(fx, ISSUER, kel_sn, vcp, ks);
    assert_int_equal(process(fx, vcp, kel_sn, ks, NULL), KD_TEL_ACCEPTED);
    return vcp;
}

/* ---- the example stream ---- */

struct split {
    const char *text[8];
    size_t len[8];
    struct kd_cesr_attachments att[8];
    unsigned n;
};

static enum kd_err split_cb(void *arg, const struct kd_cesr_msg *msg)
{
    struct split *s = arg;

    assert_true(s->n < 8);
    s->text[s->n] = (const char *)msg->body;
    s->len[s->n] = msg->body_len;
    s->att[s->n] = msg->att;
    s->n++;
    return KD_OK;
}

static void test_example_stream(void **state)
{
    static const char *const saids[3] = {"ELKXqawms-uIvL74BTnYHFOPJrjD8N9DaC2-Yljl_OOn",
                                         "EDoj2ic6WlRrszgT3Hm67-fdxjr-ZxRZMy9O9MXURZDF",
                                         "EI6P1iV3bSFI5Y_TEhep-uvrGXxwFVdixPjvLKLRP7Oy"};
    static const char *const anchors[3] = {"EKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ",
                                           "EHUKCdWrjC14xuBc2wMgVlF0zmyhx5XXTtjZC7GVtQ2f",
                                           "EO0smZufH8Yrtl6ac_iqF2QeBCJmT031wYqlEMKbeROV"};
    struct kd_tel_event *ev = malloc(sizeof *ev);
    struct split *s = calloc(1, sizeof *s);
    struct kd_event_diag diag;
    struct kd_tel_seal seal;
    size_t len = 0;
    char *text = read_shared("spec/keriox-examples/tel-vcp-bis-brv-stream.cesr", &len);

    (void)state;
    assert_non_null(ev);
    assert_non_null(s);
    /* the file may end with a newline: split what precedes it */
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    assert_int_equal(kd_cesr_split_all(text, len, NULL, split_cb, s, NULL), KD_OK);
    assert_int_equal(s->n, 3);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(kd_tel_parse(ev, s->text[k], s->len[k], &diag), KD_OK);
        assert_string_equal(ev->said, saids[k]);
        assert_int_equal(kd_tel_seal_get(&s->att[k], &seal), KD_OK);
        assert_true(seal.sn == k + 1);
        assert_string_equal(seal.said, anchors[k]);
    }
    /* vcp: keriox field order, keriox registry prefix derivation, NB */
    assert_int_equal(kd_tel_parse(ev, s->text[0], s->len[0], NULL), KD_OK);
    assert_int_equal(ev->ilk, KD_TEL_VCP);
    assert_int_equal(ev->form, KD_TEL_FORM_KERIOX);
    assert_string_equal(ev->id, "EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH");
    assert_string_equal(ev->reg, ev->id);
    assert_string_equal(ev->ii, "EL2KqdbeSkemPII22qQ9dNglhBYa2YaQL7ePjN-3aTGg");
    assert_true(ev->no_backers);
    assert_int_equal(ev->backers.count, 0);
    /* bis: keriox order, ra names the vcp */
    assert_int_equal(kd_tel_parse(ev, s->text[1], s->len[1], NULL), KD_OK);
    assert_int_equal(ev->ilk, KD_TEL_BIS);
    assert_int_equal(ev->form, KD_TEL_FORM_KERIOX);
    assert_string_equal(ev->reg, "EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH");
    assert_string_equal(ev->ra_d, saids[0]);
    assert_true(ev->ra_sn == 0);
    /* brv: sn 1, p = the bis */
    assert_int_equal(kd_tel_parse(ev, s->text[2], s->len[2], NULL), KD_OK);
    assert_int_equal(ev->ilk, KD_TEL_BRV);
    assert_true(ev->sn == 1);
    assert_string_equal(ev->prior, saids[1]);
    assert_string_equal(kd_tel_ilk_name(ev->ilk), "brv");
    free(text);
    free(s);
    free(ev);
}

/* Every one-byte change and every truncation of the example's events is
 * refused (the SAID covers every byte but d's own; d covers the rest), and
 * nothing reads outside the body (ASan). */
static void test_mutations(void **state)
{
    static const unsigned char repl[] = {0x01, '#', '"', '{', 0x00, 0xff, '\\'};
    struct kd_tel_event *ev = malloc(sizeof *ev);
    struct split *s = calloc(1, sizeof *s);
    size_t len = 0;
    char *text = read_shared("spec/keriox-examples/tel-vcp-bis-brv-stream.cesr", &len);
    unsigned char *m;

    (void)state;
    assert_non_null(ev);
    assert_non_null(s);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    assert_int_equal(kd_cesr_split_all(text, len, NULL, split_cb, s, NULL), KD_OK);
    for (unsigned k = 0; k < s->n; k++) {
        const size_t n = s->len[k];

        m = malloc(n);
        assert_non_null(m);
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t r = 0; r < sizeof repl; r++) {
                memcpy(m, s->text[k], n);
                m[pos] = repl[r] == 0x01 ? (unsigned char)(m[pos] ^ 0x01) : repl[r];
                if (m[pos] == (unsigned char)s->text[k][pos])
                    continue;
                assert_int_not_equal(kd_tel_parse(ev, m, n, NULL), KD_OK);
            }
            /* truncated to pos bytes (copied: the parser sees no more) */
            memcpy(m, s->text[k], pos);
            assert_int_not_equal(kd_tel_parse(ev, m, pos, NULL), KD_OK);
        }
        free(m);
    }
    free(text);
    free(s);
    free(ev);
}

/* The example's events, each changed by one byte, fail with the right fault. */
static void expect_fault(const char *body, enum kd_event_fault f)
{
    struct kd_tel_event *ev = malloc(sizeof *ev);
    struct kd_event_diag diag;

    assert_non_null(ev);
    assert_int_not_equal(parse(ev, body, &diag), KD_OK);
    if (diag.fault != f)
        print_error("fault %s (%s), expected %s for %s\n", kd_event_fault_name(diag.fault),
                    diag.why, kd_event_fault_name(f), body);
    assert_int_equal(diag.fault, f);
    assert_non_null(diag.why);
    free(ev);
}

static void test_parse_invalid(void **state)
{
    static const char vcp[] =
        "{\"v\":\"KERI10JSON0000e0_\",\"t\":\"vcp\",\"d\":\"ELKXqawms-uIvL74BTnYHFOPJrjD8N9DaC2-"
        "Yljl_OOn\",\"i\":\"EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH\",\"s\":\"0\",\"ii\":"
        "\"EL2KqdbeSkemPII22qQ9dNglhBYa2YaQL7ePjN-3aTGg\",\"c\":[\"NB\"],\"bt\":\"0\",\"b\":[]}";
    struct kd_tel_event *ev = malloc(sizeof *ev);
    char buf[1024];
    char *b;

    (void)state;
    assert_non_null(ev);
    assert_int_equal(parse(ev, vcp, NULL), KD_OK);

    /* bad SAID: one character of d changed */
    strcpy(buf, vcp);
    buf[strlen("{\"v\":\"KERI10JSON0000e0_\",\"t\":\"vcp\",\"d\":\"E") + 3] ^= 1;
    expect_fault(buf, KD_EVF_SAID);
    /* bad registry prefix: ii changed and d recomputed, i kept */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"vcp\",\"d\":\"" D44 "\",\"i\":"
                 "\"EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH\",\"s\":\"0\",\"ii\":\"" ISSUER2
                 "\",\"c\":[\"NB\"],\"bt\":\"0\",\"b\":[]}");
    expect_fault(b, KD_EVF_PREFIX);
    free(b);
    /* keripy form whose i is not d */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"vcp\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"ii\":\"" ISSUER "\",\"s\":\"0\",\"c\":[],\"bt\":\"0\",\"b\":[],\"n\":"
                 "\"0AAxyHwW6htOZ_rANOaZb2N2\"}");
    expect_fault(b, KD_EVF_PREFIX);
    free(b);
    /* size in the version string differs from the body */
    strcpy(buf, vcp);
    memcpy(buf + strlen("{\"v\":\"KERI10JSON0000"), "e1", 2);
    expect_fault(buf, KD_EVF_SIZE);
    /* a CBOR version string */
    strcpy(buf, vcp);
    memcpy(buf + strlen("{\"v\":\"KERI10"), "CBOR", 4);
    expect_fault(buf, KD_EVF_KIND_MISMATCH);
    /* fields out of order, unknown, missing */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"s\":\"0\","
                 "\"i\":\"" VC1 "\",\"ri\":\"" VC2 "\",\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_FIELDS);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\",\"dt\":\"" DT "\",\"x\":\"1\"}");
    expect_fault(b, KD_EVF_FIELDS);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\"}");
    expect_fault(b, KD_EVF_FIELDS);
    free(b);
    /* v not first */
    expect_fault("{\"t\":\"iss\",\"v\":\"KERI10JSON000010_\"}", KD_EVF_VERSION);
    /* a KEL ilk */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"ixn\",\"d\":\"" D44 "\"}");
    expect_fault(b, KD_EVF_ILK);
    free(b);
    /* sn: leading zero, upper case, wrong for the type */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"00\",\"ri\":\"" VC2 "\",\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_NUMBER);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"rev\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\",\"p\":\"" PRIOR0 "\",\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_SEQUENCE);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"bis\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"1\",\"ii\":\"" ISSUER "\",\"ra\":{\"i\":\"" VC2
                 "\",\"s\":\"0\",\"d\":\"" PRIOR0 "\"},\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_SEQUENCE);
    free(b);
    /* NB with backers; bt out of range; duplicate backers; br and ba meet */
    b = vcp_keripy(ISSUER, true, "\"" BAK1 "\"", "1");
    expect_fault(b, KD_EVF_WITNESSES);
    free(b);
    b = vcp_keripy(ISSUER, false, "\"" BAK1 "\"", "2");
    expect_fault(b, KD_EVF_WITNESSES);
    free(b);
    b = vcp_keripy(ISSUER, false, "\"" BAK1 "\",\"" BAK1 "\"", "1");
    expect_fault(b, KD_EVF_WITNESSES);
    free(b);
    b = vrt(VC2, 1, PRIOR0, "1", "\"" BAK1 "\"", "\"" BAK1 "\"");
    expect_fault(b, KD_EVF_WITNESSES);
    free(b);
    /* ra with a fourth member; ra not a map */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"bis\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ii\":\"" ISSUER "\",\"ra\":{\"i\":\"" VC2
                 "\",\"s\":\"0\",\"d\":\"" PRIOR0 "\",\"x\":\"y\"},\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_FIELDS);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"bis\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ii\":\"" ISSUER "\",\"ra\":[],\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_TYPE);
    free(b);
    /* a credential id that is not a digest; a bad dt; a lower-case trait */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" BAK1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\",\"dt\":\"" DT "\"}");
    expect_fault(b, KD_EVF_PRIMITIVE);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\",\"dt\":\"yesterday\"}");
    expect_fault(b, KD_EVF_TYPE);
    free(b);
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"vcp\",\"d\":\"" D44 "\",\"i\":\"" D44
                 "\",\"ii\":\"" ISSUER "\",\"s\":\"0\",\"c\":[\"nb\"],\"bt\":\"0\",\"b\":[],"
                 "\"n\":\"0AAxyHwW6htOZ_rANOaZb2N2\"}");
    expect_fault(b, KD_EVF_TYPE);
    free(b);
    /* duplicate key; whitespace (not canonical); not JSON; empty */
    b = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"iss\",\"d\":\"" D44 "\",\"i\":\"" VC1
                 "\",\"s\":\"0\",\"ri\":\"" VC2 "\",\"ri\":\"" VC2 "\"}");
    assert_int_not_equal(parse(ev, b, NULL), KD_OK);
    free(b);
    expect_fault("{ \"v\":\"KERI10JSON000019_\"}", KD_EVF_SYNTAX);
    expect_fault("\xa1\x61v", KD_EVF_KIND);
    assert_int_equal(kd_tel_parse(ev, "", 0, NULL), KD_EBADJSON);
    free(ev);
}

/* A keripy registry with a nonce, its prefix equal to its SAID. */
static void test_parse_keripy_forms(void **state)
{
    struct kd_tel_event *ev = malloc(sizeof *ev);
    char *b;

    (void)state;
    assert_non_null(ev);
    b = vcp_keripy(ISSUER, false, "\"" BAK1 "\",\"" BAK2 "\"", "2");
    assert_int_equal(parse(ev, b, NULL), KD_OK);
    assert_int_equal(ev->form, KD_TEL_FORM_KERIPY);
    assert_string_equal(ev->id, ev->said);
    assert_int_equal(ev->backers.count, 2);
    assert_false(ev->no_backers);
    assert_true(ev->bt == 2);
    free(b);
    b = bis_keripy(VC1, VC2, 0, PRIOR0);
    assert_int_equal(parse(ev, b, NULL), KD_OK);
    assert_int_equal(ev->form, KD_TEL_FORM_KERIPY);
    assert_string_equal(ev->ii, VC2);
    free(b);
    b = vrt(VC2, 3, PRIOR0, "1", "", "\"" BAK1 "\"");
    assert_int_equal(parse(ev, b, NULL), KD_OK);
    assert_int_equal(ev->form, KD_TEL_FORM_KERIPY);
    assert_true(ev->sn == 3 && ev->has_bt && ev->adds.count == 1 && ev->cuts.count == 0);
    free(b);
    free(ev);
}

static enum kd_err att_of(const char *text, struct kd_cesr_attachments *att)
{
    struct kd_cesr_error err;

    return kd_cesr_attach_parse(text, strlen(text), 0, NULL, att, &err);
}

static void test_seal(void **state)
{
    struct kd_cesr_attachments *att = malloc(sizeof *att);
    struct kd_tel_seal s;

    (void)state;
    assert_non_null(att);
    assert_int_equal(
        att_of("-GAB0AAAAAAAAAAAAAAAAAAAAAABEKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ", att),
        KD_OK);
    assert_int_equal(kd_tel_seal_get(att, &s), KD_OK);
    assert_true(s.sn == 1);
    assert_string_equal(s.said, "EKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ");
    /* none */
    assert_int_equal(att_of("", att), KD_OK);
    assert_int_equal(kd_tel_seal_get(att, &s), KD_EBADCESR);
    /* two couples in one group */
    assert_int_equal(
        att_of("-GAC0AAAAAAAAAAAAAAAAAAAAAABEKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ"
               "0AAAAAAAAAAAAAAAAAAAAAACEKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ",
               att),
        KD_OK);
    assert_int_equal(kd_tel_seal_get(att, &s), KD_EBADCESR);
    /* two groups */
    assert_int_equal(
        att_of("-GAB0AAAAAAAAAAAAAAAAAAAAAABEKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ"
               "-GAB0AAAAAAAAAAAAAAAAAAAAAACEKK6lIEGR6MEuweYBwtiQb6giHxj-nvX4uwQY0tOj1KQ",
               att),
        KD_OK);
    assert_int_equal(kd_tel_seal_get(att, &s), KD_EBADCESR);
    /* another group instead (a receipt couple) */
    assert_int_equal(att_of("-CAB" BAK1
                            "0BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                            att),
                     KD_OK);
    assert_int_equal(kd_tel_seal_get(att, &s), KD_EBADCESR);
    assert_int_equal(kd_tel_seal_get(NULL, &s), KD_EINVAL);
    free(att);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(kd_tel_ilk_name(KD_TEL_VCP), "vcp");
    assert_string_equal(kd_tel_ilk_name(KD_TEL_ILK_COUNT_), "?");
    assert_string_equal(kd_tel_fault_name(KD_TEL_F_ANCHOR), "ANCHOR");
    assert_int_equal(kd_tel_fault_err(KD_TEL_F_ESCROW_FULL), KD_EUNAVAIL);
    assert_int_equal(kd_tel_fault_err(KD_TEL_F_DUPLICITOUS), KD_EEXIST);
    assert_int_equal(kd_tel_fault_err(KD_TEL_F_COUNT_), KD_EINTERNAL);
    assert_string_equal(kd_tel_fault_message(KD_TEL_F_COUNT_), "?");
    assert_string_equal(kd_tel_fault_name(KD_TEL_F_COUNT_), "?");
}

/* ---- the engine ---- */

static void test_vcp_anchored(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char reg[48], ks[48];

    said_of(vcp, reg);
    anchor(fx, ISSUER, 1, vcp, ks);
    assert_int_equal(process(fx, vcp, 1, ks, &r), KD_TEL_ACCEPTED);
    assert_int_equal(r.ilk, KD_TEL_VCP);
    assert_string_equal(r.id, reg);
    assert_true(stored(fx, reg, 0, reg));
    /* again: a duplicate, nothing new */
    assert_int_equal(process(fx, vcp, 1, ks, NULL), KD_TEL_DUPLICATE);
    assert_int_equal(escrowed(fx), 0);
    free(vcp);
}

static void test_anchor_faults(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char *other = vcp_keripy(ISSUER2, true, "", "0");
    char reg[48], ks[48], ks2[48], seal[512];

    said_of(vcp, reg);
    anchor(fx, ISSUER, 1, vcp, ks);
    /* the seal names the right sn but another SAID */
    assert_int_equal(process(fx, vcp, 1, PRIOR0, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ANCHOR);
    /* the KEL event there seals another TEL event */
    anchor(fx, ISSUER, 2, other, ks2);
    assert_int_equal(process(fx, vcp, 2, ks2, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ANCHOR);
    /* a seal with the right i and d but another s */
    snprintf(seal, sizeof seal, "{\"i\":\"%s\",\"s\":\"1\",\"d\":\"%s\"}", reg, reg);
    put_ixn(fx, ISSUER, 3, seal, ks2);
    assert_int_equal(process(fx, vcp, 3, ks2, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ANCHOR);
    /* anchored by another issuer's KEL: the vcp's ii has no event there */
    assert_int_equal(process(fx, other, 2, ks2, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_ANCHOR);
    assert_false(stored(fx, reg, 0, reg));
    assert_int_equal(process(fx, vcp, 1, ks, NULL), KD_TEL_ACCEPTED);
    free(vcp);
    free(other);
}

/* Builds the ixn anchoring body at sn (not stored yet). */
static struct put_kel *anchor_build(const char *prefix, uint64_t sn, const char *body)
{
    char seal[512];

    seal_of(body, seal, sizeof seal);
    return ixn_build(prefix, sn, seal);
}

static enum kd_err sweep_fn(struct kd_store_txn *txn, void *arg);

struct sweep_run {
    struct fx *fx;
    int64_t now_us;
    unsigned budget;
    int64_t cursor;
    bool more;
    struct kd_tel_sweep_result res;
};

static enum kd_err sweep_fn(struct kd_store_txn *txn, void *arg)
{
    struct sweep_run *w = arg;

    return kd_tel_sweep(txn, &w->fx->opts, w->now_us, w->budget, &w->cursor, &w->more, &w->res);
}

static struct kd_tel_sweep_result sweep(struct fx *fx, int64_t now_us, unsigned budget)
{
    struct sweep_run w;

    memset(&w, 0, sizeof w);
    w.fx = fx;
    w.now_us = now_us;
    w.budget = budget;
    assert_int_equal(kd_store_write_sync(fx->s, sweep_fn, &w), KD_OK);
    return w.res;
}

/* A vcp before its anchoring ixn: escrowed, released by the sweep once the
 * ixn is stored. */
static void test_anchor_escrow_release(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_sweep_result sr;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char reg[48];
    struct put_kel *ixn;

    said_of(vcp, reg);
    ixn = anchor_build(ISSUER, 1, vcp);
    assert_int_equal(process(fx, vcp, 1, ixn->said, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_ANCHOR);
    assert_int_equal(escrowed(fx), 1);
    /* the same again: still one row */
    assert_int_equal(process(fx, vcp, 1, ixn->said, NULL), KD_TEL_ESCROWED);
    assert_int_equal(escrowed(fx), 1);
    /* a sweep before the ixn changes nothing */
    sr = sweep(fx, fx->now_us + 1000000, 16);
    assert_int_equal(sr.tried, 1);
    assert_int_equal(sr.released, 0);
    assert_false(stored(fx, reg, 0, reg));
    ixn_store(fx, ixn);
    sr = sweep(fx, fx->now_us + 2000000, 16);
    assert_int_equal(sr.released, 1);
    assert_true(stored(fx, reg, 0, reg));
    assert_int_equal(escrowed(fx), 0);
    free(vcp);
}

/* Escrow rows older than their timeout are dropped; the limits hold. */
static void test_escrow_expiry_and_limits(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_sweep_result sr;
    struct kd_tel_result r;
    char *v1 = vcp_keripy(ISSUER, true, "", "0");
    char *v2 = vcp_keripy(ISSUER, false, "", "0");
    char *v3 = vcp_keripy(ISSUER2, true, "", "0");

    fx->opts.anchor_timeout = 10;
    fx->opts.escrow_per_dep = 1;
    fx->opts.escrow_rows = 2;
    assert_int_equal(process(fx, v1, 1, PRIOR0, NULL), KD_TEL_ESCROWED);
    /* a second row waiting for ISSUER is over the per-identifier bound */
    assert_int_equal(process(fx, v2, 1, PRIOR0, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ESCROW_FULL);
    assert_int_equal(r.err, KD_EUNAVAIL);
    fx->opts.escrow_rows = 1;
    assert_int_equal(process(fx, v3, 1, PRIOR0, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ESCROW_FULL);
    assert_int_equal(escrowed(fx), 1);
    /* 9 s later it stays, 11 s later it is gone */
    sr = sweep(fx, fx->now_us + 9000000, 0);
    assert_int_equal(sr.expired, 0);
    assert_int_equal(escrowed(fx), 1);
    sr = sweep(fx, fx->now_us + 11000000, 0);
    assert_int_equal(sr.expired, 1);
    assert_int_equal(escrowed(fx), 0);
    free(v1);
    free(v2);
    free(v3);
}

/* iss then rev in an NB registry; duplicates and duplicity. */
static void test_iss_rev(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char reg[48], ks[48], is[48], rs[48];
    char *vcp = registry_nb(fx, 1, reg);
    char *i1 = iss(VC1, reg), *r1, *r2;

    said_of(i1, is);
    anchor(fx, ISSUER, 2, i1, ks);
    assert_int_equal(process(fx, i1, 2, ks, &r), KD_TEL_ACCEPTED);
    assert_true(stored(fx, VC1, 0, is));
    r1 = rev(VC1, reg, is);
    said_of(r1, rs);
    anchor(fx, ISSUER, 3, r1, ks);
    assert_int_equal(process(fx, r1, 3, ks, &r), KD_TEL_ACCEPTED);
    assert_true(stored(fx, VC1, 1, rs));
    assert_int_equal(process(fx, r1, 3, ks, NULL), KD_TEL_DUPLICATE);
    /* another revocation at sn 1 (another dt) */
    r2 = tel_make("{\"v\":\"KERI10JSON000000_\",\"t\":\"rev\",\"d\":\"" D44 "\",\"i\":\"" VC1
                  "\",\"s\":\"1\",\"ri\":\"%s\",\"p\":\"%s\",\"dt\":\"2025-01-01T00:00:00.000000"
                  "+00:00\"}",
                  reg, is);
    anchor(fx, ISSUER, 4, r2, ks);
    assert_int_equal(process(fx, r2, 4, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_DUPLICITOUS);
    assert_int_equal(r.err, KD_EEXIST);
    assert_true(stored(fx, VC1, 1, rs));
    free(vcp);
    free(i1);
    free(r1);
    free(r2);
}

/* rev before iss: escrowed out of order, released by the iss. iss before
 * its registry: released by the vcp. */
static void test_out_of_order(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char reg[48], is[48], rs[48], kv[48], ki[48], kr[48];
    char *i1, *r1;

    said_of(vcp, reg);
    i1 = iss(VC1, reg);
    said_of(i1, is);
    r1 = rev(VC1, reg, is);
    said_of(r1, rs);
    anchor(fx, ISSUER, 1, vcp, kv);
    anchor(fx, ISSUER, 2, i1, ki);
    anchor(fx, ISSUER, 3, r1, kr);
    /* iss before vcp, rev before both */
    assert_int_equal(process(fx, r1, 3, kr, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_OUT_OF_ORDER);
    assert_int_equal(process(fx, i1, 2, ki, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_OUT_OF_ORDER);
    assert_int_equal(escrowed(fx), 2);
    assert_false(stored(fx, VC1, 0, is));
    /* the vcp releases the iss, which releases the rev */
    assert_int_equal(process(fx, vcp, 1, kv, &r), KD_TEL_ACCEPTED);
    assert_int_equal(r.released, 2);
    assert_true(stored(fx, VC1, 0, is));
    assert_true(stored(fx, VC1, 1, rs));
    assert_int_equal(escrowed(fx), 0);
    free(vcp);
    free(i1);
    free(r1);
}

static void test_wrong_registry_and_prior(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char reg[48], reg2[48], ks[48], is[48];
    char *vcp = registry_nb(fx, 1, reg);
    char *vcp2 = vcp_keripy(ISSUER, true, "", "0");
    char *i1, *r1, *r2;

    /* a second NB registry of the same issuer (another nonce) */
    memcpy(strstr(vcp2, "\"n\":\"") + 5, "0ABxyHwW6htOZ_rANOaZb2N2", 24);
    memcpy(strstr(vcp2, "\"d\":\"") + 5, D44, 44);
    memcpy(strstr(vcp2, "\"i\":\"") + 5, D44, 44);
    tel_fill(vcp2);
    said_of(vcp2, reg2);
    assert_string_not_equal(reg, reg2);
    anchor(fx, ISSUER, 2, vcp2, ks);
    assert_int_equal(process(fx, vcp2, 2, ks, NULL), KD_TEL_ACCEPTED);
    i1 = iss(VC1, reg);
    said_of(i1, is);
    anchor(fx, ISSUER, 3, i1, ks);
    assert_int_equal(process(fx, i1, 3, ks, NULL), KD_TEL_ACCEPTED);
    /* revoked through the other registry */
    r1 = rev(VC1, reg2, is);
    anchor(fx, ISSUER, 4, r1, ks);
    assert_int_equal(process(fx, r1, 4, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_REGISTRY);
    /* prior that is not the issuance */
    r2 = rev(VC1, reg, PRIOR0);
    anchor(fx, ISSUER, 5, r2, ks);
    assert_int_equal(process(fx, r2, 5, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_PRIOR);
    assert_int_equal(escrowed(fx), 0);
    free(vcp);
    free(vcp2);
    free(i1);
    free(r1);
    free(r2);
}

/* A registry with backers: vrt rules, bis/brv with ra, iss refused. */
static void test_backers(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, false, "\"" BAK1 "\"", "1");
    char reg[48], ks[48], v1s[48], bs[48];
    char *v1, *vgap, *vbad, *vbad2, *b1, *bbad, *bbad2, *i1, *br1;

    said_of(vcp, reg);
    anchor(fx, ISSUER, 1, vcp, ks);
    assert_int_equal(process(fx, vcp, 1, ks, NULL), KD_TEL_ACCEPTED);
    /* cut a backer it does not have; add one it has */
    vbad = vrt(reg, 1, reg, "1", "\"" BAK2 "\"", "");
    anchor(fx, ISSUER, 2, vbad, ks);
    assert_int_equal(process(fx, vbad, 2, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_BACKERS);
    vbad2 = vrt(reg, 1, reg, "3", "", "\"" BAK2 "\""); /* two backers, bt 3 */
    anchor(fx, ISSUER, 3, vbad2, ks);
    assert_int_equal(process(fx, vbad2, 3, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_BACKERS);
    free(vbad2);
    vbad2 = vrt(reg, 1, PRIOR0, "1", "\"" BAK1 "\"", "\"" BAK2 "\"");
    anchor(fx, ISSUER, 4, vbad2, ks);
    assert_int_equal(process(fx, vbad2, 4, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_PRIOR);
    /* swap BAK1 for BAK2 */
    v1 = vrt(reg, 1, reg, "1", "\"" BAK1 "\"", "\"" BAK2 "\"");
    said_of(v1, v1s);
    anchor(fx, ISSUER, 5, v1, ks);
    assert_int_equal(process(fx, v1, 5, ks, NULL), KD_TEL_ACCEPTED);
    assert_true(stored(fx, reg, 1, v1s));
    /* sn 3 before sn 2 */
    vgap = vrt(reg, 3, v1s, "1", "", "");
    anchor(fx, ISSUER, 6, vgap, ks);
    assert_int_equal(process(fx, vgap, 6, ks, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_OUT_OF_ORDER);
    /* iss needs NB */
    i1 = iss(VC1, reg);
    anchor(fx, ISSUER, 7, i1, ks);
    assert_int_equal(process(fx, i1, 7, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_CONFIG);
    /* bis (keripy: ii = registry) anchored on the vrt */
    b1 = bis_keripy(VC1, reg, 1, v1s);
    said_of(b1, bs);
    anchor(fx, ISSUER, 8, b1, ks);
    assert_int_equal(process(fx, b1, 8, ks, NULL), KD_TEL_ACCEPTED);
    /* ra naming a management event that does not exist at that sn */
    bbad = bis_keriox(VC2, ISSUER, reg, 1, reg);
    anchor(fx, ISSUER, 9, bbad, ks);
    assert_int_equal(process(fx, bbad, 9, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_RA);
    /* ii neither issuer nor registry */
    bbad2 = bis_keriox(VC2, ISSUER2, reg, 0, reg);
    anchor(fx, ISSUER, 10, bbad2, ks);
    assert_int_equal(process(fx, bbad2, 10, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_ISSUER);
    /* brv */
    br1 = brv(VC1, bs, reg, 1, v1s);
    anchor(fx, ISSUER, 11, br1, ks);
    assert_int_equal(process(fx, br1, 11, ks, NULL), KD_TEL_ACCEPTED);
    free(vcp);
    free(v1);
    free(vgap);
    free(vbad);
    free(vbad2);
    free(b1);
    free(bbad);
    free(bbad2);
    free(i1);
    free(br1);
}

/* keriox's flow: bis/brv in a registry configured NB (as the example
 * stream does), vrt refused there. */
static void test_nb_registry_bis(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char reg[48], ks[48], bs[48];
    char *vcp = registry_nb(fx, 1, reg);
    char *b1 = bis_keriox(VC1, ISSUER, reg, 0, reg), *br1, *v1;

    said_of(b1, bs);
    anchor(fx, ISSUER, 2, b1, ks);
    assert_int_equal(process(fx, b1, 2, ks, NULL), KD_TEL_ACCEPTED);
    br1 = brv(VC1, bs, reg, 0, reg);
    anchor(fx, ISSUER, 3, br1, ks);
    assert_int_equal(process(fx, br1, 3, ks, NULL), KD_TEL_ACCEPTED);
    v1 = vrt(reg, 1, reg, "0", "", "");
    anchor(fx, ISSUER, 4, v1, ks);
    assert_int_equal(process(fx, v1, 4, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_CONFIG);
    free(vcp);
    free(b1);
    free(br1);
    free(v1);
}

/* A body is all or nothing; malformed bodies and seals are refused. */
struct body_run {
    const char *text;
    size_t len;
    struct kd_tel_body_result res;
};

static enum kd_err body_fn(struct kd_store_txn *txn, void *arg)
{
    struct body_run *b = arg;

    return kd_tel_process_body(txn, b->text, b->len, NULL, 1, &b->res);
}

static void test_body(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    struct body_run br;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char reg[48], ks[48], sn[KD_CESR_SN_QB64_LEN + 1], is[48];
    char *i1, *text;

    said_of(vcp, reg);
    anchor(fx, ISSUER, 1, vcp, ks);
    i1 = iss(VC1, reg);
    said_of(i1, is);
    text = malloc(8192);
    assert_non_null(text);
    /* a valid vcp then an iss whose anchor names the wrong KEL event */
    assert_int_equal(kd_cesr_sn_encode(1, sn, sizeof sn), KD_OK);
    anchor(fx, ISSUER, 2, i1, NULL);
    snprintf(text, 8192, "%s-GAB%s%s%s-GAB%s%s", vcp, sn, ks, i1, sn, ks);
    memset(&br, 0, sizeof br);
    br.text = text;
    br.len = strlen(text);
    assert_int_equal(kd_store_write_sync(fx->s, body_fn, &br), KD_EINVAL);
    assert_true(br.res.rejected);
    assert_int_equal(br.res.messages, 2);
    assert_int_equal(br.res.first_reject.fault, KD_TEL_F_ANCHOR);
    assert_string_equal(br.res.first_reject.said, is);
    assert_false(stored(fx, reg, 0, reg)); /* rolled back with the body */
    /* the vcp alone */
    snprintf(text, 8192, "%s-GAB%s%s", vcp, sn, ks);
    memset(&br, 0, sizeof br);
    br.text = text;
    br.len = strlen(text);
    assert_int_equal(kd_store_write_sync(fx->s, body_fn, &br), KD_OK);
    assert_int_equal(br.res.verdicts[KD_TEL_ACCEPTED], 1);
    assert_true(stored(fx, reg, 0, reg));
    /* not CESR */
    memset(&br, 0, sizeof br);
    br.text = "{\"v\":\"KERI10JSON000fff_\"";
    br.len = strlen(br.text);
    assert_int_equal(kd_store_write_sync(fx->s, body_fn, &br), KD_EBADCESR);
    assert_int_not_equal(br.res.cesr.code, KD_OK);
    /* no seal; a body that is not a TEL event */
    assert_int_equal(process(fx, "{\"v\":\"KERI10JSON000023_\",\"t\":\"xyz\"}", 1, ks, &r),
                     KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_BODY);
    assert_int_equal(r.diag.fault, KD_EVF_ILK);
    assert_int_equal(r.err, KD_EBADJSON);
    /* a broken SAID is reported as the parser reports it */
    {
        char *bad = iss(VC1, PRIOR0);

        bad[strlen(bad) - 3] = '1'; /* inside dt */
        assert_int_equal(process(fx, bad, 1, ks, &r), KD_TEL_REJECTED);
        assert_int_equal(r.fault, KD_TEL_F_BODY);
        assert_int_equal(r.diag.fault, KD_EVF_SAID);
        assert_int_equal(r.err, KD_EBADCESR);
        free(bad);
    }
    snprintf(text, 8192, "%s", i1);
    memset(&br, 0, sizeof br);
    br.text = text;
    br.len = strlen(text);
    assert_int_equal(kd_store_write_sync(fx->s, body_fn, &br), KD_EINVAL);
    assert_int_equal(br.res.first_reject.fault, KD_TEL_F_SEAL);
    assert_int_equal(kd_tel_process_body(NULL, text, 1, NULL, 0, &br.res), KD_EINVAL);
    free(text);
    free(vcp);
    free(i1);
}

/* An escrowed event whose anchor turns out wrong is dropped by the sweep;
 * one that waited for its registry then waits for its anchor. */
static void test_escrow_transitions(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_sweep_result sr;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, true, "", "0");
    char reg[48], kv[48], is[48];
    struct put_kel *ixn_iss;
    char *i1;

    said_of(vcp, reg);
    /* the vcp waits for KEL sn 1, where an ixn sealing something else lands */
    assert_int_equal(process(fx, vcp, 1, PRIOR0, NULL), KD_TEL_ESCROWED);
    put_ixn(fx, ISSUER, 1, "{\"i\":\"" VC1 "\",\"s\":\"0\",\"d\":\"" VC2 "\"}", NULL);
    sr = sweep(fx, fx->now_us + 1000000, 16);
    assert_int_equal(sr.tried, 1);
    assert_int_equal(sr.dropped, 1);
    assert_int_equal(escrowed(fx), 0);
    assert_false(stored(fx, reg, 0, reg));
    /* iss before its registry and before its anchor */
    i1 = iss(VC1, reg);
    said_of(i1, is);
    ixn_iss = anchor_build(ISSUER, 3, i1);
    assert_int_equal(process(fx, i1, 3, ixn_iss->said, &r), KD_TEL_ESCROWED);
    assert_int_equal(r.escrow, KD_STORE_TEL_ESCROW_OUT_OF_ORDER);
    anchor(fx, ISSUER, 2, vcp, kv);
    assert_int_equal(process(fx, vcp, 2, kv, &r), KD_TEL_ACCEPTED);
    assert_int_equal(r.released, 0);
    assert_int_equal(escrowed(fx), 1); /* now waiting for the anchor */
    ixn_store(fx, ixn_iss);
    sr = sweep(fx, fx->now_us + 2000000, 16);
    assert_int_equal(sr.released, 1);
    assert_true(stored(fx, VC1, 0, is));
    assert_int_equal(escrowed(fx), 0);
    free(vcp);
    free(i1);
}

/* vrt duplicates and duplicity; argument errors. */
static void test_vrt_conflicts_and_arguments(void **state)
{
    struct fx *fx = *state;
    struct kd_tel_result r;
    char *vcp = vcp_keripy(ISSUER, false, "\"" BAK1 "\"", "1");
    char reg[48], ks[48], v1s[48];
    char *v1, *v1b;
    int64_t cursor = 0;
    bool more = true;

    said_of(vcp, reg);
    anchor(fx, ISSUER, 1, vcp, ks);
    assert_int_equal(process(fx, vcp, 1, ks, NULL), KD_TEL_ACCEPTED);
    v1 = vrt(reg, 1, reg, "1", "", "\"" BAK2 "\"");
    said_of(v1, v1s);
    anchor(fx, ISSUER, 2, v1, ks);
    assert_int_equal(process(fx, v1, 2, ks, NULL), KD_TEL_ACCEPTED);
    assert_int_equal(process(fx, v1, 2, ks, NULL), KD_TEL_DUPLICATE);
    v1b = vrt(reg, 1, reg, "2", "", "\"" BAK2 "\"");
    anchor(fx, ISSUER, 3, v1b, ks);
    assert_int_equal(process(fx, v1b, 3, ks, &r), KD_TEL_REJECTED);
    assert_int_equal(r.fault, KD_TEL_F_DUPLICITOUS);
    assert_true(stored(fx, reg, 1, v1s));
    assert_int_equal(kd_tel_process(NULL, NULL, NULL, 0, &r), KD_EINVAL);
    assert_int_equal(kd_tel_sweep(NULL, NULL, 0, 1, &cursor, &more, NULL), KD_EINVAL);
    assert_int_equal(kd_tel_parse(NULL, "{}", 2, NULL), KD_EINVAL);
    free(vcp);
    free(v1);
    free(v1b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_example_stream),
    cmocka_unit_test(test_mutations),
    cmocka_unit_test(test_parse_invalid),
    cmocka_unit_test(test_parse_keripy_forms),
    cmocka_unit_test(test_seal),
    cmocka_unit_test(test_names),
    cmocka_unit_test_setup_teardown(test_vcp_anchored, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_anchor_faults, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_anchor_escrow_release, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_escrow_expiry_and_limits, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_iss_rev, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_out_of_order, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_wrong_registry_and_prior, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_backers, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_nb_registry_bis, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_body, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_escrow_transitions, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(test_vrt_conflicts_and_arguments, fx_setup, fx_teardown),
};

int main(void)
{
    if (kd_crypto_init() != KD_OK)
        return 1;
    kd_log_setup(KD_LOG_WARN, KD_LOG_TEXT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
