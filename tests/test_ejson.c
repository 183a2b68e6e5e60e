/*
 * test_ejson.c - unit tests for util/ejson.c: mn_ejson__canonical() gives exactly
 * libbson's bson_as_canonical_extended_json() text (NULL included) for the MediChat
 * fixture documents, for every BSON type, for random text (control characters, quotes,
 * every UTF-8 length, invalid UTF-8, NUL), deep and corrupt documents; and a spliced
 * value is written as given.  mn_ejson__plain() gives the same text or none, and a
 * document it writes passes libbson's validation.  mn_ejson__relaxed() gives exactly
 * bson_as_relaxed_extended_json()'s text for all of the same documents and for random
 * numbers and dates of every range.  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/ejson.h"

#include <bson/bson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ours (n_ours bytes) and libbson's text (n_lib): the same bytes, or both NULL */
static void
same_text(const char *ours, size_t n_ours, const char *lib, size_t n_lib)
{
   if (!lib) {
      assert_null(ours);
   } else {
      assert_non_null(ours);
      assert_int_equal(n_ours, n_lib);
      assert_string_equal(ours, lib);
   }
}

/* ours and libbson's text of doc, canonical and relaxed: the same bytes, or both NULL */
static void
same_as_libbson(const bson_t *doc)
{
   size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0;
   char *ours = mn_ejson__canonical(doc, NULL, NULL, &n1);
   char *lib = bson_as_canonical_extended_json(doc, &n2);
   char *plain = mn_ejson__plain(doc, &n3);
   char *relaxed = mn_ejson__relaxed(doc, &n4);
   char *lib_relaxed = bson_as_relaxed_extended_json(doc, &n5);

   same_text(relaxed, n4, lib_relaxed, n5);
   bson_free(relaxed);
   bson_free(lib_relaxed);
   same_text(ours, n1, lib, n2);
   /* mn_ejson__plain: the same text when it gives one, and then libbson's validation
    * passes (the reject file skips it) */
   if (plain) {
      assert_non_null(lib);
      assert_int_equal(n3, n2);
      assert_string_equal(plain, lib);
      assert_true(bson_validate(doc, BSON_VALIDATE_NONE, NULL));
   }
   bson_free(plain);
   bson_free(ours);
   bson_free(lib);
}

/* whether mn_ejson__plain writes doc alone */
static bool
plain_writes(const bson_t *doc)
{
   char *plain = mn_ejson__plain(doc, NULL);
   bool yes = plain != NULL;

   bson_free(plain);
   return yes;
}

static void
test_ejson_probe_matches(void **state)
{
   (void)state;
   /* the libbson this is built with writes what the fast writer expects */
   assert_true(mn_ejson__fast());
   assert_true(mn_ejson__fast_relaxed());
}

static void
test_ejson_fixture_documents(void **state)
{
   static const char *const files[] = {"activity_logs", "conversations", "users"};
   size_t docs = 0, plain = 0;

   (void)state;
   for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
      char path[4096];
      bson_error_t err;
      bson_reader_t *reader;
      const bson_t *doc;
      bool eof = false;
      snprintf(path, sizeof path, "%s/fixtures/medichat/dump/medichat/%s.bson", MN_SOURCE_DIR,
               files[f]);
      reader = bson_reader_new_from_file(path, &err);
      assert_non_null(reader);
      while ((doc = bson_reader_read(reader, &eof))) {
         same_as_libbson(doc);
         docs++;
         plain += plain_writes(doc);
      }
      bson_reader_destroy(reader);
   }
   assert_true(docs > 100);
   assert_true(plain > docs / 2); /* most of them: strings, numbers, dates, ObjectIds */
}

