/*
 * commands.h - subcommands implemented outside main.c.
 *
 * Each takes the arguments after "mongonorm" (argv[0] is the command name) and
 * returns the process exit code (docs/exit-codes.md).
 */
#ifndef MONGONORM_CLI_COMMANDS_H
#define MONGONORM_CLI_COMMANDS_H

#include <mongonorm/error.h>

/** `mongonorm generate`: synthetic documents from a model file (cmd_generate.c). */
int mn_cli_generate(int argc, char **argv);

/** `mongonorm verify`: reconcile source and target (cmd_verify.c). 0 agree, 9 differ. */
int mn_cli_verify(int argc, char **argv);

/** main.c's exit code for an error (its domain and code; docs/exit-codes.md). */
int mn_cli_exit_code(const mn_error_t *error);

/** main.c's error output: "mongonorm: error: ..." and a hint when one applies. */
void mn_cli_print_error(const mn_error_t *error);

#endif
