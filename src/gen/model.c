/*
 * model.c - generator model file (YAML) -> compiled model.
 *
 * Read with libyaml's document loader, which keeps each node's line, like
 * mapping.c: every error names the file and the line, as
 * `model file "F", line N: ...`.  The format is docs/generate.md.
 */
#include "gen_private.h"
#include "util/calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/yamldoc.h"

typedef struct {
   mn_yamldoc_t y; /* the document, its name, and where errors go */
   const char *base_dir;
   mn_gen_model_t *m;
   mn_gen_coll_t *coll; /* the collection being loaded */
} loader_t;

/* ---- numbers ---- */

/* A decimal number ("12", "-0.5", "1e3" is not accepted) scaled by 10^decimals, exactly. */
static bool
parse_fixed(const char *s, int decimals, int64_t *out)
{
   const char *p = s;
   bool neg = false;
   int64_t v = 0;
   int frac = -1;
   bool digits = false;

   if (!s || !*s) {
      return false;
   }
   if (*p == '-' || *p == '+') {
      neg = *p == '-';
      p++;
   }
   for (; *p; p++) {
      if (*p == '.' && frac < 0) {
         frac = 0;
         continue;
      }
      if (*p < '0' || *p > '9') {
         return false;
      }
      digits = true;
      if (frac >= 0) {
         if (frac == decimals) {
            if (*p != '0') {
               return false; /* more digits than the precision allows */
            }
            continue;
         }
         frac++;
      }
      if (v > (INT64_MAX - 9) / 10) {
         return false;
      }
      v = v * 10 + (*p - '0');
   }
   if (!digits) {
      return false;
   }
   for (int f = frac < 0 ? 0 : frac; f < decimals; f++) {
      if (v > INT64_MAX / 10) {
         return false;
      }
      v *= 10;
   }
   *out = neg ? -v : v;
   return true;
}

static bool
get_fixed(loader_t *ld, yaml_node_t *n, int decimals, const char *what, int64_t *out)
{
   if (!parse_fixed(scalar(n), decimals, out)) {
      fail(ld, MN_MAPPING_BAD_VALUE, n,
           "%s must be a number with at most %d decimal(s), not \"%s\"", what, decimals,
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   return true;
}

/* A probability or rate from 0 to 1, in parts per billion. */
static bool
get_rate(loader_t *ld, yaml_node_t *n, const char *what, uint64_t *out)
{
   int64_t v;

   if (!parse_fixed(scalar(n), 9, &v) || v < 0 || v > (int64_t)MN_GEN_PPB) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s must be a number from 0 to 1, not \"%s\"", what,
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   *out = (uint64_t)v;
   return true;
}

static bool
get_weight(loader_t *ld, yaml_node_t *n, uint64_t *out)
{
   int64_t v;

   if (!parse_fixed(scalar(n), 0, &v) || v < 0 || v > 1000000000) {
      fail(ld, MN_MAPPING_BAD_VALUE, n,
           "a weight must be a whole number from 0 to 1000000000, not \"%s\"",
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   *out = (uint64_t)v;
   return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" -> ms since the epoch. */
static bool
get_date(loader_t *ld, yaml_node_t *n, const char *what, int64_t *out)
{
   const char *s = scalar(n);
   int y, mo, d, h = 0, mi = 0, se = 0, used = 0;

   if (s && (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3) &&
       (s[used] == '\0' ||
        (sscanf(s + used, "T%2d:%2d:%2dZ%n", &h, &mi, &se, &used) == 3 && s[10 + used] == '\0')) &&
       mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 60) {
      *out = (mn_value__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000;
      return true;
   }
   fail(ld, MN_MAPPING_BAD_VALUE, n,
        "%s must be a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not \"%s\"", what,
        s ? s : "(not a scalar)");
   return false;
}

/* [lo, hi] of fixed numbers. */
static bool
get_range(loader_t *ld, yaml_node_t *n, int decimals, const char *what, int64_t *lo, int64_t *hi)
{
   if (n->type != YAML_SEQUENCE_NODE ||
       n->data.sequence.items.top - n->data.sequence.items.start != 2) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s must be a list [low, high]", what);
      return false;
   }
   if (!get_fixed(ld, node_at(ld, n->data.sequence.items.start[0]), decimals, what, lo) ||
       !get_fixed(ld, node_at(ld, n->data.sequence.items.start[1]), decimals, what, hi)) {
      return false;
   }
   if (*lo > *hi) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s: low is greater than high", what);
      return false;
   }
   return true;
}

/* ---- lists ---- */

static void
list_add(mn_gen_list_t *l, const char *item, uint64_t weight)
{
   l->items = bson_realloc(l->items, (l->n + 1) * sizeof *l->items);
   l->cum = bson_realloc(l->cum, (l->n + 1) * sizeof *l->cum);
   l->items[l->n] = bson_strdup(item);
   l->cum[l->n] = (l->n ? l->cum[l->n - 1] : 0) + weight;
   l->n++;
}

static void
list_cleanup(mn_gen_list_t *l)
{
   for (size_t i = 0; i < l->n; i++) {
      bson_free(l->items[i]);
   }
   bson_free(l->items);
   bson_free(l->cum);
   memset(l, 0, sizeof *l);
}

/* A file beside the model: one item per line; blank lines and lines starting "#" skipped. */
static bool
list_from_file(loader_t *ld, yaml_node_t *at, const char *file, mn_gen_list_t *l)
{
   char *path = NULL;
   char *text = NULL;
   gsize len = 0;
   GError *gerr = NULL;
   char **lines = NULL;
   bool ok = false;

   if (file[0] == '/' || !ld->base_dir) {
      path = bson_strdup(file);
   } else {
      path = bson_strdup_printf("%s/%s", ld->base_dir, file);
   }
   if (!g_file_get_contents(path, &text, &len, &gerr)) {
      fail(ld, MN_MAPPING_BAD_VALUE, at, "could not read vocabulary file \"%s\": %s", file,
           gerr->message);
      g_error_free(gerr);
      goto cleanup;
   }
   if (!g_utf8_validate(text, (gssize)len, NULL)) {
      fail(ld, MN_MAPPING_BAD_VALUE, at, "vocabulary file \"%s\" is not valid UTF-8", file);
      goto cleanup;
   }
   lines = g_strsplit(text, "\n", -1);
   for (char **p = lines; *p; p++) {
      size_t n = strlen(*p);
      if (n && (*p)[n - 1] == '\r') {
         (*p)[n - 1] = '\0';
      }
      if (**p && **p != '#') {
         list_add(l, *p, 1);
      }
   }
   if (l->n == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, at, "vocabulary file \"%s\" has no entries", file);
      goto cleanup;
   }
   ok = true;
cleanup:
   g_strfreev(lines);
   g_free(text);
   bson_free(path);
   return ok;
}

/* A list: [a, b], {a: 3, b: 1} (weighted) or {file: f}. */
static bool
parse_list(loader_t *ld, yaml_node_t *n, const char *what, mn_gen_list_t *l)
{
   if (n->type == YAML_SEQUENCE_NODE) {
      for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
           it++) {
         yaml_node_t *v = node_at(ld, *it);
         if (!scalar(v)) {
            fail(ld, MN_MAPPING_BAD_VALUE, v, "the items of %s must be scalars", what);
            return false;
         }
         list_add(l, scalar(v), 1);
      }
   } else if (n->type == YAML_MAPPING_NODE) {
      yaml_node_t *file = map_get(ld, n, "file");
      if (file) {
         static const char *const keys[] = {"file", NULL};
         if (!check_keys(ld, n, keys, what) || !expect_kind(ld, file, YAML_SCALAR_NODE, "file")) {
            return false;
         }
         return list_from_file(ld, file, scalar(file), l);
      }
      for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
         uint64_t w;
         if (!get_weight(ld, node_at(ld, p->value), &w)) {
            return false;
         }
         list_add(l, scalar(node_at(ld, p->key)), w);
      }
   } else {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s must be a list, a weighted mapping or {file: ...}",
           what);
      return false;
   }
   if (l->n == 0 || l->cum[l->n - 1] == 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s is empty", what);
      return false;
   }
   return true;
}

/*
 * A count: N, [lo, hi], or {"a-b": weight, "n": weight, ...}: weighted ranges, a fixed N
 * being the one range N..N.  Every count is from 0 to 65535 (an array's element keys).
 */
