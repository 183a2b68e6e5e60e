/*
 * run_page.c - the HTML page of one run (mn_report_run_html, report.h).
 *
 * Written from the run's statistics as mn_stats_to_json() gives them (the same counts as
 * the text table, the --report file and mongonorm.runs) and the reject examples of
 * mn_stats_reject_examples_to_json(): so the page can hold nothing the statistics do not.
 */
#include <mongonorm/report.h>
#include <mongonorm/source.h>

#include "report/report_private.h"

#include <mongoc/mongoc.h>

#include <string.h>

/* Fill colours of the charts' series. */
#define GREEN "#2e7d32"
#define BLUE "#1565c0"
#define GREY "#b0bec5"
#define RED "#c62828"
#define ORANGE "#e65100"

/* The sums over collections and tables. */
typedef struct {
   uint64_t read, loaded, unchanged, rejected, deleted; /* documents */
   uint64_t inserted, updated, rows_deleted, coerced;   /* rows, values */
   uint64_t unmapped_paths, skipped_bytes;
   size_t n_collections, n_tables, n_reasons;
} totals_t;

typedef struct {
   GString *out;
   bson_iter_t stats;    /* on the statistics document */
   bson_iter_t examples; /* on the examples document */
   totals_t sum;
} page_t;

static void
add_totals(page_t *p)
{
   bson_iter_t it, r;
   totals_t *t = &p->sum;

   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         t->n_collections++;
         t->read += (uint64_t)mn_report__int(&it, "read");
         t->loaded += (uint64_t)mn_report__int(&it, "loaded");
         t->unchanged += (uint64_t)mn_report__int(&it, "unchanged");
         t->rejected += (uint64_t)mn_report__int(&it, "rejected");
         t->deleted += (uint64_t)mn_report__int(&it, "deleted");
         t->unmapped_paths += (uint64_t)mn_report__int(&it, "unmapped_paths");
         t->skipped_bytes += (uint64_t)mn_report__int(&it, "skipped_bytes");
         if (mn_report__child(&it, "rejects", &r)) {
            while (bson_iter_next(&r)) {
               t->n_reasons++;
            }
         }
      }
   }
   if (mn_report__child(&p->stats, "tables", &it)) {
      while (bson_iter_next(&it)) {
         t->n_tables++;
         t->inserted += (uint64_t)mn_report__int(&it, "inserted");
         t->updated += (uint64_t)mn_report__int(&it, "updated");
         t->rows_deleted += (uint64_t)mn_report__int(&it, "deleted");
         t->coerced += (uint64_t)mn_report__int(&it, "coerced");
      }
   }
}

/* "mongodb://host1:27017,host2/db" for a URI (never its credentials or options), "folder
 * PATH" for a folder. */
static char *
describe_location(const char *location, const char *database)
{
   mongoc_uri_t *uri;
   GString *s;

   if (!mn_source_is_uri(location)) {
      return g_strdup_printf("folder %s", location);
   }
   mn_source_mongo_init();
   if (!(uri = mongoc_uri_new_with_error(location, NULL))) {
      return g_strdup("a MongoDB server (its URI does not parse)");
   }
   s = g_string_new(NULL);
   if (mongoc_uri_get_srv_hostname(uri)) {
      g_string_append_printf(s, "mongodb+srv://%s", mongoc_uri_get_srv_hostname(uri));
   } else {
      g_string_append(s, "mongodb://");
      for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h; h = h->next) {
         g_string_append_printf(s, "%s%s", h == mongoc_uri_get_hosts(uri) ? "" : ",",
                                h->host_and_port);
      }
   }
   if (database || mongoc_uri_get_database(uri)) {
      g_string_append_printf(s, "/%s", database ? database : mongoc_uri_get_database(uri));
   }
   mongoc_uri_destroy(uri);
   return g_string_free(s, FALSE);
}

