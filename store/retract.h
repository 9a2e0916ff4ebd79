/*
 * retract — retraction requests.
 *
 * Removing a document or folder in the mount does not delete it: it records
 * a request that an administrator approves or rejects.  Database
 * "retractions" maps the request id (8 bytes big-endian, from 1) to a
 * sealed record: which node and version, the path at the time, who asked
 * (uid, user name, pid, process), when, the reason, the state and, once
 * decided, who decided, when and why.
 */
#ifndef CASEFS_RETRACT_H
#define CASEFS_RETRACT_H

#include <stdint.h>

#include "store/store.h"

enum retract_state {
    RETRACT_PENDING = 0,
    RETRACT_APPROVED = 1,
    RETRACT_REJECTED = 2,
    /* The process that removed the entry re-created it at once (tar x and
     * cp over existing files remove, then create): nothing to decide. */
    RETRACT_WITHDRAWN = 3,
};
/* How soon a re-creation by the same process withdraws its request. */
#define RETRACT_WITHDRAW_SECONDS 10

struct retraction {
    uint64_t id;
    uint64_t node;
    uint32_t version; /* the version live when requested; 0 for a folder */
    uint8_t state;
    uint8_t is_dir;
    char *path; /* malloc'd, as every string here */
    uint32_t uid;
    uint32_t pid;
    char *user;
    char *process;
    int64_t sec;
    char *reason; /* "" when none was given */
    uint32_t decider_uid;
    char *decider; /* "" until decided */
    int64_t decided_sec;
    char *decision_reason;
};

/* Allocates the next request id. */
int retract_new_id(struct store *s, MDB_txn *txn, uint64_t *out);
int retract_put(struct store *s, MDB_txn *txn, const struct retraction *r);
/* 0, -ENOENT, -EIO. Free with retract_clear. */
int retract_get(struct store *s, MDB_txn *txn, uint64_t id, struct retraction *out);
void retract_clear(struct retraction *r);
/* Calls fn for every request in id order until it returns non-zero. */
typedef int (*retract_each_fn)(const struct retraction *r, void *arg);
int retract_each(struct store *s, MDB_txn *txn, retract_each_fn fn, void *arg);
const char *retract_state_name(uint8_t state);
int retract_decode(const uint8_t *p, size_t n, uint64_t id, struct retraction *out);

#endif
