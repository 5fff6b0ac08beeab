/*
 * Configuration loading: figment's model (kx:components/{witness,watcher}/src/main.rs)
 * re-done in C. Every source (YAML file, environment, flags) is first turned
 * into untyped values (value.h) and walked against one field table; each leaf
 * lands in a slot with a rank, the highest rank wins, and only then is the
 * winning value converted and checked by the field's setter. So a value is
 * judged the same way, with the same message, whatever source it came from.
 */
#include "kerid/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kerid/url.h"
#include "value.h"

#define KD_CONFIG_MAX_FILE   (1024 * 1024) /* bytes of YAML read at most */
#define KD_CONFIG_MAX_PATH   4095          /* longest path or file name accepted */
#define KD_CONFIG_MAX_ENVVAL 65536         /* longest environment value accepted */

const char kd_config_default_yaml[] =
    "# kerid built-in configuration for --role both, used when ./kerid.yml is absent.\n"
    "# Both roles share one database directory; each has its own port and identity.\n"
    "witness:\n"
    "  db_path: \"kerid-data\"\n"
    "  http_port: 3232\n"
    "  public_url: \"http://localhost:3232/\"\n"
    "watcher:\n"
    "  db_path: \"kerid-data\"\n"
    "  http_port: 3235\n"
    "  public_url: \"http://localhost:3235/\"\n"
    "  tel_storage_path: \"kerid-data/tel_storage\"\n"
    "  initial_oobis: []\n"
    "# kerid-only settings and their defaults (top level, or per section for\n"
    "# listen_address and limits):\n"
    "# listen_address: \"0.0.0.0\"\n"
    "# limits: {max_body_bytes: 262144, max_header_bytes: 65536, max_connections: 1024,\n"
    "#          header_timeout_ms: 10000, idle_timeout_ms: 300000, body_timeout_ms: 30000}\n"
    "# log_format: text        # or json\n"
    "# log_level: info         # error, warn, info, debug\n"
    "# metrics: true\n"
    "# sweep_interval_ms: 1000\n";

/* ---- the field table ---- */

enum kd_fkind {
    KD_F_PATH,
    KD_F_PORT,
    KD_F_URL,
    KD_F_SEED,
    KD_F_OOBIS,
    KD_F_UINT,
    KD_F_ADDR,
    KD_F_BOOL,
    KD_F_LOGFMT,
    KD_F_LOGLVL
};

enum kd_fgroup { KD_G_NONE, KD_G_ESCROW, KD_G_LIMITS };

#define KD_S_WITNESS  1u /* a key of the witness */
#define KD_S_WATCHER  2u /* a key of the watcher */
#define KD_S_ROLES    3u
#define KD_S_GLOBAL   4u  /* a top-level kerid key (stored in struct kd_config) */
#define KD_S_SHARED   8u  /* a role key that may also sit at the top of a both-mode file */
#define KD_S_REQUIRED 16u /* no default: "missing" when absent */
#define KD_S_INHERIT  32u /* escrow: defaults to escrow default_timeout */

struct kd_field {
    const char *key;
    enum kd_fgroup group;
    enum kd_fkind kind;
    unsigned flags;
    uint64_t min, max; /* KD_F_UINT bounds */
    const char *def;   /* default, as text run through the setter; NULL: none */
    size_t off;        /* in struct kd_role_config, or struct kd_config for KD_S_GLOBAL */
    size_t size;       /* of the member at off */
};

#define KD_RC_(m) offsetof(struct kd_role_config, m), sizeof(((struct kd_role_config *)0)->m)
#define KD_GC_(m) offsetof(struct kd_config, m), sizeof(((struct kd_config *)0)->m)
#define KD_ESC_(key, m)                                                                            \
    {                                                                                              \
        key, KD_G_ESCROW, KD_F_UINT, KD_S_ROLES | KD_S_INHERIT, 1, UINT32_MAX, NULL,               \
            KD_RC_(escrow.m)                                                                       \
    }
#define KD_LIM_(key, max, def, m)                                                                  \
    {                                                                                              \
        key, KD_G_LIMITS, KD_F_UINT, KD_S_ROLES | KD_S_SHARED, 1, max, def, KD_RC_(limits.m)       \
    }

