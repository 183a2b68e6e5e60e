/*
 * main.c - the mongonorm command: option parsing, output, exit codes.
 *
 * The only place that prints or exits.  Errors go to stderr as
 * "mongonorm: error: ...", data (statistics) to stdout.  Exit codes are
 * listed in docs/exit-codes.md.
 */
#include "commands.h"

#include <mongonorm/files.h>
#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>
#include <mongonorm/run.h>
#include <mongonorm/stats.h>
#include <mongonorm/status.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
   EXIT_OK = 0,
   EXIT_REJECTS = 1, /* the run completed; some documents went to the reject file */
   EXIT_USAGE = 2,
   EXIT_MAPPING = 3,
   EXIT_SOURCE = 4,
   EXIT_PG = 5,
   EXIT_IO = 6,
   EXIT_LOCKED = 7,
   EXIT_UNREADABLE = 8,        /* the run completed, but parts of the source could not be read */
   EXIT_DIFFER = 9,            /* verify: source and target differ (cmd_verify.c) */
   EXIT_TOO_MANY_REJECTS = 10, /* run stopped by --max-rejects / --max-reject-ratio */
   EXIT_INTERNAL = 70
};

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

static const char USAGE_INIT[] =
   "usage: mongonorm init [--pg CONNINFO] (--sql-dir DIR | --mapping FILE)\n"
   "\n"
   "Create or upgrade the target schema: apply each NNN_name.sql file of the SQL folder\n"
   "not yet recorded in mongonorm.schema_files, each in its own transaction.  Idempotent.\n"
   "\n"
   "  --pg CONNINFO   libpq connection string or URI (default: PG* environment)\n"
   "  --sql-dir DIR   folder of versioned SQL files\n"
   "  --mapping FILE  take the folder from the mapping's \"sql_dir\" key (relative to FILE)\n";

static const char USAGE_RUN[] =
   "usage: mongonorm run --source LOCATION --mapping FILE [options]\n"
   "\n"
   "Read every mapped collection, convert each document through the mapping, and load\n"
   "the rows with COPY, one transaction per batch.  A first run into empty tables is a\n"
   "full load; later runs upsert and remove rows that no longer derive from the source.\n"
   "\n"
   "  --source LOCATION  mongodb:// URI, mongodump folder or Extended JSON folder\n"
   "                     (default: $MONGODB_URI)\n"
   "  --db NAME          database to read (default: the URI's, or the folder's only one)\n"
   "  --mapping FILE     mapping file (YAML, see docs/mapping.md)\n"
   "  --pg CONNINFO      libpq connection string or URI (default: PG* environment)\n"
   "  --rejects FILE     where rejected documents go, JSON lines, mode 0600\n"
   "                     (default: mongonorm-rejects.jsonl)\n"
   "  --report FILE      also write the statistics as JSON\n"
   "  --batch-size N     documents per transaction (default 1000)\n"
   "  --max-delete PCT   stop, deleting nothing, when the source lacks more than PCT% of\n"
   "                     a collection's loaded documents (default 50; checked from 100\n"
   "                     documents on; 100 allows any deletion)\n"
   "  --max-rejects N    stop (exit 10) before committing the batch that makes the run\n"
   "                     reject more than N documents in all (0: none); documents the\n"
   "                     target already records as rejected are not counted\n"
   "  --max-reject-ratio R\n"
   "                     stop (exit 10) before committing the batch that makes more than\n"
   "                     R (0.05, or 5%) of the documents read so far rejected; checked\n"
   "                     from 100 documents read on\n"
   "  --count-known-rejects\n"
   "                     the two limits also count documents rejected by an earlier run\n"
   "                     and still rejected\n"
   "  --follow           after the run, follow the source's change stream (a live replica\n"
   "                     set) and apply each change as it comes, until SIGINT or SIGTERM;\n"
   "                     a restarted session resumes from the token kept in the target\n"
   "  --full             read every document, also of collections that declare a\n"
   "                     watermark (the final run of a cutover)\n"
   "  --full-every TIME  read a watermark collection whole again when its last whole\n"
   "                     read is older than TIME: seconds, or a number with s, m, h or\n"
   "                     d (default 24h; 0: every run; \"never\")\n"
   "  --show-drift       list the unmapped source paths by name (in the table, the\n"
   "                     report and mongonorm.runs); keys that look like data are\n"
   "                     shown as <key>, and at most 100 paths per collection.\n"
   "                     Field names can be patient data: by default only how many\n"
   "  --quiet            print no statistics table\n";

