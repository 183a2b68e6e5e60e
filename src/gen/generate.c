/*
 * generate.c - documents from a compiled generator model, and the manifest of
 * what a correct conversion of them must give.
 *
 * Randomness: splitmix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014; the constants of Java's
 * SplittableRandom).  It is 64-bit integer arithmetic only, so it gives the
 * same numbers on every machine and compiler, and its mixing function doubles
 * as a hash to derive independent streams: one per (seed, collection,
 * document, field, element).  A document is therefore a pure function of the
 * seed and its index, and a field's clean value can be re-generated alone
 * (used by the "duplicate" mess on fields of the document).  No floating
 * point decides anything: rates are parts per billion, weights integers,
 * doubles are integers divided by a power of ten (correctly rounded).
 *
 * Accounting: each document keeps a tally of the rows it feeds per table
 * (declared by `rows:`), the rows merged or skipped by element mess, and the
 * first reject reason.  At its end the tally goes to the manifest: to the
 * tables when the document is accepted, to `rejected_rows` when not.  A
 * document carries at most one reject cause: once one fired, later
 * injections whose effect is `reject` are not applied (their random draws
 * are still made, so the rest of the document does not change).
 */
#include "gen_private.h"
#include "util/calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness ---- */

uint64_t
mn_gen__mix(uint64_t z)
{
   z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
   z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
   return z ^ (z >> 31);
}

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

typedef struct {
   uint64_t s;
} rng_t;

static uint64_t
derive(uint64_t key, uint64_t a)
{
   return mn_gen__mix(key ^ mn_gen__mix(a * UINT64_C(0xD1B54A32D192ED03) + GOLDEN));
}

static rng_t
stream(uint64_t key)
{
   rng_t r = {mn_gen__mix(key)};
   return r;
}

static uint64_t
next64(rng_t *r)
{
   r->s += GOLDEN;
   return mn_gen__mix(r->s);
}

/* Uniform in [0, n), n > 0 (multiply-shift; exact integer arithmetic). */
static uint64_t
below(rng_t *r, uint64_t n)
{
   return (uint64_t)(((unsigned __int128)next64(r) * n) >> 64);
}

static int64_t
in_range(rng_t *r, int64_t lo, int64_t hi)
{
   return lo + (int64_t)below(r, (uint64_t)(hi - lo) + 1);
}

static size_t
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

static void fail_gen(gctx_t *g, const char *fmt, ...) MN_PRINTF(2, 3);

static void
fail_gen(gctx_t *g, const char *fmt, ...)
{
   char msg[MN_ERROR_MESSAGE_SIZE];
   va_list ap;

   if (g->failed) {
      return;
   }
   va_start(ap, fmt);
   vsnprintf(msg, sizeof msg, fmt, ap);
   va_end(ap);
   mn_set_error(g->error, MN_ERROR_USAGE, MN_USAGE_BAD_OPTION, "%s", msg);
   g->failed = true;
}

static uint64_t
threshold(const gctx_t *g, uint64_t rate_ppb)
{
   unsigned __int128 t = (unsigned __int128)rate_ppb * g->o->mess_ppm / MN_GEN_MESS_ONE;
   return t > MN_GEN_PPB ? MN_GEN_PPB : (uint64_t)t;
}

static bool
draw_ppb(rng_t *r, uint64_t t)
{
   return below(r, MN_GEN_PPB) < t;
}

static uint64_t
coll_count(const mn_gen_coll_t *c, uint64_t scale)
{
   return (uint64_t)((unsigned __int128)scale * c->per_scale_ppm / 1000000u);
}

static uint64_t
doc_key(const gctx_t *g, size_t ci, uint64_t di)
{
   return derive(derive(g->seed_key, ci + 1), di);
}

static const uint8_t *
doc_traits(const gctx_t *g, size_t ci, uint64_t di)
{
   return g->cs[ci].traits + di * g->m->colls[ci].n_traits;
}

/* ---- ObjectIds ---- */

static uint8_t
seed_byte(const gctx_t *g)
{
   return (uint8_t)(mn_gen__mix(g->seed_key ^ 0x5eed) >> 56);
}

static int64_t
doc_seconds(const gctx_t *g, size_t ci, uint64_t di)
{
   const mn_gen_coll_t *c = &g->m->colls[ci];
   const mn_gen_gen_t *idg = &c->fields[c->id_field].gen;
   int64_t from = idg->from_ms / 1000, to = idg->to_ms / 1000;
   uint64_t n = g->cs[ci].count;

   if (n <= 1) {
      return from;
   }
   return from + (int64_t)((unsigned __int128)(uint64_t)(to - from) * di / (n - 1));
}

static void
oid_build(bson_oid_t *oid, int64_t ts, uint8_t tag, uint8_t seedb, uint64_t low48)
{
   uint32_t t = (uint32_t)ts;

   oid->bytes[0] = (uint8_t)(t >> 24);
   oid->bytes[1] = (uint8_t)(t >> 16);
   oid->bytes[2] = (uint8_t)(t >> 8);
   oid->bytes[3] = (uint8_t)t;
   oid->bytes[4] = tag;
   oid->bytes[5] = seedb;
   for (int i = 0; i < 6; i++) {
      oid->bytes[6 + i] = (uint8_t)(low48 >> (8 * (5 - i)));
   }
}

static void
doc_oid(const gctx_t *g, size_t ci, uint64_t di, bson_oid_t *oid)
{
   oid_build(oid, doc_seconds(g, ci, di), (uint8_t)(ci * 4), seed_byte(g), di);
}

/* ---- scope (named values of the fields generated so far) ---- */

