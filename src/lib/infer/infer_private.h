/*
 * infer_private.h - what the files of infer/ share behind mongonorm/infer.h.
 *
 * The survey (survey.c, refs.c) is a tree per collection: a node per distinct field
 * path, with the array elements of a path as its `elem` node and the values under keys
 * that look like data (a map) as its `mapval` node, so the tree is bounded by the
 * paths, never by the documents or the keys of a map.  The draft (draft.c, draft_elem.c,
 * names.c) turns each tree into table entries and columns; the writers (yaml_out.c,
 * sql_out.c, survey_out.c) print them.
 */
#ifndef MN_INFER_PRIVATE_H
#define MN_INFER_PRIVATE_H

#include <mongonorm/infer.h>

#include <glib.h>

/** Slots of mn_infer__node_t.types: BSON types 0x01..0x13, MinKey, MaxKey. */
#define MN_INFER__N_TYPES 22
#define MN_INFER__T_MINKEY 20
#define MN_INFER__T_MAXKEY 21

/** ObjectIds sampled per path for the reference check. */
#define MN_INFER__OID_SAMPLE 64

/** Registers of the distinct-count sketch (HyperLogLog, 2^8). */
#define MN_INFER__HLL 256

typedef enum {
   MN_INFER__ROOT = 0,  /**< the document */
   MN_INFER__FIELD = 1, /**< a named field of a sub-document (or of the document) */
   MN_INFER__ELEM = 2,  /**< the elements of an array */
   MN_INFER__MAPVAL = 3 /**< the values under data-like keys of a sub-document */
} mn_infer__kind_t;

typedef struct mn_infer__node mn_infer__node_t;

/** One path of a collection, with what its values were. */
struct mn_infer__node {
   char *key;   /**< the field name (owned); "[]" for elements, "*" for map values */
   size_t klen; /**< its length in bytes (a key may hold anything but NUL) */
   mn_infer__kind_t kind;
   mn_infer__node_t *parent;
   int depth;                          /**< sub-document levels from the document */
   uint64_t present;                   /**< values seen (null included) */
   uint64_t nulls;                     /**< of present: null */
   uint64_t types[MN_INFER__N_TYPES];  /**< per BSON type (see above) */
   int64_t int_min, int_max;           /**< over int32 and int64 values */
   double dbl_min, dbl_max;            /**< over doubles (NaN left out) */
   uint64_t dbl_fraction;              /**< doubles that are not whole numbers */
   int64_t date_min, date_max;         /**< over Dates, ms since 1970 */
   uint64_t str_min, str_max, str_sum; /**< string lengths in characters */
   uint64_t arr_min, arr_max, arr_sum; /**< array lengths */
   uint64_t bin_uuid;                  /**< binary values of subtype 3 or 4 */
   GHashTable *values;                 /**< string -> count (GUINT), at most enum_max; NULL
                                            before the first string */
   bool many_values;                   /**< more distinct strings than enum_max were seen */
   guint8 *hll;                        /**< MN_INFER__HLL registers of distinct strings (or
                                            map keys, on a map node), or NULL */
   GHashTable *oids;                   /**< sampled ObjectIds: 12-byte key (owned) -> 1 */
   uint64_t ref_hits;                  /**< of the sample: _ids of ref_collection */
   uint64_t ref_now;                   /**< of the sample: _ids of the collection being read */
   const char *ref_collection;         /**< set by refs.c: the collection referenced */
   GHashTable *children;               /**< key (borrowed from the child) -> node */
   GPtrArray *order;                   /**< children in the order first seen (owned) */
   mn_infer__node_t *elem;             /**< the elements, when it held arrays (owned) */
   mn_infer__node_t *mapval;           /**< values under data-like keys (owned) */
   uint64_t data_keys;                 /**< keys of this sub-document that looked like data */
   uint64_t odd_keys;                  /**< of them: keys no mapping path can name ("", a
                                            ".", a leading "$") */
   uint64_t overflow;                  /**< keys not kept: the collection's path cap */
};

typedef struct {
   char *name;             /**< the collection (owned) */
   uint64_t documents;     /**< surveyed */
   uint64_t unreadable;    /**< records that did not parse or were not valid BSON */
   size_t nodes;           /**< nodes of the tree */
   size_t capped;          /**< keys not kept because of max_paths */
   mn_infer__node_t *root; /**< owned */
   bool oid_ids;           /**< its _ids are ObjectIds (a reference target) */
} mn_infer__coll_t;

