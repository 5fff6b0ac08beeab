/*
 * Route patterns and the exact-match router (keriox/actix semantics: one
 * placeholder = one non-empty segment, no trailing-slash normalisation).
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KD_HTTP_MAX_ROUTES 1024

static const char *const kd_http_method_names[] = {
    "", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS",
};

/*
 * Table lookup; out-of-range values give "".
 */
const char *kd_http_method_name(enum kd_http_method method)
{
    if ((unsigned)method >= sizeof(kd_http_method_names) / sizeof(kd_http_method_names[0]))
        return "";
    return kd_http_method_names[method];
}

/* Compiles one pattern into cr; returns KD_OK or KD_EINVAL with why set. */
static enum kd_err kd_http_compile(struct kd_http_croute *cr, const char *pattern, char *why,
                                   size_t whylen)
{
    const char *p, *end;

    cr->nseg = 0;
    cr->nparam = 0;
    if (pattern[0] != '/') {
        snprintf(why, whylen, "pattern \"%s\" does not start with '/'", pattern);
        return KD_EINVAL;
    }
    p = pattern + 1;
    for (;;) {
        struct kd_http_seg *sg;
        size_t n;

        end = strchr(p, '/');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (cr->nseg == KD_HTTP_MAX_SEGMENTS || n > UINT16_MAX) {
            snprintf(why, whylen, "pattern \"%s\" has too many or too long segments", pattern);
            return KD_EINVAL;
        }
        sg = &cr->seg[cr->nseg++];
        sg->lit = p;
        sg->len = (uint16_t)n;
        sg->param = 0;
        if (n > 0 && p[0] == '{') {
            if (n < 3 || p[n - 1] != '}' || memchr(p + 1, '{', n - 2) != NULL ||
                memchr(p + 1, '}', n - 2) != NULL) {
                snprintf(why, whylen,
                         "pattern \"%s\": a placeholder must be a whole segment {name}", pattern);
                return KD_EINVAL;
            }
            if (cr->nparam == KD_HTTP_MAX_PARAMS) {
                snprintf(why, whylen, "pattern \"%s\" has too many placeholders", pattern);
                return KD_EINVAL;
            }
            sg->param = 1;
            cr->nparam++;
        } else if (memchr(p, '{', n) != NULL || memchr(p, '}', n) != NULL) {
            snprintf(why, whylen, "pattern \"%s\": a placeholder must be a whole segment {name}",
                     pattern);
            return KD_EINVAL;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return KD_OK;
}

/*
 * Counts the routes, then compiles each into one array.
 */
enum kd_err kd_http_router_init(struct kd_http_router *rt, const struct kd_route *routes, char *why,
                                size_t whylen)
{
    enum kd_err err = KD_OK;
    unsigned n = 0;

    rt->n = 0;
    rt->routes = NULL;
    if (routes == NULL) {
        snprintf(why, whylen, "no route table");
        return KD_EINVAL;
    }
    while (routes[n].pattern != NULL) {
        if (++n > KD_HTTP_MAX_ROUTES) {
            snprintf(why, whylen, "more than %d routes", KD_HTTP_MAX_ROUTES);
            return KD_EINVAL;
        }
    }
    rt->routes = calloc(n ? n : 1, sizeof(rt->routes[0]));
    if (rt->routes == NULL)
        return KD_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        struct kd_http_croute *cr = &rt->routes[i];

        cr->route = &routes[i];
        if (routes[i].handler == NULL || routes[i].method < KD_HTTP_GET ||
            routes[i].method > KD_HTTP_OPTIONS) {
            snprintf(why, whylen, "route \"%s\": missing handler or bad method", routes[i].pattern);
            err = KD_EINVAL;
            goto out;
        }
        if ((err = kd_http_compile(cr, routes[i].pattern, why, whylen)) != KD_OK)
            goto out;
    }
    rt->n = n;
out:
    if (err != KD_OK) {
        free(rt->routes);
        rt->routes = NULL;
    }
    return err;
}

/*
 * Frees the compiled table.
 */
void kd_http_router_free(struct kd_http_router *rt)
{
    free(rt->routes);
    rt->routes = NULL;
    rt->n = 0;
}

/* True if the segments of the path (offsets off[], lengths len[]) match cr. */
static int kd_http_seg_match(const struct kd_http_croute *cr, const char *path, const uint32_t *off,
                             const uint32_t *len)
{
    for (unsigned i = 0; i < cr->nseg; i++) {
        const struct kd_http_seg *sg = &cr->seg[i];

        if (sg->param) {
            if (len[i] == 0)
                return 0;
        } else if (sg->len != len[i] || memcmp(sg->lit, path + off[i], len[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * Splits the path once, then walks the table in order.
 */
void kd_http_router_match(const struct kd_http_router *rt, enum kd_http_method method,
                          const char *path, size_t len, struct kd_http_match *m)
{
    uint32_t off[KD_HTTP_MAX_SEGMENTS], slen[KD_HTTP_MAX_SEGMENTS];
    const struct kd_http_croute *get = NULL;
    unsigned nseg = 0;
    size_t i, start;

    memset(m, 0, sizeof(*m));
    if (len == 0 || path[0] != '/' || len > UINT32_MAX)
        return;
    start = 1;
    for (i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (nseg == KD_HTTP_MAX_SEGMENTS)
            return; /* longer than any pattern */
        off[nseg] = (uint32_t)start;
        slen[nseg] = (uint32_t)(i - start);
        nseg++;
        start = i + 1;
    }
    for (unsigned r = 0; r < rt->n; r++) {
        const struct kd_http_croute *cr = &rt->routes[r];
        const enum kd_http_method rm = cr->route->method;

        if (cr->nseg != nseg || !kd_http_seg_match(cr, path, off, slen))
            continue;
        if (m->path == NULL)
            m->path = cr;
        m->allow |= 1u << rm;
        if (rm == method && method != 0 && m->route == NULL)
            m->route = cr;
        if (rm == KD_HTTP_GET && get == NULL)
            get = cr;
    }
    if (m->route == NULL && method == KD_HTTP_HEAD && get != NULL) {
        m->route = get;
        m->head_only = 1;
    }
    if (m->route != NULL) {
        for (unsigned s = 0; s < m->route->nseg; s++) {
            if (!m->route->seg[s].param)
                continue;
            m->param_off[m->nparam] = off[s];
            m->param_len[m->nparam] = slen[s];
            m->nparam++;
        }
    }
}

/*
 * Lists the methods in a fixed order; GET implies HEAD.
 */
size_t kd_http_allow_format(unsigned allow, char *out, size_t cap)
{
    static const enum kd_http_method order[] = {KD_HTTP_GET, KD_HTTP_HEAD,   KD_HTTP_POST,
                                                KD_HTTP_PUT, KD_HTTP_DELETE, KD_HTTP_OPTIONS};
    size_t n = 0;

    if (allow & (1u << KD_HTTP_GET))
        allow |= 1u << KD_HTTP_HEAD;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *name = kd_http_method_name(order[i]);
        size_t l = strlen(name);

        if (!(allow & (1u << order[i])))
            continue;
        if (n + l + 3 > cap)
            break;
        if (n > 0) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, name, l);
        n += l;
        out[n] = '\0';
    }
    return n;
}

static int kd_http_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes "%XX"; the write position never passes the read position, so
 * decoding in place is safe.
 */
size_t kd_http_pct_decode(char *dst, const char *src, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (src[i] == '%' && i + 2 < n && (hi = kd_http_hex(src[i + 1])) >= 0 &&
            (lo = kd_http_hex(src[i + 2])) >= 0) {
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    return o;
}

int kd_http_req_query_param(const struct kd_http_req *r, const char *name, char *out, size_t cap)
{
    size_t qlen = 0, i = 0;
    const size_t nlen = strlen(name);
    const char *q = kd_http_req_query(r, &qlen);

    while (q != NULL && i < qlen) {
        size_t end = i, eq;

        while (end < qlen && q[end] != '&')
            end++;
        eq = i;
        while (eq < end && q[eq] != '=')
            eq++;
        if (eq - i == nlen && memcmp(q + i, name, nlen) == 0) {
            size_t o = 0;

            for (size_t k = eq + 1; k < end; k++) {
                int c = (unsigned char)q[k];

                if (c == '%') {
                    int hi, lo;

                    if (k + 2 >= end)
                        return -1;
                    hi = kd_http_hex(q[k + 1]);
                    lo = kd_http_hex(q[k + 2]);
                    if (hi < 0 || lo < 0)
                        return -1;
                    c = hi * 16 + lo;
                    k += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (c == 0 || o + 1 >= cap)
                    return -1;
                out[o++] = (char)c;
            }
            if (cap > 0)
                out[o] = '\0';
            return o > 0 ? 1 : -1;
        }
        i = end + 1;
    }
    return 0;
}
