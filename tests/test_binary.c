/*
 * test_binary.c - COPY's binary format (src/lib/pg/binary.c) against the server's own
 * reading of the same text.
 *
 * Random BSON values are converted as the converter converts them (mn_value_convert), and
 * each text is loaded twice into a real PostgreSQL server: in COPY's text format, which
 * the type's input function reads, and in the binary format, encoded by binary.c, which
 * the receive function reads.  Every value must read back the same (as text, through the
 * type's output function).  The seed is printed; MN_TEST_SEED replays one.
 *
 * Reads MN_TEST_PG_DSN (a throwaway server; the test makes and drops a schema of its own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_common.h"

#include "mapping/plan.h"
#include "pg/pg_private.h"

#include <arpa/inet.h>
#include <bson/bson.h>
#include <glib.h>
#include <libpq-fe.h>
#include <mongonorm/value.h>
#include <unistd.h>

#define VALUES_PER_CASE 300

static PGconn *conn;
static char schema[64];
static guint32 seed;

/* ---- random BSON values ---- */

typedef void (*gen_fn)(GRand *r, bson_t *doc);

static const char *const pieces[] = {"a",  "Z",   "0",    " ",    "\"",   "\\",  "\t",   "\n",
                                     "\r", ",",   "{",    "}",    "NULL", "é",   "漢字", "🩺",
                                     "'",  "\\N", "null", "  x ", "-",    "1e5", ":",    "."};

static void
random_text(GRand *r, GString *s)
{
   int n = g_rand_int_range(r, 0, 12);

   for (int i = 0; i < n; i++) {
      g_string_append(s, pieces[g_rand_int_range(r, 0, G_N_ELEMENTS(pieces))]);
   }
}

static void
gen_text(GRand *r, bson_t *doc)
{
   GString *s = g_string_new(NULL);

   random_text(r, s);
   BSON_APPEND_UTF8(doc, "v", s->str);
   g_string_free(s, TRUE);
}

static void
gen_uuid(GRand *r, bson_t *doc)
{
   uint8_t b[16];

   for (int i = 0; i < 16; i++) {
      b[i] = (uint8_t)g_rand_int_range(r, 0, 256);
   }
   if (g_rand_boolean(r)) {
      BSON_APPEND_BINARY(doc, "v", BSON_SUBTYPE_UUID, b, 16);
   } else {
      bson_oid_t oid;
      bson_oid_init_from_data(&oid, b);
      BSON_APPEND_OID(doc, "v", &oid);
   }
}

static int64_t
random_int64(GRand *r)
{
   static const int64_t edges[] = {0,         1,         -1,        INT16_MAX, INT16_MIN, INT32_MAX,
                                   INT32_MIN, INT64_MAX, INT64_MIN, 10000,     -9999,     99999999};
   uint64_t bits = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);

   switch (g_rand_int_range(r, 0, 4)) {
   case 0: return edges[g_rand_int_range(r, 0, G_N_ELEMENTS(edges))];
   case 1: return (int64_t)(bits >> g_rand_int_range(r, 1, 63)) * (g_rand_boolean(r) ? 1 : -1);
   case 2: return (int64_t)g_rand_int_range(r, -40000, 40000);
   default: return (int64_t)bits;
   }
}

static void
gen_int(GRand *r, bson_t *doc)
{
   int64_t v = random_int64(r);

   if (v >= INT32_MIN && v <= INT32_MAX && g_rand_boolean(r)) {
      BSON_APPEND_INT32(doc, "v", (int32_t)v);
   } else {
      BSON_APPEND_INT64(doc, "v", v);
   }
}

static double
random_double(GRand *r)
{
   static const double edges[] = {
      0.0, -0.0, 1.5, 0.1, 1e308, -1e-308, 4.9e-324, 3.4028235e38, 1.17549435e-38, 123456789.125};
   uint64_t bits = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
   double d;

   switch (g_rand_int_range(r, 0, 4)) {
   case 0: return edges[g_rand_int_range(r, 0, G_N_ELEMENTS(edges))];
   case 1: return g_rand_double_range(r, -1e6, 1e6);
   case 2: return (double)random_int64(r) / 1000.0;
   default: memcpy(&d, &bits, sizeof d); return d; /* NaN and the infinities too */
   }
}

