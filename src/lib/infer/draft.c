/*
 * draft.c - a draft from a survey: per collection a document-level table and its
 * columns (draft_elem.c), child tables (draft_array.c), the `ignore:` entries, the
 * --max-columns fit, and the collections in an order that loads referenced ones first.
 */
#include "infer/infer_private.h"

#include <stdarg.h>
#include <string.h>

mn_infer__col_t *
mn_infer__col_new(const char *name, mn_infer__src_t src, const char *path, const char *type)
{
   mn_infer__col_t *c = g_new0(mn_infer__col_t, 1);

   c->name = g_strdup(name);
   c->src = src;
   c->path = g_strdup(path);
   c->type = type;
   c->shape = -1;
   return c;
}

void
mn_infer__col_free(gpointer p)
{
   mn_infer__col_t *c = p;

   g_free(c->name);
   g_free(c->path);
   g_free(c->references);
   g_free(c->ref_table);
   g_free(c->fk_table);
   g_free(c->raw_to);
   g_free(c->comment);
   g_free(c);
}

void
mn_infer__col_note(mn_infer_draft_t *d, mn_infer__col_t *c, bool review, const char *fmt, ...)
{
   va_list ap;
   char *text;

   va_start(ap, fmt);
   text = g_strdup_vprintf(fmt, ap);
   va_end(ap);
   g_free(c->comment);
   c->comment = text;
   c->review = review;
   d->reviews += review;
}

void
mn_infer__table_note(mn_infer_draft_t *d, mn_infer__table_t *t, bool review, const char *fmt, ...)
{
   va_list ap;
   char *text;

   va_start(ap, fmt);
   text = g_strdup_vprintf(fmt, ap);
   va_end(ap);
   g_ptr_array_add(t->notes, review ? g_strdup_printf("REVIEW: %s", text) : g_strdup(text));
   g_free(text);
   d->reviews += review;
}

static void
table_free(gpointer p)
{
   mn_infer__table_t *t = p;

   g_free(t->table);
   g_free(t->each);
   g_ptr_array_free(t->cols, TRUE);
   g_ptr_array_free(t->notes, TRUE);
   g_hash_table_destroy(t->taken);
   g_free(t->unmapped_to);
   g_ptr_array_free(t->capped, TRUE);
   g_free(t);
}

int
mn_infer__table_add(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, const char *base, int parent,
                    const char *each)
{
   mn_infer__table_t *t = g_new0(mn_infer__table_t, 1);
   char *snake = mn_infer__snake(base, strlen(base));

   t->table = mn_infer__unique_name(d->tables, snake);
   t->parent = parent;
   t->each = each ? g_strdup(each) : NULL;
   t->cols = g_ptr_array_new_with_free_func(mn_infer__col_free);
   t->notes = g_ptr_array_new_with_free_func(g_free);
   t->taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   t->capped = g_ptr_array_new_with_free_func(g_free);
   g_hash_table_add(t->taken, g_strdup("id")); /* the primary key */
   g_ptr_array_add(dc->tables, t);
   d->n_tables++;
   g_free(snake);
   return (int)dc->tables->len - 1;
}

void
mn_infer__table_add_col(mn_infer__table_t *t, mn_infer__col_t *c)
{
   char *snake = mn_infer__snake(c->name, strlen(c->name));

   /* a column of a shape is the column of the same name and type of another shape */
   for (guint i = 0; c->shape >= 0 && i < t->cols->len; i++) {
      mn_infer__col_t *o = g_ptr_array_index(t->cols, i);
      if (o->shape >= 0 && o->shape != c->shape && !o->shared && strcmp(o->type, c->type) == 0 &&
          strcmp(o->name, snake) == 0) {
         g_free(c->name);
         c->name = snake;
         c->shared = true;
         g_ptr_array_add(t->cols, c);
         return;
      }
   }
   g_free(c->name);
   c->name = mn_infer__unique_name(t->taken, snake);
   g_free(snake);
   g_ptr_array_add(t->cols, c);
}

/* Columns the values at n would take in their table (arrays: none, they get tables). */
static size_t
estimate(const mn_infer__node_t *n, int depth_left)
{
   size_t total = 0;

   if (n->types[mn_infer__slot(BSON_TYPE_ARRAY)]) {
      return 0;
   }
   if (mn_infer__non_null(n) != n->types[mn_infer__slot(BSON_TYPE_DOCUMENT)] || !n->order ||
       n->data_keys || n->overflow || depth_left <= 0) {
      return 1;
   }
   for (guint i = 0; i < n->order->len; i++) {
      total += estimate(g_ptr_array_index(n->order, i), depth_left - 1);
   }
   return total;
}

