/*
 * mapping.c - YAML mapping file -> compiled plan (plan.h).
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
 */
#include "mapping/plan.h"

#include <mongonorm/keys.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "util/yamldoc.h"

/* Shortest salt `salt_env` accepts, in bytes. */
#define MN_MIN_SALT_LEN 16

typedef struct {
   mn_yamldoc_t y; /* the document, its name, and where errors go */
   mn_mapping_t *m;
} loader_t;

static char *
get_string(loader_t *ld, yaml_node_t *n, const char *key, bool required, const char *where,
           bool *ok)
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

static bool
parse_bool(loader_t *ld, yaml_node_t *v, const char *key, bool *out)
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

static bool
parse_int(loader_t *ld, yaml_node_t *v, const char *key, int lo, int hi, int *out)
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
static int
parse_choice(loader_t *ld, yaml_node_t *v, const char *key, const char *const *choices)
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

/* ---- paths ---- */

static void
path_cleanup(mn_path_t *p)
{
   mn_yaml__free_strings(p->segments, p->n_segments);
   bson_free(p->is_index);
   bson_free(p->index);
   bson_free(p->text);
   bson_free(p->joined);
   memset(p, 0, sizeof *p);
}

/*
 * An array index: "0", or a decimal integer without leading zeros, "-" counting from the
 * end ("-1" is the last element).  Anything else ("01", "+1", "1e3") is only a field name.
 */
static bool
segment_index(const char *seg, int64_t *out)
{
   const char *d = seg[0] == '-' ? seg + 1 : seg;
   size_t n = strlen(d);

   if (n == 0 || n > 18 || (d[0] == '0' && (n > 1 || d != seg))) {
      return false;
   }
   for (size_t i = 0; i < n; i++) {
      if (d[i] < '0' || d[i] > '9') {
         return false;
      }
   }
   *out = strtoll(seg, NULL, 10);
   return true;
}

/*
 * A field path as written in the file (`a.b.0`, `$`, `$key`, `$doc.a`, `$parent.a`) into
 * *out: segments, which of them are array indexes, and its root.  `$`, `$key` and the
 * rooted forms only where allow_special (a column or predicate, not `each`); anything
 * else starting with `$`, an empty segment or an empty path is an error at `at`.
 */
static bool
parse_path(loader_t *ld, yaml_node_t *at, const char *text, bool allow_special, mn_path_t *out)
{
   const char *rest = text;
   char *copy;
   char *save = NULL;

   memset(out, 0, sizeof *out);
   out->text = bson_strdup(text);
   out->line = at ? (int)LINE(at) : 0;
   if (!*text) {
      fail(ld, MN_MAPPING_BAD_VALUE, at, "empty field path");
      return false;
   }
   if (strcmp(text, "$") == 0) {
      if (!allow_special) {
         goto special;
      }
      return true;
   }
   if (strcmp(text, "$key") == 0) {
      if (!allow_special) {
         goto special;
      }
      out->is_key = true;
      return true;
   }
   if (strncmp(text, "$doc.", 5) == 0) {
      out->root = MN_ROOT_DOC;
      rest = text + 5;
   } else if (strncmp(text, "$parent.", 8) == 0) {
      out->root = MN_ROOT_PARENT;
      rest = text + 8;
   } else if (text[0] == '$') {
      goto special;
   }
   if ((out->root != MN_ROOT_ELEMENT) && !allow_special) {
      goto special;
   }
   out->joined = bson_strdup(rest);
   copy = bson_strdup(rest);
   for (char *seg = strtok_r(copy, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
      out->segments = bson_realloc(out->segments, (out->n_segments + 1) * sizeof(char *));
      out->is_index = bson_realloc(out->is_index, (out->n_segments + 1) * sizeof(bool));
      out->index = bson_realloc(out->index, (out->n_segments + 1) * sizeof(int64_t));
      out->index[out->n_segments] = 0;
      out->is_index[out->n_segments] = segment_index(seg, &out->index[out->n_segments]);
      out->segments[out->n_segments++] = bson_strdup(seg);
   }
   bson_free(copy);
   if (out->n_segments == 0 || rest[0] == '.' || rest[strlen(rest) - 1] == '.' ||
       strstr(rest, "..")) {
      fail(ld, MN_MAPPING_BAD_VALUE, at, "malformed field path \"%s\"", text);
      return false;
   }
   return true;

special:
   fail(ld, MN_MAPPING_BAD_VALUE, at, "field path \"%s\" is not allowed here", text);
   return false;
}

/* The field path a key takes (`exists: a.b`): "`key` takes a field path" when v is no scalar. */
static bool
parse_path_value(loader_t *ld, yaml_node_t *v, const char *key, bool allow_special, mn_path_t *out)
{
   if (!scalar(v)) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" takes a field path", key);
      return false;
   }
   return parse_path(ld, v, scalar(v), allow_special, out);
}

