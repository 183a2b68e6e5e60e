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
 *                  with, the watermark reached (for incremental runs), its conversion
 *                  context (digest and number) and the first context number entered
 *                  with the current mapping
 *   documents      per document of the source seen by the last run: its row id, the
 *                  SHA-256 of its BSON bytes, whether it was rejected, how many rows
 *                  it produced per table (in the mapping's table order: `counts`,
 *                  mn_state_pack_counts(); records written before that column have
 *                  `row_counts int[]` instead, still read), the context
 *                  number it was converted in, its rows' digest and what its conversion
 *                  looked up of other documents (mn_rowset_refs())
 *   streams        per source (its description, no credentials): the change-stream
 *                  resume token that `run --follow` has applied everything up to
 *   deferred_refs  references waiting for their target row (see convert.h)
 *   bulk_objects   the phase record of a bulk load (a first full load into empty tables):
 *                  each secondary index and foreign key it dropped before loading, with
 *                  its definition, comment and CLUSTER flag; each row is deleted in the
 *                  transaction that puts its object back: rows remain while a bulk load
 *                  is in progress
 *   work           the units of work of a load several workers share (run --jobs, --join):
 *                  per load name and generation, each unit's collections, the units it
 *                  waits for, its state (pending, done), who did it and when
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

/**
 * The bytes of one table's entry in a record's rows digest (mongonorm.documents.rows_digest):
 * the table's index in the mapping (2 bytes, big-endian), then the first 16 bytes of the
 * SHA-256 of its index and byte count (8 bytes each, host order) and its rows' COPY text.
 * Entries are in table order, one per table the document has rows in.
 */
#define MN_ROWS_DIGEST_ENTRY 18

/** The most bytes mn_state_pack_counts() writes for n counts. */
#define MN_PACKED_COUNTS_MAX(n) ((n)*5)

/**
 * Pack a document's row counts per table as mongonorm.documents.counts holds them: each
 * count an unsigned LEB128 varint (7 bits a byte, the lowest first, the high bit set on
 * every byte of a number but its last: 1 byte up to 127), in the mapping's table order.
 * The server sends a bytea as it is stored; an int[] costs it a call per element, which
 * was half of reading a collection's records.
 * @param counts n counts, each >= 0 (a negative one is written as 0); NULL: all zero
 * @param out    room for MN_PACKED_COUNTS_MAX(n) bytes
 * @return the bytes written (n when every count is below 128).
 */
size_t mn_state_pack_counts(const int32_t *counts, size_t n, uint8_t *out);

/**
 * Unpack what mn_state_pack_counts() wrote: the first n counts into counts (those the
 * packing does not reach are 0).
 * @return false when p is not such a packing (a varint cut off by the end, or above
 *         INT32_MAX, or more than n of them); counts is then partly written.
 */
bool mn_state_unpack_counts(const uint8_t *p, size_t len, int32_t *counts, size_t n);

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
   bool has_rows_digest;           /**< rows_digest is known (a loaded document with no
                                        deferred reference, recorded in this format) */
   const uint8_t *rows_digest;     /**< what its rows' COPY text was, table by table:
                                        MN_ROWS_DIGEST_ENTRY bytes per table holding
                                        some (see mn_pg_sink_add()); owned by the set */
   size_t rows_digest_len;         /**< bytes at rows_digest */
   bool has_refs;                  /**< refs is known (recorded since the column) */
   const uint8_t *refs;            /**< what its conversion looked up of other documents
                                        (mn_rowset_refs()); owned by the set */
   size_t refs_len;                /**< bytes at refs */
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

