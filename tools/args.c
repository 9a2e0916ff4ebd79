/*
 * args — see args.h.
 */
#include "tools/args.h"

#include <string.h>

#include "tools/cli.h"

static int allowed_has(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = allowed; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int args_parse(struct args *a, int argc, char **argv, const char *cmd,
               const char *allowed)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (s[0] != '-' || strcmp(s, "-") == 0) {
            if (a->npos == ARGS_POS_MAX)
                return cli_fail(CLI_USAGE,
                                "%s: too many arguments at '%s': see 'casefs %s "
                                "--help'",
                                cmd, s, cmd);
            a->pos[a->npos++] = s;
            continue;
        }
        const char *name = s[1] == '-' ? s + 2 : s + 1;
        const char *value = NULL;
        char key[32];
        const char *eq = strchr(name, '=');
        size_t klen = eq ? (size_t)(eq - name) : strlen(name);
        if (klen >= sizeof key)
            klen = sizeof key - 1;
        memcpy(key, name, klen);
        key[klen] = '\0';
        if (!allowed_has(allowed, key))
            return cli_fail(CLI_USAGE, "%s: unknown option '%s': see 'casefs %s --help'",
                            cmd, s, cmd);
        int takes = strcmp(key, "f") && strcmp(key, "all") && strcmp(key, "json");
        if (takes) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                value = argv[++i];
            else
                return cli_fail(CLI_USAGE, "%s: option '%s' needs a value", cmd, s);
        }
        if (strcmp(key, "passphrase-file") == 0)
            a->passphrase_file = value;
        else if (strcmp(key, "new-passphrase-file") == 0)
            a->new_passphrase_file = value;
        else if (strcmp(key, "version") == 0)
            a->version = value;
        else if (strcmp(key, "case") == 0)
            a->case_name = value;
        else if (strcmp(key, "since") == 0)
            a->since = value;
        else if (strcmp(key, "reason") == 0)
            a->reason = value;
        else if (strcmp(key, "head") == 0)
            a->head = value;
        else if (strcmp(key, "node") == 0)
            a->node = value;
        else if (strcmp(key, "f") == 0)
            a->foreground = 1;
        else if (strcmp(key, "all") == 0)
            a->all = 1;
        else if (strcmp(key, "json") == 0)
            a->json = 1;
        else if (strcmp(key, "o") == 0) {
            size_t used = strlen(a->opts_buf);
            if (used + strlen(value) + 2 > sizeof a->opts_buf)
                return cli_fail(CLI_USAGE, "%s: -o options too long", cmd);
            if (used)
                strcat(a->opts_buf, ",");
            strcat(a->opts_buf, value);
            a->fuse_opts = a->opts_buf;
        }
    }
    return 0;
}