static void
test_ejson_every_type(void **state)
{
   bson_t doc = BSON_INITIALIZER, scope = BSON_INITIALIZER, sub;
   bson_oid_t oid;
   bson_decimal128_t dec;
   static const double doubles[] = {0.0,
                                    -0.0,
                                    1.0,
                                    -1.5,
                                    0.1,
                                    1e-7,
                                    1e15,
                                    1e16,
                                    1e17,
                                    1e22,
                                    2.2250738585072014e-308,
                                    1.7976931348623157e308,
                                    NAN,
                                    INFINITY,
                                    -INFINITY,
                                    4.35,
                                    100.0,
                                    -123456789.0};

   (void)state;
   bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
   bson_decimal128_from_string("-12.50E+3", &dec);
   BSON_APPEND_INT32(&scope, "x", 1);
   BSON_APPEND_OID(&doc, "_id", &oid);
   for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
      char key[16];
      snprintf(key, sizeof key, "d%zu", i);
      BSON_APPEND_DOUBLE(&doc, key, doubles[i]);
   }
   BSON_APPEND_INT32(&doc, "i32", INT32_MAX);
   BSON_APPEND_INT64(&doc, "i64", INT64_MAX);
   BSON_APPEND_DATE_TIME(&doc, "date", INT64_MIN);
   BSON_APPEND_DATE_TIME(&doc, "date2", 1700000000000);
   BSON_APPEND_DECIMAL128(&doc, "dec", &dec);
   BSON_APPEND_BINARY(&doc, "bin", BSON_SUBTYPE_UUID, (const uint8_t *)"0123456789abcdef", 16);
   BSON_APPEND_BINARY(&doc, "bin0", BSON_SUBTYPE_BINARY, (const uint8_t *)"", 0);
   BSON_APPEND_REGEX(&doc, "re", "a\"b/c\\d", "imx");
   BSON_APPEND_CODE(&doc, "code", "function () { return \"x\"; }");
   BSON_APPEND_CODE_WITH_SCOPE(&doc, "cws", "f()", &scope);
   BSON_APPEND_SYMBOL(&doc, "sym", "s\ty");
   BSON_APPEND_TIMESTAMP(&doc, "ts", 4294967295u, 1);
   BSON_APPEND_MINKEY(&doc, "min");
   BSON_APPEND_MAXKEY(&doc, "max");
   BSON_APPEND_UNDEFINED(&doc, "undef");
   BSON_APPEND_NULL(&doc, "null");
   BSON_APPEND_BOOL(&doc, "t", true);
   BSON_APPEND_DBPOINTER(&doc, "dbp", "db.coll", &oid);
   BSON_APPEND_ARRAY_BEGIN(&doc, "arr", &sub);
   BSON_APPEND_DOCUMENT(&sub, "0", &scope);
   {
      bson_t inner;
      BSON_APPEND_ARRAY_BEGIN(&sub, "1", &inner);
      BSON_APPEND_DOCUMENT(&inner, "0", &scope);
      bson_append_array_end(&sub, &inner);
   }
   bson_append_array_end(&doc, &sub);
   BSON_APPEND_DOCUMENT_BEGIN(&doc, "empty", &sub);
   bson_append_document_end(&doc, &sub);
   same_as_libbson(&doc);
   assert_false(plain_writes(&doc)); /* decimal, binary, regex, ...: libbson's */
   bson_destroy(&doc);
   bson_init(&doc);
   same_as_libbson(&doc); /* the empty document */
   assert_true(plain_writes(&doc));
   bson_destroy(&doc);
   bson_destroy(&scope);
}

/* random bytes biased towards what text escaping cares about */
static size_t
random_text(char *buf, size_t max)
{
   static const char *const pieces[] = {"a", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f",
                                        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3",
                                        "\x80", "\xed\xa0\x80", "\xc0\x80", "\xf4\x90\x80\x80",
                                        "\xef\xbf\xbf", "\xe2\x80\xa8", "\0", " ", "zz",
                                        /* runs of plain ASCII: the writer takes 8 at a time */
                                        "abcdefgh", "Patient reports pain"};
   size_t n = 0, k = (size_t)(rand() % 24);

   for (size_t i = 0; i < k; i++) {
      size_t p = (size_t)rand() % (sizeof pieces / sizeof pieces[0]);
      size_t len = strcmp(pieces[p], "") == 0 ? 1 : strlen(pieces[p]);
      if (n + len >= max) {
         break;
      }
      memcpy(buf + n, pieces[p], len);
      n += len;
   }
   buf[n] = '\0';
   return n;
}

static void
test_ejson_random_text(void **state)
{
   (void)state;
   srand(7);
   for (int round = 0; round < 20000; round++) {
      bson_t doc = BSON_INITIALIZER, sub;
      char key[64], text[192];
      size_t klen = random_text(key, sizeof key);
      size_t tlen = random_text(text, sizeof text);
      /* a key is NUL-terminated: cut it at its first NUL */
      klen = strlen(key);
      bson_append_utf8(&doc, key, (int)klen, text, (int)tlen);
      BSON_APPEND_DOCUMENT_BEGIN(&doc, "s", &sub);
      bson_append_utf8(&sub, text, -1, key, (int)klen);
      bson_append_document_end(&doc, &sub);
      same_as_libbson(&doc);
      bson_destroy(&doc);
   }
}

