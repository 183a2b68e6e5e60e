/*
 * test_infer.c - unit tests for infer/: the YAML scalar the draft writes for every name
 * and path reads back as the same text (parsed with libyaml, in block and flow context);
 * SQL identifiers are quoted exactly when PostgreSQL needs it (kwlist.h); snake_case names
 * within 63 bytes and unique; types decided from surveyed documents; the survey's memory
 * bounded by paths (an id-keyed map of many keys is one path); a catch-all per table whose
 * elements have fields, named clear of the columns.  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mongonorm/infer.h>

#include "infer/infer_private.h"

#include <bson/bson.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* The value of key "k" in the YAML text, parsed with libyaml; NULL when it does not parse. */
static char *
parse_value(const char *text)
{
   yaml_parser_t parser;
   yaml_event_t event;
   char *value = NULL;
   int scalars = 0;
   bool done = false;

   yaml_parser_initialize(&parser);
   yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
   while (!done) {
      if (!yaml_parser_parse(&parser, &event)) {
         g_free(value);
         value = NULL;
         break;
      }
      if (event.type == YAML_SCALAR_EVENT && ++scalars == 2) {
         value = g_strndup((const char *)event.data.scalar.value, event.data.scalar.length);
      }
      done = event.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&event);
   }
   yaml_parser_delete(&parser);
   return value;
}

static void
test_infer_yaml_scalar_reads_back(void **state)
{
   static const char *const texts[] = {
      "plain",    "a.b.c", "$",     "_id",         "",      "true",   "False",     "yes",
      "no",       "on",    "null",  "~",           "y",     "1",      "-1",        "1.5",
      "1e3",      ".5",    "0x1F",  "inf",         "nan",   "a: b",   "a:b",       "#x",
      "a #b",     "-x",    "- x",   "?x",          ":x",    "x:",     "[x]",       "{x}",
      "a,b",      "@x",    "`x",    "%x",          "!x",    "&x",     "*x",        "|",
      ">",        "'",     "\"q\"", "back\\slash", " lead", "trail ", "tab\there", "new\nline",
      "\x01\x7f", "größe", "日本",  "a\"b'c",      "--- x", "...",    "=",         "<<"};
   (void)state;

   for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
      char *q = mn_infer_yaml_scalar(texts[i], strlen(texts[i]));
      char *block = g_strdup_printf("k: %s\n", q);
      char *flow = g_strdup_printf("{k: %s, other: 1}\n", q);
      char *got = parse_value(block);
      char *got_flow = parse_value(flow);

      if (!got || strcmp(got, texts[i]) != 0 || !got_flow || strcmp(got_flow, texts[i]) != 0) {
         fail_msg("\"%s\" written as %s reads back as \"%s\" / \"%s\"", texts[i], q,
                  got ? got : "(error)", got_flow ? got_flow : "(error)");
      }
      g_free(got);
      g_free(got_flow);
      g_free(block);
      g_free(flow);
      bson_free(q);
   }
}

static void
expect_ident(const char *name, const char *want)
{
   char *got = mn_infer_sql_ident(name);

   assert_string_equal(got, want);
   bson_free(got);
}

static void
test_infer_sql_ident_quotes_keywords(void **state)
{
   (void)state;
   expect_ident("order", "\"order\""); /* reserved */
   expect_ident("user", "\"user\"");   /* reserved */
   expect_ident("left", "\"left\"");   /* type_func_name */
   expect_ident("int", "\"int\"");     /* col_name: quote_ident quotes it too */
   expect_ident("name", "name");       /* unreserved */
   expect_ident("ordinal", "ordinal"); /* not a keyword */
   expect_ident("a_b2", "a_b2");
   expect_ident("2a", "\"2a\"");
   expect_ident("Ab", "\"Ab\"");
   expect_ident("a\"b", "\"a\"\"b\"");
   assert_true(mn_infer__is_keyword("select"));
   assert_false(mn_infer__is_keyword("abort"));
   assert_false(mn_infer__is_keyword("zzz"));
}

static void
expect_snake(const char *text, const char *want)
{
   char *got = mn_infer__snake(text, strlen(text));

   assert_string_equal(got, want);
   g_free(got);
}

static void
test_infer_names_snake_and_unique(void **state)
{
   GHashTable *taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   char long_name[101];
   char *a, *b, *c;
   (void)state;

   expect_snake("fooBar", "foo_bar");
   expect_snake("HTTPServer", "http_server");
   expect_snake("item2Name", "item2_name");
   expect_snake("__v", "v");
   expect_snake("a.b-c d", "a_b_c_d");
   expect_snake("größe", "gr_e");
   expect_snake("2023", "f_2023");
   expect_snake("", "field");
   expect_snake("日本", "field");
   memset(long_name, 'x', 100);
   long_name[100] = '\0';
   a = mn_infer__snake(long_name, 100);
   assert_int_equal(strlen(a), 63);
   b = mn_infer__unique_name(taken, a);
   c = mn_infer__unique_name(taken, a);
   assert_string_equal(b, a);
   assert_int_equal(strlen(c), 63);
   assert_string_equal(c + 61, "_2");
   g_free(a);
   g_free(b);
   g_free(c);
   g_hash_table_destroy(taken);
}

/* The draft of one collection's documents given as JSON texts. */
static char *
draft_of(const char *const *docs, size_t n, mn_infer_opts_t *opts)
{
   mn_infer_survey_t *s = mn_infer_survey_new(opts);
   mn_infer_draft_t *d;
   char *yaml;

   for (size_t i = 0; i < n; i++) {
      bson_error_t err;
      bson_t *doc = bson_new_from_json((const uint8_t *)docs[i], -1, &err);
      assert_non_null(doc);
      mn_infer_survey_add(s, "things", doc);
      bson_destroy(doc);
   }
   d = mn_infer_draft_new(s);
   yaml = mn_infer_draft_yaml(d);
   mn_infer_draft_destroy(d);
   mn_infer_survey_destroy(s);
   return yaml;
}

