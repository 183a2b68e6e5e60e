/*
 * test_mapping.c - loading mapping files: valid ones, and every kind of broken one with
 * the exact error text (docs/mapping.md: errors name the file, the line and the key).
 * The broken ones are the `%%FAIL` cases of tests/mapping_errors.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mongonorm/convert.h>
#include <mongonorm/mapping.h>

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of every mapping here. */
#define HEAD "version: 1\n"

/* A collection "users" and its primary table, for mappings that add to it. */
#define COLL "collections:\n  - collection: users\n    tables:\n"
#define USERS_PRIMARY                                                                              \
   "      - table: users\n"                                                                        \
   "        columns: {email: email}\n"

/* A mapping whose one column "c" is `spec`. */
#define COL(spec) HEAD COLL "      - table: users\n        columns:\n          c: " spec "\n"

typedef struct {
   mn_error_t error;
   mn_mapping_t *m;
} fixture_t;

static int
setup(void **state)
{
   fixture_t *f = calloc(1, sizeof *f);
   *state = f;
   return f ? 0 : -1;
}

static int
teardown(void **state)
{
   fixture_t *f = *state;
   mn_mapping_destroy(f->m);
   free(f);
   return 0;
}

static mn_mapping_t *
load(fixture_t *f, const char *yaml)
{
   mn_mapping_destroy(f->m);
   memset(&f->error, 0, sizeof f->error);
   f->m = mn_mapping_load_string(yaml, strlen(yaml), "m.yaml", &f->error);
   return f->m;
}