static const struct kd_field kd_fields[] = {
    {"db_path", KD_G_NONE, KD_F_PATH, KD_S_ROLES | KD_S_REQUIRED, 0, 0, NULL, KD_RC_(db_path)},
    {"http_port", KD_G_NONE, KD_F_PORT, KD_S_ROLES | KD_S_REQUIRED, 1, 65535, NULL,
     KD_RC_(http_port)},
    {"public_url", KD_G_NONE, KD_F_URL, KD_S_ROLES | KD_S_REQUIRED, 0, 0, NULL, KD_RC_(public_url)},
    {"seed", KD_G_NONE, KD_F_SEED, KD_S_ROLES, 0, 0, NULL, KD_RC_(seed)},
    {"tel_storage_path", KD_G_NONE, KD_F_PATH, KD_S_WATCHER | KD_S_REQUIRED, 0, 0, NULL,
     KD_RC_(tel_storage_path)},
    {"initial_oobis", KD_G_NONE, KD_F_OOBIS, KD_S_WATCHER, 0, 0, "[]", KD_RC_(initial_oobis)},
    {"poll_interval", KD_G_NONE, KD_F_UINT, KD_S_WATCHER, 0, UINT32_MAX, "30",
     KD_RC_(poll_interval)},
    {"listen_address", KD_G_NONE, KD_F_ADDR, KD_S_ROLES | KD_S_SHARED, 0, 0, "0.0.0.0",
     KD_RC_(listen_address)},
    /* default_timeout comes first: the others inherit its value */
    {"default_timeout", KD_G_ESCROW, KD_F_UINT, KD_S_ROLES, 1, UINT32_MAX, "60",
     KD_RC_(escrow.default_timeout)},
    KD_ESC_("out_of_order_timeout", out_of_order_timeout),
    KD_ESC_("partially_signed_timeout", partially_signed_timeout),
    KD_ESC_("partially_witnessed_timeout", partially_witnessed_timeout),
    KD_ESC_("trans_receipt_timeout", trans_receipt_timeout),
    KD_ESC_("delegation_timeout", delegation_timeout),
    KD_LIM_("max_body_bytes", 1073741824, "262144", max_body_bytes),
    KD_LIM_("max_header_bytes", 16777216, "65536", max_header_bytes),
    KD_LIM_("max_connections", 1000000, "1024", max_connections),
    KD_LIM_("header_timeout_ms", 86400000, "10000", header_timeout_ms),
    KD_LIM_("idle_timeout_ms", 86400000, "300000", idle_timeout_ms),
    KD_LIM_("body_timeout_ms", 86400000, "30000", body_timeout_ms),
    {"log_format", KD_G_NONE, KD_F_LOGFMT, KD_S_GLOBAL, 0, 0, "text", KD_GC_(log_format)},
    {"log_level", KD_G_NONE, KD_F_LOGLVL, KD_S_GLOBAL, 0, 0, "info", KD_GC_(log_level)},
    {"metrics", KD_G_NONE, KD_F_BOOL, KD_S_GLOBAL, 0, 0, "true", KD_GC_(metrics)},
    {"sweep_interval_ms", KD_G_NONE, KD_F_UINT, KD_S_GLOBAL, 1, 3600000, "1000",
     KD_GC_(sweep_interval_ms)},
};

#define KD_NFIELDS (sizeof(kd_fields) / sizeof(kd_fields[0]))

/* The escrow block has two keriox names (spec/keriox-surface.md 7 row 2). */
static const char *const kd_group_keys[][2] = {
    [KD_G_NONE] = {NULL, NULL},
    [KD_G_ESCROW] = {"escrow_timeout", "escrow_config"},
    [KD_G_LIMITS] = {"limits", NULL},
};

/* ---- the loader ---- */

enum kd_scope { KD_SC_WITNESS, KD_SC_WATCHER, KD_SC_GLOBAL };
enum kd_layer { KD_L_FILE = 1, KD_L_ENV = 2, KD_L_FLAG = 3 };
enum kd_wctx {
    KD_W_FLAT,    /* a single-role file or a WITNESS_/WATCHER_ variable in single-role mode */
    KD_W_SECTION, /* a `witness:`/`watcher:` section, or a variable in both mode */
    KD_W_TOP,     /* the top level of a both-mode file */
};

struct kd_slot {
    const struct kd_cv *v; /* borrowed from one of the loader's trees */
    int rank;              /* layer * 2 + 1, or layer * 2 for a lower-priority spelling */
    const char *group_key; /* the block name it came under, for messages */
};

struct kd_env_tree {
    struct kd_env_tree *next;
    struct kd_cv root;
};

