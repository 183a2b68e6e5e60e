/*
 * draft_elem.c - what the draft makes of the values at one path: a typed column, flattened
 * columns for a sub-document, a jsonb column, a child table for an array (one row per
 * element, grandchildren for arrays in the elements, `each: $` for arrays of arrays), a
 * child table with a key column for a map.  docs/infer.md gives the rules and why.
 */
#include "infer/infer_private.h"

#include <string.h>

/* Share (percent) of one type above which the others are a typed column's strays. */
#define DOMINANT_PCT 90

char *
mn_infer__join(const char *rel, const char *key)
{
   return *rel ? g_strdup_printf("%s.%s", rel, key) : g_strdup(key);
}

static char *
join_name(const char *prefix, const char *name)
{
   return *prefix ? g_strdup_printf("%s_%s", prefix, name) : g_strdup(name);
}

/* "string 12, int32 3, null 1" for a REVIEW note; a new string. */
char *
mn_infer__types_summary(const mn_infer__node_t *n)
{
   GString *s = g_string_new(NULL);

   for (int i = 0; i < MN_INFER__N_TYPES; i++) {
      if (n->types[i]) {
         g_string_append_printf(s, "%s%s %" G_GUINT64_FORMAT, s->len ? ", " : "",
                                mn_infer__type_name(i), n->types[i]);
      }
   }
   return g_string_free(s, FALSE);
}

static uint64_t
slot_count(const mn_infer__node_t *n, bson_type_t t)
{
   return n->types[mn_infer__slot(t)];
}

/* The type of one BSON type's values alone, or NULL when only jsonb holds them. */
const char *
mn_infer__type_of_slot(const mn_infer__node_t *n, bson_type_t t)
{
   switch (t) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
      return n->int_min >= INT32_MIN && n->int_max <= INT32_MAX ? "integer" : "bigint";
   case BSON_TYPE_DOUBLE: return "double precision";
   case BSON_TYPE_DECIMAL128: return "numeric";
   case BSON_TYPE_UTF8: return "text";
   case BSON_TYPE_BOOL: return "boolean";
   case BSON_TYPE_DATE_TIME:
   case BSON_TYPE_TIMESTAMP: return "timestamptz";
   case BSON_TYPE_OID: return "text";
   case BSON_TYPE_BINARY: return n->bin_uuid == slot_count(n, BSON_TYPE_BINARY) ? "uuid" : NULL;
   default: return NULL;
   }
}

/* The type family of a BSON type: numbers together, dates together, others alone. */
static int
family(bson_type_t t)
{
   switch (t) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128: return 1;
   case BSON_TYPE_DATE_TIME:
   case BSON_TYPE_TIMESTAMP: return 2;
   default: return 10 + (int)t;
   }
}

static const bson_type_t SCALARS[] = {
   BSON_TYPE_INT32,  BSON_TYPE_INT64,     BSON_TYPE_DOUBLE,     BSON_TYPE_DECIMAL128,
   BSON_TYPE_UTF8,   BSON_TYPE_BOOL,      BSON_TYPE_DATE_TIME,  BSON_TYPE_TIMESTAMP,
   BSON_TYPE_OID,    BSON_TYPE_BINARY,    BSON_TYPE_REGEX,      BSON_TYPE_DBPOINTER,
   BSON_TYPE_CODE,   BSON_TYPE_SYMBOL,    BSON_TYPE_CODEWSCOPE, BSON_TYPE_MINKEY,
   BSON_TYPE_MAXKEY, BSON_TYPE_UNDEFINED,
};
#define N_SCALARS (sizeof SCALARS / sizeof SCALARS[0])

