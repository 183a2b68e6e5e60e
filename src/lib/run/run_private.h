/*
 * run_private.h - what the jobs of run/ share: the reject file (rejects.c), the next
 * collection's records read ahead (prefetch.c), and the pre-pass and collection reads of run.c,
 * used by run.c, verify.c and the golden runner; and between run.c and jobs.c, the loads several
 * workers share (run --jobs, --join).
 */
#ifndef MN_RUN_PRIVATE_H
#define MN_RUN_PRIVATE_H

#include <mongonorm/convert.h>
#include <mongonorm/error.h>
#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/run.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>
#include <mongonorm/stats.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* ---- the next collection's records, read ahead (prefetch.c) ---- */

/** The records of one collection read on a second session and thread while the run loads
 *  the one before.  Zero-initialise. */
typedef struct {
   PGconn *conn; /**< the second session, opened by the first start; owned */
   bool off;     /**< it could not be opened: the records are read when needed */
   bool active;  /**< a thread is reading (started, not joined) */
   pthread_t thread;
   const char *name; /**< the collection it reads; borrowed */
   size_t n_tables;
   mn_doc_state_t *state; /**< what the thread read (with digests), NULL when it failed */
   mn_error_t error;      /**< why it failed (not reported: the run reads them again) */
} mn_run__prefetch_t;

/**
 * Start reading the records of `collection` (mn_doc_state_load() with digests), when it
 * has at most 32,768 (about 6 MiB, held with the current collection's), on the second session,
 * opened like `like` (mn_pg_connect_like()) the first time; what an earlier start read and nobody
 * took is dropped.  Nothing happens when the session cannot be opened (then never again for pf).
 * collection is borrowed until taken or ended.
 */
void mn_run__prefetch_start(mn_run__prefetch_t *pf, PGconn *like, const char *collection,
                            size_t n_tables);

/**
 * The records of `collection`, when the last start read them (waiting for the thread):
 * the caller owns them.  NULL when nothing was started for it, or the read failed: the
 * caller reads them itself (and so reports the error, if it persists).
 */
mn_doc_state_t *mn_run__prefetch_take(mn_run__prefetch_t *pf, const char *collection);

/** Wait for the thread, drop what it read, and with `close` close the second session. */
void mn_run__prefetch_end(mn_run__prefetch_t *pf, bool close);

/* ---- the reject file (rejects.c) ---- */

/** An open reject file: JSON lines (canonical Extended JSON), one per document or record
 *  not loaded.  Zero-initialise; mn_rejects__open() fills it. */
typedef struct mn_rejects_writer mn_rejects_writer_t;

typedef struct {
   FILE *f;
   const char *path;            /**< borrowed */
   bool dirty;                  /**< written since the last sync */
   mn_rejects_writer_t *writer; /**< the thread that encodes and writes the lines, started
                                     with the first line; NULL before */
} mn_rejects_t;

/** The reason of a second document with an `_id` already read (the first is kept). */
#define MN_REJECTS_DUPLICATE_ID_REASON                                                             \
   "duplicate _id: an earlier document of the collection has the same _id (the first is kept)"

/**
 * Create the reject file at path as a new private file (see files.h): an old reader, a
 * link or a 0644 file at the path never sees patient records.
 * @param path borrowed, must outlive r; NULL: no file (the lines are built and dropped)
 * @return false with MN_ERROR_IO set when it cannot be created
 */
bool mn_rejects__open(mn_rejects_t *r, const char *path, mn_error_t *error);

/** Flush and fsync what was written since the last sync: before a batch commits, so that
 *  a document the target records as rejected always has its line on disk.  The lines are
 *  encoded and written on a thread of the file's own, in the order they were given; this
 *  waits for the ones given so far, and reports the first failure to encode or write one
 *  since the file was opened.  A file never opened is allowed (nothing to do).
 *  @return false with MN_ERROR_IO set */
bool mn_rejects__sync(mn_rejects_t *r, mn_error_t *error);

/** Flush, fsync and close; a file never opened or closed already is allowed.
 *  @return false with MN_ERROR_IO set when what was written did not reach the disk */
bool mn_rejects__close(mn_rejects_t *r, mn_error_t *error);

/**
 * The short kind of a reject reason, for the statistics: the field path without array
 * indexes and the message's reason with every quoted value blanked to "...", e.g.
 * `role: value "..." outside enum`; a quoted name after `collection`, `table`, `column`,
 * `constraint`, `relation`, `index`, `schema` or `entry` is kept (names are not PHI:
 * `reference to a document of collection "users" that was rejected`).
 * @param buf receives the kind (size bytes, at least 8)
 * @return buf
 */
const char *mn_rejects__reason_kind_of(const char *path, const char *message, char *buf,
                                       size_t size);

/*
 * Each of the following counts one rejected document or record in stats (the
 * collection's `rejected`, and the reason's kind) and writes its line.  Each returns
 * false with MN_ERROR_IO set when the line cannot be written (what was counted stays).
 */

