/*
 * drift.c - source paths no entry covers: one walk over each converted document, its
 * unmapped paths counted in the statistics, keys that look like data collapsed; and the
 * same judgement over one element for an entry's `unmapped_to` catch-all, whose fields
 * it copies.
 */
#include "convert/convert_private.h"

#include <string.h>

static bool
in_list(char *const *list, size_t n, const char *path)
{
   for (size_t i = 0; i < n; i++) {
      if (strcmp(list[i], path) == 0) {
         return true;
      }
   }
   return false;
}

static int
coverage(const mn_collection_t *coll, const char *path)
{
   /* 2 = covered (this path or an ancestor is mapped), 3 = iterated by `each` (scalar
    * elements are mapped, sub-documents are looked into), 1 = an ancestor of a mapped
    * path, 0 = unmapped */
   size_t len = strlen(path);
   int result = in_list(coll->iterated, coll->n_iterated, path) ? 3 : 0;

   for (size_t i = 0; i < coll->n_covered; i++) {
      const char *c = coll->covered[i];
      size_t cl = strlen(c);
      if (cl <= len && strncmp(c, path, cl) == 0 && (path[cl] == '\0' || path[cl] == '.')) {
         return 2;
      }
      if (cl > len && strncmp(c, path, len) == 0 && c[len] == '.' && result == 0) {
         result = 1;
      }
   }
   return result;
}

/*
 * Paths repeat across elements and documents: their coverage is remembered, within a
 * bound of memory whatever the data: at most COVERAGE_CACHE_MAX paths per collection, of
 * at most COVERAGE_CACHE_PATH bytes, and none with a key that looks like data (those
 * rarely repeat: ids, free text).
 */
#define COVERAGE_CACHE_MAX 20000
#define COVERAGE_CACHE_PATH 256
#define COVERAGE_MAP 0x10
#define COVERAGE_EACH 0x20 /* a field some entry iterates (`each`): its elements' fields */

/* One component of the current path: a field name, or "*" for the keys of a map. */
typedef struct {
   const char *key; /* into the document's bytes, or a literal */
   size_t len;
   bool is_key; /* a field name: it may look like data */
} part_t;

/*
 * One document's drift walk.  `path` is the real field path (what coverage is judged
 * on); `shown` is the same path with every key that looks like data replaced by
 * MN_STATS_DRIFT_KEY (what is counted), so `notes.Jane Doe - HIV positive` is counted
 * as `notes.<key>`.  `path` grows and shrinks around each field; `shown` is written from
 * the path's parts (shown_path) only when it is read: for an unmapped path, or a path
 * the coverage cache does not know yet, not for every field.
 */
typedef struct {
   GHashTable *cache;           /* the collection's: path -> coverage + 1 */
   const mn_collection_t *coll; /* its mapping */
   GString *path;
   GString *shown;
   GArray *parts;    /* part_t: the components of path, in order */
   GHashTable *seen; /* shown paths of the document, owned by `order` */
   GPtrArray *order; /* the same in walk order (char*, owned) */
} drift_t;

/* d->shown for the current path: its parts joined, each part that looks like data as
 * MN_STATS_DRIFT_KEY (a "." before a part only when something precedes it). */
static const char *
shown_path(drift_t *d)
{
   g_string_truncate(d->shown, 0);
   for (guint i = 0; i < d->parts->len; i++) {
      const part_t *p = &g_array_index(d->parts, part_t, i);
      if (d->shown->len) {
         g_string_append_c(d->shown, '.');
      }
      if (p->is_key && mn_stats_drift_key_is_data(p->key, p->len)) {
         g_string_append(d->shown, MN_STATS_DRIFT_KEY);
      } else {
         g_string_append_len(d->shown, p->key, (gssize)p->len);
      }
   }
   return d->shown->str;
}

