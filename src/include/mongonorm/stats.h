/*
 * mongonorm/stats.h - per-entity statistics of a run.
 *
 * Counters per collection (documents) and per table (rows), the reasons
 * behind every rejected document and coerced value (counted by column and
 * kind, never with the value itself: values may be patient data), and the
 * source field paths no mapping entry covers (schema drift).
 *
 * Drift and PHI: field names can be data too (a sub-document keyed by patient
 * name, by record id, by date).  So an unmapped path is counted with every key
 * that looks like data collapsed into MN_STATS_DRIFT_KEY (see
 * mn_stats_drift_key_is_data()), the names of at most MN_STATS_UNMAPPED_MAX
 * distinct paths are kept per collection (the rest are only counted), and the
 * text and JSON forms give the names only after mn_stats_set_show_drift():
 * by default, per collection, how many distinct unmapped paths and in how many
 * documents.
 */
#ifndef MONGONORM_STATS_H
#define MONGONORM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_stats mn_stats_t;

/** Documents of one collection: read = loaded + rejected. */
typedef struct {
   uint64_t read;      /**< documents (and unparseable records) read from the source */
   uint64_t loaded;    /**< in the target after the run: converted and committed, or unchanged */
   uint64_t unchanged; /**< of loaded: identical to the last run's, so not converted again */
   uint64_t not_read;  /**< of unchanged: only listed by `_id`, not read, because a watermark
                            read found them older than the watermark */
   bool by_watermark;  /**< read past the watermark only (plus new and rejected documents) */
   uint64_t rejected;  /**< written to the reject file instead */
   uint64_t deleted;   /**< loaded before, now gone from the source (or rejected): removed */
   double seconds;     /**< wall time spent on the collection */
   uint64_t skipped_bytes;  /**< bytes of the source file that could not be read */
   uint64_t skipped_spans;  /**< unreadable spans they form (each one is also a rejected record) */
   uint64_t unmapped_paths; /**< distinct unmapped paths (collapsed), kept or not; a lower
                                 bound when unmapped_paths_at_least (set by the stats) */
   bool unmapped_paths_at_least;     /**< more distinct paths than MN_STATS_UNMAPPED_MAX +
                                          MN_STATS_UNMAPPED_COUNTED were seen */
   uint64_t unmapped_documents;      /**< documents with at least one unmapped path */
   uint64_t unmapped_more_documents; /**< of those: documents with a path whose name was
                                          not kept (past MN_STATS_UNMAPPED_MAX) */
   uint64_t batches;                 /**< batch transactions committed for the collection */
   uint64_t batches_overlapped;      /**< of those: loaded on the sink's second session while
                                          the next batch was converted (mn_pg_sink_submit()) */
   uint64_t batches_copied;          /**< of those, in merge mode: batches whose documents,
                                          all new, were copied straight into the tables (or
                                          some of them, the rest merged) */
   uint64_t partly_unchanged;        /**< documents converted again whose rows of some
                                          tables were the recorded ones: those stayed as
                                          they were, only the other tables were merged */
} mn_collection_counts_t;

/** Rows of one table. */
typedef struct {
   uint64_t inserted;  /**< new rows */
   uint64_t updated;   /**< existing rows whose values changed */
   uint64_t deleted;   /**< rows removed (elements gone from a re-read document) */
   uint64_t unchanged; /**< rows re-read with identical values (not written) */
   uint64_t rejected;  /**< rows of rejected documents */
   uint64_t merged;    /**< duplicate rows folded into an earlier one (on_duplicate: merge) */
   uint64_t skipped;   /**< rows dropped by a skip_row policy */
   uint64_t coerced;   /**< values changed or nulled by a conversion policy */
   int copy_format;    /**< MN_COPY_FORMAT_*: the format its rows went in, once a sink opened
                            it (see docs/cli.md, "COPY's binary format") */
} mn_table_counts_t;

/** mn_table_counts_t.copy_format: no sink opened the table (a conversion only), ... */
#define MN_COPY_FORMAT_NONE 0
/** ... COPY's text format ... */
#define MN_COPY_FORMAT_TEXT 1
/** ... its binary format (a load with tables of both, --jobs: the binary wins) */
#define MN_COPY_FORMAT_BINARY 2

/** A new, empty statistics object (free with mn_stats_destroy()). */
mn_stats_t *mn_stats_new(void);

/** Free. NULL is allowed. */
void mn_stats_destroy(mn_stats_t *stats);

