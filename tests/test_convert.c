/*
 * test_convert.c - the converter's column PHI controls (docs/mapping.md, "Columns a test
 * copy must not hold"), on generated hostile documents.
 *
 * One mapping, three ways: clear, every column hashed (`transform: [..., sha256]`, one
 * with `salt_env`), every column redacted (`redact: true` or a replacement).  Converted
 * side by side, the three must accept and reject the same documents for the same reasons
 * at the same paths, produce the same rows with the same ids and the same statistics;
 * a hashed cell is the SHA-256 (or HMAC-SHA-256) of the clear cell, a redacted cell the
 * replacement; and no reason of the hashed or redacted copies quotes a value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mongonorm/convert.h>
#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/stats.h>

#include <glib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT "a test salt that is long enough, 0123456789"

/* ---- generated documents ---- */

static uint64_t
next(uint64_t *s)
{
   /* splitmix64 */
   uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
   z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
   return z ^ (z >> 31);
}

/* Values that look like patient data; none of them may appear in a hidden reason. */
static const char *const SECRETS[] = {
   "Jane Doe",       "HIV positive", "123-45-6789", "1980-02-29", "tall guy",     "depression",
   "  Mixed Case  ", "31337",        "70000",       "x9f8e7d6",   "8601 Main St", "c8edcd1e-6a4e"};

/* One random value of any BSON type, or nothing (the field is left out). */
static void
append_random(bson_t *d, const char *key, uint64_t *s)
{
   bson_oid_t oid;
   bson_decimal128_t dec;
   char buf[64];

   switch (next(s) % 19) {
   case 0: break; /* missing */
   case 1: BSON_APPEND_NULL(d, key); break;
   case 2:
   case 3: bson_append_utf8(d, key, -1, SECRETS[next(s) % G_N_ELEMENTS(SECRETS)], -1); break;
   case 4: bson_append_utf8(d, key, -1, next(s) % 2 ? "" : "   ", -1); break;
   case 5:
      snprintf(buf, sizeof buf, "%d", (int)(next(s) % 200000) - 100000);
      BSON_APPEND_UTF8(d, key, buf);
      break;
   case 6: BSON_APPEND_INT32(d, key, (int32_t)(next(s) % 200000) - 100000); break;
   case 7: BSON_APPEND_INT64(d, key, (int64_t)next(s)); break;
   case 8: BSON_APPEND_DOUBLE(d, key, (double)(int64_t)(next(s) % 100000) / 8.0); break;
   case 9: BSON_APPEND_DOUBLE(d, key, next(s) % 2 ? 1.0 / 0.0 : 0.0 / 0.0); break;
   case 10:
      snprintf(buf, sizeof buf, "%d.%03d", (int)(next(s) % 1000), (int)(next(s) % 1000));
      bson_decimal128_from_string(buf, &dec);
      BSON_APPEND_DECIMAL128(d, key, &dec);
      break;
   case 11: BSON_APPEND_DATE_TIME(d, key, (int64_t)(next(s) % 4000000000000ull)); break;
   case 12: bson_append_utf8(d, key, -1, next(s) % 2 ? "2024-01-05" : "2024-02-30", -1); break;
   case 13: BSON_APPEND_BOOL(d, key, next(s) % 2); break;
   case 14:
      snprintf(buf, sizeof buf, "66%022llx", (unsigned long long)(next(s) % 4096));
      bson_oid_init_from_string(&oid, buf);
      BSON_APPEND_OID(d, key, &oid);
      break;
   case 15: BSON_APPEND_UTF8(d, key, "c8edcd1e-6a4e-4c4e-9b3f-2b0e2a8f0b11"); break;
   case 16: {
      bson_t a;
      BSON_APPEND_ARRAY_BEGIN(d, key, &a);
      bson_append_utf8(&a, "0", -1, SECRETS[next(s) % G_N_ELEMENTS(SECRETS)], -1);
      BSON_APPEND_INT32(&a, "1", 7);
      bson_append_array_end(d, &a);
      break;
   }
   case 17: {
      bson_t sub;
      BSON_APPEND_DOCUMENT_BEGIN(d, key, &sub);
      bson_append_utf8(&sub, "text", -1, SECRETS[next(s) % G_N_ELEMENTS(SECRETS)], -1);
      bson_append_document_end(d, &sub);
      break;
   }
   default: bson_append_utf8(d, key, -1, next(s) % 2 ? "x" : "y", -1); break;
   }
}

