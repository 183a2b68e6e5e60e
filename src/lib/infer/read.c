/*
 * read.c - the survey's two reads of a source: every document of each collection (or a
 * sample), then, when some ObjectId field may name documents of another collection,
 * every collection's `_id`s with an `_id`-only read, checked against the bounded sample
 * of ObjectIds each such field kept (survey.c).
 */
#include "infer/infer_private.h"

#include <string.h>

/* A field is a reference when at least this share (in tenths) of its sampled ObjectIds
 * are `_id`s of one collection. */
#define REF_TENTHS 8

static bool
read_collection(mn_infer_survey_t *survey, mn_source_t *source, const char *name, mn_error_t *error)
{
   mn_find_opts_t fo = {.sample = survey->opts.sample};
   mn_cursor_t *cursor = mn_source_find(source, name, &fo, error);
   const bson_t *doc = NULL;
   mn_cursor_status_t st;
   uint64_t n = 0;
   bool ok = false;

   if (!cursor) {
      return false;
   }
   mn_infer_survey_add_collection(survey, name);
   while ((survey->opts.sample == 0 || n < survey->opts.sample) &&
          (st = mn_cursor_next(cursor, &doc)) != MN_CURSOR_END) {
      if (st == MN_CURSOR_ERROR) {
         mn_cursor_error(cursor, error);
         goto cleanup;
      }
      if (st == MN_CURSOR_BAD) {
         mn_infer__find_coll(survey, name)->unreadable++;
         continue;
      }
      mn_infer_survey_add(survey, name, doc);
      n++;
   }
   ok = true;

cleanup:
   mn_cursor_destroy(cursor);
   return ok;
}

bool
mn_infer_survey_read(mn_infer_survey_t *survey, mn_source_t *source, mn_error_t *error)
{
   const char *const *names = (const char *const *)survey->opts_collections;
   char **listed = NULL;
   bool ok = false;

   if (!names) {
      if (!(listed = mn_source_list_collections(source, error))) {
         return false;
      }
      names = (const char *const *)listed;
   }
   for (size_t i = 0; names[i]; i++) {
      if (!read_collection(survey, source, names[i], error)) {
         goto cleanup;
      }
   }
   ok = mn_infer_survey_find_references(survey, source, error);

cleanup:
   bson_strfreev(listed);
   return ok;
}

/* The nodes of a tree that may be references: mostly ObjectIds, with a sample. */
static void
candidates(mn_infer__node_t *n, GHashTable *by_oid, GPtrArray *nodes)
{
   uint64_t oids = mn_infer__count(n, BSON_TYPE_OID);

   if (n->oids &&
       !(n->kind == MN_INFER__FIELD && n->parent->kind == MN_INFER__ROOT &&
         strcmp(n->key, "_id") == 0) &&
       oids * 10 >= mn_infer__non_null(n) * 9) {
      GHashTableIter it;
      gpointer key;

      g_ptr_array_add(nodes, n);
      g_hash_table_iter_init(&it, n->oids);
      while (g_hash_table_iter_next(&it, &key, NULL)) {
         GSList *list = g_hash_table_lookup(by_oid, key);
         g_hash_table_insert(by_oid, key, g_slist_prepend(list, n));
      }
   }
   for (guint i = 0; n->order && i < n->order->len; i++) {
      candidates(g_ptr_array_index(n->order, i), by_oid, nodes);
   }
   if (n->elem) {
      candidates(n->elem, by_oid, nodes);
   }
   if (n->mapval) {
      candidates(n->mapval, by_oid, nodes);
   }
}

/* Count, for every candidate, how many of its sampled ObjectIds are _ids of coll. */
static bool
count_ids(mn_source_t *source, mn_infer__coll_t *coll, GHashTable *by_oid, mn_error_t *error)
{
   mn_find_opts_t fo = {.ids_only = true};
   mn_cursor_t *cursor = mn_source_find(source, coll->name, &fo, error);
   const bson_t *doc = NULL;
   mn_cursor_status_t st;

   if (!cursor) {
      return false;
   }
   while ((st = mn_cursor_next(cursor, &doc)) != MN_CURSOR_END) {
      bson_iter_t it;
      if (st == MN_CURSOR_ERROR) {
         mn_cursor_error(cursor, error);
         mn_cursor_destroy(cursor);
         return false;
      }
      if (st == MN_CURSOR_DOC && bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
         for (GSList *l = g_hash_table_lookup(by_oid, bson_iter_oid(&it)->bytes); l; l = l->next) {
            ((mn_infer__node_t *)l->data)->ref_now++;
         }
      }
   }
   mn_cursor_destroy(cursor);
   return true;
}

static bool
has_oid_ids(const mn_infer__coll_t *coll)
{
   mn_infer__node_t *id =
      coll->root->children ? g_hash_table_lookup(coll->root->children, "_id") : NULL;

   return id && mn_infer__count(id, BSON_TYPE_OID) > 0;
}

bool
mn_infer_survey_find_references(mn_infer_survey_t *survey, mn_source_t *source, mn_error_t *error)
{
   /* keys: the nodes' own 12-byte copies (a node's sample lives as long as the survey) */
   GHashTable *by_oid = g_hash_table_new(mn_infer__oid_hash, mn_infer__oid_equal);
   GHashTableIter hi;
   gpointer list;
   GPtrArray *nodes = g_ptr_array_new();
   bool ok = false;

   for (guint i = 0; i < survey->colls->len; i++) {
      candidates(((mn_infer__coll_t *)g_ptr_array_index(survey->colls, i))->root, by_oid, nodes);
   }
   for (guint i = 0; nodes->len && i < survey->colls->len; i++) {
      mn_infer__coll_t *coll = g_ptr_array_index(survey->colls, i);

      if (!(coll->oid_ids = has_oid_ids(coll))) {
         continue;
      }
      if (!count_ids(source, coll, by_oid, error)) {
         goto cleanup;
      }
      for (guint j = 0; j < nodes->len; j++) {
         mn_infer__node_t *n = g_ptr_array_index(nodes, j);
         uint64_t sample = g_hash_table_size(n->oids);
         if (n->ref_now * 10 >= sample * REF_TENTHS && n->ref_now > n->ref_hits) {
            n->ref_hits = n->ref_now;
            n->ref_collection = coll->name;
         }
         n->ref_now = 0;
      }
   }
   ok = true;

cleanup:
   g_hash_table_iter_init(&hi, by_oid);
   while (g_hash_table_iter_next(&hi, NULL, &list)) {
      g_slist_free(list);
   }
   g_hash_table_destroy(by_oid);
   g_ptr_array_free(nodes, TRUE);
   return ok;
}
