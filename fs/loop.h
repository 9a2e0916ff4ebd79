/*
 * loop — the daemon's request loop: worker threads that read the kernel's
 * requests from /dev/fuse and answer them, as libfuse's multi-threaded
 * loop does, with one difference that matters on a machine where waking a
 * sleeping thread is dear.
 *
 * A program working through a tree (tar x, rsync, cp -a) sends one request,
 * waits for the answer, and sends the next a few microseconds later.  A
 * worker that went to sleep after answering is woken for that next
 * request: a context switch, and on a virtual machine an exit to the
 * hypervisor, on every request (tar x of /usr/include: 12 requests a
 * file).  Here one worker at a time reads the device, the listener, and
 * after answering a request it keeps asking the device for the next one
 * for up to LOOP_SPIN_US before it sleeps; the other workers wait on a
 * condition variable, not on the device, so a request wakes nobody while
 * the listener is awake.  The worker that takes a request answers it
 * itself and is the next listener; while it answers, nobody reads the
 * device, so:
 *  - a request already waiting behind the one taken (the kernel's
 *    read-ahead, several programs at once) is handed to a follower at
 *    once, which answers it side by side;
 *  - a watchdog thread calls a follower to listen when a request has been
 *    answered for LOOP_UNHEARD_US with nobody listening (a slow commit, a
 *    wait for a lock), so that one slow request never holds up the rest
 *    for longer than that.  It looks every LOOP_UNHEARD_US while requests
 *    come and sleeps while the mount is quiet.
 * A worker is started whenever one is needed and none is free, up to
 * LOOP_THREADS_MAX.
 */
#ifndef CASEFS_FS_LOOP_H
#define CASEFS_FS_LOOP_H

struct fuse_session;

#define LOOP_SPIN_US 100
#define LOOP_UNHEARD_US 1000
#define LOOP_THREADS_MAX 16

/* Runs until the file system is unmounted or fuse_session_exit (a
 * signal).  0, or -errno when the device failed or no thread could start.
 * after_init (if not NULL) is called once with arg, on a worker, when the
 * first request (the kernel's INIT) has been answered: the kernel has then
 * taken the connection's settings, which can be changed from then on. */
int loop_run(struct fuse_session *se, void (*after_init)(void *), void *arg);

#endif
