/*
 * manifest.c - the manifest: what a correct conversion of the generated documents must
 * give (documents, rejects and their reasons, unmapped paths, rows per table, injected
 * mess), filled by generate.c as documents are generated, and its JSON form.
 */
#include "gen_private.h"

#include <string.h>

void
mn_gen__bump(GHashTable *h, const char *key, uint64_t n)
{
   uint64_t *v = g_hash_table_lookup(h, key);

   if (!v) {
      v = g_new0(uint64_t, 1);
      g_hash_table_insert(h, g_strdup(key), v);
   }
   *v += n;
}

static uint64_t
lookup(GHashTable *h, const char *key)
{
   uint64_t *v = h ? g_hash_table_lookup(h, key) : NULL;
   return v ? *v : 0;
}

mn_gen_manifest_t *
mn_gen__manifest_new(const mn_gen_model_t *m, const mn_gen_opts_t *o)
{
   mn_gen_manifest_t *mf = g_new0(mn_gen_manifest_t, 1);

   mf->scale = o->scale;
   mf->seed = o->seed;
   mf->mess_ppm = o->mess_ppm;
   mf->n_colls = m->n_colls;
   mf->colls = g_new0(char *, m->n_colls);
   mf->docs = g_new0(uint64_t, m->n_colls);
   mf->rejected = g_new0(uint64_t, m->n_colls);
   mf->reasons = g_new0(GHashTable *, m->n_colls);
   mf->unmapped = g_new0(GHashTable *, m->n_colls);
   for (size_t i = 0; i < m->n_colls; i++) {
      mf->colls[i] = g_strdup(m->colls[i].name);
      mf->reasons[i] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
      mf->unmapped[i] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
   }
   mf->n_tables = m->tables->len;
   mf->tables = g_new0(char *, mf->n_tables + 1);
   for (size_t i = 0; i < mf->n_tables; i++) {
      mf->tables[i] = g_strdup(g_ptr_array_index(m->tables, i));
   }
   mf->rows = g_new0(uint64_t, mf->n_tables + 1);
   mf->merged = g_new0(uint64_t, mf->n_tables + 1);
   mf->skipped = g_new0(uint64_t, mf->n_tables + 1);
   mf->rejected_rows = g_new0(uint64_t, mf->n_tables + 1);
   mf->injected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
   return mf;
}

void
mn_gen_manifest_destroy(mn_gen_manifest_t *mf)
{
   if (!mf) {
      return;
   }
   for (size_t i = 0; i < mf->n_colls; i++) {
      g_free(mf->colls[i]);
      g_hash_table_destroy(mf->reasons[i]);
      g_hash_table_destroy(mf->unmapped[i]);
   }
   for (size_t i = 0; i < mf->n_tables; i++) {
      g_free(mf->tables[i]);
   }
   g_free(mf->colls);
   g_free(mf->docs);
   g_free(mf->rejected);
   g_free(mf->reasons);
   g_free(mf->unmapped);
   g_free(mf->tables);
   g_free(mf->rows);
   g_free(mf->merged);
   g_free(mf->skipped);
   g_free(mf->rejected_rows);
   g_hash_table_destroy(mf->injected);
   g_free(mf);
}

/* v[i] for the i with names[i] equal to `name` (a collection or a table), 0 when none. */
static uint64_t
value_of(char *const *names, size_t n, const uint64_t *v, const char *name)
{
   for (size_t i = 0; i < n; i++) {
      if (!strcmp(names[i], name)) {
         return v[i];
      }
   }
   return 0;
}

uint64_t
mn_gen_manifest_documents(const mn_gen_manifest_t *mf, const char *c)
{
   return mf ? value_of(mf->colls, mf->n_colls, mf->docs, c) : 0;
}

uint64_t
mn_gen_manifest_rejected(const mn_gen_manifest_t *mf, const char *c)
{
   return mf ? value_of(mf->colls, mf->n_colls, mf->rejected, c) : 0;
}

uint64_t
mn_gen_manifest_rows(const mn_gen_manifest_t *mf, const char *t)
{
   return mf ? value_of(mf->tables, mf->n_tables, mf->rows, t) : 0;
}

uint64_t
mn_gen_manifest_merged(const mn_gen_manifest_t *mf, const char *t)
{
   return mf ? value_of(mf->tables, mf->n_tables, mf->merged, t) : 0;
}

uint64_t
mn_gen_manifest_skipped(const mn_gen_manifest_t *mf, const char *t)
{
   return mf ? value_of(mf->tables, mf->n_tables, mf->skipped, t) : 0;
}

