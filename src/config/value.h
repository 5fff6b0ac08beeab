/*
 * Untyped configuration values, as figment sees them before they are given a
 * type: a YAML document and a figment-syntax environment value both become a
 * tree of these, so that one table of typed setters (config.c) serves the
 * file, the environment and the flags. Private to src/config.
 */
#ifndef KERID_CONFIG_VALUE_H
#define KERID_CONFIG_VALUE_H

#include <stddef.h>

#include "kerid/err.h"

/* Bounds on one tree: deeper, larger or longer input is refused. */
#define KD_CV_MAX_DEPTH   16
#define KD_CV_MAX_NODES   10000
#define KD_CV_MAX_ENTRIES 1024 /* items of one list, keys of one mapping */

enum kd_cv_kind {
    KD_CV_NULL,   /* YAML null / empty value, or an empty environment value */
    KD_CV_SCALAR, /* any single value, kept as its text: strings, numbers, booleans */
    KD_CV_LIST,
    KD_CV_MAP,
};

struct kd_cv {
    enum kd_cv_kind kind;
    char *str;           /* SCALAR: NUL-terminated text (contains no NUL) */
    size_t line;         /* 1-based line in the YAML file; 0 when not from a file */
    size_t n;            /* LIST items / MAP entries */
    struct kd_cv *items; /* LIST items, MAP values */
    char **keys;         /* MAP keys, parallel to items */
};

/* Frees what v holds (not v itself) and leaves it KD_CV_NULL. */
void kd_cv_free(struct kd_cv *v);

/*
 * Parses the YAML text data[0..len) (one document) into *out. An empty
 * document gives KD_CV_NULL. name labels error messages ("./witness.yml").
 * Returns KD_OK; KD_ECONFIG with one line in err for invalid YAML (with the
 * line and column), a mapping key that is not a single value, a duplicate key,
 * a NUL byte in a value, more than one document or the bounds above;
 * KD_ENOMEM. *out is KD_CV_NULL on failure.
 */
enum kd_err kd_cv_from_yaml(const char *data, size_t len, const char *name, struct kd_cv *out,
                            char *err, size_t errlen);

/*
 * Parses an environment value as figment's `Value::from_str` does: the text is
 * trimmed; "" is null; `"..."` (with \" \\ \b \f \n \r \t \uXXXX \UXXXXXXXX
 * escapes) is a string; `'c'` a one-character string; `[a, b]` a list and
 * `{k=v, "k2"=v}` a mapping (nested freely); anything else, or any text that
 * does not parse to its end, is one scalar: the whole trimmed text.
 * Returns KD_OK or KD_ENOMEM.
 */
enum kd_err kd_cv_from_figment(const char *text, struct kd_cv *out);

/* Human name of a kind for messages: "a single value", "a list", ... */
const char *kd_cv_kind_name(enum kd_cv_kind kind);

#endif
