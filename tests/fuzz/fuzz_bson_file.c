/*
 * tests/fuzz/fuzz_bson_file.c - the mongodump .bson file reader (dump.c).
 *
 * The input is the whole content of a "<collection>.bson" file.  It is read through
 * mn_source__dump_cursor twice, to the end or the first read error:
 * - as stored, keeping unreadable spans in a side folder (mn_cursor_keep_skipped), and
 *   checking that every byte is accounted for: the documents and the spans follow each
 *   other from offset 0 to the end of the file, and each kept span file holds exactly the
 *   bytes of its span;
 * - with ids_only (the projection to {_id}).
 * Every document and bad record handed out is touched, so that ASan sees any byte the
 * cursor points outside its buffer.  A broken promise aborts (a finding).
 */
#include "fuzz_common.h"
#include "source/source_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, uint64_t at)
{
   fprintf(stderr, "fuzz_bson_file: %s (at offset %llu)\n", what, (unsigned long long)at);
   abort();
}

/* The kept span file holds exactly data[offset, offset + n). */
static void
check_kept(const char *kept, const uint8_t *data, uint64_t offset, uint64_t n)
{
   FILE *f = fopen(kept, "rb");
   uint8_t *buf = malloc(n + 1);
   size_t got;

   if (!f || !buf) {
      fail("a kept span file cannot be read", offset);
   }
   got = fread(buf, 1, n + 1, f);
   fclose(f);
   if (got != n || memcmp(buf, data + offset, n) != 0) {
      fail("a kept span file does not hold the span's bytes", offset);
   }
   free(buf);
   unlink(kept);
}

static void
read_all(const char *path, const uint8_t *data, size_t size, bool ids_only)
{
   mn_find_opts_t opts = {.ids_only = ids_only};
   mn_error_t error = {0};
   mn_cursor_t *cur = mn_source__dump_cursor(path, "fuzz.bson", &opts, &error);
   mn_cursor_status_t st;
   const bson_t *doc;
   uint64_t pos = 0; /* where the next document or span must start */
   char kept_dir[600];
   volatile size_t sink = 0;

   if (!cur) {
      fprintf(stderr, "fuzz_bson_file: could not open \"%s\": %s\n", path, error.message);
      abort();
   }
   snprintf(kept_dir, sizeof kept_dir, "%s/kept", fuzz_scratch_dir());
   if (!ids_only) {
      mn_cursor_keep_skipped(cur, kept_dir, "fuzz");
   }
   while ((st = mn_cursor_next(cur, &doc)) != MN_CURSOR_END) {
      if (st == MN_CURSOR_DOC) {
         const uint8_t *bytes = bson_get_data(doc);
         uint32_t len = doc->len;
         sink += len ? bytes[0] + bytes[len - 1] : 0;
         if (!ids_only) {
            if (len < 5 || pos + len > size || memcmp(bytes, data + pos, len) != 0) {
               fail("a document is not the file's next bytes", pos);
            }
            pos += len;
         }
      } else if (st == MN_CURSOR_BAD) {
         const mn_cursor_bad_t *bad = mn_cursor_bad(cur);
         sink += strlen(bad->location) + strlen(bad->reason) + strlen(bad->raw);
         if (!ids_only) {
            if (bad->offset != pos || bad->skipped == 0 || bad->skipped > size - pos) {
               fail("an unreadable span does not start where the last record ended", pos);
            }
            if (!bad->kept) {
               fail("an unreadable span was not kept", pos);
            }
            check_kept(bad->kept, data, bad->offset, bad->skipped);
            pos += bad->skipped;
         }
      } else {
         mn_cursor_error(cur, &error);
         fprintf(stderr, "fuzz_bson_file: read error: %s\n", error.message);
         abort(); /* a plain file in a private folder cannot fail to read */
      }
   }
   if (!ids_only && pos != size) {
      fail("the documents and spans do not reach the end of the file", pos);
   }
   {
      uint64_t done, total;
      mn_cursor_progress(cur, &done, &total);
   }
   mn_cursor_destroy(cur);
   (void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   const char *path = fuzz_write_file("fuzz.bson", data, size);

   read_all(path, data, size, false);
   read_all(path, data, size, true);
   return 0;
}
