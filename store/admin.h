/*
 * admin — what administrators, auditors and operators do to a store, mounted
 * or not: decide retraction requests, verify everything, take a backup,
 * change the passphrase.  Each decision and each whole-store read is
 * logged in the same transaction (or just before the copy, for a backup).
 */
#ifndef CASEFS_ADMIN_H
#define CASEFS_ADMIN_H

#include <stdint.h>

#include "store/store.h"

/* Decides request id: approve (the versions it covers are marked retracted
 * and the entry stays hidden) or reject (the entry returns to the live
 * view).  reason must be non-empty.  0; -ENOENT no such request; -EALREADY
 * already decided (or withdrawn); -EINVAL empty reason; -EIO. */
int admin_retract_decide(struct store *s, const struct store_actor *actor, uint64_t id,
                         int approve, const char *reason);

/* One problem found by admin_verify. */
typedef void (*admin_problem_fn)(void *arg, const char *problem);

struct admin_counts {
    uint64_t nodes, dirents, versions, chunks, requests, log_entries;
};

/* Reads and authenticates every record, chunk and log entry and checks
 * every reference (parents, names, versions, chunks, requests, the log
 * chain).  Calls fn once per problem, in plain words naming what is
 * affected (documents by path and version).  Returns the number of
 * problems (0: the store is sound) or a negative errno when the store
 * could not be read at all. */
long admin_verify(struct store *s, admin_problem_fn fn, void *arg,
                  struct admin_counts *counts);

/* Copies the store, compacted and consistent, into dest (a new or empty
 * folder), logging the backup first.  dest is itself a store with the
 * same passphrase.  0, -EEXIST dest holds files, -ENOSPC, -EIO. */
int admin_backup(struct store *s, const struct store_actor *actor, const char *dest);

/* Rewraps the master key of the store in dir under a new passphrase in one
 * transaction (nothing else is re-encrypted), logging it.  0; -EACCES old
 * passphrase wrong; -EINVAL empty new passphrase; errors of store_open. */
int admin_passwd(const char *dir, const char *old, size_t oldlen, const char *new_pass,
                 size_t newlen, const struct store_actor *actor);

#endif
