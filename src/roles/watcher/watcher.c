/*
 * The watcher role. Its health answer has keriox's [HEAD] shape
 * ({"tracked_aids":n,"witnesses":{...}}, spec/keriox-surface.md §2.1); the
 * KERI routes plug into kd_watcher_routes as they land.
 */
#include "kerid/node.h"
#include "kerid/role.h"

#include <stdlib.h>

static void kd_watcher_health(struct kd_http_req *req, void *ctx)
{
    static const char body[] = "{\"tracked_aids\":0,\"witnesses\":{}}";

    (void)ctx;
    kd_http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

static const struct kd_route kd_watcher_routes[] = {
    {KD_HTTP_GET, "/health", kd_watcher_health, "health"},
    {0, NULL, NULL, NULL},
};

const struct kd_role kd_role_watcher = {
    .name = "watcher",
    .title = "Watcher",
    .config_label = "Using config file: ",
    .blank_after_config = false,
    .routes = kd_watcher_routes,
};
