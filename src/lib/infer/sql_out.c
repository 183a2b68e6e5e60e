/*
 * sql_out.c - the draft's tables as SQL for `mongonorm init`: one CREATE TABLE per
 * table (uuid primary key `id`, the converter derives every id), the parent keys with
 * ON DELETE CASCADE and an index each, then the references as foreign keys with ON DELETE
 * SET NULL (after every table, so that the order of the collections does not matter).
 * Identifiers are quoted where PostgreSQL needs it (mn_infer_sql_ident()); index and
 * constraint names are kept within 63 bytes and unique.
 */
#include "infer/infer_private.h"

#include <string.h>

static void
put_ident(GString *out, const char *name)
{
   char *q = mn_infer_sql_ident(name);

   g_string_append(out, q);
   bson_free(q);
}

static void
put_table_name(GString *out, const char *table)
{
   g_string_append(out, "public.");
   put_ident(out, table);
}

static void
put_column(GString *out, const mn_infer__col_t *c, bool *first)
{
   g_string_append(out, *first ? "\n    " : ",\n    ");
   *first = false;
   put_ident(out, c->name);
   g_string_append_printf(out, " %s", c->type);
   if (c->not_null) {
      g_string_append(out, " NOT NULL");
   }
   if (c->fk_table) {
      g_string_append(out, " REFERENCES ");
      put_table_name(out, c->fk_table);
      g_string_append(out, " (id) ON DELETE CASCADE");
   }
   if (c->raw_to) {
      g_string_append(out, ",\n    ");
      put_ident(out, c->raw_to);
      g_string_append(out, " text");
   }
}

/* "<table>_<column>_<suffix>", within 63 bytes and unique in the schema. */
static char *
object_name(GHashTable *taken, const char *table, const char *column, const char *suffix)
{
   char *base = g_strdup_printf("%s_%s", table, column);
   size_t room = 63 - strlen(suffix) - 1;
   char *cut = g_strdup_printf("%.*s_%s", (int)MIN(strlen(base), room), base, suffix);
   char *name = mn_infer__unique_name(taken, cut);

   g_free(base);
   g_free(cut);
   return name;
}

static void
put_index(GString *out, GHashTable *taken, const mn_infer__table_t *t, const char *column)
{
   char *name = object_name(taken, t->table, column, "idx");

   g_string_append(out, "CREATE INDEX IF NOT EXISTS ");
   put_ident(out, name);
   g_string_append(out, " ON ");
   put_table_name(out, t->table);
   g_string_append(out, " (");
   put_ident(out, column);
   g_string_append(out, ");\n");
   g_free(name);
}

static void
put_table(GString *out, GHashTable *taken, const mn_infer__table_t *t)
{
   bool first = false;

   g_string_append(out, "CREATE TABLE IF NOT EXISTS ");
   put_table_name(out, t->table);
   g_string_append(out, " (\n    id uuid PRIMARY KEY");
   for (guint i = 0; i < t->cols->len; i++) {
      const mn_infer__col_t *c = g_ptr_array_index(t->cols, i);
      if (!c->shared) {
         put_column(out, c, &first);
      }
   }
   if (t->unmapped_to) {
      g_string_append(out, ",\n    ");
      put_ident(out, t->unmapped_to);
      g_string_append(out, " jsonb");
   }
   g_string_append(out, "\n);\n");
   for (guint i = 0; i < t->cols->len; i++) {
      const mn_infer__col_t *c = g_ptr_array_index(t->cols, i);
      if (c->fk_table) {
         put_index(out, taken, t, c->name);
      }
   }
   g_string_append_c(out, '\n');
}

static void
put_references(GString *out, GHashTable *taken, const mn_infer__table_t *t)
{
   for (guint i = 0; i < t->cols->len; i++) {
      const mn_infer__col_t *c = g_ptr_array_index(t->cols, i);
      char *name;
      if (!c->ref_table || c->shared) {
         continue;
      }
      name = object_name(taken, t->table, c->name, "fkey");
      g_string_append(out, "ALTER TABLE ");
      put_table_name(out, t->table);
      g_string_append(out, " ADD CONSTRAINT ");
      put_ident(out, name);
      g_string_append(out, " FOREIGN KEY (");
      put_ident(out, c->name);
      g_string_append(out, ") REFERENCES ");
      put_table_name(out, c->ref_table);
      g_string_append(out, " (id) ON DELETE SET NULL;\n");
      put_index(out, taken, t, c->name);
      g_free(name);
   }
}

char *
mn_infer_draft_sql(const mn_infer_draft_t *draft)
{
   GString *out = g_string_new(NULL);
   GHashTable *taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   GHashTableIter it;
   gpointer key;
   char *r;

   /* index and constraint names share the schema's namespace with the tables */
   g_hash_table_iter_init(&it, draft->tables);
   while (g_hash_table_iter_next(&it, &key, NULL)) {
      g_hash_table_add(taken, g_strdup(key));
   }
   g_string_append_printf(out,
                          "-- Drafted by `mongonorm infer`: %" G_GSIZE_FORMAT " tables for the "
                          "draft mapping ../mapping.yaml.\n"
                          "-- Apply with `mongonorm init --sql-dir DIR/sql`.  Ids are uuids the "
                          "converter derives from the source;\n"
                          "-- NOT NULL only on the keys it always fills.\n\n",
                          draft->n_tables);
   for (guint k = 0; k < draft->colls->len; k++) {
      const mn_infer__dcoll_t *dc = g_ptr_array_index(draft->colls, k);
      char *shown = g_strescape(dc->coll->name, NULL);
      g_string_append_printf(out, "-- collection %s\n", shown);
      g_free(shown);
      for (guint i = 0; i < dc->tables->len; i++) {
         put_table(out, taken, g_ptr_array_index(dc->tables, i));
      }
   }
   for (guint k = 0; k < draft->colls->len; k++) {
      const mn_infer__dcoll_t *dc = g_ptr_array_index(draft->colls, k);
      for (guint i = 0; i < dc->tables->len; i++) {
         put_references(out, taken, g_ptr_array_index(dc->tables, i));
      }
   }
   g_hash_table_destroy(taken);
   r = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return r;
}
