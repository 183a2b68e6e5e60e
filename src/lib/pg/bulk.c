/*
 * bulk.c - a first full load into empty tables, fast: the mapped tables' secondary indexes
 * and foreign keys are dropped before the data and put back after it, once (see
 * pg_private.h for the calls and docs/design.md, "Bulk load").
 *
 * What is dropped, and why the rest is kept:
 *   - non-unique btree and hash indexes that no constraint uses, on plain tables (not
 *     partitioned, not partitions), without expressions, predicates, a tablespace of their
 *     own, extension membership, security labels or dependent objects, whose rebuild cannot
 *     refuse data: btree keys of at most 2000 bytes (fixed-length types, varchar(n) and
 *     char(n)), any hash index.  An index a row could be too large for would refuse that
 *     document in a plain load; rebuilt after the data, it would fail the whole load
 *     instead.  GIN indexes stay: PostgreSQL 15 builds one on a single backend, after the
 *     data, while the client waits; maintained through its pending list during the COPYs,
 *     it costs about as much (100,000 MediChat activity logs: 1.98 s to build against
 *     1.43 s added to the inserts on the test server, 2.15 s against 2.08 s with fsync
 *     on; 700,000: 7.56 s against 9.06 s) but runs while the client converts (full load
 *     of 140,000 documents 0.4-0.55 s shorter; of 1,008,000 the same within the noise);
 *   - foreign keys between mapped tables whose every value the converter vouches for: one
 *     column, into the referenced table's key, written only as the document's or parent's
 *     row id (a row of the same document, written before it) or as a declared reference
 *     (`references:`, checked against the source and deferred when needed), or never
 *     written.  Any other foreign key may refuse documents, which a load must reject one
 *     by one, so it stays; and so do primary keys, unique and exclusion constraints,
 *     CHECK, NOT NULL and triggers.
 * Each is recorded in mongonorm.bulk_objects (its definition as pg_get_indexdef() and
 * pg_get_constraintdef() give it with search_path = pg_catalog, so every name in it is
 * qualified; its comment; the index's CLUSTER flag) and dropped, all in one transaction.
 *
 * Putting back: foreign keys first, each added NOT VALID (a short lock) and marked so in
 * its record; then on `jobs` connections, one object per connection at a time, biggest
 * tables first: CREATE INDEX (indexes of one table side by side), VALIDATE CONSTRAINT
 * (alone on its table: it conflicts with CREATE INDEX there).  Each in one transaction
 * with the deletion of its record, so a crash leaves recorded exactly what is still to do.
 */
#include "pg/pg_private.h"
#include "mapping/plan.h"

#include <mongonorm/state.h>

#include <glib.h>
#include <stdio.h>
#include <string.h>

/* The droppable indexes of the mapped tables ($1 schema, $2 table names): schema, table,
 * name, definition, comment, CLUSTER flag. */
static const char INDEX_SQL[] =
   "SELECT n.nspname, t.relname, i.relname, pg_get_indexdef(x.indexrelid), "
   "  obj_description(x.indexrelid, 'pg_class'), x.indisclustered "
   "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
   "JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam "
   "WHERE n.nspname = $1 AND t.relname = ANY ($2::text[]) "
   "  AND t.relkind = 'r' AND NOT t.relispartition AND i.relkind = 'i' AND NOT i.relispartition "
   "  AND NOT x.indisunique AND NOT x.indisprimary AND NOT x.indisexclusion "
   "  AND NOT x.indisreplident AND x.indisvalid AND x.indisready AND x.indislive "
   "  AND x.indexprs IS NULL AND x.indpred IS NULL AND i.reltablespace = 0 "
   "  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
   "  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
   "    AND d.objid = x.indexrelid AND d.deptype = 'e') "
   "  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass "
   "    AND d.refobjid = x.indexrelid) "
   "  AND NOT EXISTS (SELECT 1 FROM pg_seclabel s WHERE s.objoid = x.indexrelid) "
   "  AND CASE am.amname "
   "    WHEN 'hash' THEN true "
   "    WHEN 'btree' THEN (SELECT sum(CASE WHEN ty.typlen > 0 THEN ty.typlen "
   "        WHEN ty.oid IN ('varchar'::regtype, 'bpchar'::regtype) AND a.atttypmod > 4 "
   "        THEN (a.atttypmod - 4) * 4 + 4 ELSE 100000 END) "
   "      FROM unnest(x.indkey::int2[]) k(attnum) "
   "      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
   "      JOIN pg_type ty ON ty.oid = a.atttypid) <= 2000 "
   "    ELSE false END "
   "ORDER BY t.relname, i.relname";

