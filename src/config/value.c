/*
 * Untyped value trees from YAML (libyaml's document loader, the parser libcyaml
 * is built on) and from figment's environment-value syntax
 * (figment src/value/parse.rs and escape.rs, re-implemented).
 */
#include "value.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

void kd_cv_free(struct kd_cv *v)
{
    if (v == NULL)
        return;
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items != NULL)
            kd_cv_free(&v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof(*v));
}

const char *kd_cv_kind_name(enum kd_cv_kind kind)
{
    switch (kind) {
    case KD_CV_NULL:
        return "nothing";
    case KD_CV_SCALAR:
        return "a single value";
    case KD_CV_LIST:
        return "a list";
    case KD_CV_MAP:
        return "a mapping";
    }
    return "?";
}

static char *kd_cv_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Allocates room for n entries (n <= KD_CV_MAX_ENTRIES, checked by callers). */
static enum kd_err kd_cv_alloc(struct kd_cv *v, enum kd_cv_kind kind, size_t n)
{
    v->kind = kind;
    v->n = 0;
    if (n == 0)
        return KD_OK;
    v->items = calloc(n, sizeof(v->items[0]));
    if (v->items == NULL)
        return KD_ENOMEM;
    if (kind == KD_CV_MAP) {
        v->keys = calloc(n, sizeof(v->keys[0]));
        if (v->keys == NULL)
            return KD_ENOMEM;
    }
    return KD_OK;
}

/* ---- YAML ---- */

struct kd_yaml_ctx {
    yaml_document_t *doc;
    const char *name;
    size_t budget;
    char *err;
    size_t errlen;
};

static bool kd_yaml_is_null(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (node->tag != NULL && strcmp((const char *)node->tag, YAML_NULL_TAG) == 0)
        return true;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (node->data.scalar.length == strlen(nulls[i]) && strcmp(v, nulls[i]) == 0)
            return true;
    }
    return false;
}

static enum kd_err kd_yaml_fail(struct kd_yaml_ctx *c, const yaml_node_t *node, const char *what)
{
    snprintf(c->err, c->errlen, "%s:%zu: %s", c->name, node->start_mark.line + 1, what);
    return KD_ECONFIG;
}

static enum kd_err kd_yaml_node(struct kd_yaml_ctx *c, yaml_node_t *node, struct kd_cv *out,
                                unsigned depth)
{
    enum kd_err rc;
    size_t n;

    out->line = node->start_mark.line + 1;
    if (depth > KD_CV_MAX_DEPTH)
        return kd_yaml_fail(c, node, "values nested too deeply");
    if (c->budget == 0) {
        snprintf(c->err, c->errlen, "%s: more than %d values", c->name, KD_CV_MAX_NODES);
        return KD_ECONFIG;
    }
    c->budget--;
    switch (node->type) {
    case YAML_SCALAR_NODE:
        if (kd_yaml_is_null(node)) {
            out->kind = KD_CV_NULL;
            return KD_OK;
        }
        if (memchr(node->data.scalar.value, '\0', node->data.scalar.length) != NULL)
            return kd_yaml_fail(c, node, "a value contains a NUL character");
        out->kind = KD_CV_SCALAR;
        out->str = kd_cv_strndup((const char *)node->data.scalar.value, node->data.scalar.length);
        return out->str == NULL ? KD_ENOMEM : KD_OK;
    case YAML_SEQUENCE_NODE:
        n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        if (n > KD_CV_MAX_ENTRIES)
            return kd_yaml_fail(c, node, "a list has more than 1024 items");
        if ((rc = kd_cv_alloc(out, KD_CV_LIST, n)) != KD_OK)
            return rc;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *item = yaml_document_get_node(c->doc, node->data.sequence.items.start[i]);

            if (item == NULL)
                return kd_yaml_fail(c, node, "broken YAML document");
            out->n++;
            if ((rc = kd_yaml_node(c, item, &out->items[i], depth + 1)) != KD_OK)
                return rc;
        }
        return KD_OK;
    case YAML_MAPPING_NODE:
        n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
        if (n > KD_CV_MAX_ENTRIES)
            return kd_yaml_fail(c, node, "a mapping has more than 1024 keys");
        if ((rc = kd_cv_alloc(out, KD_CV_MAP, n)) != KD_OK)
            return rc;
        for (size_t i = 0; i < n; i++) {
            const yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
            yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);

            if (k == NULL || v == NULL)
                return kd_yaml_fail(c, node, "broken YAML document");
            if (k->type != YAML_SCALAR_NODE)
                return kd_yaml_fail(c, k, "a mapping key must be a single value");
            if (memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL)
                return kd_yaml_fail(c, k, "a key contains a NUL character");
            for (size_t j = 0; j < out->n; j++) {
                if (strcmp(out->keys[j], (const char *)k->data.scalar.value) == 0) {
                    char msg[160];

                    snprintf(msg, sizeof(msg), "duplicate key \"%.100s\"", out->keys[j]);
                    return kd_yaml_fail(c, k, msg);
                }
            }
            out->keys[i] = kd_cv_strndup((const char *)k->data.scalar.value, k->data.scalar.length);
            if (out->keys[i] == NULL)
                return KD_ENOMEM;
            out->n++;
            if ((rc = kd_yaml_node(c, v, &out->items[i], depth + 1)) != KD_OK)
                return rc;
        }
        return KD_OK;
    case YAML_NO_NODE:
        break;
    }
    return kd_yaml_fail(c, node, "broken YAML document");
}

