/*
 * survey_out.c - the survey as Markdown (survey.md, for people) and JSON (survey.json,
 * for scripts): per collection and path the types with counts, missing and null counts,
 * string and array lengths, distinct counts; value ranges and enum candidates only with
 * --show-values, since the survey goes into reports people share.
 */
#include "infer/infer_private.h"

#include <string.h>
#include <time.h>

/* The shown path of a child: "a.b", "a[]" for elements, "a.*" for map values. */
static char *
child_path(const char *path, const mn_infer__node_t *c)
{
   if (c->kind == MN_INFER__ELEM) {
      return g_strdup_printf("%s[]", path);
   }
   return *path ? g_strdup_printf("%s.%s", path, c->key) : g_strdup(c->key);
}

typedef void (*visit_fn)(const mn_infer__node_t *n, const char *path, void *ctx);

static void
each_node(const mn_infer__node_t *n, const char *path, visit_fn fn, void *ctx)
{
   const mn_infer__node_t *kids[2] = {n->elem, n->mapval};

   if (n->kind != MN_INFER__ROOT) {
      fn(n, path, ctx);
   }
   for (guint i = 0; n->order && i < n->order->len; i++) {
      const mn_infer__node_t *c = g_ptr_array_index(n->order, i);
      char *p = child_path(path, c);
      each_node(c, p, fn, ctx);
      g_free(p);
   }
   for (int k = 0; k < 2; k++) {
      if (kids[k]) {
         char *p = child_path(path, kids[k]);
         each_node(kids[k], p, fn, ctx);
         g_free(p);
      }
   }
}

/* How many times the parent held a value the node could be in. */
static uint64_t
parent_count(const mn_infer__node_t *n)
{
   const mn_infer__node_t *p = n->parent;

   if (!p || n->kind == MN_INFER__ELEM || n->kind == MN_INFER__MAPVAL) {
      return n->present;
   }
   return p->types[mn_infer__slot(BSON_TYPE_DOCUMENT)];
}