/* ---- policies ---- */

typedef struct {
   mn_policy_t on_invalid;
   mn_policy_t on_missing;
   mn_policy_t on_missing_reference;
} defaults_t;

/* The policies' names in mn_policy_t order, and those each key takes. */
static const char *const POLICY_NAMES[] = {"reject", "null", "skip_row", NULL};
static const char *const POLICY_INVALID[] = {"reject", "null", "skip_row", NULL};
static const char *const POLICY_MISSING[] = {"reject", "skip_row", NULL};
static const char *const POLICY_REF[] = {"reject", "null", NULL};

/* `key: <policy>` of mapping n, one of `choices`, into *out when it is given. */
static bool
parse_policy(loader_t *ld, yaml_node_t *n, const char *key, const char *const *choices,
             mn_policy_t *out)
{
   yaml_node_t *v = map_get(ld, n, key);
   int c;

   if (!v) {
      return true;
   }
   if ((c = parse_choice(ld, v, key, choices)) < 0) {
      return false;
   }
   for (int i = 0; POLICY_NAMES[i]; i++) {
      if (strcmp(POLICY_NAMES[i], choices[c]) == 0) {
         *out = (mn_policy_t)i;
      }
   }
   return true;
}

static bool
parse_defaults(loader_t *ld, yaml_node_t *n, defaults_t *d)
{
   static const char *const keys[] = {"on_invalid", "on_missing", "on_missing_reference", NULL};

   return expect_kind(ld, n, YAML_MAPPING_NODE, "\"defaults\"") &&
          check_keys(ld, n, keys, "\"defaults\"") &&
          parse_policy(ld, n, "on_invalid", POLICY_INVALID, &d->on_invalid) &&
          parse_policy(ld, n, "on_missing", POLICY_MISSING, &d->on_missing) &&
          parse_policy(ld, n, "on_missing_reference", POLICY_REF, &d->on_missing_reference);
}

/* ---- tables (the union of columns) ---- */

static int
table_find(mn_mapping_t *m, const char *name)
{
   for (size_t i = 0; i < m->n_tables; i++) {
      if (strcmp(m->tables[i].name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static int
table_add(mn_mapping_t *m, const char *name, const char *key, int collection)
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

static int
table_column(mn_table_t *t, const char *column)
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

/* ---- columns ---- */

static void
column_cleanup(mn_column_t *c)
{
   bson_free(c->name);
   for (size_t i = 0; i < c->n_paths; i++) {
      path_cleanup(&c->paths[i]);
   }
   bson_free(c->paths);
   bson_free(c->const_value);
   bson_free(c->default_value);
   bson_free(c->raw_to_name);
   bson_free((void *)c->spec.transforms);
   mn_yaml__free_strings((char **)c->spec.enum_values, c->spec.n_enum);
   for (size_t i = 0; i < c->spec.n_units; i++) {
      bson_free((void *)c->spec.units[i].suffix);
   }
   bson_free((void *)c->spec.units);
   bson_free((void *)c->spec.default_unit);
   bson_free(c->references);
   bson_free(c->redact_value);
   if (c->salt) {
      OPENSSL_cleanse(c->salt, c->salt_len);
      bson_free(c->salt);
   }
}

/*
 * `units: {default: cm, cm: 1, m: 100}`: the suffixes a numeric value may carry and the
 * factor each multiplies by; `default` names the unit of a value without one, and must be
 * one of them.
 */
static bool
parse_units(loader_t *ld, yaml_node_t *n, mn_column_t *c)
{
   mn_unit_t *units;
   size_t count = 0;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "\"units\"")) {
      return false;
   }
   units = bson_malloc0(sizeof(mn_unit_t) *
                        (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start + 1));
   c->spec.units = units;
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = node_at(ld, p->key);
      yaml_node_t *vn = node_at(ld, p->value);
      const char *k = scalar(kn);
      const char *v = scalar(vn);
      char *end = NULL;
      double f;

      if (!k || !v) {
         fail(ld, MN_MAPPING_BAD_VALUE, kn, "\"units\" entries must be scalars");
         return false;
      }
      if (strcmp(k, "default") == 0) {
         bson_free((void *)c->spec.default_unit);
         c->spec.default_unit = bson_strdup(v);
         continue;
      }
      f = strtod(v, &end);
      if (end == v || *end || !(f > 0)) {
         fail(ld, MN_MAPPING_BAD_VALUE, vn, "unit \"%s\" needs a positive factor, not \"%s\"", k,
              v);
         return false;
      }
      units[count].suffix = bson_strdup(k);
      units[count].factor = f;
      c->spec.n_units = ++count;
   }
   if (c->spec.default_unit) {
      bool found = false;
      for (size_t i = 0; i < count; i++) {
         found = found || strcasecmp(units[i].suffix, c->spec.default_unit) == 0;
      }
      if (!found) {
         fail(ld, MN_MAPPING_BAD_REFERENCE, n, "default unit \"%s\" is not one of the units",
              c->spec.default_unit);
         return false;
      }
   }
   return true;
}

/*
 * `salt_env: NAME`: the key of a keyed digest (HMAC-SHA-256) is read from the environment
 * when the mapping loads, so that it is in no file.  Messages name the variable, never
 * what it holds.
 */
static bool
parse_salt(loader_t *ld, yaml_node_t *v, const char *where, mn_column_t *c)
{
   const char *name = scalar(v);
   const char *salt;

   if (c->spec.digest == MN_DIGEST_NONE) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"salt_env\" of %s needs \"sha256\" in its \"transform\"",
           where);
      return false;
   }
   if (!name || !*name || strchr(name, '=')) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"salt_env\" of %s must name an environment variable",
           where);
      return false;
   }
   salt = getenv(name);
   if (!salt || !*salt) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "environment variable \"%s\" named by \"salt_env\" of %s is not set", name, where);
      return false;
   }
   if (strlen(salt) < MN_MIN_SALT_LEN) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "environment variable \"%s\" named by \"salt_env\" of %s holds fewer than %d bytes: "
           "a salt that short can be guessed (use 32 random bytes, e.g. \"openssl rand -hex 32\")",
           name, where, MN_MIN_SALT_LEN);
      return false;
   }
   c->salt_len = strlen(salt);
   c->salt = bson_malloc(c->salt_len);
   memcpy(c->salt, salt, c->salt_len);
   c->spec.digest = MN_DIGEST_HMAC_SHA256;
   c->spec.digest_key = c->salt;
   c->spec.digest_key_len = c->salt_len;
   return true;
}

