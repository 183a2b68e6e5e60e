/*
 * test_load.c - integration tests of the main job against a real PostgreSQL.
 *
 * Reads MN_TEST_PG_DSN (a libpq connection string to a throwaway server, superuser);
 * without it the program exits 77 (skipped; 1 under CI=true, test_common.h) before any test
 * runs.  The group setup creates a fresh database
 * mn_test_load, applies sql/ with mn_pg_init_schema() and loads the MediChat dump
 * (fixtures/medichat/dump) with mapping/medichat.yaml through mn_run().  The tests then
 * check the target with SQL and compare it with what the SOURCE says, read through the
 * library's source API (fixtures/medichat/CASES.md names the messy documents).
 *
 * Order matters: the read-only checks run first, then the re-run (no changes), then the
 * incremental run with a modified source (compared with a fresh full load of it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_common.h"

#include <mongonorm/keys.h>
#include <mongonorm/pg.h>
#include <mongonorm/run.h>
#include <mongonorm/source.h>
#include <mongonorm/stats.h>

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_MAIN "mn_test_load"
#define DB_FRESH "mn_test_load_fresh"
#define DUMP_DIR MN_SOURCE_DIR "/fixtures/medichat/dump"
#define JSON_DIR MN_SOURCE_DIR "/fixtures/medichat/json-canonical"
#define MAPPING MN_SOURCE_DIR "/mapping/medichat.yaml"
#define SQL_DIR MN_SOURCE_DIR "/sql"
#define REJECTS MN_BUILD_DIR "/test_load_rejects.jsonl"
#define REJECTS_RERUN MN_BUILD_DIR "/test_load_rejects_rerun.jsonl"
#define REJECTS_INC MN_BUILD_DIR "/test_load_rejects_inc.jsonl"
#define REJECTS_FRESH MN_BUILD_DIR "/test_load_rejects_fresh.jsonl"
#define INC_DIR MN_BUILD_DIR "/test_load_modified_source"

/* The 12 tables the MediChat mapping writes. */
static const char *const TABLES[] = {
   "users",           "patient_medical_info", "allergies",     "medications",
   "medical_history", "emergency_contacts",   "conversations", "messages",
   "symptoms",        "attachments",          "prescriptions", "activity_logs"};
#define N_TABLES (sizeof TABLES / sizeof TABLES[0])

static const char *const COLLECTIONS[] = {"users", "conversations", "activity_logs"};
#define N_COLLECTIONS 3

/* The documents CASES.md says must be rejected, with the field path of the reason. */
static const struct {
   const char *collection, *id, *path;
} EXPECTED_REJECTS[] = {
   {"users", "63dbeefe7573720000000008", "role"},            /* case 4: 'superuser' */
   {"users", "63f80cb7757372000000000f", "email"},           /* case 25: duplicate email */
   {"conversations", "65ac0786636f6e0000000006", "patient"}, /* case 53: dangling patient */
   {"conversations", "65cb5f8a636f6e0000000012", "patient"}, /* case 65: rejected patient */
};
#define N_EXPECTED_REJECTS (sizeof EXPECTED_REJECTS / sizeof EXPECTED_REJECTS[0])

static struct {
   char *base_dsn;
   char *dsn;         /* the test database */
   PGconn *conn;      /* to the test database */
   mn_stats_t *stats; /* of the first load */
   bool run_ok;
   mn_error_t run_error;
   bool reran;                     /* test_load_rerun_changes_nothing ran */
   GPtrArray *docs[N_COLLECTIONS]; /* bson_t * of the dump, in source order */
} g;

/* ------------------------------------------------------------------------- */
/* connection strings and SQL helpers                                        */
/* ------------------------------------------------------------------------- */

/* base connection string with dbname replaced (works for key=value and URI forms). */
static char *
dsn_with_db(const char *base, const char *dbname)
{
   char *err = NULL;
   PQconninfoOption *opts = PQconninfoParse(base, &err);
   GString *s = g_string_new(NULL);

   if (!opts) {
      fprintf(stderr, "MN_TEST_PG_DSN does not parse: %s\n", err ? err : "?");
      PQfreemem(err);
      g_string_free(s, TRUE);
      return NULL;
   }
   for (PQconninfoOption *o = opts; o->keyword; o++) {
      if (!o->val || strcmp(o->keyword, "dbname") == 0) {
         continue;
      }
      g_string_append_printf(s, "%s='", o->keyword);
      for (const char *p = o->val; *p; p++) {
         if (*p == '\'' || *p == '\\') {
            g_string_append_c(s, '\\');
         }
         g_string_append_c(s, *p);
      }
      g_string_append(s, "' ");
   }
   g_string_append_printf(s, "dbname='%s'", dbname);
   PQconninfoFree(opts);
   return g_string_free(s, FALSE);
}

static void
quiet_notice(void *arg, const char *message)
{
   (void)arg;
   (void)message;
}

static PGconn *
connect_db(const char *dsn)
{
   PGconn *c = PQconnectdb(dsn);

   if (PQstatus(c) != CONNECTION_OK) {
      fprintf(stderr, "could not connect (%s): %s\n", dsn, PQerrorMessage(c));
      PQfinish(c);
      return NULL;
   }
   PQsetNoticeProcessor(c, quiet_notice, NULL); /* "database ... does not exist, skipping" */
   PQclear(PQexec(c, "SET client_encoding = 'UTF8'"));
   return c;
}

/* Run a query with text parameters; fails the test when it does not return rows. */
static PGresult *
qp(PGconn *c, const char *sql, int n, const char *const *params)
{
   PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      fail_msg("query failed: %s\n%s", sql, PQerrorMessage(c));
   }
   return res;
}

static PGresult *qf(PGconn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static PGresult *
qf(PGconn *c, const char *fmt, ...)
{
   va_list ap;
   char *sql;
   PGresult *res;

   va_start(ap, fmt);
   sql = g_strdup_vprintf(fmt, ap);
   va_end(ap);
   res = qp(c, sql, 0, NULL);
   g_free(sql);
   return res;
}

/* One integer value (count(*), ...). */
static long long
qint(PGconn *c, const char *sql, int n, const char *const *params)
{
   PGresult *res = qp(c, sql, n, params);
   long long v;

   if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
      fail_msg("expected one non-NULL value from: %s", sql);
   }
   v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
   PQclear(res);
   return v;
}

static bool
exec_cmd(PGconn *c, const char *sql)
{
   PGresult *res = PQexec(c, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

   if (!ok) {
      fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
   }
   PQclear(res);
   return ok;
}

/* Drop and create a database, apply the schema. */
static bool
fresh_database(const char *dbname, char **dsn_out)
{
   char *admin_dsn = g_strdup(g.base_dsn);
   PGconn *admin = connect_db(admin_dsn);
   char *sql;
   bool ok;
   PGconn *c;
   mn_error_t error = {0};
   mn_pg_init_result_t init = {0};

   g_free(admin_dsn);
   if (!admin) {
      return false;
   }
   sql = g_strdup_printf("DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
   ok = exec_cmd(admin, sql);
   g_free(sql);
   sql = g_strdup_printf("CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0", dbname);
   ok = ok && exec_cmd(admin, sql);
   g_free(sql);
   PQfinish(admin);
   if (!ok) {
      return false;
   }
   *dsn_out = dsn_with_db(g.base_dsn, dbname);
   c = *dsn_out ? connect_db(*dsn_out) : NULL;
   if (!c) {
      return false;
   }
   ok = mn_pg_init_schema(c, SQL_DIR, &init, &error);
   if (!ok) {
      fprintf(stderr, "mn_pg_init_schema: %s\n", error.message);
   } else if (init.applied < 1) {
      fprintf(stderr, "mn_pg_init_schema applied no file on a fresh database\n");
      ok = false;
   }
   mn_pg_init_result_cleanup(&init);
   PQfinish(c);
   return ok;
}

static bool
run_load(const char *source, const char *dsn, const char *reject_path, mn_stats_t *stats,
         mn_error_t *error)
{
   mn_run_opts_t opts = {0};

   opts.source = source;
   opts.mapping_path = MAPPING;
   opts.pg_conninfo = dsn;
   opts.reject_path = reject_path;
   return mn_run(&opts, stats, error);
}

/* md5 of the whole table in id order: equal checksums mean equal contents. */
static char *
table_checksum(PGconn *c, const char *table)
{
   PGresult *res = qf(c,
                      "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "
                      "FROM public.%s t",
                      table);
   char *v = g_strdup(PQgetvalue(res, 0, 0));

   PQclear(res);
   return v;
}

/* ------------------------------------------------------------------------- */
/* source helpers                                                            */
/* ------------------------------------------------------------------------- */

static GPtrArray *
read_collection(const char *location, const char *collection)
{
   mn_error_t error = {0};
   mn_source_t *src = mn_source_open(location, NULL, &error);
   mn_cursor_t *cur;
   GPtrArray *docs = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
   const bson_t *doc;
   mn_cursor_status_t st;

   if (!src) {
      fail_msg("mn_source_open(%s): %s", location, error.message);
   }
   cur = mn_source_find(src, collection, NULL, &error);
   if (!cur) {
      fail_msg("mn_source_find(%s): %s", collection, error.message);
   }
   while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC) {
      g_ptr_array_add(docs, bson_copy(doc));
   }
   if (st != MN_CURSOR_END) {
      fail_msg("reading %s from %s: status %d", collection, location, (int)st);
   }
   mn_cursor_destroy(cur);
   mn_source_destroy(src);
   return docs;
}

static GPtrArray *
docs_of(const char *collection)
{
   for (size_t i = 0; i < N_COLLECTIONS; i++) {
      if (strcmp(COLLECTIONS[i], collection) == 0) {
         if (!g.docs[i]) {
            g.docs[i] = read_collection(DUMP_DIR, collection);
         }
         return g.docs[i];
      }
   }
   fail_msg("unknown collection %s", collection);
   return NULL;
}

/* The _id as text: ObjectId hex, or the string itself. */
static bool
doc_id_text(const bson_t *doc, char *out, size_t size)
{
   bson_iter_t it;

   if (!bson_iter_init_find(&it, doc, "_id")) {
      return false;
   }
   if (BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_to_string(bson_iter_oid(&it), out);
      return true;
   }
   if (BSON_ITER_HOLDS_UTF8(&it)) {
      snprintf(out, size, "%s", bson_iter_utf8(&it, NULL));
      return true;
   }
   return false;
}

static const bson_t *
find_doc(const char *collection, const char *id)
{
   GPtrArray *docs = docs_of(collection);
   char buf[256];

   for (guint i = 0; i < docs->len; i++) {
      if (doc_id_text(docs->pdata[i], buf, sizeof buf) && strcmp(buf, id) == 0) {
         return docs->pdata[i];
      }
   }
   fail_msg("document %s not found in the source collection %s", id, collection);
   return NULL;
}

/* The row id of an ObjectId, written independently of the library: hex + 8 zeros. */
static void
oid_uuid(const bson_oid_t *oid, char out[37])
{
   char hex[25];

   bson_oid_to_string(oid, hex);
   snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.4s00000000", hex, hex + 8, hex + 12, hex + 16,
            hex + 20);
}

static void
hex_uuid(const char *hex24, char out[37])
{
   bson_oid_t oid;

   bson_oid_init_from_string(&oid, hex24);
   oid_uuid(&oid, out);
}

/* A count over the rows of one or two source documents: SQL with $1 (and $2) the row ids
 * of their ObjectIds must give WANT. */
typedef struct {
   const char *what;   /* what the count shows, printed when it is wrong */
   const char *hex[3]; /* the ObjectIds, $1 to $3; NULL after the last */
   const char *sql;
   long long want;
} count_case_t;

static void
assert_counts(const count_case_t *cases, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      char ids[3][37];
      const char *params[3] = {ids[0], ids[1], ids[2]};
      int k = 0;
      long long got;

      while (k < 3 && cases[i].hex[k]) {
         hex_uuid(cases[i].hex[k], ids[k]);
         k++;
      }
      got = qint(g.conn, cases[i].sql, k, params);
      if (got != cases[i].want) {
         print_error("%s: count %lld, want %lld\n", cases[i].what, got, cases[i].want);
      }
      assert_int_equal(got, cases[i].want);
   }
}

/* The result of SQL with $1 the row id ID, which must be exactly one row; the caller
 * PQclear()s it. */
static PGresult *
row_of_id(const char *sql, const char *id)
{
   const char *params[1] = {id};
   PGresult *res = qp(g.conn, sql, 1, params);

   assert_int_equal(PQntuples(res), 1);
   return res;
}

/* row_of_id() with the row id of ObjectId HEX. */
static PGresult *
row_of(const char *sql, const char *hex)
{
   char id[37];

   hex_uuid(hex, id);
   return row_of_id(sql, id);
}

