/*
 * test_source.c - the source interface over dump folders, Extended JSON
 * folders and (when MN_TEST_MONGODB_URI is set) a live server.
 *
 * Each test builds its input in a fresh temporary folder with libbson and
 * zlib, from the same few documents, and checks that the same documents come
 * back: bson_equal() for BSON and canonical JSON, equal relaxed JSON for
 * relaxed input (relaxed form loses int32/int64 distinctions by design).
 */
#include <mongonorm/source.h>

#include <dirent.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define N_DOCS 4

static const char *const doc_json[N_DOCS] = {
   "{\"_id\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1b\"}, \"name\": \"Ada\","
   " \"age\": {\"$numberInt\": \"36\"}, \"big\": {\"$numberLong\": \"9007199254740993\"},"
   " \"score\": {\"$numberDouble\": \"1.5\"},"
   " \"born\": {\"$date\": {\"$numberLong\": \"-2208988800000\"}},"
   " \"tags\": [\"a\", \"b\"], \"addr\": {\"city\": \"Z\\u00fcrich\", \"zip\": \"8000\"}}",
   "{\"_id\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1c\"}, \"name\": \"quote \\\" and } [ {\","
   " \"dec\": {\"$numberDecimal\": \"12.50\"},"
   " \"bin\": {\"$binary\": {\"base64\": \"AAEC\", \"subType\": \"00\"}},"
   " \"ok\": true, \"nothing\": null}",
   "{\"_id\": {\"$numberInt\": \"3\"}, \"nested\": {\"a\": [{\"b\": {\"c\": []}}]},"
   " \"when\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}}",
   "{\"_id\": \"string-id\", \"s\": \"line\\nbreak\\\\\", \"neg\": {\"$numberLong\": \"-5\"}}",
};

typedef struct {
   char dir[256]; /* the temporary folder */
   bson_t *docs[N_DOCS];
} fixture_t;

/* -- Helpers -------------------------------------------------------------- */

static void
rm_tree(const char *path)
{
   struct stat st;
   DIR *d;
   struct dirent *entry;
   char child[1024];

   if (lstat(path, &st) != 0) {
      return;
   }
   if (S_ISDIR(st.st_mode)) {
      d = opendir(path);
      if (d) {
         while ((entry = readdir(d)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
               continue;
            }
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            rm_tree(child);
         }
         closedir(d);
      }
      rmdir(path);
   } else {
      unlink(path);
   }
}

static char *
path_in(const fixture_t *f, const char *name)
{
   return bson_strdup_printf("%s/%s", f->dir, name);
}

static void
make_dir(const fixture_t *f, const char *name)
{
   char *path = path_in(f, name);

   assert_int_equal(mkdir(path, 0700), 0);
   bson_free(path);
}

static void
write_file(const fixture_t *f, const char *name, const void *data, size_t len)
{
   char *path = path_in(f, name);
   FILE *fp = fopen(path, "wb");

   assert_non_null(fp);
   assert_int_equal(fwrite(data, 1, len, fp), len);
   assert_int_equal(fclose(fp), 0);
   bson_free(path);
}

static void
write_gz(const fixture_t *f, const char *name, const void *data, size_t len)
{
   char *path = path_in(f, name);
   gzFile gz = gzopen(path, "wb");

   assert_non_null(gz);
   assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
   assert_int_equal(gzclose(gz), Z_OK);
   bson_free(path);
}

static uint64_t
file_size(const fixture_t *f, const char *name)
{
   char *path = path_in(f, name);
   struct stat st;

   assert_int_equal(stat(path, &st), 0);
   bson_free(path);
   return (uint64_t)st.st_size;
}

/* The documents back to back, as in a .bson file; *offsets gets each start. */
static uint8_t *
bson_blob(bson_t *const *docs, size_t n, size_t *len, size_t *offsets)
{
   uint8_t *blob = NULL;
   size_t total = 0;

   for (size_t i = 0; i < n; i++) {
      blob = bson_realloc(blob, total + docs[i]->len);
      if (offsets) {
         offsets[i] = total;
      }
      memcpy(blob + total, bson_get_data(docs[i]), docs[i]->len);
      total += docs[i]->len;
   }
   *len = total;
   return blob;
}

static char *
to_json(const bson_t *doc, bool relaxed)
{
   return relaxed ? bson_as_relaxed_extended_json(doc, NULL)
                  : bson_as_canonical_extended_json(doc, NULL);
}

/* One document per line, as mongoexport writes by default. */
static char *
json_lines(bson_t *const *docs, size_t n, bool relaxed)
{
   bson_string_t *s = bson_string_new(NULL);
   char *json;

   for (size_t i = 0; i < n; i++) {
      json = to_json(docs[i], relaxed);
      bson_string_append_printf(s, "%s\n", json);
      bson_free(json);
   }
   return bson_string_free(s, false);
}

/* One JSON array, as mongoexport --jsonArray writes. */
static char *
json_array(bson_t *const *docs, size_t n, bool relaxed)
{
   bson_string_t *s = bson_string_new("[");
   char *json;

   for (size_t i = 0; i < n; i++) {
      json = to_json(docs[i], relaxed);
      bson_string_append_printf(s, "%s%s", i ? ",\n" : "", json);
      bson_free(json);
   }
   bson_string_append(s, "]\n");
   return bson_string_free(s, false);
}

static mn_source_t *
open_ok(const char *location, const char *database)
{
   mn_error_t error;
   mn_source_t *source = mn_source_open(location, database, &error);

   if (!source) {
      fail_msg("mn_source_open(\"%s\"): %s", location, error.message);
   }
   return source;
}

static mn_cursor_t *
find_ok(mn_source_t *source, const char *collection, const mn_find_opts_t *opts)
{
   mn_error_t error;
   mn_cursor_t *cursor = mn_source_find(source, collection, opts, &error);

   if (!cursor) {
      fail_msg("mn_source_find(\"%s\"): %s", collection, error.message);
   }
   return cursor;
}

static void
assert_same_doc(const bson_t *got, const bson_t *want, bool relaxed)
{
   char *a = to_json(got, relaxed);
   char *b = to_json(want, relaxed);

   if (relaxed ? strcmp(a, b) != 0 : !bson_equal(got, want)) {
      fail_msg("documents differ:\n got  %s\n want %s", a, b);
   }
   bson_free(a);
   bson_free(b);
}

static void
expect_doc(mn_cursor_t *cursor, const bson_t *want, bool relaxed)
{
   const bson_t *doc = NULL;
   mn_cursor_status_t status = mn_cursor_next(cursor, &doc);

   if (status == MN_CURSOR_BAD) {
      fail_msg("unexpected bad record at %s: %s", mn_cursor_bad(cursor)->location,
               mn_cursor_bad(cursor)->reason);
   }
   assert_int_equal(status, MN_CURSOR_DOC);
   assert_non_null(doc);
   assert_same_doc(doc, want, relaxed);
}

static void
expect_bad(mn_cursor_t *cursor, const char *location, const char *reason_part)
{
   const bson_t *doc = NULL;
   const mn_cursor_bad_t *bad;

   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_BAD);
   assert_null(doc);
   bad = mn_cursor_bad(cursor);
   assert_string_equal(bad->location, location);
   if (!strstr(bad->reason, reason_part)) {
      fail_msg("reason \"%s\" lacks \"%s\"", bad->reason, reason_part);
   }
   assert_non_null(bad->raw);
}

/* The next record is a document whose _id, as relaxed Extended JSON, is id_json. */
static void
expect_id(mn_cursor_t *cursor, const char *id_json)
{
   const bson_t *doc = NULL;
   mn_cursor_status_t status = mn_cursor_next(cursor, &doc);
   bson_iter_t it;
   bson_t wrapper = BSON_INITIALIZER;
   char *json;
   char *want = bson_strdup_printf("{ \"v\" : %s }", id_json);

   if (status == MN_CURSOR_BAD) {
      fail_msg("unexpected bad record at %s: %s", mn_cursor_bad(cursor)->location,
               mn_cursor_bad(cursor)->reason);
   }
   assert_int_equal(status, MN_CURSOR_DOC);
   assert_true(bson_iter_init_find(&it, doc, "_id"));
   bson_append_iter(&wrapper, "v", 1, &it);
   json = bson_as_relaxed_extended_json(&wrapper, NULL);
   assert_string_equal(json, want);
   bson_free(json);
   bson_free(want);
   bson_destroy(&wrapper);
}

static void
expect_end(mn_cursor_t *cursor)
{
   const bson_t *doc = NULL;

   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_END);
   assert_null(doc);
   /* And it stays there. */
   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_END);
}

/* Read collection "users" from location and expect exactly the fixture's documents. */
static void
expect_all(const fixture_t *f, const char *location, const char *database, mn_source_kind_t kind,
           bool relaxed)
{
   mn_source_t *source = open_ok(location, database);
   mn_cursor_t *cursor;

   assert_int_equal(mn_source_kind(source), kind);
   assert_true(mn_source_has_collection(source, "users", NULL));
   cursor = find_ok(source, "users", NULL);
   for (size_t i = 0; i < N_DOCS; i++) {
      expect_doc(cursor, f->docs[i], relaxed);
   }
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
}

static void
expect_error(const char *location, const char *database, uint32_t domain, uint32_t code,
             const char *message_part)
{
   mn_error_t error;
   mn_source_t *source;

   memset(&error, 0, sizeof error);
   source = mn_source_open(location, database, &error);
   if (source) {
      fail_msg("\"%s\" opened as %s", location, mn_source_describe(source));
   }
   assert_int_equal(error.domain, domain);
   assert_int_equal(error.code, code);
   if (!strstr(error.message, message_part)) {
      fail_msg("error \"%s\" lacks \"%s\"", error.message, message_part);
   }
}

