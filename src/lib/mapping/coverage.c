/*
 * coverage.c - what a collection's entries read, worked out once it is parsed:
 * the covered, iterated and map paths that drift reporting compares documents
 * against, and the check that no path crosses an array its entry does not iterate.
 */
#include "mapping/mapping_private.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- covered paths, for drift reporting ---- */

/*
 * Drift paths have no array indexes ("loc.coordinates", not "loc.coordinates.0"), so a
 * path written with integer segments is listed twice: as written (for a sub-document
 * whose keys are "0", "1", ...) and without them (for an array).  Returns NULL when the
 * path has no integer segment.
 */
static char *
strip_indexes(const char *path)
{
   char *copy = bson_strdup(path);
   char *save = NULL;
   char *out = bson_strdup("");
   bool stripped = false;

   for (char *seg = strtok_r(copy, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
      int64_t ignored;
      char *next;
      if (mn_mapping__segment_index(seg, &ignored)) {
         stripped = true;
         continue;
      }
      next = *out ? bson_strdup_printf("%s.%s", out, seg) : bson_strdup(seg);
      bson_free(out);
      out = next;
   }
   bson_free(copy);
   if (!stripped) {
      bson_free(out);
      return NULL;
   }
   return out;
}

/* Add a path to a list of paths once (and its form without indexes, see above). */
static void
add_path_to(char ***list, size_t *n, const char *path, bool also_stripped)
{
   char *stripped = also_stripped ? strip_indexes(path) : NULL;
   bool found = false;

   for (size_t i = 0; i < *n && !found; i++) {
      found = strcmp((*list)[i], path) == 0;
   }
   if (!found && *path) {
      *list = bson_realloc(*list, (*n + 1) * sizeof(char *));
      (*list)[(*n)++] = bson_strdup(path);
   }
   if (stripped) {
      add_path_to(list, n, stripped, false);
      bson_free(stripped);
   }
}

static void
add_covered(mn_collection_t *coll, const char *path)
{
   add_path_to(&coll->covered, &coll->n_covered, path, true);
}

/* Absolute (document-relative) path of an entry's elements; "" for the document. */
static char *
entry_abs_path(mn_collection_t *coll, int index)
{
   mn_entry_t *e = &coll->entries[index];
   char *base;
   char *out;

   if (!e->each_kind) {
      return e->parent >= 0 ? entry_abs_path(coll, e->parent) : bson_strdup("");
   }
   base = e->parent >= 0 ? entry_abs_path(coll, e->parent) : bson_strdup("");
   if (e->each.n_segments == 0) {
      /* `each: $`: elements of an element add no path component, as in drift paths */
      out = base;
      base = NULL;
   } else {
      out = *base ? bson_strdup_printf("%s.%s", base, e->each.text) : bson_strdup(e->each.text);
   }
   bson_free(base);
   if (e->each_kind == MN_EACH_MAP) {
      char *keyed = bson_strdup_printf("%s.*", out);
      bson_free(out);
      out = keyed;
   }
   return out;
}

static void
add_iterated(mn_collection_t *coll, const char *path)
{
   add_path_to(&coll->iterated, &coll->n_iterated, path, true);
}

/*
 * The source paths a column reads, as drift reports them (absolute, from the document):
 * added to the collection's covered paths, or, for `$` of a scalar element, to the paths
 * whose scalar elements are mapped.  `$key` reads a map key, no path.
 */
static void
cover_column(mn_collection_t *coll, int entry, const mn_column_t *c)
{
   for (size_t p = 0; c->kind == MN_SRC_PATH && p < c->n_paths; p++) {
      const mn_path_t *path = &c->paths[p];
      char *base;
      char *rel;
      char *full;

      if (path->is_key) {
         continue;
      }
      if (path->root == MN_ROOT_ELEMENT && path->n_segments == 0 &&
          coll->entries[entry].each_kind && c->spec.type != MN_TYPE_JSONB &&
          c->spec.type != MN_TYPE_TEXT_ARRAY) {
         /* `$` of an element reads scalar elements, not the fields of sub-documents */
         char *abs = entry_abs_path(coll, entry);
         size_t n = strlen(abs);
         if (n > 2 && strcmp(abs + n - 2, ".*") == 0) {
            abs[n - 2] = '\0';
         }
         add_iterated(coll, abs);
         bson_free(abs);
         continue;
      }
      if (path->root == MN_ROOT_DOC) {
         base = bson_strdup("");
      } else if (path->root == MN_ROOT_PARENT) {
         int parent = coll->entries[entry].parent;
         base = parent >= 0 ? entry_abs_path(coll, parent) : bson_strdup("");
      } else {
         base = entry_abs_path(coll, entry);
      }
      rel = bson_strdup("");
      for (size_t s = 0; s < path->n_segments; s++) {
         char *next = *rel ? bson_strdup_printf("%s.%s", rel, path->segments[s])
                           : bson_strdup(path->segments[s]);
         bson_free(rel);
         rel = next;
      }
      if (*base && *rel) {
         full = bson_strdup_printf("%s.%s", base, rel);
      } else {
         full = bson_strdup(*base ? base : rel);
      }
      if (*full) {
         add_covered(coll, full);
      }
      bson_free(full);
      bson_free(rel);
      bson_free(base);
   }
}

/* ---- paths that cross arrays ---- */

static size_t
count_segments(const char *s)
{
   size_t n = *s ? 1 : 0;

   for (; *s; s++) {
      n += *s == '.';
   }
   return n;
}

/* Whether the segments of `a` begin `full` ("*" in `a`, a map key, matches any segment). */
static bool
segments_prefix(const char *a, const char *full)
{
   while (*a) {
      size_t la = strcspn(a, ".");
      size_t lf = strcspn(full, ".");
      if (!(la == 1 && a[0] == '*') && (la != lf || strncmp(a, full, la) != 0)) {
         return false;
      }
      a += la;
      full += lf;
      if (*a == '.') {
         a++;
         if (*full != '.') {
            return false;
         }
         full++;
      }
   }
   return true;
}

/*
 * The path as written: its root, segments [from, to), with `insert` placed before segment
 * `at` (or NULL).  path_text(p, 0, k, NULL, 0) is the first k segments.
 */
static char *
path_text(const mn_path_t *p, size_t from, size_t to, const char *insert, size_t at)
{
   const char *root = p->root == MN_ROOT_DOC      ? "$doc."
                      : p->root == MN_ROOT_PARENT ? "$parent."
                                                  : "";
   char *out = bson_strdup(from == 0 ? root : "");
   bool first = true;

   for (size_t s = from; s <= to && s <= p->n_segments; s++) {
      const char *parts[2] = {s == at ? insert : NULL, s < to ? p->segments[s] : NULL};
      for (int i = 0; i < 2; i++) {
         char *next;
         if (!parts[i]) {
            continue;
         }
         next = bson_strdup_printf("%s%s%s", out, first ? "" : ".", parts[i]);
         bson_free(out);
         out = next;
         first = false;
      }
   }
   return out;
}

/* An entry whose `each` value is known to be an array: not a map, split string or scalar. */
static bool
iterates_array(const mn_entry_t *e)
{
   return e->each_kind == MN_EACH_ARRAY && !e->split && !e->scalar_single;
}

/*
 * A path read from the context of entry `ctx` (-1: the document) that goes through an
 * array some entry iterates, without an index right after it: e.g. the primary row
 * reading "items.name" while entry "lines" iterates "items".  Such a path reads nothing
 * (its value is in the elements), so it is a mapping error, with the fix in the message.
 * `what` names the path's user ("column \"x\"", "\"when\"", "\"each\"").
 */
static bool
check_crossing(loader_t *ld, mn_collection_t *coll, int ctx, const mn_path_t *p, const char *what,
               bool is_each)
{
   char *base = ctx >= 0 ? entry_abs_path(coll, ctx) : bson_strdup("");
   const char *rel = p->joined ? p->joined : ""; /* without the $doc./$parent. root */
   size_t n_base = count_segments(base);
   size_t n_full;
   char *full;
   bool ok = true;

   full = *base && *rel ? bson_strdup_printf("%s.%s", base, rel) : bson_strdup(*base ? base : rel);
   n_full = count_segments(full);
   for (size_t i = 0; ok && p->n_segments && i < coll->n_entries; i++) {
      const mn_entry_t *f = &coll->entries[i];
      char *a;
      size_t n_a;

      if (!iterates_array(f)) {
         continue;
      }
      a = entry_abs_path(coll, (int)i);
      n_a = count_segments(a);
      if (n_a > n_base && n_a < n_full && segments_prefix(a, full) && !p->is_index[n_a - n_base]) {
         size_t k = n_a - n_base; /* the path's segments up to the array */
         char *array = path_text(p, 0, k, NULL, SIZE_MAX);
         char *after = path_text(p, k, p->n_segments, NULL, SIZE_MAX);
         char *indexed = path_text(p, 0, p->n_segments, "0", k);

         if (is_each) {
            mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                         "mapping file \"%s\", line %d: %s path \"%s\" crosses the array \"%s\" "
                         "that entry \"%s\" iterates: iterate \"%s\" in an entry with "
                         "\"parent: %s\", or pick one element: \"%s\"",
                         ld->y.name, p->line, what, p->text, array, f->name, after, f->name,
                         indexed);
         } else {
            mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                         "mapping file \"%s\", line %d: path \"%s\" of %s crosses the array "
                         "\"%s\" that entry \"%s\" iterates: read \"%s\" in an entry with "
                         "\"parent: %s\", or pick one element: \"%s\"",
                         ld->y.name, p->line, p->text, what, array, f->name, after, f->name,
                         indexed);
         }
         bson_free(array);
         bson_free(after);
         bson_free(indexed);
         ok = false;
      }
      bson_free(a);
   }
   bson_free(full);
   bson_free(base);
   return ok;
}

