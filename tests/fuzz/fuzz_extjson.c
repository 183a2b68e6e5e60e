/*
 * tests/fuzz/fuzz_extjson.c - the mongoexport Extended JSON reader (json.c).
 *
 * The input is the whole content of a "<collection>.json" file: one document per line,
 * --pretty objects or one --jsonArray, as the reader detects from the first bytes.  It
 * is read through mn_source__json_cursor as stored and with ids_only; every document is
 * also printed back as canonical Extended JSON (what the reject file does with it).
 */
#include "fuzz_common.h"
#include "source/source_private.h"

static void
read_all(const char *path, bool ids_only)
{
   mn_find_opts_t opts = {.ids_only = ids_only};
   mn_error_t error = {0};
   mn_cursor_t *cur = mn_source__json_cursor(path, "fuzz.json", &opts, &error);
   mn_cursor_status_t st;
   const bson_t *doc;
   volatile size_t sink = 0;

   if (!cur) {
      fprintf(stderr, "fuzz_extjson: could not open \"%s\": %s\n", path, error.message);
      abort();
   }
   while ((st = mn_cursor_next(cur, &doc)) != MN_CURSOR_END) {
      if (st == MN_CURSOR_DOC) {
         char *json = bson_as_canonical_extended_json(doc, NULL);
         sink += json ? strlen(json) : 0;
         bson_free(json);
      } else if (st == MN_CURSOR_BAD) {
         const mn_cursor_bad_t *bad = mn_cursor_bad(cur);
         sink += strlen(bad->location) + strlen(bad->reason) + strlen(bad->raw);
      } else {
         mn_cursor_error(cur, &error);
         sink += strlen(error.message);
         break;
      }
   }
   mn_cursor_destroy(cur);
   (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   const char *path = fuzz_write_file("fuzz.json", data, size);

   read_all(path, false);
   read_all(path, true);
   return 0;
}
