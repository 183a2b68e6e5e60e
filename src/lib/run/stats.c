/*
 * stats.c - counters of a run and their text / JSON forms.
 */
#include <mongonorm/stats.h>

#include <bson/bson.h>
#include <glib.h>
#include <string.h>

/* A string -> count map that remembers first-use order. */
typedef struct {
   GHashTable *index; /* char* -> GUINT_TO_POINTER(position + 1) */
   GPtrArray *keys;
   GArray *counts; /* uint64_t */
} counter_t;

/* Where a rejected document was (mn_stats_count_reject_example): names, never values. */
typedef struct {
   char *id;     /* its _id as reasons name it, or NULL */
   char *path;   /* field path with array indexes, or NULL */
   char *column; /* "table.column", or NULL */
} example_t;

typedef struct {
   char *name; /* first, as in table_t (is_named()) */
   mn_collection_counts_t counts;
   counter_t rejects;
   counter_t unmapped; /* the first MN_STATS_UNMAPPED_MAX paths: documents each */
   uint64_t *more;     /* hashes of the paths past them (open addressing, 0 = free,
                          MORE_SLOTS), NULL until the first one */
   size_t n_more;      /* distinct hashes in `more` */
   char *skipped_file; /* the file with unreadable bytes, or NULL */
   char *skipped_kept; /* where they are kept, or NULL */

   /* per reject kind, by its position in `rejects`: a GPtrArray of example_t, at most
    * MN_STATS_REJECT_EXAMPLES; NULL until the first example */
   GPtrArray *examples;
} coll_t;

typedef struct {
   char *name; /* first, as in coll_t (is_named()) */
   mn_table_counts_t counts;
   counter_t coercions;
} table_t;

struct mn_stats {
   GPtrArray *collections; /* coll_t* */
   GPtrArray *tables;      /* table_t* */
   double seconds;
   bool show_drift; /* list unmapped paths by name */
   bool dry_run;    /* a dry run's: nothing was written */
};

/* Slots of a collection's table of "more" path hashes: a power of two, at most 76% full. */
#define MORE_SLOTS 65536u

static void
counter_init(counter_t *c)
{
   c->index = g_hash_table_new(g_str_hash, g_str_equal);
   c->keys = g_ptr_array_new_with_free_func(g_free);
   c->counts = g_array_new(FALSE, TRUE, sizeof(uint64_t));
}

static void
counter_cleanup(counter_t *c)
{
   g_hash_table_destroy(c->index);
   g_ptr_array_free(c->keys, TRUE);
   g_array_free(c->counts, TRUE);
}

static void
counter_add(counter_t *c, const char *key, uint64_t n)
{
   gpointer pos = g_hash_table_lookup(c->index, key);
   uint64_t zero = 0;

   if (!pos) {
      char *copy = g_strdup(key);
      g_ptr_array_add(c->keys, copy);
      g_array_append_val(c->counts, zero);
      pos = GUINT_TO_POINTER(c->keys->len);
      g_hash_table_insert(c->index, copy, pos);
   }
   g_array_index(c->counts, uint64_t, GPOINTER_TO_UINT(pos) - 1) += n;
}

mn_stats_t *
mn_stats_new(void)
{
   mn_stats_t *s = g_new0(mn_stats_t, 1);
   s->collections = g_ptr_array_new();
   s->tables = g_ptr_array_new();
   return s;
}

void
mn_stats_destroy(mn_stats_t *s)
{
   if (!s) {
      return;
   }
   for (guint i = 0; i < s->collections->len; i++) {
      coll_t *c = g_ptr_array_index(s->collections, i);
      counter_cleanup(&c->rejects);
      if (c->examples) {
         g_ptr_array_free(c->examples, TRUE);
      }
      counter_cleanup(&c->unmapped);
      g_free(c->more);
      g_free(c->skipped_file);
      g_free(c->skipped_kept);
      g_free(c->name);
      g_free(c);
   }
   for (guint i = 0; i < s->tables->len; i++) {
      table_t *t = g_ptr_array_index(s->tables, i);
      counter_cleanup(&t->coercions);
      g_free(t->name);
      g_free(t);
   }
   g_ptr_array_free(s->collections, TRUE);
   g_ptr_array_free(s->tables, TRUE);
   g_free(s);
}

