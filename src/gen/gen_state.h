/*
 * gen_state.h - the state of one generation run, shared by generate.c (documents, fields,
 * mess, the run) and values.c (the value of one generator: ids, references, strings,
 * dates, numbers), and the random streams both draw from (see generate.c).
 */
#ifndef MONGONORM_GEN_STATE_H
#define MONGONORM_GEN_STATE_H

#include "gen_private.h"

#include <bson/bson.h>

/* ---- randomness: splitmix64 streams, one per (seed, collection, document, field, element) ---- */

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

typedef struct {
   uint64_t s;
} rng_t;

static inline uint64_t
derive(uint64_t key, uint64_t a)
{
   return mn_gen__mix(key ^ mn_gen__mix(a * UINT64_C(0xD1B54A32D192ED03) + GOLDEN));
}

static inline rng_t
stream(uint64_t key)
{
   rng_t r = {mn_gen__mix(key)};
   return r;
}

static inline uint64_t
next64(rng_t *r)
{
   r->s += GOLDEN;
   return mn_gen__mix(r->s);
}

/* Uniform in [0, n), n > 0 (multiply-shift; exact integer arithmetic). */
static inline uint64_t
below(rng_t *r, uint64_t n)
{
   return (uint64_t)(((unsigned __int128)next64(r) * n) >> 64);
}

static inline int64_t
in_range(rng_t *r, int64_t lo, int64_t hi)
{
   return lo + (int64_t)below(r, (uint64_t)(hi - lo) + 1);
}

static inline size_t
weighted(rng_t *r, const uint64_t *cum, size_t n)
{
   uint64_t x = below(r, cum[n - 1]);
   size_t i = 0;

   while (i + 1 < n && x >= cum[i]) {
      i++;
   }
   return i;
}

/* Stream tags (arbitrary, distinct). */
enum {
   TAG_TRAIT = 0x7000,
   TAG_OPTIONAL = 0x7100,
   TAG_MESS = 0x7200,
   TAG_ELEM = 0x100000,
   TAG_REPLACE = 0x7300,
   TAG_DUP = 0x7400,
   TAG_ATTEMPT = 0x7500
};

/* ---- generation state ---- */

typedef struct {
   uint64_t count;
   uint8_t *traits;    /* count * n_traits trait value indexes */
   uint8_t *rejected;  /* bit per document (filled as documents are generated) */
   GArray ***by_value; /* [trait][value] -> GArray of uint32 document indexes */
   uint32_t *seq;      /* seq counters per target document (lazily) */
   size_t seq_n;
} coll_state_t;

typedef struct {
   const char *name;
   int64_t ms;
   bool has_ms;
   char *str;
   int64_t target; /* ref target index, -1 */
} named_t;

typedef struct {
   uint64_t instance;
   int64_t ms;
} cum_t;

/* What an element gives: a row, a skipped or merged row, no row at all, or no element. */
typedef enum {
   EFF_ROW,
   EFF_SKIP,
   EFF_MERGE,
   EFF_NOROW,
   EFF_ABSENT,
   EFF_INVALID /* a row whose value rejects the document: it has no unique key,
                  so a copy of it is not merged either */
} effect_t;

typedef struct {
   const mn_gen_model_t *m;
   const mn_gen_opts_t *o;
   mn_gen_manifest_t *mf;
   coll_state_t *cs;
   uint64_t seed_key;
   mn_error_t *error;
   bool failed;
   /* the current document */
   size_t ci;
   const mn_gen_coll_t *coll;
   uint64_t di;
   const uint8_t *traits;
   int64_t doc_ts; /* seconds */
   uint32_t sub_counter;
   bool rejected;
   char *reason;
   bool regen; /* re-generating a clean value: no mess, no accounting */
   bool clean; /* no mess inside (the element of a "scalar" mess) */
   uint64_t *t_rows, *t_merged, *t_skipped;
   bool *drift_seen;
   GArray *scope;   /* named_t */
   GHashTable *cum; /* gen pointer -> cum_t */
   uint64_t array_instance;
   uint64_t array_instances;
} gctx_t;

/* ---- generate.c ---- */

/* Fail the run (once: the first error stays) with a usage error. */
void mn_gen__fail(gctx_t *g, const char *fmt, ...) MN_PRINTF(2, 3);

/* Give the current document its reject cause (the first only; none while re-generating). */
void mn_gen__reject_doc(gctx_t *g, const char *reason);

/* ---- values.c ---- */

/* The _id time (seconds) of document di of collection ci: spread evenly over its range. */
int64_t mn_gen__doc_seconds(const gctx_t *g, size_t ci, uint64_t di);

/* Name a value of the field being generated, for later {@field}, `after` and `per`. */
void mn_gen__scope_push(gctx_t *g, const char *name, const char *str, bool has_ms, int64_t ms,
                        int64_t target);

/* Forget the names pushed after the scope had `len` entries (leaving a sub-document). */
void mn_gen__scope_truncate(gctx_t *g, guint len);

/* The innermost value named `name`, or NULL. */
const named_t *mn_gen__scope_find(const gctx_t *g, const char *name);

/* A string generator's value (NULL when `gen` does not make strings). Free: g_free. */
char *mn_gen__string_value(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r);

/* String s with mess `kind` (case or spaces) applied. Free: g_free. */
char *mn_gen__mess_string(const char *s, mn_gen_inj_kind_t kind, rng_t *r);

/* The string generator behind gen and its key in *key_out (oneof resolved), or NULL. */
const mn_gen_gen_t *mn_gen__string_gen(const mn_gen_gen_t *gen, uint64_t key, uint64_t *key_out);

/* Append under k, to parent, the value of an objectid, ref, decimal, date or seq generator. */
void mn_gen__emit_objectid(gctx_t *g, const mn_gen_field_t *f, bson_t *parent, const char *k);
void mn_gen__emit_ref(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, rng_t *r,
                      bson_t *parent, const char *k);
void mn_gen__emit_decimal(const mn_gen_gen_t *gen, rng_t *r, bson_t *parent, const char *k);
void mn_gen__emit_date(gctx_t *g, const mn_gen_gen_t *gen, const char *name, rng_t *r,
                       bson_t *parent, const char *k);
void mn_gen__emit_seq(gctx_t *g, const mn_gen_gen_t *gen, bson_t *parent, const char *k);

/* The value of ref field f's "dangling" mess: an ObjectId no target document has. */
void mn_gen__emit_dangling(gctx_t *g, const mn_gen_field_t *f, rng_t *r, bson_t *parent,
                           const char *k);

#endif
