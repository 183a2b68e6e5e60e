/*
 * test_mapping.c - loading mapping files: valid ones, and every kind of broken one with
 * the exact error text (docs/mapping.md: errors name the file, the line and the key).
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

/* A minimal valid mapping, used as the base of most broken ones. */
#define HEAD "version: 1\n"

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

/* Loading must fail with exactly this message and code. */
static void
expect_error(void **state, const char *yaml, uint32_t code, const char *message)
{
   fixture_t *f = *state;

   if (load(f, yaml)) {
      fail_msg("mapping loaded, expected error: %s", message);
   }
   assert_int_equal(f->error.domain, MN_ERROR_MAPPING);
   assert_string_equal(f->error.message, message);
   assert_int_equal(f->error.code, code);
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

static void
test_mapping_full_featured(void **state)
{
   fixture_t *f = *state;
   mn_mapping_t *m = load(
      f, HEAD "schema: shop\n"
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
              "          value: {path: $, type: jsonb}\n");
   int orders, lines;

   if (!m) {
      fail_msg("%s", f->error.message);
   }
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
   {
      bool found = false;
      for (size_t c = 0; c < mn_mapping_table_n_columns(m, (size_t)orders); c++) {
         found = found || strcmp(mn_mapping_table_column(m, (size_t)orders, c), "total_text") == 0;
      }
      assert_true(found);
   }
   /* shape columns belong to the table too; the doc_id column is order_id */
   assert_string_equal(
      mn_mapping_table_column(m, (size_t)lines, mn_mapping_table_doc_column(m, (size_t)lines)),
      "order_id");
   {
      bool sku = false, qty = false;
      for (size_t c = 0; c < mn_mapping_table_n_columns(m, (size_t)lines); c++) {
         sku = sku || strcmp(mn_mapping_table_column(m, (size_t)lines, c), "sku") == 0;
         qty = qty || strcmp(mn_mapping_table_column(m, (size_t)lines, c), "qty") == 0;
      }
      assert_true(sku && qty);
   }
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

/* ---- broken mappings: top level ---- */

static void
test_mapping_yaml_syntax_error(void **state)
{
   /* the parser notices the unclosed list at the end of the input (line 4) */
   expect_error(state, HEAD "collections:\n  - collection: [users\n", MN_MAPPING_SYNTAX,
                "mapping file \"m.yaml\", line 4: did not find expected ',' or ']' while "
                "parsing a flow sequence");
}

static void
test_mapping_empty_file(void **state)
{
   expect_error(state, "", MN_MAPPING_SYNTAX, "mapping file \"m.yaml\": the file is empty");
}

static void
test_mapping_top_level_not_a_mapping(void **state)
{
   expect_error(state, "- a\n- b\n", MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 1: the top level must be a mapping");
}

static void
test_mapping_missing_version(void **state)
{
   expect_error(state, "collections: []\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 1: missing key \"version\" (this tool reads "
                "version 1)");
}

static void
test_mapping_wrong_version(void **state)
{
   expect_error(state, "version: 2\ncollections: []\n", MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 1: unsupported mapping version \"2\" (this tool "
                "reads version 1)");
}

static void
test_mapping_unknown_top_level_key(void **state)
{
   expect_error(state, HEAD "colections: []\n", MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 2: unknown key \"colections\" in the top level");
}

static void
test_mapping_missing_collections(void **state)
{
   expect_error(state, HEAD "schema: x\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 1: missing key \"collections\"");
}

static void
test_mapping_empty_collections(void **state)
{
   expect_error(state, HEAD "collections: []\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 2: \"collections\" is empty");
}

static void
test_mapping_collections_not_a_list(void **state)
{
   expect_error(state, HEAD "collections: {users: 1}\n", MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 2: \"collections\" must be a list");
}

/* ---- collections ---- */

#define USERS_PRIMARY                                                                              \
   "      - table: users\n"                                                                        \
   "        columns: {email: email}\n"

static void
test_mapping_missing_collection_name(void **state)
{
   expect_error(state, HEAD "collections:\n  - tables: []\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 3: missing key \"collection\" in a collection");
}

static void
test_mapping_unknown_collection_key(void **state)
{
   expect_error(state, HEAD "collections:\n  - collection: users\n    tabels: []\n",
                MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 4: unknown key \"tabels\" in collection "
                "\"users\"");
}

static void
test_mapping_bad_max_rows(void **state)
{
   static const char *const bad[] = {"0", "-1", "many", "2147483648", "1.5"};

   for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      char *yaml = bson_strdup_printf(HEAD "collections:\n  - collection: users\n"
                                           "    max_rows_per_document: %s\n"
                                           "    tables:\n      - table: users\n"
                                           "        columns: {a: {path: a, type: text}}\n",
                                      bad[i]);
      char *want = bson_strdup_printf("mapping file \"m.yaml\", line 4: \"max_rows_per_document\" "
                                      "must be a whole number from 1 to 2147483647, not \"%s\"",
                                      bad[i]);
      expect_error(state, yaml, MN_MAPPING_BAD_VALUE, want);
      bson_free(yaml);
      bson_free(want);
   }
}

static void
test_mapping_missing_tables(void **state)
{
   expect_error(state, HEAD "collections:\n  - collection: users\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 3: missing key \"tables\" in collection "
                "\"users\"");
}

static void
test_mapping_no_tables(void **state)
{
   expect_error(state, HEAD "collections:\n  - collection: users\n    tables: []\n",
                MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 4: collection \"users\" maps to no table");
}

static void
test_mapping_collection_twice(void **state)
{
   expect_error(state,
                HEAD "collections:\n"
                     "  - collection: users\n    tables:\n" USERS_PRIMARY
                     "  - collection: users\n    tables:\n"
                     "      - table: users2\n        columns: {a: a}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: collection \"users\" is mapped twice");
}

static void
test_mapping_bad_defaults(void **state)
{
   expect_error(state,
                HEAD "collections:\n  - collection: users\n    defaults: {on_invalid: ignore}\n"
                     "    tables:\n" USERS_PRIMARY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 4: unrecognized on_invalid \"ignore\" (expected "
                "one of: reject, null, skip_row)");
}

static void
test_mapping_unknown_defaults_key(void **state)
{
   expect_error(state,
                HEAD "collections:\n  - collection: users\n    defaults: {required: true}\n"
                     "    tables:\n" USERS_PRIMARY,
                MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 4: unknown key \"required\" in \"defaults\"");
}

static void
test_mapping_ignore_not_a_list(void **state)
{
   expect_error(state,
                HEAD "collections:\n  - collection: users\n    ignore: __v\n"
                     "    tables:\n" USERS_PRIMARY,
                MN_MAPPING_BAD_VALUE, "mapping file \"m.yaml\", line 4: \"ignore\" must be a list");
}

/* ---- table entries ---- */

#define COLL "collections:\n  - collection: users\n    tables:\n"

static void
test_mapping_unknown_table_key(void **state)
{
   expect_error(state, HEAD COLL "      - table: users\n        colums: {email: email}\n",
                MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 6: unknown key \"colums\" in table \"users\"");
}

static void
test_mapping_missing_table_name(void **state)
{
   expect_error(state, HEAD COLL "      - columns: {email: email}\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 5: missing key \"table\" in a table entry");
}

static void
test_mapping_missing_columns(void **state)
{
   expect_error(state, HEAD COLL "      - table: users\n", MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 5: missing key \"columns\" in table \"users\"");
}

static void
test_mapping_first_table_not_primary(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n        each: emails\n"
                          "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 5: the first table of collection \"users\" must "
                "be its primary row: no \"each\", \"when\" or \"parent\"");
}

static void
test_mapping_first_table_conditional(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n        when: {exists: email}\n"
                          "        columns: {email: email}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 5: the first table of collection \"users\" must "
                "be its primary row: no \"each\", \"when\" or \"parent\"");
}