/* Whether a coll_t or table_t (each begins with its name) is named `name`: the lookup of
 * find_coll() and find_table() (g_ptr_array_find_with_equal_func()). */
static gboolean
is_named(gconstpointer entry, gconstpointer name)
{
   return strcmp(*(char *const *)entry, name) == 0;
}

static coll_t *
find_coll(mn_stats_t *s, const char *name)
{
   guint i;
   coll_t *c;

   if (g_ptr_array_find_with_equal_func(s->collections, name, is_named, &i)) {
      return g_ptr_array_index(s->collections, i);
   }
   c = g_new0(coll_t, 1);
   c->name = g_strdup(name);
   counter_init(&c->rejects);
   counter_init(&c->unmapped);
   g_ptr_array_add(s->collections, c);
   return c;
}

static table_t *
find_table(mn_stats_t *s, const char *name)
{
   guint i;
   table_t *t;

   if (g_ptr_array_find_with_equal_func(s->tables, name, is_named, &i)) {
      return g_ptr_array_index(s->tables, i);
   }
   t = g_new0(table_t, 1);
   t->name = g_strdup(name);
   counter_init(&t->coercions);
   g_ptr_array_add(s->tables, t);
   return t;
}

mn_collection_counts_t *
mn_stats_collection(mn_stats_t *s, const char *collection)
{
   return &find_coll(s, collection)->counts;
}

mn_table_counts_t *
mn_stats_table(mn_stats_t *s, const char *table)
{
   return &find_table(s, table)->counts;
}

void
mn_stats_count_reject(mn_stats_t *s, const char *collection, const char *reason_kind)
{
   counter_add(&find_coll(s, collection)->rejects, reason_kind, 1);
}

static void
example_free(gpointer p)
{
   example_t *e = p;

   g_free(e->id);
   g_free(e->path);
   g_free(e->column);
   g_free(e);
}

static void
examples_free(gpointer p)
{
   g_ptr_array_free(p, TRUE);
}

void
mn_stats_count_reject_example(mn_stats_t *s, const char *collection, const char *reason_kind,
                              const char *id_json, const char *path, const char *column)
{
   coll_t *c = find_coll(s, collection);
   guint pos;
   GPtrArray *list;
   example_t *e;

   counter_add(&c->rejects, reason_kind, 1);
   pos = GPOINTER_TO_UINT(g_hash_table_lookup(c->rejects.index, reason_kind)) - 1;
   if (!c->examples) {
      c->examples = g_ptr_array_new_with_free_func(examples_free);
   }
   while (c->examples->len <= pos) {
      g_ptr_array_add(c->examples, g_ptr_array_new_with_free_func(example_free));
   }
   list = g_ptr_array_index(c->examples, pos);
   if (list->len >= MN_STATS_REJECT_EXAMPLES) {
      return;
   }
   e = g_new0(example_t, 1);
   /* valid UTF-8, as JSON needs (a field path is the source's bytes) */
   e->id = id_json ? g_utf8_make_valid(id_json, -1) : NULL;
   e->path = path && *path ? g_utf8_make_valid(path, -1) : NULL;
   e->column = column && *column ? g_utf8_make_valid(column, -1) : NULL;
   g_ptr_array_add(list, e);
}

void
mn_stats_count_coercion(mn_stats_t *s, const char *table, const char *column, const char *kind)
{
   table_t *t = find_table(s, table);
   char *key = g_strdup_printf("%s: %s", column, kind);

   counter_add(&t->coercions, key, 1);
   t->counts.coerced++;
   g_free(key);
}