/** Call fn for every entry, in the order they were read (the server's). */
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
 * The first context number of the collection entered with its current mapping (the
 * `mapping` given to mn_state_enter_context(), the mapping's fingerprint): a document
 * recorded with a number from this one up to the current one was converted with this
 * mapping, whatever else of its context changed since.  Call after
 * mn_state_enter_context().
 * @param mapping  the mapping's fingerprint (mn_mapping_digest())
 * @param first    receives that number (the current context number when the mapping
 *                 changed now, or nothing was recorded of it)
 * @return false with MN_ERROR_PG set.
 */
bool mn_state_mapping_context(PGconn *conn, const char *collection, const char *mapping,
                              int32_t *first, mn_error_t *error);

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

/*
 * Loads shared by several workers (run --jobs N: threads of one process; run --join NAME:
 * processes, on one host or several).  The unit of work is a set of collections loaded
 * together by one worker as one run loads them; mongonorm.work holds, per load name and
 * generation, one row per unit: its collections, the units it waits for (depends_on), the
 * mapping's digest, its state ('pending', then 'done'), the worker that did it and when.
 * A worker claims a pending unit whose units are done with SELECT ... FOR UPDATE SKIP
 * LOCKED on a connection of its own, keeps that transaction open while it loads the unit
 * on another connection, then marks it done and commits (and notifies the waiting
 * workers).  A worker that dies loses its connection and with it the row lock: the unit is
 * pending again for the others.  The load of one process (--jobs without --join) is named
 * "" and holds the run lock alone.
 */

/** The advisory lock under which a shared load's generation is created or joined, and
 *  mongonorm's own schema is created by processes that share the run lock. */
#define MN_STATE_WORK_LOCK_KEY "7236481590131"

/** The processes of a shared load hold (MN_STATE_LOAD_LOCK_CLASS, hashtext(name)), shared. */
#define MN_STATE_LOAD_LOCK_CLASS "7236481"

/** The sessions of a worker loading unit u (its load connection, its sink's loader) hold
 *  (MN_STATE_UNIT_LOCK_CLASS, u), shared, while they load it (mn_state_work_hold_unit());
 *  one load at a time runs on a target, so the unit's number is enough. */
#define MN_STATE_UNIT_LOCK_CLASS "7236482"

/** One unit of work as mn_state_work_start() records it. Strings and arrays borrowed. */
typedef struct {
   const char *const *collections; /**< its collections' names, in mapping order */
   size_t n_collections;
   const int *depends_on; /**< the units (0-based numbers) that must be done first */
   size_t n_depends;
} mn_work_unit_t;

/**
 * Create mongonorm.work if missing (idempotent); the rest of the schema is
 * mn_state_ensure_schema()'s.  @return false with MN_ERROR_PG/MN_PG_QUERY set.
 */
bool mn_state_work_ensure(PGconn *conn, mn_error_t *error);

/**
 * Take the run lock for a shared load named `load` (not ""): shared with the other
 * processes of the same load (pg_try_advisory_lock_shared), so an ordinary run still
 * excludes them and they exclude it, and the load's own lock (MN_STATE_LOAD_LOCK_CLASS),
 * under MN_STATE_WORK_LOCK_KEY so that two processes of different loads starting at once
 * cannot both get in.  Release with mn_state_work_unlock().
 * @return false with MN_ERROR_PG set: MN_PG_LOCKED when an ordinary run holds the target
 *         ("another mongonorm run is using this target database") or processes of another
 *         shared load do ("another shared load ("NAME") is running on this target
 *         database"); MN_PG_QUERY.  Nothing is held then.
 */
bool mn_state_work_lock(PGconn *conn, const char *load, mn_error_t *error);

/** Release what mn_state_work_lock() took (conn NULL or closed: nothing to do). */
void mn_state_work_unlock(PGconn *conn, const char *load);

/**
 * Begin this process's part of a load: join the load's latest generation when `join`, it
 * has pending units and another process of the load is alive (holds the load's lock),
 * else create a new generation of `n_units` pending units (the load's older rows go).
 * Under MN_STATE_WORK_LOCK_KEY, so two processes starting at once create one generation.
 * @param mapping_digest the mapping's fingerprint: every process of a generation must
 *        run the same mapping
 * @param generation receives the generation's number
 * @param created receives whether this process created it
 * @return false with MN_ERROR_PG set: MN_PG_LOCKED when the generation to join was made
 *         with another mapping or other units ("a process of shared load "NAME" runs
 *         another mapping"); MN_PG_SCHEMA when mongonorm.work is missing; MN_PG_QUERY.
 */
bool mn_state_work_start(PGconn *conn, const char *load, const char *mapping_digest,
                         const mn_work_unit_t *units, size_t n_units, bool join,
                         int32_t *generation, bool *created, mn_error_t *error);

/**
 * Claim a unit on `claim`, a connection used for nothing else: in a new transaction,
 * lock (FOR UPDATE SKIP LOCKED) the first pending unit of the generation whose units are
 * all done, and record `worker` in it.  The transaction stays open while the unit is
 * loaded: end it with mn_state_work_done() or mn_state_work_release().
 * @param unit receives the unit's number, or -1 when none can be claimed now
 * @param finished receives, when none is claimed, whether every unit is done (nothing
 *        left to wait for)
 * @return false with MN_ERROR_PG set (the transaction rolled back)
 */
bool mn_state_work_claim(PGconn *claim, const char *load, int32_t generation, const char *worker,
                         int *unit, bool *finished, mn_error_t *error);

/** Mark the claimed unit done, commit, and wake the waiting workers (NOTIFY).
 *  @return false with MN_ERROR_PG set (the unit stays pending) */
bool mn_state_work_done(PGconn *claim, const char *load, int32_t generation, int unit,
                        mn_error_t *error);

/**
 * Before loading a claimed unit, on the connection that loads it: wait until no session
 * holds the unit's lock (MN_STATE_UNIT_LOCK_CLASS), then take it, shared.  A worker that
 * died held it on its load connection and its sink's loader, which may still be committing
 * their last batch after its claim connection is gone (sessions end in no set order): the
 * unit is loaded again only once they have ended.  Give the loader the same lock
 * (mn_state_work_unit_lock_sql(), mn_pg_sink_set_loader_sql()); release with
 * mn_state_work_drop_unit().  @return false with MN_ERROR_PG set
 */
bool mn_state_work_hold_unit(PGconn *conn, int unit, mn_error_t *error);

/** Release the unit's lock mn_state_work_hold_unit() took (conn NULL or closed: nothing). */
void mn_state_work_drop_unit(PGconn *conn, int unit);

/** The statement that takes unit's lock shared, for another session of the worker (its
 *  sink's loader): into buf (size bytes, at least 96). */
void mn_state_work_unit_lock_sql(int unit, char *buf, size_t size);

/** Give a claimed unit back (ROLLBACK): it is pending again for any worker. */
void mn_state_work_release(PGconn *claim);

/**
 * Wait, on `claim` (outside a claim), until a unit of any load is marked done or
 * `timeout_ms` pass (a worker that died frees its unit without a word, hence the timeout).
 * @return false with MN_ERROR_PG set when the connection fails
 */
bool mn_state_work_wait(PGconn *claim, int timeout_ms, mn_error_t *error);

/**
 * Take the end of a generation whose units are all done: the first process of the load
 * to ask gets it (recorded in unit 0's finished_by), so what ends a load (a bulk phase)
 * is done once.
 * @param who recorded (host:pid)
 * @param mine receives whether this process got it
 * @return false with MN_ERROR_PG set
 */
bool mn_state_work_finish(PGconn *conn, const char *load, int32_t generation, const char *who,
                          bool *mine, mn_error_t *error);

/**
 * Which units of the generation are done: done[u] for u < n_units.
 * @return false with MN_ERROR_PG set
 */
bool mn_state_work_done_units(PGconn *conn, const char *load, int32_t generation, bool *done,
                              size_t n_units, mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
