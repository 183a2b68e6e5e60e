/*
 * plan.h - the compiled mapping (internal to the library).
 *
 * mapping.c builds it from YAML; convert.c walks it once per document; the
 * sink reads the table list.  Every string and array is owned by the plan.
 */
#ifndef MN_PLAN_H
#define MN_PLAN_H

#include <mongonorm/mapping.h>
#include <mongonorm/value.h>

/** Where a path starts. */
typedef enum {
   MN_ROOT_ELEMENT = 0, /**< the current element (the document for document-level entries) */
   MN_ROOT_DOC,         /**< $doc. */
   MN_ROOT_PARENT       /**< $parent. */
} mn_path_root_t;

/**
 * A compiled dot path. n_segments == 0 with root ELEMENT means `$` (the element itself).
 * A segment written as a decimal integer ("0", "12", "-1") selects an element when it is
 * applied to an array (negative: counted from the end); applied to a sub-document it is
 * an ordinary field name.
 */
typedef struct {
   mn_path_root_t root;
   bool is_key;     /**< `$key`: the map key of the element */
   char **segments; /**< owned */
   size_t n_segments;
   bool *is_index; /**< per segment: written as an integer; owned (NULL when no segments) */
   int64_t *index; /**< per segment: that integer (valid where is_index); owned */
   int line;       /**< line in the mapping file */
   char *text;     /**< as written, for messages; owned */
   char *joined;   /**< the segments joined with dots (no $doc./$parent.); owned */
} mn_path_t;

typedef enum {
   MN_SRC_PATH = 0,
   MN_SRC_DOC_ID,
   MN_SRC_PARENT_ID,
   MN_SRC_INDEX,
   MN_SRC_KEY,
   MN_SRC_CONST,
   MN_SRC_UNMAPPED /**< `unmapped_to`: the element's fields no entry maps, one jsonb object */
} mn_source_kind_col_t;

typedef enum { MN_ON_REJECT = 0, MN_ON_NULL, MN_ON_SKIP_ROW } mn_policy_t;

/** `redact:` of a column: what every row stores in place of the source value. */
typedef enum {
   MN_REDACT_NONE = 0, /**< not redacted */
   MN_REDACT_NULL,     /**< `redact: true`: NULL */
   MN_REDACT_VALUE     /**< `redact: "text"`: mn_column_t.redact_value */
} mn_redact_t;

typedef struct {
   char *name;       /**< column name; owned */
   int table_column; /**< index in the table's column list */
   int line;         /**< line in the mapping file */
   mn_source_kind_col_t kind;
   mn_path_t *paths; /**< alternatives, first present wins; owned */
   size_t n_paths;
   char *const_value;    /**< for MN_SRC_CONST; owned */
   char *default_value;  /**< `default`: used (and counted) when the path is absent; owned */
   mn_value_spec_t spec; /**< arrays inside are owned by the column */
   bool required;
   mn_policy_t on_invalid;
   mn_policy_t on_missing;           /**< REJECT or SKIP_ROW */
   mn_policy_t on_missing_reference; /**< REJECT or NULL */
   int raw_to;                       /**< table column receiving unconverted text, -1 none */
   char *raw_to_name;  /**< as written, resolved to raw_to after the entry is read; owned */
   char *references;   /**< collection name, or NULL; owned */
   int ref_collection; /**< index of that collection in the plan, -1 none */
   mn_redact_t redact; /**< the value is validated as usual, then replaced (see docs/mapping.md) */
   char *redact_value; /**< MN_REDACT_VALUE: the replacement as stored (converted); owned */
   uint8_t *salt;      /**< `salt_env`: the key of spec.digest, read at load; owned, wiped */
   size_t salt_len;
} mn_column_t;

/** Whether a column's values must never reach the target, reports or messages as they are. */
#define MN_COLUMN_IS_PHI(c) ((c)->redact != MN_REDACT_NONE || (c)->spec.digest != MN_DIGEST_NONE)