static void
gen_decimal(GRand *r, bson_t *doc)
{
   char text[96];
   GString *digits = g_string_new(NULL);
   int n = g_rand_int_range(r, 1, 35);
   bson_decimal128_t dec;

   for (int i = 0; i < n; i++) {
      g_string_append_c(digits, (char)('0' + g_rand_int_range(r, 0, 10)));
   }
   switch (g_rand_int_range(r, 0, 8)) {
   case 0: snprintf(text, sizeof text, "NaN"); break;
   case 1: snprintf(text, sizeof text, g_rand_boolean(r) ? "Infinity" : "-Infinity"); break;
   default:
      snprintf(text, sizeof text, "%s%sE%d", g_rand_boolean(r) ? "-" : "", digits->str,
               g_rand_boolean(r) ? g_rand_int_range(r, -40, 40) : g_rand_int_range(r, -6000, 6000));
   }
   g_string_free(digits, TRUE);
   assert_true(bson_decimal128_from_string(text, &dec));
   BSON_APPEND_DECIMAL128(doc, "v", &dec);
}

static void
gen_number(GRand *r, bson_t *doc)
{
   switch (g_rand_int_range(r, 0, 4)) {
   case 0: gen_int(r, doc); break;
   case 1: gen_decimal(r, doc); break;
   default: BSON_APPEND_DOUBLE(doc, "v", random_double(r));
   }
}

static void
gen_float(GRand *r, bson_t *doc)
{
   BSON_APPEND_DOUBLE(doc, "v", random_double(r));
}

static void
gen_bool(GRand *r, bson_t *doc)
{
   BSON_APPEND_BOOL(doc, "v", g_rand_boolean(r));
}

/* BSON dates over PostgreSQL's timestamp range (and past it: those do not convert), and
 * ISO 8601 strings with offsets. */
static void
gen_moment(GRand *r, bson_t *doc)
{
   static const int64_t edges[] = {0,
                                   -1,
                                   1,
                                   -210866803200000,
                                   9224318015999999,
                                   946684800000,
                                   -62135596800000,
                                   -62135596800001,
                                   951782400000};
   static const char *const iso[] = {"2021-03-04T05:06:07.891+05:30", "1999-12-31T23:59:59Z",
                                     "2000-02-29", "0044-03-15T12:00:00Z",
                                     "2024-01-01T00:00:00.123456Z"};
   int64_t ms;

   switch (g_rand_int_range(r, 0, 6)) {
   case 0: ms = edges[g_rand_int_range(r, 0, G_N_ELEMENTS(edges))]; break;
   case 1: {
      /* picked first: BSON_APPEND_UTF8 evaluates its value twice */
      const char *s = iso[g_rand_int_range(r, 0, G_N_ELEMENTS(iso))];
      BSON_APPEND_UTF8(doc, "v", s);
      return;
   }
   case 2: ms = (int64_t)g_rand_double_range(r, -2.2e14, 9.3e15); break;
   default: ms = (int64_t)g_rand_double_range(r, -3e12, 4e12); break;
   }
   BSON_APPEND_DATE_TIME(doc, "v", ms);
}

static void
gen_json(GRand *r, bson_t *doc)
{
   bson_t child;
   GString *s = g_string_new(NULL);

   random_text(r, s);
   switch (g_rand_int_range(r, 0, 4)) {
   case 0: BSON_APPEND_UTF8(doc, "v", s->str); break;
   case 1: gen_number(r, doc); break;
   default:
      BSON_APPEND_DOCUMENT_BEGIN(doc, "v", &child);
      BSON_APPEND_UTF8(&child, s->str, s->str);
      BSON_APPEND_INT64(&child, "n", random_int64(r));
      BSON_APPEND_BOOL(&child, "b", g_rand_boolean(r));
      BSON_APPEND_NULL(&child, "z");
      bson_append_document_end(doc, &child);
   }
   g_string_free(s, TRUE);
}

