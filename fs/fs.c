/*
 * fs — see fs.h.  The low-level libfuse API: inode numbers are casefs's
 * node ids (and the encoded ids of the .versions views), so that an inode
 * the kernel still holds keeps meaning the same document whatever happens
 * to names meanwhile (tree_ino_path).  Each operation builds the actor
 * from the request (uid, gid, pid and, for non-root callers, the
 * supplementary groups), turns inodes into paths, calls the tree function
 * and replies.  The kernel's own permission checks are off (no
 * default_permissions): casefs checks and logs every refusal itself.  A
 * background thread forces committed transactions to disk every second.
 */
#define FUSE_USE_VERSION 312
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/loop.h"
#include "store/log.h"
#include "store/tree.h"

/* How long the kernel may keep names and attributes (seconds).  Short, so
 * that a decision made by `casefs retract` shows within a second; no
 * negative entries, so a document brought back appears at once. */
#define FS_TIMEOUT 1.0

struct fs {
    struct store *s;
    struct tree *t;
    struct fuse_session *se;
    pthread_t syncer;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int stopping;
    int syncer_started;
    char mountpoint[4096]; /* absolute, as mounted */
};

static struct fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void actor_of(fuse_req_t req, struct store_actor *a)
{
    const struct fuse_ctx *c = fuse_req_ctx(req);
    store_actor_fill(a, c->uid, c->gid, (uint32_t)c->pid);
    if (c->uid != 0) {
        int n = fuse_req_getgroups(req, STORE_GROUPS_MAX, a->groups);
        a->ngroups = n < 0 ? 0 : n > STORE_GROUPS_MAX ? STORE_GROUPS_MAX : n;
    } else {
        a->ngroups = 0;
    }
}

static struct tree_handle *fh(struct fuse_file_info *fi)
{
    return fi ? (struct tree_handle *)(uintptr_t)fi->fh : NULL;
}

/* A request interrupted by a signal lets the kernel send release while the
 * request is still being answered: requests hold the handle, and the last
 * of them releases it when release came meanwhile. */
static pthread_mutex_t handle_mu = PTHREAD_MUTEX_INITIALIZER;

static struct tree_handle *hold(struct fuse_file_info *fi)
{
    struct tree_handle *h = fh(fi);
    if (h) {
        pthread_mutex_lock(&handle_mu);
        h->fs_busy++;
        pthread_mutex_unlock(&handle_mu);
    }
    return h;
}

static struct fs *fs_of(fuse_req_t req);

static void unhold(fuse_req_t req, struct tree_handle *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&handle_mu);
    int gone = --h->fs_busy == 0 && h->fs_released;
    pthread_mutex_unlock(&handle_mu);
    if (gone)
        tree_release(fs_of(req)->t, h);
}

static void stat_of(const struct tree_attr *at, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = at->ino;
    st->st_mode = at->mode;
    st->st_nlink = at->nlink;
    st->st_uid = at->uid;
    st->st_gid = at->gid;
    st->st_size = (off_t)at->size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((at->size + 511) / 512);
    st->st_mtim.tv_sec = at->mtime_sec;
    st->st_mtim.tv_nsec = at->mtime_nsec;
    st->st_atim = st->st_mtim;
    st->st_ctim.tv_sec = at->ctime_sec;
    st->st_ctim.tv_nsec = at->ctime_nsec;
}

/* The path of inode ino into buf (TREE_PATH_MAX); 0 or -errno. */
static int ino_path(fuse_req_t req, fuse_ino_t ino, char *buf)
{
    return tree_ino_path(fs_of(req)->t, ino, buf, TREE_PATH_MAX);
}

/* The path of name in folder inode parent into buf; 0 or -errno. */
static int child_path(fuse_req_t req, fuse_ino_t parent, const char *name, char *buf)
{
    if (strlen(name) > 255)
        return -ENAMETOOLONG;
    int rc = ino_path(req, parent, buf);
    if (rc)
        return rc;
    size_t n = strlen(buf);
    int w = snprintf(buf + n, TREE_PATH_MAX - n, "%s%s", n > 1 ? "/" : "", name);
    return w < 0 || (size_t)w >= TREE_PATH_MAX - n ? -ENAMETOOLONG : 0;
}

