/*
 * durable — see durable.h.
 */
#include "store/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/codec.h"

static const char SLOT_MAGIC[8] = {'c', 'f', 'd', 'u', 'r', 'b', 'l', '1'};
/* Slot: magic | u64 seq | u64 txnid | u64 inode | u64 undone from | u64
 * undone to | boot | meta | checksum. */
#define SLOT_SEQ 8
#define SLOT_TXNID 16
#define SLOT_INO 24
#define SLOT_UNDONE_FROM 32
#define SLOT_UNDONE_TO 40
#define SLOT_BOOT 48
#define SLOT_META (SLOT_BOOT + DURABLE_BOOT_BYTES)
#define SLOT_SUM (SLOT_META + DURABLE_META_BYTES)
#define SLOT_SUM_BYTES 32
#define SLOT_USED (SLOT_SUM + SLOT_SUM_BYTES)

/* MDB_meta fields used here, as offsets into it (lmdb 0.9, mdb.c). */
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define META_MAGIC 0
#define META_VERSION 4
#define META_PSIZE 24 /* mm_dbs[FREE_DBI].md_pad */
#define META_TXNID 128
#define PAGE_FLAGS 10 /* mp_flags in the page header */
#define P_META 0x08

_Static_assert(SLOT_USED <= DURABLE_SLOT_BYTES, "a durable slot holds its record");

int durable_boot_id(char boot[DURABLE_BOOT_BYTES])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    memset(boot, 0, DURABLE_BOOT_BYTES);
    ssize_t n = read(fd, boot, DURABLE_BOOT_BYTES - 1);
    int e = errno;
    close(fd);
    if (n <= 0)
        return n < 0 ? -e : -EIO;
    boot[strcspn(boot, "\n")] = '\0';
    return boot[0] ? 0 : -EIO;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Checks a page header + MDB_meta read from a meta page; *txnid, *psize. */
static int meta_check(const uint8_t *page, uint64_t *txnid, uint32_t *psize)
{
    uint16_t flags;
    memcpy(&flags, page + PAGE_FLAGS, 2);
    const uint8_t *m = page + DURABLE_META_OFFSET;
    if (!(flags & P_META) || get32(m + META_MAGIC) != LMDB_MAGIC ||
        get32(m + META_VERSION) != LMDB_DATA_VERSION)
        return -EPROTO;
    *txnid = get64(m + META_TXNID);
    *psize = get32(m + META_PSIZE);
    if (*psize < 512 || (*psize & (*psize - 1)))
        return -EPROTO;
    return 0;
}

static int read_page_head(int fd, off_t off, uint8_t *page)
{
    ssize_t n = pread(fd, page, DURABLE_META_OFFSET + DURABLE_META_BYTES, off);
    if (n < 0)
        return -errno;
    return n == DURABLE_META_OFFSET + DURABLE_META_BYTES ? 0 : -EPROTO;
}

int durable_meta_read(int datafd, size_t psize, uint64_t txnid,
                      uint8_t meta[DURABLE_META_BYTES])
{
    uint8_t page[DURABLE_META_OFFSET + DURABLE_META_BYTES];
    int rc = read_page_head(datafd, (off_t)((txnid & 1) * psize), page);
    if (rc)
        return rc;
    uint64_t found;
    uint32_t ps;
    rc = meta_check(page, &found, &ps);
    if (rc)
        return rc;
    if (ps != psize)
        return -EPROTO;
    if (found != txnid)
        return -EAGAIN;
    memcpy(meta, page + DURABLE_META_OFFSET, DURABLE_META_BYTES);
    return 0;
}

int durable_open(const char *dir, int create)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, DURABLE_FILE);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && !create && (errno == EROFS || errno == EACCES))
        fd = open(path, O_RDONLY | O_CLOEXEC); /* a store on read-only media */
    if (fd >= 0 || errno != ENOENT || !create)
        return fd >= 0 ? fd : -errno;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    /* Two empty slots, allocated now: later records change no metadata,
     * so fdatasync flushes one block. */
    uint8_t zero[2 * DURABLE_SLOT_BYTES] = {0};
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (st.st_size < (off_t)sizeof zero &&
             pwrite(fd, zero, sizeof zero, 0) != (ssize_t)sizeof zero)
        rc = -EIO;
    else if (fsync(fd) != 0)
        rc = -errno;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = -errno;
        if (dfd >= 0)
            close(dfd);
    }
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

