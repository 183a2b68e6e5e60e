/*
 * tests/fuzz/fuzz_convert.c - document-to-rows conversion (convert.c, value.c, keys.c).
 *
 * The mapping is fixed: the MediChat mapping the golden case fixtures/cases/medichat
 * uses (mapping/medichat.yaml), or the file named by MN_FUZZ_MAPPING.  The input is the
 * raw bytes of one BSON document, as the .bson reader hands them to the converter: its
 * length prefix is set to the input's size and its last byte to 0 (a sane length,
 * whatever the bytes inside), so that mutations explore the content.  The document is
 * converted as a document of every collection of the mapping, with its own _id listed
 * in the referenced collections (so references to it resolve), by a fresh converter
 * each time; every value of every row and every reason is read back.
 *
 * Inputs nested deeper than FUZZ_MAX_DEPTH are skipped (see fuzz_common.h).  The quick
 * proof the converter trusts in place of its shape check and libbson's validation
 * (mn_shape__surely_fine, convert/shape.c) must never pass what either refuses.
 */
#include "fuzz_common.h"

#include "convert/convert_private.h"

#include <mongonorm/convert.h>
#include <mongonorm/mapping.h>
#include <mongonorm/stats.h>

#ifndef MN_SOURCE_DIR
#define MN_SOURCE_DIR "."
#endif

static mn_mapping_t *mapping;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
   const char *path = getenv("MN_FUZZ_MAPPING");
   mn_error_t error = {0};

   (void)argc;
   (void)argv;
   if (!path) {
      path = MN_SOURCE_DIR "/mapping/medichat.yaml";
   }
   mapping = mn_mapping_load(path, &error);
   if (!mapping) {
      fprintf(stderr, "fuzz_convert: could not load mapping \"%s\": %s\n", path, error.message);
      abort();
   }
   return 0;
}

static void
read_rows(const mn_rowset_t *rows)
{
   volatile size_t sink = strlen(mn_rowset_doc_id_json(rows));

   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      for (size_t col = 0; col < mn_mapping_table_n_columns(mapping, t); col++) {
         const char *v = mn_rowset_value(rows, i, col);
         sink += v ? strlen(v) : 0;
      }
   }
   for (size_t i = 0; i < mn_rowset_n_rejects(rows); i++) {
      const char *path, *message;
      mn_rowset_reject(rows, i, &path, &message);
      sink += strlen(path) + strlen(message);
   }
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t t, col, rt;
      const mn_uuid_t *row_id, *ref_id;
      mn_rowset_deferred(rows, i, &t, &col, &row_id, &ref_id, &rt);
      sink += t + col + rt + row_id->bytes[0] + ref_id->bytes[15];
   }
   (void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   uint8_t *buf;
   bson_t doc;
   bson_iter_t id;
   bool has_id;

   if (size < 5 || size > INT32_MAX) {
      return 0;
   }
   buf = malloc(size);
   if (!buf) {
      abort();
   }
   memcpy(buf, data, size);
   buf[0] = (uint8_t)size;
   buf[1] = (uint8_t)(size >> 8);
   buf[2] = (uint8_t)(size >> 16);
   buf[3] = (uint8_t)(size >> 24);
   buf[size - 1] = 0;
   if (fuzz_bson_depth(buf, size, FUZZ_MAX_DEPTH) > FUZZ_MAX_DEPTH ||
       !bson_init_static(&doc, buf, size)) {
      free(buf);
      return 0;
   }
   {
      mn_shape_check_t sc;
      mn_shape__init(&sc);
      if (mn_shape__surely_fine(&sc, &doc) && (!bson_validate(&doc, BSON_VALIDATE_NONE, NULL) ||
                                               mn_shape__check(&sc, &doc) != MN_SHAPE_OK)) {
         fprintf(stderr, "fuzz_convert: surely fine, but it is not\n");
         abort();
      }
      mn_shape__cleanup(&sc);
   }
   has_id = bson_iter_init_find(&id, &doc, "_id");
   for (size_t c = 0; c < mn_mapping_n_collections(mapping); c++) {
      mn_stats_t *stats = mn_stats_new();
      mn_converter_t *conv = mn_converter_new(mapping, stats);
      mn_rowset_t *rows = mn_rowset_new();
      char *json;

      if (has_id) {
         for (size_t r = 0; r < mn_mapping_n_collections(mapping); r++) {
            if (mn_converter_is_referenced(conv, r)) {
               mn_converter_add_source_id(conv, r, &id);
            }
         }
      }
      mn_convert_document(conv, c, &doc, rows);
      read_rows(rows);
      json = mn_stats_to_json(stats);
      bson_free(json);
      mn_rowset_destroy(rows);
      mn_converter_destroy(conv);
      mn_stats_destroy(stats);
   }
   free(buf);
   return 0;
}
