/*
 * WHATWG URL parsing and serialisation for absolute URLs with an authority
 * (https://url.spec.whatwg.org/#concept-basic-url-parser, no base URL, no
 * state override), as the Rust url crate 2.5.8 implements it. The state
 * machine is written as straight-line code over the pre-processed input: the
 * normalised URL is produced as it is parsed, into kd_url.href.
 */
#include "kerid/url.h"

#include <stdint.h>
#include <string.h>

const char kd_url_why_relative[] = "no scheme: not an absolute URL";

/* Percent-encode sets (url.spec.whatwg.org 1.3), on top of the C0 control set
 * (bytes < 0x20 and >= 0x7f, so every byte of a non-ASCII character). */
enum kd_url_set {
    KD_SET_C0,
    KD_SET_FRAGMENT,
    KD_SET_QUERY,
    KD_SET_SPECIAL_QUERY,
    KD_SET_PATH,
    KD_SET_USERINFO
};

static const char *const kd_url_set_extra[] = {
    [KD_SET_C0] = "",
    [KD_SET_FRAGMENT] = " \"<>`",
    [KD_SET_QUERY] = " \"#<>",
    [KD_SET_SPECIAL_QUERY] = " \"#<>'",
    /* url 2.5.8: FRAGMENT + # ? { } ('^' only joined in a later release) */
    [KD_SET_PATH] = " \"<>`#?{}",
    [KD_SET_USERINFO] = " \"<>`#?{}/:;=@[\\]^|",
};

struct kd_url_scheme_info {
    const char *name;
    int default_port;
};

static const struct kd_url_scheme_info kd_url_special[] = {
    {"ftp", 21}, {"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443},
};

/* Output cursor over href; sets over instead of writing past the end. */
struct kd_url_out {
    char *p;
    size_t len;
    bool over;
};

static bool kd_url_in_set(unsigned char c, enum kd_url_set set)
{
    if (c < 0x20 || c >= 0x7f)
        return true;
    return strchr(kd_url_set_extra[set], c) != NULL;
}

static void kd_url_put(struct kd_url_out *o, char c)
{
    if (o->len + 1 >= KD_URL_MAX) {
        o->over = true;
        return;
    }
    o->p[o->len++] = c;
}

static void kd_url_put_mem(struct kd_url_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kd_url_put(o, s[i]);
}

static void kd_url_put_enc(struct kd_url_out *o, unsigned char c, enum kd_url_set set)
{
    static const char hex[] = "0123456789ABCDEF";

    if (!kd_url_in_set(c, set)) {
        kd_url_put(o, (char)c);
        return;
    }
    kd_url_put(o, '%');
    kd_url_put(o, hex[c >> 4]);
    kd_url_put(o, hex[c & 15]);
}

static void kd_url_put_uint(struct kd_url_out *o, unsigned long v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        kd_url_put(o, tmp[--n]);
}

static bool kd_url_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool kd_url_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int kd_url_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned char kd_url_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). */
static bool kd_url_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- IPv6 (url.spec.whatwg.org 3.5 "IPv6 parser" and "IPv6 serializer") ---- */

static bool kd_url_ipv6_parse(const unsigned char *s, size_t n, uint16_t addr[8])
{
    size_t p = 0;
    int piece = 0;
    int compress = -1;

    memset(addr, 0, 8 * sizeof(addr[0]));
#define C_ (p < n ? s[p] : 0)
    if (C_ == ':') {
        if (p + 1 >= n || s[p + 1] != ':')
            return false;
        p += 2;
        piece++;
        compress = piece;
    }
    while (p < n) {
        unsigned value = 0;
        int length = 0;

        if (piece == 8)
            return false;
        if (C_ == ':') {
            if (compress != -1)
                return false;
            p++;
            piece++;
            compress = piece;
            continue;
        }
        while (length < 4 && p < n && kd_url_hexval(C_) >= 0) {
            value = value * 16 + (unsigned)kd_url_hexval(C_);
            p++;
            length++;
        }
        if (C_ == '.' && p < n) {
            int seen = 0;

            if (length == 0)
                return false;
            p -= (size_t)length;
            if (piece > 6)
                return false;
            while (p < n) {
                int v4 = -1;

                if (seen > 0) {
                    if (C_ == '.' && seen < 4)
                        p++;
                    else
                        return false;
                }
                if (p >= n || !kd_url_is_digit(C_))
                    return false;
                while (p < n && kd_url_is_digit(C_)) {
                    int d = C_ - '0';

                    if (v4 == -1)
                        v4 = d;
                    else if (v4 == 0)
                        return false;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255)
                        return false;
                    p++;
                }
                addr[piece] = (uint16_t)(addr[piece] * 0x100 + v4);
                seen++;
                if (seen == 2 || seen == 4)
                    piece++;
            }
            if (seen != 4)
                return false;
            break;
        } else if (p < n && C_ == ':') {
            p++;
            if (p >= n)
                return false;
        } else if (p < n) {
            return false;
        }
        addr[piece] = (uint16_t)value;
        piece++;
    }
