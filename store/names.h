/*
 * names — what a name in the mount means.
 *
 * Transient names are the scratch files of editors and tools (DESIGN.md,
 * "Versions"): vim's 4913 probe, backups ending in "~", swap files
 * ".NAME.swp" (and ".sw?"), emacs's "#NAME#" and ".#NAME", LibreOffice's
 * ".~lock.NAME#", Office's "~$NAME", GIO's ".goutputstream-*", "*.tmp",
 * sed's "sedXXXXXX", rsync's ".NAME.XXXXXX" and libfuse's ".fuse_hidden*".
 * Their removal makes no retraction request.
 */
#ifndef CASEFS_NAMES_H
#define CASEFS_NAMES_H

#include <stddef.h>

#define NAMES_VERSIONS_DIR ".versions"

/* True when name is a transient (scratch) name. */
int names_is_transient(const char *name);

/* Checks one path component for creation: 0; -ENAMETOOLONG over 255 bytes;
 * -EINVAL empty, ".", ".." or containing '/'; -EEXIST ".versions" (it
 * exists in every folder); -EPERM a name beginning with '.' at the root. */
int names_check_new(const char *name, int at_root);

/* The extension of a document name including its dot ("" when none):
 * version files are named "v" N extension. */
const char *names_extension(const char *name);

/* Parses a version file name "vN" + ext of the document `name`.
 * Returns N (> 0) or 0 when it is not one. */
unsigned names_parse_version(const char *file, const char *name);

#endif
