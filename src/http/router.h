/*
 * The router: route patterns compiled once into segment lists, and the
 * exact-match lookup of (method, path). Private to src/http.
 */
#ifndef KERID_HTTP_ROUTER_H
#define KERID_HTTP_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "kerid/err.h"
#include "kerid/http.h"

struct kd_http_seg {
    const char *lit; /* literal bytes (in the pattern); unused for a placeholder */
    uint16_t len;
    uint8_t param; /* 1: "{x}", matches one non-empty segment */
};

struct kd_http_croute {
    const struct kd_route *route;
    unsigned nseg, nparam;
    struct kd_http_seg seg[KD_HTTP_MAX_SEGMENTS];
    unsigned metric; /* metrics route index of route->name */
};

struct kd_http_router {
    unsigned n;
    struct kd_http_croute *routes;
};

/* Result of kd_http_router_match. */
struct kd_http_match {
    const struct kd_http_croute *route; /* route to run, NULL if none */
    const struct kd_http_croute *path;  /* first route whose pattern matches the path, or NULL */
    int head_only;                      /* HEAD served by a GET route: answer without body */
    unsigned allow;                     /* methods routed on this path: bit (1 << method) */
    unsigned nparam;
    uint32_t param_off[KD_HTTP_MAX_PARAMS]; /* offsets in path of the placeholders' segments */
    uint32_t param_len[KD_HTTP_MAX_PARAMS];
};

/*
 * Compiles routes (terminated by pattern == NULL) into rt. Patterns must start
 * with '/', have at most KD_HTTP_MAX_SEGMENTS segments and KD_HTTP_MAX_PARAMS
 * placeholders, and a placeholder must be a whole segment "{name}" with a
 * non-empty name; braces elsewhere are refused, as are a handler that is NULL,
 * a method out of range and more than 1024 routes. On KD_EINVAL, why holds the
 * reason. rt->routes[i].metric is left 0 for the caller to fill in.
 */
enum kd_err kd_http_router_init(struct kd_http_router *rt, const struct kd_route *routes, char *why,
                                size_t whylen);

/* Releases what kd_http_router_init allocated. */
void kd_http_router_free(struct kd_http_router *rt);

/*
 * Looks up (method, path): path is the raw path (no query) of len bytes.
 * method 0 stands for a method no route can have. The first route in table
 * order whose pattern matches and whose method equals method wins; a HEAD
 * request with no HEAD route runs the first matching GET route, head_only set.
 * Never reads past path + len.
 */
void kd_http_router_match(const struct kd_http_router *rt, enum kd_http_method method,
                          const char *path, size_t len, struct kd_http_match *m);

/* Writes the Allow header value for the method mask ("GET, HEAD, POST"; HEAD
 * joins GET) into out (cap >= 64) and returns its length. */
size_t kd_http_allow_format(unsigned allow, char *out, size_t cap);

/* Percent-decodes n bytes of src into dst (which may equal src; it needs n
 * bytes): "%XX" with two hex digits becomes one byte, anything else is copied.
 * Returns the decoded length (<= n). */
size_t kd_http_pct_decode(char *dst, const char *src, size_t n);

/* The name of a method ("GET"), "" for 0. */
const char *kd_http_method_name(enum kd_http_method method);

#endif