static void reply_status(fuse_req_t req, int rc)
{
    fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* Replies with the entry at path (after lookup, mkdir, create). */
static int entry_of(fuse_req_t req, struct store_actor *a, const char *path,
                    struct fuse_entry_param *e)
{
    struct tree_attr at;
    uint64_t nodeid;
    int rc = tree_entry(fs_of(req)->t, a, path, &at, &nodeid);
    if (rc)
        return rc;
    memset(e, 0, sizeof *e);
    e->ino = nodeid;
    e->generation = 0;
    stat_of(&at, &e->attr);
    e->attr_timeout = FS_TIMEOUT;
    e->entry_timeout = FS_TIMEOUT;
    return 0;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC; /* O_TRUNC is part of the save */
    /* Listings carry attributes (one request where a lookup per entry
     * would follow), always: a listing is buffered whole and its offsets
     * are entry indexes, which plain readdir does not share. */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    struct fuse_entry_param e;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, path);
    if (rc == 0)
        rc = entry_of(req, &a, path, &e);
    if (rc)
        reply_status(req, rc);
    else
        fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    tree_forget(fs_of(req)->t, ino);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        tree_forget(fs_of(req)->t, forgets[i].ino);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct store_actor a;
    struct tree_attr at;
    actor_of(req, &a);
    int rc = 0;
    /* Through a handle its own content, unless the handle is foreign to
     * the inode: the kernel keeps what it is told for the inode, whose
     * other handles read through its cache. */
    struct tree_handle *h = hold(fi);
    if (h && !h->foreign)
        rc = tree_getattr(fs_of(req)->t, &a, NULL, h, &at);
    else
        rc = tree_getattr_ino(fs_of(req)->t, &a, ino, &at);
    unhold(req, h);
    if (rc) {
        reply_status(req, rc);
        return;
    }
    struct stat st;
    stat_of(&at, &st);
    fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct fs *f = fs_of(req);
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    struct tree_handle *h = hold(fi);
    int rc = h ? tree_handle_path(f->t, h, path, sizeof path) : ino_path(req, ino, path);
    if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
        rc = tree_chmod(f->t, &a, path, attr->st_mode);
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
        rc = tree_chown(f->t, &a, path,
                        (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uint32_t)-1,
                        (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (uint32_t)-1);
    if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
        rc = attr->st_size < 0
                 ? -EINVAL
                 : tree_truncate(f->t, &a, path, h, (uint64_t)attr->st_size);
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
        struct timespec tv[2];
        tv[0].tv_sec = 0;
        tv[0].tv_nsec = UTIME_OMIT;
        tv[1] = tv[0];
        if (to_set & FUSE_SET_ATTR_ATIME_NOW)
            tv[0].tv_nsec = UTIME_NOW;
        else if (to_set & FUSE_SET_ATTR_ATIME)
            tv[0] = attr->st_atim;
        if (to_set & FUSE_SET_ATTR_MTIME_NOW)
            tv[1].tv_nsec = UTIME_NOW;
        else if (to_set & FUSE_SET_ATTR_MTIME)
            tv[1] = attr->st_mtim;
        rc = tree_utimens(f->t, &a, path, tv);
    }
    struct tree_attr at;
    if (rc == 0)
        rc = h && !h->foreign ? tree_getattr(f->t, &a, NULL, h, &at)
                              : tree_getattr_ino(f->t, &a, ino, &at);
    unhold(req, h);
    if (rc) {
        reply_status(req, rc);
        return;
    }
    struct stat st;
    stat_of(&at, &st);
    fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = ino_path(req, ino, path);
    if (rc == 0)
        rc = tree_access(fs_of(req)->t, &a, path, mask == F_OK ? 0 : mask);
    reply_status(req, rc);
}

/* A folder being listed: its entries, read whole at the first readdir.
 * A readdir interrupted by a signal lets the kernel send releasedir while
 * the readdir is still being answered: the last of the two frees it. */
struct dir_entry {
    char *name;
    struct tree_attr at; /* valid when has_at */
    int has_at;
};

