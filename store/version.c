/*
 * version — see version.h.
 */
#include "store/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/codec.h"

#define VERSION_RECORD_INLINE 1   /* the list in the record */
#define VERSION_RECORD_SEGMENTS 2 /* the list as segments in "lists" */
/* A document of 1 TiB in minimum-size chunks; anything more is corrupt. */
#define VERSION_CHUNKS_MAX (1u << 28)
/* The most chunks a segment may hold in any store (the format's seg_max
 * is far less; more is corrupt). */
#define VERSION_SEG_CHUNKS_MAX (1u << 20)
#define SEG_ENTRY (CHUNK_ID_BYTES + 4)
#define SEG_DESC (CHUNK_ID_BYTES + 4 + 8)
#define SEG_RECORD_VERSION 1

/* Reads n list entries (id, u32 length) into c[0..n), each after it was
 * read whole (c may lie below the reader's bytes: decoding in place);
 * their lengths' sum, a length out of range marking the reader bad. */
static uint64_t decode_entries(struct codec_reader *r, struct version_chunk *c, uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct version_chunk e;
        codec_get_bytes(r, e.id, CHUNK_ID_BYTES);
        e.len = codec_get_u32(r);
        if (e.len == 0 || e.len > CHUNK_MAX)
            r->bad = 1;
        total += e.len;
        c[i] = e;
    }
    return total;
}

/* A record of plen bytes at p, whose first n entries now hold a list
 * decoded in place: the rest wiped, the buffer shrunk to the list. */
static struct version_chunk *list_in_place(uint8_t *p, size_t plen, uint32_t n)
{
    size_t keep = (size_t)n * sizeof(struct version_chunk);
    sodium_memzero(p + keep, plen - keep);
    struct version_chunk *shrunk = realloc(p, keep ? keep : 1);
    return shrunk ? shrunk : (struct version_chunk *)(void *)p;
}

/* The segments a record of version 2 names (the reader is past the chunk
 * count): u32 count | (id, u32 chunks, u64 bytes) x count. */
static int decode_segs(struct codec_reader *r, struct version *out)
{
    uint32_t nsegs = codec_get_u32(r);
    if (!codec_reader_ok(r) || nsegs == 0 || out->nchunks > VERSION_CHUNKS_MAX ||
        nsegs > out->nchunks || (size_t)nsegs * SEG_DESC != r->left ||
        out->state > VERSION_RETRACTED)
        return -EIO;
    struct version_seg *g = calloc(nsegs, sizeof *g);
    if (!g)
        return -ENOMEM;
    uint64_t chunks = 0, bytes = 0;
    for (uint32_t i = 0; i < nsegs; i++) {
        codec_get_bytes(r, g[i].id, CHUNK_ID_BYTES);
        g[i].n = codec_get_u32(r);
        g[i].bytes = codec_get_u64(r);
        if (g[i].n == 0 || g[i].n > VERSION_SEG_CHUNKS_MAX || g[i].bytes < g[i].n ||
            g[i].bytes > (uint64_t)g[i].n * CHUNK_MAX)
            r->bad = 1;
        chunks += g[i].n;
        bytes += g[i].bytes;
    }
    if (!codec_reader_ok(r) || chunks != out->nchunks || bytes != out->size) {
        free(g);
        return -EIO;
    }
    out->segs = g;
    out->nsegs = nsegs;
    return 0;
}

static void version_key(uint64_t node, uint32_t number, uint8_t key[12])
{
    codec_be64_put(key, node);
    codec_be32_put(key + 8, number);
}

/* Decodes a version record.  own: p itself, malloc'd and n bytes, which
 * the chunk list is decoded into in place and which out->chunks then
 * takes (shrunk to the list), so that a document of millions of chunks
 * does not hold its list twice while it opens; on failure own is wiped
 * and freed.  Else (NULL) the list is a copy and p is left alone. */
_Static_assert(sizeof(struct version_chunk) == CHUNK_ID_BYTES + 4,
               "a list entry in memory is as long as in the record");
