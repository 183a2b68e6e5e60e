/*
 * verify.c - reconcile a source and a target (see verify.h).
 *
 * Order of work:
 *   1. mapping, source (every mapped collection present unless `optional`), connection,
 *      run lock, catalog check (the column limits the converter needs, as in a run), and
 *      mongonorm.documents must exist;
 *   2. temporary tables, created before the transaction (a READ ONLY transaction may
 *      write temporary tables but not create them): mn_verify_<i> per mapped table (its
 *      mapped columns, as the target types them, plus the document's source position and
 *      `_id`), mn_verify_docs (per source document: row id, position, `_id`, digest,
 *      verdict, row counts) and mn_verify_deferred (references held back);
 *   3. BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
 *   4. a fresh load's conversion: the `_id` pre-pass of referenced collections, then per
 *      collection in mapping order, every document in stream order; its rows and record
 *      COPYed into the temporary tables batch by batch; the accounting of the collection
 *      (a FULL JOIN of mn_verify_docs with mongonorm.documents);
 *   5. per table: rows two loaded documents share (the first keeps it), then the
 *      deferred references (the referenced row id where that row is expected, else
 *      NULL), then a FULL JOIN of expected and present rows by row id;
 *   6. ROLLBACK; the temporary tables go with the session.
 */
#include <mongonorm/convert.h>
#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>
#include <mongonorm/verify.h>

#include "pg/pg_private.h"
#include "run/run_private.h"
#include "mapping/plan.h"
#include "util/uuidset.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the sink writes as the reason of a document PostgreSQL refused (sink.c,
 * reject_segment): such a record has no digest and no rows by design. */
#define LOAD_REJECT_PREFIX "PostgreSQL refused the rows of table "

/* Verdicts in mn_verify_docs. */
#define VERDICT_ACCEPTED "a"  /* the mapping accepts it: its rows are expected */
#define VERDICT_REJECTED "r"  /* the mapping rejects it */
#define VERDICT_BY_TARGET "t" /* accepted, but PostgreSQL refused it: no rows expected */

/* The extra columns of the temporary tables (a mapped column may not have these names). */
#define SEQ_COLUMN "mn_verify_seq"
#define ID_COLUMN "mn_verify_id"

struct mn_verify_result {
   GPtrArray *colls;  /* mn_verify_collection_t*, name owned */
   GPtrArray *tables; /* mn_verify_table_t*, name owned */
   GArray *diffs;     /* mn_verify_difference_t, strings owned */
   size_t keep;
   uint64_t n_differences;
   double seconds;
};

