/*
 * store — see store.h.  Opening is split in two (store_unlock, store_open)
 * so that `casefs mount` can check the passphrase in the foreground, then
 * fork, and open the LMDB environment only in the process that uses it.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/ahead.h"
#include "store/codec.h"
#include "store/durable.h"
#include "store/log.h"
#include "store/node.h"
#include "store/par.h"
#include "store/rcache.h"
#include "store/scache.h"
#include "store/written.h"

static const char *const DB_NAMES[STORE_DB_COUNT] = {
    "meta", "nodes", "dirents", "versions", "chunks", "retractions", "log", "lists",
};
/* Four-byte tags bound into every sealed record's associated data. */
static const char *const DB_TAGS[STORE_DB_COUNT] = {
    "meta", "node", "dent", "vers", "chnk", "retr", "logv", "list",
};

#define META_FORMAT "format"
#define META_WRAPPED "wrapped-key"

void store_actor_fill(struct store_actor *a, uint32_t uid, uint32_t gid, uint32_t pid)
{
    memset(a, 0, sizeof *a);
    a->uid = uid;
    a->gid = gid;
    a->pid = pid;
    a->ngroups = -1;
}

/* User names by uid, looked up again after USER_NAME_TTL_NS: a request
 * records its actor's name, and the password database is read afresh at
 * most once a second per user instead of once per request. */
#define USER_NAME_SLOTS 16
#define USER_NAME_TTL_NS 1000000000LL

static struct {
    uint32_t uid;
    int64_t at; /* CLOCK_MONOTONIC, ns; 0: empty */
    char name[STORE_USER_MAX];
} user_names[USER_NAME_SLOTS];
static pthread_mutex_t user_names_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void user_name_of(uint32_t uid, char out[STORE_USER_MAX])
{
    int64_t now = mono_ns();
    unsigned slot = uid % USER_NAME_SLOTS;
    pthread_mutex_lock(&user_names_mu);
    if (user_names[slot].at && user_names[slot].uid == uid &&
        now - user_names[slot].at < USER_NAME_TTL_NS) {
        memcpy(out, user_names[slot].name, STORE_USER_MAX);
        pthread_mutex_unlock(&user_names_mu);
        return;
    }
    pthread_mutex_unlock(&user_names_mu);
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, STORE_USER_MAX, "%s", res->pw_name);
    else
        snprintf(out, STORE_USER_MAX, "%u", uid);
    pthread_mutex_lock(&user_names_mu);
    user_names[slot].uid = uid;
    user_names[slot].at = now;
    memcpy(user_names[slot].name, out, STORE_USER_MAX);
    pthread_mutex_unlock(&user_names_mu);
}

/* The process name is read afresh every time: a process keeps its pid
 * across exec, and the log must name the program that acted.  What is
 * kept is the open /proc/PID/comm of recent processes: a read of it gives
 * the process's name of the moment (after an exec too), and fails once
 * the process is gone, even when a new process has the same pid since;
 * it is then opened again.  (A tar x of 8,900 files named its actor
 * 44,000 times, each an open, a read and a close.) */
#define COMM_SLOTS 32
static struct {
    uint32_t pid;
    int open; /* fd is open on pid's comm */
    int fd;
} comms[COMM_SLOTS];
static pthread_mutex_t comms_mu = PTHREAD_MUTEX_INITIALIZER;

static ssize_t comm_read(uint32_t pid, char *buf, size_t len)
{
    unsigned slot = pid % COMM_SLOTS;
    ssize_t n = -1;
    pthread_mutex_lock(&comms_mu);
    if (comms[slot].open && comms[slot].pid == pid)
        n = pread(comms[slot].fd, buf, len, 0);
    if (n < 0) {
        if (comms[slot].open)
            close(comms[slot].fd);
        char path[64];
        snprintf(path, sizeof path, "/proc/%u/comm", pid);
        comms[slot].fd = open(path, O_RDONLY | O_CLOEXEC);
        comms[slot].open = comms[slot].fd >= 0;
        comms[slot].pid = pid;
        if (comms[slot].open)
            n = pread(comms[slot].fd, buf, len, 0);
    }
    pthread_mutex_unlock(&comms_mu);
    return n;
}

void store_actor_name(struct store_actor *a)
{
    if (a->named)
        return;
    user_name_of(a->uid, a->user);
    ssize_t n = comm_read(a->pid, a->process, sizeof a->process - 1);
    a->process[n > 0 ? n : 0] = '\0';
    a->process[strcspn(a->process, "\n")] = '\0';
    a->named = 1;
}

const struct store_actor *store_actor_named(const struct store_actor *a,
                                            struct store_actor *tmp)
{
    if (a->named)
        return a;
    *tmp = *a;
    store_actor_name(tmp);
    return tmp;
}

void store_actor_self(struct store_actor *a)
{
    store_actor_fill(a, (uint32_t)getuid(), (uint32_t)getgid(), (uint32_t)getpid());
    store_actor_name(a);
}

int store_mdb_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
    case ENOSPC:
        return -ENOSPC;
    case ENOMEM:
        return -ENOMEM;
    case EACCES:
        return -EACCES;
    default:
        return -EIO;
    }
}

/* Before LMDB reads the data file: a power loss may have left its newest
 * meta page ahead of what reached the disk (store/durable.h). */