static bool
doc_uuid(const bson_t *doc, char out[37])
{
   bson_iter_t it;

   if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
      return false;
   }
   oid_uuid(bson_iter_oid(&it), out);
   return true;
}

static bool
is_expected_reject(const char *collection, const char *id)
{
   for (size_t i = 0; i < N_EXPECTED_REJECTS; i++) {
      if (strcmp(EXPECTED_REJECTS[i].collection, collection) == 0 &&
          strcmp(EXPECTED_REJECTS[i].id, id) == 0) {
         return true;
      }
   }
   return false;
}

static bool
doc_accepted(const char *collection, const bson_t *doc)
{
   char id[256];

   return doc_id_text(doc, id, sizeof id) && !is_expected_reject(collection, id);
}

/* Whether an ObjectId names a users document that is loaded (not rejected). */
static bool
user_accepted(const bson_oid_t *oid)
{
   char hex[25];
   GPtrArray *users = docs_of("users");

   bson_oid_to_string(oid, hex);
   for (guint i = 0; i < users->len; i++) {
      char id[256];
      if (doc_id_text(users->pdata[i], id, sizeof id) && strcmp(id, hex) == 0) {
         return !is_expected_reject("users", hex);
      }
   }
   return false;
}

/* A dotted path; false when missing.  BSON null counts as present here. */
static bool
find_path(const bson_t *doc, const char *path, bson_iter_t *out)
{
   bson_iter_t it;

   if (strchr(path, '.')) {
      if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, out)) {
         return false;
      }
      return true;
   }
   return bson_iter_init_find(out, doc, path);
}

/* Compare a text cell with source bytes (src == NULL: the cell must be NULL). */
static void
assert_cell_bytes(const PGresult *res, int row, int col, const char *src, size_t len,
                  const char *what)
{
   const char *v;
   size_t n;

   if (!src) {
      if (!PQgetisnull(res, row, col)) {
         fail_msg("%s: expected NULL, got '%.80s'", what, PQgetvalue(res, row, col));
      }
      return;
   }
   if (PQgetisnull(res, row, col)) {
      fail_msg("%s: expected %zu bytes '%.80s', got NULL", what, len, src);
   }
   v = PQgetvalue(res, row, col);
   n = (size_t)PQgetlength(res, row, col);
   if (n != len || memcmp(v, src, len) != 0) {
      size_t k = 0;
      while (k < n && k < len && v[k] == src[k]) {
         k++;
      }
      fail_msg("%s: bytes differ at offset %zu (target %zu bytes, source %zu bytes): "
               "target '%.60s' source '%.60s'",
               what, k, n, len, v + (k < n ? k : n), src + k);
   }
}

/* The UTF-8 bytes of a source string field (NULL when missing, null or not a string). */
static const char *
src_utf8(const bson_t *doc, const char *path, uint32_t *len)
{
   bson_iter_t it;

   if (!find_path(doc, path, &it) || !BSON_ITER_HOLDS_UTF8(&it)) {
      *len = 0;
      return NULL;
   }
   return bson_iter_utf8(&it, len);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
   int64_t q = a / b;
   return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Shortest decimal text that reads back as the same double. */
static void
double_text(double d, char *out, size_t size)
{
   for (int p = 1; p <= 17; p++) {
      snprintf(out, size, "%.*g", p, d);
      if (strtod(out, NULL) == d) {
         return;
      }
   }
}

/* Collect a failure and go on, so that one failing check does not hide the others. */
#define PROBLEM(...)                                                                               \
   do {                                                                                            \
      g_string_append(problems, "  ");                                                             \
      g_string_append_printf(problems, __VA_ARGS__);                                               \
      g_string_append_c(problems, '\n');                                                           \
   } while (0)

/* Fail the test with WHAT and the PROBLEMs collected, if any; frees PROBLEMS. */
static void
fail_on_problems(GString *problems, const char *what)
{
   if (problems->len) {
      fail_msg("%s:\n%s", what, problems->str);
   }
   g_string_free(problems, TRUE);
}

/* Fail the test when the group setup could not prepare the database or the load did not
 * complete. */
static void
require_load(void)
{
   if (!g.conn) {
      fail_msg("the group setup could not prepare the database (see stderr)");
   }
   if (!g.run_ok) {
      fail_msg("mn_run failed: domain %u code %u: %s", g.run_error.domain, g.run_error.code,
               g.run_error.message);
   }
}

/* ------------------------------------------------------------------------- */
/* group setup / teardown                                                    */
/* ------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
   const char *dsn = getenv("MN_TEST_PG_DSN"); /* set: main() checked */
   int fd;

   (void)state;
   memset(&g, 0, sizeof g);
   g.base_dsn = g_strdup(dsn);
   if (!fresh_database(DB_MAIN, &g.dsn)) {
      return 0; /* every test fails through require_load() */
   }
   /* A stale reject file with a loose mode: the run must make it private (0600). */
   g_unlink(REJECTS);
   fd = open(REJECTS, O_WRONLY | O_CREAT | O_TRUNC, 0644);
   if (fd >= 0) {
      (void)!write(fd, "stale line\n", 11);
      fchmod(fd, 0644);
      close(fd);
   }
   g.stats = mn_stats_new();
   g.run_ok = run_load(DUMP_DIR, g.dsn, REJECTS, g.stats, &g.run_error);
   g.conn = connect_db(g.dsn);
   return 0;
}

static int
group_teardown(void **state)
{
   (void)state;
   PQfinish(g.conn);
   mn_stats_destroy(g.stats);
   for (size_t i = 0; i < N_COLLECTIONS; i++) {
      if (g.docs[i]) {
         g_ptr_array_free(g.docs[i], TRUE);
      }
   }
   g_free(g.dsn);
   g_free(g.base_dsn);
   memset(&g, 0, sizeof g);
   return 0;
}

/* ------------------------------------------------------------------------- */
/* tests                                                                     */
/* ------------------------------------------------------------------------- */

/*
 * Row counts equal the statistics, every mapped table has rows, every document read is
 * loaded or rejected, the read count is the source's document count, and the messages
 * table holds exactly the messages of the accepted conversations.
 * Guards: statistics that miscount (e.g. counting staged rows, not written ones), a
 * batch silently dropped, documents skipped by the reader, a table never written.
 */
static void
test_load_counts_match_statistics(void **state)
{
   (void)state;
   require_load();
   for (size_t t = 0; t < N_TABLES; t++) {
      long long n;
      char *sql = g_strdup_printf("SELECT count(*) FROM public.%s", TABLES[t]);
      mn_table_counts_t *tc = mn_stats_table(g.stats, TABLES[t]);

      n = qint(g.conn, sql, 0, NULL);
      g_free(sql);
      if (n == 0) {
         fail_msg("table %s is empty after the load", TABLES[t]);
      }
      if ((uint64_t)n != tc->inserted) {
         fail_msg("table %s: %lld rows, statistics say %" PRIu64 " inserted", TABLES[t], n,
                  tc->inserted);
      }
      if (tc->updated || tc->deleted) {
         fail_msg("table %s: first load into an empty database counts %" PRIu64 " updated, %" PRIu64
                  " deleted",
                  TABLES[t], tc->updated, tc->deleted);
      }
   }
   for (size_t c = 0; c < N_COLLECTIONS; c++) {
      mn_collection_counts_t *cc = mn_stats_collection(g.stats, COLLECTIONS[c]);
      GPtrArray *docs = docs_of(COLLECTIONS[c]);
      uint64_t expected_rejects = 0;
      char *sql;
      long long primary;

      for (size_t r = 0; r < N_EXPECTED_REJECTS; r++) {
         expected_rejects += strcmp(EXPECTED_REJECTS[r].collection, COLLECTIONS[c]) == 0;
      }
      if (cc->read != docs->len) {
         fail_msg("%s: read %" PRIu64 ", the source has %u documents", COLLECTIONS[c], cc->read,
                  docs->len);
      }
      if (cc->read != cc->loaded + cc->rejected) {
         fail_msg("%s: read %" PRIu64 " != loaded %" PRIu64 " + rejected %" PRIu64, COLLECTIONS[c],
                  cc->read, cc->loaded, cc->rejected);
      }
      if (cc->rejected != expected_rejects) {
         fail_msg("%s: %" PRIu64 " rejected, CASES.md expects %" PRIu64, COLLECTIONS[c],
                  cc->rejected, expected_rejects);
      }
      sql = g_strdup_printf("SELECT count(*) FROM public.%s", COLLECTIONS[c]);
      primary = qint(g.conn, sql, 0, NULL);
      g_free(sql);
      if ((uint64_t)primary != cc->loaded) {
         fail_msg("%s: %lld primary rows, %" PRIu64 " documents loaded", COLLECTIONS[c], primary,
                  cc->loaded);
      }
   }
   {
      GPtrArray *convs = docs_of("conversations");
      long long expected = 0;
      for (guint i = 0; i < convs->len; i++) {
         bson_iter_t it, arr;
         if (!doc_accepted("conversations", convs->pdata[i])) {
            continue;
         }
         if (bson_iter_init_find(&it, convs->pdata[i], "messages") && BSON_ITER_HOLDS_ARRAY(&it) &&
             bson_iter_recurse(&it, &arr)) {
            while (bson_iter_next(&arr)) {
               expected++;
            }
         }
      }
      assert_int_equal(qint(g.conn, "SELECT count(*) FROM public.messages", 0, NULL), expected);
   }
}

/* Compare the messages rows of one conversation with its source array. */
static void
check_conversation_messages(const bson_t *conv, bool check_ids)
{
   char cid[37], hex[25];
   const char *params[1] = {cid};
   PGresult *res;
   bson_iter_t it, arr;
   int i = 0;

   assert_true(doc_uuid(conv, cid));
   doc_id_text(conv, hex, sizeof hex);
   res = qp(g.conn,
            "SELECT ordinal, id::text, content FROM public.messages "
            "WHERE conversation_id = $1 ORDER BY ordinal",
            1, params);
   if (!bson_iter_init_find(&it, conv, "messages") || !BSON_ITER_HOLDS_ARRAY(&it)) {
      assert_int_equal(PQntuples(res), 0);
      PQclear(res);
      return;
   }
   bson_iter_recurse(&it, &arr);
   while (bson_iter_next(&arr)) {
      bson_iter_t el, f;
      char what[160];
      const char *content = NULL;
      uint32_t len = 0;

      if (i >= PQntuples(res)) {
         fail_msg("conversation %s: %d messages rows, the source has more", hex, PQntuples(res));
      }
      if (atoi(PQgetvalue(res, i, 0)) != i) {
         fail_msg("conversation %s: row %d in ordinal order has ordinal %s", hex, i,
                  PQgetvalue(res, i, 0));
      }
      assert_true(BSON_ITER_HOLDS_DOCUMENT(&arr));
      bson_iter_recurse(&arr, &el);
      if (bson_iter_find(&el, "content") && BSON_ITER_HOLDS_UTF8(&el)) {
         content = bson_iter_utf8(&el, &len);
      }
      snprintf(what, sizeof what, "conversation %s messages[%d].content", hex, i);
      assert_cell_bytes(res, i, 2, content, len, what);
      if (check_ids) {
         char mid[37];
         bson_iter_recurse(&arr, &f);
         assert_true(bson_iter_find(&f, "_id") && BSON_ITER_HOLDS_OID(&f));
         oid_uuid(bson_iter_oid(&f), mid);
         if (strcmp(PQgetvalue(res, i, 1), mid) != 0) {
            fail_msg("conversation %s messages[%d]: id %s, expected %s (from its _id)", hex, i,
                     PQgetvalue(res, i, 1), mid);
         }
      }
      i++;
   }
   if (i != PQntuples(res)) {
      fail_msg("conversation %s: %d messages rows, the source array has %d", hex, PQntuples(res),
               i);
   }
   PQclear(res);
}

/*
 * The 3000-message conversation: ordinals 0..n-1 in source array order (content compared
 * one by one), ids from each message's _id; the same order check for every loaded
 * conversation.  Guards: rows sorted by something else (timestamp, id, hash order of a
 * staging structure), ordinals restarting per batch, a message lost at a buffer boundary,
 * ids derived from the position instead of the _id.
 */
static void
test_load_message_order(void **state)
{
   const bson_t *big;
   GPtrArray *convs;
   char cid[37];
   const char *params[1] = {cid};

   (void)state;
   require_load();
   big = find_doc("conversations", "65a91b0d636f6e0000000005");
   check_conversation_messages(big, true);
   doc_uuid(big, cid);
   assert_int_equal(
      qint(g.conn, "SELECT count(*) FROM public.messages WHERE conversation_id = $1", 1, params),
      3000);
   assert_int_equal(qint(g.conn,
                         "SELECT count(DISTINCT ordinal) FILTER (WHERE ordinal BETWEEN 0 AND 2999) "
                         "FROM public.messages WHERE conversation_id = $1",
                         1, params),
                    3000);
   convs = docs_of("conversations");
   for (guint i = 0; i < convs->len; i++) {
      if (doc_accepted("conversations", convs->pdata[i])) {
         check_conversation_messages(convs->pdata[i], false);
      }
   }
}

