/*
 * entry.c - the table entries of a collection: each entry's name, parent, `each`,
 * columns, shapes, `unique`, raw_to and doc_id column, the references resolved
 * once the whole file is read, and the collection item that holds the entries.
 * The parsers follow the rule at the head of mapping.c: fill *out as far as you
 * get, the caller cleans up.
 */
#include "mapping/mapping_private.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- table entries ---- */

static bool
add_columns(loader_t *ld, yaml_node_t *cols, const defaults_t *d, mn_table_t *t, mn_column_t **out,
            size_t *n_out)
{
   if (!expect_kind(ld, cols, YAML_MAPPING_NODE, "\"columns\"")) {
      return false;
   }
   for (yaml_node_pair_t *p = cols->data.mapping.pairs.start; p < cols->data.mapping.pairs.top;
        p++) {
      yaml_node_t *kn = node_at(ld, p->key);
      const char *name = scalar(kn);
      mn_column_t *c;

      if (!name) {
         fail(ld, MN_MAPPING_BAD_VALUE, kn, "column names must be scalars");
         return false;
      }
      if (strcmp(name, t->key) == 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, kn,
              "column \"%s\" is the table's key: mongonorm derives it (see docs/mapping.md)", name);
         return false;
      }
      for (size_t i = 0; i < *n_out; i++) {
         if (strcmp((*out)[i].name, name) == 0) {
            fail(ld, MN_MAPPING_BAD_VALUE, kn, "column \"%s\" is declared twice", name);
            return false;
         }
      }
      *out = bson_realloc(*out, (*n_out + 1) * sizeof **out);
      c = &(*out)[*n_out];
      (*n_out)++;
      if (!mn_mapping__parse_column(ld, name, node_at(ld, p->value), d, c)) {
         return false;
      }
      c->table_column = mn_mapping__table_column(t, name);
   }
   return true;
}

static const struct {
   const char *name;
   bson_type_t type;
} SHAPE_TYPES[] = {
   {"string", BSON_TYPE_UTF8},        {"document", BSON_TYPE_DOCUMENT},
   {"array", BSON_TYPE_ARRAY},        {"int", BSON_TYPE_INT32},
   {"long", BSON_TYPE_INT64},         {"double", BSON_TYPE_DOUBLE},
   {"decimal", BSON_TYPE_DECIMAL128}, {"bool", BSON_TYPE_BOOL},
   {"date", BSON_TYPE_DATE_TIME},     {"objectId", BSON_TYPE_OID},
};

/* How many columns an entry has, its `columns` and its shapes' together. */
size_t
mn_mapping__entry_n_columns(const mn_entry_t *e)
{
   size_t n = e->n_columns;

   for (size_t s = 0; s < e->n_shapes; s++) {
      n += e->shapes[s].n_columns;
   }
   return n;
}

/* Column k of an entry (k < entry_n_columns): its `columns` first, then each shape's. */
mn_column_t *
mn_mapping__entry_column(const mn_entry_t *e, size_t k)
{
   if (k < e->n_columns) {
      return &e->columns[k];
   }
   k -= e->n_columns;
   for (size_t s = 0; s < e->n_shapes; s++) {
      if (k < e->shapes[s].n_columns) {
         return &e->shapes[s].columns[k];
      }
      k -= e->shapes[s].n_columns;
   }
   return NULL;
}

void
mn_mapping__entry_cleanup(mn_entry_t *e)
{
   bson_free(e->name);
   bson_free(e->table);
   mn_mapping__path_cleanup(&e->each);
   bson_free(e->split);
   mn_mapping__pred_cleanup(e->when);
   bson_free(e->when);
   for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
      mn_mapping__column_cleanup(mn_mapping__entry_column(e, k));
   }
   bson_free(e->columns);
   for (size_t s = 0; s < e->n_shapes; s++) {
      bson_free(e->shapes[s].columns);
   }
   bson_free(e->shapes);
   bson_free(e->unique);
   bson_free(e->drift_path);
}

/* Every column of an entry, base then shapes, for checks. */
static mn_column_t *
entry_find_column(mn_entry_t *e, const char *name)
{
   for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
      if (strcmp(mn_mapping__entry_column(e, k)->name, name) == 0) {
         return mn_mapping__entry_column(e, k);
      }
   }
   return NULL;
}