static void
gen_inet(GRand *r, bson_t *doc)
{
   uint8_t b[16];
   char text[INET6_ADDRSTRLEN + 8];
   int kind = g_rand_int_range(r, 0, 4);

   for (int i = 0; i < 16; i++) {
      b[i] = (uint8_t)(g_rand_int_range(r, 0, 4) ? g_rand_int_range(r, 0, 256) : 0);
   }
   if (kind == 0) {
      inet_ntop(AF_INET, b, text, sizeof text);
   } else if (kind == 1) {
      snprintf(text, sizeof text, "::ffff:%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
   } else {
      inet_ntop(AF_INET6, b, text, sizeof text);
   }
   BSON_APPEND_UTF8(doc, "v", text);
}

static void
gen_array(GRand *r, bson_t *doc)
{
   bson_t a;
   int n = g_rand_int_range(r, 0, 6);

   if (g_rand_int_range(r, 0, 8) == 0) {
      gen_text(r, doc); /* one string: a one-element array */
      return;
   }
   BSON_APPEND_ARRAY_BEGIN(doc, "v", &a);
   for (int i = 0; i < n; i++) {
      GString *s = g_string_new(NULL);
      char key[16];
      snprintf(key, sizeof key, "%d", i);
      switch (g_rand_int_range(r, 0, 5)) {
      case 0: BSON_APPEND_NULL(&a, key); break;
      case 1: BSON_APPEND_INT64(&a, key, random_int64(r)); break;
      default: random_text(r, s); BSON_APPEND_UTF8(&a, key, s->str);
      }
      g_string_free(s, TRUE);
   }
   bson_append_array_end(doc, &a);
}

/* ---- one case: a column type, a mapping type, values ---- */

typedef struct {
   const char *column; /* SQL type of the column */
   mn_type_t type;     /* the mapping's type: what the converter writes */
   int precision, scale;
   gen_fn gen;
} case_t;

static PGresult *
run(const char *sql)
{
   PGresult *res = PQexec(conn, sql);

   if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
      fail_msg("%s: %s", sql, PQerrorMessage(conn));
   }
   return res;
}

static void
exec_sql(const char *fmt, ...)
{
   va_list ap;
   char *sql;

   va_start(ap, fmt);
   sql = g_strdup_vprintf(fmt, ap);
   va_end(ap);
   PQclear(run(sql));
   g_free(sql);
}

/* The binary format's header or trailer, appended to out. */
static void
append_frame(GString *out, const char *(*frame)(size_t *len))
{
   size_t len;
   const char *p = frame(&len);

   g_string_append_len(out, p, (gssize)len);
}

/* COPY data into table (columns id, v); binary or text.  Returns the SQLSTATE of a
 * failure ("" when it loaded) into state. */
static void
copy_into(const char *table, bool binary, const GString *data, char state[6])
{
   char *sql = g_strdup_printf("COPY %s.%s (id, v) FROM STDIN%s", schema, table,
                               binary ? " (FORMAT binary)" : "");
   PGresult *res = PQexec(conn, sql);

   g_free(sql);
   assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
   PQclear(res);
   assert_int_equal(PQputCopyData(conn, data->str, (int)data->len), 1);
   assert_int_equal(PQputCopyEnd(conn, NULL), 1);
   state[0] = '\0';
   while ((res = PQgetResult(conn))) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK) {
         const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
         snprintf(state, 6, "%s", s ? s : "?");
         if (!binary || strcmp(state, "22P03") != 0) {
            fprintf(stderr, "COPY %s: %s", table, PQresultErrorMessage(res));
         }
      }
      PQclear(res);
   }
}

/* The converter's texts for n random values of c (those that convert). */
static GPtrArray *
converted(const case_t *c, GRand *r, int n)
{
   GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
   mn_value_spec_t spec;
   bson_string_t *out = bson_string_new(NULL);

   memset(&spec, 0, sizeof spec);
   spec.type = c->type;
   spec.precision = c->precision;
   spec.scale = c->scale;
   for (int i = 0; i < n; i++) {
      bson_t doc = BSON_INITIALIZER;
      bson_iter_t it;
      char reason[256];
      bson_string_truncate(out, 0);
      c->gen(r, &doc);
      assert_true(bson_iter_init_find(&it, &doc, "v"));
      if (mn_value_convert(&it, &spec, out, reason, sizeof reason) <= MN_VALUE_COERCED) {
         g_ptr_array_add(texts, g_strdup(out->str));
      }
      bson_destroy(&doc);
   }
   bson_string_free(out, true);
   return texts;
}