/* -- Setup ---------------------------------------------------------------- */

static int
setup(void **state)
{
   fixture_t *f = bson_malloc0(sizeof *f);
   const char *tmp = getenv("TMPDIR");
   bson_error_t berr;

   snprintf(f->dir, sizeof f->dir, "%s/mn_source_XXXXXX", tmp && *tmp ? tmp : "/tmp");
   if (!mkdtemp(f->dir)) {
      return -1;
   }
   for (size_t i = 0; i < N_DOCS; i++) {
      f->docs[i] = bson_new_from_json((const uint8_t *)doc_json[i], -1, &berr);
      if (!f->docs[i]) {
         fprintf(stderr, "fixture document %zu: %s\n", i, berr.message);
         return -1;
      }
   }
   *state = f;
   return 0;
}

static int
teardown(void **state)
{
   fixture_t *f = *state;

   rm_tree(f->dir);
   for (size_t i = 0; i < N_DOCS; i++) {
      bson_destroy(f->docs[i]);
   }
   bson_free(f);
   return 0;
}

/* -- Dump folders --------------------------------------------------------- */

static void
test_source_dump_bson(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   const char *meta = "{\"options\":{},\"indexes\":[]}";
   mn_source_t *source;
   char *expected;

   write_file(f, "users.bson", blob, len);
   write_file(f, "users.metadata.json", meta, strlen(meta));
   expect_all(f, f->dir, NULL, MN_SOURCE_DUMP, false);

   source = open_ok(f->dir, NULL);
   expected = bson_strdup_printf("dump folder %s", f->dir);
   assert_string_equal(mn_source_describe(source), expected);
   bson_free(expected);
   mn_source_destroy(source);
   bson_free(blob);
}

static void
test_source_dump_gzip(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);

   write_gz(f, "users.bson.gz", blob, len);
   expect_all(f, f->dir, NULL, MN_SOURCE_DUMP, false);
   bson_free(blob);
}

static void
test_source_dump_database_subfolder(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   char *sub = path_in(f, "emr");
   const char *prelude = "{\"ServerVersion\":\"6.0.0\"}";

   /* mongodump --out DIR: DIR/prelude.json, DIR/admin/, DIR/emr/users.bson */
   make_dir(f, "emr");
   make_dir(f, "admin");
   write_file(f, "emr/users.bson", blob, len);
   write_file(f, "admin/system.version.bson", bson_get_data(f->docs[2]), f->docs[2]->len);
   write_file(f, "prelude.json", prelude, strlen(prelude));

   expect_all(f, f->dir, NULL, MN_SOURCE_DUMP, false); /* the only non-system database */
   expect_all(f, f->dir, "emr", MN_SOURCE_DUMP, false);
   expect_all(f, sub, "emr", MN_SOURCE_DUMP, false); /* pointed at the database folder */
   expect_all(f, sub, NULL, MN_SOURCE_DUMP, false);
   expect_error(f->dir, "billing", MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                "no database folder \"billing\"");

   /* Two user databases: the caller must choose. */
   make_dir(f, "crm");
   write_file(f, "crm/users.bson", blob, len);
   expect_error(f->dir, NULL, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND, "several databases");
   expect_all(f, f->dir, "emr", MN_SOURCE_DUMP, false);

   bson_free(sub);
   bson_free(blob);
}

static void
test_source_dump_truncated(void **state)
{
   fixture_t *f = *state;
   size_t len;
   size_t offsets[N_DOCS];
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, offsets);
   mn_source_t *source;
   mn_cursor_t *cursor;
   char location[64];
   uint64_t done;
   uint64_t total;

   write_file(f, "users.bson", blob, len - 10);
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   for (size_t i = 0; i < N_DOCS - 1; i++) {
      expect_doc(cursor, f->docs[i], false);
   }
   snprintf(location, sizeof location, "users.bson offset %zu", offsets[N_DOCS - 1]);
   expect_bad(cursor, location, "cut short");
   /* The raw text is hex of the tail's first bytes: its length prefix. */
   assert_true(strlen(mn_cursor_bad(cursor)->raw) >= 8);
   expect_end(cursor);
   mn_cursor_progress(cursor, &done, &total);
   assert_int_equal(total, len - 10);
   assert_int_equal(done, total);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
   bson_free(blob);
}

static void
test_source_dump_truncated_gzip(void **state)
{
   fixture_t *f = *state;
   bson_t *many[200];
   size_t len;
   uint8_t *blob;
   char *path;
   uint64_t size;
   mn_source_t *source;
   mn_cursor_t *cursor;
   const bson_t *doc;
   mn_cursor_status_t status;
   int n_docs = 0;
   int n_bad = 0;

   for (size_t i = 0; i < 200; i++) {
      many[i] = f->docs[i % N_DOCS];
   }
   blob = bson_blob(many, 200, &len, NULL);
   write_gz(f, "users.bson.gz", blob, len);
   size = file_size(f, "users.bson.gz");
   path = path_in(f, "users.bson.gz");
   assert_int_equal(truncate(path, (off_t)(size / 2)), 0);

   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   while ((status = mn_cursor_next(cursor, &doc)) != MN_CURSOR_END) {
      assert_int_not_equal(status, MN_CURSOR_ERROR);
      if (status == MN_CURSOR_DOC) {
         assert_int_equal(n_bad, 0);
         assert_same_doc(doc, f->docs[n_docs % N_DOCS], false);
         n_docs++;
      } else {
         assert_string_equal(strstr(mn_cursor_bad(cursor)->location, "users.bson.gz offset "),
                             mn_cursor_bad(cursor)->location);
         n_bad++;
      }
   }
   assert_int_equal(n_bad, 1);
   assert_true(n_docs > 0 && n_docs < 200);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
   bson_free(path);
   bson_free(blob);
}

static void
test_source_dump_bad_records(void **state)
{
   fixture_t *f = *state;
   size_t len;
   size_t offsets[N_DOCS];
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, offsets);
   uint8_t *bad_len = bson_malloc(len + 4);
   mn_source_t *source;
   mn_cursor_t *cursor;
   const bson_t *doc;
   char location[64];

   /* Document 1 does not end with 0: BAD, then reading goes on. */
   blob[offsets[2] - 1] = 1;
   /* Document 2 has a sane length but an invalid element type: returned as stored. */
   blob[offsets[2] + 4] = 0x7e;
   write_file(f, "users.bson", blob, len);
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[0], false);
   snprintf(location, sizeof location, "users.bson offset %zu", offsets[1]);
   expect_bad(cursor, location, "does not end with a zero byte");
   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_DOC);
   assert_int_equal(doc->len, f->docs[2]->len);
   assert_false(bson_validate(doc, BSON_VALIDATE_NONE, NULL));
   expect_doc(cursor, f->docs[3], false);
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);

   /* An impossible length: one BAD for the 4 bytes, then reading resumes at the next
    * document (it used to drop the rest of the file). */
   bson_free(blob);
   blob = bson_blob(f->docs, N_DOCS, &len, offsets);
   memcpy(bad_len, blob, offsets[1]);
   memcpy(bad_len + offsets[1], "\x02\x00\x00\x00", 4);
   memcpy(bad_len + offsets[1] + 4, blob + offsets[1], len - offsets[1]);
   write_file(f, "users.bson", bad_len, len + 4);
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[0], false);
   expect_bad(cursor, location, "invalid document length 2");
   assert_int_equal(strncmp(mn_cursor_bad(cursor)->raw, "02000000", 8), 0);
   assert_int_equal(mn_cursor_bad(cursor)->offset, offsets[1]);
   assert_int_equal(mn_cursor_bad(cursor)->skipped, 4);
   assert_string_equal(mn_cursor_bad(cursor)->file, "users.bson");
   assert_null(mn_cursor_bad(cursor)->kept);
   for (size_t i = 1; i < N_DOCS; i++) {
      expect_doc(cursor, f->docs[i], false);
   }
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);

   bson_free(bad_len);
   bson_free(blob);
}

/* What a cursor gave for one record, to compare a reading with and without read-ahead. */
typedef struct {
   mn_cursor_status_t status;
   uint8_t *bytes; /* DOC: a copy */
   size_t len;
   uint8_t digest[MN_DIGEST_SIZE];
   char *bad; /* BAD: location, reason, raw, file, offset, skipped, kept in one string */
} seen_t;

/* Read collection `name` of `dir` to its end, with or without read-ahead, into a new array
 * of seen_t (*n of them), unreadable spans kept under keep_dir. */
