/*
 * test_golden.c - the data-driven runner over fixtures/cases/.
 *
 * Each case folder holds mapping.yaml, one <collection>.json per collection (Extended
 * JSON, one document per line) and expected.txt (mapping.yaml.ref / source.ref files may
 * instead name a mapping file / source folder elsewhere in the tree): every document's outcome with
 * the rows it produces (or its reject reasons), then the statistics, then the reject file's
 * lines, or the mapping's error (`mapping error: ...`, paths relative to the source tree).
 * The records go through the product's own reads, pre-pass, reject file and counting
 * (run/run_private.h), as a run without a database: loaded means converted.  Adding a
 * case is adding a folder.  MN_GOLDEN_UPDATE=1 rewrites expected.txt files (review the diff
 * before committing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mongonorm/convert.h>
#include <mongonorm/mapping.h>
#include <mongonorm/source.h>
#include <mongonorm/stats.h>

#include "run/run_private.h"
#include "util/uuidset.h"

#include <dirent.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<dir>/<name>.ref" holds a path relative to the source tree, used instead of <dir>/<name>. */
static char *
case_path(const char *dir, const char *name)
{
   char *ref = g_strdup_printf("%s/%s.ref", dir, name);
   char *content = NULL;
   char *path;

   if (g_file_get_contents(ref, &content, NULL, NULL)) {
      path = g_strdup_printf("%s/%s", MN_SOURCE_DIR, g_strstrip(content));
   } else {
      path = g_strdup_printf("%s/%s", dir, name);
   }
   g_free(content);
   g_free(ref);
   return path;
}

/* One case being run: what the product's reads call for each record (golden_record). */
typedef struct {
   GString *out;
   const mn_mapping_t *m;
   mn_converter_t *conv;
   mn_stats_t *stats;
   mn_rejects_t *rejects;
   mn_rowset_t *rows;
   size_t c;
   const char *name;
   mn_collection_counts_t *counts;
   mn_idset_t seen; /* _ids read in the collection: a second document with one is rejected */
} golden_t;

/* A converted document's outcome: its reasons, rows and deferred references. */
static void
print_document(GString *out, const mn_mapping_t *m, const mn_rowset_t *rows, bool ok)
{
   g_string_append_printf(out, "doc %s %s\n", mn_rowset_doc_id_json(rows),
                          ok ? "loaded" : "rejected");
   for (size_t i = 0; i < mn_rowset_n_rejects(rows); i++) {
      const char *path, *message;
      mn_rowset_reject(rows, i, &path, &message);
      g_string_append_printf(out, "  reject [%s] %s\n", path, message);
   }
   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      g_string_append_printf(out, "  %s", mn_mapping_table_name(m, t));
      for (size_t col = 0; col < mn_mapping_table_n_columns(m, t); col++) {
         const char *v = mn_rowset_value(rows, i, col);
         if (v) {
            g_string_append_printf(out, " %s=%s", mn_mapping_table_column(m, t, col), v);
         }
      }
      g_string_append_c(out, '\n');
   }
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t t, col, rt;
      const mn_uuid_t *row_id, *ref_id;
      char a[MN_UUID_TEXT_LEN + 1], b[MN_UUID_TEXT_LEN + 1];
      mn_rowset_deferred(rows, i, &t, &col, &row_id, &ref_id, &rt);
      mn_uuid_format(row_id, a);
      mn_uuid_format(ref_id, b);
      g_string_append_printf(out, "  deferred %s.%s of %s -> %s\n", mn_mapping_table_name(m, t),
                             mn_mapping_table_column(m, t, col), a, b);
   }
}

/*
 * One record of a collection, as a run reads it (run.c, process_document and drain): an
 * unreadable record and a second document with an `_id` already read are rejected, every
 * other document converted and counted loaded or rejected, each reject written to the
 * reject file and counted by the product's own code (rejects.c).
 */
