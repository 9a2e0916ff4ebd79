/*
 * casefs — the command line.  One binary, git-style subcommands.
 * Exit status: 0 success, 1 refused or failed, 2 bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command COMMANDS[] = {
    {"init", cmd_init, "create a new encrypted store"},
    {"mount", cmd_mount, "mount a store on an empty folder"},
    {"umount", cmd_umount, "unmount"},
    {"history", cmd_history, "list every version of a document"},
    {"cat", cmd_cat, "print a version of a document"},
    {"retractions", cmd_retractions, "list retraction requests"},
    {"retract", cmd_retract, "approve or reject a retraction request"},
    {"log", cmd_log, "print the audit log; 'log verify', 'log head'"},
    {"verify", cmd_verify, "authenticate everything and check every reference"},
    {"backup", cmd_backup, "copy the store, consistent and compact, while in use"},
    {"passwd", cmd_passwd, "change the passphrase"},
};

static void usage(FILE *out)
{
    fputs("usage: casefs COMMAND [ARGS]   (casefs COMMAND --help for "
          "details)\n\ncommands:\n",
          out);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("\nCommands that need the key take --passphrase-file FILE (- for stdin)\n"
          "and otherwise ask on the terminal.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_fail(
            CLI_USAGE,
            "no command given: usage is 'casefs COMMAND [ARGS]', see 'casefs --help'");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return COMMANDS[i].run(argc - 2, argv + 2);
    return cli_fail(CLI_USAGE, "unknown command '%s': see 'casefs --help'", argv[1]);
}