bool
mn_stats_drift_key_is_data(const char *key, size_t len)
{
   size_t i = 0;
   size_t digit_run = 0;
   bool digit = false;
   bool hyphen = false;
   bool only_hex = true;
   size_t hex = 0;

   if (len == 0 || len > MN_STATS_DRIFT_KEY_MAX) {
      return true;
   }
   if (key[0] == '$') {
      i = 1; /* DBRef fields: $ref, $id, $db */
   }
   if (i >= len || !(g_ascii_isalpha(key[i]) || key[i] == '_')) {
      return true;
   }
   for (; i < len; i++) {
      char c = key[i];
      if (g_ascii_isdigit(c)) {
         digit = true;
         if (++digit_run >= 4) {
            return true;
         }
      } else {
         digit_run = 0;
      }
      if (c == '-') {
         if (i + 1 == len) {
            return true; /* a leading one failed the first test */
         }
         hyphen = true;
      } else if (!g_ascii_isalnum(c) && c != '_') {
         return true;
      }
      if (g_ascii_isxdigit(c)) {
         hex++;
      } else {
         only_hex = false;
      }
   }
   if (hyphen && digit) {
      return true;
   }
   return only_hex && digit && hex >= 8;
}

/* FNV-1a, 64 bits; never 0 (the free slot). */
static uint64_t
path_hash(const char *path)
{
   uint64_t h = 14695981039346656037ull;

   for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
      h = (h ^ *p) * 1099511628211ull;
   }
   return h ? h : 1;
}

/* Add the hash h of a path past the kept ones (count_more(), mn_stats_merge()). */
static void
count_more_hash(coll_t *c, uint64_t h)
{
   size_t i;

   if (!c->more) {
      c->more = g_new0(uint64_t, MORE_SLOTS);
   }
   for (i = (size_t)h & (MORE_SLOTS - 1); c->more[i]; i = (i + 1) & (MORE_SLOTS - 1)) {
      if (c->more[i] == h) {
         return;
      }
   }
   if (c->n_more >= MN_STATS_UNMAPPED_COUNTED) {
      c->counts.unmapped_paths_at_least = true;
      return;
   }
   c->more[i] = h;
   c->n_more++;
   c->counts.unmapped_paths++;
}

/* Count a path past the kept ones: distinct by hash, while the table has room. */
static void
count_more(coll_t *c, const char *path)
{
   count_more_hash(c, path_hash(path));
}

void
mn_stats_count_unmapped(mn_stats_t *s, const char *collection, const char *const *paths,
                        size_t n_paths)
{
   coll_t *c;
   bool more = false;

   if (n_paths == 0) {
      return;
   }
   c = find_coll(s, collection);
   c->counts.unmapped_documents++;
   for (size_t i = 0; i < n_paths; i++) {
      if (g_hash_table_contains(c->unmapped.index, paths[i])) {
         counter_add(&c->unmapped, paths[i], 1);
      } else if (c->unmapped.keys->len < MN_STATS_UNMAPPED_MAX) {
         counter_add(&c->unmapped, paths[i], 1);
         c->counts.unmapped_paths++;
      } else {
         count_more(c, paths[i]);
         more = true;
      }
   }
   if (more) {
      c->counts.unmapped_more_documents++;
   }
}

void
mn_stats_set_show_drift(mn_stats_t *s, bool show)
{
   s->show_drift = show;
}

void
mn_stats_set_dry_run(mn_stats_t *s, bool dry_run)
{
   s->dry_run = dry_run;
}

bool
mn_stats_is_dry_run(const mn_stats_t *s)
{
   return s->dry_run;
}

void
mn_stats_count_skipped(mn_stats_t *s, const char *collection, const char *file, uint64_t bytes,
                       const char *kept_dir)
{
   coll_t *c = find_coll(s, collection);

   c->counts.skipped_bytes += bytes;
   c->counts.skipped_spans++;
   if (!c->skipped_file && file) {
      c->skipped_file = g_strdup(file);
   }
   if (!c->skipped_kept && kept_dir) {
      c->skipped_kept = g_strdup(kept_dir);
   }
}

