/*
 * mongonorm/report.h - reports people read: one self-contained HTML page for a run
 * (`run --report-html`), and one across the recorded runs (`status --html`).
 *
 * A page loads nothing and runs no script: its style is inline CSS and its charts are
 * inline SVG, so it opens the same from a mail attachment, a ticket or a file share, with
 * no network.  It is written from the statistics (stats.h) and the recorded runs
 * (status.h) and holds only what they hold: counts and timings; names of collections,
 * tables, columns and field paths; reject reasons by kind (quoted values already blanked
 * to "..."); the `_id`s of some rejected documents; unmapped paths by name only after
 * mn_stats_set_show_drift().  Never a value of the source.  Every text put into the page
 * is HTML-escaped (&, <, >, ", ') and made valid UTF-8.
 */
#ifndef MONGONORM_REPORT_H
#define MONGONORM_REPORT_H

#include <bson/bson.h>
#include <mongonorm/stats.h>

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a run page says about the run besides its statistics. */
typedef struct {
   const char *location;    /**< the source as given to the run (a folder, or a mongodb:// URI:
                                 shown as its hosts and database only, never its credentials
                                 or options); NULL: not shown */
   const char *database;    /**< the database read (--db), or NULL: the URI's, or the
                                 folder's name */
   const char *mapping;     /**< the mapping file's path, or NULL */
   const char *reject_path; /**< where the rejected documents went, or NULL */
   int64_t started_at;      /**< when the run started, Unix time in seconds (UTC) */
   int64_t finished_at;     /**< when it ended, Unix time in seconds */
   bool failed;             /**< the run stopped before its end (mn_run() returned false) */
   const char *message;     /**< why, when failed: the error's message (mongonorm's messages
                                 name objects, not values); NULL: not shown */
} mn_report_run_t;

/**
 * The HTML page of one run: its outcome and timings; per collection the documents read,
 * loaded, unchanged, rejected and deleted; per table the rows inserted, updated, deleted,
 * unchanged, rejected, merged, skipped and coerced; rejected documents by reason with up
 * to MN_STATS_REJECT_EXAMPLES examples each (`_id`, field path, target column); unmapped
 * source paths (drift); coerced values by column; and two bar charts (SVG): rows per
 * table, and rejected documents per reason.
 * @param stats the run's statistics (borrowed; as far as the run got when it failed)
 * @param run   borrowed; never NULL
 * @return the page, a new string (free with bson_free()); never NULL
 */
char *mn_report_run_html(const mn_stats_t *stats, const mn_report_run_t *run);

/**
 * The HTML page across recorded runs: a table of the runs (start, duration, outcome,
 * documents read, loaded, rejected, changed, rows written) and a bar chart (SVG) of the
 * documents each run changed and rejected, oldest first, so the lag of the target shows
 * shrinking run after run; with what mn_status_pending() adds, the changes waiting now
 * per collection.
 * @param status       what mn_status_runs() (and optionally mn_status_pending()) filled:
 *                     {"runs": [...], "collections": {...}, "mapping_changed": bool};
 *                     borrowed
 * @param generated_at when the page is written, Unix time in seconds (UTC)
 * @return the page, a new string (free with bson_free()); never NULL
 */
char *mn_report_status_html(const bson_t *status, int64_t generated_at);

#ifdef __cplusplus
}
#endif
#endif