struct mn_infer_survey {
   mn_infer_opts_t opts;    /**< collections: NULL (see opts_collections) */
   char **opts_collections; /**< a copy of the collections to survey, or NULL: all */
   GPtrArray *colls;        /**< mn_infer__coll_t *, in the order first seen */
   uint64_t documents;      /**< over every collection */
   bool finished;           /**< mn_infer__survey_finish() ran: no more documents */
};

/** Fold the sub-documents and scalars found beside arrays at one path into the node of
 *  its elements (they are elements too, with `on_scalar: single`).  Once; idempotent. */
void mn_infer__survey_finish(mn_infer_survey_t *survey);

/** The node's values that were not null. */
uint64_t mn_infer__non_null(const mn_infer__node_t *n);

/** How often the node's values were of BSON type t (bson_type_t, MinKey, MaxKey). */
uint64_t mn_infer__count(const mn_infer__node_t *n, int t);

/** Slot of a bson_type_t in mn_infer__node_t.types. */
int mn_infer__slot(bson_type_t t);

/** The name of a slot ("string", "int32", ...). */
const char *mn_infer__type_name(int slot);

/** Distinct count estimated by the node's sketch (0 without one). */
double mn_infer__distinct(const mn_infer__node_t *n);

/** Whether a key can be written in a mapping path (not "", no ".", no leading "$"). */
bool mn_infer__key_addressable(const char *key, size_t len);

/** Hash and equality of 12-byte ObjectIds (GHashTable). */
guint mn_infer__oid_hash(gconstpointer key);
gboolean mn_infer__oid_equal(gconstpointer a, gconstpointer b);

/** The collection of that name, or NULL. */
mn_infer__coll_t *mn_infer__find_coll(const mn_infer_survey_t *survey, const char *name);

/* ---- names.c ---- */

/** `text` as a snake_case identifier of at most 63 bytes (a new string, bson_free). */
char *mn_infer__snake(const char *text, size_t len);

/**
 * A name of at most 63 bytes that is not in `taken` (a set of strings, owned), added to
 * it: `base`, else base_2, base_3, ... (cut to fit).  A new string, bson_free.
 */
char *mn_infer__unique_name(GHashTable *taken, const char *base);

/** Whether PostgreSQL reads `name` only quoted (a keyword that is not unreserved). */
bool mn_infer__is_keyword(const char *name);

/* ---- the draft ---- */

typedef enum {
   MN_INFER__SRC_PATH = 0, /**< path: ... */
   MN_INFER__SRC_VALUE = 1 /**< value: doc_id | parent_id | index | key */
} mn_infer__src_t;

typedef struct {
   char *name; /**< column name, unique in its table (owned) */
   mn_infer__src_t src;
   char *path;       /**< the path or the value's name (owned) */
   const char *type; /**< mapping type ("text", "bigint", ...), static */
   bool not_null;    /**< NOT NULL in the SQL (generated columns) */
   char *references; /**< collection referenced (owned), or NULL */
   char *ref_table;  /**< its table (owned), for the FOREIGN KEY */
   char *fk_table;   /**< a generated column's FOREIGN KEY ... ON DELETE CASCADE (owned) */
   bool lenient;     /**< on_invalid: null (the raw_to or the odd values) */
   char *raw_to;     /**< the raw_to column (owned), or NULL */
   char *comment;    /**< a comment after the column (owned), or NULL */
   bool review;      /**< the comment is a REVIEW */
   int shape;        /**< -1: a plain column; else the shape's slot (string, document...) */
   bool shared;      /**< the same column as one of another shape: no SQL of its own */
} mn_infer__col_t;

typedef struct {
   char *table;       /**< table name (owned), unique in the draft */
   int parent;        /**< index of the parent entry in its collection, -1: the document */
   char *each;        /**< the path iterated (owned), NULL for the document-level entry */
   bool map;          /**< each_as: map */
   bool single;       /**< on_scalar: single */
   bool skip_other;   /**< on_other_shape: skip_row */
   bool doc_shape;    /**< shapes with a `document` one, declared even when every field of
                          the sub-documents went to child tables or the catch-all */
   int depth0;        /**< sub-document depth of the entry's element (for --depth) */
   GPtrArray *cols;   /**< mn_infer__col_t * (owned) */
   GPtrArray *notes;  /**< comment lines before the entry (owned strings); "REVIEW: " first
                          for a review */
   GHashTable *taken; /**< column names in use */
   bool catch_all;    /**< its elements are sub-documents drafted field by field: it gets an
                          `unmapped_to` column */
   char *unmapped_to; /**< the catch-all column (owned), named once every column is in, or
                          NULL */
   GPtrArray *capped; /**< paths (owned) --max-columns left to the catch-all, in order */
} mn_infer__table_t;