struct kd_loader {
    struct kd_config *cfg;
    const struct kd_cli *cli;
    struct kd_slot slots[3][KD_NFIELDS];
    struct kd_cv file;
    struct kd_env_tree *env;
    struct kd_cv flagv[5]; /* scalars pointing into argv: never freed */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static enum kd_err kd_cfg_fail(struct kd_loader *L,
                                                                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
    return KD_ECONFIG;
}

/* A value quoted for a message, cut to about 60 bytes. */
struct kd_qbuf {
    char s[96];
};

static const char *kd_q(struct kd_qbuf *q, const char *v)
{
    char cut[64];
    size_t n = strlen(v);

    if (kd_config_quote_path(v, q->s, sizeof(q->s)) < sizeof(q->s) && n < sizeof(cut))
        return q->s;
    if (n > sizeof(cut) - 4)
        n = sizeof(cut) - 4;
    while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
        n--; /* do not split a UTF-8 character */
    memcpy(cut, v, n);
    cut[n] = '\0';
    kd_config_quote_path(cut, q->s, sizeof(q->s) - 3);
    n = strlen(q->s);
    memcpy(q->s + n - 1, "...\"", 5);
    return q->s;
}

static const char *kd_scope_prefix(const struct kd_loader *L, enum kd_scope sc)
{
    if (L->cfg->role != KD_ROLE_SEL_BOTH || sc == KD_SC_GLOBAL)
        return "";
    return sc == KD_SC_WITNESS ? "witness." : "watcher.";
}

/* The name of a field in messages: "witness.escrow_timeout.default_timeout". */
static void kd_field_name(const struct kd_loader *L, enum kd_scope sc, const struct kd_field *f,
                          const char *group_key, char *out, size_t outlen)
{
    if (f->group == KD_G_NONE) {
        snprintf(out, outlen, "%s%s", kd_scope_prefix(L, sc), f->key);
        return;
    }
    if (group_key == NULL)
        group_key = f->group == KD_G_ESCROW
                        ? kd_group_keys[KD_G_ESCROW][sc == KD_SC_WATCHER ? 1 : 0]
                        : kd_group_keys[f->group][0];
    snprintf(out, outlen, "%s%s.%s", kd_scope_prefix(L, sc), group_key, f->key);
}

static void kd_cfg_ignore(struct kd_loader *L, const char *src, const char *prefix, const char *key)
{
    struct kd_qbuf q;

    L->cfg->n_ignored_keys++;
    kd_log_warn("config", "%s: ignoring unknown key %s%s", src, prefix, kd_q(&q, key));
}

static bool kd_field_applies(const struct kd_field *f, enum kd_scope sc)
{
    if (sc == KD_SC_GLOBAL)
        return (f->flags & KD_S_GLOBAL) != 0;
    return (f->flags & (sc == KD_SC_WITNESS ? KD_S_WITNESS : KD_S_WATCHER)) != 0;
}

static const struct kd_field *kd_field_find(enum kd_fgroup g, const char *key)
{
    for (size_t i = 0; i < KD_NFIELDS; i++) {
        if (kd_fields[i].group == g && strcmp(kd_fields[i].key, key) == 0)
            return &kd_fields[i];
    }
    return NULL;
}

static void kd_slot_set(struct kd_loader *L, enum kd_scope sc, const struct kd_field *f,
                        const struct kd_cv *v, int rank, const char *group_key)
{
    struct kd_slot *s = &L->slots[sc][f - kd_fields];

    if (rank >= s->rank) {
        s->v = v;
        s->rank = rank;
        s->group_key = group_key;
    }
}

/* Which block name is the role's own (ranks higher when a source has both). */
static bool kd_group_key_primary(enum kd_fgroup g, const char *key, enum kd_scope sc)
{
    if (g != KD_G_ESCROW)
        return true;
    return strcmp(key, kd_group_keys[KD_G_ESCROW][sc == KD_SC_WATCHER ? 1 : 0]) == 0;
}

static enum kd_fgroup kd_group_find(const char *key)
{
    for (size_t g = KD_G_ESCROW; g <= KD_G_LIMITS; g++) {
        for (size_t k = 0; k < 2; k++) {
            if (kd_group_keys[g][k] != NULL && strcmp(kd_group_keys[g][k], key) == 0)
                return (enum kd_fgroup)g;
        }
    }
    return KD_G_NONE;
}

/* The scopes a key at this place feeds, and whether it ranks as primary. */
static unsigned kd_targets(const struct kd_field *f, enum kd_wctx ctx, enum kd_scope role,
                           bool *primary)
{
    *primary = true;
    switch (ctx) {
    case KD_W_FLAT:
        if (kd_field_applies(f, KD_SC_GLOBAL))
            return 1u << KD_SC_GLOBAL;
        return kd_field_applies(f, role) ? 1u << role : 0;
    case KD_W_SECTION:
        return kd_field_applies(f, role) ? 1u << role : 0;
    case KD_W_TOP:
        if (kd_field_applies(f, KD_SC_GLOBAL))
            return 1u << KD_SC_GLOBAL;
        if ((f->flags & KD_S_SHARED) == 0)
            return 0;
        *primary = false; /* a section's own value wins over the shared one */
        return (1u << KD_SC_WITNESS) | (1u << KD_SC_WATCHER);
    }
    return 0;
}

static enum kd_err kd_walk(struct kd_loader *L, const struct kd_cv *map, enum kd_wctx ctx,
                           enum kd_scope role, enum kd_layer layer, const char *src,
                           const char *prefix);

static enum kd_err kd_walk_group(struct kd_loader *L, const struct kd_cv *v, enum kd_fgroup g,
                                 const char *gkey, enum kd_wctx ctx, enum kd_scope role,
                                 enum kd_layer layer, const char *src, const char *prefix)
{
    char sub[128];

    if (v->kind == KD_CV_NULL)
        return KD_OK;
    if (v->kind != KD_CV_MAP)
        return kd_cfg_fail(L, "%s%s: expected a mapping, found %s", prefix, gkey,
                           kd_cv_kind_name(v->kind));
    snprintf(sub, sizeof(sub), "%s%s.", prefix, gkey);
    for (size_t i = 0; i < v->n; i++) {
        const struct kd_field *f = kd_field_find(g, v->keys[i]);
        unsigned targets = 0;
        bool primary = true;

        if (f != NULL)
            targets = kd_targets(f, ctx, role, &primary);
        if (targets == 0) {
            kd_cfg_ignore(L, src, sub, v->keys[i]);
            continue;
        }
        for (unsigned sc = 0; sc < 3; sc++) {
            if (targets & (1u << sc)) {
                bool p = primary && kd_group_key_primary(g, gkey, (enum kd_scope)sc);

                kd_slot_set(L, (enum kd_scope)sc, f, &v->items[i], (int)layer * 2 + (p ? 1 : 0),
                            gkey);
            }
        }
    }
    return KD_OK;
}

/* Files every key of map into the slots. */
static enum kd_err kd_walk(struct kd_loader *L, const struct kd_cv *map, enum kd_wctx ctx,
                           enum kd_scope role, enum kd_layer layer, const char *src,
                           const char *prefix)
{
    enum kd_err rc;

    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i];
        const struct kd_cv *v = &map->items[i];
        enum kd_fgroup g = kd_group_find(key);
        const struct kd_field *f;
        unsigned targets = 0;
        bool primary = true;