/* Each column c of RES's row 0 holds the bytes of DOC's string at path cols[c][1] (NULL
 * when it has none); a failure names "TABLE ID.column". */
static void
assert_row_text(const PGresult *res, const bson_t *doc, const char *const cols[][2], size_t n,
                const char *table, const char *id)
{
   for (size_t c = 0; c < n; c++) {
      uint32_t len;
      const char *s = src_utf8(doc, cols[c][1], &len);
      char what[128];
      snprintf(what, sizeof what, "%s %s.%s", table, id, cols[c][0]);
      assert_cell_bytes(res, 0, (int)c, s, len, what);
   }
}

/*
 * For every loaded document of COLLECTION with an ObjectId _id (a string _id is checked in
 * test_load_ids), its row of the table of that name (SQL, $1 its row id) holds, column by
 * column, the bytes of the source strings at the paths COLS gives (assert_row_text).
 */
static void
check_text_rows(const char *collection, const char *sql, const char *const cols[][2], size_t n)
{
   GPtrArray *docs = docs_of(collection);

   for (guint i = 0; i < docs->len; i++) {
      const bson_t *doc = docs->pdata[i];
      char id[37];
      PGresult *res;

      if (!doc_accepted(collection, doc) || !doc_uuid(doc, id)) {
         continue;
      }
      res = row_of_id(sql, id);
      assert_row_text(res, doc, cols, n, collection, id);
      PQclear(res);
   }
}

/* The names and other verbatim text of every loaded user, byte for byte. */
static const char *const USER_TEXT[][2] = {{"first_name", "firstName"},
                                           {"last_name", "lastName"},
                                           {"phone", "phone"},
                                           {"password_hash", "password"},
                                           {"profile_photo", "profilePhoto"}};

/* Every activity log's verbatim text fields, byte for byte. */
static const char *const LOG_TEXT[][2] = {
   {"user_email", "userEmail"},   {"action", "action"},        {"description", "description"},
   {"endpoint", "endpoint"},      {"user_agent", "userAgent"}, {"error_message", "error.message"},
   {"error_stack", "error.stack"}};

/* The 100 KB note, medicalHistory[0].notes of Grace Okafor (case 41), byte for byte. */
static void
check_long_note(void)
{
   const bson_t *doc = find_doc("users", "641c32ef7573720000000018");
   uint32_t len;
   const char *notes = src_utf8(doc, "medicalHistory.0.notes", &len);
   PGresult *res;

   assert_non_null(notes);
   assert_int_equal(len, 102491); /* the fixture CASES.md describes (case 41) */
   res = row_of("SELECT notes FROM public.medical_history WHERE patient_id = $1 "
                "AND category = 'condition' AND ordinal = 0",
                "641c32ef7573720000000018");
   assert_cell_bytes(res, 0, 0, notes, len, "medical_history.notes (100 KB)");
   PQclear(res);
}

/* The Chinese conditions of case 14, in array order, byte for byte. */
static void
check_chinese_conditions(void)
{
   const bson_t *doc = find_doc("users", "63ebfffa757372000000000c");
   char id[37];
   const char *params[1] = {id};
   bson_iter_t it, arr;
   PGresult *res;
   int k = 0;

   doc_uuid(doc, id);
   res = qp(g.conn,
            "SELECT condition FROM public.medical_history WHERE patient_id = $1 "
            "AND category = 'condition' ORDER BY ordinal",
            1, params);
   assert_true(find_path(doc, "medicalHistory", &it) && BSON_ITER_HOLDS_ARRAY(&it));
   bson_iter_recurse(&it, &arr);
   while (bson_iter_next(&arr)) {
      bson_t sub;
      const uint8_t *data;
      uint32_t dlen, len;
      const char *s;
      bson_iter_document(&arr, &dlen, &data);
      bson_init_static(&sub, data, dlen);
      s = src_utf8(&sub, "condition", &len);
      assert_true(k < PQntuples(res));
      assert_cell_bytes(res, k, 0, s, len, "medical_history.condition (Chinese)");
      k++;
   }
   assert_int_equal(k, PQntuples(res));
   PQclear(res);
}

/*
 * Unicode and long text are stored byte for byte: messages in Spanish (newline), Chinese
 * (emoji), Arabic (TAB), Japanese, Portuguese; every user's names; the 100 KB
 * multilingual note; every activity log's verbatim text fields (SQL-injection e-mail,
 * multi-line stacks, the 8 KB stack, Chinese description).
 * Guards: COPY escaping errors (\n, \t, \\), truncation at a buffer size, a client
 * encoding conversion, surrogate-pair mangling, trimming of verbatim text.
 */
static void
test_load_text_byte_exact(void **state)
{
   static const char *const convs[] = {"65a1998a636f6e0000000002", "65a3eb17636f6e0000000003",
                                       "65a6d790636f6e0000000004", "65d37bbd636f6e0000000015",
                                       "65db982c636f6e0000000018"};

   (void)state;
   require_load();
   for (size_t i = 0; i < G_N_ELEMENTS(convs); i++) {
      check_conversation_messages(find_doc("conversations", convs[i]), true);
   }
   check_text_rows("users",
                   "SELECT first_name, last_name, phone, password_hash, profile_photo "
                   "FROM public.users WHERE id = $1",
                   USER_TEXT, G_N_ELEMENTS(USER_TEXT));
   check_long_note();
   check_chinese_conditions();
   check_text_rows("activity_logs",
                   "SELECT user_email, action, description, endpoint, user_agent, "
                   "error_message, error_stack FROM public.activity_logs WHERE id = $1",
                   LOG_TEXT, G_N_ELEMENTS(LOG_TEXT));
}

/* A timestamptz cell equals a BSON datetime (ms), or is NULL when the source has none. */
static void
check_timestamp(const char *table, const char *column, const char *id, const bson_t *doc,
                const char *path)
{
   bson_iter_t it;
   char ms[32];
   const char *params[2] = {id, ms};
   char *sql;
   PGresult *res;

   sql = g_strdup_printf("SELECT %s IS NULL, (extract(epoch FROM %s) * 1000) = $2::numeric, "
                         "%s::text FROM public.%s WHERE id = $1",
                         column, column, column, table);
   if (find_path(doc, path, &it) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      snprintf(ms, sizeof ms, "%" PRId64, bson_iter_date_time(&it));
   } else {
      snprintf(ms, sizeof ms, "0");
   }
   res = qp(g.conn, sql, 2, params);
   g_free(sql);
   if (PQntuples(res) != 1) {
      fail_msg("%s %s: no row", table, id);
   }
   if (find_path(doc, path, &it) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
         fail_msg("%s %s.%s: '%s', the source says %s ms since the epoch", table, id, column,
                  PQgetvalue(res, 0, 2), ms);
      }
   } else if (!find_path(doc, path, &it) || BSON_ITER_HOLDS_NULL(&it)) {
      if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
         fail_msg("%s %s.%s: '%s', the source has no value (must be NULL)", table, id, column,
                  PQgetvalue(res, 0, 2));
      }
   }
   PQclear(res);
}

/* A date cell equals the UTC day of a BSON datetime. */
static void
check_date(const PGresult *res, int row, int col, int64_t ms, const char *what)
{
   int64_t days = floor_div(ms, 86400000);

   if (PQgetisnull(res, row, col)) {
      fail_msg("%s: NULL, the source has %" PRId64 " ms", what, ms);
   }
   if (strtoll(PQgetvalue(res, row, col), NULL, 10) != days) {
      fail_msg("%s: day %s after 1970-01-01, the source's UTC day is %" PRId64 " (%" PRId64 " ms)",
               what, PQgetvalue(res, row, col), days, ms);
   }
}

/* Every loaded user's timestamps equal the BSON datetimes, date_of_birth its UTC day. */
static void
check_user_dates(GPtrArray *users)
{
   for (guint i = 0; i < users->len; i++) {
      const bson_t *doc = users->pdata[i];
      char id[37];
      bson_iter_t it;

      if (!doc_accepted("users", doc)) {
         continue;
      }
      doc_uuid(doc, id);
      check_timestamp("users", "created_at", id, doc, "createdAt");
      check_timestamp("users", "updated_at", id, doc, "updatedAt");
      check_timestamp("users", "last_login_at", id, doc, "lastLoginAt");
      if (find_path(doc, "dateOfBirth", &it) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
         const char *params[1] = {id};
         PGresult *res = qp(g.conn,
                            "SELECT date_of_birth - date '1970-01-01' FROM public.users "
                            "WHERE id = $1",
                            1, params);
         char what[96];
         snprintf(what, sizeof what, "users %s.date_of_birth", id);
         check_date(res, 0, 0, bson_iter_date_time(&it), what);
         PQclear(res);
      }
   }
}

/* The dates of birth CASES.md lists, so that a fixture change cannot hide them. */
static void
check_birth_date_edges(void)
{
   static const struct {
      const char *id, *expected;
   } dob[] = {{"63f40878757372000000000e", "1932-07-14"},
              {"641c32ef7573720000000018", "1969-12-31"},
              {"642c43eb757372000000001c", "1970-01-01"},
              {"64283fac757372000000001b", "2004-02-29"},
              {"63e7fbbb757372000000000b", "1985-03-02"}};
   for (size_t k = 0; k < G_N_ELEMENTS(dob); k++) {
      PGresult *res =
         row_of("SELECT date_of_birth::text FROM public.users WHERE id = $1", dob[k].id);
      if (PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), dob[k].expected) != 0) {
         fail_msg("users %s.date_of_birth: '%s', expected %s", dob[k].id,
                  PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0), dob[k].expected);
      }
      PQclear(res);
   }
}

/* The year-20240 login (576551896200250 ms) is not clamped. */
static void
check_far_login(void)
{
   PGresult *res = row_of("SELECT (extract(epoch FROM last_login_at) * 1000)::text, "
                          "extract(year FROM last_login_at)::int FROM public.users WHERE id = $1",
                          "64182eaf7573720000000017");

   assert_false(PQgetisnull(res, 0, 0));
   if (strtod(PQgetvalue(res, 0, 0), NULL) != 576551896200250.0 ||
       atoi(PQgetvalue(res, 0, 1)) != 20240) {
      fail_msg("users 64182eaf...17.last_login_at: %s ms, year %s; the source says "
               "576551896200250 ms (year 20240)",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
   }
   PQclear(res);
}

/* medicalHistory diagnosedDate: every Date one, 1965 (case 33) among them, is its UTC day. */
static void
check_diagnosed_dates(GPtrArray *users)
{
   for (guint i = 0; i < users->len; i++) {
      const bson_t *doc = users->pdata[i];
      bson_iter_t it, arr;
      char id[37];
      int k = 0;

      if (!doc_accepted("users", doc) || !find_path(doc, "medicalHistory", &it) ||
          !BSON_ITER_HOLDS_ARRAY(&it)) {
         continue;
      }
      doc_uuid(doc, id);
      bson_iter_recurse(&it, &arr);
      while (bson_iter_next(&arr)) {
         bson_iter_t el;
         if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &el) &&
             bson_iter_find(&el, "diagnosedDate") && BSON_ITER_HOLDS_DATE_TIME(&el)) {
            char ord[16], what[128];
            const char *params[2] = {id, ord};
            PGresult *res;
            snprintf(ord, sizeof ord, "%d", k);
            res = qp(g.conn,
                     "SELECT diagnosed_date - date '1970-01-01' FROM public.medical_history "
                     "WHERE patient_id = $1 AND category = 'condition' AND ordinal = $2::int",
                     2, params);
            snprintf(what, sizeof what, "medical_history of %s, medicalHistory[%d]", id, k);
            if (PQntuples(res) != 1) {
               fail_msg("%s: no row", what);
            }
            check_date(res, 0, 0, bson_iter_date_time(&el), what);
            PQclear(res);
         }
         k++;
      }
   }
}

