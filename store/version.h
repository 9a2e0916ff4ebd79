/*
 * version — the ordered history of a document.
 *
 * Database "versions" maps node id (8 bytes) || version number (4 bytes,
 * big-endian, from 1) to a sealed record: when and by whom the version was
 * committed, its size, file mode and mtime at commit, its state (live or
 * retracted) and the list of its content chunks (id and length each).
 * Versions are appended, never rewritten, except that an administrator's
 * decision may mark one retracted.  Big-endian keys keep a document's
 * versions adjacent and in order.
 *
 * A list is cut into segments where a chunk's id says so (version_seg_cut:
 * from the store's seg_min chunks on, about one chunk in seg_mask + 1 ends
 * a segment, and none has more than seg_max chunks or seg_bytes_max bytes
 * of content), so that the same chunks give the same segments wherever
 * they lie.  A list of one segment (a document
 * up to some tens of MiB) is kept in the record (record version 1); a
 * longer one is kept as segments in database "lists", each sealed on its
 * own under a keyed hash of its entries, and the record names them
 * (record version 2).  So a document of any size is opened, read and
 * saved holding a few segments at a time, and a save that changes a part
 * of a large document stores the segments around the change, not its
 * whole list again.
 */
#ifndef CASEFS_VERSION_H
#define CASEFS_VERSION_H

#include <stdint.h>

#include <sodium.h>

#include "store/chunk.h"
#include "store/store.h"

enum version_state { VERSION_LIVE = 0, VERSION_RETRACTED = 1 };

struct version_chunk {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t len;
};

/* A segment of a chunk list, as a record names it. */
struct version_seg {
    uint8_t id[CHUNK_ID_BYTES]; /* keyed hash of its entries (KEYS_LIST_ID) */
    uint32_t n;                 /* chunks */
    uint64_t bytes;             /* their lengths' sum */
};

struct version {
    uint64_t node;
    uint32_t number;
    uint8_t state;
    int64_t sec; /* commit time, UTC */
    uint32_t nsec;
    uint32_t uid;
    uint32_t pid;
    char *user;    /* malloc'd */
    char *process; /* malloc'd */
    uint64_t size;
    uint32_t mode;
    uint64_t from_node; /* content came from another node (rename), or 0 */
    uint32_t nchunks;
    /* The list: in the record (chunks, malloc'd; nsegs 0), or named by it
     * as segments (segs, malloc'd; chunks NULL). */
    struct version_chunk *chunks;
    uint32_t nsegs;
    struct version_seg *segs;
};

#define VERSION_DIGEST 32

/* 0, -ENOENT, -EIO (tampered).  Free with version_clear. */
int version_get(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
                struct version *out);
/* Writes v at (v->node, v->number): its list as v holds it (the segments
 * named must be in "lists" already).  0 or -ENOSPC/-EIO/-ENOMEM. */
int version_put(struct store *s, MDB_txn *txn, const struct version *v);
void version_clear(struct version *v);
/* True when a and b have the same content (the same chunk list, in
 * whichever form each holds it). */
int version_same_content(const struct store *s, const struct version *a,
                         const struct version *b);
/* A digest of v's chunk list that does not depend on its form: BLAKE2b-256
 * of its segments' (id, chunk count, bytes), the segments of a list kept
 * in the record cut as they would be stored.  Two lists are the same when
 * their digests are (ids are collision-resistant hashes). 0 or -ENOMEM. */
int version_digest(const struct store *s, const struct version *v,
                   uint8_t out[VERSION_DIGEST]);

/* Adds segment g to a version_digest being made (crypto_generichash,
 * VERSION_DIGEST bytes, no key). */
void version_digest_add(crypto_generichash_state *st, const struct version_seg *g);

/* Segments.  Whether a segment that holds count chunks of bytes bytes in
 * all, the last one id, ends with it. */
int version_seg_cut(const struct store *s, const uint8_t id[CHUNK_ID_BYTES], uint32_t count,
                    uint64_t bytes);
/* How many chunks the segment starting at c[0] of the list c[0..n) holds
 * (n > 0; the list's end ends a segment too), their content's bytes in
 * *bytes. */
uint32_t version_seg_len(const struct store *s, const struct version_chunk *c, uint32_t n,
                         uint64_t *bytes);
/* Names the segment c[0..n). */
void version_seg_name(const struct store *s, const struct version_chunk *c, uint32_t n,
                      uint8_t id[CHUNK_ID_BYTES]);
/* Stores the segment c[0..n) (named id) in "lists" unless there.
 * 0, -ENOSPC, -EIO, -ENOMEM. */
int version_seg_put(struct store *s, MDB_txn *txn, const struct version_chunk *c,
                    uint32_t n, const uint8_t id[CHUNK_ID_BYTES]);
/* Reads segment g into *out (malloc'd, g->n entries).  0, -EIO (missing,
 * tampered, or not what g says), -ENOMEM. */
int version_seg_get(struct store *s, MDB_txn *txn, const struct version_seg *g,
                    struct version_chunk **out);
/* Calls fn for each chunk of v in order, reading segments as it goes;
 * stops at fn's first non-zero result and returns it (index: the chunk's
 * place in the list). 0, fn's result, or version_seg_get's errors. */
int version_each_chunk(struct store *s, MDB_txn *txn, const struct version *v,
                       int (*fn)(void *arg, uint32_t index, const struct version_chunk *c),
                       void *arg);

/* Parser, exposed for tests and fuzzing. 0 or -EIO. */
int version_decode(const uint8_t *p, size_t n, uint64_t node, uint32_t number,
                   struct version *out);

#endif