/* The title (database), then source, mapping, collections, start and duration. */
static void
header(page_t *p, const mn_report_run_t *run)
{
   char *where = run->location ? describe_location(run->location, run->database) : NULL;
   char *db = run->database ? g_strdup(run->database) : mn_report__database_of(where);
   char *title = g_strdup_printf("mongonorm run \xc2\xb7 %s", db ? db : "report");
   GString *names = g_string_new(NULL);
   GString *when = g_string_new(NULL);
   bson_iter_t it;

   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         g_string_append_printf(names, "%s%s", names->len ? ", " : "", bson_iter_key(&it));
      }
   }
   mn_report__page_begin(p->out, title);
   g_string_append(p->out, "<div class=\"meta\">");
   if (where) {
      mn_report__meta_item(p->out, "Source", where);
   }
   if (run->mapping) {
      mn_report__meta_item(p->out, "Mapping", run->mapping);
   }
   mn_report__meta_item(p->out, "Collections", names->len ? names->str : "none");
   g_string_append(p->out, "<span class=\"br\"></span>");
   mn_report__time(when, run->started_at);
   mn_report__meta_item(p->out, "Started", when->str);
   g_string_truncate(when, 0);
   mn_report__time(when, run->finished_at);
   mn_report__meta_item(p->out, "Finished", when->str);
   g_string_truncate(when, 0);
   mn_report__duration(when, mn_report__double(&p->stats, "seconds"));
   mn_report__meta_item(p->out, "Duration", when->str);
   g_string_append(p->out, "</div>\n</div></header>\n<main>\n");
   g_string_free(names, TRUE);
   g_string_free(when, TRUE);
   g_free(title);
   g_free(db);
   g_free(where);
}

/* The banner under the title: failed, completed with rejects or unreadable bytes, or
 * completed. */
static void
outcome(page_t *p, const mn_report_run_t *run, bool dry_run)
{
   GString *o = p->out;

   if (dry_run) {
      g_string_append(o, "<div class=\"outcome warn\">Dry run: nothing was written<small>The "
                         "run did all its work in one transaction and rolled it back: the "
                         "target is as it was. The counts below are what this run would "
                         "have done.</small></div>\n");
   }
   if (run->failed) {
      g_string_append(o, "<div class=\"outcome bad\">Failed: the run stopped before its end");
      g_string_append(o, "<small>");
      if (run->message) {
         mn_report__esc(o, run->message);
         g_string_append(o, ". ");
      }
      g_string_append(o, dry_run ? "Nothing was written.</small></div>\n"
                                 : "Batches committed before the failure stay; a new run goes "
                                   "on from there.</small></div>\n");
   } else if (p->sum.rejected || p->sum.skipped_bytes) {
      g_string_append(o, "<div class=\"outcome warn\">Completed with ");
      mn_report__count(o, p->sum.rejected);
      g_string_append_printf(o, " rejected document%s", p->sum.rejected == 1 ? "" : "s");
      if (run->reject_path) {
         g_string_append(o, "<small>Each is in the reject file <code>");
         mn_report__esc(o, run->reject_path);
         g_string_append(o, "</code> with its reasons; the");
      } else {
         g_string_append(o, "<small>No reject file was written (a dry run without "
                            "<code>--rejects</code>); the");
      }
      g_string_append(o, " sections below say why and where. Fix the "
                         "source or the mapping, then run again: only what changed is "
                         "converted.</small></div>\n");
   } else {
      g_string_append(o, dry_run ? "<div class=\"outcome ok\">Completed: every document read "
                                   "would be in the target</div>\n"
                                 : "<div class=\"outcome ok\">Completed: every document read "
                                   "is in the target</div>\n");
   }
}

static void
cards(page_t *p)
{
   const totals_t *t = &p->sum;

   g_string_append(p->out, "<div class=\"cards\">\n");
   mn_report__card(p->out, "documents read", t->read, NULL);
   mn_report__card(p->out, "loaded", t->loaded, NULL);
   mn_report__card(p->out, "unchanged", t->unchanged, NULL);
   mn_report__card(p->out, "rejected", t->rejected, t->rejected ? "warn" : NULL);
   mn_report__card(p->out, "deleted", t->deleted, NULL);
   mn_report__card(p->out, "rows written", t->inserted + t->updated + t->rows_deleted, NULL);
   mn_report__card(p->out, "values coerced", t->coerced, NULL);
   mn_report__card(p->out, "unmapped paths", t->unmapped_paths, t->unmapped_paths ? "warn" : NULL);
   g_string_append(p->out, "</div>\n");
}