struct dir_list {
    char path[TREE_PATH_MAX];
    char *buf;
    size_t len;
    /* for readdirplus: the entries themselves, attributes looked up again
     * when they are sent (each sent entry is a lookup for the kernel) */
    struct dir_entry *ents;
    size_t nents;
    int filled;
    int err;
    int busy;     /* readdirs in progress (dir_mu) */
    int released; /* releasedir came (dir_mu) */
};

static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;

static void dir_free(struct dir_list *d)
{
    for (size_t i = 0; i < d->nents; i++)
        free(d->ents[i].name);
    free(d->ents);
    free(d->buf);
    free(d);
}

struct fill_ctx {
    fuse_req_t req;
    struct dir_list *d;
    size_t cap;
};

static int fill_one(void *arg, const char *name, const struct tree_attr *at)
{
    struct fill_ctx *c = arg;
    struct stat st;
    memset(&st, 0, sizeof st);
    if (at) {
        stat_of(at, &st);
    } else {
        st.st_mode = S_IFDIR;
        st.st_ino = 0xffffffffu; /* "..": not known here (readdir needs one) */
    }
    size_t need = fuse_add_direntry(c->req, NULL, 0, name, NULL, 0);
    if (c->d->len + need > c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4096;
        while (c->d->len + need > cap)
            cap *= 2;
        char *more = realloc(c->d->buf, cap);
        if (!more)
            return -ENOMEM;
        c->d->buf = more;
        c->cap = cap;
    }
    fuse_add_direntry(c->req, c->d->buf + c->d->len, c->cap - c->d->len, name, &st,
                      (off_t)(c->d->len + need));
    c->d->len += need;
    return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dir_list *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = ino_path(req, ino, d->path);
    if (rc) {
        free(d);
        reply_status(req, rc);
        return;
    }
    fi->fh = (uintptr_t)d;
    fuse_reply_open(req, fi);
}

static void readdir_locked(fuse_req_t req, struct dir_list *d, size_t size, off_t off);

typedef void (*dir_answer_fn)(fuse_req_t req, struct dir_list *d, size_t size, off_t off);

/* Answers a readdir or readdirplus with fn, holding the listing against a
 * releasedir that comes meanwhile (the last of the two frees it). */