/* Load texts both ways into two tables of type c->column and compare what they hold. */
static void
compare_both_ways(const case_t *c, GPtrArray *texts, int n_case)
{
   GString *bin = g_string_new(NULL), *txt = g_string_new(NULL);
   mn_pg__bin_kind_t kind;
   char state[6], table[16];
   PGresult *res;
   char *sql;

   exec_sql("CREATE TABLE %s.b%d (id int, v %s); CREATE TABLE %s.t%d (id int, v %s)", schema,
            n_case, c->column, schema, n_case, c->column);
   sql = g_strdup_printf("SELECT t.typbasetype = 0, CASE WHEN t.typtype = 'd' THEN t.typbasetype "
                         "ELSE t.oid END, t.typtype FROM pg_type t WHERE t.oid = '%s'::regtype",
                         c->column);
   res = run(sql);
   g_free(sql);
   kind = mn_pg__bin_kind(strtoul(PQgetvalue(res, 0, 1), NULL, 10), PQgetvalue(res, 0, 2)[0]);
   PQclear(res);
   assert_int_not_equal(kind, MN_PG_BIN_NONE);
   assert_true(mn_pg__bin_accepts(kind, c->type));
   append_frame(bin, mn_pg__bin_header);
   for (guint i = 0; i < texts->len; i++) {
      const char *v = g_ptr_array_index(texts, i);
      char id[16];
      mn_pg__bin_append_tuple(bin, 2);
      snprintf(id, sizeof id, "%u", i);
      assert_true(mn_pg__bin_append(bin, MN_PG_BIN_INT4, id, strlen(id)));
      if (!mn_pg__bin_append(bin, kind, v, strlen(v))) {
         fail_msg("%s: the converter's text \"%s\" does not encode (seed %u)", c->column, v, seed);
      }
      g_string_append_printf(txt, "%u\t", i);
      mn_pg__append_copy_value(txt, v);
      g_string_append_c(txt, '\n');
   }
   append_frame(bin, mn_pg__bin_trailer);
   snprintf(table, sizeof table, "t%d", n_case);
   copy_into(table, false, txt, state);
   assert_string_equal(state, "");
   snprintf(table, sizeof table, "b%d", n_case);
   copy_into(table, true, bin, state);
   assert_string_equal(state, "");
   sql = g_strdup_printf("SELECT t.id, t.v::text, b.v::text FROM %s.t%d t FULL JOIN %s.b%d b "
                         "USING (id) WHERE t.v::text IS DISTINCT FROM b.v::text OR t.id IS NULL "
                         "OR b.id IS NULL ORDER BY 1 LIMIT 5",
                         schema, n_case, schema, n_case);
   res = run(sql);
   g_free(sql);
   for (int i = 0; i < PQntuples(res); i++) {
      fprintf(stderr, "%s: \"%s\" read as %s in text, %s in binary (seed %u)\n", c->column,
              (const char *)g_ptr_array_index(texts, (guint)atoi(PQgetvalue(res, i, 0))),
              PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), seed);
   }
   assert_int_equal(PQntuples(res), 0);
   PQclear(res);
   g_string_free(bin, TRUE);
   g_string_free(txt, TRUE);
}

