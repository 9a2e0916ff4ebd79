/*
 * ahead — reads the chunks a reader going through a large document will
 * ask for next, from the store file into buffers of the store's, while the
 * reader decrypts what it has.
 *
 * A streamed document's chunks are read with O_DIRECT (doc.c), which the
 * kernel does not read ahead of: each request waited for the disk, one
 * read in flight, and the disk stood idle while the request was decrypted
 * and answered.  A reader going forward names the chunks of the next
 * window (ahead_want), which are located and queued as runs of neighbours
 * in the file; threads of the store read the runs, each into a slot; a
 * request then takes its chunks' ciphertext from a slot (ahead_take,
 * waiting for one still being read) and releases it (ahead_drop).  The
 * chunks a request finds in no slot are asked for the same way, to be
 * read now: the slots are the one place large documents are read into.
 *
 * What a slot holds is the store file's bytes at the time it was read: a
 * chunk taken from it is authenticated when decrypted like any other, and
 * the reader reads it again the usual way when that fails (pages freed
 * and written again since).  Nothing is decrypted here.
 */
#ifndef CASEFS_AHEAD_H
#define CASEFS_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "store/chunk.h"

struct store;
struct ahead;

struct ahead_chunk {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t len;
};

/* NULL when out of memory (the store then reads without it). */
struct ahead *ahead_new(struct store *s);
/* Stops the threads; no reader may be using it.  NULL is fine. */
void ahead_free(struct ahead *a);
/* Asks for chunks c[0..n) to be read for owner (a reader): locates them
 * in txn and queues their runs.  now: the reader needs them now (not
 * found in a slot): their runs go to the front of the queue, even without
 * threads (ahead_take reads a queued run itself).  Else they are read
 * ahead: a hint, dropped when too many wait or the threads cannot start. */
void ahead_want(struct ahead *a, MDB_txn *txn, const void *owner, const struct ahead_chunk *c,
                size_t n, int now);
/* Drops what was read or queued for owner (its reader is gone): nothing
 * read before stays to be taken by a reader after it. */
void ahead_forget(struct ahead *a, const void *owner);
/* The sealed bytes (nonce, ciphertext, tag: len + KEYS_SEAL_OVERHEAD) of
 * the chunk at off in the store file, if a slot holds them; *slot is to
 * be given to ahead_drop.  Waits while the slot is being read.  NULL when
 * no slot holds them. */
const uint8_t *ahead_take(struct ahead *a, uint64_t off, size_t len, int *slot);
/* Gives the slot back; opened: whether the chunk taken opened (else it
 * was read again the usual way). */
void ahead_drop(struct ahead *a, int slot, int opened);
/* on: stops reading ahead and waits for the reads in flight (the map
 * may move: store_map_resize); off: goes on. */
void ahead_hold(struct ahead *a, int on);
/* For the tests: the threads wait ms before each read. */
void ahead_slow(struct ahead *a, unsigned ms);
/* Chunks taken so far, and those of them that did not open. */
void ahead_counts(struct ahead *a, uint64_t *taken, uint64_t *failed);

#endif
