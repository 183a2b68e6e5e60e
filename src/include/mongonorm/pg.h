/*
 * mongonorm/pg.h - PostgreSQL connection, target schema and the COPY sink.
 *
 * Connections take a libpq connection string or URI; NULL or "" means libpq's
 * defaults and the standard PG* environment variables (libpq manual, 34.1 and
 * 34.15).  Messages never contain a password.
 *
 * The sink loads rows batch by batch, each batch in one transaction:
 *   COPY into temporary staging tables (COPY ... FROM STDIN, text format,
 *   PostgreSQL manual "COPY"), then per table, parents first, an upsert
 *   (INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE the row
 *   differs), after deleting the child rows of the batch's documents that the
 *   new contents no longer have.  A collection whose tables are empty when it
 *   starts is loaded in "direct" mode: COPY straight into the target tables, which
 *   is what a first full load does; unless row-level security applies to the
 *   connected role on one of them (PostgreSQL refuses COPY FROM there): then in
 *   merge mode, whose INSERT ... SELECT the policies check.
 * A crash mid-batch rolls the batch back; a re-run converges (same ids, upserts).
 *
 * Overlap: in direct mode, mn_pg_sink_submit() hands a batch to a second session on its
 * own thread (opened like the sink's connection, holding MN_PG_LOADER_LOCK_KEY) and
 * returns while it loads, so the caller converts the next batch meanwhile; at most one
 * batch is in flight.  Merge mode, and the flushes that reject what PostgreSQL refuses
 * (mn_pg_sink_set_final()), stay synchronous: their results (rows taken, rejects) can
 * change what the next batch must be.  The environment variable MN_SYNC_LOAD=1 makes
 * every batch synchronous (for comparisons).
 */
#ifndef MONGONORM_PG_H
#define MONGONORM_PG_H