static double
now_seconds(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the result ---- */

mn_verify_result_t *
mn_verify_result_new(void)
{
   mn_verify_result_t *r = g_new0(mn_verify_result_t, 1);

   r->colls = g_ptr_array_new();
   r->tables = g_ptr_array_new();
   r->diffs = g_array_new(FALSE, TRUE, sizeof(mn_verify_difference_t));
   r->keep = MN_VERIFY_MAX_DIFFERENCES_DEFAULT;
   return r;
}

static void
difference_cleanup(mn_verify_difference_t *d)
{
   g_free((char *)d->collection);
   g_free((char *)d->id_json);
   g_free((char *)d->doc_row_id);
   g_free((char *)d->table);
   g_free((char *)d->row_id);
   g_free((char *)d->columns);
}

static void
result_clear(mn_verify_result_t *r)
{
   for (guint i = 0; i < r->colls->len; i++) {
      mn_verify_collection_t *c = g_ptr_array_index(r->colls, i);
      g_free((char *)c->name);
      g_free(c);
   }
   for (guint i = 0; i < r->tables->len; i++) {
      mn_verify_table_t *t = g_ptr_array_index(r->tables, i);
      g_free((char *)t->name);
      g_free(t);
   }
   for (guint i = 0; i < r->diffs->len; i++) {
      difference_cleanup(&g_array_index(r->diffs, mn_verify_difference_t, i));
   }
   g_ptr_array_set_size(r->colls, 0);
   g_ptr_array_set_size(r->tables, 0);
   g_array_set_size(r->diffs, 0);
   r->n_differences = 0;
   r->seconds = 0;
}

void
mn_verify_result_destroy(mn_verify_result_t *r)
{
   if (!r) {
      return;
   }
   result_clear(r);
   g_ptr_array_free(r->colls, TRUE);
   g_ptr_array_free(r->tables, TRUE);
   g_array_free(r->diffs, TRUE);
   g_free(r);
}

bool
mn_verify_result_agrees(const mn_verify_result_t *r)
{
   return r->n_differences == 0;
}

uint64_t
mn_verify_result_n_differences(const mn_verify_result_t *r)
{
   return r->n_differences;
}

size_t
mn_verify_result_n_collections(const mn_verify_result_t *r)
{
   return r->colls->len;
}

const mn_verify_collection_t *
mn_verify_result_collection(const mn_verify_result_t *r, size_t i)
{
   return i < r->colls->len ? g_ptr_array_index(r->colls, i) : NULL;
}

size_t
mn_verify_result_n_tables(const mn_verify_result_t *r)
{
   return r->tables->len;
}

const mn_verify_table_t *
mn_verify_result_table(const mn_verify_result_t *r, size_t i)
{
   return i < r->tables->len ? g_ptr_array_index(r->tables, i) : NULL;
}

size_t
mn_verify_result_n_kept(const mn_verify_result_t *r)
{
   return r->diffs->len;
}

const mn_verify_difference_t *
mn_verify_result_difference(const mn_verify_result_t *r, size_t i)
{
   return i < r->diffs->len ? &g_array_index(r->diffs, mn_verify_difference_t, i) : NULL;
}

const char *
mn_verify_kind_name(mn_verify_kind_t kind)
{
   switch (kind) {
   case MN_VERIFY_NOT_RECORDED: return "not_recorded";
   case MN_VERIFY_DELETED_FROM_SOURCE: return "deleted_from_source";
   case MN_VERIFY_CHANGED_IN_SOURCE: return "changed_in_source";
   case MN_VERIFY_REJECTED_BUT_LOADED: return "rejected_but_recorded_loaded";
   case MN_VERIFY_ACCEPTED_BUT_REJECTED: return "accepted_but_recorded_rejected";
   case MN_VERIFY_ROW_COUNT: return "row_count";
   case MN_VERIFY_SHARED_ROW_ID: return "shared_row_id";
   case MN_VERIFY_MISSING_ROW: return "missing_row";
   case MN_VERIFY_EXTRA_ROW: return "extra_row";
   case MN_VERIFY_DIFFERENT_ROW: return "different_row";
   default: return "unknown";
   }
}

static const char *
kind_text(mn_verify_kind_t kind)
{
   switch (kind) {
   case MN_VERIFY_NOT_RECORDED:
      return "not recorded in mongonorm.documents (neither loaded nor rejected)";
   case MN_VERIFY_DELETED_FROM_SOURCE: return "deleted from the source, still in the target";
   case MN_VERIFY_CHANGED_IN_SOURCE:
      return "changed in the source since the last run (its SHA-256 is not the recorded one)";
   case MN_VERIFY_REJECTED_BUT_LOADED:
      return "the mapping rejects it, but the target records it as loaded";
   case MN_VERIFY_ACCEPTED_BUT_REJECTED:
      return "the mapping accepts it, but the target records it as rejected";
   case MN_VERIFY_ROW_COUNT: return "recorded row count differs";
   case MN_VERIFY_SHARED_ROW_ID:
      return "row id also produced by an earlier document, yet both are recorded as loaded "
             "(a correct target rejects this one)";
   case MN_VERIFY_MISSING_ROW: return "row missing from the target";
   case MN_VERIFY_EXTRA_ROW: return "row in the target that the source does not give";
   case MN_VERIFY_DIFFERENT_ROW: return "columns differ";
   default: return "difference";
   }
}

char *
mn_verify_difference_to_text(const mn_verify_difference_t *d)
{
   GString *s = g_string_new(NULL);
   char *out;

   g_string_append(s, d->collection ? d->collection : "?");
   if (d->id_json) {
      g_string_append_printf(s, " _id %s", d->id_json);
   } else if (d->doc_row_id) {
      g_string_append_printf(s, " document row %s", d->doc_row_id);
   }
   if (d->table) {
      g_string_append_printf(s, " table %s", d->table);
   }
   if (d->row_id) {
      g_string_append_printf(s, " row %s", d->row_id);
   }
   g_string_append_printf(s, ": %s", kind_text(d->kind));
   if (d->kind == MN_VERIFY_DIFFERENT_ROW && d->columns) {
      g_string_append_printf(s, ": %s", d->columns);
   }
   if (d->kind == MN_VERIFY_ROW_COUNT) {
      g_string_append_printf(s, ": recorded %lld, expected %lld", (long long)d->recorded,
                             (long long)d->expected);
   }
   out = bson_strdup(s->str);
   g_string_free(s, TRUE);
   return out;
}

static uint64_t
collection_differences(const mn_verify_collection_t *c)
{
   return c->not_recorded + c->deleted_from_source + c->changed_in_source + c->verdict_differs +
          c->row_counts_differ;
}

static void
append_count_line(GString *out, uint64_t n, const char *what)
{
   if (n) {
      g_string_append_printf(out, "    %s: %llu\n", what, (unsigned long long)n);
   }
}

char *
mn_verify_result_to_text(const mn_verify_result_t *r, size_t max_lines)
{
   GString *out = g_string_new(NULL);
   char *text;

   g_string_append_printf(out, "%-24s %10s %10s %10s %10s %10s %10s %10s %11s\n", "collection",
                          "read", "loaded", "rejected", "by target", "duplicate", "unreadable",
                          "recorded", "differences");
   for (guint i = 0; i < r->colls->len; i++) {
      const mn_verify_collection_t *c = g_ptr_array_index(r->colls, i);
      g_string_append_printf(
         out, "%-24s %10llu %10llu %10llu %10llu %10llu %10llu %10llu %11llu\n", c->name,
         (unsigned long long)c->read, (unsigned long long)c->loaded,
         (unsigned long long)c->rejected, (unsigned long long)c->rejected_by_target,
         (unsigned long long)c->duplicate_ids, (unsigned long long)c->unreadable,
         (unsigned long long)c->recorded, (unsigned long long)collection_differences(c));
      append_count_line(out, c->not_recorded, "not recorded");
      append_count_line(out, c->deleted_from_source, "deleted from the source");
      append_count_line(out, c->changed_in_source, "changed in the source since the last run");
      append_count_line(out, c->verdict_differs, "verdict differs from the recorded one");
      append_count_line(out, c->row_counts_differ, "recorded row counts differ");
   }
   g_string_append_printf(out, "\n%-24s %10s %10s %10s %10s %10s %10s %10s\n", "table", "expected",
                          "present", "missing", "extra", "different", "shared", "row counts");
   for (guint i = 0; i < r->tables->len; i++) {
      const mn_verify_table_t *t = g_ptr_array_index(r->tables, i);
      g_string_append_printf(out, "%-24s %10llu %10llu %10llu %10llu %10llu %10llu %10llu\n",
                             t->name, (unsigned long long)t->expected,
                             (unsigned long long)t->present, (unsigned long long)t->missing,
                             (unsigned long long)t->extra, (unsigned long long)t->different,
                             (unsigned long long)t->shared,
                             (unsigned long long)t->row_counts_differ);
   }
   if (r->n_differences) {
      size_t n = MIN(max_lines, (size_t)r->diffs->len);
      g_string_append_printf(out, "\n%llu difference%s", (unsigned long long)r->n_differences,
                             r->n_differences == 1 ? "" : "s");
      if (n < r->n_differences) {
         g_string_append_printf(out, "; the first %zu", n);
      }
      g_string_append(out, n ? ":\n" : "\n");
      for (size_t i = 0; i < n; i++) {
         char *line =
            mn_verify_difference_to_text(&g_array_index(r->diffs, mn_verify_difference_t, i));
         g_string_append_printf(out, "  %s\n", line);
         bson_free(line);
      }
   }
   g_string_append_printf(out, "\n%s (%.2f s)\n",
                          r->n_differences ? "source and target differ" : "source and target agree",
                          r->seconds);
   text = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return text;
}

/* {"v": <id_json>} parsed, its value appended as `key`; false when it does not parse. */
static bool
append_id_value(bson_t *b, const char *key, const char *id_json)
{
   char *wrapped = g_strdup_printf("{\"v\": %s}", id_json);
   bson_t *doc = bson_new_from_json((const uint8_t *)wrapped, -1, NULL);
   bson_iter_t it;
   bool ok = doc && bson_iter_init_find(&it, doc, "v");

   if (ok) {
      bson_append_iter(b, key, -1, &it);
   }
   if (doc) {
      bson_destroy(doc);
   }
   g_free(wrapped);
   return ok;
}

/* One difference of the JSON form, as key in the array diffs. */
static void
append_difference(bson_t *diffs, const char *key, const mn_verify_difference_t *d)
{
   bson_t one;

   BSON_APPEND_DOCUMENT_BEGIN(diffs, key, &one);
   BSON_APPEND_UTF8(&one, "kind", mn_verify_kind_name(d->kind));
   if (d->collection) {
      BSON_APPEND_UTF8(&one, "collection", d->collection);
   }
   if (d->id_json && !append_id_value(&one, "_id", d->id_json)) {
      BSON_APPEND_UTF8(&one, "_id_json", d->id_json);
   }
   if (d->doc_row_id) {
      BSON_APPEND_UTF8(&one, "doc_row_id", d->doc_row_id);
   }
   if (d->table) {
      BSON_APPEND_UTF8(&one, "table", d->table);
   }
   if (d->row_id) {
      BSON_APPEND_UTF8(&one, "row_id", d->row_id);
   }
   if (d->columns) {
      bson_t cols;
      char **names = g_strsplit(d->columns, ", ", -1);
      BSON_APPEND_ARRAY_BEGIN(&one, "columns", &cols);
      for (guint k = 0; names[k]; k++) {
         char ck[24];
         snprintf(ck, sizeof ck, "%u", k);
         BSON_APPEND_UTF8(&cols, ck, names[k]);
      }
      bson_append_array_end(&one, &cols);
      g_strfreev(names);
   }
   if (d->kind == MN_VERIFY_ROW_COUNT) {
      BSON_APPEND_INT64(&one, "recorded", d->recorded);
      BSON_APPEND_INT64(&one, "expected", d->expected);
   }
   bson_append_document_end(diffs, &one);
}

char *
mn_verify_result_to_json(const mn_verify_result_t *r)
{
   bson_t doc = BSON_INITIALIZER;
   bson_t colls, tables, diffs;
   char *json;

   BSON_APPEND_BOOL(&doc, "agrees", r->n_differences == 0);
   BSON_APPEND_INT64(&doc, "differences_total", (int64_t)r->n_differences);
   BSON_APPEND_DOCUMENT_BEGIN(&doc, "collections", &colls);
   for (guint i = 0; i < r->colls->len; i++) {
      const mn_verify_collection_t *c = g_ptr_array_index(r->colls, i);
      bson_t d;
      BSON_APPEND_DOCUMENT_BEGIN(&colls, c->name, &d);
      BSON_APPEND_INT64(&d, "read", (int64_t)c->read);
      BSON_APPEND_INT64(&d, "unreadable", (int64_t)c->unreadable);
      BSON_APPEND_INT64(&d, "skipped_bytes", (int64_t)c->skipped_bytes);
      BSON_APPEND_INT64(&d, "duplicate_ids", (int64_t)c->duplicate_ids);
      BSON_APPEND_INT64(&d, "loaded", (int64_t)c->loaded);
      BSON_APPEND_INT64(&d, "rejected", (int64_t)c->rejected);
      BSON_APPEND_INT64(&d, "rejected_by_target", (int64_t)c->rejected_by_target);
      BSON_APPEND_INT64(&d, "recorded", (int64_t)c->recorded);
      BSON_APPEND_INT64(&d, "not_recorded", (int64_t)c->not_recorded);
      BSON_APPEND_INT64(&d, "deleted_from_source", (int64_t)c->deleted_from_source);
      BSON_APPEND_INT64(&d, "changed_in_source", (int64_t)c->changed_in_source);
      BSON_APPEND_INT64(&d, "verdict_differs", (int64_t)c->verdict_differs);
      BSON_APPEND_INT64(&d, "row_counts_differ", (int64_t)c->row_counts_differ);
      BSON_APPEND_DOUBLE(&d, "seconds", c->seconds);
      bson_append_document_end(&colls, &d);
   }
   bson_append_document_end(&doc, &colls);
   BSON_APPEND_DOCUMENT_BEGIN(&doc, "tables", &tables);
   for (guint i = 0; i < r->tables->len; i++) {
      const mn_verify_table_t *t = g_ptr_array_index(r->tables, i);
      bson_t d;
      BSON_APPEND_DOCUMENT_BEGIN(&tables, t->name, &d);
      BSON_APPEND_INT64(&d, "expected", (int64_t)t->expected);
      BSON_APPEND_INT64(&d, "present", (int64_t)t->present);
      BSON_APPEND_INT64(&d, "missing", (int64_t)t->missing);
      BSON_APPEND_INT64(&d, "extra", (int64_t)t->extra);
      BSON_APPEND_INT64(&d, "different", (int64_t)t->different);
      BSON_APPEND_INT64(&d, "shared", (int64_t)t->shared);
      BSON_APPEND_INT64(&d, "row_counts_differ", (int64_t)t->row_counts_differ);
      bson_append_document_end(&tables, &d);
   }
   bson_append_document_end(&doc, &tables);
   BSON_APPEND_ARRAY_BEGIN(&doc, "differences", &diffs);
   for (guint i = 0; i < r->diffs->len; i++) {
      char key[24];
      snprintf(key, sizeof key, "%u", i);
      append_difference(&diffs, key, &g_array_index(r->diffs, mn_verify_difference_t, i));
   }
   bson_append_array_end(&doc, &diffs);
   BSON_APPEND_INT64(&doc, "differences_listed", (int64_t)r->diffs->len);
   BSON_APPEND_DOUBLE(&doc, "seconds", r->seconds);
   json = bson_as_relaxed_extended_json(&doc, NULL);
   bson_destroy(&doc);
   return json;
}

/* ---- the verification ---- */

/* One mapped table: the target and its temporary twin. */
typedef struct {
   char *temp;    /* mn_verify_<i> (a safe identifier) */
   char *qname;   /* "schema"."table" */
   char *qkey;    /* quoted key column */
   char *qdoc;    /* quoted document-id column */
   char **qcols;  /* quoted columns, in the mapping's order ([0] is the key) */
   bool *as_text; /* compare as text: a type without equality (json, xml, geometry) */
   size_t n_columns;
   char *collist; /* the quoted columns, comma-separated */
   GString *buf;  /* COPY text of the queued rows */
   mn_verify_table_t *counts;
} vtable_t;

typedef struct {
   const mn_verify_opts_t *opts;
   mn_verify_result_t *res;
   mn_mapping_t *m;
   mn_source_t *src;
   PGconn *conn;
   mn_converter_t *conv;
   mn_stats_t *stats; /* the converter's counts, not reported */
   mn_rowset_t *rows;
   vtable_t *tables;
   size_t n_tables;
   GString *docs;     /* COPY text of mn_verify_docs */
   GString *deferred; /* COPY text of mn_verify_deferred */
   size_t pending_docs;
   int64_t seq; /* source position of the next document, over every collection */
} verify_t;

/* Keep a difference (or only count it once `keep` are kept).  Strings are copied. */
static void
add_difference(verify_t *v, mn_verify_kind_t kind, const char *collection, const char *id_json,
               const char *doc_row_id, const char *table, const char *row_id, const char *columns,
               int64_t recorded, int64_t expected)
{
   mn_verify_result_t *r = v->res;
   mn_verify_difference_t d;

   r->n_differences++;
   if (r->diffs->len >= r->keep) {
      return;
   }
   memset(&d, 0, sizeof d);
   d.kind = kind;
   d.collection = g_strdup(collection);
   d.id_json = g_strdup(id_json);
   d.doc_row_id = g_strdup(doc_row_id);
   d.table = g_strdup(table);
   d.row_id = g_strdup(row_id);
   d.columns = g_strdup(columns);
   d.recorded = recorded;
   d.expected = expected;
   g_array_append_val(r->diffs, d);
}

/*
 * The `_id` of a document the source lacks, from its row id: an ObjectId's row id is its
 * 12 bytes then 4 zero bytes (keys.h); any other `_id` cannot be read back (NULL).
 */
static char *
id_json_from_row_id(const char *row_id)
{
   mn_uuid_t u;
   bson_oid_t oid;
   char hex[25];
   static const uint8_t zero[4] = {0};

   if (!row_id || !mn_uuid_parse(row_id, &u) || memcmp(u.bytes + 12, zero, 4) != 0) {
      return NULL;
   }
   bson_oid_init_from_data(&oid, u.bytes);
   bson_oid_to_string(&oid, hex);
   return g_strdup_printf("{ \"$oid\" : \"%s\" }", hex);
}

static bool
exec_sql(verify_t *v, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = PQexec(v->conn, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, v->conn, res, doing);
   }
   PQclear(res);
   return ok;
}

