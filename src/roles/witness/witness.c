/*
 * The witness role. At this stage it serves its health route; the KERI routes
 * of keriox and keripy (spec/keriox-surface.md §1, spec/keripy-surface.md)
 * plug into kd_witness_routes as they land.
 */
#include "kerid/node.h"
#include "kerid/role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kd_witness {
    char health[256]; /* fixed answer, built once */
    size_t health_len;
};

static enum kd_err kd_witness_init(struct kd_role_instance *ri)
{
    struct kd_witness *w = calloc(1, sizeof(*w));
    int n;

    if (w == NULL)
        return KD_ENOMEM;
    n = snprintf(w->health, sizeof(w->health),
                 "{\"status\":\"ok\",\"role\":\"witness\",\"eid\":\"%s\"}", ri->signer.prefix);
    w->health_len = (size_t)n;
    ri->state = w;
    return KD_OK;
}

static void kd_witness_destroy(struct kd_role_instance *ri)
{
    free(ri->state);
    ri->state = NULL;
}

static void kd_witness_health(struct kd_http_req *req, void *ctx)
{
    const struct kd_role_instance *ri = ctx;
    const struct kd_witness *w = ri->state;

    kd_http_respond(req, 200, "application/json", w->health, w->health_len);
}

static const struct kd_route kd_witness_routes[] = {
    {KD_HTTP_GET, "/health", kd_witness_health, "health"},
    {0, NULL, NULL, NULL},
};

const struct kd_role kd_role_witness = {
    .name = "witness",
    .title = "Witness",
    .config_label = "Using config file ",
    .blank_after_config = true,
    .witnesses_events = true,
    .init = kd_witness_init,
    .routes = kd_witness_routes,
    .destroy = kd_witness_destroy,
};
