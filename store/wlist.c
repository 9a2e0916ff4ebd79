/*
 * wlist — see wlist.h.
 */
#include "store/wlist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>


static struct wl_buf *buf_new(uint32_t cap)
{
    struct wl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->c = malloc((cap ? cap : 1) * sizeof *b->c);
    b->off = malloc(((size_t)cap + 1) * sizeof *b->off);
    if (!b->c || !b->off) {
        free(b->c);
        free(b->off);
        free(b);
        return NULL;
    }
    b->cap = cap;
    b->refs = 1;
    return b;
}

static void buf_free(struct wl_buf *b)
{
    if (!b)
        return;
    free(b->c);
    free(b->off);
    free(b);
}

/* Makes b hold c[0..n) (taking c, which holds n entries). */
static struct wl_buf *buf_of(struct version_chunk *c, uint32_t n)
{
    struct wl_buf *b = calloc(1, sizeof *b);
    uint64_t *off = malloc(((size_t)n + 1) * sizeof *off);
    if (!b || !off) {
        free(b);
        free(off);
        return NULL;
    }
    off[0] = 0;
    for (uint32_t i = 0; i < n; i++)
        off[i + 1] = off[i] + c[i].len;
    b->c = c;
    b->off = off;
    b->n = b->cap = n;
    b->refs = 1;
    return b;
}

/* Drops one reference (l->mu held). */
static void buf_unref(struct wl_buf *b)
{
    if (b && --b->refs == 0)
        buf_free(b);
}