/* Rows per table: inserted, updated, unchanged and deleted, stacked. */
static void
rows_chart(page_t *p)
{
   static const char *const names[] = {"inserted", "updated", "unchanged", "deleted"};
   static const char *const colours[] = {GREEN, BLUE, GREY, RED};
   const char **labels = g_new0(const char *, p->sum.n_tables + 1);
   uint64_t *values = g_new0(uint64_t, 4 * (p->sum.n_tables + 1));
   mn_report_chart_t c = {"rows-chart", "Rows per table", 0,      labels, 4,
                          names,        colours,          values, 230};
   bson_iter_t it;

   if (mn_report__child(&p->stats, "tables", &it)) {
      while (bson_iter_next(&it) && c.n < p->sum.n_tables) {
         labels[c.n] = bson_iter_key(&it);
         values[4 * c.n] = (uint64_t)mn_report__int(&it, "inserted");
         values[4 * c.n + 1] = (uint64_t)mn_report__int(&it, "updated");
         values[4 * c.n + 2] = (uint64_t)mn_report__int(&it, "unchanged");
         values[4 * c.n + 3] = (uint64_t)mn_report__int(&it, "deleted");
         c.n++;
      }
   }
   mn_report__hbar_chart(p->out, &c);
   g_free(labels);
   g_free(values);
}

/* Rejected documents per reason ("collection: path: reason"), one bar each. */
static void
rejects_chart(page_t *p)
{
   static const char *const names[] = {"documents"};
   static const char *const colours[] = {ORANGE};
   char **labels = g_new0(char *, p->sum.n_reasons + 1);
   uint64_t *values = g_new0(uint64_t, p->sum.n_reasons + 1);
   mn_report_chart_t c = {"rejects-chart",
                          "Rejected documents per reason",
                          0,
                          (const char *const *)labels,
                          1,
                          names,
                          colours,
                          values,
                          0};
   bson_iter_t it, r;

   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         if (!mn_report__child(&it, "rejects", &r)) {
            continue;
         }
         while (bson_iter_next(&r) && c.n < p->sum.n_reasons) {
            labels[c.n] = g_strdup_printf("%s \xc2\xb7 %s", bson_iter_key(&it), bson_iter_key(&r));
            values[c.n++] = BSON_ITER_HOLDS_NUMBER(&r) ? (uint64_t)bson_iter_as_int64(&r) : 0;
         }
      }
   }
   mn_report__hbar_chart(p->out, &c);
   g_strfreev(labels);
   g_free(values);
}

/* The overview's charts: rows per table, and rejected documents per reason. */
static void
charts(page_t *p)
{
   rows_chart(p);
   if (p->sum.n_reasons) {
      rejects_chart(p);
   }
}

/* One collection's line of the documents table, and its notes (watermark, unreadable). */
static void
collection_row(GString *o, const bson_iter_t *c)
{
   static const char *const keys[] = {"read",     "loaded",  "unchanged",
                                      "rejected", "deleted", "unmapped_paths"};
   double seconds = mn_report__double(c, "seconds");
   int64_t read = mn_report__int(c, "read");

   g_string_append(o, "<tr>");
   mn_report__tag(o, "td", NULL, bson_iter_key(c));
   for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
      mn_report__count_cell(o, (uint64_t)mn_report__int(c, keys[k]));
   }
   g_string_append(o, "<td class=\"num\">");
   mn_report__duration(o, seconds);
   g_string_append(o, "</td>");
   mn_report__count_cell(o, seconds > 0 ? (uint64_t)((double)read / seconds + 0.5) : 0);
   g_string_append(o, "</tr>\n");
   if (mn_report__str(c, "read_by")) {
      g_string_append(o, "<tr><td class=\"sub\" colspan=\"9\">read past the watermark: ");
      mn_report__count(o, (uint64_t)mn_report__int(c, "not_read"));
      g_string_append(o, " unchanged documents only listed by <code>_id</code></td></tr>\n");
   }
   if (mn_report__int(c, "skipped_spans")) {
      g_string_append(o, "<tr><td class=\"sub\" colspan=\"9\">unreadable: ");
      mn_report__count(o, (uint64_t)mn_report__int(c, "skipped_bytes"));
      g_string_append(o, " bytes of ");
      mn_report__tag(o, "code", NULL, mn_report__str(c, "skipped_file"));
      g_string_append(o, " in ");
      mn_report__count(o, (uint64_t)mn_report__int(c, "skipped_spans"));
      g_string_append(o, " span(s), each a rejected record</td></tr>\n");
   }
}

