/*
 * test_generate.c - the generator: determinism, counts, every mess kind at rate 0 and
 * at rate 1 (through --mess), the manifest's expectations, and model loading errors
 * with the exact message (docs/generate.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mongonorm/generate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD "version: 1\ncollections:\n"
#define COLL(n, scale)                                                                             \
   "  - collection: " n "\n    count: {per_scale: " scale "}\n    fields:\n"                       \
   "      _id: {objectid: {from: \"2020-01-01\", to: \"2021-01-01\"}}\n"

typedef struct {
   uint64_t docs;
   uint64_t hash;
   bson_t last;
   bool have_last;
} sink_t;

static bool
sink(void *ctx, const char *collection, const bson_t *doc, mn_error_t *error)
{
   sink_t *s = ctx;
   (void)collection;
   (void)error;
   s->docs++;
   for (uint32_t i = 0; i < doc->len; i++) { /* FNV-1a over every byte */
      s->hash = (s->hash ^ bson_get_data(doc)[i]) * 0x100000001b3ull;
   }
   if (s->have_last) {
      bson_destroy(&s->last);
   }
   bson_copy_to(doc, &s->last);
   s->have_last = true;
   return true;
}

static mn_gen_model_t *
load(const char *yaml)
{
   mn_error_t e = {0};
   mn_gen_model_t *m = mn_gen_model_load_string(yaml, strlen(yaml), "t.yaml", NULL, &e);
   if (!m) {
      fail_msg("model did not load: %s", e.message);
   }
   return m;
}

/* Generate; return the manifest, fill the sink. */
static mn_gen_manifest_t *
gen(const mn_gen_model_t *m, uint64_t scale, uint64_t seed, uint64_t mess_ppm, sink_t *s)
{
   mn_gen_opts_t o = {scale, seed, mess_ppm, NULL};
   mn_gen_manifest_t *mf = NULL;
   mn_error_t e = {0};

   memset(s, 0, sizeof *s);
   s->hash = 0xcbf29ce484222325ull;
   assert_true(mn_gen_run(m, &o, sink, s, &mf, &e));
   return mf;
}

static void
sink_cleanup(sink_t *s)
{
   if (s->have_last) {
      bson_destroy(&s->last);
   }
}

static void
test_generate_deterministic(void **state)
{
   char path[1024];
   mn_error_t e = {0};
   mn_gen_model_t *m;
   sink_t a, b, c;
   mn_gen_manifest_t *ma, *mb, *mc;
   char *ja, *jb;
   (void)state;

   snprintf(path, sizeof path, "%s/fixtures/medichat/generator.yaml", MN_SOURCE_DIR);
   m = mn_gen_model_load(path, &e);
   assert_non_null(m);
   ma = gen(m, 50, 3, MN_GEN_MESS_ONE, &a);
   mb = gen(m, 50, 3, MN_GEN_MESS_ONE, &b);
   mc = gen(m, 50, 4, MN_GEN_MESS_ONE, &c);
   assert_int_equal(a.docs, 50 * 14);
   assert_int_equal(mn_gen_manifest_documents(ma, "users"), 50);
   assert_int_equal(mn_gen_manifest_documents(ma, "conversations"), 150);
   assert_int_equal(mn_gen_manifest_documents(ma, "activity_logs"), 500);
   assert_true(a.hash == b.hash);
   assert_true(a.hash != c.hash);
   ja = mn_gen_manifest_to_json(ma);
   jb = mn_gen_manifest_to_json(mb);
   assert_string_equal(ja, jb);
   bson_free(ja);
   bson_free(jb);
   mn_gen_manifest_destroy(ma);
   mn_gen_manifest_destroy(mb);
   mn_gen_manifest_destroy(mc);
   sink_cleanup(&a);
   sink_cleanup(&b);
   sink_cleanup(&c);
   mn_gen_model_destroy(m);
}

/* A field with one mess kind; at mess 0 it never fires, at mess 1 (rate 1) every time. */
typedef struct {
   const char *kind;
   const char *field; /* the field spec, with {MESS} where the mess list goes */
   const char *check; /* what the last document's field must look like at rate 1 */
} mess_case_t;

