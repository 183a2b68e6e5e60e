/*
 * cmd_status.c - `mongonorm status`: the recorded runs, newest first; with --source and
 * --mapping, how far the target lags the source.
 */
#include "commands.h"
#include "output.h"

#include <mongonorm/files.h>
#include <mongonorm/report.h>
#include <mongonorm/status.h>

#include <bson/bson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { OPT_RUNS = 1 };

typedef struct {
   const char *pg;
   const char *source;
   const char *db;
   const char *mapping;
   long runs;
   bool json;
   const char *html; /* --html FILE, or NULL */
} status_args_t;

static const mn_cli_option_t STATUS_OPTIONS[] = {
   MN_CLI_PG_AT(status_args_t, pg),
   {"runs", 0, "N", "how many runs to show (default 10)", MN_CLI_CHECKED(OPT_RUNS)},
   {"source", 0, "LOCATION", MN_CLI_SOURCE_HELP, MN_CLI_STRING_AT(status_args_t, source)},
   MN_CLI_DB_AT(status_args_t, db),
   {"mapping", 0, "FILE", "the mapping the runs use", MN_CLI_STRING_AT(status_args_t, mapping)},
   {"json", 0, NULL, "print JSON instead of text", MN_CLI_FLAG_AT(status_args_t, json)},
   {"html", 0, "FILE",
    "also write the runs as one self-contained HTML page (no script, no network): a table of "
    "the runs and a chart of the documents each run changed, so the lag shows shrinking run "
    "after run; with --source, the changes waiting now",
    MN_CLI_STRING_AT(status_args_t, html)},
   MN_CLI_OPTIONS_END,
};

/* --runs, the one option with a value to check. */
static mn_exit_t
set_status_option(const mn_cli_command_t *cmd, void *ctx, int id, const char *value)
{
   status_args_t *a = ctx;

   if (id == OPT_RUNS && !mn_cli_parse_count(value, 1, 100000, &a->runs)) {
      return mn_cli_usage_error(cmd, "--runs takes a number from 1 to 100000, not \"%s\"", value);
   }
   return MN_EXIT_OK;
}

const mn_cli_command_t mn_cli_status_command = {
   .name = "status",
   .summary = "the recorded runs; with --source, how far the target lags the source",
   .synopsis =
      "usage: mongonorm status [--pg CONNINFO] [--runs N] [--source LOCATION --mapping FILE]\n"
      "                        [--db NAME] [--json] [--html FILE]\n",
   .description =
      "Show the recorded runs (newest first): when, from where, outcome, documents per\n"
      "collection and rows written.  With --source and --mapping, also read the source and\n"
      "count, per collection, the documents that are new, changed, gone or unchanged since\n"
      "the last run, without writing anything.\n",
   .options = STATUS_OPTIONS,
   .set = set_status_option,
   .siblings = mn_cli_pipeline_commands,
};

static int64_t
doc_int(const bson_t *doc, const char *dotted)
{
   bson_iter_t it, found;

   if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, dotted, &found) &&
       BSON_ITER_HOLDS_NUMBER(&found)) {
      return bson_iter_as_int64(&found);
   }
   return 0;
}

static const char *
doc_str(const bson_t *doc, const char *dotted)
{
   bson_iter_t it, found;

   if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, dotted, &found) &&
       BSON_ITER_HOLDS_UTF8(&found)) {
      return bson_iter_utf8(&found, NULL);
   }
   return "";
}

/*
 * The runs of mn_status_runs() as text: first, while a bulk load is in progress, a line
 * saying so; a header, one line per run (id, start, seconds,
 * outcome, source; "-" seconds for an interrupted run), and under each the documents
 * read, loaded, unchanged, rejected and deleted per collection, from the run's report.
 */
static void
print_runs_text(const bson_t *out)
{
   bson_iter_t it, runs, run;

   if (bson_iter_init_find(&it, out, "bulk_load")) {
      printf("a bulk load is in progress since %s: %lld indexes and %lld foreign keys are "
             "dropped until a run puts them back\n",
             doc_str(out, "bulk_load.since"), (long long)doc_int(out, "bulk_load.indexes"),
             (long long)doc_int(out, "bulk_load.foreign_keys"));
   }
   if (!bson_iter_init_find(&it, out, "runs") || !bson_iter_recurse(&it, &runs)) {
      return;
   }
   printf("%-6s %-22s %8s %-11s %s\n", "run", "started", "seconds", "outcome", "source");
   while (bson_iter_next(&runs)) {
      bson_t r;
      const uint8_t *data;
      uint32_t len;
      bson_iter_t f, report, coll;

      bson_iter_document(&runs, &len, &data);
      if (!bson_init_static(&r, data, len)) {
         continue;
      }
      bson_iter_init(&run, &r);
      {
         char seconds[32] = "-"; /* unknown for an interrupted run */
         if (bson_iter_init_find(&f, &r, "seconds")) {
            snprintf(seconds, sizeof seconds, "%.1f", bson_iter_as_double(&f));
         }
         printf("%-6lld %-22.22s %8s %-11s %s\n", (long long)doc_int(&r, "id"),
                bson_iter_init_find(&f, &r, "started_at") ? bson_iter_utf8(&f, NULL) : "", seconds,
                bson_iter_init_find(&f, &r, "outcome") ? bson_iter_utf8(&f, NULL) : "",
                bson_iter_init_find(&f, &r, "source") ? bson_iter_utf8(&f, NULL) : "");
      }
      if (bson_iter_init_find(&report, &r, "report") && bson_iter_recurse(&report, &coll) &&
          bson_iter_find(&coll, "collections")) {
         bson_iter_t cs;
         bson_iter_recurse(&coll, &cs);
         while (bson_iter_next(&cs)) {
            const char *name = bson_iter_key(&cs);
            char path[512];
            const char *keys[] = {"read", "loaded", "unchanged", "rejected", "deleted"};
            printf("       %-20s", name);
            for (size_t k = 0; k < 5; k++) {
               snprintf(path, sizeof path, "report.collections.%s.%s", name, keys[k]);
               printf(" %s %lld", keys[k], (long long)doc_int(&r, path));
            }
            putchar('\n');
         }
      }
   }
}

