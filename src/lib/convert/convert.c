/*
 * convert.c - document -> rows for every table it feeds, in one pass.
 *
 * Walk order: entries in mapping order (parents before children).  Each row
 * produced is also a context for the entries below it: a context is the
 * element (a bson_iter_t into the document, or into a scratch array built
 * for `split`), the row id, and the concrete field path for messages.
 */
#include "convert/convert_private.h"
#include "util/ascii.h"
#include "util/bson_private.h"
#include "util/spillmap.h"
#include "util/uuidset.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the converter ---- */

/* What the run knows of a document id of a collection: one flag byte per id. */
enum {
   ID_SOURCE = 1,   /* in the source (the pre-pass); only for a referenced collection */
   ID_ACCEPTED = 2, /* accepted this run */
   ID_REJECTED = 4, /* rejected this run */
   ID_TARGET = 8    /* a primary id already in the target */
};

typedef struct {
   mn_spillmap_t *ids;   /* row id -> ID_* flags (1 byte); NULL until the first */
   GHashTable *coverage; /* drift: source path -> coverage + 1 (see cached_coverage) */
   bool referenced;
} coll_state_t;

/* The ID_* flags of id in cs (0: none). */
static uint8_t
id_flags(const coll_state_t *cs, const mn_uuid_t *id)
{
   uint8_t f = 0;

   if (cs->ids && !mn_spillmap__get(cs->ids, id->bytes, &f)) {
      f = 0;
   }
   return f;
}

static bool
id_has(const coll_state_t *cs, const mn_uuid_t *id, uint8_t flag)
{
   return (id_flags(cs, id) & flag) != 0;
}

/* Set (on) or clear flag for id in cs. */
static void
id_mark(coll_state_t *cs, const uint8_t *id, uint8_t flag, bool on)
{
   uint8_t f = 0, g;

   if (!cs->ids) {
      if (!on) {
         return;
      }
      cs->ids = mn_spillmap__new(1, 0);
   }
   if (!mn_spillmap__get(cs->ids, id, &f)) {
      f = 0;
   }
   g = on ? (uint8_t)(f | flag) : (uint8_t)(f & ~flag);
   if (g != f) {
      mn_spillmap__put(cs->ids, id, &g);
   }
}

/* The run-wide unique key text k as the unique maps' key: its SHA-256, cut to 16 bytes
 * (two keys of a run sharing one: about n^2 / 2^129, never in practice). */
static void
unique_key_digest(const char *k, size_t len, uint8_t out[16])
{
   uint8_t d[MN_DIGEST_SIZE];

   mn_digest(k, len, d);
   memcpy(out, d, 16);
}

/* The holder of run-wide unique key k in map (16 bytes into holder): whether held. */
static bool
unique_holder(mn_spillmap_t *map, const char *k, uint8_t holder[16])
{
   uint8_t key[16];

   unique_key_digest(k, strlen(k), key);
   return mn_spillmap__get(map, key, holder);
}

static void
unique_hold(mn_spillmap_t *map, const char *k, const mn_uuid_t *doc)
{
   uint8_t key[16];

   unique_key_digest(k, strlen(k), key);
   mn_spillmap__put(map, key, doc->bytes);
}

struct mn_converter {
   const mn_mapping_t *m;
   mn_stats_t *stats;
   coll_state_t *colls;
   mn_spillmap_t **unique; /* per table: run-wide unique key (unique_key_digest) -> holder
                              (16 bytes) */
   GHashTable **held;      /* per table: holder (16 bytes) -> GPtrArray of keys it holds in
                              the target (merge mode), for the claims pass */
   bool claiming;          /* the claims pass: conversions count nothing and mark nothing */
   mn_shape_check_t shape; /* the shape check's working memory (shape.c) */
   gssize *row_offsets;    /* the row being built (emit_row): one per column of the widest table */
   GString *key_text;      /* a row's unique key being built (emit_row) */
   GHashTable *kinds;      /* coercion kinds built from parts (coercion_kind), each once */
   bson_string_t *value;   /* a column's converted text (convert_source), reused */
   mn_fields_t *fields;    /* the document's sub-documents' fields by name (resolve) */
};

/* The columns of entry e's column set s: 0 the entry's own, 1 to n_shapes its shapes'. */
static const mn_column_t *
entry_columns(const mn_entry_t *e, size_t s, size_t *n)
{
   *n = s == 0 ? e->n_columns : e->shapes[s - 1].n_columns;
   return s == 0 ? e->columns : e->shapes[s - 1].columns;
}

/* What the entries ask of the run: the collections some column references (their _id
 * sets are kept), and the tables with a run-wide unique key (the keys' holders). */
static void
scan_entries(mn_converter_t *c)
{
   const mn_mapping_t *m = c->m;

   for (size_t ci = 0; ci < m->n_collections; ci++) {
      const mn_collection_t *coll = &m->collections[ci];
      for (size_t ei = 0; ei < coll->n_entries; ei++) {
         const mn_entry_t *e = &coll->entries[ei];
         for (size_t s = 0; s <= e->n_shapes; s++) {
            size_t nc;
            const mn_column_t *cols = entry_columns(e, s, &nc);
            for (size_t k = 0; k < nc; k++) {
               if (cols[k].ref_collection >= 0) {
                  c->colls[cols[k].ref_collection].referenced = true;
               }
            }
         }
         if (e->n_unique && !e->unique_per_doc && !c->unique[e->table_index]) {
            /* key text -> the document id that holds it (16 bytes) */
            c->unique[e->table_index] = mn_spillmap__new(16, 0);
         }
      }
   }
}

mn_converter_t *
mn_converter_new(const mn_mapping_t *m, mn_stats_t *stats)
{
   mn_converter_t *c = g_new0(mn_converter_t, 1);

   c->m = m;
   c->stats = stats;
   c->colls = g_new0(coll_state_t, m->n_collections);
   c->unique = g_new0(mn_spillmap_t *, m->n_tables);
   c->held = g_new0(GHashTable *, m->n_tables);
   mn_shape__init(&c->shape);
   {
      size_t widest = 1;
      for (size_t t = 0; t < m->n_tables; t++) {
         widest = MAX(widest, m->tables[t].n_columns);
      }
      c->row_offsets = g_new(gssize, widest);
   }
   c->kinds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   c->key_text = g_string_new(NULL);
   c->value = bson_string_new(NULL);
   c->fields = mn_fields__new();
   for (size_t i = 0; i < m->n_collections; i++) {
      c->colls[i].coverage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   }
   scan_entries(c);
   return c;
}

void
mn_converter_destroy(mn_converter_t *c)
{
   if (!c) {
      return;
   }
   for (size_t i = 0; i < c->m->n_collections; i++) {
      coll_state_t *s = &c->colls[i];
      mn_spillmap__destroy(s->ids);
      g_hash_table_destroy(s->coverage);
   }
   for (size_t i = 0; i < c->m->n_tables; i++) {
      mn_spillmap__destroy(c->unique[i]);
      if (c->held[i]) {
         g_hash_table_destroy(c->held[i]);
      }
   }
   g_free(c->unique);
   g_free(c->held);
   g_free(c->colls);
   mn_shape__cleanup(&c->shape);
   g_free(c->row_offsets);
   g_hash_table_destroy(c->kinds);
   g_string_free(c->key_text, TRUE);
   bson_string_free(c->value, true);
   mn_fields__destroy(c->fields);
   g_free(c);
}

bool
mn_converter_ok(const mn_converter_t *c, mn_error_t *error)
{
   for (size_t i = 0; i < c->m->n_collections; i++) {
      if (c->colls[i].ids && !mn_spillmap__ok(c->colls[i].ids, error)) {
         return false;
      }
   }
   for (size_t t = 0; t < c->m->n_tables; t++) {
      if (c->unique[t] && !mn_spillmap__ok(c->unique[t], error)) {
         return false;
      }
   }
   return true;
}

bool
mn_converter_is_referenced(const mn_converter_t *c, size_t collection)
{
   return collection < c->m->n_collections && c->colls[collection].referenced;
}

void
mn_converter_add_source_id(mn_converter_t *c, size_t collection, const bson_iter_t *id)
{
   mn_uuid_t u;

   if (collection >= c->m->n_collections || !c->colls[collection].referenced) {
      return;
   }
   mn_uuid_from_value(id, &u);
   id_mark(&c->colls[collection], u.bytes, ID_SOURCE, true);
}

static void
copy_source_id(const uint8_t *key, const void *value, void *ctx)
{
   if (*(const uint8_t *)value & ID_SOURCE) {
      id_mark(ctx, key, ID_SOURCE, true);
   }
}

void
mn_converter_copy_source_ids(mn_converter_t *to, const mn_converter_t *from)
{
   for (size_t i = 0; i < to->m->n_collections && i < from->m->n_collections; i++) {
      if (!from->colls[i].referenced || !from->colls[i].ids || !to->colls[i].referenced) {
         continue;
      }
      mn_spillmap__foreach(from->colls[i].ids, copy_source_id, &to->colls[i]);
   }
}

void
mn_converter_add_target_id(mn_converter_t *c, size_t collection, const mn_uuid_t *id)
{
   if (collection >= c->m->n_collections) {
      return;
   }
   id_mark(&c->colls[collection], id->bytes, ID_TARGET, true);
}

void
mn_converter_add_unique_key(mn_converter_t *c, size_t table, const char *const *values, size_t n,
                            const mn_uuid_t *doc)
{
   GString *k;
   GPtrArray *keys;

   if (table >= c->m->n_tables || !c->unique[table]) {
      return;
   }
   /* the same text emit_row builds: table index, then each value after \x1f */
   k = g_string_new(NULL);
   g_string_append_printf(k, "%zu", table);
   for (size_t i = 0; i < n; i++) {
      g_string_append_c(k, '\x1f');
      g_string_append(k, values[i]);
   }
   if (!c->held[table]) {
      c->held[table] = mn_uuid__table_new((GDestroyNotify)g_ptr_array_unref);
   }
   keys = g_hash_table_lookup(c->held[table], doc->bytes);
   if (!keys) {
      keys = g_ptr_array_new_with_free_func(g_free);
      g_hash_table_insert(c->held[table], g_memdup2(doc->bytes, 16), keys);
   }
   g_ptr_array_add(keys, g_strdup(k->str));
   unique_hold(c->unique[table], k->str, doc);
   g_string_free(k, TRUE);
}