/* COPY a text-format buffer into a temporary table, and empty the buffer. */
static bool
copy_buffer(verify_t *v, const char *table, const char *collist, GString *buf, mn_error_t *error)
{
   char *sql;
   PGresult *res;
   bool ok = false;

   if (buf->len == 0) {
      return true;
   }
   sql = g_strdup_printf("COPY %s (%s) FROM STDIN", table, collist);
   res = PQexec(v->conn, sql);
   g_free(sql);
   if (PQresultStatus(res) != PGRES_COPY_IN) {
      mn_pg__set_error(error, MN_PG_COPY, v->conn, res, "could not copy the expected rows");
      PQclear(res);
      return false;
   }
   PQclear(res);
   ok = true;
   for (size_t off = 0; ok && off < buf->len;) {
      size_t chunk = MIN((size_t)(1 << 20), buf->len - off);
      if (PQputCopyData(v->conn, buf->str + off, (int)chunk) != 1) {
         mn_pg__set_error(error, MN_PG_COPY, v->conn, NULL, "could not copy the expected rows");
         PQputCopyEnd(v->conn, "aborted");
         ok = false;
      }
      off += chunk;
   }
   if (ok && PQputCopyEnd(v->conn, NULL) != 1) {
      mn_pg__set_error(error, MN_PG_COPY, v->conn, NULL, "could not copy the expected rows");
      ok = false;
   }
   while ((res = PQgetResult(v->conn))) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK && ok) {
         mn_pg__set_error(error, MN_PG_COPY, v->conn, res, "could not copy the expected rows");
         ok = false;
      }
      PQclear(res);
   }
   g_string_truncate(buf, 0);
   return ok;
}