static void
expect_line(const char *yaml, const char *line)
{
   if (!strstr(yaml, line)) {
      fail_msg("no \"%s\" in the draft:\n%s", line, yaml);
   }
}

static void
test_infer_types_by_values(void **state)
{
   static const char *const docs[] = {
      "{\"_id\": 1, \"i\": 1, \"l\": {\"$numberLong\": \"5\"}, \"big\": {\"$numberLong\": "
      "\"5000000000\"}, \"d\": 1.5, \"m\": 1, \"dec\": {\"$numberDecimal\": \"1.10\"}, "
      "\"b\": true, \"t\": {\"$date\": \"2024-01-01T00:00:00Z\"}, \"s\": \"x\", "
      "\"u\": {\"$binary\": {\"base64\": \"AAECAwQFBgcICQoLDA0ODw==\", \"subType\": \"04\"}}}",
      "{\"_id\": 2, \"i\": 2, \"l\": 7, \"big\": 1, \"d\": 2.5, \"m\": 2.5, \"dec\": 3, "
      "\"b\": false, \"t\": {\"$date\": \"2024-01-02T00:00:00Z\"}, \"s\": \"y\"}"};
   char *yaml = draft_of(docs, 2, NULL);
   (void)state;

   expect_line(yaml, "mongo_id: {path: _id, type: text}");
   expect_line(yaml, "i: {path: i, type: integer}");
   expect_line(yaml, "l: {path: l, type: integer}");
   expect_line(yaml, "big: {path: big, type: bigint}");
   expect_line(yaml, "d: {path: d, type: double precision}");
   expect_line(yaml, "m: {path: m, type: numeric}");
   expect_line(yaml, "dec: {path: dec, type: numeric}");
   expect_line(yaml, "b: {path: b, type: boolean}");
   expect_line(yaml, "t: {path: t, type: timestamptz}");
   expect_line(yaml, "s: {path: s, type: text}");
   expect_line(yaml, "u: {path: u, type: uuid}");
   bson_free(yaml);
}

static void
test_infer_map_is_one_path(void **state)
{
   GString *json = g_string_new("{\"_id\": 1, \"byId\": {");
   mn_infer_opts_t opts;
   const char *docs[1];
   char *yaml;
   (void)state;

   for (int i = 0; i < 20000; i++) {
      g_string_append_printf(json, "%s\"65000000000000000000%04x\": {\"qty\": %d}", i ? ", " : "",
                             i, i);
   }
   g_string_append(json, "}}");
   mn_infer_opts_init(&opts);
   opts.max_paths = 50; /* a map is far below it */
   docs[0] = json->str;
   yaml = draft_of(docs, 1, &opts);
   expect_line(yaml, "each: byId\n        each_as: map");
   expect_line(yaml, "qty: {path: qty, type: integer}");
   assert_null(strstr(yaml, "# REVIEW:"));
   bson_free(yaml);
   g_string_free(json, TRUE);
}

static void
test_infer_path_cap_makes_jsonb(void **state)
{
   GString *json = g_string_new("{\"_id\": 1, \"wide\": {");
   mn_infer_opts_t opts;
   const char *docs[1];
   char *yaml;
   (void)state;

   for (int i = 0; i < 100; i++) {
      g_string_append_printf(json, "%s\"field%c%c\": %d", i ? ", " : "", 'a' + i / 26, 'a' + i % 26,
                             i);
   }
   g_string_append(json, "}}");
   mn_infer_opts_init(&opts);
   opts.max_paths = 20;
   docs[0] = json->str;
   yaml = draft_of(docs, 1, &opts);
   expect_line(yaml, "wide: {path: wide, type: jsonb}  # REVIEW: more paths than --max-paths");
   bson_free(yaml);
   g_string_free(json, TRUE);
}

/* Every table whose elements are drafted field by field gets a catch-all, named clear of
 * its columns; a table of scalar elements (nothing to catch) gets none. */
static void
test_infer_catch_all_per_table(void **state)
{
   static const char *const docs[] = {
      "{\"_id\": 1, \"extra\": 1, \"items\": [{\"extra\": 2, \"extra_2\": 3}], "
      "\"tags\": [\"a\"]}"};
   char *yaml = draft_of(docs, 1, NULL);
   const char *items = strstr(yaml, "- table: things_items");
   const char *tags = strstr(yaml, "- table: things_tags");
   (void)state;

   assert_non_null(items);
   assert_non_null(tags);
   expect_line(yaml, "extra: {path: extra, type: integer}\n          ");
   expect_line(items, "extra_2: {path: extra_2, type: integer}\n        unmapped_to: extra_3\n");
   assert_true(strstr(yaml, "unmapped_to: extra_2\n") < items); /* the document's */
   assert_null(strstr(tags, "unmapped_to"));
   bson_free(yaml);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_infer_yaml_scalar_reads_back),
      cmocka_unit_test(test_infer_sql_ident_quotes_keywords),
      cmocka_unit_test(test_infer_names_snake_and_unique),
      cmocka_unit_test(test_infer_types_by_values),
      cmocka_unit_test(test_infer_map_is_one_path),
      cmocka_unit_test(test_infer_path_cap_makes_jsonb),
      cmocka_unit_test(test_infer_catch_all_per_table),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
