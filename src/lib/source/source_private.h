/*
 * source_private.h - what the source kinds share behind mongonorm/source.h.
 *
 * source.c owns the public entry points; each kind fills a small table of
 * operations:
 *   - a source: has_collection, find, destroy (mongo.c for a server,
 *     folder.c for the folders, which hand each file to the reader of its
 *     kind);
 *   - a cursor: next, progress, destroy (mongo.c, dump.c, json.c).
 * The cursor base (struct mn_cursor, cursor.c) keeps the bad record and the
 * error, so the kinds only report them through mn_cursor__set_bad() and
 * mn_cursor__fail().
 *
 * The file readers share mn_source__file_t (file.c): a buffered byte stream
 * over a plain or gzip-compressed file that counts what it hands out.
 */
#ifndef MN_SOURCE_PRIVATE_H
#define MN_SOURCE_PRIVATE_H

#include <mongonorm/source.h>

#include <stdio.h>
#include <zlib.h>

/** Largest BAD raw text kept, in bytes (the header promises 64 KiB). */
#define MN_SOURCE__RAW_MAX (64u * 1024u)

typedef struct {
   bool (*has_collection)(mn_source_t *source, const char *collection, mn_error_t *error);
   mn_cursor_t *(*find)(mn_source_t *source, const char *collection, const mn_find_opts_t *opts,
                        mn_error_t *error);
   void (*destroy)(mn_source_t *source);                   /**< frees impl only */
   char **(*list)(mn_source_t *source, mn_error_t *error); /**< collection names, unsorted */
} mn_source__ops_t;

struct mn_source {
   const mn_source__ops_t *ops;
   mn_source_kind_t kind;
   char *description; /**< owned, bson_malloc'd; no credentials */
   void *impl;        /**< owned by the kind, freed by ops->destroy */
};

typedef struct {
   mn_cursor_status_t (*next)(mn_cursor_t *cursor, const bson_t **doc);
   void (*progress)(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total);
   void (*destroy)(void *impl); /**< frees impl only */
} mn_cursor__ops_t;

struct mn_cursor {
   const mn_cursor__ops_t *ops;
   void *impl;          /**< owned by the kind, freed by ops->destroy */
   mn_cursor_bad_t bad; /**< points into the three strings below */
   char *bad_location;  /**< owned, bson_malloc'd */
   char *bad_reason;    /**< owned, bson_malloc'd */
   char *bad_raw;       /**< owned, bson_malloc'd, at most MN_SOURCE__RAW_MAX bytes */
   char *bad_file;      /**< owned, bson_malloc'd, or NULL */
   char *bad_kept;      /**< owned, bson_malloc'd, or NULL */
   char *keep_dir;      /**< owned: where unreadable spans are kept, or NULL */
   char *keep_prefix;   /**< owned: first part of their file names */
   mn_error_t error;    /**< set once the cursor failed */
   bool failed;         /**< next() keeps returning MN_CURSOR_ERROR */
   bool ended;          /**< next() keeps returning MN_CURSOR_END */
};

/** A new cursor around impl (stolen: freed with ops->destroy). Never NULL. */
mn_cursor_t *mn_cursor__new(const mn_cursor__ops_t *ops, void *impl);

/**
 * Record a bad record.  raw may be NULL; raw_len bytes are copied, cut to
 * MN_SOURCE__RAW_MAX.  When hex is true raw is shown as hex (binary input).
 */
void mn_cursor__set_bad(mn_cursor_t *cursor, const char *location, const char *reason,
                        const void *raw, size_t raw_len, bool hex);

/**
 * After mn_cursor__set_bad(): the record is an unreadable span of a file: length bytes
 * from offset of file (a name for messages) were skipped; kept: the path of the file
 * holding them, or NULL.
 */
void mn_cursor__set_skipped(mn_cursor_t *cursor, const char *file, uint64_t offset, uint64_t length,
                            const char *kept);

/** Record that the cursor failed (error copied); returns MN_CURSOR_ERROR. */
mn_cursor_status_t mn_cursor__fail(mn_cursor_t *cursor, const mn_error_t *error);

