/*
 * sink_pg.c - loading rows into PostgreSQL with COPY, one transaction per batch.
 *
 * Direct mode (a collection whose tables are empty): COPY into the target
 * tables.  Merge mode: COPY into temporary staging tables, delete the child
 * rows of the batch's documents that are no longer produced, then upsert
 * parents before children, writing only rows whose values differ.
 * References held back by the converter (targets not loaded yet) are kept in
 * a temporary table and applied when the collection ends.
 */
#include "pg_private.h"
#include "plan.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

typedef struct {
   char *qname;   /* "schema"."table" */
   char *stage;   /* temp staging table name (already a safe identifier) */
   char *collist; /* "c1", "c2", ... */
   char *qkey;
   char *qdoc; /* quoted document-id column */
   size_t n_columns;
   GString *buf; /* COPY text of the queued rows */
   uint64_t rows;
} tbl_t;

struct mn_pg_sink {
   PGconn *conn;
   const mn_mapping_t *m;
   mn_stats_t *stats;
   tbl_t *tables;
   size_t n_tables;
   bool *direct;      /* per collection */
   size_t collection; /* the collection being loaded */
   GString *docs;     /* COPY text: document ids of the batch */
   size_t n_docs;
   GString *deferred; /* COPY text: deferred references of the batch */
   GString *deletes;  /* COPY text: documents whose rows go (gone from the source, or
                         rejected now after being loaded before) */
   GString *state;    /* COPY text: mongonorm.documents rows of the batch */
   char *qcollection; /* the collection name as an SQL literal */
   uint64_t pending_deleted_docs;
};

static void
append_copy_value(GString *out, const char *v)
{
   if (!v) {
      g_string_append(out, "\\N");
      return;
   }
   /* COPY text format: backslash, newline, carriage return and tab are escaped
    * (PostgreSQL manual, COPY, "Text Format"). */
   for (const char *p = v; *p; p++) {
      switch (*p) {
      case '\\': g_string_append(out, "\\\\"); break;
      case '\n': g_string_append(out, "\\n"); break;
      case '\r': g_string_append(out, "\\r"); break;
      case '\t': g_string_append(out, "\\t"); break;
      default: g_string_append_c(out, *p); break;
      }
   }
}

static bool
exec_ok(mn_pg_sink_t *s, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = PQexec(s->conn, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, doing);
   }
   PQclear(res);
   return ok;
}

/* Run a statement and return its affected-row count, or -1 on error. */
static int64_t
exec_count(mn_pg_sink_t *s, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = PQexec(s->conn, sql);
   int64_t n = -1;

   if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
      const char *t = PQcmdTuples(res);
      n = t && *t ? g_ascii_strtoll(t, NULL, 10) : 0;
   } else {
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, doing);
   }
   PQclear(res);
   return n;
}

static bool
copy_in(mn_pg_sink_t *s, const char *target, const char *collist, const GString *data,
        mn_error_t *error)
{
   char *sql = g_strdup_printf("COPY %s (%s) FROM STDIN", target, collist);
   PGresult *res = PQexec(s->conn, sql);
   bool ok = false;
   char doing[512];

   snprintf(doing, sizeof doing, "could not load rows into %s", target);
   g_free(sql);
   if (PQresultStatus(res) != PGRES_COPY_IN) {
      mn_pg__set_error(error, MN_PG_COPY, s->conn, res, doing);
      PQclear(res);
      return false;
   }
   PQclear(res);
   for (size_t off = 0; off < data->len;) {
      size_t chunk = MIN((size_t)(1 << 20), data->len - off);
      if (PQputCopyData(s->conn, data->str + off, (int)chunk) != 1) {
         mn_pg__set_error(error, MN_PG_COPY, s->conn, NULL, doing);
         PQputCopyEnd(s->conn, "aborted");
         goto drain;
      }
      off += chunk;
   }
   if (PQputCopyEnd(s->conn, NULL) != 1) {
      mn_pg__set_error(error, MN_PG_COPY, s->conn, NULL, doing);
      goto drain;
   }
   ok = true;
drain:
   while ((res = PQgetResult(s->conn))) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK && ok) {
         mn_pg__set_error(error, MN_PG_COPY, s->conn, res, doing);
         ok = false;
      }
      PQclear(res);
   }
   return ok;
}

