/*
 * page.c - the parts every report page shares (report_private.h): escaped text, numbers
 * and times, the frame and style of a page, summary cards, and the SVG bar charts.
 *
 * The pages are plain HTML5 with one <style> element and inline <svg> elements: nothing is
 * loaded, nothing runs.  Charts are drawn in a fixed coordinate system (viewBox) that the
 * browser scales to the page's width; every bar is a <g class="bar"> so that a reader (or
 * a test) can count them.
 */
#include "report/report_private.h"

#include <mongonorm/version.h>

#include <math.h>
#include <string.h>
#include <time.h>

/* Chart geometry, in the viewBox's units (pixels at 100%). */
#define CHART_WIDTH 1040
#define HBAR_ROW 26
#define HBAR_HEIGHT 16
#define HBAR_LABEL_ABOVE 18
#define LEGEND_HEIGHT 26
#define COLUMN_PLOT_HEIGHT 220

static const char PAGE_STYLE[] =
   ":root{--ink:#1f2933;--muted:#616e7c;--line:#d9e2ec;--bg:#f5f7fa;--ok:#2e7d32;"
   "--warn:#b26a00;--bad:#c62828;--accent:#1565c0}\n"
   "*{box-sizing:border-box}\n"
   "body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,"
   "'Segoe UI',Roboto,'DejaVu Sans',Helvetica,Arial,sans-serif}\n"
   "header.top{background:#102a43;color:#fff;padding:22px 0 18px}\n"
   "header.top>div,main{max-width:1120px;margin:0 auto;padding-left:32px;padding-right:32px}\n"
   "main{padding-top:8px;padding-bottom:40px}\n"
   "h1{font-size:24px;margin:0 0 6px;font-weight:650}\n"
   "h2{font-size:17px;margin:30px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--line)}\n"
   ".meta{margin:0;color:#bcccdc;display:flex;flex-wrap:wrap;gap:2px 20px}\n"
   ".meta b{color:#fff;font-weight:600;word-break:break-all}.meta .br{flex-basis:100%;height:0}\n"
   ".outcome{margin:18px 0 8px;padding:12px 16px;border-radius:6px;border-left:6px solid;"
   "background:#fff;font-weight:600;box-shadow:0 1px 2px rgba(16,42,67,.08)}\n"
   ".outcome.ok{border-color:var(--ok)}.outcome.warn{border-color:var(--warn)}"
   ".outcome.bad{border-color:var(--bad)}\n"
   ".outcome small{display:block;font-weight:400;color:var(--muted);margin-top:2px}\n"
   ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:12px;"
   "margin:14px 0}\n"
   ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px}\n"
   ".card .n{font-size:24px;font-weight:700;font-variant-numeric:tabular-nums}\n"
   ".card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}\n"
   ".card.warn .n{color:var(--warn)}.card.bad .n{color:var(--bad)}\n"
   "table{width:100%;border-collapse:separate;border-spacing:0;background:#fff;"
   "border:1px solid var(--line);border-radius:8px;overflow:hidden;margin:8px 0 4px}\n"
   "th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line);"
   "vertical-align:top}\n"
   "tr:last-child td{border-bottom:0}\n"
   "th{background:#eef2f7;font-size:11.5px;text-transform:uppercase;letter-spacing:.03em;"
   "color:var(--muted);font-weight:600}\n"
   "tbody tr:nth-child(even){background:#fafbfc}\n"
   "#coercions tbody tr{background:#fff}#coercions tr.first td{border-top:2px solid var(--line)}\n"
   "#coercions td{border-bottom:0;padding-top:3px;padding-bottom:3px}\n"
   "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
   "td.zero{color:#bcccdc}td.sub{padding-left:26px;color:var(--muted)}\n"
   "code{font:12px/1.4 'DejaVu Sans Mono',Menlo,Consolas,monospace;background:#eef2f7;"
   "border-radius:3px;padding:1px 4px;word-break:break-all}\n"
   "ul.ex{margin:0;padding-left:0;list-style:none}ul.ex li{margin:1px 0}\n"
   ".badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;"
   "font-weight:600;color:#fff;background:var(--muted)}\n"
   ".badge.success{background:var(--ok)}.badge.failed{background:var(--bad)}"
   ".badge.interrupted{background:var(--warn)}.badge.running{background:var(--accent)}\n"
   "figure{margin:12px 0;background:#fff;border:1px solid var(--line);border-radius:8px;"
   "padding:14px 16px}\n"
   "figcaption{font-weight:600;margin-bottom:6px}\n"
   "svg{display:block;width:100%;height:auto}svg text{font-family:inherit}\n"
   ".note{color:var(--muted)}\n"
   "footer{color:var(--muted);font-size:12px;margin-top:36px;border-top:1px solid var(--line);"
   "padding-top:10px}\n";

