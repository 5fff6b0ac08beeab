/*
 * The command line: keriox's flags (clap in kx:components/{witness,watcher}/src/main.rs)
 * plus --role. A small getopt_long-like parser without global state.
 */
#include "kerid/config.h"

#include <stdarg.h>
#include <string.h>

enum kd_opt_id {
    OPT_ROLE,
    OPT_CONFIG,
    OPT_DB,
    OPT_URL,
    OPT_PORT,
    OPT_SEED,
    OPT_TEL,
    OPT_PRINT_DEFAULT,
    OPT_HELP,
    OPT_VERSION
};

struct kd_opt {
    enum kd_opt_id id;
    char shortname; /* 0: long only */
    const char *longname;
    bool has_value;
    const char *env_suffix; /* keriox key, for the --role both message */
};

static const struct kd_opt kd_opts[] = {
    {OPT_ROLE, 0, "role", true, NULL},
    {OPT_CONFIG, 'c', "config-file", true, NULL},
    {OPT_DB, 'd', "db-path", true, "DB_PATH"},
    {OPT_URL, 'u', "public-url", true, "PUBLIC_URL"},
    {OPT_PORT, 'p', "http-port", true, "HTTP_PORT"},
    {OPT_SEED, 's', "seed", true, "SEED"},
    {OPT_TEL, 't', "tel-storage-path", true, "TEL_STORAGE_PATH"},
    {OPT_PRINT_DEFAULT, 0, "print-default-config", false, NULL},
    {OPT_HELP, 'h', "help", false, NULL},
    {OPT_VERSION, 'V', "version", false, NULL},
};

#define KD_N_OPTS (sizeof(kd_opts) / sizeof(kd_opts[0]))

__attribute__((format(printf, 3, 4))) static enum kd_err kd_args_fail(char *err, size_t errlen,
                                                                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return KD_EINVAL;
}

/* How the user spelled an option, for messages: "-p" or "--http-port". */
struct kd_spelling {
    char text[48];
};

static void kd_spell(struct kd_spelling *sp, const struct kd_opt *o, bool as_long)
{
    if (as_long || o->shortname == 0)
        snprintf(sp->text, sizeof(sp->text), "--%s", o->longname);
    else
        snprintf(sp->text, sizeof(sp->text), "-%c", o->shortname);
}

void kd_config_usage(FILE *f)
{
    fputs("Usage: kerid [--role witness|watcher|both] [OPTIONS]\n"
          "       kerid seed\n"
          "\n"
          "A KERI witness and watcher server; a drop-in for keriox-witness and keriox-watcher.\n"
          "\n"
          "Options:\n"
          "      --role ROLE              witness, watcher or both (default: both)\n"
          "  -c, --config-file FILE       YAML configuration; default ./witness.yml,\n"
          "                               ./watcher.yml or ./kerid.yml, also looked for in\n"
          "                               parent directories; a missing file counts as empty\n"
          "  -d, --db-path DIR            database directory                (one role only)\n"
          "  -u, --public-url URL         URL advertised in the OOBI        (one role only)\n"
          "  -p, --http-port PORT         HTTP listen port                  (one role only)\n"
          "  -s, --seed SEED              Ed25519 seed: \"A\" + 43 characters (one role only)\n"
          "  -t, --tel-storage-path DIR   TEL storage directory             (--role watcher)\n"
          "      --print-default-config   print the built-in configuration of --role both\n"
          "  -h, --help                   print this help\n"
          "  -V, --version                print the version\n"
          "\n"
          "Commands:\n"
          "  seed                         print a new seed and its identifier prefix\n"
          "\n"
          "Every configuration key can also be set in the environment: WITNESS_<KEY> for the\n"
          "witness, WATCHER_<KEY> for the watcher, e.g. WITNESS_HTTP_PORT=3232 or\n"
          "WATCHER_INITIAL_OOBIS='[{eid=\"B...\",scheme=\"http\",url=\"http://w:3232/\"}]'.\n"
          "Precedence: built-in defaults < file < environment < flags.\n",
          f);
}

static const struct kd_opt *kd_opt_by_long(const char *name, size_t n)
{
    for (size_t i = 0; i < KD_N_OPTS; i++) {
        if (strlen(kd_opts[i].longname) == n && memcmp(kd_opts[i].longname, name, n) == 0)
            return &kd_opts[i];
    }
    return NULL;
}