typedef struct {
   const mn_infer__coll_t *coll;
   GPtrArray *tables;       /**< mn_infer__table_t * (owned); [0] the document's */
   GPtrArray *ignore;       /**< paths (owned strings) under ignore: */
   GPtrArray *ignore_notes; /**< the comment of each ignore entry (owned, or NULL) */
   GPtrArray *notes;        /**< comment lines before the collection (owned) */
} mn_infer__dcoll_t;

struct mn_infer_draft {
   const mn_infer_survey_t *survey;
   GPtrArray *colls;   /**< mn_infer__dcoll_t * (owned), in load order (referenced first) */
   GHashTable *tables; /**< table names in use (owned strings) */
   size_t n_tables;
   size_t reviews;
   int cur_shape;         /**< while drafting a shape's columns: its slot, else -1 */
   GHashTable *as_jsonb;  /**< nodes made one jsonb column by --max-columns */
   GHashTable *as_ignore; /**< nodes ignored by --max-columns */
};

/** A new column (owned by the caller until added). */
mn_infer__col_t *mn_infer__col_new(const char *name, mn_infer__src_t src, const char *path,
                                   const char *type);

/** Free a column. */
void mn_infer__col_free(gpointer col);

/** Add a comment (printf) to a column; review: counted as a REVIEW note. */
void mn_infer__col_note(mn_infer_draft_t *d, mn_infer__col_t *c, bool review, const char *fmt, ...)
   G_GNUC_PRINTF(4, 5);

/** Add a note line (printf) before a table; review: a REVIEW note. */
void mn_infer__table_note(mn_infer_draft_t *d, mn_infer__table_t *t, bool review, const char *fmt,
                          ...) G_GNUC_PRINTF(4, 5);

/** A new table entry in the collection, named uniquely from `base`; returns its index. */
int mn_infer__table_add(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, const char *base, int parent,
                        const char *each);

/** Add a column to a table under a unique name made from its name. */
void mn_infer__table_add_col(mn_infer__table_t *t, mn_infer__col_t *c);

/**
 * The columns, child entries and ignore entries for the values at node `n`, read in
 * entry `entry` at `rel` (the path from the entry's element, "" for the element itself)
 * and named with `prefix` (draft_elem.c).
 */
void mn_infer__draft_value(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                           const mn_infer__node_t *n, const char *rel, const char *prefix);

/** The child table (each_as: map when map) of the array or map at node n, read at rel in
 *  entry (draft_array.c). */
void mn_infer__draft_array(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                           const mn_infer__node_t *n, const char *rel, const char *prefix,
                           bool map);

/** One jsonb column for the values at rel, with a note (why and the types). */
void mn_infer__jsonb_column(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                            const mn_infer__node_t *n, const char *rel, const char *prefix,
                            bool review, const char *why);

/** A column for the scalar values at rel (type by the values; raw_to, references). */
void mn_infer__scalar_column(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                             const mn_infer__node_t *n, const char *rel, const char *prefix);

/** The fields of the sub-documents at rel as columns, or a map, or a jsonb column. */
void mn_infer__draft_document(mn_infer_draft_t *d, mn_infer__dcoll_t *dc, int entry,
                              const mn_infer__node_t *n, const char *rel, const char *prefix);

/** The type for values of one BSON type, NULL when only jsonb holds them. */
const char *mn_infer__type_of_slot(const mn_infer__node_t *n, bson_type_t t);

/** "string 12, int32 3": the node's type counts (a new string). */
char *mn_infer__types_summary(const mn_infer__node_t *n);

/** Fit the columns of a table whose element is n under --max-columns (draft.c). */
void mn_infer__fit_columns(mn_infer_draft_t *d, const mn_infer__node_t *n, size_t generated);

/** The mapping type of a node's scalar values, and whether they were mixed (draft.c). */
const char *mn_infer__scalar_type(const mn_infer__node_t *n, bool *mixed);

/** Name the catch-all of each table of dc that gets one, and note what --max-columns
 *  left to it (draft.c). */
void mn_infer__catch_alls(mn_infer_draft_t *d, mn_infer__dcoll_t *dc);

/** The path `rel` extended by one key (a new string). */
char *mn_infer__join(const char *rel, const char *key);

#endif