/** A predicate of `when`. */
typedef enum {
   MN_PRED_IN = 1,
   MN_PRED_EXISTS,
   MN_PRED_NONEMPTY,
   MN_PRED_ANY,
   MN_PRED_ALL,
   MN_PRED_NOT
} mn_pred_kind_t;

typedef struct mn_pred {
   mn_pred_kind_t kind;
   mn_path_t path;
   char **values; /**< MN_PRED_IN */
   size_t n_values;
   bool ignore_case;
   struct mn_pred *children; /**< ANY, ALL, NOT (one) */
   size_t n_children;
} mn_pred_t;

typedef struct {
   bson_type_t type;     /**< element type this shape matches */
   mn_column_t *columns; /**< owned */
   size_t n_columns;
} mn_shape_t;

typedef enum { MN_EACH_NONE = 0, MN_EACH_ARRAY, MN_EACH_MAP } mn_each_t;

/** Rows one document may produce unless its collection says otherwise (docs/mapping.md). */
#define MN_MAX_ROWS_DEFAULT 1000000

/** One table entry of a collection. */
typedef struct {
   char *name;      /**< entry name; owned */
   char *table;     /**< target table; owned */
   int table_index; /**< in mn_mapping.tables */
   int parent;      /**< entry index in the collection, -1 = the document */
   int line;
   mn_each_t each_kind;
   mn_path_t each;       /**< valid when each_kind != NONE */
   char *split;          /**< owned, or NULL */
   bool scalar_single;   /**< on_scalar: single */
   mn_pred_t *when;      /**< owned, or NULL */
   mn_column_t *columns; /**< owned */
   size_t n_columns;
   mn_shape_t *shapes; /**< owned */
   size_t n_shapes;
   bool other_shape_skip; /**< on_other_shape: skip_row (else reject) */
   int *unique;           /**< table column indexes of the unique key; owned */
   size_t n_unique;
   bool unique_per_doc;  /**< the key includes the doc_id column */
   bool duplicate_merge; /**< on_duplicate: merge (else reject) */
   int doc_id_column;    /**< table column holding the document id; -1 for the primary row */
   char *drift_path;     /**< the elements' path as drift names it ("" for the document,
                              "notes.*" for a map's values); set by compute_covered; owned */
} mn_entry_t;

typedef struct {
   char *name; /**< collection; owned */
   int line;
   mn_entry_t *entries; /**< owned; entries[0] is the primary row */
   size_t n_entries;
   char **ignore; /**< ignored source paths; owned */
   size_t n_ignore;
   char **covered; /**< mapped source paths (normalized, no array indexes); owned */
   size_t n_covered;
   char **iterated; /**< paths some `each` iterates (their scalar elements are mapped) */
   size_t n_iterated;
   char **maps; /**< paths iterated as maps: their keys read as "*" in drift paths */
   size_t n_maps;
   char **each_paths; /**< drift paths of the fields entries iterate (`each`; "*" for any map
                           key): their fields are their elements', not in an enclosing
                           element's `unmapped_to`; owned */
   size_t n_each_paths;
   char *watermark; /**< or NULL; owned */
   bool optional;   /**< `optional: true`: the source may lack it (read as empty) */
   size_t max_rows; /**< `max_rows_per_document`: rows one document may produce, all its
                         tables together; more rejects it (default MN_MAX_ROWS_DEFAULT) */
} mn_collection_t;

typedef struct {
   char *name;     /**< unqualified; owned */
   char **columns; /**< union of the columns its entries write; [0] is the key; owned */
   size_t n_columns;
   char *key;         /**< key column name (= columns[0]); owned */
   int collection;    /**< the collection feeding it (the first, if several) */
   bool is_primary;   /**< holds the primary rows of its collection */
   int doc_id_column; /**< column with the document id (0 for primary tables) */
} mn_table_t;

struct mn_mapping {
   char *path;
   char digest[2 * 32 + 1]; /* the mapping's fingerprint, hex (mn_mapping_digest) */
   char *schema;
   char *sql_dir; /**< `sql_dir:`, relative paths resolved against the file's folder; or NULL */
   mn_collection_t *collections;
   size_t n_collections;
   mn_table_t *tables;
   size_t n_tables;
};

#endif