static const char USAGE_STATUS[] =
   "usage: mongonorm status [--pg CONNINFO] [--runs N] [--source LOCATION --mapping FILE]\n"
   "                        [--db NAME] [--json]\n"
   "\n"
   "Show the recorded runs (newest first): when, from where, outcome, documents per\n"
   "collection and rows written.  With --source and --mapping, also read the source and\n"
   "count, per collection, the documents that are new, changed, gone or unchanged since\n"
   "the last run, without writing anything.\n"
   "\n"
   "  --pg CONNINFO      libpq connection string or URI (default: PG* environment)\n"
   "  --runs N           how many runs to show (default 10)\n"
   "  --source LOCATION  mongodb:// URI, mongodump folder or Extended JSON folder\n"
   "  --db NAME          database to read (default: the URI's, or the folder's only one)\n"
   "  --mapping FILE     the mapping the runs use\n"
   "  --json             print JSON instead of text\n";

static const char USAGE_CHECK[] =
   "usage: mongonorm check --mapping FILE [--pg CONNINFO]\n"
   "\n"
   "Validate a mapping file without moving data; with --pg, also check that the target\n"
   "has every table and column the mapping writes, that no column type can lose data\n"
   "(round, truncate, narrow) of the mapping's type, that every NOT NULL column gets a\n"
   "value in every row, and that every foreign key's referenced table is loaded first.\n";

static void
print_error(const mn_error_t *error)
{
   fprintf(stderr, "mongonorm: error: %s\n", error->message);
   if (error->domain == MN_ERROR_PG && error->code == MN_PG_SCHEMA) {
      fprintf(stderr, "hint: run \"mongonorm init\" against this database first\n");
   }
   if (error->domain == MN_ERROR_CONVERT && error->code == MN_CONVERT_TOO_MANY_REJECTS) {
      fprintf(stderr, "hint: the reject file lists them; fix the source or the mapping, or run "
                      "again without the limit to load the rest\n");
   }
}

static int
exit_code(const mn_error_t *error)
{
   switch (error->domain) {
   case MN_ERROR_USAGE: return EXIT_USAGE;
   case MN_ERROR_MAPPING: return EXIT_MAPPING;
   case MN_ERROR_MONGO: return EXIT_SOURCE;
   case MN_ERROR_PG: return error->code == MN_PG_LOCKED ? EXIT_LOCKED : EXIT_PG;
   case MN_ERROR_IO: return EXIT_IO;
   case MN_ERROR_CONVERT:
      return error->code == MN_CONVERT_TOO_MANY_REJECTS ? EXIT_TOO_MANY_REJECTS : EXIT_INTERNAL;
   default: return EXIT_INTERNAL;
   }
}

int
mn_cli_exit_code(const mn_error_t *error)
{
   return exit_code(error);
}

void
mn_cli_print_error(const mn_error_t *error)
{
   print_error(error);
}

static int
usage_error(const char *usage, const char *fmt, const char *arg)
{
   fprintf(stderr, "mongonorm: error: ");
   fprintf(stderr, fmt, arg);
   fprintf(stderr, "\n%s", usage);
   return EXIT_USAGE;
}

enum {
   OPT_PG = 1000,
   OPT_SQL_DIR,
   OPT_SOURCE,
   OPT_DB,
   OPT_MAPPING,
   OPT_REJECTS,
   OPT_REPORT,
   OPT_BATCH,
   OPT_MAX_DELETE,
   OPT_QUIET,
   OPT_HELP,
   OPT_RUNS,
   OPT_JSON,
   OPT_FOLLOW,
   OPT_FULL,
   OPT_FULL_EVERY,
   OPT_SHOW_DRIFT,
   OPT_MAX_REJECTS,
   OPT_MAX_REJECT_RATIO,
   OPT_COUNT_KNOWN_REJECTS
};