/* Whether the rows of entry `index` are elements (it or an ancestor has `each`). */
static bool
entry_has_elements(const mn_collection_t *coll, int index)
{
   for (; index >= 0; index = coll->entries[index].parent) {
      if (coll->entries[index].each_kind) {
         return true;
      }
   }
   return false;
}

/*
 * The start of a named block, a collection or a table entry: n must be a mapping whose
 * `key` names it (`what` says what lacks it: "a collection").  *name is set as soon as it
 * is read (owned by the caller, like every partial result); `where` becomes
 * `<key> "<name>"` for messages; the keys of n must be among `keys`.
 */
static bool
open_block(loader_t *ld, yaml_node_t *n, const char *key, const char *what, const char *const *keys,
           char **name, char *where, size_t where_size)
{
   bool ok;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, what)) {
      return false;
   }
   *name = mn_mapping__get_string(ld, n, key, true, what, &ok);
   if (!ok) {
      return false;
   }
   snprintf(where, where_size, "%s \"%s\"", key, *name);
   return check_keys(ld, n, keys, where);
}

/* An entry's `name` (its table's unless given), which no other entry of coll may have. */
static bool
parse_entry_name(loader_t *ld, const mn_collection_t *coll, yaml_node_t *n, const char *where,
                 mn_entry_t *e)
{
   bool ok;

   e->name = mn_mapping__get_string(ld, n, "name", false, where, &ok);
   if (!ok) {
      return false;
   }
   if (!e->name) {
      e->name = bson_strdup(e->table);
   }
   for (size_t i = 0; i < coll->n_entries; i++) {
      if (strcmp(coll->entries[i].name, e->name) == 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, n,
              "entry name \"%s\" is used twice in collection \"%s\" (give each entry its own "
              "\"name\")",
              e->name, coll->name);
         return false;
      }
   }
   return true;
}

/* `parent: NAME`: an earlier entry of the collection, whose rows this one's hang from. */
static bool
parse_entry_parent(loader_t *ld, const mn_collection_t *coll, yaml_node_t *v, mn_entry_t *e)
{
   const char *pn = scalar(v);

   for (size_t i = 0; pn && i < coll->n_entries; i++) {
      if (strcmp(coll->entries[i].name, pn) == 0) {
         e->parent = (int)i;
      }
   }
   if (e->parent < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, v,
           "parent \"%s\" is not an earlier entry of collection \"%s\"", pn ? pn : "", coll->name);
      return false;
   }
   return true;
}

/*
 * What an entry iterates: `each` (a path, or `$` for the parent's element itself), read
 * as an array or a map (`each_as`), a string cut by `split`, and what a scalar where the
 * array should be gives (`on_scalar`).
 */
static bool
parse_entry_each(loader_t *ld, const mn_collection_t *coll, yaml_node_t *n, const char *where,
                 mn_entry_t *e)
{
   static const char *const EACH_AS[] = {"array", "map", NULL};
   static const char *const ON_SCALAR[] = {"reject", "single", NULL};
   yaml_node_t *v;
   bool ok;
   int choice;

   if ((v = map_get(ld, n, "each"))) {
      /* `each: $` iterates the parent's element itself (arrays of arrays) */
      bool self = scalar(v) && strcmp(scalar(v), "$") == 0;
      if (!mn_mapping__parse_path_value(ld, v, "each", self, &e->each)) {
         return false;
      }
      if (self && !entry_has_elements(coll, e->parent)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v,
              "\"each: $\" iterates the parent entry's element itself, so it needs a "
              "\"parent\" entry with \"each\"");
         return false;
      }
      e->each_kind = MN_EACH_ARRAY;
   }
   if ((v = map_get(ld, n, "each_as"))) {
      if ((choice = mn_mapping__parse_choice(ld, v, "each_as", EACH_AS)) < 0) {
         return false;
      }
      if (!e->each_kind) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"each_as\" needs \"each\"");
         return false;
      }
      e->each_kind = choice == 0 ? MN_EACH_ARRAY : MN_EACH_MAP;
   }
   e->split = mn_mapping__get_string(ld, n, "split", false, where, &ok);
   if (!ok) {
      return false;
   }
   if (e->split && (!e->each_kind || !*e->split)) {
      fail(ld, MN_MAPPING_BAD_VALUE, map_get(ld, n, "split"),
           "\"split\" needs \"each\" and a non-empty separator");
      return false;
   }
   if ((v = map_get(ld, n, "on_scalar"))) {
      if ((choice = mn_mapping__parse_choice(ld, v, "on_scalar", ON_SCALAR)) < 0) {
         return false;
      }
      e->scalar_single = choice == 1;
   }
   return true;
}

