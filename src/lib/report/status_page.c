/*
 * status_page.c - the HTML page across recorded runs (mn_report_status_html, report.h).
 *
 * Written from what `status` reads: mongonorm.runs (each run's times, outcome and
 * statistics document, the same JSON as a run's --report) and, when asked, the pending
 * changes per collection.  The chart shows the documents each run changed, oldest run
 * first: during a cutover the bars shrink run after run as the target catches up.
 */
#include <mongonorm/report.h>

#include "report/report_private.h"

#include <string.h>

/* The charts show at most this many runs (the newest); the table shows every run. */
#define CHART_RUNS 40

/* One run's sums over its collections and tables. */
typedef struct {
   uint64_t read, loaded, unchanged, rejected, deleted, changed, rows;
   bool has_report; /* a run still running, or interrupted, has none */
} run_sums_t;

static run_sums_t
run_sums(const bson_iter_t *run)
{
   run_sums_t s = {0};
   bson_iter_t rep, it;

   if (!bson_iter_recurse(run, &rep) || !bson_iter_find(&rep, "report") ||
       !BSON_ITER_HOLDS_DOCUMENT(&rep)) {
      return s;
   }
   s.has_report = true;
   if (mn_report__child(&rep, "collections", &it)) {
      while (bson_iter_next(&it)) {
         uint64_t loaded = (uint64_t)mn_report__int(&it, "loaded");
         uint64_t unchanged = (uint64_t)mn_report__int(&it, "unchanged");
         uint64_t deleted = (uint64_t)mn_report__int(&it, "deleted");
         s.read += (uint64_t)mn_report__int(&it, "read");
         s.loaded += loaded;
         s.unchanged += unchanged;
         s.rejected += (uint64_t)mn_report__int(&it, "rejected");
         s.deleted += deleted;
         s.changed += (loaded > unchanged ? loaded - unchanged : 0) + deleted;
      }
   }
   if (mn_report__child(&rep, "tables", &it)) {
      while (bson_iter_next(&it)) {
         s.rows += (uint64_t)(mn_report__int(&it, "inserted") + mn_report__int(&it, "updated") +
                              mn_report__int(&it, "deleted"));
      }
   }
   return s;
}

/* A timestamptz as PostgreSQL writes it in UTC ("2026-12-02 05:00:53.202762+00") without
 * its fraction: "2026-12-02 05:00:53 UTC". */
static void
pg_time(GString *out, const char *text)
{
   size_t n;

   if (!text) {
      g_string_append(out, "\xe2\x80\x93");
      return;
   }
   n = strcspn(text, ".+");
   g_string_append_len(out, text, (gssize)MIN(n, 40));
   if (strstr(text, "+00")) {
      g_string_append(out, " UTC");
   }
}

/* The title (the newest run's database), its source and mapping, and when. */
static void
header(GString *out, const bson_iter_t *runs, size_t n_runs, int64_t generated_at)
{
   bson_iter_t newest = *runs;
   bool any = bson_iter_next(&newest);
   char *db = any ? mn_report__database_of(mn_report__str(&newest, "source")) : NULL;
   char *title = g_strdup_printf("mongonorm status \xc2\xb7 %s", db ? db : "recorded runs");
   GString *s = g_string_new(NULL);

   mn_report__page_begin(out, title);
   g_string_append(out, "<div class=\"meta\">");
   if (any && mn_report__str(&newest, "source")) {
      mn_report__meta_item(out, "Source", mn_report__str(&newest, "source"));
   }
   if (any && mn_report__str(&newest, "mapping")) {
      mn_report__meta_item(out, "Mapping", mn_report__str(&newest, "mapping"));
   }
   g_string_append(out, "<span class=\"br\"></span>");
   g_string_printf(s, "%zu", n_runs);
   mn_report__meta_item(out, "Runs shown", s->str);
   if (any) {
      g_string_truncate(s, 0);
      pg_time(s, mn_report__str(&newest, "started_at"));
      mn_report__meta_item(out, "Newest run", s->str);
   }
   g_string_truncate(s, 0);
   mn_report__time(s, generated_at);
   mn_report__meta_item(out, "Written", s->str);
   g_string_append(out, "</div>\n</div></header>\n<main>\n");
   g_string_free(s, TRUE);
   g_free(title);
   g_free(db);
}

