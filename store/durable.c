/*
 * durable — see durable.h.
 */
#include "store/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/codec.h"

static const char OLD_MAGIC[8] = {'c', 'f', 'd', 'u', 'r', 'b', 'l', '1'};
static const char SLOT_MAGIC[8] = {'c', 'f', 'd', 'u', 'r', 'b', 'l', '2'};
/* Old slot (512 bytes): magic | u64 seq | u64 txnid | u64 inode | u64
 * undone from | u64 undone to | boot | meta | checksum.  Slot (4 KiB):
 * the same up to the meta, then u32 flags (0) | u32 pages | key | pages
 * (u64 page number, tag) | zeros | checksum of all before it. */
#define SLOT_SEQ 8
#define SLOT_TXNID 16
#define SLOT_INO 24
#define SLOT_UNDONE_FROM 32
#define SLOT_UNDONE_TO 40
#define SLOT_BOOT 48
#define SLOT_META (SLOT_BOOT + DURABLE_BOOT_BYTES)
#define OLD_SUM (SLOT_META + DURABLE_META_BYTES)
#define SLOT_SUM_BYTES 32
#define SLOT_FLAGS (SLOT_META + DURABLE_META_BYTES)
#define SLOT_NPAGES (SLOT_FLAGS + 4)
#define SLOT_KEY (SLOT_NPAGES + 4)
#define SLOT_PAGES (SLOT_KEY + WRITTEN_KEY_BYTES)
#define SLOT_PAGE_BYTES (8 + WRITTEN_TAG_BYTES)
#define SLOT_SUM (DURABLE_SLOT_BYTES - SLOT_SUM_BYTES)

/* MDB_meta fields used here, as offsets into it (lmdb 0.9, mdb.c). */
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define META_MAGIC 0
#define META_VERSION 4
#define META_PSIZE 24 /* mm_dbs[FREE_DBI].md_pad */
#define META_TXNID 128
#define PAGE_FLAGS 10 /* mp_flags in the page header */
#define P_META 0x08

_Static_assert(OLD_SUM + SLOT_SUM_BYTES <= DURABLE_OLD_SLOT_BYTES, "an old slot holds its record");
_Static_assert(SLOT_PAGES + WRITTEN_PAGES_MAX * SLOT_PAGE_BYTES <= SLOT_SUM,
               "a durable slot holds its record");

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

/* Makes the file DURABLE_FILE_BYTES long, its new bytes zeros written
 * and flushed (allocated: a later slot write changes no metadata). */
static int lengthen(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (st.st_size >= DURABLE_FILE_BYTES)
        return 0;
    static const uint8_t zero[DURABLE_FILE_BYTES];
    size_t from = (size_t)st.st_size;
    if (pwrite(fd, zero, sizeof zero - from, (off_t)from) != (ssize_t)(sizeof zero - from))
        return -EIO;
    return fsync(fd) == 0 ? 0 : -errno;
}

/* Whether every byte of the file is in blocks of its own, allocated
 * and written (FIEMAP; its flag makes the kernel allocate what waits). */
static int mapped_in_place(int fd)
{
    enum { MAX_EXTENTS = 8 };
    size_t len = sizeof(struct fiemap) + MAX_EXTENTS * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, len);
    if (!fm)
        return 0;
    fm->fm_start = 0;
    fm->fm_length = DURABLE_FILE_BYTES;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = MAX_EXTENTS;
    int ok = ioctl(fd, FS_IOC_FIEMAP, fm) == 0;
    uint64_t covered = 0;
    const uint32_t bad = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                         FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
                         FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
                         FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_UNWRITTEN |
                         FIEMAP_EXTENT_SHARED;
    for (uint32_t i = 0; ok && i < fm->fm_mapped_extents; i++) {
        const struct fiemap_extent *e = &fm->fm_extents[i];
        ok = e->fe_logical <= covered && !(e->fe_flags & bad);
        if (ok && e->fe_logical + e->fe_length > covered)
            covered = e->fe_logical + e->fe_length;
    }
    free(fm);
    return ok && covered >= DURABLE_FILE_BYTES;
}

