/*
 * tree — the mount's rules, without FUSE: paths, permissions, what a save,
 * a rename and a removal mean, and the audit entry of each.
 *
 * Every function takes the path as seen from the mount root ("/" or
 * "/case/folder/doc.txt") and the actor who asks; it checks the actor's
 * permission itself (owner, group, other bits; uid 0 may do everything,
 * as on a local filesystem) and logs a refusal as an entry with result
 * EACCES.  Every change appends its log entry in the same transaction.
 * Functions return 0 (or a count) or a negative errno that the FUSE
 * adapter passes on unchanged.
 *
 * Rules (DESIGN.md): a removal of a non-transient document or folder is a
 * retraction request (the entry leaves the live view, the content stays);
 * a document renamed onto another makes its content the other's next
 * version; a document renamed to a transient name leaves a scratch copy
 * and is revived, with its history, when the name is created again;
 * renames between cases fail with EXDEV; "NAME/.versions/DOC/vN.ext" shows
 * retained versions read-only.
 *
 * Threads: all functions may be called concurrently.
 */
#ifndef CASEFS_TREE_H
#define CASEFS_TREE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "store/doc.h"
#include "store/node.h"
#include "store/store.h"

/* The longest path ("/case/.../name") the tree accepts, with its NUL. */
#define TREE_PATH_MAX 4096

struct tree_open; /* an entry of the open-document table */

/* A small hash map of u64 to u64 (open addressing; key 0 unused). */
struct tree_idmap {
    uint64_t (*slot)[2];
    size_t n, cap;
};

struct tree {
    struct store *s;
    pthread_mutex_t mu; /* guards the open-document table */
    /* Also held (inside mu) while the table's links or a doc's node
     * change: meta_overlay walks the table under this lock alone, as it
     * runs inside write transactions, and mu may be held by a thread that
     * waits for LMDB's writer lock (a doc committed at its last reference). */
    pthread_mutex_t open_mu;
    struct tree_open *open;
    /* Bumped each time a doc leaves the table after its last commit: a
     * reader that took its snapshot before may hold a stale size. */
    uint64_t closed_gen;
    /* Inode forwarding (guarded by mu): after a rename that merges a
     * document into another (an atomic save) or leaves a scratch copy, the
     * kernel knows the source's inode under the target name; fwd maps that
     * inode to the node now holding the content (tree_ino_path). */
    struct tree_idmap fwd;
    /* Incarnations (guarded by mu): a document replaced or re-created
     * while handles of its old content were open gets a new kernel inode
     * (tree_nodeid), so that the kernel's page cache of the old content,
     * still read through those handles, is not the new content's. */
    struct tree_idmap inc;
    /* Aliases (guarded by mu): after an atomic save the kernel knows the
     * document under the temporary file's inode; alias maps the document
     * to that inode, which is then its kernel inode (tree_nodeid). */
    struct tree_idmap alias;
    /* Kernel inodes of earlier incarnations whose handles are still open,
     * to the (orphaned) doc they read (guarded by mu): their attributes
     * stay those of that content. */
    struct tree_idmap stale;
    /* Held for writing while a change may give a document a new
     * incarnation (create, rename), for reading while the attributes and
     * inode number of an entry are taken together (tree_entry). */
    pthread_rwlock_t inode_lock;
};

/* An open file: a handle on a shared struct doc. */
struct tree_handle {
    struct doc *doc;
    uint64_t node;
    int flags;                /* open(2) flags */
    int wrote;                /* written since the last commit */
    int version_file;         /* a retained version (read-only, not shared) */
    int foreign;              /* opened through a kernel inode of other content
                                 (the adapter reads and writes past its cache) */
    int fs_busy, fs_released; /* the adapter's: requests using it, release came */
    struct store_actor actor; /* who opened it: author of its versions */
    char *path;               /* as opened, for the log */
};

struct tree_attr {
    uint64_t ino;
    uint32_t mode;
    uint32_t nlink;
    uint32_t uid, gid;
    uint64_t size;
    int64_t mtime_sec, ctime_sec;
    uint32_t mtime_nsec, ctime_nsec;
};

/* Access bits for tree_access. */
#define TREE_R 4
#define TREE_W 2
#define TREE_X 1

int tree_new(struct store *s, struct tree **out);
/* Commits what is still dirty and frees the table (not the store). */
void tree_free(struct tree *t);

int tree_getattr(struct tree *t, struct store_actor *a, const char *path,
                 struct tree_handle *h, struct tree_attr *out);
typedef int (*tree_fill_fn)(void *arg, const char *name, const struct tree_attr *attr);
int tree_readdir(struct tree *t, struct store_actor *a, const char *path, tree_fill_fn fn,
                 void *arg);
