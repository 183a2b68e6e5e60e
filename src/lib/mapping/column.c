/*
 * column.c - one column of a table entry and what it reads: field paths, the
 * policies (a collection's `defaults` and a column's own), the column's source,
 * type spec, policies and PHI controls (units, salt, redact, digest), and the
 * `when` predicates of an entry.  The parsers follow the rule at the head of
 * mapping.c: fill *out as far as you get, the caller cleans up.
 */
#include "mapping/mapping_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

/* Shortest salt `salt_env` accepts, in bytes. */
#define MN_MIN_SALT_LEN 16

/* ---- paths ---- */

void
mn_mapping__path_cleanup(mn_path_t *p)
{
   mn_strings__free(p->segments, p->n_segments);
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
bool
mn_mapping__segment_index(const char *seg, int64_t *out)
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
      out->is_index[out->n_segments] = mn_mapping__segment_index(seg, &out->index[out->n_segments]);
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
bool
mn_mapping__parse_path_value(loader_t *ld, yaml_node_t *v, const char *key, bool allow_special,
                             mn_path_t *out)
{
   if (!scalar(v)) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"%s\" takes a field path", key);
      return false;
   }
   return parse_path(ld, v, scalar(v), allow_special, out);
}

/* ---- policies ---- */

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
   if ((c = mn_mapping__parse_choice(ld, v, key, choices)) < 0) {
      return false;
   }
   for (int i = 0; POLICY_NAMES[i]; i++) {
      if (strcmp(POLICY_NAMES[i], choices[c]) == 0) {
         *out = (mn_policy_t)i;
      }
   }
   return true;
}

bool
mn_mapping__parse_defaults(loader_t *ld, yaml_node_t *n, defaults_t *d)
{
   static const char *const keys[] = {"on_invalid", "on_missing", "on_missing_reference", NULL};

   return expect_kind(ld, n, YAML_MAPPING_NODE, "\"defaults\"") &&
          check_keys(ld, n, keys, "\"defaults\"") &&
          parse_policy(ld, n, "on_invalid", POLICY_INVALID, &d->on_invalid) &&
          parse_policy(ld, n, "on_missing", POLICY_MISSING, &d->on_missing) &&
          parse_policy(ld, n, "on_missing_reference", POLICY_REF, &d->on_missing_reference);
}

/* ---- columns ---- */

