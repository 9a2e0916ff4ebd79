/*
 * fs — see fs.h.  Each operation builds the actor from the FUSE context
 * (uid, gid, pid and, for non-root callers, the supplementary groups),
 * calls the tree function and returns its result.  The kernel's own
 * permission checks are off (no default_permissions): casefs checks and
 * logs every refusal itself.  A background thread forces committed
 * transactions to disk every second.
 */
#define FUSE_USE_VERSION 312
#include "fs/fs.h"

#include <errno.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store/log.h"
#include "store/tree.h"

struct fs {
    struct store *s;
    struct tree *t;
    struct fuse *fuse;
    pthread_t syncer;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int stopping;
    int syncer_started;
};

static struct fs *fs_self(void)
{
    return fuse_get_context()->private_data;
}

static void actor_now(struct store_actor *a)
{
    struct fuse_context *c = fuse_get_context();
    store_actor_fill(a, c->uid, c->gid, (uint32_t)c->pid);
    if (c->uid != 0) {
        int n = fuse_getgroups(STORE_GROUPS_MAX, a->groups);
        a->ngroups = n < 0 ? 0 : n > STORE_GROUPS_MAX ? STORE_GROUPS_MAX : n;
    } else {
        a->ngroups = 0;
    }
}

static struct tree_handle *fh(struct fuse_file_info *fi)
{
    return fi ? (struct tree_handle *)(uintptr_t)fi->fh : NULL;
}

/* The path of a request that came with a handle only (nullpath_ok). */
static const char *path_or_handle(const char *path, struct fuse_file_info *fi, char *buf,
                                  size_t len)
{
    if (path)
        return path;
    if (fi && fi->fh && tree_handle_path(fs_self()->t, fh(fi), buf, len) == 0)
        return buf;
    return NULL;
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

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    cfg->use_ino = 1;
    cfg->readdir_ino = 1;
    cfg->hard_remove = 1; /* no .fuse_hidden renames: removal is a request */
    cfg->nullpath_ok = 1;
    cfg->entry_timeout = 1.0;
    cfg->attr_timeout = 1.0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC; /* O_TRUNC is part of the save */
    return fuse_get_context()->private_data;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    struct store_actor a;
    struct tree_attr at;
    actor_now(&a);
    int rc = tree_getattr(fs_self()->t, &a, path, fh(fi), &at);
    if (rc == 0)
        stat_of(&at, st);
    return rc;
}

static int op_access(const char *path, int mask)
{
    struct store_actor a;
    actor_now(&a);
    return mask == F_OK ? tree_access(fs_self()->t, &a, path, 0)
                        : tree_access(fs_self()->t, &a, path, mask);
}

struct fill_ctx {
    void *buf;
    fuse_fill_dir_t filler;
};

