/*
 * cmd_run.c - `mongonorm run`: load the source into the target through the mapping,
 * and print the statistics; with --follow, go on with the source's change stream.
 */
#include "commands.h"
#include "output.h"

#include <mongonorm/files.h>
#include <mongonorm/report.h>
#include <mongonorm/run.h>
#include <mongonorm/stats.h>

#include <bson/bson.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
   OPT_BATCH = 1,
   OPT_MAX_DELETE,
   OPT_MAX_REJECTS,
   OPT_MAX_REJECT_RATIO,
   OPT_FULL_EVERY,
   OPT_JOBS,
   OPT_JOIN
};

/* What the command line says: mn_run_opts_t, and what the CLI itself does. */
typedef struct {
   mn_run_opts_t opts;
   const char *report;      /* --report FILE, or NULL */
   const char *report_html; /* --report-html FILE, or NULL */
   bool quiet;
} run_args_t;

#define RUN_STRING(field) MN_CLI_STRING_AT(run_args_t, opts.field)
#define RUN_FLAG(field) MN_CLI_FLAG_AT(run_args_t, opts.field)

static const mn_cli_option_t RUN_OPTIONS[] = {
   {"source", 0, "LOCATION", MN_CLI_SOURCE_HELP " (default: $MONGODB_URI)", RUN_STRING(source)},
   MN_CLI_DB_AT(run_args_t, opts.database),
   {"mapping", 0, "FILE", "mapping file (YAML, see docs/mapping.md)", RUN_STRING(mapping_path)},
   MN_CLI_PG_AT(run_args_t, opts.pg_conninfo),
   {"rejects", 0, "FILE",
    "where rejected documents go, JSON lines, mode 0600 (default: mongonorm-rejects.jsonl)",
    RUN_STRING(reject_path)},
   {"report", 0, "FILE", "also write the statistics as JSON", MN_CLI_STRING_AT(run_args_t, report)},
   {"report-html", 0, "FILE",
    "also write the run as one self-contained HTML page (no script, no network): counts per "
    "collection and table, rejects by reason with examples (_id, field, column; never a "
    "value), drift, coerced values, and charts of rows per table and rejects per reason",
    MN_CLI_STRING_AT(run_args_t, report_html)},
   {"batch-size", 0, "N", "documents per transaction (default 1000)", MN_CLI_CHECKED(OPT_BATCH)},
   {"max-delete", 0, "PCT",
    "stop, deleting nothing, when the source lacks more than PCT% of a collection's loaded "
    "documents (default 50; checked from 100 documents on; 100 allows any deletion)",
    MN_CLI_CHECKED(OPT_MAX_DELETE)},
   {"max-rejects", 0, "N",
    "stop (exit 10) before committing the batch that makes the run reject more than N "
    "documents in all (0: none); documents the target already records as rejected are not "
    "counted",
    MN_CLI_CHECKED(OPT_MAX_REJECTS)},
   {"max-reject-ratio", 0, "R",
    "stop (exit 10) before committing the batch that makes more than R (0.05, or 5%) of the "
    "documents read so far rejected; checked from 100 documents read on",
    MN_CLI_CHECKED(OPT_MAX_REJECT_RATIO)},
   {"count-known-rejects", 0, NULL,
    "the two limits also count documents rejected by an earlier run and still rejected",
    RUN_FLAG(count_known_rejects)},
   {"follow", 0, NULL,
    "after the run, follow the source's change stream (a live replica set) and apply each "
    "change as it comes, until SIGINT or SIGTERM; a restarted session resumes from the token "
    "kept in the target",
    RUN_FLAG(follow)},
   {"full", 0, NULL,
    "read every document, also of collections that declare a watermark (the final run of a "
    "cutover)",
    RUN_FLAG(full)},
   {"full-every", 0, "TIME",
    "read a watermark collection whole again when its last whole read is older than TIME: "
    "seconds, or a number with s, m, h or d (default 24h; 0: every run; \"never\")",
    MN_CLI_CHECKED(OPT_FULL_EVERY)},
   {"show-drift", 0, NULL,
    "list the unmapped source paths by name (in the table, the report and mongonorm.runs); "
    "keys that look like data are shown as <key>, and at most 100 paths per collection. "
    "Field names can be patient data: by default only how many",
    RUN_FLAG(show_drift)},
   {"no-bulk-load", 0, NULL,
    "load a first full load into the tables with every index and foreign key in place, "
    "instead of dropping the secondary indexes and foreign keys and rebuilding them after the "
    "data (a bulk load an earlier run left in progress is finished first)",
    RUN_FLAG(no_bulk_load)},
   {"jobs", 0, "N",
    "load up to N collections side by side, each on its own connections (1 to 64; default 1); "
    "collections that reference each other or share a table or a foreign key wait for the "
    "earlier one (docs/scaling.md); also the connections that rebuild the indexes and foreign "
    "keys after a bulk load (default 2)",
    MN_CLI_CHECKED(OPT_JOBS)},
   {"join", 0, "NAME",
    "share the load with every process started with --join NAME (same mapping, source and "
    "target; any host): each claims collections through the target's mongonorm.work and "
    "loads, counts and rejects only its own (give each its own --rejects); one that dies "
    "leaves its collection to the others (docs/scaling.md)",
    MN_CLI_CHECKED(OPT_JOIN)},
   {"dry-run", 0, NULL,
    "do the whole run, then roll it back: one transaction on one connection, so the "
    "statistics (and exit code) are the ones this run would produce and the target is left "
    "as it was; no bulk load; the reject file only with --rejects; not with --follow, "
    "--jobs above 1 or --join",
    RUN_FLAG(dry_run)},
   {"quiet", 0, NULL, "print no statistics table", MN_CLI_FLAG_AT(run_args_t, quiet)},
   MN_CLI_OPTIONS_END,
};