static bool
parse_count(loader_t *ld, yaml_node_t *n, mn_gen_count_t *c)
{
   c->n = 0;
   if (n->type == YAML_SCALAR_NODE || n->type == YAML_SEQUENCE_NODE) {
      int64_t lo, hi;
      if (n->type == YAML_SCALAR_NODE) {
         if (!get_fixed(ld, n, 0, "count", &lo)) {
            return false;
         }
         hi = lo;
      } else if (!get_range(ld, n, 0, "count", &lo, &hi)) {
         return false;
      }
      c->lo = bson_malloc(sizeof *c->lo);
      c->hi = bson_malloc(sizeof *c->hi);
      c->cum = bson_malloc(sizeof *c->cum);
      c->lo[0] = lo;
      c->hi[0] = hi;
      c->cum[0] = 1;
      c->n = 1;
   } else {
      size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
      c->lo = bson_malloc0(np * sizeof *c->lo + 1);
      c->hi = bson_malloc0(np * sizeof *c->hi + 1);
      c->cum = bson_malloc0(np * sizeof *c->cum + 1);
      for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
         yaml_node_t *kn = node_at(ld, p->key);
         const char *k = scalar(kn);
         long long lo, hi;
         int used = 0;
         uint64_t w;
         if (!k ||
             !((sscanf(k, "%lld-%lld%n", &lo, &hi, &used) == 2 && !k[used]) ||
               (sscanf(k, "%lld%n", &lo, &used) == 1 && !k[used] && ((hi = lo), 1))) ||
             lo < 0 || lo > hi) {
            fail(ld, MN_MAPPING_BAD_VALUE, kn,
                 "a count range must be \"N\" or \"LOW-HIGH\", not \"%s\"",
                 k ? k : "(not a scalar)");
            return false;
         }
         if (!get_weight(ld, node_at(ld, p->value), &w)) {
            return false;
         }
         c->lo[c->n] = lo;
         c->hi[c->n] = hi;
         c->cum[c->n] = (c->n ? c->cum[c->n - 1] : 0) + w;
         c->n++;
      }
      if (c->n == 0 || c->cum[c->n - 1] == 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, n, "count has no weight");
         return false;
      }
   }
   for (size_t i = 0; i < c->n; i++) {
      if (c->lo[i] < 0 || c->hi[i] > 65535) {
         fail(ld, MN_MAPPING_BAD_VALUE, n, "a count must be from 0 to 65535");
         return false;
      }
   }
   return true;
}

static void
count_cleanup(mn_gen_count_t *c)
{
   bson_free(c->lo);
   bson_free(c->hi);
   bson_free(c->cum);
   memset(c, 0, sizeof *c);
}

/* ---- names ---- */

/*
 * The index of the item named `name` among n items of `size` bytes at `items`, each a
 * struct whose first member is its `char *name` (vocabularies, traits, collections), or -1.
 */
static int
find_named(const void *items, size_t n, size_t size, const char *name)
{
   for (size_t i = 0; i < n; i++) {
      const char *const *item_name = (const void *)((const char *)items + i * size);
      if (*item_name && strcmp(*item_name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static int
find_vocab(const mn_gen_model_t *m, const char *name)
{
   return find_named(m->vocabs, m->n_vocabs, sizeof *m->vocabs, name);
}

static int
find_trait(const mn_gen_coll_t *c, const char *name)
{
   return find_named(c->traits, c->n_traits, sizeof *c->traits, name);
}

static int
find_coll(const mn_gen_model_t *m, const char *name)
{
   return find_named(m->colls, m->n_colls, sizeof *m->colls, name);
}

static int
table_index(mn_gen_model_t *m, const char *name)
{
   for (guint i = 0; i < m->tables->len; i++) {
      if (strcmp(g_ptr_array_index(m->tables, i), name) == 0) {
         return (int)i;
      }
   }
   g_ptr_array_add(m->tables, bson_strdup(name));
   return (int)m->tables->len - 1;
}

/* {trait: [values]} against collection `c` -> trait index and value mask. */
static bool
parse_filter(loader_t *ld, const mn_gen_coll_t *c, yaml_node_t *n, const char *what, int *trait,
             uint64_t *mask)
{
   yaml_node_pair_t *p;
   yaml_node_t *vals;
   const char *tname;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, what)) {
      return false;
   }
   if (n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s must name one trait: {trait: [values]}", what);
      return false;
   }
   p = n->data.mapping.pairs.start;
   tname = scalar(node_at(ld, p->key));
   *trait = tname ? find_trait(c, tname) : -1;
   if (*trait < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, n,
           "%s names trait \"%s\", which collection \"%s\" does not declare", what,
           tname ? tname : "?", c->name);
      return false;
   }
   vals = node_at(ld, p->value);
   if (!expect_kind(ld, vals, YAML_SEQUENCE_NODE, what)) {
      return false;
   }
   *mask = 0;
   for (yaml_node_item_t *it = vals->data.sequence.items.start; it < vals->data.sequence.items.top;
        it++) {
      yaml_node_t *v = node_at(ld, *it);
      const mn_gen_trait_t *t = &c->traits[*trait];
      bool found = false;
      for (size_t i = 0; i < t->n; i++) {
         if (scalar(v) && strcmp(scalar(v), t->values[i]) == 0) {
            *mask |= UINT64_C(1) << i;
            found = true;
         }
      }
      if (!found) {
         fail(ld, MN_MAPPING_BAD_REFERENCE, v, "trait \"%s\" has no value \"%s\"", t->name,
              scalar(v) ? scalar(v) : "?");
         return false;
      }
   }
   return true;
}

/* ---- generators ---- */

/* The index of "collection\x1fpath" in drift_paths (added when new). */
static int
drift_index(loader_t *ld, const char *path)
{
   char *key = bson_strdup_printf("%s\x1f%s", ld->coll->name, path);

   for (guint i = 0; i < ld->m->drift_paths->len; i++) {
      if (strcmp(g_ptr_array_index(ld->m->drift_paths, i), key) == 0) {
         bson_free(key);
         return (int)i;
      }
   }
   g_ptr_array_add(ld->m->drift_paths, key);
   return (int)ld->m->drift_paths->len - 1;
}

static bool parse_field(loader_t *ld, yaml_node_t *n, const char *name, const char *parent_path,
                        bool top, int elem_table, mn_gen_field_t *f);
static void field_cleanup(mn_gen_field_t *f);
static void gen_cleanup(mn_gen_gen_t *g);

/* Fields of a sub-document: {name: spec, ...}. */
static bool
parse_fields(loader_t *ld, yaml_node_t *n, const char *parent_path, bool top, mn_gen_field_t **out,
             size_t *n_out)
{
   size_t np;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "fields")) {
      return false;
   }
   np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
   *out = bson_malloc0((np + 1) * sizeof **out);
   *n_out = 0;
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      const char *k = scalar(node_at(ld, p->key));
      if (!k || !*k || strchr(k, '.') || k[0] == '$') {
         fail(ld, MN_MAPPING_BAD_VALUE, node_at(ld, p->key),
              "field name \"%s\" must be non-empty, without \".\" or a leading \"$\"", k ? k : "");
         return false;
      }
      (*n_out)++;
      if (!parse_field(ld, node_at(ld, p->value), k, parent_path, top, -1, &(*out)[*n_out - 1])) {
         return false;
      }
   }
   return true;
}

/*
 * One placeholder of template s (its text between the braces in `inner`): {index},
 * {@field}, {int:LOW-HIGH} (zero-padded when LOW has a leading zero), a vocabulary, each
 * optionally as {lower:...}.
 */
static bool
parse_placeholder(loader_t *ld, yaml_node_t *n, const char *s, const char *inner, mn_gen_tpl_t *t)
{
   const char *name = inner;
   long long lo, hi;
   int used = 0;

   if (strncmp(name, "lower:", 6) == 0) {
      t->lower = 1;
      name += 6;
   }
   if (strcmp(name, "index") == 0) {
      t->kind = TPL_INDEX;
   } else if (name[0] == '@' && name[1]) {
      t->kind = TPL_FIELD;
      t->text = bson_strdup(name + 1);
   } else if (strncmp(name, "int:", 4) == 0 &&
              sscanf(name + 4, "%lld-%lld%n", &lo, &hi, &used) == 2 && !name[4 + used] &&
              lo <= hi && lo >= 0) {
      t->kind = TPL_INT;
      t->lo = lo;
      t->hi = hi;
      /* {int:001-999}: a leading zero asks for zero padding to that width */
      t->pad = name[4] == '0' && name[5] != '-' ? (int)strcspn(name + 4, "-") : 0;
   } else if (find_vocab(ld->m, name) >= 0) {
      t->kind = TPL_VOCAB;
      t->vocab = find_vocab(ld->m, name);
   } else {
      fail(ld, MN_MAPPING_BAD_REFERENCE, n,
           "template \"%s\": \"{%s}\" is no vocabulary, {index}, {int:LOW-HIGH} or {@field}", s,
           inner);
      return false;
   }
   return true;
}