int tree_access(struct tree *t, struct store_actor *a, const char *path, int mask);

int tree_mkdir(struct tree *t, struct store_actor *a, const char *path, uint32_t mode);
int tree_create(struct tree *t, struct store_actor *a, const char *path, uint32_t mode,
                int flags, struct tree_handle **out);
int tree_open(struct tree *t, struct store_actor *a, const char *path, int flags,
              struct tree_handle **out);
ssize_t tree_read(struct tree *t, struct tree_handle *h, void *buf, size_t size,
                  uint64_t off);
ssize_t tree_write(struct tree *t, struct tree_handle *h, const void *buf, size_t size,
                   uint64_t off);
/* h may be NULL (truncate(2) by path: committed at once). */
int tree_truncate(struct tree *t, struct store_actor *a, const char *path,
                  struct tree_handle *h, uint64_t size);
/* The current path ("/case/doc") of h's document, for requests that
 * arrive with a handle but no path. */
int tree_handle_path(struct tree *t, struct tree_handle *h, char *out, size_t len);
/* close(2): commits when this handle wrote. */
int tree_flush(struct tree *t, struct tree_handle *h);
/* fsync(2): commits what is dirty and forces it to disk. */
int tree_fsync(struct tree *t, struct tree_handle *h);
/* The last reference went away: commits leftovers, frees h. */
int tree_release(struct tree *t, struct tree_handle *h);

/* flags: 0 or RENAME_NOREPLACE; RENAME_EXCHANGE gives -EINVAL. */
int tree_rename(struct tree *t, struct store_actor *a, const char *from, const char *to,
                unsigned flags);
int tree_unlink(struct tree *t, struct store_actor *a, const char *path);
int tree_rmdir(struct tree *t, struct store_actor *a, const char *path);
/* ts[0] atime (ignored), ts[1] mtime; UTIME_NOW and UTIME_OMIT work. */
int tree_utimens(struct tree *t, struct store_actor *a, const char *path,
                 const struct timespec ts[2]);
int tree_chmod(struct tree *t, struct store_actor *a, const char *path, uint32_t mode);
/* (uint32_t)-1 leaves a field unchanged. */
int tree_chown(struct tree *t, struct store_actor *a, const char *path, uint32_t uid,
               uint32_t gid);

/* Extended attributes: user.casefs.version, .author, .state (read-only),
 * user.casefs.reason (settable, attached to a later retraction request). */
ssize_t tree_getxattr(struct tree *t, struct store_actor *a, const char *path,
                      const char *name, char *buf, size_t size);
ssize_t tree_listxattr(struct tree *t, struct store_actor *a, const char *path, char *buf,
                       size_t size);
int tree_setxattr(struct tree *t, struct store_actor *a, const char *path,
                  const char *name, const char *value, size_t size, int flags);
int tree_removexattr(struct tree *t, struct store_actor *a, const char *path,
                     const char *name);

/* For administration: finds the node at path ("case/doc" or "/case/doc")
 * whatever its state (hidden ones too).  0, -ENOENT, -EIO. */
int tree_find(struct store *s, MDB_txn *txn, const char *path, struct node *out);

/* The path ("/case/doc.txt") of the entry with inode number ino as the
 * mount reports it (tree_attr.ino), following inode forwarding.  0, or
 * -ENOENT when no entry of the live view has that inode (any more). */
int tree_ino_path(struct tree *t, uint64_t ino, char *out, size_t len);
/* The kernel has forgotten inode ino: drop its forwarding. */
void tree_forget(struct tree *t, uint64_t ino);
/* The kernel's inode number for ino (a tree_attr.ino): ino itself, or for
 * a document in a later incarnation ino with the incarnation in bits
 * 40..61.  tree_ino_path takes either. */
uint64_t tree_nodeid(struct tree *t, uint64_t ino);
/* Holds off incarnation changes (create, rename) while an adapter opens
 * through a kernel inode and compares it with tree_nodeid. */
void tree_inodes_hold(struct tree *t);
void tree_inodes_release(struct tree *t);
/* The attributes of path and the kernel's inode number for it, taken
 * together (no incarnation change in between). */
int tree_entry(struct tree *t, struct store_actor *a, const char *path,
               struct tree_attr *out, uint64_t *nodeid);
/* The attributes of kernel inode ino without a handle: an earlier
 * incarnation still in use keeps the size of the content its handles read. */
int tree_getattr_ino(struct tree *t, struct store_actor *a, uint64_t ino,
                     struct tree_attr *out);

/* The state word shown for a node ("live", "pending-retraction", ...). */
const char *tree_state_name(uint8_t state);

#endif