static const case_t cases[] = {
   {"text", MN_TYPE_TEXT, 0, -1, gen_text},
   {"varchar", MN_TYPE_TEXT, 0, -1, gen_text},
   {"text", MN_TYPE_NUMERIC, 0, -1, gen_number},
   {"uuid", MN_TYPE_UUID, 0, -1, gen_uuid},
   {"smallint", MN_TYPE_SMALLINT, 0, -1, gen_int},
   {"integer", MN_TYPE_INTEGER, 0, -1, gen_int},
   {"bigint", MN_TYPE_BIGINT, 0, -1, gen_int},
   {"bigint", MN_TYPE_INTEGER, 0, -1, gen_int},
   {"numeric", MN_TYPE_NUMERIC, 0, -1, gen_number},
   {"numeric(5,2)", MN_TYPE_NUMERIC, 5, 2, gen_number},
   {"numeric(30,10)", MN_TYPE_NUMERIC, 30, 10, gen_number},
   {"numeric", MN_TYPE_BIGINT, 0, -1, gen_int},
   {"double precision", MN_TYPE_DOUBLE, 0, -1, gen_float},
   {"double precision", MN_TYPE_INTEGER, 0, -1, gen_int},
   {"real", MN_TYPE_REAL, 0, -1, gen_float},
   {"boolean", MN_TYPE_BOOLEAN, 0, -1, gen_bool},
   {"date", MN_TYPE_DATE, 0, -1, gen_moment},
   {"timestamp", MN_TYPE_TIMESTAMP, 0, -1, gen_moment},
   {"timestamptz", MN_TYPE_TIMESTAMPTZ, 0, -1, gen_moment},
   {"timestamptz(0)", MN_TYPE_TIMESTAMPTZ, 0, -1, gen_moment},
   {"jsonb", MN_TYPE_JSONB, 0, -1, gen_json},
   {"json", MN_TYPE_JSONB, 0, -1, gen_json},
   {"inet", MN_TYPE_INET, 0, -1, gen_inet},
   {"text[]", MN_TYPE_TEXT_ARRAY, 0, -1, gen_array},
   {"mn_test_mood", MN_TYPE_TEXT, 0, -1, NULL},
   {"mn_test_score", MN_TYPE_INTEGER, 0, -1, gen_int},
};

/* Every case: random values of the converter, loaded both ways, read back the same. */
static void
test_binary_matches_text(void **state)
{
   GRand *r = g_rand_new_with_seed(seed);

   (void)state;
   fprintf(stderr, "test_binary: seed %u (MN_TEST_SEED replays it)\n", seed);
   for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
      GPtrArray *texts;
      if (!cases[i].gen) {
         static const char *const moods[] = {"calm", "anxious", "o'brien \"x\""};
         texts = g_ptr_array_new_with_free_func(g_free);
         for (int k = 0; k < 3; k++) {
            g_ptr_array_add(texts, g_strdup(moods[k]));
         }
      } else {
         texts = converted(&cases[i], r, VALUES_PER_CASE);
      }
      assert_true(texts->len > 0);
      compare_both_ways(&cases[i], texts, (int)i);
      g_ptr_array_free(texts, TRUE);
   }
   g_rand_free(r);
}

/* Texts of the forms binary.c reads that no random value may reach, and texts of no such
 * form (never encoded: the caller writes a refused field instead). */
