/*
 * mongonorm/convert.h - one pass over a document: the rows of every table it feeds.
 *
 * The converter walks the compiled mapping once per document, produces the
 * rows (values already in PostgreSQL input syntax, see value.h), applies the
 * mapping's policies (reject the document, store NULL and count, skip the row,
 * merge duplicates), and records why a document is rejected.  It keeps the
 * run-wide state that policies need: the _id sets of referenced collections,
 * the documents accepted and rejected so far, and run-wide unique keys.
 */
#ifndef MONGONORM_CONVERT_H
#define MONGONORM_CONVERT_H

#include <bson/bson.h>
#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_converter mn_converter_t;
typedef struct mn_rowset mn_rowset_t;

/**
 * A converter for one run.
 * @param mapping borrowed; must outlive the converter
 * @param stats   borrowed; receives coercion, skip, merge, reject and drift counts
 */
mn_converter_t *mn_converter_new(const mn_mapping_t *mapping, mn_stats_t *stats);

/** Free. NULL is allowed. */
void mn_converter_destroy(mn_converter_t *conv);

/**
 * Whether the converter's sets (the `_id`s and outcomes of referenced collections, the
 * run-wide unique keys) are whole.  They keep a bounded amount of memory each and spill
 * the rest to files in a private directory under TMPDIR (MN_SET_MEMORY: the memory of
 * each); when that fails (the directory cannot be made, the disk is full) they stay in
 * memory and correct, and this says so, so that the run stops before the next commit.
 * @return false with the error (MN_ERROR_IO, naming the directory) after such a failure.
 */
bool mn_converter_ok(const mn_converter_t *conv, mn_error_t *error);

/** Whether some column references collection `collection` (index in the mapping). */
bool mn_converter_is_referenced(const mn_converter_t *conv, size_t collection);

/**
 * Record that a document with this `_id` exists in the source collection (the pre-pass
 * that makes dangling references detectable before anything is loaded).
 */
void mn_converter_add_source_id(mn_converter_t *conv, size_t collection, const bson_iter_t *id);

/**
 * Add the `_id` sets `from` holds (mn_converter_add_source_id(): the pre-pass) to `to`, a
 * converter of the same mapping, so that a pre-pass read once serves several converters
 * (run --jobs: one per unit of work).  `from` is only read: several threads may copy from
 * one converter at once while nothing adds to it.
 */
void mn_converter_copy_source_ids(mn_converter_t *to, const mn_converter_t *from);

/** Record that a row with this primary id already exists in the target. */
void mn_converter_add_target_id(mn_converter_t *conv, size_t collection, const mn_uuid_t *id);

/**
 * Record a run-wide unique key already held in the target by document `doc` (merge mode:
 * documents skipped as unchanged still hold their keys).  `values` are the key columns'
 * texts in the order of the entry's `unique` list, as PostgreSQL prints them; keys of
 * text columns compare exactly.
 */
void mn_converter_add_unique_key(mn_converter_t *conv, size_t table, const char *const *values,
                                 size_t n, const mn_uuid_t *doc);

/*
 * The claims pass (merge mode).  A run-wide unique key belongs to the first document of
 * the source, in stream order, that is accepted with it: what a fresh load of the source
 * decides.  The keys the target holds are those of the previous state, so before a
 * collection with such keys is loaded into a non-empty target, the run streams the
 * source once to learn who holds what in the new state:
 *
 *    if (mn_converter_needs_claims(conv, c)) {
 *       mn_converter_begin_claims(conv, c);
 *       for each document, in stream order:
 *          unchanged and loaded: mn_converter_claim_held(conv, c, id), and when that
 *             returns false (an earlier document took one of its keys), convert it too
 *          otherwise: mn_convert_document(conv, c, doc, rows)  (counts nothing)
 *       mn_converter_end_claims(conv, c);
 *    }
 *
 * The load that follows judges every key against these claims, so two documents
 * swapping a value are both accepted, and a document that lost its key to an earlier
 * one is converted again (and rejected) although its bytes did not change.
 */

