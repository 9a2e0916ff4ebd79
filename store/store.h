/*
 * store — one casefs store: an LMDB environment in a directory, its named
 * databases, its unlocked keys, and the helpers every other module uses to
 * keep encrypted records in it.
 *
 * Design: every record except the format version and the wrapped master key
 * is sealed (keys_seal) with associated data "TAG" || LMDB key, so a value
 * moved to another key or another database fails to open.  All changes go
 * through LMDB write transactions; the audit log entry of a change is
 * appended in the same transaction (see log.h), so there is never a change
 * without its entry.  The environment is opened with MDB_NOTLS (FUSE worker
 * threads share it).
 *
 * Durability (DESIGN.md): a writable store commits without flushing
 * (MDB_NOSYNC): a commit is in the kernel's page cache when it returns, so
 * it survives a crash of the process.  store_sync() makes every commit so
 * far durable with one flush of the data file and records that durable
 * point (store/durable.h), which is what lets a power loss take the store
 * back to its last durable point, whole: the mount calls it for fsync and
 * within a second of any commit, store_close() at the end.  -o sync=close
 * calls it after every commit.
 *
 * Threads: a struct store may be used from many threads at once; LMDB
 * serialises write transactions.  Do not use it across fork().
 */
#ifndef CASEFS_STORE_H
#define CASEFS_STORE_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/keys.h"

/* The format version this code writes (meta key "format"), and the oldest
 * it reads: an older store becomes this format at its first writable open
 * (FORMAT.md). */
#define STORE_FORMAT_VERSION 4u
/* How chunk lists are cut into segments (store/version.h; FORMAT.md). */
#define STORE_SEG_MIN 1024u
#define STORE_SEG_MAX 8192u
#define STORE_SEG_MASK 2047u
/* A segment holds at most this much content: about 1,700 coarse chunks
 * (store/chunk.h), where the chunk count alone would let it grow to some
 * 230 MiB on average, and a list of a file of 160 MiB is two segments. */
#define STORE_SEG_BYTES_MAX (128ull << 20)
#define STORE_FORMAT_OLDEST 1u
/* LMDB map size: the address space reserved, not disk used. */
#define STORE_MAP_SIZE ((size_t)1 << 40)
/* Argon2id limits for new stores: libsodium's "interactive" set (64 MiB). */
#define STORE_PWHASH_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define STORE_PWHASH_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

/* A commit that fails with EIO while less than this is free on the store's
 * filesystem failed for lack of space (LMDB reports short writes as EIO). */
#define STORE_FULL_BYTES ((uint64_t)1 << 20)

#define STORE_USER_MAX 64
#define STORE_PROCESS_MAX 32
#define STORE_GROUPS_MAX 64

/* Who asks for an operation: recorded in every log entry and version. */
struct store_actor {
    uint32_t uid;
    uint32_t gid;
    uint32_t pid;
    /* Looked up only when a record needs them (store_actor_name): most
     * requests (lookups, attributes, reads and writes) record nothing. */
    int named;                       /* user and process filled in */
    char user[STORE_USER_MAX];       /* user name, or the uid in decimal */
    char process[STORE_PROCESS_MAX]; /* process name (comm), or "" */
    int ngroups;                     /* -1: not looked up yet */
    gid_t groups[STORE_GROUPS_MAX];
};

/* Sets the ids; user and process are left for store_actor_name. */
void store_actor_fill(struct store_actor *a, uint32_t uid, uint32_t gid, uint32_t pid);
/* Fills user from uid (getpwuid_r) and process from /proc/PID/comm, once.
 * Called before an actor is kept beyond its request (an open handle, a
 * pending metadata change), so that a process gone by then keeps its name. */
void store_actor_name(struct store_actor *a);
/* a, when named; else *tmp, a named copy of a.  For code that records the
 * actor through a const pointer. */
const struct store_actor *store_actor_named(const struct store_actor *a,
                                            struct store_actor *tmp);
/* The calling process itself (for the command-line tools). */
void store_actor_self(struct store_actor *a);

