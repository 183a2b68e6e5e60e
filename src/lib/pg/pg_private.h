/*
 * pg_private.h - helpers shared by the files of pg/ (conn.c defines them; the COPY
 * writers are sink.c's, the loader loader.c's).  Calls run one way: schema.c (init) ->
 * state.c (mongonorm's own schema) -> conn.c; check.c -> conn.c; sink.c -> loader.c ->
 * conn.c; conn.c calls no other file of pg/.
 */
#ifndef MN_PG_PRIVATE_H
#define MN_PG_PRIVATE_H

#include <mongonorm/pg.h>
#include <mongonorm/value.h>

#include <glib.h>

#include "util/strings.h"

/**
 * Set error from a failed libpq call: "<doing>: <server or libpq message>", trimmed of
 * libpq's trailing newline.  res may be NULL (the connection's message is used).
 */
void mn_pg__set_error(mn_error_t *error, uint32_t code, PGconn *conn, const PGresult *res,
                      const char *doing);

/**
 * Run sql with n text parameters (params may be NULL when n is 0) and check that the
 * result's status is want (PGRES_TUPLES_OK for a query, PGRES_COMMAND_OK for a command).
 * Returns the result, which the caller PQclear()s; NULL on any other status, with error
 * set as mn_pg__set_error does (MN_PG_QUERY, "<doing>: <message>") and the result cleared.
 */
PGresult *mn_pg__query(PGconn *conn, const char *sql, int n, const char *const *params,
                       ExecStatusType want, const char *doing, mn_error_t *error);

/**
 * The index of the mapping's table named name (in mn_mapping.tables), or -1.
 */
int mn_pg__find_table(const mn_mapping_t *m, const char *name);

/**
 * Append one value to a COPY text-format buffer (PostgreSQL manual, COPY, "Text Format"):
 * backslash, newline, carriage return and tab escaped; NULL (SQL NULL) as \N.  The
 * sink's own escaping (sink.c), shared so that every COPY writer escapes alike.
 */
void mn_pg__append_copy_value(GString *out, const char *v);

/** Append a uuid in COPY text format (its canonical text; nothing to escape). */
void mn_pg__append_copy_uuid(GString *out, const mn_uuid_t *id);

/**
 * Append a SHA-256 digest as a bytea value in COPY text format: "\\x" and the hex digits
 * (the backslash of bytea's hex format escaped for COPY).
 */
void mn_pg__append_copy_digest(GString *out, const uint8_t digest[MN_DIGEST_SIZE]);

/**
 * In the caller's open transaction: wait, up to MN_PG_LOADER_LOCK_WAIT seconds
 * (lock_timeout, which stays set for the rest of the transaction), until no session holds
 * the loader lock, by taking it for the transaction (pg_advisory_xact_lock).
 * @param doing what the caller was doing, for the message of a failed query
 * @return false with error set: MN_ERROR_PG/MN_PG_LOCKED ("the loader session of an
 *         earlier mongonorm run still holds this target database after N s") when the wait
 *         timed out, MN_PG_QUERY ("<doing>: <message>") on any other failure
 */
bool mn_pg__wait_loader_lock(PGconn *conn, const char *doing, mn_error_t *error);

/* ---- conn.c: transactions, also of a dry run (mn_pg_begin_dry_run()) ---- */

/**
 * Begin a transaction on conn: BEGIN, or in a dry run a savepoint of the dry run's one
 * transaction (nested in nothing else of ours: the run's transactions never nest).
 * @param then SQL run with it, in the same PQexec ("SET LOCAL ..."), or NULL
 * @param doing what the caller was doing, for the message
 * @return false with MN_ERROR_PG/MN_PG_QUERY ("<doing>: <message>") set, the transaction
 *         rolled back (mn_pg__rollback())
 */
bool mn_pg__begin(PGconn *conn, const char *then, const char *doing, mn_error_t *error);

/**
 * Commit the transaction of mn_pg__begin(): COMMIT, or in a dry run the deferred
 * constraints checked (SET CONSTRAINTS ALL IMMEDIATE, which a COMMIT would check) and the
 * savepoint released.
 * @return false with MN_ERROR_PG/MN_PG_QUERY set, the transaction rolled back
 */
bool mn_pg__commit(PGconn *conn, const char *doing, mn_error_t *error);

/** Roll back the transaction of mn_pg__begin(): ROLLBACK (harmless when none is open),
 *  or in a dry run back to its savepoint (nothing when none is open). */
void mn_pg__rollback(PGconn *conn);

/** Run sql, any result: false with MN_ERROR_PG/MN_PG_QUERY ("<doing>: <message>") set. */
bool mn_pg__exec_doing(PGconn *conn, const char *sql, const char *doing, mn_error_t *error);