mn_pg_sink_t *
mn_pg_sink_new(PGconn *conn, const mn_mapping_t *m, mn_stats_t *stats, mn_error_t *error)
{
   mn_pg_sink_t *s = g_new0(mn_pg_sink_t, 1);
   char *qschema = mn_pg_quote_ident(conn, m->schema);

   s->conn = conn;
   s->m = m;
   s->stats = stats;
   s->n_tables = m->n_tables;
   s->tables = g_new0(tbl_t, m->n_tables);
   s->direct = g_new0(bool, m->n_collections);
   s->docs = g_string_new(NULL);
   s->deferred = g_string_new(NULL);
   s->deletes = g_string_new(NULL);
   s->state = g_string_new(NULL);
   for (size_t i = 0; i < m->n_tables; i++) {
      const mn_table_t *t = &m->tables[i];
      tbl_t *tb = &s->tables[i];
      GString *cols = g_string_new(NULL);
      char *qt = mn_pg_quote_ident(conn, t->name);
      char *sql;
      bool ok;

      for (size_t c = 0; c < t->n_columns; c++) {
         char *q = mn_pg_quote_ident(conn, t->columns[c]);
         if (c) {
            g_string_append(cols, ", ");
         }
         g_string_append(cols, q);
         bson_free(q);
      }
      tb->qname = g_strdup_printf("%s.%s", qschema, qt);
      bson_free(qt);
      tb->stage = g_strdup_printf("mn_stage_%zu", i);
      tb->collist = g_string_free(cols, FALSE);
      tb->qkey = mn_pg_quote_ident(conn, t->columns[0]);
      tb->qdoc = mn_pg_quote_ident(conn, t->columns[t->doc_id_column < 0 ? 0 : t->doc_id_column]);
      tb->n_columns = t->n_columns;
      tb->buf = g_string_new(NULL);
      sql = g_strdup_printf("CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS "
                            "SELECT %s FROM %s WITH NO DATA",
                            tb->stage, tb->collist, tb->qname);
      ok = exec_ok(s, sql, "could not create a staging table", error);
      g_free(sql);
      if (!ok) {
         bson_free(qschema);
         mn_pg_sink_destroy(s);
         return NULL;
      }
   }
   bson_free(qschema);
   if (!exec_ok(s,
                "CREATE TEMP TABLE IF NOT EXISTS mn_stage_docs (id uuid) ON COMMIT DELETE ROWS;"
                "CREATE TEMP TABLE IF NOT EXISTS mn_stage_deletes (id uuid) ON COMMIT DELETE ROWS;"
                "CREATE TEMP TABLE IF NOT EXISTS mn_stage_state (doc_id uuid, digest bytea, "
                "row_counts int[], rejected boolean, reject_path text, reason text) "
                "ON COMMIT DELETE ROWS",
                "could not create a staging table", error)) {
      mn_pg_sink_destroy(s);
      return NULL;
   }
   return s;
}

void
mn_pg_sink_destroy(mn_pg_sink_t *s)
{
   if (!s) {
      return;
   }
   for (size_t i = 0; i < s->n_tables; i++) {
      tbl_t *tb = &s->tables[i];
      g_free(tb->qname);
      g_free(tb->stage);
      g_free(tb->collist);
      bson_free(tb->qkey);
      bson_free(tb->qdoc);
      if (tb->buf) {
         g_string_free(tb->buf, TRUE);
      }
   }
   g_free(s->tables);
   g_free(s->direct);
   g_string_free(s->docs, TRUE);
   g_string_free(s->deferred, TRUE);
   g_string_free(s->deletes, TRUE);
   g_string_free(s->state, TRUE);
   if (s->qcollection) {
      PQfreemem(s->qcollection);
   }
   g_free(s);
}