static void
test_mapping_duplicate_entry_name(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: emails\n        each: emails\n"
                                        "        columns: {user_id: {value: doc_id}}\n"
                                        "      - table: emails\n        each: old_emails\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 10: entry name \"emails\" is used twice in "
                "collection \"users\" (give each entry its own \"name\")");
}

static void
test_mapping_parent_not_earlier(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: taxes\n        parent: lines\n        each: taxes\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: lines\n        each: lines\n"
                "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_REFERENCE,
                "mapping file \"m.yaml\", line 8: parent \"lines\" is not an earlier entry of "
                "collection \"users\"");
}

static void
test_mapping_missing_doc_id_column(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: emails\n        each: emails\n"
                                        "        columns: {address: $}\n",
                MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 7: table \"emails\" needs a column with \"value: "
                "doc_id\" (how its rows are found again for re-runs)");
}

static void
test_mapping_two_doc_id_columns(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: emails\n        each: emails\n"
                "        columns: {a: {value: doc_id}, b: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: table \"emails\" has two doc_id columns");
}

static void
test_mapping_primary_table_fed_twice(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: users\n        name: again\n"
                                        "        each: x\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: table \"users\" holds the primary rows of "
                "collection \"users\" and cannot be fed by another entry");
}

static void
test_mapping_table_two_keys(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: h\n        name: a\n        each: a\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "      - table: h\n        name: b\n        key: hid\n        each: b\n"
                "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: table \"h\" is given two different keys");
}

