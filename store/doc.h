/*
 * doc — the working content of an open document.
 *
 * While a document is open, all its handles share one struct doc, as on a
 * local filesystem: a reader sees a writer's bytes at once.  The content is
 * a working chunk list (at first the chunks of the version it was opened
 * on, read and decrypted on demand) overlaid with dirty pages of DOC_PAGE
 * bytes written since.  doc_commit cuts the changed parts of the content
 * into chunks again (chunks wholly outside dirty pages are reused without
 * being read), stores new chunks, and — unless the content equals the
 * current version — appends the next version, updates the node and appends
 * a "version" log entry, all in one transaction.  After a commit the pages
 * are dropped and the new version becomes the base.
 *
 * Memory: when DOC_SPILL_PAGES dirty pages have gathered, a write spills
 * them: the pages are frozen and, on a thread of its own while the writer
 * goes on, the content up to its last chunk boundary is cut into chunks and
 * stored in a transaction of its own (no version yet); then the working
 * list becomes those chunks and the frozen pages below the boundary are
 * dropped.  A writer that gets DOC_SPILL_PAGES ahead of a spill waits for
 * it.  So a document being written costs at most about 3 x DOC_SPILL_PAGES
 * pages plus a few segments of its chunk list (store/wlist.h), whatever
 * its size.  Chunks and list segments stored by a spill that is never
 * committed (a crash before the close, content
 * overwritten again before it) stay in the store unreferenced; see
 * store/FORMAT.md.
 *
 * Locking: each doc has its own mutex; doc functions take it.  doc_read
 * lets go of it while it decrypts the chunks of a request (side by side,
 * on the store's helper threads too), so parallel readers of one document
 * (the kernel's read-ahead) do not wait for each other either.  doc_commit
 * begins a write transaction while holding it, so a caller that holds a
 * write transaction must never call into a doc.
 */
#ifndef CASEFS_DOC_H
#define CASEFS_DOC_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/node.h"
#include "store/pagemap.h"
#include "store/store.h"
#include "store/version.h"
#include "store/wlist.h"

#define DOC_PAGE (64u * 1024)
/* Dirty pages gathered before a write spills them into chunks (2 MiB). */
#define DOC_SPILL_PAGES 32u
/* Documents from this size on are read, and content from this size on is
 * cut into chunks, with LMDB's map advised random (store_map_random_begin). */
#define DOC_STREAM (1u << 20)
/* Largest document size accepted (1 TiB). */
#define DOC_SIZE_MAX ((uint64_t)1 << 40)

/* A metadata change (chmod, chown, utimens) made while the document has
 * uncommitted content: it is committed with that content, in the same
 * transaction, its log entry before the version's (tree.c records it,
 * doc_commit applies it).  Until then tree.c shows it through
 * doc_meta_apply.  Guarded by meta_mu, a lock taken last. */
struct doc_meta_log {
    char op[16];
    char detail[64];
    char *path;
    struct store_actor actor;
};

struct doc_meta {
    int mode_set, owner_set, mtime_set;
    uint32_t mode; /* permission bits */
    uint32_t uid, gid;
    int64_t mtime_sec, ctime_sec;
    uint32_t mtime_nsec, ctime_nsec;
    struct doc_meta_log *logs;
    size_t nlogs;
};