void wl_init(struct wlist *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

static void segs_drop(struct wlist *l, uint32_t from)
{
    for (uint32_t k = from; k < l->nseg; k++) {
        struct wl_seg *g = &l->seg[k];
        if (g->buf && g->stored)
            l->nheld--;
        buf_unref(g->buf);
        g->buf = NULL;
    }
    l->nseg = from;
}

void wl_free(struct wlist *l)
{
    pthread_mutex_lock(&l->mu);
    segs_drop(l, 0);
    pthread_mutex_unlock(&l->mu);
    free(l->seg);
    pthread_mutex_destroy(&l->mu);
    memset(l, 0, sizeof *l);
}

static int segs_room(struct wl_seg **seg, uint32_t *cap, uint32_t need)
{
    if (need <= *cap)
        return 0;
    uint32_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    struct wl_seg *p = realloc(*seg, (size_t)n * sizeof *p);
    if (!p)
        return -ENOMEM;
    *seg = p;
    *cap = n;
    return 0;
}

/* Recomputes first and start from segment k on, and the totals. */
static void segs_place(struct wlist *l, uint32_t k)
{
    uint32_t first = k ? l->seg[k - 1].first + l->seg[k - 1].g.n : 0;
    uint64_t start = k ? l->seg[k - 1].start + l->seg[k - 1].g.bytes : 0;
    for (; k < l->nseg; k++) {
        l->seg[k].first = first;
        l->seg[k].start = start;
        first += l->seg[k].g.n;
        start += l->seg[k].g.bytes;
    }
    l->n = first;
    l->bytes = start;
}

int wl_adopt(struct store *s, struct wlist *l, const struct version *v)
{
    struct wl_seg *seg = NULL;
    uint32_t nseg = 0, cap = 0;
    int rc = 0;
    if (v->nsegs) {
        rc = segs_room(&seg, &cap, v->nsegs);
        for (uint32_t k = 0; rc == 0 && k < v->nsegs; k++) {
            struct wl_seg g = {.g = v->segs[k], .stored = 1, .named = 1};
            seg[nseg++] = g;
        }
    } else {
        /* cut as the store would cut it; each segment a copy, held */
        uint32_t from = 0;
        while (rc == 0 && from < v->nchunks) {
            uint64_t bytes;
            uint32_t n = version_seg_len(s, v->chunks + from, v->nchunks - from, &bytes);
            struct version_chunk *c = malloc((size_t)n * sizeof *c);
            if (c)
                memcpy(c, v->chunks + from, (size_t)n * sizeof *c);
            struct wl_buf *b = c ? buf_of(c, n) : NULL;
            if (!b) {
                free(c);
                rc = -ENOMEM;
            } else if ((rc = segs_room(&seg, &cap, nseg + 1)) != 0) {
                buf_free(b);
            } else {
                struct wl_seg g = {.g = {.n = n, .bytes = bytes}, .buf = b};
                seg[nseg++] = g;
            }
            from += n;
        }
    }
    if (rc) {
        for (uint32_t k = 0; k < nseg; k++)
            buf_free(seg[k].buf);
        free(seg);
        return rc;
    }
    pthread_mutex_lock(&l->mu);
    segs_drop(l, 0);
    pthread_mutex_unlock(&l->mu);
    free(l->seg);
    l->seg = seg;
    l->nseg = nseg;
    l->cap = cap;
    segs_place(l, 0);
    return 0;
}

/* The last segment whose start (by_offset) or first index is at most key. */
static uint32_t seg_search(const struct wlist *l, uint64_t key, int by_offset)
{
    uint32_t lo = 0, hi = l->nseg;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t at = by_offset ? l->seg[mid].start : l->seg[mid].first;
        if (at <= key)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

uint32_t wl_seg_at(const struct wlist *l, uint64_t off)
{
    return seg_search(l, off, 1);
}

uint32_t wl_seg_of(const struct wlist *l, uint32_t i)
{
    return seg_search(l, i, 0);
}

/* Lets go of the stored segment used longest ago that nobody holds, while
 * more than WL_RESIDENT are held (l->mu held). */
static void let_go(struct wlist *l)
{
    while (l->nheld > WL_RESIDENT) {
        struct wl_seg *old = NULL;
        for (uint32_t k = 0; k < l->nseg; k++) {
            struct wl_seg *g = &l->seg[k];
            if (g->buf && g->stored && g->buf->refs == 1 && (!old || g->used < old->used))
                old = g;
        }
        if (!old)
            return;
        buf_unref(old->buf);
        old->buf = NULL;
        l->nheld--;
    }
}

int wl_hold(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t k, struct wl_buf **out)
{
    struct wl_seg *g = &l->seg[k];
    pthread_mutex_lock(&l->mu);
    if (g->buf) {
        g->buf->refs++;
        g->used = ++l->clock;
        *out = g->buf;
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    pthread_mutex_unlock(&l->mu);
    /* read without the lock (others may use the segments held meanwhile) */
    MDB_txn *own = NULL;
    int rc = 0;
    if (!txn && (rc = store_txn_begin(s, 1, &own)) != 0)
        return rc;
    struct version_chunk *c;
    rc = version_seg_get(s, txn ? txn : own, &g->g, &c);
    if (own)
        store_txn_abort(own);
    if (rc)
        return rc;
    struct wl_buf *b = buf_of(c, g->g.n);
    if (!b) {
        free(c);
        return -ENOMEM;
    }
    pthread_mutex_lock(&l->mu);
    if (g->buf) { /* read by another thread meanwhile */
        buf_free(b);
    } else {
        g->buf = b;
        l->nheld++;
    }
    g->buf->refs++;
    g->used = ++l->clock;
    *out = g->buf;
    let_go(l);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void wl_release(struct wlist *l, struct wl_buf *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&l->mu);
    buf_unref(b);
    pthread_mutex_unlock(&l->mu);
}

/* Names g (not stored, so held, or in a builder's open end). */
static void seg_name(struct store *s, struct wl_seg *g)
{
    if (g->named)
        return;
    version_seg_name(s, g->buf->c, g->g.n, g->g.id);
    g->named = 1;
}

/* The open end of b as a segment (not stored, not named). */
static struct wl_seg open_seg(struct wl_build *b)
{
    struct wl_seg g = {.g = {.n = b->open->n, .bytes = b->open->off[b->open->n]},
                       .named = b->open_named,
                       .buf = b->open};
    if (b->open_named)
        memcpy(g.g.id, b->open_id, CHUNK_ID_BYTES);
    return g;
}

/* Names b's open end (kept with it: a push forgets it). */
static void open_name(struct store *s, struct wl_build *b)
{
    if (!b->open_named) {
        version_seg_name(s, b->open->c, b->open->n, b->open_id);
        b->open_named = 1;
    }
}

static int has_open(const struct wl_build *b)
{
    return b && b->open && b->open->n > 0;
}

void wl_digest_spliced(struct store *s, struct wlist *l, uint32_t kept,
                       struct wl_build *b, uint8_t out[VERSION_DIGEST])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VERSION_DIGEST);
    for (uint32_t k = 0; k < kept; k++) {
        seg_name(s, &l->seg[k]);
        version_digest_add(&st, &l->seg[k].g);
    }
    for (uint32_t k = 0; b && k < b->nseg; k++) {
        seg_name(s, &b->seg[k]);
        version_digest_add(&st, &b->seg[k].g);
    }
    if (has_open(b)) {
        open_name(s, b);
        struct wl_seg g = open_seg(b);
        version_digest_add(&st, &g.g);
    }
    crypto_generichash_final(&st, out, VERSION_DIGEST);
}

void wl_digest(struct store *s, struct wlist *l, uint8_t out[VERSION_DIGEST])
{
    wl_digest_spliced(s, l, l->nseg, NULL, out);
}

void wl_build_free(struct wlist *l, struct wl_build *b)
{
    pthread_mutex_lock(&l->mu);
    for (uint32_t k = 0; k < b->nseg; k++)
        buf_unref(b->seg[k].buf);
    buf_unref(b->open);
    pthread_mutex_unlock(&l->mu);
    free(b->seg);
    memset(b, 0, sizeof *b);
}

int wl_build_at_start(const struct wl_build *b)
{
    return !has_open(b);
}

int wl_build_push(struct store *s, MDB_txn *txn, struct wl_build *b,
                  const uint8_t id[CHUNK_ID_BYTES], uint32_t len)
{
    /* grown as it fills: a small document's save allocates a few entries,
     * not a whole segment's */
    if (!b->open && !(b->open = buf_new(64)))
        return -ENOMEM;
    struct wl_buf *o = b->open;
    if (o->n == o->cap) {
        uint32_t cap = o->cap * 2;
        struct version_chunk *c = realloc(o->c, (size_t)cap * sizeof *c);
        if (!c)
            return -ENOMEM;
        o->c = c;
        uint64_t *off = realloc(o->off, ((size_t)cap + 1) * sizeof *off);
        if (!off)
            return -ENOMEM;
        o->off = off;
        o->cap = cap;
    }
    if (o->n == 0)
        o->off[0] = 0;
    b->open_named = 0;
    memcpy(o->c[o->n].id, id, CHUNK_ID_BYTES);
    o->c[o->n].len = len;
    o->off[o->n + 1] = o->off[o->n] + len;
    o->n++;
    b->n++;
    b->bytes += len;
    if (!version_seg_cut(s, id, o->n, o->off[o->n]))
        return 0;
    /* closed: held, not stored yet (wl_store_some, or the close, stores
     * it; a spill's segment that the next spill changes again is never
     * stored) */
    int rc = segs_room(&b->seg, &b->cap, b->nseg + 1);
    if (rc)
        return rc;
    b->seg[b->nseg++] = open_seg(b);
    b->open = NULL;
    b->open_named = 0;
    return 0;
}

static int wl_store_locked(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t keep,
                           const struct wl_changing *ch, uint8_t (**ids)[CHUNK_ID_BYTES],
                           uint32_t *nids);

int wl_store_some(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t keep,
                  const struct wl_changing *ch, uint8_t (**ids)[CHUNK_ID_BYTES],
                  uint32_t *nids)
{
    *ids = NULL;
    *nids = 0;
    pthread_mutex_lock(&l->mu); /* the clock; stores under it (rare) */
    int rc = wl_store_locked(s, txn, l, keep, ch, ids, nids);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int wl_store_locked(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t keep,
                           const struct wl_changing *ch, uint8_t (**ids)[CHUNK_ID_BYTES],
                           uint32_t *nids)
{
    /* the list's last segment is its open end: the next spill cuts it again;
     * one the spill about to run changes is left to it */
    uint32_t cand = 0;
    for (uint32_t k = 0; k + 1 < l->nseg; k++) {
        struct wl_seg *g = &l->seg[k];
        g->storing = !g->stored && ch && ch->fn(ch->arg, g->start, g->g.bytes);
        cand += !g->stored && !g->storing;
    }
    if (cand <= keep) {
        for (uint32_t k = 0; k < l->nseg; k++)
            l->seg[k].storing = 0;
        return 0;
    }
    uint8_t (*out)[CHUNK_ID_BYTES] = malloc((size_t)(cand - keep) * CHUNK_ID_BYTES);
    if (!out) {
        for (uint32_t k = 0; k < l->nseg; k++)
            l->seg[k].storing = 0;
        return -ENOMEM;
    }
    int rc = 0;
    uint32_t n = 0;
    while (rc == 0 && n < cand - keep) {
        /* the one used longest ago */
        struct wl_seg *old = NULL;
        for (uint32_t k = 0; k + 1 < l->nseg; k++) {
            struct wl_seg *g = &l->seg[k];
            if (g->stored || g->storing)
                continue;
            if (!old || g->used < old->used)
                old = g;
        }
        if (!old)
            break;
        seg_name(s, old);
        rc = version_seg_put(s, txn, old->buf->c, old->g.n, old->g.id);
        old->storing = 1;
        memcpy(out[n++], old->g.id, CHUNK_ID_BYTES);
    }
    for (uint32_t k = 0; k < l->nseg; k++)
        l->seg[k].storing = 0;
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *nids = n;
    return 0;
}

void wl_mark_ids(struct wlist *l, const uint8_t (*ids)[CHUNK_ID_BYTES], uint32_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&l->mu);
    for (uint32_t k = 0; k < l->nseg; k++) {
        struct wl_seg *g = &l->seg[k];
        if (g->stored || !g->named)
            continue;
        for (uint32_t j = 0; j < n; j++)
            if (memcmp(g->g.id, ids[j], CHUNK_ID_BYTES) == 0) {
                g->stored = 1;
                if (g->buf)
                    l->nheld++;
                break;
            }
    }
    let_go(l);
    pthread_mutex_unlock(&l->mu);
}

int wl_build_take(struct wlist *l, struct wl_build *b, uint32_t k, uint32_t end)
{
    if (has_open(b))
        return -EINVAL;
    int rc = segs_room(&b->seg, &b->cap, b->nseg + (end - k));
    if (rc)
        return rc;
    pthread_mutex_lock(&l->mu);
    for (; k < end; k++) {
        struct wl_seg g = l->seg[k];
        if (g.buf)
            g.buf->refs++;
        b->seg[b->nseg++] = g;
        b->n += g.g.n;
        b->bytes += g.g.bytes;
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int wl_splice(struct wlist *l, uint32_t kept, struct wl_build *b)
{
    int rc = segs_room(&l->seg, &l->cap, kept + b->nseg + (has_open(b) ? 1 : 0));
    if (rc)
        return rc;
    pthread_mutex_lock(&l->mu);
    segs_drop(l, kept);
    /* what was cut now counts as used now (not the oldest to store) */
    for (uint32_t k = 0; k < b->nseg; k++) {
        struct wl_seg g = b->seg[k];
        if (g.buf && g.stored)
            l->nheld++;
        g.used = ++l->clock;
        l->seg[l->nseg++] = g;
    }
    b->nseg = 0;
    if (has_open(b)) {
        l->seg[l->nseg] = open_seg(b);
        l->seg[l->nseg++].used = ++l->clock;
        b->open = NULL;
        b->open_named = 0;
    }
    pthread_mutex_unlock(&l->mu);
    segs_place(l, kept);
    wl_build_free(l, b);
    return 0;
}

int wl_to_version(struct store *s, MDB_txn *txn, struct wlist *l, uint32_t kept,
                  struct wl_build *b, struct version *v)
{
    uint64_t n = kept ? (uint64_t)l->seg[kept - 1].first + l->seg[kept - 1].g.n : 0;
    n += b->n;
    uint32_t nseg = kept + b->nseg + (has_open(b) ? 1 : 0);
    if (n > UINT32_MAX)
        return -EFBIG;
    v->nchunks = (uint32_t)n;
    /* One segment not stored (a list that was never cut): in the record.
     * One stored already (cut where the list ends) is named as it is. */
    int inline_list = nseg == 0 || (nseg == 1 && (kept ? !l->seg[0].stored
                                                      : b->nseg == 0 || !b->seg[0].stored));
    if (inline_list) {
        struct wl_buf *hb = NULL;
        const struct version_chunk *c = NULL;
        int rc = kept ? wl_hold(s, txn, l, 0, &hb) : 0;
        if (rc)
            return rc;
        c = hb ? hb->c : b->nseg ? b->seg[0].buf->c : (has_open(b) ? b->open->c : NULL);
        v->chunks = malloc((n ? n : 1) * sizeof *v->chunks);
        if (v->chunks && n)
            memcpy(v->chunks, c, n * sizeof *v->chunks);
        wl_release(l, hb);
        return v->chunks ? 0 : -ENOMEM;
    }
    v->segs = malloc((size_t)nseg * sizeof *v->segs);
    if (!v->segs)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < kept; k++) {
        struct wl_seg *g = &l->seg[k];
        if (!g->stored) {
            seg_name(s, g);
            rc = version_seg_put(s, txn, g->buf->c, g->g.n, g->g.id);
        }
        v->segs[v->nsegs++] = g->g;
    }
    for (uint32_t k = 0; rc == 0 && k < b->nseg; k++) {
        struct wl_seg *g = &b->seg[k];
        if (!g->stored) {
            seg_name(s, g);
            rc = version_seg_put(s, txn, g->buf->c, g->g.n, g->g.id);
        }
        v->segs[v->nsegs++] = g->g;
    }
    if (rc == 0 && has_open(b)) {
        open_name(s, b);
        struct wl_seg g = open_seg(b);
        rc = version_seg_put(s, txn, g.buf->c, g.g.n, g.g.id);
        v->segs[v->nsegs++] = g.g;
    }
    if (rc) {
        free(v->segs);
        v->segs = NULL;
        v->nsegs = 0;
    }
    return rc;
}

void wl_mark_stored(struct wlist *l)
{
    pthread_mutex_lock(&l->mu);
    for (uint32_t k = 0; k < l->nseg; k++) {
        struct wl_seg *g = &l->seg[k];
        if (g->stored || !g->named) /* (every one is named when stored) */
            continue;
        g->stored = 1;
        if (g->buf)
            l->nheld++;
    }
    let_go(l);
    pthread_mutex_unlock(&l->mu);
}