static const struct option LONG_OPTS[] = {
   {"pg", required_argument, NULL, OPT_PG},
   {"sql-dir", required_argument, NULL, OPT_SQL_DIR},
   {"source", required_argument, NULL, OPT_SOURCE},
   {"db", required_argument, NULL, OPT_DB},
   {"mapping", required_argument, NULL, OPT_MAPPING},
   {"rejects", required_argument, NULL, OPT_REJECTS},
   {"report", required_argument, NULL, OPT_REPORT},
   {"batch-size", required_argument, NULL, OPT_BATCH},
   {"max-delete", required_argument, NULL, OPT_MAX_DELETE},
   {"quiet", no_argument, NULL, OPT_QUIET},
   {"help", no_argument, NULL, OPT_HELP},
   {"runs", required_argument, NULL, OPT_RUNS},
   {"json", no_argument, NULL, OPT_JSON},
   {"follow", no_argument, NULL, OPT_FOLLOW},
   {"full", no_argument, NULL, OPT_FULL},
   {"full-every", required_argument, NULL, OPT_FULL_EVERY},
   {"show-drift", no_argument, NULL, OPT_SHOW_DRIFT},
   {"max-rejects", required_argument, NULL, OPT_MAX_REJECTS},
   {"max-reject-ratio", required_argument, NULL, OPT_MAX_REJECT_RATIO},
   {"count-known-rejects", no_argument, NULL, OPT_COUNT_KNOWN_REJECTS},
   {NULL, 0, NULL, 0},
};

typedef struct {
   const char *pg;
   const char *sql_dir;
   const char *source;
   const char *db;
   const char *mapping;
   const char *rejects;
   const char *report;
   long batch;
   long max_delete;
   long runs;
   bool quiet;
   bool help;
   bool json;
   bool follow;
   bool full;
   double full_every; /* seconds; 0 = default, negative = never */
   bool show_drift;
   bool limit_rejects;
   unsigned long long max_rejects;
   double max_reject_ratio; /* 0 = none */
   bool count_known_rejects;
} args_t;

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

/* Parse options; `allowed` lists the option ids this command takes (0-terminated). */
static int
parse_args(int argc, char **argv, const char *usage, const int *allowed, args_t *a)
{
   int opt;
   int longindex = -1;

   opterr = 0;
   optind = 1;
   while ((opt = getopt_long(argc, argv, ":h", LONG_OPTS, &longindex)) != -1) {
      bool ok = opt == OPT_HELP || opt == 'h';
      for (const int *p = allowed; *p && !ok; p++) {
         ok = *p == opt;
      }
      if (opt == ':') {
         return usage_error(usage, "option \"%s\" needs a value", argv[optind - 1]);
      }
      if (opt == '?') {
         return usage_error(usage, "unrecognized option \"%s\"", argv[optind - 1]);
      }
      if (!ok) {
         char name[64];
         snprintf(name, sizeof name, "--%s", longindex >= 0 ? LONG_OPTS[longindex].name : "?");
         return usage_error(usage, "option \"%s\" does not apply to this command", name);
      }
      if (opt == 'h') {
         opt = OPT_HELP;
      }
      switch (opt) {
      case OPT_PG: a->pg = optarg; break;
      case OPT_SQL_DIR: a->sql_dir = optarg; break;
      case OPT_SOURCE: a->source = optarg; break;
      case OPT_DB: a->db = optarg; break;
      case OPT_MAPPING: a->mapping = optarg; break;
      case OPT_REJECTS: a->rejects = optarg; break;
      case OPT_REPORT: a->report = optarg; break;
      case OPT_BATCH: {
         char *end = NULL;
         a->batch = strtol(optarg, &end, 10);
         if (!*optarg || *end || a->batch < 1 || a->batch > 1000000) {
            return usage_error(usage, "--batch-size takes a number from 1 to 1000000, not \"%s\"",
                               optarg);
         }
         break;
      }
      case OPT_MAX_DELETE: {
         char *end = NULL;
         a->max_delete = strtol(optarg, &end, 10);
         if (end && *end == '%') {
            end++;
         }
         if (!*optarg || *end || a->max_delete < 1 || a->max_delete > 100) {
            return usage_error(usage, "--max-delete takes a percentage from 1 to 100, not \"%s\"",
                               optarg);
         }
         break;
      }
      case OPT_MAX_REJECTS: {
         char *end = NULL;
         errno = 0;
         a->max_rejects = strtoull(optarg, &end, 10);
         if (!*optarg || *end || *optarg == '-' || errno != 0) {
            return usage_error(usage,
                               "--max-rejects takes a number of documents (0 or more), "
                               "not \"%s\"",
                               optarg);
         }
         a->limit_rejects = true;
         break;
      }
      case OPT_MAX_REJECT_RATIO: {
         char *end = NULL;
         double v = strtod(optarg, &end);
         if (end && end != optarg && *end == '%' && !end[1]) {
            v /= 100.0;
            end++;
         }
         if (!*optarg || end == optarg || *end || !(v > 0) || !(v < 1)) {
            return usage_error(usage,
                               "--max-reject-ratio takes a fraction between 0 and 1 (0.05) or "
                               "a percentage (5%%), not \"%s\"",
                               optarg);
         }
         a->max_reject_ratio = v;
         break;
      }
      case OPT_COUNT_KNOWN_REJECTS: a->count_known_rejects = true; break;
      case OPT_FULL_EVERY:
         if (!parse_duration(optarg, &a->full_every)) {
            return usage_error(usage,
                               "--full-every takes a duration (e.g. 3600, 90m, 24h, 7d) or "
                               "\"never\", not \"%s\"",
                               optarg);
         }
         if (a->full_every == 0) {
            a->full = true; /* every run reads whole */
         }
         break;
      case OPT_RUNS: {
         char *end = NULL;
         a->runs = strtol(optarg, &end, 10);
         if (!*optarg || *end || a->runs < 1 || a->runs > 100000) {
            return usage_error(usage, "--runs takes a number from 1 to 100000, not \"%s\"", optarg);
         }
         break;
      }
      case OPT_JSON: a->json = true; break;
      case OPT_FOLLOW: a->follow = true; break;
      case OPT_FULL: a->full = true; break;
      case OPT_SHOW_DRIFT: a->show_drift = true; break;
      case OPT_QUIET: a->quiet = true; break;
      case OPT_HELP: a->help = true; break;
      default: break;
      }
   }
   if (optind < argc) {
      return usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
   }
   return -1;
}