/* The one-column foreign keys between mapped tables ($1, $2 as above): schema, table, name,
 * definition, comment, false (no CLUSTER flag), then the referenced table, the column, whether
 * PostgreSQL fills it when no value is given, the referenced column, INITIALLY DEFERRED. */
static const char FK_SQL[] =
   "SELECT tn.nspname, t.relname, c.conname, pg_get_constraintdef(c.oid), "
   "  obj_description(c.oid, 'pg_constraint'), false, r.relname, la.attname, "
   "  la.atthasdef OR la.attidentity <> '' OR la.attgenerated <> '', ra.attname, c.condeferred "
   "FROM pg_constraint c "
   "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
   "JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace "
   "JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = c.conkey[1] "
   "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] "
   "WHERE c.contype = 'f' AND c.convalidated AND c.conparentid = 0 AND c.coninhcount = 0 "
   "  AND cardinality(c.conkey) = 1 "
   "  AND tn.nspname = $1 AND t.relname = ANY ($2::text[]) "
   "  AND rn.nspname = $1 AND r.relname = ANY ($2::text[]) "
   "  AND t.relkind = 'r' AND NOT t.relispartition AND r.relkind = 'r' AND NOT r.relispartition "
   "  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_constraint'::regclass "
   "    AND d.objid = c.oid AND d.deptype = 'e') "
   "ORDER BY t.relname, c.conname";

/* An index or foreign key the bulk load dropped: a row of mongonorm.bulk_objects. */
typedef struct {
   char *id; /* the record's id, as text (a query parameter) */
   bool is_fk;
   char *schema, *table, *name;    /* the owning table and the object, as the catalog names them */
   char *qschema, *qtable, *qname; /* quoted; qtable is "schema"."table" */
   char *definition;               /* pg_get_indexdef() / pg_get_constraintdef() */
   char *comment;                  /* or NULL */
   bool clustered;                 /* the table's CLUSTER index */
   bool added;                     /* a foreign key already added NOT VALID: to validate */
   int state;                      /* in the pool: 0 waiting, 1 being rebuilt, 2 done */
} object_t;

struct mn_pg_bulk {
   PGconn *conn;
   const char *conninfo;
   const mn_mapping_t *m;
   unsigned jobs;
   bool *deferred; /* per mapped table: its objects are put back at the end of the run */
   bool active;    /* objects wait for the end of the run; synchronous_commit is off */
};

/* Append a text[] literal item: double-quoted, its quotes and backslashes escaped. */
static void
append_array_item(GString *out, const char *item)
{
   g_string_append(out, out->len > 1 ? ",\"" : "\"");
   for (const char *p = item; *p; p++) {
      if (*p == '"' || *p == '\\') {
         g_string_append_c(out, '\\');
      }
      g_string_append_c(out, *p);
   }
   g_string_append_c(out, '"');
}

/* The mapping's table names (tables) or collection names, as a text[] literal (g_free). */
static char *
name_array(const mn_mapping_t *m, bool tables)
{
   GString *out = g_string_new("{");
   size_t n = tables ? m->n_tables : m->n_collections;

   for (size_t i = 0; i < n; i++) {
      append_array_item(out, tables ? m->tables[i].name : m->collections[i].name);
   }
   g_string_append_c(out, '}');
   return g_string_free(out, FALSE);
}

/* The index of column `name` in table t's columns, or -1. */
static int
table_column(const mn_table_t *t, const char *name)
{
   for (size_t c = 0; c < t->n_columns; c++) {
      if (strcmp(t->columns[c], name) == 0) {
         return (int)c;
      }
   }
   return -1;
}