/**
 * The conversion context of a collection, as 64 hex digits (SHA-256) in `out`: the
 * mapping's fingerprint and, for every collection it references, which documents a
 * reference can name (for a collection loaded earlier in the pass, the documents it
 * accepted; for itself or a later one, the source's `_id` set).  Documents converted in
 * another context may convert differently although their bytes did not change (see
 * mn_state_enter_context()).
 */
void mn_converter_context_digest(const mn_converter_t *conv, size_t collection,
                                 char out[2 * MN_DIGEST_SIZE + 1]);

/** Whether the target holds run-wide unique keys of this collection's tables. */
bool mn_converter_needs_claims(const mn_converter_t *conv, size_t collection);

/** Start the claims pass of a collection: forget its keys; conversions count nothing. */
void mn_converter_begin_claims(mn_converter_t *conv, size_t collection);

/**
 * Claim the keys document `doc` holds in the target (it is unchanged).
 * @return false, claiming nothing, when an earlier document of the pass claimed one of
 *         them: the document must be converted (its outcome changes)
 */
bool mn_converter_claim_held(mn_converter_t *conv, size_t collection, const mn_uuid_t *doc);

/** End the claims pass: the keys claimed are the new state's; conversions count again. */
void mn_converter_end_claims(mn_converter_t *conv, size_t collection);

/** Record a document as accepted without converting it (unchanged since the last run). */
void mn_converter_mark_accepted(mn_converter_t *conv, size_t collection, const mn_uuid_t *id);

/**
 * Forget that a document is loaded: PostgreSQL refused it (its rows are gone from the
 * target for now).  References to it converted from now on are deferred, so they are set
 * only if it is loaded after all.
 */
void mn_converter_forget_loaded(mn_converter_t *conv, size_t collection, const mn_uuid_t *id);

/**
 * Whether a document is nested at most as deep as the converter accepts (200 levels;
 * MongoDB stores at most 100).  Checked without recursion, safe on any bytes: call it
 * before anything that walks a document recursively (libbson's bson_validate, Extended
 * JSON output), which a document nested 10,000 levels deep overflows.
 */
bool mn_convert_depth_ok(const bson_t *doc);

/**
 * How reasons and reject lines name a document: the canonical Extended JSON of its `_id`
 * value (`{ "$oid" : "..." }`, `"text"`, `{ "$numberDecimal" : "1.5" }`, `{ "a" : 1 }`),
 * read from the `_id` element alone, so also for a document rejected before it is
 * converted (nested too deep, invalid BSON elsewhere, a duplicate `_id`).  A sub-document
 * or array `_id` is named when it is itself valid BSON nested at most as deep as
 * mn_convert_depth_ok() allows; a string `_id` that is not valid UTF-8 is named by the
 * string with each invalid byte replaced by the four characters \xHH, quoted as JSON (so
 * that backslash shows doubled: "id\\xff"), and *exact is set false.
 * @param id    an iterator on the `_id` element (bounds-checked by bson_iter)
 * @param exact when not NULL, set true when the text is the value's own Extended JSON
 * @return a bson_malloc'ed string, or NULL when the value cannot be named (a sub-document
 *         `_id` too deep or not valid BSON, or holding text that is not valid UTF-8)
 */
char *mn_convert_id_json(const bson_iter_t *id, bool *exact);

/** Record a document as rejected without converting it (unchanged since it was rejected). */
void mn_converter_mark_rejected(mn_converter_t *conv, size_t collection, const mn_uuid_t *id);

/** Whether the pre-pass listed this primary id in the source collection. */
bool mn_converter_has_source_id(const mn_converter_t *conv, size_t collection, const mn_uuid_t *id);

/**
 * Whether every lookup of a conversion (mn_rowset_refs(), as recorded then) gives the
 * same answer now.  Lookups in collections with an index below `settled` must agree on
 * everything; in the others, only on whether the id is in the source (before a pass,
 * which documents of the collection and of later ones are rejected is not known yet:
 * pass the collection's index there, SIZE_MAX for a full comparison).  false also for a
 * string that is not such a list (its length not a whole number of entries, a
 * collection index the mapping does not have).
 */
bool mn_converter_refs_hold(const mn_converter_t *conv, const uint8_t *refs, size_t len,
                            size_t settled);