uint64_t
mn_stats_total_skipped(const mn_stats_t *s)
{
   uint64_t total = 0;

   for (guint i = 0; i < s->collections->len; i++) {
      total += ((coll_t *)g_ptr_array_index(s->collections, i))->counts.skipped_bytes;
   }
   return total;
}

uint64_t
mn_stats_total_skipped_spans(const mn_stats_t *s)
{
   uint64_t total = 0;

   for (guint i = 0; i < s->collections->len; i++) {
      total += ((coll_t *)g_ptr_array_index(s->collections, i))->counts.skipped_spans;
   }
   return total;
}

char *
mn_stats_skipped_text(const mn_stats_t *s)
{
   GString *out = g_string_new(NULL);
   char *result;

   for (guint i = 0; i < s->collections->len; i++) {
      const coll_t *c = g_ptr_array_index(s->collections, i);
      if (!c->counts.skipped_spans) {
         continue;
      }
      g_string_append_printf(
         out, "%llu bytes of \"%s\" could not be read (%llu span%s)",
         (unsigned long long)c->counts.skipped_bytes, c->skipped_file ? c->skipped_file : c->name,
         (unsigned long long)c->counts.skipped_spans, c->counts.skipped_spans == 1 ? "" : "s");
      if (c->skipped_kept) {
         g_string_append_printf(out, "; kept in \"%s\"", c->skipped_kept);
      }
      g_string_append_c(out, '\n');
   }
   result = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return result;
}

bool
mn_stats_has_reads(const mn_stats_t *s)
{
   for (guint i = 0; i < s->collections->len; i++) {
      if (((coll_t *)g_ptr_array_index(s->collections, i))->counts.read) {
         return true;
      }
   }
   return false;
}

uint64_t
mn_stats_total_rejected(const mn_stats_t *s)
{
   uint64_t total = 0;

   for (guint i = 0; i < s->collections->len; i++) {
      total += ((coll_t *)g_ptr_array_index(s->collections, i))->counts.rejected;
   }
   return total;
}

/* The unmapped paths of `from` added to `to` (mn_stats_merge()): the distinct paths
 * counted once, a kept name kept while there is room, the others by their hash. */
static void
merge_drift(coll_t *to, const coll_t *from)
{
   for (guint i = 0; i < from->unmapped.keys->len; i++) {
      const char *path = g_ptr_array_index(from->unmapped.keys, i);
      uint64_t docs = g_array_index(from->unmapped.counts, uint64_t, i);

      if (g_hash_table_contains(to->unmapped.index, path)) {
         counter_add(&to->unmapped, path, docs);
      } else if (to->unmapped.keys->len < MN_STATS_UNMAPPED_MAX) {
         counter_add(&to->unmapped, path, docs);
         to->counts.unmapped_paths++;
      } else {
         count_more_hash(to, path_hash(path));
      }
   }
   for (size_t i = 0; from->more && i < MORE_SLOTS; i++) {
      if (from->more[i]) {
         count_more_hash(to, from->more[i]);
      }
   }
   to->counts.unmapped_paths_at_least |= from->counts.unmapped_paths_at_least;
}

/* The reject examples of `from` after those of `to`, each kind's up to the limit (its
 * kinds are counted in `to` already). */
static void
merge_examples(coll_t *to, const coll_t *from)
{
   for (guint k = 0; from->examples && k < from->examples->len; k++) {
      const GPtrArray *list = g_ptr_array_index(from->examples, k);
      const char *kind = g_ptr_array_index(from->rejects.keys, k);
      guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(to->rejects.index, kind)) - 1;
      GPtrArray *into;

      if (!to->examples) {
         to->examples = g_ptr_array_new_with_free_func(examples_free);
      }
      while (to->examples->len <= pos) {
         g_ptr_array_add(to->examples, g_ptr_array_new_with_free_func(example_free));
      }
      into = g_ptr_array_index(to->examples, pos);
      for (guint i = 0; i < list->len && into->len < MN_STATS_REJECT_EXAMPLES; i++) {
         const example_t *e = g_ptr_array_index(list, i);
         example_t *copy = g_new0(example_t, 1);
         copy->id = g_strdup(e->id);
         copy->path = g_strdup(e->path);
         copy->column = g_strdup(e->column);
         g_ptr_array_add(into, copy);
      }
   }
}

