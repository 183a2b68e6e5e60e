/*
 * mapping.c - YAML mapping file -> compiled plan (plan.h): load, destroy, accessors.
 *
 * The file is read with libyaml's document loader, which keeps each node's
 * line; every error names the file, the line and the key.  The format is
 * specified in docs/mapping.md.
 *
 * The parsers (parse_<what>(ld, node, ..., out)) follow one rule: fill *out as far
 * as you get, and on the first error set it and return false without freeing
 * anything of *out.  The caller owns the partial result: everything hangs off
 * ld->m, which mn_mapping_load_string destroys whole.  So a counter (n_entries,
 * n_columns, n_paths, n_children) is raised before its item is parsed, and every
 * cleanup function takes a half-filled struct.
 *
 * This file holds the top level (version, schema, sql_dir, collections), the
 * scalar helpers, the table list (the union of the entries' columns), load,
 * destroy and the public accessors.  column.c parses a column and what it reads,
 * entry.c the table entries, coverage.c the covered paths and the array-crossing
 * check; mapping_private.h is what they share.
 */
#include "mapping/mapping_private.h"

#include <mongonorm/keys.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
mn_mapping__get_string(loader_t *ld, yaml_node_t *n, const char *key, bool required,
                       const char *where, bool *ok)
{
   yaml_node_t *v = map_get(ld, n, key);

   *ok = true;
   if (!v) {
      if (required) {
         fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"%s\" in %s", key, where);
         *ok = false;
      }
      return NULL;
   }
   if (v->type != YAML_SCALAR_NODE) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" in %s must be a scalar", key, where);
      *ok = false;
      return NULL;
   }
   return bson_strdup(scalar(v));
}

bool
mn_mapping__parse_bool(loader_t *ld, yaml_node_t *v, const char *key, bool *out)
{
   const char *s = scalar(v);

   if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) {
      *out = true;
      return true;
   }
   if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) {
      *out = false;
      return true;
   }
   fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" must be true or false", key);
   return false;
}

bool
mn_mapping__parse_int(loader_t *ld, yaml_node_t *v, const char *key, int lo, int hi, int *out)
{
   const char *s = scalar(v);
   char *end = NULL;
   long l;

   if (!s) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" must be a number", key);
      return false;
   }
   errno = 0;
   l = strtol(s, &end, 10);
   if (errno || end == s || *end || l < lo || l > hi) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" must be a whole number from %d to %d, not \"%s\"",
           key, lo, hi, s);
      return false;
   }
   *out = (int)l;
   return true;
}

/* Parse `name: choice` among NULL-terminated `choices`; returns the index or -1. */
int
mn_mapping__parse_choice(loader_t *ld, yaml_node_t *v, const char *key, const char *const *choices)
{
   const char *s = scalar(v);
   char list[256] = "";

   for (int i = 0; choices[i]; i++) {
      if (s && strcmp(s, choices[i]) == 0) {
         return i;
      }
      if (i) {
         strncat(list, ", ", sizeof list - strlen(list) - 1);
      }
      strncat(list, choices[i], sizeof list - strlen(list) - 1);
   }
   fail(ld, MN_MAPPING_BAD_VALUE, v, "unrecognized %s \"%s\" (expected one of: %s)", key,
        s ? s : "(not a scalar)", list);
   return -1;
}

/* ---- tables (the union of columns) ---- */