/* The literal text gathered so far, as a TPL_TEXT part (none when empty). */
static void
flush_literal(GArray *parts, GString *lit)
{
   if (lit->len) {
      mn_gen_tpl_t lt = {.kind = TPL_TEXT, .text = bson_strdup(lit->str)};
      g_array_append_val(parts, lt);
      g_string_truncate(lit, 0);
   }
}

/* Parse a template "text {vocab} {index} {int:1-9} {int:001-999} {@field} {lower:vocab}". */
static bool
parse_template(loader_t *ld, yaml_node_t *n, mn_gen_gen_t *g)
{
   const char *s = scalar(n);
   GArray *parts = g_array_new(FALSE, TRUE, sizeof(mn_gen_tpl_t));
   GString *lit = g_string_new(NULL);
   bool ok = false;

   if (!s) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "template must be a string");
      goto cleanup;
   }
   for (const char *p = s; *p;) {
      const char *close;
      char *inner;
      mn_gen_tpl_t t = {0};
      bool parsed;

      if (*p != '{') {
         g_string_append_c(lit, *p++);
         continue;
      }
      if (p[1] == '{') { /* "{{" is a literal brace */
         g_string_append_c(lit, '{');
         p += 2;
         continue;
      }
      close = strchr(p, '}');
      if (!close) {
         fail(ld, MN_MAPPING_BAD_VALUE, n, "template \"%s\": unclosed \"{\"", s);
         goto cleanup;
      }
      flush_literal(parts, lit);
      inner = bson_strndup(p + 1, (size_t)(close - p - 1));
      parsed = parse_placeholder(ld, n, s, inner, &t);
      bson_free(inner);
      if (!parsed) {
         goto cleanup;
      }
      g_array_append_val(parts, t);
      p = close + 1;
   }
   flush_literal(parts, lit);
   ok = true;
cleanup:
   g->n_parts = parts->len;
   g->parts = (mn_gen_tpl_t *)g_array_free(parts, FALSE);
   g_string_free(lit, TRUE);
   return ok;
}

/* The table named by `rows: t`. */
static bool
parse_rows_table(loader_t *ld, yaml_node_t *n, int *table)
{
   if (!scalar(n) || !*scalar(n)) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "\"rows\" must name a table");
      return false;
   }
   *table = table_index(ld->m, scalar(n));
   return true;
}

/*
 * Where a generator is read: the field's mapping node `n`, the value `v` of its generator
 * key `key`, the field's path (for element paths) and whether it is a field of the document.
 */
typedef struct {
   yaml_node_t *n;
   yaml_node_t *v;
   const char *key;
   const char *path;
   bool top;
} gen_site_t;

static bool parse_gen(loader_t *ld, yaml_node_t *n, const char *path, bool top,
                      const char *const *extra, mn_gen_gen_t *g);

/* The document _id needs a time range: its ObjectIds spread over it. */
static bool
parse_objectid(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const keys[] = {"from", "to", NULL};
   yaml_node_t *v = s->v;
   bool is_doc_id = s->top && strcmp(s->path, "_id") == 0;

   if (v->type == YAML_MAPPING_NODE) {
      yaml_node_t *from = map_get(ld, v, "from"), *to = map_get(ld, v, "to");
      if (!check_keys(ld, v, keys, "objectid")) {
         return false;
      }
      if (from && !get_date(ld, from, "from", &g->from_ms)) {
         return false;
      }
      if (to && !get_date(ld, to, "to", &g->to_ms)) {
         return false;
      }
      if (is_doc_id && (!from || !to)) {
         fail(ld, MN_MAPPING_MISSING_KEY, v,
              "the document _id needs objectid: {from: DATE, to: DATE}");
         return false;
      }
   } else if (!scalar(v) || strcmp(scalar(v), "true") != 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "objectid must be {from: DATE, to: DATE} or true");
      return false;
   } else if (is_doc_id) {
      fail(ld, MN_MAPPING_MISSING_KEY, v,
           "the document _id needs objectid: {from: DATE, to: DATE}");
      return false;
   }
   return true;
}

/* `on_rejected_target: reject|keep` of a ref to collection c (named by node cn). */
static bool
parse_on_rejected(loader_t *ld, yaml_node_t *r, yaml_node_t *cn, mn_gen_gen_t *g)
{
   const char *s = scalar(r);

   if (!s || (strcmp(s, "reject") && strcmp(s, "keep"))) {
      fail(ld, MN_MAPPING_BAD_VALUE, r,
           "unrecognized on_rejected_target \"%s\" (expected one of: reject, keep)", s ? s : "?");
      return false;
   }
   g->reject_if_rejected = strcmp(s, "reject") == 0;
   if (g->reject_if_rejected && &ld->m->colls[g->target] >= ld->coll) {
      fail(ld, MN_MAPPING_BAD_VALUE, r,
           "on_rejected_target: reject needs collection \"%s\" to come before \"%s\"", scalar(cn),
           ld->coll->name);
      return false;
   }
   return true;
}

/* ref: {collection, where, on_rejected_target, reason}: an earlier (or this) collection. */
static bool
parse_ref(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const keys[] = {"collection", "where", "on_rejected_target", "reason", NULL};
   yaml_node_t *v = s->v, *c, *w, *r;

   if (!expect_kind(ld, v, YAML_MAPPING_NODE, "ref") || !check_keys(ld, v, keys, "ref")) {
      return false;
   }
   c = map_get(ld, v, "collection");
   if (!c || !scalar(c)) {
      fail(ld, MN_MAPPING_MISSING_KEY, v, "missing key \"collection\" in ref");
      return false;
   }
   g->target = find_coll(ld->m, scalar(c));
   if (g->target < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, c,
           "ref names collection \"%s\", which is neither this one nor declared before it",
           scalar(c));
      return false;
   }
   if ((w = map_get(ld, v, "where")) &&
       !parse_filter(ld, &ld->m->colls[g->target], w, "where", &g->where_trait, &g->where_mask)) {
      return false;
   }
   if ((r = map_get(ld, v, "on_rejected_target")) && !parse_on_rejected(ld, r, c, g)) {
      return false;
   }
   if ((r = map_get(ld, v, "reason"))) {
      g->reject_reason = bson_strdup(scalar(r));
   }
   return true;
}

static bool
parse_trait_gen(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   g->trait = scalar(s->v) ? find_trait(ld->coll, scalar(s->v)) : -1;
   if (g->trait < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, s->v, "collection \"%s\" has no trait \"%s\"",
           ld->coll->name, scalar(s->v) ? scalar(s->v) : "?");
      return false;
   }
   return true;
}

static bool
parse_const(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   if (!scalar(s->v)) {
      fail(ld, MN_MAPPING_BAD_VALUE, s->v, "const must be a string");
      return false;
   }
   g->text = bson_strdup(scalar(s->v));
   return true;
}

static bool
parse_bool(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   return get_rate(ld, s->v, "bool (the probability of true)", &g->true_ppb);
}

/* pick: a vocabulary's name, or an inline list. */
static bool
parse_pick(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   if (!scalar(s->v)) {
      return parse_list(ld, s->v, "pick", &g->list);
   }
   g->vocab = find_vocab(ld->m, scalar(s->v));
   if (g->vocab < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, s->v,
           "pick names vocabulary \"%s\", which the model does not declare", scalar(s->v));
      return false;
   }
   return true;
}

/* template: "..." with an optional `repeat: [lo, hi]` beside it. */
static bool
parse_template_gen(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   yaml_node_t *rep = map_get(ld, s->n, "repeat");

   if (!parse_template(ld, s->v, g)) {
      return false;
   }
   return !rep || get_range(ld, rep, 0, "repeat", &g->rep_lo, &g->rep_hi);
}

/* int, long, double, decimal: [lo, hi] in units of 10^-decimals, within the type's range. */
static bool
parse_number(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   yaml_node_t *v = s->v;

   if ((g->kind == MN_GEN_INT || g->kind == MN_GEN_LONG) && g->decimals) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "\"decimals\" applies to double and decimal only");
      return false;
   }
   if (!get_range(ld, v, g->decimals, s->key, &g->lo, &g->hi)) {
      return false;
   }
   if (g->kind == MN_GEN_INT && (g->lo < INT32_MIN || g->hi > INT32_MAX)) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "int range must fit in 32 bits");
      return false;
   }
   if (g->kind == MN_GEN_DOUBLE && (g->lo < -(INT64_C(1) << 53) || g->hi > (INT64_C(1) << 53))) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "double range must stay within 2^53 units");
      return false;
   }
   return true;
}

/* A boolean option: true when the scalar is "true" (anything else is false). */
static bool
is_true(yaml_node_t *x)
{
   return scalar(x) && !strcmp(scalar(x), "true");
}