/* Whether table t has a run-wide unique key fed by collection c. */
static bool
collection_keys_table(const mn_converter_t *conv, size_t c, size_t t)
{
   const mn_collection_t *coll = &conv->m->collections[c];

   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      const mn_entry_t *e = &coll->entries[ei];
      if ((size_t)e->table_index == t && e->n_unique && !e->unique_per_doc) {
         return true;
      }
   }
   return false;
}

typedef struct {
   uint8_t want, minus; /* ids with a flag of want and none of minus */
   uint64_t n, x, sum;
} summary_t;

static void
summarize_one(const uint8_t *k, const void *value, void *ctx)
{
   summary_t *s = ctx;
   uint8_t f = *(const uint8_t *)value;
   uint64_t a, b, h;

   if (!(f & s->want) || (f & s->minus)) {
      return;
   }
   memcpy(&a, k, 8);
   memcpy(&b, k + 8, 8);
   /* splitmix64's finalizer over both halves */
   h = a ^ (b * 0x9e3779b97f4a7c15ull);
   h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
   h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
   h ^= h >> 31;
   s->n++;
   s->x ^= h;
   s->sum += h;
}

/* An order-independent summary of the ids of cs flagged want and not minus: count, XOR
 * and sum of mixed ids. */
static void
summarize_set(const coll_state_t *cs, uint8_t want, uint8_t minus, GString *out)
{
   summary_t s = {want, minus, 0, 0, 0};

   if (cs->ids) {
      mn_spillmap__foreach(cs->ids, summarize_one, &s);
   }
   g_string_append_printf(out, "%" PRIu64 ":%016" PRIx64 ":%016" PRIx64, s.n, s.x, s.sum);
}

void
mn_converter_context_digest(const mn_converter_t *c, size_t collection,
                            char out[2 * MN_DIGEST_SIZE + 1])
{
   GString *ctx = g_string_new(c->m->digest);
   uint8_t d[MN_DIGEST_SIZE];

   for (size_t ref = 0; ref < c->m->n_collections; ref++) {
      const coll_state_t *rs = &c->colls[ref];
      if (!mn_converter_references(c, collection, ref)) {
         continue;
      }
      /* loaded earlier in the pass: the documents it accepted; the collection itself or a
       * later one: the source's _id set (its outcomes are not known yet) */
      g_string_append_printf(ctx, "|%zu:", ref);
      if (ref < collection) {
         summarize_set(rs, ID_ACCEPTED, ID_REJECTED, ctx);
      } else {
         summarize_set(rs, rs->referenced ? ID_SOURCE : 0, 0, ctx);
      }
   }
   mn_digest(ctx->str, ctx->len, d);
   for (int i = 0; i < MN_DIGEST_SIZE; i++) {
      snprintf(out + 2 * i, 3, "%02x", d[i]);
   }
   g_string_free(ctx, TRUE);
}

bool
mn_converter_needs_claims(const mn_converter_t *c, size_t collection)
{
   for (size_t t = 0; collection < c->m->n_collections && t < c->m->n_tables; t++) {
      if (c->held[t] && collection_keys_table(c, collection, t)) {
         return true;
      }
   }
   return false;
}

void
mn_converter_begin_claims(mn_converter_t *c, size_t collection)
{
   for (size_t t = 0; t < c->m->n_tables; t++) {
      if (c->unique[t] && collection_keys_table(c, collection, t)) {
         mn_spillmap__clear(c->unique[t]);
      }
   }
   c->claiming = true;
}

/* The keys the target holds for doc in table t, when t is keyed run-wide by collection. */
static GPtrArray *
held_keys(const mn_converter_t *c, size_t collection, size_t t, const mn_uuid_t *doc)
{
   if (!c->held[t] || !collection_keys_table(c, collection, t)) {
      return NULL;
   }
   return g_hash_table_lookup(c->held[t], doc->bytes);
}

bool
mn_converter_claim_held(mn_converter_t *c, size_t collection, const mn_uuid_t *doc)
{
   /* first: would any of its keys collide with an earlier claim? */
   for (size_t t = 0; t < c->m->n_tables; t++) {
      GPtrArray *keys = held_keys(c, collection, t, doc);
      for (guint i = 0; keys && i < keys->len; i++) {
         uint8_t holder[16];
         if (unique_holder(c->unique[t], g_ptr_array_index(keys, i), holder) &&
             memcmp(holder, doc->bytes, 16) != 0) {
            return false;
         }
      }
   }
   for (size_t t = 0; t < c->m->n_tables; t++) {
      GPtrArray *keys = held_keys(c, collection, t, doc);
      for (guint i = 0; keys && i < keys->len; i++) {
         unique_hold(c->unique[t], g_ptr_array_index(keys, i), doc);
      }
   }
   return true;
}

void
mn_converter_end_claims(mn_converter_t *c, size_t collection)
{
   for (size_t t = 0; t < c->m->n_tables; t++) {
      if (c->held[t] && collection_keys_table(c, collection, t)) {
         g_hash_table_destroy(c->held[t]);
         c->held[t] = NULL;
      }
   }
   c->claiming = false;
}

/* Record a document's outcome, when references to its collection need to know it. */
static void
mark_outcome(mn_converter_t *c, size_t collection, const mn_uuid_t *id, bool accepted)
{
   if (collection < c->m->n_collections && c->colls[collection].referenced) {
      id_mark(&c->colls[collection], id->bytes, accepted ? ID_ACCEPTED : ID_REJECTED, true);
   }
}

void
mn_converter_mark_accepted(mn_converter_t *c, size_t collection, const mn_uuid_t *id)
{
   mark_outcome(c, collection, id, true);
}

void
mn_converter_forget_loaded(mn_converter_t *c, size_t collection, const mn_uuid_t *id)
{
   if (collection < c->m->n_collections) {
      id_mark(&c->colls[collection], id->bytes, ID_TARGET | ID_ACCEPTED, false);
   }
}

void
mn_converter_mark_rejected(mn_converter_t *c, size_t collection, const mn_uuid_t *id)
{
   mark_outcome(c, collection, id, false);
}

bool
mn_converter_has_source_id(const mn_converter_t *c, size_t collection, const mn_uuid_t *id)
{
   return collection < c->m->n_collections && c->colls[collection].referenced &&
          id_has(&c->colls[collection], id, ID_SOURCE);
}

bool
mn_converter_references(const mn_converter_t *c, size_t from, size_t to)
{
   const mn_collection_t *coll;

   if (from >= c->m->n_collections) {
      return false;
   }
   coll = &c->m->collections[from];
   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      const mn_entry_t *e = &coll->entries[ei];
      for (size_t s = 0; s <= e->n_shapes; s++) {
         size_t nc;
         const mn_column_t *cols = entry_columns(e, s, &nc);
         for (size_t k = 0; k < nc; k++) {
            if (cols[k].ref_collection == (int)to) {
               return true;
            }
         }
      }
   }
   return false;
}

/* ---- one document ---- */

typedef struct {
   /* the element (valid unless is_doc): a bson_iter_t, copied as bytes (ctx_elem,
    * ctx_set_elem), since bson_iter_t is declared 128-byte aligned and a context holding
    * one would take 256 bytes instead of 144 */
   unsigned char elem[sizeof(bson_iter_t)];
   bool is_doc; /* the document itself */
   int entry;   /* entry index, -1 for the document */
   int parent;  /* context index of the parent, -1 for the document context */
   mn_uuid_t id;
   int64_t index;
   const char *key;  /* map key, or NULL */
   const char *path; /* concrete field path of the element ("" for the document) */
   bool dropped;     /* skipped: no rows below it */
} ctx_t;

typedef struct {
   ctx_t *items;
   size_t n, cap;
} ctxvec_t;

static void
ctx_elem(const ctx_t *c, bson_iter_t *out)
{
   memcpy(out, c->elem, sizeof *out);
}

static void
ctx_set_elem(ctx_t *c, const bson_iter_t *it)
{
   memcpy(c->elem, it, sizeof *it);
}

typedef struct {
   mn_converter_t *conv;
   size_t coll_index;
   const mn_collection_t *coll;
   const bson_t *doc;
   mn_rowset_t *rs;
   ctxvec_t ctxs;           /* every context of the document, in creation order */
   GHashTable *doc_unique;  /* per-document unique keys and element ids: char* */
   GHashTable *pending_set; /* rs->pending_unique's keys (borrowed), to look them up */
   GString *key;            /* the unique key being built (emit_row) */
   bool rejected;
   const mn_entry_t *col_entry; /* the column being evaluated, for reject messages */
   const mn_column_t *col;
   bool stop;                /* the document reached its row limit: nothing more is built */
   gssize doc_id_text;       /* offset of the document id's text in rs->text, or -1 */
   gssize parent_text;       /* offset of parent_text_id's text, or -1 */
   mn_uuid_t parent_text_id; /* the parent id whose text was stored last */
} walk_t;

static void reject(walk_t *w, const char *path, const char *fmt, ...) MN_PRINTF(3, 4);

static void
reject(walk_t *w, const char *path, const char *fmt, ...)
{
   reject_t r;
   va_list ap;
   char *msg;

   va_start(ap, fmt);
   msg = g_strdup_vprintf(fmt, ap);
   va_end(ap);
   r.path = g_strdup(path);
   if (w->col) {
      /* the target column too: two columns may read one path */
      r.message = g_strdup_printf("document %s, field \"%s\", column \"%s.%s\": %s",
                                  mn_rowset_doc_id_json(w->rs), path, w->col_entry->table,
                                  w->col->name, msg);
   } else {
      r.message =
         g_strdup_printf("document %s, field \"%s\": %s", mn_rowset_doc_id_json(w->rs), path, msg);
   }
   g_free(msg);
   g_array_append_val(w->rs->rejects, r);
   w->rejected = true;
}