/* Append one code point that needs no escaping, or its entity. */
static void
esc_char(GString *out, gunichar c)
{
   switch (c) {
   case '&': g_string_append(out, "&amp;"); break;
   case '<': g_string_append(out, "&lt;"); break;
   case '>': g_string_append(out, "&gt;"); break;
   case '"': g_string_append(out, "&quot;"); break;
   case '\'': g_string_append(out, "&#39;"); break;
   default:
      if ((c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c < 0xa0)) {
         c = 0xfffd; /* a control character: nothing a reader can see */
      }
      g_string_append_unichar(out, c);
   }
}

void
mn_report__esc_cut(GString *out, const char *text, size_t max_chars)
{
   char *valid;
   size_t n = 0;

   if (!text) {
      return;
   }
   valid = g_utf8_make_valid(text, -1); /* invalid bytes become U+FFFD */
   for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
      if (n++ == max_chars) {
         g_string_append(out, "\xe2\x80\xa6"); /* ... */
         break;
      }
      esc_char(out, g_utf8_get_char(p));
   }
   g_free(valid);
}

void
mn_report__esc(GString *out, const char *text)
{
   mn_report__esc_cut(out, text, SIZE_MAX);
}

void
mn_report__tag(GString *out, const char *tag, const char *cls, const char *text)
{
   g_string_append_printf(out, "<%s", tag);
   if (cls) {
      g_string_append_printf(out, " class=\"%s\"", cls);
   }
   g_string_append_c(out, '>');
   mn_report__esc(out, text);
   g_string_append_printf(out, "</%s>", tag);
}

void
mn_report__count(GString *out, uint64_t n)
{
   char digits[32];
   size_t len = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);

   for (size_t i = 0; i < len; i++) {
      if (i > 0 && (len - i) % 3 == 0) {
         g_string_append_c(out, ',');
      }
      g_string_append_c(out, digits[i]);
   }
}

void
mn_report__count_cell(GString *out, uint64_t n)
{
   g_string_append(out, n ? "<td class=\"num\">" : "<td class=\"num zero\">");
   mn_report__count(out, n);
   g_string_append(out, "</td>");
}