/*
 * The replacement of `redact: "text"`: it is written as stored, so no transform applies,
 * but it must convert to the column's type (and be one of its enum) like any value.
 */
static bool
parse_redact_value(loader_t *ld, yaml_node_t *v, const char *where, const char *text,
                   mn_column_t *c)
{
   mn_value_spec_t spec = c->spec;
   bson_t tmp = BSON_INITIALIZER;
   bson_iter_t it;
   bson_string_t *out = bson_string_new(NULL);
   char reason[256] = "";
   mn_value_status_t st;

   spec.transforms = NULL;
   spec.n_transforms = 0;
   spec.hide_values = false;
   BSON_APPEND_UTF8(&tmp, "r", text);
   bson_iter_init_find(&it, &tmp, "r");
   st = mn_value_convert(&it, &spec, out, reason, sizeof reason);
   if (st == MN_VALUE_OK || st == MN_VALUE_COERCED) {
      c->redact = MN_REDACT_VALUE;
      c->redact_value = bson_strdup(out->str);
   } else if (st == MN_VALUE_NULL) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "\"redact\" value of %s is empty, which %s stores as NULL: write \"redact: true\" "
           "for NULL",
           where, mn_type_name(spec.type));
   } else {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"redact\" value of %s cannot be stored as %s: %s", where,
           mn_type_name(spec.type), reason);
   }
   bson_string_free(out, true);
   bson_destroy(&tmp);
   return c->redact == MN_REDACT_VALUE;
}

/*
 * `redact: true` (NULL) or `redact: "text"` (a replacement in the column's type): every row
 * stores it in place of the value, which is still read, converted and judged by the
 * column's policies, so that rejects and counts are those of a clear copy.  Whatever the
 * replacement is must be storable, so it is checked here.
 */