/*
 * Whether writer w (a column of entry e of collection coll, writing into table t) only
 * writes row ids of table p that are in the target before its row, as a load with the
 * foreign key in place needs: the document's primary row or the parent row (written
 * before it in the batch: p comes first in the table order, or the key is checked at
 * commit), or a declared reference into p's collection (the converter checks it against
 * the source and the loaded documents, and defers it when its row is not loaded yet).
 */
static bool
writer_vouched(const mn_mapping_t *m, const mn_collection_t *coll, const mn_entry_t *e,
               const mn_column_t *w, int t, int p, bool deferred)
{
   bool in_order = deferred || p <= t;

   if (MN_COLUMN_IS_PHI(w) || w->default_value) {
      return false; /* a digest, a replacement or a constant names no row */
   }
   switch (w->kind) {
   case MN_SRC_DOC_ID: return in_order && coll->entries[0].table_index == p;
   case MN_SRC_PARENT_ID:
      return in_order && coll->entries[e->parent >= 0 ? e->parent : 0].table_index == p;
   case MN_SRC_PATH:
      return w->ref_collection >= 0 &&
             m->collections[w->ref_collection].entries[0].table_index == p;
   default: return false;
   }
}

/* writer_vouched() for every column of `cols` that writes table column tc; false when one
 * of them sends its raw text there.  *written: one writes it. */
static bool
columns_vouched(const mn_mapping_t *m, const mn_collection_t *coll, const mn_entry_t *e,
                const mn_column_t *cols, size_t n, int tc, int t, int p, bool deferred,
                bool *written)
{
   for (size_t c = 0; c < n; c++) {
      if (cols[c].raw_to == tc) {
         return false;
      }
      if (cols[c].table_column == tc) {
         *written = true;
         if (!writer_vouched(m, coll, e, &cols[c], t, p, deferred)) {
            return false;
         }
      }
   }
   return true;
}

/*
 * Whether the converter vouches for every value the mapping puts in column `col` of table
 * t, a foreign key into column `ref_col` of table p (see writer_vouched()).  A row that
 * does not write the column holds NULL, unless PostgreSQL fills it (`filled`).  The row
 * id itself (a 1:1 table sharing its parent's key) is not vouched for: the mapping does
 * not say which row it names.
 */
static bool
fk_vouched(const mn_mapping_t *m, int t, const char *col, int p, const char *ref_col, bool deferred,
           bool filled)
{
   int tc = table_column(&m->tables[t], col);

   if (strcmp(ref_col, m->tables[p].key) != 0 || tc == 0) {
      return false;
   }
   if (tc < 0) {
      return !filled; /* never written */
   }
   for (size_t ci = 0; ci < m->n_collections; ci++) {
      const mn_collection_t *coll = &m->collections[ci];
      for (size_t ei = 0; ei < coll->n_entries; ei++) {
         const mn_entry_t *e = &coll->entries[ei];
         bool written = false, by_shape = false; /* by its own columns, by a shape's */
         if (e->table_index != t) {
            continue;
         }
         if (!columns_vouched(m, coll, e, e->columns, e->n_columns, tc, t, p, deferred, &written)) {
            return false;
         }
         for (size_t s = 0; s < e->n_shapes; s++) {
            if (!columns_vouched(m, coll, e, e->shapes[s].columns, e->shapes[s].n_columns, tc, t, p,
                                 deferred, &by_shape)) {
               return false;
            }
         }
         if (filled && !written) {
            return false; /* rows of other shapes may get PostgreSQL's value */
         }
      }
   }
   return true;
}

/* Whether row r of FK_SQL's result is a foreign key the converter vouches for. */
static bool
fk_row_vouched(const mn_mapping_t *m, const PGresult *res, int r)
{
   int t = mn_pg__find_table(m, PQgetvalue(res, r, 1));
   int p = mn_pg__find_table(m, PQgetvalue(res, r, 6));

   return t >= 0 && p >= 0 &&
          fk_vouched(m, t, PQgetvalue(res, r, 7), p, PQgetvalue(res, r, 9),
                     strcmp(PQgetvalue(res, r, 10), "t") == 0,
                     strcmp(PQgetvalue(res, r, 8), "t") == 0);
}

