/*
 * cmd_verify.c - `mongonorm verify`: reconcile a source and a target, read-only.
 */
#include "commands.h"

#include <mongonorm/files.h>
#include <mongonorm/verify.h>

#include <bson/bson.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE_VERIFY[] =
   "usage: mongonorm verify --source LOCATION --mapping FILE [options]\n"
   "\n"
   "Reconcile the source and the target without writing to either: convert every\n"
   "source document as a fresh full load would, and compare, inside PostgreSQL, the rows\n"
   "it gives with the target's rows (missing, extra, different), and the source's\n"
   "documents with mongonorm's record of them (not recorded, deleted from the source,\n"
   "changed since the last run, verdict, row counts).  Differences name the collection,\n"
   "the document's _id, the table, the row id and the columns: never a value.\n"
   "\n"
   "  --source LOCATION      mongodb:// URI, mongodump folder or Extended JSON folder\n"
   "                         (default: $MONGODB_URI)\n"
   "  --db NAME              database to read (default: the URI's, or the folder's only one)\n"
   "  --mapping FILE         mapping file the runs use\n"
   "  --pg CONNINFO          libpq connection string or URI (default: PG* environment)\n"
   "  --max-differences N    difference lines to print (default 20; 0: none)\n"
   "  --report FILE          also write the whole result as JSON (mode 0600)\n"
   "  --batch-size N         documents per COPY into the temporary tables (default 1000)\n"
   "  --quiet                print no summary (the verdict still goes to stderr)\n"
   "\n"
   "Exit status: 0 source and target agree, 9 they differ; 2 usage, 3 mapping, 4 source,\n"
   "5 PostgreSQL, 6 file I/O, 7 a run holds the target.\n";

/* docs/exit-codes.md (main.c's enum) */
#define EXIT_OK 0
#define EXIT_USAGE 2
#define EXIT_IO 6
#define EXIT_DIFFER 9

/* Differences the JSON report keeps beyond those printed (each one is counted). */
#define REPORT_DIFFERENCES 100000

enum {
   OPT_SOURCE = 3000,
   OPT_DB,
   OPT_MAPPING,
   OPT_PG,
   OPT_MAX_DIFFERENCES,
   OPT_REPORT,
   OPT_BATCH,
   OPT_QUIET,
   OPT_HELP
};

static const struct option VERIFY_OPTS[] = {
   {"source", required_argument, NULL, OPT_SOURCE},
   {"db", required_argument, NULL, OPT_DB},
   {"mapping", required_argument, NULL, OPT_MAPPING},
   {"pg", required_argument, NULL, OPT_PG},
   {"max-differences", required_argument, NULL, OPT_MAX_DIFFERENCES},
   {"report", required_argument, NULL, OPT_REPORT},
   {"batch-size", required_argument, NULL, OPT_BATCH},
   {"quiet", no_argument, NULL, OPT_QUIET},
   {"help", no_argument, NULL, OPT_HELP},
   {NULL, 0, NULL, 0},
};

static int
usage_error(const char *fmt, const char *arg)
{
   fprintf(stderr, "mongonorm: error: ");
   fprintf(stderr, fmt, arg);
   fprintf(stderr, "\n%s", USAGE_VERIFY);
   return EXIT_USAGE;
}

/* A whole number in [lo, hi]; false otherwise. */
static bool
parse_count(const char *s, long lo, long hi, long *out)
{
   char *end = NULL;
   long v;

   if (!*s || *s == '-' || *s == '+') {
      return false;
   }
   errno = 0;
   v = strtol(s, &end, 10);
   if (*end || errno || v < lo || v > hi) {
      return false;
   }
   *out = v;
   return true;
}

static void
progress(void *ctx, const char *collection, uint64_t documents, uint64_t done, uint64_t total)
{
   (void)ctx;
   if (total > 0) {
      fprintf(stderr, "\rverify %-20s %12llu documents %5.1f%%", collection,
              (unsigned long long)documents, 100.0 * (double)done / (double)total);
   } else {
      fprintf(stderr, "\rverify %-20s %12llu documents", collection, (unsigned long long)documents);
   }
   if (total > 0 && done >= total) {
      fputc('\n', stderr);
   }
   fflush(stderr);
}

