/*
 * kerid: a KERI witness and watcher server, drop-in for keriox-witness and
 * keriox-watcher. main parses the command line, loads the configuration, picks
 * the roles, and runs the node on one libuv loop until SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "kerid/config.h"
#include "kerid/crypto.h"
#include "kerid/log.h"
#include "kerid/node.h"
#include "kerid/role.h"
#include "kerid_build.h"

extern char **environ;

static int kd_main_seed(void)
{
    struct kd_signer s;

    if (kd_signer_generate(&s) != KD_OK) {
        fprintf(stderr, "Error: cannot generate a seed\n");
        return 1;
    }
    printf("seed: %s\n# prefix: %s\n", s.seed_qb64, s.prefix);
    kd_signer_wipe(&s);
    return 0;
}

static int kd_main_run(const struct kd_config *cfg)
{
    struct kd_node_role roles[KD_NODE_MAX_ROLES];
    unsigned n = 0;
    struct kd_node node;
    char err[1024];
    uv_loop_t loop;

    if (cfg->witness.enabled)
        roles[n++] = (struct kd_node_role){&kd_role_witness, &cfg->witness};
    if (cfg->watcher.enabled)
        roles[n++] = (struct kd_node_role){&kd_role_watcher, &cfg->watcher};
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "Error: cannot create the event loop\n");
        return 1;
    }
    if (kd_node_start(&node, &loop, cfg, roles, n, stdout, err, sizeof(err)) != KD_OK) {
        fprintf(stderr, "Error: %s\n", err);
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    kd_node_free(&node);
    if (uv_loop_close(&loop) != 0)
        kd_log_warn("node", "event loop closed with handles still open");
    return 0;
}

int main(int argc, char **argv)
{
    struct kd_cli cli;
    struct kd_config cfg;
    char err[1024];
    int rc;

    signal(SIGPIPE, SIG_IGN);
    if (kd_config_parse_args(argc, argv, &cli, err, sizeof(err)) != KD_OK) {
        fprintf(stderr, "Error: %s\n", err);
        fprintf(stderr, "Try 'kerid --help'.\n");
        return 1;
    }
    switch (cli.command) {
    case KD_CMD_HELP:
        kd_config_usage(stdout);
        return 0;
    case KD_CMD_PRINT_DEFAULT_CONFIG:
        fputs(kd_config_default_yaml, stdout);
        return 0;
    case KD_CMD_VERSION:
        printf("kerid %s (keriox %s compatible)\n", KERID_VERSION, KERID_KERIOX_VERSION);
        return 0;
    default:
        break;
    }
    if (kd_crypto_init() != KD_OK) {
        fprintf(stderr, "Error: libsodium initialisation failed\n");
        return 1;
    }
    if (cli.command == KD_CMD_SEED)
        return kd_main_seed();

    if (kd_config_load(&cfg, &cli, environ, err, sizeof(err)) != KD_OK) {
        fprintf(stderr, "Error: Failed to load config: %s\n", err);
        return 1;
    }
    kd_log_setup(cfg.log_level, cfg.log_format);
    rc = kd_main_run(&cfg);
    kd_config_free(&cfg);
    return rc;
}