static void
scope_push(gctx_t *g, const char *name, const char *str, bool has_ms, int64_t ms, int64_t target)
{
   named_t n = {name, ms, has_ms, NULL, target};
   if (!name || g->regen) {
      return;
   }
   n.str = str ? g_strdup(str) : NULL;
   g_array_append_val(g->scope, n);
}

static void
scope_truncate(gctx_t *g, guint len)
{
   for (guint i = len; i < g->scope->len; i++) {
      g_free(g_array_index(g->scope, named_t, i).str);
   }
   g_array_set_size(g->scope, len);
}

static const named_t *
scope_find(const gctx_t *g, const char *name)
{
   for (guint i = g->scope->len; i-- > 0;) {
      const named_t *n = &g_array_index(g->scope, named_t, i);
      if (!strcmp(n->name, name)) {
         return n;
      }
   }
   return NULL;
}

/* ---- accounting ---- */

static void
count_injection(gctx_t *g, const mn_gen_field_t *f, mn_gen_inj_kind_t kind)
{
   char *key;

   if (g->regen) {
      return;
   }
   key = g_strdup_printf("%s\x1f%s\x1f%s", g->coll->name, f->path, mn_gen__inj_name(kind));
   mn_gen__bump(g->mf->injected, key, 1);
   g_free(key);
}

static void
reject_doc(gctx_t *g, const char *reason)
{
   if (g->regen || g->rejected) {
      return;
   }
   g->rejected = true;
   g->reason = g_strdup(reason);
}

static void
count_effect(gctx_t *g, int table, effect_t e)
{
   if (g->regen || table < 0) {
      return;
   }
   switch (e) {
   case EFF_ROW:
   case EFF_INVALID: g->t_rows[table]++; break;
   case EFF_SKIP: g->t_skipped[table]++; break;
   case EFF_MERGE: g->t_merged[table]++; break;
   default: break;
   }
}

/* ---- values ---- */

static void emit_gen(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key,
                     bson_t *parent, const char *k);
static effect_t emit_field(gctx_t *g, const mn_gen_field_t *f, uint64_t key, bson_t *parent,
                           const char *k);

static const mn_gen_list_t *
vocab_list(const gctx_t *g, int v)
{
   const mn_gen_vocab_t *voc = &g->m->vocabs[v];
   int t = g->coll->vocab_trait[v];

   if (t >= 0) {
      int li = g->coll->vocab_group[v][g->traits[t]];
      if (li >= 0) {
         return &voc->lists[li];
      }
   }
   return &voc->lists[0];
}

static const char *
pick_list(rng_t *r, const mn_gen_list_t *l)
{
   return l->items[weighted(r, l->cum, l->n)];
}

static void
ascii_lower(char *s)
{
   for (; *s; s++) {
      if (*s >= 'A' && *s <= 'Z') {
         *s = (char)(*s - 'A' + 'a');
      }
   }
}

static void
append_template(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r, GString *out)
{
   for (size_t i = 0; i < gen->n_parts; i++) {
      const mn_gen_tpl_t *t = &gen->parts[i];
      size_t start = out->len;
      switch (t->kind) {
      case TPL_TEXT: g_string_append(out, t->text); break;
      case TPL_INDEX: g_string_append_printf(out, "%" PRIu64, g->di); break;
      case TPL_INT:
         g_string_append_printf(out, "%0*" PRId64, t->pad, in_range(r, t->lo, t->hi));
         break;
      case TPL_VOCAB: g_string_append(out, pick_list(r, vocab_list(g, t->vocab))); break;
      case TPL_FIELD: {
         const named_t *n = scope_find(g, t->text);
         if (n && n->str) {
            g_string_append(out, n->str);
         }
         break;
      }
      }
      if (t->lower) {
         ascii_lower(out->str + start);
      }
   }
}

static int64_t
floor_div(int64_t a, int64_t b)
{
   return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A date's milliseconds. */
static int64_t
date_ms(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   int64_t base = 0;
   bool have = false;

   if (gen->cumulative && g->array_instance) {
      cum_t *c = g_hash_table_lookup(g->cum, gen);
      if (c && c->instance == g->array_instance) {
         base = c->ms;
         have = true;
      }
   }
   if (!have && gen->after) {
      const named_t *n = scope_find(g, gen->after);
      if (n && n->has_ms) {
         base = n->ms;
         have = true;
      }
   }
   if (!have && gen->from_id) {
      base = g->doc_ts * 1000;
      have = true;
   }
   if (!have) {
      if (gen->from_ms || gen->to_ms) {
         return in_range(r, gen->from_ms, gen->to_ms);
      }
      base = g->doc_ts * 1000;
   }
   if (gen->step_lo || gen->step_hi) {
      base += in_range(r, gen->step_lo, gen->step_hi);
   }
   return base;
}

/* A string generator's value (NULL when `gen` does not make strings). Caller frees. */
static char *
gen_string(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   switch (gen->kind) {
   case MN_GEN_CONST: return g_strdup(gen->text);
   case MN_GEN_TRAIT: return g_strdup(g->coll->traits[gen->trait].values[g->traits[gen->trait]]);
   case MN_GEN_PICK:
      return g_strdup(pick_list(r, gen->vocab >= 0 ? vocab_list(g, gen->vocab) : &gen->list));
   case MN_GEN_TEMPLATE: {
      GString *s = g_string_new(NULL);
      int64_t reps = gen->rep_hi ? in_range(r, gen->rep_lo, gen->rep_hi) : 1;
      for (int64_t i = 0; i < reps; i++) {
         if (i) {
            g_string_append_c(s, ' ');
         }
         append_template(g, gen, r, s);
      }
      return g_string_free(s, FALSE);
   }
   case MN_GEN_DATE_TEXT: {
      int64_t y;
      int mo, d;
      mn_value__civil_from_days(floor_div(date_ms(g, gen, r), 86400000), &y, &mo, &d);
      return g_strdup_printf("%04" PRId64 "-%02d-%02d", y, mo, d);
   }
   default: return NULL;
   }
}

/* A string mess: other letter case, or surrounding spaces. */
static char *
mess_string(const char *s, mn_gen_inj_kind_t kind, rng_t *r)
{
   char *out = g_strdup(s);

   if (kind == MN_INJ_SPACES) {
      static const char *const pads[] = {" ", "  ", "\t"};
      char *o = g_strdup_printf("%s%s%s", pads[below(r, 3)], s, pads[below(r, 2)]);
      g_free(out);
      return o;
   }
   /* CASE: upper, Capitalised or lower, whichever first differs from the value */
   for (uint64_t v = below(r, 3), tries = 0; tries < 3; tries++, v = (v + 1) % 3) {
      for (char *p = out; *p; p++) {
         bool first = p == out;
         if (v == 0 || (v == 1 && first)) {
            if (*p >= 'a' && *p <= 'z') {
               *p = (char)(*p - 'a' + 'A');
            }
         } else if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
         }
      }
      if (strcmp(out, s) != 0) {
         break;
      }
   }
   return out;
}

