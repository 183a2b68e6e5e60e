/*
 * mongonorm/error.h - the one error type used across the library.
 *
 * Modelled on libbson's bson_error_t: a domain, a code and a fixed-size
 * message.  Nothing is allocated on the failure path; callers keep the
 * struct on the stack and pass its address as the last parameter of every
 * fallible function.  Every domain and code is listed in docs/errors.md.
 */
#ifndef MONGONORM_ERROR_H
#define MONGONORM_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MN_PRINTF(f, a)
#endif

/** Size of mn_error_t.message, terminating NUL included. */
#define MN_ERROR_MESSAGE_SIZE 1024

/** Where an error comes from.  Each maps to an exit code (docs/exit-codes.md). */
typedef enum {
   MN_ERROR_NONE = 0,
   MN_ERROR_USAGE = 1,   /**< bad command line or option value */
   MN_ERROR_MAPPING = 2, /**< the mapping file is invalid */
   MN_ERROR_MONGO = 3,   /**< reading the source (MongoDB, dump or JSON) failed */
   MN_ERROR_PG = 4,      /**< talking to PostgreSQL failed */
   MN_ERROR_CONVERT = 5, /**< a document or value could not be converted */
   MN_ERROR_IO = 6,      /**< a local file could not be read or written */
} mn_error_domain_t;

/** Codes; each is only meaningful together with its domain. */
typedef enum {
   MN_USAGE_BAD_OPTION = 1,
   MN_USAGE_MISSING_OPTION = 2,
} mn_usage_code_t;

typedef enum {
   MN_MAPPING_SYNTAX = 1,       /**< YAML does not parse */
   MN_MAPPING_UNKNOWN_KEY = 2,  /**< a key the format does not define */
   MN_MAPPING_BAD_VALUE = 3,    /**< a value of the wrong kind or out of range */
   MN_MAPPING_MISSING_KEY = 4,  /**< a required key is absent */
   MN_MAPPING_BAD_REFERENCE = 5 /**< names a table, column or collection that does not exist */
} mn_mapping_code_t;

typedef enum {
   MN_MONGO_CONNECT = 1,         /**< the server or URI is unusable */
   MN_MONGO_QUERY = 2,           /**< a cursor failed */
   MN_MONGO_CORRUPT = 3,         /**< a dump or JSON file does not parse */
   MN_MONGO_NOT_FOUND = 4,       /**< a mapped collection is not in the source */
   MN_MONGO_TOO_MANY_DELETES = 5 /**< the source lacks more loaded documents than a run may
                                      delete (mn_run_opts_t.max_delete_percent) */
} mn_mongo_code_t;

typedef enum {
   MN_PG_CONNECT = 1,
   MN_PG_QUERY = 2,
   MN_PG_COPY = 3,
   MN_PG_LOCKED = 4,       /**< another run holds the target */
   MN_PG_SCHEMA = 5,       /**< the target schema is missing or older than the tool */
   MN_PG_BULK_PENDING = 6, /**< a bulk load is in progress: `init` applies no new file */
   MN_PG_REBUILD = 7       /**< an index or foreign key a bulk load dropped could not be put
                                back (a row violates the foreign key); it stays recorded */
} mn_pg_code_t;

typedef enum {
   MN_CONVERT_INVALID = 1,         /**< a value does not convert to its column type */
   MN_CONVERT_MISSING = 2,         /**< a required value is absent */
   MN_CONVERT_ENUM = 3,            /**< a value outside the declared enumeration */
   MN_CONVERT_REFERENCE = 4,       /**< a reference to a document that does not exist */
   MN_CONVERT_DUPLICATE = 5,       /**< a duplicate a unique key forbids */
   MN_CONVERT_BAD_DOCUMENT = 6,    /**< invalid BSON, invalid UTF-8, or no _id */
   MN_CONVERT_TOO_MANY_REJECTS = 7 /**< a run rejected more documents than its limits allow
                                        (mn_run_opts_t.max_rejects, max_reject_ratio) */
} mn_convert_code_t;

typedef enum { MN_IO_OPEN = 1, MN_IO_READ = 2, MN_IO_WRITE = 3 } mn_io_code_t;

/** An error: fill with mn_set_error(), read the fields directly. */
typedef struct {
   uint32_t domain;                     /**< an mn_error_domain_t */
   uint32_t code;                       /**< a code of that domain */
   char message[MN_ERROR_MESSAGE_SIZE]; /**< NUL-terminated, no final newline */
} mn_error_t;

/**
 * Fill an error.  Safe to call with error == NULL (does nothing).
 * The message is formatted with printf rules and truncated to fit.
 */
void mn_set_error(mn_error_t *error, uint32_t domain, uint32_t code, const char *fmt, ...)
   MN_PRINTF(4, 5);

/** Reset an error to "no error". Safe with error == NULL. */
void mn_error_clear(mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