/* Run-wide unique keys already in the target, for the converter (merge mode). */
static bool
preload_unique(mn_pg_sink_t *s, size_t collection, mn_converter_t *conv, mn_error_t *error)
{
   const mn_collection_t *coll = &s->m->collections[collection];

   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      const mn_entry_t *e = &coll->entries[ei];
      const mn_table_t *mt = &s->m->tables[e->table_index];
      tbl_t *tb = &s->tables[e->table_index];
      GString *sql;
      PGresult *res;

      if (!e->n_unique || e->unique_per_doc) {
         continue;
      }
      sql = g_string_new(NULL);
      g_string_append_printf(sql, "SELECT %s", tb->qdoc);
      for (size_t i = 0; i < e->n_unique; i++) {
         char *q = mn_pg_quote_ident(s->conn, mt->columns[e->unique[i]]);
         g_string_append_printf(sql, ", %s", q);
         bson_free(q);
      }
      g_string_append_printf(sql, " FROM %s WHERE true", tb->qname);
      for (size_t i = 0; i < e->n_unique; i++) {
         char *q = mn_pg_quote_ident(s->conn, mt->columns[e->unique[i]]);
         g_string_append_printf(sql, " AND %s IS NOT NULL", q);
         bson_free(q);
      }
      res = PQexec(s->conn, sql->str);
      g_string_free(sql, TRUE);
      if (PQresultStatus(res) != PGRES_TUPLES_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, "could not read existing unique keys");
         PQclear(res);
         return false;
      }
      for (int r = 0; r < PQntuples(res); r++) {
         const char *values[64];
         mn_uuid_t doc;
         size_t n = MIN(e->n_unique, (size_t)64);
         for (size_t i = 0; i < n; i++) {
            values[i] = PQgetvalue(res, r, (int)i + 1);
         }
         if (mn_uuid_parse(PQgetvalue(res, r, 0), &doc)) {
            mn_converter_add_unique_key(conv, (size_t)e->table_index, values, n, &doc);
         }
      }
      PQclear(res);
   }
   return true;
}

bool
mn_pg_sink_begin_collection(mn_pg_sink_t *s, size_t collection, bool want_ids, mn_converter_t *conv,
                            mn_error_t *error)
{
   GString *sql = g_string_new("SELECT true");
   PGresult *res;
   bool empty;

   s->collection = collection;
   for (size_t i = 0; i < s->n_tables; i++) {
      if ((size_t)s->m->tables[i].collection == collection) {
         g_string_append_printf(sql, " AND NOT EXISTS (SELECT 1 FROM %s)", s->tables[i].qname);
      }
   }
   res = PQexec(s->conn, sql->str);
   g_string_free(sql, TRUE);
   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, "could not inspect the target tables");
      PQclear(res);
      return false;
   }
   empty = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   PQclear(res);
   s->direct[collection] = empty;
   if (s->qcollection) {
      PQfreemem(s->qcollection);
   }
   s->qcollection = PQescapeLiteral(s->conn, s->m->collections[collection].name,
                                    strlen(s->m->collections[collection].name));
   if (empty) {
      /* Nothing of the collection is loaded: whatever is recorded of it is stale. */
      char *reset = g_strdup_printf("DELETE FROM mongonorm.documents WHERE collection = %s;"
                                    "DELETE FROM mongonorm.deferred_refs WHERE collection = %s",
                                    s->qcollection, s->qcollection);
      bool ok = exec_ok(s, reset, "could not reset the recorded documents", error);
      g_free(reset);
      if (!ok) {
         return false;
      }
   }
   if (!empty && !preload_unique(s, collection, conv, error)) {
      return false;
   }
   if (!empty && want_ids) {
      const mn_collection_t *coll = &s->m->collections[collection];
      tbl_t *tb = &s->tables[coll->entries[0].table_index];
      char *q = g_strdup_printf("SELECT %s FROM %s", tb->qkey, tb->qname);

      res = PQexec(s->conn, q);
      g_free(q);
      if (PQresultStatus(res) != PGRES_TUPLES_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, "could not read existing ids");
         PQclear(res);
         return false;
      }
      for (int r = 0; r < PQntuples(res); r++) {
         mn_uuid_t u;
         if (mn_uuid_parse(PQgetvalue(res, r, 0), &u)) {
            mn_converter_add_target_id(conv, collection, &u);
         }
      }
      PQclear(res);
   }
   return true;
}

