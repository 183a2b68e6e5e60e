/*
 * commands.h - the mongonorm commands, one cmd_<name>.c each; main.c dispatches.
 *
 * Each function takes the arguments after "mongonorm" (argv[0] is the command name) and
 * returns the process exit code (error.h, docs/exit-codes.md).
 */
#ifndef MONGONORM_CLI_COMMANDS_H
#define MONGONORM_CLI_COMMANDS_H

#include "options.h"

/** `mongonorm init`: create or upgrade the target schema (cmd_init.c). */
int mn_cli_init(int argc, char **argv);

/** `mongonorm run`: load the source into the target (cmd_run.c). */
int mn_cli_run(int argc, char **argv);

/** `mongonorm check`: validate a mapping, and with --pg against the target (cmd_check.c). */
int mn_cli_check(int argc, char **argv);

/** `mongonorm status`: the recorded runs, and how far the target lags (cmd_status.c). */
int mn_cli_status(int argc, char **argv);

/** `mongonorm generate`: synthetic documents from a model file (cmd_generate.c). */
int mn_cli_generate(int argc, char **argv);

/** `mongonorm verify`: reconcile source and target (cmd_verify.c). 0 agree, 9 differ. */
int mn_cli_verify(int argc, char **argv);

/** `mongonorm infer`: draft a mapping and a schema from the data (cmd_infer.c). */
int mn_cli_infer(int argc, char **argv);

/* The command lines of the commands (in their cmd_<name>.c). */
extern const mn_cli_command_t mn_cli_init_command;
extern const mn_cli_command_t mn_cli_run_command;
extern const mn_cli_command_t mn_cli_check_command;
extern const mn_cli_command_t mn_cli_status_command;
extern const mn_cli_command_t mn_cli_generate_command;
extern const mn_cli_command_t mn_cli_verify_command;
extern const mn_cli_command_t mn_cli_infer_command;

/** A command: its command line (name, summary, options) and its function. */
typedef struct {
   const mn_cli_command_t *command;
   int (*fn)(int argc, char **argv);
} mn_cli_entry_t;

/** Every command, in the order the overview and the man page list them (main.c);
 *  ends with {NULL, NULL}. */
extern const mn_cli_entry_t mn_cli_commands[];

/** init, run, check and status (main.c): each knows the others' options by name, and
 *  says of one of them that it "does not apply to this command". NULL-terminated. */
extern const mn_cli_command_t *const mn_cli_pipeline_commands[];

#endif
