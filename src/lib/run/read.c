/*
 * read.c - reading a collection whole, a document's row id, and the pre-pass of referenced
 * `_id` sets: the reads run.c, status.c, verify.c and the golden runner share
 * (run_private.h).
 */
#include "run/run_private.h"

#include <glib.h>
#include <string.h>

bool
mn_run__read_collection(mn_source_t *src, const char *collection, const mn_find_opts_t *opts,
                        bool missing_is_empty, mn_run__read_fn fn, void *ctx, mn_error_t *error)
{
   mn_cursor_t *cur = mn_source_find(src, collection, opts, error);
   mn_cursor_status_t st = MN_CURSOR_END;
   const bson_t *doc = NULL;
   bool ok = true;

   if (!cur) {
      if (missing_is_empty && error && error->domain == MN_ERROR_MONGO &&
          error->code == MN_MONGO_NOT_FOUND) {
         mn_error_clear(error);
         return true;
      }
      return false;
   }
   if (mn_source_kind(src) != MN_SOURCE_MONGODB && mn_run__read_ahead()) {
      mn_cursor_read_ahead(cur); /* a server cursor's client is the caller's */
   }
   while (ok && ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC || st == MN_CURSOR_BAD)) {
      ok = fn(ctx, cur, st, st == MN_CURSOR_DOC ? doc : NULL, error);
   }
   if (ok && st == MN_CURSOR_ERROR) {
      mn_cursor_error(cur, error);
      ok = false;
   } else if (ok) {
      ok = fn(ctx, cur, MN_CURSOR_END, NULL, error);
   }
   mn_cursor_destroy(cur);
   return ok;
}

bool
mn_run__read_ahead(void)
{
   const char *v = g_getenv("MN_READ_AHEAD");

   return !v || strcmp(v, "0") != 0;
}

bool
mn_run__doc_id(const bson_t *doc, bson_iter_t *it, mn_uuid_t *id)
{
   bson_iter_t own;

   if (!it) {
      it = &own;
   }
   if (!doc || !bson_iter_init_find(it, doc, "_id")) {
      return false;
   }
   mn_uuid_from_value(it, id);
   return true;
}

typedef struct {
   mn_converter_t *conv;
   size_t collection;
} prepass_t;

static bool
add_source_id(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
              mn_error_t *error)
{
   prepass_t *pp = ctx;
   bson_iter_t id;

   (void)cur;
   (void)error;
   if (st == MN_CURSOR_DOC && bson_iter_init_find(&id, doc, "_id")) {
      mn_converter_add_source_id(pp->conv, pp->collection, &id);
   }
   return true;
}

bool
mn_run__prepass(mn_source_t *src, const mn_mapping_t *m, mn_converter_t *conv, mn_error_t *error)
{
   mn_find_opts_t opts = {.ids_only = true};

   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      prepass_t pp = {conv, c};

      if (mn_converter_is_referenced(conv, c) &&
          !mn_run__read_collection(src, mn_mapping_collection_name(m, c), &opts, true,
                                   add_source_id, &pp, error)) {
         return false;
      }
   }
   return true;
}

mn_collection_counts_t *
mn_run__collection_stats(mn_stats_t *stats, const mn_mapping_t *m, size_t c)
{
   mn_collection_counts_t *counts = mn_stats_collection(stats, mn_mapping_collection_name(m, c));

   for (size_t t = 0; t < mn_mapping_n_tables(m); t++) {
      if (mn_mapping_table_collection(m, t) == c) {
         (void)mn_stats_table(stats, mn_mapping_table_name(m, t));
      }
   }
   return counts;
}

bool
mn_run__check_collections(mn_source_t *src, const mn_mapping_t *m, const char *then,
                          mn_error_t *error)
{
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      const char *name = mn_mapping_collection_name(m, c);
      mn_error_t lookup = {0};

      if (mn_mapping_collection_optional(m, c) || mn_source_has_collection(src, name, &lookup)) {
         continue;
      }
      if (lookup.code != 0) {
         if (error) {
            *error = lookup;
         }
         return false;
      }
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                   "collection \"%s\" is not in the source (%s)%s%s (declare it `optional: "
                   "true` in the mapping if the source may lack it)",
                   name, mn_source_describe(src), then ? ": " : "", then ? then : "");
      return false;
   }
   return true;
}
