/*
 * Private to kel/: the validation engine's pieces shared by state.c (key
 * state values), sigs.c (attached signatures), kever.c (the rules against
 * one key state), kevery.c (the engine over the store) and ksn.c.
 */
#ifndef KERID_KEL_ENG_H
#define KERID_KEL_ENG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerid/crypto.h"
#include "kerid/kel.h"
#include "kerid/tholder.h"

/* Hard bounds behind struct kd_kel_limits. */
#define KD_KEL_SIGS_MAX      256u   /* signatures of one kind kept per message */
#define KD_KEL_THOLD_TEXT    16384u /* canonical JSON of one threshold */
#define KD_KEL_SIG_TEXT_MAX  92u    /* Ed25519 indexed signature qb64 (2A: 92) */
#define KD_KEL_WAKE_MAX      64u    /* identifiers queued for escrow release */
#define KD_KEL_CACHE_DEFAULT 4096u
#define KD_KEL_CACHE_MAX     (1u << 20) /* key states kept in memory at most */
#define KD_KEL_PAGE_MAX      4096u      /* escrow rows loaded at once */

/* ---- key state values (state.c) ---- */

/* A string to copy into a state: pointer and length (not NUL-terminated). */
struct kd_kel_strv {
    const char *p;
    uint32_t len;
};

enum { KD_KEL_L_KEYS, KD_KEL_L_NDIGS, KD_KEL_L_WITS, KD_KEL_L_CUTS, KD_KEL_L_ADDS, KD_KEL_L_N_ };

/*
 * A key state under construction: the scalar fields in hdr (its pointers
 * and refs unused), the strings as views into whatever they come from (an
 * event body, another state). kd_kel_sb_finish makes the one allocation.
 * About 21 KiB: allocate it, do not put it on a stack.
 */
struct kd_kel_sb {
    struct kd_kel_state hdr;
    struct kd_kel_strv kt, nt;
    uint16_t n[KD_KEL_L_N_];
    struct kd_kel_strv item[KD_KEL_L_N_][KD_EVENT_MAX_KEYS];
    char kt_text[KD_KEL_THOLD_TEXT];
    char nt_text[KD_KEL_THOLD_TEXT];
    /* when set: the keys decoded already, in the order of item[KEYS] */
    const uint8_t (*key_raw)[32];
    const bool *key_ok;
};

_Static_assert(KD_EVENT_MAX_KEYS == KD_EVENT_MAX_WITNESSES, "one list bound for keys and wits");

/* Makes the state described by sb (keys decoded for verification). */
enum kd_err kd_kel_sb_finish(const struct kd_kel_sb *sb, struct kd_kel_state **out);
/* A copy of st (one allocation, as every state). */
enum kd_err kd_kel_state_dup(const struct kd_kel_state *st, struct kd_kel_state **out);
/* Loads sb from an existing state (views into st: keep st alive). */
void kd_kel_sb_from_state(struct kd_kel_sb *sb, const struct kd_kel_state *st);
/* Sets sb's thresholds from parsed tholders (canonical JSON). */
enum kd_err kd_kel_sb_tholders(struct kd_kel_sb *sb, const struct kd_tholder *kt,
                               const struct kd_tholder *nt);
/* Sets list l of sb from a qb64 list of ev. */
void kd_kel_sb_list(struct kd_kel_sb *sb, unsigned l, const struct kd_event *ev,
                    const struct kd_qb64_list *q);
/* Copies the span s of ev (at most KD_KEL_ID_MAX chars) into dst, NUL-terminated. */
void kd_kel_copy_id(char dst[KD_KEL_ID_MAX + 1], const struct kd_event *ev, struct kd_span s);

/* Index of string (p, n) in list l of st, or -1. */
int kd_kel_state_find(const struct kd_kel_state *st, const struct kd_kel_ref *list, unsigned count,
                      const char *p, size_t n);

/*
 * Fills sb with the state after ev over prior (NULL for an inception);
 * hdr.fn and hdr.dt_us are left for the caller. For rot/drt it derives the
 * witness list (keripy deriveBacks): prior's witnesses minus br (order
 * kept) then ba appended; *fault is KD_KEL_F_WITNESSES (sb unusable) when a
 * cut is not a witness or an add already is one. ev must have passed
 * kd_event_check_establishment (no duplicates, br and ba disjoint).
 */
void kd_kel_sb_event(struct kd_kel_sb *sb, const struct kd_kel_state *prior,
                     const struct kd_event *ev, enum kd_kel_fault *fault);
