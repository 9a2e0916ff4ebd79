/*
 * scache — what recent lookups found, kept for as long as the store has
 * not changed it: a folder's entry for a name (the child's id, or that
 * there is none) and a node's record (its plaintext).
 *
 * Every request of the kernel names its document by a path, and turning
 * a path into nodes reads, folder by folder, a name's entry and the node
 * it leads to: a dozen requests for one file of a `tar x` walk the same
 * folders again and again.  rcache spares the decryption of those records
 * but not the lookups in LMDB (a keyed hash of each name, a B-tree search
 * per record, a page fault on every page a commit wrote anew); this cache
 * answers without touching LMDB.
 *
 * Correct by LMDB's snapshots.  A transaction reads one snapshot, named
 * by the id of the commit it shows (mdb_txn_id of a read transaction; one
 * less for the write transaction).  An entry is made only from the newest
 * snapshot while no commit is under way, and is tagged with it.  Every
 * change this process makes to a cached kind goes through scache_note in
 * its write transaction; just before that transaction commits, the entries
 * of what it changed are dropped (scache_commit_begin), and entries are
 * made again only once the commit is done (scache_commit_end).  So an
 * entry tagged S holds what every snapshot from S to the newest shows, and
 * a transaction reading snapshot R uses it only when S <= R.  A commit by
 * another process (an administrator's command while mounted) shows as a
 * snapshot newer than any this process made: the whole cache is dropped.
 * The write transaction does not use entries of keys it changed itself.
 *
 * Bounded: SCACHE_SLOTS direct-mapped entries (keys up to SCACHE_KEY_MAX
 * bytes, values up to SCACHE_VALUE_MAX).  Values (record plaintexts, that
 * is names and metadata) are wiped when dropped and when the cache is
 * freed.  Thread-safe.
 */
#ifndef CASEFS_STORE_SCACHE_H
#define CASEFS_STORE_SCACHE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define SCACHE_SLOTS 4096
#define SCACHE_KEY_MAX 72
#define SCACHE_VALUE_MAX 1024
/* Changes one write transaction tracks key by key; beyond them its commit
 * drops the whole cache. */
#define SCACHE_NOTES_MAX 64

enum scache_kind { SCACHE_NODE = 1, SCACHE_DIRENT = 2 };

struct scache;

/* NULL when out of memory (callers then look everything up). */
struct scache *scache_new(void);
/* Wipes every value.  NULL is fine. */
void scache_free(struct scache *c);

/* A write transaction began (store_txn_begin): what it changes is noted
 * from now on. */
void scache_write_begin(struct scache *c, MDB_txn *txn);
/* txn changes (kind, key): in the write transaction, that key is looked
 * up in LMDB from now on, and its entry is dropped at the commit. */
void scache_note(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
                 size_t keylen);
/* Just before the write transaction txn commits, and just after (ok: it
 * committed). */
void scache_commit_begin(struct scache *c, MDB_txn *txn);
void scache_commit_end(struct scache *c, int ok);

/* 1 with value copied into val (*len bytes, at most cap) when an entry
 * holds what txn would read for (kind, key); 0 when not. */
int scache_get(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
               size_t keylen, void *val, size_t cap, size_t *len);
/* txn read value for (kind, key): kept when txn reads the newest snapshot
 * and no commit is under way. */
void scache_put(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
                size_t keylen, const void *val, size_t len);

#endif
