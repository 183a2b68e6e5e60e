/*
 * test_stats.c - unit tests for stats.c: the drift key classifier (which keys of a
 * source document look like data and are collapsed into MN_STATS_DRIFT_KEY), the cap
 * on kept unmapped paths, and that the text and JSON forms name unmapped paths only
 * after mn_stats_set_show_drift(), the reject-reason kinds (values blanked, names
 * kept), the reject examples kept per kind, and mn_stats_merge() (the units of a
 * shared load merged give one pass's statistics).  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mongonorm/stats.h>

#include "run/run_private.h"

#include <bson/bson.h>
#include <stdio.h>
#include <string.h>

static bool
is_data(const char *key)
{
   return mn_stats_drift_key_is_data(key, strlen(key));
}

static void
test_stats_drift_key_field_names(void **state)
{
   /* field names as schemas spell them: kept */
   static const char *const names[] = {
      "nickname", "firstName", "first_name",      "_id",          "__v",
      "$ref",     "$id",       "address2",        "line1",        "sha256",
      "utf8",     "ipv6",      "content-type",    "x-request-id", "a",
      "Z",        "_",         "deadbeef", /* hex letters only: a word */
      "abc123",                            /* hex with a digit but short */
      "messages", "createdAt", "triage_score_v2",
   };
   char max[MN_STATS_DRIFT_KEY_MAX + 1];

   (void)state;
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (is_data(names[i])) {
         fail_msg("\"%s\" taken as data", names[i]);
      }
   }
   memset(max, 'a', MN_STATS_DRIFT_KEY_MAX);
   max[MN_STATS_DRIFT_KEY_MAX] = '\0';
   assert_false(is_data(max));
   /* the length is what counts, not a NUL: a key of 3 bytes out of a longer buffer */
   assert_false(mn_stats_drift_key_is_data("abc def", 3));
}

static void
test_stats_drift_key_data(void **state)
{
   /* keys that are data: ids, numbers, dates, times, e-mails, free text */
   static const char *const keys[] = {
      "Jane Doe - HIV positive",
      "John Roe - diabetic",
      "507f1f77bcf86cd799439011",             /* ObjectId */
      "a07f1f77bcf86cd799439011",             /* ObjectId starting with a letter */
      "f47ac10b-58cc-4372-a567-0e02b2c3d479", /* UUID starting with a letter */
      "0e02b2c3-58cc-4372-a567-f47ac10bd479", /* and with a digit */
      "a1b2c3d4",                             /* a short hash */
      "0",
      "42",
      "-5",
      "3.14",
      "1e9",
      "2023-02-28",
      "2023-02-28T10:00:00Z",
      "10:30",
      "Jan-05",
      "visit2023",
      "patient12345",
      "jane.doe@example.com",
      "jane@example",
      "+4712345678",
      "Dr. Smith",
      "Smith, John",
      "naïve",        /* non-ASCII */
      "\xe6\x82\xa3", /* a CJK character */
      "tab\there",
      "",
      "$",
      "$$x",
      "-lead",
      "trail-",
      "a/b",
      "<key>", /* the placeholder itself: a real key spelt so is collapsed too */
   };
   char long_key[MN_STATS_DRIFT_KEY_MAX + 2];

   (void)state;
   for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      if (!is_data(keys[i])) {
         fail_msg("\"%s\" taken as a field name", keys[i]);
      }
   }
   memset(long_key, 'a', MN_STATS_DRIFT_KEY_MAX + 1);
   long_key[MN_STATS_DRIFT_KEY_MAX + 1] = '\0';
   assert_true(is_data(long_key));
   assert_true(mn_stats_drift_key_is_data(NULL, 0));
}

/* The statistics' text and JSON; both freed by the caller with bson_free(). */
static void
render(const mn_stats_t *s, char **text, char **json)
{
   *text = mn_stats_to_text(s);
   *json = mn_stats_to_json(s);
}