static int env_recover(const char *dir)
{
    char boot[DURABLE_BOOT_BYTES];
    uint64_t from, to;
    int rc = durable_boot_id(boot);
    if (rc == 0)
        rc = durable_recover(dir, boot, &from, &to);
    if (rc == -EROFS)
        fprintf(stderr,
                "casefs: %s: the machine stopped before the store's last changes "
                "reached the disk; open it once with write access to set it back to "
                "its last durable point\n",
                dir);
    if (rc)
        return rc == -EPROTO ? -EPROTO : -EIO;
    if (from != to)
        fprintf(stderr,
                "casefs: %s: the machine stopped before transactions %llu to %llu "
                "reached the disk; the store is back at transaction %llu, whole, "
                "and its log says so\n",
                dir, (unsigned long long)to + 1, (unsigned long long)from,
                (unsigned long long)to);
    return 0;
}

static int env_open(const char *dir, unsigned flags, MDB_env **out)
{
    int rc = env_recover(dir);
    if (rc)
        return rc;
    MDB_env *env;
    rc = mdb_env_create(&env);
    if (rc)
        return store_mdb_err(rc);
    mdb_env_set_maxdbs(env, STORE_DB_COUNT + 4);
    mdb_env_set_mapsize(env, STORE_MAP_SIZE);
    mdb_env_set_maxreaders(env, 256);
    /* Writable: commits are not flushed; store_sync makes them durable. */
    unsigned envflags = MDB_NOTLS | MDB_NOMETASYNC | MDB_NOSYNC;
    if (flags & STORE_OPEN_RDONLY)
        envflags = MDB_NOTLS | MDB_RDONLY;
    rc = mdb_env_open(env, dir, envflags, 0600);
    if (rc) {
        mdb_env_close(env);
        return rc == ENOENT ? -ENOENT : store_mdb_err(rc);
    }
    /* Reader slots left by a killed process would pin old pages forever. */
    int dead = 0;
    mdb_reader_check(env, &dead);
    *out = env;
    return 0;
}

static int dir_has_store(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    return stat(path, &st) == 0;
}

int store_probe(const char *dir, uint32_t *found)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || !dir_has_store(dir))
        return -ENOENT;
    MDB_env *env;
    int rc = env_open(dir, STORE_OPEN_RDONLY, &env);
    if (rc)
        return rc == -ENOENT ? -ENOENT : -EIO;
    MDB_txn *txn;
    MDB_dbi dbi;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, DB_NAMES[STORE_DB_META], 0, &dbi);
        MDB_val k = {strlen(META_FORMAT), (void *)META_FORMAT}, v;
        if (rc == 0)
            rc = mdb_get(txn, dbi, &k, &v);
        if (rc == 0) {
            if (v.mv_size != 4) {
                rc = -EPROTO;
                if (found)
                    *found = 0;
            } else {
                uint32_t ver = codec_be32_get(v.mv_data);
                if (found)
                    *found = ver;
                rc = ver >= STORE_FORMAT_OLDEST && ver <= STORE_FORMAT_VERSION ? 0
                                                                               : -EPROTO;
            }
        } else {
            rc = -EIO;
        }
        mdb_txn_abort(txn);
    } else {
        rc = -EIO;
    }
    mdb_env_close(env);
    return rc;
}

int store_unlock(const char *dir, const char *pass, size_t len, struct keys **out)
{
    int rc = store_probe(dir, NULL);
    if (rc)
        return rc;
    if (keys_init())
        return -EIO;
    MDB_env *env;
    rc = env_open(dir, STORE_OPEN_RDONLY, &env);
    if (rc)
        return rc;
    MDB_txn *txn;
    MDB_dbi dbi;
    struct keys_wrapped w;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, DB_NAMES[STORE_DB_META], 0, &dbi);
        MDB_val k = {strlen(META_WRAPPED), (void *)META_WRAPPED}, v;
        if (rc == 0)
            rc = mdb_get(txn, dbi, &k, &v);
        if (rc == 0)
            rc = keys_wrapped_decode(v.mv_data, v.mv_size, &w) ? -EIO : 0;
        else
            rc = -EIO;
        mdb_txn_abort(txn);
    } else {
        rc = -EIO;
    }
    mdb_env_close(env);
    if (rc)
        return rc;
    return keys_unwrap(&w, pass, len, out);
}

/* Finds LMDB's map of data.mdb in /proc/self/maps (LMDB does not tell
 * where it is unless MDB_FIXEDMAP). */
static void map_find(struct store *s)
{
    s->map_addr = NULL;
    s->map_len = 0;
    int fd = -1;
    struct stat st;
    if (mdb_env_get_fd(s->env, &fd) || fstat(fd, &st))
        return;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[4352];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, ino;
        unsigned maj, mnr;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &maj, &mnr, &ino) == 5 &&
            ino == (unsigned long)st.st_ino && makedev(maj, mnr) == st.st_dev) {
            s->map_addr = (void *)lo;
            s->map_len = hi - lo;
            s->map_fd = fd;
            if (s->statm_fd < 0)
                s->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
            break;
        }
    }
    fclose(f);
}

static int sync_point(struct store *s, int one_flush);

/* Starts the write-out of the pages commits left dirty in data.mdb, past
 * the two meta pages (a meta page is rewritten by every commit: it goes
 * with the flush).  Writing a later transaction's pages early is what the
 * kernel's own write-back may do at any time: the pin keeps the durable
 * point whole (durable.h).  Nothing waits for these writes. */
