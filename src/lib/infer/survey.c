/*
 * survey.c - per collection and field path, what the values were: one walk over each
 * document into a tree of paths (infer_private.h), bounded by the paths it keeps.
 *
 * Sub-document keys that look like data (mn_stats_drift_key_is_data(), the drift
 * report's notion) do not become paths of their own: their values all go to the
 * sub-document's one `mapval` node, so an id-keyed document of a million keys is one
 * path.  The document's own keys are always names.
 */
#include "infer/infer_private.h"

#include <mongonorm/stats.h>

#include <math.h>
#include <string.h>

/* Documents nested deeper than this are counted, not walked (the draft stops far sooner). */
#define WALK_DEPTH_MAX 100
/* Strings longer than this are never enum candidates. */
#define ENUM_LEN_MAX 64

typedef struct {
   mn_infer_survey_t *survey;
   mn_infer__coll_t *coll;
} walk_t;

void
mn_infer_opts_init(mn_infer_opts_t *opts)
{
   memset(opts, 0, sizeof *opts);
   opts->max_paths = MN_INFER_MAX_PATHS;
   opts->max_tables = MN_INFER_MAX_TABLES;
   opts->max_columns = MN_INFER_MAX_COLUMNS;
   opts->depth = MN_INFER_DEPTH;
   opts->enum_max = MN_INFER_ENUM_MAX;
}

int
mn_infer__slot(bson_type_t t)
{
   if (t == BSON_TYPE_MINKEY) {
      return MN_INFER__T_MINKEY;
   }
   if (t == BSON_TYPE_MAXKEY) {
      return MN_INFER__T_MAXKEY;
   }
   return t >= 1 && t <= 0x13 ? (int)t - 1 : 19;
}

uint64_t
mn_infer__count(const mn_infer__node_t *n, int t)
{
   return n->types[mn_infer__slot((bson_type_t)t)];
}

const char *
mn_infer__type_name(int slot)
{
   static const char *const names[MN_INFER__N_TYPES] = {
      "double",    "string",    "document",   "array",   "binary",
      "undefined", "objectId",  "bool",       "date",    "null",
      "regex",     "dbPointer", "javascript", "symbol",  "javascriptWithScope",
      "int32",     "timestamp", "int64",      "decimal", "other",
      "minKey",    "maxKey"};

   return slot >= 0 && slot < MN_INFER__N_TYPES ? names[slot] : "other";
}

uint64_t
mn_infer__non_null(const mn_infer__node_t *n)
{
   return n->present - n->nulls;
}

bool
mn_infer__key_addressable(const char *key, size_t len)
{
   return len > 0 && key[0] != '$' && memchr(key, '.', len) == NULL;
}

guint
mn_infer__oid_hash(gconstpointer key)
{
   const guint8 *b = key;
   guint h = 2166136261u;

   for (int i = 0; i < 12; i++) {
      h = (h ^ b[i]) * 16777619u;
   }
   return h;
}

gboolean
mn_infer__oid_equal(gconstpointer a, gconstpointer b)
{
   return memcmp(a, b, 12) == 0;
}

static mn_infer__node_t *
node_new(walk_t *w, const char *key, size_t klen, mn_infer__kind_t kind, mn_infer__node_t *parent)
{
   mn_infer__node_t *n = g_new0(mn_infer__node_t, 1);

   n->key = g_strndup(key, klen);
   n->klen = klen;
   n->kind = kind;
   n->parent = parent;
   n->depth = parent ? parent->depth + (kind == MN_INFER__FIELD || kind == MN_INFER__MAPVAL) : 0;
   n->int_min = INT64_MAX;
   n->int_max = INT64_MIN;
   n->dbl_min = INFINITY;
   n->dbl_max = -INFINITY;
   n->date_min = INT64_MAX;
   n->date_max = INT64_MIN;
   n->str_min = UINT64_MAX;
   n->arr_min = UINT64_MAX;
   if (w) {
      w->coll->nodes++;
   }
   return n;
}

static void
node_free(mn_infer__node_t *n)
{
   if (!n) {
      return;
   }
   for (guint i = 0; n->order && i < n->order->len; i++) {
      node_free(g_ptr_array_index(n->order, i));
   }
   if (n->order) {
      g_ptr_array_free(n->order, TRUE);
   }
   if (n->children) {
      g_hash_table_destroy(n->children);
   }
   if (n->values) {
      g_hash_table_destroy(n->values);
   }
   if (n->oids) {
      g_hash_table_destroy(n->oids);
   }
   node_free(n->elem);
   node_free(n->mapval);
   g_free(n->hll);
   g_free(n->key);
   g_free(n);
}