/* ---- loader.c: a second session with a thread of its own ---- */

typedef struct mn_pg__loader mn_pg__loader_t;

/**
 * A job for the loader's thread: runs on the loader's session `conn`, touching only what
 * `ctx` gives it (the caller leaves that alone until mn_pg__loader_wait()).
 * @return false with error set (copied to the caller by mn_pg__loader_wait())
 */
typedef bool (*mn_pg__job_fn)(void *ctx, PGconn *conn, mn_error_t *error);

/**
 * A second session on the server and database `like` is connected to (its options as libpq
 * resolved them, the host and port it reached, mn_pg_connect()'s session settings), which
 * holds the loader lock (MN_PG_LOADER_LOCK_KEY) until mn_pg__loader_destroy(), and a thread
 * that runs jobs on it one at a time.
 * @param like borrowed; only read here
 * @return the loader (free with mn_pg__loader_destroy()), or NULL with error set:
 *         MN_PG_CONNECT (no session, or no thread), MN_PG_QUERY, MN_PG_LOCKED (another
 *         session holds the loader lock)
 */
mn_pg__loader_t *mn_pg__loader_new(PGconn *like, mn_error_t *error);

/** Hand `job` over to the thread, which runs it as soon as it is free; the loader must
 *  not be busy (mn_pg__loader_wait() first). */
void mn_pg__loader_start(mn_pg__loader_t *l, mn_pg__job_fn job, void *ctx);

/** Whether a job was started and not waited for.  NULL allowed (false). */
bool mn_pg__loader_busy(const mn_pg__loader_t *l);

/**
 * Wait until the job started last has ended.  @return true when it succeeded or none was
 * started (NULL allowed); false with the job's error copied into error (may be NULL).
 */
bool mn_pg__loader_wait(mn_pg__loader_t *l, mn_error_t *error);

/** Wait for the job in hand (its outcome dropped), end the thread, release the loader lock
 *  and close the session.  NULL allowed. */
void mn_pg__loader_destroy(mn_pg__loader_t *l);

/*
 * Bulk load (bulk.c): a first full load into empty tables drops the mapped tables'
 * secondary indexes and the foreign keys the converter vouches for, recording each in
 * mongonorm.bulk_objects, loads, and puts them back once.  A run started on a target whose
 * record is not empty (an earlier bulk load was killed, or failed to put everything back)
 * goes on with it.
 */
typedef struct mn_pg_bulk mn_pg_bulk_t;

/**
 * Start the run's bulk phase, before anything is written: after the run lock, the catalog
 * check and mn_state_ensure_schema().
 *   - nothing recorded, every table of the mapping empty and no document of its
 *     collections recorded, and `allow`: begin a bulk load (one transaction: record and
 *     drop);
 *   - a bulk load recorded: put back at once the objects of tables whose collection holds
 *     rows (merge mode finds a batch's rows through them), and with `allow` leave those of
 *     the collections still empty for mn_pg__bulk_finish(); without `allow`, put back all;
 *   - otherwise nothing.
 * While objects wait for the end of the run, the session's synchronous_commit is off: each
 * batch carries its own bookkeeping, so losing the last commits in a crash is the run
 * having been killed earlier, and the rebuild's synchronous commits flush them.
 * @param conn the run's connection (borrowed; must outlive the phase)
 * @param conninfo for the rebuild's other connections (borrowed); NULL for the PG* environment
 * @param m the mapping (borrowed; must outlive the phase)
 * @param jobs connections that put objects back side by side (0 means 1)
 * @return the phase (mn_pg__bulk_destroy()), or NULL with error set: MN_ERROR_PG
 *         (MN_PG_QUERY; MN_PG_REBUILD as mn_pg__bulk_finish() says)
 */
mn_pg_bulk_t *mn_pg__bulk_start(PGconn *conn, const char *conninfo, const mn_mapping_t *m,
                                bool allow, unsigned jobs, mn_error_t *error);

/**
 * End the bulk phase after the whole load (every collection, deferred references and
 * sweeps): synchronous_commit back to the session's default, then every recorded object
 * put back, each in one transaction with the deletion of its record (foreign keys: added
 * NOT VALID, then validated).  Does nothing when no bulk phase is active (NULL allowed).
 * @return false with MN_ERROR_PG set: MN_PG_REBUILD when the data refuses an object (a row
 *         violates a foreign key; the message names the constraint and the table, never a
 *         value), else MN_PG_QUERY.  Every object is tried; those that failed stay
 *         recorded, and the next run tries them again.
 */
bool mn_pg__bulk_finish(mn_pg_bulk_t *bulk, mn_error_t *error);

/** Free the phase; synchronous_commit back to the default if it is still off.  NULL allowed. */
void mn_pg__bulk_destroy(mn_pg_bulk_t *bulk);