/* -- Sources ------------------------------------------------------------- */

/**
 * A new source of the kind around impl (stolen: freed with ops->destroy) and description
 * (stolen, bson_malloc'd, printable: no credentials).  Never NULL.
 */
mn_source_t *mn_source__new(const mn_source__ops_t *ops, mn_source_kind_t kind, void *impl,
                            char *description);

/** Open a live source (mongo.c). */
mn_source_t *mn_source__mongo_open(const char *uri, const char *database, mn_error_t *error);

/**
 * Open a mongodump or Extended JSON folder (folder.c): location is the folder, database
 * its sub-folder to read or NULL.  NULL with error set as mn_source_open() says.
 */
mn_source_t *mn_source__folder_open(const char *location, const char *database, mn_error_t *error);

/** Read "<collection>.bson" or ".bson.gz" at path (dump.c). name: for messages. */
mn_cursor_t *mn_source__dump_cursor(const char *path, const char *name, const mn_find_opts_t *opts,
                                    mn_error_t *error);

/** Read "<collection>.json" or ".json.gz" at path (json.c). name: for messages. */
mn_cursor_t *mn_source__json_cursor(const char *path, const char *name, const mn_find_opts_t *opts,
                                    mn_error_t *error);

/**
 * What a file cursor hands out for mn_find_opts_t.ids_only (cursor.c): the document
 * read, or {_id: <value>} of it.  Zero-initialise, set ids_only.
 */
typedef struct {
   bool ids_only; /**< hand out {_id} only */
   bson_t doc;    /**< the last {_id} handed out, while held */
   bool held;     /**< doc is initialised (freed by mn_source__projection_release) */
} mn_source__projection_t;

/**
 * doc itself, or with ids_only its {_id} (held in p until the next release); doc as
 * stored when it has no readable _id.
 */
const bson_t *mn_source__project(mn_source__projection_t *p, const bson_t *doc);

/** Free the {_id} handed out last, if any.  Call before the next document and at the end. */
void mn_source__projection_release(mn_source__projection_t *p);

/* -- Buffered file stream (file.c) --------------------------------------- */

/** Whether s ends in suffix. */
bool mn_source__has_suffix(const char *s, const char *suffix);

#define MN_SOURCE__FILE_BUF (64u * 1024u)

typedef struct {
   char *path;         /**< owned; used in messages */
   int fd;             /**< -1 once handed to gz */
   gzFile gz;          /**< NULL for a plain file */
   uint64_t size;      /**< file size in bytes (compressed size for gz) */
   uint64_t consumed;  /**< uncompressed bytes handed to the caller */
   unsigned char *buf; /**< owned, MN_SOURCE__FILE_BUF bytes */
   size_t pos;         /**< next unread byte in buf */
   size_t len;         /**< bytes in buf */
   bool eof;           /**< no more input */
   bool failed;        /**< a read failed; error holds why */
   bool cut_short;     /**< a gzip stream ended before its trailer */
   mn_error_t error;   /**< MN_ERROR_IO/MN_IO_READ when failed */
} mn_source__file_t;

/** Open path; gzip-compressed when the name ends in ".gz". MN_IO_OPEN on failure. */
bool mn_source__file_open(mn_source__file_t *file, const char *path, mn_error_t *error);

/**
 * The buffered bytes, refilling when empty.  *avail is 0 at the end of input
 * or on failure (check file->failed).  Advance with mn_source__file_consume().
 */
const unsigned char *mn_source__file_peek(mn_source__file_t *file, size_t *avail);

/** Mark n of the peeked bytes as read. */
void mn_source__file_consume(mn_source__file_t *file, size_t n);

/** Copy up to n bytes into dst; fewer only at end of input or on failure. */
size_t mn_source__file_read(mn_source__file_t *file, void *dst, size_t n);

/** Bytes of the file read so far (compressed for gz) and the file size. */
void mn_source__file_progress(const mn_source__file_t *file, uint64_t *done, uint64_t *total);

/** Release the file. Safe on a zeroed or already closed struct. */
void mn_source__file_close(mn_source__file_t *file);

#endif