/* ---- the distinct-count sketch: HyperLogLog with 256 registers ---- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
   uint64_t h = 14695981039346656037ull;

   for (size_t i = 0; i < len; i++) {
      h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
   }
   /* MurmurHash3's finaliser: FNV-1a alone leaves the top bits poorly mixed */
   h ^= h >> 33;
   h *= 0xff51afd7ed558ccdull;
   h ^= h >> 33;
   h *= 0xc4ceb9fe1a85ec53ull;
   h ^= h >> 33;
   return h;
}

static void
hll_add(mn_infer__node_t *n, const char *s, size_t len)
{
   uint64_t h = hash_bytes(s, len);
   guint idx = (guint)(h >> 56);
   uint64_t rest = (h << 8) | 0x80;
   guint8 rank = (guint8)(__builtin_clzll(rest) + 1);

   if (!n->hll) {
      n->hll = g_malloc0(MN_INFER__HLL);
   }
   if (rank > n->hll[idx]) {
      n->hll[idx] = rank;
   }
}

double
mn_infer__distinct(const mn_infer__node_t *n)
{
   double sum = 0;
   int zeros = 0;
   const double m = MN_INFER__HLL;
   double e;

   if (!n->hll) {
      return 0;
   }
   for (int i = 0; i < MN_INFER__HLL; i++) {
      sum += ldexp(1.0, -n->hll[i]);
      zeros += n->hll[i] == 0;
   }
   e = 0.7182725932495458 * m * m / sum; /* alpha_m for m = 256 */
   if (e <= 2.5 * m && zeros > 0) {
      e = m * log(m / zeros); /* linear counting for small sets */
   }
   return e;
}

/* ---- one value ---- */

static uint64_t
utf8_chars(const char *s, uint32_t len)
{
   uint64_t n = 0;

   for (uint32_t i = 0; i < len; i++) {
      n += ((unsigned char)s[i] & 0xC0) != 0x80;
   }
   return n;
}

static void
visit_string(walk_t *w, mn_infer__node_t *n, const char *s, uint32_t len)
{
   uint64_t chars = utf8_chars(s, len);
   gpointer count;

   n->str_min = MIN(n->str_min, chars);
   n->str_max = MAX(n->str_max, chars);
   n->str_sum += chars;
   hll_add(n, s, len);
   if (n->many_values) {
      return;
   }
   if (!n->values) {
      n->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   }
   if (len > ENUM_LEN_MAX || memchr(s, '\0', len)) {
      n->many_values = true;
      return;
   }
   count = g_hash_table_lookup(n->values, s);
   if (count) {
      g_hash_table_insert(n->values, g_strndup(s, len),
                          GUINT_TO_POINTER(GPOINTER_TO_UINT(count) + 1));
   } else if (g_hash_table_size(n->values) < w->survey->opts.enum_max) {
      g_hash_table_insert(n->values, g_strndup(s, len), GUINT_TO_POINTER(1));
   } else {
      n->many_values = true;
   }
}

static void
visit_oid(mn_infer__node_t *n, const bson_oid_t *oid)
{
   if (!n->oids) {
      n->oids = g_hash_table_new_full(mn_infer__oid_hash, mn_infer__oid_equal, g_free, NULL);
   }
   if (g_hash_table_size(n->oids) < MN_INFER__OID_SAMPLE &&
       !g_hash_table_contains(n->oids, oid->bytes)) {
      g_hash_table_add(n->oids, g_memdup2(oid->bytes, 12));
   }
}

static void walk_doc(walk_t *w, mn_infer__node_t *n, bson_iter_t *it);
static void visit_value(walk_t *w, mn_infer__node_t *n, const bson_iter_t *it);

static void
visit_array(walk_t *w, mn_infer__node_t *n, const bson_iter_t *it)
{
   bson_iter_t child;
   uint64_t len = 0;

   if (!bson_iter_recurse(it, &child)) {
      return;
   }
   if (!n->elem) {
      n->elem = node_new(w, "[]", 2, MN_INFER__ELEM, n);
   }
   while (bson_iter_next(&child)) {
      visit_value(w, n->elem, &child);
      len++;
   }
   n->arr_min = MIN(n->arr_min, len);
   n->arr_max = MAX(n->arr_max, len);
   n->arr_sum += len;
}

