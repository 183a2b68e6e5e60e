/*
 * yamldoc.h - reading user-written YAML (mapping and model files) with line numbers.
 *
 * A thin layer over libyaml's document API shared by mapping.c and model.c:
 * node lookup, kind checks, unknown-key checks, scalar lists read into counted
 * string arrays, and errors of the form `<what> "<file>", line N: <message>` in
 * domain MN_ERROR_MAPPING.  The loaders call it through the shorthands at the end.
 */
#ifndef MN_YAMLDOC_H
#define MN_YAMLDOC_H

#include <mongonorm/error.h>
#include <yaml.h>

#include "util/strings.h"

typedef struct {
   yaml_document_t doc; /**< the parsed document (owned; mn_yaml__cleanup frees it) */
   const char *name;    /**< file name for messages; borrowed */
   const char *what;    /**< "mapping file", "model file"; borrowed */
   mn_error_t *error;   /**< where errors go; borrowed, may be NULL */
   bool loaded;         /**< doc holds a document */
} mn_yamldoc_t;

/** The 1-based line of a node. */
#define MN_YAML_LINE(n) ((int)(n)->start_mark.line + 1)

/**
 * Parse text into y->doc (y->name, y->what and y->error set by the caller), and check
 * that no mapping of the document gives a key twice (compared as text).
 * @return false with MN_ERROR_MAPPING/MN_MAPPING_SYNTAX and the parser's line set; or
 *         MN_MAPPING_BAD_VALUE `<what> "<file>", line N: key "K" is given twice (first at
 *         line M)` for the first duplicate in the file (N its line, M the first one's).
 *         Nothing is left to clean up on failure.
 */
bool mn_yaml__parse(mn_yamldoc_t *y, const char *text, size_t len);

/** Free the parsed document. */
void mn_yaml__cleanup(mn_yamldoc_t *y);

/** Set an error naming the file and, when `at` is not NULL, its line. */
void mn_yaml__fail(mn_yamldoc_t *y, uint32_t code, const yaml_node_t *at, const char *fmt, ...)
   MN_PRINTF(4, 5);

/** The node of an index (from a pair or a sequence item). */
yaml_node_t *mn_yaml__node(mn_yamldoc_t *y, int index);

/** The text of a scalar node, or NULL for another kind (or NULL). */
const char *mn_yaml__scalar(const yaml_node_t *n);

/** The value of `key` in a mapping node, or NULL (also when n is not a mapping). */
yaml_node_t *mn_yaml__get(mn_yamldoc_t *y, yaml_node_t *n, const char *key);

/** Check a node's kind; on mismatch, fail with "<what> must be a scalar|a list|a mapping". */
bool mn_yaml__expect(mn_yamldoc_t *y, yaml_node_t *n, yaml_node_type_t kind, const char *what);

/** Fail on the first key of a mapping not in the NULL-terminated `allowed` list. */
bool mn_yaml__check_keys(mn_yamldoc_t *y, yaml_node_t *n, const char *const *allowed,
                         const char *where);

/** The number of items of a sequence node (0 for another kind). */
size_t mn_yaml__n_items(const yaml_node_t *n);

/**
 * Read a sequence node's scalar items into a counted array of copies.
 * @param seq a sequence node (the caller checks its kind)
 * @param allow_empty whether an empty scalar ("") is an item
 * @param message the error for an item that is not a scalar (or is empty when not allowed)
 * @param out set to a NULL-terminated array of n_items(seq) + 1 slots before the first item
 *        is read; each copy is owned by it (free with mn_strings__free)
 * @param n the number of items copied so far, also on failure
 * @return false with MN_MAPPING_BAD_VALUE `message` at the bad item's line.  What was read
 *         stays in *out and *n: the caller frees it, as with every other partial result.
 */
bool mn_yaml__strings(mn_yamldoc_t *y, const yaml_node_t *seq, bool allow_empty,
                      const char *message, char ***out, size_t *n);

/*
 * Shorthands for a loader: a struct whose member `y` is its mn_yamldoc_t, passed as `ld`
 * (mapping.c's and model.c's loader_t).  Each is the function above on `&ld->y`.
 */
#define LINE(n) MN_YAML_LINE(n)
#define fail(ld, ...) mn_yaml__fail(&(ld)->y, __VA_ARGS__)
#define node_at(ld, index) mn_yaml__node(&(ld)->y, index)
#define scalar(n) mn_yaml__scalar(n)
#define map_get(ld, n, key) mn_yaml__get(&(ld)->y, n, key)
#define expect_kind(ld, n, kind, what) mn_yaml__expect(&(ld)->y, n, kind, what)
#define check_keys(ld, n, allowed, where) mn_yaml__check_keys(&(ld)->y, n, allowed, where)

#endif