/* Whether path has the segments of pattern, where a "*" of pattern (a map key) matches any. */
static bool
segments_match(const char *pattern, const char *path)
{
   for (;;) {
      size_t lp = strcspn(pattern, ".");
      size_t lf = strcspn(path, ".");

      if (!(lp == 1 && pattern[0] == '*') && (lp != lf || strncmp(pattern, path, lp) != 0)) {
         return false;
      }
      pattern += lp;
      path += lf;
      if (!*pattern || !*path) {
         return !*pattern && !*path;
      }
      pattern++;
      path++;
   }
}

static int
cached_coverage(drift_t *d)
{
   GHashTable *cache = d->cache;
   const char *path = d->path->str;
   gpointer hit = g_hash_table_lookup(cache, path);
   int cov;

   if (hit) {
      return GPOINTER_TO_INT(hit) - 1;
   }
   cov = coverage(d->coll, path);
   if (in_list(d->coll->maps, d->coll->n_maps, path)) {
      cov |= COVERAGE_MAP;
   }
   for (size_t i = 0; i < d->coll->n_each_paths; i++) {
      if (segments_match(d->coll->each_paths[i], path)) {
         cov |= COVERAGE_EACH;
      }
   }
   if (g_hash_table_size(cache) < COVERAGE_CACHE_MAX && d->path->len <= COVERAGE_CACHE_PATH &&
       strcmp(path, shown_path(d)) == 0) {
      g_hash_table_insert(cache, g_strdup(path), GINT_TO_POINTER(cov + 1));
   }
   return cov;
}

/* Extend the path by one component (a field name, or "*" for the keys of a map). */
static void
drift_push(drift_t *d, const char *key, bool is_key)
{
   part_t p = {key, strlen(key), is_key};

   if (d->path->len) {
      g_string_append_c(d->path, '.');
   }
   g_string_append_len(d->path, key, (gssize)p.len);
   g_array_append_val(d->parts, p);
}

/* Back to the path of path_len bytes and n_parts components. */
static void
drift_pop(drift_t *d, gsize path_len, guint n_parts)
{
   g_string_truncate(d->path, path_len);
   g_array_set_size(d->parts, n_parts);
}

static void
mark_unmapped(drift_t *d)
{
   const char *shown = shown_path(d);

   if (!g_hash_table_contains(d->seen, shown)) {
      char *copy = g_strdup(shown);
      g_ptr_array_add(d->order, copy);
      g_hash_table_add(d->seen, copy);
   }
}

/*
 * The coverage of the field just pushed (key: its name).  No path can name a field whose
 * name holds a ".": paths split at every "." (mapping/column.c), so `a.b` reads field b of
 * sub-document a, never a field named "a.b" beside it.  Such a field is unmapped whatever
 * the joined path would match (a column of `a.b`, an `ignore` of `a`), and it never enters
 * the coverage cache, whose keys are joined paths.
 */
static int
field_coverage(drift_t *d, const char *key)
{
   return strchr(key, '.') ? 0 : cached_coverage(d);
}

static void drift_walk(drift_t *d, bson_iter_t *it);

/*
 * The elements of the array at the current path: array elements add no path component,
 * at any depth (the rings of a polygon and their points are all at "geometry.coordinates").
 */
static void
drift_array(drift_t *d, const bson_iter_t *arr, bool scalars_ok, bool is_map)
{
   bson_iter_t child;

   if (!bson_iter_recurse(arr, &child)) {
      return;
   }
   while (bson_iter_next(&child)) {
      bson_iter_t grand;
      if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &grand)) {
         if (is_map) {
            /* elements iterated as maps (`each: $`, `each_as: map`): keys are data */
            gsize path_len = d->path->len;
            guint n_parts = d->parts->len;
            drift_push(d, "*", false);
            while (bson_iter_next(&grand)) {
               bson_iter_t value;
               if (BSON_ITER_HOLDS_DOCUMENT(&grand) && bson_iter_recurse(&grand, &value)) {
                  drift_walk(d, &value);
               }
            }
            drift_pop(d, path_len, n_parts);
         } else {
            drift_walk(d, &grand);
         }
      } else if (BSON_ITER_HOLDS_ARRAY(&child)) {
         drift_array(d, &child, scalars_ok, is_map);
      } else if (!scalars_ok && !mn_convert__is_nullish(&child)) {
         mark_unmapped(d);
      }
   }
}

