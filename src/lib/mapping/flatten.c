/*
 * flatten.c - `flatten:` of a table entry: the fields of a sub-document as prefixed
 * columns.  It is expanded here, when the mapping loads, into ordinary path columns of
 * the entry (appended to its `columns`), so the converter, drift coverage, the catalog
 * check and verify see nothing new.  The parsers follow the rule at the head of
 * mapping.c: fill *out as far as you get, the caller cleans up.
 */
#include "mapping/mapping_private.h"

#include <string.h>

/* PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1): longer ones are cut short. */
#define MN_PG_NAME_MAX 63

/*
 * s in snake_case, appended to out: an ASCII capital letter is lowercased, with "_" before
 * it when it follows a lowercase letter or a digit (`birthDate` -> `birth_date`); any
 * other ASCII character that is not a letter or a digit becomes "_" (`address.city` ->
 * `address_city`); other bytes (UTF-8) stay as they are.
 */
static void
append_snake(bson_string_t *out, const char *s)
{
   for (size_t i = 0; s[i]; i++) {
      unsigned char ch = (unsigned char)s[i];
      unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : 0;

      if (ch >= 'A' && ch <= 'Z') {
         if ((prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')) {
            bson_string_append_c(out, '_');
         }
         bson_string_append_c(out, (char)(ch - 'A' + 'a'));
      } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80) {
         bson_string_append_c(out, (char)ch);
      } else {
         bson_string_append_c(out, '_');
      }
   }
}

/* One `flatten` item being expanded. */
typedef struct {
   const char *path;  /* the sub-document's path, as written */
   char *prefix;      /* of the column names; owned */
   size_t n_explicit; /* the entry's own `columns` come first in e->columns */
   const char *t_key; /* the table's key column */
} flat_t;

/* The hint every name error ends with. */
#define NAME_HINT "(give the flatten another \"prefix\", or the column a name with \"column:\")"

/*
 * Whether column `name` (made by flatten f, at node at) may be added to entry e: at most
 * MN_PG_NAME_MAX bytes, not the table's key, and no column of the entry yet (its
 * `columns`, its shapes', or one an earlier flatten made).
 */
static bool
check_name(loader_t *ld, const flat_t *f, const mn_entry_t *e, const char *name, yaml_node_t *at)
{
   if (strlen(name) > MN_PG_NAME_MAX) {
      fail(ld, MN_MAPPING_BAD_VALUE, at,
           "flatten \"%s\" makes column \"%s\" of %zu bytes, longer than PostgreSQL's %d-byte "
           "names (it would be cut short) " NAME_HINT,
           f->path, name, strlen(name), MN_PG_NAME_MAX);
      return false;
   }
   if (strcmp(name, f->t_key) == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, at,
           "flatten \"%s\" makes column \"%s\", which is the table's key " NAME_HINT, f->path,
           name);
      return false;
   }
   for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
      const mn_column_t *c = mn_mapping__entry_column(e, k);

      if (strcmp(c->name, name) != 0) {
         continue;
      }
      if (k < f->n_explicit || k >= e->n_columns) {
         fail(ld, MN_MAPPING_BAD_VALUE, at,
              "flatten \"%s\" makes column \"%s\", which %s declares too (line %d) " NAME_HINT,
              f->path, name, k < f->n_explicit ? "\"columns\"" : "a shape", c->line);
      } else {
         fail(ld, MN_MAPPING_BAD_VALUE, at,
              "flatten \"%s\" makes column \"%s\", which line %d makes too " NAME_HINT, f->path,
              name, c->line);
      }
      return false;
   }
   return true;
}

/*
 * The name of the column of field `rel` (spec n): `column: NAME` of its spec, else the
 * prefix and the field's path in snake_case.  NULL (error set) when `column` is no name.
 */
static char *
flat_column_name(loader_t *ld, const flat_t *f, const char *rel, yaml_node_t *n)
{
   yaml_node_t *v = n->type == YAML_MAPPING_NODE ? map_get(ld, n, "column") : NULL;
   bson_string_t *s;

   if (v) {
      if (!scalar(v) || !*scalar(v)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"column\" takes a column name");
         return NULL;
      }
      return bson_strdup(scalar(v));
   }
   s = bson_string_new(f->prefix);
   append_snake(s, rel);
   return bson_string_free(s, false);
}

