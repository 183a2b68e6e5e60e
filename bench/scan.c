/*
 * scan.c - the cost of mongonorm's live read against a bare libmongoc cursor (issue 10,
 * "a live MongoDB read within 1.2x of a bare libmongoc cursor scan").
 *
 *   mn_bench_scan URI COLLECTION [ROUNDS]
 *
 * Reads every document of COLLECTION ROUNDS times (default 3) each way, alternating:
 *   bare       mongoc_collection_find_with_opts() with an empty filter and no options,
 *              mongoc_cursor_next() until the end (libmongoc's own batching);
 *   mongonorm  mn_source_open() + mn_source_find() + mn_cursor_next(), the path `run`
 *              reads a live collection through.
 * Both touch each document's bytes (a byte sum), so neither is cheaper by not reading.
 * MN_BENCH_BATCH_SIZE=N gives the bare cursor a batchSize (the find command's option),
 * to see what tuning it would buy over libmongoc's default batching.
 * Prints documents, MB and the median seconds of each, and their ratio.  Not a test.
 */
#include <mongonorm/error.h>
#include <mongonorm/source.h>

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
   uint64_t docs;
   uint64_t bytes;
   uint64_t sum;
   double seconds;
} scan_t;

static double
now(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
touch(scan_t *s, const bson_t *doc)
{
   const uint8_t *data = bson_get_data(doc);

   s->docs++;
   s->bytes += doc->len;
   for (uint32_t i = 0; i < doc->len; i += 64) {
      s->sum += data[i];
   }
}

/* One scan through a bare libmongoc cursor. */
static bool
scan_bare(const char *uri_text, const char *collection, scan_t *s)
{
   bson_error_t berr;
   mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &berr);
   mongoc_client_t *client = uri ? mongoc_client_new_from_uri(uri) : NULL;
   mongoc_collection_t *coll;
   mongoc_cursor_t *cursor;
   bson_t filter = BSON_INITIALIZER;
   bson_t opts = BSON_INITIALIZER;
   const bson_t *doc;
   double start = now();
   bool ok;

   if (!client) {
      fprintf(stderr, "mn_bench_scan: %s\n", uri ? "cannot create a client" : berr.message);
      mongoc_uri_destroy(uri);
      return false;
   }
   coll = mongoc_client_get_collection(client, mongoc_uri_get_database(uri), collection);
   if (getenv("MN_BENCH_BATCH_SIZE")) {
      BSON_APPEND_INT32(&opts, "batchSize", atoi(getenv("MN_BENCH_BATCH_SIZE")));
   }
   cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
   while (mongoc_cursor_next(cursor, &doc)) {
      touch(s, doc);
   }
   ok = !mongoc_cursor_error(cursor, &berr);
   if (!ok) {
      fprintf(stderr, "mn_bench_scan: bare cursor: %s\n", berr.message);
   }
   s->seconds = now() - start;
   mongoc_cursor_destroy(cursor);
   bson_destroy(&opts);
   mongoc_collection_destroy(coll);
   mongoc_client_destroy(client);
   mongoc_uri_destroy(uri);
   return ok;
}

/* One scan through mongonorm's source layer, as `run` reads a live collection. */
static bool
scan_mongonorm(const char *uri_text, const char *collection, scan_t *s)
{
   mn_error_t error;
   mn_source_t *src = mn_source_open(uri_text, NULL, &error);
   mn_cursor_t *cur;
   mn_find_opts_t opts = {0};
   const bson_t *doc;
   mn_cursor_status_t st;
   double start = now();

   if (!src || !(cur = mn_source_find(src, collection, &opts, &error))) {
      fprintf(stderr, "mn_bench_scan: %s\n", error.message);
      mn_source_destroy(src);
      return false;
   }
   while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC) {
      touch(s, doc);
   }
   if (st == MN_CURSOR_ERROR) {
      mn_cursor_error(cur, &error);
      fprintf(stderr, "mn_bench_scan: mongonorm cursor: %s\n", error.message);
   }
   s->seconds = now() - start;
   mn_cursor_destroy(cur);
   mn_source_destroy(src);
   return st == MN_CURSOR_END;
}

static int
by_value(const void *a, const void *b)
{
   double x = *(const double *)a, y = *(const double *)b;

   return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
   int rounds = argc > 3 ? atoi(argv[3]) : 3;
   double bare[64], ours[64];
   scan_t last = {0};

   if (argc < 3 || rounds < 1 || rounds > 64) {
      fprintf(stderr, "usage: mn_bench_scan URI COLLECTION [ROUNDS 1-64]\n");
      return 2;
   }
   mn_source_mongo_init();
   for (int i = 0; i < rounds; i++) {
      scan_t a = {0}, b = {0};
      if (!scan_bare(argv[1], argv[2], &a) || !scan_mongonorm(argv[1], argv[2], &b)) {
         return 1;
      }
      if (a.docs != b.docs || a.sum != b.sum) {
         fprintf(stderr, "mn_bench_scan: the two reads differ (%llu vs %llu documents)\n",
                 (unsigned long long)a.docs, (unsigned long long)b.docs);
         return 1;
      }
      bare[i] = a.seconds;
      ours[i] = b.seconds;
      last = b;
   }
   qsort(bare, (size_t)rounds, sizeof bare[0], by_value);
   qsort(ours, (size_t)rounds, sizeof ours[0], by_value);
   printf("collection %s: %llu documents, %.1f MB, median of %d\n", argv[2],
          (unsigned long long)last.docs, (double)last.bytes / 1e6, rounds);
   printf("%-12s %9.3f s %11.0f docs/s\n", "bare cursor", bare[rounds / 2],
          (double)last.docs / bare[rounds / 2]);
   printf("%-12s %9.3f s %11.0f docs/s\n", "mongonorm", ours[rounds / 2],
          (double)last.docs / ours[rounds / 2]);
   printf("ratio        %9.2f (goal <= 1.2)\n", ours[rounds / 2] / bare[rounds / 2]);
   return 0;
}
