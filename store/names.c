/*
 * names — see names.h.
 */
#include "store/names.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* vim probes with 4913, then 4913 + 123 * k while the name exists. */
static int is_vim_probe(const char *name)
{
    if (!all_digits(name) || strlen(name) > 6)
        return 0;
    long n = strtol(name, NULL, 10);
    return n >= 4913 && (n - 4913) % 123 == 0;
}

/* rsync's temporary ".NAME.XXXXXX": six characters from [A-Za-z0-9] with at
 * least one digit or capital, so that ordinary names such as
 * ".notes.backup" are not taken for scratch files. */
static int is_rsync_temp(const char *name)
{
    size_t n = strlen(name);
    if (n < 9 || name[0] != '.' || name[n - 7] != '.')
        return 0;
    int mixed = 0;
    for (size_t i = n - 6; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c))
            return 0;
        if (isdigit(c) || isupper(c))
            mixed = 1;
    }
    return mixed;
}

int names_is_transient(const char *name)
{
    static const char *const patterns[] = {
        "*~",  ".*.sw?",           ".sw?",  "#*#",       ".#*",           ".~lock.*#",
        "~$*", ".goutputstream-*", "*.tmp", "sed??????", ".fuse_hidden*",
    };
    if (!name || !*name)
        return 0;
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++)
        if (fnmatch(patterns[i], name, 0) == 0)
            return 1;
    return is_vim_probe(name) || is_rsync_temp(name);
}

int names_check_new(const char *name, int at_root)
{
    size_t n = strlen(name);
    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
        return -EINVAL;
    if (n > 255)
        return -ENAMETOOLONG;
    if (strcmp(name, NAMES_VERSIONS_DIR) == 0)
        return -EEXIST;
    if (at_root && name[0] == '.')
        return -EPERM;
    return 0;
}

const char *names_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || strlen(dot) > 16 || dot[1] == '\0')
        return "";
    return dot;
}

unsigned names_parse_version(const char *file, const char *name)
{
    const char *ext = names_extension(name);
    size_t n = strlen(file), e = strlen(ext);
    if (n < 2 + e || file[0] != 'v' || strcmp(file + n - e, ext) != 0)
        return 0;
    unsigned v = 0;
    for (size_t i = 1; i < n - e; i++) {
        if (!isdigit((unsigned char)file[i]) || (i == 1 && file[i] == '0') ||
            v > 100000000u)
            return 0;
        v = v * 10 + (unsigned)(file[i] - '0');
    }
    return v;
}