static void slot_sum(const uint8_t *slot, uint8_t out[SLOT_SUM_BYTES])
{
    crypto_generichash(out, SLOT_SUM_BYTES, slot, SLOT_SUM, NULL, 0);
}

/* The newest valid slot: 0 with *p, *seq and *which; -ENOENT none. */
static int read_newest(int fd, struct durable_point *p, uint64_t *seq, int *which)
{
    uint8_t buf[2 * DURABLE_SLOT_BYTES];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n < 0)
        return -errno;
    int best = -1;
    uint64_t best_seq = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *s = buf + i * DURABLE_SLOT_BYTES;
        uint8_t sum[SLOT_SUM_BYTES];
        if (n < (ssize_t)((i + 1) * DURABLE_SLOT_BYTES) ||
            memcmp(s, SLOT_MAGIC, sizeof SLOT_MAGIC) != 0)
            continue;
        slot_sum(s, sum);
        if (sodium_memcmp(sum, s + SLOT_SUM, SLOT_SUM_BYTES) != 0)
            continue;
        uint64_t sq = codec_be64_get(s + SLOT_SEQ);
        if (best < 0 || sq > best_seq) {
            best = i;
            best_seq = sq;
        }
    }
    if (best < 0)
        return -ENOENT;
    const uint8_t *s = buf + best * DURABLE_SLOT_BYTES;
    p->txnid = codec_be64_get(s + SLOT_TXNID);
    p->ino = codec_be64_get(s + SLOT_INO);
    p->undone_from = codec_be64_get(s + SLOT_UNDONE_FROM);
    p->undone_to = codec_be64_get(s + SLOT_UNDONE_TO);
    memcpy(p->boot, s + SLOT_BOOT, DURABLE_BOOT_BYTES);
    p->boot[DURABLE_BOOT_BYTES - 1] = '\0';
    memcpy(p->meta, s + SLOT_META, DURABLE_META_BYTES);
    *seq = best_seq;
    *which = best;
    return 0;
}

int durable_read(int fd, struct durable_point *p)
{
    uint64_t seq;
    int which;
    return read_newest(fd, p, &seq, &which);
}

/* Writes p into the slot after the newest; the caller holds the flock.
 * Unless undone is set, the newest record's notice of undone transactions
 * is carried over (it stays until store_open has logged it). */
