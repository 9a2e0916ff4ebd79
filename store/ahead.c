/*
 * ahead — see ahead.h.  The reader that wants chunks locates them and
 * queues runs of neighbours (aligned ranges of the store file, at most a
 * slot long); a thread takes the oldest run, claims a slot and reads the
 * run into it.  A reader needing a run still queued reads it itself, into
 * a slot, so that nothing is read twice.  A slot is taken from the free
 * ones first, then from those a reader has used, then the oldest never
 * used: a slot a reader holds or one being read is never taken.
 *
 * Sizes: a window of 3 MiB of content ahead is 6-8 runs; 16 slots of
 * 512 KiB leave room for those, the runs of the requests being answered
 * and a few readers at once (with 6 slots of 1 MiB a third of the runs
 * read were taken for others before their reader came, and read again).
 * Cold 1 GiB, six runs each: window 3 MiB and three threads 1.20 s
 * (median), 2 MiB and two 1.30 s; 4 MiB and four 1.47 s against 1.36 s.
 */
#include "store/ahead.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/keys.h"
#include "store/store.h"

#define AHEAD_SLOTS 16
#define AHEAD_THREADS 3            /* reads in flight at once, at most */
#define AHEAD_RUN_MAX (512u << 10) /* bytes a slot holds */
#define AHEAD_GAP (64u << 10)      /* read over a gap this small */
#define AHEAD_RUNS 16              /* runs waiting, at most (the newest go) */

enum { SLOT_FREE, SLOT_READING, SLOT_READY };

struct slot {
    uint64_t a, b; /* the store file's bytes held */
    uint8_t *buf;  /* AHEAD_RUN_MAX bytes in map, aligned for O_DIRECT */
    int state, pins, used;
    int forgotten; /* its reader is gone: free once read */
    uint64_t stamp; /* when it was read */
    const void *owner;
};

struct run {
    uint64_t a, b;
    const void *owner;
};

struct ahead {
    struct store *s;
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    struct slot slots[AHEAD_SLOTS];
    void *map; /* the slots' memory */
    size_t map_len;
    struct run runs[AHEAD_RUNS];
    size_t nruns;
    pthread_t threads[AHEAD_THREADS];
    unsigned started;
    int no_threads; /* one could not be started: not tried again */
    int stopping, paused;
    unsigned slow_ms; /* ahead_slow */
    uint64_t clock, taken, failed;
};

/* Whether a slot being read or read holds [a, b) (mu held). */
static int held(const struct ahead *ah, uint64_t a, uint64_t b)
{
    for (int i = 0; i < AHEAD_SLOTS; i++) {
        const struct slot *sl = &ah->slots[i];
        if (sl->state != SLOT_FREE && sl->a <= a && b <= sl->b)
            return 1;
    }
    return 0;
}

/* Queues a run: one a reader needs now goes first (the newest waiting
 * goes when the queue is full), one read ahead last (dropped when full). */
static void queue_run(struct ahead *ah, struct run run, int now)
{
    for (size_t r = 0; r < ah->nruns; r++)
        if (ah->runs[r].a <= run.a && run.b <= ah->runs[r].b)
            return;
    if (held(ah, run.a, run.b))
        return;
    if (!now) {
        if (ah->nruns < AHEAD_RUNS)
            ah->runs[ah->nruns++] = run;
        return;
    }
    if (ah->nruns == AHEAD_RUNS)
        ah->nruns--;
    memmove(ah->runs + 1, ah->runs, ah->nruns++ * sizeof *ah->runs);
    ah->runs[0] = run;
}

/* A slot to read into, or -1 (mu held). */
static int claim(struct ahead *ah)
{
    int pick = -1;
    for (int i = 0; i < AHEAD_SLOTS; i++) {
        const struct slot *sl = &ah->slots[i];
        if (sl->state == SLOT_FREE)
            return i;
        if (sl->state != SLOT_READY || sl->pins)
            continue;
        if (pick < 0 || sl->used > ah->slots[pick].used ||
            (sl->used == ah->slots[pick].used && sl->stamp < ah->slots[pick].stamp))
            pick = i;
    }
    return pick;
}

/* Takes queued run r and reads it into a slot (mu held, dropped while it
 * reads); the slot, or -1 when none could be had or the read failed. */
