/*
 * test_shape.c - the quick proof of convert/shape.c (mn_shape__surely_fine), against the
 * checks it stands in for, the shape check (mn_shape__check) and libbson's validation:
 * whatever it calls surely fine, both must pass, on plain documents, on documents of the
 * types it leaves to them, on duplicate names, array keys out of order and deep nesting,
 * and on every one-byte change and many random several-byte changes of a document that
 * holds every plain type.  And it must call the plain documents fine, or it saves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "convert/convert_private.h"

#include <stdio.h>
#include <string.h>

/* A document holding every type the proof handles, nested and empty ones among them. */
static bson_t *
plain_document(void)
{
   bson_t *d = bson_new();
   bson_t sub, arr;
   bson_oid_t oid;
   bson_decimal128_t dec;
   static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

   bson_oid_init_from_string(&oid, "5f1a2b3c4d5e6f7081920a3b");
   bson_decimal128_from_string("12.5", &dec);
   BSON_APPEND_DOUBLE(d, "double", 1.5);
   BSON_APPEND_UTF8(d, "text", "caf\xc3\xa9 \xf0\x9f\x98\x80 plain ascii text of some length");
   BSON_APPEND_UTF8(d, "", "");
   BSON_APPEND_DOCUMENT_BEGIN(d, "sub", &sub);
   BSON_APPEND_INT32(&sub, "n\xc3\xa9", 7);
   BSON_APPEND_ARRAY_BEGIN(&sub, "list", &arr);
   BSON_APPEND_UTF8(&arr, "0", "a");
   BSON_APPEND_BOOL(&arr, "1", false);
   bson_append_array_end(&sub, &arr);
   bson_append_document_end(d, &sub);
   BSON_APPEND_DOCUMENT_BEGIN(d, "empty", &sub);
   bson_append_document_end(d, &sub);
   BSON_APPEND_ARRAY_BEGIN(d, "none", &arr);
   bson_append_array_end(d, &arr);
   BSON_APPEND_BINARY(d, "bin", BSON_SUBTYPE_BINARY, (const uint8_t *)"\x00\x01\x02", 3);
   BSON_APPEND_BINARY(d, "uuid", BSON_SUBTYPE_UUID, uuid, 16);
   BSON_APPEND_OID(d, "_id", &oid);
   BSON_APPEND_BOOL(d, "yes", true);
   BSON_APPEND_DATE_TIME(d, "when", INT64_C(1700000000000));
   BSON_APPEND_NULL(d, "nothing");
   BSON_APPEND_TIMESTAMP(d, "ts", 1700000000, 3);
   BSON_APPEND_INT64(d, "big", INT64_C(1) << 40);
   BSON_APPEND_DECIMAL128(d, "dec", &dec);
   return d;
}

static mn_shape_check_t sc;

/* The proof never passes what either check refuses; returns whether it passed (bytes
 * that are no document at all are skipped, as the readers never hand them on).
 * *refused counts what they refuse. */
static bool
check_bytes(const uint8_t *data, size_t len, int *refused)
{
   bson_t doc;
   bool sure, valid, shape_ok;

   if (!bson_init_static(&doc, data, len)) {
      return false;
   }
   sure = mn_shape__surely_fine(&sc, &doc);
   shape_ok = mn_shape__check(&sc, &doc) == MN_SHAPE_OK;
   valid = shape_ok && bson_validate(&doc, BSON_VALIDATE_NONE, NULL);
   if (!valid) {
      if (sure) {
         fail_msg("surely fine, but %s refuses it (%zu bytes)",
                  shape_ok ? "libbson" : "the shape check", len);
      }
      (*refused)++;
   }
   return sure;
}

static void
test_shape_plain_documents_surely_fine(void **state)
{
   bson_t *d = plain_document();
   bson_t *empty = bson_new();
   int refused = 0;

   (void)state;
   assert_true(check_bytes(bson_get_data(d), d->len, &refused));
   assert_true(check_bytes(bson_get_data(empty), empty->len, &refused));
   assert_int_equal(refused, 0);
   bson_destroy(d);
   bson_destroy(empty);
}

/* Types the proof leaves to libbson, and strings with a NUL inside: not sure, valid. */
static void
test_shape_other_types_left_to_libbson(void **state)
{
   bson_t *d;
   bson_t scope = BSON_INITIALIZER;
   bson_oid_t oid;
   int refused = 0;

   (void)state;
   bson_oid_init_from_string(&oid, "5f1a2b3c4d5e6f7081920a3b");
   for (int k = 0; k < 9; k++) {
      d = plain_document();
      switch (k) {
      case 0: BSON_APPEND_REGEX(d, "re", "^a", "i"); break;
      case 1: BSON_APPEND_CODE(d, "code", "f()"); break;
      case 2: BSON_APPEND_SYMBOL(d, "sym", "s"); break;
      case 3: BSON_APPEND_MINKEY(d, "min"); break;
      case 4: BSON_APPEND_MAXKEY(d, "max"); break;
      case 5: BSON_APPEND_UNDEFINED(d, "u"); break;
      case 6: BSON_APPEND_CODE_WITH_SCOPE(d, "cws", "f()", &scope); break;
      case 7: BSON_APPEND_DBPOINTER(d, "ptr", "db.c", &oid); break;
      case 8: bson_append_utf8(d, "nul", 3, "a\0b", 3); break;
      }
      assert_false(check_bytes(bson_get_data(d), d->len, &refused));
      assert_int_equal(refused, 0);
      bson_destroy(d);
   }
   d = plain_document();
   BSON_APPEND_BINARY(d, "old", BSON_SUBTYPE_BINARY_DEPRECATED,
                      (const uint8_t *)"\x02\x00\x00\x00xy", 6);
   assert_false(check_bytes(bson_get_data(d), d->len, &refused));
   bson_destroy(d);
}

