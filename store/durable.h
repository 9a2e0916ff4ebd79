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
 *  - store_sync (store.h) makes the last committed transaction S durable
 *    and records it here, with a copy of S's meta page, in one of two ways:
 *    (a) the data file is flushed, then the record is written and flushed;
 *    (b) when every page written since the last point is known (written.h)
 *    and fits in a record, the record lists them with their checksums, is
 *    written (not flushed), and one flush of the data file makes both
 *    durable.  A recovery trusts a record of kind (b) only when every page
 *    it lists is on disk as written; else the flush did not end, and the
 *    record before it is the durable point;
 *  - while commits go unflushed the process holds a read transaction (the
 *    pin) on the older of the last two points when the newer is of kind
 *    (b), else on the last: LMDB reuses no page of either, nor any page
 *    written since the older (each listed page keeps what it was written
 *    with), so the point a recovery falls back to stays whole on disk
 *    whatever else is written after it.  A commit that fails (a write
 *    refused, cut short) leaves pages no point holds: the next point is
 *    of kind (a).  An open in the same boot as a record of kind (b),
 *    whose pins went with its process, records its first point as of kind
 *    (a);
 *  - a flush of the data file that fails marks the last point whose flush
 *    ended (DURABLE_WRITE_FAILED): Linux reports a write-back error once
 *    and may keep the pages as if written, so a later flush by another
 *    process would succeed over pages the disk never got.  No writable
 *    open in that boot goes on; a recovery in the next takes the store
 *    back to the point;
 * The file holds two slots of DURABLE_SLOT_BYTES, written alternately, each
 * with a sequence number and a checksum, so a torn write leaves the other
 * slot intact (layout in store/FORMAT.md); the two slots of 512 bytes at
 * its start, from before records listed pages, are still read.  Writers take flock(LOCK_EX) on
 * it, and a record never goes back to an older transaction of the same
 * data file.
 */
#ifndef CASEFS_DURABLE_H
#define CASEFS_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "store/written.h"

#define DURABLE_FILE "durable"
/* Slots of 4 KiB at 4096 and 8192; the file is made 12 KiB long when
 * opened for writing, so that writing a slot changes no metadata. */
#define DURABLE_SLOT_BYTES 4096
#define DURABLE_FILE_BYTES (3 * DURABLE_SLOT_BYTES)
/* The slots of 512 bytes at 0 and 512 that stores wrote before. */
#define DURABLE_OLD_SLOT_BYTES 512
/* LMDB 0.9's meta page: a 16-byte page header, then the 136-byte MDB_meta
 * (magic, version, address, map size, two database records, last page,
 * transaction id).  The layout is checked whenever a meta page is read. */
#define DURABLE_META_OFFSET 16
#define DURABLE_META_BYTES 136
#define DURABLE_BOOT_BYTES 40

/* Flags of a record. */
/* A flush of the data file failed after this point, in the record's boot:
 * the page cache may hold pages the disk never got (the kernel marks them
 * clean all the same), so no writable open trusts it until a recovery in
 * a new boot has taken the store back to this point. */
#define DURABLE_WRITE_FAILED 1u
/* The notice's transactions were undone after a failed write (above),
 * not a power loss. */
#define DURABLE_UNDONE_WRITE 2u

struct durable_point {
    uint64_t txnid;               /* the durable transaction */
    uint32_t flags;               /* DURABLE_WRITE_FAILED, DURABLE_UNDONE_WRITE */
    uint64_t ino;                 /* data.mdb's inode number */
    /* Set by a recovery that undid transactions (undone_from, the newest
     * found, back to undone_to); cleared once the store's log says so. */
    uint64_t undone_from, undone_to;
    char boot[DURABLE_BOOT_BYTES]; /* boot id of the machine, NUL-terminated */
    uint8_t meta[DURABLE_META_BYTES];
    /* Kind (b) above: the pages written since the point before, each with
     * its checksum under key (written.h).  0 pages: kind (a). */
    uint32_t npages;
    uint8_t key[WRITTEN_KEY_BYTES];
    struct written_page pages[WRITTEN_PAGES_MAX];
};

/* The current boot's id (/proc/sys/kernel/random/boot_id).  0 or -errno. */
int durable_boot_id(char boot[DURABLE_BOOT_BYTES]);

/* Reads transaction txnid's meta page from the data file (fd, page size
 * psize) into meta.  0; -EAGAIN: the slot holds another transaction now;
 * -EPROTO: not an LMDB 0.9 meta page; -errno. */
