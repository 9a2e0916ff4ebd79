/*
 * cli — see cli.h.
 */
#include "tools/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("casefs: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

void cli_passphrase_free(char *p)
{
    if (p)
        sodium_free(p);
}

/* Reads one line (without its newline) into buf; returns its length or -1. */
static long read_line(FILE *f, char *buf, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (n + 1 >= cap)
            return -2;
        buf[n++] = (char)c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n > KEYS_PASSPHRASE_MAX)
        return -2;
    if (c == EOF && n == 0 && ferror(f))
        return -1;
    return (long)n;
}

int cli_passphrase_read(const char *file, const char *prompt, char **out, size_t *len)
{
    if (sodium_init() < 0)
        return cli_fail(CLI_REFUSED, "libsodium could not start: check the installation");
    char *buf = sodium_malloc(KEYS_PASSPHRASE_MAX + 2);
    if (!buf)
        return cli_fail(CLI_REFUSED, "out of memory reading the passphrase");
    long n;
    if (file) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
        if (!f) {
            int e = errno;
            sodium_free(buf);
            return cli_fail(CLI_REFUSED, "cannot read passphrase file %s: %s", file,
                            strerror(e));
        }
        n = read_line(f, buf, KEYS_PASSPHRASE_MAX + 2);
        if (f != stdin)
            fclose(f);
    } else {
        FILE *tty = fopen("/dev/tty", "r+e");
        if (!tty) {
            sodium_free(buf);
            return cli_fail(CLI_USAGE, "no terminal to ask for the passphrase: "
                                       "give --passphrase-file FILE (- for stdin)");
        }
        struct termios old, quiet;
        int have = tcgetattr(fileno(tty), &old) == 0;
        if (have) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        }
        fputs(prompt, tty);
        fflush(tty);
        n = read_line(tty, buf, KEYS_PASSPHRASE_MAX + 2);
        if (have)
            tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
        fclose(tty);
    }
    if (n == -2) {
        sodium_free(buf);
        return cli_fail(CLI_USAGE, "passphrase longer than %d bytes: use a shorter one",
                        KEYS_PASSPHRASE_MAX);
    }
    if (n <= 0) {
        sodium_free(buf);
        return cli_fail(CLI_USAGE,
                        "empty passphrase: the passphrase file's first line must "
                        "hold the passphrase");
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

void cli_store_error_text(const char *dir, int rc, char *out, size_t n)
{
    uint32_t found = 0;
    switch (rc) {
    case -ENOENT:
        snprintf(out, n, "no store at %s: check the path, or create one with 'casefs init %s'",
                 dir, dir);
        break;
    case -EPROTO:
        store_probe(dir, &found);
        snprintf(out, n,
                 "%s holds store format version %u, this casefs reads version %u: use a "
                 "casefs that matches the store",
                 dir, found, STORE_FORMAT_VERSION);
        break;
    case -EACCES:
        snprintf(out, n, "wrong passphrase for %s: nothing was changed; try again", dir);
        break;
    case -ENOMEM:
        snprintf(out, n, "not enough memory to derive the key: free memory and try again");
        break;
    case -EUCLEAN:
        snprintf(out, n,
                 "a write to the store file of %s failed since the machine started (a disk "
                 "error): nothing was changed; check the disk, then restart the machine, "
                 "and the store opens as of its last durable point ('casefs log' and "
                 "'casefs verify' read it now)",
                 dir);
        break;
    default:
        snprintf(out, n, "cannot open the store %s (%s): run 'casefs verify %s'", dir,
                 strerror(-rc), dir);
    }
}

int cli_store_error(const char *dir, int rc)
{
    char msg[1024];
    cli_store_error_text(dir, rc, msg, sizeof msg);
    return cli_fail(CLI_REFUSED, "%s", msg);
}

int cli_store_open(const char *dir, const char *passfile, unsigned flags,
                   struct store **out)
{
    int rc = store_probe(dir, NULL);
    if (rc)
        return cli_store_error(dir, rc);
    char *pass;
    size_t len;
    rc = cli_passphrase_read(passfile, "Passphrase: ", &pass, &len);
    if (rc)
        return rc;
    struct keys *k;
    rc = store_unlock(dir, pass, len, &k);
    cli_passphrase_free(pass);
    if (rc == 0)
        rc = store_open(dir, k, flags, out);
    return rc ? cli_store_error(dir, rc) : 0;
}

void cli_time(long long sec, char *out, size_t len)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
