/*
 * mongonorm/state.h - the converter's own bookkeeping in the target database.
 *
 * Schema "mongonorm" (never one of the mapped tables):
 *   runs           one row per run: times, source, mapping, outcome ('running', then
 *                  'success' or 'failed'; 'interrupted' when a later run found it still
 *                  'running': killed, or cut off from the server), statistics JSON, and
 *                  the server process of its session (backend_pid, which holds the run
 *                  lock while it runs)
 *   collections    per source collection: the mapping fingerprint its rows were made
 *                  with and the watermark reached (for incremental runs)
 *   documents      per document of the source seen by the last run: its row id, the
 *                  SHA-256 of its BSON bytes, whether it was rejected, and how many rows
 *                  it produced per table (in the mapping's table order)
 *   streams        per source (its description, no credentials): the change-stream
 *                  resume token that `run --follow` has applied everything up to
 *   deferred_refs  references waiting for their target row (see convert.h)
 *   bulk_objects   the phase record of a bulk load (a first full load into empty tables):
 *                  each secondary index and foreign key it dropped before loading, with
 *                  its definition, comment and CLUSTER flag; each row is deleted in the
 *                  transaction that puts its object back: rows remain while a bulk load
 *                  is in progress
 * Rows of `documents` change in the same transaction as the target rows they describe,
 * so a crash never leaves the two disagreeing.
 */
#ifndef MONGONORM_STATE_H
#define MONGONORM_STATE_H

#include <libpq-fe.h>
#include <mongonorm/error.h>
#include <mongonorm/keys.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create the schema and its tables if missing (idempotent).
 * @return false with MN_ERROR_PG/MN_PG_QUERY set.
 */
bool mn_state_ensure_schema(PGconn *conn, mn_error_t *error);

/** What is recorded of one document. */
typedef struct {
   uint8_t digest[MN_DIGEST_SIZE]; /**< SHA-256 of the BSON bytes loaded last */
   int32_t *row_counts;            /**< rows per table (mapping order); owned by the set */
   bool rejected;                  /**< the document went to the reject file, no rows */
   char *reject_path;              /**< rejected: the field path of its first reason; owned */
   char *reason;                   /**< rejected: its first reason; owned by the set */
   bool seen;                      /**< set by the caller when the source still has it */
   int32_t context;                /**< the conversion context it was converted in (see
                                        mn_state_enter_context()) */
} mn_doc_entry_t;

typedef struct mn_doc_state mn_doc_state_t;

/**
 * Load the recorded documents of a collection.
 * @param n_tables    length of each row_counts array (the mapping's table count)
 * @param with_digest false: ids only (digests zero, row counts NULL), for a changed mapping
 * @return the set (free with mn_doc_state_destroy()), or NULL with MN_ERROR_PG set.
 */
mn_doc_state_t *mn_doc_state_load(PGconn *conn, const char *collection, size_t n_tables,
                                  bool with_digest, mn_error_t *error);

/** Free. NULL allowed. */
void mn_doc_state_destroy(mn_doc_state_t *state);

/** Number of recorded documents. */
size_t mn_doc_state_count(const mn_doc_state_t *state);

/** The entry of a document, or NULL when none is recorded. Borrowed from the set. */
mn_doc_entry_t *mn_doc_state_find(mn_doc_state_t *state, const mn_uuid_t *id);

/** Call fn for every entry. */
void mn_doc_state_foreach(mn_doc_state_t *state,
                          void (*fn)(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry),
                          void *ctx);

/** Call fn for every entry not marked seen (recorded documents gone from the source). */
void mn_doc_state_foreach_unseen(mn_doc_state_t *state,
                                 void (*fn)(void *ctx, const mn_uuid_t *id,
                                            const mn_doc_entry_t *entry),
                                 void *ctx);

/**
 * Enter the conversion context of a collection for this run, before any of its
 * documents is written.  A context is what a document's rows depend on besides its own
 * bytes: the mapping, and which documents of the collections it references are loaded.
 * `digest` names it (any text; the run hashes those inputs).  The same digest as the
 * recorded one keeps the recorded context number; another one increments it.  Each
 * document's record keeps the number it was converted under, so a document is
 * unchanged only if its bytes and its context number both match: a run killed midway
 * and started again skips what it had committed, and a changed mapping or membership
 * converts everything else again, however many runs it takes.
 * @param context receives the context number to record with the documents
 * @param changed set when the context differs from the recorded one (or none was)
 * @return false with MN_ERROR_PG set.
 */
bool mn_state_enter_context(PGconn *conn, const char *collection, const char *digest,
                            int32_t *context, bool *changed, mn_error_t *error);

/**
 * Read a collection's record.  *mapping_digest and *watermark receive bson_malloc'ed
 * strings or NULL when nothing is recorded (the watermark as canonical Extended JSON of
 * {"v": value}).
 * @return false with MN_ERROR_PG set.
 */
bool mn_state_get_collection(PGconn *conn, const char *collection, char **mapping_digest,
                             char **watermark, mn_error_t *error);

/** Write a collection's record (upsert). watermark may be NULL (kept as it is). */
bool mn_state_set_collection(PGconn *conn, const char *collection, const char *mapping_digest,
                             const char *watermark, mn_error_t *error);

/**
 * How long ago the collection was last read whole (every document, not only those past
 * its watermark): the start of that read, as recorded by mn_state_set_full_read().
 * @param seconds receives the age in seconds, or -1 when no whole read is recorded
 * @return false with MN_ERROR_PG set.
 */
bool mn_state_full_read_age(PGconn *conn, const char *collection, double *seconds,
                            mn_error_t *error);

/**
 * Record that the collection's record (mn_state_set_collection(), which must exist) now
 * reflects a read of every document that began `seconds_ago` seconds before now.
 * @return false with MN_ERROR_PG set.
 */
bool mn_state_set_full_read(PGconn *conn, const char *collection, double seconds_ago,
                            mn_error_t *error);

/**
 * The resume token stored for a source (canonical Extended JSON of {"v": token}), or NULL
 * in *token when none.  *token is bson_malloc'ed.  @return false with MN_ERROR_PG set.
 */
bool mn_state_get_resume_token(PGconn *conn, const char *source, char **token, mn_error_t *error);

/** Store the resume token for a source (upsert). @return false with MN_ERROR_PG set. */
bool mn_state_set_resume_token(PGconn *conn, const char *source, const char *token,
                               mn_error_t *error);

/** What a bulk load in progress has still to put back (mongonorm.bulk_objects). */
typedef struct {
   size_t indexes;      /**< secondary indexes dropped and not rebuilt yet */
   size_t foreign_keys; /**< foreign keys dropped (or added NOT VALID) and not validated yet */
   char since[64];      /**< when the load dropped them (timestamptz text); "" when none */
} mn_bulk_pending_t;

/**
 * Read what a bulk load in progress has still to put back.  Writes nothing; a target whose
 * mongonorm schema has no record table (older, or none) has nothing pending.
 * @param pending receives the counts (both 0: no bulk load in progress); never NULL
 * @return false with MN_ERROR_PG/MN_PG_QUERY set.
 */
bool mn_state_bulk_pending(PGconn *conn, mn_bulk_pending_t *pending, mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
