/*
 * cli — helpers shared by the casefs subcommands: option scanning, the
 * passphrase, opening a store with one clear line for every failure.
 * Only tools/ may exit the process.
 */
#ifndef CASEFS_CLI_H
#define CASEFS_CLI_H

#include <stddef.h>

#include "store/store.h"

#define CLI_OK 0
#define CLI_REFUSED 1
#define CLI_USAGE 2

/* Prints "casefs: " + message + newline on stderr; returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads the passphrase from file ("-": stdin) or, when file is NULL, from
 * the terminal without echo.  The result is in sodium_malloc'd memory
 * (free with cli_passphrase_free).  0, or an exit code after printing the
 * error. */
int cli_passphrase_read(const char *file, const char *prompt, char **out, size_t *len);
void cli_passphrase_free(char *p);

/* Explains a store_probe/store_unlock/store_open error for dir; returns 1. */
int cli_store_error(const char *dir, int rc);
/* The one-line message cli_store_error prints, into out (n bytes). */
void cli_store_error_text(const char *dir, int rc, char *out, size_t n);

/* Unlocks and opens dir (flags as store_open).  0 or an exit code. */
int cli_store_open(const char *dir, const char *passfile, unsigned flags,
                   struct store **out);

/* Formats UTC ISO 8601 ("2026-11-23T09:00:00Z"). */
void cli_time(long long sec, char *out, size_t len);

#endif