static void
test_stats_unmapped_hidden_by_default(void **state)
{
   mn_stats_t *s = mn_stats_new();
   const char *doc1[] = {"nickname", "notes.<key>"};
   const char *doc2[] = {"notes.<key>"};
   mn_collection_counts_t *c;
   char *text, *json;

   (void)state;
   mn_stats_count_unmapped(s, "users", doc1, 2);
   mn_stats_count_unmapped(s, "users", doc2, 1);
   mn_stats_count_unmapped(s, "users", NULL, 0); /* no drift: not a document with drift */
   c = mn_stats_collection(s, "users");
   assert_int_equal(c->unmapped_paths, 2);
   assert_int_equal(c->unmapped_documents, 2);
   assert_false(c->unmapped_paths_at_least);

   render(s, &text, &json);
   assert_null(strstr(text, "nickname"));
   assert_null(strstr(text, "notes"));
   assert_non_null(strstr(text, "    unmapped source paths: 2 in 2 documents (names not shown: "
                                "\"run --show-drift\" lists them)\n"));
   assert_null(strstr(json, "nickname"));
   assert_null(strstr(json, "notes"));
   assert_null(strstr(json, "\"unmapped\""));
   assert_non_null(strstr(json, "\"unmapped_paths\" : 2, \"unmapped_documents\" : 2"));
   bson_free(text);
   bson_free(json);

   mn_stats_set_show_drift(s, true);
   render(s, &text, &json);
   assert_non_null(strstr(text, "    unmapped source paths: 2 in 2 documents, documents per path:\n"
                                "               1  nickname\n"
                                "               2  notes.<key>\n"));
   assert_null(strstr(text, "more path"));
   assert_non_null(strstr(json, "\"unmapped\" : { \"nickname\" : 1, \"notes.<key>\" : 2 }"));
   assert_null(strstr(json, "unmapped_more"));
   bson_free(text);
   bson_free(json);
   mn_stats_destroy(s);
}

static void
test_stats_unmapped_nothing(void **state)
{
   mn_stats_t *s = mn_stats_new();
   char *text, *json;

   (void)state;
   mn_stats_collection(s, "users")->read = 3;
   render(s, &text, &json);
   assert_null(strstr(text, "unmapped"));
   assert_non_null(strstr(json, "\"unmapped_paths\" : 0, \"unmapped_documents\" : 0"));
   bson_free(text);
   bson_free(json);
   mn_stats_destroy(s);
}

static void
test_stats_unmapped_capped(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_collection_counts_t *c;
   char *text, *json;
   char path[64];
   const char *one[1] = {path};
   size_t total = MN_STATS_UNMAPPED_MAX + 250;

   (void)state;
   /* each path in two documents; documents 1..total hold path i, document 0 none */
   for (int round = 0; round < 2; round++) {
      for (size_t i = 0; i < total; i++) {
         snprintf(path, sizeof path, "junk_%zu", i);
         mn_stats_count_unmapped(s, "things", one, 1);
      }
   }
   c = mn_stats_collection(s, "things");
   assert_int_equal(c->unmapped_paths, total);
   assert_int_equal(c->unmapped_documents, 2 * total);
   assert_int_equal(c->unmapped_more_documents, 2 * 250);
   assert_false(c->unmapped_paths_at_least);

   mn_stats_set_show_drift(s, true);
   render(s, &text, &json);
   snprintf(path, sizeof path, "junk_%d", MN_STATS_UNMAPPED_MAX - 1);
   assert_non_null(strstr(json, path)); /* the last kept one */
   snprintf(path, sizeof path, "\"junk_%d\"", MN_STATS_UNMAPPED_MAX);
   assert_null(strstr(json, path)); /* the first one not kept */
   assert_null(strstr(text, path + 1));
   assert_non_null(strstr(json, "\"unmapped_more\" : { \"paths\" : 250, \"documents\" : 500 }"));
   assert_non_null(
      strstr(text, "             500  250 more paths (names kept for the first 100)\n"));
   bson_free(text);
   bson_free(json);
   mn_stats_destroy(s);
}

static void
test_stats_unmapped_count_saturates(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_collection_counts_t *c;
   char *text, *json;
   char path[64];
   const char *one[1] = {path};
   size_t total = MN_STATS_UNMAPPED_MAX + MN_STATS_UNMAPPED_COUNTED + 1000;

   (void)state;
   for (size_t i = 0; i < total; i++) {
      snprintf(path, sizeof path, "f%zx_x", i);
      mn_stats_count_unmapped(s, "things", one, 1);
   }
   c = mn_stats_collection(s, "things");
   assert_true(c->unmapped_paths_at_least);
   assert_int_equal(c->unmapped_paths, MN_STATS_UNMAPPED_MAX + MN_STATS_UNMAPPED_COUNTED);
   assert_int_equal(c->unmapped_documents, total);
   render(s, &text, &json);
   assert_non_null(strstr(text, "unmapped source paths: at least 50100 in 51100 documents"));
   assert_non_null(strstr(json, "\"unmapped_paths_at_least\" : true"));
   /* bounded output whatever the number of paths */
   assert_true(strlen(json) < 2000);
   bson_free(text);
   bson_free(json);
   mn_stats_set_show_drift(s, true);
   render(s, &text, &json);
   assert_true(strlen(text) < 8000);
   assert_true(strlen(json) < 8000);
   assert_non_null(strstr(text, "at least 50000 more paths"));
   bson_free(text);
   bson_free(json);
   mn_stats_destroy(s);
}

