/*
 * mongonorm/stats.h - per-entity statistics of a run.
 *
 * Counters per collection (documents) and per table (rows), the reasons
 * behind every rejected document and coerced value (counted by column and
 * kind, never with the value itself: values may be patient data), and the
 * source field paths no mapping entry covers (schema drift).
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
   uint64_t skipped_bytes; /**< bytes of the source file that could not be read */
   uint64_t skipped_spans; /**< unreadable spans they form (each one is also a rejected record) */
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
} mn_table_counts_t;

/** A new, empty statistics object (free with mn_stats_destroy()). */
mn_stats_t *mn_stats_new(void);

/** Free. NULL is allowed. */
void mn_stats_destroy(mn_stats_t *stats);

/** The counters of a collection / table, created at zero on first use. Never NULL. */
mn_collection_counts_t *mn_stats_collection(mn_stats_t *stats, const char *collection);
mn_table_counts_t *mn_stats_table(mn_stats_t *stats, const char *table);

/** Count one rejected document under a reason kind, e.g. "role: value outside enum". */
void mn_stats_count_reject(mn_stats_t *stats, const char *collection, const char *reason_kind);

/** Count one coerced value (also adds 1 to the table's coerced counter). */
void mn_stats_count_coercion(mn_stats_t *stats, const char *table, const char *column,
                             const char *kind);

/** Count one occurrence of an unmapped source path (no array indexes in it). */
void mn_stats_count_unmapped(mn_stats_t *stats, const char *collection, const char *path);

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

/** Whole-run wall time, set by the pipeline. */
void mn_stats_set_seconds(mn_stats_t *stats, double seconds);

/**
 * The statistics as a human-readable table (what `mongonorm run` prints).
 * @return a new string; free with bson_free().
 */
char *mn_stats_to_text(const mn_stats_t *stats);

/**
 * The statistics as JSON: {"collections": {name: {read, loaded, rejected, seconds,
 * rejects: {kind: n}, unmapped: {path: n}, and when some bytes could not be read:
 * skipped_bytes, skipped_spans, skipped_file, skipped_kept_in}}, "tables": {name: {inserted,
 * updated, deleted, unchanged, rejected, merged, skipped, coerced, coercions: {"column: kind":
 * n}}}, "seconds": s}.  Object keys are in first-use order.
 * @return a new string; free with bson_free().
 */
char *mn_stats_to_json(const mn_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
