/*
 * cmd_check.c - `mongonorm check`: validate a mapping file, and with --pg check it
 * against the target's tables, column types, NOT NULL columns and foreign keys.
 */
#include "commands.h"

#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>
#include <mongonorm/state.h>

#include <stdio.h>

typedef struct {
   const char *pg;
   const char *mapping;
} check_args_t;

static const mn_cli_option_t CHECK_OPTIONS[] = {
   {"mapping", 0, "FILE", "the mapping file to validate", MN_CLI_STRING_AT(check_args_t, mapping)},
   {"pg", 0, "CONNINFO",
    "also check the mapping against this target (libpq connection string or URI; without "
    "it, no target check)",
    MN_CLI_STRING_AT(check_args_t, pg)},
   MN_CLI_OPTIONS_END,
};

const mn_cli_command_t mn_cli_check_command = {
   .name = "check",
   .summary = "validate a mapping file (and, with --pg, the target's tables)",
   .synopsis = "usage: mongonorm check --mapping FILE [--pg CONNINFO]\n",
   .description =
      "Validate a mapping file without moving data; with --pg, also check that the target\n"
      "has every table and column the mapping writes, that no column type can lose data\n"
      "(round, truncate, narrow) of the mapping's type, that every NOT NULL column gets a\n"
      "value in every row, and that every foreign key's referenced table is loaded first;\n"
      "tables under row-level security for the connected role are named in warnings.\n",
   .options = CHECK_OPTIONS,
   .siblings = mn_cli_pipeline_commands,
};

/* One hint per kind of finding (mn_pg_finding_kind_t), printed after the findings. */
static const char *const FINDING_HINTS[] = {
   [MN_PG_FINDING_TYPE] = "give the mapping the column's own type, or widen the column; at run "
                          "time a value that would not fit follows the column's on_invalid "
                          "policy",
   [MN_PG_FINDING_NOT_NULL] =
      "a NOT NULL column needs a value in every row: map it with \"required: true\" (a "
      "document without one is rejected, or the row skipped) or a \"default\", load a "
      "referenced collection before the one referencing it, or drop NOT NULL",
   [MN_PG_FINDING_FOREIGN_KEY] =
      "a referenced table must be loaded first: map it in an earlier collection (or entry), "
      "declare the column \"references:\" so that it is set once its target is loaded, or "
      "fill the table before the run",
   [MN_PG_FINDING_ON_DELETE] =
      "declare the column \"references:\" to an earlier collection (a change there converts "
      "the referencing documents again), or use ON DELETE NO ACTION (such a deletion then "
      "fails instead)",
   [MN_PG_FINDING_ROW_SECURITY] = NULL, /* a note: printed as a warning, no hint */
};

#define N_HINTS (sizeof FINDING_HINTS / sizeof FINDING_HINTS[0])

/* The notes as warnings (mn_pg_finding_is_note()), then when there are problems each one
 * per line, a summary and one hint per kind, in kind order; returns the problems' number. */
static size_t
print_findings(const char *mapping, const mn_pg_findings_t *findings)
{
   bool seen[N_HINTS] = {false};
   size_t problems = 0;

   for (size_t i = 0; i < findings->n; i++) {
      if (mn_pg_finding_is_note(findings->kinds[i])) {
         mn_cli_warning("%s", findings->lines[i]);
      }
   }
   for (size_t i = 0; i < findings->n; i++) {
      if (!mn_pg_finding_is_note(findings->kinds[i])) {
         mn_cli_error("%s", findings->lines[i]);
         seen[findings->kinds[i]] = true;
         problems++;
      }
   }
   if (!problems) {
      return 0;
   }
   mn_cli_error("mapping \"%s\" does not fit the target: %zu finding%s", mapping, problems,
                problems == 1 ? "" : "s");
   for (size_t k = 0; k < N_HINTS; k++) {
      if (seen[k] && FINDING_HINTS[k]) {
         mn_cli_hint("%s", FINDING_HINTS[k]);
      }
   }
   return problems;
}

/* The target check of --pg: MN_EXIT_OK when the mapping fits the target. */
static mn_exit_t
check_target(const char *pg, const char *mapping, mn_mapping_t *m)
{
   mn_error_t error = {0};
   mn_pg_findings_t findings = {0};
   mn_bulk_pending_t pending = {0};
   PGconn *conn = mn_pg_connect(pg, &error);
   mn_exit_t rc = MN_EXIT_OK;

   if (!conn || !mn_pg_check_target(conn, m, &findings, &error) ||
       !mn_state_bulk_pending(conn, &pending, &error)) {
      rc = mn_cli_fail(&error);
   } else if (pending.foreign_keys + pending.indexes > 0) {
      /* the foreign keys the findings judge are those in the catalog now */
      mn_cli_warning("a bulk load is in progress: %zu indexes and %zu foreign keys of the "
                     "target are dropped until a run puts them back; what is said of foreign "
                     "keys covers only those in place",
                     pending.indexes, pending.foreign_keys);
   }
   if (rc == MN_EXIT_OK && print_findings(mapping, &findings)) {
      rc = MN_EXIT_MAPPING;
   }
   PQfinish(conn);
   mn_pg_findings_cleanup(&findings);
   return rc;
}

int
mn_cli_check(int argc, char **argv)
{
   const mn_cli_command_t *cmd = &mn_cli_check_command;
   check_args_t a = {0};
   mn_error_t error = {0};
   mn_mapping_t *m;
   mn_exit_t rc;

   if (!mn_cli_parse(cmd, argc, argv, &a, &rc)) {
      return rc;
   }
   if (!a.mapping) {
      return mn_cli_usage_error(cmd, "no mapping: give --mapping FILE");
   }
   if (!(m = mn_mapping_load(a.mapping, &error))) {
      return mn_cli_fail(&error);
   }
   if (a.pg && (rc = check_target(a.pg, a.mapping, m)) != MN_EXIT_OK) {
      mn_mapping_destroy(m);
      return rc;
   }
   printf("mapping \"%s\" is valid: %zu collection(s), %zu table(s)%s\n", a.mapping,
          mn_mapping_n_collections(m), mn_mapping_n_tables(m),
          a.pg ? ", all present in the target" : "");
   mn_mapping_destroy(m);
   return MN_EXIT_OK;
}