struct doc {
    uint64_t node;
    pthread_mutex_t mu;
    int refs;            /* handles sharing this doc (owner: the table in tree) */
    int readonly;        /* a retained version opened through .versions */
    int orphaned;        /* its document was replaced by a rename (tree.c) */
    uint64_t kernel_ino; /* once orphaned: the kernel inode its handles use */
    /* The committed version the content started from.  Its list is the
     * working list's start (base.chunks and base.segs stay NULL: the list
     * is held once), and base_digest tells whether a save's content is
     * the base's. */
    struct version base;
    uint8_t base_digest[VERSION_DIGEST];
    /* the working chunk list (a few segments held at a time): content
     * below wlimit that is not in a page */
    struct wlist wl;
    uint64_t wlimit; /* the list's content is valid below this offset */
    uint64_t size;
    struct pagemap pages;
    size_t npresent; /* pages held */
    uint8_t **spare;  /* wiped pages kept for the next writes after a spill */
    size_t nspare;
    /* A spill in flight runs on a thread of its own over the pages frozen
     * for it (content as it was then); writes meanwhile go to new pages. */
    struct pagemap frozen;
    size_t nfrozen;
    uint64_t frozen_size;
    uint64_t write_hi; /* end of the last write */
    int spilling;
    int spill_joinable;
    pthread_t spill_thread;
    pthread_cond_t cv;
    struct store *spill_store;
    size_t spill_at; /* spill when npresent reaches this */
    int dirty;
    int64_t write_sec; /* time of the last write since the commit, 0 none */
    uint32_t write_nsec;
    /* one decrypted chunk of the working list */
    uint8_t *cache;      /* CHUNK_MAX bytes */
    int64_t cache_index; /* -1: empty */
    size_t cache_hw;     /* most bytes cache ever held (wiped at the end) */
    uint64_t list_gen;   /* changes whenever the working list does */
    uint64_t read_end;   /* where the last read of a streamed document ended */
    uint64_t ahead_to;   /* content up to here is asked to be read ahead */
    struct ahead *ahead_of; /* what asked (doc_free tells it to forget) */
    uint64_t content_gen; /* changes at every write, truncation and new list */
    pthread_mutex_t meta_mu;
    struct doc_meta meta;
    uint32_t writer_pid; /* the process that wrote last (tree.c; atomic) */
};

/* Creates a doc over version `number` of node (0: empty content).  The
 * transaction may be read-only.  0, -EIO (tampered version record), -ENOMEM. */
int doc_new(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
            struct doc **out);
void doc_free(struct doc *d);

/* Reads up to len bytes at off.  Returns the count (0 at end) or -EIO when
 * a chunk fails authentication (no data of it is returned). */
ssize_t doc_read(struct store *s, struct doc *d, void *buf, size_t len, uint64_t off);
/* Writes len bytes at off, extending the document.  Returns len, -EFBIG,
 * -ENOMEM, -EIO, or -EROFS for a retained version. */
ssize_t doc_write(struct store *s, struct doc *d, const void *buf, size_t len,
                  uint64_t off);
/* Sets the size; bytes past the old end read as zeros. 0 or errors above. */
int doc_truncate(struct store *s, struct doc *d, uint64_t size);
/* Current size. */
uint64_t doc_size(struct doc *d);
/* Marks the content as changed so the next commit compares it (a new,
 * empty document is a change). */
void doc_touch(struct doc *d);

/* Commits the working content as the node's next version when it differs
 * from the current one.  path is logged.  *committed (may be NULL) is set
 * to the new version number, or 0 when nothing was committed.
 * 0, -ENOSPC (nothing stored; the content stays dirty), -EIO. */
int doc_commit(struct store *s, struct doc *d, const struct store_actor *actor,
               const char *path, uint32_t *committed);

/* Records a metadata change to commit with the content (d->mu held, the
 * document dirty).  m's set fields are taken; op/detail/path/actor are the
 * log entry.  0 or -ENOMEM. */
int doc_meta_add(struct doc *d, const struct doc_meta *m, const char *op,
                 const char *detail, const char *path, const struct store_actor *actor);
/* Applies the changes waiting in d to n (any lock but meta_mu may be held). */
void doc_meta_apply(struct doc *d, struct node *n);

/* Waits until no spill of d is in flight (tests, and before anything that
 * changes the working list). */
void doc_settle(struct doc *d);

/* Reloads the base after another operation gave the node a new version
 * (only when not dirty). */
int doc_rebase(struct store *s, struct doc *d);

#endif