static void
append_date(bson_t *parent, const char *k, int64_t ms)
{
   BSON_APPEND_DATE_TIME(parent, k, ms);
}

static void
sub_oid(gctx_t *g, bson_oid_t *oid)
{
   if (g->sub_counter >= 65535) {
      fail_gen(g, "a document of collection \"%s\" needs more than 65535 sub-document ids",
               g->coll->name);
   }
   oid_build(oid, g->doc_ts, (uint8_t)(g->ci * 4 + 1), seed_byte(g),
             ((g->di & 0xffffffffu) << 16) | (g->sub_counter++ & 0xffff));
}

static int64_t
pick_ref(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   const coll_state_t *t = &g->cs[gen->target];
   uint64_t total = 0, x;

   if (gen->where_trait < 0) {
      if (!t->count) {
         fail_gen(
            g, "collection \"%s\" refers to collection \"%s\", which has no document at this scale",
            g->coll->name, g->m->colls[gen->target].name);
         return -1;
      }
      return (int64_t)below(r, t->count);
   }
   for (size_t v = 0; v < 64; v++) {
      if (gen->where_mask & (UINT64_C(1) << v)) {
         total += t->by_value[gen->where_trait][v]->len;
      }
   }
   if (!total) {
      fail_gen(g,
               "collection \"%s\" refers to collection \"%s\", which has no matching document at "
               "this scale",
               g->coll->name, g->m->colls[gen->target].name);
      return -1;
   }
   x = below(r, total);
   for (size_t v = 0; v < 64; v++) {
      if (gen->where_mask & (UINT64_C(1) << v)) {
         GArray *a = t->by_value[gen->where_trait][v];
         if (x < a->len) {
            return g_array_index(a, uint32_t, x);
         }
         x -= a->len;
      }
   }
   return -1;
}

static bool
is_rejected(const gctx_t *g, size_t ci, int64_t di)
{
   return ci < g->ci && (g->cs[ci].rejected[di / 8] >> (di % 8)) & 1;
}

/* An array (or join) of `n` elements of gen->of; returns nothing, counts element effects. */
static void
emit_elements(gctx_t *g, const mn_gen_gen_t *gen, uint64_t key, bson_t *arr, uint64_t n,
              effect_t *effects, char **strings)
{
   GPtrArray *seen = gen->distinct ? g_ptr_array_new_with_free_func(g_free) : NULL;
   uint64_t saved_instance = g->array_instance;
   uint64_t out = 0;

   g->array_instance = ++g->array_instances;
   for (uint64_t i = 0; i < n && !g->failed; i++) {
      uint64_t ek = derive(key, TAG_ELEM + i);
      char kbuf[24];
      const char *kstr;
      if (seen) {
         /* distinct: retry a few streams for an element not seen yet; else leave it out */
         bool fresh = false;
         for (int attempt = 0; attempt < 16 && !fresh; attempt++) {
            uint64_t ak = attempt ? derive(ek, TAG_ATTEMPT + (uint64_t)attempt) : ek;
            rng_t r = stream(ak);
            char *s = gen_string(g, &gen->of->gen, &r);
            fresh = true;
            for (guint j = 0; s && j < seen->len; j++) {
               fresh &= strcmp(g_ptr_array_index(seen, j), s) != 0;
            }
            if (fresh) {
               ek = ak;
               if (s) {
                  g_ptr_array_add(seen, s);
               }
            } else {
               g_free(s);
            }
         }
         if (!fresh) {
            continue;
         }
      }
      bson_uint32_to_string((uint32_t)out, &kstr, kbuf, sizeof kbuf);
      if (strings) {
         /* join: the element as a string */
         bson_t tmp = BSON_INITIALIZER;
         bson_iter_t it;
         effect_t e = emit_field(g, gen->of, ek, &tmp, "s");
         if (e != EFF_ABSENT && bson_iter_init_find(&it, &tmp, "s") && BSON_ITER_HOLDS_UTF8(&it)) {
            strings[out] = g_strdup(bson_iter_utf8(&it, NULL));
            effects[out++] = e;
         }
         bson_destroy(&tmp);
         continue;
      }
      effects[out] = emit_field(g, gen->of, ek, arr, kstr);
      if (effects[out] != EFF_ABSENT) {
         out++;
      }
   }
   g->array_instance = saved_instance;
   if (seen) {
      g_ptr_array_free(seen, TRUE);
   }
   effects[out] = EFF_ABSENT; /* terminator */
}