/* Every loaded conversation's timestamps and its messages' (by _id) equal the source. */
static void
check_conversation_dates(GPtrArray *convs)
{
   for (guint i = 0; i < convs->len; i++) {
      const bson_t *doc = convs->pdata[i];
      char id[37];
      bson_iter_t it, arr;

      if (!doc_accepted("conversations", doc)) {
         continue;
      }
      doc_uuid(doc, id);
      check_timestamp("conversations", "created_at", id, doc, "createdAt");
      check_timestamp("conversations", "updated_at", id, doc, "updatedAt");
      check_timestamp("conversations", "responded_at", id, doc, "doctorResponse.respondedAt");
      check_timestamp("conversations", "conversation_ended_at", id, doc, "conversationEndedAt");
      if (find_path(doc, "messages", &it) && BSON_ITER_HOLDS_ARRAY(&it)) {
         bson_iter_recurse(&it, &arr);
         while (bson_iter_next(&arr)) {
            bson_iter_t el;
            char mid[37];
            const uint8_t *data;
            uint32_t len;
            bson_t sub;
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &el) ||
                !bson_iter_find(&el, "_id") || !BSON_ITER_HOLDS_OID(&el)) {
               continue;
            }
            /* duplicate _ids (case 61) take a positional id: check the first only */
            oid_uuid(bson_iter_oid(&el), mid);
            bson_iter_document(&arr, &len, &data);
            bson_init_static(&sub, data, len);
            if (strcmp(mid, "65c0e37e-6d73-6700-0000-0be200000000") == 0) {
               continue;
            }
            check_timestamp("messages", "created_at", mid, &sub, "timestamp");
         }
      }
   }
}

/* Case 48: responded_at keeps its .600 ms. */
static void
check_responded_ms(void)
{
   PGresult *res =
      row_of("SELECT to_char(responded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') "
             "FROM public.conversations WHERE id = $1",
             "659ead11636f6e0000000001");

   assert_string_equal(PQgetvalue(res, 0, 0), "2024-01-10 19:55:32.600");
   PQclear(res);
}

/* Case 67: an ISO string timestamp converts; a missing one is NULL. */
static const count_case_t ISO_TIMESTAMP_CASE[] = {
   {"case 67: an ISO string timestamp converts, a missing one is NULL",
    {"65ce3df06d73670000000beb", "65ce3e2b6d73670000000bec"},
    "SELECT count(*) FROM public.messages WHERE (id = $1 AND "
    "extract(epoch FROM created_at) * 1000 = 1707905100000) OR "
    "(id = $2 AND created_at IS NULL)",
    2},
};

/*
 * Dates exact to the millisecond, before 1970 and after 9999: every timestamptz of every
 * loaded user, conversation, message and activity log equals the BSON datetime (or is NULL
 * when the source has none); date columns hold the UTC day of the BSON datetime
 * (1932, -3600000 ms = 1969-12-31, epoch 0, leap day, 1965 diagnosis); the year-20240
 * login is not clamped; the ISO-string message timestamp converts.
 * Guards: seconds instead of ms, truncation toward zero for negative millis (1970-01-01
 * instead of 1969-12-31), local-time conversion, clamping at 9999, timestamps lost at
 * .600 ms, the load time used for a missing timestamp.
 */
static void
test_load_dates_exact(void **state)
{
   GPtrArray *users, *logs;

   (void)state;
   require_load();
   users = docs_of("users");
   check_user_dates(users);
   check_birth_date_edges();
   check_far_login();
   check_diagnosed_dates(users);
   check_conversation_dates(docs_of("conversations"));
   assert_counts(ISO_TIMESTAMP_CASE, G_N_ELEMENTS(ISO_TIMESTAMP_CASE));
   check_responded_ms();
   logs = docs_of("activity_logs");
   for (guint i = 0; i < logs->len; i++) {
      char id[37];
      if (!doc_uuid(logs->pdata[i], id)) {
         continue;
      }
      check_timestamp("activity_logs", "created_at", id, logs->pdata[i], "createdAt");
   }
}

/* The exact decimal text a numeric column must equal for a BSON number, or false. */
static bool
number_text(const bson_iter_t *it, char *out, size_t size)
{
   switch (bson_iter_type(it)) {
   case BSON_TYPE_INT32: snprintf(out, size, "%" PRId32, bson_iter_int32(it)); return true;
   case BSON_TYPE_INT64: snprintf(out, size, "%" PRId64, bson_iter_int64(it)); return true;
   case BSON_TYPE_DOUBLE:
      /* numeric holds NaN and the infinities (PostgreSQL 14+) */
      if (isnan(bson_iter_double(it))) {
         snprintf(out, size, "NaN");
      } else if (isinf(bson_iter_double(it))) {
         snprintf(out, size, "%s", bson_iter_double(it) < 0 ? "-Infinity" : "Infinity");
      } else {
         double_text(bson_iter_double(it), out, size);
      }
      return true;
   case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t d;
      char s[BSON_DECIMAL128_STRING];
      bson_iter_decimal128(it, &d);
      bson_decimal128_to_string(&d, s);
      snprintf(out, size, "%s", s);
      return true;
   }
   default: return false;
   }
}

/* A log's duration_ms (column 0 of RES) equals the source number IT found by value, and by
 * its text for integers and Decimal128; NULL when the source has none or not a number. */
static void
check_duration(const PGresult *res, bson_iter_t *it, bool found, const char *hex, GString *problems)
{
   if (found) {
      char want[128];
      if (number_text(it, want, sizeof want)) {
         const char *p2[2];
         if (PQgetisnull(res, 0, 0)) {
            PROBLEM("activity_logs %s.duration_ms is NULL, the source has %s", hex, want);
         } else {
            p2[0] = PQgetvalue(res, 0, 0);
            p2[1] = want;
            if (qint(g.conn, "SELECT ($1::numeric = $2::numeric)::int", 2, p2) != 1) {
               PROBLEM("activity_logs %s.duration_ms: %s, the source has %s", hex,
                       PQgetvalue(res, 0, 0), want);
            } else if ((BSON_ITER_HOLDS_DECIMAL128(it) || BSON_ITER_HOLDS_INT64(it) ||
                        BSON_ITER_HOLDS_INT32(it)) &&
                       strcmp(PQgetvalue(res, 0, 0), want) != 0) {
               PROBLEM("activity_logs %s.duration_ms: text '%s', the source's text '%s'", hex,
                       PQgetvalue(res, 0, 0), want);
            }
         }
      } else if (!PQgetisnull(res, 0, 0)) {
         PROBLEM("activity_logs %s.duration_ms: '%s' for a source value that is not a "
                 "number (%s): must be NULL",
                 hex, PQgetvalue(res, 0, 0),
                 BSON_ITER_HOLDS_DOUBLE(it) ? "Double NaN/Infinity" : "not a number");
      }
   } else if (!PQgetisnull(res, 0, 0)) {
      PROBLEM("activity_logs %s.duration_ms: '%s', the source has no duration", hex,
              PQgetvalue(res, 0, 0));
   }
}

/* A log's status_code (column 1 of RES) equals the source's whole number IT; NULL when the
 * source has none. */
static void
check_status_code(const PGresult *res, bson_iter_t *it, bool found, const char *hex,
                  GString *problems)
{
   if (found) {
      char want[128];
      if (number_text(it, want, sizeof want) &&
          !(BSON_ITER_HOLDS_DOUBLE(it) && bson_iter_double(it) != floor(bson_iter_double(it)))) {
         if (BSON_ITER_HOLDS_DOUBLE(it)) {
            snprintf(want, sizeof want, "%.0f", bson_iter_double(it));
         }
         if (PQgetisnull(res, 0, 1) || strcmp(PQgetvalue(res, 0, 1), want) != 0) {
            PROBLEM("activity_logs %s.status_code: '%s', the source has %s", hex,
                    PQgetisnull(res, 0, 1) ? "NULL" : PQgetvalue(res, 0, 1), want);
         }
      }
   } else if (!PQgetisnull(res, 0, 1)) {
      PROBLEM("activity_logs %s.status_code: '%s', the source has none", hex,
              PQgetvalue(res, 0, 1));
   }
}

/* Metadata numbers (cases 75 and 89): JSONB numbers with every digit. */
static void
check_metadata_numbers(GString *problems)
{
   static const char *const ids[] = {"65a4229a6c6f670000000012", "659d374c6c6f670000000004"};
   int int64_seen = 0;
   for (size_t k = 0; k < G_N_ELEMENTS(ids); k++) {
      const bson_t *doc = find_doc("activity_logs", ids[k]);
      bson_iter_t it, md;
      char id[37];

      doc_uuid(doc, id);
      assert_true(find_path(doc, "metadata", &it) && BSON_ITER_HOLDS_DOCUMENT(&it));
      bson_iter_recurse(&it, &md);
      while (bson_iter_next(&md)) {
         char want[128];
         const char *params[3];
         PGresult *res;
         if (!number_text(&md, want, sizeof want)) {
            continue;
         }
         int64_seen += BSON_ITER_HOLDS_INT64(&md);
         params[0] = id;
         params[1] = bson_iter_key(&md);
         params[2] = want;
         res = qp(g.conn,
                  "SELECT jsonb_typeof(metadata -> $2), (metadata -> $2)::text, "
                  "(metadata -> $2)::text::numeric = $3::numeric "
                  "FROM public.activity_logs WHERE id = $1",
                  3, params);
         assert_int_equal(PQntuples(res), 1);
         if (PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), "number") != 0 ||
             strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
            PROBLEM("activity_logs %s metadata.%s: %s '%s', the source number is %s", ids[k],
                    bson_iter_key(&md), PQgetisnull(res, 0, 0) ? "missing" : PQgetvalue(res, 0, 0),
                    PQgetvalue(res, 0, 1), want);
         }
         if ((BSON_ITER_HOLDS_INT64(&md) || BSON_ITER_HOLDS_INT32(&md)) &&
             strcmp(PQgetvalue(res, 0, 1), want) != 0) {
            PROBLEM("activity_logs %s metadata.%s: '%s', the source integer is %s", ids[k],
                    bson_iter_key(&md), PQgetvalue(res, 0, 1), want);
         }
         PQclear(res);
      }
   }
   assert_true(int64_seen >= 4); /* maxInt64, minInt64, int64Small, bytes */
}

/* The Decimal128 height 172.5 (case 32) is 172.50; the weight 81.00. */
static void
check_decimal_height(GString *problems)
{
   const bson_t *doc = find_doc("users", "641026317573720000000015");
   bson_iter_t it;
   char want[128], id[37];
   const char *params[2] = {id, want};
   PGresult *res;

   assert_true(find_path(doc, "height", &it) && BSON_ITER_HOLDS_DECIMAL128(&it));
   number_text(&it, want, sizeof want);
   doc_uuid(doc, id);
   res = qp(g.conn,
            "SELECT height_cm::text, height_cm = $2::numeric, weight_kg::text "
            "FROM public.patient_medical_info WHERE patient_id = $1",
            2, params);
   assert_int_equal(PQntuples(res), 1);
   if (strcmp(PQgetvalue(res, 0, 1), "t") != 0 || strcmp(PQgetvalue(res, 0, 0), "172.50") != 0) {
      PROBLEM("height_cm '%s', the Decimal128 is %s", PQgetvalue(res, 0, 0), want);
   }
   assert_string_equal(PQgetvalue(res, 0, 2), "81.00");
   PQclear(res);
}

/*
 * Numbers exact: every activity log's duration_ms and status_code equal the source number
 * (Decimal128 12.345 has the text '12.345', Int64 2147483648, Double 1500000.25; Double
 * NaN is 'NaN', which numeric holds since PostgreSQL 14); the Int64/Int32 limits inside
 * metadata are JSONB numbers with all digits; the Decimal128 height 172.5 is 172.50.
 * Guards: a detour through double (9223372036854775807 -> 9223372036854775808,
 * 12.345 -> 12.3449999...), Int64 truncated to 32 bits, NaN stored as 0 or dropped.
 */
static void
test_load_numbers_exact(void **state)
{
   GPtrArray *logs;
   GString *problems = g_string_new(NULL);

   (void)state;
   require_load();
   logs = docs_of("activity_logs");
   for (guint i = 0; i < logs->len; i++) {
      const bson_t *doc = logs->pdata[i];
      char id[37], hex[64];
      bson_iter_t it;
      const char *params[1] = {id};
      PGresult *res;

      if (!doc_uuid(doc, id)) {
         continue;
      }
      doc_id_text(doc, hex, sizeof hex);
      res = qp(g.conn,
               "SELECT duration_ms::text, status_code::text FROM public.activity_logs "
               "WHERE id = $1",
               1, params);
      assert_int_equal(PQntuples(res), 1);
      check_duration(res, &it, find_path(doc, "duration", &it), hex, problems);
      check_status_code(res, &it, find_path(doc, "statusCode", &it), hex, problems);
      PQclear(res);
   }
   check_metadata_numbers(problems);
   check_decimal_height(problems);
   fail_on_problems(problems, "numbers differ from the source");
}