static void dir_answer(fuse_req_t req, struct fuse_file_info *fi, size_t size, off_t off,
                       dir_answer_fn fn)
{
    struct dir_list *d = (struct dir_list *)(uintptr_t)fi->fh;
    pthread_mutex_lock(&dir_mu);
    d->busy++;
    pthread_mutex_unlock(&dir_mu);
    fn(req, d, size, off);
    pthread_mutex_lock(&dir_mu);
    int gone = --d->busy == 0 && d->released;
    pthread_mutex_unlock(&dir_mu);
    if (gone)
        dir_free(d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    dir_answer(req, fi, size, off, readdir_locked);
}

static void readdir_locked(fuse_req_t req, struct dir_list *d, size_t size, off_t off)
{
    if (!d->filled || off == 0) {
        /* A listing starts over at offset 0 (rewinddir). */
        struct store_actor a;
        actor_of(req, &a);
        free(d->buf);
        d->buf = NULL;
        d->len = 0;
        struct fill_ctx c = {req, d, 0};
        d->err = tree_readdir(fs_of(req)->t, &a, d->path, fill_one, &c);
        d->filled = 1;
    }
    if (d->err) {
        reply_status(req, d->err);
        return;
    }
    if (off < 0 || (size_t)off >= d->len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    /* Whole entries only: each ends where the next one's offset says. */
    size_t end = (size_t)off;
    while (end < d->len) {
        const struct fuse_dirent {
            uint64_t ino, off;
            uint32_t namelen, type;
        } *de = (const void *)(d->buf + end);
        size_t next = (size_t)de->off;
        if (next - (size_t)off > size)
            break;
        end = next;
    }
    fuse_reply_buf(req, d->buf + off, end - (size_t)off);
}

static int collect_one(void *arg, const char *name, const struct tree_attr *at)
{
    struct dir_list *d = arg;
    struct dir_entry *more = realloc(d->ents, (d->nents + 1) * sizeof *more);
    if (!more)
        return -ENOMEM;
    d->ents = more;
    struct dir_entry *e = &d->ents[d->nents];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return -ENOMEM;
    if (at) {
        e->at = *at;
        e->has_at = 1;
    }
    d->nents++;
    return 0;
}

/* readdirplus: entries with their attributes, so that `ls -l`, `find -ls`
 * and rsync need no lookup per entry.  Offsets are entry indexes. */
static void readdirplus_locked(fuse_req_t req, struct dir_list *d, size_t size, off_t off)
{
    struct store_actor a;
    actor_of(req, &a);
    if (!d->filled || off == 0) {
        for (size_t i = 0; i < d->nents; i++)
            free(d->ents[i].name);
        free(d->ents);
        d->ents = NULL;
        d->nents = 0;
        d->err = tree_readdir(fs_of(req)->t, &a, d->path, collect_one, d);
        d->filled = 1;
    }
    if (d->err) {
        reply_status(req, d->err);
        return;
    }
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    for (size_t i = off < 0 ? d->nents : (size_t)off; i < d->nents; i++) {
        const struct dir_entry *de = &d->ents[i];
        size_t need = fuse_add_direntry_plus(req, NULL, 0, de->name, NULL, 0);
        if (need > size - used)
            break; /* the kernel asks again from here */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        char path[TREE_PATH_MAX];
        size_t n = strlen(d->path), m = strlen(de->name);
        int dots = !de->has_at || strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0;
        int fits = n + 1 + m < sizeof path;
        if (fits) {
            memcpy(path, d->path, n);
            if (n > 1)
                path[n++] = '/';
            memcpy(path + n, de->name, m + 1);
        }
        if (dots || !fits || entry_of(req, &a, path, &e) != 0) {
            /* ".", ".." or an entry gone meanwhile: a name without a
             * lookup (node id 0) */
            memset(&e, 0, sizeof e);
            if (de->has_at) {
                stat_of(&de->at, &e.attr);
            } else {
                e.attr.st_mode = S_IFDIR;
                e.attr.st_ino = 0xffffffffu;
            }
        }
        used += fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e,
                                       (off_t)(i + 1));
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    dir_answer(req, fi, size, off, readdirplus_locked);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dir_list *d = (struct dir_list *)(uintptr_t)fi->fh;
    pthread_mutex_lock(&dir_mu);
    d->released = 1;
    int gone = d->busy == 0;
    pthread_mutex_unlock(&dir_mu);
    if (gone)
        dir_free(d);
    fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    struct fuse_entry_param e;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, path);
    if (rc == 0)
        rc = tree_mkdir(fs_of(req)->t, &a, path, mode);
    if (rc == 0)
        rc = entry_of(req, &a, path, &e);
    if (rc)
        reply_status(req, rc);
    else
        fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev)
{
    fuse_reply_err(req, EPERM); /* device nodes and FIFOs have no place in a case */
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
    fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname)
{
    fuse_reply_err(req, EPERM); /* one name, one history: no hard links */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct fs *f = fs_of(req);
    char path[TREE_PATH_MAX];
    struct store_actor a;
    struct tree_handle *h = NULL;
    struct fuse_entry_param e;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, path);
    if (rc == 0)
        rc = tree_create(f->t, &a, path, mode, fi->flags, &h);
    if (rc == 0) {
        struct tree_attr at;
        rc = tree_getattr(f->t, &a, NULL, h, &at);
        if (rc == 0) {
            memset(&e, 0, sizeof e);
            e.ino = tree_nodeid(f->t, at.ino);
            stat_of(&at, &e.attr);
            e.attr_timeout = FS_TIMEOUT;
            e.entry_timeout = FS_TIMEOUT;
        } else {
            tree_release(f->t, h);
        }
    }
    if (rc) {
        reply_status(req, rc);
        return;
    }
    fi->fh = (uintptr_t)h;
    if (fuse_reply_create(req, &e, fi) != 0)
        tree_release(f->t, h); /* the opener went away (interrupted) */
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *f = fs_of(req);
    char path[TREE_PATH_MAX];
    struct store_actor a;
    struct tree_handle *h = NULL;
    actor_of(req, &a);
    tree_inodes_hold(f->t);
    int rc = ino_path(req, ino, path);
    if (rc == 0)
        rc = tree_open(f->t, &a, path, fi->flags, &h);
    if (rc) {
        tree_inodes_release(f->t);
        reply_status(req, rc);
        return;
    }
    /* Opened through an inode the kernel still holds for a name whose
     * document has moved on (the temporary file of an atomic save, or the
     * document's incarnation before it was replaced under open handles):
     * that inode's page cache belongs to other content, so this handle
     * reads and writes past it. */
    if (h->node && !h->version_file && tree_nodeid(f->t, h->node) != ino) {
        /* Through an inode the kernel still holds for a name whose content
         * has moved on (a lookup that raced with a save): that inode's
         * cache and size are another content's, so this handle reads and
         * writes past them (no shared mmap through it, ENODEV). */
        fi->direct_io = 1;
        h->foreign = 1;
    }
    tree_inodes_release(f->t);
    fi->fh = (uintptr_t)h;
    if (fuse_reply_open(req, fi) != 0)
        tree_release(f->t, h);
}

