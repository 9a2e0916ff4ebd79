/*
 * doc — see doc.h.
 */
#include "store/doc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/log.h"
#include "store/node.h"

static int doc_set_base(struct doc *d, struct version *v)
{
    uint64_t *starts = malloc(((size_t)v->nchunks + 1) * sizeof *starts);
    if (!starts)
        return -ENOMEM;
    uint64_t off = 0;
    for (uint32_t i = 0; i < v->nchunks; i++) {
        starts[i] = off;
        off += v->chunks[i].len;
    }
    starts[v->nchunks] = off;
    version_clear(&d->base);
    free(d->starts);
    d->base = *v;
    memset(v, 0, sizeof *v);
    d->starts = starts;
    d->base_limit = off;
    d->cache_index = -1;
    return 0;
}

static void doc_drop_pages(struct doc *d)
{
    for (size_t i = 0; i < d->npages; i++) {
        if (d->pages[i]) {
            sodium_memzero(d->pages[i], DOC_PAGE);
            free(d->pages[i]);
        }
    }
    free(d->pages);
    d->pages = NULL;
    d->npages = 0;
}

int doc_new(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
            struct doc **out)
{
    struct doc *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->cache = malloc(CHUNK_MAX);
    if (!d->cache) {
        free(d);
        return -ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->node = node;
    d->cache_index = -1;
    struct version v;
    memset(&v, 0, sizeof v);
    int rc = 0;
    if (number > 0)
        rc = version_get(s, txn, node, number, &v);
    else
        v.node = node;
    if (rc == 0)
        rc = doc_set_base(d, &v);
    version_clear(&v);
    if (rc) {
        doc_free(d);
        return rc;
    }
    d->size = d->base.size;
    *out = d;
    return 0;
}

void doc_free(struct doc *d)
{
    if (!d)
        return;
    doc_drop_pages(d);
    version_clear(&d->base);
    free(d->starts);
    if (d->cache) {
        sodium_memzero(d->cache, CHUNK_MAX);
        free(d->cache);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Index of the base chunk holding offset off (< base size). */
static uint32_t base_find(const struct doc *d, uint64_t off)
{
    uint32_t lo = 0, hi = d->base.nchunks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int load_chunk(struct store *s, MDB_txn *txn, struct doc *d, uint32_t i)
{
    if (d->cache_index == (int)i)
        return 0;
    MDB_txn *own = NULL;
    if (!txn) {
        int rc = store_txn_begin(s, 1, &own);
        if (rc)
            return rc;
        txn = own;
    }
    size_t n;
    int rc = chunk_get(s, txn, d->base.chunks[i].id, d->cache, &n);
    if (own)
        store_txn_abort(own);
    if (rc == 0 && n != d->base.chunks[i].len)
        rc = -EIO;
    if (rc) {
        d->cache_index = -1;
        return rc == -ENOENT ? -EIO : rc;
    }
    d->cache_index = (int)i;
    return 0;
}

/* Bytes [off, off+len) of the base content, zeros past base_limit. */
static int base_read(struct store *s, MDB_txn *txn, struct doc *d, uint64_t off,
                     uint8_t *buf, size_t len)
{
    uint64_t limit = d->base_limit < d->base.size ? d->base_limit : d->base.size;
    while (len > 0) {
        if (off >= limit) {
            memset(buf, 0, len);
            return 0;
        }
        uint32_t i = base_find(d, off);
        int rc = load_chunk(s, txn, d, i);
        if (rc)
            return rc;
        uint64_t in = off - d->starts[i];
        uint64_t n = d->base.chunks[i].len - in;
        if (n > len)
            n = len;
        if (off + n > limit)
            n = limit - off;
        memcpy(buf, d->cache + in, n);
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Bytes [off, off+len) of the working content; off+len <= size. */
static int content_read(struct store *s, MDB_txn *txn, struct doc *d, uint64_t off,
                        uint8_t *buf, size_t len)
{
    while (len > 0) {
        uint64_t p = off / DOC_PAGE, in = off % DOC_PAGE;
        size_t n = DOC_PAGE - in;
        if (n > len)
            n = len;
        if (p < d->npages && d->pages[p]) {
            memcpy(buf, d->pages[p] + in, n);
        } else {
            int rc = base_read(s, txn, d, off, buf, n);
            if (rc)
                return rc;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

ssize_t doc_read(struct store *s, struct doc *d, void *buf, size_t len, uint64_t off)
{
    pthread_mutex_lock(&d->mu);
    ssize_t rc = 0;
    if (off < d->size) {
        if (len > d->size - off)
            len = (size_t)(d->size - off);
        int r = content_read(s, NULL, d, off, buf, len);
        rc = r ? r : (ssize_t)len;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Makes page p dirty (materialised from the base). */
static int page_get(struct store *s, struct doc *d, uint64_t p, uint8_t **out)
{
    if (p >= d->npages) {
        size_t n = d->npages ? d->npages : 16;
        while (n <= p)
            n *= 2;
        uint8_t **pages = realloc(d->pages, n * sizeof *pages);
        if (!pages)
            return -ENOMEM;
        memset(pages + d->npages, 0, (n - d->npages) * sizeof *pages);
        d->pages = pages;
        d->npages = n;
    }
    if (!d->pages[p]) {
        uint8_t *pg = malloc(DOC_PAGE);
        if (!pg)
            return -ENOMEM;
        int rc = base_read(s, NULL, d, p * DOC_PAGE, pg, DOC_PAGE);
        if (rc) {
            free(pg);
            return rc;
        }
        /* Past the working size the page holds zeros, whatever the base had. */
        if (p * DOC_PAGE + DOC_PAGE > d->size) {
            uint64_t keep = d->size > p * DOC_PAGE ? d->size - p * DOC_PAGE : 0;
            memset(pg + keep, 0, DOC_PAGE - keep);
        }
        d->pages[p] = pg;
    }
    *out = d->pages[p];
    return 0;
}

static void mark_written(struct doc *d)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    d->dirty = 1;
    d->write_sec = now.tv_sec;
    d->write_nsec = (uint32_t)now.tv_nsec;
}

ssize_t doc_write(struct store *s, struct doc *d, const void *buf, size_t len,
                  uint64_t off)
{
    if (d->readonly)
        return -EROFS;
    if (off > DOC_SIZE_MAX || len > DOC_SIZE_MAX - off)
        return -EFBIG;
    pthread_mutex_lock(&d->mu);
    const uint8_t *src = buf;
    uint64_t pos = off;
    size_t left = len;
    int rc = 0;
    while (left > 0) {
        uint64_t p = pos / DOC_PAGE, in = pos % DOC_PAGE;
        size_t n = DOC_PAGE - in;
        if (n > left)
            n = left;
        uint8_t *pg;
        rc = page_get(s, d, p, &pg);
        if (rc)
            break;
        memcpy(pg + in, src, n);
        src += n;
        pos += n;
        left -= n;
        if (pos > d->size)
            d->size = pos;
    }
    if (len > left)
        mark_written(d);
    pthread_mutex_unlock(&d->mu);
    if (rc && left == len)
        return rc;
    return (ssize_t)(len - left);
}

int doc_truncate(struct store *s, struct doc *d, uint64_t size)
{
    if (d->readonly)
        return -EROFS;
    if (size > DOC_SIZE_MAX)
        return -EFBIG;
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (size < d->size) {
        if (size < d->base_limit)
            d->base_limit = size;
        uint64_t first = (size + DOC_PAGE - 1) / DOC_PAGE;
        for (uint64_t p = first; p < d->npages; p++) {
            if (d->pages[p]) {
                sodium_memzero(d->pages[p], DOC_PAGE);
                free(d->pages[p]);
                d->pages[p] = NULL;
            }
        }
        uint64_t p = size / DOC_PAGE;
        if (size % DOC_PAGE && p < d->npages && d->pages[p])
            memset(d->pages[p] + size % DOC_PAGE, 0, DOC_PAGE - size % DOC_PAGE);
    }
    if (rc == 0) {
        d->size = size;
        mark_written(d);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

uint64_t doc_size(struct doc *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->size;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void doc_touch(struct doc *d)
{
    pthread_mutex_lock(&d->mu);
    mark_written(d);
    pthread_mutex_unlock(&d->mu);
}

/* Streams the working content through the chunker into new chunks. */
static int doc_chunk_all(struct store *s, MDB_txn *txn, struct doc *d, struct version *v)
{
    size_t cap = 0;
    uint8_t *buf = malloc(2 * CHUNK_MAX);
    if (!buf)
        return -ENOMEM;
    size_t have = 0;
    uint64_t off = 0;
    int rc = 0;
    while (rc == 0) {
        /* Keep at least CHUNK_MAX bytes buffered while content remains. */
        if (have < CHUNK_MAX && off < d->size) {
            size_t want = 2 * CHUNK_MAX - have;
            if (want > d->size - off)
                want = (size_t)(d->size - off);
            rc = content_read(s, txn, d, off, buf + have, want);
            if (rc)
                break;
            have += want;
            off += want;
        }
        if (have == 0)
            break;
        size_t cut = chunk_cut(s, buf, have, off >= d->size);
        if (cut == 0)
            cut = have; /* cannot happen: have >= CHUNK_MAX or final */
        if (v->nchunks == cap) {
            cap = cap ? cap * 2 : 64;
            struct version_chunk *c = realloc(v->chunks, cap * sizeof *c);
            if (!c) {
                rc = -ENOMEM;
                break;
            }
            v->chunks = c;
        }
        rc = chunk_put(s, txn, buf, cut, v->chunks[v->nchunks].id);
        if (rc)
            break;
        v->chunks[v->nchunks].len = (uint32_t)cut;
        v->nchunks++;
        memmove(buf, buf + cut, have - cut);
        have -= cut;
    }
    sodium_memzero(buf, 2 * CHUNK_MAX);
    free(buf);
    v->size = d->size;
    return rc;
}

int doc_commit(struct store *s, struct doc *d, const struct store_actor *actor,
               const char *path, uint32_t *committed)
{
    if (committed)
        *committed = 0;
    pthread_mutex_lock(&d->mu);
    if (!d->dirty || d->readonly) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    struct node n;
    memset(&n, 0, sizeof n);
    struct version v, cur;
    memset(&v, 0, sizeof v);
    memset(&cur, 0, sizeof cur);
    int same = 0;
    if (rc == 0)
        rc = node_get(s, txn, d->node, &n);
    if (rc == 0)
        rc = doc_chunk_all(s, txn, d, &v);
    if (rc == 0 && n.version > 0) {
        if (n.version == d->base.number) {
            same = version_same_content(&v, &d->base);
        } else if ((rc = version_get(s, txn, d->node, n.version, &cur)) == 0) {
            same = version_same_content(&v, &cur);
        }
    }
    if (rc == 0 && !same) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        v.node = d->node;
        v.number = n.version + 1;
        v.state = VERSION_LIVE;
        v.sec = now.tv_sec;
        v.nsec = (uint32_t)now.tv_nsec;
        v.uid = actor->uid;
        v.pid = actor->pid;
        v.user = strdup(actor->user);
        v.process = strdup(actor->process);
        v.mode = n.mode;
        if (!v.user || !v.process)
            rc = -ENOMEM;
        if (rc == 0)
            rc = version_put(s, txn, &v);
        if (rc == 0) {
            n.version = v.number;
            n.size = v.size;
            /* The content changed when it was written, not when it was
             * committed: ctime and mtime keep the write's time (a later
             * chmod or utimens on the open file is not undone). */
            if (d->write_sec) {
                n.mtime_sec = d->write_sec;
                n.mtime_nsec = d->write_nsec;
                if (d->write_sec > n.ctime_sec ||
                    (d->write_sec == n.ctime_sec && d->write_nsec > n.ctime_nsec)) {
                    n.ctime_sec = d->write_sec;
                    n.ctime_nsec = d->write_nsec;
                }
            }
            rc = node_put(s, txn, &n);
        }
        if (rc == 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "%llu bytes", (unsigned long long)v.size);
            rc = log_append(s, txn, actor, "version", path, v.number, 0, detail);
        }
    }
    if (rc == 0 && !same)
        rc = store_txn_commit(s, txn);
    else
        store_txn_abort(txn);
    if (rc == 0) {
        if (!same) {
            if (committed)
                *committed = v.number;
            rc = doc_set_base(d, &v);
        } else if (n.version != d->base.number) {
            rc = doc_set_base(d, &cur);
        }
        if (rc == 0) {
            doc_drop_pages(d);
            d->size = d->base.size;
            d->base_limit = d->base.size;
            d->dirty = 0;
            d->write_sec = 0;
        }
    }
    version_clear(&v);
    version_clear(&cur);
    node_clear(&n);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int doc_rebase(struct store *s, struct doc *d)
{
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (!d->dirty && !d->readonly) {
        MDB_txn *txn;
        rc = store_txn_begin(s, 1, &txn);
        struct node n;
        memset(&n, 0, sizeof n);
        if (rc == 0)
            rc = node_get(s, txn, d->node, &n);
        if (rc == 0 && n.version != d->base.number && n.version > 0) {
            struct version v;
            rc = version_get(s, txn, d->node, n.version, &v);
            if (rc == 0) {
                rc = doc_set_base(d, &v);
                version_clear(&v);
            }
            if (rc == 0)
                d->size = d->base.size;
        }
        node_clear(&n);
        store_txn_abort(txn);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}