/*
 * date, date_text: {from, to} (a random time in the range), {after, seconds} (after a date
 * field already generated), {from_id: true} (the _id's time), or cumulative in an array.
 */
static bool
parse_date(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const keys[] = {"from",       "to",      "after", "seconds",
                                      "cumulative", "from_id", NULL};
   yaml_node_t *v = s->v, *x;

   if (!expect_kind(ld, v, YAML_MAPPING_NODE, s->key) || !check_keys(ld, v, keys, s->key)) {
      return false;
   }
   if ((x = map_get(ld, v, "from")) && !get_date(ld, x, "from", &g->from_ms)) {
      return false;
   }
   if ((x = map_get(ld, v, "to")) && !get_date(ld, x, "to", &g->to_ms)) {
      return false;
   }
   if ((x = map_get(ld, v, "after"))) {
      g->after = bson_strdup(scalar(x) ? scalar(x) : "");
   }
   if ((x = map_get(ld, v, "from_id"))) {
      g->from_id = is_true(x);
   }
   if ((x = map_get(ld, v, "cumulative"))) {
      g->cumulative = is_true(x);
   }
   if ((x = map_get(ld, v, "seconds")) &&
       !get_range(ld, x, 3, "seconds", &g->step_lo, &g->step_hi)) {
      return false;
   }
   if (!g->after && !g->from_id && !g->cumulative) {
      if (!map_get(ld, v, "from") || !map_get(ld, v, "to")) {
         fail(ld, MN_MAPPING_MISSING_KEY, v,
              "%s needs {from, to}, {after, seconds} or {from_id: true}", s->key);
         return false;
      }
      if (g->from_ms > g->to_ms) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "%s: from is after to", s->key);
         return false;
      }
   }
   return true;
}

static bool
parse_document(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   return parse_fields(ld, s->v, s->path, false, &g->fields, &g->n_fields);
}

/*
 * array, join: {count, of, distinct} (join also `sep`), with `rows: table` beside it when
 * each element is a row.  A join's elements must be strings.
 */
static bool
parse_array(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const akeys[] = {"count", "of", "distinct", NULL};
   static const char *const jkeys[] = {"count", "of", "distinct", "sep", NULL};
   bool join = g->kind == MN_GEN_JOIN;
   yaml_node_t *v = s->v, *c, *of, *d, *r = map_get(ld, s->n, "rows");

   if (!expect_kind(ld, v, YAML_MAPPING_NODE, s->key) ||
       !check_keys(ld, v, join ? jkeys : akeys, s->key)) {
      return false;
   }
   if (r && !parse_rows_table(ld, r, &g->rows_table)) {
      return false;
   }
   c = map_get(ld, v, "count");
   of = map_get(ld, v, "of");
   if (!c || !of) {
      fail(ld, MN_MAPPING_MISSING_KEY, v, "missing key \"%s\" in %s", c ? "of" : "count", s->key);
      return false;
   }
   if (!parse_count(ld, c, &g->count)) {
      return false;
   }
   if ((d = map_get(ld, v, "distinct"))) {
      g->distinct = is_true(d);
   }
   if (join) {
      d = map_get(ld, v, "sep");
      g->sep = bson_strdup(d && scalar(d) ? scalar(d) : ", ");
   }
   g->of = bson_malloc0(sizeof *g->of);
   if (!parse_field(ld, of, NULL, s->path, false, g->rows_table, g->of)) {
      return false;
   }
   if (join && g->of->gen.kind != MN_GEN_PICK && g->of->gen.kind != MN_GEN_TEMPLATE &&
       g->of->gen.kind != MN_GEN_CONST) {
      fail(ld, MN_MAPPING_BAD_VALUE, of, "join elements must be strings (pick, template, const)");
      return false;
   }
   return true;
}

/* oneof: a list of weighted alternatives, each a generator with an optional `weight`. */
static bool
parse_oneof(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const akeys[] = {"weight", "decimals", "repeat", "rows", NULL};
   yaml_node_t *v = s->v;

   if (!expect_kind(ld, v, YAML_SEQUENCE_NODE, "oneof")) {
      return false;
   }
   g->n_alts = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
   g->alts = bson_malloc0((g->n_alts + 1) * sizeof *g->alts);
   g->alt_cum = bson_malloc0((g->n_alts + 1) * sizeof *g->alt_cum);
   for (size_t i = 0; i < g->n_alts; i++) {
      yaml_node_t *an = node_at(ld, v->data.sequence.items.start[i]);
      yaml_node_t *w = map_get(ld, an, "weight");
      uint64_t wt = 1;
      if (!parse_gen(ld, an, s->path, s->top, akeys, &g->alts[i]) ||
          (w && !get_weight(ld, w, &wt))) {
         g->n_alts = i + 1;
         return false;
      }
      g->alt_cum[i] = (i ? g->alt_cum[i - 1] : 0) + wt;
   }
   if (!g->n_alts || !g->alt_cum[g->n_alts - 1]) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "oneof needs at least one alternative with a weight");
      return false;
   }
   return true;
}

/* seq: {per: ref_field}: 1, 2, ... per value of a ref field of the document. */
static bool
parse_seq(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   static const char *const keys[] = {"per", NULL};
   yaml_node_t *v = s->v, *per;

   if (!expect_kind(ld, v, YAML_MAPPING_NODE, "seq") || !check_keys(ld, v, keys, "seq")) {
      return false;
   }
   per = map_get(ld, v, "per");
   if (!per || !scalar(per)) {
      fail(ld, MN_MAPPING_MISSING_KEY, v, "missing key \"per\" in seq");
      return false;
   }
   g->per = bson_strdup(scalar(per));
   if (!s->top) {
      fail(ld, MN_MAPPING_BAD_VALUE, v, "seq is for fields of the document itself");
      return false;
   }
   return true;
}

typedef bool (*gen_parse_fn)(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g);

/* The generator keys, their kinds and parsers (NULL: the key's value is not read). */
static const struct {
   const char *key;
   mn_gen_kind_t kind;
   gen_parse_fn parse;
} GEN_PARSERS[] = {
   {"objectid", MN_GEN_OBJECTID, parse_objectid},
   {"ref", MN_GEN_REF, parse_ref},
   {"trait", MN_GEN_TRAIT, parse_trait_gen},
   {"const", MN_GEN_CONST, parse_const},
   {"bool", MN_GEN_BOOL, parse_bool},
   {"pick", MN_GEN_PICK, parse_pick},
   {"template", MN_GEN_TEMPLATE, parse_template_gen},
   {"int", MN_GEN_INT, parse_number},
   {"long", MN_GEN_LONG, parse_number},
   {"double", MN_GEN_DOUBLE, parse_number},
   {"decimal", MN_GEN_DECIMAL, parse_number},
   {"date", MN_GEN_DATE, parse_date},
   {"date_text", MN_GEN_DATE_TEXT, parse_date},
   {"document", MN_GEN_DOCUMENT, parse_document},
   {"array", MN_GEN_ARRAY, parse_array},
   {"oneof", MN_GEN_ONEOF, parse_oneof},
   {"join", MN_GEN_JOIN, parse_array},
   {"seq", MN_GEN_SEQ, parse_seq},
   {"null", MN_GEN_NULL, NULL},
};

#define N_GEN_PARSERS (sizeof GEN_PARSERS / sizeof GEN_PARSERS[0])

