/*
 * help.h - what mongonorm says of itself: the overview (`mongonorm --help`), `--version`
 * and the man page (`mongonorm help --man`, committed as docs/mongonorm.1).
 *
 * All three come from the same tables as the commands themselves: the command list
 * (mn_cli_commands, main.c), each command's option table (cmd_<name>.c) and the exit
 * codes (mn_cli_exit_name, error.c), so that none of them can drift from the code.
 */
#ifndef MONGONORM_CLI_HELP_H
#define MONGONORM_CLI_HELP_H

#include <stdio.h>

/**
 * Write the overview to `f`: the usage line, what mongonorm does, one line per command
 * (name and summary, from mn_cli_commands), the connection settings and the exit codes.
 */
void mn_cli_print_overview(FILE *f);

/**
 * Write `mongonorm X.Y.Z` (mn_version()), then one line per library mongonorm runs with,
 * "<name> <version>" as the loaded library reports it (mn_version_libraries()).
 */
void mn_cli_print_version(FILE *f);

/**
 * Write the man page, man(7) macros: NAME, SYNOPSIS and DESCRIPTION from the command
 * list, OPTIONS from every command's option table (the same text as its --help), EXIT
 * STATUS from the exit-code table, ENVIRONMENT (the variables the code reads: MONGODB_URI,
 * libpq's PG* variables, a mapping's salt_env), FILES and EXAMPLES.  The same bytes on
 * every machine: no date, no path of this build.
 */
void mn_cli_print_man(FILE *f);

#endif
