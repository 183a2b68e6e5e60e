/*
 * mongonorm/verify.h - reconcile a source and a target, read-only on both sides.
 *
 * `mn_verify` answers an auditor's question: does the target hold exactly what a fresh
 * full load of the source through the mapping gives, and does mongonorm's record of the
 * source (mongonorm.documents, state.h) account for every document?  It re-converts
 * every source document as a fresh `run` would (the pre-pass of referenced `_id` sets,
 * collections in mapping order, the first of two documents with one `_id` kept, run-wide
 * unique keys first-wins in stream order), COPYs the rows it expects into TEMPORARY
 * tables shaped like the target tables, and lets PostgreSQL compare them with the
 * target's rows by row id (a FULL JOIN, IS DISTINCT FROM per column), so that both sides
 * go through the same column types.  Everything after the temporary tables exist runs in
 * one REPEATABLE READ READ ONLY transaction: one snapshot of the target, and nothing of
 * the target's tables or of mongonorm.* is ever written.  Memory is bounded by a batch
 * of documents (plus, per referenced collection, its `_id` set, as in a run).
 *
 * Per collection (accounting): every source document must be recorded, loaded or
 * rejected; every record must still be in the source; a recorded digest must be the
 * SHA-256 of the source bytes; the mapping's verdict (accepted or rejected) must be the
 * recorded one; the recorded row counts per table must be the ones the document
 * produces.  A document the mapping accepts but that PostgreSQL refused (recorded as
 * rejected with PostgreSQL's message, see mn_pg_sink_flush()) is counted apart
 * ("rejected by the target") and expected to have no rows.
 *
 * Per table (content): rows expected, present, missing (expected, not in the target),
 * extra (in the target, not expected), different (same row id, some column differs).
 *
 * Differences name the collection, the document's `_id` (canonical Extended JSON, as the
 * reject file writes it), the table, the row id and the column names: never a value.
 */
#ifndef MONGONORM_VERIFY_H
#define MONGONORM_VERIFY_H

#include <mongonorm/error.h>
#include <mongonorm/run.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options of a verification; zero-initialise, then set. Strings are borrowed. */
typedef struct {
   const char *source;       /**< MongoDB URI, dump folder or Extended JSON folder (required) */
   const char *database;     /**< database name, NULL for the URI's or the folder's */
   const char *mapping_path; /**< mapping file (required) */
   const char *pg_conninfo;  /**< libpq connection string; NULL for the PG* environment */
   size_t batch_docs;        /**< documents per COPY into the temporary tables; 0 = 1000 */
   size_t batch_bytes;       /**< queued COPY bytes that force one; 0 = 16 MiB */
   size_t max_differences;   /**< differences kept in the result, in the order found (every
                                  one is counted); 0 = MN_VERIFY_MAX_DIFFERENCES_DEFAULT */
   mn_progress_fn progress;  /**< may be NULL */
   void *progress_ctx;
} mn_verify_opts_t;

/** Default of mn_verify_opts_t.max_differences. */
#define MN_VERIFY_MAX_DIFFERENCES_DEFAULT 20

/** What was found for one collection. read = loaded + rejected + rejected_by_target +
 * duplicate_ids + unreadable. */
typedef struct {
   const char *name;            /**< the collection; owned by the result */
   uint64_t read;               /**< records read from the source (documents and unreadable) */
   uint64_t unreadable;         /**< records the source could not parse (dump, JSON): never in
                                     the target nor in mongonorm.documents */
   uint64_t skipped_bytes;      /**< of them, bytes of unreadable .bson spans */
   uint64_t duplicate_ids;      /**< later documents with an `_id` read before (rejected by a
                                     run as "duplicate _id": the first one counts) */
   uint64_t loaded;             /**< documents the mapping accepts: expected loaded */
   uint64_t rejected;           /**< documents the mapping rejects (also those without `_id`) */
   uint64_t rejected_by_target; /**< accepted by the mapping, recorded as refused by
                                     PostgreSQL: expected to have no rows */
   uint64_t recorded;           /**< records of the collection in mongonorm.documents */
   /* differences */
   uint64_t not_recorded;        /**< source documents with no record */
   uint64_t deleted_from_source; /**< records of documents the source no longer has */
   uint64_t changed_in_source;   /**< recorded digest differs from the source bytes' SHA-256 */
   uint64_t verdict_differs;     /**< the mapping rejects a document recorded as loaded, or
                                      accepts one recorded as rejected by the mapping */
   uint64_t row_counts_differ;   /**< (document, table) pairs whose recorded row count differs
                                      from the rows the document produces */
   double seconds;               /**< wall time spent reading and converting it */
} mn_verify_collection_t;