static bool
flush(verify_t *v, mn_error_t *error)
{
   for (size_t t = 0; t < v->n_tables; t++) {
      vtable_t *vt = &v->tables[t];
      char *cols = g_strdup_printf("%s, " SEQ_COLUMN ", " ID_COLUMN, vt->collist);
      bool ok = copy_buffer(v, vt->temp, cols, vt->buf, error);
      g_free(cols);
      if (!ok) {
         return false;
      }
   }
   if (!copy_buffer(v, "mn_verify_docs", "coll, doc, seq, id_json, digest, verdict, counts",
                    v->docs, error) ||
       !copy_buffer(v, "mn_verify_deferred", "tbl, col, ref_tbl, row_id, ref_id", v->deferred,
                    error)) {
      return false;
   }
   v->pending_docs = 0;
   return true;
}

static size_t
pending_bytes(const verify_t *v)
{
   size_t n = v->docs->len + v->deferred->len;

   for (size_t t = 0; t < v->n_tables; t++) {
      n += v->tables[t].buf->len;
   }
   return n;
}

static void
append_uuid(GString *out, const mn_uuid_t *id)
{
   char text[MN_UUID_TEXT_LEN + 1];

   mn_uuid_format(id, text);
   g_string_append(out, text);
}

/* A line of mn_verify_docs; counts is NULL for a document with no rows expected. */
static void
queue_doc(verify_t *v, size_t c, const mn_uuid_t *id, int64_t seq, const char *id_json,
          const uint8_t digest[MN_DIGEST_SIZE], const char *verdict, const int32_t *counts)
{
   GString *o = v->docs;

   g_string_append_printf(o, "%zu\t", c);
   append_uuid(o, id);
   g_string_append_printf(o, "\t%lld\t", (long long)seq);
   mn_pg__append_copy_value(o, id_json);
   g_string_append(o, "\t\\\\x");
   for (int i = 0; i < MN_DIGEST_SIZE; i++) {
      g_string_append_printf(o, "%02x", digest[i]);
   }
   g_string_append_printf(o, "\t%s\t", verdict);
   if (counts) {
      /* packed as the records pack them, so that equal counts are equal bytes */
      uint8_t *packed = g_new(uint8_t, MN_PACKED_COUNTS_MAX(v->n_tables) + 1);
      size_t len = mn_state_pack_counts(counts, v->n_tables, packed);
      g_string_append(o, "\\\\x");
      for (size_t i = 0; i < len; i++) {
         g_string_append_printf(o, "%02x", packed[i]);
      }
      g_string_append_c(o, '\n');
      g_free(packed);
   } else {
      g_string_append(o, "\\N\n");
   }
}

/* The rows of an accepted document, its deferred references, and its row counts. */
static void
queue_rows(verify_t *v, int64_t seq, int32_t *counts)
{
   const mn_rowset_t *rows = v->rows;
   const char *id_json = mn_rowset_doc_id_json(rows);

   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      vtable_t *vt = &v->tables[t];
      for (size_t col = 0; col < vt->n_columns; col++) {
         mn_pg__append_copy_value(vt->buf, mn_rowset_value(rows, i, col));
         g_string_append_c(vt->buf, '\t');
      }
      g_string_append_printf(vt->buf, "%lld\t", (long long)seq);
      mn_pg__append_copy_value(vt->buf, id_json);
      g_string_append_c(vt->buf, '\n');
      counts[t]++;
   }
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t table, column, ref_table;
      const mn_uuid_t *row_id, *ref_id;
      mn_rowset_deferred(rows, i, &table, &column, &row_id, &ref_id, &ref_table);
      g_string_append_printf(v->deferred, "%zu\t%zu\t%zu\t", table, column, ref_table);
      append_uuid(v->deferred, row_id);
      g_string_append_c(v->deferred, '\t');
      append_uuid(v->deferred, ref_id);
      g_string_append_c(v->deferred, '\n');
   }
}

/* Types PostgreSQL has no equality for: their columns are compared as text. */
static bool
type_without_equality(const char *name)
{
   static const char *const names[] = {"json", "xml",     "point",  "line", "lseg",
                                       "box",  "polygon", "circle", "path"};

   for (size_t i = 0; name && i < G_N_ELEMENTS(names); i++) {
      if (strcmp(name, names[i]) == 0) {
         return true;
      }
   }
   return false;
}

/* The columns of a target table compared as text (see type_without_equality()). */
static bool
load_comparison_types(verify_t *v, size_t t, mn_error_t *error)
{
   vtable_t *vt = &v->tables[t];
   const char *params[1] = {vt->qname};
   PGresult *res = mn_pg__query(
      v->conn,
      "SELECT a.attname, bt.typname, ebt.typname FROM pg_attribute a "
      "JOIN pg_type ty ON ty.oid = a.atttypid "
      "JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END "
      "LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A' "
      "LEFT JOIN pg_type ebt ON ebt.oid = CASE WHEN et.typtype = 'd' THEN et.typbasetype "
      "  ELSE et.oid END "
      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
      1, params, PGRES_TUPLES_OK, "could not read the target's columns", error);

   if (!res) {
      return false;
   }
   for (int r = 0; r < PQntuples(res); r++) {
      const char *name = PQgetvalue(res, r, 0);
      bool text = type_without_equality(PQgetvalue(res, r, 1)) ||
                  (!PQgetisnull(res, r, 2) && type_without_equality(PQgetvalue(res, r, 2)));
      for (size_t c = 0; text && c < vt->n_columns; c++) {
         if (strcmp(mn_mapping_table_column(v->m, t, c), name) == 0) {
            vt->as_text[c] = true;
         }
      }
   }
   PQclear(res);
   return true;
}