static seen_t *
read_all(const char *dir, const char *name, bool ahead, const char *keep_dir, size_t *n)
{
   mn_source_t *source = open_ok(dir, NULL);
   mn_cursor_t *cursor = find_ok(source, name, NULL);
   size_t cap = 64;
   seen_t *out = bson_malloc0(cap * sizeof *out);
   mn_cursor_status_t st;
   uint64_t done, total;

   *n = 0;
   mn_cursor_keep_skipped(cursor, keep_dir, name);
   if (ahead) { /* else this reading is the reference */
      assert_true(mn_cursor_read_ahead(cursor));
      assert_false(mn_cursor_read_ahead(cursor)); /* once */
   }
   do {
      const bson_t *doc;
      seen_t *r;
      st = mn_cursor_next(cursor, &doc);
      if (*n == cap) {
         cap *= 2;
         out = bson_realloc(out, cap * sizeof *out);
      }
      r = &out[(*n)++];
      memset(r, 0, sizeof *r);
      r->status = st;
      if (st == MN_CURSOR_DOC) {
         r->len = doc->len;
         r->bytes = bson_malloc(doc->len);
         memcpy(r->bytes, bson_get_data(doc), doc->len);
         mn_cursor_digest(cursor, doc, r->digest);
      } else if (st == MN_CURSOR_BAD) {
         const mn_cursor_bad_t *b = mn_cursor_bad(cursor);
         r->bad = bson_strdup_printf("%s|%s|%s|%s|%" PRIu64 "|%" PRIu64 "|%s", b->location,
                                     b->reason, b->raw, b->file ? b->file : "-", b->offset,
                                     b->skipped, b->kept ? "kept" : "-");
      }
   } while (st == MN_CURSOR_DOC || st == MN_CURSOR_BAD);
   assert_int_equal(st, MN_CURSOR_END);
   mn_cursor_progress(cursor, &done, &total);
   assert_true(total > 0);
   assert_int_equal(done, total);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
   return out;
}

static void
free_seen(seen_t *s, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      bson_free(s[i].bytes);
      bson_free(s[i].bad);
   }
   bson_free(s);
}

/* Reading ahead gives what reading does, record by record, in the same order: documents
 * (their bytes and digests, across chunk boundaries and a document bigger than a chunk),
 * unreadable spans of a dump (kept whole by the thread) and bad JSON records, then the end.
 * A cursor destroyed in the middle stops its thread. */
static void
test_source_read_ahead(void **state)
{
   fixture_t *f = *state;
   GByteArray *blob = g_byte_array_new();
   GString *json = g_string_new(NULL);
   char *keep_a = path_in(f, "kept-a"), *keep_b = path_in(f, "kept-b");
   const char *names[] = {"users", "notes"};
   size_t n_bad = 0;

   for (int i = 0; i < 3000; i++) {
      size_t size = i == 1500 ? 300000 : (size_t)(i * 37) % 5000;
      char *text = bson_malloc(size + 1);
      bson_t *doc = bson_new();
      memset(text, 'a' + i % 26, size);
      text[size] = '\0';
      BSON_APPEND_INT32(doc, "_id", i);
      BSON_APPEND_UTF8(doc, "text", text);
      g_byte_array_append(blob, bson_get_data(doc), doc->len);
      if (i % 700 == 3) {
         g_byte_array_append(blob, (const guint8 *)"\x02\x00\x00\x00", 4); /* a bad span */
      }
      g_string_append_printf(json,
                             i % 900 == 7 ? "{\"_id\": %d, \"text\": }\n"
                                          : "{\"_id\": %d, \"text\": \"%.40s\"}\n",
                             i, text);
      bson_free(text);
      bson_destroy(doc);
   }
   make_dir(f, "dump");
   make_dir(f, "json");
   write_file(f, "dump/users.bson", blob->data, blob->len);
   write_file(f, "json/notes.json", json->str, json->len);
   for (size_t k = 0; k < 2; k++) {
      size_t n_plain, n_ahead;
      char *dir = path_in(f, k ? "json" : "dump");
      seen_t *plain = read_all(dir, names[k], false, keep_a, &n_plain);
      seen_t *ahead = read_all(dir, names[k], true, keep_b, &n_ahead);
      bson_free(dir);
      assert_int_equal(n_ahead, n_plain);
      for (size_t i = 0; i < n_plain; i++) {
         uint8_t want[MN_DIGEST_SIZE];
         assert_int_equal(ahead[i].status, plain[i].status);
         assert_int_equal(ahead[i].len, plain[i].len);
         if (plain[i].bytes) {
            assert_memory_equal(ahead[i].bytes, plain[i].bytes, plain[i].len);
            mn_digest(plain[i].bytes, plain[i].len, want);
            assert_memory_equal(ahead[i].digest, want, MN_DIGEST_SIZE);
            assert_memory_equal(plain[i].digest, want, MN_DIGEST_SIZE);
         }
         if (plain[i].bad) {
            assert_string_equal(ahead[i].bad, plain[i].bad);
            n_bad++;
         }
      }
      assert_true(n_plain > 3000);
      free_seen(plain, n_plain);
      free_seen(ahead, n_ahead);
   }
   assert_int_equal(n_bad, 5 + 4); /* the dump's spans, the JSON's bad lines */
   {
      char *dir = path_in(f, "dump");
      mn_source_t *source = open_ok(dir, NULL);
      mn_cursor_t *cursor = find_ok(source, "users", NULL);
      const bson_t *doc;

      bson_free(dir);
      assert_true(mn_cursor_read_ahead(cursor));
      for (int i = 0; i < 10; i++) {
         mn_cursor_status_t st = mn_cursor_next(cursor, &doc);
         assert_true(st == MN_CURSOR_DOC || st == MN_CURSOR_BAD);
      }
      mn_cursor_destroy(cursor); /* the thread is waiting to queue more: it stops */
      mn_source_destroy(source);
   }
   bson_free(keep_a);
   bson_free(keep_b);
   g_byte_array_free(blob, TRUE);
   g_string_free(json, TRUE);
}

/* Read a whole file into a new buffer; *len gets its size. */
static uint8_t *
slurp(const char *path, size_t *len)
{
   FILE *fp = fopen(path, "rb");
   uint8_t *data;
   long size;

   assert_non_null(fp);
   assert_int_equal(fseek(fp, 0, SEEK_END), 0);
   size = ftell(fp);
   assert_true(size >= 0);
   rewind(fp);
   data = bson_malloc((size_t)size + 1);
   assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
   fclose(fp);
   *len = (size_t)size;
   return data;
}

/* One wrong length of each kind on document 1: the span is exactly document 1, it is kept
 * whole (0600), and documents 2 and 3 are read after it, also from a gzip file. */
static void
test_source_dump_resync(void **state)
{
   fixture_t *f = *state;
   /* modes 0-2: the length off by +1, -1, +1000; modes 3-6: 0, negative, 2 GB, 7 */
   static const int32_t deltas[] = {1, -1, 1000};
   static const int32_t absolute[] = {0, -5, 0x7fffffff, 7};
   size_t len;
   size_t offsets[N_DOCS];
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, offsets);
   uint32_t doc1 = (uint32_t)(offsets[2] - offsets[1]);
   char *keep = path_in(f, "kept");

   for (size_t mode = 0; mode < 7; mode++) {
      for (int gz = 0; gz < 2; gz++) {
         uint8_t *copy = bson_malloc(len);
         const char *name = gz ? "users.bson.gz" : "users.bson";
         int32_t wrong = mode < 3 ? (int32_t)doc1 + deltas[mode] : absolute[mode - 3];
         char location[64];
         char *kept_path;
         uint8_t *kept;
         size_t kept_len;
         struct stat st;
         mn_source_t *source;
         mn_cursor_t *cursor;
         const mn_cursor_bad_t *bad;

         memcpy(copy, blob, len);
         memcpy(copy + offsets[1], &wrong, 4); /* little-endian host */
         if (gz) {
            write_gz(f, name, copy, len);
         } else {
            write_file(f, name, copy, len);
         }
         source = open_ok(f->dir, NULL);
         cursor = find_ok(source, "users", NULL);
         mn_cursor_keep_skipped(cursor, keep, "users");
         expect_doc(cursor, f->docs[0], false);
         snprintf(location, sizeof location, "%s offset %zu", name, offsets[1]);
         expect_bad(cursor, location, "reading resumes at offset");
         bad = mn_cursor_bad(cursor);
         assert_string_equal(bad->file, name);
         assert_int_equal(bad->offset, offsets[1]);
         assert_int_equal(bad->skipped, doc1);
         kept_path = bson_strdup_printf("%s/users-%zu.bin", keep, offsets[1]);
         assert_string_equal(bad->kept, kept_path);
         assert_int_equal(lstat(kept_path, &st), 0);
         assert_true(S_ISREG(st.st_mode));
         assert_int_equal(st.st_mode & 0777, 0600);
         kept = slurp(kept_path, &kept_len);
         assert_int_equal(kept_len, doc1);
         assert_memory_equal(kept, copy + offsets[1], doc1);
         expect_doc(cursor, f->docs[2], false);
         expect_doc(cursor, f->docs[3], false);
         expect_end(cursor);
         mn_cursor_destroy(cursor);
         mn_source_destroy(source);
         assert_int_equal(unlink(kept_path), 0);
         {
            char *p = path_in(f, name);
            assert_int_equal(unlink(p), 0);
            bson_free(p);
         }
         bson_free(kept);
         bson_free(kept_path);
         bson_free(copy);
      }
   }
   bson_free(keep);
   bson_free(blob);
}

