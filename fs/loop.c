/*
 * loop — see loop.h.
 */
#define FUSE_USE_VERSION 312
#include "fs/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct loop {
    struct fuse_session *se;
    int fd;     /* the device, non-blocking */
    int stopfd; /* eventfd, written when the loop ends: wakes the listener */
    pthread_mutex_t mu;
    pthread_cond_t follow; /* followers wait here */
    pthread_cond_t done;   /* loop_run waits here */
    pthread_cond_t watch;  /* the watchdog sleeps here when all is quiet */
    int threads;           /* workers started and not finished */
    int followers;         /* workers waiting on follow */
    int listener;          /* a worker is reading the device */
    int busy;              /* workers answering a request */
    int64_t unheard_since; /* since when nobody reads the device while busy */
    int handed;            /* a request waits in spare for a follower */
    struct fuse_buf spare;
    int watchdog;       /* the watchdog runs (and holds loop_run) */
    int watch_sleeping; /* ... and sleeps until the next request */
    int stop;
    int error;
    void (*after_init)(void *);
    void *after_init_arg;
    int inited; /* the first request was answered */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits on cv (l->mu held) for at most us microseconds.  Every condition
 * variable of the loop measures time on CLOCK_MONOTONIC. */
static void wait_us(struct loop *l, pthread_cond_t *cv, long us)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += us / 1000000;
    until.tv_nsec += (us % 1000000) * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, &l->mu, &until);
}

/* Starts fn(l) on a detached thread.  0 or -errno. */
static int spawn(void *(*fn)(void *), struct loop *l)
{
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, fn, l);
    pthread_attr_destroy(&attr);
    return -rc;
}

static int stopping(struct loop *l)
{
    return __atomic_load_n(&l->stop, __ATOMIC_RELAXED) || fuse_session_exited(l->se);
}

/* Ends the loop (l->mu held): every worker and the watchdog wake and go. */
static void stop_locked(struct loop *l, int rc)
{
    if (rc < 0 && !l->error)
        l->error = rc;
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
    uint64_t one = 1;
    if (write(l->stopfd, &one, sizeof one) < 0) {
        /* the counter is set already: the listener wakes anyway */
    }
    pthread_cond_broadcast(&l->follow);
    pthread_cond_broadcast(&l->watch);
    pthread_cond_broadcast(&l->done);
}

/* The listener's wait for the next request into buf: > 0; 0 when the loop
 * ends; -errno.  It first asks the device again and again for up to
 * LOOP_SPIN_US (spin), then sleeps in epoll. */
static int listen_for(struct loop *l, int ep, struct fuse_buf *buf, int spin)
{
    int64_t until = spin ? mono_us() + LOOP_SPIN_US : 0;
    for (;;) {
        if (stopping(l))
            return 0;
        int res = fuse_session_receive_buf(l->se, buf);
        if (res != -EAGAIN && res != -EINTR)
            return res;
        if (res == -EINTR || (until && mono_us() < until))
            continue;
        struct epoll_event ev;
        if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
            return -errno;
    }
}

static int start_worker(struct loop *l);

/* Someone must read the device (l->mu held): a follower, or a new worker. */
static void call_listener_locked(struct loop *l)
{
    if (l->followers > 0) {
        pthread_cond_signal(&l->follow);
    } else if (l->threads < LOOP_THREADS_MAX && !l->stop) {
        pthread_mutex_unlock(&l->mu);
        start_worker(l);
        pthread_mutex_lock(&l->mu);
    }
}