static void
check_value(const bson_t *doc, const char *check)
{
   bson_iter_t it;
   bool found = bson_iter_init_find(&it, doc, "f");

   if (!strcmp(check, "absent")) {
      assert_false(found);
      return;
   }
   assert_true(found);
   if (!strcmp(check, "null")) {
      assert_true(BSON_ITER_HOLDS_NULL(&it));
   } else if (!strcmp(check, "upper-or-lower")) {
      assert_true(BSON_ITER_HOLDS_UTF8(&it));
      assert_string_not_equal(bson_iter_utf8(&it, NULL), "abc");
   } else if (!strcmp(check, "spaces")) {
      const char *s = bson_iter_utf8(&it, NULL);
      assert_true(s[0] == ' ' || s[0] == '\t');
   } else if (!strcmp(check, "empty")) {
      assert_string_equal(bson_iter_utf8(&it, NULL), "");
   } else if (!strcmp(check, "scalar")) {
      assert_true(BSON_ITER_HOLDS_UTF8(&it));
   } else if (!strcmp(check, "int64")) {
      assert_true(BSON_ITER_HOLDS_INT64(&it));
   } else if (!strcmp(check, "oid")) {
      assert_true(BSON_ITER_HOLDS_OID(&it));
   } else if (!strcmp(check, "array3")) {
      uint32_t len;
      const uint8_t *data;
      bson_t arr;
      assert_true(BSON_ITER_HOLDS_ARRAY(&it));
      bson_iter_array(&it, &len, &data);
      bson_init_static(&arr, data, len);
      assert_int_equal(bson_count_keys(&arr), 3);
   }
}

static void
test_generate_mess_kinds(void **state)
{
   static const mess_case_t cases[] = {
      {"missing", "{const: abc, mess: [{kind: missing, rate: 1}]}", "absent"},
      {"null", "{const: abc, mess: [{kind: null, rate: 1}]}", "null"},
      {"case", "{const: abc, mess: [{kind: case, rate: 1}]}", "upper-or-lower"},
      {"spaces", "{const: abc, mess: [{kind: spaces, rate: 1}]}", "spaces"},
      {"empty", "{const: abc, mess: [{kind: empty, rate: 1}]}", "empty"},
      {"replace", "{int: [1, 2], mess: [{kind: replace, rate: 1, with: {long: [5, 5]}}]}", "int64"},
      {"scalar", "{array: {count: 2, of: {const: abc}}, rows: t, mess: [{kind: scalar, rate: 1}]}",
       "scalar"},
      {"huge",
       "{array: {count: 1, of: {const: abc}}, rows: t, mess: [{kind: huge, rate: 1, count: 3}]}",
       "array3"},
      {"duplicate",
       "{array: {count: 2, of: {pick: [a, b]}, distinct: true}, rows: t, mess: [{kind: duplicate, "
       "rate: 1, expect: merge}]}",
       "array3"},
      {"dangling", "{ref: {collection: c}, mess: [{kind: dangling, rate: 1}]}", "oid"},
   };
   (void)state;

   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char yaml[2048];
      mn_gen_model_t *m;
      mn_gen_manifest_t *m0, *m1;
      sink_t s0, s1;

      snprintf(yaml, sizeof yaml, HEAD COLL("c", "1") "      f: %s\n", cases[i].field);
      m = load(yaml);
      m0 = gen(m, 20, 1, 0, &s0);
      m1 = gen(m, 20, 1, MN_GEN_MESS_ONE, &s1);
      assert_int_equal(mn_gen_manifest_injected(m0, "c", "f", cases[i].kind), 0);
      assert_int_equal(mn_gen_manifest_injected(m1, "c", "f", cases[i].kind), 20);
      check_value(&s1.last, cases[i].check);
      if (!strcmp(cases[i].kind, "duplicate")) {
         assert_int_equal(mn_gen_manifest_rows(m1, "t"), 40);
         assert_int_equal(mn_gen_manifest_merged(m1, "t"), 20);
         assert_int_equal(mn_gen_manifest_rows(m0, "t"), 40);
      }
      if (!strcmp(cases[i].kind, "scalar")) {
         assert_int_equal(mn_gen_manifest_rows(m1, "t"), 20);
         assert_int_equal(mn_gen_manifest_rows(m0, "t"), 40);
      }
      mn_gen_manifest_destroy(m0);
      mn_gen_manifest_destroy(m1);
      sink_cleanup(&s0);
      sink_cleanup(&s1);
      mn_gen_model_destroy(m);
   }
}

