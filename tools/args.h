/*
 * args — the options every casefs subcommand understands, scanned in one
 * place so that they are spelled the same everywhere.
 */
#ifndef CASEFS_ARGS_H
#define CASEFS_ARGS_H

#define ARGS_POS_MAX 4

struct args {
    const char *pos[ARGS_POS_MAX];
    int npos;
    const char *passphrase_file;
    const char *new_passphrase_file;
    const char *fuse_opts; /* -o, comma separated, accumulated */
    const char *version;   /* --version N */
    const char *case_name; /* --case */
    const char *since;     /* --since */
    const char *reason;    /* --reason */
    const char *head;      /* --head */
    const char *node;      /* --node N (history, cat: a document by number) */
    int foreground;        /* -f */
    int all;               /* --all */
    int json;              /* --json */
    int help;              /* --help, -h */
    char opts_buf[1024];
};

/* Scans argv (after the subcommand).  allowed: the options this
 * subcommand takes, e.g. "passphrase-file,version".  0 or CLI_USAGE after
 * printing what is wrong. */
int args_parse(struct args *a, int argc, char **argv, const char *cmd,
               const char *allowed);

#endif
