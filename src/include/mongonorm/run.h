/*
 * mongonorm/run.h - the main job: source -> mapping -> rows -> PostgreSQL.
 *
 * Order of work: load the mapping; open the source; connect, take the run lock
 * and check that the target has every table and column the mapping writes;
 * list the _id sets of referenced collections (so dangling references are
 * known before anything loads); then per collection, in mapping order, stream
 * the documents, convert each, queue accepted rows and flush them batch by
 * batch (one transaction each), and write rejected documents to the reject
 * file.  Every document read ends up loaded or in the reject file.
 *
 * A later run against the same target is incremental (state.h): documents whose bytes
 * did not change are skipped, changed ones are converted again and their rows brought to
 * the new contents, documents gone from the source are deleted with their rows.  With
 * `follow`, a change stream opened before the first pass triggers a pass each time the
 * source changes, until stopped; the resume token is kept in mongonorm.streams.
 */
#ifndef MONGONORM_RUN_H
#define MONGONORM_RUN_H

#include <mongonorm/error.h>
#include <mongonorm/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Progress callback: documents read so far in `collection`, and source progress units. */
typedef void (*mn_progress_fn)(void *ctx, const char *collection, uint64_t documents, uint64_t done,
                               uint64_t total);

/** Warning callback: one line (no newline, no document value) the run goes on after. */
typedef void (*mn_warning_fn)(void *ctx, const char *message);

/** Options of a run; zero-initialise, then set. Strings are borrowed. */
typedef struct {
   const char *source;       /**< MongoDB URI, dump folder or Extended JSON folder (required) */
   const char *database;     /**< database name, NULL for the URI's or the folder's */
   const char *mapping_path; /**< mapping file (required) */
   const char *pg_conninfo;  /**< libpq connection string; NULL for the PG* environment */
   const char *reject_path;  /**< JSON-lines reject file, created with mode 0600 (required,
                                  except in a dry run: NULL writes none) */
   size_t batch_docs;        /**< documents per transaction; 0 = 1000 */
   size_t batch_bytes;       /**< queued COPY bytes that force a flush; 0 = 16 MiB */
   mn_progress_fn progress;  /**< may be NULL */
   void *progress_ctx;
   mn_warning_fn warning; /**< may be NULL; each distinct warning once per run: a table
                               under row-level security for the role, loaded with INSERT
                               instead of COPY (mn_pg_sink_set_warning()) */
   void *warning_ctx;
   bool follow;              /**< after the run, follow the source's change stream (live
                                  sources only) and apply changes until *stop is set */
   volatile const int *stop; /**< follow mode ends when this becomes non-zero (a signal
                                  handler sets it); may be NULL */
   int max_delete_percent;   /**< the most a run may delete of the documents loaded from one
                                  collection, in percent of them (1-100; 0 = 50; 100 = no
                                  limit).  Only checked when at least MN_RUN_MAX_DELETE_MIN
                                  documents would go: the safety net against a truncated or
                                  partial source during a cutover */
   bool full;                /**< read every document of every collection, even those that
                                  declare a watermark (the final run of a cutover) */
   double full_every;        /**< seconds: a collection read past its watermark only is
                                  read whole again when its last whole read is older than
                                  this (0 = MN_RUN_FULL_EVERY_DEFAULT; negative = never) */
   bool show_drift;          /**< the statistics (and the report stored in mongonorm.runs)
                                  list unmapped source paths by name, collapsed and capped
                                  (stats.h); by default only how many */
   bool limit_rejects;       /**< stop the run when it rejects more than max_rejects
                                  documents (see "Reject limits" below) */
   uint64_t max_rejects;     /**< with limit_rejects: the most it may reject (0: none) */
   double max_reject_ratio;  /**< stop the run when more than this share (0 < r < 1) of the
                                  documents read so far are rejected, once at least
                                  MN_RUN_REJECT_RATIO_MIN were read; 0 = no limit */
   bool count_known_rejects; /**< the limits count every reject, also documents the target
                                  already records as rejected (default: only new ones) */
   bool no_bulk_load;        /**< never start a bulk load (see "Bulk load" below); one an
                                  earlier run left in progress is finished before loading */
   unsigned jobs;            /**< workers loading units of work side by side, each on its
                                  own connections (0 or 1: one pass in this thread; see
                                  "Several workers" below; not with follow); also the
                                  connections that put indexes and foreign keys back after
                                  a bulk load, side by side (0 = MN_RUN_REBUILD_DEFAULT) */
   const char *join;         /**< share the load with every process started with this name
                                  (non-empty), through the target (see "Several workers");
                                  NULL: a load of this process alone; not with follow */
   bool dry_run;             /**< do everything, then roll it all back: the run's work is
                                  one transaction on one connection (mn_pg_begin_dry_run()),
                                  so the statistics are the ones this run would produce and
                                  the target ends as it was; no bulk load is started or
                                  finished; the reject file is written when reject_path
                                  is given;
                                  not with follow, jobs above 1 or join (MN_ERROR_USAGE) */
} mn_run_opts_t;