/* The context a path of entry `entry` starts from: its own, its parent's, the document's. */
static int
path_context(const mn_collection_t *coll, int entry, const mn_path_t *p)
{
   return p->root == MN_ROOT_DOC      ? -1
          : p->root == MN_ROOT_PARENT ? coll->entries[entry].parent
                                      : entry;
}

static bool
check_pred_crossings(loader_t *ld, mn_collection_t *coll, int entry, const mn_pred_t *p)
{
   if (p->path.n_segments && !check_crossing(ld, coll, path_context(coll, entry, &p->path),
                                             &p->path, "\"when\"", false)) {
      return false;
   }
   for (size_t i = 0; i < p->n_children; i++) {
      if (!check_pred_crossings(ld, coll, entry, &p->children[i])) {
         return false;
      }
   }
   return true;
}

bool
mn_mapping__check_crossings(loader_t *ld, mn_collection_t *coll)
{
   for (size_t i = 0; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];

      if (e->each_kind && !check_crossing(ld, coll, e->parent, &e->each, "\"each\"", true)) {
         return false;
      }
      if (e->when && !check_pred_crossings(ld, coll, (int)i, e->when)) {
         return false;
      }
      for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
         const mn_column_t *c = mn_mapping__entry_column(e, k);
         char what[300];

         snprintf(what, sizeof what, "column \"%s\"", c->name);
         for (size_t j = 0; c->kind == MN_SRC_PATH && j < c->n_paths; j++) {
            const mn_path_t *p = &c->paths[j];
            if (!p->is_key &&
                !check_crossing(ld, coll, path_context(coll, (int)i, p), p, what, false)) {
               return false;
            }
         }
      }
   }
   return true;
}

