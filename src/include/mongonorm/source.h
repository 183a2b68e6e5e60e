/*
 * mongonorm/source.h - where documents come from.
 *
 * One interface over three kinds of source, chosen by the location string:
 * - a "mongodb://" or "mongodb+srv://" URI: a live server, read with
 *   libmongoc cursors (the database is the one given, else the URI's);
 * - a mongodump folder: "<collection>.bson" or "<collection>.bson.gz" files,
 *   either directly in the folder or in its "<database>/" sub-folder
 *   (mongodump --out DIR writes DIR/<database>/<collection>.bson);
 * - an Extended JSON folder: "<collection>.json" files as mongoexport writes
 *   them (canonical or relaxed Extended JSON v2, one document per line, or one
 *   JSON array of documents), also gzipped as ".json.gz".
 * A folder holding both .bson and .json files is read as a dump.  A collection has
 * one file: two for it (".bson" and ".bson.gz", ".json" and ".json.gz", or in a dump
 * folder a ".json" next to its ".bson") is an error naming both, and so is a
 * collection file that is a directory or a FIFO (never opened, so never waited on).
 * Every kind yields the same bson_t documents; nothing downstream knows which.
 */
#ifndef MONGONORM_SOURCE_H
#define MONGONORM_SOURCE_H

#include <bson/bson.h>
#include <mongonorm/error.h>
#include <mongonorm/keys.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_source mn_source_t;
typedef struct mn_cursor mn_cursor_t;

/** The kind of an opened source. */
typedef enum { MN_SOURCE_MONGODB = 1, MN_SOURCE_DUMP = 2, MN_SOURCE_JSON = 3 } mn_source_kind_t;

/** Options for mn_source_find(); zero-initialise, then set what you need. */
typedef struct {
   bool ids_only;        /**< project to {_id: 1} (cheap listing of the _id set) */
   const bson_t *filter; /**< live source only: a query filter, NULL for all; the file
                              sources ignore it (callers filter themselves) */
   uint64_t sample;      /**< live source only: when > 0, read a random sample of this many
                              documents (an aggregation with `$sample`) instead of a find;
                              filter and ids_only are then ignored.  The file sources ignore
                              it (callers stop after as many documents themselves) */
} mn_find_opts_t;

/** What mn_cursor_next() produced. */
typedef enum {
   MN_CURSOR_DOC = 1,  /**< *doc is the next document */
   MN_CURSOR_BAD = 2,  /**< a record that does not parse; see mn_cursor_bad() */
   MN_CURSOR_END = 3,  /**< no more documents */
   MN_CURSOR_ERROR = 4 /**< reading failed; see mn_cursor_error(); stop */
} mn_cursor_status_t;

/** A record that could not be parsed into a document. */
typedef struct {
   const char *location; /**< e.g. "users.json line 7", "users.json line 7, document 2"
                              (a later record starting on that line) or "users.bson
                              offset 4096" */
   const char *reason;   /**< e.g. "invalid JSON: ..." */
   const char *raw;      /**< the record's text (JSON) or hex of its first bytes (BSON);
                              may be truncated to 64 KiB */
   const char *file;     /**< a .bson span: the file's name ("users.bson"); else NULL */
   uint64_t offset;      /**< a .bson span: where it starts in the (uncompressed) file */
   uint64_t skipped;     /**< a .bson span: its length in bytes, never 0; 0 for a JSON
                              record (kept whole in raw) */
   const char *kept;     /**< a .bson span: the file holding all its bytes, or NULL when
                              mn_cursor_keep_skipped() was not called */
} mn_cursor_bad_t;

/**
 * Whether a location names a live server rather than a folder.
 * @param location a --source or --out argument; never NULL
 * @return true when it starts with "mongodb://" or "mongodb+srv://" (mn_source_open()
 *         then reads a server; nothing is parsed or checked here)
 */
bool mn_source_is_uri(const char *location);