/* Walk the fields below the current path. */
static void
drift_walk(drift_t *d, bson_iter_t *it)
{
   gsize path_len = d->path->len;
   guint n_parts = d->parts->len;

   while (bson_iter_next(it)) {
      int cov;
      bool is_map;

      drift_push(d, bson_iter_key(it), true);
      cov = field_coverage(d, bson_iter_key(it));
      is_map = (cov & COVERAGE_MAP) != 0;
      cov &= ~(COVERAGE_MAP | COVERAGE_EACH);
      if (cov == 0) {
         mark_unmapped(d);
      } else if (cov == 1 || cov == 3) {
         /* scalars here are mapped when `each` iterates this path (cov 3); otherwise the
          * mapping reads fields below and nothing reads a scalar */
         bool scalars_ok = cov == 3;
         bson_iter_t child;
         if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &child)) {
            if (is_map) {
               /* a map: its keys are data, not field names */
               drift_push(d, "*", false);
               while (bson_iter_next(&child)) {
                  bson_iter_t grand;
                  if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &grand)) {
                     drift_walk(d, &grand);
                  }
               }
            } else {
               drift_walk(d, &child);
            }
         } else if (BSON_ITER_HOLDS_ARRAY(it)) {
            drift_array(d, it, scalars_ok, is_map);
         } else if (!scalars_ok && !mn_convert__is_nullish(it)) {
            mark_unmapped(d);
         }
      }
      drift_pop(d, path_len, n_parts);
   }
}

/*
 * Count the document's unmapped paths, collapsed (see drift_t), each once, in walk
 * order.  The stats keep the names of the first MN_STATS_UNMAPPED_MAX of a collection
 * and only count the rest.
 */
void
mn_drift__count(GHashTable *cache, const mn_collection_t *coll, mn_stats_t *stats,
                const bson_t *doc)
{
   drift_t d = {.cache = cache, .coll = coll};
   bson_iter_t it;

   if (!bson_iter_init(&it, doc)) {
      return;
   }
   d.path = g_string_sized_new(128);
   d.shown = g_string_sized_new(128);
   d.parts = g_array_sized_new(FALSE, FALSE, sizeof(part_t), 16);
   d.seen = g_hash_table_new(g_str_hash, g_str_equal);
   d.order = g_ptr_array_new_with_free_func(g_free);
   drift_walk(&d, &it);
   if (d.order->len) {
      mn_stats_count_unmapped(stats, coll->name, (const char *const *)d.order->pdata, d.order->len);
   }
   g_hash_table_destroy(d.seen);
   g_ptr_array_free(d.order, TRUE);
   g_string_free(d.path, TRUE);
   g_string_free(d.shown, TRUE);
   g_array_free(d.parts, TRUE);
}

/* ---- the catch-all of `unmapped_to` ---- */

static bool unmapped_fields(drift_t *d, bson_iter_t *it, bson_t *out);

/*
 * The unmapped parts of the elements of the array at the current path (not one an entry
 * iterates), in out (an array), as drift_array judges them: a sub-document's unmapped
 * fields, an array's unmapped parts, a scalar nothing reads (scalars_ok: `$` of an
 * element reads them).  Positions are kept: an element with nothing unmapped is null.
 * Whether any element had something.
 */