/* tables.<table>.coercions.<key> of the statistics' JSON, 0 when absent. */
static int64_t
coercion_count(const mn_stats_t *stats, const char *table, const char *key)
{
   char *json = mn_stats_to_json(stats);
   bson_error_t err;
   bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
   bson_iter_t it, found;
   char *path = g_strdup_printf("tables.%s.coercions", table);
   int64_t n = 0;

   if (!b) {
      fail_msg("mn_stats_to_json() is not JSON: %s", err.message);
   }
   if (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, path, &found) &&
       BSON_ITER_HOLDS_DOCUMENT(&found)) {
      bson_iter_t k;
      bson_iter_recurse(&found, &k);
      if (bson_iter_find(&k, key)) {
         n = bson_iter_as_int64(&k);
      }
   }
   g_free(path);
   bson_destroy(b);
   bson_free(json);
   return n;
}

/* (target column, source path) pairs whose NULL must mirror a missing/null source value. */
typedef struct {
   const char *column, *path;
} colpath_t;

/* The `default:` mapping/medichat.yaml declares for a column (as PostgreSQL prints it), or
 * NULL.  docs/medichat-mapping-decisions.md: a missing isActive means active, a missing
 * emailVerified not verified.  (CASES.md case 26 still says NULL for both.) */
static const char *
declared_default(const char *table, const char *column)
{
   if (strcmp(table, "users") == 0 && strcmp(column, "is_active") == 0) {
      return "true";
   }
   if (strcmp(table, "users") == 0 && strcmp(column, "email_verified") == 0) {
      return "false";
   }
   return NULL;
}

/*
 * For every loaded document of COLLECTION, its row of TABLE (KEY_COLUMN = its row id): a
 * column whose source path is missing or null is NULL, or the mapping's declared default;
 * a boolean present in the source equals it.  At least one absent value must be checked.
 */
static void
check_null_mirrors(const char *collection, const char *table, const char *key_column,
                   const colpath_t *cols, size_t n)
{
   GPtrArray *docs = docs_of(collection);
   uint64_t checked = 0;

   for (guint i = 0; i < docs->len; i++) {
      const bson_t *doc = docs->pdata[i];
      char id[37], hex[64];
      const char *params[1] = {id};
      GString *sql = g_string_new("SELECT ");
      PGresult *res;

      if (!doc_accepted(collection, doc) || !doc_uuid(doc, id)) {
         g_string_free(sql, TRUE);
         continue;
      }
      doc_id_text(doc, hex, sizeof hex);
      for (size_t c = 0; c < n; c++) {
         g_string_append_printf(sql, "%s%s::text", c ? ", " : "", cols[c].column);
      }
      g_string_append_printf(sql, " FROM public.%s WHERE %s = $1", table, key_column);
      res = qp(g.conn, sql->str, 1, params);
      g_string_free(sql, TRUE);
      if (PQntuples(res) == 0) {
         PQclear(res);
         continue; /* no row for this document (e.g. no patient_medical_info) */
      }
      for (size_t c = 0; c < n; c++) {
         bson_iter_t it;
         bool absent = !find_path(doc, cols[c].path, &it) || BSON_ITER_HOLDS_NULL(&it);
         const char *dflt = declared_default(table, cols[c].column);
         if (absent && dflt) {
            if (PQgetisnull(res, 0, (int)c) || strcmp(PQgetvalue(res, 0, (int)c), dflt) != 0) {
               fail_msg("%s %s: %s is '%s' but the source has no %s and the mapping declares "
                        "default '%s'",
                        table, hex, cols[c].column,
                        PQgetisnull(res, 0, (int)c) ? "NULL" : PQgetvalue(res, 0, (int)c),
                        cols[c].path, dflt);
            }
         } else if (absent && !PQgetisnull(res, 0, (int)c)) {
            fail_msg("%s %s: %s is '%s' but the source has no %s (missing or null): must "
                     "be NULL, never a default",
                     table, hex, cols[c].column, PQgetvalue(res, 0, (int)c), cols[c].path);
         }
         if (!absent && BSON_ITER_HOLDS_BOOL(&it)) {
            const char *want = bson_iter_bool(&it) ? "true" : "false";
            if (PQgetisnull(res, 0, (int)c) || strcmp(PQgetvalue(res, 0, (int)c), want) != 0) {
               fail_msg("%s %s: %s is '%s', the source says %s", table, hex, cols[c].column,
                        PQgetisnull(res, 0, (int)c) ? "NULL" : PQgetvalue(res, 0, (int)c), want);
            }
         }
         checked += absent;
      }
      PQclear(res);
   }
   assert_true(checked > 0);
}

/* The columns test_load_missing_is_null() compares with their source paths, per table. */
static const colpath_t USERS_COLS[] = {{"password_hash", "password"},
                                       {"first_name", "firstName"},
                                       {"last_name", "lastName"},
                                       {"phone", "phone"},
                                       {"date_of_birth", "dateOfBirth"},
                                       {"profile_photo", "profilePhoto"},
                                       {"specialization", "specialization"},
                                       {"license_number", "licenseNumber"},
                                       {"preferred_language", "preferredLanguage"},
                                       {"is_active", "isActive"},
                                       {"email_verified", "emailVerified"},
                                       {"created_at", "createdAt"},
                                       {"updated_at", "updatedAt"},
                                       {"last_login_at", "lastLoginAt"}};
static const colpath_t PMI_COLS[] = {{"assigned_doctor_id", "assignedDoctor"},
                                     {"gender", "gender"},
                                     {"blood_type", "bloodType"},
                                     {"height_cm", "height"},
                                     {"weight_kg", "weight"},
                                     {"insurance_provider", "insuranceProvider"},
                                     {"insurance_policy_number", "insurancePolicyNumber"},
                                     {"insurance_group_number", "insuranceGroupNumber"},
                                     {"primary_physician", "primaryPhysician"},
                                     {"pharmacy_name", "pharmacyName"},
                                     {"pharmacy_phone", "pharmacyPhone"},
                                     {"preferred_language", "preferredLanguage"},
                                     {"smoking_status", "smokingStatus"},
                                     {"alcohol_consumption", "alcoholConsumption"},
                                     {"exercise_frequency", "exerciseFrequency"}};
static const colpath_t CONV_COLS[] = {{"doctor_id", "doctor"},
                                      {"visit_number", "visitNumber"},
                                      {"status", "status"},
                                      {"ai_summary", "aiSummary"},
                                      {"diagnosis", "doctorResponse.diagnosis"},
                                      {"recommendations", "doctorResponse.recommendations"},
                                      {"referrals", "doctorResponse.referrals"},
                                      {"call_to_office", "doctorResponse.callToOffice"},
                                      {"doctor_notes", "doctorResponse.notes"},
                                      {"responded_at", "doctorResponse.respondedAt"},
                                      {"patient_notified", "patientNotified"},
                                      {"archived_by_patient", "archivedByPatient"},
                                      {"archived_by_doctor", "archivedByDoctor"},
                                      {"conversation_ended_at", "conversationEndedAt"}};
static const colpath_t LOG_COLS[] = {{"user_id", "user"},
                                     {"user_role", "userRole"},
                                     {"user_email", "userEmail"},
                                     {"action", "action"},
                                     {"resource_type", "resourceType"},
                                     {"resource_id", "resourceId"},
                                     {"method", "method"},
                                     {"endpoint", "endpoint"},
                                     {"ip_address", "ipAddress"},
                                     {"user_agent", "userAgent"},
                                     {"status", "status"},
                                     {"status_code", "statusCode"},
                                     {"description", "description"},
                                     {"metadata", "metadata"},
                                     {"error_message", "error.message"},
                                     {"error_stack", "error.stack"},
                                     {"error_code", "error.code"},
                                     {"duration_ms", "duration"},
                                     {"severity", "severity"}};

static const struct {
   const char *collection, *table, *key_column; /* the rows of a document: key_column = id */
   const colpath_t *cols;
   size_t n;
} NULL_MIRRORS[] = {
   {"users", "users", "id", USERS_COLS, G_N_ELEMENTS(USERS_COLS)},
   {"users", "patient_medical_info", "patient_id", PMI_COLS, G_N_ELEMENTS(PMI_COLS)},
   {"conversations", "conversations", "id", CONV_COLS, G_N_ELEMENTS(CONV_COLS)},
   {"activity_logs", "activity_logs", "id", LOG_COLS, G_N_ELEMENTS(LOG_COLS)},
};

/* The declared defaults are counted as coerced, once per loaded user that lacks the field. */
static void
check_default_coercions(void)
{
   static const char *const cols[][2] = {{"is_active", "isActive"},
                                         {"email_verified", "emailVerified"}};
   GPtrArray *users = docs_of("users");

   for (size_t c = 0; c < G_N_ELEMENTS(cols); c++) {
      int64_t want = 0;
      char *key = g_strdup_printf("%s: missing: declared default stored", cols[c][0]);
      for (guint i = 0; i < users->len; i++) {
         bson_iter_t it;
         if (doc_accepted("users", users->pdata[i]) &&
             (!find_path(users->pdata[i], cols[c][1], &it) || BSON_ITER_HOLDS_NULL(&it))) {
            want++;
         }
      }
      assert_true(want > 0);
      if (coercion_count(g.stats, "users", key) != want) {
         fail_msg("statistics count %" PRId64 " \"%s\", %" PRId64 " users lack %s",
                  coercion_count(g.stats, "users", key), key, want, cols[c][1]);
      }
      g_free(key);
   }
}

/* The NULLs of the CASES.md documents: each query counts the rows of one or two documents
 * that hold what the case says, $1 and $2 the row ids of their ObjectIds. */
static const count_case_t MISSING_CASES[] = {
   {"case 26: minimal legacy patient: NULLs",
    {"63fc10f67573720000000010"},
    "SELECT count(*) FROM public.users WHERE id = $1 AND phone IS NULL "
    "AND date_of_birth IS NULL AND profile_photo IS NULL AND "
    "is_active AND NOT email_verified AND last_login_at IS NULL",
    1},
   {"case 26: a patient_medical_info row of NULLs",
    {"63fc10f67573720000000010"},
    "SELECT count(*) FROM public.patient_medical_info WHERE "
    "patient_id = $1 AND gender IS NULL AND height_cm IS NULL AND "
    "weight_kg IS NULL AND assigned_doctor_id IS NULL",
    1},
   {"case 26: no children",
    {"63fc10f67573720000000010"},
    "SELECT (SELECT count(*) FROM public.allergies WHERE patient_id = $1)"
    " + (SELECT count(*) FROM public.medications WHERE patient_id = $1)"
    " + (SELECT count(*) FROM public.medical_history WHERE patient_id = $1)"
    " + (SELECT count(*) FROM public.emergency_contacts "
    "WHERE patient_id = $1)",
    0},
   {"case 28: nulls everywhere",
    {"640419747573720000000012"},
    "SELECT count(*) FROM public.users WHERE id = $1 AND phone IS NULL "
    "AND date_of_birth IS NULL AND last_login_at IS NULL AND "
    "preferred_language IS NULL",
    1},
   {"case 28: null arrays give no rows",
    {"640419747573720000000012"},
    "SELECT (SELECT count(*) FROM public.allergies WHERE patient_id = $1)"
    " + (SELECT count(*) FROM public.medications WHERE patient_id = $1)",
    0},
   {"cases 29 and 47: lastName null, emailVerified missing",
    {"64081db37573720000000013", "64344c69757372000000001e"},
    "SELECT count(*) FROM public.users WHERE (id = $1 AND last_name IS "
    "NULL AND first_name = 'Ahmed') OR (id = $2 AND email_verified IS NOT "
    "DISTINCT FROM false)",
    2},
   {"case 63: no optional keys at all",
    {"65c62184636f6e0000000010"},
    "SELECT count(*) FROM public.conversations WHERE id = $1 AND "
    "doctor_id IS NULL AND ai_summary IS NULL AND diagnosis IS NULL AND "
    "responded_at IS NULL AND call_to_office IS NULL",
    1},
   {"case 63: no child rows",
    {"65c62184636f6e0000000010"},
    "SELECT (SELECT count(*) FROM public.messages WHERE conversation_id = $1)"
    " + (SELECT count(*) FROM public.symptoms WHERE conversation_id = $1)"
    " + (SELECT count(*) FROM public.attachments WHERE conversation_id = $1)"
    " + (SELECT count(*) FROM public.prescriptions "
    "WHERE conversation_id = $1)",
    0},
   {"cases 75 and 84: no user or ip; no statusCode or duration",
    {"659d374c6c6f670000000004", "65a1b2216c6f67000000000d"},
    "SELECT count(*) FROM public.activity_logs WHERE (id = $1 AND "
    "user_id IS NULL AND resource_id IS NULL AND ip_address IS NULL AND "
    "user_agent IS NULL) OR (id = $2 AND status_code IS NULL AND "
    "duration_ms IS NULL)",
    2},
};