/** Whether a column of collection `from` references collection `to`. */
bool mn_converter_references(const mn_converter_t *conv, size_t from, size_t to);

/**
 * Convert one document of collection `collection` (index in the mapping) into `rows`
 * (cleared first).
 *
 * The document's shape is checked first, in one walk without recursion: nested deeper
 * than 200 levels, a field name twice in one (sub-)document, or an array whose keys are
 * not "0", "1", ... in order rejects it before any row is built.  A document that would
 * produce more rows than its collection's `max_rows_per_document` (default 1,000,000) is
 * rejected as it reaches the limit, and `rows` then holds no rows.  Memory: `rows` holds
 * every row until the next call (or mn_rowset_destroy()), about 24 bytes plus 8 per
 * column plus the values' text each (docs/design.md, Memory of one document).
 *
 * @return true when the document is accepted (its rows are in `rows`, ready to load);
 *         false when it is rejected: the reasons (field path and message, naming the _id)
 *         are in `rows` with the rows it would have produced (none for the shape and the
 *         row limit).  Statistics are updated either way (coercions only for accepted
 *         documents).
 */
bool mn_convert_document(mn_converter_t *conv, size_t collection, const bson_t *doc,
                         mn_rowset_t *rows);

/** An empty row set (free with mn_rowset_destroy()). */
mn_rowset_t *mn_rowset_new(void);

/** Free. NULL is allowed. */
void mn_rowset_destroy(mn_rowset_t *rows);

/** The primary row id of the document (valid when the document has an _id). */
const mn_uuid_t *mn_rowset_doc_id(const mn_rowset_t *rows);

/** The document's `_id` as canonical Extended JSON (e.g. {"$oid":"..."}), or "null". */
const char *mn_rowset_doc_id_json(const mn_rowset_t *rows);

/** Number of rows. */
size_t mn_rowset_n_rows(const mn_rowset_t *rows);

/** Table (index in the mapping's table list) of row i. */
size_t mn_rowset_row_table(const mn_rowset_t *rows, size_t i);

/**
 * Value of column `column` (index in the table's column list) of row i, in PostgreSQL
 * input syntax, NUL-terminated, or NULL for SQL NULL.  Borrowed from the row set.
 */
const char *mn_rowset_value(const mn_rowset_t *rows, size_t i, size_t column);

/**
 * The same as mn_rowset_value(), and in *len (never NULL) its length in bytes without the
 * NUL (0 for SQL NULL), known without a scan.
 */
const char *mn_rowset_value_len(const mn_rowset_t *rows, size_t i, size_t column, size_t *len);

/** Number of reasons the document was rejected (0 when accepted). */
size_t mn_rowset_n_rejects(const mn_rowset_t *rows);

/** Reason i: the field path ("messages.3.role", "" for the whole document) and the message. */
void mn_rowset_reject(const mn_rowset_t *rows, size_t i, const char **path, const char **message);

/**
 * References held back because their target document is not loaded yet (a reference
 * within the same collection, or to a later one).  The row carries NULL; the sink sets
 * the value once the whole collection is loaded, if the target then exists.
 */
size_t mn_rowset_n_deferred(const mn_rowset_t *rows);

/**
 * Deferred reference i: table index, column index, the row id, the referenced id, and
 * the table holding the referenced primary rows.
 */
void mn_rowset_deferred(const mn_rowset_t *rows, size_t i, size_t *table, size_t *column,
                        const mn_uuid_t **row_id, const mn_uuid_t **ref_id, size_t *ref_table);

/**
 * What the conversion looked up of other documents: for every reference it read, the
 * referenced collection, the id and what the converter knew of it then (in the source,
 * rejected).  The conversion of the same bytes under the same mapping gives the same
 * rows and outcome whenever every one of these lookups gives the same answer again
 * (mn_converter_refs_hold()); the run-wide unique keys are the claims pass's business.
 * An opaque byte string, sorted and without repeats: `*len` receives its length (0 when
 * the document references nothing).  Borrowed from the row set until its next document.
 */
const uint8_t *mn_rowset_refs(const mn_rowset_t *rows, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
