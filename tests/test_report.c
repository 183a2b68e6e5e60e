/*
 * test_report.c - unit tests for report/ (the HTML pages of run --report-html and status
 * --html): every text put into a page is escaped, bytes that are not UTF-8 become U+FFFD,
 * a URI's credentials and options never show, one bar per table and per reason, and the
 * status page's sums per run.  No server needed (the CLI test renders real pages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mongonorm/report.h>
#include <mongonorm/stats.h>

#include <bson/bson.h>
#include <glib.h>
#include <string.h>

/* How many times `needle` occurs in `hay` between `from` and the next `to`. */
static size_t
count_between(const char *hay, const char *from, const char *to, const char *needle)
{
   const char *start = strstr(hay, from);
   const char *end = start ? strstr(start, to) : NULL;
   size_t n = 0;

   assert_non_null(end);
   for (const char *p = start; (p = strstr(p, needle)) && p < end; p += strlen(needle)) {
      n++;
   }
   return n;
}

static const mn_report_run_t RUN = {
   .location = "fixtures/medichat/dump/medichat",
   .mapping = "mapping/medichat.yaml",
   .reject_path = "rejects.jsonl",
   .started_at = 1764650000,
   .finished_at = 1764650061,
};

/* Names that are markup, quotes and ampersands are escaped everywhere: title, tables,
 * chart labels and tooltips, examples; the page holds no element they would make. */
static void
test_report_run_escapes_names(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_report_run_t run = RUN;
   char *html;

   (void)state;
   run.database = "<script>alert('db')</script>";
   mn_stats_collection(s, "<img src=x onerror=alert(1)>")->read = 2;
   mn_stats_collection(s, "<img src=x onerror=alert(1)>")->rejected = 1;
   mn_stats_table(s, "t&\"q\"")->inserted = 3;
   mn_stats_count_reject_example(s, "<img src=x onerror=alert(1)>", "a: value \"...\" <b>bad</b>",
                                 "\"<svg onload=x>\"", "a.'b'", "t&\"q\".<c>");
   mn_stats_count_coercion(s, "t&\"q\"", "<c>", "converted from 'string' & more");
   html = mn_report_run_html(s, &run);

   assert_null(strstr(html, "<script"));
   assert_null(strstr(html, "<img"));
   assert_null(strstr(html, "<svg onload"));
   assert_null(strstr(html, "<b>bad"));
   assert_null(strstr(html, "<c>"));
   assert_non_null(strstr(html, "<title>mongonorm run \xc2\xb7 &lt;script&gt;alert(&#39;db&#39;)"
                                "&lt;/script&gt;</title>"));
   assert_non_null(strstr(html, "<td>&lt;img src=x onerror=alert(1)&gt;</td>"));
   assert_non_null(strstr(html, "<td>t&amp;&quot;q&quot;</td>"));
   assert_non_null(strstr(html, "a: value &quot;...&quot; &lt;b&gt;bad&lt;/b&gt;"));
   assert_non_null(strstr(html, "<code>&quot;&lt;svg onload=x&gt;&quot;</code>"));
   assert_non_null(strstr(html, "<code>a.&#39;b&#39;</code>"));
   assert_non_null(strstr(html, "<code>t&amp;&quot;q&quot;.&lt;c&gt;</code>"));
   assert_non_null(strstr(html, "converted from &#39;string&#39; &amp; more"));
   bson_free(html);
   mn_stats_destroy(s);
}

/* Text that is not UTF-8 (a file name, a message, an example's field path) shows U+FFFD
 * in its place, and so do control characters: the page stays valid UTF-8. */
static void
test_report_run_invalid_utf8(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_report_run_t run = RUN;
   char *html;

   (void)state;
   run.mapping = "caf\xe9.yaml";
   run.failed = true;
   run.message = "bad\x01"
                 "byte";
   mn_stats_count_reject_example(s, "users", "kind", NULL, "na\xefve", NULL);
   html = mn_report_run_html(s, &run);
   assert_true(g_utf8_validate(html, -1, NULL));
   assert_non_null(strstr(html, "<b>caf\xef\xbf\xbd.yaml</b>"));
   assert_non_null(strstr(html, "bad\xef\xbf\xbd"
                                "byte"));
   assert_non_null(strstr(html, "<code>na\xef\xbf\xbd"
                                "ve</code>"));
   bson_free(html);
   mn_stats_destroy(s);
}

/* A mongodb:// location shows as its hosts and database only. */
static void
test_report_run_uri_without_credentials(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_report_run_t run = RUN;
   char *html;

   (void)state;
   run.location = "mongodb://alice:s3cr%40t@db1.example:27017,db2.example/medichat?authSource="
                  "admin&tlsCertificateKeyFilePassword=k3yp4ss";
   html = mn_report_run_html(s, &run);
   assert_non_null(strstr(html, "<b>mongodb://db1.example:27017,db2.example:27017/medichat</b>"));
   assert_non_null(strstr(html, "<title>mongonorm run \xc2\xb7 medichat</title>"));
   assert_null(strstr(html, "alice"));
   assert_null(strstr(html, "s3cr"));
   assert_null(strstr(html, "k3yp4ss"));
   assert_null(strstr(html, "authSource"));
   bson_free(html);
   mn_stats_destroy(s);
}