static bool
golden_record(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
              mn_error_t *error)
{
   golden_t *g = ctx;
   bson_iter_t it;
   bool ok;

   if (st == MN_CURSOR_END) {
      return true;
   }
   if (st == MN_CURSOR_BAD) {
      const mn_cursor_bad_t *bad = mn_cursor_bad(cur);
      g_string_append_printf(g->out, "bad record at %s: %s\n", bad->location, bad->reason);
      return mn_rejects__bad(g->rejects, g->stats, g->name, bad, NULL, error);
   }
   mn_uuid_t id;
   if (mn_run__doc_id(doc, &it, &id)) {
      if (!mn_idset__add(&g->seen, id.bytes)) {
         char *id_json = mn_convert_id_json(&it, NULL);
         g_string_append_printf(g->out, "doc %s rejected\n  reject [_id] %s\n", id_json,
                                MN_REJECTS_DUPLICATE_ID_REASON);
         bson_free(id_json);
         return mn_rejects__duplicate_id(g->rejects, g->stats, g->name, doc, error);
      }
   }
   g->counts->read++;
   ok = mn_convert_document(g->conv, g->c, doc, g->rows);
   print_document(g->out, g->m, g->rows, ok);
   if (ok) {
      g->counts->loaded++;
      return true;
   }
   return mn_rejects__document(g->rejects, g->stats, g->m, g->name, doc, g->rows, error);
}

/* Every collection in mapping order, after the run's pre-pass. */
static void
golden_collections(golden_t *g, mn_source_t *src)
{
   mn_error_t error = {0};

   if (!mn_run__prepass(src, g->m, g->conv, &error)) {
      g_string_append_printf(g->out, "source error: %s\n", error.message);
      return;
   }
   for (g->c = 0; g->c < mn_mapping_n_collections(g->m); g->c++) {
      g->name = mn_mapping_collection_name(g->m, g->c);
      g->counts = mn_run__collection_stats(g->stats, g->m, g->c);
      mn_idset__init(&g->seen);
      g_string_append_printf(g->out, "# collection %s\n", g->name);
      if (!mn_run__read_collection(src, g->name, NULL, false, golden_record, g, &error)) {
         g_string_append_printf(g->out, "source error: %s\n", error.message);
         mn_error_clear(&error);
      }
      mn_idset__cleanup(&g->seen);
   }
}

/* The statistics, their timing fields (which vary from run to run) blanked out. */
static void
print_statistics(GString *out, const mn_stats_t *stats)
{
   char *json = mn_stats_to_json(stats);
   GRegex *re = g_regex_new("\"seconds\" : [0-9.eE+-]+", 0, 0, NULL);
   char *clean = g_regex_replace_literal(re, json, -1, 0, "\"seconds\" : 0", 0, NULL);

   g_string_append_printf(out, "# statistics\n%s\n", clean);
   g_free(clean);
   g_regex_unref(re);
   bson_free(json);
}

/* The mapping's error, the file's path relative to the source tree, so that the expected
 * text holds on any checkout. */
static void
print_mapping_error(GString *out, const mn_error_t *error)
{
   char **parts = g_strsplit(error->message, MN_SOURCE_DIR "/", -1);
   char *message = g_strjoinv("", parts);

   g_string_append_printf(out, "mapping error: %s\n", message);
   g_free(message);
   g_strfreev(parts);
}

/* The reject file's lines (none: nothing), then the file is removed. */
static void
print_rejects(GString *out, const char *path)
{
   char *content = NULL;

   if (g_file_get_contents(path, &content, NULL, NULL) && *content) {
      g_string_append_printf(out, "# rejects\n%s", content);
   }
   g_free(content);
   remove(path);
}

/*
 * One case folder: its mapping (or the mapping's error), its source read as a run reads
 * it (golden_collections()), the statistics, and the lines of a reject file written under
 * the build folder and removed after.  Returns the text expected.txt holds (g_free it).
 */
