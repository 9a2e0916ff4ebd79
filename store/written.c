/*
 * written — see written.h.
 */
#include "store/written.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store/durable.h"

struct written {
    int fd;
    size_t psize;
    pthread_mutex_t mu;
    int broken;    /* this interval is incomplete */
    uint64_t last; /* the last transaction whose meta page was written */
    uint32_t n;
    uint8_t key[WRITTEN_KEY_BYTES];
    struct written_page pages[WRITTEN_PAGES_MAX];
};

/* Descriptors watched, looked up on every write the wrappers see: the
 * descriptor is read before the entry, and an entry is cleared before its
 * store closes the descriptor (no page is written then). */
#define WATCH_MAX 16
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static int watch_fd[WATCH_MAX] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                  -1, -1, -1, -1, -1, -1, -1, -1};
static struct written *watch_w[WATCH_MAX];
static int watch_count;

static struct written *find(int fd)
{
    if (fd < 0 || !__atomic_load_n(&watch_count, __ATOMIC_ACQUIRE))
        return NULL;
    for (int i = 0; i < WATCH_MAX; i++)
        if (__atomic_load_n(&watch_fd[i], __ATOMIC_ACQUIRE) == fd)
            return __atomic_load_n(&watch_w[i], __ATOMIC_ACQUIRE);
    return NULL;
}

struct written *written_watch(int fd, size_t psize)
{
    if (fd < 0 || psize < 512)
        return NULL;
    struct written *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = fd;
    w->psize = psize;
    w->broken = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_lock(&watch_mu);
    int slot = -1;
    for (int i = 0; i < WATCH_MAX && slot < 0; i++)
        if (!watch_w[i])
            slot = i;
    if (slot >= 0) {
        __atomic_store_n(&watch_w[slot], w, __ATOMIC_RELEASE);
        __atomic_store_n(&watch_fd[slot], fd, __ATOMIC_RELEASE);
        __atomic_add_fetch(&watch_count, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&watch_mu);
    if (slot < 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void written_unwatch(struct written *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&watch_mu);
    for (int i = 0; i < WATCH_MAX; i++)
        if (watch_w[i] == w) {
            __atomic_store_n(&watch_fd[i], -1, __ATOMIC_RELEASE);
            __atomic_store_n(&watch_w[i], NULL, __ATOMIC_RELEASE);
            __atomic_sub_fetch(&watch_count, 1, __ATOMIC_RELEASE);
        }
    pthread_mutex_unlock(&watch_mu);
    pthread_mutex_destroy(&w->mu);
    sodium_memzero(w, sizeof *w);
    free(w);
}

void written_tag(const uint8_t key[WRITTEN_KEY_BYTES], const uint8_t *page, size_t psize,
                 uint8_t tag[WRITTEN_TAG_BYTES])
{
    crypto_onetimeauth(tag, page, psize, key);
}

/* A write of len bytes at off seen on w's descriptor (w->mu held). */
static void note_locked(struct written *w, const uint8_t *buf, size_t len, uint64_t off)
{
    if (w->broken || len == 0)
        return;
    size_t ps = w->psize;
    uint64_t first = off / ps;
    if (first < 2) {
        /* LMDB writes a commit's meta page from some field on to its end,
         * the transaction id. */
        uint64_t txnid;
        if ((off + len - 1) / ps != first ||
            off % ps + len != DURABLE_META_OFFSET + DURABLE_META_BYTES || len < 8) {
            w->broken = 1;
            return;
        }
        memcpy(&txnid, buf + len - 8, 8);
        if (txnid == w->last + 1)
            w->last = txnid;
        else
            w->broken = 1;
        return;
    }
    if (off % ps || len % ps) {
        w->broken = 1;
        return;
    }
    for (size_t i = 0; i < len / ps; i++) {
        uint64_t pgno = first + i;
        uint32_t at = 0;
        while (at < w->n && w->pages[at].pgno != pgno)
            at++;
        if (at == w->n) {
            if (w->n == WRITTEN_PAGES_MAX) {
                w->broken = 1; /* too many for a record: stop looking */
                return;
            }
            w->n++;
        }
        w->pages[at].pgno = pgno;
        written_tag(w->key, buf + i * ps, ps, w->pages[at].tag);
    }
}

static void note(struct written *w, const void *buf, size_t len, uint64_t off)
{
    pthread_mutex_lock(&w->mu);
    note_locked(w, buf, len, off);
    pthread_mutex_unlock(&w->mu);
}

int written_take(struct written *w, uint64_t txnid, uint8_t key[WRITTEN_KEY_BYTES],
                 struct written_page *pages, uint32_t *n)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    int whole = !w->broken && w->last == txnid && w->n > 0;
    if (whole) {
        memcpy(key, w->key, WRITTEN_KEY_BYTES);
        memcpy(pages, w->pages, w->n * sizeof *pages);
        *n = w->n;
    }
    w->broken = 0;
    w->last = txnid;
    w->n = 0;
    randombytes_buf(w->key, sizeof w->key);
    pthread_mutex_unlock(&w->mu);
    return whole;
}

void written_spoil(struct written *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->broken = 1;
    pthread_mutex_unlock(&w->mu);
}

/* The wrappers LMDB's calls are linked to (Makefile: -Wl,--wrap).  Only
 * LMDB calls pwrite by that name: casefs's own code is built with 64-bit
 * offsets, where it is pwrite64, which the wrapper calls.  writev and
 * write go to the kernel directly, so that this file links without the
 * wrapping too (the fuzz targets): its wrappers are then never called,
 * nothing is seen, and every point takes two flushes. */
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int cnt);
ssize_t __wrap_write(int fd, const void *buf, size_t n);

/* A write that failed or was cut short leaves pages that may hold
 * neither what was written nor what was there: the interval is
 * incomplete.  This is what marks a failed commit (LMDB commits without
 * syncing, so a commit fails only on a write, its meta page's included):
 * its pages are not undone on the disk, and the next commit reuses its
 * transaction id, so the chain of ids alone would look whole. */
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r = pwrite64(fd, buf, n, off);
    struct written *w = find(fd);
    if (w && (r != (ssize_t)n || off < 0))
        written_spoil(w);
    else if (w)
        note(w, buf, n, (uint64_t)off);
    return r;
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int cnt)
{
    struct written *w = find(fd);
    off_t pos = w ? lseek(fd, 0, SEEK_CUR) : 0;
    ssize_t r = syscall(SYS_writev, fd, iov, cnt);
    if (!w)
        return r;
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    pthread_mutex_lock(&w->mu);
    if (pos < 0 || r < 0 || (size_t)r != total) {
        w->broken = 1;
    } else {
        uint64_t off = (uint64_t)pos;
        for (int i = 0; i < cnt; i++) {
            note_locked(w, iov[i].iov_base, iov[i].iov_len, off);
            off += iov[i].iov_len;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    ssize_t r = syscall(SYS_write, fd, buf, n);
    struct written *w = find(fd);
    if (w)
        written_spoil(w); /* not how LMDB writes pages: where it went is unknown */
    return r;
}
