/*
 * wlist — an open document's working chunk list, held a few segments at a
 * time.
 *
 * The list is a table of segments (store/version.h): each knows its chunk
 * count, byte length, first index and offset.  A segment stored in
 * "lists" is read when used and let go of when WL_RESIDENT others were
 * used since; one not stored (a list kept in its version's record, a
 * segment a spill changed, the open end of a list being written) stays
 * held until it is stored: a spill stores those used longest ago beyond
 * WL_UNSTORED waiting, the close all of them.  So an open document of
 * any size holds its segment table (52 bytes per segment of a few
 * thousand chunks) and a few dozen segments at most, not its whole list.
 *
 * A segment's chunks are held in a wl_buf that callers hold a reference
 * to while they use it (wl_hold / wl_release), so that one thread letting
 * go of a segment never frees what another is reading.  The table itself
 * changes only by wl_adopt and wl_splice, whose callers make sure nobody
 * reads it meanwhile (doc.c: d->mu held and no spill in flight).
 *
 * A wl_build gathers a new list's tail (doc.c's rechunk): chunks pushed
 * are cut into segments as the store cuts them, each kept held, not
 * stored (a segment a spill changes is often changed by the next one).
 * Where the new list is at a segment's start and an old segment from
 * there on is unchanged, the old segment is taken over as it is.
 */
#ifndef CASEFS_WLIST_H
#define CASEFS_WLIST_H

#include <pthread.h>
#include <stdint.h>

#include "store/store.h"
#include "store/version.h"

/* Stored segments held at most, besides those in use. */
#define WL_RESIDENT 16
/* Segments not stored yet (changed by spills) kept so at most, besides
 * those the last spill made: a spill stores the rest, those used longest
 * ago, before it cuts (a segment changed again soon is never stored). */
#define WL_UNSTORED 16

struct wl_buf {
    uint32_t refs; /* guarded by the list's mu */
    uint32_t n, cap;
    struct version_chunk *c;
    uint64_t *off; /* off[i]: offset of c[i] from the segment's start; off[n]: its length */
};

struct wl_seg {
    struct version_seg g; /* g.id valid when named */
    uint32_t first;       /* index of its first chunk in the list */
    uint64_t start;       /* offset of its first byte */
    uint8_t stored;       /* in "lists": can be read again */
    uint8_t named;
    uint8_t storing;      /* wl_store_some's mark while it runs */
    struct wl_buf *buf;   /* held, or NULL (only when stored) */
    uint64_t used;
};

struct wlist {
    pthread_mutex_t mu; /* the bufs held, their refs, the clock */
    struct wl_seg *seg;
    uint32_t nseg, cap;
    uint32_t n;     /* chunks */
    uint64_t bytes; /* their lengths' sum */
    uint32_t nheld; /* stored segments held */
    uint64_t clock;
};

void wl_init(struct wlist *l);
void wl_free(struct wlist *l);

/* Makes v's list the list (v keeps its own; a list in the record is cut
 * into segments held).  0 or -ENOMEM (the list as it was). */
int wl_adopt(struct store *s, struct wlist *l, const struct version *v);

/* The segment holding offset off (< l->bytes), or chunk index i (< l->n). */
uint32_t wl_seg_at(const struct wlist *l, uint64_t off);
uint32_t wl_seg_of(const struct wlist *l, uint32_t i);

/* Segment k's chunks, read in txn (or a read transaction of its own when
 * NULL) unless held, with a reference for the caller.  0, -EIO, -ENOMEM. */
int wl_hold(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t k, struct wl_buf **out);
void wl_release(struct wlist *l, struct wl_buf *b);

/* The list's digest (version_digest of the same chunks). */
void wl_digest(struct store *s, struct wlist *l, uint8_t out[VERSION_DIGEST]);

struct wl_build {
    struct wl_seg *seg; /* closed segments (stored, not held), then taken ones */
    uint32_t nseg, cap;
    struct wl_buf *open; /* the open end, or NULL */
    uint8_t open_id[CHUNK_ID_BYTES]; /* its name, once named */
    int open_named;
    uint32_t n;
    uint64_t bytes;
};

void wl_build_free(struct wlist *l, struct wl_build *b);
/* Appends a chunk; a segment it closes is kept held, not stored (txn
 * unused).  0 or -ENOMEM. */
int wl_build_push(struct store *s, MDB_txn *txn, struct wl_build *b,
                  const uint8_t id[CHUNK_ID_BYTES], uint32_t len);
/* Stores in txn the segments of l not stored (but the last, its open
 * end, and those ch says are about to change) beyond the keep used
 * last, and gives their ids (*ids, malloc'd)
 * for wl_mark_ids once txn is committed.  0, -ENOMEM or errors of
 * version_seg_put (then nothing is to be marked). */
struct wl_changing {
    /* whether the segment at [start, start + bytes) is about to change */
    int (*fn)(void *arg, uint64_t start, uint64_t bytes);
    void *arg;
};
int wl_store_some(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t keep,
                  const struct wl_changing *ch, uint8_t (**ids)[CHUNK_ID_BYTES],
                  uint32_t *nids);
/* The segments of l named ids[0..n) are stored (their transaction was
 * committed): they can be let go of. */
void wl_mark_ids(struct wlist *l, const uint8_t (*ids)[CHUNK_ID_BYTES], uint32_t n);
/* Whether the builder is at a segment's start (nothing open). */
int wl_build_at_start(const struct wl_build *b);
/* Takes over l's segments [k, end) as they are (at a segment's start). */
int wl_build_take(struct wlist *l, struct wl_build *b, uint32_t k, uint32_t end);

/* The digest the list would have as l's first `kept` segments then b. */
void wl_digest_spliced(struct store *s, struct wlist *l, uint32_t kept,
                       struct wl_build *b, uint8_t out[VERSION_DIGEST]);
/* Makes the list l's first `kept` segments then b's (b is emptied).
 * 0, or -ENOMEM with nothing changed. */
int wl_splice(struct wlist *l, uint32_t kept, struct wl_build *b);

/* Fills v's list (v->chunks or v->segs, v->nchunks) for version_put from
 * l's first `kept` segments then b's: a list never cut (one segment not
 * stored) is kept in the record; otherwise its segments are named, the
 * ones not stored yet stored in txn.  0, -EFBIG,
 * -ENOMEM or errors of version_seg_put / wl_hold. */
int wl_to_version(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t kept,
                  struct wl_build *b, struct version *v);
/* After the commit of a version that wl_to_version filled with segments
 * (v->nsegs > 0) and wl_splice: every segment of the list is stored. */
void wl_mark_stored(struct wlist *l);

#endif