static void
append_copy_id(GString *out, const mn_uuid_t *id)
{
   char text[MN_UUID_TEXT_LEN + 1];

   mn_uuid_format(id, text);
   g_string_append(out, text);
}

/* A mongonorm.documents line: id, digest (bytea hex, its backslash escaped for COPY),
 * row counts (NULL = all zero), rejected. */
static void
append_state(mn_pg_sink_t *s, const mn_uuid_t *id, const uint8_t digest[MN_DIGEST_SIZE],
             const int32_t *counts, const char *path, const char *reason)
{
   bool rejected = reason != NULL;

   append_copy_id(s->state, id);
   g_string_append(s->state, "\t\\\\x");
   for (int i = 0; i < MN_DIGEST_SIZE; i++) {
      g_string_append_printf(s->state, "%02x", digest[i]);
   }
   g_string_append(s->state, "\t{");
   for (size_t t = 0; t < s->m->n_tables; t++) {
      g_string_append_printf(s->state, "%s%d", t ? "," : "", counts ? counts[t] : 0);
   }
   g_string_append_printf(s->state, "}\t%s\t", rejected ? "t" : "f");
   append_copy_value(s->state, rejected ? path : NULL);
   g_string_append_c(s->state, '\t');
   append_copy_value(s->state, reason);
   g_string_append_c(s->state, '\n');
}

void
mn_pg_sink_record_rejected(mn_pg_sink_t *s, size_t collection, const mn_uuid_t *id,
                           const uint8_t digest[MN_DIGEST_SIZE], const char *path,
                           const char *reason)
{
   (void)collection;
   append_state(s, id, digest, NULL, path ? path : "", reason ? reason : "rejected");
}

void
mn_pg_sink_add(mn_pg_sink_t *s, size_t collection, const mn_rowset_t *rows,
               const uint8_t digest[MN_DIGEST_SIZE])
{
   char id[MN_UUID_TEXT_LEN + 1];
   size_t n_tables = s->m->n_tables;
   int32_t *counts = g_new0(int32_t, n_tables ? n_tables : 1);

   (void)collection;
   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      tbl_t *tb = &s->tables[t];
      for (size_t c = 0; c < tb->n_columns; c++) {
         if (c) {
            g_string_append_c(tb->buf, '\t');
         }
         append_copy_value(tb->buf, mn_rowset_value(rows, i, c));
      }
      g_string_append_c(tb->buf, '\n');
      tb->rows++;
      counts[t]++;
   }
   mn_uuid_format(mn_rowset_doc_id(rows), id);
   g_string_append(s->docs, id);
   g_string_append_c(s->docs, '\n');
   s->n_docs++;
   append_state(s, mn_rowset_doc_id(rows), digest, counts, NULL, NULL);
   g_free(counts);
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t table, column, ref_table;
      const mn_uuid_t *row_id;
      const mn_uuid_t *ref_id;

      mn_rowset_deferred(rows, i, &table, &column, &row_id, &ref_id, &ref_table);
      append_copy_value(s->deferred, s->m->collections[s->collection].name);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[table].name);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[table].columns[column]);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[ref_table].name);
      g_string_append_c(s->deferred, '\t');
      append_copy_id(s->deferred, row_id);
      g_string_append_c(s->deferred, '\t');
      append_copy_id(s->deferred, ref_id);
      g_string_append_c(s->deferred, '\n');
   }
}

void
mn_pg_sink_delete(mn_pg_sink_t *s, size_t collection, const mn_uuid_t *id)
{
   (void)collection;
   append_copy_id(s->deletes, id);
   g_string_append_c(s->deletes, '\n');
   append_copy_id(s->docs, id);
   g_string_append_c(s->docs, '\n');
   s->n_docs++;
   s->pending_deleted_docs++;
}

size_t
mn_pg_sink_pending_docs(const mn_pg_sink_t *s)
{
   return s->n_docs;
}

size_t
mn_pg_sink_pending_bytes(const mn_pg_sink_t *s)
{
   size_t n = s->docs->len + s->deferred->len + s->state->len + s->deletes->len;

   for (size_t i = 0; i < s->n_tables; i++) {
      n += s->tables[i].buf->len;
   }
   return n;
}

