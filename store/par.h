/*
 * par — a few helper threads that share independent pieces of one call's
 * work (decrypting the chunks of one read request) with the calling thread.
 *
 * par_for(p, n, fn, arg) runs fn(arg, i) once for every i in [0, n) and
 * returns when every call has returned.  The caller takes pieces too, so a
 * call finishes even when every helper is busy with other callers' work,
 * and a pool without helpers (one processor, or threads unavailable) runs
 * everything on the caller.  Helpers start at the first call that has more
 * than one piece (never in a process that only opens a store and forks).
 */
#ifndef CASEFS_PAR_H
#define CASEFS_PAR_H

#include <stddef.h>

struct par;

/* A pool of up to `helpers` threads (0: one fewer than the processors
 * online, at most 3).  NULL when out of memory. */
struct par *par_new(unsigned helpers);
/* Stops the helpers; no call may be in flight.  NULL is fine. */
void par_free(struct par *p);
void par_for(struct par *p, size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