        if (ctx == KD_W_TOP && (strcmp(key, "witness") == 0 || strcmp(key, "watcher") == 0)) {
            enum kd_scope sc = strcmp(key, "witness") == 0 ? KD_SC_WITNESS : KD_SC_WATCHER;

            if (v->kind == KD_CV_NULL)
                continue;
            if (v->kind != KD_CV_MAP)
                return kd_cfg_fail(L, "%s: expected a mapping, found %s", key,
                                   kd_cv_kind_name(v->kind));
            rc = kd_walk(L, v, KD_W_SECTION, sc, layer, src,
                         sc == KD_SC_WITNESS ? "witness." : "watcher.");
            if (rc != KD_OK)
                return rc;
            continue;
        }
        if (g != KD_G_NONE) {
            /* the block itself is known in this place if any of its fields is */
            for (size_t k = 0; k < KD_NFIELDS && targets == 0; k++) {
                if (kd_fields[k].group == g)
                    targets = kd_targets(&kd_fields[k], ctx, role, &primary);
            }
            if (targets != 0) {
                const char *gkey = strcmp(key, kd_group_keys[g][0]) == 0 ? kd_group_keys[g][0]
                                                                         : kd_group_keys[g][1];

                rc = kd_walk_group(L, v, g, gkey, ctx, role, layer, src, prefix);
                if (rc != KD_OK)
                    return rc;
                continue;
            }
        } else if ((f = kd_field_find(KD_G_NONE, key)) != NULL &&
                   (targets = kd_targets(f, ctx, role, &primary)) != 0) {
            for (unsigned sc = 0; sc < 3; sc++) {
                if (targets & (1u << sc))
                    kd_slot_set(L, (enum kd_scope)sc, f, v, (int)layer * 2 + (primary ? 1 : 0),
                                NULL);
            }
            continue;
        }
        kd_cfg_ignore(L, src, prefix, key);
    }
    return KD_OK;
}

/* ---- setters: one per kind, shared by every source ---- */

enum kd_num { KD_NUM_OK, KD_NUM_NOT_A_NUMBER, KD_NUM_RANGE };

/* YAML 1.2 core integers: [+]digits, 0x hex, 0o octal; '-' and overflow are
 * out of range. */
static enum kd_num kd_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned radix = 10;
    bool neg = false;
    uint64_t v = 0;
    bool over = false;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        radix = s[1] == 'x' ? 16 : 8;
        s += 2;
    }
    if (*s == '\0')
        return KD_NUM_NOT_A_NUMBER;
    for (; *s != '\0'; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (radix == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (radix == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return KD_NUM_NOT_A_NUMBER;
        if (d >= radix)
            return KD_NUM_NOT_A_NUMBER;
        if (v > (UINT64_MAX - d) / radix)
            over = true;
        else
            v = v * radix + d;
    }
    if (over || (neg && v != 0) || v < min || v > max)
        return KD_NUM_RANGE;
    *out = v;
    return KD_NUM_OK;
}

static void kd_store_uint(void *p, size_t size, uint64_t v)
{
    switch (size) {
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default: {
        uint64_t x = v;
        memcpy(p, &x, 8);
        break;
    }
    }
}

static enum kd_err kd_dup(char **dst, const char *s)
{
    *dst = strdup(s);
    return *dst == NULL ? KD_ENOMEM : KD_OK;
}

static bool kd_is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* An absolute http, https or tcp URL, normalised into *dst. */
static enum kd_err kd_set_url(struct kd_loader *L, const char *name, const char *s, char **dst,
                              bool warn_slash)
{
    static const char *const schemes[] = {"http", "https", "tcp"};
    struct kd_url *u;
    struct kd_qbuf q;
    const char *why = NULL;
    enum kd_err rc;
    bool ok = false;

    u = malloc(sizeof(*u));
    if (u == NULL)
        return KD_ENOMEM;
    if (kd_url_parse(s, u, &why) != KD_OK) {
        if (why == kd_url_why_relative)
            rc = kd_cfg_fail(L, "%s: %s is not an absolute URL", name, kd_q(&q, s));
        else
            rc = kd_cfg_fail(L, "%s: %s is not a valid URL (%s)", name, kd_q(&q, s), why);
        goto out;
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        ok = ok || (strlen(schemes[i]) == u->scheme.len &&
                    memcmp(u->href, schemes[i], u->scheme.len) == 0);
    }
    if (!ok) {
        rc = kd_cfg_fail(L, "%s: %s has scheme \"%.*s\"; use http, https or tcp", name, kd_q(&q, s),
                         (int)(u->scheme.len > 16 ? 16 : u->scheme.len), u->href);
        goto out;
    }
    if (warn_slash && u->special &&
        (u->has_query || u->has_fragment || u->path.len == 0 ||
         u->href[u->path.off + u->path.len - 1] != '/'))
        kd_log_warn("config",
                    "%s: %s does not end in \"/\"; keriox clients build OOBI URLs by appending "
                    "to it",
                    name, kd_q(&q, u->href));
    rc = kd_dup(dst, u->href);
out:
    free(u);
    return rc;
}

static enum kd_err kd_set_oobis(struct kd_loader *L, const char *name, const struct kd_cv *v,
                                struct kd_role_config *rc)
{
    static const char *const keys[] = {"eid", "scheme", "url"};
    enum kd_err e;

    if (v->kind != KD_CV_LIST)
        return kd_cfg_fail(L, "%s: expected a list, found %s", name, kd_cv_kind_name(v->kind));
    if (v->n == 0)
        return KD_OK;
    rc->initial_oobis = calloc(v->n, sizeof(rc->initial_oobis[0]));
    if (rc->initial_oobis == NULL)
        return KD_ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct kd_cv *item = &v->items[i];
        struct kd_oobi *o = &rc->initial_oobis[i];
        const struct kd_cv *val[3] = {NULL, NULL, NULL};
        char iname[160];
        struct kd_qbuf q;

        rc->n_initial_oobis = i + 1;
        if (item->kind != KD_CV_MAP)
            return kd_cfg_fail(L, "%s[%zu]: expected a mapping, found %s", name, i,
                               kd_cv_kind_name(item->kind));
        for (size_t k = 0; k < item->n; k++) {
            size_t j;

            for (j = 0; j < 3 && strcmp(item->keys[k], keys[j]) != 0; j++)
                ;
            if (j < 3) {
                val[j] = &item->items[k];
            } else {
                snprintf(iname, sizeof(iname), "%s[%zu].", name, i);
                kd_cfg_ignore(L, "initial_oobis", iname, item->keys[k]);
            }
        }
        for (size_t j = 0; j < 3; j++) {
            snprintf(iname, sizeof(iname), "%s[%zu].%s", name, i, keys[j]);
            if (val[j] == NULL || val[j]->kind == KD_CV_NULL)
                return kd_cfg_fail(L, "%s: missing", iname);
            if (val[j]->kind != KD_CV_SCALAR)
                return kd_cfg_fail(L, "%s: expected a single value, found %s", iname,
                                   kd_cv_kind_name(val[j]->kind));
        }
        /* eid: a qb64 identifier prefix (syntax only; its code is checked where it is used) */
        {
            const char *s = val[0]->str;
            size_t n = strlen(s);
            bool ok = n >= 4 && n <= 512 && n % 4 == 0;

            for (size_t k = 0; ok && k < n; k++)
                ok = kd_is_b64url(s[k]);
            if (!ok)
                return kd_cfg_fail(L, "%s[%zu].eid: %s is not an identifier prefix (qb64)", name, i,
                                   kd_q(&q, s));
        }
        if (strcmp(val[1]->str, "http") != 0 && strcmp(val[1]->str, "tcp") != 0)
            return kd_cfg_fail(L, "%s[%zu].scheme: %s is not one of http, tcp", name, i,
                               kd_q(&q, val[1]->str));
        if ((e = kd_dup(&o->eid, val[0]->str)) != KD_OK ||
            (e = kd_dup(&o->scheme, val[1]->str)) != KD_OK)
            return e;
        snprintf(iname, sizeof(iname), "%s[%zu].url", name, i);
        if ((e = kd_set_url(L, iname, val[2]->str, &o->url, false)) != KD_OK)
            return e;
    }
    return KD_OK;
}