/** The counters of a collection / table, created at zero on first use. Never NULL. */
mn_collection_counts_t *mn_stats_collection(mn_stats_t *stats, const char *collection);
mn_table_counts_t *mn_stats_table(mn_stats_t *stats, const char *table);

/** Count one rejected document under a reason kind, e.g. "role: value outside enum". */
void mn_stats_count_reject(mn_stats_t *stats, const char *collection, const char *reason_kind);

/** Examples kept per reason kind of a collection: the first documents counted with it. */
#define MN_STATS_REJECT_EXAMPLES 3

/**
 * Count one rejected document under a reason kind, as mn_stats_count_reject(), and keep
 * where it was while the kind has fewer than MN_STATS_REJECT_EXAMPLES examples: names
 * only, never a value (see mn_stats_reject_examples_to_json()).
 * @param id_json the document's `_id` as reasons name it (mn_convert_id_json()), or NULL
 *                when it has none that can be named
 * @param path    the field path with array indexes ("allergies.2.name"), or NULL / ""
 * @param column  the target column ("table.column"), or NULL when the reason names none
 * All strings are borrowed (copied when kept).
 */
void mn_stats_count_reject_example(mn_stats_t *stats, const char *collection,
                                   const char *reason_kind, const char *id_json, const char *path,
                                   const char *column);

/** Count one coerced value (also adds 1 to the table's coerced counter). */
void mn_stats_count_coercion(mn_stats_t *stats, const char *table, const char *column,
                             const char *kind);

/** What a key that looks like data becomes in an unmapped path: `notes.<key>`. */
#define MN_STATS_DRIFT_KEY "<key>"

/** The longest key kept as a field name in an unmapped path, in bytes (PostgreSQL's
 *  identifier limit); a longer one is taken as data. */
#define MN_STATS_DRIFT_KEY_MAX 63

/** Distinct unmapped paths whose names are kept per collection, in first-seen order;
 *  later ones are only counted ("N more paths"). */
#define MN_STATS_UNMAPPED_MAX 100

/** Distinct unmapped paths past MN_STATS_UNMAPPED_MAX counted exactly per collection
 *  (by a 64-bit hash each: 512 KiB at most); past this, the count is a lower bound. */
#define MN_STATS_UNMAPPED_COUNTED 50000

/**
 * Whether a key of a source document looks like data rather than a field name, so that
 * an unmapped path shows MN_STATS_DRIFT_KEY in its place.  A key is a field name when
 * all of these hold, else it is data:
 * - 1 to MN_STATS_DRIFT_KEY_MAX bytes;
 * - it starts with an ASCII letter or `_`, optionally after one `$` (`$ref`, `$id`):
 *   numbers, dates, times, and ObjectIds and UUIDs that start with a digit fail here;
 * - only ASCII letters, digits, `_` and `-`, a `-` neither first nor last: spaces,
 *   punctuation (`@` of an e-mail, `:` of a time, `.`, `/`, `+`) and non-ASCII
 *   bytes fail here;
 * - no four digits in a row (a year, a record number: `visit2023`, `patient12345`);
 * - not a `-` together with a digit (`Jan-05`, a UUID);
 * - not 8 or more hex digits with at least one decimal digit and nothing else
 *   (ObjectIds, hashes: `a1b2c3d4`).
 * A name that looks like an identifier (`JaneDoe`) is kept: that is why names are
 * shown only when asked (mn_stats_set_show_drift()).
 * @param key the key's bytes (NUL not needed); NULL only with len 0
 * @param len its length in bytes
 */
bool mn_stats_drift_key_is_data(const char *key, size_t len);

/**
 * Count one document's unmapped source paths (no array indexes in them, data-like keys
 * already collapsed: see mn_stats_drift_key_is_data()), each path once per document.
 * Adds 1 to the collection's unmapped_documents when n_paths > 0, and 1 to each path's
 * document count; a path beyond the first MN_STATS_UNMAPPED_MAX distinct ones of the
 * collection is not kept, only counted (by a hash) among the "more" paths.  Memory per
 * collection is bounded: MN_STATS_UNMAPPED_MAX names plus the hash table.
 * @param paths n_paths NUL-terminated strings, borrowed, distinct
 */
void mn_stats_count_unmapped(mn_stats_t *stats, const char *collection, const char *const *paths,
                             size_t n_paths);

/** Whether the text and JSON forms list the unmapped paths by name (default: false,
 *  they give only how many paths and documents). */
void mn_stats_set_show_drift(mn_stats_t *stats, bool show);