/* The BSON type a shape is named after, or false. */
static bool
shape_type(const char *name, bson_type_t *out)
{
   for (size_t i = 0; name && i < sizeof SHAPE_TYPES / sizeof SHAPE_TYPES[0]; i++) {
      if (strcmp(SHAPE_TYPES[i].name, name) == 0) {
         *out = SHAPE_TYPES[i].type;
         return true;
      }
   }
   return false;
}

/*
 * `shapes: {string: {...}, document: {...}}`: per BSON type of an element, the columns
 * its rows add to the entry's `columns` (none may be declared in both).
 */
static bool
parse_shapes(loader_t *ld, yaml_node_t *v, const defaults_t *d, mn_table_t *t, mn_entry_t *e)
{
   if (!e->each_kind) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"shapes\" needs \"each\"");
      return false;
   }
   if (!expect_kind(ld, v, YAML_MAPPING_NODE, "\"shapes\"")) {
      return false;
   }
   for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = node_at(ld, p->key);
      const char *tn = scalar(kn);
      bson_type_t type;
      mn_shape_t *s;

      if (!shape_type(tn, &type)) {
         fail(ld, MN_MAPPING_BAD_VALUE, kn,
              "unrecognized shape \"%s\" (expected a BSON type: string, document, array, int, "
              "long, double, decimal, bool, date, objectId)",
              tn ? tn : "");
         return false;
      }
      e->shapes = bson_realloc(e->shapes, (e->n_shapes + 1) * sizeof *e->shapes);
      s = &e->shapes[e->n_shapes++];
      memset(s, 0, sizeof *s);
      s->type = type;
      if (!add_columns(ld, node_at(ld, p->value), d, t, &s->columns, &s->n_columns)) {
         return false;
      }
      for (size_t i = 0; i < s->n_columns; i++) {
         for (size_t j = 0; j < e->n_columns; j++) {
            if (strcmp(s->columns[i].name, e->columns[j].name) == 0) {
               fail(ld, MN_MAPPING_BAD_VALUE, kn,
                    "column \"%s\" is declared both in \"columns\" and in shape \"%s\"",
                    s->columns[i].name, tn);
               return false;
            }
         }
      }
   }
   return true;
}

/*
 * `unmapped_to: COLUMN`: the entry's catch-all, a jsonb column receiving the fields of its
 * element that nothing maps (docs/mapping.md), appended as the last of its `columns`.  Its
 * invalid values (a string that is not UTF-8) follow the collection's `on_invalid`.
 */
static bool
parse_unmapped_to(loader_t *ld, yaml_node_t *v, const defaults_t *d, mn_table_t *t, mn_entry_t *e)
{
   const char *name = scalar(v);
   mn_column_t *c;

   if (!name || !*name) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"unmapped_to\" takes a column name");
      return false;
   }
   if (strcmp(name, t->key) == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "\"unmapped_to\" column \"%s\" is the table's key: give the catch-all a column of "
           "its own",
           name);
      return false;
   }
   if ((c = entry_find_column(e, name))) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "\"unmapped_to\" column \"%s\" is also a column of the entry (line %d): give the "
           "catch-all a column of its own",
           name, c->line);
      return false;
   }
   e->columns = bson_realloc(e->columns, (e->n_columns + 1) * sizeof *e->columns);
   c = &e->columns[e->n_columns++];
   memset(c, 0, sizeof *c);
   c->name = bson_strdup(name);
   c->line = LINE(v);
   c->kind = MN_SRC_UNMAPPED;
   c->raw_to = -1;
   c->ref_collection = -1;
   c->spec.type = MN_TYPE_JSONB;
   c->spec.scale = -1;
   c->on_invalid = d->on_invalid;
   c->on_missing = d->on_missing;
   c->on_missing_reference = d->on_missing_reference;
   c->table_column = mn_mapping__table_column(t, name);
   return true;
}