int
mn_mapping__table_find(mn_mapping_t *m, const char *name)
{
   for (size_t i = 0; i < m->n_tables; i++) {
      if (strcmp(m->tables[i].name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

int
mn_mapping__table_add(mn_mapping_t *m, const char *name, const char *key, int collection)
{
   mn_table_t *t;

   m->tables = bson_realloc(m->tables, (m->n_tables + 1) * sizeof *m->tables);
   t = &m->tables[m->n_tables];
   memset(t, 0, sizeof *t);
   t->name = bson_strdup(name);
   t->key = bson_strdup(key);
   t->columns = bson_malloc(sizeof(char *));
   t->columns[0] = bson_strdup(key);
   t->n_columns = 1;
   t->collection = collection;
   t->doc_id_column = -1;
   return (int)m->n_tables++;
}

int
mn_mapping__table_column(mn_table_t *t, const char *column)
{
   for (size_t i = 0; i < t->n_columns; i++) {
      if (strcmp(t->columns[i], column) == 0) {
         return (int)i;
      }
   }
   t->columns = bson_realloc(t->columns, (t->n_columns + 1) * sizeof(char *));
   t->columns[t->n_columns] = bson_strdup(column);
   return (int)t->n_columns++;
}

/* ---- top level ---- */

/* `version` (1), `schema` ("public" unless given) and `sql_dir` of the top level. */
static bool
parse_top_level(loader_t *ld, yaml_node_t *root)
{
   mn_mapping_t *m = ld->m;
   yaml_node_t *v;
   bool ok;

   if (!(v = map_get(ld, root, "version"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, root, "missing key \"version\" (this tool reads version 1)");
      return false;
   }
   if (!scalar(v) || strcmp(scalar(v), "1") != 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "unsupported mapping version \"%s\" (this tool reads version 1)",
           scalar(v) ? scalar(v) : "");
      return false;
   }
   m->schema = mn_mapping__get_string(ld, root, "schema", false, "the top level", &ok);
   if (!ok) {
      return false;
   }
   if (!m->schema) {
      m->schema = bson_strdup("public");
   }
   m->sql_dir = mn_mapping__get_string(ld, root, "sql_dir", false, "the top level", &ok);
   if (!ok) {
      return false;
   }
   if (m->sql_dir && m->sql_dir[0] != '/' && strchr(m->path, '/')) {
      /* relative to the mapping file, not to wherever the command runs */
      char *resolved =
         bson_strdup_printf("%.*s/%s", (int)(strrchr(m->path, '/') - m->path), m->path, m->sql_dir);
      bson_free(m->sql_dir);
      m->sql_dir = resolved;
   }
   return true;
}

/* `collections:`, each mapped once. */
static bool
parse_collections(loader_t *ld, yaml_node_t *v)
{
   mn_mapping_t *m = ld->m;

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"collections\"")) {
      return false;
   }
   for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
        it++) {
      mn_collection_t *coll;

      m->collections =
         bson_realloc(m->collections, (m->n_collections + 1) * sizeof *m->collections);
      coll = &m->collections[m->n_collections];
      m->n_collections++;
      if (!mn_mapping__parse_collection(ld, node_at(ld, *it), (int)(m->n_collections - 1), coll)) {
         return false;
      }
      for (size_t i = 0; i + 1 < m->n_collections; i++) {
         if (strcmp(m->collections[i].name, coll->name) == 0) {
            fail(ld, MN_MAPPING_BAD_VALUE, node_at(ld, *it), "collection \"%s\" is mapped twice",
                 coll->name);
            return false;
         }
      }
   }
   if (m->n_collections == 0) {
      fail(ld, MN_MAPPING_MISSING_KEY, v, "\"collections\" is empty");
      return false;
   }
   return true;
}

/* What needs the whole file: references, paths crossing arrays, the covered paths. */
static bool
resolve_collection(loader_t *ld, mn_collection_t *coll)
{
   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      for (size_t k = 0, nk = mn_mapping__entry_n_columns(&coll->entries[ei]); k < nk; k++) {
         if (!mn_mapping__resolve_column(ld, mn_mapping__entry_column(&coll->entries[ei], k))) {
            return false;
         }
      }
   }
   if (!mn_mapping__check_crossings(ld, coll)) {
      return false;
   }
   mn_mapping__compute_covered(coll);
   return true;
}

/*
 * The whole document into ld->m: the top level, every collection, then what needs all of
 * them.  On failure ld->m holds what was read so far, for the caller to destroy.
 */
static bool
load(loader_t *ld)
{
   static const char *const keys[] = {"version", "schema", "sql_dir", "collections", NULL};
   yaml_node_t *root = yaml_document_get_root_node(&ld->y.doc);
   yaml_node_t *v;

   if (!root) {
      fail(ld, MN_MAPPING_SYNTAX, NULL, "the file is empty");
      return false;
   }
   if (!expect_kind(ld, root, YAML_MAPPING_NODE, "the top level") ||
       !check_keys(ld, root, keys, "the top level") || !parse_top_level(ld, root)) {
      return false;
   }
   if (!(v = map_get(ld, root, "collections"))) {
      fail(ld, MN_MAPPING_MISSING_KEY, root, "missing key \"collections\"");
      return false;
   }
   if (!parse_collections(ld, v)) {
      return false;
   }
   for (size_t ci = 0; ci < ld->m->n_collections; ci++) {
      if (!resolve_collection(ld, &ld->m->collections[ci])) {
         return false;
      }
   }
   return true;
}

/* SHA-256 of `len` bytes of `text` into m->digest, as hex. */
static void
set_digest(mn_mapping_t *m, const char *text, size_t len)
{
   uint8_t d[MN_DIGEST_SIZE];

   mn_digest(text, len, d);
   for (int i = 0; i < MN_DIGEST_SIZE; i++) {
      snprintf(m->digest + 2 * i, 3, "%02x", d[i]);
   }
}

/*
 * The hashed values depend on the salts as much as on the file: a new salt must convert
 * every document again (the fingerprint is part of each collection's conversion context).
 * So the fingerprint also covers, per salted column, HMAC-SHA-256(salt, a fixed text):
 * it changes with the salt and tells nothing about it.
 */
