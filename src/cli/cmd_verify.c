/*
 * cmd_verify.c - `mongonorm verify`: reconcile a source and a target, read-only.
 */
#include "commands.h"
#include "output.h"

#include <mongonorm/files.h>
#include <mongonorm/verify.h>

#include <bson/bson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Differences the JSON report keeps beyond those printed (each one is counted). */
#define REPORT_DIFFERENCES 100000

enum { OPT_MAX_DIFFERENCES = 1, OPT_BATCH };

/* What the command line says: mn_verify_opts_t, and what the CLI itself does. */
typedef struct {
   mn_verify_opts_t opts;
   const char *report; /* --report FILE, or NULL */
   long max_lines;     /* difference lines to print */
   bool quiet;
} verify_args_t;

static const mn_cli_option_t VERIFY_OPTIONS[] = {
   {"source", 0, "LOCATION", MN_CLI_SOURCE_HELP " (default: $MONGODB_URI)",
    MN_CLI_STRING_AT(verify_args_t, opts.source)},
   MN_CLI_DB_AT(verify_args_t, opts.database),
   {"mapping", 0, "FILE", "mapping file the runs use",
    MN_CLI_STRING_AT(verify_args_t, opts.mapping_path)},
   MN_CLI_PG_AT(verify_args_t, opts.pg_conninfo),
   {"max-differences", 0, "N", "difference lines to print (default 20; 0: none)",
    MN_CLI_CHECKED(OPT_MAX_DIFFERENCES)},
   {"report", 0, "FILE", "also write the whole result as JSON (mode 0600)",
    MN_CLI_STRING_AT(verify_args_t, report)},
   {"batch-size", 0, "N", "documents per COPY into the temporary tables (default 1000)",
    MN_CLI_CHECKED(OPT_BATCH)},
   {"quiet", 0, NULL, "print no summary (the verdict still goes to stderr)",
    MN_CLI_FLAG_AT(verify_args_t, quiet)},
   MN_CLI_OPTIONS_END,
};

/* The two counts: --max-differences and --batch-size. */
static mn_exit_t
set_verify_option(const mn_cli_command_t *cmd, void *ctx, int id, const char *value)
{
   verify_args_t *a = ctx;
   long batch;

   switch (id) {
   case OPT_MAX_DIFFERENCES:
      if (!mn_cli_parse_count(value, 0, 1000000, &a->max_lines)) {
         return mn_cli_usage_error(
            cmd, "--max-differences takes a number from 0 to 1000000, not \"%s\"", value);
      }
      break;
   case OPT_BATCH:
      if (!mn_cli_parse_count(value, 1, 1000000, &batch)) {
         return mn_cli_usage_error(cmd, "--batch-size takes a number from 1 to 1000000, not \"%s\"",
                                   value);
      }
      a->opts.batch_docs = (size_t)batch;
      break;
   default: break;
   }
   return MN_EXIT_OK;
}

const mn_cli_command_t mn_cli_verify_command = {
   .name = "verify",
   .summary = "reconcile the source and the target, read-only",
   .synopsis = "usage: mongonorm verify --source LOCATION --mapping FILE [options]\n",
   .description =
      "Reconcile the source and the target without writing to either: convert every\n"
      "source document as a fresh full load would, and compare, inside PostgreSQL, the rows\n"
      "it gives with the target's rows (missing, extra, different), and the source's\n"
      "documents with mongonorm's record of them (not recorded, deleted from the source,\n"
      "changed since the last run, verdict, row counts).  Differences name the collection,\n"
      "the document's _id, the table, the row id and the columns: never a value.\n",
   .options = VERIFY_OPTIONS,
   .epilog =
      "Exit status: 0 source and target agree, 9 they differ; 2 usage, 3 mapping, 4 source,\n"
      "5 PostgreSQL, 6 file I/O, 7 a run holds the target.\n",
   .set = set_verify_option,
};

static mn_cli_progress_t progress = MN_CLI_PROGRESS_INIT("verify ", true); /* mn_cli_progress()'s */

/* The checks across options, and the settings that follow from them. */
static mn_exit_t
prepare_verify(verify_args_t *a)
{
   mn_verify_opts_t *o = &a->opts;

   if (!o->source) {
      o->source = getenv("MONGODB_URI");
   }
   if (!o->source || !*o->source) {
      return mn_cli_usage_error(&mn_cli_verify_command,
                                "no source: give --source (or set MONGODB_URI)");
   }
   if (!o->mapping_path) {
      return mn_cli_usage_error(&mn_cli_verify_command, "no mapping: give --mapping FILE");
   }
   /* the report lists far more than the screen; at least one is kept for the API */
   o->max_differences = a->report ? (size_t)BSON_MAX(a->max_lines, REPORT_DIFFERENCES)
                                  : (size_t)BSON_MAX(a->max_lines, 1);
   if (isatty(STDERR_FILENO) && !a->quiet) {
      o->progress = mn_cli_progress;
      o->progress_ctx = &progress;
   }
   return MN_EXIT_OK;
}

/* The summary on stdout, the report into report_fd (closed), the verdict on stderr. */
static mn_exit_t
print_result(const verify_args_t *a, const mn_verify_result_t *result, int report_fd)
{
   mn_exit_t rc = mn_verify_result_agrees(result) ? MN_EXIT_OK : MN_EXIT_DIFFER;

   if (!a->quiet) {
      char *text = mn_verify_result_to_text(result, (size_t)a->max_lines);
      fputs(text, stdout);
      bson_free(text);
   }
   if (report_fd >= 0) {
      char *json = mn_verify_result_to_json(result);
      int saved;
      if (!mn_cli_write_report(report_fd, json, &saved)) {
         mn_cli_error("could not write report \"%s\": %s", a->report, strerror(saved));
         rc = MN_EXIT_IO;
      }
      bson_free(json);
   }
   if (!mn_verify_result_agrees(result)) {
      mn_cli_note("source and target differ: %llu difference(s)",
                  (unsigned long long)mn_verify_result_n_differences(result));
   }
   return rc;
}

int
mn_cli_verify(int argc, char **argv)
{
   verify_args_t a = {.max_lines = MN_VERIFY_MAX_DIFFERENCES_DEFAULT};
   mn_verify_result_t *result = NULL;
   mn_error_t error = {0};
   int report_fd = -1;
   mn_exit_t rc;

   if (!mn_cli_parse(&mn_cli_verify_command, argc, argv, &a, &rc) ||
       (rc = prepare_verify(&a)) != MN_EXIT_OK) {
      return rc;
   }
   if (a.report) {
      /* before the work, as `run` does: a new private file (files.h), since the report
       * names documents */
      report_fd = mn_private_file_create(a.report, "report", &error);
      if (report_fd < 0) {
         mn_cli_error("%s", error.message);
         return MN_EXIT_IO;
      }
   }
   result = mn_verify_result_new();
   if (!mn_verify(&a.opts, result, &error)) {
      if (report_fd >= 0) {
         close(report_fd);
      }
      rc = mn_cli_fail(&error);
   } else {
      if (a.opts.progress) {
         fputc('\n', stderr);
      }
      rc = print_result(&a, result, report_fd);
   }
   mn_verify_result_destroy(result);
   return rc;
}