/* Garbage between documents, and garbage to the end of the file. */
static void
test_source_dump_garbage(void **state)
{
   fixture_t *f = *state;
   size_t len;
   size_t offsets[N_DOCS];
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, offsets);
   uint8_t *data = bson_malloc(len + 200);
   mn_source_t *source;
   mn_cursor_t *cursor;
   char location[64];

   /* 100 bytes of noise after document 0, and 100 at the end */
   memcpy(data, blob, offsets[1]);
   for (size_t i = 0; i < 100; i++) {
      data[offsets[1] + i] = (uint8_t)(0x5a ^ (i * 37));
   }
   memcpy(data + offsets[1] + 100, blob + offsets[1], len - offsets[1]);
   for (size_t i = 0; i < 100; i++) {
      data[len + 100 + i] = (uint8_t)(0xa5 ^ (i * 11));
   }
   write_file(f, "users.bson", data, len + 200);
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[0], false);
   snprintf(location, sizeof location, "users.bson offset %zu", offsets[1]);
   expect_bad(cursor, location, "100 bytes skipped, reading resumes");
   assert_int_equal(mn_cursor_bad(cursor)->skipped, 100);
   assert_null(mn_cursor_bad(cursor)->kept);
   for (size_t i = 1; i < N_DOCS; i++) {
      expect_doc(cursor, f->docs[i], false);
   }
   snprintf(location, sizeof location, "users.bson offset %zu", len + 100);
   expect_bad(cursor, location, "100 bytes skipped to the end of the file");
   assert_int_equal(mn_cursor_bad(cursor)->skipped, 100);
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
   bson_free(data);
   bson_free(blob);
}

/* Two files for one collection, and a collection "file" that is a directory or a FIFO. */
static void
test_source_collection_files(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   mn_source_t *source;
   mn_error_t error;
   char *path;

   write_file(f, "users.bson", blob, len);
   write_file(f, "orders.bson", blob, len);
   write_gz(f, "users.bson.gz", blob, len);
   source = open_ok(f->dir, NULL);
   assert_false(mn_source_has_collection(source, "users", &error));
   assert_int_equal(error.domain, MN_ERROR_MONGO);
   assert_non_null(strstr(error.message, "has two files in dump folder"));
   assert_non_null(strstr(error.message, "\"users.bson\" and \"users.bson.gz\""));
   assert_null(mn_source_find(source, "users", NULL, &error));
   assert_int_equal(error.code, MN_MONGO_NOT_FOUND);
   mn_source_destroy(source);

   path = path_in(f, "users.bson.gz");
   unlink(path);
   bson_free(path);
   write_file(f, "users.json", "{}\n", 3);
   source = open_ok(f->dir, NULL);
   assert_false(mn_source_has_collection(source, "users", &error));
   assert_non_null(strstr(error.message, "\"users.bson\" and \"users.json\""));
   /* a .json beside no .bson of its own does not disturb a dump folder */
   assert_true(mn_source_has_collection(source, "orders", &error));
   mn_source_destroy(source);

   path = path_in(f, "users.json");
   unlink(path);
   bson_free(path);
   path = path_in(f, "users.bson");
   unlink(path);
   assert_int_equal(mkdir(path, 0700), 0);
   source = open_ok(f->dir, NULL);
   assert_false(mn_source_has_collection(source, "users", &error));
   assert_int_equal(error.domain, MN_ERROR_IO);
   assert_non_null(strstr(error.message, "it is a directory"));
   assert_null(mn_source_find(source, "users", NULL, &error));
   assert_non_null(strstr(error.message, "it is a directory"));
   mn_source_destroy(source);
   assert_int_equal(rmdir(path), 0);

   assert_int_equal(mkfifo(path, 0600), 0);
   source = open_ok(f->dir, NULL);
   assert_null(mn_source_find(source, "users", NULL, &error));
   assert_int_equal(error.domain, MN_ERROR_IO);
   assert_non_null(strstr(error.message, "it is a FIFO"));
   mn_source_destroy(source);
   assert_int_equal(unlink(path), 0);

   /* A JSON folder: ".json" and ".json.gz" for one collection. */
   make_dir(f, "js");
   write_file(f, "js/users.json", "{}\n", 3);
   write_gz(f, "js/users.json.gz", "{}\n", 3);
   {
      char *js = path_in(f, "js");
      source = open_ok(js, NULL);
      assert_int_equal(mn_source_kind(source), MN_SOURCE_JSON);
      assert_null(mn_source_find(source, "users", NULL, &error));
      assert_non_null(strstr(error.message, "has two files in JSON folder"));
      assert_non_null(strstr(error.message, "\"users.json\" and \"users.json.gz\""));
      mn_source_destroy(source);
      bson_free(js);
   }

   bson_free(path);
   bson_free(blob);
}

/* -- JSON folders --------------------------------------------------------- */

/* How a test writes a file into the fixture's folder: write_file, or write_gz compressed. */
typedef void (*write_fn)(const fixture_t *f, const char *name, const void *data, size_t len);

/*
 * `canonical` written as `name` in the folder itself and `relaxed` as `name` in its `sub`
 * folder, each read back whole as a JSON source.
 */
static void
expect_json_files(fixture_t *f, write_fn put, const char *name, const char *canonical,
                  const char *sub, const char *relaxed)
{
   char *in_sub = bson_strdup_printf("%s/%s", sub, name);
   char *dir = path_in(f, sub);

   put(f, name, canonical, strlen(canonical));
   expect_all(f, f->dir, NULL, MN_SOURCE_JSON, false);

   make_dir(f, sub);
   put(f, in_sub, relaxed, strlen(relaxed));
   expect_all(f, dir, NULL, MN_SOURCE_JSON, true);

   bson_free(dir);
   bson_free(in_sub);
}

/*
 * The fixture's documents as render writes them: canonical in the folder itself, relaxed
 * in its "relaxed/" sub-folder; both read back whole as a JSON source.
 */
static void
expect_json_folders(fixture_t *f, char *(*render)(bson_t *const *docs, size_t n, bool relaxed))
{
   char *canonical = render(f->docs, N_DOCS, false);
   char *relaxed = render(f->docs, N_DOCS, true);

   expect_json_files(f, write_file, "users.json", canonical, "relaxed", relaxed);
   bson_free(canonical);
   bson_free(relaxed);
}

static void
test_source_json_lines(void **state)
{
   expect_json_folders(*state, json_lines);
}

static void
test_source_json_array(void **state)
{
   expect_json_folders(*state, json_array);
}

static void
test_source_json_pretty(void **state)
{
   fixture_t *f = *state;
   /* mongoexport --pretty: documents spread over lines, one after the other. */
   const char *pretty = "{\n"
                        "\t\"_id\": {\n\t\t\"$numberInt\": \"3\"\n\t},\n"
                        "\t\"nested\": {\"a\": [{\"b\": {\"c\": []}}]},\n"
                        "\t\"when\": {\"$date\": {\"$numberLong\": \"1700000000000\"}}\n"
                        "}\n"
                        "{\n"
                        "\t\"_id\": \"string-id\",\n"
                        "\t\"s\": \"line\\nbreak\\\\\",\n"
                        "\t\"neg\": {\"$numberLong\": \"-5\"}\n"
                        "}\n";
   const char *pretty_array = "[\n  {\n    \"_id\": {\"$numberInt\": \"3\"},\n"
                              "    \"nested\": {\"a\": [{\"b\": {\"c\": []}}]},\n"
                              "    \"when\": {\"$date\": \"2023-11-14T22:13:20Z\"}\n  },\n"
                              "  {\n    \"_id\": \"string-id\",\n"
                              "    \"s\": \"line\\nbreak\\\\\",\n"
                              "    \"neg\": {\"$numberLong\": \"-5\"}\n  }\n]\n";
   mn_source_t *source;
   mn_cursor_t *cursor;

   write_file(f, "users.json", pretty, strlen(pretty));
   write_file(f, "orders.json", pretty_array, strlen(pretty_array));
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[2], false);
   expect_doc(cursor, f->docs[3], false);
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   cursor = find_ok(source, "orders", NULL);
   expect_doc(cursor, f->docs[2], false);
   expect_doc(cursor, f->docs[3], false);
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
}

static void
test_source_json_gzip(void **state)
{
   fixture_t *f = *state;
   char *lines = json_lines(f->docs, N_DOCS, false);
   char *array = json_array(f->docs, N_DOCS, true);

   expect_json_files(f, write_gz, "users.json.gz", lines, "array", array);
   bson_free(lines);
   bson_free(array);
}

static void
test_source_json_bad_lines(void **state)
{
   fixture_t *f = *state;
   char *d0 = bson_as_canonical_extended_json(f->docs[0], NULL);
   char *d1 = bson_as_relaxed_extended_json(f->docs[1], NULL);
   char *d2 = bson_as_canonical_extended_json(f->docs[2], NULL);
   const char *broken = "{\"_id\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1d\"}, \"a\": }";
   char *text = bson_strdup_printf("%s\n"
                                   "\n"
                                   "%s\n"
                                   "%s\n"
                                   "not json\n"
                                   "{\"_id\": 1} {\"_id\": 2}\n"
                                   "%s\r\n"
                                   "{\"_id\": {\"$oid\": \"5f1a2b3c",
                                   d0, broken, d1, d2);
   mn_source_t *source;
   mn_cursor_t *cursor;

   write_file(f, "users.json", text, strlen(text));
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[0], false);
   expect_bad(cursor, "users.json line 3", "invalid JSON: ");
   assert_string_equal(mn_cursor_bad(cursor)->raw, broken);
   expect_doc(cursor, f->docs[1], true);
   expect_bad(cursor, "users.json line 5", "invalid JSON");
   assert_string_equal(mn_cursor_bad(cursor)->raw, "not json");
   expect_id(cursor, "1"); /* two documents on line 6: each read (see below) */
   expect_id(cursor, "2");
   expect_doc(cursor, f->docs[2], false);
   expect_bad(cursor, "users.json line 8", "invalid JSON");
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);

   bson_free(text);
   bson_free(d0);
   bson_free(d1);
   bson_free(d2);
}