static void
visit_number(mn_infer__node_t *n, const bson_iter_t *it, bson_type_t t)
{
   if (t == BSON_TYPE_DOUBLE) {
      double v = bson_iter_double(it);
      if (!isnan(v)) {
         n->dbl_min = MIN(n->dbl_min, v);
         n->dbl_max = MAX(n->dbl_max, v);
      }
      if (!isfinite(v) || v != floor(v)) {
         n->dbl_fraction++;
      }
   } else {
      int64_t v = t == BSON_TYPE_INT32 ? bson_iter_int32(it) : bson_iter_int64(it);
      n->int_min = MIN(n->int_min, v);
      n->int_max = MAX(n->int_max, v);
   }
}

static void
visit_value(walk_t *w, mn_infer__node_t *n, const bson_iter_t *it)
{
   bson_type_t t = bson_iter_type(it);
   bson_iter_t child;
   uint32_t len;
   const char *s;

   n->present++;
   n->types[mn_infer__slot(t)]++;
   switch (t) {
   case BSON_TYPE_NULL: n->nulls++; break;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64: visit_number(n, it, t); break;
   case BSON_TYPE_UTF8:
      s = bson_iter_utf8(it, &len);
      visit_string(w, n, s, len);
      break;
   case BSON_TYPE_DATE_TIME: {
      int64_t ms = bson_iter_date_time(it);
      n->date_min = MIN(n->date_min, ms);
      n->date_max = MAX(n->date_max, ms);
      break;
   }
   case BSON_TYPE_OID: visit_oid(n, bson_iter_oid(it)); break;
   case BSON_TYPE_BINARY: {
      bson_subtype_t sub;
      const uint8_t *data;
      bson_iter_binary(it, &sub, &len, &data);
      n->bin_uuid += (sub == BSON_SUBTYPE_UUID || sub == BSON_SUBTYPE_UUID_DEPRECATED) && len == 16;
      break;
   }
   case BSON_TYPE_DOCUMENT:
      if (n->depth < WALK_DEPTH_MAX && bson_iter_recurse(it, &child)) {
         walk_doc(w, n, &child);
      } else {
         n->overflow++;
      }
      break;
   case BSON_TYPE_ARRAY:
      if (n->depth < WALK_DEPTH_MAX) {
         visit_array(w, n, it);
      } else {
         n->overflow++;
      }
      break;
   default: break;
   }
}

/* The node for key under n: a child, or for a data-like key of a sub-document the map
 * values; NULL when the path cap leaves it out. */
static mn_infer__node_t *
key_node(walk_t *w, mn_infer__node_t *n, const char *key, size_t klen)
{
   mn_infer__node_t *c = n->children ? g_hash_table_lookup(n->children, key) : NULL;

   if (c) {
      return c;
   }
   if (n->kind != MN_INFER__ROOT &&
       (!mn_infer__key_addressable(key, klen) || mn_stats_drift_key_is_data(key, klen))) {
      n->data_keys++;
      n->odd_keys += !mn_infer__key_addressable(key, klen);
      if (!n->mapval) {
         n->mapval = node_new(w, "*", 1, MN_INFER__MAPVAL, n);
      }
      hll_add(n->mapval, key, klen);
      return n->mapval;
   }
   if (w->coll->nodes >= w->survey->opts.max_paths) {
      n->overflow++;
      w->coll->capped++;
      return NULL;
   }
   if (!n->children) {
      n->children = g_hash_table_new(g_str_hash, g_str_equal);
      n->order = g_ptr_array_new();
   }
   c = node_new(w, key, klen, MN_INFER__FIELD, n);
   g_hash_table_insert(n->children, c->key, c);
   g_ptr_array_add(n->order, c);
   return c;
}

static void
walk_doc(walk_t *w, mn_infer__node_t *n, bson_iter_t *it)
{
   while (bson_iter_next(it)) {
      mn_infer__node_t *c = key_node(w, n, bson_iter_key(it), bson_iter_key_len(it));
      if (c) {
         visit_value(w, c, it);
      }
   }
}

mn_infer__coll_t *
mn_infer__find_coll(const mn_infer_survey_t *survey, const char *name)
{
   for (guint i = 0; i < survey->colls->len; i++) {
      mn_infer__coll_t *c = g_ptr_array_index(survey->colls, i);
      if (strcmp(c->name, name) == 0) {
         return c;
      }
   }
   return NULL;
}