static void *write_behind_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->wb_mu);
    for (;;) {
        while (!s->wb_pending && !s->wb_stop)
            pthread_cond_wait(&s->wb_cv, &s->wb_mu);
        if (s->wb_stop)
            break;
        s->wb_pending = 0;
        pthread_mutex_unlock(&s->wb_mu);
        sync_file_range(s->datafd, 2 * (off_t)s->psize, 0, SYNC_FILE_RANGE_WRITE);
        pthread_mutex_lock(&s->wb_mu);
    }
    pthread_mutex_unlock(&s->wb_mu);
    return NULL;
}

static uint64_t coarse_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Only while clients ask for flushes: a commit then is likely to be
 * flushed soon, by the next fsync.  Without them (a tar x, a copy) the
 * durable point every fraction of a second writes many commits' pages in
 * one go, and a write-out per commit would only cost time. */
static int write_behind_due(struct store *s)
{
    uint64_t asked = __atomic_load_n(&s->fsync_ms, __ATOMIC_RELAXED);
    return asked && coarse_ms() - asked < STORE_WRITE_BEHIND_MS;
}

static void write_behind_poke(struct store *s)
{
    if (!s->wb_started)
        return;
    pthread_mutex_lock(&s->wb_mu);
    if (!s->wb_pending) {
        s->wb_pending = 1;
        pthread_cond_signal(&s->wb_cv);
    }
    pthread_mutex_unlock(&s->wb_mu);
}

static void write_behind_stop(struct store *s)
{
    if (!s->wb_started)
        return;
    pthread_mutex_lock(&s->wb_mu);
    s->wb_stop = 1;
    pthread_cond_signal(&s->wb_cv);
    pthread_mutex_unlock(&s->wb_mu);
    pthread_join(s->wb_thread, NULL);
    s->wb_started = 0;
}

/* Whether an ext4 file system on device dev journals its data: its
 * options in /proc/fs/ext4/NAME/options, which lists all of them
 * (mountinfo leaves out those the superblock makes the default, as
 * tune2fs -o journal_data does), else in /proc/self/mountinfo.  -1: not
 * found. */
static int ext4_journals_data(dev_t dev)
{
    char path[320], link[256], line[4096];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u", major(dev), minor(dev));
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) {
        link[n] = '\0';
        const char *name = strrchr(link, '/');
        snprintf(path, sizeof path, "/proc/fs/ext4/%s/options", name ? name + 1 : link);
        FILE *f = fopen(path, "re");
        if (f) {
            int journal = 0, found = 0;
            while (fgets(line, sizeof line, f)) {
                if (strncmp(line, "data=", 5) == 0)
                    found = 1;
                if (strcmp(line, "data=journal\n") == 0)
                    journal = 1;
            }
            fclose(f);
            if (found)
                return journal;
        }
    }
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    /* "id parent major:minor root point options - type source super-options" */
    int found = 0, journal = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned maj, min;
        if (sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2 || maj != major(dev) ||
            min != minor(dev))
            continue;
        found = 1;
        const char *super = strstr(line, " - ");
        if (super && strstr(super, "data=journal"))
            journal = 1;
    }
    fclose(f);
    return found ? journal : -1;
}

/* Whether a write of the durable file that is not followed by its own
 * fdatasync (durable_write_checked) is durable after any later flush of
 * the device: only where a block is written in place, with no metadata
 * to commit.  ext2/3/4 write in place, except with data=journal, where
 * the data goes through the journal (for the file system, or for the
 * durable file alone: chattr +j), and for a durable file with holes
 * (durable_in_place); tmpfs keeps nothing over a power loss either way.
 * Elsewhere (btrfs, xfs with shared blocks, network file systems) each
 * point takes two flushes. */
static int one_flush_safe(int fd)
{
    struct statfs sf;
    struct stat st;
    if (fstatfs(fd, &sf) != 0 || fstat(fd, &st) != 0)
        return 0;
    if ((unsigned long)sf.f_type == 0x01021994UL) /* tmpfs */
        return 1;
    if ((unsigned long)sf.f_type != 0xEF53UL) /* ext2, ext3, ext4 */
        return 0;
    return ext4_journals_data(st.st_dev) == 0 && durable_in_place(fd);
}

/* Writable stores: no commit before the first durable point and its pin. */
static int durable_start(struct store *s)
{
    MDB_stat st;
    if (mdb_env_get_fd(s->env, &s->datafd) || mdb_env_stat(s->env, &st))
        return -EIO;
    s->psize = st.ms_psize;
    int rc = durable_boot_id(s->boot);
    if (rc)
        return -EIO;
    s->durable_fd = durable_open(s->dir, 1);
    if (s->durable_fd < 0)
        return s->durable_fd;
    /* A flush of the data file failed in this boot (durable.h): refused,
     * until a recovery in a new boot has taken the store back to its last
     * durable point. */
    struct stat dst;
    if (fstat(s->datafd, &dst) != 0)
        return -errno;
    rc = durable_held(s->durable_fd, s->boot, (uint64_t)dst.st_ino);
    if (rc)
        return rc > 0 ? -EUCLEAN : rc;
    s->writable = 1;
    s->written = written_watch(s->datafd, s->psize);
    s->one_flush = one_flush_safe(s->durable_fd);
    pthread_mutex_lock(&s->sync_mu);
    rc = sync_point(s, 0);
    pthread_mutex_unlock(&s->sync_mu);
    /* Without the thread commits are only written at the flush. */
    if (rc == 0 && pthread_create(&s->wb_thread, NULL, write_behind_main, s) == 0)
        s->wb_started = 1;
    return rc;
}