/* Sub-documents to one jsonb column each, largest first, then the last fields ignored,
 * until the table's columns fit --max-columns. */
void
mn_infer__fit_columns(mn_infer_draft_t *d, const mn_infer__node_t *n, size_t generated)
{
   size_t max = d->survey->opts.max_columns;
   size_t total = generated;
   size_t *est;

   if (!n->order) {
      return;
   }
   est = g_new0(size_t, n->order->len);
   for (guint i = 0; i < n->order->len; i++) {
      total += est[i] = estimate(g_ptr_array_index(n->order, i), d->survey->opts.depth - 1);
   }
   while (total > max) {
      guint best = 0;
      for (guint i = 1; i < n->order->len; i++) {
         best = est[i] > est[best] ? i : best;
      }
      if (est[best] <= 1) {
         break;
      }
      g_hash_table_add(d->as_jsonb, g_ptr_array_index(n->order, best));
      total -= est[best] - 1;
      est[best] = 1;
   }
   for (guint i = n->order->len; total > max && i-- > 0;) {
      if (est[i] == 1) {
         g_hash_table_add(d->as_ignore, g_ptr_array_index(n->order, i));
         total--;
      }
   }
   g_free(est);
}

/* A top-level key no path can name: unmapped, so in the catch-all; a REVIEW. */
static void
odd_key(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, const mn_infer__node_t *c)
{
   if (c->klen == 0) {
      g_ptr_array_add(dc->notes, g_strdup("REVIEW: an empty field name cannot be mapped: kept "
                                          "in the catch-all, and drift reports it"));
   } else {
      char *shown = mn_infer_yaml_scalar(c->key, c->klen);
      g_ptr_array_add(dc->notes,
                      g_strdup_printf("REVIEW: field %s: a name no mapping path can read "
                                      "(\".\", \"$\"): kept in the catch-all, and drift reports it",
                                      shown));
      bson_free(shown);
   }
   d->reviews++;
}

/* The first paths of a list, "a, b, c, ..." (a new string). */
static char *
some_paths(const GPtrArray *paths)
{
   GString *s = g_string_new(NULL);

   for (guint i = 0; i < paths->len && i < 5; i++) {
      char *q = mn_infer_yaml_scalar(paths->pdata[i], strlen(paths->pdata[i]));
      g_string_append_printf(s, "%s%s", i ? ", " : "", q);
      bson_free(q);
   }
   if (paths->len > 5) {
      g_string_append(s, ", ...");
   }
   return g_string_free(s, FALSE);
}

void
mn_infer__catch_alls(mn_infer_draft_t *d, mn_infer__dcoll_t *dc)
{
   for (guint i = 0; i < dc->tables->len; i++) {
      mn_infer__table_t *t = g_ptr_array_index(dc->tables, i);
      char *list;
      if (!t->catch_all) {
         continue;
      }
      t->unmapped_to = mn_infer__unique_name(t->taken, "extra");
      if (!t->capped->len) {
         continue;
      }
      list = some_paths(t->capped);
      mn_infer__table_note(d, t, true,
                           "more columns than --max-columns: %u fields (%s) have no column: "
                           "kept in %s, the catch-all, and drift reports them",
                           t->capped->len, list, t->unmapped_to);
      g_free(list);
   }
}

static mn_infer__dcoll_t *
draft_collection(mn_infer_draft_t *d, const mn_infer__coll_t *coll)
{
   mn_infer__dcoll_t *dc = g_new0(mn_infer__dcoll_t, 1);
   const mn_infer__node_t *root = coll->root;

   dc->coll = coll;
   dc->tables = g_ptr_array_new_with_free_func(table_free);
   dc->ignore = g_ptr_array_new_with_free_func(g_free);
   dc->ignore_notes = g_ptr_array_new_with_free_func(g_free);
   dc->notes = g_ptr_array_new_with_free_func(g_free);
   mn_infer__table_add(d, dc, *coll->name ? coll->name : "collection", -1, NULL);
   mn_infer__fit_columns(d, root, 2); /* id and the catch-all */
   ((mn_infer__table_t *)g_ptr_array_index(dc->tables, 0))->catch_all = true;
   for (guint i = 0; root->order && i < root->order->len; i++) {
      const mn_infer__node_t *c = g_ptr_array_index(root->order, i);
      char *name;
      if (!mn_infer__key_addressable(c->key, c->klen)) {
         odd_key(d, dc, c);
         continue;
      }
      name = strcmp(c->key, "_id") == 0 ? g_strdup("mongo_id") : mn_infer__snake(c->key, c->klen);
      mn_infer__draft_value(d, dc, 0, c, c->key, name);
      g_free(name);
   }
   mn_infer__catch_alls(d, dc);
   if (coll->capped) {
      g_ptr_array_add(dc->notes, g_strdup_printf("REVIEW: %" G_GSIZE_FORMAT " fields beyond "
                                                 "--max-paths were not surveyed",
                                                 coll->capped));
      d->reviews++;
   }
   return dc;
}