/** What was found for one table. */
typedef struct {
   const char *name;           /**< the table, unqualified; owned by the result */
   uint64_t expected;          /**< rows a fresh load gives */
   uint64_t present;           /**< rows in the target table */
   uint64_t missing;           /**< expected, not in the target */
   uint64_t extra;             /**< in the target, not expected */
   uint64_t different;         /**< same row id, some column differs */
   uint64_t shared;            /**< expected rows whose id an earlier document of the source also
                                    produces while both are recorded as loaded (a correct target
                                    rejects the later document); the earlier one keeps the row */
   uint64_t row_counts_differ; /**< documents whose recorded row count for it differs */
} mn_verify_table_t;

/** Kinds of difference. */
typedef enum {
   MN_VERIFY_NOT_RECORDED = 1,      /**< a source document mongonorm.documents does not record */
   MN_VERIFY_DELETED_FROM_SOURCE,   /**< recorded, no longer in the source */
   MN_VERIFY_CHANGED_IN_SOURCE,     /**< its bytes differ from the recorded digest */
   MN_VERIFY_REJECTED_BUT_LOADED,   /**< the mapping rejects it; recorded as loaded */
   MN_VERIFY_ACCEPTED_BUT_REJECTED, /**< the mapping accepts it; recorded as rejected by it */
   MN_VERIFY_ROW_COUNT,             /**< the recorded row count of a table differs */
   MN_VERIFY_SHARED_ROW_ID,         /**< a row id of an earlier document (see shared) */
   MN_VERIFY_MISSING_ROW,           /**< an expected row the target lacks */
   MN_VERIFY_EXTRA_ROW,             /**< a target row that is not expected */
   MN_VERIFY_DIFFERENT_ROW          /**< a row whose columns differ */
} mn_verify_kind_t;

/** One difference. Every string is owned by the result; none holds a value. */
typedef struct {
   mn_verify_kind_t kind;
   const char *collection; /**< the document's collection, or NULL when not known */
   const char *id_json;    /**< the document's `_id` as canonical Extended JSON (as the
                                reject file writes it), or NULL when not known (a record or
                                row of a document the source lacks whose row id is not an
                                ObjectId's) */
   const char *doc_row_id; /**< the document's row id (its primary key), or NULL */
   const char *table;      /**< the table, or NULL for accounting differences */
   const char *row_id;     /**< the row's id, or NULL */
   const char *columns;    /**< MN_VERIFY_DIFFERENT_ROW: the differing column names,
                                comma-separated; else NULL */
   int64_t recorded;       /**< MN_VERIFY_ROW_COUNT: rows recorded; else 0 */
   int64_t expected;       /**< MN_VERIFY_ROW_COUNT: rows the document produces; else 0 */
} mn_verify_difference_t;

typedef struct mn_verify_result mn_verify_result_t;

/** An empty result (free with mn_verify_result_destroy()). */
mn_verify_result_t *mn_verify_result_new(void);

/** Free. NULL is allowed. */
void mn_verify_result_destroy(mn_verify_result_t *result);

