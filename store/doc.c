/*
 * doc — see doc.h.
 */
#include "store/doc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/ahead.h"
#include "store/log.h"
#include "store/node.h"
#include "store/par.h"

static void meta_clear(struct doc_meta *m)
{
    for (size_t i = 0; i < m->nlogs; i++)
        free(m->logs[i].path);
    free(m->logs);
    memset(m, 0, sizeof *m);
}

int doc_meta_add(struct doc *d, const struct doc_meta *m, const char *op,
                 const char *detail, const char *path, const struct store_actor *actor)
{
    pthread_mutex_lock(&d->meta_mu);
    struct doc_meta_log *logs = realloc(d->meta.logs, (d->meta.nlogs + 1) * sizeof *logs);
    char *p = strdup(path);
    if (!logs || !p) {
        if (logs)
            d->meta.logs = logs;
        free(p);
        pthread_mutex_unlock(&d->meta_mu);
        return -ENOMEM;
    }
    d->meta.logs = logs;
    struct doc_meta_log *l = &logs[d->meta.nlogs++];
    memset(l, 0, sizeof *l);
    snprintf(l->op, sizeof l->op, "%s", op);
    snprintf(l->detail, sizeof l->detail, "%s", detail);
    l->path = p;
    l->actor = *actor;
    store_actor_name(&l->actor);
    if (m->mode_set) {
        d->meta.mode_set = 1;
        d->meta.mode = m->mode & 07777;
    }
    if (m->owner_set) {
        d->meta.owner_set = 1;
        d->meta.uid = m->uid;
        d->meta.gid = m->gid;
    }
    if (m->mtime_set) {
        d->meta.mtime_set = 1;
        d->meta.mtime_sec = m->mtime_sec;
        d->meta.mtime_nsec = m->mtime_nsec;
    }
    d->meta.ctime_sec = m->ctime_sec;
    d->meta.ctime_nsec = m->ctime_nsec;
    pthread_mutex_unlock(&d->meta_mu);
    return 0;
}

void doc_meta_apply(struct doc *d, struct node *n)
{
    pthread_mutex_lock(&d->meta_mu);
    if (d->meta.nlogs) {
        if (d->meta.mode_set)
            n->mode = (n->mode & S_IFMT) | d->meta.mode;
        if (d->meta.owner_set) {
            n->uid = d->meta.uid;
            n->gid = d->meta.gid;
        }
        if (d->meta.mtime_set) {
            n->mtime_sec = d->meta.mtime_sec;
            n->mtime_nsec = d->meta.mtime_nsec;
        }
        if (d->meta.ctime_sec > n->ctime_sec ||
            (d->meta.ctime_sec == n->ctime_sec && d->meta.ctime_nsec > n->ctime_nsec)) {
            n->ctime_sec = d->meta.ctime_sec;
            n->ctime_nsec = d->meta.ctime_nsec;
        }
    }
    pthread_mutex_unlock(&d->meta_mu);
}

/* The working list changed: what was cached of it is stale. */
static void list_changed(struct doc *d)
{
    d->wlimit = d->wl.bytes;
    d->cache_index = -1;
    d->list_gen++;
    d->content_gen++;
}

/* Makes v the base, whose list (with that digest) is now the working
 * list: the base keeps the digest, not the list (takes v's contents). */
static void base_take(struct doc *d, struct version *v, const uint8_t digest[VERSION_DIGEST])
{
    version_clear(&d->base);
    d->base = *v;
    free(d->base.chunks);
    free(d->base.segs);
    d->base.chunks = NULL;
    d->base.segs = NULL;
    memcpy(d->base_digest, digest, VERSION_DIGEST);
    memset(v, 0, sizeof *v);
}

/* Makes v the base and its chunks the working list (takes v's contents). */
static int doc_set_base(struct store *s, struct doc *d, struct version *v)
{
    uint8_t digest[VERSION_DIGEST];
    version_digest(s, v, digest);
    int rc = wl_adopt(s, &d->wl, v);
    if (rc)
        return rc;
    list_changed(d);
    base_take(d, v, digest); /* the list is the working list's now */
    return 0;
}

/* Whether v, whose list has the digest given, holds the content of a
 * version of size bytes in n chunks whose list has the digest other. */
static int same_list(const struct version *v, const uint8_t digest[VERSION_DIGEST],
                     uint64_t size, uint32_t n, const uint8_t other[VERSION_DIGEST])
{
    return v->size == size && v->nchunks == n &&
           sodium_memcmp(digest, other, VERSION_DIGEST) == 0;
}

/* A place in the working list: the segment held, and where it lies.
 * Used with d->mu held, or by the spill (which alone changes the list
 * while it runs); released before the lock is let go of. */
struct wcur {
    struct wlist *l;
    struct wl_buf *b;
    uint32_t k, first, n;
    uint64_t start;
};

static void cur_init(struct wcur *c, struct doc *d)
{
    memset(c, 0, sizeof *c);
    c->l = &d->wl;
}

static void cur_done(struct wcur *c)
{
    wl_release(c->l, c->b);
    c->b = NULL;
}

static int cur_seg(struct store *s, MDB_txn *txn, struct wcur *c, uint32_t k)
{
    if (c->b && c->k == k)
        return 0;
    cur_done(c);
    int rc = wl_hold(s, txn, c->l, k, &c->b);
    if (rc)
        return rc;
    c->k = k;
    c->first = c->l->seg[k].first;
    c->n = c->l->seg[k].g.n;
    c->start = c->l->seg[k].start;
    return 0;
}

/* Holds the segment of chunk i (< the list's chunk count). */
static int cur_at(struct store *s, MDB_txn *txn, struct wcur *c, uint32_t i)
{
    if (c->b && i >= c->first && i - c->first < c->n)
        return 0;
    return cur_seg(s, txn, c, wl_seg_of(c->l, i));
}