static int
cmd_init(int argc, char **argv)
{
   static const int allowed[] = {OPT_PG, OPT_SQL_DIR, OPT_MAPPING, 0};
   args_t a = {0};
   mn_error_t error = {0};
   mn_mapping_t *m = NULL;
   mn_pg_init_result_t result = {0};
   PGconn *conn = NULL;
   const char *sql_dir;
   int rc = parse_args(argc, argv, USAGE_INIT, allowed, &a);

   if (rc >= 0) {
      return rc;
   }
   if (a.help) {
      fputs(USAGE_INIT, stdout);
      return EXIT_OK;
   }
   /* The SQL source is always explicit: a default folder would install one
    * application's tables into whatever database init is pointed at. */
   if (!a.sql_dir && !a.mapping) {
      return usage_error(USAGE_INIT, "%s",
                         "no SQL folder: give --sql-dir DIR, or --mapping FILE with a "
                         "\"sql_dir\" key");
   }
   sql_dir = a.sql_dir;
   if (!sql_dir) {
      if (!(m = mn_mapping_load(a.mapping, &error))) {
         print_error(&error);
         return exit_code(&error);
      }
      if (!(sql_dir = mn_mapping_sql_dir(m))) {
         mn_mapping_destroy(m);
         return usage_error(USAGE_INIT,
                            "mapping file \"%s\" declares no \"sql_dir\": give --sql-dir DIR",
                            a.mapping);
      }
   }
   conn = mn_pg_connect(a.pg, &error);
   if (!conn || !mn_pg_lock(conn, &error) || !mn_pg_init_schema(conn, sql_dir, &result, &error)) {
      print_error(&error);
      mn_pg_unlock(conn);
      PQfinish(conn);
      mn_pg_init_result_cleanup(&result);
      mn_mapping_destroy(m);
      return exit_code(&error);
   }
   mn_pg_unlock(conn);
   PQfinish(conn);
   for (size_t i = 0; i < result.n_changed; i++) {
      fprintf(stderr,
              "mongonorm: warning: \"%s\" changed since it was applied; it is not applied "
              "again\n",
              result.changed[i]);
   }
   if (result.n_changed) {
      fprintf(stderr, "hint: put a change to an applied schema into a new NNN_name.sql file\n");
   }
   if (result.applied) {
      printf("applied %d schema file%s\n", result.applied, result.applied == 1 ? "" : "s");
   } else {
      printf("schema is up to date\n");
   }
   mn_pg_init_result_cleanup(&result);
   mn_mapping_destroy(m);
   return EXIT_OK;
}