/* Each FUSE worker thread keeps the buffer its reads are answered from.
 * Allocated and freed for each request, a buffer of a large read (1 MiB)
 * went back to the system at every free (the daemon has one malloc arena,
 * whose top is trimmed) and its pages were faulted in again by the next
 * read's decryption: a cold read of 1 GiB took tens of thousands of page
 * faults, 5 % of the daemon's time. */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

struct read_buf {
    size_t cap;
    char data[];
};

static void read_buf_key_make(void)
{
    if (pthread_key_create(&read_buf_key, free) != 0)
        abort();
}

static char *read_buf_get(size_t size)
{
    pthread_once(&read_buf_once, read_buf_key_make);
    struct read_buf *b = pthread_getspecific(read_buf_key);
    if (b && b->cap >= size)
        return b->data;
    size_t cap = (size + 65535) & ~(size_t)65535;
    struct read_buf *nb = malloc(sizeof *nb + cap);
    if (!nb)
        return NULL;
    nb->cap = cap;
    if (pthread_setspecific(read_buf_key, nb) != 0) {
        free(nb);
        return NULL;
    }
    free(b);
    return nb->data;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    char *buf = read_buf_get(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct tree_handle *h = hold(fi);
    ssize_t n = tree_read(fs_of(req)->t, h, buf, size, (uint64_t)off);
    unhold(req, h);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                     off_t off, struct fuse_file_info *fi)
{
    struct tree_handle *h = hold(fi);
    ssize_t n = tree_write(fs_of(req)->t, h, buf, size, (uint64_t)off);
    unhold(req, h);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct tree_handle *h = hold(fi);
    int rc = tree_flush(fs_of(req)->t, h);
    unhold(req, h);
    reply_status(req, rc);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
    struct tree_handle *h = hold(fi);
    int rc = tree_fsync(fs_of(req)->t, h);
    unhold(req, h);
    reply_status(req, rc);
}

/* A directory's changes are committed when made; fsync of it makes every
 * commit so far durable, as fsync of a document does. */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi)
{
    reply_status(req, store_fsync(fs_of(req)->s));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct tree_handle *h = fh(fi);
    pthread_mutex_lock(&handle_mu);
    h->fs_released = 1;
    int gone = h->fs_busy == 0;
    pthread_mutex_unlock(&handle_mu);
    reply_status(req, gone ? tree_release(fs_of(req)->t, h) : 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    char from[TREE_PATH_MAX], to[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, from);
    if (rc == 0)
        rc = child_path(req, newparent, newname, to);
    if (rc == 0)
        rc = tree_rename(fs_of(req)->t, &a, from, to, flags);
    reply_status(req, rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, path);
    if (rc == 0)
        rc = tree_unlink(fs_of(req)->t, &a, path);
    reply_status(req, rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = child_path(req, parent, name, path);
    if (rc == 0)
        rc = tree_rmdir(fs_of(req)->t, &a, path);
    reply_status(req, rc);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st;
    if (statvfs(fs_of(req)->s->dir, &st) != 0) {
        fuse_reply_err(req, errno);
        return;
    }
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
}

/* Replies to getxattr/listxattr: the size when asked for 0 bytes, else
 * the bytes (ERANGE from the tree when they do not fit). */
static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

/* getxattr (name set) and listxattr (name NULL): a buffer of the size
 * asked for, filled by the tree, answered by reply_xattr. */
static void xattr_read(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    /* casefs keeps attributes only in the user namespace.  The kernel asks
     * for security.capability before every write to a file (to know
     * whether the write must drop it): answered at once, without a
     * lookup of the inode's path. */
    if (name && strncmp(name, "user.", 5) != 0) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = ino_path(req, ino, path);
    if (rc) {
        reply_status(req, rc);
        return;
    }
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct tree *t = fs_of(req)->t;
    ssize_t n = name ? tree_getxattr(t, &a, path, name, buf, size)
                     : tree_listxattr(t, &a, path, buf, size);
    reply_xattr(req, n, buf, size);
    free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    xattr_read(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    xattr_read(req, ino, NULL, size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        const char *value, size_t size, int flags)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = ino_path(req, ino, path);
    if (rc == 0)
        rc = tree_setxattr(fs_of(req)->t, &a, path, name, value, size, flags);
    reply_status(req, rc);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    char path[TREE_PATH_MAX];
    struct store_actor a;
    actor_of(req, &a);
    int rc = ino_path(req, ino, path);
    if (rc == 0)
        rc = tree_removexattr(fs_of(req)->t, &a, path, name);
    reply_status(req, rc);
}

static const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .access = op_access,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .symlink = op_symlink,
    .link = op_link,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .fsyncdir = op_fsyncdir,
    .release = op_release,
    .rename = op_rename,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
};

/* Commits are not flushed (store.h): within SYNC_DELAY_MS of a commit the
 * syncer makes it durable, so a close reaches the disk within a second
 * (DESIGN.md, "Durability") and a burst of closes shares one flush. */
#define SYNC_DELAY_MS 200
static void *syncer_main(void *arg)
{
    struct fs *f = arg;
    pthread_mutex_lock(&f->sync_mu);
    while (!f->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SYNC_DELAY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->sync_cv, &f->sync_mu, &until);
        pthread_mutex_unlock(&f->sync_mu);
        if (store_sync_due(f->s) && store_sync(f->s) != 0)
            fprintf(stderr, "casefs: flushing the store failed: the mount refuses "
                            "changes from now on; unmount and run 'casefs verify'\n");
        pthread_mutex_lock(&f->sync_mu);
    }
    pthread_mutex_unlock(&f->sync_mu);
    return NULL;
}

static void fs_free(struct fs *f)
{
    if (!f)
        return;
    if (f->syncer_started) {
        pthread_mutex_lock(&f->sync_mu);
        f->stopping = 1;
        pthread_cond_signal(&f->sync_cv);
        pthread_mutex_unlock(&f->sync_mu);
        pthread_join(f->syncer, NULL);
    }
    if (f->se)
        fuse_session_destroy(f->se);
    tree_free(f->t);
    store_close(f->s);
    pthread_mutex_destroy(&f->sync_mu);
    pthread_cond_destroy(&f->sync_cv);
    free(f);
}

/* mountinfo writes a space, tab, newline and backslash in a path as an
 * octal escape; undoes that in place. */
static void mountinfo_unescape(char *p)
{
    char *w = p;
    for (; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
}

/* The kernel gives a FUSE mount the smaller of its default read-ahead
 * (128 KiB) and what the daemon asks for, so a program reading a document
 * through sends one request per 128 KiB, each a round trip and a wake-up.
 * Once the kernel has taken the INIT answer (which would set it back), the
 * mount's read-ahead is raised to FS_READAHEAD_KB, the largest request the
 * daemon takes, through its device's sysfs entry (root only: otherwise the
 * default stays).  Cold 1 GiB read: 2.2-2.8 s -> 1.4-1.5 s, half the
 * daemon's system time.  The device is found in /proc/self/mountinfo:
 * looking at the mountpoint itself is a request to this daemon. */
#define FS_READAHEAD_KB "1024"
static void readahead_raise(const char *mountpoint)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char line[4352], dev[32] = "";
    while (fgets(line, sizeof line, f)) {
        unsigned maj, mnr;
        char mp[4096], type[64];
        if (sscanf(line, "%*u %*u %u:%u %*s %4095s %*[^-]- %63s", &maj, &mnr, mp, type) !=
            4)
            continue;
        mountinfo_unescape(mp);
        if (strcmp(mp, mountpoint) == 0 && strcmp(type, "fuse.casefs") == 0)
            snprintf(dev, sizeof dev, "%u:%u", maj, mnr); /* the last mount there */
    }
    fclose(f);
    if (!dev[0])
        return;
    char path[96];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, FS_READAHEAD_KB, strlen(FS_READAHEAD_KB)) < 0) {
        /* the kernel's default stays */
    }
    close(fd);
}

