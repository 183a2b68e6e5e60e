/*
 * model_field.c - one field of the generator model: its generator (one key of the
 * GEN_PARSERS table, each with its parser), templates, the keys beside it (optional, only,
 * drift, rows, decimals, repeat) and its mess entries; and the cleanup of fields and
 * generators.  Errors name the file and line, as model.c's.
 */
#include "model_private.h"

#include <stdio.h>
#include <string.h>

static bool parse_field(loader_t *ld, yaml_node_t *n, const char *name, const char *parent_path,
                        bool top, int elem_table, mn_gen_field_t *f);
static void gen_cleanup(mn_gen_gen_t *g);

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

/* Fields of a sub-document: {name: spec, ...}. */
bool
mn_gen__parse_fields(loader_t *ld, yaml_node_t *n, const char *parent_path, bool top,
                     mn_gen_field_t **out, size_t *n_out)
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
   } else if (mn_gen__find_vocab(ld->m, name) >= 0) {
      t->kind = TPL_VOCAB;
      t->vocab = mn_gen__find_vocab(ld->m, name);
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
   *table = mn_gen__table_index(ld->m, scalar(n));
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
      if (from && !mn_gen__get_date(ld, from, "from", &g->from_ms)) {
         return false;
      }
      if (to && !mn_gen__get_date(ld, to, "to", &g->to_ms)) {
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
   g->target = mn_gen__find_coll(ld->m, scalar(c));
   if (g->target < 0) {
      fail(ld, MN_MAPPING_BAD_REFERENCE, c,
           "ref names collection \"%s\", which is neither this one nor declared before it",
           scalar(c));
      return false;
   }
   if ((w = map_get(ld, v, "where")) &&
       !mn_gen__parse_filter(ld, &ld->m->colls[g->target], w, "where", &g->where_trait,
                             &g->where_mask)) {
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
   g->trait = scalar(s->v) ? mn_gen__find_trait(ld->coll, scalar(s->v)) : -1;
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
   return mn_gen__get_rate(ld, s->v, "bool (the probability of true)", &g->true_ppb);
}

/* pick: a vocabulary's name, or an inline list. */
static bool
parse_pick(loader_t *ld, const gen_site_t *s, mn_gen_gen_t *g)
{
   if (!scalar(s->v)) {
      return mn_gen__parse_list(ld, s->v, "pick", &g->list);
   }
   g->vocab = mn_gen__find_vocab(ld->m, scalar(s->v));
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
   return !rep || mn_gen__get_range(ld, rep, 0, "repeat", &g->rep_lo, &g->rep_hi);
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
   if (!mn_gen__get_range(ld, v, g->decimals, s->key, &g->lo, &g->hi)) {
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
   if ((x = map_get(ld, v, "from")) && !mn_gen__get_date(ld, x, "from", &g->from_ms)) {
      return false;
   }
   if ((x = map_get(ld, v, "to")) && !mn_gen__get_date(ld, x, "to", &g->to_ms)) {
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
       !mn_gen__get_range(ld, x, 3, "seconds", &g->step_lo, &g->step_hi)) {
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
   return mn_gen__parse_fields(ld, s->v, s->path, false, &g->fields, &g->n_fields);
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
   if (!mn_gen__parse_count(ld, c, &g->count)) {
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
          (w && !mn_gen__get_weight(ld, w, &wt))) {
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
   if (!mn_gen__parse_fixed(scalar(dec), 0, &d) || d < 0 || d > 9) {
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

/* ---- mess ---- */

/* The mess kinds by their model-file names. */
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
   ok = mn_gen__parse_fields(ld, fields, parent, f->top, &inj->fields, &inj->n_fields);
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
      return mn_gen__parse_count(ld, x, &inj->huge);
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
   if (!parse_inj_kind(ld, k, inj) || !mn_gen__get_rate(ld, r, "rate", &inj->rate_ppb)) {
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

/* ---- fields ---- */

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
   if ((x = map_get(ld, n, "optional")) && !mn_gen__get_rate(ld, x, "optional", &f->optional_ppb)) {
      return false;
   }
   if ((x = map_get(ld, n, "only"))) {
      if (!top) {
         fail(ld, MN_MAPPING_BAD_VALUE, x, "\"only\" applies to fields of the document");
         return false;
      }
      if (!mn_gen__parse_filter(ld, ld->coll, x, "only", &f->only_trait, &f->only_mask)) {
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

/* ---- cleanup ---- */

void
mn_gen__field_cleanup(mn_gen_field_t *f)
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
         mn_gen__field_cleanup(&inj->fields[j]);
      }
      bson_free(inj->fields);
      mn_gen__count_cleanup(&inj->huge);
   }
   bson_free(f->mess);
}

static void
gen_cleanup(mn_gen_gen_t *g)
{
   mn_gen__list_cleanup(&g->list);
   for (size_t i = 0; i < g->n_parts; i++) {
      bson_free(g->parts[i].text);
   }
   g_free(g->parts);
   bson_free(g->after);
   bson_free(g->text);
   bson_free(g->reject_reason);
   for (size_t i = 0; i < g->n_fields; i++) {
      mn_gen__field_cleanup(&g->fields[i]);
   }
   bson_free(g->fields);
   if (g->of) {
      mn_gen__field_cleanup(g->of);
      bson_free(g->of);
   }
   mn_gen__count_cleanup(&g->count);
   bson_free(g->sep);
   for (size_t i = 0; i < g->n_alts; i++) {
      gen_cleanup(&g->alts[i]);
   }
   bson_free(g->alts);
   bson_free(g->alt_cum);
   bson_free(g->per);
}