/** A document the converter rejected (rows: its rowset, with the reasons and the rows it
 *  would have produced).  The caller counts it as read. */
bool mn_rejects__document(mn_rejects_t *r, mn_stats_t *stats, const mn_mapping_t *m,
                          const char *collection, const bson_t *doc, const mn_rowset_t *rows,
                          mn_error_t *error);

/** A record the source could not parse, or an unreadable span of a .bson file (also
 *  counted as skipped bytes, kept in kept_dir when bad->kept).  Also counted as read. */
bool mn_rejects__bad(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                     const mn_cursor_bad_t *bad, const char *kept_dir, mn_error_t *error);

/** A document rejected by an earlier run whose bytes did not change: not converted again,
 *  its line gives the recorded reason (entry) and `"unchanged": true`.  Also counted as
 *  read. */
bool mn_rejects__unchanged(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                           const bson_t *doc, const mn_doc_entry_t *entry, mn_error_t *error);

/** A second document with an `_id` already read in the pass.  Also counted as read. */
bool mn_rejects__duplicate_id(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                              const bson_t *doc, mn_error_t *error);

/** A document PostgreSQL refused at load (doc may be NULL): its rows are not in the
 *  target.  The caller counted it as read. */
bool mn_rejects__at_load(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                         const bson_t *doc, const char *reason, mn_error_t *error);

/* ---- reading a collection whole (read.c) ---- */

/**
 * Called by mn_run__read_collection() for each document (st MN_CURSOR_DOC, doc set), each
 * record the source could not read (MN_CURSOR_BAD, doc NULL: see mn_cursor_bad(cur)), and
 * once at the end of the collection (MN_CURSOR_END, doc NULL; not after an error).  doc and
 * cur are borrowed for the call.  Return false, with error set, to stop the read.
 */
typedef bool (*mn_run__read_fn)(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st,
                                const bson_t *doc, mn_error_t *error);

/** Whether file cursors read ahead (mn_cursor_read_ahead()): yes, unless MN_READ_AHEAD=0
 *  in the environment (to compare). */
bool mn_run__read_ahead(void);

/**
 * Read a collection of src whole (past the records it cannot read), calling fn on each.
 * @param opts as for mn_source_find(); may be NULL
 * @param missing_is_empty a collection the source has no file for reads as empty
 *        (MN_MONGO_NOT_FOUND cleared) instead of failing
 * @return false with error set: mn_source_find()'s error, the cursor's, or fn's
 */
bool mn_run__read_collection(mn_source_t *src, const char *collection, const mn_find_opts_t *opts,
                             bool missing_is_empty, mn_run__read_fn fn, void *ctx,
                             mn_error_t *error);

/**
 * Every mapped collection must be in src unless the mapping declares it `optional`: a
 * missing file or a misspelt collection name would otherwise read as an empty collection,
 * and an incremental run would delete everything loaded from it.
 * @param then appended to the error message after ": " (what the caller did not do, e.g.
 *        "nothing was written"), or NULL
 * @return false with error set: MN_ERROR_MONGO / MN_MONGO_NOT_FOUND naming the first missing
 *         collection and the source, or the source's error when it could not tell
 */
bool mn_run__check_collections(mn_source_t *src, const mn_mapping_t *m, const char *then,
                               mn_error_t *error);

/**
 * The row id of a document's `_id` (mn_uuid_from_value()), as the readers of a collection
 * key their sets by it.  doc may be NULL (what mn_run__read_collection() passes for a
 * record that is not a document).
 * @param it when not NULL, left at the document's `_id` (for its value or JSON)
 * @return false, *id untouched, when doc is NULL or has no `_id`
 */
bool mn_run__doc_id(const bson_t *doc, bson_iter_t *it, mn_uuid_t *id);

/**
 * The pre-pass of a run (and of verify): list the `_id` set of every collection others
 * reference (mn_converter_add_source_id()), past unreadable records, so that dangling
 * references are known before anything converts.  A referenced collection the source
 * lacks is empty.
 * @return false with the source's error set
 */
bool mn_run__prepass(mn_source_t *src, const mn_mapping_t *m, mn_converter_t *conv,
                     mn_error_t *error);

/**
 * The statistics of collection c as its pass begins: its counters, and those of the
 * tables it fills, created at zero (so they show in the report, in mapping order, even
 * when nothing counts in them).
 * @return the collection's counters, owned by stats
 */
mn_collection_counts_t *mn_run__collection_stats(mn_stats_t *stats, const mn_mapping_t *m,
                                                 size_t c);

/* ---- loads several workers share (run.c, jobs.c) ---- */

typedef struct mn_pg_bulk mn_pg_bulk_t; /* pg/pg_private.h */

/** What the workers of one process share (jobs.c): the reject limits' totals, the
 *  warnings said, the progress callback, whether a worker failed. */
typedef struct mn_run_jobs mn_run_jobs_t;

