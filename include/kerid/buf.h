/*
 * A growable byte buffer with a hard upper bound. Appends past the bound fail
 * with KD_ETOOLARGE before anything is allocated, so no input can make kerid
 * allocate without limit.
 */
#ifndef KERID_BUF_H
#define KERID_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "kerid/err.h"

struct kd_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard bound on len; 0 means SIZE_MAX / 2 */
};

void kd_buf_init(struct kd_buf *b, size_t max);
void kd_buf_free(struct kd_buf *b);
/* Empties the buffer, keeping its storage. */
void kd_buf_reset(struct kd_buf *b);
enum kd_err kd_buf_reserve(struct kd_buf *b, size_t extra);
enum kd_err kd_buf_append(struct kd_buf *b, const void *p, size_t n);
enum kd_err kd_buf_append_str(struct kd_buf *b, const char *s);
enum kd_err kd_buf_printf(struct kd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as the body of a JSON string (no quotes), escaped as serde_json does:
 * '"' and '\\' escaped, \b \f \n \r \t, other controls as \u00XX, '/' and
 * non-ASCII bytes unchanged. */
enum kd_err kd_buf_append_json_escaped(struct kd_buf *b, const char *s, size_t n);
/* Drops the first n bytes (n <= len). */
void kd_buf_consume(struct kd_buf *b, size_t n);

#endif