/* Changes waiting now (status --source): new + changed + deleted over the collections. */
static bool
pending_total(const bson_t *status, uint64_t *total)
{
   bson_iter_t it, c;

   *total = 0;
   if (!bson_iter_init_find(&it, status, "collections") || !bson_iter_recurse(&it, &c)) {
      return false;
   }
   while (bson_iter_next(&c)) {
      *total += (uint64_t)(mn_report__int(&c, "new") + mn_report__int(&c, "changed") +
                           mn_report__int(&c, "deleted"));
   }
   return true;
}

static void
cards(GString *out, const bson_t *status, const bson_iter_t *runs, size_t n_runs)
{
   bson_iter_t newest = *runs;
   run_sums_t last = {0};
   uint64_t waiting;

   if (bson_iter_next(&newest)) {
      last = run_sums(&newest);
   }
   g_string_append(out, "<div class=\"cards\">\n");
   mn_report__card(out, "runs", n_runs, NULL);
   mn_report__card(out, "changed, last run", last.changed, NULL);
   mn_report__card(out, "rejected, last run", last.rejected, last.rejected ? "warn" : NULL);
   mn_report__card(out, "rows, last run", last.rows, NULL);
   if (pending_total(status, &waiting)) {
      mn_report__card(out, "waiting now", waiting, waiting ? "warn" : NULL);
   }
   g_string_append(out, "</div>\n");
}

/* Documents changed and rejected per run, the newest CHART_RUNS, oldest first. */
static void
runs_chart(GString *out, const bson_iter_t *runs, size_t n_runs)
{
   static const char *const names[] = {"documents changed (new, changed, deleted)",
                                       "documents rejected"};
   static const char *const colours[] = {"#1565c0", "#e65100"};
   size_t n = MIN(n_runs, (size_t)CHART_RUNS);
   char **labels = g_new0(char *, n + 1);
   uint64_t *values = g_new0(uint64_t, 2 * n + 2);
   mn_report_chart_t c = {"runs-chart",
                          "Documents changed per run (oldest first): the lag of "
                          "the target",
                          n,
                          (const char *const *)labels,
                          2,
                          names,
                          colours,
                          values,
                          0};
   bson_iter_t it = *runs;

   for (size_t i = 0; i < n && bson_iter_next(&it); i++) {
      run_sums_t s = run_sums(&it);
      size_t slot = n - 1 - i; /* the runs come newest first */
      labels[slot] = g_strdup_printf("run %lld", (long long)mn_report__int(&it, "id"));
      values[2 * slot] = s.changed;
      values[2 * slot + 1] = s.rejected;
   }
   mn_report__column_chart(out, &c);
   g_strfreev(labels);
   g_free(values);
}

/* One run's line: id, start, duration, outcome, then its sums. */
static void
run_row(GString *out, const bson_iter_t *run)
{
   run_sums_t s = run_sums(run);
   const char *outcome = mn_report__str(run, "outcome");
   const char *known[] = {"success", "failed", "interrupted", "running"};
   const char *cls = "other";
   uint64_t values[] = {s.read, s.loaded, s.unchanged, s.rejected, s.deleted, s.changed, s.rows};

   for (size_t k = 0; outcome && k < G_N_ELEMENTS(known); k++) {
      cls = strcmp(outcome, known[k]) ? cls : known[k];
   }
   g_string_append_printf(out, "<tr><td class=\"num\">%lld</td><td>",
                          (long long)mn_report__int(run, "id"));
   pg_time(out, mn_report__str(run, "started_at"));
   g_string_append(out, "</td><td class=\"num\">");
   mn_report__duration(out, mn_report__double(run, "seconds"));
   g_string_append_printf(out, "</td><td><span class=\"badge %s\">", cls);
   mn_report__esc(out, outcome ? outcome : "unknown");
   g_string_append(out, "</span></td>");
   for (size_t k = 0; k < G_N_ELEMENTS(values); k++) {
      if (s.has_report) {
         mn_report__count_cell(out, values[k]);
      } else {
         g_string_append(out, "<td class=\"num zero\">\xe2\x80\x93</td>");
      }
   }
   g_string_append(out, "</tr>\n");
}