static int read_run(struct ahead *ah, size_t r, unsigned slow_ms)
{
    struct run run = ah->runs[r];
    memmove(ah->runs + r, ah->runs + r + 1, (--ah->nruns - r) * sizeof *ah->runs);
    int i = claim(ah);
    if (i < 0)
        return -1;
    struct slot *sl = &ah->slots[i];
    sl->state = SLOT_READING;
    sl->a = run.a;
    sl->b = run.b;
    sl->owner = run.owner;
    sl->forgotten = 0;
    pthread_mutex_unlock(&ah->mu);
    if (slow_ms)
        usleep(slow_ms * 1000u);
    int rc = store_stream_read(ah->s, sl->buf, (size_t)(run.b - run.a), run.a);
    pthread_mutex_lock(&ah->mu);
    sl->state = rc || sl->forgotten ? SLOT_FREE : SLOT_READY;
    sl->used = 0;
    sl->stamp = ++ah->clock;
    pthread_cond_broadcast(&ah->ready);
    return sl->state == SLOT_READY ? i : -1;
}

static void *ahead_main(void *arg)
{
    struct ahead *ah = arg;
    pthread_mutex_lock(&ah->mu);
    for (;;) {
        while (!ah->stopping && (ah->nruns == 0 || ah->paused))
            pthread_cond_wait(&ah->work, &ah->mu);
        if (ah->stopping)
            break;
        read_run(ah, 0, ah->slow_ms);
    }
    pthread_mutex_unlock(&ah->mu);
    return NULL;
}