/* A duration: seconds, or a number with s, m, h or d; "never" is -1.  False if neither. */
static bool
parse_duration(const char *text, double *seconds)
{
   char *end = NULL;
   double v;

   if (strcmp(text, "never") == 0) {
      *seconds = -1;
      return true;
   }
   v = strtod(text, &end);
   if (!*text || end == text || !(v >= 0) || v > 1e9) {
      return false;
   }
   switch (*end) {
   case '\0':
   case 's': break;
   case 'm': v *= 60; break;
   case 'h': v *= 3600; break;
   case 'd': v *= 86400; break;
   default: return false;
   }
   if (*end && end[1]) {
      return false;
   }
   *seconds = v;
   return true;
}

/* A percentage from 1 to 100, with or without "%". */
static bool
parse_percent(const char *text, int *percent)
{
   char *end = NULL;
   long v = strtol(text, &end, 10);

   if (end && *end == '%') {
      end++;
   }
   if (!*text || *end || v < 1 || v > 100) {
      return false;
   }
   *percent = (int)v;
   return true;
}

/* A number of documents, 0 or more. */
static bool
parse_documents(const char *text, uint64_t *n)
{
   char *end = NULL;
   unsigned long long v;

   errno = 0;
   v = strtoull(text, &end, 10);
   if (!*text || *end || *text == '-' || errno != 0) {
      return false;
   }
   *n = (uint64_t)v;
   return true;
}

/* A fraction strictly between 0 and 1 (0.05) or a percentage (5%). */
static bool
parse_ratio(const char *text, double *ratio)
{
   char *end = NULL;
   double v = strtod(text, &end);

   if (end && end != text && *end == '%' && !end[1]) {
      v /= 100.0;
      end++;
   }
   if (!*text || end == text || *end || !(v > 0) || !(v < 1)) {
      return false;
   }
   *ratio = v;
   return true;
}

/*
 * Take one option of `run` whose value needs a check into its mn_run_opts_t.  Each
 * refusal is a usage error that says what a good value is.
 */