static void
test_mapping_key_column_declared(void **state)
{
   expect_error(state, HEAD COLL "      - table: users\n        columns: {id: _id}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 6: column \"id\" is the table's key: mongonorm "
                "derives it (see docs/mapping.md)");
}

static void
test_mapping_column_declared_twice(void **state)
{
   expect_error(
      state, HEAD COLL "      - table: users\n        columns:\n          a: a\n          a: b\n",
      MN_MAPPING_BAD_VALUE,
      "mapping file \"m.yaml\", line 8: key \"a\" is given twice (first at line 7)");
}

static void
test_mapping_bad_each_as(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        each: e\n        each_as: list\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 9: unrecognized each_as \"list\" (expected one "
                "of: array, map)");
}

static void
test_mapping_each_as_without_each(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        each_as: map\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: \"each_as\" needs \"each\"");
}

static void
test_mapping_split_without_each(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        split: \",\"\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: \"split\" needs \"each\" and a non-empty "
                "separator");
}

static void
test_mapping_bad_on_scalar(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: e\n        each: e\n        on_scalar: wrap\n"
                "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 9: unrecognized on_scalar \"wrap\" (expected one "
                "of: reject, single)");
}

static void
test_mapping_bad_on_duplicate(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n        unique: [email]\n"
                          "        on_duplicate: keep\n        columns: {email: email}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized on_duplicate \"keep\" (expected "
                "one of: reject, merge)");
}

static void
test_mapping_unique_unknown_column(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n        unique: [mail]\n"
                          "        columns: {email: email}\n",
                MN_MAPPING_BAD_REFERENCE,
                "mapping file \"m.yaml\", line 6: unique column \"mail\" is not a column of "
                "table \"users\"");
}

static void
test_mapping_each_special_path(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        each: $doc.e\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: field path \"$doc.e\" is not allowed here");
}

/* ---- shapes ---- */

static void
test_mapping_unknown_shape_type(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        each: e\n"
                                        "        columns: {user_id: {value: doc_id}}\n"
                                        "        shapes:\n          text: {v: $}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: unrecognized shape \"text\" (expected a BSON "
                "type: string, document, array, int, long, double, decimal, bool, date, "
                "objectId)");
}

static void
test_mapping_shapes_without_each(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n        columns: {email: email}\n"
                          "        shapes: {string: {v: $}}\n",
                MN_MAPPING_BAD_VALUE, "mapping file \"m.yaml\", line 7: \"shapes\" needs \"each\"");
}

static void
test_mapping_shape_column_also_in_columns(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: e\n        each: e\n"
                                        "        columns: {user_id: {value: doc_id}, v: v}\n"
                                        "        shapes:\n          string: {v: $}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: column \"v\" is declared both in \"columns\" "
                "and in shape \"string\"");
}

static void
test_mapping_bad_on_other_shape(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: e\n        each: e\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "        shapes: {string: {v: $}}\n        on_other_shape: null\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: unrecognized on_other_shape \"null\" "
                "(expected one of: reject, skip_row)");
}

/* ---- columns ---- */

#define COL(spec) HEAD COLL "      - table: users\n        columns:\n          c: " spec "\n"

static void
test_mapping_unknown_column_key(void **state)
{
   expect_error(state, COL("{path: a, tpye: text}"), MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 7: unknown key \"tpye\" in column \"c\"");
}