/* The counters of collection `from` added to `to`. */
static void
merge_collection(coll_t *to, const coll_t *from)
{
   mn_collection_counts_t *t = &to->counts;
   const mn_collection_counts_t *f = &from->counts;

   t->read += f->read;
   t->loaded += f->loaded;
   t->unchanged += f->unchanged;
   t->not_read += f->not_read;
   t->by_watermark |= f->by_watermark;
   t->rejected += f->rejected;
   t->deleted += f->deleted;
   t->seconds += f->seconds;
   t->skipped_bytes += f->skipped_bytes;
   t->skipped_spans += f->skipped_spans;
   t->unmapped_documents += f->unmapped_documents;
   t->unmapped_more_documents += f->unmapped_more_documents;
   t->batches += f->batches;
   t->batches_overlapped += f->batches_overlapped;
   t->batches_copied += f->batches_copied;
   t->partly_unchanged += f->partly_unchanged;
   for (guint i = 0; i < from->rejects.keys->len; i++) {
      counter_add(&to->rejects, g_ptr_array_index(from->rejects.keys, i),
                  g_array_index(from->rejects.counts, uint64_t, i));
   }
   merge_examples(to, from);
   merge_drift(to, from);
   if (!to->skipped_file && from->skipped_file) {
      to->skipped_file = g_strdup(from->skipped_file);
   }
   if (!to->skipped_kept && from->skipped_kept) {
      to->skipped_kept = g_strdup(from->skipped_kept);
   }
}

void
mn_stats_merge(mn_stats_t *into, const mn_stats_t *from)
{
   for (guint i = 0; i < from->collections->len; i++) {
      const coll_t *f = g_ptr_array_index(from->collections, i);
      merge_collection(find_coll(into, f->name), f);
   }
   for (guint i = 0; i < from->tables->len; i++) {
      const table_t *f = g_ptr_array_index(from->tables, i);
      table_t *t = find_table(into, f->name);
      t->counts.inserted += f->counts.inserted;
      t->counts.updated += f->counts.updated;
      t->counts.deleted += f->counts.deleted;
      t->counts.unchanged += f->counts.unchanged;
      t->counts.rejected += f->counts.rejected;
      t->counts.merged += f->counts.merged;
      t->counts.skipped += f->counts.skipped;
      t->counts.coerced += f->counts.coerced;
      t->counts.copy_format = MAX(t->counts.copy_format, f->counts.copy_format);
      for (guint k = 0; k < f->coercions.keys->len; k++) {
         counter_add(&t->coercions, g_ptr_array_index(f->coercions.keys, k),
                     g_array_index(f->coercions.counts, uint64_t, k));
      }
   }
}

void
mn_stats_set_seconds(mn_stats_t *s, double seconds)
{
   s->seconds = seconds;
}

static void
append_counter_text(GString *out, const counter_t *c, const char *title)
{
   if (c->keys->len == 0) {
      return;
   }
   g_string_append_printf(out, "    %s:\n", title);
   for (guint i = 0; i < c->keys->len; i++) {
      g_string_append_printf(out, "      %10llu  %s\n",
                             (unsigned long long)g_array_index(c->counts, uint64_t, i),
                             (const char *)g_ptr_array_index(c->keys, i));
   }
}