/** One unit of work for mn_run__load_unit(): everything borrowed. */
typedef struct {
   const mn_run_opts_t *opts;
   const mn_mapping_t *m;
   mn_source_t *src;              /**< the worker's own */
   PGconn *conn;                  /**< the worker's own load connection */
   const mn_converter_t *prepass; /**< the pre-pass's _id sets, only read */
   const size_t *collections;     /**< the unit's collections, mapping order */
   size_t n_collections;
   bool *loaded;        /**< per collection: loaded by now; the unit sets its own as they end */
   mn_run_jobs_t *jobs; /**< the process's shared state */
   size_t slot;         /**< the unit's slot in it (its number) */
   mn_stats_t *stats;   /**< the unit's own statistics */
} mn_run_unit_t;

/**
 * Load the collections of a unit as one pass loads them (run.c), with a converter of its
 * own that starts as one pass's would have when it reaches them: the pre-pass's _id sets,
 * and the outcome (accepted, rejected) of each earlier collection they reference, from
 * mongonorm.documents.  Each collection's rejects go to its part file
 * (mn_run__reject_part()).  @return false with error set, as mn_run() fails
 */
bool mn_run__load_unit(const mn_run_unit_t *unit, mn_error_t *error);

/**
 * The reject limits (run.h) over every worker of the process: publish the unit's counts so
 * far (read, rejected, rejected of those its records listed as rejected) in its slot and
 * receive the sums over every slot.
 */
void mn_run__jobs_totals(mn_run_jobs_t *jobs, size_t slot, uint64_t read, uint64_t rejected,
                         uint64_t known, uint64_t *all_read, uint64_t *all_rejected,
                         uint64_t *all_known);

/** opts->warning, each message once per process, one thread at a time. */
void mn_run__jobs_warn(mn_run_jobs_t *jobs, const char *message);

/** opts->progress, one thread at a time. */
void mn_run__jobs_progress(mn_run_jobs_t *jobs, const char *collection, uint64_t documents,
                           uint64_t done, uint64_t total);

/** Whether a worker of the process failed: the others stop at their next document. */
bool mn_run__jobs_cancelled(mn_run_jobs_t *jobs);

/**
 * The part file of collection c's reject lines under a shared load:
 * "<reject path>.part-<pid>-<c>", concatenated into the reject file in mapping order when
 * the process ends.  @param buf receives it (size bytes)
 */
void mn_run__reject_part(const char *reject_path, size_t c, char *buf, size_t size);

/**
 * A load shared by workers (opts->jobs > 1, or opts->join): its units of work (the
 * collections that write a common table go together; a unit waits for the units of the
 * earlier collections its collections reference, are referenced by, or have a foreign
 * key with, cycles merged), from the mapping and the catalog on conn.
 * @return NULL with MN_ERROR_PG set
 */
mn_run_jobs_t *mn_run__jobs_new(const mn_run_opts_t *opts, const mn_mapping_t *m, PGconn *conn,
                                mn_error_t *error);
/* (conn, the run's connection, is kept for mn_run__jobs_start() and _load(): borrowed) */

/** Free (NULL allowed). */
void mn_run__jobs_destroy(mn_run_jobs_t *jobs);

/**
 * Take the run lock for the load: exclusive for a load of one process (mn_pg_lock()),
 * shared with the load's other processes under --join (mn_state_work_lock()).
 * @return false with MN_ERROR_PG set (MN_PG_LOCKED)
 */
bool mn_run__jobs_lock(mn_run_jobs_t *jobs, PGconn *conn, mn_error_t *error);

/** Release the run lock mn_run__jobs_lock() took (jobs or conn NULL: nothing). */
void mn_run__jobs_unlock(mn_run_jobs_t *jobs, PGconn *conn);

/**
 * Create mongonorm's own schema and create or join the load's generation of units, under
 * MN_STATE_WORK_LOCK_KEY (processes sharing the run lock may start at once); the process
 * that creates the generation also begins the bulk phase (mn_pg__bulk_start()) before
 * another can claim a unit.
 * @return false with MN_ERROR_PG set
 */
bool mn_run__jobs_start(mn_run_jobs_t *jobs, PGconn *conn, mn_error_t *error);

/**
 * Load the units: opts->jobs worker threads (at least one), each with its own source,
 * load and claim connections, claim units until every unit of the generation is done,
 * then their statistics are merged into `stats` (the units this process loaded, in
 * mapping order) and the part files of the reject lines concatenated into the reject file
 * (also after a failure).  Once every unit is done, the one process of the load that
 * takes the generation's end (mn_state_work_finish()) ends the bulk phase, if one is in
 * progress (mn_pg__bulk_finish(); a process that did not begin it puts everything back
 * with mn_pg__bulk_start() without `allow`).  @param prepass the converter of the
 * pre-pass (only read)
 * @return false with the first worker's error set, or the bulk phase's (MN_PG_REBUILD)
 */
bool mn_run__jobs_load(mn_run_jobs_t *jobs, const mn_converter_t *prepass, mn_stats_t *stats,
                       mn_error_t *error);

#endif