static void
iso_date(char *buf, size_t size, int64_t ms)
{
   time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
   struct tm tm;

   if (!gmtime_r(&t, &tm)) {
      g_snprintf(buf, size, "%" G_GINT64_FORMAT " ms", ms);
      return;
   }
   strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Markdown cell text: no "|", no line breaks. */
static void
put_cell(GString *out, const char *text)
{
   g_string_append(out, " ");
   for (const char *p = text; *p; p++) {
      if (*p == '|') {
         g_string_append(out, "\\|");
      } else if (*p == '\n' || *p == '\r') {
         g_string_append_c(out, ' ');
      } else {
         g_string_append_c(out, *p);
      }
   }
   g_string_append(out, " |");
}

typedef struct {
   GString *out;
   bool show_values;
} md_t;

static void
values_text(GString *s, const mn_infer__node_t *n, bool show)
{
   uint64_t strings = n->types[mn_infer__slot(BSON_TYPE_UTF8)];

   if (strings && n->values && !n->many_values) {
      /* the enum candidates are every distinct string: exact */
      g_string_append_printf(s, "%s%u distinct strings", s->len ? "; " : "",
                             g_hash_table_size(n->values));
   } else if (strings && n->hll) {
      /* the sketch's estimate, never more than the strings seen */
      g_string_append_printf(s, "%s~%.0f distinct strings", s->len ? "; " : "",
                             MIN(mn_infer__distinct(n), (double)strings));
   }
   if (n->values && !n->many_values && g_hash_table_size(n->values)) {
      g_string_append_printf(s, "; enum candidate (%u values)", g_hash_table_size(n->values));
      if (show) {
         GList *keys = g_list_sort(g_hash_table_get_keys(n->values), (GCompareFunc)strcmp);
         g_string_append(s, ":");
         for (GList *l = keys; l; l = l->next) {
            g_string_append_printf(s, " \"%s\"", (const char *)l->data);
         }
         g_list_free(keys);
      }
   }
   if (show && n->int_min <= n->int_max) {
      g_string_append_printf(s, "; integers %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, n->int_min,
                             n->int_max);
   }
   if (show && n->dbl_min <= n->dbl_max) {
      g_string_append_printf(s, "; doubles %g..%g", n->dbl_min, n->dbl_max);
   }
   if (show && n->date_min <= n->date_max) {
      char a[40], b[40];
      iso_date(a, sizeof a, n->date_min);
      iso_date(b, sizeof b, n->date_max);
      g_string_append_printf(s, "; dates %s..%s", a, b);
   }
   if (n->ref_collection) {
      g_string_append_printf(s, "; references %s (%" G_GUINT64_FORMAT " of %u sampled)",
                             n->ref_collection, n->ref_hits, g_hash_table_size(n->oids));
   }
}

static void
md_row(const mn_infer__node_t *n, const char *path, void *ctx)
{
   md_t *m = ctx;
   GString *s = g_string_new(NULL);
   char *types = mn_infer__types_summary(n);
   uint64_t pc = parent_count(n);

   g_string_append(m->out, "|");
   put_cell(m->out, path);
   put_cell(m->out, types);
   g_string_printf(s, "%" G_GUINT64_FORMAT, pc > n->present ? pc - n->present : 0);
   put_cell(m->out, s->str);
   g_string_printf(s, "%" G_GUINT64_FORMAT, n->nulls);
   put_cell(m->out, s->str);
   g_string_truncate(s, 0);
   if (n->str_min <= n->str_max) {
      g_string_append_printf(s, "string %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " (mean %.1f)",
                             n->str_min, n->str_max,
                             (double)n->str_sum / (double)n->types[mn_infer__slot(BSON_TYPE_UTF8)]);
   }
   if (n->arr_min <= n->arr_max) {
      g_string_append_printf(s, "%sarray %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " (mean %.1f)",
                             s->len ? "; " : "", n->arr_min, n->arr_max,
                             (double)n->arr_sum /
                                (double)n->types[mn_infer__slot(BSON_TYPE_ARRAY)]);
   }
   put_cell(m->out, s->str);
   g_string_truncate(s, 0);
   values_text(s, n, m->show_values);
   if (n->kind == MN_INFER__MAPVAL) {
      g_string_append_printf(s, "%smap: ~%.0f distinct keys", s->len ? "; " : "",
                             mn_infer__distinct(n));
   }
   put_cell(m->out, s->str);
   g_string_append_c(m->out, '\n');
   g_string_free(s, TRUE);
   g_free(types);
}

static void
md_draft_notes(GString *out, const mn_infer_draft_t *draft, const mn_infer__coll_t *coll)
{
   for (guint k = 0; draft && k < draft->colls->len; k++) {
      const mn_infer__dcoll_t *dc = g_ptr_array_index(draft->colls, k);
      if (dc->coll != coll) {
         continue;
      }
      g_string_append(out, "\nDraft tables:");
      for (guint i = 0; i < dc->tables->len; i++) {
         const mn_infer__table_t *t = g_ptr_array_index(dc->tables, i);
         g_string_append_printf(out, "%s `%s` (%u columns)", i ? "," : "", t->table, t->cols->len);
      }
      g_string_append(out, ".\n");
   }
}

char *
mn_infer_survey_markdown(const mn_infer_survey_t *survey, const mn_infer_draft_t *draft)
{
   md_t m = {g_string_new(NULL), survey->opts.show_values};
   char *r;

   g_string_append_printf(
      m.out,
      "# Survey\n\n%" G_GUINT64_FORMAT " documents in %u collections%s.  %s\n"
      "\"missing\": documents (or sub-documents, elements) without the "
      "field; `a[]`: the elements of array `a`; `a.*`: the values of map "
      "`a`.  Lengths are in characters.\n",
      survey->documents, survey->colls->len, survey->opts.sample ? " (a sample)" : "",
      survey->opts.show_values ? "Values are shown (--show-values): do not share this file."
                               : "No value of the source is shown (--show-values shows ranges and "
                                 "enum candidates).");
   for (guint i = 0; i < survey->colls->len; i++) {
      const mn_infer__coll_t *c = g_ptr_array_index(survey->colls, i);
      g_string_append_printf(m.out, "\n## %s\n\n%" G_GUINT64_FORMAT " documents", c->name,
                             c->documents);
      if (c->unreadable) {
         g_string_append_printf(m.out, ", %" G_GUINT64_FORMAT " unreadable records", c->unreadable);
      }
      g_string_append_printf(m.out, ", %" G_GSIZE_FORMAT " paths", c->nodes);
      if (c->capped) {
         g_string_append_printf(m.out, " (%" G_GSIZE_FORMAT " fields beyond --max-paths)",
                                c->capped);
      }
      g_string_append(m.out, ".\n");
      md_draft_notes(m.out, draft, c);
      g_string_append(m.out, "\n| path | types | missing | null | lengths | values |\n"
                             "|---|---|---|---|---|---|\n");
      each_node(c->root, "", md_row, &m);
   }
   r = bson_strdup(m.out->str);
   g_string_free(m.out, TRUE);
   return r;
}

typedef struct {
   bson_t *paths;
   int index;
   bool show_values;
} js_t;

static void
js_row(const mn_infer__node_t *n, const char *path, void *ctx)
{
   js_t *j = ctx;
   char key[16];
   bson_t row, types;
   GString *s = g_string_new(NULL);
   uint64_t pc = parent_count(n);

   g_snprintf(key, sizeof key, "%d", j->index++);
   bson_append_document_begin(j->paths, key, -1, &row);
   BSON_APPEND_UTF8(&row, "path", path);
   bson_append_document_begin(&row, "types", -1, &types);
   for (int i = 0; i < MN_INFER__N_TYPES; i++) {
      if (n->types[i]) {
         BSON_APPEND_INT64(&types, mn_infer__type_name(i), (int64_t)n->types[i]);
      }
   }
   bson_append_document_end(&row, &types);
   BSON_APPEND_INT64(&row, "missing", (int64_t)(pc > n->present ? pc - n->present : 0));
   BSON_APPEND_INT64(&row, "null", (int64_t)n->nulls);
   if (n->str_min <= n->str_max) {
      BSON_APPEND_INT64(&row, "string_min", (int64_t)n->str_min);
      BSON_APPEND_INT64(&row, "string_max", (int64_t)n->str_max);
   }
   if (n->arr_min <= n->arr_max) {
      BSON_APPEND_INT64(&row, "array_min", (int64_t)n->arr_min);
      BSON_APPEND_INT64(&row, "array_max", (int64_t)n->arr_max);
      BSON_APPEND_DOUBLE(&row, "array_mean",
                         (double)n->arr_sum / (double)n->types[mn_infer__slot(BSON_TYPE_ARRAY)]);
   }
   if (n->hll) {
      BSON_APPEND_DOUBLE(&row, "distinct", mn_infer__distinct(n));
   }
   values_text(s, n, j->show_values);
   if (s->len) {
      BSON_APPEND_UTF8(&row, "notes", s->str[0] == ';' ? s->str + 2 : s->str);
   }
   bson_append_document_end(j->paths, &row);
   g_string_free(s, TRUE);
}

char *
mn_infer_survey_json(const mn_infer_survey_t *survey)
{
   bson_t doc = BSON_INITIALIZER;
   bson_t colls;
   char *json;
   char *r;

   BSON_APPEND_INT64(&doc, "documents", (int64_t)survey->documents);
   BSON_APPEND_BOOL(&doc, "values_shown", survey->opts.show_values);
   bson_append_array_begin(&doc, "collections", -1, &colls);
   for (guint i = 0; i < survey->colls->len; i++) {
      const mn_infer__coll_t *c = g_ptr_array_index(survey->colls, i);
      char key[16];
      bson_t cd, paths;
      js_t j = {&paths, 0, survey->opts.show_values};

      g_snprintf(key, sizeof key, "%u", i);
      bson_append_document_begin(&colls, key, -1, &cd);
      BSON_APPEND_UTF8(&cd, "name", c->name);
      BSON_APPEND_INT64(&cd, "documents", (int64_t)c->documents);
      BSON_APPEND_INT64(&cd, "unreadable", (int64_t)c->unreadable);
      BSON_APPEND_INT64(&cd, "capped", (int64_t)c->capped);
      bson_append_array_begin(&cd, "paths", -1, &paths);
      each_node(c->root, "", js_row, &j);
      bson_append_array_end(&cd, &paths);
      bson_append_document_end(&colls, &cd);
   }
   bson_append_array_end(&doc, &colls);
   json = bson_as_relaxed_extended_json(&doc, NULL);
   /* field names that are not UTF-8 make no JSON: say so rather than write nothing */
   r = bson_strdup_printf("%s\n", json ? json : "{\"error\": \"a field name is not UTF-8\"}");
   bson_free(json);
   bson_destroy(&doc);
   return r;
}
