/*
 * par — see par.h.  Calls wait in a queue; a helper takes a call from its
 * head and claims pieces of it one at a time, as the caller itself does.
 * A call leaves the queue when its last piece is claimed and returns when
 * its last piece is done.
 */
#include "store/par.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define PAR_MAX_HELPERS 3u

struct par_call {
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t n, next, done;
    struct par_call *queued; /* next call in the queue */
    pthread_cond_t finished;
};

struct par {
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct par_call *head, *tail;
    unsigned want, started;
    int stopping;
    pthread_t threads[PAR_MAX_HELPERS];
};

static void dequeue(struct par *p, struct par_call *c)
{
    struct par_call **at = &p->head, *prev = NULL;
    while (*at && *at != c) {
        prev = *at;
        at = &(*at)->queued;
    }
    if (!*at)
        return;
    *at = c->queued;
    if (p->tail == c)
        p->tail = prev;
}

/* Claims and runs pieces of c until none is left; p->mu held. */
static void work_on(struct par *p, struct par_call *c)
{
    while (c->next < c->n) {
        size_t i = c->next++;
        if (c->next == c->n)
            dequeue(p, c);
        pthread_mutex_unlock(&p->mu);
        c->fn(c->arg, i);
        pthread_mutex_lock(&p->mu);
        if (++c->done == c->n)
            pthread_cond_signal(&c->finished);
    }
}

static void *helper_main(void *arg)
{
    struct par *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stopping)
            break;
        work_on(p, p->head);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct par *par_new(unsigned helpers)
{
    if (helpers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        helpers = cpus > 1 ? (unsigned)(cpus - 1) : 0;
    }
    if (helpers > PAR_MAX_HELPERS)
        helpers = PAR_MAX_HELPERS;
    struct par *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    p->want = helpers;
    return p;
}

void par_free(struct par *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void par_for(struct par *p, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    if (!p || n < 2 || __atomic_load_n(&p->want, __ATOMIC_RELAXED) == 0) {
        for (size_t i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    struct par_call c = {.fn = fn, .arg = arg, .n = n};
    pthread_cond_init(&c.finished, NULL);
    pthread_mutex_lock(&p->mu);
    while (p->started < p->want &&
           pthread_create(&p->threads[p->started], NULL, helper_main, p) == 0)
        p->started++;
    /* a thread that could not start is not tried again (read unlocked above) */
    __atomic_store_n(&p->want, p->started, __ATOMIC_RELAXED);
    if (p->tail)
        p->tail->queued = &c;
    else
        p->head = &c;
    p->tail = &c;
    pthread_cond_broadcast(&p->work);
    work_on(p, &c);
    while (c.done < c.n)
        pthread_cond_wait(&c.finished, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&c.finished);
}