static mn_exit_t
set_run_option(const mn_cli_command_t *cmd, void *ctx, int id, const char *value)
{
   run_args_t *a = ctx;
   mn_run_opts_t *o = &a->opts;
   long count;

   switch (id) {
   case OPT_BATCH:
      if (!mn_cli_parse_count(value, 1, 1000000, &count)) {
         return mn_cli_usage_error(cmd, "--batch-size takes a number from 1 to 1000000, not \"%s\"",
                                   value);
      }
      o->batch_docs = (size_t)count;
      break;
   case OPT_MAX_DELETE:
      if (!parse_percent(value, &o->max_delete_percent)) {
         return mn_cli_usage_error(cmd, "--max-delete takes a percentage from 1 to 100, not \"%s\"",
                                   value);
      }
      break;
   case OPT_MAX_REJECTS:
      if (!parse_documents(value, &o->max_rejects)) {
         return mn_cli_usage_error(
            cmd, "--max-rejects takes a number of documents (0 or more), not \"%s\"", value);
      }
      o->limit_rejects = true;
      break;
   case OPT_MAX_REJECT_RATIO:
      if (!parse_ratio(value, &o->max_reject_ratio)) {
         return mn_cli_usage_error(cmd,
                                   "--max-reject-ratio takes a fraction between 0 and 1 (0.05) "
                                   "or a percentage (5%%), not \"%s\"",
                                   value);
      }
      break;
   case OPT_FULL_EVERY:
      if (!parse_duration(value, &o->full_every)) {
         return mn_cli_usage_error(cmd,
                                   "--full-every takes a duration (e.g. 3600, 90m, 24h, 7d) or "
                                   "\"never\", not \"%s\"",
                                   value);
      }
      o->full = o->full || o->full_every == 0; /* every run reads whole */
      break;
   case OPT_JOBS:
      if (!mn_cli_parse_count(value, 1, 64, &count)) {
         return mn_cli_usage_error(cmd, "--jobs takes a number from 1 to 64, not \"%s\"", value);
      }
      o->jobs = (unsigned)count;
      break;
   case OPT_JOIN:
      if (!*value) {
         return mn_cli_usage_error(cmd, "--join takes the name of the shared load, not \"\"");
      }
      o->join = value;
      break;
   default: break;
   }
   return MN_EXIT_OK;
}

const mn_cli_command_t mn_cli_run_command = {
   .name = "run",
   .summary = "load the source into the target (the main job)",
   .synopsis = "usage: mongonorm run --source LOCATION --mapping FILE [options]\n",
   .description =
      "Read every mapped collection, convert each document through the mapping, and load\n"
      "the rows with COPY, one transaction per batch.  A first run into empty tables is a\n"
      "full load; later runs upsert and remove rows that no longer derive from the source.\n",
   .options = RUN_OPTIONS,
   .set = set_run_option,
   .siblings = mn_cli_pipeline_commands,
};

static volatile int stop_requested = 0;
static mn_cli_progress_t progress = MN_CLI_PROGRESS_INIT("", false); /* mn_cli_progress()'s */

static void
on_stop_signal(int sig)
{
   (void)sig;
   stop_requested = 1; /* follow mode ends after the change in hand is applied */
}

/* The run's warnings (mn_run_opts_t.warning); ctx is non-NULL under the progress line,
 * which the warning then replaces (a later update redraws it). */
static void
print_warning(void *ctx, const char *message)
{
   if (ctx) {
      fputs("\r\033[K", stderr);
   }
   mn_cli_warning("%s", message);
}

/* The checks across options, the defaults that are the CLI's own, the stop signals of
 * --follow and the progress line (on a terminal). */