#undef C_
    if (compress != -1) {
        int swaps = piece - compress;

        piece = 7;
        while (piece != 0 && swaps > 0) {
            uint16_t t = addr[piece];

            addr[piece] = addr[compress + swaps - 1];
            addr[compress + swaps - 1] = t;
            piece--;
            swaps--;
        }
    } else if (piece != 8) {
        return false;
    }
    return true;
}

static void kd_url_ipv6_put(struct kd_url_out *o, const uint16_t addr[8])
{
    static const char hex[] = "0123456789abcdef";
    int best = -1, best_len = 1;
    bool ignore0 = false;

    for (int i = 0; i < 8;) {
        int j = i;

        while (j < 8 && addr[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = (j == i) ? i + 1 : j;
    }
    for (int i = 0; i < 8; i++) {
        if (ignore0 && addr[i] == 0)
            continue;
        ignore0 = false;
        if (best == i) {
            kd_url_put_mem(o, i == 0 ? "::" : ":", i == 0 ? 2 : 1);
            ignore0 = true;
            continue;
        }
        bool lead = true;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned d = (addr[i] >> shift) & 15u;

            if (lead && d == 0 && shift != 0)
                continue;
            lead = false;
            kd_url_put(o, hex[d]);
        }
        if (i != 7)
            kd_url_put(o, ':');
    }
}

/* ---- IPv4 (url.spec.whatwg.org 3.5 "IPv4 parser") ---- */

/* One IPv4 part: decimal, 0-prefixed octal or 0x-prefixed hex; "" fails, "0x"
 * is 0. Values saturate at 2^32 (every check then fails as it must). */
static bool kd_url_ipv4_number(const unsigned char *s, size_t n, uint64_t *out)
{
    unsigned radix = 10;
    uint64_t v = 0;

    if (n == 0)
        return false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
        radix = 16;
    } else if (n >= 2 && s[0] == '0') {
        s++;
        n--;
        radix = 8;
    }
    for (size_t i = 0; i < n; i++) {
        int d = kd_url_hexval(s[i]);

        if (d < 0 || (unsigned)d >= radix)
            return false;
        v = v * radix + (unsigned)d;
        if (v > UINT64_C(0xffffffff))
            v = UINT64_C(0x100000000);
    }
    *out = v;
    return true;
}

/* "ends in a number checker": is the last dot label (a trailing empty one
 * aside) all digits, or a valid IPv4 number such as "0x1f"? */
static bool kd_url_ends_in_number(const unsigned char *s, size_t n)
{
    size_t end = n, start;
    uint64_t dummy;

    if (n == 0)
        return false;
    if (s[n - 1] == '.')
        end = n - 1;
    start = end;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (end > start) {
        bool digits = true;

        for (size_t i = start; i < end; i++)
            digits = digits && kd_url_is_digit(s[i]);
        if (digits)
            return true;
    }
    return kd_url_ipv4_number(s + start, end - start, &dummy);
}

static bool kd_url_ipv4_parse(const unsigned char *s, size_t n, uint32_t *out)
{
    uint64_t nums[4];
    size_t count = 0, start = 0;
    uint64_t v;

    if (n > 0 && s[n - 1] == '.')
        n--; /* a trailing empty part is dropped */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (count == 4)
            return false;
        if (!kd_url_ipv4_number(s + start, i - start, &nums[count]))
            return false;
        count++;
        start = i + 1;
    }
    for (size_t i = 0; i + 1 < count; i++) {
        if (nums[i] > 255)
            return false;
    }
    if (nums[count - 1] >= (UINT64_C(1) << (8 * (5 - count))))
        return false;
    v = nums[count - 1];
    for (size_t i = 0; i + 1 < count; i++)
        v += nums[i] << (8 * (3 - i));
    *out = (uint32_t)v;
    return true;
}

/* ---- host parser (url.spec.whatwg.org 3.5 "host parser") ---- */

static const char kd_url_forbidden_host[] = " #/:<>?@[\\]^|";
static const char kd_url_why_idn[] = "internationalised host names are not supported";

