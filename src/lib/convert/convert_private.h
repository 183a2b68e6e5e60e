/*
 * convert_private.h - what the converter's files share: the row set's layout (rowset.c
 * keeps it, convert.c fills it), the shape check (shape.c) and the drift walk (drift.c).
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
   GByteArray *refs; /* the references looked up: MN_ROWSET_REF_SIZE bytes each (collection
                        index, big-endian uint16; the id; what the lookup found), sorted and
                        unique once the document is converted (mn_rowset_refs()) */
};

/* The size of one entry of a row set's refs. */
#define MN_ROWSET_REF_SIZE 19

/* Nesting deeper than this rejects a document (MongoDB itself stores at most 100). */
#define MN_MAX_DEPTH 200

/* One iterator of an explicit stack.  bson_iter_t is declared 128-byte aligned through its
 * typedef, which does not round its size up: in a plain array every element after the
 * first would be misaligned (UBSan: misaligned load).  A struct member rounds it up. */
typedef struct {
   bson_iter_t it;
} mn_iter_slot_t;

/*
 * One slot of the duplicate-name table: a key seen in the sub-document being checked.
 * Slots of other sub-documents are stale (another gen), so the table is never cleared.
 */
typedef struct {
   const char *key; /* into the document's bytes */
   uint32_t len;
   uint32_t gen;
} mn_key_slot_t;

/* The shape check's working memory, allocated once by the converter (the table grows with
 * the widest sub-document seen). */
typedef struct {
   mn_key_slot_t *keys; /* duplicate-name table, keys_cap slots (a power of 2) */
   size_t keys_cap;
   uint32_t key_gen;      /* generation of the sub-document being checked */
   mn_iter_slot_t *stack; /* MN_MAX_DEPTH + 1 iterators, 128-byte aligned */
   bool is_array[MN_MAX_DEPTH + 1];
   uint32_t index[MN_MAX_DEPTH + 1]; /* next array index expected at each level */
   GString *real;                    /* a problem's path as written */
   GString *shown;                   /* the same, data-like keys collapsed: the reject's */
   GString *reason;                  /* what is wrong */
} mn_shape_check_t;

/* What mn_shape__check() found wrong, if anything (the first problem in walk order). */
typedef enum {
   MN_SHAPE_OK,
   MN_SHAPE_TOO_DEEP,
   MN_SHAPE_DUPLICATE,
   MN_SHAPE_ARRAY_KEY
} mn_shape_problem_t;

/** Allocate the check's working memory. Aborts on no memory. */
void mn_shape__init(mn_shape_check_t *sc);

/** Free it. */
void mn_shape__cleanup(mn_shape_check_t *sc);

/**
 * Check doc's shape (shape.c): on a problem other than MN_SHAPE_TOO_DEEP, sc->shown holds
 * the path to reject at and sc->reason the reason.  Safe on bytes that do not validate.
 */
mn_shape_problem_t mn_shape__check(mn_shape_check_t *sc, const bson_t *doc);

/** Whether no sub-document or array of doc is nested deeper than max levels (no
 * recursion). */
bool mn_shape__depth_within(const bson_t *doc, int max);

/** A sub-document's fields by name (fields.c), for the walk of one document. */
typedef struct mn_fields mn_fields_t;

/** A new set of field tables (fixed memory).  Aborts on no memory. */
mn_fields_t *mn_fields__new(void);

/** Free it (NULL allowed). */
void mn_fields__destroy(mn_fields_t *f);

/** Forget every table: call before each document (tables are known by address). */
void mn_fields__reset(mn_fields_t *f);

/** As bson_iter_init_find(out, doc, key), through f's table of doc's fields. */
bool mn_fields__find_doc(mn_fields_t *f, const bson_t *doc, const char *key, bson_iter_t *out);

/**
 * As bson_iter_recurse(sub, out) && bson_iter_find(out, key), through f's table of the
 * sub-document sub holds (it must hold a document; else false).
 */
bool mn_fields__find_in(mn_fields_t *f, const bson_iter_t *sub, const char *key, bson_iter_t *out);

/** Drop the rows and what only rows need (values, deferred references, pending coercions
 * and keys); arrays a large document grew are freed, not kept for the rest of the run. */