static uint64_t
draw_count(rng_t *r, const mn_gen_count_t *c)
{
   size_t i = weighted(r, c->cum, c->n);
   return (uint64_t)in_range(r, c->lo[i], c->hi[i]);
}

/*
 * Emit an array value.  `count` overrides the element count (huge), `dup_rate` > 0 asks
 * for one element duplicated (with the effect `dup_expect` for the copy).
 */
static void
emit_array(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key,
           bson_t *parent, const char *k, const mn_gen_count_t *count, const mn_gen_inj_t *dup)
{
   rng_t r = stream(key);
   uint64_t n = draw_count(&r, count ? count : &gen->count);
   effect_t *eff = g_new0(effect_t, n + 2);
   bson_t tmp = BSON_INITIALIZER;
   bson_t arr;
   size_t m = 0;

   emit_elements(g, gen, key, &tmp, n, eff, NULL);
   while (eff[m] != EFF_ABSENT) {
      m++;
   }
   if (dup && m == 0) {
      dup = NULL; /* nothing to duplicate: the mess does not apply */
   }
   {
      rng_t dr = stream(derive(key, TAG_DUP));
      uint64_t src = dup ? below(&dr, m) : 0;
      uint64_t at = dup ? src + 1 + below(&dr, m - src) : 0; /* position of the copy */
      bson_iter_t it, copy;
      uint32_t o = 0;
      char kbuf[24];
      const char *kstr;

      bson_append_array_begin(parent, k, -1, &arr);
      bson_iter_init(&it, &tmp);
      for (uint64_t i = 0; i <= m; i++) {
         if (dup && i == at) {
            bson_iter_init(&copy, &tmp);
            for (uint64_t j = 0; j <= src; j++) {
               bson_iter_next(&copy);
            }
            bson_uint32_to_string(o++, &kstr, kbuf, sizeof kbuf);
            bson_append_iter(&arr, kstr, -1, &copy);
            count_injection(g, f, MN_INJ_DUPLICATE);
            if (dup->expect == MN_EXPECT_REJECT) {
               reject_doc(g, dup->reason ? dup->reason : f->path);
               count_effect(g, gen->rows_table, eff[src]);
            } else if (eff[src] == EFF_ROW && dup->expect == MN_EXPECT_MERGE) {
               count_effect(g, gen->rows_table, EFF_MERGE);
            } else if (eff[src] == EFF_ROW && dup->expect == MN_EXPECT_SKIP) {
               count_effect(g, gen->rows_table, EFF_SKIP);
            } else {
               count_effect(g, gen->rows_table, eff[src]);
            }
         }
         if (i < m && bson_iter_next(&it)) {
            bson_uint32_to_string(o++, &kstr, kbuf, sizeof kbuf);
            bson_append_iter(&arr, kstr, -1, &it);
            count_effect(g, gen->rows_table, eff[i]);
         }
      }
      bson_append_array_end(parent, &arr);
   }
   bson_destroy(&tmp);
   g_free(eff);
}

static void
emit_join(gctx_t *g, const mn_gen_gen_t *gen, uint64_t key, bson_t *parent, const char *k)
{
   rng_t r = stream(key);
   uint64_t n = draw_count(&r, &gen->count);
   effect_t *eff = g_new0(effect_t, n + 2);
   char **strs = g_new0(char *, n + 2);
   GString *s = g_string_new(NULL);

   emit_elements(g, gen, key, NULL, n, eff, strs);
   for (size_t i = 0; eff[i] != EFF_ABSENT; i++) {
      if (i) {
         g_string_append(s, gen->sep);
      }
      g_string_append(s, strs[i]);
      count_effect(g, gen->rows_table, eff[i]);
      g_free(strs[i]);
   }
   BSON_APPEND_UTF8(parent, k, s->str);
   g_string_free(s, TRUE);
   g_free(strs);
   g_free(eff);
}

static void
emit_document(gctx_t *g, const mn_gen_field_t *fields, size_t n, uint64_t key, bson_t *doc)
{
   guint mark = g->scope->len;

   for (size_t i = 0; i < n && !g->failed; i++) {
      emit_field(g, &fields[i], derive(key, i + 1), doc, fields[i].name);
   }
   scope_truncate(g, mark);
}

/* The document's own _id, or a sub-document id. */
static void
emit_objectid(gctx_t *g, const mn_gen_field_t *f, bson_t *parent, const char *k)
{
   bson_oid_t oid;

   if (f && f->top && f->name && !strcmp(f->name, "_id")) {
      doc_oid(g, g->ci, g->di, &oid);
   } else {
      sub_oid(g, &oid);
   }
   BSON_APPEND_OID(parent, k, &oid);
}

/*
 * A reference to a document of the target collection.  With `on_rejected_target: reject`,
 * a rejected target rejects this document too, unless it already has a reject cause: then
 * an accepted target is looked for instead (one cause per document).
 */
static void
emit_ref(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, rng_t *r, bson_t *parent,
         const char *k)
{
   int64_t t = pick_ref(g, gen, r);
   bson_oid_t oid;

   if (t < 0) {
      return;
   }
   if (gen->reject_if_rejected && is_rejected(g, (size_t)gen->target, t)) {
      if (g->rejected) {
         for (int i = 0; i < 64 && is_rejected(g, (size_t)gen->target, t); i++) {
            t = pick_ref(g, gen, r);
         }
      }
      if (is_rejected(g, (size_t)gen->target, t)) {
         reject_doc(g, gen->reject_reason ? gen->reject_reason : (f ? f->path : "?"));
      }
   }
   doc_oid(g, (size_t)gen->target, (uint64_t)t, &oid);
   BSON_APPEND_OID(parent, k, &oid);
   scope_push(g, f ? f->name : NULL, NULL, false, 0, t);
}