static bool
unmapped_array(drift_t *d, const bson_iter_t *arr, bool scalars_ok, bson_t *out)
{
   bson_iter_t child;
   bool any = false;
   uint32_t i = 0;

   if (!bson_iter_recurse(arr, &child)) {
      return false;
   }
   for (; bson_iter_next(&child); i++) {
      char buf[16];
      const char *key;
      size_t klen = bson_uint32_to_string(i, &key, buf, sizeof buf);
      bson_t part = BSON_INITIALIZER;
      bson_iter_t grand;
      bool has = false;

      if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &grand)) {
         has =
            unmapped_fields(d, &grand, &part) && bson_append_document(out, key, (int)klen, &part);
      } else if (BSON_ITER_HOLDS_ARRAY(&child)) {
         has = unmapped_array(d, &child, scalars_ok, &part) &&
               bson_append_array(out, key, (int)klen, &part);
      } else if (!scalars_ok && !mn_convert__is_nullish(&child)) {
         has = bson_append_iter(out, key, (int)klen, &child);
      }
      if (!has) {
         bson_append_null(out, key, (int)klen);
      }
      any = any || has;
      bson_destroy(&part);
   }
   return any;
}

/*
 * The unmapped fields below the current path (it: a sub-document's fields) into out, as
 * drift_walk judges them, with their keys and structure: an unmapped field whole, a
 * sub-document or array the mapping reads parts of by its unmapped parts (when it has
 * any), a field an entry iterates not at all (its elements' own).  Whether any was.
 */
static bool
unmapped_fields(drift_t *d, bson_iter_t *it, bson_t *out)
{
   gsize path_len = d->path->len;
   guint n_parts = d->parts->len;
   bool any = false;

   while (bson_iter_next(it)) {
      const char *key = bson_iter_key(it);
      int cov;

      drift_push(d, key, true);
      cov = field_coverage(d, key);
      if (cov & (COVERAGE_EACH | COVERAGE_MAP)) {
         cov = 2; /* an entry's elements: their catch-all, not this one */
      }
      if (cov == 0) {
         any = bson_append_iter(out, key, -1, it) || any;
      } else if (cov == 1 || cov == 3) {
         bson_t part = BSON_INITIALIZER;
         bson_iter_t child;
         if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &child)) {
            any =
               (unmapped_fields(d, &child, &part) && bson_append_document(out, key, -1, &part)) ||
               any;
         } else if (BSON_ITER_HOLDS_ARRAY(it)) {
            any =
               (unmapped_array(d, it, cov == 3, &part) && bson_append_array(out, key, -1, &part)) ||
               any;
         } else if (cov == 1 && !mn_convert__is_nullish(it)) {
            any = bson_append_iter(out, key, -1, it) || any;
         }
         bson_destroy(&part);
      }
      drift_pop(d, path_len, n_parts);
   }
   return any;
}

/*
 * The fields of one element that drift counts as unmapped, copied into out (an empty
 * document) with their keys and structure; whether there were any.  elem_path is the
 * element's drift path (mn_entry_t.drift_path: "" for the document, "notes.*" for a map's
 * values), fields an iterator over its fields; cache the collection's coverage cache.
 */
bool
mn_drift__unmapped(GHashTable *cache, const mn_collection_t *coll, const char *elem_path,
                   bson_iter_t *fields, bson_t *out)
{
   drift_t d = {.cache = cache, .coll = coll};
   bool any;

   d.path = g_string_sized_new(128);
   d.shown = g_string_sized_new(128);
   d.parts = g_array_sized_new(FALSE, FALSE, sizeof(part_t), 16);
   for (const char *s = elem_path; *s;) {
      /* the element's own path: parts into the plan's string */
      part_t p = {s, strcspn(s, "."), true};
      p.is_key = !(p.len == 1 && s[0] == '*');
      if (d.path->len) {
         g_string_append_c(d.path, '.');
      }
      g_string_append_len(d.path, s, (gssize)p.len);
      g_array_append_val(d.parts, p);
      s += p.len;
      s += *s == '.';
   }
   any = unmapped_fields(&d, fields, out);
   g_string_free(d.path, TRUE);
   g_string_free(d.shown, TRUE);
   g_array_free(d.parts, TRUE);
   return any;
}