/* A reason's kind keeps the names of collections, tables, columns and constraints and
 * blanks every value, also one holding escaped quotes or a name-like word of its own. */
static void
test_stats_reason_kind_names_kept_values_hidden(void **state)
{
   static const char *const cases[][3] = {
      {"patient",
       "document 7, field \"patient\": reference to a document of collection "
       "\"users\" that was rejected",
       "patient: reference to a document of collection \"users\" that was rejected"},
      {"allergies.3.name",
       "document 7, field \"allergies.3.name\": string \"Jane Roe\" is not "
       "in the enum",
       "allergies.name: string \"...\" is not in the enum"},
      {"",
       "PostgreSQL refused the rows of table \"public.users\": duplicate key value violates "
       "unique constraint \"users_email_key\" (constraint \"users_email_key\")",
       "(document): PostgreSQL refused the rows of table \"public.users\": duplicate key value "
       "violates unique constraint \"users_email_key\" (constraint \"users_email_key\")"},
      {"",
       "PostgreSQL refused the rows of table \"t\": invalid input syntax for type integer: "
       "\"jane@example.org\"",
       "(document): PostgreSQL refused the rows of table \"t\": invalid input syntax for type "
       "integer: \"...\""},
      {"", "null value in column \"dob\" of relation \"patients\" violates not-null constraint",
       "(document): null value in column \"dob\" of relation \"patients\" violates not-null "
       "constraint"},
      {"x", "document 1, field \"x\": string \"say \\\"table \\\" \\\\ secret\" is not a uuid",
       "x: string \"...\" is not a uuid"},
      {"x", "document 1, field \"x\": value \"table \\\"t\\\"\" of a table",
       "x: value \"...\" of a table"},
   };
   char buf[256];

   (void)state;
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      assert_string_equal(mn_rejects__reason_kind_of(cases[i][0], cases[i][1], buf, sizeof buf),
                          cases[i][2]);
   }
}

/* Reject examples: the first MN_STATS_REJECT_EXAMPLES of each kind, every one counted;
 * their own JSON, never in mn_stats_to_json() (the report and mongonorm.runs). */
static void
test_stats_reject_examples(void **state)
{
   mn_stats_t *s = mn_stats_new();
   char *ex, *json, id[64];

   (void)state;
   for (int i = 0; i < 5; i++) {
      snprintf(id, sizeof id, "{ \"$oid\" : \"63dbeefe757372000000000%d\" }", i);
      mn_stats_count_reject_example(s, "users", "role: string \"...\" is not in the enum", id,
                                    "role", "users.role");
   }
   mn_stats_count_reject_example(s, "users", "(record): does not parse", NULL, NULL, NULL);
   mn_stats_count_reject(s, "users", "email: duplicate"); /* counted, no example */
   ex = mn_stats_reject_examples_to_json(s);
   json = mn_stats_to_json(s);
   assert_string_equal(
      ex,
      "{ \"collections\" : { \"users\" : { \"role: string \\\"...\\\" is not in the enum\" : [ "
      "{ \"_id\" : \"{ \\\"$oid\\\" : \\\"63dbeefe7573720000000000\\\" }\", \"path\" : \"role\", "
      "\"column\" : \"users.role\" }, "
      "{ \"_id\" : \"{ \\\"$oid\\\" : \\\"63dbeefe7573720000000001\\\" }\", \"path\" : \"role\", "
      "\"column\" : \"users.role\" }, "
      "{ \"_id\" : \"{ \\\"$oid\\\" : \\\"63dbeefe7573720000000002\\\" }\", \"path\" : \"role\", "
      "\"column\" : \"users.role\" } ], "
      "\"(record): does not parse\" : [ {  } ] } } }");
   assert_non_null(strstr(json,
                          "\"rejects\" : { \"role: string \\\"...\\\" is not in the enum\" : 5, "
                          "\"(record): does not parse\" : 1, \"email: duplicate\" : 1 }"));
   assert_null(strstr(json, "63dbeefe"));
   assert_null(strstr(json, "users.role"));
   bson_free(ex);
   bson_free(json);
   mn_stats_destroy(s);
}