/* `columns:` of flatten f: each field's column, appended to e's (and to table t's). */
static bool
flat_columns(loader_t *ld, const flat_t *f, yaml_node_t *cols, const defaults_t *d, mn_table_t *t,
             mn_entry_t *e)
{
   if (!expect_kind(ld, cols, YAML_MAPPING_NODE, "\"columns\" of a flatten")) {
      return false;
   }
   if (cols->data.mapping.pairs.start == cols->data.mapping.pairs.top) {
      fail(ld, MN_MAPPING_MISSING_KEY, cols, "flatten \"%s\" lists no column", f->path);
      return false;
   }
   for (yaml_node_pair_t *p = cols->data.mapping.pairs.start; p < cols->data.mapping.pairs.top;
        p++) {
      yaml_node_t *kn = node_at(ld, p->key);
      yaml_node_t *vn = node_at(ld, p->value);
      mn_path_t rel;
      char *name, *full;
      bool ok;

      /* the field's path below the sub-document: a plain path (no `$`) */
      if (!mn_mapping__parse_path_value(ld, kn, "flatten column", false, &rel)) {
         mn_mapping__path_cleanup(&rel);
         return false;
      }
      mn_mapping__path_cleanup(&rel);
      if (!(name = flat_column_name(ld, f, scalar(kn), vn))) {
         return false;
      }
      if (!check_name(ld, f, e, name, kn)) {
         bson_free(name);
         return false;
      }
      e->columns = bson_realloc(e->columns, (e->n_columns + 1) * sizeof *e->columns);
      full = bson_strdup_printf("%s.%s", f->path, scalar(kn));
      ok = mn_mapping__parse_flat_column(ld, name, vn, full, kn, d, &e->columns[e->n_columns++]);
      bson_free(full);
      if (ok) {
         e->columns[e->n_columns - 1].table_column = mn_mapping__table_column(t, name);
      }
      bson_free(name);
      if (!ok) {
         return false;
      }
   }
   return true;
}

/*
 * One item of `flatten`: `path` (a sub-document, from the entry's element, or from
 * `$doc.`/`$parent.`), `prefix` (default: the path in snake_case and "_"), `columns`.
 */
static bool
flat_item(loader_t *ld, yaml_node_t *n, size_t n_explicit, const defaults_t *d, mn_table_t *t,
          mn_entry_t *e)
{
   static const char *const keys[] = {"path", "prefix", "columns", NULL};
   yaml_node_t *pv, *v;
   mn_path_t path;
   flat_t f = {.n_explicit = n_explicit, .t_key = t->key};
   bool ok = false;

   memset(&path, 0, sizeof path);
   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "a flatten") ||
       !check_keys(ld, n, keys, "a flatten")) {
      return false;
   }
   if (!(pv = map_get(ld, n, "path"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"path\" in a flatten of table \"%s\"",
           e->table);
      return false;
   }
   if (!mn_mapping__parse_path_value(ld, pv, "path", true, &path)) {
      goto cleanup;
   }
   if (path.n_segments == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, pv,
           "\"path\" of a flatten names a sub-document: \"%s\" is not a field path", path.text);
      goto cleanup;
   }
   f.path = path.text;
   if ((v = map_get(ld, n, "prefix"))) {
      if (v->type != YAML_SCALAR_NODE) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"prefix\" of flatten \"%s\" must be a scalar", f.path);
         goto cleanup;
      }
      f.prefix = bson_strdup(scalar(v));
   } else {
      bson_string_t *s = bson_string_new(NULL);
      append_snake(s, path.joined);
      bson_string_append_c(s, '_');
      f.prefix = bson_string_free(s, false);
   }
   if (!(v = map_get(ld, n, "columns"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"columns\" in flatten \"%s\"", f.path);
      goto cleanup;
   }
   ok = flat_columns(ld, &f, v, d, t, e);
cleanup:
   bson_free(f.prefix);
   mn_mapping__path_cleanup(&path);
   return ok;
}

/* `flatten: [...]` of entry e, writing table t: its items' columns join e's `columns`. */
bool
mn_mapping__parse_flatten(loader_t *ld, yaml_node_t *v, const defaults_t *d, mn_table_t *t,
                          mn_entry_t *e)
{
   size_t n_explicit = e->n_columns; /* the entry's own `columns`, before any flatten's */

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"flatten\"")) {
      return false;
   }
   for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
        it++) {
      if (!flat_item(ld, node_at(ld, *it), n_explicit, d, t, e)) {
         return false;
      }
   }
   return true;
}
