/*
 * Absolute URLs, parsed and serialised as the WHATWG URL Standard does — the
 * form in which the Rust `url` crate (2.5.x, what keriox 0.17.13 is built with)
 * prints them. keriox clients re-parse the `url` of every signed location
 * reply, so kerid must sign exactly that form (spec/keriox-surface.md 3.1).
 *
 * Scope: URLs with an authority ("scheme://host..."), special schemes (http,
 * https, ws, wss, ftp) and non-special ones (tcp, ...). Not supported, and
 * refused with a reason: file: URLs, URLs without a host ("mailto:x",
 * "tcp:/x"), and host names that are not ASCII after percent-decoding (their
 * IDNA/punycode mapping is not implemented; the "xn--" form is accepted).
 * One deliberate choice where url 2.5.8 and the current standard differ:
 * '^' in a path is kept as is (url 2.5.8 does not percent-encode it).
 */
#ifndef KERID_URL_H
#define KERID_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "kerid/err.h"

/* Longest URL kerid handles, input or normalised, terminating NUL included. */
#define KD_URL_MAX 4096

/* A piece of kd_url.href: href + off, len bytes (not NUL-terminated). */
struct kd_url_span {
    size_t off;
    size_t len;
};

enum kd_url_host_type {
    KD_URL_HOST_DOMAIN, /* lower-cased ASCII domain, "example.com" */
    KD_URL_HOST_IPV4,   /* dotted quad, re-serialised ("0x7f.1" -> "127.0.0.1") */
    KD_URL_HOST_IPV6,   /* "[::1]" in href; hostname span is without brackets */
    KD_URL_HOST_OPAQUE, /* host of a non-special scheme, kept as written (encoded) */
};

struct kd_url {
    char href[KD_URL_MAX];       /* the normalised URL, NUL-terminated */
    struct kd_url_span scheme;   /* "http" (lower case) */
    struct kd_url_span username; /* may be empty */
    struct kd_url_span password; /* may be empty */
    struct kd_url_span host;     /* as serialised: "[::1]", "example.com" */
    struct kd_url_span hostname; /* host without IPv6 brackets, for name resolution */
    struct kd_url_span path;     /* "/a/b"; empty only for a non-special URL without path */
    struct kd_url_span query;    /* after '?', when has_query */
    struct kd_url_span fragment; /* after '#', when has_fragment */
    bool has_query;
    bool has_fragment;
    bool special; /* http, https, ws, wss or ftp */
    enum kd_url_host_type host_type;
    int port;           /* explicit port, -1 when absent or the scheme's default */
    int effective_port; /* port, else the scheme's default (80, 443, 21), else -1 */
};

/* Reasons kd_url_parse gives in *why. The pointer of the first one is stable so
 * that a caller can tell "this is not an absolute URL at all" apart. */
extern const char kd_url_why_relative[]; /* "no scheme: not an absolute URL" */

/*
 * Parses the absolute URL in (a NUL-terminated string, at most KD_URL_MAX - 1
 * bytes) into *out, normalised per WHATWG: leading/trailing C0 controls and
 * spaces dropped, tabs and newlines removed, scheme and domain lower-cased,
 * IPv4/IPv6 hosts re-serialised, the scheme's default port dropped, dot
 * segments resolved, characters of the percent-encode sets encoded (upper-case
 * hex; existing %XX kept), an empty special path made "/".
 * Returns KD_OK, or KD_EINVAL with *why (when why is not NULL) set to a static
 * phrase saying what is wrong ("invalid port", kd_url_why_relative, ...).
 */
enum kd_err kd_url_parse(const char *in, struct kd_url *out, const char **why);

/*
 * As kd_url_parse, but only writes the normalised URL to out (outlen bytes,
 * NUL included). KD_ETOOLARGE when it does not fit (out is then "").
 */
enum kd_err kd_url_normalize(const char *in, char *out, size_t outlen, const char **why);

#endif
