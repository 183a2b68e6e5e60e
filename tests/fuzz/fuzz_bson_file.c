/*
 * tests/fuzz/fuzz_bson_file.c - the mongodump .bson file reader (source_dump.c).
 *
 * The input is the whole content of a "<collection>.bson" file.  It is read through
 * mn_source__dump_cursor twice, once as stored and once with ids_only (the projection
 * to {_id}), to the end or the first read error; every document and bad record handed
 * out is touched so that ASan sees any byte the cursor points outside its buffer.
 */
#include "fuzz_common.h"
#include "source_private.h"

static void
read_all(const char *path, bool ids_only)
{
   mn_find_opts_t opts = {.ids_only = ids_only};
   mn_error_t error = {0};
   mn_cursor_t *cur = mn_source__dump_cursor(path, "fuzz.bson", &opts, &error);
   mn_cursor_status_t st;
   const bson_t *doc;
   volatile size_t sink = 0;

   if (!cur) {
      fprintf(stderr, "fuzz_bson_file: could not open \"%s\": %s\n", path, error.message);
      abort();
   }
   while ((st = mn_cursor_next(cur, &doc)) != MN_CURSOR_END) {
      if (st == MN_CURSOR_DOC) {
         const uint8_t *bytes = bson_get_data(doc);
         uint32_t len = doc->len;
         sink += len ? bytes[0] + bytes[len - 1] : 0;
      } else if (st == MN_CURSOR_BAD) {
         const mn_cursor_bad_t *bad = mn_cursor_bad(cur);
         sink += strlen(bad->location) + strlen(bad->reason) + strlen(bad->raw);
      } else {
         mn_cursor_error(cur, &error);
         sink += strlen(error.message);
         break;
      }
   }
   {
      uint64_t done, total;
      mn_cursor_progress(cur, &done, &total);
   }
   mn_cursor_destroy(cur);
   (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   const char *path = fuzz_write_file("fuzz.bson", data, size);

   read_all(path, false);
   read_all(path, true);
   return 0;
}