/* Views of st's list (count n) into out. */
void kd_kel_strv_refs(const struct kd_kel_state *st, const struct kd_kel_ref *list, unsigned n,
                      struct kd_kel_strv *out);

/* Parses st's kt (which = 0) or nt (1) into th. */
enum kd_err kd_kel_state_tholder(const struct kd_kel_state *st, int which, struct kd_tholder *th);

/* ---- attached signatures (sigs.c) ---- */

/* An indexed signature (controller -A or witness -B), Ed25519 only. */
struct kd_kel_sig {
    uint32_t index;
    int32_t ondex; /* KD_CESR_ONDEX_NONE for current-only codes */
    bool verified;
    uint8_t len; /* of qb64 */
    unsigned char sig[64];
    char qb64[KD_KEL_SIG_TEXT_MAX + 1];
};

/* A non-transferable receipt couple (-C): Ed25519 `B` prefix + `0B` sig. */
struct kd_kel_couple {
    bool verified;
    int wit; /* index in the witness list, -1 if not a witness */
    unsigned char key[32];
    unsigned char sig[64];
    char prefix[KD_PREFIX_QB64_LEN + 1];
    char sig_qb64[KD_SIG_QB64_LEN + 1];
};

/* A transferable receipt (-D quadruple, or one signature of a -F group). */
struct kd_kel_tsig {
    bool verified;
    kd_sn_t sn;
    uint32_t index;
    unsigned char sig[64];
    char prefix[KD_KEL_ID_MAX + 1];
    char said[KD_KEL_ID_MAX + 1];
    char sig_qb64[KD_KEL_SIG_TEXT_MAX + 1];
};

/* Everything attached to one message that kel/ uses, deduplicated. */
struct kd_kel_sigset {
    unsigned nsigs, nwigs, ncouples, ntsigs;
    unsigned received_sigs; /* -A signatures received, including unusable ones */
    unsigned received_rcts; /* -B, -C, -F/-D items received */
    unsigned unusable;      /* dropped at collection: codes kerid cannot verify */
    bool has_seal;          /* a -G seal source couple (the last one) */
    kd_sn_t seal_sn;
    char seal_said[KD_KEL_ID_MAX + 1];
    struct kd_kel_sig sigs[KD_KEL_SIGS_MAX];
    struct kd_kel_sig wigs[KD_KEL_SIGS_MAX];
    struct kd_kel_couple couples[KD_KEL_SIGS_MAX];
    struct kd_kel_tsig tsigs[KD_KEL_SIGS_MAX];
};

void kd_kel_sigset_reset(struct kd_kel_sigset *s);
/* Adds what att holds (any -V frames included). KD_ETOOLARGE when a kind
 * exceeds max. KD_EBADCESR only for text the splitter would not pass. */
enum kd_err kd_kel_sigset_add_att(struct kd_kel_sigset *s, const struct kd_cesr_attachments *att,
                                  unsigned max);
/* Same for attachment text (a stored escrow row). */
enum kd_err kd_kel_sigset_add_text(struct kd_kel_sigset *s, const void *text, size_t len,
                                   unsigned max);
/* Writes the signatures to out as attachment groups (-A, -B, -C, -D, -G):
 * of the controller signatures only the verified ones when sigs_verified,
 * of the receipts (-B, -C, -D) only the verified ones when rcts_verified. */
enum kd_err kd_kel_sigset_text(const struct kd_kel_sigset *s, bool sigs_verified,
                               bool rcts_verified, struct kd_buf *out);
/* Clears every verified flag. */
void kd_kel_sigset_unverify(struct kd_kel_sigset *s);

/* Encodes an Ed25519 indexed signature (A + index, 2A from 64). */
enum kd_err kd_kel_siger_text(unsigned index, int32_t ondex, const unsigned char sig[64],
                              char out[KD_KEL_SIG_TEXT_MAX + 1]);

/* ---- the engine (kevery.c) ---- */

struct kd_kel_cache_ent {
    struct kd_kel_state *st; /* NULL: free slot */
    uint32_t hash;
    int32_t prev, next; /* LRU list, most recent first; -1 ends */
};

struct kd_kel_cache {
    unsigned cap;   /* entries in use at most */
    unsigned slots; /* hash table size, a power of two >= 2 * cap */
    unsigned used;
    unsigned tombs; /* table slots marked -2 */
    int32_t head, tail;
    int32_t *table; /* slot -> entry index or -1; -2 tombstone */
    struct kd_kel_cache_ent *ent;
    int32_t free_head; /* unused entries chained through next */
};