static void
runs_table(GString *out, const bson_iter_t *runs)
{
   bson_iter_t it = *runs;

   g_string_append(out, "<h2>Recorded runs, newest first</h2>\n<table id=\"runs\"><thead><tr>"
                        "<th class=\"num\">run</th><th>started</th><th class=\"num\">duration"
                        "</th><th>outcome</th><th class=\"num\">read</th><th class=\"num\">"
                        "loaded</th><th class=\"num\">unchanged</th><th class=\"num\">rejected"
                        "</th><th class=\"num\">deleted</th><th class=\"num\">changed</th>"
                        "<th class=\"num\">rows written</th></tr></thead>\n<tbody>\n");
   while (bson_iter_next(&it)) {
      run_row(out, &it);
   }
   g_string_append(out, "</tbody></table>\n<p class=\"note\">Changed: documents converted and "
                        "written again (new or changed) plus documents deleted; unchanged "
                        "documents are skipped by their digest. Rows written: inserted, "
                        "updated and deleted rows.</p>\n");
}

/* What the next run would do per collection, when status read the source. */
static void
pending_section(GString *out, const bson_t *status)
{
   static const char *const keys[] = {"source",  "new",       "changed",
                                      "deleted", "unchanged", "rejected_before"};
   bson_iter_t it, c;

   if (!bson_iter_init_find(&it, status, "collections") || !bson_iter_recurse(&it, &c)) {
      return;
   }
   g_string_append(out, "<h2>Waiting now: what the next run would change</h2>\n");
   if (bson_iter_init_find(&it, status, "mapping_changed") && bson_iter_as_bool(&it)) {
      g_string_append(out, "<div class=\"outcome warn\">The mapping changed since the last run: "
                           "every document will be converted again</div>\n");
   }
   g_string_append(out, "<table id=\"pending\"><thead><tr><th>collection</th><th class=\"num\">"
                        "in the source</th><th class=\"num\">new</th><th class=\"num\">changed"
                        "</th><th class=\"num\">deleted</th><th class=\"num\">unchanged</th>"
                        "<th class=\"num\">rejected before</th></tr></thead>\n<tbody>\n");
   while (bson_iter_next(&c)) {
      g_string_append(out, "<tr>");
      mn_report__tag(out, "td", NULL, bson_iter_key(&c));
      for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
         mn_report__count_cell(out, (uint64_t)mn_report__int(&c, keys[k]));
      }
      g_string_append(out, "</tr>\n");
      if (mn_report__int(&c, "changed_behind_watermark") > 0) {
         g_string_append(out, "<tr><td class=\"sub\" colspan=\"7\">");
         mn_report__count(out, (uint64_t)mn_report__int(&c, "changed_behind_watermark"));
         g_string_append(out, " changed documents with ");
         mn_report__tag(out, "code", NULL, mn_report__str(&c, "watermark_field"));
         g_string_append(out, " not past the watermark: the next whole read (--full-every) or "
                              "<code>run --full</code> applies them</td></tr>\n");
      }
   }
   g_string_append(out, "</tbody></table>\n");
}

char *
mn_report_status_html(const bson_t *status, int64_t generated_at)
{
   GString *out = g_string_new(NULL);
   bson_t *none = BCON_NEW("runs", "[", "]");
   bson_iter_t top, runs;
   size_t n_runs = 0;
   char *html;

   if (!bson_iter_init_find(&top, status, "runs") || !BSON_ITER_HOLDS_ARRAY(&top)) {
      bson_iter_init_find(&top, none, "runs"); /* no runs recorded: an empty list */
   }
   bson_iter_recurse(&top, &runs);
   for (bson_iter_t it = runs; bson_iter_next(&it);) {
      n_runs++;
   }
   header(out, &runs, n_runs, generated_at);
   cards(out, status, &runs, n_runs);
   if (n_runs) {
      runs_chart(out, &runs, n_runs);
      runs_table(out, &runs);
   } else {
      g_string_append(out, "<p class=\"note\">No run is recorded yet.</p>\n");
   }
   pending_section(out, status);
   mn_report__page_end(out);
   html = bson_strdup(out->str);
   g_string_free(out, TRUE);
   bson_destroy(none);
   return html;
}
