/*
 * mongonorm/generate.h - deterministic synthetic documents from a model file.
 *
 * A generator MODEL (YAML, docs/generate.md) declares collections, how many
 * documents each has as a function of a scale, and per field a generator
 * (ids, picks from vocabularies, templates, numbers, dates, references to
 * other collections, sub-documents, arrays) plus "mess" injections, each with
 * a rate and the effect a correct conversion must show (rejected document,
 * merged or skipped row, or none).  The engine knows no deployment:
 * MediChat is fixtures/medichat/generator.yaml.
 *
 * Determinism: every random choice comes from splitmix64 streams derived from
 * (seed, collection, document index, field, element); only integer
 * arithmetic decides anything, so the same model, scale, seed and mess give
 * the same documents, byte for byte, on any machine.
 *
 * While it generates, the engine counts what the declared expectations say a
 * conversion must give (the manifest): documents per collection, rejected
 * documents by reason, rows per table, merged and skipped rows.
 */
#ifndef MONGONORM_GENERATE_H
#define MONGONORM_GENERATE_H

#include <bson/bson.h>
#include <mongonorm/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A loaded generator model (opaque). */
typedef struct mn_gen_model mn_gen_model_t;

/** Expected outcome counts of one generation (opaque). */
typedef struct mn_gen_manifest mn_gen_manifest_t;

/** Output formats of mn_generate(). */
typedef enum {
   MN_GEN_FORMAT_DUMP = 1,          /**< DIR/<db>/<collection>.bson (+ .metadata.json) */
   MN_GEN_FORMAT_JSON = 2,          /**< DIR/<collection>.json, relaxed Extended JSON lines */
   MN_GEN_FORMAT_JSON_CANONICAL = 3 /**< DIR/<collection>.json, canonical Extended JSON lines */
} mn_gen_format_t;

/** Mess factor 1.0 (the model's own rates), in millionths. */
#define MN_GEN_MESS_ONE 1000000u

/** What to generate; zero-initialise, then set. */
typedef struct {
   uint64_t scale;       /**< the model's counts are functions of this (e.g. users = scale) */
   uint64_t seed;        /**< any value; same seed, same documents */
   uint64_t mess_ppm;    /**< multiplies every injection rate, in millionths: 0 = clean data,
                              MN_GEN_MESS_ONE = the model's rates (rates cap at 1) */
   const char *database; /**< mn_generate(): database name instead of the model's; NULL */
} mn_gen_opts_t;

/**
 * Called once per generated document, in output order (collections in model order,
 * documents by index).
 * @param ctx the caller's pointer
 * @param collection collection name (borrowed)
 * @param doc the document (borrowed; valid during the call only)
 * @return false to stop generation; then set error
 */
typedef bool (*mn_gen_emit_fn)(void *ctx, const char *collection, const bson_t *doc,
                               mn_error_t *error);

/**
 * Load a model file.  Vocabulary files it names are read relative to its folder.
 * @param path the YAML file (not NULL)
 * @param error on failure: MN_ERROR_IO (cannot read), MN_ERROR_MAPPING with
 *        `model file "F", line N: ...` (invalid model)
 * @return a new model (free with mn_gen_model_destroy()), or NULL
 */
mn_gen_model_t *mn_gen_model_load(const char *path, mn_error_t *error);

/**
 * Load a model from memory.
 * @param yaml the text, len bytes (not NUL-terminated necessarily)
 * @param name the name used in error messages
 * @param base_dir folder for vocabulary files; NULL for the current folder
 * @param error as for mn_gen_model_load()
 * @return a new model or NULL
 */
mn_gen_model_t *mn_gen_model_load_string(const char *yaml, size_t len, const char *name,
                                         const char *base_dir, mn_error_t *error);

/** Free a model.  NULL is allowed. */
void mn_gen_model_destroy(mn_gen_model_t *model);

/** The database name the model declares (default "test").  Borrowed. */
const char *mn_gen_model_database(const mn_gen_model_t *model);

/** Number of collections, and the name of the i-th (borrowed). */
size_t mn_gen_model_n_collections(const mn_gen_model_t *model);
const char *mn_gen_model_collection(const mn_gen_model_t *model, size_t i);

/**
 * Generate every document and count the expectations.
 * @param model the model (borrowed)
 * @param opts scale, seed, mess
 * @param emit called per document (not NULL)
 * @param ctx passed to emit
 * @param manifest_out receives a new manifest (free with mn_gen_manifest_destroy());
 *        NULL if not wanted.  Not set on failure.
 * @param error on failure: what emit set, or MN_ERROR_USAGE for a model that cannot be
 *        generated at this scale (e.g. a reference to a collection with no document)
 * @return true when every document was emitted
 */
bool mn_gen_run(const mn_gen_model_t *model, const mn_gen_opts_t *opts, mn_gen_emit_fn emit,
                void *ctx, mn_gen_manifest_t **manifest_out, mn_error_t *error);

/**
 * Generate into files or a live MongoDB, and write the manifest.
 * @param out a folder (created if needed) or a mongodb:// URI (documents go to the model's
 *        database with unordered bulk inserts of 1000)
 * @param format file format (ignored for a URI)
 * @param gzip with MN_GEN_FORMAT_DUMP: write <collection>.bson.gz
 * @param manifest_path where manifest.json goes; NULL for <out>/manifest.json (required
 *        for a URI)
 * @param error MN_ERROR_IO, MN_ERROR_MONGO, MN_ERROR_USAGE
 * @return true on success; files written before a failure stay
 */
bool mn_generate(const mn_gen_model_t *model, const mn_gen_opts_t *opts, const char *out,
                 mn_gen_format_t format, bool gzip, const char *manifest_path, mn_error_t *error);

/** Free a manifest.  NULL is allowed. */
void mn_gen_manifest_destroy(mn_gen_manifest_t *manifest);

/**
 * The manifest as JSON (keys in model order; docs/generate.md, "Manifest").
 * @return a new string; free with bson_free()
 */
char *mn_gen_manifest_to_json(const mn_gen_manifest_t *manifest);

/** Documents generated in a collection (0 for an unknown name). */
uint64_t mn_gen_manifest_documents(const mn_gen_manifest_t *manifest, const char *collection);

/** Documents of a collection expected to be rejected (all reasons). */
uint64_t mn_gen_manifest_rejected(const mn_gen_manifest_t *manifest, const char *collection);

/** Expected rows loaded into a table (0 for a table the model never names). */
uint64_t mn_gen_manifest_rows(const mn_gen_manifest_t *manifest, const char *table);

/** Expected merged / skipped rows of a table. */
uint64_t mn_gen_manifest_merged(const mn_gen_manifest_t *manifest, const char *table);
uint64_t mn_gen_manifest_skipped(const mn_gen_manifest_t *manifest, const char *table);

/**
 * How many times an injection fired: `collection`, field path without indexes, and the
 * kind ("missing", "null", ...).  Counts every firing, in accepted and rejected documents.
 */
uint64_t mn_gen_manifest_injected(const mn_gen_manifest_t *manifest, const char *collection,
                                  const char *path, const char *kind);

#ifdef __cplusplus
}
#endif
#endif
