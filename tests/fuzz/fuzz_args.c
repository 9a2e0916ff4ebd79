/*
 * fuzz_args — args_parse (tools/args.c), the option scanner of every
 * casefs subcommand.
 *
 * Input: byte 0 picks the subcommand's allowed-option list (the lists the
 * real subcommands use), the rest is argv, NUL-separated.  Checks: result 0
 * or CLI_USAGE; at most ARGS_POS_MAX positionals, each one of argv; every
 * option value points into argv; the -o buffer stays terminated inside
 * its array.  cli_fail's messages go to /dev/null (stderr FILE only; the
 * sanitizers still report on fd 2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/args.h"
#include "tools/cli.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allowed_lists[] = {
    "passphrase-file",
    "passphrase-file,f,o",
    "passphrase-file,version",
    "passphrase-file,all,json",
    "passphrase-file,reason",
    "passphrase-file,case,since,json",
    "passphrase-file,head",
    "passphrase-file,new-passphrase-file",
    "",
    "passphrase-file,new-passphrase-file,f,o,version,case,since,reason,head,all,json",
};

/* The fuzzer's own reading of an allowed list (not args.c's). */
static int has_opt(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    const char *p = allowed;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int inside(const char *p, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *quiet;
    if (!quiet) {
        quiet = fopen("/dev/null", "w");
        if (quiet)
            stderr = quiet;
    }
    if (size < 1)
        return 0;
    const char *allowed =
        allowed_lists[data[0] % (sizeof allowed_lists / sizeof *allowed_lists)];
    struct fuzz_in in = {data + 1, size - 1};
    char *argv[65];
    int argc = 0;
    while (in.left && argc < 64)
        argv[argc++] = fuzz_str(&in, NULL);
    argv[argc] = NULL;

    struct args a;
    memset(&a, 0x5a, sizeof a);
    int rc = args_parse(&a, argc, argv, "fuzz", allowed);
    FUZZ_CHECK(rc == 0 || rc == CLI_USAGE, "args_parse returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(a.npos >= 0 && a.npos <= ARGS_POS_MAX, "npos %d", a.npos);
        for (int i = 0; i < a.npos; i++)
            FUZZ_CHECK(inside(a.pos[i], argv, argc), "positional not from argv");
        const char *vals[] = {a.passphrase_file, a.new_passphrase_file, a.version,
                              a.case_name,       a.since,               a.reason,
                              a.head};
        for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
            FUZZ_CHECK(!vals[i] || inside(vals[i], argv, argc), "value %zu not from argv",
                       i);
        FUZZ_CHECK(memchr(a.opts_buf, '\0', sizeof a.opts_buf) != NULL,
                   "-o buffer not terminated");
        FUZZ_CHECK(!a.fuse_opts || a.fuse_opts == a.opts_buf, "fuse_opts");
        FUZZ_CHECK(!a.fuse_opts || has_opt(allowed, "o"), "-o accepted, not allowed");
        FUZZ_CHECK(!a.foreground || has_opt(allowed, "f"), "-f accepted, not allowed");
        FUZZ_CHECK(!a.all || has_opt(allowed, "all"), "--all accepted, not allowed");
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
