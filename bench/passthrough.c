/*
 * passthrough — the FUSE floor of `make bench`: a plain pass-through of a
 * backing folder through the same libfuse (low-level API, multithreaded,
 * same timeouts and request sizes as casefs), doing nothing but the
 * system calls.  What casefs costs above it is casefs's own work.
 *
 *   passthrough BACKING MOUNTPOINT [-f]
 *
 * Inode numbers are the backing files' own; a lookup opens an O_PATH
 * descriptor that stays until the kernel forgets the inode.
 */
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define TIMEOUT 1.0

struct inode {
    int fd; /* O_PATH */
    ino_t ino;
    dev_t dev;
    uint64_t nlookup;
    struct inode *next; /* in its hash bucket */
};

/* Known inodes by backing inode number (a tree of 100,000 documents). */
#define BUCKETS 65536u
static struct inode *buckets[BUCKETS];
static struct inode root;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static struct inode *in_of(fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &root : (struct inode *)(uintptr_t)ino;
}

static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->attr_timeout = TIMEOUT;
    e->entry_timeout = TIMEOUT;
    int fd = openat(in_of(parent)->fd, name, O_PATH | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    pthread_mutex_lock(&mu);
    struct inode *in, **head = &buckets[e->attr.st_ino % BUCKETS];
    for (in = *head; in; in = in->next)
        if (in->ino == e->attr.st_ino && in->dev == e->attr.st_dev)
            break;
    if (in) {
        in->nlookup++;
        close(fd);
    } else {
        in = calloc(1, sizeof *in);
        if (!in) {
            pthread_mutex_unlock(&mu);
            close(fd);
            return ENOMEM;
        }
        in->fd = fd;
        in->ino = e->attr.st_ino;
        in->dev = e->attr.st_dev;
        in->nlookup = 1;
        in->next = *head;
        *head = in;
    }
    pthread_mutex_unlock(&mu);
    e->ino = (uintptr_t)in;
    return 0;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    int err = do_lookup(parent, name, &e);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_entry(req, &e);
}