static void
fold_salts(mn_mapping_t *m)
{
   static const char probe[] = "mongonorm mapping fingerprint";
   bson_string_t *all = bson_string_new(m->digest);
   bool salted = false;

   for (size_t ci = 0; ci < m->n_collections; ci++) {
      for (size_t ei = 0; ei < m->collections[ci].n_entries; ei++) {
         const mn_entry_t *e = &m->collections[ci].entries[ei];
         for (size_t k = 0, nk = mn_mapping__entry_n_columns(e); k < nk; k++) {
            const mn_column_t *c = mn_mapping__entry_column(e, k);
            if (c->spec.digest == MN_DIGEST_HMAC_SHA256) {
               bson_string_append_c(all, ' ');
               mn_value_digest(&c->spec, probe, sizeof probe - 1, all);
               salted = true;
            }
         }
      }
   }
   if (salted) {
      set_digest(m, all->str, all->len);
   }
   bson_string_free(all, true);
}

mn_mapping_t *
mn_mapping_load_string(const char *yaml, size_t len, const char *name, mn_error_t *error)
{
   loader_t ld;
   bool ok;

   memset(&ld, 0, sizeof ld);
   ld.y.name = name;
   ld.y.what = "mapping file";
   ld.y.error = error;
   ld.m = bson_malloc0(sizeof *ld.m);
   ld.m->path = bson_strdup(name);
   set_digest(ld.m, yaml, len);
   if (!mn_yaml__parse(&ld.y, yaml, len)) {
      mn_mapping_destroy(ld.m);
      return NULL;
   }
   ok = load(&ld);
   mn_yaml__cleanup(&ld.y);
   if (!ok) {
      mn_mapping_destroy(ld.m);
      return NULL;
   }
   fold_salts(ld.m);
   return ld.m;
}

mn_mapping_t *
mn_mapping_load(const char *path, mn_error_t *error)
{
   FILE *f = fopen(path, "rb");
   char *buf = NULL;
   size_t len = 0;
   size_t cap = 0;
   mn_mapping_t *m;

   if (!f) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open mapping file \"%s\": %s", path,
                   strerror(errno));
      return NULL;
   }
   for (;;) {
      size_t got;
      if (cap - len < 65536) {
         cap = cap ? cap * 2 : 65536;
         buf = bson_realloc(buf, cap);
      }
      got = fread(buf + len, 1, cap - len, f);
      len += got;
      if (got == 0) {
         break;
      }
   }
   if (ferror(f)) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_READ, "could not read mapping file \"%s\": %s", path,
                   strerror(errno));
      fclose(f);
      bson_free(buf);
      return NULL;
   }
   fclose(f);
   m = mn_mapping_load_string(buf, len, path, error);
   bson_free(buf);
   return m;
}

static void
collection_cleanup(mn_collection_t *c)
{
   bson_free(c->name);
   for (size_t e = 0; e < c->n_entries; e++) {
      mn_mapping__entry_cleanup(&c->entries[e]);
   }
   bson_free(c->entries);
   mn_strings__free(c->ignore, c->n_ignore);
   mn_strings__free(c->covered, c->n_covered);
   mn_strings__free(c->iterated, c->n_iterated);
   mn_strings__free(c->maps, c->n_maps);
   mn_strings__free(c->each_paths, c->n_each_paths);
   bson_free(c->watermark);
}

static void
table_cleanup(mn_table_t *t)
{
   mn_strings__free(t->columns, t->n_columns);
   bson_free(t->name);
   bson_free(t->key);
}

void
mn_mapping_destroy(mn_mapping_t *m)
{
   if (!m) {
      return;
   }
   for (size_t i = 0; i < m->n_collections; i++) {
      collection_cleanup(&m->collections[i]);
   }
   bson_free(m->collections);
   for (size_t i = 0; i < m->n_tables; i++) {
      table_cleanup(&m->tables[i]);
   }
   bson_free(m->tables);
   bson_free(m->schema);
   bson_free(m->sql_dir);
   bson_free(m->path);
   bson_free(m);
}

size_t
mn_mapping_n_collections(const mn_mapping_t *m)
{
   return m->n_collections;
}

const char *
mn_mapping_collection_name(const mn_mapping_t *m, size_t i)
{
   return i < m->n_collections ? m->collections[i].name : NULL;
}

size_t
mn_mapping_n_tables(const mn_mapping_t *m)
{
   return m->n_tables;
}

const char *
mn_mapping_table_name(const mn_mapping_t *m, size_t i)
{
   return i < m->n_tables ? m->tables[i].name : NULL;
}

const char *
mn_mapping_digest(const mn_mapping_t *m)
{
   return m->digest;
}

int
mn_mapping_collection_index(const mn_mapping_t *m, const char *name)
{
   for (size_t i = 0; i < m->n_collections; i++) {
      if (strcmp(m->collections[i].name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

bool
mn_mapping_collection_optional(const mn_mapping_t *m, size_t collection)
{
   return collection < m->n_collections && m->collections[collection].optional;
}

const char *
mn_mapping_watermark(const mn_mapping_t *m, size_t collection)
{
   return collection < m->n_collections ? m->collections[collection].watermark : NULL;
}

const char *
mn_mapping_schema(const mn_mapping_t *m)
{
   return m->schema;
}

const char *
mn_mapping_sql_dir(const mn_mapping_t *m)
{
   return m->sql_dir;
}