int fs_mount(struct store *s, const char *mountpoint, const struct fs_options *opt,
             struct fs **out, char *err, size_t errlen)
{
    /* The daemon's threads (FUSE workers, spills, decryption helpers)
     * allocate and free the pages of documents being written, chunks being
     * cut and LMDB's dirty pages, often one thread freeing what another
     * allocated.  With an arena per thread each arena kept its own free
     * pages resident: streaming 1 GiB in, five arenas and the heap held
     * 34-50 MiB and the peak was 61-74 MiB; with one arena, 25-27 MiB and
     * 54 MiB, at the same speed (the threads seldom allocate at once).
     * Freed memory stays in that arena up to 16 MiB, and blocks up to 4
     * MiB come from it: LMDB's pages of a chunk (up to 68 KiB), allocated
     * and freed at every commit, were given back to the system at the
     * top of the heap and faulted in again by the next commit (streaming
     * 1 GiB in: 66-81 thousand page faults, 37 thousand now; 5.5 s against
     * 6.2 s, peak 53 MiB against 52). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    struct fs *f = calloc(1, sizeof *f);
    if (!f) {
        store_close(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->s = s;
    s->sync_each_commit = opt->sync_close;
    pthread_mutex_init(&f->sync_mu, NULL);
    pthread_cond_init(&f->sync_cv, NULL);
    int rc = tree_new(s, &f->t);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        fs_free(f);
        return rc;
    }
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    char base[256];
    snprintf(base, sizeof base, "fsname=casefs,subtype=casefs%s",
             geteuid() == 0 ? ",allow_other" : "");
    if (fuse_opt_add_arg(&args, "casefs") || fuse_opt_add_arg(&args, "-o") ||
        fuse_opt_add_arg(&args, base) ||
        (opt->extra && *opt->extra &&
         (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opt->extra)))) {
        snprintf(err, errlen, "out of memory");
        fuse_opt_free_args(&args);
        fs_free(f);
        return -ENOMEM;
    }
    f->se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, f);
    fuse_opt_free_args(&args);
    if (!f->se) {
        snprintf(err, errlen, "libfuse refused the mount options; check the -o options");
        fs_free(f);
        return -EINVAL;
    }
    if (fuse_session_mount(f->se, mountpoint) != 0) {
        snprintf(err, errlen,
                 "the kernel refused to mount on %s; check that /dev/fuse is usable "
                 "and the mountpoint is an empty folder",
                 mountpoint);
        fs_free(f);
        return -EIO;
    }
    snprintf(f->mountpoint, sizeof f->mountpoint, "%s", mountpoint);
    struct store_actor a;
    store_actor_self(&a);
    log_append_alone(s, &a, "mount", "", 0, 0, mountpoint);
    *out = f;
    return 0;
}

static void after_init(void *arg)
{
    struct fs *f = arg;
    readahead_raise(f->mountpoint);
}

int fs_run(struct fs *f)
{
    if (fuse_set_signal_handlers(f->se) != 0) {
        fuse_session_unmount(f->se);
        fs_free(f);
        return -EIO;
    }
    if (pthread_create(&f->syncer, NULL, syncer_main, f) == 0)
        f->syncer_started = 1;
    int rc = loop_run(f->se, after_init, f);
    fuse_remove_signal_handlers(f->se);
    fuse_session_unmount(f->se);
    struct store_actor a;
    store_actor_self(&a);
    log_append_alone(f->s, &a, "umount", "", 0, 0, "");
    fs_free(f);
    return rc == 0 ? 0 : -EIO;
}