void
mn_mapping__column_cleanup(mn_column_t *c)
{
   bson_free(c->name);
   for (size_t i = 0; i < c->n_paths; i++) {
      mn_mapping__path_cleanup(&c->paths[i]);
   }
   bson_free(c->paths);
   bson_free(c->const_value);
   bson_free(c->default_value);
   bson_free(c->raw_to_name);
   bson_free((void *)c->spec.transforms);
   mn_strings__free((char **)c->spec.enum_values, c->spec.n_enum);
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
      if ((choice = mn_mapping__parse_choice(ld, v, "value", VALUES)) < 0) {
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
      if ((choice = mn_mapping__parse_choice(ld, item, "transform", TRANSFORMS)) < 0) {
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
       !mn_mapping__parse_int(ld, v, "precision", 1, 1000, &c->spec.precision)) {
      return false;
   }
   if ((v = map_get(ld, n, "scale")) &&
       !mn_mapping__parse_int(ld, v, "scale", 0, 1000, &c->spec.scale)) {
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
      if ((choice = mn_mapping__parse_choice(ld, v, "empty", EMPTY)) < 0) {
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
   if ((v = map_get(ld, n, "required")) &&
       !mn_mapping__parse_bool(ld, v, "required", &c->required)) {
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

/* A column `name` at node n (its line) before it is parsed: no value source, the
 * policies of d. */
static void
column_init(mn_column_t *c, const char *name, yaml_node_t *n, const defaults_t *d)
{
   memset(c, 0, sizeof *c);
   c->name = bson_strdup(name);
   c->line = LINE(n);
   c->raw_to = -1;
   c->ref_collection = -1;
   c->spec.scale = -1;
   c->on_invalid = d->on_invalid;
   c->on_missing = d->on_missing;
   c->on_missing_reference = d->on_missing_reference;
}

/* What a column spec n gives after its source: type spec, policies, PHI controls. */
static bool
column_finish(loader_t *ld, yaml_node_t *n, const char *where, mn_column_t *c)
{
   yaml_node_t *v;

   if (!parse_column_type(ld, n, where, c) || !parse_column_policies(ld, n, c)) {
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

/*
 * One column of an entry or shape: `name: some.path` (shorthand) or a mapping of the
 * column's source, type spec, policies and PHI controls (redact, digest).  The entry's
 * `defaults` give the policies it does not set.
 */
bool
mn_mapping__parse_column(loader_t *ld, const char *name, yaml_node_t *n, const defaults_t *d,
                         mn_column_t *c)
{
   static const char *const keys[] = {"path",      "value",    "const",      "type",
                                      "precision", "scale",    "transform",  "empty",
                                      "enum",      "units",    "references", "on_invalid",
                                      "raw_to",    "required", "on_missing", "on_missing_reference",
                                      "default",   "redact",   "salt_env",   NULL};
   char where[300];

   column_init(c, name, n, d);
   snprintf(where, sizeof where, "column \"%s\"", name);
   if (n->type == YAML_SCALAR_NODE) {
      c->kind = MN_SRC_PATH;
      return parse_column_paths(ld, n, where, c);
   }
   return expect_kind(ld, n, YAML_MAPPING_NODE, where) && check_keys(ld, n, keys, where) &&
          parse_column_source(ld, n, where, c) && column_finish(ld, n, where, c);
}

/*
 * A column of a `flatten` (flatten.c): it reads `path` (the sub-document's path joined
 * with the field's, as written, its line at `at`); n is its spec, a type name
 * (`first_name: text`) or a mapping of a column's keys but the value source, plus
 * `column` (its name, which the caller has read).
 */
bool
mn_mapping__parse_flat_column(loader_t *ld, const char *name, yaml_node_t *n, const char *path,
                              yaml_node_t *at, const defaults_t *d, mn_column_t *c)
{
   static const char *const keys[] = {"column",     "type",
                                      "precision",  "scale",
                                      "transform",  "empty",
                                      "enum",       "units",
                                      "references", "on_invalid",
                                      "raw_to",     "required",
                                      "on_missing", "on_missing_reference",
                                      "default",    "redact",
                                      "salt_env",   NULL};
   char where[300];
   yaml_node_t *v;

   column_init(c, name, n, d);
   snprintf(where, sizeof where, "column \"%s\"", name);
   c->kind = MN_SRC_PATH;
   c->paths = bson_malloc0(sizeof(mn_path_t));
   c->n_paths = 1;
   if (!parse_path(ld, at, path, true, &c->paths[0])) {
      return false;
   }
   if (n->type == YAML_SCALAR_NODE) {
      if (!mn_type_from_name(scalar(n), &c->spec.type)) {
         fail(ld, MN_MAPPING_BAD_VALUE, n, "unrecognized column type \"%s\"", scalar(n));
         return false;
      }
      return true;
   }
   if (!expect_kind(ld, n, YAML_MAPPING_NODE, where) || !check_keys(ld, n, keys, where)) {
      return false;
   }
   if ((v = map_get(ld, n, "default"))) {
      if (!scalar(v)) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "\"default\" of %s must be a scalar", where);
         return false;
      }
      c->default_value = bson_strdup(scalar(v));
   }
   return column_finish(ld, n, where, c);
}

/* ---- predicates ---- */

void
mn_mapping__pred_cleanup(mn_pred_t *p)
{
   if (!p) {
      return;
   }
   mn_mapping__path_cleanup(&p->path);
   mn_strings__free(p->values, p->n_values);
   for (size_t i = 0; i < p->n_children; i++) {
      mn_mapping__pred_cleanup(&p->children[i]);
   }
   bson_free(p->children);
}

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
      if (!mn_mapping__parse_pred(ld, node_at(ld, v->data.sequence.items.start[i]),
                                  &p->children[i])) {
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
   if (!mn_mapping__parse_path_value(ld, v, "path", true, &p->path)) {
      return false;
   }
   if (!in) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "\"when\" with \"path\" needs \"in\"");
      return false;
   }
   if (!expect_kind(ld, in, YAML_SEQUENCE_NODE, "\"in\"")) {
      return false;
   }
   if (ic && !mn_mapping__parse_bool(ld, ic, "ignore_case", &p->ignore_case)) {
      return false;
   }
   return mn_yaml__strings(&ld->y, in, true, "\"in\" values must be scalars", &p->values,
                           &p->n_values);
}

/* A `when` predicate: the first of its keys, in the order below, says which kind it is. */
bool
mn_mapping__parse_pred(loader_t *ld, yaml_node_t *n, mn_pred_t *p)
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
      return mn_mapping__parse_path_value(ld, v, "exists", true, &p->path);
   }
   if ((v = map_get(ld, n, "nonempty"))) {
      p->kind = MN_PRED_NONEMPTY;
      return mn_mapping__parse_path_value(ld, v, "nonempty", true, &p->path);
   }
   if ((v = map_get(ld, n, "not"))) {
      p->kind = MN_PRED_NOT;
      p->children = bson_malloc0(sizeof *p->children);
      p->n_children = 1;
      return mn_mapping__parse_pred(ld, v, &p->children[0]);
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
