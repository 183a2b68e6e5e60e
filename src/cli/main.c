/*
 * main.c - the mongonorm command: `mongonorm <command> ...` to the command's
 * cmd_<name>.c; the overview (--help), `help [<command>]`, --version and the man page
 * (`help --man`, hidden) through help.c.
 *
 * src/cli is the only place that prints or exits.  Errors go to stderr as
 * "mongonorm: error: ..." (error.h), data (statistics) to stdout.  Exit codes are
 * listed in docs/exit-codes.md and error.h.
 */
#include "commands.h"
#include "help.h"

#include <stdio.h>
#include <string.h>

const mn_cli_command_t *const mn_cli_pipeline_commands[] = {
   &mn_cli_init_command, &mn_cli_run_command, &mn_cli_check_command, &mn_cli_status_command, NULL};

const mn_cli_entry_t mn_cli_commands[] = {
   {&mn_cli_init_command, mn_cli_init},         {&mn_cli_run_command, mn_cli_run},
   {&mn_cli_check_command, mn_cli_check},       {&mn_cli_status_command, mn_cli_status},
   {&mn_cli_generate_command, mn_cli_generate}, {&mn_cli_verify_command, mn_cli_verify},
   {&mn_cli_infer_command, mn_cli_infer},       {NULL, NULL},
};

static const mn_cli_entry_t *
find_command(const char *name)
{
   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      if (!strcmp(name, e->command->name)) {
         return e;
      }
   }
   return NULL;
}

/* An unknown command: the error, then the overview, on stderr. */
static int
unknown_command(const char *name)
{
   mn_cli_error("unknown command \"%s\"", name);
   mn_cli_print_overview(stderr);
   return MN_EXIT_USAGE;
}

/* `mongonorm help [<command> | --man]`: argv[0] is "help". */
static int
help(int argc, char **argv)
{
   const mn_cli_entry_t *e;

   if (argc > 2) {
      mn_cli_error("unexpected argument \"%s\"", argv[2]);
      mn_cli_print_overview(stderr);
      return MN_EXIT_USAGE;
   }
   if (argc < 2) {
      mn_cli_print_overview(stdout);
   } else if (!strcmp(argv[1], "--man")) {
      mn_cli_print_man(stdout);
   } else if ((e = find_command(argv[1]))) {
      mn_cli_print_help(e->command, stdout);
   } else {
      return unknown_command(argv[1]);
   }
   return MN_EXIT_OK;
}

int
main(int argc, char **argv)
{
   const char *cmd = argc > 1 ? argv[1] : NULL;
   const mn_cli_entry_t *e;

   if (!cmd) {
      mn_cli_print_overview(stderr);
      return MN_EXIT_USAGE;
   }
   if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
      mn_cli_print_overview(stdout);
      return MN_EXIT_OK;
   }
   if (!strcmp(cmd, "help")) {
      return help(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "--version")) {
      mn_cli_print_version(stdout);
      return MN_EXIT_OK;
   }
   if ((e = find_command(cmd))) {
      return e->fn(argc - 1, argv + 1);
   }
   return unknown_command(cmd);
}