#include <libpq-fe.h>
#include <mongonorm/convert.h>
#include <mongonorm/error.h>
#include <mongonorm/mapping.h>
#include <mongonorm/state.h>
#include <mongonorm/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Connect.
 * @param conninfo a libpq connection string or URI; NULL or "" for the PG* environment
 * @return a connection (close with PQfinish()), or NULL with MN_ERROR_PG/MN_PG_CONNECT set
 *         (libpq's message, without a trailing newline).
 */
PGconn *mn_pg_connect(const char *conninfo, mn_error_t *error);

/**
 * Connect a second session like `like`: its options as libpq resolved them (PQconninfo),
 * on the host, port and host address that connection reached (a list of hosts would let
 * it reach another server), with mn_pg_connect()'s settings.
 * @return a connection (close with PQfinish()), or NULL with MN_ERROR_PG/MN_PG_CONNECT set.
 */
PGconn *mn_pg_connect_like(PGconn *like, mn_error_t *error);

/** Run SQL with no result rows. @return false with MN_ERROR_PG/MN_PG_QUERY set. */
bool mn_pg_exec(PGconn *conn, const char *sql, mn_error_t *error);

/** The key of the run lock (a bigint advisory lock; in pg_locks: classid = key >> 32,
 *  objid = key & 0xffffffff, objsubid = 1). */
#define MN_PG_RUN_LOCK_KEY "7236481590123"

/** The key of the loader lock: held (shared: a run of several workers has several) by the
 *  second session of a sink that loads batches while the next is converted
 *  (mn_pg_sink_submit()), for as long as that session lives. */
#define MN_PG_LOADER_LOCK_KEY "7236481590124"

/** How long mn_pg_lock() waits for the loader lock, in seconds. */
#define MN_PG_LOADER_LOCK_WAIT 60

/**
 * Take the run lock: a session-level advisory lock (pg_try_advisory_lock) on
 * MN_PG_RUN_LOCK_KEY; then wait (up to MN_PG_LOADER_LOCK_WAIT seconds) until no session
 * holds the loader lock MN_PG_LOADER_LOCK_KEY.  A session that does, once the run lock is
 * ours, is the loader of a run that was killed or cut off: its batch transaction may
 * still be committing, after its run lock went (two sessions are not ordered as one is),
 * and nothing must read the target before it has ended.
 * @return false with MN_ERROR_PG/MN_PG_LOCKED when another session holds the run lock,
 *         or the loader lock after the wait (the run lock is released again), or
 *         MN_PG_QUERY on failure.  Released when the connection closes.
 */
bool mn_pg_lock(PGconn *conn, mn_error_t *error);

/**
 * Release the run lock now (rolling back any open transaction first: this ends a dry
 * run, mn_pg_begin_dry_run()).  Call before
 * PQfinish(): the server releases a session lock only when it notices the closed
 * connection, which a run started right after could race.  NULL allowed.
 */
void mn_pg_unlock(PGconn *conn);

/**
 * Make conn's work from now on a dry run: one transaction (BEGIN here) that
 * mn_pg_unlock() rolls back, so the target ends as it was.  The transactions the run
 * would commit become savepoints of it (released where a COMMIT would be, after the
 * deferred constraints are checked), so every statement, trigger and constraint runs as
 * in a real run and each later read sees the earlier writes.  Call after mn_pg_lock()
 * (its wait for the loader lock commits).  Only one session: a dry run's sink loads on
 * conn itself (no loader session) and no bulk load or shared load is started on it.
 * What a rollback does not undo: sequence values drawn (nextval()), and the server's work
 * (WAL, dead tuples for VACUUM); locks taken are held until the end.  Calling it again on
 * a connection in a dry run does nothing.
 * @return false with MN_ERROR_PG/MN_PG_QUERY set ("could not begin the dry run: ...")
 */
bool mn_pg_begin_dry_run(PGconn *conn, mn_error_t *error);

/** Whether conn is in a dry run (mn_pg_begin_dry_run()).  NULL: false. */
bool mn_pg_is_dry_run(const PGconn *conn);

/** What mn_pg_init_schema() did. */
typedef struct {
   int applied;    /**< files applied by this call (0 when up to date) */
   int recorded;   /**< files found applied before (left alone) */
   char **changed; /**< names of applied files whose bytes changed since; owned */
   size_t n_changed;
} mn_pg_init_result_t;

/** Free what a result holds and zero it.  NULL allowed. */
void mn_pg_init_result_cleanup(mn_pg_init_result_t *result);

/**
 * Create or upgrade the target schema from the SQL files in `sql_dir`: every file named
 * "NNN_description.sql" (NNN = version) whose version is not yet recorded in
 * mongonorm.schema_files is run in its own transaction, in version order, and recorded
 * there (version, file name, SHA-256 checksum, time) in the same transaction.  A file
 * applied before is never run again; when its checksum differs now it is listed in
 * result->changed.  Also creates the converter's own schema "mongonorm".  Nothing is
 * written to the user's schema but what the files themselves do.
 * @param sql_dir the folder; never NULL
 * @param result receives the counts and changed files (release with
 *        mn_pg_init_result_cleanup(), also on failure); may be NULL
 * @return false with error set: MN_ERROR_IO (folder or file unreadable, no file, two files
 *         of one version), MN_ERROR_PG/MN_PG_QUERY (a statement failed: the file is named,
 *         nothing of it kept; files applied before it stay)
 */
bool mn_pg_init_schema(PGconn *conn, const char *sql_dir, mn_pg_init_result_t *result,
                       mn_error_t *error);

/** What a line of mn_pg_check_target() is about. */
typedef enum {
   MN_PG_FINDING_TYPE = 0,    /**< the column's type can lose data of the mapping's type */
   MN_PG_FINDING_NOT_NULL,    /**< a NOT NULL column that rows of the mapping leave NULL */
   MN_PG_FINDING_FOREIGN_KEY, /**< a foreign key whose referenced rows are not loaded first */
   MN_PG_FINDING_ON_DELETE,   /**< an ON DELETE action that changes loaded rows behind mongonorm */
   MN_PG_FINDING_ROW_SECURITY /**< a note, not a misfit: row-level security applies to the
                                   connected role on a table (mn_pg_finding_is_note()) */
} mn_pg_finding_kind_t;

/** Whether findings of this kind are notes (the mapping fits the target all the same):
 *  MN_PG_FINDING_ROW_SECURITY; every other kind is a problem. */
bool mn_pg_finding_is_note(mn_pg_finding_kind_t kind);

/** Lines of mn_pg_check_target(): one per problem, each naming schema.table.column. */
typedef struct {
   char **lines; /**< "public.t.c: mapping type numeric, column type numeric(12,1): why"; owned */
   mn_pg_finding_kind_t *kinds; /**< the kind of each line; owned */
   size_t n;
} mn_pg_findings_t;

/** Free the lines and zero the struct.  NULL allowed. */
void mn_pg_findings_cleanup(mn_pg_findings_t *findings);

/**
 * Check the mapping against the target's catalog: every table and column it writes must
 * exist.  Reads each column's type and typmod (pg_attribute; a domain counts as its base
 * type) and records it in the mapping's column specs (mn_value_spec_t.target), so that
 * conversion refuses a value the column would round or truncate (numeric(p,s), varchar(n),
 * char(n), narrower integers, real, date) and the column's on_invalid policy decides.
 * @param mapping annotated in place (its columns' specs); borrowed
 * @param findings when not NULL, receives one line per problem (release with
 *        mn_pg_findings_cleanup(); empty when there is none), in this order:
 *        - MN_PG_FINDING_TYPE: a mapping column whose type can lose data in its column
 *          (rounding, truncation, a narrower range, a dropped time of day or time zone) or
 *          whose values the column refuses (text into uuid);
 *        - MN_PG_FINDING_NOT_NULL, per table, per NOT NULL column: one the mapping never
 *          writes and PostgreSQL does not fill (no DEFAULT, identity or generated value);
 *          one that rows of an entry (or of some of its shapes) do not write, or that only
 *          a `raw_to` writes; one whose column can store NULL, one line per cause: a
 *          missing value (not `required`, no `default` that converts; a `when` of the
 *          entry that implies the value is there counts), an empty string that is NULL,
 *          `on_invalid: null`, `on_missing_reference: null`, a reference that is deferred
 *          (into its own collection or a later one), `value: key` outside a map.  Row
 *          ids, parent keys, ordinals and constants are never NULL;
 *        - MN_PG_FINDING_FOREIGN_KEY, per table, per foreign key (pg_constraint) of a
 *          mapped table that an entry writes a column of: the referenced table is not
 *          mapped and is empty (a table that holds rows is taken as filled by the user);
 *          or it is loaded after the referencing table: only by later collections, or in
 *          the same collection's batches after it (unless the constraint is INITIALLY
 *          DEFERRED).  A declared reference (`references:`) to the referenced table's
 *          collection is deferred when needed and is never a finding;
 *        - MN_PG_FINDING_ON_DELETE, after the foreign key's own line: ON DELETE CASCADE,
 *          SET NULL or SET DEFAULT on a column that names rows of other documents (a path
 *          that is no declared reference, or a reference into its own or a later
 *          collection; SET NULL is fine for references), since deleting a referenced
 *          row changes rows mongonorm keeps recorded as loaded;
 *        - MN_PG_FINDING_ROW_SECURITY, per table, a note: row-level security applies to
 *          the connected role on it (row_security_active(); the line names the role), so
 *          a first load inserts its rows instead of COPYing them (see
 *          mn_pg_sink_begin_collection()) and a row a policy refuses rejects its document.
 *        Each line of a problem says whether every row or only some documents would be
 *        refused.
 * @return false with MN_ERROR_PG: MN_PG_SCHEMA naming the first missing table
 *         (`table "public.things" does not exist`) or column, MN_PG_QUERY when the catalog
 *         cannot be read; or MN_ERROR_MAPPING/MN_MAPPING_BAD_VALUE (`mapping file "F", line
 *         N: column "public.t.c" ...`) when a hashed column's type cannot hold a digest
 *         (not text, or varchar shorter than 64), a column redacted to NULL is NOT NULL, or
 *         a redacted column's replacement does not fit the column's own limits.  Findings
 *         are not a failure; hashed columns give none (they store text that fits).
 */
bool mn_pg_check_target(PGconn *conn, mn_mapping_t *mapping, mn_pg_findings_t *findings,
                        mn_error_t *error);

/** mn_pg_check_target() without findings: what `run` calls before loading. */
bool mn_pg_check_mapping(PGconn *conn, mn_mapping_t *mapping, mn_error_t *error);

typedef struct mn_pg_sink mn_pg_sink_t;

/**
 * A sink on `conn` for the tables of `mapping`.  Creates its temporary staging tables.
 * The second session of mn_pg_sink_submit() is opened at its first overlapped batch.
 * @param conn, mapping, stats borrowed; must outlive the sink; `stats` is only touched on
 *        the caller's thread
 * @return NULL with MN_ERROR_PG set on failure.
 */
mn_pg_sink_t *mn_pg_sink_new(PGconn *conn, const mn_mapping_t *mapping, mn_stats_t *stats,
                             mn_error_t *error);

/** Free (rolls back nothing: batches are committed by mn_pg_sink_flush()).  A batch still
 *  in flight (mn_pg_sink_submit()) is waited for first, committed or not, its outcome
 *  dropped.  NULL allowed. */
void mn_pg_sink_destroy(mn_pg_sink_t *sink);

/**
 * Start a collection: decides direct or merge mode and returns the ids already in the
 * primary table through `add_target_id` when it is not empty and `want_ids` is set (the
 * converter needs them for references into it).  Direct mode when the tables the
 * collection feeds are empty, and row-level security applies to the connected role on
 * none of the tables it writes (row_security_active(): PostgreSQL refuses COPY FROM
 * into a table whose policies apply to the role, "COPY FROM not supported with
 * row-level security"); else merge mode, and with the tables empty each table under
 * row-level security is named to the warning callback (mn_pg_sink_set_warning()).
 * In merge mode the policies check every row: one a policy's WITH CHECK refuses ("new
 * row violates row-level security policy", SQLSTATE 42501) rejects its document, as a
 * constraint does (mn_pg_sink_flush()).  Rows a policy's USING hides from the role are
 * invisible to the load: the role should see every row of the tables it loads.
 * Waits for a batch in flight first (mn_pg_sink_wait(): its failure is this call's).
 * @return false with MN_ERROR_PG/MN_PG_QUERY when the tables cannot be inspected.
 */
bool mn_pg_sink_begin_collection(mn_pg_sink_t *sink, size_t collection, bool want_ids,
                                 mn_converter_t *conv, mn_error_t *error);

/**
 * Where the sink's warnings go: warning(ctx, message) receives one line (no newline, no
 * value of a document) about the load that needs no action for it to go on: a table of a
 * collection that starts empty but has row-level security for the connected role, loaded
 * with INSERT instead of COPY (`table "public.x" has row-level security for role "r":
 * loading it with INSERT instead of COPY; the owner or a role with BYPASSRLS loads it
 * faster`).  NULL (the default): nothing is said.
 */
void mn_pg_sink_set_warning(mn_pg_sink_t *sink, void (*warning)(void *ctx, const char *message),
                            void *ctx);

/**
 * Queue the rows of one accepted document (copied; rows may be reused after), and its
 * record in mongonorm.documents: its digest (SHA-256 of the BSON bytes), row counts and,
 * when it has no deferred reference, the digest of its rows (SHA-256 over each table's
 * index, byte count and COPY text, in the mapping's table order), and what its
 * conversion looked up of other documents (mn_rowset_refs(rows)).
 * @param doc the source document, copied for the reject file in case PostgreSQL refuses
 *        its rows (see mn_pg_sink_n_load_rejects()); may be NULL
 * @param recorded the document's record in mongonorm.documents as the run read it at its
 *        start (borrowed for the call), or NULL when it has none.  NULL promises that no
 *        row of the target is the document's (its rows and its record always commit
 *        together), so that in merge mode a batch of such documents is copied straight
 *        into the tables, falling back to the merge when PostgreSQL refuses that.  When
 *        unsure, pass a record.
 * @param compare whether rows equal to the recorded ones (the same rows digest and row
 *        counts, a loaded record) may be left as they are: the caller knows that nothing
 *        since the record was written changed the document's rows in the target (the
 *        same BSON bytes, no row of it moved to another document).
 * @return true when the rows were queued; false when they equal the recorded ones, so
 *         that only the record is queued again (with the collection's current conversion
 *         context, mn_pg_sink_set_context()): the document is unchanged.
 */
bool mn_pg_sink_add(mn_pg_sink_t *sink, size_t collection, const mn_rowset_t *rows,
                    const bson_t *doc, const uint8_t digest[MN_DIGEST_SIZE],
                    const mn_doc_entry_t *recorded, bool compare);

/**
 * Record a rejected document in mongonorm.documents (no rows) with its first reason (field
 * path and message), so that the next run knows the source's documents, loaded or not,
 * and can list an unchanged rejected document without converting it again.  recorded: as
 * for mn_pg_sink_add().  rows: the row set of its conversion, whose lookups of other
 * documents (mn_rowset_refs()) are recorded with it; borrowed for the call.
 */
void mn_pg_sink_record_rejected(mn_pg_sink_t *sink, size_t collection, const mn_uuid_t *id,
                                const uint8_t digest[MN_DIGEST_SIZE], const char *path,
                                const char *reason, bool recorded, const mn_rowset_t *rows);

/**
 * Queue the removal of a loaded document: all its rows (found by the tables' document-id
 * columns) and its record.  For documents gone from the source, and for documents that
 * were loaded before and are rejected now.
 */
void mn_pg_sink_delete(mn_pg_sink_t *sink, size_t collection, const mn_uuid_t *id);

/**
 * Whether the flushes from now on reject the documents PostgreSQL refuses (final), or
 * only list them, leaving the target as it was for them, for the caller to try once more
 * (the default; see mn_pg_sink_n_load_rejects()).
 */
void mn_pg_sink_set_final(mn_pg_sink_t *sink, bool final);

/** The conversion context number recorded with the documents queued from now on. */
void mn_pg_sink_set_context(mn_pg_sink_t *sink, int32_t context);

/** Documents and bytes queued since the last flush (a batch in flight not counted: memory
 *  holds up to two batches when flushes overlap).  Documents queued with their record only
 *  (mn_pg_sink_add() returned false) count one for 8. */
size_t mn_pg_sink_pending_docs(const mn_pg_sink_t *sink);
size_t mn_pg_sink_pending_bytes(const mn_pg_sink_t *sink);

/**
 * Load the queued documents in one transaction and update the table statistics.
 *
 * When PostgreSQL refuses the batch because of the data (SQLSTATE classes 22 data
 * exception, 23 integrity constraint violation, 54 program limit, P0 an exception raised
 * by a trigger: a CHECK or trigger of the user's schema the mapping does not know, a
 * value too long, a foreign key; or 42501 raised by a row-level security policy's WITH
 * CHECK, "new row violates row-level security policy", not by a missing privilege), the
 * batch is loaded again in halves, each in a savepoint of the same transaction, down to
 * the single documents at fault, as pgloader does.  Each of those is rejected (final
 * mode, mn_pg_sink_set_final()): its record in mongonorm.documents says so with the
 * reason, its rows from an earlier run are removed, and it is listed by
 * mn_pg_sink_n_load_rejects().  The rest of the batch is loaded.
 * Deferrable constraints are checked at the end of each piece.  Then, in final mode, the
 * guard, if one is set (mn_pg_sink_set_guard()), decides; then the transaction commits.
 * Synchronous: a batch in flight (mn_pg_sink_submit()) is waited for first, and its
 * failure is this call's, the queue untouched.
 *
 * Before rows are written in merge mode, unique keys that move between rows of the batch
 * (two documents swapping an email, an array element shifted into its neighbour's key)
 * are moved out of the way (a placeholder in one key column, in a savepoint), and tables
 * no foreign key references have their changed rows deleted and inserted again, so that
 * no intermediate state of the batch holds a key twice.
 *
 * @return false with error set, and nothing of the batch in the target (the transaction
 *         is rolled back; the queue is kept): MN_ERROR_PG (MN_PG_COPY or MN_PG_QUERY) for
 *         any failure but the data's (a lost connection, a server shutting down), or the
 *         guard's error when it refused the batch.  Documents found refused before the
 *         failure stay listed by mn_pg_sink_n_load_rejects().
 */
bool mn_pg_sink_flush(mn_pg_sink_t *sink, mn_error_t *error);

/**
 * mn_pg_sink_flush(), overlapped when it may be: after waiting for the batch in flight
 * (mn_pg_sink_wait(), whose failure is this call's), a direct-mode batch outside final
 * mode is handed to the sink's second session and thread, and the call returns at once
 * with the queue empty, ready for the next batch; mn_pg_sink_in_flight() is then true.
 * Otherwise (merge mode, final mode, MN_SYNC_LOAD, or no second session could be opened:
 * a connection limit, say) it is mn_pg_sink_flush().  Nothing of an overlapped batch
 * reaches the statistics, mn_pg_sink_n_load_rejects() or mn_pg_sink_taken() before it is
 * waited for.  The caller must not use the sink's connection meanwhile: every call here
 * that does waits first (begin_collection, flush, end_collection, sweep_references,
 * destroy).
 * @return false with error set: the failure of the batch waited for, or
 *         mn_pg_sink_flush()'s.
 */
bool mn_pg_sink_submit(mn_pg_sink_t *sink, mn_error_t *error);

/** Whether a batch handed over by mn_pg_sink_submit() was not waited for yet. */
bool mn_pg_sink_in_flight(const mn_pg_sink_t *sink);

/**
 * Wait until the batch in flight, if any, has committed or failed, and take its outcome
 * as a synchronous flush gives it: the table statistics and the collection's `batches`
 * and `batches_overlapped` (committed), the documents PostgreSQL refused in it (listed by
 * mn_pg_sink_n_load_rejects(), also when it failed after finding them), the rows it took
 * (mn_pg_sink_taken()).  A failed batch left nothing in the target (rolled back) and its
 * queue is dropped; the rows queued since stay queued.
 * @return true when nothing was in flight or it committed; false with its error set, the
 *         codes and messages of mn_pg_sink_flush() (MN_PG_COPY, MN_PG_QUERY).
 */
bool mn_pg_sink_wait(mn_pg_sink_t *sink, mn_error_t *error);

/**
 * The last word on a batch in final mode (mn_pg_sink_set_final(): outside it nothing the
 * load finds is rejected, so there is nothing for it to weigh): called by
 * mn_pg_sink_flush() once every piece of the batch is loaded, before the commit, when
 * mn_pg_sink_n_load_rejects() already lists the documents of the batch PostgreSQL
 * refused, on the caller's thread (final batches are never overlapped).  Return true to
 * commit; false, with `error` set, to roll the whole batch back (mn_pg_sink_flush() then
 * fails with that error).
 */
typedef bool (*mn_pg_sink_guard_fn)(void *ctx, mn_error_t *error);

/** Set (or, with NULL, remove) the guard of every later flush. */
void mn_pg_sink_set_guard(mn_pg_sink_t *sink, mn_pg_sink_guard_fn guard, void *ctx);

/**
 * Tell the sink the source's order: seen(ctx, holder, doc) is true when document
 * `holder` comes before document `doc` in the collection's stream.  When a staged row id
 * of `doc` (a sub-document `_id`) belongs to another document, a holder that comes first
 * keeps it and `doc` is refused; a holder that comes later loses the row to `doc` (as a
 * fresh load would give it) and is listed by mn_pg_sink_taken(), to be converted again
 * when the pass reaches it.  Without it (NULL), the holder always keeps the row.
 */
void mn_pg_sink_set_seen(mn_pg_sink_t *sink,
                         bool (*seen)(void *ctx, const mn_uuid_t *holder, const mn_uuid_t *doc),
                         void *ctx);

/** Documents whose rows committed batches took (see mn_pg_sink_set_seen()); of an
 *  overlapped batch, once waited for. */
size_t mn_pg_sink_n_taken(const mn_pg_sink_t *sink);

/** The i-th of them (i < mn_pg_sink_n_taken()); borrowed until the next clear. */
const mn_uuid_t *mn_pg_sink_taken(const mn_pg_sink_t *sink, size_t i);

/** Forget the documents listed by mn_pg_sink_taken(). */
void mn_pg_sink_clear_taken(mn_pg_sink_t *sink);

/** Documents the flushes since the last mn_pg_sink_clear_load_rejects() could not load (of
 *  an overlapped batch, once waited for: mn_pg_sink_wait()). */
size_t mn_pg_sink_n_load_rejects(const mn_pg_sink_t *sink);

/**
 * One document PostgreSQL refused (i < mn_pg_sink_n_load_rejects()).
 * @param id, id_json, doc, reason set to borrowed values, valid until the next clear:
 *        its row id, its `_id` as canonical Extended JSON, the document (NULL when
 *        mn_pg_sink_add() had none), and the reason ("PostgreSQL refused the rows of table
 *        "t": <primary message> (constraint "c")", never a DETAIL line, which quotes values)
 */
void mn_pg_sink_load_reject(const mn_pg_sink_t *sink, size_t i, const mn_uuid_t **id,
                            const char **id_json, const bson_t **doc, const char **reason);

/** Forget the documents listed by mn_pg_sink_load_reject(). */
void mn_pg_sink_clear_load_rejects(mn_pg_sink_t *sink);

/**
 * A statement the sink's second session (the loader of mn_pg_sink_submit()) runs once,
 * when it is opened, before any batch: a lock it must hold with the sink's own session
 * (run --jobs: the unit of work's).  When it fails, batches are loaded on the sink's own
 * session.  @param sql copied; NULL: none
 */
void mn_pg_sink_set_loader_sql(mn_pg_sink_t *sink, const char *sql);

/**
 * For runs that load several collections at once (run --jobs, --join): `loaded[c]` says
 * whether collection c (mapping index) is loaded by now, kept up to date by the caller
 * (borrowed; NULL, the default: the collections before the one ending are loaded, as in
 * one pass in mapping order).  With it, mn_pg_sink_end_collection() sets a group of
 * deferred references only at the end of the collection that holds them or of the one
 * they point into, once the other one is loaded too: never those of a collection that
 * another connection may still be loading.
 */
void mn_pg_sink_set_loaded(mn_pg_sink_t *sink, const bool *loaded);

/**
 * End a collection: flush (waiting for a batch in flight), then set the deferred references
 * whose targets now exist
 * (mongonorm.deferred_refs: this run's and any a crashed run left), counting the others
 * ("reference to a document not loaded stored as NULL").
 */
bool mn_pg_sink_end_collection(mn_pg_sink_t *sink, size_t collection, mn_error_t *error);

/**
 * After a collection that references itself lost loaded documents in this pass (rejected
 * now, or refused by PostgreSQL): set to NULL every reference into the collection whose
 * target row is gone, counting each ("reference to a document not loaded stored as
 * NULL"), as a fresh load leaves a reference whose target was not loaded.  The documents
 * holding them were unchanged, so they were not converted again.  One transaction per
 * column.  Waits for a batch in flight first.
 * @return false with MN_ERROR_PG set.
 */
bool mn_pg_sink_sweep_references(mn_pg_sink_t *sink, size_t collection, mn_error_t *error);

/** Quote an SQL identifier (PQescapeIdentifier); returns a bson_malloc'ed string. */
char *mn_pg_quote_ident(PGconn *conn, const char *ident);

#ifdef __cplusplus
}
#endif
#endif