static bool
parse_redact(loader_t *ld, yaml_node_t *v, const char *where, mn_column_t *c)
{
   static const char *const NULLS[] = {"true", "yes", "null", "~", NULL};
   static const char *const OFF[] = {"false", "no", NULL};
   const char *text = scalar(v);
   bool plain = v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

   if (!text) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "\"redact\" of %s must be true (store NULL), false, or a replacement value", where);
      return false;
   }
   if (c->kind != MN_SRC_PATH) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "\"redact\" of %s applies only to a \"path\" column (generated ids and constants "
           "are not source values)",
           where);
      return false;
   }
   for (size_t i = 0; plain && OFF[i]; i++) {
      if (strcmp(text, OFF[i]) == 0) {
         return true;
      }
   }
   if (c->spec.digest != MN_DIGEST_NONE) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "%s is both redacted and hashed (\"transform: [sha256]\"): choose one", where);
      return false;
   }
   for (size_t i = 0; plain && NULLS[i]; i++) {
      if (strcmp(text, NULLS[i]) == 0) {
         c->redact = MN_REDACT_NULL;
      }
   }
   if (plain && !*text) {
      c->redact = MN_REDACT_NULL; /* `redact:` with nothing after it: YAML's null */
   }
   if (c->redact == MN_REDACT_NULL && c->required) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "%s is required, so NULL (\"redact: true\") cannot stand in for its values: give "
           "a replacement value (\"redact: <value>\")",
           where);
      return false;
   }
   if (c->redact == MN_REDACT_NULL) {
      return true;
   }
   if (c->references) {
      fail(ld, MN_MAPPING_BAD_VALUE, v,
           "%s references a collection, so only NULL (\"redact: true\") can replace its values: "
           "a constant would name no document",
           where);
      return false;
   }
   return parse_redact_value(ld, v, where, text, c);
}

/* A column's `path`: one path, or a list of alternatives (the first present wins). */
static bool
parse_column_paths(loader_t *ld, yaml_node_t *v, const char *where, mn_column_t *c)
{
   bool list = v->type == YAML_SEQUENCE_NODE;
   size_t count = list ? mn_yaml__n_items(v) : 1;

   if (!list && v->type != YAML_SCALAR_NODE) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"path\" of %s must be a path or a list of paths", where);
      return false;
   }
   if (count == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"path\" of %s lists no path", where);
      return false;
   }
   c->paths = bson_malloc0(count * sizeof(mn_path_t));
   for (size_t i = 0; i < count; i++) {
      yaml_node_t *item = list ? node_at(ld, v->data.sequence.items.start[i]) : v;

      c->n_paths = i + 1;
      if (!scalar(item)) {
         fail(ld, MN_MAPPING_BAD_VALUE, item, "paths must be scalars");
         return false;
      }
      if (!parse_path(ld, item, scalar(item), true, &c->paths[i])) {
         return false;
      }
   }
   return true;
}

/*
 * Where a column's value comes from: exactly one of `path` (the source), `value` (an id
 * or index mongonorm makes) and `const`; and the `default` of a path that is absent.
 */
static bool
parse_column_source(loader_t *ld, yaml_node_t *n, const char *where, mn_column_t *c)
{
   static const char *const VALUES[] = {"doc_id", "parent_id", "index", "key", NULL};
   yaml_node_t *v;
   int sources = 0;
   int choice;

   if ((v = map_get(ld, n, "path"))) {
      sources++;
      c->kind = MN_SRC_PATH;
      if (!parse_column_paths(ld, v, where, c)) {
         return false;
      }
   }
   if ((v = map_get(ld, n, "value"))) {
      sources++;
      if ((choice = parse_choice(ld, v, "value", VALUES)) < 0) {
         return false;
      }
      c->kind = (mn_source_kind_col_t)(MN_SRC_DOC_ID + choice);
   }
   if ((v = map_get(ld, n, "const"))) {
      sources++;
      if (!scalar(v)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"const\" of %s must be a scalar", where);
         return false;
      }
      c->kind = MN_SRC_CONST;
      c->const_value = bson_strdup(scalar(v));
   }
   if (sources != 1) {
      fail(ld, sources ? MN_MAPPING_BAD_VALUE : MN_MAPPING_MISSING_KEY, n,
           "%s needs exactly one of \"path\", \"value\" or \"const\"", where);
      return false;
   }
   if ((v = map_get(ld, n, "default"))) {
      if (!scalar(v) || c->kind != MN_SRC_PATH) {
         fail(ld, MN_MAPPING_BAD_VALUE, v,
              "\"default\" of %s must be a scalar, on a \"path\" column", where);
         return false;
      }
      c->default_value = bson_strdup(scalar(v));
   }
   return true;
}