static mn_infer__coll_t *
coll_get(mn_infer_survey_t *survey, const char *name)
{
   mn_infer__coll_t *c = mn_infer__find_coll(survey, name);

   if (!c) {
      c = g_new0(mn_infer__coll_t, 1);
      c->name = g_strdup(name);
      c->root = node_new(NULL, "", 0, MN_INFER__ROOT, NULL);
      g_ptr_array_add(survey->colls, c);
   }
   return c;
}

static void
coll_free(gpointer p)
{
   mn_infer__coll_t *c = p;

   node_free(c->root);
   g_free(c->name);
   g_free(c);
}

mn_infer_survey_t *
mn_infer_survey_new(const mn_infer_opts_t *opts)
{
   mn_infer_survey_t *s = g_new0(mn_infer_survey_t, 1);

   if (opts) {
      s->opts = *opts;
   } else {
      mn_infer_opts_init(&s->opts);
   }
   s->opts_collections = NULL;
   if (s->opts.collections) {
      size_t n = 0;
      while (s->opts.collections[n]) {
         n++;
      }
      s->opts_collections = bson_malloc0((n + 1) * sizeof(char *));
      for (size_t i = 0; i < n; i++) {
         s->opts_collections[i] = bson_strdup(s->opts.collections[i]);
      }
   }
   s->opts.collections = NULL;
   s->opts.enum_max = MIN(s->opts.enum_max, 64);
   s->opts.max_paths = MAX(s->opts.max_paths, 1);
   s->colls = g_ptr_array_new_with_free_func(coll_free);
   return s;
}

void
mn_infer_survey_add_collection(mn_infer_survey_t *survey, const char *collection)
{
   coll_get(survey, collection);
}

void
mn_infer_survey_add(mn_infer_survey_t *survey, const char *collection, const bson_t *doc)
{
   walk_t w = {survey, NULL};
   bson_iter_t it;

   if (survey->finished) {
      return;
   }
   w.coll = coll_get(survey, collection);
   if (!bson_iter_init(&it, doc)) {
      w.coll->unreadable++;
      return;
   }
   w.coll->documents++;
   survey->documents++;
   w.coll->root->present++;
   w.coll->root->types[mn_infer__slot(BSON_TYPE_DOCUMENT)]++;
   walk_doc(&w, w.coll->root, &it);
}

uint64_t
mn_infer_survey_documents(const mn_infer_survey_t *survey)
{
   return survey->documents;
}

size_t
mn_infer_survey_collections(const mn_infer_survey_t *survey)
{
   return survey->colls->len;
}

void
mn_infer_survey_destroy(mn_infer_survey_t *survey)
{
   if (!survey) {
      return;
   }
   g_ptr_array_free(survey->colls, TRUE);
   bson_strfreev(survey->opts_collections);
   g_free(survey);
}

/* ---- folding the values beside arrays into their elements ---- */

static void
merge_values(mn_infer__node_t *dst, mn_infer__node_t *src)
{
   GHashTableIter it;
   gpointer key, value;

   if (src->values) {
      g_hash_table_iter_init(&it, src->values);
      while (!dst->many_values && g_hash_table_iter_next(&it, &key, &value)) {
         if (!dst->values) {
            dst->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
         }
         g_hash_table_insert(
            dst->values, g_strdup(key),
            GUINT_TO_POINTER(GPOINTER_TO_UINT(value) +
                             GPOINTER_TO_UINT(g_hash_table_lookup(dst->values, key))));
      }
   }
   dst->many_values |= src->many_values;
   if (src->hll) {
      if (!dst->hll) {
         dst->hll = g_malloc0(MN_INFER__HLL);
      }
      for (int i = 0; i < MN_INFER__HLL; i++) {
         dst->hll[i] = MAX(dst->hll[i], src->hll[i]);
      }
   }
   if (src->oids) {
      g_hash_table_iter_init(&it, src->oids);
      while (g_hash_table_iter_next(&it, &key, NULL)) {
         if (!dst->oids) {
            dst->oids =
               g_hash_table_new_full(mn_infer__oid_hash, mn_infer__oid_equal, g_free, NULL);
         }
         if (g_hash_table_size(dst->oids) < MN_INFER__OID_SAMPLE) {
            g_hash_table_add(dst->oids, g_memdup2(key, 12));
         }
      }
   }
}