/*
 * Documents one after another on a line (concatenated or hand-edited files): each is
 * read, with its own location; a line that is not only whole documents stays one BAD
 * record with its whole text.
 */
static void
test_source_json_concatenated(void **state)
{
   fixture_t *f = *state;
   const char *lines[] = {
      /* 1 */ "{\"_id\": 1}{\"_id\": 2}",
      /* 2 */ "  {\"_id\": 3} {\"_id\": 4}\t{\"_id\": 5, \"q\": \"}{\\\"[\"}  ",
      /* 3 */ "{\"_id\": 6}{\"_id\": 7, \"d\": {\"$date\": \"2023-02-29T00:00:00Z\"}}",
      /* 4 */ "{\"_id\": 8}{\"_id\": 9, \"x\": tru}",
      /* 5 */ "{\"_id\": 10}{\"_id\": 11 \"x\": 1}",
      /* 6 */ "{\"_id\": 12}, {\"_id\": 13}",
      /* 7 */ "{\"_id\": 14} x",
      /* 8 */ "{\"_id\": 15}{\"_id\": 16,",
      /* 9 */ "{\"_id\": 17}}{\"_id\": 18}",
      /* 10 */ "{\"_id\": 19}{\"a\": [1, {\"b\": [2]}]}{}",
      /* 11 */ "{\"_id\": 20}",
   };
   const char *arr = "[{\"_id\": 1},{\"_id\": {\"$numberInt\": \"x\"}},\n{\"_id\": 3}, tru]\n";
   bson_string_t *text = bson_string_new(NULL);
   mn_source_t *source;
   mn_cursor_t *cursor;
   mn_find_opts_t ids = {.ids_only = true};
   const bson_t *doc;

   for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
      bson_string_append_printf(text, "%s\n", lines[i]);
   }
   write_file(f, "users.json", text->str, text->len);
   write_file(f, "orders.json", arr, strlen(arr));
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_id(cursor, "1");
   expect_id(cursor, "2");
   expect_id(cursor, "3");
   expect_id(cursor, "4");
   expect_id(cursor, "5");
   expect_id(cursor, "6");
   /* a document of the line that does not convert is a record of its own, text whole */
   expect_bad(cursor, "users.json line 3, document 2",
              "invalid $date \"2023-02-29T00:00:00Z\" in field \"d\": no such day");
   assert_string_equal(mn_cursor_bad(cursor)->raw,
                       "{\"_id\": 7, \"d\": {\"$date\": \"2023-02-29T00:00:00Z\"}}");
   expect_id(cursor, "8");
   expect_bad(cursor, "users.json line 4, document 2", "invalid JSON: ");
   assert_string_equal(mn_cursor_bad(cursor)->raw, "{\"_id\": 9, \"x\": tru}");
   /* lines that are not whole documents one after another: one record each, whole */
   for (int k = 5; k <= 9; k++) {
      char location[64];
      snprintf(location, sizeof location, "users.json line %d", k);
      expect_bad(cursor, location, "invalid JSON: text after the end of the document");
      assert_string_equal(mn_cursor_bad(cursor)->raw, lines[k - 1]);
   }
   expect_id(cursor, "19");
   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_DOC);
   assert_false(bson_has_field(doc, "_id"));
   assert_true(bson_has_field(doc, "a"));
   assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_DOC);
   assert_true(bson_empty(doc));
   expect_id(cursor, "20");
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   /* the _id-only read sees the same documents */
   cursor = find_ok(source, "users", &ids);
   expect_id(cursor, "1");
   expect_id(cursor, "2");
   mn_cursor_destroy(cursor);

   /* an array on one line: records after the first on the line are numbered */
   cursor = find_ok(source, "orders", NULL);
   expect_id(cursor, "1");
   expect_bad(cursor, "orders.json line 1, document 2", "invalid $numberInt \"x\"");
   expect_id(cursor, "3");
   expect_bad(cursor, "orders.json line 2, document 2", "invalid JSON");
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   mn_source_destroy(source);
   bson_string_free(text, true);
}

static void
test_source_json_bad_array_elements(void **state)
{
   fixture_t *f = *state;
   char *d0 = bson_as_canonical_extended_json(f->docs[0], NULL);
   char *d1 = bson_as_canonical_extended_json(f->docs[1], NULL);
   char *broken = bson_strdup_printf("[\n%s,\n{\"_id\": 5,\n \"x\": tru},\n%s\n]\n", d0, d1);
   char *cut = bson_strdup_printf("[\n%s,\n{\"_id\": 5, \"x\": \"abc", d0);
   char *unclosed = bson_strdup_printf("[%s,\n%s\n", d0, d1);
   mn_source_t *source;
   mn_cursor_t *cursor;

   write_file(f, "users.json", broken, strlen(broken));
   write_file(f, "cut.json", cut, strlen(cut));
   write_file(f, "unclosed.json", unclosed, strlen(unclosed));
   source = open_ok(f->dir, NULL);

   cursor = find_ok(source, "users", NULL);
   expect_doc(cursor, f->docs[0], false);
   expect_bad(cursor, "users.json line 3", "invalid JSON: ");
   assert_string_equal(mn_cursor_bad(cursor)->raw, "{\"_id\": 5,\n \"x\": tru}");
   expect_doc(cursor, f->docs[1], false);
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   cursor = find_ok(source, "cut", NULL);
   expect_doc(cursor, f->docs[0], false);
   expect_bad(cursor, "cut.json line 3", "file ends inside a document");
   assert_string_equal(mn_cursor_bad(cursor)->raw, "{\"_id\": 5, \"x\": \"abc");
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   cursor = find_ok(source, "unclosed", NULL);
   expect_doc(cursor, f->docs[0], false);
   expect_doc(cursor, f->docs[1], false);
   expect_bad(cursor, "unclosed.json line 3", "closing \"]\"");
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   mn_source_destroy(source);
   bson_free(d0);
   bson_free(d1);
   bson_free(broken);
   bson_free(cut);
   bson_free(unclosed);
}

/*
 * A cursor on `coll` of the source in folder `sub` (*source, for the caller to destroy),
 * whose progress starts at 0 of the bytes of `sub`/`file` as stored: the compressed size
 * for gzip.
 */
static mn_cursor_t *
find_at_start(const fixture_t *f, const char *sub, const char *file, const char *coll,
              mn_source_t **source)
{
   char *dir = path_in(f, sub);
   char *path = bson_strdup_printf("%s/%s", sub, file);
   mn_cursor_t *cursor;
   uint64_t done;
   uint64_t total;

   *source = open_ok(dir, NULL);
   cursor = find_ok(*source, coll, NULL);
   mn_cursor_progress(cursor, &done, &total);
   assert_int_equal(done, 0);
   assert_int_equal(total, file_size(f, path));
   bson_free(path);
   bson_free(dir);
   return cursor;
}

/* A cursor read to its end has done all of its total; then it and its source go. */
static void
expect_all_done(mn_cursor_t *cursor, mn_source_t *source)
{
   uint64_t done;
   uint64_t total;

   mn_cursor_progress(cursor, &done, &total);
   assert_int_equal(done, total);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
}

/* Many documents: records cross the 64 KiB read buffer; nothing is lost at the seams. */
static void
test_source_json_large_streams(void **state)
{
   fixture_t *f = *state;
   enum { N = 3000 };
   bson_t **many = bson_malloc(N * sizeof *many);
   const char *kinds[] = {"users.json", "orders.json", "visits.json.gz", "notes.bson"};
   const char *colls[] = {"users", "orders", "visits", "notes"};
   char *lines;
   char *array;
   size_t blob_len;
   uint8_t *blob;
   char *json;
   mn_source_t *source;
   mn_cursor_t *cursor;
   const bson_t *doc;
   bson_iter_t iter;
   int32_t i;

   for (i = 0; i < N; i++) {
      json = bson_strdup_printf("{\"_id\": %d, \"pad\": \"%0*d\", \"q\": \"}{\\\"[\"}", i,
                                (int)(i % 97), 0);
      many[i] = bson_new_from_json((const uint8_t *)json, -1, NULL);
      assert_non_null(many[i]);
      bson_free(json);
   }
   lines = json_lines(many, N, true);
   array = json_array(many, N, false);
   blob = bson_blob(many, N, &blob_len, NULL);
   make_dir(f, "json");
   make_dir(f, "dump");
   write_file(f, "json/users.json", lines, strlen(lines));
   write_file(f, "json/orders.json", array, strlen(array));
   write_gz(f, "json/visits.json.gz", array, strlen(array));
   write_file(f, "dump/notes.bson", blob, blob_len);

   for (size_t k = 0; k < 4; k++) {
      uint64_t done;
      uint64_t total;
      uint64_t last = 0;

      cursor = find_at_start(f, k == 3 ? "dump" : "json", kinds[k], colls[k], &source);
      for (i = 0; i < N; i++) {
         assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_DOC);
         assert_true(bson_iter_init_find(&iter, doc, "_id"));
         assert_int_equal(bson_iter_int32(&iter), i);
         mn_cursor_progress(cursor, &done, &total);
         assert_true(done >= last && done <= total);
         last = done;
      }
      expect_end(cursor);
      expect_all_done(cursor, source);
   }

   for (i = 0; i < N; i++) {
      bson_destroy(many[i]);
   }
   bson_free(many);
   bson_free(lines);
   bson_free(array);
   bson_free(blob);
}

/* -- Common behaviour ----------------------------------------------------- */

