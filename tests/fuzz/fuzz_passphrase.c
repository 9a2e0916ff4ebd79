/*
 * fuzz_passphrase — cli_passphrase_read (tools/cli.c) reading a passphrase
 * file (`--passphrase-file FILE`).
 *
 * The input is written to a temporary file which is then read.  Checks: 0
 * or an exit code; an accepted passphrase is 1..KEYS_PASSPHRASE_MAX bytes
 * (the longest keys_wrap and keys_unwrap take), terminated, equal to the
 * file's first line without its newline (and one trailing CR), and
 * cli_passphrase_free releases it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/keys.h"
#include "tools/cli.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[256];

static void cleanup(void)
{
    if (g_path[0])
        unlink(g_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *quiet;
    if (!quiet) {
        quiet = fopen("/dev/null", "w");
        if (quiet)
            stderr = quiet;
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(g_path, sizeof g_path, "%s/casefs-fuzz-pass-XXXXXX", base);
        int fd = mkstemp(g_path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(cleanup);
    }
    FILE *f = fopen(g_path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    char *pass = NULL;
    size_t len = 0;
    int rc = cli_passphrase_read(g_path, "Passphrase: ", &pass, &len);
    FUZZ_CHECK(rc == 0 || rc == CLI_REFUSED || rc == CLI_USAGE,
               "cli_passphrase_read returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(pass != NULL, "no buffer");
        FUZZ_CHECK(len >= 1 && len <= KEYS_PASSPHRASE_MAX,
                   "accepted a passphrase of %zu bytes (longest is %d)", len,
                   KEYS_PASSPHRASE_MAX);
        FUZZ_CHECK(pass[len] == '\0', "not terminated");
        /* The expected first line. */
        const uint8_t *nl = memchr(data, '\n', size);
        size_t line = nl ? (size_t)(nl - data) : size;
        if (line && data[line - 1] == '\r')
            line--;
        FUZZ_CHECK(line == len && memcmp(pass, data, len) == 0,
                   "read %zu bytes, first line has %zu", len, line);
        cli_passphrase_free(pass);
    } else {
        FUZZ_CHECK(pass == NULL, "buffer set on failure");
    }
    return 0;
}
