/*
 * main.c - the mongonorm command: `mongonorm <command> ...` to the command's
 * cmd_<name>.c, the overview (--help) and --version.
 *
 * src/cli is the only place that prints or exits.  Errors go to stderr as
 * "mongonorm: error: ..." (error.h), data (statistics) to stdout.  Exit codes are
 * listed in docs/exit-codes.md and error.h.
 */
#include "commands.h"

#include <mongonorm/version.h>

#include <stdio.h>
#include <string.h>

static const char USAGE[] =
   "usage: mongonorm <command> [options]\n"
   "\n"
   "Move MongoDB collections into a normalized PostgreSQL schema through a mapping file.\n"
   "\n"
   "commands:\n"
   "  init     create or upgrade the target schema from the SQL folder\n"
   "  run      load the source into the target (the main job)\n"
   "  check    validate a mapping file (and, with --pg, the target's tables)\n"
   "  status   the recorded runs; with --source, how far the target lags the source\n"
   "  generate write a deterministic synthetic dataset from a model file\n"
   "  verify   reconcile the source and the target, read-only\n"
   "\n"
   "Run \"mongonorm <command> --help\" for a command's options.\n"
   "PostgreSQL: --pg takes a libpq connection string or URI; without it the PG*\n"
   "environment variables apply.  MongoDB: --source takes a mongodb:// URI (or\n"
   "MONGODB_URI), a mongodump folder, or a folder of mongoexport .json files.\n"
   "Exit codes: 0 done, 1 done with rejected documents, 2 usage, 3 mapping, 4 source,\n"
   "5 PostgreSQL, 6 file I/O, 7 target locked by another run, 8 done but parts of\n"
   "the source could not be read, 9 verify found differences, 10 stopped by a reject limit.\n";

const mn_cli_command_t *const mn_cli_pipeline_commands[] = {
   &mn_cli_init_command, &mn_cli_run_command, &mn_cli_check_command, &mn_cli_status_command, NULL};

static const struct {
   const char *name;
   int (*fn)(int argc, char **argv);
} COMMANDS[] = {
   {"init", mn_cli_init},     {"run", mn_cli_run},           {"check", mn_cli_check},
   {"status", mn_cli_status}, {"generate", mn_cli_generate}, {"verify", mn_cli_verify},
};

int
main(int argc, char **argv)
{
   const char *cmd = argc > 1 ? argv[1] : NULL;

   if (!cmd) {
      fputs(USAGE, stderr);
      return MN_EXIT_USAGE;
   }
   if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
      fputs(USAGE, stdout);
      return MN_EXIT_OK;
   }
   if (!strcmp(cmd, "--version")) {
      mn_library_version_t libs[MN_VERSION_N_LIBRARIES];
      size_t n = mn_version_libraries(libs, MN_VERSION_N_LIBRARIES);

      printf("mongonorm %s\n", mn_version());
      for (size_t i = 0; i < n && i < MN_VERSION_N_LIBRARIES; i++) {
         printf("%s %s\n", libs[i].name, libs[i].version);
      }
      return MN_EXIT_OK;
   }
   for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
      if (!strcmp(cmd, COMMANDS[i].name)) {
         return COMMANDS[i].fn(argc - 1, argv + 1);
      }
   }
   mn_cli_error("unknown command \"%s\"", cmd);
   fputs(USAGE, stderr);
   return MN_EXIT_USAGE;
}