static char *
run_case(const char *dir, const char *name)
{
   GString *out = g_string_new(NULL);
   mn_error_t error = {0};
   char *mapping_path = case_path(dir, "mapping.yaml");
   char *source_path = case_path(dir, "source");
   char *reject_path = g_strdup_printf("%s/golden-%s.rejects.jsonl", MN_BUILD_DIR, name);
   mn_rejects_t rejects = {0};
   golden_t g = {.out = out, .rejects = &rejects};
   mn_mapping_t *m = mn_mapping_load(mapping_path, &error);
   mn_source_t *src = NULL;

   g.stats = mn_stats_new();
   g.rows = mn_rowset_new();
   if (!m) {
      print_mapping_error(out, &error);
      goto done;
   }
   src = mn_source_open(g_file_test(source_path, G_FILE_TEST_IS_DIR) ? source_path : dir, NULL,
                        &error);
   if (!src) {
      g_string_append_printf(out, "source error: %s\n", error.message);
      goto done;
   }
   assert_true(mn_rejects__open(&rejects, reject_path, &error));
   /* the cases pin the drift walk: list the (collapsed, capped) paths by name */
   mn_stats_set_show_drift(g.stats, true);
   g.m = m;
   g.conv = mn_converter_new(m, g.stats);
   golden_collections(&g, src);
   print_statistics(out, g.stats);
   assert_true(mn_rejects__close(&rejects, &error));
   print_rejects(out, reject_path);

done:
   g_free(reject_path);
   g_free(mapping_path);
   g_free(source_path);
   mn_rowset_destroy(g.rows);
   mn_converter_destroy(g.conv);
   mn_source_destroy(src);
   mn_stats_destroy(g.stats);
   mn_mapping_destroy(m);
   return g_string_free(out, FALSE);
}
static int
first_difference(const char *a, const char *b)
{
   int line = 1;
   for (; *a && *a == *b; a++, b++) {
      if (*a == '\n') {
         line++;
      }
   }
   return line;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
   /* g_ptr_array_sort passes pointers to the elements */
   return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every case folder of fixtures/cases, in name order: run_case()'s text against its
 * expected.txt (written instead with MN_GOLDEN_UPDATE=1); a difference leaves the actual
 * text in the build folder and fails the test once all cases ran.
 */
static void
test_golden_cases(void **state)
{
   const char *root = MN_SOURCE_DIR "/fixtures/cases";
   bool update = getenv("MN_GOLDEN_UPDATE") && *getenv("MN_GOLDEN_UPDATE") == '1';
   DIR *d = opendir(root);
   struct dirent *ent;
   GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
   int failures = 0;

   (void)state;
   assert_non_null(d);
   while ((ent = readdir(d))) {
      if (ent->d_name[0] != '.') {
         g_ptr_array_add(names, g_strdup(ent->d_name));
      }
   }
   closedir(d);
   g_ptr_array_sort(names, compare_names);
   assert_true(names->len > 0);
   for (guint i = 0; i < names->len; i++) {
      const char *name = g_ptr_array_index(names, i);
      char *dir = g_strdup_printf("%s/%s", root, name);
      char *expected_path = g_strdup_printf("%s/expected.txt", dir);
      char *actual = run_case(dir, name);
      char *expected = NULL;

      if (update) {
         g_file_set_contents(expected_path, actual, -1, NULL);
         printf("updated %s\n", expected_path);
      } else if (!g_file_get_contents(expected_path, &expected, NULL, NULL)) {
         printf("FAIL %s: no expected.txt\n", name);
         failures++;
      } else if (strcmp(expected, actual) != 0) {
         char *actual_path = g_strdup_printf("%s/golden-%s.actual", MN_BUILD_DIR, name);
         g_file_set_contents(actual_path, actual, -1, NULL);
         printf("FAIL %s: differs from expected.txt at line %d (actual output in %s)\n", name,
                first_difference(expected, actual), actual_path);
         g_free(actual_path);
         failures++;
      } else {
         printf("ok %s\n", name);
      }
      g_free(expected);
      g_free(actual);
      g_free(expected_path);
      g_free(dir);
   }
   g_ptr_array_free(names, TRUE);
   assert_int_equal(failures, 0);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_cases),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