static enum kd_err kd_url_host(struct kd_url_out *o, struct kd_url *u, const unsigned char *s,
                               size_t n, bool special, const char **why)
{
    unsigned char dom[KD_URL_MAX];
    size_t dn = 0;

    if (n > 0 && s[0] == '[') {
        uint16_t addr[8];

        if (s[n - 1] != ']' || !kd_url_ipv6_parse(s + 1, n - 2, addr)) {
            *why = "invalid IPv6 address";
            return KD_EINVAL;
        }
        u->host_type = KD_URL_HOST_IPV6;
        kd_url_put(o, '[');
        u->hostname.off = o->len;
        kd_url_ipv6_put(o, addr);
        u->hostname.len = o->len - u->hostname.off;
        kd_url_put(o, ']');
        return KD_OK;
    }
    if (!special) {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == 0 || strchr(kd_url_forbidden_host, s[i]) != NULL) {
                *why = "invalid character in host";
                return KD_EINVAL;
            }
        }
        u->host_type = KD_URL_HOST_OPAQUE;
        u->hostname.off = o->len;
        for (size_t i = 0; i < n; i++)
            kd_url_put_enc(o, s[i], KD_SET_C0);
        u->hostname.len = o->len - u->hostname.off;
        return KD_OK;
    }
    /* domain: percent-decode, then domain-to-ASCII (ASCII input only) */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && kd_url_hexval(s[i + 1]) >= 0 &&
            kd_url_hexval(s[i + 2]) >= 0) {
            dom[dn++] = (unsigned char)(kd_url_hexval(s[i + 1]) * 16 + kd_url_hexval(s[i + 2]));
            i += 2;
        } else {
            dom[dn++] = s[i];
        }
    }
    for (size_t i = 0; i < dn; i++) {
        if (dom[i] >= 0x80) {
            *why = kd_url_utf8_valid(dom, dn) ? kd_url_why_idn : "invalid host";
            return KD_EINVAL;
        }
        dom[i] = kd_url_lower(dom[i]);
        if (dom[i] <= 0x20 || dom[i] == 0x7f || dom[i] == '%' ||
            strchr(kd_url_forbidden_host, dom[i]) != NULL) {
            *why = "invalid character in host";
            return KD_EINVAL;
        }
    }
    /* An A-label ("xn--...") stands for a non-ASCII label: its validity needs
     * the UTS #46 tables, so it is refused like any internationalised name. */
    for (size_t i = 0; i < dn;) {
        size_t j = i;

        while (j < dn && dom[j] != '.')
            j++;
        if (j - i >= 4 && memcmp(dom + i, "xn--", 4) == 0) {
            *why = kd_url_why_idn;
            return KD_EINVAL;
        }
        i = j + 1;
    }
    if (kd_url_ends_in_number(dom, dn)) {
        uint32_t v4;

        if (!kd_url_ipv4_parse(dom, dn, &v4)) {
            *why = "invalid IPv4 address";
            return KD_EINVAL;
        }
        u->host_type = KD_URL_HOST_IPV4;
        u->hostname.off = o->len;
        for (int k = 3; k >= 0; k--) {
            kd_url_put_uint(o, (v4 >> (8 * k)) & 255u);
            if (k != 0)
                kd_url_put(o, '.');
        }
        u->hostname.len = o->len - u->hostname.off;
        return KD_OK;
    }
    u->host_type = KD_URL_HOST_DOMAIN;
    u->hostname.off = o->len;
    kd_url_put_mem(o, (const char *)dom, dn);
    u->hostname.len = o->len - u->hostname.off;
    return KD_OK;
}

/* "." or "%2e" */
static bool kd_url_single_dot(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') ||
           (n == 3 && s[0] == '%' && s[1] == '2' && kd_url_lower((unsigned char)s[2]) == 'e');
}

/* "..", ".%2e", "%2e.", "%2e%2e" (any case) */
static bool kd_url_double_dot(const char *s, size_t n)
{
    if (n == 2)
        return s[0] == '.' && s[1] == '.';
    if (n == 4)
        return (s[0] == '.' && kd_url_single_dot(s + 1, 3)) ||
               (kd_url_single_dot(s, 3) && s[3] == '.');
    if (n == 6)
        return kd_url_single_dot(s, 3) && kd_url_single_dot(s + 3, 3);
    return false;
}

/* Parses the port digits s[0..n) into *port; an empty port is "no port". */
static enum kd_err kd_url_port(const unsigned char *s, size_t n, long *port, const char **why)
{
    long v = 0;

