/*
 * commands.h - subcommands implemented outside main.c.
 *
 * Each takes the arguments after "mongonorm" (argv[0] is the command name) and
 * returns the process exit code (docs/exit-codes.md).
 */
#ifndef MONGONORM_CLI_COMMANDS_H
#define MONGONORM_CLI_COMMANDS_H

/** `mongonorm generate`: synthetic documents from a model file (cmd_generate.c). */
int mn_cli_generate(int argc, char **argv);

#endif