void
mn_report__duration(GString *out, double s)
{
   if (!(s >= 0)) {
      g_string_append(out, "\xe2\x80\x93"); /* unknown: a dash */
   } else if (s < 60) {
      g_string_append_printf(out, "%.2f s", s);
   } else if (s < 3600) {
      g_string_append_printf(out, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
   } else {
      g_string_append_printf(out, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
   }
}

void
mn_report__time(GString *out, int64_t t)
{
   time_t tt = (time_t)t;
   struct tm tm;
   char buf[64];

   if (gmtime_r(&tt, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)) {
      g_string_append(out, buf);
   }
}

void
mn_report__page_begin(GString *out, const char *title)
{
   g_string_append(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta name=\"generator\" content=\"mongonorm ");
   mn_report__esc(out, mn_version());
   g_string_append(out, "\">\n<title>");
   mn_report__esc(out, title);
   g_string_append_printf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", PAGE_STYLE);
   g_string_append(out, "<header class=\"top\"><div>\n");
   mn_report__tag(out, "h1", NULL, title);
   g_string_append_c(out, '\n');
}

void
mn_report__page_end(GString *out)
{
   g_string_append(out, "<footer>Written by mongonorm ");
   mn_report__esc(out, mn_version());
   g_string_append(out, ". Counts, names and <code>_id</code>s only: no value of the source "
                        "is in this page.</footer>\n</main>\n</body>\n</html>\n");
}

void
mn_report__card(GString *out, const char *label, uint64_t n, const char *cls)
{
   g_string_append_printf(out, "<div class=\"card%s%s\"><div class=\"n\">", cls ? " " : "",
                          cls ? cls : "");
   mn_report__count(out, n);
   g_string_append(out, "</div>");
   mn_report__tag(out, "div", "l", label);
   g_string_append(out, "</div>\n");
}

/* The figure, its caption, the <svg> start with its <title>, and the legend (one swatch
 * per series, from legend_x) along the top. */
static void
chart_begin(GString *out, const mn_report_chart_t *c, int height, int legend_x)
{
   g_string_append(out, "<figure>\n<figcaption>");
   mn_report__esc(out, c->title);
   g_string_append_printf(out,
                          "</figcaption>\n<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                          "viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"%s-title\">"
                          "<title id=\"%s-title\">",
                          c->id, CHART_WIDTH, height, c->id, c->id);
   mn_report__esc(out, c->title);
   g_string_append(out, "</title>\n");
   for (size_t s = 0; s < c->n_series && c->n_series > 1; s++) {
      g_string_append_printf(out,
                             "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"12\" rx=\"2\" "
                             "fill=\"%s\"/><text x=\"%d\" y=\"14.5\" font-size=\"12\" "
                             "fill=\"#52606d\">",
                             legend_x, c->colours[s], legend_x + 17);
      mn_report__esc(out, c->series_names[s]);
      g_string_append(out, "</text>");
      legend_x += 30 + 7 * (int)g_utf8_strlen(c->series_names[s], -1);
   }
   g_string_append_c(out, '\n');
}

static void
chart_end(GString *out)
{
   g_string_append(out, "</svg>\n</figure>\n");
}

static uint64_t
bar_total(const mn_report_chart_t *c, size_t i)
{
   uint64_t t = 0;

   for (size_t s = 0; s < c->n_series; s++) {
      t += c->values[i * c->n_series + s];
   }
   return t;
}

/* A segment's tooltip: "<label> - <series>: <count>". */
static void
segment_title(GString *out, const mn_report_chart_t *c, size_t i, size_t s, uint64_t v)
{
   g_string_append(out, "<title>");
   mn_report__esc(out, c->labels[i]);
   g_string_append(out, " \xe2\x80\x93 ");
   mn_report__esc(out, c->series_names[s]);
   g_string_append(out, ": ");
   mn_report__count(out, v);
   g_string_append(out, "</title>");
}

/* A bar's label: right-aligned left of the bar, or above it (label_width 0). */
static void
bar_label(GString *out, const mn_report_chart_t *c, size_t i, int y)
{
   if (c->label_width > 0) {
      g_string_append_printf(out,
                             "<text x=\"%d\" y=\"%d\" font-size=\"12.5\" text-anchor=\"end\" "
                             "fill=\"#1f2933\">",
                             c->label_width - 10, y + 13);
      mn_report__esc_cut(out, c->labels[i], (size_t)((c->label_width - 10) / 7.4));
   } else {
      g_string_append_printf(out, "<text x=\"0\" y=\"%d\" font-size=\"12.5\" fill=\"#1f2933\">",
                             y - 5);
      mn_report__esc_cut(out, c->labels[i], (size_t)(CHART_WIDTH / 7.4));
   }
   g_string_append(out, "</text>");
}

/*
 * A horizontal bar chart: the label right-aligned in the left `label_width` pixels (or,
 * when that is 0, above the bar), then the bar (the series stacked, scaled to the largest
 * total), then the total.  A segment of a non-zero count is at least one pixel wide, so
 * that no count disappears.
 */
void
mn_report__hbar_chart(GString *out, const mn_report_chart_t *c)
{
   int above = c->label_width > 0 ? 0 : HBAR_LABEL_ABOVE;
   int top = (c->n_series > 1 ? LEGEND_HEIGHT : 4) + above;
   int height = top + (int)c->n * (HBAR_ROW + above) + 4 - above;
   int x0 = c->label_width;
   double plot = CHART_WIDTH - x0 - 90;
   uint64_t max = 1;

   for (size_t i = 0; i < c->n; i++) {
      max = MAX(max, bar_total(c, i));
   }
   chart_begin(out, c, height, x0);
   for (size_t i = 0; i < c->n; i++) {
      int y = top + (int)i * (HBAR_ROW + above);
      double x = x0;
      g_string_append(out, "<g class=\"bar\">");
      bar_label(out, c, i, y);
      for (size_t s = 0; s < c->n_series; s++) {
         uint64_t v = c->values[i * c->n_series + s];
         double w = v ? MAX(1.0, plot * (double)v / (double)max) : 0;
         if (!v) {
            continue;
         }
         g_string_append_printf(out,
                                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                                "fill=\"%s\">",
                                x, y, w, HBAR_HEIGHT, c->colours[s]);
         segment_title(out, c, i, s, v);
         g_string_append(out, "</rect>");
         x += w;
      }
      g_string_append_printf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" fill=\"#52606d\">",
                             x + 6, y + 13);
      mn_report__count(out, bar_total(c, i));
      g_string_append(out, "</text></g>\n");
   }
   chart_end(out);
}

/* The smallest 1, 2 or 5 times a power of ten at or above n (at least 1): the top of a
 * column chart's axis. */
static uint64_t
nice_ceiling(uint64_t n)
{
   uint64_t p = 1;

   while (p * 10 <= n && p <= UINT64_MAX / 10) {
      p *= 10;
   }
   if (n <= p) {
      return p;
   }
   if (n <= 2 * p) {
      return 2 * p;
   }
   return n <= 5 * p ? 5 * p : 10 * p;
}

/* The axis of a column chart: four gridlines with their counts, from 0 to top. */
static void
column_axis(GString *out, int x0, int y0, uint64_t top)
{
   for (int k = 0; k <= 4; k++) {
      int y = y0 - k * COLUMN_PLOT_HEIGHT / 4;
      g_string_append_printf(out,
                             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>"
                             "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\" "
                             "fill=\"#7b8794\">",
                             x0, y, CHART_WIDTH - 10, y, k ? "#e4e7eb" : "#9aa5b1", x0 - 6, y + 4);
      mn_report__count(out, top / 4 * (uint64_t)k + (k == 4 ? top % 4 : 0));
      g_string_append(out, "</text>");
   }
   g_string_append_c(out, '\n');
}

/*
 * A column chart: bars left to right, the series side by side within each bar's slot, each
 * column with its count above it and the bar's label below; the axis runs from 0 to a
 * round number at or above the largest value.  With many bars only every k-th label is
 * written (each column's tooltip still names it).
 */
void
mn_report__column_chart(GString *out, const mn_report_chart_t *c)
{
   int x0 = 64;
   int y0 = LEGEND_HEIGHT + 14 + COLUMN_PLOT_HEIGHT;
   double slot = c->n ? (double)(CHART_WIDTH - 10 - x0) / (double)c->n : 1;
   double bw = MIN(34.0, slot * 0.78 / (double)MAX(c->n_series, 1));
   size_t every = 1 + c->n / 16;
   uint64_t max = 1;

   for (size_t i = 0; i < c->n * c->n_series; i++) {
      max = MAX(max, c->values[i]);
   }
   max = nice_ceiling(max);
   chart_begin(out, c, y0 + 34, x0);
   column_axis(out, x0, y0, max);
   for (size_t i = 0; i < c->n; i++) {
      double left = x0 + slot * (double)i + (slot - bw * (double)c->n_series) / 2;
      g_string_append(out, "<g class=\"bar\">");
      for (size_t s = 0; s < c->n_series; s++) {
         uint64_t v = c->values[i * c->n_series + s];
         double h = v ? MAX(1.0, COLUMN_PLOT_HEIGHT * (double)v / (double)max) : 0;
         double x = left + bw * (double)s;
         g_string_append_printf(out,
                                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                "fill=\"%s\">",
                                x, y0 - h, bw - 2, h, c->colours[s]);
         segment_title(out, c, i, s, v);
         g_string_append_printf(out,
                                "</rect><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                                "text-anchor=\"middle\" fill=\"#52606d\">",
                                x + (bw - 2) / 2, y0 - h - 4);
         mn_report__count(out, v);
         g_string_append(out, "</text>");
      }
      if (i % every == 0 || i + 1 == c->n) {
         g_string_append_printf(out,
                                "<text x=\"%.1f\" y=\"%d\" font-size=\"11.5\" "
                                "text-anchor=\"middle\" fill=\"#1f2933\">",
                                x0 + slot * ((double)i + 0.5), y0 + 18);
         mn_report__esc_cut(out, c->labels[i], 14);
         g_string_append(out, "</text>");
      }
      g_string_append(out, "</g>\n");
   }
   chart_end(out);
}

/* ---- reading a statistics document ---- */

static bool
find_in(const bson_iter_t *it, const char *key, bson_iter_t *found)
{
   return bson_iter_recurse(it, found) && bson_iter_find(found, key);
}

int64_t
mn_report__int(const bson_iter_t *it, const char *key)
{
   bson_iter_t f;

   return find_in(it, key, &f) && BSON_ITER_HOLDS_NUMBER(&f) ? bson_iter_as_int64(&f) : 0;
}

double
mn_report__double(const bson_iter_t *it, const char *key)
{
   bson_iter_t f;

   return find_in(it, key, &f) && BSON_ITER_HOLDS_NUMBER(&f) ? bson_iter_as_double(&f) : -1;
}

const char *
mn_report__str(const bson_iter_t *it, const char *key)
{
   bson_iter_t f;

   return find_in(it, key, &f) && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL) : NULL;
}