/* The verdict of one event against one key state (kever.c). */
struct kd_kel_eval {
    enum kd_kel_verdict verdict;
    enum kd_kel_fault fault;
    const char *why;
    enum kd_store_escrow_kind escrow;
    struct kd_event_diag diag;
    bool recovery; /* accepted as a superseding recovery */
    bool anchored; /* delegation anchor found: del_sn, del_said */
    kd_sn_t del_sn;
    char del_said[KD_KEL_ID_MAX + 1];
    char delegator[KD_KEL_ID_MAX + 1]; /* dip/drt: who must anchor it */
    int own_index;
    const char *own_prefix;
    unsigned nverified, nwigs;
    struct kd_kel_state *next; /* ACCEPTED: the new state (owned by the caller) */
};

struct kd_kel {
    struct kd_kel_opts opts;
    char **own; /* copies of opts.own_prefixes */
    unsigned max_sigs;
    uint64_t timeout_us[KD_STORE_ESCROW_KIND_COUNT_];

    struct kd_kel_cache cache;
    uint64_t epoch;
    bool epoch_known;
    bool counts_known;
    uint64_t count[KD_STORE_ESCROW_KIND_COUNT_]; /* escrow rows per kind */
    int64_t sweep_after[KD_STORE_ESCROW_KIND_COUNT_];
    unsigned sweep_kind;

    /* scratch, reused message after message */
    struct kd_event *ev;  /* the message being processed */
    struct kd_event *aux; /* a stored event looked at meanwhile */
    struct kd_kel_sigset *sigs;
    struct kd_kel_sb *sb;
    struct kd_tholder th;
    bool verified[KD_EVENT_MAX_KEYS];
    bool overified[KD_EVENT_MAX_KEYS];
    uint8_t key_raw[KD_EVENT_MAX_KEYS][32]; /* an establishment event's own keys */
    bool key_ok[KD_EVENT_MAX_KEYS];
    struct kd_buf buf;  /* store reads */
    struct kd_buf tbuf; /* a receipted event's bytes */
    struct kd_buf att;  /* attachment text being written */
    struct kd_buf blob; /* state encodings */

    /* escrow release */
    unsigned nwake;
    char wake[KD_KEL_WAKE_MAX][KD_KEL_ID_MAX + 1];
    unsigned released; /* in the current kd_kel_process call */
    unsigned release_budget;

    struct kd_kel_stats stats;
};

/* ---- the rules (kever.c) ---- */

/* Where an event is being validated from. */
struct kd_kel_vctx {
    struct kd_kel *k;
    struct kd_store_rd *rd; /* NULL: pure validation, no store lookups */
    const struct kd_event *ev;
    const struct kd_kel_state *st; /* current state, NULL if unknown */
    struct kd_kel_sigset *sigs;
    int64_t now_us;
    uint64_t fn; /* first-seen ordinal the event would get */
};

/* The verdict for an inception or an in-order or superseding event whose
 * place against st was already decided by the caller (kevery.c). */
enum kd_err kd_kel_eval_event(struct kd_kel_vctx *c, struct kd_kel_eval *out);

/* Verifies the controller signatures of sigs over raw (size bytes) against
 * nkeys keys, marking them and verified[index]; returns how many distinct
 * indices verified. */
unsigned kd_kel_verify_sigs(struct kd_kel *k, const uint8_t *raw, size_t size,
                            struct kd_kel_sigset *sigs, const uint8_t (*key_raw)[32],
                            const bool *key_ok, unsigned nkeys, bool *verified);

/* Verifies the witness signatures and couples of sigs over ev against the
 * witness list wits, marking them (a couple by a listed witness gets its
 * index); returns the number of distinct witness indices that verified. */
unsigned kd_kel_verify_wigs(struct kd_kel *k, const uint8_t *raw, size_t size,
                            struct kd_kel_sigset *sigs, const struct kd_kel_strv *wits,
                            unsigned nwits);

/* Decodes the Ed25519 keys of ev's k list into raw / ok. */
void kd_kel_event_keys(const struct kd_event *ev, uint8_t (*raw)[32], bool *ok);

/* prefix's current key state through the cache (*out NULL if unknown). The
 * pointer stays valid until the cache is changed for another identifier or
 * the same one (kevery.c). */
enum kd_err kd_kel_state_get(struct kd_kel *k, struct kd_store_rd *rd, const char *prefix,
                             const struct kd_kel_state **out);

/* Sets an eval's verdict to REJECTED with fault f. */
void kd_kel_eval_reject(struct kd_kel_eval *e, enum kd_kel_fault f, const char *why);

/* True when the span s of ev equals the NUL-terminated string str. */
bool kd_kel_span_is(const struct kd_event *ev, struct kd_span s, const char *str);

#endif