/*
 * The table an entry writes (`table`, with `key`, "id" unless given: every entry feeding
 * one table must give the same), and its columns and shapes, whose names join the table's.
 */
static bool
parse_entry_columns(loader_t *ld, yaml_node_t *n, int coll_index, const defaults_t *d,
                    const char *where, mn_entry_t *e)
{
   mn_mapping_t *m = ld->m;
   char *key;
   yaml_node_t *v;
   mn_table_t *t;
   bool ok;

   key = mn_mapping__get_string(ld, n, "key", false, where, &ok);
   if (!ok) {
      return false;
   }
   e->table_index = mn_mapping__table_find(m, e->table);
   if (e->table_index < 0) {
      e->table_index = mn_mapping__table_add(m, e->table, key ? key : "id", coll_index);
   } else if (strcmp(m->tables[e->table_index].key, key ? key : "id") != 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "table \"%s\" is given two different keys", e->table);
      ok = false;
   }
   bson_free(key);
   if (!ok) {
      return false;
   }
   t = &m->tables[e->table_index];
   if (!(v = map_get(ld, n, "columns"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"columns\" in %s", where);
      return false;
   }
   if (!add_columns(ld, v, d, t, &e->columns, &e->n_columns)) {
      return false;
   }
   return (!(v = map_get(ld, n, "shapes")) || parse_shapes(ld, v, d, t, e)) &&
          (!(v = map_get(ld, n, "flatten")) || mn_mapping__parse_flatten(ld, v, d, t, e)) &&
          (!(v = map_get(ld, n, "unmapped_to")) || parse_unmapped_to(ld, v, d, t, e));
}

/* `unique: [columns]`: the entry's key for duplicates, as table column indexes. */
static bool
parse_unique(loader_t *ld, yaml_node_t *v, const char *where, mn_entry_t *e)
{
   size_t count;

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"unique\"")) {
      return false;
   }
   count = mn_yaml__n_items(v);
   e->unique = bson_malloc0(sizeof(int) * (count + 1));
   for (size_t i = 0; i < count; i++) {
      yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
      mn_column_t *c = scalar(item) ? entry_find_column(e, scalar(item)) : NULL;
      if (!c) {
         fail(ld, MN_MAPPING_BAD_REFERENCE, item, "unique column \"%s\" is not a column of %s",
              scalar(item) ? scalar(item) : "", where);
         return false;
      }
      if (c->redact) {
         /* one replacement for every row: the key would hold it twice (a constant) or be
          * judged on nothing (NULL), and rejects would change */
         fail(ld, MN_MAPPING_BAD_VALUE, item,
              "unique column \"%s\" of %s is redacted, so its rows cannot be told apart "
              "(hash it with \"transform: [sha256]\" instead: equal values give equal "
              "digests)",
              c->name, where);
         return false;
      }
      e->unique[i] = c->table_column;
      e->n_unique = i + 1;
      if (c->kind == MN_SRC_DOC_ID) {
         e->unique_per_doc = true;
      }
   }
   return true;
}

/* raw_to: a column of the same entry, or one only raw_to writes (added to the table). */
static bool
resolve_raw_to(loader_t *ld, mn_table_t *t, mn_entry_t *e)
{
   for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
      mn_column_t *c = mn_mapping__entry_column(e, k);
      mn_column_t *target;

      if (!c->raw_to_name) {
         continue;
      }
      target = entry_find_column(e, c->raw_to_name);
      if (target && target->kind == MN_SRC_UNMAPPED) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "mapping file \"%s\", line %d: \"raw_to\" of column \"%s\" names "
                      "column \"%s\", the entry's \"unmapped_to\": give the source text a "
                      "text column",
                      ld->y.name, c->line, c->name, target->name);
         return false;
      }
      if (target && MN_COLUMN_IS_PHI(target)) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "mapping file \"%s\", line %d: \"raw_to\" of column \"%s\" names "
                      "column \"%s\", which is %s: the source text would be stored in it",
                      ld->y.name, c->line, c->name, target->name,
                      target->redact ? "redacted" : "hashed");
         return false;
      }
      c->raw_to = target ? target->table_column : mn_mapping__table_column(t, c->raw_to_name);
   }
   return true;
}