/* The referenced collection: "others", ids 66..00 to 66..3f (of 4096 a reference may name). */
static bson_t *
other_doc(int i)
{
   bson_t *d = bson_new();
   char hex[25];
   bson_oid_t oid;

   snprintf(hex, sizeof hex, "66%022x", i);
   bson_oid_init_from_string(&oid, hex);
   BSON_APPEND_OID(d, "_id", &oid);
   BSON_APPEND_UTF8(d, "name", "other");
   return d;
}

static bson_t *
thing_doc(int i, uint64_t *s)
{
   bson_t *d = bson_new();
   char hex[25];
   bson_oid_t oid;
   bson_t items;
   int n_items = (int)(next(s) % 4);

   snprintf(hex, sizeof hex, "aa%022x", i);
   bson_oid_init_from_string(&oid, hex);
   BSON_APPEND_OID(d, "_id", &oid);
   for (const char *k = "abcdefghk"; *k; k++) {
      char key[2] = {*k, 0};
      append_random(d, key, s);
   }
   if (next(s) % 3) {
      snprintf(hex, sizeof hex, "66%022llx", (unsigned long long)(next(s) % 80));
      bson_oid_init_from_string(&oid, hex);
      BSON_APPEND_OID(d, "ref", &oid);
   } else {
      append_random(d, "ref", s);
   }
   BSON_APPEND_ARRAY_BEGIN(d, "items", &items);
   for (int j = 0; j < n_items; j++) {
      bson_t it;
      char key[16];
      snprintf(key, sizeof key, "%d", j);
      BSON_APPEND_DOCUMENT_BEGIN(&items, key, &it);
      append_random(&it, "v", s);
      append_random(&it, "w", s);
      bson_append_document_end(&items, &it);
   }
   bson_append_array_end(d, &items);
   return d;
}

/* ---- the mapping, three ways ---- */

typedef enum { CLEAR = 0, HASHED, REDACTED } variant_t;

/* Per column: its table, name, clear spec, what hashing adds (inside transform) and the
 * redaction (NULL: the column stays clear in that variant). */
static const struct {
   const char *table, *column, *spec, *hash, *redact, *replacement;
} COLUMNS[] = {
   {"things", "t", "path: a, type: text, transform: [trim%s]", ", sha256", "redact: true", NULL},
   {"things", "n", "path: b, type: integer, on_invalid: \"null\"%s", ", transform: [sha256]",
    "redact: \"0\"", "0"},
   {"things", "m", "path: c, type: numeric, scale: 2, on_invalid: skip_row%s",
    ", transform: [sha256], salt_env: MN_TEST_CONVERT_SALT", "redact: \"1.5\"", "1.50"},
   {"things", "d", "path: d, type: date, required: true%s", ", transform: [sha256]",
    "redact: \"1900-01-01\"", "1900-01-01"},
   {"things", "u", "path: e, type: uuid, on_invalid: \"null\"%s", ", transform: [sha256]",
    "redact: \"00000000-0000-0000-0000-000000000000\"", "00000000-0000-0000-0000-000000000000"},
   {"things", "j", "path: f, type: jsonb%s", ", transform: [sha256]", "redact: \"{}\"", "\"{}\""},
   {"things", "r", "path: ref, type: uuid, references: others, on_missing_reference: \"null\"%s",
    ", transform: [sha256]", "redact: true", NULL},
   {"things", "k", "path: k, type: text, enum: [x, y, z], on_invalid: \"null\"%s",
    ", transform: [sha256]", "redact: \"z\"", "z"},
   {"things", "h", "path: h, type: boolean, on_invalid: \"null\"%s", ", transform: [sha256]",
    "redact: \"false\"", "f"},
   {"items", "v", "path: v, type: integer, on_invalid: skip_row%s", ", transform: [sha256]",
    "redact: true", NULL},
   /* part of the unique key: hashed in HASHED, clear in REDACTED (redacted keys are refused) */
   {"items", "w", "path: w, type: \"text[]\", on_invalid: \"null\"%s", ", transform: [sha256]",
    NULL, NULL},
};

static char *
column_spec(size_t i, variant_t v)
{
   char *spec;
   char *out;

   if (v == HASHED) {
      /* a column with its own transform list gets sha256 appended inside it */
      spec = g_strdup_printf(COLUMNS[i].spec, COLUMNS[i].hash);
   } else {
      spec = g_strdup_printf(COLUMNS[i].spec, "");
   }
   if (v == REDACTED && COLUMNS[i].redact) {
      out = g_strdup_printf("{%s, %s}", spec, COLUMNS[i].redact);
   } else {
      out = g_strdup_printf("{%s}", spec);
   }
   g_free(spec);
   return out;
}

