/*
 * report_private.h - what the pages of report/ share (page.c): escaped text, numbers,
 * the page's frame and style, the SVG bar charts, and reading counts out of a statistics
 * document.
 */
#ifndef MN_REPORT_PRIVATE_H
#define MN_REPORT_PRIVATE_H

#include <bson/bson.h>
#include <glib.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Append `text` escaped for HTML text and attributes (&, <, >, ", '), its bytes that are
 *  not UTF-8 and its control characters each replaced by U+FFFD.  NULL appends nothing. */
void mn_report__esc(GString *out, const char *text);

/** As mn_report__esc(), at most `max_chars` characters: a longer text is cut and ends
 *  with an ellipsis. */
void mn_report__esc_cut(GString *out, const char *text, size_t max_chars);

/** Append `<tag class="cls">escaped text</tag>`; cls may be NULL. */
void mn_report__tag(GString *out, const char *tag, const char *cls, const char *text);

/** Append a count with thousands separators (1,234,567). */
void mn_report__count(GString *out, uint64_t n);

/** Append a table cell with a count: right-aligned, greyed when 0. */
void mn_report__count_cell(GString *out, uint64_t n);

/** Append a duration ("0.61 s", "2 min 05 s", "1 h 02 min"). */
void mn_report__duration(GString *out, double seconds);

/** Append Unix time `t` as "2026-12-02 04:43:21 UTC". */
void mn_report__time(GString *out, int64_t t);

/** The document-head, the style, and `<h1>` with the title (escaped); the caller goes on
 *  with the page's body and ends it with mn_report__page_end(). */
void mn_report__page_begin(GString *out, const char *title);

/** The footer ("written by mongonorm X.Y.Z") and the end of the document. */
void mn_report__page_end(GString *out);

/** Append one summary card: a big count and its label. cls: NULL, "warn" or "bad". */
void mn_report__card(GString *out, const char *label, uint64_t n, const char *cls);

/** A bar chart: one bar per label, each made of `n_series` stacked (horizontal chart) or
 *  side-by-side (column chart) segments. */
typedef struct {
   const char *id;                  /**< the <svg> element's id ("rows-chart") */
   const char *title;               /**< what the chart shows, for its <title> and caption */
   size_t n;                        /**< bars */
   const char *const *labels;       /**< n labels (escaped when written; cut if long) */
   size_t n_series;                 /**< segments per bar, 1 to 4 */
   const char *const *series_names; /**< n_series names, shown as the legend */
   const char *const *colours;      /**< n_series fill colours ("#2e7d32") */
   const uint64_t *values;          /**< n * n_series values: bar i, series s at [i*n_series+s] */
   int label_width; /**< horizontal: pixels for the labels left of the bars; 0: each label
                         above its bar, the bars across the whole width */
} mn_report_chart_t;

/** Append a horizontal bar chart as inline SVG: per bar a `<g class="bar">` holding its
 *  label, its segments (`<rect>`, with a <title> giving the count) and its total. */
void mn_report__hbar_chart(GString *out, const mn_report_chart_t *chart);

/** Append a column chart as inline SVG (bars left to right, labels below, series side by
 *  side): per bar a `<g class="bar">`, as mn_report__hbar_chart(). */
void mn_report__column_chart(GString *out, const mn_report_chart_t *chart);

/** The integer at `key` of the document `it` points at (an iterator on a document value),
 *  0 when absent or not a number. */
int64_t mn_report__int(const bson_iter_t *it, const char *key);

/** The double at `key` of the document `it` points at; -1 when absent. */
double mn_report__double(const bson_iter_t *it, const char *key);

/** The string at `key` of the document `it` points at; NULL when absent (borrowed). */
const char *mn_report__str(const bson_iter_t *it, const char *key);

/** Recurse into the sub-document or array at `key` of the document `it` points at.
 *  @return false when there is none */
bool mn_report__child(const bson_iter_t *it, const char *key, bson_iter_t *child);

/** An iterator on `doc` itself, so that the functions above read its fields: `doc` is
 *  copied into `wrap` (bson_destroy() it after use, whatever is returned).
 *  @return false when the copy could not be made */
bool mn_report__root(const bson_t *doc, bson_t *wrap, bson_iter_t *it);

/** The database a source description or location names: the part after the last '/' (a
 *  folder's name, a URI's database).  A new string (g_free()); NULL when it names none. */
char *mn_report__database_of(const char *description);

/** Append `<span>label <b>value</b></span>` (value escaped) to the header's line. */
void mn_report__meta_item(GString *out, const char *label, const char *value);

#endif