static int decode(const uint8_t *p, size_t n, uint64_t node, uint32_t number,
                  struct version *out, uint8_t *own)
{
    struct codec_reader r;
    memset(out, 0, sizeof *out);
    codec_reader_init(&r, p, n);
    int rc = -EIO;
    uint8_t rv = codec_get_u8(&r);
    if (rv != VERSION_RECORD_INLINE && rv != VERSION_RECORD_SEGMENTS)
        goto fail;
    out->node = node;
    out->number = number;
    out->state = codec_get_u8(&r);
    out->sec = codec_get_i64(&r);
    out->nsec = codec_get_u32(&r);
    out->uid = codec_get_u32(&r);
    out->pid = codec_get_u32(&r);
    out->user = codec_get_str(&r, STORE_USER_MAX);
    out->process = codec_get_str(&r, STORE_PROCESS_MAX);
    out->size = codec_get_u64(&r);
    out->mode = codec_get_u32(&r);
    out->from_node = codec_get_u64(&r);
    out->nchunks = codec_get_u32(&r);
    if (rv == VERSION_RECORD_SEGMENTS) {
        rc = decode_segs(&r, out);
        if (rc)
            goto fail;
        if (own) {
            sodium_memzero(own, n);
            free(own);
        }
        return 0;
    }
    if (!codec_reader_ok(&r) || out->nchunks > VERSION_CHUNKS_MAX ||
        (size_t)out->nchunks * (CHUNK_ID_BYTES + 4) != r.left ||
        out->state > VERSION_RETRACTED)
        goto fail;
    /* In place, entry i is written below where it was read from (the
     * header lies before the list), after it was read whole. */
    struct version_chunk *c =
        own ? (struct version_chunk *)(void *)own
            : calloc(out->nchunks ? out->nchunks : 1, sizeof *out->chunks);
    if (!c) {
        rc = -ENOMEM;
        goto fail;
    }
    uint64_t total = decode_entries(&r, c, out->nchunks);
    if (!codec_reader_ok(&r) || total != out->size) {
        if (!own)
            free(c);
        goto fail;
    }
    /* in place, the rest (the header's names) is wiped */
    out->chunks = own ? list_in_place(own, n, out->nchunks) : c;
    return 0;
fail:
    version_clear(out);
    if (own) {
        sodium_memzero(own, n);
        free(own);
    }
    return rc;
}

int version_decode(const uint8_t *p, size_t n, uint64_t node, uint32_t number,
                   struct version *out)
{
    return decode(p, n, node, number, out, NULL);
}

int version_get(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
                struct version *out)
{
    uint8_t key[12], *p;
    size_t n;
    version_key(node, number, key);
    int rc = store_record_get(s, txn, STORE_DB_VERSIONS, key, 12, KEYS_RECORD, &p, &n);
    if (rc)
        return rc;
    return decode(p, n, node, number, out, p);
}

int version_put(struct store *s, MDB_txn *txn, const struct version *v)
{
    int segs = v->nsegs > 0;
    if (segs && v->chunks)
        return -EINVAL;
    struct codec_writer w = {0};
    /* the record's exact size: a list of thousands of chunks is not
     * copied as the writer grows */
    codec_writer_reserve(&w, 2 + 8 + 4 * 3 + 4 + (v->user ? strlen(v->user) : 0) + 4 +
                                 (v->process ? strlen(v->process) : 0) + 8 + 4 + 8 + 4 +
                                 (segs ? 4 + (size_t)v->nsegs * SEG_DESC
                                       : (size_t)v->nchunks * SEG_ENTRY));
    codec_put_u8(&w, segs ? VERSION_RECORD_SEGMENTS : VERSION_RECORD_INLINE);
    codec_put_u8(&w, v->state);
    codec_put_i64(&w, v->sec);
    codec_put_u32(&w, v->nsec);
    codec_put_u32(&w, v->uid);
    codec_put_u32(&w, v->pid);
    codec_put_str(&w, v->user);
    codec_put_str(&w, v->process);
    codec_put_u64(&w, v->size);
    codec_put_u32(&w, v->mode);
    codec_put_u64(&w, v->from_node);
    codec_put_u32(&w, v->nchunks);
    if (segs) {
        codec_put_u32(&w, v->nsegs);
        for (uint32_t i = 0; i < v->nsegs; i++) {
            codec_put_bytes(&w, v->segs[i].id, CHUNK_ID_BYTES);
            codec_put_u32(&w, v->segs[i].n);
            codec_put_u64(&w, v->segs[i].bytes);
        }
    } else {
        for (uint32_t i = 0; i < v->nchunks; i++) {
            codec_put_bytes(&w, v->chunks[i].id, CHUNK_ID_BYTES);
            codec_put_u32(&w, v->chunks[i].len);
        }
    }
    int rc = codec_writer_status(&w);
    if (rc == 0) {
        uint8_t key[12];
        version_key(v->node, v->number, key);
        rc = store_record_put(s, txn, STORE_DB_VERSIONS, key, 12, KEYS_RECORD, w.data,
                              w.len);
    }
    codec_writer_free(&w);
    return rc;
}

