/*
 * cmd_init.c - `mongonorm init`: create or upgrade the target schema from a folder of
 * versioned SQL files.
 */
#include "commands.h"

#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>

#include <stdio.h>

typedef struct {
   const char *pg;
   const char *sql_dir;
   const char *mapping;
} init_args_t;

static const mn_cli_option_t INIT_OPTIONS[] = {
   MN_CLI_PG_AT(init_args_t, pg),
   {"sql-dir", 0, "DIR", "folder of versioned SQL files", MN_CLI_STRING_AT(init_args_t, sql_dir)},
   {"mapping", 0, "FILE", "take the folder from the mapping's \"sql_dir\" key (relative to FILE)",
    MN_CLI_STRING_AT(init_args_t, mapping)},
   MN_CLI_OPTIONS_END,
};

const mn_cli_command_t mn_cli_init_command = {
   .name = "init",
   .summary = "create or upgrade the target schema from the SQL folder",
   .synopsis = "usage: mongonorm init [--pg CONNINFO] (--sql-dir DIR | --mapping FILE)\n",
   .description =
      "Create or upgrade the target schema: apply each NNN_name.sql file of the SQL folder\n"
      "not yet recorded in mongonorm.schema_files, each in its own transaction.  Idempotent.\n",
   .options = INIT_OPTIONS,
   .siblings = mn_cli_pipeline_commands,
};

/* The applied files on stdout; files changed since they were applied on stderr. */
static void
print_result(const mn_pg_init_result_t *result)
{
   for (size_t i = 0; i < result->n_changed; i++) {
      mn_cli_warning("\"%s\" changed since it was applied; it is not applied again",
                     result->changed[i]);
   }
   if (result->n_changed) {
      mn_cli_hint("put a change to an applied schema into a new NNN_name.sql file");
   }
   if (result->applied) {
      printf("applied %d schema file%s\n", result->applied, result->applied == 1 ? "" : "s");
   } else {
      printf("schema is up to date\n");
   }
}

int
mn_cli_init(int argc, char **argv)
{
   const mn_cli_command_t *cmd = &mn_cli_init_command;
   init_args_t a = {0};
   mn_error_t error = {0};
   mn_mapping_t *m = NULL;
   mn_pg_init_result_t result = {0};
   PGconn *conn = NULL;
   const char *sql_dir;
   mn_exit_t rc;

   if (!mn_cli_parse(cmd, argc, argv, &a, &rc)) {
      return rc;
   }
   /* The SQL source is always explicit: a default folder would install one
    * application's tables into whatever database init is pointed at. */
   if (!a.sql_dir && !a.mapping) {
      return mn_cli_usage_error(cmd, "no SQL folder: give --sql-dir DIR, or --mapping FILE "
                                     "with a \"sql_dir\" key");
   }
   sql_dir = a.sql_dir;
   if (!sql_dir) {
      if (!(m = mn_mapping_load(a.mapping, &error))) {
         return mn_cli_fail(&error);
      }
      if (!(sql_dir = mn_mapping_sql_dir(m))) {
         mn_mapping_destroy(m);
         return mn_cli_usage_error(
            cmd, "mapping file \"%s\" declares no \"sql_dir\": give --sql-dir DIR", a.mapping);
      }
   }
   rc = MN_EXIT_OK;
   conn = mn_pg_connect(a.pg, &error);
   if (!conn || !mn_pg_lock(conn, &error) || !mn_pg_init_schema(conn, sql_dir, &result, &error)) {
      rc = mn_cli_fail(&error);
   }
   mn_pg_unlock(conn);
   PQfinish(conn);
   if (rc == MN_EXIT_OK) {
      print_result(&result);
   }
   mn_pg_init_result_cleanup(&result);
   mn_mapping_destroy(m);
   return rc;
}