static void
progress(void *ctx, const char *collection, uint64_t documents, uint64_t done, uint64_t total)
{
   (void)ctx;
   if (total > 0) {
      fprintf(stderr, "\r%-20s %12llu documents %5.1f%%", collection, (unsigned long long)documents,
              100.0 * (double)done / (double)total);
   } else {
      fprintf(stderr, "\r%-20s %12llu documents", collection, (unsigned long long)documents);
   }
   if (total > 0 && done >= total) {
      fputc('\n', stderr);
   }
   fflush(stderr);
}

static volatile int stop_requested = 0;

static void
on_stop_signal(int sig)
{
   (void)sig;
   stop_requested = 1; /* follow mode ends after the change in hand is applied */
}

static int
cmd_run(int argc, char **argv)
{
   static const int allowed[] = {OPT_PG,
                                 OPT_SOURCE,
                                 OPT_DB,
                                 OPT_MAPPING,
                                 OPT_REJECTS,
                                 OPT_REPORT,
                                 OPT_BATCH,
                                 OPT_QUIET,
                                 OPT_FOLLOW,
                                 OPT_MAX_DELETE,
                                 OPT_FULL,
                                 OPT_FULL_EVERY,
                                 OPT_MAX_REJECTS,
                                 OPT_MAX_REJECT_RATIO,
                                 OPT_COUNT_KNOWN_REJECTS,
                                 OPT_SHOW_DRIFT,
                                 0};
   args_t a = {0};
   mn_error_t error = {0};
   mn_run_opts_t opts = {0};
   mn_stats_t *stats;
   int report_fd = -1;
   char *report_tmp = NULL;
   bool ok;
   int rc = parse_args(argc, argv, USAGE_RUN, allowed, &a);

   if (rc >= 0) {
      return rc;
   }
   if (a.help) {
      fputs(USAGE_RUN, stdout);
      return EXIT_OK;
   }
   if (!a.source) {
      a.source = getenv("MONGODB_URI");
   }
   if (!a.source || !*a.source) {
      return usage_error(USAGE_RUN, "%s", "no source: give --source (or set MONGODB_URI)");
   }
   if (!a.mapping) {
      return usage_error(USAGE_RUN, "%s", "no mapping: give --mapping FILE");
   }
   if (a.count_known_rejects && !a.limit_rejects && !(a.max_reject_ratio > 0)) {
      return usage_error(USAGE_RUN, "%s",
                         "--count-known-rejects needs --max-rejects or --max-reject-ratio");
   }
   opts.source = a.source;
   opts.database = a.db;
   opts.mapping_path = a.mapping;
   opts.pg_conninfo = a.pg;
   opts.reject_path = a.rejects ? a.rejects : "mongonorm-rejects.jsonl";
   opts.batch_docs = (size_t)a.batch;
   opts.max_delete_percent = (int)a.max_delete;
   opts.follow = a.follow;
   opts.full = a.full;
   opts.full_every = a.full_every;
   opts.show_drift = a.show_drift;
   opts.limit_rejects = a.limit_rejects;
   opts.max_rejects = (uint64_t)a.max_rejects;
   opts.max_reject_ratio = a.max_reject_ratio;
   opts.count_known_rejects = a.count_known_rejects;
   opts.stop = &stop_requested;
   if (a.follow) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_stop_signal;
      sigaction(SIGINT, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
   }
   if (isatty(STDERR_FILENO) && !a.quiet) {
      opts.progress = progress;
   }
   if (a.report) {
      /* fail before the work, not after it, when the report cannot be written; a new
       * private file (files.h): the report names collections and reasons.  Under a fresh
       * name until the run is over: a run refused by the lock never touches the report
       * of the run that holds it */
      mn_error_t ferr = {0};
      report_fd = mn_private_file_begin(a.report, "report", &report_tmp, &ferr);
      if (report_fd < 0) {
         fprintf(stderr, "mongonorm: error: could not write report \"%s\": %s\n", a.report,
                 strerror(errno));
         return EXIT_IO;
      }
   }
   stats = mn_stats_new();
   ok = mn_run(&opts, stats, &error);
   if (opts.progress) {
      fputc('\n', stderr);
   }
   if (!a.quiet && (ok || mn_stats_has_reads(stats))) {
      char *text = mn_stats_to_text(stats);
      fputs(text, stdout);
      bson_free(text);
   }
   if (a.report && !ok && error.domain == MN_ERROR_PG && error.code == MN_PG_LOCKED) {
      close(report_fd); /* another run holds the target: its report stays as it is */
      unlink(report_tmp);
   } else if (a.report) {
      char *json = mn_stats_to_json(stats);
      FILE *f = fdopen(report_fd, "w");
      mn_error_t ferr = {0};
      bool written = f && fputs(json, f) >= 0 && fputc('\n', f) != EOF;
      int saved = errno;

      if (!f) {
         close(report_fd);
      } else if (fclose(f) != 0 && written) {
         written = false;
         saved = errno;
      }
      bson_free(json);
      if (!written || !mn_private_file_commit(report_tmp, a.report, "report", &ferr)) {
         if (!written) {
            unlink(report_tmp);
            fprintf(stderr, "mongonorm: error: could not write report \"%s\": %s\n", a.report,
                    strerror(saved));
         } else {
            fprintf(stderr, "mongonorm: error: %s\n", ferr.message);
         }
         free(report_tmp);
         mn_stats_destroy(stats);
         return EXIT_IO;
      }
   }
   free(report_tmp);
   if (!ok) {
      print_error(&error);
      mn_stats_destroy(stats);
      return exit_code(&error);
   }
   rc = mn_stats_total_rejected(stats) ? EXIT_REJECTS : EXIT_OK;
   if (rc == EXIT_REJECTS) {
      fprintf(stderr, "mongonorm: %llu document(s) rejected; see \"%s\"\n",
              (unsigned long long)mn_stats_total_rejected(stats), opts.reject_path);
   }
   if (mn_stats_total_skipped_spans(stats)) {
      /* never the ordinary 1: bytes of the source are not in the target nor a document
       * in the reject file */
      char *text = mn_stats_skipped_text(stats);
      for (char *line = text, *nl; *line; line = nl + 1) {
         nl = strchr(line, '\n');
         fprintf(stderr, "mongonorm: %.*s\n", (int)(nl - line), line);
      }
      bson_free(text);
      rc = EXIT_UNREADABLE;
   }
   mn_stats_destroy(stats);
   return rc;
}

