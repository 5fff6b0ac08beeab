/* Private interface between the cesr/ stream sources (attach.c, stream.c). */
#ifndef KERID_CESR_STREAM_INT_H
#define KERID_CESR_STREAM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kerid/cesr_stream.h"

/* Outcome of parsing a message or its attachments from what is buffered. */
enum kd_cesr_pr { KD_CESR_PR_OK, KD_CESR_PR_MORE, KD_CESR_PR_ERR };

/*
 * What the parser sees: avail bytes from base, of which base[0] sits at
 * absolute offset abs. final: no byte will follow. On KD_CESR_PR_MORE the
 * parser leaves in need (relative to base) a lower bound of the bytes it
 * needs before a retry can get further; on KD_CESR_PR_ERR it fills *err.
 */
struct kd_cesr_pctx {
    const char *base;
    size_t abs;
    size_t avail;
    bool final;
    const struct kd_cesr_limits *lim; /* normalised: no zero fields */
    struct kd_cesr_error *err;
    size_t need;
};

/* Copies lim (or nothing) into out with every default filled in. */
void kd_cesr_limits_normalise_(const struct kd_cesr_limits *lim, struct kd_cesr_limits *out);

/* Records an error at base offset pos; returns KD_CESR_PR_ERR. */
enum kd_cesr_pr kd_cesr_fail_(struct kd_cesr_pctx *ctx, enum kd_err code, size_t pos,
                              const char *reason);

/*
 * Parses the attachment groups that start at base offset start, up to the
 * next message start (or, if standalone, to the end: every byte must be a
 * group) or the end of input. *end receives the offset after the last group.
 */
enum kd_cesr_pr kd_cesr_parse_attachments_(struct kd_cesr_pctx *ctx, size_t start, bool standalone,
                                           struct kd_cesr_attachments *att, size_t *end);

#endif