void version_clear(struct version *v)
{
    free(v->user);
    free(v->process);
    free(v->chunks);
    free(v->segs);
    v->user = v->process = NULL;
    v->chunks = NULL;
    v->segs = NULL;
    v->nchunks = v->nsegs = 0;
}

int version_seg_cut(const struct store *s, const uint8_t id[CHUNK_ID_BYTES], uint32_t count,
                    uint64_t bytes)
{
    if (count >= s->seg_max || bytes >= s->seg_bytes_max)
        return 1;
    /* the id's last bytes: a keyed hash, so where lists are cut says
     * nothing an observer could not see from the ids themselves */
    uint32_t h = codec_be32_get(id + CHUNK_ID_BYTES - 4);
    return count >= s->seg_min && (h & s->seg_mask) == 0;
}

uint32_t version_seg_len(const struct store *s, const struct version_chunk *c, uint32_t n,
                         uint64_t *bytes)
{
    uint64_t b = 0;
    uint32_t i = 0;
    while (i < n) {
        b += c[i].len;
        if (++i < n && version_seg_cut(s, c[i - 1].id, i, b))
            break;
    }
    *bytes = b;
    return i;
}

/* The entries c[0..n) as stored, a batch at a time, to f. */
static void seg_encode_each(const struct version_chunk *c, uint32_t n,
                            void (*f)(void *arg, const uint8_t *p, size_t len), void *arg)
{
    uint8_t buf[64 * SEG_ENTRY];
    size_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(buf + used, c[i].id, CHUNK_ID_BYTES);
        codec_be32_put(buf + used + CHUNK_ID_BYTES, c[i].len);
        used += SEG_ENTRY;
        if (used == sizeof buf || i + 1 == n) {
            f(arg, buf, used);
            used = 0;
        }
    }
}

static void hash_part(void *arg, const uint8_t *p, size_t len)
{
    crypto_generichash_update(arg, p, len);
}

void version_seg_name(const struct store *s, const struct version_chunk *c, uint32_t n,
                      uint8_t id[CHUNK_ID_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, s->keys->sub[KEYS_LIST_ID], KEYS_KEY_BYTES,
                            CHUNK_ID_BYTES);
    seg_encode_each(c, n, hash_part, &st);
    crypto_generichash_final(&st, id, CHUNK_ID_BYTES);
}

static void write_part(void *arg, const uint8_t *p, size_t len)
{
    codec_put_bytes(arg, p, len);
}