int durable_meta_read(int datafd, size_t psize, uint64_t txnid,
                      uint8_t meta[DURABLE_META_BYTES]);

/* Opens dir's durable file read-write, creating it (DURABLE_FILE_BYTES of
 * empty slots, flushed with its folder) when create is set.  An fd or
 * -errno. */
int durable_open(const char *dir, int create);

/* Whether a write into the file lands in place, in blocks already
 * allocated and written, with no metadata to commit: what a record of
 * kind (b) needs to be durable after a flush of the device alone.  Not
 * with its data journaled (chattr +j) or too short; a file with holes or
 * unwritten extents is written over, as it is, and flushed first.  1 or
 * 0. */
int durable_in_place(int fd);

/* The newest valid record.  0; -ENOENT: none. */
int durable_read(int fd, struct durable_point *p);

/* Records p as a point of kind (a) (its pages are ignored: the caller
 * flushed the data file) under an exclusive flock and flushes it, unless
 * the file already records this data file (same inode) at p's transaction
 * or later in p's boot, as of kind (a).  0 or -errno. */
int durable_write(int fd, const struct durable_point *p);

/* Records p as a point of kind (b) (p->npages > 0): under an exclusive
 * flock, when the newest record is of this data file and boot at
 * transaction `after` (the point p's pages were written since), writes
 * the record to the device without flushing it, then calls flush(arg),
 * which flushes the data file and with it the record.  0; -EAGAIN: the
 * newest record is not `after` (another process recorded a point), or
 * the file is too short: nothing was written, make p of kind (a); the
 * error of flush; -errno. */
int durable_write_checked(int fd, const struct durable_point *p, uint64_t after,
                          int (*flush)(void *arg), void *arg);

/* A file from before slots of 4 KiB (1,024 bytes, its records in the old
 * slots): makes it DURABLE_FILE_BYTES long, writes its newest record into
 * a slot when that is in an old slot, and clears the old slots.  Run once
 * the store says it is of the format that has this file (a build from
 * before refuses it then); an upgrade cut short is finished by the next.
 * 0 or -errno; nothing to do is 0. */
int durable_upgrade(int fd);

/* 1 when the newest record says a flush of data file ino failed in boot
 * (DURABLE_WRITE_FAILED): no writable open goes on; 0; -errno. */
int durable_held(int fd, const char boot[DURABLE_BOOT_BYTES], uint64_t ino);

/* A flush of the data file that was to make transaction txnid durable
 * failed: records the last point whose flush ended (the newest record,
 * or the one before it when the newest is txnid's of kind (b)) again, as
 * of kind (a) with DURABLE_WRITE_FAILED, so that no writable open in this
 * boot goes on from a page cache the disk does not match.  0 or -errno. */
int durable_mark_failed(int fd, uint64_t txnid);

/* When the newest record is of kind (b) at txnid, writes it again as of
 * kind (a): its flush ended, and a recovery is to trust it without
 * checking its pages (which may then be written again).  0 or -errno. */
int durable_confirm(int fd, uint64_t txnid);

/* When the record carries a notice of undone transactions, calls
 * logger(arg, from, to) (without the file's lock: it makes a durable
 * point) and, when it returns 0, clears the notice on the newest record
 * then.  *from and *to: the notice (0 when none).  0 or the
 * error of logger or of the file. */
int durable_notice_take(int fd, uint64_t *from, uint64_t *to,
                        int (*logger)(void *arg, uint64_t from, uint64_t to, int write_error),
                        void *arg);

/* Run before LMDB opens dir's environment.  When dir's durable file
 * records a point of another boot, of this data file, takes the newest
 * record, or the one before it when the newest is of kind (b) and a page
 * it lists is not as written; when the data file's newest meta page is
 * not that point's, sets both meta pages to the recorded one and flushes
 * (when that undoes transactions, after recording their notice with the
 * point, in its own boot); then records the point (kind (a)) as of this
 * boot.  *from and *to
 * are set to the newest transaction found and the one kept (equal when
 * nothing was undone).  0 (also when there is no durable file) or -errno;
 * -EPROTO: the data file is not an LMDB 0.9 file; -EROFS: transactions need
 * undoing and the data file cannot be written.  On read-only media with
 * nothing to undo, nothing is written. */
int durable_recover(const char *dir, const char boot[DURABLE_BOOT_BYTES], uint64_t *from,
                    uint64_t *to);
/* For the tests: a power loss inside durable_recover, after its notice is
 * written (1) or after the meta pages are set back (2); 0: none. */
extern int durable_test_stop;

#endif