static void
test_binary_edges(void **state)
{
   static const struct {
      const char *column;
      const char *text;
   } good[] = {
      {"numeric", "0.00"},
      {"numeric", "-0"},
      {"numeric", ".5"},
      {"numeric", "5."},
      {"numeric", "1e-20"},
      {"numeric", "1.5E3"},
      {"numeric", "-123456789012345678901234567890.123456789"},
      {"numeric", "1E+6144"},
      {"numeric", "1E-6176"},
      {"numeric", "0.0001000"},
      {"numeric", "10000"},
      {"numeric", "NaN"},
      {"numeric", "-Infinity"},
      {"date", "0001-01-01 BC"},
      {"date", "4714-11-24 BC"},
      {"date", "5874897-12-31"},
      {"date", "2000-02-29"},
      {"date", "infinity"},
      {"timestamptz", "294276-12-31 23:59:59.999999+00"},
      {"timestamptz", "4714-11-24 00:00:00+00 BC"},
      {"timestamptz", "0044-03-15 12:00:00.5+00 BC"},
      {"timestamp", "1969-12-31 23:59:59.999"},
      {"timestamp", "-infinity"},
      {"uuid", "{0123456789ABCDEF0123456789abcdef}"},
      {"uuid", "01234567-89ab-cdef-0123-456789abcdef"},
      {"uuid", "0123-4567-89ab-cdef-0123-4567-89ab-cdef"},
      {"inet", "::ffff:10.0.0.5"},
      {"inet", "255.255.255.255"},
      {"inet", "::"},
      {"text[]", "{}"},
      {"text[]", "{NULL}"},
      {"text[]", "{\"a\\\"b\",\"c\\\\d\",NULL,\"NULL\",\"\",\"{,}\"}"},
      {"real", "3.4028235e38"},
      {"double precision", "4.9e-324"},
      {"double precision", "-Infinity"},
      {"smallint", "-32768"},
      {"bigint", "-9223372036854775808"},
   };
   static const struct {
      mn_pg__bin_kind_t kind;
      const char *text;
   } bad[] = {
      {MN_PG_BIN_INT2, "32768"},
      {MN_PG_BIN_INT4, "1.5"},
      {MN_PG_BIN_INT8, "9223372036854775808"},
      {MN_PG_BIN_INT8, ""},
      {MN_PG_BIN_NUMERIC, "1.2.3"},
      {MN_PG_BIN_NUMERIC, "e5"},
      {MN_PG_BIN_NUMERIC, " 1"},
      {MN_PG_BIN_FLOAT4, "1e39"},
      {MN_PG_BIN_FLOAT8, "1e-400"},
      {MN_PG_BIN_FLOAT8, "1,5"},
      {MN_PG_BIN_BOOL, "true"},
      {MN_PG_BIN_DATE, "2021-02-30"},
      {MN_PG_BIN_DATE, "0000-01-01"},
      {MN_PG_BIN_DATE, "2021-1-01"},
      {MN_PG_BIN_TIMESTAMP, "2021-01-01 24:00:00"},
      {MN_PG_BIN_TIMESTAMPTZ, "2021-01-01 10:00:00"},
      {MN_PG_BIN_TIMESTAMPTZ, "2021-01-01 10:00:00+05"},
      {MN_PG_BIN_TIMESTAMPTZ, "294277-01-01 00:00:00+00"},
      {MN_PG_BIN_UUID, "0123456789abcdef0123456789abcde"},
      {MN_PG_BIN_UUID, "{0123456789abcdef0123456789abcdef"},
      {MN_PG_BIN_INET, "10.0.0.0/8"},
      {MN_PG_BIN_INET, "fe80::1%eth0"},
      {MN_PG_BIN_TEXT_ARRAY, "{a}"},
      {MN_PG_BIN_TEXT_ARRAY, "{\"a\",}"},
      {MN_PG_BIN_TEXT_ARRAY, "{\"a\"\"b\"}"},
      {MN_PG_BIN_TEXT_ARRAY, "{\"a}"},
   };
   GString *scratch = g_string_new(NULL);

   (void)state;
   for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
      GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
      case_t c = {good[i].column, MN_TYPE_TEXT, 0, -1, NULL};
      c.type = strcmp(c.column, "numeric") == 0            ? MN_TYPE_NUMERIC
               : strcmp(c.column, "date") == 0             ? MN_TYPE_DATE
               : strcmp(c.column, "timestamptz") == 0      ? MN_TYPE_TIMESTAMPTZ
               : strcmp(c.column, "timestamp") == 0        ? MN_TYPE_TIMESTAMP
               : strcmp(c.column, "uuid") == 0             ? MN_TYPE_UUID
               : strcmp(c.column, "inet") == 0             ? MN_TYPE_INET
               : strcmp(c.column, "text[]") == 0           ? MN_TYPE_TEXT_ARRAY
               : strcmp(c.column, "real") == 0             ? MN_TYPE_REAL
               : strcmp(c.column, "double precision") == 0 ? MN_TYPE_DOUBLE
                                                           : MN_TYPE_BIGINT;
      g_ptr_array_add(texts, g_strdup(good[i].text));
      compare_both_ways(&c, texts, 100 + (int)i);
      g_ptr_array_free(texts, TRUE);
   }
   for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
      g_string_truncate(scratch, 0);
      if (mn_pg__bin_append(scratch, bad[i].kind, bad[i].text, strlen(bad[i].text))) {
         fail_msg("\"%s\" encoded as kind %d", bad[i].text, (int)bad[i].kind);
      }
      assert_int_equal(scratch->len, 0);
   }
   g_string_free(scratch, TRUE);
}