/* Add src's scalar statistics to dst (not its array and null counts when `single`). */
static void
merge_stats(mn_infer__node_t *dst, const mn_infer__node_t *src, bool single)
{
   for (int i = 0; i < MN_INFER__N_TYPES; i++) {
      bool skip =
         single && (i == mn_infer__slot(BSON_TYPE_ARRAY) || i == mn_infer__slot(BSON_TYPE_NULL));
      dst->types[i] += skip ? 0 : src->types[i];
   }
   dst->present +=
      single ? mn_infer__non_null(src) - src->types[mn_infer__slot(BSON_TYPE_ARRAY)] : src->present;
   dst->nulls += single ? 0 : src->nulls;
   dst->int_min = MIN(dst->int_min, src->int_min);
   dst->int_max = MAX(dst->int_max, src->int_max);
   dst->dbl_min = MIN(dst->dbl_min, src->dbl_min);
   dst->dbl_max = MAX(dst->dbl_max, src->dbl_max);
   dst->dbl_fraction += src->dbl_fraction;
   dst->date_min = MIN(dst->date_min, src->date_min);
   dst->date_max = MAX(dst->date_max, src->date_max);
   dst->str_min = MIN(dst->str_min, src->str_min);
   dst->str_max = MAX(dst->str_max, src->str_max);
   dst->str_sum += src->str_sum;
   dst->bin_uuid += src->bin_uuid;
   dst->data_keys += src->data_keys;
   dst->odd_keys += src->odd_keys;
   dst->overflow += src->overflow;
   if (!single) {
      dst->arr_min = MIN(dst->arr_min, src->arr_min);
      dst->arr_max = MAX(dst->arr_max, src->arr_max);
      dst->arr_sum += src->arr_sum;
   }
}

static void merge_node(mn_infer__node_t *dst, mn_infer__node_t *src, bool single);

/* Move (or merge) a child of another node under dst. */
static void
adopt(mn_infer__node_t *dst, mn_infer__node_t *c)
{
   mn_infer__node_t *have = dst->children ? g_hash_table_lookup(dst->children, c->key) : NULL;

   if (have) {
      merge_node(have, c, false);
      node_free(c);
      return;
   }
   if (!dst->children) {
      dst->children = g_hash_table_new(g_str_hash, g_str_equal);
      dst->order = g_ptr_array_new();
   }
   c->parent = dst;
   g_hash_table_insert(dst->children, c->key, c);
   g_ptr_array_add(dst->order, c);
}

static mn_infer__node_t **
sub_slot(mn_infer__node_t *dst, bool elem)
{
   return elem ? &dst->elem : &dst->mapval;
}

/* Fold src into dst: its statistics, children, elements and map values (src is emptied of
 * them; the caller frees it).  single: src holds the values beside dst's arrays. */
static void
merge_node(mn_infer__node_t *dst, mn_infer__node_t *src, bool single)
{
   merge_stats(dst, src, single);
   merge_values(dst, src);
   for (guint i = 0; src->order && i < src->order->len; i++) {
      adopt(dst, g_ptr_array_index(src->order, i));
   }
   if (src->order) {
      g_ptr_array_set_size(src->order, 0);
      g_hash_table_remove_all(src->children);
   }
   for (int k = 0; k < 2; k++) {
      mn_infer__node_t **from = sub_slot(src, k == 0);
      mn_infer__node_t **to = sub_slot(dst, k == 0);
      if (!*from || (single && k == 0)) {
         continue;
      }
      if (*to) {
         merge_node(*to, *from, false);
         node_free(*from);
      } else {
         *to = *from;
         (*to)->parent = dst;
      }
      *from = NULL;
   }
}

/* A path that holds arrays and other values (`on_scalar: single`): its sub-documents and
 * scalars are elements too, so their statistics go to its elements' node. */
static void
fold_singles(mn_infer__node_t *n)
{
   uint64_t arrays = n->types[mn_infer__slot(BSON_TYPE_ARRAY)];

   if (n->elem && arrays && mn_infer__non_null(n) > arrays) {
      merge_node(n->elem, n, true);
   }
   for (guint i = 0; n->order && i < n->order->len; i++) {
      fold_singles(g_ptr_array_index(n->order, i));
   }
   if (n->elem) {
      fold_singles(n->elem);
   }
   if (n->mapval) {
      fold_singles(n->mapval);
   }
}

void
mn_infer__survey_finish(mn_infer_survey_t *survey)
{
   for (guint i = 0; !survey->finished && i < survey->colls->len; i++) {
      fold_singles(((mn_infer__coll_t *)g_ptr_array_index(survey->colls, i))->root);
   }
   survey->finished = true;
}