/* Changed documents a watermark read will not return (their field was not bumped). */
static void
print_behind_watermark(const bson_t *out)
{
   bson_iter_t it, colls;

   if (!bson_iter_init_find(&it, out, "collections") || !bson_iter_recurse(&it, &colls)) {
      return;
   }
   while (bson_iter_next(&colls)) {
      const char *name = bson_iter_key(&colls);
      char path[512];
      long long n;
      bson_iter_t root, f;
      snprintf(path, sizeof path, "collections.%s.changed_behind_watermark", name);
      n = (long long)doc_int(out, path);
      snprintf(path, sizeof path, "collections.%s.watermark_field", name);
      if (n > 0 && bson_iter_init(&root, out) && bson_iter_find_descendant(&root, path, &f) &&
          BSON_ITER_HOLDS_UTF8(&f)) {
         printf("%s: %lld changed document%s with %s not past the watermark: a watermark run "
                "does not read %s; the next whole read (--full-every) or \"run --full\" "
                "applies %s\n",
                name, n, n == 1 ? "" : "s", bson_iter_utf8(&f, NULL), n == 1 ? "it" : "them",
                n == 1 ? "it" : "them");
      }
   }
}

static void
print_pending_text(const bson_t *out)
{
   bson_iter_t it, colls;

   if (bson_iter_init_find(&it, out, "mapping_changed") && bson_iter_as_bool(&it)) {
      printf("the mapping changed since the last run: every document will be converted again\n");
   }
   if (!bson_iter_init_find(&it, out, "collections") || !bson_iter_recurse(&it, &colls)) {
      return;
   }
   printf("\n%-24s %10s %10s %10s %10s %10s %10s\n", "collection", "source", "new", "changed",
          "deleted", "unchanged", "rejected");
   while (bson_iter_next(&colls)) {
      const char *name = bson_iter_key(&colls);
      char path[512];
      const char *keys[] = {"source", "new", "changed", "deleted", "unchanged", "rejected_before"};
      printf("%-24s", name);
      for (size_t k = 0; k < 6; k++) {
         snprintf(path, sizeof path, "collections.%s.%s", name, keys[k]);
         printf(" %10lld", (long long)doc_int(out, path));
      }
      putchar('\n');
   }
   print_behind_watermark(out);
}

/* The page of --html at `path`: a new private file (files.h), complete or not there.
 * MN_EXIT_OK, or MN_EXIT_IO (reported). */
static mn_exit_t
write_html(const char *path, const bson_t *out)
{
   mn_error_t ferr = {0};
   char *tmp = NULL;
   char *html;
   int fd, saved = 0;
   bool written;

   if ((fd = mn_private_file_begin(path, "report", &tmp, &ferr)) < 0) {
      mn_cli_error("could not write report \"%s\": %s", path, strerror(errno));
      return MN_EXIT_IO;
   }
   html = mn_report_status_html(out, (int64_t)time(NULL));
   written = mn_cli_write_report(fd, html, &saved);
   bson_free(html);
   if (!written) {
      unlink(tmp);
      mn_cli_error("could not write report \"%s\": %s", path, strerror(saved));
   } else if (!(written = mn_private_file_commit(tmp, path, "report", &ferr))) {
      mn_cli_error("%s", ferr.message);
   }
   free(tmp);
   return written ? MN_EXIT_OK : MN_EXIT_IO;
}

int
mn_cli_status(int argc, char **argv)
{
   const mn_cli_command_t *cmd = &mn_cli_status_command;
   status_args_t a = {.runs = 10};
   mn_error_t error = {0};
   bson_t out = BSON_INITIALIZER;
   mn_exit_t rc;

   if (!mn_cli_parse(cmd, argc, argv, &a, &rc)) {
      return rc;
   }
   if (!a.source) {
      a.source = getenv("MONGODB_URI");
   }
   if (a.source && !*a.source) {
      a.source = NULL;
   }
   if (a.source && !a.mapping) {
      return mn_cli_usage_error(cmd, "--source needs --mapping FILE");
   }
   if (!mn_status_runs(a.pg, (int)a.runs, &out, &error) ||
       (a.source && !mn_status_pending(a.pg, a.source, a.db, a.mapping, &out, &error))) {
      bson_destroy(&out);
      return mn_cli_fail(&error);
   }
   if (a.json) {
      char *json = bson_as_relaxed_extended_json(&out, NULL);
      puts(json);
      bson_free(json);
   } else {
      print_runs_text(&out);
      print_pending_text(&out);
   }
   rc = a.html ? write_html(a.html, &out) : MN_EXIT_OK;
   bson_destroy(&out);
   return rc;
}