/* The file sources project to {_id} too, so every kind returns the same. */
static void
test_source_ids_only(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   char *lines = json_lines(f->docs, N_DOCS, false);
   mn_find_opts_t opts = {.ids_only = true};
   const char *folders[] = {"dump", "json"};

   make_dir(f, "dump");
   make_dir(f, "json");
   write_gz(f, "dump/users.bson.gz", blob, len);
   write_file(f, "json/users.json", lines, strlen(lines));
   for (size_t k = 0; k < 2; k++) {
      char *dir = path_in(f, folders[k]);
      mn_source_t *source = open_ok(dir, NULL);
      mn_cursor_t *cursor = find_ok(source, "users", &opts);

      for (size_t i = 0; i < N_DOCS; i++) {
         bson_t want = BSON_INITIALIZER;
         bson_iter_t iter;

         assert_true(bson_iter_init_find(&iter, f->docs[i], "_id"));
         assert_true(bson_append_iter(&want, "_id", 3, &iter));
         expect_doc(cursor, &want, false);
         bson_destroy(&want);
      }
      expect_end(cursor);
      mn_cursor_destroy(cursor);
      mn_source_destroy(source);
      bson_free(dir);
   }
   bson_free(blob);
   bson_free(lines);
}

static void
test_source_not_found(void **state)
{
   fixture_t *f = *state;
   char *lines = json_lines(f->docs, N_DOCS, false);
   mn_source_t *source;
   mn_error_t error;
   const char *names[] = {"patients", "../users", "", "users.json"};

   write_file(f, "users.json", lines, strlen(lines));
   source = open_ok(f->dir, NULL);
   for (size_t i = 0; i < 4; i++) {
      memset(&error, 0, sizeof error);
      assert_false(mn_source_has_collection(source, names[i], &error));
      assert_null(mn_source_find(source, names[i], NULL, &error));
      assert_int_equal(error.domain, MN_ERROR_MONGO);
      assert_int_equal(error.code, MN_MONGO_NOT_FOUND);
   }
   mn_source_find(source, "patients", NULL, &error);
   assert_non_null(strstr(error.message, "collection \"patients\" has no file in JSON folder"));
   mn_source_destroy(source);
   bson_free(lines);
}

static void
test_source_kind_detection(void **state)
{
   fixture_t *f = *state;
   char *lines = json_lines(f->docs, N_DOCS, false);
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   char *missing = path_in(f, "missing");
   char *with_slash = bson_strdup_printf("%s/", f->dir);
   mn_source_t *source;

   /* Empty folder, missing folder, a file. */
   expect_error(f->dir, NULL, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND, "holds no .bson or .json file");
   expect_error(missing, NULL, MN_ERROR_IO, MN_IO_OPEN, "could not open folder");
   write_file(f, "notes.txt", "x", 1);
   expect_error(f->dir, NULL, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND, "holds no .bson or .json file");

   /* Only .json: a JSON folder; .bson too: a dump, whose .json files are not read. */
   write_file(f, "users.json", lines, strlen(lines));
   source = open_ok(with_slash, NULL);
   assert_int_equal(mn_source_kind(source), MN_SOURCE_JSON);
   assert_true(mn_source_has_collection(source, "users", NULL));
   mn_source_destroy(source);

   write_file(f, "orders.bson", blob, len);
   source = open_ok(f->dir, NULL);
   assert_int_equal(mn_source_kind(source), MN_SOURCE_DUMP);
   assert_true(mn_source_has_collection(source, "orders", NULL));
   assert_false(mn_source_has_collection(source, "users", NULL));
   mn_source_destroy(source);

   bson_free(lines);
   bson_free(blob);
   bson_free(missing);
   bson_free(with_slash);
}

static void
test_source_progress(void **state)
{
   fixture_t *f = *state;
   size_t len;
   uint8_t *blob = bson_blob(f->docs, N_DOCS, &len, NULL);
   const char *names[] = {"users.bson", "users.bson.gz"};
   uint64_t done;
   uint64_t total;
   const bson_t *doc;

   make_dir(f, "a");
   make_dir(f, "b");
   write_file(f, "a/users.bson", blob, len);
   write_gz(f, "b/users.bson.gz", blob, len);
   for (size_t k = 0; k < 2; k++) {
      mn_source_t *source;
      mn_cursor_t *cursor = find_at_start(f, k ? "b" : "a", names[k], "users", &source);

      if (k == 0) {
         assert_int_equal(mn_cursor_next(cursor, &doc), MN_CURSOR_DOC);
         mn_cursor_progress(cursor, &done, &total);
         assert_int_equal(done, f->docs[0]->len);
      }
      while (mn_cursor_next(cursor, &doc) == MN_CURSOR_DOC) {
      }
      expect_all_done(cursor, source);
   }
   bson_free(blob);
}

/* -- MongoDB -------------------------------------------------------------- */

/* Which locations name a live server: the two URI schemes, spelled exactly. */
static void
test_source_is_uri(void **state)
{
   (void)state;
   assert_true(mn_source_is_uri("mongodb://127.0.0.1:27017/db"));
   assert_true(mn_source_is_uri("mongodb+srv://cluster.example.com/db"));
   assert_true(mn_source_is_uri("mongodb://"));
   assert_false(mn_source_is_uri("fixtures/medichat/dump"));
   assert_false(mn_source_is_uri("mongodb:/x"));
   assert_false(mn_source_is_uri("MONGODB://host/db"));
   assert_false(mn_source_is_uri(""));
}

static void
test_source_mongo_bad_uri(void **state)
{
   mn_error_t error;

   (void)state;
   expect_error("mongodb://bob:s3cret@/emr", NULL, MN_ERROR_MONGO, MN_MONGO_CONNECT,
                "could not parse MongoDB URI");
   memset(&error, 0, sizeof error);
   assert_null(mn_source_open("mongodb://bob:s3cret@/emr", NULL, &error));
   assert_null(strstr(error.message, "s3cret"));

   expect_error("mongodb://127.0.0.1:1/", NULL, MN_ERROR_MONGO, MN_MONGO_CONNECT, "no database");
}

static void
test_source_mongo_unreachable(void **state)
{
   const char *uri = "mongodb://bob:s3cret@127.0.0.1:1/emr?serverSelectionTimeoutMS=200"
                     "&connectTimeoutMS=200";
   mn_error_t error;

   (void)state;
   memset(&error, 0, sizeof error);
   assert_null(mn_source_open(uri, NULL, &error));
   assert_int_equal(error.domain, MN_ERROR_MONGO);
   assert_int_equal(error.code, MN_MONGO_CONNECT);
   if (!strstr(error.message, "could not connect to MongoDB at \"mongodb://127.0.0.1:1/emr\"")) {
      fail_msg("unexpected message: %s", error.message);
   }
   assert_null(strstr(error.message, "s3cret"));
}

/*
 * Live: MN_TEST_MONGODB_URI names a server (the wire test server or a real
 * mongod) and MN_TEST_MONGODB_COLLECTION a non-empty collection ("users" by
 * default).
 */
static void
test_source_mongo_live(void **state)
{
   const char *uri = getenv("MN_TEST_MONGODB_URI");
   const char *coll = getenv("MN_TEST_MONGODB_COLLECTION");
   mn_find_opts_t ids = {.ids_only = true};
   mn_source_t *source;
   mn_cursor_t *cursor;
   const bson_t *doc;
   mn_cursor_status_t status;
   mn_error_t error;
   uint64_t n_full = 0;
   uint64_t n_ids = 0;
   uint64_t done;
   uint64_t total;
   bson_iter_t iter;

   (void)state;
   if (!uri || !*uri) {
      mn_test_skip_missing("MN_TEST_MONGODB_URI", "the MongoDB wire test server");
   }
   if (!coll || !*coll) {
      coll = "users";
   }
   source = open_ok(uri, NULL);
   assert_int_equal(mn_source_kind(source), MN_SOURCE_MONGODB);
   assert_null(strchr(mn_source_describe(source), '@'));
   assert_true(mn_source_has_collection(source, coll, NULL));
   assert_false(mn_source_has_collection(source, "mn_no_such_collection", NULL));

   cursor = find_ok(source, coll, NULL);
   while ((status = mn_cursor_next(cursor, &doc)) == MN_CURSOR_DOC) {
      assert_true(bson_iter_init_find(&iter, doc, "_id"));
      n_full++;
   }
   if (status == MN_CURSOR_ERROR) {
      mn_cursor_error(cursor, &error);
      fail_msg("%s", error.message);
   }
   assert_int_equal(status, MN_CURSOR_END);
   assert_true(n_full > 0);
   mn_cursor_progress(cursor, &done, &total);
   assert_int_equal(done, n_full);
   mn_cursor_destroy(cursor);

   cursor = find_ok(source, coll, &ids);
   while (mn_cursor_next(cursor, &doc) == MN_CURSOR_DOC) {
      assert_int_equal(bson_count_keys(doc), 1);
      assert_true(bson_iter_init_find(&iter, doc, "_id"));
      n_ids++;
   }
   assert_int_equal(n_ids, n_full);
   mn_cursor_destroy(cursor);

   /* A collection that does not exist reads as empty. */
   cursor = find_ok(source, "mn_no_such_collection", NULL);
   expect_end(cursor);
   mn_cursor_destroy(cursor);

   /* A $sample of 2, and the list of collections (sorted). */
   {
      mn_find_opts_t sample = {.sample = 2};
      char **names = mn_source_list_collections(source, &error);
      size_t n = 0;
      cursor = find_ok(source, coll, &sample);
      while (mn_cursor_next(cursor, &doc) == MN_CURSOR_DOC) {
         n++;
      }
      assert_int_equal(n, 2);
      mn_cursor_destroy(cursor);
      assert_non_null(names);
      for (n = 0; names[n]; n++) {
         assert_true(n == 0 || strcmp(names[n - 1], names[n]) < 0);
      }
      assert_true(n > 0);
      bson_strfreev(names);
   }
   mn_source_destroy(source);
}