static void *worker_main(void *arg)
{
    struct loop *l = arg;
    struct fuse_buf buf;
    memset(&buf, 0, sizeof buf);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event dev = {.events = EPOLLIN};
    int rc = 0, ready = ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &dev) == 0 &&
                        epoll_ctl(ep, EPOLL_CTL_ADD, l->stopfd, &dev) == 0;
    if (!ready)
        rc = -errno;
    int spin = 0;
    pthread_mutex_lock(&l->mu);
    while (ready && !l->stop) {
        if (l->handed) {
            /* a request another worker found waiting behind its own */
            struct fuse_buf t = buf;
            buf = l->spare;
            l->spare = t;
            __atomic_store_n(&l->handed, 0, __ATOMIC_RELAXED);
        } else if (!l->listener) {
            l->listener = 1;
            pthread_mutex_unlock(&l->mu);
            int res = listen_for(l, ep, &buf, spin);
            if (res > 0 && !__atomic_load_n(&l->handed, __ATOMIC_RELAXED)) {
                /* Nobody reads the device while this is answered: a
                 * request waiting already goes to a follower at once; one
                 * that comes later is heard when this worker is done, or
                 * when the watchdog calls a follower.  (Still the
                 * listener: nobody else reads into spare.) */
                int more = fuse_session_receive_buf(l->se, &l->spare);
                pthread_mutex_lock(&l->mu);
                if (more > 0) {
                    __atomic_store_n(&l->handed, 1, __ATOMIC_RELAXED);
                    call_listener_locked(l);
                }
            } else {
                pthread_mutex_lock(&l->mu);
            }
            l->listener = 0;
            if (res <= 0) {
                rc = res;
                break;
            }
            l->unheard_since = mono_us();
            if (l->watch_sleeping)
                pthread_cond_signal(&l->watch);
        } else {
            l->followers++;
            pthread_cond_wait(&l->follow, &l->mu);
            l->followers--;
            spin = 0;
            continue;
        }
        l->busy++;
        pthread_mutex_unlock(&l->mu);
        fuse_session_process_buf(l->se, &buf);
        if (!__atomic_exchange_n(&l->inited, 1, __ATOMIC_ACQ_REL) && l->after_init)
            l->after_init(l->after_init_arg);
        spin = 1;
        pthread_mutex_lock(&l->mu);
        l->busy--;
    }
    l->threads--;
    /* A worker that could not start (no epoll) leaves the others at work;
     * the end of the device, a signal or a failed read ends them all. */
    if (ready || l->threads == 0)
        stop_locked(l, rc);
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu); /* l is not touched after this */
    if (ep >= 0)
        close(ep);
    free(buf.mem);
    return NULL;
}

/* Calls a listener when the worker that took the last request has been
 * answering it for LOOP_UNHEARD_US while nobody reads the device (a slow
 * commit, a wait for a lock): one slow request never holds up the rest.
 * Looks every LOOP_UNHEARD_US while requests come, and sleeps when the
 * mount is quiet. */
static void *watchdog_main(void *arg)
{
    struct loop *l = arg;
    int quiet = 0;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        int64_t now = mono_us();
        if (!l->listener && l->busy > 0 && !l->handed &&
            now - l->unheard_since >= LOOP_UNHEARD_US) {
            call_listener_locked(l);
            l->unheard_since = now;
        }
        quiet = l->busy == 0 ? quiet + 1 : 0;
        if (quiet > 2) {
            l->watch_sleeping = 1;
            pthread_cond_wait(&l->watch, &l->mu);
            l->watch_sleeping = 0;
            quiet = 0;
            continue;
        }
        wait_us(l, &l->watch, LOOP_UNHEARD_US);
    }
    l->watchdog = 0;
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu); /* l is not touched after this */
    return NULL;
}

/* Starts a worker.  0 or -errno. */
static int start_worker(struct loop *l)
{
    pthread_mutex_lock(&l->mu);
    l->threads++;
    pthread_mutex_unlock(&l->mu);
    int rc = spawn(worker_main, l);
    if (rc != 0) {
        pthread_mutex_lock(&l->mu);
        l->threads--;
        pthread_cond_broadcast(&l->done);
        pthread_mutex_unlock(&l->mu);
        return rc;
    }
    return 0;
}

int loop_run(struct fuse_session *se, void (*after_init)(void *), void *arg)
{
    int fd = fuse_session_fd(se);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -errno;
    /* On the heap, its mutex and condition variables never destroyed: the
     * last worker's unlock may still be returning when loop_run frees it
     * (glibc's unlock touches nothing after it lets go). */
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->se = se;
    l->fd = fd;
    l->after_init = after_init;
    l->after_init_arg = arg;
    l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->stopfd < 0) {
        int e = -errno;
        free(l);
        return e;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->watch, &ca);
    pthread_cond_init(&l->follow, &ca);
    pthread_cond_init(&l->done, &ca);
    pthread_condattr_destroy(&ca);
    l->watchdog = spawn(watchdog_main, l) == 0;
    int rc = l->watchdog ? start_worker(l) : -EAGAIN;
    pthread_mutex_lock(&l->mu);
    if (rc)
        stop_locked(l, rc);
    /* A signal (fuse_set_signal_handlers) only marks the session exited:
     * look every so often, and then wake everyone. */
    while (l->threads > 0 || l->watchdog) {
        if (fuse_session_exited(se) && !l->stop)
            stop_locked(l, 0);
        wait_us(l, &l->done, 100000);
    }
    if (rc == 0)
        rc = l->error;
    pthread_mutex_unlock(&l->mu);
    close(l->stopfd);
    free(l->spare.mem);
    free(l);
    fcntl(fd, F_SETFL, flags);
    return rc;
}