/* A drift path: p without its array indexes (strip_indexes), newly allocated. */
static char *
drift_form(const char *p)
{
   char *stripped = strip_indexes(p);

   return stripped ? stripped : bson_strdup(p);
}

/*
 * For `unmapped_to`: the drift path of each entry's elements (entry_abs_path without array
 * indexes), and the collection's list of fields entries iterate, whose fields belong to
 * those entries' elements and so to no enclosing element's catch-all: an entry's `each`
 * field below its parent's elements ("items"; a map's own field, "notes", not the values'
 * "notes.*"), or, for `each: $` over a map, any key of the parent's element ("rows.*").
 */
static void
compute_elements(mn_collection_t *coll)
{
   for (size_t i = 0; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];
      char *abs = entry_abs_path(coll, (int)i);
      char *field;

      e->drift_path = drift_form(abs);
      if (e->each_kind && e->each.n_segments > 0 && e->each_kind == MN_EACH_MAP) {
         abs[strlen(abs) - 2] = '\0'; /* drop ".*": the field iterated is the map */
      }
      field = drift_form(abs);
      if (e->each_kind && *field) {
         add_path_to(&coll->each_paths, &coll->n_each_paths, field, false);
      }
      bson_free(field);
      bson_free(abs);
   }
}

void
mn_mapping__compute_covered(mn_collection_t *coll)
{
   compute_elements(coll);
   add_covered(coll, "_id");
   for (size_t i = 0; i < coll->n_ignore; i++) {
      add_covered(coll, coll->ignore[i]);
   }
   for (size_t i = 0; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];
      for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
         cover_column(coll, (int)i, mn_mapping__entry_column(e, k));
      }
      /* Sub-document elements' own _id feeds the row id.  A map's keys are data. */
      if (e->each_kind) {
         char *abs = entry_abs_path(coll, (int)i);
         char *id = bson_strdup_printf("%s._id", abs);
         add_covered(coll, id);
         if (e->each_kind == MN_EACH_MAP) {
            abs[strlen(abs) - 2] = '\0'; /* drop ".*" */
            add_path_to(&coll->maps, &coll->n_maps, abs, true);
         }
         bson_free(id);
         bson_free(abs);
      }
   }
}
