/*
 * cmd_infer.c - `mongonorm infer`: survey a source and draft a mapping and a schema
 * from it (docs/infer.md).
 */
#include "commands.h"

#include <bson/bson.h>
#include <mongonorm/infer.h>
#include <mongonorm/source.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SAMPLE = 1, OPT_MAX_PATHS, OPT_MAX_TABLES, OPT_MAX_COLUMNS, OPT_DEPTH, OPT_ENUM_MAX };

typedef struct {
   mn_infer_opts_t opts;
   const char *source;
   const char *db;
   const char *collections;
   const char *out;
   bool force;
   bool quiet;
} infer_args_t;

#define INFER_STRING(field) MN_CLI_STRING_AT(infer_args_t, field)

static const mn_cli_option_t INFER_OPTIONS[] = {
   {"source", 0, "LOCATION", MN_CLI_SOURCE_HELP " (default: $MONGODB_URI)", INFER_STRING(source)},
   MN_CLI_DB_AT(infer_args_t, db),
   {"collections", 0, "A,B", "survey only these collections (default: every one)",
    INFER_STRING(collections)},
   {"sample", 0, "N",
    "read N documents per collection: a random $sample on a live server, the first N of a "
    "file (default: every document)",
    MN_CLI_CHECKED(OPT_SAMPLE)},
   {"out", 0, "DIR",
    "write DIR/mapping.yaml, DIR/sql/001_schema.sql, DIR/survey.md and DIR/survey.json",
    INFER_STRING(out)},
   {"force", 0, NULL, "overwrite a draft already in DIR", MN_CLI_FLAG_AT(infer_args_t, force)},
   {"show-values", 0, NULL,
    "the survey may quote values (enum candidates, ranges); by default it holds none",
    MN_CLI_FLAG_AT(infer_args_t, opts.show_values)},
   {"max-paths", 0, "N",
    "distinct field paths surveyed per collection (default 2000); a sub-document with more "
    "becomes a jsonb column",
    MN_CLI_CHECKED(OPT_MAX_PATHS)},
   {"max-tables", 0, "N", "tables in the draft (default 200); arrays beyond become jsonb columns",
    MN_CLI_CHECKED(OPT_MAX_TABLES)},
   {"max-columns", 0, "N",
    "columns per table (default 200); beyond, sub-documents become jsonb columns, then fields "
    "are ignored",
    MN_CLI_CHECKED(OPT_MAX_COLUMNS)},
   {"depth", 0, "N",
    "segments a flattened column's path may have below its table's element (default 3); "
    "deeper sub-documents become jsonb columns",
    MN_CLI_CHECKED(OPT_DEPTH)},
   {"enum-max", 0, "N",
    "distinct strings kept per path as enum candidates (default 12, at most 64)",
    MN_CLI_CHECKED(OPT_ENUM_MAX)},
   {"quiet", 0, NULL, "print nothing on success", MN_CLI_FLAG_AT(infer_args_t, quiet)},
   MN_CLI_OPTIONS_END,
};

/* Take one option of `infer` that needs a check: the numbers. */
static mn_exit_t
set_infer_option(const mn_cli_command_t *cmd, void *ctx, int id, const char *value)
{
   static const struct {
      int id;
      const char *name;
      long lo, hi;
   } limits[] = {
      {OPT_SAMPLE, "--sample", 1, 1000000000L},
      {OPT_MAX_PATHS, "--max-paths", 1, 1000000},
      {OPT_MAX_TABLES, "--max-tables", 1, 100000},
      {OPT_MAX_COLUMNS, "--max-columns", 1, 1600},
      {OPT_DEPTH, "--depth", 1, 50},
      {OPT_ENUM_MAX, "--enum-max", 0, 64},
   };
   infer_args_t *a = ctx;
   long v = 0;

   for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
      if (limits[i].id != id) {
         continue;
      }
      if (!mn_cli_parse_count(value, limits[i].lo, limits[i].hi, &v)) {
         return mn_cli_usage_error(cmd, "%s takes a whole number from %ld to %ld, not \"%s\"",
                                   limits[i].name, limits[i].lo, limits[i].hi, value);
      }
   }
   switch (id) {
   case OPT_SAMPLE: a->opts.sample = (uint64_t)v; break;
   case OPT_MAX_PATHS: a->opts.max_paths = (size_t)v; break;
   case OPT_MAX_TABLES: a->opts.max_tables = (size_t)v; break;
   case OPT_MAX_COLUMNS: a->opts.max_columns = (size_t)v; break;
   case OPT_DEPTH: a->opts.depth = (int)v; break;
   case OPT_ENUM_MAX: a->opts.enum_max = (size_t)v; break;
   default: break;
   }
   return MN_EXIT_OK;
}