static mn_exit_t
prepare_run(const mn_cli_command_t *cmd, run_args_t *a)
{
   mn_run_opts_t *o = &a->opts;

   if (!o->source) {
      o->source = getenv("MONGODB_URI");
   }
   if (!o->source || !*o->source) {
      return mn_cli_usage_error(cmd, "no source: give --source (or set MONGODB_URI)");
   }
   if (!o->mapping_path) {
      return mn_cli_usage_error(cmd, "no mapping: give --mapping FILE");
   }
   if (o->count_known_rejects && !o->limit_rejects && !(o->max_reject_ratio > 0)) {
      return mn_cli_usage_error(cmd,
                                "--count-known-rejects needs --max-rejects or --max-reject-ratio");
   }
   if (o->follow && (o->jobs > 1 || o->join)) {
      return mn_cli_usage_error(cmd, "--follow cannot be used with %s",
                                o->join ? "--join" : "--jobs above 1");
   }
   if (o->dry_run && (o->follow || o->jobs > 1 || o->join)) {
      return mn_cli_usage_error(cmd, "--dry-run cannot be used with %s",
                                o->follow ? "--follow"
                                : o->join ? "--join"
                                          : "--jobs above 1");
   }
   if (!o->reject_path && !o->dry_run) {
      o->reject_path = "mongonorm-rejects.jsonl";
   }
   o->stop = &stop_requested;
   if (o->follow) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_stop_signal;
      sigaction(SIGINT, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
   }
   if (!a->quiet) {
      /* on a terminal a line redrawn in place; in a log, a line now and then */
      progress.terminal = isatty(STDERR_FILENO);
      if (getenv("MN_PROGRESS_EVERY")) {
         progress.every = atof(getenv("MN_PROGRESS_EVERY"));
      }
      o->progress = mn_cli_progress;
      o->progress_ctx = &progress;
   }
   o->warning = print_warning;
   o->warning_ctx = progress.terminal ? &progress : NULL;
   return MN_EXIT_OK;
}

/* A report file of the run (--report, --report-html): begun before the run, finished
 * after it. */
typedef struct {
   const char *path; /* NULL: not asked for */
   int fd;           /* the fresh file, open, while begun */
   char *tmp;        /* its name until it is put at `path` (free()) */
} report_file_t;

/*
 * Fail before the work, not after it, when the report cannot be written: a new private
 * file (files.h), since a report names collections and reasons.  Under a fresh name until
 * the run is over: a run refused by the lock never touches the report of the run that
 * holds it.  MN_EXIT_OK (also when no report is asked for), or MN_EXIT_IO (reported).
 */
static mn_exit_t
begin_report(report_file_t *f)
{
   mn_error_t ferr = {0};

   if (!f->path) {
      return MN_EXIT_OK;
   }
   f->fd = mn_private_file_begin(f->path, "report", &f->tmp, &ferr);
   if (f->fd < 0) {
      mn_cli_error("could not write report \"%s\": %s", f->path, strerror(errno));
      return MN_EXIT_IO;
   }
   return MN_EXIT_OK;
}

/*
 * Write `text` (owned: freed here) into the report's fresh file and put it at its path; a
 * run refused by the lock drops its file instead (`drop`): another run holds the target,
 * and its report stays as it is.  MN_EXIT_OK, or MN_EXIT_IO when the report could not be
 * written (reported).
 */
static mn_exit_t
finish_report(report_file_t *f, char *text, bool drop)
{
   mn_error_t ferr = {0};
   int saved;
   bool written;

   if (!f->path || drop) {
      if (f->path) {
         close(f->fd);
         unlink(f->tmp);
      }
      bson_free(text);
      return MN_EXIT_OK;
   }
   written = mn_cli_write_report(f->fd, text, &saved);
   bson_free(text);
   if (!written) {
      unlink(f->tmp);
      mn_cli_error("could not write report \"%s\": %s", f->path, strerror(saved));
      return MN_EXIT_IO;
   }
   if (!mn_private_file_commit(f->tmp, f->path, "report", &ferr)) {
      mn_cli_error("%s", ferr.message);
      return MN_EXIT_IO;
   }
   return MN_EXIT_OK;
}