/* The mapping lines of COLUMNS' columns in `table`, as variant v spells them. */
static void
append_columns(GString *y, const char *table, variant_t v)
{
   for (size_t i = 0; i < G_N_ELEMENTS(COLUMNS); i++) {
      char *spec;
      if (strcmp(COLUMNS[i].table, table) != 0) {
         continue;
      }
      spec = column_spec(i, v);
      g_string_append_printf(y, "          %s: %s\n", COLUMNS[i].column, spec);
      g_free(spec);
   }
}

static mn_mapping_t *
mapping(variant_t v)
{
   GString *y = g_string_new("version: 1\n"
                             "collections:\n"
                             "  - collection: others\n"
                             "    tables:\n"
                             "      - table: others\n"
                             "        columns: {name: name}\n"
                             "  - collection: things\n"
                             "    tables:\n"
                             "      - table: things\n"
                             "        columns:\n");
   mn_error_t error = {0};
   mn_mapping_t *m;

   append_columns(y, "things", v);
   g_string_append(y, "      - table: items\n"
                      "        each: items\n"
                      "        unique: [thing_id, w]\n"
                      "        on_duplicate: merge\n"
                      "        columns:\n"
                      "          thing_id: {value: doc_id}\n"
                      "          ordinal: {value: index}\n");
   append_columns(y, "items", v);
   m = mn_mapping_load_string(y->str, y->len, "phi.yaml", &error);
   if (!m) {
      fail_msg("%s\n%s", error.message, y->str);
   }
   g_string_free(y, TRUE);
   return m;
}

/* ---- comparing ---- */

static char *
hex_digest(const char *text, bool keyed)
{
   unsigned char md[EVP_MAX_MD_SIZE];
   unsigned int n = 0;
   GString *hex = g_string_new(NULL);

   if (keyed) {
      HMAC(EVP_sha256(), SALT, (int)strlen(SALT), (const unsigned char *)text, strlen(text), md,
           &n);
   } else {
      EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
   }
   for (unsigned int i = 0; i < n; i++) {
      g_string_append_printf(hex, "%02x", md[i]);
   }
   return g_string_free(hex, FALSE);
}