    *port = -1;
    for (size_t i = 0; i < n; i++) {
        if (!kd_url_is_digit(s[i])) {
            *why = "invalid port";
            return KD_EINVAL;
        }
        v = v * 10 + (s[i] - '0');
        if (v > 65535) {
            *why = "port out of range";
            return KD_EINVAL;
        }
    }
    if (n > 0)
        *port = v;
    return KD_OK;
}

static enum kd_err kd_url_parse_pre(const unsigned char *s, size_t n, struct kd_url *u,
                                    const char **why)
{
    struct kd_url_out o = {u->href, 0, false};
    const struct kd_url_scheme_info *info = NULL;
    size_t i, end, at, hs, colon;
    bool special, brackets = false;
    long port;
    enum kd_err rc;

    /* scheme start and scheme states */
    if (n == 0 || !kd_url_is_alpha(s[0])) {
        *why = kd_url_why_relative;
        return KD_EINVAL;
    }
    for (i = 1; i < n && (kd_url_is_alpha(s[i]) || kd_url_is_digit(s[i]) || s[i] == '+' ||
                          s[i] == '-' || s[i] == '.');
         i++)
        ;
    if (i == n || s[i] != ':') {
        *why = kd_url_why_relative;
        return KD_EINVAL;
    }
    u->scheme.off = 0;
    for (size_t k = 0; k < i; k++)
        kd_url_put(&o, (char)kd_url_lower(s[k]));
    u->scheme.len = o.len;
    for (size_t k = 0; k < sizeof(kd_url_special) / sizeof(kd_url_special[0]); k++) {
        if (strlen(kd_url_special[k].name) == i && memcmp(u->href, kd_url_special[k].name, i) == 0)
            info = &kd_url_special[k];
    }
    if (i == 4 && memcmp(u->href, "file", 4) == 0) {
        *why = "file URLs are not supported";
        return KD_EINVAL;
    }
    special = info != NULL;
    u->special = special;
    kd_url_put(&o, ':');
    i++;

    /* special authority (ignore) slashes state, or path-or-authority state */
    if (special) {
        while (i < n && (s[i] == '/' || s[i] == '\\'))
            i++;
    } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        i += 2;
    } else {
        *why = "no host";
        return KD_EINVAL;
    }
    kd_url_put_mem(&o, "//", 2);

    /* authority state: the authority ends at / ? # (and \ when special) */
    for (end = i; end < n; end++) {
        if (s[end] == '/' || s[end] == '?' || s[end] == '#' || (special && s[end] == '\\'))
            break;
    }
    at = SIZE_MAX;
    for (size_t k = i; k < end; k++) {
        if (s[k] == '@')
            at = k;
    }
    u->username.off = u->password.off = o.len;
    if (at != SIZE_MAX) {
        size_t ucolon = at;

        for (size_t k = i; k < at; k++) {
            if (s[k] == ':') {
                ucolon = k;
                break;
            }
        }
        for (size_t k = i; k < ucolon; k++)
            kd_url_put_enc(&o, s[k], KD_SET_USERINFO);
        u->username.len = o.len - u->username.off;
        if (ucolon + 1 < at) {
            kd_url_put(&o, ':');
            u->password.off = o.len;
            for (size_t k = ucolon + 1; k < at; k++)
                kd_url_put_enc(&o, s[k], KD_SET_USERINFO);
            u->password.len = o.len - u->password.off;
        }
        if (u->username.len > 0 || u->password.len > 0)
            kd_url_put(&o, '@');
        else
            u->username.off = u->password.off = o.len;
        hs = at + 1;
        if (hs == end) {
            *why = "empty host";
            return KD_EINVAL;
        }
    } else {
        hs = i;
    }

    /* host state: a ':' outside brackets starts the port */
    colon = end;
    for (size_t k = hs; k < end; k++) {
        if (s[k] == '[')
            brackets = true;
        else if (s[k] == ']')
            brackets = false;
        else if (s[k] == ':' && !brackets) {
            colon = k;
            break;
        }
    }
    if (colon < end && colon == hs) {
        *why = "empty host";
        return KD_EINVAL;
    }
    if (hs == end) {
        *why = special ? "empty host" : "no host";
        return KD_EINVAL;
    }
    u->host.off = o.len;
    rc = kd_url_host(&o, u, s + hs, colon - hs, special, why);
    if (rc != KD_OK)
        return rc;
    u->host.len = o.len - u->host.off;
    if (u->host.len == 0) {
        *why = "no host";
        return KD_EINVAL;
    }
    port = -1;
    if (colon < end) {
        rc = kd_url_port(s + colon + 1, end - colon - 1, &port, why);
        if (rc != KD_OK)
            return rc;
    }
    if (info != NULL && port == info->default_port)
        port = -1;
    u->port = (int)port;
    u->effective_port = port >= 0 ? (int)port : (info != NULL ? info->default_port : -1);
    if (port >= 0) {
        kd_url_put(&o, ':');
        kd_url_put_uint(&o, (unsigned long)port);
    }
    i = end;

    /* path start state */
    u->path.off = o.len;
    if (special) {
        if (i < n && (s[i] == '/' || s[i] == '\\'))
            i++;
    } else if (i < n && s[i] == '/') {
        i++;
    } else {
        goto after_path;
    }
    /* path state, one segment per turn */
    for (;;) {
        size_t seg = o.len;
        bool slash;
        unsigned char c;

        kd_url_put(&o, '/');
        while (i < n && s[i] != '/' && !(special && s[i] == '\\') && s[i] != '?' && s[i] != '#')
            kd_url_put_enc(&o, s[i++], KD_SET_PATH);
        c = i < n ? s[i] : 0;
        slash = c == '/' || (special && c == '\\');
        if (!o.over && kd_url_double_dot(o.p + seg + 1, o.len - seg - 1)) {
            o.len = seg;
            while (o.len > u->path.off && o.p[o.len - 1] != '/')
                o.len--;
            if (o.len > u->path.off)
                o.len--; /* drop the last segment with its '/' */
            if (!slash)
                kd_url_put(&o, '/');
        } else if (!o.over && kd_url_single_dot(o.p + seg + 1, o.len - seg - 1)) {
            o.len = seg;
            if (!slash)
                kd_url_put(&o, '/');
        }
        if (!slash)
            break;
        i++;
    }