/* Converts v (not null) for field f, stores it at base + f->off. */
static enum kd_err kd_set(struct kd_loader *L, const struct kd_field *f, const struct kd_cv *v,
                          const char *name, void *base)
{
    void *dst = (char *)base + f->off;
    struct kd_qbuf q;
    const char *s;
    uint64_t num;
    enum kd_num nr;

    if (f->kind == KD_F_OOBIS)
        return kd_set_oobis(L, name, v, base);
    if (v->kind != KD_CV_SCALAR)
        return kd_cfg_fail(L, "%s: expected a single value, found %s", name,
                           kd_cv_kind_name(v->kind));
    s = v->str;
    switch (f->kind) {
    case KD_F_PATH:
        if (s[0] == '\0')
            return kd_cfg_fail(L, "%s: must not be empty", name);
        if (strlen(s) > KD_CONFIG_MAX_PATH)
            return kd_cfg_fail(L, "%s: longer than %d bytes", name, KD_CONFIG_MAX_PATH);
        return kd_dup(dst, s);
    case KD_F_PORT:
        if (kd_parse_uint(s, 1, 65535, &num) != KD_NUM_OK)
            return kd_cfg_fail(L, "%s: %s is not a port number (1-65535)", name, kd_q(&q, s));
        kd_store_uint(dst, f->size, num);
        return KD_OK;
    case KD_F_UINT:
        nr = kd_parse_uint(s, f->min, f->max, &num);
        if (nr == KD_NUM_NOT_A_NUMBER)
            return kd_cfg_fail(L, "%s: %s is not a whole number", name, kd_q(&q, s));
        if (nr == KD_NUM_RANGE)
            return kd_cfg_fail(L, "%s: %s is out of range (%llu-%llu)", name, kd_q(&q, s),
                               (unsigned long long)f->min, (unsigned long long)f->max);
        kd_store_uint(dst, f->size, num);
        return KD_OK;
    case KD_F_URL:
        return kd_set_url(L, name, s, dst, true);
    case KD_F_SEED: {
        bool ok = strlen(s) == 44 && s[0] == 'A';

        for (size_t i = 1; ok && i < 44; i++)
            ok = kd_is_b64url(s[i]);
        if (!ok)
            return kd_cfg_fail(L, "%s: must be \"A\" followed by 43 base64url characters", name);
        return kd_dup(dst, s);
    }
    case KD_F_ADDR: {
        unsigned char bin[16];

        if (inet_pton(AF_INET, s, bin) != 1 && inet_pton(AF_INET6, s, bin) != 1)
            return kd_cfg_fail(L, "%s: %s is not an IPv4 or IPv6 address", name, kd_q(&q, s));
        return kd_dup(dst, s);
    }
    case KD_F_BOOL: {
        static const char *const t[] = {"true", "True", "TRUE"}, *const fl[] = {"false", "False",
                                                                                "FALSE"};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(s, t[i]) == 0 || strcmp(s, fl[i]) == 0) {
                *(bool *)dst = strcmp(s, t[i]) == 0;
                return KD_OK;
            }
        }
        return kd_cfg_fail(L, "%s: %s is not a boolean (true or false)", name, kd_q(&q, s));
    }
    case KD_F_LOGFMT:
        if (kd_log_format_parse(s, dst) != 0)
            return kd_cfg_fail(L, "%s: %s is not one of text, json", name, kd_q(&q, s));
        return KD_OK;
    case KD_F_LOGLVL:
        if (kd_log_level_parse(s, dst) != 0)
            return kd_cfg_fail(L, "%s: %s is not one of error, warn, info, debug", name,
                               kd_q(&q, s));
        return KD_OK;
    case KD_F_OOBIS:
        break;
    }
    return KD_EINTERNAL;
}