static int write_locked(int fd, const struct durable_point *p, int force, int undone)
{
    struct durable_point cur;
    uint64_t seq = 0;
    int which = 1;
    int rc = read_newest(fd, &cur, &seq, &which);
    if (rc && rc != -ENOENT)
        return rc;
    if (rc == 0 && !force && cur.ino == p->ino && strcmp(cur.boot, p->boot) == 0 &&
        cur.txnid >= p->txnid)
        return 0;
    uint8_t s[DURABLE_SLOT_BYTES] = {0};
    memcpy(s, SLOT_MAGIC, sizeof SLOT_MAGIC);
    codec_be64_put(s + SLOT_SEQ, rc == 0 ? seq + 1 : 1);
    codec_be64_put(s + SLOT_TXNID, p->txnid);
    codec_be64_put(s + SLOT_INO, p->ino);
    const struct durable_point *u = undone || rc ? p : &cur;
    codec_be64_put(s + SLOT_UNDONE_FROM, u->undone_from);
    codec_be64_put(s + SLOT_UNDONE_TO, u->undone_to);
    memcpy(s + SLOT_BOOT, p->boot, DURABLE_BOOT_BYTES);
    s[SLOT_BOOT + DURABLE_BOOT_BYTES - 1] = '\0';
    memcpy(s + SLOT_META, p->meta, DURABLE_META_BYTES);
    slot_sum(s, s + SLOT_SUM);
    off_t off = (off_t)((rc == 0 ? which ^ 1 : 0) * DURABLE_SLOT_BYTES);
    if (pwrite(fd, s, sizeof s, off) != (ssize_t)sizeof s)
        return -EIO;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

int durable_write(int fd, const struct durable_point *p)
{
    if (flock(fd, LOCK_EX) != 0)
        return -errno;
    int rc = write_locked(fd, p, 0, 0);
    flock(fd, LOCK_UN);
    return rc;
}

int durable_notice_take(int fd, uint64_t *from, uint64_t *to,
                        int (*logger)(void *arg, uint64_t from, uint64_t to), void *arg)
{
    *from = *to = 0;
    if (flock(fd, LOCK_EX) != 0)
        return -errno;
    struct durable_point p;
    int rc = durable_read(fd, &p);
    if (rc == 0 && p.undone_to != 0) {
        *from = p.undone_from;
        *to = p.undone_to;
        rc = logger(arg, p.undone_from, p.undone_to);
        if (rc == 0) {
            p.undone_from = p.undone_to = 0;
            rc = write_locked(fd, &p, 1, 1);
        }
    } else if (rc == -ENOENT) {
        rc = 0;
    }
    flock(fd, LOCK_UN);
    return rc;
}

/* Sets both meta pages of the data file back to p's. */
static int rollback(int dfd, uint32_t psize, const struct durable_point *p)
{
    uint8_t page[DURABLE_META_OFFSET + DURABLE_META_BYTES] = {0};
    uint64_t txnid;
    uint32_t ps;
    uint16_t flags = P_META;
    memcpy(page + PAGE_FLAGS, &flags, 2);
    memcpy(page + DURABLE_META_OFFSET, p->meta, DURABLE_META_BYTES);
    if (meta_check(page, &txnid, &ps) != 0 || ps != psize || txnid != p->txnid)
        return -EPROTO;
    for (int i = 0; i < 2; i++)
        if (pwrite(dfd, p->meta, DURABLE_META_BYTES,
                   (off_t)i * psize + DURABLE_META_OFFSET) != DURABLE_META_BYTES)
            return -EIO;
    return fdatasync(dfd) == 0 ? 0 : -errno;
}

int durable_recover(const char *dir, const char boot[DURABLE_BOOT_BYTES], uint64_t *from,
                    uint64_t *to)
{
    *from = *to = 0;
    int fd = durable_open(dir, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    if (flock(fd, LOCK_EX) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct durable_point p;
    int rc = durable_read(fd, &p);
    int same_boot = rc == 0 && strcmp(p.boot, boot) == 0;
    if (rc == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int dfd = open(path, O_RDONLY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        goto out;
    }
    struct stat st;
    uint8_t page[DURABLE_META_OFFSET + DURABLE_META_BYTES];
    uint64_t t0, t1, newest = 0;
    uint32_t psize, psize1;
    int stale = 0;
    if (fstat(dfd, &st) != 0)
        rc = -errno;
    else if ((rc = read_page_head(dfd, 0, page)) == 0 &&
             (rc = meta_check(page, &t0, &psize)) == 0 &&
             (rc = read_page_head(dfd, psize, page)) == 0 &&
             (rc = meta_check(page, &t1, &psize1)) == 0) {
        newest = t0 > t1 ? t0 : t1;
        *from = *to = newest;
        /* A record of another data file, or of a later state than this
         * file has (a file put back by hand): it says nothing of this one. */
        stale = (uint64_t)st.st_ino != p.ino || newest < p.txnid;
        if (!stale && !same_boot && newest > p.txnid) {
            close(dfd);
            dfd = open(path, O_RDWR | O_CLOEXEC);
            rc = dfd < 0 ? -EROFS : rollback(dfd, psize, &p);
            if (rc == 0) {
                *to = p.txnid;
                p.undone_from = newest;
                p.undone_to = p.txnid;
            }
        }
    }
    if (dfd >= 0)
        close(dfd);
    if (rc)
        goto out;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
        /* Read-only media: nothing needed undoing; nothing is recorded. */
    } else if (stale) {
        /* Forgotten: the first durable point of this file replaces it. */
        memset(&p, 0, sizeof p);
        memcpy(p.boot, boot, DURABLE_BOOT_BYTES);
        rc = write_locked(fd, &p, 1, 1);
    } else if (!same_boot) {
        memcpy(p.boot, boot, DURABLE_BOOT_BYTES);
        rc = write_locked(fd, &p, 1, *to != *from);
    }
out:
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