static void
test_mapping_two_value_sources(void **state)
{
   expect_error(state, COL("{path: a, const: x}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\" needs exactly one of \"path\", "
                "\"value\" or \"const\"");
}

static void
test_mapping_no_value_source(void **state)
{
   expect_error(state, COL("{type: text}"), MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 7: column \"c\" needs exactly one of \"path\", "
                "\"value\" or \"const\"");
}

static void
test_mapping_bad_type_name(void **state)
{
   expect_error(state, COL("{path: a, type: varchar(20)}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized column type \"varchar(20)\"");
}

static void
test_mapping_bad_generated_value(void **state)
{
   expect_error(state, COL("{value: row_id}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized value \"row_id\" (expected one of: "
                "doc_id, parent_id, index, key)");
}

static void
test_mapping_type_on_generated_column(void **state)
{
   expect_error(state, COL("{value: index, type: bigint}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\": type, transform, enum, units and "
                "references apply only to \"path\" columns");
}

static void
test_mapping_precision_on_text(void **state)
{
   expect_error(state, COL("{path: a, precision: 5}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: precision and scale apply only to numeric "
                "columns");
}

static void
test_mapping_bad_precision(void **state)
{
   expect_error(state, COL("{path: a, type: numeric, precision: five}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"precision\" must be a whole number from 1 to "
                "1000, not \"five\"");
}

static void
test_mapping_bad_transform(void **state)
{
   expect_error(state, COL("{path: a, transform: [trim, capitalize]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized transform \"capitalize\" (expected "
                "one of: trim, lower, upper, sha256)");
}

static void
test_mapping_bad_empty(void **state)
{
   expect_error(state, COL("{path: a, empty: drop}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized empty \"drop\" (expected one of: "
                "keep, null, invalid)");
}

static void
test_mapping_enum_not_a_list(void **state)
{
   expect_error(state, COL("{path: a, enum: a}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"enum\" must be a list");
}

static void
test_mapping_bad_required(void **state)
{
   expect_error(state, COL("{path: a, required: maybe}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"required\" must be true or false");
}

static void
test_mapping_bad_on_missing(void **state)
{
   expect_error(state, COL("{path: a, required: true, on_missing: null}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized on_missing \"null\" (expected one "
                "of: reject, skip_row)");
}

static void
test_mapping_bad_units_factor(void **state)
{
   expect_error(state, COL("{path: a, type: numeric, units: {cm: 1, m: lots}}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unit \"m\" needs a positive factor, not "
                "\"lots\"");
}

static void
test_mapping_units_zero_factor(void **state)
{
   expect_error(state, COL("{path: a, type: numeric, units: {cm: 0}}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unit \"cm\" needs a positive factor, not \"0\"");
}

static void
test_mapping_units_unknown_default(void **state)
{
   expect_error(state, COL("{path: a, type: numeric, units: {default: km, cm: 1}}"),
                MN_MAPPING_BAD_REFERENCE,
                "mapping file \"m.yaml\", line 7: default unit \"km\" is not one of the units");
}

static void
test_mapping_units_not_a_mapping(void **state)
{
   expect_error(state, COL("{path: a, type: numeric, units: [cm]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"units\" must be a mapping");
}

static void
test_mapping_raw_to_without_on_invalid_null(void **state)
{
   expect_error(state, COL("{path: a, type: integer, raw_to: a_text}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"raw_to\" needs \"on_invalid: null\"");
}

static void
test_mapping_raw_to_in_shape_without_on_invalid_null(void **state)
{
   /* a shape column's raw_to must be checked like any other column's */
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: e\n        each: e\n"
                "        columns: {user_id: {value: doc_id}}\n"
                "        shapes:\n          document: {v: {path: v, type: integer, raw_to: "
                "v_text}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: \"raw_to\" needs \"on_invalid: null\"");
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
   int t;
   bool found = false;

   if (!m) {
      fail_msg("%s", f->error.message);
   }
   t = table_index(m, "e");
   for (size_t c = 0; c < mn_mapping_table_n_columns(m, (size_t)t); c++) {
      found = found || strcmp(mn_mapping_table_column(m, (size_t)t, c), "v_text") == 0;
   }
   assert_true(found);
}

static void
test_mapping_references_undeclared_collection(void **state)
{
   expect_error(state, COL("{path: a, type: uuid, references: accounts}"), MN_MAPPING_BAD_REFERENCE,
                "mapping file \"m.yaml\", line 7: column \"c\" references collection "
                "\"accounts\", which the mapping does not declare");
}

static void
test_mapping_references_needs_uuid(void **state)
{
   expect_error(state, COL("{path: a, type: text, references: users}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\" references a collection, so its "
                "type must be uuid");
}

static void
test_mapping_bad_on_missing_reference(void **state)
{
   expect_error(state,
                COL("{path: a, type: uuid, references: users, on_missing_reference: skip_row}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: unrecognized on_missing_reference \"skip_row\" "
                "(expected one of: reject, null)");
}

static void
test_mapping_malformed_path(void **state)
{
   expect_error(state, COL("{path: a..b}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: malformed field path \"a..b\"");
}

static void
test_mapping_unknown_special_path(void **state)
{
   expect_error(state, COL("{path: $root.a}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: field path \"$root.a\" is not allowed here");
}

static void
test_mapping_empty_path_list(void **state)
{
   expect_error(state, COL("{path: []}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"path\" of column \"c\" lists no path");
}

/* ---- predicates ---- */

static void
test_mapping_when_unknown_key(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: p\n        when: {path: role, equals: x}\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_UNKNOWN_KEY,
                "mapping file \"m.yaml\", line 8: unknown key \"equals\" in \"when\"");
}

static void
test_mapping_when_path_without_in(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: p\n        when: {path: role}\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 8: \"when\" with \"path\" needs \"in\"");
}

static void
test_mapping_when_empty(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: p\n        when: {}\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_MISSING_KEY,
                "mapping file \"m.yaml\", line 8: \"when\" needs one of \"path\", \"exists\", "
                "\"nonempty\", \"any\", \"all\", \"not\"");
}

static void
test_mapping_when_bad_ignore_case(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY
                "      - table: p\n        when: {path: role, in: [a], ignore_case: sometimes}\n"
                "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: \"ignore_case\" must be true or false");
}

static void
test_mapping_when_nested_error_line(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: p\n"
                                        "        when:\n"
                                        "          any:\n"
                                        "            - {exists: a}\n"
                                        "            - {path: b, in: c}\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE, "mapping file \"m.yaml\", line 11: \"in\" must be a list");
}

/* ---- paths through arrays ---- */

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

static void
test_mapping_column_crosses_iterated_array(void **state)
{
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns: {email: email, first: items.name}\n" LINES_ENTRY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 6: path \"items.name\" of column \"first\" crosses "
                "the array \"items\" that entry \"lines\" iterates: read \"name\" in an entry "
                "with \"parent: lines\", or pick one element: \"items.0.name\"");
}

static void
test_mapping_element_column_crosses_iterated_array(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: lines\n"
                                        "        each: items\n"
                                        "        columns:\n"
                                        "          user_id: {value: doc_id}\n"
                                        "          rate: {path: taxes.rate, type: numeric}\n"
                                        "      - table: taxes\n"
                                        "        parent: lines\n"
                                        "        each: taxes\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: path \"taxes.rate\" of column \"rate\" crosses "
                "the array \"taxes\" that entry \"taxes\" iterates: read \"rate\" in an entry "
                "with \"parent: taxes\", or pick one element: \"taxes.0.rate\"");
}

static void
test_mapping_doc_path_crosses_iterated_array(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY LINES_ENTRY
                "      - table: taxes\n"
                "        parent: lines\n"
                "        each: taxes\n"
                "        columns: {user_id: {value: doc_id}, sku: $doc.items.sku}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 13: path \"$doc.items.sku\" of column \"sku\" "
                "crosses the array \"$doc.items\" that entry \"lines\" iterates: read \"sku\" in "
                "an entry with \"parent: lines\", or pick one element: \"$doc.items.0.sku\"");
}

static void
test_mapping_each_crosses_iterated_array(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY LINES_ENTRY "      - table: tags\n"
                                                    "        each: items.tags\n"
                                                    "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: \"each\" path \"items.tags\" crosses the array "
                "\"items\" that entry \"lines\" iterates: iterate \"tags\" in an entry with "
                "\"parent: lines\", or pick one element: \"items.0.tags\"");
}

static void
test_mapping_each_crosses_later_array(void **state)
{
   /* the entry iterating the array may come after the one crossing it */
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: tags\n"
                                        "        each: items.tags\n"
                                        "        columns: {user_id: {value: doc_id}}\n" LINES_ENTRY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: \"each\" path \"items.tags\" crosses the array "
                "\"items\" that entry \"lines\" iterates: iterate \"tags\" in an entry with "
                "\"parent: lines\", or pick one element: \"items.0.tags\"");
}

static void
test_mapping_when_crosses_iterated_array(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: p\n"
                                        "        when:\n"
                                        "          not: {path: items.kind, in: [gift]}\n"
                                        "        columns: {user_id: {value: doc_id}}\n" LINES_ENTRY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 9: path \"items.kind\" of \"when\" crosses the "
                "array \"items\" that entry \"lines\" iterates: read \"kind\" in an entry with "
                "\"parent: lines\", or pick one element: \"items.0.kind\"");
}

static void
test_mapping_each_self_needs_element_parent(void **state)
{
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: points\n"
                                        "        each: $\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: \"each: $\" iterates the parent entry's element "
                "itself, so it needs a \"parent\" entry with \"each\"");
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: points\n"
                                        "        parent: users\n"
                                        "        each: $\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 9: \"each: $\" iterates the parent entry's element "
                "itself, so it needs a \"parent\" entry with \"each\"");
}

/* ---- duplicate keys (issue 9 point 8): every mapping of the file, the first one found ---- */

static void
test_mapping_duplicate_key_top_level(void **state)
{
   expect_error(state,
                HEAD "schema: a\n"
                     "collections:\n  - collection: users\n    tables:\n" USERS_PRIMARY
                     "schema: b\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: key \"schema\" is given twice (first at line 2)");
   /* the same key written plain and quoted is the same key */
   expect_error(state, HEAD "\"version\": 1\ncollections: []\n", MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 2: key \"version\" is given twice (first at line "
                "1)");
}

static void
test_mapping_duplicate_key_collection(void **state)
{
   /* two `defaults:`: the first would have won */
   expect_error(state,
                HEAD "collections:\n  - collection: users\n"
                     "    defaults: {on_invalid: null}\n"
                     "    tables:\n" USERS_PRIMARY "    defaults: {on_invalid: reject}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: key \"defaults\" is given twice (first at line "
                "4)");
   expect_error(state,
                HEAD "collections:\n  - collection: users\n    collection: people\n"
                     "    tables:\n" USERS_PRIMARY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 4: key \"collection\" is given twice (first at "
                "line 3)");
}

static void
test_mapping_duplicate_key_column(void **state)
{
   /* block style, on two lines */
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns:\n"
                          "          score:\n"
                          "            path: score\n"
                          "            type: integer\n"
                          "            on_invalid: null\n"
                          "            on_invalid: reject\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 11: key \"on_invalid\" is given twice (first at "
                "line 10)");
   /* flow style, both on one line */
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns: {score: {path: score, type: integer, path: points}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 6: key \"path\" is given twice (first at line 6)");
   /* in a table entry, and in a shape */
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: tags\n"
                                        "        each: tags\n"
                                        "        columns: {user_id: {value: doc_id}}\n"
                                        "        each: labels\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 10: key \"each\" is given twice (first at line 8)");
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: tags\n"
                                        "        each: tags\n"
                                        "        columns: {user_id: {value: doc_id}}\n"
                                        "        shapes:\n"
                                        "          string: {name: $}\n"
                                        "          document: {name: name}\n"
                                        "          string: {name: label}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 13: key \"string\" is given twice (first at line "
                "11)");
   /* units are a mapping too */
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns:\n"
                          "          h: {path: h, type: numeric, units: {cm: 1, m: 100, cm: 2}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: key \"cm\" is given twice (first at line 7)");
}

static void
test_mapping_duplicate_key_nested_policy(void **state)
{
   /* inside `defaults:` (the policies of a collection) */
   expect_error(state,
                HEAD "collections:\n  - collection: users\n"
                     "    defaults:\n"
                     "      on_invalid: null\n"
                     "      on_missing: skip_row\n"
                     "      on_invalid: reject\n"
                     "    tables:\n" USERS_PRIMARY,
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: key \"on_invalid\" is given twice (first at "
                "line 5)");
   /* deep inside a `when` predicate */
   expect_error(state,
                HEAD COLL USERS_PRIMARY "      - table: admins\n"
                                        "        when:\n"
                                        "          any:\n"
                                        "            - {exists: a}\n"
                                        "            - not:\n"
                                        "                path: role\n"
                                        "                in: [admin]\n"
                                        "                in: [root]\n"
                                        "        columns: {user_id: {value: doc_id}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 14: key \"in\" is given twice (first at line 13)");
}

static void
test_mapping_duplicate_key_first_in_file(void **state)
{
   fixture_t *f = *state;
   GString *yaml;

   /* an inner mapping's duplicate (line 8) comes before the outer one's (line 9), although
    * the outer mapping is read first */
   expect_error(state,
                HEAD "collections:\n  - collection: users\n    tables:\n"
                     "      - table: users\n"
                     "        columns:\n"
                     "          a: a\n"
                     "          b: {path: b, type: text, type: integer}\n"
                     "    tables: []\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 8: key \"type\" is given twice (first at line 8)");
   /* many keys: the check does not depend on their order (sorted, not pairwise) */
   yaml = g_string_new(HEAD COLL "      - table: users\n        columns:\n");
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

/* Load a mapping that must load; fail with its error otherwise. */
static mn_mapping_t *
must_load(fixture_t *f, const char *yaml)
{
   if (!load(f, yaml)) {
      fail_msg("mapping did not load: %s", f->error.message);
   }
   return f->m;
}

static void
test_mapping_sha256_must_be_last(void **state)
{
   expect_error(state, COL("{path: a, transform: [trim, sha256, lower]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"sha256\" must be the last transform of column "
                "\"c\" (it digests the text the column would store)");
   expect_error(state, COL("{path: a, transform: [sha256, sha256]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"sha256\" must be the last transform of column "
                "\"c\" (it digests the text the column would store)");
   expect_error(state, COL("{value: index, transform: [sha256]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\": type, transform, enum, units and "
                "references apply only to \"path\" columns");
   must_load(*state, COL("{path: a, type: date, transform: [trim, upper, sha256]}"));
}

static void
test_mapping_salt_env(void **state)
{
   fixture_t *f = *state;
   char plain[65], salted[65];

   unsetenv("MN_TEST_NO_SUCH_SALT");
   setenv("MN_TEST_SHORT_SALT", "0123456789abcde", 1); /* 15 bytes */
   setenv("MN_TEST_SALT", "a salt of more than sixteen bytes", 1);
   setenv("MN_TEST_OTHER_SALT", "another salt of more than sixteen bytes", 1);
   expect_error(state, COL("{path: a, salt_env: MN_TEST_SALT}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"salt_env\" of column \"c\" needs \"sha256\" "
                "in its \"transform\"");
   expect_error(state, COL("{path: a, transform: [sha256], salt_env: MN_TEST_NO_SUCH_SALT}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: environment variable \"MN_TEST_NO_SUCH_SALT\" "
                "named by \"salt_env\" of column \"c\" is not set");
   /* the salt is never printed, not even in part */
   expect_error(state, COL("{path: a, transform: [sha256], salt_env: MN_TEST_SHORT_SALT}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: environment variable \"MN_TEST_SHORT_SALT\" "
                "named by \"salt_env\" of column \"c\" holds fewer than 16 bytes: a salt that "
                "short can be guessed (use 32 random bytes, e.g. \"openssl rand -hex 32\")");
   expect_error(state, COL("{path: a, transform: [sha256], salt_env: [X]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"salt_env\" of column \"c\" must name an "
                "environment variable");
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
   unsetenv("MN_TEST_SHORT_SALT");
   unsetenv("MN_TEST_SALT");
   unsetenv("MN_TEST_OTHER_SALT");
}

static void
test_mapping_redact_errors(void **state)
{
   expect_error(state, COL("{path: a, transform: [sha256], redact: true}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\" is both redacted and hashed "
                "(\"transform: [sha256]\"): choose one");
   expect_error(state, COL("{value: index, redact: true}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" of column \"c\" applies only to a "
                "\"path\" column (generated ids and constants are not source values)");
   expect_error(state, COL("{const: x, redact: \"y\"}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" of column \"c\" applies only to a "
                "\"path\" column (generated ids and constants are not source values)");
   expect_error(state, COL("{path: a, redact: [x]}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" of column \"c\" must be true (store "
                "NULL), false, or a replacement value");
   expect_error(state, COL("{path: a, required: true, redact: true}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\" is required, so NULL (\"redact: "
                "true\") cannot stand in for its values: give a replacement value (\"redact: "
                "<value>\")");
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns:\n"
                          "          c: {path: a, type: uuid, references: users, redact: "
                          "\"00000000-0000-0000-0000-000000000000\"}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: column \"c\" references a collection, so only "
                "NULL (\"redact: true\") can replace its values: a constant would name no "
                "document");
   expect_error(state, COL("{path: a, on_invalid: \"null\", raw_to: a_raw, redact: true}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"raw_to\" of column \"c\" would store the "
                "source text of a redacted column");
   expect_error(state,
                COL("{path: a, type: integer, on_invalid: \"null\", raw_to: a_raw, transform: "
                    "[sha256]}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"raw_to\" of column \"c\" would store the "
                "source text of a hashed column");
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        columns:\n"
                          "          n: {path: n, type: integer, on_invalid: \"null\", raw_to: "
                          "n_raw}\n"
                          "          n_raw: {path: other, redact: \"x\"}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"raw_to\" of column \"n\" names column "
                "\"n_raw\", which is redacted: the source text would be stored in it");
   expect_error(state,
                HEAD COLL "      - table: users\n"
                          "        unique: [email]\n"
                          "        columns: {email: {path: email, redact: true}}\n",
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 6: unique column \"email\" of table \"users\" is "
                "redacted, so its rows cannot be told apart (hash it with \"transform: "
                "[sha256]\" instead: equal values give equal digests)");
}

/* A replacement must be storable in the column's type (text, uuid, numeric, date, jsonb). */
static void
test_mapping_redact_replacement_types(void **state)
{
   expect_error(state, COL("{path: a, type: uuid, redact: \"n/a\"}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as uuid: string \"n/a\" is not a uuid");
   expect_error(state, COL("{path: a, type: numeric, redact: \"none\"}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as numeric: string \"none\" is not a number");
   expect_error(state, COL("{path: a, type: numeric, precision: 3, scale: 1, redact: 1000}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as numeric: value 1000 does not fit numeric(3,1)");
   expect_error(state, COL("{path: a, type: smallint, redact: 70000}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as smallint: value 70000 out of range for smallint");
   expect_error(state, COL("{path: a, type: date, redact: \"2023-02-29\"}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as date: string \"2023-02-29\" is not an iso 8601 date");
   expect_error(state, COL("{path: a, type: text, enum: [low, high], redact: \"hidden\"}"),
                MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as text: string \"hidden\" is not in the enum");
   expect_error(state, COL("{path: a, type: date, redact: \"\"}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" is empty, which "
                "date stores as NULL: write \"redact: true\" for NULL");
   expect_error(state, COL("{path: a, type: boolean, redact: maybe}"), MN_MAPPING_BAD_VALUE,
                "mapping file \"m.yaml\", line 7: \"redact\" value of column \"c\" cannot be "
                "stored as boolean: string \"maybe\" is not a boolean");
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
      T(test_mapping_yaml_syntax_error),
      T(test_mapping_empty_file),
      T(test_mapping_top_level_not_a_mapping),
      T(test_mapping_missing_version),
      T(test_mapping_wrong_version),
      T(test_mapping_unknown_top_level_key),
      T(test_mapping_missing_collections),
      T(test_mapping_empty_collections),
      T(test_mapping_collections_not_a_list),
      T(test_mapping_missing_collection_name),
      T(test_mapping_unknown_collection_key),
      T(test_mapping_bad_max_rows),
      T(test_mapping_missing_tables),
      T(test_mapping_no_tables),
      T(test_mapping_collection_twice),
      T(test_mapping_bad_defaults),
      T(test_mapping_unknown_defaults_key),
      T(test_mapping_ignore_not_a_list),
      T(test_mapping_unknown_table_key),
      T(test_mapping_missing_table_name),
      T(test_mapping_missing_columns),
      T(test_mapping_first_table_not_primary),
      T(test_mapping_first_table_conditional),
      T(test_mapping_duplicate_entry_name),
      T(test_mapping_parent_not_earlier),
      T(test_mapping_missing_doc_id_column),
      T(test_mapping_two_doc_id_columns),
      T(test_mapping_primary_table_fed_twice),
      T(test_mapping_table_two_keys),
      T(test_mapping_key_column_declared),
      T(test_mapping_column_declared_twice),
      T(test_mapping_bad_each_as),
      T(test_mapping_each_as_without_each),
      T(test_mapping_split_without_each),
      T(test_mapping_bad_on_scalar),
      T(test_mapping_bad_on_duplicate),
      T(test_mapping_unique_unknown_column),
      T(test_mapping_each_special_path),
      T(test_mapping_unknown_shape_type),
      T(test_mapping_shapes_without_each),
      T(test_mapping_shape_column_also_in_columns),
      T(test_mapping_bad_on_other_shape),
      T(test_mapping_unknown_column_key),
      T(test_mapping_two_value_sources),
      T(test_mapping_no_value_source),
      T(test_mapping_bad_type_name),
      T(test_mapping_bad_generated_value),
      T(test_mapping_type_on_generated_column),
      T(test_mapping_precision_on_text),
      T(test_mapping_bad_precision),
      T(test_mapping_bad_transform),
      T(test_mapping_bad_empty),
      T(test_mapping_enum_not_a_list),
      T(test_mapping_bad_required),
      T(test_mapping_bad_on_missing),
      T(test_mapping_bad_units_factor),
      T(test_mapping_units_zero_factor),
      T(test_mapping_units_unknown_default),
      T(test_mapping_units_not_a_mapping),
      T(test_mapping_raw_to_without_on_invalid_null),
      T(test_mapping_raw_to_in_shape_without_on_invalid_null),
      T(test_mapping_raw_to_in_shape_adds_column),
      T(test_mapping_references_undeclared_collection),
      T(test_mapping_references_needs_uuid),
      T(test_mapping_bad_on_missing_reference),
      T(test_mapping_malformed_path),
      T(test_mapping_unknown_special_path),
      T(test_mapping_empty_path_list),
      T(test_mapping_when_unknown_key),
      T(test_mapping_when_path_without_in),
      T(test_mapping_when_empty),
      T(test_mapping_when_bad_ignore_case),
      T(test_mapping_when_nested_error_line),
      T(test_mapping_array_paths_valid),
      T(test_mapping_column_crosses_iterated_array),
      T(test_mapping_element_column_crosses_iterated_array),
      T(test_mapping_doc_path_crosses_iterated_array),
      T(test_mapping_each_crosses_iterated_array),
      T(test_mapping_each_crosses_later_array),
      T(test_mapping_when_crosses_iterated_array),
      T(test_mapping_each_self_needs_element_parent),
      T(test_mapping_duplicate_key_top_level),
      T(test_mapping_duplicate_key_collection),
      T(test_mapping_duplicate_key_column),
      T(test_mapping_duplicate_key_nested_policy),
      T(test_mapping_duplicate_key_first_in_file),
      T(test_mapping_tree_files_load),
      T(test_mapping_sha256_must_be_last),
      T(test_mapping_salt_env),
      T(test_mapping_redact_errors),
      T(test_mapping_redact_replacement_types),
   };
#undef T
   return cmocka_run_group_tests(tests, NULL, NULL);
}
