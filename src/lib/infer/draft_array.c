/*
 * draft_array.c - child tables: one for each array (a row per element, with the
 * document's key, the parent row's key below the first level, and the ordinal), and one
 * for each map (a row per key, with the key).  The elements become columns as any value
 * does (draft_elem.c); arrays of arrays become `each: $` grandchildren; elements of
 * several kinds become `shapes`.
 */
#include "infer/infer_private.h"

#include <string.h>

static mn_infer__table_t *
table_at(mn_infer__dcoll_t *dc, int entry)
{
   return g_ptr_array_index(dc->tables, entry);
}

static uint64_t
slot_count(const mn_infer__node_t *n, bson_type_t t)
{
   return n->types[mn_infer__slot(t)];
}

static void
generated(mn_infer__table_t *t, const char *name, const char *value, const char *type,
          const char *fk)
{
   mn_infer__col_t *c = mn_infer__col_new(name, MN_INFER__SRC_VALUE, value, type);

   c->not_null = true;
   c->fk_table = fk ? g_strdup(fk) : NULL;
   mn_infer__table_add_col(t, c);
}

/* The key, parent key, ordinal (and map key) columns of a child table. */
static void
add_generated(mn_infer__dcoll_t *dc, mn_infer__table_t *t)
{
   mn_infer__table_t *root = table_at(dc, 0);
   char *name = g_strdup_printf("%s_id", root->table);

   generated(t, name, "doc_id", "uuid", root->table);
   g_free(name);
   if (t->parent > 0) {
      mn_infer__table_t *p = table_at(dc, t->parent);
      name = g_strdup_printf("%s_id", p->table);
      generated(t, name, "parent_id", "uuid", p->table);
      g_free(name);
   }
   generated(t, "ordinal", "index", "integer", NULL);
   if (t->map) {
      generated(t, "key", "key", "text", NULL);
      ((mn_infer__col_t *)t->cols->pdata[t->cols->len - 1])->not_null =
         false; /* check --pg: NULL for a non-map value */
   }
}

/* Shapes for elements that are sub-documents and scalars: one per type. */
static void
draft_shapes(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int idx, const mn_infer__node_t *e)
{
   static const bson_type_t shaped[] = {BSON_TYPE_UTF8,      BSON_TYPE_INT32,      BSON_TYPE_INT64,
                                        BSON_TYPE_DOUBLE,    BSON_TYPE_DECIMAL128, BSON_TYPE_BOOL,
                                        BSON_TYPE_DATE_TIME, BSON_TYPE_OID};
   mn_infer__table_t *t = table_at(dc, idx);
   uint64_t covered = slot_count(e, BSON_TYPE_DOCUMENT);
   int numbers = 0;
   char *types = mn_infer__types_summary(e);

   for (size_t i = 0; i < G_N_ELEMENTS(shaped); i++) {
      numbers += i >= 1 && i <= 4 && slot_count(e, shaped[i]);
   }
   for (size_t i = 0; i < G_N_ELEMENTS(shaped); i++) {
      const char *type;
      mn_infer__col_t *c;
      if (!slot_count(e, shaped[i])) {
         continue;
      }
      covered += slot_count(e, shaped[i]);
      type = numbers > 1 && i >= 1 && i <= 4 ? "numeric" : mn_infer__type_of_slot(e, shaped[i]);
      c = mn_infer__col_new("value", MN_INFER__SRC_PATH, "$", type);
      c->shape = mn_infer__slot(shaped[i]);
      mn_infer__table_add_col(t, c);
   }
   t->doc_shape = true;
   d->cur_shape = mn_infer__slot(BSON_TYPE_DOCUMENT);
   if (e->data_keys) {
      /* a map's table would iterate `$`, which for a scalar element is no map: rejected */
      mn_infer__jsonb_column(d, dc, idx, e, "", "", true,
                             "sub-documents keyed by data, among elements of other types");
   } else {
      mn_infer__draft_document(d, dc, idx, e, "", "");
   }
   d->cur_shape = -1;
   mn_infer__table_note(d, t, true, "elements of several types (%s): one shape each", types);
   if (covered < e->present) {
      t->skip_other = true;
      mn_infer__table_note(d, t, true,
                           "%" G_GUINT64_FORMAT " elements of other types (null, ...) get no row",
                           e->present - covered);
   }
   g_free(types);
}

/* The columns (and child tables) of the elements e of entry idx. */
static void
draft_elements(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int idx, const mn_infer__node_t *e)
{
   uint64_t docs = slot_count(e, BSON_TYPE_DOCUMENT);
   uint64_t arrays = slot_count(e, BSON_TYPE_ARRAY);
   uint64_t scalars = mn_infer__non_null(e) - docs - arrays;

   if (arrays && (docs || scalars)) {
      mn_infer__jsonb_column(d, dc, idx, e, "", "", true, "elements of mixed kinds");
   } else if (arrays) {
      mn_infer__draft_array(d, dc, idx, e, "", "", false);
   } else if (docs && scalars) {
      draft_shapes(d, dc, idx, e);
   } else if (docs) {
      mn_infer__fit_columns(d, e, table_at(dc, idx)->cols->len + 1); /* and the catch-all */
      mn_infer__draft_document(d, dc, idx, e, "", "");
   } else {
      mn_infer__scalar_column(d, dc, idx, e, "", "");
   }
}

void
mn_infer__draft_array(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                      const mn_infer__node_t *n, const char *rel, const char *prefix, bool map)
{
   const mn_infer__node_t *e = map ? n->mapval : n->elem;
   mn_infer__table_t *parent = table_at(dc, entry);
   int shape = d->cur_shape;
   char *base;
   int idx;
   mn_infer__table_t *t;

   if (d->n_tables >= d->survey->opts.max_tables) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, true, "more tables than --max-tables");
      return;
   }
   d->cur_shape = -1;
   base = g_strdup_printf("%s_%s", parent->table, *prefix ? prefix : "items");
   idx = mn_infer__table_add(d, dc, base, entry, *rel ? rel : "$");
   g_free(base);
   t = table_at(dc, idx);
   t->map = map;
   t->depth0 = e ? e->depth : n->depth;
   if (!map && slot_count(n, BSON_TYPE_ARRAY) < mn_infer__non_null(n)) {
      char *types = mn_infer__types_summary(n);
      t->single = true;
      mn_infer__table_note(d, t, true, "not always an array (%s): a single value is one element",
                           types);
      g_free(types);
   }
   add_generated(dc, t);
   if (map) {
      mn_infer__table_note(d, t, false,
                           "a map: its keys look like data (about %.0f distinct), one row each",
                           mn_infer__distinct(e));
   }
   if (!e || !e->present) {
      mn_infer__col_t *c = mn_infer__col_new("value", MN_INFER__SRC_PATH, "$", "jsonb");
      mn_infer__table_add_col(t, c);
      mn_infer__col_note(d, c, true, "always empty: the type of its elements is unknown");
   } else {
      draft_elements(d, dc, idx, e);
   }
   d->cur_shape = shape;
}
