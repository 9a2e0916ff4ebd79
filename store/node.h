/*
 * node — folders and documents, and their encrypted names.
 *
 * A node is a folder or a document with a stable 64-bit id (its inode
 * number in the mount).  The root folder is NODE_ROOT; case folders are its
 * children.  A node's record (database "nodes", key: id, 8 bytes big-endian)
 * is sealed and holds its parent, its name, mode, owner, times, state, its
 * current version number and size.
 *
 * Names are never stored in the clear and never used as keys: database
 * "dirents" maps parent id || keyed BLAKE2b(parent id || name) (40 bytes) to
 * the child's id.  A folder is listed by a range scan over its parent prefix
 * and the names are read from the children's sealed records.
 *
 * A dirent keeps pointing at a node that has left the live view (a pending
 * retraction, or a document renamed to an editor's scratch name) so that
 * re-creating the name continues the same node and history.  Detached nodes
 * (merged into another document, or scratch files removed) have no dirent;
 * their records and versions stay.
 */
#ifndef CASEFS_NODE_H
#define CASEFS_NODE_H

#include <stdint.h>

#include "store/store.h"

#define NODE_ROOT 1u
#define NODE_NAME_MAX 255
#define NODE_REASON_MAX 1024
#define NODE_ID_HASH_BYTES 32
#define NODE_DIRENT_KEY_BYTES (8 + NODE_ID_HASH_BYTES)

enum node_type { NODE_DIR = 1, NODE_FILE = 2 };

enum node_state {
    NODE_LIVE = 0,      /* listed */
    NODE_PENDING = 1,   /* retraction requested: hidden, dirent kept */
    NODE_RENAMED = 2,   /* renamed to a scratch name: hidden, dirent kept */
    NODE_DETACHED = 3,  /* scratch file removed or merged: no dirent */
    NODE_RETRACTED = 4, /* retraction approved: hidden, dirent kept */
};

struct node {
    uint64_t id;
    uint64_t parent;
    uint8_t type;      /* enum node_type */
    uint8_t state;     /* enum node_state */
    uint8_t transient; /* the name is an editor's or tool's scratch name */
    uint32_t mode;     /* permission bits and file type bits */
    uint32_t uid, gid;
    int64_t mtime_sec, ctime_sec, btime_sec;
    uint32_t mtime_nsec, ctime_nsec, btime_nsec;
    uint32_t version; /* newest committed version, 0 if none */
    uint64_t size;    /* size of that version */
    uint64_t origin;  /* scratch copy made by renaming this document away */
    uint64_t request; /* pending retraction request id, 0 if none */
    char *name;       /* malloc'd */
    char *reason;     /* malloc'd or NULL: reason attached for a retraction */
};

/* Reads node id.  0, -ENOENT, -EIO (tampered).  Free with node_clear. */
int node_get(struct store *s, MDB_txn *txn, uint64_t id, struct node *out);
/* Writes n (all fields).  0 or -ENOSPC/-EIO/-ENOMEM. */
int node_put(struct store *s, MDB_txn *txn, const struct node *n);
/* Frees the strings of n. */
void node_clear(struct node *n);
/* Allocates a fresh id. */
int node_new_id(struct store *s, MDB_txn *txn, uint64_t *out);
/* Creates the root folder (store_create). */
int node_root_create(struct store *s, MDB_txn *txn, uint32_t uid, uint32_t gid);

/* Name lookups.  dirent_get: 0 with *id, or -ENOENT. */
int dirent_get(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
               uint64_t *id);
int dirent_put(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
               uint64_t id);
int dirent_del(struct store *s, MDB_txn *txn, uint64_t parent, const char *name);

/* Hidden entries that gave up their name.  A hidden node (pending, renamed
 * away, retracted) whose name is taken by an entry of another kind (a
 * removed document's name given to a new folder, or a removed folder's to
 * a document or a renamed folder) keeps a "displaced" dirent: the name's
 * 40-byte key followed by a u64 rank (48 bytes), value its id.  Any number
 * may wait under one name; `casefs history`/`cat` still reach them by path
 * and re-creating the name continues them (tree.c).
 * dirent_displace moves node id from the name's dirent (when it holds id)
 * to a displaced one, ranked above all earlier ones, or below all of them
 * with `last` (entries merged in from a replaced folder);
 * dirent_undisplace removes id's displaced dirent (0 also when there was
 * none).  dirent_displaced_each calls fn for each displaced node of name,
 * highest rank first, until fn returns non-zero (returned). */
#define NODE_DISPLACED_KEY_BYTES (NODE_DIRENT_KEY_BYTES + 8)
int dirent_displace(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
                    uint64_t id, int last);
int dirent_undisplace(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
                      uint64_t id);
int dirent_displaced_each(struct store *s, MDB_txn *txn, uint64_t parent,
                          const char *name, int (*fn)(const struct node *n, void *arg),
                          void *arg);

/* Calls fn for every child with a dirent under parent (any state, displaced
 * ones too) until fn
 * returns non-zero (which is returned).  0, or -EIO on a tampered record. */
typedef int (*node_each_fn)(const struct node *child, void *arg);
int node_children(struct store *s, MDB_txn *txn, uint64_t parent, node_each_fn fn,
                  void *arg);

/* Writes the path of node id from the root ("case/folder/doc.txt", no
 * leading slash) into out, following parents; a part that cannot be read
 * is left out. */
#define NODE_DEPTH_MAX 256
void node_path(struct store *s, MDB_txn *txn, uint64_t id, char *out, size_t len);

/* Serialisation, exposed for tests and fuzzing: 0 or -EIO. */
int node_decode(const uint8_t *p, size_t n, uint64_t id, struct node *out);

#endif