/*
 * NULL stays NULL: for every loaded document, every mapped column whose source path is
 * missing or null is NULL in the target (booleans, when present, equal the source), except
 * the two columns for which the mapping declares a `default:` (users.is_active true,
 * users.email_verified false), which hold exactly that value and are counted as coerced;
 * plus the CASES.md documents: the minimal legacy patient (26), the all-null patient
 * (28), lastName null (29), emailVerified missing (47), the conversation with no
 * optional keys (63), the system log with no user/ip (75), the log without
 * statusCode/duration (84).
 * Guards: invented defaults (is_active true, email_verified false, 0, '', now()), a
 * NULL read as the previous row's value, empty arrays or null arrays producing rows.
 */
static void
test_load_missing_is_null(void **state)
{
   (void)state;
   require_load();
   for (size_t i = 0; i < G_N_ELEMENTS(NULL_MIRRORS); i++) {
      check_null_mirrors(NULL_MIRRORS[i].collection, NULL_MIRRORS[i].table,
                         NULL_MIRRORS[i].key_column, NULL_MIRRORS[i].cols, NULL_MIRRORS[i].n);
   }
   check_default_coercions();
   assert_counts(MISSING_CASES, G_N_ELEMENTS(MISSING_CASES));
}

/* v5 UUID of (MN_KEY_NAMESPACE, name), computed here without the library. */
static void
uuid_v5_text(const char *name, char out[37])
{
   uint8_t ns[16], buf[64], md[EVP_MAX_MD_SIZE];
   unsigned int md_len = 0;
   const char *p = MN_KEY_NAMESPACE;
   size_t n = 0;
   size_t name_len = strlen(name);
   uint8_t *msg = g_malloc(16 + name_len);

   for (; *p && n < 16; p++) {
      if (*p == '-') {
         continue;
      }
      ns[n++] = (uint8_t)(g_ascii_xdigit_value(p[0]) * 16 + g_ascii_xdigit_value(p[1]));
      p++;
   }
   memcpy(msg, ns, 16);
   memcpy(msg + 16, name, name_len);
   assert_true(EVP_Digest(msg, 16 + name_len, md, &md_len, EVP_sha1(), NULL) == 1);
   g_free(msg);
   memcpy(buf, md, 16);
   buf[6] = (uint8_t)((buf[6] & 0x0f) | 0x50);
   buf[8] = (uint8_t)((buf[8] & 0x3f) | 0x80);
   snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", buf[0],
            buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7], buf[8], buf[9], buf[10],
            buf[11], buf[12], buf[13], buf[14], buf[15]);
}

/*
 * Row ids: every loaded users/conversations/activity_logs document with an ObjectId _id
 * has the row id hex + '00000000' (and the tables hold no other ObjectId-shaped rows);
 * the activity log with the string _id 'legacy-audit-000017' has the v5 UUID of
 * "s:legacy-audit-000017" in mongonorm's namespace (version nibble 5, RFC 4122 variant).
 * Guards: byte-order mistakes in the ObjectId layout, random (v4) ids that change every
 * run, a string _id hashed without its type tag or into the wrong namespace.
 */
static void
test_load_ids(void **state)
{
   (void)state;
   require_load();
   for (size_t c = 0; c < N_COLLECTIONS; c++) {
      GPtrArray *docs = docs_of(COLLECTIONS[c]);
      long long oid_docs = 0;
      char *sql =
         g_strdup_printf("SELECT count(*) FROM public.%s WHERE id = $1::uuid", COLLECTIONS[c]);
      char *sql_oid = g_strdup_printf("SELECT count(*) FROM public.%s WHERE id::text LIKE "
                                      "'%%-____00000000'",
                                      COLLECTIONS[c]);

      for (guint i = 0; i < docs->len; i++) {
         char id[37], hex[64];
         const char *params[1] = {id};
         long long n;
         if (!doc_uuid(docs->pdata[i], id)) {
            continue;
         }
         doc_id_text(docs->pdata[i], hex, sizeof hex);
         n = qint(g.conn, sql, 1, params);
         if (doc_accepted(COLLECTIONS[c], docs->pdata[i])) {
            oid_docs++;
            if (n != 1) {
               fail_msg("%s %s: no row with id %s (ObjectId hex + 8 zeros)", COLLECTIONS[c], hex,
                        id);
            }
         } else if (n != 0) {
            fail_msg("%s %s is rejected, yet a row with id %s exists", COLLECTIONS[c], hex, id);
         }
      }
      assert_int_equal(qint(g.conn, sql_oid, 0, NULL), oid_docs);
      g_free(sql);
      g_free(sql_oid);
   }
   {
      const bson_t *doc = find_doc("activity_logs", "legacy-audit-000017");
      char want[37];
      const char *params[1] = {want};
      PGresult *res;
      uint32_t len;
      const char *action = src_utf8(doc, "action", &len);

      uuid_v5_text("s:legacy-audit-000017", want);
      res = qp(g.conn,
               "SELECT id::text, action FROM public.activity_logs "
               "WHERE id::text NOT LIKE '%-____00000000'",
               0, NULL);
      if (PQntuples(res) != 1) {
         fail_msg("expected exactly one activity_logs row without an ObjectId id, found %d",
                  PQntuples(res));
      }
      if (PQgetvalue(res, 0, 0)[14] != '5' || !strchr("89ab", PQgetvalue(res, 0, 0)[19])) {
         fail_msg("the string _id's row id %s is not a version-5 RFC 4122 UUID",
                  PQgetvalue(res, 0, 0));
      }
      if (strcmp(PQgetvalue(res, 0, 0), want) != 0) {
         fail_msg("the string _id's row id is %s, expected v5(namespace, "
                  "\"s:legacy-audit-000017\") = %s",
                  PQgetvalue(res, 0, 0), want);
      }
      assert_cell_bytes(res, 0, 1, action, len, "legacy log action");
      PQclear(res);
      assert_int_equal(
         qint(g.conn, "SELECT count(*) FROM public.activity_logs WHERE id = $1", 1, params), 1);
   }
   /* rows without an _id of their own (allergy strings) get v5 ids */
   assert_int_equal(qint(g.conn,
                         "SELECT count(*) FROM public.allergies "
                         "WHERE substr(id::text, 15, 1) <> '5'",
                         0, NULL),
                    0);
}

/* A reference cell equals the referenced user's id when that user is loaded, else NULL. */
static void
check_user_ref(const char *table, const char *column, const char *key_column, const char *id,
               const bson_t *doc, const char *path)
{
   bson_iter_t it;
   char want[37] = "";
   char *sql =
      g_strdup_printf("SELECT %s::text FROM public.%s WHERE %s = $1", column, table, key_column);
   const char *params[1] = {id};
   PGresult *res = qp(g.conn, sql, 1, params);

   g_free(sql);
   if (PQntuples(res) != 1) {
      fail_msg("%s %s: %d rows", table, id, PQntuples(res));
   }
   if (find_path(doc, path, &it) && BSON_ITER_HOLDS_OID(&it) && user_accepted(bson_iter_oid(&it))) {
      oid_uuid(bson_iter_oid(&it), want);
   }
   if (*want) {
      if (PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), want) != 0) {
         fail_msg("%s %s.%s: '%s', the source references loaded user %s", table, id, column,
                  PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0), want);
      }
   } else if (!PQgetisnull(res, 0, 0)) {
      fail_msg("%s %s.%s: '%s', the referenced user is missing or rejected: must be NULL", table,
               id, column, PQgetvalue(res, 0, 0));
   }
   PQclear(res);
}

/* No orphan rows: every non-NULL value of the 16 references names a row. */
static void
check_no_orphans(void)
{
   static const char *const fks[][3] = {{"patient_medical_info", "patient_id", "users"},
                                        {"patient_medical_info", "assigned_doctor_id", "users"},
                                        {"allergies", "patient_id", "users"},
                                        {"medications", "patient_id", "users"},
                                        {"medical_history", "patient_id", "users"},
                                        {"emergency_contacts", "patient_id", "users"},
                                        {"conversations", "patient_id", "users"},
                                        {"conversations", "doctor_id", "users"},
                                        {"messages", "conversation_id", "conversations"},
                                        {"symptoms", "conversation_id", "conversations"},
                                        {"attachments", "conversation_id", "conversations"},
                                        {"attachments", "uploaded_by", "users"},
                                        {"prescriptions", "conversation_id", "conversations"},
                                        {"prescriptions", "patient_id", "users"},
                                        {"prescriptions", "doctor_id", "users"},
                                        {"activity_logs", "user_id", "users"}};
   for (size_t i = 0; i < G_N_ELEMENTS(fks); i++) {
      PGresult *res = qf(g.conn,
                         "SELECT count(*) FROM public.%s c WHERE c.%s IS NOT NULL AND NOT "
                         "EXISTS (SELECT 1 FROM public.%s p WHERE p.id = c.%s)",
                         fks[i][0], fks[i][1], fks[i][2], fks[i][1]);
      if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
         fail_msg("%s.%s: %s orphan rows", fks[i][0], fks[i][1], PQgetvalue(res, 0, 0));
      }
      PQclear(res);
   }
}

/* Every loaded patient's assigned_doctor_id equals the source's, when the doctor loads. */
static void
check_assigned_doctors(GPtrArray *users)
{
   for (guint i = 0; i < users->len; i++) {
      char id[37];
      const char *params[1] = {id};
      if (!doc_accepted("users", users->pdata[i])) {
         continue;
      }
      doc_uuid(users->pdata[i], id);
      if (qint(g.conn, "SELECT count(*) FROM public.patient_medical_info WHERE patient_id = $1", 1,
               params) == 1) {
         check_user_ref("patient_medical_info", "assigned_doctor_id", "patient_id", id,
                        users->pdata[i], "assignedDoctor");
      }
   }
}

/*
 * A rejected conversation has no row and no child rows, and its patient is indeed not a
 * loaded user; a loaded one's patient is, and its patient_id and doctor_id equal the source.
 */
static void
check_conversation_refs(GPtrArray *convs)
{
   for (guint i = 0; i < convs->len; i++) {
      const bson_t *doc = convs->pdata[i];
      char id[37];
      const char *params[1] = {id};
      bson_iter_t it;

      doc_uuid(doc, id);
      if (!doc_accepted("conversations", doc)) {
         /* rejected: no row, no child rows */
         assert_int_equal(
            qint(g.conn,
                 "SELECT (SELECT count(*) FROM public.conversations WHERE id = $1)"
                 " + (SELECT count(*) FROM public.messages WHERE conversation_id = $1)"
                 " + (SELECT count(*) FROM public.symptoms WHERE conversation_id = $1)"
                 " + (SELECT count(*) FROM public.attachments WHERE conversation_id = $1)"
                 " + (SELECT count(*) FROM public.prescriptions WHERE conversation_id = $1)",
                 1, params),
            0);
         /* and the reason is real: its patient is not a loaded user */
         assert_true(find_path(doc, "patient", &it) && BSON_ITER_HOLDS_OID(&it));
         assert_false(user_accepted(bson_iter_oid(&it)));
         continue;
      }
      assert_true(find_path(doc, "patient", &it) && BSON_ITER_HOLDS_OID(&it));
      if (!user_accepted(bson_iter_oid(&it))) {
         fail_msg("conversation %s was loaded although its patient is not a loaded user", id);
      }
      check_user_ref("conversations", "patient_id", "id", id, doc, "patient");
      check_user_ref("conversations", "doctor_id", "id", id, doc, "doctor");
   }
}

/* A prescription's patient and doctor are its conversation's; cases 54 and 55: the
 * prescriptions are kept with doctor_id NULL. */
static void
check_prescription_refs(void)
{
   assert_int_equal(qint(g.conn,
                         "SELECT count(*) FROM public.prescriptions p JOIN public.conversations c "
                         "ON c.id = p.conversation_id WHERE p.patient_id <> c.patient_id OR "
                         "p.doctor_id IS DISTINCT FROM c.doctor_id",
                         0, NULL),
                    0);
   char a[37], b[37];
   const char *params[2] = {a, b};
   hex_uuid("65ae5913636f6e0000000007", a);
   hex_uuid("65b1458c636f6e0000000008", b);
   assert_int_equal(qint(g.conn,
                         "SELECT count(*) FROM public.prescriptions WHERE conversation_id IN "
                         "($1, $2) AND doctor_id IS NOT NULL",
                         2, params),
                    0);
   assert_true(qint(g.conn,
                    "SELECT count(DISTINCT conversation_id) FROM public.prescriptions "
                    "WHERE conversation_id IN ($1, $2)",
                    2, params) == 2);
}

/* Every log's user_id equals the source's when that user loads; resource_id (no foreign
 * key) keeps the id. */