/**
 * Initialise libmongoc for the process, once: later calls, from any thread, do nothing.
 * It also turns libmongoc's own logging off (by default it prints "ERROR: mongoc: ..."
 * lines on stderr), since the library never prints: every failure libmongoc logs also
 * reaches the caller as a bson_error_t.  mn_source_open() calls it for a URI; call it
 * before any other libmongoc use (the generator's --out URI).  mongoc_cleanup() is never
 * called: the driver lives until the process exits.
 */
void mn_source_mongo_init(void);

/**
 * Open a source.
 * @param location  a MongoDB URI or a folder path (see the file comment); never NULL
 * @param database  the database to read; NULL for the URI's own (live), or the only
 *                  sub-folder / the folder itself (files)
 * @return a new source to free with mn_source_destroy(), or NULL with error set:
 *         MN_ERROR_MONGO/MN_MONGO_CONNECT (bad URI, no database named, server unreachable:
 *         the server is pinged once here), MN_ERROR_IO/MN_IO_OPEN (folder unreadable or
 *         holds no .bson/.json file).  Passwords in the URI never appear in messages.
 */
mn_source_t *mn_source_open(const char *location, const char *database, mn_error_t *error);

/** The kind detected by mn_source_open(). */
mn_source_kind_t mn_source_kind(const mn_source_t *source);

/** A printable description without credentials ("dump folder fixtures/x", "mongodb://host/db"). */
const char *mn_source_describe(const mn_source_t *source);

/**
 * Whether the source has the collection (a file for it, or a collection on the server).
 * @return true if present.  On a server error, false with error set; for a folder, false
 *         with MN_ERROR_MONGO/MN_MONGO_NOT_FOUND when the collection has two files, or
 *         MN_ERROR_IO/MN_IO_OPEN when its file is a directory, a FIFO or another
 *         non-regular file.
 */
bool mn_source_has_collection(mn_source_t *source, const char *collection, mn_error_t *error);

/**
 * The names of the source's collections, sorted by byte value: the collection files of a
 * folder (".bson"/".bson.gz" of a dump, ".json"/".json.gz" of a JSON folder, without the
 * mongodump ".metadata.json" files), or the collections of the server's database (views
 * and "system." collections left out).
 * @return a new NULL-terminated array to free with bson_strfreev() (empty when there are
 *         none), or NULL with error set: MN_ERROR_IO/MN_IO_OPEN (the folder cannot be
 *         read), MN_ERROR_MONGO/MN_MONGO_QUERY (the server refused to list them)
 */
char **mn_source_list_collections(mn_source_t *source, mn_error_t *error);

/**
 * Start reading a collection.
 * @param opts may be NULL (all documents, all fields)
 * @return a cursor to free with mn_cursor_destroy() (before the source), or NULL with
 *         error set: MN_ERROR_MONGO/MN_MONGO_NOT_FOUND when a file source has no file for
 *         the collection (a live collection that does not exist reads as empty) or has
 *         two files, MN_ERROR_IO/MN_IO_OPEN when the file cannot be opened or is not a
 *         regular file.
 */
mn_cursor_t *mn_source_find(mn_source_t *source, const char *collection, const mn_find_opts_t *opts,
                            mn_error_t *error);

/**
 * Advance.  On MN_CURSOR_DOC, *doc points to a document owned by the cursor and valid until
 * the next call.  Documents are returned as stored: a file document whose bytes are not
 * valid BSON inside a sane length (and a final 0 byte) is still returned (the converter
 * validates it).
 * In a .bson file, bytes that cannot be framed as a document (a length that is impossible,
 * runs past the end of the file, or does not end on a 0 byte) start an unreadable span: the
 * reader scans forward to the next offset where a valid document starts (followed by the end
 * of the file or another valid document), yields one MN_CURSOR_BAD for the span (see
 * mn_cursor_bad_t's file, offset and skipped), and goes on from there.  A span that reaches
 * the end of the file is followed by MN_CURSOR_END.  Writing a kept span can fail:
 * MN_CURSOR_ERROR with MN_ERROR_IO/MN_IO_WRITE.
 */