static const char *
scratch(walk_t *w, char *s)
{
   g_ptr_array_add(w->rs->scratch_strings, s);
   return s;
}

/* "a.b", newly allocated (as g_strdup_printf("%s.%s") writes it, without its cost: one
 * per array element walked). */
static char *
dotted(const char *a, const char *b)
{
   size_t la = strlen(a), lb = strlen(b);
   char *s = g_malloc(la + lb + 2);

   memcpy(s, a, la);
   s[la] = '.';
   memcpy(s + la + 1, b, lb + 1);
   return s;
}

static const char *
join_path(walk_t *w, const char *base, const char *rest)
{
   if (!*base) {
      return scratch(w, g_strdup(rest));
   }
   if (!*rest) {
      return base;
   }
   return scratch(w, dotted(base, rest));
}

/* Element `index` of an array (negative: from the end); false when past either end. */
static bool
array_element(const bson_iter_t *arr, int64_t index, bson_iter_t *out, int64_t *position)
{
   bson_iter_t child;

   if (!bson_iter_recurse(arr, &child)) {
      return false;
   }
   if (index < 0) {
      bson_iter_t count = child;
      int64_t n = 0;
      while (bson_iter_next(&count)) {
         n++;
      }
      index += n;
      if (index < 0) {
         return false;
      }
   }
   for (int64_t i = 0; bson_iter_next(&child); i++) {
      if (i == index) {
         *out = child;
         *position = index;
         return true;
      }
   }
   return false;
}

/* Append segments [0, k) of p, joined by ".". */
static void
append_segments(GString *s, const mn_path_t *p, size_t k)
{
   for (size_t i = 0; i < k; i++) {
      g_string_append_printf(s, "%s%s", i ? "." : "", p->segments[i]);
   }
}

/* The path as written up to (not including) segment k: where it crossed an array. */
static const char *
written_prefix(walk_t *w, const mn_path_t *p, size_t k)
{
   GString *s = g_string_new(p->root == MN_ROOT_DOC      ? "$doc."
                             : p->root == MN_ROOT_PARENT ? "$parent."
                                                         : "");
   append_segments(s, p, k);
   return scratch(w, g_string_free(s, FALSE));
}

/* The context a path starts from: the document ($doc), the parent ($parent), or ctx. */
static const ctx_t *
path_start(walk_t *w, const ctx_t *ctx, const mn_path_t *p)
{
   if (p->root == MN_ROOT_DOC) {
      return &w->ctxs.items[0];
   }
   if (p->root == MN_ROOT_PARENT) {
      return ctx->parent >= 0 ? &w->ctxs.items[ctx->parent] : &w->ctxs.items[0];
   }
   return ctx;
}

/* Segment s of p applied to the array arr: it must be an index, else it crossed the
 * array (*crossed, when the array is not empty).  False when absent. */
static bool
index_step(walk_t *w, const mn_path_t *p, size_t s, const bson_iter_t *arr, bson_iter_t *child,
           int64_t *pos, const char **crossed)
{
   if (!p->is_index[s]) {
      bson_iter_t probe;
      if (bson_iter_recurse(arr, &probe) && bson_iter_next(&probe)) {
         *crossed = written_prefix(w, p, s);
      }
      return false;
   }
   return array_element(arr, p->index[s], child, pos);
}

/*
 * Resolve a path from a context.  Returns false when absent.  For `$key`, *key is set
 * instead.  A segment applied to an array must be an index ("0", "-1"): any other name
 * there would read nothing, so resolving stops, returns false and sets *crossed to the
 * path as written up to the array (a non-empty array; an empty one is just absent).
 * *concrete is the path read, an index counted from the end written as the position.
 * With `lazy`, *concrete is NULL where it would be a new string joining the start's path
 * and p->joined: read_path() makes that one if a message needs it (most values never do).
 */
static bool
resolve(walk_t *w, const ctx_t *ctx, const mn_path_t *p, bson_iter_t *out, const char **key,
        const char **concrete, const char **crossed, bool lazy)
{
   const ctx_t *start = path_start(w, ctx, p);
   GString *real = NULL; /* concrete path, built only when an index counts from the end */
   bson_iter_t it;
   bool at_doc = start->is_doc, found = true;

   *key = NULL;
   *crossed = NULL;
   *concrete = start->path;
   if (p->is_key) {
      *key = start->key;
      return start->key != NULL;
   }
   if (p->n_segments == 0) {
      if (!at_doc) {
         ctx_elem(start, out);
      }
      return !at_doc;
   }
   if (!at_doc) {
      ctx_elem(start, &it);
   }
   for (size_t s = 0; s < p->n_segments && found; s++) {
      bson_iter_t child;
      char posbuf[32];
      const char *seg = p->segments[s];
      int64_t pos;

      if (at_doc) {
         found = mn_fields__find_doc(w->conv->fields, w->doc, seg, &child);
         at_doc = false;
      } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
         found = index_step(w, p, s, &it, &child, &pos, crossed);
         if (found && p->index[s] < 0) {
            snprintf(posbuf, sizeof posbuf, "%lld", (long long)pos);
            seg = posbuf;
            if (!real) {
               real = g_string_new(NULL);
               append_segments(real, p, s);
            }
         }
      } else {
         found =
            BSON_ITER_HOLDS_DOCUMENT(&it) && mn_fields__find_in(w->conv->fields, &it, seg, &child);
      }
      if (found && real) {
         g_string_append_printf(real, "%s%s", s ? "." : "", seg);
      }
      if (found) {
         it = child;
      }
   }
   if (found) {
      *out = it;
      *concrete = lazy && !real ? NULL : join_path(w, start->path, real ? real->str : p->joined);
   }
   if (real) {
      g_string_free(real, TRUE);
   }
   return found;
}

/*
 * Resolve the path of a predicate.  One that crosses an array reads as missing, and that
 * is counted (column: the path) on the entry's table: a condition has no policy of its
 * own, and the mapping error it usually is is caught at load time.
 */
static bool
pred_resolve(walk_t *w, const ctx_t *ctx, const mn_path_t *path, bson_iter_t *it, const char **key)
{
   const char *concrete;
   const char *crossed;

   if (resolve(w, ctx, path, it, key, &concrete, &crossed, true)) {
      return true;
   }
   if (crossed && ctx->entry >= 0) {
      coercion_t co = {w->coll->entries[ctx->entry].table, path->text,
                       "path crosses an array: condition read it as missing"};
      g_array_append_val(w->rs->coercions, co);
   }
   return false;
}

/* `nonempty`: present, not null, and not an empty or blank string, array or document. */
static bool
pred_nonempty(walk_t *w, const ctx_t *ctx, const mn_pred_t *p)
{
   bson_iter_t it;
   const char *key;

   if (!pred_resolve(w, ctx, &p->path, &it, &key)) {
      return false;
   }
   if (key) {
      return *key != '\0';
   }
   if (mn_convert__is_nullish(&it)) {
      return false;
   }
   if (BSON_ITER_HOLDS_UTF8(&it)) {
      for (const char *q = bson_iter_utf8(&it, NULL); *q; q++) {
         if (!g_ascii_isspace(*q)) {
            return true;
         }
      }
      return false;
   }
   if (BSON_ITER_HOLDS_ARRAY(&it) || BSON_ITER_HOLDS_DOCUMENT(&it)) {
      bson_iter_t child;
      return bson_iter_recurse(&it, &child) && bson_iter_next(&child);
   }
   return true;
}

/* `in`: a string (or map key), trimmed, equal to one of the values (`ignore_case`: case
 * aside). */
static bool
pred_in(walk_t *w, const ctx_t *ctx, const mn_pred_t *p)
{
   bson_iter_t it;
   const char *key, *s;
   char *trimmed;
   bool match = false;

   if (!pred_resolve(w, ctx, &p->path, &it, &key)) {
      return false;
   }
   if (key) {
      s = key;
   } else if (BSON_ITER_HOLDS_UTF8(&it)) {
      s = bson_iter_utf8(&it, NULL);
   } else {
      return false;
   }
   trimmed = g_strstrip(g_strdup(s));
   for (size_t i = 0; i < p->n_values && !match; i++) {
      match = p->ignore_case ? strcasecmp(trimmed, p->values[i]) == 0
                             : strcmp(trimmed, p->values[i]) == 0;
   }
   g_free(trimmed);
   return match;
}

static bool
pred_eval(walk_t *w, const ctx_t *ctx, const mn_pred_t *p)
{
   bson_iter_t it;
   const char *key;

   switch (p->kind) {
   case MN_PRED_EXISTS:
      return pred_resolve(w, ctx, &p->path, &it, &key) && (key || !mn_convert__is_nullish(&it));
   case MN_PRED_NONEMPTY: return pred_nonempty(w, ctx, p);
   case MN_PRED_IN: return pred_in(w, ctx, p);
   case MN_PRED_ANY:
      for (size_t i = 0; i < p->n_children; i++) {
         if (pred_eval(w, ctx, &p->children[i])) {
            return true;
         }
      }
      return false;
   case MN_PRED_ALL:
      for (size_t i = 0; i < p->n_children; i++) {
         if (!pred_eval(w, ctx, &p->children[i])) {
            return false;
         }
      }
      return true;
   case MN_PRED_NOT: return !pred_eval(w, ctx, &p->children[0]);
   }
   return false;
}

static const char *
bson_type_label(bson_type_t t)
{
   switch (t) {
   case BSON_TYPE_DOUBLE: return "double";
   case BSON_TYPE_UTF8: return "string";
   case BSON_TYPE_DOCUMENT: return "document";
   case BSON_TYPE_ARRAY: return "array";
   case BSON_TYPE_BINARY: return "binary";
   case BSON_TYPE_OID: return "objectId";
   case BSON_TYPE_BOOL: return "bool";
   case BSON_TYPE_DATE_TIME: return "date";
   case BSON_TYPE_NULL: return "null";
   case BSON_TYPE_REGEX: return "regex";
   case BSON_TYPE_INT32: return "int";
   case BSON_TYPE_TIMESTAMP: return "timestamp";
   case BSON_TYPE_INT64: return "long";
   case BSON_TYPE_DECIMAL128: return "decimal";
   default: return "other";
   }
}