/* A recovery's notice of undone transactions, in the log (durable.h),
 * once: two writable opens at once may both have read the notice before
 * either cleared it.  The entry's transaction also records the range it
 * told of (meta `recovered`); a range already told of is not told again
 * (a later recovery cannot undo the same range: the entry was made
 * durable, so the store never goes back past it). */
#define META_RECOVERED "recovered"
int store_log_undone(void *arg, uint64_t from, uint64_t to, int write_error)
{
    struct store *s = arg;
    struct store_actor me;
    store_actor_self(&me);
    char detail[200];
    snprintf(detail, sizeof detail,
             "%s: transactions %llu to %llu had not reached the disk and are "
             "undone; the store is as of transaction %llu",
             write_error ? "a write to the store file failed" : "power loss",
             (unsigned long long)to + 1, (unsigned long long)from, (unsigned long long)to);
    uint8_t range[16];
    codec_be64_put(range, from);
    codec_be64_put(range + 8, to);
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(META_RECOVERED), (void *)META_RECOVERED}, v;
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc == 0 && v.mv_size == sizeof range && memcmp(v.mv_data, range, sizeof range) == 0) {
        store_txn_abort(txn); /* told by the other open; durable below */
    } else {
        rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
        if (rc == 0)
            rc = log_append(s, txn, &me, "recover", "", 0, 0, detail);
        v.mv_size = sizeof range;
        v.mv_data = range;
        if (rc == 0)
            rc = store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0));
        if (rc) {
            store_txn_abort(txn);
            return rc;
        }
        if ((rc = store_txn_commit(s, txn)) != 0)
            return rc;
    }
    /* Durable before the notice is cleared: a second power loss must not
     * take the entry and leave the notice gone. */
    return store_sync(s);
}

/* Format 1 had no durable file: the first writable open adds it (done by
 * durable_start) and records format 2. */
static int format_upgrade(struct store *s)
{
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(META_FORMAT), (void *)META_FORMAT}, v;
    rc = store_mdb_err(mdb_get(txn, s->dbi[STORE_DB_META], &k, &v));
    uint32_t from = rc == 0 && v.mv_size == 4 ? codec_be32_get(v.mv_data) : 0;
    if (rc == 0 && v.mv_size == 4 && from < STORE_FORMAT_VERSION) {
        uint8_t fmt[4];
        codec_be32_put(fmt, STORE_FORMAT_VERSION);
        v.mv_size = 4;
        v.mv_data = fmt;
        rc = store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0));
        struct store_actor me;
        store_actor_self(&me);
        /* 2: durable points; 3: chunk lists in segments ("lists"); 4:
         * durable records that list pages (durable_upgrade, after) */
        static const char *const added[] = {
            "durable points, list segments, durable records with pages",
            "durable points, list segments, durable records with pages",
            "list segments, durable records with pages",
            "durable records with pages",
        };
        char detail[96];
        snprintf(detail, sizeof detail, "store format %u to %u: %s", (unsigned)from,
                 STORE_FORMAT_VERSION, added[from < 3 ? from : 3]);
        if (rc == 0)
            rc = log_append(s, txn, &me, "upgrade", "", 0, 0, detail);
        if (rc == 0)
            return store_txn_commit(s, txn);
    }
    store_txn_abort(txn);
    return rc;
}

static int store_open_env(const char *dir, struct keys *keys, unsigned flags, int create,
                          struct store **out)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        keys_free(keys);
        return -ENOMEM;
    }
    s->keys = keys;
    s->durable_fd = -1;
    s->datafd = -1;
    s->map_fd = -1;
    s->direct_fd = -1;
    s->statm_fd = -1;
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->advice_mu, NULL);
    pthread_mutex_init(&s->wb_mu, NULL);
    pthread_cond_init(&s->wb_cv, NULL);
    s->seg_min = STORE_SEG_MIN;
    s->seg_max = STORE_SEG_MAX;
    s->seg_mask = STORE_SEG_MASK;
    s->seg_bytes_max = STORE_SEG_BYTES_MAX;
    s->dir = strdup(dir);
    s->par = par_new(0);
    s->rcache = rcache_new();
    s->scache = scache_new();
    int rc = s->dir && s->par ? env_open(dir, flags, &s->env) : -ENOMEM;
    if (rc == 0 && !(flags & STORE_OPEN_RDONLY))
        rc = durable_start(s);
    if (rc) {
        store_close(s);
        return rc;
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, (flags & STORE_OPEN_RDONLY) ? MDB_RDONLY : 0, &txn);
    for (int i = 0; rc == 0 && i < STORE_DB_COUNT; i++) {
        /* A store of format 1 or 2 has no "lists": a writable open makes
         * it (format_upgrade records the change); read-only, no record
         * can name a segment, and reading one is refused (-EIO). */
        int make = create || (i == STORE_DB_LISTS && !(flags & STORE_OPEN_RDONLY));
        rc = mdb_dbi_open(txn, DB_NAMES[i], make ? MDB_CREATE : 0, &s->dbi[i]);
        if (rc == MDB_NOTFOUND && i == STORE_DB_LISTS) {
            s->no_lists = 1;
            rc = 0;
        }
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        store_close(s);
        return rc == MDB_NOTFOUND ? -EIO : store_mdb_err(rc);
    }
    if (s->writable && !create) {
        uint64_t from, to;
        rc = format_upgrade(s);
        if (rc == 0)
            rc = durable_notice_take(s->durable_fd, &from, &to, store_log_undone, s);
        /* Format 4 is recorded (and made durable with the first point
         * after): the durable file can take its new slots. */
        if (rc == 0)
            rc = store_sync(s);
        if (rc == 0)
            rc = durable_upgrade(s->durable_fd);
        if (rc == 0) /* a durable file just made long enough */
            s->one_flush = one_flush_safe(s->durable_fd);
        if (rc) {
            store_close(s);
            return rc;
        }
    }
    map_find(s);
    /* Streaming reads (store_stream_read); a file system without O_DIRECT
     * (tmpfs) reads them through the page cache. */
    int fd;
    if (mdb_env_get_fd(s->env, &fd) == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd); /* the same file */
        s->direct_fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    }
    if (s->map_addr)
        s->ahead = ahead_new(s); /* NULL: streams without reading ahead */
    *out = s;
    return 0;
}