static enum kd_err kd_yaml_parser_fail(const yaml_parser_t *p, const char *name, char *err,
                                       size_t errlen)
{
    if (p->error == YAML_MEMORY_ERROR)
        return KD_ENOMEM;
    if (p->context != NULL)
        snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s (%s)", name, p->problem_mark.line + 1,
                 p->problem_mark.column + 1, p->problem != NULL ? p->problem : "error", p->context);
    else
        snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s", name, p->problem_mark.line + 1,
                 p->problem_mark.column + 1, p->problem != NULL ? p->problem : "error");
    return KD_ECONFIG;
}

enum kd_err kd_cv_from_yaml(const char *data, size_t len, const char *name, struct kd_cv *out,
                            char *err, size_t errlen)
{
    struct kd_yaml_ctx c = {NULL, name, KD_CV_MAX_NODES, err, errlen};
    yaml_parser_t parser;
    yaml_document_t doc, next;
    bool have_doc = false;
    yaml_node_t *root;
    enum kd_err rc;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&parser))
        return KD_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = kd_yaml_parser_fail(&parser, name, err, errlen);
        goto out;
    }
    have_doc = true;
    root = yaml_document_get_root_node(&doc);
    if (root != NULL) {
        c.doc = &doc;
        rc = kd_yaml_node(&c, root, out, 0);
        if (rc != KD_OK)
            goto out;
        /* a second document is refused, as serde_yaml does */
        if (!yaml_parser_load(&parser, &next)) {
            rc = kd_yaml_parser_fail(&parser, name, err, errlen);
            goto out;
        }
        root = yaml_document_get_root_node(&next);
        if (root != NULL) {
            snprintf(err, errlen, "%s:%zu: more than one YAML document", name,
                     root->start_mark.line + 1);
            rc = KD_ECONFIG;
        }
        yaml_document_delete(&next);
        if (rc != KD_OK)
            goto out;
    }
    rc = KD_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != KD_OK)
        kd_cv_free(out);
    return rc;
}

/* ---- figment value syntax ---- */

struct kd_fig {
    const char *p; /* cursor */
    const char *end;
    size_t budget; /* nodes left */
    bool nomem;
};

static bool kd_fig_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void kd_fig_skip_ws(struct kd_fig *f)
{
    while (f->p < f->end && kd_fig_ws(*f->p))
        f->p++;
}

static bool kd_fig_peek(const struct kd_fig *f, char c)
{
    return f->p < f->end && *f->p == c;
}