int
mn_cli_verify(int argc, char **argv)
{
   mn_verify_opts_t opts = {0};
   mn_verify_result_t *result = NULL;
   mn_error_t error = {0};
   const char *report = NULL;
   long max_lines = MN_VERIFY_MAX_DIFFERENCES_DEFAULT;
   long batch = 0;
   bool quiet = false;
   int report_fd = -1;
   int opt, longindex = -1;
   int rc;

   opterr = 0;
   optind = 1;
   while ((opt = getopt_long(argc, argv, ":h", VERIFY_OPTS, &longindex)) != -1) {
      switch (opt) {
      case OPT_SOURCE: opts.source = optarg; break;
      case OPT_DB: opts.database = optarg; break;
      case OPT_MAPPING: opts.mapping_path = optarg; break;
      case OPT_PG: opts.pg_conninfo = optarg; break;
      case OPT_MAX_DIFFERENCES:
         if (!parse_count(optarg, 0, 1000000, &max_lines)) {
            return usage_error("--max-differences takes a number from 0 to 1000000, not \"%s\"",
                               optarg);
         }
         break;
      case OPT_REPORT: report = optarg; break;
      case OPT_BATCH:
         if (!parse_count(optarg, 1, 1000000, &batch)) {
            return usage_error("--batch-size takes a number from 1 to 1000000, not \"%s\"", optarg);
         }
         break;
      case OPT_QUIET: quiet = true; break;
      case OPT_HELP:
      case 'h': fputs(USAGE_VERIFY, stdout); return EXIT_OK;
      case ':': return usage_error("option \"%s\" needs a value", argv[optind - 1]);
      default: return usage_error("unrecognized option \"%s\"", argv[optind - 1]);
      }
   }
   if (optind < argc) {
      return usage_error("unexpected argument \"%s\"", argv[optind]);
   }
   if (!opts.source) {
      opts.source = getenv("MONGODB_URI");
   }
   if (!opts.source || !*opts.source) {
      return usage_error("%s", "no source: give --source (or set MONGODB_URI)");
   }
   if (!opts.mapping_path) {
      return usage_error("%s", "no mapping: give --mapping FILE");
   }
   opts.batch_docs = (size_t)batch;
   /* the report lists far more than the screen; at least one is kept for the API */
   opts.max_differences =
      report ? (size_t)BSON_MAX(max_lines, REPORT_DIFFERENCES) : (size_t)BSON_MAX(max_lines, 1);
   if (isatty(STDERR_FILENO) && !quiet) {
      opts.progress = progress;
   }
   if (report) {
      /* before the work, as `run` does: a new private file (files.h), since the report
       * names documents */
      report_fd = mn_private_file_create(report, "report", &error);
      if (report_fd < 0) {
         fprintf(stderr, "mongonorm: error: %s\n", error.message);
         return EXIT_IO;
      }
   }
   result = mn_verify_result_new();
   if (!mn_verify(&opts, result, &error)) {
      mn_cli_print_error(&error);
      if (report_fd >= 0) {
         close(report_fd);
      }
      mn_verify_result_destroy(result);
      return mn_cli_exit_code(&error);
   }
   if (opts.progress) {
      fputc('\n', stderr);
   }
   if (!quiet) {
      char *text = mn_verify_result_to_text(result, (size_t)max_lines);
      fputs(text, stdout);
      bson_free(text);
   }
   rc = mn_verify_result_agrees(result) ? EXIT_OK : EXIT_DIFFER;
   if (report_fd >= 0) {
      char *json = mn_verify_result_to_json(result);
      FILE *f = fdopen(report_fd, "w");
      if (!f) {
         close(report_fd);
      }
      if (!f || fputs(json, f) < 0 || fputc('\n', f) == EOF || fclose(f) != 0) {
         fprintf(stderr, "mongonorm: error: could not write report \"%s\": %s\n", report,
                 strerror(errno));
         rc = EXIT_IO;
      }
      bson_free(json);
   }
   if (!mn_verify_result_agrees(result)) {
      fprintf(stderr, "mongonorm: source and target differ: %llu difference(s)\n",
              (unsigned long long)mn_verify_result_n_differences(result));
   }
   mn_verify_result_destroy(result);
   return rc;
}
