/*
 * Key state from the stored KEL alone: every stored event of an identifier
 * was accepted against the state of its moment, in first-seen order, so
 * replaying the state transitions in that order (without signatures, which
 * were checked when the events arrived) gives the state the engine has.
 * Superseding recoveries replay as they happened: a recovery's sn is below
 * the state's, and the state moves back to it.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "kel_eng.h"

struct kd_kel_replay {
    struct kd_event *ev;
    struct kd_kel_sb *sb;
    struct kd_kel_state *st;
    const char *prefix;
    enum kd_err err;
};

static enum kd_err kd_kel_replay_cb(const struct kd_store_event *e, void *arg)
{
    struct kd_kel_replay *r = arg;
    struct kd_kel_state *next = NULL;
    enum kd_kel_fault fault;
    bool incept;
    enum kd_err err;

    if (kd_event_parse(r->ev, e->raw, e->raw_len, NULL) != KD_OK)
        return KD_ESTORE;
    incept = r->ev->ilk == KD_ILK_ICP || r->ev->ilk == KD_ILK_DIP;
    /* the stored row must be the event it says */
    if (r->ev->sn != e->sn || !kd_kel_span_is(r->ev, r->ev->d, e->said) ||
        !kd_kel_span_is(r->ev, r->ev->i, r->prefix) || (incept != (r->st == NULL)) ||
        (r->ev->ilk != KD_ILK_ICP && r->ev->ilk != KD_ILK_DIP && r->ev->ilk != KD_ILK_ROT &&
         r->ev->ilk != KD_ILK_DRT && r->ev->ilk != KD_ILK_IXN))
        return KD_ESTORE;
    kd_kel_sb_event(r->sb, r->st, r->ev, &fault);
    if (fault != KD_KEL_F_NONE)
        return KD_ESTORE;
    r->sb->hdr.fn = e->fn;
    r->sb->hdr.dt_us = e->first_seen_us;
    err = kd_kel_sb_finish(r->sb, &next);
    if (err != KD_OK)
        return err == KD_ENOMEM ? err : KD_ESTORE;
    kd_kel_state_free(r->st);
    r->st = next;
    return KD_OK;
}

enum kd_err kd_kel_rebuild_state(struct kd_store_rd *rd, const char *prefix,
                                 struct kd_kel_state **out)
{
    struct kd_kel_replay r;
    enum kd_err err;

    if (rd == NULL || prefix == NULL || out == NULL)
        return KD_EINVAL;
    *out = NULL;
    memset(&r, 0, sizeof r);
    r.prefix = prefix;
    r.ev = malloc(sizeof *r.ev);
    r.sb = malloc(sizeof *r.sb);
    if (r.ev == NULL || r.sb == NULL) {
        err = KD_ENOMEM;
        goto out;
    }
    err = kd_store_kel_each(rd, prefix, 0, 0, kd_kel_replay_cb, &r);
    if (err == KD_OK && r.st == NULL)
        err = KD_ENOTFOUND;
    if (err == KD_OK) {
        *out = r.st;
        r.st = NULL;
    }
out:
    kd_kel_state_free(r.st);
    free(r.ev);
    free(r.sb);
    return err;
}