int version_seg_put(struct store *s, MDB_txn *txn, const struct version_chunk *c,
                    uint32_t n, const uint8_t id[CHUNK_ID_BYTES])
{
    if (s->no_lists)
        return -EROFS;
    MDB_val k = {CHUNK_ID_BYTES, (void *)id}, v;
    int r = mdb_get(txn, s->dbi[STORE_DB_LISTS], &k, &v);
    if (r == 0)
        return 0; /* the same segment, stored for another version */
    if (r != MDB_NOTFOUND)
        return store_mdb_err(r);
    struct codec_writer w = {0};
    codec_writer_reserve(&w, 1 + 4 + (size_t)n * SEG_ENTRY);
    codec_put_u8(&w, SEG_RECORD_VERSION);
    codec_put_u32(&w, n);
    seg_encode_each(c, n, write_part, &w);
    int rc = codec_writer_status(&w);
    if (rc == 0)
        rc = store_record_put(s, txn, STORE_DB_LISTS, id, CHUNK_ID_BYTES, KEYS_RECORD,
                              w.data, w.len);
    codec_writer_free(&w);
    return rc;
}

int version_seg_get(struct store *s, MDB_txn *txn, const struct version_seg *g,
                    struct version_chunk **out)
{
    *out = NULL;
    if (s->no_lists)
        return -EIO;
    uint8_t *p;
    size_t n;
    int rc = store_record_get(s, txn, STORE_DB_LISTS, g->id, CHUNK_ID_BYTES, KEYS_RECORD,
                              &p, &n);
    if (rc)
        return rc == -ENOENT ? -EIO : rc;
    struct codec_reader r;
    codec_reader_init(&r, p, n);
    rc = -EIO;
    if (codec_get_u8(&r) == SEG_RECORD_VERSION && codec_get_u32(&r) == g->n &&
        codec_reader_ok(&r) && r.left == (size_t)g->n * SEG_ENTRY) {
        /* decoded in place: entry i is written where entry i + 5/36 was */
        uint64_t total = decode_entries(&r, (struct version_chunk *)(void *)p, g->n);
        if (codec_reader_ok(&r) && total == g->bytes) {
            *out = list_in_place(p, n, g->n);
            return 0;
        }
    }
    sodium_memzero(p, n);
    free(p);
    return rc;
}

int version_each_chunk(struct store *s, MDB_txn *txn, const struct version *v,
                       int (*fn)(void *arg, uint32_t index, const struct version_chunk *c),
                       void *arg)
{
    if (v->nsegs == 0) {
        for (uint32_t i = 0; i < v->nchunks; i++) {
            int rc = fn(arg, i, &v->chunks[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    uint32_t index = 0;
    for (uint32_t k = 0; k < v->nsegs; k++) {
        struct version_chunk *c;
        int rc = version_seg_get(s, txn, &v->segs[k], &c);
        for (uint32_t i = 0; rc == 0 && i < v->segs[k].n; i++)
            rc = fn(arg, index++, &c[i]);
        free(c);
        if (rc)
            return rc;
    }
    return 0;
}

void version_digest_add(crypto_generichash_state *st, const struct version_seg *g)
{
    uint8_t d[SEG_DESC];
    memcpy(d, g->id, CHUNK_ID_BYTES);
    codec_be32_put(d + CHUNK_ID_BYTES, g->n);
    codec_be64_put(d + CHUNK_ID_BYTES + 4, g->bytes);
    crypto_generichash_update(st, d, sizeof d);
}

int version_digest(const struct store *s, const struct version *v,
                   uint8_t out[VERSION_DIGEST])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VERSION_DIGEST);
    if (v->nsegs) {
        for (uint32_t k = 0; k < v->nsegs; k++)
            version_digest_add(&st, &v->segs[k]);
    } else {
        for (uint32_t from = 0; from < v->nchunks;) {
            struct version_seg g;
            g.n = version_seg_len(s, v->chunks + from, v->nchunks - from, &g.bytes);
            version_seg_name(s, v->chunks + from, g.n, g.id);
            version_digest_add(&st, &g);
            from += g.n;
        }
    }
    crypto_generichash_final(&st, out, VERSION_DIGEST);
    return 0;
}

int version_same_content(const struct store *s, const struct version *a,
                         const struct version *b)
{
    if (a->size != b->size || a->nchunks != b->nchunks)
        return 0;
    uint8_t da[VERSION_DIGEST], db[VERSION_DIGEST];
    version_digest(s, a, da);
    version_digest(s, b, db);
    return sodium_memcmp(da, db, VERSION_DIGEST) == 0;
}