static void
reset_queue(mn_pg_sink_t *s)
{
   for (size_t i = 0; i < s->n_tables; i++) {
      g_string_truncate(s->tables[i].buf, 0);
      s->tables[i].rows = 0;
   }
   g_string_truncate(s->docs, 0);
   g_string_truncate(s->deferred, 0);
   g_string_truncate(s->deletes, 0);
   g_string_truncate(s->state, 0);
   s->n_docs = 0;
   s->pending_deleted_docs = 0;
}

typedef struct {
   uint64_t inserted, updated, deleted, unchanged;
} delta_t;

/* The upsert of one table from its staging table; counts inserted and updated. */
static bool
merge_table(mn_pg_sink_t *s, size_t t, delta_t *d, mn_error_t *error)
{
   const mn_table_t *mt = &s->m->tables[t];
   tbl_t *tb = &s->tables[t];
   GString *sql = g_string_new(NULL);
   GString *set = g_string_new(NULL);
   GString *old = g_string_new(NULL);
   GString *new = g_string_new(NULL);
   PGresult *res;
   bool ok = false;

   for (size_t c = 1; c < mt->n_columns; c++) {
      char *q = mn_pg_quote_ident(s->conn, mt->columns[c]);
      g_string_append_printf(set, "%s%s = EXCLUDED.%s", c > 1 ? ", " : "", q, q);
      g_string_append_printf(old, "%st.%s", c > 1 ? ", " : "", q);
      g_string_append_printf(new, "%sEXCLUDED.%s", c > 1 ? ", " : "", q);
      bson_free(q);
   }
   if (mt->n_columns > 1) {
      g_string_printf(sql,
                      "WITH up AS (INSERT INTO %s AS t (%s) SELECT %s FROM %s "
                      "ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s%s) IS DISTINCT FROM (%s%s) "
                      "RETURNING (xmax = 0) AS ins) "
                      "SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM up",
                      tb->qname, tb->collist, tb->collist, tb->stage, tb->qkey, set->str, old->str,
                      mt->n_columns == 2 ? ", NULL" : "", new->str,
                      mt->n_columns == 2 ? ", NULL" : "");
   } else {
      g_string_printf(sql,
                      "WITH up AS (INSERT INTO %s AS t (%s) SELECT %s FROM %s "
                      "ON CONFLICT (%s) DO NOTHING RETURNING true AS ins) "
                      "SELECT count(*), 0 FROM up",
                      tb->qname, tb->collist, tb->collist, tb->stage, tb->qkey);
   }
   res = PQexec(s->conn, sql->str);
   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      char doing[512];
      snprintf(doing, sizeof doing, "could not merge rows into %s", tb->qname);
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, doing);
   } else {
      uint64_t ins = g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
      uint64_t upd = g_ascii_strtoull(PQgetvalue(res, 0, 1), NULL, 10);
      d->inserted = ins;
      d->updated = upd;
      d->unchanged = tb->rows >= ins + upd ? tb->rows - ins - upd : 0;
      ok = true;
   }
   PQclear(res);
   g_string_free(sql, TRUE);
   g_string_free(set, TRUE);
   g_string_free(old, TRUE);
   g_string_free(new, TRUE);
   return ok;
}

