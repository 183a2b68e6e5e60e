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
   char *qdoc;    /* quoted document-id column */
   size_t n_columns;
   GString *buf;  /* COPY text of the queued rows */
   uint64_t rows;
} tbl_t;

typedef struct {
   size_t table, column, ref_table;
   uint64_t count;
} group_t;

struct mn_pg_sink {
   PGconn *conn;
   const mn_mapping_t *m;
   mn_stats_t *stats;
   tbl_t *tables;
   size_t n_tables;
   bool *direct;       /* per collection */
   size_t collection;  /* the collection being loaded */
   GString *docs;      /* COPY text: document ids of the batch */
   size_t n_docs;
   GString *deferred;  /* COPY text: deferred references of the batch */
   GArray *groups;     /* group_t: deferred references per (table, column), committed */
   GArray *pending_groups; /* same, for the queued batch */
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
   s->groups = g_array_new(FALSE, FALSE, sizeof(group_t));
   s->pending_groups = g_array_new(FALSE, FALSE, sizeof(group_t));
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
                "CREATE TEMP TABLE IF NOT EXISTS mn_deferred (tbl int, col int, row_id uuid, "
                "ref_id uuid)",
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
   g_array_free(s->groups, TRUE);
   g_array_free(s->pending_groups, TRUE);
   g_free(s);
}

bool
mn_pg_sink_begin_collection(mn_pg_sink_t *s, size_t collection, bool want_ids,
                            mn_converter_t *conv, mn_error_t *error)
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

static group_t *
find_group(GArray *groups, size_t table, size_t column, size_t ref_table)
{
   group_t g = {table, column, ref_table, 0};

   for (guint i = 0; i < groups->len; i++) {
      group_t *x = &g_array_index(groups, group_t, i);
      if (x->table == table && x->column == column) {
         return x;
      }
   }
   g_array_append_val(groups, g);
   return &g_array_index(groups, group_t, groups->len - 1);
}

void
mn_pg_sink_add(mn_pg_sink_t *s, size_t collection, const mn_rowset_t *rows)
{
   char id[MN_UUID_TEXT_LEN + 1];

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
   }
   mn_uuid_format(mn_rowset_doc_id(rows), id);
   g_string_append(s->docs, id);
   g_string_append_c(s->docs, '\n');
   s->n_docs++;
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t table, column, ref_table;
      const mn_uuid_t *row_id;
      const mn_uuid_t *ref_id;
      char a[MN_UUID_TEXT_LEN + 1], b[MN_UUID_TEXT_LEN + 1];

      mn_rowset_deferred(rows, i, &table, &column, &row_id, &ref_id, &ref_table);
      mn_uuid_format(row_id, a);
      mn_uuid_format(ref_id, b);
      g_string_append_printf(s->deferred, "%zu\t%zu\t%s\t%s\n", table, column, a, b);
      find_group(s->pending_groups, table, column, ref_table)->count++;
   }
}

size_t
mn_pg_sink_pending_docs(const mn_pg_sink_t *s)
{
   return s->n_docs;
}

size_t
mn_pg_sink_pending_bytes(const mn_pg_sink_t *s)
{
   size_t n = s->docs->len + s->deferred->len;

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
   g_array_set_size(s->pending_groups, 0);
   s->n_docs = 0;
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
   if (!direct) {
      if (!copy_in(s, "mn_stage_docs", "id", s->docs, error)) {
         goto rollback;
      }
      /* children first: rows of these documents that the new contents no longer have */
      for (size_t k = s->n_tables; k-- > 0;) {
         const mn_table_t *mt = &s->m->tables[k];
         tbl_t *tb = &s->tables[k];
         char *sql;
         int64_t n;

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
      for (size_t t = 0; t < s->n_tables; t++) {
         if (s->tables[t].rows == 0) {
            continue;
         }
         if (!merge_table(s, t, &deltas[t], error)) {
            goto rollback;
         }
      }
   }
   if (s->deferred->len && !copy_in(s, "mn_deferred", "tbl, col, row_id, ref_id", s->deferred, error)) {
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
   for (guint i = 0; i < s->pending_groups->len; i++) {
      group_t *g = &g_array_index(s->pending_groups, group_t, i);
      find_group(s->groups, g->table, g->column, g->ref_table)->count += g->count;
   }
   reset_queue(s);
   ok = true;
   goto cleanup;

rollback:
   {
      PGresult *res = PQexec(s->conn, "ROLLBACK");
      PQclear(res);
   }
cleanup:
   g_free(deltas);
   return ok;
}

bool
mn_pg_sink_end_collection(mn_pg_sink_t *s, size_t collection, mn_error_t *error)
{
   (void)collection;
   if (!mn_pg_sink_flush(s, error)) {
      return false;
   }
   if (s->groups->len == 0) {
      return true;
   }
   if (!exec_ok(s, "BEGIN; SET LOCAL mongonorm.loading = 'on'", "could not start a batch", error)) {
      return false;
   }
   for (guint i = 0; i < s->groups->len; i++) {
      group_t *g = &g_array_index(s->groups, group_t, i);
      tbl_t *tb = &s->tables[g->table];
      tbl_t *ref = &s->tables[g->ref_table];
      char *col = mn_pg_quote_ident(s->conn, s->m->tables[g->table].columns[g->column]);
      char *sql = g_strdup_printf(
         "UPDATE %s t SET %s = d.ref_id FROM mn_deferred d WHERE d.tbl = %zu AND d.col = %zu "
         "AND t.%s = d.row_id AND EXISTS (SELECT 1 FROM %s r WHERE r.%s = d.ref_id)",
         tb->qname, col, g->table, g->column, tb->qkey, ref->qname, ref->qkey);
      int64_t n = exec_count(s, sql, "could not set deferred references", error);

      g_free(sql);
      if (n < 0) {
         bson_free(col);
         PQclear(PQexec(s->conn, "ROLLBACK"));
         return false;
      }
      for (uint64_t k = (uint64_t)n; k < g->count; k++) {
         mn_stats_count_coercion(s->stats, s->m->tables[g->table].name,
                                 s->m->tables[g->table].columns[g->column],
                                 "reference to a document not loaded stored as NULL");
      }
      bson_free(col);
   }
   if (!exec_ok(s, "DELETE FROM mn_deferred; COMMIT", "could not commit deferred references",
                error)) {
      PQclear(PQexec(s->conn, "ROLLBACK"));
      return false;
   }
   g_array_set_size(s->groups, 0);
   return true;
}
