/*
 * Roles as data. A role (witness, watcher) is a const table of function
 * pointers and routes; main picks the roles from --role and the node runs each
 * one on the same loop, store and sweeper, with its own identity, port and
 * public URL (DESIGN.md "Roles are data").
 */
#ifndef KERID_ROLE_H
#define KERID_ROLE_H

#include <stdbool.h>
#include <stddef.h>

#include "kerid/config.h"
#include "kerid/crypto.h"
#include "kerid/err.h"
#include "kerid/http.h"
#include "kerid/kel.h"
#include "kerid/sweep.h"

struct kd_node;
struct kd_role;

/* One running role: what the node keeps for it and hands to its handlers as ctx. */
struct kd_role_instance {
    const struct kd_role *role;
    struct kd_node *node;
    const struct kd_role_config *cfg;
    struct kd_signer signer;     /* the role's identity (seed from config or store) */
    struct kd_http_server *http; /* its listener on cfg->http_port */
    struct kd_route *routes;     /* role routes followed by the node's common routes */
    char oobi_json[512];         /* {"eid":"B…","scheme":"http","url":"<public_url>"} */
    size_t oobi_json_len;
    void *state; /* the role's private state, owned by the role */
};

struct kd_role {
    const char *name;         /* "witness": --role value, config section, metrics label */
    const char *title;        /* "Witness": start-up lines */
    const char *config_label; /* keriox's "Using config file" wording for this role */
    bool blank_after_config;  /* keriox's witness prints an empty line after it */
    bool witnesses_events;    /* its prefix is an own prefix of the KEL engine (§4.6) */
    /* Sets up ri->state; the identity, store and sweeper are ready. */
    enum kd_err (*init)(struct kd_role_instance *ri);
    const struct kd_route *routes; /* ctx of every handler is the kd_role_instance */
    /* Called once the listener is bound, before the start-up lines are printed. */
    enum kd_err (*start)(struct kd_role_instance *ri);
    /* Shutdown began: stop background work (listeners are closed by the node). */
    void (*stop)(struct kd_role_instance *ri);
    /* Releases ri->state (after the store is closed). */
    void (*destroy)(struct kd_role_instance *ri);
    const struct kd_sweep_task *sweeps; /* ctx of every task is the kd_role_instance */
    /* The KEL engine accepted an event inside txn (writer thread). Called for
     * every accepted event; a->own_prefix is this role's prefix when the
     * event names it as a witness (sign a->ev->raw, store the wig, queue the
     * receipt here so that they commit with the event). May be NULL. */
    enum kd_err (*on_accept)(struct kd_role_instance *ri, struct kd_store_txn *txn,
                             const struct kd_kel_accepted *a);
    /* A message just received was escrowed as a new escrow row inside txn
     * (writer thread): msg as received, res the engine's verdict. May be
     * NULL. */
    enum kd_err (*on_escrow)(struct kd_role_instance *ri, struct kd_store_txn *txn,
                             const struct kd_cesr_msg *msg, const struct kd_kel_result *res);
};

extern const struct kd_role kd_role_witness;
extern const struct kd_role kd_role_watcher;

#endif
