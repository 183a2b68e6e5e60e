/*
 * run_private.h - what the jobs of run/ share: the reject file (rejects.c) and the
 * pre-pass and collection reads of run.c, used by run.c, verify.c and the golden runner.
 */
#ifndef MN_RUN_PRIVATE_H
#define MN_RUN_PRIVATE_H

#include <mongonorm/convert.h>
#include <mongonorm/error.h>
#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>
#include <mongonorm/stats.h>

#include <stdbool.h>
#include <stdio.h>

/* ---- the reject file (rejects.c) ---- */

/** An open reject file: JSON lines (canonical Extended JSON), one per document or record
 *  not loaded.  Zero-initialise; mn_rejects__open() fills it. */
typedef struct {
   FILE *f;
   const char *path; /**< borrowed */
   bool dirty;       /**< written since the last sync */
} mn_rejects_t;

/** The reason of a second document with an `_id` already read (the first is kept). */
#define MN_REJECTS_DUPLICATE_ID_REASON                                                             \
   "duplicate _id: an earlier document of the collection has the same _id (the first is kept)"

/**
 * Create the reject file at path as a new private file (see files.h): an old reader, a
 * link or a 0644 file at the path never sees patient records.
 * @param path borrowed, must outlive r
 * @return false with MN_ERROR_IO set when it cannot be created
 */
bool mn_rejects__open(mn_rejects_t *r, const char *path, mn_error_t *error);

/** Flush and fsync what was written since the last sync: before a batch commits, so that
 *  a document the target records as rejected always has its line on disk.  A file never
 *  opened is allowed (nothing to do).  @return false with MN_ERROR_IO set */
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

#endif