/* A decimal128 from an integer in units of 10^-decimals, through its exact text. */
static void
emit_decimal(const mn_gen_gen_t *gen, rng_t *r, bson_t *parent, const char *k)
{
   int64_t v = in_range(r, gen->lo, gen->hi);
   int64_t p = 1;
   char buf[64];
   bson_decimal128_t d;

   for (int i = 0; i < gen->decimals; i++) {
      p *= 10;
   }
   if (gen->decimals) {
      snprintf(buf, sizeof buf, "%s%" PRId64 ".%0*" PRId64, v < 0 ? "-" : "", (v < 0 ? -v : v) / p,
               gen->decimals, (v < 0 ? -v : v) % p);
   } else {
      snprintf(buf, sizeof buf, "%" PRId64, v);
   }
   bson_decimal128_from_string(buf, &d);
   BSON_APPEND_DECIMAL128(parent, k, &d);
}

/* A date; a cumulative one remembers its value for the next element of the same array. */
static void
emit_date(gctx_t *g, const mn_gen_gen_t *gen, const char *name, rng_t *r, bson_t *parent,
          const char *k)
{
   int64_t ms = date_ms(g, gen, r);

   append_date(parent, k, ms);
   if (gen->cumulative && g->array_instance) {
      cum_t *c = g_hash_table_lookup(g->cum, gen);
      if (!c) {
         c = g_new0(cum_t, 1);
         g_hash_table_insert(g->cum, (gpointer)gen, c);
      }
      c->instance = g->array_instance;
      c->ms = ms;
   }
   scope_push(g, name, NULL, true, ms, -1);
}

/* The next number of the sequence for the document's `per` ref target (1 without one). */
static void
emit_seq(gctx_t *g, const mn_gen_gen_t *gen, bson_t *parent, const char *k)
{
   const named_t *n = scope_find(g, gen->per);
   coll_state_t *cs = &g->cs[g->ci];
   int32_t v = 1;

   if (n && n->target >= 0) {
      if (!cs->seq) {
         cs->seq_n = 1 + (size_t)n->target;
         for (size_t c = 0; c < g->m->n_colls; c++) {
            cs->seq_n = MAX(cs->seq_n, g->cs[c].count);
         }
         cs->seq = g_new0(uint32_t, cs->seq_n);
      }
      v = (int32_t)++cs->seq[n->target];
   }
   BSON_APPEND_INT32(parent, k, v);
}

/* Emit gen's value under key k. */
static void
emit_gen(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key, bson_t *parent,
         const char *k)
{
   static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
   rng_t r = stream(key);
   const char *name = f ? f->name : NULL;

   switch (gen->kind) {
   case MN_GEN_OBJECTID: emit_objectid(g, f, parent, k); break;
   case MN_GEN_REF: emit_ref(g, gen, f, &r, parent, k); break;
   case MN_GEN_BOOL: BSON_APPEND_BOOL(parent, k, draw_ppb(&r, gen->true_ppb)); break;
   case MN_GEN_INT: BSON_APPEND_INT32(parent, k, (int32_t)in_range(&r, gen->lo, gen->hi)); break;
   case MN_GEN_LONG: BSON_APPEND_INT64(parent, k, in_range(&r, gen->lo, gen->hi)); break;
   case MN_GEN_DOUBLE:
      BSON_APPEND_DOUBLE(parent, k, (double)in_range(&r, gen->lo, gen->hi) / p10[gen->decimals]);
      break;
   case MN_GEN_DECIMAL: emit_decimal(gen, &r, parent, k); break;
   case MN_GEN_DATE: emit_date(g, gen, name, &r, parent, k); break;
   case MN_GEN_DOCUMENT: {
      bson_t sub;
      bson_append_document_begin(parent, k, -1, &sub);
      emit_document(g, gen->fields, gen->n_fields, key, &sub);
      bson_append_document_end(parent, &sub);
      count_effect(g, gen->rows_table, EFF_ROW);
      break;
   }
   case MN_GEN_ARRAY: emit_array(g, gen, f, key, parent, k, NULL, NULL); break;
   case MN_GEN_JOIN: emit_join(g, gen, key, parent, k); break;
   case MN_GEN_ONEOF: {
      size_t i = weighted(&r, gen->alt_cum, gen->n_alts);
      emit_gen(g, &gen->alts[i], f, derive(key, 0xa17 + i), parent, k);
      break;
   }
   case MN_GEN_SEQ: emit_seq(g, gen, parent, k); break;
   case MN_GEN_NULL: BSON_APPEND_NULL(parent, k); break;
   default: {
      char *s = gen_string(g, gen, &r);
      BSON_APPEND_UTF8(parent, k, s);
      scope_push(g, name, s, false, 0, -1);
      g_free(s);
      break;
   }
   }
}

/* The string-valued generator behind gen (resolving oneof with the same draws). */
static const mn_gen_gen_t *
string_gen(const mn_gen_gen_t *gen, uint64_t key, uint64_t *key_out)
{
   *key_out = key;
   if (gen->kind == MN_GEN_ONEOF) {
      rng_t r = stream(key);
      size_t i = weighted(&r, gen->alt_cum, gen->n_alts);
      return string_gen(&gen->alts[i], derive(key, 0xa17 + i), key_out);
   }
   switch (gen->kind) {
   case MN_GEN_CONST:
   case MN_GEN_TRAIT:
   case MN_GEN_PICK:
   case MN_GEN_TEMPLATE:
   case MN_GEN_DATE_TEXT: return gen;
   default: return NULL;
   }
}