/* a random 64-bit pattern */
static uint64_t
random_bits(void)
{
   uint64_t v = 0;
   for (int i = 0; i < 4; i++) {
      v = (v << 16) ^ (uint64_t)(rand() & 0xffff);
   }
   return v;
}

static void
test_ejson_random_numbers(void **state)
{
   /* dates around the ranges relaxed JSON treats apart: before 1970, 1970-9999, after */
   static const int64_t centres[] = {
      0, 86400000, 951782400000, 4102444800000, INT64_C(253402300800000), INT64_MAX, INT64_MIN};

   (void)state;
   srand(11);
   for (int round = 0; round < 5000; round++) {
      bson_t doc = BSON_INITIALIZER, sub;
      uint64_t bits = random_bits();
      double d;
      int64_t centre = centres[round % (int)(sizeof centres / sizeof centres[0])];
      int64_t span = (int64_t)(random_bits() >> (rand() % 64));
      /* wrapping sums (unsigned: no overflow) */
      int64_t above = (int64_t)((uint64_t)centre + (uint64_t)span);
      int64_t below = (int64_t)((uint64_t)centre - (uint64_t)span);
      memcpy(&d, &bits, sizeof d);
      BSON_APPEND_DOUBLE(&doc, "bits", d);
      BSON_APPEND_DOUBLE(&doc, "small", (double)(rand() % 20000 - 10000) / 100.0);
      BSON_APPEND_DOUBLE(&doc, "whole", (double)(int64_t)(random_bits() >> (rand() % 64)));
      BSON_APPEND_INT32(&doc, "i32", (int32_t)(uint32_t)bits);
      BSON_APPEND_INT64(&doc, "i64", (int64_t)random_bits());
      BSON_APPEND_ARRAY_BEGIN(&doc, "dates", &sub);
      BSON_APPEND_DATE_TIME(&sub, "0", above);
      BSON_APPEND_DATE_TIME(&sub, "1", below);
      BSON_APPEND_DATE_TIME(&sub, "2", (int64_t)random_bits());
      BSON_APPEND_DATE_TIME(&sub, "3", above / 1000 * 1000);
      bson_append_array_end(&doc, &sub);
      same_as_libbson(&doc);
      bson_destroy(&doc);
   }
}

static void
test_ejson_deep_and_corrupt(void **state)
{
   bson_t *doc = bson_new();
   uint8_t bad[] = {0x0d, 0, 0, 0, 0x02, 'a', 0, 0x05, 0, 0, 0, 'x', 0};

   (void)state;
   for (int d = 0; d < 150; d++) {
      bson_t *outer = bson_new();
      BSON_APPEND_DOCUMENT(outer, "k", doc);
      bson_destroy(doc);
      doc = outer;
   }
   same_as_libbson(doc); /* deeper than the fast writer goes: libbson's own text */
   assert_false(plain_writes(doc));
   bson_destroy(doc);
   {
      bson_t corrupt;
      assert_true(bson_init_static(&corrupt, bad, sizeof bad));
      same_as_libbson(&corrupt); /* a string length past the document */
      assert_false(plain_writes(&corrupt));
   }
}

static void
test_ejson_splice(void **state)
{
   bson_t line = BSON_INITIALIZER, doc = BSON_INITIALIZER;
   char *doc_json, *spliced, *lib;

   (void)state;
   BSON_APPEND_UTF8(&doc, "name", "x\"y");
   BSON_APPEND_UTF8(&line, "collection", "c");
   BSON_APPEND_DOCUMENT(&line, "document", &doc);
   BSON_APPEND_INT32(&line, "after", 1);
   doc_json = mn_ejson__canonical(&doc, NULL, NULL, NULL);
   spliced = mn_ejson__canonical(&line, "document", doc_json, NULL);
   lib = bson_as_canonical_extended_json(&line, NULL);
   assert_string_equal(spliced, lib);
   bson_free(spliced);
   /* the given text is what is written */
   spliced = mn_ejson__canonical(&line, "document", "{ SPLICED }", NULL);
   assert_non_null(strstr(spliced, "\"document\" : { SPLICED }, \"after\""));
   bson_free(spliced);
   bson_free(lib);
   bson_free(doc_json);
   bson_destroy(&line);
   bson_destroy(&doc);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ejson_probe_matches),    cmocka_unit_test(test_ejson_fixture_documents),
      cmocka_unit_test(test_ejson_every_type),       cmocka_unit_test(test_ejson_random_text),
      cmocka_unit_test(test_ejson_deep_and_corrupt), cmocka_unit_test(test_ejson_splice),
      cmocka_unit_test(test_ejson_random_numbers),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