/* The index in GEN_PARSERS of generator key k, or -1. */
static int
gen_parser_index(const char *k)
{
   for (size_t i = 0; k && i < N_GEN_PARSERS; i++) {
      if (strcmp(GEN_PARSERS[i].key, k) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static bool
is_listed(const char *const *list, const char *k)
{
   for (const char *const *a = list; *a && k; a++) {
      if (strcmp(*a, k) == 0) {
         return true;
      }
   }
   return false;
}

/*
 * The one generator key among the keys of mapping node n: its GEN_PARSERS index in *gi and
 * its value in *v.  Every other key must be in `extra`.
 */
static bool
find_gen_key(loader_t *ld, yaml_node_t *n, const char *const *extra, int *gi, yaml_node_t **v)
{
   *gi = -1;
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      const char *k = scalar(node_at(ld, p->key));
      int i = gen_parser_index(k);
      if (!k || (i < 0 && !is_listed(extra, k))) {
         fail(ld, MN_MAPPING_UNKNOWN_KEY, node_at(ld, p->key), "unknown key \"%s\" in %s",
              k ? k : "?", "a field");
         return false;
      }
      if (i >= 0) {
         if (*gi >= 0) {
            fail(ld, MN_MAPPING_BAD_VALUE, node_at(ld, p->key),
                 "a field has one generator, not both \"%s\" and \"%s\"", GEN_PARSERS[*gi].key, k);
            return false;
         }
         *gi = i;
         *v = node_at(ld, p->value);
      }
   }
   if (*gi < 0) {
      fail(ld, MN_MAPPING_MISSING_KEY, n,
           "no generator in a field (one of: objectid, ref, trait, "
           "const, bool, pick, template, int, long, double, "
           "decimal, date, date_text, document, array, oneof, "
           "join, seq, null)");
      return false;
   }
   return true;
}

/* `decimals: 0..9` beside the generator key. */
static bool
parse_decimals(loader_t *ld, yaml_node_t *n, mn_gen_gen_t *g)
{
   yaml_node_t *dec = map_get(ld, n, "decimals");
   int64_t d;

   if (!dec) {
      return true;
   }
   if (!parse_fixed(scalar(dec), 0, &d) || d < 0 || d > 9) {
      fail(ld, MN_MAPPING_BAD_VALUE, dec, "\"decimals\" must be a whole number from 0 to 9");
      return false;
   }
   g->decimals = (int)d;
   return true;
}

/* `rows: table` beside a document generator (array and join read theirs themselves). */
static bool
parse_document_rows(loader_t *ld, yaml_node_t *n, mn_gen_gen_t *g)
{
   yaml_node_t *r = map_get(ld, n, "rows");

   if (g->kind == MN_GEN_ARRAY || g->kind == MN_GEN_JOIN || !r) {
      return true;
   }
   if (g->kind != MN_GEN_DOCUMENT) {
      fail(ld, MN_MAPPING_BAD_VALUE, r, "\"rows\" applies to array, join and document fields");
      return false;
   }
   return parse_rows_table(ld, r, &g->rows_table);
}

/*
 * A generator from the keys of mapping node n (one generator key; `extra` lists the other
 * keys allowed there).  `path` is the field's path, for element paths.
 */
static bool
parse_gen(loader_t *ld, yaml_node_t *n, const char *path, bool top, const char *const *extra,
          mn_gen_gen_t *g)
{
   gen_site_t s = {.n = n, .path = path, .top = top};
   int gi;

   memset(g, 0, sizeof *g);
   g->vocab = -1;
   g->rows_table = -1;
   g->where_trait = -1;
   g->line = LINE(n);
   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "a field's generator") ||
       !find_gen_key(ld, n, extra, &gi, &s.v) || !parse_decimals(ld, n, g)) {
      return false;
   }
   s.key = GEN_PARSERS[gi].key;
   g->kind = GEN_PARSERS[gi].kind;
   if (GEN_PARSERS[gi].parse && !GEN_PARSERS[gi].parse(ld, &s, g)) {
      return false;
   }
   return parse_document_rows(ld, n, g);
}

static const struct {
   const char *name;
   mn_gen_inj_kind_t kind;
} INJ_NAMES[] = {
   {"missing", MN_INJ_MISSING},   {"null", MN_INJ_NULL},     {"case", MN_INJ_CASE},
   {"spaces", MN_INJ_SPACES},     {"empty", MN_INJ_EMPTY},   {"duplicate", MN_INJ_DUPLICATE},
   {"dangling", MN_INJ_DANGLING}, {"scalar", MN_INJ_SCALAR}, {"replace", MN_INJ_REPLACE},
   {"huge", MN_INJ_HUGE},
};

const char *
mn_gen__inj_name(mn_gen_inj_kind_t k)
{
   for (size_t i = 0; i < sizeof INJ_NAMES / sizeof INJ_NAMES[0]; i++) {
      if (INJ_NAMES[i].kind == k) {
         return INJ_NAMES[i].name;
      }
   }
   return "?";
}

/* `kind: NAME` of a mess entry. */
static bool
parse_inj_kind(loader_t *ld, yaml_node_t *k, mn_gen_inj_t *inj)
{
   bool found = false;

   for (size_t i = 0; i < sizeof INJ_NAMES / sizeof INJ_NAMES[0]; i++) {
      if (scalar(k) && !strcmp(scalar(k), INJ_NAMES[i].name)) {
         inj->kind = INJ_NAMES[i].kind;
         found = true;
      }
   }
   if (!found) {
      fail(ld, MN_MAPPING_BAD_VALUE, k,
           "unrecognized mess kind \"%s\" (expected one of: missing, null, case, spaces, empty, "
           "duplicate, dangling, scalar, replace, huge)",
           scalar(k) ? scalar(k) : "?");
      return false;
   }
   return true;
}

/*
 * `expect: none|null|coerce|reject|merge|skip` of a mess entry on field f.  Merge and skip
 * act on a row: the array's rows table for a duplicated element, else the element's.
 */
static bool
parse_inj_expect(loader_t *ld, yaml_node_t *x, const mn_gen_field_t *f, mn_gen_inj_t *inj)
{
   const char *s = scalar(x);

   if (s && (!strcmp(s, "none") || !strcmp(s, "null") || !strcmp(s, "coerce"))) {
      inj->expect = MN_EXPECT_NONE;
   } else if (s && !strcmp(s, "reject")) {
      inj->expect = MN_EXPECT_REJECT;
   } else if (s && !strcmp(s, "merge")) {
      inj->expect = MN_EXPECT_MERGE;
   } else if (s && !strcmp(s, "skip")) {
      inj->expect = MN_EXPECT_SKIP;
   } else {
      fail(ld, MN_MAPPING_BAD_VALUE, x,
           "unrecognized expect \"%s\" (expected one of: none, null, coerce, reject, merge, "
           "skip)",
           s ? s : "?");
      return false;
   }
   if (inj->expect == MN_EXPECT_MERGE || inj->expect == MN_EXPECT_SKIP) {
      inj->table = f->gen.kind == MN_GEN_ARRAY && inj->kind == MN_INJ_DUPLICATE ? f->gen.rows_table
                                                                                : f->elem_table;
      if (inj->table < 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, x,
              "expect \"%s\" needs a row to act on: field \"%s\" is not an element of an "
              "array with rows",
              s, f->path);
         return false;
      }
   }
   return true;
}

/* `row: none`: only for an element of an array with rows. */
static bool
parse_inj_row(loader_t *ld, yaml_node_t *x, const mn_gen_field_t *f, mn_gen_inj_t *inj)
{
   if (!scalar(x) || strcmp(scalar(x), "none") != 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, x, "\"row\" can only be none");
      return false;
   }
   if (f->elem_table < 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, x, "row: none applies to elements of an array with rows");
      return false;
   }
   inj->no_row = true;
   return true;
}

/* `fields:` of a replace entry: emitted instead of field f, beside its siblings. */
static bool
parse_replace_fields(loader_t *ld, yaml_node_t *fields, const mn_gen_field_t *f, mn_gen_inj_t *inj)
{
   char *parent;
   char *dot;
   bool ok;

   if (!f->name) {
      fail(ld, MN_MAPPING_BAD_VALUE, fields,
           "\"fields\" replaces a named field, not an array element");
      return false;
   }
   parent = bson_strdup(f->path);
   dot = strrchr(parent, '.');
   if (dot) {
      *dot = '\0';
   } else {
      parent[0] = '\0';
   }
   ok = parse_fields(ld, fields, parent, f->top, &inj->fields, &inj->n_fields);
   bson_free(parent);
   return ok;
}

/* A replace entry: `with` (a generator) or `fields`, and `rows: table` it feeds. */
static bool
parse_replace(loader_t *ld, yaml_node_t *e, const mn_gen_field_t *f, mn_gen_inj_t *inj)
{
   static const char *const wkeys[] = {"decimals", "repeat", "rows", NULL};
   yaml_node_t *with = map_get(ld, e, "with"), *fields = map_get(ld, e, "fields"), *x;

   if (!!with == !!fields) {
      fail(ld, MN_MAPPING_MISSING_KEY, e,
           "a replace entry needs \"with\" (a generator) or \"fields\"");
      return false;
   }
   if (with) {
      inj->with = bson_malloc0(sizeof *inj->with);
      if (!parse_gen(ld, with, f->path, f->top, wkeys, inj->with)) {
         return false;
      }
      if (inj->with->kind == MN_GEN_ARRAY && inj->with->of) {
         inj->with->of->elem_table = inj->with->rows_table;
      }
   } else if (!parse_replace_fields(ld, fields, f, inj)) {
      return false;
   }
   return !(x = map_get(ld, e, "rows")) || parse_rows_table(ld, x, &inj->rows_table);
}

