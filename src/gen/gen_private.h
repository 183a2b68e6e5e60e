/*
 * gen_private.h - the compiled generator model, shared by model.c
 * (YAML -> model), generate.c (documents + expectations) and out.c (writers).
 */
#ifndef MONGONORM_GENERATE_PRIVATE_H
#define MONGONORM_GENERATE_PRIVATE_H

#include <mongonorm/generate.h>

#include <glib.h>
#include <stdint.h>

#define MN_GEN_PPB 1000000000u /* rates are held in parts per billion */

typedef struct mn_gen_field mn_gen_field_t;
typedef struct mn_gen_gen mn_gen_gen_t;

/** A weighted list of strings (a vocabulary, or an inline pick). */
typedef struct {
   char **items;
   uint64_t *cum; /* cumulative weights; cum[n-1] is the total */
   size_t n;
} mn_gen_list_t;

/** A vocabulary: one list, or one list per value of a trait (grouped, `by`). */
typedef struct {
   char *name;
   char *by;             /* NULL: not grouped; else a trait name */
   char **group_names;   /* grouped: the trait values that have a list */
   mn_gen_list_t *lists; /* grouped: one per group; else lists[0] */
   size_t n_groups;
} mn_gen_vocab_t;

/** A count: weighted ranges [lo, hi]; a fixed N is one range N..N. */
typedef struct {
   int64_t *lo, *hi;
   uint64_t *cum;
   size_t n;
} mn_gen_count_t;

typedef enum {
   MN_GEN_OBJECTID,
   MN_GEN_REF,
   MN_GEN_TRAIT,
   MN_GEN_CONST,
   MN_GEN_BOOL,
   MN_GEN_PICK,
   MN_GEN_TEMPLATE,
   MN_GEN_INT,
   MN_GEN_LONG,
   MN_GEN_DOUBLE,
   MN_GEN_DECIMAL,
   MN_GEN_DATE,
   MN_GEN_DATE_TEXT,
   MN_GEN_DOCUMENT,
   MN_GEN_ARRAY,
   MN_GEN_ONEOF,
   MN_GEN_JOIN,
   MN_GEN_SEQ,
   MN_GEN_NULL
} mn_gen_kind_t;

/** A template piece: literal text, or a placeholder. */
typedef enum { TPL_TEXT, TPL_VOCAB, TPL_INDEX, TPL_INT, TPL_FIELD } mn_gen_tpl_kind_t;

typedef struct {
   mn_gen_tpl_kind_t kind;
   char *text;     /* TPL_TEXT literal; TPL_FIELD field name */
   int vocab;      /* TPL_VOCAB */
   int64_t lo, hi; /* TPL_INT; width in lo for zero padding is `pad` */
   int pad;
   int lower; /* TPL_VOCAB/TPL_FIELD: 1 = lower-case ASCII */
} mn_gen_tpl_t;

struct mn_gen_gen {
   mn_gen_kind_t kind;
   int line;
   /* PICK: an inline list, or a vocabulary */
   mn_gen_list_t list;
   int vocab; /* -1: inline */
   /* TEMPLATE */
   mn_gen_tpl_t *parts;
   size_t n_parts;
   int64_t rep_lo, rep_hi; /* repeat the template (joined by a space); 0 = once */
   /* INT, LONG, DOUBLE, DECIMAL: [lo, hi] in units of 10^-decimals */
   int64_t lo, hi;
   int decimals;
   /* DATE, DATE_TEXT: ms since the epoch */
   int64_t from_ms, to_ms;
   char *after;              /* a date field already generated (this level or above) */
   int64_t step_lo, step_hi; /* ms after `after` (or after the previous element) */
   bool cumulative;          /* in an array: each element after the previous one */
   bool from_id;             /* the document's _id timestamp */
   /* BOOL */
   uint64_t true_ppb;
   /* CONST */
   char *text;
   /* REF */
   int target;          /* collection index */
   int where_trait;     /* -1: any document */
   uint64_t where_mask; /* bit per trait value */
   bool reject_if_rejected;
   char *reject_reason;
   /* TRAIT */
   int trait;
   /* DOCUMENT: fields; ARRAY/JOIN: the element in `of` */
   mn_gen_field_t *fields;
   size_t n_fields;
   mn_gen_field_t *of;
   mn_gen_count_t count;
   bool distinct;
   char *sep;      /* JOIN */
   int rows_table; /* ARRAY/JOIN/DOCUMENT: each element (or the document) is a row; -1 */
   /* ONEOF */
   mn_gen_gen_t *alts;
   uint64_t *alt_cum;
   size_t n_alts;
   /* SEQ: per distinct value of a REF field of the document */
   char *per;
};