static void
dcoll_free(gpointer p)
{
   mn_infer__dcoll_t *dc = p;

   g_ptr_array_free(dc->tables, TRUE);
   g_ptr_array_free(dc->ignore, TRUE);
   g_ptr_array_free(dc->ignore_notes, TRUE);
   g_ptr_array_free(dc->notes, TRUE);
   g_free(dc);
}

/* Whether dc has a reference to the collection named `name` (another one). */
static bool
refers_to(const mn_infer__dcoll_t *dc, const char *name)
{
   for (guint i = 0; i < dc->tables->len; i++) {
      const mn_infer__table_t *t = g_ptr_array_index(dc->tables, i);
      for (guint j = 0; j < t->cols->len; j++) {
         const mn_infer__col_t *c = g_ptr_array_index(t->cols, j);
         if (c->references && strcmp(c->references, name) == 0 &&
             strcmp(name, dc->coll->name) != 0) {
            return true;
         }
      }
   }
   return false;
}

/* Depth-first: the collections dc refers to, then dc (cycles: in survey order). */
static void
visit_order(GPtrArray *all, guint i, guint8 *state, GPtrArray *out)
{
   mn_infer__dcoll_t *dc = g_ptr_array_index(all, i);

   if (state[i]) {
      return;
   }
   state[i] = 1;
   for (guint j = 0; j < all->len; j++) {
      mn_infer__dcoll_t *o = g_ptr_array_index(all, j);
      if (j != i && refers_to(dc, o->coll->name)) {
         visit_order(all, j, state, out);
      }
   }
   g_ptr_array_add(out, dc);
}

/* The referenced tables' names, once every collection has its tables. */
static void
resolve_references(mn_infer_draft_t *d)
{
   for (guint k = 0; k < d->colls->len; k++) {
      mn_infer__dcoll_t *dc = g_ptr_array_index(d->colls, k);
      for (guint i = 0; i < dc->tables->len; i++) {
         mn_infer__table_t *t = g_ptr_array_index(dc->tables, i);
         for (guint j = 0; j < t->cols->len; j++) {
            mn_infer__col_t *c = g_ptr_array_index(t->cols, j);
            for (guint m = 0; c->references && m < d->colls->len; m++) {
               mn_infer__dcoll_t *o = g_ptr_array_index(d->colls, m);
               if (strcmp(o->coll->name, c->references) == 0) {
                  c->ref_table = g_strdup(((mn_infer__table_t *)o->tables->pdata[0])->table);
               }
            }
         }
      }
   }
}

mn_infer_draft_t *
mn_infer_draft_new(mn_infer_survey_t *survey)
{
   mn_infer_draft_t *d = g_new0(mn_infer_draft_t, 1);
   GPtrArray *all = g_ptr_array_new();
   guint8 *state = g_new0(guint8, survey->colls->len + 1);

   mn_infer__survey_finish(survey);
   d->survey = survey;
   d->cur_shape = -1;
   d->tables = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   d->as_jsonb = g_hash_table_new(g_direct_hash, g_direct_equal);
   d->as_ignore = g_hash_table_new(g_direct_hash, g_direct_equal);
   d->colls = g_ptr_array_new_with_free_func(dcoll_free);
   for (guint i = 0; i < survey->colls->len; i++) {
      g_ptr_array_add(all, draft_collection(d, g_ptr_array_index(survey->colls, i)));
   }
   for (guint i = 0; i < all->len; i++) {
      visit_order(all, i, state, d->colls);
   }
   resolve_references(d);
   g_ptr_array_free(all, TRUE);
   g_free(state);
   return d;
}

size_t
mn_infer_draft_tables(const mn_infer_draft_t *draft)
{
   return draft->n_tables;
}

size_t
mn_infer_draft_reviews(const mn_infer_draft_t *draft)
{
   return draft->reviews;
}

void
mn_infer_draft_destroy(mn_infer_draft_t *draft)
{
   if (!draft) {
      return;
   }
   g_ptr_array_free(draft->colls, TRUE);
   g_hash_table_destroy(draft->tables);
   g_hash_table_destroy(draft->as_jsonb);
   g_hash_table_destroy(draft->as_ignore);
   g_free(draft);
}