int store_open(const char *dir, struct keys *keys, unsigned flags, struct store **out)
{
    int rc = store_probe(dir, NULL);
    if (rc) {
        keys_free(keys);
        return rc;
    }
    return store_open_env(dir, keys, flags, 0, out);
}

int store_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    return entries;
}

int store_dir_claim(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    int n = store_dir_entries(dir);
    return n < 0 ? n : n > 0 ? -EEXIST : 0;
}

int store_create(const char *dir, const char *pass, size_t len,
                 const struct store_actor *actor)
{
    if (len == 0)
        return -EINVAL;
    if (keys_init())
        return -EIO;
    int rc = store_dir_claim(dir);
    if (rc)
        return rc;
    struct keys *k;
    rc = keys_new_random(&k);
    if (rc)
        return rc;
    struct keys_wrapped w;
    rc = keys_wrap(k, pass, len, STORE_PWHASH_OPSLIMIT, STORE_PWHASH_MEMLIMIT, &w);
    if (rc) {
        keys_free(k);
        return rc;
    }
    struct store *s;
    rc = store_open_env(dir, k, 0, 1, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    rc = store_txn_begin(s, 0, &txn);
    if (rc == 0) {
        uint8_t fmt[4], wrapped[KEYS_WRAPPED_BYTES];
        codec_be32_put(fmt, STORE_FORMAT_VERSION);
        keys_wrapped_encode(&w, wrapped);
        MDB_val k1 = {strlen(META_FORMAT), (void *)META_FORMAT}, v1 = {4, fmt};
        MDB_val k2 = {strlen(META_WRAPPED), (void *)META_WRAPPED},
                v2 = {sizeof wrapped, wrapped};
        rc = store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k1, &v1, 0));
        if (rc == 0)
            rc = store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k2, &v2, 0));
        if (rc == 0)
            rc = node_root_create(s, txn, actor->uid, actor->gid);
        if (rc == 0)
            rc = log_append(s, txn, actor, "init", "", 0, 0, "store created");
        if (rc == 0)
            rc = store_txn_commit(s, txn);
        else
            store_txn_abort(txn);
    }
    if (rc == 0)
        rc = store_sync(s);
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    write_behind_stop(s);
    ahead_free(s->ahead);
    if (s->env) {
        /* Its pins go: the last point is recorded as of kind (a), which a
         * recovery trusts without the pages the pins kept (durable.h). */
        if (s->writable && store_sync_release(s) != 0)
            fprintf(stderr, "casefs: %s: the last changes could not be flushed to disk\n",
                    s->dir);
        if (s->pin_newer)
            mdb_txn_abort(s->pin_newer);
        if (s->pin)
            mdb_txn_abort(s->pin);
        written_unwatch(s->written);
        s->written = NULL;
        mdb_env_close(s->env);
    }
    if (s->durable_fd >= 0)
        close(s->durable_fd);
    if (s->statm_fd >= 0)
        close(s->statm_fd);
    if (s->direct_fd >= 0)
        close(s->direct_fd);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->advice_mu);
    pthread_mutex_destroy(&s->wb_mu);
    pthread_cond_destroy(&s->wb_cv);
    par_free(s->par);
    rcache_free(s->rcache);
    scache_free(s->scache);
    keys_free(s->keys);
    free(s->dir);
    free(s);
}

static int flush_data(void *arg)
{
    struct store *s = arg;
    if (s->fail_flushes)
        return -EIO;
    return mdb_env_sync(s->env, 1) == 0 ? 0 : -EIO;
}

/* The caller holds sync_mu.  Takes LMDB's writer lock only to name the
 * last committed transaction S, pin it, copy its meta page and take the
 * pages written since the last point (written.h); the flush runs while
 * others commit.  S's pages and meta page were written before S was the
 * last commit, so the flush makes S durable.  With the pages listed, the
 * record goes to the device first and the one flush makes both durable;
 * else the record is written and flushed after the data file.  The pins
 * keep LMDB from reusing any page a recovery may fall back to
 * (durable.h). */
