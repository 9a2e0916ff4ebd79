/*
 * commands — the casefs subcommands; each returns the process exit status.
 */
#ifndef CASEFS_COMMANDS_H
#define CASEFS_COMMANDS_H

int cmd_init(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_retractions(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_retract(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_passwd(int argc, char **argv);

#endif