int durable_in_place(int fd)
{
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 || (flags & FS_JOURNAL_DATA_FL))
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < DURABLE_FILE_BYTES)
        return 0;
    if (mapped_in_place(fd))
        return 1;
    /* A hole or an unwritten extent (a copy made sparse, space reserved
     * but not written): its bytes written over, as they are, and
     * flushed, each block is written in place from then on. */
    uint8_t *buf = malloc(DURABLE_FILE_BYTES);
    int ok = buf && flock(fd, LOCK_EX) == 0;
    if (ok) {
        ok = pread(fd, buf, DURABLE_FILE_BYTES, 0) == DURABLE_FILE_BYTES &&
             pwrite(fd, buf, DURABLE_FILE_BYTES, 0) == DURABLE_FILE_BYTES &&
             fdatasync(fd) == 0;
        flock(fd, LOCK_UN);
    }
    free(buf);
    return ok && mapped_in_place(fd);
}

int durable_open(const char *dir, int create)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, DURABLE_FILE);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && !create && (errno == EROFS || errno == EACCES))
        fd = open(path, O_RDONLY | O_CLOEXEC); /* a store on read-only media */
    if (fd < 0 && (errno != ENOENT || !create))
        return -errno;
    int made = 0;
    if (fd < 0) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return -errno;
        made = 1;
    }
    int rc = made ? lengthen(fd) : 0;
    if (rc == 0 && made) {
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

static void slot_sum(const uint8_t *slot, size_t len, uint8_t out[SLOT_SUM_BYTES])
{
    crypto_generichash(out, SLOT_SUM_BYTES, slot, len, NULL, 0);
}

/* Decodes the slot at s (bytes of it that were read: n); 0 with *p and
 * *seq, or -1 when it holds no valid record. */
static int slot_decode(const uint8_t *s, size_t n, int old, struct durable_point *p,
                       uint64_t *seq)
{
    size_t sum_at = old ? OLD_SUM : SLOT_SUM;
    uint8_t sum[SLOT_SUM_BYTES];
    if (n < sum_at + SLOT_SUM_BYTES || memcmp(s, old ? OLD_MAGIC : SLOT_MAGIC, 8) != 0)
        return -1;
    slot_sum(s, sum_at, sum);
    if (sodium_memcmp(sum, s + sum_at, SLOT_SUM_BYTES) != 0)
        return -1;
    memset(p, 0, sizeof *p);
    *seq = codec_be64_get(s + SLOT_SEQ);
    p->txnid = codec_be64_get(s + SLOT_TXNID);
    p->ino = codec_be64_get(s + SLOT_INO);
    p->undone_from = codec_be64_get(s + SLOT_UNDONE_FROM);
    p->undone_to = codec_be64_get(s + SLOT_UNDONE_TO);
    memcpy(p->boot, s + SLOT_BOOT, DURABLE_BOOT_BYTES);
    p->boot[DURABLE_BOOT_BYTES - 1] = '\0';
    memcpy(p->meta, s + SLOT_META, DURABLE_META_BYTES);
    if (old)
        return 0;
    uint32_t np = codec_be32_get(s + SLOT_NPAGES), flags = codec_be32_get(s + SLOT_FLAGS);
    if ((flags & ~(DURABLE_WRITE_FAILED | DURABLE_UNDONE_WRITE)) || np > WRITTEN_PAGES_MAX ||
        ((flags & DURABLE_WRITE_FAILED) && np))
        return -1;
    p->flags = flags;
    p->npages = np;
    memcpy(p->key, s + SLOT_KEY, WRITTEN_KEY_BYTES);
    for (uint32_t i = 0; i < np; i++) {
        const uint8_t *e = s + SLOT_PAGES + (size_t)i * SLOT_PAGE_BYTES;
        p->pages[i].pgno = codec_be64_get(e);
        memcpy(p->pages[i].tag, e + 8, WRITTEN_TAG_BYTES);
    }
    return 0;
}

/* The fields both slot layouts share, up to the meta page. */
static void head_encode(uint8_t *s, const char magic[8], const struct durable_point *p,
                        const struct durable_point *notice, uint64_t seq)
{
    memcpy(s, magic, 8);
    codec_be64_put(s + SLOT_SEQ, seq);
    codec_be64_put(s + SLOT_TXNID, p->txnid);
    codec_be64_put(s + SLOT_INO, p->ino);
    codec_be64_put(s + SLOT_UNDONE_FROM, notice->undone_from);
    codec_be64_put(s + SLOT_UNDONE_TO, notice->undone_to);
    memcpy(s + SLOT_BOOT, p->boot, DURABLE_BOOT_BYTES);
    s[SLOT_BOOT + DURABLE_BOOT_BYTES - 1] = '\0';
    memcpy(s + SLOT_META, p->meta, DURABLE_META_BYTES);
}

static void slot_encode(uint8_t s[DURABLE_SLOT_BYTES], const struct durable_point *p,
                        const struct durable_point *notice, uint64_t seq)
{
    memset(s, 0, DURABLE_SLOT_BYTES);
    head_encode(s, SLOT_MAGIC, p, notice, seq);
    uint32_t np = p->npages <= WRITTEN_PAGES_MAX ? p->npages : 0;
    if (p->flags & DURABLE_WRITE_FAILED)
        np = 0;
    codec_be32_put(s + SLOT_FLAGS, (p->flags & DURABLE_WRITE_FAILED) |
                                       (notice->flags & DURABLE_UNDONE_WRITE));
    codec_be32_put(s + SLOT_NPAGES, np);
    if (np)
        memcpy(s + SLOT_KEY, p->key, WRITTEN_KEY_BYTES);
    for (uint32_t i = 0; i < np; i++) {
        uint8_t *e = s + SLOT_PAGES + (size_t)i * SLOT_PAGE_BYTES;
        codec_be64_put(e, p->pages[i].pgno);
        memcpy(e + 8, p->pages[i].tag, WRITTEN_TAG_BYTES);
    }
    slot_sum(s, SLOT_SUM, s + SLOT_SUM);
}

/* The old slot's encoding, for a file not yet upgraded (durable_upgrade). */
static void old_slot_encode(uint8_t s[DURABLE_OLD_SLOT_BYTES], const struct durable_point *p,
                            const struct durable_point *notice, uint64_t seq)
{
    memset(s, 0, DURABLE_OLD_SLOT_BYTES);
    head_encode(s, OLD_MAGIC, p, notice, seq);
    slot_sum(s, OLD_SUM, s + OLD_SUM);
}

/* What the file holds: its newest valid record (*n, *seq, in slot *which:
 * 0 and 1 the slots, -1 an old slot) and, when *have_o, the one before it
 * (*o).  -ENOENT: no valid record. */
static int read_records(int fd, struct durable_point *n, uint64_t *seq, int *which,
                        struct durable_point *o, int *have_o)
{
    uint8_t *buf = malloc(DURABLE_FILE_BYTES);
    struct durable_point *p = malloc(sizeof *p);
    if (!buf || !p) {
        free(buf);
        free(p);
        return -ENOMEM;
    }
    ssize_t got = pread(fd, buf, DURABLE_FILE_BYTES, 0);
    int rc = got < 0 ? -errno : -ENOENT;
    uint64_t best = 0, second = 0;
    if (have_o)
        *have_o = 0;
    /* Old slots at 0 and 512, slots at 4096 and 8192. */
    for (int i = 0; got >= 0 && i < 4; i++) {
        int old = i < 2;
        size_t at = old ? (size_t)i * DURABLE_OLD_SLOT_BYTES
                        : (size_t)(i - 1) * DURABLE_SLOT_BYTES;
        size_t avail = (size_t)got > at ? (size_t)got - at : 0;
        uint64_t sq;
        if (slot_decode(buf + at, avail, old, p, &sq) != 0)
            continue;
        if (rc == -ENOENT || sq > best) {
            if (rc == 0 && o) {
                *o = *n;
                *have_o = 1;
                second = best;
            }
            *n = *p;
            best = sq;
            *which = old ? -1 : i - 2;
            rc = 0;
        } else if (o && (!*have_o || sq > second)) {
            *o = *p;
            *have_o = 1;
            second = sq;
        }
    }
    if (rc == 0)
        *seq = best;
    free(buf);
    free(p);
    return rc;
}

int durable_read(int fd, struct durable_point *p)
{
    uint64_t seq;
    int which;
    return read_records(fd, p, &seq, &which, NULL, NULL);
}

/* Whether record cur says a flush of data file ino failed in this boot
 * (DURABLE_WRITE_FAILED): no point is recorded after it but by a
 * recovery in a new boot. */
static int held(const struct durable_point *cur, const char *boot, uint64_t ino)
{
    return (cur->flags & DURABLE_WRITE_FAILED) && cur->ino == ino &&
           strcmp(cur->boot, boot) == 0;
}

int durable_held(int fd, const char boot[DURABLE_BOOT_BYTES], uint64_t ino)
{
    struct durable_point *cur = malloc(sizeof *cur);
    int rc = cur ? durable_read(fd, cur) : -ENOMEM;
    int h = rc == 0 && held(cur, boot, ino);
    free(cur);
    return rc == -ENOENT ? 0 : rc < 0 ? rc : h;
}

/* Writes p as a record of kind (a), the newest, into the slot not holding
 * the newest record (over_newest: into the newest's slot; an old layout
 * has its own order); the caller holds the flock.  Unless forced: -EIO
 * when the newest record is held (above); nothing is written when it is
 * of this data file and boot and later than p's point, or at p's point
 * and of kind (a).  A newest record of kind (b) at p's point is written
 * over: a process that made it and ended before saying its flush ended
 * (durable_confirm) left no pin on the point before, which a recovery
 * would fall back to (a crash, then a restart in the same boot).  Unless
 * undone is set, the newest record's notice of undone transactions is
 * carried over (it stays until store_open has logged it). */
static int write_into(int fd, const struct durable_point *p, int force, int undone,
                      int over_newest)
{
    struct durable_point *cur = malloc(sizeof *cur), *plain = malloc(sizeof *plain);
    uint8_t *s = malloc(DURABLE_SLOT_BYTES);
    uint64_t seq = 0;
    int which = -1;
    int rc = cur && plain && s ? read_records(fd, cur, &seq, &which, NULL, NULL) : -ENOMEM;
    if (rc == 0 && !force && held(cur, p->boot, p->ino)) {
        rc = -EIO;
    } else if (rc == 0 && !force && cur->ino == p->ino && strcmp(cur->boot, p->boot) == 0 &&
               (cur->txnid > p->txnid || (cur->txnid == p->txnid && cur->npages == 0))) {
        rc = 1;
    } else if (rc == 0 || rc == -ENOENT) {
        *plain = *p;
        plain->npages = 0;
        const struct durable_point *notice = undone || rc ? p : cur;
        uint64_t next = rc == 0 ? seq + 1 : 1;
        struct stat st;
        size_t len = DURABLE_SLOT_BYTES;
        int into = which < 0 ? 0 : over_newest ? which : 1 - which;
        off_t off = (off_t)((into + 1) * DURABLE_SLOT_BYTES);
        if (fstat(fd, &st) != 0) {
            rc = -errno;
            goto done;
        }
        if (st.st_size < DURABLE_FILE_BYTES) {
            /* Not upgraded yet: the old slots, written alternately. */
            uint64_t sq[2] = {0, 0};
            struct durable_point *o = malloc(sizeof *o);
            uint8_t *buf = malloc(2 * DURABLE_OLD_SLOT_BYTES);
            ssize_t got = buf && o ? pread(fd, buf, 2 * DURABLE_OLD_SLOT_BYTES, 0) : -1;
            for (int i = 0; i < 2 && got >= 0; i++)
                if (slot_decode(buf + i * DURABLE_OLD_SLOT_BYTES,
                                (size_t)got > (size_t)i * DURABLE_OLD_SLOT_BYTES
                                    ? (size_t)got - (size_t)i * DURABLE_OLD_SLOT_BYTES
                                    : 0,
                                1, o, &sq[i]) != 0)
                    sq[i] = 0;
            free(buf);
            free(o);
            len = DURABLE_OLD_SLOT_BYTES;
            off = sq[0] > sq[1] ? DURABLE_OLD_SLOT_BYTES : 0;
            old_slot_encode(s, plain, notice, next);
        } else {
            slot_encode(s, plain, notice, next);
        }
        rc = pwrite(fd, s, len, off) != (ssize_t)len ? -EIO
             : fdatasync(fd) == 0                    ? 0
                                                     : -errno;
    }
done:
    free(cur);
    free(plain);
    free(s);
    return rc == 1 ? 0 : rc;
}

static int write_locked(int fd, const struct durable_point *p, int force, int undone)
{
    return write_into(fd, p, force, undone, 0);
}

int durable_write(int fd, const struct durable_point *p)
{
    if (flock(fd, LOCK_EX) != 0)
        return -errno;
    int rc = write_locked(fd, p, 0, 0);
    flock(fd, LOCK_UN);
    return rc;
}

int durable_write_checked(int fd, const struct durable_point *p, uint64_t after,
                          int (*flush)(void *arg), void *arg)
{
    if (p->npages == 0 || p->npages > WRITTEN_PAGES_MAX)
        return -EAGAIN;
    if (flock(fd, LOCK_EX) != 0)
        return -errno;
    struct durable_point *cur = malloc(sizeof *cur);
    uint8_t *s = malloc(DURABLE_SLOT_BYTES);
    uint64_t seq = 0;
    int which = -1;
    struct stat st;
    int rc = cur && s ? read_records(fd, cur, &seq, &which, NULL, NULL) : -ENOMEM;
    if (rc == 0 && held(cur, p->boot, p->ino))
        rc = -EIO;
    else if (rc == -ENOENT || (rc == 0 && (cur->txnid != after || cur->ino != p->ino ||
                                           strcmp(cur->boot, p->boot) != 0)))
        rc = -EAGAIN;
    else if (rc == 0 && fstat(fd, &st) != 0)
        rc = -errno;
    else if (rc == 0 && st.st_size < DURABLE_FILE_BYTES)
        rc = -EAGAIN;
    if (rc == 0) {
        slot_encode(s, p, cur, seq + 1);
        off_t off = (off_t)((which == 0 ? 2 : 1) * DURABLE_SLOT_BYTES);
        /* On the device (in its cache, perhaps) before the flush starts:
         * a flush makes durable the writes that completed before it. */
        if (pwrite(fd, s, DURABLE_SLOT_BYTES, off) != DURABLE_SLOT_BYTES) {
            rc = -EIO;
        } else if (sync_file_range(fd, off, DURABLE_SLOT_BYTES,
                                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                       SYNC_FILE_RANGE_WAIT_AFTER) == 0) {
            rc = flush(arg);
        } else {
            /* Not written yet: flushed after the data file, as kind (a). */
            rc = flush(arg);
            if (rc == 0 && fdatasync(fd) != 0)
                rc = -errno;
        }
    }
    flock(fd, LOCK_UN);
    free(cur);
    free(s);
    return rc;
}

int durable_upgrade(int fd)
{
    uint8_t old[2 * DURABLE_OLD_SLOT_BYTES];
    ssize_t got = pread(fd, old, sizeof old, 0);
    if (got < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    static const uint8_t zero[2 * DURABLE_OLD_SLOT_BYTES];
    /* Done: long enough, the old slots cleared (an upgrade cut short
     * after lengthening the file left them as they were). */
    if (st.st_size >= DURABLE_FILE_BYTES && memcmp(old, zero, (size_t)got) == 0)
        return 0;
    struct durable_point *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = flock(fd, LOCK_EX) == 0 ? 0 : -errno;
    if (rc) {
        free(p);
        return rc;
    }
    /* The newest record, when in an old slot, goes into a slot (seq + 1,
     * with its notice); then the old slots are cleared: a build from
     * before that read them finds no record, never an old one. */
    uint64_t seq;
    int which = 0;
    int had = read_records(fd, p, &seq, &which, NULL, NULL);
    rc = had == 0 || had == -ENOENT ? lengthen(fd) : had;
    if (rc == 0 && had == 0 && which < 0)
        rc = write_locked(fd, p, 1, 1);
    if (rc == 0 && pwrite(fd, zero, sizeof zero, 0) != (ssize_t)sizeof zero)
        rc = -EIO;
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    flock(fd, LOCK_UN);
    free(p);
    return rc;
}

int durable_mark_failed(int fd, uint64_t txnid)
{
    struct durable_point *n = malloc(sizeof *n), *o = malloc(sizeof *o);
    int rc = n && o ? 0 : -ENOMEM;
    if (rc == 0 && flock(fd, LOCK_EX) != 0)
        rc = -errno;
    if (rc == 0) {
        uint64_t seq;
        int which, have_o = 0;
        rc = read_records(fd, n, &seq, &which, o, &have_o);
        /* txnid's record of kind (b) is not a point: its flush failed. */
        int before = rc == 0 && n->txnid == txnid && n->npages;
        if (before && (!have_o || o->ino != n->ino))
            rc = -EIO;
        if (rc == 0) {
            struct durable_point *q = before ? o : n;
            q->flags |= DURABLE_WRITE_FAILED; /* written as of kind (a) */
            rc = write_into(fd, q, 1, 0, before);
        }
        flock(fd, LOCK_UN);
    }
    free(n);
    free(o);
    return rc;
}

int durable_confirm(int fd, uint64_t txnid)
{
    struct durable_point *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = flock(fd, LOCK_EX) == 0 ? 0 : -errno;
    if (rc == 0) {
        rc = durable_read(fd, p);
        if (rc == 0 && p->txnid == txnid && p->npages)
            rc = write_locked(fd, p, 1, 0);
        flock(fd, LOCK_UN);
    }
    free(p);
    return rc;
}

int durable_notice_take(int fd, uint64_t *from, uint64_t *to,
                        int (*logger)(void *arg, uint64_t from, uint64_t to, int write_error),
                        void *arg)
{
    *from = *to = 0;
    if (flock(fd, LOCK_EX) != 0)
        return -errno;
    struct durable_point *p = malloc(sizeof *p);
    int rc = p ? durable_read(fd, p) : -ENOMEM;
    flock(fd, LOCK_UN);
    if (rc == 0 && p->undone_to != 0) {
        *from = p->undone_from;
        *to = p->undone_to;
        /* The logger makes its entry durable: a newer record, carrying
         * the notice.  The notice is cleared on that one, never by
         * writing back the record read before it. */
        rc = logger(arg, p->undone_from, p->undone_to, !!(p->flags & DURABLE_UNDONE_WRITE));
        if (rc == 0)
            rc = flock(fd, LOCK_EX) == 0 ? 0 : -errno;
        if (rc == 0) {
            rc = durable_read(fd, p);
            if (rc == 0 && p->undone_from == *from && p->undone_to == *to) {
                p->undone_from = p->undone_to = 0;
                p->flags &= ~DURABLE_UNDONE_WRITE;
                rc = write_locked(fd, p, 1, 1);
            }
            flock(fd, LOCK_UN);
        }
    } else if (rc == -ENOENT) {
        rc = 0;
    }
    free(p);
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

/* Whether every page p lists is in the data file as written. */
static int pages_intact(int dfd, uint32_t psize, const struct durable_point *p)
{
    uint8_t *page = malloc(psize);
    int ok = page != NULL;
    for (uint32_t i = 0; ok && i < p->npages; i++) {
        uint8_t tag[WRITTEN_TAG_BYTES];
        ok = p->pages[i].pgno >= 2 &&
             pread(dfd, page, psize, (off_t)(p->pages[i].pgno * psize)) == (ssize_t)psize;
        if (ok) {
            written_tag(p->key, page, psize, tag);
            ok = sodium_memcmp(tag, p->pages[i].tag, WRITTEN_TAG_BYTES) == 0;
        }
    }
    free(page);
    return ok;
}

int durable_test_stop;

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
    struct durable_point *p = malloc(sizeof *p), *o = malloc(sizeof *o);
    uint64_t seq;
    int which, have_o = 0, dfd = -1;
    int rc = p && o ? read_records(fd, p, &seq, &which, o, &have_o) : -ENOMEM;
    int same_boot = rc == 0 && strcmp(p->boot, boot) == 0;
    if (rc == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    dfd = open(path, O_RDONLY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        goto out;
    }
    struct stat st;
    uint8_t page[DURABLE_META_OFFSET + DURABLE_META_BYTES];
    uint64_t t0, t1, newest = 0;
    uint32_t psize, psize1;
    int stale = 0, fell_back = 0, noticed = 0;
    if (fstat(dfd, &st) != 0)
        rc = -errno;
    else if ((rc = read_page_head(dfd, 0, page)) == 0 &&
             (rc = meta_check(page, &t0, &psize)) == 0 &&
             (rc = read_page_head(dfd, psize, page)) == 0 &&
             (rc = meta_check(page, &t1, &psize1)) == 0) {
        newest = t0 > t1 ? t0 : t1;
        *from = *to = newest;
        int checked = 0;
        if (!same_boot && p->npages && (uint64_t)st.st_ino == p->ino) {
            /* A point made durable with its pages in one flush: it is
             * the point only if that flush ended; else the one before,
             * whose flush did end before this was written. */
            if (pages_intact(dfd, psize, p))
                checked = 1;
            else if (have_o && o->ino == p->ino) {
                *p = *o;
                fell_back = 1;
            } else
                rc = -EIO; /* the durable file lost the record before it */
        }
        /* A record of another data file, or of a later state than this
         * file has (a file put back by hand): it says nothing of this one.
         * A checked point's meta page may not have reached the disk. */
        stale = (uint64_t)st.st_ino != p->ino || (newest < p->txnid && !checked);
        if (rc == 0 && !stale && !same_boot && newest != p->txnid) {
            close(dfd);
            dfd = open(path, O_RDWR | O_CLOEXEC);
            rc = dfd < 0 ? -EROFS : 0;
            if (rc == 0 && newest > p->txnid) {
                /* The notice first, with the point as of kind (a) (its
                 * flush ended: checked, or fallen back to) in its own
                 * boot, over the record that failed after a fall back,
                 * else over the other: once the meta pages are set back
                 * nothing else tells how far the data file had gone, and
                 * a power loss before the record below would leave the
                 * undoing unlogged.  Cut short, the record kept is the
                 * one kept before.  A notice back to this point already
                 * (a recovery cut short while it set the meta pages
                 * back: one may hold p's, the other a transaction older
                 * than the newest it undid) keeps the larger range: a
                 * notice back to its own point stays only until it is
                 * logged, which makes a later point. */
                if (!(p->undone_to == p->txnid && p->undone_from > newest))
                    p->undone_from = newest;
                p->undone_to = p->txnid;
                *from = p->undone_from;
                if (p->flags & DURABLE_WRITE_FAILED)
                    p->flags |= DURABLE_UNDONE_WRITE;
                rc = write_into(fd, p, 1, 1, fell_back);
                noticed = rc == 0;
                if (durable_test_stop == 1)
                    goto out;
            }
            if (rc == 0)
                rc = rollback(dfd, psize, p);
            if (rc == 0 && durable_test_stop == 2)
                goto out;
            if (rc == 0) {
                *to = p->txnid;
                if (newest <= p->txnid)
                    *from = p->txnid; /* nothing was undone */
            }
        }
    }
    if (rc)
        goto out;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
        /* Read-only media: nothing needed undoing; nothing is recorded. */
    } else if (stale) {
        /* Forgotten: the first durable point of this file replaces it. */
        memset(p, 0, sizeof *p);
        memcpy(p->boot, boot, DURABLE_BOOT_BYTES);
        rc = write_locked(fd, p, 1, 1);
    } else if (!same_boot) {
        memcpy(p->boot, boot, DURABLE_BOOT_BYTES);
        /* A point recorded after a failed write: the store is back at it
         * now, and the notice says why. */
        int failed = !!(p->flags & DURABLE_WRITE_FAILED);
        p->flags = failed && *to != *from ? DURABLE_UNDONE_WRITE : 0;
        /* After a fall back, over the record that failed: the one fallen
         * back to stays whole until this is.  After the notice, over the
         * other record: the notice stays whole until this is. */
        rc = write_into(fd, p, 1, *to != *from, fell_back && !noticed);
    }
out:
    if (dfd >= 0)
        close(dfd);
    flock(fd, LOCK_UN);
    close(fd);
    free(p);
    free(o);
    return rc;
}