/* The table column holding the document id (`value: doc_id`), one per entry at most. */
static bool
find_doc_id_column(loader_t *ld, yaml_node_t *n, const char *where, mn_entry_t *e)
{
   for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
      const mn_column_t *c = mn_mapping__entry_column(e, k);

      if (c->kind != MN_SRC_DOC_ID) {
         continue;
      }
      if (e->doc_id_column >= 0 && e->doc_id_column != c->table_column) {
         fail(ld, MN_MAPPING_BAD_VALUE, n, "%s has two doc_id columns", where);
         return false;
      }
      e->doc_id_column = c->table_column;
   }
   return true;
}

/*
 * One entry of a collection's `tables`: a table and the rows it gets from each document
 * (the document itself, or the elements `each` iterates, filtered by `when`).  Names and
 * parents refer to the entries before it in `coll`.
 */
static bool
parse_entry(loader_t *ld, mn_collection_t *coll, int coll_index, yaml_node_t *n,
            const defaults_t *d, mn_entry_t *e)
{
   static const char *const keys[] = {
      "table",     "name",           "parent",  "each",         "each_as", "split",
      "on_scalar", "when",           "unique",  "on_duplicate", "key",     "columns",
      "shapes",    "on_other_shape", "flatten", "unmapped_to",  NULL};
   static const char *const ON_DUP[] = {"reject", "merge", NULL};
   static const char *const ON_OTHER[] = {"reject", "skip_row", NULL};
   char where[300];
   yaml_node_t *v;
   int choice;

   memset(e, 0, sizeof *e);
   e->parent = -1;
   e->doc_id_column = -1;
   e->line = LINE(n);
   if (!open_block(ld, n, "table", "a table entry", keys, &e->table, where, sizeof where)) {
      return false;
   }
   if (!parse_entry_name(ld, coll, n, where, e) ||
       ((v = map_get(ld, n, "parent")) && !parse_entry_parent(ld, coll, v, e)) ||
       !parse_entry_each(ld, coll, n, where, e)) {
      return false;
   }
   if ((v = map_get(ld, n, "when"))) {
      e->when = bson_malloc0(sizeof *e->when);
      if (!mn_mapping__parse_pred(ld, v, e->when)) {
         return false;
      }
   }
   if ((v = map_get(ld, n, "on_duplicate"))) {
      if ((choice = mn_mapping__parse_choice(ld, v, "on_duplicate", ON_DUP)) < 0) {
         return false;
      }
      e->duplicate_merge = choice == 1;
   }
   if ((v = map_get(ld, n, "on_other_shape"))) {
      if ((choice = mn_mapping__parse_choice(ld, v, "on_other_shape", ON_OTHER)) < 0) {
         return false;
      }
      e->other_shape_skip = choice == 1;
   }
   return parse_entry_columns(ld, n, coll_index, d, where, e) &&
          (!(v = map_get(ld, n, "unique")) || parse_unique(ld, v, where, e)) &&
          resolve_raw_to(ld, &ld->m->tables[e->table_index], e) &&
          find_doc_id_column(ld, n, where, e);
}

/* references are resolved once the whole file is read: the collection may come later. */
bool
mn_mapping__resolve_column(loader_t *ld, mn_column_t *c)
{
   if (!c->references) {
      return true;
   }
   for (size_t i = 0; i < ld->m->n_collections; i++) {
      if (strcmp(ld->m->collections[i].name, c->references) == 0) {
         c->ref_collection = (int)i;
      }
   }
   if (c->ref_collection < 0) {
      mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_REFERENCE,
                   "mapping file \"%s\", line %d: column \"%s\" references collection \"%s\", "
                   "which the mapping does not declare",
                   ld->y.name, c->line, c->name, c->references);
      return false;
   }
   if (c->spec.type != MN_TYPE_UUID) {
      mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                   "mapping file \"%s\", line %d: column \"%s\" references a collection, so its "
                   "type must be uuid",
                   ld->y.name, c->line, c->name);
      return false;
   }
   return true;
}