typedef enum {
   MN_INJ_MISSING,
   MN_INJ_NULL,
   MN_INJ_CASE,
   MN_INJ_SPACES,
   MN_INJ_EMPTY,
   MN_INJ_DUPLICATE,
   MN_INJ_DANGLING,
   MN_INJ_SCALAR,
   MN_INJ_REPLACE,
   MN_INJ_HUGE,
   MN_INJ_N
} mn_gen_inj_kind_t;

typedef enum { MN_EXPECT_NONE, MN_EXPECT_REJECT, MN_EXPECT_MERGE, MN_EXPECT_SKIP } mn_gen_expect_t;

typedef struct {
   mn_gen_inj_kind_t kind;
   int line;
   uint64_t rate_ppb;
   mn_gen_expect_t expect;
   char *reason;           /* reject reason key (default: the field path) */
   mn_gen_gen_t *with;     /* REPLACE: a generator ... */
   mn_gen_field_t *fields; /* ... or fields emitted instead of this one */
   size_t n_fields;
   int rows_table;      /* REPLACE: the replacement feeds one row of this table */
   mn_gen_count_t huge; /* HUGE: element count */
   int table;           /* MERGE/SKIP: the table whose row it affects */
   bool no_row;         /* `row: none`: the element then produces no row at all */
   int unmapped;        /* `unmapped: path`: index in drift_paths, or -1 */
} mn_gen_inj_t;

struct mn_gen_field {
   char *name; /* NULL for an array element */
   char *path; /* dotted, no indexes: for reasons and injection counts */
   int line;
   mn_gen_gen_t gen;
   uint64_t optional_ppb; /* probability that the field is absent (clean data) */
   int only_trait;        /* -1: every document */
   uint64_t only_mask;
   mn_gen_inj_t *mess;
   size_t n_mess;
   int elem_table;  /* for an array element: the array's rows table (or -1) */
   bool top;        /* a field of the document itself */
   bool drift;      /* the mapping does not know it (counted as unmapped) */
   int drift_index; /* its index in mn_gen_model_t.drift_paths */
};

typedef struct {
   char *name;
   char **values;
   uint64_t *cum;
   size_t n;
} mn_gen_trait_t;

typedef struct {
   int table;
   int trait; /* -1: always */
   uint64_t mask;
} mn_gen_rows_t;

typedef struct {
   char *name;
   int line;
   uint64_t per_scale_ppm; /* count = scale * per_scale */
   mn_gen_trait_t *traits;
   size_t n_traits;
   mn_gen_rows_t *rows;
   size_t n_rows;
   mn_gen_field_t *fields;
   size_t n_fields;
   int id_field;      /* index of the _id field (an OBJECTID), or -1 */
   int *vocab_trait;  /* per vocabulary: the trait it is grouped by here, or -1 */
   int **vocab_group; /* per vocabulary: per trait value, the list index (-1: none) */
} mn_gen_coll_t;

struct mn_gen_model {
   char *name;
   char *database;
   mn_gen_vocab_t *vocabs;
   size_t n_vocabs;
   mn_gen_coll_t *colls;
   size_t n_colls;
   GPtrArray *tables;      /* char*: every table named, in first-use order */
   GPtrArray *drift_paths; /* char*: per collection "coll\x1fpath", in model order */
};

/** The manifest (generate.h); counts are filled by generate.c as documents are made. */
struct mn_gen_manifest {
   uint64_t scale, seed, mess_ppm;
   size_t n_colls;
   char **colls;
   uint64_t *docs, *rejected;
   GHashTable **reasons;  /* per collection: reason -> uint64_t* */
   GHashTable **unmapped; /* per collection: path -> uint64_t* */
   size_t n_tables;
   char **tables;
   uint64_t *rows, *merged, *skipped, *rejected_rows;
   GHashTable *injected; /* "coll\x1fpath\x1fkind" -> uint64_t* */
};

/* A new, empty manifest for model m and options o (manifest.c). Free: mn_gen_manifest_destroy. */
mn_gen_manifest_t *mn_gen__manifest_new(const mn_gen_model_t *m, const mn_gen_opts_t *o);

/* Add n to h[key] (a count: key -> uint64_t*), adding a copy of key when new (manifest.c). */
void mn_gen__bump(GHashTable *h, const char *key, uint64_t n);

/* splitmix64: the generator and the stream-key mixer (generate.c). */
uint64_t mn_gen__mix(uint64_t z);

/* The model-file name of mess kind k ("missing", "null", ...; "?" if unknown): a static string
 * (model.c). */
const char *mn_gen__inj_name(mn_gen_inj_kind_t k);

#endif