/* *i: the chunk holding offset off (< the list's end), its segment held. */
static int cur_find(struct store *s, MDB_txn *txn, struct wcur *c, uint64_t off,
                    uint32_t *i)
{
    if (!(c->b && off >= c->start && off - c->start < c->b->off[c->n])) {
        int rc = cur_seg(s, txn, c, wl_seg_at(c->l, off));
        if (rc)
            return rc;
    }
    uint64_t rel = off - c->start;
    uint32_t lo = 0, hi = c->n;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->b->off[mid] <= rel)
            lo = mid;
        else
            hi = mid;
    }
    *i = c->first + lo;
    return 0;
}

/* Chunk i of the segment held, and where it starts and ends. */
static const struct version_chunk *cur_chunk(const struct wcur *c, uint32_t i)
{
    return &c->b->c[i - c->first];
}

static uint64_t cur_start(const struct wcur *c, uint32_t i)
{
    return c->start + c->b->off[i - c->first];
}

static uint64_t cur_end(const struct wcur *c, uint32_t i)
{
    return c->start + c->b->off[i - c->first + 1];
}

/* Lets go of a page: it is kept for reuse while there is room (spilled
 * pages are written again at once when a document streams).  A page kept for reuse is overwritten whole before it is read again
 * (page_get); one that goes back to the allocator is wiped first. */
static void page_release(struct doc *d, uint8_t *pg)
{
    if (!d->spare)
        d->spare = malloc(DOC_SPILL_PAGES * sizeof *d->spare);
    if (d->spare && d->nspare < DOC_SPILL_PAGES) {
        d->spare[d->nspare++] = pg;
    } else {
        sodium_memzero(pg, DOC_PAGE);
        free(pg);
    }
}

static void page_free(struct doc *d, uint64_t p)
{
    page_release(d, pagemap_take(&d->pages, p));
    d->npresent--;
}

/* Waits for a spill in flight; d->mu held. */
static void spill_wait(struct doc *d)
{
    while (d->spilling)
        pthread_cond_wait(&d->cv, &d->mu);
}

static uint8_t *page_alloc(struct doc *d)
{
    if (d->nspare)
        return d->spare[--d->nspare];
    return malloc(DOC_PAGE);
}

