/*
 * fs — the FUSE adapter: translates each request of the low-level libfuse
 * API into a call of store/tree.h and maps the result.  Policy lives in
 * store/; this module only knows FUSE.
 */
#ifndef CASEFS_FS_H
#define CASEFS_FS_H

#include "store/store.h"

struct fs_options {
    int sync_close;    /* -o sync=close: every close is durable */
    const char *extra; /* other -o options for libfuse, or NULL */
};

/* The mounted filesystem, between fs_mount and fs_run/fs_free. */
struct fs;

/* Mounts the opened store s (ownership taken) on mountpoint.
 * 0, or -errno with a message in err (errlen bytes). */
int fs_mount(struct store *s, const char *mountpoint, const struct fs_options *opt,
             struct fs **out, char *err, size_t errlen);

/* Serves requests with worker threads until unmounted or signalled, then
 * unmounts, commits, syncs and closes the store.  Returns 0 or -EIO. */
int fs_run(struct fs *f);

#endif