bool
mn_pg_sink_flush(mn_pg_sink_t *s, mn_error_t *error)
{
   bool direct = s->direct[s->collection];
   delta_t *deltas = NULL;
   bool ok = false;

   if (s->n_docs == 0) {
      return true;
   }
   deltas = g_new0(delta_t, s->n_tables);
   if (!exec_ok(s, "BEGIN; SET LOCAL mongonorm.loading = 'on'", "could not start a batch", error)) {
      goto cleanup;
   }
   for (size_t t = 0; t < s->n_tables; t++) {
      tbl_t *tb = &s->tables[t];
      if (tb->rows == 0) {
         continue;
      }
      if (!copy_in(s, direct ? tb->qname : tb->stage, tb->collist, tb->buf, error)) {
         goto rollback;
      }
      if (direct) {
         deltas[t].inserted = tb->rows;
      }
   }
   if (direct) {
      if (s->state->len) {
         GString *rows = g_string_sized_new(s->state->len + s->n_docs * 16);
         /* prefix each state line with the collection */
         for (const char *p = s->state->str; *p;) {
            const char *nl = strchr(p, '\n');
            append_copy_value(rows, s->m->collections[s->collection].name);
            g_string_append_c(rows, '\t');
            g_string_append_len(rows, p, nl - p + 1);
            p = nl + 1;
         }
         if (!copy_in(s, "mongonorm.documents",
                      "collection, doc_id, digest, row_counts, rejected, reject_path, reason", rows,
                      error)) {
            g_string_free(rows, TRUE);
            goto rollback;
         }
         g_string_free(rows, TRUE);
      }
   } else {
      char *sql;
      int64_t n;

      if (!copy_in(s, "mn_stage_docs", "id", s->docs, error) ||
          (s->deletes->len && !copy_in(s, "mn_stage_deletes", "id", s->deletes, error)) ||
          (s->state->len && !copy_in(s, "mn_stage_state",
                                     "doc_id, digest, row_counts, rejected, reject_path, reason",
                                     s->state, error))) {
         goto rollback;
      }
      /* children first: rows of these documents that the new contents no longer have */
      for (size_t k = s->n_tables; k-- > 0;) {
         const mn_table_t *mt = &s->m->tables[k];
         tbl_t *tb = &s->tables[k];

         if (mt->is_primary || (size_t)mt->collection != s->collection) {
            continue;
         }
         sql = g_strdup_printf("DELETE FROM %s t USING mn_stage_docs d WHERE t.%s = d.id AND "
                               "NOT EXISTS (SELECT 1 FROM %s s WHERE s.%s = t.%s)",
                               tb->qname, tb->qdoc, tb->stage, tb->qkey, tb->qkey);
         n = exec_count(s, sql, "could not remove rows no longer in the source", error);
         g_free(sql);
         if (n < 0) {
            goto rollback;
         }
         deltas[k].deleted = (uint64_t)n;
      }
      if (s->deletes->len) {
         size_t k = (size_t)s->m->collections[s->collection].entries[0].table_index;
         tbl_t *tb = &s->tables[k];
         sql = g_strdup_printf("DELETE FROM %s t USING mn_stage_deletes d WHERE t.%s = d.id;"
                               "DELETE FROM mongonorm.documents m USING mn_stage_deletes d "
                               "WHERE m.collection = %s AND m.doc_id = d.id",
                               tb->qname, tb->qkey, s->qcollection);
         n = exec_count(s, sql, "could not remove documents no longer in the source", error);
         g_free(sql);
         if (n < 0) {
            goto rollback;
         }
         /* exec_count reports the last statement; count the primary rows separately */
         deltas[k].deleted += s->pending_deleted_docs;
      }
      for (size_t t = 0; t < s->n_tables; t++) {
         if (s->tables[t].rows == 0) {
            continue;
         }
         if (!merge_table(s, t, &deltas[t], error)) {
            goto rollback;
         }
      }
      if (s->state->len) {
         sql = g_strdup_printf(
            "INSERT INTO mongonorm.documents "
            "(collection, doc_id, digest, row_counts, rejected, reject_path, reason) "
            "SELECT %s, doc_id, digest, row_counts, rejected, reject_path, reason "
            "FROM mn_stage_state ON CONFLICT (collection, doc_id) DO UPDATE SET "
            "digest = EXCLUDED.digest, row_counts = EXCLUDED.row_counts, "
            "rejected = EXCLUDED.rejected, reject_path = EXCLUDED.reject_path, "
            "reason = EXCLUDED.reason",
            s->qcollection);
         n = exec_count(s, sql, "could not record the documents", error);
         g_free(sql);
         if (n < 0) {
            goto rollback;
         }
      }
   }
   if (s->deferred->len &&
       !copy_in(s, "mongonorm.deferred_refs", "collection, tbl, col, ref_tbl, row_id, ref_id",
                s->deferred, error)) {
      goto rollback;
   }
   if (!exec_ok(s, "COMMIT", "could not commit a batch", error)) {
      goto rollback;
   }
   for (size_t t = 0; t < s->n_tables; t++) {
      mn_table_counts_t *c = mn_stats_table(s->stats, s->m->tables[t].name);
      c->inserted += deltas[t].inserted;
      c->updated += deltas[t].updated;
      c->deleted += deltas[t].deleted;
      c->unchanged += deltas[t].unchanged;
   }
   reset_queue(s);
   ok = true;
   goto cleanup;

rollback : {
   PGresult *res = PQexec(s->conn, "ROLLBACK");
   PQclear(res);
}
cleanup:
   g_free(deltas);
   return ok;
}