const char *
mn_infer__scalar_type(const mn_infer__node_t *n, bool *mixed)
{
   int fam = 0;
   bool textual = true;
   bool many = false;

   *mixed = false;
   for (size_t i = 0; i < N_SCALARS; i++) {
      bson_type_t t = SCALARS[i];
      if (!slot_count(n, t)) {
         continue;
      }
      many |= fam && fam != family(t);
      fam = family(t);
      textual &= t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
                 t == BSON_TYPE_DECIMAL128 || t == BSON_TYPE_UTF8 || t == BSON_TYPE_BOOL ||
                 t == BSON_TYPE_DATE_TIME || t == BSON_TYPE_OID;
   }
   if (many) {
      *mixed = true;
      return textual ? "text" : "jsonb";
   }
   if (fam == 1) {
      if (slot_count(n, BSON_TYPE_DECIMAL128) ||
          (slot_count(n, BSON_TYPE_DOUBLE) &&
           (slot_count(n, BSON_TYPE_INT32) || slot_count(n, BSON_TYPE_INT64)))) {
         return "numeric";
      }
      return slot_count(n, BSON_TYPE_DOUBLE) ? "double precision"
                                             : mn_infer__type_of_slot(n, BSON_TYPE_INT64);
   }
   for (size_t i = 0; i < N_SCALARS; i++) {
      if (slot_count(n, SCALARS[i])) {
         const char *t = mn_infer__type_of_slot(n, SCALARS[i]);
         return t ? t : "jsonb";
      }
   }
   return "text"; /* only nulls: any type holds them */
}

/* A dominant non-string type with a few strings: that type, the strings kept by raw_to. */
static bson_type_t
dominant_with_strings(const mn_infer__node_t *n)
{
   uint64_t nn = mn_infer__non_null(n);
   uint64_t strings = slot_count(n, BSON_TYPE_UTF8);

   for (size_t i = 0; i < N_SCALARS; i++) {
      bson_type_t t = SCALARS[i];
      uint64_t c = slot_count(n, t);
      const char *type = mn_infer__type_of_slot(n, t);
      if (t != BSON_TYPE_UTF8 && c && type && strcmp(type, "text") != 0 && c + strings == nn &&
          c * 100 >= nn * DOMINANT_PCT) {
         return t;
      }
   }
   return BSON_TYPE_EOD;
}

static mn_infer__table_t *
table_at(mn_infer__dcoll_t *dc, int entry)
{
   return g_ptr_array_index(dc->tables, entry);
}

static mn_infer__col_t *
add_column(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry, const char *name,
           const char *path, const char *type)
{
   mn_infer__col_t *c = mn_infer__col_new(name, MN_INFER__SRC_PATH, path, type);

   c->shape = d->cur_shape;
   mn_infer__table_add_col(table_at(dc, entry), c);
   return c;
}

/* A jsonb column for the whole value at rel, with a note. */
void
mn_infer__jsonb_column(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                       const mn_infer__node_t *n, const char *rel, const char *prefix, bool review,
                       const char *why)
{
   mn_infer__col_t *c =
      add_column(d, dc, entry, *prefix ? prefix : "value", *rel ? rel : "$", "jsonb");
   char *types = mn_infer__types_summary(n);

   if (slot_count(n, BSON_TYPE_UNDEFINED)) {
      c->lenient = true; /* undefined converts to nothing, not even jsonb */
   }
   mn_infer__col_note(d, c, review, "%s (%s)", why, types);
   g_free(types);
}

/* A column for scalar values. */
void
mn_infer__scalar_column(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                        const mn_infer__node_t *n, const char *rel, const char *prefix)
{
   bool mixed;
   const char *type = mn_infer__scalar_type(n, &mixed);
   bson_type_t dom = mixed ? dominant_with_strings(n) : BSON_TYPE_EOD;
   const char *name = *prefix ? prefix : "value";
   mn_infer__col_t *c;
   char *types = mn_infer__types_summary(n);

   if (n->kind == MN_INFER__FIELD && strcmp(n->key, "_id") == 0 && strcmp(type, "jsonb") != 0) {
      /* an _id is looked up, not computed with: its text, whatever its types */
      dom = BSON_TYPE_EOD;
      type = "text";
   }
   if (n->ref_collection && !mixed && mn_infer__find_coll(d->survey, n->ref_collection)) {
      c = add_column(d, dc, entry, name, *rel ? rel : "$", "uuid");
      c->references = g_strdup(n->ref_collection);
      mn_infer__col_note(d, c, false, "references %s: %" G_GUINT64_FORMAT " of %u sampled ids",
                         n->ref_collection, n->ref_hits, g_hash_table_size(n->oids));
   } else if (dom != BSON_TYPE_EOD) {
      char *raw = g_strdup_printf("%s_raw", name);
      c = add_column(d, dc, entry, name, *rel ? rel : "$", mn_infer__type_of_slot(n, dom));
      c->lenient = true;
      c->raw_to = mn_infer__unique_name(table_at(dc, entry)->taken, raw);
      mn_infer__col_note(d, c, true,
                         "mostly %s, some strings (%s): strings that do not convert "
                         "are kept in %s",
                         mn_infer__type_name(mn_infer__slot(dom)), types, c->raw_to);
      g_free(raw);
   } else {
      c = add_column(d, dc, entry, name, *rel ? rel : "$", type);
      c->lenient = slot_count(n, BSON_TYPE_UNDEFINED) > 0;
      if (mixed) {
         mn_infer__col_note(d, c, true, "mixed types (%s): stored as %s", types, type);
      } else if (c->lenient) {
         mn_infer__col_note(d, c, true, "undefined values (%s) are stored as NULL", types);
      } else if (!mn_infer__non_null(n)) {
         mn_infer__col_note(d, c, true, "always null (%s): type unknown", types);
      }
   }
   g_free(types);
}

