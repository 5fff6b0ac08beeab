/*
 * kerid error values: one table, one truth.
 *
 * Every fallible function returns enum kd_err: KD_OK (0) or a failure. The table
 * gives each error its HTTP status and the stable name used in JSON error bodies
 * ({"error": "<name>", "message": "..."}), so that a handler never picks a
 * status or a name by hand.
 */
#ifndef KERID_ERR_H
#define KERID_ERR_H

/*  X(enum,              status, name,                  default message) */
#define KD_ERRORS(X)                                                                              \
    X(KD_OK,             200, "ok",                    "ok")                                      \
    X(KD_ENOMEM,         500, "out_of_memory",         "out of memory")                           \
    X(KD_EINTERNAL,      500, "internal",              "internal error")                          \
    X(KD_ESTORE,         500, "storage_failure",       "storage failure")                         \
    X(KD_EIO,            500, "io_error",              "input/output error")                      \
    X(KD_EINVAL,         400, "invalid_argument",      "invalid argument")                        \
    X(KD_EBADREQUEST,    400, "bad_request",           "malformed HTTP request")                  \
    X(KD_EBADJSON,       400, "bad_json",              "malformed JSON")                          \
    X(KD_EBADCESR,       400, "bad_cesr",              "malformed CESR stream")                   \
    X(KD_EBADUTF8,       400, "bad_utf8",              "body is not valid UTF-8")                 \
    X(KD_EBADSIG,        403, "bad_signature",         "signature does not verify")               \
    X(KD_ENOTFOUND,      404, "not_found",             "no such resource")                        \
    X(KD_EMETHOD,        405, "method_not_allowed",    "method not allowed on this path")         \
    X(KD_ETIMEOUT,       408, "request_timeout",       "request not received in time")            \
    X(KD_ELENGTH,        411, "length_required",       "request body length required")            \
    X(KD_ETOOLARGE,      413, "payload_too_large",     "request body too large")                  \
    X(KD_EURITOOLONG,    414, "uri_too_long",          "request target too long")                 \
    X(KD_EMEDIATYPE,     415, "unsupported_media",     "unsupported content type or encoding")    \
    X(KD_EHEADERS,       431, "headers_too_large",     "request headers too large")               \
    X(KD_ENOTIMPL,       501, "not_implemented",       "not implemented")                         \
    X(KD_EUNAVAIL,       503, "unavailable",           "server busy or shutting down")            \
    X(KD_ECONFIG,        500, "config",                "invalid configuration")                   \
    X(KD_EEXIST,         409, "exists",                "already exists")

enum kd_err {
#define KD_ERR_ENUM_(e, status, name, msg) e,
    KD_ERRORS(KD_ERR_ENUM_)
#undef KD_ERR_ENUM_
    KD_ERR_COUNT_
};

/* Stable machine name ("payload_too_large"); never NULL. */
const char *kd_err_name(enum kd_err err);
/* HTTP status for the error (200 for KD_OK); 500 for out-of-range values. */
int kd_err_status(enum kd_err err);
/* Default human message; never NULL. */
const char *kd_err_message(enum kd_err err);

#endif