/* A refused field makes COPY fail with SQLSTATE 22P03, for every kind that has one. */
static void
test_binary_refused(void **state)
{
   static const struct {
      const char *column;
      mn_pg__bin_kind_t kind;
   } kinds[] = {
      {"uuid", MN_PG_BIN_UUID},
      {"smallint", MN_PG_BIN_INT2},
      {"integer", MN_PG_BIN_INT4},
      {"bigint", MN_PG_BIN_INT8},
      {"numeric", MN_PG_BIN_NUMERIC},
      {"real", MN_PG_BIN_FLOAT4},
      {"double precision", MN_PG_BIN_FLOAT8},
      {"boolean", MN_PG_BIN_BOOL},
      {"date", MN_PG_BIN_DATE},
      {"timestamp", MN_PG_BIN_TIMESTAMP},
      {"timestamptz", MN_PG_BIN_TIMESTAMPTZ},
      {"inet", MN_PG_BIN_INET},
      {"text[]", MN_PG_BIN_TEXT_ARRAY},
   };

   (void)state;
   for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
      GString *bin = g_string_new(NULL);
      char st[6];
      char *table = g_strdup_printf("r%zu", i);
      exec_sql("CREATE TABLE %s.%s (id int, v %s)", schema, table, kinds[i].column);
      append_frame(bin, mn_pg__bin_header);
      mn_pg__bin_append_tuple(bin, 2);
      assert_true(mn_pg__bin_append(bin, MN_PG_BIN_INT4, "1", 1));
      mn_pg__bin_append_refused(bin, kinds[i].kind);
      append_frame(bin, mn_pg__bin_trailer);
      copy_into(table, true, bin, st);
      if (strcmp(st, "22P03") != 0) {
         fail_msg("%s: a refused field gave SQLSTATE \"%s\", not 22P03", kinds[i].column, st);
      }
      g_free(table);
      g_string_free(bin, TRUE);
   }
}

/* ---- which tables go binary ---- */

static const char *const FITS_YAML =
   "version: 1\n"
   "collections:\n"
   "  - collection: people\n"
   "    tables:\n"
   "      - table: people\n"
   "        columns:\n"
   "          name: name\n"
   "          age: {path: age, type: integer}\n"
   "          born: {path: born, type: date, on_invalid: null, raw_to: born_text}\n"
   "          born_text: {path: born_text}\n"
   "          kind: {const: \"5\"}\n"
   "      - table: visits\n"
   "        each: visits\n"
   "        columns:\n"
   "          person_id: {value: doc_id}\n"
   "          ordinal: {value: index}\n"
   "          at: {path: at, type: timestamptz}\n";

/* The kinds of table t's columns: `base` for each, then column `name` set to kind. */
static bool
fits_with(const mn_mapping_t *m, const char *table, const char *const *names,
          const mn_pg__bin_kind_t *base, const char *name, mn_pg__bin_kind_t kind)
{
   int t = mn_pg__find_table(m, table);
   mn_pg__bin_kind_t kinds[16];
   bool fits;

   assert_true(t >= 0 && m->tables[t].n_columns <= 16);
   for (size_t c = 0; c < m->tables[t].n_columns; c++) {
      kinds[c] = MN_PG_BIN_NONE;
      for (size_t k = 0; names[k]; k++) {
         if (strcmp(m->tables[t].columns[c], names[k]) == 0) {
            kinds[c] = base[k];
         }
      }
      if (name && strcmp(m->tables[t].columns[c], name) == 0) {
         kinds[c] = kind;
      }
   }
   fits = mn_pg__bin_table_fits(m, (size_t)t, kinds);
   return fits;
}