/* The kind-specific part of a mess entry e (kind node k), and the kinds' field checks. */
static bool
parse_inj_by_kind(loader_t *ld, yaml_node_t *e, yaml_node_t *k, const mn_gen_field_t *f,
                  mn_gen_inj_t *inj)
{
   bool is_array = f->gen.kind == MN_GEN_ARRAY;
   yaml_node_t *x;

   switch (inj->kind) {
   case MN_INJ_REPLACE: return parse_replace(ld, e, f, inj);
   case MN_INJ_HUGE:
      if (!is_array) {
         fail(ld, MN_MAPPING_BAD_VALUE, k, "mess kind \"huge\" applies to array fields");
         return false;
      }
      if (!(x = map_get(ld, e, "count"))) {
         fail(ld, MN_MAPPING_MISSING_KEY, e, "missing key \"count\" in a huge entry");
         return false;
      }
      return parse_count(ld, x, &inj->huge);
   case MN_INJ_SCALAR:
      if (!is_array) {
         fail(ld, MN_MAPPING_BAD_VALUE, k, "mess kind \"scalar\" applies to array fields");
         return false;
      }
      return true;
   case MN_INJ_DANGLING:
      if (f->gen.kind != MN_GEN_REF) {
         fail(ld, MN_MAPPING_BAD_VALUE, k, "mess kind \"dangling\" applies to ref fields");
         return false;
      }
      return true;
   case MN_INJ_DUPLICATE:
      if (!is_array && f->gen.kind != MN_GEN_SEQ && !(f->top && f->name)) {
         fail(ld, MN_MAPPING_BAD_VALUE, k,
              "mess kind \"duplicate\" applies to arrays, seq fields and fields of the document");
         return false;
      }
      return true;
   default: return true;
   }
}

/*
 * One mess entry e of field f: {kind, rate, expect, reason, row, unmapped} and the keys of
 * its kind (replace: with/fields/rows; huge: count).
 */
static bool
parse_mess_entry(loader_t *ld, yaml_node_t *e, mn_gen_field_t *f, mn_gen_inj_t *inj)
{
   static const char *const keys[] = {"kind", "rate",  "expect", "reason",   "with", "fields",
                                      "rows", "count", "row",    "unmapped", NULL};
   yaml_node_t *k, *r, *x;

   inj->line = LINE(e);
   inj->rows_table = -1;
   inj->table = -1;
   inj->unmapped = -1;
   if (!expect_kind(ld, e, YAML_MAPPING_NODE, "a mess entry") ||
       !check_keys(ld, e, keys, "a mess entry")) {
      return false;
   }
   k = map_get(ld, e, "kind");
   r = map_get(ld, e, "rate");
   if (!k || !r) {
      fail(ld, MN_MAPPING_MISSING_KEY, e, "missing key \"%s\" in a mess entry",
           k ? "rate" : "kind");
      return false;
   }
   if (!parse_inj_kind(ld, k, inj) || !get_rate(ld, r, "rate", &inj->rate_ppb)) {
      return false;
   }
   if ((x = map_get(ld, e, "expect")) && !parse_inj_expect(ld, x, f, inj)) {
      return false;
   }
   if ((x = map_get(ld, e, "reason"))) {
      inj->reason = bson_strdup(scalar(x) ? scalar(x) : "");
   }
   if ((x = map_get(ld, e, "row")) && !parse_inj_row(ld, x, f, inj)) {
      return false;
   }
   if ((x = map_get(ld, e, "unmapped"))) {
      inj->unmapped = drift_index(ld, scalar(x) ? scalar(x) : "");
   }
   if (!parse_inj_by_kind(ld, e, k, f, inj)) {
      return false;
   }
   if (inj->kind != MN_INJ_REPLACE && (map_get(ld, e, "with") || map_get(ld, e, "fields"))) {
      fail(ld, MN_MAPPING_BAD_VALUE, e, "\"with\" and \"fields\" apply to mess kind replace");
      return false;
   }
   return true;
}

/* `mess:` of field f: a list of entries. */
static bool
parse_mess(loader_t *ld, yaml_node_t *n, mn_gen_field_t *f)
{
   if (!expect_kind(ld, n, YAML_SEQUENCE_NODE, "mess")) {
      return false;
   }
   f->n_mess = 0;
   f->mess = bson_malloc0(
      ((size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1) * sizeof *f->mess);
   for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
        it++) {
      if (!parse_mess_entry(ld, node_at(ld, *it), f, &f->mess[f->n_mess++])) {
         return false;
      }
   }
   return true;
}

/*
 * Field `name` (NULL for an array element) under parent_path: its generator, then the keys
 * beside it: optional, only (fields of the document), drift and mess.  `elem_table` is the
 * rows table of the array it is an element of, or -1.
 */
static bool
parse_field(loader_t *ld, yaml_node_t *n, const char *name, const char *parent_path, bool top,
            int elem_table, mn_gen_field_t *f)
{
   static const char *const extra[] = {"optional", "only",     "mess",   "drift",
                                       "rows",     "decimals", "repeat", NULL};
   yaml_node_t *x;

   memset(f, 0, sizeof *f);
   f->only_trait = -1;
   f->line = LINE(n);
   f->top = top;
   f->elem_table = elem_table;
   f->name = name ? bson_strdup(name) : NULL;
   if (name) {
      f->path = parent_path && *parent_path ? bson_strdup_printf("%s.%s", parent_path, name)
                                            : bson_strdup(name);
   } else {
      f->path = bson_strdup(parent_path ? parent_path : "");
   }
   if (!parse_gen(ld, n, f->path, top, extra, &f->gen)) {
      return false;
   }
   if (f->gen.kind == MN_GEN_ARRAY && f->gen.of) {
      f->gen.of->elem_table = f->gen.rows_table;
   }
   if ((x = map_get(ld, n, "optional")) && !get_rate(ld, x, "optional", &f->optional_ppb)) {
      return false;
   }
   if ((x = map_get(ld, n, "only"))) {
      if (!top) {
         fail(ld, MN_MAPPING_BAD_VALUE, x, "\"only\" applies to fields of the document");
         return false;
      }
      if (!parse_filter(ld, ld->coll, x, "only", &f->only_trait, &f->only_mask)) {
         return false;
      }
   }
   if ((x = map_get(ld, n, "drift"))) {
      f->drift = scalar(x) && !strcmp(scalar(x), "true");
      if (f->drift) {
         f->drift_index = drift_index(ld, f->path);
      }
   }
   if ((x = map_get(ld, n, "mess")) && !parse_mess(ld, x, f)) {
      return false;
   }
   return true;
}

/* ---- top level ---- */

/*
 * `vocabularies:` {name: list} or {name: {by: trait, lists: {value: list}}}: a grouped
 * vocabulary picks from the list of the document's value of that trait (resolved per
 * collection by resolve_vocab_groups).
 */
static bool
parse_vocabs(loader_t *ld, yaml_node_t *n)
{
   size_t np;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "vocabularies")) {
      return false;
   }
   np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
   ld->m->vocabs = bson_malloc0((np + 1) * sizeof *ld->m->vocabs);
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = node_at(ld, p->key), *v = node_at(ld, p->value);
      mn_gen_vocab_t *voc = &ld->m->vocabs[ld->m->n_vocabs];
      const char *k = scalar(kn);
      yaml_node_t *by = map_get(ld, v, "by");

      if (!k || !*k || find_vocab(ld->m, k) >= 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, kn, "vocabulary name \"%s\" is empty or declared twice",
              k ? k : "");
         return false;
      }
      voc->name = bson_strdup(k);
      ld->m->n_vocabs++;
      if (by) {
         static const char *const keys[] = {"by", "lists", NULL};
         yaml_node_t *lists = map_get(ld, v, "lists");
         size_t nl;
         if (!check_keys(ld, v, keys, "a grouped vocabulary") || !scalar(by)) {
            return false;
         }
         if (!lists || !expect_kind(ld, lists, YAML_MAPPING_NODE, "lists")) {
            if (!lists) {
               fail(ld, MN_MAPPING_MISSING_KEY, v, "missing key \"lists\" in a grouped vocabulary");
            }
            return false;
         }
         voc->by = bson_strdup(scalar(by));
         nl = (size_t)(lists->data.mapping.pairs.top - lists->data.mapping.pairs.start);
         voc->lists = bson_malloc0((nl + 1) * sizeof *voc->lists);
         voc->group_names = bson_malloc0((nl + 1) * sizeof *voc->group_names);
         for (yaml_node_pair_t *q = lists->data.mapping.pairs.start;
              q < lists->data.mapping.pairs.top; q++) {
            voc->group_names[voc->n_groups] = bson_strdup(scalar(node_at(ld, q->key)));
            voc->n_groups++;
            if (!parse_list(ld, node_at(ld, q->value), "a vocabulary",
                            &voc->lists[voc->n_groups - 1])) {
               return false;
            }
         }
      } else {
         voc->lists = bson_malloc0(sizeof *voc->lists);
         voc->n_groups = 1;
         if (!parse_list(ld, v, "a vocabulary", &voc->lists[0])) {
            return false;
         }
      }
   }
   return true;
}