static effect_t
effect_of(const mn_gen_inj_t *inj)
{
   switch (inj->expect) {
   case MN_EXPECT_SKIP: return EFF_SKIP;
   case MN_EXPECT_MERGE: return EFF_MERGE;
   default: return EFF_ROW;
   }
}

/* Re-generate the clean value field f had in an earlier accepted document. */
static bool
emit_duplicate_of_earlier(gctx_t *g, const mn_gen_field_t *f, size_t fi_key_index, rng_t *r,
                          bson_t *parent, const char *k)
{
   uint64_t j;
   gctx_t save = *g;
   bool ok = false;

   if (g->di == 0) {
      return false;
   }
   j = below(r, g->di);
   for (int tries = 0; tries < 64; tries++, j = j ? j - 1 : g->di - 1) {
      if (!((g->cs[g->ci].rejected[j / 8] >> (j % 8)) & 1)) {
         ok = true;
         break;
      }
   }
   if (!ok) {
      return false;
   }
   g->regen = true;
   g->di = j;
   g->traits = doc_traits(g, g->ci, j);
   g->doc_ts = doc_seconds(g, g->ci, j);
   emit_gen(g, &f->gen, f, derive(doc_key(g, g->ci, j), fi_key_index), parent, k);
   g->regen = save.regen;
   g->di = save.di;
   g->traits = save.traits;
   g->doc_ts = save.doc_ts;
   return true;
}

static bool
trait_ok(const gctx_t *g, int trait, uint64_t mask)
{
   return trait < 0 || (mask >> g->traits[trait]) & 1;
}

/*
 * The mess that fires on field f, or NULL.  Every entry draws, fired or not, so that one
 * entry's rate does not move another's draws; the first that fires applies, except in a
 * re-generated or clean value, and except a second reject cause.
 */
static const mn_gen_inj_t *
fired_mess(gctx_t *g, const mn_gen_field_t *f, uint64_t key)
{
   const mn_gen_inj_t *inj = NULL;
   rng_t mr = stream(derive(key, TAG_MESS));

   for (size_t i = 0; i < f->n_mess; i++) {
      bool fire = draw_ppb(&mr, threshold(g, f->mess[i].rate_ppb));
      if (fire && !inj && !g->regen && !g->clean &&
          !(f->mess[i].expect == MN_EXPECT_REJECT && g->rejected)) {
         inj = &f->mess[i];
      }
   }
   return inj;
}

/* case/spaces: the string value changed; false (the clean value emitted) when it cannot be. */
static bool
emit_string_mess(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, uint64_t key,
                 rng_t *ir, bson_t *parent, const char *k)
{
   uint64_t sk;
   const mn_gen_gen_t *sg = string_gen(&f->gen, key, &sk);
   rng_t sr = stream(sk);
   char *s = sg ? gen_string(g, sg, &sr) : NULL;
   char *v = s ? mess_string(s, inj->kind, ir) : NULL;
   bool applied = v && strcmp(v, s) != 0;

   if (applied) {
      BSON_APPEND_UTF8(parent, k, v);
      scope_push(g, f->name, s, false, 0, -1);
   } else {
      emit_gen(g, &f->gen, f, key, parent, k);
   }
   g_free(s);
   g_free(v);
   return applied;
}

/* dangling: an ObjectId in the target's time range that no target document has. */
static void
emit_dangling(gctx_t *g, const mn_gen_field_t *f, rng_t *ir, bson_t *parent, const char *k)
{
   bson_oid_t oid;
   const mn_gen_coll_t *tc = &g->m->colls[f->gen.target];
   const mn_gen_gen_t *idg = &tc->fields[tc->id_field].gen;

   oid_build(&oid, in_range(ir, idg->from_ms / 1000, idg->to_ms / 1000),
             (uint8_t)(f->gen.target * 4 + 2), seed_byte(g), next64(ir) >> 16);
   BSON_APPEND_OID(parent, k, &oid);
}

/*
 * duplicate on a seq field (the previous number again) or a field of the document (its
 * value in an earlier accepted document); false (the clean value emitted) when there is none.
 */
static bool
emit_duplicate(gctx_t *g, const mn_gen_field_t *f, uint64_t key, rng_t *ir, bson_t *parent,
               const char *k)
{
   if (f->gen.kind == MN_GEN_SEQ) {
      const named_t *n = scope_find(g, f->gen.per);
      coll_state_t *cs = &g->cs[g->ci];
      if (n && n->target >= 0 && cs->seq && cs->seq[n->target] > 0) {
         BSON_APPEND_INT32(parent, k, (int32_t)cs->seq[n->target]);
         return true;
      }
   } else {
      size_t fi = (size_t)(f - g->coll->fields) + 1;
      if (emit_duplicate_of_earlier(g, f, fi, ir, parent, k)) {
         return true;
      }
   }
   emit_gen(g, &f->gen, f, key, parent, k);
   return false;
}

/*
 * Emit the messed value of field f under k.  *eff gets the element effect of the value
 * itself (absent, or a scalar's element).  False when the mess does not apply to this
 * value (the clean value is emitted instead) or is counted already (a duplicated element).
 */