/* The temporary tables, before the transaction (a READ ONLY one cannot create them). */
static bool
create_temp_tables(verify_t *v, mn_error_t *error)
{
   char *qschema = mn_pg_quote_ident(v->conn, mn_mapping_schema(v->m));
   bool ok = false;

   v->n_tables = mn_mapping_n_tables(v->m);
   v->tables = g_new0(vtable_t, v->n_tables ? v->n_tables : 1);
   for (size_t t = 0; t < v->n_tables; t++) {
      vtable_t *vt = &v->tables[t];
      const char *name = mn_mapping_table_name(v->m, t);
      GString *cols = g_string_new(NULL);
      char *qt = mn_pg_quote_ident(v->conn, name);
      char *sql;
      bool created;

      vt->counts = g_new0(mn_verify_table_t, 1);
      vt->counts->name = g_strdup(name);
      g_ptr_array_add(v->res->tables, vt->counts);
      vt->n_columns = mn_mapping_table_n_columns(v->m, t);
      vt->qcols = g_new0(char *, vt->n_columns ? vt->n_columns : 1);
      vt->as_text = g_new0(bool, vt->n_columns ? vt->n_columns : 1);
      for (size_t c = 0; c < vt->n_columns; c++) {
         const char *col = mn_mapping_table_column(v->m, t, c);
         if (strcmp(col, SEQ_COLUMN) == 0 || strcmp(col, ID_COLUMN) == 0) {
            mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA,
                         "table \"%s\": verify cannot compare a mapped column named \"%s\" "
                         "(the name of one of its own columns)",
                         name, col);
            bson_free(qt);
            g_string_free(cols, TRUE);
            goto cleanup;
         }
         vt->qcols[c] = mn_pg_quote_ident(v->conn, col);
         g_string_append_printf(cols, "%s%s", c ? ", " : "", vt->qcols[c]);
      }
      vt->collist = g_string_free(cols, FALSE);
      vt->qname = g_strdup_printf("%s.%s", qschema, qt);
      bson_free(qt);
      vt->temp = g_strdup_printf("mn_verify_%zu", t);
      vt->qkey = g_strdup(vt->qcols[0]);
      vt->qdoc = g_strdup(vt->qcols[mn_mapping_table_doc_column(v->m, t)]);
      vt->buf = g_string_new(NULL);
      /* shaped like the target: its mapped columns with their types and typmods, so
       * that both sides of the comparison are values of one type (no constraints: an
       * unexpected NULL is a difference to report, not a failure) */
      sql = g_strdup_printf("CREATE TEMP TABLE %s AS SELECT %s, NULL::bigint AS " SEQ_COLUMN
                            ", NULL::text AS " ID_COLUMN " FROM %s WITH NO DATA",
                            vt->temp, vt->collist, vt->qname);
      created = exec_sql(v, sql, "could not create a temporary table", error);
      g_free(sql);
      if (!created || !load_comparison_types(v, t, error)) {
         goto cleanup;
      }
   }
   ok = exec_sql(v,
                 "CREATE TEMP TABLE mn_verify_docs (coll integer, doc uuid, seq bigint, "
                 "id_json text, digest bytea, verdict text, counts bytea);"
                 "CREATE TEMP TABLE mn_verify_deferred (tbl integer, col integer, "
                 "ref_tbl integer, row_id uuid, ref_id uuid)",
                 "could not create a temporary table", error);

cleanup:
   bson_free(qschema);
   return ok;
}

static void
destroy_tables(verify_t *v)
{
   for (size_t t = 0; v->tables && t < v->n_tables; t++) {
      vtable_t *vt = &v->tables[t];
      for (size_t c = 0; vt->qcols && c < vt->n_columns; c++) {
         bson_free(vt->qcols[c]);
      }
      g_free(vt->qcols);
      g_free(vt->as_text);
      g_free(vt->temp);
      g_free(vt->qname);
      g_free(vt->qkey);
      g_free(vt->qdoc);
      g_free(vt->collist);
      if (vt->buf) {
         g_string_free(vt->buf, TRUE);
      }
   }
   g_free(v->tables);
   v->tables = NULL;
}

/* Whether mongonorm's record of documents exists (the target was loaded at least once). */
static bool
check_state(verify_t *v, mn_error_t *error)
{
   PGresult *res = mn_pg__query(v->conn, "SELECT to_regclass('mongonorm.documents') IS NOT NULL", 0,
                                NULL, PGRES_TUPLES_OK, "could not read the catalog", error);
   bool ok = res != NULL;

   if (ok && strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA,
                   "the target has no mongonorm.documents: nothing was ever loaded into it");
      ok = false;
   }
   PQclear(res);
   return ok;
}

/* The documents of a collection recorded as refused by PostgreSQL. */
static bool
load_refused(verify_t *v, const char *collection, mn_idset_t *set, mn_error_t *error)
{
   const char *params[2] = {collection, LOAD_REJECT_PREFIX};
   PGresult *res =
      mn_pg__query(v->conn,
                   "SELECT doc_id FROM mongonorm.documents WHERE collection = $1 "
                   "AND rejected AND starts_with(reason, $2)",
                   2, params, PGRES_TUPLES_OK, "could not read the recorded documents", error);

   if (!res) {
      return false;
   }
   for (int r = 0; r < PQntuples(res); r++) {
      mn_uuid_t id;
      if (mn_uuid_parse(PQgetvalue(res, r, 0), &id)) {
         mn_idset__add(set, id.bytes);
      }
   }
   PQclear(res);
   return true;
}

/* The text of a record's row counts into counts[0..n) (missing entries 0): the packed
 * counts as bytea text ("\\x0301..."), or the int[] of an older record ("{3,1}"); false
 * when it is neither. */
static bool
parse_counts(const char *text, int64_t *counts, size_t n)
{
   const char *p = text;
   size_t i = 0;

   memset(counts, 0, n * sizeof *counts);
   if (p && p[0] == '\\' && p[1] == 'x') {
      size_t len = strlen(p + 2) / 2;
      uint8_t *packed = g_new(uint8_t, len + 1);
      int32_t *c32 = g_new0(int32_t, n + 1);
      bool ok = true;
      for (size_t k = 0; k < len && ok; k++) {
         int hi = g_ascii_xdigit_value(p[2 + 2 * k]), lo = g_ascii_xdigit_value(p[3 + 2 * k]);
         ok = hi >= 0 && lo >= 0;
         packed[k] = (uint8_t)(hi << 4 | lo);
      }
      ok = ok && mn_state_unpack_counts(packed, len, c32, n);
      for (size_t t = 0; t < n; t++) {
         counts[t] = c32[t];
      }
      g_free(packed);
      g_free(c32);
      return ok;
   }
   if (!p || *p != '{') {
      return false;
   }
   p++;
   while (*p && *p != '}' && i < n) {
      char *end = NULL;
      gint64 x = g_ascii_strtoll(p, &end, 10);
      if (end == p) {
         return false;
      }
      counts[i++] = x;
      p = *end == ',' ? end + 1 : end;
   }
   return true;
}

/*
 * One row of account_collection()'s comparison: a source document without a record, a
 * record without a source document, a digest that differs, a verdict that differs, or row
 * counts that differ (rec, exp: scratch arrays of n_tables counters).
 */
static void
account_row(verify_t *v, const char *name, mn_verify_collection_t *vc, const PGresult *res,
            int64_t *rec, int64_t *exp)
{
   size_t n_tables = v->n_tables;
   const char *id_json = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
   const char *row = PQgetvalue(res, 0, 2);
   const char *verdict = PQgetvalue(res, 0, 3);
   bool rejected = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
   bool digest_differs = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
   bool no_source = strcmp(PQgetvalue(res, 0, 8), "t") == 0;
   bool no_record = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
   bool refused = strcmp(PQgetvalue(res, 0, 10), "t") == 0;

   if (no_source) {
      char *guess = id_json_from_row_id(row);
      vc->deleted_from_source++;
      add_difference(v, MN_VERIFY_DELETED_FROM_SOURCE, name, guess, row, NULL, NULL, NULL, 0, 0);
      g_free(guess);
   } else if (no_record) {
      vc->not_recorded++;
      add_difference(v, MN_VERIFY_NOT_RECORDED, name, id_json, row, NULL, NULL, NULL, 0, 0);
   } else if (digest_differs && strcmp(verdict, VERDICT_BY_TARGET) != 0 && !(rejected && refused)) {
      vc->changed_in_source++;
      add_difference(v, MN_VERIFY_CHANGED_IN_SOURCE, name, id_json, row, NULL, NULL, NULL, 0, 0);
   } else if ((strcmp(verdict, VERDICT_ACCEPTED) == 0) == rejected) {
      vc->verdict_differs++;
      add_difference(v, rejected ? MN_VERIFY_ACCEPTED_BUT_REJECTED : MN_VERIFY_REJECTED_BUT_LOADED,
                     name, id_json, row, NULL, NULL, NULL, 0, 0);
   } else {
      parse_counts(PQgetvalue(res, 0, 7), rec, n_tables);
      parse_counts(PQgetvalue(res, 0, 6), exp, n_tables);
      for (size_t t = 0; t < n_tables; t++) {
         if (rec[t] != exp[t]) {
            vc->row_counts_differ++;
            v->tables[t].counts->row_counts_differ++;
            add_difference(v, MN_VERIFY_ROW_COUNT, name, id_json, row,
                           mn_mapping_table_name(v->m, t), NULL, NULL, rec[t], exp[t]);
         }
      }
   }
}