/* ---- binary.c: COPY's binary format (PostgreSQL 15 manual, COPY, "Binary Format") ---- */

/** How a column's type is written in COPY's binary format; MN_PG_BIN_NONE: it is not
 *  (a table with such a column is copied in the text format). */
typedef enum {
   MN_PG_BIN_NONE = 0,
   MN_PG_BIN_TEXT,  /**< text, varchar, char(n), an enum: the bytes of the text */
   MN_PG_BIN_JSON,  /**< json: the text */
   MN_PG_BIN_JSONB, /**< jsonb: version byte 1, then the text */
   MN_PG_BIN_UUID,
   MN_PG_BIN_INT2,
   MN_PG_BIN_INT4,
   MN_PG_BIN_INT8,
   MN_PG_BIN_NUMERIC,
   MN_PG_BIN_FLOAT4,
   MN_PG_BIN_FLOAT8,
   MN_PG_BIN_BOOL,
   MN_PG_BIN_DATE,
   MN_PG_BIN_TIMESTAMP,
   MN_PG_BIN_TIMESTAMPTZ,
   MN_PG_BIN_INET,
   MN_PG_BIN_TEXT_ARRAY /**< text[] (one dimension, lower bound 1) */
} mn_pg__bin_kind_t;

/**
 * The binary kind of a column type: oid is the type's OID, or a domain's base type's
 * (pg_type.typbasetype); typtype is that type's pg_type.typtype ('e': an enum, written as
 * its label).  Types other than those of mn_pg__bin_kind_t give MN_PG_BIN_NONE.
 */
mn_pg__bin_kind_t mn_pg__bin_kind(unsigned long oid, char typtype);

/**
 * Whether every text the converter writes for a value of type `written` (value.h) is read
 * by mn_pg__bin_append() as kind, meaning what the type's input function makes of it:
 * any type into the text and JSON kinds; integers into the integer kinds and numeric;
 * numbers into float4/float8 (read with strtof/strtod, as float4in/float8in do); otherwise
 * only the kind's own type.
 */
bool mn_pg__bin_accepts(mn_pg__bin_kind_t kind, mn_type_t written);

/**
 * Append one field (int32 length, then the value as the type's send function writes it)
 * for the PostgreSQL input text [text, text + len) of a column of kind `kind`.  The text
 * read: the converter's forms (value.h): uuid with or without hyphens and braces; decimal
 * integers; numeric as [-]digits[.digits][e[+-]digits], NaN, Infinity, -Infinity (the
 * display scale as numeric_in sets it); floats as strtod(3) reads them; "t"/"f";
 * "Y-MM-DD[ BC]", "Y-MM-DD HH:MM:SS[.f{1,6}][+00][ BC]" (the "+00" always for timestamptz)
 * and infinity/-infinity; IPv4, else IPv6, as inet_pton(3) reads them; text[] as
 * "{}" or "{e,...}" with each e NULL or double-quoted with backslash escapes.
 * @return false, nothing appended, for text not of that form (a value its input function
 *         might read otherwise or refuse; see mn_pg__bin_append_refused())
 */
bool mn_pg__bin_append(GString *out, mn_pg__bin_kind_t kind, const char *text, size_t len);

/**
 * Append a field of kind `kind` that COPY refuses with SQLSTATE 22P03 ("incorrect binary
 * data format", or for inet "invalid address family"), for a value mn_pg__bin_append()
 * could not encode: its document is then rejected as any refused row is.  Not for the
 * text and JSON kinds, whose every text encodes.
 */
void mn_pg__bin_append_refused(GString *out, mn_pg__bin_kind_t kind);

/** Append a NULL field (length -1). */
void mn_pg__bin_append_null(GString *out);

/** Append the start of a tuple of n_fields fields (int16). */
void mn_pg__bin_append_tuple(GString *out, size_t n_fields);

/** The 19-byte header of binary COPY data (signature, flags 0, no extension); its length
 *  in *len.  Static: never freed. */
const char *mn_pg__bin_header(size_t *len);

/** The trailer of binary COPY data (int16 -1); its length in *len.  Static. */
const char *mn_pg__bin_trailer(size_t *len);

/**
 * Whether table `table` of m can be copied in binary: every column has a kind (kinds[c]
 * for column c of the table, from the catalog) and everything every writer of the
 * mapping's entries and shapes can put there encodes (the row id, document and parent
 * ids, ordinals, map keys, constants and redactions as literals, `unmapped_to`, `raw_to`,
 * digests, references, and path columns by their type: mn_pg__bin_accepts()).
 */
bool mn_pg__bin_table_fits(const mn_mapping_t *m, size_t table, const mn_pg__bin_kind_t *kinds);

#endif