/* Row under construction. */
typedef struct {
   size_t table;
   size_t n;
   gssize *offsets;
   bool skip;
} newrow_t;

static void
set_text(walk_t *w, newrow_t *r, int column, const char *text, size_t len)
{
   uint32_t n = (uint32_t)len; /* for mn_rowset_value_len(): the length, then the text */

   g_string_append_len(w->rs->text, (const char *)&n, sizeof n);
   r->offsets[column] = (gssize)w->rs->text->len;
   g_string_append_len(w->rs->text, text, (gssize)len);
   g_string_append_c(w->rs->text, '\0');
}

static void
count_coercion(walk_t *w, const mn_entry_t *e, const mn_column_t *c, const char *kind)
{
   coercion_t co = {e->table, c->name, kind};
   g_array_append_val(w->rs->coercions, co);
}

static const char *
coercion_kind(walk_t *w, const char *before, const char *type_label, const char *after)
{
   /* Kinds are counters' keys: never values, only types and policies, so there are few;
    * each is kept once by the converter (a coercion holds it until the document is
    * accepted, past the row whose scratch strings are released). */
   char buf[256];
   char *kind;

   snprintf(buf, sizeof buf, "%s%s%s", before, type_label, after);
   kind = g_hash_table_lookup(w->conv->kinds, buf);
   if (!kind) {
      kind = g_strdup(buf);
      g_hash_table_add(w->conv->kinds, kind);
   }
   return kind;
}

/* What a path column read from its context (read_source). */
typedef struct {
   bson_iter_t it;         /* the value, when found and not a map key */
   const char *key;        /* the map key, when a `$key` path found one */
   const char *concrete;   /* the field path read, for messages; NULL: see read_path() */
   const char *type_label; /* what was read, for coercion kinds */
   bool found;             /* a value other than null (or a key) */
   const ctx_t *ctx;       /* the context it was read from */
   const mn_column_t *col; /* the column */
   const mn_path_t *path;  /* the path that found it, when found */
} source_t;

/*
 * The field path a column read (src->concrete), for messages: made here, when one needs
 * it, unless resolve() already had to.  Found: the start context's path joined with the
 * path that found it; not found: the first alternative's, below the context's element.
 */
static const char *
read_path(walk_t *w, const source_t *src)
{
   const mn_path_t *p0 = &src->col->paths[0];

   if (src->concrete) {
      return src->concrete;
   }
   if (src->found) {
      return join_path(w, path_start(w, src->ctx, src->path)->path, src->path->joined);
   }
   if (src->ctx->path && *src->ctx->path && p0->root == MN_ROOT_ELEMENT) {
      return join_path(w, src->ctx->path, p0->text);
   }
   return p0->text;
}

/* What a reference's lookup depends on: in the source, rejected (eval_reference).  The
 * other flags only decide when a reference is set (at once or deferred), not to what. */
#define REF_ANSWER (ID_SOURCE | ID_REJECTED)

/* The flags of id in collection ref_collection, the lookup recorded in the row set
 * (mn_rowset_refs()). */
static uint8_t
ref_lookup(walk_t *w, int ref_collection, const mn_uuid_t *id)
{
   uint8_t f = id_flags(&w->conv->colls[ref_collection], id);
   uint8_t e[MN_ROWSET_REF_SIZE];

   e[0] = (uint8_t)((unsigned)ref_collection >> 8);
   e[1] = (uint8_t)ref_collection;
   memcpy(e + 2, id->bytes, 16);
   e[18] = f & REF_ANSWER;
   g_byte_array_append(w->rs->refs, e, sizeof e);
   return f;
}

bool
mn_converter_refs_hold(const mn_converter_t *c, const uint8_t *refs, size_t len, size_t settled)
{
   if (len % MN_ROWSET_REF_SIZE) {
      return false;
   }
   for (const uint8_t *e = refs; e < refs + len; e += MN_ROWSET_REF_SIZE) {
      size_t coll = (size_t)e[0] << 8 | e[1];
      uint8_t mask = coll < settled ? REF_ANSWER : ID_SOURCE;
      mn_uuid_t id;
      if (coll >= c->m->n_collections) {
         return false;
      }
      memcpy(id.bytes, e + 2, 16);
      if ((id_flags(&c->colls[coll], &id) & mask) != (e[18] & mask)) {
         return false;
      }
   }
   return true;
}

/* A string reference holding an ObjectId's hex digits or a UUID (in any form the uuid
 * type reads): the id it names into *ref, when the source has it. */
static bool
string_reference(walk_t *w, int ref_collection, const bson_iter_t *it, mn_uuid_t *ref)
{
   const coll_state_t *rs = &w->conv->colls[ref_collection];
   mn_value_spec_t spec;
   bson_string_t *out = bson_string_new(NULL);
   mn_uuid_t alt;
   bool found;

   memset(&spec, 0, sizeof spec);
   spec.type = MN_TYPE_UUID;
   spec.scale = -1;
   found = mn_value_convert(it, &spec, out, NULL, 0) <= MN_VALUE_COERCED &&
           mn_uuid_parse(out->str, &alt) && rs->referenced &&
           (ref_lookup(w, ref_collection, &alt) & ID_SOURCE);
   if (found) {
      *ref = alt;
   }
   bson_string_free(out, true);
   return found;
}

/* A hashed reference: the digest of the row id it names. */
static void
digest_reference(walk_t *w, const mn_column_t *c, const mn_uuid_t *ref, newrow_t *r)
{
   char idbuf[MN_UUID_TEXT_LEN + 1];
   bson_string_t *out = bson_string_new(NULL);

   mn_uuid_format(ref, idbuf);
   mn_value_digest(&c->spec, idbuf, MN_UUID_TEXT_LEN, out);
   set_text(w, r, c->table_column, out->str, out->len);
   bson_string_free(out, true);
}

/*
 * A column that `references` a collection: its value names a document by `_id`, so the
 * row id is derived exactly as that document's own id (keys.c), whatever the type.  A
 * string holding an ObjectId's hex digits or a UUID is read as one (counted).
 */
static bool
eval_reference(walk_t *w, const mn_entry_t *e, const mn_column_t *c, const bson_iter_t *it,
               const source_t *src, bool is_key, newrow_t *r)
{
   coll_state_t *rs = &w->conv->colls[c->ref_collection];
   char idbuf[MN_UUID_TEXT_LEN + 1];
   mn_uuid_t ref;
   uint8_t f;
   bool valid;

   mn_uuid_from_value(it, &ref);
   f = ref_lookup(w, c->ref_collection, &ref);
   valid = rs->referenced && (f & ID_SOURCE);
   if (!valid && BSON_ITER_HOLDS_UTF8(it) && string_reference(w, c->ref_collection, it, &ref)) {
      valid = true;
      f = id_flags(rs, &ref);
      if (!is_key) { /* a map key is always text: nothing to count */
         count_coercion(w, e, c, "reference written as a string");
      }
   }
   if (valid && (f & ID_REJECTED)) {
      valid = false;
   }
   if (!valid) {
      if (c->on_missing_reference == MN_ON_REJECT) {
         reject(w, read_path(w, src), "reference to a document of collection \"%s\" that %s",
                c->references, (f & ID_REJECTED) ? "was rejected" : "is not in the source");
      } else {
         count_coercion(w, e, c,
                        (f & ID_REJECTED) ? "reference to a rejected document stored as NULL"
                                          : "dangling reference stored as NULL");
      }
      return true;
   }
   /* A target loaded in this collection's pass is deferred even once accepted: its batch
    * may still be refused by PostgreSQL (mn_pg_sink_flush), and the deferred update sets
    * the reference only where the target row exists.  A target already in the target is
    * set at once; should the pass remove it (rejected now), the references to it are
    * cleared at the end (mn_pg_sink_sweep_references). */
   if (MN_COLUMN_IS_PHI(c)) {
      /* A hashed or redacted reference stores no row id, so nothing is deferred: the
       * deferred update would write the clear id.  The reference was judged above. */
      if (c->spec.digest != MN_DIGEST_NONE) {
         digest_reference(w, c, &ref, r);
      }
      return true;
   }
   if ((size_t)c->ref_collection >= w->coll_index && !(f & ID_TARGET) &&
       ((size_t)c->ref_collection == w->coll_index || !(f & ID_ACCEPTED))) {
      deferred_t d;
      d.table = (size_t)e->table_index;
      d.column = (size_t)c->table_column;
      d.ref_table = (size_t)w->conv->m->collections[c->ref_collection].entries[0].table_index;
      d.ref_id = ref;
      memset(&d.row_id, 0, sizeof d.row_id); /* filled by emit_row */
      g_array_append_val(w->rs->deferred, d);
      return true;
   }
   mn_uuid_format(&ref, idbuf);
   set_text(w, r, c->table_column, idbuf, MN_UUID_TEXT_LEN);
   return true;
}

/*
 * A column path that crossed an array (see resolve): the value is in the elements, so
 * reading it here would silently give NULL.  It is an invalid value under the column's
 * `on_invalid` policy.  Returns false when the row must be skipped.
 */
static bool
column_crossed_array(walk_t *w, const ctx_t *ctx, const mn_entry_t *e, const mn_column_t *c,
                     const mn_path_t *p, const char *at)
{
   const char *concrete = p->text;
   char *why;

   if (ctx->path && *ctx->path && p->root == MN_ROOT_ELEMENT) {
      concrete = join_path(w, ctx->path, p->text);
   }
   why = g_strdup_printf("path \"%s\" crosses an array at \"%s\"", p->text, at);
   switch (c->on_invalid) {
   case MN_ON_REJECT: reject(w, concrete, "%s", why); break;
   case MN_ON_SKIP_ROW: count_coercion(w, e, c, "row skipped: path crosses an array"); break;
   case MN_ON_NULL:
      count_coercion(w, e, c, "path crosses an array: stored as NULL");
      if (c->required && c->on_missing != MN_ON_SKIP_ROW) {
         reject(w, concrete, "required value is missing (%s)", why);
      }
      break;
   }
   g_free(why);
   return !(c->on_invalid == MN_ON_SKIP_ROW ||
            (c->on_invalid == MN_ON_NULL && c->required && c->on_missing == MN_ON_SKIP_ROW));
}

