/*
 * convert_private.h - what the converter's files share: the row set's layout (rowset.c
 * keeps it, convert.c fills it) and the drift walk (drift.c).
 */
#ifndef MN_CONVERT_PRIVATE_H
#define MN_CONVERT_PRIVATE_H

#include "mapping/plan.h"

#include <mongonorm/convert.h>

#include <glib.h>

typedef struct {
   size_t table;
   size_t first; /* index of its first value in rowset.values */
   size_t n;
} row_t;

typedef struct {
   char *path;
   char *message;
} reject_t;

typedef struct {
   size_t table, column, ref_table;
   mn_uuid_t row_id, ref_id;
} deferred_t;

typedef struct {
   const char *table;
   const char *column;
   const char *kind;
} coercion_t;

struct mn_rowset {
   mn_uuid_t doc_id;
   char *doc_id_json;
   GArray *rows;            /* row_t */
   GArray *values;          /* gssize offset into text, -1 = NULL */
   GString *text;           /* NUL-separated values */
   GArray *rejects;         /* reject_t */
   GArray *deferred;        /* deferred_t */
   GArray *coercions;       /* coercion_t (pending until accepted) */
   GPtrArray *scratch_docs; /* bson_t* built for split elements */
   GPtrArray *scratch_strings;
   GPtrArray *pending_unique;     /* run-wide unique keys to record if accepted */
   GArray *pending_unique_tables; /* size_t per pending key */
};

/** Drop the rows and what only rows need (values, deferred references, pending coercions
 * and keys); arrays a large document grew are freed, not kept for the rest of the run. */
void mn_rowset__drop_rows(mn_rowset_t *rs);

/** Empty the row set for the next document: rows, rejects, scratch memory, the id. */
void mn_rowset__clear(mn_rowset_t *rs);

/** Whether a value is null or undefined: both read as absent. */
static inline bool
mn_convert__is_nullish(const bson_iter_t *it)
{
   return BSON_ITER_HOLDS_NULL(it) || BSON_ITER_HOLDS_UNDEFINED(it);
}

/**
 * Count the unmapped paths of doc, a document of collection coll, into stats (see
 * drift.c).  cache is the collection's coverage cache (path -> coverage + 1, g_free'd
 * keys), kept by the converter across documents.
 */
void mn_drift__count(GHashTable *cache, const mn_collection_t *coll, mn_stats_t *stats,
                     const bson_t *doc);

#endif