/*
 * The accounting of one collection: its source documents (mn_verify_docs) against its
 * records (mongonorm.documents), by row id.
 */
static bool
account_collection(verify_t *v, size_t c, mn_verify_collection_t *vc, mn_error_t *error)
{
   const char *name = mn_mapping_collection_name(v->m, c);
   char cbuf[24];
   const char *params[3] = {name, cbuf, LOAD_REJECT_PREFIX};
   size_t n_tables = v->n_tables;
   int64_t *rec = g_new0(int64_t, n_tables ? n_tables : 1);
   int64_t *exp = g_new0(int64_t, n_tables ? n_tables : 1);
   PGresult *res;
   bool ok = false;

   snprintf(cbuf, sizeof cbuf, "%zu", c);
   res = mn_pg__query(v->conn,
                      "SELECT count(*) FROM mongonorm.documents WHERE collection = $1 "
                      "AND doc_id <> '00000000-0000-0000-0000-000000000000'",
                      1, params, PGRES_TUPLES_OK, "could not read the recorded documents", error);
   if (!res) {
      goto cleanup;
   }
   vc->recorded = g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
   PQclear(res);
   /* A document that is not valid BSON (or is nested too deep) is recorded by a run under
    * the all-zero row id, whatever its _id: those records are not compared. */
   if (!PQsendQueryParams(
          v->conn,
          "SELECT v.seq, v.id_json, coalesce(v.doc, d.doc_id)::text, v.verdict, d.rejected, "
          "  v.digest IS DISTINCT FROM d.digest, v.counts::text, "
          "  coalesce(d.row_counts::text, d.counts::text), "
          "  v.doc IS NULL, d.doc_id IS NULL, coalesce(starts_with(d.reason, $3), false) "
          "FROM (SELECT * FROM mn_verify_docs WHERE coll = $2::integer) v "
          "FULL JOIN (SELECT doc_id, digest, rejected, reason, counts, row_counts "
          "  FROM mongonorm.documents WHERE collection = $1 "
          "  AND doc_id <> '00000000-0000-0000-0000-000000000000') d ON d.doc_id = v.doc "
          "WHERE v.doc IS NULL OR d.doc_id IS NULL "
          "   OR (v.verdict <> 't' AND NOT (d.rejected AND starts_with(d.reason, $3)) "
          "       AND v.digest IS DISTINCT FROM d.digest) "
          "   OR (v.verdict = 'a') = d.rejected "
          /* a record with an int[] (state.c: record_counts()) is compared by account_row() */
          "   OR (v.verdict = 'a' AND (d.row_counts IS NOT NULL OR v.counts IS DISTINCT FROM "
          "       d.counts)) "
          "ORDER BY v.seq NULLS LAST, 3",
          3, NULL, params, NULL, NULL, 0) ||
       !PQsetSingleRowMode(v->conn)) {
      mn_pg__set_error(error, MN_PG_QUERY, v->conn, NULL, "could not compare the records");
      goto cleanup;
   }
   ok = true;
   while ((res = PQgetResult(v->conn))) {
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_SINGLE_TUPLE) {
         account_row(v, name, vc, res, rec, exp);
      } else if (st != PGRES_TUPLES_OK && ok) {
         mn_pg__set_error(error, MN_PG_QUERY, v->conn, res, "could not compare the records");
         ok = false;
      }
      PQclear(res);
   }

cleanup:
   g_free(rec);
   g_free(exp);
   return ok;
}

/* One collection's conversion (convert_collection()). */
typedef struct {
   verify_t *v;
   size_t c;
   const char *name;
   mn_verify_collection_t *vc;
   int32_t *counts;    /* per table: the rows of the document being queued */
   mn_idset_t seen;    /* _ids read: a second document with one is not converted */
   mn_idset_t refused; /* documents the target records as refused by PostgreSQL */
   size_t batch_docs;  /* flush after this many documents */
   size_t batch_bytes; /* ... or this many queued bytes */
} converting_t;

/*
 * One document as a fresh load converts it, queued for the comparison with its verdict:
 * rejected (under the row id the converter gives it), refused by the target (as the run
 * recorded), or accepted with its rows.
 */
static void
convert_one(converting_t *cv, const bson_t *doc, bool has_id)
{
   verify_t *v = cv->v;
   static const mn_uuid_t zero = {{0}};
   const mn_uuid_t *row_id;
   uint8_t digest[MN_DIGEST_SIZE];
   int64_t seq;
   bool accepted;

   /* the digest a run records (run.c: SHA-256 of the document's BSON bytes) */
   mn_digest(bson_get_data(doc), doc->len, digest);
   seq = v->seq++;
   accepted = mn_convert_document(v->conv, cv->c, doc, v->rows);
   row_id = mn_rowset_doc_id(v->rows);
   if (!accepted) {
      cv->vc->rejected++;
      /* a run records a rejected document under the row id the converter gives it
       * (all zeros when it is not valid BSON: not compared) */
      if (has_id && memcmp(row_id, &zero, sizeof zero) != 0) {
         queue_doc(v, cv->c, row_id, seq, mn_rowset_doc_id_json(v->rows), digest, VERDICT_REJECTED,
                   NULL);
         v->pending_docs++;
      }
   } else if (mn_idset__has(&cv->refused, row_id->bytes)) {
      /* refused by PostgreSQL (a constraint the mapping does not know): no rows, and
       * references to it are judged as a run judges them once it is refused */
      cv->vc->rejected_by_target++;
      mn_converter_forget_loaded(v->conv, cv->c, row_id);
      mn_converter_mark_rejected(v->conv, cv->c, row_id);
      queue_doc(v, cv->c, row_id, seq, mn_rowset_doc_id_json(v->rows), digest, VERDICT_BY_TARGET,
                NULL);
      v->pending_docs++;
   } else {
      cv->vc->loaded++;
      memset(cv->counts, 0, v->n_tables * sizeof *cv->counts);
      queue_rows(v, seq, cv->counts);
      queue_doc(v, cv->c, row_id, seq, mn_rowset_doc_id_json(v->rows), digest, VERDICT_ACCEPTED,
                cv->counts);
      v->pending_docs++;
   }
}

/* convert_collection(), one record (see mn_run__read_fn): counted, converted, flushed by
 * batches, with progress every 256 documents and at the end. */
static bool
convert_record(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
               mn_error_t *error)
{
   converting_t *cv = ctx;
   verify_t *v = cv->v;
   mn_verify_collection_t *vc = cv->vc;
   mn_uuid_t id;
   bool has_id;

   if (st == MN_CURSOR_END) {
      if (v->opts->progress) {
         uint64_t done, total;
         mn_cursor_progress(cur, &done, &total);
         v->opts->progress(v->opts->progress_ctx, cv->name, vc->read, done, total);
      }
      return true;
   }
   vc->read++;
   if (st == MN_CURSOR_BAD) {
      vc->unreadable++;
      vc->skipped_bytes += mn_cursor_bad(cur)->skipped;
      return true;
   }
   has_id = mn_run__doc_id(doc, NULL, &id);
   if (has_id) {
      if (!mn_idset__add(&cv->seen, id.bytes)) {
         vc->duplicate_ids++; /* the first one counts, as in a run */
         return true;
      }
   }
   convert_one(cv, doc, has_id);
   if ((v->pending_docs >= cv->batch_docs || pending_bytes(v) >= cv->batch_bytes) &&
       !flush(v, error)) {
      return false;
   }
   if (v->opts->progress && (vc->read & 255) == 0) {
      uint64_t done, total;
      mn_cursor_progress(cur, &done, &total);
      v->opts->progress(v->opts->progress_ctx, cv->name, vc->read, done, total);
   }
   return true;
}