static int
table_index(const mn_mapping_t *m, const char *name)
{
   for (size_t i = 0; i < mn_mapping_n_tables(m); i++) {
      if (strcmp(mn_mapping_table_name(m, i), name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

/* Whether table t of m has a column of this name. */
static bool
has_column(const mn_mapping_t *m, int t, const char *name)
{
   for (size_t c = 0; c < mn_mapping_table_n_columns(m, (size_t)t); c++) {
      if (strcmp(mn_mapping_table_column(m, (size_t)t, c), name) == 0) {
         return true;
      }
   }
   return false;
}

/* Load a mapping that must load; fail with its error otherwise. */
static mn_mapping_t *
must_load(fixture_t *f, const char *yaml)
{
   if (!load(f, yaml)) {
      fail_msg("mapping did not load: %s", f->error.message);
   }
   return f->m;
}

/* ---- valid mappings ---- */

static void
test_mapping_minimal(void **state)
{
   fixture_t *f = *state;
   mn_mapping_t *m = load(f, HEAD "collections:\n"
                                  "  - collection: users\n"
                                  "    tables:\n"
                                  "      - table: users\n"
                                  "        columns:\n"
                                  "          email: {path: email, type: text}\n");

   assert_non_null(m);
   assert_string_equal(mn_mapping_schema(m), "public");
   assert_int_equal(mn_mapping_n_collections(m), 1);
   assert_string_equal(mn_mapping_collection_name(m, 0), "users");
   assert_int_equal(mn_mapping_n_tables(m), 1);
   assert_string_equal(mn_mapping_table_name(m, 0), "users");
   assert_true(mn_mapping_table_is_primary(m, 0));
   /* the key column comes first, then the declared columns */
   assert_int_equal(mn_mapping_table_n_columns(m, 0), 2);
   assert_string_equal(mn_mapping_table_column(m, 0, 0), "id");
   assert_string_equal(mn_mapping_table_column(m, 0, 1), "email");
   assert_int_equal(mn_mapping_table_doc_column(m, 0), 0);
}

/* Every key of the format, in one mapping. */
static const char FULL_FEATURED[] =
   HEAD "schema: shop\n"
        "collections:\n"
        "  - collection: customers\n"
        "    tables:\n"
        "      - table: customers\n"
        "        key: customer_id\n"
        "        columns:\n"
        "          name: name\n"
        "  - collection: orders\n"
        "    ignore: [__v, internal.debug]\n"
        "    watermark: updatedAt\n"
        "    defaults: {on_invalid: null, on_missing: skip_row, on_missing_reference: null}\n"
        "    tables:\n"
        "      - table: orders\n"
        "        unique: [number]\n"
        "        on_duplicate: reject\n"
        "        columns:\n"
        "          number: {path: [number, legacy.no], type: integer, required: true,\n"
        "                   on_missing: reject}\n"
        "          customer_id: {path: customer, type: uuid, references: customers}\n"
        "          total: {path: total, type: numeric, precision: 10, scale: 2,\n"
        "                  raw_to: total_text}\n"
        "          height: {path: h, type: numeric, units: {default: cm, cm: 1, m: 100}}\n"
        "          status: {path: status, transform: [trim, lower], enum: [open, closed],\n"
        "                   empty: \"null\"}\n"
        "          source: {const: mongo}\n"
        "      - table: order_lines\n"
        "        name: lines\n"
        "        each: lines\n"
        "        on_scalar: single\n"
        "        when: {any: [{path: kind, in: [a, b], ignore_case: true},\n"
        "                     {not: {exists: gone}}, {all: [{nonempty: sku}]}]}\n"
        "        unique: [order_id, sku]\n"
        "        on_duplicate: merge\n"
        "        columns:\n"
        "          order_id: {value: doc_id}\n"
        "          ordinal: {value: index}\n"
        "          customer: {path: $doc.customer, type: uuid}\n"
        "        shapes:\n"
        "          string: {sku: {path: $, type: text}}\n"
        "          document: {sku: {path: sku}, qty: {path: qty, type: smallint}}\n"
        "        on_other_shape: skip_row\n"
        "      - table: line_taxes\n"
        "        parent: lines\n"
        "        each: taxes\n"
        "        split: \",\"\n"
        "        columns:\n"
        "          order_id: {value: doc_id}\n"
        "          line_id: {value: parent_id}\n"
        "          sku: {path: $parent.sku}\n"
        "          tax: {path: $}\n"
        "      - table: order_attrs\n"
        "        each: attrs\n"
        "        each_as: map\n"
        "        columns:\n"
        "          order_id: {value: doc_id}\n"
        "          attr: {value: key}\n"
        "          attr_upper: {path: $key, transform: [upper]}\n"
        "          value: {path: $, type: jsonb}\n";

static void
test_mapping_full_featured(void **state)
{
   mn_mapping_t *m = must_load(*state, FULL_FEATURED);
   int orders, lines;

   assert_string_equal(mn_mapping_schema(m), "shop");
   assert_int_equal(mn_mapping_n_collections(m), 2);
   assert_int_equal(mn_mapping_n_tables(m), 5);
   assert_int_equal(table_index(m, "customers"), 0);
   assert_string_equal(mn_mapping_table_column(m, 0, 0), "customer_id");
   orders = table_index(m, "orders");
   lines = table_index(m, "order_lines");
   assert_true(orders > 0 && lines > 0);
   assert_true(mn_mapping_table_is_primary(m, (size_t)orders));
   assert_false(mn_mapping_table_is_primary(m, (size_t)lines));
   assert_int_equal(mn_mapping_table_collection(m, (size_t)lines), 1);
   /* raw_to adds its column to the table */
   assert_true(has_column(m, orders, "total_text"));
   /* shape columns belong to the table too; the doc_id column is order_id */
   assert_string_equal(
      mn_mapping_table_column(m, (size_t)lines, mn_mapping_table_doc_column(m, (size_t)lines)),
      "order_id");
   assert_true(has_column(m, lines, "sku") && has_column(m, lines, "qty"));
}

static void
test_mapping_two_entries_one_table(void **state)
{
   fixture_t *f = *state;
   mn_mapping_t *m =
      load(f, HEAD "collections:\n"
                   "  - collection: users\n"
                   "    tables:\n"
                   "      - table: users\n"
                   "        columns: {email: email}\n"
                   "      - table: history\n"
                   "        name: past\n"
                   "        each: past\n"
                   "        columns: {user_id: {value: doc_id}, what: {path: $}}\n"
                   "      - table: history\n"
                   "        name: future\n"
                   "        each: future\n"
                   "        columns: {user_id: {value: doc_id}, when: {path: at}}\n");
   int h;

   if (!m) {
      fail_msg("%s", f->error.message);
   }
   assert_int_equal(mn_mapping_n_tables(m), 2);
   h = table_index(m, "history");
   /* the union of the columns: id, user_id, what, when */
   assert_int_equal(mn_mapping_table_n_columns(m, (size_t)h), 4);
}

static void
test_mapping_medichat(void **state)
{
   fixture_t *f = *state;

   memset(&f->error, 0, sizeof f->error);
   f->m = mn_mapping_load(MN_SOURCE_DIR "/mapping/medichat.yaml", &f->error);
   if (!f->m) {
      fail_msg("%s", f->error.message);
   }
   assert_int_equal(mn_mapping_n_collections(f->m), 3);
   assert_string_equal(mn_mapping_collection_name(f->m, 0), "users");
   assert_string_equal(mn_mapping_collection_name(f->m, 1), "conversations");
   assert_string_equal(mn_mapping_collection_name(f->m, 2), "activity_logs");
   /* users, patient_medical_info, allergies, medications, medical_history,
    * emergency_contacts, conversations, messages, symptoms, attachments, prescriptions,
    * activity_logs */
   assert_int_equal(mn_mapping_n_tables(f->m), 12);
   assert_true(mn_mapping_table_is_primary(f->m, (size_t)table_index(f->m, "users")));
   assert_true(mn_mapping_table_is_primary(f->m, (size_t)table_index(f->m, "conversations")));
   assert_true(mn_mapping_table_is_primary(f->m, (size_t)table_index(f->m, "activity_logs")));
   assert_false(mn_mapping_table_is_primary(f->m, (size_t)table_index(f->m, "medical_history")));
   assert_true(table_index(f->m, "prescriptions") >= 0);
}

static void
test_mapping_missing_file(void **state)
{
   fixture_t *f = *state;

   f->m = mn_mapping_load("/nonexistent/m.yaml", &f->error);
   assert_null(f->m);
   assert_int_equal(f->error.domain, MN_ERROR_IO);
   assert_string_equal(f->error.message,
                       "could not open mapping file \"/nonexistent/m.yaml\": No such file or "
                       "directory");
}

static void
test_mapping_raw_to_in_shape_adds_column(void **state)
{
   fixture_t *f = *state;
   mn_mapping_t *m = load(f, HEAD COLL USERS_PRIMARY
                          "      - table: e\n        each: e\n"
                          "        columns: {user_id: {value: doc_id}}\n"
                          "        shapes:\n          document: {v: {path: v, type: integer,\n"
                          "            on_invalid: null, raw_to: v_text}}\n");

   if (!m) {
      fail_msg("%s", f->error.message);
   }
   assert_true(has_column(m, table_index(m, "e"), "v_text"));
}

/* The columns of table t of m, joined with spaces. */
static char *
table_columns(const mn_mapping_t *m, int t)
{
   GString *s = g_string_new(NULL);

   for (size_t c = 0; c < mn_mapping_table_n_columns(m, (size_t)t); c++) {
      g_string_append_printf(s, "%s%s", c ? " " : "", mn_mapping_table_column(m, (size_t)t, c));
   }
   return g_string_free(s, FALSE);
}

/* flatten's names (default and given prefixes, snake_case, column:) and unmapped_to's
 * column, in the order the table gets them: the entry's columns, then the flattened ones,
 * then the catch-all (raw_to's own column where it is resolved, last). */
static void
test_mapping_flatten_unmapped_columns(void **state)
{
   fixture_t *f = *state;
   mn_mapping_t *m =
      must_load(f, HEAD COLL
                "      - table: users\n"
                "        columns: {email: email}\n"
                "        flatten:\n"
                "          - path: profile\n"
                "            columns:\n"
                "              firstName: text\n"
                "              address.zipCode: {type: text, on_invalid: null, raw_to: zip_raw}\n"
                "              geo.0: {type: double precision, column: lng}\n"
                "              HTTPCode2xx: integer\n"
                "          - path: $doc.meta.lastSeen\n"
                "            prefix: ''\n"
                "            columns: {at: timestamptz, ipAddress: inet}\n"
                "        unmapped_to: extra\n");
   char *cols = table_columns(m, table_index(m, "users"));

   assert_string_equal(cols, "id email profile_first_name profile_address_zip_code lng "
                             "profile_httpcode2xx at ip_address extra zip_raw");
   g_free(cols);
}

#define LINES_ENTRY                                                                                \
   "      - table: lines\n"                                                                        \
   "        each: items\n"                                                                         \
   "        columns: {user_id: {value: doc_id}}\n"

static void
test_mapping_array_paths_valid(void **state)
{
   fixture_t *f = *state;
   const char *yaml =
      HEAD COLL "      - table: users\n"
                "        columns:\n"
                "          first: items.0.name\n"
                "          last: {path: items.-1.name}\n"
                "          numeric_key: sizes.01\n"
                "          contact: contacts.name\n"
                "          usd: prices.usd\n"
                "          tag: tags.x\n" LINES_ENTRY "      - table: contacts\n"
                "        each: contacts\n"
                "        on_scalar: single\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: prices\n"
                "        each: prices\n"
                "        each_as: map\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: tags\n"
                "        each: tags\n"
                "        split: \",\"\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: rings\n"
                "        each: geometry.coordinates\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: points\n"
                "        parent: rings\n"
                "        each: $\n"
                "        columns: {user_id: {value: doc_id}, lng: 0, lat: 1, point: {path: $, "
                "type: jsonb}}\n"
                "      - table: line_tags\n"
                "        parent: lines\n"
                "        each: tags.-1.names\n"
                "        when: {exists: $parent.0}\n"
                "        columns: {user_id: {value: doc_id}, first_line: $doc.items.0.name}\n";

   if (!load(f, yaml)) {
      fail_msg("%s", f->error.message);
   }
   assert_int_equal(mn_mapping_n_tables(f->m), 8);
}

/* ---- broken mappings: the %%FAIL cases of tests/mapping_errors.txt ---- */

#define ERRORS_FILE "tests/mapping_errors.txt"

/* The MN_MAPPING_* code named on a %%FAIL line, without its prefix; 0 for none. */
static uint32_t
code_from_name(const char *name)
{
   static const struct {
      const char *name;
      uint32_t code;
   } CODES[] = {{"SYNTAX", MN_MAPPING_SYNTAX},
                {"UNKNOWN_KEY", MN_MAPPING_UNKNOWN_KEY},
                {"BAD_VALUE", MN_MAPPING_BAD_VALUE},
                {"MISSING_KEY", MN_MAPPING_MISSING_KEY},
                {"BAD_REFERENCE", MN_MAPPING_BAD_REFERENCE}};

   for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++) {
      if (strcmp(CODES[i].name, name) == 0) {
         return CODES[i].code;
      }
   }
   return 0;
}

/* Load one case's YAML: it must fail with exactly this code and message.  Says why not. */
static bool
check_fail_case(fixture_t *f, const char *name, size_t line, uint32_t code, const char *yaml,
                const char *message)
{
   if (load(f, yaml)) {
      print_error("%s:%zu: case \"%s\": the mapping loaded\n   expected: %s\n", ERRORS_FILE, line,
                  name, message);
      return false;
   }
   if (f->error.domain != MN_ERROR_MAPPING || f->error.code != code ||
       strcmp(f->error.message, message) != 0) {
      print_error("%s:%zu: case \"%s\"\n   expected: code %u: %s\n   got:      domain %u code "
                  "%u: %s\n",
                  ERRORS_FILE, line, name, code, message, f->error.domain, f->error.code,
                  f->error.message);
      return false;
   }
   return true;
}

/*
 * The case that starts at lines[*i], a `%%FAIL <code> <name>` line: its YAML (the lines up
 * to the blank one that ends it, but the last) and its message (that last line) are
 * checked; *i is left on the blank line.  A malformed case fails the test at its line.
 */
static bool
run_fail_case(fixture_t *f, char **lines, size_t *i)
{
   size_t start = *i;
   char **head = g_strsplit(lines[start] + strlen("%%FAIL "), " ", 2);
   uint32_t code = head[0] ? code_from_name(head[0]) : 0;
   GString *yaml = g_string_new(NULL);
   const char *message = NULL;
   bool ok;

   if (!code || !head[1]) {
      fail_msg("%s:%zu: expected \"%%%%FAIL <code> <name>\"", ERRORS_FILE, start + 1);
   }
   for (*i = start + 1; lines[*i] && *lines[*i]; (*i)++) {
      if (message) {
         g_string_append_printf(yaml, "%s\n", message);
      }
      message = lines[*i];
   }
   if (!message) {
      fail_msg("%s:%zu: case \"%s\" has no message", ERRORS_FILE, start + 1, head[1]);
   }
   ok = check_fail_case(f, head[1], start + 1, code, yaml->str, message);
   g_string_free(yaml, TRUE);
   g_strfreev(head);
   return ok;
}

/*
 * Every case of tests/mapping_errors.txt (its head says the format) must fail to load with
 * its exact code and message.  All cases run; each failing one is named with its line,
 * then the test fails.  The salt_env cases need one salt too short and one missing.
 */
static void
test_mapping_errors(void **state)
{
   char *text = NULL;
   char **lines;
   size_t cases = 0, failed = 0;

   setenv("MN_TEST_SHORT_SALT", "0123456789abcde", 1); /* 15 bytes */
   unsetenv("MN_TEST_NO_SUCH_SALT");
   if (!g_file_get_contents(MN_SOURCE_DIR "/" ERRORS_FILE, &text, NULL, NULL)) {
      fail_msg("could not read %s", ERRORS_FILE);
   }
   lines = g_strsplit(text, "\n", -1);
   for (size_t i = 0; lines[i]; i++) {
      if (g_str_has_prefix(lines[i], "%%FAIL ")) {
         cases++;
         failed += !run_fail_case(*state, lines, &i);
         if (!lines[i]) {
            break;
         }
      } else if (*lines[i] && lines[i][0] != '#') {
         fail_msg("%s:%zu: expected a comment, a blank line or \"%%%%FAIL\"", ERRORS_FILE, i + 1);
      }
   }
   unsetenv("MN_TEST_SHORT_SALT");
   g_strfreev(lines);
   g_free(text);
   if (failed) {
      fail_msg("%zu of the %zu cases of %s failed", failed, cases, ERRORS_FILE);
   }
   /* the 121 cases that were C strings before, none lost */
   assert_true(cases >= 121);
}

/* Many keys: the duplicate check does not depend on their order (sorted, not pairwise). */
static void
test_mapping_duplicate_key_many(void **state)
{
   fixture_t *f = *state;
   GString *yaml = g_string_new(HEAD COLL "      - table: users\n        columns:\n");
   for (int i = 0; i < 5000; i++) {
      g_string_append_printf(yaml, "          c%d: c%d\n", i, i);
   }
   g_string_append(yaml, "          c17: again\n");
   if (load(f, yaml->str)) {
      fail_msg("a mapping with a duplicate column loaded");
   }
   assert_string_equal(f->error.message, "mapping file \"m.yaml\", line 5007: key \"c17\" is "
                                         "given twice (first at line 24)");
   g_string_free(yaml, TRUE);
}

/* The mappings of the tree have no duplicate key, and still load. */
static void
test_mapping_tree_files_load(void **state)
{
   fixture_t *f = *state;
   const char *files[] = {"mapping/medichat.yaml", "tests/metamorphic/mapping.yaml",
                          "tests/cutover/mapping.yaml"};
   GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
   GDir *dir = g_dir_open(MN_SOURCE_DIR "/fixtures/cases", 0, NULL);
   const char *name;
   size_t cases = 0;

   assert_non_null(dir);
   for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
      g_ptr_array_add(paths, g_strdup_printf("%s/%s", MN_SOURCE_DIR, files[i]));
   }
   while ((name = g_dir_read_name(dir))) {
      char *p = g_strdup_printf("%s/fixtures/cases/%s/mapping.yaml", MN_SOURCE_DIR, name);
      char *expected = g_strdup_printf("%s/fixtures/cases/%s/expected.txt", MN_SOURCE_DIR, name);
      char *text = NULL;

      /* cases whose expected outcome is a mapping error are not meant to load */
      if (g_file_test(p, G_FILE_TEST_EXISTS) && g_file_get_contents(expected, &text, NULL, NULL) &&
          !g_str_has_prefix(text, "mapping error: ")) {
         g_ptr_array_add(paths, p);
         p = NULL;
         cases++;
      }
      g_free(text);
      g_free(expected);
      g_free(p);
   }
   g_dir_close(dir);
   assert_true(cases >= 20);
   for (guint i = 0; i < paths->len; i++) {
      const char *path = g_ptr_array_index(paths, i);
      mn_mapping_destroy(f->m);
      memset(&f->error, 0, sizeof f->error);
      f->m = mn_mapping_load(path, &f->error);
      if (!f->m) {
         fail_msg("%s: %s", path, f->error.message);
      }
   }
   g_ptr_array_free(paths, TRUE);
}

/* ---- column PHI controls: transform [sha256], salt_env, redact ---- */

/* sha256 after the other transforms, on any type: it digests the text the column stores */
static void
test_mapping_sha256_last_loads(void **state)
{
   must_load(*state, COL("{path: a, type: date, transform: [trim, upper, sha256]}"));
}

static void
test_mapping_salt_fingerprint(void **state)
{
   fixture_t *f = *state;
   char plain[65], salted[65];

   setenv("MN_TEST_SALT", "a salt of more than sixteen bytes", 1);
   /* the fingerprint follows the salt, and is the file's SHA-256 without one */
   must_load(f, COL("{path: a, transform: [sha256]}"));
   snprintf(plain, sizeof plain, "%s", mn_mapping_digest(f->m));
   must_load(f, COL("{path: a, transform: [sha256], salt_env: MN_TEST_SALT}"));
   snprintf(salted, sizeof salted, "%s", mn_mapping_digest(f->m));
   assert_string_not_equal(plain, salted);
   must_load(f, COL("{path: a, transform: [sha256], salt_env: MN_TEST_SALT}"));
   assert_string_equal(mn_mapping_digest(f->m), salted);
   setenv("MN_TEST_SALT", "a salt of more than sixteen bytes, changed", 1);
   must_load(f, COL("{path: a, transform: [sha256], salt_env: MN_TEST_SALT}"));
   assert_string_not_equal(mn_mapping_digest(f->m), salted);
   assert_null(strstr(mn_mapping_digest(f->m), "salt"));
   unsetenv("MN_TEST_SALT");
}

/* A replacement storable in the column's type (text, uuid, numeric, date, jsonb) loads. */
static void
test_mapping_redact_replacements_load(void **state)
{
   /* these load: plain true/null/empty are NULL, false is no redaction, a quoted "true" is a
    * replacement; jsonb takes any text (as a JSON string), numbers are stored as converted */
   must_load(*state, COL("{path: a, type: text, redact: \"true\"}"));
   must_load(*state, COL("{path: a, type: boolean, redact: \"false\"}"));
   must_load(*state, COL("{path: a, type: text, redact: false, required: true}"));
   must_load(*state, COL("{path: a, type: text, redact: null}"));
   must_load(*state, COL("{path: a, type: text, redact: ~}"));
   must_load(*state, HEAD COLL "      - table: users\n"
                               "        columns:\n"
                               "          c:\n"
                               "            path: a\n"
                               "            redact:\n");
   must_load(*state, COL("{path: a, type: jsonb, redact: \"{}\"}"));
   must_load(*state, COL("{path: a, type: numeric, scale: 2, redact: \"1.005\"}"));
   must_load(*state,
             COL("{path: a, type: uuid, redact: \"00000000-0000-0000-0000-000000000000\"}"));
   must_load(*state, COL("{path: a, type: timestamptz, redact: \"1900-01-01T00:00:00Z\"}"));
   must_load(*state, COL("{path: a, type: \"text[]\", redact: \"x\"}"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
   const struct CMUnitTest tests[] = {
      T(test_mapping_minimal),
      T(test_mapping_full_featured),
      T(test_mapping_two_entries_one_table),
      T(test_mapping_medichat),
      T(test_mapping_missing_file),
      T(test_mapping_raw_to_in_shape_adds_column),
      T(test_mapping_flatten_unmapped_columns),
      T(test_mapping_array_paths_valid),
      T(test_mapping_errors),
      T(test_mapping_duplicate_key_many),
      T(test_mapping_tree_files_load),
      T(test_mapping_sha256_last_loads),
      T(test_mapping_salt_fingerprint),
      T(test_mapping_redact_replacements_load),
   };
#undef T
   return cmocka_run_group_tests(tests, NULL, NULL);
}