/**
 * Count one unreadable span of a collection's file: bytes long, in file (a name such as
 * "users.bson"), kept in the folder kept_dir (NULL when not kept).  Adds to the
 * collection's skipped_bytes and skipped_spans.
 */
void mn_stats_count_skipped(mn_stats_t *stats, const char *collection, const char *file,
                            uint64_t bytes, const char *kept_dir);

/** Sum of skipped bytes over all collections. */
uint64_t mn_stats_total_skipped(const mn_stats_t *stats);

/** Sum of unreadable spans over all collections. */
uint64_t mn_stats_total_skipped_spans(const mn_stats_t *stats);

/**
 * One line per collection with unreadable bytes, for the end of a run, e.g.
 * `312 bytes of "users.bson" could not be read (1 span); kept in "rejects.jsonl.skipped"`.
 * @return a new string (empty when nothing was skipped); free with bson_free().
 */
char *mn_stats_skipped_text(const mn_stats_t *stats);

/** Whether any collection has read a document. */
bool mn_stats_has_reads(const mn_stats_t *stats);

/** Sum of rejected documents over all collections. */
uint64_t mn_stats_total_rejected(const mn_stats_t *stats);

/**
 * Add every count of `from` to `into` (run --jobs: each unit of work counts into its own
 * statistics, merged at the end).  Collections and tables `into` lacks are added after
 * its own, in `from`'s order; reasons and coercion kinds likewise, so merging into empty
 * statistics, or into one that has nothing of from's collections and tables, gives
 * exactly `from`'s counts, order and text; reject examples (mn_stats_count_reject_example())
 * follow `into`'s, up to the limit of each kind.  Unmapped paths: each distinct path counted
 * once (a name `from` kept is kept while `into` has room, else counted by its hash);
 * seconds add up; the whole-run time (mn_stats_set_seconds()) and the drift display
 * setting of `into` stay.
 * @param into receives the counts
 * @param from only read
 */
void mn_stats_merge(mn_stats_t *into, const mn_stats_t *from);

/** Mark the statistics as a dry run's (mn_run_opts_t.dry_run): the text form ends with
 *  a line saying nothing was written, the JSON form has "dry_run": true. */
void mn_stats_set_dry_run(mn_stats_t *stats, bool dry_run);

/** Whether mn_stats_set_dry_run() marked them. */
bool mn_stats_is_dry_run(const mn_stats_t *stats);

/** Whole-run wall time, set by the pipeline. */
void mn_stats_set_seconds(mn_stats_t *stats, double seconds);

/**
 * The statistics as a human-readable table (what `mongonorm run` prints).  Unmapped
 * paths: one line per collection with how many and in how many documents, and a hint
 * to `run --show-drift`; after mn_stats_set_show_drift(), the kept names with their
 * document counts and a line for the paths not kept.
 * @return a new string; free with bson_free().
 */
char *mn_stats_to_text(const mn_stats_t *stats);

/**
 * The statistics as JSON: {"collections": {name: {read, loaded, rejected, seconds,
 * rejects: {kind: n}, unmapped_paths: n, unmapped_documents: n (and unmapped_paths_at_least:
 * true when unmapped_paths is a lower bound); only after mn_stats_set_show_drift():
 * unmapped: {path: documents}, the kept names, and when some were not kept
 * unmapped_more: {paths: n, documents: n}; and when some bytes could not be read:
 * skipped_bytes, skipped_spans, skipped_file, skipped_kept_in; when some batch of it
 * committed: batches, batches_overlapped, and when some batch of new documents was copied
 * straight into a non-empty target: batches_copied, and when some document converted again
 * kept the rows of some tables as they were: partly_unchanged},
 * "tables": {name: {inserted,
 * updated, deleted, unchanged, rejected, merged, skipped, coerced, coercions: {"column: kind":
 * n}}}, "seconds": s}.  Object keys are in first-use order.
 * @return a new string; free with bson_free().
 */
char *mn_stats_to_json(const mn_stats_t *stats);

/**
 * The examples kept by mn_stats_count_reject_example(), as JSON: {"collections": {name:
 * {reason kind: [{"_id": text, "path": text, "column": text}, ...]}}}, collections and
 * kinds in first-use order, only kinds with an example; a field is absent when unknown.
 * Not part of mn_stats_to_json() (the report and mongonorm.runs keep counts only); the
 * HTML report (report.h) shows them.
 * @return a new string; free with bson_free().
 */
char *mn_stats_reject_examples_to_json(const mn_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
