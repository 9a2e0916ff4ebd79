/*
 * chunk — encrypted, deduplicated content chunks.
 *
 * A document's content is cut into chunks by a content-defined chunker (a
 * gear rolling hash whose table is derived from a store key, so boundaries
 * are the same for the same content inside one store and unpredictable
 * outside it).  A chunk is named by a keyed BLAKE2b-256 of its plaintext
 * (key KEYS_CHUNK_ID): identical chunks inside a store are stored once.
 * Database "chunks" maps that 32-byte id to the chunk sealed under
 * KEYS_CONTENT with AD "chnk" || id, so a chunk cannot be moved to another
 * id (reading authenticates that binding; `casefs verify` also checks that
 * the plaintext hashes to its id).  Chunks are never overwritten or
 * deleted.
 */
#ifndef CASEFS_CHUNK_H
#define CASEFS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define CHUNK_ID_BYTES 32
/* Fine chunks: those starting in a document's first CHUNK_COARSE_AT bytes,
 * where documents are edited line by line (a save stores the chunks
 * around the change). */
#define CHUNK_MIN (4u * 1024)
#define CHUNK_AVG_BITS 14 /* average fine chunk about 16 KiB */
#define CHUNK_FINE_MAX (64u * 1024)
/* Coarse chunks: those starting at CHUNK_COARSE_AT or later, in a large
 * recording, scan or archive, which is written whole and rarely edited:
 * about 80 KiB on average, a quarter as many chunks to name, store and
 * find per GiB (streaming 1 GiB in: 15 thousand page faults against 38,
 * 16 % less of the store file written; reading it: 10 % less time). */
#define CHUNK_COARSE_AT (32ull << 20)
#define CHUNK_COARSE_MIN (16u * 1024)
#define CHUNK_COARSE_AVG_BITS 16
/* The largest chunk of either kind (a coarse chunk's forced cut). */
#define CHUNK_MAX (256u * 1024)

/* Length of the first chunk of p[0..n), which lies at offset `at` of its
 * content: a fine chunk when at < CHUNK_COARSE_AT, else a coarse one.
 * When no boundary lies in it and n is less than that kind's maximum:
 * returns n if `final` (end of the content), else 0 (give me more bytes).
 * A pass from the content's start cuts the same chunks as one that starts
 * at any of its cuts, given the cut's offset. */
size_t chunk_cut(const struct store *s, uint64_t at, const uint8_t *p, size_t n, int final);

/* Computes the id of p[0..n). */
void chunk_id(const struct store *s, const uint8_t *p, size_t n,
              uint8_t id[CHUNK_ID_BYTES]);

/* Stores p[0..n) (n <= CHUNK_MAX) unless a chunk with its id exists; sets id.
 * 0, -ENOSPC, -EIO. */
int chunk_put(struct store *s, MDB_txn *txn, const uint8_t *p, size_t n,
              uint8_t id[CHUNK_ID_BYTES]);

/* chunk_put for count pieces p[i][0..n[i]) at once, ids into ids[i]: the
 * ids are computed, and the new pieces sealed, side by side on the store's
 * helper threads; the pieces are stored in txn in order.  0, -EINVAL (a
 * piece over CHUNK_MAX), -ENOMEM, -ENOSPC, -EIO; on an error some pieces
 * may be stored in txn already (the caller aborts it). */
int chunk_put_many(struct store *s, MDB_txn *txn, const uint8_t *const *p, const size_t *n,
                   size_t count, uint8_t (*ids)[CHUNK_ID_BYTES]);

/* Reads chunk id into buf (CHUNK_MAX bytes); *n its length.
 * 0; -ENOENT missing; -EIO altered or sealed under another id (no data is
 * returned then). */
int chunk_get(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
              uint8_t *buf, size_t *n);
/* Reads chunk id, which must be len bytes long, into buf (len bytes): a
 * chunk of another length is -EIO, and no byte past len is written. */
int chunk_get_exact(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                    uint8_t *buf, size_t len);
/* Where chunk id, which must be len bytes long, is sealed in the store
 * file: *off, the offset of its len + KEYS_SEAL_OVERHEAD sealed bytes
 * (valid while txn lives).  0; -ENOENT not in the file's map; -EIO missing
 * or of another length. */
int chunk_locate(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                 size_t len, uint64_t *off);
/* Decrypts chunk id's sealed bytes (len + KEYS_SEAL_OVERHEAD of them, as
 * read from where chunk_locate said) into buf (len bytes).  0; -EIO altered
 * or sealed under another id (buf wiped). */
int chunk_open_sealed(struct store *s, const uint8_t id[CHUNK_ID_BYTES],
                      const uint8_t *sealed, size_t len, uint8_t *buf);
/* chunk_get, and also -EIO when the plaintext does not hash to id (verify). */
int chunk_get_checked(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                      uint8_t *buf, size_t *n);

#endif