/* s as a BSON string value: *it reads it from *tmp, which the caller destroys. */
static void
string_value(bson_t *tmp, const char *s, bson_iter_t *it)
{
   bson_init(tmp);
   BSON_APPEND_UTF8(tmp, "v", s);
   bson_iter_init_find(it, tmp, "v");
}

/* A column whose source is not a path (the document's id, the parent's, the element's
 * index or map key, a constant) into row r. */
static void
eval_implicit(walk_t *w, const ctx_t *ctx, const mn_column_t *c, newrow_t *r)
{
   char idbuf[MN_UUID_TEXT_LEN + 1];

   switch (c->kind) {
   case MN_SRC_DOC_ID:
      /* the same text for every row of the document: stored once */
      if (w->doc_id_text < 0) {
         mn_uuid_format(&w->rs->doc_id, idbuf);
         set_text(w, r, c->table_column, idbuf, MN_UUID_TEXT_LEN);
         w->doc_id_text = r->offsets[c->table_column];
      }
      r->offsets[c->table_column] = w->doc_id_text;
      break;
   case MN_SRC_PARENT_ID: {
      const ctx_t *p = ctx->parent >= 0 ? &w->ctxs.items[ctx->parent] : &w->ctxs.items[0];
      /* siblings come one after another: their parent's text is stored once */
      if (w->parent_text < 0 || memcmp(w->parent_text_id.bytes, p->id.bytes, 16) != 0) {
         mn_uuid_format(&p->id, idbuf);
         set_text(w, r, c->table_column, idbuf, MN_UUID_TEXT_LEN);
         w->parent_text = r->offsets[c->table_column];
         w->parent_text_id = p->id;
      }
      r->offsets[c->table_column] = w->parent_text;
      break;
   }
   case MN_SRC_INDEX: {
      char buf[MN_ASCII_INT_SIZE];
      size_t len = mn_ascii__format_int(ctx->index, buf);
      set_text(w, r, c->table_column, buf, len);
      break;
   }
   case MN_SRC_KEY:
      if (ctx->key) {
         set_text(w, r, c->table_column, ctx->key, strlen(ctx->key));
      }
      break;
   case MN_SRC_CONST:
      set_text(w, r, c->table_column, c->const_value, strlen(c->const_value));
      break;
   case MN_SRC_PATH:
   case MN_SRC_UNMAPPED: break;
   }
}

/*
 * Read a path column's source from ctx: its paths in order, the first that holds a value
 * other than null winning; when none does, src->concrete is the first path's.  Returns
 * false when a path crossed an array (*crossed_path and *crossed: see resolve).
 */
static bool
read_source(walk_t *w, const ctx_t *ctx, const mn_column_t *c, source_t *src,
            const mn_path_t **crossed_path, const char **crossed)
{
   src->key = NULL;
   src->concrete = "";
   src->found = false;
   src->ctx = ctx;
   src->col = c;
   src->path = NULL;
   for (size_t i = 0; i < c->n_paths && !src->found; i++) {
      src->found =
         resolve(w, ctx, &c->paths[i], &src->it, &src->key, &src->concrete, crossed, true);
      src->path = &c->paths[i];
      if (*crossed) {
         *crossed_path = &c->paths[i];
         return false;
      }
      if (src->found && !src->key && mn_convert__is_nullish(&src->it)) {
         src->found = false;
      }
   }
   if (!src->found) {
      /* the first alternative's path, for messages (read_path) */
      src->concrete = NULL;
   }
   src->type_label = src->key     ? "string"
                     : src->found ? bson_type_label(bson_iter_type(&src->it))
                                  : "missing value";
   return true;
}

/* A value that converted to NULL (absent, null, or an empty string): a required column
 * skips the row or rejects the document.  Returns false when the row must be skipped. */
static bool
null_policy(walk_t *w, const mn_entry_t *e, const mn_column_t *c, const source_t *src)
{
   if (src->found && !src->key && BSON_ITER_HOLDS_UTF8(&src->it)) {
      count_coercion(w, e, c, "empty string stored as NULL");
   }
   if (c->required) {
      if (c->on_missing == MN_ON_SKIP_ROW) {
         count_coercion(w, e, c, "row skipped: required value missing");
         return false;
      }
      reject(w, read_path(w, src), "required value is missing");
   }
   return true;
}

/*
 * An invalid value (reason: why), under the column's `on_invalid`: reject the document,
 * skip the row, or store NULL (and the value's text in the `raw_to` column, if any; then
 * a required column is missing).  Returns false when the row must be skipped.
 */
static bool
invalid_policy(walk_t *w, const mn_entry_t *e, const mn_column_t *c, const source_t *src,
               const char *reason, newrow_t *r)
{
   switch (c->on_invalid) {
   case MN_ON_REJECT: reject(w, read_path(w, src), "%s", reason); return true;
   case MN_ON_SKIP_ROW:
      count_coercion(w, e, c, coercion_kind(w, "row skipped: invalid ", src->type_label, ""));
      return false;
   case MN_ON_NULL:
      count_coercion(w, e, c, coercion_kind(w, "invalid ", src->type_label, " stored as NULL"));
      if (c->raw_to >= 0 && src->found && !src->key) {
         mn_value_spec_t text_spec;
         bson_string_t *raw = bson_string_new(NULL);
         char why[64];
         mn_value_status_t st;
         memset(&text_spec, 0, sizeof text_spec);
         text_spec.type = MN_TYPE_TEXT;
         text_spec.scale = -1;
         st = mn_value_convert(&src->it, &text_spec, raw, why, sizeof why);
         if (st == MN_VALUE_OK || st == MN_VALUE_COERCED) {
            set_text(w, r, c->raw_to, raw->str, raw->len);
         }
         bson_string_free(raw, true);
      }
      if (c->required) {
         if (c->on_missing == MN_ON_SKIP_ROW) {
            return false;
         }
         reject(w, read_path(w, src), "required value is missing (%s)", reason);
      }
      return true;
   }
   return true;
}

/* The converter's value buffer emptied for the next column (convert_source), its memory
 * kept (bson_string_truncate would shrink it, to grow it again for the next value); one
 * that a large value grew is freed, not kept for the rest of the run. */
static void
value_done(walk_t *w)
{
   bson_string_t *v = w->conv->value;

   if (v->alloc > 65536) {
      bson_string_free(v, true);
      w->conv->value = bson_string_new(NULL);
   } else {
      v->len = 0;
      v->str[0] = '\0';
   }
}

/*
 * Convert what a path column read (a map key as a string; when absent, the declared
 * default) into row r, counting a coercion; an empty or invalid value goes to the
 * column's policies.  Returns false when the row must be skipped.
 */
static bool
convert_source(walk_t *w, const mn_entry_t *e, const mn_column_t *c, const source_t *src,
               newrow_t *r)
{
   char reason[256] = "";
   bson_string_t *out = w->conv->value;
   mn_value_status_t st;
   bson_t tmp;
   bson_iter_t sit;

   if (!src->found && c->default_value) {
      /* the source's own meaning of an absent field, declared in the mapping */
      string_value(&tmp, c->default_value, &sit);
      st = mn_value_convert(&sit, &c->spec, out, reason, sizeof reason);
      bson_destroy(&tmp);
      if (st == MN_VALUE_OK || st == MN_VALUE_COERCED) {
         count_coercion(w, e, c, "missing: declared default stored");
         set_text(w, r, c->table_column, out->str, out->len);
         value_done(w);
         return true;
      }
      st = MN_VALUE_NULL;
   } else if (src->found && src->key) {
      /* a map key: convert it as a string value */
      string_value(&tmp, src->key, &sit);
      st = mn_value_convert(&sit, &c->spec, out, reason, sizeof reason);
      bson_destroy(&tmp);
   } else {
      st = mn_value_convert(src->found ? &src->it : NULL, &c->spec, out, reason, sizeof reason);
   }
   if (st == MN_VALUE_OK || st == MN_VALUE_COERCED) {
      if (st == MN_VALUE_COERCED) {
         count_coercion(w, e, c, coercion_kind(w, "converted from ", src->type_label, ""));
      }
      set_text(w, r, c->table_column, out->str, out->len);
      value_done(w);
      return true;
   }
   value_done(w);
   return st == MN_VALUE_NULL ? null_policy(w, e, c, src) : invalid_policy(w, e, c, src, reason, r);
}

/*
 * The `unmapped_to` column of entry e: the fields of the context's element that drift
 * counts as unmapped (drift.c), as one jsonb object converted like any jsonb value (its
 * invalid values under the column's `on_invalid`); NULL when there are none, or when the
 * element is no sub-document.  Returns false when the row must be skipped.
 */
static bool
eval_unmapped(walk_t *w, const ctx_t *ctx, const mn_entry_t *e, const mn_column_t *c, newrow_t *r)
{
   bson_t part = BSON_INITIALIZER;
   bson_t wrap = BSON_INITIALIZER;
   bson_iter_t elem, fields;
   source_t src;
   bool any = false;
   bool keep = true;

   if (ctx->is_doc) {
      any = bson_iter_init(&fields, w->doc) &&
            mn_drift__unmapped(w->conv->colls[w->coll_index].coverage, w->coll, e->drift_path,
                               &fields, &part);
   } else {
      ctx_elem(ctx, &elem);
      any = BSON_ITER_HOLDS_DOCUMENT(&elem) && bson_iter_recurse(&elem, &fields) &&
            mn_drift__unmapped(w->conv->colls[w->coll_index].coverage, w->coll, e->drift_path,
                               &fields, &part);
   }
   if (any && bson_append_document(&wrap, "v", 1, &part) &&
       bson_iter_init_find(&src.it, &wrap, "v")) {
      src.key = NULL;
      src.concrete = ctx->path ? ctx->path : "";
      src.type_label = "document";
      src.found = true;
      src.ctx = ctx;
      src.col = c;
      src.path = NULL;
      keep = convert_source(w, e, c, &src, r);
   }
   bson_destroy(&wrap);
   bson_destroy(&part);
   return keep;
}