struct ahead *ahead_new(struct store *s)
{
    struct ahead *ah = calloc(1, sizeof *ah);
    if (!ah)
        return NULL;
    ah->s = s;
    pthread_mutex_init(&ah->mu, NULL);
    pthread_cond_init(&ah->work, NULL);
    pthread_cond_init(&ah->ready, NULL);
    /* The slots lie in huge pages where the kernel has them: an O_DIRECT
     * read pins the pages it reads into, page by page (a tenth of the
     * daemon's time on a cold read of 1 GiB), unless a huge page holds
     * them. */
    const size_t huge = 2u << 20, len = (size_t)AHEAD_SLOTS * AHEAD_RUN_MAX;
    ah->map_len = len + huge;
    ah->map = mmap(NULL, ah->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (ah->map == MAP_FAILED) {
        ah->map = NULL;
        ahead_free(ah);
        return NULL;
    }
    uint8_t *base = (uint8_t *)(((uintptr_t)ah->map + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(base, len, MADV_HUGEPAGE);
    for (int i = 0; i < AHEAD_SLOTS; i++)
        ah->slots[i].buf = base + (size_t)i * AHEAD_RUN_MAX;
    return ah;
}

void ahead_free(struct ahead *ah)
{
    if (!ah)
        return;
    pthread_mutex_lock(&ah->mu);
    ah->stopping = 1;
    pthread_cond_broadcast(&ah->work);
    pthread_mutex_unlock(&ah->mu);
    for (unsigned i = 0; i < ah->started; i++)
        pthread_join(ah->threads[i], NULL);
    pthread_mutex_destroy(&ah->mu);
    pthread_cond_destroy(&ah->work);
    pthread_cond_destroy(&ah->ready);
    if (ah->map)
        munmap(ah->map, ah->map_len);
    free(ah);
}

static int run_cmp(const void *x, const void *y)
{
    const struct run *a = x, *b = y;
    return a->a < b->a ? -1 : a->a > b->a;
}

void ahead_want(struct ahead *ah, MDB_txn *txn, const void *owner, const struct ahead_chunk *c,
                size_t n, int now)
{
    if (!ah || n == 0)
        return;
    /* Runs of neighbours in the file, whatever their order in the
     * document: chunks cut side by side are stored by several threads. */
    const uint64_t A = STORE_DIRECT_ALIGN, O = KEYS_SEAL_OVERHEAD;
    struct run *at = malloc(n * sizeof *at), found[AHEAD_RUNS];
    if (!at)
        return;
    size_t nat = 0, nfound = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off;
        if (chunk_locate(ah->s, txn, c[i].id, c[i].len, &off) == 0)
            at[nat++] = (struct run){off / A * A, (off + c[i].len + O + A - 1) / A * A, owner};
    }
    qsort(at, nat, sizeof *at, run_cmp);
    for (size_t i = 0; i < nat && nfound < AHEAD_RUNS;) {
        uint64_t a = at[i].a, b = at[i].b;
        for (i++; i < nat && at[i].a <= b + AHEAD_GAP && at[i].b - a <= AHEAD_RUN_MAX; i++)
            if (at[i].b > b)
                b = at[i].b;
        found[nfound++] = (struct run){a, b, owner};
    }
    free(at);
    pthread_mutex_lock(&ah->mu);
    while (ah->started < AHEAD_THREADS && !ah->no_threads) {
        if (pthread_create(&ah->threads[ah->started], NULL, ahead_main, ah) == 0)
            ah->started++;
        else
            ah->no_threads = 1;
    }
    /* Needed now: queued even without threads (the reader reads them
     * itself), the last first, so that they stand in order at the front. */
    for (size_t i = 0; i < nfound; i++)
        if (now)
            queue_run(ah, found[nfound - 1 - i], 1);
        else if (ah->started)
            queue_run(ah, found[i], 0);
    pthread_cond_broadcast(&ah->work);
    pthread_mutex_unlock(&ah->mu);
}

const uint8_t *ahead_take(struct ahead *ah, uint64_t off, size_t len, int *slot)
{
    if (!ah)
        return NULL;
    pthread_mutex_lock(&ah->mu);
    for (;;) {
        int i;
        for (i = 0; i < AHEAD_SLOTS; i++) {
            const struct slot *sl = &ah->slots[i];
            if (sl->state != SLOT_FREE && !sl->forgotten && sl->a <= off && off + len <= sl->b)
                break;
        }
        if (i == AHEAD_SLOTS) {
            /* queued and not yet read: read here, now */
            size_t r = 0;
            while (r < ah->nruns && !(ah->runs[r].a <= off && off + len <= ah->runs[r].b))
                r++;
            if (r == ah->nruns || ah->paused || (i = read_run(ah, r, 0)) < 0) {
                pthread_mutex_unlock(&ah->mu);
                return NULL;
            }
        }
        struct slot *sl = &ah->slots[i];
        if (sl->state == SLOT_READING) {
            pthread_cond_wait(&ah->ready, &ah->mu);
            continue;
        }
        sl->pins++;
        sl->used = 1;
        ah->taken++;
        const uint8_t *p = sl->buf + (off - sl->a);
        pthread_mutex_unlock(&ah->mu);
        *slot = i;
        return p;
    }
}

void ahead_forget(struct ahead *ah, const void *owner)
{
    if (!ah)
        return;
    pthread_mutex_lock(&ah->mu);
    for (size_t r = 0; r < ah->nruns;)
        if (ah->runs[r].owner == owner)
            memmove(ah->runs + r, ah->runs + r + 1, (--ah->nruns - r) * sizeof *ah->runs);
        else
            r++;
    for (int i = 0; i < AHEAD_SLOTS; i++) {
        struct slot *sl = &ah->slots[i];
        if (sl->owner != owner || sl->state == SLOT_FREE)
            continue;
        if (sl->state == SLOT_READING || sl->pins)
            sl->forgotten = 1;
        else
            sl->state = SLOT_FREE;
    }
    pthread_mutex_unlock(&ah->mu);
}

void ahead_drop(struct ahead *ah, int slot, int opened)
{
    pthread_mutex_lock(&ah->mu);
    if (!opened)
        ah->failed++;
    struct slot *sl = &ah->slots[slot];
    if (--sl->pins == 0 && sl->forgotten)
        sl->state = SLOT_FREE;
    pthread_mutex_unlock(&ah->mu);
}

void ahead_hold(struct ahead *ah, int on)
{
    if (!ah)
        return;
    pthread_mutex_lock(&ah->mu);
    ah->paused = on;
    if (on) {
        for (int i = 0; i < AHEAD_SLOTS; i++)
            while (ah->slots[i].state == SLOT_READING)
                pthread_cond_wait(&ah->ready, &ah->mu);
    } else {
        pthread_cond_broadcast(&ah->work);
    }
    pthread_mutex_unlock(&ah->mu);
}

void ahead_slow(struct ahead *ah, unsigned ms)
{
    pthread_mutex_lock(&ah->mu);
    ah->slow_ms = ms;
    pthread_mutex_unlock(&ah->mu);
}

void ahead_counts(struct ahead *ah, uint64_t *taken, uint64_t *failed)
{
    *taken = *failed = 0;
    if (!ah)
        return;
    pthread_mutex_lock(&ah->mu);
    *taken = ah->taken;
    *failed = ah->failed;
    pthread_mutex_unlock(&ah->mu);
}