static void
check_log_refs(GPtrArray *logs)
{
   for (guint i = 0; i < logs->len; i++) {
      const bson_t *doc = logs->pdata[i];
      char id[37];
      bson_iter_t it;

      if (!doc_uuid(doc, id)) {
         continue;
      }
      check_user_ref("activity_logs", "user_id", "id", id, doc, "user");
      if (find_path(doc, "resourceId", &it) && BSON_ITER_HOLDS_OID(&it)) {
         char want[37];
         const char *params[2] = {id, want};
         oid_uuid(bson_iter_oid(&it), want);
         if (qint(g.conn,
                  "SELECT count(*) FROM public.activity_logs WHERE id = $1 AND resource_id = $2", 2,
                  params) != 1) {
            fail_msg("activity_logs %s.resource_id is not %s (a plain id, kept even when it "
                     "names no row)",
                     id, want);
         }
      }
   }
}

/* References to a deactivated, dangling or missing user (cases 43, 30, 81 and 82). */
static const count_case_t REFERENCE_CASES[] = {
   {"case 43: the deactivated doctor resolves; case 30: the dangling one is NULL",
    {"6420372e7573720000000019", "63cfe2417573720000000005", "640c21f27573720000000014"},
    "SELECT count(*) FROM public.patient_medical_info WHERE "
    "(patient_id = $1 AND assigned_doctor_id = $2) OR "
    "(patient_id = $3 AND assigned_doctor_id IS NULL)",
    2},
   {"cases 81, 82: logs kept, user_id NULL",
    {"65a0388a6c6f67000000000a", "65a0acf36c6f67000000000b"},
    "SELECT count(*) FROM public.activity_logs WHERE id IN ($1, $2) "
    "AND user_id IS NULL",
    2},
};

/*
 * Foreign keys hold (no orphan rows for any of the 16 references) and every reference
 * equals what the source says: assignedDoctor (also the deactivated doctor, a reference
 * within the same collection), conversations' patient/doctor, prescriptions' patient and
 * doctor = the conversation's, activity_logs.user; dangling or rejected targets are NULL
 * where the mapping says null (cases 30, 54, 81, 82) and reject the conversation where
 * it says reject (53, 65: no row, no child rows); resource_id (no FK) keeps the id.
 * Guards: deferred references never applied, dangling ids written (FK violation or
 * silent orphan when constraints are deferred/disabled), a reference to a rejected
 * document kept, children of a rejected document written.
 */
static void
test_load_references(void **state)
{
   (void)state;
   require_load();
   check_no_orphans();
   check_assigned_doctors(docs_of("users"));
   check_conversation_refs(docs_of("conversations"));
   check_prescription_refs();
   check_log_refs(docs_of("activity_logs"));
   assert_counts(REFERENCE_CASES, G_N_ELEMENTS(REFERENCE_CASES));
}

/* The index in EXPECTED_REJECTS of the reject of document HEX of COLLECTION; fails the
 * test when it is not one of them. */
static size_t
expected_reject_index(const char *collection, const char *hex, const char *path, const char *reason)
{
   size_t k;

   for (k = 0; k < N_EXPECTED_REJECTS; k++) {
      if (strcmp(EXPECTED_REJECTS[k].collection, collection) == 0 &&
          strcmp(EXPECTED_REJECTS[k].id, hex) == 0) {
         break;
      }
   }
   if (k == N_EXPECTED_REJECTS) {
      fail_msg("unexpected reject: %s %s (%s: %s)", collection, hex, path, reason);
   }
   return k;
}

/* The "document" of a reject LINE is the source document, byte for byte. */
static void
check_reject_document(const bson_t *line, const char *collection, const char *hex)
{
   bson_iter_t docit;
   const bson_t *src;

   src = find_doc(collection, hex);
   if (!bson_iter_init_find(&docit, line, "document") || !BSON_ITER_HOLDS_DOCUMENT(&docit)) {
      fail_msg("%s %s: the reject line holds no document", collection, hex);
   } else {
      const uint8_t *data;
      uint32_t len;
      bson_iter_document(&docit, &len, &data);
      if (len != src->len || memcmp(data, bson_get_data(src), len) != 0) {
         fail_msg("%s %s: the document in the reject file (%u bytes) differs from the "
                  "source document (%u bytes)",
                  collection, hex, len, src->len);
      }
   }
}

/*
 * One line of the reject file (1-based LINENO): it parses, holds collection, _id, path
 * and reason, is one of EXPECTED_REJECTS (marked in SEEN, never twice), its path and
 * reason name the field and the _id (else a problem), and it holds the whole document.
 */
static void
check_reject_line(const char *text, size_t lineno, bool seen[N_EXPECTED_REJECTS], GString *problems)
{
   bson_error_t err;
   bson_t *line;
   bson_iter_t it;
   const char *collection, *path, *reason;
   char hex[25];
   size_t k;

   line = bson_new_from_json((const uint8_t *)text, -1, &err);
   if (!line) {
      fail_msg("reject line %zu does not parse: %s: %.120s", lineno, err.message, text);
   }
   assert_true(bson_iter_init_find(&it, line, "collection") && BSON_ITER_HOLDS_UTF8(&it));
   collection = bson_iter_utf8(&it, NULL);
   assert_true(bson_iter_init_find(&it, line, "_id"));
   if (!BSON_ITER_HOLDS_OID(&it)) {
      fail_msg("reject line %zu: _id is not the document's ObjectId", lineno);
   }
   bson_oid_to_string(bson_iter_oid(&it), hex);
   assert_true(bson_iter_init_find(&it, line, "path") && BSON_ITER_HOLDS_UTF8(&it));
   path = bson_iter_utf8(&it, NULL);
   assert_true(bson_iter_init_find(&it, line, "reason") && BSON_ITER_HOLDS_UTF8(&it));
   reason = bson_iter_utf8(&it, NULL);
   k = expected_reject_index(collection, hex, path, reason);
   if (seen[k]) {
      fail_msg("%s %s rejected twice", collection, hex);
   }
   seen[k] = true;
   if (strcmp(path, EXPECTED_REJECTS[k].path) != 0) {
      PROBLEM("%s %s: reject path '%s', expected '%s' (reason: %s)", collection, hex, path,
              EXPECTED_REJECTS[k].path, reason);
   }
   if (!strstr(reason, hex) || !strstr(reason, EXPECTED_REJECTS[k].path)) {
      PROBLEM("%s %s: the reason does not name the _id and the field path: %s", collection, hex,
              reason);
   }
   check_reject_document(line, collection, hex);
   bson_destroy(line);
}

/* Every expected reject is in the reject file (SEEN), and a rejected user has no rows. */
static void
check_rejects_not_loaded(const bool seen[N_EXPECTED_REJECTS])
{
   for (size_t k = 0; k < N_EXPECTED_REJECTS; k++) {
      char id[37];
      const char *params[1] = {id};
      if (!seen[k]) {
         fail_msg("%s %s is not in the reject file", EXPECTED_REJECTS[k].collection,
                  EXPECTED_REJECTS[k].id);
      }
      hex_uuid(EXPECTED_REJECTS[k].id, id);
      if (strcmp(EXPECTED_REJECTS[k].collection, "users") == 0) {
         assert_int_equal(
            qint(g.conn,
                 "SELECT (SELECT count(*) FROM public.users WHERE id = $1)"
                 " + (SELECT count(*) FROM public.patient_medical_info WHERE patient_id = $1)"
                 " + (SELECT count(*) FROM public.allergies WHERE patient_id = $1)"
                 " + (SELECT count(*) FROM public.medications WHERE patient_id = $1)"
                 " + (SELECT count(*) FROM public.medical_history WHERE patient_id = $1)"
                 " + (SELECT count(*) FROM public.emergency_contacts WHERE patient_id = $1)",
                 1, params),
            0);
      }
   }
}

/*
 * The reject file: mode 0600 (it existed with 0644 before the run), one JSON line per
 * rejected document (as many as the statistics count), each parsing with libbson and
 * holding collection, _id, path, reason (naming the _id and the field path) and the
 * whole source document, byte-identical once parsed; exactly CASES.md's four rejects;
 * none of their rows in any table.
 * Guards: a world-readable file of patient data, a stale file appended to, truncated or
 * re-encoded documents, reasons that do not say which document or field, a reject that is
 * also (partly) loaded.
 */
static void
test_load_reject_file(void **state)
{
   struct stat st;
   char *content = NULL;
   gsize size = 0;
   char **lines;
   size_t n = 0;
   bool seen[N_EXPECTED_REJECTS] = {false};
   GString *problems = g_string_new(NULL);

   (void)state;
   require_load();
   assert_int_equal(stat(REJECTS, &st), 0);
   if ((st.st_mode & 0777) != 0600) {
      fail_msg("reject file mode %03o, expected 0600", (unsigned)(st.st_mode & 0777));
   }
   assert_true(g_file_get_contents(REJECTS, &content, &size, NULL));
   assert_true(size > 0 && content[size - 1] == '\n');
   lines = g_strsplit(content, "\n", -1);
   for (size_t i = 0; lines[i]; i++) {
      if (*lines[i]) {
         n++;
         check_reject_line(lines[i], i + 1, seen, problems);
      }
   }
   g_strfreev(lines);
   g_free(content);
   assert_int_equal(n, mn_stats_total_rejected(g.stats));
   check_rejects_not_loaded(seen);
   fail_on_problems(problems, "reject file");
}

/* Snapshot of every table's checksum. */
static void
checksums(PGconn *c, char *out[N_TABLES])
{
   for (size_t t = 0; t < N_TABLES; t++) {
      out[t] = table_checksum(c, TABLES[t]);
   }
}

/*
 * A second run of the same source on the loaded database changes nothing: every table
 * counts 0 inserted, 0 updated, 0 deleted (and every row unchanged), every table's
 * checksum is the same, the same documents are read/loaded/rejected.
 * Guards: unstable ids (v4, or depending on run state), deferred references rewritten
 * (NULL then the id again), upserts that rewrite identical rows, the updated_at trigger
 * stamping now(), the duplicate-email check tripping over the already-loaded row.
 */
static void
test_load_rerun_changes_nothing(void **state)
{
   char *before[N_TABLES], *after[N_TABLES];
   mn_stats_t *stats;
   mn_error_t error = {0};
   bool ok;
   GString *problems = g_string_new(NULL);

   (void)state;
   require_load();
   g.reran = true;
   checksums(g.conn, before);
   stats = mn_stats_new();
   ok = run_load(DUMP_DIR, g.dsn, REJECTS_RERUN, stats, &error);
   if (!ok) {
      fail_msg("second mn_run failed: %s", error.message);
   }
   checksums(g.conn, after);
   for (size_t t = 0; t < N_TABLES; t++) {
      mn_table_counts_t *tc = mn_stats_table(stats, TABLES[t]);
      char *sql = g_strdup_printf("SELECT count(*) FROM public.%s", TABLES[t]);
      long long rows = qint(g.conn, sql, 0, NULL);
      g_free(sql);
      if (tc->inserted || tc->updated || tc->deleted) {
         g_string_append_printf(
            problems, "  %s: inserted %" PRIu64 ", updated %" PRIu64 ", deleted %" PRIu64 "\n",
            TABLES[t], tc->inserted, tc->updated, tc->deleted);
      }
      if (strcmp(before[t], after[t]) != 0) {
         g_string_append_printf(problems, "  %s: contents changed (checksum %s -> %s)\n", TABLES[t],
                                before[t], after[t]);
      }
      if ((long long)tc->unchanged != rows) {
         g_string_append_printf(problems,
                                "  %s: %" PRIu64 " rows counted unchanged, the table "
                                "has %lld\n",
                                TABLES[t], tc->unchanged, rows);
      }
      g_free(before[t]);
      g_free(after[t]);
   }
   for (size_t c = 0; c < N_COLLECTIONS; c++) {
      mn_collection_counts_t *a = mn_stats_collection(g.stats, COLLECTIONS[c]);
      mn_collection_counts_t *b = mn_stats_collection(stats, COLLECTIONS[c]);
      if (a->read != b->read || a->loaded != b->loaded || a->rejected != b->rejected) {
         g_string_append_printf(problems,
                                "  %s: first run read/loaded/rejected %" PRIu64 "/%" PRIu64
                                "/%" PRIu64 ", second %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                                COLLECTIONS[c], a->read, a->loaded, a->rejected, b->read, b->loaded,
                                b->rejected);
      }
   }
   mn_stats_destroy(stats);
   fail_on_problems(problems, "the second run of the same source changed the target");
}

/* ---- writing a modified copy of the source (canonical Extended JSON) ---- */

/* doc with top-level `key` replaced by the array `arr` (same key order). */
static bson_t *
with_array(const bson_t *doc, const char *key, const bson_t *arr)
{
   bson_t *out = bson_new();
   bson_iter_t it;

   bson_iter_init(&it, doc);
   while (bson_iter_next(&it)) {
      if (strcmp(bson_iter_key(&it), key) == 0) {
         bson_append_array(out, key, -1, arr);
      } else {
         bson_append_iter(out, NULL, 0, &it);
      }
   }
   return out;
}