/* Unmapped paths: how many, and the names only when asked. */
static void
append_drift_text(GString *out, const coll_t *c, bool show)
{
   const mn_collection_counts_t *n = &c->counts;
   uint64_t kept = c->unmapped.keys->len;

   if (!n->unmapped_documents) {
      return;
   }
   g_string_append_printf(
      out, "    unmapped source paths: %s%llu in %llu document%s",
      n->unmapped_paths_at_least ? "at least " : "", (unsigned long long)n->unmapped_paths,
      (unsigned long long)n->unmapped_documents, n->unmapped_documents == 1 ? "" : "s");
   if (!show) {
      g_string_append(out, " (names not shown: \"run --show-drift\" lists them)\n");
      return;
   }
   g_string_append(out, ", documents per path:\n");
   for (guint i = 0; i < kept; i++) {
      g_string_append_printf(out, "      %10llu  %s\n",
                             (unsigned long long)g_array_index(c->unmapped.counts, uint64_t, i),
                             (const char *)g_ptr_array_index(c->unmapped.keys, i));
   }
   if (n->unmapped_paths > kept || n->unmapped_paths_at_least) {
      g_string_append_printf(out,
                             "      %10llu  %s%llu more path%s (names kept for the first %d)\n",
                             (unsigned long long)n->unmapped_more_documents,
                             n->unmapped_paths_at_least ? "at least " : "",
                             (unsigned long long)(n->unmapped_paths - kept),
                             n->unmapped_paths - kept == 1 ? "" : "s", MN_STATS_UNMAPPED_MAX);
   }
}

/* The width of the name column of the text tables: 24, or the longest collection or table
 * name, so that long names keep the columns aligned. */
static int
name_width(const mn_stats_t *s)
{
   size_t width = 24;

   for (guint i = 0; i < s->collections->len; i++) {
      const coll_t *c = g_ptr_array_index(s->collections, i);
      width = MAX(width, strlen(c->name));
   }
   for (guint i = 0; i < s->tables->len; i++) {
      const table_t *t = g_ptr_array_index(s->tables, i);
      width = MAX(width, strlen(t->name));
   }
   return (int)MIN(width, 200);
}

char *
mn_stats_to_text(const mn_stats_t *s)
{
   GString *out = g_string_new(NULL);
   int w = name_width(s);
   char *result;

   g_string_append_printf(out, "%-*s %10s %10s %10s %10s %10s %9s %10s\n", w, "collection", "read",
                          "loaded", "unchanged", "rejected", "deleted", "seconds", "docs/s");
   for (guint i = 0; i < s->collections->len; i++) {
      const coll_t *c = g_ptr_array_index(s->collections, i);
      double rate = c->counts.seconds > 0 ? (double)c->counts.read / c->counts.seconds : 0;
      g_string_append_printf(
         out, "%-*s %10llu %10llu %10llu %10llu %10llu %9.2f %10.0f\n", w, c->name,
         (unsigned long long)c->counts.read, (unsigned long long)c->counts.loaded,
         (unsigned long long)c->counts.unchanged, (unsigned long long)c->counts.rejected,
         (unsigned long long)c->counts.deleted, c->counts.seconds, rate);
      if (c->counts.skipped_spans) {
         g_string_append_printf(out, "    unreadable: %llu bytes in %llu span(s) of \"%s\"\n",
                                (unsigned long long)c->counts.skipped_bytes,
                                (unsigned long long)c->counts.skipped_spans,
                                c->skipped_file ? c->skipped_file : c->name);
      }
      append_counter_text(out, &c->rejects, "rejected documents by reason");
      append_drift_text(out, c, s->show_drift);
   }
   g_string_append_printf(out, "\n%-*s %9s %9s %9s %9s %9s %8s %8s %8s\n", w, "table", "inserted",
                          "updated", "deleted", "unchanged", "rejected", "merged", "skipped",
                          "coerced");
   for (guint i = 0; i < s->tables->len; i++) {
      const table_t *t = g_ptr_array_index(s->tables, i);
      const mn_table_counts_t *n = &t->counts;
      g_string_append_printf(out, "%-*s %9llu %9llu %9llu %9llu %9llu %8llu %8llu %8llu\n", w,
                             t->name, (unsigned long long)n->inserted,
                             (unsigned long long)n->updated, (unsigned long long)n->deleted,
                             (unsigned long long)n->unchanged, (unsigned long long)n->rejected,
                             (unsigned long long)n->merged, (unsigned long long)n->skipped,
                             (unsigned long long)n->coerced);
      append_counter_text(out, &t->coercions, "coerced values by column");
   }
   g_string_append_printf(out, "\ntotal time %.2f s\n", s->seconds);
   if (s->dry_run) {
      g_string_append(out, "dry run: nothing was written, the target is as it was\n");
   }
   result = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return result;
}