const mn_cli_command_t mn_cli_infer_command = {
   .name = "infer",
   .summary = "draft a mapping and a schema from the data",
   .synopsis = "usage: mongonorm infer --source LOCATION --out DIR [options]\n",
   .description =
      "Survey the source (per collection and field path: types, missing and null counts,\n"
      "lengths, ranges, maps, references) and draft from it a mapping (DIR/mapping.yaml),\n"
      "the SQL of its tables (DIR/sql/001_schema.sql) and the survey (DIR/survey.md and\n"
      "survey.json).  The draft loads as it is (`init --sql-dir DIR/sql`, `run --mapping\n"
      "DIR/mapping.yaml`); its \"# REVIEW\" comments mark what a person must decide\n"
      "(docs/infer.md).  No value of the source is written unless --show-values is given.\n",
   .options = INFER_OPTIONS,
   .set = set_infer_option,
};

/* --collections a,b into a NULL-terminated list (bson_strfreev); spaces around names go. */
static char **
split_collections(const char *text)
{
   char *copy = bson_strdup(text);
   char *save = NULL;
   size_t n = 0;
   char **out = bson_malloc0((strlen(text) + 2) * sizeof(char *));

   for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
      size_t len;
      while (*p == ' ') {
         p++;
      }
      len = strlen(p);
      while (len && p[len - 1] == ' ') {
         p[--len] = '\0';
      }
      if (len) {
         out[n++] = bson_strdup(p);
      }
   }
   bson_free(copy);
   return out;
}

static void
print_summary(const infer_args_t *a, const mn_infer_survey_t *s, const mn_infer_draft_t *d,
              double seconds)
{
   uint64_t docs = mn_infer_survey_documents(s);

   printf("surveyed %llu documents of %zu collections in %.2f s (%.0f documents/s)\n",
          (unsigned long long)docs, mn_infer_survey_collections(s), seconds,
          seconds > 0 ? (double)docs / seconds : 0.0);
   printf("drafted %zu tables with %zu REVIEW notes into \"%s\": mapping.yaml, "
          "sql/001_schema.sql, survey.md, survey.json\n",
          mn_infer_draft_tables(d), mn_infer_draft_reviews(d), a->out);
}

int
mn_cli_infer(int argc, char **argv)
{
   const mn_cli_command_t *cmd = &mn_cli_infer_command;
   infer_args_t a = {0};
   mn_error_t error = {0};
   mn_source_t *source = NULL;
   mn_infer_survey_t *survey = NULL;
   mn_infer_draft_t *draft = NULL;
   char **names = NULL;
   struct timespec t0, t1;
   mn_exit_t rc;

   mn_infer_opts_init(&a.opts);
   if (!mn_cli_parse(cmd, argc, argv, &a, &rc)) {
      return rc;
   }
   if (!a.source && !(a.source = getenv("MONGODB_URI"))) {
      return mn_cli_usage_error(cmd, "no source: give --source LOCATION (or set MONGODB_URI)");
   }
   if (!a.out) {
      return mn_cli_usage_error(cmd, "no output folder: give --out DIR");
   }
   if (a.collections) {
      names = split_collections(a.collections);
      a.opts.collections = (const char *const *)names;
   }
   rc = MN_EXIT_OK;
   clock_gettime(CLOCK_MONOTONIC, &t0);
   if (!(source = mn_source_open(a.source, a.db, &error))) {
      rc = mn_cli_fail(&error);
      goto cleanup;
   }
   survey = mn_infer_survey_new(&a.opts);
   if (!mn_infer_survey_read(survey, source, &error)) {
      rc = mn_cli_fail(&error);
      goto cleanup;
   }
   clock_gettime(CLOCK_MONOTONIC, &t1);
   draft = mn_infer_draft_new(survey);
   if (!mn_infer_write(survey, draft, a.out, a.force, &error)) {
      rc = mn_cli_fail(&error);
      goto cleanup;
   }
   if (!a.quiet) {
      print_summary(&a, survey, draft,
                    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
   }

cleanup:
   mn_infer_draft_destroy(draft);
   mn_infer_survey_destroy(survey);
   mn_source_destroy(source);
   bson_strfreev(names);
   return rc;
}
