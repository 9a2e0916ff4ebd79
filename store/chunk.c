/*
 * chunk — see chunk.h.  The chunker is FastCDC-like without normalisation:
 * no cut before a minimum, a cut where the top bits of the gear hash (which
 * depend on the last 64 bytes) are zero, a forced cut at a maximum; fine
 * chunks (4 KiB, 14 bits, 64 KiB) in a document's first 32 MiB, coarse ones
 * (16 KiB, 16 bits, 256 KiB) past it.  A coarse cut is a fine cut's
 * position too (16 zero bits are 14), so a list cut fine where coarse
 * chunks now start (a store written before coarse chunks) meets the new
 * cuts again soon after a change, and is taken over from there.
 * A window of 64 bytes spans more than a line of text, so text whose lines
 * repeat a phrase still cuts at about the average size.
 */
#include "store/chunk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/par.h"

/* The cut of chunk_cut with no cut before min, a cut where the top `bits`
 * bits of the hash are zero, a forced cut at max. */
static inline size_t cut_with(const uint64_t *g, const uint8_t *p, size_t n, int final,
                              size_t min, unsigned bits, size_t max)
{
    size_t limit = n < max ? n : max;
    if (limit <= min)
        return (final || n >= max) ? limit : 0;
    const uint64_t top = ~(uint64_t)0 << (64 - bits);
    uint64_t h = 0;
    size_t i = min - 64;
    /* Warm the hash over the 64 bytes before the minimum cut point. */
    for (; i < min; i++)
        h = (h << 1) + g[p[i]];
    /* Four bytes a step, each position's hash computed from h: the same
     * values as one byte at a time (and so the same cuts, which stored
     * chunks depend on), but the chain from one step to the next is one
     * shift and one add for four bytes instead of for each: 2.2x faster. */
    for (; i + 4 <= limit; i += 4) {
        uint64_t a = g[p[i]], b = g[p[i + 1]], c = g[p[i + 2]], d = g[p[i + 3]];
        uint64_t h1 = (h << 1) + a;
        uint64_t h2 = (h1 << 1) + b;
        uint64_t abc = (a << 2) + (b << 1) + c;
        uint64_t h3 = (h << 3) + abc;
        uint64_t h4 = (h << 4) + (abc << 1) + d;
        if (!(h1 & top) | !(h2 & top) | !(h3 & top) | !(h4 & top))
            return i + (!(h1 & top) ? 1 : !(h2 & top) ? 2 : !(h3 & top) ? 3 : 4);
        h = h4;
    }
    for (; i < limit; i++) {
        h = (h << 1) + g[p[i]];
        if (!(h & top))
            return i + 1;
    }
    if (limit == max || final)
        return limit;
    return 0;
}

size_t chunk_cut(const struct store *s, uint64_t at, const uint8_t *p, size_t n, int final)
{
    const uint64_t *g = s->keys->gear;
    if (at < CHUNK_COARSE_AT)
        return cut_with(g, p, n, final, CHUNK_MIN, CHUNK_AVG_BITS, CHUNK_FINE_MAX);
    return cut_with(g, p, n, final, CHUNK_COARSE_MIN, CHUNK_COARSE_AVG_BITS, CHUNK_MAX);
}

void chunk_id(const struct store *s, const uint8_t *p, size_t n,
              uint8_t id[CHUNK_ID_BYTES])
{
    keys_hash(s->keys, KEYS_CHUNK_ID, p, n, id, CHUNK_ID_BYTES);
}

static void chunk_ad(const uint8_t id[CHUNK_ID_BYTES], uint8_t ad[4 + CHUNK_ID_BYTES])
{
    memcpy(ad, "chnk", 4);
    memcpy(ad + 4, id, CHUNK_ID_BYTES);
}

struct many {
    struct store *s;
    const uint8_t *const *p;
    const size_t *n;
    uint8_t (*ids)[CHUNK_ID_BYTES];
    uint8_t **sealed; /* NULL: stored already (or earlier in this call) */
    int nomem;
};

static void many_id(void *arg, size_t i)
{
    struct many *m = arg;
    chunk_id(m->s, m->p[i], m->n[i], m->ids[i]);
}

static void many_seal(void *arg, size_t i)
{
    struct many *m = arg;
    if (!m->sealed[i])
        return;
    uint8_t ad[4 + CHUNK_ID_BYTES];
    chunk_ad(m->ids[i], ad);
    keys_seal(m->s->keys, KEYS_CONTENT, ad, sizeof ad, m->p[i], m->n[i], m->sealed[i]);
}

