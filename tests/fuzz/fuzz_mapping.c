/*
 * tests/fuzz/fuzz_mapping.c - the mapping loader (mapping.c, yamldoc.c).
 *
 * The input is a mapping file's YAML, loaded with mn_mapping_load_string.  A mapping
 * that loads is then used as the loader promises it can be ("conversion never meets an
 * unchecked mapping"): its accessors are read and a small fixed document is converted as
 * a document of each of its collections.  A mapping that does not load must say why in
 * a message naming the file.
 */
#include "fuzz_common.h"

#include <mongonorm/convert.h>
#include <mongonorm/mapping.h>
#include <mongonorm/stats.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use_mapping(const mn_mapping_t *m)
{
   volatile size_t sink = strlen(mn_mapping_digest(m)) + strlen(mn_mapping_schema(m));
   mn_stats_t *stats = mn_stats_new();
   mn_converter_t *conv = mn_converter_new(m, stats);
   mn_rowset_t *rows = mn_rowset_new();
   bson_t *doc = BCON_NEW("_id", BCON_INT32(7), "name", BCON_UTF8("x"), "items", "[", "{", "a",
                          BCON_INT32(1), "}", BCON_UTF8("y"), "]", "when", BCON_DATE_TIME(0));
   bson_iter_t id;

   for (size_t t = 0; t < mn_mapping_n_tables(m); t++) {
      sink += strlen(mn_mapping_table_name(m, t));
      for (size_t col = 0; col < mn_mapping_table_n_columns(m, t); col++) {
         sink += strlen(mn_mapping_table_column(m, t, col));
      }
   }
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      const char *name = mn_mapping_collection_name(m, c);
      const char *wm = mn_mapping_watermark(m, c);
      sink += strlen(name) + (wm ? strlen(wm) : 0);
      if (mn_mapping_collection_index(m, name) != (int)c) {
         fprintf(stderr, "fuzz_mapping: collection \"%s\" is not found by its name\n", name);
         abort();
      }
      if (bson_iter_init_find(&id, doc, "_id") && mn_converter_is_referenced(conv, c)) {
         mn_converter_add_source_id(conv, c, &id);
      }
   }
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      mn_convert_document(conv, c, doc, rows);
      sink += mn_rowset_n_rows(rows) + mn_rowset_n_rejects(rows);
   }
   bson_destroy(doc);
   mn_rowset_destroy(rows);
   mn_converter_destroy(conv);
   mn_stats_destroy(stats);
   (void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   mn_error_t error = {0};
   mn_mapping_t *m = mn_mapping_load_string((const char *)data, size, "fuzz.yaml", &error);

   if (m) {
      use_mapping(m);
   } else if (!strstr(error.message, "fuzz.yaml")) {
      fprintf(stderr, "fuzz_mapping: error without the file's name: %s\n", error.message);
      abort();
   }
   mn_mapping_destroy(m);
   return 0;
}