/* Gives every field of one scope its value: the winning slot, else the default. */
static enum kd_err kd_finish_scope(struct kd_loader *L, enum kd_scope sc, void *base)
{
    struct kd_role_config *rc = base;
    enum kd_err e;

    for (size_t i = 0; i < KD_NFIELDS; i++) {
        const struct kd_field *f = &kd_fields[i];
        const struct kd_slot *slot = &L->slots[sc][i];
        char name[160];

        if (!kd_field_applies(f, sc))
            continue;
        kd_field_name(L, sc, f, slot->group_key, name, sizeof(name));
        if (slot->v != NULL && slot->v->kind != KD_CV_NULL) {
            e = kd_set(L, f, slot->v, name, base);
        } else if (f->flags & KD_S_INHERIT) {
            kd_store_uint((char *)base + f->off, f->size, rc->escrow.default_timeout);
            e = KD_OK;
        } else if (f->def != NULL) {
            struct kd_cv dv = {KD_CV_SCALAR, (char *)f->def, 0, 0, NULL, NULL};

            if (f->kind == KD_F_OOBIS)
                dv.kind = KD_CV_LIST;
            e = kd_set(L, f, &dv, name, base);
        } else if (f->flags & KD_S_REQUIRED) {
            struct kd_qbuf q;

            if (!L->cfg->config_found && !L->cfg->config_embedded)
                return kd_cfg_fail(L, "%s: missing (no config file %s found)", name,
                                   kd_q(&q, L->cfg->config_path));
            return kd_cfg_fail(L, "%s: missing", name);
        } else {
            e = KD_OK; /* optional, stays NULL (seed) */
        }
        if (e != KD_OK)
            return e;
    }
    return KD_OK;
}

/* ---- sources ---- */

static const char *kd_default_file(enum kd_role_sel role)
{
    switch (role) {
    case KD_ROLE_SEL_WITNESS:
        return "./witness.yml";
    case KD_ROLE_SEL_WATCHER:
        return "./watcher.yml";
    case KD_ROLE_SEL_BOTH:
        break;
    }
    return "./kerid.yml";
}

static bool kd_is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* figment's Data::resolve: an absolute path as is; a relative one joined to the
 * working directory and then to each of its parents until it names a file. */
static enum kd_err kd_find_file(const char *path, char **found)
{
    char *dir, *cand = NULL;
    enum kd_err rc = KD_OK;

    *found = NULL;
    if (path[0] == '\0')
        return KD_OK;
    if (path[0] == '/')
        return kd_is_file(path) ? kd_dup(found, path) : KD_OK;
    dir = getcwd(NULL, 0);
    if (dir == NULL)
        return errno == ENOMEM ? KD_ENOMEM : KD_OK;
    for (;;) {
        size_t dl = strlen(dir), pl = strlen(path);
        char *slash;

        cand = malloc(dl + pl + 2);
        if (cand == NULL) {
            rc = KD_ENOMEM;
            break;
        }
        snprintf(cand, dl + pl + 2, "%s%s%s", dir, (dl > 0 && dir[dl - 1] == '/') ? "" : "/", path);
        if (kd_is_file(cand)) {
            *found = cand;
            cand = NULL;
            break;
        }
        free(cand);
        cand = NULL;
        slash = strrchr(dir, '/');
        if (slash == NULL || (slash == dir && dir[1] == '\0'))
            break;
        slash[slash == dir ? 1 : 0] = '\0';
    }
    free(cand);
    free(dir);
    return rc;
}

static enum kd_err kd_read_file(struct kd_loader *L, const char *path, char **data, size_t *len)
{
    struct kd_qbuf q;
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    enum kd_err rc = KD_OK;
    int fd;

    *data = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kd_cfg_fail(L, "config_file: cannot read %s: %s", kd_q(&q, path), strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = kd_cfg_fail(L, "config_file: %s is not a regular file", kd_q(&q, path));
        goto out;
    }
    if (st.st_size > KD_CONFIG_MAX_FILE) {
        rc = kd_cfg_fail(L, "config_file: %s is larger than %d bytes", kd_q(&q, path),
                         KD_CONFIG_MAX_FILE);
        goto out;
    }
    buf = malloc(KD_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        rc = KD_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, KD_CONFIG_MAX_FILE + 1 - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = kd_cfg_fail(L, "config_file: cannot read %s: %s", kd_q(&q, path), strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KD_CONFIG_MAX_FILE) {
            rc = kd_cfg_fail(L, "config_file: %s is larger than %d bytes", kd_q(&q, path),
                             KD_CONFIG_MAX_FILE);
            goto out;
        }
    }
    *data = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

static enum kd_err kd_load_file(struct kd_loader *L)
{
    struct kd_config *cfg = L->cfg;
    const char *label;
    char *data = NULL;
    size_t len = 0;
    enum kd_err rc;