int chunk_put_many(struct store *s, MDB_txn *txn, const uint8_t *const *p, const size_t *n,
                   size_t count, uint8_t (*ids)[CHUNK_ID_BYTES])
{
    for (size_t i = 0; i < count; i++)
        if (n[i] > CHUNK_MAX)
            return -EINVAL;
    uint8_t **sealed = calloc(count ? count : 1, sizeof *sealed);
    if (!sealed)
        return -ENOMEM;
    struct many m = {s, p, n, ids, sealed, 0};
    par_for(s->par, count, many_id, &m);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        int twice = 0; /* the same content earlier in this call */
        for (size_t j = 0; j < i && !twice; j++)
            twice = sealed[j] && memcmp(ids[j], ids[i], CHUNK_ID_BYTES) == 0;
        MDB_val k = {CHUNK_ID_BYTES, ids[i]}, v;
        int r = twice ? 0 : mdb_get(txn, s->dbi[STORE_DB_CHUNKS], &k, &v);
        /* Finding a chunk maps the tree's pages on the way to it, each
         * fault with the cached pages around it (chunk contents): counted
         * as 16 KiB, so that a document whose content the store holds
         * already (a copy, a repeated part), which is mostly such
         * lookups, lets go of the map too (store_map_trim). */
        if (!twice)
            store_map_touched(s, 16384);
        if (r == MDB_NOTFOUND) {
            if (!(sealed[i] = malloc(n[i] + KEYS_SEAL_OVERHEAD)))
                rc = -ENOMEM;
        } else if (r) {
            rc = store_mdb_err(r);
        }
    }
    if (rc == 0)
        par_for(s->par, count, many_seal, &m);
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (!sealed[i])
            continue; /* already stored: deduplicated */
        MDB_val k = {CHUNK_ID_BYTES, ids[i]}, v = {n[i] + KEYS_SEAL_OVERHEAD, NULL};
        rc = store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_CHUNKS], &k, &v, MDB_RESERVE));
        if (rc == 0)
            memcpy(v.mv_data, sealed[i], n[i] + KEYS_SEAL_OVERHEAD);
        /* Storing reads the tree's pages through the map. */
        store_map_touched(s, 8 * (uint64_t)n[i]);
    }
    for (size_t i = 0; i < count; i++)
        free(sealed[i]);
    free(sealed);
    return rc;
}

int chunk_put(struct store *s, MDB_txn *txn, const uint8_t *p, size_t n,
              uint8_t id[CHUNK_ID_BYTES])
{
    return chunk_put_many(s, txn, &p, &n, 1, (uint8_t(*)[CHUNK_ID_BYTES])id);
}

/* Opens chunk id's sealed parts (ct may be out itself); out is wiped when
 * they do not open.  0 or -EIO. */
static int open_parts(struct store *s, const uint8_t id[CHUNK_ID_BYTES], const uint8_t *nonce,
                      const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
    uint8_t ad[4 + CHUNK_ID_BYTES];
    chunk_ad(id, ad);
    if (keys_open_parts(s->keys, KEYS_CONTENT, ad, sizeof ad, nonce, ct, len, tag, out) != 0) {
        sodium_memzero(out, len);
        return -EIO;
    }
    return 0;
}

/* Decrypts chunk id into buf, which holds cap bytes; a stored chunk longer
 * than cap is damage and is not decrypted. */
static int get(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
               uint8_t *buf, size_t cap, size_t *n)
{
    MDB_val k = {CHUNK_ID_BYTES, (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_CHUNKS], &k, &v);
    if (rc)
        return store_mdb_err(rc);
    if (v.mv_size < KEYS_SEAL_OVERHEAD || v.mv_size - KEYS_SEAL_OVERHEAD > cap)
        return -EIO;
    /* The ciphertext is read into buf and decrypted there: no buffer of
     * its own, one read from the file. */
    size_t len = v.mv_size - KEYS_SEAL_OVERHEAD;
    uint8_t nonce[KEYS_NONCE_BYTES], tag[KEYS_TAG_BYTES];
    rc = store_value_read3(s, &v, nonce, sizeof nonce, buf, len, tag, sizeof tag);
    /* a value read from the file is not mapped; the tree's pages that led
     * to it are */
    store_map_touched(s, 4096);
    if (rc) {
        sodium_memzero(buf, len);
        return rc;
    }
    rc = open_parts(s, id, nonce, buf, len, tag, buf);
    if (rc == 0)
        *n = len;
    return rc;
}

int chunk_locate(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                 size_t len, uint64_t *off)
{
    MDB_val k = {CHUNK_ID_BYTES, (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_CHUNKS], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? -EIO : store_mdb_err(rc);
    store_map_touched(s, 4096);
    if (v.mv_size != len + KEYS_SEAL_OVERHEAD)
        return -EIO;
    return store_value_offset(s, &v, off);
}

int chunk_open_sealed(struct store *s, const uint8_t id[CHUNK_ID_BYTES],
                      const uint8_t *sealed, size_t len, uint8_t *buf)
{
    return open_parts(s, id, sealed, sealed + KEYS_NONCE_BYTES, len,
                      sealed + KEYS_NONCE_BYTES + len, buf);
}

int chunk_get(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
              uint8_t *buf, size_t *n)
{
    return get(s, txn, id, buf, CHUNK_MAX, n);
}

int chunk_get_exact(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                    uint8_t *buf, size_t len)
{
    size_t n = 0;
    int rc = get(s, txn, id, buf, len, &n);
    if (rc == 0 && n != len) {
        sodium_memzero(buf, n);
        rc = -EIO;
    }
    return rc;
}

int chunk_get_checked(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                      uint8_t *buf, size_t *n)
{
    int rc = chunk_get(s, txn, id, buf, n);
    if (rc)
        return rc;
    uint8_t check[CHUNK_ID_BYTES];
    chunk_id(s, buf, *n, check);
    if (sodium_memcmp(check, id, CHUNK_ID_BYTES) != 0) {
        sodium_memzero(buf, *n);
        return -EIO;
    }
    return 0;
}