static void doc_drop_pages(struct doc *d)
{
    for (uint64_t p = pagemap_next(&d->pages, 0); p != PAGEMAP_NONE;
         p = pagemap_next(&d->pages, p + 1))
        page_free(d, p);
    pagemap_free(&d->pages);
    while (d->nspare) {
        uint8_t *pg = d->spare[--d->nspare];
        sodium_memzero(pg, DOC_PAGE);
        free(pg);
    }
    free(d->spare);
    d->spare = NULL;
    d->spill_at = DOC_SPILL_PAGES;
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
    pthread_mutex_init(&d->meta_mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->node = node;
    wl_init(&d->wl);
    d->cache_index = -1;
    d->spill_at = DOC_SPILL_PAGES;
    struct version v;
    memset(&v, 0, sizeof v);
    int rc = 0;
    if (number > 0)
        rc = version_get(s, txn, node, number, &v);
    else
        v.node = node;
    if (rc == 0)
        rc = doc_set_base(s, d, &v);
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
    pthread_mutex_lock(&d->mu);
    spill_wait(d);
    pthread_mutex_unlock(&d->mu);
    ahead_forget(d->ahead_of, d);
    if (d->spill_joinable)
        pthread_join(d->spill_thread, NULL);
    pagemap_free(&d->frozen); /* empty: a spill's end empties it */
    doc_drop_pages(d);
    version_clear(&d->base);
    wl_free(&d->wl);
    if (d->cache) {
        sodium_memzero(d->cache, d->cache_hw);
        free(d->cache);
    }
    meta_clear(&d->meta);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->meta_mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

/* What a content read sees: pages over the working list, and where it
 * keeps one decrypted chunk.  The live view is the document's own pages
 * (d->mu held); a spill's view is the pages frozen for it. */
struct view {
    const struct pagemap *pages;
    uint64_t size;
    uint8_t *cache;
    int64_t *cache_index;
    size_t *cache_hw; /* most bytes cache ever held */
};

static struct view live_view(struct doc *d)
{
    struct view v = {&d->pages, d->size, d->cache, &d->cache_index, &d->cache_hw};
    return v;
}

/* Decrypts chunk id, which must be len bytes, into buf (at least len
 * bytes), in txn or a read transaction of its own (txn NULL).  A missing
 * chunk or one of another length is damage: -EIO. */
static int chunk_fetch(struct store *s, MDB_txn *txn, const uint8_t id[CHUNK_ID_BYTES],
                       uint32_t len, uint8_t *buf)
{
    MDB_txn *own = NULL;
    if (!txn) {
        int rc = store_txn_begin(s, 1, &own);
        if (rc)
            return rc;
        txn = own;
    }
    int rc = chunk_get_exact(s, txn, id, buf, len);
    if (own)
        store_txn_abort(own);
    return rc == -ENOENT ? -EIO : rc;
}

/* The working list's content ends here (wlimit, or the list's end). */
static uint64_t list_limit(const struct doc *d)
{
    return d->wlimit < d->wl.bytes ? d->wlimit : d->wl.bytes;
}

/* Bytes [off, off+len) of the working list's content, zeros past wlimit. */
static int base_read(struct store *s, MDB_txn *txn, struct doc *d, struct view *v,
                     uint64_t off, uint8_t *buf, size_t len)
{
    uint64_t limit = list_limit(d);
    struct wcur c;
    cur_init(&c, d);
    int rc = 0;
    while (len > 0) {
        if (off >= limit) {
            memset(buf, 0, len);
            break;
        }
        uint32_t i;
        if ((rc = cur_find(s, txn, &c, off, &i)) != 0)
            break;
        const struct version_chunk *ch = cur_chunk(&c, i);
        if (*v->cache_index != (int64_t)i) {
            if (ch->len > *v->cache_hw)
                *v->cache_hw = ch->len;
            rc = chunk_fetch(s, txn, ch->id, ch->len, v->cache);
            *v->cache_index = rc ? -1 : (int64_t)i;
            if (rc)
                break;
        }
        uint64_t in = off - cur_start(&c, i);
        uint64_t n = ch->len - in;
        if (n > len)
            n = len;
        if (off + n > limit)
            n = limit - off;
        memcpy(buf, v->cache + in, n);
        buf += n;
        off += n;
        len -= n;
    }
    cur_done(&c);
    return rc;
}

/* Bytes [off, off+len) of the content a view sees; off+len <= its size. */
static int content_read(struct store *s, MDB_txn *txn, struct doc *d, struct view *v,
                        uint64_t off, uint8_t *buf, size_t len)
{
    while (len > 0) {
        uint64_t p = off / DOC_PAGE, in = off % DOC_PAGE;
        size_t n = DOC_PAGE - in;
        if (n > len)
            n = len;
        const uint8_t *pg = pagemap_get(v->pages, p);
        if (pg) {
            memcpy(buf, pg + in, n);
        } else {
            int rc = base_read(s, txn, d, v, off, buf, n);
            if (rc)
                return rc;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* A chunk one read decrypts: straight into the caller's buffer when the
 * read covers it whole and no page overlays it, else into a buffer of the
 * read's own from which its parts are copied. */
struct read_task {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t index; /* in the working list */
    uint32_t len;
    uint8_t *dst;
    int own; /* dst is one of the read's own buffers */
    int rc;
    const uint8_t *sealed; /* read already by direct_load, or NULL */
    int slot;              /* sealed is in this slot of the store's ahead, or -1 */
};

/* A part of the read copied from a task's own buffer. */
struct read_copy {
    size_t task;
    size_t in; /* offset in the chunk */
    size_t at; /* offset in the caller's buffer */
    size_t n;
};

struct read_plan {
    struct store *s;
    struct read_task *tasks;
    size_t ntasks, task_cap;
    struct read_copy *copies;
    size_t ncopies, copy_cap;
    uint8_t **bufs; /* own buffers of CHUNK_MAX bytes, kept across rounds */
    size_t nbufs, buf_cap, bufs_used;
    size_t bufs_hw; /* most bytes any of them held (what is wiped) */
};

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

static uint8_t *plan_buffer(struct read_plan *pl)
{
    if (pl->bufs_used == pl->nbufs) {
        if (grow((void **)&pl->bufs, &pl->buf_cap, pl->nbufs + 1, sizeof *pl->bufs))
            return NULL;
        uint8_t *b = malloc(CHUNK_MAX);
        if (!b)
            return NULL;
        pl->bufs[pl->nbufs++] = b;
    }
    return pl->bufs[pl->bufs_used++];
}

static void plan_free(struct read_plan *pl)
{
    for (size_t i = 0; i < pl->nbufs; i++) {
        sodium_memzero(pl->bufs[i], pl->bufs_hw);
        free(pl->bufs[i]);
    }
    free(pl->bufs);
    free(pl->tasks);
    free(pl->copies);
}

/* Whether a dirty or frozen page overlays [a, b) (d->mu held). */
static int pages_over(const struct doc *d, uint64_t a, uint64_t b)
{
    uint64_t pa = a / DOC_PAGE, pb = (b + DOC_PAGE - 1) / DOC_PAGE;
    return pagemap_any(&d->pages, pa, pb) || pagemap_any(&d->frozen, pa, pb);
}

/* Fills buf[0..len) with the content at off (d->mu held): bytes in pages,
 * past the list and in the cached chunk at once; the chunks still to be
 * decrypted become tasks (and copies). */
static int read_plan(struct store *s, struct doc *d, struct read_plan *pl, uint8_t *buf,
                     size_t len, uint64_t off)
{
    pl->ntasks = pl->ncopies = pl->bufs_used = 0;
    size_t done = 0;
    uint64_t limit = list_limit(d);
    struct wcur cur;
    cur_init(&cur, d);
    int rc = 0;
    while (done < len) {
        uint64_t pos = off + done, p = pos / DOC_PAGE;
        size_t n = (size_t)(DOC_PAGE - pos % DOC_PAGE);
        if (n > len - done)
            n = len - done;
        const uint8_t *pg = pagemap_get(&d->pages, p);
        if (!pg)
            pg = pagemap_get(&d->frozen, p);
        if (pg) {
            memcpy(buf + done, pg + pos % DOC_PAGE, n);
            done += n;
            continue;
        }
        if (pos >= limit) {
            memset(buf + done, 0, n);
            done += n;
            continue;
        }
        uint32_t i;
        if ((rc = cur_find(s, NULL, &cur, pos, &i)) != 0)
            break;
        const struct version_chunk *ch = cur_chunk(&cur, i);
        uint64_t in = pos - cur_start(&cur, i), m = ch->len - in;
        if (m > n)
            m = n;
        if (pos + m > limit)
            m = limit - pos;
        if (d->cache_index == (int64_t)i) {
            memcpy(buf + done, d->cache + in, (size_t)m);
            done += (size_t)m;
            continue;
        }
        struct read_task *t = pl->ntasks ? &pl->tasks[pl->ntasks - 1] : NULL;
        if (!t || t->index != i) {
            if (grow((void **)&pl->tasks, &pl->task_cap, pl->ntasks + 1, sizeof *t)) {
                rc = -ENOMEM;
                break;
            }
            t = &pl->tasks[pl->ntasks++];
            memcpy(t->id, ch->id, CHUNK_ID_BYTES);
            t->index = i;
            t->len = ch->len;
            t->rc = 0;
            t->sealed = NULL;
            t->slot = -1;
            uint64_t start = cur_start(&cur, i), end = start + t->len;
            t->own = !(in == 0 && end <= limit && end <= off + len &&
                       !pages_over(d, start, end));
            if (!t->own) {
                t->dst = buf + done;
                done += t->len;
                continue;
            }
            if (!(t->dst = plan_buffer(pl))) {
                rc = -ENOMEM;
                break;
            }
            if (t->len > pl->bufs_hw)
                pl->bufs_hw = t->len;
        }
        if (grow((void **)&pl->copies, &pl->copy_cap, pl->ncopies + 1, sizeof *pl->copies)) {
            rc = -ENOMEM;
            break;
        }
        struct read_copy c = {pl->ntasks - 1, (size_t)in, done, (size_t)m};
        pl->copies[pl->ncopies++] = c;
        done += (size_t)m;
    }
    cur_done(&cur);
    return rc;
}

static void read_task_run(void *arg, size_t i)
{
    struct read_plan *pl = arg;
    struct read_task *t = &pl->tasks[i];
    t->rc = t->sealed ? chunk_open_sealed(pl->s, t->id, t->sealed, t->len, t->dst)
                      : chunk_fetch(pl->s, NULL, t->id, t->len, t->dst);
}

/* A streamed document's chunks are read from the store file a run of
 * chunks lying side by side at a time (store_stream_read: with O_DIRECT
 * unless the page cache holds them) into slots of the store's read-ahead
 * (store/ahead.h), the request's own chunks first, and the tasks decrypt
 * from there.  Cold, the read of a large document spent more time copying
 * chunks out of the page cache it had just filled than anything but
 * decrypting them.  A chunk that cannot be placed so (not in the map, no
 * slot free, a failed read) is read the usual way, which also reports any
 * damage. */
static void direct_load(struct store *s, struct doc *d, struct read_plan *pl,
                        const struct ahead_chunk *ahead, size_t nahead)
{
    size_t n = pl->ntasks, nmiss = 0;
    const size_t O = KEYS_SEAL_OVERHEAD;
    struct ahead_chunk *miss = malloc(n * sizeof *miss);
    uint64_t *off = malloc(n * sizeof *off);
    MDB_txn *txn = NULL;
    if (miss && off && store_txn_begin(s, 1, &txn) == 0) {
        ahead_want(s->ahead, txn, d, ahead, nahead, 0);
        /* from the slots read ahead; the rest read now, runs of them */
        for (size_t i = 0; i < n; i++) {
            struct read_task *t = &pl->tasks[i];
            if (chunk_locate(s, txn, t->id, t->len, &off[i]) != 0)
                off[i] = UINT64_MAX;
            else if (!(t->sealed = ahead_take(s->ahead, off[i], t->len + O, &t->slot))) {
                memcpy(miss[nmiss].id, t->id, CHUNK_ID_BYTES);
                miss[nmiss++].len = t->len;
            }
        }
        ahead_want(s->ahead, txn, d, miss, nmiss, 1);
        for (size_t i = 0; nmiss && i < n; i++) {
            struct read_task *t = &pl->tasks[i];
            if (!t->sealed && off[i] != UINT64_MAX)
                t->sealed = ahead_take(s->ahead, off[i], t->len + O, &t->slot);
        }
        store_txn_abort(txn);
    }
    free(miss);
    free(off);
}

/* A reader going forward through a streamed document has the chunks of
 * the next AHEAD_BYTES past its read read ahead (store/ahead.h): a read
 * that starts where the last one ended, or inside what was asked for
 * already (the kernel sends a reader's requests side by side, not always
 * in order), asks for what lies past what was asked for (d->mu held).  A
 * first read does when it is large (the kernel's read-ahead for a program
 * reading through; a look at a file's first bytes asks for less). */
#define AHEAD_BYTES (3u << 20)
#define AHEAD_FIRST (256u << 10) /* a first request this large reads through */
static struct ahead_chunk *ahead_plan(struct store *s, struct doc *d, uint64_t off,
                                       size_t len, size_t *n)
{
    *n = 0;
    uint64_t from = off + len, to = from + AHEAD_BYTES, lim = list_limit(d);
    int going = (off == 0 && len >= AHEAD_FIRST) || (off && off == d->read_end) ||
                (d->ahead_to > off && d->ahead_to <= to);
    d->read_end = from;
    if (!going)
        return NULL;
    if (d->ahead_to > from && d->ahead_to <= to)
        from = d->ahead_to;
    if (to > lim)
        to = lim;
    if (from >= to)
        return NULL;
    struct wcur cur;
    cur_init(&cur, d);
    struct ahead_chunk *c = NULL;
    size_t cap = 0;
    uint32_t i;
    int rc = cur_find(s, NULL, &cur, from, &i);
    for (; rc == 0 && i < d->wl.n; i++) {
        if ((rc = cur_at(s, NULL, &cur, i)) != 0 ||
            (rc = grow((void **)&c, &cap, *n + 1, sizeof *c)) != 0)
            break;
        memcpy(c[*n].id, cur_chunk(&cur, i)->id, CHUNK_ID_BYTES);
        c[(*n)++].len = cur_chunk(&cur, i)->len;
        if (cur_end(&cur, i) >= to) {
            d->ahead_to = cur_end(&cur, i);
            break;
        }
    }
    cur_done(&cur);
    if (rc) { /* reading ahead is a help, not a need */
        free(c);
        *n = 0;
        return NULL;
    }
    return c;
}

/* A read is atomic with respect to writes, as on a local filesystem: its
 * chunks are decrypted without the lock (side by side, on the store's
 * helpers too), and when the content changed meanwhile the read starts
 * again; after a few such rounds it decrypts under the lock. */
ssize_t doc_read(struct store *s, struct doc *d, void *out, size_t want, uint64_t off)
{
    uint8_t *buf = out;
    struct read_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.s = s;
    ssize_t rc = 0;
    size_t len = 0;
    int rounds = 0;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        len = off < d->size ? (want < d->size - off ? want : (size_t)(d->size - off)) : 0;
        uint64_t content_gen = d->content_gen, list_gen = d->list_gen;
        /* A large document's chunks, and the segments of its list, are
         * read with the map advised random (store.h); a small one's with
         * the normal advice, as the names and nodes on the way to it were.
         * Decided under the lock. */
        int streaming = d->size >= DOC_STREAM;
        if (streaming)
            store_map_random_begin(s);
        rc = read_plan(s, d, &pl, buf, len, off);
        if (rc || pl.ntasks == 0) {
            if (streaming)
                store_map_random_end(s);
            break;
        }
        size_t nahead = 0;
        struct ahead_chunk *ahead =
            streaming && s->ahead && rounds == 0 ? ahead_plan(s, d, off, len, &nahead) : NULL;
        if (ahead)
            d->ahead_of = s->ahead;
        if (rounds < 3)
            pthread_mutex_unlock(&d->mu);
        if (streaming && s->ahead)
            direct_load(s, d, &pl, ahead, nahead);
        free(ahead);
        par_for(s->par, pl.ntasks, read_task_run, &pl);
        /* What was read ahead is the store file as it was then: a chunk
         * that does not open from it (its pages freed and written again
         * meanwhile) is read the usual way. */
        for (size_t i = 0; i < pl.ntasks; i++) {
            struct read_task *t = &pl.tasks[i];
            if (t->slot < 0)
                continue;
            int opened = t->rc == 0;
            if (!opened)
                t->rc = chunk_fetch(s, NULL, t->id, t->len, t->dst);
            ahead_drop(s->ahead, t->slot, opened);
            t->slot = -1;
        }
        if (streaming)
            store_map_random_end(s);
        if (rounds < 3)
            pthread_mutex_lock(&d->mu);
        for (size_t i = 0; i < pl.ntasks && !rc; i++)
            rc = pl.tasks[i].rc;
        if (rc)
            break;
        if (d->content_gen != content_gen) {
            rounds++;
            continue;
        }
        for (size_t i = 0; i < pl.ncopies; i++) {
            const struct read_copy *c = &pl.copies[i];
            memcpy(buf + c->at, pl.tasks[c->task].dst + c->in, c->n);
        }
        /* The last chunk decrypted into a buffer of the read's own (where
         * the next read of a reader going forward starts) stays cached. */
        for (size_t i = pl.ntasks; i-- > 0;) {
            struct read_task *t = &pl.tasks[i];
            if (!t->own)
                continue;
            if (d->list_gen == list_gen) {
                for (size_t b = 0; b < pl.nbufs; b++)
                    if (pl.bufs[b] == t->dst)
                        pl.bufs[b] = d->cache;
                /* what each of the two buffers held, at most, goes with it */
                size_t cache_hw = d->cache_hw;
                d->cache_hw = pl.bufs_hw;
                if (cache_hw > pl.bufs_hw)
                    pl.bufs_hw = cache_hw;
                d->cache = t->dst;
                d->cache_index = (int64_t)t->index;
            }
            break;
        }
        break;
    }
    pthread_mutex_unlock(&d->mu);
    plan_free(&pl);
    if (rc)
        sodium_memzero(buf, want); /* nothing of a failed read is left behind */
    return rc ? rc : (ssize_t)len;
}

/* Makes page p dirty (materialised from the base). */
static int page_get(struct store *s, struct doc *d, uint64_t p, uint8_t **out)
{
    int rc = 0;
    uint8_t *pg = pagemap_get(&d->pages, p);
    if (!pg) {
        pg = page_alloc(d);
        if (!pg)
            return -ENOMEM;
        const uint8_t *f = pagemap_get(&d->frozen, p);
        if (f) {
            memcpy(pg, f, DOC_PAGE); /* a spill reads the frozen one */
        } else {
            struct view v = live_view(d);
            rc = base_read(s, NULL, d, &v, p * DOC_PAGE, pg, DOC_PAGE);
        }
        /* Past the working size the page holds zeros, whatever the base had. */
        if (rc == 0 && p * DOC_PAGE + DOC_PAGE > d->size) {
            uint64_t keep = d->size > p * DOC_PAGE ? d->size - p * DOC_PAGE : 0;
            memset(pg + keep, 0, DOC_PAGE - keep);
        }
        if (rc == 0)
            rc = pagemap_put(&d->pages, p, pg);
        if (rc) {
            sodium_memzero(pg, DOC_PAGE);
            free(pg);
            return rc;
        }
        d->npresent++;
    }
    *out = pg;
    return 0;
}

static void spill_start(struct store *s, struct doc *d);

static void mark_written(struct doc *d)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    d->dirty = 1;
    d->content_gen++;
    pthread_mutex_lock(&d->meta_mu);
    d->meta.mtime_set = 0; /* a write after an explicit time is newer */
    pthread_mutex_unlock(&d->meta_mu);
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
    if (len > left) {
        mark_written(d);
        d->write_hi = pos;
    }
    /* A writer far ahead of the spill in flight waits for it. */
    while (d->spilling && d->npresent >= 2 * DOC_SPILL_PAGES)
        pthread_cond_wait(&d->cv, &d->mu);
    if (!d->spilling && d->npresent >= d->spill_at)
        spill_start(s, d);
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
    spill_wait(d);
    int rc = 0;
    if (size < d->size) {
        if (size < d->wlimit)
            d->wlimit = size;
        uint64_t first = (size + DOC_PAGE - 1) / DOC_PAGE;
        for (uint64_t p = pagemap_next(&d->pages, first); p != PAGEMAP_NONE;
             p = pagemap_next(&d->pages, p + 1))
            page_free(d, p);
        uint8_t *pg = pagemap_get(&d->pages, size / DOC_PAGE);
        if (size % DOC_PAGE && pg)
            memset(pg + size % DOC_PAGE, 0, DOC_PAGE - size % DOC_PAGE);
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

/* Working chunk i is the list's last and the content in view v goes on
 * past it: its end may be where the content ended when it was cut (the
 * end of a document is a cut no chunker would make inside one), so it is
 * cut again with what follows.  Else appending to a document whose size
 * was a multiple of the page size kept the old end as a cut, and the same
 * content written again whole was cut differently: a version with nothing
 * changed. */
static int chunk_ended_content(const struct doc *d, const struct view *v, uint32_t i)
{
    return i + 1 == d->wl.n && v->size > d->wl.bytes;
}

/* Whether content [a, b) of the working list is what view v holds there:
 * inside the valid part of the list and under none of the view's pages. */
static int span_clean(const struct doc *d, const struct view *v, uint64_t a, uint64_t b)
{
    uint64_t lim = d->wlimit < v->size ? d->wlimit : v->size;
    if (b > lim || b == a)
        return 0;
    return !pagemap_any(v->pages, a / DOC_PAGE, (b - 1) / DOC_PAGE + 1);
}

/* Working chunk i, [a, b), still holds the content at its place in v. */
static int chunk_clean(const struct doc *d, const struct view *v, uint32_t i, uint64_t a,
                       uint64_t b)
{
    return !chunk_ended_content(d, v, i) && span_clean(d, v, a, b);
}

/* Where the new list meets the old one at the start of old segment k:
 * the segments from k on that still hold their content in view v, which
 * can be taken over as they are, [k, *end) (the list's last is cut again
 * when content goes on past it).  0 when none. */
static int rest_clean(const struct doc *d, const struct view *v, uint32_t k, uint32_t *end)
{
    const struct wlist *l = &d->wl;
    uint32_t last = v->size == l->bytes ? l->nseg : l->nseg - 1;
    if (v->size < l->bytes || k >= last)
        return 0;
    uint32_t e = k;
    while (e < last && span_clean(d, v, l->seg[e].start, l->seg[e].start + l->seg[e].g.bytes))
        e++;
    *end = e;
    return e > k;
}

/* New chunks are stored a few at a time (chunk_put_many hashes and seals
 * them side by side). */
#define PUT_BATCH 8

struct put_batch {
    uint8_t *space; /* the pieces, one after the other */
    size_t cap;     /* bytes at space */
    size_t used;    /* bytes of the pieces now held */
    size_t hw;      /* most bytes ever held (to be wiped) */
    size_t off[PUT_BATCH];
    size_t len[PUT_BATCH];
    size_t count;
};

static int batch_flush(struct store *s, MDB_txn *txn, struct put_batch *b,
                       struct wl_build *out)
{
    const uint8_t *p[PUT_BATCH];
    uint8_t ids[PUT_BATCH][CHUNK_ID_BYTES];
    for (size_t i = 0; i < b->count; i++)
        p[i] = b->space + b->off[i];
    int rc = chunk_put_many(s, txn, p, b->len, b->count, ids);
    for (size_t i = 0; i < b->count && rc == 0; i++)
        rc = wl_build_push(s, txn, out, ids[i], (uint32_t)b->len[i]);
    b->count = 0;
    b->used = 0;
    return rc;
}

/* Cuts the content view v sees into chunks and stores the new ones in txn.
 * Chunks of the working list that still hold their content are taken over
 * without being read; where content changed, the chunker starts at the
 * changed chunk's start (a chunk boundary, so the cuts are those a pass
 * from the beginning would make) and runs until its cuts meet the list's
 * again.  The new list is the working list's first *kept segments, which
 * stay as they are (the segment holding the first change is cut again
 * from its start, so that segments are cut as a pass from the beginning
 * would cut them), then out; where out reaches the start of an old
 * segment with nothing changed from there on, the old segments are taken
 * over whole.  final: through the end of the content; otherwise it stops
 * at the last boundary the chunker is sure of.  *end is the offset
 * reached.
 * Its buffers are as large as the content left to cut needs (a small
 * document's commit allocates and wipes a few KiB, not 640), and only what
 * was used is wiped. */
static int rechunk(struct store *s, MDB_txn *txn, struct doc *d, struct view *v, int final,
                   struct wl_build *out, uint32_t *kept, uint64_t *end)
{
    struct wlist *l = &d->wl;
    /* Everything before the first change is taken over as it is. */
    uint64_t first = d->wlimit < v->size ? d->wlimit : v->size;
    uint64_t p0 = pagemap_next(v->pages, 0);
    if (p0 != PAGEMAP_NONE && p0 * DOC_PAGE < first)
        first = p0 * DOC_PAGE;
    uint32_t k = l->nseg;
    if (first < l->bytes)
        k = wl_seg_at(l, first);
    if (k == l->nseg && k > 0 && v->size > l->bytes)
        k--; /* its last chunk is cut again with what follows */
    *kept = k;
    uint32_t i = k < l->nseg ? l->seg[k].first : l->n;
    uint64_t pos = k < l->nseg ? l->seg[k].start : l->bytes;
    uint64_t span = v->size > pos ? v->size - pos : 0;
    size_t bufcap = span < 2 * CHUNK_MAX ? (size_t)span : 2 * CHUNK_MAX;
    struct put_batch b;
    memset(&b, 0, sizeof b);
    b.cap = span < PUT_BATCH * CHUNK_MAX ? (size_t)span : PUT_BATCH * CHUNK_MAX;
    uint8_t *buf = malloc(bufcap ? bufcap : 1);
    if (!buf || !(b.space = malloc(b.cap ? b.cap : 1))) {
        free(buf);
        *end = pos;
        return -ENOMEM;
    }
    size_t buf_hw = 0;
    /* A large document's chunks: the map advised random meanwhile. */
    int streaming = span >= DOC_STREAM;
    if (streaming)
        store_map_random_begin(s);
    struct wcur cur;
    cur_init(&cur, d);
    int rc = 0;
    size_t at = 0, have = 0; /* buf[at, at + have) is the content at [pos, pos + have) */
    while (rc == 0 && pos < v->size) {
        while (i < l->n && (rc = cur_at(s, txn, &cur, i)) == 0 && cur_start(&cur, i) < pos)
            i++;
        if (rc)
            break;
        if (i < l->n && cur_start(&cur, i) == pos) {
            uint32_t upto;
            if (cur.first == i && rest_clean(d, v, cur.k, &upto)) {
                rc = batch_flush(s, txn, &b, out);
                if (rc == 0 && wl_build_at_start(out)) {
                    rc = wl_build_take(l, out, cur.k, upto);
                    i = upto < l->nseg ? l->seg[upto].first : l->n;
                    pos = upto < l->nseg ? l->seg[upto].start : l->bytes;
                    at = have = 0;
                    continue;
                }
            }
            uint64_t a = cur_start(&cur, i), e = cur_end(&cur, i);
            if (rc == 0 && chunk_clean(d, v, i, a, e)) {
                rc = batch_flush(s, txn, &b, out);
                if (rc == 0)
                    rc = wl_build_push(s, txn, out, cur_chunk(&cur, i)->id,
                                       cur_chunk(&cur, i)->len);
                pos = e;
                at = have = 0;
                continue;
            }
            if (rc)
                break;
        }
        if (have < CHUNK_MAX && pos + have < v->size) {
            memmove(buf, buf + at, have);
            at = 0;
            uint64_t want = bufcap - have;
            if (want > v->size - pos - have)
                want = v->size - pos - have;
            rc = content_read(s, txn, d, v, pos + have, buf + have, (size_t)want);
            if (rc)
                break;
            have += (size_t)want;
            if (have > buf_hw)
                buf_hw = have;
        }
        size_t cut = chunk_cut(s, pos, buf + at, have, final && pos + have == v->size);
        if (cut == 0)
            break; /* not final: the rest waits for more content */
        if (b.used + cut > b.cap)
            rc = batch_flush(s, txn, &b, out);
        if (rc)
            break;
        b.off[b.count] = b.used;
        memcpy(b.space + b.used, buf + at, cut);
        b.len[b.count++] = cut;
        b.used += cut;
        if (b.used > b.hw)
            b.hw = b.used;
        if (b.count == PUT_BATCH)
            rc = batch_flush(s, txn, &b, out);
        at += cut;
        have -= cut;
        pos += cut;
    }
    if (rc == 0)
        rc = batch_flush(s, txn, &b, out);
    cur_done(&cur);
    if (streaming)
        store_map_random_end(s);
    sodium_memzero(buf, buf_hw);
    free(buf);
    sodium_memzero(b.space, b.hw);
    free(b.space);
    *end = pos;
    return rc;
}

/* Moves frozen page p back among the live pages (the caller checked that
 * no live page p exists).  d->mu held. */
static int frozen_thaw(struct doc *d, uint64_t p)
{
    int rc = pagemap_put(&d->pages, p, pagemap_get(&d->frozen, p));
    if (rc)
        return rc;
    pagemap_take(&d->frozen, p);
    d->nfrozen--;
    d->npresent++;
    return 0;
}

/* The end of a spill (d->mu held): on success the working list becomes the
 * chunks stored, covering [0, end); what lies past end (less than
 * CHUNK_MAX bytes) is made sure to be in live pages first.  Frozen pages
 * below end are dropped; the others go back among the live pages unless
 * a write has made a newer one.  On any error nothing of the content
 * changes: the commit stores it. */
static void spill_finish(struct store *s, struct doc *d, int rc, uint32_t kept,
                         struct wl_build *l, uint64_t end,
                         const uint8_t (*stored)[CHUNK_ID_BYTES], uint32_t nstored)
{
    for (uint64_t p = end / DOC_PAGE; rc == 0 && p * DOC_PAGE < d->frozen_size; p++) {
        if (pagemap_get(&d->pages, p))
            continue;
        if (pagemap_get(&d->frozen, p)) {
            rc = frozen_thaw(d, p);
        } else {
            uint8_t *pg;
            rc = page_get(s, d, p, &pg); /* from the list, not yet replaced */
        }
    }
    if (rc == 0 && (rc = wl_splice(&d->wl, kept, l)) == 0)
        list_changed(d);
    wl_build_free(&d->wl, l);
    if (rc == 0)
        wl_mark_ids(&d->wl, stored, nstored); /* committed with the spill */
    for (uint64_t p = pagemap_next(&d->frozen, 0); p != PAGEMAP_NONE;
         p = pagemap_next(&d->frozen, p + 1)) {
        int live = pagemap_get(&d->pages, p) != NULL;
        if ((rc == 0 && (p + 1) * DOC_PAGE <= end) || live || frozen_thaw(d, p) != 0) {
            page_release(d, pagemap_take(&d->frozen, p));
            d->nfrozen--;
        }
    }
    if (rc)
        d->spill_at = d->npresent + DOC_SPILL_PAGES; /* no retry at every write */
}

/* Whether the spill of view v changes [start, start + bytes) of the list
 * (a frozen page over it, or content cut short). */
struct spill_changes {
    const struct doc *d;
    const struct view *v;
};

static int spill_changes(void *arg, uint64_t start, uint64_t bytes)
{
    const struct spill_changes *c = arg;
    return bytes == 0 || !span_clean(c->d, c->v, start, start + bytes);
}

static void *spill_main(void *arg)
{
    struct doc *d = arg;
    struct store *s = d->spill_store;
    int64_t cache_index = -1;
    size_t cache_hw = 0;
    uint8_t *cache = malloc(CHUNK_MAX);
    /* Only this thread changes the working list or the frozen pages while
     * d->spilling is set: they are read without the lock. */
    struct view v = {&d->frozen, d->frozen_size, cache, &cache_index, &cache_hw};
    struct wl_build l = {0};
    uint32_t kept = 0;
    uint64_t end = 0;
    MDB_txn *txn = NULL;
    uint8_t(*stored)[CHUNK_ID_BYTES] = NULL;
    uint32_t nstored = 0;
    int rc = cache ? store_txn_begin(s, 0, &txn) : -ENOMEM;
    if (rc == 0) {
        struct spill_changes sc = {d, &v};
        struct wl_changing ch = {spill_changes, &sc};
        rc = wl_store_some(s, txn, &d->wl, WL_UNSTORED, &ch, &stored, &nstored);
        if (rc == 0)
            rc = rechunk(s, txn, d, &v, 0, &l, &kept, &end);
        if (rc == 0)
            rc = store_txn_commit(s, txn);
        else
            store_txn_abort(txn);
    }
    if (cache) {
        sodium_memzero(cache, cache_hw);
        free(cache);
    }
    pthread_mutex_lock(&d->mu);
    spill_finish(s, d, rc, kept, &l, end, (const uint8_t(*)[CHUNK_ID_BYTES])stored, nstored);
    free(stored);
    d->spilling = 0;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    store_map_trim(s);
    return NULL;
}

/* Freezes the live pages and spills them on a thread of its own (here,
 * when no thread can be made).  d->mu held. */
static void spill_start(struct store *s, struct doc *d)
{
    if (d->spill_joinable) {
        pthread_join(d->spill_thread, NULL);
        d->spill_joinable = 0;
    }
    /* The page written last stays live (the writer is most likely to
     * write it again); the spill gets a copy of it, so that it sees the
     * content as it is now, not the list's older bytes there. */
    uint64_t keep = d->write_hi ? (d->write_hi - 1) / DOC_PAGE : 0;
    for (uint64_t p = pagemap_next(&d->pages, 0); p != PAGEMAP_NONE;
         p = pagemap_next(&d->pages, p + 1)) {
        uint8_t *pg = pagemap_get(&d->pages, p);
        if (p == keep) {
            uint8_t *copy = page_alloc(d);
            if (!copy)
                continue;
            memcpy(copy, pg, DOC_PAGE);
            if (pagemap_put(&d->frozen, p, copy) != 0) {
                page_release(d, copy);
                continue;
            }
        } else {
            if (pagemap_put(&d->frozen, p, pg) != 0)
                continue; /* stays live: the next spill takes it */
            pagemap_take(&d->pages, p);
            d->npresent--;
        }
        d->nfrozen++;
    }
    if (d->nfrozen == 0) {
        d->spill_at = d->npresent + DOC_SPILL_PAGES;
        return;
    }
    d->frozen_size = d->size;
    d->spilling = 1;
    d->spill_store = s;
    if (pthread_create(&d->spill_thread, NULL, spill_main, d) == 0) {
        d->spill_joinable = 1;
        return;
    }
    pthread_mutex_unlock(&d->mu);
    spill_main(d);
    pthread_mutex_lock(&d->mu);
}

void doc_settle(struct doc *d)
{
    pthread_mutex_lock(&d->mu);
    spill_wait(d);
    pthread_mutex_unlock(&d->mu);
}

int doc_commit(struct store *s, struct doc *d, const struct store_actor *actor,
               const char *path, uint32_t *committed)
{
    if (committed)
        *committed = 0;
    pthread_mutex_lock(&d->mu);
    spill_wait(d);
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
    int same = 0, have_cur = 0;
    struct wl_build l = {0};
    uint32_t kept = 0;
    uint64_t end = 0;
    struct view lv = live_view(d);
    if (rc == 0)
        rc = node_get(s, txn, d->node, &n);
    if (rc == 0)
        rc = rechunk(s, txn, d, &lv, 1, &l, &kept, &end);
    /* The new list is the working list's first kept segments, then l: it
     * is not put together in one piece (a document of millions of chunks
     * would hold it twice more). */
    uint64_t nchunks = (kept ? (uint64_t)d->wl.seg[kept - 1].first + d->wl.seg[kept - 1].g.n
                             : 0) + l.n;
    v.nchunks = (uint32_t)nchunks;
    v.size = end;
    uint8_t digest[VERSION_DIGEST] = {0};
    if (rc == 0 && nchunks > UINT32_MAX)
        rc = -EFBIG;
    if (rc == 0)
        wl_digest_spliced(s, &d->wl, kept, &l, digest);
    if (rc == 0 && n.version > 0) {
        if (n.version == d->base.number) {
            same = same_list(&v, digest, d->base.size, d->base.nchunks, d->base_digest);
        } else if ((rc = version_get(s, txn, d->node, n.version, &cur)) == 0) {
            have_cur = 1;
            uint8_t cur_digest[VERSION_DIGEST];
            version_digest(s, &cur, cur_digest);
            same = same_list(&v, digest, cur.size, cur.nchunks, cur_digest);
        }
        /* The same content: the working list becomes the current
         * version's again (what was cut now may name segments stored only
         * in this transaction, which is not committed). */
        if (rc == 0 && same && !have_cur)
            rc = version_get(s, txn, d->node, n.version, &cur);
    }
    /* Metadata changes made meanwhile go in first (d->mu held: no more
     * can be added during the commit). */
    size_t nmeta = d->meta.nlogs;
    if (rc == 0 && nmeta) {
        doc_meta_apply(d, &n);
        for (size_t i = 0; rc == 0 && i < nmeta; i++) {
            const struct doc_meta_log *e = &d->meta.logs[i];
            rc = log_append(s, txn, &e->actor, e->op, e->path, n.version, 0, e->detail);
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
        struct store_actor named;
        const struct store_actor *na = store_actor_named(actor, &named);
        v.user = strdup(na->user);
        v.process = strdup(na->process);
        v.mode = n.mode;
        if (!v.user || !v.process)
            rc = -ENOMEM;
        if (rc == 0)
            rc = wl_to_version(s, txn, &d->wl, kept, &l, &v);
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
    if (rc == 0 && same && nmeta)
        rc = node_put(s, txn, &n);
    if (rc == 0 && (!same || nmeta))
        rc = store_txn_commit(s, txn);
    else
        store_txn_abort(txn);
    if (rc == 0 && nmeta) {
        pthread_mutex_lock(&d->meta_mu);
        meta_clear(&d->meta);
        pthread_mutex_unlock(&d->meta_mu);
    }
    if (rc == 0) {
        if (!same) {
            if (committed)
                *committed = v.number;
            int segmented = v.nsegs > 0;
            rc = wl_splice(&d->wl, kept, &l);
            if (rc == 0) {
                if (segmented)
                    wl_mark_stored(&d->wl); /* all of them are now */
                list_changed(d);
                base_take(d, &v, digest);
            }
        } else {
            /* Not only when another handle's save made the version:
             * the spills of this content changed the working list, and
             * the pages past their end are dropped now. */
            rc = doc_set_base(s, d, &cur);
        }
        if (rc == 0) {
            doc_drop_pages(d);
            d->size = d->base.size;
            d->dirty = 0;
            d->write_sec = 0;
        }
    }
    version_clear(&v);
    wl_build_free(&d->wl, &l);
    version_clear(&cur);
    node_clear(&n);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int doc_rebase(struct store *s, struct doc *d)
{
    pthread_mutex_lock(&d->mu);
    spill_wait(d);
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
                rc = doc_set_base(s, d, &v);
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