/* Record tags: the first bytes of every sealed record's associated data. */
enum store_db {
    STORE_DB_META,
    STORE_DB_NODES,
    STORE_DB_DIRENTS,
    STORE_DB_VERSIONS,
    STORE_DB_CHUNKS,
    STORE_DB_RETRACTIONS,
    STORE_DB_LOG,
    STORE_DB_LISTS,
    STORE_DB_COUNT
};

struct written;

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    int no_lists; /* read-only open of a store from before "lists" */
    /* How chunk lists are cut into segments (version.h); the format's
     * values, which unit tests make small. */
    uint32_t seg_min, seg_max, seg_mask;
    uint64_t seg_bytes_max;
    struct keys *keys; /* owned */
    char *dir;
    int sync_each_commit; /* -o sync=close: store_sync after every commit */
    /* Durable points (writable stores only). */
    pthread_mutex_t sync_mu; /* one store_sync at a time */
    int writable;
    int datafd;              /* LMDB's fd of data.mdb */
    int durable_fd;          /* the durable file (store/durable.h) */
    size_t psize;            /* LMDB's page size */
    char boot[40];           /* this boot's id (durable.h) */
    MDB_txn *pin;            /* read transaction on the last durable point */
    /* ... or on the one before it, and this on the last, when the last was
     * made durable in one flush (durable.h) */
    MDB_txn *pin_newer;
    struct written *written; /* pages written since the last point */
    int one_flush;           /* points may be made durable in one flush */
    uint64_t one_flush_points; /* points made so */
    int fail_flushes;          /* for the tests: every flush of the data file fails */
    uint64_t durable_txnid;  /* the last durable point */
    int failed;              /* a flush failed: nothing more is committed */
    uint64_t map_touched; /* bytes read through the map since the last release */
    void *map_addr;       /* LMDB's map of data.mdb (NULL: not found) */
    size_t map_len;
    int map_fd;           /* LMDB's fd of data.mdb, for store_value_read3 */
    int direct_fd;        /* data.mdb opened O_DIRECT (-1: not possible) */
    uint64_t direct_bytes; /* store_stream_read read with O_DIRECT */
    uint64_t stream_bytes; /* it read in all */
    int statm_fd;         /* /proc/self/statm, for store_map_trim */
    pthread_mutex_t advice_mu;
    int random_users;     /* store_map_random_begin calls not yet ended */
    /* Write-behind (writable stores): while clients ask for flushes, a
     * thread of the store's starts the write-out of each commit's pages of
     * data.mdb at once, so the next fsync's flush has fewer to write. */
    pthread_t wb_thread;
    int wb_started;
    pthread_mutex_t wb_mu;
    pthread_cond_t wb_cv;
    int wb_pending, wb_stop;
    uint64_t fsync_ms; /* when a client last asked for a flush (store_fsync) */
    struct par *par; /* helpers for one read's decryption (store/par.h) */
    struct ahead *ahead; /* reads ahead of streaming readers (store/ahead.h) */
    struct rcache *rcache; /* records opened lately (store/rcache.h) */
    struct scache *scache; /* lookups of names and nodes (store/scache.h) */
};

/* Open flags. */
#define STORE_OPEN_RDONLY 1u

/* Creates a new store in dir (created if missing; an existing empty dir is
 * fine) protected by passphrase, with the root folder and the first log
 * entry ("init" by actor).  Returns 0; -EEXIST when dir already holds a
 * store or other files; -EINVAL for an empty passphrase; -errno otherwise. */
int store_create(const char *dir, const char *pass, size_t len,
                 const struct store_actor *actor);

/* Checks that dir holds a store of a known format without any key.
 * 0; -ENOENT no such directory or no store in it; -EPROTO unknown format
 * version (*found set to it when found != NULL); -EIO unreadable. */
int store_probe(const char *dir, uint32_t *found);

/* Unlocks: reads the wrapped master key and unwraps it with the passphrase.
 * 0 with *out set (free with keys_free); -EACCES wrong passphrase;
 * the errors of store_probe. */