static bool
emit_mess(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, uint64_t key, bson_t *parent,
          const char *k, effect_t *eff)
{
   rng_t ir = stream(derive(key, TAG_REPLACE));

   switch (inj->kind) {
   case MN_INJ_MISSING:
      *eff = EFF_ABSENT;
      if (f->drift) {
         g->drift_seen[f->drift_index] = false;
      }
      return true;
   case MN_INJ_NULL: BSON_APPEND_NULL(parent, k); return true;
   case MN_INJ_EMPTY:
      if (f->gen.kind == MN_GEN_ARRAY) {
         bson_t a;
         bson_append_array_begin(parent, k, -1, &a);
         bson_append_array_end(parent, &a);
      } else {
         BSON_APPEND_UTF8(parent, k, "");
      }
      return true;
   case MN_INJ_CASE:
   case MN_INJ_SPACES: return emit_string_mess(g, f, inj, key, &ir, parent, k);
   case MN_INJ_DANGLING: emit_dangling(g, f, &ir, parent, k); return true;
   case MN_INJ_SCALAR: {
      /* one clean element, alone where the array was */
      bool was_clean = g->clean;
      g->clean = true;
      *eff = emit_field(g, f->gen.of, derive(key, TAG_ELEM), parent, k);
      g->clean = was_clean;
      count_effect(g, f->gen.rows_table, *eff);
      return true;
   }
   case MN_INJ_HUGE: emit_array(g, &f->gen, f, key, parent, k, &inj->huge, NULL); return true;
   case MN_INJ_DUPLICATE:
      if (f->gen.kind == MN_GEN_ARRAY) {
         emit_array(g, &f->gen, f, key, parent, k, NULL, inj);
         return false; /* counted inside (only when an element could be copied) */
      }
      return emit_duplicate(g, f, key, &ir, parent, k);
   case MN_INJ_REPLACE:
      if (inj->with) {
         emit_gen(g, inj->with, f, derive(key, TAG_REPLACE), parent, k);
      } else {
         emit_document(g, inj->fields, inj->n_fields, derive(key, TAG_REPLACE), parent);
      }
      if (inj->rows_table >= 0) {
         count_effect(g, inj->rows_table, EFF_ROW);
      }
      return true;
   default: return true;
   }
}

/*
 * The accounting of a mess that applied to field f: the injection count, an unmapped path,
 * the document's reject cause, and the element effect (from `eff`, the value's own).
 */
static effect_t
mess_effect(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, effect_t eff)
{
   count_injection(g, f, inj->kind);
   if (inj->unmapped >= 0 && !g->regen) {
      g->drift_seen[inj->unmapped] = true;
   }
   if (inj->no_row) {
      eff = EFF_NOROW;
   }
   if (inj->expect == MN_EXPECT_REJECT) {
      reject_doc(g, inj->reason ? inj->reason : f->path);
      if (eff == EFF_ROW) {
         eff = EFF_INVALID;
      }
   } else if (eff != EFF_ABSENT && eff != EFF_NOROW && inj->kind != MN_INJ_SCALAR) {
      eff = effect_of(inj);
   }
   return inj->kind == MN_INJ_SCALAR ? EFF_ROW : eff;
}

/* Emit field f (value, or its mess) under key k; return the element effect. */
static effect_t
emit_field(gctx_t *g, const mn_gen_field_t *f, uint64_t key, bson_t *parent, const char *k)
{
   const mn_gen_inj_t *inj;
   effect_t eff = EFF_ROW;

   if (!trait_ok(g, f->only_trait, f->only_mask)) {
      return EFF_ABSENT;
   }
   if (f->optional_ppb) {
      rng_t orng = stream(derive(key, TAG_OPTIONAL));
      if (draw_ppb(&orng, f->optional_ppb)) {
         return EFF_ABSENT;
      }
   }
   inj = fired_mess(g, f, key);
   if (f->drift && !g->regen) {
      g->drift_seen[f->drift_index] = true;
   }
   if (!inj) {
      emit_gen(g, &f->gen, f, key, parent, k);
      return EFF_ROW;
   }
   if (!emit_mess(g, f, inj, key, parent, k, &eff)) {
      return EFF_ROW;
   }
   return mess_effect(g, f, inj, eff);
}

/* ---- the run ---- */

static void
state_cleanup(gctx_t *g)
{
   for (size_t c = 0; g->cs && c < g->m->n_colls; c++) {
      coll_state_t *s = &g->cs[c];
      const mn_gen_coll_t *mc = &g->m->colls[c];
      g_free(s->traits);
      g_free(s->rejected);
      g_free(s->seq);
      for (size_t t = 0; s->by_value && t < mc->n_traits; t++) {
         for (size_t v = 0; v < mc->traits[t].n; v++) {
            g_array_free(s->by_value[t][v], TRUE);
         }
         g_free(s->by_value[t]);
      }
      g_free(s->by_value);
   }
   g_free(g->cs);
   if (g->scope) {
      scope_truncate(g, 0);
      g_array_free(g->scope, TRUE);
   }
   if (g->cum) {
      g_hash_table_destroy(g->cum);
   }
   g_free(g->t_rows);
   g_free(g->t_merged);
   g_free(g->t_skipped);
   g_free(g->drift_seen);
   g_free(g->reason);
}

/*
 * Collection c's document count at this scale, and each document's traits (indexed by
 * value too, for `where` filters).  Done for every collection before any document is
 * generated: references may look ahead.
 */
