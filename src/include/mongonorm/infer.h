/*
 * mongonorm/infer.h - draft a mapping and a schema from the data (`mongonorm infer`).
 *
 * Two steps, each its own object:
 * - the survey (mn_infer_survey_t) reads documents and keeps, per collection and field
 *   path, what a person needs to decide a column: the BSON types with counts, missing
 *   and null counts, array lengths, string lengths, numeric and date ranges, a few
 *   distinct strings (enum candidates), whether a sub-document's keys look like data (a
 *   map), and a bounded sample of ObjectIds, checked against every collection's `_id`s in
 *   a second, `_id`-only read (references).  Its memory is bounded by the number of
 *   distinct paths (capped per collection), not by the number of documents;
 * - the draft (mn_infer_draft_t) decides from a survey the tables, columns, types and
 *   names, and writes them as a mapping file (YAML, with `# REVIEW` comments where a person
 *   must decide) and as the SQL that creates its tables.
 * Values of the source appear in no output unless mn_infer_opts_t.show_values is set
 * (the survey's enum candidates and ranges); field names do (they are the mapping).
 * docs/infer.md describes every decision.
 */
#ifndef MONGONORM_INFER_H
#define MONGONORM_INFER_H

#include <bson/bson.h>
#include <mongonorm/error.h>
#include <mongonorm/source.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Defaults of mn_infer_opts_init(). */
#define MN_INFER_MAX_PATHS 2000
#define MN_INFER_MAX_TABLES 200
#define MN_INFER_MAX_COLUMNS 200
#define MN_INFER_DEPTH 3
#define MN_INFER_ENUM_MAX 12

/** What to survey and how far to go; mn_infer_opts_init() sets the defaults. */
typedef struct {
   const char *const *collections; /**< NULL-terminated names to survey (copied by
                                        mn_infer_survey_new()), or NULL for every
                                        collection of the source */
   uint64_t sample;                /**< 0: every document; N: a `$sample` of N documents from a live
                                        server, the first N documents of a file */
   size_t max_paths;   /**< distinct field paths kept per collection; a sub-document with
                            more becomes one jsonb column (REVIEW) */
   size_t max_tables;  /**< tables of the whole draft; arrays beyond become jsonb columns */
   size_t max_columns; /**< columns per table; beyond, sub-documents become jsonb columns,
                            then fields are ignored (REVIEW) */
   int depth;          /**< path segments a flattened column may read below its table's
                            element; deeper sub-documents become jsonb columns */
   size_t enum_max;    /**< distinct strings kept per path (enum candidates), at most 64 */
   bool show_values;   /**< the survey report may quote values (enum candidates, ranges) */
} mn_infer_opts_t;

/** Set the defaults (MN_INFER_* above, every collection, every document, no values). */
void mn_infer_opts_init(mn_infer_opts_t *opts);

typedef struct mn_infer_survey mn_infer_survey_t;
typedef struct mn_infer_draft mn_infer_draft_t;

/**
 * A new, empty survey.
 * @param opts copied (the collections list too); NULL for the defaults
 * @return never NULL; free with mn_infer_survey_destroy()
 */
mn_infer_survey_t *mn_infer_survey_new(const mn_infer_opts_t *opts);

/**
 * Add one document of a collection to the survey (the collection is added on its first
 * document, in that order); nothing once a draft was made from the survey.  Documents that are not
 * valid BSON are counted as unreadable and otherwise skipped.
 * @param collection borrowed; doc borrowed
 */
void mn_infer_survey_add(mn_infer_survey_t *survey, const char *collection, const bson_t *doc);

/**
 * Count a collection that has no document yet (so that the draft still maps it).
 */
void mn_infer_survey_add_collection(mn_infer_survey_t *survey, const char *collection);

/**
 * Read the source: every collection the options name (or every collection it has), each
 * document through mn_infer_survey_add(); then, for the ObjectId fields, every
 * collection's `_id`s (an `_id`-only read) to find references.  Records that do not
 * parse are counted, not fatal.
 * @return false with error set when the source fails: a named collection it lacks
 *         (MN_ERROR_MONGO/MN_MONGO_NOT_FOUND), a read error (MN_ERROR_MONGO or
 *         MN_ERROR_IO); the survey then holds what was read so far
 */
