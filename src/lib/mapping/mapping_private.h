/*
 * mapping_private.h - what the mapping loader's files share: the loader, the entries'
 * default policies, and the functions one file calls in another.  mapping.c holds the
 * top level and the table list, column.c a column and what it reads (paths, policies,
 * predicates), entry.c the table entries of a collection, flatten.c the columns a
 * `flatten` makes, coverage.c the covered paths (drift) and the check of paths that cross
 * arrays.
 *
 * The parsers follow the rule stated at the head of mapping.c: fill *out as far as you
 * get, return false on the first error, and leave the cleanup to the caller.
 */
#ifndef MN_MAPPING_PRIVATE_H
#define MN_MAPPING_PRIVATE_H

#include "mapping/plan.h"

#include <yaml.h>

#include "util/yamldoc.h"

typedef struct {
   mn_yamldoc_t y; /* the document, its name, and where errors go */
   mn_mapping_t *m;
} loader_t;

/* The policies a collection's `defaults` give the columns that set none. */
typedef struct {
   mn_policy_t on_invalid;
   mn_policy_t on_missing;
   mn_policy_t on_missing_reference;
} defaults_t;

/* ---- scalars (mapping.c) ---- */

/* `key: <scalar>` of mapping n, copied (NULL when absent); *ok false on error. */
char *mn_mapping__get_string(loader_t *ld, yaml_node_t *n, const char *key, bool required,
                             const char *where, bool *ok);
/* `true`/`yes` or `false`/`no` into *out. */
bool mn_mapping__parse_bool(loader_t *ld, yaml_node_t *v, const char *key, bool *out);
/* A whole number from lo to hi into *out. */
bool mn_mapping__parse_int(loader_t *ld, yaml_node_t *v, const char *key, int lo, int hi, int *out);
/* Parse `name: choice` among NULL-terminated `choices`; returns the index or -1. */
int mn_mapping__parse_choice(loader_t *ld, yaml_node_t *v, const char *key,
                             const char *const *choices);

/* ---- tables (mapping.c) ---- */

/* The index of table `name`, or -1. */
int mn_mapping__table_find(mn_mapping_t *m, const char *name);
/* Append table `name` keyed by `key` and fed by `collection`; returns its index. */
int mn_mapping__table_add(mn_mapping_t *m, const char *name, const char *key, int collection);
/* The index of `column` in t, appended when t has none yet. */
int mn_mapping__table_column(mn_table_t *t, const char *column);

/* ---- columns, paths, policies, predicates (column.c) ---- */

/* Free what a (possibly half-filled) path holds and zero it. */
void mn_mapping__path_cleanup(mn_path_t *p);
/* Whether seg is an array index ("0", "12", "-1"), its value into *out. */
bool mn_mapping__segment_index(const char *seg, int64_t *out);
/* The field path a key takes (`exists: a.b`) into *out. */
bool mn_mapping__parse_path_value(loader_t *ld, yaml_node_t *v, const char *key, bool allow_special,
                                  mn_path_t *out);
/* A `defaults` mapping into *d (keys it does not give keep their value). */
bool mn_mapping__parse_defaults(loader_t *ld, yaml_node_t *n, defaults_t *d);
/* Free what a (possibly half-filled) column holds. */
void mn_mapping__column_cleanup(mn_column_t *c);
/* One column `name` of an entry or shape into *c; d gives the policies it does not set. */
bool mn_mapping__parse_column(loader_t *ld, const char *name, yaml_node_t *n, const defaults_t *d,
                              mn_column_t *c);
/* A column `name` of a flatten reading `path` (its line at `at`); n: a type name or a column
 * spec without a value source (flatten.c). */
bool mn_mapping__parse_flat_column(loader_t *ld, const char *name, yaml_node_t *n, const char *path,
                                   yaml_node_t *at, const defaults_t *d, mn_column_t *c);
/* Free what a (possibly half-filled) predicate holds. */
void mn_mapping__pred_cleanup(mn_pred_t *p);
/* A `when` predicate into *p. */
bool mn_mapping__parse_pred(loader_t *ld, yaml_node_t *n, mn_pred_t *p);

/* ---- table entries (entry.c) ---- */

/* How many columns an entry has, its `columns` and its shapes' together. */
size_t mn_mapping__entry_n_columns(const mn_entry_t *e);
/* Column k of an entry (k < mn_mapping__entry_n_columns): its `columns`, then each shape's. */
mn_column_t *mn_mapping__entry_column(const mn_entry_t *e, size_t k);
/* Free what a (possibly half-filled) entry holds. */
void mn_mapping__entry_cleanup(mn_entry_t *e);
/* Resolve c's reference once the whole file is read (the collection may come later). */
bool mn_mapping__resolve_column(loader_t *ld, mn_column_t *c);
/* One item of `collections`, number `index`, into *coll. */
bool mn_mapping__parse_collection(loader_t *ld, yaml_node_t *n, int index, mn_collection_t *coll);

/* ---- flattened sub-documents (flatten.c) ---- */

/* `flatten: [...]` of entry e, writing table t: its columns are appended to e's `columns`. */
bool mn_mapping__parse_flatten(loader_t *ld, yaml_node_t *v, const defaults_t *d, mn_table_t *t,
                               mn_entry_t *e);

/* ---- coverage (coverage.c) ---- */

/* Fail on the first path of coll that crosses an array its entry does not iterate. */
bool mn_mapping__check_crossings(loader_t *ld, mn_collection_t *coll);
/* Fill coll's covered, iterated and maps path lists, for drift reporting. */
void mn_mapping__compute_covered(mn_collection_t *coll);

#endif