/* Duplicate names, array keys out of order, deep nesting: not sure, and refused or not
 * by the full checks as they say. */
static void
test_shape_shapes_left_to_the_check(void **state)
{
   bson_t *d, child, *deep;
   int refused = 0;

   (void)state;
   d = plain_document();
   BSON_APPEND_INT32(d, "double", 2); /* a name twice */
   assert_false(check_bytes(bson_get_data(d), d->len, &refused));
   assert_int_equal(refused, 1);
   bson_destroy(d);
   d = bson_new();
   BSON_APPEND_ARRAY_BEGIN(d, "a", &child);
   BSON_APPEND_INT32(&child, "1", 1); /* key 1 at index 0 */
   bson_append_array_end(d, &child);
   assert_false(check_bytes(bson_get_data(d), d->len, &refused));
   assert_int_equal(refused, 2);
   bson_destroy(d);
   d = bson_new();
   BSON_APPEND_DOCUMENT_BEGIN(d, "a", &child);
   BSON_APPEND_INT32(&child, "x", 1);
   BSON_APPEND_INT32(&child, "y", 1);
   bson_append_document_end(d, &child);
   BSON_APPEND_DOCUMENT_BEGIN(d, "b", &child);
   BSON_APPEND_INT32(&child, "x", 1); /* the same name in another sub-document: fine */
   bson_append_document_end(d, &child);
   assert_true(check_bytes(bson_get_data(d), d->len, &refused));
   bson_destroy(d);
   /* 150 levels: past what the proof walks (100), fine for the full checks (200); 250:
    * too deep for them */
   deep = bson_new();
   for (int i = 0; i < 250; i++) {
      bson_t *outer = bson_new();
      BSON_APPEND_DOCUMENT(outer, "d", deep);
      bson_destroy(deep);
      deep = outer;
      if (i == 149) {
         assert_false(check_bytes(bson_get_data(deep), deep->len, &refused));
         assert_int_equal(refused, 2);
      }
   }
   assert_false(check_bytes(bson_get_data(deep), deep->len, &refused));
   assert_int_equal(refused, 3);
   bson_destroy(deep);
}

/* Every byte of the plain document changed to each of a few values, one at a time. */
static void
test_shape_every_one_byte_change(void **state)
{
   static const int values[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x10, 0x7f,
                                0x80, 0xbf, 0xc0, 0xc3, 0xed, 0xf4, 0xff, -1,   -2};
   bson_t *d = plain_document();
   uint8_t *buf = bson_malloc(d->len);
   int refused = 0, sure = 0, tried = 0;

   (void)state;
   for (uint32_t i = 0; i < d->len; i++) {
      for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
         const uint8_t orig = bson_get_data(d)[i];
         memcpy(buf, bson_get_data(d), d->len);
         buf[i] =
            values[v] >= 0 ? (uint8_t)values[v] : (uint8_t)(orig + (values[v] == -1 ? 1 : -1));
         tried++;
         sure += check_bytes(buf, d->len, &refused);
      }
   }
   printf("one-byte changes: %d, refused %d, surely fine %d\n", tried, refused, sure);
   assert_true(refused > 500); /* the changes do break documents */
   assert_true(sure > 500);    /* and the harmless ones still pass quickly */
   bson_free(buf);
   bson_destroy(d);
}

/* Random changes of two to eight bytes (a fixed seed: the same run every time). */
static void
test_shape_random_changes(void **state)
{
   bson_t *d = plain_document();
   uint8_t *buf = bson_malloc(d->len);
   uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
   int refused = 0;

   (void)state;
   for (int n = 0; n < 200000; n++) {
      int changes;
      memcpy(buf, bson_get_data(d), d->len);
      x = x * UINT64_C(6364136223846793005) + 1;
      changes = 2 + (int)((x >> 33) % 7);
      for (int c = 0; c < changes; c++) {
         x = x * UINT64_C(6364136223846793005) + 1;
         buf[4 + (x >> 33) % (d->len - 5)] = (uint8_t)(x >> 17);
      }
      check_bytes(buf, d->len, &refused);
   }
   assert_true(refused > 1000);
   bson_free(buf);
   bson_destroy(d);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shape_plain_documents_surely_fine),
      cmocka_unit_test(test_shape_other_types_left_to_libbson),
      cmocka_unit_test(test_shape_shapes_left_to_the_check),
      cmocka_unit_test(test_shape_every_one_byte_change),
      cmocka_unit_test(test_shape_random_changes),
   };
   int failed;

   mn_shape__init(&sc);
   failed = cmocka_run_group_tests(tests, NULL, NULL);
   mn_shape__cleanup(&sc);
   return failed;
}