uint64_t
mn_gen_manifest_injected(const mn_gen_manifest_t *mf, const char *c, const char *path,
                         const char *kind)
{
   char *key = g_strdup_printf("%s\x1f%s\x1f%s", c, path, kind);
   uint64_t n = lookup(mf ? mf->injected : NULL, key);
   g_free(key);
   return n;
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
   return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys of h, sorted (byte order), so the JSON never depends on hash order. */
static GPtrArray *
sorted_keys(GHashTable *h)
{
   GPtrArray *keys = g_ptr_array_new();
   GHashTableIter it;
   gpointer k;

   g_hash_table_iter_init(&it, h);
   while (g_hash_table_iter_next(&it, &k, NULL)) {
      g_ptr_array_add(keys, k);
   }
   g_ptr_array_sort(keys, cmp_str);
   return keys;
}

static void
json_str(GString *s, const char *v)
{
   g_string_append_c(s, '"');
   for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
      if (*p == '"' || *p == '\\') {
         g_string_append_c(s, '\\');
         g_string_append_c(s, (char)*p);
      } else if (*p < 0x20) {
         g_string_append_printf(s, "\\u%04x", *p);
      } else {
         g_string_append_c(s, (char)*p);
      }
   }
   g_string_append_c(s, '"');
}

static void
json_counts(GString *s, GHashTable *h, const char *indent)
{
   GPtrArray *keys = sorted_keys(h);

   g_string_append_c(s, '{');
   for (guint i = 0; i < keys->len; i++) {
      g_string_append_printf(s, "%s\n%s  ", i ? "," : "", indent);
      json_str(s, g_ptr_array_index(keys, i));
      g_string_append_printf(s, ": %" PRIu64, lookup(h, g_ptr_array_index(keys, i)));
   }
   if (keys->len) {
      g_string_append_printf(s, "\n%s", indent);
   }
   g_string_append_c(s, '}');
   g_ptr_array_free(keys, TRUE);
}

char *
mn_gen_manifest_to_json(const mn_gen_manifest_t *mf)
{
   GString *s = g_string_new(NULL);
   char *out;

   g_string_append_printf(s,
                          "{\n  \"scale\": %" PRIu64 ",\n  \"seed\": %" PRIu64
                          ",\n  \"mess\": \"%" PRIu64 ".%06" PRIu64 "\",\n",
                          mf->scale, mf->seed, mf->mess_ppm / MN_GEN_MESS_ONE,
                          mf->mess_ppm % MN_GEN_MESS_ONE);
   g_string_append(s, "  \"collections\": {");
   for (size_t i = 0; i < mf->n_colls; i++) {
      g_string_append_printf(s, "%s\n    ", i ? "," : "");
      json_str(s, mf->colls[i]);
      g_string_append_printf(s,
                             ": {\n      \"documents\": %" PRIu64 ",\n      \"loaded\": %" PRIu64
                             ",\n      \"rejected\": %" PRIu64 ",\n      \"rejects\": ",
                             mf->docs[i], mf->docs[i] - mf->rejected[i], mf->rejected[i]);
      json_counts(s, mf->reasons[i], "      ");
      g_string_append(s, ",\n      \"unmapped\": ");
      json_counts(s, mf->unmapped[i], "      ");
      g_string_append(s, "\n    }");
   }
   g_string_append(s, "\n  },\n  \"tables\": {");
   for (size_t i = 0; i < mf->n_tables; i++) {
      g_string_append_printf(s, "%s\n    ", i ? "," : "");
      json_str(s, mf->tables[i]);
      g_string_append_printf(s,
                             ": {\"rows\": %" PRIu64 ", \"merged\": %" PRIu64
                             ", \"skipped\": %" PRIu64 ", \"rejected_rows\": %" PRIu64 "}",
                             mf->rows[i], mf->merged[i], mf->skipped[i], mf->rejected_rows[i]);
   }
   g_string_append(s, "\n  },\n  \"injected\": {");
   {
      GPtrArray *keys = sorted_keys(mf->injected);
      for (guint i = 0; i < keys->len; i++) {
         char **parts = g_strsplit(g_ptr_array_index(keys, i), "\x1f", 3);
         char *k = g_strdup_printf("%s: %s: %s", parts[0], parts[1], parts[2]);
         g_string_append_printf(s, "%s\n    ", i ? "," : "");
         json_str(s, k);
         g_string_append_printf(s, ": %" PRIu64, lookup(mf->injected, g_ptr_array_index(keys, i)));
         g_free(k);
         g_strfreev(parts);
      }
      if (keys->len) {
         g_string_append(s, "\n  ");
      }
      g_ptr_array_free(keys, TRUE);
   }
   g_string_append(s, "}\n}\n");
   out = bson_strdup(s->str);
   g_string_free(s, TRUE);
   return out;
}