void mn_rowset__drop_rows(mn_rowset_t *rs);

/** Empty the row set for the next document: rows, rejects, scratch memory, the id, the
 * references looked up. */
void mn_rowset__clear(mn_rowset_t *rs);

/** Sort the references looked up and drop repeats (at the end of a document's conversion). */
void mn_rowset__finish_refs(mn_rowset_t *rs);

/** Whether a value is null or undefined: both read as absent. */
static inline bool
mn_convert__is_nullish(const bson_iter_t *it)
{
   return BSON_ITER_HOLDS_NULL(it) || BSON_ITER_HOLDS_UNDEFINED(it);
}

/*
 * Length of the well-formed UTF-8 sequence at s (1-4), or 0.  Overlong forms,
 * surrogates and code points past U+10FFFF are rejected, as PostgreSQL does.
 */
static inline size_t
mn_convert__utf8_char(const char *str, size_t len)
{
   const unsigned char *s = (const unsigned char *)str;
   uint32_t cp;
   size_t n, k;

   if (s[0] < 0x80) {
      return 1;
   } else if (s[0] < 0xc2) {
      return 0;
   } else if (s[0] < 0xe0) {
      n = 2;
      cp = s[0] & 0x1f;
   } else if (s[0] < 0xf0) {
      n = 3;
      cp = s[0] & 0x0f;
   } else if (s[0] < 0xf5) {
      n = 4;
      cp = s[0] & 0x07;
   } else {
      return 0;
   }
   if (len < n) {
      return 0;
   }
   for (k = 1; k < n; k++) {
      if ((s[k] & 0xc0) != 0x80) {
         return 0;
      }
      cp = (cp << 6) | (s[k] & 0x3f);
   }
   if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) {
      return 0;
   }
   if (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) {
      return 0;
   }
   return n;
}

/* Whether s[0..len) is well-formed UTF-8 (mn_convert__utf8_char); ASCII, the common case, is
 * checked eight bytes at a time. */
static inline bool
mn_convert__utf8_valid(const char *s, size_t len)
{
   size_t i = 0, n;

   while (i < len) {
      uint64_t word;
      if (len - i >= 8) {
         memcpy(&word, s + i, 8);
         if ((word & UINT64_C(0x8080808080808080)) == 0) {
            i += 8;
            continue;
         }
      }
      if (!(n = mn_convert__utf8_char(s + i, len - i))) {
         return false;
      }
      i += n;
   }
   return true;
}

/**
 * Whether doc surely passes both mn_shape__check (MN_SHAPE_OK) and libbson's validation
 * (bson_validate, BSON_VALIDATE_NONE), by stricter checks of the common cases (shape.c,
 * walking the bytes, sc's name table as working memory): true only for a document
 * nested at most 100 levels, whose every length frames exactly, whose keys and strings
 * are well-formed UTF-8 without NUL, whose names are distinct in each sub-document
 * (up to the table's width) and whose array keys are their indexes in order, and whose
 * types are the plain ones (numbers, strings, documents, arrays, ObjectId, bool, dates,
 * timestamps, null, binary other than the old subtype 2).  False means "not sure": the
 * caller runs both checks, whose messages are the reject's.
 */
bool mn_shape__surely_fine(mn_shape_check_t *sc, const bson_t *doc);

/**
 * Count the unmapped paths of doc, a document of collection coll, into stats (see
 * drift.c).  cache is the collection's coverage cache (path -> coverage + 1, g_free'd
 * keys), kept by the converter across documents.
 */
void mn_drift__count(GHashTable *cache, const mn_collection_t *coll, mn_stats_t *stats,
                     const bson_t *doc);

/**
 * The fields of one element of collection coll that drift counts as unmapped, for an
 * entry's `unmapped_to` (drift.c): copied into out (an initialized, empty document) with
 * their keys and structure, leaving out the fields some entry iterates (those are their
 * elements' own).  elem_path is the entry's mn_entry_t.drift_path, fields an iterator
 * over the element's fields, cache the collection's coverage cache (mn_drift__count).
 * Returns whether any field was unmapped.
 */
bool mn_drift__unmapped(GHashTable *cache, const mn_collection_t *coll, const char *elem_path,
                        bson_iter_t *fields, bson_t *out);

#endif