/* `tables:` of a collection: its entries, in order, the first its primary row. */
static bool
parse_entries(loader_t *ld, yaml_node_t *v, int index, const defaults_t *d, const char *where,
              mn_collection_t *coll)
{
   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"tables\"")) {
      return false;
   }
   for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
        it++) {
      mn_entry_t *e;

      coll->entries = bson_realloc(coll->entries, (coll->n_entries + 1) * sizeof *coll->entries);
      e = &coll->entries[coll->n_entries];
      if (!parse_entry(ld, coll, index, node_at(ld, *it), d, e)) {
         coll->n_entries++;
         return false;
      }
      coll->n_entries++;
   }
   if (coll->n_entries == 0) {
      fail(ld, MN_MAPPING_MISSING_KEY, v, "%s maps to no table", where);
      return false;
   }
   return true;
}

/*
 * The tables' roles: the first entry feeds its table's primary rows (one per document, so
 * no each, when or parent), and every other entry puts the document id in one column of
 * its table, the same for every entry feeding that table (re-runs find the rows by it).
 */
static bool
check_entry_tables(loader_t *ld, yaml_node_t *v, const char *where, mn_collection_t *coll)
{
   mn_entry_t *primary = &coll->entries[0];

   if (primary->each_kind || primary->when || primary->parent >= 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "the first table of %s must be its primary row: no \"each\", \"when\" or \"parent\"",
           where);
      return false;
   }
   ld->m->tables[primary->table_index].is_primary = true;
   ld->m->tables[primary->table_index].doc_id_column = 0;
   for (size_t i = 1; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];
      mn_table_t *t = &ld->m->tables[e->table_index];
      if (e->table_index == primary->table_index) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "mapping file \"%s\", line %d: table \"%s\" holds the primary rows of %s "
                      "and cannot be fed by another entry",
                      ld->y.name, e->line, e->table, where);
         return false;
      }
      if (e->doc_id_column < 0) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_MISSING_KEY,
                      "mapping file \"%s\", line %d: table \"%s\" needs a column with "
                      "\"value: doc_id\" (how its rows are found again for re-runs)",
                      ld->y.name, e->line, e->table);
         return false;
      }
      if (t->doc_id_column >= 0 && t->doc_id_column != e->doc_id_column) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "mapping file \"%s\", line %d: every entry feeding table \"%s\" must put "
                      "doc_id in the same column",
                      ld->y.name, e->line, e->table);
         return false;
      }
      t->doc_id_column = e->doc_id_column;
   }
   return true;
}

/*
 * One item of `collections`: the source collection's name and options (watermark,
 * optional, max_rows_per_document, defaults, ignore), then its table entries.
 */
bool
mn_mapping__parse_collection(loader_t *ld, yaml_node_t *n, int index, mn_collection_t *coll)
{
   static const char *const keys[] = {"collection",
                                      "ignore",
                                      "watermark",
                                      "defaults",
                                      "tables",
                                      "optional",
                                      "max_rows_per_document",
                                      NULL};
   defaults_t d = {MN_ON_REJECT, MN_ON_REJECT, MN_ON_REJECT};
   char where[300];
   yaml_node_t *v;
   bool ok;
   int max_rows;

   memset(coll, 0, sizeof *coll);
   coll->line = LINE(n);
   if (!open_block(ld, n, "collection", "a collection", keys, &coll->name, where, sizeof where)) {
      return false;
   }
   coll->watermark = mn_mapping__get_string(ld, n, "watermark", false, where, &ok);
   if (!ok) {
      return false;
   }
   if ((v = map_get(ld, n, "optional")) &&
       !mn_mapping__parse_bool(ld, v, "optional", &coll->optional)) {
      return false;
   }
   coll->max_rows = MN_MAX_ROWS_DEFAULT;
   if ((v = map_get(ld, n, "max_rows_per_document"))) {
      if (!mn_mapping__parse_int(ld, v, "max_rows_per_document", 1, INT_MAX, &max_rows)) {
         return false;
      }
      coll->max_rows = (size_t)max_rows;
   }
   if ((v = map_get(ld, n, "defaults")) && !mn_mapping__parse_defaults(ld, v, &d)) {
      return false;
   }
   if ((v = map_get(ld, n, "ignore")) &&
       (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"ignore\"") ||
        !mn_yaml__strings(&ld->y, v, false, "\"ignore\" entries must be field paths", &coll->ignore,
                          &coll->n_ignore))) {
      return false;
   }
   if (!(v = map_get(ld, n, "tables"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"tables\" in %s", where);
      return false;
   }
   return parse_entries(ld, v, index, &d, where, coll) && check_entry_tables(ld, v, where, coll);
}