static void
collections_table(page_t *p)
{
   bson_iter_t it;

   g_string_append(p->out, "<h2>Documents per collection</h2>\n<table id=\"collections\">"
                           "<thead><tr><th>collection</th><th class=\"num\">read</th>"
                           "<th class=\"num\">loaded</th><th class=\"num\">unchanged</th>"
                           "<th class=\"num\">rejected</th><th class=\"num\">deleted</th>"
                           "<th class=\"num\">unmapped paths</th><th class=\"num\">time</th>"
                           "<th class=\"num\">docs/s</th></tr></thead>\n<tbody>\n");
   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         collection_row(p->out, &it);
      }
   }
   g_string_append(p->out, "</tbody></table>\n<p class=\"note\">Loaded counts the documents in "
                           "the target after the run, unchanged ones (not converted again) "
                           "included; read = loaded + rejected.</p>\n");
}

static void
tables_table(page_t *p)
{
   static const char *const keys[] = {"inserted", "updated", "deleted", "unchanged",
                                      "rejected", "merged",  "skipped", "coerced"};
   bson_iter_t it;

   g_string_append(p->out, "<h2>Rows per table</h2>\n<table id=\"tables\"><thead><tr>"
                           "<th>table</th>");
   for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
      g_string_append_printf(p->out, "<th class=\"num\">%s</th>", keys[k]);
   }
   g_string_append(p->out, "</tr></thead>\n<tbody>\n");
   if (mn_report__child(&p->stats, "tables", &it)) {
      while (bson_iter_next(&it)) {
         g_string_append(p->out, "<tr>");
         mn_report__tag(p->out, "td", NULL, bson_iter_key(&it));
         for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
            mn_report__count_cell(p->out, (uint64_t)mn_report__int(&it, keys[k]));
         }
         g_string_append(p->out, "</tr>\n");
      }
   }
   g_string_append(p->out, "</tbody></table>\n");
}

/* An `_id` as reasons name it, shorter where it is an ObjectId: ObjectId("..."). */
static void
example_id(GString *o, const char *id)
{
   const char *oid = strstr(id, "{ \"$oid\" : \"");

   if (oid == id && strlen(id) == 12 + 24 + 3) {
      char *hex = g_strndup(id + 12, 24);
      g_string_append(o, "<code>ObjectId(\"");
      mn_report__esc(o, hex);
      g_string_append(o, "\")</code>");
      g_free(hex);
   } else {
      mn_report__tag(o, "code", NULL, id);
   }
}

/* The examples of one reason: `_id`, field path and column of each, never a value. */
static void
examples_cell(GString *o, const bson_iter_t *list)
{
   bson_iter_t e;

   g_string_append(o, "<td><ul class=\"ex\">");
   if (bson_iter_recurse(list, &e)) {
      while (bson_iter_next(&e)) {
         const char *id = mn_report__str(&e, "_id");
         const char *path = mn_report__str(&e, "path");
         const char *column = mn_report__str(&e, "column");
         g_string_append(o, "<li>");
         if (id) {
            example_id(o, id);
         } else {
            g_string_append(o, "<span class=\"note\">no readable _id</span>");
         }
         if (path) {
            g_string_append(o, " field ");
            mn_report__tag(o, "code", NULL, path);
         }
         if (column) {
            g_string_append(o, " \xe2\x86\x92 column ");
            mn_report__tag(o, "code", NULL, column);
         }
         g_string_append(o, "</li>");
      }
   }
   g_string_append(o, "</ul></td>");
}