static bool kd_fig_eat(struct kd_fig *f, char c)
{
    if (!kd_fig_peek(f, c))
        return false;
    f->p++;
    return true;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t kd_fig_u8len(unsigned char c)
{
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    if (c >= 0xe0)
        return c <= 0xef ? 3 : 1;
    if (c >= 0xc2)
        return 2;
    return 1;
}

static size_t kd_fig_put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* figment escape(): s[0..n) without the quotes; false on a bad escape or a
 * control character (a NUL, which C strings cannot hold, counts as one). */
static bool kd_fig_unescape(const char *s, size_t n, char **out)
{
    char *o = malloc(n + 1); /* unescaping never grows the text */
    size_t k = 0;

    if (o == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\\') {
            uint32_t cp = 0;
            size_t len;

            if (++i >= n)
                goto bad;
            switch (s[i]) {
            case '"':
                o[k++] = '"';
                break;
            case '\\':
                o[k++] = '\\';
                break;
            case 'b':
                o[k++] = '\b';
                break;
            case 'f':
                o[k++] = '\f';
                break;
            case 'n':
                o[k++] = '\n';
                break;
            case 'r':
                o[k++] = '\r';
                break;
            case 't':
                o[k++] = '\t';
                break;
            case 'u':
            case 'U':
                len = s[i] == 'u' ? 4 : 8;
                if (i + len >= n)
                    goto bad;
                for (size_t j = 1; j <= len; j++) {
                    char h = s[i + j];
                    int d = (h >= '0' && h <= '9')   ? h - '0'
                            : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                            : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                     : -1;
                    if (d < 0)
                        goto bad;
                    cp = cp * 16 + (uint32_t)d;
                }
                i += len;
                if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                    goto bad;
                /* \u escapes are 6+ bytes long, their UTF-8 at most 4: no overflow */
                k += kd_fig_put_utf8(o + k, cp);
                break;
            default:
                goto bad;
            }
        } else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
            o[k++] = (char)c;
        } else {
            goto bad;
        }
    }
    o[k] = '\0';
    *out = o;
    return true;
bad:
    free(o);
    *out = NULL;
    return false;
}

static bool kd_fig_value(struct kd_fig *f, struct kd_cv *out, unsigned depth);

/* quoted_str(): "..." with backslash escapes; the closing quote must be there. */
static bool kd_fig_quoted(struct kd_fig *f, char **out)
{
    const char *start;
    bool esc = false;

    if (!kd_fig_eat(f, '"'))
        return false;
    start = f->p;
    while (f->p < f->end) {
        if (esc)
            esc = false;
        else if (*f->p == '\\')
            esc = true;
        else if (*f->p == '"')
            break;
        f->p++;
    }
    if (!kd_fig_peek(f, '"'))
        return false;
    if (!kd_fig_unescape(start, (size_t)(f->p - start), out)) {
        return false;
    }
    f->p++;
    return true;
}

static bool kd_fig_scalar(struct kd_cv *out, const char *s, size_t n, struct kd_fig *f)
{
    out->kind = KD_CV_SCALAR;
    out->str = kd_cv_strndup(s, n);
    if (out->str == NULL)
        f->nomem = true;
    return out->str != NULL;
}

/* Grows a LIST or MAP by one entry (bounded by KD_CV_MAX_ENTRIES). */
static struct kd_cv *kd_fig_push(struct kd_fig *f, struct kd_cv *v, char *key)
{
    struct kd_cv *items;

    if (v->n >= KD_CV_MAX_ENTRIES)
        return NULL;
    items = realloc(v->items, (v->n + 1) * sizeof(*items));
    if (items == NULL)
        goto nomem;
    v->items = items;
    if (v->kind == KD_CV_MAP) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));

        if (keys == NULL)
            goto nomem;
        v->keys = keys;
        v->keys[v->n] = key;
    }
    memset(&v->items[v->n], 0, sizeof(v->items[0]));
    return &v->items[v->n++];
nomem:
    f->nomem = true;
    return NULL;
}