/*
 * Bulk load.  A first full load (every table the mapping writes empty, no document of its
 * collections recorded) drops, in one transaction before any data, the tables' secondary
 * indexes and the foreign keys between them that the converter vouches for (recorded in
 * mongonorm.bulk_objects: state.h), loads with synchronous_commit off, and at the end
 * rebuilds the indexes and validates the foreign keys on `jobs` connections, each in one
 * transaction with its record.  A run killed anywhere leaves a target the next run
 * converges: it finds the record, puts back at once what the collections holding rows
 * need, loads, and puts back the rest.  A foreign key a row violates stops the run
 * (MN_ERROR_PG / MN_PG_REBUILD) with the constraint left NOT VALID and recorded.
 */

/** Default of mn_run_opts_t.jobs. */
#define MN_RUN_JOBS_DEFAULT 1

/** Connections that put indexes and foreign keys back after a bulk load when jobs is 0:
 * the client waits by then, and two CREATE INDEX side by side on a 2-core machine took
 * 2.92 s where one after the other took 4.26 s (3.8M MediChat messages). */
#define MN_RUN_REBUILD_DEFAULT 2

/*
 * Several workers (jobs > 1, or join).  The unit of work is a set of collections loaded
 * together as one pass loads them: a collection alone, or the collections that write a
 * common table.  A unit waits for the units of the earlier collections (mapping order) its
 * collections reference or are referenced by, or whose tables have a foreign key with
 * theirs; the others load side by side.  Each worker claims units from mongonorm.work
 * (state.h) on a connection of its own and loads them on another, with its own source
 * handle and converter; a worker that starts a unit first learns from mongonorm.documents
 * the outcome of the earlier collections its collections reference, so its conversion
 * (references, conversion contexts) is the one of a single pass.  The statistics are
 * those of one pass (timings aside), merged from the units; each collection's reject lines
 * go to a part file next to reject_path (mn_run() concatenates them into it in mapping
 * order at the end, also after a failure: a killed run leaves them there).
 *
 * With join, processes (on any hosts) started with the same name, mapping and source
 * against one target share the load: the first creates the units of a new generation,
 * the others join it while it has pending units; each process holds the run lock shared
 * (an ordinary run and them exclude each other; two loads of different names are refused:
 * MN_PG_LOCKED) and loads, counts and rejects (its own reject_path) only what it claimed.
 * A process killed mid-unit frees it: another claims it and, skipping the batches
 * committed already by their digests, converges to what one run gives.
 *
 * Reject limits under several workers: each batch is judged against the sums over every
 * worker of this process so far (documents read, rejected, known rejects), so a limit
 * is the same number as for one pass but which batch crosses it depends on timing; with
 * join, each process judges its own counts.
 */

/*
 * Reject limits (limit_rejects, max_reject_ratio).  They count the documents this run
 * rejects (conversion, a duplicate _id, an unparseable record or unreadable span, refused
 * by PostgreSQL at load, also after the end-of-collection retries), over the whole run,
 * all collections together, against the documents it read (every document and record of
 * the source, unchanged ones included).  Not counted, unless count_known_rejects: a
 * document the target's records already list as rejected when its collection starts (an
 * earlier run rejected it, and it is still rejected, changed or not), so a cutover re-run
 * stops only for rejects it did not know.  A record with no `_id` of its own in those
 * records (an unparseable record, an unreadable span, the second document of a duplicate
 * `_id`) counts in every run.  Under follow, each pass (the first, then each one changes
 * trigger) is judged on its own.
 *
 * The limits are checked before each batch commits, with that batch's rejects (those
 * PostgreSQL refuses included): the batch that would cross one is rolled back whole, the
 * reject file keeps every line written so far (synced), and mn_run() fails with
 * MN_ERROR_CONVERT / MN_CONVERT_TOO_MANY_REJECTS.  Batches committed before stay; a run
 * without the limit converges.
 */

/** The reject ratio limit applies once at least this many documents were read. */
#define MN_RUN_REJECT_RATIO_MIN 100

/** Default of mn_run_opts_t.full_every: one whole read a day. */
#define MN_RUN_FULL_EVERY_DEFAULT 86400.0

/** Deletions below this many documents per collection never stop a run. */
#define MN_RUN_MAX_DELETE_MIN 100

/**
 * Run the main job.
 * @param stats receives every count (also filled as far as the run got on failure)
 * @return true when every collection was read to the end and every batch committed
 *         (documents may have been rejected: see mn_stats_total_rejected()); false with
 *         error set: MN_ERROR_MAPPING, MN_ERROR_MONGO (MN_MONGO_NOT_FOUND before anything
 *         is written when a mapped collection that is not `optional` is not in the source;
 *         MN_MONGO_TOO_MANY_DELETES when it lacks more of a collection's loaded documents
 *         than max_delete_percent allows: checked before anything is written for
 *         collections others reference, else before any deletion), MN_ERROR_CONVERT
 *         (MN_CONVERT_TOO_MANY_REJECTS: a reject limit, see above), MN_ERROR_PG (MN_PG_LOCKED when
 *         another run holds the target, MN_PG_SCHEMA when `init` is needed, MN_PG_REBUILD
 *         when a bulk load's index or foreign key could not be put back), MN_ERROR_IO
 *         (the reject file).  Batches committed before a failure stay; a re-run converges.
 */
bool mn_run(const mn_run_opts_t *opts, mn_stats_t *stats, mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