static int fill_one(void *arg, const char *name, const struct tree_attr *at)
{
    struct fill_ctx *c = arg;
    struct stat st;
    if (at)
        stat_of(at, &st);
    return c->filler(c->buf, name, at ? &st : NULL, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    struct store_actor a;
    actor_now(&a);
    struct fill_ctx c = {buf, filler};
    if (!path)
        path = (const char *)(uintptr_t)fi->fh; /* kept by opendir */
    return tree_readdir(fs_self()->t, &a, path, fill_one, &c);
}

static int op_mkdir(const char *path, mode_t mode)
{
    struct store_actor a;
    actor_now(&a);
    return tree_mkdir(fs_self()->t, &a, path, mode);
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
    return -EPERM; /* device nodes and FIFOs have no place in a case */
}

static int op_symlink(const char *target, const char *path)
{
    return -EPERM;
}

static int op_link(const char *from, const char *to)
{
    return -EPERM; /* one name, one history: no hard links */
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct store_actor a;
    struct tree_handle *h;
    actor_now(&a);
    int rc = tree_create(fs_self()->t, &a, path, mode, fi->flags, &h);
    if (rc == 0)
        fi->fh = (uintptr_t)h;
    return rc;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    struct store_actor a;
    struct tree_handle *h;
    actor_now(&a);
    int rc = tree_open(fs_self()->t, &a, path, fi->flags, &h);
    if (rc == 0)
        fi->fh = (uintptr_t)h;
    return rc;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    return (int)tree_read(fs_self()->t, fh(fi), buf, size, (uint64_t)off);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    return (int)tree_write(fs_self()->t, fh(fi), buf, size, (uint64_t)off);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    struct store_actor a;
    actor_now(&a);
    if (size < 0)
        return -EINVAL;
    return tree_truncate(fs_self()->t, &a, path, fh(fi), (uint64_t)size);
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
    return tree_flush(fs_self()->t, fh(fi));
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    return tree_fsync(fs_self()->t, fh(fi));
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    return tree_release(fs_self()->t, fh(fi));
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    fi->fh = (uintptr_t)copy;
    return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
    free((char *)(uintptr_t)fi->fh);
    return 0;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
    struct store_actor a;
    actor_now(&a);
    return tree_rename(fs_self()->t, &a, from, to, flags);
}

static int op_unlink(const char *path)
{
    struct store_actor a;
    actor_now(&a);
    return tree_unlink(fs_self()->t, &a, path);
}

static int op_rmdir(const char *path)
{
    struct store_actor a;
    actor_now(&a);
    return tree_rmdir(fs_self()->t, &a, path);
}

static int op_utimens(const char *path, const struct timespec tv[2],
                      struct fuse_file_info *fi)
{
    struct store_actor a;
    actor_now(&a);
    char buf[4096];
    path = path_or_handle(path, fi, buf, sizeof buf);
    if (!path)
        return -ENOENT;
    return tree_utimens(fs_self()->t, &a, path, tv);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct store_actor a;
    actor_now(&a);
    char buf[4096];
    path = path_or_handle(path, fi, buf, sizeof buf);
    if (!path)
        return -ENOENT;
    return tree_chmod(fs_self()->t, &a, path, mode);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    struct store_actor a;
    actor_now(&a);
    char buf[4096];
    path = path_or_handle(path, fi, buf, sizeof buf);
    if (!path)
        return -ENOENT;
    return tree_chown(fs_self()->t, &a, path, uid, gid);
}

static int op_statfs(const char *path, struct statvfs *st)
{
    if (statvfs(fs_self()->s->dir, st) != 0)
        return -errno;
    st->f_namemax = 255;
    return 0;
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size)
{
    struct store_actor a;
    actor_now(&a);
    return (int)tree_getxattr(fs_self()->t, &a, path, name, value, size);
}

static int op_listxattr(const char *path, char *list, size_t size)
{
    struct store_actor a;
    actor_now(&a);
    return (int)tree_listxattr(fs_self()->t, &a, path, list, size);
}

static int op_setxattr(const char *path, const char *name, const char *value, size_t size,
                       int flags)
{
    struct store_actor a;
    actor_now(&a);
    return tree_setxattr(fs_self()->t, &a, path, name, value, size, flags);
}

static int op_removexattr(const char *path, const char *name)
{
    struct store_actor a;
    actor_now(&a);
    return tree_removexattr(fs_self()->t, &a, path, name);
}

static const struct fuse_operations fs_ops = {
    .init = fs_init,
    .getattr = op_getattr,
    .access = op_access,
    .readdir = op_readdir,
    .opendir = op_opendir,
    .releasedir = op_releasedir,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .symlink = op_symlink,
    .link = op_link,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .truncate = op_truncate,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .rename = op_rename,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .utimens = op_utimens,
    .chmod = op_chmod,
    .chown = op_chown,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
};

/* Forces commits to disk once a second (DESIGN.md, "Durability"). */
static void *syncer_main(void *arg)
{
    struct fs *f = arg;
    pthread_mutex_lock(&f->sync_mu);
    while (!f->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&f->sync_cv, &f->sync_mu, &until);
        pthread_mutex_unlock(&f->sync_mu);
        store_sync(f->s);
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
    if (f->fuse)
        fuse_destroy(f->fuse);
    tree_free(f->t);
    store_close(f->s);
    pthread_mutex_destroy(&f->sync_mu);
    pthread_cond_destroy(&f->sync_cv);
    free(f);
}

int fs_mount(struct store *s, const char *mountpoint, const struct fs_options *opt,
             struct fs **out, char *err, size_t errlen)
{
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
    f->fuse = fuse_new(&args, &fs_ops, sizeof fs_ops, f);
    fuse_opt_free_args(&args);
    if (!f->fuse) {
        snprintf(err, errlen, "libfuse refused the mount options; check the -o options");
        fs_free(f);
        return -EINVAL;
    }
    if (fuse_mount(f->fuse, mountpoint) != 0) {
        snprintf(err, errlen,
                 "the kernel refused to mount on %s; check that /dev/fuse is usable "
                 "and the mountpoint is an empty folder",
                 mountpoint);
        fuse_destroy(f->fuse);
        f->fuse = NULL;
        fs_free(f);
        return -EIO;
    }
    struct store_actor a;
    store_actor_self(&a);
    log_append_alone(s, &a, "mount", "", 0, 0, mountpoint);
    *out = f;
    return 0;
}

int fs_run(struct fs *f)
{
    struct fuse_session *se = fuse_get_session(f->fuse);
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_unmount(f->fuse);
        fs_free(f);
        return -EIO;
    }
    if (pthread_create(&f->syncer, NULL, syncer_main, f) == 0)
        f->syncer_started = 1;
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 16);
    fuse_loop_cfg_set_idle_threads(cfg, 4);
    int rc = fuse_loop_mt(f->fuse, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_remove_signal_handlers(se);
    fuse_unmount(f->fuse);
    struct store_actor a;
    store_actor_self(&a);
    log_append_alone(f->s, &a, "umount", "", 0, 0, "");
    fs_free(f);
    return rc == 0 ? 0 : -EIO;
}
