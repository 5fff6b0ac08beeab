/*
 * kerid configuration: keriox's YAML, environment and flags, plus kerid-only
 * settings with defaults (spec/keriox-surface.md 5.1, DESIGN.md "Configuration").
 *
 * Precedence per key, lowest first: built-in defaults < YAML file <
 * environment (WITNESS_* / WATCHER_*) < command-line flags.
 *
 * --role witness / --role watcher read keriox's flat file (default
 * ./witness.yml / ./watcher.yml); --role both (the default) reads kerid's file
 * (default ./kerid.yml) with `witness:` and `watcher:` sections, or, when that
 * file is absent, kd_config_default_yaml. A relative file name is looked for in
 * the working directory and then in each parent directory; a file found nowhere
 * counts as empty, as in keriox.
 *
 * Keys (YAML key = environment suffix, lower-cased):
 *   keriox:  db_path, http_port, public_url, seed, tel_storage_path (watcher),
 *            initial_oobis (watcher, list of {eid, scheme, url}),
 *            poll_interval (watcher, seconds, 0 = off, default 30),
 *            escrow_config / escrow_timeout (both accepted, same fields:
 *            default_timeout, out_of_order_timeout, partially_signed_timeout,
 *            partially_witnessed_timeout, trans_receipt_timeout,
 *            delegation_timeout; seconds; each defaults to default_timeout,
 *            which defaults to 60). When one source sets both blocks, the
 *            role's own keriox key wins (witness: escrow_timeout, watcher:
 *            escrow_config).
 *   kerid:   listen_address (IP literal, default 0.0.0.0), limits {...},
 *            log_format, log_level, metrics, sweep_interval_ms. In both mode
 *            listen_address and limits may also sit in a section (the section
 *            wins over the top level); log_format, log_level, metrics and
 *            sweep_interval_ms are top-level only.
 * Bounds (inclusive): escrow timeouts 1..4294967295 s; poll_interval
 * 0..4294967295 s; limits.max_body_bytes 1..1073741824; max_header_bytes
 * 1..16777216; max_connections 1..1000000; *_timeout_ms 1..86400000;
 * sweep_interval_ms 1..3600000.
 */
#ifndef KERID_CONFIG_H
#define KERID_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kerid/err.h"
#include "kerid/log.h"

/* Which roles the process runs (--role). */
enum kd_role_sel { KD_ROLE_SEL_WITNESS, KD_ROLE_SEL_WATCHER, KD_ROLE_SEL_BOTH };

/* What main is asked to do. */
enum kd_cmd {
    KD_CMD_RUN,                  /* serve */
    KD_CMD_SEED,                 /* `kerid seed`: print a fresh seed */
    KD_CMD_HELP,                 /* -h, --help */
    KD_CMD_VERSION,              /* -V, --version */
    KD_CMD_PRINT_DEFAULT_CONFIG, /* --print-default-config: print kd_config_default_yaml */
};

/* The command line, as given. Strings point into argv (nothing to free);
 * NULL when the flag was not given. Values are checked by kd_config_load. */
struct kd_cli {
    enum kd_cmd command;
    enum kd_role_sel role;        /* KD_ROLE_SEL_BOTH unless --role says otherwise */
    const char *config_file;      /* -c, --config-file */
    const char *db_path;          /* -d, --db-path */
    const char *public_url;       /* -u, --public-url */
    const char *http_port;        /* -p, --http-port */
    const char *seed;             /* -s, --seed */
    const char *tel_storage_path; /* -t, --tel-storage-path (watcher only) */
};

/* One entry of initial_oobis: a location the watcher resolves at start-up. */
struct kd_oobi {
    char *eid;    /* identifier prefix (qb64 syntax checked) */
    char *scheme; /* "http" or "tcp" */
    char *url;    /* normalised (kd_url_normalize) */
};

/* Escrow timeouts in seconds. */
struct kd_escrow_config {
    uint64_t default_timeout;
    uint64_t out_of_order_timeout;
    uint64_t partially_signed_timeout;
    uint64_t partially_witnessed_timeout;
    uint64_t trans_receipt_timeout;
    uint64_t delegation_timeout;
};