/* Record row r of INDEX_SQL's or FK_SQL's result in mongonorm.bulk_objects and drop it. */
static bool
record_and_drop(PGconn *conn, bool is_fk, const PGresult *res, int r, mn_error_t *error)
{
   const char *params[7] = {is_fk ? "foreign key" : "index",
                            PQgetvalue(res, r, 0),
                            PQgetvalue(res, r, 1),
                            PQgetvalue(res, r, 2),
                            PQgetvalue(res, r, 3),
                            PQgetisnull(res, r, 4) ? NULL : PQgetvalue(res, r, 4),
                            PQgetvalue(res, r, 5)};
   char *qs = mn_pg_quote_ident(conn, params[1]);
   char *qt = mn_pg_quote_ident(conn, params[2]);
   char *qn = mn_pg_quote_ident(conn, params[3]);
   char *drop = is_fk ? g_strdup_printf("ALTER TABLE %s.%s DROP CONSTRAINT %s", qs, qt, qn)
                      : g_strdup_printf("DROP INDEX %s.%s", qs, qn);
   PGresult *ins =
      mn_pg__query(conn,
                   "INSERT INTO mongonorm.bulk_objects (kind, table_schema, "
                   "table_name, name, definition, comment, clustered) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   7, params, PGRES_COMMAND_OK, "could not record the bulk load", error);
   PGresult *del =
      ins ? mn_pg__query(conn, drop, 0, NULL, PGRES_COMMAND_OK,
                         "could not drop an index or foreign key for the bulk load", error)
          : NULL;
   bool ok = del != NULL;

   PQclear(ins);
   PQclear(del);
   g_free(drop);
   bson_free(qs);
   bson_free(qt);
   bson_free(qn);
   return ok;
}

/* Begin a bulk load: in one transaction, record and drop what the head of the file says. */
static bool
begin(mn_pg_bulk_t *b, mn_error_t *error)
{
   char *tables = name_array(b->m, true);
   const char *params[2] = {b->m->schema, tables};
   PGresult *idx = NULL, *fks = NULL;
   bool ok = false;

   if (!mn_pg_exec(b->conn, "BEGIN; SET LOCAL search_path = pg_catalog", error) ||
       !(idx = mn_pg__query(b->conn, INDEX_SQL, 2, params, PGRES_TUPLES_OK,
                            "could not read the target's indexes", error)) ||
       !(fks = mn_pg__query(b->conn, FK_SQL, 2, params, PGRES_TUPLES_OK,
                            "could not read the target's foreign keys", error))) {
      goto cleanup;
   }
   for (int r = 0; r < PQntuples(idx); r++) {
      if (!record_and_drop(b->conn, false, idx, r, error)) {
         goto cleanup;
      }
   }
   for (int r = 0; r < PQntuples(fks); r++) {
      if (fk_row_vouched(b->m, fks, r) && !record_and_drop(b->conn, true, fks, r, error)) {
         goto cleanup;
      }
   }
   ok = mn_pg_exec(b->conn, "COMMIT", error);

cleanup:
   if (!ok) {
      PQclear(PQexec(b->conn, "ROLLBACK"));
   }
   PQclear(idx);
   PQclear(fks);
   g_free(tables);
   return ok;
}

static void
objects_free(object_t *objs, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      object_t *o = &objs[i];
      g_free(o->id);
      g_free(o->schema);
      g_free(o->table);
      g_free(o->name);
      bson_free(o->qschema);
      g_free(o->qtable);
      bson_free(o->qname);
      g_free(o->definition);
      g_free(o->comment);
   }
   g_free(objs);
}

/* Whether the objects of table schema.table wait for the end of the run (the table is
 * loaded in direct mode).  Tables the mapping does not write (a record left by a run of
 * another mapping) never wait. */
static bool
deferred_table(const mn_pg_bulk_t *b, const char *schema, const char *table)
{
   int t = strcmp(schema, b->m->schema) == 0 ? mn_pg__find_table(b->m, table) : -1;

   return t >= 0 && b->deferred[t];
}