/* A table is binary only when everything its writers can put in each column encodes. */
static void
test_binary_table_fits(void **state)
{
   static const char *const people[] = {"id", "name", "age", "born", "born_text", "kind", NULL};
   static const mn_pg__bin_kind_t people_kinds[] = {MN_PG_BIN_UUID, MN_PG_BIN_TEXT, MN_PG_BIN_INT4,
                                                    MN_PG_BIN_DATE, MN_PG_BIN_TEXT, MN_PG_BIN_INT4};
   static const char *const visits[] = {"id", "person_id", "ordinal", "at", NULL};
   static const mn_pg__bin_kind_t visits_kinds[] = {MN_PG_BIN_UUID, MN_PG_BIN_UUID, MN_PG_BIN_INT4,
                                                    MN_PG_BIN_TIMESTAMPTZ};
   static const struct {
      const char *table, *column; /* column NULL: the base kinds as they are */
      mn_pg__bin_kind_t kind;
      bool fits;
   } changes[] = {
      {"people", NULL, MN_PG_BIN_NONE, true},
      {"people", "age", MN_PG_BIN_TEXT, true},
      {"people", "age", MN_PG_BIN_NUMERIC, true},
      {"people", "age", MN_PG_BIN_JSONB, true},
      {"people", "age", MN_PG_BIN_UUID, false},
      {"people", "age", MN_PG_BIN_NONE, false},
      {"people", "born", MN_PG_BIN_TIMESTAMPTZ, false},
      {"people", "born_text", MN_PG_BIN_DATE, false},
      {"people", "kind", MN_PG_BIN_INT2, true},
      {"people", "kind", MN_PG_BIN_FLOAT4, true},
      {"people", "kind", MN_PG_BIN_BOOL, false},
      {"people", "kind", MN_PG_BIN_UUID, false},
      {"people", "id", MN_PG_BIN_INT8, false},
      {"people", "id", MN_PG_BIN_TEXT, true},
      {"visits", NULL, MN_PG_BIN_NONE, true},
      {"visits", "ordinal", MN_PG_BIN_INT8, true},
      {"visits", "person_id", MN_PG_BIN_TEXT, true},
      {"visits", "ordinal", MN_PG_BIN_BOOL, false},
      {"visits", "ordinal", MN_PG_BIN_INT2, false},
      {"visits", "ordinal", MN_PG_BIN_NUMERIC, true},
      {"visits", "at", MN_PG_BIN_TIMESTAMP, false},
      {"visits", "person_id", MN_PG_BIN_INT8, false},
   };
   mn_error_t error = {0};
   mn_mapping_t *m = mn_mapping_load_string(FITS_YAML, strlen(FITS_YAML), "fits.yaml", &error);

   (void)state;
   if (!m) {
      fail_msg("%s", error.message);
   }
   for (size_t i = 0; i < G_N_ELEMENTS(changes); i++) {
      bool people_table = strcmp(changes[i].table, "people") == 0;
      bool fits =
         fits_with(m, changes[i].table, people_table ? people : visits,
                   people_table ? people_kinds : visits_kinds, changes[i].column, changes[i].kind);
      if (fits != changes[i].fits) {
         fail_msg("%s with %s of kind %d: fits %d", changes[i].table,
                  changes[i].column ? changes[i].column : "no change", (int)changes[i].kind, fits);
      }
   }
   mn_mapping_destroy(m);
}

static int
setup(void **state)
{
   const char *env = getenv("MN_TEST_SEED");

   (void)state;
   seed = env && *env ? (guint32)strtoul(env, NULL, 10) : (guint32)g_random_int();
   conn = PQconnectdb(getenv("MN_TEST_PG_DSN"));
   if (PQstatus(conn) != CONNECTION_OK) {
      fprintf(stderr, "cannot connect: %s", PQerrorMessage(conn));
      return -1;
   }
   PQclear(PQexec(conn, "SET client_min_messages = warning"));
   snprintf(schema, sizeof schema, "mn_test_binary_%d", (int)getpid());
   exec_sql("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path = %s", schema,
            schema, schema);
   exec_sql("CREATE TYPE %s.mn_test_mood AS ENUM ('calm', 'anxious', 'o''brien \"x\"');"
            "CREATE DOMAIN %s.mn_test_score AS integer",
            schema, schema);
   return 0;
}

static int
teardown(void **state)
{
   (void)state;
   exec_sql("DROP SCHEMA %s CASCADE", schema);
   PQfinish(conn);
   return 0;
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary_matches_text),
      cmocka_unit_test(test_binary_edges),
      cmocka_unit_test(test_binary_refused),
      cmocka_unit_test(test_binary_table_fits),
   };

   mn_test_require_env("MN_TEST_PG_DSN", "PostgreSQL");
   return mn_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