static void
reject_rows(page_t *p, const bson_iter_t *c)
{
   bson_iter_t r, ex, list;
   bool have_ex = false;

   if (!mn_report__child(c, "rejects", &r)) {
      return;
   }
   if (mn_report__child(&p->examples, "collections", &ex)) {
      have_ex = bson_iter_find(&ex, bson_iter_key(c)) && BSON_ITER_HOLDS_DOCUMENT(&ex);
   }
   while (bson_iter_next(&r)) {
      g_string_append(p->out, "<tr>");
      mn_report__tag(p->out, "td", NULL, bson_iter_key(c));
      mn_report__tag(p->out, "td", "reason", bson_iter_key(&r));
      mn_report__count_cell(p->out,
                            BSON_ITER_HOLDS_NUMBER(&r) ? (uint64_t)bson_iter_as_int64(&r) : 0);
      if (have_ex && bson_iter_recurse(&ex, &list) && bson_iter_find(&list, bson_iter_key(&r))) {
         examples_cell(p->out, &list);
      } else {
         g_string_append(p->out, "<td></td>");
      }
      g_string_append(p->out, "</tr>\n");
   }
}

static void
rejects_section(page_t *p)
{
   bson_iter_t it;

   g_string_append(p->out, "<h2>Rejected documents by reason</h2>\n");
   if (!p->sum.n_reasons) {
      g_string_append(p->out, "<p class=\"note\">No document was rejected.</p>\n");
      return;
   }
   g_string_append(p->out, "<table id=\"rejects\"><thead><tr><th>collection</th><th>reason</th>"
                           "<th class=\"num\">documents</th><th>examples (<code>_id</code>, "
                           "field, target column)</th></tr></thead>\n<tbody>\n");
   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         reject_rows(p, &it);
      }
   }
   g_string_append(p->out, "</tbody></table>\n<p class=\"note\">Quoted values in reasons are "
                           "shown as <code>\"...\"</code>; the reject file has each document "
                           "whole.</p>\n");
}

/* The names of a collection's unmapped paths, when the run kept them (--show-drift). */
static void
drift_names(GString *o, const bson_iter_t *c)
{
   bson_iter_t names;

   if (!mn_report__child(c, "unmapped", &names)) {
      g_string_append(o, "<td class=\"note\">names not shown (<code>run --show-drift</code> "
                         "lists them)</td>");
      return;
   }
   g_string_append(o, "<td><ul class=\"ex\">");
   while (bson_iter_next(&names)) {
      g_string_append(o, "<li>");
      mn_report__tag(o, "code", NULL, bson_iter_key(&names));
      g_string_append(o, " in ");
      mn_report__count(o,
                       BSON_ITER_HOLDS_NUMBER(&names) ? (uint64_t)bson_iter_as_int64(&names) : 0);
      g_string_append(o, "</li>");
   }
   if (bson_iter_recurse(c, &names) && bson_iter_find(&names, "unmapped_more")) {
      g_string_append(o, "<li class=\"note\">and ");
      mn_report__count(o, (uint64_t)mn_report__int(&names, "paths"));
      g_string_append(o, " more paths (names are kept for the first ones)</li>");
   }
   g_string_append(o, "</ul></td>");
}

static void
drift_section(page_t *p)
{
   bson_iter_t it;

   g_string_append(p->out, "<h2>Schema drift: unmapped source paths</h2>\n");
   if (!p->sum.unmapped_paths) {
      g_string_append(p->out, "<p class=\"note\">Every source path is mapped or "
                              "ignored.</p>\n");
      return;
   }
   g_string_append(p->out, "<table id=\"drift\"><thead><tr><th>collection</th>"
                           "<th class=\"num\">paths</th><th class=\"num\">in documents</th>"
                           "<th>paths (documents)</th></tr></thead>\n<tbody>\n");
   if (mn_report__child(&p->stats, "collections", &it)) {
      while (bson_iter_next(&it)) {
         if (!mn_report__int(&it, "unmapped_documents")) {
            continue;
         }
         g_string_append(p->out, "<tr>");
         mn_report__tag(p->out, "td", NULL, bson_iter_key(&it));
         mn_report__count_cell(p->out, (uint64_t)mn_report__int(&it, "unmapped_paths"));
         mn_report__count_cell(p->out, (uint64_t)mn_report__int(&it, "unmapped_documents"));
         drift_names(p->out, &it);
         g_string_append(p->out, "</tr>\n");
      }
   }
   g_string_append(p->out, "</tbody></table>\n");
}