int store_unlock(const char *dir, const char *pass, size_t len, struct keys **out);

/* Opens the store with unlocked keys; takes ownership of keys (also on
 * failure).  0 or the errors of store_probe. */
int store_open(const char *dir, struct keys *keys, unsigned flags, struct store **out);

/* Flushes, closes the environment, wipes the keys.  NULL is fine. */
void store_close(struct store *s);

/* Makes every transaction committed so far durable (a flush of the data
 * file, then a record of the durable point), and moves the pin to it.
 * Returns at once when another call already did.  0; -EIO when a flush
 * failed: the store then refuses every later commit with -EIO (the kernel
 * may have dropped what it could not write), and must be reopened. */
int store_sync(struct store *s);
/* store_sync, with the pin on the point made: every page freed before it
 * may be reused at once (a point made in one flush keeps the pages of the
 * point before it too, durable.h).  For a store that cannot grow. */
int store_sync_release(struct store *s);
/* store_sync asked for by a client (fsync).  For STORE_WRITE_BEHIND_MS
 * after it, each commit's pages start their way to the disk at once, on a
 * thread of the store's, so that the next fsync's flush has less to write. */
#define STORE_WRITE_BEHIND_MS 100
int store_fsync(struct store *s);
/* The logger of a recovery's notice (durable_notice_take; arg: the
 * store): logs `recover` for the undone range [to + 1, from] unless an
 * entry for that range was logged already (another open took the same
 * notice), and makes it durable.  0 or -errno. */
int store_log_undone(void *arg, uint64_t from, uint64_t to, int write_error);
/* Whether a commit happened since the last durable point (cheap). */
int store_sync_due(struct store *s);

/* Notes that about `bytes` of the database were read through LMDB's memory
 * map (tree pages on the way to chunks, pages copied by a large write).
 * Every STORE_MAP_CHECK bytes, store_map_trim runs. */
#define STORE_MAP_CHECK (1u << 20)
void store_map_touched(struct store *s, uint64_t bytes);
/* The map's advice.  Names, nodes, versions and the log are looked up
 * with the normal advice: a page fault on a page not yet in memory reads
 * the pages around it from disk too, which later lookups of a cold store
 * often want (a stat of a random document among 100,000 after a mount: p99
 * 0.75 ms with it, 1.1-1.6 ms without).  While chunks are read or stored
 * (between store_map_random_begin and _end, on any thread) the map is
 * advised MADV_RANDOM: a fault reads that page alone, as the chunks' tree
 * is keyed by random ids and chunk contents are read with pread; with the
 * normal advice a 1 GiB read reads the chunk contents around every tree
 * page and takes twice as long.  (Either way the kernel maps the pages
 * around a fault that are already in memory, up to 64 KiB.) */
void store_map_random_begin(struct store *s);
void store_map_random_end(struct store *s);
/* When more bytes of files are resident in the process than the bound
 * (the map's pages, read from /proc/self/statm), lets go of the map's
 * pages (madvise MADV_DONTNEED: they stay in the page cache and a later
 * read maps them again), so that the process's resident size does not grow
 * with the documents it streams or the store it walks.  The bound is
 * STORE_MAP_RESIDENT while a document of 1 MiB or more is read or its
 * content stored (store_map_random_begin), so that streaming one stays
 * small, and STORE_MAP_RESIDENT_IDLE otherwise: every fault maps up to 64
 * KiB around it, mostly chunk contents, and letting go of the map makes
 * every page a lookup needs fault again (a tar x of 8,900 small files let
 * go 142 times at 24 MiB, with 68,000 faults, ten times those without). */
#define STORE_MAP_RESIDENT (24u << 20)
#define STORE_MAP_RESIDENT_IDLE (96u << 20)
void store_map_trim(struct store *s);
/* Sets LMDB's map size (the store's own is STORE_MAP_SIZE; the unit tests
 * fill a small one) and finds the map again: LMDB may map it elsewhere,
 * and the old range must not be read or let go of.  Not while any
 * transaction is open.  0 or -errno. */