static bool
parse_traits(loader_t *ld, yaml_node_t *n, mn_gen_coll_t *c)
{
   size_t np;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "traits")) {
      return false;
   }
   np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
   c->traits = bson_malloc0((np + 1) * sizeof *c->traits);
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *v = node_at(ld, p->value);
      mn_gen_trait_t *t = &c->traits[c->n_traits++];
      t->name = bson_strdup(scalar(node_at(ld, p->key)) ? scalar(node_at(ld, p->key)) : "");
      if (!expect_kind(ld, v, YAML_MAPPING_NODE, "a trait (value: weight, ...)")) {
         return false;
      }
      t->n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
      if (t->n == 0 || t->n > 64) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "a trait has 1 to 64 values");
         return false;
      }
      t->values = bson_malloc0(t->n * sizeof *t->values);
      t->cum = bson_malloc0(t->n * sizeof *t->cum);
      for (size_t i = 0; i < t->n; i++) {
         yaml_node_pair_t *q = v->data.mapping.pairs.start + i;
         uint64_t w;
         t->values[i] = bson_strdup(scalar(node_at(ld, q->key)) ? scalar(node_at(ld, q->key)) : "");
         if (!get_weight(ld, node_at(ld, q->value), &w)) {
            return false;
         }
         t->cum[i] = (i ? t->cum[i - 1] : 0) + w;
      }
      if (t->cum[t->n - 1] == 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, v, "trait \"%s\" has no weight", t->name);
         return false;
      }
   }
   return true;
}

/* Check a field tree for things only knowable after the whole collection is read. */
static bool
check_fields(loader_t *ld, mn_gen_coll_t *c, mn_gen_field_t *fields, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      mn_gen_field_t *f = &fields[i];
      if (f->gen.kind == MN_GEN_SEQ) {
         bool ok = false;
         for (size_t j = 0; j < i; j++) {
            ok |= fields[j].name && !strcmp(fields[j].name, f->gen.per) &&
                  fields[j].gen.kind == MN_GEN_REF;
         }
         if (!ok) {
            mn_set_error(
               ld->y.error, MN_ERROR_MAPPING, MN_MAPPING_BAD_REFERENCE,
               "model file \"%s\", line %d: seq per \"%s\": no ref field of that name before it",
               ld->y.name, f->line, f->gen.per);
            return false;
         }
      }
      if (f->gen.kind == MN_GEN_DOCUMENT && !check_fields(ld, c, f->gen.fields, f->gen.n_fields)) {
         return false;
      }
   }
   return true;
}

/* `collection: NAME`: present, new, and usable as a file name. */
static bool
parse_coll_name(loader_t *ld, yaml_node_t *n, mn_gen_coll_t *c)
{
   yaml_node_t *name = map_get(ld, n, "collection");

   if (!name || !scalar(name) || !*scalar(name)) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"collection\" in a collection");
      return false;
   }
   if (find_coll(ld->m, scalar(name)) >= 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, name, "collection \"%s\" is declared twice", scalar(name));
      return false;
   }
   if (strchr(scalar(name), '/') || scalar(name)[0] == '.') {
      fail(ld, MN_MAPPING_BAD_VALUE, name, "collection name \"%s\" cannot be a file name",
           scalar(name));
      return false;
   }
   c->name = bson_strdup(scalar(name));
   return true;
}

/* `count: {per_scale: N}`: documents per unit of --scale, in millionths. */
static bool
parse_coll_count(loader_t *ld, yaml_node_t *n, mn_gen_coll_t *c)
{
   static const char *const ckeys[] = {"per_scale", NULL};
   yaml_node_t *count = map_get(ld, n, "count"), *ps;
   int64_t v = 0;

   if (!count) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"count\" in collection \"%s\"", c->name);
      return false;
   }
   ps = map_get(ld, count, "per_scale");
   if (!expect_kind(ld, count, YAML_MAPPING_NODE, "count") ||
       !check_keys(ld, count, ckeys, "count")) {
      return false;
   }
   if (!ps) {
      fail(ld, MN_MAPPING_MISSING_KEY, count, "missing key \"per_scale\" in count");
      return false;
   }
   if (!get_fixed(ld, ps, 6, "per_scale", &v) || v < 0) {
      if (v < 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, ps, "per_scale must not be negative");
      }
      return false;
   }
   c->per_scale_ppm = (uint64_t)v;
   return true;
}

/* Vocabulary groups resolved against collection c's traits: per trait value, its list. */
static void
resolve_vocab_groups(const mn_gen_model_t *m, mn_gen_coll_t *c)
{
   c->vocab_trait = bson_malloc0((m->n_vocabs + 1) * sizeof *c->vocab_trait);
   c->vocab_group = bson_malloc0((m->n_vocabs + 1) * sizeof *c->vocab_group);
   for (size_t v = 0; v < m->n_vocabs; v++) {
      const mn_gen_vocab_t *voc = &m->vocabs[v];
      c->vocab_trait[v] = voc->by ? find_trait(c, voc->by) : -1;
      if (c->vocab_trait[v] >= 0) {
         const mn_gen_trait_t *t = &c->traits[c->vocab_trait[v]];
         c->vocab_group[v] = bson_malloc0(t->n * sizeof(int));
         for (size_t i = 0; i < t->n; i++) {
            c->vocab_group[v][i] = -1;
            for (size_t g = 0; g < voc->n_groups; g++) {
               if (!strcmp(voc->group_names[g], t->values[i])) {
                  c->vocab_group[v][i] = (int)g;
               }
            }
         }
      }
   }
}

/* One `rows:` entry: a table name, or {table, when: {trait: [values]}}. */
static bool
parse_rows_entry(loader_t *ld, yaml_node_t *r, mn_gen_coll_t *c, mn_gen_rows_t *rw)
{
   static const char *const rkeys[] = {"table", "when", NULL};
   yaml_node_t *t, *w;

   rw->trait = -1;
   if (scalar(r)) {
      rw->table = table_index(ld->m, scalar(r));
      return true;
   }
   if (!expect_kind(ld, r, YAML_MAPPING_NODE, "a rows entry") ||
       !check_keys(ld, r, rkeys, "a rows entry")) {
      return false;
   }
   if (!(t = map_get(ld, r, "table")) || !scalar(t)) {
      fail(ld, MN_MAPPING_MISSING_KEY, r, "missing key \"table\" in a rows entry");
      return false;
   }
   rw->table = table_index(ld->m, scalar(t));
   return !(w = map_get(ld, r, "when")) || parse_filter(ld, c, w, "when", &rw->trait, &rw->mask);
}

/* `rows:` of a collection: the tables each document feeds one row of. */
static bool
parse_coll_rows(loader_t *ld, yaml_node_t *x, mn_gen_coll_t *c)
{
   if (!expect_kind(ld, x, YAML_SEQUENCE_NODE, "rows")) {
      return false;
   }
   c->rows = bson_malloc0(
      ((size_t)(x->data.sequence.items.top - x->data.sequence.items.start) + 1) * sizeof *c->rows);
   for (yaml_node_item_t *it = x->data.sequence.items.start; it < x->data.sequence.items.top;
        it++) {
      if (!parse_rows_entry(ld, node_at(ld, *it), c, &c->rows[c->n_rows++])) {
         return false;
      }
   }
   return true;
}

/* `fields:` of a collection, with its _id: an objectid, neither optional nor messed. */
static bool
parse_coll_fields(loader_t *ld, yaml_node_t *n, mn_gen_coll_t *c)
{
   yaml_node_t *x = map_get(ld, n, "fields");

   if (!x) {
      fail(ld, MN_MAPPING_MISSING_KEY, n, "missing key \"fields\" in collection \"%s\"", c->name);
      return false;
   }
   if (!parse_fields(ld, x, "", true, &c->fields, &c->n_fields)) {
      return false;
   }
   for (size_t i = 0; i < c->n_fields; i++) {
      if (!strcmp(c->fields[i].name, "_id")) {
         c->id_field = (int)i;
      }
   }
   if (c->id_field < 0 || c->fields[c->id_field].gen.kind != MN_GEN_OBJECTID) {
      fail(ld, MN_MAPPING_MISSING_KEY, x,
           "collection \"%s\" needs an _id field with objectid: {from, to}", c->name);
      return false;
   }
   if (c->fields[c->id_field].n_mess || c->fields[c->id_field].optional_ppb) {
      fail(ld, MN_MAPPING_BAD_VALUE, x, "the _id of collection \"%s\" cannot be optional or messed",
           c->name);
      return false;
   }
   return true;
}