/* The collections of a dump folder (and of a JSON one): one name per collection file,
 * sorted, mongodump's metadata files left out. */
static void
test_source_list_collections(void **state)
{
   char **names;
   mn_source_t *source;
   mn_error_t error = {0};
   (void)state;

   source = open_ok(MN_SOURCE_DIR "/fixtures/medichat/dump/medichat", NULL);
   names = mn_source_list_collections(source, &error);
   assert_non_null(names);
   assert_string_equal(names[0], "activity_logs");
   assert_string_equal(names[1], "conversations");
   assert_string_equal(names[2], "users");
   assert_null(names[3]);
   bson_strfreev(names);
   mn_source_destroy(source);
   source = open_ok(MN_SOURCE_DIR "/fixtures/infer/basic/input", NULL);
   names = mn_source_list_collections(source, &error);
   assert_string_equal(names[0], "authors");
   assert_string_equal(names[1], "posts");
   assert_null(names[2]);
   bson_strfreev(names);
   mn_source_destroy(source);
}

/* -- Extended JSON wrappers checked strictly (issue 9, point 5) ----------- */

#include "source/ejson_check.h"

/* One document's text against mn_ejson__check(): want NULL for accepted. */
static void
expect_ejson(const char *text, const char *want)
{
   char *reason = NULL;
   bool ok = mn_ejson__check(text, strlen(text), &reason);

   if (!want) {
      if (!ok) {
         fail_msg("%s: rejected: %s", text, reason);
      }
      return;
   }
   if (ok) {
      fail_msg("%s: accepted, want \"%s\"", text, want);
   }
   if (strcmp(reason, want)) {
      fail_msg("%s:\n  got  %s\n  want %s", text, reason, want);
   }
   bson_free(reason);
}

static void
test_source_ejson_valid_wrappers(void **state)
{
   (void)state;
   /* Every form the specification gives, canonical and relaxed, and libbson's legacy ones. */
   expect_ejson("{\"a\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1d\"}}", NULL);
   expect_ejson("{\"a\": {\"$symbol\": \"s\"}}", NULL);
   expect_ejson(
      "{\"a\": {\"$numberInt\": \"-2147483648\"}, \"b\": {\"$numberInt\": \"2147483647\"}}", NULL);
   expect_ejson("{\"a\": {\"$numberLong\": \"-9223372036854775808\"}}", NULL);
   expect_ejson("{\"a\": {\"$numberLong\": \"9223372036854775807\"}}", NULL);
   expect_ejson("{\"a\": [{\"$numberDouble\": \"1.5\"}, {\"$numberDouble\": \"-0.0\"},"
                " {\"$numberDouble\": \"1E+308\"}, {\"$numberDouble\": \"5e-324\"},"
                " {\"$numberDouble\": \"Infinity\"}, {\"$numberDouble\": \"-Infinity\"},"
                " {\"$numberDouble\": \"NaN\"}]}",
                NULL);
   expect_ejson("{\"a\": [{\"$numberDecimal\": \"21.95\"}, {\"$numberDecimal\": \"-1E+6144\"},"
                " {\"$numberDecimal\": \"NaN\"}, {\"$numberDecimal\": \"-Infinity\"}]}",
                NULL);
   expect_ejson("{\"a\": {\"$binary\": {\"base64\": \"AQIDBA==\", \"subType\": \"80\"}}}", NULL);
   expect_ejson("{\"a\": {\"subType\": \"0\", \"base64\": \"\"}}", NULL);
   expect_ejson("{\"a\": {\"$binary\": \"AQIDBA==\", \"$type\": \"00\"}}", NULL);
   expect_ejson("{\"a\": {\"$uuid\": \"c8edabc3-f738-4ca3-b68d-ab92a91478a3\"}}", NULL);
   expect_ejson("{\"a\": {\"$code\": \"function() {}\", \"$scope\": {\"x\": 1}}}", NULL);
   expect_ejson("{\"a\": {\"$timestamp\": {\"t\": 4294967295, \"i\": 0}}}", NULL);
   expect_ejson("{\"a\": {\"$regularExpression\": {\"pattern\": \"^a\", \"options\": \"imsx\"}}}",
                NULL);
   expect_ejson("{\"a\": {\"$regex\": \"^a\", \"$options\": \"i\"}}", NULL);
   expect_ejson("{\"a\": {\"$regex\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": "
                "\"\"}}, \"$options\": \"i\"}}",
                NULL);
   expect_ejson("{\"a\": {\"$dbPointer\": {\"$ref\": \"db.c\", \"$id\": {\"$oid\": "
                "\"57e193d7a9cc81b4027498b1\"}}}}",
                NULL);
   expect_ejson("{\"a\": [{\"$date\": \"2024-02-29T23:59:59.999Z\"}, {\"$date\": "
                "\"2000-02-29T00:00Z\"}, {\"$date\": \"2023-01-01T00:00:00+0530\"},"
                " {\"$date\": {\"$numberLong\": \"-62135596800000\"}}, {\"$date\": 1234}]}",
                NULL);
   expect_ejson("{\"a\": {\"$minKey\": 1}, \"b\": {\"$maxKey\": 1}, \"c\": {\"$undefined\": true}}",
                NULL);
   /* Not wrappers: top-level keys, DBRefs, the $type query operator, unknown $ keys. */
   expect_ejson("{\"$date\": \"nonsense\", \"r\": {\"$ref\": \"c\", \"$id\": 5}}", NULL);
   expect_ejson("{\"q\": {\"$type\": \"string\"}, \"u\": {\"$foo\": \"7abc\"}}", NULL);
   /* Text that is not JSON is left to libbson's parser. */
   expect_ejson("{\"a\": {\"$date\": ", NULL);
   {
      /* A NUL byte where a value belongs (the fuzzer's find: it used to loop forever). */
      static const char nul[] = "{\"a\": [{\"b\": \0}], \"c\": {\"$date\": 1}}";
      char *reason = NULL;

      assert_true(mn_ejson__check(nul, sizeof nul - 1, &reason));
      assert_null(reason);
   }
   expect_ejson("{\"a\": {\"$numberDouble\": \"7abc\"} ]",
                "invalid $numberDouble \"7abc\" in "
                "field \"a\": not a decimal number, "
                "\"Infinity\", \"-Infinity\" or \"NaN\"");
}

/* A reason's tail for a value that is no decimal number. */
#define NODEC "not a decimal number, \"Infinity\", \"-Infinity\" or \"NaN\""

