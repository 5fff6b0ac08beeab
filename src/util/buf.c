/* Bounded growable buffers. */
#include "kerid/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KD_BUF_DEFAULT_MAX (SIZE_MAX / 2)

void kd_buf_init(struct kd_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : KD_BUF_DEFAULT_MAX;
}

void kd_buf_free(struct kd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void kd_buf_reset(struct kd_buf *b)
{
    b->len = 0;
}

enum kd_err kd_buf_reserve(struct kd_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : KD_BUF_DEFAULT_MAX;
    size_t need, cap;
    uint8_t *p;

    if (extra > max || b->len > max - extra)
        return KD_ETOOLARGE;
    need = b->len + extra;
    if (need <= b->cap)
        return KD_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > max / 2 ? max : cap * 2;
    /* One spare byte so callers may NUL-terminate without another growth. */
    p = realloc(b->data, cap + 1);
    if (p == NULL)
        return KD_ENOMEM;
    b->data = p;
    b->cap = cap;
    return KD_OK;
}

enum kd_err kd_buf_append(struct kd_buf *b, const void *p, size_t n)
{
    enum kd_err err;

    if (n == 0)
        return KD_OK;
    err = kd_buf_reserve(b, n);
    if (err != KD_OK)
        return err;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return KD_OK;
}

enum kd_err kd_buf_append_str(struct kd_buf *b, const char *s)
{
    return kd_buf_append(b, s, strlen(s));
}

enum kd_err kd_buf_printf(struct kd_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    enum kd_err err;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KD_EINVAL;
    if (n == 0)
        return KD_OK;
    err = kd_buf_reserve(b, (size_t)n); /* the spare byte kd_buf_reserve keeps holds the NUL */
    if (err != KD_OK)
        return err;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KD_OK;
}

enum kd_err kd_buf_append_json_escaped(struct kd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    enum kd_err err;

    if (n == 0)
        return KD_OK; /* s may be NULL then */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((err = kd_buf_append(b, s + start, i - start)) != KD_OK)
            return err;
        if ((err = kd_buf_append(b, esc, elen)) != KD_OK)
            return err;
        start = i + 1;
    }
    return kd_buf_append(b, s + start, n - start);
}

void kd_buf_consume(struct kd_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