/* `transform: [trim, lower, ...]`, in order; `sha256` (a digest, not a transform) last. */
static bool
parse_transforms(loader_t *ld, yaml_node_t *v, const char *where, mn_column_t *c)
{
   static const char *const TRANSFORMS[] = {"trim", "lower", "upper", "sha256", NULL};
   mn_transform_t *t;
   size_t count;
   int choice;

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"transform\"")) {
      return false;
   }
   count = mn_yaml__n_items(v);
   t = bson_malloc0(sizeof *t * (count + 1));
   c->spec.transforms = t;
   for (size_t i = 0; i < count; i++) {
      yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
      if ((choice = parse_choice(ld, item, "transform", TRANSFORMS)) < 0) {
         return false;
      }
      if (choice == 3) {
         /* sha256 digests the text the column would store: it comes after everything */
         if (i + 1 != count) {
            fail(ld, MN_MAPPING_BAD_VALUE, item,
                 "\"sha256\" must be the last transform of %s (it digests the text the "
                 "column would store)",
                 where);
            return false;
         }
         c->spec.digest = MN_DIGEST_SHA256;
         continue;
      }
      t[c->spec.n_transforms++] = (mn_transform_t)(MN_TRANSFORM_TRIM + choice);
   }
   return true;
}

/*
 * The type spec of a column: what its value converts to (`type`, `precision`, `scale`),
 * how its text is prepared (`transform`, `salt_env`, `empty`) and what it may hold
 * (`enum`, `units`).
 */
static bool
parse_column_type(loader_t *ld, yaml_node_t *n, const char *where, mn_column_t *c)
{
   static const char *const EMPTY[] = {"keep", "null", "invalid", NULL};
   yaml_node_t *v;
   int choice;

   if ((v = map_get(ld, n, "type"))) {
      if (!scalar(v) || !mn_type_from_name(scalar(v), &c->spec.type)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "unrecognized column type \"%s\"",
              scalar(v) ? scalar(v) : "");
         return false;
      }
   }
   if ((v = map_get(ld, n, "precision")) &&
       !parse_int(ld, v, "precision", 1, 1000, &c->spec.precision)) {
      return false;
   }
   if ((v = map_get(ld, n, "scale")) && !parse_int(ld, v, "scale", 0, 1000, &c->spec.scale)) {
      return false;
   }
   if ((c->spec.precision || c->spec.scale >= 0) && c->spec.type != MN_TYPE_NUMERIC) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "precision and scale apply only to numeric columns");
      return false;
   }
   if ((v = map_get(ld, n, "transform")) && !parse_transforms(ld, v, where, c)) {
      return false;
   }
   if ((v = map_get(ld, n, "salt_env")) && !parse_salt(ld, v, where, c)) {
      return false;
   }
   if ((v = map_get(ld, n, "empty"))) {
      if ((choice = parse_choice(ld, v, "empty", EMPTY)) < 0) {
         return false;
      }
      c->spec.empty = (mn_empty_t)(MN_EMPTY_KEEP + choice);
   }
   if ((v = map_get(ld, n, "enum"))) {
      char **values = NULL;
      bool ok = expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"enum\"") &&
                mn_yaml__strings(&ld->y, v, true, "\"enum\" values must be scalars", &values,
                                 &c->spec.n_enum);
      c->spec.enum_values = (const char *const *)values;
      if (!ok) {
         return false;
      }
   }
   return !(v = map_get(ld, n, "units")) || parse_units(ld, v, c);
}

/*
 * What a column does with a value it cannot use: `references` (a collection whose
 * document it names), the policies (`on_invalid`, `required`, `on_missing`,
 * `on_missing_reference`), and `raw_to`, where an invalid value's text goes.
 */
static bool
parse_column_policies(loader_t *ld, yaml_node_t *n, mn_column_t *c)
{
   yaml_node_t *v;

   if ((v = map_get(ld, n, "references"))) {
      if (!scalar(v)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"references\" must name a collection");
         return false;
      }
      c->references = bson_strdup(scalar(v));
   }
   if (!parse_policy(ld, n, "on_invalid", POLICY_INVALID, &c->on_invalid)) {
      return false;
   }
   if ((v = map_get(ld, n, "required")) && !parse_bool(ld, v, "required", &c->required)) {
      return false;
   }
   if (!parse_policy(ld, n, "on_missing", POLICY_MISSING, &c->on_missing) ||
       !parse_policy(ld, n, "on_missing_reference", POLICY_REF, &c->on_missing_reference)) {
      return false;
   }
   if ((v = map_get(ld, n, "raw_to"))) {
      if (!scalar(v) || !*scalar(v)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"raw_to\" takes a column name");
         return false;
      }
      if (c->on_invalid != MN_ON_NULL) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"raw_to\" needs \"on_invalid: null\"");
         return false;
      }
      c->raw_to_name = bson_strdup(scalar(v));
   }
   return true;
}

/*
 * One column of an entry or shape: `name: some.path` (shorthand) or a mapping of the
 * column's source, type spec, policies and PHI controls (redact, digest).  The entry's
 * `defaults` give the policies it does not set.
 */