    if (strlen(cfg->config_path) > KD_CONFIG_MAX_PATH)
        return kd_cfg_fail(L, "config_file: longer than %d bytes", KD_CONFIG_MAX_PATH);
    if ((rc = kd_find_file(cfg->config_path, &cfg->config_resolved)) != KD_OK)
        return rc;
    if (cfg->config_resolved != NULL) {
        cfg->config_found = true;
        if ((rc = kd_read_file(L, cfg->config_resolved, &data, &len)) != KD_OK)
            return rc;
        label = cfg->config_resolved;
        rc = kd_cv_from_yaml(data, len, label, &L->file, L->err, L->errlen);
        free(data);
    } else if (cfg->role == KD_ROLE_SEL_BOTH) {
        cfg->config_embedded = true;
        label = "built-in configuration";
        kd_log_info("config", "no config file %s found; using the built-in configuration",
                    cfg->config_path);
        rc = kd_cv_from_yaml(kd_config_default_yaml, strlen(kd_config_default_yaml), label,
                             &L->file, L->err, L->errlen);
    } else {
        return KD_OK; /* keriox: a missing file is an empty one */
    }
    if (rc != KD_OK)
        return rc;
    if (L->file.kind == KD_CV_NULL)
        return KD_OK;
    if (L->file.kind != KD_CV_MAP)
        return kd_cfg_fail(L, "%s:%zu: the top level must be a mapping of keys to values", label,
                           L->file.line);
    if (cfg->role == KD_ROLE_SEL_BOTH)
        return kd_walk(L, &L->file, KD_W_TOP, KD_SC_GLOBAL, KD_L_FILE, label, "");
    return kd_walk(L, &L->file, KD_W_FLAT,
                   cfg->role == KD_ROLE_SEL_WITNESS ? KD_SC_WITNESS : KD_SC_WATCHER, KD_L_FILE,
                   label, "");
}

/* figment's Env::prefixed: NAME=value with NAME starting with the prefix in any
 * case; the rest, trimmed and lower-cased, is the key; dots nest. */
static enum kd_err kd_load_env_one(struct kd_loader *L, const char *entry)
{
    static const char *const prefixes[] = {"WITNESS_", "WATCHER_"};
    const char *eq = strchr(entry, '='), *name = entry, *name_end, *k, *k_end;
    char key[256], src[96];
    struct kd_env_tree *t;
    struct kd_cv leaf;
    enum kd_scope sc;
    size_t plen = 8, klen, segs = 1;
    enum kd_err rc;

    if (eq == NULL)
        return KD_OK;
    name_end = eq;
    while (name < name_end && (*name == ' ' || *name == '\t'))
        name++;
    while (name_end > name && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    if ((size_t)(name_end - name) < plen)
        return KD_OK;
    if (strncasecmp(name, prefixes[0], plen) == 0)
        sc = KD_SC_WITNESS;
    else if (strncasecmp(name, prefixes[1], plen) == 0)
        sc = KD_SC_WATCHER;
    else
        return KD_OK;
    if (L->cfg->role == KD_ROLE_SEL_WITNESS && sc != KD_SC_WITNESS)
        return KD_OK;
    if (L->cfg->role == KD_ROLE_SEL_WATCHER && sc != KD_SC_WATCHER)
        return KD_OK;
    k = name + plen;
    k_end = name_end;
    while (k < k_end && (*k == ' ' || *k == '\t'))
        k++;
    klen = (size_t)(k_end - k);
    snprintf(src, sizeof(src), "environment variable %.*s",
             (int)((size_t)(name_end - name) > 64 ? 64 : (size_t)(name_end - name)), name);
    if (klen == 0 || klen >= sizeof(key))
        return KD_OK;
    for (size_t i = 0; i < klen; i++) {
        char c = k[i];

        key[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        if (c == '.') {
            if (i == 0 || i + 1 == klen || k[i + 1] == '.')
                return KD_OK; /* an empty key segment: figment skips the variable */
            segs++;
        }
    }
    key[klen] = '\0';
    if (segs > KD_CV_MAX_DEPTH)
        return KD_OK;
    if (strlen(eq + 1) > KD_CONFIG_MAX_ENVVAL)
        return kd_cfg_fail(L, "%.*s: value longer than %d bytes",
                           (int)((size_t)(name_end - name) > 64 ? 64 : (size_t)(name_end - name)),
                           name, KD_CONFIG_MAX_ENVVAL);
    if ((rc = kd_cv_from_figment(eq + 1, &leaf)) != KD_OK)
        return rc;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        kd_cv_free(&leaf);
        return KD_ENOMEM;
    }
    t->next = L->env;
    L->env = t;
    /* nest "a.b" = v as {a: {b: v}}, innermost first */
    for (size_t s = segs; s > 0; s--) {
        char *dot = NULL, *seg = key;
        struct kd_cv map = {KD_CV_MAP, NULL, 0, 1, NULL, NULL};

        for (size_t j = 1; j < s; j++)
            seg = strchr(seg, '.') + 1;
        dot = strchr(seg, '.');
        if (dot != NULL)
            *dot = '\0';
        map.items = malloc(sizeof(*map.items));
        map.keys = malloc(sizeof(*map.keys));
        if (map.items == NULL || map.keys == NULL || (map.keys[0] = strdup(seg)) == NULL) {
            free(map.items);
            free(map.keys);
            kd_cv_free(&leaf);
            return KD_ENOMEM;
        }
        map.items[0] = leaf;
        leaf = map;
    }
    t->root = leaf;
    return kd_walk(
        L, &t->root, L->cfg->role == KD_ROLE_SEL_BOTH ? KD_W_SECTION : KD_W_FLAT, sc, KD_L_ENV, src,
        L->cfg->role == KD_ROLE_SEL_BOTH ? (sc == KD_SC_WITNESS ? "witness." : "watcher.") : "");
}

static void kd_load_flags(struct kd_loader *L)
{
    const struct kd_cli *c = L->cli;
    const char *vals[5] = {c->db_path, c->public_url, c->http_port, c->seed, c->tel_storage_path};
    static const char *const keys[5] = {"db_path", "public_url", "http_port", "seed",
                                        "tel_storage_path"};
    enum kd_scope sc = L->cfg->role == KD_ROLE_SEL_WITNESS ? KD_SC_WITNESS : KD_SC_WATCHER;

    if (L->cfg->role == KD_ROLE_SEL_BOTH)
        return; /* kd_config_parse_args refuses these flags in both mode */
    for (size_t i = 0; i < 5; i++) {
        const struct kd_field *f = kd_field_find(KD_G_NONE, keys[i]);

        if (vals[i] == NULL || !kd_field_applies(f, sc))
            continue;
        L->flagv[i] = (struct kd_cv){KD_CV_SCALAR, (char *)vals[i], 0, 0, NULL, NULL};
        kd_slot_set(L, sc, f, &L->flagv[i], KD_L_FLAG * 2 + 1, NULL);
    }
}

/* A path with "." components, repeated and trailing slashes removed, to tell
 * whether two db_path values name one directory. */
static void kd_path_canon(const char *in, char *out, size_t outlen)
{
    size_t w = 0;
    const char *p = in;

    if (*p == '/' && w + 1 < outlen)
        out[w++] = '/';
    while (*p != '\0') {
        const char *e;

        while (*p == '/')
            p++;
        e = p;
        while (*e != '\0' && *e != '/')
            e++;
        if (e > p && !(e - p == 1 && *p == '.')) {
            if (w > 0 && out[w - 1] != '/' && w + 1 < outlen)
                out[w++] = '/';
            for (const char *c = p; c < e && w + 1 < outlen; c++)
                out[w++] = *c;
        }
        p = e;
    }
    if (w == 0 && outlen > 1)
        out[w++] = '.';
    out[w] = '\0';
}

static enum kd_err kd_check_both(struct kd_loader *L)
{
    const struct kd_role_config *w = &L->cfg->witness, *t = &L->cfg->watcher;
    char a[KD_CONFIG_MAX_PATH + 2], b[KD_CONFIG_MAX_PATH + 2];
    struct kd_qbuf qa, qb;