mn_cursor_status_t mn_cursor_next(mn_cursor_t *cursor, const bson_t **doc);

/** After MN_CURSOR_BAD: the bad record, valid until the next call. */
const mn_cursor_bad_t *mn_cursor_bad(const mn_cursor_t *cursor);

/**
 * Keep every unreadable span of a .bson file whole, in "<dir>/<prefix>-<offset>.bin"
 * (dir is created 0700 if missing; each file is created new, mode 0600, with
 * O_EXCL|O_NOFOLLOW, then renamed into place).  Call before the first mn_cursor_next();
 * no effect on other kinds of cursor.  dir and prefix are copied.
 */
void mn_cursor_keep_skipped(mn_cursor_t *cursor, const char *dir, const char *prefix);

/** After MN_CURSOR_ERROR: copies the error (MN_ERROR_MONGO or MN_ERROR_IO). */
void mn_cursor_error(const mn_cursor_t *cursor, mn_error_t *error);

/**
 * Progress for a progress bar: work done and total in the same unit (bytes for files,
 * documents for a server).  *total is 0 when unknown.
 */
void mn_cursor_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total);

/**
 * Read ahead: from now on a thread of the cursor's own takes its records, and the SHA-256
 * digest of each document (mn_digest() of its bytes), ahead of mn_cursor_next(), up to
 * about 384 KiB of documents (3 chunks of 128 KiB or 512 records), so that reading, parsing and
 * digesting overlap the caller's work.  For the file kinds (a dump or JSON file): a server
 * cursor's client is not the thread's to use.  Call after mn_cursor_keep_skipped(), before
 * the first mn_cursor_next().  What mn_cursor_next(), mn_cursor_bad() and
 * mn_cursor_error() give is unchanged, in the same order; mn_cursor_progress() gives the
 * progress as of the records handed out (at chunk boundaries).  mn_cursor_destroy() stops
 * the thread.
 * @return false when the cursor already reads ahead, has ended or failed, or no thread
 *         could be started: it reads as before.
 */
bool mn_cursor_read_ahead(mn_cursor_t *cursor);

/**
 * The SHA-256 digest (mn_digest()) of doc, the document the last mn_cursor_next() of
 * cursor handed out: the one its read-ahead thread computed, else computed now.
 */
void mn_cursor_digest(const mn_cursor_t *cursor, const bson_t *doc, uint8_t out[MN_DIGEST_SIZE]);

/** Free a cursor (a read-ahead thread stopped first). NULL is allowed. */
void mn_cursor_destroy(mn_cursor_t *cursor);

/** Free a source. NULL is allowed. */
void mn_source_destroy(mn_source_t *source);

typedef struct mn_watch mn_watch_t;

/**
 * Open a change stream on the source's whole database (MongoDB's `$changeStream`, through
 * mongoc_database_watch; needs a replica set or sharded cluster, MongoDB 4.0+).
 * @param resume_token canonical Extended JSON of a token from mn_watch_token() to resume
 *                     after, or NULL to start from now
 * @return a stream to free with mn_watch_destroy() (before the source), or NULL with
 *         error set: MN_ERROR_MONGO/MN_MONGO_QUERY (not a live source, the server refuses
 *         change streams, or the token is no longer in its history).
 */
mn_watch_t *mn_source_watch(mn_source_t *source, const char *resume_token, mn_error_t *error);

/**
 * Wait for changes: up to about a second for the first event, then take every event
 * already waiting.
 * @param changed set to true when at least one event arrived
 * @return false with MN_ERROR_MONGO/MN_MONGO_QUERY set when the stream failed.
 */
bool mn_watch_wait(mn_watch_t *watch, bool *changed, mn_error_t *error);

/**
 * The resume token after the events taken so far (or the stream's start), as canonical
 * Extended JSON; a new string to free with bson_free(), or NULL when the server gave none.
 */
char *mn_watch_token(const mn_watch_t *watch);

/** Free. NULL is allowed. */
void mn_watch_destroy(mn_watch_t *watch);

#ifdef __cplusplus
}
#endif
#endif