/* Fill o from row r of load_objects()'s query. */
static void
object_from_row(PGconn *conn, object_t *o, const PGresult *res, int r)
{
   char *qt;

   o->id = g_strdup(PQgetvalue(res, r, 0));
   o->is_fk = strcmp(PQgetvalue(res, r, 1), "t") == 0;
   o->schema = g_strdup(PQgetvalue(res, r, 2));
   o->table = g_strdup(PQgetvalue(res, r, 3));
   o->name = g_strdup(PQgetvalue(res, r, 4));
   o->definition = g_strdup(PQgetvalue(res, r, 5));
   o->comment = PQgetisnull(res, r, 6) ? NULL : g_strdup(PQgetvalue(res, r, 6));
   o->clustered = strcmp(PQgetvalue(res, r, 7), "t") == 0;
   o->added = strcmp(PQgetvalue(res, r, 8), "t") == 0;
   o->qschema = mn_pg_quote_ident(conn, o->schema);
   o->qname = mn_pg_quote_ident(conn, o->name);
   qt = mn_pg_quote_ident(conn, o->table);
   o->qtable = g_strdup_printf("%s.%s", o->qschema, qt);
   bson_free(qt);
}

/* The recorded objects to put back now (all, or those whose table is not deferred), the
 * biggest tables first. */
static bool
load_objects(mn_pg_bulk_t *b, bool all, object_t **out, size_t *n_out, mn_error_t *error)
{
   PGresult *res = mn_pg__query(
      b->conn,
      "SELECT id, kind = 'foreign key', table_schema, table_name, name, definition, comment, "
      "clustered, added FROM mongonorm.bulk_objects ORDER BY pg_relation_size(to_regclass("
      "quote_ident(table_schema) || '.' || quote_ident(table_name))) DESC NULLS LAST, id",
      0, NULL, PGRES_TUPLES_OK, "could not read the bulk load record", error);
   size_t n = 0;

   *out = NULL;
   *n_out = 0;
   if (!res) {
      return false;
   }
   *out = g_new0(object_t, (size_t)PQntuples(res) + 1);
   for (int r = 0; r < PQntuples(res); r++) {
      if (all || !deferred_table(b, PQgetvalue(res, r, 2), PQgetvalue(res, r, 3))) {
         object_from_row(b->conn, &(*out)[n++], res, r);
      }
   }
   PQclear(res);
   *n_out = n;
   return true;
}

/* Set error from a failed rebuild step: MN_PG_REBUILD when the data refused it (an
 * integrity violation, a program limit), else MN_PG_QUERY. */
static void
rebuild_error(mn_error_t *error, PGconn *conn, const PGresult *res, const char *what,
              const object_t *o)
{
   const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
   bool data = state && (strncmp(state, "23", 2) == 0 || strncmp(state, "54", 2) == 0);
   char *doing =
      g_strdup_printf("could not %s %s \"%s\" of table \"%s.%s\" after the bulk load", what,
                      o->is_fk ? "foreign key" : "index", o->name, o->schema, o->table);

   mn_pg__set_error(error, data ? MN_PG_REBUILD : MN_PG_QUERY, conn, res, doing);
   g_free(doing);
}

/*
 * One step of putting object o back, in one transaction: `ddl` (several statements,
 * after search_path is set to pg_catalog: the definitions name everything qualified),
 * then `record` on its row of mongonorm.bulk_objects (deleting it, or marking it added).
 * Rolled back whole on failure.
 */