static void forget_one(fuse_ino_t ino, uint64_t n)
{
    if (ino == FUSE_ROOT_ID)
        return;
    pthread_mutex_lock(&mu);
    struct inode *in = in_of(ino);
    in->nlookup -= n;
    if (in->nlookup == 0) {
        for (struct inode **p = &buckets[in->ino % BUCKETS]; *p; p = &(*p)->next)
            if (*p == in) {
                *p = in->next;
                break;
            }
        close(in->fd);
        free(in);
    }
    pthread_mutex_unlock(&mu);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    forget_one(ino, n);
    fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
    for (size_t i = 0; i < count; i++)
        forget_one(f[i].ino, f[i].nlookup);
    fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    if (fstatat(in_of(ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_attr(req, &st, TIMEOUT);
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
                       struct fuse_file_info *fi)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", in_of(ino)->fd);
    int rc = 0;
    if (valid & FUSE_SET_ATTR_MODE)
        rc = chmod(proc, attr->st_mode);
    if (!rc && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
        rc = lchown(proc, (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
                    (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1);
    if (!rc && (valid & FUSE_SET_ATTR_SIZE))
        rc = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(proc, attr->st_size);
    if (!rc && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
        struct timespec tv[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
        if (valid & FUSE_SET_ATTR_ATIME_NOW)
            tv[0].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_ATIME)
            tv[0] = attr->st_atim;
        if (valid & FUSE_SET_ATTR_MTIME_NOW)
            tv[1].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_MTIME)
            tv[1] = attr->st_mtim;
        rc = fi ? futimens((int)fi->fh, tv) : utimensat(AT_FDCWD, proc, tv, 0);
    }
    if (rc)
        fuse_reply_err(req, errno);
    else
        pt_getattr(req, ino, fi);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fuse_entry_param e;
    if (mkdirat(in_of(parent)->fd, name, mode) < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    int err = do_lookup(parent, name, &e);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_entry(req, &e);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, unlinkat(in_of(parent)->fd, name, 0) < 0 ? errno : 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, unlinkat(in_of(parent)->fd, name, AT_REMOVEDIR) < 0 ? errno : 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t np,
                      const char *newname, unsigned int flags)
{
    int rc = renameat2(in_of(parent)->fd, name, in_of(np)->fd, newname, flags);
    fuse_reply_err(req, rc < 0 ? errno : 0);
}

static int reopen(fuse_ino_t ino, int flags)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", in_of(ino)->fd);
    return open(proc, flags & ~O_NOFOLLOW);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int fd = reopen(ino, fi->flags & ~(O_CREAT | O_EXCL));
    if (fd < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    fi->fh = (uint64_t)fd;
    fuse_reply_open(req, fi);
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    int fd = openat(in_of(parent)->fd, name, (fi->flags | O_CREAT) & ~O_NOFOLLOW, mode);
    if (fd < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    struct fuse_entry_param e;
    int err = do_lookup(parent, name, &e);
    if (err) {
        close(fd);
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = (uint64_t)fd;
    fuse_reply_create(req, &e, fi);
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = (int)fi->fh;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    ssize_t n = pwrite((int)fi->fh, data, size, off);
    if (n < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_write(req, (size_t)n);
}

static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int fd = dup((int)fi->fh);
    fuse_reply_err(req, fd < 0 || close(fd) < 0 ? errno : 0);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    close((int)fi->fh);
    fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    int rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
    fuse_reply_err(req, rc < 0 ? errno : 0);
}

struct dir {
    DIR *dp;
    struct dirent *entry;
    off_t offset;
};

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int fd = openat(in_of(ino)->fd, ".", O_RDONLY | O_DIRECTORY);
    struct dir *d = calloc(1, sizeof *d);
    if (fd < 0 || !d) {
        int err = fd < 0 ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        free(d);
        fuse_reply_err(req, err);
        return;
    }
    d->dp = fdopendir(fd);
    fi->fh = (uintptr_t)d;
    fuse_reply_open(req, fi);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    struct dir *d = (struct dir *)(uintptr_t)fi->fh;
    char *buf = malloc(size), *p = buf;
    size_t rem = size;
    if (off != d->offset) {
        seekdir(d->dp, off);
        d->entry = NULL;
        d->offset = off;
    }
    for (;;) {
        if (!d->entry) {
            errno = 0;
            d->entry = readdir(d->dp);
            if (!d->entry)
                break;
        }
        struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12};
        off_t next = telldir(d->dp);
        size_t n = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, next);
        if (n > rem)
            break;
        p += n;
        rem -= n;
        d->entry = NULL;
        d->offset = next;
    }
    fuse_reply_buf(req, buf, size - rem);
    free(buf);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dir *d = (struct dir *)(uintptr_t)fi->fh;
    closedir(d->dp);
    free(d);
    fuse_reply_err(req, 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st;
    if (fstatvfs(in_of(ino)->fd, &st) < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = pt_lookup,
    .forget = pt_forget,
    .forget_multi = pt_forget_multi,
    .getattr = pt_getattr,
    .setattr = pt_setattr,
    .mkdir = pt_mkdir,
    .unlink = pt_unlink,
    .rmdir = pt_rmdir,
    .rename = pt_rename,
    .open = pt_open,
    .create = pt_create,
    .read = pt_read,
    .write = pt_write,
    .flush = pt_flush,
    .release = pt_release,
    .fsync = pt_fsync,
    .opendir = pt_opendir,
    .readdir = pt_readdir,
    .releasedir = pt_releasedir,
    .statfs = pt_statfs,
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: passthrough BACKING MOUNTPOINT [-f]\n");
        return 2;
    }
    root.fd = open(argv[1], O_PATH | O_DIRECTORY);
    if (root.fd < 0) {
        fprintf(stderr, "passthrough: cannot open %s\n", argv[1]);
        return 1;
    }
    root.nlookup = 2;
    /* One descriptor per inode the kernel knows: allow as many as we may
     * (root may raise the hard limit up to fs.nr_open). */
    struct rlimit rl = {1048576, 1048576};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char *fargs[] = {argv[0], "-o", "fsname=passthrough,allow_other", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargs);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[2]) != 0) {
        fprintf(stderr, "passthrough: cannot mount on %s\n", argv[2]);
        return 1;
    }
    int foreground = argc > 3 && strcmp(argv[3], "-f") == 0;
    fuse_daemonize(foreground);
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 16);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return rc ? 1 : 0;
}