/* The COLUMNS entry of a table's column, or -1 (ids, doc ids, ordinals). */
static int
column_entry(const char *table, const char *column)
{
   for (size_t i = 0; i < G_N_ELEMENTS(COLUMNS); i++) {
      if (strcmp(COLUMNS[i].table, table) == 0 && strcmp(COLUMNS[i].column, column) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static void
check_cell(variant_t v, const char *table, const char *column, const char *clear, const char *got,
           const char *doc)
{
   int e = column_entry(table, column);
   char *want = NULL;

   if (e < 0 || v == CLEAR || (v == REDACTED && !COLUMNS[e].redact)) {
      want = clear ? g_strdup(clear) : NULL;
   } else if (v == HASHED) {
      want = clear ? hex_digest(clear, strstr(COLUMNS[e].hash, "salt_env") != NULL) : NULL;
   } else {
      want = COLUMNS[e].replacement ? g_strdup(COLUMNS[e].replacement) : NULL;
   }
   if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0)) {
      fail_msg("document %s, %s.%s (variant %d): clear \"%s\", expected \"%s\", got \"%s\"", doc,
               table, column, (int)v, clear ? clear : "NULL", want ? want : "NULL",
               got ? got : "NULL");
   }
   g_free(want);
}

/* No reason of a hashed or redacted copy quotes a value of the document (its _id aside). */
static void
check_no_secret(const char *message)
{
   const char *after_id = strstr(message, "}, ");

   assert_non_null(after_id);
   for (size_t i = 0; i < G_N_ELEMENTS(SECRETS); i++) {
      char *trimmed = g_strstrip(g_strdup(SECRETS[i]));
      if (strstr(after_id, trimmed)) {
         fail_msg("reason quotes \"%s\": %s", trimmed, message);
      }
      g_free(trimmed);
   }
}

/*
 * One document's outcome under variant v (`rows`) against the plain one (`rows0`): the same
 * rejects at the same paths with no secret in their messages, no deferred row, the same
 * rows in the same tables with check_cell's verdict on every cell. Returns how many reject
 * messages differ from the plain ones (a value hidden).
 */
static int
expect_same_outcome(variant_t v, const mn_mapping_t *m0, const mn_rowset_t *rows0,
                    const mn_rowset_t *rows, const char *doc)
{
   int hidden = 0;

   assert_int_equal(mn_rowset_n_rejects(rows), mn_rowset_n_rejects(rows0));
   for (size_t r = 0; r < mn_rowset_n_rejects(rows0); r++) {
      const char *p0, *m0_msg, *pv, *mv;
      mn_rowset_reject(rows0, r, &p0, &m0_msg);
      mn_rowset_reject(rows, r, &pv, &mv);
      assert_string_equal(pv, p0);
      check_no_secret(mv);
      hidden += strcmp(mv, m0_msg) != 0;
   }
   assert_int_equal(mn_rowset_n_deferred(rows), 0);
   assert_int_equal(mn_rowset_n_rows(rows), mn_rowset_n_rows(rows0));
   for (size_t r = 0; r < mn_rowset_n_rows(rows0); r++) {
      size_t t = mn_rowset_row_table(rows0, r);
      assert_int_equal(mn_rowset_row_table(rows, r), t);
      for (size_t c = 0; c < mn_mapping_table_n_columns(m0, t); c++) {
         check_cell(v, mn_mapping_table_name(m0, t), mn_mapping_table_column(m0, t, c),
                    mn_rowset_value(rows0, r, c), mn_rowset_value(rows, r, c), doc);
      }
   }
   return hidden;
}

/* The three variants' statistics: the same counts, kinds and tables (timings aside). */
static void
expect_same_stats(mn_stats_t *const stats[3])
{
   GRegex *re = g_regex_new("\"seconds\" : [0-9.eE+-]+", 0, 0, NULL);
   char *json0 = mn_stats_to_json(stats[0]);
   char *a = g_regex_replace_literal(re, json0, -1, 0, "", 0, NULL);

   for (int v = 1; v < 3; v++) {
      char *json = mn_stats_to_json(stats[v]);
      char *b = g_regex_replace_literal(re, json, -1, 0, "", 0, NULL);
      assert_string_equal(b, a);
      g_free(b);
      bson_free(json);
   }
   g_free(a);
   bson_free(json0);
   g_regex_unref(re);
}

static void
test_convert_phi_same_outcome(void **state)
{
   mn_mapping_t *m[3];
   mn_stats_t *stats[3];
   mn_converter_t *conv[3];
   mn_rowset_t *rows[3];
   uint64_t seed = 20240105;
   int docs = 3000, rejected = 0, hidden = 0;
   size_t things = 0;

   (void)state;
   setenv("MN_TEST_CONVERT_SALT", SALT, 1);
   for (int v = 0; v < 3; v++) {
      m[v] = mapping((variant_t)v);
      stats[v] = mn_stats_new();
      conv[v] = mn_converter_new(m[v], stats[v]);
      rows[v] = mn_rowset_new();
   }
   for (int i = 0; i < 64; i++) {
      bson_t *d = other_doc(i);
      bson_iter_t id;
      assert_true(bson_iter_init_find(&id, d, "_id"));
      for (int v = 0; v < 3; v++) {
         mn_converter_add_source_id(conv[v], 0, &id);
         assert_true(mn_convert_document(conv[v], 0, d, rows[v]));
         mn_converter_mark_accepted(conv[v], 0, mn_rowset_doc_id(rows[v]));
      }
      bson_destroy(d);
   }
   things = (size_t)mn_mapping_collection_index(m[0], "things");
   for (int i = 0; i < docs; i++) {
      bson_t *d = thing_doc(i, &seed);
      bool ok[3];
      const char *doc;

      for (int v = 0; v < 3; v++) {
         ok[v] = mn_convert_document(conv[v], things, d, rows[v]);
      }
      doc = mn_rowset_doc_id_json(rows[0]);
      rejected += !ok[0];
      for (int v = 1; v < 3; v++) {
         assert_int_equal(ok[v], ok[0]);
         hidden += expect_same_outcome((variant_t)v, m[0], rows[0], rows[v], doc);
      }
      bson_destroy(d);
   }
   /* the data is hostile enough: many rejects, many of them quoting a value in clear */
   assert_true(rejected > docs / 10 && rejected < docs);
   assert_true(hidden > 100);
   expect_same_stats(stats);
   for (int v = 0; v < 3; v++) {
      mn_rowset_destroy(rows[v]);
      mn_converter_destroy(conv[v]);
      mn_stats_destroy(stats[v]);
      mn_mapping_destroy(m[v]);
   }
   unsetenv("MN_TEST_CONVERT_SALT");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_convert_phi_same_outcome),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