static int sync_point(struct store *s, int one_flush)
{
    struct durable_point *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    MDB_txn *w = NULL, *r = NULL;
    int rc = store_mdb_err(mdb_txn_begin(s->env, NULL, 0, &w));
    if (rc) {
        free(p);
        return rc;
    }
    p->txnid = mdb_txn_id(w) - 1;
    rc = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r));
    if (rc == 0 && mdb_txn_id(r) != p->txnid)
        rc = -EIO;
    if (rc == 0)
        rc = durable_meta_read(s->datafd, s->psize, p->txnid, p->meta);
    int listed = written_take(s->written, p->txnid, p->key, p->pages, &p->npages);
    if (!listed || !one_flush || !s->one_flush || !s->pin)
        p->npages = 0;
    mdb_txn_abort(w);
    struct stat st;
    if (rc == 0 && fstat(s->datafd, &st) != 0)
        rc = -EIO;
    int flushed = 0;
    if (rc == 0) {
        p->ino = (uint64_t)st.st_ino;
        memcpy(p->boot, s->boot, sizeof p->boot);
        if (p->npages) {
            rc = durable_write_checked(s->durable_fd, p, s->durable_txnid, flush_data, s);
            flushed = rc != -EAGAIN;
            if (rc == -EAGAIN) {
                p->npages = 0;
                rc = 0;
            } else if (rc) {
                s->failed = 1;
                rc = -EIO;
            }
        }
    }
    if (rc == 0 && !flushed) {
        if (flush_data(s) != 0 || durable_write(s->durable_fd, p) != 0) {
            s->failed = 1;
            rc = -EIO;
        }
    }
    if (rc && s->failed) {
        /* What the page cache holds may not be what the disk holds: no
         * writable open in this boot goes on from it (durable.h). */
        if (durable_mark_failed(s->durable_fd, p->txnid) != 0)
            fprintf(stderr, "casefs: %s: a write to the store file failed, and so did "
                            "recording it in the durable file\n", s->dir);
    }
    if (rc) {
        /* The next point covers what this one would have. */
        written_spoil(s->written);
        if (r)
            mdb_txn_abort(r);
        free(p);
        return rc == -EPROTO ? -EPROTO : rc;
    }
    if (p->npages) {
        /* A recovery may fall back to the point before: keep it whole. */
        if (s->pin_newer) {
            mdb_txn_abort(s->pin);
            s->pin = s->pin_newer;
        }
        s->pin_newer = r;
    } else {
        if (s->pin)
            mdb_txn_abort(s->pin);
        if (s->pin_newer)
            mdb_txn_abort(s->pin_newer);
        s->pin = r;
        s->pin_newer = NULL;
    }
    s->one_flush_points += p->npages != 0;
    __atomic_store_n(&s->durable_txnid, p->txnid, __ATOMIC_RELEASE);
    free(p);
    return 0;
}

