/*
 * model.c - generator model file (YAML) -> compiled model: the top level, vocabularies,
 * collections (name, count, traits, rows, fields), and the readers of numbers, dates,
 * lists, counts, names and trait filters that model_field.c shares.  A field's
 * generator and mess are model_field.c's.
 *
 * Read with libyaml's document loader, which keeps each node's line, like
 * mapping.c: every error names the file and the line, as
 * `model file "F", line N: ...`.  The format is docs/generate.md.
 */
#include "model_private.h"
#include "util/calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers ---- */

/* A decimal number ("12", "-0.5", "1e3" is not accepted) scaled by 10^decimals, exactly. */
bool
mn_gen__parse_fixed(const char *s, int decimals, int64_t *out)
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
   if (!mn_gen__parse_fixed(scalar(n), decimals, out)) {
      fail(ld, MN_MAPPING_BAD_VALUE, n,
           "%s must be a number with at most %d decimal(s), not \"%s\"", what, decimals,
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   return true;
}

/* A probability or rate from 0 to 1, in parts per billion. */
bool
mn_gen__get_rate(loader_t *ld, yaml_node_t *n, const char *what, uint64_t *out)
{
   int64_t v;

   if (!mn_gen__parse_fixed(scalar(n), 9, &v) || v < 0 || v > (int64_t)MN_GEN_PPB) {
      fail(ld, MN_MAPPING_BAD_VALUE, n, "%s must be a number from 0 to 1, not \"%s\"", what,
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   *out = (uint64_t)v;
   return true;
}

bool
mn_gen__get_weight(loader_t *ld, yaml_node_t *n, uint64_t *out)
{
   int64_t v;

   if (!mn_gen__parse_fixed(scalar(n), 0, &v) || v < 0 || v > 1000000000) {
      fail(ld, MN_MAPPING_BAD_VALUE, n,
           "a weight must be a whole number from 0 to 1000000000, not \"%s\"",
           scalar(n) ? scalar(n) : "(not a scalar)");
      return false;
   }
   *out = (uint64_t)v;
   return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" -> ms since the epoch. */
bool
mn_gen__get_date(loader_t *ld, yaml_node_t *n, const char *what, int64_t *out)
{
   const char *s = scalar(n);
   int y, mo, d, h = 0, mi = 0, se = 0, used = 0;

   if (s && (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3) &&
       (s[used] == '\0' ||
        (sscanf(s + used, "T%2d:%2d:%2dZ%n", &h, &mi, &se, &used) == 3 && s[10 + used] == '\0')) &&
       mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 60) {
      *out = (mn_calendar__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000;
      return true;
   }
   fail(ld, MN_MAPPING_BAD_VALUE, n,
        "%s must be a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not \"%s\"", what,
        s ? s : "(not a scalar)");
   return false;
}

/* [lo, hi] of fixed numbers. */
bool
mn_gen__get_range(loader_t *ld, yaml_node_t *n, int decimals, const char *what, int64_t *lo,
                  int64_t *hi)
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

void
mn_gen__list_cleanup(mn_gen_list_t *l)
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
bool
mn_gen__parse_list(loader_t *ld, yaml_node_t *n, const char *what, mn_gen_list_t *l)
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
         if (!mn_gen__get_weight(ld, node_at(ld, p->value), &w)) {
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
bool
mn_gen__parse_count(loader_t *ld, yaml_node_t *n, mn_gen_count_t *c)
{
   c->n = 0;
   if (n->type == YAML_SCALAR_NODE || n->type == YAML_SEQUENCE_NODE) {
      int64_t lo, hi;
      if (n->type == YAML_SCALAR_NODE) {
         if (!get_fixed(ld, n, 0, "count", &lo)) {
            return false;
         }
         hi = lo;
      } else if (!mn_gen__get_range(ld, n, 0, "count", &lo, &hi)) {
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
         if (!mn_gen__get_weight(ld, node_at(ld, p->value), &w)) {
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

void
mn_gen__count_cleanup(mn_gen_count_t *c)
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

int
mn_gen__find_vocab(const mn_gen_model_t *m, const char *name)
{
   return find_named(m->vocabs, m->n_vocabs, sizeof *m->vocabs, name);
}

int
mn_gen__find_trait(const mn_gen_coll_t *c, const char *name)
{
   return find_named(c->traits, c->n_traits, sizeof *c->traits, name);
}

int
mn_gen__find_coll(const mn_gen_model_t *m, const char *name)
{
   return find_named(m->colls, m->n_colls, sizeof *m->colls, name);
}

int
mn_gen__table_index(mn_gen_model_t *m, const char *name)
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
bool
mn_gen__parse_filter(loader_t *ld, const mn_gen_coll_t *c, yaml_node_t *n, const char *what,
                     int *trait, uint64_t *mask)
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
   *trait = tname ? mn_gen__find_trait(c, tname) : -1;
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

      if (!k || !*k || mn_gen__find_vocab(ld->m, k) >= 0) {
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
            if (!mn_gen__parse_list(ld, node_at(ld, q->value), "a vocabulary",
                                    &voc->lists[voc->n_groups - 1])) {
               return false;
            }
         }
      } else {
         voc->lists = bson_malloc0(sizeof *voc->lists);
         voc->n_groups = 1;
         if (!mn_gen__parse_list(ld, v, "a vocabulary", &voc->lists[0])) {
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
         if (!mn_gen__get_weight(ld, node_at(ld, q->value), &w)) {
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
   if (mn_gen__find_coll(ld->m, scalar(name)) >= 0) {
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
      c->vocab_trait[v] = voc->by ? mn_gen__find_trait(c, voc->by) : -1;
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
      rw->table = mn_gen__table_index(ld->m, scalar(r));
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
   rw->table = mn_gen__table_index(ld->m, scalar(t));
   return !(w = map_get(ld, r, "when")) ||
          mn_gen__parse_filter(ld, c, w, "when", &rw->trait, &rw->mask);
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
   if (!mn_gen__parse_fields(ld, x, "", true, &c->fields, &c->n_fields)) {
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

void
mn_gen_model_destroy(mn_gen_model_t *m)
{
   if (!m) {
      return;
   }
   for (size_t i = 0; i < m->n_vocabs; i++) {
      for (size_t g = 0; g < m->vocabs[i].n_groups; g++) {
         mn_gen__list_cleanup(&m->vocabs[i].lists[g]);
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
         mn_strings__free(c->traits[t].values, c->traits[t].n);
         bson_free(c->traits[t].cum);
         bson_free(c->traits[t].name);
      }
      bson_free(c->traits);
      bson_free(c->rows);
      for (size_t f = 0; f < c->n_fields; f++) {
         mn_gen__field_cleanup(&c->fields[f]);
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