/* Counts of one collection "c" and its table "t", as a unit of a load would make them. */
static void
count_unit(mn_stats_t *s, const char *c, const char *t, size_t paths)
{
   char path[64];
   const char *one[1] = {path};

   mn_stats_collection(s, c)->read += 5;
   mn_stats_collection(s, c)->loaded += 4;
   mn_stats_collection(s, c)->rejected += 1;
   mn_stats_collection(s, c)->seconds += 0.25;
   mn_stats_count_reject(s, c, "role: value \"...\" outside enum");
   mn_stats_count_reject_example(s, c, "email: duplicate", "{ \"$oid\" : \"1\" }", "email",
                                 "users.email");
   mn_stats_table(s, t)->inserted += 7;
   mn_stats_count_coercion(s, t, "severity", "converted from string");
   mn_stats_count_coercion(s, t, "status", "invalid string stored as NULL");
   for (size_t i = 0; i < paths; i++) {
      snprintf(path, sizeof path, "%s_junk_%zu", c, i);
      mn_stats_count_unmapped(s, c, one, 1);
   }
}

static void
test_stats_merge_equals_one_pass(void **state)
{
   mn_stats_t *one = mn_stats_new(), *merged = mn_stats_new();
   mn_stats_t *a = mn_stats_new(), *b = mn_stats_new();
   char *text1, *json1, *text2, *json2;

   (void)state;
   /* one pass: users, then conversations, whose end counts a coercion in users' table */
   count_unit(one, "users", "users", MN_STATS_UNMAPPED_MAX + 30);
   count_unit(one, "conversations", "conversations", 3);
   mn_stats_count_coercion(one, "users", "doctor_id", "reference to a document not loaded");
   /* the same counts in two units, merged in mapping order */
   count_unit(a, "users", "users", MN_STATS_UNMAPPED_MAX + 30);
   count_unit(b, "conversations", "conversations", 3);
   mn_stats_count_coercion(b, "users", "doctor_id", "reference to a document not loaded");
   mn_stats_merge(merged, a);
   mn_stats_merge(merged, b);
   mn_stats_set_show_drift(one, true);
   mn_stats_set_show_drift(merged, true);
   render(one, &text1, &json1);
   render(merged, &text2, &json2);
   assert_string_equal(text1, text2);
   assert_string_equal(json1, json2);
   bson_free(text1);
   bson_free(text2);
   text1 = mn_stats_reject_examples_to_json(one);
   text2 = mn_stats_reject_examples_to_json(merged);
   assert_string_equal(text1, text2);
   assert_int_equal(mn_stats_collection(merged, "users")->unmapped_paths,
                    MN_STATS_UNMAPPED_MAX + 30);
   bson_free(text1);
   bson_free(json1);
   bson_free(text2);
   bson_free(json2);
   mn_stats_destroy(one);
   mn_stats_destroy(merged);
   mn_stats_destroy(a);
   mn_stats_destroy(b);
}

static void
test_stats_merge_counts_paths_once(void **state)
{
   mn_stats_t *into = mn_stats_new(), *from = mn_stats_new();
   mn_collection_counts_t *c;

   (void)state;
   /* both saw users_junk_0..: the distinct paths are counted once, documents added */
   count_unit(into, "users", "users", MN_STATS_UNMAPPED_MAX + 10);
   count_unit(from, "users", "users", MN_STATS_UNMAPPED_MAX + 20);
   mn_stats_merge(into, from);
   c = mn_stats_collection(into, "users");
   assert_int_equal(c->unmapped_paths, MN_STATS_UNMAPPED_MAX + 20);
   assert_int_equal(c->unmapped_documents, 2 * MN_STATS_UNMAPPED_MAX + 30);
   assert_int_equal(c->read, 10);
   assert_int_equal(mn_stats_table(into, "users")->coerced, 4);
   mn_stats_destroy(into);
   mn_stats_destroy(from);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats_drift_key_field_names),
      cmocka_unit_test(test_stats_drift_key_data),
      cmocka_unit_test(test_stats_unmapped_hidden_by_default),
      cmocka_unit_test(test_stats_unmapped_nothing),
      cmocka_unit_test(test_stats_unmapped_capped),
      cmocka_unit_test(test_stats_unmapped_count_saturates),
      cmocka_unit_test(test_stats_reason_kind_names_kept_values_hidden),
      cmocka_unit_test(test_stats_reject_examples),
      cmocka_unit_test(test_stats_merge_equals_one_pass),
      cmocka_unit_test(test_stats_merge_counts_paths_once),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