static const struct kd_opt *kd_opt_by_short(char c)
{
    for (size_t i = 0; i < KD_N_OPTS; i++) {
        if (kd_opts[i].shortname != 0 && kd_opts[i].shortname == c)
            return &kd_opts[i];
    }
    return NULL;
}

struct kd_args_state {
    struct kd_spelling seen[KD_N_OPTS]; /* last spelling of each keriox flag, "" if unused */
    bool positional_seed;
};

/* Records one option; returns KD_OK, or KD_EINVAL with err set. *stop is set
 * for -h and -V. */
static enum kd_err kd_args_apply(struct kd_args_state *st, struct kd_cli *out,
                                 const struct kd_opt *o, const char *value, bool as_long,
                                 bool *stop, char *err, size_t errlen)
{
    kd_spell(&st->seen[o->id], o, as_long);
    switch (o->id) {
    case OPT_ROLE:
        if (strcmp(value, "witness") == 0)
            out->role = KD_ROLE_SEL_WITNESS;
        else if (strcmp(value, "watcher") == 0)
            out->role = KD_ROLE_SEL_WATCHER;
        else if (strcmp(value, "both") == 0)
            out->role = KD_ROLE_SEL_BOTH;
        else
            return kd_args_fail(err, errlen,
                                "--role: \"%.64s\" is not one of witness, watcher, both", value);
        break;
    case OPT_CONFIG:
        out->config_file = value;
        break;
    case OPT_DB:
        out->db_path = value;
        break;
    case OPT_URL:
        out->public_url = value;
        break;
    case OPT_PORT:
        out->http_port = value;
        break;
    case OPT_SEED:
        out->seed = value;
        break;
    case OPT_TEL:
        out->tel_storage_path = value;
        break;
    case OPT_PRINT_DEFAULT:
        out->command = KD_CMD_PRINT_DEFAULT_CONFIG;
        break;
    case OPT_HELP:
        out->command = KD_CMD_HELP;
        *stop = true;
        break;
    case OPT_VERSION:
        out->command = KD_CMD_VERSION;
        *stop = true;
        break;
    }
    return KD_OK;
}

static enum kd_err kd_args_positional(struct kd_args_state *st, struct kd_cli *out, const char *arg,
                                      char *err, size_t errlen)
{
    if (strcmp(arg, "seed") == 0 && !st->positional_seed) {
        st->positional_seed = true;
        out->command = KD_CMD_SEED;
        return KD_OK;
    }
    return kd_args_fail(err, errlen, "unexpected argument \"%.64s\"", arg);
}

enum kd_err kd_config_parse_args(int argc, char *const *argv, struct kd_cli *out, char *err,
                                 size_t errlen)
{
    struct kd_args_state st;
    bool stop = false, only_positional = false;
    enum kd_err rc;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    out->command = KD_CMD_RUN;
    out->role = KD_ROLE_SEL_BOTH;
    if (errlen > 0)
        err[0] = '\0';
    for (int i = 1; i < argc && !stop; i++) {
        const char *a = argv[i];

        if (a == NULL)
            break;
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if ((rc = kd_args_positional(&st, out, a, err, errlen)) != KD_OK)
                return rc;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);
            const struct kd_opt *o = kd_opt_by_long(name, n);
            const char *value = NULL;

            if (o == NULL)
                return kd_args_fail(err, errlen, "unknown option --%.*s", (int)(n > 64 ? 64 : n),
                                    name);
            if (o->has_value) {
                if (eq != NULL)
                    value = eq + 1;
                else if (i + 1 < argc && argv[i + 1] != NULL)
                    value = argv[++i];
                else
                    return kd_args_fail(err, errlen, "option --%s needs a value", o->longname);
            } else if (eq != NULL) {
                return kd_args_fail(err, errlen, "option --%s takes no value", o->longname);
            }
            if ((rc = kd_args_apply(&st, out, o, value, true, &stop, err, errlen)) != KD_OK)
                return rc;
            continue;
        }
        /* a cluster of short options: -hV, -p3232, -p 3232 */
        for (size_t j = 1; a[j] != '\0' && !stop; j++) {
            const struct kd_opt *o = kd_opt_by_short(a[j]);
            const char *value = NULL;

            if (o == NULL) {
                unsigned char c = (unsigned char)a[j];

                if (c >= 0x21 && c < 0x7f)
                    return kd_args_fail(err, errlen, "unknown option -%c", c);
                return kd_args_fail(err, errlen, "unknown option in \"%.64s\"", a);
            }
            if (o->has_value) {
                if (a[j + 1] != '\0')
                    value = a + j + 1;
                else if (i + 1 < argc && argv[i + 1] != NULL)
                    value = argv[++i];
                else
                    return kd_args_fail(err, errlen, "option -%c needs a value", o->shortname);
            }
            if ((rc = kd_args_apply(&st, out, o, value, false, &stop, err, errlen)) != KD_OK)
                return rc;
            if (value != NULL)
                break;
        }
    }
    if (stop || out->command == KD_CMD_SEED || out->command == KD_CMD_PRINT_DEFAULT_CONFIG)
        return KD_OK;
    if (out->role == KD_ROLE_SEL_WITNESS && out->tel_storage_path != NULL)
        return kd_args_fail(err, errlen, "flag %s is only for --role watcher",
                            st.seen[OPT_TEL].text);
    if (out->role == KD_ROLE_SEL_BOTH) {
        static const enum kd_opt_id per_role[] = {OPT_DB, OPT_URL, OPT_PORT, OPT_SEED, OPT_TEL};

        for (size_t k = 0; k < sizeof(per_role) / sizeof(per_role[0]); k++) {
            const struct kd_opt *o = &kd_opts[per_role[k]];

            if (st.seen[o->id].text[0] == '\0')
                continue;
            if (o->id == OPT_TEL)
                return kd_args_fail(err, errlen,
                                    "flag %s is ambiguous with --role both; use "
                                    "WATCHER_%s or the config file",
                                    st.seen[o->id].text, o->env_suffix);
            return kd_args_fail(err, errlen,
                                "flag %s is ambiguous with --role both; use WITNESS_%s/WATCHER_%s "
                                "or the config file",
                                st.seen[o->id].text, o->env_suffix, o->env_suffix);
        }
    }
    return KD_OK;
}