static int
cmd_check(int argc, char **argv)
{
   static const int allowed[] = {OPT_PG, OPT_MAPPING, 0};
   args_t a = {0};
   mn_error_t error = {0};
   mn_mapping_t *m;
   int rc = parse_args(argc, argv, USAGE_CHECK, allowed, &a);

   if (rc >= 0) {
      return rc;
   }
   if (a.help) {
      fputs(USAGE_CHECK, stdout);
      return EXIT_OK;
   }
   if (!a.mapping) {
      return usage_error(USAGE_CHECK, "%s", "no mapping: give --mapping FILE");
   }
   if (!(m = mn_mapping_load(a.mapping, &error))) {
      print_error(&error);
      return exit_code(&error);
   }
   if (a.pg) {
      PGconn *conn = mn_pg_connect(a.pg, &error);
      mn_pg_findings_t findings = {0};
      if (!conn || !mn_pg_check_target(conn, m, &findings, &error)) {
         print_error(&error);
         PQfinish(conn);
         mn_mapping_destroy(m);
         return exit_code(&error);
      }
      PQfinish(conn);
      if (findings.n) {
         static const char *const hints[] = {
            [MN_PG_FINDING_TYPE] = "give the mapping the column's own type, or widen the column; "
                                   "at run time a value that would not fit follows the column's "
                                   "on_invalid policy",
            [MN_PG_FINDING_NOT_NULL] =
               "a NOT NULL column needs a value in every row: map it with \"required: true\" (a "
               "document without one is rejected, or the row skipped) or a \"default\", load a "
               "referenced collection before the one referencing it, or drop NOT NULL",
            [MN_PG_FINDING_FOREIGN_KEY] =
               "a referenced table must be loaded first: map it in an earlier collection (or "
               "entry), declare the column \"references:\" so that it is set once its target "
               "is loaded, or fill the table before the run",
            [MN_PG_FINDING_ON_DELETE] =
               "declare the column \"references:\" to an earlier collection (a change there "
               "converts the referencing documents again), or use ON DELETE NO ACTION (such a "
               "deletion then fails instead)",
         };
         bool seen[sizeof hints / sizeof hints[0]] = {false};

         /* every problem, one per line, then one hint per kind */
         for (size_t i = 0; i < findings.n; i++) {
            fprintf(stderr, "mongonorm: error: %s\n", findings.lines[i]);
            seen[findings.kinds[i]] = true;
         }
         fprintf(stderr,
                 "mongonorm: error: mapping \"%s\" does not fit the target: %zu finding%s\n",
                 a.mapping, findings.n, findings.n == 1 ? "" : "s");
         for (size_t k = 0; k < sizeof hints / sizeof hints[0]; k++) {
            if (seen[k]) {
               fprintf(stderr, "hint: %s\n", hints[k]);
            }
         }
         mn_pg_findings_cleanup(&findings);
         mn_mapping_destroy(m);
         return EXIT_MAPPING;
      }
   }
   printf("mapping \"%s\" is valid: %zu collection(s), %zu table(s)%s\n", a.mapping,
          mn_mapping_n_collections(m), mn_mapping_n_tables(m),
          a.pg ? ", all present in the target" : "");
   mn_mapping_destroy(m);
   return EXIT_OK;
}

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