static bool
plan_collection(gctx_t *g, size_t c)
{
   const mn_gen_coll_t *mc = &g->m->colls[c];
   coll_state_t *s = &g->cs[c];

   s->count = coll_count(mc, g->o->scale);
   if (s->count > UINT32_MAX) {
      mn_set_error(g->error, MN_ERROR_USAGE, MN_USAGE_BAD_OPTION,
                   "collection \"%s\" would have more than 4294967295 documents", mc->name);
      return false;
   }
   s->traits = g_new0(uint8_t, s->count * mc->n_traits + 1);
   s->rejected = g_new0(uint8_t, s->count / 8 + 1);
   s->by_value = g_new0(GArray **, mc->n_traits + 1);
   for (size_t t = 0; t < mc->n_traits; t++) {
      s->by_value[t] = g_new0(GArray *, mc->traits[t].n);
      for (size_t v = 0; v < mc->traits[t].n; v++) {
         s->by_value[t][v] = g_array_new(FALSE, FALSE, sizeof(uint32_t));
      }
   }
   for (uint64_t d = 0; d < s->count; d++) {
      for (size_t t = 0; t < mc->n_traits; t++) {
         rng_t r = stream(derive(doc_key(g, c, d), TAG_TRAIT + t));
         /* the first documents take each value in turn, so every value exists */
         size_t v = d < mc->traits[t].n && mc->traits[t].cum[d] > (d ? mc->traits[t].cum[d - 1] : 0)
                       ? (size_t)d
                       : weighted(&r, mc->traits[t].cum, mc->traits[t].n);
         uint32_t d32 = (uint32_t)d;
         s->traits[d * mc->n_traits + t] = (uint8_t)v;
         g_array_append_val(s->by_value[t][v], d32);
      }
   }
   return true;
}

/* Reset the per-document state for document d of the current collection. */
static void
begin_document(gctx_t *g, uint64_t d)
{
   const mn_gen_coll_t *mc = g->coll;
   size_t nt = g->m->tables->len;

   g->di = d;
   g->traits = doc_traits(g, g->ci, d);
   g->doc_ts = doc_seconds(g, g->ci, d);
   g->sub_counter = 0;
   g->rejected = false;
   g_free(g->reason);
   g->reason = NULL;
   memset(g->t_rows, 0, nt * sizeof *g->t_rows);
   memset(g->t_merged, 0, nt * sizeof *g->t_merged);
   memset(g->t_skipped, 0, nt * sizeof *g->t_skipped);
   memset(g->drift_seen, 0, g->m->drift_paths->len * sizeof(bool));
   for (size_t r = 0; r < mc->n_rows; r++) {
      if (trait_ok(g, mc->rows[r].trait, mc->rows[r].mask)) {
         g->t_rows[mc->rows[r].table]++;
      }
   }
}

/* The tally of the document just generated, into the manifest (see the file comment). */
static void
end_document(gctx_t *g)
{
   size_t c = g->ci, nt = g->m->tables->len;
   uint64_t d = g->di;
   mn_gen_manifest_t *mf = g->mf;

   mf->docs[c]++;
   if (g->rejected) {
      g->cs[c].rejected[d / 8] |= (uint8_t)(1u << (d % 8));
      mf->rejected[c]++;
      mn_gen__bump(mf->reasons[c], g->reason, 1);
      for (size_t t = 0; t < nt; t++) {
         mf->rejected_rows[t] += g->t_rows[t];
      }
   } else {
      for (size_t t = 0; t < nt; t++) {
         mf->rows[t] += g->t_rows[t];
         mf->merged[t] += g->t_merged[t];
         mf->skipped[t] += g->t_skipped[t];
      }
   }
   for (guint p = 0; p < g->m->drift_paths->len; p++) {
      if (g->drift_seen[p]) {
         const char *key = g_ptr_array_index(g->m->drift_paths, p);
         mn_gen__bump(mf->unmapped[c], strchr(key, '\x1f') + 1, 1);
      }
   }
}

/* Every document of collection c, each passed to `emit`. */
static bool
generate_collection(gctx_t *g, size_t c, mn_gen_emit_fn emit, void *ctx)
{
   g->ci = c;
   g->coll = &g->m->colls[c];
   for (uint64_t d = 0; d < g->cs[c].count; d++) {
      bson_t doc = BSON_INITIALIZER;
      bool ok;
      begin_document(g, d);
      emit_document(g, g->coll->fields, g->coll->n_fields, doc_key(g, c, d), &doc);
      ok = !g->failed;
      if (ok) {
         end_document(g);
         ok = emit(ctx, g->coll->name, &doc, g->error);
      }
      bson_destroy(&doc);
      if (!ok) {
         return false;
      }
   }
   return true;
}

bool
mn_gen_run(const mn_gen_model_t *m, const mn_gen_opts_t *o, mn_gen_emit_fn emit, void *ctx,
           mn_gen_manifest_t **manifest_out, mn_error_t *error)
{
   gctx_t g = {0};
   bool ok = false;
   size_t nt = m->tables->len;

   g.m = m;
   g.o = o;
   g.error = error;
   g.mf = mn_gen__manifest_new(m, o);
   g.seed_key = mn_gen__mix(o->seed ^ UINT64_C(0x6d6f6e676f6e6f72)); /* "mongonor" */
   g.cs = g_new0(coll_state_t, m->n_colls);
   g.scope = g_array_new(FALSE, TRUE, sizeof(named_t));
   g.cum = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
   g.t_rows = g_new0(uint64_t, nt + 1);
   g.t_merged = g_new0(uint64_t, nt + 1);
   g.t_skipped = g_new0(uint64_t, nt + 1);
   g.drift_seen = g_new0(bool, m->drift_paths->len + 1);
   for (size_t c = 0; c < m->n_colls; c++) {
      if (!plan_collection(&g, c)) {
         goto cleanup;
      }
   }
   for (size_t c = 0; c < m->n_colls; c++) {
      if (!generate_collection(&g, c, emit, ctx)) {
         goto cleanup;
      }
   }
   ok = true;
cleanup:
   state_cleanup(&g);
   if (ok && manifest_out) {
      *manifest_out = g.mf;
   } else {
      mn_gen_manifest_destroy(g.mf);
   }
   return ok;
}
