/*
 * test_golden.c - the data-driven runner over fixtures/cases/.
 *
 * Each case folder holds mapping.yaml, one <collection>.json per collection (Extended
 * JSON, one document per line) and expected.txt (mapping.yaml.ref / source.ref files may
 * instead name a mapping file / source folder elsewhere in the tree): every document's outcome with
 * the rows it produces (or its reject reasons), then the statistics, or the mapping's error
 * (`mapping error: ...`, paths relative to the source tree).  No database is needed. Adding
 * a case is adding a folder.  MN_GOLDEN_UPDATE=1 rewrites expected.txt files (review the diff
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

static char *
run_case(const char *dir)
{
   GString *out = g_string_new(NULL);
   mn_error_t error = {0};
   char *mapping_path = case_path(dir, "mapping.yaml");
   char *source_path = case_path(dir, "source");
   mn_mapping_t *m = mn_mapping_load(mapping_path, &error);
   mn_source_t *src = NULL;
   mn_stats_t *stats = mn_stats_new();
   mn_converter_t *conv = NULL;
   mn_rowset_t *rows = mn_rowset_new();
   char *json;

   g_free(mapping_path);
   if (!m) {
      /* the file's path relative to the source tree, so that the expected text holds on any
       * checkout */
      char **parts = g_strsplit(error.message, MN_SOURCE_DIR "/", -1);
      char *message = g_strjoinv("", parts);
      g_string_append_printf(out, "mapping error: %s\n", message);
      g_free(message);
      g_strfreev(parts);
      goto done;
   }
   src = mn_source_open(g_file_test(source_path, G_FILE_TEST_IS_DIR) ? source_path : dir, NULL,
                        &error);
   if (!src) {
      g_string_append_printf(out, "source error: %s\n", error.message);
      goto done;
   }
   /* the cases pin the drift walk: list the (collapsed, capped) paths by name */
   mn_stats_set_show_drift(stats, true);
   conv = mn_converter_new(m, stats);
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      mn_find_opts_t opts = {.ids_only = true};
      mn_cursor_t *cur;
      const bson_t *doc;

      if (!mn_converter_is_referenced(conv, c)) {
         continue;
      }
      cur = mn_source_find(src, mn_mapping_collection_name(m, c), &opts, &error);
      while (cur && mn_cursor_next(cur, &doc) == MN_CURSOR_DOC) {
         bson_iter_t id;
         if (bson_iter_init_find(&id, doc, "_id")) {
            mn_converter_add_source_id(conv, c, &id);
         }
      }
      mn_cursor_destroy(cur);
   }
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      const char *name = mn_mapping_collection_name(m, c);
      mn_cursor_t *cur = mn_source_find(src, name, NULL, &error);
      mn_cursor_status_t st;
      const bson_t *doc;

      g_string_append_printf(out, "# collection %s\n", name);
      if (!cur) {
         g_string_append_printf(out, "source error: %s\n", error.message);
         continue;
      }
      while ((st = mn_cursor_next(cur, &doc)) != MN_CURSOR_END && st != MN_CURSOR_ERROR) {
         bool ok;
         if (st == MN_CURSOR_BAD) {
            g_string_append_printf(out, "bad record at %s: %s\n", mn_cursor_bad(cur)->location,
                                   mn_cursor_bad(cur)->reason);
            continue;
         }
         ok = mn_convert_document(conv, c, doc, rows);
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
            g_string_append_printf(out, "  deferred %s.%s of %s -> %s\n",
                                   mn_mapping_table_name(m, t), mn_mapping_table_column(m, t, col),
                                   a, b);
         }
      }
      if (st == MN_CURSOR_ERROR) {
         mn_cursor_error(cur, &error);
         g_string_append_printf(out, "source error: %s\n", error.message);
      }
      mn_cursor_destroy(cur);
   }
   json = mn_stats_to_json(stats);
   /* the timing fields vary from run to run: blank them out */
   {
      GRegex *re = g_regex_new("\"seconds\" : [0-9.eE+-]+", 0, 0, NULL);
      char *clean = g_regex_replace_literal(re, json, -1, 0, "\"seconds\" : 0", 0, NULL);
      g_string_append_printf(out, "# statistics\n%s\n", clean);
      g_free(clean);
      g_regex_unref(re);
   }
   bson_free(json);

done:
   g_free(source_path);
   mn_rowset_destroy(rows);
   mn_converter_destroy(conv);
   mn_source_destroy(src);
   mn_stats_destroy(stats);
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
      char *actual = run_case(dir);
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