/* The array at `key` without element `drop` (-1: none), element `edit` getting
 * field `field` = `value`, and `append` (a string) at the end when not NULL. */
static bson_t *
edited_array(const bson_t *doc, const char *key, int drop, int edit, const char *field,
             const char *value, const char *append)
{
   bson_t *arr = bson_new();
   bson_iter_t it, el;
   int i = 0, o = 0;
   char k[16];

   assert_true(bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_ARRAY(&it));
   bson_iter_recurse(&it, &el);
   while (bson_iter_next(&el)) {
      snprintf(k, sizeof k, "%d", o);
      if (i == drop) {
         i++;
         continue;
      }
      if (i == edit) {
         bson_t sub, out;
         bson_iter_t f;
         const uint8_t *data;
         uint32_t len;
         assert_true(BSON_ITER_HOLDS_DOCUMENT(&el));
         bson_iter_document(&el, &len, &data);
         bson_init_static(&sub, data, len);
         bson_append_document_begin(arr, k, -1, &out);
         bson_iter_init(&f, &sub);
         while (bson_iter_next(&f)) {
            if (strcmp(bson_iter_key(&f), field) == 0) {
               bson_append_utf8(&out, field, -1, value, -1);
            } else {
               bson_append_iter(&out, NULL, 0, &f);
            }
         }
         bson_append_document_end(arr, &out);
      } else {
         bson_append_iter(arr, k, -1, &el);
      }
      i++;
      o++;
   }
   if (append) {
      snprintf(k, sizeof k, "%d", o);
      bson_append_utf8(arr, k, -1, append, -1);
   }
   return arr;
}

typedef struct {
   const char *collection, *id;
   bson_t *(*edit)(const bson_t *doc);
} edit_t;

#define CONV_EDIT_CONTENT "65a1998a636f6e0000000002"
#define CONV_DROP_MESSAGE "659ead11636f6e0000000001"
#define USER_ADD_ALLERGY "63e3f77c757372000000000a"
#define NEW_CONTENT "Contenido cambiado: «ñandú» 🐧\nsegunda línea\tcon tab \\ y barra"
#define DROPPED_INDEX 2

static bson_t *
edit_content(const bson_t *doc)
{
   bson_t *arr = edited_array(doc, "messages", -1, 0, "content", NEW_CONTENT, NULL);
   bson_t *out = with_array(doc, "messages", arr);
   bson_destroy(arr);
   return out;
}

static bson_t *
edit_drop_message(const bson_t *doc)
{
   bson_t *arr = edited_array(doc, "messages", DROPPED_INDEX, -1, NULL, NULL, NULL);
   bson_t *out = with_array(doc, "messages", arr);
   bson_destroy(arr);
   return out;
}

static bson_t *
edit_add_allergy(const bson_t *doc)
{
   bson_t *arr = edited_array(doc, "allergies", -1, -1, NULL, NULL, "Latex");
   bson_t *out = with_array(doc, "allergies", arr);
   bson_destroy(arr);
   return out;
}

static const edit_t EDITS[] = {
   {"conversations", CONV_EDIT_CONTENT, edit_content},
   {"conversations", CONV_DROP_MESSAGE, edit_drop_message},
   {"users", USER_ADD_ALLERGY, edit_add_allergy},
};

/*
 * Write INC_DIR, the modified source: the canonical Extended JSON of every collection,
 * line by line, with each document EDITS names replaced by its edited form (and every
 * edit applied exactly once).
 */
static void
write_modified_source(void)
{
   int applied = 0;

   g_mkdir_with_parents(INC_DIR, 0700);
   for (size_t c = 0; c < N_COLLECTIONS; c++) {
      char *in = g_strdup_printf("%s/%s.json", JSON_DIR, COLLECTIONS[c]);
      char *out = g_strdup_printf("%s/%s.json", INC_DIR, COLLECTIONS[c]);
      char *content = NULL;
      char **lines;
      GString *result = g_string_new(NULL);

      assert_true(g_file_get_contents(in, &content, NULL, NULL));
      lines = g_strsplit(content, "\n", -1);
      for (size_t i = 0; lines[i]; i++) {
         bson_error_t err;
         bson_t *doc;
         char id[256];
         bool done = false;

         if (!*lines[i]) {
            continue;
         }
         doc = bson_new_from_json((const uint8_t *)lines[i], -1, &err);
         if (!doc) {
            fail_msg("%s line %zu: %s", in, i + 1, err.message);
         }
         for (size_t e = 0; e < G_N_ELEMENTS(EDITS); e++) {
            if (strcmp(EDITS[e].collection, COLLECTIONS[c]) == 0 &&
                doc_id_text(doc, id, sizeof id) && strcmp(id, EDITS[e].id) == 0) {
               bson_t *changed = EDITS[e].edit(doc);
               char *json = bson_as_canonical_extended_json(changed, NULL);
               g_string_append_printf(result, "%s\n", json);
               bson_free(json);
               bson_destroy(changed);
               applied++;
               done = true;
            }
         }
         if (!done) {
            g_string_append_printf(result, "%s\n", lines[i]);
         }
         bson_destroy(doc);
      }
      assert_true(g_file_set_contents(out, result->str, (gssize)result->len, NULL));
      g_string_free(result, TRUE);
      g_strfreev(lines);
      g_free(content);
      g_free(in);
      g_free(out);
   }
   assert_int_equal(applied, (int)G_N_ELEMENTS(EDITS));
}

/* The number of messages of conversation HEX in the source. */
static uint64_t
source_messages(const char *hex)
{
   bson_iter_t it, arr;
   uint64_t n = 0;

   assert_true(bson_iter_init_find(&it, find_doc("conversations", hex), "messages") &&
               bson_iter_recurse(&it, &arr));
   while (bson_iter_next(&arr)) {
      n++;
   }
   return n;
}

/* Each table of the incremental target (g.conn) has the checksum of the full load's (FC). */
static void
compare_with_full_load(PGconn *fc, GString *problems)
{
   char *a[N_TABLES], *b[N_TABLES];

   checksums(g.conn, a);
   checksums(fc, b);
   for (size_t t = 0; t < N_TABLES; t++) {
      if (strcmp(a[t], b[t]) != 0) {
         PGresult *res = qf(g.conn, "SELECT count(*) FROM public.%s", TABLES[t]);
         PGresult *res2 = qf(fc, "SELECT count(*) FROM public.%s", TABLES[t]);
         g_string_append_printf(problems,
                                "  %s differs from a full load (%s rows incremental, %s rows "
                                "full)\n",
                                TABLES[t], PQgetvalue(res, 0, 0), PQgetvalue(res2, 0, 0));
         PQclear(res);
         PQclear(res2);
      }
      g_free(a[t]);
      g_free(b[t]);
   }
}

/* The statistics INC of the incremental run count exactly the edits: messages 1 deleted and
 * 1 + the N_MESSAGES - DROPPED_INDEX - 1 later ones (their ordinals shift) updated,
 * allergies 1 inserted, nothing else. */
static void
check_change_counts(mn_stats_t *inc, uint64_t n_messages, GString *problems)
{
   for (size_t t = 0; t < N_TABLES; t++) {
      mn_table_counts_t *tc = mn_stats_table(inc, TABLES[t]);
      uint64_t ins = 0, upd = 0, del = 0;
      if (strcmp(TABLES[t], "messages") == 0) {
         upd = 1 + (n_messages - DROPPED_INDEX - 1);
         del = 1;
      } else if (strcmp(TABLES[t], "allergies") == 0) {
         ins = 1;
      }
      if (tc->inserted != ins || tc->updated != upd || tc->deleted != del) {
         g_string_append_printf(problems,
                                "  %s: counted inserted %" PRIu64 ", updated %" PRIu64
                                ", deleted %" PRIu64 "; the source changes give %" PRIu64
                                "/%" PRIu64 "/%" PRIu64 "\n",
                                TABLES[t], tc->inserted, tc->updated, tc->deleted, ins, upd, del);
      }
   }
}

/* The incremental run (INC) read, loaded and rejected what the full load (FRESH) did. */
static void
compare_collection_counts(mn_stats_t *inc, mn_stats_t *fresh, GString *problems)
{
   for (size_t c = 0; c < N_COLLECTIONS; c++) {
      mn_collection_counts_t *x = mn_stats_collection(inc, COLLECTIONS[c]);
      mn_collection_counts_t *y = mn_stats_collection(fresh, COLLECTIONS[c]);
      if (x->read != y->read || x->loaded != y->loaded || x->rejected != y->rejected) {
         g_string_append_printf(problems,
                                "  %s: incremental read/loaded/rejected %" PRIu64 "/%" PRIu64
                                "/%" PRIu64 ", full load %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                                COLLECTIONS[c], x->read, x->loaded, x->rejected, y->read, y->loaded,
                                y->rejected);
      }
   }
}

/* The edits themselves are in the target: the new content, the added allergy, one message
 * fewer of the N_MESSAGES. */
static void
check_edits_applied(uint64_t n_messages)
{
   char id[37];
   const char *params[1] = {id};
   PGresult *res = row_of("SELECT content FROM public.messages WHERE conversation_id = $1 "
                          "AND ordinal = 0",
                          CONV_EDIT_CONTENT);

   assert_cell_bytes(res, 0, 0, NEW_CONTENT, strlen(NEW_CONTENT), "edited message");
   PQclear(res);
   hex_uuid(USER_ADD_ALLERGY, id);
   assert_int_equal(qint(g.conn,
                         "SELECT count(*) FROM public.allergies WHERE patient_id = $1 AND "
                         "allergen = 'Latex' AND ordinal = 2",
                         1, params),
                    1);
   hex_uuid(CONV_DROP_MESSAGE, id);
   assert_int_equal(
      qint(g.conn, "SELECT count(*) FROM public.messages WHERE conversation_id = $1", 1, params),
      (long long)n_messages - 1);
}

/*
 * Changing the source: a copy of the source (canonical Extended JSON) with one message's
 * content changed, one message removed from the middle of a conversation and one allergy
 * appended is run against the loaded database.  The target must then equal a fresh full
 * load of the modified source into an empty database, table by table (checksums), and
 * the statistics must count exactly what changed: messages 1 deleted and (1 content +
 * the later messages' shifted ordinals) updated, allergies 1 inserted, nothing else.
 * Guards: removed elements left behind, ordinals not renumbered, edits not detected
 * (unchanged rows skipped by document), every row rewritten (counts too high), a merge
 * result differing from a clean load (updated_at stamped, deferred references lost).
 */
static void
test_load_incremental_equals_full_load(void **state)
{
   mn_stats_t *inc, *fresh;
   mn_error_t error = {0};
   char *fresh_dsn = NULL;
   PGconn *fc;
   GString *problems = g_string_new(NULL);
   uint64_t n_messages;

   (void)state;
   require_load();
   write_modified_source();

   /* how many messages follow the dropped one (their ordinals shift by one) */
   n_messages = source_messages(CONV_DROP_MESSAGE);
   assert_true(n_messages > DROPPED_INDEX + 1);

   inc = mn_stats_new();
   if (!run_load(INC_DIR, g.dsn, REJECTS_INC, inc, &error)) {
      fail_msg("incremental mn_run failed: %s", error.message);
   }
   fresh = mn_stats_new();
   if (!fresh_database(DB_FRESH, &fresh_dsn)) {
      fail_msg("could not create the database %s", DB_FRESH);
   }
   if (!run_load(INC_DIR, fresh_dsn, REJECTS_FRESH, fresh, &error)) {
      fail_msg("full load of the modified source failed: %s", error.message);
   }
   fc = connect_db(fresh_dsn);
   assert_non_null(fc);
   compare_with_full_load(fc, problems);
   check_change_counts(inc, n_messages, problems);
   compare_collection_counts(inc, fresh, problems);
   check_edits_applied(n_messages);
   PQfinish(fc);
   g_free(fresh_dsn);
   mn_stats_destroy(inc);
   mn_stats_destroy(fresh);
   fail_on_problems(problems, "incremental run vs full load of the modified source");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_counts_match_statistics),
      cmocka_unit_test(test_load_message_order),
      cmocka_unit_test(test_load_text_byte_exact),
      cmocka_unit_test(test_load_dates_exact),
      cmocka_unit_test(test_load_numbers_exact),
      cmocka_unit_test(test_load_missing_is_null),
      cmocka_unit_test(test_load_ids),
      cmocka_unit_test(test_load_references),
      cmocka_unit_test(test_load_reject_file),
      cmocka_unit_test(test_load_rerun_changes_nothing),
      cmocka_unit_test(test_load_incremental_equals_full_load),
   };

   mn_test_require_env("MN_TEST_PG_DSN", "PostgreSQL"); /* every test needs it */
   return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
