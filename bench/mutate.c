/*
 * mutate.c - bench helper: copy a mongodump .bson file, changing one document in N.
 *
 * usage: mn_bench_mutate IN.bson OUT.bson EVERY
 * Every EVERY-th document (1-based: EVERY, 2*EVERY, ...) gets " (edited)" appended to its
 * first top-level string field other than _id, and its updatedAt (if a date) moved one
 * day later, as an application edit would.  Prints how many documents it changed.
 */
#include <bson/bson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
   bson_reader_t *reader;
   const bson_t *doc;
   bson_error_t error;
   FILE *out;
   long every;
   long n = 0, changed = 0;
   bool eof = false;

   if (argc != 4 || (every = strtol(argv[3], NULL, 10)) < 1) {
      fprintf(stderr, "usage: mn_bench_mutate IN.bson OUT.bson EVERY\n");
      return 2;
   }
   reader = bson_reader_new_from_file(argv[1], &error);
   out = fopen(argv[2], "wb");
   if (!reader || !out) {
      fprintf(stderr, "mn_bench_mutate: could not open \"%s\" or \"%s\"\n", argv[1], argv[2]);
      return 1;
   }
   while ((doc = bson_reader_read(reader, &eof))) {
      n++;
      if (n % every == 0) {
         bson_t copy = BSON_INITIALIZER;
         bson_iter_t it;
         bool edited = false;

         bson_iter_init(&it, doc);
         while (bson_iter_next(&it)) {
            const char *key = bson_iter_key(&it);
            if (!edited && BSON_ITER_HOLDS_UTF8(&it) && strcmp(key, "_id") != 0) {
               char *s = bson_strdup_printf("%s (edited)", bson_iter_utf8(&it, NULL));
               BSON_APPEND_UTF8(&copy, key, s);
               bson_free(s);
               edited = true;
            } else if (BSON_ITER_HOLDS_DATE_TIME(&it) && strcmp(key, "updatedAt") == 0) {
               BSON_APPEND_DATE_TIME(&copy, key, bson_iter_date_time(&it) + 86400000);
            } else {
               bson_append_iter(&copy, key, -1, &it);
            }
         }
         fwrite(bson_get_data(&copy), 1, copy.len, out);
         bson_destroy(&copy);
         changed++;
      } else {
         fwrite(bson_get_data(doc), 1, doc->len, out);
      }
   }
   bson_reader_destroy(reader);
   if (fclose(out) != 0) {
      return 1;
   }
   printf("%ld\n", changed);
   return 0;
}
