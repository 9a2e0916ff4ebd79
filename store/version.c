/*
 * version — see version.h.
 */
#include "store/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/codec.h"

#define VERSION_RECORD_VERSION 1
/* A document of 1 TiB in minimum-size chunks; anything more is corrupt. */
#define VERSION_CHUNKS_MAX (1u << 28)

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
    if (codec_get_u8(&r) != VERSION_RECORD_VERSION)
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
    uint64_t total = 0;
    for (uint32_t i = 0; i < out->nchunks; i++) {
        struct version_chunk e;
        codec_get_bytes(&r, e.id, CHUNK_ID_BYTES);
        e.len = codec_get_u32(&r);
        if (e.len == 0 || e.len > CHUNK_MAX)
            r.bad = 1;
        total += e.len;
        c[i] = e;
    }
    if (!codec_reader_ok(&r) || total != out->size) {
        if (!own)
            free(c);
        goto fail;
    }
    out->chunks = c;
    if (own) {
        size_t keep = (size_t)out->nchunks * sizeof *c;
        sodium_memzero(own + keep, n - keep); /* the rest: the header's names */
        struct version_chunk *shrunk = realloc(own, keep ? keep : 1);
        if (shrunk)
            out->chunks = shrunk;
    }
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
    return version_put_parts(s, txn, v, v->chunks, v->nchunks, NULL, 0);
}

int version_put_parts(struct store *s, MDB_txn *txn, const struct version *v,
                      const struct version_chunk *head, uint32_t nhead,
                      const struct version_chunk *tail, uint32_t ntail)
{
    if ((uint64_t)nhead + ntail != v->nchunks)
        return -EINVAL;
    struct codec_writer w = {0};
    /* the record's exact size: a list of millions of chunks is not copied
     * as the writer grows */
    codec_writer_reserve(&w, 2 + 8 + 4 * 3 + 4 + (v->user ? strlen(v->user) : 0) + 4 +
                                 (v->process ? strlen(v->process) : 0) + 8 + 4 + 8 + 4 +
                                 (size_t)v->nchunks * (CHUNK_ID_BYTES + 4));
    codec_put_u8(&w, VERSION_RECORD_VERSION);
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
    for (uint32_t i = 0; i < v->nchunks; i++) {
        const struct version_chunk *c = i < nhead ? &head[i] : &tail[i - nhead];
        codec_put_bytes(&w, c->id, CHUNK_ID_BYTES);
        codec_put_u32(&w, c->len);
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
    v->user = v->process = NULL;
    v->chunks = NULL;
    v->nchunks = 0;
}

int version_same_content(const struct version *a, const struct version *b)
{
    if (a->size != b->size || a->nchunks != b->nchunks)
        return 0;
    for (uint32_t i = 0; i < a->nchunks; i++)
        if (a->chunks[i].len != b->chunks[i].len ||
            memcmp(a->chunks[i].id, b->chunks[i].id, CHUNK_ID_BYTES) != 0)
            return 0;
    return 1;
}