static bool
object_step(PGconn *conn, const object_t *o, const char *ddl, const char *record, const char *what,
            mn_error_t *error)
{
   char *sql = g_strdup_printf("BEGIN; SET LOCAL search_path = pg_catalog; %s", ddl);
   const char *params[1] = {o->id};
   PGresult *res = PQexec(conn, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

   if (!ok) {
      rebuild_error(error, conn, res, what, o);
   }
   PQclear(res);
   g_free(sql);
   if (ok) {
      res = mn_pg__query(conn, record, 1, params, PGRES_COMMAND_OK,
                         "could not update the bulk load record", error);
      ok = res != NULL;
      PQclear(res);
   }
   ok = ok && mn_pg_exec(conn, "COMMIT", error);
   if (!ok) {
      PQclear(PQexec(conn, "ROLLBACK"));
   }
   return ok;
}

/* Append "COMMENT ON <what> IS '<comment>'" when o has a comment. */
static void
append_comment(PGconn *conn, GString *sql, const object_t *o, const char *what)
{
   char *lit;

   if (!o->comment) {
      return;
   }
   lit = PQescapeLiteral(conn, o->comment, strlen(o->comment));
   g_string_append_printf(sql, "; COMMENT ON %s IS %s", what, lit ? lit : "NULL");
   PQfreemem(lit);
}

/* A foreign key back, NOT VALID (checked for new rows only; a short lock), marked added. */
static bool
add_foreign_key(PGconn *conn, object_t *o, mn_error_t *error)
{
   GString *ddl = g_string_new(NULL);
   char *on = g_strdup_printf("CONSTRAINT %s ON %s", o->qname, o->qtable);
   bool ok;

   g_string_printf(ddl, "ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID", o->qtable, o->qname,
                   o->definition);
   append_comment(conn, ddl, o, on);
   ok =
      object_step(conn, o, ddl->str, "UPDATE mongonorm.bulk_objects SET added = true WHERE id = $1",
                  "add back", error);
   o->added = ok;
   g_free(on);
   g_string_free(ddl, TRUE);
   return ok;
}

/* An index rebuilt (with its comment and CLUSTER flag) or a foreign key validated; its
 * record deleted. */
static bool
rebuild_object(PGconn *conn, const object_t *o, mn_error_t *error)
{
   GString *ddl = g_string_new(NULL);
   bool ok;

   if (o->is_fk) {
      g_string_printf(ddl, "ALTER TABLE %s VALIDATE CONSTRAINT %s", o->qtable, o->qname);
   } else {
      char *on = g_strdup_printf("INDEX %s.%s", o->qschema, o->qname);
      g_string_assign(ddl, o->definition);
      append_comment(conn, ddl, o, on);
      if (o->clustered) {
         g_string_append_printf(ddl, "; ALTER TABLE %s CLUSTER ON %s", o->qtable, o->qname);
      }
      g_free(on);
   }
   ok = object_step(conn, o, ddl->str, "DELETE FROM mongonorm.bulk_objects WHERE id = $1",
                    o->is_fk ? "validate" : "rebuild", error);
   g_string_free(ddl, TRUE);
   return ok;
}

/* ---------------------------------------------------------------------------
 * The pool: `jobs` connections take objects in order, one at a time.  An index build
 * (SHARE lock) runs beside other index builds of its table; a validation (SHARE UPDATE
 * EXCLUSIVE) or an index with CLUSTER ON holds its table alone, so no connection waits
 * on a lock another one holds.
 */

typedef struct {
   GMutex lock;
   GCond changed;
   object_t *objs;
   size_t n;
   GHashTable *busy; /* qtable -> objects being rebuilt on it; -1: one holds it alone */
   const char *conninfo;
   mn_error_t first; /* the first failure */
   size_t failed;
} pool_t;

static bool
holds_alone(const object_t *o)
{
   return o->is_fk || o->clustered;
}

/* The next object a connection may take (NULL when none is left), waiting while those
 * left wait for their table. */
static object_t *
take(pool_t *p)
{
   object_t *job = NULL;
   int busy = 0;

   g_mutex_lock(&p->lock);
   for (;;) {
      bool left = false;
      for (size_t i = 0; i < p->n && !job; i++) {
         object_t *o = &p->objs[i];
         if (o->state != 0) {
            continue;
         }
         left = true;
         busy = GPOINTER_TO_INT(g_hash_table_lookup(p->busy, o->qtable));
         if (holds_alone(o) ? busy == 0 : busy >= 0) {
            job = o;
         }
      }
      if (job || !left) {
         break;
      }
      g_cond_wait(&p->changed, &p->lock);
   }
   if (job) {
      job->state = 1;
      g_hash_table_insert(p->busy, job->qtable, GINT_TO_POINTER(holds_alone(job) ? -1 : busy + 1));
   }
   g_mutex_unlock(&p->lock);
   return job;
}

/* Give object o back to the pool, done or failed. */
static void
give_back(pool_t *p, object_t *o, bool ok, const mn_error_t *error)
{
   int busy;

   g_mutex_lock(&p->lock);
   busy = GPOINTER_TO_INT(g_hash_table_lookup(p->busy, o->qtable));
   g_hash_table_insert(p->busy, o->qtable, GINT_TO_POINTER(busy > 1 ? busy - 1 : 0));
   o->state = 2;
   if (!ok && p->failed++ == 0) {
      p->first = *error;
   }
   g_cond_broadcast(&p->changed);
   g_mutex_unlock(&p->lock);
}

static void
work(pool_t *p, PGconn *conn)
{
   object_t *o;

   while ((o = take(p))) {
      mn_error_t error = {0};
      bool ok = rebuild_object(conn, o, &error);
      give_back(p, o, ok, &error);
   }
}

/* A connection of its own; one that cannot connect leaves the work to the others. */
static gpointer
worker(gpointer data)
{
   pool_t *p = data;
   PGconn *conn = mn_pg_connect(p->conninfo, NULL);

   if (conn) {
      work(p, conn);
   }
   PQfinish(conn);
   return NULL;
}

/* Rebuild objs on b->jobs connections (the run's own among them); every object is tried,
 * and the first failure is the error. */
static bool
run_pool(mn_pg_bulk_t *b, object_t *objs, size_t n, mn_error_t *error)
{
   pool_t p = {.objs = objs, .n = n, .conninfo = b->conninfo};
   size_t extra = (b->jobs > n ? n : b->jobs) - (n ? 1 : 0);
   GThread **threads = g_new0(GThread *, extra + 1);

   g_mutex_init(&p.lock);
   g_cond_init(&p.changed);
   p.busy = g_hash_table_new(g_str_hash, g_str_equal);
   for (size_t i = 0; i < extra; i++) {
      threads[i] = g_thread_new("mn-rebuild", worker, &p);
   }
   work(&p, b->conn);
   for (size_t i = 0; i < extra; i++) {
      g_thread_join(threads[i]);
   }
   if (p.failed) {
      mn_set_error(error, p.first.domain, p.first.code,
                   "%s; %zu of the %zu indexes and foreign keys to put back failed: they stay "
                   "recorded in mongonorm.bulk_objects, and the next run tries again",
                   p.first.message, p.failed, n);
   }
   g_hash_table_destroy(p.busy);
   g_cond_clear(&p.changed);
   g_mutex_clear(&p.lock);
   g_free(threads);
   return p.failed == 0;
}

/* Put back the recorded objects (all, or those whose table is not deferred): the foreign
 * keys added NOT VALID one by one, then the pool. */
static bool
rebuild(mn_pg_bulk_t *b, bool all, mn_error_t *error)
{
   object_t *objs = NULL;
   size_t n = 0;
   bool ok = load_objects(b, all, &objs, &n, error);

   for (size_t i = 0; ok && i < n; i++) {
      if (objs[i].is_fk && !objs[i].added) {
         ok = add_foreign_key(b->conn, &objs[i], error);
      }
   }
   ok = ok && run_pool(b, objs, n, error);
   objects_free(objs, n);
   return ok;
}

/* Per mapped table whether it holds rows (has_rows), and whether any document of the
 * mapping's collections is recorded. */
static bool
read_rows(PGconn *conn, const mn_mapping_t *m, bool *has_rows, bool *recorded, mn_error_t *error)
{
   char *qschema = mn_pg_quote_ident(conn, m->schema);
   char *colls = name_array(m, false);
   const char *params[1] = {colls};
   GString *sql = g_string_new("SELECT EXISTS (SELECT 1 FROM mongonorm.documents "
                               "WHERE collection = ANY ($1::text[]))");
   PGresult *res;

   for (size_t t = 0; t < m->n_tables; t++) {
      char *qt = mn_pg_quote_ident(conn, m->tables[t].name);
      g_string_append_printf(sql, ", EXISTS (SELECT 1 FROM %s.%s)", qschema, qt);
      bson_free(qt);
   }
   res = mn_pg__query(conn, sql->str, 1, params, PGRES_TUPLES_OK,
                      "could not inspect the target tables", error);
   if (res) {
      *recorded = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
      for (size_t t = 0; t < m->n_tables; t++) {
         has_rows[t] = strcmp(PQgetvalue(res, 0, (int)t + 1), "t") == 0;
      }
   }
   PQclear(res);
   g_string_free(sql, TRUE);
   g_free(colls);
   bson_free(qschema);
   return res != NULL;
}

/* Whether the connected role owns every mapped table (or is a member of its owner):
 * dropping and putting back indexes and foreign keys needs it, so a role that loads tables
 * it does not own (granted INSERT, under row-level security) loads them plainly. */
static bool
owns_tables(PGconn *conn, const mn_mapping_t *m, bool *owns, mn_error_t *error)
{
   char *tables = name_array(m, true);
   const char *params[2] = {m->schema, tables};
   PGresult *res = mn_pg__query(
      conn,
      "SELECT coalesce(bool_and(pg_has_role(c.relowner, 'USAGE')), true) FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = ANY ($2::text[])",
      2, params, PGRES_TUPLES_OK, "could not read who owns the target tables", error);

   if (res) {
      *owns = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   }
   PQclear(res);
   g_free(tables);
   return res != NULL;
}

/* After a crash: the tables whose objects may wait for the end of the run, those of the
 * collections that hold no row yet (the sink loads them in direct mode); the others are
 * loaded in merge mode, which finds a batch's rows through those indexes. */
static bool
defer_empty_collections(mn_pg_bulk_t *b, const bool *has_rows)
{
   const mn_mapping_t *m = b->m;
   bool any = false;

   for (size_t t = 0; t < m->n_tables; t++) {
      bool empty = true;
      for (size_t u = 0; u < m->n_tables; u++) {
         empty = empty && !(m->tables[u].collection == m->tables[t].collection && has_rows[u]);
      }
      b->deferred[t] = empty;
      any = any || empty;
   }
   return any;
}

mn_pg_bulk_t *
mn_pg__bulk_start(PGconn *conn, const char *conninfo, const mn_mapping_t *m, bool allow,
                  unsigned jobs, mn_error_t *error)
{
   mn_pg_bulk_t *b = g_new0(mn_pg_bulk_t, 1);
   bool *has_rows = g_new0(bool, m->n_tables + 1);
   bool recorded = false, any_rows = false;
   mn_bulk_pending_t pending;

   b->conn = conn;
   b->conninfo = conninfo;
   b->m = m;
   b->jobs = jobs ? jobs : 1;
   b->deferred = g_new0(bool, m->n_tables + 1);
   if (!mn_state_bulk_pending(conn, &pending, error) ||
       !read_rows(conn, m, has_rows, &recorded, error)) {
      goto fail;
   }
   for (size_t t = 0; t < m->n_tables; t++) {
      any_rows = any_rows || has_rows[t];
   }
   if (pending.indexes + pending.foreign_keys == 0) {
      /* a first full load: every table empty, no document recorded, and the role owns them */
      bool owns = false;
      if (allow && !any_rows && !recorded && !owns_tables(conn, m, &owns, error)) {
         goto fail;
      }
      b->active = allow && !any_rows && !recorded && owns;
      for (size_t t = 0; t < m->n_tables; t++) {
         b->deferred[t] = b->active;
      }
      if (b->active && !begin(b, error)) {
         goto fail;
      }
   } else {
      /* a bulk load in progress (a run was killed): what can wait waits */
      b->active = allow && defer_empty_collections(b, has_rows);
      if (!rebuild(b, false, error)) {
         goto fail;
      }
   }
   if (b->active && !mn_pg_exec(conn, "SET synchronous_commit = off", error)) {
      goto fail;
   }
   g_free(has_rows);
   return b;

fail:
   g_free(has_rows);
   b->active = false;
   mn_pg__bulk_destroy(b);
   return NULL;
}

bool
mn_pg__bulk_finish(mn_pg_bulk_t *b, mn_error_t *error)
{
   if (!b || !b->active) {
      return true;
   }
   b->active = false;
   /* synchronous again: the first commit of the rebuild flushes the load's WAL */
   return mn_pg_exec(b->conn, "RESET synchronous_commit", error) && rebuild(b, true, error);
}

void
mn_pg__bulk_destroy(mn_pg_bulk_t *b)
{
   if (!b) {
      return;
   }
   if (b->active && PQstatus(b->conn) == CONNECTION_OK) {
      PQclear(PQexec(b->conn, "RESET synchronous_commit"));
   }
   g_free(b->deferred);
   g_free(b);
}