after_path:
    u->path.len = o.len - u->path.off;
    if (i < n && s[i] == '?') {
        i++;
        kd_url_put(&o, '?');
        u->has_query = true;
        u->query.off = o.len;
        while (i < n && s[i] != '#')
            kd_url_put_enc(&o, s[i++], special ? KD_SET_SPECIAL_QUERY : KD_SET_QUERY);
        u->query.len = o.len - u->query.off;
    }
    if (i < n && s[i] == '#') {
        i++;
        kd_url_put(&o, '#');
        u->has_fragment = true;
        u->fragment.off = o.len;
        while (i < n)
            kd_url_put_enc(&o, s[i++], KD_SET_FRAGMENT);
        u->fragment.len = o.len - u->fragment.off;
    }
    if (o.over) {
        *why = "too long";
        return KD_ETOOLARGE;
    }
    u->href[o.len] = '\0';
    return KD_OK;
}

enum kd_err kd_url_parse(const char *in, struct kd_url *out, const char **why)
{
    unsigned char pre[KD_URL_MAX];
    const char *dummy;
    size_t n, start, end, m = 0;
    enum kd_err rc;

    if (why == NULL)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    out->port = out->effective_port = -1;
    n = strnlen(in, KD_URL_MAX);
    if (n >= KD_URL_MAX) {
        *why = "too long";
        return KD_EINVAL;
    }
    if (!kd_url_utf8_valid((const unsigned char *)in, n)) {
        *why = "not valid UTF-8";
        return KD_EINVAL;
    }
    /* strip leading and trailing C0 controls and spaces, then every tab and newline */
    start = 0;
    end = n;
    while (start < end && (unsigned char)in[start] <= 0x20)
        start++;
    while (end > start && (unsigned char)in[end - 1] <= 0x20)
        end--;
    for (size_t i = start; i < end; i++) {
        if (in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
            pre[m++] = (unsigned char)in[i];
    }
    rc = kd_url_parse_pre(pre, m, out, why);
    if (rc != KD_OK) {
        out->href[0] = '\0';
        return KD_EINVAL;
    }
    return KD_OK;
}

enum kd_err kd_url_normalize(const char *in, char *out, size_t outlen, const char **why)
{
    struct kd_url u;
    const char *dummy;
    size_t len;
    enum kd_err rc;

    if (why == NULL)
        why = &dummy;
    if (outlen > 0)
        out[0] = '\0';
    rc = kd_url_parse(in, &u, why);
    if (rc != KD_OK)
        return rc;
    len = strlen(u.href);
    if (len + 1 > outlen) {
        *why = "too long";
        return KD_ETOOLARGE;
    }
    memcpy(out, u.href, len + 1);
    return KD_OK;
}
