/*
 * mongonorm/mapping.h - loading a mapping file into a compiled plan.
 *
 * The file format is specified in docs/mapping.md.  Loading validates it
 * completely (keys, types, references between entries, policies), so that
 * conversion never meets an unchecked mapping.  The compiled plan is
 * immutable and shared by every stage of a run.
 */
#ifndef MONGONORM_MAPPING_H
#define MONGONORM_MAPPING_H

#include <mongonorm/error.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_mapping mn_mapping_t;

/**
 * Load and compile a mapping file.
 * @param path the YAML file; never NULL
 * @return a new mapping (free with mn_mapping_destroy()), or NULL with error set:
 *         MN_ERROR_IO/MN_IO_OPEN when the file cannot be read; MN_ERROR_MAPPING with
 *         MN_MAPPING_SYNTAX, _UNKNOWN_KEY, _BAD_VALUE, _MISSING_KEY or _BAD_REFERENCE
 *         and a message `mapping file "PATH", line N: ...` naming the offending key
 *         (a key given twice in one YAML mapping is MN_MAPPING_BAD_VALUE; so is a
 *         `salt_env` variable that is unset or shorter than 16 bytes, named but never
 *         printed).  Reads the environment variables that `salt_env` keys name.
 */
mn_mapping_t *mn_mapping_load(const char *path, mn_error_t *error);

/** Same, from a string; `name` is used in messages in place of the path. */
mn_mapping_t *mn_mapping_load_string(const char *yaml, size_t len, const char *name,
                                     mn_error_t *error);

/** Free a mapping. NULL is allowed. */
void mn_mapping_destroy(mn_mapping_t *mapping);

/** Number of collections, in load order. */
size_t mn_mapping_n_collections(const mn_mapping_t *mapping);

/** Name of collection i (0-based). Borrowed. */
const char *mn_mapping_collection_name(const mn_mapping_t *mapping, size_t i);

/** Number of distinct target tables, in load order (parents first). */
size_t mn_mapping_n_tables(const mn_mapping_t *mapping);

/** Name of table i, unqualified. Borrowed. */
const char *mn_mapping_table_name(const mn_mapping_t *mapping, size_t i);

/*
 * The accessors below describe table `table` (0-based, less than mn_mapping_n_tables();
 * out of range is undefined) for the sink: its columns in order, and which of them holds
 * the document id.  Column 0 is always the row id, the table's key.
 */

/** Name of column `column` (less than mn_mapping_table_n_columns()) of table. Borrowed. */
const char *mn_mapping_table_column(const mn_mapping_t *mapping, size_t table, size_t column);

/** Number of columns of table, the row id (column 0) included. */
size_t mn_mapping_table_n_columns(const mn_mapping_t *mapping, size_t table);

/**
 * Index of the column of table that holds its rows' document id: 0 (the key) for a
 * primary table, whose row id is the document id.
 */
size_t mn_mapping_table_doc_column(const mn_mapping_t *mapping, size_t table);

/** Whether table holds the primary rows of a collection (one row per document). */
bool mn_mapping_table_is_primary(const mn_mapping_t *mapping, size_t table);

/** Index of the collection that feeds table (see mn_mapping_collection_name()). */
size_t mn_mapping_table_collection(const mn_mapping_t *mapping, size_t table);

/**
 * The mapping's fingerprint, 64 hex digits: SHA-256 of the file's bytes; when columns take a
 * salt (`salt_env`), SHA-256 of that and of an HMAC of a fixed text under each salt, so that
 * a new salt converts everything again and the fingerprint tells nothing of the salt.
 * Borrowed.
 */
const char *mn_mapping_digest(const mn_mapping_t *mapping);

/** Index of a collection by name, or -1. */
int mn_mapping_collection_index(const mn_mapping_t *mapping, const char *name);

/**
 * Whether a collection is declared `optional: true`: a source without it reads as an
 * empty collection.  Otherwise a mapped collection the source lacks stops the run
 * before anything is written (an error of domain MN_ERROR_MONGO, code
 * MN_MONGO_NOT_FOUND).  False for an index out of range.
 */
bool mn_mapping_collection_optional(const mn_mapping_t *mapping, size_t collection);

/** The field a collection declares as its watermark (`watermark:`), or NULL. Borrowed. */
const char *mn_mapping_watermark(const mn_mapping_t *mapping, size_t collection);

/** The target schema (default "public"). Borrowed. */
const char *mn_mapping_schema(const mn_mapping_t *mapping);

/**
 * The folder of the target schema's SQL files (`sql_dir:`, for `mongonorm init
 * --mapping`), a relative one resolved against the mapping file's folder ("m/x.yaml" with
 * `sql_dir: ../sql` gives "m/../sql").  NULL when the mapping declares none.  Borrowed.
 */
const char *mn_mapping_sql_dir(const mn_mapping_t *mapping);

#ifdef __cplusplus
}
#endif
#endif