static bool
parse_column(loader_t *ld, const char *name, yaml_node_t *n, const defaults_t *d, mn_column_t *c)
{
   static const char *const keys[] = {"path",      "value",    "const",      "type",
                                      "precision", "scale",    "transform",  "empty",
                                      "enum",      "units",    "references", "on_invalid",
                                      "raw_to",    "required", "on_missing", "on_missing_reference",
                                      "default",   "redact",   "salt_env",   NULL};
   char where[300];
   yaml_node_t *v;

   memset(c, 0, sizeof *c);
   c->name = bson_strdup(name);
   c->line = LINE(n);
   c->raw_to = -1;
   c->ref_collection = -1;
   c->spec.scale = -1;
   c->on_invalid = d->on_invalid;
   c->on_missing = d->on_missing;
   c->on_missing_reference = d->on_missing_reference;
   snprintf(where, sizeof where, "column \"%s\"", name);

   if (n->type == YAML_SCALAR_NODE) {
      c->kind = MN_SRC_PATH;
      return parse_column_paths(ld, n, where, c);
   }
   if (!expect_kind(ld, n, YAML_MAPPING_NODE, where) || !check_keys(ld, n, keys, where) ||
       !parse_column_source(ld, n, where, c) || !parse_column_type(ld, n, where, c) ||
       !parse_column_policies(ld, n, c)) {
      return false;
   }
   if (c->kind != MN_SRC_PATH &&
       (map_get(ld, n, "type") || map_get(ld, n, "enum") || map_get(ld, n, "units") ||
        map_get(ld, n, "references") || map_get(ld, n, "transform"))) {
      fail(ld, MN_MAPPING_BAD_VALUE, n,
           "%s: type, transform, enum, units and references apply only to \"path\" columns", where);
      return false;
   }
   if ((v = map_get(ld, n, "redact")) && !parse_redact(ld, v, where, c)) {
      return false;
   }
   if (MN_COLUMN_IS_PHI(c) && c->raw_to_name) {
      fail(ld, MN_MAPPING_BAD_VALUE, map_get(ld, n, "raw_to"),
           "\"raw_to\" of %s would store the source text of a %s column", where,
           c->redact ? "redacted" : "hashed");
      return false;
   }
   c->spec.hide_values = MN_COLUMN_IS_PHI(c);
   return true;
}

/* ---- predicates ---- */

static void
pred_cleanup(mn_pred_t *p)
{
   if (!p) {
      return;
   }
   path_cleanup(&p->path);
   mn_yaml__free_strings(p->values, p->n_values);
   for (size_t i = 0; i < p->n_children; i++) {
      pred_cleanup(&p->children[i]);
   }
   bson_free(p->children);
}

static bool parse_pred(loader_t *ld, yaml_node_t *n, mn_pred_t *p);

/* `any: [...]` or `all: [...]`: the predicates of the list, each parsed into a child. */
static bool
parse_pred_list(loader_t *ld, yaml_node_t *v, mn_pred_t *p)
{
   size_t count;

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "\"any\"/\"all\"")) {
      return false;
   }
   count = mn_yaml__n_items(v);
   p->children = bson_malloc0(sizeof *p->children * (count + 1));
   for (size_t i = 0; i < count; i++) {
      p->n_children = i + 1;
      if (!parse_pred(ld, node_at(ld, v->data.sequence.items.start[i]), &p->children[i])) {
         return false;
      }
   }
   return true;
}

/* `{path: P, in: [values], ignore_case: B}`: the value at P is one of the values. */
static bool
parse_pred_in(loader_t *ld, yaml_node_t *n, yaml_node_t *v, mn_pred_t *p)
{
   yaml_node_t *in = map_get(ld, n, "in");
   yaml_node_t *ic = map_get(ld, n, "ignore_case");

   p->kind = MN_PRED_IN;
   if (!parse_path_value(ld, v, "path", true, &p->path)) {
      return false;
   }
   if (!in) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "\"when\" with \"path\" needs \"in\"");
      return false;
   }
   if (!expect_kind(ld, in, YAML_SEQUENCE_NODE, "\"in\"")) {
      return false;
   }
   if (ic && !parse_bool(ld, ic, "ignore_case", &p->ignore_case)) {
      return false;
   }
   return mn_yaml__strings(&ld->y, in, true, "\"in\" values must be scalars", &p->values,
                           &p->n_values);
}