    kd_path_canon(w->db_path, a, sizeof(a));
    kd_path_canon(t->db_path, b, sizeof(b));
    if (strcmp(a, b) != 0)
        return kd_cfg_fail(L,
                           "watcher.db_path: %s differs from witness.db_path %s; with --role both "
                           "the roles share one database directory",
                           kd_q(&qa, t->db_path), kd_q(&qb, w->db_path));
    if (w->http_port == t->http_port)
        return kd_cfg_fail(L,
                           "watcher.http_port: %u is also witness.http_port; each role needs "
                           "its own port",
                           (unsigned)t->http_port);
    return KD_OK;
}

enum kd_err kd_config_load(struct kd_config *cfg, const struct kd_cli *cli, char *const *envp,
                           char *err, size_t errlen)
{
    struct kd_loader *L;
    enum kd_err rc;

    memset(cfg, 0, sizeof(*cfg));
    if (errlen > 0)
        err[0] = '\0';
    L = calloc(1, sizeof(*L));
    if (L == NULL)
        return KD_ENOMEM;
    L->cfg = cfg;
    L->cli = cli;
    L->err = err;
    L->errlen = errlen;
    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < KD_NFIELDS; i++)
            L->slots[s][i].rank = -1;
    }
    cfg->role = cli->role;
    cfg->witness.name = "witness";
    cfg->watcher.name = "watcher";
    cfg->witness.enabled = cli->role != KD_ROLE_SEL_WATCHER;
    cfg->watcher.enabled = cli->role != KD_ROLE_SEL_WITNESS;
    rc = kd_dup(&cfg->config_path,
                cli->config_file != NULL ? cli->config_file : kd_default_file(cli->role));
    if (rc != KD_OK)
        goto out;
    if ((rc = kd_load_file(L)) != KD_OK)
        goto out;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if ((rc = kd_load_env_one(L, envp[i])) != KD_OK)
            goto out;
    }
    kd_load_flags(L);
    if ((rc = kd_finish_scope(L, KD_SC_GLOBAL, cfg)) != KD_OK)
        goto out;
    if (cfg->witness.enabled && (rc = kd_finish_scope(L, KD_SC_WITNESS, &cfg->witness)) != KD_OK)
        goto out;
    if (cfg->watcher.enabled && (rc = kd_finish_scope(L, KD_SC_WATCHER, &cfg->watcher)) != KD_OK)
        goto out;
    if (cfg->role == KD_ROLE_SEL_BOTH)
        rc = kd_check_both(L);
out:
    kd_cv_free(&L->file);
    while (L->env != NULL) {
        struct kd_env_tree *t = L->env;

        L->env = t->next;
        kd_cv_free(&t->root);
        free(t);
    }
    free(L);
    if (rc == KD_ENOMEM && errlen > 0)
        snprintf(err, errlen, "out of memory");
    if (rc != KD_OK) {
        kd_config_free(cfg);
        rc = rc == KD_ENOMEM ? KD_ENOMEM : KD_ECONFIG;
    }
    return rc;
}

static void kd_role_config_free(struct kd_role_config *rc)
{
    free(rc->db_path);
    free(rc->public_url);
    free(rc->seed);
    free(rc->tel_storage_path);
    free(rc->listen_address);
    for (size_t i = 0; i < rc->n_initial_oobis; i++) {
        free(rc->initial_oobis[i].eid);
        free(rc->initial_oobis[i].scheme);
        free(rc->initial_oobis[i].url);
    }
    free(rc->initial_oobis);
}

void kd_config_free(struct kd_config *cfg)
{
    if (cfg == NULL)
        return;
    kd_role_config_free(&cfg->witness);
    kd_role_config_free(&cfg->watcher);
    free(cfg->config_path);
    free(cfg->config_resolved);
    memset(cfg, 0, sizeof(*cfg));
}