/* Expectations: reject, skip, one reject cause per document, cascades through refs. */
static void
test_generate_expectations(void **state)
{
   (void)state;
   mn_gen_model_t *m = load(HEAD COLL(
      "u", "1") "      role: {const: a, mess: [{kind: replace, rate: 0.5, expect: reject, with: "
                "{const: x}}]}\n"
                "      name: {const: a, mess: [{kind: missing, rate: 1, expect: reject}]}\n"
                "      tags:\n"
                "        rows: tags\n"
                "        array: {count: 2, of: {const: t, mess: [{kind: empty, rate: 1, expect: "
                "skip}]}}\n" COLL(
                   "c", "2") "      owner: {ref: {collection: u, on_rejected_target: reject}}\n"
                             "    rows: [c]\n");
   sink_t s;
   mn_gen_manifest_t *mf = gen(m, 100, 9, MN_GEN_MESS_ONE, &s);
   char *json = mn_gen_manifest_to_json(mf);

   /* every user is rejected exactly once (role or name), so every conversation too */
   assert_int_equal(mn_gen_manifest_rejected(mf, "u"), 100);
   assert_int_equal(mn_gen_manifest_rejected(mf, "c"), 200);
   assert_int_equal(mn_gen_manifest_injected(mf, "u", "role", "replace") +
                       mn_gen_manifest_injected(mf, "u", "name", "missing"),
                    100);
   assert_int_equal(mn_gen_manifest_rows(mf, "c"), 0);
   assert_int_equal(mn_gen_manifest_skipped(mf, "tags"), 0); /* rejected documents count none */
   assert_non_null(strstr(json, "\"owner\": 200"));
   bson_free(json);
   mn_gen_manifest_destroy(mf);
   mf = gen(m, 100, 9, 0, &s);
   assert_int_equal(mn_gen_manifest_rejected(mf, "c"), 0);
   assert_int_equal(mn_gen_manifest_rows(mf, "c"), 200);
   assert_int_equal(mn_gen_manifest_rows(mf, "tags"), 200);
   mn_gen_manifest_destroy(mf);
   sink_cleanup(&s);
   mn_gen_model_destroy(m);
}

static void
expect_error(const char *yaml, const char *message)
{
   mn_error_t e = {0};
   mn_gen_model_t *m = mn_gen_model_load_string(yaml, strlen(yaml), "t.yaml", NULL, &e);

   if (m) {
      mn_gen_model_destroy(m);
      fail_msg("model loaded, expected error: %s", message);
   }
   assert_int_equal(e.domain, MN_ERROR_MAPPING);
   assert_string_equal(e.message, message);
}

static void
test_generate_model_errors(void **state)
{
   (void)state;
   expect_error("", "model file \"t.yaml\": the file is empty");
   expect_error(
      "version: 2\ncollections: []\n",
      "model file \"t.yaml\", line 1: unsupported version \"2\" (this tool reads version 1)");
   expect_error("version: 1\ncolections: []\n",
                "model file \"t.yaml\", line 2: unknown key \"colections\" in the top level");
   expect_error(HEAD "  - collection: c\n    fields: {}\n",
                "model file \"t.yaml\", line 3: missing key \"count\" in collection \"c\"");
   expect_error(
      HEAD COLL("c", "1") "      a: {const: x, pick: [y]}\n",
      "model file \"t.yaml\", line 7: a field has one generator, not both \"const\" and \"pick\"");
   expect_error(
      HEAD COLL("c", "1") "      a: {const: x, mess: [{kind: typo, rate: 1}]}\n",
      "model file \"t.yaml\", line 7: unrecognized mess kind \"typo\" (expected one of: missing, "
      "null, case, spaces, empty, duplicate, dangling, scalar, replace, huge)");
   expect_error(HEAD COLL("c", "1") "      a: {const: x, mess: [{kind: null, rate: 2}]}\n",
                "model file \"t.yaml\", line 7: rate must be a number from 0 to 1, not \"2\"");
   expect_error(
      HEAD COLL("c", "1") "      a: {const: x, mess: [{kind: empty, rate: 1, expect: merge}]}\n",
      "model file \"t.yaml\", line 7: expect \"merge\" needs a row to act on: field \"a\" is not "
      "an element of an array with rows");
   expect_error(
      HEAD COLL("c", "1") "      a: {ref: {collection: d}}\n",
      "model file \"t.yaml\", line 7: ref names collection \"d\", which is neither this one nor "
      "declared before it");
   expect_error(
      HEAD COLL("c", "1") "      a: {template: \"x{nope}\"}\n",
      "model file \"t.yaml\", line 7: template \"x{nope}\": \"{nope}\" is no vocabulary, {index}, "
      "{int:LOW-HIGH} or {@field}");
   expect_error(HEAD
                "  - collection: c\n    count: {per_scale: 1}\n    fields:\n      a: {const: x}\n",
                "model file \"t.yaml\", line 6: collection \"c\" needs an _id field with objectid: "
                "{from, to}");
   expect_error(
      HEAD COLL("c", "1") "      a: {date: {from: \"2020-13-01\", to: \"2021-01-01\"}}\n",
      "model file \"t.yaml\", line 7: from must be a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not "
      "\"2020-13-01\""); /* a key given twice: an error, not "the first wins" (model files share
                            yamldoc.c) */
   expect_error(HEAD COLL("c", "1") "      a: {const: x}\n      a: {const: y}\n",
                "model file \"t.yaml\", line 8: key \"a\" is given twice (first at line 7)");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate_deterministic),
      cmocka_unit_test(test_generate_mess_kinds),
      cmocka_unit_test(test_generate_expectations),
      cmocka_unit_test(test_generate_model_errors),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