/* One bar per table in rows-chart, one per reason in rejects-chart, each with a tooltip
 * per non-zero series; the outcome says failed with the message. */
static void
test_report_run_charts(void **state)
{
   mn_stats_t *s = mn_stats_new();
   mn_report_run_t run = RUN;
   char *html;

   (void)state;
   mn_stats_table(s, "users")->inserted = 28;
   mn_stats_table(s, "users")->updated = 2;
   mn_stats_table(s, "messages")->unchanged = 3139;
   mn_stats_table(s, "empty");
   mn_stats_count_reject(s, "users", "role: string \"...\" is not in the enum");
   mn_stats_count_reject(s, "users", "email: duplicate value");
   mn_stats_count_reject(s, "conversations", "patient: dangling");
   run.failed = true;
   run.message = "could not connect to PostgreSQL";
   html = mn_report_run_html(s, &run);
   assert_int_equal(count_between(html, "id=\"rows-chart\"", "</svg>", "<g class=\"bar\">"), 3);
   assert_int_equal(count_between(html, "id=\"rows-chart\"", "</svg>", "<rect x"), 3 + 4);
   assert_int_equal(count_between(html, "id=\"rejects-chart\"", "</svg>", "<g class=\"bar\">"), 3);
   assert_non_null(strstr(html, "<title>users \xe2\x80\x93 updated: 2</title>"));
   assert_non_null(strstr(html, "<title>messages \xe2\x80\x93 unchanged: 3,139</title>"));
   assert_non_null(strstr(html, "<div class=\"outcome bad\">Failed: the run stopped before its "
                                "end<small>could not connect to PostgreSQL. "));
   assert_null(strstr(html, "<script"));
   bson_free(html);
   mn_stats_destroy(s);
}

/* The status page: runs newest first in the table, oldest first in the chart; changed =
 * loaded - unchanged + deleted; a run without statistics (interrupted) shows dashes; the
 * outcome's class only from the known ones; escaped source. */
static void
test_report_status_runs(void **state)
{
   bson_error_t err;
   bson_t *status = bson_new_from_json(
      (const uint8_t *)"{\"runs\": ["
                       "{\"id\": 3, \"started_at\": \"2026-12-02 05:20:00.5+00\", \"outcome\": "
                       "\"interrupted\", \"source\": \"dump folder /x/<b>\"},"
                       "{\"id\": 2, \"started_at\": \"2026-12-02 05:10:00.1+00\", \"seconds\": 1.5,"
                       " \"outcome\": \"\\\"><i>\", \"report\": {\"collections\": {\"users\": "
                       "{\"read\": 30, \"loaded\": 28, \"unchanged\": 20, \"rejected\": 2, "
                       "\"deleted\": 1}}, \"tables\": {\"users\": {\"inserted\": 3, \"updated\": "
                       "5, \"deleted\": 1}}}},"
                       "{\"id\": 1, \"started_at\": \"2026-12-02 05:00:00+00\", \"seconds\": 9,"
                       " \"outcome\": \"success\", \"report\": {\"collections\": {\"users\": "
                       "{\"read\": 30, \"loaded\": 28}}, \"tables\": {}}}]}",
      -1, &err);
   char *html;

   (void)state;
   assert_non_null(status);
   html = mn_report_status_html(status, 1764650000);
   assert_int_equal(count_between(html, "id=\"runs-chart\"", "</svg>", "<g class=\"bar\">"), 3);
   /* oldest first in the chart: run 1's label before run 3's */
   assert_true(strstr(html, ">run 1</text>") < strstr(html, ">run 3</text>"));
   assert_non_null(strstr(html, "<title>run 2 \xe2\x80\x93 documents changed (new, changed, "
                                "deleted): 9</title>"));
   assert_non_null(strstr(html, "<tr><td class=\"num\">2</td><td>2026-12-02 05:10:00 UTC</td>"
                                "<td class=\"num\">1.50 s</td><td><span class=\"badge other\">"
                                "&quot;&gt;&lt;i&gt;</span></td><td class=\"num\">30</td>"
                                "<td class=\"num\">28</td><td class=\"num\">20</td>"
                                "<td class=\"num\">2</td><td class=\"num\">1</td>"
                                "<td class=\"num\">9</td><td class=\"num\">9</td></tr>"));
   assert_non_null(strstr(html, "<span class=\"badge interrupted\">interrupted</span></td>"
                                "<td class=\"num zero\">\xe2\x80\x93</td>"));
   assert_non_null(strstr(html, "<b>dump folder /x/&lt;b&gt;</b>"));
   assert_null(strstr(html, "<i>"));
   assert_null(strstr(html, "id=\"pending\"")); /* status read no source */
   bson_free(html);
   bson_destroy(status);
}

/* No run recorded: a page that says so. */
static void
test_report_status_empty(void **state)
{
   bson_t empty = BSON_INITIALIZER;
   char *html = mn_report_status_html(&empty, 0);

   (void)state;
   assert_non_null(strstr(html, "No run is recorded yet."));
   assert_null(strstr(html, "runs-chart"));
   bson_free(html);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_run_escapes_names),
      cmocka_unit_test(test_report_run_invalid_utf8),
      cmocka_unit_test(test_report_run_uri_without_credentials),
      cmocka_unit_test(test_report_run_charts),
      cmocka_unit_test(test_report_status_runs),
      cmocka_unit_test(test_report_status_empty),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