static void
print_runs_text(const bson_t *out)
{
   bson_iter_t it, runs, run;

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

static int
cmd_status(int argc, char **argv)
{
   static const int allowed[] = {OPT_PG, OPT_SOURCE, OPT_DB, OPT_MAPPING, OPT_RUNS, OPT_JSON, 0};
   args_t a = {0};
   mn_error_t error = {0};
   bson_t out = BSON_INITIALIZER;
   int rc = parse_args(argc, argv, USAGE_STATUS, allowed, &a);

   if (rc >= 0) {
      return rc;
   }
   if (a.help) {
      fputs(USAGE_STATUS, stdout);
      return EXIT_OK;
   }
   if (!a.source) {
      a.source = getenv("MONGODB_URI");
   }
   if (a.source && *a.source && !a.mapping) {
      return usage_error(USAGE_STATUS, "%s", "--source needs --mapping FILE");
   }
   if (!mn_status_runs(a.pg, a.runs ? (int)a.runs : 10, &out, &error) ||
       (a.source && *a.source && a.mapping &&
        !mn_status_pending(a.pg, a.source, a.db, a.mapping, &out, &error))) {
      print_error(&error);
      bson_destroy(&out);
      return exit_code(&error);
   }
   if (a.json) {
      char *json = bson_as_relaxed_extended_json(&out, NULL);
      puts(json);
      bson_free(json);
   } else {
      print_runs_text(&out);
      print_pending_text(&out);
   }
   bson_destroy(&out);
   return EXIT_OK;
}

int
main(int argc, char **argv)
{
   const char *cmd = argc > 1 ? argv[1] : NULL;

   if (!cmd) {
      fputs(USAGE, stderr);
      return EXIT_USAGE;
   }
   if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
      fputs(USAGE, stdout);
      return EXIT_OK;
   }
   if (!strcmp(cmd, "--version")) {
      printf("mongonorm %s\n", MN_VERSION);
      return EXIT_OK;
   }
   if (!strcmp(cmd, "init")) {
      return cmd_init(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "run")) {
      return cmd_run(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "check")) {
      return cmd_check(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "status")) {
      return cmd_status(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "generate")) {
      return mn_cli_generate(argc - 1, argv + 1);
   }
   if (!strcmp(cmd, "verify")) {
      return mn_cli_verify(argc - 1, argv + 1);
   }
   fprintf(stderr, "mongonorm: error: unknown command \"%s\"\n%s", cmd, USAGE);
   return EXIT_USAGE;
}