/* A `when` predicate: the first of its keys, in the order below, says which kind it is. */
static bool
parse_pred(loader_t *ld, yaml_node_t *n, mn_pred_t *p)
{
   static const char *const keys[] = {"path", "in",  "ignore_case", "exists", "nonempty",
                                      "any",  "all", "not",         NULL};
   yaml_node_t *v;

   memset(p, 0, sizeof *p);
   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "\"when\"") || !check_keys(ld, n, keys, "\"when\"")) {
      return false;
   }
   if ((v = map_get(ld, n, "exists"))) {
      p->kind = MN_PRED_EXISTS;
      return parse_path_value(ld, v, "exists", true, &p->path);
   }
   if ((v = map_get(ld, n, "nonempty"))) {
      p->kind = MN_PRED_NONEMPTY;
      return parse_path_value(ld, v, "nonempty", true, &p->path);
   }
   if ((v = map_get(ld, n, "not"))) {
      p->kind = MN_PRED_NOT;
      p->children = bson_malloc0(sizeof *p->children);
      p->n_children = 1;
      return parse_pred(ld, v, &p->children[0]);
   }
   if ((v = map_get(ld, n, "any")) || (v = map_get(ld, n, "all"))) {
      p->kind = map_get(ld, n, "any") ? MN_PRED_ANY : MN_PRED_ALL;
      return parse_pred_list(ld, v, p);
   }
   if ((v = map_get(ld, n, "path"))) {
      return parse_pred_in(ld, n, v, p);
   }
   fail(ld, MN_MAPPING_MISSING_KEY, n,
        "\"when\" needs one of \"path\", \"exists\", \"nonempty\", \"any\", \"all\", \"not\"");
   return false;
}

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
      if (!parse_column(ld, name, node_at(ld, p->value), d, c)) {
         return false;
      }
      c->table_column = table_column(t, name);
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
static size_t
entry_n_columns(const mn_entry_t *e)
{
   size_t n = e->n_columns;

   for (size_t s = 0; s < e->n_shapes; s++) {
      n += e->shapes[s].n_columns;
   }
   return n;
}

/* Column k of an entry (k < entry_n_columns): its `columns` first, then each shape's. */
static mn_column_t *
entry_column(const mn_entry_t *e, size_t k)
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

static void
entry_cleanup(mn_entry_t *e)
{
   bson_free(e->name);
   bson_free(e->table);
   path_cleanup(&e->each);
   bson_free(e->split);
   pred_cleanup(e->when);
   bson_free(e->when);
   for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
      column_cleanup(entry_column(e, k));
   }
   bson_free(e->columns);
   for (size_t s = 0; s < e->n_shapes; s++) {
      bson_free(e->shapes[s].columns);
   }
   bson_free(e->shapes);
   bson_free(e->unique);
}

