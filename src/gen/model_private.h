/*
 * model_private.h - the model loader, shared by model.c (the top level, collections and
 * the scalar readers) and model_field.c (a field's generator and mess).  Every reader
 * takes the loader, sets the error with the file and line on failure and returns false;
 * what it filled so far stays in the model for the caller to free.
 */
#ifndef MONGONORM_GEN_MODEL_PRIVATE_H
#define MONGONORM_GEN_MODEL_PRIVATE_H

#include "gen_private.h"
#include "util/yamldoc.h"

#include <yaml.h>

typedef struct {
   mn_yamldoc_t y; /* the document, its name, and where errors go */
   const char *base_dir;
   mn_gen_model_t *m;
   mn_gen_coll_t *coll; /* the collection being loaded */
} loader_t;

/* ---- model.c: readers ---- */

/* A decimal number scaled by 10^decimals, exactly ("1e3" is not one); false if not. */
bool mn_gen__parse_fixed(const char *s, int decimals, int64_t *out);

/* A probability or rate from 0 to 1, in parts per billion. */
bool mn_gen__get_rate(loader_t *ld, yaml_node_t *n, const char *what, uint64_t *out);

/* A weight: a whole number from 0 to 10^9. */
bool mn_gen__get_weight(loader_t *ld, yaml_node_t *n, uint64_t *out);

/* [lo, hi] of numbers with `decimals` decimals, lo <= hi. */
bool mn_gen__get_range(loader_t *ld, yaml_node_t *n, int decimals, const char *what, int64_t *lo,
                       int64_t *hi);

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" -> ms since the epoch. */
bool mn_gen__get_date(loader_t *ld, yaml_node_t *n, const char *what, int64_t *out);

/* A list: [a, b], {a: 3, b: 1} (weighted) or {file: f} beside the model. */
bool mn_gen__parse_list(loader_t *ld, yaml_node_t *n, const char *what, mn_gen_list_t *l);
void mn_gen__list_cleanup(mn_gen_list_t *l);

/* A count: N, [lo, hi], or {"a-b": weight, "n": weight, ...}, each from 0 to 65535. */
bool mn_gen__parse_count(loader_t *ld, yaml_node_t *n, mn_gen_count_t *c);
void mn_gen__count_cleanup(mn_gen_count_t *c);

/* The index of a vocabulary, a trait of c, or a collection by name, or -1. */
int mn_gen__find_vocab(const mn_gen_model_t *m, const char *name);
int mn_gen__find_trait(const mn_gen_coll_t *c, const char *name);
int mn_gen__find_coll(const mn_gen_model_t *m, const char *name);

/* The index of table `name` in m->tables, added when new. */
int mn_gen__table_index(mn_gen_model_t *m, const char *name);

/* {trait: [values]} against collection c -> the trait's index and a bit per value. */
bool mn_gen__parse_filter(loader_t *ld, const mn_gen_coll_t *c, yaml_node_t *n, const char *what,
                          int *trait, uint64_t *mask);

/* ---- model_field.c ---- */

/* The fields of a (sub-)document, {name: spec, ...}, into a new array *out of *n_out. */
bool mn_gen__parse_fields(loader_t *ld, yaml_node_t *n, const char *parent_path, bool top,
                          mn_gen_field_t **out, size_t *n_out);

/* Free what field f owns (not f itself); NULL is allowed. */
void mn_gen__field_cleanup(mn_gen_field_t *f);

#endif