static void
append_counter_bson(bson_t *parent, const char *key, const counter_t *c)
{
   bson_t child;

   bson_append_document_begin(parent, key, -1, &child);
   for (guint i = 0; i < c->keys->len; i++) {
      BSON_APPEND_INT64(&child, (const char *)g_ptr_array_index(c->keys, i),
                        (int64_t)g_array_index(c->counts, uint64_t, i));
   }
   bson_append_document_end(parent, &child);
}

char *
mn_stats_to_json(const mn_stats_t *s)
{
   bson_t doc = BSON_INITIALIZER;
   bson_t colls;
   bson_t tables;
   char *json;

   bson_append_document_begin(&doc, "collections", -1, &colls);
   for (guint i = 0; i < s->collections->len; i++) {
      const coll_t *c = g_ptr_array_index(s->collections, i);
      bson_t d;
      bson_append_document_begin(&colls, c->name, -1, &d);
      BSON_APPEND_INT64(&d, "read", (int64_t)c->counts.read);
      BSON_APPEND_INT64(&d, "loaded", (int64_t)c->counts.loaded);
      BSON_APPEND_INT64(&d, "unchanged", (int64_t)c->counts.unchanged);
      BSON_APPEND_INT64(&d, "rejected", (int64_t)c->counts.rejected);
      BSON_APPEND_INT64(&d, "deleted", (int64_t)c->counts.deleted);
      if (c->counts.by_watermark) {
         BSON_APPEND_UTF8(&d, "read_by", "watermark");
         BSON_APPEND_INT64(&d, "not_read", (int64_t)c->counts.not_read);
      }
      BSON_APPEND_DOUBLE(&d, "seconds", c->counts.seconds);
      append_counter_bson(&d, "rejects", &c->rejects);
      BSON_APPEND_INT64(&d, "unmapped_paths", (int64_t)c->counts.unmapped_paths);
      if (c->counts.unmapped_paths_at_least) {
         BSON_APPEND_BOOL(&d, "unmapped_paths_at_least", true);
      }
      BSON_APPEND_INT64(&d, "unmapped_documents", (int64_t)c->counts.unmapped_documents);
      if (s->show_drift) {
         uint64_t kept = c->unmapped.keys->len;
         append_counter_bson(&d, "unmapped", &c->unmapped);
         if (c->counts.unmapped_paths > kept || c->counts.unmapped_paths_at_least) {
            bson_t more;
            bson_append_document_begin(&d, "unmapped_more", -1, &more);
            BSON_APPEND_INT64(&more, "paths", (int64_t)(c->counts.unmapped_paths - kept));
            BSON_APPEND_INT64(&more, "documents", (int64_t)c->counts.unmapped_more_documents);
            bson_append_document_end(&d, &more);
         }
      }
      if (c->counts.skipped_spans) {
         BSON_APPEND_INT64(&d, "skipped_bytes", (int64_t)c->counts.skipped_bytes);
         BSON_APPEND_INT64(&d, "skipped_spans", (int64_t)c->counts.skipped_spans);
         BSON_APPEND_UTF8(&d, "skipped_file", c->skipped_file ? c->skipped_file : c->name);
         if (c->skipped_kept) {
            BSON_APPEND_UTF8(&d, "skipped_kept_in", c->skipped_kept);
         }
      }
      if (c->counts.batches) {
         BSON_APPEND_INT64(&d, "batches", (int64_t)c->counts.batches);
         BSON_APPEND_INT64(&d, "batches_overlapped", (int64_t)c->counts.batches_overlapped);
         if (c->counts.batches_copied) {
            BSON_APPEND_INT64(&d, "batches_copied", (int64_t)c->counts.batches_copied);
         }
         if (c->counts.partly_unchanged) {
            BSON_APPEND_INT64(&d, "partly_unchanged", (int64_t)c->counts.partly_unchanged);
         }
      }
      bson_append_document_end(&colls, &d);
   }
   bson_append_document_end(&doc, &colls);
   bson_append_document_begin(&doc, "tables", -1, &tables);
   for (guint i = 0; i < s->tables->len; i++) {
      const table_t *t = g_ptr_array_index(s->tables, i);
      const mn_table_counts_t *n = &t->counts;
      bson_t d;
      bson_append_document_begin(&tables, t->name, -1, &d);
      BSON_APPEND_INT64(&d, "inserted", (int64_t)n->inserted);
      BSON_APPEND_INT64(&d, "updated", (int64_t)n->updated);
      BSON_APPEND_INT64(&d, "deleted", (int64_t)n->deleted);
      BSON_APPEND_INT64(&d, "unchanged", (int64_t)n->unchanged);
      BSON_APPEND_INT64(&d, "rejected", (int64_t)n->rejected);
      BSON_APPEND_INT64(&d, "merged", (int64_t)n->merged);
      BSON_APPEND_INT64(&d, "skipped", (int64_t)n->skipped);
      BSON_APPEND_INT64(&d, "coerced", (int64_t)n->coerced);
      if (n->copy_format != MN_COPY_FORMAT_NONE) {
         BSON_APPEND_UTF8(&d, "copy_format",
                          n->copy_format == MN_COPY_FORMAT_BINARY ? "binary" : "text");
      }
      append_counter_bson(&d, "coercions", &t->coercions);
      bson_append_document_end(&tables, &d);
   }
   bson_append_document_end(&doc, &tables);
   BSON_APPEND_DOUBLE(&doc, "seconds", s->seconds);
   if (s->dry_run) {
      BSON_APPEND_BOOL(&doc, "dry_run", true);
   }
   json = bson_as_relaxed_extended_json(&doc, NULL);
   bson_destroy(&doc);
   return json;
}

