/*
 * log — the tamper-evident audit log.
 *
 * Database "log" holds one entry a key; the key is the sequence number (8
 * bytes big-endian, from 1).  The value is MAC (32 bytes) || sealed payload.
 * The payload (time, uid, user name, pid, process name, operation, case,
 * path, version, result, detail) is sealed under KEYS_LOG with AD
 * "logv" || sequence number.  The MAC is keyed BLAKE2b-256 (KEYS_LOG_MAC)
 * over the previous entry's MAC (32 zero bytes for entry 1) || sequence
 * number || sealed payload, so the entries form a chain: changing,
 * removing, reordering or forging an entry breaks every MAC after it, and a
 * cut tail is found by comparing with a head (sequence number and MAC)
 * kept elsewhere.
 *
 * log_append is called inside the write transaction of the change it
 * records; the entry commits or aborts with the change.
 */
#ifndef CASEFS_LOG_H
#define CASEFS_LOG_H

#include <stdint.h>

#include "store/store.h"

#define LOG_MAC_BYTES 32
#define LOG_TEXT_MAX 4096

struct log_entry {
    uint64_t seq;
    int64_t sec; /* UTC */
    uint32_t nsec;
    uint32_t uid;
    uint32_t pid;
    char *user; /* malloc'd, as every string here */
    char *process;
    char *op;        /* "mkdir", "version", "open", "denied", ... */
    char *case_name; /* first component of path, "" for the root */
    char *path;      /* as seen from the mount root */
    uint32_t version;
    int32_t result; /* 0 or a positive errno value */
    char *detail;
    uint8_t mac[LOG_MAC_BYTES];
};

/* Appends an entry by actor.  result: 0 or a (positive or negative) errno.
 * path/detail may be NULL.  0 or -ENOSPC/-EIO/-ENOMEM. */
int log_append(struct store *s, MDB_txn *txn, const struct store_actor *actor,
               const char *op, const char *path, uint32_t version, int result,
               const char *detail);

/* Appends an entry in a transaction of its own (for refusals and failures
 * that change nothing else). */
int log_append_alone(struct store *s, const struct store_actor *actor, const char *op,
                     const char *path, uint32_t version, int result, const char *detail);

/* Walks the log from entry 1 checking sequence, MAC chain and seal.  Calls
 * fn for each good entry (entry strings are freed after fn returns); stops
 * at the first bad one and returns -EBADMSG with *bad_seq set to its
 * sequence number.  fn returning non-zero stops the walk with that value.
 * fn may be NULL (verification only). */
typedef int (*log_each_fn)(const struct log_entry *e, void *arg);
int log_each(struct store *s, MDB_txn *txn, log_each_fn fn, void *arg, uint64_t *bad_seq);

/* The newest entry's sequence number and MAC (0 and zeros when empty). */
int log_head(struct store *s, MDB_txn *txn, uint64_t *seq, uint8_t mac[LOG_MAC_BYTES]);

void log_entry_clear(struct log_entry *e);
/* Parser of a decrypted payload, exposed for tests and fuzzing. 0 or -EIO. */
int log_payload_decode(const uint8_t *p, size_t n, struct log_entry *out);

#endif