/* Every column of an entry, base then shapes, for checks. */
static mn_column_t *
entry_find_column(mn_entry_t *e, const char *name)
{
   for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
      if (strcmp(entry_column(e, k)->name, name) == 0) {
         return entry_column(e, k);
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
   *name = get_string(ld, n, key, true, what, &ok);
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

   e->name = get_string(ld, n, "name", false, where, &ok);
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
      if (!parse_path_value(ld, v, "each", self, &e->each)) {
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
      if ((choice = parse_choice(ld, v, "each_as", EACH_AS)) < 0) {
         return false;
      }
      if (!e->each_kind) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"each_as\" needs \"each\"");
         return false;
      }
      e->each_kind = choice == 0 ? MN_EACH_ARRAY : MN_EACH_MAP;
   }
   e->split = get_string(ld, n, "split", false, where, &ok);
   if (!ok) {
      return false;
   }
   if (e->split && (!e->each_kind || !*e->split)) {
      fail(ld, MN_MAPPING_BAD_VALUE, map_get(ld, n, "split"),
           "\"split\" needs \"each\" and a non-empty separator");
      return false;
   }
   if ((v = map_get(ld, n, "on_scalar"))) {
      if ((choice = parse_choice(ld, v, "on_scalar", ON_SCALAR)) < 0) {
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

   key = get_string(ld, n, "key", false, where, &ok);
   if (!ok) {
      return false;
   }
   e->table_index = table_find(m, e->table);
   if (e->table_index < 0) {
      e->table_index = table_add(m, e->table, key ? key : "id", coll_index);
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
   return !(v = map_get(ld, n, "shapes")) || parse_shapes(ld, v, d, t, e);
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
   for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
      mn_column_t *c = entry_column(e, k);
      mn_column_t *target;

      if (!c->raw_to_name) {
         continue;
      }
      target = entry_find_column(e, c->raw_to_name);
      if (target && MN_COLUMN_IS_PHI(target)) {
         mn_set_error(ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "mapping file \"%s\", line %d: \"raw_to\" of column \"%s\" names "
                      "column \"%s\", which is %s: the source text would be stored in it",
                      ld->y.name, c->line, c->name, target->name,
                      target->redact ? "redacted" : "hashed");
         return false;
      }
      c->raw_to = target ? target->table_column : table_column(t, c->raw_to_name);
   }
   return true;
}

/* The table column holding the document id (`value: doc_id`), one per entry at most. */
static bool
find_doc_id_column(loader_t *ld, yaml_node_t *n, const char *where, mn_entry_t *e)
{
   for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
      const mn_column_t *c = entry_column(e, k);

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
   static const char *const keys[] = {"table",   "name",           "parent",    "each",
                                      "each_as", "split",          "on_scalar", "when",
                                      "unique",  "on_duplicate",   "key",       "columns",
                                      "shapes",  "on_other_shape", NULL};
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
      if (!parse_pred(ld, v, e->when)) {
         return false;
      }
   }
   if ((v = map_get(ld, n, "on_duplicate"))) {
      if ((choice = parse_choice(ld, v, "on_duplicate", ON_DUP)) < 0) {
         return false;
      }
      e->duplicate_merge = choice == 1;
   }
   if ((v = map_get(ld, n, "on_other_shape"))) {
      if ((choice = parse_choice(ld, v, "on_other_shape", ON_OTHER)) < 0) {
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
static bool
resolve_column(loader_t *ld, mn_column_t *c)
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
static bool
parse_collection(loader_t *ld, yaml_node_t *n, int index, mn_collection_t *coll)
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
   coll->watermark = get_string(ld, n, "watermark", false, where, &ok);
   if (!ok) {
      return false;
   }
   if ((v = map_get(ld, n, "optional")) && !parse_bool(ld, v, "optional", &coll->optional)) {
      return false;
   }
   coll->max_rows = MN_MAX_ROWS_DEFAULT;
   if ((v = map_get(ld, n, "max_rows_per_document"))) {
      if (!parse_int(ld, v, "max_rows_per_document", 1, INT_MAX, &max_rows)) {
         return false;
      }
      coll->max_rows = (size_t)max_rows;
   }
   if ((v = map_get(ld, n, "defaults")) && !parse_defaults(ld, v, &d)) {
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
      if (segment_index(seg, &ignored)) {
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

static bool
check_crossings(loader_t *ld, mn_collection_t *coll)
{
   for (size_t i = 0; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];

      if (e->each_kind && !check_crossing(ld, coll, e->parent, &e->each, "\"each\"", true)) {
         return false;
      }
      if (e->when && !check_pred_crossings(ld, coll, (int)i, e->when)) {
         return false;
      }
      for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
         const mn_column_t *c = entry_column(e, k);
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

static void
compute_covered(mn_collection_t *coll)
{
   add_covered(coll, "_id");
   for (size_t i = 0; i < coll->n_ignore; i++) {
      add_covered(coll, coll->ignore[i]);
   }
   for (size_t i = 0; i < coll->n_entries; i++) {
      mn_entry_t *e = &coll->entries[i];
      for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
         cover_column(coll, (int)i, entry_column(e, k));
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
   m->schema = get_string(ld, root, "schema", false, "the top level", &ok);
   if (!ok) {
      return false;
   }
   if (!m->schema) {
      m->schema = bson_strdup("public");
   }
   m->sql_dir = get_string(ld, root, "sql_dir", false, "the top level", &ok);
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
      if (!parse_collection(ld, node_at(ld, *it), (int)(m->n_collections - 1), coll)) {
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
      for (size_t k = 0, nk = entry_n_columns(&coll->entries[ei]); k < nk; k++) {
         if (!resolve_column(ld, entry_column(&coll->entries[ei], k))) {
            return false;
         }
      }
   }
   if (!check_crossings(ld, coll)) {
      return false;
   }
   compute_covered(coll);
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
         for (size_t k = 0, nk = entry_n_columns(e); k < nk; k++) {
            const mn_column_t *c = entry_column(e, k);
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
      entry_cleanup(&c->entries[e]);
   }
   bson_free(c->entries);
   mn_yaml__free_strings(c->ignore, c->n_ignore);
   mn_yaml__free_strings(c->covered, c->n_covered);
   mn_yaml__free_strings(c->iterated, c->n_iterated);
   mn_yaml__free_strings(c->maps, c->n_maps);
   bson_free(c->watermark);
}

static void
table_cleanup(mn_table_t *t)
{
   mn_yaml__free_strings(t->columns, t->n_columns);
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