int store_map_resize(struct store *s, size_t size);
/* The bytes of a large value that mdb_get returned (v), read from the file
 * with preadv rather than through the map: a chunk read once is not mapped
 * into the process (no page faults, no resident size, the file's
 * read-ahead sees the reads in order).  The pages of a value of the
 * transaction's snapshot stay as they are while it lives.  The value's
 * first n1 bytes go to p1, the next n2 to p2, the rest (n3) to p3; a value
 * not in the map (a page the write transaction changed) is copied.  0, or
 * -EIO when the read fails or the sizes do not add up to the value's. */
/* Where in data.mdb the value v that mdb_get returned starts: 0 and *off,
 * or -ENOENT when it is not in the map (a page of the write transaction). */
int store_value_offset(struct store *s, const MDB_val *v, uint64_t *off);
/* Reads data.mdb's bytes [off, off+len) into buf, for a large document
 * streamed: off, len and buf aligned to STORE_DIRECT_ALIGN.  Bytes the
 * page cache holds (most of the range's pages cached) are copied from it
 * through the map; others are read with O_DIRECT straight from the disk
 * into buf (no copy out of the page cache, no page cache filled with pages
 * read once), where the file system allows it.  Neither read makes the
 * kernel read ahead.  The kernel writes any dirty page of an O_DIRECT
 * range first: what is read is what was committed.  0 or -EIO (past the
 * file's end too). */
#define STORE_DIRECT_ALIGN 4096
int store_stream_read(struct store *s, void *buf, size_t len, uint64_t off);
int store_value_read3(struct store *s, const MDB_val *v, void *p1, size_t n1, void *p2,
                      size_t n2, void *p3, size_t n3);

/* Transactions.  store_txn_commit maps LMDB's errors: MDB_MAP_FULL,
 * ENOSPC and a failed write on a full filesystem -> -ENOSPC, everything
 * else -> -EIO; on error the transaction is
 * aborted and nothing of it is stored. */
int store_txn_begin(struct store *s, int rdonly, MDB_txn **txn);
int store_txn_commit(struct store *s, MDB_txn *txn);
void store_txn_abort(MDB_txn *txn);
/* Maps an LMDB return code to a negative errno (MDB_NOTFOUND -> -ENOENT). */
int store_mdb_err(int rc);

/* Seals plaintext under `purpose` with AD = db tag || key and puts it at key.
 * 0, -ENOSPC, -ENOMEM or -EIO. */
int store_record_put(struct store *s, MDB_txn *txn, enum store_db db, const void *key,
                     size_t keylen, enum keys_purpose purpose, const void *pt,
                     size_t ptlen);
/* Gets and opens the record at key into a malloc'd buffer (*out, *outlen).
 * 0, -ENOENT absent, -EIO tampered or unreadable (never returns bad data). */
int store_record_get(struct store *s, MDB_txn *txn, enum store_db db, const void *key,
                     size_t keylen, enum keys_purpose purpose, uint8_t **out,
                     size_t *outlen);
/* Opens a sealed value already fetched (for cursors). Same results. */
int store_record_open(struct store *s, enum store_db db, const void *key, size_t keylen,
                      enum keys_purpose purpose, const MDB_val *val, uint8_t **out,
                      size_t *outlen);

/* The wrapped master key in meta: read (0, -EIO) and replace (0, errors of
 * LMDB) in the given transaction. */
int store_wrapped_get(struct store *s, MDB_txn *txn, struct keys_wrapped *w);
int store_wrapped_put(struct store *s, MDB_txn *txn, const struct keys_wrapped *w);

/* The number of entries in folder dir (without . and ..), or -errno. */
int store_dir_entries(const char *dir);
/* Makes dir, or accepts it when it exists and is empty: the folder of a
 * new store or backup.  0, -EEXIST (it holds files) or -errno. */
int store_dir_claim(const char *dir);

/* Increments the named counter in meta and returns its new value (first 1). */
int store_counter_next(struct store *s, MDB_txn *txn, const char *name, uint64_t *out);

#endif