bool mn_infer_survey_read(mn_infer_survey_t *survey, mn_source_t *source, mn_error_t *error);

/**
 * The reference pass alone (mn_infer_survey_read() calls it): the `_id`s of each surveyed
 * collection, read from the source with an `_id`-only read, decide which ObjectId fields
 * name documents of which collection.
 * @return false with error set as mn_infer_survey_read() says
 */
bool mn_infer_survey_find_references(mn_infer_survey_t *survey, mn_source_t *source,
                                     mn_error_t *error);

/** Documents surveyed, over every collection. */
uint64_t mn_infer_survey_documents(const mn_infer_survey_t *survey);

/** Collections surveyed. */
size_t mn_infer_survey_collections(const mn_infer_survey_t *survey);

/**
 * The survey as Markdown (survey.md): per collection its draft tables, then per path the
 * types with counts, missing and null counts, lengths, distinct counts, maps, references,
 * enum candidates (their values and the ranges only with show_values).
 * @param draft the draft made from this survey, for its tables; may be NULL
 * @return a new string to free with bson_free()
 */
char *mn_infer_survey_markdown(const mn_infer_survey_t *survey, const mn_infer_draft_t *draft);

/**
 * The same as JSON (survey.json): {"collections": [{"name", "documents", "paths": [...]}]}.
 * @return a new string to free with bson_free()
 */
char *mn_infer_survey_json(const mn_infer_survey_t *survey);

/** Free a survey.  NULL is allowed. */
void mn_infer_survey_destroy(mn_infer_survey_t *survey);

/**
 * Decide the tables, columns, types and names from a survey (docs/infer.md).  This
 * finishes the survey first: the sub-documents and scalars found at a path that also
 * holds arrays are counted as its elements (`on_scalar: single`), so add no document to
 * the survey afterwards (mn_infer_survey_add() ignores them then).
 * @param survey borrowed; it must outlive the draft
 * @return never NULL; free with mn_infer_draft_destroy()
 */
mn_infer_draft_t *mn_infer_draft_new(mn_infer_survey_t *survey);

/** The draft as a mapping file (mapping.yaml); a new string to free with bson_free(). */
char *mn_infer_draft_yaml(const mn_infer_draft_t *draft);

/** The draft's tables as SQL (sql/001_schema.sql); a new string to free with bson_free(). */
char *mn_infer_draft_sql(const mn_infer_draft_t *draft);

/** Tables of the draft, over every collection. */
size_t mn_infer_draft_tables(const mn_infer_draft_t *draft);

/** `# REVIEW` notes in the draft's mapping. */
size_t mn_infer_draft_reviews(const mn_infer_draft_t *draft);

/** Free a draft.  NULL is allowed. */
void mn_infer_draft_destroy(mn_infer_draft_t *draft);

/**
 * Write DIR/mapping.yaml, DIR/sql/001_schema.sql, DIR/survey.md and DIR/survey.json.
 * DIR is created when missing (mode 0755, its parent must exist).  Each file is written
 * new beside its place and renamed into it.
 * @param force false: a DIR that holds any of the four files is refused
 * @return false with error set: MN_ERROR_IO/MN_IO_OPEN (DIR exists and holds a draft,
 *         without force; DIR cannot be created), MN_ERROR_IO/MN_IO_WRITE (a file could
 *         not be written); files written before the failure stay
 */
bool mn_infer_write(const mn_infer_survey_t *survey, const mn_infer_draft_t *draft, const char *dir,
                    bool force, mn_error_t *error);

/**
 * A YAML scalar that reads back as exactly `text` (a plain scalar when that is safe, else
 * double-quoted with escapes): what the draft writes for every name and path.
 * @param text len bytes of UTF-8 (NUL not needed)
 * @return a new string to free with bson_free()
 */
char *mn_infer_yaml_scalar(const char *text, size_t len);

/**
 * An SQL identifier for `name`, quoted when PostgreSQL would not read it bare: a keyword
 * that is not unreserved (from PostgreSQL 15's parser/kwlist.h), or anything other than
 * lower-case letters, digits and `_` not starting with a digit.
 * @return a new string to free with bson_free()
 */
char *mn_infer_sql_ident(const char *name);

#ifdef __cplusplus
}
#endif
#endif
