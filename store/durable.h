/*
 * durable — the store's last durable point, and the recovery that returns
 * the store to it after a power loss.
 *
 * Why: a writable store commits without flushing (LMDB's MDB_NOSYNC), so a
 * close or a read's log entry costs no disk flush.  DESIGN.md asks that a
 * close survive a crash of the casefs process (a commit without a flush is
 * in the kernel's page cache, which outlives the process) and reach the disk
 * within one second; an fsync must survive a power loss.  Without its
 * flushes LMDB is safe against a crash of the process but not of the
 * machine: the newest meta page may reach the disk before the pages it
 * points to.  So:
 *  - store_sync (store.h) flushes the data file and then records here the
 *    transaction S it made durable, with a copy of S's meta page;
 *  - while commits go unflushed the process holds a read transaction on its
 *    last durable point (the pin), so LMDB reuses no page that S, or any
 *    later snapshot, still uses: S stays whole on disk whatever else is
 *    written after it;
 *  - the record says in which boot of the machine it was written.  A store
 *    opened in the same boot has lost nothing, whatever killed the process.
 *    In another boot, when the data file's newest meta page is past S, both
 *    meta pages are set back to S: the store as it was at most a second
 *    before the power loss, whole.
 *
 * The file holds two slots of DURABLE_SLOT_BYTES, written alternately, each
 * with a sequence number and a checksum, so a torn write leaves the other
 * slot intact (layout in store/FORMAT.md).  Writers take flock(LOCK_EX) on
 * it, and a record never goes back to an older transaction of the same
 * data file.
 */
#ifndef CASEFS_DURABLE_H
#define CASEFS_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#define DURABLE_FILE "durable"
#define DURABLE_SLOT_BYTES 512
/* LMDB 0.9's meta page: a 16-byte page header, then the 136-byte MDB_meta
 * (magic, version, address, map size, two database records, last page,
 * transaction id).  The layout is checked whenever a meta page is read. */
#define DURABLE_META_OFFSET 16
#define DURABLE_META_BYTES 136
#define DURABLE_BOOT_BYTES 40

struct durable_point {
    uint64_t txnid;               /* the durable transaction */
    uint64_t ino;                 /* data.mdb's inode number */
    /* Set by a recovery that undid transactions (undone_from, the newest
     * found, back to undone_to); cleared once the store's log says so. */
    uint64_t undone_from, undone_to;
    char boot[DURABLE_BOOT_BYTES]; /* boot id of the machine, NUL-terminated */
    uint8_t meta[DURABLE_META_BYTES];
};

/* The current boot's id (/proc/sys/kernel/random/boot_id).  0 or -errno. */
int durable_boot_id(char boot[DURABLE_BOOT_BYTES]);

/* Reads transaction txnid's meta page from the data file (fd, page size
 * psize) into meta.  0; -EAGAIN: the slot holds another transaction now;
 * -EPROTO: not an LMDB 0.9 meta page; -errno. */
int durable_meta_read(int datafd, size_t psize, uint64_t txnid,
                      uint8_t meta[DURABLE_META_BYTES]);

/* Opens dir's durable file read-write, creating it (two empty slots,
 * flushed with its folder) when create is set.  An fd or -errno. */
int durable_open(const char *dir, int create);

/* The newest valid record.  0; -ENOENT: none. */
int durable_read(int fd, struct durable_point *p);

/* Records p under an exclusive flock and flushes it, unless the file
 * already records this data file (same inode) at p's transaction or later
 * in p's boot.  0 or -errno. */
int durable_write(int fd, const struct durable_point *p);

/* When the record carries a notice of undone transactions, calls
 * logger(arg, from, to) under the file's lock and, when it returns 0,
 * clears the notice.  *from and *to: the notice (0 when none).  0 or the
 * error of logger or of the file. */
int durable_notice_take(int fd, uint64_t *from, uint64_t *to,
                        int (*logger)(void *arg, uint64_t from, uint64_t to), void *arg);

/* Run before LMDB opens dir's environment.  When dir's durable file
 * records a point of another boot, of this data file, and the data file's
 * newest meta page is past it, sets both meta pages back to the recorded
 * one and flushes; then records the point as of this boot.  *from and *to
 * are set to the newest transaction found and the one kept (equal when
 * nothing was undone).  0 (also when there is no durable file) or -errno;
 * -EPROTO: the data file is not an LMDB 0.9 file; -EROFS: transactions need
 * undoing and the data file cannot be written.  On read-only media with
 * nothing to undo, nothing is written. */
int durable_recover(const char *dir, const char boot[DURABLE_BOOT_BYTES], uint64_t *from,
                    uint64_t *to);

#endif