size_t kd_config_quote_path(const char *path, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)(path != NULL ? path : "");
    size_t need = 0, w = 0;
    bool full = false;

#define KD_EMIT_(buf, n)                                                                           \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (!full && w + n_ + 2 <= outlen) { /* room for it, the closing quote and the NUL */      \
            memcpy(out + w, (buf), n_);                                                            \
            w += n_;                                                                               \
        } else {                                                                                   \
            full = true;                                                                           \
        }                                                                                          \
        need += n_;                                                                                \
    } while (0)

    KD_EMIT_("\"", 1);
    for (size_t i = 0; s[i] != '\0';) {
        unsigned char c = s[i];
        char tmp[16];
        size_t len = 1, k;
        uint32_t cp = c;

        if (c >= 0x80) {
            /* decode one UTF-8 character; an invalid byte shows as U+FFFD */
            len = (c >= 0xc2 && c <= 0xdf)   ? 2
                  : (c >= 0xe0 && c <= 0xef) ? 3
                  : (c >= 0xf0 && c <= 0xf4) ? 4
                                             : 0;
            cp = len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
            for (k = 1; k < len; k++) {
                if ((s[i + k] & 0xc0) != 0x80)
                    break;
                cp = (cp << 6) | (s[i + k] & 0x3fu);
            }
            if (len == 0 || k < len || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                KD_EMIT_("\xef\xbf\xbd", 3);
                i++;
                continue;
            }
            if (cp >= 0x80 && cp <= 0x9f) { /* C1 controls are not printable */
                snprintf(tmp, sizeof(tmp), "\\u{%x}", (unsigned)cp);
                KD_EMIT_(tmp, strlen(tmp));
            } else {
                KD_EMIT_(s + i, len);
            }
            i += len;
            continue;
        }
        switch (c) {
        case '"':
            KD_EMIT_("\\\"", 2);
            break;
        case '\\':
            KD_EMIT_("\\\\", 2);
            break;
        case '\n':
            KD_EMIT_("\\n", 2);
            break;
        case '\r':
            KD_EMIT_("\\r", 2);
            break;
        case '\t':
            KD_EMIT_("\\t", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof(tmp), "\\u{%x}", (unsigned)c);
                KD_EMIT_(tmp, strlen(tmp));
            } else {
                KD_EMIT_(s + i, 1);
            }
        }
        i++;
    }
    need += 1; /* closing quote */
    if (outlen > 0) {
        if (w + 2 <= outlen)
            out[w++] = '"';
        out[w < outlen ? w : outlen - 1] = '\0';
    }
#undef KD_EMIT_
    return need;
}