/* Evaluate one column's source value into row r.  Returns false when the row must be
 * skipped. */
static bool
eval_column_value(walk_t *w, const ctx_t *ctx, const mn_entry_t *e, const mn_column_t *c,
                  newrow_t *r)
{
   source_t src;
   const mn_path_t *crossed_path = NULL;
   const char *crossed = NULL;

   if (c->kind == MN_SRC_UNMAPPED) {
      return eval_unmapped(w, ctx, e, c, r);
   }
   if (c->kind != MN_SRC_PATH) {
      eval_implicit(w, ctx, c, r);
      return true;
   }
   if (!read_source(w, ctx, c, &src, &crossed_path, &crossed)) {
      return column_crossed_array(w, ctx, e, c, crossed_path, crossed);
   }
   if (src.found && c->ref_collection >= 0) {
      bson_t tmp;
      bson_iter_t kit;
      bool keep;

      if (!src.key) {
         return eval_reference(w, e, c, &src.it, &src, false, r);
      }
      /* a map key naming a document (`{"<ObjectId hex>": {...}}`): checked like any
       * reference written as a string */
      string_value(&tmp, src.key, &kit);
      keep = eval_reference(w, e, c, &kit, &src, true, r);
      bson_destroy(&tmp);
      return keep;
   }
   return convert_source(w, e, c, &src, r);
}

/*
 * Evaluate one column into row r.  Returns false when the row must be skipped.  A redacted
 * column is read, converted and judged like any other (rejects, skipped rows and counts
 * are those of a clear copy), then every row stores its replacement, whether the source
 * had a value or not.
 */
static bool
eval_column(walk_t *w, const ctx_t *ctx, const mn_entry_t *e, const mn_column_t *c, newrow_t *r)
{
   bool keep = eval_column_value(w, ctx, e, c, r);

   if (c->redact != MN_REDACT_NONE) {
      r->offsets[c->table_column] = -1;
      if (c->redact == MN_REDACT_VALUE) {
         set_text(w, r, c->table_column, c->redact_value, strlen(c->redact_value));
      }
   }
   return keep;
}

static const mn_shape_t *
find_shape(const mn_entry_t *e, bson_type_t t)
{
   for (size_t i = 0; i < e->n_shapes; i++) {
      if (e->shapes[i].type == t) {
         return &e->shapes[i];
      }
   }
   return NULL;
}

/* PostgreSQL treats NULLs in a unique key as distinct: such a row never collides. */
static bool
unique_key_complete(const mn_entry_t *e, const newrow_t *r)
{
   for (size_t i = 0; i < e->n_unique; i++) {
      if (r->offsets[e->unique[i]] < 0) {
         return false;
      }
   }
   return true;
}

static const mn_column_t *
column_at(const mn_entry_t *e, int table_column)
{
   for (size_t s = 0; s <= e->n_shapes; s++) {
      size_t n;
      const mn_column_t *cols = entry_columns(e, s, &n);
      for (size_t i = 0; i < n; i++) {
         if (cols[i].table_column == table_column) {
            return &cols[i];
         }
      }
   }
   return NULL;
}

/* The source path of the key's first path column, for a reject message. */
static const char *
unique_key_path(walk_t *w, const ctx_t *ctx, const mn_entry_t *e)
{
   for (size_t i = 0; i < e->n_unique; i++) {
      const mn_column_t *c = column_at(e, e->unique[i]);
      if (c && c->kind == MN_SRC_PATH && c->paths[0].root == MN_ROOT_ELEMENT) {
         return join_path(w, ctx->path, c->paths[0].n_segments ? c->paths[0].joined : "");
      }
   }
   return ctx->path;
}

static const char *
unique_key_names(walk_t *w, const mn_entry_t *e)
{
   GString *names = g_string_new(NULL);

   for (size_t i = 0; i < e->n_unique; i++) {
      const mn_column_t *c = column_at(e, e->unique[i]);
      g_string_append_printf(names, "%s%s", i ? ", " : "", c ? c->name : "?");
   }
   return scratch(w, g_string_free(names, FALSE));
}

/*
 * The declared shape that fits the context's element, for an entry with `shapes` (else
 * *shape is NULL).  False when none fits: the row is skipped (`other: skip`, counted) or
 * the document rejected, and the context is dropped either way.
 */
static bool
pick_shape(walk_t *w, ctx_t *ctx, const mn_entry_t *e, const mn_shape_t **shape)
{
   bson_iter_t elem;
   bson_type_t type = BSON_TYPE_DOCUMENT;

   *shape = NULL;
   if (!e->n_shapes) {
      return true;
   }
   if (!ctx->is_doc) {
      ctx_elem(ctx, &elem);
      type = bson_iter_type(&elem);
   }
   *shape = find_shape(e, type);
   if (*shape) {
      return true;
   }
   if (e->other_shape_skip) {
      coercion_t co = {e->table, "(element)", "row skipped: element of an undeclared shape"};
      g_array_append_val(w->rs->coercions, co);
   } else {
      reject(w, ctx->path, "element of type %s matches no declared shape", bson_type_label(type));
   }
   ctx->dropped = true;
   return false;
}

/* Columns cols[0..n) of entry e into row r, for context ci; false at the first that skips
 * the row. */
static bool
eval_columns(walk_t *w, size_t ci, const mn_entry_t *e, const mn_column_t *cols, size_t n,
             newrow_t *r)
{
   bool keep = true;

   for (size_t i = 0; i < n && keep; i++) {
      w->col_entry = e;
      w->col = &cols[i];
      keep = eval_column(w, &w->ctxs.items[ci], e, &cols[i], r);
   }
   return keep;
}

/*
 * Check complete row r against entry e's unique key, built as the table index, then each
 * key value after \x1f (\x1e for NULL): within the document (`unique_per_doc`), or
 * run-wide (held by another document, or pending in this one).  A duplicate is merged
 * (the row dropped, counted) or rejects the document; a new key is recorded (run-wide:
 * pending until the document is accepted).  Returns false when the row is dropped.
 */
static bool
check_unique(walk_t *w, const ctx_t *ctx, const mn_entry_t *e, const newrow_t *r)
{
   GString *k = w->key;
   GHashTable *set = w->doc_unique;
   bool dup;

   g_string_truncate(k, 0);
   g_string_append_printf(k, "%d", e->table_index);
   for (size_t i = 0; i < e->n_unique; i++) {
      gssize off = r->offsets[e->unique[i]];
      if (e->unique_per_doc && e->unique[i] == e->doc_id_column) {
         continue; /* the same in every key of the document's own set */
      }
      g_string_append_c(k, '\x1f');
      if (off < 0) {
         g_string_append_c(k, '\x1e');
      } else {
         g_string_append(k, w->rs->text->str + off);
      }
   }
   if (e->unique_per_doc) {
      dup = g_hash_table_contains(set, k->str);
   } else {
      /* held by another document (a document keeps its own key across runs) */
      uint8_t holder[16];
      dup = (unique_holder(w->conv->unique[e->table_index], k->str, holder) &&
             memcmp(holder, w->rs->doc_id.bytes, 16) != 0) ||
            g_hash_table_contains(w->pending_set, k->str);
   }
   if (dup && e->duplicate_merge) {
      coercion_t co = {e->table, "(row)", "duplicate merged"};
      g_array_append_val(w->rs->coercions, co);
      return false;
   }
   if (dup) {
      reject(w, unique_key_path(w, ctx, e),
             "duplicate value for the unique key (%s) of table \"%s\"", unique_key_names(w, e),
             e->table);
   } else if (e->unique_per_doc) {
      g_hash_table_add(set, g_strdup(k->str));
   } else {
      size_t ti = (size_t)e->table_index;
      char *held = g_strdup(k->str);
      g_ptr_array_add(w->rs->pending_unique, held);
      g_array_append_val(w->rs->pending_unique_tables, ti);
      g_hash_table_add(w->pending_set, held);
   }
   return true;
}

/* A row skipped or merged: of the coercions since coercions_before only the reason it
 * went counts (its other values were never stored), and its deferred references go. */
static void
drop_row(walk_t *w, ctx_t *ctx, const mn_entry_t *e, guint coercions_before, guint deferred_before)
{
   if (w->rs->coercions->len > coercions_before) {
      coercion_t last = g_array_index(w->rs->coercions, coercion_t, w->rs->coercions->len - 1);
      g_array_set_size(w->rs->coercions, coercions_before);
      g_array_append_val(w->rs->coercions, last);
   }
   if (ctx->entry == 0 && e == &w->coll->entries[0]) {
      /* The document's own row cannot be dropped: the document would vanish. */
      reject(w, ctx->path, "the document's primary row was skipped (%s)",
             g_array_index(w->rs->coercions, coercion_t, w->rs->coercions->len - 1).kind);
   }
   ctx->dropped = true;
   g_array_set_size(w->rs->deferred, deferred_before);
}

/*
 * Build the row of entry e for context ci (already pushed): the row id, then the entry's
 * columns and those of the element's shape, then the unique key; committed to the row
 * set unless a column or the key drops it.  Past the collection's max_rows the document
 * is rejected and the walk stops.
 */