/* One coercion counter's line: the table's name on its first line only, the column and
 * what was done ("column: kind") in two cells. */
static void
coercion_row(GString *o, const char *table, bool first, const bson_iter_t *k)
{
   const char *key = bson_iter_key(k);
   const char *sep = strstr(key, ": ");
   char *column = sep ? g_strndup(key, (size_t)(sep - key)) : NULL;

   g_string_append(o, first ? "<tr class=\"first\">" : "<tr>");
   mn_report__tag(o, "td", NULL, first ? table : "");
   g_string_append(o, "<td>");
   if (column) {
      mn_report__tag(o, "code", NULL, column);
   }
   g_string_append(o, "</td>");
   mn_report__tag(o, "td", NULL, sep ? sep + 2 : key);
   mn_report__count_cell(o, BSON_ITER_HOLDS_NUMBER(k) ? (uint64_t)bson_iter_as_int64(k) : 0);
   g_string_append(o, "</tr>\n");
   g_free(column);
}

static void
coercions_section(page_t *p)
{
   bson_iter_t it, k;

   g_string_append(p->out, "<h2>Coerced values by column</h2>\n");
   if (!p->sum.coerced) {
      g_string_append(p->out, "<p class=\"note\">No value was coerced.</p>\n");
      return;
   }
   g_string_append(p->out, "<table id=\"coercions\"><thead><tr><th>table</th><th>column</th>"
                           "<th>what was done</th><th class=\"num\">values</th></tr></thead>\n"
                           "<tbody>\n");
   if (mn_report__child(&p->stats, "tables", &it)) {
      while (bson_iter_next(&it)) {
         bool first = true;
         if (!mn_report__child(&it, "coercions", &k)) {
            continue;
         }
         while (bson_iter_next(&k)) {
            coercion_row(p->out, bson_iter_key(&it), first, &k);
            first = false;
         }
      }
   }
   g_string_append(p->out, "</tbody></table>\n<p class=\"note\">A coerced value was changed "
                           "or stored as NULL by the column's policy: the document was "
                           "loaded.</p>\n");
}

/* A statistics JSON text as a document: empty when it does not parse (it always does). */
static bson_t *
parse(char *json)
{
   bson_t *doc = json ? bson_new_from_json((const uint8_t *)json, -1, NULL) : NULL;

   bson_free(json);
   return doc ? doc : bson_new();
}

char *
mn_report_run_html(const mn_stats_t *stats, const mn_report_run_t *run)
{
   page_t p = {.out = g_string_new(NULL)};
   bson_t *st = parse(mn_stats_to_json(stats));
   bson_t *ex = parse(mn_stats_reject_examples_to_json(stats));
   bson_t wrap_st, wrap_ex;
   char *html;

   mn_report__root(st, &wrap_st, &p.stats);
   mn_report__root(ex, &wrap_ex, &p.examples);
   add_totals(&p);
   header(&p, run);
   outcome(&p, run, mn_stats_is_dry_run(stats));
   cards(&p);
   charts(&p);
   collections_table(&p);
   tables_table(&p);
   rejects_section(&p);
   drift_section(&p);
   coercions_section(&p);
   mn_report__page_end(p.out);
   html = bson_strdup(p.out->str);
   g_string_free(p.out, TRUE);
   bson_destroy(&wrap_st);
   bson_destroy(&wrap_ex);
   bson_destroy(st);
   bson_destroy(ex);
   return html;
}