/* HTTP server limits (kerid-only). */
struct kd_limits {
    size_t max_body_bytes;      /* default 262144 */
    size_t max_header_bytes;    /* default 65536 (kli sends KELs in CESR-ATTACHMENT) */
    unsigned max_connections;   /* default 1024 */
    uint64_t header_timeout_ms; /* default 10000 */
    uint64_t idle_timeout_ms;   /* default 300000 (kli's HTTP client never reconnects) */
    uint64_t body_timeout_ms;   /* default 30000 */
};

/* The settings of one role. Strings are owned by the kd_config. */
struct kd_role_config {
    bool enabled;
    const char *name;   /* "witness" or "watcher" (static) */
    char *db_path;      /* non-empty; created by the node (mkdir -p) */
    uint16_t http_port; /* 1..65535 */
    char *public_url;   /* normalised absolute http/https/tcp URL */
    char *seed;         /* "A" + 43 base64url chars, or NULL: the node generates and keeps one */
    char *tel_storage_path;        /* watcher: non-empty; witness: NULL */
    struct kd_oobi *initial_oobis; /* watcher: may be empty; witness: none */
    size_t n_initial_oobis;
    uint64_t poll_interval; /* watcher: seconds, 0 = off (default 30); witness: 0 */
    struct kd_escrow_config escrow;
    char *listen_address; /* IPv4 or IPv6 literal, default "0.0.0.0" */
    struct kd_limits limits;
};

struct kd_config {
    enum kd_role_sel role;
    /* The file name as given with -c or the role's default ("./witness.yml"):
     * what keriox prints in `Using config file "./witness.yml"`. Never NULL. */
    char *config_path;
    char *config_resolved; /* the file actually read (after the parent search), or NULL */
    bool config_found;     /* a file was read */
    bool config_embedded;  /* --role both without a file: kd_config_default_yaml was used */
    struct kd_role_config witness, watcher;
    enum kd_log_format log_format; /* default text */
    enum kd_log_level log_level;   /* default info */
    bool metrics;                  /* default true */
    uint64_t sweep_interval_ms;    /* default 1000 */
    unsigned n_ignored_keys; /* unknown keys (file or environment), warned about and ignored */
};

/* kerid's built-in configuration for --role both, used when ./kerid.yml (or the
 * -c file) is absent. Loaded through the same code path as a file. */
extern const char kd_config_default_yaml[];

/*
 * Parses the command line (argv[0] is the program name) into *out. Forms:
 * `--opt=value`, `--opt value`, `-o value`, `-ovalue`, clustered short flags
 * (`-hV`), `--` to end options; long names must be spelled out in full. The
 * positional word `seed` selects KD_CMD_SEED. -h or -V stop parsing at once.
 * Rejects: unknown options, missing values, other positional words, an unknown
 * --role, -t with --role witness, and -d -u -p -s -t with --role both (the
 * default), where they would not say which role they set.
 * Returns KD_OK, or KD_EINVAL with one line in err. Re-entrant; keeps no state.
 */
enum kd_err kd_config_parse_args(int argc, char *const *argv, struct kd_cli *out, char *err,
                                 size_t errlen);

/* Writes the --help text to f. */
void kd_config_usage(FILE *f);

/*
 * Builds *cfg from defaults, the YAML file, envp (a NULL-terminated
 * "NAME=value" array, e.g. environ) and the flags in cli, in that precedence,
 * and validates every value. Unknown keys are ignored with a warning.
 * On failure returns KD_ECONFIG (KD_ENOMEM when out of memory) with one line in
 * err naming the field and the problem, e.g.
 *   http_port: "abc" is not a port number (1-65535)
 * and leaves nothing to free; on success the caller frees cfg with kd_config_free.
 */
enum kd_err kd_config_load(struct kd_config *cfg, const struct kd_cli *cli, char *const *envp,
                           char *err, size_t errlen);

/* Frees what kd_config_load allocated; safe on a zeroed or freed config. */
void kd_config_free(struct kd_config *cfg);

/*
 * Writes path quoted as Rust's `{:?}` prints a string: in double quotes, with
 * \" \\ \n \r \t \0 escaped, other control characters as \u{..} (lower-case
 * hex), and bytes that are not UTF-8 shown as U+FFFD. Always NUL-terminates
 * when outlen > 0, cutting on a character boundary if out is too small.
 * Returns the length the full quoted string needs (without the NUL).
 */
size_t kd_config_quote_path(const char *path, char *out, size_t outlen);

#endif