/* store_sync, and with release store_sync_release. */
static int sync_now(struct store *s, int release)
{
    MDB_envinfo info;
    if (!s->writable)
        return 0;
    if (mdb_env_info(s->env, &info) != 0)
        return -EIO;
    pthread_mutex_lock(&s->sync_mu);
    int rc = 0;
    if (s->failed) {
        rc = -EIO;
    } else if (!s->pin || s->durable_txnid < info.me_last_txnid) {
        rc = sync_point(s, !release);
    } else if (release && s->pin_newer) {
        /* The last point's flush ended: say so, and a recovery never
         * falls back to the one before. */
        rc = durable_confirm(s->durable_fd, s->durable_txnid);
        if (rc == 0) {
            mdb_txn_abort(s->pin);
            s->pin = s->pin_newer;
            s->pin_newer = NULL;
        }
    }
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

int store_sync(struct store *s)
{
    return sync_now(s, 0);
}

int store_sync_release(struct store *s)
{
    return sync_now(s, 1);
}

int store_fsync(struct store *s)
{
    __atomic_store_n(&s->fsync_ms, coarse_ms(), __ATOMIC_RELAXED);
    return store_sync(s);
}

int store_sync_due(struct store *s)
{
    MDB_envinfo info;
    return s->writable && !s->failed && mdb_env_info(s->env, &info) == 0 &&
           info.me_last_txnid > __atomic_load_n(&s->durable_txnid, __ATOMIC_ACQUIRE);
}

void store_map_touched(struct store *s, uint64_t bytes)
{
    uint64_t was = __atomic_fetch_add(&s->map_touched, bytes, __ATOMIC_RELAXED);
    if (was / STORE_MAP_CHECK != (was + bytes) / STORE_MAP_CHECK)
        store_map_trim(s);
}

int store_map_resize(struct store *s, size_t size)
{
    ahead_hold(s->ahead, 1); /* its threads read through the map */
    int rc = store_mdb_err(mdb_env_set_mapsize(s->env, size));
    pthread_mutex_lock(&s->advice_mu);
    map_find(s); /* LMDB mapped it again, perhaps elsewhere */
    pthread_mutex_unlock(&s->advice_mu);
    ahead_hold(s->ahead, 0);
    return rc;
}

void store_map_random_begin(struct store *s)
{
    if (!s->map_addr)
        return;
    pthread_mutex_lock(&s->advice_mu);
    if (s->random_users++ == 0)
        madvise(s->map_addr, s->map_len, MADV_RANDOM);
    pthread_mutex_unlock(&s->advice_mu);
}

void store_map_random_end(struct store *s)
{
    if (!s->map_addr)
        return;
    pthread_mutex_lock(&s->advice_mu);
    if (--s->random_users == 0)
        madvise(s->map_addr, s->map_len, MADV_NORMAL);
    pthread_mutex_unlock(&s->advice_mu);
}

void store_map_trim(struct store *s)
{
    if (!s->map_addr || s->statm_fd < 0)
        return;
    /* "size resident shared ...", in pages; shared counts the file pages */
    char buf[128];
    ssize_t n = pread(s->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = 0;
    unsigned long size, resident, shared;
    pthread_mutex_lock(&s->advice_mu);
    unsigned long bound = s->random_users ? STORE_MAP_RESIDENT : STORE_MAP_RESIDENT_IDLE;
    pthread_mutex_unlock(&s->advice_mu);
    if (sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3 ||
        shared * (unsigned long)sysconf(_SC_PAGESIZE) <= bound)
        return;
    /* The map is read-only and shared (no MDB_WRITEMAP): dropping its
     * pages from this process loses nothing. */
    madvise(s->map_addr, s->map_len, MADV_DONTNEED);
}

int store_value_offset(struct store *s, const MDB_val *v, uint64_t *off)
{
    const uint8_t *p = v->mv_data, *map = s->map_addr;
    if (!map || p < map || p + v->mv_size > map + s->map_len)
        return -ENOENT;
    *off = (uint64_t)(p - map);
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL)
            return -EINVAL;
        if (n <= 0)
            return -EIO; /* past the file's end */
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads [off, off+len) of data.mdb from the disk: with O_DIRECT where the
 * file system allows it, else through the page cache. */
static int read_disk(struct store *s, uint8_t *p, size_t len, uint64_t off)
{
    if (s->direct_fd >= 0) {
        int rc = read_all(s->direct_fd, p, len, off);
        if (rc == 0)
            __atomic_add_fetch(&s->direct_bytes, len, __ATOMIC_RELAXED);
        if (rc != -EINVAL)
            return rc;
    }
    return read_all(s->map_fd, p, len, off) ? -EIO : 0;
}

/* Which pages the page cache holds is asked of the map (a read that must
 * not wait would still start one on a miss).  A stretch of STREAM_CACHED
 * pages or more held is copied from the map: a page held cannot fail to
 * read, where a fault on one that is not would turn a disk error into
 * SIGBUS.  Shorter stretches are read from the disk with the pages around
 * them, in one read: chunks are not page aligned, so the page a run starts
 * in is often the last of the run before, and pages of the B-tree lie
 * among the chunks.  Neither way makes the kernel read ahead (a buffered
 * read would, from pages a fault marked: megabytes around every run). */
#define STREAM_CACHED 16
int store_stream_read(struct store *s, void *buf, size_t len, uint64_t off)
{
    uint8_t *map = s->map_addr, *out = buf;
    const size_t P = STORE_DIRECT_ALIGN;
    struct stat st;
    if (!map || len % P || fstat(s->map_fd, &st) != 0 || off + len > (uint64_t)st.st_size ||
        off + len > s->map_len)
        return -EIO;
    size_t pages = len / P;
    unsigned char *in = malloc(pages);
    if (!in || mincore(map + off, len, in) != 0) {
        free(in);
        return read_disk(s, out, len, off) ? -EIO : 0;
    }
    int rc = 0;
    store_map_random_begin(s);
    for (size_t i = 0; i < pages && rc == 0;) {
        size_t j = i;
        while (j < pages && (in[j] & 1))
            j++;
        if (j - i >= STREAM_CACHED || j - i == pages) {
            memcpy(out + i * P, map + off + i * P, (j - i) * P);
            i = j;
            continue;
        }
        /* to the next stretch held long enough */
        for (j = i; j < pages; j++) {
            size_t k = j;
            while (k < pages && (in[k] & 1) && k - j < STREAM_CACHED)
                k++;
            if (k - j >= STREAM_CACHED)
                break;
            j = k > j ? k - 1 : j;
        }
        rc = read_disk(s, out + i * P, (j - i) * P, off + i * P);
        i = j;
    }
    store_map_random_end(s);
    free(in);
    if (rc)
        return -EIO;
    __atomic_add_fetch(&s->stream_bytes, len, __ATOMIC_RELAXED);
    return 0;
}

int store_value_read3(struct store *s, const MDB_val *v, void *p1, size_t n1, void *p2,
                      size_t n2, void *p3, size_t n3)
{
    if (n1 + n2 + n3 != v->mv_size)
        return -EIO;
    struct iovec iov[3] = {{p1, n1}, {p2, n2}, {p3, n3}};
    const uint8_t *p = v->mv_data, *map = s->map_addr;
    if (!map || s->map_fd < 0 || p < map || p + v->mv_size > map + s->map_len) {
        for (int i = 0; i < 3; i++) {
            memcpy(iov[i].iov_base, p, iov[i].iov_len);
            p += iov[i].iov_len;
        }
        return 0;
    }
    off_t at = (off_t)(p - map);
    int i = 0;
    while (i < 3) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t n = preadv(s->map_fd, iov + i, 3 - i, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        at += n;
        /* a short read: go on from where it stopped */
        while (i < 3 && (size_t)n >= iov[i].iov_len) {
            n -= (ssize_t)iov[i].iov_len;
            iov[i].iov_len = 0;
            i++;
        }
        if (i < 3) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + n;
            iov[i].iov_len -= (size_t)n;
        }
    }
    return 0;
}

int store_txn_begin(struct store *s, int rdonly, MDB_txn **txn)
{
    *txn = NULL;
    int rc = store_mdb_err(mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, txn));
    if (rc == 0 && !rdonly)
        scache_write_begin(s->scache, *txn);
    return rc;
}