/* Documents mn_ejson__check() refuses, each with its exact reason (NULL: accepted). */
static const struct {
   const char *text;
   const char *want;
} bad_wrappers[] = {
   /* The cases of issue 9, point 5. */
   {"{\"createdAt\": {\"$date\": \"2023-02-29T00:00:00Z\"}}",
    "invalid $date \"2023-02-29T00:00:00Z\" in field \"createdAt\": no such day"},
   {"{\"d\": {\"$date\": \"2024-04-31T00:00:00Z\"}}",
    "invalid $date \"2024-04-31T00:00:00Z\" in field \"d\": no such day"},
   {"{\"p\": {\"$numberDecimal\": \"abc\"}}",
    "invalid $numberDecimal \"abc\" in field \"p\": " NODEC},
   {"{\"p\": {\"$numberDecimal\": \"\"}}", "invalid $numberDecimal \"\" in field \"p\": " NODEC},
   {"{\"p\": {\"$numberDecimal\": \"1e99999\"}}",
    "invalid $numberDecimal \"1e99999\" in field \"p\": out of range for a decimal128"},
   {"{\"x\": {\"$numberDouble\": \"7abc\"}}",
    "invalid $numberDouble \"7abc\" in field \"x\": " NODEC},
   {"{\"x\": {\"$numberDouble\": \"0x1p3\"}}",
    "invalid $numberDouble \"0x1p3\" in field \"x\": " NODEC},
   {"{\"x\": {\"$numberDouble\": \"inf\"}}",
    "invalid $numberDouble \"inf\" in field \"x\": " NODEC},
   {"{\"x\": {\"$numberDouble\": \"1e400\"}}",
    "invalid $numberDouble \"1e400\" in field \"x\": out of range for a double"},

   /* Field paths through sub-documents and arrays. */
   {"{\"a\": {\"b\": [1, {\"c\": {\"$date\": \"2023-13-01T00:00:00Z\"}}]}}",
    "invalid $date \"2023-13-01T00:00:00Z\" in field \"a.b.1.c\": no such month"},

   /* $date's other forms and parts. */
   {"{\"d\": {\"$date\": \"2023-01-01T24:00:00Z\"}}",
    "invalid $date \"2023-01-01T24:00:00Z\" in field \"d\": no such hour"},
   {"{\"d\": {\"$date\": \"2023-01-01T00:60:00Z\"}}",
    "invalid $date \"2023-01-01T00:60:00Z\" in field \"d\": no such minute"},
   {"{\"d\": {\"$date\": \"2023-01-01T00:00:60Z\"}}",
    "invalid $date \"2023-01-01T00:00:60Z\" in field \"d\": no such second"},
   {"{\"d\": {\"$date\": \"2023-01-01T00:00:00+2400\"}}",
    "invalid $date \"2023-01-01T00:00:00+2400\" in field \"d\": no such time zone "
    "offset"},
   {"{\"d\": {\"$date\": \"2023-01-01T00:00:00.1234Z\"}}",
    "invalid $date \"2023-01-01T00:00:00.1234Z\" in field \"d\": more precise than "
    "milliseconds"},
   {"{\"d\": {\"$date\": \"yesterday\"}}",
    "invalid $date \"yesterday\" in field \"d\": not an ISO 8601 date-time "
    "(YYYY-MM-DDTHH:MM:SS.sssZ)"},
   {"{\"d\": {\"$date\": {\"$numberLong\": \"12x\"}}}",
    "invalid $date {\"$numberLong\":\"12x\"} in field \"d\": \"$numberLong\" is not a "
    "64-bit integer"},
   {"{\"d\": {\"$date\": {\"$numberLong\": \"1\", \"x\": 1}}}",
    "invalid $date {\"$numberLong\":\"1\",\"x\":1} in field \"d\": unexpected key "
    "\"x\""},
   {"{\"d\": {\"$date\": 1.5}}", "invalid $date 1.5 in field \"d\": not a 64-bit "
                                 "integer number of milliseconds"},
   {"{\"d\": {\"$date\": \"2023-01-01T00:00:00Z\", \"tz\": \"UTC\"}}",
    "invalid $date \"2023-01-01T00:00:00Z\" in field \"d\": unexpected key \"tz\" "
    "next to \"$date\""},

   /* Integers and their ranges. */
   {"{\"n\": {\"$numberInt\": \"2147483648\"}}",
    "invalid $numberInt \"2147483648\" in field \"n\": out of range for a 32-bit "
    "integer"},
   {"{\"n\": {\"$numberInt\": \"1.0\"}}",
    "invalid $numberInt \"1.0\" in field \"n\": not an integer"},
   {"{\"n\": {\"$numberInt\": 5}}", "invalid $numberInt 5 in field \"n\": not a string"},
   {"{\"n\": {\"$numberLong\": \"-9223372036854775809\"}}",
    "invalid $numberLong \"-9223372036854775809\" in field \"n\": out of range for a "
    "64-bit integer"},

   /* The others. */
   {"{\"_id\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1\"}}",
    "invalid $oid \"5f1a2b3c4d5e6f7081920a1\" in field \"_id\": not 24 hexadecimal "
    "digits"},
   {"{\"b\": {\"$binary\": {\"base64\": \"AQI\", \"subType\": \"00\"}}}",
    "invalid $binary {\"base64\":\"AQI\",\"subType\":\"00\"} in field \"b\": "
    "\"base64\" is not base64"},
   {"{\"b\": {\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"100\"}}}",
    "invalid $binary {\"base64\":\"AQI=\",\"subType\":\"100\"} in field \"b\": "
    "\"subType\" is not one or two hexadecimal digits"},
   {"{\"b\": {\"$binary\": {\"base64\": \"AQI=\"}}}",
    "invalid $binary {\"base64\":\"AQI=\"} in field \"b\": missing \"subType\""},
   {"{\"b\": {\"$binary\": \"AQI=\"}}",
    "invalid $binary \"AQI=\" in field \"b\": missing \"$type\""},
   {"{\"u\": {\"$uuid\": \"c8edabc3f7384ca3b68dab92a91478a3\"}}",
    "invalid $uuid \"c8edabc3f7384ca3b68dab92a91478a3\" in field \"u\": not a UUID "
    "(8-4-4-4-12 hexadecimal digits)"},
   {"{\"t\": {\"$timestamp\": {\"t\": -1, \"i\": 1}}}",
    "invalid $timestamp {\"t\":-1,\"i\":1} in field \"t\": \"t\" is not a 32-bit "
    "unsigned integer"},
   {"{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 4294967296}}}",
    "invalid $timestamp {\"t\":1,\"i\":4294967296} in field \"t\": \"i\" is not a "
    "32-bit unsigned integer"},
   {"{\"t\": {\"$timestamp\": {\"t\": 1}}}",
    "invalid $timestamp {\"t\":1} in field \"t\": missing \"i\""},
   {"{\"r\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"iq\"}}}",
    "invalid $regularExpression {\"pattern\":\"a\",\"options\":\"iq\"} in field "
    "\"r\": unknown option \"q\" (options are \"ilmsux\")"},
   {"{\"r\": {\"$regex\": \"a\", \"$options\": \"ii\"}}",
    "invalid $regex \"a\" in field \"r\": option \"i\" given twice"},
   {"{\"p\": {\"$dbPointer\": {\"$ref\": \"c\", \"$id\": {\"$oid\": \"zz\"}}}}",
    "invalid $oid \"zz\" in field \"p\": not 24 hexadecimal digits"},
   {"{\"k\": {\"$minKey\": 2}}", "invalid $minKey 2 in field \"k\": the value must be 1"},
   {"{\"k\": {\"$undefined\": false}}",
    "invalid $undefined false in field \"k\": the value must be true"},
   {"{\"k\": {\"$oid\": \"5f1a2b3c4d5e6f7081920a1d\", \"$date\": 1}}",
    "invalid $oid \"5f1a2b3c4d5e6f7081920a1d\" in field \"k\": unexpected key "
    "\"$date\" next to \"$oid\""},
   {"{\"k\": {\"$numberInt\": \"1\", \"$numberInt\": \"2\"}}",
    "invalid $numberInt \"1\" in field \"k\": duplicate key \"$numberInt\""},
   /* Plain numbers libbson would change: it wraps integers beyond 64 bits around. */
   {"{\"a\": [1, {\"b\": 99999999999999999999}]}",
    "invalid number 99999999999999999999 in field \"a.1.b\": out of range for a "
    "64-bit integer"},
   {"{\"a\": -1e400}", "invalid number -1e400 in field \"a\": out of range for a double"},
   {"{\"a\": 1e-400}", "invalid number 1e-400 in field \"a\": out of range for a double"},
   {"{\"a\": -9223372036854775808, \"b\": 5e-324, \"c\": 0e-999, \"d\": 1.5}", NULL},
   {"{\"x\": {\"$numberDouble\": \"1e-400\"}}",
    "invalid $numberDouble \"1e-400\" in field \"x\": out of range for a double"},

   /* Long values are cut in the reason (64 bytes of JSON text, then "..."). */
   {"{\"s\": {\"$numberDecimal\": \"12345678901234567890123456789012345678901234567890"
    "12345678901234567890x\"}}",
    "invalid $numberDecimal \"12345678901234567890123456789012345678901234567890"
    "1234567890123... in field \"s\": not a decimal number, \"Infinity\", "
    "\"-Infinity\" or \"NaN\""},
};

static void
test_source_ejson_bad_wrappers(void **state)
{
   (void)state;
   for (size_t k = 0; k < sizeof bad_wrappers / sizeof bad_wrappers[0]; k++) {
      expect_ejson(bad_wrappers[k].text, bad_wrappers[k].want);
   }
}

/* Through the JSON reader: the bad record is reported at its line, the others still load. */
static void
test_source_ejson_rejected_records(void **state)
{
   fixture_t *f = *state;
   char *d0 = bson_as_canonical_extended_json(f->docs[0], NULL);
   const char *bad1 = "{\"_id\": 1, \"createdAt\": {\"$date\": \"2023-02-29T00:00:00Z\"}}";
   const char *bad2 = "{\"_id\": 2, \"price\": {\"$numberDouble\": \"0x1p3\"}}";
   char *text = bson_strdup_printf("%s\n%s\n%s\n%s\n", bad1, d0, bad2, d0);
   mn_source_t *source;
   mn_cursor_t *cursor;

   write_file(f, "users.json", text, strlen(text));
   source = open_ok(f->dir, NULL);
   cursor = find_ok(source, "users", NULL);
   expect_bad(cursor, "users.json line 1",
              "invalid $date \"2023-02-29T00:00:00Z\" in field \"createdAt\": no such day");
   assert_string_equal(mn_cursor_bad(cursor)->raw, bad1);
   expect_doc(cursor, f->docs[0], false);
   expect_bad(cursor, "users.json line 3", "invalid $numberDouble \"0x1p3\" in field \"price\"");
   expect_doc(cursor, f->docs[0], false);
   expect_end(cursor);
   mn_cursor_destroy(cursor);
   mn_source_destroy(source);
   bson_free(text);
   bson_free(d0);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_source_dump_bson, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_gzip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_database_subfolder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_truncated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_truncated_gzip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_bad_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_resync, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_dump_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_collection_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_array, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_pretty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_gzip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_bad_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_concatenated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_bad_array_elements, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_json_large_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_ids_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_not_found, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_kind_detection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_progress, setup, teardown),
      cmocka_unit_test(test_source_is_uri),
      cmocka_unit_test(test_source_mongo_bad_uri),
      cmocka_unit_test(test_source_mongo_unreachable),
      cmocka_unit_test(test_source_mongo_live),
      cmocka_unit_test(test_source_list_collections),
      cmocka_unit_test(test_source_ejson_valid_wrappers),
      cmocka_unit_test(test_source_ejson_bad_wrappers),
      cmocka_unit_test_setup_teardown(test_source_ejson_rejected_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_read_ahead, setup, teardown),
   };

   return mn_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