/* One collection's examples into `parent` under its name; nothing without one. */
static void
append_examples_bson(bson_t *parent, const coll_t *c)
{
   bson_t d, arr, one;

   bson_append_document_begin(parent, c->name, -1, &d);
   for (guint k = 0; k < c->examples->len; k++) {
      const GPtrArray *list = g_ptr_array_index(c->examples, k);
      if (list->len == 0) {
         continue;
      }
      bson_append_array_begin(&d, g_ptr_array_index(c->rejects.keys, k), -1, &arr);
      for (guint i = 0; i < list->len; i++) {
         const example_t *e = g_ptr_array_index(list, i);
         char key[16];
         snprintf(key, sizeof key, "%u", i);
         bson_append_document_begin(&arr, key, -1, &one);
         if (e->id) {
            BSON_APPEND_UTF8(&one, "_id", e->id);
         }
         if (e->path) {
            BSON_APPEND_UTF8(&one, "path", e->path);
         }
         if (e->column) {
            BSON_APPEND_UTF8(&one, "column", e->column);
         }
         bson_append_document_end(&arr, &one);
      }
      bson_append_array_end(&d, &arr);
   }
   bson_append_document_end(parent, &d);
}

char *
mn_stats_reject_examples_to_json(const mn_stats_t *s)
{
   bson_t doc = BSON_INITIALIZER;
   bson_t colls;
   char *json;

   bson_append_document_begin(&doc, "collections", -1, &colls);
   for (guint i = 0; i < s->collections->len; i++) {
      const coll_t *c = g_ptr_array_index(s->collections, i);
      if (c->examples) {
         append_examples_bson(&colls, c);
      }
   }
   bson_append_document_end(&doc, &colls);
   json = bson_as_relaxed_extended_json(&doc, NULL);
   bson_destroy(&doc);
   return json;
}
