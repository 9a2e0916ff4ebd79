/*
 * written — the pages of data.mdb written since the last durable point,
 * each with a checksum, so that one flush can make a point durable.
 *
 * Why: a durable point used to cost two ordered flushes, the data file's
 * and then the record naming the point (store/durable.h): a record
 * flushed with the pages it names could reach the disk while some of
 * them did not, and a recovery trusting it would leave a store whose
 * pages are half old.  When the record also lists every page written
 * since the point before, with its checksum, the record and the pages can
 * go to the disk in one flush: a recovery checks the listed pages and
 * falls back to the point before when any is not what was written
 * (store/durable.c).  A point whose pages do not fit in a record, or
 * whose writes were not all seen, is made durable with two flushes as
 * before.
 *
 * How the writes are seen: LMDB writes pages with pwrite and writev (and
 * its meta pages with pwrite) on its descriptor of data.mdb.  casefs
 * links LMDB statically with those calls wrapped (-Wl,--wrap, Makefile):
 * every write on a watched descriptor is noted here before it returns.
 * Each commit ends with the write of its meta page, whose last 8 bytes
 * are its transaction id: a list is complete only when every transaction
 * after the point before was seen (another process committing to the same
 * store breaks the chain, and its point is made the old way).
 *
 * Checksums are Poly1305 under a random key of the interval (kept in the
 * record): they tell a page as written from any older content, which is
 * all a recovery asks; 1.7 us a page.
 */
#ifndef CASEFS_WRITTEN_H
#define CASEFS_WRITTEN_H

#include <stddef.h>
#include <stdint.h>

/* Pages a record lists, at most (a durable slot of 4 KiB, durable.h). */
#define WRITTEN_PAGES_MAX 158
#define WRITTEN_KEY_BYTES 32
#define WRITTEN_TAG_BYTES 16

struct written_page {
    uint64_t pgno;
    uint8_t tag[WRITTEN_TAG_BYTES];
};

struct written;

/* Starts watching fd (data.mdb, pages of psize bytes).  The first
 * interval is incomplete (what came before is unknown).  NULL when out of
 * memory or too many are watched (every point then takes two flushes). */
struct written *written_watch(int fd, size_t psize);
/* Stops watching; NULL is fine.  Before the descriptor is closed. */
void written_unwatch(struct written *w);

/* Ends the interval at transaction txnid (the caller holds LMDB's writer
 * lock: no page is being written) and starts the next.  1 with the key,
 * the pages and their number when every write of every transaction after
 * the last point up to txnid was seen and fits; else 0. */
int written_take(struct written *w, uint64_t txnid, uint8_t key[WRITTEN_KEY_BYTES],
                 struct written_page *pages, uint32_t *n);
/* The interval just started is incomplete (the point taken was not made
 * durable, so the next must cover what it covered too). */
void written_spoil(struct written *w);

/* The checksum of a page under key. */
void written_tag(const uint8_t key[WRITTEN_KEY_BYTES], const uint8_t *page, size_t psize,
                 uint8_t tag[WRITTEN_TAG_BYTES]);

#endif