/* GeoJSON: {type, coordinates} (or geometries), and at most bbox and crs besides. */
static bool
is_geojson(const mn_infer__node_t *n)
{
   static const char *const keys[] = {"type", "coordinates", "geometries", "bbox", "crs"};
   bool type = false;
   bool coords = false;

   for (guint i = 0; n->order && i < n->order->len; i++) {
      const mn_infer__node_t *c = g_ptr_array_index(n->order, i);
      bool known = false;
      for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
         known |= strcmp(c->key, keys[k]) == 0;
      }
      if (!known) {
         return false;
      }
      type |= strcmp(c->key, "type") == 0 && c->types[mn_infer__slot(BSON_TYPE_UTF8)];
      coords |= strcmp(c->key, "coordinates") == 0 || strcmp(c->key, "geometries") == 0;
   }
   return type && coords;
}

/* The fields of sub-documents at rel as columns (and child tables), or a jsonb column. */
void
mn_infer__draft_document(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                         const mn_infer__node_t *n, const char *rel, const char *prefix)
{
   if (n->data_keys && !n->order) {
      mn_infer__draft_array(d, dc, entry, n, rel, prefix, true);
      return;
   }
   if (n->data_keys) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, true,
                             "keys that look like data beside field names");
      return;
   }
   if (is_geojson(n)) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, false, "GeoJSON");
      return;
   }
   if (n->overflow) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, true, "more paths than --max-paths");
      return;
   }
   if (g_hash_table_contains(d->as_jsonb, n)) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, true, "more columns than --max-columns");
      return;
   }
   if (n->depth - table_at(dc, entry)->depth0 >= d->survey->opts.depth || !n->order) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, false,
                             !n->order ? "always empty" : "nested deeper than --depth");
      return;
   }
   if (!*rel) {
      table_at(dc, entry)->catch_all = true; /* the element's own fields */
   }
   for (guint i = 0; i < n->order->len; i++) {
      const mn_infer__node_t *c = g_ptr_array_index(n->order, i);
      char *path = mn_infer__join(rel, c->key);
      char *snake = *prefix || strcmp(c->key, "_id") != 0 ? mn_infer__snake(c->key, c->klen)
                                                          : g_strdup("mongo_id");
      char *name = join_name(prefix, snake);
      mn_infer__draft_value(d, dc, entry, c, path, name);
      g_free(name);
      g_free(snake);
      g_free(path);
   }
}

void
mn_infer__draft_value(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                      const mn_infer__node_t *n, const char *rel, const char *prefix)
{
   uint64_t docs = slot_count(n, BSON_TYPE_DOCUMENT);
   uint64_t arrays = slot_count(n, BSON_TYPE_ARRAY);
   uint64_t scalars = mn_infer__non_null(n) - docs - arrays;

   if (g_hash_table_contains(d->as_ignore, n)) {
      /* no column: the field is unmapped, so the table's catch-all keeps it */
      g_ptr_array_add(table_at(dc, entry)->capped, g_strdup(rel));
   } else if (arrays) {
      mn_infer__draft_array(d, dc, entry, n, rel, prefix, false);
   } else if (docs && scalars) {
      mn_infer__jsonb_column(d, dc, entry, n, rel, prefix, true, "sub-documents and scalars");
   } else if (docs) {
      mn_infer__draft_document(d, dc, entry, n, rel, prefix);
   } else {
      mn_infer__scalar_column(d, dc, entry, n, rel, prefix);
   }
}