/* One collection: every document converted as a fresh load converts it. */
static bool
convert_collection(verify_t *v, size_t c, mn_error_t *error)
{
   converting_t cv = {.v = v, .c = c, .name = mn_mapping_collection_name(v->m, c)};
   double started = now_seconds();
   bool ok = false;

   cv.batch_docs = v->opts->batch_docs ? v->opts->batch_docs : 1000;
   cv.batch_bytes = v->opts->batch_bytes ? v->opts->batch_bytes : (size_t)16 << 20;
   cv.vc = g_new0(mn_verify_collection_t, 1);
   cv.counts = g_new0(int32_t, v->n_tables ? v->n_tables : 1);
   cv.vc->name = g_strdup(cv.name);
   g_ptr_array_add(v->res->colls, cv.vc);
   mn_idset__init(&cv.seen);
   mn_idset__init(&cv.refused);
   /* an optional collection the source lacks: empty */
   if (!load_refused(v, cv.name, &cv.refused, error) ||
       !mn_run__read_collection(v->src, cv.name, NULL, true, convert_record, &cv, error) ||
       !flush(v, error) || !account_collection(v, c, cv.vc, error)) {
      goto cleanup;
   }
   ok = true;

cleanup:
   cv.vc->seconds = now_seconds() - started;
   mn_idset__cleanup(&cv.seen);
   mn_idset__cleanup(&cv.refused);
   g_free(cv.counts);
   return ok;
}
/*
 * Rows of one table that two documents recorded as loaded produce (a sub-document `_id`
 * they share): the first in source order keeps the row, as in a correct target; each
 * later one is a difference, and its copy of the row leaves the expected rows.
 */
static bool
shared_rows(verify_t *v, size_t t, mn_error_t *error)
{
   vtable_t *vt = &v->tables[t];
   const char *collection = mn_mapping_collection_name(v->m, mn_mapping_table_collection(v->m, t));
   char *sql =
      g_strdup_printf("WITH d AS (SELECT %s AS k, min(" SEQ_COLUMN ") AS first FROM %s GROUP BY 1 "
                      "HAVING count(*) > 1) "
                      "DELETE FROM %s e USING d WHERE e.%s = d.k AND e." SEQ_COLUMN " > d.first "
                      "RETURNING e." SEQ_COLUMN ", e." ID_COLUMN ", e.%s::text, e.%s::text",
                      vt->qkey, vt->temp, vt->temp, vt->qkey, vt->qdoc, vt->qkey);
   PGresult *res =
      mn_pg__query(v->conn, sql, 0, NULL, PGRES_TUPLES_OK, "could not compare the rows", error);

   g_free(sql);
   if (!res) {
      return false;
   }
   for (int r = 0; r < PQntuples(res); r++) {
      vt->counts->shared++;
      add_difference(v, MN_VERIFY_SHARED_ROW_ID, collection,
                     PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1),
                     PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2),
                     mn_mapping_table_name(v->m, t), PQgetvalue(res, r, 3), NULL, 0, 0);
   }
   PQclear(res);
   return true;
}

/*
 * Deferred references (convert.h): the converter leaves NULL where the referenced row
 * is loaded later (or in the same collection); a run sets the value at the end of the
 * collection where that row exists.  Here: where that row is expected.
 */
static bool
apply_deferred(verify_t *v, mn_error_t *error)
{
   PGresult *groups = mn_pg__query(
      v->conn, "SELECT DISTINCT tbl, col, ref_tbl FROM mn_verify_deferred ORDER BY 1, 2, 3", 0,
      NULL, PGRES_TUPLES_OK, "could not read deferred references", error);
   bool ok = groups != NULL;

   for (int g = 0; ok && g < PQntuples(groups); g++) {
      size_t t = (size_t)g_ascii_strtoull(PQgetvalue(groups, g, 0), NULL, 10);
      size_t c = (size_t)g_ascii_strtoull(PQgetvalue(groups, g, 1), NULL, 10);
      size_t r = (size_t)g_ascii_strtoull(PQgetvalue(groups, g, 2), NULL, 10);
      char *sql;

      if (t >= v->n_tables || r >= v->n_tables || c >= v->tables[t].n_columns) {
         continue;
      }
      sql = g_strdup_printf("UPDATE %s e SET %s = d.ref_id FROM mn_verify_deferred d "
                            "WHERE d.tbl = %zu AND d.col = %zu AND d.ref_tbl = %zu "
                            "AND e.%s = d.row_id AND EXISTS (SELECT 1 FROM %s x WHERE x.%s = "
                            "d.ref_id)",
                            v->tables[t].temp, v->tables[t].qcols[c], t, c, r, v->tables[t].qkey,
                            v->tables[r].temp, v->tables[r].qkey);
      ok = exec_sql(v, sql, "could not apply deferred references", error);
      g_free(sql);
   }
   PQclear(groups);
   return ok;
}

/* One row of compare_table()'s comparison: extra in the target, missing from it, or with
 * columns that differ (named in the difference). */
static void
compare_row(verify_t *v, size_t t, const PGresult *res)
{
   vtable_t *vt = &v->tables[t];
   const char *collection = mn_mapping_collection_name(v->m, mn_mapping_table_collection(v->m, t));
   const char *tname = mn_mapping_table_name(v->m, t);
   const char *id_json = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
   const char *row = PQgetvalue(res, 0, 2);
   const char *doc_row = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
   bool extra = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
   bool missing = strcmp(PQgetvalue(res, 0, 5), "t") == 0;

   if (extra) {
      char *guess = id_json ? NULL : id_json_from_row_id(doc_row);
      vt->counts->extra++;
      add_difference(v, MN_VERIFY_EXTRA_ROW, collection, id_json ? id_json : guess, doc_row, tname,
                     row, NULL, 0, 0);
      g_free(guess);
   } else if (missing) {
      vt->counts->missing++;
      add_difference(v, MN_VERIFY_MISSING_ROW, collection, id_json, doc_row, tname, row, NULL, 0,
                     0);
   } else {
      GString *names = g_string_new(NULL);
      for (size_t c = 1; c < vt->n_columns; c++) {
         if (strcmp(PQgetvalue(res, 0, 5 + (int)c), "t") == 0) {
            g_string_append_printf(names, "%s%s", names->len ? ", " : "",
                                   mn_mapping_table_column(v->m, t, c));
         }
      }
      vt->counts->different++;
      add_difference(v, MN_VERIFY_DIFFERENT_ROW, collection, id_json, doc_row, tname, row,
                     names->str, 0, 0);
      g_string_free(names, TRUE);
   }
}

/* How many rows of a table are expected (its temporary table) and present. */
static bool
count_rows(verify_t *v, vtable_t *vt, mn_error_t *error)
{
   char *sql = g_strdup_printf("SELECT (SELECT count(*) FROM %s), (SELECT count(*) FROM %s)",
                               vt->temp, vt->qname);
   PGresult *res =
      mn_pg__query(v->conn, sql, 0, NULL, PGRES_TUPLES_OK, "could not count the rows", error);

   g_free(sql);
   if (!res) {
      return false;
   }
   vt->counts->expected = g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
   vt->counts->present = g_ascii_strtoull(PQgetvalue(res, 0, 1), NULL, 10);
   PQclear(res);
   return true;
}