/* The HTML page of the run (--report-html); error: why it failed, or NULL. */
static char *
run_page(const run_args_t *a, const mn_stats_t *stats, time_t started, const mn_error_t *error)
{
   mn_report_run_t run = {
      .location = a->opts.source,
      .database = a->opts.database,
      .mapping = a->opts.mapping_path,
      .reject_path = a->opts.reject_path,
      .started_at = (int64_t)started,
      .finished_at = (int64_t)time(NULL),
      .failed = error != NULL,
      .message = error ? error->message : NULL,
   };

   return mn_report_run_html(stats, &run);
}

/* After a run that completed: 1 when documents were rejected, 8 when spans of the source
 * could not be read (never the ordinary 1: those bytes are neither in the target nor a
 * document in the reject file), with their lines on stderr. */
static mn_exit_t
completed_code(const mn_stats_t *stats, const char *reject_path)
{
   mn_exit_t rc = MN_EXIT_OK;

   uint64_t rejected = mn_stats_total_rejected(stats);

   if (rejected && reject_path) {
      mn_cli_note("%llu document(s) %srejected; see \"%s\"", (unsigned long long)rejected,
                  mn_stats_is_dry_run(stats) ? "would be " : "", reject_path);
   } else if (rejected) {
      mn_cli_note("%llu document(s) would be rejected; give --rejects FILE to see them",
                  (unsigned long long)rejected);
   }
   if (rejected) {
      rc = MN_EXIT_REJECTS;
   }
   if (mn_stats_total_skipped_spans(stats)) {
      char *text = mn_stats_skipped_text(stats);
      for (char *line = text, *nl; *line; line = nl + 1) {
         nl = strchr(line, '\n');
         mn_cli_note("%.*s", (int)(nl - line), line);
      }
      bson_free(text);
      rc = MN_EXIT_UNREADABLE;
   }
   return rc;
}

int
mn_cli_run(int argc, char **argv)
{
   const mn_cli_command_t *cmd = &mn_cli_run_command;
   run_args_t a = {.report = NULL};
   mn_error_t error = {0};
   mn_stats_t *stats;
   report_file_t json = {NULL, -1, NULL}, html = {NULL, -1, NULL};
   time_t started;
   mn_exit_t rc, rc_html;
   bool ok, locked;

   if (!mn_cli_parse(cmd, argc, argv, &a, &rc) || (rc = prepare_run(cmd, &a)) != MN_EXIT_OK) {
      return rc;
   }
   json.path = a.report;
   html.path = a.report_html;
   if ((rc = begin_report(&json)) != MN_EXIT_OK) {
      return rc;
   }
   if ((rc = begin_report(&html)) != MN_EXIT_OK) {
      finish_report(&json, NULL, true);
      free(json.tmp);
      return rc;
   }
   started = time(NULL);
   stats = mn_stats_new();
   ok = mn_run(&a.opts, stats, &error);
   if (progress.terminal) {
      fputc('\n', stderr);
   }
   if (!a.quiet && (ok || mn_stats_has_reads(stats))) {
      char *text = mn_stats_to_text(stats);
      fputs(text, stdout);
      bson_free(text);
   }
   locked = !ok && error.domain == MN_ERROR_PG && error.code == MN_PG_LOCKED;
   rc = finish_report(&json, json.path ? mn_stats_to_json(stats) : NULL, locked);
   rc_html = finish_report(
      &html, html.path ? run_page(&a, stats, started, ok ? NULL : &error) : NULL, locked);
   rc = rc != MN_EXIT_OK ? rc : rc_html;
   if (rc == MN_EXIT_OK) {
      rc = ok ? completed_code(stats, a.opts.reject_path) : mn_cli_fail(&error);
   }
   free(json.tmp);
   free(html.tmp);
   mn_stats_destroy(stats);
   return rc;
}