static void
emit_row(walk_t *w, size_t ci, const mn_entry_t *e)
{
   const mn_table_t *t = &w->conv->m->tables[e->table_index];
   newrow_t r;
   ctx_t *ctx = &w->ctxs.items[ci];
   const mn_shape_t *shape;
   guint deferred_before = w->rs->deferred->len;
   guint coercions_before = w->rs->coercions->len;
   char idbuf[MN_UUID_TEXT_LEN + 1];
   bool keep;

   if (w->rs->rows->len >= w->coll->max_rows) {
      /* Bounded memory: a document may not build more rows than this (a million small
       * array elements would otherwise take hundreds of MB here and in the batch). */
      reject(w, ctx->path,
             "more than %zu rows for one document (table \"%s\" would get the next one; the "
             "limit is max_rows_per_document of collection \"%s\")",
             w->coll->max_rows, e->table, w->coll->name);
      ctx->dropped = true;
      w->stop = true;
      return;
   }
   if (!pick_shape(w, ctx, e, &shape)) {
      return;
   }
   r.table = (size_t)e->table_index;
   r.n = t->n_columns;
   r.offsets = w->conv->row_offsets;
   for (size_t i = 0; i < r.n; i++) {
      r.offsets[i] = -1;
   }
   mn_uuid_format(&ctx->id, idbuf);
   set_text(w, &r, 0, idbuf, MN_UUID_TEXT_LEN);
   keep = eval_columns(w, ci, e, e->columns, e->n_columns, &r) &&
          (!shape || eval_columns(w, ci, e, shape->columns, shape->n_columns, &r));
   w->col = NULL;
   w->col_entry = NULL;
   ctx = &w->ctxs.items[ci];
   if (keep && e->n_unique && unique_key_complete(e, &r)) {
      keep = check_unique(w, ctx, e, &r);
   }
   if (!keep) {
      drop_row(w, ctx, e, coercions_before, deferred_before);
      return;
   }
   for (guint i = deferred_before; i < w->rs->deferred->len; i++) {
      g_array_index(w->rs->deferred, deferred_t, i).row_id = ctx->id;
   }
   {
      row_t row = {r.table, w->rs->values->len, r.n};
      g_array_append_vals(w->rs->values, r.offsets, (guint)r.n);
      g_array_append_val(w->rs->rows, row);
   }
}

static size_t
push_ctx(walk_t *w, const ctx_t *c)
{
   if (w->ctxs.n == w->ctxs.cap) {
      w->ctxs.cap = w->ctxs.cap ? w->ctxs.cap * 2 : 64;
      w->ctxs.items = g_renew(ctx_t, w->ctxs.items, w->ctxs.cap);
   }
   w->ctxs.items[w->ctxs.n] = *c;
   return w->ctxs.n++;
}

/* The id of an element row: its own _id, else positional. */
static void
element_id(walk_t *w, const mn_entry_t *e, const ctx_t *parent, ctx_t *c, const char *index_text)
{
   bson_iter_t elem, idit;
   bool own = false;

   if (!c->is_doc) {
      ctx_elem(c, &elem);
   }
   if (!c->is_doc && BSON_ITER_HOLDS_DOCUMENT(&elem) &&
       mn_fields__find_in(w->conv->fields, &elem, "_id", &idit) && !mn_convert__is_nullish(&idit)) {
      static const char hex[] = "0123456789abcdef";
      char key[3 + MN_ASCII_INT_SIZE + 1 + 32 + 1]; /* "id:<table>:<32 hex digits>" */
      size_t n;
      mn_uuid_from_value(&idit, &c->id);
      memcpy(key, "id:", 3);
      n = 3 + mn_ascii__format_int(e->table_index, key + 3);
      key[n++] = ':';
      for (int i = 0; i < 16; i++) {
         key[n++] = hex[c->id.bytes[i] >> 4];
         key[n++] = hex[c->id.bytes[i] & 15];
      }
      key[n] = '\0';
      if (g_hash_table_contains(w->doc_unique, key)) {
         coercion_t co = {e->table, "id", "duplicate element _id: positional id used"};
         g_array_append_val(w->rs->coercions, co);
      } else {
         g_hash_table_add(w->doc_unique, g_strdup(key));
         own = true;
      }
   }
   if (!own) {
      mn_uuid_derive(&parent->id, e->each.text, index_text, &c->id);
   }
}

/*
 * The new context c of entry e, when its `when` holds: pushed, and its row emitted.  What
 * only that row needed is released after it: the scratch strings made since `mark` (its
 * path among them; messages copy what they quote) when no later entry reads the context
 * (`leaf`: no entry has e as parent; or the row was dropped), else those made since
 * `keep` (the context keeps its path and key).  So a document's memory grows with the
 * contexts other entries read and with its rows' values, not with every path resolved.
 */
static void
add_row(walk_t *w, const ctx_t *c, const mn_entry_t *e, bool leaf, guint mark, guint keep)
{
   size_t ci;

   if (e->when && !pred_eval(w, c, e->when)) {
      g_ptr_array_set_size(w->rs->scratch_strings, mark);
      return;
   }
   ci = push_ctx(w, c);
   emit_row(w, ci, e);
   if (leaf || w->ctxs.items[ci].dropped) {
      w->ctxs.n = ci; /* the last one: indexes of the others do not move */
      g_ptr_array_set_size(w->rs->scratch_strings, mark);
   } else {
      g_ptr_array_set_size(w->rs->scratch_strings, keep);
   }
}

/* One entry's pass over one of its parent contexts (walk_entry). */
typedef struct {
   walk_t *w;
   const mn_entry_t *e;
   size_t ei;    /* e's index */
   size_t pi;    /* the parent context's index */
   ctx_t parent; /* a copy: pushing contexts may move w->ctxs.items */
   bool leaf;    /* no entry reads e's contexts (see add_row) */
} each_t;

/*
 * Element `elem` of what the entry iterates, as its new context: the element's index,
 * map key (or NULL) and concrete path, its id (element_id; id_text names its position),
 * then add_row with the scratch strings made since `mark`.  `note`, when not NULL, is a
 * coercion counted once the id is known, before the row.
 */
static void
add_element(each_t *x, const bson_iter_t *elem, int64_t index, const char *key, const char *path,
            const char *id_text, guint mark, const char *note)
{
   ctx_t c;

   memset(&c, 0, sizeof c);
   ctx_set_elem(&c, elem);
   c.entry = (int)x->ei;
   c.parent = (int)x->pi;
   c.index = index;
   c.key = key;
   c.path = path;
   element_id(x->w, x->e, &x->parent, &c, id_text);
   if (note) {
      coercion_t co = {x->e->table, x->e->each.text, note};
      g_array_append_val(x->w->rs->coercions, co);
   }
   add_row(x->w, &c, x->e, x->leaf, mark, x->w->rs->scratch_strings->len);
}

/* The elements of an array, or the values of a map (keys then name them), at `concrete`. */
static void
each_element(each_t *x, const bson_iter_t *val, const char *concrete)
{
   walk_t *w = x->w;
   bson_iter_t child;
   int64_t index = 0;
   bool is_map = BSON_ITER_HOLDS_DOCUMENT(val);

   if (!bson_iter_recurse(val, &child)) {
      return;
   }
   while (!w->stop && bson_iter_next(&child)) {
      char index_text[32];
      const char *key = NULL, *id_text = index_text, *path;
      guint mark = w->rs->scratch_strings->len;

      mn_ascii__format_int(index, index_text);
      if (is_map) {
         key = scratch(w, g_strdup(bson_iter_key(&child)));
         id_text = scratch(w, g_strdup_printf("key:%s", key));
         path = join_path(w, concrete, key);
      } else {
         path = scratch(w, dotted(concrete, index_text));
      }
      add_element(x, &child, index++, key, path, id_text, mark, NULL);
   }
}

/* A string cut at `split`: its non-empty parts, trimmed, as elements (of a scratch array,
 * so that they are ordinary iterators), all at the string's path. */
static void
each_part(each_t *x, const bson_iter_t *val, const char *concrete)
{
   walk_t *w = x->w;
   const mn_entry_t *e = x->e;
   const char *s = bson_iter_utf8(val, NULL);
   char **parts = g_strsplit(s, e->split, -1);
   bson_t *arr = bson_new();
   bson_iter_t child;
   int64_t index = 0;
   int n = 0;

   for (char **p = parts; *p; p++) {
      char *part = g_strstrip(*p);
      char k[16];
      if (!*part) {
         continue;
      }
      snprintf(k, sizeof k, "%d", n++);
      BSON_APPEND_UTF8(arr, k, part);
   }
   g_strfreev(parts);
   g_ptr_array_add(w->rs->scratch_docs, arr);
   if (n > 1 || strstr(s, e->split)) {
      coercion_t co = {e->table, e->each.text, "string split into rows"};
      g_array_append_val(w->rs->coercions, co);
   }
   bson_iter_init(&child, arr);
   while (!w->stop && bson_iter_next(&child)) {
      char index_text[32];

      snprintf(index_text, sizeof index_text, "split:%lld", (long long)index);
      add_element(x, &child, index++, NULL, concrete, index_text, w->rs->scratch_strings->len,
                  NULL);
   }
}

/* The entry's `each` path from the parent context: what it holds gives the elements. */
static void
each_value(each_t *x)
{
   walk_t *w = x->w;
   const mn_entry_t *e = x->e;
   bson_iter_t val;
   const char *key, *concrete, *crossed;

   if (!resolve(w, &x->parent, &e->each, &val, &key, &concrete, &crossed, false)) {
      if (crossed) {
         reject(w, join_path(w, x->parent.path, e->each.text),
                "path \"%s\" crosses an array at \"%s\" (iterate that array in an entry, "
                "and the rest in a child entry with \"parent:\")",
                e->each.text, crossed);
      }
      return;
   }
   if (mn_convert__is_nullish(&val)) {
      return;
   }
   if (BSON_ITER_HOLDS_ARRAY(&val) ||
       (BSON_ITER_HOLDS_DOCUMENT(&val) && e->each_kind == MN_EACH_MAP)) {
      each_element(x, &val, concrete);
   } else if (BSON_ITER_HOLDS_UTF8(&val) && e->split) {
      each_part(x, &val, concrete);
   } else if (e->scalar_single) {
      add_element(x, &val, 0, NULL, concrete, "0", w->rs->scratch_strings->len,
                  "single value read as a one-element array");
   } else {
      reject(w, concrete, "expected an array%s, found a %s",
             e->each_kind == MN_EACH_MAP ? " or a document" : "",
             bson_type_label(bson_iter_type(&val)));
   }
}

/*
 * Entry ei's rows: one context per parent context (of its parent entry, or the document)
 * for an entry without `each`, else one per element of what `each` reads there.
 */