/* delimited(): start, values separated by commas (a trailing one allowed), end. */
static bool kd_fig_delimited(struct kd_fig *f, struct kd_cv *out, char open, char close,
                             unsigned depth)
{
    out->kind = open == '[' ? KD_CV_LIST : KD_CV_MAP;
    if (!kd_fig_eat(f, open))
        return false;
    kd_fig_skip_ws(f);
    while (!kd_fig_peek(f, close)) {
        char *key = NULL;
        struct kd_cv *slot;

        if (out->kind == KD_CV_MAP) {
            if (kd_fig_peek(f, '"')) {
                if (!kd_fig_quoted(f, &key))
                    return false;
            } else {
                const char *s = f->p;

                while (f->p < f->end &&
                       ((*f->p >= 'a' && *f->p <= 'z') || (*f->p >= 'A' && *f->p <= 'Z') ||
                        (*f->p >= '0' && *f->p <= '9') || *f->p == '_' || *f->p == '-'))
                    f->p++;
                key = kd_cv_strndup(s, (size_t)(f->p - s));
                if (key == NULL) {
                    f->nomem = true;
                    return false;
                }
            }
            kd_fig_skip_ws(f);
            if (!kd_fig_eat(f, '=')) {
                free(key);
                return false;
            }
            kd_fig_skip_ws(f);
        }
        slot = kd_fig_push(f, out, key);
        if (slot == NULL) {
            free(key);
            return false;
        }
        if (!kd_fig_value(f, slot, depth + 1))
            return false;
        kd_fig_skip_ws(f);
        if (!kd_fig_eat(f, ','))
            break;
        kd_fig_skip_ws(f);
    }
    return kd_fig_eat(f, close);
}

static bool kd_fig_value(struct kd_fig *f, struct kd_cv *out, unsigned depth)
{
    bool ok;

    if (depth > KD_CV_MAX_DEPTH || f->budget == 0)
        return false;
    f->budget--;
    kd_fig_skip_ws(f);
    if (f->p >= f->end) {
        out->kind = KD_CV_NULL;
        return true;
    }
    switch (*f->p) {
    case '"':
        out->kind = KD_CV_SCALAR;
        ok = kd_fig_quoted(f, &out->str);
        if (!ok)
            out->kind = KD_CV_NULL;
        break;
    case '\'': {
        /* quoted_char(): exactly one character between single quotes */
        size_t len;

        f->p++;
        len = f->p < f->end ? kd_fig_u8len((unsigned char)*f->p) : 0;
        ok = len > 0 && f->p + len < f->end && f->p[len] == '\'' && *f->p != '\0';
        if (ok) {
            ok = kd_fig_scalar(out, f->p, len, f);
            f->p += len + 1;
        }
        break;
    }
    case '[':
        ok = kd_fig_delimited(f, out, '[', ']', depth);
        break;
    case '{':
        ok = kd_fig_delimited(f, out, '{', '}', depth);
        break;
    default: {
        const char *s = f->p, *e;

        while (f->p < f->end && strchr(",{}[]", *f->p) == NULL)
            f->p++;
        e = f->p;
        while (s < e && kd_fig_ws(*s))
            s++;
        while (e > s && kd_fig_ws(e[-1]))
            e--;
        ok = kd_fig_scalar(out, s, (size_t)(e - s), f);
        break;
    }
    }
    kd_fig_skip_ws(f);
    return ok;
}

enum kd_err kd_cv_from_figment(const char *text, struct kd_cv *out)
{
    const char *s = text, *e = text + strlen(text);
    struct kd_fig f;

    memset(out, 0, sizeof(*out));
    while (s < e && kd_fig_ws(*s))
        s++;
    while (e > s && kd_fig_ws(e[-1]))
        e--;
    f = (struct kd_fig){s, e, KD_CV_MAX_NODES, false};
    if (kd_fig_value(&f, out, 0) && f.p == f.end)
        return KD_OK;
    kd_cv_free(out);
    if (f.nomem)
        return KD_ENOMEM;
    /* not parseable as a whole: the trimmed text is one string */
    out->kind = KD_CV_SCALAR;
    out->str = kd_cv_strndup(s, (size_t)(e - s));
    return out->str == NULL ? KD_ENOMEM : KD_OK;
}