/* One entry of `collections:`: name, count, traits, rows and fields, in that order. */
static bool
parse_collection(loader_t *ld, yaml_node_t *n, mn_gen_coll_t *c)
{
   static const char *const keys[] = {"collection", "count", "traits", "rows", "fields", NULL};
   yaml_node_t *x;

   if (!expect_kind(ld, n, YAML_MAPPING_NODE, "a collection") ||
       !check_keys(ld, n, keys, "a collection")) {
      return false;
   }
   c->line = LINE(n);
   c->id_field = -1;
   if (!parse_coll_name(ld, n, c) || !parse_coll_count(ld, n, c)) {
      return false;
   }
   if ((x = map_get(ld, n, "traits")) && !parse_traits(ld, x, c)) {
      return false;
   }
   resolve_vocab_groups(ld->m, c);
   if ((x = map_get(ld, n, "rows")) && !parse_coll_rows(ld, x, c)) {
      return false;
   }
   return parse_coll_fields(ld, n, c) && check_fields(ld, c, c->fields, c->n_fields);
}

/*
 * The top level: version 1, the database name (default "test"), the vocabularies, then 1
 * to 60 collections in order (a ref names this collection or an earlier one).  Returns
 * ld->m, or NULL with the error set (ld->m then holds what was read, for the caller).
 */
static mn_gen_model_t *
load(loader_t *ld)
{
   yaml_node_t *root = yaml_document_get_root_node(&ld->y.doc);
   yaml_node_t *x;
   mn_gen_model_t *m = ld->m;
   static const char *const keys[] = {"version", "database", "vocabularies", "collections", NULL};

   if (!root) {
      fail(ld, MN_MAPPING_SYNTAX, NULL, "the file is empty");
      return NULL;
   }
   if (!expect_kind(ld, root, YAML_MAPPING_NODE, "the top level") ||
       !check_keys(ld, root, keys, "the top level")) {
      return NULL;
   }
   x = map_get(ld, root, "version");
   if (!x) {
      fail(ld, MN_MAPPING_MISSING_KEY, root, "missing key \"version\" at the top level");
      return NULL;
   }
   if (!scalar(x) || strcmp(scalar(x), "1") != 0) {
      fail(ld, MN_MAPPING_BAD_VALUE, x, "unsupported version \"%s\" (this tool reads version 1)",
           scalar(x) ? scalar(x) : "?");
      return NULL;
   }
   x = map_get(ld, root, "database");
   m->database = bson_strdup(x && scalar(x) && *scalar(x) ? scalar(x) : "test");
   if ((x = map_get(ld, root, "vocabularies")) && !parse_vocabs(ld, x)) {
      return NULL;
   }
   x = map_get(ld, root, "collections");
   if (!x) {
      fail(ld, MN_MAPPING_MISSING_KEY, root, "missing key \"collections\" at the top level");
      return NULL;
   }
   if (!expect_kind(ld, x, YAML_SEQUENCE_NODE, "collections")) {
      return NULL;
   }
   {
      size_t nc = (size_t)(x->data.sequence.items.top - x->data.sequence.items.start);
      if (nc == 0) {
         fail(ld, MN_MAPPING_BAD_VALUE, x, "collections is empty");
         return NULL;
      }
      if (nc > 60) {
         fail(ld, MN_MAPPING_BAD_VALUE, x, "at most 60 collections");
         return NULL;
      }
      m->colls = bson_malloc0((nc + 1) * sizeof *m->colls);
      for (size_t i = 0; i < nc; i++) {
         ld->coll = &m->colls[i];
         m->n_colls = i + 1;
         if (!parse_collection(ld, node_at(ld, x->data.sequence.items.start[i]), &m->colls[i])) {
            return NULL;
         }
      }
   }
   return m;
}

static void
field_cleanup(mn_gen_field_t *f)
{
   if (!f) {
      return;
   }
   bson_free(f->name);
   bson_free(f->path);
   gen_cleanup(&f->gen);
   for (size_t i = 0; i < f->n_mess; i++) {
      mn_gen_inj_t *inj = &f->mess[i];
      bson_free(inj->reason);
      if (inj->with) {
         gen_cleanup(inj->with);
         bson_free(inj->with);
      }
      for (size_t j = 0; j < inj->n_fields; j++) {
         field_cleanup(&inj->fields[j]);
      }
      bson_free(inj->fields);
      count_cleanup(&inj->huge);
   }
   bson_free(f->mess);
}

static void
gen_cleanup(mn_gen_gen_t *g)
{
   list_cleanup(&g->list);
   for (size_t i = 0; i < g->n_parts; i++) {
      bson_free(g->parts[i].text);
   }
   g_free(g->parts);
   bson_free(g->after);
   bson_free(g->text);
   bson_free(g->reject_reason);
   for (size_t i = 0; i < g->n_fields; i++) {
      field_cleanup(&g->fields[i]);
   }
   bson_free(g->fields);
   if (g->of) {
      field_cleanup(g->of);
      bson_free(g->of);
   }
   count_cleanup(&g->count);
   bson_free(g->sep);
   for (size_t i = 0; i < g->n_alts; i++) {
      gen_cleanup(&g->alts[i]);
   }
   bson_free(g->alts);
   bson_free(g->alt_cum);
   bson_free(g->per);
}

void
mn_gen_model_destroy(mn_gen_model_t *m)
{
   if (!m) {
      return;
   }
   for (size_t i = 0; i < m->n_vocabs; i++) {
      for (size_t g = 0; g < m->vocabs[i].n_groups; g++) {
         list_cleanup(&m->vocabs[i].lists[g]);
         if (m->vocabs[i].group_names) {
            bson_free(m->vocabs[i].group_names[g]);
         }
      }
      bson_free(m->vocabs[i].lists);
      bson_free(m->vocabs[i].group_names);
      bson_free(m->vocabs[i].name);
      bson_free(m->vocabs[i].by);
   }
   bson_free(m->vocabs);
   for (size_t i = 0; i < m->n_colls; i++) {
      mn_gen_coll_t *c = &m->colls[i];
      for (size_t t = 0; t < c->n_traits; t++) {
         mn_yaml__free_strings(c->traits[t].values, c->traits[t].n);
         bson_free(c->traits[t].cum);
         bson_free(c->traits[t].name);
      }
      bson_free(c->traits);
      bson_free(c->rows);
      for (size_t f = 0; f < c->n_fields; f++) {
         field_cleanup(&c->fields[f]);
      }
      bson_free(c->fields);
      if (c->vocab_group) {
         for (size_t v = 0; v < m->n_vocabs; v++) {
            bson_free(c->vocab_group[v]);
         }
      }
      bson_free(c->vocab_group);
      bson_free(c->vocab_trait);
      bson_free(c->name);
   }
   bson_free(m->colls);
   if (m->tables) {
      g_ptr_array_free(m->tables, TRUE);
   }
   if (m->drift_paths) {
      g_ptr_array_free(m->drift_paths, TRUE);
   }
   bson_free(m->database);
   bson_free(m->name);
   bson_free(m);
}

mn_gen_model_t *
mn_gen_model_load_string(const char *yaml, size_t len, const char *name, const char *base_dir,
                         mn_error_t *error)
{
   loader_t ld = {0};
   mn_gen_model_t *m = NULL;

   ld.y.name = name;
   ld.y.what = "model file";
   ld.base_dir = base_dir;
   ld.y.error = error;
   if (!mn_yaml__parse(&ld.y, yaml, len)) {
      return NULL;
   }
   ld.m = bson_malloc0(sizeof *ld.m);
   ld.m->name = bson_strdup(name);
   ld.m->tables = g_ptr_array_new_with_free_func(bson_free);
   ld.m->drift_paths = g_ptr_array_new_with_free_func(bson_free);
   m = load(&ld);
   if (!m) {
      mn_gen_model_destroy(ld.m);
   }
   mn_yaml__cleanup(&ld.y);
   return m;
}

mn_gen_model_t *
mn_gen_model_load(const char *path, mn_error_t *error)
{
   char *text = NULL;
   gsize len = 0;
   GError *gerr = NULL;
   char *dir;
   mn_gen_model_t *m;

   if (!g_file_get_contents(path, &text, &len, &gerr)) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not read model file \"%s\": %s", path,
                   gerr->message);
      g_error_free(gerr);
      return NULL;
   }
   dir = g_path_get_dirname(path);
   m = mn_gen_model_load_string(text, len, path, dir, error);
   g_free(dir);
   g_free(text);
   return m;
}

const char *
mn_gen_model_database(const mn_gen_model_t *m)
{
   return m->database;
}

size_t
mn_gen_model_n_collections(const mn_gen_model_t *m)
{
   return m->n_colls;
}

const char *
mn_gen_model_collection(const mn_gen_model_t *m, size_t i)
{
   return i < m->n_colls ? m->colls[i].name : NULL;
}