/* The table index of a table name, or -1 (a deferred row of an older mapping). */
static int
table_index(const mn_pg_sink_t *s, const char *name)
{
   for (size_t i = 0; i < s->n_tables; i++) {
      if (strcmp(s->m->tables[i].name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

bool
mn_pg_sink_end_collection(mn_pg_sink_t *s, size_t collection, mn_error_t *error)
{
   PGresult *groups;
   char *sql;
   bool ok = false;

   (void)collection;
   if (!mn_pg_sink_flush(s, error)) {
      return false;
   }
   /* Deferred references of this collection (this run's, and any a crashed run left). */
   sql = g_strdup_printf("SELECT tbl, col, ref_tbl, count(*) FROM mongonorm.deferred_refs "
                         "WHERE collection = %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                         s->qcollection);
   groups = PQexec(s->conn, sql);
   g_free(sql);
   if (PQresultStatus(groups) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, groups, "could not read deferred references");
      PQclear(groups);
      return false;
   }
   if (PQntuples(groups) == 0) {
      PQclear(groups);
      return true;
   }
   if (!exec_ok(s, "BEGIN; SET LOCAL mongonorm.loading = 'on'", "could not start a batch", error)) {
      PQclear(groups);
      return false;
   }
   for (int g = 0; g < PQntuples(groups); g++) {
      int t = table_index(s, PQgetvalue(groups, g, 0));
      int r = table_index(s, PQgetvalue(groups, g, 2));
      const char *colname = PQgetvalue(groups, g, 1);
      uint64_t count = g_ascii_strtoull(PQgetvalue(groups, g, 3), NULL, 10);
      char *col, *qt, *qc, *qr;
      int64_t n;

      if (t < 0 || r < 0) {
         continue; /* the mapping no longer has the table: dropped below */
      }
      col = mn_pg_quote_ident(s->conn, colname);
      qt = PQescapeLiteral(s->conn, s->m->tables[t].name, strlen(s->m->tables[t].name));
      qc = PQescapeLiteral(s->conn, colname, strlen(colname));
      qr = PQescapeLiteral(s->conn, s->m->tables[r].name, strlen(s->m->tables[r].name));
      sql = g_strdup_printf(
         "UPDATE %s t SET %s = d.ref_id FROM mongonorm.deferred_refs d "
         "WHERE d.collection = %s AND d.tbl = %s AND d.col = %s AND d.ref_tbl = %s "
         "AND t.%s = d.row_id AND EXISTS (SELECT 1 FROM %s r WHERE r.%s = d.ref_id)",
         s->tables[t].qname, col, s->qcollection, qt, qc, qr, s->tables[t].qkey, s->tables[r].qname,
         s->tables[r].qkey);
      n = exec_count(s, sql, "could not set deferred references", error);
      g_free(sql);
      PQfreemem(qt);
      PQfreemem(qc);
      PQfreemem(qr);
      bson_free(col);
      if (n < 0) {
         goto rollback;
      }
      for (uint64_t k = (uint64_t)n; k < count; k++) {
         mn_stats_count_coercion(s->stats, s->m->tables[t].name, colname,
                                 "reference to a document not loaded stored as NULL");
      }
   }
   sql = g_strdup_printf("DELETE FROM mongonorm.deferred_refs WHERE collection = %s; COMMIT",
                         s->qcollection);
   ok = exec_ok(s, sql, "could not commit deferred references", error);
   g_free(sql);
   if (ok) {
      PQclear(groups);
      return true;
   }
rollback:
   PQclear(PQexec(s->conn, "ROLLBACK"));
   PQclear(groups);
   return false;
}