bool
mn_report__child(const bson_iter_t *it, const char *key, bson_iter_t *child)
{
   bson_iter_t f;

   return find_in(it, key, &f) && (BSON_ITER_HOLDS_DOCUMENT(&f) || BSON_ITER_HOLDS_ARRAY(&f)) &&
          bson_iter_recurse(&f, child);
}

bool
mn_report__root(const bson_t *doc, bson_t *wrap, bson_iter_t *it)
{
   bson_init(wrap);
   return BSON_APPEND_DOCUMENT(wrap, "root", doc) && bson_iter_init_find(it, wrap, "root");
}

char *
mn_report__database_of(const char *description)
{
   const char *slash;
   size_t len;

   if (!description) {
      return NULL;
   }
   len = strlen(description);
   while (len > 1 && description[len - 1] == '/') {
      len--; /* "dump/medichat/" */
   }
   slash = g_strrstr_len(description, (gssize)len, "/");
   if (!slash || slash + 1 >= description + len) {
      return NULL;
   }
   return g_strndup(slash + 1, (size_t)(description + len - slash - 1));
}

void
mn_report__meta_item(GString *out, const char *label, const char *value)
{
   g_string_append_printf(out, "<span>%s <b>", label);
   mn_report__esc(out, value);
   g_string_append(out, "</b></span>");
}