static void
walk_entry(walk_t *w, size_t ei)
{
   each_t x = {.w = w, .e = &w->coll->entries[ei], .ei = ei, .leaf = true};
   size_t n_ctx = w->ctxs.n;

   for (size_t k = ei + 1; k < w->coll->n_entries; k++) {
      x.leaf = x.leaf && w->coll->entries[k].parent != (int)ei; /* parents come first */
   }
   for (size_t pi = 0; pi < n_ctx && !w->stop; pi++) {
      if (w->ctxs.items[pi].dropped || w->ctxs.items[pi].entry != x.e->parent) {
         continue;
      }
      x.pi = pi;
      x.parent = w->ctxs.items[pi];
      if (x.e->each_kind) {
         each_value(&x);
      } else {
         /* the parent's own element, under a new id */
         ctx_t c = x.parent;
         c.entry = (int)ei;
         c.parent = (int)pi;
         c.index = 0;
         if (ei == 0) {
            c.id = w->rs->doc_id;
         } else {
            mn_uuid_derive(&x.parent.id, x.e->name, NULL, &c.id);
         }
         add_row(w, &c, x.e, x.leaf, w->rs->scratch_strings->len, w->rs->scratch_strings->len);
      }
   }
}

/* The X of { "v" : X }: canonical Extended JSON of one value, or NULL. */
static char *
value_json(const bson_t *wrapper)
{
   size_t len = 0;
   char *json = bson_as_canonical_extended_json(wrapper, &len);
   char *out = NULL;

   if (json && len > 10) {
      out = bson_strndup(json + 8, len - 10);
   }
   bson_free(json);
   return out;
}

char *
mn_convert_id_json(const bson_iter_t *id, bool *exact)
{
   bson_t wrapper = BSON_INITIALIZER;
   char *out = NULL;

   if (exact) {
      *exact = false;
   }
   if (BSON_ITER_HOLDS_OID(id)) {
      /* the common case, as libbson's canonical Extended JSON writes it */
      char hex[25];
      bson_oid_to_string(bson_iter_oid(id), hex);
      if (exact) {
         *exact = true;
      }
      return bson_strdup_printf("{ \"$oid\" : \"%s\" }", hex);
   }
   if (BSON_ITER_HOLDS_UTF8(id)) {
      uint32_t len = 0;
      const char *s = bson_iter_utf8(id, &len);
      if (!bson_utf8_validate(s, len, true)) {
         /* each invalid byte as \xHH, the rest as it is */
         GString *esc = g_string_new(NULL);
         const char *p = s, *end = s + len;
         while (p < end) {
            const char *next = NULL;
            if (g_utf8_validate(p, end - p, &next)) {
               g_string_append_len(esc, p, end - p);
               break;
            }
            g_string_append_len(esc, p, next - p);
            if (*next) {
               g_string_append_printf(esc, "\\x%02x", (unsigned char)*next);
               p = next + 1;
            } else {
               g_string_append_c(esc, '\0'); /* an embedded NUL is valid: JSON writes \u0000 */
               p = next + 1;
            }
         }
         bson_append_utf8(&wrapper, "v", 1, esc->str, (int)esc->len);
         g_string_free(esc, TRUE);
         out = value_json(&wrapper);
         bson_destroy(&wrapper);
         return out;
      }
   }
   mn_bson__append_iter(&wrapper, "v", 1, id); /* no libbson warning for an array _id */
   if ((!BSON_ITER_HOLDS_DOCUMENT(id) && !BSON_ITER_HOLDS_ARRAY(id)) ||
       (mn_shape__depth_within(&wrapper, MN_MAX_DEPTH) &&
        bson_validate(&wrapper, BSON_VALIDATE_NONE, NULL))) {
      out = value_json(&wrapper);
   }
   bson_destroy(&wrapper);
   if (exact) {
      *exact = out != NULL;
   }
   return out;
}

/* rs->doc_id_json: how reasons name the document (mn_convert_id_json), if it can be named */
static void
set_doc_id_json(mn_rowset_t *rs, const bson_iter_t *idit)
{
   bson_free(rs->doc_id_json);
   rs->doc_id_json = mn_convert_id_json(idit, NULL);
}

bool
mn_convert_depth_ok(const bson_t *doc)
{
   return mn_shape__depth_within(doc, MN_MAX_DEPTH);
}

/*
 * Whether the document may be walked.  Its _id names it, and gives its row id, even when
 * the rest of it does not validate: bson_iter bounds-checks the element, and
 * mn_convert_id_json() checks a sub-document _id before it renders it.  So a document
 * rejected here is recorded under its own id (two of them never share one).  Then its
 * shape (mn_shape__check: depth first, before libbson's validation, which recurses), libbson's
 * validation, the rest of its shape, and an _id at all; the first three skipped for a
 * document mn_shape__surely_fine proves they pass.
 */
static bool
check_document(walk_t *w)
{
   mn_converter_t *conv = w->conv;
   mn_rowset_t *rs = w->rs;
   bson_iter_t idit;
   bson_error_t verr;
   bool has_id = false, fine;
   mn_shape_problem_t shape;

   if (bson_iter_init_find(&idit, w->doc, "_id")) {
      set_doc_id_json(rs, &idit);
      mn_uuid_from_value(&idit, &rs->doc_id);
      has_id = true;
   }
   fine = mn_shape__surely_fine(&conv->shape, w->doc);
   shape = fine ? MN_SHAPE_OK : mn_shape__check(&conv->shape, w->doc);
   if (shape == MN_SHAPE_TOO_DEEP) {
      reject(w, "", "document nested deeper than %d levels (MongoDB stores at most 100)",
             MN_MAX_DEPTH);
   } else if (!fine && !bson_validate_with_error(w->doc, BSON_VALIDATE_NONE, &verr)) {
      reject(w, "", "invalid BSON: %s", verr.message);
   } else if (shape != MN_SHAPE_OK) {
      reject(w, conv->shape.shown->str, "%s", conv->shape.reason->str);
   } else if (!bson_iter_init_find(&idit, w->doc, "_id")) {
      reject(w, "_id", "document has no _id"); /* has_id is false: nothing to mark */
   } else {
      if (!rs->doc_id_json) {
         set_doc_id_json(rs, &idit);
      }
      mn_uuid_from_value(&idit, &rs->doc_id);
      return true;
   }
   if (has_id && !conv->claiming) {
      /* references to it must know, as to any other rejected document */
      mark_outcome(conv, w->coll_index, &rs->doc_id, false);
   }
   return false;
}

/* The run-wide unique keys of an accepted document: held by it from now on. */
static void
hold_unique_keys(mn_converter_t *conv, const mn_rowset_t *rs)
{
   for (guint i = 0; i < rs->pending_unique->len; i++) {
      size_t t = g_array_index(rs->pending_unique_tables, size_t, i);
      unique_hold(conv->unique[t], g_ptr_array_index(rs->pending_unique, i), &rs->doc_id);
   }
}

/* A document accepted: its coercions counted (merged and skipped rows among them), its
 * unique keys held. */
static void
accept_document(mn_converter_t *conv, size_t collection, const mn_rowset_t *rs)
{
   /* only references need to know which documents made it (memory: 1 set entry per
    * document of a referenced collection, none for the others) */
   mark_outcome(conv, collection, &rs->doc_id, true);
   for (guint i = 0; i < rs->coercions->len; i++) {
      coercion_t *co = &g_array_index(rs->coercions, coercion_t, i);
      if (strcmp(co->kind, "duplicate merged") == 0) {
         mn_stats_table(conv->stats, co->table)->merged++;
         continue;
      }
      if (strncmp(co->kind, "row skipped", 11) == 0) {
         mn_stats_table(conv->stats, co->table)->skipped++;
      }
      mn_stats_count_coercion(conv->stats, co->table, co->column, co->kind);
   }
   hold_unique_keys(conv, rs);
}

/* A document rejected after its walk: its rows counted as rejected. */
static void
reject_document(mn_converter_t *conv, size_t collection, const mn_rowset_t *rs)
{
   mark_outcome(conv, collection, &rs->doc_id, false);
   for (guint i = 0; i < rs->rows->len; i++) {
      row_t *r = &g_array_index(rs->rows, row_t, i);
      mn_stats_table(conv->stats, conv->m->tables[r->table].name)->rejected++;
   }
}

bool
mn_convert_document(mn_converter_t *conv, size_t collection, const bson_t *doc, mn_rowset_t *rs)
{
   walk_t w;
   ctx_t root;

   mn_rowset__clear(rs);
   mn_fields__reset(conv->fields);
   memset(&w, 0, sizeof w);
   w.conv = conv;
   w.coll_index = collection;
   w.coll = &conv->m->collections[collection];
   w.doc = doc;
   w.rs = rs;
   w.doc_id_text = -1;
   w.parent_text = -1;
   if (!check_document(&w)) {
      return false;
   }
   w.doc_unique = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   w.pending_set = g_hash_table_new(g_str_hash, g_str_equal);
   w.key = conv->key_text;
   memset(&root, 0, sizeof root);
   root.is_doc = true;
   root.entry = -1;
   root.parent = -1;
   root.id = rs->doc_id;
   root.path = "";
   push_ctx(&w, &root);
   for (size_t ei = 0; ei < w.coll->n_entries && !w.stop; ei++) {
      walk_entry(&w, ei);
   }
   if (w.stop) {
      /* over the row limit: the document is rejected whole, without the rows built so far
       * (a part of them would mislead; the document itself is in the reject line) */
      mn_rowset__drop_rows(rs);
   }
   if (conv->claiming) {
      /* the claims pass: only the run-wide unique keys of an accepted document count */
      if (!w.rejected) {
         hold_unique_keys(conv, rs);
      }
   } else {
      mn_drift__count(conv->colls[collection].coverage, w.coll, conv->stats, doc);
      if (!w.rejected) {
         accept_document(conv, collection, rs);
      } else {
         reject_document(conv, collection, rs);
      }
   }
   mn_rowset__finish_refs(rs);
   g_hash_table_destroy(w.doc_unique);
   g_hash_table_destroy(w.pending_set);
   g_free(w.ctxs.items);
   return !w.rejected;
}