/**
 * Verify.  Reads the source twice at most (the `_id`-only pre-pass of referenced
 * collections, then every document), connects to the target, checks the mapping against
 * its catalog (mn_pg_check_mapping()), takes the run lock (so no run writes meanwhile;
 * released at the end), creates its temporary tables, then works in one REPEATABLE READ
 * READ ONLY transaction, rolled back at the end.
 * @param result receives every count and the first differences (also filled as far as
 *        it got on failure); the caller creates it with mn_verify_result_new()
 * @return true when the verification ran to the end, whatever it found (see
 *         mn_verify_result_agrees()); false with error set: MN_ERROR_MAPPING (the mapping
 *         does not load), MN_ERROR_IO (the mapping or source folder cannot be read),
 *         MN_ERROR_MONGO (MN_MONGO_NOT_FOUND: a mapped collection that is not `optional`
 *         is not in the source; a cursor failed), MN_ERROR_PG (MN_PG_CONNECT; MN_PG_LOCKED
 *         when a run holds the target; MN_PG_SCHEMA when a mapped table or column is
 *         missing or mongonorm.documents does not exist: the target was never loaded;
 *         MN_PG_QUERY, MN_PG_COPY otherwise).
 */
bool mn_verify(const mn_verify_opts_t *opts, mn_verify_result_t *result, mn_error_t *error);

/** Whether source and target agree: no difference of any kind. */
bool mn_verify_result_agrees(const mn_verify_result_t *result);

/** Every difference found (those kept and those only counted). */
uint64_t mn_verify_result_n_differences(const mn_verify_result_t *result);

/** Collections, in mapping order. */
size_t mn_verify_result_n_collections(const mn_verify_result_t *result);
/** Collection i (i < mn_verify_result_n_collections()); borrowed from the result. */
const mn_verify_collection_t *mn_verify_result_collection(const mn_verify_result_t *result,
                                                          size_t i);

/** Tables, in mapping order. */
size_t mn_verify_result_n_tables(const mn_verify_result_t *result);
/** Table i (i < mn_verify_result_n_tables()); borrowed from the result. */
const mn_verify_table_t *mn_verify_result_table(const mn_verify_result_t *result, size_t i);

/** Differences kept (at most mn_verify_opts_t.max_differences), in the order found:
 * accounting per collection in source order, then tables in mapping order, rows in source
 * order. */
size_t mn_verify_result_n_kept(const mn_verify_result_t *result);
/** Kept difference i (i < mn_verify_result_n_kept()); borrowed from the result. */
const mn_verify_difference_t *mn_verify_result_difference(const mn_verify_result_t *result,
                                                          size_t i);

/** A short stable name of a kind ("not_recorded", "different_row", ...), for reports. */
const char *mn_verify_kind_name(mn_verify_kind_t kind);

/**
 * One difference as a line without its newline, e.g.
 * `users _id { "$oid" : "63db..." } table users row 63db...-0000: columns differ: phone`.
 * @return a new string; free with bson_free().
 */
char *mn_verify_difference_to_text(const mn_verify_difference_t *difference);

/**
 * The summary as text (what `mongonorm verify` prints): a table per collection, a table
 * per table, then up to max_lines difference lines and a verdict line.
 * @return a new string; free with bson_free().
 */
char *mn_verify_result_to_text(const mn_verify_result_t *result, size_t max_lines);

/**
 * The whole result as JSON: {"agrees": bool, "differences_total": n, "collections":
 * {name: {read, unreadable, skipped_bytes, duplicate_ids, loaded, rejected,
 * rejected_by_target, recorded, not_recorded, deleted_from_source, changed_in_source,
 * verdict_differs, row_counts_differ, seconds}}, "tables": {name: {expected, present,
 * missing, extra, different, shared, row_counts_differ}}, "differences": [{kind,
 * collection, _id, doc_row_id, table, row_id, columns: [..], recorded, expected}, ...]
 * (the kept ones; absent fields are not known), "differences_listed": n, "seconds": s}.
 * `_id` is the `_id` value itself (relaxed Extended JSON).
 * @return a new string; free with bson_free().
 */
char *mn_verify_result_to_json(const mn_verify_result_t *result);

#ifdef __cplusplus
}
#endif
#endif