/* LMDB reports a short write as EIO; on a full disk that is ENOSPC. */
static int disk_full_or(struct store *s, int rc)
{
    struct statvfs st;
    if (rc == -EIO && statvfs(s->dir, &st) == 0 &&
        (uint64_t)st.f_bavail * st.f_frsize < STORE_FULL_BYTES)
        return -ENOSPC;
    return rc;
}

int store_txn_commit(struct store *s, MDB_txn *txn)
{
    if (s->failed) {
        mdb_txn_abort(txn);
        return -EIO;
    }
    scache_commit_begin(s->scache, txn);
    int rc = disk_full_or(s, store_mdb_err(mdb_txn_commit(txn)));
    scache_commit_end(s->scache, rc == 0);
    if (rc == 0 && s->sync_each_commit)
        rc = store_sync(s);
    else if (rc == 0 && write_behind_due(s))
        write_behind_poke(s);
    return rc;
}

void store_txn_abort(MDB_txn *txn)
{
    if (txn)
        mdb_txn_abort(txn);
}

/* AD = four-byte tag || LMDB key.  Keys are at most 511 bytes. */
static size_t record_ad(enum store_db db, const void *key, size_t keylen, uint8_t *ad)
{
    memcpy(ad, DB_TAGS[db], 4);
    memcpy(ad + 4, key, keylen);
    return 4 + keylen;
}

int store_record_put(struct store *s, MDB_txn *txn, enum store_db db, const void *key,
                     size_t keylen, enum keys_purpose purpose, const void *pt,
                     size_t ptlen)
{
    uint8_t ad[4 + 512];
    if (keylen > 511)
        return -EINVAL;
    size_t adlen = record_ad(db, key, keylen, ad);
    MDB_val k = {keylen, (void *)key}, v = {ptlen + KEYS_SEAL_OVERHEAD, NULL};
    int rc = mdb_put(txn, s->dbi[db], &k, &v, MDB_RESERVE);
    if (rc)
        return store_mdb_err(rc);
    keys_seal(s->keys, purpose, ad, adlen, pt, ptlen, v.mv_data);
    return 0;
}

int store_record_open(struct store *s, enum store_db db, const void *key, size_t keylen,
                      enum keys_purpose purpose, const MDB_val *val, uint8_t **out,
                      size_t *outlen)
{
    uint8_t ad[4 + 512];
    if (keylen > 511 || val->mv_size < KEYS_SEAL_OVERHEAD)
        return -EIO;
    int hit = rcache_get(s->rcache, db, key, keylen, val->mv_data, val->mv_size, out, outlen);
    if (hit)
        return hit < 0 ? hit : 0;
    size_t adlen = record_ad(db, key, keylen, ad);
    size_t n = val->mv_size - KEYS_SEAL_OVERHEAD;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return -ENOMEM;
    if (keys_open(s->keys, purpose, ad, adlen, val->mv_data, val->mv_size, p) != 0) {
        free(p);
        return -EIO;
    }
    rcache_put(s->rcache, db, key, keylen, val->mv_data, val->mv_size, p, n);
    *out = p;
    *outlen = n;
    return 0;
}

int store_record_get(struct store *s, MDB_txn *txn, enum store_db db, const void *key,
                     size_t keylen, enum keys_purpose purpose, uint8_t **out,
                     size_t *outlen)
{
    MDB_val k = {keylen, (void *)key}, v;
    int rc = mdb_get(txn, s->dbi[db], &k, &v);
    if (rc)
        return store_mdb_err(rc);
    return store_record_open(s, db, key, keylen, purpose, &v, out, outlen);
}

int store_counter_next(struct store *s, MDB_txn *txn, const char *name, uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        cur = codec_be64_get(v.mv_data);
    else if (rc != MDB_NOTFOUND && rc != 0)
        return store_mdb_err(rc);
    uint8_t b[8];
    codec_be64_put(b, cur + 1);
    v.mv_size = 8;
    v.mv_data = b;
    rc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
    if (rc)
        return store_mdb_err(rc);
    *out = cur + 1;
    return 0;
}

int store_wrapped_get(struct store *s, MDB_txn *txn, struct keys_wrapped *w)
{
    MDB_val k = {strlen(META_WRAPPED), (void *)META_WRAPPED}, v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc)
        return -EIO;
    return keys_wrapped_decode(v.mv_data, v.mv_size, w) ? -EIO : 0;
}

int store_wrapped_put(struct store *s, MDB_txn *txn, const struct keys_wrapped *w)
{
    uint8_t wrapped[KEYS_WRAPPED_BYTES];
    keys_wrapped_encode(w, wrapped);
    MDB_val k = {strlen(META_WRAPPED), (void *)META_WRAPPED},
            v = {sizeof wrapped, wrapped};
    return store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0));
}