/* Expected and present rows of one table, by row id. */
static bool
compare_table(verify_t *v, size_t t, mn_error_t *error)
{
   vtable_t *vt = &v->tables[t];
   size_t coll = mn_mapping_table_collection(v->m, t);
   GString *sql = g_string_new(NULL);
   GString *differ = g_string_new(NULL);
   GString *cols = g_string_new(NULL);
   PGresult *res;
   bool ok = false;

   if (!count_rows(v, vt, error)) {
      goto cleanup;
   }
   /* columns 0..6: position, `_id` (expected row, else the target row's document), row
    * id, document row id, extra, missing; then one flag per compared column */
   for (size_t c = 1; c < vt->n_columns; c++) {
      const char *cast = vt->as_text[c] ? "::text" : "";
      g_string_append_printf(differ, "%s(e.%s%s IS DISTINCT FROM t.%s%s)", c > 1 ? " OR " : "",
                             vt->qcols[c], cast, vt->qcols[c], cast);
      g_string_append_printf(cols, ", (e.%s%s IS DISTINCT FROM t.%s%s)", vt->qcols[c], cast,
                             vt->qcols[c], cast);
   }
   g_string_printf(sql,
                   "SELECT coalesce(e." SEQ_COLUMN ", s.seq), coalesce(e." ID_COLUMN
                   ", s.id_json), coalesce(e.%s, t.%s)::text, coalesce(e.%s, t.%s)::text, "
                   "e.%s IS NULL, t.%s IS NULL%s "
                   "FROM %s e FULL JOIN %s t ON t.%s = e.%s "
                   "LEFT JOIN mn_verify_docs s ON e.%s IS NULL AND s.coll = %zu AND s.doc = t.%s "
                   "WHERE e.%s IS NULL OR t.%s IS NULL%s%s%s "
                   "ORDER BY 1 NULLS LAST, 3",
                   vt->qkey, vt->qkey, vt->qdoc, vt->qdoc, vt->qkey, vt->qkey, cols->str, vt->temp,
                   vt->qname, vt->qkey, vt->qkey, vt->qkey, coll, vt->qdoc, vt->qkey, vt->qkey,
                   differ->len ? " OR (" : "", differ->str, differ->len ? ")" : "");
   if (!PQsendQuery(v->conn, sql->str) || !PQsetSingleRowMode(v->conn)) {
      mn_pg__set_error(error, MN_PG_QUERY, v->conn, NULL, "could not compare the rows");
      goto cleanup;
   }
   ok = true;
   while ((res = PQgetResult(v->conn))) {
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_SINGLE_TUPLE) {
         compare_row(v, t, res);
      } else if (st != PGRES_TUPLES_OK && ok) {
         mn_pg__set_error(error, MN_PG_QUERY, v->conn, res, "could not compare the rows");
         ok = false;
      }
      PQclear(res);
   }

cleanup:
   g_string_free(sql, TRUE);
   g_string_free(differ, TRUE);
   g_string_free(cols, TRUE);
   return ok;
}

/* Whether rows of a table can take their id from a sub-document `_id` (an entry that
 * iterates elements): only those can be produced by two documents. */
static bool
ids_from_elements(const verify_t *v, size_t t)
{
   for (size_t c = 0; c < v->m->n_collections; c++) {
      const mn_collection_t *coll = &v->m->collections[c];
      for (size_t e = 0; e < coll->n_entries; e++) {
         if ((size_t)coll->entries[e].table_index == t &&
             coll->entries[e].each_kind != MN_EACH_NONE) {
            return true;
         }
      }
   }
   return false;
}

/*
 * After every collection: shared row ids, deferred references, then the comparison.
 * The tables of expected rows are not analyzed: the planner estimates their size from
 * their pages, which is enough for the hash joins below (measured: the same plans).
 */
static bool
compare_tables(verify_t *v, mn_error_t *error)
{
   for (size_t t = 0; t < v->n_tables; t++) {
      if (ids_from_elements(v, t) && !shared_rows(v, t, error)) {
         return false;
      }
   }
   /* statistics for the deferred references only: without them the planner takes their
    * filter for selective and joins with nested loops (seconds per column, measured) */
   if (!exec_sql(v, "ANALYZE mn_verify_deferred", "could not analyze the temporary tables",
                 error) ||
       !apply_deferred(v, error)) {
      return false;
   }
   for (size_t t = 0; t < v->n_tables; t++) {
      if (!compare_table(v, t, error)) {
         return false;
      }
   }
   return true;
}

bool
mn_verify(const mn_verify_opts_t *opts, mn_verify_result_t *result, mn_error_t *error)
{
   verify_t v;
   double started = now_seconds();
   bool in_transaction = false;
   bool ok = false;

   memset(&v, 0, sizeof v);
   v.opts = opts;
   v.res = result;
   result_clear(result);
   result->keep = opts->max_differences ? opts->max_differences : MN_VERIFY_MAX_DIFFERENCES_DEFAULT;
   v.docs = g_string_new(NULL);
   v.deferred = g_string_new(NULL);
   v.rows = mn_rowset_new();
   v.stats = mn_stats_new();

   if (!(v.m = mn_mapping_load(opts->mapping_path, error))) {
      goto cleanup;
   }
   if (!(v.src = mn_source_open(opts->source, opts->database, error)) ||
       !mn_run__check_collections(v.src, v.m, NULL, error)) {
      goto cleanup;
   }
   if (!(v.conn = mn_pg_connect(opts->pg_conninfo, error))) {
      goto cleanup;
   }
   /* the run lock: no run writes while the snapshot is compared with the source */
   if (!mn_pg_lock(v.conn, error) || !mn_pg_check_mapping(v.conn, v.m, error) ||
       !check_state(&v, error)) {
      goto cleanup;
   }
   /* READ WRITE for the temporary tables only: a session whose transactions are read
    * only by default (default_transaction_read_only) can still create them */
   if (!exec_sql(&v, "BEGIN READ WRITE", "could not create the temporary tables", error)) {
      goto cleanup;
   }
   if (!create_temp_tables(&v, error) ||
       !exec_sql(&v, "COMMIT", "could not create the temporary tables", error)) {
      PQclear(PQexec(v.conn, "ROLLBACK"));
      goto cleanup;
   }
   if (!exec_sql(&v, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                 "could not start the transaction", error)) {
      goto cleanup;
   }
   in_transaction = true;
   v.conv = mn_converter_new(v.m, v.stats);
   if (!mn_run__prepass(v.src, v.m, v.conv, error)) {
      goto cleanup;
   }
   for (size_t c = 0; c < mn_mapping_n_collections(v.m); c++) {
      if (!convert_collection(&v, c, error)) {
         goto cleanup;
      }
   }
   /* the converter's sets spilled to TMPDIR whole, or the comparison would not hold */
   if (!mn_converter_ok(v.conv, error) || !compare_tables(&v, error)) {
      goto cleanup;
   }
   ok = true;

cleanup:
   if (in_transaction) {
      PQclear(PQexec(v.conn, "ROLLBACK"));
   }
   result->seconds = now_seconds() - started;
   mn_pg_unlock(v.conn);
   destroy_tables(&v);
   PQfinish(v.conn);
   mn_converter_destroy(v.conv);
   mn_source_destroy(v.src);
   mn_mapping_destroy(v.m);
   mn_rowset_destroy(v.rows);
   mn_stats_destroy(v.stats);
   g_string_free(v.docs, TRUE);
   g_string_free(v.deferred, TRUE);
   return ok;
}
