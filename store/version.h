/*
 * version — the ordered history of a document.
 *
 * Database "versions" maps node id (8 bytes) || version number (4 bytes,
 * big-endian, from 1) to a sealed record: when and by whom the version was
 * committed, its size, file mode and mtime at commit, its state (live or
 * retracted) and the list of its content chunks (id and length each).
 * Versions are appended, never rewritten, except that an administrator's
 * decision may mark one retracted.  Big-endian keys keep a document's
 * versions adjacent and in order.
 */
#ifndef CASEFS_VERSION_H
#define CASEFS_VERSION_H

#include <stdint.h>

#include "store/chunk.h"
#include "store/store.h"

enum version_state { VERSION_LIVE = 0, VERSION_RETRACTED = 1 };

struct version_chunk {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t len;
};

struct version {
    uint64_t node;
    uint32_t number;
    uint8_t state;
    int64_t sec; /* commit time, UTC */
    uint32_t nsec;
    uint32_t uid;
    uint32_t pid;
    char *user;    /* malloc'd */
    char *process; /* malloc'd */
    uint64_t size;
    uint32_t mode;
    uint64_t from_node; /* content came from another node (rename), or 0 */
    uint32_t nchunks;
    struct version_chunk *chunks; /* malloc'd */
};

/* 0, -ENOENT, -EIO (tampered).  Free with version_clear. */
int version_get(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
                struct version *out);
/* Writes v at (v->node, v->number).  0 or -ENOSPC/-EIO/-ENOMEM. */
int version_put(struct store *s, MDB_txn *txn, const struct version *v);
/* As version_put, with the list in two parts: head[0..nhead) then
 * tail[0..ntail), v->nchunks in all (v->chunks is not read).  -EINVAL
 * when the parts are not v->nchunks long. */
int version_put_parts(struct store *s, MDB_txn *txn, const struct version *v,
                      const struct version_chunk *head, uint32_t nhead,
                      const struct version_chunk *tail, uint32_t ntail);
void version_clear(struct version *v);
/* True when a and b have the same content (same chunk list). */
int version_same_content(const struct version *a, const struct version *b);
/* Parser, exposed for tests and fuzzing. 0 or -EIO. */
int version_decode(const uint8_t *p, size_t n, uint64_t node, uint32_t number,
                   struct version *out);

#endif
